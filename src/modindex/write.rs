//! Writer for kmod's binary index format, mirroring kmod v30
//! `tools/depmod.c` (`index_insert`, `index_add_value`, `index_write`).
//!
//! coldplug never writes a kernel's indexes; this exists so tests,
//! property tests and fuzz seeds can build `modules.alias.bin` files
//! from pattern sets of their choosing, with the same trie shape depmod
//! would give them (the shape matters: see [`super::WildPos`]).

use super::index::{
    CHILD_MAX, FLAG_CHILDS, FLAG_PREFIX, FLAG_VALUES, MAGIC, VERSION,
};

#[derive(Default)]
struct Node {
    prefix: Vec<u8>,
    /// (priority, value), kept in depmod's `index_add_value` order.
    values: Vec<(u32, Vec<u8>)>,
    children: Vec<Option<Box<Node>>>,
}

impl Node {
    fn with_prefix(prefix: &[u8]) -> Node {
        Node { prefix: prefix.to_vec(), ..Node::default() }
    }

    fn add_value(&mut self, value: &[u8], priority: u32) {
        // Before the first value whose priority is >= ours.
        let at = self
            .values
            .iter()
            .position(|(p, _)| *p >= priority)
            .unwrap_or(self.values.len());
        self.values.insert(at, (priority, value.to_vec()));
    }

    fn child_slot(&mut self, ch: u8) -> &mut Option<Box<Node>> {
        if self.children.is_empty() {
            self.children.resize_with(usize::from(CHILD_MAX), || None);
        }
        &mut self.children[usize::from(ch)]
    }
}

/// Builds an index in memory, key by key, like depmod.
pub struct IndexWriter {
    root: Node,
}

/// A key or value depmod would refuse: a byte of 128 or more, or NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey(pub Vec<u8>);

impl Default for IndexWriter {
    fn default() -> Self {
        IndexWriter::new()
    }
}

impl IndexWriter {
    /// An empty index (a root with an empty prefix).
    pub fn new() -> IndexWriter {
        IndexWriter { root: Node::default() }
    }

    /// Add `value` under `key` with `priority` (depmod's
    /// `index_insert`). Duplicates are kept, as depmod keeps them.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: &[u8],
        priority: u32,
    ) -> Result<(), BadKey> {
        if key.iter().any(|&b| b == 0 || b >= CHILD_MAX) {
            return Err(BadKey(key.to_vec()));
        }
        if value.contains(&0) {
            return Err(BadKey(value.to_vec()));
        }
        let mut node = &mut self.root;
        let mut i = 0;
        loop {
            // Split the node where its prefix and the key part ways.
            let j = node
                .prefix
                .iter()
                .zip(key[i..].iter().chain(std::iter::repeat(&0)))
                .position(|(a, b)| a != b);
            if let Some(j) = j {
                let ch = node.prefix[j];
                let mut rest = std::mem::take(node);
                node.prefix = rest.prefix[..j].to_vec();
                rest.prefix.drain(..=j);
                *node.child_slot(ch) = Some(Box::new(rest));
            }
            i += node.prefix.len();
            let Some(&ch) = key.get(i) else {
                node.add_value(value, priority);
                return Ok(());
            };
            let slot = node.child_slot(ch);
            if slot.is_none() {
                let mut child = Node::with_prefix(&key[i + 1..]);
                child.add_value(value, priority);
                *slot = Some(Box::new(child));
                return Ok(());
            }
            node = slot.as_mut().unwrap();
            i += 1;
        }
    }

    /// The file's bytes (depmod's `index_write`: children before their
    /// parent, the root offset patched into the header last).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_be_bytes());
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        let root = write_node(&self.root, &mut out);
        out[8..12].copy_from_slice(&root.to_be_bytes());
        out
    }
}

/// Write `node` after its children; iterative so deep tries are fine.
fn write_node(root: &Node, out: &mut Vec<u8>) -> u32 {
    // (node, offsets of its children written so far)
    let mut stack: Vec<(&Node, usize, Vec<u32>)> = vec![(root, 0, Vec::new())];
    let mut last = 0;
    while let Some((node, next, mut offs)) = stack.pop() {
        let kids: Vec<(u8, &Node)> = node
            .children
            .iter()
            .enumerate()
            .filter_map(|(c, n)| n.as_deref().map(|n| (c as u8, n)))
            .collect();
        if next < kids.len() {
            let child = kids[next].1;
            if next > 0 {
                offs.push(last);
            }
            stack.push((node, next + 1, offs));
            stack.push((child, 0, Vec::new()));
            continue;
        }
        if !kids.is_empty() {
            offs.push(last);
        }
        let mut off = out.len() as u32;
        if !node.prefix.is_empty() {
            out.extend_from_slice(&node.prefix);
            out.push(0);
            off |= FLAG_PREFIX;
        }
        if let (Some(first), Some(lastc)) = (kids.first(), kids.last()) {
            let (first, lastc) = (first.0, lastc.0);
            out.push(first);
            out.push(lastc);
            let mut k = kids.iter().zip(&offs).peekable();
            for c in first..=lastc {
                match k.peek() {
                    Some(((kc, _), o)) if *kc == c => {
                        out.extend_from_slice(&o.to_be_bytes());
                        k.next();
                    }
                    _ => out.extend_from_slice(&0u32.to_be_bytes()),
                }
            }
            off |= FLAG_CHILDS;
        }
        if !node.values.is_empty() {
            out.extend_from_slice(&(node.values.len() as u32).to_be_bytes());
            for (p, v) in &node.values {
                out.extend_from_slice(&p.to_be_bytes());
                out.extend_from_slice(v);
                out.push(0);
            }
            off |= FLAG_VALUES;
        }
        last = off;
    }
    last
}
