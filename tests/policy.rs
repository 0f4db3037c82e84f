//! Policy and overlays on the bundled kernels: the plans for the AP and
//! I/O-subchannel aliases with and without each what-if overlay, and
//! libkmod 30's quirks, each pinned with the code that has it.

mod common;

use coldplug::policy::kernel::{
    Action, BlacklistMode, ModRef, PolicyKernel, Probe,
};
use coldplug::policy::overlay::Overlay;
use coldplug::policy::{Cmdline, Config};
use coldplug::resolve::{Backend, Scratch};

const S390_61: &str = "debian-6.1.0-50-s390x";
const S390_612: &str = "debian-6.12.107-s390x";

fn overlay(name: &str) -> Overlay {
    Overlay::load(&common::root().join("traces/overlays").join(name)).unwrap()
}

fn kernel(name: &str, conf: &str, overlays: &[&str]) -> PolicyKernel {
    let dir = common::kernel_dir(name);
    let mut c = Config::load(Some(&dir), &[]);
    c.parse_text("test.conf", conf.as_bytes());
    let o: Vec<_> = overlays.iter().map(|n| overlay(n)).collect();
    PolicyKernel::open(&dir, Backend::Compiled, c, &o).unwrap()
}

fn lookup(k: &PolicyKernel, alias: &str) -> Vec<String> {
    let mut s = Scratch::default();
    k.lookup_objects(alias.as_bytes(), &mut s)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect()
}

/// The module names of udev's plan for the first module `alias` gives.
fn udev_plan(k: &PolicyKernel, alias: &str) -> Option<Vec<String>> {
    let mut s = Scratch::default();
    let mods = k.lookup_objects(alias.as_bytes(), &mut s).unwrap();
    let m = mods.first()?;
    match k.probe(m, BlacklistMode::Always, &mut s) {
        Probe::Blacklisted => Some(vec!["<blacklisted>".into()]),
        Probe::Actions(a) => {
            Some(a.iter().map(|a| a.name().to_string()).collect())
        }
    }
}

fn show(k: &PolicyKernel, alias: &str) -> String {
    let mut out = String::new();
    let _ = k.show_depends(alias.as_bytes(), &mut out);
    let dir = k.resolver().kernel().path().display().to_string();
    out.replace(&dir, "$K")
}

#[test]
fn ap_card_without_overlay() {
    let k = kernel(S390_61, "", &[]);
    // modules.alias lists zcrypt_cex4's ap:t0C* twice (card and queue
    // table): libkmod keeps the duplicate.
    assert_eq!(lookup(&k, "ap:t0C"), ["zcrypt_cex4", "zcrypt_cex4"]);
    assert_eq!(udev_plan(&k, "ap:t0C").unwrap(), ["zcrypt", "zcrypt_cex4"]);
    assert_eq!(
        show(&k, "ap:t0C"),
        "insmod $K/kernel/drivers/s390/crypto/zcrypt.ko \n\
         insmod $K/kernel/drivers/s390/crypto/zcrypt_cex4.ko \n"
            .repeat(2)
    );
}

#[test]
fn ap_card_with_vfio_ap_device_table() {
    let k = kernel(S390_61, "", &["vfio_ap-device-table.toml"]);
    assert_eq!(
        lookup(&k, "ap:t0C"),
        ["zcrypt_cex4", "zcrypt_cex4", "vfio_ap"]
    );
    // CEX8 (0x0E) was not in the 2021 table.
    assert_eq!(lookup(&k, "ap:t0E"), ["zcrypt_cex4", "zcrypt_cex4"]);
    let mut s = Scratch::default();
    let vfio_ap = ModRef {
        name: "vfio_ap".into(),
        alias: Some("ap:t0C".into()),
        preset_install: None,
    };
    let Probe::Actions(a) = k.probe(&vfio_ap, BlacklistMode::Always, &mut s)
    else {
        panic!()
    };
    let names: Vec<_> = a.iter().map(|a| a.name()).collect();
    // Kconfig: depends on KVM, VFIO; selects VFIO_MDEV.
    assert_eq!(names, ["kvm", "vfio", "mdev", "vfio_ap"]);
    assert_eq!(k.size("kvm"), 683_417);
    assert_eq!(k.size("vfio"), 93_569);
    // On 6.12 vfio exists: the overlay keeps the kernel's own.
    let k = kernel(S390_612, "", &["vfio_ap-device-table.toml"]);
    assert!(show(&k, "vfio_ap").contains("$K/kernel/drivers/vfio/vfio.ko.xz"));
    assert_eq!(k.size("vfio"), 86_526);
}

