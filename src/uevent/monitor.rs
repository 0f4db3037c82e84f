//! `udevadm monitor --property` text (also `--kernel`, `--udev`, and
//! without `--property`).
//!
//! From `device_monitor_handler` in systemd's `udevadm-monitor.c`:
//!
//! ```text
//! monitor will print the received events for:        preamble, tolerated
//! KERNEL - the kernel uevent                          anywhere between
//!                                                     blocks
//! KERNEL[454.092201] add      /bus/acpi (bus)         "%-6s[%lu.%06lu] %-8s %s (%s)\n"
//! ACTION=add                                          with --property:
//! DEVPATH=/bus/acpi                                   KEY=VALUE lines,
//! SUBSYSTEM=bus                                       then one empty line
//! SEQNUM=820
//!
//! UDEV  [1065.767917] add      /devices/msr (event_source)
//! ```
//!
//! The time is CLOCK_MONOTONIC when udevadm received the event. Without
//! `--property` headers follow each other with no properties and no
//! blank line; the event then has no SEQNUM. An unknown action prints
//! as `n/a`. systemd renders a few things differently from the kernel
//! datagram: `DEVNAME` gains `/dev/`, `MAJOR`/`MINOR` come after
//! `SEQNUM`, and a value's trailing newline is dropped.

use super::{
    line_at, Action, ErrorKind, ParseError, Scan, Separator, Source, Uevent,
};

const PREAMBLE: [&[u8]; 4] = [
    b"monitor will print the received events for:",
    b"UDEV - the event which udev sends out after rule processing",
    b"KERNEL - the kernel uevent",
    b"UEVENT - the kernel uevent",
];

/// Which kind of line starts at a position.
fn header_source(line: &[u8]) -> Option<Source> {
    if line.starts_with(b"KERNEL[") || line.starts_with(b"UEVENT[") {
        Some(Source::Kernel)
    } else if line.starts_with(b"UDEV")
        && line[4..].trim_ascii_start().starts_with(b"[")
    {
        Some(Source::Udev)
    } else {
        None
    }
}

/// Parse `sec.usec` into nanoseconds.
#[inline]
fn parse_time(t: &[u8]) -> Option<u64> {
    let dot = t.iter().position(|&c| c == b'.')?;
    let (sec, usec) = (&t[..dot], &t[dot + 1..]);
    if usec.len() != 6 {
        return None;
    }
    let sec = super::parse_u64(sec)?;
    let usec = super::parse_u64(usec)?;
    sec.checked_mul(1_000_000_000)?.checked_add(usec * 1000)
}

/// The parts of a header line.
struct HeaderLine<'a> {
    source: Source,
    ns: u64,
    action: &'a [u8],
    devpath: &'a [u8],
    subsystem: &'a [u8],
}

fn parse_header(line: &[u8], at: usize) -> Result<HeaderLine<'_>, ParseError> {
    let bad = |what| ParseError::bad_line(what, at);
    let source = header_source(line).ok_or_else(|| bad("an event header"))?;
    // A header line is short: plain loops beat memchr's setup here.
    let find = |b: u8| line.iter().position(|&c| c == b);
    let open = find(b'[').ok_or_else(|| bad("'['"))?;
    // `header_source` leaves only blanks before the '[': the first ']'
    // of the line comes after it.
    let close = line[open..]
        .iter()
        .position(|&c| c == b']')
        .map(|k| k + open)
        .ok_or_else(|| bad("']'"))?;
    if close < open {
        return Err(bad("'[' before ']'"));
    }
    let ns = parse_time(&line[open + 1..close])
        .ok_or_else(|| ParseError::bad_number("timestamp", at + open + 1))?;
    let rest = line[close + 1..]
        .strip_prefix(b" ")
        .ok_or_else(|| bad("a space after ']'"))?;
    let sp = rest
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| bad("an action"))?;
    let action = &rest[..sp];
    if action.is_empty() {
        return Err(ParseError::new(ErrorKind::Empty { what: "action" }, at));
    }
    let action_at = at + (action.as_ptr() as usize - line.as_ptr() as usize);
    super::kernel::check_action(action, action_at)?;
    let rest = rest[sp..].trim_ascii_start();
    let rest = rest.strip_suffix(b")").ok_or_else(|| bad("'(subsystem)'"))?;
    // The last " (": the subsystem is short, the devpath may hold one.
    let mut k = rest.len();
    let paren = loop {
        k = rest[..k]
            .iter()
            .rposition(|&c| c == b'(')
            .ok_or_else(|| bad("' (subsystem)'"))?;
        if k > 0 && rest[k - 1] == b' ' {
            break k - 1;
        }
    };
    let (devpath, subsystem) = (&rest[..paren], &rest[paren + 2..]);
    if devpath.is_empty() {
        return Err(ParseError::new(ErrorKind::Empty { what: "devpath" }, at));
    }
    Ok(HeaderLine { source, ns, action, devpath, subsystem })
}

