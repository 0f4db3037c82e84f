//! `coldplug record`: the sysfs walker on a fake tree (order, keys,
//! ancestors, prioritized subsystems), libudev conversion on the real
//! capture, and live netlink recording when this process may do it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use coldplug::gen::s390::{TriggerType, UuidMode};
use coldplug::record::netlink::{self, Group, Received, Socket};
use coldplug::record::sysfs::{self, SynthOptions};
use coldplug::trace::file::{Clock, Header, Origin, Records, Writer};
use coldplug::trace::{netlink as capture, Events, Format};
use coldplug::uevent::{kernel, Source};

fn dev(root: &Path, path: &str, uevent: &str, subsystem: Option<&str>) {
    let d = root.join(path);
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("uevent"), uevent).unwrap();
    if let Some(s) = subsystem {
        let depth = path.matches('/').count() + 1;
        let up = "../".repeat(depth);
        symlink(format!("{up}{s}"), d.join("subsystem")).unwrap();
    }
}

fn link(root: &Path, at: &str, target: &str) {
    let p = root.join(at);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    let depth = at.matches('/').count();
    symlink(format!("{}{target}", "../".repeat(depth)), p).unwrap();
}

/// A small sysfs: AP and CSS devices, a cpu whose MODALIAS ends in a
/// newline, a class-only device, an ancestor with a subsystem that no
/// bus lists, and roots without a subsystem.
fn fake_sysfs(root: &Path) {
    dev(root, "devices/ap", "", None);
    dev(
        root,
        "devices/ap/card03",
        "DEVTYPE=ap_card\nDEV_TYPE=000D\nMODALIAS=ap:t0D\nMODE=cca\n",
        Some("bus/ap"),
    );
    dev(
        root,
        "devices/ap/card03/03.0005",
        "DEVTYPE=ap_queue\nMODE=cca\n",
        Some("bus/ap"),
    );
    dev(root, "devices/css0", "", None);
    dev(root, "devices/css0/chp0.00", "", None);
    dev(
        root,
        "devices/css0/0.0.0000",
        "DRIVER=io_subchannel\nST=0\nMODALIAS=css:t0\n",
        Some("bus/css"),
    );
    dev(
        root,
        "devices/css0/0.0.0000/0.0.0100",
        "CU_TYPE=3990\nCU_MODEL=E9\nDEV_TYPE=3390\nDEV_MODEL=0C\n\
         MODALIAS=ccw:t3990mE9dt3390dm0C\n",
        Some("bus/ccw"),
    );
    dev(
        root,
        "devices/system/cpu/cpu0",
        "DRIVER=processor\nMODALIAS=cpu:type:s390:feature:,0001\n\n",
        Some("bus/cpu"),
    );
    dev(
        root,
        "devices/virtual/mem/null",
        "MAJOR=1\nMINOR=3\nDEVNAME=null\nDEVMODE=0666\n",
        Some("class/mem"),
    );
    dev(root, "devices/hidden0", "", Some("bus/hid"));
    dev(
        root,
        "devices/hidden0/input/input0",
        "PRODUCT=0/0/0/0\n",
        Some("class/input"),
    );
    // /devices/hidden0/input is a plain directory, not a device.
    fs::remove_file(root.join("devices/hidden0/input/uevent")).ok();
    for (bus, d, target) in [
        ("ap", "card03", "devices/ap/card03"),
        ("ap", "03.0005", "devices/ap/card03/03.0005"),
        ("css", "0.0.0000", "devices/css0/0.0.0000"),
        ("ccw", "0.0.0100", "devices/css0/0.0.0000/0.0.0100"),
        ("cpu", "cpu0", "devices/system/cpu/cpu0"),
    ] {
        link(root, &format!("bus/{bus}/devices/{d}"), target);
    }
    fs::create_dir_all(root.join("bus/hid/devices")).unwrap();
    fs::create_dir_all(root.join("bus/css/drivers/io_subchannel")).unwrap();
    fs::create_dir_all(root.join("bus/cpu/drivers/processor")).unwrap();
    link(root, "class/mem/null", "devices/virtual/mem/null");
    link(root, "class/input/input0", "devices/hidden0/input/input0");
    fs::create_dir_all(root.join("module/zcrypt")).unwrap();
    fs::create_dir_all(root.join("module/dasd_mod")).unwrap();
}

