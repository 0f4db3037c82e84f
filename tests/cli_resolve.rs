//! `coldplug resolve`: the golden format through stdin, modprobe -R
//! style output and exit codes.

mod common;

use assert_cmd::Command;

fn cmd() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin!("coldplug"))
}

#[test]
fn stdin_mode_reproduces_golden() {
    let name = common::KERNELS[1];
    let golden = std::fs::read(
        common::root()
            .join("traces/golden")
            .join(format!("{name}.lookup.tsv")),
    )
    .unwrap();
    let input: Vec<u8> = golden
        .split_inclusive(|&b| b == b'\n')
        .flat_map(|l| {
            let tab = l.iter().position(|&b| b == b'\t').unwrap();
            l[..tab].iter().copied().chain(Some(b'\n'))
        })
        .collect();
    let out = cmd()
        .args(["resolve", "--kernel"])
        .arg(common::kernel_dir(name))
        .arg("-")
        .write_stdin(input)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(out.stdout == golden, "stdin mode differs from golden");
}

#[test]
fn argument_mode_prints_like_modprobe() {
    cmd()
        .args(["resolve", "--kernel"])
        .arg(common::kernel_dir(common::KERNELS[1]))
        .args(["ap:t0C", "dasd-eckd-mod"])
        .assert()
        .success()
        .stdout("zcrypt_cex4\nzcrypt_cex4\ndasd_eckd_mod\n");
}

#[test]
fn not_found_and_einval_exit_1() {
    let out = cmd()
        .args(["resolve", "--backend", "naive", "--kernel"])
        .arg(common::kernel_dir(common::KERNELS[0]))
        .args(["no:such", "x]"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("module no:such not found"), "{err}");
    assert!(err.contains("(-22)"), "{err}");
}

#[test]
fn missing_dir_is_usage_error() {
    cmd()
        .args(["resolve", "--kernel", "/nonexistent/dir", "x"])
        .assert()
        .code(2);
}
