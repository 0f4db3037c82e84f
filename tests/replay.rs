//! The replay engine end to end, through the CLI's JSON: determinism
//! across thread counts, the modules loaded against what the policy
//! engine plans for each event, and the seed scenarios' diffs.

mod common;

use std::collections::BTreeSet;

use assert_cmd::Command;
use coldplug::policy::kernel::{BlacklistMode, PolicyKernel, Probe};
use coldplug::policy::Config;
use coldplug::resolve::{Backend, Scratch};
use coldplug::trace::{detect, Events};
use coldplug::uevent::Action;
use serde_json::Value;

const S390_61: &str = "debian-6.1.0-50-s390x";

fn json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("coldplug")
        .unwrap()
        .current_dir(common::root())
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `coldplug replay TRACE --kernel <6.1 s390x> EXTRA... --json`.
fn replay(trace: &str, extra: &[&str]) -> Value {
    let k = kernel_arg();
    let mut args = vec!["replay", trace, "--kernel", &k];
    args.extend_from_slice(extra);
    json(&args)
}

/// `coldplug diff` of the medium 6.12 trace on the 6.1 s390x kernel.
fn diff_medium(a: &str, b: &str) -> Value {
    let k = kernel_arg();
    json(&[
        "diff",
        "traces/generated/s390-medium-6.12.trace",
        "--kernel",
        &k,
        "--a",
        a,
        "--b",
        b,
    ])
}

fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

fn kernel_arg() -> String {
    common::kernel_dir(S390_61).display().to_string()
}

/// Drop the fields that measure this machine rather than the trace.
fn stable(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    for k in ["wall", "matching_ns", "latency_histogram"] {
        o.remove(k);
    }
    for s in o["by_subsystem"].as_object_mut().unwrap().values_mut() {
        s.as_object_mut().unwrap().remove("matching_ns");
    }
    v
}

#[test]
fn same_report_for_any_thread_count() {
    let t = "traces/generated/s390-medium-6.12.trace";
    let a = replay(t, &["--threads", "1", "--workers", "16"]);
    let b = replay(t, &["--threads", "2", "--workers", "16"]);
    assert_eq!(stable(a.clone()), stable(b));
    for key in [
        "events",
        "lookups",
        "unique_modaliases",
        "modprobe_calls",
        "modules_loaded",
        "matching_ns",
        "simulated_coldplug_ms",
    ] {
        assert!(a.get(key).is_some(), "missing {key}");
    }
    let m = &a["matching_ns"];
    for key in ["total", "p50", "p99", "max"] {
        assert!(m[key].as_u64().is_some());
    }
    assert_eq!(a["events"], 9564);
    assert_eq!(a["lookups"], 8200);
}

/// Every module the replay loads is in the plan the policy engine
/// gives for some `add` event of the trace, and every module of those
/// plans is loaded (nothing is unloaded, no blacklist here).
fn loaded_equals_plans(trace: &str, conf: &str) {
    let dir = common::kernel_dir(S390_61);
    let mut c = Config::load(Some(&dir), &[]);
    c.parse_text("t.conf", conf.as_bytes());
    let k = PolicyKernel::open(&dir, Backend::Compiled, c, &[]).unwrap();
    let bytes = std::fs::read(common::root().join(trace)).unwrap();
    let mut want = BTreeSet::new();
    let mut s = Scratch::default();
    for ev in Events::new(&bytes, detect(&bytes).unwrap()) {
        let ev = ev.unwrap();
        let Some(m) = ev.modalias() else { continue };
        if ev.action() != Action::Add {
            continue;
        }
        for top in k.lookup_objects(m, &mut s).unwrap() {
            if let Probe::Actions(a) =
                k.probe(&top, BlacklistMode::Always, &mut s)
            {
                want.extend(a.iter().map(|a| a.name().to_string()));
            }
        }
    }
    let conf_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(conf_file.path(), conf).unwrap();
    let p = conf_file.path().to_str().unwrap().to_string();
    let extra = if conf.is_empty() { vec![] } else { vec!["--config", &p] };
    let got: BTreeSet<String> =
        names(&replay(trace, &extra)["modules_loaded"]).into_iter().collect();
    assert_eq!(got, want, "{trace}");
}

#[test]
fn loads_match_policy_plans() {
    loaded_equals_plans("traces/generated/s390-medium-6.12.trace", "");
    loaded_equals_plans(
        "traces/generated/s390-small-5.10.trace",
        "softdep dasd_eckd_mod pre: kvm\n",
    );
    loaded_equals_plans("traces/captures/kernel-trigger.nl", "");
}

