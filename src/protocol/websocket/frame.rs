//! Websocket framing (RFC 6455 §5) for MQTT: the client's frames are
//! decoded in place, in whatever pieces the socket delivers them, and the
//! broker's output is sent as unmasked binary frames.
//!
//! MQTT over websockets (MQTT 3.1.1 §6, MQTT 5 §6) carries the MQTT byte
//! stream in binary frames with no relation between frame and packet
//! boundaries; anything but binary data frames is a protocol error.

use std::fmt;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close status codes (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
pub const CLOSE_INVALID_PAYLOAD: u16 = 1007;
pub const CLOSE_TOO_BIG: u16 = 1009;
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// Why a client's frames end its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Clients must mask every frame (RFC 6455 §5.1).
    Unmasked,
    /// RSV1-3 set without a negotiated extension.
    ReservedBits,
    UnknownOpcode(u8),
    /// MQTT travels in binary frames only.
    TextFrame,
    /// A control frame with more than 125 bytes or without FIN.
    BadControlFrame,
    /// A continuation frame with no message to continue, or a new message
    /// before the last one was finished.
    BadContinuation,
    /// A 64-bit length with its top bit set, or a length not in its
    /// shortest form.
    BadLength,
    /// A close frame with a 1-byte body or an invalid status code.
    BadClose,
    /// A close frame whose reason is not UTF-8.
    BadCloseReason,
}

impl FrameError {
    /// The status code of our close frame.
    pub fn close_code(self) -> u16 {
        match self {
            FrameError::TextFrame => CLOSE_UNSUPPORTED_DATA,
            FrameError::BadCloseReason => CLOSE_INVALID_PAYLOAD,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::Unmasked => f.write_str("unmasked frame from a client"),
            FrameError::ReservedBits => f.write_str("reserved bits set"),
            FrameError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            FrameError::TextFrame => f.write_str("text frame (MQTT needs binary frames)"),
            FrameError::BadControlFrame => f.write_str("fragmented or oversized control frame"),
            FrameError::BadContinuation => f.write_str("unexpected continuation frame"),
            FrameError::BadLength => f.write_str("invalid frame length"),
            FrameError::BadClose => f.write_str("invalid close frame"),
            FrameError::BadCloseReason => f.write_str("close reason is not UTF-8"),
        }
    }
}

/// How a run of input ended, besides the data it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client sent a close frame; its echo is in the replies. Nothing
    /// after it is read.
    Closed,
    /// The client broke the protocol; our close frame is in the replies.
    Failed(FrameError),
}

/// What [`FrameDecoder::decode`] made of a run of input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Payload bytes now at the front of the buffer: MQTT bytes.
    pub data: usize,
    pub end: Option<End>,
}

/// Longest header of a client frame: 2 + 8 length bytes + 4 mask bytes.
const MAX_HEADER: usize = 14;
/// Largest control frame payload.
const MAX_CONTROL: usize = 125;

/// Decodes a client's frames across reads. Its state is the partial header,
/// the frame being read and a control frame's payload (echoed in a pong or
/// close), so it holds no buffer of data.
pub struct FrameDecoder {
    header: [u8; MAX_HEADER],
    header_len: u8,
    /// Inside a frame's payload (else reading a header).
    in_payload: bool,
    opcode: u8,
    remaining: u64,
    mask: [u8; 4],
    /// Payload bytes of this frame seen so far, modulo 4 (mask position).
    mask_pos: usize,
    /// A binary message is open: its next frame is a continuation.
    in_message: bool,
    /// This frame ends its message.
    fin: bool,
    control: [u8; MAX_CONTROL],
    control_len: u8,
    ended: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder {
            header: [0; MAX_HEADER],
            header_len: 0,
            in_payload: false,
            opcode: 0,
            remaining: 0,
            mask: [0; 4],
            mask_pos: 0,
            in_message: false,
            fin: false,
            control: [0; MAX_CONTROL],
            control_len: 0,
            ended: false,
        }
    }
}

/// How many header bytes a frame needs, known from its first two.
fn header_needed(b1: u8) -> usize {
    let ext = match b1 & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 }
}

