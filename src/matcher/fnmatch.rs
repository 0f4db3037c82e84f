//! glibc's `fnmatch(pattern, string, 0)` in the C locale, as libkmod
//! calls it (glibc 2.36 `posix/fnmatch_loop.c`, single-byte path).
//!
//! Flags 0 means: `*` and `?` match any byte including `/` and a
//! leading `.`; `\` escapes the next byte; brackets take `!` or `^`
//! for negation (we assume `POSIXLY_CORRECT` is unset, as in udevd),
//! ranges compare byte values (the C locale's collation), `[:class:]`
//! uses the C locale's ASCII classes, `[=c=]` and `[.c.]` accept
//! single bytes only. An unterminated `[` is an ordinary byte (glibc
//! 2.36 rescans it so even when a member matched first, bug 28792),
//! except that a broken `[=`, `[.` or trailing `\\` inside it fails.
//!
//! glibc backtracks only to the last `*` it has passed (its `ends`
//! mechanism); the loop below does the same, so it is O(len(pattern) ·
//! len(string)) in the worst case and never exponential. Every
//! element other than `*` consumes exactly one byte of the string.

/// glibc's `CHAR_CLASS_MAX_LENGTH` (a longer `[:name:]` never matches).
const CHAR_CLASS_MAX_LENGTH: usize = 256;
// glibc takes `[:name:]` bytes in a..z but excludes `z` itself (`c >= 'z'`),
// hence the a..=y ranges below.

#[inline]
fn at(p: &[u8], i: usize) -> u8 {
    p.get(i).copied().unwrap_or(0)
}

/// What one bracket expression does with one byte of the string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bracket {
    /// It matched; the pattern goes on at this index.
    Match(usize),
    /// It did not (or the expression is malformed).
    NoMatch,
    /// Unterminated: glibc rescans the `[` as an ordinary byte.
    Literal,
}

