//! Property test: on random pattern sets written as real
//! modules.alias.bin files (depmod's trie shape) and random keys full
//! of `[`, `]`, `!`, `^`, `\`, `?`, `*`, the compiled matcher, the
//! naive matcher and the port of libkmod's trie walk give the same
//! modules in the same order; with `--features kmod-ffi` so does the
//! live libkmod on the same files.
//!
//! `COLDPLUG_PROP_SETS` sets the number of pattern sets (default 300),
//! `COLDPLUG_SEED` the seed.

mod common;

use std::path::Path;

use coldplug::matcher::{trie_lookup, AliasMatcher, NaiveMatcher};
use coldplug::modindex::{alias_normalize, IndexFile, IndexWriter, KernelDir};
use coldplug::resolve::{Backend, Resolver};
use common::Rng;

const PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"ab",
    b"x:",
    b"_",
    b"*",
    b"*",
    b"?",
    b"[ab]",
    b"[!a]",
    b"[^b]",
    b"[a-c]",
    b"[]a]",
    b"]",
    b"\\",
    b"\\*",
    b"[",
    b"-",
    b"abcd",
    b"bcda",
    b"dcba",
    b"[[:alpha:]]",
    b"[a-]",
    b"!",
    b"^",
];

fn random_pattern(r: &mut Rng, prefix: &[u8]) -> Vec<u8> {
    let mut p = prefix.to_vec();
    for _ in 0..r.below(7) {
        p.extend_from_slice(PIECES[r.below(PIECES.len())]);
    }
    p
}

