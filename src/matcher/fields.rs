//! A field index for the modalias formats that dominate a coldplug:
//! `usb:v…p…d…dc…dsc…dp…ic…isc…ip…in…`, `pci:v…d…sv…sd…bc…sc…i…` and
//! the like (the kernel's `scripts/mod/file2alias.c`): a prefix, then
//! fields, each a lowercase marker followed by a value (uppercase hex
//! digits, as the kernel prints them).
//!
//! Almost every pattern of such a format asks, of each field, either
//! nothing (`*`), an exact value (`ic09`) or a value prefix (`in02*`),
//! and almost every key is a string of the format. For such a key and
//! pattern, fnmatch reduces to comparing fields, so a lookup parses the
//! key once and probes one hash table per *shape* (which fields a
//! pattern constrains, and how), instead of walking the trie and running
//! the generic patterns' globs. Rare shapes are merged into coarser ones
//! (a bucket then holds a few entries with residual fields to compare).
//!
//! Why comparing fields is exact. Value bytes are those below `a`
//! (NUL aside), marker bytes are lowercase letters, and a pattern of
//! this form holds exactly the key's marker bytes, in the same order,
//! the rest of it being value bytes and `*`. A match maps each literal
//! byte of the pattern to an equal byte of the key, in order and one to
//! one; a marker byte can only map to a marker byte, and there are as
//! many on each side, so the k-th goes to the k-th. Every marker thus
//! meets its own copy in the key, and each field's glob meets that
//! field's value. (A `*` cannot swallow a marker: the pattern's own copy
//! would be left with nothing to match.) The test
//! `fields_decide_matches` checks this by brute force on a format whose
//! markers overlap and repeat.
//!
//! Patterns not of that form (brackets, `?`, a value longer than a
//! word) are indexed by what their literal part fixes (libkmod compares
//! it byte for byte, so the key must start with it) and checked in full
//! on a hit. Entries whose literal part ends before the format's first
//! marker does (`usb*`) are checked for every key of the format. Keys
//! that are no string of a format go elsewhere (see [`super::alias`]).

use super::fxhash::FxHashMap;
use super::glob::load8;
use super::order::{self, Hit};
use super::patterns::{PEntry, Patterns};

/// A modalias format: a prefix, then one field per marker.
#[derive(Debug)]
struct Spec {
    prefix: &'static [u8],
    markers: &'static [&'static [u8]],
    /// Each field's width as the kernel's uevent code prints it
    /// (`%04X`: 4), for the [`Layout`] fast path; empty: none.
    widths: &'static [u8],
}

/// The formats with an index: those with many patterns and keys on the
/// bundled kernels (file2alias's `do_usb_entry`, `do_pci_entry`,
/// `do_hid_entry`, `do_ieee1394_entry`; `ccw:` keys, short, are as fast
/// through the trie). The widths are those of the kernel's uevents:
/// `usb_if_uevent` (drivers/usb/core/message.c), `pci_uevent`
/// (drivers/pci/pci-driver.c), `hid_uevent` (drivers/hid/hid-core.c),
/// firewire's `get_modalias` (drivers/firewire/core-device.c).
const SPECS: &[Spec] = &[
    Spec {
        prefix: b"usb:",
        markers: &[
            b"v", b"p", b"d", b"dc", b"dsc", b"dp", b"ic", b"isc", b"ip",
            b"in",
        ],
        widths: &[4, 4, 4, 2, 2, 2, 2, 2, 2, 2],
    },
    Spec {
        prefix: b"pci:",
        markers: &[b"v", b"d", b"sv", b"sd", b"bc", b"sc", b"i"],
        widths: &[8, 8, 8, 8, 2, 2, 2],
    },
    Spec {
        prefix: b"hid:",
        markers: &[b"b", b"g", b"v", b"p"],
        widths: &[4, 4, 8, 8],
    },
    Spec {
        prefix: b"ieee1394:",
        markers: &[b"ven", b"mo", b"sp", b"ver"],
        widths: &[8, 8, 8, 8],
    },
];

/// Most fields of any format.
const MAX_FIELDS: usize = 10;
/// Field values are compared as one little-endian word of their first
/// bytes; longer exact values are not indexed.
const WORD: usize = 8;
const NONE: u32 = u32::MAX;

/// A byte that can be part of a field's value: below the lowercase
/// letters (markers are made of those), and not NUL (values are
/// compared as zero-padded words). The kernel prints uppercase hex; a
/// key with other bytes in a field takes the trie.
#[inline(always)]
fn is_value(b: u8) -> bool {
    b != 0 && b < b'a'
}

/// A byte a pattern's field may hold literally: a value byte that is
/// not special to fnmatch.
#[inline(always)]
fn is_literal(b: u8) -> bool {
    is_value(b) && !matches!(b, b'*' | b'?' | b'[' | b'\\')
}

/// The high bit of each byte of `x` at which a value ends: from `a` up,
/// or NUL (what [`parse`] reads past the key's end).
#[inline(always)]
fn value_ends(x: u64) -> u64 {
    crate::swar::run_ends(x, b'a')
}

/// The low `len` bytes of a word (all of it from [`WORD`] on).
#[inline(always)]
fn mask(len: usize) -> u64 {
    const MASKS: [u64; WORD + 1] = {
        let mut m = [u64::MAX; WORD + 1];
        let mut i = 0;
        while i < WORD {
            m[i] = (1u64 << (8 * i)) - 1;
            i += 1;
        }
        m
    };
    MASKS[len.min(WORD)]
}

/// The first `len` (at most [`WORD`]) bytes at `at`, zero-padded.
#[inline(always)]
fn word(key: &[u8], at: usize, len: usize) -> u64 {
    super::glob::load8(key, at) & mask(len)
}

#[inline(always)]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95)
}

/// One constrained field of a shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Need {
    field: u8,
    len: u8,
    exact: bool,
}

impl Need {
    /// As one word, for [`FieldIndex::records`].
    fn pack(self) -> u64 {
        u64::from(self.field)
            | u64::from(self.len) << 8
            | u64::from(self.exact) << 16
    }

    #[inline(always)]
    fn unpack(w: u64) -> Need {
        Need { field: w as u8, len: (w >> 8) as u8, exact: w >> 16 & 1 != 0 }
    }
}

/// Most entries a bucket may hold after shapes merge.
const MERGED_BUCKET: usize = 8;

/// A shape to probe: the fields a bucket's values are of.
#[derive(Debug, Clone)]
struct Shape {
    seed: u64,
    /// The fields of the exact needs, one bit each.
    exact: u16,
    /// The prefix needs (its own vector: an empty one, the common case,
    /// costs a test, a range of a shared one its bounds checks).
    prefix: Vec<Need>,
    /// All needs, for the build and to confirm a bucket.
    all: Vec<Need>,
    /// For a shape of at most [`LOCAL_BUCKETS`] buckets, their bloom
    /// bits (as [`FieldIndex::bloom_at`] picks them in a word), in place
    /// of the shared filter: read with the shape, it costs no cache miss
    /// (a random word of the shared filter often does). 0 otherwise.
    local: u64,
}

/// Most buckets a shape filters with its own word.
const LOCAL_BUCKETS: usize = 8;

/// The entries one (shape, field values) pair selects.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    hash: u64,
    shape: u32,
    /// The values, one word per need of the shape, in `values`.
    values: u32,
    /// Range of `hits`.
    hits: (u32, u32),
}

/// A marker or prefix as a word of its first bytes, for a compare
/// without a call.
#[derive(Debug, Clone, Copy, Default)]
struct Literal {
    word: u64,
    mask: u64,
    len: u8,
}

impl Literal {
    fn new(b: &[u8]) -> Literal {
        Literal {
            word: word(b, 0, b.len()),
            mask: mask(b.len()),
            len: b.len().min(WORD) as u8,
        }
    }
}

/// Most words of a key with a [`Layout`].
const LAYOUT_WORDS: usize = 8;

