//! Parse throughput per format, with the naive reference parser of
//! tests/reference/mod.rs as the baseline in the same run (style.md
//! practice 15). Inputs are built before the timed closures.
//!
//! Goals on the 2-core build machine: 1.5 GB/s for kernel datagrams,
//! 500 MB/s for monitor text.
//!
//!     cargo bench --bench uevent
//!     cargo bench --bench uevent -- monitor     # one group

use std::hint::black_box;
use std::time::Duration;

use coldplug::trace::{Events, Format};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/reference/mod.rs"]
mod reference;

/// Parse every event, touch the fields a consumer reads; return a sum
/// so nothing is optimized away.
fn parse_all(buf: &[u8], format: Format) -> u64 {
    let mut sum = 0u64;
    for r in Events::new(buf, format) {
        match r {
            Ok(ev) => {
                sum += ev.seqnum().unwrap_or(1);
                sum += ev.modalias().map_or(0, <[u8]>::len) as u64;
            }
            Err(_) => sum += 1_000_000,
        }
    }
    sum
}

fn naive(buf: &[u8], format: Format) -> u64 {
    let mut sum = 0u64;
    for r in reference::events(buf, format) {
        match r {
            Ok(ev) => {
                sum += ev.seqnum.unwrap_or(1);
                sum += ev.modalias.as_ref().map_or(0, Vec::len) as u64;
            }
            Err(_) => sum += 1_000_000,
        }
    }
    sum
}

fn group(c: &mut Criterion, name: &str, buf: &[u8], format: Format) {
    let expected = parse_all(buf, format);
    assert_eq!(expected, naive(buf, format), "{name}: parsers disagree");
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Bytes(buf.len() as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("zero-copy", |b| {
        b.iter(|| parse_all(black_box(buf), format))
    });
    g.bench_function("naive", |b| b.iter(|| naive(black_box(buf), format)));
    g.finish();
}

fn benches(c: &mut Criterion) {
    let nl = common::capture("kernel-trigger.nl");
    group(c, "kernel-datagrams", &nl, Format::Datagrams);
    let trace = common::to_trace(&nl, Format::Datagrams);
    group(c, "kernel-trace", &trace, Format::Coldplug);
    let km = common::capture("kernel-trigger.monitor.txt");
    group(c, "monitor-kernel", &km, Format::Monitor);
    let um = common::capture("udev-trigger.monitor.txt");
    group(c, "monitor-udev", &um, Format::Monitor);
    let ud = common::capture("udev-trigger.nl");
    group(c, "libudev-datagrams", &ud, Format::Datagrams);
    let snap = common::sysfs_snapshot();
    group(c, "sysfs-snapshot", &snap, Format::SysfsSnapshot);
}

criterion_group!(uevent, benches);
criterion_main!(uevent);
