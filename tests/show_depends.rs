//! Differential test of the policy engine against Debian's real kmod 30:
//! for generated modprobe.d scenarios (blacklists, softdeps, install
//! and remove commands, options, config aliases, bad lines, line
//! continuations, shadowed files) and kernel command lines, the output
//! of `PolicyKernel::show_depends` must equal
//! `modprobe -d ROOT -S VERSION -C CONFDIR --show-depends ALIAS`, byte
//! for byte, with the same success or failure, for every alias tried.
//!
//! modprobe always reads `/proc/cmdline`; each scenario runs it under
//! `unshare -m` with the scenario's command line bind-mounted over
//! `/proc/cmdline` (root, as CI is). Without that permission the host's
//! command line is used on both sides.
//!
//! `COLDPLUG_SHOWDEPS_SCENARIOS` sets the scenarios per kernel (default
//! 25); `COLDPLUG_SEED` the seed. Needs `modprobe` (apt: kmod).
#![cfg(feature = "kmod-ffi")]

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use coldplug::kmod_ffi;
use coldplug::policy::kernel::PolicyKernel;
use coldplug::policy::Policy;
use coldplug::resolve::Backend;
use common::Rng;

const VERSION: &str = "6.0.0-coldplug";

/// Modules and aliases a scenario draws from.
struct Material {
    modules: Vec<String>,
    aliases: Vec<String>,
    builtin: Vec<String>,
}