/// The kernel's own layout of a format's keys: each value as wide as
/// its uevent code prints it, so every marker at a fixed offset. A key
/// of exactly this layout (every kernel key of the format) is checked a
/// word at a time and its values are read at fixed offsets, with none
/// of [`parse`]'s per-field search.
///
/// Same result as the search: a value byte is never a marker byte, so
/// each value's run stops at the next marker, where the layout puts it.
#[derive(Debug, Clone, Copy, Default)]
struct Layout {
    /// The key's length; 0: the format has no layout.
    len: usize,
    /// Per word of a zero-padded key, at 0, 8, ... 56: the bytes of the
    /// prefix and markers (and the padding's zeros), their mask, and the
    /// high bits of the value bytes.
    words: [(u64, u64, u64); LAYOUT_WORDS],
    /// Where each field's value ends; past the format's fields, 8: a
    /// read in bounds whose word `keep` drops.
    ends: [u8; MAX_FIELDS],
    /// How far right to shift the word ending there: 64 - 8 * width.
    shifts: [u8; MAX_FIELDS],
    /// All ones for the format's fields, 0 past them: every key reads
    /// [`MAX_FIELDS`] fields, in a loop the compiler unrolls.
    keep: [u64; MAX_FIELDS],
}

impl Layout {
    fn new(spec: &Spec) -> Layout {
        let mut l =
            Layout { ends: [WORD as u8; MAX_FIELDS], ..Layout::default() };
        if spec.widths.is_empty() {
            return l;
        }
        assert_eq!(spec.widths.len(), spec.markers.len());
        // The key's bytes, with None standing for a value byte.
        let mut t: Vec<Option<u8>> =
            spec.prefix.iter().copied().map(Some).collect();
        for (i, (m, &w)) in spec.markers.iter().zip(spec.widths).enumerate() {
            assert!((1..=WORD as u8).contains(&w));
            t.extend(m.iter().copied().map(Some));
            t.resize(t.len() + usize::from(w), None);
            l.ends[i] = t.len() as u8;
            l.shifts[i] = 64 - 8 * w;
            l.keep[i] = u64::MAX;
        }
        assert!((WORD..=WORD * LAYOUT_WORDS).contains(&t.len()));
        l.len = t.len();
        t.resize(WORD * LAYOUT_WORDS, Some(0));
        for (k, w) in l.words.iter_mut().enumerate() {
            for (j, &b) in t[k * WORD..][..WORD].iter().enumerate() {
                match b {
                    None => w.2 |= 0x80 << (8 * j),
                    Some(b) => {
                        w.0 |= u64::from(b) << (8 * j);
                        w.1 |= 0xff << (8 * j);
                    }
                }
            }
        }
        l
    }

    /// Put the fields of the key of `len` bytes in `buf` (zero-padded)
    /// in `out` if it has this layout; false if not.
    #[inline(always)]
    fn parse(&self, buf: &Padded, len: usize, out: &mut Fields) -> bool {
        if len != self.len {
            return false;
        }
        // Loads at most 64 + 8 bytes in: no bounds checks.
        let load = |at: usize| {
            let at = at % 64;
            u64::from_le_bytes(buf[at..at + WORD].try_into().unwrap())
        };
        let bad = self.words.iter().enumerate().fold(0, |bad, (k, w)| {
            let &(lit, mask, values) = w;
            let x = load(k * WORD);
            bad | ((x ^ lit) & mask) | (value_ends(x) & values)
        });
        if bad != 0 {
            return false;
        }
        for i in 0..MAX_FIELDS {
            let end = usize::from(self.ends[i]);
            let w = load(end - WORD) >> self.shifts[i] & self.keep[i];
            out.word[i] = w;
            out.exact[i] = w;
        }
        true
    }
}

/// The index of one format.
#[derive(Debug, Clone)]
struct Format {
    spec: &'static Spec,
    markers: [Literal; MAX_FIELDS],
    /// The prefix and first marker, as two words (at most 16 bytes).
    head: [Literal; 2],
    head_len: usize,
    layout: Layout,
    /// Range of `shapes`.
    shapes: (u32, u32),
    /// Hits, or entries to check, for every key of the format, packed
    /// as a record's hits (see [`FieldIndex::records`]).
    always: Vec<u64>,
    /// How many hits `always` packs.
    always_hits: usize,
}

impl Format {
    /// The format of `spec`, with no shapes and no hits yet.
    fn new(spec: &'static Spec) -> Format {
        let mut markers = [Literal::default(); MAX_FIELDS];
        for (m, b) in markers.iter_mut().zip(spec.markers) {
            *m = Literal::new(b);
        }
        let head = [spec.prefix, spec.markers[0]].concat();
        assert!(head.len() <= 2 * WORD);
        let (h0, h1) = head.split_at(head.len().min(WORD));
        Format {
            spec,
            markers,
            head: [Literal::new(h0), Literal::new(h1)],
            head_len: head.len(),
            layout: Layout::new(spec),
            shapes: (0, 0),
            always: Vec::new(),
            always_hits: 0,
        }
    }

    /// Pack the hits (or entries to check) for every key of the format.
    fn set_always(&mut self, always: &[(Hit, u32)]) {
        self.always.clear();
        for &(hit, entry) in always {
            pack_hit(&mut self.always, hit, entry, &[]);
        }
        self.always_hits = always.len();
    }

    /// True when `key` starts with the format's prefix and first marker.
    #[inline(always)]
    fn has_head(&self, key: &[u8]) -> bool {
        let [h0, h1] = self.head;
        key.len() >= self.head_len
            && load8(key, 0) & h0.mask == h0.word
            && load8(key, WORD) & h1.mask == h1.word
    }
}

/// An indexed format.
#[derive(Debug, Clone, Copy)]
pub(super) struct FormatRef<'a>(&'a Format);

/// The field indexes of all formats; see the module docs.
#[derive(Debug, Clone, Default)]
pub(super) struct FieldIndex {
    formats: Vec<Format>,
    /// The format a key's first byte may start (formats' prefixes
    /// start with distinct bytes), as 1 + index; 0: none. Empty when no
    /// format has entries.
    by_first: Vec<u8>,
    shapes: Vec<Shape>,
    /// Every bucket as one run of words, so that a lookup that finds
    /// one reads a line or two of memory, not four vectors: its hash;
    /// its shape and (high half) hit count; its values; then each hit:
    /// visit, priority and (high half) module, entry and (high half)
    /// residual count, each residual as a packed need and a value.
    records: Vec<u64>,
    /// Open addressing from a bucket's hash to 1 + the offset of its
    /// record (0: empty).
    slots: Vec<u32>,
    slot_bits: u32,
    /// Two bits a bucket, in one word: most probes miss.
    bloom: Vec<u64>,
    /// A hash's top bits pick the bloom word: shift it right this much.
    bloom_shift: u32,
}

/// Longer keys are left to the trie of all entries (a usb key from the
/// kernel is 47 bytes).
const MAX_KEY: usize = 128;

/// The bits of a shape's `exact`: a bit number taken modulo this indexes
/// a table of them with no bounds check and no division.
const FIELD_SLOTS: usize = 16;

/// A key parsed as a string of one format.
#[derive(Debug, Default, PartialEq)]
struct Fields {
    /// Each value's first [`WORD`] bytes, zero-padded.
    word: [u64; MAX_FIELDS],
    /// The whole value when it fits a word, else a word no value has
    /// (values have no NUL byte).
    exact: [u64; MAX_FIELDS],
}

/// No value's word: a NUL before a non-NUL byte.
const TOO_LONG: u64 = 0xff00;

/// Parse `key` as a string of `f`'s format: the prefix (already
/// checked), then each marker followed by a run of value bytes, to the
/// end. The fields go to `out` (filled in place: returned, they were
/// copied by a call to `memcpy`); false when `key` is no such string.
#[inline(always)]
fn parse(f: &Format, key: &[u8], out: &mut Fields) -> bool {
    let len = key.len();
    if len > MAX_KEY {
        return false;
    }
    // Zero-padded, so every word load is in bounds and a value's run
    // ends at the key's end.
    let mut buf = [0u8; MAX_KEY + 2 * WORD];
    copy_key(&mut buf, key);
    if f.layout.parse(&buf, len, out) {
        return true;
    }
    if len < 64 {
        parse_short(f, &buf, len, out)
    } else {
        parse_long(f, &buf, len, out)
    }
}

