//! The libkmod lookup chain: one modalias (or module name) in, the
//! module names libkmod 30's `kmod_module_new_from_lookup` returns out
//! (kmod v30 `libkmod/libkmod-module.c`, `libkmod/libkmod.c`), for a
//! context without modprobe.d configuration.
//!
//! The key goes through `alias_normalize` (-EINVAL on unbalanced
//! brackets), then the sources in [`CHAIN`] are tried in order and the
//! first one that returns anything wins. Config aliases and install
//! commands come from modprobe.d ([`Resolver::with_config`], filled by
//! `policy`); without it their stages find nothing.
//!
//! ```no_run
//! use coldplug::modindex::KernelDir;
//! use coldplug::resolve::{Backend, Resolver, Scratch};
//!
//! let k = KernelDir::open("traces/kernels/debian-6.1.0-50-s390x".as_ref())?;
//! let r = Resolver::new(k, Backend::Compiled);
//! let mut s = Scratch::default();
//! r.lookup(b"ap:t0C", &mut s).unwrap();
//! assert_eq!(s.modules().collect::<Vec<_>>(), [&b"zcrypt_cex4"[..]; 2]);
//! # Ok::<(), coldplug::modindex::IndexError>(())
//! ```

use std::fmt;

use crate::matcher::{self, AliasMatcher, Hit, Matcher, NaiveMatcher};
use crate::modindex::normalize::{
    alias_normalize_cow, modname_normalize_into, KeyShape, PATH_MAX,
};
use crate::modindex::{Index, KernelDir};

/// One source of libkmod's lookup chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// modprobe.d `alias` lines, fnmatch in config order
    /// (`kmod_lookup_alias_from_config`); see [`Resolver::with_config`].
    ConfigAlias,
    /// Exact module name in modules.dep.bin; skipped when the key has
    /// a `:` (`kmod_lookup_alias_from_moddep_file`).
    ModDep,
    /// `symbol:` keys, wildcard search of modules.symbols.bin.
    Symbols,
    /// modprobe.d `install`/`remove` commands
    /// (`kmod_lookup_alias_from_commands`).
    Commands,
    /// Wildcard search of modules.alias.bin.
    Aliases,
    /// Exact module name in modules.builtin.bin.
    Builtin,
    /// Wildcard search of modules.builtin.alias.bin.
    BuiltinAlias,
}

/// libkmod v30's `lookup[]` table, in order.
pub const CHAIN: [Stage; 7] = [
    Stage::ConfigAlias,
    Stage::ModDep,
    Stage::Symbols,
    Stage::Commands,
    Stage::Aliases,
    Stage::Builtin,
    Stage::BuiltinAlias,
];

impl Stage {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Stage::ConfigAlias => "config-alias",
            Stage::ModDep => "moddep",
            Stage::Symbols => "symbols",
            Stage::Commands => "commands",
            Stage::Aliases => "aliases",
            Stage::Builtin => "builtin",
            Stage::BuiltinAlias => "builtin-alias",
        }
    }
}

/// Why libkmod fails a lookup (as opposed to finding nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LookupError {
    /// Unbalanced brackets in the key: -EINVAL.
    InvalidAlias,
    /// A match whose `module\alias` key would not fit libkmod's
    /// PATH_MAX buffer (`kmod_module_new_from_alias`): -ENAMETOOLONG.
    NameTooLong,
    /// libkmod itself returned this negative errno (libkmod backend).
    Errno(i32),
}

impl LookupError {
    /// The negative errno libkmod returns.
    pub fn errno(self) -> i32 {
        match self {
            LookupError::InvalidAlias => -22,
            LookupError::NameTooLong => -36,
            LookupError::Errno(e) => e,
        }
    }
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::InvalidAlias => {
                f.write_str("invalid alias (unbalanced brackets)")
            }
            LookupError::NameTooLong => f.write_str("alias too long"),
            LookupError::Errno(e) => write!(f, "libkmod error {e}"),
        }
    }
}

impl std::error::Error for LookupError {}