fn material(name: &str) -> Material {
    let dir = common::kernel_dir(name);
    let dep = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    let modules: Vec<String> = dep
        .lines()
        .filter_map(|l| l.split(':').next())
        .map(|p| {
            let f = p.rsplit('/').next().unwrap();
            f.split('.').next().unwrap().to_string()
        })
        .collect();
    let golden = std::fs::read_to_string(
        common::root()
            .join("traces/golden")
            .join(format!("{name}.lookup.tsv")),
    )
    .unwrap();
    let aliases = golden
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .filter(|(_, m)| !m.is_empty() && !m.starts_with("ERR"))
        .map(|(a, _)| a.to_string())
        .collect();
    let builtin = std::fs::read_to_string(dir.join("modules.builtin"))
        .unwrap()
        .lines()
        .map(|p| {
            p.rsplit('/')
                .next()
                .unwrap()
                .split('.')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    Material { modules, aliases, builtin }
}

/// A module name, sometimes written with dashes (modprobe.d accepts
/// both).
fn module(r: &mut Rng, m: &Material) -> String {
    let n = r.pick(&m.modules).clone();
    if r.percent(30) {
        n.replace('_', "-")
    } else {
        n
    }
}

fn pattern(r: &mut Rng, m: &Material) -> String {
    let n = module(r, m);
    match r.below(4) {
        0 => format!("{}*", &n[..n.len().min(3)]),
        1 => format!("{}?", &n[..n.len() - 1]),
        _ => n,
    }
}

/// One modprobe.d file's text.
fn config_text(r: &mut Rng, m: &Material, chosen: &[String]) -> String {
    let mut t = String::new();
    for _ in 0..r.below(12) {
        match r.below(14) {
            0 | 1 => writeln!(t, "blacklist {}", module(r, m)).unwrap(),
            2 => {
                // Blacklist a module an alias of this scenario resolves to.
                if let Some(a) = chosen.first() {
                    let _ = a;
                }
                writeln!(t, "blacklist {}", module(r, m)).unwrap()
            }
            3 | 4 => {
                let mut line = format!("softdep {}", pattern(r, m));
                if r.percent(70) {
                    line.push_str(" pre:");
                    for _ in 0..1 + r.below(2) {
                        write!(line, " {}", module(r, m)).unwrap();
                    }
                }
                if r.percent(50) {
                    line.push_str(" post:");
                    for _ in 0..1 + r.below(2) {
                        write!(line, " {}", module(r, m)).unwrap();
                    }
                }
                writeln!(t, "{line}").unwrap();
            }
            5 => writeln!(t, "install {} /bin/true", pattern(r, m)).unwrap(),
            6 => {
                let n = module(r, m);
                writeln!(t, "install {n} /sbin/modprobe --ignore-install {n} && echo\tdone").unwrap()
            }
            7 => writeln!(t, "remove {} /bin/false", module(r, m)).unwrap(),
            8 => writeln!(
                t,
                "options {} {}opt{}=\t{} ",
                module(r, m),
                if r.percent(30) { " " } else { "" },
                r.below(9),
                r.below(99)
            )
            .unwrap(),
            9 => {
                // A config alias: a pattern over a real alias, or a name.
                let target = module(r, m);
                let a = if r.percent(60) {
                    let a = r.pick(chosen).clone();
                    let cut = a.len().min(4 + r.below(8));
                    format!("{}*", &a[..cut])
                } else {
                    format!("my-alias-{}", r.below(5))
                };
                writeln!(t, "alias {a} {target}").unwrap()
            }
            10 => writeln!(t, "weakdep {} {}", module(r, m), module(r, m))
                .unwrap(),
            11 => match r.below(5) {
                0 => t.push_str("  # indented comment is a bad line\n"),
                1 => t.push_str("bogus command\n"),
                2 => t.push_str("options lonely\n"),
                3 => writeln!(t, "blacklist \\\n  {}", module(r, m)).unwrap(),
                _ => t.push_str("alias bad]bracket x\n"),
            },
            12 => writeln!(t, "# comment\n\noptions {} a=1", module(r, m))
                .unwrap(),
            _ => writeln!(t, "options {} b=2", r.pick(chosen)).unwrap(),
        }
    }
    t
}

fn cmdline(r: &mut Rng, m: &Material) -> String {
    let mut c = String::from("root=/dev/dasda1 quiet");
    for _ in 0..r.below(4) {
        match r.below(4) {
            0 => write!(c, " {}.p{}={}", module(r, m), r.below(3), r.below(9))
                .unwrap(),
            1 => write!(
                c,
                " modprobe.blacklist={},{}",
                module(r, m),
                module(r, m)
            )
            .unwrap(),
            2 => write!(c, " \"{}.dyn=a b\"", module(r, m)).unwrap(),
            _ => write!(c, " {}.flag", module(r, m)).unwrap(),
        }
    }
    c
}

/// Run modprobe for every alias in one process tree; returns
/// (stdout, exit code) per alias.
fn modprobe_all(
    root: &Path,
    conf: &Path,
    cmdline_file: Option<&Path>,
    aliases: &[String],
) -> Vec<(String, i32)> {
    let mut script = String::from("set +e\n");
    if let Some(f) = cmdline_file {
        writeln!(
            script,
            "mount --bind '{}' /proc/cmdline || exit 99",
            f.display()
        )
        .unwrap();
    }
    for (i, _) in aliases.iter().enumerate() {
        writeln!(
            script,
            "modprobe -d '{}' -S {VERSION} -C '{}' --show-depends \"$A{i}\" 2>/dev/null; echo \"@@END $?\"",
            root.display(),
            conf.display()
        )
        .unwrap();
    }
    let mut cmd = if cmdline_file.is_some() {
        let mut c = Command::new("unshare");
        c.args(["-m", "sh", "-c", &script]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", &script]);
        c
    };
    for (i, a) in aliases.iter().enumerate() {
        cmd.env(format!("A{i}"), a);
    }
    let out = cmd.output().expect("run modprobe (apt-get install kmod)");
    assert!(
        out.status.success() || out.status.code() != Some(99),
        "bind mount failed"
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut res = Vec::new();
    let mut cur = String::new();
    for line in text.split_inclusive('\n') {
        if let Some(code) = line.strip_prefix("@@END ") {
            res.push((std::mem::take(&mut cur), code.trim().parse().unwrap()));
        } else {
            cur.push_str(line);
        }
    }
    assert_eq!(res.len(), aliases.len(), "modprobe output: {text}");
    res
}

fn can_unshare() -> bool {
    Command::new("unshare")
        .args(["-m", "sh", "-c", "mount --bind /dev/null /proc/cmdline"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn run(name: &str) {
    let scenarios = common::env_count("COLDPLUG_SHOWDEPS_SCENARIOS", 25);
    let seed = common::env_count("COLDPLUG_SEED", 0x5D) as u64;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let moddir: PathBuf = root.join("lib/modules").join(VERSION);
    kmod_ffi::shadow_dir(&common::kernel_dir(name), &moddir).unwrap();
    let m = material(name);
    let unshare = can_unshare();
    if !unshare {
        eprintln!("show_depends: no mount namespace here; using the host's /proc/cmdline on both sides");
    }
    let host_cmdline =
        std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let mut rng = Rng::new(seed ^ name.len() as u64);
    let (mut compared, mut nonempty) = (0, 0);
    for sc in 0..scenarios {
        let conf = tmp.path().join(format!("conf{sc}"));
        let conf2 = conf.join("sub.conf.d");
        std::fs::create_dir_all(&conf).unwrap();
        // Aliases this scenario tries.
        let mut aliases: Vec<String> =
            (0..12).map(|_| rng.pick(&m.aliases).clone()).collect();
        for _ in 0..6 {
            aliases.push(module(&mut rng, &m));
        }
        aliases.push(rng.pick(&m.builtin).clone());
        aliases.extend([
            "my-alias-1".into(),
            "no-such-module".into(),
            "bad]".into(),
        ]);
        if name.contains("s390x") {
            aliases.extend([
                "ap:t0C".into(),
                "css:t0".into(),
                "ccw:t3990mE9dt3390dm0C".into(),
            ]);
        }
        let files = 1 + rng.below(3);
        for f in 0..files {
            let text = config_text(&mut rng, &m, &aliases);
            std::fs::write(
                conf.join(format!("{:02}-s{sc}.conf", f * 10)),
                text,
            )
            .unwrap();
        }
        // Ignored: wrong suffix, hidden, a directory.
        std::fs::write(conf.join("ignored.txt"), "blacklist zcrypt_cex4\n")
            .unwrap();
        std::fs::write(conf.join(".hidden.conf"), "blacklist zcrypt_cex4\n")
            .unwrap();
        std::fs::create_dir_all(&conf2).unwrap();
        let line = cmdline(&mut rng, &m);
        let (cmdline_file, ours) = if unshare {
            let f = tmp.path().join(format!("cmdline{sc}"));
            std::fs::write(&f, format!("{line}\n")).unwrap();
            (Some(f), line.clone())
        } else {
            (None, host_cmdline.clone())
        };
        let want =
            modprobe_all(&root, &conf, cmdline_file.as_deref(), &aliases);
        let policy = Policy::load(
            Some(&moddir),
            std::slice::from_ref(&conf),
            Some(&ours),
        );
        let k =
            PolicyKernel::open(&moddir, Backend::Compiled, policy.config, &[])
                .unwrap();
        for (a, (out, code)) in aliases.iter().zip(want) {
            let mut got = String::new();
            let r = k.show_depends(a.as_bytes(), &mut got);
            let got_code = if r.is_ok() { 0 } else { 1 };
            assert_eq!(
                (got.as_str(), got_code),
                (out.as_str(), code),
                "kernel {name}, scenario {sc}, alias {a:?}\nconfig dir {}:\n{}\ncmdline: {line}",
                conf.display(),
                std::fs::read_dir(&conf)
                    .unwrap()
                    .flatten()
                    .map(|e| format!(
                        "--- {}\n{}",
                        e.file_name().to_string_lossy(),
                        std::fs::read_to_string(e.path()).unwrap_or_default()
                    ))
                    .collect::<String>()
            );
            compared += 1;
            nonempty += usize::from(!out.is_empty());
        }
    }
    eprintln!("show_depends {name}: {compared} aliases compared ({nonempty} with output) over {scenarios} scenarios");
}

#[test]
fn show_depends_amd64() {
    run("debian-6.1.0-50-amd64");
}

#[test]
fn show_depends_s390x_6_1() {
    run("debian-6.1.0-50-s390x");
}

#[test]
fn show_depends_s390x_6_12() {
    run("debian-6.12.107-s390x");
}