/// A key copied to the start of a zeroed buffer.
type Padded = [u8; MAX_KEY + 2 * WORD];

/// Copy `key` (at most [`MAX_KEY`] bytes) to the start of `buf`. A key
/// of 16 to 64 bytes takes two overlapping fixed-size moves instead of a
/// call to `memcpy`, which cost a fifth of a parse.
#[inline(always)]
fn copy_key(buf: &mut Padded, key: &[u8]) {
    let len = key.len();
    if (32..=64).contains(&len) {
        buf[..32].copy_from_slice(&key[..32]);
        buf[len - 32..len].copy_from_slice(&key[len - 32..]);
    } else if (16..32).contains(&len) {
        buf[..16].copy_from_slice(&key[..16]);
        buf[len - 16..len].copy_from_slice(&key[len - 16..]);
    } else {
        buf[..len].copy_from_slice(key);
    }
}

/// [`parse`] of a key of fewer than 64 bytes, zero-padded in
/// `buf`: where every value ends is found at once (the padding's zeros
/// end the last), then each field is a marker compare and a count of
/// trailing zeros.
#[inline(always)]
fn parse_short(
    f: &Format,
    buf: &Padded,
    len: usize,
    out: &mut Fields,
) -> bool {
    let head: &[u8; 64] = buf[..64].try_into().unwrap();
    let ends = crate::swar::run_ends64(head, b'a');
    // Every `at` stays at most `len`: a marker compare fails on the
    // padding, and a run stops at the key's end. (`% 64` spares the
    // bounds checks.)
    let load = |at: usize| {
        let at = at % 64;
        u64::from_le_bytes(buf[at..at + WORD].try_into().unwrap())
    };
    let mut at = f.spec.prefix.len();
    for (i, m) in f.markers[..f.spec.markers.len()].iter().enumerate() {
        if load(at) & m.mask != m.word {
            return false;
        }
        at += usize::from(m.len);
        let run = (ends >> (at % 64)).trailing_zeros() as usize;
        let w = load(at) & mask(run);
        out.word[i] = w;
        out.exact[i] = if run <= WORD { w } else { TOO_LONG };
        at += run;
    }
    at == len
}

/// [`parse`] of a key of any length up to [`MAX_KEY`],
/// zero-padded in `buf`: each value's run searched a word at a time.
#[inline(never)]
fn parse_long(f: &Format, buf: &Padded, len: usize, out: &mut Fields) -> bool {
    let load =
        |at: usize| u64::from_le_bytes(buf[at..at + WORD].try_into().unwrap());
    let mut at = f.spec.prefix.len();
    for (i, m) in f.markers[..f.spec.markers.len()].iter().enumerate() {
        if at + usize::from(m.len) > len || load(at) & m.mask != m.word {
            return false;
        }
        at += usize::from(m.len);
        let first = load(at);
        let ends = value_ends(first);
        let run = if ends != 0 {
            ends.trailing_zeros() as usize / 8
        } else {
            // Past the end, `load` gives zeros: the loop ends.
            let mut run = WORD;
            loop {
                let e = value_ends(load((at + run).min(MAX_KEY)));
                if e != 0 {
                    break run + e.trailing_zeros() as usize / 8;
                }
                run += WORD;
            }
        };
        let run = run.min(len - at);
        let w = first & mask(run);
        out.word[i] = w;
        out.exact[i] = if run <= WORD { w } else { TOO_LONG };
        at += run;
    }
    at == len
}

/// The hash of an exact need on `field` for value word `w`.
#[inline(always)]
fn exact_hash(field: usize, w: u64) -> u64 {
    mix(0x2545_f491_4f6c_dd1d ^ field as u64, w)
}

/// The hash of need `n` for the value word `w` (of the key's field, or
/// of the pattern's).
#[inline(always)]
fn need_hash(n: Need, w: u64) -> u64 {
    if n.exact {
        exact_hash(usize::from(n.field), w)
    } else {
        let len = usize::from(n.len);
        mix(
            0x9e37_79b9_7f4a_7c15 ^ (usize::from(n.field) | len << 8) as u64,
            w & mask(len),
        )
    }
}

/// A shape's probe hash from the XOR of its needs' hashes.
#[inline(always)]
fn finish(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// [`value_ends`], and the bytes special to fnmatch.
#[inline(always)]
fn literal_ends(x: u64) -> u64 {
    use crate::swar::{splat, zeros};
    value_ends(x)
        | zeros(x ^ splat(b'*'))
        | zeros(x ^ splat(b'?'))
        | zeros(x ^ splat(b'['))
        | zeros(x ^ splat(b'\\'))
}

/// Where a literal part ends, for [`literal_needs`].
#[derive(Debug, Clone, Copy, PartialEq)]
enum LitEnd {
    /// In the value of this field (or right after its marker), with
    /// every value before it at most a word.
    Value(usize),
    /// Anywhere else.
    Other,
}

/// Push onto `out` the needs the literal part `lit` of an entry implies
/// for a key of `spec`'s format that starts with it (libkmod compares
/// it byte for byte), with their words; None when no key of the format
/// starts with `lit`.
fn literal_needs(
    spec: &Spec,
    lit: &[u8],
    out: &mut Vec<(Need, u64)>,
) -> Option<LitEnd> {
    let mut at = spec.prefix.len();
    let mut short = true;
    for (i, m) in spec.markers.iter().enumerate() {
        let rest = &lit[at.min(lit.len())..];
        if rest.len() < m.len() {
            // The literal part ends in (or before) the marker.
            return m.starts_with(rest).then_some(LitEnd::Other);
        }
        if &rest[..m.len()] != *m {
            return None;
        }
        at += m.len();
        let start = at;
        while at < lit.len() && is_value(lit[at]) {
            at += 1;
        }
        let n = at - start;
        let field = i as u8;
        short &= n <= WORD;
        if at == lit.len() {
            // The key's field starts with these bytes.
            if n > 0 {
                let len = n.min(WORD) as u8;
                let need = Need { field, len, exact: false };
                out.push((need, word(lit, start, n)));
            }
            return Some(if short { LitEnd::Value(i) } else { LitEnd::Other });
        }
        let need = if n <= WORD {
            Need { field, len: n as u8, exact: true }
        } else {
            Need { field, len: WORD as u8, exact: false }
        };
        out.push((need, word(lit, start, n)));
    }
    (at == lit.len()).then_some(LitEnd::Other)
}

/// The needs of fields `from..` if `tail` is their markers, each
/// followed by a field glob: `*`, value bytes (at most a word), or value
/// bytes then `*`; with the values' words. False when `tail` is not of
/// that form (a wildcard other than `*`, a backslash, a value past a
/// word, a marker out of place).
fn tail_needs(
    f: &Format,
    from: usize,
    tail: &[u8],
    out: &mut Vec<(Need, u64)>,
) -> bool {
    let mut at = 0;
    let n = f.spec.markers.len();
    for (i, m) in f.markers[..n].iter().enumerate().skip(from) {
        if load8(tail, at) & m.mask != m.word {
            return false;
        }
        at += usize::from(m.len);
        let w = load8(tail, at);
        let ends = literal_ends(w);
        let len = if ends != 0 {
            ends.trailing_zeros() as usize / 8
        } else if tail.get(at + WORD).is_some_and(|&b| is_literal(b)) {
            return false;
        } else {
            WORD
        };
        at += len;
        let star = tail.get(at) == Some(&b'*');
        at += usize::from(star);
        if len == 0 && star {
            continue;
        }
        let need = Need { field: i as u8, len: len as u8, exact: !star };
        out.push((need, w & mask(len)));
    }
    at == tail.len()
}

/// The entries of each format, found but not yet indexed: the first
/// half of a build. Which formats the index will have is known from
/// here on, so the entries left to the trie can be picked (and their
/// trie built) while the second half runs.
#[derive(Debug)]
pub(super) struct FieldEntries<'p> {
    /// One per spec, in [`SPECS`] order.
    found: Vec<Found<'p>>,
    /// Each spec's format, for its head.
    formats: Vec<Format>,
}

