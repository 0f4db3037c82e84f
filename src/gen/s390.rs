//! The LPAR model: how many crypto adapters, domains, subchannels and
//! devices of which kind, laid out the way the generator walks them.
//!
//! Nothing here is stored per device: card types, DASD control units
//! and device numbers are computed from the index and the seed, so
//! memory does not grow with the size of the LPAR.
//!
//! # Layout of the channel subsystem
//! Up to four subchannel sets (`__MAX_SSID` = 3, css.h), each with up
//! to 65,536 subchannels (`__MAX_SUBCHANNEL` = 65535). Subchannel
//! numbers are dense from 0 in every set, as the machine assigns them
//! in IOCDS order. Set 0 holds, in this order, the 3270 terminals, the
//! OSA devices (three per port: read, write, data), the FCP (zfcp)
//! devices and the tapes; then every set gets its share of DASD, then
//! of defined-but-absent devices. Only DASD and absent devices go to
//! sets 1-3, as on real machines where alternate sets hold PPRC
//! secondaries and aliases. Device numbers are the subchannel number
//! plus 0x0100 (or less when the set is nearly full), so they are
//! unique in each set: synthetic, not taken from any IOCDS.

use super::era::Era;

/// Subchannels per set (`__MAX_SUBCHANNEL` + 1).
pub const SUBCHANNELS_PER_SET: u32 = 65_536;
/// Subchannel sets (`__MAX_SSID` + 1).
pub const MAX_SSIDS: u8 = 4;
/// AP adapters (`AP_DEVICES`, ap_bus.h since 4.10).
pub const AP_DEVICES: u16 = 256;
/// AP domains (`AP_DOMAINS`, ap_bus.h since 4.10).
pub const AP_DOMAINS: u16 = 256;

/// AP device types (ap_bus.h `AP_DEVICE_TYPE_CEX4` ..).
pub const CEX4: u8 = 10;
/// CEX5 = 0x0B.
pub const CEX5: u8 = 11;
/// CEX6 = 0x0C.
pub const CEX6: u8 = 12;
/// CEX7 = 0x0D.
pub const CEX7: u8 = 13;
/// CEX8 = 0x0E.
pub const CEX8: u8 = 14;

/// A crypto adapter's mode, as `ap_uevent` names it in `MODE=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Accelerator (CEXnA).
    Accel,
    /// CCA coprocessor (CEXnC).
    Cca,
    /// EP11 coprocessor (CEXnP).
    Ep11,
}

impl Mode {
    /// The `MODE=` value.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Accel => "accel",
            Mode::Cca => "cca",
            Mode::Ep11 => "ep11",
        }
    }
}

/// Card type choice: one type for every card, or mixed by seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardType {
    /// Every card has this AP type (10..=14).
    Fixed(u8),
    /// Each card draws a type the era knows, from CEX4 up.
    Mixed,
}

impl std::str::FromStr for CardType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let l = s.to_ascii_lowercase();
        match l.as_str() {
            "mixed" => Ok(CardType::Mixed),
            "cex4" => Ok(CardType::Fixed(CEX4)),
            "cex5" => Ok(CardType::Fixed(CEX5)),
            "cex6" => Ok(CardType::Fixed(CEX6)),
            "cex7" => Ok(CardType::Fixed(CEX7)),
            "cex8" => Ok(CardType::Fixed(CEX8)),
            _ => Err(format!(
                "unknown card type {s:?}: expected cex4..cex8 or mixed"
            )),
        }
    }
}

/// Mode choice: one mode for every card, or mixed by seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeChoice {
    /// Every card in this mode.
    Fixed(Mode),
    /// Half CCA, a quarter each accelerator and EP11.
    Mixed,
}

impl std::str::FromStr for ModeChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mixed" => Ok(ModeChoice::Mixed),
            "accel" => Ok(ModeChoice::Fixed(Mode::Accel)),
            "cca" => Ok(ModeChoice::Fixed(Mode::Cca)),
            "ep11" => Ok(ModeChoice::Fixed(Mode::Ep11)),
            _ => Err(format!(
                "unknown mode {s:?}: expected accel, cca, ep11 or mixed"
            )),
        }
    }
}

