//! Makes the `mosquitto` binary export mosquitto's plugin API (and nothing
//! else) to the plugins it loads with dlopen, and compiles the C shim for
//! the API's one variadic function, `mosquitto_log_printf`.
//!
//! Only for glibc Linux targets with a C compiler for the target: the
//! host's `cc` when not cross compiling, else `CC_<target>`/`TARGET_CC` or
//! a gcc given as the target's linker. Static musl builds (no dlopen, no C
//! cross compiler, rust-lld as linker) get no exports; loading a plugin
//! there fails at start-up with dlopen's error.

use std::path::PathBuf;
use std::process::Command;

fn env(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The C compiler for the target, if one is known.
fn target_cc(target: &str, host: &str) -> Option<String> {
    let t = target.replace('-', "_");
    if let Some(cc) = env(&format!("CC_{t}")).or_else(|| env(&format!("CC_{target}"))) {
        return Some(cc);
    }
    if target == host {
        return Some(env("CC").unwrap_or_else(|| "cc".into()));
    }
    if let Some(cc) = env("TARGET_CC") {
        return Some(cc);
    }
    // A gcc used as the target's linker compiles for it too.
    env(&format!("CARGO_TARGET_{}_LINKER", t.to_uppercase())).filter(|l| l.ends_with("gcc"))
}

fn main() {
    let shim = "src/broker/plugin/log_shim.c";
    let list = "src/broker/plugin/exports.list";
    println!("cargo:rerun-if-changed={shim}");
    println!("cargo:rerun-if-changed={list}");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let libc = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || libc != "gnu" {
        return;
    }
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let Some(cc) = target_cc(&target, &host) else {
        println!(
            "cargo:warning=no C compiler for {target}: the broker will not export the plugin API"
        );
        return;
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("log_shim.o");
    let ok = Command::new(&cc)
        .args(["-c", "-O2", "-fPIC", shim, "-o"])
        .arg(&obj)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        println!("cargo:warning=compiling {shim} with {cc} failed: the broker will not export the plugin API");
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    // The object goes to the broker's link only (the other binaries do not
    // load plugins); objects on the command line are always linked.
    println!("cargo:rustc-link-arg-bin=mosquitto={}", obj.display());
    println!("cargo:rustc-link-arg-bin=mosquitto=-Wl,--dynamic-list={dir}/{list}");
}
