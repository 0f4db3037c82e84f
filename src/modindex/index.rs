//! Reader for kmod's binary index files (`modules.alias.bin`,
//! `modules.dep.bin`, `modules.symbols.bin`, `modules.builtin.bin`,
//! `modules.builtin.alias.bin`), mirroring kmod v30
//! `libkmod/libkmod-index.c` (`index_mm_*`), as written by
//! `tools/depmod.c` (`index_write`).
//!
//! # Disk format
//!
//! ```text
//! header (all integers u32 big-endian)
//!   0  magic        0xB007F457
//!   4  version      0x00020001 (only the major, version >> 16 == 2, is checked)
//!   8  root_offset  a node offset word (below)
//! node offset word
//!   bit 31  PREFIX  the node has a prefix
//!   bit 30  VALUES  the node has values
//!   bit 29  CHILDS  the node has children
//!   bits 0..28      file offset of the node; 0 means "no node"
//! node, at that offset (fields present only when their flag is set)
//!   prefix    bytes, NUL-terminated
//!   first     u8   lowest child byte
//!   last      u8   highest child byte (children are ASCII: < 128)
//!   children  u32 offset word x (last - first + 1), 0 = no child
//!   count     u32
//!   values    { u32 priority; bytes value; NUL } x count
//! ```
//!
//! It is a Patricia trie: the byte on the edge to a child is its index
//! in `children`, the rest of the label is the child's prefix, and the
//! node at the end of a key holds its values. depmod writes children
//! before their parent, so the root comes last.
//!
//! The whole trie is parsed once into flat tables that point back into
//! the mapped bytes (nothing is copied). Parsing is iterative and every
//! node may be reached only once, so a crafted file with a cycle or a
//! shared subtree is an error instead of a hang or a stack overflow.

use std::ops::Range;

use super::error::{ErrorKind, IndexError};
use super::wire::{read_cstr, read_u32, read_u8};
use super::Bytes;

/// kmod's index magic ("BOOTFAST").
pub const MAGIC: u32 = 0xB007_F457;
/// The major version this reader understands.
pub const VERSION_MAJOR: u32 = 2;
/// The version word depmod writes.
pub const VERSION: u32 = 0x0002_0001;
/// Children are indexed by byte; only ASCII is allowed.
pub const CHILD_MAX: u8 = 128;
pub(crate) const FLAG_PREFIX: u32 = 0x8000_0000;
pub(crate) const FLAG_VALUES: u32 = 0x4000_0000;
pub(crate) const FLAG_CHILDS: u32 = 0x2000_0000;
pub(crate) const OFFSET_MASK: u32 = 0x0FFF_FFFF;
const HEADER_LEN: usize = 12;
const NONE: u32 = u32::MAX;

/// The bytes libkmod's wildcard search switches to fnmatch on. Note
/// that `\` is not one of them: before the first of these a key is
/// compared byte for byte.
pub fn is_wildcard(b: u8) -> bool {
    matches!(b, b'*' | b'?' | b'[')
}

#[derive(Debug, Clone, Copy)]
struct Node {
    prefix_off: u32,
    prefix_len: u32,
    /// `first > last` when the node has no children.
    first: u8,
    last: u8,
    kids: u32,
    values: u32,
    nvalues: u32,
}

/// One value of a node: a string and its priority.
#[derive(Debug, Clone, Copy)]
pub struct Value {
    /// depmod's priority: the module's rank in modules.order for
    /// modules.alias.bin, 0 for modules.builtin.alias.bin.
    pub priority: u32,
    off: u32,
    len: u32,
}

/// A parsed kmod index: a tree of nodes over the file's bytes.
pub struct Index {
    bytes: Bytes,
    nodes: Vec<Node>,
    kids: Vec<u32>,
    values: Vec<Value>,
    root: Option<u32>,
    /// Total length of all keys (one per value), for [`Index::entries`].
    key_bytes: u64,
    /// Total wildcard bytes of all keys, likewise.
    wild_count: u64,
}

