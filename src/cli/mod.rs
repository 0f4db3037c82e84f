//! Command-line interface: argument parsing, one module per subcommand,
//! and the mapping of errors to exit codes. No logic lives here.

mod bench;
mod convert;
mod diff;
mod exit;
mod gen;
mod record;
mod replay;
mod resolve;
mod stat;

use clap::{Parser, Subcommand};

const EXIT_CODES: &str = "\
Exit codes:
  0  success, no malformed data
  1  data errors: malformed records were reported (or, with --strict,
     the first one stopped the run)
  2  usage or I/O error (bad arguments, unreadable file, unknown format)";

/// Replay and simulate Linux coldplug.
#[derive(Parser)]
#[command(name = "coldplug", version, about, after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarize traces: format, events, malformed records, actions,
    /// subsystems, modaliases, seqnum gaps, time span, parse speed.
    #[command(after_help = EXIT_CODES)]
    Stat(stat::Args),
    /// Import a trace in any supported format into coldplug's own format.
    #[command(after_help = EXIT_CODES)]
    Convert(convert::Args),
    /// Generate a synthetic trace (`gen s390`: an IBM Z LPAR).
    #[command(after_help = EXIT_CODES)]
    Gen(gen::Args),
    /// Record uevents from netlink, or synthesize a coldplug from sysfs.
    #[command(after_help = EXIT_CODES)]
    Record(record::Args),
    /// Resolve modaliases to modules exactly as libkmod 30 does (like
    /// `modprobe -R`, or the golden `ALIAS<TAB>MODULES` format with `-`).
    #[command(after_help = EXIT_CODES)]
    Resolve(resolve::Args),
    /// Replay a trace against a kernel and a policy: what udev would
    /// load, why, how long matching takes, simulated coldplug time.
    #[command(after_help = EXIT_CODES)]
    Replay(replay::Args),
    /// Two replays of one trace under two policies, side by side.
    #[command(after_help = EXIT_CODES)]
    Diff(diff::Args),
    /// Matching time per backend on a trace, with ratios.
    #[command(after_help = EXIT_CODES)]
    Bench(bench::Args),
}

/// A report as pretty JSON and a newline (`--json` of replay, diff,
/// bench); write errors are I/O errors, a broken pipe a clean exit.
fn write_json(
    out: &mut impl std::io::Write,
    report: &impl serde::Serialize,
) -> Result<(), exit::Failure> {
    serde_json::to_writer_pretty(&mut *out, report)
        .map_err(anyhow::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Parse the command line, run, and return the exit code.
pub fn run() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stat(a) => stat::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Gen(a) => gen::run(a),
        Command::Record(a) => record::run(a),
        Command::Resolve(a) => resolve::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Bench(a) => bench::run(a),
    };
    exit::finish(result)
}
