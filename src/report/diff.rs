//! `coldplug diff`: two replays of one trace side by side.

use std::io::{self, Write};

use serde::Serialize;

use super::{LoadedModule, ReplayReport};

/// The difference between replay A and replay B.
#[derive(Debug, Clone, Serialize)]
pub struct Diff<'r> {
    /// Replay A.
    pub a: &'r ReplayReport,
    /// Replay B.
    pub b: &'r ReplayReport,
    /// Modules only A loads.
    pub only_a: Vec<&'r LoadedModule>,
    /// Modules only B loads.
    pub only_b: Vec<&'r LoadedModule>,
    /// B minus A.
    pub delta: Delta,
}

/// B minus A for each figure.
#[derive(Debug, Clone, Serialize)]
pub struct Delta {
    /// Modules loaded.
    pub modules_loaded: i64,
    /// modprobe calls.
    pub modprobe_calls: i64,
    /// Module memory, bytes.
    pub module_bytes: i64,
    /// Measured matching time, ns.
    pub matching_ns: i64,
    /// Simulated coldplug, ms.
    pub simulated_coldplug_ms: f64,
    /// Events the kernel added for loads.
    pub kernel_events: i64,
}

impl<'r> Diff<'r> {
    /// Compare two replays.
    pub fn new(a: &'r ReplayReport, b: &'r ReplayReport) -> Self {
        let has = |r: &ReplayReport, n: &str| {
            r.modules_loaded.iter().any(|m| m.name == n)
        };
        let d = |x: u64, y: u64| y as i64 - x as i64;
        Diff {
            a,
            b,
            only_a: a
                .modules_loaded
                .iter()
                .filter(|m| !has(b, &m.name))
                .collect(),
            only_b: b
                .modules_loaded
                .iter()
                .filter(|m| !has(a, &m.name))
                .collect(),
            delta: Delta {
                modules_loaded: d(
                    a.modules_loaded.len() as u64,
                    b.modules_loaded.len() as u64,
                ),
                modprobe_calls: d(a.modprobe_calls, b.modprobe_calls),
                module_bytes: d(a.module_bytes, b.module_bytes),
                matching_ns: d(a.matching_ns.total, b.matching_ns.total),
                simulated_coldplug_ms: b.simulated_coldplug_ms
                    - a.simulated_coldplug_ms,
                kernel_events: d(a.kernel_events, b.kernel_events),
            },
        }
    }

    /// Print the side-by-side table.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        let (a, b) = (self.a, self.b);
        writeln!(out, "diff of {} on {}", a.trace, a.kernel)?;
        writeln!(out, "  A: {}", a.policy.join("; "))?;
        writeln!(out, "  B: {}", b.policy.join("; "))?;
        writeln!(out, "  {:<24} {:>14} {:>14} {:>14}", "", "A", "B", "B - A")?;
        let row =
            |out: &mut dyn Write, name: &str, x: f64, y: f64, unit: &str| {
                writeln!(
                    out,
                    "  {name:<24} {x:>14.3} {y:>14.3} {:>+14.3} {unit}",
                    y - x
                )
            };
        row(
            out,
            "modules loaded",
            a.modules_loaded.len() as f64,
            b.modules_loaded.len() as f64,
            "",
        )?;
        row(
            out,
            "modprobe calls",
            a.modprobe_calls as f64,
            b.modprobe_calls as f64,
            "",
        )?;
        row(
            out,
            "module memory",
            a.module_bytes as f64 / 1024.0,
            b.module_bytes as f64 / 1024.0,
            "KiB",
        )?;
        row(
            out,
            "kernel events",
            a.kernel_events as f64,
            b.kernel_events as f64,
            "",
        )?;
        row(
            out,
            "matching time",
            a.matching_ns.total as f64 / 1e6,
            b.matching_ns.total as f64 / 1e6,
            "ms (measured)",
        )?;
        row(
            out,
            "simulated coldplug",
            a.simulated_coldplug_ms,
            b.simulated_coldplug_ms,
            "ms",
        )?;
        for (label, list) in
            [("only in A", &self.only_a), ("only in B", &self.only_b)]
        {
            writeln!(
                out,
                "  {label}: {}",
                if list.is_empty() { "none" } else { "" }
            )?;
            for m in list {
                writeln!(
                    out,
                    "    {:<22} {:>9.1} KiB  first by seqnum {} {} ({})",
                    m.name,
                    m.size as f64 / 1024.0,
                    m.first_seqnum
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    m.devpath,
                    m.trigger
                )?;
            }
        }
        Ok(())
    }
}
