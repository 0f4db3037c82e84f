//! Uevents as borrowed views, and one parser per wire or text format.
//!
//! Every parser returns a [`Uevent<'a>`] whose fields are slices of the
//! input: nothing is copied, nothing is allocated. The environment is
//! kept as the raw region of the input and split on demand by
//! [`Uevent::entries`]; the fields that coldplug needs on every event
//! (action, devpath, subsystem, devtype, driver, seqnum, modalias) are
//! found in the single validating pass the parser makes.
//!
//! | format | module | separator | source |
//! |---|---|---|---|
//! | kernel netlink datagram | [`kernel`] | NUL | `lib/kobject_uevent.c` |
//! | libudev netlink datagram | [`libudev`] | NUL | systemd `device-monitor.c` |
//! | `udevadm monitor --property` | [`monitor`] | newline | systemd `udevadm-monitor.c` |
//! | sysfs `uevent` file | [`sysfs`] | newline | `drivers/base/core.c` |
//!
//! Values are bytes: they may hold `=`, spaces, a trailing newline
//! (the cpu MODALIAS, AP APMASK) and non-UTF-8.
//!
//! # Speed
//!
//! Every byte of a record is compared once: `Scan` walks 16-byte
//! masks of separators and `=` (`swar.rs`; SSE2 on x86_64, plain `u64`
//! arithmetic elsewhere) and dispatches keys on length and first byte.
//! Two shortcuts skip work on the records real systems send and fall
//! back to the general code for everything else, so results and errors
//! do not depend on them: the kernel parser checks the
//! `ACTION=..\0DEVPATH=..\0` prefix against the header in one
//! comparison, and the monitor reader finds a block's end, its NULs and
//! its entries in one pass, handing any block that is not clean to the
//! exact block parser. `benches/uevent.rs` measures them against the
//! naive reference parser of `tests/reference/mod.rs`, and the
//! `differential` fuzz target checks that both give the same events and
//! errors.

mod bytes;
mod error;
pub mod kernel;
pub mod libudev;
pub mod monitor;
pub mod sysfs;

pub use bytes::Bytes;
pub use error::{ErrorKind, ParseError};

use std::fmt;

/// Largest record coldplug accepts: udev's receive buffer (8192 bytes,
/// `device_monitor_receive_device`). The kernel's own limit is smaller
/// (`UEVENT_BUFFER_SIZE` 2048 for the environment).
pub const MAX_RECORD: usize = 8192;

/// The uevent action, from the kernel's `kobject_actions[]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action<'a> {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `change`
    Change,
    /// `move`
    Move,
    /// `online`
    Online,
    /// `offline`
    Offline,
    /// `bind` (4.14+)
    Bind,
    /// `unbind` (4.14+)
    Unbind,
    /// Anything else, kept as the bytes found.
    Other(&'a [u8]),
}

impl<'a> Action<'a> {
    /// Classify an action string.
    pub fn from_bytes(b: &'a [u8]) -> Self {
        match b {
            b"add" => Action::Add,
            b"remove" => Action::Remove,
            b"change" => Action::Change,
            b"move" => Action::Move,
            b"online" => Action::Online,
            b"offline" => Action::Offline,
            b"bind" => Action::Bind,
            b"unbind" => Action::Unbind,
            other => Action::Other(other),
        }
    }

    /// [`Action::from_bytes`] given also `w`, eight bytes read from where
    /// `b` starts (those after `b` are ignored): one masked compare per
    /// candidate, inlined, for the kernel parser.
    #[inline(always)]
    pub(crate) fn from_word(b: &'a [u8], w: u64) -> Self {
        let low = |n: u32| w & ((1u64 << (8 * n)) - 1);
        match b.len() {
            3 if low(3) == key_word(b"add") => Action::Add,
            4 if low(4) == key_word(b"move") => Action::Move,
            4 if low(4) == key_word(b"bind") => Action::Bind,
            6 => match low(6) {
                REMOVE => Action::Remove,
                CHANGE => Action::Change,
                ONLINE => Action::Online,
                UNBIND => Action::Unbind,
                _ => Action::Other(b),
            },
            7 if low(7) == key_word(b"offline") => Action::Offline,
            _ => Action::Other(b),
        }
    }

