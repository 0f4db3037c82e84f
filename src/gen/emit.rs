//! The streaming emitter: walks the LPAR model and builds each uevent
//! as the kernel would send it, one at a time, into one reused buffer,
//! and hands the datagram to a [`Sink`].
//!
//! # Which events, in which order
//! A trace is what a listener on the kernel netlink group sees.
//!
//! 1. **Boot** (only with `--phase boot|all`): the kernel's own events
//!    before userspace runs, so nobody receives them on a real machine.
//!    `channel_subsystem_init` is a `subsys_initcall` and
//!    `channel_subsystem_init_sync` waits for the slow-path evaluation
//!    and ccw recognition (css.c), so every CSS event comes first: per
//!    subchannel in (ssid, number) order, either the delayed subchannel
//!    `add` (DRIVER=io_subchannel, sent from `io_subchannel_register`)
//!    then the ccw `add` (≤5.16), or `add`, `bind DRIVER=io_subchannel`,
//!    then the ccw `add` or, for an absent device, `unbind` and
//!    `remove` (5.17+). The true interleaving depends on recognition
//!    timing; we keep each subchannel's events together. Then the AP
//!    bus's first scan (`ap_scan_bus`, queued on `system_long_wq` by a
//!    `device_initcall`): per adapter the card `add`, then its queues,
//!    then the root's `INITSCAN=done` and, when there are no queues,
//!    `BINDINGS=complete`. No `bind`: zcrypt is a module, unless
//!    `--zcrypt-builtin`, where each `add` is followed by its `bind`
//!    (cex4card, cex4queue) and the scan ends with `BINDINGS=complete`
//!    (`ap_check_bindings_complete` after `ap_scan_bus_count` reaches
//!    1; the per-probe checks before that do nothing).
//! 2. **Coldplug** (default): what udevd receives. With `--ap-scan
//!    late` the first AP scan ends after udevd started, so its events
//!    come here. Then the adds of `udevadm trigger --action=add`, in
//!    its order (device-enumerator.c `device_compare`: `path_compare`
//!    of the devpaths; no md/dm or sound devices here): `/bus/*` and
//!    drivers (with `--type=all`), `/devices/ap/cardXX` each followed by
//!    its queues, `/devices/css0/0.S.NNNN` each followed by its ccw
//!    device. `/devices/ap`, `/devices/css0`, `chpX.YY` and `defunct`
//!    have no `subsystem` link, so udevadm never enumerates them.
//!    Last, optionally, the qeth ccwgroup `add`+`bind` pairs that
//!    zdev's group writes cause, and the APMASK/AQMASK changes of a
//!    persisted mask.
//!
//! Events caused by loading a module (driver binds, `/module/X` and
//! `/bus/X/drivers/Y` adds, `BINDINGS=complete` after zcrypt binds)
//! are the replay engine's to add; they are not in the trace. SEQNUMs
//! count every event of both phases, so a coldplug-only trace starts
//! after the numbers the boot phase used.
//!
//! # Keys and their order
//! `kobject_uevent_env`: ACTION, DEVPATH, SUBSYSTEM, the caller's keys
//! (SYNTH_UUID, INITSCAN, ...), then `dev_uevent` (DEVTYPE, DRIVER),
//! then the bus callback (`ap_uevent`, `css_uevent`, `ccw_uevent`),
//! SEQNUM last. `unbind` drops MODALIAS (`zap_modalias_env`).

use std::io::{self, Write};

use super::s390::{
    mix, ApScan, Card, CcwId, Config, Kind, Layout, Phase, Subchannel,
    TriggerType, UuidMode, TAG_UUID,
};
use crate::uevent::{self, Source};

/// Receives each datagram with its CLOCK_MONOTONIC time.
pub trait Sink {
    /// One kernel datagram (`ACTION@DEVPATH\0KEY=VALUE\0...`).
    fn event(&mut self, ts_ns: u64, datagram: &[u8]) -> io::Result<()>;
}

impl<F: FnMut(u64, &[u8]) -> io::Result<()>> Sink for F {
    fn event(&mut self, ts_ns: u64, datagram: &[u8]) -> io::Result<()> {
        self(ts_ns, datagram)
    }
}

/// What a run produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Events handed to the sink.
    pub events: u64,
    /// Boot events (emitted or only counted).
    pub boot_events: u64,
    /// SEQNUM of the first event handed to the sink.
    pub first_seqnum: u64,
    /// SEQNUM of the last event handed to the sink.
    pub last_seqnum: u64,
    /// Time of the first and last event, ns.
    pub first_ns: u64,
    /// Time of the last event, ns.
    pub last_ns: u64,
}

