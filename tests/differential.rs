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

/// Where the monitor fast path hands over to the exact one: NULs
/// before, in and after a block, header variants, property lines that
/// start like a header, the end of the text inside a line.
#[test]
fn monitor_fast_path_edges_agree() {
    let block = b"KERNEL[454.092201] add      /bus/acpi (bus)\nACTION=add\n\
DEVPATH=/bus/acpi\nSUBSYSTEM=bus\nSEQNUM=820\n";
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in 0..=block.len() {
        cases.push(block[..cut].to_vec());
        let mut nul = block.to_vec();
        if cut < nul.len() {
            nul[cut] = 0;
        }
        nul.extend_from_slice(b"\n");
        nul.extend_from_slice(block);
        cases.push(nul);
    }
    for header in [
        &b"UDEV  [1.000001] add      /a (x)"[..],
        b"UDEV\t[1.000001] add      /a (x)",
        b"UDEV [1.000001] add      /a (x)",
        b"UEVENT[1.000001] add      /a (x)",
        b"KERNEL[1.00001] add      /a (x)",
        b"KERNEL[99999999999999999999.000001] add      /a (x)",
        b"KERNEL[18446744073.709551] add      /a (x)",
        b"KERNEL[1.000001]add      /a (x)",
        b"KERNEL[1.000001] a@d      /a (x)",
        b"KERNEL[1.000001] add      /a (b (x)",
        b"KERNEL[1.000001] add      /a(x)",
        b"KERNEL[1.000001] add       (x)",
    ] {
        for body in [
            &b""[..],
            b"\n",
            b"\nACTION=add\nDEVPATH=/a\nSUBSYSTEM=x\nSEQNUM=1",
            b"\nKERNEL=x\nUDEV_X=1\nDEVTYPE=t\n",
            b"\nA=1\nUDEV  [2.000000] add      /b (y)\nB=2\n",
            b"\nA=1\n\n\nmonitor will print the received events for:\n",
            b"\nNOEQ\nA=1\n",
            b"\n=x\n",
        ] {
            cases.push([header, body].concat());
        }
    }
    for c in &cases {
        reference::differential(c);
    }
}
