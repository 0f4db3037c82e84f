//! The discrete-event simulation of one coldplug: events arrive, wait
//! for their devpath blockers ([`super::queue`]), run on one of
//! `children_max` workers, and on `add` with a MODALIAS do what udev's
//! kmod builtin does (`module_load_and_warn` in systemd's
//! `module-util.c`):
//!
//! 1. look the alias up (cost: [`CostModel::lookup_ns`] or measured);
//! 2. for each module of the result, in order: skip it when built in
//!    or already in the kernel (LIVE or COMING both count, as
//!    `module_is_inkernel` says), otherwise probe it
//!    (`kmod_module_probe_insert_module` with `KMOD_PROBE_APPLY_BLACKLIST`):
//!    a blacklisted top module is skipped, else each step of its plan
//!    (dependencies, softdeps, the module) is inserted unless already
//!    in the kernel.
//!
//! Loading a module makes the kernel emit events of its own, which
//! enter the queue when the load completes: `add /module/NAME`, a
//! `bind` for every device already present whose alias resolved to the
//! module, and `add /bus/BUS/drivers/NAME` (binds come first, then the
//! driver: `bus_add_driver` attaches before `KOBJ_ADD`).
//!
//! Simplifications, each deliberate:
//! - A module is claimed by the first worker whose probe reaches it;
//!   another worker that checks it later sees it in the kernel (COMING)
//!   and moves on, as udev does. Inserting a module whose dependency is
//!   still COMING on another worker waits until it is live (the kernel's
//!   symbol resolution waits).
//! - An `install` command replaces the insertion; it counts as loading
//!   the module only when it calls `modprobe` or `insmod` (the usual
//!   `modprobe --ignore-install` pattern); `/bin/false` and the like
//!   block it. Commands are never run.
//! - The driver name in binds is the module name.
//!
//! Everything is deterministic: the same inputs give the same timeline
//! whatever the number of threads that computed the lookups.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap;

use super::cost::CostModel;
use super::prepare::EventMeta;
use super::queue::{Dependencies, NodeId, PathTree, Place};

/// Index of a module in [`Scenario::modules`].
pub type ModId = u32;

/// What one step of a probe does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepKind {
    /// Insert the `.ko`.
    Insmod,
    /// Run this `install` command instead.
    Install(String),
    /// Built into the kernel: nothing to do.
    Builtin,
}

/// One step of a probe plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The module.
    pub module: ModId,
    /// What happens.
    pub kind: StepKind,
}

/// What probing one module means under the policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The module is on the blacklist: udev skips it.
    pub blacklisted: bool,
    /// Modules in load order, the probed one included.
    pub steps: Vec<Step>,
}

/// A kernel module as the simulation needs it.
#[derive(Debug, Clone, Default)]
pub struct Module {
    /// Name.
    pub name: String,
    /// Uncompressed size in bytes (`modules.size`), 0 when unknown.
    pub size: u64,
    /// Built into the kernel.
    pub builtin: bool,
    /// Hard dependencies (modules.dep), for waiting on COMING ones.
    pub deps: Vec<ModId>,
    /// The probe plan.
    pub plan: Plan,
    /// Node of `/module/NAME`, for its add event.
    pub module_node: Option<NodeId>,
    /// Node of `/bus/BUS/drivers/NAME`, for the driver's add event.
    pub driver_node: Option<NodeId>,
}

/// Everything one simulation run needs.
pub struct Scenario<'t, 'a> {
    /// Devpath tree, with the nodes of module and driver paths.
    pub tree: &'t PathTree<'a>,
    /// Trace events in queue (SEQNUM) order, arrivals non-decreasing
    /// (borrowed from the prepared trace: no copy per event).
    pub events: &'t [EventMeta],
    /// Measured CPU time of each event's lookup (0 where none); only
    /// read when the cost model charges measured times.
    pub lookup_ns: &'t [u64],
    /// Events with rule-driven loads: event index to a range of
    /// [`Scenario::rule_loads`].
    pub rule_ranges: FxHashMap<u32, (u32, u32)>,
    /// Lookup results: module lists in libkmod's order.
    pub lookups: Vec<Vec<ModId>>,
    /// Module table.
    pub modules: Vec<Module>,
    /// Flat list of rule-driven loads.
    pub rule_loads: Vec<ModId>,
    /// Costs.
    pub cost: CostModel,
    /// `children_max`.
    pub workers: usize,
}