fn class_matches(name: &[u8], c: u8) -> Option<bool> {
    let a = c.is_ascii();
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => a && c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// The `[.x.]` whose `.` is at `p[dot]`: its symbol and the index
/// after `.]`. Only one-byte names exist in the C locale; any other,
/// or a missing `.]`, fails the whole bracket.
fn collating_symbol(p: &[u8], dot: usize) -> Option<(u8, usize)> {
    let mut q = dot;
    let mut n = 0;
    loop {
        q += 1;
        let c = at(p, q);
        if c == b'.' && at(p, q + 1) == b']' {
            break;
        }
        if c == 0 {
            return None;
        }
        n += 1;
    }
    (n == 1).then(|| (at(p, dot + 1), q + 2))
}

/// The bracket expression whose `[` is at `p[open]`, against byte `f`.
fn bracket(p: &[u8], open: usize, f: u8) -> Bracket {
    let mut q = open + 1;
    let not = at(p, q) == b'!' || at(p, q) == b'^';
    if not {
        q += 1;
    }
    let mut c = at(p, q);
    q += 1;
    let matched = 'main: loop {
        // `normal` is glibc's `normal_bracket` label: c is a plain member
        // byte, q points just past it. `plain` is the path that reaches
        // it without a `goto`, the only one that looks for `[.x.]`.
        let mut normal = false;
        let mut plain = false;
        if c == b'\\' {
            if at(p, q) == 0 {
                return Bracket::NoMatch;
            }
            c = at(p, q);
            q += 1;
            normal = true;
        } else if c == b'[' && at(p, q) == b':' {
            let startp = q;
            let mut name = [0u8; CHAR_CLASS_MAX_LENGTH];
            let mut n = 0;
            loop {
                if n == CHAR_CLASS_MAX_LENGTH {
                    return Bracket::NoMatch;
                }
                q += 1;
                c = at(p, q);
                if c == b':' && at(p, q + 1) == b']' {
                    q += 2;
                    break;
                }
                if !(b'a'..=b'y').contains(&c) {
                    q = startp;
                    c = b'[';
                    normal = true;
                    break;
                }
                name[n] = c;
                n += 1;
            }
            if !normal {
                match class_matches(&name[..n], f) {
                    None => return Bracket::NoMatch,
                    Some(true) => break 'main q,
                    Some(false) => {}
                }
                c = at(p, q);
                q += 1;
            }
        } else if c == b'[' && at(p, q) == b'=' {
            let startp = q;
            q += 1;
            c = at(p, q);
            if c == 0 {
                q = startp;
                c = b'[';
                normal = true;
            } else {
                let eq = c;
                q += 1;
                c = at(p, q);
                if c != b'=' || at(p, q + 1) != b']' {
                    q = startp;
                    c = b'[';
                    normal = true;
                } else {
                    q += 2;
                    if f == eq {
                        break 'main q;
                    }
                    c = at(p, q);
                    q += 1;
                }
            }
        } else if c == 0 {
            return Bracket::Literal;
        } else {
            normal = true;
            plain = true;
        }
        if normal {
            let cold;
            if plain && c == b'[' && at(p, q) == b'.' {
                let Some((sym, next)) = collating_symbol(p, q) else {
                    return Bracket::NoMatch;
                };
                q = next;
                let is_range = at(p, q) == b'-' && at(p, q + 1) != 0;
                if !is_range && f == sym {
                    break 'main q;
                }
                cold = sym;
            } else {
                let is_range = at(p, q) == b'-'
                    && at(p, q + 1) != 0
                    && at(p, q + 1) != b']';
                if !is_range && c == f {
                    break 'main q;
                }
                cold = c;
            }
            c = at(p, q);
            q += 1;
            if c == b'-' && at(p, q) != b']' {
                let mut cend = at(p, q);
                q += 1;
                if cend == b'[' && at(p, q) == b'.' {
                    let Some((sym, next)) = collating_symbol(p, q) else {
                        return Bracket::NoMatch;
                    };
                    q = next;
                    cend = sym;
                } else {
                    if cend == b'\\' {
                        cend = at(p, q);
                        q += 1;
                    }
                    if cend == 0 {
                        return Bracket::NoMatch;
                    }
                }
                if cold <= f && f <= cend {
                    break 'main q;
                }
                c = at(p, q);
                q += 1;
            }
        }
        if c == b']' {
            return if not { Bracket::Match(q) } else { Bracket::NoMatch };
        }
    };
    // glibc's `matched:` label: skip the rest of the expression.
    let mut q = matched;
    loop {
        let c = at(p, q);
        q += 1;
        if c == b']' {
            break;
        }
        if c == 0 {
            // glibc >= 2.36 (bug 28792): rescan the `[` as a plain byte.
            return Bracket::Literal;
        }
        if c == b'\\' {
            if at(p, q) == 0 {
                return Bracket::NoMatch;
            }
            q += 1;
        } else if c == b'[' && at(p, q) == b':' {
            let startp = q;
            let mut n = 0;
            loop {
                q += 1;
                let c = at(p, q);
                n += 1;
                if n == CHAR_CLASS_MAX_LENGTH {
                    return Bracket::NoMatch;
                }
                if at(p, q) == b':' && at(p, q + 1) == b']' {
                    break;
                }
                if !(b'a'..=b'y').contains(&c) {
                    q = startp - 2;
                    break;
                }
            }
            q += 2;
        } else if c == b'[' && at(p, q) == b'=' {
            q += 1;
            if at(p, q) == 0 {
                return Bracket::NoMatch;
            }
            q += 1;
            if at(p, q) != b'=' || at(p, q + 1) != b']' {
                return Bracket::NoMatch;
            }
            q += 2;
        } else if c == b'[' && at(p, q) == b'.' {
            loop {
                q += 1;
                let c = at(p, q);
                if c == 0 {
                    return Bracket::NoMatch;
                }
                if c == b'.' && at(p, q + 1) == b']' {
                    break;
                }
            }
            q += 2;
        }
    }
    if not {
        Bracket::NoMatch
    } else {
        Bracket::Match(q)
    }
}

/// The bracket at `p[open]` as a set of bytes and the index after it,
/// when glibc reads it the same way whatever byte it meets: it then
/// matches one byte from the set. `None` for anything else
/// (unterminated, or ending at different places).
pub(crate) fn bracket_set(p: &[u8], open: usize) -> Option<(usize, [u64; 4])> {
    let mut set = [0u64; 4];
    let mut end = None;
    for c in 1..=255u8 {
        match bracket(p, open, c) {
            Bracket::Match(e) => {
                if *end.get_or_insert(e) != e {
                    return None;
                }
                set[usize::from(c >> 6)] |= 1 << (c & 63);
            }
            Bracket::NoMatch => {}
            Bracket::Literal => return None,
        }
    }
    // A set nothing matches still needs its extent: only a bracket
    // that is plainly terminated (see `simple_end`) is accepted.
    let e = match end {
        Some(e) => e,
        None => simple_end(p, open)?,
    };
    Some((e, set))
}

