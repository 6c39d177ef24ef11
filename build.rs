//! Builds the C shim for the plugin API's one variadic function and makes
//! the `mosquitto` binary export the plugin API (and nothing else) to the
//! plugins it loads with dlopen.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let shim = "src/broker/plugin/log_shim.c";
    let list = "src/broker/plugin/exports.list";
    println!("cargo:rerun-if-changed={shim}");
    println!("cargo:rerun-if-changed={list}");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("log_shim.o");
    let lib = out.join("libmosq_log_shim.a");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let ok = Command::new(&cc)
        .args(["-c", "-O2", "-fPIC", shim, "-o"])
        .arg(&obj)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "compiling {shim} with {cc} failed");
    let _ = std::fs::remove_file(&lib);
    let ok = Command::new("ar")
        .arg("crs")
        .arg(&lib)
        .arg(&obj)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ar failed for {shim}");
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=mosq_log_shim");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bin=mosquitto=-Wl,--dynamic-list={dir}/{list}");
    // The shim is referenced by nothing in Rust: keep it.
    println!("cargo:rustc-link-arg-bin=mosquitto=-Wl,--undefined=mosquitto_log_printf");
    println!("cargo:rustc-link-arg-bin=mosquitto=-Wl,--undefined=mosquitto_log_vprintf");
}