#[test]
fn vfio_ap_module_without_table_never_autoloads() {
    let k = kernel(S390_61, "", &["vfio_ap-module.toml"]);
    assert_eq!(lookup(&k, "ap:t0C"), ["zcrypt_cex4", "zcrypt_cex4"]);
    assert_eq!(lookup(&k, "vfio-ap"), ["vfio_ap"]);
}

#[test]
fn io_subchannel_with_and_without_vfio_ccw() {
    // Debian builds neither vfio_ccw nor a css:t0 module; cio is built
    // in and has no table: nothing to load.
    let k = kernel(S390_61, "", &[]);
    assert!(lookup(&k, "css:t0").is_empty());
    let k = kernel(S390_61, "", &["vfio_ccw-module.toml"]);
    assert_eq!(lookup(&k, "css:t0"), ["vfio_ccw"]);
    assert_eq!(udev_plan(&k, "css:t0").unwrap(), ["vfio", "mdev", "vfio_ccw"]);
    // The same policy with `blacklist vfio_ccw`: udev skips it.
    let k = kernel(S390_61, "blacklist vfio-ccw\n", &["vfio_ccw-module.toml"]);
    assert_eq!(udev_plan(&k, "css:t0").unwrap(), ["<blacklisted>"]);
    let k = kernel(S390_61, "", &["vfio_ccw-no-device-table.toml"]);
    assert!(lookup(&k, "css:t0").is_empty());
    assert_eq!(lookup(&k, "vfio_ccw"), ["vfio_ccw"]);
}

#[test]
fn overlay_operations() {
    let o = Overlay::parse(
        r#"
remove = ["zcrypt_cex2a"]
builtin = ["zcrypt"]
[[drop_aliases]]
module = "zcrypt_cex4"
aliases = ["ap:t0C*"]
"#,
    )
    .unwrap();
    let dir = common::kernel_dir(S390_61);
    let k =
        PolicyKernel::open(&dir, Backend::Compiled, Config::default(), &[o])
            .unwrap();
    assert!(lookup(&k, "ap:t0C").is_empty());
    assert_eq!(lookup(&k, "ap:t0D"), ["zcrypt_cex4", "zcrypt_cex4"]);
    assert!(lookup(&k, "zcrypt_cex2a").is_empty());
    assert!(k.is_builtin("zcrypt"));
    assert_eq!(udev_plan(&k, "ap:t0D").unwrap(), ["zcrypt", "zcrypt_cex4"]);
    let plan = {
        let mut s = Scratch::default();
        let m = ModRef {
            name: "zcrypt_cex4".into(),
            alias: None,
            preset_install: None,
        };
        k.probe(&m, BlacklistMode::Always, &mut s)
    };
    assert!(
        matches!(&plan, Probe::Actions(a) if matches!(a[0], Action::Builtin { .. }))
    );
    let bad =
        Overlay::parse("[[module]]\nname='x'\ndepends=['nope']").unwrap();
    assert!(PolicyKernel::open(
        &dir,
        Backend::Compiled,
        Config::default(),
        &[bad]
    )
    .is_err());
}