/// A key built like `p` would match it, with some wildcards kept.
fn instantiate(r: &mut Rng, p: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' if r.percent(85) => {
                for _ in 0..r.below(4) {
                    out.extend_from_slice(PIECES[r.below(5)]);
                }
            }
            b'?' if r.percent(85) => out.push(b"abc:_"[r.below(5)]),
            b'\\' if i + 1 < p.len() && r.percent(85) => {
                i += 1;
                out.push(p[i]);
            }
            b'[' if r.percent(85) => {
                match p[i + 1..].iter().position(|&b| b == b']') {
                    Some(e) if e > 0 => {
                        out.push(p[i + 1 + r.below(e)]);
                        i += e + 1;
                    }
                    _ => out.push(b'['),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

struct Set {
    entries: Vec<(Vec<u8>, Vec<u8>, u32)>,
}

fn random_set(r: &mut Rng) -> Set {
    let n = 1 + r.below(40);
    // Shared literal prefixes make large groups (the anchored path).
    let prefixes: Vec<Vec<u8>> = (0..1 + r.below(3))
        .map(|_| {
            random_pattern(r, b"")
                .into_iter()
                .filter(|b| !b"*?[".contains(b))
                .collect()
        })
        .collect();
    let mut entries = Vec::new();
    for _ in 0..n {
        let pre = &prefixes[r.below(prefixes.len())];
        let key = if r.percent(10) && !entries.is_empty() {
            let (k, _, _): &(Vec<u8>, Vec<u8>, u32) =
                &entries[r.below(entries.len())];
            k.clone()
        } else {
            random_pattern(r, pre)
        };
        if key.is_empty() {
            continue;
        }
        let module = format!("m{}", r.below(6)).into_bytes();
        let prio = r.below(4) as u32;
        entries.push((key, module, prio));
    }
    Set { entries }
}

fn write_dir(dir: &Path, set: &Set) {
    std::fs::create_dir_all(dir).unwrap();
    let mut w = IndexWriter::new();
    for (k, m, p) in &set.entries {
        w.insert(k, m, *p).unwrap();
    }
    std::fs::write(dir.join("modules.alias.bin"), w.to_bytes()).unwrap();
    let empty = IndexWriter::new().to_bytes();
    for f in [
        IndexFile::Dep,
        IndexFile::Symbols,
        IndexFile::Builtin,
        IndexFile::BuiltinAlias,
    ] {
        std::fs::write(dir.join(f.file_name()), &empty).unwrap();
    }
}

fn keys_for(r: &mut Rng, set: &Set) -> Vec<Vec<u8>> {
    let mut keys = Vec::new();
    for _ in 0..60 {
        let (p, _, _) = &set.entries[r.below(set.entries.len())];
        keys.push(match r.below(4) {
            0 => p.clone(),
            1 => random_pattern(r, b""),
            _ => instantiate(r, p),
        });
    }
    keys
}

fn names(v: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Vec<String> {
    v.into_iter()
        .map(|x| String::from_utf8_lossy(x.as_ref()).into_owned())
        .collect()
}

#[test]
fn engines_agree() {
    let sets = common::env_count("COLDPLUG_PROP_SETS", 300);
    let mut r = Rng::new(common::env_count("COLDPLUG_SEED", 0xBEEF) as u64);
    let tmp = tempfile::tempdir().unwrap();
    #[cfg(feature = "kmod-ffi")]
    let conf = {
        let c = tmp.path().join("conf");
        std::fs::create_dir_all(&c).unwrap();
        c
    };
    let (mut checked, mut nonempty, mut multi) = (0, 0, 0);
    let mut turned_away = 0;
    for n in 0..sets {
        let set = random_set(&mut r);
        if set.entries.is_empty() {
            continue;
        }
        let dir = tmp.path().join(format!("set{n}"));
        write_dir(&dir, &set);
        let k = KernelDir::open(&dir).unwrap();
        let idx = k.alias.as_ref().unwrap();
        let compiled = AliasMatcher::build(idx);
        let naive = NaiveMatcher::build(idx);
        #[cfg(feature = "kmod-ffi")]
        let mut kmod = {
            let mut km = coldplug::kmod_ffi::Kmod::new(&dir, &conf).unwrap();
            km.set_log_priority(coldplug::kmod_ffi::LOG_CRIT);
            km.load_resources().unwrap();
            km
        };
        let resolver =
            Resolver::new(KernelDir::open(&dir).unwrap(), Backend::Compiled);
        let mut hits = Vec::new();
        let mut walk = Vec::new();
        let mut norm = Vec::new();
        for key in keys_for(&mut r, &set) {
            let ctx = || {
                format!(
                    "set {n} key {:?} patterns {:?}",
                    String::from_utf8_lossy(&key),
                    set.entries
                        .iter()
                        .map(|(k, m, p)| format!(
                            "{}={}@{p}",
                            String::from_utf8_lossy(k),
                            String::from_utf8_lossy(m)
                        ))
                        .collect::<Vec<_>>()
                )
            };
            let valid = alias_normalize(&key, &mut norm).is_ok();
            if valid {
                trie_lookup(idx, &norm, &mut walk);
                let want = names(walk.iter().map(|(_, n)| *n));
                compiled.lookup(&norm, &mut hits);
                let c =
                    names(hits.iter().map(|h| compiled.module_name(h.module)));
                naive.lookup(&norm, &mut hits);
                let nv =
                    names(hits.iter().map(|h| naive.module_name(h.module)));
                assert_eq!(c, want, "compiled vs trie walk: {}", ctx());
                assert_eq!(nv, want, "naive vs trie walk: {}", ctx());
                // The first-byte test may only turn away keys nothing
                // matches.
                if !compiled.may_match(&norm) {
                    assert!(want.is_empty(), "may_match: {}", ctx());
                    turned_away += 1;
                }
                nonempty += !want.is_empty() as usize;
                multi += (want.len() > 1) as usize;
            }
            let ours = resolver.lookup_owned(&key).map_err(|e| e.errno());
            assert_eq!(ours.is_ok(), valid, "{}", ctx());
            #[cfg(feature = "kmod-ffi")]
            {
                let live = kmod.lookup(&key);
                assert_eq!(ours, live, "coldplug vs libkmod: {}", ctx());
            }
            checked += 1;
        }
    }
    eprintln!(
        "prop: {checked} keys, {nonempty} with matches, {multi} with several, {turned_away} turned away by the first byte"
    );
    assert!(nonempty > checked / 10);
    assert!(turned_away > 0);
}

/// Both matchers of the index `w` writes, read back from a file as a
/// kernel directory's.
fn matchers(w: &IndexWriter) -> (AliasMatcher, NaiveMatcher) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("modules.alias.bin"), w.to_bytes())
        .unwrap();
    let k = KernelDir::open(tmp.path()).unwrap();
    let idx = k.alias.as_ref().unwrap();
    (AliasMatcher::build(idx), NaiveMatcher::build(idx))
}

/// Trie nodes store label length, literal-entry count and inline
/// candidate count in 16 bits, with an escape to 32: a label, a key's
/// values and a group each past 65,535 still match like the naive scan.
#[test]
fn node_fields_past_16_bits() {
    const N: usize = 66_000;
    let long: Vec<u8> = (0..70_000).map(|i| b'a' + (i % 26) as u8).collect();
    let mut w = IndexWriter::new();
    w.insert(&long, b"long_label", 0).unwrap();
    let mut tail_long = long.clone();
    tail_long.extend_from_slice(b"*z");
    w.insert(&tail_long, b"long_prefix", 0).unwrap();
    for v in 0..N {
        w.insert(b"same", format!("m{v}").as_bytes(), v as u32).unwrap();
    }
    // Unanchored (no run of 4 plain bytes): each is an inline candidate.
    let alnum =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for v in 0..N {
        let (x, y, z) = (v % 62, v / 62 % 62, v / 3844);
        let k = [b'g', b'*', alnum[x], alnum[y], b'?', alnum[z]];
        w.insert(&k, format!("g{}", v % 7).as_bytes(), 0).unwrap();
    }
    let (compiled, naive) = matchers(&w);
    let mut key_long = long.clone();
    key_long.extend_from_slice(b"xyz");
    let keys: [&[u8]; 6] =
        [&long, &key_long, b"same", b"g--01-0", b"gab-0", b"g99?h"];
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for key in keys {
        compiled.lookup(key, &mut a);
        naive.lookup(key, &mut b);
        let a = names(a.iter().map(|h| compiled.module_name(h.module)));
        let b = names(b.iter().map(|h| naive.module_name(h.module)));
        assert_eq!(
            a,
            b,
            "key {}",
            String::from_utf8_lossy(&key[..8.min(key.len())])
        );
        assert!(
            !a.is_empty(),
            "key {}",
            String::from_utf8_lossy(&key[..8.min(key.len())])
        );
    }
}

/// Large groups are found through literal runs looked at every
/// `stride` bytes of the key: runs of every length from 3 to 16 bytes
/// (so each stride, and entries left without an anchor), in keys that
/// hold them at every offset, at the tail's start and end, twice, or
/// cut short, match like the naive scan.
#[test]
fn anchors_at_every_offset() {
    let mut r = Rng::new(common::env_count("COLDPLUG_SEED", 7) as u64);
    let hex = b"0123456789ABCDEF";
    for round in 0..40 {
        // Each round a group whose shortest run sets another stride.
        let min_run = 3 + round % 14;
        let mut w = IndexWriter::new();
        let mut runs = Vec::new();
        for v in 0..(7 + r.below(60)) {
            let len = min_run + r.below(17 - min_run.min(16));
            let run: Vec<u8> = (0..len).map(|_| *r.pick(hex)).collect();
            let mut p = b"g:v*".to_vec();
            if r.percent(50) {
                p.extend_from_slice(b"p*");
            }
            p.extend_from_slice(&run);
            p.extend_from_slice([&b"*"[..], b"", b"?", b"*x"][r.below(4)]);
            w.insert(&p, format!("m{v}").as_bytes(), v as u32).unwrap();
            runs.push(run);
        }
        let (compiled, naive) = matchers(&w);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut found = 0;
        for run in &runs {
            for pad in 0..12 {
                let junk = |r: &mut Rng, n: usize| -> Vec<u8> {
                    (0..n).map(|_| *r.pick(b"0123456789ABCDEFpx")).collect()
                };
                let mut key = b"g:v".to_vec();
                key.extend(junk(&mut r, pad));
                let cut = if r.percent(20) { r.below(run.len()) } else { 0 };
                key.extend_from_slice(&run[..run.len() - cut]);
                if r.percent(30) {
                    key.extend_from_slice(run);
                }
                let n = r.below(3);
                key.extend(junk(&mut r, n));
                compiled.lookup(&key, &mut a);
                naive.lookup(&key, &mut b);
                let a =
                    names(a.iter().map(|h| compiled.module_name(h.module)));
                let b = names(b.iter().map(|h| naive.module_name(h.module)));
                assert_eq!(a, b, "key {}", String::from_utf8_lossy(&key));
                found += usize::from(!a.is_empty());
            }
        }
        assert!(found > runs.len(), "round {round}: {found} keys matched");
    }
}

/// The field formats (`usb:v…p…d…`, `pci:v…d…sv…`, `hid:b…g…v…p…`):
/// patterns asking each field for anything, a value or a value prefix,
/// mixed with brackets, `?`, backslashes, values past a word, patterns
/// that stop early or leave the format, and keys of the format with
/// the kernel's value widths, with short, empty, long and odd values
/// (lowercase, bytes past `z`) or broken structure, match like the
/// naive scan. (Keys hold no NUL:
/// normalizing cuts them there, as libkmod's C strings end.)
#[test]
fn field_formats_agree() {
    // Prefix, markers, and the widths the kernel prints the values in.
    type Format = (&'static [u8], &'static [&'static [u8]], &'static [usize]);
    const FORMATS: [Format; 3] = [
        (
            b"usb:",
            &[
                b"v", b"p", b"d", b"dc", b"dsc", b"dp", b"ic", b"isc", b"ip",
                b"in",
            ],
            &[4, 4, 4, 2, 2, 2, 2, 2, 2, 2],
        ),
        (
            b"pci:",
            &[b"v", b"d", b"sv", b"sd", b"bc", b"sc", b"i"],
            &[8, 8, 8, 8, 2, 2, 2],
        ),
        (b"hid:", &[b"b", b"g", b"v", b"p"], &[4, 4, 8, 8]),
    ];
    const HEX: &[u8] = b"0123456789ABCDEF";
    // How a pattern that stops early ends; fields no index holds;
    // fields that leave the format.
    const CUT: [&[u8]; 3] = [b"*", b"", b"?*"];
    const ODD: [&[u8]; 5] = [b"[0-1]", b"?", b"0?", b"\\1", b"[!0]*"];
    const ALIEN: [&[u8]; 4] = [b"a", b"x", b"{", b"0x*"];
    let sets = common::env_count("COLDPLUG_PROP_SETS", 300) / 3;
    let mut r = Rng::new(common::env_count("COLDPLUG_SEED", 11) as u64);
    let mut matched = 0;
    for _ in 0..sets.max(20) {
        let (prefix, markers, widths) = *r.pick(&FORMATS);
        // A small alphabet of values, so patterns and keys meet.
        let value = |r: &mut Rng| -> Vec<u8> {
            let n = *r.pick(&[0, 1, 2, 2, 2, 4, 4, 8, 9]);
            (0..n).map(|_| *r.pick(&HEX[..3])).collect()
        };
        let mut w = IndexWriter::new();
        let mut pats = Vec::new();
        for m in 0..(1 + r.below(50)) {
            let mut p = prefix.to_vec();
            let stop = if r.percent(10) { r.below(markers.len()) } else { 99 };
            for (i, mk) in markers.iter().enumerate() {
                if i == stop {
                    p.extend_from_slice(r.pick::<&[u8]>(&CUT));
                    break;
                }
                p.extend_from_slice(mk);
                match r.below(14) {
                    0..=5 => p.push(b'*'),
                    6..=8 => p.extend(value(&mut r)),
                    9 | 10 => {
                        p.extend(value(&mut r));
                        p.push(b'*');
                    }
                    11 => p.extend_from_slice(r.pick::<&[u8]>(&ODD)),
                    12 => p.extend_from_slice(r.pick::<&[u8]>(&ALIEN)),
                    _ => {}
                }
            }
            if r.percent(3) {
                p = r
                    .pick(&[&b"*"[..], b"u*", b"usb*", b"pci:*", b"hid:b*"])
                    .to_vec();
            }
            w.insert(&p, format!("m{m}").as_bytes(), r.below(3) as u32)
                .unwrap();
            pats.push(p);
        }
        let (compiled, naive) = matchers(&w);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..80 {
            // A key of the format, from a pattern or from scratch.
            let base = r.pick(&pats).clone();
            let mut key = if r.percent(70) {
                let mut k = Vec::new();
                for &c in &base {
                    match c {
                        b'*' => k.extend(value(&mut r)),
                        b'?' => k.push(*r.pick(HEX)),
                        b'[' | b']' | b'!' | b'\\' if r.percent(80) => {}
                        c => k.push(c),
                    }
                }
                k
            } else {
                // Values as the kernel prints them, or of any length.
                let kernel = r.percent(50);
                let mut k = prefix.to_vec();
                for (mk, &n) in markers.iter().zip(widths) {
                    k.extend_from_slice(mk);
                    if kernel {
                        k.extend((0..n).map(|_| *r.pick(&HEX[..3])));
                    } else {
                        k.extend(value(&mut r));
                    }
                }
                k
            };
            match r.below(12) {
                0 => key.insert(r.below(key.len() + 1), *r.pick(b"a0{x~\xff")),
                1 => key.truncate(r.below(key.len() + 1)),
                2 => key.extend(std::iter::repeat_n(b'1', r.below(120))),
                _ => {}
            }
            compiled.lookup(&key, &mut a);
            naive.lookup(&key, &mut b);
            let a = names(a.iter().map(|h| compiled.module_name(h.module)));
            let b = names(b.iter().map(|h| naive.module_name(h.module)));
            assert_eq!(
                a,
                b,
                "key {:?} patterns {:?}",
                String::from_utf8_lossy(&key),
                names(&pats)
            );
            matched += usize::from(!a.is_empty());
        }
    }
    assert!(matched > sets * 10, "{matched} keys matched");
}
