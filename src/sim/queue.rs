//! systemd-udevd's event queue dependencies, in O(devpath depth) per
//! event.
//!
//! udevd (`event_build_dependencies` in `udev-manager.c`; the older
//! `event_is_blocked`) keeps its queue sorted by SEQNUM and lets an
//! event run only when no *earlier* event that is still queued or
//! running touches the same device: the same devpath, a parent or child
//! devpath (also through `DEVPATH_OLD` of a move), or the same device
//! number.
//!
//! Checking every earlier event is quadratic. This model uses a property
//! of that rule instead: two conflicting events always run in queue
//! order, so a later event can never finish before an earlier one it
//! conflicts with. For an event E at devpath node `n`:
//!
//! - every earlier event at `n` or at an ancestor `a` must be finished:
//!   E records `enqueued_at[a]` when it is queued and waits until
//!   `finished_at[a]` reaches it (later events at `a` cannot finish
//!   first, they wait for E);
//! - every earlier event below `n` must be finished: likewise with
//!   `enqueued_below[n]` and `finished_below[n]`.
//!
//! Counters only grow, so each wait is a target on a monotone counter;
//! an event waits on one condition at a time, in a min-heap per counter
//! keyed by target. Device numbers are extra nodes with no ancestors.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

/// Interned devpath or device-number node.
pub type NodeId = u32;

/// The tree of devpaths seen in a trace, with each node's parent.
///
/// Nodes are found by the 64-bit FxHash of their path (which the
/// parsing thread can compute ahead) in an open-addressing table of
/// 8-byte slots (high half of the hash, node id + 1), verified against
/// the stored path; paths with equal hashes simply take further slots.
/// A million devpaths need 16 MB of slots where a general hash map of
/// (hash, id) took 34 MB, and fewer pages touched is less time: the
/// table is probed at random.
#[derive(Default)]
pub struct PathTree<'a> {
    slots: Vec<u64>,
    /// Full hash of each node's path (0 for device numbers), for
    /// growing the table.
    hashes: Vec<u64>,
    nums: FxHashMap<u64, NodeId>,
    pub(super) parent: Vec<Option<NodeId>>,
    paths: Vec<&'a [u8]>,
}

impl<'a> PathTree<'a> {
    /// An empty tree.
    pub fn new() -> Self {
        PathTree::default()
    }

    /// An empty tree with room for about `n` devpaths. The table itself
    /// starts small and doubles: it only touches what the trace needs.
    pub fn with_capacity(n: usize) -> Self {
        PathTree {
            slots: Vec::new(),
            hashes: Vec::with_capacity(n),
            nums: FxHashMap::default(),
            parent: Vec::with_capacity(n),
            paths: Vec::with_capacity(n),
        }
    }

