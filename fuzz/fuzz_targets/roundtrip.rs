//! Fuzz target: generate a uevent (`arbitrary`), encode it as a kernel
//! datagram, a libudev datagram, monitor text and a trace record, parse
//! each back and compare (`coldplug::fuzzing::roundtrip`). Replayed by
//! tests/fuzz_regressions.rs through `roundtrip_bytes`, which decodes
//! the bytes as this typed target does.
#![no_main]

use coldplug::fuzzing::FuzzEvent;

libfuzzer_sys::fuzz_target!(|ev: FuzzEvent| coldplug::fuzzing::roundtrip(&ev));
