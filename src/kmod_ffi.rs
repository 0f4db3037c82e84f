//! Hand-written bindings to the system's libkmod (feature `kmod-ffi`):
//! the live oracle the tests and benchmarks compare against, and the
//! `libkmod` baseline. Only what a lookup needs is bound
//! (`libkmod/libkmod.h`, kmod v30).
//!
//! libkmod's context is not thread-safe; [`Kmod`] is `Send` but not
//! `Sync` and every call takes `&mut self`.

use std::ffi::{c_char, c_int, CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};

#[repr(C)]
struct KmodCtx {
    _p: [u8; 0],
}
#[repr(C)]
struct KmodList {
    _p: [u8; 0],
}
#[repr(C)]
struct KmodModule {
    _p: [u8; 0],
}

// Linked by build.rs (pkg-config libkmod) when the feature is on.
unsafe extern "C" {
    fn kmod_new(
        dirname: *const c_char,
        config_paths: *const *const c_char,
    ) -> *mut KmodCtx;
    fn kmod_unref(ctx: *mut KmodCtx) -> *mut KmodCtx;
    fn kmod_load_resources(ctx: *mut KmodCtx) -> c_int;
    fn kmod_set_log_priority(ctx: *mut KmodCtx, priority: c_int);
    fn kmod_module_new_from_lookup(
        ctx: *mut KmodCtx,
        alias: *const c_char,
        list: *mut *mut KmodList,
    ) -> c_int;
    fn kmod_list_next(
        list: *const KmodList,
        curr: *const KmodList,
    ) -> *mut KmodList;
    fn kmod_module_get_module(entry: *const KmodList) -> *mut KmodModule;
    fn kmod_module_get_name(module: *const KmodModule) -> *const c_char;
    fn kmod_module_unref(module: *mut KmodModule) -> *mut KmodModule;
    fn kmod_module_unref_list(list: *mut KmodList) -> c_int;
}

/// syslog's LOG_CRIT: quiet enough that missing files are not logged.
pub const LOG_CRIT: i32 = 2;

/// A libkmod context on one modules directory.
pub struct Kmod {
    ctx: NonNull<KmodCtx>,
}

// SAFETY: a kmod_ctx has no thread affinity; it must only not be used
// from two threads at once, which `&mut self` on every call ensures.
unsafe impl Send for Kmod {}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
}

impl Kmod {
    /// `kmod_new(moddir, [config_dir, NULL])`: with an empty
    /// `config_dir` no host modprobe.d is read.
    pub fn new(moddir: &Path, config_dir: &Path) -> io::Result<Kmod> {
        let dir = cpath(moddir)?;
        let conf = cpath(config_dir)?;
        let paths = [conf.as_ptr(), ptr::null()];
        // SAFETY: both strings outlive the call; libkmod copies them.
        let ctx = unsafe { kmod_new(dir.as_ptr(), paths.as_ptr()) };
        NonNull::new(ctx)
            .map(|ctx| Kmod { ctx })
            .ok_or_else(|| io::Error::other("kmod_new failed"))
    }

    /// `kmod_new(moddir, [NULL])`: no configuration at all (no host
    /// modprobe.d), quiet logging, indexes mapped: the baseline backend.
    pub fn open_quiet(moddir: &Path) -> io::Result<Kmod> {
        let dir = cpath(moddir)?;
        let paths = [ptr::null()];
        // SAFETY: the string outlives the call; libkmod copies it.
        let ctx = unsafe { kmod_new(dir.as_ptr(), paths.as_ptr()) };
        let mut k = NonNull::new(ctx)
            .map(|ctx| Kmod { ctx })
            .ok_or_else(|| io::Error::other("kmod_new failed"))?;
        k.set_log_priority(LOG_CRIT);
        k.load_resources().map_err(|e| {
            io::Error::other(format!("kmod_load_resources failed: {e}"))
        })?;
        Ok(k)
    }

    /// `kmod_set_log_priority`.
    pub fn set_log_priority(&mut self, priority: i32) {
        // SAFETY: ctx is a live context.
        unsafe { kmod_set_log_priority(self.ctx.as_ptr(), priority) }
    }

    /// `kmod_load_resources`: map the indexes, as udev and modprobe do.
    pub fn load_resources(&mut self) -> Result<(), i32> {
        // SAFETY: ctx is a live context.
        let rc = unsafe { kmod_load_resources(self.ctx.as_ptr()) };
        if rc < 0 {
            Err(rc)
        } else {
            Ok(())
        }
    }

    /// `kmod_module_new_from_lookup`: module names in libkmod's order,
    /// or the negative errno. The alias ends at its first NUL, as a C
    /// string does.
    pub fn lookup(&mut self, alias: &[u8]) -> Result<Vec<Vec<u8>>, i32> {
        let mut out = Vec::new();
        self.lookup_with(alias, |name| out.push(name.to_vec()))?;
        Ok(out)
    }

    /// Like [`Kmod::lookup`], handing each name to `f` without copying.
    pub fn lookup_with(
        &mut self,
        alias: &[u8],
        mut f: impl FnMut(&[u8]),
    ) -> Result<(), i32> {
        let alias = match memchr::memchr(0, alias) {
            Some(n) => &alias[..n],
            None => alias,
        };
        let alias = CString::new(alias).expect("no NUL left");
        let mut list: *mut KmodList = ptr::null_mut();
        // SAFETY: ctx is live, alias is a C string, list starts NULL as
        // libkmod requires; every module we take is unreffed and the list
        // is freed below.
        unsafe {
            let rc = kmod_module_new_from_lookup(
                self.ctx.as_ptr(),
                alias.as_ptr(),
                &mut list,
            );
            if rc < 0 {
                return Err(rc);
            }
            let mut it = list;
            while !it.is_null() {
                let m = kmod_module_get_module(it);
                if !m.is_null() {
                    let name = kmod_module_get_name(m);
                    if !name.is_null() {
                        f(CStr::from_ptr(name).to_bytes());
                    }
                    kmod_module_unref(m);
                }
                it = kmod_list_next(list, it);
            }
            kmod_module_unref_list(list);
        }
        Ok(())
    }
}

impl Drop for Kmod {
    fn drop(&mut self) {
        // SAFETY: we own one reference.
        unsafe {
            kmod_unref(self.ctx.as_ptr());
        }
    }
}

/// Make `dest` a modules directory libkmod can use quietly: links to
/// every `modules.*` file of `kernel_dir` and an empty file for each
/// module path in modules.dep (the fixtures carry no `.ko` files).
pub fn shadow_dir(kernel_dir: &Path, dest: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dest)?;
    for e in std::fs::read_dir(kernel_dir)? {
        let e = e?;
        let name = e.file_name();
        if name.as_bytes().starts_with(b"modules.") {
            let to = dest.join(&name);
            if !to.exists() {
                std::os::unix::fs::symlink(
                    std::fs::canonicalize(e.path())?,
                    to,
                )?;
            }
        }
    }
    let dep = match std::fs::read(kernel_dir.join("modules.dep")) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for line in dep.split(|&b| b == b'\n') {
        for path in
            line.split(|&b| b == b':' || b == b' ').filter(|p| !p.is_empty())
        {
            let rel = Path::new(std::ffi::OsStr::from_bytes(path));
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                continue;
            }
            let p = dest.join(rel);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            if !p.exists() {
                std::fs::File::create(&p)?;
            }
        }
    }
    Ok(())
}
