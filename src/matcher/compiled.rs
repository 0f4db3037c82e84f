//! The trie matcher: same answers as the naive scan, without looking at
//! most patterns. [`super::AliasMatcher`] asks it for the keys the field
//! index does not take (see [`super::alias`]).
//!
//! Every entry splits into a literal part (up to its first `*`, `?`
//! or `[`) and a tail. libkmod compares the literal part byte for byte
//! and fnmatches the tail (see [`super::patterns`]), so:
//!
//! 1. A Patricia trie over all literal parts finds, walking the key
//!    once, the groups of entries whose literal part is a prefix of the
//!    key, and the literal entries equal to the key.
//! 2. A small group is checked entry by entry. A large group (e.g. the
//!    60 generic `usb:v*p*d*dc*dsc*dp*icXXiscYYipZZin*` patterns) is
//!    indexed by an *anchor* per entry: the longest run of plain bytes
//!    in its tail, which must appear somewhere in the key's tail since
//!    every element but `*` consumes one byte. An anchor is indexed
//!    under its first `stride` 4-byte heads, so the key is looked at
//!    every `stride` bytes only (the stride is chosen per group from
//!    how crowded the heads are); a bitmap and a hash table of heads
//!    give the few entries worth an fnmatch. Entries without a usable
//!    anchor are always checked.
//! 3. Entries checked one by one first pass a 64-bit signature test
//!    (hashed byte pairs of their literal segments against those of the
//!    key, computed once per lookup, see [`super::glob`]).
//! 4. The survivors run their tail compiled once per distinct tail
//!    ([`super::glob`]: anchored first and last segments, leftmost search
//!    of the others, eight bytes at a time; linear, never exponential),
//!    or glibc's fnmatch for the few tails glibc reads in a
//!    context-dependent way.
//!
//! Lookups in random order (a coldplug's) are bound by cache misses
//! and mispredicted branches more than by instructions, so each trie
//! node carries the entries it checks one by one inline, with all a hit
//! records, and the walk prefetches the next node before checking the
//! current one's entries.
//!
//! The matcher is immutable, `Send + Sync`, and allocates nothing per
//! lookup once the caller's output vector has grown.

use super::fnmatch::{fnmatch_nonul as fnmatch, simple_end};
use super::glob::{load8, signature, GlobId, Globs, Signature};
use super::order::{self, Hit};
use super::patterns::{PEntry, Patterns};
use super::ModuleId;
#[cfg(test)]
use crate::modindex::Index;

const NONE: u32 = u32::MAX;
/// Groups up to this size are checked entry by entry.
const SMALL_GROUP: usize = 6;
/// Anchors are found through their first 4 bytes.
const HEAD: usize = 4;
/// The cost of an anchor probe against a bloom test, in the choice of
/// a group's stride: fit on the bundled kernels' golden corpora
/// (instructions per lookup of the usb, pci, hid, of, acpi and pcmcia
/// keys; 0.01 to 10 tried).
const PROBE_WEIGHT: f64 = 0.1;

/// Trie nodes live back to back in one byte blob, each in one piece
/// with the entries it checks, so a step down the trie touches one or
/// two cache lines (the walk is bound by cache misses when lookups
/// come in random order, as a coldplug's do):
///
/// ```text
///  0  u8  first, u8 last   child byte range (first > last: no children)
///  2  u8  label_len
///  3  u8  flags        EXACT, CHECK, ANCHORED, WIDE_FIELDS
///  4  u32 exact        start of the node's literal entries in `exact`
///  8  u16 exact_len
/// 10  u16 ncheck       candidates inline after the child table
/// 12  u32 anchored     index into `anchored`, or NONE
/// 16  with WIDE_FIELDS: label_len, exact_len and ncheck as u32s
///     label bytes, then u32 child offsets x (last - first + 1), NONE =
///     absent, then ncheck candidates of CAND bytes (see `Cand::write`)
/// ```
///
/// The flags let the walk pass the many nodes that only branch (most
/// of a pci or usb key's) with a header load, a label compare and a
/// child lookup.
const NODE_HEADER: usize = 16;
/// The node has literal entries.
const EXACT: u8 = 1;
/// The node has inline candidates.
const CHECK: u8 = 2;
/// The node has an anchored group.
const ANCHORED: u8 = 4;
/// A field does not fit its header slot: all three are u32s after it.
const WIDE_FIELDS: u8 = 8;
/// A node with a single candidate checks it without the signature
/// prefilter (unless it is at hand): the prefilter costs about as much
/// as a glob run of a usual tail (1 to 6 tried: corpus instructions a
/// lookup were least at 2).
const SIG_MIN: usize = 2;
/// Bytes of an inline candidate.
const CAND: usize = 28;

