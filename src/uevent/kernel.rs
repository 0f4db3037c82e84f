//! The kernel's netlink uevent datagram (NETLINK_KOBJECT_UEVENT, group 1).
//!
//! Layout, from `alloc_uevent_skb` and `kobject_uevent_env` in
//! `lib/kobject_uevent.c`:
//!
//! ```text
//! add@/devices/ap/card03\0          header: ACTION '@' DEVPATH NUL
//! ACTION=add\0                      environment: KEY=VALUE NUL, repeated;
//! DEVPATH=/devices/ap/card03\0      ACTION, DEVPATH, SUBSYSTEM first,
//! SUBSYSTEM=ap\0                    SEQNUM last; no final double NUL,
//! ...                               the datagram length delimits it
//! SEQNUM=1234\0
//! ```
//!
//! The parser checks that the header agrees with `ACTION` and `DEVPATH`,
//! that `SUBSYSTEM` is present and that `SEQNUM` is a decimal u64, as
//! udev's `device_verify` requires of every event it accepts.

use super::{
    Action, ErrorKind, ParseError, Scan, Separator, Source, Uevent, MAX_RECORD,
};

/// Parse one kernel datagram. Offsets in errors are relative to `buf`.
#[inline]
pub fn parse(buf: &[u8]) -> Result<Uevent<'_>, ParseError> {
    parse_at(buf, Record::default())
}

/// What a reader knows of a datagram besides its bytes.
#[derive(Clone, Copy)]
pub(crate) struct Record {
    /// Where the datagram starts in the input errors refer to.
    pub base: usize,
    /// Who sent it.
    pub source: Source,
    /// When it was recorded.
    pub timestamp_ns: Option<u64>,
}

impl Record {
    /// Source and timestamp, for [`from_scan`].
    pub(crate) fn meta(&self) -> (Source, Option<u64>) {
        (self.source, self.timestamp_ns)
    }
}

impl Default for Record {
    fn default() -> Self {
        Record { base: 0, source: Source::Kernel, timestamp_ns: None }
    }
}

/// [`parse`] for a datagram of a larger input: error offsets count from
/// `rec.base`, and the event gets `rec`'s source and timestamp. A
/// reader that returns the result as it is gets it built in its own
/// return slot; shifting the error or setting the fields afterwards
/// (`map`, `map_err`) copied the whole result, 160 bytes. Never
/// inlined: inlined into the datagram and trace readers (which LLVM
/// did or did not do as unrelated code changed) it took 736
/// instructions an event instead of 680.
#[inline(never)]
pub(crate) fn parse_at(
    buf: &[u8],
    rec: Record,
) -> Result<Uevent<'_>, ParseError> {
    let base = rec.base;
    if buf.len() > MAX_RECORD {
        return Err(ParseError::oversized(buf.len(), MAX_RECORD, base));
    }
    if buf.is_empty() {
        return Err(ParseError::truncated("datagram header", base));
    }
    // One pass of 16-byte masks finds the first '@' and the NUL that
    // ends the header; a NUL before any '@' means there is none.
    let (at, nul) = header_split(buf, base)?;
    let (action, devpath) = (&buf[..at], &buf[at + 1..nul]);
    if action.is_empty() {
        return Err(ParseError::new(
            ErrorKind::Empty { what: "action" },
            base,
        ));
    }
    if devpath.is_empty() {
        return Err(ParseError::new(
            ErrorKind::Empty { what: "devpath" },
            base + at + 1,
        ));
    }
    let env_start = nul + 1;
    // Where the environment starts in the input errors refer to.
    let env_at = base + env_start;
    let env = &buf[env_start..];
    // The kernel starts the environment with ACTION and DEVPATH, equal
    // to the header (`kobject_uevent_env`). One comparison checks both
    // entries, and the scan goes on after them. The result is what the
    // full scan would give: the two slots are filled as it would fill
    // them, so a later duplicate is still found.
    let (a, d) = (action.len(), devpath.len());
    let after = 7 + a + 1 + 8 + d + 1;
    // Where the action is in `buf`, compared with no call.
    let e_action = env_start + 7;
    if env.len() >= after
        && env[..7] == *b"ACTION="
        && crate::swar::eq_within(buf, 0, e_action, a)
        && env[7 + a] == 0
        && env[8 + a..16 + a] == *b"DEVPATH="
        && env[16 + a..16 + a + d] == *devpath
        && env[16 + a + d] == 0
    {
        let mut scan = Scan {
            action: Some((&env[7..7 + a], env_at + 7)),
            devpath: Some((&env[16 + a..16 + a + d], env_at + 16 + a)),
            ..Scan::default()
        };
        scan.resume_inline(env, 0, env_at, false, after)?;
        // What `from_scan` checks of ACTION and DEVPATH holds: they are
        // the header's, not empty, and the action has no '@'.
        let (action, devpath) = (&env[7..7 + a], &env[16 + a..16 + a + d]);
        let end = base + buf.len();
        let sep = Separator::Nul;
        // The action's eight bytes: "ACTION=" and 17 more bytes at least
        // are in `env`.
        let action = Action::from_word(action, crate::swar::word(env, 7));
        return finish(scan, action, devpath, env, sep, end, rec.meta());
    }
    let scan = Scan::run(env, 0, env_at, false)?;
    let (header, end) = (Some((action, devpath)), base + buf.len());
    from_scan(scan, header, env, Separator::Nul, end, rec.meta())
}

