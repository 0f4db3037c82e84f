//! From a trace to what the simulation needs: events in SEQNUM order
//! with their queue places, unique modaliases, interned subsystems, and
//! the events rules match. One pass over the (memory-mapped) trace;
//! each event is kept as a 48-byte record, the strings stay in the
//! trace.

use rustc_hash::FxHashMap;

use crate::trace::{stats::Malformed, Events, Format};
use crate::uevent::{parse_u64, Action, ParseError, Uevent};

use super::queue::{PathTree, Place};
use super::rules::Rules;

/// No lookup for this event.
pub const NO_LOOKUP: u32 = u32::MAX;

/// One event as the replay keeps it.
#[derive(Debug, Clone, Copy)]
pub struct EventMeta {
    /// SEQNUM, 0 when the format has none.
    pub seqnum: u64,
    /// Arrival in ns from the first event.
    pub arrival_ns: u64,
    /// Queue place (devpath, old devpath, device number); the devpath
    /// is `tree.path(place.nodes[0])`.
    pub place: Place,
    /// Index into [`Prepared::modaliases`] for `add` events with a
    /// MODALIAS (what udev's kmod builtin looks up), or [`NO_LOOKUP`].
    pub lookup_id: u32,
    /// Index into [`Prepared::subsystems`].
    pub subsystem: u16,
    /// The device existed before the trace (SYNTH_UUID: a coldplug
    /// re-announcement).
    pub exists: bool,
    /// The device already has a driver (DRIVER is set): loading another
    /// module for its alias does not bind it.
    pub bound: bool,
}

impl EventMeta {
    /// The lookup index, if the event does one.
    pub fn lookup(&self) -> Option<u32> {
        (self.lookup_id != NO_LOOKUP).then_some(self.lookup_id)
    }
}

/// A prepared trace.
pub struct Prepared<'a> {
    /// Devpath tree (plus device-number nodes).
    pub tree: PathTree<'a>,
    /// Events, sorted by SEQNUM where they have one (udevd reorders
    /// late arrivals into SEQNUM order).
    pub events: Vec<EventMeta>,
    /// Distinct modaliases looked up, in first-seen order.
    pub modaliases: Vec<&'a [u8]>,
    /// Distinct subsystems.
    pub subsystems: Vec<&'a [u8]>,
    /// (event index, module name) for every rule-driven load, in order.
    pub rule_loads: Vec<(u32, String)>,
    /// Malformed records skipped.
    pub malformed: u64,
    /// The first few of them.
    pub malformed_records: Vec<Malformed>,
}

impl Prepared<'_> {
    /// The devpath of event `i`.
    pub fn devpath(&self, i: usize) -> &[u8] {
        self.tree.path(self.events[i].place.nodes[0])
    }
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

/// The value of `key` (given with its `=`) in an environment, found
/// with one substring search; the match must start an entry.
fn find_value<'a>(
    env: &'a [u8],
    key: &memchr::memmem::Finder<'_>,
    ev: &Uevent<'a>,
) -> Option<&'a [u8]> {
    let sep = match ev.separator() {
        crate::uevent::Separator::Nul => 0,
        crate::uevent::Separator::Newline => b'\n',
    };
    let mut from = 0;
    while let Some(i) = key.find(&env[from..]) {
        let at = from + i;
        if at == 0 || env[at - 1] == sep {
            let v = &env[at + key.needle().len()..];
            let end = memchr::memchr(sep, v).unwrap_or(v.len());
            return Some(&v[..end]);
        }
        from = at + 1;
    }
    None
}

/// What the parsing stage hands the interning stage per event: views
/// into the trace and small numbers, no allocation.
#[derive(Clone, Copy)]
struct Raw<'a> {
    devpath: &'a [u8],
    /// FxHash of the devpath, computed by the parsing thread.
    hash: u64,
    old: Option<&'a [u8]>,
    devnum: Option<u64>,
    subsystem: u16,
    lookup_id: u32,
    seqnum: u64,
    arrival_ns: u64,
    exists: bool,
    bound: bool,
}

/// What the parsing stage fills besides the batches it sends.
struct Interned<'o, 'a> {
    rule_loads: &'o mut Vec<(u32, String)>,
    modaliases: &'o mut Vec<&'a [u8]>,
    subsystems: &'o mut Vec<&'a [u8]>,
}

/// Events per batch between the two stages.
const BATCH: usize = 4096;