/// Which engine answers the lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// [`AliasMatcher`] for the wildcard stages.
    Compiled,
    /// [`NaiveMatcher`] for the wildcard stages.
    Naive,
    /// The system's libkmod answers the whole lookup (feature
    /// `kmod-ffi`): the baseline and live oracle. Calls are serialized.
    #[cfg(feature = "kmod-ffi")]
    Libkmod,
}

/// Per-thread lookup buffers; the answer of the last lookup.
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    /// The normalized key, for the keys normalizing changes.
    key: Vec<u8>,
    found: Found,
    stage: Option<Stage>,
}

/// The modules a stage found, and the matcher's hit buffer: apart from
/// the key, so a stage borrows the key and writes here.
#[derive(Debug, Default, Clone)]
struct Found {
    hits: Vec<Hit>,
    names: Vec<u8>,
    ends: Vec<usize>,
}

impl Found {
    fn push(&mut self, name: &[u8]) {
        self.names.extend_from_slice(name);
        self.ends.push(self.names.len());
    }

    /// Push `modname_normalize(name)` without a temporary.
    fn push_modname(&mut self, name: &[u8]) {
        modname_normalize_into(name, &mut self.names);
        self.ends.push(self.names.len());
    }

    fn clear(&mut self) {
        self.names.clear();
        self.ends.clear();
    }
}

impl Scratch {
    /// The module names of the last successful lookup, in libkmod's
    /// order, duplicates kept.
    pub fn modules(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut start = 0;
        self.found.ends.iter().map(move |&e| {
            let s = &self.found.names[start..e];
            start = e;
            s
        })
    }

    /// How many modules the last lookup found.
    pub fn len(&self) -> usize {
        self.found.ends.len()
    }

    /// True when the last lookup found nothing.
    pub fn is_empty(&self) -> bool {
        self.found.ends.is_empty()
    }

    /// The stage that answered the last lookup.
    pub fn stage(&self) -> Option<Stage> {
        self.stage
    }
}

/// The modprobe.d entries the chain's config stages read, normalised
/// as libkmod stores them (`underscores`).
#[derive(Debug, Clone, Default)]
pub struct ConfigSlots {
    /// `alias PATTERN MODULE`, in config order.
    pub aliases: Vec<(Vec<u8>, Vec<u8>)>,
    /// Module names of `install` lines, in config order.
    pub install: Vec<Vec<u8>>,
    /// Module names of `remove` lines, in config order.
    pub remove: Vec<Vec<u8>>,
}

/// The chain over one kernel's modules directory. Immutable and
/// `Sync`: share it between threads, one [`Scratch`] each.
pub struct Resolver {
    kernel: KernelDir,
    aliases: Option<Matcher>,
    builtin_alias: Option<Matcher>,
    /// Some name in modules.builtin.bin has a `:`. Names never do, so
    /// a modalias (which always does) skips that exact search.
    builtin_colon: bool,
    config: ConfigSlots,
    #[cfg(feature = "kmod-ffi")]
    kmod: Option<std::sync::Mutex<crate::kmod_ffi::Kmod>>,
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("kernel", &self.kernel.path())
            .field("aliases", &self.aliases.is_some())
            .field("builtin_alias", &self.builtin_alias.is_some())
            .finish()
    }
}

// Without the kmod-ffi feature every arm is `Some`, and clippy would
// rather see `map`; with it the libkmod arm is `None`.
#[allow(clippy::bind_instead_of_map)]
fn build(index: Option<&Index>, backend: Backend) -> Option<Matcher> {
    index.and_then(|i| match backend {
        Backend::Compiled => Some(Matcher::Compiled(AliasMatcher::build(i))),
        Backend::Naive => Some(Matcher::Naive(NaiveMatcher::build(i))),
        #[cfg(feature = "kmod-ffi")]
        Backend::Libkmod => None,
    })
}

