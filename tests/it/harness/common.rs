//! Test harness for the broker integration tests.
//!
//! `Broker` starts the broker binary on a free loopback port with a temporary
//! config file and kills it when dropped. `Client` is a deliberately dumb MQTT
//! client over a blocking `TcpStream` (or `UnixStream`, for unix socket
//! listeners): everything it sends is encoded by hand
//! here (so the tests do not depend on the codec they exercise), and what it
//! receives is framed by raw bytes and decoded with `mosquitto_rs::protocol`.
//! Over a websockets listener it speaks through `WsStream`, a hand-written
//! RFC 6455 client (handshake, masked frames) that shares no code with the
//! broker's.
//!
//! The binary under test is ours (`CARGO_BIN_EXE_mosquitto`) unless the
//! environment variable `MQTT_TEST_BROKER` names another one, e.g.
//! `MQTT_TEST_BROKER=/usr/sbin/mosquitto cargo test --test broker_connect`
//! runs the same tests against Debian's mosquitto 2.0.11. `is_reference()`
//! lets the few tests where we deliberately differ from mosquitto 2.0.11 branch.
//!
//! Rules: no sleeps for synchronisation (waits are socket reads with
//! deadlines), every loop bounded, only 127.0.0.1.

#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use mosquitto_rs::protocol::{fixed_header, Packet, ProtocolVersion, Publish, QoS};

/// How long to wait for something that should happen.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait when checking that nothing happens.
pub const QUIET: Duration = Duration::from_millis(300);
/// How long the broker may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The broker binary under test.
pub fn broker_bin() -> PathBuf {
    match std::env::var_os("MQTT_TEST_BROKER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mosquitto")),
    }
}

/// True when the tests run against a reference broker (Debian's mosquitto
/// 2.0.11) rather than ours. Tests of behaviours where we deliberately differ
/// from mosquitto 2.0.11 branch on this.
pub fn is_reference() -> bool {
    matches!(std::env::var_os("MQTT_TEST_BROKER"), Some(p) if !p.is_empty())
}

/// True in CI, where a missing external tool is a failure, not a skip.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI"), Ok(v) if !v.is_empty() && v != "false" && v != "0")
}

/// A temporary directory removed on drop (kept if `MQTT_TEST_KEEP` is set).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "mosquitto-rs-test-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        // Brokers started as root drop privileges (to "mosquitto", as
        // Debian's does): let them write their files here.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o777));
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.join(name);
        fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MQTT_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// True when process `pid` holds a listening TCP socket on `port`. A port
/// that merely accepts connections may belong to another test's broker that
/// took it between `free_port` and our bind.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    })
}

/// Socket inodes in LISTEN state on `port`, from /proc/net/tcp and tcp6.
fn listening_inodes(port: u16) -> Vec<String> {
    let want = format!(":{port:04X}");
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 0A (LISTEN), inode in the tenth column.
            if let (Some(local), Some(&"0A"), Some(inode)) = (f.get(1), f.get(3), f.get(9)) {
                if local.ends_with(&want) {
                    out.push((*inode).to_string());
                }
            }
        }
    }
    out
}

