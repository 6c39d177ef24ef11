//! The load generator: every client connection of a case on one mio loop.
//!
//! Publishers pipeline up to `window` QoS 1/2 messages (QoS 0: as fast as the
//! socket takes them), subscribers acknowledge at once, every read and write
//! is as big as the kernel allows. Each payload carries (publisher, sequence
//! number, send time), so subscribers can count what arrived, what arrived
//! twice and how late, and the end of a case can say exactly which
//! acknowledged messages never arrived.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use mosquitto_rs::protocol::properties::id;
use mosquitto_rs::protocol::{
    encode_publish, encode_publish_v5, fixed_header, Ack, Connect, FixedHeader, Packet, Properties,
    PropertyValue, ProtocolVersion, PublishHeader, QoS, Subscribe,
};

use crate::stats::{Hist, Seen};

/// One read buffer shared by all connections (plus each connection's
/// unfinished packet).
const SCRATCH: usize = 1 << 20;
/// Largest packet this tool accepts; it only expects small ones.
const MAX_PACKET: usize = SCRATCH / 2;
/// Stop generating for a publisher while this much is still unwritten.
const WBUF_HIGH: usize = 128 * 1024;
/// Reads per connection per turn before others get a go.
const READS_PER_TURN: usize = 8;
/// QoS 0 flow control: a PINGREQ after every batch of PUBLISHes (the QoS 1/2
/// window in messages, at least 64, at most 16 KiB); its PINGRESP proves the
/// broker has read them all. At most `QOS0_PINGS` unanswered, so a publisher
/// keeps the broker busy without burying it under megabytes of socket buffer
/// (that would measure the kernel's queues, not the broker).
const QOS0_BATCH_BYTES: usize = 16 * 1024;
const QOS0_PINGS: usize = 4;
/// During a sending pass, poll again after this many publishers.
const PUBS_PER_POLL: usize = 16;
/// Bytes of bookkeeping at the front of each payload.
pub const HEADER: usize = 16;

pub struct PubSpec {
    pub topic: String,
    /// Messages to send at most.
    pub limit: u32,
    pub retain: bool,
    /// Publish message `n` to `topic/n` (many distinct topics).
    pub topic_per_msg: bool,
}

pub struct SubSpec {
    pub filter: String,
    /// Publisher ids whose every accepted message this subscriber must get.
    pub expects: Vec<usize>,
}

/// What a publisher of an earlier engine sent: lets a later engine (the
/// retained `#` subscriber) check completeness.
#[derive(Clone, Default)]
pub struct PubOutcome {
    pub sent: u32,
    /// Sent but never acknowledged (excluded from what must arrive).
    pub unacked: Vec<u32>,
}

pub struct Plan {
    pub addr: SocketAddr,
    /// MQTT 3.1.1 or 5 (every packet in that version's form; MQTT 5 with
    /// empty property blocks, as a client that uses no properties sends).
    pub version: ProtocolVersion,
    /// MQTT 5: the Receive Maximum every CONNECT announces; 0 sends none
    /// (the spec's default, 65,535).
    pub receive_maximum: u16,
    pub qos: QoS,
    pub payload: usize,
    pub pubs: Vec<PubSpec>,
    pub subs: Vec<SubSpec>,
    pub idle: usize,
    /// QoS 1/2 messages outstanding per publisher.
    pub window: usize,
    /// Messages per second per publisher; 0 = as fast as possible.
    pub rate_per_pub: f64,
    pub run_for: Duration,
    pub setup_max: Duration,
    /// After sending stops: longest wait for acknowledgements and deliveries.
    pub drain_max: Duration,
    /// After sending stops: give up when nothing arrived for this long.
    pub stall: Duration,
    pub connect_concurrency: usize,
    pub client_prefix: String,
    /// Time zero of payload timestamps (shared by engines of one case).
    pub epoch: Instant,
    /// Publishers of an earlier engine, when `pubs` is empty.
    pub external: Vec<PubOutcome>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Pub(usize),
    Sub(usize),
    Idle,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    NotOpened,
    WaitConnAck,
    WaitSubAck,
    Ready,
    Closed,
}

struct Conn {
    stream: Option<TcpStream>,
    role: Role,
    st: St,
    tcp_up: bool,
    readable: bool,
    writable: bool,
    queued: bool,
    /// Bytes of an unfinished packet.
    pending: Vec<u8>,
    wbuf: Vec<u8>,
    wpos: usize,
}

#[derive(Clone, Copy)]
struct Slot {
    pid: u16,
    seq: u32,
    /// 0 sent, 1 accepted (PUBREC), 2 complete.
    stage: u8,
}

struct Pub {
    conn: usize,
    topic: String,
    retain: bool,
    topic_per_msg: bool,
    limit: u32,
    next_seq: u32,
    next_pid: u16,
    inflight: VecDeque<Slot>,
    accepted: u64,
    done_sending: bool,
    /// QoS 0: `next_seq` at each unanswered PINGREQ.
    pings: VecDeque<u32>,
    last_ping_seq: u32,
    next_due_ns: u64,
}

struct Sub {
    filter: String,
    expects: Vec<usize>,
    seen: Vec<Seen>,
    dups: u64,
    subscribed_at: Option<Instant>,
}

