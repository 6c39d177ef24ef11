//! Links the cdylib as libmosquitto 2.0 is linked: soname libmosquitto.so.1
//! and the MOSQ_1.0 … MOSQ_1.7 symbol versions of libmosquitto.map.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    println!("cargo:rerun-if-changed=libmosquitto.map");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libmosquitto.so.1");
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={dir}/libmosquitto.map");
}