/// The output of a broker run that was expected to exit by itself.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Exited {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the broker binary with `args` in `dir` and waits (bounded) for it to
/// exit by itself. Panics if it is still running after `timeout`.
pub fn run_to_exit(args: &[&str], dir: &TempDir, timeout: Duration) -> Exited {
    let out_path = dir.join("run.stdout");
    let err_path = dir.join("run.stderr");
    let mut child = Command::new(broker_bin())
        .args(args)
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn broker");
    let status = wait_timeout(&mut child, timeout);
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "broker {:?} {:?} did not exit within {:?}; stderr: {}",
                broker_bin(),
                args,
                timeout,
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
    };
    Exited {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Waits (bounded) until the text `read` returns contains `needle`.
pub fn wait_for_text(read: impl Fn() -> String, needle: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if read().contains(needle) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        // Log files have no readiness notification.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `try_wait` until the child exits or the timeout passes.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling a child process has no blocking-with-timeout form in std.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running broker on 127.0.0.1:`port`, killed on drop.
pub struct Broker {
    pub port: u16,
    pub dir: TempDir,
    pub config_path: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl Broker {
    /// Starts the broker with `listener PORT 127.0.0.1`, `allow_anonymous
    /// true` and the `extra_config` lines.
    pub fn start(extra_config: &str) -> Broker {
        Broker::start_config(|port| {
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra_config}\n")
        })
    }

    /// Starts the broker with a config file whose whole text `make_config`
    /// returns for the chosen port.
    pub fn start_config(make_config: impl Fn(u16) -> String) -> Broker {
        Broker::start_with(|port, dir| {
            let path = dir.write("mosquitto.conf", &make_config(port));
            vec!["-c".to_string(), path.to_string_lossy().into_owned()]
        })
    }

    /// Starts the broker on a given port (to restart one where its peers
    /// expect it) with the whole config text `make_config` returns.
    pub fn start_on(port: u16, make_config: impl Fn(u16) -> String) -> Broker {
        let dir = TempDir::new("broker");
        let path = dir.write("mosquitto.conf", &make_config(port));
        let child = Command::new(broker_bin())
            .args(["-c", &path.to_string_lossy()])
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("broker.stdout")).expect("stdout file"))
            .stderr(File::create(dir.join("broker.stderr")).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn broker {:?}: {e}", broker_bin()));
        let mut b = Broker {
            port,
            dir,
            config_path: path,
            child: Some(child),
            exit: None,
        };
        if let Err(log) = b.wait_listening() {
            panic!("broker did not start on port {port}:\n{log}");
        }
        b
    }

    /// Starts the broker with the command line `make_args` returns for the
    /// chosen port and temp dir, and waits until the port accepts TCP
    /// connections. Retries with another port if the chosen one was taken in
    /// the meantime.
    pub fn start_with(make_args: impl Fn(u16, &TempDir) -> Vec<String>) -> Broker {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let dir = TempDir::new("broker");
            let port = free_port();
            let args = make_args(port, &dir);
            let config_path = args
                .iter()
                .position(|a| a == "-c")
                .and_then(|i| args.get(i + 1))
                .map(PathBuf::from)
                .unwrap_or_default();
            let child = Command::new(broker_bin())
                .args(&args)
                .current_dir(&dir.path)
                .stdin(Stdio::null())
                .stdout(File::create(dir.join("broker.stdout")).expect("stdout file"))
                .stderr(File::create(dir.join("broker.stderr")).expect("stderr file"))
                .spawn()
                .unwrap_or_else(|e| panic!("spawn broker {:?}: {e}", broker_bin()));
            let mut b = Broker {
                port,
                dir,
                config_path,
                child: Some(child),
                exit: None,
            };
            match b.wait_listening() {
                Ok(()) => return b,
                Err(log) => {
                    last_log = log;
                    if last_log.contains("in use") {
                        continue;
                    }
                    break;
                }
            }
        }
        panic!(
            "broker {:?} did not start listening within {:?}; its output:\n{last_log}",
            broker_bin(),
            START_TIMEOUT
        );
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ours = self
                .child
                .as_ref()
                .is_none_or(|c| listens_on(c.id(), self.port));
            if ours
                && TcpStream::connect_timeout(&addr(self.port), Duration::from_millis(500)).is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                    self.child = None;
                    return Err(format!("(exited: {status})\n{}", self.log_text()));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("(timed out)\n{}", self.log_text()));
            }
            // Connection refused comes back at once; do not spin.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the broker wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        let out = fs::read_to_string(self.dir.join("broker.stdout")).unwrap_or_default();
        let err = fs::read_to_string(self.dir.join("broker.stderr")).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Waits (bounded) until the broker's output contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(|| self.log_text(), needle, timeout)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => match c.try_wait() {
                Ok(None) => true,
                Ok(Some(s)) => {
                    self.exit = Some(s);
                    false
                }
                Err(_) => false,
            },
            None => false,
        }
    }

    /// Sends SIGTERM and waits for the process to exit. Returns its status,
    /// or None if it did not exit within the timeout (it is then killed).
    pub fn stop_gracefully(&mut self) -> Option<ExitStatus> {
        let mut child = match self.child.take() {
            Some(c) => c,
            None => return self.exit,
        };
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        match wait_timeout(&mut child, TIMEOUT) {
            Some(s) => {
                self.exit = Some(s);
                Some(s)
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// Kills the broker at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.exit = c.wait().ok();
        }
    }

    /// A connected, CONNACKed MQTT 3.1.1 client.
    pub fn client(&self, client_id: &str) -> Client {
        Client::connect(self.port, client_id, true, 60)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- broker output ({:?}, port {}) ----\n{}\n---- end of broker output ----",
                broker_bin(),
                self.port,
                self.log_text()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Hand-written encoders for what the test clients send.
// ---------------------------------------------------------------------------

pub fn put_len(out: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        out.push(b);
        if len == 0 {
            break;
        }
    }
}

pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s);
}

