//! A kernel's module index under a policy, with overlays applied: the
//! lookup chain with modprobe.d in its slots, and the probe plans
//! libkmod 30 builds (`kmod_module_probe_insert_module`,
//! `kmod_module_get_probe_list`, `__kmod_module_fill_softdep` in
//! `libkmod/libkmod-module.c`; `print_action` in `tools/modprobe.c`).
//!
//! libkmod's quirks are kept, each on purpose:
//! - Module objects are pooled by `name` or `name\alias`: the module an
//!   alias lookup returns is a different object from the same module
//!   reached as a dependency, and each has its own `visited` flag.
//! - Dependencies come from modules.dep in reverse line order
//!   (`kmod_module_parse_depline` prepends).
//! - A dependency is appended by `fill_softdep` without a `visited`
//!   check, so one module can appear twice in a probe list.
//! - A module with softdeps has its install command ignored
//!   (`ignorecmd`).
//! - Only the probed module is checked against the blacklist; modules
//!   pulled in as dependencies or softdeps are not (kmod issue #439).
//! - Options: every `options` line whose module equals the object's
//!   name or its alias, joined by spaces; a non-empty result gets a
//!   trailing space (`module_options_concat`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::matcher::fnmatch::fnmatch;
use crate::modindex::normalize::{
    alias_normalize, modname_normalize, path_to_modname,
};
use crate::modindex::{Index, IndexError, IndexWriter, KernelDir};
use crate::resolve::{
    Backend, ConfigSlots, LookupError, Resolver, Scratch, Stage,
};

use super::overlay::Overlay;
use super::Config;

/// Why a kernel could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// An index file is missing, truncated or corrupt.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// An overlay cannot be applied.
    #[error("overlay: {0}")]
    Overlay(String),
}

/// A module object as libkmod pools it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModRef {
    /// Module name.
    pub name: String,
    /// The alias it was found through, if any.
    pub alias: Option<String>,
    /// Install command set by the commands lookup stage.
    pub preset_install: Option<String>,
}

/// Which blacklist rule a probe applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlacklistMode {
    /// udev's kmod builtin: `KMOD_PROBE_APPLY_BLACKLIST`, always.
    Always,
    /// modprobe: `KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY`, only for a
    /// module reached through an alias.
    AliasOnly,
}

/// One action of a probe, as `print_action` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `insmod PATH OPTIONS`.
    Insmod {
        /// Module.
        name: String,
        /// Absolute path of the `.ko`.
        path: String,
        /// Options with libkmod's spacing.
        options: String,
    },
    /// `install COMMAND OPTIONS`: the command replaces the insertion.
    Install {
        /// Module.
        name: String,
        /// The command (never run).
        command: String,
        /// Options.
        options: String,
    },
    /// `builtin NAME`.
    Builtin {
        /// Module.
        name: String,
    },
    /// A module with no `.ko` and not built in: modprobe prints nothing,
    /// a real insertion fails with -ENOENT.
    Missing {
        /// Module.
        name: String,
    },
}

impl Action {
    /// The module the action is about.
    pub fn name(&self) -> &str {
        match self {
            Action::Insmod { name, .. }
            | Action::Install { name, .. }
            | Action::Builtin { name }
            | Action::Missing { name } => name,
        }
    }
}

/// The result of probing one module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The module is blacklisted: nothing happens.
    Blacklisted,
    /// The probe list, in order.
    Actions(Vec<Action>),
}

/// The kernel index, the policy, and what overlays changed.
pub struct PolicyKernel {
    resolver: Resolver,
    config: Config,
    sizes: HashMap<String, u64>,
    moddir: PathBuf,
    overlays: Vec<String>,
}

/// A key-value list of one index, in traversal order.
type Pairs = Vec<(Vec<u8>, Vec<u8>, u32)>;

fn pairs(index: Option<&Index>) -> Pairs {
    let Some(i) = index else { return Vec::new() };
    let e = i.entries();
    e.list
        .iter()
        .map(|en| {
            (
                e.key(en).to_vec(),
                i.value_str(i.value(en.value)).to_vec(),
                en.priority,
            )
        })
        .collect()
}

