//! Byte masks for the parsers: which of sixteen bytes are a separator,
//! a '=', a NUL. The parsers walk the set bits in order, so every byte
//! of a record is compared once, sixteen at a time, and no call is made
//! per entry.
//!
//! Why not `memchr`: entries are short (a key of 4 to 12 bytes, a value
//! of 1 to 40), so the setup and dispatch of a vector `memchr` call cost
//! more than the search; two calls per entry were half of the parse
//! time (callgrind on `kernel-trigger.nl`).
//!
//! On x86_64 the masks come from SSE2 (`pcmpeqb`, `pmovmskb`), part of
//! the architecture's baseline. That takes an `unsafe` block in each
//! SSE2 function here (`masks16_full` says why): Rust does not count
//! baseline features as enabled when checking calls to
//! `#[target_feature]` functions. Memory is only read through safe
//! slices. Everywhere else, and with
//! `RUSTFLAGS="--cfg coldplug_portable"`, the same masks come from plain
//! `u64` arithmetic ("SIMD within a register"); the tests compare both
//! paths with a byte loop. build.rs names the choice: the SSE2 paths
//! are compiled under `cfg(coldplug_sse2)`, the portable ones under its
//! `not`.
//!
//! `zeros(x)` sets the high bit of exactly the bytes of `x` that are 0:
//! `(y & 0x7f) + 0x7f` has its high bit set iff the low seven bits are
//! not all zero, `| y` adds the bytes whose high bit is set, and no step
//! carries into the next byte, so there are no false positives.

// `cfg(coldplug_sse2)` (build.rs) selects the SSE2 paths below, and
// `not(coldplug_sse2)` their portable twins; it must never stand where
// the intrinsics are not sound.
#[cfg(all(
    coldplug_sse2,
    not(all(target_arch = "x86_64", target_feature = "sse2"))
))]
compile_error!("cfg(coldplug_sse2) is set without x86_64 sse2");

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of every byte of `x` that is 0, and no other bit.
#[inline(always)]
pub(crate) fn zeros(x: u64) -> u64 {
    !(((x & !HI).wrapping_add(!HI)) | x) & HI
}

/// `b` in every byte.
#[inline(always)]
pub(crate) fn splat(b: u8) -> u64 {
    LO * u64::from(b)
}

/// The eight bytes of `hay` at `i`, little-endian.
#[inline(always)]
pub(crate) fn word(hay: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(hay[i..i + 8].try_into().unwrap())
}

/// `hay[i..i + n] == hay[j..j + n]` (both in bounds), with no call
/// when `n` is at most 8 and eight bytes can be read at `i` and `j`:
/// for an action (3 to 7 bytes), `memcmp`'s call and dispatch cost more
/// than the comparison. (For longer values, such as a devpath, word
/// loops were slower than `memcmp`.)
#[inline(always)]
pub(crate) fn eq_within(hay: &[u8], i: usize, j: usize, n: usize) -> bool {
    if n <= 8 && i.max(j) + 8 <= hay.len() {
        // Compare words, keep the low `n` bytes.
        let diff = word(hay, i) ^ word(hay, j);
        return n == 0 || diff << (64 - 8 * n as u32) == 0;
    }
    hay[i..i + n] == hay[j..j + n]
}