/// The heads of the formats an index will have.
#[derive(Debug, Clone)]
pub(super) struct Heads {
    formats: Vec<Format>,
    /// 1 + the index in `formats` of the format a first byte may start
    /// (their prefixes start with distinct bytes); 0: none.
    by_first: [u8; 256],
}

impl Heads {
    /// True when `key` starts with the head of a format of the index:
    /// [`FieldIndex::format_of`] of the built index is then Some.
    pub(super) fn routes(&self, key: &[u8]) -> bool {
        let Some(&b) = key.first() else { return false };
        let i = usize::from(self.by_first[usize::from(b)]);
        i.checked_sub(1)
            .and_then(|i| self.formats.get(i))
            .is_some_and(|f| f.has_head(key))
    }
}

impl<'p> FieldEntries<'p> {
    /// The heads of the formats the index will have.
    pub(super) fn heads(&self) -> Heads {
        let indexed = self.formats.iter().zip(&self.found);
        let formats: Vec<Format> = indexed
            .filter(|(_, found)| found.indexed())
            .map(|(f, _)| f.clone())
            .collect();
        let mut by_first = [0; 256];
        for (i, f) in formats.iter().enumerate() {
            by_first[usize::from(f.spec.prefix[0])] = i as u8 + 1;
        }
        Heads { formats, by_first }
    }

    /// Index the entries found: the second half of a build. Each
    /// format is indexed on its own, then their buckets are packed
    /// together.
    pub(super) fn index(self) -> FieldIndex {
        let formats = self.formats.into_iter().zip(self.found).enumerate();
        FieldIndex::pack(
            formats
                .filter(|(_, (_, found))| found.indexed())
                .map(|(spec, (format, found))| {
                    FormatEntries { spec, format, found }.index()
                })
                .collect(),
        )
    }
}

/// One format's entries, found.
#[derive(Debug)]
struct FormatEntries<'p> {
    /// The index of its spec in [`SPECS`].
    spec: usize,
    format: Format,
    found: Found<'p>,
}

/// One format indexed, its buckets not yet packed into the shared
/// tables; shape numbers are its own.
#[derive(Debug)]
struct FormatPart {
    format: Format,
    shapes: Vec<Shape>,
    buckets: Vec<Bucket>,
    /// Each entry's values under its shape (a bucket's are its first
    /// entry's).
    values: Vec<u64>,
    /// Each entry's hit packed as in a record, with the needs its bucket
    /// does not test, in entry order.
    hit_words: Vec<u64>,
    /// Where the hits of the buckets start in `hit_words`, in bucket
    /// order.
    hits: Vec<u32>,
}

impl FieldIndex {
    /// Find the entries of `pats` that can match a key of a format
    /// (the first half of a build).
    pub(super) fn find_entries(pats: &Patterns) -> FieldEntries<'_> {
        // Each entry goes to the one format its first byte can start
        // (their prefixes start with distinct bytes); one that starts
        // with a wildcard, to all.
        // Sized first: the vectors are large, and growing them copies.
        let mut count = [0usize; 256];
        for e in &pats.entries {
            if let Some(&b) = pats.key(e).first() {
                count[usize::from(b)] += 1;
            }
        }
        let wild = count[usize::from(b'*')]
            + count[usize::from(b'?')]
            + count[usize::from(b'[')];
        let mut found: Vec<Found> = SPECS
            .iter()
            .map(|s| {
                let n = count[usize::from(s.prefix[0])];
                Found {
                    entries: Vec::with_capacity(n),
                    needs: Vec::with_capacity(3 * n),
                    always: Vec::with_capacity(wild),
                    tails: Default::default(),
                    last_tail: None,
                    tail_needs: Vec::new(),
                }
            })
            .collect();
        let formats: Vec<Format> = SPECS.iter().map(Format::new).collect();
        let mut by_first = [usize::MAX; 256];
        for (i, spec) in SPECS.iter().enumerate() {
            by_first[usize::from(spec.prefix[0])] = i;
        }
        for (ei, e) in pats.entries.iter().enumerate() {
            let ei = ei as u32;
            match pats.key(e).first() {
                Some(b'*' | b'?' | b'[') => {
                    for (format, f) in formats.iter().zip(&mut found) {
                        f.add(format, pats, ei, e);
                    }
                }
                Some(&b) => {
                    let i = by_first[usize::from(b)];
                    if let (Some(format), Some(f)) =
                        (formats.get(i), found.get_mut(i))
                    {
                        f.add(format, pats, ei, e);
                    }
                }
                None => {}
            }
        }
        FieldEntries { found, formats }
    }
}