/// A named size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// A small test LPAR, as in the worked example of s390-uevents.md §6
    /// scaled up a little.
    Small,
    /// A mid-size production LPAR.
    Medium,
    /// The architectural maxima.
    Max,
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "small" => Ok(Preset::Small),
            "medium" => Ok(Preset::Medium),
            "max" => Ok(Preset::Max),
            _ => Err(format!(
                "unknown preset {s:?}: expected small, medium or max"
            )),
        }
    }
}

/// Sizes of an LPAR. Build one from a [`Preset`] and override fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sizes {
    /// Crypto adapters (AP cards), ids 0..cards.
    pub cards: u16,
    /// Usage domains per card, ids `first_domain`.. .
    pub domains: u16,
    /// First domain id.
    pub first_domain: u16,
    /// ECKD DASD (3390 on 3990 or 2107 control units).
    pub dasd: u32,
    /// OSA Express ports in QDIO mode, three ccw devices each.
    pub osa: u32,
    /// FCP channels (zfcp).
    pub zfcp: u32,
    /// Tape drives.
    pub tape: u32,
    /// 3270 terminals.
    pub terminals: u32,
    /// I/O subchannels defined in the IOCDS whose device is absent.
    pub absent: u32,
    /// Subchannel sets in use (1..=4).
    pub ssids: u8,
}

impl Preset {
    /// The sizes of a preset.
    ///
    /// - `small`: 2 cards x 4 domains, 16 DASD, 1 OSA port, 2 FCP, 1
    ///   terminal, 8 absent, one set. The shape of the worked example
    ///   in s390-uevents.md §6 (two cards, a few domains, DASD and OSA
    ///   on set 0); sizes illustrative.
    /// - `medium`: 16 cards x 85 domains (85 = the z13-and-later domain
    ///   limit, `ap_max_domain_id=0x54`, IBM docs cited in
    ///   s390-uevents.md §2), 4,000 DASD over 2 sets, 16 OSA ports, 32
    ///   FCP, 8 tapes, 4 terminals, 2,000 absent: an illustrative
    ///   mid-size production LPAR.
    /// - `max`: the architecture: 256 cards x 256 domains (`AP_DEVICES`,
    ///   `AP_DOMAINS` in ap_bus.h) and 4 x 65,536 subchannels
    ///   (`__MAX_SSID`, `__MAX_SUBCHANNEL`), all defined: 256 OSA ports,
    ///   256 FCP, 64 tapes, 32 terminals, one set's worth (65,536) of
    ///   absent devices, DASD in the rest (195,488).
    pub fn sizes(self) -> Sizes {
        match self {
            Preset::Small => Sizes {
                cards: 2,
                domains: 4,
                first_domain: 0,
                dasd: 16,
                osa: 1,
                zfcp: 2,
                tape: 0,
                terminals: 1,
                absent: 8,
                ssids: 1,
            },
            Preset::Medium => Sizes {
                cards: 16,
                domains: 85,
                first_domain: 0,
                dasd: 4_000,
                osa: 16,
                zfcp: 32,
                tape: 8,
                terminals: 4,
                absent: 2_000,
                ssids: 2,
            },
            Preset::Max => Sizes {
                cards: AP_DEVICES,
                domains: AP_DOMAINS,
                first_domain: 0,
                dasd: 195_488,
                osa: 256,
                zfcp: 256,
                tape: 64,
                terminals: 32,
                absent: 65_536,
                ssids: MAX_SSIDS,
            },
        }
    }
}

/// Which events the trace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// What udevd sees: the coldplug trigger and the kernel events of
    /// that time (default).
    Coldplug,
    /// Only the in-kernel boot events, sent before any listener.
    Boot,
    /// Boot events, then the coldplug.
    All,
}

impl std::str::FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "coldplug" => Ok(Phase::Coldplug),
            "boot" => Ok(Phase::Boot),
            "all" => Ok(Phase::All),
            _ => Err(format!(
                "unknown phase {s:?}: expected coldplug, boot or all"
            )),
        }
    }
}

