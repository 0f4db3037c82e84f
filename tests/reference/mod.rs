//! A naive, allocating reference parser for every format coldplug reads,
//! written for obviousness rather than speed: split the whole input into
//! owned lines or pieces first, then check them one by one. It must give
//! the same events and the same errors (kind, byte offset, line) as the
//! zero-copy parsers in `src/uevent` and `src/trace`.
//!
//! Used by tests/reference.rs (captures), tests/fuzz_regressions.rs
//! (replay), benches/uevent.rs (baseline) and the `differential` fuzz
//! target, which includes this file with
//! `#[path = "../../tests/reference/mod.rs"] mod reference;`.

#![allow(dead_code)]

use coldplug::trace::{self, file, netlink, Events, Format};
use coldplug::uevent::{self, ErrorKind, ParseError, Source, Uevent};

const MAX_RECORD: usize = uevent::MAX_RECORD;

/// An owned event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub source: Source,
    pub action: Vec<u8>,
    pub devpath: Vec<u8>,
    pub subsystem: Option<Vec<u8>>,
    pub devtype: Option<Vec<u8>>,
    pub driver: Option<Vec<u8>>,
    pub modalias: Option<Vec<u8>>,
    pub seqnum: Option<u64>,
    pub timestamp_ns: Option<u64>,
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Event {
    /// Copy a borrowed view.
    pub fn from_view(ev: &Uevent<'_>) -> Event {
        Event {
            source: ev.source(),
            action: ev.action().as_bytes().to_vec(),
            devpath: ev.devpath().to_vec(),
            subsystem: ev.subsystem().map(<[u8]>::to_vec),
            devtype: ev.devtype().map(<[u8]>::to_vec),
            driver: ev.driver().map(<[u8]>::to_vec),
            modalias: ev.modalias().map(<[u8]>::to_vec),
            seqnum: ev.seqnum(),
            timestamp_ns: ev.timestamp_ns(),
            entries: ev
                .entries()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect(),
        }
    }

    /// The value of the first entry named `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| &v[..])
    }
}

pub type Res = Result<Event, ParseError>;

/// Copy what an iterator of views yields.
pub fn own<'a>(
    it: impl Iterator<Item = Result<Uevent<'a>, ParseError>>,
) -> Vec<Res> {
    it.map(|r| r.map(|ev| Event::from_view(&ev))).collect()
}

fn err(kind: ErrorKind, at: usize) -> ParseError {
    ParseError::new(kind, at)
}

fn truncated(what: &'static str, at: usize) -> ParseError {
    err(ErrorKind::Truncated { what }, at)
}

fn oversized(len: usize, at: usize) -> ParseError {
    err(ErrorKind::Oversized { len: len as u64, max: MAX_RECORD as u64 }, at)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    (0..=hay.len().checked_sub(needle.len())?)
        .rev()
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

/// Decimal u64 as the parsers take it: 1 to 20 ASCII digits.
pub fn number(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse::<u128>().ok()?.try_into().ok()
}

/// One validated environment.
#[derive(Default)]
struct Env {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// (value, offset of the value) of the unique keys.
    action: Option<(Vec<u8>, usize)>,
    devpath: Option<(Vec<u8>, usize)>,
    subsystem: Option<(Vec<u8>, usize)>,
    seqnum: Option<(Vec<u8>, usize)>,
}

impl Env {
    fn first(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }
}

/// Split `env` at `sep` and check each entry; `base` is its offset.
fn scan(
    env: &[u8],
    sep: u8,
    base: usize,
    trailing_ok: bool,
) -> Result<Env, ParseError> {
    let parts: Vec<Vec<u8>> =
        env.split(|&b| b == sep).map(<[u8]>::to_vec).collect();
    let mut out = Env::default();
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == parts.len() - 1 {
            // After the last separator: nothing, or an unterminated entry.
            if part.is_empty() {
                break;
            }
            if !trailing_ok {
                return Err(truncated("environment entry", base + env.len()));
            }
        }
        let at = base + pos;
        if part.is_empty() {
            return Err(err(ErrorKind::EmptyEntry, at));
        }
        let Some(eq) = part.iter().position(|&b| b == b'=') else {
            return Err(err(ErrorKind::EntryWithoutEquals, at));
        };
        if eq == 0 {
            return Err(err(ErrorKind::EmptyKey, at));
        }
        let key = part[..eq].to_vec();
        let value = part[eq + 1..].to_vec();
        let slot = match &key[..] {
            b"ACTION" => Some((&mut out.action, "ACTION")),
            b"DEVPATH" => Some((&mut out.devpath, "DEVPATH")),
            b"SUBSYSTEM" => Some((&mut out.subsystem, "SUBSYSTEM")),
            b"SEQNUM" => Some((&mut out.seqnum, "SEQNUM")),
            _ => None,
        };
        if let Some((slot, field)) = slot {
            if slot.is_some() {
                return Err(err(ErrorKind::DuplicateField { field }, at));
            }
            *slot = Some((value.clone(), at + eq + 1));
        }
        out.entries.push((key, value));
        pos += part.len() + 1;
    }
    Ok(out)
}