    /// The slot holding `path` (hash `hash`), or the empty slot where it
    /// would go. The table must not be full.
    #[inline]
    fn probe(&self, path: &[u8], hash: u64) -> usize {
        let mask = self.slots.len() - 1;
        let tag = hash >> 32;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return i;
            }
            if s >> 32 == tag && self.paths[(s as u32 - 1) as usize] == path {
                return i;
            }
            i = (i + 1) & mask;
        }
    }

    /// Keep the load at most one half, so probes stay short.
    fn grow_if_needed(&mut self) {
        if (self.hashes.len() + 1) * 2 <= self.slots.len() {
            return;
        }
        let cap = (self.slots.len() * 2).max(1024);
        let mut slots = vec![0u64; cap];
        let mask = cap - 1;
        for &s in &self.slots {
            if s != 0 {
                let h = self.hashes[(s as u32 - 1) as usize];
                let mut i = h as usize & mask;
                while slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                slots[i] = s;
            }
        }
        self.slots = slots;
    }

    /// The hash [`PathTree::intern_hashed`] expects for `path`.
    pub fn hash_path(path: &[u8]) -> u64 {
        use std::hash::Hasher;
        let mut h = rustc_hash::FxHasher::default();
        h.write(path);
        h.finish()
    }

    /// The node of `path`, creating it and its ancestors (`/`-boundary
    /// prefixes, as udev's `devpath_conflict` compares them).
    pub fn intern(&mut self, path: &'a [u8]) -> NodeId {
        self.intern_hashed(path, Self::hash_path(path))
    }

    /// [`PathTree::intern`] with the path's hash already computed.
    pub fn intern_hashed(&mut self, path: &'a [u8], hash: u64) -> NodeId {
        self.intern_near(path, hash, NONE)
    }

    /// [`PathTree::intern_hashed`] with a hint: `near` is a node
    /// interned just before (or [`NONE`]). A new path's parent is
    /// usually `near` or one of its ancestors (`add X` then `add X/Y`,
    /// siblings in a row); it is then found by comparing a few recent,
    /// cached paths instead of another hash probe.
    pub fn intern_near(
        &mut self,
        path: &'a [u8],
        hash: u64,
        near: NodeId,
    ) -> NodeId {
        self.grow_if_needed();
        let cap = self.slots.len();
        let slot = self.probe(path, hash);
        if self.slots[slot] != 0 {
            return (self.slots[slot] as u32) - 1;
        }
        let parent = match memchr::memrchr(b'/', path) {
            Some(i) if i > 0 => Some(
                self.ancestor_with(near, &path[..i])
                    .unwrap_or_else(|| self.intern(&path[..i])),
            ),
            _ => None,
        };
        // Interning the parent may have grown the table.
        let slot = if self.slots.len() != cap {
            self.probe(path, hash)
        } else {
            slot
        };
        let id = self.parent.len() as NodeId;
        self.parent.push(parent);
        self.paths.push(path);
        self.hashes.push(hash);
        self.slots[slot] = (hash >> 32) << 32 | u64::from(id + 1);
        id
    }

    /// `near` or the ancestor of it whose path is `path`, if any.
    /// Ancestors are strictly shorter, so the walk stops at the length.
    fn ancestor_with(&self, near: NodeId, path: &[u8]) -> Option<NodeId> {
        let mut x = near;
        while x != NONE {
            let p = self.paths[x as usize];
            if p.len() <= path.len() {
                return (p == path).then_some(x);
            }
            x = self.parent[x as usize].unwrap_or(NONE);
        }
        None
    }

    /// A node with no ancestors for a device number (`b` or `c`,
    /// major, minor packed by the caller).
    pub fn detached(&mut self, key: u64) -> NodeId {
        if let Some(&id) = self.nums.get(&key) {
            return id;
        }
        let id = self.parent.len() as NodeId;
        self.parent.push(None);
        self.paths.push(b"");
        self.hashes.push(0);
        self.nums.insert(key, id);
        id
    }

    /// The devpath of a node (empty for device-number nodes).
    pub fn path(&self, n: NodeId) -> &'a [u8] {
        self.paths[n as usize]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when no node was interned.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// Parent of `n`.
    pub fn parent(&self, n: NodeId) -> Option<NodeId> {
        self.parent[n as usize]
    }
}

/// Where one event sits: its devpath node and up to two more nodes
/// (`DEVPATH_OLD`, device number) it also occupies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    /// Nodes the event occupies; `u32::MAX` marks an unused slot.
    pub nodes: [NodeId; 3],
}

impl Place {
    /// An event at one node.
    pub fn at(n: NodeId) -> Place {
        Place { nodes: [n, NONE, NONE] }
    }

    /// Add another node (old devpath, device number).
    pub fn also(mut self, n: NodeId) -> Place {
        if let Some(slot) = self.nodes.iter_mut().find(|s| **s == NONE) {
            *slot = n;
        }
        self
    }

    fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.nodes.iter().copied().filter(|&n| n != NONE)
    }
}

const NONE: NodeId = NodeId::MAX;

/// Events parked on one counter: (target, event), smallest first.
type Parked = BinaryHeap<Reverse<(u32, usize)>>;