/// A position of a wildcard byte in an entry's key, and whether the
/// byte labels a trie edge (it is a child index) or sits inside a
/// node's prefix. libkmod's search behaves differently in the two
/// cases when the lookup key itself contains wildcard bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WildPos {
    /// Byte position in the key.
    pub pos: u32,
    /// The byte is the edge to a child node.
    pub edge: bool,
}

/// One (key, value) pair of the index with what the matchers need to
/// reproduce libkmod's traversal.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Range of the key in [`Entries::keys`].
    pub key: Range<u32>,
    /// Index of the value ([`Index::value`]).
    pub value: u32,
    /// The value's priority.
    pub priority: u32,
    /// Rank in a post-order traversal of the trie (children in byte
    /// order, then the node's values in stored order). libkmod's
    /// wildcard search meets entries in this order within one split.
    pub post: u32,
    /// Range of the key's wildcard positions in [`Entries::wild`].
    pub wild: Range<u32>,
}

/// Every entry of an index, in post-order.
#[derive(Debug, Clone, Default)]
pub struct Entries {
    /// All keys, back to back.
    pub keys: Vec<u8>,
    /// Wildcard positions of all keys, back to back.
    pub wild: Vec<WildPos>,
    /// The entries, `post` ascending.
    pub list: Vec<Entry>,
}

impl Entries {
    /// The key of `e`.
    pub fn key(&self, e: &Entry) -> &[u8] {
        &self.keys[e.key.start as usize..e.key.end as usize]
    }

    /// The wildcard positions of `e`'s key.
    pub fn wild(&self, e: &Entry) -> &[WildPos] {
        &self.wild[e.wild.start as usize..e.wild.end as usize]
    }
}

fn bad_offset(at: usize, what: &'static str, offset: u32) -> IndexError {
    IndexError::at(at, ErrorKind::BadOffset { what, offset })
}