/// What `udevadm trigger --type=` enumerates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    /// Devices only (`--type=devices`).
    Devices,
    /// Devices, buses and drivers (`--type=all`, systemd's unit).
    All,
}

impl std::str::FromStr for TriggerType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "devices" => Ok(TriggerType::Devices),
            "all" => Ok(TriggerType::All),
            _ => Err(format!(
                "unknown trigger type {s:?}: expected devices or all"
            )),
        }
    }
}

/// What the synthetic adds carry in `SYNTH_UUID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UuidMode {
    /// `SYNTH_UUID=0`: a bare `add` write (udevadm without `--uuid`,
    /// systemd 252 as in traces/captures, mdevd, ueventd).
    Zero,
    /// A random UUID per device (newest udevadm-trigger.c always calls
    /// `sd_device_trigger_with_uuid`); drawn from the seed.
    Random,
}

impl std::str::FromStr for UuidMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "zero" => Ok(UuidMode::Zero),
            "random" => Ok(UuidMode::Random),
            _ => Err(format!(
                "unknown uuid mode {s:?}: expected zero or random"
            )),
        }
    }
}

/// When the AP bus's first (asynchronous) scan finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApScan {
    /// Before udevd listens: part of the boot phase.
    Early,
    /// After udevd listens, before the trigger: udevd sees the kernel's
    /// own AP adds and INITSCAN, then the trigger's adds.
    Late,
}

impl std::str::FromStr for ApScan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "early" => Ok(ApScan::Early),
            "late" => Ok(ApScan::Late),
            _ => Err(format!(
                "unknown AP scan time {s:?}: expected early or late"
            )),
        }
    }
}

/// Everything the generator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Kernel behaviour.
    pub era: Era,
    /// Sizes.
    pub sizes: Sizes,
    /// Card types.
    pub card_type: CardType,
    /// Card modes.
    pub mode: ModeChoice,
    /// Seed for every random choice.
    pub seed: u64,
    /// Which phases to emit.
    pub phase: Phase,
    /// When the AP bus's first scan ends.
    pub ap_scan: ApScan,
    /// What the trigger enumerates.
    pub trigger_type: TriggerType,
    /// SYNTH_UUID of the trigger's adds.
    pub uuid: UuidMode,
    /// Append the qeth ccwgroup add/bind pairs that zdev's group writes
    /// cause once qeth is loaded.
    pub qeth_groups: bool,
    /// zcrypt and zcrypt_cex4 are built in (`CONFIG_ZCRYPT=y`): their
    /// drivers are registered before the first AP scan, so every AP
    /// `add` is followed by a `bind` (cex4card, cex4queue) and the
    /// scan ends with `BINDINGS=complete`; the trigger's adds carry
    /// DRIVER and `--trigger-type all` adds the two driver kobjects.
    pub zcrypt_builtin: bool,
    /// Append an APMASK and an AQMASK change (zdev's persisted masks
    /// written at boot), in eras that send them.
    pub mask_change: bool,
    /// Events per second.
    pub rate: u64,
    /// CLOCK_MONOTONIC time of the first boot event, ns.
    pub boot_at_ns: u64,
    /// CLOCK_MONOTONIC time of the first event udevd sees, ns (moved
    /// later when the boot phase is emitted and runs past it).
    pub trigger_at_ns: u64,
    /// SEQNUM of the first boot event.
    pub first_seqnum: u64,
}

impl Config {
    /// A config for `preset` on `era` with the defaults of the CLI.
    pub fn new(preset: Preset, era: Era) -> Config {
        Config {
            era,
            sizes: preset.sizes(),
            card_type: CardType::Mixed,
            mode: ModeChoice::Mixed,
            seed: 1,
            phase: Phase::Coldplug,
            ap_scan: ApScan::Early,
            trigger_type: TriggerType::All,
            uuid: UuidMode::Zero,
            qeth_groups: false,
            zcrypt_builtin: false,
            mask_change: false,
            rate: 20_000,
            boot_at_ns: 500_000_000,
            trigger_at_ns: 4_000_000_000,
            first_seqnum: 1,
        }
    }