impl FormatEntries<'_> {
    /// Index the format's entries: pick the shapes to probe, merging a
    /// shape into a coarser one whenever the coarser one's buckets stay
    /// small (each probe costs a lookup more than a few residual checks
    /// on a hit), then fill the buckets.
    fn index(self) -> FormatPart {
        let FormatEntries { spec: spec_index, mut format, found } = self;
        let entries = &found.entries;
        // Distinct shapes, most needs first; each entry's own.
        let mut shape_of: FxHashMap<u128, usize> = Default::default();
        let mut shapes: Vec<Vec<Need>> = Vec::new();
        let own: Vec<usize> = entries
            .iter()
            .map(|e| {
                *shape_of.entry(e.shape).or_insert_with(|| {
                    shapes.push(found.needs(e).iter().map(|n| n.0).collect());
                    shapes.len() - 1
                })
            })
            .collect();
        let mut order: Vec<usize> = (0..shapes.len()).collect();
        order.sort_by(|&a, &b| {
            shapes[b]
                .len()
                .cmp(&shapes[a].len())
                .then(shapes[a].cmp(&shapes[b]))
        });
        let mut rank = vec![0; order.len()];
        for (r, &s) in order.iter().enumerate() {
            rank[s] = r;
        }
        let shapes: Vec<Vec<Need>> =
            order.iter().map(|&s| std::mem::take(&mut shapes[s])).collect();
        // The shape each entry is filed under (its own, or coarser).
        let mut home: Vec<usize> = own.iter().map(|&s| rank[s]).collect();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); shapes.len()];
        for (i, &h) in home.iter().enumerate() {
            members[h].push(i);
        }
        // The hashed values of an entry under a shape: only to size the
        // buckets.
        // (Finished: FxHash keeps a key's low bits, which pick the map's
        // slot, and values share them.)
        let hash_under = |i: usize, t: usize| {
            finish(found.values(&entries[i], &shapes[t]).fold(0, mix))
        };
        // Bucket sizes of each shape, once asked for.
        let mut sizes: Vec<Option<FxHashMap<u64, usize>>> =
            vec![None; shapes.len()];
        let mut extra: FxHashMap<u64, usize> = Default::default();
        for s in 0..shapes.len() {
            // The coarser shapes this one's needs include, largest first
            // (`shapes` is sorted that way).
            let coarser = (s + 1..shapes.len()).filter(|&t| {
                !members[t].is_empty()
                    && !shapes[t].is_empty()
                    && shapes[t].iter().all(|n| shapes[s].contains(n))
            });
            for t in coarser {
                let have = sizes[t].get_or_insert_with(|| {
                    let mut m: FxHashMap<u64, usize> =
                        FxHashMap::with_capacity_and_hasher(
                            members[t].len(),
                            Default::default(),
                        );
                    for &i in &members[t] {
                        *m.entry(hash_under(i, t)).or_default() += 1;
                    }
                    m
                });
                extra.clear();
                let fits = members[s].iter().all(|&i| {
                    let h = hash_under(i, t);
                    let n = extra.entry(h).or_default();
                    *n += 1;
                    *n + have.get(&h).copied().unwrap_or(0) <= MERGED_BUCKET
                });
                if fits {
                    for (h, n) in extra.drain() {
                        *have.entry(h).or_default() += n;
                    }
                    let moved = std::mem::take(&mut members[s]);
                    for &i in &moved {
                        home[i] = t;
                    }
                    members[t].extend(moved);
                    break;
                }
            }
        }
        // The probe order: shapes in their sort order, live ones only.
        // (Seeded by format and number, which its place among all
        // formats' shapes does not change.)
        let mut renum = vec![NONE; shapes.len()];
        let mut live = Vec::new();
        for (s, needs) in shapes.iter().enumerate() {
            if members[s].is_empty() {
                continue;
            }
            renum[s] = live.len() as u32;
            let seed = (spec_index as u64) << 32 | u64::from(renum[s]);
            live.push(Shape {
                seed: mix(0x9e37_79b9_7f4a_7c15, seed),
                exact: needs
                    .iter()
                    .filter(|n| n.exact)
                    .fold(0, |m, n| m | 1 << n.field),
                prefix: needs.iter().filter(|n| !n.exact).copied().collect(),
                all: needs.clone(),
                local: 0,
            });
        }
        // Buckets: the entries sorted by probe hash, then in entry order,
        // so that a bucket's entries are a run, its hits in entry order.
        // Buckets whose hashes collide (no bundled kernel has any) are
        // told apart within their run. (Sorted, not hashed: a map this
        // size is allocated, grown and faulted in anew on each build.)
        // Each entry's values under its shape go to `values`, where its
        // bucket's (the first entry's) stay; its hit, with its residual
        // needs, and its shape, to `filed`: all made in entry order, as
        // the entries are read.
        // (Each as one number, hash high: sorted with no tuple compares.)
        let mut keyed: Vec<u128> = Vec::with_capacity(entries.len());
        // (Where its hit starts in `hit_words`, its shape.)
        let mut filed: Vec<(u32, u32)> = Vec::with_capacity(entries.len());
        // Sized exactly: an entry's values are one word a need of its
        // shape, its hit three words and two a residual need.
        let shape_len = |i: usize| live[renum[home[i]] as usize].all.len();
        let (mut nv, mut nh) = (0, 0);
        for (i, e) in entries.iter().enumerate() {
            nv += shape_len(i);
            nh += 3 + 2 * (found.needs(e).len() - shape_len(i));
        }
        let mut values = Vec::with_capacity(nv);
        let mut hit_words = Vec::with_capacity(nh);
        for (i, e) in entries.iter().enumerate() {
            let s = renum[home[i]];
            let shape = &live[s as usize];
            let at = values.len();
            values.extend(found.values(e, &shape.all));
            let hit = hit_words.len();
            let residual =
                found.needs(e).iter().filter(|n| !shape.all.contains(&n.0));
            pack_hit(&mut hit_words, e.hit, e.check, residual);
            filed.push((hit as u32, s));
            let hash = finish(
                shape
                    .all
                    .iter()
                    .zip(&values[at..])
                    .fold(shape.seed, |h, (&n, &w)| h ^ need_hash(n, w)),
            );
            keyed
                .push(u128::from(hash) << 64 | (i as u128) << 32 | at as u128);
        }
        sort_spread(&mut keyed);
        let mut buckets = Vec::with_capacity(entries.len());
        let mut hits = Vec::with_capacity(entries.len());
        let (mut run, mut others) = (Vec::new(), Vec::new());
        for same_hash in keyed.chunk_by(|a, b| a >> 64 == b >> 64) {
            run.clear();
            run.extend(
                same_hash
                    .iter()
                    .map(|&k| ((k >> 64) as u64, (k >> 32) as u32, k as u32)),
            );
            while let Some(&(hash, first, at)) = run.first() {
                let shape = filed[first as usize].1;
                let needs = &live[shape as usize].all;
                let words = &values[at as usize..][..needs.len()];
                let start = hits.len() as u32;
                others.clear();
                for (k, &(h, i, v)) in run.iter().enumerate() {
                    // (The first one is the bucket's.)
                    let (hit, s) = filed[i as usize];
                    let same = k == 0
                        || s == shape
                            && values[v as usize..][..needs.len()] == *words;
                    if !same {
                        others.push((h, i, v));
                        continue;
                    }
                    hits.push(hit);
                }
                buckets.push(Bucket {
                    hash,
                    shape,
                    values: at,
                    hits: (start, hits.len() as u32),
                });
                std::mem::swap(&mut run, &mut others);
            }
        }
        debug_assert!(buckets.iter().all(|b| b.hits.1 > b.hits.0));
        // (Its range of shapes is set when the parts are packed.)
        format.set_always(&found.always);
        FormatPart { format, shapes: live, buckets, values, hit_words, hits }
    }
}

impl FieldIndex {
    /// The index of the formats indexed in `parts`: their buckets packed
    /// into records, the bloom filter and the slot table sized and
    /// filled.
    fn pack(parts: Vec<FormatPart>) -> FieldIndex {
        let mut ix = FieldIndex::default();
        let words: usize = parts
            .iter()
            .map(|p| {
                let values = p
                    .buckets
                    .iter()
                    .map(|b| p.shapes[b.shape as usize].all.len());
                2 * p.buckets.len() + values.sum::<usize>() + p.hit_words.len()
            })
            .sum();
        ix.records = Vec::with_capacity(words);
        // Each bucket's hash, shape and 1 + record offset.
        let n: usize = parts.iter().map(|p| p.buckets.len()).sum();
        let mut placed = Vec::with_capacity(n);
        for part in parts {
            let first_shape = ix.shapes.len() as u32;
            for b in &part.buckets {
                let shape = first_shape + b.shape;
                placed.push((b.hash, shape, ix.records.len() as u32 + 1));
                let hits = &part.hits[b.hits.0 as usize..b.hits.1 as usize];
                let nv = part.shapes[b.shape as usize].all.len();
                let r = &mut ix.records;
                r.push(b.hash);
                r.push(u64::from(shape) | (hits.len() as u64) << 32);
                r.extend_from_slice(&part.values[b.values as usize..][..nv]);
                for &h in hits {
                    let hit = &part.hit_words[h as usize..];
                    r.extend_from_slice(&hit[..hit_len(hit)]);
                }
            }
            ix.shapes.extend(part.shapes);
            let mut format = part.format;
            format.shapes = (first_shape, ix.shapes.len() as u32);
            if ix.by_first.is_empty() {
                ix.by_first = vec![0; 256];
            }
            let first = usize::from(format.spec.prefix[0]);
            ix.formats.push(format);
            ix.by_first[first] = ix.formats.len() as u8;
        }
        assert!(ix.records.len() < u32::MAX as usize);
        let n = n.max(1);
        ix.slot_bits = (2 * n).next_power_of_two().trailing_zeros();
        ix.slots = vec![0; 1 << ix.slot_bits];
        // 16 bits a bucket.
        let bloom_bits = (n / 4).next_power_of_two().trailing_zeros().max(1);
        ix.bloom_shift = 64 - bloom_bits;
        ix.bloom = vec![0; 1 << bloom_bits];
        let mut per_shape = vec![0usize; ix.shapes.len()];
        for &(_, shape, _) in &placed {
            per_shape[shape as usize] += 1;
        }
        for &(hash, shape, offset) in &placed {
            let mut s = ix.slot(hash);
            while ix.slots[s] != 0 {
                s = (s + 1) & ((1 << ix.slot_bits) - 1);
            }
            ix.slots[s] = offset;
            let (w, bits) = ix.bloom_at(hash);
            if per_shape[shape as usize] <= LOCAL_BUCKETS {
                ix.shapes[shape as usize].local |= bits;
            } else {
                ix.bloom[w] |= bits;
            }
        }
        ix
    }

    #[inline(always)]
    fn slot(&self, h: u64) -> usize {
        (h >> 20) as usize & ((1 << self.slot_bits) - 1)
    }

    #[inline(always)]
    fn bloom_at(&self, h: u64) -> (usize, u64) {
        // Shifts take their count mod 64 (one instruction each).
        let w = (h >> self.bloom_shift) as usize;
        (w, 1u64.wrapping_shl(h as u32) | 1u64.wrapping_shl((h >> 6) as u32))
    }

