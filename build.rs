//! Links Debian's libkmod when the `kmod-ffi` feature asks for the live
//! oracle; without the feature nothing is linked.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    sse2_cfg();
    #[cfg(feature = "kmod-ffi")]
    {
        if let Err(e) =
            pkg_config::Config::new().atleast_version("25").probe("libkmod")
        {
            panic!(
                "feature kmod-ffi needs libkmod (apt-get install libkmod-dev): {e}"
            );
        }
    }
}

/// `cfg(coldplug_sse2)`: `src/swar.rs` takes its SSE2 paths, on x86_64
/// (SSE2 is in its baseline) unless `--cfg coldplug_portable` asks for
/// the portable ones. One name for the condition every SIMD helper
/// there is compiled under, and its fallback under `not`.
fn sse2_cfg() {
    println!("cargo:rustc-check-cfg=cfg(coldplug_sse2)");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let sse2 = var("CARGO_CFG_TARGET_FEATURE").split(',').any(|f| f == "sse2");
    let portable = std::env::var_os("CARGO_CFG_COLDPLUG_PORTABLE").is_some();
    if var("CARGO_CFG_TARGET_ARCH") == "x86_64" && sse2 && !portable {
        println!("cargo:rustc-cfg=coldplug_sse2");
    }
}