/// The positions of the first '@' and of the first NUL after it;
/// errors count from `base`.
#[inline(always)]
fn header_split(
    buf: &[u8],
    base: usize,
) -> Result<(usize, usize), ParseError> {
    let mut at = None;
    let mut i = 0;
    while i < buf.len() {
        // 64 bytes a step: a header is 20 to 100 bytes.
        let [ma, mz] = crate::swar::masks64(buf, i, [b'@', 0]);
        let mz = match at {
            Some(_) => mz,
            None => {
                let m = ma | mz;
                if m == 0 {
                    i += 64;
                    continue;
                }
                let k = m.trailing_zeros();
                if mz & (1 << k) != 0 {
                    return Err(ParseError::new(ErrorKind::MissingAt, base));
                }
                at = Some(i + k as usize);
                // Only the NULs after the '@' count.
                mz & !((2u64 << k).wrapping_sub(1))
            }
        };
        if let (Some(at), true) = (at, mz != 0) {
            return Ok((at, i + mz.trailing_zeros() as usize));
        }
        i += 64;
    }
    Err(ParseError::truncated("datagram header", base + buf.len()))
}

/// Turn a validated scan into an event: checks the fields every kernel
/// or udev event carries, and the header's agreement with them. The
/// event gets the source and timestamp of `meta`; `end` is the offset
/// of the record's end (where a missing field is reported).
#[inline]
pub(crate) fn from_scan<'a>(
    scan: Scan<'a>,
    header: Option<(&'a [u8], &'a [u8])>,
    env: &'a [u8],
    sep: Separator,
    end: usize,
    (source, timestamp_ns): (Source, Option<u64>),
) -> Result<Uevent<'a>, ParseError> {
    let (action, action_at) =
        scan.action.ok_or_else(|| ParseError::missing("ACTION", end))?;
    let (devpath, devpath_at) =
        scan.devpath.ok_or_else(|| ParseError::missing("DEVPATH", end))?;
    // What a datagram header can carry: the trace writer turns every
    // event into `ACTION@DEVPATH\0`, so an action with `@` or an empty
    // part would not read back (udev requires both anyway).
    check_action(action, action_at)?;
    if devpath.is_empty() {
        return Err(ParseError::new(
            ErrorKind::Empty { what: "DEVPATH" },
            devpath_at,
        ));
    }
    if let Some((h_action, h_devpath)) = header {
        if h_action != action {
            return Err(ParseError::mismatch(
                "ACTION",
                scan.action.unwrap().1,
            ));
        }
        if h_devpath != devpath {
            return Err(ParseError::mismatch(
                "DEVPATH",
                scan.devpath.unwrap().1,
            ));
        }
    }
    let action = Action::from_bytes(action);
    finish(scan, action, devpath, env, sep, end, (source, timestamp_ns))
}

