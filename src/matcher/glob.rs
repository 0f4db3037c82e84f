//! Wildcard tails compiled once, matched in one left-to-right pass.
//!
//! A tail such as `*sv*sd*bc0Csc03i*` is a list of fixed-length
//! *segments* separated by runs of `*`; each segment element is a byte,
//! `?` (any byte) or a bracket (a set of bytes). Since every element
//! but `*` consumes exactly one byte, the glob matches exactly when:
//! - the first segment matches at the start (unless a `*` precedes it),
//! - the last segment matches at the end (unless a `*` follows it),
//! - every middle segment matches, in order, somewhere in between; the
//!   leftmost place for each is always as good as any later one.
//!
//! That is the same language glibc's `fnmatch` accepts (it backtracks
//! only to the last `*`, which is the same argument). Brackets are
//! turned into 256-bit sets by asking [`super::fnmatch`] itself about
//! every byte, so their semantics cannot drift; a tail whose brackets
//! or escapes glibc reads in a context-dependent way is not compiled,
//! and the caller keeps using `fnmatch`.

use super::fnmatch::bracket_set;

/// One element of a segment: a byte (0..=255), any byte, or a set.
const ANY: u16 = 256;
const SET0: u16 = 257;

/// A compiled tail; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// (start in `Globs::elems`, length) per segment.
    segs: (u32, u16),
    lead_star: bool,
    trail_star: bool,
}

/// Every compiled tail of a matcher, in three flat tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Globs {
    globs: Vec<Glob>,
    segs: Vec<(u32, u16)>,
    elems: Vec<u16>,
    /// Literal bytes of each element (0 for `?` or sets), to compare
    /// all-literal segments with one slice comparison.
    lits: Vec<u8>,
    /// Per segment: true when every element is a plain byte.
    plain: Vec<bool>,
    sets: Vec<[u64; 4]>,
    /// Per glob: the [`Signature`] bits of every pair of adjacent plain
    /// bytes in its segments. A key whose signature lacks one of them
    /// cannot match, which spares most glob runs.
    needs: Vec<Signature>,
}

/// A 128-bit set of hashed byte pairs.
pub(crate) type Signature = [u64; 2];

#[inline(always)]
fn pair_bit(a: u8, b: u8) -> u32 {
    u32::from(u16::from_le_bytes([a, b]).wrapping_mul(0x9E37) >> 9)
}

/// The signature of every adjacent byte pair of `key`.
#[inline]
pub(crate) fn signature(key: &[u8]) -> Signature {
    let mut s = [0u64; 2];
    for w in key.windows(2) {
        let b = pair_bit(w[0], w[1]);
        s[(b >> 6) as usize & 1] |= 1 << (b & 63);
    }
    s
}

