//! Fuzz target: `coldplug::fuzzing::matcher`, the compiled matcher
//! against the naive one and libkmod's trie walk on patterns and keys
//! from the input (see src/fuzzing.rs). Replayed by
//! tests/fuzz_regressions.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coldplug::fuzzing::matcher(data));
