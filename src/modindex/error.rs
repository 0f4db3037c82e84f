//! Errors of the module-directory readers: a small struct with a kind,
//! the file it came from and, where known, the byte offset or line.
//!
//! Parsers work on buffers and leave `file` empty; the loader names the
//! file with [`IndexError::in_file`].

use std::fmt;
use std::path::{Path, PathBuf};

/// What went wrong. `#[non_exhaustive]`: new files bring new failures.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io(std::io::Error),
    /// The buffer ended inside a field.
    Truncated {
        /// The field being read.
        what: &'static str,
    },
    /// The first word is not kmod's index magic `0xB007F457`.
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The major version (high 16 bits) is not 2.
    UnsupportedVersion {
        /// The version word found.
        found: u32,
    },
    /// A node offset points outside the file or into the header.
    BadOffset {
        /// The field holding the offset.
        what: &'static str,
        /// The offset (flag bits removed).
        offset: u32,
    },
    /// A child range with `first > last` or a byte of 128 or more.
    BadChildRange {
        /// First child byte.
        first: u8,
        /// Last child byte.
        last: u8,
    },
    /// A node is reachable twice (a cycle or shared subtree): the trie
    /// must be a tree, or a traversal could loop or explode.
    SharedNode {
        /// The node's offset.
        offset: u32,
    },
    /// The file describes more than a reader should build from it
    /// (e.g. keys whose total length is out of all proportion to the
    /// file's size).
    TooLarge {
        /// What is too large.
        what: &'static str,
    },
    /// A text line that is not what the file has at that place.
    BadLine {
        /// What was expected.
        expected: &'static str,
    },
}

/// An error reading a file of a kernel's modules directory.
#[derive(Debug)]
pub struct IndexError {
    kind: ErrorKind,
    file: Option<PathBuf>,
    offset: Option<u64>,
    line: Option<usize>,
}

impl IndexError {
    pub(crate) fn at(offset: usize, kind: ErrorKind) -> Self {
        IndexError {
            kind,
            file: None,
            offset: Some(offset as u64),
            line: None,
        }
    }

    pub(crate) fn line(line: usize, expected: &'static str) -> Self {
        IndexError {
            kind: ErrorKind::BadLine { expected },
            file: None,
            offset: None,
            line: Some(line),
        }
    }

    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        IndexError {
            kind: ErrorKind::Io(e),
            file: Some(path.to_owned()),
            offset: None,
            line: None,
        }
    }

    /// Name the file the error came from.
    pub fn in_file(mut self, path: &Path) -> Self {
        self.file = Some(path.to_owned());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file, when the loader named it.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// Byte offset in the file, for binary formats.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// 1-based line, for text formats.
    pub fn line_number(&self) -> Option<usize> {
        self.line
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Truncated { what } => {
                write!(f, "truncated while reading {what}")
            }
            ErrorKind::BadMagic { found } => {
                write!(f, "bad magic {found:#010x}, expected 0xb007f457")
            }
            ErrorKind::UnsupportedVersion { found } => {
                write!(f, "unsupported index version {found:#010x}")
            }
            ErrorKind::BadOffset { what, offset } => {
                write!(f, "{what} {offset:#x} points outside the file")
            }
            ErrorKind::BadChildRange { first, last } => {
                write!(f, "bad child range {first}..={last}")
            }
            ErrorKind::SharedNode { offset } => {
                write!(f, "node {offset:#x} is reachable twice")
            }
            ErrorKind::TooLarge { what } => write!(f, "{what} too large"),
            ErrorKind::BadLine { expected } => {
                write!(f, "expected {expected}")
            }
        }
    }
}

impl fmt::Display for IndexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.file {
            write!(f, "{}: ", p.display())?;
        }
        if let Some(l) = self.line {
            write!(f, "line {l}: ")?;
        } else if let Some(o) = self.offset {
            write!(f, "byte {o}: ")?;
        }
        write!(f, "{}", self.kind)
    }
}

impl std::error::Error for IndexError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}
