//! The readable table `coldplug replay` prints by default.

use std::io::{self, Write};

use super::ReplayReport;

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Print `r` as text.
pub fn write(out: &mut impl Write, r: &ReplayReport) -> io::Result<()> {
    writeln!(out, "replay of {} ({})", r.trace, r.format)?;
    writeln!(out, "  kernel              {}", r.kernel)?;
    for p in &r.policy {
        writeln!(out, "  policy              {p}")?;
    }
    writeln!(out, "  matcher             {}", r.matcher)?;
    writeln!(
        out,
        "  workers             {} (spawned {})",
        r.workers, r.workers_spawned
    )?;
    writeln!(
        out,
        "  events              {} from the trace, {} added by module loads, {} malformed",
        r.events, r.kernel_events, r.malformed
    )?;
    writeln!(
        out,
        "  lookups             {} ({} unique modaliases, {} unmatched, {} invalid)",
        r.lookups, r.unique_modaliases, r.unmatched_lookups, r.invalid_lookups
    )?;
    writeln!(
        out,
        "  modprobe calls      {} ({} built in, {} already loaded, {} blacklisted, {} install commands)",
        r.modprobe_calls, r.builtin_skips, r.loaded_skips, r.blacklisted, r.install_commands
    )?;
    let q = &r.matching_ns;
    writeln!(
        out,
        "  matching            {:.3} ms total; per lookup p50 {} ns, p99 {} ns, max {} ns",
        ms(q.total),
        q.p50,
        q.p99,
        q.max
    )?;
    writeln!(out, "  simulated coldplug  {:.3} ms", r.simulated_coldplug_ms)?;
    writeln!(
        out,
        "  modules loaded      {} ({:.1} KiB)",
        r.modules_loaded.len(),
        r.module_bytes as f64 / 1024.0
    )?;
    if !r.modules_loaded.is_empty() {
        writeln!(
            out,
            "    {:<22} {:>10} {:>10} {:>10}  trigger (devpath)",
            "module", "KiB", "live ms", "seqnum"
        )?;
        for m in &r.modules_loaded {
            writeln!(
                out,
                "    {:<22} {:>10.1} {:>10.3} {:>10}  {} ({}){}",
                m.name,
                m.size as f64 / 1024.0,
                m.live_ms,
                m.first_seqnum
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "-".into()),
                m.trigger,
                m.devpath,
                if m.via_install { " [install]" } else { "" }
            )?;
        }
    }
    writeln!(out, "  by subsystem")?;
    writeln!(
        out,
        "    {:<16} {:>9} {:>9} {:>12} {:>12}",
        "subsystem", "events", "lookups", "match ms", "worker ms"
    )?;
    for (name, s) in &r.by_subsystem {
        writeln!(
            out,
            "    {:<16} {:>9} {:>9} {:>12.3} {:>12.3}",
            name,
            s.events,
            s.lookups,
            ms(s.matching_ns),
            s.worker_ms
        )?;
    }
    let w = &r.wall;
    writeln!(
        out,
        "  wall                parse {:.1} ms, index {:.1} ms, match {:.1} ms ({} threads), simulate {:.1} ms, total {:.1} ms",
        w.parse_ms, w.index_ms, w.match_ms, w.threads, w.simulate_ms, w.total_ms
    )?;
    Ok(())
}
