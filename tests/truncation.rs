//! Every record of every fixture cut at every offset gives an error or
//! a partial result, never a panic (as image-rs cuts its test images in
//! tests/truncate_images.rs). Whole-file prefixes too: at every offset
//! for the small files, at a stride for the large ones. What comes
//! before the cut must read exactly as in the whole file.

mod common;

use coldplug::trace::{netlink, Events, Format};
use coldplug::uevent::{self, monitor, ErrorKind, ParseError, Uevent};

type Item<'a> = Result<Uevent<'a>, ParseError>;

fn same(a: &Item<'_>, b: &Item<'_>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => {
            a.source() == b.source()
                && a.action() == b.action()
                && a.devpath() == b.devpath()
                && a.subsystem() == b.subsystem()
                && a.seqnum() == b.seqnum()
                && a.timestamp_ns() == b.timestamp_ns()
                && a.entries().eq(b.entries())
        }
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// The byte ranges of the records of a length-prefixed capture.
fn datagram_records(buf: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let n = u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        out.push((at + 4, at + 4 + n as usize));
        at += 4 + n as usize;
    }
    out
}

/// The byte ranges of the records of a coldplug trace (with header and
/// padding).
fn trace_records(buf: &[u8]) -> (usize, Vec<(usize, usize)>) {
    let h = coldplug::trace::file::Header::read(buf).unwrap();
    let mut out = Vec::new();
    let mut at = h.header_len;
    while at < buf.len() {
        let n = u32::from_le_bytes(buf[at + 8..at + 12].try_into().unwrap());
        let end = at + 16 + (n as usize).div_ceil(8) * 8;
        out.push((at, end));
        at = end;
    }
    (h.header_len, out)
}

/// The byte ranges of the blocks of a monitor text: from each header
/// line to the blank line after it.
fn monitor_blocks(text: &[u8]) -> Vec<(usize, usize)> {
    let starts: Vec<usize> = text
        .split_inclusive(|&b| b == b'\n')
        .scan(0, |at, l| {
            let s = *at;
            *at += l.len();
            Some((s, l))
        })
        .filter(|(_, l)| {
            l.starts_with(b"KERNEL[") || l.starts_with(b"UDEV  [")
        })
        .map(|(s, _)| s)
        .collect();
    starts
        .iter()
        .map(|&s| {
            let end = memchr::memmem::find(&text[s..], b"\n\n")
                .map_or(text.len(), |i| s + i + 2);
            (s, end)
        })
        .collect()
}

/// Read a prefix of `buf` and compare with the whole: everything but the
/// last item is identical; the last is identical or, for binary
/// formats, a partial error.
fn check_prefix(buf: &[u8], format: Format, full: &[Item<'_>], cut: usize) {
    let part: Vec<_> = Events::new(&buf[..cut], format).collect();
    assert!(part.len() <= full.len() + 1, "cut {cut}");
    let Some((last, before)) = part.split_last() else {
        return;
    };
    for (i, (p, f)) in before.iter().zip(full).enumerate() {
        assert!(same(p, f), "cut {cut}, item {i}: {p:?} vs {f:?}");
    }
    let whole = full.get(before.len()).is_some_and(|f| same(last, f));
    match last {
        Err(e) => {
            assert!(e.offset() <= cut as u64, "cut {cut}: {e}");
            if !format.is_text() {
                assert!(whole || e.is_partial(), "cut {cut}: {e}");
            } else {
                assert!(e.line().is_some(), "cut {cut}: {e}");
            }
        }
        Ok(_) => assert!(whole || format.is_text(), "cut {cut}"),
    }
}

fn prefixes(buf: &[u8], format: Format, step: usize) {
    let full: Vec<_> = Events::new(buf, format).collect();
    for cut in (0..buf.len()).step_by(step) {
        check_prefix(buf, format, &full, cut);
    }
}

#[test]
fn every_datagram_cut_at_every_offset_is_an_error() {
    for name in ["kernel-trigger.nl", "udev-trigger.nl"] {
        let buf = common::capture(name);
        for (s, e) in datagram_records(&buf) {
            let rec = &buf[s..e];
            assert!(netlink::parse_datagram(rec).is_ok());
            for k in 0..rec.len() {
                let r = netlink::parse_datagram(&rec[..k]);
                let err = r.expect_err("a cut datagram cannot be whole");
                assert!(err.offset() <= k as u64);
                // A kernel datagram cut inside an entry needs more bytes;
                // cut between entries, it lacks a field.
                if !rec.starts_with(uevent::libudev::PREFIX) {
                    assert!(
                        err.is_partial()
                            || matches!(
                                err.kind(),
                                ErrorKind::MissingField { .. }
                            ),
                        "{name} @{s} cut {k}: {err}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_monitor_block_cut_at_every_offset() {
    for name in ["kernel-trigger.monitor.txt", "udev-trigger.monitor.txt"] {
        let text = common::capture(name);
        let blocks = monitor_blocks(&text);
        assert!(blocks.len() >= 390);
        for (s, e) in blocks {
            let block = &text[s..e];
            assert_eq!(monitor::Blocks::new(block).count(), 1);
            for k in 0..block.len() {
                for r in monitor::Blocks::new(&block[..k]) {
                    if let Err(e) = r {
                        assert!(e.offset() <= k as u64);
                        assert!(e.line().is_some());
                    }
                }
                // In place, with the rest of the file after the cut.
                let cut = [&block[..k], &text[e..(e + 400).min(text.len())]]
                    .concat();
                for r in monitor::Blocks::new(&cut) {
                    let _ = r;
                }
            }
        }
    }
}

#[test]
fn every_trace_record_cut_at_every_offset() {
    for (name, format, _) in common::CAPTURES {
        let t = common::to_trace(&common::capture(name), format);
        let (hlen, recs) = trace_records(&t);
        for (s, e) in recs {
            for k in 0..e - s {
                let buf = [&t[..hlen], &t[s..s + k]].concat();
                let items: Vec<_> =
                    Events::new(&buf, Format::Coldplug).collect();
                match (k, &items[..]) {
                    (0, []) => {}
                    (_, [Err(e)]) => {
                        assert!(e.is_partial(), "{name} cut {k}: {e}")
                    }
                    (_, [Ok(_)]) => {
                        // Only the zero padding was cut.
                        let n = u32::from_le_bytes(
                            t[s + 8..s + 12].try_into().unwrap(),
                        );
                        assert!(k >= 16 + n as usize, "{name} cut {k}");
                    }
                    other => panic!("{name} cut {k}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn small_files_cut_at_every_offset() {
    let nl = common::capture("udev-trigger.nl");
    prefixes(&nl, Format::Datagrams, 1);
    prefixes(&common::to_trace(&nl, Format::Datagrams), Format::Coldplug, 1);
    let snap = common::sysfs_snapshot();
    let small = &snap[..snap.len().min(3000)];
    prefixes(small, Format::SysfsSnapshot, 1);
}

#[test]
fn large_files_cut_at_a_stride() {
    for (name, format, _) in common::CAPTURES {
        let buf = common::capture(name);
        prefixes(&buf, format, 241);
        prefixes(&common::to_trace(&buf, format), Format::Coldplug, 251);
    }
    prefixes(&common::sysfs_snapshot(), Format::SysfsSnapshot, 239);
}