/// Rewriting the indexes without changes keeps every golden answer.
#[test]
fn empty_overlay_rewrite_keeps_golden() {
    for name in common::KERNELS {
        let dir = common::kernel_dir(name);
        let k = PolicyKernel::open(
            &dir,
            Backend::Compiled,
            Config::default(),
            &[Overlay::default()],
        )
        .unwrap();
        let golden = std::fs::read_to_string(
            common::root()
                .join("traces/golden")
                .join(format!("{name}.lookup.tsv")),
        )
        .unwrap();
        let mut s = Scratch::default();
        for line in golden.lines().step_by(7) {
            let (alias, want) = line.split_once('\t').unwrap();
            let got = match k.resolver().lookup(alias.as_bytes(), &mut s) {
                Ok(()) => s
                    .modules()
                    .map(|m| String::from_utf8_lossy(m).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(e) => format!("ERR {}", e.errno()),
            };
            assert_eq!(got, want, "{name}: {alias}");
        }
    }
}

/// kmod issue #439: only the probed module is checked against the
/// blacklist; a blacklisted dependency is still loaded.
#[test]
fn blacklisted_dependency_still_loads() {
    let k = kernel(S390_61, "blacklist zcrypt\n", &[]);
    assert_eq!(udev_plan(&k, "ap:t0C").unwrap(), ["zcrypt", "zcrypt_cex4"]);
}

/// modprobe applies the blacklist only to aliases
/// (KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY); udev always
/// (KMOD_PROBE_APPLY_BLACKLIST).
#[test]
fn blacklist_modes() {
    let k = kernel(S390_61, "blacklist zcrypt_cex4\n", &[]);
    assert_eq!(show(&k, "ap:t0C"), "");
    assert!(show(&k, "zcrypt_cex4").contains("zcrypt_cex4.ko"));
    assert_eq!(udev_plan(&k, "zcrypt_cex4").unwrap(), ["<blacklisted>"]);
}

/// `modprobe.blacklist=` entries are not normalised
/// (kcmdline_parse_result adds them raw), so a dashed name never
/// matches a module name.
#[test]
fn cmdline_blacklist_is_raw() {
    let dir = common::kernel_dir(S390_61);
    let mut c = Config::load(Some(&dir), &[]);
    c.merge_cmdline(&Cmdline::parse(
        "modprobe.blacklist=zcrypt-cex4 zcrypt_cex4.x=1",
    ));
    let k = PolicyKernel::open(&dir, Backend::Compiled, c, &[]).unwrap();
    assert_eq!(udev_plan(&k, "ap:t0C").unwrap(), ["zcrypt", "zcrypt_cex4"]);
    assert!(show(&k, "ap:t0C").contains("zcrypt_cex4.ko x=1 \n"));
}

/// A softdep makes libkmod ignore the module's install command
/// (`mod->ignorecmd = (pre != NULL || post != NULL)`), and pre/post
/// modules go around it.
#[test]
fn softdep_ignores_install_command() {
    let k = kernel(
        S390_61,
        "install zcrypt_cex4 /bin/false\nsoftdep zcrypt_cex4 pre: kvm\n",
        &[],
    );
    assert_eq!(
        udev_plan(&k, "ap:t0C").unwrap(),
        ["zcrypt", "kvm", "zcrypt_cex4"]
    );
    assert!(!show(&k, "ap:t0C").contains("/bin/false"));
    let k = kernel(S390_61, "install zcrypt_cex4 /bin/false\n", &[]);
    assert!(show(&k, "ap:t0C").contains("install /bin/false \n"));
}

/// A matching config alias hides modules.alias entirely
/// (the chain stops at its first non-empty source).
#[test]
fn config_alias_wins() {
    let k = kernel(S390_61, "alias ap:t0* dasd_mod\n", &[]);
    assert_eq!(lookup(&k, "ap:t0C"), ["dasd_mod"]);
    // The install stage answers a name that has an install line.
    let k = kernel(S390_61, "install fake-thing /bin/true\n", &[]);
    assert_eq!(lookup(&k, "fake_thing"), ["fake_thing"]);
    assert_eq!(show(&k, "fake_thing"), "install /bin/true \n");
}

/// Options come from every line naming the module or the alias it was
/// found through, joined, with module_options_concat's trailing space;
/// the rest of line keeps its extra leading space, tabs become spaces.
#[test]
fn options_spacing() {
    let k = kernel(
        S390_61,
        "options zcrypt_cex4  a=1\tb=2\noptions ap:t0C c=3\n",
        &[],
    );
    assert!(show(&k, "ap:t0C").contains("zcrypt_cex4.ko  a=1 b=2 c=3 \n"));
    assert!(show(&k, "zcrypt_cex4").contains("zcrypt_cex4.ko  a=1 b=2 \n"));
}
