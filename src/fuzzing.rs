//! Entry points for the fuzz targets in `fuzz/`, kept in the library so
//! that `cargo test` can replay the saved corpus and regressions
//! without libFuzzer (`tests/fuzz_regressions.rs`). Each one parses
//! hostile bytes and checks the invariants that must hold for any
//! input:
//!
//! - no panic, no out-of-bounds read, no endless loop;
//! - an error's offset lies inside the input, and text formats give a
//!   line;
//! - every event the parsers accept can be written to a trace record
//!   and reads back identical (what `coldplug convert` relies on);
//! - the fields picked out in the parse pass agree with the entries.
//!
//! [`roundtrip`] works the other way: it generates a uevent, encodes it
//! in each format, parses it back and compares. [`matcher`] is a
//! differential of the module matchers: the compiled one, the naive one
//! and the port of libkmod's trie walk must agree on every key.

use arbitrary::{Arbitrary, Unstructured};

use crate::trace::{self, file, Events, Format};
use crate::uevent::{self, Action, ErrorKind, Source, Uevent, MAX_RECORD};

/// Most events one input may yield; bounds the work per input.
const MAX_EVENTS: usize = 100_000;

fn first<'a>(ev: &Uevent<'a>, key: &[u8]) -> Option<&'a [u8]> {
    ev.entries().find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Every view must be readable and consistent with the entries, and the
/// event must survive conversion to a trace record.
fn check(ev: &Uevent<'_>) {
    let n = ev.entries().count();
    assert!(n <= ev.env().len());
    assert_eq!(ev.len(), n);
    assert_eq!(ev.modalias(), first(ev, b"MODALIAS"));
    assert_eq!(ev.devtype(), first(ev, b"DEVTYPE"));
    assert_eq!(ev.driver(), first(ev, b"DRIVER"));
    if let Some(s) = first(ev, b"SUBSYSTEM") {
        assert_eq!(ev.subsystem(), Some(s));
    }
    if let Some(d) = first(ev, b"DEVPATH") {
        assert_eq!(ev.devpath(), d);
    }
    for (k, _) in ev.entries() {
        assert!(!k.is_empty());
        assert!(!k.contains(&b'='));
    }
    check_convert(ev);
}

/// What `coldplug convert` does with an event: it must give a record
/// that fits and reads back as the same event.
fn check_convert(ev: &Uevent<'_>) {
    const FALLBACK: u64 = 77;
    let mut out = Vec::new();
    uevent::kernel::encode_complete(ev, FALLBACK, &mut out);
    assert!(out.len() <= MAX_RECORD, "converted record of {}", out.len());
    let back = match uevent::kernel::parse(&out) {
        Ok(b) => b,
        Err(e) => panic!("converted record does not read back: {e}"),
    };
    assert_eq!(back.action(), ev.action());
    assert_eq!(back.devpath(), ev.devpath());
    assert_eq!(back.subsystem(), Some(ev.subsystem().unwrap_or(b"")));
    assert_eq!(back.seqnum(), Some(ev.seqnum().unwrap_or(FALLBACK)));
    assert_eq!(back.modalias(), ev.modalias());
    assert_eq!(back.devtype(), ev.devtype());
    assert_eq!(back.driver(), ev.driver());
    // The original entries come back in order, between the synthesized
    // ones.
    let orig: Vec<_> = ev.entries().collect();
    let got: Vec<_> = back
        .entries()
        .filter(|(k, v)| match *k {
            b"ACTION" | b"DEVPATH" | b"SUBSYSTEM" | b"SEQNUM" => {
                orig.contains(&(*k, *v))
            }
            _ => true,
        })
        .collect();
    assert_eq!(got, orig);
}

fn check_err(e: &uevent::ParseError, len: usize, text: bool) {
    assert!(e.offset() <= len as u64, "{e} beyond {len}");
    if text {
        assert!(e.line().is_some_and(|l| l >= 1), "{e} without line");
    }
}

/// Kernel datagram.
pub fn kernel(data: &[u8]) {
    match uevent::kernel::parse(data) {
        Ok(ev) => {
            check(&ev);
            // Re-encoding a parsed datagram gives the same bytes back.
            let mut out = Vec::new();
            uevent::kernel::encode(&ev, &mut out);
            assert_eq!(out, data);
        }
        Err(e) => check_err(&e, data.len(), false),
    }
}