struct Emitter<'s, S: Sink> {
    sink: &'s mut S,
    buf: Vec<u8>,
    path: Vec<u8>,
    seqnum: u64,
    rate: u64,
    phase_start_ns: u64,
    phase_index: u64,
    last_ns: u64,
    events: u64,
    first_seqnum: u64,
    first_ns: u64,
    uuid_seed: u64,
    uuid_mode: UuidMode,
    uuids: u64,
}

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn hex(out: &mut Vec<u8>, v: u64, digits: u32, table: &[u8; 16]) {
    for i in (0..digits).rev() {
        out.push(table[((v >> (4 * i)) & 0xf) as usize]);
    }
}

fn dec(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// `0.%x.%04x`: the bus id of subchannels and ccw devices.
fn bus_id(out: &mut Vec<u8>, ssid: u8, no: u16) {
    out.extend_from_slice(b"0.");
    hex(out, u64::from(ssid), 1, HEX_LOWER);
    out.push(b'.');
    hex(out, u64::from(no), 4, HEX_LOWER);
}

impl<'s, S: Sink> Emitter<'s, S> {
    fn start_phase(&mut self, at_ns: u64) {
        self.phase_start_ns = at_ns;
        self.phase_index = 0;
    }

    fn next_ns(&mut self) -> u64 {
        let off = u128::from(self.phase_index) * 1_000_000_000
            / u128::from(self.rate);
        self.phase_index += 1;
        self.phase_start_ns + off as u64
    }

    /// Start an event for the devpath in `self.path`.
    fn begin(&mut self, action: &[u8], subsystem: &[u8]) {
        let b = &mut self.buf;
        b.clear();
        b.extend_from_slice(action);
        b.push(b'@');
        b.extend_from_slice(&self.path);
        b.push(0);
        b.extend_from_slice(b"ACTION=");
        b.extend_from_slice(action);
        b.push(0);
        b.extend_from_slice(b"DEVPATH=");
        b.extend_from_slice(&self.path);
        b.push(0);
        b.extend_from_slice(b"SUBSYSTEM=");
        b.extend_from_slice(subsystem);
        b.push(0);
    }

    fn kv(&mut self, key: &[u8], value: &[u8]) {
        self.buf.extend_from_slice(key);
        self.buf.push(b'=');
        self.buf.extend_from_slice(value);
        self.buf.push(0);
    }

    fn kv_hex(&mut self, key: &[u8], v: u64, digits: u32) {
        self.buf.extend_from_slice(key);
        self.buf.push(b'=');
        hex(&mut self.buf, v, digits, HEX_UPPER);
        self.buf.push(0);
    }

    /// `SYNTH_UUID=` as `kobject_synth_uevent` writes it.
    fn synth_uuid(&mut self) {
        self.buf.extend_from_slice(b"SYNTH_UUID=");
        match self.uuid_mode {
            UuidMode::Zero => self.buf.push(b'0'),
            UuidMode::Random => {
                // A version 4 UUID, as sd_id128_randomize makes them,
                // printed lower-case 8-4-4-4-12.
                let n = self.uuids;
                self.uuids += 1;
                let a = mix(self.uuid_seed ^ TAG_UUID ^ (2 * n));
                let b = mix(self.uuid_seed ^ TAG_UUID ^ (2 * n + 1));
                let a = (a & !0xf000) | 0x4000;
                let b = (b & !(0xc << 60)) | (0x8 << 60);
                let out = &mut self.buf;
                hex(out, a >> 32, 8, HEX_LOWER);
                out.push(b'-');
                hex(out, (a >> 16) & 0xffff, 4, HEX_LOWER);
                out.push(b'-');
                hex(out, a & 0xffff, 4, HEX_LOWER);
                out.push(b'-');
                hex(out, b >> 48, 4, HEX_LOWER);
                out.push(b'-');
                hex(out, b & 0xffff_ffff_ffff, 12, HEX_LOWER);
            }
        }
        self.buf.push(0);
    }

    /// Append SEQNUM and hand the event over (or only count it).
    fn finish(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(b"SEQNUM=");
        dec(&mut self.buf, self.seqnum);
        self.buf.push(0);
        let ts = self.next_ns();
        if self.events == 0 {
            self.first_seqnum = self.seqnum;
            self.first_ns = ts;
        }
        self.sink.event(ts, &self.buf)?;
        self.events += 1;
        self.last_ns = ts;
        self.seqnum += 1;
        Ok(())
    }

    fn set_path_root_ap(&mut self) {
        self.path.clear();
        self.path.extend_from_slice(b"/devices/ap");
    }

    fn set_path_card(&mut self, id: u8) {
        self.path.clear();
        self.path.extend_from_slice(b"/devices/ap/card");
        hex(&mut self.path, u64::from(id), 2, HEX_LOWER);
    }

    fn set_path_queue(&mut self, id: u8, domain: u16) {
        self.set_path_card(id);
        self.path.push(b'/');
        hex(&mut self.path, u64::from(id), 2, HEX_LOWER);
        self.path.push(b'.');
        hex(&mut self.path, u64::from(domain), 4, HEX_LOWER);
    }

    fn set_path_sch(&mut self, sch: &Subchannel) {
        self.path.clear();
        self.path.extend_from_slice(b"/devices/css0/");
        bus_id(&mut self.path, sch.ssid, sch.sch_no);
    }

    fn set_path_ccw(&mut self, sch: &Subchannel) {
        self.set_path_sch(sch);
        self.path.push(b'/');
        bus_id(&mut self.path, sch.ssid, sch.devno);
    }
}

/// The AP env after DEVTYPE (and DRIVER): `ap_uevent` per era.
fn ap_keys<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    card: &Card,
    queue: bool,
) {
    let b = cfg.era.behaviour();
    if b.queue_modalias || !queue {
        e.kv_hex(b"DEV_TYPE", u64::from(card.ap_type), 4);
        e.buf.extend_from_slice(b"MODALIAS=ap:t");
        hex(&mut e.buf, u64::from(card.ap_type), 2, HEX_UPPER);
        e.buf.push(0);
    }
    if b.mode_key {
        e.kv(b"MODE", card.mode.name().as_bytes());
    }
}