    /// The indexed format whose head (prefix and first marker) `key`
    /// starts with. Only such keys can match the entries it indexes
    /// (their literal parts start so).
    #[inline]
    pub(super) fn format_of(&self, key: &[u8]) -> Option<FormatRef<'_>> {
        let i = *self.by_first.get(usize::from(*key.first()?))?;
        let f = self.formats.get(usize::from(i).checked_sub(1)?)?;
        f.has_head(key).then_some(FormatRef(f))
    }

    /// Look `key` (without wildcard bytes, starting with `format`'s
    /// head) up if it is a string of the format: push its hits
    /// (unordered) and return true; false when it is not.
    #[inline]
    pub(super) fn lookup(
        &self,
        format: FormatRef,
        pats: &Patterns,
        key: &[u8],
        out: &mut Vec<Hit>,
    ) -> bool {
        let format = format.0;
        let mut fields = Fields::default();
        if !parse(format, key, &mut fields) {
            return false;
        }
        let mut hx = [0u64; FIELD_SLOTS];
        for (i, (h, &w)) in hx.iter_mut().zip(&fields.exact).enumerate() {
            *h = exact_hash(i, w);
        }
        let shapes =
            &self.shapes[format.shapes.0 as usize..format.shapes.1 as usize];
        for (k, s) in shapes.iter().enumerate() {
            let mut h = s.seed;
            let mut m = s.exact;
            while m != 0 {
                h ^= hx[m.trailing_zeros() as usize % FIELD_SLOTS];
                m &= m - 1;
            }
            for &n in &s.prefix {
                h ^= need_hash(
                    n,
                    fields.word[usize::from(n.field).min(MAX_FIELDS - 1)],
                );
            }
            let h = finish(h);
            let (w, bits) = self.bloom_at(h);
            let filter = if s.local != 0 { s.local } else { self.bloom[w] };
            if filter & bits != bits {
                continue;
            }
            let shape = format.shapes.0 + k as u32;
            let mut slot = self.slot(h);
            loop {
                let r = self.slots[slot];
                if r == 0 {
                    break;
                }
                let rec = self.records.get(r as usize - 1..).unwrap_or(&[]);
                if let [hash, head, rest @ ..] = rec {
                    let nv = s.all.len();
                    if *hash == h
                        && *head as u32 == shape
                        && rest.get(..nv).is_some_and(|values| {
                            s.all
                                .iter()
                                .zip(values)
                                .all(|(&n, &v)| fields.has(n, v))
                        })
                    {
                        let hits = (*head >> 32) as usize;
                        push_record_hits(
                            &rest[nv..],
                            hits,
                            pats,
                            key,
                            &fields,
                            out,
                        );
                        break;
                    }
                }
                slot = (slot + 1) & ((1 << self.slot_bits) - 1);
            }
        }
        if format.always_hits > 0 {
            let (always, n) = (&format.always, format.always_hits);
            push_record_hits(always, n, pats, key, &fields, out);
        }
        true
    }

    /// Bytes held.
    pub(super) fn memory_usage(&self) -> usize {
        use std::mem::size_of;
        self.shapes.len() * size_of::<Shape>()
            + self
                .shapes
                .iter()
                .map(|s| s.all.len() * size_of::<Need>())
                .sum::<usize>()
            + self
                .shapes
                .iter()
                .map(|s| s.prefix.len() * size_of::<Need>())
                .sum::<usize>()
            + self.records.len() * 8
            + self.slots.len() * 4
            + self.bloom.len() * 8
            + self
                .formats
                .iter()
                .map(|f| f.always.len() * 8 + size_of::<Format>())
                .sum::<usize>()
    }
}

impl Fields {
    /// True when the key's field meets need `n` with value word `v`.
    #[inline(always)]
    fn has(&self, n: Need, v: u64) -> bool {
        // Clamped: indexed with no bounds check (fields are below it).
        let i = usize::from(n.field).min(MAX_FIELDS - 1);
        if n.exact {
            self.exact[i] == v
        } else {
            self.word[i] & mask(usize::from(n.len)) == v
        }
    }
}

/// An entry of a format, before indexing.
#[derive(Debug)]
struct FoundEntry {
    /// The needs a key must meet, in `Found::needs`: sorted, exact ones
    /// first.
    needs: (u32, u32),
    /// The needs' shape, packed (see [`shape_code`]).
    shape: u128,
    hit: Hit,
    /// The entry to check in full on a hit, or NONE.
    check: u32,
}

/// A format's entries, before indexing.
#[derive(Debug, Default)]
struct Found<'p> {
    entries: Vec<FoundEntry>,
    needs: Vec<(Need, u64)>,
    /// Entries without needs: a hit, or an entry to check, for every key.
    always: Vec<(Hit, u32)>,
    /// The needs of a pattern's rest after its literal part and a `*`,
    /// by the field it starts at: a range of `tail_needs`, or None when
    /// the rest is not of the format. Thousands of patterns share one
    /// (`*dc*dsc*dp*ic*isc*ip*in*`).
    tails: FxHashMap<(usize, &'p [u8]), Option<Range>>,
    last_tail: Option<(usize, &'p [u8], Option<Range>)>,
    tail_needs: Vec<(Need, u64)>,
}

/// A range of a vector.
type Range = (u32, u32);

/// Sort numbers whose top bits are spread evenly (hashes): a counting
/// sort on about log2(n) top bits, then each short range on its own.
/// A third of the instructions of a comparison sort of 10,000.
fn sort_spread(v: &mut Vec<u128>) {
    let n = v.len();
    if n < 64 {
        return v.sort_unstable();
    }
    let bits = n.ilog2().min(16);
    let shift = 128 - bits;
    let mut start = vec![0u32; (1 << bits) + 1];
    for &x in v.iter() {
        start[(x >> shift) as usize + 1] += 1;
    }
    for i in 0..1 << bits {
        start[i + 1] += start[i];
    }
    let mut out = vec![0u128; n];
    let mut fill = start.clone();
    for &x in v.iter() {
        let at = &mut fill[(x >> shift) as usize];
        out[*at as usize] = x;
        *at += 1;
    }
    for r in start.windows(2) {
        out[r[0] as usize..r[1] as usize].sort_unstable();
    }
    *v = out;
}

/// A shape as one number: ten bits a need.
fn shape_code(needs: &[(Need, u64)]) -> u128 {
    needs.iter().fold(0, |c, (n, _)| {
        let bits = 1 << 9
            | u128::from(n.field) << 5
            | u128::from(n.exact) << 4
            | u128::from(n.len);
        c << 10 | bits
    })
}

impl<'p> Found<'p> {
    /// The needs of fields `from..` in `tail`, parsed once.
    fn tail(
        &mut self,
        f: &Format,
        from: usize,
        tail: &'p [u8],
    ) -> Option<Range> {
        // Neighbours in post-order often share a tail: the last one
        // spares most lookups.
        if let Some((f, t, r)) = self.last_tail {
            if f == from && t == tail {
                return r;
            }
        }
        if let Some(&t) = self.tails.get(&(from, tail)) {
            self.last_tail = Some((from, tail, t));
            return t;
        }
        let start = self.tail_needs.len();
        let t = if tail_needs(f, from, tail, &mut self.tail_needs) {
            Some((start as u32, self.tail_needs.len() as u32))
        } else {
            self.tail_needs.truncate(start);
            None
        };
        self.tails.insert((from, tail), t);
        self.last_tail = Some((from, tail, t));
        t
    }

    /// True when the format gets indexed: it has entries.
    fn indexed(&self) -> bool {
        !self.entries.is_empty() || !self.always.is_empty()
    }

    /// The needs of `e`.
    fn needs(&self, e: &FoundEntry) -> &[(Need, u64)] {
        &self.needs[e.needs.0 as usize..e.needs.1 as usize]
    }

    /// The values of `e` for `needs`, a subset of its own (an entry
    /// only moves to a coarser shape): both are sorted alike, so one
    /// pass finds them.
    fn values<'a>(
        &'a self,
        e: &FoundEntry,
        needs: &'a [Need],
    ) -> impl Iterator<Item = u64> + 'a {
        let mut own = self.needs(e).iter();
        needs.iter().map(move |n| own.find(|m| m.0 == *n).map_or(0, |m| m.1))
    }

    /// File entry `ei` if some key of `spec`'s format can match it.
    fn add(&mut self, f: &Format, pats: &'p Patterns, ei: u32, e: &PEntry) {
        let spec = f.spec;
        let pat = pats.key(e);
        let lit = &pat[..e.prefix as usize];
        let hit = Hit {
            priority: e.priority,
            visit: order::visit(e.prefix, e.post),
            module: e.module,
        };
        // Under the head: the same test that routes keys here (and
        // keeps the entry out of the trie for the other keys).
        if !f.has_head(lit) {
            // A literal part that the head starts with (`usb*`): any key
            // of the format may match.
            let (p, m0) = (spec.prefix, spec.markers[0]);
            let (a, b) = lit.split_at(lit.len().min(p.len()));
            if lit.len() < p.len() + m0.len()
                && p.starts_with(a)
                && m0.starts_with(b)
            {
                self.always.push((hit, ei));
            }
            return;
        }
        let start = self.needs.len();
        // A literal alias of the format: every field exact.
        let whole = e.wild_len == 0
            && tail_needs(f, 0, &pat[spec.prefix.len()..], &mut self.needs);
        let check = if whole {
            NONE
        } else {
            self.needs.truncate(start);
            let Some(end) = literal_needs(spec, lit, &mut self.needs) else {
                self.needs.truncate(start);
                return;
            };
            // The literal part and a `*`, then fields of the format:
            // compared field by field (libkmod compares the literal part
            // byte for byte, fnmatch would read a backslash as an
            // escape).
            let rest = &pat[lit.len()..];
            match (end, rest.split_first()) {
                (LitEnd::Value(i), Some((b'*', tail)))
                    if !lit.contains(&b'\\') =>
                {
                    match self.tail(f, i + 1, tail) {
                        Some((a, b)) => {
                            let t = &self.tail_needs[a as usize..b as usize];
                            self.needs.extend_from_slice(t);
                            NONE
                        }
                        None => ei,
                    }
                }
                _ => ei,
            }
        };
        if self.needs.len() == start {
            self.always.push((hit, check));
            return;
        }
        let needs = &mut self.needs[start..];
        if !needs.is_sorted_by_key(|n| (!n.0.exact, n.0.field)) {
            needs.sort_unstable_by_key(|n| (!n.0.exact, n.0.field));
        }
        self.entries.push(FoundEntry {
            needs: (start as u32, self.needs.len() as u32),
            shape: shape_code(&self.needs[start..]),
            hit,
            check,
        });
    }
}

