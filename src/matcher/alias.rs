//! The compiled matcher, in two parts that split the entries by where
//! keys can meet them.
//!
//! An entry whose literal part (libkmod compares it byte for byte)
//! starts with the head of a field format (`usb:v`, `pci:v`, ...; see
//! [`super::fields`]) can only match keys that start with it too. Such
//! keys go to the field index when they are strings of the format, as
//! the kernel's are; every other key goes to a trie of the remaining
//! entries ([`super::compiled`]). A key with a format's head that is no
//! string of it (a lowercase hex digit, a wildcard byte, a field
//! missing) goes to a trie of all entries, built the first time one
//! comes: the kernel never sends one, so a coldplug never pays for it.

use std::sync::OnceLock;

use super::compiled::Trie;
use super::fields::FieldIndex;
use super::order::{self, Hit};
use super::patterns::Patterns;
use super::ModuleId;
use crate::modindex::Index;

/// A matcher compiled from one index; see the module docs.
#[derive(Debug, Clone)]
pub struct AliasMatcher {
    /// Every entry.
    pats: Patterns,
    fields: FieldIndex,
    /// The entries under no format's head.
    rest: Trie,
    /// Every entry, for keys under a format's head that the field index
    /// does not take.
    all: OnceLock<Box<Trie>>,
    /// The bytes a non-empty key can start with and still match: each
    /// entry's first byte, or every byte when an entry starts with a
    /// wildcard.
    starts: [u64; 4],
}

impl AliasMatcher {
    /// Compile the entries of `index`.
    ///
    /// The field index and the trie of the other entries are built side
    /// by side, on this thread and a second one, once the entries of
    /// each format are known (after about half of the work): the two
    /// share nothing but the read-only pattern table. On one CPU, or
    /// when no thread can be started, they are built one after the
    /// other.
    pub fn build(index: &Index) -> AliasMatcher {
        AliasMatcher::from_patterns(Patterns::from_index(index))
    }

    /// [`AliasMatcher::build`] on the calling thread alone: the same
    /// matcher. For a caller whose other CPUs are busy, and to measure
    /// the build's whole work.
    pub fn build_serial(index: &Index) -> AliasMatcher {
        AliasMatcher::compile(Patterns::from_index(index), false)
    }

    /// Compile an extracted pattern table (on two threads, as
    /// [`AliasMatcher::build`] does).
    pub fn from_patterns(pats: Patterns) -> AliasMatcher {
        let two =
            std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
        AliasMatcher::compile(pats, two)
    }

    /// Compile `pats`, building the trie of the other entries on a
    /// second thread if `two`.
    fn compile(pats: Patterns, two: bool) -> AliasMatcher {
        let found = FieldIndex::find_entries(&pats);
        let mut starts = [0u64; 4];
        for e in &pats.entries {
            match pats.key(e).first() {
                Some(b'*' | b'?' | b'[') => starts = [u64::MAX; 4],
                Some(&b) => starts[usize::from(b / 64)] |= 1 << (b % 64),
                None => {}
            }
        }
        let heads = found.heads();
        // The entries under no indexed format's head, compiled.
        let rest = || {
            let rest = pats
                .entries
                .iter()
                .filter(|e| !heads.routes(&pats.key(e)[..e.prefix as usize]))
                .copied()
                .collect();
            Trie::from_patterns(&pats, rest)
        };
        let (fields, rest) = std::thread::scope(|s| {
            let trie = two
                .then(|| {
                    let t = std::thread::Builder::new()
                        .name("coldplug-trie".into());
                    t.spawn_scoped(s, rest).ok()
                })
                .flatten();
            let fields = found.index();
            let rest = match trie {
                Some(t) => {
                    t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
                }
                None => rest(),
            };
            (fields, rest)
        });
        AliasMatcher { pats, fields, rest, all: OnceLock::new(), starts }
    }

    /// Look up a normalized key: `out` gets the hits in libkmod's order.
    pub fn lookup(&self, key: &[u8], out: &mut Vec<Hit>) {
        let general = memchr::memchr3(b'*', b'?', b'[', key).is_some();
        self.lookup_wild(key, general, out)
    }

    /// [`AliasMatcher::lookup`] when the caller knows whether `key`
    /// holds a wildcard byte (`*`, `?`, `[`): `general`.
    pub fn lookup_wild(&self, key: &[u8], general: bool, out: &mut Vec<Hit>) {
        let Some(format) = self.fields.format_of(key) else {
            return self.rest.lookup_wild(&self.pats, key, general, out);
        };
        out.clear();
        if !general && self.fields.lookup(format, &self.pats, key, out) {
            order::finish(out);
            return;
        }
        self.all
            .get_or_init(|| {
                let all = self.pats.entries.clone();
                Box::new(Trie::from_patterns(&self.pats, all))
            })
            .lookup_wild(&self.pats, key, general, out)
    }

    /// False when no entry can match `key`: its first byte starts no
    /// entry (libkmod's walk compares it literally unless an entry
    /// starts with a wildcard).
    #[inline]
    pub fn may_match(&self, key: &[u8]) -> bool {
        key.first().is_none_or(|&b| {
            self.starts[usize::from(b / 64)] & (1 << (b % 64)) != 0
        })
    }

    /// The name of a module.
    pub fn module_name(&self, m: ModuleId) -> &[u8] {
        self.pats.module_name(m)
    }

    /// The entries.
    pub fn patterns(&self) -> &Patterns {
        &self.pats
    }

    /// Bytes held by the compiled structures (the pattern table
    /// included).
    pub fn memory_usage(&self) -> usize {
        self.pats.memory_usage()
            + self.fields.memory_usage()
            + self.rest.memory_usage()
            + self.all.get().map_or(0, |t| t.memory_usage())
    }
}
