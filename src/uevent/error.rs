//! Parse errors: a small struct with a kind, the byte offset where the
//! problem was seen and, for text formats, the 1-based line.
//!
//! Offsets are relative to the buffer handed to the parser; the trace
//! reader shifts them to file offsets with [`ParseError::shifted`] and
//! fills in the line for text formats with [`ParseError::with_line`].

use std::fmt;

/// What went wrong. `#[non_exhaustive]`: new formats bring new failures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended inside a record; more bytes would be needed.
    Truncated {
        /// What was being read when the bytes ran out.
        what: &'static str,
    },
    /// A kernel datagram header without the `@` between action and devpath.
    MissingAt,
    /// A record that is empty, or whose header has an empty part.
    Empty {
        /// Which part is empty.
        what: &'static str,
    },
    /// The header and the environment disagree (action, devpath,
    /// subsystem).
    HeaderMismatch {
        /// The key whose value differs from the header.
        field: &'static str,
    },
    /// A key every event of this format carries is absent.
    MissingField {
        /// The missing key.
        field: &'static str,
    },
    /// A key that must be unique appears twice.
    DuplicateField {
        /// The repeated key.
        field: &'static str,
    },
    /// A numeric field that is not a number, or is out of range.
    BadNumber {
        /// The field at fault.
        field: &'static str,
    },
    /// An environment entry without `=`.
    EntryWithoutEquals,
    /// An empty `KEY=VALUE` slot (two separators in a row).
    EmptyEntry,
    /// An entry whose key is empty (`=value`).
    EmptyKey,
    /// The libudev prefix or magic is wrong.
    BadMagic {
        /// Which magic: `libudev`, `trace`.
        what: &'static str,
    },
    /// A libudev or trace header offset or length that points outside
    /// the buffer or is inconsistent.
    BadOffset {
        /// The header field at fault.
        field: &'static str,
    },
    /// A record larger than the format allows.
    Oversized {
        /// Its length in bytes.
        len: u64,
        /// The largest length accepted.
        max: u64,
    },
    /// A text line that is not what the format has at that place.
    BadLine {
        /// What was expected there.
        expected: &'static str,
    },
    /// A trace file version this build cannot read.
    UnsupportedVersion {
        /// The version found.
        found: u16,
    },
    /// A byte that is not allowed where it stands (NUL inside text).
    BadByte {
        /// The byte.
        byte: u8,
        /// Where it was found.
        what: &'static str,
    },
}

/// A parse failure with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    kind: ErrorKind,
    offset: u64,
    line: Option<u64>,
}

impl ParseError {
    /// A new error of `kind` at byte `offset`.
    pub fn new(kind: ErrorKind, offset: usize) -> Self {
        ParseError { kind, offset: offset as u64, line: None }
    }

    pub(crate) fn truncated(what: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::Truncated { what }, offset)
    }

    pub(crate) fn missing(field: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::MissingField { field }, offset)
    }

    pub(crate) fn mismatch(field: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::HeaderMismatch { field }, offset)
    }

    pub(crate) fn bad_number(field: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::BadNumber { field }, offset)
    }

    /// A record of `len` bytes where at most `max` are allowed.
    pub(crate) fn oversized(len: usize, max: usize, offset: usize) -> Self {
        Self::new(
            ErrorKind::Oversized { len: len as u64, max: max as u64 },
            offset,
        )
    }

    pub(crate) fn bad_line(expected: &'static str, offset: usize) -> Self {
        Self::new(ErrorKind::BadLine { expected }, offset)
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Byte offset of the problem, from the start of the input.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// 1-based line number, for text formats.
    pub fn line(&self) -> Option<u64> {
        self.line
    }

    /// True when more input could complete the record (a cut stream),
    /// as opposed to bytes that are invalid whatever follows.
    pub fn is_partial(&self) -> bool {
        matches!(self.kind, ErrorKind::Truncated { .. })
    }

    /// The same error with its offset moved by `base` bytes.
    pub fn shifted(mut self, base: u64) -> Self {
        self.offset += base;
        self
    }

    /// The same error with a line number computed from `text`, the whole
    /// input the offset refers to.
    pub fn with_line_in(mut self, text: &[u8]) -> Self {
        let end = (self.offset as usize).min(text.len());
        self.line =
            Some(memchr::memchr_iter(b'\n', &text[..end]).count() as u64 + 1);
        self
    }

    /// The same error with an explicit line number.
    pub fn with_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated { what } => write!(f, "truncated {what}"),
            ErrorKind::MissingAt => {
                write!(f, "header has no '@' between action and devpath")
            }
            ErrorKind::Empty { what } => write!(f, "empty {what}"),
            ErrorKind::HeaderMismatch { field } => {
                write!(
                    f,
                    "{field} in the environment disagrees with the header"
                )
            }
            ErrorKind::MissingField { field } => write!(f, "missing {field}"),
            ErrorKind::DuplicateField { field } => {
                write!(f, "{field} appears twice")
            }
            ErrorKind::BadNumber { field } => write!(f, "bad {field}"),
            ErrorKind::EntryWithoutEquals => {
                write!(f, "environment entry has no '='")
            }
            ErrorKind::EmptyEntry => write!(f, "empty environment entry"),
            ErrorKind::EmptyKey => {
                write!(f, "environment entry has an empty key")
            }
            ErrorKind::BadMagic { what } => write!(f, "bad {what} magic"),
            ErrorKind::BadOffset { field } => {
                write!(f, "{field} points outside the record")
            }
            ErrorKind::Oversized { len, max } => {
                write!(f, "record of {len} bytes exceeds the limit of {max}")
            }
            ErrorKind::BadLine { expected } => {
                write!(f, "unexpected line, expected {expected}")
            }
            ErrorKind::UnsupportedVersion { found } => {
                write!(f, "unsupported trace version {found}")
            }
            ErrorKind::BadByte { byte, what } => {
                write!(f, "byte 0x{byte:02x} not allowed in {what}")
            }
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => {
                write!(
                    f,
                    "{} at byte {} (line {})",
                    self.kind, self.offset, line
                )
            }
            None => write!(f, "{} at byte {}", self.kind, self.offset),
        }
    }
}

impl std::error::Error for ParseError {}
