//! The library's binary interface against Debian's libmosquitto.so.1.

mod common;
use common::*;
use std::process::Command;

/// Every symbol Debian's libmosquitto exports, with its version node, is
/// exported by ours; nothing else is.
#[test]
fn exports_every_debian_symbol_with_its_version() {
    // Debian's linker also lists each version node as an absolute symbol
    // ("MOSQ_1.0 MOSQ_1.0"); ours has the nodes as version definitions
    // (checked below) without those symbols.
    let theirs: Vec<String> = versioned_symbols(std::path::Path::new(DEBIAN_LIB))
        .into_iter()
        .filter(|s| !s.ends_with(s.split(' ').next().unwrap_or("-")))
        .collect();
    assert!(
        theirs.len() > 100,
        "Debian's library lists {}",
        theirs.len()
    );
    let ours = versioned_symbols(&our_lib());
    let missing: Vec<_> = theirs.iter().filter(|s| !ours.contains(s)).collect();
    assert!(missing.is_empty(), "missing: {missing:?}");
    let extra: Vec<_> = ours.iter().filter(|s| !theirs.contains(s)).collect();
    assert!(extra.is_empty(), "extra: {extra:?}");
    let defs = Command::new("readelf")
        .arg("-V")
        .arg(our_lib())
        .output()
        .expect("readelf");
    let defs = String::from_utf8_lossy(&defs.stdout);
    for v in 0..=7 {
        assert!(defs.contains(&format!("Name: MOSQ_1.{v}")), "{defs}");
    }
    // And nm agrees that they are defined.
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(our_lib())
        .output()
        .expect("nm");
    let nm = String::from_utf8_lossy(&nm.stdout);
    assert!(nm.contains("mosquitto_connect@@MOSQ_1.0"), "{nm}");
    assert!(nm.contains("mosquitto_property_next@@MOSQ_1.7"), "{nm}");
}

#[test]
fn soname_is_libmosquitto_so_1() {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(our_lib())
        .output()
        .expect("readelf");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Library soname: [libmosquitto.so.1]"),
        "{text}"
    );
}

/// Debian's tools load ours when LD_LIBRARY_PATH points at it.
#[test]
fn debian_tools_load_our_library() {
    let dir = lib_dir();
    for tool in ["mosquitto_pub", "mosquitto_sub", "mosquitto_rr"] {
        let out = Command::new("ldd")
            .arg(format!("/usr/bin/{tool}"))
            .env("LD_LIBRARY_PATH", dir.path())
            .output()
            .expect("ldd");
        let text = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "libmosquitto.so.1 => {}",
            dir.path().join("libmosquitto.so.1").display()
        );
        assert!(text.contains(&want), "{tool}: {text}");
    }
}

/// Our mosquitto.h declares every function Debian's library exports.
#[test]
fn header_declares_every_exported_function() {
    let header = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/mosquitto.h"),
    )
    .expect("header");
    for sym in versioned_symbols(std::path::Path::new(DEBIAN_LIB)) {
        let name = sym.split(' ').nth(1).unwrap_or("");
        if name.starts_with("mosquitto_") {
            let decl = format!(" {name}(");
            let ptr_decl = format!("*{name}(");
            assert!(
                header.contains(&decl) || header.contains(&ptr_decl),
                "{name} not declared"
            );
        }
    }
}