    /// Check the sizes against the architecture and the era.
    pub fn validate(&self) -> Result<(), String> {
        let s = &self.sizes;
        if s.cards > AP_DEVICES {
            return Err(format!("--cards {} exceeds {AP_DEVICES}", s.cards));
        }
        if u32::from(s.first_domain) + u32::from(s.domains)
            > u32::from(AP_DOMAINS)
        {
            return Err(format!(
                "domains {}..{} exceed {AP_DOMAINS}",
                s.first_domain,
                u32::from(s.first_domain) + u32::from(s.domains)
            ));
        }
        if s.ssids == 0 || s.ssids > MAX_SSIDS {
            return Err(format!("--ssids must be 1..={MAX_SSIDS}"));
        }
        if self.rate == 0 {
            return Err("--rate must be positive".into());
        }
        let max = self.era.behaviour().max_card_type;
        if let CardType::Fixed(t) = self.card_type {
            if t > max {
                return Err(format!(
                    "CEX{} is unknown to kernel {} (newest: CEX{})",
                    t - 6,
                    self.era,
                    max - 6
                ));
            }
        }
        Layout::new(s).map(|_| ())
    }
}

/// splitmix64: the generator's only source of randomness.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Domain tags so that different choices draw independent numbers.
const TAG_CARD_TYPE: u64 = 1 << 56;
const TAG_CARD_MODE: u64 = 2 << 56;
const TAG_LCU: u64 = 3 << 56;
/// Tag for the UUIDs of synthetic events.
pub(crate) const TAG_UUID: u64 = 4 << 56;

/// A crypto adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Card {
    /// Adapter id (the `XX` of `cardXX`).
    pub id: u8,
    /// Compatible AP type, 10..=14.
    pub ap_type: u8,
    /// Mode, from the function bits.
    pub mode: Mode,
}

impl Config {
    /// Card `id`, with its type and mode drawn from the seed.
    pub fn card(&self, id: u8) -> Card {
        let max = self.era.behaviour().max_card_type;
        let ap_type = match self.card_type {
            CardType::Fixed(t) => t,
            CardType::Mixed => {
                let r = mix(self.seed ^ TAG_CARD_TYPE ^ u64::from(id));
                CEX4 + (r % u64::from(max - CEX4 + 1)) as u8
            }
        };
        let mode = match self.mode {
            ModeChoice::Fixed(m) => m,
            ModeChoice::Mixed => {
                match mix(self.seed ^ TAG_CARD_MODE ^ u64::from(id)) % 4 {
                    0 | 1 => Mode::Cca,
                    2 => Mode::Accel,
                    _ => Mode::Ep11,
                }
            }
        };
        Card { id, ap_type, mode }
    }
}

/// What sits behind a subchannel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A device that answers sense-ID with these ids.
    Present(CcwId),
    /// Defined in the IOCDS, not there: recognition fails.
    Absent,
}

/// The ids of a ccw device (`struct ccw_device_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcwId {
    /// Control unit type.
    pub cu_type: u16,
    /// Control unit model.
    pub cu_model: u8,
    /// Device type (0 for devices that report none).
    pub dev_type: u16,
    /// Device model.
    pub dev_model: u8,
    /// Device class, for counting.
    pub class: DeviceClass,
}

/// Device classes the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceClass {
    /// ECKD DASD.
    Dasd,
    /// OSA Express in QDIO mode (read, write, data).
    Osa,
    /// FCP channel.
    Zfcp,
    /// Tape.
    Tape,
    /// 3270 terminal.
    Terminal,
}

