//! Kernel eras: which uevents the s390 AP bus and channel subsystem send,
//! per kernel release, as one table.
//!
//! Every row names the change that flipped it. Sources: the kernel
//! source read through the code index (drivers/s390/crypto/ap_bus.c,
//! drivers/s390/cio/css.c and device.c in several versions) and
//! `/work/shared/docs/s390-uevents.md` (§2, §3); releases marked
//! "unconfirmed" were not pinned to a tag.
//!
//! | behaviour | 4.18 | 5.10 | 5.15 | 6.1 | 6.12 | change |
//! |---|---|---|---|---|---|---|
//! | `DEV_TYPE` + `MODALIAS` on AP queues, no `MODE` | yes | yes | no | no | no | card/queue split e28d2af43614 (4.10) added both keys to every AP device; the card-only `MODALIAS` plus `MODE` form replaced it after 5.12 (commit unconfirmed; present in every 5.15+ copy read) |
//! | `MODE=accel\|cca\|ep11` on cards and queues | no | no | yes | yes | yes | same change; 6.x reads the function bits, newest kernels TAPQ `hwinfo` (same values) |
//! | root `change INITSCAN=done` after the first scan | no | yes | yes | yes | yes | 837cd105 (~5.10) |
//! | root `change BINDINGS=complete` | no | yes | yes | yes | yes | 837cd105 (~5.10) |
//! | `COMPLETECOUNT=<n>` after `BINDINGS=complete` | no | no | yes | yes | yes | `ap_bindings_complete_count` (release unconfirmed, present in 5.15+ copies) |
//! | root `change APMASK=`/`AQMASK=` (value ends in `\n`) | no | no | no | yes | yes | d9b38e9d0fd3 "s390/ap: uevent on apmask/aqpmask change" (5.19) |
//! | CIO delays the subchannel `add` (no `bind`, absent devices silent) | yes | yes | yes | no | no | fa1a8c23 "Delay uevents for subchannels"; removed by a84d1c5006b5 "s390/cio: remove uevent suppress from cio driver" (5.17) |
//! | absent-device storm: `add`,`bind`,`unbind`,`remove` per defined but absent subchannel | no | no | no | yes | yes | a84d1c5006b5 (5.17) |
//! | newest AP type known | CEX6 | CEX7 | CEX7 | CEX8 | CEX8 | CEX8 support in 5.18-era code (commit unconfirmed) |
//!
//! Not modelled because they need module loading (the replay engine's
//! job, issue 6) or userspace writes: BINDINGS after `ap_driver_register`
//! (b4f5bd60d558, 6.10.y), the per-scan BINDINGS re-send of
//! 778412ab915d fixed by 306d6bda8f97 (6.10; no era here has it),
//! CONFIG/ONLINE change events (df6f508c, ~5.13; never sent at probe
//! time), vfio_ap's table removal (d4b2945dc9c0, 5.19: changes
//! matching, not events).

use std::fmt;
use std::str::FromStr;

/// A kernel release whose s390 uevent behaviour the generator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Era {
    /// 4.18 (RHEL 8): queues carry `MODALIAS`, no root change events.
    V4_18,
    /// 5.10: INITSCAN/BINDINGS without COMPLETECOUNT; queue `MODALIAS`.
    V5_10,
    /// 5.15: card-only `MODALIAS` and `MODE`; CIO still delays adds.
    V5_15,
    /// 6.1: CIO sends add+bind at `device_add`; APMASK/AQMASK events.
    V6_1,
    /// 6.12: as 6.1, plus CEX8 and the BINDINGS re-send fix.
    V6_12,
}

/// What one era does, row by row of the table above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// Queues carry `DEV_TYPE` and `MODALIAS` (and nobody `MODE`).
    pub queue_modalias: bool,
    /// Cards and queues carry `MODE=`.
    pub mode_key: bool,
    /// The root sends `change INITSCAN=done` after the first scan.
    pub initscan: bool,
    /// The root sends `change BINDINGS=complete` when all queues are
    /// bound (zero queues count as all bound).
    pub bindings_complete: bool,
    /// `BINDINGS=complete` is followed by `COMPLETECOUNT=<n>`.
    pub completecount: bool,
    /// The root sends `APMASK=`/`AQMASK=` change events on mask writes.
    pub mask_uevents: bool,
    /// CIO suppresses the subchannel `add` until sense-ID (≤5.16).
    pub cio_delayed_add: bool,
    /// Highest AP device type the kernel knows (10 = CEX4 .. 14 = CEX8).
    pub max_card_type: u8,
}

impl Era {
    /// Every era, oldest first.
    pub const ALL: [Era; 5] =
        [Era::V4_18, Era::V5_10, Era::V5_15, Era::V6_1, Era::V6_12];

    /// The release as written on the command line (`6.12`).
    pub fn name(self) -> &'static str {
        match self {
            Era::V4_18 => "4.18",
            Era::V5_10 => "5.10",
            Era::V5_15 => "5.15",
            Era::V6_1 => "6.1",
            Era::V6_12 => "6.12",
        }
    }

    /// The behaviour table row for this era.
    pub fn behaviour(self) -> Behaviour {
        use Era::*;
        let at_least = |e: Era| self >= e;
        Behaviour {
            queue_modalias: !at_least(V5_15),
            mode_key: at_least(V5_15),
            initscan: at_least(V5_10),
            bindings_complete: at_least(V5_10),
            completecount: at_least(V5_15),
            mask_uevents: at_least(V6_1),
            cio_delayed_add: !at_least(V6_1),
            max_card_type: match self {
                V4_18 => 12,
                V5_10 | V5_15 => 13,
                V6_1 | V6_12 => 14,
            },
        }
    }
}

impl fmt::Display for Era {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Era {
    type Err = String;

    fn from_str(s: &str) -> Result<Era, String> {
        Era::ALL.into_iter().find(|e| e.name() == s).ok_or_else(|| {
            let names: Vec<_> = Era::ALL.iter().map(|e| e.name()).collect();
            format!("unknown era {s:?}: expected one of {}", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Era::ALL {
            assert_eq!(e.name().parse::<Era>().unwrap(), e);
        }
        assert!("5.4".parse::<Era>().is_err());
    }

    #[test]
    fn table_rows() {
        let b = Era::V5_10.behaviour();
        assert!(b.queue_modalias && b.initscan && !b.completecount);
        let b = Era::V6_1.behaviour();
        assert!(!b.queue_modalias && b.mode_key && b.mask_uevents);
        assert!(!b.cio_delayed_add);
        assert!(Era::V5_15.behaviour().cio_delayed_add);
        assert_eq!(Era::V4_18.behaviour().max_card_type, 12);
    }
}