/// Compress the high bits of `zeros` output to one bit per byte.
// The portable path is compiled everywhere, used on x86_64 by tests.
#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn compress(m: u64) -> u32 {
    // Bits 7, 15, .. 63 to bits 0..8: a multiply gathers them in the top
    // byte (each product bit comes from exactly one source bit).
    ((m >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// Bit `k` of mask `n` is set when `hay[i + k] == bytes[n]`, for `k` in
/// 0..16; bytes past the end of `hay` match nothing. `i < hay.len()`.
#[inline(always)]
pub(crate) fn masks16<const N: usize>(
    hay: &[u8],
    i: usize,
    bytes: [u8; N],
) -> [u32; N] {
    partial16(hay, i, |h, at| masks16_full(h, at, bytes))
}

/// `full(hay, i)`, masks of sixteen bytes from `i`, for a `hay` that may
/// end before `i + 16`: bytes past its end match nothing.
#[inline(always)]
fn partial16<const N: usize>(
    hay: &[u8],
    i: usize,
    full: impl Fn(&[u8], usize) -> [u32; N],
) -> [u32; N] {
    let rem = hay.len() - i;
    if rem >= 16 {
        return full(hay, i);
    }
    if hay.len() >= 16 {
        // The last sixteen bytes, with the bits before `i` shifted out.
        let shift = 16 - rem as u32;
        return full(hay, hay.len() - 16).map(|m| m >> shift);
    }
    let mut w = [0u8; 16];
    w[..rem].copy_from_slice(&hay[i..]);
    let live = (1u32 << rem) - 1;
    full(&w, 0).map(|m| m & live)
}

/// [`masks16`] for sets of bytes: bit `k` of mask `n` is set when
/// `hay[i + k]` is one of `sets[n]` (repeat a byte to look for fewer
/// than three): one mask for several bytes costs one `pmovmskb`.
#[inline(always)]
pub(crate) fn masks16_any<const N: usize>(
    hay: &[u8],
    i: usize,
    sets: [[u8; 3]; N],
) -> [u32; N] {
    partial16(hay, i, |h, at| masks16_any_full(h, at, sets))
}

/// [`masks16`] for 64 bytes: bit `k` of mask `n` is set when
/// `hay[i + k] == bytes[n]`, for `k` in 0..64; bytes past the end match
/// nothing. Walking 64 bytes per step makes the loop overhead of a scan
/// a quarter of the 16-byte one (an entry is 12 bytes on average).
#[inline(always)]
pub(crate) fn masks64<const N: usize>(
    hay: &[u8],
    i: usize,
    bytes: [u8; N],
) -> [u64; N] {
    let mut out = [0u64; N];
    let mut put = |k: usize, m: [u32; N]| {
        for (o, m) in out.iter_mut().zip(m) {
            *o |= u64::from(m) << (16 * k);
        }
    };
    let rem = hay.len() - i;
    if rem >= 64 {
        for k in 0..4 {
            put(k, masks16_full(hay, i + 16 * k, bytes));
        }
    } else if hay.len() >= 64 {
        // The last 64 bytes, with the bits before `i` shifted out: four
        // full loads instead of up to four partial ones (the end of a
        // record is usually in the middle of a block).
        let at = hay.len() - 64;
        for k in 0..4 {
            put(k, masks16_full(hay, at + 16 * k, bytes));
        }
        return out.map(|m| m >> (64 - rem));
    } else {
        let mut k = 0;
        while k < 4 && i + 16 * k < hay.len() {
            put(k, masks16(hay, i + 16 * k, bytes));
            k += 1;
        }
    }
    out
}

/// [`masks16`] for sixteen bytes that are all there, portable.
#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn masks16_portable<const N: usize>(
    hay: &[u8],
    i: usize,
    bytes: [u8; N],
) -> [u32; N] {
    masks16_any_portable(hay, i, bytes.map(|b| [b; 3]))
}

#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn masks16_any_portable<const N: usize>(
    hay: &[u8],
    i: usize,
    sets: [[u8; 3]; N],
) -> [u32; N] {
    let (lo, hi) = (word(hay, i), word(hay, i + 8));
    sets.map(|set| {
        let z = |w: u64| set.iter().fold(0, |m, &b| m | zeros(w ^ splat(b)));
        compress(z(lo)) | compress(z(hi)) << 8
    })
}

#[cfg(coldplug_sse2)]
#[inline(always)]
fn masks16_any_full<const N: usize>(
    hay: &[u8],
    i: usize,
    sets: [[u8; 3]; N],
) -> [u32; N] {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x,
    };
    let (lo, hi) = (word(hay, i), word(hay, i + 8));
    // SAFETY: as in `masks16_full`: sse2 is guaranteed by the cfg, and
    // the intrinsics take values, not pointers.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let eq = |b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
        sets.map(|[a, b, c]| {
            let m = _mm_or_si128(_mm_or_si128(eq(a), eq(b)), eq(c));
            _mm_movemask_epi8(m) as u32
        })
    }
}

