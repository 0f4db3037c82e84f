//! A whole replay: prepared trace → real lookups on a worker pool →
//! simulation → report.
//!
//! The real work (every lookup udev would do, timed one by one) runs on
//! `threads` crossbeam workers, each with its own matcher scratch; the
//! results are merged by index, so they are the same for any number of
//! threads. The simulation that follows is single-threaded and
//! deterministic.

use std::collections::HashMap;
use std::time::Instant;

use crate::report::{
    self, Bar, LoadedModule, Quantiles, ReplayReport, SubsystemStats,
};

use super::cost::CostModel;
use super::engine::{
    self, ModId, Module, Origin, Plan, Scenario, Step, StepKind,
};
use super::prepare::Prepared;
use super::rules::Rules;

/// What the replay needs to know about the kernel and the policy.
pub trait Kernel: Sync {
    /// Per-thread scratch space of the matcher.
    type Scratch: Send;

    /// New scratch space.
    fn scratch(&self) -> Self::Scratch;

    /// Look `alias` up as `kmod_module_new_from_lookup` does; the
    /// answer stays in `scratch`. `Err(errno)` (negative) when libkmod
    /// fails the lookup (-EINVAL). This is the call that is timed.
    fn lookup(
        &self,
        alias: &[u8],
        scratch: &mut Self::Scratch,
    ) -> Result<(), i32>;

    /// The module names of the last lookup in `scratch`, in libkmod's
    /// order with duplicates.
    fn results<'s>(&self, scratch: &'s Self::Scratch) -> Vec<&'s str>;

    /// What the simulation needs about module `name`.
    fn facts(&self, name: &str) -> ModuleFacts;
}

/// One module as the kernel index and the policy describe it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleFacts {
    /// Uncompressed size (`modules.size`), 0 when unknown.
    pub size: u64,
    /// Built into the kernel.
    pub builtin: bool,
    /// Hard dependencies from modules.dep.
    pub deps: Vec<String>,
    /// Blacklisted for udev (`KMOD_PROBE_APPLY_BLACKLIST`).
    pub blacklisted: bool,
    /// The probe list: (module, what happens) in load order.
    pub plan: Vec<(String, StepKind)>,
}

/// Settings of one replay.
pub struct Settings<'r> {
    /// `children_max` of the simulated udevd.
    pub workers: usize,
    /// Threads doing the real lookups.
    pub threads: usize,
    /// Cost model.
    pub cost: CostModel,
    /// Rule-driven loads.
    pub rules: Option<&'r Rules>,
    /// Progress callback: lookups done so far (called now and then).
    pub progress: Option<&'r (dyn Fn(u64) + Sync)>,
}

/// Wall-clock figures measured outside the replay, to carry into the
/// report.
#[derive(Debug, Clone, Copy, Default)]
pub struct OuterWall {
    /// Parsing.
    pub parse_ms: f64,
    /// Index loading and matcher build.
    pub index_ms: f64,
}