/// Why an event ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// From the trace (index into [`Scenario::events`]).
    Trace(u32),
    /// `add /module/NAME` after a load.
    ModuleAdd(ModId),
    /// `bind` of a trace device (its event index) to a module.
    Bind(ModId, u32),
    /// `add /bus/BUS/drivers/NAME`.
    DriverAdd(ModId),
}

/// One event's run on a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Which event.
    pub origin: Origin,
    /// Worker index.
    pub worker: u32,
    /// Start on the worker.
    pub start_ns: u64,
    /// End.
    pub end_ns: u64,
    /// The event inserted modules (or ran install commands).
    pub loaded: bool,
}

/// One module insertion (or install command) in the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    /// The module.
    pub module: ModId,
    /// The trace event whose worker loaded it (the event behind a
    /// synthetic one is not traced further).
    pub by: Origin,
    /// Start.
    pub start_ns: u64,
    /// Live from.
    pub live_ns: u64,
    /// It ran an install command.
    pub via_install: bool,
}

/// Counters of what the kmod builtin did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Lookups done (`add` events with a MODALIAS).
    pub lookups: u64,
    /// Calls of `kmod_module_probe_insert_module`.
    pub probe_calls: u64,
    /// Module entries skipped as built in.
    pub builtin_skips: u64,
    /// Module entries skipped as already in the kernel.
    pub loaded_skips: u64,
    /// Probes refused by the blacklist.
    pub blacklisted: u64,
    /// Install commands that would run.
    pub install_commands: u64,
    /// Events synthesized by the kernel for loads.
    pub kernel_events: u64,
    /// Workers forked.
    pub workers_spawned: u64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Every event run, in start order.
    pub spans: Vec<Span>,
    /// Module loads in start order.
    pub loads: Vec<Load>,
    /// What the builtin did.
    pub counters: Counters,
    /// Time from the first arrival to the last event's end.
    pub makespan_ns: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Absent,
    /// Claimed by a load that is live from this time.
    Claimed(u64),
}

/// Run the simulation, keeping every span in [`Outcome::spans`].
pub fn run(sc: &Scenario<'_, '_>) -> Outcome {
    let mut spans = Vec::with_capacity(sc.events.len());
    let mut out = Engine::new(sc, &mut |s: &Span| spans.push(*s)).run();
    out.spans = spans;
    out
}

/// Run the simulation, handing each span to `sink` as it starts
/// instead of keeping them ([`Outcome::spans`] stays empty): a million
/// events need no span table.
pub fn run_with(
    sc: &Scenario<'_, '_>,
    sink: &mut dyn FnMut(&Span),
) -> Outcome {
    Engine::new(sc, sink).run()
}

/// Runnable events by queue position (events are numbered in the order
/// they are queued, so the index is the position), smallest first.
///
/// Most events are runnable the moment they are queued, and those come
/// in increasing order: they wait in a FIFO. Only events woken by a
/// finish arrive out of order and need the heap. The smaller of the two
/// fronts is the next, exactly as one heap would give it, at a fraction
/// of the cost for a queue of 100,000s.
#[derive(Default)]
struct Ready {
    queued: std::collections::VecDeque<usize>,
    woken: BinaryHeap<Reverse<usize>>,
}

impl Ready {
    /// An event runnable when queued: higher than any queued before.
    fn push_queued(&mut self, ev: usize) {
        debug_assert!(self.queued.back().is_none_or(|&b| b < ev));
        self.queued.push_back(ev);
    }

    fn push_woken(&mut self, ev: usize) {
        self.woken.push(Reverse(ev));
    }

    fn peek(&self) -> Option<usize> {
        match (self.queued.front(), self.woken.peek()) {
            (Some(&q), Some(&Reverse(w))) => Some(q.min(w)),
            (Some(&q), None) => Some(q),
            (None, Some(&Reverse(w))) => Some(w),
            (None, None) => None,
        }
    }

    /// Remove the event [`Ready::peek`] returned.
    fn pop(&mut self) {
        match (self.queued.front(), self.woken.peek()) {
            (Some(&q), Some(&Reverse(w))) if w < q => {
                self.woken.pop();
            }
            (Some(_), _) => {
                self.queued.pop_front();
            }
            (None, _) => {
                self.woken.pop();
            }
        }
    }
}

