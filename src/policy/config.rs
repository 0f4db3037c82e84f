//! modprobe.d configuration, parsed as libkmod 30 parses it
//! (`kmod_config_new`, `conf_files_list`, `kmod_config_parse` in
//! `libkmod/libkmod-config.c`; `freadline_wrapped` and `underscores`
//! in `shared/util.c`).
//!
//! - Files: each configured path is a file or a directory. In a
//!   directory only names ending in `.conf` or `.alias` and not starting
//!   with `.` count. All files are merged into one list sorted by
//!   basename (`strcmp`); a basename seen first (earlier directory)
//!   shadows later ones. `<moddir>/modules.softdep` is inserted first,
//!   under the name `modules.softdep`.
//! - Lines: `\` + newline joins lines; `\` + any other byte keeps that
//!   byte and drops the backslash (at end of file it yields byte 0xff,
//!   as `getc` returns EOF). A line is a comment only when its first
//!   byte is `#`. Tokens are split on space and tab; the "rest of line"
//!   fields (`options`, `install`, `remove`, `softdep`) start right after
//!   the single separator that ended the module name.
//! - Names go through `underscores`: `-` becomes `_` outside `[...]`; a
//!   stray `]` or an unclosed `[` makes the line bad.
//! - A bad line is reported as `<file> line <n>: ignoring bad line
//!   starting with '<cmd>'` (n = last physical line) and skipped.
//!   `weakdep` does not exist in kmod 30: it is such a bad line.

use std::path::{Path, PathBuf};

/// The directories libkmod 30 reads when no `-C`/`--config` is given
/// (`default_config_paths` in `libkmod/libkmod.c`, with
/// `SYSCONFDIR=/etc`). kmod 30 does not read `/usr/lib/modprobe.d`.
pub const DEFAULT_PATHS: &[&str] = &[
    "/etc/modprobe.d",
    "/run/modprobe.d",
    "/usr/local/lib/modprobe.d",
    "/lib/modprobe.d",
];

/// A `softdep` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Softdep {
    /// Module name pattern (fnmatch against the module name).
    pub name: String,
    /// Modules to load before.
    pub pre: Vec<String>,
    /// Modules to load after.
    pub post: Vec<String>,
}

/// A problem libkmod logs and skips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file, or `kernel command line`.
    pub file: String,
    /// The line (the last physical line of a continued line).
    pub line: Option<u32>,
    /// libkmod's message.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "{} line {n}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Everything modprobe.d says, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `alias PATTERN MODULE`, both normalised.
    pub aliases: Vec<(String, String)>,
    /// `blacklist MODULE`.
    pub blacklist: Vec<String>,
    /// `options MODULE REST` (tabs in REST become spaces).
    pub options: Vec<(String, String)>,
    /// `install MODULE COMMAND`.
    pub install: Vec<(String, String)>,
    /// `remove MODULE COMMAND`.
    pub remove: Vec<(String, String)>,
    /// `softdep MODULE pre: ... post: ...`.
    pub softdeps: Vec<Softdep>,
    /// The files read, in the order they were parsed.
    pub files: Vec<PathBuf>,
    /// Lines libkmod would log and skip.
    pub warnings: Vec<Warning>,
}

/// libkmod's `underscores`: `-` to `_` outside brackets, in place.
/// Returns false (and leaves `s` partly changed) on `]` or an unclosed
/// `[`, as the C function returns -EINVAL.
pub fn underscores(s: &mut String) -> bool {
    let mut b = std::mem::take(s).into_bytes();
    let mut i = 0;
    let mut ok = true;
    while i < b.len() {
        match b[i] {
            b'-' => b[i] = b'_',
            b']' => {
                ok = false;
                break;
            }
            b'[' => match memchr::memchr(b']', &b[i..]) {
                Some(j) => i += j,
                None => {
                    ok = false;
                    break;
                }
            },
            _ => {}
        }
        i += 1;
    }
    *s = String::from_utf8(b).unwrap_or_else(|e| {
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    });
    ok
}

/// `freadline_wrapped`: one logical line and the number of physical
/// lines it used, or `None` at end of input.
fn read_line(input: &[u8], pos: &mut usize) -> Option<(Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut n = 0u32;
    loop {
        let Some(&ch) = input.get(*pos) else {
            if out.is_empty() {
                return None;
            }
            return Some((out, n + 1));
        };
        *pos += 1;
        match ch {
            b'\n' => return Some((out, n + 1)),
            b'\\' => match input.get(*pos) {
                Some(b'\n') => {
                    *pos += 1;
                    n += 1;
                }
                Some(&c) => {
                    *pos += 1;
                    out.push(c);
                }
                // getc() returned EOF, stored as a char.
                None => out.push(0xff),
            },
            c => out.push(c),
        }
    }
}

