//! `coldplug replay TRACE --kernel DIR [policy] [--workers N] [--json]
//! [--svg FILE]`: the main job.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use coldplug::policy::kernel::PolicyKernel;
use coldplug::policy::overlay::Overlay;
use coldplug::policy::{Cmdline, Config, Policy};
use coldplug::report::{self, ReplayReport};
use coldplug::resolve::Backend;
use coldplug::sim::cost::default_children_max;
use coldplug::sim::prepare::{prepare, Prepared};
use coldplug::sim::replay::{replay, OuterWall, Settings};
use coldplug::sim::rules::Rules;
use coldplug::sim::CostModel;
use coldplug::trace::Format;

use super::exit::{Failure, Outcome};

/// The policy of one replay: modprobe.d, command line, overlays, rules.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PolicyArgs {
    /// modprobe.d file or directory (repeatable; replaces the defaults).
    #[arg(long, value_name = "PATH")]
    pub config: Vec<PathBuf>,
    /// Read libkmod 30's default modprobe.d directories instead.
    #[arg(long, conflicts_with = "config")]
    pub system_config: bool,
    /// Kernel command line (`mod.param=value`, `modprobe.blacklist=`).
    #[arg(long, value_name = "STR")]
    pub cmdline: Option<String>,
    /// What-if overlay (TOML, repeatable).
    #[arg(long, value_name = "FILE")]
    pub overlay: Vec<PathBuf>,
    /// Rules file for rule-driven loads (TOML).
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Extra modprobe.d lines (used by `diff` specs).
    #[arg(skip)]
    pub extra_lines: Vec<String>,
}

impl PolicyArgs {
    /// A one-line description for reports.
    pub fn describe(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.system_config {
            v.push("modprobe.d: libkmod 30 defaults".to_string());
        }
        for c in &self.config {
            v.push(format!("modprobe.d: {}", c.display()));
        }
        for l in &self.extra_lines {
            v.push(format!("modprobe.d line: {l}"));
        }
        if let Some(c) = &self.cmdline {
            v.push(format!("cmdline: {c}"));
        }
        for o in &self.overlay {
            v.push(format!("overlay: {}", o.display()));
        }
        if let Some(r) = &self.rules {
            v.push(format!("rules: {}", r.display()));
        }
        if v.is_empty() {
            v.push("no modprobe.d, no overlay".into());
        }
        v
    }