impl Index {
    /// Parse an index held in `bytes`.
    pub fn parse(bytes: Bytes) -> Result<Index, IndexError> {
        let buf = bytes.as_slice();
        let magic = read_u32(buf, 0, "magic")?;
        if magic != MAGIC {
            return Err(IndexError::at(
                0,
                ErrorKind::BadMagic { found: magic },
            ));
        }
        let version = read_u32(buf, 4, "version")?;
        if version >> 16 != VERSION_MAJOR {
            return Err(IndexError::at(
                4,
                ErrorKind::UnsupportedVersion { found: version },
            ));
        }
        let root_word = read_u32(buf, 8, "root offset")?;
        let mut seen = vec![0u64; buf.len() / 64 + 1];
        let mut nodes = Vec::new();
        let mut kids: Vec<u32> = Vec::new();
        let mut values = Vec::new();
        let mut root = None;
        // Every entry's key is materialized by `entries`; a crafted deep
        // chain of nodes with values would make that quadratic, so the
        // total key length is bounded by a generous multiple of the file.
        let key_budget = (buf.len() as u64).saturating_mul(64).max(1 << 26);
        let mut key_bytes = 0u64;
        let mut wild_count = 0u64;
        // (offset word, where it was read, slot in `kids` to fill, depth,
        // wildcard bytes on the way)
        let mut stack: Vec<(u32, usize, Option<usize>, u64, u64)> =
            vec![(root_word, 8, None, 0, 0)];
        while let Some((word, from, slot, depth, wilds)) = stack.pop() {
            let off = (word & OFFSET_MASK) as usize;
            if off == 0 {
                continue;
            }
            // A node without flags has no bytes: an empty index is a
            // bare header whose root points just past it.
            if off < HEADER_LEN || off > buf.len() {
                return Err(bad_offset(from, "node offset", off as u32));
            }
            let (w, b) = (off / 64, 1u64 << (off % 64));
            if seen[w] & b != 0 {
                return Err(IndexError::at(
                    from,
                    ErrorKind::SharedNode { offset: off as u32 },
                ));
            }
            seen[w] |= b;
            let id = nodes.len() as u32;
            match slot {
                Some(s) => kids[s] = id,
                None => root = Some(id),
            }
            let mut at = off;
            let (prefix_off, prefix_len) = if word & FLAG_PREFIX != 0 {
                let (p, next) = read_cstr(buf, at, "node prefix")?;
                let r = (at as u32, p.len() as u32);
                at = next;
                r
            } else {
                (0, 0)
            };
            let depth = depth + u64::from(prefix_len);
            let prefix = &buf[prefix_off as usize..][..prefix_len as usize];
            let wilds = wilds
                + prefix.iter().filter(|&&b| is_wildcard(b)).count() as u64;
            let (first, last, kids_start) = if word & FLAG_CHILDS != 0 {
                let first = read_u8(buf, at, "first child byte")?;
                let last = read_u8(buf, at + 1, "last child byte")?;
                if first > last || last >= CHILD_MAX {
                    return Err(IndexError::at(
                        at,
                        ErrorKind::BadChildRange { first, last },
                    ));
                }
                at += 2;
                let n = usize::from(last - first) + 1;
                // The whole child array must be there before we trust n.
                read_u32(buf, at + 4 * (n - 1), "child offsets")?;
                let start = kids.len();
                for i in 0..n {
                    let w = read_u32(buf, at + 4 * i, "child offset")?;
                    kids.push(NONE);
                    if w & OFFSET_MASK != 0 {
                        let edge = is_wildcard(first + i as u8);
                        stack.push((
                            w,
                            at + 4 * i,
                            Some(start + i),
                            depth + 1,
                            wilds + u64::from(edge),
                        ));
                    }
                }
                at += 4 * n;
                (first, last, start as u32)
            } else {
                (1, 0, 0)
            };
            let (vstart, nvalues) = if word & FLAG_VALUES != 0 {
                let count = read_u32(buf, at, "value count")? as usize;
                at += 4;
                // Each value takes at least 5 bytes: bound the count by
                // what is left before allocating anything for it.
                if count > buf.len().saturating_sub(at) / 5 {
                    return Err(IndexError::at(
                        at - 4,
                        ErrorKind::Truncated { what: "values" },
                    ));
                }
                key_bytes += depth * count as u64;
                wild_count += wilds * count as u64;
                if key_bytes > key_budget {
                    return Err(IndexError::at(
                        off,
                        ErrorKind::TooLarge { what: "total key length" },
                    ));
                }
                let start = values.len();
                for _ in 0..count {
                    let priority = read_u32(buf, at, "value priority")?;
                    at += 4;
                    let (v, next) = read_cstr(buf, at, "value")?;
                    values.push(Value {
                        priority,
                        off: at as u32,
                        len: v.len() as u32,
                    });
                    at = next;
                }
                (start as u32, count as u32)
            } else {
                (0, 0)
            };
            nodes.push(Node {
                prefix_off,
                prefix_len,
                first,
                last,
                kids: kids_start,
                values: vstart,
                nvalues,
            });
        }
        Ok(Index { bytes, nodes, kids, values, root, key_bytes, wild_count })
    }

    /// Parse a copy of `buf` (tests, fuzzing, generated indexes).
    pub fn from_vec(buf: Vec<u8>) -> Result<Index, IndexError> {
        Index::parse(Bytes::Owned(buf))
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.bytes.as_slice()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of values in all nodes.
    pub fn value_count(&self) -> usize {
        self.values.len()
    }

    /// Value number `i`.
    pub fn value(&self, i: u32) -> Value {
        self.values[i as usize]
    }

    /// The string of a value.
    pub fn value_str(&self, v: Value) -> &[u8] {
        &self.bytes()[v.off as usize..(v.off + v.len) as usize]
    }

    fn prefix(&self, n: u32) -> &[u8] {
        let n = &self.nodes[n as usize];
        let s = n.prefix_off as usize;
        &self.bytes()[s..s + n.prefix_len as usize]
    }

    fn child(&self, n: u32, ch: u8) -> Option<u32> {
        let node = &self.nodes[n as usize];
        if node.first <= ch && ch <= node.last {
            let k =
                self.kids[(node.kids + u32::from(ch - node.first)) as usize];
            (k != NONE).then_some(k)
        } else {
            None
        }
    }

    /// The children of `n` as (byte, node), highest byte first: pushed
    /// on a stack they come off in byte order, as libkmod visits them.
    fn children_rev(&self, n: u32) -> impl Iterator<Item = (u8, u32)> + '_ {
        let node = self.nodes[n as usize];
        // No slots when the node has no children (first > last).
        let slots = if node.first <= node.last {
            let k = node.kids as usize;
            &self.kids[k..=k + usize::from(node.last - node.first)]
        } else {
            &[]
        };
        slots.iter().enumerate().rev().filter_map(move |(i, &c)| {
            (c != NONE).then_some((node.first + i as u8, c))
        })
    }