fn check_action(action: &[u8], at: usize) -> Result<(), ParseError> {
    if action.is_empty() {
        return Err(err(ErrorKind::Empty { what: "ACTION" }, at));
    }
    if let Some(i) = action.iter().position(|&b| b == b'@') {
        return Err(err(
            ErrorKind::BadByte { byte: b'@', what: "action" },
            at + i,
        ));
    }
    Ok(())
}

/// The checks every kernel or udev event passes, in the parsers' order.
fn complete(
    env: Env,
    header: Option<(&[u8], &[u8])>,
    end: usize,
    source: Source,
) -> Res {
    let missing = |field| err(ErrorKind::MissingField { field }, end);
    let (action, action_at) = env.action.clone().ok_or(missing("ACTION"))?;
    let (devpath, devpath_at) =
        env.devpath.clone().ok_or(missing("DEVPATH"))?;
    check_action(&action, action_at)?;
    if devpath.is_empty() {
        return Err(err(ErrorKind::Empty { what: "DEVPATH" }, devpath_at));
    }
    if let Some((ha, hd)) = header {
        if ha != &action[..] {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "ACTION" },
                action_at,
            ));
        }
        if hd != &devpath[..] {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "DEVPATH" },
                devpath_at,
            ));
        }
    }
    let (subsystem, _) = env.subsystem.clone().ok_or(missing("SUBSYSTEM"))?;
    let (seq, seq_at) = env.seqnum.clone().ok_or(missing("SEQNUM"))?;
    let seqnum = match number(&seq) {
        Some(n) => n,
        None => {
            return Err(err(ErrorKind::BadNumber { field: "SEQNUM" }, seq_at))
        }
    };
    Ok(Event {
        source,
        action,
        devpath,
        subsystem: Some(subsystem),
        devtype: env.first(b"DEVTYPE"),
        driver: env.first(b"DRIVER"),
        modalias: env.first(b"MODALIAS"),
        seqnum: Some(seqnum),
        timestamp_ns: None,
        entries: env.entries,
    })
}

