//! The reference parser (tests/reference/mod.rs) against the zero-copy
//! parsers, on every capture and on small hand-made inputs.

mod reference;

use coldplug::trace::{Events, Format};

const CAPTURES: [(&str, Format); 4] = [
    ("kernel-trigger.nl", Format::Datagrams),
    ("udev-trigger.nl", Format::Datagrams),
    ("kernel-trigger.monitor.txt", Format::Monitor),
    ("udev-trigger.monitor.txt", Format::Monitor),
];

fn capture(name: &str) -> Vec<u8> {
    let p = format!("{}/traces/captures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn captures_agree() {
    for (name, format) in CAPTURES {
        let buf = capture(name);
        let fast = reference::own(Events::new(&buf, format));
        let slow = reference::events(&buf, format);
        assert!(fast.iter().all(Result::is_ok), "{name}");
        assert_eq!(fast, slow, "{name}");
        reference::differential(&buf);
    }
}

#[test]
fn small_inputs_agree() {
    let cases: &[&[u8]] = &[
        b"",
        b"\n",
        b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=a\0SEQNUM=1\0",
        b"add@/x\0ACTION=add\0DEVPATH=/x\0SUBSYSTEM=a\0SEQNUM=01x\0",
        b"add@/x\0ACTION=\0DEVPATH=/x\0",
        b"KERNEL[1.000001] add      /a (x)\nKERNEL[1.000002] remove   /a (x)\n",
        b"KERNEL[1.000001] a@d      /a (x)\n",
        b"UDEV  [1.000001] n/a      /a (x)\nACTION=a@b\nDEVPATH=/a\nSUBSYSTEM=x\nSEQNUM=1\n",
        b"P: /d\nS: a\nSUBSYSTEM=b\n\nP: /e\nA=1\n\nQ: x\n",
        b"P: /d\0\nA=1\n",
        b"CPLGTRC\0\x01\x00\x10\x00\x00\x00\x00\x00",
        b"CPLGTRC\0\x01\x00\x10\x00\x00\x00\x00\x00\0\0\0\0\0\0\0\0\x01\0\0\0\x03\0\0\0",
    ];
    for c in cases {
        reference::differential(c);
    }
}
