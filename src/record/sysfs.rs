//! A coldplug trace from a sysfs tree, without triggering anything: the
//! `add` events that `udevadm trigger --action=add` would cause, in its
//! order, built from the `uevent` files it would write to.
//!
//! Enumeration follows systemd's device-enumerator.c:
//! - devices: `ROOT/subsystem/*/devices/*` when `ROOT/subsystem`
//!   exists, else `ROOT/bus/*/devices/*` and `ROOT/class/*/*`, each
//!   resolved to its directory under `ROOT/devices`, plus every
//!   ancestor that is a device (has a `uevent` file) with a `subsystem`
//!   link (`enumerator_add_parent_devices`). Devices without a
//!   `subsystem` link are skipped: udevadm never lists them, and the
//!   kernel would mostly filter their events (`dev_uevent_filter`).
//! - with `--trigger-type all`, also `ROOT/module/*`, `ROOT/bus/*` and
//!   `ROOT/bus/*/drivers/*` (`device_enumerator_scan_subsystems`).
//!
//! Order: `device_compare` — a sound card's `controlC*` after its other
//! devices, `/block/md*` and `/block/dm-*` after everything, otherwise
//! `path_compare` (component-wise, a parent before its children);
//! `--prioritized-subsystem` groups (each subsystem's devices with their
//! ancestors, sorted) come first, as `enumerator_sort_devices` does.
//!
//! Each event is what `kobject_synth_uevent` sends: ACTION=add,
//! DEVPATH, SUBSYSTEM (the `subsystem` link's name; `bus`, `drivers`
//! or `module` for those kobjects), SYNTH_UUID, then the lines of the
//! `uevent` file (`dev_uevent`'s variables, in the same order as the
//! datagram), then SEQNUM. A value that ends in a newline is printed by
//! `uevent_show` as its line followed by an empty line; the newline is
//! put back.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::gen::s390::{mix, TriggerType, UuidMode};
use crate::uevent::{self, Action};

/// What kind of kobject an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A device under `/devices`.
    Device,
    /// A bus (`/bus/X`).
    Bus,
    /// A driver (`/bus/X/drivers/Y`).
    Driver,
    /// A module (`/module/X`).
    Module,
}

/// One kobject udevadm would trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The devpath: the path below ROOT, starting with `/`.
    pub devpath: String,
    /// SUBSYSTEM as the kernel sends it.
    pub subsystem: String,
    /// Kind.
    pub kind: EntryKind,
}

fn link_name(p: &Path) -> Option<String> {
    let t = fs::read_link(p).ok()?;
    Some(t.file_name()?.to_string_lossy().into_owned())
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
        .map(|e| e.path())
        .collect();
    v.sort();
    v
}

struct Walker {
    root: PathBuf,
    devices: PathBuf,
    seen: HashSet<String>,
    out: Vec<Entry>,
}

impl Walker {
    /// Add the device at `path` (canonical) and its ancestors that are
    /// devices with a subsystem, as `enumerator_add_parent_devices`.
    fn add_device(&mut self, path: &Path) {
        let mut p = path.to_path_buf();
        let mut listed = true;
        loop {
            if !p.starts_with(&self.devices) || p == self.devices {
                return;
            }
            let subsystem = if p.join("uevent").is_file() {
                link_name(&p.join("subsystem"))
            } else {
                None
            };
            match subsystem {
                Some(subsystem) => {
                    let rel = p.strip_prefix(&self.root).expect("under root");
                    let devpath = format!("/{}", rel.to_string_lossy());
                    if self.seen.insert(devpath.clone()) {
                        self.out.push(Entry {
                            devpath,
                            subsystem,
                            kind: EntryKind::Device,
                        });
                    } else if !listed {
                        // Already there, and so are its ancestors.
                        return;
                    }
                }
                // The listed device itself fails the match: skip it and
                // its parents, as the enumerator does.
                None if listed => return,
                None => {}
            }
            listed = false;
            if !p.pop() {
                return;
            }
        }
    }

    fn add_listed(&mut self, link: &Path) {
        if let Ok(c) = fs::canonicalize(link) {
            self.add_device(&c);
        }
    }

    fn add_plain(&mut self, devpath: String, subsystem: &str, k: EntryKind) {
        if self.seen.insert(devpath.clone()) {
            self.out.push(Entry {
                devpath,
                subsystem: subsystem.to_string(),
                kind: k,
            });
        }
    }
}