/// The driver zcrypt_cex4 binds to AP cards (true) or queues.
fn zcrypt_driver(card: bool) -> &'static [u8] {
    if card {
        b"cex4card"
    } else {
        b"cex4queue"
    }
}

/// A card (`domain` None) or queue event.
fn ap_event<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    card: &Card,
    domain: Option<u16>,
    action: &[u8],
    synth: bool,
) -> io::Result<()> {
    match domain {
        None => e.set_path_card(card.id),
        Some(d) => e.set_path_queue(card.id, d),
    }
    e.begin(action, b"ap");
    if synth {
        e.synth_uuid();
    }
    let is_card = domain.is_none();
    e.kv(b"DEVTYPE", if is_card { b"ap_card" } else { b"ap_queue" });
    // Bound when zcrypt is built in (the bind itself already sees it).
    if cfg.zcrypt_builtin && (synth || action == b"bind") {
        e.kv(b"DRIVER", zcrypt_driver(is_card));
    }
    ap_keys(e, cfg, card, !is_card);
    e.finish()
}

/// A device's add during a scan, then its bind when a driver is there.
fn ap_scanned<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    card: &Card,
    domain: Option<u16>,
    synth: bool,
) -> io::Result<()> {
    ap_event(e, cfg, card, domain, b"add", synth)?;
    if !synth && cfg.zcrypt_builtin {
        ap_event(e, cfg, card, domain, b"bind", false)?;
    }
    Ok(())
}

/// Every AP device, cards each followed by their queues: both the
/// order of `ap_scan_bus` and the devpath order of udevadm.
fn ap_devices<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    synth: bool,
) -> io::Result<()> {
    let s = &cfg.sizes;
    for id in 0..s.cards {
        let card = cfg.card(id as u8);
        ap_scanned(e, cfg, &card, None, synth)?;
        for d in s.first_domain..s.first_domain + s.domains {
            ap_scanned(e, cfg, &card, Some(d), synth)?;
        }
    }
    Ok(())
}

/// The first AP bus scan as the kernel sends it.
fn ap_scan<S: Sink>(e: &mut Emitter<'_, S>, cfg: &Config) -> io::Result<()> {
    ap_devices(e, cfg, false)?;
    let b = cfg.era.behaviour();
    if b.initscan {
        // ap_send_init_scan_done_uevent
        e.set_path_root_ap();
        e.begin(b"change", b"ap");
        e.kv(b"INITSCAN", b"done");
        e.finish()?;
    }
    let queues = u32::from(cfg.sizes.cards) * u32::from(cfg.sizes.domains);
    if b.bindings_complete && (queues == 0 || cfg.zcrypt_builtin) {
        // ap_check_bindings_complete at the end of the first scan (the
        // per-probe checks wait for ap_scan_bus_count >= 1): every
        // queue bound, or none there.
        e.set_path_root_ap();
        e.begin(b"change", b"ap");
        e.kv(b"BINDINGS", b"complete");
        if b.completecount {
            e.kv(b"COMPLETECOUNT", b"1");
        }
        e.finish()?;
    }
    Ok(())
}