/// [`parse_header`] for the lines udevadm prints (`KERNEL[` or `UDEV  [`,
/// `sec.usec` with six digits), in one forward pass. `None` for any
/// other line, valid or not: the exact parser decides those.
#[inline]
fn parse_header_fast(line: &[u8]) -> Option<HeaderLine<'_>> {
    let source = match line.get(..7)? {
        b"KERNEL[" | b"UEVENT[" => Source::Kernel,
        b"UDEV  [" => Source::Udev,
        _ => return None,
    };
    let digit = |k: usize| {
        line.get(k).map(|b| b.wrapping_sub(b'0')).filter(|&d| d <= 9)
    };
    let mut k = 7;
    let mut sec: u64 = 0;
    while let Some(d) = digit(k) {
        sec = sec * 10 + u64::from(d);
        k += 1;
        if k - 7 > 18 {
            return None;
        }
    }
    if k == 7 || line.get(k) != Some(&b'.') {
        return None;
    }
    let mut usec: u64 = 0;
    for j in k + 1..k + 7 {
        usec = usec * 10 + u64::from(digit(j)?);
    }
    if line.get(k + 7..k + 9)? != b"] " {
        return None;
    }
    let ns = sec.checked_mul(1_000_000_000)?.checked_add(usec * 1000)?;
    let rest = &line[k + 9..];
    let sp = rest.iter().position(|&c| c == b' ')?;
    let action = &rest[..sp];
    if super::kernel::check_action(action, 0).is_err() {
        return None;
    }
    let rest = rest[sp..].trim_ascii_start().strip_suffix(b")")?;
    let mut k = rest.len();
    let paren = loop {
        k = rest[..k].iter().rposition(|&c| c == b'(')?;
        if k > 0 && rest[k - 1] == b' ' {
            break k - 1;
        }
    };
    let (devpath, subsystem) = (&rest[..paren], &rest[paren + 2..]);
    if devpath.is_empty() {
        return None;
    }
    Some(HeaderLine { source, ns, action, devpath, subsystem })
}

/// Parse one block: the header line at `start`, and the property lines
/// up to `end` (exclusive, without the blank line). Offsets are those
/// of `text`.
pub fn parse_block(
    text: &[u8],
    start: usize,
    end: usize,
) -> Result<Uevent<'_>, ParseError> {
    if start > end || end > text.len() {
        return Err(ParseError::new(
            ErrorKind::BadOffset { field: "block range" },
            start.min(text.len()),
        ));
    }
    let block = &text[start..end];
    if let Some(i) = memchr::memchr(0, block) {
        return Err(ParseError::new(
            ErrorKind::BadByte { byte: 0, what: "monitor text" },
            start + i,
        ));
    }
    let (line, env_start) = line_at(text, start);
    let env_start = env_start.min(end);
    let h = parse_header(line, start)?;
    let env = &text[env_start..end];
    let env = env.strip_suffix(b"\n").unwrap_or(env);
    let scan = Scan::run(env, b'\n', env_start, true)?;
    finish(h, scan, env, start, end)
}

