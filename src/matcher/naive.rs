//! The naive reference matcher: every entry of the index, in index
//! order, checked one by one (a byte comparison of the literal part,
//! then glibc fnmatch on the rest). Slow and obviously right: the test
//! oracle for [`super::AliasMatcher`] and the benchmark baseline, like
//! the linear scan Android's libmodprobe does.

use super::order::{self, Hit};
use super::patterns::Patterns;
use super::ModuleId;
use crate::modindex::Index;

/// Linear scan over all patterns.
#[derive(Debug, Clone)]
pub struct NaiveMatcher {
    pats: Patterns,
}

impl NaiveMatcher {
    /// Take every entry of `index`.
    pub fn build(index: &Index) -> NaiveMatcher {
        NaiveMatcher { pats: Patterns::from_index(index) }
    }

    /// Look up a normalized key: `out` gets the hits in libkmod's order.
    pub fn lookup(&self, key: &[u8], out: &mut Vec<Hit>) {
        out.clear();
        for e in &self.pats.entries {
            self.pats.visits(e, key, |split| {
                out.push(Hit {
                    priority: e.priority,
                    visit: order::visit(split, e.post),
                    module: e.module,
                })
            });
        }
        order::finish(out);
    }

    /// The name of a module.
    pub fn module_name(&self, m: ModuleId) -> &[u8] {
        self.pats.module_name(m)
    }

    /// The entries.
    pub fn patterns(&self) -> &Patterns {
        &self.pats
    }
}
