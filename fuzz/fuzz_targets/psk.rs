//! The PSK file (`psk_file`): `identity:hexkey` lines, and the hex decoder
//! of its keys.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::passwd::{hex_to_key, PskFile};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = PskFile::parse("fuzz_pskfile", &text) {
        let _ = file.key("id");
    }
    let _ = hex_to_key(&text);
});