/// Everything `udevadm trigger --type=<t>` would enumerate under `root`
/// (unsorted).
pub fn enumerate(root: &Path, t: TriggerType) -> io::Result<Vec<Entry>> {
    let root = fs::canonicalize(root)?;
    let devices = root.join("devices");
    if !devices.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} has no devices directory", root.display()),
        ));
    }
    let mut w = Walker {
        root: root.clone(),
        devices,
        seen: HashSet::new(),
        out: Vec::new(),
    };
    let subsystem_dir = root.join("subsystem");
    let bus_dir =
        if subsystem_dir.is_dir() { subsystem_dir } else { root.join("bus") };
    for bus in sorted_children(&bus_dir) {
        for dev in sorted_children(&bus.join("devices")) {
            w.add_listed(&dev);
        }
    }
    if !root.join("subsystem").is_dir() {
        for class in sorted_children(&root.join("class")) {
            for dev in sorted_children(&class) {
                w.add_listed(&dev);
            }
        }
    }
    if t == TriggerType::All {
        for m in sorted_children(&root.join("module")) {
            let name =
                m.file_name().unwrap_or(OsStr::new("")).to_string_lossy();
            w.add_plain(
                format!("/module/{name}"),
                "module",
                EntryKind::Module,
            );
        }
        let base = bus_dir
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .into_owned();
        for bus in sorted_children(&bus_dir) {
            let name =
                bus.file_name().unwrap_or(OsStr::new("")).to_string_lossy();
            w.add_plain(format!("/{base}/{name}"), "bus", EntryKind::Bus);
            for drv in sorted_children(&bus.join("drivers")) {
                let d = drv
                    .file_name()
                    .unwrap_or(OsStr::new(""))
                    .to_string_lossy();
                w.add_plain(
                    format!("/{base}/{name}/drivers/{d}"),
                    "drivers",
                    EntryKind::Driver,
                );
            }
        }
    }
    Ok(w.out)
}

/// systemd's `path_compare`: component by component, a prefix first.
pub fn path_compare(a: &str, b: &str) -> std::cmp::Ordering {
    let mut x = a.split('/').filter(|c| !c.is_empty());
    let mut y = b.split('/').filter(|c| !c.is_empty());
    loop {
        match (x.next(), y.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(p), Some(q)) => match p.as_bytes().cmp(q.as_bytes()) {
                std::cmp::Ordering::Equal => continue,
                o => return o,
            },
        }
    }
}

fn is_late_block(p: &str) -> bool {
    p.contains("/block/md") || p.contains("/block/dm-")
}

fn sound_compare(a: &str, b: &str) -> std::cmp::Ordering {
    const CARD: &str = "/sound/card";
    let Some(i) = a.find(CARD) else {
        return std::cmp::Ordering::Equal;
    };
    let after = i + CARD.len();
    let Some(slash) = a[after..].find('/') else {
        return std::cmp::Ordering::Equal;
    };
    let prefix = after + slash;
    if b.len() < prefix || a.as_bytes()[..prefix] != b.as_bytes()[..prefix] {
        return std::cmp::Ordering::Equal;
    }
    let ca = a[prefix..].starts_with("/controlC");
    let cb = b[prefix..].starts_with("/controlC");
    ca.cmp(&cb)
}

/// systemd's `device_compare` (device-enumerator.c).
pub fn device_compare(a: &str, b: &str) -> std::cmp::Ordering {
    sound_compare(a, b)
        .then_with(|| is_late_block(a).cmp(&is_late_block(b)))
        .then_with(|| path_compare(a, b))
}

/// Sort as `enumerator_sort_devices`: each prioritized subsystem's
/// entries with their enumerated ancestors first, then the rest.
pub fn sort(entries: Vec<Entry>, prioritized: &[String]) -> Vec<Entry> {
    let mut pool: Vec<Option<Entry>> = entries.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(pool.len());
    let by_path: std::collections::HashMap<String, usize> = pool
        .iter()
        .enumerate()
        .map(|(i, e)| (e.as_ref().unwrap().devpath.clone(), i))
        .collect();
    for sub in prioritized {
        let mut group = Vec::new();
        for i in 0..pool.len() {
            if pool[i].as_ref().is_some_and(|e| &e.subsystem == sub) {
                let e = pool[i].take().unwrap();
                let mut p = e.devpath.clone();
                group.push(e);
                while let Some(cut) = p.rfind('/') {
                    p.truncate(cut);
                    if let Some(&j) = by_path.get(&p) {
                        if let Some(anc) = pool[j].take() {
                            group.push(anc);
                        }
                    }
                }
            }
        }
        group.sort_by(|a, b| device_compare(&a.devpath, &b.devpath));
        out.extend(group);
    }
    let mut rest: Vec<Entry> = pool.into_iter().flatten().collect();
    rest.sort_by(|a, b| device_compare(&a.devpath, &b.devpath));
    out.extend(rest);
    out
}

/// How the events are numbered and marked.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// SYNTH_UUID of each event.
    pub uuid: UuidMode,
    /// Seed for random UUIDs.
    pub seed: u64,
    /// SEQNUM of the first event.
    pub first_seqnum: u64,
}

/// What a walk produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SynthReport {
    /// Events handed to the sink.
    pub events: u64,
    /// Devices skipped with the reason.
    pub skipped: Vec<(String, String)>,
}