/// A subchannel event: `css_uevent` adds ST and MODALIAS.
fn sch_event<S: Sink>(
    e: &mut Emitter<'_, S>,
    sch: &Subchannel,
    action: &[u8],
    synth: bool,
    driver: bool,
) -> io::Result<()> {
    e.set_path_sch(sch);
    e.begin(action, b"css");
    if synth {
        e.synth_uuid();
    }
    if driver {
        e.kv(b"DRIVER", b"io_subchannel");
    }
    e.kv(b"ST", b"0");
    if action != b"unbind" {
        e.kv(b"MODALIAS", b"css:t0");
    }
    e.finish()
}

/// A ccw device `add`: `ccw_uevent` and `snprint_alias` (device.c).
fn ccw_add<S: Sink>(
    e: &mut Emitter<'_, S>,
    sch: &Subchannel,
    id: &CcwId,
    synth: bool,
) -> io::Result<()> {
    e.set_path_ccw(sch);
    e.begin(b"add", b"ccw");
    if synth {
        e.synth_uuid();
    }
    e.kv_hex(b"CU_TYPE", u64::from(id.cu_type), 4);
    e.kv_hex(b"CU_MODEL", u64::from(id.cu_model), 2);
    e.kv_hex(b"DEV_TYPE", u64::from(id.dev_type), 4);
    e.kv_hex(b"DEV_MODEL", u64::from(id.dev_model), 2);
    let b = &mut e.buf;
    b.extend_from_slice(b"MODALIAS=ccw:t");
    hex(b, u64::from(id.cu_type), 4, HEX_UPPER);
    b.push(b'm');
    hex(b, u64::from(id.cu_model), 2, HEX_UPPER);
    b.extend_from_slice(b"dt");
    if id.dev_type != 0 {
        hex(b, u64::from(id.dev_type), 4, HEX_UPPER);
        b.extend_from_slice(b"dm");
        hex(b, u64::from(id.dev_model), 2, HEX_UPPER);
    } else {
        b.extend_from_slice(b"dm");
    }
    b.push(0);
    e.finish()
}

fn for_each_subchannel<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    layout: &Layout,
    mut f: impl FnMut(&mut Emitter<'_, S>, &Subchannel) -> io::Result<()>,
) -> io::Result<()> {
    for ssid in 0..layout.ssids {
        let n = layout.sets[usize::from(ssid)].total();
        for no in 0..n {
            let sch = layout.subchannel(cfg.seed, ssid, no as u16);
            f(e, &sch)?;
        }
    }
    Ok(())
}

fn boot<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    layout: &Layout,
) -> io::Result<()> {
    let delayed = cfg.era.behaviour().cio_delayed_add;
    for_each_subchannel(e, cfg, layout, |e, sch| match (sch.kind, delayed) {
        (Kind::Present(id), true) => {
            sch_event(e, sch, b"add", false, true)?;
            ccw_add(e, sch, &id, false)
        }
        (Kind::Absent, true) => Ok(()),
        (Kind::Present(id), false) => {
            sch_event(e, sch, b"add", false, false)?;
            sch_event(e, sch, b"bind", false, true)?;
            ccw_add(e, sch, &id, false)
        }
        (Kind::Absent, false) => {
            sch_event(e, sch, b"add", false, false)?;
            sch_event(e, sch, b"bind", false, true)?;
            sch_event(e, sch, b"unbind", false, false)?;
            sch_event(e, sch, b"remove", false, false)
        }
    })?;
    if cfg.ap_scan == ApScan::Early {
        ap_scan(e, cfg)?;
    }
    Ok(())
}

