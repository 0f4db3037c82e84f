//! Hostile index files: every truncation of a real index, random byte
//! flips and crafted shapes (cycles, shared nodes, bad child ranges,
//! absurd counts) give a typed error or a usable index, never a panic
//! or a hang.

mod common;

use coldplug::matcher::{fnmatch::fnmatch, AliasMatcher};
use coldplug::modindex::{ErrorKind, Index, IndexWriter, KernelDir};
use common::Rng;

fn exercise(buf: Vec<u8>) -> Result<(), coldplug::modindex::IndexError> {
    let idx = Index::from_vec(buf)?;
    let e = idx.entries();
    assert_eq!(e.list.len(), idx.value_count());
    for key in [&b"pci:v00008086d00001234"[..], b"ap:t0C", b"", b"*", b"a[b"] {
        let _ = idx.search(key);
        idx.search_wild(key, &fnmatch, &mut |_| {});
    }
    let m = AliasMatcher::build(&idx);
    let mut hits = Vec::new();
    m.lookup(b"usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip01in00", &mut hits);
    Ok(())
}

fn real(name: &str) -> Vec<u8> {
    std::fs::read(common::kernel_dir(common::KERNELS[1]).join(name)).unwrap()
}

#[test]
fn every_truncation_of_a_small_index() {
    let b = real("modules.builtin.alias.bin");
    assert!(exercise(b.clone()).is_ok());
    let mut errors = 0;
    for cut in 0..b.len() {
        errors += exercise(b[..cut].to_vec()).is_err() as usize;
    }
    // Cutting a file written children-first loses the root: almost every
    // cut must be refused.
    assert!(errors > b.len() * 9 / 10, "{errors}");
}

#[test]
fn sampled_truncations_of_modules_alias_bin() {
    let b = real("modules.alias.bin");
    let mut r = Rng::new(1);
    for _ in 0..300 {
        let cut = r.below(b.len());
        assert!(exercise(b[..cut].to_vec()).is_err(), "cut at {cut}");
    }
}

#[test]
fn random_byte_flips() {
    let base = real("modules.builtin.alias.bin");
    let mut r = Rng::new(2);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..1 + r.below(4) {
            let at = r.below(b.len());
            b[at] = r.next() as u8;
        }
        match exercise(b) {
            Ok(()) => ok += 1,
            Err(_) => err += 1,
        }
    }
    assert!(ok > 0 && err > 0, "ok {ok} err {err}");
}

fn header(root: u32) -> Vec<u8> {
    let mut v = 0xB007_F457u32.to_be_bytes().to_vec();
    v.extend_from_slice(&0x0002_0001u32.to_be_bytes());
    v.extend_from_slice(&root.to_be_bytes());
    v
}

const CHILDS: u32 = 0x2000_0000;
const VALUES: u32 = 0x4000_0000;

fn kind(buf: Vec<u8>) -> ErrorKind {
    Index::from_vec(buf).unwrap_err().kind().clone_kind()
}

trait CloneKind {
    fn clone_kind(&self) -> ErrorKind;
}

impl CloneKind for ErrorKind {
    fn clone_kind(&self) -> ErrorKind {
        match self {
            ErrorKind::Truncated { what } => ErrorKind::Truncated { what },
            ErrorKind::BadMagic { found } => {
                ErrorKind::BadMagic { found: *found }
            }
            ErrorKind::UnsupportedVersion { found } => {
                ErrorKind::UnsupportedVersion { found: *found }
            }
            ErrorKind::BadOffset { what, offset } => {
                ErrorKind::BadOffset { what, offset: *offset }
            }
            ErrorKind::BadChildRange { first, last } => {
                ErrorKind::BadChildRange { first: *first, last: *last }
            }
            ErrorKind::SharedNode { offset } => {
                ErrorKind::SharedNode { offset: *offset }
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn crafted_shapes() {
    // Bad magic and version.
    let mut b = header(12);
    b[0] = 0;
    assert!(matches!(kind(b), ErrorKind::BadMagic { .. }));
    let mut b = header(12);
    b[5] = 3;
    assert!(matches!(kind(b), ErrorKind::UnsupportedVersion { .. }));
    assert!(matches!(kind(vec![0xB0, 0x07]), ErrorKind::Truncated { .. }));
    // Root beyond the end.
    assert!(matches!(kind(header(1000)), ErrorKind::BadOffset { .. }));
    // A child pointing back at its parent: a cycle.
    let mut b = header(12 | CHILDS);
    b.extend_from_slice(b"aa");
    b.extend_from_slice(&(12 | CHILDS).to_be_bytes());
    assert!(matches!(kind(b), ErrorKind::SharedNode { offset: 12 }));
    // Two children sharing one node.
    let mut b = header(12 | CHILDS);
    b.extend_from_slice(b"ab");
    b.extend_from_slice(&(22 | VALUES).to_be_bytes());
    b.extend_from_slice(&(22 | VALUES).to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0, b'm', 0]);
    assert!(matches!(kind(b), ErrorKind::SharedNode { .. }));
    // Child ranges: first > last, and non-ASCII.
    let mut b = header(12 | CHILDS);
    b.extend_from_slice(&[b'b', b'a', 0, 0, 0, 0]);
    assert!(matches!(kind(b), ErrorKind::BadChildRange { .. }));
    let mut b = header(12 | CHILDS);
    b.extend_from_slice(&[0x80, 0x81, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert!(matches!(kind(b), ErrorKind::BadChildRange { .. }));
    // An absurd value count is refused before anything is allocated.
    let mut b = header(12 | VALUES);
    b.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(kind(b), ErrorKind::Truncated { .. }));
    // Unterminated prefix.
    let mut b = header(12 | 0x8000_0000);
    b.extend_from_slice(b"abc");
    assert!(matches!(kind(b), ErrorKind::Truncated { .. }));
}

#[test]
fn deep_trie_does_not_overflow_the_stack() {
    // A chain of 5,000 nested nodes (one per key length): iterative
    // parsing and traversal must cope.
    let mut w = IndexWriter::new();
    let key: Vec<u8> =
        (0..10_000).map(|i| if i % 2 == 0 { b'a' } else { b'*' }).collect();
    for n in (1..key.len()).step_by(2) {
        w.insert(&key[..n], b"m", 1).unwrap();
    }
    let idx = Index::from_vec(w.to_bytes()).unwrap();
    assert_eq!(idx.entries().list.len(), 5_000);
    let mut n = 0;
    idx.search_wild(b"aaa", &fnmatch, &mut |_| n += 1);
    assert!(n > 0);
}

#[test]
fn corrupt_file_in_a_kernel_dir_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("modules.alias.bin"), b"garbage!!!!!!")
        .unwrap();
    let e = KernelDir::open(tmp.path()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("modules.alias.bin") && msg.contains("bad magic"),
        "{msg}"
    );
}
