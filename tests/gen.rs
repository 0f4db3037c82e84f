//! `coldplug gen s390`: event counts per preset and era (exact numbers
//! from the formulas in `Config::counts`), era differences, key order,
//! monitor layout against the real captures, determinism and the CLI.

use std::collections::BTreeMap;

use assert_cmd::Command;
use coldplug::gen::emit::{self, DatagramSink, MonitorSink, Sink, TraceSink};
use coldplug::gen::era::Era;
use coldplug::gen::s390::{
    ApScan, CardType, Config, ModeChoice, Phase, Preset, TriggerType, UuidMode,
};
use coldplug::trace::file::{Clock, Origin, Writer};
use coldplug::trace::stats::TraceStats;
use coldplug::trace::{Events, Format};
use coldplug::uevent::{kernel, Action};

/// Generate into memory as our trace format.
fn trace(cfg: &Config) -> Vec<u8> {
    let w = Writer::new(Vec::new(), Clock::Monotonic, Origin::Generator, "t")
        .unwrap();
    let mut sink = TraceSink(w);
    emit::generate(cfg, &mut sink).unwrap();
    sink.0.finish().unwrap()
}

/// Every datagram, owned, for inspection.
fn datagrams(cfg: &Config) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    emit::generate(cfg, &mut |_: u64, d: &[u8]| {
        v.push(d.to_vec());
        Ok(())
    })
    .unwrap();
    v
}

fn entries(d: &[u8]) -> Vec<(String, String)> {
    let ev = kernel::parse(d).unwrap();
    ev.entries()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

fn keys(d: &[u8]) -> Vec<String> {
    entries(d).into_iter().map(|(k, _)| k).collect()
}

fn find<'a>(all: &'a [Vec<u8>], action: &str, devpath: &str) -> &'a [u8] {
    all.iter()
        .find(|d| {
            let ev = kernel::parse(d).unwrap();
            ev.action().as_bytes() == action.as_bytes()
                && ev.devpath() == devpath.as_bytes()
        })
        .unwrap_or_else(|| panic!("no {action} {devpath}"))
}

fn stats(cfg: &Config) -> TraceStats {
    let t = trace(cfg);
    TraceStats::collect(&t, Format::Coldplug, true).unwrap()
}

fn map(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), *n))
        .collect()
}

/// Coldplug phase (the default): 4 bus/driver adds, C + Q AP adds, 2P
/// CSS adds. The numbers are the same in every era.
#[test]
fn coldplug_counts_per_preset() {
    // (preset, C + Q, P, events)
    let cases = [
        (Preset::Small, 2 + 2 * 4, 1 + 3 + 2 + 16, 58),
        (Preset::Medium, 16 + 16 * 85, 4 + 48 + 32 + 8 + 4_000, 9_564),
    ];
    for era in Era::ALL {
        for (preset, ap, p, events) in cases {
            let cfg = Config::new(preset, era);
            assert_eq!(cfg.counts().coldplug, events);
            let st = stats(&cfg);
            assert_eq!(st.events, events, "{preset:?} {era}");
            assert_eq!(st.malformed, 0);
            assert_eq!(st.by_action, map(&[("add", events)]));
            assert_eq!(
                st.by_subsystem,
                map(&[
                    ("ap", ap),
                    ("bus", 3),
                    ("drivers", 1),
                    ("css", p),
                    ("ccw", p)
                ])
            );
            // Cards always, queues only before 5.15, every css and ccw.
            let queues = if era < Era::V5_15 { ap } else { 0 };
            let cards = if preset == Preset::Small { 2 } else { 16 };
            let with = queues.max(cards) + 2 * p;
            assert_eq!(st.add_with_modalias, with, "{preset:?} {era}");
            // SEQNUMs continue after the boot events nobody saw.
            let boot = cfg.counts().boot;
            assert_eq!(st.kernel_seqnum.first, Some(boot + 1));
            assert_eq!(st.kernel_seqnum.gaps, 0);
        }
    }
}