#[inline(always)]
fn u32_at(b: &[u8], o: usize) -> u32 {
    // One bounds check for the four bytes, not one each.
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

/// The anchored entries of a large group.
#[derive(Debug, Clone)]
struct Anchored {
    /// Range of `anchors`, sorted by head.
    anchors: (u32, u32),
    /// The key is looked at every `stride` bytes: each anchor is indexed
    /// under its first `stride` heads, one of which an occurrence puts
    /// on a looked-at place.
    stride: u32,
    /// Bitmap over hashed heads: offset in `bloom` and log2 of its bits.
    bloom: u32,
    bloom_bits: u32,
    /// Open-addressing table from a head to its first anchor: offset in
    /// `head_slots` and log2 of its size.
    slots: u32,
    slot_bits: u32,
}

/// An entry to check, with its prefilter, compiled tail and what a hit
/// records at hand, so checking it touches nothing else.
#[derive(Debug, Clone, Copy)]
struct Cand {
    need: Signature,
    glob: GlobId,
    entry: u32,
    priority: u32,
    post: u32,
    module: ModuleId,
}

impl Cand {
    fn write(&self, t: &mut Vec<u8>) {
        let mut c = [0u8; CAND];
        c[..8].copy_from_slice(&self.need.to_le_bytes());
        let words = [self.glob, self.entry, self.priority, self.post];
        for (k, v) in words.into_iter().chain([self.module.0]).enumerate() {
            c[8 + 4 * k..12 + 4 * k].copy_from_slice(&v.to_le_bytes());
        }
        t.extend_from_slice(&c);
    }

    #[inline(always)]
    fn read(c: &[u8; CAND]) -> Cand {
        let w = |at: usize| {
            u32::from_le_bytes([c[at], c[at + 1], c[at + 2], c[at + 3]])
        };
        Cand {
            need: u64::from_le_bytes(c[..8].try_into().unwrap()),
            glob: w(8),
            entry: w(12),
            priority: w(16),
            post: w(20),
            module: ModuleId(w(24)),
        }
    }
}

/// The entries of a large group already checked in this lookup: an
/// anchor can occur more than once in a key.
#[derive(Default)]
struct Seen {
    first: [u32; 16],
    n: usize,
    more: Vec<u32>,
}

impl Seen {
    /// False when `entry` was seen before.
    fn insert(&mut self, entry: u32) -> bool {
        if self.first[..self.n].contains(&entry) || self.more.contains(&entry)
        {
            return false;
        }
        if self.n < self.first.len() {
            self.first[self.n] = entry;
            self.n += 1;
        } else {
            self.more.push(entry);
        }
        true
    }
}

/// A literal run an entry's matches contain, found through one of its
/// first `stride` 4-byte heads.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    head: u32,
    /// Where the head starts in the anchor.
    skip: u32,
    /// Bytes 0..8 of the anchor (little-endian, zero-padded), so most
    /// candidates are refused without touching the pattern arena.
    first: u64,
    /// Offset of the anchor in the pattern arena, and its length.
    at: u32,
    len: u32,
    /// The entry, in `anchor_cands`.
    cand: u32,
}

/// The child, in trie `t`, of the node whose child table starts at
/// `table` and spans `kids` bytes from `first`, on key byte `ch` (none
/// past the key's end), or NONE.
#[inline(always)]
fn child(
    t: &[u8],
    table: usize,
    first: usize,
    kids: usize,
    ch: Option<&u8>,
) -> u32 {
    match ch {
        Some(&ch) if usize::from(ch).wrapping_sub(first) < kids => {
            u32_at(t, table + 4 * (usize::from(ch) - first))
        }
        _ => NONE,
    }
}

/// A software prefetch of the cache line at `p`: the trie walk asks for
/// the next node before it checks the current node's entries.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            p.cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `a == b` for slices of equal length, without a call for the short
/// labels of the trie.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
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

/// A matcher compiled from one index; see the module docs.
#[derive(Debug, Clone)]
pub struct Trie {
    /// The entries compiled (ids index this), pointing into the
    /// pattern table every lookup is given: the table is not copied.
    entries: Vec<PEntry>,
    trie: Vec<u8>,
    exact: Vec<u32>,
    anchored: Vec<Anchored>,
    anchors: Vec<Anchor>,
    /// The entries of the anchors, each once.
    anchor_cands: Vec<Cand>,
    bloom: Vec<u64>,
    /// Index in `anchors` of a head's first anchor, or NONE.
    head_slots: Vec<u32>,
    globs: Globs,
}

/// The runs of plain bytes in `tail` that every match must contain, as
/// (start, len), into `out`; stops at the first bracket whose extent is
/// not certain (glibc's parse of odd brackets depends on the string).
fn runs(tail: &[u8], out: &mut Vec<(usize, usize)>) {
    out.clear();
    let mut run: Option<usize> = None;
    let mut k = 0;
    let close = |run: &mut Option<usize>, k: usize, out: &mut Vec<_>| {
        if let Some(s) = run.take() {
            out.push((s, k - s));
        }
    };
    while k < tail.len() {
        match tail[k] {
            b'*' | b'?' | b']' => {
                close(&mut run, k, out);
                k += 1;
            }
            b'\\' => {
                close(&mut run, k, out);
                k += 2;
            }
            b'[' => {
                close(&mut run, k, out);
                match simple_end(tail, k) {
                    Some(end) => k = end,
                    None => return,
                }
            }
            _ => {
                if run.is_none() {
                    run = Some(k);
                }
                k += 1;
            }
        }
    }
    close(&mut run, tail.len(), out);
}

fn head_of(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

const BLOOM_MUL: u32 = 0x9E37_79B1;

#[inline]
fn bloom_bit(head: u32, bits: u32) -> u32 {
    head.wrapping_mul(BLOOM_MUL) >> (32 - bits)
}

/// A head's first slot in a table of `1 << bits` (another hash than
/// the bloom's, so the two filters do not fail together).
#[inline]
fn head_slot(head: u32, bits: u32) -> usize {
    (u64::from(head).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits))
        as usize
}

/// The distinct 4-byte heads of a large group's literal runs, each
/// with how many members have it: open addressing over a table sized
/// once from the number of 4-grams, since a general hash map costs
/// several times more per 4-gram.
struct HeadTable {
    /// Index in `heads`, or NONE.
    slots: Vec<u32>,
    shift: u32,
    /// (head, members having it, last member counted).
    heads: Vec<(u32, u32, u32)>,
}

impl HeadTable {
    fn new(grams: usize) -> HeadTable {
        let n = (2 * grams).next_power_of_two().max(2);
        HeadTable {
            slots: vec![NONE; n],
            shift: 32 - n.trailing_zeros(),
            heads: Vec::new(),
        }
    }

