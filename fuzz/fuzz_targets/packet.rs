//! The MQTT packet decoder: the first byte picks the connection's protocol
//! (3.1, 3.1.1 or 5), the rest is a byte stream cut into packets by
//! `fixed_header` and decoded by `Packet::decode`, as the broker reads a
//! socket. Every packet that decodes is encoded again and must decode to
//! the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::protocol::{fixed_header, Packet, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let version = match selector % 3 {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    };
    // Each round consumes at least the two-byte header: bounded.
    while let Ok(Some(header)) = fixed_header(rest) {
        let Some(body) = rest.get(header.header_len..header.total_len()) else {
            return;
        };
        if let Ok(packet) = Packet::decode(&header, body, version) {
            let mut out = Vec::new();
            packet.encode(&mut out, version);
            if let Ok(Some(h2)) = fixed_header(&out) {
                if let Some(b2) = out.get(h2.header_len..h2.total_len()) {
                    let again = Packet::decode(&h2, b2, version);
                    assert_eq!(again.as_ref(), Ok(&packet), "round trip");
                }
            }
        }
        rest = &rest[header.total_len()..];
    }
});
