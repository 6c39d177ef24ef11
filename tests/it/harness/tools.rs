//! Running the client tools (ours and Debian's mosquitto_pub, mosquitto_sub,
//! mosquitto_passwd) with deadlines, and a background subscriber whose
//! output can be read while it runs. Every wait is bounded; every child is
//! killed when its guard drops.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::processes::{wait_timeout, wait_until, TIMEOUT};

pub const OUR_PUB: &str = env!("CARGO_BIN_EXE_mosquitto_pub");
pub const OUR_SUB: &str = env!("CARGO_BIN_EXE_mosquitto_sub");
pub const OUR_PASSWD: &str = env!("CARGO_BIN_EXE_mosquitto_passwd");
pub const DEBIAN_PUB: &str = "/usr/bin/mosquitto_pub";
pub const DEBIAN_SUB: &str = "/usr/bin/mosquitto_sub";
pub const DEBIAN_PASSWD: &str = "/usr/bin/mosquitto_passwd";

/// The (publisher, subscriber) pairs every interop test runs with: ours
/// with ours, and each of ours against Debian's.
pub fn tool_pairs() -> Vec<(&'static str, &'static str)> {
    vec![
        (OUR_PUB, OUR_SUB),
        (OUR_PUB, DEBIAN_SUB),
        (DEBIAN_PUB, OUR_SUB),
    ]
}

/// True when nothing listens on 127.0.0.1:`port` (a fixed port some test
/// wants).
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
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

/// Waits (bounded) for the child to exit; kills it if it does not.
fn wait_deadline(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let status = wait_timeout(child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status
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
    run_limit(bin, args, b"", TIMEOUT)
}

pub fn run_stdin(bin: &str, args: &[&str], stdin: &[u8]) -> Run {
    run_limit(bin, args, stdin, TIMEOUT)
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
        let ok = s.wait_for_raw(b"Subscribed (mid", TIMEOUT);
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

    /// Wait until the raw output contains `needle` (false if the process
    /// exits without printing it, or `limit` passes).
    pub fn wait_for_raw(&mut self, needle: &[u8], limit: Duration) -> bool {
        let has = |out: &Mutex<Vec<u8>>| {
            out.lock()
                .expect("lock")
                .windows(needle.len())
                .any(|w| w == needle)
        };
        let mut exited = false;
        let child = &mut self.child;
        let out = &self.out;
        wait_until(limit, || {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            exited || has(out)
        });
        if exited {
            // Let the reader threads collect the rest.
            self.wait_drained();
        }
        has(&self.out)
    }

    /// Wait until the debug-stripped output is at least `n` bytes long.
    pub fn wait_output_len(&mut self, n: usize, limit: Duration) -> bool {
        wait_until(limit, || self.output().len() >= n)
    }

    /// Wait for the process to exit by itself; its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let st = wait_deadline(&mut self.child, limit)?;
        self.wait_drained();
        st.code()
    }

    /// After the process exited: wait (bounded) until the reader threads
    /// have read its pipes to the end (they drop their buffer handles then).
    fn wait_drained(&self) {
        wait_until(Duration::from_secs(2), || {
            Arc::strong_count(&self.out) == 1 && Arc::strong_count(&self.err) == 1
        });
    }

    /// Send a signal and wait for the exit code.
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
        self.wait_exit(TIMEOUT)
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