/// Pack a hit as [`FieldIndex::records`] says: visit, priority and
/// (high half) module, entry and (high half) residual count, then each
/// residual as a packed need and a value.
fn pack_hit<'a>(
    out: &mut Vec<u64>,
    hit: Hit,
    entry: u32,
    res: impl IntoIterator<Item = &'a (Need, u64)>,
) {
    out.push(hit.visit);
    out.push(u64::from(hit.priority) | u64::from(hit.module.0) << 32);
    let at = out.len();
    out.push(u64::from(entry));
    for &(n, v) in res {
        out.extend([n.pack(), v]);
    }
    out[at] |= ((out.len() - at - 1) as u64 / 2) << 32;
}

/// The words of the packed hit at the start of `words`.
fn hit_len(words: &[u64]) -> usize {
    3 + 2 * (words[2] >> 32) as usize
}

/// Push the hits of a record (after its values) whose residual needs
/// the key's fields meet: `n` of them, packed as [`FieldIndex::records`]
/// says.
#[inline(always)]
fn push_record_hits(
    mut rec: &[u64],
    n: usize,
    pats: &Patterns,
    key: &[u8],
    f: &Fields,
    out: &mut Vec<Hit>,
) {
    for _ in 0..n {
        let [visit, pm, er, ref rest @ ..] = *rec else { return };
        let res = rest.get(..2 * (er >> 32) as usize).unwrap_or(&[]);
        rec = &rest[res.len()..];
        if !res.chunks_exact(2).all(|r| f.has(Need::unpack(r[0]), r[1])) {
            continue;
        }
        let entry = er as u32;
        if entry == NONE {
            out.push(Hit {
                priority: pm as u32,
                visit,
                module: super::ModuleId((pm >> 32) as u32),
            });
        } else {
            check(pats, entry, key, out);
        }
    }
}

