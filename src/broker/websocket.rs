//! A connection on a `protocol websockets` listener: the opening handshake,
//! then MQTT bytes in binary frames, over a plain, unix or TLS stream. The
//! rest of the broker reads and writes it like any stream and sees only
//! MQTT bytes.
//!
//! What the websocket itself sends (the handshake answer, pongs, close
//! frames, an HTTP answer or file from `http_dir`) waits in `own` and goes
//! out between data frames, never inside one. Outgoing MQTT bytes are
//! framed at flush time, one frame per write: over TCP the frame header
//! and the connection's output buffer go in one `writev`, over TLS a frame
//! of at most one record is copied into `stage` (one record, one write).

use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use super::core::context::CloseReason;
use super::stream::Stream;
use crate::protocol::websocket::frame::{self, FrameDecoder, FrameError, OP_BINARY};
use crate::protocol::websocket::handshake::{self, Answer, Status};

/// A websockets listener's settings, shared by its connections.
#[derive(Debug)]
pub struct WsConfig {
    /// Longest request head accepted (`websockets_headers_size`).
    pub headers_size: usize,
    /// `http_dir`, resolved at start-up (symbolic links followed), so
    /// that resolved file paths can be checked to lie inside it.
    pub http_dir: Option<PathBuf>,
}

impl WsConfig {
    /// Resolves `http_dir`; mosquitto's error line when it cannot.
    pub fn new(headers_size: usize, http_dir: Option<&Path>) -> Result<WsConfig, String> {
        let http_dir = match http_dir {
            Some(d) => Some(
                std::fs::canonicalize(d)
                    .map_err(|_| format!("Error: Unable to open http dir \"{}\".", d.display()))?,
            ),
            None => None,
        };
        Ok(WsConfig {
            headers_size,
            http_dir,
        })
    }
}

/// A TLS frame's payload at most: one TLS record with its header.
const STAGE_PAYLOAD: usize = 16 * 1024 - 4;
/// How much of a file is read at a time.
const FILE_CHUNK: usize = 64 * 1024;
/// Socket reads in one `read` call that may give no MQTT bytes.
const READS_WITHOUT_DATA: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading the request head.
    Handshake,
    /// MQTT in binary frames.
    Open,
    /// An HTTP answer or a close frame is queued; the connection ends
    /// once it is written, and input is no longer looked at.
    Finishing,
}

pub struct WsConn {
    inner: Stream,
    config: Rc<WsConfig>,
    phase: Phase,
    /// The request head so far (freed once answered).
    head: Vec<u8>,
    decoder: FrameDecoder,
    /// The reads' end: a close frame (EOF) or the client's protocol error.
    read_end: Option<Result<(), FrameError>>,
    /// The websocket's own bytes, written before the next data frame.
    own: Vec<u8>,
    own_pos: usize,
    /// A file from http_dir, sent after `own` in chunks.
    file: Option<File>,
    tls: bool,
    /// TCP: the header of the data frame being written, and how many of
    /// its payload bytes (the front of the broker's buffer) are left.
    header: [u8; 10],
    header_len: u8,
    header_pos: u8,
    frame_left: usize,
    /// TLS: a whole data frame, copied.
    stage: Vec<u8>,
    stage_pos: usize,
}

fn would_block() -> io::Error {
    io::Error::from(io::ErrorKind::WouldBlock)
}

