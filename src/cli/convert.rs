//! `coldplug convert IN -o OUT`: import any supported format into
//! coldplug's own trace format.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use anyhow::Context;
use coldplug::trace::file::{Clock, Origin, Writer};
use coldplug::trace::{Events, Format};

use super::exit::{Failure, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// Input trace (any supported format; `-` for standard input).
    input: PathBuf,
    /// Output file, in coldplug's trace format.
    #[arg(short, long)]
    output: PathBuf,
    /// Read the input as this format instead of detecting it.
    #[arg(long, value_parser = super::stat::parse_format)]
    format: Option<Format>,
    /// Stop at the first malformed record (exit 1, output removed).
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> Outcome {
    let (t, format) = super::stat::open(&args.input, args.format)?;
    let bytes = t.bytes();
    let (clock, origin) = match format {
        Format::Coldplug => (Clock::None, Origin::Unknown),
        Format::Datagrams => (Clock::None, Origin::DatagramCapture),
        Format::Monitor => (Clock::Monotonic, Origin::MonitorText),
        Format::SysfsSnapshot => (Clock::None, Origin::Sysfs),
    };
    let (clock, origin) = match format {
        Format::Coldplug => {
            let h =
                coldplug::trace::file::Header::read(bytes).map_err(|e| {
                    Failure::Data(format!("{}: {e}", args.input.display()))
                })?;
            (h.clock, h.origin)
        }
        _ => (clock, origin),
    };
    let out = File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let desc = format!(
        "converted by coldplug {} from {} ({})",
        env!("CARGO_PKG_VERSION"),
        args.input.display(),
        format.name()
    );
    let mut w = Writer::new(BufWriter::new(out), clock, origin, &desc)
        .context("cannot write the trace header")?;
    let mut malformed = 0u64;
    let mut seq = 0u64;
    for item in Events::new(bytes, format) {
        seq += 1;
        match item {
            Ok(ev) => w
                .write_event(ev.timestamp_ns().unwrap_or(0), &ev, seq)
                .with_context(|| {
                    format!("cannot write {}", args.output.display())
                })?,
            Err(e) => {
                let e = if format.is_text() && e.line().is_none() {
                    e.with_line_in(bytes)
                } else {
                    e
                };
                let msg =
                    format!("{}: malformed record: {e}", args.input.display());
                if args.strict {
                    drop(w);
                    let _ = std::fs::remove_file(&args.output);
                    return Err(Failure::Data(msg));
                }
                eprintln!("coldplug: {msg}");
                malformed += 1;
            }
        }
    }
    let records = w.records();
    w.finish()
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "coldplug: wrote {records} events to {}{}",
        args.output.display(),
        if malformed > 0 {
            format!(", skipped {malformed} malformed")
        } else {
            String::new()
        }
    );
    Ok(malformed > 0)
}
