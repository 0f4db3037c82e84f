//! What `coldplug stat` reports about a trace: counts, malformed
//! records, seqnum gaps and reorderings, time span.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{Events, Format};
use crate::uevent::{ParseError, Source, Uevent};

/// How many malformed records are kept with their details.
pub const KEEP_ERRORS: usize = 10;

/// One malformed record, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct Malformed {
    /// Byte offset in the trace.
    pub offset: u64,
    /// Line, for text formats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl From<&ParseError> for Malformed {
    fn from(e: &ParseError) -> Self {
        Malformed {
            offset: e.offset(),
            line: e.line(),
            reason: e.kind().to_string(),
        }
    }
}

/// SEQNUM continuity for one source (kernel and udev numbers are
/// counted apart: a udev stream is a filtered, reordered view).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SeqnumStats {
    /// Events with a SEQNUM.
    pub events: u64,
    /// Lowest SEQNUM.
    pub first: Option<u64>,
    /// Highest SEQNUM.
    pub last: Option<u64>,
    /// Places where the next number skipped ahead.
    pub gaps: u64,
    /// Numbers skipped in those gaps (events lost or filtered).
    pub missing: u64,
    /// Events whose SEQNUM is lower than the one before.
    pub reordered: u64,
    /// Events whose SEQNUM equals the one before.
    pub duplicates: u64,
    #[serde(skip)]
    prev: Option<u64>,
}

impl SeqnumStats {
    fn add(&mut self, n: u64) {
        self.events += 1;
        self.first = Some(self.first.map_or(n, |f| f.min(n)));
        self.last = Some(self.last.map_or(n, |l| l.max(n)));
        if let Some(p) = self.prev {
            if n == p {
                self.duplicates += 1;
            } else if n < p {
                self.reordered += 1;
            } else if n > p + 1 {
                self.gaps += 1;
                self.missing += n - p - 1;
            }
        }
        self.prev = Some(n);
    }
}

/// Everything `coldplug stat` says about one trace.
#[derive(Debug, Clone, Serialize)]
pub struct TraceStats {
    /// Format name.
    pub format: &'static str,
    /// Size in bytes.
    pub bytes: u64,
    /// Events parsed.
    pub events: u64,
    /// Malformed records.
    pub malformed: u64,
    /// The first few malformed records.
    pub malformed_records: Vec<Malformed>,
    /// Events per action.
    pub by_action: BTreeMap<String, u64>,
    /// Events per subsystem.
    pub by_subsystem: BTreeMap<String, u64>,
    /// Events per source (kernel, udev).
    pub by_source: BTreeMap<&'static str, u64>,
    /// Events carrying MODALIAS.
    pub with_modalias: u64,
    /// `add` events carrying MODALIAS (what udev's kmod builtin looks up).
    pub add_with_modalias: u64,
    /// Distinct MODALIAS values.
    pub unique_modaliases: u64,
    /// SEQNUM continuity of kernel events.
    pub kernel_seqnum: SeqnumStats,
    /// SEQNUM continuity of udev events.
    pub udev_seqnum: SeqnumStats,
    /// First and last timestamp, ns, where the format has them.
    pub time_span_ns: Option<(u64, u64)>,
}

impl TraceStats {
    /// Count over every event of `buf`. With `strict`, stop at the first
    /// malformed record and return its error.
    pub fn collect(
        buf: &[u8],
        format: Format,
        strict: bool,
    ) -> Result<TraceStats, ParseError> {
        let mut by_action: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut by_subsystem: BTreeMap<&[u8], u64> = BTreeMap::new();
        let mut modaliases: HashSet<&[u8]> = HashSet::new();
        let mut st = TraceStats {
            format: format.name(),
            bytes: buf.len() as u64,
            events: 0,
            malformed: 0,
            malformed_records: Vec::new(),
            by_action: BTreeMap::new(),
            by_subsystem: BTreeMap::new(),
            by_source: BTreeMap::new(),
            with_modalias: 0,
            add_with_modalias: 0,
            unique_modaliases: 0,
            kernel_seqnum: SeqnumStats::default(),
            udev_seqnum: SeqnumStats::default(),
            time_span_ns: None,
        };
        let mut time: Option<(u64, u64)> = None;
        for item in Events::new(buf, format) {
            let ev: Uevent<'_> = match item {
                Ok(ev) => ev,
                Err(e) if strict => return Err(e),
                Err(e) => {
                    st.malformed += 1;
                    if st.malformed_records.len() < KEEP_ERRORS {
                        st.malformed_records.push(Malformed::from(&e));
                    }
                    continue;
                }
            };
            st.events += 1;
            let action = ev.action().as_bytes();
            match by_action.get_mut(action) {
                Some(n) => *n += 1,
                None => {
                    by_action.insert(action.to_vec(), 1);
                }
            }
            *by_subsystem.entry(ev.subsystem().unwrap_or(b"")).or_default() +=
                1;
            *st.by_source.entry(ev.source().name()).or_default() += 1;
            if let Some(m) = ev.modalias() {
                st.with_modalias += 1;
                if ev.action() == crate::uevent::Action::Add {
                    st.add_with_modalias += 1;
                }
                modaliases.insert(m);
            }
            if let Some(n) = ev.seqnum() {
                match ev.source() {
                    Source::Kernel => st.kernel_seqnum.add(n),
                    Source::Udev => st.udev_seqnum.add(n),
                }
            }
            if let Some(t) = ev.timestamp_ns() {
                time = Some(match time {
                    None => (t, t),
                    Some((a, b)) => (a.min(t), b.max(t)),
                });
            }
        }
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        st.by_action = by_action.iter().map(|(k, v)| (text(k), *v)).collect();
        st.by_subsystem =
            by_subsystem.iter().map(|(k, v)| (text(k), *v)).collect();
        st.unique_modaliases = modaliases.len() as u64;
        st.time_span_ns = time;
        Ok(st)
    }
}
