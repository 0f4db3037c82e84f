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
use crate::swar::{pair_hash, splat, zeros};

/// One element of a segment: a byte (0..=255), any byte, or a set.
const ANY: u16 = 256;
const SET0: u16 = 257;

/// A compiled tail; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// Its segments: (first index in `Globs::segs`, count).
    segs: (u32, u16),
    lead_star: bool,
    trail_star: bool,
    /// The first bytes of its middle segments (`Seg::slot` indexes
    /// them), when they are all plain and at most four: a key of at
    /// most 64 bytes then gets a bitmap of where each occurs in one
    /// pass, and each segment is searched through its bitmap.
    firsts: Option<[u8; FIRSTS]>,
}

/// Distinct first bytes a glob's middle segments may have for the
/// bitmap search (`usb`'s `*dc*dsc*dp*ic*isc*ip*in*` has two, pci's
/// `*sv*sd*bc*sc*i*` three).
const FIRSTS: usize = 4;

/// Every compiled tail of a matcher, in flat tables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Globs {
    globs: Vec<Glob>,
    segs: Vec<Seg>,
    elems: Vec<u16>,
    sets: Vec<[u64; 4]>,
    /// Per glob: the [`Signature`] bits of every pair of adjacent plain
    /// bytes in its segments. A key whose signature lacks one of them
    /// cannot match, which spares most glob runs.
    needs: Vec<Signature>,
}

/// A 64-bit set of hashed byte pairs.
pub(crate) type Signature = u64;

/// The signature of every adjacent byte pair of `key`: sixteen pairs a
/// step ([`crate::swar::pair_hashes16`]; the last step overlaps the one
/// before, which sets no bit twice over), or for a key too short for
/// that, seven pairs from each 8-byte load.
#[inline]
pub(crate) fn signature(key: &[u8]) -> Signature {
    let mut sig = 0u64;
    if key.len() >= 17 {
        let last = key.len() - 17;
        let mut i = 0;
        loop {
            for mut w in crate::swar::pair_hashes16(key, i.min(last)) {
                for _ in 0..8 {
                    sig |= 1 << (w & 63);
                    w >>= 8;
                }
            }
            if i >= last {
                return sig;
            }
            i += 16;
        }
    }
    let mut i = 0;
    while i + 8 <= key.len() {
        let w = u64::from_le_bytes(key[i..i + 8].try_into().unwrap());
        for k in 0..7 {
            sig |= 1 << pair_hash((w >> (8 * k)) as u16);
        }
        i += 7;
    }
    while i + 1 < key.len() {
        sig |= 1 << pair_hash(u16::from_le_bytes([key[i], key[i + 1]]));
        i += 1;
    }
    sig
}

/// One segment. Its first eight elements are also kept as a word and
/// a mask (`?` and sets masked out), so most comparisons are one load,
/// one xor and one and; `exact` says the word settles it. A segment of
/// 9 to 16 plain bytes also keeps its last eight as `word2`, which
/// settles the rest.
#[derive(Debug, Clone, Copy)]
struct Seg {
    start: u32,
    len: u16,
    /// Every element is a plain byte and there are at most eight.
    exact: bool,
    /// The first element is a plain byte.
    first_plain: bool,
    /// The index of the first element in its glob's `firsts`.
    slot: u8,
    /// 9 to 16 plain bytes: `word` and `word2` settle it.
    two_words: bool,
    word: u64,
    mask: u64,
    word2: u64,
}

