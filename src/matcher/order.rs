//! libkmod's result order, in one place.
//!
//! libkmod collects values with `add_value` (kmod v30
//! `libkmod/libkmod-index.c`): each value goes in before the first one
//! whose priority is greater or equal. The list is therefore ascending
//! by priority, and values of equal priority come out in reverse order
//! of insertion (LIFO). Nothing is deduplicated. depmod stores the
//! module's rank in modules.order as the priority of modules.alias.bin
//! values and 0 for modules.builtin.alias.bin, whose results therefore
//! come out in reverse traversal order.
//!
//! Every engine records, with each hit, when libkmod's traversal would
//! have met it ([`Hit::visit`], larger is later); [`finish`] then sorts.

use super::ModuleId;

/// One value a lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The value's priority in the index.
    pub priority: u32,
    /// When libkmod's traversal meets this value; later visits have
    /// larger numbers (see [`visit`]).
    pub visit: u64,
    /// The module.
    pub module: ModuleId,
}

/// The visit number of an entry met at split position `split` (where
/// libkmod switched from comparing bytes to fnmatch, or the key length
/// for an exact hit) with post-order rank `post`. libkmod's search
/// meets entries split by split along the key, and within one split in
/// post-order.
pub fn visit(split: u32, post: u32) -> u64 {
    (u64::from(split) << 32) | u64::from(post)
}

/// Put `hits` in libkmod's order: ascending priority, ties latest
/// visit first.
pub fn finish(hits: &mut [Hit]) {
    if hits.len() < 2 {
        return;
    }
    hits.sort_unstable_by(|a, b| {
        a.priority.cmp(&b.priority).then(b.visit.cmp(&a.visit))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libkmod's `add_value`, literally, on visits in traversal order.
    fn add_value(seq: &[(u32, u32)]) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for &(prio, id) in seq {
            let at = out.iter().position(|&(p, _)| p >= prio);
            out.insert(at.unwrap_or(out.len()), (prio, id));
        }
        out
    }

    #[test]
    fn finish_is_add_value() {
        let mut rng = crate::test_rng::XorShift::new(0x2545_f491);
        for _ in 0..200 {
            let n = rng.below(20) as u32;
            let seq: Vec<(u32, u32)> =
                (0..n).map(|i| (rng.below(4) as u32, i)).collect();
            let mut hits: Vec<Hit> = seq
                .iter()
                .map(|&(p, i)| Hit {
                    priority: p,
                    visit: u64::from(i),
                    module: ModuleId(i),
                })
                .collect();
            finish(&mut hits);
            let got: Vec<(u32, u32)> =
                hits.iter().map(|h| (h.priority, h.module.0)).collect();
            assert_eq!(got, add_value(&seq));
        }
    }
}
