//! Links Debian's libkmod when the `kmod-ffi` feature asks for the live
//! oracle; without the feature nothing is linked.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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
