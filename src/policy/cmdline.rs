//! The kernel command line as libkmod 30 reads it
//! (`kmod_config_parse_kcmdline` and `kcmdline_parse_result` in
//! `libkmod/libkmod-config.c`).
//!
//! - `mod.param=value` becomes the option `param=value` for
//!   `underscores(mod)`; `mod.param` without `=` becomes `param`.
//! - `modprobe.blacklist=a,b` adds each comma-separated name to the
//!   blacklist *as written*: no `-`/`_` normalisation, empty names kept.
//! - Quotes: `"mod.p=a b"` (grub's form) is re-quoted to the option
//!   `p="a b"`, as is `mod.p="a b"`; a quote anywhere else makes the
//!   word ignored.
//! - Only the first 4095 bytes count (`KCMD_LINE_SIZE` 4096).
//!
//! The state machine below is a line-by-line port, because its corner
//! cases (unbalanced quotes, `a.b.c=d`, `=x`) are what the oracle does.

use super::config::underscores;

/// `KCMD_LINE_SIZE` minus the terminating NUL.
pub const MAX_CMDLINE: usize = 4095;

/// What one command line contributes to the policy.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cmdline {
    /// `modprobe.blacklist=` entries, raw.
    pub blacklist: Vec<String>,
    /// `(module, option)` pairs, module normalised.
    pub options: Vec<(String, String)>,
    /// Words libkmod complains about.
    pub warnings: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Ignore,
    ModName,
    Param,
    Value,
    Complete,
}

fn c_str(buf: &[u8], at: usize) -> &[u8] {
    let rest = &buf[at..];
    match memchr::memchr(0, rest) {
        Some(i) => &rest[..i],
        None => rest,
    }
}

impl Cmdline {
    /// Parse a command line such as the contents of `/proc/cmdline`.
    pub fn parse(line: &str) -> Cmdline {
        let raw = line.as_bytes();
        let raw = &raw[..raw.len().min(MAX_CMDLINE)];
        // The C code works in place on a NUL-terminated buffer.
        let mut buf = raw.to_vec();
        buf.push(0);
        let mut out = Cmdline::default();
        let mut state = State::ModName;
        let mut quote_start: Option<usize> = None;
        let mut is_quoted = false;
        let (mut modname, mut param, mut value) =
            (0usize, None::<usize>, None::<usize>);
        let mut p = 0usize;
        let mut iter = true;
        while iter {
            match buf[p] {
                b'"' => {
                    is_quoted = !is_quoted;
                    if is_quoted && state == State::ModName && p == modname {
                        quote_start = Some(p);
                        modname = p + 1;
                    } else if state != State::Value {
                        state = State::Ignore;
                    }
                }
                c @ (0 | b' ' | b'\n' | b'\t' | 0x0b | 0x0c | b'\r') => {
                    if c == 0 {
                        iter = false;
                    }
                    if is_quoted && state == State::Value {
                        // Spaces are allowed inside a quoted value.
                    } else if is_quoted {
                        state = State::Ignore;
                    } else if state == State::Value || state == State::Param {
                        buf[p] = 0;
                        state = State::Complete;
                    } else {
                        modname = p + 1;
                        state = State::ModName;
                        quote_start = None;
                    }
                }
                b'.' => {
                    if state == State::ModName {
                        buf[p] = 0;
                        param = Some(p + 1);
                        state = State::Param;
                    } else if state == State::Param {
                        state = State::Ignore;
                    }
                }
                b'=' => {
                    if state == State::Param {
                        value = Some(p + 1);
                        state = State::Value;
                    } else if state == State::ModName {
                        state = State::Ignore;
                    }
                }
                _ => {}
            }
            if state == State::Complete {
                if let (Some(q), Some(v), Some(pa)) =
                    (quote_start, value, param)
                {
                    if q < modname {
                        // "mod.p=a b" -> mod\0p="a b": shift left by one
                        // and put the quote back before the value.
                        buf.copy_within(modname..v, q);
                        modname -= 1;
                        param = Some(pa - 1);
                        value = Some(v - 1);
                        buf[v - 1] = b'"';
                    }
                }
                out.result(&buf, modname, param, value);
                modname = p + 1;
                state = State::ModName;
                quote_start = None;
            }
            p += 1;
            if p >= buf.len() {
                break;
            }
        }
        out
    }

    fn result(
        &mut self,
        buf: &[u8],
        modname: usize,
        param: Option<usize>,
        value: Option<usize>,
    ) {
        let Some(param) = param else { return };
        let m = c_str(buf, modname);
        let pa = c_str(buf, param);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if m == b"modprobe" && pa.starts_with(b"blacklist=") {
            let v = value.map(|v| c_str(buf, v)).unwrap_or(b"");
            for name in v.split(|&b| b == b',') {
                self.blacklist.push(text(name));
            }
        } else {
            let mut name = text(m);
            if underscores(&mut name) {
                self.options.push((name, text(pa)));
            } else {
                self.warnings.push(format!(
                    "Ignoring bad option on kernel command line while parsing module name: '{}'",
                    text(m)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(c: &Cmdline) -> Vec<(&str, &str)> {
        c.options.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
    }

    #[test]
    fn options_and_blacklist() {
        let c = Cmdline::parse(
            "root=/dev/dasda1 vfio-ccw.x=1 modprobe.blacklist=vfio_ccw,vfio-ap quiet kvm.nested",
        );
        assert_eq!(c.blacklist, ["vfio_ccw", "vfio-ap"]);
        assert_eq!(opts(&c), [("vfio_ccw", "x=1"), ("kvm", "nested")]);
    }

    #[test]
    fn quoting_as_libkmod() {
        let c = Cmdline::parse(
            "\"parport.dyndbg=file drivers/parport/ieee1284_ops.c +mpf\" a.b=\"c d\"",
        );
        assert_eq!(
            opts(&c),
            [
                (
                    "parport",
                    "dyndbg=\"file drivers/parport/ieee1284_ops.c +mpf\""
                ),
                ("a", "b=\"c d\"")
            ]
        );
        // A quote in the middle of a name: ignored.
        assert!(Cmdline::parse("a\"b.c=d").options.is_empty());
        // Two dots: ignored. '=' before '.': ignored.
        assert!(Cmdline::parse("a.b.c=d x=y.z").options.is_empty());
    }

    #[test]
    fn length_limit() {
        let long = format!("{} m.p=1", "x".repeat(MAX_CMDLINE));
        assert!(Cmdline::parse(&long).options.is_empty());
    }
}