#[cfg(not(coldplug_sse2))]
#[inline(always)]
fn masks16_any_full<const N: usize>(
    hay: &[u8],
    i: usize,
    sets: [[u8; 3]; N],
) -> [u32; N] {
    masks16_any_portable(hay, i, sets)
}

/// One byte compare and one `pmovmskb` per byte looked for. The
/// intrinsics are called directly rather than from a
/// `#[target_feature(enable = "sse2")]` function, which cannot be
/// `#[inline(always)]`: left to the inliner, that function was not
/// inlined into the monitor reader once the crate's other code changed
/// (+8% instructions there).
#[cfg(coldplug_sse2)]
#[inline(always)]
fn masks16_full<const N: usize>(
    hay: &[u8],
    i: usize,
    bytes: [u8; N],
) -> [u32; N] {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set1_epi8, _mm_set_epi64x,
    };
    let (lo, hi) = (word(hay, i), word(hay, i + 8));
    // SAFETY: the intrinsics only require the sse2 target feature,
    // which `coldplug_sse2` guarantees at compile time: build.rs sets it
    // only where sse2 is enabled (part of the x86_64 baseline), and the
    // guard by `LO` refuses it anywhere else. They take values, no
    // pointers: memory is read through safe slices.
    unsafe {
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        bytes.map(|b| {
            _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8))) as u32
        })
    }
}

#[cfg(not(coldplug_sse2))]
#[inline(always)]
fn masks16_full<const N: usize>(
    hay: &[u8],
    i: usize,
    bytes: [u8; N],
) -> [u32; N] {
    masks16_portable(hay, i, bytes)
}

/// Bit `k` is set when `b[k]` is 0 or at least `min` (in `1..=0x80`):
/// where runs of bytes in `1..min` end, for a parser that steps from
/// run to run with `trailing_zeros` instead of searching each.
#[cfg(coldplug_sse2)]
#[inline(always)]
pub(crate) fn run_ends64(b: &[u8; 64], min: u8) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_set_epi64x, _mm_sub_epi8,
    };
    debug_assert!((1..=0x80).contains(&min));
    let mut out = 0u64;
    // SAFETY: as in `masks16_full`: sse2 is guaranteed by the cfg, and
    // the intrinsics take values, not pointers.
    unsafe {
        // x - 1 wraps 0 to 255: one unsigned compare, `x - 1 >= min - 1`,
        // then finds both.
        let one = _mm_set1_epi8(1);
        let floor = _mm_set1_epi8((min - 1) as i8);
        for k in 0..4 {
            let at = 16 * k;
            let v = _mm_set_epi64x(word(b, at + 8) as i64, word(b, at) as i64);
            let y = _mm_sub_epi8(v, one);
            let m = _mm_cmpeq_epi8(_mm_max_epu8(y, floor), y);
            out |= u64::from(_mm_movemask_epi8(m) as u16) << at;
        }
    }
    out
}

#[cfg(not(coldplug_sse2))]
#[inline(always)]
pub(crate) fn run_ends64(b: &[u8; 64], min: u8) -> u64 {
    run_ends64_portable(b, min)
}

/// The high bit of each byte of `x` that is 0 or at least `min` (in
/// `1..=0x80`): `(x | HI) - min` keeps a byte's high bit when its low
/// seven bits are at least `min`; `| x` adds the bytes from 0x80,
/// `zeros` the zero bytes.
#[inline(always)]
pub(crate) fn run_ends(x: u64, min: u8) -> u64 {
    ((x | HI).wrapping_sub(splat(min)) | x | zeros(x)) & HI
}

/// [`run_ends64`], portable: [`run_ends`] a word at a time.
#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn run_ends64_portable(b: &[u8; 64], min: u8) -> u64 {
    let mut out = 0u64;
    for k in 0..8 {
        let e = run_ends(word(b, 8 * k), min);
        out |= u64::from(compress(e)) << (8 * k);
    }
    out
}