struct Engine<'s, 't, 'a> {
    sc: &'s Scenario<'t, 'a>,
    sink: &'s mut dyn FnMut(&Span),
    deps: Dependencies,
    /// Per queued event (numbered in queue order): its origin.
    origin: Vec<Origin>,
    /// DES events: (time, kind, id); kind 0 = synthetic arrival, 1 =
    /// finish. Finishes after arrivals at the same time.
    heap: BinaryHeap<Reverse<(u64, u8, u64)>>,
    /// Runnable events, lowest queue position first.
    ready: Ready,
    idle: BinaryHeap<Reverse<u32>>,
    spawned: u32,
    state: Vec<State>,
    /// Trace events per module they can bind to.
    devices_of: Vec<Vec<u32>>,
    out: Outcome,
    scratch: Vec<usize>,
    running: Vec<Option<(usize, u64)>>,
}

impl<'s, 't, 'a> Engine<'s, 't, 'a> {
    fn new(sc: &'s Scenario<'t, 'a>, sink: &'s mut dyn FnMut(&Span)) -> Self {
        let mut devices_of = vec![Vec::new(); sc.modules.len()];
        for (i, ev) in sc.events.iter().enumerate() {
            if let (Some(l), false) = (ev.lookup(), ev.bound) {
                let list = &sc.lookups[l as usize];
                for (k, &m) in list.iter().enumerate() {
                    // A module listed twice binds the device once.
                    if !list[..k].contains(&m) {
                        devices_of[m as usize].push(i as u32);
                    }
                }
            }
        }
        // Loads add kernel events: leave room so the tables grow once.
        let cap = sc.events.len() + sc.events.len() / 2;
        Engine {
            sc,
            sink,
            deps: Dependencies::new(sc.tree, sc.events.len()),
            origin: Vec::with_capacity(cap),
            heap: BinaryHeap::new(),
            ready: Ready::default(),
            idle: BinaryHeap::new(),
            spawned: 0,
            state: vec![State::Absent; sc.modules.len()],
            devices_of,
            out: Outcome::default(),
            scratch: Vec::new(),
            running: vec![None; sc.workers.max(1)],
        }
    }

    fn run(mut self) -> Outcome {
        let n = self.sc.events.len();
        let mut cursor = 0usize;
        let start = self.sc.events.first().map_or(0, |e| e.arrival_ns);
        let mut last_end = start;
        // Synthetic events waiting to be queued: (origin, place).
        let mut pending: Vec<(Origin, Place)> = Vec::new();
        loop {
            let next_trace =
                (cursor < n).then(|| self.sc.events[cursor].arrival_ns);
            let next_heap = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let now = match (next_trace, next_heap) {
                (None, None) => break,
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (Some(a), Some(b)) => a.min(b),
            };
            // Finishes at `now` first: they free workers and unblock.
            while let Some(&Reverse((t, kind, id))) = self.heap.peek() {
                if t != now || kind != 1 {
                    break;
                }
                self.heap.pop();
                let w = id as usize;
                let (ev, end) = self.running[w].take().expect("running");
                last_end = last_end.max(end);
                self.idle.push(Reverse(w as u32));
                let mut r = std::mem::take(&mut self.scratch);
                r.clear();
                self.deps.finish(ev, &mut r);
                for e in r.drain(..) {
                    self.ready.push_woken(e);
                }
                self.scratch = r;
            }
            // Then arrivals at `now`, trace and synthetic, in order.
            while cursor < n && self.sc.events[cursor].arrival_ns == now {
                let ev = &self.sc.events[cursor];
                let place = ev.place;
                self.enqueue(Origin::Trace(cursor as u32), place, now);
                // A device created after its driver registered binds
                // right after its add.
                if let (false, false, Some(l)) =
                    (ev.exists, ev.bound, ev.lookup())
                {
                    let list = &self.sc.lookups[l as usize];
                    for (k, &m) in list.iter().enumerate() {
                        let live = matches!(self.state[m as usize], State::Claimed(t) if t < now);
                        if live && !list[..k].contains(&m) {
                            self.out.counters.kernel_events += 1;
                            self.enqueue(
                                Origin::Bind(m, cursor as u32),
                                place,
                                now,
                            );
                        }
                    }
                }
                cursor += 1;
            }
            while let Some(&Reverse((t, kind, id))) = self.heap.peek() {
                if t != now || kind != 0 {
                    break;
                }
                self.heap.pop();
                let _ = id;
                pending.clear();
                self.synthetic_for(id as ModId, now, &mut pending);
                for &(o, p) in &pending {
                    self.enqueue(o, p, now);
                }
            }
            self.dispatch(now);
        }
        self.out.makespan_ns = last_end - start;
        self.out
    }