const ALL_ORDER: [&str; 17] = [
    "/bus/ap",
    "/bus/ccw",
    "/bus/cpu",
    "/bus/cpu/drivers/processor",
    "/bus/css",
    "/bus/css/drivers/io_subchannel",
    "/bus/hid",
    "/devices/ap/card03",
    "/devices/ap/card03/03.0005",
    "/devices/css0/0.0.0000",
    "/devices/css0/0.0.0000/0.0.0100",
    "/devices/hidden0",
    "/devices/hidden0/input/input0",
    "/devices/system/cpu/cpu0",
    "/devices/virtual/mem/null",
    "/module/dasd_mod",
    "/module/zcrypt",
];

fn synth(root: &Path, t: TriggerType, prio: &[String]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let opts =
        SynthOptions { uuid: UuidMode::Zero, seed: 1, first_seqnum: 100 };
    let rep = sysfs::synthesize(root, t, prio, opts, |d| {
        v.push(d.to_vec());
        Ok(())
    })
    .unwrap();
    assert!(rep.skipped.is_empty(), "{:?}", rep.skipped);
    assert_eq!(rep.events, v.len() as u64);
    v
}

fn devpath(d: &[u8]) -> String {
    String::from_utf8_lossy(kernel::parse(d).unwrap().devpath()).into_owned()
}

fn entries(d: &[u8]) -> Vec<String> {
    kernel::parse(d)
        .unwrap()
        .entries()
        .map(|(k, v)| {
            format!(
                "{}={}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            )
        })
        .collect()
}

#[test]
fn sysfs_walk_in_udevadm_order() {
    let dir = tempfile::tempdir().unwrap();
    fake_sysfs(dir.path());
    let all = synth(dir.path(), TriggerType::All, &[]);
    let paths: Vec<String> = all.iter().map(|d| devpath(d)).collect();
    assert_eq!(paths, ALL_ORDER);
    let devices = synth(dir.path(), TriggerType::Devices, &[]);
    let paths: Vec<String> = devices.iter().map(|d| devpath(d)).collect();
    let expect: Vec<&str> = ALL_ORDER
        .iter()
        .copied()
        .filter(|p| p.starts_with("/devices/"))
        .collect();
    assert_eq!(paths, expect);
}

#[test]
fn sysfs_events_carry_the_kernel_keys() {
    let dir = tempfile::tempdir().unwrap();
    fake_sysfs(dir.path());
    let all = synth(dir.path(), TriggerType::All, &[]);
    assert_eq!(
        entries(&all[7]),
        [
            "ACTION=add",
            "DEVPATH=/devices/ap/card03",
            "SUBSYSTEM=ap",
            "SYNTH_UUID=0",
            "DEVTYPE=ap_card",
            "DEV_TYPE=000D",
            "MODALIAS=ap:t0D",
            "MODE=cca",
            "SEQNUM=107",
        ]
    );
    assert_eq!(
        entries(&all[0]),
        [
            "ACTION=add",
            "DEVPATH=/bus/ap",
            "SUBSYSTEM=bus",
            "SYNTH_UUID=0",
            "SEQNUM=100"
        ]
    );
    assert_eq!(entries(&all[3])[2], "SUBSYSTEM=drivers");
    assert_eq!(entries(&all[16])[2], "SUBSYSTEM=module");
    let null = &all[14];
    assert_eq!(
        entries(null)[2..8],
        [
            "SUBSYSTEM=mem",
            "SYNTH_UUID=0",
            "MAJOR=1",
            "MINOR=3",
            "DEVNAME=null",
            "DEVMODE=0666"
        ]
    );
    // uevent_show's blank line after a value that ends in a newline.
    let cpu = kernel::parse(&all[13]).unwrap();
    assert_eq!(cpu.modalias(), Some(&b"cpu:type:s390:feature:,0001\n"[..]));
    // The same card from the generator: identical but for SEQNUM.
    let mut cfg = coldplug::gen::s390::Config::new(
        coldplug::gen::s390::Preset::Small,
        coldplug::gen::era::Era::V6_12,
    );
    cfg.sizes.cards = 4;
    cfg.card_type = coldplug::gen::s390::CardType::Fixed(13);
    cfg.mode = "cca".parse().unwrap();
    let mut card = None;
    coldplug::gen::emit::generate(&cfg, &mut |_: u64, d: &[u8]| {
        if d.starts_with(b"add@/devices/ap/card03\0") {
            card = Some(d.to_vec());
        }
        Ok(())
    })
    .unwrap();
    let gen = entries(&card.unwrap());
    let rec = entries(&all[7]);
    assert_eq!(gen[..gen.len() - 1], rec[..rec.len() - 1]);
}

#[test]
fn sysfs_prioritized_subsystems_come_first() {
    let dir = tempfile::tempdir().unwrap();
    fake_sysfs(dir.path());
    let prio = vec!["mem".to_string(), "input".to_string()];
    let all = synth(dir.path(), TriggerType::Devices, &prio);
    let paths: Vec<String> = all.iter().map(|d| devpath(d)).collect();
    assert_eq!(
        paths[..3],
        [
            "/devices/virtual/mem/null",
            "/devices/hidden0",
            "/devices/hidden0/input/input0"
        ]
    );
    assert_eq!(paths[3], "/devices/ap/card03");
}

#[test]
fn sysfs_cli_writes_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sys");
    fake_sysfs(&root);
    let out = dir.path().join("cold.trace");
    Command::cargo_bin("coldplug")
        .unwrap()
        .args(["record", "--sysfs"])
        .arg(&root)
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let t = fs::read(&out).unwrap();
    let h = Header::read(&t).unwrap();
    assert_eq!(h.origin, Origin::Sysfs);
    let evs: Vec<_> =
        Events::new(&t, Format::Coldplug).map(|e| e.unwrap()).collect();
    assert_eq!(evs.len(), ALL_ORDER.len());
    assert_eq!(evs[0].seqnum(), Some(1));
    Command::cargo_bin("coldplug")
        .unwrap()
        .args(["record", "--sysfs"])
        .arg(dir.path().join("nonexistent"))
        .arg("-o")
        .arg(&out)
        .assert()
        .code(2);
}