/// libudev datagram.
pub fn libudev(data: &[u8]) {
    match uevent::libudev::parse(data) {
        Ok(ev) => {
            assert_eq!(ev.source(), Source::Udev);
            check(&ev)
        }
        Err(e) => check_err(&e, data.len(), false),
    }
}

/// Monitor text, the whole iterator.
pub fn monitor(data: &[u8]) {
    for ev in uevent::monitor::Blocks::new(data).take(MAX_EVENTS) {
        match ev {
            Ok(ev) => check(&ev),
            Err(e) => check_err(&e, data.len(), true),
        }
    }
}

/// sysfs snapshot text.
pub fn sysfs(data: &[u8]) {
    for ev in uevent::sysfs::Snapshot::new(data).take(MAX_EVENTS) {
        match ev {
            Ok(ev) => check(&ev),
            Err(e) => check_err(&e, data.len(), true),
        }
    }
    // The same bytes as one `uevent` file.
    match uevent::sysfs::parse(data, b"/devices/x", Action::Add) {
        Ok(ev) => check(&ev),
        Err(e) => check_err(&e, data.len(), false),
    }
}

/// A valid trace header (no description) that the trace target puts in
/// front of the fuzzer's bytes, so that they reach the record reader.
pub const TRACE_PREAMBLE: &[u8; 16] =
    b"CPLGTRC\0\x01\x00\x10\x00\x00\x00\x00\x00";

/// Any trace file, detected as the CLI does; also forces each format.
/// When the first byte is even, the rest follows a valid trace header.
pub fn trace_file(data: &[u8]) {
    let owned;
    let data = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => {
            owned = [&TRACE_PREAMBLE[..], rest].concat();
            &owned[..]
        }
        _ => data,
    };
    let formats = [
        Format::Coldplug,
        Format::Datagrams,
        Format::Monitor,
        Format::SysfsSnapshot,
    ];
    let _ = trace::detect(data);
    for f in formats {
        for ev in Events::new(data, f).take(MAX_EVENTS) {
            match ev {
                Ok(ev) => check(&ev),
                Err(e) => check_err(&e, data.len(), f.is_text()),
            }
        }
    }
}

/// An action for [`FuzzEvent`].
#[derive(Debug, Arbitrary)]
pub enum FuzzAction {
    /// One of the eight known actions, by index.
    Known(u8),
    /// Anything else (sanitized: no NUL, `@`, newline; not empty).
    Other(Vec<u8>),
}

/// A uevent built from fuzzer bytes. Sanitized into a valid event by
/// [`roundtrip`]: the fuzzer explores the values, not the framing.
#[derive(Debug, Arbitrary)]
pub struct FuzzEvent {
    /// The action.
    pub action: FuzzAction,
    /// DEVPATH (gets a leading `/`).
    pub devpath: Vec<u8>,
    /// SUBSYSTEM.
    pub subsystem: Vec<u8>,
    /// Entries between SUBSYSTEM and SEQNUM, in order.
    pub extras: Vec<(Vec<u8>, Vec<u8>)>,
    /// SEQNUM.
    pub seqnum: u64,
    /// Monitor and trace timestamp.
    pub timestamp_ns: u64,
    /// Udev or kernel source.
    pub udev: bool,
}

const ACTIONS: [&[u8]; 8] = [
    b"add", b"remove", b"change", b"move", b"online", b"offline", b"bind",
    b"unbind",
];

fn clean(b: &[u8], bad: &[u8]) -> Vec<u8> {
    b.iter().map(|&c| if bad.contains(&c) { b'_' } else { c }).collect()
}

/// The sanitized parts of a [`FuzzEvent`].
struct Plain {
    action: Vec<u8>,
    devpath: Vec<u8>,
    subsystem: Vec<u8>,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    seqnum: u64,
}

