//! The websocket frame decoder across reads: the first byte sets the read
//! size, the rest is the client's byte stream, fed in reads of that size
//! as the broker does, until the decoder reports the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mosquitto_rs::protocol::websocket::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = FrameDecoder::default();
    let mut replies = Vec::new();
    for piece in stream.chunks(chunk) {
        let mut buf = piece.to_vec();
        let decoded = decoder.decode(&mut buf, &mut replies);
        assert!(decoded.data <= buf.len());
        if decoded.end.is_some() {
            break;
        }
    }
});
