//! Gives the shared library an SONAME on ELF targets, so programs linked
//! against it record `libnexus_store.so` (not the build path) as their
//! dependency.

fn main() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(
        os.as_str(),
        "linux" | "android" | "freebsd" | "netbsd" | "openbsd"
    ) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnexus_store.so");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