fn build(p: &Pairs) -> Result<Index, KernelError> {
    let mut w = IndexWriter::new();
    for (k, v, prio) in p {
        w.insert(k, v, *prio).map_err(|b| {
            KernelError::Overlay(format!(
                "key or value not storable in a kmod index: {}",
                String::from_utf8_lossy(&b.0)
            ))
        })?;
    }
    Ok(Index::from_vec(w.to_bytes())?)
}

fn norm(name: &str) -> String {
    String::from_utf8_lossy(&modname_normalize(name.as_bytes())).into_owned()
}

/// Apply overlays by rewriting the indexes as depmod would have
/// written them for the changed kernel.
fn apply_overlays(
    k: &mut KernelDir,
    sizes: &mut HashMap<String, u64>,
    overlays: &[Overlay],
) -> Result<(), KernelError> {
    let mut alias = pairs(k.alias.as_ref());
    let mut dep = pairs(k.dep.as_ref());
    let mut builtin = pairs(k.builtin.as_ref());
    let mut balias = pairs(k.builtin_alias.as_ref());
    let is_mod = |v: &[u8], n: &str| v == n.as_bytes();
    for o in overlays {
        for name in o.remove.iter().map(|n| norm(n)) {
            alias.retain(|(_, v, _)| !is_mod(v, &name));
            dep.retain(|(key, _, _)| !is_mod(key, &name));
            builtin.retain(|(key, _, _)| !is_mod(key, &name));
            balias.retain(|(_, v, _)| !is_mod(v, &name));
            sizes.remove(&name);
        }
        for name in o.builtin.iter().map(|n| norm(n)) {
            dep.retain(|(key, _, _)| !is_mod(key, &name));
            let moved: Vec<_> = alias
                .iter()
                .filter(|(_, v, _)| is_mod(v, &name))
                .cloned()
                .collect();
            alias.retain(|(_, v, _)| !is_mod(v, &name));
            balias.extend(moved.into_iter().map(|(key, v, _)| (key, v, 0)));
            if !builtin.iter().any(|(key, _, _)| is_mod(key, &name)) {
                builtin.push((name.into_bytes(), Vec::new(), 0));
            }
        }
        for d in &o.drop_aliases {
            let name = norm(&d.module);
            let keys: Option<HashSet<Vec<u8>>> =
                d.aliases.as_ref().map(|list| {
                    list.iter()
                        .filter_map(|a| {
                            let mut out = Vec::new();
                            alias_normalize(a.as_bytes(), &mut out)
                                .ok()
                                .map(|_| out)
                        })
                        .collect()
                });
            alias.retain(|(key, v, _)| {
                !(is_mod(v, &name)
                    && keys.as_ref().is_none_or(|s| s.contains(key)))
            });
        }
        for m in &o.modules {
            let name = norm(&m.name);
            let exists = dep.iter().any(|(key, _, _)| is_mod(key, &name))
                || builtin.iter().any(|(key, _, _)| is_mod(key, &name));
            if m.if_missing && exists {
                continue;
            }
            alias.retain(|(_, v, _)| !is_mod(v, &name));
            dep.retain(|(key, _, _)| !is_mod(key, &name));
            let path_of = |n: &str, dep: &Pairs| {
                dep.iter().find(|(key, _, _)| is_mod(key, n)).map(
                    |(_, v, _)| {
                        let v = String::from_utf8_lossy(v);
                        v.split(':').next().unwrap_or("").to_string()
                    },
                )
            };
            let mut line = m
                .path
                .clone()
                .unwrap_or_else(|| format!("kernel/extra/{name}.ko"));
            line.push(':');
            for d in &m.depends {
                let p = path_of(&norm(d), &dep).ok_or_else(|| {
                    KernelError::Overlay(format!(
                        "module {name} depends on {d}, which the kernel does not have"
                    ))
                })?;
                line.push(' ');
                line.push_str(&p);
            }
            let prio = alias
                .iter()
                .map(|p| p.2)
                .chain(dep.iter().map(|p| p.2))
                .max()
                .unwrap_or(0)
                + 1;
            dep.push((name.clone().into_bytes(), line.into_bytes(), prio));
            for a in &m.aliases {
                let mut key = Vec::new();
                // depmod leaves unbalanced aliases out of the .bin.
                if alias_normalize(a.as_bytes(), &mut key).is_ok() {
                    alias.push((key, name.clone().into_bytes(), prio));
                }
            }
            if m.size > 0 {
                sizes.insert(name.clone(), m.size);
            }
        }
    }
    k.alias = Some(build(&alias)?);
    k.dep = Some(build(&dep)?);
    k.builtin = Some(build(&builtin)?);
    k.builtin_alias = Some(build(&balias)?);
    Ok(())
}

