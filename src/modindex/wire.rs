//! Checked big-endian reads for kmod's index files.
//!
//! The files are hostile input (a corrupt or crafted `modules.alias.bin`
//! must give an error, not a panic or a runaway), so every read names
//! what it is for, checks the length first and reports the offset where
//! the bytes ran out. Integers are big-endian like libkmod's `ntohl`
//! reads, so the same code is right on s390x and amd64.

use super::error::{ErrorKind, IndexError};

fn truncated(at: usize, what: &'static str) -> IndexError {
    IndexError::at(at, ErrorKind::Truncated { what })
}

/// The big-endian u32 at `at`.
pub(crate) fn read_u32(
    buf: &[u8],
    at: usize,
    what: &'static str,
) -> Result<u32, IndexError> {
    let end = at.checked_add(4).ok_or_else(|| truncated(at, what))?;
    let bytes = buf.get(at..end).ok_or_else(|| truncated(at, what))?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// The byte at `at`.
pub(crate) fn read_u8(
    buf: &[u8],
    at: usize,
    what: &'static str,
) -> Result<u8, IndexError> {
    buf.get(at).copied().ok_or_else(|| truncated(at, what))
}

/// The NUL-terminated string at `at`, without its NUL, and the offset
/// just past the NUL.
pub(crate) fn read_cstr<'a>(
    buf: &'a [u8],
    at: usize,
    what: &'static str,
) -> Result<(&'a [u8], usize), IndexError> {
    let rest = buf.get(at..).ok_or_else(|| truncated(at, what))?;
    let n = memchr::memchr(0, rest).ok_or_else(|| truncated(at, what))?;
    Ok((&rest[..n], at + n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_checked() {
        let b = [0xB0, 0x07, 0xF4, 0x57, b'a', 0, 7];
        assert_eq!(read_u32(&b, 0, "magic").unwrap(), 0xB007_F457);
        assert!(read_u32(&b, 4, "x").is_err());
        assert!(read_u32(&b, usize::MAX - 1, "x").is_err());
        assert_eq!(read_cstr(&b, 4, "s").unwrap(), (&b"a"[..], 6));
        assert!(read_cstr(&b, 6, "s").is_err());
        assert!(read_cstr(&b, 100, "s").is_err());
        assert_eq!(read_u8(&b, 6, "c").unwrap(), 7);
        assert!(read_u8(&b, 7, "c").is_err());
    }
}