    /// The action as the kernel spells it.
    pub fn as_bytes(&self) -> &'a [u8] {
        match self {
            Action::Add => b"add",
            Action::Remove => b"remove",
            Action::Change => b"change",
            Action::Move => b"move",
            Action::Online => b"online",
            Action::Offline => b"offline",
            Action::Bind => b"bind",
            Action::Unbind => b"unbind",
            Action::Other(b) => b,
        }
    }

    /// True for the eight actions the kernel knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Action::Other(_))
    }
}

impl fmt::Debug for Action<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Bytes(self.as_bytes()), f)
    }
}

impl fmt::Display for Action<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Bytes(self.as_bytes()), f)
    }
}

/// Who emitted the event: the kernel (netlink group 1) or udevd after
/// rule processing (group 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// A kernel uevent.
    Kernel,
    /// A udev event (libudev datagram, `UDEV` monitor block).
    Udev,
}

impl Source {
    /// Lower-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Source::Kernel => "kernel",
            Source::Udev => "udev",
        }
    }
}

/// How environment entries are separated in [`Uevent::env`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    /// `KEY=VALUE\0` (datagrams).
    Nul,
    /// `KEY=VALUE\n` (monitor text, sysfs files).
    Newline,
}

impl Separator {
    fn byte(self) -> u8 {
        match self {
            Separator::Nul => 0,
            Separator::Newline => b'\n',
        }
    }
}

/// One uevent, borrowing the buffer it was parsed from.
#[derive(Clone, Copy)]
pub struct Uevent<'a> {
    pub(crate) source: Source,
    pub(crate) action: Action<'a>,
    pub(crate) devpath: &'a [u8],
    pub(crate) subsystem: Option<&'a [u8]>,
    pub(crate) devtype: Option<&'a [u8]>,
    pub(crate) driver: Option<&'a [u8]>,
    pub(crate) modalias: Option<&'a [u8]>,
    pub(crate) seqnum: Option<u64>,
    pub(crate) timestamp_ns: Option<u64>,
    pub(crate) env: &'a [u8],
    pub(crate) sep: Separator,
}

impl<'a> Uevent<'a> {
    /// Kernel or udev.
    pub fn source(&self) -> Source {
        self.source
    }
    /// The action.
    pub fn action(&self) -> Action<'a> {
        self.action
    }
    /// `DEVPATH` (for sysfs files: the path the caller gave).
    pub fn devpath(&self) -> &'a [u8] {
        self.devpath
    }
    /// `SUBSYSTEM`.
    pub fn subsystem(&self) -> Option<&'a [u8]> {
        self.subsystem
    }
    /// `DEVTYPE`.
    pub fn devtype(&self) -> Option<&'a [u8]> {
        self.devtype
    }
    /// `DRIVER`.
    pub fn driver(&self) -> Option<&'a [u8]> {
        self.driver
    }
    /// `MODALIAS`, as bytes (may end in a newline in a datagram).
    pub fn modalias(&self) -> Option<&'a [u8]> {
        self.modalias
    }
    /// `SEQNUM`.
    pub fn seqnum(&self) -> Option<u64> {
        self.seqnum
    }
    /// Timestamp in nanoseconds where the format carries one (monitor
    /// text: the monotonic receive time; our trace: the record time).
    pub fn timestamp_ns(&self) -> Option<u64> {
        self.timestamp_ns
    }
    /// The raw environment region of the input.
    pub fn env(&self) -> &'a [u8] {
        self.env
    }
    /// How entries are separated in [`Uevent::env`].
    pub fn separator(&self) -> Separator {
        self.sep
    }

    /// The same event with another timestamp (the trace reader sets the
    /// record time).
    pub fn with_timestamp_ns(mut self, ns: Option<u64>) -> Self {
        self.timestamp_ns = ns;
        self
    }

    /// The same event marked as coming from `source`.
    pub fn with_source(mut self, source: Source) -> Self {
        self.source = source;
        self
    }

    /// Every `KEY=VALUE` entry in order, as borrowed slices.
    pub fn entries(&self) -> Entries<'a> {
        Entries { rest: self.env, sep: self.sep.byte() }
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&'a [u8]> {
        self.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// True when the environment holds no entries.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
    }
}