/// A kernel datagram.
pub fn kernel(buf: &[u8]) -> Res {
    if buf.len() > MAX_RECORD {
        return Err(oversized(buf.len(), 0));
    }
    if buf.is_empty() {
        return Err(truncated("datagram header", 0));
    }
    let Some(nul) = buf.iter().position(|&b| b == 0) else {
        return Err(truncated("datagram header", buf.len()));
    };
    let header = &buf[..nul];
    let Some(at) = header.iter().position(|&b| b == b'@') else {
        return Err(err(ErrorKind::MissingAt, 0));
    };
    let (action, devpath) = (&header[..at], &header[at + 1..]);
    if action.is_empty() {
        return Err(err(ErrorKind::Empty { what: "action" }, 0));
    }
    if devpath.is_empty() {
        return Err(err(ErrorKind::Empty { what: "devpath" }, at + 1));
    }
    let env = scan(&buf[nul + 1..], 0, nul + 1, false)?;
    complete(env, Some((action, devpath)), buf.len(), Source::Kernel)
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let w = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

/// A libudev datagram.
pub fn libudev(buf: &[u8]) -> Res {
    const PREFIX: &[u8] = b"libudev\0";
    if buf.len() > MAX_RECORD {
        return Err(oversized(buf.len(), 0));
    }
    let bad_prefix = || err(ErrorKind::BadMagic { what: "libudev prefix" }, 0);
    if buf.len() < 8 {
        if PREFIX.starts_with(buf) {
            return Err(truncated("libudev header", buf.len()));
        }
        return Err(bad_prefix());
    }
    if &buf[..8] != PREFIX {
        return Err(bad_prefix());
    }
    if buf.len() < 40 {
        return Err(truncated("libudev header", buf.len()));
    }
    if u32_at(buf, 8, true) != 0xfeed_cafe {
        return Err(err(ErrorKind::BadMagic { what: "libudev" }, 8));
    }
    let big = if u32_at(buf, 12, false) == 40 {
        false
    } else if u32_at(buf, 12, true) == 40 {
        true
    } else {
        return Err(err(ErrorKind::BadOffset { field: "header_size" }, 12));
    };
    let off = u32_at(buf, 16, big) as u64;
    let len = u32_at(buf, 20, big) as u64;
    if off < 40 || off > buf.len() as u64 {
        return Err(err(ErrorKind::BadOffset { field: "properties_off" }, 16));
    }
    if off + len > buf.len() as u64 {
        return Err(err(ErrorKind::BadOffset { field: "properties_len" }, 20));
    }
    let (off, end) = (off as usize, (off + len) as usize);
    let env = scan(&buf[off..end], 0, off, false)?;
    let ev = complete(env, None, end, Source::Udev)?;
    // What `coldplug convert` would write must fit a trace record.
    let n = complete_len(&ev.action, &ev.devpath, b"", &ev.entries);
    if n > MAX_RECORD {
        return Err(oversized(n, 0));
    }
    Ok(ev)
}

/// A length-prefixed datagram capture.
pub fn datagrams(buf: &[u8]) -> Vec<Res> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        if buf.len() - at < 4 {
            out.push(Err(truncated("length prefix", buf.len())));
            break;
        }
        let len = u32_at(buf, at, false) as usize;
        let start = at + 4;
        if len > MAX_RECORD {
            out.push(Err(oversized(len, at)));
            at = (start + len).min(buf.len());
            continue;
        }
        if buf.len() - start < len {
            out.push(Err(truncated("datagram", buf.len())));
            break;
        }
        let payload = &buf[start..start + len];
        let r = if payload.starts_with(b"libudev\0") {
            libudev(payload)
        } else {
            kernel(payload)
        };
        out.push(r.map_err(|e| e.shifted(start as u64)));
        at = start + len;
    }
    out
}

/// The lines of a text: (offset, bytes without the newline).
fn lines(text: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    for piece in text.split(|&b| b == b'\n') {
        out.push((at, piece.to_vec()));
        at += piece.len() + 1;
    }
    // A final newline ends the last line; it starts no new one.
    if out.last().is_some_and(|(_, l)| l.is_empty()) {
        out.pop();
    }
    out
}

/// The end offset of line `i`, after its newline if it has one.
fn line_end(text: &[u8], lines: &[(usize, Vec<u8>)], i: usize) -> usize {
    (lines[i].0 + lines[i].1.len() + 1).min(text.len())
}

fn with_line(e: ParseError, text: &[u8]) -> ParseError {
    let upto = (e.offset() as usize).min(text.len());
    let n = text[..upto].iter().filter(|&&b| b == b'\n').count();
    e.with_line(n as u64 + 1)
}

fn first_nul(
    text: &[u8],
    start: usize,
    end: usize,
    what: &'static str,
) -> Result<(), ParseError> {
    match text[start..end].iter().position(|&b| b == 0) {
        Some(i) => Err(err(ErrorKind::BadByte { byte: 0, what }, start + i)),
        None => Ok(()),
    }
}

