//! The compiled matcher: same answers as the naive scan, without
//! looking at most patterns.
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
//!    every element but `*` consumes one byte. A sliding 4-byte window
//!    over the key, a bitmap and a sorted table of anchor heads give the
//!    few entries worth an fnmatch; entries without a usable anchor are
//!    always checked.
//! 3. The survivors run glibc's fnmatch (O(n·m), never exponential).
//!
//! The matcher is immutable, `Send + Sync`, and allocates nothing per
//! lookup once the caller's output vector has grown.

use super::fnmatch::fnmatch;
use super::order::{self, Hit};
use super::patterns::Patterns;
use super::ModuleId;
use crate::modindex::Index;

const NONE: u32 = u32::MAX;
/// Groups up to this size are checked entry by entry.
const SMALL_GROUP: usize = 6;
/// Anchors are found through their first 4 bytes.
const HEAD: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Node {
    label: u32,
    label_len: u32,
    /// `first > last` when there are no children.
    first: u8,
    last: u8,
    kids: u32,
    group: u32,
    exact: u32,
    exact_len: u32,
}

#[derive(Debug, Clone)]
struct Group {
    /// Every entry (small groups) or the unanchored ones (large).
    check: (u32, u32),
    /// Anchored entries, sorted by head.
    anchors: (u32, u32),
    /// Bitmap over hashed heads: offset in `bloom` and log2 of its bits.
    bloom: u32,
    bloom_bits: u32,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    head: u32,
    entry: u32,
    /// Offset of the anchor in the pattern arena, and its length.
    at: u32,
    len: u32,
}

/// A matcher compiled from one index; see the module docs.
#[derive(Debug, Clone)]
pub struct AliasMatcher {
    pats: Patterns,
    nodes: Vec<Node>,
    labels: Vec<u8>,
    kids: Vec<u32>,
    exact: Vec<u32>,
    groups: Vec<Group>,
    members: Vec<u32>,
    anchors: Vec<Anchor>,
    bloom: Vec<u64>,
}

