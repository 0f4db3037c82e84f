//! Live differential test against the system's libkmod (Debian's
//! libkmod 30) through FFI: for each bundled kernel, generated aliases
//! go through `kmod_module_new_from_lookup` and through coldplug's
//! resolver, and the answers (module list in order, or errno) must be
//! identical.
//!
//! `COLDPLUG_ORACLE_COUNT` sets the aliases per kernel (default
//! 100,000); `COLDPLUG_SEED` the generator seed. Needs
//! `--features kmod-ffi` (libkmod-dev).
#![cfg(feature = "kmod-ffi")]

mod common;

use std::path::Path;

use coldplug::kmod_ffi::{self, Kmod};
use coldplug::modindex::KernelDir;
use coldplug::resolve::{Backend, Resolver, Scratch};
use common::Rng;

/// What the generator draws from, per kernel.
struct Material {
    patterns: Vec<Vec<u8>>,
    modules: Vec<Vec<u8>>,
    symbols: Vec<Vec<u8>>,
    pci_ids: Vec<(u32, u32)>,
    usb_ids: Vec<(u16, u16)>,
    golden: Vec<Vec<u8>>,
}

fn hexnum(s: &[u8]) -> Option<u32> {
    u32::from_str_radix(std::str::from_utf8(s).ok()?, 16).ok()
}

fn material(name: &str) -> Material {
    let dir = common::kernel_dir(name);
    let k = KernelDir::open(&dir).unwrap();
    let patterns: Vec<Vec<u8>> = k
        .alias_text()
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|(p, _)| p.into_bytes())
        .collect();
    let modules = k
        .dep_text()
        .unwrap()
        .unwrap()
        .into_iter()
        .map(|d| d.name.into_bytes())
        .chain(k.builtin_text().unwrap().unwrap_or_default().iter().map(|p| {
            coldplug::modindex::normalize::path_to_modname(p.as_bytes())
        }))
        .collect();
    let symbols = k
        .symbols
        .as_ref()
        .map(|i| {
            let e = i.entries();
            e.list.iter().map(|x| e.key(x).to_vec()).collect()
        })
        .unwrap_or_default();
    let mut pci_ids = Vec::new();
    let mut usb_ids = Vec::new();
    for p in &patterns {
        if let Some(r) = p.strip_prefix(b"pci:v") {
            if let (Some(v), Some(d)) =
                (r.get(..8).and_then(hexnum), r.get(9..17).and_then(hexnum))
            {
                pci_ids.push((v, d));
            }
        } else if let Some(r) = p.strip_prefix(b"usb:v") {
            if let (Some(v), Some(d)) =
                (r.get(..4).and_then(hexnum), r.get(5..9).and_then(hexnum))
            {
                usb_ids.push((v as u16, d as u16));
            }
        }
    }
    let golden = std::fs::read(
        common::root()
            .join("traces/golden")
            .join(format!("{name}.lookup.tsv")),
    )
    .unwrap()
    .split(|&b| b == b'\n')
    .filter_map(|l| l.split(|&b| b == b'\t').next())
    .filter(|l| !l.is_empty())
    .map(<[u8]>::to_vec)
    .collect();
    Material { patterns, modules, symbols, pci_ids, usb_ids, golden }
}

const HEX: &[u8] = b"0123456789ABCDEF";
const ODD: &[&[u8]] = &[
    b"*",
    b"?",
    b"[",
    b"]",
    b"[a-z]",
    b"[!x]",
    b"[^0]",
    b"[]]",
    b"\\",
    b"-",
    b"_",
    b"[-]",
    b"[0-9",
    b"\\*",
    b"**",
    b":",
    b"[[:digit:]]",
    b"\xff",
];

fn hex(r: &mut Rng, n: usize, out: &mut Vec<u8>) {
    for _ in 0..n {
        out.push(HEX[r.below(16)]);
    }
}

