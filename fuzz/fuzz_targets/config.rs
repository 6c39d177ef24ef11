//! mosquitto.conf text, parsed and checked as `mosquitto -c` would
//! (`Config::parse_str`; `include_dir` may read `*.conf` files, nothing is
//! written).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::config::Config;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Config::parse_str(&text, "fuzz.conf");
});