impl FrameDecoder {
    /// Decodes `buf` in place: the payload of binary frames is unmasked and
    /// moved to the front (`data` bytes), ping and close frames append their
    /// answer to `replies`. Stops at a close frame or an error; everything
    /// before it is still delivered.
    pub fn decode(&mut self, buf: &mut [u8], replies: &mut Vec<u8>) -> Decoded {
        let mut read = 0;
        let mut data = 0;
        while read < buf.len() && !self.ended {
            let result = if self.in_payload {
                self.payload(buf, &mut read, &mut data, replies)
            } else {
                self.header_byte(buf, &mut read, replies)
            };
            if let Err(end) = result {
                self.ended = true;
                if let End::Failed(e) = end {
                    push_close(replies, e.close_code(), b"");
                }
                return Decoded {
                    data,
                    end: Some(end),
                };
            }
        }
        Decoded { data, end: None }
    }

    /// Takes one header byte; parses the header once it is whole.
    fn header_byte(
        &mut self,
        buf: &[u8],
        read: &mut usize,
        replies: &mut Vec<u8>,
    ) -> Result<(), End> {
        let Some(&b) = buf.get(*read) else {
            return Ok(());
        };
        *read += 1;
        if let Some(slot) = self.header.get_mut(usize::from(self.header_len)) {
            *slot = b;
        }
        self.header_len += 1;
        let got = usize::from(self.header_len);
        if got == 2 {
            // Fail early: nothing later can make these right.
            let [b0, b1, ..] = self.header;
            if b0 & 0x70 != 0 {
                return Err(End::Failed(FrameError::ReservedBits));
            }
            if b1 & 0x80 == 0 {
                return Err(End::Failed(FrameError::Unmasked));
            }
        }
        if got < 2 || got < header_needed(self.header[1]) {
            return Ok(());
        }
        self.header_len = 0;
        self.start_frame(replies)
    }

    fn start_frame(&mut self, replies: &mut Vec<u8>) -> Result<(), End> {
        let h = self.header;
        let fin = h[0] & 0x80 != 0;
        let opcode = h[0] & 0x0f;
        let (len, mask_at) = match h[1] & 0x7f {
            126 => {
                let len = u64::from(u16::from_be_bytes([h[2], h[3]]));
                if len < 126 {
                    return Err(End::Failed(FrameError::BadLength));
                }
                (len, 4)
            }
            127 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h[2..10]);
                let len = u64::from_be_bytes(b);
                if len >> 63 != 0 || len <= 0xffff {
                    return Err(End::Failed(FrameError::BadLength));
                }
                (len, 10)
            }
            n => (u64::from(n), 2),
        };
        self.mask.copy_from_slice(&h[mask_at..mask_at + 4]);
        match opcode {
            OP_BINARY if self.in_message => return Err(End::Failed(FrameError::BadContinuation)),
            OP_CONTINUATION if !self.in_message => {
                return Err(End::Failed(FrameError::BadContinuation))
            }
            OP_BINARY | OP_CONTINUATION => self.in_message = !fin,
            OP_TEXT => return Err(End::Failed(FrameError::TextFrame)),
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin || len > MAX_CONTROL as u64 {
                    return Err(End::Failed(FrameError::BadControlFrame));
                }
            }
            op => return Err(End::Failed(FrameError::UnknownOpcode(op))),
        }
        self.opcode = opcode;
        self.fin = fin;
        self.remaining = len;
        self.mask_pos = 0;
        self.control_len = 0;
        self.in_payload = true;
        if len == 0 {
            self.in_payload = false;
            return self.end_frame(replies);
        }
        Ok(())
    }

    /// Takes as much of the current frame's payload as `buf` holds.
    fn payload(
        &mut self,
        buf: &mut [u8],
        read: &mut usize,
        data: &mut usize,
        replies: &mut Vec<u8>,
    ) -> Result<(), End> {
        let avail = buf.len() - *read;
        let take = usize::try_from(self.remaining).map_or(avail, |r| r.min(avail));
        let Some(chunk) = buf.get_mut(*read..*read + take) else {
            return Ok(());
        };
        for (i, b) in chunk.iter_mut().enumerate() {
            *b ^= self.mask[(self.mask_pos + i) & 3];
        }
        self.mask_pos = (self.mask_pos + take) & 3;
        if matches!(self.opcode, OP_BINARY | OP_CONTINUATION) {
            // Payload never runs ahead of the input, so the move is safe.
            buf.copy_within(*read..*read + take, *data);
            *data += take;
        } else {
            let at = usize::from(self.control_len);
            if let Some(dst) = self.control.get_mut(at..at + take) {
                dst.copy_from_slice(chunk);
            }
            self.control_len += take as u8;
        }
        *read += take;
        self.remaining -= take as u64;
        if self.remaining == 0 {
            self.in_payload = false;
            return self.end_frame(replies);
        }
        Ok(())
    }

    /// A whole frame has been read: answer control frames.
    fn end_frame(&mut self, replies: &mut Vec<u8>) -> Result<(), End> {
        let body = self
            .control
            .get(..usize::from(self.control_len))
            .unwrap_or(&[]);
        match self.opcode {
            OP_PING => push_frame(replies, OP_PONG, body),
            OP_CLOSE => {
                check_close(body)?;
                // Echo the status code (RFC 6455 §5.5.1), not the reason.
                push_frame(replies, OP_CLOSE, body.get(..2).unwrap_or(&[]));
                return Err(End::Closed);
            }
            _ => {}
        }
        Ok(())
    }
}