/// Boot phase: CSS 2P (≤5.16) or 3P + 4A (5.17+), AP C + Q + INITSCAN.
#[test]
fn boot_counts_per_preset_and_era() {
    let expect = |preset, era| match (preset, era) {
        (Preset::Small, Era::V4_18) => 44 + 10,
        (Preset::Small, Era::V5_10 | Era::V5_15) => 44 + 11,
        (Preset::Small, _) => 3 * 22 + 4 * 8 + 11,
        (Preset::Medium, Era::V4_18) => 8_184 + 1_376,
        (Preset::Medium, Era::V5_10 | Era::V5_15) => 8_184 + 1_377,
        (Preset::Medium, _) => 3 * 4_092 + 4 * 2_000 + 1_377,
        _ => unreachable!(),
    };
    for era in Era::ALL {
        for preset in [Preset::Small, Preset::Medium] {
            let mut cfg = Config::new(preset, era);
            cfg.phase = Phase::Boot;
            let n: u64 = expect(preset, era);
            assert_eq!(cfg.counts().boot, n, "{preset:?} {era}");
            let st = stats(&cfg);
            assert_eq!(st.events, n, "{preset:?} {era}");
            let absent = if preset == Preset::Small { 8 } else { 2_000 };
            let present = if preset == Preset::Small { 22 } else { 4_092 };
            let storm = era >= Era::V6_1;
            let get = |a: &str| st.by_action.get(a).copied().unwrap_or(0);
            assert_eq!(get("unbind"), if storm { absent } else { 0 });
            assert_eq!(get("remove"), if storm { absent } else { 0 });
            assert_eq!(get("bind"), if storm { present + absent } else { 0 });
            assert_eq!(get("change"), u64::from(era >= Era::V5_10));
        }
    }
}

