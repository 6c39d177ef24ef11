//! The scenarios, named after EMQ's open MQTT benchmark, turned into engine
//! plans, and what each one measures.

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mosquitto_rs::protocol::{ProtocolVersion, QoS};

use crate::broker::Running;
use crate::engine::{Engine, Plan, PubOutcome, PubSpec, RunStats, SubSpec};
use crate::procfs;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scenario {
    P2p,
    FanOut,
    FanIn,
    Latency,
    Connections,
    Clients,
    Retained,
    Overload,
    Stalled,
}

pub const ALL: [Scenario; 9] = [
    Scenario::P2p,
    Scenario::FanOut,
    Scenario::FanIn,
    Scenario::Latency,
    Scenario::Connections,
    Scenario::Clients,
    Scenario::Retained,
    Scenario::Overload,
    Scenario::Stalled,
];

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::P2p => "p2p",
            Scenario::FanOut => "fan-out",
            Scenario::FanIn => "fan-in",
            Scenario::Latency => "latency",
            Scenario::Connections => "connections",
            Scenario::Clients => "clients",
            Scenario::Retained => "retained",
            Scenario::Overload => "overload",
            Scenario::Stalled => "stalled-sub",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        let s = s.trim().to_ascii_lowercase().replace(['-', '_'], "");
        ALL.into_iter().find(|sc| sc.name().replace('-', "") == s)
    }
}

/// Sizes of every scenario; `--quick` shrinks them.
#[derive(Clone, Debug)]
pub struct Opts {
    pub quick: bool,
    /// Sending phase of the throughput scenarios.
    pub duration: Duration,
    pub window: usize,
    /// What a broker may have in flight to each client: mosquitto-style
    /// brokers get `max_inflight_messages` set to it (rumqttd's is fixed at
    /// 100). 20 by default, mosquitto's.
    pub inflight: u16,
    /// MQTT 5 clients' Receive Maximum (0: none sent). `inflight` by
    /// default, so the broker keeps as many messages in flight to each as it
    /// does to a 3.1.1 client.
    pub receive_maximum: u16,
    /// In-flight window of the QoS 2 overload publishers (above mosquitto's 20).
    pub overload_window: usize,
    pub pairs: usize,
    pub fanout_pubs: usize,
    pub fanout_subs: usize,
    pub fanin_pubs: usize,
    pub latency_pairs: usize,
    /// Total messages per second of the latency scenario.
    pub latency_rate: f64,
    pub connections: usize,
    /// The clients scenario: this many publishers at `client_rate` msg/s each.
    pub clients: usize,
    pub client_rate: f64,
    pub retained: u32,
    pub overload_pubs: usize,
    pub overload_msgs: u32,
    /// Healthy subscribers beside the stalled one.
    pub stalled_healthy: usize,
    /// Messages per publisher at most in throughput scenarios.
    pub msg_limit: u32,
}

impl Opts {
    pub fn new(quick: bool) -> Opts {
        if quick {
            Opts {
                quick,
                duration: Duration::from_millis(300),
                window: 20,
                inflight: 20,
                receive_maximum: 20,
                overload_window: 100,
                pairs: 10,
                fanout_pubs: 2,
                fanout_subs: 50,
                fanin_pubs: 20,
                latency_pairs: 10,
                latency_rate: 1000.0,
                connections: 500,
                clients: 500,
                client_rate: 1.0,
                retained: 5_000,
                overload_pubs: 4,
                overload_msgs: 10_000,
                stalled_healthy: 4,
                msg_limit: 5_000_000,
            }
        } else {
            Opts {
                quick,
                duration: Duration::from_secs(5),
                window: 20,
                inflight: 20,
                receive_maximum: 20,
                overload_window: 100,
                pairs: 100,
                fanout_pubs: 4,
                fanout_subs: 500,
                fanin_pubs: 200,
                latency_pairs: 50,
                latency_rate: 10_000.0,
                connections: 5_000,
                clients: 10_000,
                client_rate: 1.0,
                retained: 100_000,
                overload_pubs: 4,
                overload_msgs: 100_000,
                stalled_healthy: 4,
                msg_limit: 50_000_000,
            }
        }
    }
}