fn coldplug<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    layout: &Layout,
) -> io::Result<()> {
    if cfg.ap_scan == ApScan::Late {
        ap_scan(e, cfg)?;
    }
    if cfg.trigger_type == TriggerType::All {
        for (path, subsystem) in cfg.subsystem_events() {
            e.path.clear();
            e.path.extend_from_slice(path.as_bytes());
            e.begin(b"add", subsystem.as_bytes());
            e.synth_uuid();
            e.finish()?;
        }
    }
    ap_devices(e, cfg, true)?;
    for_each_subchannel(e, cfg, layout, |e, sch| match sch.kind {
        Kind::Present(id) => {
            // The subchannel is bound to io_subchannel by now.
            sch_event(e, sch, b"add", true, true)?;
            ccw_add(e, sch, &id, true)
        }
        Kind::Absent => Ok(()),
    })?;
    if cfg.qeth_groups {
        qeth_groups(e, cfg, layout)?;
    }
    if cfg.mask_change && cfg.era.behaviour().mask_uevents {
        mask_change(e, cfg)?;
    }
    Ok(())
}

/// `ccwgroup_create_dev`: the group takes the name of its first (read)
/// device; qeth's root device is `/devices/qeth`; DEVTYPE and DRIVER
/// are set before `device_add`, and ccwgroup has no uevent callback.
fn qeth_groups<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
    layout: &Layout,
) -> io::Result<()> {
    let set = &layout.sets[0];
    for port in 0..cfg.sizes.osa {
        let sch =
            layout.subchannel(cfg.seed, 0, (set.terminals + 3 * port) as u16);
        for action in [&b"add"[..], b"bind"] {
            e.path.clear();
            e.path.extend_from_slice(b"/devices/qeth/");
            bus_id(&mut e.path, 0, sch.devno);
            e.begin(action, b"ccwgroup");
            e.kv(b"DEVTYPE", b"qeth_generic");
            e.kv(b"DRIVER", b"qeth");
            e.finish()?;
        }
    }
    Ok(())
}

/// `ap_send_mask_changed_uevent` (d9b38e9d0fd3, 5.19): the last card
/// and the last domain given away (to vfio_ap). The value keeps the
/// format's trailing newline. Bit 0 is the most significant bit.
fn mask_change<S: Sink>(
    e: &mut Emitter<'_, S>,
    cfg: &Config,
) -> io::Result<()> {
    let s = &cfg.sizes;
    let last_card = s.cards.checked_sub(1).map(u32::from);
    let last_dom = (s.first_domain + s.domains).checked_sub(1).map(u32::from);
    for (key, bit) in [(&b"APMASK"[..], last_card), (b"AQMASK", last_dom)] {
        e.set_path_root_ap();
        e.begin(b"change", b"ap");
        e.buf.extend_from_slice(key);
        e.buf.extend_from_slice(b"=0x");
        for word in 0..4u32 {
            let mut w = u64::MAX;
            if let Some(b) = bit.filter(|b| b / 64 == word) {
                w &= !(1u64 << (63 - b % 64));
            }
            hex(&mut e.buf, w, 16, HEX_LOWER);
        }
        e.buf.extend_from_slice(b"\n\0");
        e.finish()?;
    }
    Ok(())
}

/// Generate the trace `cfg` describes into `sink`.
pub fn generate<S: Sink>(cfg: &Config, sink: &mut S) -> io::Result<Summary> {
    cfg.validate()
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
    let layout = Layout::new(&cfg.sizes).expect("validated");
    let counts = cfg.counts();
    let mut e = Emitter {
        sink,
        buf: Vec::with_capacity(1024),
        path: Vec::with_capacity(128),
        seqnum: cfg.first_seqnum,
        rate: cfg.rate,
        phase_start_ns: cfg.boot_at_ns,
        phase_index: 0,
        last_ns: 0,
        events: 0,
        first_seqnum: 0,
        first_ns: 0,
        uuid_seed: cfg.seed,
        uuid_mode: cfg.uuid,
        uuids: 0,
    };
    let with_boot = matches!(cfg.phase, Phase::Boot | Phase::All);
    if with_boot {
        e.start_phase(cfg.boot_at_ns);
        boot(&mut e, cfg, &layout)?;
        debug_assert_eq!(e.events, counts.boot);
    } else {
        // The boot phase used these numbers with nobody listening.
        e.seqnum += counts.boot;
    }
    if matches!(cfg.phase, Phase::Coldplug | Phase::All) {
        let after_boot = if with_boot && e.events > 0 {
            e.last_ns + 1_000_000_000 / cfg.rate
        } else {
            0
        };
        e.start_phase(cfg.trigger_at_ns.max(after_boot));
        coldplug(&mut e, cfg, &layout)?;
    }
    Ok(Summary {
        events: e.events,
        boot_events: counts.boot,
        first_seqnum: e.first_seqnum,
        last_seqnum: e.seqnum - 1,
        first_ns: e.first_ns,
        last_ns: e.last_ns,
    })
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// coldplug's trace format (default).
    Coldplug,
    /// Length-prefixed (u32 LE) kernel datagrams, as
    /// `traces/captures/kernel-trigger.nl`.
    Kernel,
    /// `udevadm monitor --kernel --property` text.
    Monitor,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "coldplug" => Ok(OutputFormat::Coldplug),
            "kernel" => Ok(OutputFormat::Kernel),
            "monitor" => Ok(OutputFormat::Monitor),
            _ => Err(format!(
                "unknown format {s:?}: expected coldplug, kernel or monitor"
            )),
        }
    }
}