impl fmt::Debug for Uevent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Uevent");
        d.field("source", &self.source)
            .field("action", &self.action)
            .field("devpath", &Bytes(self.devpath))
            .field("seqnum", &self.seqnum)
            .field("timestamp_ns", &self.timestamp_ns);
        let entries: Vec<_> =
            self.entries().map(|(k, v)| (Bytes(k), Bytes(v))).collect();
        d.field("entries", &entries).finish()
    }
}

/// Iterator over `KEY=VALUE` entries, splitting with `memchr`.
#[derive(Clone)]
pub struct Entries<'a> {
    rest: &'a [u8],
    sep: u8,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (entry, rest) = match memchr::memchr(self.sep, self.rest) {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, &[][..]),
            };
            self.rest = rest;
            if entry.is_empty() {
                continue;
            }
            return Some(match memchr::memchr(b'=', entry) {
                Some(i) => (&entry[..i], &entry[i + 1..]),
                None => (entry, &[][..]),
            });
        }
    }
}

/// The fields found in one pass over an environment, with their
/// offsets for error messages. Shared by every format's parser.
#[derive(Default)]
pub(crate) struct Scan<'a> {
    pub action: Option<(&'a [u8], usize)>,
    pub devpath: Option<(&'a [u8], usize)>,
    pub subsystem: Option<(&'a [u8], usize)>,
    pub devtype: Option<&'a [u8]>,
    pub driver: Option<&'a [u8]>,
    pub modalias: Option<&'a [u8]>,
    pub seqnum: Option<(&'a [u8], usize)>,
}

impl<'a> Scan<'a> {
    /// Validate every entry of `env` (separated by `sep`, starting at
    /// `base` in the caller's buffer) and pick out the common fields.
    /// `trailing_ok` allows the final entry to lack its separator.
    #[inline]
    pub fn run(
        env: &'a [u8],
        sep: u8,
        base: usize,
        trailing_ok: bool,
    ) -> Result<Self, ParseError> {
        let mut scan = Scan::default();
        scan.resume(env, sep, base, trailing_ok, 0)?;
        Ok(scan)
    }

    /// [`Scan::run`] for the entries from `from` on (an entry start),
    /// the fields of the entries before it already filled in.
    #[inline]
    pub fn resume(
        &mut self,
        env: &'a [u8],
        sep: u8,
        base: usize,
        trailing_ok: bool,
        from: usize,
    ) -> Result<(), ParseError> {
        self.resume_inline(env, sep, base, trailing_ok, from)
    }

    /// [`Scan::resume`] inlined, for the kernel datagram parser: the
    /// scan's fields stay in its frame, and no call is made per event.
    #[inline(always)]
    pub(crate) fn resume_inline(
        &mut self,
        env: &'a [u8],
        sep: u8,
        base: usize,
        trailing_ok: bool,
        from: usize,
    ) -> Result<(), ParseError> {
        const IN_KEY: usize = usize::MAX;
        let scan = self;
        let len = env.len();
        // Start of the current entry, and its first '=' (IN_KEY until
        // one is seen).
        let (mut pos, mut eq) = (from, IN_KEY);
        let mut i = from;
        // 64 bytes at a time: a mask of the separators and one of the
        // '='. The loop visits the separators only; an entry's first '='
        // is the lowest '=' bit between its start and its end, so no byte
        // is looked at twice and a '=' costs no iteration.
        while i < len {
            let [mut s, mut e] = crate::swar::masks64(env, i, [sep, b'=']);
            // `e` keeps only the '=' bits from the open entry's start on:
            // the bits up to each separator are cleared when its entry is
            // taken (an entry that started before this block is open
            // from before its first bit).
            while s != 0 {
                // Bits 0..=k, k the separator's bit.
                let upto = s ^ (s - 1);
                let j = i + s.trailing_zeros() as usize;
                if eq == IN_KEY {
                    let first = e & upto;
                    if first == 0 {
                        let kind = if j == pos {
                            ErrorKind::EmptyEntry
                        } else {
                            ErrorKind::EntryWithoutEquals
                        };
                        return Err(ParseError::new(kind, base + pos));
                    }
                    eq = i + first.trailing_zeros() as usize;
                }
                (s, e) = (s & !upto, e & !upto);
                scan.entry(env, base, pos, eq, j)?;
                (pos, eq) = (j + 1, IN_KEY);
            }
            if eq == IN_KEY && e != 0 {
                // The open entry's '=' is in the rest of this block.
                eq = i + e.trailing_zeros() as usize;
            }
            i += 64;
        }
        if pos < len {
            // The last entry has no separator.
            if !trailing_ok {
                return Err(ParseError::truncated(
                    "environment entry",
                    base + len,
                ));
            }
            if eq == IN_KEY {
                return Err(ParseError::new(
                    ErrorKind::EntryWithoutEquals,
                    base + pos,
                ));
            }
            scan.entry(env, base, pos, eq, len)?;
        }
        Ok(())
    }

    /// Take the entry `env[pos..end]`, whose first '=' is at `eq`.
    #[inline(always)]
    pub(crate) fn entry(
        &mut self,
        env: &'a [u8],
        base: usize,
        pos: usize,
        eq: usize,
        end: usize,
    ) -> Result<(), ParseError> {
        if eq == pos {
            return Err(ParseError::new(ErrorKind::EmptyKey, base + pos));
        }
        // The known keys are 6 to 9 bytes long: the other entries are
        // left before any slice is made (and bounds checked).
        if !(6..=9).contains(&(eq - pos)) {
            return Ok(());
        }
        // The eight bytes at `pos`: the key, then '=' and more when it is
        // shorter. Only a final entry without separator can end sooner.
        let w = match env.get(pos..pos + 8) {
            Some(w) => u64::from_le_bytes(w.try_into().unwrap()),
            None => key_word(&env[pos..eq]),
        };
        let value = &env[eq + 1..end];
        // Dispatch on length, then compare the key's bytes as one word.
        let (slot, field) = match eq - pos {
            6 => match w & ((1 << 48) - 1) {
                ACTION => (&mut self.action, "ACTION"),
                SEQNUM => (&mut self.seqnum, "SEQNUM"),
                DRIVER => {
                    self.driver.get_or_insert(value);
                    return Ok(());
                }
                _ => return Ok(()),
            },
            7 => match w & ((1 << 56) - 1) {
                DEVPATH => (&mut self.devpath, "DEVPATH"),
                DEVTYPE => {
                    self.devtype.get_or_insert(value);
                    return Ok(());
                }
                _ => return Ok(()),
            },
            8 if w == MODALIAS => {
                self.modalias.get_or_insert(value);
                return Ok(());
            }
            9 if w == SUBSYSTE && env[pos + 8] == b'M' => {
                (&mut self.subsystem, "SUBSYSTEM")
            }
            _ => return Ok(()),
        };
        if slot.is_some() {
            return Err(ParseError::new(
                ErrorKind::DuplicateField { field },
                base + pos,
            ));
        }
        *slot = Some((value, base + eq + 1));
        Ok(())
    }

    /// Parse `SEQNUM` as a decimal u64 without sign or spaces. Leading
    /// zeros are accepted, as udev's `safe_atou64` accepts them.
    #[inline(always)]
    pub fn seqnum(&self) -> Result<Option<u64>, ParseError> {
        match self.seqnum {
            None => Ok(None),
            Some((v, at)) => parse_u64_inline(v)
                .map(Some)
                .ok_or_else(|| ParseError::bad_number("SEQNUM", at)),
        }
    }
}

/// The first eight bytes of a key as a little-endian word, for
/// [`Scan::entry`] (0 past its end).
const fn key_word(k: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut n = 0;
    while n < k.len() && n < 8 {
        w |= (k[n] as u64) << (8 * n);
        n += 1;
    }
    w
}

const ACTION: u64 = key_word(b"ACTION");
const SEQNUM: u64 = key_word(b"SEQNUM");
const DRIVER: u64 = key_word(b"DRIVER");
const DEVPATH: u64 = key_word(b"DEVPATH");
const DEVTYPE: u64 = key_word(b"DEVTYPE");
const MODALIAS: u64 = key_word(b"MODALIAS");
const REMOVE: u64 = key_word(b"remove");
const CHANGE: u64 = key_word(b"change");
const ONLINE: u64 = key_word(b"online");
const UNBIND: u64 = key_word(b"unbind");
/// The first eight bytes of `SUBSYSTEM`.
const SUBSYSTE: u64 = key_word(b"SUBSYSTEM");

/// The line starting at `pos` (without its `\n`) and where the next
/// one starts; shared by the text formats.
pub(crate) fn line_at(text: &[u8], pos: usize) -> (&[u8], usize) {
    match memchr::memchr(b'\n', &text[pos..]) {
        Some(i) => (&text[pos..pos + i], pos + i + 1),
        None => (&text[pos..], text.len()),
    }
}

/// Decimal u64 without sign or surrounding space; `None` on anything
/// else, including overflow.
#[inline]
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    parse_u64_inline(v)
}

/// [`parse_u64`], inlined where every event has a number (SEQNUM):
/// the loop over a few digits costs less than the call.
#[inline(always)]
pub(crate) fn parse_u64_inline(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    if v.len() < 20 {
        // 19 digits cannot overflow.
        for &b in v {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            n = n * 10 + u64::from(d);
        }
        return Some(n);
    }
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip() {
        for a in [
            "add", "remove", "change", "move", "online", "offline", "bind",
            "unbind",
        ] {
            let act = Action::from_bytes(a.as_bytes());
            assert!(act.is_known());
            assert_eq!(act.as_bytes(), a.as_bytes());
        }
        assert_eq!(Action::from_bytes(b"frob"), Action::Other(b"frob"));
    }

    #[test]
    fn actions_from_words() {
        for a in [
            &b"add"[..],
            b"remove",
            b"change",
            b"move",
            b"online",
            b"offline",
            b"bind",
            b"unbind",
            b"ad",
            b"adds",
            b"moved",
            b"bine",
            b"offlinx",
            b"",
            b"unbinding",
        ] {
            let mut w = [b'x'; 8];
            let n = a.len().min(8);
            w[..n].copy_from_slice(&a[..n]);
            let w = u64::from_le_bytes(w);
            assert_eq!(Action::from_word(a, w), Action::from_bytes(a));
        }
    }

    #[test]
    fn u64_parsing() {
        assert_eq!(parse_u64(b"0"), Some(0));
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"99999999999999999999"), None);
        assert_eq!(
            parse_u64(b"9999999999999999999"),
            Some(9999999999999999999)
        );
        assert_eq!(parse_u64(b"00000000000000000001"), Some(1));
        assert_eq!(parse_u64(b"12/"), None);
        assert_eq!(parse_u64(b"1:"), None);
        assert_eq!(parse_u64(b""), None);
        assert_eq!(parse_u64(b"+1"), None);
        assert_eq!(parse_u64(b"1 "), None);
    }

    #[test]
    fn known_keys_at_the_very_end() {
        // A final entry without separator, too short for an 8-byte load.
        let scan = Scan::run(b"A=1\nACTION=", b'\n', 0, true).unwrap();
        assert_eq!(scan.action, Some((&b""[..], 11)));
        let scan = Scan::run(b"DEVTYPE=", b'\n', 0, true).unwrap();
        assert_eq!(scan.devtype, Some(&b""[..]));
        let scan = Scan::run(b"SUBSYSTEM=", b'\n', 0, true).unwrap();
        assert_eq!(scan.subsystem, Some((&b""[..], 10)));
        let scan = Scan::run(b"SEQNUMX=1\nSEQNUM=", b'\n', 0, true).unwrap();
        assert_eq!(scan.seqnum, Some((&b""[..], 17)));
        let scan = Scan::run(b"SUBSYSTEX=\nACTIONS=", b'\n', 0, true).unwrap();
        assert_eq!((scan.subsystem, scan.action), (None, None));
    }

    #[test]
    fn entries_keep_equals_and_bytes() {
        let ev = Uevent {
            source: Source::Kernel,
            action: Action::Add,
            devpath: b"/x",
            subsystem: None,
            devtype: None,
            driver: None,
            modalias: None,
            seqnum: None,
            timestamp_ns: None,
            env: b"A=b=c\0B=\xff\n\0",
            sep: Separator::Nul,
        };
        let e: Vec<_> = ev.entries().collect();
        assert_eq!(
            e,
            vec![(&b"A"[..], &b"b=c"[..]), (&b"B"[..], &b"\xff\n"[..])]
        );
        assert_eq!(ev.get(b"B"), Some(&b"\xff\n"[..]));
        assert_eq!(ev.get(b"C"), None);
    }
}