/// Whether `hay` has a byte below `0` (0x30) or one of `?[\]`, and
/// whether it has a `:`: the bytes alias normalization may act on
/// (NUL, `-`, `*`, `?`, brackets) all fall in the first set, which a
/// modalias (hex digits, letters, `_`, `:`) never meets. Four
/// operations a byte class, sixteen bytes a step, one test at the end.
#[inline(always)]
pub(crate) fn odd_bytes_and_colons(hay: &[u8]) -> (bool, bool) {
    if hay.is_empty() {
        return (false, false);
    }
    // Short: padded with `A`, in neither set.
    let mut pad = [b'A'; 16];
    let hay = if hay.len() >= 16 {
        hay
    } else {
        pad[..hay.len()].copy_from_slice(hay);
        &pad[..]
    };
    // The last sixteen bytes again, overlapping: no answer changes.
    let chunks = hay.chunks_exact(16);
    let last = &hay[hay.len() - 16..];
    odd_bytes_and_colons_in(chunks.chain(std::iter::once(last)))
}

#[cfg(coldplug_sse2)]
#[inline(always)]
fn odd_bytes_and_colons_in<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (bool, bool) {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x, _mm_setzero_si128,
        _mm_sub_epi8, _mm_xor_si128,
    };
    // SAFETY: as in `masks16_full`: sse2 is guaranteed by the cfg, and
    // the intrinsics take values, not pointers.
    unsafe {
        let (mut low, mut odd) = (_mm_setzero_si128(), _mm_setzero_si128());
        let mut colon = _mm_setzero_si128();
        for c in chunks {
            let v = _mm_set_epi64x(word(c, 8) as i64, word(c, 0) as i64);
            // x >= 0x30, unsigned: all ones where that holds.
            let ge = _mm_cmpeq_epi8(_mm_max_epu8(v, _mm_set1_epi8(0x30)), v);
            low = _mm_or_si128(low, _mm_xor_si128(ge, _mm_set1_epi8(-1)));
            // `[`, `\`, `]`: x - 0x5b <= 2, unsigned.
            let y = _mm_sub_epi8(v, _mm_set1_epi8(0x5b));
            let br = _mm_cmpeq_epi8(_mm_min_epu8(y, _mm_set1_epi8(2)), y);
            let q = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'?' as i8));
            odd = _mm_or_si128(odd, _mm_or_si128(br, q));
            colon = _mm_or_si128(
                colon,
                _mm_cmpeq_epi8(v, _mm_set1_epi8(b':' as i8)),
            );
        }
        (
            _mm_movemask_epi8(_mm_or_si128(low, odd)) != 0,
            _mm_movemask_epi8(colon) != 0,
        )
    }
}

#[cfg(not(coldplug_sse2))]
#[inline(always)]
fn odd_bytes_and_colons_in<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (bool, bool) {
    odd_bytes_and_colons_portable(chunks)
}

/// [`odd_bytes_and_colons_in`], portable: a byte is at least 0x30 when
/// its high bit is set or `(x | HI) - 0x30` keeps it.
#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn odd_bytes_and_colons_portable<'a>(
    chunks: impl Iterator<Item = &'a [u8]>,
) -> (bool, bool) {
    let (mut odd, mut colon) = (0u64, 0u64);
    for c in chunks {
        for x in [word(c, 0), word(c, 8)] {
            let ge = ((x | HI).wrapping_sub(splat(0x30)) | x) & HI;
            odd |= !ge & HI;
            for b in [b'?', b'[', b'\\', b']'] {
                odd |= zeros(x ^ splat(b));
            }
            colon |= zeros(x ^ splat(b':'));
        }
    }
    (odd != 0, colon != 0)
}

/// The multiplier of [`pair_hashes16`]'s hash.
const PAIR_MUL: u16 = 0x9E37;

/// The hash of a byte pair (little-endian) to 0..64, its bit in a glob
/// signature:
/// `(pair * PAIR_MUL mod 2^16) >> 10`.
#[inline(always)]
pub(crate) fn pair_hash(pair: u16) -> u32 {
    u32::from(pair.wrapping_mul(PAIR_MUL) >> 10)
}