    /// Count `head` for `member` (once per member, members in order);
    /// returns its index in `heads`.
    fn count(&mut self, head: u32, member: u32) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = (head.wrapping_mul(BLOOM_MUL) >> self.shift) as usize;
        loop {
            let n = self.slots[i];
            if n == NONE {
                self.slots[i] = self.heads.len() as u32;
                self.heads.push((head, 1, member));
                return self.slots[i];
            }
            let h = &mut self.heads[n as usize];
            if h.0 == head {
                if h.2 != member {
                    h.1 += 1;
                    h.2 = member;
                }
                return n;
            }
            i = (i + 1) & mask;
        }
    }
}

/// Length of the common prefix of `a` and `b`, eight bytes at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let w8 = |x: &[u8], at: usize| {
        u64::from_le_bytes(x[at..at + 8].try_into().unwrap())
    };
    let mut i = 0;
    while i + 8 <= n {
        let x = w8(a, i) ^ w8(b, i);
        if x != 0 {
            return i + (x.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..n].iter().zip(&b[i..n]).take_while(|(x, y)| x == y).count()
}

/// A node of the Patricia trie under construction.
#[derive(Clone, Copy)]
struct BNode {
    /// Length of the node's path.
    depth: u32,
    /// Where in the arena a string with this path starts: the node's
    /// edge byte and label are read from there.
    at: u32,
    parent: u32,
}

/// The Patricia trie over `lits` (ranges of `arena`), which must list
/// every string sharing a prefix back to back (as a post-order walk of
/// the index does). Built in one pass along the rightmost path, as a
/// suffix tree from an LCP array: no node is ever split or searched.
/// Returns the nodes (root first) and each string's node.
fn shape(
    arena: &[u8],
    lits: impl ExactSizeIterator<Item = (u32, u32)>,
) -> (Vec<BNode>, Vec<u32>) {
    let n = lits.len();
    let mut nodes = Vec::with_capacity(n + n / 2 + 1);
    nodes.push(BNode { depth: 0, at: 0, parent: NONE });
    let mut node_of = Vec::with_capacity(n);
    let mut path = vec![0u32];
    let mut prev: &[u8] = &[];
    for (at, len) in lits {
        let s = &arena[at as usize..(at + len) as usize];
        let l = common_prefix(prev, s) as u32;
        // Close the nodes below the common prefix; a node at depth `l`
        // appears between the last closed one and its parent if needed.
        while let [.., below, top] = path[..] {
            let (below, top) = (below as usize, top as usize);
            if nodes[top].depth <= l {
                break;
            }
            path.pop();
            if nodes[below].depth < l {
                let at = nodes[top].at;
                nodes.push(BNode { depth: l, at, parent: below as u32 });
                nodes[top].parent = nodes.len() as u32 - 1;
                path.push(nodes.len() as u32 - 1);
            }
        }
        let top = *path.last().unwrap();
        let node = if nodes[top as usize].depth == len {
            top
        } else {
            nodes.push(BNode { depth: len, at, parent: top });
            path.push(nodes.len() as u32 - 1);
            nodes.len() as u32 - 1
        };
        node_of.push(node);
        prev = s;
    }
    (nodes, node_of)
}

impl BNode {
    /// The node's label as a range of the arena, and the byte on the
    /// edge to it (the root has neither).
    fn label(&self, nodes: &[BNode], arena: &[u8]) -> (u32, u32, u8) {
        if self.parent == NONE {
            return (0, 0, 0);
        }
        let p = nodes[self.parent as usize].depth;
        (self.at + p + 1, self.depth - p - 1, arena[(self.at + p) as usize])
    }
}

impl Trie {
    /// Compile the entries of `index`.
    #[cfg(test)]
    pub fn build(index: &Index) -> (Trie, Patterns) {
        let pats = Patterns::from_index(index);
        (Trie::from_patterns(&pats, pats.entries.clone()), pats)
    }

    /// Compile `entries` of the pattern table `pats` (in its order).
    pub fn from_patterns(pats: &Patterns, entries: Vec<PEntry>) -> Trie {
        let n = entries.len();
        // Literal entries end at their key's end, the others at their
        // literal part's; `Patterns` lists them in post-order.
        let lits = entries.iter().map(|e| {
            (e.key, if e.wild_len == 0 { e.key_len } else { e.prefix })
        });
        let (b, node_of) = shape(&pats.keys, lits);
        let labels: Vec<_> =
            b.iter().map(|x| x.label(&b, &pats.keys)).collect();
        let mut m = Trie {
            entries,
            trie: Vec::new(),
            exact: Vec::new(),
            anchored: Vec::new(),
            anchors: Vec::new(),
            anchor_cands: Vec::new(),
            bloom: Vec::new(),
            head_slots: Vec::new(),
            globs: Globs::default(),
        };
        // Each entry's compiled tail, or NONE (fnmatch it), for the
        // build only: a candidate carries its own. Thousands of entries
        // share a tail (`*sv*sd*bc*sc*i*`): compile each distinct one
        // once. Neighbours in post-order often share one: the last tail
        // spares most lookups.
        let mut tails = Vec::with_capacity(n);
        let mut seen: super::fxhash::FxHashMap<&[u8], GlobId> =
            Default::default();
        let mut last: Option<(&[u8], GlobId)> = None;
        for e in &m.entries {
            if e.wild_len == 0 {
                tails.push(NONE);
                continue;
            }
            let tail = &pats.key(e)[e.prefix as usize..];
            let glob = match last {
                Some((t, g)) if t == tail => g,
                _ => *seen
                    .entry(tail)
                    .or_insert_with(|| m.globs.compile(tail).unwrap_or(NONE)),
            };
            last = Some((tail, glob));
            tails.push(glob);
        }
        // Each node's children, grouped by parent (counting sort), then
        // in byte order; its literal entries and group members likewise,
        // in entry order.
        let mut kid0 = vec![0u32; b.len() + 1];
        for c in &b[1..] {
            kid0[c.parent as usize + 1] += 1;
        }
        for i in 0..b.len() {
            kid0[i + 1] += kid0[i];
        }
        let mut fill = kid0.clone();
        let mut kids = vec![(0u8, 0u32); b.len() - 1];
        for (c, node) in b.iter().enumerate().skip(1) {
            let p = node.parent as usize;
            kids[fill[p] as usize] = (labels[c].2, c as u32);
            fill[p] += 1;
        }
        let kids_of = |n: usize| kid0[n] as usize..kid0[n + 1] as usize;
        for n in 0..b.len() {
            let k = &mut kids[kids_of(n)];
            // Mostly in order already: children appear in byte order.
            if !k.is_sorted_by_key(|k| k.0) {
                k.sort_unstable_by_key(|k| k.0);
            }
        }
        // Per node: how many literal entries, then where they start in
        // `exact`.
        let mut x0 = vec![0u32; b.len()];
        let mut mem0 = vec![0u32; b.len() + 1];
        for (e, &node) in m.entries.iter().zip(&node_of) {
            if e.wild_len == 0 {
                x0[node as usize] += 1;
            } else {
                mem0[node as usize + 1] += 1;
            }
        }
        for i in 0..b.len() {
            mem0[i + 1] += mem0[i];
        }
        let mut members = vec![0u32; mem0[b.len()] as usize];
        fill.copy_from_slice(&mem0);
        for (id, (e, &node)) in m.entries.iter().zip(&node_of).enumerate() {
            if e.wild_len != 0 {
                let at = &mut fill[node as usize];
                members[*at as usize] = id as u32;
                *at += 1;
            }
        }
        // Pre-order: a node, then its children in byte order, so the
        // first child usually shares the parent's cache line.
        let mut order = Vec::with_capacity(b.len());
        let mut stack = vec![0u32];
        while let Some(n) = stack.pop() {
            order.push(n as usize);
            stack.extend(kids[kids_of(n as usize)].iter().rev().map(|k| k.1));
        }
        // Each node's group: candidates to inline (a range of `cands`)
        // and its anchored entries.
        let mut cands = Vec::with_capacity(mem0[b.len()] as usize);
        let mut group = vec![(0u32, 0u32, NONE); b.len()];
        for &n in &order {
            if mem0[n] < mem0[n + 1] {
                let ms = &members[mem0[n] as usize..mem0[n + 1] as usize];
                let c0 = cands.len() as u32;
                let a = m.add_group(pats, ms, &tails, &mut cands);
                group[n] = (c0, cands.len() as u32 - c0, a);
            }
        }
        let mut offset = vec![0u32; b.len()];
        let mut size = 0usize;
        let mut x = 0u32;
        for &n in &order {
            offset[n] = size as u32;
            let k = &kids[kids_of(n)];
            let nk = match (k.first(), k.last()) {
                (Some(f), Some(l)) => usize::from(l.0 - f.0) + 1,
                _ => 0,
            };
            let c = x0[n];
            let wide = labels[n].1 > u32::from(u8::MAX)
                || c > u32::from(u16::MAX)
                || group[n].1 > u32::from(u16::MAX);
            size += NODE_HEADER
                + 12 * usize::from(wide)
                + labels[n].1 as usize
                + 4 * nk
                + CAND * group[n].1 as usize;
            // Exact entries go in pre-order, each node's in entry order.
            x0[n] = x;
            x += c;
        }
        m.exact.resize(x as usize, 0);
        let mut xfill = x0.clone();
        for (id, (e, &node)) in m.entries.iter().zip(&node_of).enumerate() {
            if e.wild_len == 0 {
                let at = &mut xfill[node as usize];
                m.exact[*at as usize] = id as u32;
                *at += 1;
            }
        }
        m.trie.reserve_exact(size);
        for &n in &order {
            let (c0, nc, anchored) = group[n];
            let k = &kids[kids_of(n)];
            let (first, last) = match (k.first(), k.last()) {
                (Some(f), Some(l)) => (f.0, l.0),
                _ => (1, 0),
            };
            let (ls, ll) = (labels[n].0 as usize, labels[n].1 as usize);
            let nx = xfill[n] - x0[n];
            let t = &mut m.trie;
            let wide = u8::try_from(ll).is_err()
                || u16::try_from(nx).is_err()
                || u16::try_from(nc).is_err();
            let flags = [
                (nx != 0, EXACT),
                (nc != 0, CHECK),
                (anchored != NONE, ANCHORED),
                (wide, WIDE_FIELDS),
            ]
            .iter()
            .fold(0, |f, &(on, bit)| if on { f | bit } else { f });
            t.push(first);
            t.push(last);
            t.push(ll as u8);
            t.push(flags);
            t.extend_from_slice(&x0[n].to_le_bytes());
            t.extend_from_slice(&(nx as u16).to_le_bytes());
            t.extend_from_slice(&(nc as u16).to_le_bytes());
            t.extend_from_slice(&anchored.to_le_bytes());
            if wide {
                for v in [ll as u32, nx, nc] {
                    t.extend_from_slice(&v.to_le_bytes());
                }
            }
            t.extend_from_slice(&pats.keys[ls..ls + ll]);
            if first <= last {
                let mut k = k.iter().peekable();
                for c in first..=last {
                    let o = match k.peek() {
                        Some(&&(kc, kn)) if kc == c => {
                            k.next();
                            offset[kn as usize]
                        }
                        _ => NONE,
                    };
                    t.extend_from_slice(&o.to_le_bytes());
                }
            }
            for c in &cands[c0 as usize..(c0 + nc) as usize] {
                c.write(t);
            }
        }
        debug_assert_eq!(m.trie.len(), size);
        m
    }

    /// Entry `id` as a candidate; `tails` are the entries' compiled
    /// tails.
    fn cand(&self, tails: &[GlobId], id: u32) -> Cand {
        let glob = tails[id as usize];
        let need = if glob == NONE { 0 } else { self.globs.need(glob) };
        let e = &self.entries[id as usize];
        Cand {
            need,
            glob,
            entry: id,
            priority: e.priority,
            post: e.post,
            module: e.module,
        }
    }

    /// Push the entries of the group `members` to check one by one on
    /// `cands`; index the others by anchor. Returns the index of the
    /// anchored part in `anchored`, or NONE.
    fn add_group(
        &mut self,
        pats: &Patterns,
        members: &[u32],
        tails: &[GlobId],
        cands: &mut Vec<Cand>,
    ) -> u32 {
        if members.len() <= SMALL_GROUP {
            cands.extend(members.iter().map(|&id| self.cand(tails, id)));
            NONE
        } else {
            // Each entry is found through a literal run of its tail,
            // which every match contains, by the run's first `stride`
            // 4-byte heads: a key is then looked at every `stride` bytes
            // only. The run is picked so its heads are shared by the
            // fewest entries of the group, so no head is crowded (`d000`
            // would be in hundreds of pci patterns).
            // Every 4-gram of every member's literal runs, computed once:
            // (member, head, offset in the tail, bytes left in the run);
            // then the head is replaced by its slot in `heads`: the head,
            // how many members have it and the last one counted.
            let member_tails = members.iter().map(|&id| {
                let e = &self.entries[id as usize];
                &pats.key(e)[e.prefix as usize..]
            });
            let mut grams: Vec<(u32, u32, u32, u32)> = Vec::with_capacity(
                member_tails.clone().map(<[u8]>::len).sum(),
            );
            let mut longest = vec![0usize; members.len()];
            let mut rs = Vec::new();
            for (k, t) in member_tails.enumerate() {
                runs(t, &mut rs);
                for &(s, l) in &rs {
                    longest[k] = longest[k].max(l);
                    for at in s..(s + l).saturating_sub(HEAD - 1) {
                        let left = (s + l - at) as u32;
                        let h = head_of(&t[at..]);
                        grams.push((k as u32, h, at as u32, left));
                    }
                }
            }
            let mut heads = HeadTable::new(grams.len());
            for g in &mut grams {
                g.1 = heads.count(g.1, g.0);
            }
            let heads = heads.heads;
            // Per member and stride, the start of the `stride` heads to
            // index in its 4-grams: the window in one run whose heads
            // are shared least, then the longest anchor. 4-grams of a
            // run are adjacent in `grams`, and a window whose first gram
            // leaves room ends in its run. One pass over each member's
            // grams serves every stride.
            const STRIDES: [usize; 4] = [1, 2, 4, 8];
            let mut picks: [Vec<u32>; 4] = Default::default();
            let mut crowds = [0u64; 4];
            let mut prefix: Vec<u32> = Vec::new();
            for chunk in grams.chunk_by(|x, y| x.0 == y.0) {
                prefix.clear();
                prefix.push(0);
                let mut sum = 0;
                for g in chunk {
                    sum += heads[g.1 as usize].1;
                    prefix.push(sum);
                }
                let mut best = [(u32::MAX, std::cmp::Reverse(0u32), NONE); 4];
                for (w0, g) in chunk.iter().enumerate() {
                    let left = g.3 as usize;
                    for (b, st) in best.iter_mut().zip(STRIDES) {
                        if left < HEAD + st - 1 {
                            break;
                        }
                        let crowd = prefix[w0 + st] - prefix[w0];
                        let c = (crowd, std::cmp::Reverse(g.3));
                        if c < (b.0, b.1) {
                            *b = (c.0, c.1, w0 as u32);
                        }
                    }
                }
                for (k, b) in best.iter().enumerate() {
                    picks[k].push(b.2);
                    if b.2 != NONE {
                        crowds[k] += u64::from(b.0);
                    }
                }
            }
            // The stride of least estimated cost: a lookup looks at a
            // 1/stride of the key's places, each costing a bloom test,
            // plus, for each indexed head, the chance a key holds it
            // (the share of members that do) times its anchors, that is
            // the picked heads' crowds summed over the members; an
            // entry left without an anchor costs a check per lookup.
            // Every member with a gram has a stride-1 pick.
            let mut best_cost = f64::MAX;
            let mut k_best = 0;
            for k in 0..STRIDES.len() {
                let lost = picks[k].iter().filter(|&&w| w == NONE).count();
                if lost > 2 {
                    break;
                }
                let probes = crowds[k] as f64 / members.len() as f64;
                let cost = (1.0 + PROBE_WEIGHT * probes) / STRIDES[k] as f64
                    + lost as f64;
                if cost < best_cost {
                    best_cost = cost;
                    k_best = k;
                }
            }
            let stride = STRIDES[k_best];
            // Per anchored member: (entry, anchor in the arena, its
            // length, its first 8 bytes); `order`: its heads.
            let mut found: Vec<(u32, u32, u32, u64)> =
                Vec::with_capacity(members.len());
            let mut order: Vec<u64> =
                Vec::with_capacity(members.len() * stride);
            let mut unanchored = Vec::new();
            let mut best_picks =
                std::mem::take(&mut picks[k_best]).into_iter();
            let mut chunks = grams.chunk_by(|x, y| x.0 == y.0).peekable();
            for (k, &id) in members.iter().enumerate() {
                let chunk = match chunks.peek() {
                    Some(c) if c[0].0 == k as u32 => chunks.next().unwrap(),
                    _ => &[][..],
                };
                let w0 = match chunk {
                    [] => NONE,
                    _ => best_picks.next().unwrap(),
                };
                if w0 == NONE {
                    unanchored.push(id);
                    continue;
                }
                let w0 = w0 as usize;
                let w = &chunk[w0..w0 + stride];
                let (at, len) = (w[0].2 as usize, w[0].3 as usize);
                let e = &self.entries[id as usize];
                let start = e.prefix as usize + at;
                let a = &pats.key(e)[start..start + len];
                let first = load8(a, 0);
                // Sorted on as one word: head, then member, then skip.
                let m = found.len() as u64;
                for (skip, g) in w.iter().enumerate() {
                    let head = u64::from(heads[g.1 as usize].0);
                    order.push(head << 32 | m << 3 | skip as u64);
                }
                found.push((id, e.key + start as u32, len as u32, first));
            }
            cands.extend(unanchored.iter().map(|&id| self.cand(tails, id)));
            if found.is_empty() {
                return NONE;
            }
            // Up to 8 heads a member: skip fits in 3 bits.
            debug_assert!(stride <= 8 && found.len() < 1 << 29);
            order.sort_unstable();
            let head = |o: u64| (o >> 32) as u32;
            let a0 = self.anchors.len();
            // About 16 bits per distinct head, 64 to 8192 bits; twice as
            // many head slots as heads.
            let nheads = 1 + order
                .windows(2)
                .filter(|w| head(w[0]) != head(w[1]))
                .count();
            let bits = (nheads * 16).next_power_of_two().clamp(64, 8192);
            let log2 = bits.trailing_zeros();
            let b0 = self.bloom.len();
            self.bloom.resize(b0 + bits / 64, 0);
            let slots = (2 * nheads).next_power_of_two();
            let slot_bits = slots.trailing_zeros();
            let s0 = self.head_slots.len();
            self.head_slots.resize(s0 + slots, NONE);
            for (k, &o) in order.iter().enumerate() {
                let head = head(o);
                if k > 0 && (order[k - 1] >> 32) as u32 == head {
                    continue;
                }
                let bit = bloom_bit(head, log2) as usize;
                self.bloom[b0 + bit / 64] |= 1 << (bit % 64);
                let mut i = head_slot(head, slot_bits);
                while self.head_slots[s0 + i] != NONE {
                    i = (i + 1) & (slots - 1);
                }
                self.head_slots[s0 + i] = (a0 + k) as u32;
            }
            self.anchored.push(Anchored {
                anchors: (a0 as u32, order.len() as u32),
                stride: stride as u32,
                bloom: b0 as u32,
                bloom_bits: log2,
                slots: s0 as u32,
                slot_bits,
            });
            let c0 = self.anchor_cands.len() as u64;
            for &(id, ..) in &found {
                let c = self.cand(tails, id);
                self.anchor_cands.push(c);
            }
            for o in order {
                let (m, skip) = ((o >> 3 & ((1 << 29) - 1)) as usize, o & 7);
                let (_, at, len, first) = found[m];
                self.anchors.push(Anchor {
                    head: head(o),
                    skip: skip as u32,
                    first,
                    at,
                    len,
                    cand: (c0 + m as u64) as u32,
                });
            }
            self.anchored.len() as u32 - 1
        }
    }

    /// Look up a normalized key: `out` gets the hits in libkmod's order.
    #[cfg(test)]
    pub fn lookup(&self, pats: &Patterns, key: &[u8], out: &mut Vec<Hit>) {
        let general = memchr::memchr3(b'*', b'?', b'[', key).is_some();
        self.lookup_wild(pats, key, general, out)
    }

    /// [`Trie::lookup`] when the caller knows whether `key`
    /// holds a wildcard byte (`*`, `?`, `[`): `general`. `pats` is the
    /// table the trie was compiled from.
    pub fn lookup_wild(
        &self,
        pats: &Patterns,
        key: &[u8],
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        out.clear();
        let mut sig: Option<Signature> = None;
        let t = &self.trie[..];
        let mut o = 0usize;
        let mut i = 0usize;
        while let Some(h) = t.get(o..o + NODE_HEADER) {
            let h: &[u8; NODE_HEADER] = h.try_into().unwrap();
            let (first, last, flags) =
                (usize::from(h[0]), usize::from(h[1]), h[3]);
            // No children is stored as first 1, last 0.
            let kids = (last + 1).wrapping_sub(first);
            // Most nodes a pci or usb key meets only branch: no label,
            // nothing to check. Their step is a child lookup and nothing
            // else.
            if h[2] == 0 && flags == 0 {
                let next = child(t, o + NODE_HEADER, first, kids, key.get(i));
                if next == NONE {
                    break;
                }
                o = next as usize;
                i += 1;
                continue;
            }
            let mut body = o + NODE_HEADER;
            let l = if flags & WIDE_FIELDS == 0 {
                usize::from(h[2])
            } else {
                body += 12;
                u32_at(t, o + NODE_HEADER) as usize
            };
            // Most nodes of a pci or usb id have no label (they branch
            // at every hex digit).
            if l != 0 {
                match (key.get(i..i + l), t.get(body..body + l)) {
                    (Some(k), Some(label)) if same(k, label) => {}
                    _ => break,
                }
            }
            i += l;
            body += l;
            // The next node, asked for before this one's entries are
            // checked so its cache miss overlaps with that work.
            let next = child(t, body, first, kids, key.get(i));
            if next != NONE {
                prefetch(t.as_ptr().wrapping_add(next as usize));
            }
            if flags & (CHECK | ANCHORED) != 0 {
                self.node_checks(
                    pats,
                    o,
                    body + 4 * kids,
                    key,
                    i,
                    general,
                    &mut sig,
                    out,
                );
            }
            if i == key.len() {
                if flags & EXACT != 0 {
                    self.exact_hits(o, key.len(), out);
                }
                break;
            }
            if next == NONE {
                break;
            }
            o = next as usize;
            i += 1;
        }
        order::finish(out);
    }

    /// The `(label_len, exact_len, ncheck)` of the node at `o`.
    #[inline(always)]
    fn node_fields(&self, o: usize) -> (usize, usize, usize) {
        let t = &self.trie[..];
        // One bounds check for the header, not one a byte.
        let h: &[u8; NODE_HEADER] = t[o..o + NODE_HEADER].try_into().unwrap();
        let u16_at =
            |at: usize| usize::from(u16::from_le_bytes([h[at], h[at + 1]]));
        if h[3] & WIDE_FIELDS == 0 {
            (usize::from(h[2]), u16_at(8), u16_at(10))
        } else {
            let w = |k: usize| u32_at(t, o + NODE_HEADER + 4 * k) as usize;
            (w(0), w(1), w(2))
        }
    }

    /// The hits of the node at `o`'s literal entries, for a key of
    /// length `len` that ends at the node.
    #[inline(never)]
    fn exact_hits(&self, o: usize, len: usize, out: &mut Vec<Hit>) {
        let (_, nx, _) = self.node_fields(o);
        let x = u32_at(&self.trie, o + 4) as usize;
        for &id in &self.exact[x..x + nx] {
            let e = &self.entries[id as usize];
            out.push(Hit {
                priority: e.priority,
                visit: order::visit(len as u32, e.post),
                module: e.module,
            });
        }
    }

    /// Check the node at `o`'s inline candidates (from `at` in the
    /// trie) and its anchored group against `key` split at `p`. Out of
    /// line: the walk's loop keeps its state in registers.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn node_checks(
        &self,
        pats: &Patterns,
        o: usize,
        at: usize,
        key: &[u8],
        p: usize,
        general: bool,
        sig: &mut Option<Signature>,
        out: &mut Vec<Hit>,
    ) {
        let t = &self.trie[..];
        let (_, _, nc) = self.node_fields(o);
        for c in t[at..at + nc * CAND].chunks_exact(CAND) {
            let c: &[u8; CAND] = c.try_into().unwrap();
            // The signature is computed at the first need, from this
            // split on: later groups look at a suffix of what it
            // covers. Most candidates stop here, so the rest of the
            // record is read after.
            let need = u64::from_le_bytes(c[..8].try_into().unwrap());
            if !general
                && (nc >= SIG_MIN || sig.is_some())
                && need & !*sig.get_or_insert_with(|| signature(&key[p..]))
                    != 0
            {
                continue;
            }
            self.check_cold(pats, &Cand::read(c), key, p, general, out);
        }
        let anchored = u32_at(t, o + 12);
        if anchored != NONE {
            self.anchored_hits(pats, anchored as usize, key, p, general, out);
        }
    }

    /// [`Trie::check`] out of line: inlined into the candidate
    /// loop, the tables it needs were loaded (and spilled) on every
    /// call of the loop, though most candidates stop at the signature.
    #[inline(never)]
    fn check_cold(
        &self,
        pats: &Patterns,
        c: &Cand,
        key: &[u8],
        p: usize,
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        self.check(pats, c, key, p, general, out)
    }

    /// Check candidate `c` against `key` split at `p`.
    #[inline(always)]
    fn check(
        &self,
        pats: &Patterns,
        c: &Cand,
        key: &[u8],
        p: usize,
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        let mut push = |split: u32| {
            out.push(Hit {
                priority: c.priority,
                visit: order::visit(split, c.post),
                module: c.module,
            })
        };
        if general {
            pats.visits(&self.entries[c.entry as usize], key, push);
        } else {
            let hit = if c.glob != NONE {
                self.globs.matches(c.glob, &key[p..])
            } else {
                let e = &self.entries[c.entry as usize];
                fnmatch(&pats.key(e)[p..], &key[p..])
            };
            if hit {
                push(p as u32);
            }
        }
    }

    /// Check the anchored entries of a large group whose anchor occurs
    /// in `key[p..]`. Out of line, so the window loop keeps its state
    /// in registers (inlined into the walk, it spilled: 27 instructions
    /// a window).
    #[inline(never)]
    fn anchored_hits(
        &self,
        pats: &Patterns,
        g: usize,
        key: &[u8],
        p: usize,
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        let g = &self.anchored[g];
        let Some(tail) = key.get(p..) else { return };
        let Some(n) = (tail.len() + 1).checked_sub(HEAD) else {
            return;
        };
        let bloom =
            &self.bloom[g.bloom as usize..][..(1usize << g.bloom_bits) / 64];
        let shift = 32 - g.bloom_bits;
        let mut seen = Seen::default();
        let stride = g.stride as usize;
        let mut pos = 0;
        while pos < n {
            let h = head_of(&tail[pos..pos + HEAD]);
            let bit = (h.wrapping_mul(BLOOM_MUL) >> shift) as usize;
            if bloom[bit / 64] & (1 << (bit % 64)) != 0 {
                let at = p + pos;
                self.anchored_at(
                    pats, g, h, key, p, at, general, out, &mut seen,
                );
            }
            pos += stride;
        }
    }

    /// The anchors of group `g` with head `h` that occur at `key[pos..]`:
    /// check their entries (each once).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn anchored_at(
        &self,
        pats: &Patterns,
        g: &Anchored,
        h: u32,
        key: &[u8],
        p: usize,
        pos: usize,
        general: bool,
        out: &mut Vec<Hit>,
        seen: &mut Seen,
    ) {
        let anchors = &self.anchors
            [g.anchors.0 as usize..(g.anchors.0 + g.anchors.1) as usize];
        let slots = &self.head_slots
            [g.slots as usize..g.slots as usize + (1 << g.slot_bits)];
        let slot_mask = slots.len() - 1;
        let mut s = head_slot(h, g.slot_bits);
        let lo = loop {
            match slots[s] {
                NONE => return,
                a if anchors[a as usize - g.anchors.0 as usize].head == h => {
                    break a as usize - g.anchors.0 as usize
                }
                _ => s = (s + 1) & slot_mask,
            }
        };
        for a in anchors[lo..].iter().take_while(|a| a.head == h) {
            // The anchor would start at `at`, in the tail.
            let (len, skip) = (a.len as usize, a.skip as usize);
            let Some(at) = pos.checked_sub(skip).filter(|&at| at >= p) else {
                continue;
            };
            if at + len > key.len() {
                continue;
            }
            let mask =
                if len >= 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 };
            if load8(key, at) & mask != a.first {
                continue;
            }
            if len > 8 {
                let from = a.at as usize + 8;
                let anc = &pats.keys[from..a.at as usize + len];
                if key[at + 8..at + len] != *anc {
                    continue;
                }
            }
            if seen.insert(a.cand) {
                let c = &self.anchor_cands[a.cand as usize];
                self.check(pats, c, key, p, general, out);
            }
        }
    }

    /// Approximate heap size in bytes (the pattern table's not
    /// included).
    pub fn memory_usage(&self) -> usize {
        use std::mem::size_of;
        self.entries.len() * size_of::<PEntry>()
            + self.trie.len()
            + self.exact.len() * 4
            + self.anchored.len() * size_of::<Anchored>()
            + self.anchors.len() * size_of::<Anchor>()
            + self.anchor_cands.len() * size_of::<Cand>()
            + self.bloom.len() * 8
            + self.head_slots.len() * 4
    }
}