/// OSA QDIO (OSD): 1731/01 with 1732/01, qeth's table.
pub const OSA_ID: CcwId = CcwId {
    cu_type: 0x1731,
    cu_model: 0x01,
    dev_type: 0x1732,
    dev_model: 0x01,
    class: DeviceClass::Osa,
};
/// FCP: 1731/03 with 1732/03, zfcp's table.
pub const ZFCP_ID: CcwId = CcwId {
    cu_type: 0x1731,
    cu_model: 0x03,
    dev_type: 0x1732,
    dev_model: 0x03,
    class: DeviceClass::Zfcp,
};
/// Tape 3590 (tape_3590's table matches 3590/any with 3590/any; the
/// models are illustrative).
pub const TAPE_ID: CcwId = CcwId {
    cu_type: 0x3590,
    cu_model: 0x50,
    dev_type: 0x3590,
    dev_model: 0x11,
    class: DeviceClass::Tape,
};
/// 3270 terminal behind a 3274 control unit that reports no device
/// type, so its MODALIAS takes the `dtdm` form of `snprint_alias`
/// (raw3270 matches on the control unit only); models illustrative.
pub const TERMINAL_ID: CcwId = CcwId {
    cu_type: 0x3274,
    cu_model: 0x41,
    dev_type: 0x0000,
    dev_model: 0x00,
    class: DeviceClass::Terminal,
};

/// One subchannel, with what is behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subchannel {
    /// Subchannel set id.
    pub ssid: u8,
    /// Subchannel number.
    pub sch_no: u16,
    /// Device number.
    pub devno: u16,
    /// Device or absence.
    pub kind: Kind,
}

/// Per-set counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SetCounts {
    /// 3270 terminals (set 0 only).
    pub terminals: u32,
    /// OSA ccw devices (3 per port; set 0 only).
    pub osa_devices: u32,
    /// FCP devices (set 0 only).
    pub zfcp: u32,
    /// Tapes (set 0 only).
    pub tape: u32,
    /// DASD.
    pub dasd: u32,
    /// Absent devices.
    pub absent: u32,
}

impl SetCounts {
    /// Subchannels in this set.
    pub fn total(&self) -> u32 {
        self.terminals
            + self.osa_devices
            + self.zfcp
            + self.tape
            + self.dasd
            + self.absent
    }
}

/// How devices are spread over the subchannel sets (see the module
/// docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Counts per set; sets beyond `ssids` are empty.
    pub sets: [SetCounts; MAX_SSIDS as usize],
    /// Sets in use.
    pub ssids: u8,
}

impl Layout {
    /// Spread `s` over its sets, or say why it does not fit.
    pub fn new(s: &Sizes) -> Result<Layout, String> {
        let n = usize::from(s.ssids.clamp(1, MAX_SSIDS));
        let mut sets = [SetCounts::default(); MAX_SSIDS as usize];
        let osa_devices = s
            .osa
            .checked_mul(3)
            .ok_or_else(|| "--osa is too large".to_string())?;
        sets[0].terminals = s.terminals;
        sets[0].osa_devices = osa_devices;
        sets[0].zfcp = s.zfcp;
        sets[0].tape = s.tape;
        let cap = u64::from(SUBCHANNELS_PER_SET);
        let fixed = u64::from(s.terminals)
            + u64::from(osa_devices)
            + u64::from(s.zfcp)
            + u64::from(s.tape);
        let too_many = || {
            format!(
                "{} subchannels do not fit in {n} subchannel set(s) of \
                 {SUBCHANNELS_PER_SET}",
                fixed + u64::from(s.dasd) + u64::from(s.absent)
            )
        };
        if fixed > cap {
            return Err(too_many());
        }
        // Absent devices: an even share per set, capped by room.
        let mut left = s.absent;
        for (i, set) in sets.iter_mut().enumerate().take(n) {
            let share = left.div_ceil((n - i) as u32);
            let room = (cap - u64::from(set.total())) as u32;
            set.absent = share.min(room);
            left -= set.absent;
        }
        if left > 0 {
            return Err(too_many());
        }
        // DASD: the same, in what is left.
        let mut left = s.dasd;
        for (i, set) in sets.iter_mut().enumerate().take(n) {
            let share = left.div_ceil((n - i) as u32);
            let room = (cap - u64::from(set.total())) as u32;
            set.dasd = share.min(room);
            left -= set.dasd;
        }
        if left > 0 {
            return Err(too_many());
        }
        Ok(Layout { sets, ssids: n as u8 })
    }

