//! The 32 MB box (issue 17): the broker under `prlimit --as=32MiB` with
//! `memory_limit` set. A flood of retained QoS 1 messages on new topics and
//! a QoS 1 flood towards a subscriber that reads nothing (no queue limit:
//! a queue as deep as memory allows) are both stopped by `memory_limit`
//! (the publisher is disconnected without an acknowledgement, as mosquitto
//! does); the broker keeps serving the clients already there, every message
//! it acknowledged is delivered, and it does not crash. Debian's mosquitto
//! runs the same scenario under the same limit; its figures are printed for
//! comparison, not asserted on.

use std::collections::HashSet;
use std::fs::File;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

/// The address-space limit: the box's whole memory.
const ADDRESS_SPACE: u64 = 32 * 1024 * 1024;
/// The heap the broker may use for messages: well inside the address space,
/// which also holds the binary, the libraries, stacks and malloc's slack.
const MEMORY_LIMIT: u64 = 6_000_000;
const PAYLOAD: usize = 1000;
/// Far more than MEMORY_LIMIT holds: each flood must be stopped by the limit.
const FLOOD_MAX: u32 = 20_000;

/// A broker started under `prlimit --as`, killed on drop.
struct Limited {
    port: u16,
    child: Child,
    _dir: TempDir,
}

impl Limited {
    fn start(prlimit: &Path, bin: &Path) -> Limited {
        let dir = TempDir::new("lowmem");
        let port = free_port();
        let conf = dir.write(
            "mosquitto.conf",
            &format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 memory_limit {MEMORY_LIMIT}\nmax_queued_messages 0\nmax_inflight_messages 20\n\
                 log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
            ),
        );
        let child = Command::new(prlimit)
            .arg(format!("--as={ADDRESS_SPACE}"))
            .arg("--")
            .arg(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("stderr")).expect("stderr file"))
            .spawn()
            .expect("start prlimit");
        let mut b = Limited {
            port,
            child,
            _dir: dir,
        };
        let up = wait_until(START_TIMEOUT, || {
            b.alive() && TcpStream::connect(addr(port)).is_ok()
        });
        assert!(up, "{bin:?} under prlimit did not listen: {}", b.log());
        b
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.join("stderr")).unwrap_or_default()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        status
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Limited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes QoS 1 messages one at a time until the broker stops
/// acknowledging (closes the connection) or FLOOD_MAX; returns the payload
/// of every acknowledged message.
fn flood(port: u16, name: &str, topic: impl Fn(u32) -> String, retain: bool) -> Vec<Vec<u8>> {
    let mut c = Client::connect(port, name, true, 60);
    let mut acked = Vec::new();
    for n in 0..FLOOD_MAX {
        let id = (n % 60_000 + 1) as u16;
        let mut payload = format!("{name}:{n}:").into_bytes();
        payload.resize(PAYLOAD, b'.');
        if c.try_send_raw(&publish_bytes(&topic(n), &payload, 1, retain, false, id))
            .is_err()
        {
            break;
        }
        match c.read_raw(TIMEOUT) {
            Read1::Packet(p) if p == ack_bytes(0x40, id) => acked.push(payload),
            Read1::Packet(p) => panic!("{name}: unexpected packet {p:02x?}"),
            Read1::Closed | Read1::Timeout => break,
        }
    }
    acked
}

/// Reads PUBLISH packets (acknowledging QoS 1) until `want` are all seen,
/// or nothing comes for a while; returns the payloads seen that were wanted.
fn collect(c: &mut Client, want: &[Vec<u8>]) -> usize {
    let want: HashSet<&[u8]> = want.iter().map(|p| p.as_slice()).collect();
    let mut seen = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < want.len() && Instant::now() < deadline {
        let Read1::Packet(raw) = c.read_raw(Duration::from_secs(5)) else {
            break;
        };
        if let Packet::Publish(p) = c.decode(&raw) {
            if p.qos != QoS::AtMostOnce {
                c.send_raw(&ack_bytes(0x40, p.packet_id));
            }
            if want.contains(p.payload.as_slice()) {
                seen.insert(p.payload);
            }
        }
    }
    seen.len()
}

