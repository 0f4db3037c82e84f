//! Fuzz target: the zero-copy parsers against the naive, allocating
//! reference parser of tests/reference/mod.rs, on every format. Same
//! events, same errors (kind, offset, line). Replayed by
//! tests/fuzz_regressions.rs, which includes the same module.
#![no_main]

#[path = "../../tests/reference/mod.rs"]
mod reference;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reference::differential(data));
