//! coldplug's own trace format, version 1: replayable from a
//! memory-mapped file without copying.
//!
//! All integers are little-endian; every record starts at a multiple of
//! 8 bytes from the start of the file.
//!
//! ```text
//! header
//!  off size field
//!   0    8  magic "CPLGTRC\0"
//!   8    2  version (1)
//!  10    2  header_len: bytes from file start to the first record
//!           (multiple of 8, at least 16)
//!  12    1  clock: 0 none, 1 CLOCK_MONOTONIC, 2 CLOCK_REALTIME
//!  13    1  origin: see [`Origin`]
//!  14    2  description length n
//!  16    n  description, UTF-8 (free text: host, command, source file)
//!           zero padding up to header_len
//! record
//!   0    8  timestamp, nanoseconds on the header's clock
//!   8    4  payload length p (at most MAX_RECORD)
//!  12    1  source: 1 kernel, 2 udev
//!  13    3  reserved, zero
//!  16    p  payload: a kernel netlink datagram (ACTION@DEVPATH\0KEY=VALUE\0...)
//!           zero padding to the next multiple of 8
//! ```
//!
//! Udev events are stored in the kernel datagram layout too (their
//! properties after an `ACTION@DEVPATH\0` header), so one parser reads
//! every record.

use std::io::{self, Write};

use crate::uevent::{self, ErrorKind, ParseError, Source, Uevent, MAX_RECORD};

/// The magic at the start of every trace file.
pub const MAGIC: &[u8; 8] = b"CPLGTRC\0";
/// The version this build writes and reads.
pub const VERSION: u16 = 1;
const FIXED_HEADER: usize = 16;
const RECORD_HEADER: usize = 16;

/// The clock the record timestamps are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// No meaningful time (converted from a format without one).
    None,
    /// CLOCK_MONOTONIC, as udevadm monitor and `coldplug record` use.
    Monotonic,
    /// CLOCK_REALTIME.
    Realtime,
}

/// Where the trace came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Unknown.
    Unknown,
    /// Recorded from netlink by `coldplug record`.
    Netlink,
    /// Converted from a length-prefixed datagram capture.
    DatagramCapture,
    /// Converted from `udevadm monitor` text.
    MonitorText,
    /// Made from a sysfs snapshot or tree.
    Sysfs,
    /// Made by `coldplug gen`.
    Generator,
}

impl Origin {
    fn code(self) -> u8 {
        match self {
            Origin::Unknown => 0,
            Origin::Netlink => 1,
            Origin::DatagramCapture => 2,
            Origin::MonitorText => 3,
            Origin::Sysfs => 4,
            Origin::Generator => 5,
        }
    }

    fn from_code(c: u8) -> Origin {
        match c {
            1 => Origin::Netlink,
            2 => Origin::DatagramCapture,
            3 => Origin::MonitorText,
            4 => Origin::Sysfs,
            5 => Origin::Generator,
            _ => Origin::Unknown,
        }
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Origin::Unknown => "unknown",
            Origin::Netlink => "netlink",
            Origin::DatagramCapture => "datagram-capture",
            Origin::MonitorText => "monitor-text",
            Origin::Sysfs => "sysfs",
            Origin::Generator => "generator",
        }
    }
}

/// The decoded file header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// Format version.
    pub version: u16,
    /// Timestamp clock.
    pub clock: Clock,
    /// Where the trace came from.
    pub origin: Origin,
    /// Free-text description.
    pub description: &'a [u8],
    /// Offset of the first record.
    pub header_len: usize,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// True when `buf` starts like a coldplug trace.
pub fn sniff(buf: &[u8]) -> bool {
    buf.starts_with(MAGIC)
}

impl<'a> Header<'a> {
    /// Read and check the header.
    pub fn read(buf: &'a [u8]) -> Result<Header<'a>, ParseError> {
        if buf.len() < MAGIC.len() {
            return Err(if MAGIC.starts_with(buf) {
                ParseError::truncated("trace header", buf.len())
            } else {
                ParseError::new(ErrorKind::BadMagic { what: "trace" }, 0)
            });
        }
        if !sniff(buf) {
            return Err(ParseError::new(
                ErrorKind::BadMagic { what: "trace" },
                0,
            ));
        }
        if buf.len() < FIXED_HEADER {
            return Err(ParseError::truncated("trace header", buf.len()));
        }
        let version = le16(buf, 8);
        if version != VERSION {
            return Err(ParseError::new(
                ErrorKind::UnsupportedVersion { found: version },
                8,
            ));
        }
        let header_len = le16(buf, 10) as usize;
        let desc_len = le16(buf, 14) as usize;
        if header_len < FIXED_HEADER + desc_len || header_len % 8 != 0 {
            return Err(ParseError::new(
                ErrorKind::BadOffset { field: "header_len" },
                10,
            ));
        }
        if header_len > buf.len() {
            return Err(ParseError::truncated("trace header", buf.len()));
        }
        let clock = match buf[12] {
            0 => Clock::None,
            1 => Clock::Monotonic,
            2 => Clock::Realtime,
            b => {
                return Err(ParseError::new(
                    ErrorKind::BadByte { byte: b, what: "trace clock" },
                    12,
                ))
            }
        };
        Ok(Header {
            version,
            clock,
            origin: Origin::from_code(buf[13]),
            description: &buf[FIXED_HEADER..FIXED_HEADER + desc_len],
            header_len,
        })
    }
}

/// Iterator over the records of a trace file, as parsed events with the
/// record timestamp (none when the header's clock is [`Clock::None`]:
/// the trace was converted from a format without time). After a
/// malformed record it goes on with the next one when the framing
/// allows; a cut record ends the iteration.
pub struct Records<'a> {
    buf: &'a [u8],
    pos: usize,
    timed: bool,
}