    fn enqueue(&mut self, origin: Origin, place: Place, now: u64) {
        let ev = self.origin.len();
        let _ = now;
        self.origin.push(origin);
        if self.deps.enqueue(ev, place) {
            self.ready.push_queued(ev);
        }
    }

    /// The kernel's events for a module that became live at `now`.
    fn synthetic_for(
        &mut self,
        m: ModId,
        now: u64,
        out: &mut Vec<(Origin, Place)>,
    ) {
        let module = &self.sc.modules[m as usize];
        if let Some(node) = module.module_node {
            out.push((Origin::ModuleAdd(m), Place::at(node)));
        }
        for &dev in &self.devices_of[m as usize] {
            let ev = &self.sc.events[dev as usize];
            if ev.exists || ev.arrival_ns <= now {
                out.push((Origin::Bind(m, dev), ev.place));
            }
        }
        if let Some(node) = module.driver_node {
            out.push((Origin::DriverAdd(m), Place::at(node)));
        }
        self.out.counters.kernel_events += out.len() as u64;
    }

    fn dispatch(&mut self, now: u64) {
        while let Some(ev) = self.ready.peek() {
            let (worker, overhead) = match self.idle.pop() {
                Some(Reverse(w)) => (w, self.sc.cost.handoff_ns),
                None if (self.spawned as usize) < self.running.len() => {
                    self.spawned += 1;
                    self.out.counters.workers_spawned += 1;
                    (self.spawned - 1, self.sc.cost.worker_spawn_ns)
                }
                None => break,
            };
            self.ready.pop();
            let loads_before = self.out.loads.len();
            let end = self.execute(ev, now + overhead);
            (self.sink)(&Span {
                origin: self.origin[ev],
                worker,
                start_ns: now,
                end_ns: end,
                loaded: self.out.loads.len() > loads_before,
            });
            self.running[worker as usize] = Some((ev, end));
            self.heap.push(Reverse((end, 1, u64::from(worker))));
        }
    }

    /// Run event `ev` from time `t`; returns its end.
    fn execute(&mut self, ev: usize, mut t: u64) -> u64 {
        let sc = self.sc;
        t += sc.cost.event_ns;
        let Origin::Trace(i) = self.origin[ev] else { return t };
        let e = &sc.events[i as usize];
        if let Some(l) = e.lookup() {
            self.out.counters.lookups += 1;
            t += if sc.cost.measured_lookup {
                sc.lookup_ns[i as usize]
            } else {
                sc.cost.lookup_ns
            };
            for &m in &sc.lookups[l as usize] {
                t = self.load_and_warn(m, t, Origin::Trace(i));
            }
        }
        let (a, b) = sc.rule_ranges.get(&i).copied().unwrap_or((0, 0));
        for k in a..b {
            t = self.load_and_warn(
                sc.rule_loads[k as usize],
                t,
                Origin::Trace(i),
            );
        }
        t
    }