/// A whole packet: `byte1`, remaining length, `body`.
pub fn packet(byte1: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![byte1];
    put_len(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// A CONNECT packet, built field by field.
#[derive(Clone, Debug)]
pub struct ConnectOpts {
    pub protocol_name: Vec<u8>,
    pub level: u8,
    pub clean: bool,
    pub keepalive: u16,
    pub client_id: Vec<u8>,
    /// (topic, payload, qos, retain)
    pub will: Option<(String, Vec<u8>, u8, bool)>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
}

impl ConnectOpts {
    pub fn v311(client_id: &str) -> ConnectOpts {
        ConnectOpts {
            protocol_name: b"MQTT".to_vec(),
            level: 4,
            clean: true,
            keepalive: 60,
            client_id: client_id.as_bytes().to_vec(),
            will: None,
            username: None,
            password: None,
        }
    }

    pub fn v31(client_id: &str) -> ConnectOpts {
        ConnectOpts {
            protocol_name: b"MQIsdp".to_vec(),
            level: 3,
            ..ConnectOpts::v311(client_id)
        }
    }

    pub fn clean(mut self, clean: bool) -> Self {
        self.clean = clean;
        self
    }

    pub fn keepalive(mut self, k: u16) -> Self {
        self.keepalive = k;
        self
    }

    pub fn will(mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Self {
        self.will = Some((topic.to_string(), payload.to_vec(), qos, retain));
        self
    }

    pub fn version(&self) -> ProtocolVersion {
        if self.protocol_name == b"MQIsdp" {
            ProtocolVersion::V31
        } else if self.level == 5 {
            ProtocolVersion::V5
        } else {
            ProtocolVersion::V311
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut flags = 0u8;
        if self.clean {
            flags |= 0x02;
        }
        if let Some((_, _, qos, retain)) = &self.will {
            flags |= 0x04 | (qos << 3);
            if *retain {
                flags |= 0x20;
            }
        }
        if self.username.is_some() {
            flags |= 0x80;
        }
        if self.password.is_some() {
            flags |= 0x40;
        }
        let mut body = Vec::new();
        put_str(&mut body, &self.protocol_name);
        body.push(self.level);
        body.push(flags);
        body.extend_from_slice(&self.keepalive.to_be_bytes());
        put_str(&mut body, &self.client_id);
        if let Some((topic, payload, _, _)) = &self.will {
            put_str(&mut body, topic.as_bytes());
            put_str(&mut body, payload);
        }
        if let Some(u) = &self.username {
            put_str(&mut body, u.as_bytes());
        }
        if let Some(p) = &self.password {
            put_str(&mut body, p);
        }
        packet(0x10, &body)
    }
}

/// A PUBLISH packet. `id` is ignored for QoS 0.
pub fn publish_bytes(
    topic: &str,
    payload: &[u8],
    qos: u8,
    retain: bool,
    dup: bool,
    id: u16,
) -> Vec<u8> {
    let mut byte1 = 0x30 | (qos << 1);
    if retain {
        byte1 |= 0x01;
    }
    if dup {
        byte1 |= 0x08;
    }
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    if qos > 0 {
        body.extend_from_slice(&id.to_be_bytes());
    }
    body.extend_from_slice(payload);
    packet(byte1, &body)
}

pub fn subscribe_bytes(id: u16, filters: &[(&str, u8)]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for (f, q) in filters {
        put_str(&mut body, f.as_bytes());
        body.push(*q);
    }
    packet(0x82, &body)
}

pub fn unsubscribe_bytes(id: u16, filters: &[&str]) -> Vec<u8> {
    let mut body = id.to_be_bytes().to_vec();
    for f in filters {
        put_str(&mut body, f.as_bytes());
    }
    packet(0xA2, &body)
}

/// PUBACK (0x40), PUBREC (0x50), PUBREL (0x62), PUBCOMP (0x70), UNSUBACK (0xB0).
pub fn ack_bytes(byte1: u8, id: u16) -> Vec<u8> {
    let [hi, lo] = id.to_be_bytes();
    vec![byte1, 2, hi, lo]
}

pub const PINGREQ: [u8; 2] = [0xC0, 0x00];
pub const PINGRESP: [u8; 2] = [0xD0, 0x00];
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];
pub const CONNACK_OK: [u8; 4] = [0x20, 0x02, 0x00, 0x00];

// ---------------------------------------------------------------------------
// The test client.
// ---------------------------------------------------------------------------

/// What a read with a deadline found.
#[derive(Debug)]
pub enum Read1 {
    /// One whole packet's bytes.
    Packet(Vec<u8>),
    /// The peer closed the connection (EOF or reset).
    Closed,
    /// Nothing (or only part of a packet) arrived in time.
    Timeout,
}

/// The test client's socket.
pub enum ClientStream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Ws(Box<WsStream>),
}

impl ClientStream {
    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.set_read_timeout(d),
            ClientStream::Unix(s) => s.set_read_timeout(d),
            ClientStream::Ws(w) => w.tcp.set_read_timeout(d),
        }
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.shutdown(how),
            ClientStream::Unix(s) => s.shutdown(how),
            ClientStream::Ws(w) => w.tcp.shutdown(how),
        }
    }

    /// The websocket under an MQTT client on a websockets listener.
    pub fn ws(&mut self) -> &mut WsStream {
        match self {
            ClientStream::Ws(w) => w,
            _ => panic!("not a websocket client"),
        }
    }
}

