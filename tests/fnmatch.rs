//! fnmatch: the data-driven cases in tests/cases/fnmatch.toml, then a
//! differential run of random patterns and strings against the live
//! glibc fnmatch (which is what libkmod calls). Set
//! COLDPLUG_FNMATCH_COUNT to change the number of random pairs.

mod common;

use std::ffi::{c_char, c_int, CString};

use coldplug::matcher::fnmatch::fnmatch;
use common::Rng;

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    pattern: String,
    string: String,
    matches: bool,
    #[allow(dead_code)]
    why: Option<String>,
}

unsafe extern "C" {
    #[link_name = "fnmatch"]
    fn glibc_fnmatch(
        p: *const c_char,
        s: *const c_char,
        flags: c_int,
    ) -> c_int;
}

fn glibc(p: &[u8], s: &[u8]) -> bool {
    let p = CString::new(p).unwrap();
    let s = CString::new(s).unwrap();
    // SAFETY: two valid C strings; fnmatch only reads them.
    unsafe { glibc_fnmatch(p.as_ptr(), s.as_ptr(), 0) == 0 }
}

#[test]
fn cases() {
    let text = include_str!("cases/fnmatch.toml");
    let cases: Cases = toml::from_str(text).unwrap();
    assert!(cases.case.len() > 20);
    for c in &cases.case {
        let (p, s) = (c.pattern.as_bytes(), c.string.as_bytes());
        assert_eq!(
            fnmatch(p, s),
            c.matches,
            "ours: {:?} {:?}",
            c.pattern,
            c.string
        );
        assert_eq!(
            glibc(p, s),
            c.matches,
            "glibc: {:?} {:?}",
            c.pattern,
            c.string
        );
    }
}

const PIECES: &[&[u8]] = &[
    b"a",
    b"b",
    b"c",
    b"z",
    b"A",
    b"0",
    b"9",
    b"-",
    b"_",
    b":",
    b".",
    b"=",
    b"/",
    b"*",
    b"?",
    b"[",
    b"]",
    b"!",
    b"^",
    b"\\",
    b"[:alpha:]",
    b"[:digit:]",
    b"[:foo:]",
    b"[:",
    b":]",
    b"[=a=]",
    b"[=",
    b"[.a.]",
    b"[.ab.]",
    b"[.",
    b"a-z",
    b"z-a",
    b"-]",
    b"\xe9",
    b" ",
];

fn random_bytes(r: &mut Rng, max: usize, pieces: &[&[u8]]) -> Vec<u8> {
    let n = r.below(max + 1);
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend_from_slice(pieces[r.below(pieces.len())]);
    }
    v
}

/// A string the pattern probably matches: wildcards filled in roughly.
fn instantiate(r: &mut Rng, p: &[u8], strs: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => {
                for _ in 0..r.below(3) {
                    out.extend_from_slice(strs[r.below(strs.len())]);
                }
            }
            b'?' => out.extend_from_slice(strs[r.below(strs.len())]),
            b'\\' if i + 1 < p.len() => {
                i += 1;
                out.push(p[i]);
            }
            b'[' => {
                let end = p[i + 1..].iter().position(|&b| b == b']');
                match end {
                    Some(e) if e > 0 && r.percent(80) => {
                        let inner = &p[i + 1..i + 1 + e];
                        out.push(inner[r.below(inner.len())]);
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

#[test]
fn differential_against_glibc() {
    let count = common::env_count("COLDPLUG_FNMATCH_COUNT", 300_000);
    let mut r = Rng::new(common::env_count("COLDPLUG_SEED", 0x5EED) as u64);
    let strs: &[&[u8]] = &[
        b"a", b"b", b"c", b"z", b"A", b"0", b"-", b"]", b"[", b"*", b"?",
        b"\\", b"!", b"^", b":", b".", b"=", b"/", b"\xe9", b" ",
    ];
    let mut matched = 0;
    for i in 0..count {
        let p = random_bytes(&mut r, 8, PIECES);
        let s = if r.percent(50) {
            instantiate(&mut r, &p, strs)
        } else {
            random_bytes(&mut r, 8, strs)
        };
        let want = glibc(&p, &s);
        matched += want as usize;
        assert_eq!(
            fnmatch(&p, &s),
            want,
            "case {i}: pattern {:?} string {:?}",
            String::from_utf8_lossy(&p),
            String::from_utf8_lossy(&s)
        );
    }
    // The generator must produce matches, or the test proves little.
    assert!(matched > count / 20, "only {matched} matches");
}

#[test]
fn no_blowup() {
    // Many stars against a long non-matching string: glibc-style
    // backtracking to the last star only keeps this O(n*m).
    let p = b"*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b".to_vec();
    let s = vec![b'a'; 4000];
    let t = std::time::Instant::now();
    assert!(!fnmatch(&p, &s));
    assert!(t.elapsed().as_millis() < 500);
}