    /// `module_load_and_warn` for one module of a lookup result.
    fn load_and_warn(&mut self, m: ModId, mut t: u64, by: Origin) -> u64 {
        let sc = self.sc;
        let module = &sc.modules[m as usize];
        if module.builtin {
            self.out.counters.builtin_skips += 1;
            return t;
        }
        if self.state[m as usize] != State::Absent {
            self.out.counters.loaded_skips += 1;
            return t;
        }
        self.out.counters.probe_calls += 1;
        if module.plan.blacklisted {
            self.out.counters.blacklisted += 1;
            return t;
        }
        for step in &module.plan.steps {
            let s = step.module as usize;
            if self.state[s] != State::Absent {
                continue;
            }
            let (dur, loads, install) = match &step.kind {
                StepKind::Builtin => continue,
                StepKind::Insmod => {
                    (sc.cost.insmod(sc.modules[s].size), true, false)
                }
                StepKind::Install(cmd) => {
                    self.out.counters.install_commands += 1;
                    let loads =
                        cmd.contains("modprobe") || cmd.contains("insmod");
                    let size = if loads { sc.modules[s].size } else { 0 };
                    let dur = sc.cost.install_cmd_ns
                        + if loads { sc.cost.insmod(size) } else { 0 };
                    (dur, loads, true)
                }
            };
            // Symbol resolution waits for dependencies still coming.
            for &d in &sc.modules[s].deps {
                if let State::Claimed(live) = self.state[d as usize] {
                    t = t.max(live);
                }
            }
            let start = t;
            t += dur;
            if loads {
                self.state[s] = State::Claimed(t);
                self.out.loads.push(Load {
                    module: step.module,
                    by,
                    start_ns: start,
                    live_ns: t,
                    via_install: install,
                });
                self.heap.push(Reverse((t, 0, u64::from(step.module))));
            } else if step.module == m {
                // The install command did not load it: udev's probe of
                // a required module fails and stops.
                break;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario<'t>(
        tree: &'t PathTree<'static>,
        events: &'t [EventMeta],
        workers: usize,
    ) -> Scenario<'t, 'static> {
        let m =
            |name: &str, size, deps: Vec<ModId>, steps: Vec<ModId>| Module {
                name: name.into(),
                size,
                builtin: false,
                deps,
                plan: Plan {
                    blacklisted: false,
                    steps: steps
                        .into_iter()
                        .map(|s| Step { module: s, kind: StepKind::Insmod })
                        .collect(),
                },
                module_node: None,
                driver_node: None,
            };
        Scenario {
            tree,
            events,
            lookup_ns: &[],
            rule_ranges: FxHashMap::default(),
            lookups: vec![vec![1, 1], vec![2]],
            modules: vec![
                m("zcrypt", 179_609, vec![], vec![0]),
                m("zcrypt_cex4", 25_889, vec![0], vec![0, 1]),
                m("dasd_eckd_mod", 100_000, vec![], vec![2]),
            ],
            rule_loads: vec![],
            cost: CostModel::default(),
            workers,
        }
    }

    fn ev(
        tree: &mut PathTree<'static>,
        path: &'static str,
        t: u64,
        lookup: Option<u32>,
    ) -> EventMeta {
        EventMeta {
            seqnum: 0,
            arrival_ns: t,
            place: Place::at(tree.intern(path.as_bytes())),
            lookup_id: lookup.unwrap_or(super::super::prepare::NO_LOOKUP),
            subsystem: 0,
            exists: false,
            bound: false,
        }
    }

    #[test]
    fn loads_once_and_deterministically() {
        let mut tree = PathTree::new();
        let events = vec![
            ev(&mut tree, "/devices/ap/card03", 0, Some(0)),
            ev(&mut tree, "/devices/ap/card03/03.0005", 0, None),
            ev(&mut tree, "/devices/ap/card08", 0, Some(0)),
            ev(&mut tree, "/devices/css0/0.0.0000/0.0.0100", 0, Some(1)),
        ];
        let sc = scenario(&tree, &events, 4);
        let a = run(&sc);
        let names: Vec<_> = a.loads.iter().map(|l| l.module).collect();
        assert_eq!(names, [0, 1, 2]);
        // card08 ran concurrently and found zcrypt_cex4 already coming.
        assert_eq!(a.counters.lookups, 3);
        assert_eq!(a.counters.probe_calls, 2);
        assert_eq!(a.counters.loaded_skips, 3);
        // The queue child waited for its parent card.
        let card =
            a.spans.iter().find(|s| s.origin == Origin::Trace(0)).unwrap();
        let queue =
            a.spans.iter().find(|s| s.origin == Origin::Trace(1)).unwrap();
        assert!(queue.start_ns >= card.end_ns);
        // Two binds for zcrypt_cex4 (card03, card08), one for dasd.
        let binds = a
            .spans
            .iter()
            .filter(|s| matches!(s.origin, Origin::Bind(..)))
            .count();
        assert_eq!(binds, 3);
        let b = run(&sc);
        assert_eq!(a.spans, b.spans);
        assert_eq!(a.makespan_ns, b.makespan_ns);
    }

    #[test]
    fn one_worker_serializes() {
        let mut tree = PathTree::new();
        let events =
            vec![ev(&mut tree, "/a", 0, None), ev(&mut tree, "/b", 0, None)];
        let sc = scenario(&tree, &events, 1);
        let o = run(&sc);
        assert_eq!(o.spans[1].start_ns, o.spans[0].end_ns);
        let c = CostModel::default();
        assert_eq!(
            o.makespan_ns,
            c.worker_spawn_ns + c.handoff_ns + 2 * c.event_ns
        );
    }
}