/// udevd's datagrams (the real capture) become kernel-layout records
/// with the same properties.
#[test]
fn libudev_datagrams_convert() {
    let p = format!(
        "{}/traces/captures/udev-trigger.nl",
        env!("CARGO_MANIFEST_DIR")
    );
    let buf = fs::read(p).unwrap();
    let mut n = 0;
    let mut pos = 0;
    let mut out = Vec::new();
    while pos + 4 <= buf.len() {
        let len =
            u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap()) as usize;
        let d = &buf[pos + 4..pos + 4 + len];
        pos += 4 + len;
        netlink::udev_to_kernel(d, &mut out).unwrap();
        let a = capture::parse_datagram(d).unwrap();
        let b = kernel::parse(&out).unwrap();
        assert_eq!(
            a.entries().collect::<Vec<_>>(),
            b.entries().collect::<Vec<_>>()
        );
        assert_eq!(a.seqnum(), b.seqnum());
        n += 1;
    }
    assert_eq!(n, 25);
}

const NULL_UEVENT: &str = "/sys/devices/virtual/mem/null/uevent";

/// Open a kernel-group socket, or say why this environment cannot.
fn live_socket() -> Option<Socket> {
    if !Path::new(NULL_UEVENT).exists() {
        eprintln!("skipped: {NULL_UEVENT} does not exist");
        return None;
    }
    match Socket::open(Group::Kernel, 1 << 20) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("skipped: cannot open a uevent socket: {e}");
            None
        }
    }
}

fn unique_uuid() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        std::process::id(),
        t & 0xffff_ffff_ffff
    )
}

/// Write "add UUID" to a harmless uevent file; false (with the reason
/// printed) when not permitted.
fn trigger_null(uuid: &str) -> bool {
    match fs::write(NULL_UEVENT, format!("add {uuid}")) {
        Ok(()) => true,
        Err(e) => {
            // SAFETY: geteuid has no preconditions.
            let root = unsafe { libc::geteuid() } == 0;
            assert!(
                !root
                    || e.kind() != std::io::ErrorKind::PermissionDenied
                    || Path::new("/.dockerenv").exists(),
                "root could not write {NULL_UEVENT}: {e}"
            );
            eprintln!("skipped: cannot write {NULL_UEVENT}: {e}");
            false
        }
    }
}

