//! Shared helpers for the client integration tests: a broker on a free
//! loopback port (ours by default, Debian's mosquitto with
//! `MOSQ_RS_CLIENT_TESTS_BROKER=debian` — `.ci/run` runs both), running
//! tools with deadlines, and a
//! background subscriber whose output can be read while it runs.
//! Every wait is bounded; every child is killed when its guard drops.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const OUR_PUB: &str = env!("CARGO_BIN_EXE_mosquitto_pub");
pub const OUR_SUB: &str = env!("CARGO_BIN_EXE_mosquitto_sub");
pub const OUR_PASSWD: &str = env!("CARGO_BIN_EXE_mosquitto_passwd");
pub const OUR_BROKER: &str = env!("CARGO_BIN_EXE_mosquitto");
pub const DEBIAN_PUB: &str = "/usr/bin/mosquitto_pub";
pub const DEBIAN_SUB: &str = "/usr/bin/mosquitto_sub";
pub const DEBIAN_PASSWD: &str = "/usr/bin/mosquitto_passwd";
pub const DEBIAN_BROKER: &str = "/usr/sbin/mosquitto";

/// A generous bound for anything that should take well under a second.
pub const STEP: Duration = Duration::from_secs(10);

pub fn using_our_broker() -> bool {
    !std::env::var("MOSQ_RS_CLIENT_TESTS_BROKER").is_ok_and(|v| v == "debian")
}

pub fn broker_binary() -> &'static str {
    if using_our_broker() {
        OUR_BROKER
    } else {
        DEBIAN_BROKER
    }
}

/// The (publisher, subscriber) pairs every interop test runs with: ours
/// with ours, and each of ours against Debian's.
pub fn tool_pairs() -> Vec<(&'static str, &'static str)> {
    vec![
        (OUR_PUB, OUR_SUB),
        (OUR_PUB, DEBIAN_SUB),
        (DEBIAN_PUB, OUR_SUB),
    ]
}

/// A fresh, empty temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "mosq-rs-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind ephemeral port");
    l.local_addr().expect("local addr").port()
}

pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A running broker; killed on drop.
pub struct Broker {
    pub port: u16,
    child: Child,
    pub dir: TempDir,
}

impl Broker {
    /// Anonymous broker on a free port.
    pub fn start() -> Broker {
        Broker::start_with("allow_anonymous true\n")
    }

    /// A broker with extra configuration lines (after the listener line).
    pub fn start_with(extra: &str) -> Broker {
        for _ in 0..5 {
            let port = free_port();
            if let Some(b) = Broker::try_start("127.0.0.1", port, extra) {
                return b;
            }
        }
        panic!("could not start {} on a free port", broker_binary());
    }