impl<'a> Records<'a> {
    /// Records of `buf`, whose header has been read as `header`.
    pub fn new(buf: &'a [u8], header: &Header<'_>) -> Self {
        Records {
            buf,
            pos: header.header_len,
            timed: header.clock != Clock::None,
        }
    }
}

fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Uevent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let buf = self.buf;
        let at = self.pos;
        if at >= buf.len() {
            return None;
        }
        if buf.len() - at < RECORD_HEADER {
            self.pos = buf.len();
            return Some(Err(ParseError::truncated(
                "record header",
                buf.len(),
            )));
        }
        let ts = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
        let len = u32::from_le_bytes(buf[at + 8..at + 12].try_into().unwrap())
            as usize;
        let payload_at = at + RECORD_HEADER;
        if len > MAX_RECORD {
            let next = payload_at.checked_add(pad8(len));
            self.pos = next.filter(|&n| n <= buf.len()).unwrap_or(buf.len());
            return Some(Err(ParseError::oversized(len, MAX_RECORD, at + 8)));
        }
        if buf.len() - payload_at < len {
            self.pos = buf.len();
            return Some(Err(ParseError::truncated(
                "record payload",
                buf.len(),
            )));
        }
        self.pos = (payload_at + pad8(len)).min(buf.len());
        let source = match buf[at + 12] {
            1 => Source::Kernel,
            2 => Source::Udev,
            b => {
                return Some(Err(ParseError::new(
                    ErrorKind::BadByte { byte: b, what: "record source" },
                    at + 12,
                )))
            }
        };
        let payload = &buf[payload_at..payload_at + len];
        // The parser counts errors from `payload_at` and sets source and
        // time, so the event is built in this function's return slot.
        let rec = uevent::kernel::Record {
            base: payload_at,
            source,
            timestamp_ns: self.timed.then_some(ts),
        };
        Some(uevent::kernel::parse_at(payload, rec))
    }
}

/// Writes a trace file record by record.
pub struct Writer<W: Write> {
    out: W,
    scratch: Vec<u8>,
    records: u64,
}

impl<W: Write> Writer<W> {
    /// Write the header and return a writer for the records.
    pub fn new(
        mut out: W,
        clock: Clock,
        origin: Origin,
        description: &str,
    ) -> io::Result<Self> {
        let desc = &description.as_bytes()[..description.len().min(4096)];
        let header_len = pad8(FIXED_HEADER + desc.len());
        let mut h = Vec::with_capacity(header_len);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&VERSION.to_le_bytes());
        h.extend_from_slice(&(header_len as u16).to_le_bytes());
        h.push(match clock {
            Clock::None => 0,
            Clock::Monotonic => 1,
            Clock::Realtime => 2,
        });
        h.push(origin.code());
        h.extend_from_slice(&(desc.len() as u16).to_le_bytes());
        h.extend_from_slice(desc);
        h.resize(header_len, 0);
        out.write_all(&h)?;
        Ok(Writer { out, scratch: Vec::with_capacity(MAX_RECORD), records: 0 })
    }

    /// Write one record whose payload is a kernel datagram.
    pub fn write_datagram(
        &mut self,
        timestamp_ns: u64,
        source: Source,
        payload: &[u8],
    ) -> io::Result<()> {
        if payload.len() > MAX_RECORD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "record of {} bytes exceeds the limit of {MAX_RECORD}",
                    payload.len()
                ),
            ));
        }
        let mut h = [0u8; RECORD_HEADER];
        h[..8].copy_from_slice(&timestamp_ns.to_le_bytes());
        h[8..12].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        h[12] = match source {
            Source::Kernel => 1,
            Source::Udev => 2,
        };
        self.out.write_all(&h)?;
        self.out.write_all(payload)?;
        let pad = pad8(payload.len()) - payload.len();
        self.out.write_all(&[0u8; 8][..pad])?;
        self.records += 1;
        Ok(())
    }

    /// Write `ev` as a kernel datagram. Events whose environment lacks
    /// the keys every datagram carries (sysfs files, header-only monitor
    /// blocks) get them synthesized, with `fallback_seqnum`.
    pub fn write_event(
        &mut self,
        timestamp_ns: u64,
        ev: &Uevent<'_>,
        fallback_seqnum: u64,
    ) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        uevent::kernel::encode_complete(ev, fallback_seqnum, &mut buf);
        let r = self.write_datagram(timestamp_ns, ev.source(), &buf);
        self.scratch = buf;
        r
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flush and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}