/// [`pair_hash`] of the sixteen byte pairs that start at `hay[i]` to
/// `hay[i + 15]` (`hay` must hold `i + 17` bytes), one a byte, in no
/// particular order: a glob signature sets their bits. Eight pairs a
/// `pmullw`, against five instructions a pair one by one.
#[cfg(coldplug_sse2)]
#[inline(always)]
pub(crate) fn pair_hashes16(hay: &[u8], i: usize) -> [u64; 2] {
    use std::arch::x86_64::{
        _mm_cvtsi128_si64, _mm_mullo_epi16, _mm_packus_epi16, _mm_set1_epi16,
        _mm_set_epi64x, _mm_srli_epi16, _mm_unpackhi_epi64,
    };
    let (a0, a1) = (word(hay, i), word(hay, i + 8));
    let (b0, b1) = (word(hay, i + 1), word(hay, i + 9));
    // SAFETY: as in `masks16_full`: sse2 is guaranteed by the cfg, and
    // the intrinsics take values, not pointers.
    unsafe {
        let mul = _mm_set1_epi16(PAIR_MUL as i16);
        // 16-bit lanes: the pairs at even offsets from `i`, then at odd.
        let h = |lo: u64, hi: u64| {
            let v = _mm_set_epi64x(hi as i64, lo as i64);
            _mm_srli_epi16(_mm_mullo_epi16(v, mul), 10)
        };
        // Every hash is below 64: packing to bytes saturates nothing.
        let p = _mm_packus_epi16(h(a0, a1), h(b0, b1));
        [
            _mm_cvtsi128_si64(p) as u64,
            _mm_cvtsi128_si64(_mm_unpackhi_epi64(p, p)) as u64,
        ]
    }
}

/// [`pair_hashes16`], portable.
#[cfg_attr(all(coldplug_sse2, not(test)), allow(dead_code))]
#[inline(always)]
fn pair_hashes16_portable(hay: &[u8], i: usize) -> [u64; 2] {
    let mut out = [0u64; 2];
    for k in 0..16 {
        let h = pair_hash(u16::from_le_bytes([hay[i + k], hay[i + k + 1]]));
        out[k / 8] |= u64::from(h) << (8 * (k % 8));
    }
    out
}

