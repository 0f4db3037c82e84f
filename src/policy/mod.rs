//! modprobe.d policy and the kernel command line, as libkmod 30 reads
//! them, and (with the module index) the plans udev and modprobe build.

pub mod cmdline;
pub mod config;
pub mod kernel;
pub mod overlay;

use std::path::{Path, PathBuf};

pub use cmdline::Cmdline;
pub use config::{Config, Softdep, Warning};

/// The merged policy: modprobe.d files, then the kernel command line
/// (libkmod parses the command line last, so its blacklist and options
/// come after every file's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Everything, in libkmod's order.
    pub config: Config,
}

impl Policy {
    /// Load from the modules dir (for `modules.softdep`), config paths
    /// (files or directories; [`config::DEFAULT_PATHS`] when empty) and
    /// a command line (none when `None`; libkmod would read
    /// `/proc/cmdline`, which would leak the host's into a simulation).
    pub fn load(
        moddir: Option<&Path>,
        paths: &[PathBuf],
        cmdline: Option<&str>,
    ) -> Policy {
        let defaults: Vec<PathBuf>;
        let paths = if paths.is_empty() {
            defaults =
                config::DEFAULT_PATHS.iter().map(PathBuf::from).collect();
            &defaults
        } else {
            paths
        };
        let mut config = Config::load(moddir, paths);
        if let Some(line) = cmdline {
            config.merge_cmdline(&Cmdline::parse(line));
        }
        Policy { config }
    }
}

impl Config {
    /// Append what a command line adds, as libkmod does after the files.
    pub fn merge_cmdline(&mut self, c: &Cmdline) {
        self.blacklist.extend(c.blacklist.iter().cloned());
        self.options.extend(c.options.iter().cloned());
        for w in &c.warnings {
            self.warnings.push(Warning {
                file: "kernel command line".into(),
                line: None,
                message: w.clone(),
            });
        }
    }
}
