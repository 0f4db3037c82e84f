//! The real captures in traces/captures/ (see its README): event
//! counts, and the kernel datagrams against systemd's rendering of the
//! same burst in `udevadm monitor` text.

use coldplug::trace::{self, Events, Format};
use coldplug::uevent::{Action, Separator, Source, Uevent};

fn capture(name: &str) -> Vec<u8> {
    let p = format!("{}/traces/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn parse_all(buf: &[u8], format: Format) -> Vec<Uevent<'_>> {
    assert_eq!(trace::detect(buf), Some(format));
    Events::new(buf, format)
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("event {i}: {e}")))
        .collect()
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn entries(ev: &Uevent<'_>) -> Entries {
    ev.entries().map(|(k, v)| (k.to_vec(), v.to_vec())).collect()
}

/// The three rendering rules of traces/captures/README.md, applied to a
/// kernel datagram's entries: DEVNAME gains `/dev/`, MAJOR and MINOR
/// move after SEQNUM, a value's trailing newline is dropped.
fn as_monitor_prints(ev: &Uevent<'_>) -> Entries {
    let mut out = Vec::new();
    let mut moved = Vec::new();
    for (k, v) in ev.entries() {
        let mut v = v.strip_suffix(b"\n").unwrap_or(v).to_vec();
        if k == b"DEVNAME" && !v.starts_with(b"/") {
            v.splice(0..0, b"/dev/".iter().copied());
        }
        if k == b"MAJOR" || k == b"MINOR" {
            moved.push((k.to_vec(), v));
        } else {
            out.push((k.to_vec(), v));
        }
    }
    let seq = out.iter().position(|(k, _)| k == b"SEQNUM").unwrap();
    out.splice(seq + 1..seq + 1, moved);
    out
}

#[test]
fn kernel_datagrams_give_446_events() {
    let buf = capture("kernel-trigger.nl");
    let evs = parse_all(&buf, Format::Datagrams);
    assert_eq!(evs.len(), 446);
    assert!(evs.iter().all(|e| e.source() == Source::Kernel));
    assert!(evs.iter().all(|e| e.separator() == Separator::Nul));
    // SEQNUM 820..=1265 without a gap: nothing lost, nothing doubled.
    let seqs: Vec<u64> = evs.iter().map(|e| e.seqnum().unwrap()).collect();
    assert_eq!(seqs, (820..=1265).collect::<Vec<_>>());
    assert_eq!(evs.iter().filter(|e| e.action() == Action::Add).count(), 445);
    assert_eq!(evs.iter().filter(|e| e.modalias().is_some()).count(), 28);
}

#[test]
fn cpu_modalias_keeps_its_newline() {
    let buf = capture("kernel-trigger.nl");
    let evs = parse_all(&buf, Format::Datagrams);
    let cpus: Vec<_> =
        evs.iter().filter(|e| e.subsystem() == Some(&b"cpu"[..])).collect();
    assert_eq!(cpus.len(), 2);
    for ev in cpus {
        let m = ev.modalias().unwrap();
        assert!(m.starts_with(b"cpu:type:x86,"));
        assert_eq!(m.last(), Some(&b'\n'));
        assert_eq!(ev.get(b"MODALIAS"), Some(m));
    }
}

#[test]
fn monitor_text_equals_datagrams_after_the_three_rules() {
    let nl = capture("kernel-trigger.nl");
    let txt = capture("kernel-trigger.monitor.txt");
    let dgs = parse_all(&nl, Format::Datagrams);
    let mon = parse_all(&txt, Format::Monitor);
    assert_eq!(mon.len(), 446);
    let mut equal_without_rules = 0;
    for (i, (d, m)) in dgs.iter().zip(&mon).enumerate() {
        assert_eq!(m.source(), Source::Kernel, "event {i}");
        assert_eq!(d.action(), m.action(), "event {i}");
        assert_eq!(d.devpath(), m.devpath(), "event {i}");
        assert_eq!(d.seqnum(), m.seqnum(), "event {i}");
        assert_eq!(d.subsystem(), m.subsystem(), "event {i}");
        assert!(m.timestamp_ns().is_some(), "event {i}");
        assert_eq!(as_monitor_prints(d), entries(m), "event {i}");
        equal_without_rules += (entries(d) == entries(m)) as u32;
    }
    // The README's count: the rules matter for the other 106.
    assert_eq!(equal_without_rules, 340);
}

#[test]
fn libudev_capture_gives_25_events() {
    let buf = capture("udev-trigger.nl");
    let evs = parse_all(&buf, Format::Datagrams);
    assert_eq!(evs.len(), 25);
    assert!(evs.iter().all(|e| e.source() == Source::Udev));
    // Udev events carry the kernel's keys plus udev's own.
    assert!(evs.iter().all(|e| e.get(b"USEC_INITIALIZED").is_some()));
}

#[test]
fn udev_monitor_text_parses_completely() {
    let buf = capture("udev-trigger.monitor.txt");
    let evs = parse_all(&buf, Format::Monitor);
    assert_eq!(evs.len(), 390);
    assert!(evs.iter().all(|e| e.source() == Source::Udev));
    // Every `UDEV  [` header gave one event.
    let headers = buf
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"UDEV  ["))
        .count();
    assert_eq!(headers, 390);
    // The 25 libudev datagrams are among them, with the same entries.
    let nl = capture("udev-trigger.nl");
    for d in parse_all(&nl, Format::Datagrams) {
        let m = evs.iter().find(|m| m.seqnum() == d.seqnum()).unwrap();
        assert_eq!(d.devpath(), m.devpath());
        assert_eq!(d.subsystem(), m.subsystem());
        assert_eq!(
            d.modalias().map(|v| v.strip_suffix(b"\n").unwrap_or(v)),
            m.modalias()
        );
    }
}