impl Resolver {
    /// Compile the wildcard indexes of `kernel` with `backend`.
    ///
    /// # Panics
    /// With [`Backend::Libkmod`] when libkmod cannot open the directory;
    /// use [`Resolver::with_libkmod`] to handle that error.
    pub fn new(kernel: KernelDir, backend: Backend) -> Resolver {
        #[cfg(feature = "kmod-ffi")]
        if backend == Backend::Libkmod {
            return Resolver::with_libkmod(kernel)
                .expect("libkmod cannot open the modules directory");
        }
        let aliases = build(kernel.alias.as_ref(), backend);
        let builtin_alias = build(kernel.builtin_alias.as_ref(), backend);
        let builtin_colon = kernel
            .builtin
            .as_ref()
            .is_some_and(|i| i.entries().keys.contains(&b':'));
        Resolver {
            kernel,
            aliases,
            builtin_alias,
            builtin_colon,
            config: ConfigSlots::default(),
            #[cfg(feature = "kmod-ffi")]
            kmod: None,
        }
    }

    /// The same chain with modprobe.d's aliases and commands in their
    /// slots.
    pub fn with_config(mut self, config: ConfigSlots) -> Resolver {
        self.config = config;
        self
    }

    /// The config entries in the chain.
    pub fn config(&self) -> &ConfigSlots {
        &self.config
    }

    /// A resolver that hands every lookup to the system's libkmod
    /// (no modprobe.d, indexes loaded once).
    #[cfg(feature = "kmod-ffi")]
    pub fn with_libkmod(kernel: KernelDir) -> std::io::Result<Resolver> {
        let k = crate::kmod_ffi::Kmod::open_quiet(kernel.path())?;
        Ok(Resolver {
            kernel,
            aliases: None,
            builtin_alias: None,
            builtin_colon: true,
            config: ConfigSlots::default(),
            kmod: Some(std::sync::Mutex::new(k)),
        })
    }

    /// The modules directory.
    pub fn kernel(&self) -> &KernelDir {
        &self.kernel
    }

    /// The matcher of modules.alias.bin, if the file exists.
    pub fn alias_matcher(&self) -> Option<&Matcher> {
        self.aliases.as_ref()
    }

    /// Resolve `alias` like `kmod_module_new_from_lookup`; the modules
    /// are then in `scratch` ([`Scratch::modules`]).
    pub fn lookup(
        &self,
        alias: &[u8],
        scratch: &mut Scratch,
    ) -> Result<(), LookupError> {
        scratch.found.clear();
        scratch.stage = None;
        #[cfg(feature = "kmod-ffi")]
        if let Some(k) = &self.kmod {
            let mut k = k.lock().unwrap_or_else(|e| e.into_inner());
            return k
                .lookup_with(alias, |name| scratch.found.push(name))
                .map_err(|e| match e {
                    -22 => LookupError::InvalidAlias,
                    -36 => LookupError::NameTooLong,
                    e => LookupError::Errno(e),
                });
        }
        // Most keys need no change and are not copied.
        let (key, shape) = alias_normalize_cow(alias, &mut scratch.key)
            .map_err(|_| LookupError::InvalidAlias)?;
        let found = &mut scratch.found;
        // CHAIN, unrolled: each stage is a constant, so its code runs
        // inline with no dispatch (a `match` per stage in a loop costs
        // a mispredicted indirect jump or two per lookup).
        macro_rules! stages {
            ($($i:literal)*) => {$({
                const STAGE: Stage = CHAIN[$i];
                self.run_with(STAGE, key, shape, found)?;
                if !found.ends.is_empty() {
                    scratch.stage = Some(STAGE);
                    return Ok(());
                }
            })*};
        }
        const _: () = assert!(CHAIN.len() == 7);
        stages!(0 1 2 3 4 5 6);
        Ok(())
    }

    /// Convenience: the module names as owned strings.
    pub fn lookup_owned(
        &self,
        alias: &[u8],
    ) -> Result<Vec<Vec<u8>>, LookupError> {
        let mut s = Scratch::default();
        self.lookup(alias, &mut s)?;
        Ok(s.modules().map(<[u8]>::to_vec).collect())
    }

