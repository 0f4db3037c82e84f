//! Matching a normalized modalias against the patterns of one kmod
//! index (`modules.alias.bin`, `modules.builtin.alias.bin`), with
//! exactly libkmod's results: which entries match, how often, and in
//! which order. It knows nothing of the lookup chain or of policy.
//!
//! Engines, all checked against each other and against libkmod:
//! - [`AliasMatcher`]: compiled once, fast; the one to use.
//! - [`NaiveMatcher`]: fnmatch over every pattern; oracle and baseline.
//! - [`trie_lookup`]: a port of libkmod's own trie walk.
//!
//! ```
//! use coldplug::matcher::AliasMatcher;
//! use coldplug::modindex::{Index, IndexWriter};
//!
//! let mut w = IndexWriter::new();
//! w.insert(b"ccw:t3990m*dt3390dm*", b"dasd_eckd_mod", 3).unwrap();
//! w.insert(b"ap:t0C", b"zcrypt_cex4", 7).unwrap();
//! let index = Index::from_vec(w.to_bytes()).unwrap();
//! let m = AliasMatcher::build(&index);
//! let mut hits = Vec::new();
//! m.lookup(b"ccw:t3990m00dt3390dm00", &mut hits);
//! assert_eq!(m.module_name(hits[0].module), b"dasd_eckd_mod");
//! ```

mod alias;
mod compiled;
mod fields;
pub mod fnmatch;
mod fxhash;
mod glob;
mod naive;
pub mod order;
mod patterns;

pub use alias::AliasMatcher;
pub use naive::NaiveMatcher;
pub use order::Hit;
pub use patterns::Patterns;

use crate::modindex::Index;

/// A module of the index a matcher was built from (an index into its
/// interned names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleId(pub u32);

/// libkmod's own algorithm on the parsed trie: `index_mm_searchwild`
/// then `add_value`. Pushes (priority, module name) in libkmod's
/// order. Exact by construction; slower than [`AliasMatcher`].
pub fn trie_lookup<'i>(
    index: &'i Index,
    key: &[u8],
    out: &mut Vec<(u32, &'i [u8])>,
) {
    let mut seq = Vec::new();
    index.search_wild(key, &fnmatch::fnmatch, &mut |v| seq.push(v));
    let mut hits: Vec<Hit> = seq
        .iter()
        .enumerate()
        .map(|(i, &v)| Hit {
            priority: index.value(v).priority,
            visit: i as u64,
            module: ModuleId(v),
        })
        .collect();
    order::finish(&mut hits);
    out.clear();
    out.extend(hits.iter().map(|h| {
        let v = index.value(h.module.0);
        (v.priority, index.value_str(v))
    }));
}

/// A matcher of either kind, so callers can pick one at run time.
// One per index and resolver: the size of the enum does not matter, a
// box would add a load to every lookup.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The compiled matcher.
    Compiled(AliasMatcher),
    /// The naive scan.
    Naive(NaiveMatcher),
}

impl Matcher {
    /// Look up a normalized key; hits in libkmod's order.
    pub fn lookup(&self, key: &[u8], out: &mut Vec<Hit>) {
        match self {
            Matcher::Compiled(m) => m.lookup(key, out),
            Matcher::Naive(m) => m.lookup(key, out),
        }
    }

    /// [`Matcher::lookup`] when the caller knows whether `key` holds a
    /// wildcard byte (`*`, `?`, `[`).
    pub fn lookup_wild(&self, key: &[u8], general: bool, out: &mut Vec<Hit>) {
        match self {
            Matcher::Compiled(m) => m.lookup_wild(key, general, out),
            Matcher::Naive(m) => m.lookup(key, out),
        }
    }

    /// False when no entry can match `key` (a cheap test on its first
    /// byte; always true for the naive scan).
    #[inline]
    pub fn may_match(&self, key: &[u8]) -> bool {
        match self {
            Matcher::Compiled(m) => m.may_match(key),
            Matcher::Naive(_) => true,
        }
    }

    /// The name of a module.
    pub fn module_name(&self, id: ModuleId) -> &[u8] {
        match self {
            Matcher::Compiled(m) => m.module_name(id),
            Matcher::Naive(m) => m.module_name(id),
        }
    }
}
