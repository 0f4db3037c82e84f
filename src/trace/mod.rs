//! Trace files: format detection, memory mapping, and one iterator over
//! the events of any supported format.
//!
//! | format | detected by | reader |
//! |---|---|---|
//! | coldplug trace | magic `CPLGTRC\0` | [`mod@file`] |
//! | datagram capture | u32 LE length, then `libudev\0` or `x@/` | [`netlink`] |
//! | udevadm monitor text | preamble or `KERNEL[` / `UDEV  [` | [`crate::uevent::monitor`] |
//! | sysfs snapshot | `P: /` | [`crate::uevent::sysfs`] |

pub mod file;
pub mod netlink;
pub mod stats;

use std::fs::File;
use std::io;
use std::path::Path;

use crate::uevent::{monitor, sysfs, ParseError, Uevent};

/// A trace format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// coldplug's own trace file.
    Coldplug,
    /// Length-prefixed kernel or libudev datagrams.
    Datagrams,
    /// `udevadm monitor` text.
    Monitor,
    /// A sysfs snapshot (`P: devpath` blocks).
    SysfsSnapshot,
}

impl Format {
    /// Name used in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Coldplug => "coldplug",
            Format::Datagrams => "datagrams",
            Format::Monitor => "monitor",
            Format::SysfsSnapshot => "sysfs-snapshot",
        }
    }

    /// True for text formats, whose errors carry line numbers.
    pub fn is_text(self) -> bool {
        matches!(self, Format::Monitor | Format::SysfsSnapshot)
    }
}

/// Guess the format of `buf` from its first bytes.
pub fn detect(buf: &[u8]) -> Option<Format> {
    if file::sniff(buf) {
        return Some(Format::Coldplug);
    }
    if netlink::sniff(buf) {
        return Some(Format::Datagrams);
    }
    let first = buf.split(|&b| b == b'\n').find(|l| !l.is_empty())?;
    if first.starts_with(b"monitor will print")
        || first.starts_with(b"KERNEL[")
        || first.starts_with(b"UEVENT[")
        || first.starts_with(b"UDEV  [")
        || first.starts_with(b"UDEV - ")
        || first.starts_with(b"KERNEL - ")
    {
        return Some(Format::Monitor);
    }
    if first.starts_with(b"P: /") {
        return Some(Format::SysfsSnapshot);
    }
    None
}

/// The bytes of a trace, memory-mapped when they come from a file.
pub enum Trace {
    /// A mapped file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory (stdin, tests, empty files).
    Owned(Vec<u8>),
}

impl Trace {
    /// Map `path`; `-` reads standard input.
    pub fn open(path: &Path) -> io::Result<Trace> {
        if path == Path::new("-") {
            let mut v = Vec::new();
            io::Read::read_to_end(&mut io::stdin().lock(), &mut v)?;
            return Ok(Trace::Owned(v));
        }
        let f = File::open(path)?;
        let meta = f.metadata()?;
        if meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            ));
        }
        if meta.len() == 0 || !meta.is_file() {
            let mut v = Vec::new();
            io::Read::read_to_end(&mut &f, &mut v)?;
            return Ok(Trace::Owned(v));
        }
        // SAFETY: the map is read-only; a file truncated by another
        // process while mapped can raise SIGBUS, the accepted risk of
        // every mmap reader (ripgrep makes the same trade).
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(Trace::Mapped(map))
    }

    /// Tell the kernel we are done with the pages read so far: a replay
    /// keeps only small records and the few views it still needs
    /// (devpaths for the report), which are read back from the page
    /// cache when touched. Without it a mapped trace stays resident
    /// for the whole run. No-op for bytes in memory.
    pub fn release(&self) {
        if let Trace::Mapped(m) = self {
            // SAFETY: the mapping is a read-only shared file mapping
            // that is never written; MADV_DONTNEED only drops our page
            // table entries and later reads fault the same file
            // contents back in, so every view stays valid.
            let _ = unsafe {
                m.unchecked_advise(memmap2::UncheckedAdvice::DontNeed)
            };
        }
    }

    /// The trace's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Trace::Mapped(m) => m,
            Trace::Owned(v) => v,
        }
    }
}

/// Events of a trace in any format. Yields each event or the error of a
/// malformed record (offsets from the start of the trace, lines for
/// text formats) and goes on with the next record where it can.
pub enum Events<'a> {
    /// coldplug trace records.
    Coldplug(file::Records<'a>),
    /// A trace whose header is bad: one error, then nothing.
    BadHeader(Option<ParseError>),
    /// Datagram capture.
    Datagrams(netlink::Datagrams<'a>),
    /// Monitor text.
    Monitor(monitor::Blocks<'a>),
    /// sysfs snapshot.
    Sysfs(sysfs::Snapshot<'a>),
}

impl<'a> Events<'a> {
    /// Iterate over `buf` read as `format`.
    pub fn new(buf: &'a [u8], format: Format) -> Self {
        match format {
            Format::Coldplug => match file::Header::read(buf) {
                Ok(h) => Events::Coldplug(file::Records::new(buf, &h)),
                Err(e) => Events::BadHeader(Some(e)),
            },
            Format::Datagrams => {
                Events::Datagrams(netlink::Datagrams::new(buf))
            }
            Format::Monitor => Events::Monitor(monitor::Blocks::new(buf)),
            Format::SysfsSnapshot => Events::Sysfs(sysfs::Snapshot::new(buf)),
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Uevent<'a>, ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Events::Coldplug(r) => r.next(),
            Events::BadHeader(e) => e.take().map(Err),
            Events::Datagrams(r) => r.next(),
            Events::Monitor(r) => r.next(),
            Events::Sysfs(r) => r.next(),
        }
    }
}
