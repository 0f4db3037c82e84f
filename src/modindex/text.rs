//! Readers for the text files of a modules directory, as depmod (kmod
//! v30 `tools/depmod.c`) writes them. libkmod's lookups use the `.bin`
//! indexes instead; these serve reports, plans and cross-checks.
//!
//! ```text
//! modules.dep              PATH: DEP_PATH DEP_PATH...      one module a line
//! modules.order            PATH                            load order
//! modules.builtin          PATH                            built-in modules
//! modules.softdep          # comment / softdep MOD pre: A B post: C
//! modules.alias            # comment / alias PATTERN MOD   raw, not normalized
//! modules.builtin.modinfo  MOD.KEY=VALUE NUL ...           from vmlinux .modinfo
//! modules.size             NAME BYTES                      coldplug fixture addition
//! ```
//!
//! Paths are relative to the modules directory; the module name is the
//! basename normalized (`path_to_modname`).

use super::error::IndexError;
use super::normalize::path_to_modname;

fn lines(buf: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    buf.split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.is_empty())
}

fn words(l: &[u8]) -> impl Iterator<Item = &[u8]> {
    l.split(|&b| b == b' ' || b == b'\t').filter(|w| !w.is_empty())
}

fn string(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// One line of modules.dep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepLine {
    /// Module name.
    pub name: String,
    /// Path of the module file.
    pub path: String,
    /// Paths of its dependencies, in load order (last loads first).
    pub deps: Vec<String>,
}

/// Parse modules.dep.
pub fn parse_dep(buf: &[u8]) -> Result<Vec<DepLine>, IndexError> {
    let mut out = Vec::new();
    for (n, l) in lines(buf) {
        let Some(colon) = memchr::memchr(b':', l) else {
            return Err(IndexError::line(n, "PATH: DEPS"));
        };
        let path = &l[..colon];
        if path.is_empty() {
            return Err(IndexError::line(n, "a module path before ':'"));
        }
        out.push(DepLine {
            name: string(&path_to_modname(path)),
            path: string(path),
            deps: words(&l[colon + 1..]).map(string).collect(),
        });
    }
    Ok(out)
}

/// Parse a list of module paths (modules.order, modules.builtin).
pub fn parse_paths(buf: &[u8]) -> Vec<String> {
    lines(buf).map(|(_, l)| string(l.trim_ascii())).collect()
}

/// One `softdep` line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Softdep {
    /// The module the line is about.
    pub name: String,
    /// Modules to load before it.
    pub pre: Vec<String>,
    /// Modules to load after it.
    pub post: Vec<String>,
}

/// Parse modules.softdep (comments and blank lines skipped).
pub fn parse_softdep(buf: &[u8]) -> Result<Vec<Softdep>, IndexError> {
    let mut out = Vec::new();
    for (n, l) in lines(buf) {
        if l.starts_with(b"#") {
            continue;
        }
        let mut w = words(l);
        if w.next() != Some(&b"softdep"[..]) {
            return Err(IndexError::line(n, "softdep MOD pre: ... post: ..."));
        }
        let Some(name) = w.next() else {
            return Err(IndexError::line(n, "a module name after softdep"));
        };
        let mut sd = Softdep { name: string(name), ..Softdep::default() };
        let mut post = None;
        for t in w {
            match t {
                b"pre:" => post = Some(false),
                b"post:" => post = Some(true),
                _ => match post {
                    Some(false) => sd.pre.push(string(t)),
                    Some(true) => sd.post.push(string(t)),
                    None => return Err(IndexError::line(n, "pre: or post:")),
                },
            }
        }
        out.push(sd);
    }
    Ok(out)
}

/// Parse modules.alias text: (raw pattern, module) in file order.
pub fn parse_alias(buf: &[u8]) -> Result<Vec<(String, String)>, IndexError> {
    let mut out = Vec::new();
    for (n, l) in lines(buf) {
        if l.starts_with(b"#") {
            continue;
        }
        let mut w = words(l);
        match (w.next(), w.next(), w.next(), w.next()) {
            (Some(b"alias"), Some(p), Some(m), None) => {
                out.push((string(p), string(m)))
            }
            _ => return Err(IndexError::line(n, "alias PATTERN MODULE")),
        }
    }
    Ok(out)
}

/// One record of modules.builtin.modinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modinfo {
    /// Module name.
    pub module: String,
    /// Key (`alias`, `license`, `parmtype`, ...).
    pub key: String,
    /// Value.
    pub value: String,
}

/// Parse modules.builtin.modinfo: NUL-separated `MOD.KEY=VALUE`
/// records. A record without `.` or `=` is an error (the "line" is the
/// 1-based record number).
pub fn parse_builtin_modinfo(buf: &[u8]) -> Result<Vec<Modinfo>, IndexError> {
    let mut out = Vec::new();
    for (n, rec) in buf.split(|&b| b == 0).enumerate() {
        if rec.is_empty() {
            continue;
        }
        let (Some(dot), Some(eq)) =
            (memchr::memchr(b'.', rec), memchr::memchr(b'=', rec))
        else {
            return Err(IndexError::line(n + 1, "MODULE.KEY=VALUE"));
        };
        if dot > eq {
            return Err(IndexError::line(n + 1, "MODULE.KEY=VALUE"));
        }
        out.push(Modinfo {
            module: string(&rec[..dot]),
            key: string(&rec[dot + 1..eq]),
            value: string(&rec[eq + 1..]),
        });
    }
    Ok(out)
}

/// Parse modules.size: (module name, uncompressed size in bytes).
pub fn parse_size(buf: &[u8]) -> Result<Vec<(String, u64)>, IndexError> {
    let mut out = Vec::new();
    for (n, l) in lines(buf) {
        let mut w = words(l);
        let (Some(name), Some(size), None) = (w.next(), w.next(), w.next())
        else {
            return Err(IndexError::line(n, "NAME SIZE"));
        };
        let size = std::str::from_utf8(size)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| IndexError::line(n, "a size in bytes"))?;
        out.push((string(name), size));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep() {
        let d =
            parse_dep(b"kernel/a/x-y.ko: kernel/b.ko kernel/c.ko\nk/z.ko:\n")
                .unwrap();
        assert_eq!(d[0].name, "x_y");
        assert_eq!(d[0].deps, ["kernel/b.ko", "kernel/c.ko"]);
        assert!(d[1].deps.is_empty());
        assert!(parse_dep(b"nocolon\n").is_err());
    }

    #[test]
    fn softdep() {
        let s = parse_softdep(b"# c\nsoftdep ext4 pre: crc32c post: x y\n")
            .unwrap();
        assert_eq!(s[0].pre, ["crc32c"]);
        assert_eq!(s[0].post, ["x", "y"]);
        assert!(parse_softdep(b"softdep a b\n").is_err());
    }

    #[test]
    fn modinfo_and_size() {
        let m = parse_builtin_modinfo(b"cmm.license=GPL\0a.alias=x:y=z\0")
            .unwrap();
        assert_eq!(m[1].key, "alias");
        assert_eq!(m[1].value, "x:y=z");
        assert!(parse_builtin_modinfo(b"noeq\0").is_err());
        assert_eq!(parse_size(b"a 12\n").unwrap(), [("a".into(), 12)]);
        assert!(parse_size(b"a x\n").is_err());
    }
}
