//! Kernel module metadata: a modules directory
//! (`/lib/modules/$(uname -r)`) and the files depmod leaves there.
//!
//! [`KernelDir::open`] maps and parses the five binary indexes libkmod
//! uses for lookups (see [`index`] for the format); the text files are
//! read on demand ([`text`]). A missing file is `None`, as libkmod
//! treats a missing index (-ENOSYS: go on with the next source); a
//! truncated or corrupt one is an [`IndexError`].
//!
//! ```no_run
//! use coldplug::modindex::KernelDir;
//! let k = KernelDir::open("traces/kernels/debian-6.1.0-50-s390x".as_ref())?;
//! let dep = k.dep.as_ref().unwrap();
//! assert!(dep.search(b"dasd_eckd_mod").is_some());
//! # Ok::<(), coldplug::modindex::IndexError>(())
//! ```

pub mod error;
pub mod index;
pub mod normalize;
pub mod text;
mod wire;
pub mod write;

use std::fs::File;
use std::path::{Path, PathBuf};

pub use error::{ErrorKind, IndexError};
pub use index::{Entries, Entry, Index, Value, WildPos};
pub use normalize::{
    alias_normalize, alias_normalize_cow, alias_normalize_shape,
    alias_normalize_wild, modname_normalize, InvalidAlias, KeyShape,
};
pub use write::IndexWriter;

/// Bytes of a file, memory-mapped when it has any.
pub enum Bytes {
    /// A mapped file.
    Mapped(memmap2::Mmap),
    /// Bytes in memory (empty files, tests, generated indexes).
    Owned(Vec<u8>),
}

impl Bytes {
    /// Map `path` (or read it when it is empty or not a regular file).
    pub fn open(path: &Path) -> std::io::Result<Bytes> {
        let f = File::open(path)?;
        let meta = f.metadata()?;
        if meta.len() == 0 || !meta.is_file() {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut &f, &mut v)?;
            return Ok(Bytes::Owned(v));
        }
        // SAFETY: the map is read-only; a file truncated by another
        // process while mapped can raise SIGBUS, the accepted risk of
        // every mmap reader (libkmod maps the same files the same way).
        let map = unsafe { memmap2::Mmap::map(&f)? };
        Ok(Bytes::Mapped(map))
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }
}

/// The index files libkmod maps in `kmod_load_resources`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFile {
    /// `modules.dep.bin`: module name to `path: deps`.
    Dep,
    /// `modules.alias.bin`: normalized alias pattern to module.
    Alias,
    /// `modules.symbols.bin`: `symbol:NAME` to module.
    Symbols,
    /// `modules.builtin.alias.bin`: alias of a built-in module.
    BuiltinAlias,
    /// `modules.builtin.bin`: built-in module names.
    Builtin,
}

impl IndexFile {
    /// The file name in the modules directory.
    pub fn file_name(self) -> &'static str {
        match self {
            IndexFile::Dep => "modules.dep.bin",
            IndexFile::Alias => "modules.alias.bin",
            IndexFile::Symbols => "modules.symbols.bin",
            IndexFile::BuiltinAlias => "modules.builtin.alias.bin",
            IndexFile::Builtin => "modules.builtin.bin",
        }
    }
}

/// A kernel's modules directory with its binary indexes loaded.
#[derive(Debug)]
pub struct KernelDir {
    path: PathBuf,
    /// `modules.dep.bin`.
    pub dep: Option<Index>,
    /// `modules.alias.bin`.
    pub alias: Option<Index>,
    /// `modules.symbols.bin`.
    pub symbols: Option<Index>,
    /// `modules.builtin.alias.bin`.
    pub builtin_alias: Option<Index>,
    /// `modules.builtin.bin`.
    pub builtin: Option<Index>,
}

/// `/lib/modules/$(uname -r)`, libkmod's default directory.
pub fn default_dir() -> std::io::Result<PathBuf> {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease")?;
    Ok(Path::new("/lib/modules").join(rel.trim()))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, IndexError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IndexError::io(path, e)),
    }
}

impl KernelDir {
    /// Load the binary indexes of the modules directory `dir`.
    pub fn open(dir: &Path) -> Result<KernelDir, IndexError> {
        let meta =
            std::fs::metadata(dir).map_err(|e| IndexError::io(dir, e))?;
        if !meta.is_dir() {
            return Err(IndexError::io(
                dir,
                std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "not a directory",
                ),
            ));
        }
        let load = |f: IndexFile| -> Result<Option<Index>, IndexError> {
            let p = dir.join(f.file_name());
            match Bytes::open(&p) {
                Ok(b) => Index::parse(b).map(Some).map_err(|e| e.in_file(&p)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(IndexError::io(&p, e)),
            }
        };
        Ok(KernelDir {
            path: dir.to_owned(),
            dep: load(IndexFile::Dep)?,
            alias: load(IndexFile::Alias)?,
            symbols: load(IndexFile::Symbols)?,
            builtin_alias: load(IndexFile::BuiltinAlias)?,
            builtin: load(IndexFile::Builtin)?,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One of the indexes, if the file exists.
    pub fn index(&self, f: IndexFile) -> Option<&Index> {
        match f {
            IndexFile::Dep => self.dep.as_ref(),
            IndexFile::Alias => self.alias.as_ref(),
            IndexFile::Symbols => self.symbols.as_ref(),
            IndexFile::BuiltinAlias => self.builtin_alias.as_ref(),
            IndexFile::Builtin => self.builtin.as_ref(),
        }
    }

    fn text<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&[u8]) -> Result<T, IndexError>,
    ) -> Result<Option<T>, IndexError> {
        let p = self.path.join(name);
        match read_optional(&p)? {
            Some(b) => parse(&b).map(Some).map_err(|e| e.in_file(&p)),
            None => Ok(None),
        }
    }

    /// `modules.dep`.
    pub fn dep_text(&self) -> Result<Option<Vec<text::DepLine>>, IndexError> {
        self.text("modules.dep", text::parse_dep)
    }

    /// `modules.softdep`.
    pub fn softdeps(&self) -> Result<Option<Vec<text::Softdep>>, IndexError> {
        self.text("modules.softdep", text::parse_softdep)
    }

    /// `modules.order`: module paths in load order.
    pub fn order(&self) -> Result<Option<Vec<String>>, IndexError> {
        self.text("modules.order", |b| Ok(text::parse_paths(b)))
    }

    /// `modules.builtin`: paths of built-in modules.
    pub fn builtin_text(&self) -> Result<Option<Vec<String>>, IndexError> {
        self.text("modules.builtin", |b| Ok(text::parse_paths(b)))
    }

    /// `modules.builtin.modinfo`.
    pub fn builtin_modinfo(
        &self,
    ) -> Result<Option<Vec<text::Modinfo>>, IndexError> {
        self.text("modules.builtin.modinfo", text::parse_builtin_modinfo)
    }

    /// `modules.alias` text (raw patterns; lookups use the `.bin`).
    pub fn alias_text(
        &self,
    ) -> Result<Option<Vec<(String, String)>>, IndexError> {
        self.text("modules.alias", text::parse_alias)
    }

    /// `modules.size`: module name and uncompressed size.
    pub fn sizes(&self) -> Result<Option<Vec<(String, u64)>>, IndexError> {
        self.text("modules.size", text::parse_size)
    }
}