    /// Subchannels in every set.
    pub fn subchannels(&self) -> u64 {
        self.sets.iter().map(|s| u64::from(s.total())).sum()
    }

    /// The subchannel `sch_no` of set `ssid`. DASD control units and
    /// models are drawn per logical control unit (256 devices) from
    /// `seed`.
    pub fn subchannel(&self, seed: u64, ssid: u8, sch_no: u16) -> Subchannel {
        let c = &self.sets[usize::from(ssid)];
        let total = c.total();
        let base = 0x0100u32.min(SUBCHANNELS_PER_SET - total);
        let devno = (u32::from(sch_no) + base) as u16;
        let mut i = u32::from(sch_no);
        let present =
            |id| Subchannel { ssid, sch_no, devno, kind: Kind::Present(id) };
        if i < c.terminals {
            return present(TERMINAL_ID);
        }
        i -= c.terminals;
        if i < c.osa_devices {
            return present(OSA_ID);
        }
        i -= c.osa_devices;
        if i < c.zfcp {
            return present(ZFCP_ID);
        }
        i -= c.zfcp;
        if i < c.tape {
            return present(TAPE_ID);
        }
        i -= c.tape;
        if i < c.dasd {
            let lcu = u64::from(i / 256) | (u64::from(ssid) << 16);
            let r = mix(seed ^ TAG_LCU ^ lcu);
            let (cu_type, cu_model) =
                if r & 1 == 0 { (0x3990, 0xE9) } else { (0x2107, 0xE8) };
            let dev_model = [0x0A, 0x0C, 0x0E][((r >> 8) % 3) as usize];
            return present(CcwId {
                cu_type,
                cu_model,
                dev_type: 0x3390,
                dev_model,
                class: DeviceClass::Dasd,
            });
        }
        Subchannel { ssid, sch_no, devno, kind: Kind::Absent }
    }
}

/// Event counts the generator produces, by formula. Tests compare them
/// with `coldplug stat` on the output.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// In-kernel boot events (before any listener).
    pub boot: u64,
    /// Events udevd sees (coldplug phase).
    pub coldplug: u64,
}

impl Config {
    /// How many events each phase holds. The formulas, with C cards,
    /// Q = C x domains queues, P present and A absent I/O subchannels,
    /// G OSA ports:
    ///
    /// - boot, CSS: 2P with delayed adds (≤5.16: the subchannel add,
    ///   then the ccw add); 3P + 4A from 5.17 (add, bind, ccw add; add,
    ///   bind, unbind, remove for absent devices).
    /// - AP scan: C + Q adds, + 1 INITSCAN, + 1 BINDINGS when Q = 0 (in
    ///   eras that send them). In the boot phase with `--ap-scan
    ///   early`, in the coldplug phase with `late`.
    /// - coldplug trigger: 4 bus/driver adds with `--trigger-type all`
    ///   (`/bus/ap`, `/bus/ccw`, `/bus/css`,
    ///   `/bus/css/drivers/io_subchannel`; 6 with `--zcrypt-builtin`),
    ///   C + Q AP adds, 2P CSS adds.
    /// - `--zcrypt-builtin`: the AP scan has an add and a bind per
    ///   device, and always ends with BINDINGS (5.10+).
    /// - + 2G with `--qeth-groups`, + 2 with `--mask-change` (6.1+).
    pub fn counts(&self) -> Counts {
        let b = self.era.behaviour();
        let s = &self.sizes;
        let layout = Layout::new(s).expect("validated config");
        let absent: u64 =
            layout.sets.iter().map(|c| u64::from(c.absent)).sum();
        let present = layout.subchannels() - absent;
        let cards = u64::from(s.cards);
        let queues = cards * u64::from(s.domains);
        let css_boot = if b.cio_delayed_add {
            2 * present
        } else {
            3 * present + 4 * absent
        };
        let ap_devices = cards + queues;
        // With zcrypt built in every device is bound during the scan,
        // so the scan-end check finds all queues bound.
        let all_bound = queues == 0 || self.zcrypt_builtin;
        let ap_scan = ap_devices * (1 + u64::from(self.zcrypt_builtin))
            + u64::from(b.initscan)
            + u64::from(b.bindings_complete && all_bound);
        let mut boot = css_boot;
        let mut coldplug = 0;
        match self.ap_scan {
            ApScan::Early => boot += ap_scan,
            ApScan::Late => coldplug += ap_scan,
        }
        if self.trigger_type == TriggerType::All {
            coldplug += self.subsystem_events().count() as u64;
        }
        coldplug += cards + queues + 2 * present;
        if self.qeth_groups {
            coldplug += 2 * u64::from(s.osa);
        }
        if self.mask_change && b.mask_uevents {
            coldplug += 2;
        }
        Counts { boot, coldplug }
    }
}

