//! Overload without collateral damage: a stalled subscriber costs only
//! itself, `memory_limit` refuses new stored data instead of new clients,
//! size limits apply at the fixed header, and CONNECT has a deadline.

use std::io::Read;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::*;

/// Publisher pace for the isolation test: well under what either broker
/// forwards on a busy 2-core machine, so the healthy subscriber's rate is
/// the publisher's unless something holds the publisher back.
const MSGS_PER_SEC: u64 = 10_000;
const PAYLOAD: usize = 1000;
const WARM_UP: Duration = Duration::from_millis(1500);
// The measure: the stalled client stays connected for 20 s.
const WINDOW: Duration = Duration::from_secs(20);

/// Counts PUBLISH packets on `stream` until `stop`.
fn count_publishes(mut stream: TcpStream, count: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ok();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 256 * 1024];
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
        let mut used = 0;
        while let Ok(Some(h)) = fixed_header(&buf[used..]) {
            if buf.len() - used < h.total_len() {
                break;
            }
            if buf[used] >> 4 == 3 {
                count.fetch_add(1, Ordering::Relaxed);
            }
            used += h.total_len();
        }
        buf.drain(..used);
    }
}

/// Publishes QoS 0 at `MSGS_PER_SEC` until `stop`; time lost while the
/// broker does not read is not made up afterwards.
fn paced_publisher(port: u16, stop: Arc<AtomicBool>) {
    let mut c = Client::connect(port, "paced-pub", true, 60);
    let msg = publish_bytes("load/x", &[b'x'; PAYLOAD], 0, false, false, 0);
    let batch: Vec<u8> = msg.repeat(100);
    let every = Duration::from_micros(100 * 1_000_000 / MSGS_PER_SEC);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if c.try_send_raw(&batch).is_err() {
            return;
        }
        next += every;
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        } else if now - next > Duration::from_millis(100) {
            next = now;
        }
    }
}

/// A `#` subscriber with a 4 KB receive buffer that never reads, sending
/// PINGREQ to stay connected, until `stop`.
fn stalled_subscriber(port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    let mut c = Client::connect(port, "stalled", true, 2);
    c.subscribe("#", 0);
    if let ClientStream::Tcp(s) = &c.stream {
        let size: libc::c_int = 4096;
        // SAFETY: setsockopt on a socket we own, with a c_int of its size.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let _ = c.try_send_raw(&[0xc0, 0x00]);
            thread::sleep(Duration::from_millis(500));
        }
    })
}

/// Messages a healthy subscriber receives in `WINDOW` (after `WARM_UP`),
/// with or without a stalled `#` subscriber beside it.
fn healthy_receives(stalled: bool) -> u64 {
    let b = Broker::start("");
    let mut healthy = b.client("healthy");
    healthy.subscribe("load/#", 0);
    let ClientStream::Tcp(stream) = &healthy.stream else {
        panic!("tcp");
    };
    let stream = stream.try_clone().expect("clone");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let stall = stalled.then(|| stalled_subscriber(b.port, Arc::clone(&stop)));
    let reader = {
        let (count, stop) = (Arc::clone(&count), Arc::clone(&stop));
        thread::spawn(move || count_publishes(stream, count, stop))
    };
    let publisher = {
        let (port, stop) = (b.port, Arc::clone(&stop));
        thread::spawn(move || paced_publisher(port, stop))
    };
    thread::sleep(WARM_UP);
    let start = count.load(Ordering::Relaxed);
    thread::sleep(WINDOW);
    let got = count.load(Ordering::Relaxed) - start;
    stop.store(true, Ordering::Relaxed);
    for t in [Some(reader), Some(publisher), stall].into_iter().flatten() {
        t.join().expect("thread");
    }
    got
}

#[test]
fn a_stalled_subscriber_does_not_slow_a_healthy_one() {
    let alone = healthy_receives(false);
    let beside_stalled = healthy_receives(true);
    let ratio = beside_stalled as f64 / alone.max(1) as f64;
    eprintln!(
        "healthy subscriber: {alone} alone, {beside_stalled} beside a stalled one ({ratio:.2})"
    );
    assert!(alone > MSGS_PER_SEC, "the publisher ran: {alone}");
    assert!(ratio >= 0.9, "{beside_stalled} of {alone}");
}

/// Publishes retained QoS 1 messages of 10 KB on new topics until the
/// broker refuses one (MQTT 3.1.1: by closing the connection); returns how
/// many it took.
fn flood_retained_until_refused(port: u16) -> u16 {
    let mut c = Client::connect(port, "flooder", true, 60);
    let payload = vec![b'r'; 10_000];
    for n in 1..=2000u16 {
        let bytes = publish_bytes(&format!("flood/{n}"), &payload, 1, true, false, n);
        if c.try_send_raw(&bytes).is_err() {
            return n - 1;
        }
        match c.read_raw(Duration::from_secs(10)) {
            Read1::Packet(p) => assert_eq!(p, ack_bytes(0x40, n)),
            Read1::Closed => return n - 1,
            Read1::Timeout => panic!("no PUBACK for {n}"),
        }
    }
    panic!("memory_limit never reached");
}