#[cfg(test)]
mod tests {
    /// The runs of `tail`, into a vector that held something else.
    fn runs(tail: &[u8]) -> Vec<(usize, usize)> {
        let mut out = vec![(0, 0)];
        super::runs(tail, &mut out);
        out
    }

    /// The walk's short path for nodes that only branch: an empty index
    /// (a root with no children) and keys that end among, or run past,
    /// the digits of an id.
    #[test]
    fn branch_only_nodes() {
        use crate::matcher::NaiveMatcher;
        use crate::modindex::{Index, IndexWriter};
        let empty = Index::from_vec(IndexWriter::new().to_bytes()).unwrap();
        let (m, pats) = super::Trie::build(&empty);
        let mut hits = Vec::new();
        for key in [&b""[..], b"a", b"\xff", b"pci:v00008086"] {
            m.lookup(&pats, key, &mut hits);
            assert!(hits.is_empty());
        }
        let mut w = IndexWriter::new();
        for (k, v) in [
            ("pci:v00001234d*", "a"),
            ("pci:v00001235d0001", "b"),
            ("pci:v00009999d*sv*", "c"),
            ("pci:v00009998d0002sv*", "d"),
        ] {
            w.insert(k.as_bytes(), v.as_bytes(), 0).unwrap();
        }
        let idx = Index::from_vec(w.to_bytes()).unwrap();
        let ((m, pats), naive) =
            (super::Trie::build(&idx), NaiveMatcher::build(&idx));
        let mut want = Vec::new();
        let mut found = 0;
        for key in [
            "pci:v0000",
            "pci:v000012",
            "pci:v00001234",
            "pci:v00001234d",
            "pci:v00001234dx",
            "pci:v00001235d0001",
            "pci:v00001235d000",
            "pci:v00009999d1sv2",
            "pci:v0000999",
            "pci:v00009998d0002sv",
            "pci:v00008086d1",
            "pci:v0000123",
        ] {
            m.lookup(&pats, key.as_bytes(), &mut hits);
            naive.lookup(key.as_bytes(), &mut want);
            let ours: Vec<&[u8]> =
                hits.iter().map(|h| pats.module_name(h.module)).collect();
            let theirs: Vec<&[u8]> =
                want.iter().map(|h| naive.module_name(h.module)).collect();
            assert_eq!(ours, theirs, "{key}");
            found += hits.len();
        }
        assert_eq!(found, 5);
    }