impl Read for ClientStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.read(buf),
            ClientStream::Unix(s) => s.read(buf),
            ClientStream::Ws(w) => w.read(buf),
        }
    }
}

impl Write for ClientStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ClientStream::Tcp(s) => s.write(buf),
            ClientStream::Unix(s) => s.write(buf),
            ClientStream::Ws(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ClientStream::Tcp(s) => s.flush(),
            ClientStream::Unix(s) => s.flush(),
            ClientStream::Ws(w) => w.tcp.flush(),
        }
    }
}

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

pub struct Client {
    pub stream: ClientStream,
    pub name: String,
    pub version: ProtocolVersion,
    buf: Vec<u8>,
    /// Packets read while waiting for an acknowledgement (e.g. our own
    /// message coming back on a subscription); returned first by reads.
    pending: std::collections::VecDeque<Vec<u8>>,
    next_id: u16,
}

impl Client {
    /// A TCP connection with nothing sent yet.
    pub fn raw(port: u16, name: &str) -> Client {
        let stream = TcpStream::connect_timeout(&addr(port), TIMEOUT)
            .unwrap_or_else(|e| panic!("{name}: connect to 127.0.0.1:{port}: {e}"));
        stream.set_nodelay(true).ok();
        Client::over(ClientStream::Tcp(stream), name)
    }