    /// A broker on a given address and port, or `None` if it does not come up.
    pub fn try_start(host: &str, port: u16, extra: &str) -> Option<Broker> {
        let dir = TempDir::new("broker");
        let conf = dir.path("mosquitto.conf");
        std::fs::write(&conf, format!("listener {port} {host}\n{extra}")).expect("write config");
        let mut child = Command::new(broker_binary())
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn broker");
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(Broker { port, child, dir });
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    pub fn port_arg(&self) -> String {
        self.port.to_string()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The result of running a tool to completion.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Run `bin args`, feeding `stdin`, and wait at most `limit`; panics on a hang.
pub fn run_limit(bin: &str, args: &[&str], stdin: &[u8], limit: Duration) -> Run {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_deadline(&mut child, limit);
    let _ = writer.join();
    let stdout = out_t.join().unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let Some(status) = status else {
        panic!(
            "{bin} {args:?} did not finish within {limit:?}; stdout {:?} stderr {stderr:?}",
            String::from_utf8_lossy(&stdout)
        );
    };
    Run {
        code: status.code(),
        stdout,
        stderr,
    }
}

pub fn run(bin: &str, args: &[&str]) -> Run {
    run_limit(bin, args, b"", STEP)
}

pub fn run_stdin(bin: &str, args: &[&str], stdin: &[u8]) -> Run {
    run_limit(bin, args, stdin, STEP)
}

/// Remove the `-d` debug lines from a subscriber's output: every
/// "Client … " / "Subscribed (mid: …" / "Received DISCONNECT" line, even
/// when it follows a payload printed without a newline (`-N`).
pub fn strip_debug(out: &[u8]) -> Vec<u8> {
    let markers: [&[u8]; 3] = [b"Client ", b"Subscribed (mid: ", b"Received DISCONNECT"];
    let mut res = Vec::with_capacity(out.len());
    let mut i = 0;
    while i < out.len() {
        let at_marker = markers.iter().any(|m| out[i..].starts_with(m));
        if at_marker {
            match out[i..].iter().position(|&b| b == b'\n') {
                Some(n) => i += n + 1,
                None => i = out.len(),
            }
        } else {
            res.push(out[i]);
            i += 1;
        }
    }
    res
}

/// A subscriber running in the background. Started with `-d` so that we
/// know when its subscription is in place; `output()` strips those lines.
pub struct Sub {
    child: Child,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut r: impl Read + Send + 'static, buf: Arc<Mutex<Vec<u8>>>) {
    thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.lock().expect("lock").extend_from_slice(&chunk[..n]);
        }
    });
}

impl Sub {
    /// Start without waiting for anything.
    pub fn spawn(bin: &str, args: &[&str]) -> Sub {
        // Debian's tools print -d lines with stdio buffering and no flush;
        // line-buffer them so we can see the subscription happen.
        let mut cmd = if bin.starts_with("/usr/") {
            let mut c = Command::new("stdbuf");
            c.arg("-oL").arg(bin);
            c
        } else {
            Command::new(bin)
        };
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let err = Arc::new(Mutex::new(Vec::new()));
        collect(child.stdout.take().expect("stdout"), out.clone());
        collect(child.stderr.take().expect("stderr"), err.clone());
        Sub { child, out, err }
    }

    /// Start with `-d` and wait until the broker has acknowledged the
    /// subscription.
    pub fn start(bin: &str, args: &[&str]) -> Sub {
        let mut all: Vec<&str> = args.to_vec();
        all.push("-d");
        let mut s = Sub::spawn(bin, &all);
        let ok = s.wait_for_raw(b"Subscribed (mid", STEP);
        assert!(
            ok,
            "{bin} {args:?} did not subscribe: out {:?} err {:?}",
            s.raw_output(),
            s.stderr()
        );
        s
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn raw_output(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().expect("lock")).into_owned()
    }

    pub fn output(&self) -> Vec<u8> {
        strip_debug(&self.out.lock().expect("lock"))
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().expect("lock")).into_owned()
    }

    /// Wait until the raw output contains `needle`.
    pub fn wait_for_raw(&mut self, needle: &[u8], limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            {
                let out = self.out.lock().expect("lock");
                if out.windows(needle.len()).any(|w| w == needle) {
                    return true;
                }
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                // Give the reader thread a moment to collect the rest.
                thread::sleep(Duration::from_millis(50));
                let out = self.out.lock().expect("lock");
                return out.windows(needle.len()).any(|w| w == needle);
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Wait until the debug-stripped output is at least `n` bytes long.
    pub fn wait_output_len(&mut self, n: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.output().len() >= n {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Wait for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let st = wait_deadline(&mut self.child, limit)?;
        // Let the reader threads drain the pipes.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && Arc::strong_count(&self.out) > 1 {
            thread::sleep(Duration::from_millis(5));
        }
        st.code()
    }

    /// Send a signal and wait for the exit code.
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(STEP)
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Write `data` to a file in `dir`, returning its path as a string.
pub fn write_file(dir: &TempDir, name: &str, data: &[u8]) -> String {
    let p = dir.path(name);
    std::fs::write(&p, data).expect("write file");
    p.to_string_lossy().into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
