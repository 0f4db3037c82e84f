//! Name normalization, mirroring kmod v30 `shared/util.c`
//! (`alias_normalize`, `modname_normalize`).
//!
//! Every lookup key goes through [`alias_normalize`] before any index
//! is searched, and depmod stored the `.bin` keys the same way, so
//! `-` and `_` are the same outside brackets.

/// libkmod's buffer size; names are cut at `PATH_MAX - 1` bytes.
pub const PATH_MAX: usize = 4096;

/// `alias_normalize` refused the key: a `]` outside brackets or a `[`
/// without its `]`. libkmod returns -EINVAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidAlias;

impl std::fmt::Display for InvalidAlias {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unbalanced brackets in alias")
    }
}

impl std::error::Error for InvalidAlias {}

/// libkmod's `alias_normalize` into `out` (cleared first): `-` becomes
/// `_` except inside `[...]`, whose bytes are copied as they are. The
/// input ends at its first NUL, as a C string does; the output is cut
/// at 4095 bytes except inside a bracket run (libkmod keeps copying to
/// the `]` there).
pub fn alias_normalize(
    alias: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), InvalidAlias> {
    alias_normalize_wild(alias, out).map(|_| ())
}

/// [`alias_normalize`], also telling whether the result holds a
/// wildcard byte (`*`, `?`, `[`), which changes how libkmod's search
/// meets patterns (see `matcher::patterns`).
///
/// Keys without brackets or NUL, the usual case, go sixteen bytes at a
/// time: one copy, then each `-` found by the byte masks is rewritten.
pub fn alias_normalize_wild(
    alias: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, InvalidAlias> {
    alias_normalize_shape(alias, out).map(|s| s.wild)
}

/// What the lookup chain asks of a normalized key besides its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyShape {
    /// It holds a wildcard byte (`*`, `?`, `[`).
    pub wild: bool,
    /// It holds a `:` (libkmod then skips modules.dep).
    pub colon: bool,
}

/// [`alias_normalize`], also telling the key's [`KeyShape`], found in
/// the same pass.
pub fn alias_normalize_shape(
    alias: &[u8],
    out: &mut Vec<u8>,
) -> Result<KeyShape, InvalidAlias> {
    let (in_out, shape) = normalize_into(alias, out)?;
    if !in_out {
        out.clear();
        out.extend_from_slice(alias);
    }
    Ok(shape)
}

/// [`alias_normalize_shape`] that copies only when normalizing changes
/// something: a key without `-`, brackets or NUL (nearly every
/// modalias) is returned as it is, and `out` is left alone; otherwise
/// the normalized key is built in `out` and returned from there.
#[inline]
pub fn alias_normalize_cow<'a>(
    alias: &'a [u8],
    out: &'a mut Vec<u8>,
) -> Result<(&'a [u8], KeyShape), InvalidAlias> {
    let (in_out, shape) = normalize_into(alias, out)?;
    Ok((if in_out { out } else { alias }, shape))
}

/// The normalizing pass: true when the key was built in `out`, false
/// when it is `alias` unchanged (`out` untouched).
#[inline(always)]
fn normalize_into(
    alias: &[u8],
    out: &mut Vec<u8>,
) -> Result<(bool, KeyShape), InvalidAlias> {
    if alias.len() >= PATH_MAX - 1 {
        return normalize_slow(alias, out).map(|s| (true, s));
    }
    // A modalias has none of the bytes normalizing acts on: one quick
    // pass says so, and which bytes they are is asked only otherwise.
    let (odd, colon) = crate::swar::odd_bytes_and_colons(alias);
    if !odd {
        return Ok((false, KeyShape { wild: false, colon }));
    }
    let (mut wild, mut colon, mut dashes) = (0, 0, 0);
    let mut i = 0;
    while i < alias.len() {
        let [dash, odd, star, col] = crate::swar::masks16_any(
            alias,
            i,
            [[b'-'; 3], [b'[', b']', 0], [b'*', b'?', b'?'], [b':'; 3]],
        );
        if odd != 0 {
            return normalize_slow(alias, out).map(|s| (true, s));
        }
        wild |= star;
        colon |= col;
        dashes |= dash;
        i += 16;
    }
    let shape = KeyShape { wild: wild != 0, colon: colon != 0 };
    if dashes == 0 {
        return Ok((false, shape));
    }
    out.clear();
    out.extend(alias.iter().map(|&b| if b == b'-' { b'_' } else { b }));
    Ok((true, shape))
}