    fn values_of(&self, n: u32) -> Range<u32> {
        let node = &self.nodes[n as usize];
        node.values..node.values + node.nvalues
    }

    /// Exact lookup, libkmod's `index_mm_search`: the first (lowest
    /// priority) value stored under exactly `key`.
    pub fn search(&self, key: &[u8]) -> Option<&[u8]> {
        let mut node = self.root?;
        let mut i = 0;
        loop {
            let p = self.prefix(node);
            if key.get(i..i + p.len()) != Some(p) {
                return None;
            }
            i += p.len();
            if i == key.len() {
                let v = self.values_of(node);
                return (!v.is_empty())
                    .then(|| self.value_str(self.values[v.start as usize]));
            }
            node = self.child(node, key[i])?;
            i += 1;
        }
    }

    /// Wildcard lookup, a line-by-line port of libkmod's
    /// `index_mm_searchwild`: calls `emit(value_index)` for every value
    /// in the order libkmod's traversal meets it (before `add_value`
    /// sorts them). `fnmatch(pattern, string)` is glibc's with flags 0.
    ///
    /// This is the reference the compiled matchers are checked against;
    /// it is exact by construction, not fast.
    pub fn search_wild(
        &self,
        key: &[u8],
        fnmatch: &dyn Fn(&[u8], &[u8]) -> bool,
        emit: &mut dyn FnMut(u32),
    ) {
        let Some(mut node) = self.root else { return };
        let mut i = 0;
        let mut buf = Vec::new();
        loop {
            let p = self.prefix(node);
            for (j, &ch) in p.iter().enumerate() {
                if is_wildcard(ch) {
                    buf.clear();
                    let sub = key.get(i + j..).unwrap_or(&[]);
                    self.search_all(
                        node, j, None, &mut buf, sub, fnmatch, emit,
                    );
                    return;
                }
                if key.get(i + j) != Some(&ch) {
                    return;
                }
            }
            i += p.len();
            for wc in [b'*', b'?', b'['] {
                if let Some(c) = self.child(node, wc) {
                    buf.clear();
                    self.search_all(
                        c,
                        0,
                        Some(wc),
                        &mut buf,
                        &key[i..],
                        fnmatch,
                        emit,
                    );
                }
            }
            if i == key.len() {
                for v in self.values_of(node) {
                    emit(v);
                }
                return;
            }
            match self.child(node, key[i]) {
                Some(c) => node = c,
                None => return,
            }
            i += 1;
        }
    }

    /// libkmod's `index_mm_searchwild_all`, iterative: post-order over
    /// the subtree, fnmatch-ing the pattern built so far at each node
    /// that has values.
    #[allow(clippy::too_many_arguments)]
    fn search_all(
        &self,
        start: u32,
        j: usize,
        edge: Option<u8>,
        buf: &mut Vec<u8>,
        subkey: &[u8],
        fnmatch: &dyn Fn(&[u8], &[u8]) -> bool,
        emit: &mut dyn FnMut(u32),
    ) {
        enum Frame {
            Enter { node: u32, j: usize, edge: Option<u8>, len: usize },
            Exit { node: u32, len: usize },
        }
        let mut stack = vec![Frame::Enter { node: start, j, edge, len: 0 }];
        while let Some(f) = stack.pop() {
            match f {
                Frame::Enter { node, j, edge, len } => {
                    buf.truncate(len);
                    buf.extend(edge);
                    buf.extend_from_slice(&self.prefix(node)[j..]);
                    let here = buf.len();
                    stack.push(Frame::Exit { node, len: here });
                    stack.extend(self.children_rev(node).map(|(ch, c)| {
                        Frame::Enter {
                            node: c,
                            j: 0,
                            edge: Some(ch),
                            len: here,
                        }
                    }));
                }
                Frame::Exit { node, len } => {
                    buf.truncate(len);
                    let v = self.values_of(node);
                    if !v.is_empty() && fnmatch(buf, subkey) {
                        for i in v {
                            emit(i);
                        }
                    }
                }
            }
        }
    }