/// `a == b` for slices of equal length, without a call for the short
/// labels of the trie.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    debug_assert_eq!(n, b.len());
    let w8 = |x: &[u8], at: usize| {
        u64::from_le_bytes(x[at..at + 8].try_into().unwrap())
    };
    let w4 = |x: &[u8], at: usize| {
        u32::from_le_bytes(x[at..at + 4].try_into().unwrap())
    };
    match n {
        0 => true,
        1..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        4..=8 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        9..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

/// Index of a compiled tail in [`Globs`].
pub(crate) type GlobId = u32;

impl Globs {
    /// Compile `tail`, or `None` when it must stay with `fnmatch`.
    pub(crate) fn compile(&mut self, tail: &[u8]) -> Option<GlobId> {
        let mut segs: Vec<Vec<u16>> = vec![Vec::new()];
        let mut lead_star = false;
        let mut trail_star = false;
        let mut i = 0;
        let mut sets = Vec::new();
        while i < tail.len() {
            trail_star = false;
            match tail[i] {
                0 => return None,
                b'*' => {
                    if i == 0 {
                        lead_star = true;
                    }
                    trail_star = true;
                    if !segs.last().is_some_and(Vec::is_empty) {
                        segs.push(Vec::new());
                    }
                    i += 1;
                    continue;
                }
                b'?' => segs.last_mut()?.push(ANY),
                b'\\' => {
                    let c = *tail.get(i + 1)?;
                    if c == 0 {
                        return None;
                    }
                    segs.last_mut()?.push(u16::from(c));
                    i += 1;
                }
                b'[' => {
                    let (end, set) = bracket_set(tail, i)?;
                    let id = self.sets.len() + sets.len();
                    sets.push(set);
                    segs.last_mut()?.push(SET0 + u16::try_from(id).ok()?);
                    i = end;
                    continue;
                }
                c => segs.last_mut()?.push(u16::from(c)),
            }
            i += 1;
        }
        if segs.last().is_some_and(Vec::is_empty) {
            segs.pop();
        }
        if segs.len() > usize::from(u16::MAX)
            || self.sets.len() + sets.len() > usize::from(u16::MAX - SET0)
        {
            return None;
        }
        self.sets.extend(sets);
        let seg0 = self.segs.len() as u32;
        for s in &segs {
            self.segs.push((self.elems.len() as u32, s.len() as u16));
            self.plain.push(s.iter().all(|&e| e < ANY));
            self.elems.extend_from_slice(s);
            self.lits
                .extend(s.iter().map(|&e| if e < ANY { e as u8 } else { 0 }));
        }
        let mut need = [0u64; 2];
        for seg in &segs {
            for w in seg.windows(2) {
                if w[0] < ANY && w[1] < ANY {
                    let b = pair_bit(w[0] as u8, w[1] as u8);
                    need[(b >> 6) as usize & 1] |= 1 << (b & 63);
                }
            }
        }
        self.needs.push(need);
        self.globs.push(Glob {
            segs: (seg0, segs.len() as u16),
            lead_star,
            trail_star,
        });
        Some(self.globs.len() as GlobId - 1)
    }

    /// Does segment `s` match `key` at `at` (which must leave room)?
    #[inline]
    fn seg_at(&self, s: usize, key: &[u8], at: usize) -> bool {
        let (start, len) = self.segs[s];
        let (start, len) = (start as usize, usize::from(len));
        let k = &key[at..at + len];
        if self.plain[s] {
            return same(k, &self.lits[start..start + len]);
        }
        self.elems[start..start + len].iter().zip(k).all(|(&e, &c)| {
            if e < ANY {
                e == u16::from(c)
            } else if e == ANY {
                true
            } else {
                let set = &self.sets[usize::from(e - SET0)];
                set[usize::from(c >> 6)] & (1 << (c & 63)) != 0
            }
        })
    }

    /// Leftmost place at or after `from` where segment `s` matches
    /// with its end at most `limit`.
    #[inline]
    fn find(
        &self,
        s: usize,
        key: &[u8],
        from: usize,
        limit: usize,
    ) -> Option<usize> {
        let (start, len) = self.segs[s];
        let len = usize::from(len);
        if from + len > limit {
            return None;
        }
        let first = self.elems[start as usize];
        let mut at = from;
        while at + len <= limit {
            if first < ANY {
                // Keys are short: a plain loop beats a memchr call.
                let f = first as u8;
                at += key[at..=limit - len].iter().position(|&c| c == f)?;
            }
            if self.seg_at(s, key, at) {
                return Some(at);
            }
            at += 1;
        }
        None
    }

    /// False when a key of signature `sig` cannot match glob `g`.
    #[inline(always)]
    pub(crate) fn may_match(&self, g: GlobId, sig: &Signature) -> bool {
        let n = &self.needs[g as usize];
        (n[0] & !sig[0]) | (n[1] & !sig[1]) == 0
    }

    /// `fnmatch(tail, key) == 0` for the tail compiled as `g`.
    pub(crate) fn matches(&self, g: GlobId, key: &[u8]) -> bool {
        let g = &self.globs[g as usize];
        let (s0, n) = (g.segs.0 as usize, usize::from(g.segs.1));
        if n == 0 {
            // Only stars, or nothing at all.
            return g.lead_star || key.is_empty();
        }
        let mut lo = 0;
        let mut hi = key.len();
        let mut first = s0;
        let mut last = s0 + n;
        if !g.lead_star {
            let len = usize::from(self.segs[first].1);
            if len > hi || !self.seg_at(first, key, 0) {
                return false;
            }
            lo = len;
            first += 1;
            if n == 1 && !g.trail_star {
                return lo == hi;
            }
        }
        if !g.trail_star && first < last {
            last -= 1;
            let len = usize::from(self.segs[last].1);
            if hi < lo + len || !self.seg_at(last, key, hi - len) {
                return false;
            }
            hi -= len;
        }
        for s in first..last {
            match self.find(s, key, lo, hi) {
                Some(at) => lo = at + usize::from(self.segs[s].1),
                None => return false,
            }
        }
        // A `*` lies between whatever was anchored: the rest matches.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::fnmatch::fnmatch_nonul;

    /// Check a compiled tail against `fnmatch` (tests and fuzzing).
    /// `None` when the tail is not compiled.
    fn agrees(tail: &[u8], key: &[u8]) -> Option<bool> {
        let mut g = Globs::default();
        let id = g.compile(tail)?;
        Some(g.matches(id, key) == fnmatch_nonul(tail, key))
    }

    #[test]
    fn agrees_with_fnmatch() {
        let tails: &[&[u8]] = &[
            b"*",
            b"",
            b"*sv*sd*bc0Csc03i*",
            b"?",
            b"*a",
            b"a*",
            b"a",
            b"[0-9]*x?y*",
            b"*[!a]b",
            b"[]a]*",
            b"\\*x*",
            b"**a**b**",
            b"*ab*ab",
            b"ab*ab",
            b"*[[:digit:]]",
            b"x*[^q]",
        ];
        let keys: &[&[u8]] = &[
            b"",
            b"a",
            b"ab",
            b"abab",
            b"aab",
            b"sv1sd2bc0Csc03i9",
            b"7zxqy",
            b"]x",
            b"*xy",
            b"ba",
            b"bb",
            b"x1",
            b"xq",
            b"abxab",
        ];
        for t in tails {
            for k in keys {
                assert_eq!(agrees(t, k), Some(true), "{:?} {:?}", t, k);
            }
        }
        let mut x = 0x9e37_79b9_u32;
        let mut rnd = |n: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % n
        };
        let alpha = b"ab*?[]!^-\\";
        let mut compiled = 0;
        for _ in 0..200_000 {
            let t: Vec<u8> = (0..rnd(9))
                .map(|_| alpha[rnd(alpha.len() as u32) as usize])
                .collect();
            let k: Vec<u8> =
                (0..rnd(7)).map(|_| b"ab]-*"[rnd(5) as usize]).collect();
            if let Some(ok) = agrees(&t, &k) {
                assert!(ok, "{:?} {:?}", t, k);
                compiled += 1;
                let mut g = Globs::default();
                let id = g.compile(&t).unwrap();
                if g.matches(id, &k) {
                    assert!(g.may_match(id, &signature(&k)), "{t:?} {k:?}");
                }
            }
        }
        assert!(compiled > 100_000, "{compiled}");
    }
}