/// The longest run of plain bytes in `tail` that every match must
/// contain, as (start, len); stops at the first bracket whose extent is
/// not certain (glibc's parse of odd brackets depends on the string).
fn anchor(tail: &[u8]) -> (usize, usize) {
    let mut best = (0, 0);
    let mut run: Option<usize> = None;
    let mut k = 0;
    let mut close = |run: &mut Option<usize>, k: usize| {
        if let Some(s) = run.take() {
            if k - s > best.1 {
                best = (s, k - s);
            }
        }
    };
    while k < tail.len() {
        match tail[k] {
            b'*' | b'?' | b']' => {
                close(&mut run, k);
                k += 1;
            }
            b'\\' => {
                close(&mut run, k);
                k += 2;
            }
            b'[' => {
                close(&mut run, k);
                match simple_bracket_end(tail, k) {
                    Some(end) => k = end,
                    None => return best,
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
    close(&mut run, tail.len());
    best
}

/// End (index after `]`) of a bracket at `tail[open]` whose members
/// hold no `[` or `\`: glibc's matching and skipping loops both end it
/// at the first `]` after an optional `!`/`^` and a leading `]`.
fn simple_bracket_end(tail: &[u8], open: usize) -> Option<usize> {
    let mut q = open + 1;
    if matches!(tail.get(q), Some(b'!' | b'^')) {
        q += 1;
    }
    if tail.get(q) == Some(&b']') {
        q += 1;
    }
    loop {
        match tail.get(q)? {
            b']' => return Some(q + 1),
            b'[' | b'\\' => return None,
            _ => q += 1,
        }
    }
}

fn head_of(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[inline]
fn bloom_bit(head: u32, bits: u32) -> u32 {
    head.wrapping_mul(0x9E37_79B1) >> (32 - bits)
}

/// Patricia trie under construction (depmod's insertion).
#[derive(Default)]
struct BNode {
    label: Vec<u8>,
    kids: Vec<(u8, usize)>,
    group: Vec<u32>,
    exact: Vec<u32>,
}

fn insert(nodes: &mut Vec<BNode>, s: &[u8]) -> usize {
    let mut n = 0;
    let mut i = 0;
    loop {
        let common = nodes[n]
            .label
            .iter()
            .zip(&s[i..])
            .take_while(|(a, b)| a == b)
            .count();
        if common < nodes[n].label.len() {
            let rest = BNode {
                label: nodes[n].label[common + 1..].to_vec(),
                kids: std::mem::take(&mut nodes[n].kids),
                group: std::mem::take(&mut nodes[n].group),
                exact: std::mem::take(&mut nodes[n].exact),
            };
            let ch = nodes[n].label[common];
            nodes[n].label.truncate(common);
            nodes.push(rest);
            let id = nodes.len() - 1;
            nodes[n].kids.push((ch, id));
        }
        i += common;
        let Some(&ch) = s.get(i) else { return n };
        match nodes[n].kids.iter().find(|k| k.0 == ch) {
            Some(&(_, c)) => {
                n = c;
                i += 1;
            }
            None => {
                nodes.push(BNode {
                    label: s[i + 1..].to_vec(),
                    ..BNode::default()
                });
                let id = nodes.len() - 1;
                nodes[n].kids.push((ch, id));
                return id;
            }
        }
    }
}

impl AliasMatcher {
    /// Compile the entries of `index`.
    pub fn build(index: &Index) -> AliasMatcher {
        AliasMatcher::from_patterns(Patterns::from_index(index))
    }

    /// Compile an extracted pattern table.
    pub fn from_patterns(pats: Patterns) -> AliasMatcher {
        let mut b = vec![BNode::default()];
        for (id, e) in pats.entries.iter().enumerate() {
            let key = pats.key(e);
            if e.wild_len == 0 {
                let n = insert(&mut b, key);
                b[n].exact.push(id as u32);
            } else {
                let n = insert(&mut b, &key[..e.prefix as usize]);
                b[n].group.push(id as u32);
            }
        }
        let mut m = AliasMatcher {
            pats,
            nodes: Vec::with_capacity(b.len()),
            labels: Vec::new(),
            kids: Vec::new(),
            exact: Vec::new(),
            groups: Vec::new(),
            members: Vec::new(),
            anchors: Vec::new(),
            bloom: Vec::new(),
        };
        // Lay the trie out in pre-order; children are filled in when
        // their own node is placed.
        let mut order: Vec<(usize, Option<usize>)> = vec![(0, None)];
        while let Some((bn, slot)) = order.pop() {
            let id = m.nodes.len() as u32;
            if let Some(s) = slot {
                m.kids[s] = id;
            }
            let node = &mut b[bn];
            node.kids.sort_unstable_by_key(|k| k.0);
            let (first, last, kids) =
                match (node.kids.first(), node.kids.last()) {
                    (Some(f), Some(l)) => {
                        let start = m.kids.len();
                        m.kids
                            .resize(start + usize::from(l.0 - f.0) + 1, NONE);
                        for &(ch, c) in node.kids.iter().rev() {
                            order.push((
                                c,
                                Some(start + usize::from(ch - f.0)),
                            ));
                        }
                        (f.0, l.0, start as u32)
                    }
                    _ => (1, 0, 0),
                };
            let label = m.labels.len() as u32;
            m.labels.extend_from_slice(&node.label);
            let exact = m.exact.len() as u32;
            m.exact.extend_from_slice(&node.exact);
            let group = if node.group.is_empty() {
                NONE
            } else {
                let members = std::mem::take(&mut node.group);
                m.add_group(&members)
            };
            let node = &b[bn];
            m.nodes.push(Node {
                label,
                label_len: node.label.len() as u32,
                first,
                last,
                kids,
                group,
                exact,
                exact_len: node.exact.len() as u32,
            });
        }
        m
    }

    fn add_group(&mut self, members: &[u32]) -> u32 {
        let start = self.members.len() as u32;
        let mut g = Group {
            check: (start, 0),
            anchors: (self.anchors.len() as u32, 0),
            bloom: self.bloom.len() as u32,
            bloom_bits: 0,
        };
        if members.len() <= SMALL_GROUP {
            self.members.extend_from_slice(members);
        } else {
            let mut anchored = Vec::new();
            for &id in members {
                let e = &self.pats.entries[id as usize];
                let key = self.pats.key(e);
                let p = e.prefix as usize;
                let (s, len) = anchor(&key[p..]);
                if len >= HEAD {
                    let at = e.key + (p + s) as u32;
                    let a = &key[p + s..p + s + len];
                    anchored.push(Anchor {
                        head: head_of(a),
                        entry: id,
                        at,
                        len: len as u32,
                    });
                } else {
                    self.members.push(id);
                }
            }
            anchored.sort_by_key(|a| (a.head, a.entry));
            let mut heads: Vec<u32> =
                anchored.iter().map(|a| a.head).collect();
            heads.dedup();
            // About 16 bits per distinct head, 64 to 8192 bits.
            let bits = (heads.len() * 16).next_power_of_two().clamp(64, 8192);
            let log2 = bits.trailing_zeros();
            let words = bits / 64;
            let b0 = self.bloom.len();
            self.bloom.resize(b0 + words, 0);
            for h in heads {
                let bit = bloom_bit(h, log2) as usize;
                self.bloom[b0 + bit / 64] |= 1 << (bit % 64);
            }
            g.bloom_bits = log2;
            g.anchors.1 = anchored.len() as u32;
            self.anchors.extend(anchored);
        }
        g.check.1 = self.members.len() as u32 - start;
        self.groups.push(g);
        self.groups.len() as u32 - 1
    }

    /// Look up a normalized key: `out` gets the hits in libkmod's order.
    pub fn lookup(&self, key: &[u8], out: &mut Vec<Hit>) {
        out.clear();
        let general = memchr::memchr3(b'*', b'?', b'[', key).is_some();
        let mut n = 0usize;
        let mut i = 0usize;
        loop {
            let node = &self.nodes[n];
            let l = node.label as usize;
            let label = &self.labels[l..l + node.label_len as usize];
            if key.get(i..i + label.len()) != Some(label) {
                break;
            }
            i += label.len();
            if node.group != NONE {
                self.group_hits(node.group as usize, key, i, general, out);
            }
            if i == key.len() {
                let x = node.exact as usize;
                for &id in &self.exact[x..x + node.exact_len as usize] {
                    let e = &self.pats.entries[id as usize];
                    out.push(Hit {
                        priority: e.priority,
                        visit: order::visit(i as u32, e.post),
                        module: e.module,
                    });
                }
                break;
            }
            let ch = key[i];
            if ch < node.first || ch > node.last {
                break;
            }
            let k =
                self.kids[node.kids as usize + usize::from(ch - node.first)];
            if k == NONE {
                break;
            }
            n = k as usize;
            i += 1;
        }
        order::finish(out);
    }

    #[inline]
    fn check(
        &self,
        id: u32,
        key: &[u8],
        p: usize,
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        let e = &self.pats.entries[id as usize];
        let mut push = |split: u32| {
            out.push(Hit {
                priority: e.priority,
                visit: order::visit(split, e.post),
                module: e.module,
            })
        };
        if general {
            self.pats.visits(e, key, push);
        } else {
            let pat = self.pats.key(e);
            if fnmatch(&pat[p..], &key[p..]) {
                push(p as u32);
            }
        }
    }

    fn group_hits(
        &self,
        g: usize,
        key: &[u8],
        p: usize,
        general: bool,
        out: &mut Vec<Hit>,
    ) {
        let g = &self.groups[g];
        let (c0, cn) = (g.check.0 as usize, g.check.1 as usize);
        for &id in &self.members[c0..c0 + cn] {
            self.check(id, key, p, general, out);
        }
        if g.anchors.1 == 0 || key.len() < p + HEAD {
            return;
        }
        let anchors = &self.anchors
            [g.anchors.0 as usize..(g.anchors.0 + g.anchors.1) as usize];
        let bloom = &self.bloom[g.bloom as usize..];
        // Entries whose anchor was seen; an anchor can occur twice.
        let mut seen = [0u32; 16];
        let mut nseen = 0;
        let mut more: Vec<u32> = Vec::new();
        for pos in p..=key.len() - HEAD {
            let h = head_of(&key[pos..]);
            let bit = bloom_bit(h, g.bloom_bits) as usize;
            if bloom[bit / 64] & (1 << (bit % 64)) == 0 {
                continue;
            }
            let lo = anchors.partition_point(|a| a.head < h);
            for a in anchors[lo..].iter().take_while(|a| a.head == h) {
                let at = a.at as usize;
                let anc = &self.pats.keys[at..at + a.len as usize];
                if !key[pos..].starts_with(anc) {
                    continue;
                }
                if seen[..nseen].contains(&a.entry) || more.contains(&a.entry)
                {
                    continue;
                }
                if nseen < seen.len() {
                    seen[nseen] = a.entry;
                    nseen += 1;
                } else {
                    more.push(a.entry);
                }
                self.check(a.entry, key, p, general, out);
            }
        }
    }

    /// The name of a module.
    pub fn module_name(&self, m: ModuleId) -> &[u8] {
        self.pats.module_name(m)
    }

    /// The entries.
    pub fn patterns(&self) -> &Patterns {
        &self.pats
    }

    /// Approximate heap size in bytes.
    pub fn memory_usage(&self) -> usize {
        use std::mem::size_of;
        self.pats.keys.len()
            + self.pats.entries.len() * size_of::<super::patterns::PEntry>()
            + self.pats.wild.len() * 8
            + self.pats.modules.iter().map(|m| m.len() + 16).sum::<usize>()
            + self.nodes.len() * size_of::<Node>()
            + self.labels.len()
            + self.kids.len() * 4
            + self.exact.len() * 4
            + self.groups.len() * size_of::<Group>()
            + self.members.len() * 4
            + self.anchors.len() * size_of::<Anchor>()
            + self.bloom.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors() {
        let t = b"*d*sv*sd*bc0Csc03i30*";
        let (s, l) = anchor(t);
        assert_eq!(&t[s..s + l], b"bc0Csc03i30");
        let t = b"*[ab]xyz[]q]abcd*";
        let (s, l) = anchor(t);
        assert_eq!(&t[s..s + l], b"abcd");
        // An odd bracket stops the scan: only what came before counts.
        let t = b"*ab*[[:alpha:]abcdef]";
        let (s, l) = anchor(t);
        assert_eq!(&t[s..s + l], b"ab");
        let t = b"*\\xabc";
        let (s, l) = anchor(t);
        assert_eq!(&t[s..s + l], b"abc");
    }
}
