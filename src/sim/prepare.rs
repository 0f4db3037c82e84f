//! From a trace to what the simulation needs: events in SEQNUM order
//! with their queue places, unique modaliases, and interned
//! subsystems. Borrowed from the (memory-mapped) trace; one pass.

use std::collections::HashMap;

use crate::trace::{stats::Malformed, Events, Format};
use crate::uevent::{Action, ParseError, Uevent};

use super::queue::{PathTree, Place};

/// One event as the replay keeps it: small, borrowed, no per-event
/// allocation beyond the vector it lives in.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta<'a> {
    /// The parsed event (views into the trace).
    pub event: Uevent<'a>,
    /// Queue place (devpath, old devpath, device number).
    pub place: Place,
    /// Index into [`Prepared::modaliases`] for `add` events with a
    /// MODALIAS (what udev's kmod builtin looks up).
    pub lookup: Option<u32>,
    /// Index into [`Prepared::subsystems`].
    pub subsystem: u16,
    /// Arrival in ns from the first event.
    pub arrival_ns: u64,
}

/// A prepared trace.
pub struct Prepared<'a> {
    /// Devpath tree (plus device-number nodes).
    pub tree: PathTree<'a>,
    /// Events, sorted by SEQNUM where they have one (udevd reorders
    /// late arrivals into SEQNUM order).
    pub events: Vec<EventMeta<'a>>,
    /// Distinct modaliases looked up, in first-seen order.
    pub modaliases: Vec<&'a [u8]>,
    /// Distinct subsystems.
    pub subsystems: Vec<&'a [u8]>,
    /// Malformed records skipped.
    pub malformed: u64,
    /// The first few of them.
    pub malformed_records: Vec<Malformed>,
}

/// The udev lookup key of an event: the MODALIAS value as sd-device
/// holds it, cut at its first newline (`truncate_nl`).
pub fn lookup_key<'a>(ev: &Uevent<'a>) -> Option<&'a [u8]> {
    let m = ev.modalias()?;
    Some(match memchr::memchr(b'\n', m) {
        Some(i) => &m[..i],
        None => m,
    })
}

/// Read every event of `buf`. With `strict`, the first malformed record
/// is returned as an error; otherwise it is counted and skipped.
/// `devnum_keys` is scratch the caller keeps alive for device-number
/// node names (they are made, not borrowed).
pub fn prepare<'a>(
    buf: &'a [u8],
    format: Format,
    strict: bool,
    devnum_keys: &'a bumpalo::Bump,
) -> Result<Prepared<'a>, ParseError> {
    let mut tree = PathTree::new();
    let mut events = Vec::new();
    let mut malformed = 0u64;
    let mut malformed_records = Vec::new();
    let mut aliases: HashMap<&'a [u8], u32> = HashMap::new();
    let mut modaliases = Vec::new();
    let mut subsystem_ids: HashMap<&'a [u8], u16> = HashMap::new();
    let mut subsystems = Vec::new();
    for item in Events::new(buf, format) {
        let ev = match item {
            Ok(ev) => ev,
            Err(e) if strict => {
                return Err(if format.is_text() && e.line().is_none() {
                    e.with_line_in(buf)
                } else {
                    e
                })
            }
            Err(e) => {
                malformed += 1;
                if malformed_records.len() < crate::trace::stats::KEEP_ERRORS {
                    malformed_records.push(Malformed::from(&e));
                }
                continue;
            }
        };
        let mut place = Place::at(tree.intern(ev.devpath()));
        if let Some(old) = ev.get(b"DEVPATH_OLD") {
            place = place.also(tree.intern(old));
        }
        if let (Some(major), Some(minor)) =
            (ev.get(b"MAJOR"), ev.get(b"MINOR"))
        {
            if major != b"0" {
                let kind =
                    if ev.subsystem() == Some(b"block") { 'b' } else { 'c' };
                let key = bumpalo::format!(
                    in devnum_keys,
                    "{kind}{}:{}",
                    String::from_utf8_lossy(major),
                    String::from_utf8_lossy(minor)
                );
                place =
                    place.also(tree.detached(key.into_bump_str().as_bytes()));
            }
        }
        let sub = ev.subsystem().unwrap_or(b"");
        let next = subsystem_ids.len() as u16;
        let subsystem = *subsystem_ids.entry(sub).or_insert_with(|| {
            subsystems.push(sub);
            next
        });
        let lookup = match (ev.action(), lookup_key(&ev)) {
            (Action::Add, Some(key)) if !key.is_empty() => {
                let next = aliases.len() as u32;
                Some(*aliases.entry(key).or_insert_with(|| {
                    modaliases.push(key);
                    next
                }))
            }
            _ => None,
        };
        events.push(EventMeta {
            event: ev,
            place,
            lookup,
            subsystem,
            arrival_ns: ev.timestamp_ns().unwrap_or(0),
        });
    }
    // udevd's queue is in SEQNUM order; keep trace order for events
    // without one (stable sort).
    if events.windows(2).any(|w| {
        matches!((w[0].event.seqnum(), w[1].event.seqnum()), (Some(a), Some(b)) if b < a)
    }) {
        events.sort_by_key(|e| e.event.seqnum().unwrap_or(0));
    }
    // Arrivals relative to the first, and never earlier than the event
    // before (a reordered event cannot be queued before it arrives).
    let t0 = events.iter().map(|e| e.arrival_ns).min().unwrap_or(0);
    let mut last = 0;
    for e in &mut events {
        e.arrival_ns = (e.arrival_ns - t0).max(last);
        last = e.arrival_ns;
    }
    Ok(Prepared {
        tree,
        events,
        modaliases,
        subsystems,
        malformed,
        malformed_records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepares_the_kernel_capture() {
        let buf = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/traces/captures/kernel-trigger.monitor.txt"
        ))
        .unwrap();
        let arena = bumpalo::Bump::new();
        let p = prepare(&buf, Format::Monitor, true, &arena).unwrap();
        assert_eq!(p.events.len(), 446);
        assert_eq!(p.malformed, 0);
        let lookups = p.events.iter().filter(|e| e.lookup.is_some()).count();
        assert_eq!(lookups, 28);
        assert_eq!(p.modaliases.len(), 23);
        assert!(p
            .events
            .windows(2)
            .all(|w| w[0].arrival_ns <= w[1].arrival_ns));
    }
}