/// A client's close frame: empty, or a valid status code and a UTF-8
/// reason.
fn check_close(body: &[u8]) -> Result<(), End> {
    let Some((code, reason)) = body.split_first_chunk::<2>() else {
        return if body.is_empty() {
            Ok(())
        } else {
            Err(End::Failed(FrameError::BadClose))
        };
    };
    let code = u16::from_be_bytes(*code);
    let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
    if !valid {
        return Err(End::Failed(FrameError::BadClose));
    }
    if std::str::from_utf8(reason).is_err() {
        return Err(End::Failed(FrameError::BadCloseReason));
    }
    Ok(())
}

/// Writes the header of an unmasked, final frame of `len` bytes into
/// `out`; returns its length (2, 4 or 10).
pub fn frame_header(opcode: u8, len: usize, out: &mut [u8; 10]) -> usize {
    out[0] = 0x80 | (opcode & 0x0f);
    if len < 126 {
        out[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        out[1] = 126;
        out[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// Appends a whole unmasked frame.
pub fn push_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let mut h = [0u8; 10];
    let n = frame_header(opcode, payload.len(), &mut h);
    out.extend_from_slice(h.get(..n).unwrap_or(&[]));
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason` (at most 123 bytes).
pub fn push_close(out: &mut Vec<u8>, code: u16, reason: &[u8]) {
    let mut body = [0u8; MAX_CONTROL];
    let reason = reason
        .get(..reason.len().min(MAX_CONTROL - 2))
        .unwrap_or(&[]);
    body[..2].copy_from_slice(&code.to_be_bytes());
    body[2..2 + reason.len()].copy_from_slice(reason);
    push_frame(out, OP_CLOSE, &body[..2 + reason.len()]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A masked client frame, as a browser sends it.
    fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = [0u8; 10];
        let n = frame_header(b0 & 0x0f, payload.len(), &mut h);
        let mut out = h[..n].to_vec();
        out[0] = b0;
        out[1] |= 0x80;
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
        out
    }

    fn decode_all(d: &mut FrameDecoder, input: &[u8]) -> (Vec<u8>, Vec<u8>, Option<End>) {
        let mut buf = input.to_vec();
        let mut replies = Vec::new();
        let r = d.decode(&mut buf, &mut replies);
        (buf[..r.data].to_vec(), replies, r.end)
    }

    #[test]
    fn rfc6455_masked_hello() {
        // RFC 6455 §5.7: a masked text "Hello" (as binary here).
        let mut frame = vec![
            0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let mut replies = Vec::new();
        let r = FrameDecoder::default().decode(&mut frame, &mut replies);
        assert_eq!(r, Decoded { data: 5, end: None });
        assert_eq!(&frame[..5], b"Hello");
        assert!(replies.is_empty());
    }

    #[test]
    fn lengths_7_16_and_64_bit() {
        for len in [0usize, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let frame = client_frame(0x82, &payload);
            let header = match len {
                0..=125 => 6,
                126..=65535 => 8,
                _ => 14,
            };
            assert_eq!(frame.len(), header + len);
            let (data, replies, end) = decode_all(&mut FrameDecoder::default(), &frame);
            assert_eq!(
                (data == payload, replies.len(), end),
                (true, 0, None),
                "{len}"
            );
        }
        // The 126 and 127 forms byte for byte.
        let f = client_frame(0x82, &[0; 200]);
        assert_eq!(&f[..8], &[0x82, 0xfe, 0x00, 0xc8, 0x37, 0xfa, 0x21, 0x3d]);
        let f = client_frame(0x82, &[0; 65536]);
        assert_eq!(&f[..10], &[0x82, 0xff, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_bytes() {
        let mut input = client_frame(0x02, b"\x10\x0e\x00\x04MQ");
        input.extend(client_frame(0x89, b"ping!"));
        input.extend(client_frame(0x80, b"TT\x04\x02\x00\x3c\x00\x02ab"));
        input.extend(client_frame(0x82, &[7; 300]));
        let mut want = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02ab".to_vec();
        want.extend([7; 300]);
        let mut pong = Vec::new();
        push_frame(&mut pong, OP_PONG, b"ping!");
        for a in 0..input.len() {
            for b in [
                a,
                (a + 1).min(input.len()),
                (a + 7).min(input.len()),
                input.len(),
            ] {
                let mut d = FrameDecoder::default();
                let mut got = Vec::new();
                let mut replies = Vec::new();
                for piece in [&input[..a], &input[a..b], &input[b..]] {
                    let mut buf = piece.to_vec();
                    let r = d.decode(&mut buf, &mut replies);
                    assert_eq!(r.end, None);
                    got.extend_from_slice(&buf[..r.data]);
                }
                assert_eq!(got, want, "split at {a}, {b}");
                assert_eq!(replies, pong);
            }
        }
    }

    #[test]
    fn ping_pong_and_close() {
        let mut d = FrameDecoder::default();
        let (_, replies, end) = decode_all(&mut d, &client_frame(0x89, b"hi"));
        assert_eq!((replies, end), (vec![0x8a, 0x02, b'h', b'i'], None));
        // An empty ping, and a pong (ignored).
        let mut input = client_frame(0x89, b"");
        input.extend(client_frame(0x8a, b"x"));
        let (_, replies, end) = decode_all(&mut d, &input);
        assert_eq!((replies, end), (vec![0x8a, 0x00], None));
        // Close: data before it is delivered, its code echoed, the rest ignored.
        let mut input = client_frame(0x82, b"ab");
        input.extend(client_frame(0x88, b"\x03\xe8bye"));
        input.extend(client_frame(0x82, b"cd"));
        let (data, replies, end) = decode_all(&mut d, &input);
        assert_eq!(data, b"ab");
        assert_eq!(replies, vec![0x88, 0x02, 0x03, 0xe8]);
        assert_eq!(end, Some(End::Closed));
        let (data, replies, end) = decode_all(&mut d, &client_frame(0x82, b"ef"));
        assert_eq!((data.len(), replies.len(), end), (0, 0, None));
        // An empty close is echoed empty.
        let (_, replies, end) = decode_all(&mut FrameDecoder::default(), &client_frame(0x88, b""));
        assert_eq!((replies, end), (vec![0x88, 0x00], Some(End::Closed)));
    }

    fn fails(input: &[u8], err: FrameError) {
        let mut d = FrameDecoder::default();
        let (_, replies, end) = decode_all(&mut d, input);
        assert_eq!(end, Some(End::Failed(err)), "{input:02x?}");
        let mut want = Vec::new();
        push_close(&mut want, err.close_code(), b"");
        assert_eq!(replies, want);
    }

    #[test]
    fn protocol_errors() {
        // Unmasked: caught at the second byte.
        fails(&[0x82, 0x02], FrameError::Unmasked);
        fails(&client_frame(0xc2, b"x"), FrameError::ReservedBits);
        fails(&client_frame(0xa2, b"x"), FrameError::ReservedBits);
        fails(&client_frame(0x81, b"x"), FrameError::TextFrame);
        fails(&client_frame(0x83, b"x"), FrameError::UnknownOpcode(3));
        fails(&client_frame(0x8b, b"x"), FrameError::UnknownOpcode(0xb));
        fails(&client_frame(0x80, b"x"), FrameError::BadContinuation);
        fails(&client_frame(0x09, b"x"), FrameError::BadControlFrame);
        fails(&client_frame(0x89, &[0; 126]), FrameError::BadControlFrame);
        let mut two_starts = client_frame(0x02, b"x");
        two_starts.extend(client_frame(0x82, b"y"));
        fails(&two_starts, FrameError::BadContinuation);
        // Over 2^63, and lengths not in their shortest form.
        fails(
            &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            FrameError::BadLength,
        );
        fails(&[0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4], FrameError::BadLength);
        fails(
            &[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4],
            FrameError::BadLength,
        );
        fails(&client_frame(0x88, b"\x03"), FrameError::BadClose);
        fails(&client_frame(0x88, b"\x03\xed"), FrameError::BadClose);
        fails(
            &client_frame(0x88, b"\x03\xe8\xff"),
            FrameError::BadCloseReason,
        );
        assert_eq!(FrameError::TextFrame.close_code(), 1003);
        assert_eq!(FrameError::Unmasked.close_code(), 1002);
    }

    #[test]
    fn data_before_an_error_is_kept_and_nothing_after() {
        let mut input = client_frame(0x82, b"good");
        input.extend([0x82, 0x01, b'x']);
        let mut d = FrameDecoder::default();
        let (data, _, end) = decode_all(&mut d, &input);
        assert_eq!(
            (data.as_slice(), end),
            (&b"good"[..], Some(End::Failed(FrameError::Unmasked)))
        );
        let (data, replies, end) = decode_all(&mut d, &client_frame(0x82, b"more"));
        assert_eq!((data.len(), replies.len(), end), (0, 0, None));
    }

    #[test]
    fn server_frames() {
        let mut out = Vec::new();
        push_frame(&mut out, OP_BINARY, b"\x20\x02\x00\x00");
        assert_eq!(out, [0x82, 0x04, 0x20, 0x02, 0x00, 0x00]);
        let mut h = [0u8; 10];
        assert_eq!(frame_header(OP_BINARY, 125, &mut h), 2);
        assert_eq!(h[..2], [0x82, 125]);
        assert_eq!(frame_header(OP_BINARY, 126, &mut h), 4);
        assert_eq!(h[..4], [0x82, 126, 0, 126]);
        assert_eq!(frame_header(OP_BINARY, 65535, &mut h), 4);
        assert_eq!(h[..4], [0x82, 126, 0xff, 0xff]);
        assert_eq!(frame_header(OP_BINARY, 70022, &mut h), 10);
        assert_eq!(h, [0x82, 127, 0, 0, 0, 0, 0, 0x01, 0x11, 0x86]);
        out.clear();
        push_close(&mut out, CLOSE_NORMAL, b"bye");
        assert_eq!(out, [0x88, 0x05, 0x03, 0xe8, b'b', b'y', b'e']);
    }

    /// Random bytes never panic the decoder and never make it claim more
    /// data than it was given: a deterministic xorshift walk, each input
    /// fed whole and split in two (frames arrive in any pieces). Bytes
    /// are biased towards valid masked headers so deep states are reached.
    #[test]
    fn random_input_never_panics() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let r = next();
            let len = (r % 48) as usize;
            let mut input: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(b1) = input.get_mut(1) {
                if r & 1 == 0 {
                    *b1 |= 0x80; // masked, as clients must
                }
            }
            if let Some(b0) = input.first_mut() {
                if r & 2 == 0 {
                    *b0 = 0x80 | [0x0, 0x2, 0x8, 0x9, 0xa][(r >> 8) as usize % 5];
                }
            }
            let split = if len == 0 {
                0
            } else {
                (r >> 16) as usize % len
            };
            let mut d = FrameDecoder::default();
            let mut replies = Vec::new();
            let (a, b) = input.split_at(split);
            for part in [a, b] {
                let mut buf = part.to_vec();
                let out = d.decode(&mut buf, &mut replies);
                assert!(out.data <= part.len());
            }
        }
    }
}