#[test]
fn memory_limit_refuses_new_data_not_new_clients_and_recovers() {
    if is_reference() {
        return; // mosquitto's memory_limit fails whatever allocation meets it
    }
    let b = Broker::start("memory_limit 4000000\n");
    let stored = flood_retained_until_refused(b.port);
    assert!(stored > 10, "{stored} retained messages before the limit");
    // At the limit: a new client is accepted, and clearing works.
    let mut cleaner = b.client("cleaner");
    let big = vec![b'y'; 10_000];
    let refused = publish_bytes("other/new", &big, 0, true, false, 0);
    cleaner.send_raw(&refused);
    cleaner.assert_alive();
    for n in 1..=stored {
        cleaner.publish(&format!("flood/{n}"), b"", 1, true);
    }
    cleaner.subscribe("other/#", 0);
    cleaner.expect_nothing_for(Duration::from_millis(200));
    // Memory came back by itself: a third client publishes and subscribes.
    let mut third = b.client("third");
    third.publish("after/kept", &big, 1, true);
    third.subscribe("after/#", 1);
    let p = third.expect_publish();
    assert_eq!(
        (p.topic.as_str(), p.payload.len()),
        ("after/kept", big.len())
    );
    third.publish("after/live", b"hello", 1, false);
    assert_eq!(third.receive_publish().payload, b"hello");
    let mut flood_sub = b.client("flood-sub");
    flood_sub.subscribe("flood/#", 0);
    flood_sub.expect_nothing_for(Duration::from_millis(200));
}

/// The broker's resident memory in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn oversize_publishes_are_skipped_at_their_header_not_buffered() {
    if is_reference() {
        return; // mosquitto buffers each packet whole before checking it
    }
    let b = Broker::start("message_size_limit 1000\nsys_interval 1\n");
    let pid = b.pid().expect("running");
    let announced = 200 * 1024 * 1024;
    let sent_each = 256 * 1024;
    let mut header = vec![0x32];
    put_len(&mut header, announced);
    put_str(&mut header, b"big/topic");
    header.extend_from_slice(&1u16.to_be_bytes());
    let chunk = vec![b'z'; 64 * 1024];
    let mut clients = Vec::new();
    for n in 0..300 {
        let mut c = Client::connect(b.port, &format!("big-{n}"), true, 60);
        c.send_raw(&header);
        for _ in 0..sent_each / chunk.len() {
            c.send_raw(&chunk);
        }
        clients.push(c);
    }
    // The broker has read everything sent (a PINGREQ behind it would be
    // skipped as part of the PUBLISH, so count the bytes it read).
    let expected = 300 * (sent_each + header.len()) as u64;
    let mut sys = b.client("sys");
    sys.subscribe("$SYS/broker/bytes/received", 0);
    let mut got = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while got < expected && Instant::now() < deadline {
        let p = sys.receive_publish();
        got = String::from_utf8_lossy(&p.payload).parse().unwrap_or(0);
    }
    assert!(got >= expected, "{got} of {expected} bytes read");
    let rss = rss_kib(pid);
    eprintln!("broker RSS with 300 oversize PUBLISHes in progress: {rss} KiB");
    assert!(rss < 20 * 1024, "{rss} KiB");
    // The broker still serves everyone else.
    let mut sub = b.client("sub");
    sub.subscribe("ok", 1);
    sub.publish("ok", b"fine", 1, false);
    assert_eq!(sub.receive_publish().payload, b"fine");
}

#[test]
fn clients_trickling_a_connect_are_closed_at_the_deadline() {
    if is_reference() {
        return; // mosquitto has no CONNECT deadline
    }
    let b = Broker::start("connect_timeout 2\n");
    let connect = ConnectOpts::v311("trickle").bytes();
    let mut open: Vec<(TcpStream, Instant)> = (0..500)
        .map(|_| {
            let s = TcpStream::connect_timeout(&addr(b.port), TIMEOUT).expect("connect");
            s.set_nonblocking(true).expect("nonblocking");
            (s, Instant::now())
        })
        .collect();
    let first = open[0].1;
    let mut closed_at = Vec::new();
    let mut sent = 0;
    // Bounded: 100 turns of 50 ms.
    for _ in 0..100 {
        if open.is_empty() {
            break;
        }
        // One byte a second each.
        let due = first.elapsed().as_secs() as usize + 1;
        let byte = if sent < due && sent < connect.len() {
            sent += 1;
            Some(connect[sent - 1])
        } else {
            None
        };
        open.retain_mut(|(s, at)| {
            if let Some(b) = byte {
                let _ = std::io::Write::write(s, &[b]);
            }
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                _ => {}
            }
            closed_at.push(at.elapsed());
            false
        });
        thread::sleep(Duration::from_millis(50));
    }
    assert!(open.is_empty(), "{} still open", open.len());
    let earliest = closed_at.iter().min().expect("some");
    let latest = closed_at.iter().max().expect("some");
    eprintln!("500 trickling clients closed {earliest:?} to {latest:?} after connecting");
    assert!(*earliest >= Duration::from_millis(1900), "{earliest:?}");
    assert!(*latest <= Duration::from_secs(3), "{latest:?}");
    assert_broker_healthy(b.port);
}

#[test]
fn an_unfinished_websocket_upgrade_counts_against_the_connect_deadline() {
    if is_reference() {
        return; // mosquitto has no CONNECT deadline
    }
    let ws_port = free_port();
    let b = Broker::start(&format!(
        "connect_timeout 1\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n"
    ));
    let mut s = TcpStream::connect_timeout(&addr(ws_port), TIMEOUT).expect("connect");
    let start = Instant::now();
    std::io::Write::write_all(&mut s, b"GET /mqtt HTTP/1.1\r\nHost: x\r\n").expect("write");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took <= Duration::from_secs(2),
        "{took:?}"
    );
    assert_broker_healthy(b.port);
}
