//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use coldplug::trace::file::{Clock, Origin, Writer};
use coldplug::trace::{Events, Format};

/// The kernels bundled in traces/kernels.
pub const KERNELS: [&str; 3] = [
    "debian-6.1.0-50-amd64",
    "debian-6.1.0-50-s390x",
    "debian-6.12.107-s390x",
];

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// traces/kernels/NAME.
pub fn kernel_dir(name: &str) -> PathBuf {
    root().join("traces/kernels").join(name)
}

/// A small seeded PRNG (xorshift64*), so failures reproduce.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (seed 0 is mapped to a fixed non-zero value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability p/100.
    pub fn percent(&mut self, p: u32) -> bool {
        self.below(100) < p as usize
    }

    /// One element of a slice.
    pub fn pick<'a, T>(&mut self, s: &'a [T]) -> &'a T {
        &s[self.below(s.len())]
    }
}

/// A count from the environment, or a default.
pub fn env_count(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The captures with their formats and event counts.
pub const CAPTURES: [(&str, Format, usize); 4] = [
    ("kernel-trigger.nl", Format::Datagrams, 446),
    ("udev-trigger.nl", Format::Datagrams, 25),
    ("kernel-trigger.monitor.txt", Format::Monitor, 446),
    ("udev-trigger.monitor.txt", Format::Monitor, 390),
];

pub fn path(name: &str) -> String {
    format!("{}/traces/captures/{name}", env!("CARGO_MANIFEST_DIR"))
}

pub fn capture(name: &str) -> Vec<u8> {
    let p = path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// A sysfs snapshot made from the kernel capture: for every event, its
/// devpath, subsystem and the keys a `uevent` file shows (newlines in
/// values dropped, as the file has one entry per line).
pub fn sysfs_snapshot() -> Vec<u8> {
    let nl = capture("kernel-trigger.nl");
    let mut out = Vec::new();
    for ev in Events::new(&nl, Format::Datagrams) {
        let ev = ev.unwrap();
        out.extend_from_slice(b"P: ");
        out.extend_from_slice(ev.devpath());
        out.extend_from_slice(b"\nS: ");
        out.extend_from_slice(ev.subsystem().unwrap());
        out.push(b'\n');
        for (k, v) in ev.entries() {
            if matches!(
                k,
                b"ACTION"
                    | b"DEVPATH"
                    | b"SUBSYSTEM"
                    | b"SEQNUM"
                    | b"SYNTH_UUID"
            ) {
                continue;
            }
            out.extend_from_slice(k);
            out.push(b'=');
            out.extend_from_slice(v.strip_suffix(b"\n").unwrap_or(v));
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// `buf` read as `format` and written as a coldplug trace, as
/// `coldplug convert` does (fallback SEQNUM: the event's index + 1).
pub fn to_trace(buf: &[u8], format: Format) -> Vec<u8> {
    let clock = match format {
        Format::Monitor => Clock::Monotonic,
        Format::Coldplug => {
            coldplug::trace::file::Header::read(buf).unwrap().clock
        }
        Format::Datagrams | Format::SysfsSnapshot => Clock::None,
    };
    let mut w =
        Writer::new(Vec::new(), clock, Origin::Unknown, "test").unwrap();
    for (i, ev) in Events::new(buf, format).enumerate() {
        let ev = ev.unwrap();
        w.write_event(ev.timestamp_ns().unwrap_or(0), &ev, i as u64 + 1)
            .unwrap();
    }
    w.finish().unwrap()
}