/// The checks after the scan of a block's properties, shared by the
/// fast and the exact path.
#[inline]
fn finish<'a>(
    h: HeaderLine<'a>,
    scan: Scan<'a>,
    env: &'a [u8],
    start: usize,
    end: usize,
) -> Result<Uevent<'a>, ParseError> {
    if let Some((s, at)) = scan.subsystem {
        if s != h.subsystem {
            return Err(ParseError::mismatch("SUBSYSTEM", at));
        }
    }
    let has_subsystem = scan.subsystem.is_some();
    if scan.action.is_none() && scan.devpath.is_none() && scan.seqnum.is_none()
    {
        // Without --property: the header is all there is.
        check_fits(h.action, &h, env, [false, false, has_subsystem], start)?;
        return Ok(Uevent {
            source: h.source,
            action: Action::from_bytes(h.action),
            devpath: h.devpath,
            subsystem: Some(h.subsystem),
            devtype: scan.devtype,
            driver: scan.driver,
            modalias: scan.modalias,
            seqnum: None,
            timestamp_ns: Some(h.ns),
            env,
            sep: Separator::Newline,
        });
    }
    // udevadm prints "n/a" for an action it does not know.
    let header_action = (h.action != b"n/a").then_some(h.action);
    if let (Some(ha), Some((a, at))) = (header_action, scan.action) {
        if ha != a {
            return Err(ParseError::mismatch("ACTION", at));
        }
    }
    if let Some((d, at)) = scan.devpath {
        if d != h.devpath {
            return Err(ParseError::mismatch("DEVPATH", at));
        }
    }
    let (sep, meta) = (Separator::Newline, (h.source, Some(h.ns)));
    let ev = super::kernel::from_scan(scan, None, env, sep, end, meta)?;
    check_fits(ev.action.as_bytes(), &h, env, [true, true, true], start)?;
    Ok(ev)
}

/// True when a block ends before the line at `pos`: at the end of the
/// text, at an empty line, or at the next header line. What
/// [`header_source`] says of that line, without splitting it first.
#[inline(always)]
fn block_ends_at(text: &[u8], pos: usize) -> bool {
    let Some(&first) = text.get(pos) else {
        return true;
    };
    match first {
        b'\n' => true,
        b'K' => text[pos..].starts_with(b"KERNEL["),
        b'U' => {
            let rest = &text[pos..];
            if rest.starts_with(b"UEVENT[") {
                return true;
            }
            if !rest.starts_with(b"UDEV") {
                return false;
            }
            // `trim_ascii_start` of the line: ASCII blanks, but the
            // line ends at its newline.
            rest[4..]
                .iter()
                .find(|&&b| !matches!(b, b' ' | b'\t' | b'\x0c' | b'\r'))
                == Some(&b'[')
        }
        _ => false,
    }
}