    /// Every (key, value) of the index in post-order, with each key's
    /// wildcard positions (see [`WildPos`]).
    pub fn entries(&self) -> Entries {
        let mut out = Entries::default();
        out.list.reserve_exact(self.values.len());
        let (mut keys, mut wild) = (Vec::new(), Vec::new());
        self.each_entry(&mut keys, &mut wild, |e, _| out.list.push(e));
        out.keys = keys;
        out.wild = wild;
        out
    }

    /// [`Index::entries`] without the list: each entry goes to `emit`,
    /// with its wildcard positions, once its key is in `keys` and those
    /// positions in `wild_out`, so a caller keeping its own table of
    /// entries builds no other.
    pub fn each_entry(
        &self,
        keys: &mut Vec<u8>,
        wild_out: &mut Vec<WildPos>,
        mut emit: impl FnMut(Entry, &[WildPos]),
    ) {
        let Some(root) = self.root else { return };
        keys.reserve_exact(self.key_bytes as usize);
        wild_out.reserve_exact(self.wild_count as usize);
        let (keys0, wild0) = (keys.len(), wild_out.len());
        enum Frame {
            Enter { node: u32, edge: Option<u8> },
            Exit { node: u32, path: usize, wild: usize },
        }
        let mut path: Vec<u8> = Vec::new();
        let mut wild: Vec<WildPos> = Vec::new();
        let mut post = 0u32;
        let mut stack = vec![Frame::Enter { node: root, edge: None }];
        while let Some(f) = stack.pop() {
            match f {
                Frame::Enter { node, edge } => {
                    let (plen, wlen) = (path.len(), wild.len());
                    if let Some(ch) = edge {
                        if is_wildcard(ch) {
                            wild.push(WildPos {
                                pos: path.len() as u32,
                                edge: true,
                            });
                        }
                        path.push(ch);
                    }
                    let p = self.prefix(node);
                    let at = path.len();
                    path.extend_from_slice(p);
                    for (j, &b) in p.iter().enumerate() {
                        if is_wildcard(b) {
                            let pos = (at + j) as u32;
                            wild.push(WildPos { pos, edge: false });
                        }
                    }
                    stack.push(Frame::Exit { node, path: plen, wild: wlen });
                    stack.extend(self.children_rev(node).map(|(ch, c)| {
                        Frame::Enter { node: c, edge: Some(ch) }
                    }));
                }
                Frame::Exit { node, path: plen, wild: wlen } => {
                    for v in self.values_of(node) {
                        let k0 = keys.len() as u32;
                        keys.extend_from_slice(&path);
                        let w0 = wild_out.len() as u32;
                        wild_out.extend_from_slice(&wild);
                        let e = Entry {
                            key: k0..keys.len() as u32,
                            value: v,
                            priority: self.values[v as usize].priority,
                            post,
                            wild: w0..wild_out.len() as u32,
                        };
                        emit(e, &wild);
                        post += 1;
                    }
                    path.truncate(plen);
                    wild.truncate(wlen);
                }
            }
        }
        // The counts the parse made: the reservations were exact.
        debug_assert_eq!(keys.len() - keys0, self.key_bytes as usize);
        debug_assert_eq!(wild_out.len() - wild0, self.wild_count as usize);
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("bytes", &self.bytes().len())
            .field("nodes", &self.nodes.len())
            .field("values", &self.values.len())
            .finish()
    }
}
