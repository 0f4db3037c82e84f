//! A byte-string wrapper whose `Debug` and `Display` escape what is not
//! printable UTF-8, so views print readably without decoding (as bstr).

use std::fmt::{self, Write};

/// Borrowed bytes that format as text with escapes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bytes<'a>(pub &'a [u8]);

impl fmt::Display for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\n' => f.write_str("\\n")?,
                    '\t' => f.write_str("\\t")?,
                    '\\' => f.write_str("\\\\")?,
                    c if c.is_control() => write!(f, "\\x{:02x}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::Bytes;

    #[test]
    fn escapes_control_and_invalid() {
        assert_eq!(Bytes(b"a\nb\xff\x01").to_string(), "a\\nb\\xff\\x01");
        assert_eq!(format!("{:?}", Bytes(b"x")), "\"x\"");
    }
}