/// The total rate of a latency case.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// Not a latency case, or `--latency-rate`'s.
    Default,
    /// Messages per second in total.
    Fixed(f64),
    /// This fraction of the baseline broker's p2p rate (same QoS and
    /// payload) measured earlier in the same run.
    OfBaseline(f64),
}

#[derive(Clone, Copy, Debug)]
pub struct Case {
    pub scenario: Scenario,
    pub qos: QoS,
    pub payload: usize,
    pub rate: Rate,
    /// What the tool's clients speak (the broker is the same either way).
    pub version: ProtocolVersion,
}

/// One figure a case reports, and how to judge the ratio of two brokers.
#[derive(Clone, Copy, Debug)]
pub struct Metric {
    pub name: &'static str,
    pub higher_better: bool,
    /// Target ratio first/second (≥ when higher is better, else ≤).
    pub target: Option<f64>,
    /// Figures depend on QoS/payload (false: print "-" in those columns).
    pub per_message: bool,
}

const fn m(name: &'static str, higher_better: bool, target: Option<f64>) -> Metric {
    Metric {
        name,
        higher_better,
        target,
        per_message: true,
    }
}

impl Case {
    pub fn metrics(&self) -> Vec<Metric> {
        match self.scenario {
            Scenario::P2p | Scenario::FanOut | Scenario::FanIn => {
                vec![m("out msg/s", true, Some(2.0))]
            }
            Scenario::Latency => vec![
                m("p99 latency µs", false, Some(0.5)),
                m("p50 latency µs", false, None),
                m("max latency µs", false, None),
            ],
            Scenario::Connections => vec![
                Metric {
                    per_message: false,
                    ..m("RSS B/idle conn", false, Some(0.5))
                },
                Metric {
                    per_message: false,
                    ..m("connects/s", true, None)
                },
            ],
            Scenario::Clients => vec![
                m("p99 latency µs", false, Some(0.5)),
                m("broker CPU %", false, None),
                m("RSS MiB", false, None),
            ],
            Scenario::Retained => vec![m("`#` retained msg/s", true, Some(2.0))],
            Scenario::Overload => vec![m("out msg/s", true, None)],
            Scenario::Stalled => vec![m("healthy msg/s", true, Some(1.0))],
        }
    }

    /// Whether messages are delivered, so loss/dup/CPU efficiency apply.
    pub fn carries_messages(&self) -> bool {
        self.scenario != Scenario::Connections
    }
}

/// Everything measured for one case against one broker.
#[derive(Clone, Default)]
pub struct Measure {
    pub values: Vec<f64>,
    pub run: RunStats,
    pub in_rate: f64,
    pub out_rate: f64,
    /// Broker CPU seconds during the measured phase.
    pub cpu_s: f64,
    pub wall_s: f64,
    /// This tool's CPU seconds in the same phase.
    pub tool_cpu_s: f64,
    pub rss_kb: u64,
    pub hwm_kb: u64,
    pub note: String,
}

impl Measure {
    /// Deliveries per broker CPU-second.
    pub fn per_cpu(&self) -> Option<f64> {
        (self.cpu_s > 0.0).then(|| self.run.delivered as f64 / self.cpu_s)
    }
}

struct Probe {
    pid: Option<String>,
    cpu0: f64,
    tool0: f64,
    wall0: Instant,
}

impl Probe {
    fn start(pid: Option<String>) -> Probe {
        let cpu0 = pid.as_deref().and_then(procfs::cpu_seconds).unwrap_or(0.0);
        Probe {
            pid,
            cpu0,
            tool0: procfs::cpu_seconds("self").unwrap_or(0.0),
            wall0: Instant::now(),
        }
    }

    fn finish(&self, m: &mut Measure) {
        m.wall_s = self.wall0.elapsed().as_secs_f64();
        m.tool_cpu_s = procfs::cpu_seconds("self").unwrap_or(0.0) - self.tool0;
        if let Some(pid) = self.pid.as_deref() {
            m.cpu_s = procfs::cpu_seconds(pid).unwrap_or(self.cpu0) - self.cpu0;
            m.rss_kb = procfs::rss_kb(pid).unwrap_or(0);
            m.hwm_kb = procfs::hwm_kb(pid).unwrap_or(0);
        }
    }
}