/// Eight bytes of `key` from `at`, zero past its end.
#[inline(always)]
pub(crate) fn load8(key: &[u8], at: usize) -> u64 {
    match key.get(at..at + 8) {
        Some(w) => u64::from_le_bytes(w.try_into().unwrap()),
        None => {
            let mut b = [0u8; 8];
            let rest = key.get(at..).unwrap_or(&[]);
            b[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(b)
        }
    }
}

/// Index of a compiled tail in [`Globs`].
pub(crate) type GlobId = u32;

impl Globs {
    /// Compile `tail`, or `None` when it must stay with `fnmatch`.
    pub(crate) fn compile(&mut self, tail: &[u8]) -> Option<GlobId> {
        let marks = (self.segs.len(), self.elems.len(), self.sets.len());
        let glob = self.parse(tail);
        if glob.is_none() {
            self.segs.truncate(marks.0);
            self.elems.truncate(marks.1);
            self.sets.truncate(marks.2);
        }
        glob
    }

    /// [`Globs::compile`], appending the segments, elements and sets
    /// straight to the tables (the caller drops them on `None`).
    fn parse(&mut self, tail: &[u8]) -> Option<GlobId> {
        let seg0 = self.segs.len();
        let mut lead_star = false;
        let mut trail_star = false;
        let mut need = 0;
        let mut start = self.elems.len();
        let mut i = 0;
        while i < tail.len() {
            trail_star = false;
            match tail[i] {
                0 => return None,
                b'*' => {
                    if i == 0 {
                        lead_star = true;
                    }
                    trail_star = true;
                    need |= self.close_seg(start);
                    start = self.elems.len();
                }
                b'?' => self.elems.push(ANY),
                b'\\' => {
                    let c = *tail.get(i + 1)?;
                    if c == 0 {
                        return None;
                    }
                    self.elems.push(u16::from(c));
                    i += 1;
                }
                b'[' => {
                    let (end, set) = bracket_set(tail, i)?;
                    let id = u16::try_from(self.sets.len()).ok()?;
                    self.elems.push(SET0.checked_add(id)?);
                    self.sets.push(set);
                    i = end;
                    continue;
                }
                c => self.elems.push(u16::from(c)),
            }
            i += 1;
        }
        need |= self.close_seg(start);
        let nsegs = self.segs.len() - seg0;
        if nsegs > usize::from(u16::MAX)
            || self.sets.len() > usize::from(u16::MAX - SET0)
        {
            return None;
        }
        self.needs.push(need);
        let mut glob = Glob {
            segs: (seg0 as u32, nsegs as u16),
            lead_star,
            trail_star,
            firsts: None,
        };
        glob.firsts = self.firsts(&glob);
        self.globs.push(glob);
        Some(self.globs.len() as GlobId - 1)
    }

    /// Make the elements from `start` on a segment, unless there are
    /// none (a run of `*`); returns the signature bits of its pairs of
    /// plain bytes.
    fn close_seg(&mut self, start: usize) -> Signature {
        let s = &self.elems[start..];
        if s.is_empty() {
            return 0;
        }
        let (mut word, mut mask) = (0u64, 0u64);
        for (k, &e) in s.iter().take(8).enumerate() {
            if e < ANY {
                word |= u64::from(e) << (8 * k);
                mask |= 0xff << (8 * k);
            }
        }
        let mut need = 0u64;
        for w in s.windows(2) {
            if w[0] < ANY && w[1] < ANY {
                need |= 1
                    << pair_hash(u16::from_le_bytes([w[0] as u8, w[1] as u8]));
            }
        }
        let plain = s.iter().all(|&e| e < ANY);
        let two_words = plain && (9..=16).contains(&s.len());
        let word2 = if two_words {
            s[s.len() - 8..]
                .iter()
                .enumerate()
                .fold(0, |w, (k, &e)| w | u64::from(e) << (8 * k))
        } else {
            0
        };
        self.segs.push(Seg {
            start: start as u32,
            len: s.len() as u16,
            exact: s.len() <= 8 && plain,
            first_plain: s[0] < ANY,
            slot: 0,
            two_words,
            word,
            mask,
            word2,
        });
        need
    }

    /// The middle segments of `g` (those searched for; the others are
    /// anchored), as a range of `segs`.
    fn middle(g: &Glob) -> std::ops::Range<usize> {
        let (s0, n) = (g.segs.0 as usize, usize::from(g.segs.1));
        let lo = usize::from(!g.lead_star).min(n);
        let hi = n - usize::from(!g.trail_star && n > lo);
        s0 + lo..s0 + hi
    }

    /// `Glob::firsts` for `g`; sets its segments' `slot`s.
    fn firsts(&mut self, g: &Glob) -> Option<[u8; FIRSTS]> {
        let mid = Globs::middle(g);
        let segs = &mut self.segs[mid];
        if segs.len() < 2 || segs.iter().any(|s| !s.first_plain) {
            return None;
        }
        let mut firsts = [segs[0].word as u8; FIRSTS];
        let mut n = 0;
        for s in segs.iter_mut() {
            let b = s.word as u8;
            s.slot = match firsts[..n].iter().position(|&f| f == b) {
                Some(k) => k as u8,
                None if n < FIRSTS => {
                    firsts[n] = b;
                    n += 1;
                    n as u8 - 1
                }
                None => return None,
            };
        }
        Some(firsts)
    }

    /// Does segment `s` match `key` at `at` (which must leave room)?
    #[inline(always)]
    fn seg_at(&self, s: &Seg, key: &[u8], at: usize) -> bool {
        if (load8(key, at) ^ s.word) & s.mask != 0 {
            return false;
        }
        if s.exact {
            return true;
        }
        if s.two_words {
            return load8(key, at + usize::from(s.len) - 8) == s.word2;
        }
        self.seg_rest(s, key, at)
    }

    /// [`Globs::seg_at`] for what the word does not settle.
    fn seg_rest(&self, s: &Seg, key: &[u8], at: usize) -> bool {
        let (start, len) = (s.start as usize, usize::from(s.len));
        let k = &key[at..at + len];
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
    /// with its end at most `limit`. Places are tried eight at a time:
    /// those where the key has the segment's first byte.
    #[inline]
    fn find(
        &self,
        s: &Seg,
        key: &[u8],
        from: usize,
        limit: usize,
    ) -> Option<usize> {
        let len = usize::from(s.len);
        if from + len > limit {
            return None;
        }
        let last = limit - len;
        let mut at = from;
        if !s.first_plain {
            while at <= last {
                if self.seg_at(s, key, at) {
                    return Some(at);
                }
                at += 1;
            }
            return None;
        }
        let first = splat(s.word as u8);
        while at <= last {
            // The high bit of each byte equal to the first element.
            let mut m = zeros(load8(key, at) ^ first);
            while m != 0 {
                let pos = at + (m.trailing_zeros() / 8) as usize;
                if pos > last {
                    return None;
                }
                if self.seg_at(s, key, pos) {
                    return Some(pos);
                }
                m &= m - 1;
            }
            at += 8;
        }
        None
    }

    /// [`Globs::find`] through `at`, a bitmap of the places where the
    /// key (at most 64 bytes) has the segment's first byte.
    #[inline]
    fn find_in(
        &self,
        s: &Seg,
        key: &[u8],
        from: usize,
        limit: usize,
        at: u64,
    ) -> Option<usize> {
        let len = usize::from(s.len);
        if from + len > limit {
            return None;
        }
        let last = limit - len;
        // Places from `from` to `last` (both below 64).
        let mut m = at & (!0u64 << from) & (!0u64 >> (63 - last));
        while m != 0 {
            let pos = m.trailing_zeros() as usize;
            if self.seg_at(s, key, pos) {
                return Some(pos);
            }
            m &= m - 1;
        }
        None
    }

    /// The signature bits every key matching `g` has.
    pub(crate) fn need(&self, g: GlobId) -> Signature {
        self.needs[g as usize]
    }

    /// False when a key of signature `sig` cannot match glob `g`.
    #[cfg(test)]
    pub(crate) fn may_match(&self, g: GlobId, sig: Signature) -> bool {
        self.needs[g as usize] & !sig == 0
    }

    /// `fnmatch(tail, key) == 0` for the tail compiled as `g`.
    pub(crate) fn matches(&self, g: GlobId, key: &[u8]) -> bool {
        let g = &self.globs[g as usize];
        let segs = &self.segs[g.segs.0 as usize..][..usize::from(g.segs.1)];
        let Some((head, _)) = segs.split_first() else {
            // Only stars, or nothing at all.
            return g.lead_star || key.is_empty();
        };
        let mut lo = 0;
        let mut hi = key.len();
        let mut mid = segs;
        if !g.lead_star {
            let len = usize::from(head.len);
            if len > hi || !self.seg_at(head, key, 0) {
                return false;
            }
            if segs.len() == 1 && !g.trail_star {
                return len == hi;
            }
            lo = len;
            mid = &mid[1..];
        }
        if !g.trail_star {
            if let Some((tail, rest)) = mid.split_last() {
                let len = usize::from(tail.len);
                if hi < lo + len || !self.seg_at(tail, key, hi - len) {
                    return false;
                }
                hi -= len;
                mid = rest;
            }
        }
        match g.firsts {
            Some(firsts) if key.len() <= 64 && !key.is_empty() => {
                let at = crate::swar::masks64(key, 0, firsts);
                for s in mid {
                    let m = at[usize::from(s.slot)];
                    match self.find_in(s, key, lo, hi, m) {
                        Some(at) => lo = at + usize::from(s.len),
                        None => return false,
                    }
                }
            }
            _ => {
                for s in mid {
                    match self.find(s, key, lo, hi) {
                        Some(at) => lo = at + usize::from(s.len),
                        None => return false,
                    }
                }
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

    #[test]
    fn signature_has_the_bit_of_every_pair() {
        let key: Vec<u8> = (0..80u32).map(|i| (i * 29 % 97) as u8).collect();
        for len in 0..key.len() {
            let k = &key[..len];
            let want = k.windows(2).fold(0u64, |s, w| {
                s | 1 << pair_hash(u16::from_le_bytes([w[0], w[1]]))
            });
            assert_eq!(signature(k), want, "{len}");
        }
    }

    /// The compiled tail answers as `fnmatch` does, and the signature
    /// prefilter lets every match through. `None` when the tail is not
    /// compiled.
    fn agrees(tail: &[u8], key: &[u8]) -> Option<bool> {
        let mut g = Globs::default();
        let id = g.compile(tail)?;
        let hit = g.matches(id, key);
        let sig_ok = !hit || g.may_match(id, signature(key));
        Some(hit == fnmatch_nonul(tail, key) && sig_ok)
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
            // Segments of 9 to 16 plain bytes (two words): first,
            // middle, last.
            b"aabbaabba*",
            b"*abaabbabab*b",
            b"*abababababababab",
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
            b"aabbaabba",
            b"aabbaabbab",
            b"xabaabbababb",
            b"xabaabbabaab",
            b"abababababababab",
            b"babababababababab",
            b"bbababababababab",
            // The first eight bytes agree, the last eight do not.
            b"ababababababbbab",
            b"aabbaabbb",
        ];
        for t in tails {
            for k in keys {
                assert_eq!(agrees(t, k), Some(true), "{:?} {:?}", t, k);
            }
        }
        let mut rng = crate::test_rng::XorShift::new(0x9e37_79b9);
        let alpha = b"ab*?[]!^-\\";
        let mut compiled = 0;
        let mut long_matches = 0;
        for round in 0..200_000 {
            // Half short, half long, so segments and keys span the
            // 8-byte words; the long ones mostly plain bytes so that
            // some of them match.
            let (t, k) = if round % 2 == 0 {
                let t = rng.bytes(9, alpha);
                (t, rng.bytes(7, b"ab]-*"))
            } else {
                let mut t = rng.bytes(40, b"ababab***?[]");
                if rng.below(2) == 0 {
                    t.insert(0, b'*');
                }
                (t, rng.bytes(40, b"ab"))
            };
            if t.len() > 10 && k.len() > 10 && fnmatch_nonul(&t, &k) {
                long_matches += 1;
            }
            if let Some(ok) = agrees(&t, &k) {
                assert!(ok, "{:?} {:?}", t, k);
                compiled += 1;
            }
        }
        assert!(compiled > 100_000, "{compiled}");
        assert!(long_matches > 1_000, "{long_matches}");
    }
}
