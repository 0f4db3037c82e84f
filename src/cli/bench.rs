//! `coldplug bench TRACE --kernel DIR`: the matching time of every
//! lookup udev would do for this trace, per backend (compiled, naive,
//! and libkmod itself when built with `--features kmod-ffi`), measured
//! in the same run, with ratios. Every backend's answers are compared
//! with the compiled matcher's; a difference is an error.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use coldplug::modindex::KernelDir;
use coldplug::report::Quantiles;
use coldplug::resolve::{Backend, Resolver, Scratch};
use coldplug::sim::prepare::prepare;
use serde::Serialize;

use super::exit::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Trace file.
    trace: PathBuf,
    /// Modules directory (default: /lib/modules/$(uname -r)).
    #[arg(long, value_name = "DIR")]
    kernel: Option<PathBuf>,
    /// At most this many lookups per backend (the trace's first ones).
    #[arg(long, default_value_t = 50_000)]
    limit: usize,
    /// Lookups the naive matcher does at most (it is slow).
    #[arg(long, default_value_t = 5_000)]
    naive_limit: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Row {
    backend: &'static str,
    lookups: u64,
    total_ms: f64,
    per_lookup_ns: Quantiles,
    lookups_per_s: f64,
    /// Mean time per lookup of this backend divided by the compiled
    /// matcher's.
    vs_compiled: f64,
}

#[derive(Serialize)]
struct Report {
    trace: String,
    kernel: String,
    lookups_in_trace: u64,
    unique_modaliases: u64,
    build_ms: f64,
    rows: Vec<Row>,
}

type Answer = Result<Vec<Vec<u8>>, i32>;

fn time_all(
    keys: &[&[u8]],
    mut f: impl FnMut(&[u8]) -> Answer,
) -> (Vec<u64>, Vec<Answer>) {
    let mut ns = Vec::with_capacity(keys.len());
    let mut answers = Vec::with_capacity(keys.len());
    for k in keys {
        let t = Instant::now();
        let a = f(k);
        ns.push(t.elapsed().as_nanos() as u64);
        answers.push(a);
    }
    (ns, answers)
}

fn row(
    backend: &'static str,
    mut ns: Vec<u64>,
    compiled_mean: Option<f64>,
) -> Row {
    let q = Quantiles::of(&mut ns);
    Row {
        backend,
        lookups: q.count,
        total_ms: q.total as f64 / 1e6,
        lookups_per_s: if q.total > 0 {
            q.count as f64 * 1e9 / q.total as f64
        } else {
            0.0
        },
        vs_compiled: compiled_mean.map_or(1.0, |c| q.mean / c),
        per_lookup_ns: q,
    }
}

pub fn run(args: Args) -> Outcome {
    let (t, format) = super::stat::open(&args.trace, None)?;
    let dir = super::replay::kernel_dir(&args.kernel)?;
    let p = prepare(t.bytes(), format, false, None).map_err(|e| {
        Failure::Data(format!("{}: {e}", args.trace.display()))
    })?;
    let keys: Vec<&[u8]> = p
        .events
        .iter()
        .filter_map(|e| e.lookup().map(|l| p.modaliases[l as usize]))
        .collect();
    let total = keys.len() as u64;
    let keys = &keys[..keys.len().min(args.limit)];
    let open = || {
        KernelDir::open(&dir)
            .with_context(|| format!("cannot load {}", dir.display()))
    };
    let t_build = Instant::now();
    let compiled = Resolver::new(open()?, Backend::Compiled);
    let build_ms = t_build.elapsed().as_secs_f64() * 1e3;
    let naive = Resolver::new(open()?, Backend::Naive);
    let mut s = Scratch::default();
    let via = |r: &Resolver, k: &[u8], s: &mut Scratch| -> Answer {
        r.lookup(k, s)
            .map(|()| s.modules().map(<[u8]>::to_vec).collect())
            .map_err(|e| e.errno())
    };
    // Warm caches once, then measure.
    let _ =
        time_all(&keys[..keys.len().min(1000)], |k| via(&compiled, k, &mut s));
    let (c_ns, c_ans) = time_all(keys, |k| via(&compiled, k, &mut s));
    let c_mean = c_ns.iter().sum::<u64>() as f64 / c_ns.len().max(1) as f64;
    let mut rows = vec![row("compiled", c_ns, None)];
    let nk = &keys[..keys.len().min(args.naive_limit)];
    let (n_ns, n_ans) = time_all(nk, |k| via(&naive, k, &mut s));
    let mismatches = n_ans.iter().zip(&c_ans).filter(|(a, b)| a != b).count();
    if mismatches > 0 {
        return Err(Failure::Data(format!(
            "naive and compiled disagree on {mismatches} lookups"
        )));
    }
    rows.push(row("naive", n_ns, Some(c_mean)));
    #[cfg(feature = "kmod-ffi")]
    {
        let tmp = tempfile_dir()?;
        let shadow = tmp.join("moddir");
        coldplug::kmod_ffi::shadow_dir(&dir, &shadow)?;
        let conf = tmp.join("conf");
        std::fs::create_dir_all(&conf)?;
        let mut k = coldplug::kmod_ffi::Kmod::new(&shadow, &conf)?;
        k.set_log_priority(coldplug::kmod_ffi::LOG_CRIT);
        k.load_resources()
            .map_err(|e| anyhow::anyhow!("kmod_load_resources: {e}"))?;
        let _ = time_all(&keys[..keys.len().min(1000)], |key| k.lookup(key));
        let (l_ns, l_ans) = time_all(keys, |key| k.lookup(key));
        let _ = std::fs::remove_dir_all(&tmp);
        let mismatches =
            l_ans.iter().zip(&c_ans).filter(|(a, b)| a != b).count();
        if mismatches > 0 {
            return Err(Failure::Data(format!(
                "libkmod and compiled disagree on {mismatches} lookups"
            )));
        }
        rows.push(row("libkmod", l_ns, Some(c_mean)));
    }
    let r = Report {
        trace: args.trace.display().to_string(),
        kernel: dir.display().to_string(),
        lookups_in_trace: total,
        unique_modaliases: p.modaliases.len() as u64,
        build_ms,
        rows,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        super::write_json(&mut out, &r)?;
        return Ok(false);
    }
    writeln!(out, "matching bench: {} on {}", r.trace, r.kernel)?;
    writeln!(
        out,
        "  {} lookups in the trace ({} unique modaliases); compiled matcher built in {:.2} ms",
        r.lookups_in_trace, r.unique_modaliases, r.build_ms
    )?;
    writeln!(
        out,
        "  {:<9} {:>9} {:>11} {:>9} {:>9} {:>9} {:>13} {:>11}",
        "backend",
        "lookups",
        "total ms",
        "p50 ns",
        "p99 ns",
        "mean ns",
        "lookups/s",
        "x compiled"
    )?;
    for row in &r.rows {
        writeln!(
            out,
            "  {:<9} {:>9} {:>11.3} {:>9} {:>9} {:>9.0} {:>13.0} {:>11.1}",
            row.backend,
            row.lookups,
            row.total_ms,
            row.per_lookup_ns.p50,
            row.per_lookup_ns.p99,
            row.per_lookup_ns.mean,
            row.lookups_per_s,
            row.vs_compiled
        )?;
    }
    writeln!(out, "  all backends gave identical answers")?;
    Ok(false)
}

#[cfg(feature = "kmod-ffi")]
fn tempfile_dir() -> std::io::Result<PathBuf> {
    let d = std::env::temp_dir()
        .join(format!("coldplug-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}