/// Per-probe state of pooled module objects.
#[derive(Default)]
struct Pool {
    objs: Vec<ModRef>,
    by_key: HashMap<(String, Option<String>), usize>,
    visited: Vec<bool>,
    ignorecmd: Vec<bool>,
}

impl Pool {
    fn get(&mut self, m: &ModRef) -> usize {
        let key = (m.name.clone(), m.alias.clone());
        if let Some(&i) = self.by_key.get(&key) {
            return i;
        }
        let i = self.objs.len();
        self.objs.push(m.clone());
        self.by_key.insert(key, i);
        self.visited.push(false);
        self.ignorecmd.push(false);
        i
    }
}

impl PolicyKernel {
    /// Load `dir`, apply `overlays` in order, and put `config` in the
    /// lookup chain.
    pub fn open(
        dir: &Path,
        backend: Backend,
        config: Config,
        overlays: &[Overlay],
    ) -> Result<PolicyKernel, KernelError> {
        let mut kernel = KernelDir::open(dir)?;
        let mut sizes: HashMap<String, u64> = HashMap::new();
        if let Ok(bytes) = std::fs::read(dir.join("modules.size")) {
            if let Ok(list) = crate::modindex::text::parse_size(&bytes) {
                sizes.extend(list);
            }
        }
        if !overlays.is_empty() {
            apply_overlays(&mut kernel, &mut sizes, overlays)?;
        }
        let slots = ConfigSlots {
            aliases: config
                .aliases
                .iter()
                .map(|(a, m)| (a.clone().into_bytes(), m.clone().into_bytes()))
                .collect(),
            install: config
                .install
                .iter()
                .map(|(m, _)| m.clone().into_bytes())
                .collect(),
            remove: config
                .remove
                .iter()
                .map(|(m, _)| m.clone().into_bytes())
                .collect(),
        };
        let resolver = Resolver::new(kernel, backend).with_config(slots);
        Ok(PolicyKernel {
            resolver,
            config,
            sizes,
            moddir: dir.to_owned(),
            overlays: overlays
                .iter()
                .filter_map(|o| o.description.clone())
                .collect(),
        })
    }

    /// The lookup chain.
    pub fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The policy.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Descriptions of the overlays applied.
    pub fn overlays(&self) -> &[String] {
        &self.overlays
    }

    /// Size of a module's `.ko` (`modules.size`), 0 when unknown.
    pub fn size(&self, name: &str) -> u64 {
        self.sizes.get(name).copied().unwrap_or(0)
    }

    /// The module objects `kmod_module_new_from_lookup` returns.
    pub fn lookup_objects(
        &self,
        alias: &[u8],
        scratch: &mut Scratch,
    ) -> Result<Vec<ModRef>, LookupError> {
        self.resolver.lookup(alias, scratch)?;
        let mut key = Vec::new();
        // The lookup succeeded, so the key normalizes.
        let _ = alias_normalize(alias, &mut key);
        let key = String::from_utf8_lossy(&key).into_owned();
        let stage = scratch.stage();
        let mut config_patterns = self
            .config
            .aliases
            .iter()
            .filter(|(p, _)| fnmatch(p.as_bytes(), key.as_bytes()))
            .map(|(p, _)| p.clone());
        Ok(scratch
            .modules()
            .map(|m| {
                let name = String::from_utf8_lossy(m).into_owned();
                let (alias, preset_install) = match stage {
                    Some(Stage::ConfigAlias) => (config_patterns.next(), None),
                    Some(
                        Stage::Symbols | Stage::Aliases | Stage::BuiltinAlias,
                    ) => (Some(key.clone()), None),
                    Some(Stage::Commands) => (
                        None,
                        self.config
                            .install
                            .iter()
                            .find(|(n, _)| *n == key)
                            .map(|(_, c)| c.clone()),
                    ),
                    _ => (None, None),
                };
                ModRef { name, alias, preset_install }
            })
            .collect())
    }