    /// Load the kernel under this policy.
    pub fn kernel(
        &self,
        dir: &Path,
        backend: Backend,
    ) -> anyhow::Result<PolicyKernel> {
        // The command line is merged after the files, as libkmod does.
        let mut config = if self.system_config {
            Policy::load(Some(dir), &[], None).config
        } else {
            Config::load(Some(dir), &self.config)
        };
        for (i, l) in self.extra_lines.iter().enumerate() {
            config.parse_text(
                &format!("spec line {}", i + 1),
                format!("{l}\n").as_bytes(),
            );
        }
        if let Some(line) = &self.cmdline {
            config.merge_cmdline(&Cmdline::parse(line));
        }
        for w in &config.warnings {
            eprintln!("coldplug: modprobe.d: {w}");
        }
        let overlays = self
            .overlay
            .iter()
            .map(|p| Overlay::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        PolicyKernel::open(dir, backend, config, &overlays).with_context(
            || format!("cannot load modules directory {}", dir.display()),
        )
    }

    /// The rules, if any.
    pub fn load_rules(&self) -> anyhow::Result<Option<Rules>> {
        let Some(p) = &self.rules else { return Ok(None) };
        let text = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read rules {}", p.display()))?;
        Ok(Some(
            Rules::parse(&text)
                .with_context(|| format!("rules {}", p.display()))?,
        ))
    }
}

/// Engine settings shared by `replay` and `diff`.
#[derive(clap::Args, Clone, Debug)]
pub struct EngineArgs {
    /// Modules directory (default: /lib/modules/$(uname -r)).
    #[arg(long, value_name = "DIR")]
    pub kernel: Option<PathBuf>,
    /// Simulated udevd workers (children_max). Default: udevd's formula
    /// for this machine's CPUs and memory.
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Threads doing the real lookups (default: all CPUs).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Cost model overrides in µs, e.g. `lookup=12,insmod=800`, or
    /// `measured_lookup=true` to charge our matcher's measured time.
    #[arg(long, value_name = "K=V,...")]
    pub cost: Option<String>,
    /// Matching engine for the measurement: compiled, naive, or libkmod
    /// (built with the kmod-ffi feature).
    #[arg(long, default_value = "compiled", value_parser = parse_backend)]
    pub matcher: Backend,
    /// Stop at the first malformed record (exit 1).
    #[arg(long)]
    pub strict: bool,
    /// Queue every event at time 0 (udevadm trigger writing faster than
    /// udevd works) instead of at the trace's timestamps: the simulated
    /// time is then udevd's processing time alone.
    #[arg(long)]
    pub burst: bool,
    /// Read the trace as this format instead of detecting it.
    #[arg(long, value_parser = super::stat::parse_format)]
    pub format: Option<Format>,
}

pub(super) fn parse_backend(s: &str) -> Result<Backend, String> {
    match s {
        "compiled" => Ok(Backend::Compiled),
        "naive" => Ok(Backend::Naive),
        #[cfg(feature = "kmod-ffi")]
        "libkmod" => Ok(Backend::Libkmod),
        _ => Err("expected compiled, naive (or libkmod with kmod-ffi)".into()),
    }
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Compiled => "compiled",
        Backend::Naive => "naive",
        // The system's libkmod answers the lookups (no modprobe.d: it
        // has its own context); plans still come from the policy engine.
        #[cfg(feature = "kmod-ffi")]
        Backend::Libkmod => "libkmod",
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Trace file (any supported format).
    trace: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Write the timeline and latency histogram as SVG.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// This machine's CPUs and memory, for udevd's default children_max.
pub(super) fn default_workers() -> usize {
    let cpus =
        std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(1 << 30, |kb| kb * 1024);
    default_children_max(cpus, mem) as usize
}

pub(super) fn kernel_dir(k: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match k {
        Some(d) => Ok(d.clone()),
        None => coldplug::modindex::default_dir().context(
            "cannot find the running kernel's release (use --kernel DIR)",
        ),
    }
}

/// One complete replay; shared with `diff`.
pub(super) fn run_one(
    trace: &Path,
    engine: &EngineArgs,
    policy: &PolicyArgs,
) -> Result<ReplayReport, Failure> {
    let (t, format) = super::stat::open(trace, engine.format)?;
    let dir = kernel_dir(&engine.kernel)?;
    let cost = CostModel::default()
        .with_overrides(engine.cost.as_deref().unwrap_or(""))
        .map_err(|e| Failure::Usage(anyhow::anyhow!(e)))?;
    let rules = policy.load_rules()?;
    let t_index = Instant::now();
    let kernel = policy.kernel(&dir, engine.matcher)?;
    let index_ms = t_index.elapsed().as_secs_f64() * 1e3;
    let arena = bumpalo::Bump::new();
    let t_parse = Instant::now();
    let mut p: Prepared<'_> = prepare(
        t.bytes(),
        format,
        engine.strict,
        rules.as_ref(),
    )
    .map_err(|e| {
        Failure::Data(format!("{}: malformed record: {e}", trace.display()))
    })?;
    let parse_ms = t_parse.elapsed().as_secs_f64() * 1e3;
    t.release();
    if engine.burst {
        for e in &mut p.events {
            e.arrival_ns = 0;
        }
    }
    for m in &p.malformed_records {
        let line = m.line.map(|l| format!(" (line {l})")).unwrap_or_default();
        eprintln!(
            "coldplug: {}: malformed record at byte {}{line}: {}",
            trace.display(),
            m.offset,
            m.reason
        );
    }
    let lookups =
        p.events.iter().filter(|e| e.lookup().is_some()).count() as u64;
    let bar =
        (std::io::stderr().is_terminal() && lookups > 200_000).then(|| {
            let b = indicatif::ProgressBar::new(lookups);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {bar:40} {pos}/{len} lookups ({eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            b.set_message("matching");
            b
        });
    let progress = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let settings = Settings {
        workers: engine.workers.unwrap_or_else(default_workers).max(1),
        threads: engine
            .threads
            .unwrap_or_else(|| {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            })
            .max(1),
        cost,
        rules: rules.as_ref(),
        progress: bar.as_ref().map(|_| &progress as &(dyn Fn(u64) + Sync)),
    };
    let mut r = replay(
        &mut p,
        &kernel,
        &settings,
        &arena,
        OuterWall { parse_ms, index_ms },
    );
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    r.trace = trace.display().to_string();
    r.format = format.name().to_string();
    r.kernel = dir.display().to_string();
    r.matcher = backend_name(engine.matcher).to_string();
    r.policy = policy.describe();
    Ok(r)
}

pub fn run(args: Args) -> Outcome {
    let r = run_one(&args.trace, &args.engine, &args.policy)?;
    if let Some(svg) = &args.svg {
        std::fs::write(svg, report::svg::render(&r))
            .with_context(|| format!("cannot write {}", svg.display()))?;
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        super::write_json(&mut out, &r)?;
    } else {
        report::text::write(&mut out, &r)?;
    }
    Ok(r.malformed > 0)
}