/// What one engine run measured.
#[derive(Default, Clone)]
pub struct RunStats {
    pub sent: u64,
    pub accepted: u64,
    pub unacked: u64,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub dups: u64,
    pub foreign: u64,
    /// From the start of sending to the last acknowledgement.
    pub in_secs: f64,
    /// From the start of sending (or the SUBSCRIBE, without publishers) to
    /// the last delivery.
    pub out_secs: f64,
    pub hist: Hist,
    pub errors: u64,
    pub first_error: Option<String>,
}

pub struct Engine {
    poll: Poll,
    events: Events,
    conns: Vec<Conn>,
    pubs: Vec<Pub>,
    subs: Vec<Sub>,
    plan: Plan,
    scratch: Vec<u8>,
    tpl: Vec<u8>,
    /// The empty property block of every MQTT 5 PUBLISH sent.
    no_props: Properties,
    topic_buf: String,
    carry: Vec<usize>,
    work: Vec<usize>,
    next_open: usize,
    connecting: usize,
    ready: usize,
    delivered: u64,
    foreign: u64,
    hist: Hist,
    errors: u64,
    first_error: Option<String>,
    t0: Instant,
    last_rx: Option<Instant>,
    last_accept: Option<Instant>,
    fatal_in_setup: Option<String>,
    in_setup: bool,
}

fn qos_of(q: QoS) -> u8 {
    q.as_u8()
}

impl Engine {
    pub fn new(plan: Plan) -> Result<Engine, String> {
        if plan.payload < HEADER {
            return Err(format!("payload must be at least {HEADER} bytes"));
        }
        let poll = Poll::new().map_err(|e| format!("mio poll: {e}"))?;
        let mut conns = Vec::new();
        let new_conn = |role| Conn {
            stream: None,
            role,
            st: St::NotOpened,
            tcp_up: false,
            readable: false,
            writable: false,
            queued: false,
            pending: Vec::new(),
            wbuf: Vec::new(),
            wpos: 0,
        };
        let mut subs = Vec::new();
        for (i, s) in plan.subs.iter().enumerate() {
            subs.push(Sub {
                filter: s.filter.clone(),
                expects: s.expects.clone(),
                seen: Vec::new(),
                dups: 0,
                subscribed_at: None,
            });
            conns.push(new_conn(Role::Sub(i)));
        }
        let mut pubs = Vec::new();
        for (i, p) in plan.pubs.iter().enumerate() {
            pubs.push(Pub {
                conn: conns.len(),
                topic: p.topic.clone(),
                retain: p.retain,
                topic_per_msg: p.topic_per_msg,
                limit: p.limit,
                next_seq: 0,
                next_pid: 1,
                inflight: VecDeque::new(),
                accepted: 0,
                done_sending: false,
                pings: VecDeque::new(),
                last_ping_seq: 0,
                next_due_ns: 0,
            });
            conns.push(new_conn(Role::Pub(i)));
        }
        for _ in 0..plan.idle {
            conns.push(new_conn(Role::Idle));
        }
        let tpl: Vec<u8> = (0..plan.payload).map(|i| b'a' + (i % 26) as u8).collect();
        let now = Instant::now();
        Ok(Engine {
            poll,
            events: Events::with_capacity(4096),
            conns,
            pubs,
            subs,
            plan,
            scratch: vec![0; SCRATCH],
            tpl,
            no_props: Properties::default(),
            topic_buf: String::new(),
            carry: Vec::new(),
            work: Vec::new(),
            next_open: 0,
            connecting: 0,
            ready: 0,
            delivered: 0,
            foreign: 0,
            hist: Hist::default(),
            errors: 0,
            first_error: None,
            t0: now,
            last_rx: None,
            last_accept: None,
            fatal_in_setup: None,
            in_setup: false,
        })
    }

