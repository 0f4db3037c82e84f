//! `coldplug resolve [--kernel DIR] ALIAS...` and
//! `coldplug resolve [--kernel DIR] -`: resolve modaliases or module
//! names the way libkmod 30 does (no modprobe.d).
//!
//! With aliases as arguments it prints module names one per line, like
//! `modprobe -R`; an alias nothing matches is reported on stderr and
//! makes the exit code 1. With `-` it reads one alias per line from
//! standard input and prints `ALIAS<TAB>MOD MOD...` per line (nothing
//! after the tab for no match, `ERR -22` for an invalid alias): the
//! format of traces/golden/*.lookup.tsv.
//!
//! Policy: `--config PATH` (file or directory, repeatable) reads
//! modprobe.d as libkmod does, `--system-config` reads libkmod 30's
//! default directories, `--cmdline STR` adds a kernel command line and
//! `--overlay FILE` applies what-if overlays. Without any of them the
//! lookup sees no modprobe.d (the golden files' setting).
//! `--show-depends` prints what `modprobe --show-depends` prints.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use coldplug::modindex;
use coldplug::policy::kernel::{PolicyKernel, ShowError};
use coldplug::resolve::{format_line, Backend, Scratch};

use super::exit::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Modules directory (default: /lib/modules/$(uname -r)).
    #[arg(long, value_name = "DIR")]
    kernel: Option<PathBuf>,
    /// Matching engine: compiled (default), naive (reference scan), or
    /// libkmod (the system's, when built with the kmod-ffi feature).
    #[arg(long, default_value = "compiled", value_parser = super::replay::parse_backend)]
    backend: Backend,
    /// modprobe.d file or directory (repeatable); replaces the defaults.
    #[arg(long, value_name = "PATH")]
    config: Vec<PathBuf>,
    /// Read libkmod 30's default modprobe.d directories (/etc, /run,
    /// /usr/local/lib, /lib).
    #[arg(long, conflicts_with = "config")]
    system_config: bool,
    /// Kernel command line (`mod.param=value`, `modprobe.blacklist=`).
    #[arg(long, value_name = "STR")]
    cmdline: Option<String>,
    /// What-if overlay (TOML, repeatable, applied in order).
    #[arg(long, value_name = "FILE")]
    overlay: Vec<PathBuf>,
    /// Print what `modprobe --show-depends` prints for each alias.
    #[arg(long)]
    show_depends: bool,
    /// Aliases or module names; `-` reads one per line from stdin.
    #[arg(required = true, value_name = "ALIAS")]
    aliases: Vec<std::ffi::OsString>,
}

pub fn run(args: Args) -> Outcome {
    let dir = match args.kernel {
        Some(d) => d,
        None => modindex::default_dir()
            .context("cannot find the running kernel's release")?,
    };
    let policy = super::replay::PolicyArgs {
        config: args.config.clone(),
        system_config: args.system_config,
        cmdline: args.cmdline.clone(),
        overlay: args.overlay.clone(),
        ..Default::default()
    };
    let k = policy.kernel(&dir, args.backend)?;
    if args.show_depends {
        return show_depends(&k, &args.aliases);
    }
    let r = k.resolver();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut s = Scratch::default();
    if args.aliases.len() == 1 && args.aliases[0] == "-" {
        let stdin = std::io::stdin();
        let mut line = Vec::new();
        let mut buf = Vec::new();
        let mut input = stdin.lock();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            let res = r.lookup(&line, &mut s);
            buf.clear();
            format_line(&line, &res, &s, &mut buf);
            out.write_all(&buf)?;
        }
        out.flush()?;
        return Ok(false);
    }
    let mut failed = false;
    for a in &args.aliases {
        let alias = std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str());
        match r.lookup(alias, &mut s) {
            Ok(()) if s.is_empty() => {
                out.flush()?;
                eprintln!(
                    "coldplug: module {} not found",
                    a.to_string_lossy()
                );
                failed = true;
            }
            Ok(()) => {
                for m in s.modules() {
                    out.write_all(m)?;
                    out.write_all(b"\n")?;
                }
            }
            Err(e) => {
                out.flush()?;
                eprintln!(
                    "coldplug: {}: {e} ({})",
                    a.to_string_lossy(),
                    e.errno()
                );
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(failed)
}

fn show_depends(k: &PolicyKernel, aliases: &[std::ffi::OsString]) -> Outcome {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = false;
    for a in aliases {
        let alias = std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str());
        let mut text = String::new();
        match k.show_depends(alias, &mut text) {
            Ok(()) => out.write_all(text.as_bytes())?,
            Err(e) => {
                out.flush()?;
                let why = match e {
                    ShowError::NotFound => "not found".to_string(),
                    ShowError::Lookup(l) => format!("{l} ({})", l.errno()),
                };
                eprintln!(
                    "coldplug: module {} {why} in directory {}",
                    a.to_string_lossy(),
                    k.resolver().kernel().path().display()
                );
                failed = true;
            }
        }
    }
    out.flush()?;
    Ok(failed)
}
