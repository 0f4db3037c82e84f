//! What-if kernel overlays: small TOML files applied on top of a
//! kernel's module index, to ask "what if this module had (or had not)
//! a device table?" without building a kernel.
//!
//! ```toml
//! description = "vfio_ap with the AP device table of the 2021 RFC"
//!
//! [[module]]                 # add a module (or replace one: see below)
//! name = "vfio_ap"
//! path = "kernel/drivers/s390/crypto/vfio_ap.ko"   # as in modules.dep
//! depends = ["mdev", "vfio", "kvm"]                # modules.dep order
//! aliases = ["ap:t0A*", "ap:t0B*"]                 # as file2alias writes
//! size = 100000                                    # bytes, modules.size
//! if_missing = false    # true: only add when the kernel lacks it
//!
//! [[drop_aliases]]           # remove aliases of a module
//! module = "zcrypt_cex4"
//! aliases = ["ap:t0A*"]      # omit to drop them all
//!
//! builtin = ["cio"]          # mark modules built in
//! remove = ["vfio_ccw"]      # remove modules (and their aliases)
//! ```
//!
//! Operations apply in the order: remove, builtin, drop_aliases,
//! module. An added module's aliases rank after every module of the
//! kernel (depmod gives modules missing from `modules.order` the last
//! priority), in the order listed.

use serde::Deserialize;

/// A module an overlay adds.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AddModule {
    /// Module name (normalised with `-` to `_` when applied).
    pub name: String,
    /// Path relative to the modules directory, as modules.dep has it.
    pub path: Option<String>,
    /// Hard dependencies, in modules.dep order (most dependent first).
    #[serde(default)]
    pub depends: Vec<String>,
    /// Aliases, as `modules.alias` has them (normalised when applied).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Uncompressed size in bytes.
    #[serde(default)]
    pub size: u64,
    /// Add only when the kernel does not already have the module.
    #[serde(default)]
    pub if_missing: bool,
}

/// Aliases an overlay removes from a module.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DropAliases {
    /// The module.
    pub module: String,
    /// The aliases; all of the module's when absent.
    pub aliases: Option<Vec<String>>,
}

/// One overlay file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// What the overlay models.
    pub description: Option<String>,
    /// Modules to add.
    #[serde(default, rename = "module")]
    pub modules: Vec<AddModule>,
    /// Aliases to drop.
    #[serde(default)]
    pub drop_aliases: Vec<DropAliases>,
    /// Modules to mark built in.
    #[serde(default)]
    pub builtin: Vec<String>,
    /// Modules to remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// An overlay that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OverlayError {
    /// The file could not be read.
    #[error("cannot read overlay {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is invalid.
    #[error("overlay {path}: {source}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        source: Box<toml::de::Error>,
    },
}

impl Overlay {
    /// Parse overlay text.
    pub fn parse(text: &str) -> Result<Overlay, toml::de::Error> {
        toml::from_str(text)
    }

    /// Read an overlay file.
    pub fn load(path: &std::path::Path) -> Result<Overlay, OverlayError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|source| OverlayError::Io { path: p.clone(), source })?;
        Overlay::parse(&text).map_err(|source| OverlayError::Syntax {
            path: p,
            source: Box::new(source),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_operations() {
        let o = Overlay::parse(
            r#"
description = "x"
builtin = ["cio"]
remove = ["vfio_ccw"]
[[module]]
name = "vfio-ap"
depends = ["kvm"]
aliases = ["ap:t0A*"]
size = 5
[[drop_aliases]]
module = "zcrypt_cex4"
"#,
        )
        .unwrap();
        assert_eq!(o.modules[0].name, "vfio-ap");
        assert_eq!(o.drop_aliases[0].aliases, None);
        assert!(Overlay::parse("[[module]]\nname='x'\nbogus=1").is_err());
    }
}