/// The fast path of [`Blocks`] for a block whose header line starts at
/// `start`: one pass over its property lines with 16-byte masks of
/// newlines, '=' and NUL, which also finds where the block ends. Gives
/// up (`None`) on anything unusual, a NUL or any error, and leaves it to
/// the exact path; returns the event, the block end and the number of
/// lines read.
#[inline]
fn fast_block(text: &[u8], start: usize) -> Option<(Uevent<'_>, usize, u64)> {
    const IN_KEY: usize = usize::MAX;
    // The header line: its end, and no NUL in it.
    let mut i = start;
    let (line_end, env_start) = loop {
        if i >= text.len() {
            break (text.len(), text.len());
        }
        let [nl, z] = crate::swar::masks16(text, i, [b'\n', 0]);
        let m = nl | z;
        if m != 0 {
            let k = i + m.trailing_zeros() as usize;
            if text[k] == 0 {
                return None;
            }
            break (k, k + 1);
        }
        i += 16;
    };
    let h = parse_header_fast(&text[start..line_end])?;
    let len = text.len();
    let mut scan = Scan::default();
    let (mut pos, mut eq) = (env_start, IN_KEY);
    let mut lines = 1;
    let mut end = None;
    if block_ends_at(text, pos) {
        end = Some(pos);
    }
    let mut i = pos;
    'chunks: while end.is_none() && i < len {
        let [nl, e, z] = crate::swar::masks16(text, i, [b'\n', b'=', 0]);
        if z != 0 {
            return None;
        }
        let mut m = nl | e;
        while m != 0 {
            let bit = m & m.wrapping_neg();
            m ^= bit;
            let j = i + bit.trailing_zeros() as usize;
            if nl & bit == 0 {
                if eq == IN_KEY {
                    eq = j;
                }
                continue;
            }
            if eq == IN_KEY {
                return None;
            }
            scan.entry(text, 0, pos, eq, j).ok()?;
            lines += 1;
            (pos, eq) = (j + 1, IN_KEY);
            if block_ends_at(text, pos) {
                end = Some(pos);
                break 'chunks;
            }
        }
        i += 16;
    }
    let end = match end {
        Some(end) => end,
        None => {
            // The text ends inside the last property line.
            if eq == IN_KEY {
                return None;
            }
            scan.entry(text, 0, pos, eq, len).ok()?;
            lines += 1;
            len
        }
    };
    let env = &text[env_start.min(end)..end];
    let env = env.strip_suffix(b"\n").unwrap_or(env);
    let ev = finish(h, scan, env, start, end).ok()?;
    Some((ev, end, lines))
}

/// Every event read must fit a trace record once converted
/// ([`super::kernel::encode_complete`]): a block whose datagram would
/// exceed [`super::MAX_RECORD`] is refused. `has` says which of ACTION,
/// DEVPATH (with SEQNUM) and SUBSYSTEM the block carries.
fn check_fits(
    action: &[u8],
    h: &HeaderLine<'_>,
    env: &[u8],
    has: [bool; 3],
    start: usize,
) -> Result<(), ParseError> {
    let len = super::kernel::complete_len(
        action,
        h.devpath,
        Some(h.subsystem),
        if env.is_empty() { 0 } else { env.len() + 1 },
        [has[0], has[1], has[2], has[1]],
    );
    if len > super::MAX_RECORD {
        return Err(ParseError::oversized(len, super::MAX_RECORD, start));
    }
    Ok(())
}

/// Iterator over the events of a monitor text, with line numbers in
/// errors. After a malformed block it goes on with the next one.
pub struct Blocks<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Blocks<'a> {
    /// Iterate over `text` from its start.
    pub fn new(text: &'a [u8]) -> Self {
        Blocks { text, pos: 0, line: 1 }
    }

    /// Byte offset where the next block search starts.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Blocks<'a> {
    type Item = Result<Uevent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        // Skip blank and preamble lines; stop at the first other line.
        loop {
            if self.pos >= text.len() {
                return None;
            }
            // Most blocks start with their header: no line split needed.
            if matches!(text[self.pos], b'K' | b'U')
                && block_ends_at(text, self.pos)
            {
                break;
            }
            let (line, next) = line_at(text, self.pos);
            if line.is_empty() || PREAMBLE.contains(&line) {
                self.pos = next;
                self.line += 1;
                continue;
            }
            break;
        }
        let start = self.pos;
        if let Some((ev, end, lines)) = fast_block(text, start) {
            self.pos = end;
            self.line += lines;
            return Some(Ok(ev));
        }
        let start_line = self.line;
        let (first, mut pos) = line_at(text, start);
        self.line += 1;
        let mut end = pos;
        if header_source(first).is_some() {
            while pos < text.len() {
                let (line, next) = line_at(text, pos);
                if line.is_empty() || header_source(line).is_some() {
                    break;
                }
                pos = next;
                end = next;
                self.line += 1;
            }
        }
        self.pos = end;
        let res = if header_source(first).is_some() {
            parse_block(text, start, end)
        } else {
            Err(ParseError::bad_line("an event header", start))
        };
        Some(res.map_err(|e| {
            let rel = e.offset().saturating_sub(start as u64) as usize;
            let extra = memchr::memchr_iter(
                b'\n',
                &text[start..(start + rel).min(text.len())],
            )
            .count() as u64;
            e.with_line(start_line + extra)
        }))
    }
}