    /// A unix socket connection with nothing sent yet.
    pub fn raw_unix(path: &Path, name: &str) -> Client {
        let stream = UnixStream::connect(path)
            .unwrap_or_else(|e| panic!("{name}: connect to {}: {e}", path.display()));
        Client::over(ClientStream::Unix(stream), name)
    }

    /// A websocket connection (opening handshake done) with no MQTT sent.
    pub fn raw_ws(port: u16, name: &str) -> Client {
        Client::over(ClientStream::Ws(Box::new(WsStream::connect(port))), name)
    }

    /// `connect` over a websockets listener.
    pub fn connect_ws(port: u16, client_id: &str) -> Client {
        let (c, connack) = Client::connect_ws_opts(port, &ConnectOpts::v311(client_id));
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// `connect_opts` over a websockets listener.
    pub fn connect_ws_opts(port: u16, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw_ws(port, &name).handshake(opts)
    }

    pub fn over(stream: ClientStream, name: &str) -> Client {
        Client {
            stream,
            name: name.to_string(),
            version: ProtocolVersion::V311,
            buf: Vec::new(),
            pending: Default::default(),
            next_id: 0,
        }
    }

    /// Connects with MQTT 3.1.1 and asserts a successful CONNACK (session
    /// present may be either; use `connect_opts` to check it).
    pub fn connect(port: u16, client_id: &str, clean: bool, keepalive: u16) -> Client {
        let (c, connack) = Client::connect_opts(
            port,
            &ConnectOpts::v311(client_id)
                .clean(clean)
                .keepalive(keepalive),
        );
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// Sends `opts` as CONNECT and returns the client and the raw CONNACK.
    pub fn connect_opts(port: u16, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw(port, &name).handshake(opts)
    }

    /// `connect` over the unix socket at `path`.
    pub fn connect_unix(path: &Path, client_id: &str) -> Client {
        let (c, connack) = Client::connect_unix_opts(path, &ConnectOpts::v311(client_id));
        assert_eq!(
            connack[3], 0,
            "{client_id}: CONNACK refused: {connack:02x?}"
        );
        c
    }

    /// `connect_opts` over the unix socket at `path`.
    pub fn connect_unix_opts(path: &Path, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = String::from_utf8_lossy(&opts.client_id).into_owned();
        Client::raw_unix(path, &name).handshake(opts)
    }

    /// Sends `opts` as CONNECT on a fresh connection and reads the CONNACK.
    fn handshake(mut self, opts: &ConnectOpts) -> (Client, Vec<u8>) {
        let name = self.name.clone();
        self.version = opts.version();
        self.send_raw(&opts.bytes());
        let connack = self.expect_raw();
        assert_eq!(connack.len(), 4, "{name}: CONNACK length: {connack:02x?}");
        assert_eq!(
            &connack[..2],
            &[0x20, 0x02],
            "{name}: not a CONNACK: {connack:02x?}"
        );
        (self, connack)
    }

    pub fn next_packet_id(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    /// Writes bytes, panicking on error.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let name = self.name.clone();
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{name}: write: {e}"));
    }

    /// Writes bytes; the broker may already have closed the connection.
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until one whole packet is buffered, the peer closes, or the
    /// timeout passes.
    pub fn read_raw(&mut self, timeout: Duration) -> Read1 {
        if let Some(p) = self.pending.pop_front() {
            return Read1::Packet(p);
        }
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 65536];
        // Bounded: each turn either returns or reads at least one byte, and the
        // deadline caps the total.
        loop {
            if let Ok(Some(h)) = fixed_header(&self.buf) {
                if self.buf.len() >= h.total_len() {
                    let rest = self.buf.split_off(h.total_len());
                    let p = std::mem::replace(&mut self.buf, rest);
                    return Read1::Packet(p);
                }
            } else if fixed_header(&self.buf).is_err() {
                panic!(
                    "{}: broker sent a malformed remaining length: {:02x?}",
                    self.name, self.buf
                );
            }
            let now = Instant::now();
            if now >= deadline {
                return Read1::Timeout;
            }
            let left = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read1::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Read1::Timeout
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Read1::Closed,
            }
        }
    }

