//! Fuzz target: `coldplug::fuzzing::trace_file` (see src/fuzzing.rs for the
//! invariants checked). Replayed by tests/fuzz_regressions.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coldplug::fuzzing::trace_file(data));
