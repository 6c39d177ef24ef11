//! A hand-written RFC 6455 websocket client (handshake, masked frames) that
//! shares no code with the broker's.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::processes::{addr, TIMEOUT};

// ---------------------------------------------------------------------------
// A hand-written websocket client (RFC 6455).
// ---------------------------------------------------------------------------

/// The example key of RFC 6455 §1.3 and the answer it must get.
pub const WS_SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const WS_SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// An opening handshake request asking for subprotocol "mqtt", with
/// `extra` header lines (each ending in CRLF).
pub fn ws_request(extra: &str) -> String {
    format!(
        "GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {WS_SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: mqtt\r\n{extra}\r\n"
    )
}

/// One masked client frame: FIN as given, `opcode`, `payload` (RFC 6455
/// §5.2; the mask varies with `mask_seed` so the XOR is exercised).
pub fn ws_frame(fin: bool, opcode: u8, payload: &[u8], mask_seed: u32) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xffff {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = mask_seed
        .wrapping_mul(2_654_435_761)
        .wrapping_add(0x9e37)
        .to_be_bytes();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// One frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Cuts one whole server frame off the front of `raw`. Server frames must
/// be unmasked with no reserved bits.
pub fn ws_parse_frame(raw: &mut Vec<u8>) -> Option<WsFrame> {
    let b0 = *raw.first()?;
    let b1 = *raw.get(1)?;
    assert_eq!(b0 & 0x70, 0, "server frame with reserved bits: {raw:02x?}");
    assert_eq!(b1 & 0x80, 0, "masked server frame: {raw:02x?}");
    let (len, at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes([*raw.get(2)?, *raw.get(3)?]) as usize, 4),
        127 => {
            let b: [u8; 8] = raw.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let payload = raw.get(at..at + len)?.to_vec();
    raw.drain(..at + len);
    Some(WsFrame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        payload,
    })
}

/// A websocket client stream: each write is one masked binary frame, reads
/// give the payload of the server's binary (and continuation) frames and
/// end (EOF) at its close frame. State survives read timeouts.
pub struct WsStream {
    pub tcp: TcpStream,
    /// Received, not yet decoded.
    pub raw: Vec<u8>,
    data: Vec<u8>,
    /// Control frames the server sent (pongs, its close frame), in order.
    pub control: Vec<WsFrame>,
    pub closed: bool,
    seed: u32,
}

impl WsStream {
    /// Connects and completes the opening handshake; panics unless the
    /// answer is 101 with the right accept key.
    pub fn connect(port: u16) -> WsStream {
        let tcp = TcpStream::connect_timeout(&addr(port), TIMEOUT)
            .unwrap_or_else(|e| panic!("ws: connect to 127.0.0.1:{port}: {e}"));
        tcp.set_nodelay(true).ok();
        let mut ws = WsStream::over(tcp);
        ws.tcp
            .write_all(ws_request("").as_bytes())
            .expect("ws: send request");
        let head = ws
            .read_http_head(TIMEOUT)
            .expect("ws: no answer to the handshake");
        let lower = head.to_ascii_lowercase();
        assert!(
            head.starts_with("HTTP/1.1 101 "),
            "ws: handshake refused: {head}"
        );
        assert!(
            lower.contains(&format!(
                "sec-websocket-accept: {}\r\n",
                WS_SAMPLE_ACCEPT.to_ascii_lowercase()
            )),
            "ws: wrong accept key: {head}"
        );
        assert!(lower.contains("sec-websocket-protocol: mqtt\r\n"), "{head}");
        ws
    }

    /// A stream over a connected socket, nothing sent yet.
    pub fn over(tcp: TcpStream) -> WsStream {
        WsStream {
            tcp,
            raw: Vec::new(),
            data: Vec::new(),
            control: Vec::new(),
            closed: false,
            seed: 1,
        }
    }

    /// Reads an HTTP answer's head (through the blank line); what follows
    /// stays in `raw`. None on timeout or EOF before a whole head.
    pub fn read_http_head(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.raw.drain(..end + 4).collect();
                return Some(String::from_utf8_lossy(&head).into_owned());
            }
            if !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Reads more bytes into `raw`; false on timeout, EOF or error.
    fn fill(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        self.tcp
            .set_read_timeout(Some((deadline - now).max(Duration::from_millis(1))))
            .ok();
        let mut chunk = [0u8; 65536];
        match self.tcp.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    /// Everything the server sends until it closes the socket (bounded).
    pub fn read_to_end(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        loop {
            let now = Instant::now();
            assert!(
                now < deadline,
                "server did not close within {timeout:?}: {:02x?}",
                self.raw
            );
            self.tcp.set_read_timeout(Some(deadline - now)).ok();
            match self.tcp.read(&mut chunk) {
                Ok(0) => return std::mem::take(&mut self.raw),
                Ok(n) => self.raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return std::mem::take(&mut self.raw)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => panic!("server did not close within {timeout:?}: {e}"),
            }
        }
    }

    /// Sends one frame as given.
    pub fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.seed = self.seed.wrapping_add(1);
        let f = ws_frame(fin, opcode, payload, self.seed);
        self.tcp.write_all(&f).expect("ws: write frame");
    }

    /// The next control frame from the server (reading past data, which is
    /// kept for `read`); None on timeout or EOF.
    pub fn next_control(&mut self, timeout: Duration) -> Option<WsFrame> {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.control.is_empty() {
                return Some(self.control.remove(0));
            }
            if self.closed || !self.decode_one() && !self.fill(deadline) {
                return None;
            }
        }
    }

    /// Decodes one frame from `raw` if whole; false if none is.
    fn decode_one(&mut self) -> bool {
        let Some(f) = ws_parse_frame(&mut self.raw) else {
            return false;
        };
        match f.opcode {
            0x0 | 0x2 => self.data.extend_from_slice(&f.payload),
            0x8 => {
                self.closed = true;
                self.control.push(f);
            }
            0x9 | 0xA => self.control.push(f),
            op => panic!("server sent a frame with opcode {op}"),
        }
        true
    }
}

impl Read for WsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if !self.data.is_empty() {
                let n = buf.len().min(self.data.len());
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data.drain(..n);
                return Ok(n);
            }
            if self.closed {
                return Ok(0);
            }
            if self.decode_one() {
                continue;
            }
            let mut chunk = [0u8; 65536];
            let n = self.tcp.read(&mut chunk)?;
            if n == 0 {
                return Ok(0);
            }
            self.raw.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Write for WsStream {
    /// One binary frame per call.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.seed = self.seed.wrapping_add(1);
        let f = ws_frame(true, 0x2, buf, self.seed);
        self.tcp.write_all(&f)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}
