//! Replays every committed fuzz input, fuzz/seeds/<target>/ and
//! fuzz/regressions/<target>/, through the same function the fuzz target
//! calls, without libFuzzer. A failure names the file.
//!
//! Each regression file has a line in fuzz/regressions/README.md saying
//! what it broke and what fixed it.

mod reference;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use coldplug::fuzzing;

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 8] = [
    ("kernel", fuzzing::kernel),
    ("libudev", fuzzing::libudev),
    ("monitor", fuzzing::monitor),
    ("sysfs", fuzzing::sysfs),
    ("trace_file", fuzzing::trace_file),
    ("roundtrip", fuzzing::roundtrip_bytes),
    ("differential", reference::differential),
    ("matcher", fuzzing::matcher),
];

fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind);
    let mut failures = Vec::new();
    let mut n = 0;
    for (target, run) in TARGETS {
        let Ok(dir) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        let mut files: Vec<_> = dir.map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&f).unwrap();
            n += 1;
            // Every input goes through the differential check too.
            let r = catch_unwind(AssertUnwindSafe(|| {
                run(&data);
                reference::differential(&data);
            }));
            if r.is_err() {
                failures.push(f.display().to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz inputs that fail:\n{}",
        failures.join("\n")
    );
    n
}

#[test]
fn seeds_replay() {
    assert!(replay("seeds") >= 7);
}

#[test]
fn regressions_replay() {
    replay("regressions");
}

/// The local corpora libFuzzer grew in fuzz/corpus/ (not committed):
/// `cargo test --release --test fuzz_regressions -- --ignored`.
#[test]
#[ignore]
fn local_corpus_replays() {
    replay("corpus");
}
