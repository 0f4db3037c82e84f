//! `coldplug diff TRACE --kernel DIR --a SPEC --b SPEC`: one trace, two
//! policies, side by side.
//!
//! A SPEC is `;`-separated `key=value` items: `config=PATH`,
//! `overlay=FILE`, `rules=FILE` (each repeatable where it makes sense),
//! `cmdline=STR`, `line=MODPROBE.D LINE` (e.g. `line=blacklist
//! vfio_ccw`), `system-config`, or `none`.

use std::path::PathBuf;

use coldplug::report::diff::Diff;

use super::exit::Outcome;
use super::replay::{run_one, EngineArgs, PolicyArgs};

#[derive(clap::Args)]
pub struct Args {
    /// Trace file.
    trace: PathBuf,
    #[command(flatten)]
    engine: EngineArgs,
    /// Policy A (see `coldplug diff --help`).
    #[arg(long = "a", value_name = "SPEC", value_parser = parse_spec)]
    a: PolicyArgs,
    /// Policy B.
    #[arg(long = "b", value_name = "SPEC", value_parser = parse_spec)]
    b: PolicyArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub(super) fn parse_spec(s: &str) -> Result<PolicyArgs, String> {
    let mut p = PolicyArgs::default();
    for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        if item == "none" {
            continue;
        }
        if item == "system-config" {
            p.system_config = true;
            continue;
        }
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("spec item '{item}' is not key=value"))?;
        match k {
            "config" => p.config.push(v.into()),
            "overlay" => p.overlay.push(v.into()),
            "rules" => p.rules = Some(v.into()),
            "cmdline" => p.cmdline = Some(v.into()),
            "line" => p.extra_lines.push(v.into()),
            "blacklist" => p.extra_lines.push(format!("blacklist {v}")),
            _ => return Err(format!("unknown spec key '{k}' (config, overlay, rules, cmdline, line, blacklist)")),
        }
    }
    Ok(p)
}

pub fn run(args: Args) -> Outcome {
    let a = run_one(&args.trace, &args.engine, &args.a)?;
    let b = run_one(&args.trace, &args.engine, &args.b)?;
    let d = Diff::new(&a, &b);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.json {
        super::write_json(&mut out, &d)?;
    } else {
        d.write_text(&mut out)?;
    }
    Ok(a.malformed > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let p = parse_spec("overlay=a.toml; blacklist=vfio_ccw;cmdline=x.y=1")
            .unwrap();
        assert_eq!(p.overlay, [PathBuf::from("a.toml")]);
        assert_eq!(p.extra_lines, ["blacklist vfio_ccw"]);
        assert_eq!(p.cmdline.as_deref(), Some("x.y=1"));
        assert!(parse_spec("bogus=1").is_err());
        assert!(parse_spec("none").unwrap().overlay.is_empty());
    }
}
