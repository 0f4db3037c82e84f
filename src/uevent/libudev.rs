//! The libudev netlink datagram (group 2, sent by systemd-udevd after
//! rule processing).
//!
//! Layout, from `struct monitor_netlink_header` in systemd's
//! `src/libsystemd/sd-device/device-monitor.c`:
//!
//! ```text
//! off  size  field
//!  0     8   prefix "libudev\0"
//!  8     4   magic 0xfeedcafe, big-endian
//! 12     4   header_size (40), host order
//! 16     4   properties_off, host order
//! 20     4   properties_len, host order
//! 24     4   filter_subsystem_hash, big-endian (MurmurHash2 of SUBSYSTEM)
//! 28     4   filter_devtype_hash, big-endian
//! 32     4   filter_tag_bloom_hi, big-endian
//! 36     4   filter_tag_bloom_lo, big-endian
//! then KEY=VALUE\0 ... at properties_off, properties_len bytes
//! ```
//!
//! "Host order" is the sender's: a capture from an s390x (big-endian)
//! machine carries big-endian sizes. The reader takes the order in
//! which `header_size` reads 40, and checks every offset and length
//! against the buffer with checked arithmetic.

use super::{ErrorKind, ParseError, Scan, Separator, Source, Uevent};

/// The fixed header size.
pub const HEADER_LEN: usize = 40;
/// The prefix every libudev datagram starts with.
pub const PREFIX: &[u8; 8] = b"libudev\0";
/// `UDEV_MONITOR_MAGIC`.
pub const MAGIC: u32 = 0xfeed_cafe;

/// The decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `header_size`.
    pub header_size: u32,
    /// `properties_off`.
    pub properties_off: u32,
    /// `properties_len`.
    pub properties_len: u32,
    /// True when the sizes were big-endian (an s390x sender).
    pub big_endian_sizes: bool,
    /// MurmurHash2 of SUBSYSTEM.
    pub subsystem_hash: u32,
    /// MurmurHash2 of DEVTYPE, 0 when none.
    pub devtype_hash: u32,
    /// Tag bloom filter, 64 bits.
    pub tag_bloom: u64,
}

fn be32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

impl Header {
    /// Read and check the header of `buf`.
    pub fn read(buf: &[u8]) -> Result<Header, ParseError> {
        if buf.len() < PREFIX.len() {
            if PREFIX.starts_with(buf) {
                return Err(ParseError::truncated(
                    "libudev header",
                    buf.len(),
                ));
            }
            return Err(ParseError::new(
                ErrorKind::BadMagic { what: "libudev prefix" },
                0,
            ));
        }
        if &buf[..8] != PREFIX {
            return Err(ParseError::new(
                ErrorKind::BadMagic { what: "libudev prefix" },
                0,
            ));
        }
        if buf.len() < HEADER_LEN {
            return Err(ParseError::truncated("libudev header", buf.len()));
        }
        if be32(buf, 8) != MAGIC {
            return Err(ParseError::new(
                ErrorKind::BadMagic { what: "libudev" },
                8,
            ));
        }
        let le = |at| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        let big = if le(12) as usize == HEADER_LEN {
            false
        } else if be32(buf, 12) as usize == HEADER_LEN {
            true
        } else {
            return Err(ParseError::new(
                ErrorKind::BadOffset { field: "header_size" },
                12,
            ));
        };
        let host = |at| if big { be32(buf, at) } else { le(at) };
        let header = Header {
            header_size: HEADER_LEN as u32,
            properties_off: host(16),
            properties_len: host(20),
            big_endian_sizes: big,
            subsystem_hash: be32(buf, 24),
            devtype_hash: be32(buf, 28),
            tag_bloom: (u64::from(be32(buf, 32)) << 32)
                | u64::from(be32(buf, 36)),
        };
        let off = header.properties_off as usize;
        if off < HEADER_LEN || off > buf.len() {
            return Err(ParseError::new(
                ErrorKind::BadOffset { field: "properties_off" },
                16,
            ));
        }
        let end = off.checked_add(header.properties_len as usize);
        if end.is_none_or(|end| end > buf.len()) {
            return Err(ParseError::new(
                ErrorKind::BadOffset { field: "properties_len" },
                20,
            ));
        }
        Ok(header)
    }
}

/// Parse one libudev datagram. Offsets in errors are relative to `buf`.
pub fn parse(buf: &[u8]) -> Result<Uevent<'_>, ParseError> {
    parse_with_header(buf).map(|(_, ev)| ev)
}

/// Parse one libudev datagram and return its header too.
pub fn parse_with_header(
    buf: &[u8],
) -> Result<(Header, Uevent<'_>), ParseError> {
    if buf.len() > super::MAX_RECORD {
        return Err(ParseError::oversized(buf.len(), super::MAX_RECORD, 0));
    }
    let header = Header::read(buf)?;
    let off = header.properties_off as usize;
    let env = &buf[off..off + header.properties_len as usize];
    let scan = Scan::run(env, 0, off, false)?;
    let end = off + env.len();
    let meta = (Source::Kernel, None);
    let ev =
        super::kernel::from_scan(scan, None, env, Separator::Nul, end, meta)?;
    // Converted to a trace record, the 40-byte header becomes
    // `ACTION@DEVPATH\0`, which can be longer: refuse what would not fit.
    let len = super::kernel::complete_len(
        ev.action.as_bytes(),
        ev.devpath,
        ev.subsystem,
        env.len(),
        [true; 4],
    );
    if len > super::MAX_RECORD {
        return Err(ParseError::oversized(len, super::MAX_RECORD, 0));
    }
    Ok((header, ev.with_source(Source::Udev)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(props: &[u8], big: bool) -> Vec<u8> {
        let mut b = PREFIX.to_vec();
        b.extend_from_slice(&MAGIC.to_be_bytes());
        for v in [40u32, 40, props.len() as u32] {
            b.extend_from_slice(&if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(props);
        b
    }

    const PROPS: &[u8] = b"UDEV_DATABASE_VERSION=1\0ACTION=add\0\
DEVPATH=/devices/msr\0SUBSYSTEM=event_source\0SEQNUM=1308\0";

    #[test]
    fn parses_both_size_orders() {
        for big in [false, true] {
            let b = datagram(PROPS, big);
            let (h, ev) = parse_with_header(&b).unwrap();
            assert_eq!(h.big_endian_sizes, big);
            assert_eq!(ev.devpath(), b"/devices/msr");
            assert_eq!(ev.seqnum(), Some(1308));
            assert_eq!(ev.source(), Source::Udev);
        }
    }

    #[test]
    fn rejects_bad_headers() {
        let mut b = datagram(PROPS, false);
        b[9] = 0;
        assert_eq!(
            parse(&b).unwrap_err().kind(),
            &ErrorKind::BadMagic { what: "libudev" }
        );
        let mut b = datagram(PROPS, false);
        b[20] = 0xff;
        let e = parse(&b).unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::BadOffset { field: "properties_len" }
        );
        assert_eq!(e.offset(), 20);
        let b = datagram(PROPS, false);
        assert!(parse(&b[..30]).unwrap_err().is_partial());
    }
}