/// Length of the datagram `encode_complete` makes, SEQNUM counted at 20
/// digits when synthesized; built, not computed.
fn complete_len(
    action: &[u8],
    devpath: &[u8],
    subsystem: &[u8],
    entries: &[(Vec<u8>, Vec<u8>)],
) -> usize {
    let mut d = Vec::new();
    d.extend_from_slice(action);
    d.push(b'@');
    d.extend_from_slice(devpath);
    d.push(0);
    let has = |k: &[u8]| entries.iter().any(|(key, _)| key == k);
    let mut put = |k: &[u8], v: &[u8]| {
        d.extend_from_slice(k);
        d.push(b'=');
        d.extend_from_slice(v);
        d.push(0);
    };
    if !has(b"ACTION") {
        put(b"ACTION", action);
    }
    if !has(b"DEVPATH") {
        put(b"DEVPATH", devpath);
    }
    if !has(b"SUBSYSTEM") {
        put(b"SUBSYSTEM", subsystem);
    }
    for (k, v) in entries {
        put(k, v);
    }
    if !has(b"SEQNUM") {
        put(b"SEQNUM", b"18446744073709551615");
    }
    d.len()
}

const PREAMBLE: [&[u8]; 4] = [
    b"monitor will print the received events for:",
    b"UDEV - the event which udev sends out after rule processing",
    b"KERNEL - the kernel uevent",
    b"UEVENT - the kernel uevent",
];

fn monitor_source(line: &[u8]) -> Option<Source> {
    if line.starts_with(b"KERNEL[") || line.starts_with(b"UEVENT[") {
        return Some(Source::Kernel);
    }
    let rest = line.strip_prefix(b"UDEV")?;
    let i = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    (rest[i] == b'[').then_some(Source::Udev)
}

/// `udevadm monitor` text.
pub fn monitor(text: &[u8]) -> Vec<Res> {
    let ls = lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < ls.len() {
        let line = &ls[i].1;
        if line.is_empty() || PREAMBLE.contains(&&line[..]) {
            i += 1;
            continue;
        }
        let start = ls[i].0;
        let mut j = i + 1;
        let r = if monitor_source(line).is_some() {
            while j < ls.len()
                && !ls[j].1.is_empty()
                && monitor_source(&ls[j].1).is_none()
            {
                j += 1;
            }
            monitor_block(text, &ls, i, j)
        } else {
            Err(err(ErrorKind::BadLine { expected: "an event header" }, start))
        };
        out.push(r.map_err(|e| with_line(e, text)));
        i = j;
    }
    out
}

