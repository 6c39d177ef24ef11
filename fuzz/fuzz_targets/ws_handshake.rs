//! The websocket opening handshake: an HTTP request head from a client, as
//! the broker parses it (then how it would answer, and the path it would
//! serve or redirect to).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::protocol::websocket::handshake::{http_path, parse_request};

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(req)) = parse_request(data, 4096) {
        let _ = req.answer();
        let _ = http_path(req.target);
        let _ = req.path_part();
    }
});
