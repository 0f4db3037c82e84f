//! What a replay says, as data, and its renderers (text, JSON, SVG, the
//! A/B diff). Nothing here computes; it only shapes and prints what the
//! engine returned.

pub mod diff;
pub mod svg;
pub mod text;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::sim::CostModel;

/// Distribution of lookup times.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Quantiles {
    /// Sum.
    pub total: u64,
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
    /// Number of samples.
    pub count: u64,
}

impl Quantiles {
    /// Quantiles of `samples` (sorted in place).
    pub fn of(samples: &mut [u64]) -> Quantiles {
        if samples.is_empty() {
            return Quantiles::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let at = |q: f64| samples[((n - 1) as f64 * q).round() as usize];
        let total: u64 = samples.iter().sum();
        Quantiles {
            total,
            p50: at(0.5),
            p99: at(0.99),
            max: samples[n - 1],
            mean: total as f64 / n as f64,
            count: n as u64,
        }
    }
}

/// One module the replay loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadedModule {
    /// Module name.
    pub name: String,
    /// SEQNUM of the trace event whose worker loaded it.
    pub first_seqnum: Option<u64>,
    /// Devpath of that event.
    pub devpath: String,
    /// MODALIAS of that event, or the rule that loaded it.
    pub trigger: String,
    /// Uncompressed size in bytes (`modules.size`).
    pub size: u64,
    /// Simulated start of the insertion, ms from the first event.
    pub start_ms: f64,
    /// Simulated time it became live.
    pub live_ms: f64,
    /// Loaded through an `install` command.
    pub via_install: bool,
}

/// Per-subsystem figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SubsystemStats {
    /// Events.
    pub events: u64,
    /// Lookups (add events with MODALIAS).
    pub lookups: u64,
    /// Measured matching time, ns.
    pub matching_ns: u64,
    /// Simulated worker time spent on its events, ms.
    pub worker_ms: f64,
}

/// Wall-clock figures of the replay itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Wall {
    /// Parsing the trace.
    pub parse_ms: f64,
    /// Compiling the matcher and loading the kernel index.
    pub index_ms: f64,
    /// Real lookups on the worker pool.
    pub match_ms: f64,
    /// The simulation.
    pub simulate_ms: f64,
    /// Everything.
    pub total_ms: f64,
    /// Threads that did the lookups.
    pub threads: usize,
}

/// A bar of the timeline: worker `w` busy from `start` to `end` (µs)
/// on an event of subsystem `subsystem`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bar {
    /// Worker.
    pub worker: u32,
    /// Start, µs.
    pub start_us: f64,
    /// End, µs.
    pub end_us: f64,
    /// Subsystem, an index into [`ReplayReport::timeline_subsystems`].
    pub subsystem: u16,
    /// A module load happened in it.
    pub loads: bool,
}

/// The result of one replay.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReplayReport {
    /// Trace file.
    pub trace: String,
    /// Trace format.
    pub format: String,
    /// Modules directory.
    pub kernel: String,
    /// Matcher backend used for the measurement.
    pub matcher: String,
    /// Policy in words (config paths, overlays, command line).
    pub policy: Vec<String>,
    /// `children_max`.
    pub workers: usize,
    /// Trace events.
    pub events: u64,
    /// Malformed records skipped.
    pub malformed: u64,
    /// Events the kernel added for module loads.
    pub kernel_events: u64,
    /// Lookups (add events with MODALIAS).
    pub lookups: u64,
    /// Distinct MODALIAS values looked up.
    pub unique_modaliases: u64,
    /// Lookups that found no module.
    pub unmatched_lookups: u64,
    /// Lookups libkmod would reject (-EINVAL).
    pub invalid_lookups: u64,
    /// Calls of `kmod_module_probe_insert_module` (what a
    /// fork-per-event setup would run as `modprobe` processes).
    pub modprobe_calls: u64,
    /// Module entries skipped as built in.
    pub builtin_skips: u64,
    /// Module entries skipped as already loaded or loading.
    pub loaded_skips: u64,
    /// Probes refused by the blacklist.
    pub blacklisted: u64,
    /// Install commands that would run.
    pub install_commands: u64,
    /// Modules loaded, in load order.
    pub modules_loaded: Vec<LoadedModule>,
    /// Sum of their sizes.
    pub module_bytes: u64,
    /// Measured matching time per lookup.
    pub matching_ns: Quantiles,
    /// Per subsystem.
    pub by_subsystem: BTreeMap<String, SubsystemStats>,
    /// Simulated duration of the coldplug, ms.
    pub simulated_coldplug_ms: f64,
    /// Workers forked in the simulation.
    pub workers_spawned: u64,
    /// The cost model used.
    pub cost_model: Option<CostModel>,
    /// Timings of the replay itself.
    pub wall: Wall,
    /// Histogram of measured lookup times: (upper bound ns, count).
    pub latency_histogram: Vec<(u64, u64)>,
    /// Timeline bars, merged to at most a few thousand per worker.
    #[serde(skip)]
    pub timeline: Vec<Bar>,
    /// Names of the timeline's subsystems.
    #[serde(skip)]
    pub timeline_subsystems: Vec<String>,
}

/// Log-spaced histogram of `samples` (ns): bucket upper bounds 2^k.
pub fn histogram(samples: &[u64]) -> Vec<(u64, u64)> {
    let mut counts = [0u64; 64];
    for &s in samples {
        let b = 64 - s.max(1).leading_zeros() as usize;
        counts[b.min(63)] += 1;
    }
    let first = counts.iter().position(|&c| c > 0);
    let last = counts.iter().rposition(|&c| c > 0);
    match (first, last) {
        (Some(a), Some(b)) => {
            (a..=b).map(|k| (1u64 << k, counts[k])).collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_histogram() {
        let mut v: Vec<u64> = (1..=100).collect();
        let q = Quantiles::of(&mut v);
        assert_eq!((q.p50, q.p99, q.max, q.total), (51, 99, 100, 5050));
        let h = histogram(&[1, 2, 3, 200]);
        assert_eq!(h.first(), Some(&(2, 1)));
        assert_eq!(h.iter().map(|b| b.1).sum::<u64>(), 4);
        assert_eq!(h.last(), Some(&(256, 1)));
    }
}