/// Append `ev` as `udevadm monitor --property` prints it: the header
/// line, every entry, then an empty line. `ns` is the time to print.
pub fn encode(ev: &Uevent<'_>, ns: u64, out: &mut Vec<u8>) {
    use std::io::Write;
    let tag = match ev.source() {
        Source::Kernel => "KERNEL",
        Source::Udev => "UDEV",
    };
    let action =
        if ev.action().is_known() { ev.action().as_bytes() } else { b"n/a" };
    let _ = write!(
        out,
        "{tag:<6}[{}.{:06}] {:<8} ",
        ns / 1_000_000_000,
        (ns % 1_000_000_000) / 1000,
        String::from_utf8_lossy(action),
    );
    out.extend_from_slice(ev.devpath());
    out.extend_from_slice(b" (");
    out.extend_from_slice(ev.subsystem().unwrap_or(b"(null)"));
    out.extend_from_slice(b")\n");
    for (k, v) in ev.entries() {
        out.extend_from_slice(k);
        out.push(b'=');
        // sd-device cuts a value at its first newline.
        let v = match memchr::memchr(b'\n', v) {
            Some(i) => &v[..i],
            None => v,
        };
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &[u8] = b"monitor will print the received events for:\n\
KERNEL - the kernel uevent\n\
\n\
KERNEL[454.092201] add      /bus/acpi (bus)\n\
ACTION=add\n\
DEVPATH=/bus/acpi\n\
SUBSYSTEM=bus\n\
SYNTH_UUID=0\n\
SEQNUM=820\n\
\n\
UDEV  [1065.767917] bind     /devices/x y (event_source)\n\
ACTION=bind\n\
DEVPATH=/devices/x y\n\
SUBSYSTEM=event_source\n\
SEQNUM=1307\n\
\n";

    #[test]
    fn parses_blocks() {
        let evs: Vec<_> = Blocks::new(TEXT).map(|r| r.unwrap()).collect();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].timestamp_ns(), Some(454_092_201_000));
        assert_eq!(evs[0].seqnum(), Some(820));
        assert_eq!(evs[0].source(), Source::Kernel);
        assert_eq!(evs[1].devpath(), b"/devices/x y");
        assert_eq!(evs[1].action(), Action::Bind);
        assert_eq!(evs[1].source(), Source::Udev);
        let mut out = Vec::new();
        encode(&evs[0], 454_092_201_000, &mut out);
        assert_eq!(&out[..], &TEXT[72..72 + out.len()]);
    }

    #[test]
    fn header_only_blocks() {
        let t = b"KERNEL[1.000001] add      /a (x)\nKERNEL[1.000002] remove   /a (x)\n";
        let evs: Vec<_> = Blocks::new(t).map(|r| r.unwrap()).collect();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].action(), Action::Remove);
        assert_eq!(evs[1].seqnum(), None);
    }

    #[test]
    fn errors_have_lines_and_recovery() {
        let t = b"KERNEL[1.000001] add      /a (x)\nACTION=add\nDEVPATH=/b\n\
SUBSYSTEM=x\nSEQNUM=1\n\nbogus line\n\nKERNEL[1.000002] add      /a (x)\n\
ACTION=add\nDEVPATH=/a\nSUBSYSTEM=x\nSEQNUM=2\n";
        let r: Vec<_> = Blocks::new(t).collect();
        assert_eq!(r.len(), 3);
        let e = r[0].as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::HeaderMismatch { field: "DEVPATH" });
        assert_eq!(e.line(), Some(3));
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.line(), Some(7));
        assert_eq!(r[2].as_ref().unwrap().seqnum(), Some(2));
    }
}