    #[test]
    fn shape_of_post_order() {
        // As a post-order walk lists them: a prefix after its extensions.
        let arena = b"abcabdabxab";
        let lits = [(0, 3), (3, 3), (6, 2), (9, 2), (9, 0)];
        let (nodes, node_of) = super::shape(arena, lits.into_iter());
        let path = |n: u32| {
            let mut p = Vec::new();
            let mut n = n as usize;
            while nodes[n].parent != super::NONE {
                let (at, len, edge) = nodes[n].label(&nodes, arena);
                p.splice(0..0, arena[at as usize..][..len as usize].to_vec());
                p.insert(0, edge);
                n = nodes[n].parent as usize;
            }
            p
        };
        let paths: Vec<_> = node_of.iter().map(|&n| path(n)).collect();
        assert_eq!(paths, [&b"abc"[..], b"abd", b"ab", b"ab", b""]);
        // Root, abc, ab (appears when abd branches off), abd.
        assert_eq!(nodes.len(), 4);
        assert_eq!(node_of[2], node_of[3]);
    }

    #[test]
    fn literal_runs() {
        let t = b"*d*sv*sd*bc0Csc03i30*";
        assert_eq!(runs(t), [(1, 1), (3, 2), (6, 2), (9, 11)]);
        let t = b"*[ab]xyz[]q]abcd*";
        assert_eq!(runs(t), [(5, 3), (12, 4)]);
        // An odd bracket stops the scan: only what came before counts.
        let t = b"*ab*[[:alpha:]abcdef]";
        assert_eq!(runs(t), [(1, 2)]);
        let t = b"*\\xabc";
        assert_eq!(runs(t), [(3, 3)]);
    }
}
