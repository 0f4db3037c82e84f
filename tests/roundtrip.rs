//! Every format imported into coldplug's trace format and read back
//! gives identical events: `trace::file::Writer::write_event`, then
//! `trace::Events`.

mod common;

use coldplug::trace::{Events, Format};
use coldplug::uevent::Uevent;

const SYNTHESIZED: [&[u8]; 4] =
    [b"ACTION", b"DEVPATH", b"SUBSYSTEM", b"SEQNUM"];

/// Compare an event with its read-back. Keys the original lacks (sysfs
/// files have no ACTION, DEVPATH, SUBSYSTEM, SEQNUM) were synthesized;
/// the original entries are the remaining ones, in order.
fn assert_same(
    orig: &Uevent<'_>,
    back: &Uevent<'_>,
    fallback: u64,
    what: &str,
) {
    assert_eq!(back.source(), orig.source(), "{what}");
    assert_eq!(back.action(), orig.action(), "{what}");
    assert_eq!(back.devpath(), orig.devpath(), "{what}");
    assert_eq!(back.subsystem(), orig.subsystem(), "{what}");
    assert_eq!(back.devtype(), orig.devtype(), "{what}");
    assert_eq!(back.driver(), orig.driver(), "{what}");
    assert_eq!(back.modalias(), orig.modalias(), "{what}");
    assert_eq!(
        back.seqnum(),
        Some(orig.seqnum().unwrap_or(fallback)),
        "{what}"
    );
    assert_eq!(back.timestamp_ns(), orig.timestamp_ns(), "{what}");
    let has = |k: &[u8]| orig.entries().any(|(key, _)| key == k);
    let kept: Vec<_> = back
        .entries()
        .filter(|(k, _)| !SYNTHESIZED.contains(k) || has(k))
        .collect();
    assert_eq!(kept, orig.entries().collect::<Vec<_>>(), "{what}");
    // The synthesized keys carry the event's own fields.
    if !has(b"ACTION") {
        assert_eq!(
            back.get(b"ACTION"),
            Some(orig.action().as_bytes()),
            "{what}"
        );
        assert_eq!(back.get(b"DEVPATH"), Some(orig.devpath()), "{what}");
    }
}

fn round_trip(buf: &[u8], format: Format, count: usize, what: &str) {
    let trace = common::to_trace(buf, format);
    let orig: Vec<_> = Events::new(buf, format).map(Result::unwrap).collect();
    let back: Vec<_> =
        Events::new(&trace, Format::Coldplug).map(Result::unwrap).collect();
    assert_eq!(orig.len(), count, "{what}");
    assert_eq!(back.len(), count, "{what}");
    for (i, (o, b)) in orig.iter().zip(&back).enumerate() {
        assert_same(o, b, i as u64 + 1, &format!("{what} event {i}"));
    }
    // A trace converted again is the same file, byte for byte.
    assert_eq!(common::to_trace(&trace, Format::Coldplug), trace, "{what}");
}

#[test]
fn captures_round_trip() {
    for (name, format, count) in common::CAPTURES {
        round_trip(&common::capture(name), format, count, name);
    }
}

#[test]
fn sysfs_snapshot_round_trips() {
    let snap = common::sysfs_snapshot();
    round_trip(&snap, Format::SysfsSnapshot, 446, "sysfs snapshot");
    // Without S: lines the subsystem comes back empty, never missing.
    let bare =
        b"P: /devices/virtual/misc/cpu_dma_latency\nMAJOR=10\nMINOR=62\n";
    let t = common::to_trace(bare, Format::SysfsSnapshot);
    let ev = Events::new(&t, Format::Coldplug).next().unwrap().unwrap();
    assert_eq!(ev.subsystem(), Some(&b""[..]));
    assert_eq!(ev.get(b"MINOR"), Some(&b"62"[..]));
}

#[test]
fn header_only_monitor_blocks_round_trip() {
    let t = b"KERNEL[1.000001] add      /a (x)\nUDEV  [1.000002] n/a      /b (y)\n";
    round_trip(t, Format::Monitor, 2, "header-only monitor");
}