/// kmod's loop, byte by byte.
fn normalize_slow(
    alias: &[u8],
    out: &mut Vec<u8>,
) -> Result<KeyShape, InvalidAlias> {
    out.clear();
    let at = |i: usize| alias.get(i).copied().unwrap_or(0);
    let mut i = 0;
    while i < PATH_MAX - 1 {
        match at(i) {
            0 => break,
            b'-' => out.push(b'_'),
            b']' => return Err(InvalidAlias),
            b'[' => {
                while at(i) != b']' && at(i) != 0 {
                    out.push(at(i));
                    i += 1;
                }
                if at(i) != b']' {
                    return Err(InvalidAlias);
                }
                out.push(b']');
            }
            c => out.push(c),
        }
        i += 1;
    }
    Ok(KeyShape {
        wild: out.iter().any(|&c| super::index::is_wildcard(c)),
        colon: out.contains(&b':'),
    })
}

/// libkmod's `modname_normalize`: `-` becomes `_` and the name stops
/// at the first `.` (`foo-bar.ko` is `foo_bar`).
pub fn modname_normalize(name: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    modname_normalize_into(name, &mut out);
    out
}

/// [`modname_normalize`], appended to `out` (no allocation once `out`
/// has grown: the lookup chain's hot path).
pub fn modname_normalize_into(name: &[u8], out: &mut Vec<u8>) {
    out.extend(
        name.iter()
            .take(PATH_MAX - 1)
            .take_while(|&&c| c != 0 && c != b'.')
            .map(|&c| if c == b'-' { b'_' } else { c }),
    );
}

/// The module name of a path in modules.dep or modules.order:
/// basename, then [`modname_normalize`] (`path_to_modname`).
pub fn path_to_modname(path: &[u8]) -> Vec<u8> {
    let base = match memchr::memrchr(b'/', path) {
        Some(i) => &path[i + 1..],
        None => path,
    };
    modname_normalize(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, InvalidAlias> {
        let mut v = Vec::new();
        alias_normalize(s.as_bytes(), &mut v)?;
        Ok(String::from_utf8(v).unwrap())
    }

    #[test]
    fn alias() {
        assert_eq!(norm("char-major-116-1").unwrap(), "char_major_116_1");
        assert_eq!(norm("a-[0-9]-b").unwrap(), "a_[0-9]_b");
        assert_eq!(norm("a[[-]]").unwrap_err(), InvalidAlias);
        assert_eq!(norm("a[[-]").unwrap(), "a[[-]");
        assert_eq!(norm("x]").unwrap_err(), InvalidAlias);
        assert_eq!(norm("x[").unwrap_err(), InvalidAlias);
        assert_eq!(norm("").unwrap(), "");
        assert_eq!(norm("ab\0-c").unwrap(), "ab");
        let long = "-".repeat(5000);
        assert_eq!(norm(&long).unwrap().len(), 4095);
    }

    #[test]
    fn shape() {
        let mut v = Vec::new();
        let shape = |k: &str, v: &mut Vec<u8>| {
            alias_normalize_shape(k.as_bytes(), v).unwrap()
        };
        let s = shape("pci:v0000*", &mut v);
        assert_eq!((s.wild, s.colon), (true, true));
        let s = shape("dasd-eckd-mod", &mut v);
        assert_eq!((s.wild, s.colon), (false, false));
        // Past the first 16 bytes, and through kmod's loop (a bracket).
        let s = shape("abcdefghijklmnopq:", &mut v);
        assert_eq!((s.wild, s.colon), (false, true));
        let s = shape("[ab]cdefghijklmnopq:", &mut v);
        assert_eq!((s.wild, s.colon), (true, true));
    }

    #[test]
    fn fast_path_equals_kmods_loop() {
        // Mostly plain bytes, so whole 16-byte blocks take the fast path.
        let alpha = b"abcdefgha:09-_[]*?\0x/.\x80\xff";
        let mut rng = crate::test_rng::XorShift::new(0x2545_f491);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..100_000 {
            let plain = 8 + rng.below(alpha.len() - 7);
            let key = rng.bytes(40, &alpha[..plain]);
            let fast = alias_normalize_shape(&key, &mut a);
            let slow = normalize_slow(&key, &mut b);
            assert_eq!(fast, slow, "{key:?}");
            if fast.is_ok() {
                assert_eq!(a, b, "{key:?}");
            }
            let mut c = Vec::new();
            let cow = alias_normalize_cow(&key, &mut c)
                .map(|(k, s)| (k.to_vec(), s));
            assert_eq!(cow, slow.map(|s| (b.clone(), s)), "{key:?}");
        }
        for n in [4093, 4094, 4095, 4096, 5000] {
            let key = b"-a".repeat(n / 2);
            assert_eq!(
                alias_normalize_shape(&key, &mut a),
                normalize_slow(&key, &mut b)
            );
            assert_eq!(a, b);
        }
    }

    #[test]
    fn modname() {
        assert_eq!(modname_normalize(b"dasd-eckd-mod.ko"), b"dasd_eckd_mod");
        assert_eq!(
            path_to_modname(b"kernel/drivers/s390/block/dasd_mod.ko"),
            b"dasd_mod"
        );
    }
}
