//! `coldplug stat [--json] [--strict] TRACE...`

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use coldplug::trace::{self, stats::TraceStats, Events, Format, Trace};
use serde::Serialize;

use super::exit::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Print one JSON object per trace instead of text.
    #[arg(long)]
    json: bool,
    /// Stop at the first malformed record (exit 1).
    #[arg(long)]
    strict: bool,
    /// Read the traces as this format instead of detecting it.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Trace files (`-` for standard input).
    #[arg(required = true)]
    traces: Vec<PathBuf>,
}

pub(super) fn parse_format(s: &str) -> Result<Format, String> {
    [
        Format::Coldplug,
        Format::Datagrams,
        Format::Monitor,
        Format::SysfsSnapshot,
    ]
    .into_iter()
    .find(|f| f.name() == s)
    .ok_or_else(|| {
        "expected coldplug, datagrams, monitor or sysfs-snapshot".into()
    })
}

/// Open a trace and find its format, with errors that name the file.
pub(super) fn open(
    path: &std::path::Path,
    format: Option<Format>,
) -> anyhow::Result<(Trace, Format)> {
    let t = Trace::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let f = match format {
        Some(f) => f,
        None => trace::detect(t.bytes()).with_context(|| {
            format!("{}: unknown trace format", path.display())
        })?,
    };
    Ok((t, f))
}

#[derive(Serialize)]
struct Report<'a> {
    file: String,
    #[serde(flatten)]
    stats: &'a TraceStats,
    parse_seconds: f64,
    parse_mb_per_s: f64,
}

pub fn run(args: Args) -> Outcome {
    let mut any_malformed = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for path in &args.traces {
        let (t, format) = open(path, args.format)?;
        let bytes = t.bytes();
        // Parse-only pass, timed: the throughput figure.
        let start = Instant::now();
        let mut n = 0u64;
        for ev in Events::new(bytes, format) {
            n += ev.is_ok() as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(n);
        let st =
            TraceStats::collect(bytes, format, args.strict).map_err(|e| {
                let e = if format.is_text() && e.line().is_none() {
                    e.with_line_in(bytes)
                } else {
                    e
                };
                Failure::Data(format!("{}: {e}", path.display()))
            })?;
        any_malformed |= st.malformed > 0;
        let mbs =
            if secs > 0.0 { bytes.len() as f64 / secs / 1e6 } else { 0.0 };
        if args.json {
            let r = Report {
                file: path.display().to_string(),
                stats: &st,
                parse_seconds: secs,
                parse_mb_per_s: mbs,
            };
            serde_json::to_writer(&mut out, &r)
                .map_err(anyhow::Error::from)?;
            writeln!(out)?;
        } else {
            print_text(&mut out, path, &st, secs, mbs)?;
        }
        for m in &st.malformed_records {
            let line =
                m.line.map(|l| format!(" (line {l})")).unwrap_or_default();
            eprintln!(
                "coldplug: {}: malformed record at byte {}{line}: {}",
                path.display(),
                m.offset,
                m.reason
            );
        }
        if st.malformed as usize > st.malformed_records.len() {
            eprintln!(
                "coldplug: {}: {} more malformed records not shown",
                path.display(),
                st.malformed as usize - st.malformed_records.len()
            );
        }
    }
    Ok(any_malformed)
}

fn print_text(
    out: &mut impl Write,
    path: &std::path::Path,
    st: &TraceStats,
    secs: f64,
    mbs: f64,
) -> std::io::Result<()> {
    writeln!(out, "{}", path.display())?;
    writeln!(out, "  format             {}", st.format)?;
    writeln!(out, "  bytes              {}", st.bytes)?;
    writeln!(out, "  events             {}", st.events)?;
    writeln!(out, "  malformed          {}", st.malformed)?;
    for m in st.malformed_records.iter().take(3) {
        let line = m.line.map(|l| format!(", line {l}")).unwrap_or_default();
        writeln!(out, "    byte {}{line}: {}", m.offset, m.reason)?;
    }
    writeln!(
        out,
        "  with MODALIAS      {} ({} on add)",
        st.with_modalias, st.add_with_modalias
    )?;
    writeln!(out, "  unique modaliases  {}", st.unique_modaliases)?;
    let list = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(out, "  by action          {}", list(&st.by_action))?;
    writeln!(out, "  by subsystem       {}", list(&st.by_subsystem))?;
    for (name, s) in [("kernel", &st.kernel_seqnum), ("udev", &st.udev_seqnum)]
    {
        if s.events == 0 {
            continue;
        }
        writeln!(
            out,
            "  {name:<6} seqnum      {}..{}: {} gaps ({} missing), {} reordered, {} repeated",
            s.first.unwrap_or(0),
            s.last.unwrap_or(0),
            s.gaps,
            s.missing,
            s.reordered,
            s.duplicates
        )?;
    }
    match st.time_span_ns {
        Some((a, b)) => writeln!(
            out,
            "  time span          {:.6} s ({:.6} .. {:.6})",
            (b - a) as f64 / 1e9,
            a as f64 / 1e9,
            b as f64 / 1e9
        )?,
        None => writeln!(
            out,
            "  time span          n/a (format has no timestamps)"
        )?,
    }
    writeln!(
        out,
        "  parse              {:.3} ms, {:.0} MB/s",
        secs * 1e3,
        mbs
    )?;
    Ok(())
}