impl FuzzEvent {
    fn plain(&self) -> Plain {
        let action = match &self.action {
            FuzzAction::Known(i) => ACTIONS[usize::from(*i) % 8].to_vec(),
            FuzzAction::Other(b) => {
                let mut a = clean(b, b"\0@\n");
                if a.is_empty() {
                    a.push(b'x');
                }
                a
            }
        };
        let mut devpath = b"/".to_vec();
        devpath.extend(clean(&self.devpath, b"\0\n"));
        let subsystem = clean(&self.subsystem, b"\0\n(");
        let mut entries = vec![
            (b"ACTION".to_vec(), action.clone()),
            (b"DEVPATH".to_vec(), devpath.clone()),
            (b"SUBSYSTEM".to_vec(), subsystem.clone()),
        ];
        for (k, v) in &self.extras {
            let mut k = clean(k, b"\0\n=");
            if k.is_empty()
                || matches!(
                    &k[..],
                    b"ACTION" | b"DEVPATH" | b"SUBSYSTEM" | b"SEQNUM"
                )
            {
                k.insert(0, b'X');
            }
            entries.push((k, clean(v, b"\0")));
        }
        entries.push((b"SEQNUM".to_vec(), self.seqnum.to_string().into()));
        Plain { action, devpath, subsystem, entries, seqnum: self.seqnum }
    }
}

/// Compare a parsed event with the plain one, values cut as `cut` says.
fn same(ev: &Uevent<'_>, p: &Plain, cut_newline: bool) {
    let cut = |v: &[u8]| -> Vec<u8> {
        match memchr::memchr(b'\n', v) {
            Some(i) if cut_newline => v[..i].to_vec(),
            _ => v.to_vec(),
        }
    };
    let want: Vec<(Vec<u8>, Vec<u8>)> =
        p.entries.iter().map(|(k, v)| (k.clone(), cut(v))).collect();
    let got: Vec<(Vec<u8>, Vec<u8>)> =
        ev.entries().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    assert_eq!(got, want);
    assert_eq!(ev.action().as_bytes(), &p.action[..]);
    assert_eq!(ev.devpath(), &p.devpath[..]);
    assert_eq!(ev.subsystem(), Some(&p.subsystem[..]));
    assert_eq!(ev.seqnum(), Some(p.seqnum));
    let firstv = |key: &[u8]| {
        want.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_slice())
    };
    assert_eq!(ev.devtype(), firstv(b"DEVTYPE"));
    assert_eq!(ev.driver(), firstv(b"DRIVER"));
    assert_eq!(ev.modalias(), firstv(b"MODALIAS"));
    check(ev);
}

fn expect_oversized<T: std::fmt::Debug>(r: Result<T, uevent::ParseError>) {
    match r {
        Err(e) if matches!(e.kind(), ErrorKind::Oversized { .. }) => {}
        other => panic!("expected an oversized error, got {other:?}"),
    }
}

/// A libudev datagram with `props` (little-endian sizes, zero hashes).
pub fn encode_libudev(props: &[u8]) -> Vec<u8> {
    let mut b = uevent::libudev::PREFIX.to_vec();
    b.extend_from_slice(&uevent::libudev::MAGIC.to_be_bytes());
    for v in [40u32, 40, props.len() as u32] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(props);
    b
}