/// Writes `buf[*pos..]` until done (`Ok(true)`) or the socket is full
/// (`Ok(false)`).
fn write_out(inner: &mut Stream, buf: &[u8], pos: &mut usize) -> io::Result<bool> {
    while let Some(rest) = buf.get(*pos..).filter(|r| !r.is_empty()) {
        match inner.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => *pos += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The close code for a connection the broker ends.
pub fn close_code(reason: CloseReason) -> u16 {
    match reason {
        CloseReason::Shutdown => frame::CLOSE_GOING_AWAY,
        CloseReason::Malformed | CloseReason::Protocol => frame::CLOSE_PROTOCOL_ERROR,
        CloseReason::Oversize => frame::CLOSE_TOO_BIG,
        CloseReason::OutOfMemory => frame::CLOSE_INTERNAL_ERROR,
        _ => frame::CLOSE_NORMAL,
    }
}

impl WsConn {
    pub fn new(inner: Stream, config: Rc<WsConfig>) -> WsConn {
        WsConn {
            tls: inner.is_tls(),
            inner,
            config,
            phase: Phase::Handshake,
            head: Vec::new(),
            decoder: FrameDecoder::default(),
            read_end: None,
            own: Vec::new(),
            own_pos: 0,
            file: None,
            header: [0; 10],
            header_len: 0,
            header_pos: 0,
            frame_left: 0,
            stage: Vec::new(),
            stage_pos: 0,
        }
    }

    pub fn inner(&self) -> &Stream {
        &self.inner
    }

    pub fn inner_mut(&mut self) -> &mut Stream {
        &mut self.inner
    }

    /// Reads MQTT bytes into `buf`: the payload of the client's binary
    /// frames. `WouldBlock` when none are available, `Interrupted` after a
    /// few reads without any (call again), `Ok(0)` once the client closed
    /// (socket or close frame), `InvalidData` once it broke the websocket
    /// protocol.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for _ in 0..READS_WITHOUT_DATA {
            match self.read_end {
                Some(Ok(())) => return Ok(0),
                Some(Err(e)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("websocket protocol error: {e}"),
                    ))
                }
                None => {}
            }
            let n = self.inner.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let start = match self.phase {
                // Nothing more is wanted from a client being answered.
                Phase::Finishing => continue,
                Phase::Open => 0,
                Phase::Handshake => match self.handshake(buf.get(..n).unwrap_or(&[])) {
                    // Bytes after the head are already frames.
                    Some(rest) => n.saturating_sub(rest),
                    None => continue,
                },
            };
            let Some(input) = buf.get_mut(start..n) else {
                continue;
            };
            let done = self.decoder.decode(input, &mut self.own);
            if let Some(end) = done.end {
                self.phase = Phase::Finishing;
                self.read_end = Some(match end {
                    frame::End::Closed => Ok(()),
                    frame::End::Failed(e) => Err(e),
                });
            }
            if done.data > 0 {
                buf.copy_within(start..start + done.data, 0);
                return Ok(done.data);
            }
        }
        // Only pings, a request or ignored bytes so far: let the broker
        // count this as a turn (it reads again later), so a flood of them
        // cannot hold the loop.
        Err(io::ErrorKind::Interrupted.into())
    }

    /// Takes request bytes; once the head is whole, answers it. Returns
    /// how many of `input`'s last bytes follow the head of an accepted
    /// upgrade.
    fn handshake(&mut self, input: &[u8]) -> Option<usize> {
        self.head.extend_from_slice(input);
        let (answer, len, dir_path) =
            match handshake::parse_request(&self.head, self.config.headers_size) {
                Ok(None) => return None,
                Ok(Some(req)) => (req.answer(), req.len, req.path_part().to_owned()),
                Err(status) => {
                    self.refuse(status);
                    return None;
                }
            };
        let rest = self.head.len().saturating_sub(len);
        self.head = Vec::new();
        match answer {
            Answer::Upgrade { accept, protocol } => {
                handshake::upgrade_response(&mut self.own, &accept, protocol);
                self.phase = Phase::Open;
                Some(rest)
            }
            Answer::File { path, head_only } => {
                self.serve(&path, head_only, &dir_path);
                None
            }
            Answer::Refuse(status) => {
                self.refuse(status);
                None
            }
        }
    }

    fn refuse(&mut self, status: Status) {
        handshake::error_response(&mut self.own, status);
        self.head = Vec::new();
        self.phase = Phase::Finishing;
    }

    /// Answers a plain HTTP request from http_dir (404 without one).
    fn serve(&mut self, path: &str, head_only: bool, dir_path: &str) {
        self.phase = Phase::Finishing;
        let Some(dir) = self.config.http_dir.as_deref() else {
            handshake::error_response(&mut self.own, Status::NotFound);
            return;
        };
        let real = match std::fs::canonicalize(dir.join(path)) {
            Ok(p) => p,
            Err(e) => {
                let status = match e.kind() {
                    io::ErrorKind::PermissionDenied => Status::Forbidden,
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Status::NotFound,
                    _ => Status::Internal,
                };
                handshake::error_response(&mut self.own, status);
                return;
            }
        };
        // A symbolic link may point out of http_dir.
        if !real.starts_with(dir) {
            handshake::error_response(&mut self.own, Status::Forbidden);
            return;
        }
        let opened = File::open(&real).and_then(|f| {
            let meta = f.metadata()?;
            Ok((f, meta))
        });
        match opened {
            Ok((_, meta)) if meta.is_dir() => {
                handshake::redirect_response(&mut self.own, &format!("{dir_path}/"));
            }
            Ok((f, meta)) if meta.is_file() => {
                crate::debug!("http serving file \"{}\".", real.display());
                handshake::file_response_head(
                    &mut self.own,
                    meta.len(),
                    handshake::content_type(path),
                );
                if !head_only {
                    self.file = Some(f);
                }
            }
            Ok(_) => handshake::error_response(&mut self.own, Status::Forbidden),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                handshake::error_response(&mut self.own, Status::Forbidden)
            }
            Err(_) => handshake::error_response(&mut self.own, Status::NotFound),
        }
    }

    /// Bytes of its own wait to be written.
    pub fn has_own_output(&self) -> bool {
        self.own_pos < self.own.len() || self.file.is_some() || self.stage_pos < self.stage.len()
    }

    /// Everything queued is written and the connection is to end (an HTTP
    /// answer, or a close frame either way).
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finishing && !self.has_own_output()
    }

    /// Queues a close frame, unless the handshake never completed or one
    /// was already exchanged. It waits for a half-written data frame (and
    /// is lost if the socket closes first).
    pub fn send_close(&mut self, reason: CloseReason) {
        if self.phase == Phase::Open {
            frame::push_close(&mut self.own, close_code(reason), b"");
            self.phase = Phase::Finishing;
        }
    }

    /// Writes the websocket's own bytes, after a half-written data frame
    /// is complete. `Ok(true)` once none are left.
    pub fn flush_own(&mut self) -> io::Result<bool> {
        if !write_out(&mut self.inner, &self.stage, &mut self.stage_pos)? {
            return Ok(false);
        }
        loop {
            if self.own_pos >= self.own.len() {
                self.own.clear();
                self.own_pos = 0;
                if !self.refill_from_file() {
                    return Ok(true);
                }
            }
            if self.frame_left > 0 {
                return Ok(false);
            }
            if !write_out(&mut self.inner, &self.own, &mut self.own_pos)? {
                return Ok(false);
            }
        }
    }

    /// Reads the next piece of the file being served; false at its end.
    fn refill_from_file(&mut self) -> bool {
        let Some(f) = self.file.as_mut() else {
            return false;
        };
        self.own.resize(FILE_CHUNK, 0);
        match f.read(&mut self.own) {
            Ok(n) if n > 0 => {
                self.own.truncate(n);
                true
            }
            // At the end, or unreadable: the client sees a short body.
            _ => {
                self.own.clear();
                self.file = None;
                false
            }
        }
    }

    /// Writes `payload` (the broker's unwritten output, starting at the
    /// first byte not yet accepted) as binary frames; returns how many of
    /// its bytes were taken, like `Write::write`.
    pub fn write(&mut self, payload: &[u8]) -> io::Result<usize> {
        if self.phase != Phase::Open {
            // Nothing can be framed before the handshake (no client yet)
            // or after a close frame: the connection is ending.
            return Ok(payload.len());
        }
        if self.tls {
            return self.write_staged(payload);
        }
        if self.frame_left == 0 {
            if !self.flush_own()? {
                return Err(would_block());
            }
            if payload.is_empty() {
                return Ok(0);
            }
            self.header_len = frame::frame_header(OP_BINARY, payload.len(), &mut self.header) as u8;
            self.header_pos = 0;
            self.frame_left = payload.len();
        }
        let body = payload
            .get(..self.frame_left.min(payload.len()))
            .unwrap_or(&[]);
        // A few header bytes at most: the loop ends within ten rounds.
        while self.header_pos < self.header_len {
            let head = self
                .header
                .get(usize::from(self.header_pos)..usize::from(self.header_len))
                .unwrap_or(&[]);
            let n = self
                .inner
                .write_vectored(&[IoSlice::new(head), IoSlice::new(body)])?;
            if n == 0 {
                return Ok(0);
            }
            let from_head = n.min(head.len());
            self.header_pos += from_head as u8;
            let from_body = n - from_head;
            if from_body > 0 {
                self.frame_left -= from_body;
                return Ok(from_body);
            }
        }
        let n = self.inner.write(body)?;
        self.frame_left -= n;
        Ok(n)
    }

    /// TLS: one frame of at most a record, copied with its header so it
    /// goes out as one record.
    fn write_staged(&mut self, payload: &[u8]) -> io::Result<usize> {
        if !self.flush_own()? {
            return Err(would_block());
        }
        let take = payload.len().min(STAGE_PAYLOAD);
        let Some(body) = payload.get(..take).filter(|b| !b.is_empty()) else {
            return Ok(0);
        };
        let mut header = [0u8; 10];
        let hlen = frame::frame_header(OP_BINARY, take, &mut header);
        self.stage.clear();
        self.stage
            .extend_from_slice(header.get(..hlen).unwrap_or(&[]));
        self.stage.extend_from_slice(body);
        self.stage_pos = 0;
        // The bytes are ours now; a full socket only delays them.
        write_out(&mut self.inner, &self.stage, &mut self.stage_pos)?;
        Ok(take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes() {
        assert_eq!(close_code(CloseReason::Disconnect), 1000);
        assert_eq!(close_code(CloseReason::Shutdown), 1001);
        assert_eq!(close_code(CloseReason::Protocol), 1002);
        assert_eq!(close_code(CloseReason::Oversize), 1009);
    }

    #[test]
    fn http_dir_must_exist() {
        let e = WsConfig::new(4096, Some(Path::new("/nonexistent/www"))).unwrap_err();
        assert_eq!(e, "Error: Unable to open http dir \"/nonexistent/www\".");
        let c = WsConfig::new(4096, Some(Path::new("/tmp/"))).unwrap();
        assert_eq!(
            c.http_dir.as_deref(),
            std::fs::canonicalize("/tmp").ok().as_deref()
        );
    }
}