/// One wait condition: counter `kind` of `node` must reach `target`.
#[derive(Debug, Clone, Copy)]
struct Wait {
    node: NodeId,
    below: bool,
    target: u32,
}

/// One node's counters: [at, below] for enqueued and finished events,
/// with its parent and waiter flags, together so that an ancestor walk
/// touches one cache line per node rather than six arrays.
#[derive(Debug, Clone, Copy)]
struct Node {
    parent: NodeId,
    enqueued: [u32; 2],
    finished: [u32; 2],
    /// Events parked on `at` and on `below`: an index into
    /// [`Dependencies::parked`], or [`NONE`].
    waiters: [u32; 2],
}

/// The queue's dependency state. Events are identified by the caller's
/// dense index; they must be queued in queue (SEQNUM) order.
pub struct Dependencies {
    nodes: Vec<Node>,
    /// Every event's wait conditions, flat; `span[ev]` is (start, len)
    /// and conditions are consumed from the end.
    waits: Vec<Wait>,
    span: Vec<(u32, u32)>,
    places: Vec<Place>,
    /// Heaps of events parked on one counter; most nodes never have
    /// any, so a node holds an index into this slab.
    parked: Vec<Parked>,
    /// Slab entries free for reuse (emptied heaps keep their buffers:
    /// parking does not allocate once the slab is warm).
    free: Vec<u32>,
    /// Scratch for [`Dependencies::wake`].
    woken: Vec<usize>,
}

impl Dependencies {
    /// State for `events` events over `tree` (more may be queued).
    pub fn new(tree: &PathTree<'_>, events: usize) -> Self {
        let nodes = tree
            .parent
            .iter()
            .map(|p| Node {
                parent: p.unwrap_or(NONE),
                enqueued: [0; 2],
                finished: [0; 2],
                waiters: [NONE; 2],
            })
            .collect();
        Dependencies {
            nodes,
            waits: Vec::with_capacity(events * 4),
            span: vec![(0, 0); events],
            places: vec![Place::at(NONE); events],
            parked: Vec::new(),
            free: Vec::new(),
            woken: Vec::new(),
        }
    }

    /// Queue event `ev` at `place`. Returns true when it can run at
    /// once; otherwise it is reported by [`Dependencies::finish`] once
    /// its blockers are done.
    pub fn enqueue(&mut self, ev: usize, place: Place) -> bool {
        if ev >= self.places.len() {
            // Events the simulation adds (kernel events of loads).
            let n = (ev + 1).max(self.places.len() * 2);
            self.places.resize(n, Place::at(NONE));
            self.span.resize(n, (0, 0));
        }
        let start = self.waits.len();
        let (nodes, waits) = (&mut self.nodes, &mut self.waits);
        for n in place.iter() {
            // Same node and every ancestor: earlier events there.
            let mut x = n;
            while x != NONE {
                let node = &nodes[x as usize];
                if node.finished[AT] < node.enqueued[AT] {
                    waits.push(Wait {
                        node: x,
                        below: false,
                        target: node.enqueued[AT],
                    });
                }
                x = node.parent;
            }
            // Every descendant: earlier events below.
            let node = &nodes[n as usize];
            if node.finished[BELOW] < node.enqueued[BELOW] {
                waits.push(Wait {
                    node: n,
                    below: true,
                    target: node.enqueued[BELOW],
                });
            }
        }
        // Count this event after computing its own targets.
        for n in place.iter() {
            nodes[n as usize].enqueued[AT] += 1;
            let mut x = nodes[n as usize].parent;
            while x != NONE {
                nodes[x as usize].enqueued[BELOW] += 1;
                x = nodes[x as usize].parent;
            }
        }
        self.places[ev] = place;
        let len = self.waits.len() - start;
        self.span[ev] = (start as u32, len as u32);
        let ready = len == 0;
        if !ready {
            self.park(ev);
        }
        ready
    }