/// The max preset: 256 x 256 AP devices and 4 x 65,536 subchannels.
/// Counted through a parsing sink, not stored.
#[test]
fn max_preset_counts() {
    for (era, boot) in [(Era::V6_12, 917_761u64), (Era::V4_18, 459_008)] {
        let mut cfg = Config::new(Preset::Max, era);
        assert_eq!(cfg.counts().coldplug, 459_012);
        assert_eq!(cfg.counts().boot, boot);
        cfg.phase = Phase::All;
        let mut n = 0u64;
        let mut adds = 0u64;
        let mut last = 0u64;
        let s = emit::generate(&cfg, &mut |_: u64, d: &[u8]| {
            let ev = kernel::parse(d).unwrap();
            n += 1;
            adds += u64::from(ev.action() == Action::Add);
            let seq = ev.seqnum().unwrap();
            assert_eq!(seq, last + 1);
            last = seq;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, boot + 459_012);
        assert_eq!(s.events, n);
        let queues = 65_536u64;
        let cards = 256u64;
        let present = 4 * 65_536 - 65_536u64;
        let absent = 65_536u64;
        let boot_adds =
            if era == Era::V4_18 { 2 * present } else { 2 * present + absent }
                + cards
                + queues;
        assert_eq!(adds, boot_adds + 459_012);
    }
}

#[test]
fn queue_modalias_by_era() {
    for era in Era::ALL {
        let cfg = Config::new(Preset::Small, era);
        let all = datagrams(&cfg);
        let q = find(&all, "add", "/devices/ap/card00/00.0000");
        let card = find(&all, "add", "/devices/ap/card00");
        let old = era < Era::V5_15;
        let q_keys = keys(q);
        assert_eq!(q_keys.contains(&"MODALIAS".into()), old, "{era}");
        assert_eq!(q_keys.contains(&"DEV_TYPE".into()), old, "{era}");
        assert_eq!(q_keys.contains(&"MODE".into()), !old, "{era}");
        assert!(keys(card).contains(&"MODALIAS".into()));
        assert_eq!(keys(card).contains(&"MODE".into()), !old);
    }
}

#[test]
fn key_order_as_the_kernel_writes_it() {
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.card_type = CardType::Fixed(13);
    cfg.mode = ModeChoice::Fixed(coldplug::gen::s390::Mode::Cca);
    let all = datagrams(&cfg);
    let card = find(&all, "add", "/devices/ap/card01");
    assert_eq!(
        entries(card)[..8],
        [
            ("ACTION", "add"),
            ("DEVPATH", "/devices/ap/card01"),
            ("SUBSYSTEM", "ap"),
            ("SYNTH_UUID", "0"),
            ("DEVTYPE", "ap_card"),
            ("DEV_TYPE", "000D"),
            ("MODALIAS", "ap:t0D"),
            ("MODE", "cca"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert_eq!(keys(card).last().unwrap(), "SEQNUM");
    assert!(card.starts_with(b"add@/devices/ap/card01\0ACTION=add\0"));
    let sch = find(&all, "add", "/devices/css0/0.0.0004");
    assert_eq!(
        keys(sch),
        [
            "ACTION",
            "DEVPATH",
            "SUBSYSTEM",
            "SYNTH_UUID",
            "DRIVER",
            "ST",
            "MODALIAS",
            "SEQNUM"
        ]
    );
    // sch 4 is the first FCP device (after 1 terminal and 3 OSA).
    let ccw = find(&all, "add", "/devices/css0/0.0.0004/0.0.0104");
    assert_eq!(
        entries(ccw)[4..9],
        [
            ("CU_TYPE", "1731"),
            ("CU_MODEL", "03"),
            ("DEV_TYPE", "1732"),
            ("DEV_MODEL", "03"),
            ("MODALIAS", "ccw:t1731m03dt1732dm03"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    let term = find(&all, "add", "/devices/css0/0.0.0000/0.0.0100");
    let ev = kernel::parse(term).unwrap();
    assert_eq!(ev.modalias(), Some(&b"ccw:t3274m41dtdm"[..]));
    // Old era: DEV_TYPE and MODALIAS on the queue, no MODE.
    cfg.era = Era::V5_10;
    let all = datagrams(&cfg);
    let q = find(&all, "add", "/devices/ap/card01/01.0003");
    assert_eq!(
        keys(q),
        [
            "ACTION",
            "DEVPATH",
            "SUBSYSTEM",
            "SYNTH_UUID",
            "DEVTYPE",
            "DEV_TYPE",
            "MODALIAS",
            "SEQNUM"
        ]
    );
}

#[test]
fn root_change_events_by_era() {
    for era in Era::ALL {
        let mut cfg = Config::new(Preset::Small, era);
        cfg.phase = Phase::All;
        cfg.sizes.domains = 0; // zero queues: bindings complete at once
        cfg.mask_change = true;
        let all = datagrams(&cfg);
        let changes: Vec<_> = all
            .iter()
            .filter(|d| d.starts_with(b"change@/devices/ap\0"))
            .map(|d| entries(d))
            .collect();
        let extra = |c: &Vec<(String, String)>| c[3..c.len() - 1].to_vec();
        let got: Vec<_> = changes.iter().map(extra).collect();
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let initscan = vec![kv("INITSCAN", "done")];
        let mut expect = Vec::new();
        match era {
            Era::V4_18 => {}
            Era::V5_10 => {
                expect.push(initscan.clone());
                expect.push(vec![kv("BINDINGS", "complete")]);
            }
            _ => {
                expect.push(initscan.clone());
                expect.push(vec![
                    kv("BINDINGS", "complete"),
                    kv("COMPLETECOUNT", "1"),
                ]);
            }
        }
        if era >= Era::V6_1 {
            let ff = "f".repeat(16);
            // Card 1 (bit 1) given away: 0xbfff... in the first word.
            let ap = format!("0xbfffffffffffffff{ff}{ff}{ff}\n");
            expect.push(vec![kv("APMASK", &ap)]);
            // No domains: AQMASK unchanged.
            expect.push(vec![kv("AQMASK", &format!("0x{ff}{ff}{ff}{ff}\n"))]);
        }
        assert_eq!(got, expect, "{era}");
    }
}

#[test]
fn cio_boot_behaviour_by_era() {
    let mut cfg = Config::new(Preset::Small, Era::V5_15);
    cfg.phase = Phase::Boot;
    let all = datagrams(&cfg);
    // Delayed add: the subchannel is bound already, no bind event.
    let add = find(&all, "add", "/devices/css0/0.0.0001");
    assert!(entries(add).contains(&("DRIVER".into(), "io_subchannel".into())));
    assert!(!all.iter().any(|d| d.starts_with(b"bind@")));
    // The first absent subchannel (22 present before it) is silent.
    assert!(!all
        .iter()
        .any(|d| d.starts_with(b"add@/devices/css0/0.0.0016\0")));
    cfg.era = Era::V6_1;
    let all = datagrams(&cfg);
    let order: Vec<String> = all
        .iter()
        .filter(|d| {
            kernel::parse(d).unwrap().devpath() == b"/devices/css0/0.0.0016"
        })
        .map(|d| {
            let ev = kernel::parse(d).unwrap();
            String::from_utf8_lossy(ev.action().as_bytes()).into_owned()
        })
        .collect();
    assert_eq!(order, ["add", "bind", "unbind", "remove"]);
    let unbind = find(&all, "unbind", "/devices/css0/0.0.0016");
    assert_eq!(
        keys(unbind),
        ["ACTION", "DEVPATH", "SUBSYSTEM", "ST", "SEQNUM"]
    );
    let add = find(&all, "add", "/devices/css0/0.0.0016");
    assert!(!keys(add).contains(&"DRIVER".into()));
    let bind = find(&all, "bind", "/devices/css0/0.0.0016");
    assert!(entries(bind).contains(&("DRIVER".into(), "io_subchannel".into())));
}

#[test]
fn coldplug_order_is_udevadm_order() {
    let mut cfg = Config::new(Preset::Medium, Era::V6_12);
    cfg.trigger_type = TriggerType::All;
    let all = datagrams(&cfg);
    let paths: Vec<String> = all
        .iter()
        .map(|d| {
            String::from_utf8_lossy(kernel::parse(d).unwrap().devpath())
                .into_owned()
        })
        .collect();
    let mut sorted = paths.clone();
    sorted.sort_by(|a, b| coldplug::record::sysfs::device_compare(a, b));
    assert_eq!(paths, sorted);
    assert_eq!(paths[0], "/bus/ap");
    // Set 1 follows set 0.
    let i = paths
        .iter()
        .position(|p| p.starts_with("/devices/css0/0.1."))
        .unwrap();
    assert!(paths[i - 1].starts_with("/devices/css0/0.0."));
}

#[test]
fn late_ap_scan_is_seen_by_udevd() {
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.ap_scan = ApScan::Late;
    let c = cfg.counts();
    assert_eq!(c.coldplug, 58 + 11);
    assert_eq!(c.boot, 3 * 22 + 4 * 8);
    let all = datagrams(&cfg);
    // The kernel's own add (no SYNTH_UUID) before the trigger's.
    assert!(!keys(&all[0]).contains(&"SYNTH_UUID".into()));
    assert!(all[10].starts_with(b"change@/devices/ap\0"));
    assert!(all[11].starts_with(b"add@/bus/ap\0"));
}

#[test]
fn qeth_groups_and_uuids() {
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.qeth_groups = true;
    cfg.uuid = UuidMode::Random;
    let all = datagrams(&cfg);
    let n = all.len();
    assert_eq!(n as u64, 58 + 2);
    assert_eq!(
        entries(&all[n - 2])[..5],
        [
            ("ACTION", "add"),
            ("DEVPATH", "/devices/qeth/0.0.0101"),
            ("SUBSYSTEM", "ccwgroup"),
            ("DEVTYPE", "qeth_generic"),
            ("DRIVER", "qeth"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
    );
    assert!(all[n - 1].starts_with(b"bind@/devices/qeth/0.0.0101\0"));
    let uuid = kernel::parse(&all[0]).unwrap().get(b"SYNTH_UUID").unwrap();
    assert_eq!(uuid.len(), 36);
}

#[test]
fn deterministic_per_seed() {
    let mut cfg = Config::new(Preset::Medium, Era::V6_12);
    let a = trace(&cfg);
    assert_eq!(a, trace(&cfg));
    cfg.seed = 2;
    assert_ne!(a, trace(&cfg));
}

#[test]
fn cex8_only_on_new_eras() {
    let mut cfg = Config::new(Preset::Small, Era::V5_10);
    cfg.card_type = CardType::Fixed(14);
    assert!(cfg.validate().is_err());
    cfg.era = Era::V6_1;
    assert!(cfg.validate().is_ok());
    let all = datagrams(&cfg);
    let card = find(&all, "add", "/devices/ap/card00");
    assert!(entries(card).contains(&("MODALIAS".into(), "ap:t0E".into())));
}

#[test]
fn kernel_format_parses_as_datagrams() {
    let cfg = Config::new(Preset::Small, Era::V6_1);
    let mut sink = DatagramSink(Vec::new());
    emit::generate(&cfg, &mut sink).unwrap();
    let st = TraceStats::collect(&sink.0, Format::Datagrams, true).unwrap();
    assert_eq!(st.events, 58);
    assert_eq!(coldplug::trace::detect(&sink.0), Some(Format::Datagrams));
}

fn capture(name: &str) -> Vec<u8> {
    let p = format!("{}/traces/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(p).unwrap()
}

/// Our monitor text has the layout of the real capture: the preamble,
/// the header widths, one line per key, a blank line after each block.
/// Each capture block without DEVNAME/MAJOR/MINOR (which systemd
/// rewrites) goes through our datagram path and comes out byte for
/// byte the same.
#[test]
fn monitor_layout_matches_the_capture() {
    let text = capture("kernel-trigger.monitor.txt");
    assert!(text.starts_with(emit::MONITOR_PREAMBLE));
    let body = &text[emit::MONITOR_PREAMBLE.len()..];
    let mut same = 0;
    for chunk in body.split_inclusive(|&b| b == b'\n').fold(
        vec![Vec::new()],
        |mut acc: Vec<Vec<u8>>, line| {
            acc.last_mut().unwrap().extend_from_slice(line);
            if line == b"\n" {
                acc.push(Vec::new());
            }
            acc
        },
    ) {
        if chunk.is_empty() {
            continue;
        }
        let ev = Events::new(&chunk, Format::Monitor).next().unwrap().unwrap();
        if ev.get(b"DEVNAME").is_some() || ev.get(b"MAJOR").is_some() {
            continue;
        }
        let mut dgram = Vec::new();
        kernel::encode(&ev, &mut dgram);
        let mut sink = MonitorSink::new(Vec::new()).unwrap();
        sink.event(ev.timestamp_ns().unwrap(), &dgram).unwrap();
        let ours = sink.into_inner();
        assert_eq!(
            String::from_utf8_lossy(&ours[emit::MONITOR_PREAMBLE.len()..]),
            String::from_utf8_lossy(&chunk)
        );
        same += 1;
    }
    assert!(same > 300, "{same}");
    // And the generator's first block is the capture's first block
    // with our devpath: "/bus/ap" in place of "/bus/acpi".
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.trigger_at_ns = 454_092_201_000;
    cfg.first_seqnum = 820 - cfg.counts().boot;
    let mut sink = MonitorSink::new(Vec::new()).unwrap();
    emit::generate(&cfg, &mut sink).unwrap();
    let ours = sink.into_inner();
    let block_end = |t: &[u8], from: usize| {
        from + t[from..].windows(2).position(|w| w == b"\n\n").unwrap() + 2
    };
    let pre = emit::MONITOR_PREAMBLE.len();
    let theirs = &text[..block_end(&text, pre)];
    let ours = &ours[..block_end(&ours, pre)];
    let theirs =
        String::from_utf8_lossy(theirs).replace("/bus/acpi", "/bus/ap");
    assert_eq!(String::from_utf8_lossy(ours), theirs);
}

#[test]
fn monitor_output_parses_back() {
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.phase = Phase::All;
    cfg.mask_change = true;
    let mut sink = MonitorSink::new(Vec::new()).unwrap();
    emit::generate(&cfg, &mut sink).unwrap();
    let text = sink.into_inner();
    let st = TraceStats::collect(&text, Format::Monitor, true).unwrap();
    assert_eq!(st.events, cfg.counts().boot + cfg.counts().coldplug);
    // The APMASK value's newline is cut, as sd-device does.
    let s = String::from_utf8(text).unwrap();
    assert!(s.contains("APMASK=0xbfffffffffffffffffff"));
    assert!(!s.contains("ffff\n\nSEQNUM"));
}

fn bin() -> Command {
    Command::cargo_bin("coldplug").unwrap()
}

#[test]
fn cli_generates_and_stat_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.trace");
    bin()
        .args(["gen", "s390", "--preset", "medium", "--era", "5.10", "-o"])
        .arg(&out)
        .assert()
        .success();
    let o = bin().arg("stat").arg("--json").arg(&out).output().unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["events"], 9_564);
    assert_eq!(v["by_subsystem"]["ap"], 1_376);
    // Boot 8,184 + 1,377 with nobody listening: the first seqnum.
    assert_eq!(v["kernel_seqnum"]["first"], 9_562);
    let trace = std::fs::read(&out).unwrap();
    let h = coldplug::trace::file::Header::read(&trace).unwrap();
    assert_eq!(h.origin, Origin::Generator);
    assert_eq!(h.clock, Clock::Monotonic);
}

#[test]
fn cli_rejects_bad_arguments() {
    bin().args(["gen", "s390", "--era", "5.4"]).assert().code(2);
    let o = bin()
        .args(["gen", "s390", "--era", "5.10", "--card-type", "cex8"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("CEX8"));
    bin()
        .args(["gen", "s390", "--dasd", "300000", "--ssids", "4"])
        .assert()
        .code(2);
}

/// The traces in traces/generated/ are what the generator makes today
/// (commands in traces/README.md).
#[test]
fn committed_traces_are_current() {
    let dir = format!("{}/traces/generated", env!("CARGO_MANIFEST_DIR"));
    let cases: [(&str, &[&str]); 5] = [
        (
            "s390-small-6.12.trace",
            &["--preset", "small", "--era", "6.12", "--phase", "all"],
        ),
        (
            "s390-small-6.12.monitor.txt",
            &[
                "--preset", "small", "--era", "6.12", "--phase", "all",
                "--format", "monitor",
            ],
        ),
        (
            "s390-small-5.10.trace",
            &["--preset", "small", "--era", "5.10", "--phase", "all"],
        ),
        ("s390-medium-6.12.trace", &["--preset", "medium", "--era", "6.12"]),
        ("s390-medium-4.18.trace", &["--preset", "medium", "--era", "4.18"]),
    ];
    for (file, args) in cases {
        let want = std::fs::read(format!("{dir}/{file}")).unwrap();
        let got = bin().args(["gen", "s390"]).args(args).output().unwrap();
        assert!(got.status.success());
        assert!(got.stdout == want, "{file} is stale: regenerate it");
    }
}

/// zcrypt built in: each AP add is followed by its bind, the scan ends
/// with BINDINGS=complete COMPLETECOUNT=1, the trigger's adds carry
/// DRIVER and the two driver kobjects are triggered too.
#[test]
fn zcrypt_builtin_binds_during_the_scan() {
    let mut cfg = Config::new(Preset::Small, Era::V6_12);
    cfg.phase = Phase::All;
    cfg.zcrypt_builtin = true;
    let c = cfg.counts();
    assert_eq!(c.boot, 3 * 22 + 4 * 8 + 2 * 10 + 2);
    assert_eq!(c.coldplug, 58 + 2);
    let all = datagrams(&cfg);
    assert_eq!(all.len() as u64, c.boot + c.coldplug);
    let ap: Vec<(String, String)> = all
        .iter()
        .map(|d| kernel::parse(d).unwrap())
        .filter(|e| {
            e.subsystem() == Some(b"ap") && e.get(b"SYNTH_UUID").is_none()
        })
        .map(|e| {
            (
                String::from_utf8_lossy(e.action().as_bytes()).into_owned(),
                String::from_utf8_lossy(e.devpath()).into_owned(),
            )
        })
        .collect();
    let s = |a: &str, p: &str| (a.to_string(), p.to_string());
    assert_eq!(
        ap[..4],
        [
            s("add", "/devices/ap/card00"),
            s("bind", "/devices/ap/card00"),
            s("add", "/devices/ap/card00/00.0000"),
            s("bind", "/devices/ap/card00/00.0000"),
        ]
    );
    assert_eq!(
        ap[ap.len() - 2..],
        [s("change", "/devices/ap"), s("change", "/devices/ap")]
    );
    let last = all
        .iter()
        .rposition(|d| d.starts_with(b"change@/devices/ap\0"))
        .unwrap();
    assert_eq!(
        entries(&all[last])[3..5],
        [
            ("BINDINGS".to_string(), "complete".to_string()),
            ("COMPLETECOUNT".to_string(), "1".to_string())
        ]
    );
    let bind = find(&all, "bind", "/devices/ap/card00/00.0001");
    assert_eq!(
        keys(bind),
        [
            "ACTION",
            "DEVPATH",
            "SUBSYSTEM",
            "DEVTYPE",
            "DRIVER",
            "MODE",
            "SEQNUM"
        ]
    );
    assert!(entries(bind).contains(&("DRIVER".into(), "cex4queue".into())));
    let add = all
        .iter()
        .find(|d| {
            d.starts_with(b"add@/devices/ap/card01\0")
                && keys(d).contains(&"SYNTH_UUID".into())
        })
        .unwrap();
    assert_eq!(
        entries(add)[4..6],
        [
            ("DEVTYPE".to_string(), "ap_card".to_string()),
            ("DRIVER".to_string(), "cex4card".to_string())
        ]
    );
    assert!(all
        .iter()
        .any(|d| d.starts_with(b"add@/bus/ap/drivers/cex4queue\0")));
}