fn monitor_block(
    text: &[u8],
    ls: &[(usize, Vec<u8>)],
    i: usize,
    j: usize,
) -> Res {
    let start = ls[i].0;
    let end = line_end(text, ls, j - 1);
    first_nul(text, start, end, "monitor text")?;
    let line = &ls[i].1[..];
    let bad = |expected| err(ErrorKind::BadLine { expected }, start);
    let source = monitor_source(line).ok_or(bad("an event header"))?;
    let open = line.iter().position(|&b| b == b'[').ok_or(bad("'['"))?;
    let close = line.iter().position(|&b| b == b']').ok_or(bad("']'"))?;
    if close < open {
        return Err(bad("'[' before ']'"));
    }
    let time = &line[open + 1..close];
    let ns = (|| {
        let dot = time.iter().position(|&b| b == b'.')?;
        let (sec, usec) = (&time[..dot], &time[dot + 1..]);
        if usec.len() != 6 {
            return None;
        }
        let ns = u128::from(number(sec)?) * 1_000_000_000
            + u128::from(number(usec)?) * 1000;
        u64::try_from(ns).ok()
    })()
    .ok_or(err(
        ErrorKind::BadNumber { field: "timestamp" },
        start + open + 1,
    ))?;
    if line.get(close + 1) != Some(&b' ') {
        return Err(bad("a space after ']'"));
    }
    let rest = &line[close + 2..];
    let sp = rest.iter().position(|&b| b == b' ').ok_or(bad("an action"))?;
    let action = &rest[..sp];
    if action.is_empty() {
        return Err(err(ErrorKind::Empty { what: "action" }, start));
    }
    check_action(action, start + close + 2)?;
    let rest = &rest[sp..];
    let k = rest.iter().position(|b| !b.is_ascii_whitespace());
    let rest = &rest[k.unwrap_or(rest.len())..];
    let rest = rest.strip_suffix(b")").ok_or(bad("'(subsystem)'"))?;
    let paren = rfind(rest, b" (").ok_or(bad("' (subsystem)'"))?;
    let (devpath, subsystem) = (&rest[..paren], &rest[paren + 2..]);
    if devpath.is_empty() {
        return Err(err(ErrorKind::Empty { what: "devpath" }, start));
    }
    let env_start = line_end(text, ls, i).min(end);
    let mut env = &text[env_start..end];
    if env.ends_with(b"\n") {
        env = &env[..env.len() - 1];
    }
    let e = scan(env, b'\n', env_start, true)?;
    if let Some((s, at)) = &e.subsystem {
        if &s[..] != subsystem {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "SUBSYSTEM" },
                *at,
            ));
        }
    }
    let fits = |action: &[u8], entries: &[(Vec<u8>, Vec<u8>)]| {
        let n = complete_len(action, devpath, subsystem, entries);
        if n > MAX_RECORD {
            Err(err(
                ErrorKind::Oversized { len: n as u64, max: MAX_RECORD as u64 },
                start,
            ))
        } else {
            Ok(())
        }
    };
    if e.action.is_none() && e.devpath.is_none() && e.seqnum.is_none() {
        fits(action, &e.entries)?;
        return Ok(Event {
            source,
            action: action.to_vec(),
            devpath: devpath.to_vec(),
            subsystem: Some(subsystem.to_vec()),
            devtype: e.first(b"DEVTYPE"),
            driver: e.first(b"DRIVER"),
            modalias: e.first(b"MODALIAS"),
            seqnum: None,
            timestamp_ns: Some(ns),
            entries: e.entries,
        });
    }
    if let Some((a, at)) = &e.action {
        if action != b"n/a" && &a[..] != action {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "ACTION" },
                *at,
            ));
        }
    }
    if let Some((d, at)) = &e.devpath {
        if &d[..] != devpath {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "DEVPATH" },
                *at,
            ));
        }
    }
    let mut ev = complete(e, None, end, source)?;
    fits(&ev.action, &ev.entries)?;
    ev.timestamp_ns = Some(ns);
    Ok(ev)
}