    fn dep_line(&self, name: &str) -> Option<(String, Vec<String>)> {
        let line =
            self.resolver.kernel().dep.as_ref()?.search(name.as_bytes())?;
        let line = String::from_utf8_lossy(line);
        let (path, deps) = line.split_once(':')?;
        let join = |p: &str| {
            if p.starts_with('/') {
                p.to_string()
            } else {
                format!("{}/{p}", self.moddir.display())
            }
        };
        // kmod_module_parse_depline prepends: reverse line order.
        let deps = deps
            .split([' ', '\t'])
            .filter(|d| !d.is_empty())
            .rev()
            .map(|d| {
                String::from_utf8_lossy(&path_to_modname(d.as_bytes()))
                    .into_owned()
            })
            .collect();
        Some((join(path), deps))
    }

    /// True when `name` is in modules.builtin.
    pub fn is_builtin(&self, name: &str) -> bool {
        self.resolver
            .kernel()
            .builtin
            .as_ref()
            .is_some_and(|i| i.search(name.as_bytes()).is_some())
    }

    /// Blacklisted by name (`module_is_blacklisted`: exact string).
    pub fn is_blacklisted(&self, name: &str) -> bool {
        self.config.blacklist.iter().any(|b| b == name)
    }

    fn options(&self, m: &ModRef) -> String {
        let mut opts = String::new();
        for (name, o) in &self.config.options {
            if *name == m.name || m.alias.as_deref() == Some(name.as_str()) {
                if o.is_empty() {
                    continue;
                }
                if !opts.is_empty() {
                    opts.push(' ');
                }
                opts.push_str(o);
            }
        }
        if !opts.is_empty() {
            opts.push(' ');
        }
        opts
    }

    fn install_command(&self, m: &ModRef) -> Option<String> {
        if let Some(c) = &m.preset_install {
            return Some(c.clone());
        }
        self.config
            .install
            .iter()
            .find(|(pat, _)| fnmatch(pat.as_bytes(), m.name.as_bytes()))
            .map(|(_, c)| c.clone())
    }

    fn softdeps(
        &self,
        name: &str,
        scratch: &mut Scratch,
    ) -> (Vec<ModRef>, Vec<ModRef>) {
        let Some(sd) = self
            .config
            .softdeps
            .iter()
            .find(|s| fnmatch(s.name.as_bytes(), name.as_bytes()))
        else {
            return (Vec::new(), Vec::new());
        };
        let mut look = |names: &[String]| {
            let mut out = Vec::new();
            for n in names {
                // Lookup errors: "continuing anyway".
                if let Ok(v) = self.lookup_objects(n.as_bytes(), scratch) {
                    out.extend(v);
                }
            }
            out
        };
        (look(&sd.pre), look(&sd.post))
    }

    fn probe_list(
        &self,
        pool: &mut Pool,
        top: usize,
        scratch: &mut Scratch,
    ) -> Vec<usize> {
        pool.visited.iter_mut().for_each(|v| *v = false);
        let mut list = Vec::new();
        self.get_probe_list(pool, top, &mut list, scratch);
        list
    }

