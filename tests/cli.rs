//! The `coldplug` command: `stat` and `convert` on the captures, exit
//! codes (0 clean, 1 data errors, 2 usage or I/O), error messages with
//! byte offsets, `--strict`.

mod common;

use std::path::Path;

use assert_cmd::cargo::cargo_bin_cmd;
use coldplug::trace::Format;
use serde_json::Value;

fn coldplug() -> assert_cmd::Command {
    cargo_bin_cmd!("coldplug")
}

fn stat_json(path: &Path, extra: &[&str]) -> (i32, Value, String) {
    let out = coldplug()
        .arg("stat")
        .arg("--json")
        .args(extra)
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let v =
        serde_json::from_str(stdout.lines().next().unwrap_or("null")).unwrap();
    (out.status.code().unwrap(), v, String::from_utf8(out.stderr).unwrap())
}

/// (file, format, events, by_action, with_modalias, unique_modaliases)
type Expected = (
    &'static str,
    &'static str,
    u64,
    &'static [(&'static str, u64)],
    u64,
    u64,
);

const EXPECTED: [Expected; 4] = [
    (
        "kernel-trigger.nl",
        "datagrams",
        446,
        &[("add", 445), ("change", 1)],
        28,
        23,
    ),
    ("udev-trigger.nl", "datagrams", 25, &[("add", 25)], 17, 14),
    (
        "kernel-trigger.monitor.txt",
        "monitor",
        446,
        &[("add", 445), ("change", 1)],
        28,
        23,
    ),
    (
        "udev-trigger.monitor.txt",
        "monitor",
        390,
        &[("add", 389), ("move", 1)],
        28,
        23,
    ),
];

#[test]
fn stat_json_on_each_capture() {
    for (name, format, events, actions, with_m, unique) in EXPECTED {
        let (code, v, err) = stat_json(Path::new(&common::path(name)), &[]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(v["format"], format, "{name}");
        assert_eq!(v["events"], events, "{name}");
        assert_eq!(v["malformed"], 0, "{name}");
        let by_action = v["by_action"].as_object().unwrap();
        assert_eq!(by_action.len(), actions.len(), "{name}");
        for (a, n) in actions {
            assert_eq!(by_action[*a], *n, "{name} {a}");
        }
        let by_sub = v["by_subsystem"].as_object().unwrap();
        let total: u64 = by_sub.values().map(|n| n.as_u64().unwrap()).sum();
        assert_eq!(total, events, "{name}");
        assert_eq!(v["with_modalias"], with_m, "{name}");
        assert_eq!(v["unique_modaliases"], unique, "{name}");
        assert!(err.is_empty(), "{name}: {err}");
    }
    let (_, v, _) =
        stat_json(Path::new(&common::path("kernel-trigger.nl")), &[]);
    assert_eq!(v["by_subsystem"]["memory"], 192);
    assert_eq!(v["by_subsystem"]["tty"], 68);
    assert_eq!(v["by_subsystem"]["cpu"], 2);
}

#[test]
fn stat_text_on_each_capture() {
    for (name, format, events, _, with_m, unique) in EXPECTED {
        let out =
            coldplug().arg("stat").arg(common::path(name)).assert().code(0);
        let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        assert!(s.contains(&format!("format             {format}\n")), "{s}");
        assert!(s.contains(&format!("events             {events}\n")), "{s}");
        assert!(s.contains("malformed          0\n"), "{s}");
        assert!(s.contains(&format!("with MODALIAS      {with_m} ")), "{s}");
        assert!(s.contains(&format!("unique modaliases  {unique}\n")), "{s}");
    }
}

/// The kernel capture as a trace with record 200's SEQNUM made
/// invalid; returns the file and the byte offset of the bad value.
fn corrupted_trace(dir: &Path) -> (std::path::PathBuf, usize) {
    let mut t = common::to_trace(
        &common::capture("kernel-trigger.nl"),
        Format::Datagrams,
    );
    // SEQNUM 1020 is the 201st event (820 + 200).
    let at =
        memchr::memmem::find(&t, b"SEQNUM=1020\0").unwrap() + b"SEQNUM=".len();
    t[at + 2] = b'x';
    let p = dir.join("corrupt.cplg");
    std::fs::write(&p, &t).unwrap();
    (p, at)
}

#[test]
fn corrupted_record_is_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let (p, at) = corrupted_trace(dir.path());
    let (code, v, err) = stat_json(&p, &[]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(v["format"], "coldplug");
    assert_eq!(v["events"], 445);
    assert_eq!(v["malformed"], 1);
    assert_eq!(v["malformed_records"][0]["offset"], at);
    assert_eq!(v["malformed_records"][0]["reason"], "bad SEQNUM");
    assert!(
        err.contains(&format!("malformed record at byte {at}: bad SEQNUM")),
        "{err}"
    );
    // The kernel seqnum statistics see the hole the skipped record left.
    assert_eq!(v["kernel_seqnum"]["gaps"], 1);
    assert_eq!(v["kernel_seqnum"]["missing"], 1);
    // Text output says the same.
    let out = coldplug().arg("stat").arg(&p).assert().code(1);
    let s = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(s.contains("events             445\n"), "{s}");
    assert!(s.contains("malformed          1\n"), "{s}");
    assert!(s.contains(&format!("byte {at}: bad SEQNUM")), "{s}");
}

#[test]
fn strict_stops_at_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let (p, at) = corrupted_trace(dir.path());
    let out = coldplug()
        .args(["stat", "--strict", "--json"])
        .arg(&p)
        .assert()
        .code(1);
    let o = out.get_output();
    assert!(o.stdout.is_empty(), "no report after a fatal error");
    let err = String::from_utf8(o.stderr.clone()).unwrap();
    assert!(err.contains(&format!("bad SEQNUM at byte {at}")), "{err}");
    // A monitor text error names the line too.
    let mut txt = common::capture("kernel-trigger.monitor.txt");
    let at = memchr::memmem::find(&txt, b"SEQNUM=830\n").unwrap();
    txt[at + 6] = b':';
    let m = dir.path().join("bad.monitor.txt");
    std::fs::write(&m, &txt).unwrap();
    let line = 1 + txt[..at].iter().filter(|&&b| b == b'\n').count();
    let out = coldplug().args(["stat", "--strict"]).arg(&m).assert().code(1);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains(&format!("at byte {at} (line {line})")), "{err}");
    assert!(err.contains("environment entry has no '='"), "{err}");
    // Without --strict the rest is counted.
    let (code, v, _) = stat_json(&m, &[]);
    assert_eq!(
        (code, v["events"].as_u64(), v["malformed"].as_u64()),
        (1, Some(445), Some(1))
    );
    assert_eq!(v["malformed_records"][0]["line"], line);
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    coldplug().args(["stat", "/nonexistent/trace"]).assert().code(2);
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"\x01\x02 not a trace\n").unwrap();
    let out = coldplug().arg("stat").arg(&junk).assert().code(2);
    let err = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(err.contains("unknown trace format"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    coldplug().arg("stat").arg(&empty).assert().code(2);
    coldplug().arg("stat").arg(dir.path()).assert().code(2);
    coldplug().args(["stat", "--format", "bogus"]).arg(&junk).assert().code(2);
    coldplug().arg("stat").assert().code(2);
    coldplug().arg("frobnicate").assert().code(2);
    coldplug()
        .args(["convert", "/nonexistent/trace", "-o"])
        .arg(dir.path().join("o"))
        .assert()
        .code(2);
    let cap = common::path("udev-trigger.nl");
    coldplug()
        .args(["convert", &cap, "-o", "/nonexistent/dir/out"])
        .assert()
        .code(2);
}

#[test]
fn hostile_inputs_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut inputs: Vec<Vec<u8>> = vec![
        b"KERNEL[".to_vec(),
        b"P: /\n\0".to_vec(),
        b"CPLGTRC\0\x01\x00\xff\xff\x00\x00\xff\xff".to_vec(),
        b"\xff\xff\xff\xffadd@/x\0".to_vec(),
        vec![b'\n'; 10_000],
    ];
    let nl = common::capture("kernel-trigger.nl");
    inputs.push(nl[..nl.len() / 2].to_vec());
    for (i, data) in inputs.iter().enumerate() {
        let p = dir.path().join(format!("in{i}"));
        std::fs::write(&p, data).unwrap();
        for f in ["coldplug", "datagrams", "monitor", "sysfs-snapshot"] {
            let out = coldplug()
                .args(["stat", "--format", f])
                .arg(&p)
                .output()
                .unwrap();
            let code = out.status.code();
            assert!(matches!(code, Some(0 | 1)), "input {i} as {f}: {code:?}");
        }
    }
}