#[test]
fn live_netlink_receives_a_synthetic_event() {
    let Some(sock) = live_socket() else { return };
    let uuid = unique_uuid();
    if !trigger_null(&uuid) {
        return;
    }
    let mut buf = vec![0u8; 16384];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match sock.recv(&mut buf, Duration::from_millis(200)).unwrap() {
            Received::Datagram { len, sender, truncated } => {
                let ev = kernel::parse(&buf[..len]).unwrap();
                if ev.get(b"SYNTH_UUID") != Some(uuid.as_bytes()) {
                    continue;
                }
                assert_eq!(sender, 0);
                assert!(!truncated);
                assert_eq!(ev.devpath(), b"/devices/virtual/mem/null");
                assert_eq!(ev.subsystem(), Some(&b"mem"[..]));
                assert_eq!(ev.get(b"MAJOR"), Some(&b"1"[..]));
                // The walker's synthetic event for the same device is
                // the kernel's, key for key, but for SYNTH_UUID and
                // SEQNUM.
                let entry = sysfs::Entry {
                    devpath: "/devices/virtual/mem/null".into(),
                    subsystem: "mem".into(),
                    kind: sysfs::EntryKind::Device,
                };
                let text = fs::read(NULL_UEVENT).unwrap();
                let seq = ev.seqnum().unwrap();
                let mut ours = Vec::new();
                sysfs::synth_datagram(&entry, &text, &uuid, seq, &mut ours)
                    .unwrap();
                assert_eq!(ours, &buf[..len]);
                return;
            }
            Received::Timeout | Received::Overrun => {}
        }
    }
    panic!("no event with SYNTH_UUID={uuid} within 5 s");
}

#[test]
fn live_record_writes_monotonic_records() {
    let Some(sock) = live_socket() else { return };
    let uuid = unique_uuid();
    let stop = AtomicBool::new(false);
    let before = netlink::monotonic_ns();
    let trace = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut w = Writer::new(
                Vec::new(),
                Clock::Monotonic,
                Origin::Netlink,
                "t",
            )
            .unwrap();
            let limits = netlink::Limits {
                duration: Some(Duration::from_secs(2)),
                count: None,
            };
            let rep = netlink::record(&sock, &mut w, limits, &stop).unwrap();
            assert_eq!(rep.truncated, 0);
            w.finish().unwrap()
        });
        std::thread::sleep(Duration::from_millis(200));
        let ok = trigger_null(&uuid);
        (h.join().unwrap(), ok)
    });
    let (trace, ok) = trace;
    if !ok {
        return;
    }
    let after = netlink::monotonic_ns();
    let h = Header::read(&trace).unwrap();
    assert_eq!(h.clock, Clock::Monotonic);
    let ev = Records::new(&trace, &h)
        .map(|r| r.unwrap())
        .find(|e| e.get(b"SYNTH_UUID") == Some(uuid.as_bytes()))
        .expect("our event was recorded");
    assert_eq!(ev.source(), Source::Kernel);
    let ts = ev.timestamp_ns().unwrap();
    assert!(before < ts && ts < after, "{before} {ts} {after}");
}

#[test]
fn live_cli_records_with_a_count() {
    if live_socket().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.trace");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coldplug"))
        .args(["record", "--duration", "3", "-o"])
        .arg(&out)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let uuid = unique_uuid();
    let ok = trigger_null(&uuid);
    let status = child.wait().unwrap();
    assert!(status.success());
    if !ok {
        return;
    }
    let t = fs::read(&out).unwrap();
    assert_eq!(Header::read(&t).unwrap().origin, Origin::Netlink);
    let found = Events::new(&t, Format::Coldplug)
        .map(|e| e.unwrap())
        .any(|e| e.get(b"SYNTH_UUID") == Some(uuid.as_bytes()));
    assert!(found);
}