/// A QoS 1 round trip between two clients that were connected before the
/// floods: the broker still serves them.
fn still_serves(a: &mut Client, b: &mut Client, tag: &str) -> bool {
    let id = a.next_packet_id();
    if a.try_send_raw(&publish_bytes(
        "other/ping",
        tag.as_bytes(),
        1,
        false,
        false,
        id,
    ))
    .is_err()
    {
        return false;
    }
    let acked = matches!(a.read_raw(TIMEOUT), Read1::Packet(p) if p == ack_bytes(0x40, id));
    acked && collect(b, &[tag.as_bytes().to_vec()]) == 1
}

struct Outcome {
    retained_acked: usize,
    retained_delivered: usize,
    queued_acked: usize,
    queued_delivered: usize,
    served_after_retained: bool,
    served_after_queue: bool,
    alive: bool,
    peak_rss_kib: u64,
}

fn run(prlimit: &Path, bin: &Path) -> Outcome {
    let mut b = Limited::start(prlimit, bin);
    let port = b.port;
    // Everybody who must be served later connects before memory runs out.
    let mut other_pub = Client::connect(port, "other-pub", true, 60);
    let mut other_sub = Client::connect(port, "other-sub", true, 60);
    other_sub.subscribe("other/ping", 1);
    let mut retained_reader = Client::connect(port, "retained-reader", true, 60);
    let mut slow = Client::connect(port, "slow-sub", true, 60);
    slow.subscribe("deep/#", 1);

    // 1. Retained messages on ever new topics, until memory_limit.
    let retained = flood(port, "retainer", |n| format!("flood/{n}"), true);
    let served_after_retained = still_serves(&mut other_pub, &mut other_sub, "after-retained");
    retained_reader.subscribe("flood/#", 1);
    let retained_delivered = collect(&mut retained_reader, &retained);
    // Clearing them frees the memory for the next part (a client already
    // connected: at the limit a new one is refused, "server unavailable").
    for n in 0..retained.len() as u32 {
        other_pub.publish0(&format!("flood/{n}"), b"", true);
    }
    other_pub.publish("flood/done", b"", 1, false);

    // 2. A subscriber that reads nothing, and no queue limit: its queue
    // grows until memory_limit stops the publisher.
    let queued = flood(port, "queuer", |_| "deep/t".to_string(), false);
    let served_after_queue = still_serves(&mut other_pub, &mut other_sub, "after-queue");
    let queued_delivered = collect(&mut slow, &queued);
    let alive = b.alive() && still_serves(&mut other_pub, &mut other_sub, "at-the-end");
    Outcome {
        retained_acked: retained.len(),
        retained_delivered,
        queued_acked: queued.len(),
        queued_delivered,
        served_after_retained,
        served_after_queue,
        alive,
        peak_rss_kib: b.rss_kib(),
    }
}

fn report(name: &str, o: &Outcome) {
    eprintln!(
        "32 MiB box, {name}: retained flood acked {} delivered {}; deep queue acked {} \
         delivered {}; served others after each: {} / {}; alive at the end: {}; peak RSS {} KiB",
        o.retained_acked,
        o.retained_delivered,
        o.queued_acked,
        o.queued_delivered,
        o.served_after_retained,
        o.served_after_queue,
        o.alive,
        o.peak_rss_kib
    );
}

#[test]
fn under_32_mib_floods_are_refused_and_nothing_acknowledged_is_lost() {
    let Some(prlimit) = require_tool("prlimit", "limits the broker's address space") else {
        return;
    };
    let reference = PathBuf::from("/usr/sbin/mosquitto");
    if !is_reference() && reference.is_file() {
        // Side by side, for the report only: mosquitto 2.0.11's figures.
        report("Debian mosquitto 2.0.11", &run(&prlimit, &reference));
    }
    let o = run(&prlimit, &broker_bin());
    report(&broker_bin().display().to_string(), &o);
    if is_reference() {
        return;
    }
    let max = FLOOD_MAX as usize;
    assert!(o.retained_acked > 100, "some retained messages were taken");
    assert!(
        o.retained_acked < max,
        "memory_limit stopped the retained flood"
    );
    assert_eq!(
        o.retained_delivered, o.retained_acked,
        "every acknowledged retained message"
    );
    assert!(o.queued_acked > 100, "some queued messages were taken");
    assert!(o.queued_acked < max, "memory_limit stopped the queue");
    assert_eq!(
        o.queued_delivered, o.queued_acked,
        "every acknowledged queued message"
    );
    assert!(
        o.served_after_retained && o.served_after_queue,
        "others were served"
    );
    assert!(o.alive, "the broker is alive and serving at the end");
}
