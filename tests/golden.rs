//! Every line of the golden files (libkmod 30's answers for 10,086
//! modaliases per kernel, see traces/README.md) must come out of
//! `coldplug`'s resolver byte for byte, with every backend.

use std::path::Path;

use coldplug::modindex::KernelDir;
use coldplug::resolve::{format_line, Backend, Resolver, Scratch};

const KERNELS: [&str; 3] = [
    "debian-6.1.0-50-amd64",
    "debian-6.1.0-50-s390x",
    "debian-6.12.107-s390x",
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check(name: &str, backend: Backend) -> usize {
    let dir = root().join("traces/kernels").join(name);
    let golden = std::fs::read(
        root().join("traces/golden").join(format!("{name}.lookup.tsv")),
    )
    .unwrap();
    let r = Resolver::new(KernelDir::open(&dir).unwrap(), backend);
    let mut s = Scratch::default();
    let mut bad = Vec::new();
    let mut n = 0;
    for line in golden.split_inclusive(|&b| b == b'\n') {
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        let alias = &line[..tab];
        let res = r.lookup(alias, &mut s);
        let mut got = Vec::new();
        format_line(alias, &res, &s, &mut got);
        if got != line {
            bad.push(format!(
                "want {:?}\n got {:?}",
                String::from_utf8_lossy(line),
                String::from_utf8_lossy(&got)
            ));
        }
        n += 1;
    }
    assert!(
        bad.is_empty(),
        "{name} {backend:?}: {} of {n} lines differ:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
    n
}

#[test]
fn golden_compiled() {
    let n: usize = KERNELS.iter().map(|k| check(k, Backend::Compiled)).sum();
    assert_eq!(n, 30_258);
}

#[test]
fn golden_naive() {
    let n: usize = KERNELS.iter().map(|k| check(k, Backend::Naive)).sum();
    assert_eq!(n, 30_258);
}

/// The matcher built on two threads (as the resolver builds it) and on
/// one are the same: every golden alias gets the same hits, and they
/// hold the same memory.
#[test]
fn serial_build_is_the_same() {
    use coldplug::matcher::AliasMatcher;
    use coldplug::modindex::{alias_normalize, IndexFile};
    for name in KERNELS {
        let dir = root().join("traces/kernels").join(name);
        let kd = KernelDir::open(&dir).unwrap();
        let index = kd.index(IndexFile::Alias).unwrap();
        let (two, one) =
            (AliasMatcher::build(index), AliasMatcher::build_serial(index));
        assert_eq!(two.memory_usage(), one.memory_usage(), "{name}");
        let golden = std::fs::read(
            root().join("traces/golden").join(format!("{name}.lookup.tsv")),
        )
        .unwrap();
        let (mut key, mut a, mut b) = (Vec::new(), Vec::new(), Vec::new());
        let mut hits = 0;
        for line in golden.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let alias = line.split(|&b| b == b'\t').next().unwrap();
            if alias_normalize(alias, &mut key).is_err() {
                continue;
            }
            two.lookup(&key, &mut a);
            one.lookup(&key, &mut b);
            assert_eq!(a, b, "{name}: {}", String::from_utf8_lossy(alias));
            hits += a.len();
        }
        assert!(hits > 2_000, "{name}: {hits} hits");
    }
}
