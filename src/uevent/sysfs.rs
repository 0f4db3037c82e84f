//! sysfs `uevent` files and snapshots of many of them.
//!
//! Reading `/sys/<devpath>/uevent` runs only the kset's `uevent`
//! callback (`uevent_show` in `drivers/base/core.c`): one `KEY=VALUE\n`
//! line per variable, with no ACTION, DEVPATH, SUBSYSTEM or SEQNUM. The
//! devpath therefore comes from the caller, and the action is the one
//! the caller is modelling (usually the `add` that writing to the file
//! would trigger).
//!
//! A snapshot is many such files in one text:
//!
//! ```text
//! P: /devices/css0/0.0.0000          devpath (required)
//! S: css                             subsystem, from the `subsystem`
//! ST=0                               link (optional; our addition)
//! MODALIAS=css:t0                    the file's lines
//!                                    blank line between devices
//! ```

use super::{
    line_at, Action, ErrorKind, ParseError, Scan, Separator, Source, Uevent,
};

/// Parse the text of one `uevent` file for `devpath`. Offsets in errors
/// are relative to `text`.
pub fn parse<'a>(
    text: &'a [u8],
    devpath: &'a [u8],
    action: Action<'a>,
) -> Result<Uevent<'a>, ParseError> {
    if devpath.is_empty() {
        return Err(ParseError::new(ErrorKind::Empty { what: "devpath" }, 0));
    }
    super::kernel::check_action(action.as_bytes(), 0)?;
    check_nul(text, 0)?;
    parse_at(text, 0, text.len(), devpath, None, action)
}

fn check_nul(block: &[u8], start: usize) -> Result<(), ParseError> {
    match memchr::memchr(0, block) {
        Some(i) => Err(ParseError::new(
            ErrorKind::BadByte { byte: 0, what: "sysfs text" },
            start + i,
        )),
        None => Ok(()),
    }
}

fn parse_at<'a>(
    text: &'a [u8],
    start: usize,
    end: usize,
    devpath: &'a [u8],
    subsystem: Option<&'a [u8]>,
    action: Action<'a>,
) -> Result<Uevent<'a>, ParseError> {
    let env = &text[start..end];
    let env = env.strip_suffix(b"\n").unwrap_or(env);
    let scan = Scan::run(env, b'\n', start, true)?;
    for (field, found) in [
        ("ACTION", scan.action),
        ("DEVPATH", scan.devpath),
        ("SEQNUM", scan.seqnum),
    ] {
        if let Some((_, at)) = found {
            return Err(ParseError::new(
                ErrorKind::BadLine {
                    expected: "no such key in a uevent file",
                },
                at - field.len() - 1,
            ));
        }
    }
    if let (Some(s), Some((found, at))) = (subsystem, scan.subsystem) {
        if s != found {
            return Err(ParseError::mismatch("SUBSYSTEM", at));
        }
    }
    let subsystem = subsystem.or(scan.subsystem.map(|s| s.0));
    // Every event read must fit a trace record once converted.
    let len = super::kernel::complete_len(
        action.as_bytes(),
        devpath,
        subsystem,
        if env.is_empty() { 0 } else { env.len() + 1 },
        [false, false, scan.subsystem.is_some(), false],
    );
    if len > super::MAX_RECORD {
        return Err(ParseError::oversized(len, super::MAX_RECORD, start));
    }
    Ok(Uevent {
        source: Source::Kernel,
        action,
        devpath,
        subsystem,
        devtype: scan.devtype,
        driver: scan.driver,
        modalias: scan.modalias,
        seqnum: None,
        timestamp_ns: None,
        env,
        sep: Separator::Newline,
    })
}

/// Iterator over a snapshot's devices, each as the `add` event its
/// `uevent` file describes. Goes on after a malformed device.
pub struct Snapshot<'a> {
    text: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Snapshot<'a> {
    /// Iterate over `text`.
    pub fn new(text: &'a [u8]) -> Self {
        Snapshot { text, pos: 0, line: 1 }
    }
}

impl<'a> Iterator for Snapshot<'a> {
    type Item = Result<Uevent<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        while self.pos < text.len() {
            let (line, next) = line_at(text, self.pos);
            if !line.is_empty() {
                break;
            }
            self.pos = next;
            self.line += 1;
        }
        if self.pos >= text.len() {
            return None;
        }
        let start = self.pos;
        let start_line = self.line;
        // The block runs to the next empty line.
        let mut pos = start;
        while pos < text.len() {
            let (line, next) = line_at(text, pos);
            if line.is_empty() {
                break;
            }
            pos = next;
            self.line += 1;
        }
        self.pos = pos;
        let end = pos;
        let (first, mut body) = line_at(text, start);
        // The P: and S: lines become a record header too: no NUL in
        // the whole block.
        let res =
            check_nul(&text[start..end], start).and_then(|()| {
                match first.strip_prefix(b"P: ") {
                    None => Err(ParseError::bad_line("'P: devpath'", start)),
                    Some([]) => Err(ParseError::new(
                        ErrorKind::Empty { what: "devpath" },
                        start,
                    )),
                    Some(devpath) => {
                        let mut subsystem = None;
                        if body < end {
                            let (second, after) = line_at(text, body);
                            if let Some(s) = second.strip_prefix(b"S: ") {
                                subsystem = Some(s);
                                body = after;
                            }
                        }
                        let body = body.min(end);
                        parse_at(
                            text,
                            body,
                            end,
                            devpath,
                            subsystem,
                            Action::Add,
                        )
                    }
                }
            });
        Some(res.map_err(|e| {
            let upto = (e.offset() as usize).min(text.len()).max(start);
            let extra =
                memchr::memchr_iter(b'\n', &text[start..upto]).count() as u64;
            e.with_line(start_line + extra)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_snapshot() {
        let ev = parse(
            b"ST=0\nMODALIAS=css:t0\n",
            b"/devices/css0/0.0.0000",
            Action::Add,
        )
        .unwrap();
        assert_eq!(ev.modalias(), Some(&b"css:t0"[..]));
        assert_eq!(ev.subsystem(), None);
        let snap = b"P: /devices/ap/card03\nS: ap\nDEVTYPE=ap_card\nMODALIAS=ap:t0D\n\n\
P: /devices/css0/0.0.0000\nS: css\nST=0\nMODALIAS=css:t0\n";
        let evs: Vec<_> = Snapshot::new(snap).map(|r| r.unwrap()).collect();
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].subsystem(), Some(&b"ap"[..]));
        assert_eq!(evs[1].devpath(), b"/devices/css0/0.0.0000");
        assert_eq!(evs[1].len(), 2);
    }

    #[test]
    fn snapshot_errors_recover() {
        let snap = b"X: nope\nA=b\n\nP: /d\nNOEQ\n\nP: /e\nA=1\n";
        let r: Vec<_> = Snapshot::new(snap).collect();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].as_ref().unwrap_err().line(), Some(1));
        let e = r[1].as_ref().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::EntryWithoutEquals);
        assert_eq!(e.line(), Some(5));
        assert!(r[2].is_ok());
    }
}
