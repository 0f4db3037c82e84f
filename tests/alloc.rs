//! Parsing allocates nothing per event: a counting global allocator
//! watches every capture format, a sysfs snapshot and our trace format
//! while their events are iterated, read field by field and split into
//! entries. Errors do not allocate either.
//!
//! The count is per thread, so tests running in parallel do not disturb
//! each other.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use coldplug::trace::{Events, Format};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, n) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

/// Iterate every event of `buf`, touching every view; return (events,
/// errors, allocations made meanwhile).
fn walk(buf: &[u8], format: Format) -> (usize, usize, u64) {
    let before = allocs();
    let (mut n, mut errs) = (0, 0);
    for r in Events::new(buf, format) {
        match r {
            Ok(ev) => {
                n += 1;
                black_box((ev.action(), ev.devpath(), ev.subsystem()));
                black_box((ev.devtype(), ev.driver(), ev.modalias()));
                black_box((ev.seqnum(), ev.timestamp_ns(), ev.source()));
                black_box(ev.get(b"MODALIAS"));
                black_box(ev.get(b"NO_SUCH_KEY"));
                black_box(ev.len());
                for (k, v) in ev.entries() {
                    black_box((k, v));
                }
            }
            Err(e) => {
                errs += 1;
                black_box((e.offset(), e.line(), e.kind()));
            }
        }
    }
    (n, errs, allocs() - before)
}

#[test]
fn captures_allocate_nothing_per_event() {
    for (name, format, count) in common::CAPTURES {
        let buf = common::capture(name);
        assert_eq!(walk(&buf, format), (count, 0, 0), "{name}");
    }
}

#[test]
fn sysfs_snapshot_allocates_nothing() {
    let snap = common::sysfs_snapshot();
    assert_eq!(walk(&snap, Format::SysfsSnapshot), (446, 0, 0));
}

#[test]
fn trace_format_allocates_nothing() {
    for (name, format, count) in common::CAPTURES {
        let t = common::to_trace(&common::capture(name), format);
        assert_eq!(walk(&t, Format::Coldplug), (count, 0, 0), "{name}");
    }
}

#[test]
fn errors_allocate_nothing() {
    // Every 97th byte of the monitor text turned into a letter: many
    // malformed blocks, each reported without allocating.
    let mut txt = common::capture("kernel-trigger.monitor.txt");
    for b in txt.iter_mut().step_by(97) {
        *b = b'x';
    }
    let (n, errs, a) = walk(&txt, Format::Monitor);
    assert!(errs > 100 && n > 0, "{n} events, {errs} errors");
    assert_eq!(a, 0);
    let mut nl = common::capture("kernel-trigger.nl");
    for b in nl.iter_mut().skip(200).step_by(301) {
        *b ^= 0x20;
    }
    let (_, errs, a) = walk(&nl, Format::Datagrams);
    assert!(errs > 0);
    assert_eq!(a, 0);
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    black_box(vec![1u8; 10]);
    assert_eq!(allocs() - before, 1);
}
