//! Interoperability with real clients: Debian's mosquitto_pub/mosquitto_sub
//! (package mosquitto-clients) and Eclipse Paho's Python client (pip package
//! paho-mqtt 2.x, driven by tests/it/interop/paho_interop.py).
//!
//! A missing tool fails the test when CI is set, and is skipped with a note
//! otherwise.

use crate::harness::*;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const FMT: &str = "%t %q %r %p";

fn tool(name: &str) -> Option<PathBuf> {
    require_tool(name, "apt-get install mosquitto-clients")
}

/// A client tool's arguments: `-h 127.0.0.1 -p PORT -t TOPIC`, then `rest`.
fn args<'a>(port: &'a str, topic: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["-h", "127.0.0.1", "-p", port, "-t", topic];
    a.extend_from_slice(rest);
    a
}

/// Runs a client tool to completion (bounded), asserts success, returns its
/// output.
fn run(tool: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", tool.display()));
    if wait_timeout(&mut child, TIMEOUT).is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}): {}{}",
        tool.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A long-running mosquitto_sub whose output lines arrive on a channel.
struct Sub {
    child: Child,
    lines: Receiver<String>,
}

impl Sub {
    fn spawn(tool: &Path, args: &[&str]) -> Sub {
        let mut child = Command::new(tool)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", tool.display()));
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Sub { child, lines }
    }

    /// Waits for a line satisfying `pred`; returns the lines seen before it.
    fn wait_line(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return Some(l),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// Publishes QoS 0 probes on `probe_topic` (which the sub must match)
    /// until one comes out of the sub: then it is subscribed.
    fn wait_subscribed(&self, port: u16, probe_topic: &str) {
        let mut feeder = Client::connect(port, "interop-prober", true, 60);
        for _ in 0..50 {
            feeder.publish0(probe_topic, b"probe", false);
            if self
                .wait_line(|l| l.starts_with(probe_topic), Duration::from_millis(200))
                .is_some()
            {
                return;
            }
        }
        panic!("mosquitto_sub never received a probe on {probe_topic}");
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Sub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn mosquitto_pub_at_each_qos_reaches_a_subscriber() {
    let Some(pub_tool) = tool("mosquitto_pub") else {
        return;
    };
    let b = Broker::start("");
    let port = b.port.to_string();
    let mut sub = Client::connect(b.port, "raw-sub", true, 60);
    sub.subscribe("interop/pub/#", 2);
    for qos in 0..=2u8 {
        let topic = format!("interop/pub/{qos}");
        let msg = format!("from mosquitto_pub at qos {qos}");
        let q = qos.to_string();
        run(&pub_tool, &args(&port, &topic, &["-m", &msg, "-q", &q]));
        let m = sub.receive_publish();
        assert_eq!(
            (m.topic.as_str(), m.payload.as_slice()),
            (topic.as_str(), msg.as_bytes())
        );
        assert_eq!(m.qos.as_u8(), qos);
    }
}

#[test]
fn mosquitto_sub_receives_mosquitto_pub_at_each_qos() {
    let Some(sub_tool) = tool("mosquitto_sub") else {
        return;
    };
    let Some(pub_tool) = tool("mosquitto_pub") else {
        return;
    };
    let b = Broker::start("");
    let port = b.port.to_string();
    for qos in 0..=2u8 {
        let base = format!("interop/sub{qos}");
        let filter = format!("{base}/#");
        let q = qos.to_string();
        let sub = Sub::spawn(&sub_tool, &args(&port, &filter, &["-q", &q, "-F", FMT]));
        sub.wait_subscribed(b.port, &format!("{base}/probe"));
        let topic = format!("{base}/real");
        run(&pub_tool, &args(&port, &topic, &["-m", "real", "-q", &q]));
        let want = format!("{topic} {qos} 0 real");
        let got = sub.wait_line(|l| l.starts_with(&topic), TIMEOUT);
        assert_eq!(got.as_deref(), Some(want.as_str()));
        sub.kill();
    }
}

#[test]
fn retained_with_mosquitto_pub_r_and_mosquitto_sub_c1() {
    let Some(sub_tool) = tool("mosquitto_sub") else {
        return;
    };
    let Some(pub_tool) = tool("mosquitto_pub") else {
        return;
    };
    let b = Broker::start("");
    let port = b.port.to_string();
    let args = args(&port, "interop/ret", &[]);
    run(
        &pub_tool,
        &[&args[..], &["-r", "-q", "1", "-m", "kept"]].concat(),
    );
    let out = run(
        &sub_tool,
        &[&args[..], &["-C", "1", "-W", "10", "-q", "1", "-F", FMT]].concat(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "interop/ret 1 1 kept"
    );
    // Clearing with an empty retained message (-n): nothing is retained.
    run(&pub_tool, &[&args[..], &["-r", "-n"]].concat());
    let mut raw = Client::connect(b.port, "ret-check", true, 60);
    raw.subscribe("interop/ret", 0);
    raw.expect_nothing();
}

#[test]
fn will_of_a_killed_mosquitto_sub_is_published() {
    let Some(sub_tool) = tool("mosquitto_sub") else {
        return;
    };
    let b = Broker::start("");
    let port = b.port.to_string();
    let mut watcher = Client::connect(b.port, "will-watcher", true, 60);
    watcher.subscribe("interop/will", 1);
    let doomed = Sub::spawn(
        &sub_tool,
        &args(
            &port,
            "interop/doomed/#",
            &[
                "-i",
                "doomed",
                "--will-topic",
                "interop/will",
                "--will-payload",
                "bye",
                "--will-qos",
                "1",
                "-F",
                FMT,
            ],
        ),
    );
    doomed.wait_subscribed(b.port, "interop/doomed/probe");
    doomed.kill();
    let m = watcher.receive_publish();
    assert_eq!(
        (m.payload.as_slice(), m.qos),
        (&b"bye"[..], QoS::AtLeastOnce)
    );
}

#[test]
fn persistent_session_with_mosquitto_sub_c_i() {
    let Some(sub_tool) = tool("mosquitto_sub") else {
        return;
    };
    let b = Broker::start("");
    let port = b.port.to_string();
    let args = args(
        &port,
        "interop/ps/#",
        &["-q", "1", "-c", "-i", "interop-ps", "-F", FMT],
    );
    let first = Sub::spawn(&sub_tool, &args);
    first.wait_subscribed(b.port, "interop/ps/probe");
    first.kill();
    // While it is away (QoS 0 probes in flight are not queued).
    let mut publ = Client::connect(b.port, "ps-publisher", true, 60);
    publ.publish("interop/ps/offline", b"queued", 1, false);
    let out = run(&sub_tool, &[&args[..], &["-C", "1", "-W", "10"]].concat());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "interop/ps/offline 1 0 queued"
    );
}

#[test]
fn paho_python_client_scenarios() {
    let Some(python) = paho_python() else {
        return;
    };
    let b = Broker::start("");
    run_paho(&python, &["--port", &b.port.to_string()]);
}