/// The end of [`from_scan`], once ACTION and DEVPATH are checked: the
/// fields every event carries, then the event.
#[inline(always)]
fn finish<'a>(
    scan: Scan<'a>,
    action: Action<'a>,
    devpath: &'a [u8],
    env: &'a [u8],
    sep: Separator,
    end: usize,
    (source, timestamp_ns): (Source, Option<u64>),
) -> Result<Uevent<'a>, ParseError> {
    let (subsystem, _) =
        scan.subsystem.ok_or_else(|| ParseError::missing("SUBSYSTEM", end))?;
    let seqnum =
        scan.seqnum()?.ok_or_else(|| ParseError::missing("SEQNUM", end))?;
    Ok(Uevent {
        source,
        action,
        devpath,
        subsystem: Some(subsystem),
        devtype: scan.devtype,
        driver: scan.driver,
        modalias: scan.modalias,
        seqnum: Some(seqnum),
        timestamp_ns,
        env,
        sep,
    })
}

/// Check an action for what a datagram header allows: not empty, no
/// `@` (the header splits at the first one). `at` is its offset.
pub(crate) fn check_action(
    action: &[u8],
    at: usize,
) -> Result<(), ParseError> {
    if action.is_empty() {
        return Err(ParseError::new(ErrorKind::Empty { what: "ACTION" }, at));
    }
    // Actions are a few bytes: no memchr call for them.
    if let Some(i) = action.iter().position(|&b| b == b'@') {
        return Err(ParseError::new(
            ErrorKind::BadByte { byte: b'@', what: "action" },
            at + i,
        ));
    }
    Ok(())
}

/// Append the kernel datagram for `ev` to `out`: `ACTION@DEVPATH\0`
/// then every entry NUL-terminated. Used by the trace writer.
pub fn encode(ev: &Uevent<'_>, out: &mut Vec<u8>) {
    out.extend_from_slice(ev.action().as_bytes());
    out.push(b'@');
    out.extend_from_slice(ev.devpath());
    out.push(0);
    for (k, v) in ev.entries() {
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(0);
    }
}

/// Like [`encode`], but for an event whose environment may lack the
/// keys every datagram carries (a sysfs `uevent` file, a monitor block
/// printed without `--property`): `ACTION`, `DEVPATH` and `SUBSYSTEM`
/// are put first and `SEQNUM` (`fallback_seqnum`) last when absent, in
/// the kernel's order. An event without any subsystem gets an empty
/// `SUBSYSTEM=`, so that the record reads back (as `Some("")`).
///
/// The result is at most `complete_len` bytes long (crate-internal).
pub fn encode_complete(
    ev: &Uevent<'_>,
    fallback_seqnum: u64,
    out: &mut Vec<u8>,
) {
    let (mut action, mut devpath, mut subsystem, mut seqnum) =
        (false, false, false, false);
    for (k, _) in ev.entries() {
        match k {
            b"ACTION" => action = true,
            b"DEVPATH" => devpath = true,
            b"SUBSYSTEM" => subsystem = true,
            b"SEQNUM" => seqnum = true,
            _ => {}
        }
    }
    out.extend_from_slice(ev.action().as_bytes());
    out.push(b'@');
    out.extend_from_slice(ev.devpath());
    out.push(0);
    let mut put = |k: &[u8], v: &[u8]| {
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
        out.push(0);
    };
    if !action {
        put(b"ACTION", ev.action().as_bytes());
    }
    if !devpath {
        put(b"DEVPATH", ev.devpath());
    }
    if !subsystem {
        put(b"SUBSYSTEM", ev.subsystem().unwrap_or(b""));
    }
    for (k, v) in ev.entries() {
        put(k, v);
    }
    if !seqnum {
        let n = ev.seqnum().unwrap_or(fallback_seqnum).to_string();
        put(b"SEQNUM", n.as_bytes());
    }
}