    /// Park `ev` on its first unmet condition; true when none is left.
    fn park(&mut self, ev: usize) -> bool {
        loop {
            let (start, len) = self.span[ev];
            if len == 0 {
                return true;
            }
            let w = self.waits[(start + len - 1) as usize];
            let node = &mut self.nodes[w.node as usize];
            if node.finished[usize::from(w.below)] >= w.target {
                self.span[ev].1 -= 1;
                continue;
            }
            let slot = &mut node.waiters[usize::from(w.below)];
            if *slot == NONE {
                *slot = self.free.pop().unwrap_or_else(|| {
                    self.parked.push(Parked::new());
                    (self.parked.len() - 1) as u32
                });
            }
            self.parked[*slot as usize].push(Reverse((w.target, ev)));
            return false;
        }
    }

    /// Event `ev` finished; push every event it unblocked onto `ready`.
    pub fn finish(&mut self, ev: usize, ready: &mut Vec<usize>) {
        let place = self.places[ev];
        for n in place.iter() {
            self.nodes[n as usize].finished[AT] += 1;
            self.wake(n, false, ready);
            let mut x = self.nodes[n as usize].parent;
            while x != NONE {
                self.nodes[x as usize].finished[BELOW] += 1;
                self.wake(x, true, ready);
                x = self.nodes[x as usize].parent;
            }
        }
    }

    fn wake(&mut self, node: NodeId, below: bool, ready: &mut Vec<usize>) {
        let (i, kind) = (node as usize, usize::from(below));
        let slot = self.nodes[i].waiters[kind];
        if slot == NONE {
            return;
        }
        let done = self.nodes[i].finished[kind];
        let mut woken = std::mem::take(&mut self.woken);
        let queue = &mut self.parked[slot as usize];
        while let Some(&Reverse((target, ev))) = queue.peek() {
            if target > done {
                break;
            }
            queue.pop();
            woken.push(ev);
        }
        if queue.is_empty() {
            self.free.push(slot);
            self.nodes[i].waiters[kind] = NONE;
        }
        for &ev in &woken {
            self.span[ev].1 -= 1;
            if self.park(ev) {
                ready.push(ev);
            }
        }
        woken.clear();
        self.woken = woken;
    }
}