fn uuid_string(seed: u64, n: u64) -> String {
    let a = mix(seed ^ (5 << 56) ^ (2 * n));
    let b = mix(seed ^ (5 << 56) ^ (2 * n + 1));
    let a = (a & !0xf000) | 0x4000;
    let b = (b & !(0xc << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Build the kernel datagram for `entry` into `out`, from the text of
/// its `uevent` file (empty for buses, drivers and modules, whose
/// `uevent` files are write-only).
pub fn synth_datagram(
    entry: &Entry,
    uevent_text: &[u8],
    uuid: &str,
    seqnum: u64,
    out: &mut Vec<u8>,
) -> Result<(), uevent::ParseError> {
    // Validate with the sysfs parser (no NUL, no ACTION/DEVPATH/SEQNUM).
    uevent::sysfs::parse(uevent_text, entry.devpath.as_bytes(), Action::Add)?;
    out.clear();
    out.extend_from_slice(b"add@");
    out.extend_from_slice(entry.devpath.as_bytes());
    out.push(0);
    let mut put = |k: &str, v: &[u8]| {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v);
        out.push(0);
    };
    put("ACTION=", b"add");
    put("DEVPATH=", entry.devpath.as_bytes());
    put("SUBSYSTEM=", entry.subsystem.as_bytes());
    put("SYNTH_UUID=", uuid.as_bytes());
    let mut prev_nonempty = false;
    // Every line ends in '\n'; drop the last one before splitting.
    let body = uevent_text.strip_suffix(b"\n").unwrap_or(uevent_text);
    for line in body.split(|&b| b == b'\n') {
        if line.is_empty() {
            if prev_nonempty {
                // uevent_show printed "VALUE\n\n": the value ends in \n.
                let nul = out.pop();
                debug_assert_eq!(nul, Some(0));
                out.extend_from_slice(b"\n\0");
            }
            prev_nonempty = false;
            continue;
        }
        if !line.contains(&b'=') {
            // sd-device skips such lines; the kernel never writes them.
            prev_nonempty = false;
            continue;
        }
        out.extend_from_slice(line);
        out.push(0);
        prev_nonempty = true;
    }
    out.extend_from_slice(b"SEQNUM=");
    out.extend_from_slice(seqnum.to_string().as_bytes());
    out.push(0);
    Ok(())
}

/// Walk `root` and hand each synthetic `add` datagram to `sink`, in
/// udevadm's order.
pub fn synthesize(
    root: &Path,
    t: TriggerType,
    prioritized: &[String],
    opts: SynthOptions,
    mut sink: impl FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<SynthReport> {
    let entries = sort(enumerate(root, t)?, prioritized);
    let root = fs::canonicalize(root)?;
    let mut rep = SynthReport::default();
    let mut seqnum = opts.first_seqnum;
    let mut buf = Vec::with_capacity(uevent::MAX_RECORD);
    for e in &entries {
        let text = match e.kind {
            EntryKind::Device => {
                let p = root.join(&e.devpath[1..]).join("uevent");
                match fs::read(&p) {
                    Ok(t) => t,
                    Err(err) => {
                        rep.skipped.push((e.devpath.clone(), err.to_string()));
                        continue;
                    }
                }
            }
            _ => Vec::new(),
        };
        let uuid = match opts.uuid {
            UuidMode::Zero => "0".to_string(),
            UuidMode::Random => uuid_string(opts.seed, rep.events),
        };
        if let Err(err) = synth_datagram(e, &text, &uuid, seqnum, &mut buf) {
            rep.skipped.push((e.devpath.clone(), err.to_string()));
            continue;
        }
        if buf.len() > uevent::MAX_RECORD {
            rep.skipped.push((e.devpath.clone(), "event too large".into()));
            continue;
        }
        sink(&buf)?;
        rep.events += 1;
        seqnum += 1;
    }
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn path_compare_like_systemd() {
        assert_eq!(path_compare("/foo", "/foo/bar"), Less);
        assert_eq!(path_compare("/foo/aaa", "/foo/b"), Less);
        assert_eq!(path_compare("/foo/a", "/foo/aaa"), Less);
        assert_eq!(path_compare("/foo//a/", "/foo/a"), Equal);
        // Not strcmp: '-' (0x2d) sorts before '/' (0x2f) there.
        assert_eq!(path_compare("/a/b/c", "/a/b-c"), Less);
        assert_eq!("/a/b/c".cmp("/a/b-c"), Greater);
    }

    #[test]
    fn late_block_and_sound() {
        assert_eq!(
            device_compare("/devices/virtual/block/md0", "/devices/z"),
            Greater
        );
        let c = "/devices/pci0/sound/card0/controlC0";
        let p = "/devices/pci0/sound/card0/pcmC0D0p";
        assert_eq!(device_compare(c, p), Greater);
    }

    #[test]
    fn newline_values_come_back() {
        let e = Entry {
            devpath: "/devices/system/cpu/cpu0".into(),
            subsystem: "cpu".into(),
            kind: EntryKind::Device,
        };
        let mut out = Vec::new();
        synth_datagram(
            &e,
            b"DRIVER=processor\nMODALIAS=cpu:x\n\n",
            "0",
            7,
            &mut out,
        )
        .unwrap();
        let ev = uevent::kernel::parse(&out).unwrap();
        assert_eq!(ev.get(b"MODALIAS"), Some(&b"cpu:x\n"[..]));
        assert_eq!(ev.get(b"SYNTH_UUID"), Some(&b"0"[..]));
        assert_eq!(ev.seqnum(), Some(7));
    }
}