    fn error(&mut self, ci: usize, why: String) {
        let who = match self.conns.get(ci).map(|c| c.role) {
            Some(Role::Pub(i)) => format!("publisher {i}"),
            Some(Role::Sub(i)) => format!("subscriber {i}"),
            _ => format!("client {ci}"),
        };
        let why = format!("{who}: {why}");
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(why.clone());
        }
        if self.in_setup && self.fatal_in_setup.is_none() {
            self.fatal_in_setup = Some(why);
        }
        if let Some(c) = self.conns.get_mut(ci) {
            if c.st == St::WaitConnAck {
                self.connecting = self.connecting.saturating_sub(1);
            }
            c.st = St::Closed;
            c.readable = false;
            c.wbuf.clear();
            c.wpos = 0;
            if let Some(mut s) = c.stream.take() {
                let _ = self.poll.registry().deregister(&mut s);
            }
        }
    }

    fn client_id(&self, ci: usize) -> String {
        let role = match self.conns[ci].role {
            Role::Pub(i) => format!("p{i}"),
            Role::Sub(i) => format!("s{i}"),
            Role::Idle => format!("i{ci}"),
        };
        format!("{}{role}", self.plan.client_prefix)
    }

    /// Client `ci`'s CONNECT: clean, keep alive 300 s; at MQTT 5 with the
    /// plan's Receive Maximum as its only property.
    fn connect_packet(&self, ci: usize) -> Connect {
        let mut properties = Properties::default();
        if self.plan.version == ProtocolVersion::V5 && self.plan.receive_maximum > 0 {
            properties.0.push((
                id::RECEIVE_MAXIMUM,
                PropertyValue::U16(self.plan.receive_maximum),
            ));
        }
        Connect {
            protocol: self.plan.version,
            bridge: false,
            clean_session: true,
            keep_alive: 300,
            client_id: self.client_id(ci),
            will: None,
            username: None,
            password: None,
            properties,
        }
    }

    fn open_more(&mut self) {
        while self.connecting < self.plan.connect_concurrency && self.next_open < self.conns.len() {
            let ci = self.next_open;
            self.next_open += 1;
            let mut stream = match connect_from(self.plan.addr, ci) {
                Ok(s) => s,
                Err(e) => {
                    self.error(ci, format!("connect {}: {e}", self.plan.addr));
                    continue;
                }
            };
            if let Err(e) = self.poll.registry().register(
                &mut stream,
                Token(ci),
                Interest::READABLE | Interest::WRITABLE,
            ) {
                self.error(ci, format!("register: {e}"));
                continue;
            }
            let connect = self.connect_packet(ci);
            let c = &mut self.conns[ci];
            connect.encode(&mut c.wbuf);
            c.stream = Some(stream);
            c.st = St::WaitConnAck;
            self.connecting += 1;
        }
    }

    /// One poll and the work it brings. Returns the time after polling.
    fn turn(&mut self, timeout: Duration) -> Instant {
        let timeout = if self.carry.is_empty() {
            timeout
        } else {
            Duration::ZERO
        };
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("poll: {e}"));
            }
        }
        let now = Instant::now();
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        for ev in self.events.iter() {
            let ci = ev.token().0;
            let Some(c) = self.conns.get_mut(ci) else {
                continue;
            };
            if ev.is_readable() || ev.is_read_closed() || ev.is_error() {
                c.readable = true;
            }
            if ev.is_writable() || ev.is_error() {
                c.writable = true;
            }
            if !c.queued {
                c.queued = true;
                work.push(ci);
            }
        }
        for ci in self.carry.drain(..) {
            if let Some(c) = self.conns.get_mut(ci) {
                if !c.queued {
                    c.queued = true;
                    work.push(ci);
                }
            }
        }
        for &ci in &work {
            self.conns[ci].queued = false;
            if self.conns[ci].st == St::Closed {
                continue;
            }
            if !self.conns[ci].tcp_up && self.conns[ci].writable {
                self.check_connected(ci);
            }
            if self.conns[ci].readable {
                self.service_read(ci, now);
            }
            self.flush(ci);
        }
        self.work = work;
        now
    }

    fn check_connected(&mut self, ci: usize) {
        let Some(s) = self.conns[ci].stream.as_ref() else {
            return;
        };
        match s.take_error() {
            Ok(Some(e)) | Err(e) => {
                self.error(ci, format!("connect: {e}"));
                return;
            }
            Ok(None) => {}
        }
        match s.peer_addr() {
            Ok(_) => {
                let _ = s.set_nodelay(true);
                self.conns[ci].tcp_up = true;
            }
            Err(e) if e.kind() == io::ErrorKind::NotConnected => {}
            Err(e) => self.error(ci, format!("connect: {e}")),
        }
    }

    fn service_read(&mut self, ci: usize, now: Instant) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut reads = 0;
        loop {
            if reads == READS_PER_TURN {
                self.carry.push(ci);
                break;
            }
            reads += 1;
            let c = &mut self.conns[ci];
            if c.st == St::Closed {
                break;
            }
            let Some(stream) = c.stream.as_mut() else {
                break;
            };
            let keep = c.pending.len();
            scratch[..keep].copy_from_slice(&c.pending);
            match stream.read(&mut scratch[keep..]) {
                Ok(0) => {
                    self.error(ci, "broker closed the connection".into());
                    break;
                }
                Ok(n) => {
                    c.pending.clear();
                    let end = keep + n;
                    let short = end < scratch.len();
                    let used = self.parse(ci, &scratch[..end], now);
                    let c = &mut self.conns[ci];
                    if c.st != St::Closed {
                        if let Some(rest) = scratch.get(used..end) {
                            c.pending.extend_from_slice(rest);
                        }
                    }
                    if short {
                        // Edge-triggered epoll reports new data again.
                        c.readable = false;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.readable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error(ci, format!("read: {e}"));
                    break;
                }
            }
        }
        self.scratch = scratch;
    }

    /// Handles every whole packet in `buf`; returns the bytes consumed.
    fn parse(&mut self, ci: usize, buf: &[u8], now: Instant) -> usize {
        let mut pos = 0;
        while let Some(rest) = buf.get(pos..) {
            let h = match fixed_header(rest) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    self.error(ci, format!("bad packet from broker: {e:?}"));
                    return buf.len();
                }
            };
            if h.total_len() > MAX_PACKET {
                self.error(ci, format!("packet of {} bytes", h.total_len()));
                return buf.len();
            }
            let Some(body) = rest.get(h.header_len..h.total_len()) else {
                break;
            };
            self.handle(ci, &h, body, now);
            if self.conns[ci].st == St::Closed {
                return buf.len();
            }
            pos += h.total_len();
        }
        pos
    }

    fn handle(&mut self, ci: usize, h: &FixedHeader, body: &[u8], now: Instant) {
        if h.packet_type() == 3 {
            self.on_publish(ci, h.byte1, body, now);
            return;
        }
        let v = self.plan.version;
        let packet = match Packet::decode(h, body, v) {
            Ok(p) => p,
            Err(e) => {
                self.error(ci, format!("bad packet from broker: {e:?}"));
                return;
            }
        };
        let role = self.conns[ci].role;
        match packet {
            Packet::ConnAck(ack) => {
                if self.conns[ci].st != St::WaitConnAck {
                    return;
                }
                self.connecting = self.connecting.saturating_sub(1);
                if ack.code != 0 {
                    self.error(ci, format!("CONNACK refused with code {}", ack.code));
                    return;
                }
                if let Role::Sub(si) = role {
                    let sub = Subscribe {
                        packet_id: 1,
                        filters: vec![(self.subs[si].filter.clone(), self.plan.qos)],
                        options: vec![qos_of(self.plan.qos)],
                        properties: Properties::default(),
                    };
                    let c = &mut self.conns[ci];
                    Packet::Subscribe(sub).encode(&mut c.wbuf, v);
                    c.st = St::WaitSubAck;
                    self.subs[si].subscribed_at = Some(Instant::now());
                } else {
                    self.conns[ci].st = St::Ready;
                    self.ready += 1;
                }
            }
            Packet::SubAck(s) => {
                if self.conns[ci].st != St::WaitSubAck {
                    return;
                }
                if s.codes.iter().any(|&c| c >= 0x80) {
                    self.error(ci, "SUBSCRIBE refused".into());
                    return;
                }
                self.conns[ci].st = St::Ready;
                self.ready += 1;
            }
            // MQTT 5: 0x10 "no matching subscribers" is a success; 0x80
            // and above refuse the message (and end a QoS 2 exchange).
            Packet::PubAck(a) | Packet::PubRec(a) if a.reason >= 0x80 => {
                self.error(
                    ci,
                    format!("message refused with reason 0x{:02X}", a.reason),
                );
            }
            Packet::PubAck(a) => {
                if let Role::Pub(pi) = role {
                    self.on_ack(pi, a.packet_id, 2, now);
                }
            }
            Packet::PubRec(a) => {
                if let Role::Pub(pi) = role {
                    self.on_ack(pi, a.packet_id, 1, now);
                }
                Packet::PubRel(Ack::new(a.packet_id)).encode(&mut self.conns[ci].wbuf, v);
            }
            Packet::PubComp(a) => {
                if let Role::Pub(pi) = role {
                    self.on_ack(pi, a.packet_id, 2, now);
                }
            }
            Packet::PubRel(a) => {
                Packet::PubComp(Ack::new(a.packet_id)).encode(&mut self.conns[ci].wbuf, v);
            }
            Packet::Disconnect(reason, _) => {
                self.error(ci, format!("DISCONNECT from broker, reason 0x{reason:02X}"));
            }
            Packet::PingResp => {
                if let Role::Pub(pi) = role {
                    let p = &mut self.pubs[pi];
                    if let Some(seq) = p.pings.pop_front() {
                        p.accepted = u64::from(seq);
                        self.last_accept = Some(now);
                    }
                }
            }
            _ => {}
        }
    }

    /// `stage`: 1 = PUBREC (accepted, QoS 2), 2 = PUBACK/PUBCOMP (complete).
    fn on_ack(&mut self, pi: usize, pid: u16, stage: u8, now: Instant) {
        let p = &mut self.pubs[pi];
        let Some(front) = p.inflight.front() else {
            return;
        };
        let off = (i32::from(pid) - i32::from(front.pid)).rem_euclid(65535) as usize;
        let Some(slot) = p.inflight.get_mut(off) else {
            return;
        };
        if slot.pid != pid || slot.stage >= stage {
            return;
        }
        if slot.stage == 0 {
            p.accepted += 1;
            self.last_accept = Some(now);
        }
        slot.stage = stage;
        while p.inflight.front().is_some_and(|s| s.stage == 2) {
            p.inflight.pop_front();
        }
    }

    fn on_publish(&mut self, ci: usize, byte1: u8, body: &[u8], now: Instant) {
        let v = self.plan.version;
        let Some((qos, pid, payload)) = publish_view(byte1, body, v == ProtocolVersion::V5) else {
            self.error(ci, "bad PUBLISH from broker".into());
            return;
        };
        let c = &mut self.conns[ci];
        match qos {
            1 => Ack::new(pid).encode(&mut c.wbuf, 0x40, v),
            2 => Ack::new(pid).encode(&mut c.wbuf, 0x50, v),
            _ => {}
        }
        let Role::Sub(si) = c.role else {
            self.foreign += 1;
            return;
        };
        let Some(h) = payload.get(..HEADER) else {
            self.foreign += 1;
            return;
        };
        let p = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let seq = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let ts = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        let sent = if self.pubs.is_empty() {
            self.plan.external.get(p).map_or(0, |o| o.sent)
        } else {
            self.pubs.get(p).map_or(0, |o| o.next_seq)
        };
        if seq >= sent {
            self.foreign += 1;
            return;
        }
        let sub = &mut self.subs[si];
        if sub.seen.len() <= p {
            sub.seen.resize(p + 1, Seen::default());
        }
        if sub.seen[p].insert(seq) {
            self.delivered += 1;
            self.last_rx = Some(now);
        } else {
            sub.dups += 1;
        }
        let now_ns = now.saturating_duration_since(self.plan.epoch).as_nanos() as u64;
        if ts <= now_ns {
            self.hist.record(now_ns - ts);
        }
    }

    fn flush(&mut self, ci: usize) {
        let c = &mut self.conns[ci];
        if !c.tcp_up || c.wpos >= c.wbuf.len() || c.st == St::Closed {
            return;
        }
        let Some(stream) = c.stream.as_mut() else {
            return;
        };
        let mut failed = None;
        while c.wpos < c.wbuf.len() {
            match stream.write(&c.wbuf[c.wpos..]) {
                Ok(0) => {
                    failed = Some("write returned 0".to_string());
                    break;
                }
                Ok(n) => c.wpos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.writable = false;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failed = Some(format!("write: {e}"));
                    break;
                }
            }
        }
        if c.wpos == c.wbuf.len() {
            c.wbuf.clear();
            c.wpos = 0;
        } else if c.wpos > WBUF_HIGH {
            c.wbuf.drain(..c.wpos);
            c.wpos = 0;
        }
        if let Some(why) = failed {
            self.error(ci, why);
        }
    }

    /// Connects every client (and subscribes the subscribers). Returns the
    /// time from the first connect to the last CONNACK/SUBACK.
    pub fn setup(&mut self) -> Result<Duration, String> {
        let start = Instant::now();
        let deadline = start + self.plan.setup_max;
        self.in_setup = true;
        loop {
            self.open_more();
            if let Some(e) = self.fatal_in_setup.take() {
                return Err(format!(
                    "setup failed after {}/{} clients: {e}",
                    self.ready,
                    self.conns.len()
                ));
            }
            if self.ready == self.conns.len() {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "setup timed out: {}/{} clients ready after {:?}",
                    self.ready,
                    self.conns.len(),
                    self.plan.setup_max
                ));
            }
            self.turn(Duration::from_millis(5));
        }
        self.in_setup = false;
        Ok(start.elapsed())
    }

    /// Keeps the connections serviced (pings, acks) for `d` without sending.
    pub fn idle(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.turn(Duration::from_millis(10));
        }
    }

    fn emit(&mut self, pi: usize, now: Instant, run_end: Instant) {
        let qos = self.plan.qos;
        let v5 = self.plan.version == ProtocolVersion::V5;
        let window = self.plan.window;
        let interval_ns = if self.plan.rate_per_pub > 0.0 {
            (1e9 / self.plan.rate_per_pub) as u64
        } else {
            0
        };
        let now_ns = now.saturating_duration_since(self.plan.epoch).as_nanos() as u64;
        let qos0_batch =
            (QOS0_BATCH_BYTES / (self.plan.payload + 40)).clamp(1, window.max(64)) as u32;
        let p = &mut self.pubs[pi];
        let c = &mut self.conns[p.conn];
        if c.st != St::Ready || p.done_sending {
            return;
        }
        loop {
            if p.next_seq >= p.limit || now >= run_end {
                p.done_sending = true;
                if qos == QoS::AtMostOnce {
                    c.wbuf.extend_from_slice(&[0xC0, 0]);
                    p.pings.push_back(p.next_seq);
                }
                break;
            }
            if qos == QoS::AtMostOnce && p.next_seq - p.last_ping_seq >= qos0_batch {
                if p.pings.len() >= QOS0_PINGS {
                    break;
                }
                c.wbuf.extend_from_slice(&[0xC0, 0]);
                p.pings.push_back(p.next_seq);
                p.last_ping_seq = p.next_seq;
            }
            if c.wbuf.len() - c.wpos >= WBUF_HIGH {
                break;
            }
            if qos != QoS::AtMostOnce && p.inflight.len() >= window {
                break;
            }
            if interval_ns > 0 {
                if p.next_due_ns > now_ns {
                    break;
                }
                // Behind by more than 100 ms (a stall): skip, don't burst.
                p.next_due_ns = p.next_due_ns.max(now_ns.saturating_sub(100_000_000)) + interval_ns;
            }
            let seq = p.next_seq;
            p.next_seq += 1;
            self.tpl[0..4].copy_from_slice(&(pi as u32).to_le_bytes());
            self.tpl[4..8].copy_from_slice(&seq.to_le_bytes());
            self.tpl[8..16].copy_from_slice(&now_ns.to_le_bytes());
            let mut pid = 0;
            if qos != QoS::AtMostOnce {
                pid = p.next_pid;
                p.next_pid = if pid == 65535 { 1 } else { pid + 1 };
                p.inflight.push_back(Slot { pid, seq, stage: 0 });
            }
            let topic = if p.topic_per_msg {
                use std::fmt::Write as _;
                self.topic_buf.clear();
                let _ = write!(self.topic_buf, "{}/{seq}", p.topic);
                &self.topic_buf
            } else {
                &p.topic
            };
            let head = PublishHeader {
                topic,
                qos,
                retain: p.retain,
                dup: false,
                packet_id: pid,
            };
            if v5 {
                encode_publish_v5(&mut c.wbuf, &head, &self.no_props, &self.tpl);
            } else {
                encode_publish(&mut c.wbuf, &head, &self.tpl);
            }
        }
    }

    fn pub_finished(&self, p: &Pub) -> bool {
        if self.conns[p.conn].st == St::Closed {
            return true;
        }
        p.done_sending && p.inflight.is_empty() && p.pings.is_empty()
    }

    fn expected(&self) -> u64 {
        let mut total = 0;
        for s in &self.subs {
            for &p in &s.expects {
                total += if self.pubs.is_empty() {
                    self.plan
                        .external
                        .get(p)
                        .map_or(0, |o| u64::from(o.sent) - o.unacked.len() as u64)
                } else {
                    self.pubs.get(p).map_or(0, |o| o.accepted)
                };
            }
        }
        total
    }

    /// Publishes for `run_for` (or until every limit is reached), then waits
    /// for acknowledgements and deliveries.
    pub fn run(&mut self) -> RunStats {
        let t0 = Instant::now();
        self.t0 = t0;
        let run_end = t0 + self.plan.run_for;
        let hard_end = run_end + self.plan.drain_max;
        let mut sending_done_at: Option<Instant> = None;
        let mut now = t0;
        if self.plan.rate_per_pub > 0.0 {
            // Spread the publishers evenly over one interval.
            let t0_ns = t0.saturating_duration_since(self.plan.epoch).as_nanos() as u64;
            let interval = 1e9 / self.plan.rate_per_pub;
            let n = self.pubs.len().max(1) as f64;
            for (i, p) in self.pubs.iter_mut().enumerate() {
                p.next_due_ns = t0_ns + (interval * i as f64 / n) as u64;
            }
        }
        loop {
            for pi in 0..self.pubs.len() {
                self.emit(pi, now, run_end);
                let ci = self.pubs[pi].conn;
                if self.conns[ci].writable {
                    self.flush(ci);
                }
                // With hundreds of publishers one pass takes a while; a
                // subscriber's acknowledgements must not wait for all of it
                // (its in-flight window makes our reaction time its speed).
                if pi % PUBS_PER_POLL == PUBS_PER_POLL - 1 {
                    now = self.turn(Duration::ZERO);
                }
            }
            let all_done = self.pubs.iter().all(|p| self.pub_finished(p));
            if all_done {
                let since = *sending_done_at.get_or_insert(now);
                if self.delivered >= self.expected() {
                    break;
                }
                let quiet = now.saturating_duration_since(self.last_rx.unwrap_or(since).max(since));
                if quiet >= self.plan.stall {
                    break;
                }
            }
            if now >= hard_end {
                break;
            }
            let timeout = if self.plan.rate_per_pub > 0.0 {
                Duration::from_millis(1)
            } else {
                Duration::from_millis(5)
            };
            now = self.turn(timeout);
        }
        self.stats()
    }

    /// What every publisher sent, for a later engine's subscriber.
    pub fn outcomes(&self) -> Vec<PubOutcome> {
        self.pubs
            .iter()
            .map(|p| PubOutcome {
                sent: p.next_seq,
                unacked: self.unacked_of(p),
            })
            .collect()
    }

    fn unacked_of(&self, p: &Pub) -> Vec<u32> {
        if self.plan.qos == QoS::AtMostOnce {
            // Not known to be read by the broker: not accepted.
            return (p.accepted as u32..p.next_seq).collect();
        }
        p.inflight
            .iter()
            .filter(|s| s.stage == 0)
            .map(|s| s.seq)
            .collect()
    }

    fn stats(&self) -> RunStats {
        let outcomes = if self.pubs.is_empty() {
            self.plan.external.clone()
        } else {
            self.outcomes()
        };
        let mut lost = 0;
        let mut dups = 0;
        for s in &self.subs {
            dups += s.dups;
            for &p in &s.expects {
                let Some(o) = outcomes.get(p) else {
                    continue;
                };
                let empty = Seen::default();
                let seen = s.seen.get(p).unwrap_or(&empty);
                let must = u64::from(o.sent) - o.unacked.len() as u64;
                let got_unacked = o.unacked.iter().filter(|&&q| seen.contains(q)).count() as u64;
                lost += must.saturating_sub(seen.count() - got_unacked);
            }
        }
        let sent: u64 = outcomes.iter().map(|o| u64::from(o.sent)).sum();
        let unacked: u64 = outcomes.iter().map(|o| o.unacked.len() as u64).sum();
        let out_start = if self.pubs.is_empty() {
            self.subs
                .iter()
                .filter_map(|s| s.subscribed_at)
                .min()
                .unwrap_or(self.t0)
        } else {
            self.t0
        };
        RunStats {
            sent,
            accepted: sent - unacked,
            unacked,
            expected: self.expected(),
            delivered: self.delivered,
            lost,
            dups,
            foreign: self.foreign,
            in_secs: self
                .last_accept
                .map_or(0.0, |t| t.saturating_duration_since(self.t0).as_secs_f64()),
            out_secs: self.last_rx.map_or(0.0, |t| {
                t.saturating_duration_since(out_start).as_secs_f64()
            }),
            hist: self.hist.clone(),
            errors: self.errors,
            first_error: self.first_error.clone(),
        }
    }

    /// Sends DISCONNECT on every open connection and closes them.
    pub fn close(mut self) {
        for ci in 0..self.conns.len() {
            let c = &mut self.conns[ci];
            if c.tcp_up && c.st != St::Closed {
                c.wbuf.extend_from_slice(&[0xE0, 0]);
                c.writable = true;
                self.flush(ci);
            }
        }
    }
}