    /// The next packet's raw bytes; panics on close or timeout.
    pub fn expect_raw(&mut self) -> Vec<u8> {
        match self.read_raw(TIMEOUT) {
            Read1::Packet(p) => p,
            Read1::Closed => panic!("{}: connection closed while expecting a packet", self.name),
            Read1::Timeout => panic!(
                "{}: no packet within {:?} (partial: {:02x?})",
                self.name, TIMEOUT, self.buf
            ),
        }
    }

    /// Asserts the next packet is exactly `bytes`.
    pub fn expect_bytes(&mut self, bytes: &[u8]) {
        let got = self.expect_raw();
        assert_eq!(got, bytes, "{}: unexpected packet bytes", self.name);
    }

    /// The next packet, decoded.
    pub fn expect_packet(&mut self) -> Packet {
        let raw = self.expect_raw();
        self.decode(&raw)
    }

    pub fn decode(&self, raw: &[u8]) -> Packet {
        let h = fixed_header(raw).expect("framed").expect("whole");
        Packet::decode(&h, &raw[h.header_len..], self.version)
            .unwrap_or_else(|e| panic!("{}: cannot decode {raw:02x?}: {e:?}", self.name))
    }

    /// The next packet, which must be a PUBLISH.
    pub fn expect_publish(&mut self) -> Publish {
        match self.expect_packet() {
            Packet::Publish(p) => p,
            other => panic!("{}: expected PUBLISH, got {other:?}", self.name),
        }
    }