/// Turn an alias pattern into a key it (probably) matches; sometimes
/// keep a wildcard byte as it is.
fn instantiate(r: &mut Rng, p: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' if !r.percent(3) => {
                let n = r.below(9);
                if r.percent(70) {
                    hex(r, n, out)
                } else {
                    for _ in 0..n {
                        out.push(
                            b"abcdefghijklmnopqrstuvwxyz0123456789_-"
                                [r.below(38)],
                        );
                    }
                }
            }
            b'?' if !r.percent(3) => out.push(HEX[r.below(16)]),
            b'[' if !r.percent(3) => {
                match p[i + 1..].iter().position(|&b| b == b']') {
                    Some(e) if e > 0 => {
                        let inner = &p[i + 1..i + 1 + e];
                        out.push(if r.percent(80) {
                            inner[r.below(inner.len())]
                        } else {
                            HEX[r.below(16)]
                        });
                        i += e + 1;
                    }
                    _ => out.push(b'['),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
}

fn generate(r: &mut Rng, m: &Material, out: &mut Vec<u8>) {
    out.clear();
    match r.below(100) {
        0..=34 => {
            let p = &m.patterns[r.below(m.patterns.len())];
            instantiate(r, p, out)
        }
        35..=46 => {
            let (v, d) = if !m.pci_ids.is_empty() && r.percent(70) {
                *r.pick(&m.pci_ids)
            } else {
                (r.next() as u32 & 0xFFFF, r.next() as u32 & 0xFFFF)
            };
            let s = format!(
                "pci:v{v:08X}d{d:08X}sv{:08X}sd{:08X}bc{:02X}sc{:02X}i{:02X}",
                r.next() as u16,
                r.next() as u16,
                r.below(0x13),
                r.below(0x10),
                r.next() as u8
            );
            out.extend_from_slice(s.as_bytes());
        }
        47..=58 => {
            let (v, p) = if !m.usb_ids.is_empty() && r.percent(70) {
                *r.pick(&m.usb_ids)
            } else {
                (r.next() as u16, r.next() as u16)
            };
            let s = format!(
                "usb:v{v:04X}p{p:04X}d{:04X}dc{:02X}dsc{:02X}dp{:02X}ic{:02X}isc{:02X}ip{:02X}in{:02X}",
                r.next() as u16,
                r.next() as u8,
                r.next() as u8,
                r.next() as u8,
                [0x02u8, 0x03, 0x08, 0x09, 0xE0, 0xEF, 0xFE, 0xFF][r.below(8)],
                r.below(16),
                r.below(0x60),
                r.below(4)
            );
            out.extend_from_slice(s.as_bytes());
        }
        59..=66 => {
            let s = match r.below(3) {
                0 => format!("ap:t{:02X}", r.below(0x20)),
                1 => format!("css:t{}", r.below(4)),
                _ => format!(
                    "ccw:t{:04X}m{:02X}dt{:04X}dm{:02X}",
                    [0x3990u32, 0x2105, 0x3880, 0x1731, 0x3088, 0x1234]
                        [r.below(6)],
                    r.below(0x20),
                    [0x3390u32, 0x3380, 0x9336, 0x0000, 0x3590][r.below(5)],
                    r.below(0x10)
                ),
            };
            out.extend_from_slice(s.as_bytes());
        }
        67..=74 => {
            // Module names, with dashes where underscores were.
            let n = r.pick(&m.modules).clone();
            for b in n {
                out.push(if b == b'_' && r.percent(50) { b'-' } else { b });
            }
            if r.percent(5) {
                out.extend_from_slice(b".ko");
            }
        }
        75..=78 => {
            if !m.symbols.is_empty() {
                out.extend_from_slice(&m.symbols[r.below(m.symbols.len())]);
            }
            if r.percent(20) {
                out.push(b"*?_x"[r.below(4)]);
            }
        }
        79..=84 => {
            // Random bytes (no NUL: a C string would end there).
            for _ in 0..r.below(24) {
                out.push((r.below(255) + 1) as u8);
            }
        }
        85..=92 => {
            // Golden keys with odd bytes spliced in.
            out.extend_from_slice(&m.golden[r.below(m.golden.len())]);
            for _ in 0..1 + r.below(3) {
                let at = r.below(out.len() + 1);
                let odd = r.pick(ODD);
                out.splice(at..at, odd.iter().copied());
            }
        }
        _ => {
            // A raw pattern as the key, or a golden key cut short.
            if r.percent(50) {
                out.extend_from_slice(&m.patterns[r.below(m.patterns.len())]);
            } else {
                let g = r.pick(&m.golden);
                out.extend_from_slice(&g[..r.below(g.len() + 1)]);
            }
        }
    }
}

fn kmod_for(name: &str, tmp: &Path) -> Kmod {
    let shadow = tmp.join(name);
    kmod_ffi::shadow_dir(&common::kernel_dir(name), &shadow).unwrap();
    let conf = tmp.join("empty-conf");
    std::fs::create_dir_all(&conf).unwrap();
    let mut k = Kmod::new(&shadow, &conf).unwrap();
    k.set_log_priority(kmod_ffi::LOG_CRIT);
    k.load_resources().unwrap();
    k
}

fn run(name: &str) {
    let count = common::env_count("COLDPLUG_ORACLE_COUNT", 100_000);
    let seed = common::env_count("COLDPLUG_SEED", 0xC01D) as u64;
    let tmp = tempfile::tempdir().unwrap();
    let mut kmod = kmod_for(name, tmp.path());
    let kdir = KernelDir::open(&common::kernel_dir(name)).unwrap();
    let r = Resolver::new(kdir, Backend::Compiled);
    let naive = Resolver::new(
        KernelDir::open(&common::kernel_dir(name)).unwrap(),
        Backend::Naive,
    );
    let m = material(name);
    let mut rng = Rng::new(seed ^ name.len() as u64);
    let mut key = Vec::new();
    let mut s = Scratch::default();
    let (mut found, mut errs, mut wild_keys) = (0usize, 0usize, 0usize);
    let mut bad = Vec::new();
    for i in 0..count {
        generate(&mut rng, &m, &mut key);
        let want = kmod.lookup(&key);
        let got = r
            .lookup(&key, &mut s)
            .map(|()| s.modules().map(<[u8]>::to_vec).collect::<Vec<_>>())
            .map_err(|e| e.errno());
        if i % 64 == 0 {
            let n = naive.lookup_owned(&key).map_err(|e| e.errno());
            assert_eq!(
                n,
                got,
                "naive vs compiled on {:?}",
                String::from_utf8_lossy(&key)
            );
        }
        match &want {
            Ok(v) if !v.is_empty() => found += 1,
            Err(_) => errs += 1,
            _ => {}
        }
        wild_keys += key.iter().any(|b| b"*?[".contains(b)) as usize;
        if want != got && bad.len() < 20 {
            bad.push(format!(
                "{:?}: libkmod {:?} coldplug {:?}",
                String::from_utf8_lossy(&key),
                want.map(|v| v
                    .iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect::<Vec<_>>()),
                got.map(|v| v
                    .iter()
                    .map(|x| String::from_utf8_lossy(x).into_owned())
                    .collect::<Vec<_>>())
            ));
        }
    }
    eprintln!(
        "oracle {name}: {count} aliases, {found} found, {errs} errors, {wild_keys} with wildcard bytes, {} differ",
        bad.len()
    );
    assert!(bad.is_empty(), "{name}: differences:\n{}", bad.join("\n"));
    assert!(found > count / 5, "generator found too little: {found}");
}

#[test]
fn oracle_amd64() {
    run(common::KERNELS[0]);
}

#[test]
fn oracle_s390x_6_1() {
    run(common::KERNELS[1]);
}

#[test]
fn oracle_s390x_6_12() {
    run(common::KERNELS[2]);
}

#[test]
fn golden_through_ffi() {
    // The live libkmod agrees with the golden files too.
    let tmp = tempfile::tempdir().unwrap();
    for name in common::KERNELS {
        let mut kmod = kmod_for(name, tmp.path());
        let golden = std::fs::read(
            common::root()
                .join("traces/golden")
                .join(format!("{name}.lookup.tsv")),
        )
        .unwrap();
        for line in golden.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let tab = line.iter().position(|&b| b == b'\t').unwrap();
            let want = &line[tab + 1..];
            let got = match kmod.lookup(&line[..tab]) {
                Ok(v) => v.join(&b' '),
                Err(e) => format!("ERR {e}").into_bytes(),
            };
            assert_eq!(got, want, "{}", String::from_utf8_lossy(line));
        }
    }
}

#[test]
fn libkmod_backend_reproduces_golden() {
    use coldplug::resolve::format_line;
    let name = common::KERNELS[2];
    let kdir = KernelDir::open(&common::kernel_dir(name)).unwrap();
    let r = Resolver::with_libkmod(kdir).unwrap();
    let golden = std::fs::read(
        common::root()
            .join("traces/golden")
            .join(format!("{name}.lookup.tsv")),
    )
    .unwrap();
    let mut s = Scratch::default();
    for line in golden.split_inclusive(|&b| b == b'\n') {
        let tab = line.iter().position(|&b| b == b'\t').unwrap();
        let res = r.lookup(&line[..tab], &mut s);
        let mut got = Vec::new();
        format_line(&line[..tab], &res, &s, &mut got);
        assert_eq!(got, line, "{}", String::from_utf8_lossy(line));
    }
}