    fn get_probe_list(
        &self,
        pool: &mut Pool,
        m: usize,
        list: &mut Vec<usize>,
        scratch: &mut Scratch,
    ) {
        if pool.visited[m] {
            return;
        }
        pool.visited[m] = true;
        let name = pool.objs[m].name.clone();
        let deps: Vec<usize> = self
            .dep_line(&name)
            .map(|(_, d)| d)
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                pool.get(&ModRef {
                    name: d,
                    alias: None,
                    preset_install: None,
                })
            })
            .collect();
        for d in deps {
            self.fill_softdep(pool, d, list, scratch);
        }
        self.fill_softdep(pool, m, list, scratch);
    }

    fn fill_softdep(
        &self,
        pool: &mut Pool,
        m: usize,
        list: &mut Vec<usize>,
        scratch: &mut Scratch,
    ) {
        let name = pool.objs[m].name.clone();
        let (pre, post) = self.softdeps(&name, scratch);
        for p in &pre {
            let i = pool.get(p);
            self.get_probe_list(pool, i, list, scratch);
        }
        list.push(m);
        pool.ignorecmd[m] = !pre.is_empty() || !post.is_empty();
        for p in &post {
            let i = pool.get(p);
            self.get_probe_list(pool, i, list, scratch);
        }
    }

    /// What probing `top` does, with libkmod's `--show-depends`
    /// semantics (dry run, `KMOD_PROBE_IGNORE_LOADED`).
    pub fn probe(
        &self,
        top: &ModRef,
        mode: BlacklistMode,
        scratch: &mut Scratch,
    ) -> Probe {
        let check = match mode {
            BlacklistMode::Always => true,
            BlacklistMode::AliasOnly => top.alias.is_some(),
        };
        if check && self.is_blacklisted(&top.name) {
            return Probe::Blacklisted;
        }
        let mut pool = Pool::default();
        let t = pool.get(top);
        let list = self.probe_list(&mut pool, t, scratch);
        let actions = list
            .into_iter()
            .map(|i| {
                let m = &pool.objs[i];
                let options = self.options(m);
                match self.install_command(m) {
                    Some(command) if !pool.ignorecmd[i] => Action::Install {
                        name: m.name.clone(),
                        command,
                        options,
                    },
                    _ => match self.dep_line(&m.name) {
                        Some((path, _)) => Action::Insmod {
                            name: m.name.clone(),
                            path,
                            options,
                        },
                        None if self.is_builtin(&m.name) => {
                            Action::Builtin { name: m.name.clone() }
                        }
                        None => Action::Missing { name: m.name.clone() },
                    },
                }
            })
            .collect();
        Probe::Actions(actions)
    }

    /// `modprobe --show-depends ALIAS` output for this kernel and
    /// policy. `Err` when the lookup fails or finds nothing, as
    /// modprobe's `Module ALIAS not found` (exit 1).
    pub fn show_depends(
        &self,
        alias: &[u8],
        out: &mut String,
    ) -> Result<(), ShowError> {
        let mut scratch = Scratch::default();
        let mods = self
            .lookup_objects(alias, &mut scratch)
            .map_err(ShowError::Lookup)?;
        if mods.is_empty() {
            return Err(ShowError::NotFound);
        }
        for m in &mods {
            if let Probe::Actions(actions) =
                self.probe(m, BlacklistMode::AliasOnly, &mut scratch)
            {
                for a in actions {
                    match a {
                        Action::Insmod { path, options, .. } => {
                            out.push_str(&format!("insmod {path} {options}\n"))
                        }
                        Action::Install { command, options, .. } => out
                            .push_str(&format!(
                                "install {command} {options}\n"
                            )),
                        Action::Builtin { name } => {
                            out.push_str(&format!("builtin {name}\n"))
                        }
                        Action::Missing { .. } => {}
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why `show_depends` printed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowError {
    /// The lookup failed (-EINVAL).
    Lookup(LookupError),
    /// No module matched.
    NotFound,
}

impl crate::sim::replay::Kernel for PolicyKernel {
    type Scratch = Scratch;

    fn scratch(&self) -> Scratch {
        Scratch::default()
    }

    fn lookup(&self, alias: &[u8], scratch: &mut Scratch) -> Result<(), i32> {
        self.resolver.lookup(alias, scratch).map_err(|e| e.errno())
    }

    fn results<'s>(&self, scratch: &'s Scratch) -> Vec<&'s str> {
        scratch
            .modules()
            .map(|m| std::str::from_utf8(m).unwrap_or("?"))
            .collect()
    }

    fn facts(&self, name: &str) -> crate::sim::replay::ModuleFacts {
        use crate::sim::engine::StepKind;
        let top = ModRef {
            name: name.to_string(),
            alias: None,
            preset_install: None,
        };
        let mut scratch = Scratch::default();
        let (blacklisted, plan) =
            match self.probe(&top, BlacklistMode::Always, &mut scratch) {
                Probe::Blacklisted => (true, Vec::new()),
                Probe::Actions(a) => (
                    false,
                    a.into_iter()
                        .filter_map(|a| match a {
                            Action::Insmod { name, .. } => {
                                Some((name, StepKind::Insmod))
                            }
                            Action::Install { name, command, .. } => {
                                Some((name, StepKind::Install(command)))
                            }
                            Action::Builtin { name } => {
                                Some((name, StepKind::Builtin))
                            }
                            Action::Missing { .. } => None,
                        })
                        .collect(),
                ),
            };
        crate::sim::replay::ModuleFacts {
            size: self.size(name),
            builtin: self.is_builtin(name),
            deps: self.dep_line(name).map(|(_, d)| d).unwrap_or_default(),
            blacklisted,
            plan,
        }
    }
}