/// A sink writing our trace format.
pub struct TraceSink<W: Write>(pub crate::trace::file::Writer<W>);

impl<W: Write> Sink for TraceSink<W> {
    fn event(&mut self, ts_ns: u64, datagram: &[u8]) -> io::Result<()> {
        self.0.write_datagram(ts_ns, Source::Kernel, datagram)
    }
}

/// A sink writing length-prefixed datagrams.
pub struct DatagramSink<W: Write>(pub W);

impl<W: Write> Sink for DatagramSink<W> {
    fn event(&mut self, _ts_ns: u64, datagram: &[u8]) -> io::Result<()> {
        self.0.write_all(&(datagram.len() as u32).to_le_bytes())?;
        self.0.write_all(datagram)
    }
}

/// The lines `udevadm monitor --kernel` prints before the first event
/// (udevadm-monitor.c).
pub const MONITOR_PREAMBLE: &[u8] = b"monitor will print the received \
events for:\nKERNEL - the kernel uevent\n\n";

/// A sink writing `udevadm monitor --kernel --property` text through
/// [`uevent::monitor::encode`]; write [`MONITOR_PREAMBLE`] first.
pub struct MonitorSink<W: Write> {
    out: W,
    text: Vec<u8>,
}

impl<W: Write> MonitorSink<W> {
    /// Write the preamble and return the sink.
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MONITOR_PREAMBLE)?;
        Ok(MonitorSink { out, text: Vec::with_capacity(2048) })
    }

    /// The writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Sink for MonitorSink<W> {
    fn event(&mut self, ts_ns: u64, datagram: &[u8]) -> io::Result<()> {
        let ev = uevent::kernel::parse(datagram).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, e.to_string())
        })?;
        self.text.clear();
        uevent::monitor::encode(&ev, ts_ns, &mut self.text);
        self.out.write_all(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::era::Era;
    use crate::gen::s390::Preset;

    #[test]
    fn formatting_helpers() {
        let mut v = Vec::new();
        dec(&mut v, 0);
        dec(&mut v, 1234567);
        assert_eq!(v, b"01234567");
        v.clear();
        bus_id(&mut v, 3, 0xf500);
        assert_eq!(v, b"0.3.f500");
    }

    #[test]
    fn counts_match_emitted() {
        for (era, zcrypt) in
            Era::ALL.into_iter().flat_map(|e| [(e, false), (e, true)])
        {
            let mut cfg = Config::new(Preset::Small, era);
            cfg.phase = Phase::All;
            cfg.qeth_groups = true;
            cfg.mask_change = true;
            cfg.zcrypt_builtin = zcrypt;
            let mut n = 0u64;
            let s = generate(&cfg, &mut |_: u64, _: &[u8]| {
                n += 1;
                Ok(())
            })
            .unwrap();
            let c = cfg.counts();
            assert_eq!(n, c.boot + c.coldplug, "{era}");
            assert_eq!(s.last_seqnum, c.boot + c.coldplug);
        }
    }

    #[test]
    fn random_uuids_are_v4() {
        let mut cfg = Config::new(Preset::Small, Era::V6_12);
        cfg.uuid = UuidMode::Random;
        let mut seen = Vec::new();
        generate(&cfg, &mut |_: u64, d: &[u8]| {
            let ev = uevent::kernel::parse(d).unwrap();
            if let Some(u) = ev.get(b"SYNTH_UUID") {
                seen.push(u.to_vec());
            }
            Ok(())
        })
        .unwrap();
        assert!(!seen.is_empty());
        for u in &seen {
            assert_eq!(u.len(), 36);
            assert_eq!(u[14], b'4');
            assert!(b"89ab".contains(&u[19]));
        }
        let mut d = seen.clone();
        d.sort();
        d.dedup();
        assert_eq!(d.len(), seen.len());
    }
}