    /// Receives a PUBLISH and completes its QoS flow (PUBACK, or PUBREC then
    /// PUBREL/PUBCOMP).
    pub fn receive_publish(&mut self) -> Publish {
        let p = self.expect_publish();
        match p.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send_raw(&ack_bytes(0x40, p.packet_id)),
            QoS::ExactlyOnce => {
                self.send_raw(&ack_bytes(0x50, p.packet_id));
                self.expect_ack(&ack_bytes(0x62, p.packet_id));
                self.send_raw(&ack_bytes(0x70, p.packet_id));
            }
        }
        p
    }

    /// Asserts that no packet arrives within `d` (keep it short) and the
    /// connection stays open.
    pub fn expect_nothing_for(&mut self, d: Duration) {
        match self.read_raw(d) {
            Read1::Timeout => {}
            Read1::Packet(p) => panic!(
                "{}: expected nothing, got {:02x?} = {:?}",
                self.name,
                p,
                self.try_decode(&p)
            ),
            Read1::Closed => panic!("{}: expected nothing, but the connection closed", self.name),
        }
    }

    pub fn expect_nothing(&mut self) {
        self.expect_nothing_for(QUIET);
    }

    fn try_decode(&self, raw: &[u8]) -> Option<Packet> {
        let h = fixed_header(raw).ok()??;
        Packet::decode(&h, raw.get(h.header_len..)?, self.version).ok()
    }

    /// Asserts the broker closes the connection (without sending anything
    /// first) within the timeout.
    pub fn expect_closed(&mut self) {
        self.expect_closed_within(TIMEOUT);
    }

    pub fn expect_closed_within(&mut self, d: Duration) {
        match self.read_raw(d) {
            Read1::Closed => {}
            Read1::Packet(p) => panic!(
                "{}: expected the connection to close, got {:02x?} = {:?}",
                self.name,
                p,
                self.try_decode(&p)
            ),
            Read1::Timeout => panic!("{}: connection still open after {d:?}", self.name),
        }
    }

    /// Is the connection still open? (A PINGREQ must be answered.)
    pub fn assert_alive(&mut self) {
        self.send_raw(&PINGREQ);
        self.expect_bytes(&PINGRESP);
    }

    /// QoS 0 publish (no reply expected).
    pub fn publish0(&mut self, topic: &str, payload: &[u8], retain: bool) {
        self.send_raw(&publish_bytes(topic, payload, 0, retain, false, 0));
    }

    /// Publishes and completes the QoS flow from the sender's side, checking
    /// every acknowledgement byte for byte. Returns the packet id used.
    pub fn publish(&mut self, topic: &str, payload: &[u8], qos: u8, retain: bool) -> u16 {
        if qos == 0 {
            self.publish0(topic, payload, retain);
            return 0;
        }
        let id = self.next_packet_id();
        self.send_raw(&publish_bytes(topic, payload, qos, retain, false, id));
        if qos == 1 {
            self.expect_ack(&ack_bytes(0x40, id));
        } else {
            self.expect_ack(&ack_bytes(0x50, id));
            self.send_raw(&ack_bytes(0x62, id));
            self.expect_ack(&ack_bytes(0x70, id));
        }
        id
    }

    /// Waits for the acknowledgement `ack` (exact bytes). PUBLISH packets
    /// arriving before it are kept for later reads; anything else fails.
    pub fn expect_ack(&mut self, ack: &[u8]) {
        let mut early = Vec::new();
        // Bounded: each turn consumes one packet, and reads time out.
        for _ in 0..10_000 {
            let got = match self.read_raw(TIMEOUT) {
                Read1::Packet(p) => p,
                other => panic!("{}: waiting for {ack:02x?}: {other:?}", self.name),
            };
            if got == ack {
                self.pending.extend(early);
                return;
            }
            assert_eq!(
                got[0] & 0xF0,
                0x30,
                "{}: expected {ack:02x?}, got {got:02x?}",
                self.name
            );
            early.push(got);
        }
        panic!("{}: too many packets before {ack:02x?}", self.name);
    }

    /// Subscribes and returns the SUBACK's return codes (checking its id).
    pub fn subscribe_many(&mut self, filters: &[(&str, u8)]) -> Vec<u8> {
        let id = self.next_packet_id();
        self.send_raw(&subscribe_bytes(id, filters));
        let raw = self.expect_raw();
        assert_eq!(
            raw[0], 0x90,
            "{}: expected SUBACK, got {raw:02x?}",
            self.name
        );
        assert_eq!(
            &raw[raw.len() - filters.len() - 2..raw.len() - filters.len()],
            &id.to_be_bytes(),
            "{}: SUBACK packet id: {raw:02x?}",
            self.name
        );
        assert_eq!(
            raw.len(),
            4 + filters.len(),
            "{}: SUBACK length: {raw:02x?}",
            self.name
        );
        raw[4..].to_vec()
    }

    /// Subscribes to one filter and asserts the granted QoS equals `qos`.
    pub fn subscribe(&mut self, filter: &str, qos: u8) {
        let codes = self.subscribe_many(&[(filter, qos)]);
        assert_eq!(
            codes,
            vec![qos],
            "{}: SUBACK for {filter} at QoS {qos}",
            self.name
        );
    }

    pub fn unsubscribe(&mut self, filters: &[&str]) {
        let id = self.next_packet_id();
        self.send_raw(&unsubscribe_bytes(id, filters));
        self.expect_bytes(&ack_bytes(0xB0, id));
    }

    /// Sends DISCONNECT and waits for the broker to close the socket.
    pub fn disconnect(mut self) {
        self.send_raw(&DISCONNECT);
        self.expect_closed();
    }

    /// Closes the socket without DISCONNECT.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// Connects `n` fresh clients to check the broker still serves others; used
/// by bad-input tests after each bad connection.
pub fn assert_broker_healthy(port: u16) {
    let tag = COUNTER.fetch_add(1, Ordering::SeqCst);
    let topic = format!("health/{tag}");
    let mut sub = Client::connect(port, &format!("health-sub-{tag}"), true, 60);
    sub.subscribe(&topic, 1);
    let mut publ = Client::connect(port, &format!("health-pub-{tag}"), true, 60);
    publ.publish(&topic, b"ok", 1, false);
    let p = sub.receive_publish();
    assert_eq!(p.topic, topic);
    assert_eq!(p.payload, b"ok");
}