/// Generate an event, encode it as a kernel datagram, a libudev
/// datagram, monitor text and a trace record; parse each back and
/// compare with what was generated.
pub fn roundtrip(fe: &FuzzEvent) {
    let p = fe.plain();
    // Kernel datagram, written by hand, then re-encoded by the library.
    let mut dg = p.action.clone();
    dg.push(b'@');
    dg.extend_from_slice(&p.devpath);
    dg.push(0);
    let mut props = Vec::new();
    for (k, v) in &p.entries {
        props.extend_from_slice(k);
        props.push(b'=');
        props.extend_from_slice(v);
        props.push(0);
    }
    dg.extend_from_slice(&props);
    if dg.len() > MAX_RECORD {
        expect_oversized(uevent::kernel::parse(&dg));
        return;
    }
    let ev = uevent::kernel::parse(&dg).expect("kernel datagram");
    same(&ev, &p, false);
    let mut again = Vec::new();
    uevent::kernel::encode(&ev, &mut again);
    assert_eq!(again, dg);

    // libudev datagram.
    let ud = encode_libudev(&props);
    if ud.len() > MAX_RECORD {
        expect_oversized(uevent::libudev::parse(&ud));
    } else {
        let u = uevent::libudev::parse(&ud).expect("libudev datagram");
        assert_eq!(u.source(), Source::Udev);
        same(&u, &p, false);
    }

    // Monitor text, as udevadm prints it.
    let source = if fe.udev { Source::Udev } else { Source::Kernel };
    let ev = ev.with_source(source);
    let mut text = Vec::new();
    uevent::monitor::encode(&ev, fe.timestamp_ns, &mut text);
    let blocks: Vec<_> = uevent::monitor::Blocks::new(&text).collect();
    assert_eq!(blocks.len(), 1, "{:?}", uevent::Bytes(&text));
    let m = blocks[0].as_ref().expect("monitor block");
    same(m, &p, true);
    assert_eq!(m.source(), source);
    assert_eq!(m.timestamp_ns(), Some(fe.timestamp_ns / 1000 * 1000));

    // Trace record.
    let mut w = file::Writer::new(
        Vec::new(),
        file::Clock::Monotonic,
        file::Origin::Generator,
        "roundtrip",
    )
    .unwrap();
    w.write_event(fe.timestamp_ns, &ev, 0).unwrap();
    let buf = w.finish().unwrap();
    let evs: Vec<_> = Events::new(&buf, Format::Coldplug).collect();
    assert_eq!(evs.len(), 1);
    let t = evs[0].as_ref().expect("trace record");
    same(t, &p, false);
    assert_eq!(t.source(), source);
    assert_eq!(t.timestamp_ns(), Some(fe.timestamp_ns));
}

/// [`roundtrip`] from raw fuzzer bytes, decoded as libFuzzer's typed
/// targets decode them.
pub fn roundtrip_bytes(data: &[u8]) {
    if let Ok(fe) = FuzzEvent::arbitrary_take_rest(Unstructured::new(data)) {
        roundtrip(&fe);
    }
}

/// Most patterns and keys one matcher input may hold, and their longest
/// line: bounds the work per input.
const MATCHER_LINES: usize = 64;
const MATCHER_LINE: usize = 200;

/// The compiled matcher against the naive one and the port of
/// libkmod's trie walk, on a pattern set and keys taken from the input:
/// lines up to the first empty one are patterns (the module and the
/// priority follow from the line's number), the lines after are keys.
/// All three must give the same modules in the same order.
pub fn matcher(data: &[u8]) {
    use crate::matcher::{trie_lookup, AliasMatcher, Matcher, NaiveMatcher};
    use crate::modindex::{alias_normalize, Index, IndexWriter};

    let mut lines = data.split(|&b| b == b'\n');
    let mut w = IndexWriter::new();
    for (n, p) in lines
        .by_ref()
        .take_while(|l| !l.is_empty())
        .take(MATCHER_LINES)
        .enumerate()
    {
        let module = format!("m{}", n % 6);
        let p = &p[..p.len().min(MATCHER_LINE)];
        // Bytes an index cannot hold are refused, as depmod would.
        let _ = w.insert(p, module.as_bytes(), (n % 4) as u32);
    }
    let idx = Index::from_vec(w.to_bytes()).expect("written index reads");
    let matchers = [
        ("compiled", Matcher::Compiled(AliasMatcher::build(&idx))),
        ("naive", Matcher::Naive(NaiveMatcher::build(&idx))),
    ];
    let (mut hits, mut walk, mut key) = (Vec::new(), Vec::new(), Vec::new());
    for k in lines.take(MATCHER_LINES) {
        let k = &k[..k.len().min(MATCHER_LINE)];
        if alias_normalize(k, &mut key).is_err() {
            continue;
        }
        trie_lookup(&idx, &key, &mut walk);
        let want: Vec<&[u8]> = walk.iter().map(|(_, m)| *m).collect();
        for (what, m) in &matchers {
            m.lookup(&key, &mut hits);
            let got: Vec<&[u8]> =
                hits.iter().map(|h| m.module_name(h.module)).collect();
            assert_eq!(
                got,
                want,
                "{what}, key {:?}",
                String::from_utf8_lossy(k)
            );
        }
    }
}
