//! The mosquitto.db reader: a whole file's bytes, decoded as the broker
//! loads its persistence file at start-up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::broker::persist::decode;

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
});
