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

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use coldplug::modindex::{self, KernelDir};
use coldplug::resolve::{format_line, Backend, Resolver, Scratch};

use super::exit::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Modules directory (default: /lib/modules/$(uname -r)).
    #[arg(long, value_name = "DIR")]
    kernel: Option<PathBuf>,
    /// Matching engine: compiled (default), naive (reference scan), or
    /// libkmod (the system's, when built with the kmod-ffi feature).
    #[arg(long, default_value = "compiled", value_parser = parse_backend)]
    backend: Backend,
    /// Aliases or module names; `-` reads one per line from stdin.
    #[arg(required = true, value_name = "ALIAS")]
    aliases: Vec<std::ffi::OsString>,
}

fn parse_backend(s: &str) -> Result<Backend, String> {
    match s {
        "compiled" => Ok(Backend::Compiled),
        "naive" => Ok(Backend::Naive),
        #[cfg(feature = "kmod-ffi")]
        "libkmod" => Ok(Backend::Libkmod),
        _ => Err("expected compiled, naive (or libkmod with kmod-ffi)".into()),
    }
}

pub fn run(args: Args) -> Outcome {
    let dir = match args.kernel {
        Some(d) => d,
        None => modindex::default_dir()
            .context("cannot find the running kernel's release")?,
    };
    let kernel = KernelDir::open(&dir).with_context(|| {
        format!("cannot load modules directory {}", dir.display())
    })?;
    #[cfg(feature = "kmod-ffi")]
    let r = if args.backend == Backend::Libkmod {
        Resolver::with_libkmod(kernel).context("libkmod cannot open it")?
    } else {
        Resolver::new(kernel, args.backend)
    };
    #[cfg(not(feature = "kmod-ffi"))]
    let r = Resolver::new(kernel, args.backend);
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