/// `strtok_r` with the delimiters space and tab.
struct Tokens<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Tokens<'a> {
    fn next_token(&mut self) -> Option<&'a [u8]> {
        let s = self.s;
        while self.pos < s.len()
            && (s[self.pos] == b' ' || s[self.pos] == b'\t')
        {
            self.pos += 1;
        }
        if self.pos >= s.len() {
            return None;
        }
        let start = self.pos;
        while self.pos < s.len() && s[self.pos] != b' ' && s[self.pos] != b'\t'
        {
            self.pos += 1;
        }
        let tok = &s[start..self.pos];
        if self.pos < s.len() {
            self.pos += 1; // strtok writes a NUL over the delimiter
        }
        Some(tok)
    }

    /// `strtok_r(NULL, "\0", ...)`: the rest, or `None` when empty.
    fn rest(&mut self) -> Option<&'a [u8]> {
        let r = &self.s[self.pos..];
        self.pos = self.s.len();
        (!r.is_empty()).then_some(r)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A name token normalised with `underscores`, or `None` when missing
/// or invalid.
fn name(tok: Option<&[u8]>) -> Option<String> {
    let mut s = text(tok?);
    underscores(&mut s).then_some(s)
}

/// Split a softdep's rest of line (`kmod_config_add_softdep`): words
/// after `pre:` go to pre, after `post:` to post, words before either
/// are dropped.
fn parse_softdep(name: String, rest: &[u8]) -> Softdep {
    let mut dep = Softdep { name, pre: Vec::new(), post: Vec::new() };
    #[derive(PartialEq)]
    enum Mode {
        None,
        Pre,
        Post,
    }
    let mut mode = Mode::None;
    for word in rest.split(|b| b.is_ascii_whitespace() || *b == 0x0b) {
        match word {
            b"" => {}
            b"pre:" => mode = Mode::Pre,
            b"post:" => mode = Mode::Post,
            w => match mode {
                Mode::Pre => dep.pre.push(text(w)),
                Mode::Post => dep.post.push(text(w)),
                Mode::None => {}
            },
        }
    }
    dep
}

impl Config {
    /// Parse one file's contents into `self`. `file` names it in
    /// warnings.
    pub fn parse_text(&mut self, file: &str, input: &[u8]) {
        let mut pos = 0;
        let mut linenum = 0u32;
        while let Some((line, used)) = read_line(input, &mut pos) {
            linenum += used;
            // C strings end at the first NUL.
            let line = match memchr::memchr(0, &line) {
                Some(i) => &line[..i],
                None => &line[..],
            };
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut t = Tokens { s: line, pos: 0 };
            let Some(cmd) = t.next_token() else { continue };
            let ok = match cmd {
                b"alias" => {
                    let alias = name(t.next_token());
                    let module = name(t.next_token());
                    match (alias, module) {
                        (Some(a), Some(m)) => {
                            self.aliases.push((a, m));
                            true
                        }
                        _ => false,
                    }
                }
                b"blacklist" => match name(t.next_token()) {
                    Some(m) => {
                        self.blacklist.push(m);
                        true
                    }
                    None => false,
                },
                b"options" | b"install" | b"remove" | b"softdep" => {
                    let module = name(t.next_token());
                    let rest = t.rest();
                    match (module, rest) {
                        (Some(m), Some(r)) => {
                            match cmd {
                                b"options" => self
                                    .options
                                    .push((m, text(r).replace('\t', " "))),
                                b"install" => self.install.push((m, text(r))),
                                b"remove" => self.remove.push((m, text(r))),
                                _ => self.softdeps.push(parse_softdep(m, r)),
                            }
                            true
                        }
                        _ => false,
                    }
                }
                b"include" | b"config" => {
                    self.warnings.push(Warning {
                        file: file.to_string(),
                        line: None,
                        message: format!(
                            "command {} is deprecated and not parsed anymore",
                            text(cmd)
                        ),
                    });
                    true
                }
                _ => false,
            };
            if !ok {
                self.warnings.push(Warning {
                    file: file.to_string(),
                    line: Some(linenum),
                    message: format!(
                        "ignoring bad line starting with '{}'",
                        text(cmd)
                    ),
                });
            }
        }
    }