/// Run the replay of `p` against `kernel`.
pub fn replay<'a, K: Kernel>(
    p: &mut Prepared<'a>,
    kernel: &K,
    settings: &Settings<'_>,
    arena: &'a bumpalo::Bump,
    outer: OuterWall,
) -> ReplayReport
where
    K::Scratch: Send,
{
    let t_all = Instant::now();
    // 1. The answer for each distinct modalias (the simulation needs
    //    them); the timed lookup of every event follows, on the pool,
    //    alongside the simulation unless the cost model charges the
    //    measured times.
    let t_match = Instant::now();
    let unique = resolve_unique(p, kernel, settings.threads);
    let measured_first = settings.cost.measured_lookup;
    let measured = if measured_first {
        timed_lookups(p, kernel, settings.threads, settings)
    } else {
        Vec::new()
    };
    let p: &mut Prepared<'a> = p;
    let mut match_ms = t_match.elapsed().as_secs_f64() * 1e3;

    // 2. Module table: ids for every module the results and plans name.
    let mut table = Table::default();
    let lookups: Vec<Vec<ModId>> = unique
        .iter()
        .map(|r| match r {
            Ok(names) => names.iter().map(|n| table.id(n)).collect(),
            Err(_) => Vec::new(),
        })
        .collect();
    let mut rule_loads = Vec::new();
    let mut rule_ranges = rustc_hash::FxHashMap::default();
    {
        let mut scratch = kernel.scratch();
        let mut k = 0;
        while k < p.rule_loads.len() {
            let ev = p.rule_loads[k].0;
            let start = rule_loads.len() as u32;
            while k < p.rule_loads.len() && p.rule_loads[k].0 == ev {
                let name = &p.rule_loads[k].1;
                if kernel.lookup(name.as_bytes(), &mut scratch).is_ok() {
                    for n in kernel.results(&scratch) {
                        rule_loads.push(table.id(n));
                    }
                }
                k += 1;
            }
            rule_ranges.insert(ev, (start, rule_loads.len() as u32));
        }
    }
    // Bus of the first alias that names each module, for its driver add.
    let mut bus_of: HashMap<ModId, &[u8]> = HashMap::new();
    for (k, list) in lookups.iter().enumerate() {
        let alias = p.modaliases[k];
        let bus = alias.split(|&b| b == b':').next().unwrap_or(b"");
        for &m in list {
            bus_of.entry(m).or_insert(bus);
        }
    }
    let modules = table.resolve(kernel);

    // 3. The simulation.
    let t_sim = Instant::now();
    let modules: Vec<Module> = modules
        .into_iter()
        .enumerate()
        .map(|(i, mut m)| {
            let path = bumpalo::format!(in arena, "/module/{}", m.name);
            m.module_node =
                Some(p.tree.intern(path.into_bump_str().as_bytes()));
            if let Some(bus) = bus_of.get(&(i as ModId)) {
                let path = bumpalo::format!(
                    in arena,
                    "/bus/{}/drivers/{}",
                    String::from_utf8_lossy(bus),
                    m.name
                );
                m.driver_node =
                    Some(p.tree.intern(path.into_bump_str().as_bytes()));
            }
            m
        })
        .collect();
    let p: &Prepared<'a> = p;
    let sc = Scenario {
        tree: &p.tree,
        events: &p.events,
        lookup_ns: &measured,
        rule_ranges,
        lookups,
        modules,
        rule_loads,
        cost: settings.cost,
        workers: settings.workers,
    };
    // Per-subsystem figures by index; synthetic events get two more.
    let nsub = p.subsystems.len();
    let (module_sub, drivers_sub) = (nsub, nsub + 1);
    let mut subs = vec![SubsystemStats::default(); nsub + 2];
    // Timeline bars, merged per worker below about 1/4000 of the run
    // (estimated before it: the last arrival, or the work spread over
    // the workers).
    let work = sc.events.len() as u64 * settings.cost.event_ns
        / settings.workers.max(1) as u64;
    let last_arrival = sc.events.last().map_or(0, |e| e.arrival_ns);
    let merge_ns = last_arrival.max(work) / 4000;
    let mut timeline: Vec<Bar> = Vec::new();
    let mut last_bar: Vec<Option<usize>> = vec![None; settings.workers.max(1)];
    let sink = |span: &engine::Span| {
        let sub = match span.origin {
            Origin::Trace(i) | Origin::Bind(_, i) => {
                p.events[i as usize].subsystem as usize
            }
            Origin::ModuleAdd(_) => module_sub,
            Origin::DriverAdd(_) => drivers_sub,
        };
        if !matches!(span.origin, Origin::Trace(_)) {
            subs[sub].events += 1;
        }
        subs[sub].worker_ms += (span.end_ns - span.start_ns) as f64 / 1e6;
        let w = span.worker as usize;
        if let Some(b) = last_bar[w] {
            let bar = &mut timeline[b];
            if bar.subsystem == sub as u16
                && !span.loaded
                && !bar.loads
                && span.start_ns <= (bar.end_us * 1e3) as u64 + merge_ns
            {
                bar.end_us = span.end_ns as f64 / 1e3;
                return;
            }
        }
        last_bar[w] = Some(timeline.len());
        timeline.push(Bar {
            worker: span.worker,
            start_us: span.start_ns as f64 / 1e3,
            end_us: span.end_ns as f64 / 1e3,
            subsystem: sub as u16,
            loads: span.loaded,
        });
    };
    let (outcome, simulate_ms, timed, sc) = std::thread::scope(|scope| {
        let mut sink = sink;
        let sim = scope.spawn(move || {
            let o = engine::run_with(&sc, &mut sink);
            (o, t_sim.elapsed().as_secs_f64() * 1e3, sc)
        });
        let timed = if measured_first {
            None
        } else {
            let t = Instant::now();
            // The simulation keeps one core busy: one worker fewer
            // here, so that neither preempts the other.
            let ns = timed_lookups(
                p,
                kernel,
                settings.threads.max(2) - 1,
                settings,
            );
            Some((ns, t.elapsed().as_secs_f64() * 1e3))
        };
        let (o, ms, sc) = sim.join().expect("simulation panicked");
        (o, ms, timed, sc)
    });
    let lookup_ns = match timed {
        Some((ns, ms)) => {
            match_ms += ms;
            ns
        }
        None => measured.clone(),
    };

    // 4. The report.
    let mut r = ReplayReport {
        workers: settings.workers,
        events: p.events.len() as u64,
        malformed: p.malformed,
        kernel_events: outcome.counters.kernel_events,
        lookups: outcome.counters.lookups,
        unique_modaliases: p.modaliases.len() as u64,
        modprobe_calls: outcome.counters.probe_calls,
        builtin_skips: outcome.counters.builtin_skips,
        loaded_skips: outcome.counters.loaded_skips,
        blacklisted: outcome.counters.blacklisted,
        install_commands: outcome.counters.install_commands,
        simulated_coldplug_ms: outcome.makespan_ns as f64 / 1e6,
        workers_spawned: outcome.counters.workers_spawned,
        cost_model: Some(settings.cost),
        ..ReplayReport::default()
    };
    for (i, e) in p.events.iter().enumerate() {
        let s = &mut subs[e.subsystem as usize];
        s.events += 1;
        if let Some(l) = e.lookup() {
            match &unique[l as usize] {
                Err(_) => r.invalid_lookups += 1,
                Ok(v) if v.is_empty() => r.unmatched_lookups += 1,
                Ok(_) => {}
            }
            s.lookups += 1;
            s.matching_ns += lookup_ns[i];
        }
    }
    let trace_of = |o: Origin| match o {
        Origin::Trace(i) | Origin::Bind(_, i) => Some(i as usize),
        _ => None,
    };
    for l in &outcome.loads {
        let m = &sc.modules[l.module as usize];
        let ev = trace_of(l.by);
        let lookup = ev.and_then(|i| p.events[i].lookup());
        let trigger = match (ev, lookup) {
            (Some(_), Some(k)) if !is_rule_load(&sc, l, lookup) => {
                text(p.modaliases[k as usize])
            }
            (Some(_), _) => "rule".into(),
            (None, _) => String::new(),
        };
        r.module_bytes += m.size;
        r.modules_loaded.push(LoadedModule {
            name: m.name.clone(),
            first_seqnum: ev.map(|i| p.events[i].seqnum).filter(|&s| s != 0),
            devpath: ev.map(|i| text(p.devpath(i))).unwrap_or_default(),
            trigger,
            size: m.size,
            start_ms: l.start_ns as f64 / 1e6,
            live_ms: l.live_ns as f64 / 1e6,
            via_install: l.via_install,
        });
    }
    r.timeline = timeline;
    r.timeline_subsystems = p
        .subsystems
        .iter()
        .map(|s| text(s))
        .chain(["module".to_string(), "drivers".to_string()])
        .collect();
    for (k, s) in subs.into_iter().enumerate() {
        if s.events > 0 {
            r.by_subsystem.insert(r.timeline_subsystems[k].clone(), s);
        }
    }
    let mut samples: Vec<u64> = p
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.lookup().is_some())
        .map(|(i, _)| lookup_ns[i])
        .collect();
    r.latency_histogram = report::histogram(&samples);
    r.matching_ns = Quantiles::of(&mut samples);
    r.wall = report::Wall {
        parse_ms: outer.parse_ms,
        index_ms: outer.index_ms,
        match_ms,
        simulate_ms,
        total_ms: outer.parse_ms
            + outer.index_ms
            + t_all.elapsed().as_secs_f64() * 1e3,
        threads: settings.threads,
    };
    r
}