#[cfg(not(coldplug_sse2))]
#[inline(always)]
pub(crate) fn pair_hashes16(hay: &[u8], i: usize) -> [u64; 2] {
    pair_hashes16_portable(hay, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_hashes_agree_with_a_loop_and_the_portable_path() {
        let hay: Vec<u8> = (0..60u32).map(|i| (i * 37 % 251) as u8).collect();
        for i in 0..hay.len() - 16 {
            let mut want: Vec<u32> = (0..16)
                .map(|k| {
                    pair_hash(u16::from_le_bytes([hay[i + k], hay[i + k + 1]]))
                })
                .collect();
            want.sort_unstable();
            for got in
                [pair_hashes16(&hay, i), pair_hashes16_portable(&hay, i)]
            {
                let mut got: Vec<u32> = got
                    .iter()
                    .flat_map(|w| w.to_le_bytes())
                    .map(u32::from)
                    .collect();
                got.sort_unstable();
                assert_eq!(got, want, "{i}");
            }
        }
    }

    #[test]
    fn run_ends_agree_with_a_loop() {
        let mut rng = crate::test_rng::XorShift::new(0x5eed);
        for _ in 0..2000 {
            let mut b = [0u8; 64];
            for x in &mut b {
                *x = rng.next() as u8;
            }
            for min in [1, 0x30, 0x61, 0x80] {
                let want = (0..64).fold(0u64, |m, k| {
                    m | u64::from(b[k] == 0 || b[k] >= min) << k
                });
                assert_eq!(run_ends64(&b, min), want, "{b:?} {min}");
                assert_eq!(run_ends64_portable(&b, min), want, "{b:?} {min}");
            }
        }
    }

    #[test]
    fn odd_bytes_and_colons_agree_with_a_loop() {
        let mut rng = crate::test_rng::XorShift::new(0x0dd);
        let alphabet: Vec<u8> = (0..=255).collect();
        for round in 0..40_000 {
            // Mostly modalias bytes, now and then any byte.
            let mut hay = if round % 4 == 0 {
                rng.bytes(70, &alphabet)
            } else {
                rng.bytes(70, b"0123456789ABCDEFabcvdp_:zZ")
            };
            if round % 8 == 1 && !hay.is_empty() {
                let i = rng.below(hay.len());
                hay[i] = alphabet[rng.below(256)];
            }
            let want = (
                hay.iter().any(|&b| b < 0x30 || b"?[\\]".contains(&b)),
                hay.contains(&b':'),
            );
            assert_eq!(odd_bytes_and_colons(&hay), want, "{hay:?}");
            let padded: Vec<[u8; 16]> = hay
                .chunks(16)
                .map(|c| {
                    let mut w = [b'A'; 16];
                    w[..c.len()].copy_from_slice(c);
                    w
                })
                .collect();
            let got =
                odd_bytes_and_colons_portable(padded.iter().map(|c| &c[..]));
            assert_eq!(got, want, "{hay:?}");
        }
    }

    #[test]
    fn zeros_is_exact() {
        for b in 0..=255u8 {
            let x = u64::from_le_bytes([1, b, 0, 0x80, b, 0xff, 0x7f, 0]);
            let m = zeros(x);
            for (k, byte) in x.to_le_bytes().iter().enumerate() {
                assert_eq!(m >> (8 * k + 7) & 1 == 1, *byte == 0, "{b} {k}");
            }
        }
    }

    #[test]
    fn eq_within_agrees_with_slices() {
        let hay: Vec<u8> = (0..90u32).map(|i| (i * 7 % 5) as u8).collect();
        for n in 0..=40 {
            for i in 0..=hay.len() - n {
                for j in 0..=hay.len() - n {
                    assert_eq!(
                        eq_within(&hay, i, j, n),
                        hay[i..i + n] == hay[j..j + n],
                        "{i} {j} {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn masks_agree_with_a_loop_and_the_portable_path() {
        let hay: Vec<u8> = (0..70u32).map(|i| (i * 7 % 13) as u8).collect();
        for n in 0..=hay.len() {
            for i in 0..n {
                for bytes in [[0u8, 3, 0], [12, 5, 7], [200, 0, 1]] {
                    let mut want = [0u32; 3];
                    for k in 0..16.min(n - i) {
                        for (w, b) in want.iter_mut().zip(bytes) {
                            *w |= u32::from(hay[i + k] == b) << k;
                        }
                    }
                    assert_eq!(masks16(&hay[..n], i, bytes), want);
                    let mut want64 = [0u64; 3];
                    for k in 0..64.min(n - i) {
                        for (w, b) in want64.iter_mut().zip(bytes) {
                            *w |= u64::from(hay[i + k] == b) << k;
                        }
                    }
                    assert_eq!(masks64(&hay[..n], i, bytes), want64);
                    if n - i >= 16 {
                        let p = masks16_portable(&hay[..n], i, bytes);
                        assert_eq!(p, want);
                    }
                }
            }
        }
    }

    #[test]
    fn set_masks_agree_with_a_loop_and_the_portable_path() {
        let hay: Vec<u8> = (0..40u32).map(|i| (i * 7 % 13) as u8).collect();
        let sets = [[0u8, 3, 3], [12, 5, 7], [200, 200, 200], [1, 1, 9]];
        for n in 1..=hay.len() {
            for i in 0..n {
                let mut want = [0u32; 4];
                for k in 0..16.min(n - i) {
                    for (w, set) in want.iter_mut().zip(sets) {
                        *w |= u32::from(set.contains(&hay[i + k])) << k;
                    }
                }
                assert_eq!(masks16_any(&hay[..n], i, sets), want, "{n} {i}");
                if n - i >= 16 {
                    let p = masks16_any_portable(&hay[..n], i, sets);
                    assert_eq!(p, want);
                }
            }
        }
    }
}