    #[inline(always)]
    fn run_with(
        &self,
        stage: Stage,
        key: &[u8],
        shape: KeyShape,
        s: &mut Found,
    ) -> Result<(), LookupError> {
        match stage {
            Stage::ConfigAlias => {
                // kmod_lookup_alias_from_config: every matching line,
                // the module as written (kmod_module_new_from_alias).
                for (pattern, module) in &self.config.aliases {
                    if matcher::fnmatch::fnmatch(pattern, key) {
                        check_len(module, pattern)?;
                        s.push(module);
                    }
                }
            }
            Stage::Commands => {
                // kmod_lookup_alias_from_commands: the first install
                // line naming exactly this module, else the first
                // remove line; kmod_module_new_from_name normalises.
                let c = &self.config;
                if c.install.is_empty() && c.remove.is_empty() {
                    return Ok(());
                }
                if let Some(m) =
                    c.install.iter().find(|m| m.as_slice() == key).or_else(
                        || c.remove.iter().find(|m| m.as_slice() == key),
                    )
                {
                    s.push_modname(m);
                }
            }
            Stage::ModDep => {
                if !shape.colon {
                    if let Some(i) = &self.kernel.dep {
                        if i.search(key).is_some() {
                            s.push_modname(key);
                        }
                    }
                }
            }
            Stage::Symbols => {
                if key.starts_with(b"symbol:") {
                    if let Some(i) = &self.kernel.symbols {
                        let mut out = Vec::new();
                        matcher::trie_lookup(i, key, &mut out);
                        for (_, name) in out {
                            check_len(name, key)?;
                            s.push(name);
                        }
                    }
                }
            }
            Stage::Aliases => {
                self.wild(self.aliases.as_ref(), key, shape.wild, s)?
            }
            Stage::Builtin => {
                if shape.colon && !self.builtin_colon {
                    return Ok(());
                }
                if let Some(i) = &self.kernel.builtin {
                    if i.search(key).is_some() {
                        s.push_modname(key);
                    }
                }
            }
            Stage::BuiltinAlias => {
                // A small index most keys cannot match (crypto-*,
                // char-major-*): its first-byte test spares the walk.
                let m = self.builtin_alias.as_ref();
                let m = m.filter(|m| m.may_match(key));
                self.wild(m, key, shape.wild, s)?
            }
        }
        Ok(())
    }

    #[inline(always)]
    fn wild(
        &self,
        m: Option<&Matcher>,
        key: &[u8],
        wild: bool,
        s: &mut Found,
    ) -> Result<(), LookupError> {
        let Some(m) = m else { return Ok(()) };
        m.lookup_wild(key, wild, &mut s.hits);
        for k in 0..s.hits.len() {
            let name = m.module_name(s.hits[k].module);
            if let Err(e) = check_len(name, key) {
                // libkmod drops what this source had found.
                s.clear();
                return Err(e);
            }
            s.push(name);
        }
        Ok(())
    }
}

/// `kmod_module_new_from_alias` builds `name\alias` in a PATH_MAX
/// buffer and fails with -ENAMETOOLONG when it does not fit.
fn check_len(name: &[u8], alias: &[u8]) -> Result<(), LookupError> {
    if name.len() + alias.len() + 2 > PATH_MAX {
        Err(LookupError::NameTooLong)
    } else {
        Ok(())
    }
}

/// One line of the golden answer format: `ALIAS<TAB>MOD MOD...`,
/// nothing after the tab when nothing matched, `ERR -22` on -EINVAL.
pub fn format_line(
    alias: &[u8],
    result: &Result<(), LookupError>,
    scratch: &Scratch,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(alias);
    out.push(b'\t');
    match result {
        Ok(()) => {
            for (i, m) in scratch.modules().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                out.extend_from_slice(m);
            }
        }
        Err(e) => {
            out.extend_from_slice(format!("ERR {}", e.errno()).as_bytes())
        }
    }
    out.push(b'\n');
}