/// Stage 1: parse, find the few keys the queue needs, evaluate rules.
/// Sends batches; returns the malformed count and first errors, or the
/// first error with `strict`.
fn parse_stage<'a>(
    buf: &'a [u8],
    format: Format,
    strict: bool,
    rules: Option<&Rules>,
    tx: crossbeam::channel::Sender<Vec<Raw<'a>>>,
    out: Interned<'_, 'a>,
) -> Result<(u64, Vec<Malformed>), ParseError> {
    let Interned { rule_loads, modaliases, subsystems } = out;
    // Subsystems and modaliases are interned here, devpaths on the
    // other thread: the two stages then take about the same time.
    let mut aliases: FxHashMap<&'a [u8], u32> = FxHashMap::default();
    let mut subsystem_ids: FxHashMap<&'a [u8], u16> = FxHashMap::default();
    let (f_old, f_major, f_minor, f_synth) = (
        memchr::memmem::Finder::new(b"DEVPATH_OLD="),
        memchr::memmem::Finder::new(b"MAJOR="),
        memchr::memmem::Finder::new(b"MINOR="),
        memchr::memmem::Finder::new(b"SYNTH_UUID="),
    );
    let mut malformed = 0u64;
    let mut malformed_records = Vec::new();
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0u32;
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
        // The few keys udevd's queue and the kernel care about, found
        // with SIMD substring search (most events have none of them).
        let env = ev.env();
        let old = find_value(env, &f_old, &ev);
        let major = find_value(env, &f_major, &ev).and_then(parse_u64);
        let minor = major
            .and_then(|_| find_value(env, &f_minor, &ev))
            .and_then(parse_u64);
        let devnum = match (major, minor) {
            (Some(major), Some(minor)) if major != 0 => {
                let block = u64::from(ev.subsystem() == Some(b"block")) << 63;
                Some(
                    block
                        | (major & 0x7fff_ffff) << 32
                        | (minor & 0xffff_ffff),
                )
            }
            _ => None,
        };
        let lookup_id = match (ev.action(), lookup_key(&ev)) {
            (Action::Add, Some(key)) if !key.is_empty() => {
                let next = aliases.len() as u32;
                *aliases.entry(key).or_insert_with(|| {
                    modaliases.push(key);
                    next
                })
            }
            _ => NO_LOOKUP,
        };
        let sub = ev.subsystem().unwrap_or(b"");
        let next = subsystem_ids.len() as u16;
        let subsystem = *subsystem_ids.entry(sub).or_insert_with(|| {
            subsystems.push(sub);
            next
        });
        if let Some(r) = rules {
            for name in r.loads(&ev) {
                rule_loads.push((n, name.to_string()));
            }
        }
        batch.push(Raw {
            devpath: ev.devpath(),
            hash: PathTree::hash_path(ev.devpath()),
            old,
            devnum,
            subsystem,
            lookup_id,
            seqnum: ev.seqnum().unwrap_or(0),
            arrival_ns: ev.timestamp_ns().unwrap_or(0),
            exists: find_value(env, &f_synth, &ev).is_some(),
            bound: ev.driver().is_some(),
        });
        n += 1;
        if batch.len() == BATCH {
            let full =
                std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
            if tx.send(full).is_err() {
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.send(batch);
    }
    Ok((malformed, malformed_records))
}

/// Read every event of `buf`. With `strict`, the first malformed record
/// is returned as an error; otherwise it is counted and skipped.
///
/// Two stages run on two threads: parsing (and rules) on one, interning
/// devpaths, subsystems and modaliases on the other. The result does
/// not depend on the split.
pub fn prepare<'a>(
    buf: &'a [u8],
    format: Format,
    strict: bool,
    rules: Option<&Rules>,
) -> Result<Prepared<'a>, ParseError> {
    // Our trace format: about 170 bytes a record; avoid regrowing.
    let estimate = buf.len() / 150;
    let mut tree = PathTree::with_capacity(estimate);
    let mut events = Vec::with_capacity(estimate);
    let mut modaliases = Vec::new();
    let mut subsystems = Vec::new();
    let mut rule_loads = Vec::new();
    let (tx, rx) = crossbeam::channel::bounded::<Vec<Raw<'a>>>(8);
    let parsed = std::thread::scope(|scope| {
        let out = Interned {
            rule_loads: &mut rule_loads,
            modaliases: &mut modaliases,
            subsystems: &mut subsystems,
        };
        let parser = scope
            .spawn(move || parse_stage(buf, format, strict, rules, tx, out));
        // Consecutive events often share a devpath (add, then bind).
        let mut last: (&[u8], u32) = (b"", u32::MAX);
        for batch in rx {
            for r in batch {
                let node = if last.1 != u32::MAX && last.0 == r.devpath {
                    last.1
                } else {
                    let n = tree.intern_near(r.devpath, r.hash, last.1);
                    last = (r.devpath, n);
                    n
                };
                let mut place = Place::at(node);
                if let Some(old) = r.old {
                    place = place.also(tree.intern(old));
                }
                if let Some(key) = r.devnum {
                    place = place.also(tree.detached(key));
                }
                events.push(EventMeta {
                    seqnum: r.seqnum,
                    arrival_ns: r.arrival_ns,
                    place,
                    lookup_id: r.lookup_id,
                    subsystem: r.subsystem,
                    exists: r.exists,
                    bound: r.bound,
                });
            }
        }
        parser.join().expect("parser thread panicked")
    });
    let (malformed, malformed_records) = parsed?;
    // udevd's queue is in SEQNUM order; keep trace order for events
    // without one (stable sort).
    if events.windows(2).any(|w| w[1].seqnum != 0 && w[1].seqnum < w[0].seqnum)
    {
        let mut order: Vec<u32> = (0..events.len() as u32).collect();
        order.sort_by_key(|&i| events[i as usize].seqnum);
        let mut new_index = vec![0u32; events.len()];
        for (to, &from) in order.iter().enumerate() {
            new_index[from as usize] = to as u32;
        }
        events = order.iter().map(|&i| events[i as usize]).collect();
        for (ev, _) in &mut rule_loads {
            *ev = new_index[*ev as usize];
        }
        rule_loads.sort_by_key(|(ev, _)| *ev);
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
        rule_loads,
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
        let p = prepare(&buf, Format::Monitor, true, None).unwrap();
        assert_eq!(p.events.len(), 446);
        assert_eq!(p.malformed, 0);
        let lookups = p.events.iter().filter(|e| e.lookup().is_some()).count();
        assert_eq!(lookups, 28);
        assert_eq!(p.modaliases.len(), 23);
        assert!(p
            .events
            .windows(2)
            .all(|w| w[0].arrival_ns <= w[1].arrival_ns));
        assert!(p.events.iter().all(|e| e.exists));
        // Block devices occupy their device number too.
        assert!(p.events.iter().any(|e| e.place.nodes[1] != u32::MAX));
    }
}
