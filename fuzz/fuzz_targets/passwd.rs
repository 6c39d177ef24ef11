//! The password file (`password_file`), and the hash and base64 parsers
//! its entries go through. No password is checked: that would run the
//! file's PBKDF2 iteration count, which is the administrator's to choose.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::passwd::{base64_decode, PasswordFile, PasswordHash};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(file) = PasswordFile::parse("fuzz_pwfile", &text) {
        let _ = file.contains("user");
        let _ = file.check("user", None);
    }
    let _ = PasswordHash::parse(&text);
    let _ = base64_decode(&text);
});