/// PUBLISH without copying: (QoS, packet id, payload).
fn publish_view(byte1: u8, body: &[u8], v5: bool) -> Option<(u8, u16, &[u8])> {
    let qos = (byte1 >> 1) & 0x03;
    if qos == 3 {
        return None;
    }
    let tlen = usize::from(u16::from_be_bytes([*body.first()?, *body.get(1)?]));
    let mut pos = 2 + tlen;
    let mut pid = 0;
    if qos > 0 {
        pid = u16::from_be_bytes([*body.get(pos)?, *body.get(pos + 1)?]);
        pos += 2;
    }
    if v5 {
        // The property block is skipped whole: the tool reads none.
        let (len, used) = varint(body.get(pos..)?)?;
        pos = pos.checked_add(used)?.checked_add(len)?;
    }
    Some((qos, pid, body.get(pos..)?))
}

/// An MQTT variable byte integer at the start of `b`: (value, bytes used);
/// None when truncated or longer than 4 bytes.
fn varint(b: &[u8]) -> Option<(usize, usize)> {
    let mut value = 0usize;
    for (i, &byte) in b.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// Clients per source address: one loopback address has about 28,000
/// ephemeral ports (Linux's default range), so client `ci` binds
/// 127.0.0.(2 + ci / PER_SOURCE) once there are more (the whole 127/8 is
/// loopback).
const PER_SOURCE: usize = 20_000;

/// A non-blocking connect to `to` from the source address of client `ci`.
fn connect_from(to: SocketAddr, ci: usize) -> io::Result<TcpStream> {
    let SocketAddr::V4(v4) = to else {
        return TcpStream::connect(to);
    };
    if ci < PER_SOURCE || !v4.ip().is_loopback() {
        return TcpStream::connect(to);
    }
    let host = u8::try_from(2 + ci / PER_SOURCE)
        .map_err(|_| io::Error::other("too many clients for the loopback sources"))?;
    let sock = raw_socket_bound(host)?;
    // SAFETY: `sock` is a fresh, bound, non-blocking TCP socket that we own.
    let std_stream = unsafe { <std::net::TcpStream as std::os::fd::FromRawFd>::from_raw_fd(sock) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: v4.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*v4.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in of the size given.
    let rc = unsafe {
        libc::connect(
            std::os::fd::AsRawFd::as_raw_fd(&std_stream),
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINPROGRESS) {
            return Err(e);
        }
    }
    Ok(TcpStream::from_std(std_stream))
}

/// A non-blocking TCP socket bound to 127.0.0.HOST, any port.
fn raw_socket_bound(host: u8) -> io::Result<std::os::fd::RawFd> {
    // SAFETY: plain socket(2); the descriptor is checked below.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(std::net::Ipv4Addr::new(127, 0, 0, host)).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid sockaddr_in of the size given, on our descriptor.
    let rc = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing the descriptor we opened and nobody else holds.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_view_parses_and_rejects() {
        let mut out = Vec::new();
        let head = PublishHeader {
            topic: "a/b",
            qos: QoS::AtLeastOnce,
            retain: false,
            dup: false,
            packet_id: 7,
        };
        encode_publish(&mut out, &head, b"xyz");
        let h = fixed_header(&out).unwrap().unwrap();
        let (q, pid, pl) = publish_view(h.byte1, &out[h.header_len..], false).unwrap();
        assert_eq!((q, pid, pl), (1, 7, &b"xyz"[..]));
        assert!(publish_view(0x36, &out[h.header_len..], false).is_none());
        assert!(publish_view(0x32, &[0, 9, b'a'], false).is_none());
        assert!(publish_view(0x32, &[0], false).is_none());
    }

    const V5: ProtocolVersion = ProtocolVersion::V5;

    #[test]
    fn v5_publish_has_an_empty_property_block_and_is_read_back() {
        let mut out = Vec::new();
        let head = PublishHeader {
            topic: "a/b",
            qos: QoS::AtLeastOnce,
            retain: false,
            dup: false,
            packet_id: 7,
        };
        encode_publish_v5(&mut out, &head, &Properties::default(), b"xyz");
        assert_eq!(
            out,
            [0x32, 11, 0, 3, b'a', b'/', b'b', 0, 7, 0, b'x', b'y', b'z']
        );
        let (q, pid, pl) = publish_view(out[0], &out[2..], true).unwrap();
        assert_eq!((q, pid, pl), (1, 7, &b"xyz"[..]));
        // QoS 0: no packet id, then the property length.
        assert_eq!(
            publish_view(0x30, &[0, 1, b't', 0, b'p'], true),
            Some((0, 0, &b"p"[..]))
        );
    }

    #[test]
    fn v5_publish_properties_are_skipped_and_bad_blocks_refused() {
        // Topic "t", packet id 9, content type "ct" and message expiry 60,
        // then the payload.
        let mut body = vec![
            0, 1, b't', 0, 9, 10, 0x03, 0, 2, b'c', b't', 0x02, 0, 0, 0, 60,
        ];
        body.extend_from_slice(b"pl");
        assert_eq!(publish_view(0x34, &body, true), Some((2, 9, &b"pl"[..])));
        // Read as 3.1.1, the property block would be payload.
        assert_eq!(
            publish_view(0x34, &body, false).map(|v| v.2.len()),
            Some(13)
        );
        // A property length past the end, a varint cut short, one of 5 bytes.
        assert!(publish_view(0x30, &[0, 1, b't', 20, 1], true).is_none());
        assert!(publish_view(0x30, &[0, 1, b't', 0x80], true).is_none());
        assert!(publish_view(0x30, &[0, 1, b't', 0x80, 0x80, 0x80, 0x80, 0], true).is_none());
        assert_eq!(varint(&[0xC1, 0x02]), Some((321, 2)));
        assert_eq!(varint(&[0xFF, 0xFF, 0xFF, 0x7F]), Some((268_435_455, 4)));
    }

    fn engine(version: ProtocolVersion) -> Engine {
        let epoch = Instant::now();
        Engine::new(Plan {
            addr: SocketAddr::from(([127, 0, 0, 1], 1)),
            version,
            receive_maximum: 20,
            qos: QoS::ExactlyOnce,
            payload: HEADER,
            pubs: vec![PubSpec {
                topic: "t".into(),
                limit: 1,
                retain: false,
                topic_per_msg: false,
            }],
            subs: vec![SubSpec {
                filter: "f".into(),
                expects: vec![0],
            }],
            idle: 0,
            window: 1,
            rate_per_pub: 0.0,
            run_for: Duration::ZERO,
            setup_max: Duration::ZERO,
            drain_max: Duration::ZERO,
            stall: Duration::ZERO,
            connect_concurrency: 1,
            client_prefix: "c".into(),
            epoch,
            external: Vec::new(),
        })
        .unwrap()
    }

    /// Feeds `bytes` (whole packets) to client `ci` as if read from the broker.
    fn feed(e: &mut Engine, ci: usize, bytes: &[u8]) {
        let used = e.parse(ci, bytes, Instant::now());
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn v5_connect_has_level_5_and_the_receive_maximum() {
        let mut e = engine(V5);
        let mut out = Vec::new();
        e.connect_packet(0).encode(&mut out);
        // Level 5, clean start, keep alive 300, properties: receive
        // maximum 20; client id "cs0".
        let want = [
            0x10, 19, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0x01, 0x2C, 3, 0x21, 0, 20, 0, 3,
            b'c', b's', b'0',
        ];
        assert_eq!(out, want);
        // Receive maximum 0: an empty property block.
        e.plan.receive_maximum = 0;
        out.clear();
        e.connect_packet(0).encode(&mut out);
        assert_eq!(
            out[1..13],
            [16, 0, 4, b'M', b'Q', b'T', b'T', 5, 0x02, 0x01, 0x2C, 0]
        );
        // 3.1.1: level 4, no property block.
        e.plan.version = ProtocolVersion::V311;
        out.clear();
        e.connect_packet(0).encode(&mut out);
        assert_eq!(
            out[..12],
            [0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0x01, 0x2C]
        );
    }

    #[test]
    fn v5_connack_with_properties_leads_to_a_v5_subscribe() {
        let mut e = engine(V5);
        e.conns[0].st = St::WaitConnAck;
        e.connecting = 1;
        // CONNACK, reason 0, properties: receive maximum 20, topic alias
        // maximum 10 (what mosquitto sends).
        feed(&mut e, 0, &[0x20, 9, 0, 0, 6, 0x21, 0, 20, 0x22, 0, 10]);
        assert_eq!(e.conns[0].st, St::WaitSubAck);
        // SUBSCRIBE id 1, no properties, "f" at QoS 2.
        assert_eq!(e.conns[0].wbuf, [0x82, 7, 0, 1, 0, 0, 1, b'f', 2]);
        // SUBACK with a property block, granted QoS 2.
        feed(&mut e, 0, &[0x90, 4, 0, 1, 0, 2]);
        assert_eq!(e.conns[0].st, St::Ready);
        assert_eq!(e.errors, 0);
    }

    #[test]
    fn v5_acks_use_the_short_form_and_refusals_count_as_errors() {
        let mut e = engine(V5);
        // Subscriber: a QoS 2 PUBLISH with a property (subscription id 1)
        // gets a 4-byte PUBREC, and its PUBREL (reason 0) a 4-byte PUBCOMP.
        let mut publish = vec![0x34, 0, 0, 1, b'f', 0, 5, 2, 0x0B, 1];
        publish.extend_from_slice(&[0; HEADER]);
        publish[1] = (publish.len() - 2) as u8;
        feed(&mut e, 0, &publish);
        feed(&mut e, 0, &[0x62, 2, 0, 5]);
        assert_eq!(e.conns[0].wbuf, [0x50, 2, 0, 5, 0x70, 2, 0, 5]);
        // Publisher: PUBREC 0x10 (no matching subscribers) is a success and
        // gets a plain PUBREL; PUBREC 0x80 is an error.
        feed(&mut e, 1, &[0x50, 3, 0, 1, 0x10]);
        assert_eq!(e.conns[1].wbuf, [0x62, 2, 0, 1]);
        assert_eq!(e.errors, 0);
        feed(&mut e, 1, &[0x50, 3, 0, 2, 0x80]);
        assert_eq!(e.errors, 1);
        assert!(e.first_error.as_deref().unwrap().contains("0x80"));
    }

    #[test]
    fn v311_acks_stay_as_they_were() {
        let mut e = engine(ProtocolVersion::V311);
        let mut publish = vec![0x32, 0, 0, 1, b'f', 0, 5];
        publish.extend_from_slice(&[0; HEADER]);
        publish[1] = (publish.len() - 2) as u8;
        feed(&mut e, 0, &publish);
        assert_eq!(e.conns[0].wbuf, [0x40, 2, 0, 5]);
    }
}
