//! MQTT over WebSocket (RFC 6455), as `protocol websockets` listeners speak
//! it: the HTTP opening handshake and the framing, with no IO, so both are
//! tested with byte vectors. The broker's `websocket` module drives them
//! over a connection's socket.

mod digest;
pub mod frame;
pub mod handshake;

pub use digest::{base64, sha1};
pub use frame::{FrameDecoder, FrameError};
pub use handshake::{accept_key, parse_request, Answer, Request, Status};