struct Ctx<'a> {
    case: Case,
    opts: &'a Opts,
    broker: &'a Running,
    pfx: String,
    client_prefix: String,
    epoch: Instant,
}

impl Ctx<'_> {
    fn plan(&self) -> Plan {
        Plan {
            addr: self.broker.addr,
            version: self.case.version,
            receive_maximum: self.opts.receive_maximum,
            qos: self.case.qos,
            payload: self.case.payload,
            pubs: Vec::new(),
            subs: Vec::new(),
            idle: 0,
            window: self.opts.window,
            rate_per_pub: 0.0,
            run_for: self.opts.duration,
            setup_max: Duration::from_secs(30),
            drain_max: Duration::from_secs(if self.opts.quick { 3 } else { 10 }),
            stall: Duration::from_secs(if self.opts.quick { 1 } else { 2 }),
            // Handshakes in progress at once; above the broker's listen
            // backlog (mosquitto: 100) SYNs are dropped and retried after 1 s.
            connect_concurrency: 32,
            client_prefix: self.client_prefix.clone(),
            epoch: self.epoch,
            external: Vec::new(),
        }
    }

    fn pub_spec(&self, topic: String, limit: u32) -> PubSpec {
        PubSpec {
            topic,
            limit,
            retain: false,
            topic_per_msg: false,
        }
    }
}

/// Runs one case against one broker.
pub fn run_case(case: Case, opts: &Opts, broker: &Running, nonce: &str) -> Result<Measure, String> {
    let ctx = Ctx {
        case,
        opts,
        broker,
        pfx: format!("bench/{nonce}/"),
        client_prefix: format!("mb{nonce}"),
        epoch: Instant::now(),
    };
    match case.scenario {
        Scenario::P2p => {
            let mut plan = ctx.plan();
            for i in 0..opts.pairs {
                let t = format!("{}p2p/{i}", ctx.pfx);
                plan.subs.push(SubSpec {
                    filter: t.clone(),
                    expects: vec![i],
                });
                plan.pubs.push(ctx.pub_spec(t, opts.msg_limit));
            }
            flow(&ctx, plan)
        }
        Scenario::Latency => {
            let mut plan = ctx.plan();
            let n = opts.latency_pairs.max(1);
            let total = match case.rate {
                Rate::Fixed(r) => r,
                _ => opts.latency_rate,
            };
            plan.rate_per_pub = total / n as f64;
            for i in 0..n {
                let t = format!("{}lat/{i}", ctx.pfx);
                plan.subs.push(SubSpec {
                    filter: t.clone(),
                    expects: vec![i],
                });
                plan.pubs.push(ctx.pub_spec(t, opts.msg_limit));
            }
            flow(&ctx, plan)
        }
        Scenario::FanOut => {
            let mut plan = ctx.plan();
            let t = format!("{}fanout", ctx.pfx);
            let pubs: Vec<usize> = (0..opts.fanout_pubs).collect();
            for _ in 0..opts.fanout_subs {
                plan.subs.push(SubSpec {
                    filter: t.clone(),
                    expects: pubs.clone(),
                });
            }
            for _ in &pubs {
                plan.pubs.push(ctx.pub_spec(t.clone(), opts.msg_limit));
            }
            flow(&ctx, plan)
        }
        Scenario::FanIn | Scenario::Overload => {
            let mut plan = ctx.plan();
            let (n, limit, tag) = if case.scenario == Scenario::FanIn {
                (opts.fanin_pubs, opts.msg_limit, "fanin")
            } else {
                // Bounded by count, not time.
                plan.run_for = Duration::from_secs(if opts.quick { 20 } else { 120 });
                if case.qos == QoS::ExactlyOnce {
                    plan.window = opts.overload_window;
                }
                (opts.overload_pubs, opts.overload_msgs, "ovl")
            };
            plan.subs.push(SubSpec {
                filter: format!("{}{tag}/+", ctx.pfx),
                expects: (0..n).collect(),
            });
            for i in 0..n {
                plan.pubs
                    .push(ctx.pub_spec(format!("{}{tag}/{i}", ctx.pfx), limit));
            }
            flow(&ctx, plan)
        }
        Scenario::Clients => {
            // Many clients, each publishing slowly on its own topic, one
            // subscriber for them all.
            let mut plan = ctx.plan();
            let n = opts.clients;
            plan.rate_per_pub = opts.client_rate;
            plan.run_for = opts
                .duration
                .max(Duration::from_secs(if opts.quick { 1 } else { 10 }));
            plan.setup_max = Duration::from_secs(120);
            plan.subs.push(SubSpec {
                filter: format!("{}cl/+", ctx.pfx),
                expects: (0..n).collect(),
            });
            for i in 0..n {
                plan.pubs
                    .push(ctx.pub_spec(format!("{}cl/{i}", ctx.pfx), opts.msg_limit));
            }
            flow(&ctx, plan)
        }
        Scenario::Connections => connections(&ctx),
        Scenario::Retained => retained(&ctx),
        Scenario::Stalled => stalled(&ctx),
    }
}