#[test]
fn convert_round_trips_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for (name, ..) in EXPECTED {
        let out = dir.path().join(format!("{name}.cplg"));
        let r = coldplug()
            .arg("convert")
            .arg(common::path(name))
            .arg("-o")
            .arg(&out)
            .assert()
            .code(0);
        let err = String::from_utf8(r.get_output().stderr.clone()).unwrap();
        assert!(err.contains("wrote "), "{err}");
        let (_, orig, _) = stat_json(Path::new(&common::path(name)), &[]);
        let (code, conv, err) = stat_json(&out, &[]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(conv["format"], "coldplug");
        for key in [
            "events",
            "malformed",
            "by_action",
            "by_subsystem",
            "by_source",
            "with_modalias",
            "unique_modaliases",
            "kernel_seqnum",
            "udev_seqnum",
            "time_span_ns",
        ] {
            assert_eq!(conv[key], orig[key], "{name}: {key}");
        }
        // Converting the converted trace again changes nothing but the
        // description in the header.
        let again = dir.path().join(format!("{name}.2.cplg"));
        coldplug()
            .arg("convert")
            .arg(&out)
            .arg("-o")
            .arg(&again)
            .assert()
            .code(0);
        let (a, b) =
            (std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
        let skip = |t: &[u8]| {
            coldplug::trace::file::Header::read(t).unwrap().header_len
        };
        assert_eq!(a[skip(&a)..], b[skip(&b)..], "{name}");
    }
}

#[test]
fn convert_reports_malformed_records() {
    let dir = tempfile::tempdir().unwrap();
    let (p, at) = corrupted_trace(dir.path());
    let out = dir.path().join("out.cplg");
    let r =
        coldplug().arg("convert").arg(&p).arg("-o").arg(&out).assert().code(1);
    let err = String::from_utf8(r.get_output().stderr.clone()).unwrap();
    assert!(err.contains(&format!("bad SEQNUM at byte {at}")), "{err}");
    assert!(err.contains("wrote 445 events"), "{err}");
    let r = coldplug()
        .args(["convert", "--strict"])
        .arg(&p)
        .arg("-o")
        .arg(&out)
        .assert()
        .code(1);
    let err = String::from_utf8(r.get_output().stderr.clone()).unwrap();
    assert!(err.contains(&format!("bad SEQNUM at byte {at}")), "{err}");
    assert!(!out.exists(), "--strict removes the partial output");
}

#[test]
fn stat_reads_standard_input() {
    let data = common::capture("udev-trigger.nl");
    let out = coldplug()
        .args(["stat", "--json", "-"])
        .write_stdin(data)
        .assert()
        .code(0);
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["events"], 25);
}