/// Reads a file, panicking with a clear message if it is missing.
pub fn read_required(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "required file {} is missing or unreadable: {e}",
            path.display()
        )
    })
}

/// Looks for an executable on PATH (or an absolute path).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Returns the tool's path, or: in CI panics; elsewhere prints a skip note
/// and returns None.
pub fn require_tool(name: &str, why: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(p) => Some(p),
        None if in_ci() => panic!("{name} is required in CI ({why}) but was not found on PATH"),
        None => {
            eprintln!("SKIP: {name} not found on PATH ({why}); install it to run this test");
            None
        }
    }
}

/// Debian's mosquitto started on `port` with the config file `conf`, killed
/// on drop (or stopped with SIGTERM by `stop`, which makes it save).
pub struct RefBroker {
    pub port: u16,
    child: Child,
    /// Holds its log: stdout and stderr, printed if a test panics.
    dir: TempDir,
}

impl RefBroker {
    /// Starts Debian's mosquitto with the config file `write_conf` writes
    /// for a free port, and waits until that process listens there (another
    /// port is tried if the first was taken meanwhile). None (after a skip
    /// note, or a panic under CI) when it is not installed.
    pub fn start(write_conf: impl Fn(u16) -> PathBuf) -> Option<RefBroker> {
        let bin = require_tool("mosquitto", "the reference broker")?;
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let conf = write_conf(port);
            let dir = TempDir::new("debian-log");
            let log = File::create(dir.join("mosquitto.log")).expect("log file");
            let child = Command::new(&bin)
                .args(["-c", &conf.to_string_lossy()])
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start Debian mosquitto");
            let mut b = RefBroker { port, child, dir };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if b.child.try_wait().ok().flatten().is_some() {
                    last_log = b.log_text();
                    break;
                }
                if listens_on(b.child.id(), port) && TcpStream::connect(addr(port)).is_ok() {
                    return Some(b);
                }
                assert!(
                    Instant::now() < deadline,
                    "Debian mosquitto did not start:\n{}",
                    b.log_text()
                );
                // Neither a child's exit nor its bind can be waited on with
                // a timeout in std; poll briefly.
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last_log.contains("in use") {
                break;
            }
        }
        panic!("Debian mosquitto exited:\n{last_log}");
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits (bounded) until its log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(|| self.log_text(), needle, timeout)
    }

    /// SIGTERM and wait: mosquitto saves its database on the way out.
    pub fn stop(mut self) {
        // SAFETY: kill(2) on the child we started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        assert!(
            wait_timeout(&mut self.child, TIMEOUT).is_some(),
            "Debian mosquitto exited"
        );
    }
}

impl Drop for RefBroker {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- Debian mosquitto output (exited by itself: {exited:?}) ----\n{}\n---- end of Debian mosquitto output ----",
                self.log_text()
            );
        }
    }
}

/// python3 with paho-mqtt 2.x, or None after a skip note (a panic under CI).
pub fn paho_python() -> Option<PathBuf> {
    let python = require_tool("python3", "apt-get install python3")?;
    let ok = Command::new(&python)
        .args([
            "-c",
            "import paho.mqtt.client as m; assert hasattr(m, 'CallbackAPIVersion')",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !in_ci(),
            "paho-mqtt 2.x is required in CI (pip install paho-mqtt)"
        );
        eprintln!("SKIP: paho-mqtt 2.x not importable by python3 (pip install paho-mqtt)");
        return None;
    }
    Some(python)
}

/// Runs tests/it/interop/paho_interop.py with `args` (bounded) and checks that
/// every scenario passed.
pub fn run_paho(python: &Path, args: &[&str]) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/interop/paho_interop.py");
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    if wait_timeout(&mut child, Duration::from_secs(120)).is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "paho scenarios failed ({}):\n{text}",
        out.status
    );
    assert!(text.contains("paho: 6 passed, 0 failed"), "{text}");
}