#[test]
fn seed_scenario_vfio_ccw_autoload_against_blacklist() {
    let d = diff_medium(
        "overlay=traces/overlays/vfio_ccw-module.toml",
        "overlay=traces/overlays/vfio_ccw-module.toml;blacklist=vfio_ccw",
    );
    assert_eq!(names(&d["only_a"]), ["vfio", "mdev", "vfio_ccw"]);
    assert!(names(&d["only_b"]).is_empty());
    // Every one of the 4,092 present I/O subchannels (4,000 DASD, 48
    // OSA, 32 FCP, 8 tape, 4 terminals) asks for the blacklisted module
    // again: udev probes (and refuses) it each time.
    assert_eq!(d["b"]["blacklisted"], 4092);
    assert_eq!(d["a"]["modules_loaded"][2]["trigger"], "css:t0");
}

#[test]
fn seed_scenario_vfio_ap_device_table() {
    let d = diff_medium(
        "none",
        "overlay=traces/overlays/vfio_ap-device-table.toml",
    );
    assert!(names(&d["only_a"]).is_empty());
    assert_eq!(names(&d["only_b"]), ["kvm", "vfio", "mdev", "vfio_ap"]);
    assert_eq!(
        d["delta"]["module_bytes"],
        683_417 + 93_569 + 37_473 + 100_000
    );
}

#[test]
fn seed_scenario_vfio_ap_by_rule() {
    // vfio_ap without a device table, loaded by a rule on the AP bus's
    // BINDINGS=complete (the 5.19 outcome). The trace must contain the
    // event: with zcrypt built in, the kernel sends it at the end of
    // the first AP scan (boot phase).
    let dir = tempfile::tempdir().unwrap();
    let with = dir.path().join("with.trace");
    let without = dir.path().join("without.trace");
    for (path, extra) in [(&with, Some("--zcrypt-builtin")), (&without, None)]
    {
        let mut c = Command::cargo_bin("coldplug").unwrap();
        c.args([
            "gen", "s390", "--preset", "small", "--era", "6.12", "--phase",
            "all", "-o",
        ])
        .arg(path);
        if let Some(e) = extra {
            c.arg(e);
        }
        c.assert().success();
    }
    let run = |t: &std::path::Path| {
        replay(
            t.to_str().unwrap(),
            &[
                "--overlay",
                "traces/overlays/vfio_ap-module.toml",
                "--rules",
                "traces/rules-vfio_ap-on-bindings.toml",
            ],
        )
    };
    let r = run(&with);
    let loaded = names(&r["modules_loaded"]);
    assert!(
        loaded
            .ends_with(&["kvm", "vfio", "mdev", "vfio_ap"].map(String::from)),
        "{loaded:?}"
    );
    let vfio_ap = r["modules_loaded"].as_array().unwrap().last().unwrap();
    assert_eq!(vfio_ap["trigger"], "rule");
    assert_eq!(vfio_ap["devpath"], "/devices/ap");
    assert!(!names(&run(&without)["modules_loaded"])
        .contains(&"vfio_ap".to_string()));
}

#[test]
fn seed_scenario_4_18_against_6_12_era() {
    let old = replay("traces/generated/s390-medium-4.18.trace", &[]);
    let new = replay("traces/generated/s390-medium-6.12.trace", &[]);
    // 4.18: every AP queue add carries MODALIAS, so it is looked up.
    assert_eq!(old["lookups"], 9560);
    assert_eq!(new["lookups"], 8200);
    assert_eq!(
        names(&old["modules_loaded"]).len(),
        names(&new["modules_loaded"]).len()
    );
    let old_loaded = old["loaded_skips"].as_u64().unwrap();
    let new_loaded = new["loaded_skips"].as_u64().unwrap();
    assert!(old_loaded > new_loaded);
}

#[test]
fn malformed_record_is_counted_and_strict_stops() {
    let bytes = std::fs::read(
        common::root().join("traces/captures/kernel-trigger.nl"),
    )
    .unwrap();
    let mut bad = bytes.clone();
    // Corrupt the '@' of the second datagram's header.
    let first = u32::from_le_bytes(bad[..4].try_into().unwrap()) as usize;
    let at = 4 + first + 4 + 3;
    assert_eq!(bad[at], b'@');
    bad[at] = b'#';
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), &bad).unwrap();
    let k = kernel_arg();
    let out = Command::cargo_bin("coldplug")
        .unwrap()
        .args(["replay", f.path().to_str().unwrap(), "--kernel", &k, "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["events"], 445);
    assert_eq!(v["malformed"], 1);
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("byte {}", at - 3)));
    let out = Command::cargo_bin("coldplug")
        .unwrap()
        .args([
            "replay",
            f.path().to_str().unwrap(),
            "--kernel",
            &k,
            "--strict",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn svg_is_written() {
    let k = kernel_arg();
    let svg = tempfile::NamedTempFile::new().unwrap();
    Command::cargo_bin("coldplug")
        .unwrap()
        .current_dir(common::root())
        .args([
            "replay",
            "traces/generated/s390-small-6.12.trace",
            "--kernel",
            &k,
            "--svg",
        ])
        .arg(svg.path())
        .assert()
        .success();
    let text = std::fs::read_to_string(svg.path()).unwrap();
    assert!(text.starts_with("<svg") && text.trim_end().ends_with("</svg>"));
    assert!(text.contains("lookup latency"));
}