/// An upper bound of the length [`encode_complete`] gives, from what a
/// parser knows without another pass: the header parts, the length of
/// an environment of `entries_len` bytes (each entry with its
/// separator), and which of ACTION, DEVPATH, SUBSYSTEM, SEQNUM it holds.
/// A synthesized SEQNUM is counted at its widest (20 digits).
pub(crate) fn complete_len(
    action: &[u8],
    devpath: &[u8],
    subsystem: Option<&[u8]>,
    entries_len: usize,
    has: [bool; 4],
) -> usize {
    let mut n = action.len() + 1 + devpath.len() + 1 + entries_len;
    if !has[0] {
        n += b"ACTION=".len() + action.len() + 1;
    }
    if !has[1] {
        n += b"DEVPATH=".len() + devpath.len() + 1;
    }
    if !has[2] {
        n += b"SUBSYSTEM=".len() + subsystem.map_or(0, <[u8]>::len) + 1;
    }
    if !has[3] {
        n += b"SEQNUM=".len() + 20 + 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uevent::Action;

    const CARD: &[u8] = b"add@/devices/ap/card03\0ACTION=add\0\
DEVPATH=/devices/ap/card03\0SUBSYSTEM=ap\0SYNTH_UUID=0\0DEVTYPE=ap_card\0\
DEV_TYPE=000D\0MODALIAS=ap:t0D\0MODE=cca\0SEQNUM=1234\0";

    #[test]
    fn parses_ap_card() {
        let ev = parse(CARD).unwrap();
        assert_eq!(ev.action(), Action::Add);
        assert_eq!(ev.devpath(), b"/devices/ap/card03");
        assert_eq!(ev.subsystem(), Some(&b"ap"[..]));
        assert_eq!(ev.devtype(), Some(&b"ap_card"[..]));
        assert_eq!(ev.modalias(), Some(&b"ap:t0D"[..]));
        assert_eq!(ev.seqnum(), Some(1234));
        assert_eq!(ev.get(b"MODE"), Some(&b"cca"[..]));
        assert_eq!(ev.len(), 9);
        let mut out = Vec::new();
        encode(&ev, &mut out);
        assert_eq!(out, CARD);
    }

    fn kind(buf: &[u8]) -> (ErrorKind, u64) {
        let e = parse(buf).unwrap_err();
        (e.kind().clone(), e.offset())
    }

    #[test]
    fn errors_carry_offsets() {
        assert_eq!(kind(b"add/x\0ACTION=add\0"), (ErrorKind::MissingAt, 0));
        assert_eq!(
            kind(b"add@/x"),
            (ErrorKind::Truncated { what: "datagram header" }, 6)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0DEVPATH=/y\0"),
            (ErrorKind::HeaderMismatch { field: "DEVPATH" }, 26)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=a\0"),
            (ErrorKind::MissingField { field: "SEQNUM" }, 41)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=a\0SEQNUM=1x\0"),
            (ErrorKind::BadNumber { field: "SEQNUM" }, 48)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0NOEQ\0"),
            (ErrorKind::EntryWithoutEquals, 18)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0\0"),
            (ErrorKind::EmptyEntry, 18)
        );
        assert_eq!(
            kind(b"add@/x\0ACTION=add\0DEVPATH=/x"),
            (ErrorKind::Truncated { what: "environment entry" }, 28)
        );
        assert!(matches!(
            kind(&vec![b'a'; MAX_RECORD + 1]).0,
            ErrorKind::Oversized { .. }
        ));
    }

    #[test]
    fn value_may_end_in_newline() {
        let buf = b"add@/c\0ACTION=add\0DEVPATH=/c\0SUBSYSTEM=cpu\0\
MODALIAS=cpu:type:x86\n\0SEQNUM=1\0";
        assert_eq!(
            parse(buf).unwrap().modalias(),
            Some(&b"cpu:type:x86\n"[..])
        );
    }
}