/// One publisher, `stalled_healthy` subscribers that read, and a `#`
/// subscriber that stops reading (4 KB receive buffer, PINGREQ every
/// second): what the healthy ones receive.
fn stalled(ctx: &Ctx<'_>) -> Result<Measure, String> {
    let topic = format!("{}stall/0", ctx.pfx);
    let stop = Arc::new(AtomicBool::new(false));
    let staller = stalled_client(ctx, &format!("{}#", ctx.pfx), Arc::clone(&stop))?;
    let mut plan = ctx.plan();
    for _ in 0..ctx.opts.stalled_healthy {
        plan.subs.push(SubSpec {
            filter: topic.clone(),
            expects: vec![0],
        });
    }
    plan.pubs.push(ctx.pub_spec(topic, ctx.opts.msg_limit));
    let result = flow(ctx, plan);
    stop.store(true, Ordering::Relaxed);
    let _ = staller.join();
    result
}

/// Connects and subscribes a client that then never reads; a thread keeps
/// it connected with PINGREQs until `stop`.
fn stalled_client(
    ctx: &Ctx<'_>,
    filter: &str,
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let err = |e: std::io::Error| format!("stalled subscriber: {e}");
    let mut s = StdTcp::connect_timeout(&ctx.broker.addr, Duration::from_secs(5)).map_err(err)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(err)?;
    let id = format!("{}stalled", ctx.client_prefix);
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&(id.len() as u16).to_be_bytes());
    body.extend_from_slice(id.as_bytes());
    let mut out = vec![0x10, body.len() as u8];
    out.extend_from_slice(&body);
    let mut sub = vec![0, 1];
    sub.extend_from_slice(&(filter.len() as u16).to_be_bytes());
    sub.extend_from_slice(filter.as_bytes());
    sub.push(ctx.case.qos.as_u8());
    out.push(0x82);
    out.push(sub.len() as u8);
    out.extend_from_slice(&sub);
    s.write_all(&out).map_err(err)?;
    let mut acks = [0u8; 9]; // CONNACK and SUBACK
    s.read_exact(&mut acks).map_err(err)?;
    if acks[3] != 0 || acks[4] != 0x90 {
        return Err(format!("stalled subscriber refused: {acks:02x?}"));
    }
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt on a socket we own, with a c_int of its size.
    unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let _ = s.write_all(&[0xc0, 0x00]);
            std::thread::sleep(Duration::from_millis(250));
        }
    }))
}

