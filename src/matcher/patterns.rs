//! The pattern table every engine starts from, and the one function
//! that says when libkmod's wildcard search meets an entry.
//!
//! # When libkmod meets an entry (kmod v30 `index_mm_searchwild`)
//!
//! The search walks the trie along the key comparing bytes (level 2).
//! At each wildcard byte of an entry's key `P` (`*`, `?`, `[`; not `\`)
//! that the walk reaches with `P[..s] == K[..s]`, it runs
//! `fnmatch(P[s..], K[s..])` (level 3) and adds the entry's values on a
//! match. If that wildcard byte sits inside a node's prefix the walk
//! ends there; if it labels an edge, the walk also goes on byte by byte
//! when the key has the same byte at `s`. An entry reached byte for
//! byte to its end with the key exhausted is added too. So:
//!
//! - a key without wildcard bytes meets an entry at most once, at the
//!   entry's first wildcard position (or exactly, for a literal entry);
//! - a key with wildcard bytes can meet one entry several times, and
//!   libkmod returns it as many times.
//!
//! Visits are ordered by split position, then by post-order rank
//! ([`super::order::visit`]).

use crate::modindex::{Index, WildPos};

use super::fnmatch::fnmatch_nonul as fnmatch;
use super::ModuleId;

/// One (pattern, module) entry of an index.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PEntry {
    pub key: u32,
    pub key_len: u32,
    /// Length of the literal part (up to the first wildcard byte).
    pub prefix: u32,
    pub priority: u32,
    pub post: u32,
    pub module: ModuleId,
    pub wild: u32,
    pub wild_len: u32,
}

/// Every entry of an index with interned module names.
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    pub(crate) keys: Vec<u8>,
    pub(crate) wild: Vec<WildPos>,
    pub(crate) entries: Vec<PEntry>,
    /// Module names back to back: a lookup copies its hits' names, and
    /// one arena keeps them in a few cache lines, not one heap block each.
    pub(crate) names: Vec<u8>,
    /// End of each module's name in `names`; module `m` starts where
    /// `m - 1` ends.
    pub(crate) name_ends: Vec<u32>,
}

impl Patterns {
    /// Extract the entries of `index` in post-order.
    pub fn from_index(index: &Index) -> Patterns {
        let mut names: super::fxhash::FxHashMap<&[u8], u32> =
            Default::default();
        let (mut mod_names, mut name_ends) = (Vec::new(), Vec::new());
        let mut entries = Vec::with_capacity(index.value_count());
        let (mut keys, mut wild) = (Vec::new(), Vec::new());
        // Neighbours in post-order are often one module's aliases: the
        // last name spares most lookups.
        let mut last: Option<(&[u8], u32)> = None;
        index.each_entry(&mut keys, &mut wild, |en, w| {
            let name = index.value_str(index.value(en.value));
            let id = match last {
                Some((n, id)) if n == name => id,
                _ => *names.entry(name).or_insert_with(|| {
                    mod_names.extend_from_slice(name);
                    name_ends.push(mod_names.len() as u32);
                    name_ends.len() as u32 - 1
                }),
            };
            last = Some((name, id));
            let key_len = en.key.end - en.key.start;
            entries.push(PEntry {
                key: en.key.start,
                key_len,
                prefix: w.first().map_or(key_len, |w| w.pos),
                priority: en.priority,
                post: en.post,
                module: ModuleId(id),
                wild: en.wild.start,
                wild_len: en.wild.end - en.wild.start,
            });
        });
        Patterns { keys, wild, entries, names: mod_names, name_ends }
    }

    /// Bytes held.
    pub(crate) fn memory_usage(&self) -> usize {
        self.keys.len()
            + self.entries.len() * std::mem::size_of::<PEntry>()
            + self.wild.len() * std::mem::size_of::<WildPos>()
            + self.names.len()
            + self.name_ends.len() * 4
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the index had no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of a module.
    pub fn module_name(&self, m: ModuleId) -> &[u8] {
        let m = m.0 as usize;
        let start = if m == 0 { 0 } else { self.name_ends[m - 1] };
        &self.names[start as usize..self.name_ends[m] as usize]
    }

    pub(crate) fn key(&self, e: &PEntry) -> &[u8] {
        &self.keys[e.key as usize..(e.key + e.key_len) as usize]
    }

    pub(crate) fn wild(&self, e: &PEntry) -> &[WildPos] {
        &self.wild[e.wild as usize..(e.wild + e.wild_len) as usize]
    }

    /// Call `f(split)` for every time libkmod's search meets `e` when
    /// looking up `key` (see the module docs).
    pub(crate) fn visits(
        &self,
        e: &PEntry,
        key: &[u8],
        mut f: impl FnMut(u32),
    ) {
        let pat = self.key(e);
        let wild = self.wild(e);
        // Bytes pat[..ok] are known to equal key[..ok].
        let mut ok = 0usize;
        for w in wild {
            let s = w.pos as usize;
            if key.len() < s || key[ok..s] != pat[ok..s] {
                return;
            }
            if fnmatch(&pat[s..], &key[s..]) {
                f(s as u32);
            }
            if !w.edge || key.get(s) != Some(&pat[s]) {
                return;
            }
            ok = s + 1;
        }
        if key.len() == pat.len() && key[ok..] == pat[ok..] {
            f(pat.len() as u32);
        }
    }
}