/// The bus and driver kobjects `udevadm trigger --type=all` adds for
/// the s390 buses, in its sort order, with their SUBSYSTEM. Only
/// built-in drivers are registered at coldplug time: io_subchannel (cio
/// is built in), and cex4card/cex4queue with `--zcrypt-builtin`; dasd,
/// qeth, zfcp, tape and vfio drivers are modules. `/sys/module/*` and
/// other buses are not modelled.
pub const SUBSYSTEM_EVENTS: [(&str, &str); 6] = [
    ("/bus/ap", "bus"),
    ("/bus/ap/drivers/cex4card", "drivers"),
    ("/bus/ap/drivers/cex4queue", "drivers"),
    ("/bus/ccw", "bus"),
    ("/bus/css", "bus"),
    ("/bus/css/drivers/io_subchannel", "drivers"),
];

impl Config {
    /// The entries of [`SUBSYSTEM_EVENTS`] this LPAR has.
    pub fn subsystem_events(
        &self,
    ) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
        SUBSYSTEM_EVENTS.into_iter().filter(|(p, _)| {
            self.zcrypt_builtin || !p.starts_with("/bus/ap/drivers/")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_fills_every_set() {
        let l = Layout::new(&Preset::Max.sizes()).unwrap();
        for s in &l.sets {
            assert_eq!(s.total(), SUBCHANNELS_PER_SET);
            assert_eq!(s.absent, 16_384);
        }
        assert_eq!(l.subchannels(), 4 * 65_536);
    }

    #[test]
    fn overflow_is_an_error() {
        let mut s = Preset::Small.sizes();
        s.dasd = 70_000;
        assert!(Layout::new(&s).unwrap_err().contains("do not fit"));
        s.ssids = 2;
        assert!(Layout::new(&s).is_ok());
    }

    #[test]
    fn subchannel_kinds_in_order() {
        let s = Preset::Small.sizes();
        let l = Layout::new(&s).unwrap();
        assert_eq!(l.subchannel(1, 0, 0).kind, Kind::Present(TERMINAL_ID));
        assert_eq!(l.subchannel(1, 0, 1).kind, Kind::Present(OSA_ID));
        assert_eq!(l.subchannel(1, 0, 3).kind, Kind::Present(OSA_ID));
        assert_eq!(l.subchannel(1, 0, 4).kind, Kind::Present(ZFCP_ID));
        assert_eq!(l.subchannel(1, 0, 0).devno, 0x0100);
        let last = (l.subchannels() - 1) as u16;
        assert_eq!(l.subchannel(1, 0, last).kind, Kind::Absent);
    }

    #[test]
    fn cards_follow_the_era() {
        let c = Config::new(Preset::Max, Era::V4_18);
        for id in 0..=255u8 {
            assert!((CEX4..=CEX6).contains(&c.card(id).ap_type));
        }
        let mut c = Config::new(Preset::Small, Era::V5_10);
        c.card_type = CardType::Fixed(CEX8);
        assert!(c.validate().unwrap_err().contains("CEX8"));
    }
}