    /// Read the configuration as `kmod_new(moddir, paths)` does: the
    /// kernel's `modules.softdep` first, then every file of `paths`
    /// sorted by basename. `moddir` may be `None` (no softdep file).
    pub fn load(moddir: Option<&Path>, paths: &[PathBuf]) -> Config {
        let mut files: Vec<(Vec<u8>, PathBuf)> = Vec::new();
        let mut insert = |name: Vec<u8>, path: PathBuf| {
            match files.binary_search_by(|(n, _)| n.as_slice().cmp(&name)) {
                Ok(_) => {} // duplicate basename: the first one wins
                Err(i) => files.insert(i, (name, path)),
            }
        };
        if let Some(dir) = moddir {
            insert(b"modules.softdep".to_vec(), dir.join("modules.softdep"));
        }
        let mut cfg = Config::default();
        for path in paths {
            let Ok(meta) = std::fs::metadata(path) else { continue };
            if !meta.is_dir() {
                let base = path
                    .file_name()
                    .map(|n| n.as_encoded_bytes().to_vec())
                    .unwrap_or_default();
                insert(base, path.clone());
                continue;
            }
            let Ok(rd) = std::fs::read_dir(path) else {
                cfg.warnings.push(Warning {
                    file: path.display().to_string(),
                    line: None,
                    message: "cannot open directory".into(),
                });
                continue;
            };
            for ent in rd.flatten() {
                let fname = ent.file_name();
                let fb = fname.as_encoded_bytes();
                if fb.first() == Some(&b'.')
                    || fb.len() < 6
                    || !(fb.ends_with(b".conf") || fb.ends_with(b".alias"))
                {
                    continue;
                }
                let full = ent.path();
                if full.is_dir() {
                    cfg.warnings.push(Warning {
                        file: full.display().to_string(),
                        line: None,
                        message:
                            "Directories inside directories are not supported"
                                .into(),
                    });
                    continue;
                }
                insert(fb.to_vec(), full);
            }
        }
        for (_, path) in files {
            if let Ok(bytes) = std::fs::read(&path) {
                cfg.parse_text(&path.display().to_string(), &bytes);
                cfg.files.push(path);
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Config {
        let mut c = Config::default();
        c.parse_text("t.conf", s.as_bytes());
        c
    }

    #[test]
    fn underscores_like_libkmod() {
        let mut s = "a-b[x-y]-c".to_string();
        assert!(underscores(&mut s));
        assert_eq!(s, "a_b[x-y]_c");
        let mut s = "a]b".to_string();
        assert!(!underscores(&mut s));
        let mut s = "a[b-".to_string();
        assert!(!underscores(&mut s));
    }

    #[test]
    fn commands_and_quirks() {
        let c = parse(
            "# comment\n\
             alias  ap:t0C  vfio-ap extra\n\
             blacklist vfio-ccw\n\
             options kvm  nested=1\tx=2\n\
             install vfio_ap /bin/false\n\
             softdep a-b junk pre: c-d  e post: f\n\
             weakdep a b\n\
             \x20# not a comment\n\
             options lonely\n\
             alias only-one\n\
             include /etc/foo\n\
             alias x\\\n y\n",
        );
        assert_eq!(
            c.aliases,
            [("ap:t0C".into(), "vfio_ap".into()), ("x".into(), "y".into())]
        );
        assert_eq!(c.blacklist, ["vfio_ccw"]);
        // The rest of line keeps the extra space; tabs become spaces.
        assert_eq!(c.options, [("kvm".into(), " nested=1 x=2".into())]);
        assert_eq!(c.install, [("vfio_ap".into(), "/bin/false".into())]);
        assert_eq!(
            c.softdeps,
            [Softdep {
                name: "a_b".into(),
                pre: vec!["c-d".into(), "e".into()],
                post: vec!["f".into()]
            }]
        );
        let w: Vec<_> = c.warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(
            w,
            [
                "t.conf line 7: ignoring bad line starting with 'weakdep'",
                "t.conf line 8: ignoring bad line starting with '#'",
                "t.conf line 9: ignoring bad line starting with 'options'",
                "t.conf line 10: ignoring bad line starting with 'alias'",
                "t.conf: command include is deprecated and not parsed anymore",
            ]
        );
    }

    #[test]
    fn backslash_rules() {
        let mut pos = 0;
        assert_eq!(
            read_line(b"a\\b\\\nc\nd\\", &mut pos),
            Some((b"abc".to_vec(), 2))
        );
        assert_eq!(
            read_line(b"a\\b\\\nc\nd\\", &mut pos),
            Some((b"d\xff".to_vec(), 1))
        );
        assert_eq!(read_line(b"a\\b\\\nc\nd\\", &mut pos), None);
    }
}
