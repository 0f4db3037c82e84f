//! Entry points for the fuzz targets in `fuzz/`, kept in the library so
//! that `cargo test` can replay the saved corpus and regressions
//! without libFuzzer. Each one parses hostile bytes and checks the
//! invariants that must hold for any input.

use crate::trace::{self, Events, Format};
use crate::uevent::{self, Uevent};

fn check(ev: &Uevent<'_>) {
    // Every view must be readable and consistent with the entries.
    let n = ev.entries().count();
    assert!(n <= ev.env().len());
    if let Some(m) = ev.modalias() {
        assert!(ev.entries().any(|(k, v)| k == b"MODALIAS" && v == m));
    }
}

/// Kernel datagram.
pub fn kernel(data: &[u8]) {
    if let Ok(ev) = uevent::kernel::parse(data) {
        check(&ev);
        // Re-encoding a parsed datagram gives the same bytes back.
        let mut out = Vec::new();
        uevent::kernel::encode(&ev, &mut out);
        assert_eq!(out, data);
    }
}

/// libudev datagram.
pub fn libudev(data: &[u8]) {
    if let Ok(ev) = uevent::libudev::parse(data) {
        check(&ev);
    }
}

/// Monitor text, the whole iterator.
pub fn monitor(data: &[u8]) {
    for ev in uevent::monitor::Blocks::new(data).take(100_000) {
        match ev {
            Ok(ev) => check(&ev),
            Err(e) => assert!(e.offset() <= data.len() as u64),
        }
    }
}

/// sysfs snapshot text.
pub fn sysfs(data: &[u8]) {
    for ev in uevent::sysfs::Snapshot::new(data).take(100_000) {
        match ev {
            Ok(ev) => check(&ev),
            Err(e) => assert!(e.offset() <= data.len() as u64),
        }
    }
}

/// Any trace file, detected as the CLI does; also forces each format.
pub fn trace_file(data: &[u8]) {
    let formats = [
        Format::Coldplug,
        Format::Datagrams,
        Format::Monitor,
        Format::SysfsSnapshot,
    ];
    let _ = trace::detect(data);
    for f in formats {
        for ev in Events::new(data, f).take(100_000) {
            match ev {
                Ok(ev) => check(&ev),
                Err(e) => assert!(e.offset() <= data.len() as u64),
            }
        }
    }
}