/// End of a bracket without `[` or `\` inside: the first `]` after an
/// optional `!`/`^` and a leading `]`; glibc's matching and skipping
/// loops agree on it.
pub(crate) fn simple_end(p: &[u8], open: usize) -> Option<usize> {
    let mut q = open + 1;
    if matches!(p.get(q), Some(b'!' | b'^')) {
        q += 1;
    }
    if p.get(q) == Some(&b']') {
        q += 1;
    }
    loop {
        match *p.get(q)? {
            b']' => return Some(q + 1),
            b'[' | b'\\' | 0 => return None,
            _ => q += 1,
        }
    }
}

/// `fnmatch(pattern, string, 0) == 0` with glibc's semantics. Both are
/// C strings: each ends at its first NUL, if any.
pub fn fnmatch(pattern: &[u8], string: &[u8]) -> bool {
    let s = match memchr::memchr(0, string) {
        Some(n) => &string[..n],
        None => string,
    };
    fnmatch_nonul(pattern, s)
}

/// [`fnmatch`] for a string known to hold no NUL (normalized keys).
pub(crate) fn fnmatch_nonul(pattern: &[u8], s: &[u8]) -> bool {
    let p = pattern;
    let (mut pi, mut si) = (0usize, 0usize);
    // (pattern index after the last `*`, string index it was tried at)
    let mut star: Option<(usize, usize)> = None;
    loop {
        let c = at(p, pi);
        let ok = match c {
            0 => {
                if si == s.len() {
                    return true;
                }
                false
            }
            b'*' => {
                pi += 1;
                // Like glibc, jump to the next place where the byte after
                // the star can match (only plain bytes; same result).
                let next = at(p, pi);
                if si < s.len()
                    && !matches!(next, 0 | b'*' | b'?' | b'[' | b'\\')
                {
                    match s[si..].iter().position(|&b| b == next) {
                        Some(k) => si += k,
                        None => return false,
                    }
                }
                star = Some((pi, si));
                continue;
            }
            _ if si == s.len() => false,
            b'?' => {
                pi += 1;
                true
            }
            b'\\' => {
                let e = at(p, pi + 1);
                if e != 0 && e == s[si] {
                    pi += 2;
                    true
                } else {
                    false
                }
            }
            b'[' => match bracket(p, pi, s[si]) {
                Bracket::Match(next) => {
                    pi = next;
                    true
                }
                Bracket::NoMatch => false,
                Bracket::Literal => {
                    if s[si] == b'[' {
                        pi += 1;
                        true
                    } else {
                        false
                    }
                }
            },
            c => {
                if c == s[si] {
                    pi += 1;
                    true
                } else {
                    false
                }
            }
        };
        if ok {
            si += 1;
            continue;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                let mut ns = ss + 1;
                let next = at(p, sp);
                if !matches!(next, 0 | b'*' | b'?' | b'[' | b'\\') {
                    match s[ns..].iter().position(|&b| b == next) {
                        Some(k) => ns += k,
                        None => return false,
                    }
                }
                star = Some((sp, ns));
                pi = sp;
                si = ns;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn basics() {
        assert!(fnmatch(b"pci:v*d*", b"pci:v0000d1"));
        assert!(fnmatch(b"*", b"a/b"));
        assert!(!fnmatch(b"a?", b"a"));
        assert!(fnmatch(b"[!a]", b"b"));
        assert!(fnmatch(b"[^a]", b"b"));
        assert!(fnmatch(b"[]a]", b"]"));
        assert!(fnmatch(b"[", b"["));
        assert!(!fnmatch(b"[ab", b"a"));
        assert!(fnmatch(b"\\*", b"*"));
        assert!(!fnmatch(b"a\\", b"a\\"));
        assert!(fnmatch(b"[[:digit:]]x", b"7x"));
        assert!(!fnmatch(b"[z-a]", b"m"));
        assert!(fnmatch(
            &[b'*'; 40],
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
        ));
    }
}
