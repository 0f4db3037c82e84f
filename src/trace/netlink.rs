//! Datagram captures: each netlink datagram as received, prefixed by its
//! length as a little-endian u32 (the recording convention of the
//! captures in `traces/captures/`). Kernel and libudev datagrams may be
//! mixed; each record is told apart by the `libudev\0` prefix.

use crate::uevent::{self, ParseError, Uevent, MAX_RECORD};

/// True when `buf` starts with a plausible length-prefixed datagram.
pub fn sniff(buf: &[u8]) -> bool {
    if buf.len() < 8 {
        return false;
    }
    let len = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
    if len == 0 || len > MAX_RECORD {
        return false;
    }
    let body = &buf[4..buf.len().min(4 + len)];
    body.starts_with(uevent::libudev::PREFIX)
        || memchr::memchr(0, body)
            .map(|nul| memchr::memmem::find(&body[..nul], b"@/").is_some())
            .unwrap_or(false)
}

/// Iterator over the datagrams of a capture.
pub struct Datagrams<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Datagrams<'a> {
    /// Iterate over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Datagrams { buf, pos: 0 }
    }
}

/// Parse one datagram of either kind.
#[inline]
pub fn parse_datagram(payload: &[u8]) -> Result<Uevent<'_>, ParseError> {
    if payload.starts_with(uevent::libudev::PREFIX) {
        uevent::libudev::parse(payload)
    } else {
        uevent::kernel::parse(payload)
    }
}

impl<'a> Iterator for Datagrams<'a> {
    type Item = Result<Uevent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (buf, at) = (self.buf, self.pos);
        if at >= buf.len() {
            return None;
        }
        if buf.len() - at < 4 {
            self.pos = buf.len();
            return Some(Err(ParseError::truncated(
                "length prefix",
                buf.len(),
            )));
        }
        let len =
            u32::from_le_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
        let start = at + 4;
        if len > MAX_RECORD {
            // The framing still says where the next record starts.
            self.pos = start.saturating_add(len).min(buf.len());
            return Some(Err(ParseError::oversized(len, MAX_RECORD, at)));
        }
        if buf.len() - start < len {
            self.pos = buf.len();
            return Some(Err(ParseError::truncated("datagram", buf.len())));
        }
        self.pos = start + len;
        let payload = &buf[start..start + len];
        if payload.starts_with(uevent::libudev::PREFIX) {
            return Some(
                uevent::libudev::parse(payload)
                    .map_err(|e| e.shifted(start as u64)),
            );
        }
        // Errors counted from `start` by the parser: the event is built
        // in this function's return slot, not copied there. (This is
        // `parse_datagram` written out: calling a shared
        // `parse_datagram_at` instead cost 680 -> 715 instructions an
        // event, inlined or not.)
        let rec = uevent::kernel::Record { base: start, ..Default::default() };
        Some(uevent::kernel::parse_at(payload, rec))
    }
}