/// Publishers and subscribers at once: throughput, loss, latency.
fn flow(ctx: &Ctx<'_>, plan: Plan) -> Result<Measure, String> {
    let mut eng = Engine::new(plan)?;
    eng.setup()?;
    let probe = Probe::start(ctx.broker.pid_str());
    let run = eng.run();
    let mut m = Measure::default();
    probe.finish(&mut m);
    eng.close();
    m.in_rate = rate(run.accepted, run.in_secs);
    m.out_rate = rate(run.delivered, run.out_secs);
    m.values = match ctx.case.scenario {
        Scenario::Latency => vec![
            run.hist.quantile(0.99) as f64 / 1e3,
            run.hist.quantile(0.50) as f64 / 1e3,
            run.hist.max() as f64 / 1e3,
        ],
        Scenario::Clients => vec![
            run.hist.quantile(0.99) as f64 / 1e3,
            if m.wall_s > 0.0 {
                100.0 * m.cpu_s / m.wall_s
            } else {
                0.0
            },
            m.rss_kb as f64 / 1024.0,
        ],
        _ => vec![m.out_rate],
    };
    m.run = run;
    Ok(m)
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// Many idle clients: connect rate and the broker's RSS per connection.
fn connections(ctx: &Ctx<'_>) -> Result<Measure, String> {
    let n = ctx.opts.connections;
    let mut plan = ctx.plan();
    plan.idle = n;
    plan.setup_max = Duration::from_secs(60);
    let pid = ctx.broker.pid_str();
    let rss0 = pid.as_deref().and_then(procfs::rss_kb).unwrap_or(0);
    let mut eng = Engine::new(plan)?;
    let probe = Probe::start(pid.clone());
    let took = eng.setup()?;
    let mut m = Measure::default();
    probe.finish(&mut m);
    // Let the broker settle (buffers shrink after the handshake burst).
    eng.idle(Duration::from_millis(if ctx.opts.quick {
        200
    } else {
        1000
    }));
    let rss1 = pid.as_deref().and_then(procfs::rss_kb).unwrap_or(0);
    m.rss_kb = rss1;
    eng.close();
    let per_conn = (rss1.saturating_sub(rss0) as f64) * 1024.0 / n.max(1) as f64;
    let per_sec = n as f64 / took.as_secs_f64().max(1e-9);
    m.values = vec![per_conn, per_sec];
    m.note = format!(
        "{n} conns in {:.3} s, RSS {} → {} KiB",
        took.as_secs_f64(),
        rss0,
        rss1
    );
    Ok(m)
}

/// 100k retained topics, then one `#` subscriber timed until all arrive.
fn retained(ctx: &Ctx<'_>) -> Result<Measure, String> {
    let total = ctx.opts.retained;
    let npubs: u32 = 10;
    let mut plan = ctx.plan();
    plan.run_for = Duration::from_secs(120);
    for i in 0..npubs {
        let share = total / npubs + u32::from(i < total % npubs);
        plan.pubs.push(PubSpec {
            topic: format!("{}ret/{i}", ctx.pfx),
            limit: share,
            retain: true,
            topic_per_msg: true,
        });
    }
    let mut eng = Engine::new(plan)?;
    eng.setup()?;
    let pub_run = eng.run();
    let outcomes: Vec<PubOutcome> = eng.outcomes();
    eng.close();
    if pub_run.accepted < u64::from(total) {
        return Err(format!(
            "only {} of {total} retained messages accepted ({})",
            pub_run.accepted,
            pub_run.first_error.unwrap_or_default()
        ));
    }
    let mut plan = ctx.plan();
    // A fresh broker holds nothing else: subscribe to `#` itself.
    let filter = if ctx.broker.fresh {
        "#".to_string()
    } else {
        format!("{}#", ctx.pfx)
    };
    plan.subs.push(SubSpec {
        filter,
        expects: (0..npubs as usize).collect(),
    });
    plan.external = outcomes;
    plan.run_for = Duration::ZERO;
    plan.drain_max = Duration::from_secs(if ctx.opts.quick { 10 } else { 60 });
    plan.stall = Duration::from_secs(3);
    let mut eng = Engine::new(plan)?;
    let probe = Probe::start(ctx.broker.pid_str());
    eng.setup()?;
    let run = eng.run();
    let mut m = Measure::default();
    probe.finish(&mut m);
    eng.close();
    m.in_rate = rate(pub_run.accepted, pub_run.in_secs);
    m.out_rate = rate(run.delivered, run.out_secs);
    m.values = vec![m.out_rate];
    m.note = format!(
        "{} retained published at {:.0} msg/s; `#` got {} in {:.3} s",
        pub_run.accepted, m.in_rate, run.delivered, run.out_secs
    );
    m.run = run;
    Ok(m)
}