/// Check entry `e` in full, as libkmod would meet it.
fn check(pats: &Patterns, e: u32, key: &[u8], out: &mut Vec<Hit>) {
    let en = &pats.entries[e as usize];
    pats.visits(en, key, |split| {
        out.push(Hit {
            priority: en.priority,
            visit: order::visit(split, en.post),
            module: en.module,
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usb() -> &'static Spec {
        &SPECS[0]
    }

    fn format(spec: &'static Spec) -> Format {
        Format::new(spec)
    }

    /// [`parse`]'s fields, or None.
    fn parsed(f: &Format, key: &[u8]) -> Option<Fields> {
        let mut out = Fields::default();
        parse(f, key, &mut out).then_some(out)
    }

    fn padded(key: &[u8]) -> Padded {
        let mut buf = [0u8; MAX_KEY + 2 * WORD];
        copy_key(&mut buf, key);
        buf
    }

    /// The search's fields (short or long), or None.
    fn searched(f: &Format, key: &[u8]) -> Option<Fields> {
        let mut out = Fields::default();
        let (buf, len) = (padded(key), key.len());
        let found = if len < 64 {
            parse_short(f, &buf, len, &mut out)
        } else {
            parse_long(f, &buf, len, &mut out)
        };
        found.then_some(out)
    }

    /// [`Layout::parse`]'s fields, or None.
    fn laid_out(f: &Format, key: &[u8]) -> Option<Fields> {
        let mut out = Fields::default();
        f.layout.parse(&padded(key), key.len(), &mut out).then_some(out)
    }

    /// Each field's value, from its words.
    fn values(f: &Fields, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                let w = f.word[i].to_le_bytes();
                w.iter().copied().take_while(|&b| b != 0).collect()
            })
            .collect()
    }

    /// Comparing fields decides fnmatch for every pattern and key of
    /// the form, on a format whose markers overlap and repeat.
    #[test]
    fn fields_decide_matches() {
        static SPEC: Spec = Spec {
            prefix: b"x:",
            markers: &[b"a", b"ba", b"b", b"a"],
            widths: &[],
        };
        let spec = &SPEC;
        let fmt = format(spec);
        let globs: [&[u8]; 6] = [b"*", b"1", b"1*", b"", b"12", b"2*"];
        let vals: [&[u8]; 5] = [b"", b"1", b"2", b"12", b"21"];
        let join = |parts: &[&[u8]]| {
            let mut v = spec.prefix.to_vec();
            for (m, p) in spec.markers.iter().zip(parts) {
                v.extend_from_slice(m);
                v.extend_from_slice(p);
            }
            v
        };
        let mut checked = 0;
        for gi in 0..globs.len().pow(4) {
            let g: Vec<&[u8]> = (0..4)
                .map(|d| globs[gi / globs.len().pow(d) % globs.len()])
                .collect();
            let pat = join(&g);
            let mut needs = Vec::new();
            assert!(tail_needs(&fmt, 0, &pat[2..], &mut needs));
            for vi in 0..vals.len().pow(4) {
                let v: Vec<&[u8]> = (0..4)
                    .map(|d| vals[vi / vals.len().pow(d) % vals.len()])
                    .collect();
                let key = join(&v);
                let f = parsed(&fmt, &key).unwrap();
                assert_eq!(values(&f, 4), v);
                let by_fields = needs.iter().all(|&(n, w)| f.has(n, w));
                assert_eq!(
                    by_fields,
                    crate::matcher::fnmatch::fnmatch(&pat, &key),
                    "{} {}",
                    String::from_utf8_lossy(&pat),
                    String::from_utf8_lossy(&key)
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 1296 * 625);
    }

    /// The heads known after the first half of a build route keys as
    /// the built index does: formats with entries, with entries only
    /// under `*`-led patterns, and with none.
    #[test]
    fn heads_route_like_the_index() {
        use crate::modindex::{Index, IndexWriter};
        let cases: [&[&str]; 4] = [
            &["usb:v1234p*d*", "pci:v00008086d*", "hid:b0003g*", "x*"],
            &["*", "ccw:t3990m*"],
            &["usb:v1234p*d*", "usb:vbad"],
            &["ieee1394:ven*mo*sp*ver*", "usb*", "pci:v0000"],
        ];
        let keys = [
            "usb:v1234p5678d0100dc00dsc00dp00ic03isc01ip01in00",
            "usb:v",
            "usb:x",
            "pci:v00008086d00001234sv*",
            "pci:",
            "hid:b0003g0001v00001234p00005678",
            "ieee1394:ven00000001mo00000002sp0000A02Dver00010001",
            "ccw:t3990m01dt3390dm0C",
            "",
            "u",
        ];
        for pats in cases {
            let mut w = IndexWriter::new();
            for p in pats {
                w.insert(p.as_bytes(), b"m", 0).unwrap();
            }
            let index = Index::from_vec(w.to_bytes()).unwrap();
            let pats = Patterns::from_index(&index);
            let found = FieldIndex::find_entries(&pats);
            let heads = found.heads();
            let ix = found.index();
            let lits =
                pats.entries.iter().map(|e| &pats.key(e)[..e.prefix as usize]);
            for k in lits.chain(keys.iter().map(|k| k.as_bytes())) {
                assert_eq!(
                    heads.routes(k),
                    ix.format_of(k).is_some(),
                    "{}",
                    String::from_utf8_lossy(k)
                );
            }
        }
    }

    #[test]
    fn sort_spread_sorts() {
        let mut rng = crate::test_rng::XorShift::new(7);
        let mut word =
            || u128::from(rng.next()) << 32 | u128::from(rng.next());
        for n in [0, 1, 5, 63, 64, 65, 1000, 5000] {
            // Spread hashes, few distinct ones (long equal runs), and
            // numbers that differ only in their low bits (one range).
            for kind in 0..3 {
                let v: Vec<u128> = (0..n)
                    .map(|_| {
                        let r = word();
                        match kind {
                            0 => r << 64 | word(),
                            1 => (r % 7) << 120 | (r % 3),
                            _ => r,
                        }
                    })
                    .collect();
                let (mut ours, mut want) = (v.clone(), v);
                super::sort_spread(&mut ours);
                want.sort_unstable();
                assert_eq!(ours, want, "n {n}, kind {kind}");
            }
        }
    }

    #[test]
    fn markers_are_not_hex() {
        let mut firsts: Vec<u8> = SPECS.iter().map(|s| s.prefix[0]).collect();
        firsts.sort();
        firsts.dedup();
        assert_eq!(firsts.len(), SPECS.len(), "prefixes start alike");
        for s in SPECS {
            assert!(s.markers.len() <= MAX_FIELDS);
            for m in s.markers {
                assert!(!m.is_empty());
                assert!(m.iter().all(|&b| !is_value(b) && b != b'*'));
            }
        }
    }

    #[test]
    fn parses_fields() {
        let usb = format(usb());
        let key = b"usb:v0BB4p0001d038Cdc02dsc01dp02ic02isc06ip45in";
        let f = parsed(&usb, key).unwrap();
        let v = values(&f, 10);
        assert_eq!(v[0], b"0BB4");
        assert_eq!(v[2], b"038C");
        assert_eq!(v[8], b"45");
        assert_eq!(v[9], b"");
        // A value longer than a word has no exact word.
        let key = b"usb:v0123456789ABp0001d038Cdc02dsc01dp02ic02isc06ip45in";
        let f = parsed(&usb, key).unwrap();
        assert_eq!(f.word[0], word(b"01234567", 0, 8));
        assert_eq!(f.exact[0], TOO_LONG);
        for bad in [
            &b"usb:v0bb4p0001d038Cdc02dsc01dp02ic02isc06ip45in"[..],
            b"usb:v0BB4p0001",
            b"usb:vp0001dDdcdscdpicsciscipin00x",
            b"usb:vp0001d\0dcdscdpiciscipin00",
            &[b'0'; 200],
        ] {
            assert!(
                parsed(&usb, bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parsed(&usb, b"usb:vpddcdscdpiciscipin").is_some());
        let mut long = b"usb:v1p2ddcdscdpiciscipin".to_vec();
        long.resize(MAX_KEY, b'0');
        assert!(parsed(&usb, &long).is_some());
        assert!(parsed(&usb, b"usb:v_.:pddcdscdpiciscipinZZ").is_some());
    }

    /// The layout fast path gives the search's fields, on keys of the
    /// layout and on keys a byte, or a length, away from it.
    #[test]
    fn layouts_parse_like_search() {
        let mut rng = crate::test_rng::XorShift::new(0x1a70);
        let odd: &[u8] = b"0123456789ABCDEFabcdefgpvisn:*?[]\\\0\x7f\x80\xff";
        let mut fast_ones = 0;
        for spec in SPECS {
            let f = format(spec);
            assert!(f.layout.len > 0);
            for _ in 0..20_000 {
                let mut key = spec.prefix.to_vec();
                for (m, &w) in spec.markers.iter().zip(spec.widths) {
                    key.extend_from_slice(m);
                    for _ in 0..w {
                        key.push(b"0123456789ABCDEF"[rng.below(16)]);
                    }
                }
                let whole = laid_out(&f, &key);
                assert_eq!(whole, searched(&f, &key));
                assert!(whole.is_some());
                match rng.below(4) {
                    0 => {}
                    1 => key.truncate(rng.below(key.len())),
                    2 => key.insert(
                        rng.below(key.len() + 1),
                        odd[rng.below(odd.len())],
                    ),
                    _ => {
                        let i = rng.below(key.len());
                        key[i] = odd[rng.below(odd.len())];
                    }
                }
                let fast = laid_out(&f, &key);
                let search = searched(&f, &key);
                if fast.is_some() {
                    fast_ones += 1;
                    assert_eq!(
                        fast,
                        search,
                        "{}",
                        String::from_utf8_lossy(&key)
                    );
                }
            }
        }
        assert!(fast_ones > 20_000);
    }

    /// Both searches agree on keys short enough for the quick one:
    /// values of every length, odd bytes, broken structure.
    #[test]
    fn short_and_long_searches_agree() {
        let mut rng = crate::test_rng::XorShift::new(0x5407);
        let bytes: &[u8] = b"0123ABCF_-:*?[\\\x7f\x80\xffaisvdpcnbgz";
        let mut parsed = 0;
        for spec in SPECS {
            let f = format(spec);
            for _ in 0..20_000 {
                let mut key = spec.prefix.to_vec();
                for m in spec.markers {
                    if rng.below(30) > 0 {
                        key.extend_from_slice(m);
                    }
                    let n = rng.below(12);
                    key.extend((0..n).map(|_| {
                        let hex = rng.below(8) > 0;
                        let pick = if hex { &bytes[..8] } else { bytes };
                        pick[rng.below(pick.len())]
                    }));
                }
                if key.len() >= 64 {
                    continue;
                }
                let buf = padded(&key);
                let (mut a, mut b) = (Fields::default(), Fields::default());
                let short = parse_short(&f, &buf, key.len(), &mut a);
                let long = parse_long(&f, &buf, key.len(), &mut b);
                assert_eq!(short, long, "{}", String::from_utf8_lossy(&key));
                if short {
                    assert_eq!(a, b, "{}", String::from_utf8_lossy(&key));
                    parsed += 1;
                }
            }
        }
        assert!(parsed > 10_000, "{parsed}");
    }

    fn lit_needs(lit: &[u8]) -> Option<Vec<(Need, u64)>> {
        let mut v = Vec::new();
        literal_needs(usb(), lit, &mut v).map(|_| v)
    }

    #[test]
    fn literal_parts_fix_fields() {
        let n = lit_needs(b"usb:v0BB4p0001d0").unwrap();
        let got: Vec<Need> = n.iter().map(|x| x.0).collect();
        assert_eq!(
            got,
            [
                Need { field: 0, len: 4, exact: true },
                Need { field: 1, len: 4, exact: true },
                Need { field: 2, len: 1, exact: false },
            ]
        );
        assert_eq!(lit_needs(b"usb:v").unwrap(), []);
        assert_eq!(lit_needs(b"usb:v12x"), None);
        assert_eq!(lit_needs(b"usb:v12pd").unwrap().len(), 2);
    }
}