/// Index of the counters of events at a node and below it.
const AT: usize = 0;
const BELOW: usize = 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn run(paths: &[&'static str]) -> (Vec<bool>, Dependencies) {
        let tree: &'static mut PathTree<'static> =
            Box::leak(Box::new(PathTree::new()));
        let nodes: Vec<_> =
            paths.iter().map(|p| tree.intern(p.as_bytes())).collect();
        let tree: &'static PathTree<'static> = tree;
        let mut d = Dependencies::new(tree, paths.len());
        let ready = nodes
            .iter()
            .enumerate()
            .map(|(i, &n)| d.enqueue(i, Place::at(n)))
            .collect();
        (ready, d)
    }

    #[test]
    fn equal_hashes_and_growth_keep_paths_apart() {
        let paths: Vec<String> =
            (0..5000).map(|i| format!("/devices/x/{i}")).collect();
        let mut tree = PathTree::new();
        // Every path under one hash: probing must compare the paths.
        let ids: Vec<_> = paths
            .iter()
            .take(300)
            .map(|p| tree.intern_hashed(p.as_bytes(), 42))
            .collect();
        for (p, &id) in paths.iter().zip(&ids) {
            assert_eq!(tree.intern_hashed(p.as_bytes(), 42), id);
            assert_eq!(tree.path(id), p.as_bytes());
        }
        // Real hashes, past several doublings of the table.
        let more: Vec<_> =
            paths.iter().map(|p| tree.intern(p.as_bytes())).collect();
        for (p, &id) in paths.iter().zip(&more) {
            assert_eq!(tree.intern(p.as_bytes()), id);
            assert_eq!(tree.path(id), p.as_bytes());
            assert_eq!(tree.path(tree.parent(id).unwrap()), b"/devices/x");
        }
    }

    #[test]
    fn parent_child_and_siblings() {
        let (ready, mut d) = run(&[
            "/devices/css0/0.0.0000",
            "/devices/css0/0.0.0000/0.0.0100",
            "/devices/css0/0.0.0001",
            "/devices/css0/0.0.0000",
            "/devices/css0",
        ]);
        // Sibling 0.0.0001 runs at once; child and repeat wait.
        assert_eq!(ready, [true, false, true, false, false]);
        let mut r = Vec::new();
        d.finish(0, &mut r);
        assert_eq!(r, [1]);
        r.clear();
        d.finish(1, &mut r);
        assert_eq!(r, [3]);
        r.clear();
        d.finish(2, &mut r);
        assert!(r.is_empty());
        d.finish(3, &mut r);
        // The ancestor waits for everything below it.
        assert_eq!(r, [4]);
    }

    #[test]
    fn later_events_never_block_earlier() {
        let (ready, mut d) = run(&["/a/b", "/a", "/a/b/c"]);
        assert_eq!(ready, [true, false, false]);
        let mut r = Vec::new();
        d.finish(0, &mut r);
        assert_eq!(r, [1]);
        r.clear();
        d.finish(1, &mut r);
        assert_eq!(r, [2]);
    }

    #[test]
    fn extra_nodes_block_like_paths() {
        let mut tree = PathTree::new();
        let a = tree.intern(b"/devices/x/block/sda");
        let b = tree.intern(b"/devices/y/block/sdb");
        let dev = tree.detached(1 << 63 | 8 << 32);
        assert_eq!(tree.intern(b"/devices/x/block/sda"), a);
        let mut d = Dependencies::new(&tree, 2);
        assert!(d.enqueue(0, Place::at(a).also(dev)));
        assert!(!d.enqueue(1, Place::at(b).also(dev)));
        let mut r = Vec::new();
        d.finish(0, &mut r);
        assert_eq!(r, [1]);
    }

    /// The rule as udevd states it, checked naively against the model
    /// on random traces and random completion orders.
    #[test]
    fn matches_naive_rule() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let names = ["/a", "/a/b", "/a/b/c", "/a/d", "/e", "/e/f", "/a/b/g"];
        for _ in 0..300 {
            let n = 2 + rnd(30) as usize;
            let paths: Vec<&str> = (0..n)
                .map(|_| names[rnd(names.len() as u64) as usize])
                .collect();
            let conflict = |x: &str, y: &str| {
                x == y
                    || x.starts_with(&format!("{y}/"))
                    || y.starts_with(&format!("{x}/"))
            };
            let mut tree = PathTree::new();
            let nodes: Vec<_> =
                paths.iter().map(|p| tree.intern(p.as_bytes())).collect();
            let mut d = Dependencies::new(&tree, n);
            let mut runnable: Vec<usize> = Vec::new();
            for (i, &node) in nodes.iter().enumerate() {
                if d.enqueue(i, Place::at(node)) {
                    runnable.push(i);
                }
            }
            let mut finished = vec![false; n];
            let mut started = vec![false; n];
            while !runnable.is_empty() {
                // Everything the model calls runnable must be unblocked
                // by the naive rule.
                for &e in &runnable {
                    assert!(
                        (0..e)
                            .all(|p| finished[p]
                                || !conflict(paths[p], paths[e]))
                    );
                    started[e] = true;
                }
                let k = rnd(runnable.len() as u64) as usize;
                let e = runnable.swap_remove(k);
                finished[e] = true;
                let mut r = Vec::new();
                d.finish(e, &mut r);
                runnable.extend(r);
                // Promptness: whatever is still waiting is blocked.
                for w in 0..n {
                    if !started[w] && !runnable.contains(&w) {
                        assert!((0..w)
                            .any(|p| !finished[p]
                                && conflict(paths[p], paths[w])));
                    }
                }
            }
            assert!(finished.iter().all(|&f| f), "deadlock in {paths:?}");
            // And nothing unblocked was left waiting: every event ran.
            assert!(started.iter().all(|&s| s));
        }
    }
}