/// A sysfs snapshot (`P: devpath`, optional `S: subsystem`, lines).
pub fn snapshot(text: &[u8]) -> Vec<Res> {
    let ls = lines(text);
    let mut out = Vec::new();
    let mut i = 0;
    while i < ls.len() {
        if ls[i].1.is_empty() {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < ls.len() && !ls[j].1.is_empty() {
            j += 1;
        }
        out.push(
            snapshot_block(text, &ls, i, j).map_err(|e| with_line(e, text)),
        );
        i = j;
    }
    out
}

fn snapshot_block(
    text: &[u8],
    ls: &[(usize, Vec<u8>)],
    i: usize,
    j: usize,
) -> Res {
    let start = ls[i].0;
    let end = line_end(text, ls, j - 1);
    first_nul(text, start, end, "sysfs text")?;
    let Some(devpath) = ls[i].1.strip_prefix(b"P: ") else {
        return Err(err(
            ErrorKind::BadLine { expected: "'P: devpath'" },
            start,
        ));
    };
    if devpath.is_empty() {
        return Err(err(ErrorKind::Empty { what: "devpath" }, start));
    }
    let mut body = line_end(text, ls, i);
    let mut subsystem = None;
    if i + 1 < j {
        if let Some(s) = ls[i + 1].1.strip_prefix(b"S: ") {
            subsystem = Some(s.to_vec());
            body = line_end(text, ls, i + 1);
        }
    }
    uevent_file(text, body, end, devpath, subsystem, b"add")
}

fn uevent_file(
    text: &[u8],
    start: usize,
    end: usize,
    devpath: &[u8],
    subsystem: Option<Vec<u8>>,
    action: &[u8],
) -> Res {
    let mut env = &text[start..end];
    if env.ends_with(b"\n") {
        env = &env[..env.len() - 1];
    }
    let e = scan(env, b'\n', start, true)?;
    for (field, found) in
        [("ACTION", &e.action), ("DEVPATH", &e.devpath), ("SEQNUM", &e.seqnum)]
    {
        if let Some((_, at)) = found {
            return Err(err(
                ErrorKind::BadLine {
                    expected: "no such key in a uevent file",
                },
                at - field.len() - 1,
            ));
        }
    }
    if let (Some(s), Some((found, at))) = (&subsystem, &e.subsystem) {
        if s != found {
            return Err(err(
                ErrorKind::HeaderMismatch { field: "SUBSYSTEM" },
                *at,
            ));
        }
    }
    let subsystem = subsystem.or(e.subsystem.as_ref().map(|s| s.0.clone()));
    let n = complete_len(
        action,
        devpath,
        subsystem.as_deref().unwrap_or(b""),
        &e.entries,
    );
    if n > MAX_RECORD {
        return Err(oversized(n, start));
    }
    Ok(Event {
        source: Source::Kernel,
        action: action.to_vec(),
        devpath: devpath.to_vec(),
        subsystem,
        devtype: e.first(b"DEVTYPE"),
        driver: e.first(b"DRIVER"),
        modalias: e.first(b"MODALIAS"),
        seqnum: None,
        timestamp_ns: None,
        entries: e.entries,
    })
}

/// One sysfs `uevent` file for `devpath`.
pub fn sysfs_file(text: &[u8], devpath: &[u8], action: &[u8]) -> Res {
    if devpath.is_empty() {
        return Err(err(ErrorKind::Empty { what: "devpath" }, 0));
    }
    check_action(action, 0)?;
    first_nul(text, 0, text.len(), "sysfs text")?;
    uevent_file(text, 0, text.len(), devpath, None, action)
}

/// A coldplug trace file.
pub fn trace_file(buf: &[u8]) -> Vec<Res> {
    const MAGIC: &[u8] = b"CPLGTRC\0";
    let header = (|| {
        if buf.len() < 8 {
            return Err(if MAGIC.starts_with(buf) {
                truncated("trace header", buf.len())
            } else {
                err(ErrorKind::BadMagic { what: "trace" }, 0)
            });
        }
        if !buf.starts_with(MAGIC) {
            return Err(err(ErrorKind::BadMagic { what: "trace" }, 0));
        }
        if buf.len() < 16 {
            return Err(truncated("trace header", buf.len()));
        }
        let version = u16::from_le_bytes([buf[8], buf[9]]);
        if version != 1 {
            return Err(err(
                ErrorKind::UnsupportedVersion { found: version },
                8,
            ));
        }
        let header_len = usize::from(u16::from_le_bytes([buf[10], buf[11]]));
        let desc = usize::from(u16::from_le_bytes([buf[14], buf[15]]));
        if header_len < 16 + desc || header_len % 8 != 0 {
            return Err(err(ErrorKind::BadOffset { field: "header_len" }, 10));
        }
        if header_len > buf.len() {
            return Err(truncated("trace header", buf.len()));
        }
        if buf[12] > 2 {
            return Err(err(
                ErrorKind::BadByte { byte: buf[12], what: "trace clock" },
                12,
            ));
        }
        Ok((header_len, buf[12] != 0))
    })();
    let (mut at, timed) = match header {
        Ok(h) => h,
        Err(e) => return vec![Err(e)],
    };
    let mut out = Vec::new();
    let pad8 = |n: usize| n.div_ceil(8) * 8;
    while at < buf.len() {
        if buf.len() - at < 16 {
            out.push(Err(truncated("record header", buf.len())));
            break;
        }
        let ts = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
        let len = u32_at(buf, at + 8, false) as usize;
        let payload = at + 16;
        if len > MAX_RECORD {
            out.push(Err(oversized(len, at + 8)));
            let next = payload + pad8(len);
            at = if next <= buf.len() { next } else { buf.len() };
            continue;
        }
        if buf.len() - payload < len {
            out.push(Err(truncated("record payload", buf.len())));
            break;
        }
        let next = (payload + pad8(len)).min(buf.len());
        let source = match buf[at + 12] {
            1 => Source::Kernel,
            2 => Source::Udev,
            b => {
                out.push(Err(err(
                    ErrorKind::BadByte { byte: b, what: "record source" },
                    at + 12,
                )));
                at = next;
                continue;
            }
        };
        out.push(
            kernel(&buf[payload..payload + len])
                .map(|mut ev| {
                    ev.source = source;
                    ev.timestamp_ns = timed.then_some(ts);
                    ev
                })
                .map_err(|e| e.shifted(payload as u64)),
        );
        at = next;
    }
    out
}

/// Format detection, as `trace::detect`.
pub fn detect(buf: &[u8]) -> Option<Format> {
    if buf.starts_with(b"CPLGTRC\0") {
        return Some(Format::Coldplug);
    }
    if buf.len() >= 8 {
        let len = u32_at(buf, 0, false) as usize;
        if (1..=MAX_RECORD).contains(&len) {
            let body = &buf[4..buf.len().min(4 + len)];
            let header = body.split(|&b| b == 0).next().unwrap();
            if body.starts_with(b"libudev\0")
                || (header.len() < body.len() && find(header, b"@/").is_some())
            {
                return Some(Format::Datagrams);
            }
        }
    }
    let first = buf.split(|&b| b == b'\n').find(|l| !l.is_empty())?;
    let monitor: [&[u8]; 6] = [
        b"monitor will print",
        b"KERNEL[",
        b"UEVENT[",
        b"UDEV  [",
        b"UDEV - ",
        b"KERNEL - ",
    ];
    if monitor.iter().any(|p| first.starts_with(p)) {
        return Some(Format::Monitor);
    }
    first.starts_with(b"P: /").then_some(Format::SysfsSnapshot)
}

/// The reference reading of `buf` as `format`.
pub fn events(buf: &[u8], format: Format) -> Vec<Res> {
    match format {
        Format::Coldplug => trace_file(buf),
        Format::Datagrams => datagrams(buf),
        Format::Monitor => monitor(buf),
        Format::SysfsSnapshot => snapshot(buf),
    }
}

fn same(what: &str, fast: &[Res], slow: &[Res], data: &[u8]) {
    if fast != slow {
        let n = fast.iter().zip(slow).take_while(|(a, b)| a == b).count();
        panic!(
            "{what}: zero-copy and reference parsers differ at item {n} \
             ({} vs {} items)\n  fast: {:?}\n  slow: {:?}\n  input: {:?}",
            fast.len(),
            slow.len(),
            fast.get(n),
            slow.get(n),
            uevent::Bytes(&data[..data.len().min(512)]),
        );
    }
}

/// The zero-copy parsers and the reference agree on `data` read as each
/// format (and each single-record parser); also behind a valid trace
/// header.
pub fn differential(data: &[u8]) {
    let one = |r: Result<Uevent<'_>, ParseError>| {
        vec![r.map(|ev| Event::from_view(&ev))]
    };
    same("kernel", &one(uevent::kernel::parse(data)), &[kernel(data)], data);
    same(
        "libudev",
        &one(uevent::libudev::parse(data)),
        &[libudev(data)],
        data,
    );
    same(
        "datagram",
        &one(netlink::parse_datagram(data)),
        &[if data.starts_with(b"libudev\0") {
            libudev(data)
        } else {
            kernel(data)
        }],
        data,
    );
    same(
        "sysfs file",
        &one(uevent::sysfs::parse(data, b"/d", uevent::Action::Change)),
        &[sysfs_file(data, b"/d", b"change")],
        data,
    );
    assert_eq!(trace::detect(data), detect(data), "detect");
    let with_header = [&coldplug::fuzzing::TRACE_PREAMBLE[..], data].concat();
    for buf in [data, &with_header[..]] {
        for f in [
            Format::Coldplug,
            Format::Datagrams,
            Format::Monitor,
            Format::SysfsSnapshot,
        ] {
            same(f.name(), &own(Events::new(buf, f)), &events(buf, f), buf);
        }
    }
    let _ = file::MAGIC;
}