fn is_rule_load(
    sc: &Scenario<'_, '_>,
    l: &engine::Load,
    lookup: Option<u32>,
) -> bool {
    // Loaded by a rule when the event's own lookup does not reach it.
    match lookup {
        Some(k) => !sc.lookups[k as usize].iter().any(|&m| {
            sc.modules[m as usize]
                .plan
                .steps
                .iter()
                .any(|s| s.module == l.module)
        }),
        None => true,
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Time every lookup udev does, on `threads` workers over contiguous
/// ranges of events. Returns ns per event (0 where none).
fn timed_lookups<K: Kernel>(
    p: &Prepared<'_>,
    kernel: &K,
    threads: usize,
    s: &Settings<'_>,
) -> Vec<u64> {
    let n = p.events.len();
    let mut ns = vec![0u64; n];
    let threads = threads.max(1);
    let chunk = n.div_ceil(threads).max(1);
    let done = std::sync::atomic::AtomicU64::new(0);
    crossbeam::thread::scope(|scope| {
        for (k, out) in ns.chunks_mut(chunk).enumerate() {
            let events = &p.events[k * chunk..(k * chunk + out.len())];
            let done = &done;
            scope.spawn(move |_| {
                let mut scratch = kernel.scratch();
                let mut since = 0u64;
                for (e, slot) in events.iter().zip(out.iter_mut()) {
                    let Some(l) = e.lookup() else { continue };
                    let alias = p.modaliases[l as usize];
                    let t = Instant::now();
                    let r = kernel.lookup(alias, &mut scratch);
                    *slot = t.elapsed().as_nanos() as u64;
                    std::hint::black_box(r.is_ok());
                    since += 1;
                    if since == 4096 {
                        let total = done.fetch_add(
                            since,
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        if let Some(f) = s.progress {
                            f(total + since);
                        }
                        since = 0;
                    }
                }
                done.fetch_add(since, std::sync::atomic::Ordering::Relaxed);
            });
        }
    })
    .expect("lookup worker panicked");
    ns
}

/// Resolve each distinct modalias once, in parallel, merged by index.
fn resolve_unique<K: Kernel>(
    p: &Prepared<'_>,
    kernel: &K,
    threads: usize,
) -> Vec<Result<Vec<String>, i32>> {
    let n = p.modaliases.len();
    let mut out: Vec<Result<Vec<String>, i32>> = vec![Ok(Vec::new()); n];
    let chunk = n.div_ceil(threads.max(1)).max(1);
    crossbeam::thread::scope(|scope| {
        for (k, slots) in out.chunks_mut(chunk).enumerate() {
            scope.spawn(move |_| {
                let mut scratch = kernel.scratch();
                for (j, slot) in slots.iter_mut().enumerate() {
                    let alias = p.modaliases[k * chunk + j];
                    *slot = kernel.lookup(alias, &mut scratch).map(|_| {
                        kernel
                            .results(&scratch)
                            .into_iter()
                            .map(str::to_string)
                            .collect()
                    });
                }
            });
        }
    })
    .expect("lookup worker panicked");
    out
}

/// Module names to dense ids, and their facts.
#[derive(Default)]
struct Table {
    ids: HashMap<String, ModId>,
    names: Vec<String>,
}

impl Table {
    fn id(&mut self, name: &str) -> ModId {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as ModId;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// Facts for every module, including those only plans name.
    fn resolve<K: Kernel>(mut self, kernel: &K) -> Vec<Module> {
        let mut modules: Vec<Module> = Vec::new();
        let mut i = 0;
        while i < self.names.len() {
            let name = self.names[i].clone();
            let f = kernel.facts(&name);
            let deps = f.deps.iter().map(|d| self.id(d)).collect();
            let steps = f
                .plan
                .iter()
                .map(|(n, kind)| Step {
                    module: self.id(n),
                    kind: kind.clone(),
                })
                .collect();
            modules.push(Module {
                name,
                size: f.size,
                builtin: f.builtin,
                deps,
                plan: Plan { blacklisted: f.blacklisted, steps },
                module_node: None,
                driver_node: None,
            });
            i += 1;
        }
        modules
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::Format;

    /// A kernel where every pci alias resolves to `fakepci` (which needs
    /// `fakecore`) and acpi aliases to nothing.
    struct Fake;

    impl Kernel for Fake {
        type Scratch = Vec<&'static str>;
        fn scratch(&self) -> Vec<&'static str> {
            Vec::new()
        }
        fn lookup(
            &self,
            alias: &[u8],
            out: &mut Vec<&'static str>,
        ) -> Result<(), i32> {
            out.clear();
            if alias.starts_with(b"pci:") {
                out.extend(["fakepci", "fakepci"]);
            } else if alias.contains(&b']') {
                return Err(-22);
            }
            Ok(())
        }
        fn results<'s>(&self, s: &'s Vec<&'static str>) -> Vec<&'s str> {
            s.clone()
        }
        fn facts(&self, name: &str) -> ModuleFacts {
            let plan = match name {
                "fakepci" => vec![
                    ("fakecore".to_string(), StepKind::Insmod),
                    ("fakepci".to_string(), StepKind::Insmod),
                ],
                n => vec![(n.to_string(), StepKind::Insmod)],
            };
            ModuleFacts {
                size: 10_000,
                deps: if name == "fakepci" {
                    vec!["fakecore".into()]
                } else {
                    vec![]
                },
                plan,
                ..ModuleFacts::default()
            }
        }
    }

    #[test]
    fn same_result_for_any_thread_count() {
        let buf = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/traces/captures/kernel-trigger.nl"
        ))
        .unwrap();
        let mut reports = Vec::new();
        for threads in [1, 3] {
            let arena = bumpalo::Bump::new();
            let mut p = super::super::prepare::prepare(
                &buf,
                Format::Datagrams,
                true,
                None,
            )
            .unwrap();
            let settings = Settings {
                workers: 8,
                threads,
                cost: CostModel::default(),
                rules: None,
                progress: None,
            };
            reports.push(replay(
                &mut p,
                &Fake,
                &settings,
                &arena,
                OuterWall::default(),
            ));
        }
        let (a, b) = (&reports[0], &reports[1]);
        assert_eq!(a.modules_loaded, b.modules_loaded);
        assert_eq!(a.simulated_coldplug_ms, b.simulated_coldplug_ms);
        assert_eq!(a.timeline, b.timeline);
        let names: Vec<_> =
            a.modules_loaded.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["fakecore", "fakepci"]);
        assert_eq!(a.lookups, 28);
        assert_eq!(a.modprobe_calls, 1);
        // Two module adds, fakepci's driver add, and one bind: of the
        // capture's six pci devices only the host bridge 0000:00:00.0
        // has no DRIVER= (the others are bound and do not rebind).
        assert_eq!(a.kernel_events, 4);
        assert_eq!(a.matching_ns.count, 28);
    }
}
