//! mosquitto_sub's main loop: subscribe, print what arrives, and stop on
//! `-C`, `-E`, `-W`, `--retained-only`, a signal or a lost connection, with
//! mosquitto_sub's exit statuses.

use std::collections::HashSet;
use std::io::Write;
use std::time::{Duration, Instant};

use super::cli::{self, ConnectFailure};
use super::options::{Config, Tool};
use super::output::{self, Message, OutputStyle};
use super::session::{Event, Session, SessionError};
use crate::protocol::topic::matches;
use crate::protocol::{Packet, ProtocolVersion, Publish, QoS, SUBACK_FAILURE};
use crate::sys::signals::SignalPipe;

/// mosquitto's MOSQ_ERR_TIMEOUT, the exit status after `-W`.
const EXIT_TIMED_OUT: i32 = 27;

pub fn main() -> i32 {
    let cfg = match cli::load(Tool::Sub, &cli::args()) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    if cfg.no_retain && cfg.retained_only {
        eprintln!("\nError: Combining '-R' and '--retained-only' makes no sense.");
        return 1;
    }
    let started = Instant::now();
    let session = match cli::connect(&cfg) {
        Ok(s) => s,
        Err(ConnectFailure::Refused(code) | ConnectFailure::Failed(code)) => return code,
    };
    let signals = match SignalPipe::install(&[libc::SIGINT, libc::SIGTERM]) {
        Ok(s) => s,
        Err(e) => {
            cli::err(&cfg, &format!("Error: {e}\n"));
            return 1;
        }
    };
    let deadline = cfg
        .timeout
        .map(|secs| started + Duration::from_secs(u64::from(secs)));
    let mut sub = Subscriber {
        cfg: &cfg,
        session,
        processing: true,
        received: 0,
        pending_removals: HashSet::new(),
        random: Random::seeded(),
    };
    match sub.run(deadline, signals.fd()) {
        Ok(code) => code,
        Err(e) => {
            cli::err(&cfg, &format!("{}\n", e.message()));
            e.code()
        }
    }
}

struct Subscriber<'a> {
    cfg: &'a Config,
    session: Session,
    /// False once -C or --retained-only has been satisfied.
    processing: bool,
    received: u32,
    /// `--remove-retained` publishes not yet acknowledged.
    pending_removals: HashSet<u16>,
    random: Random,
}

/// What handling one event decided.
enum Next {
    Continue,
    Exit(i32),
}

impl Subscriber<'_> {
    fn run(&mut self, deadline: Option<Instant>, signal_fd: i32) -> Result<i32, SessionError> {
        let cfg = self.cfg;
        let mut options = 0u8;
        if cfg.protocol == ProtocolVersion::V5 {
            if cfg.no_retain {
                options |= 0x20; // retain handling: do not send retained messages
            }
            if cfg.retain_as_published {
                options |= 0x08;
            }
            if cfg.no_local {
                options |= 0x04;
            }
            if let Some(h) = cfg.retain_handling {
                options = (options & !0x30) | (h << 4);
            }
        }
        // libmosquitto refuses MQTT 5 properties on a 3.x connection and
        // mosquitto_sub ignores the error: nothing is sent.
        let v5 = cfg.protocol == ProtocolVersion::V5;
        if v5 || cfg.props.subscribe.is_empty() {
            self.session
                .subscribe(&cfg.topics, cfg.qos, options, &cfg.props.subscribe)?;
        }
        if v5 || cfg.props.unsubscribe.is_empty() {
            for t in &cfg.unsub_topics {
                self.session.unsubscribe(t, &cfg.props.unsubscribe)?;
            }
        }
        loop {
            let next = match self.session.wait(deadline, None, Some(signal_fd))? {
                Event::Packet(p) => self.on_packet(p)?,
                Event::Signal => {
                    self.session.disconnect(&cfg.props.disconnect);
                    Next::Exit(0)
                }
                Event::Deadline => {
                    self.session.disconnect(&cfg.props.disconnect);
                    cli::err(cfg, "Timed out\n");
                    Next::Exit(EXIT_TIMED_OUT)
                }
                Event::Input => Next::Continue,
            };
            if let Next::Exit(code) = next {
                return Ok(code);
            }
        }
    }

    fn finish(&mut self) -> Next {
        self.session.disconnect(&self.cfg.props.disconnect);
        Next::Exit(0)
    }

    fn on_packet(&mut self, p: Packet) -> Result<Next, SessionError> {
        match p {
            Packet::SubAck(ack) => {
                if self.cfg.debug && !self.cfg.quiet {
                    let codes: Vec<String> = ack.codes.iter().map(|c| c.to_string()).collect();
                    outln!("Subscribed (mid: {}): {}", ack.packet_id, codes.join(", "));
                }
                if ack.codes.iter().all(|&c| c >= SUBACK_FAILURE) {
                    self.session.disconnect(&self.cfg.props.disconnect);
                    cli::err(self.cfg, "All subscription requests were denied.\n");
                    return Ok(Next::Exit(0));
                }
                if self.cfg.exit_after_sub {
                    return Ok(self.finish());
                }
                Ok(Next::Continue)
            }
            Packet::Publish(m) => self.on_message(&m),
            Packet::PubAck(ack) => {
                self.pending_removals.remove(&ack.packet_id);
                if !self.processing && self.pending_removals.is_empty() {
                    return Ok(self.finish());
                }
                Ok(Next::Continue)
            }
            _ => Ok(Next::Continue),
        }
    }

    fn on_message(&mut self, m: &Publish) -> Result<Next, SessionError> {
        let cfg = self.cfg;
        if !self.processing {
            return Ok(Next::Continue);
        }
        if cfg.retained_only && !m.retain {
            self.processing = false;
            if self.pending_removals.is_empty() {
                return Ok(self.finish());
            }
            return Ok(Next::Continue);
        }
        if m.retain && cfg.no_retain {
            return Ok(Next::Continue);
        }
        if cfg.filter_outs.iter().any(|f| matches(f, &m.topic)) {
            return Ok(Next::Continue);
        }
        if cfg.remove_retained && m.retain {
            let mid =
                self.session
                    .publish(&m.topic, &[], QoS::AtLeastOnce, true, &Default::default())?;
            self.pending_removals.insert(mid);
        }
        let chosen = cfg.random_filter >= 10000 || self.random.below(10000) < cfg.random_filter;
        if chosen && !self.print(m) {
            return Ok(self.finish());
        }
        if cfg.msg_count > 0 {
            self.received += 1;
            if self.received >= cfg.msg_count {
                self.processing = false;
                if self.pending_removals.is_empty() {
                    return Ok(self.finish());
                }
            }
        }
        Ok(Next::Continue)
    }

    /// Print one message; false if stdout is gone (e.g. a closed pipe).
    fn print(&self, m: &Publish) -> bool {
        print(self.cfg, m)
    }
}

/// Print one message as `cfg` asks (also mosquitto_rr's response); false
/// if stdout is gone (e.g. a closed pipe).
pub fn print(cfg: &Config, m: &Publish) -> bool {
    {
        let style = OutputStyle {
            format: cfg.format.as_deref(),
            verbose: cfg.verbose,
            eol: cfg.eol,
            pretty: cfg.pretty,
        };
        let view = Message {
            topic: &m.topic,
            payload: &m.payload,
            qos: m.qos.as_u8(),
            retain: m.retain,
            mid: m.packet_id,
            properties: &m.properties,
        };
        let (bytes, errors) = output::render(&style, &view);
        for e in errors {
            cli::err(cfg, &e);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes).and_then(|_| out.flush()).is_ok()
    }
}

/// A small xorshift generator for `--random-filter`.
struct Random(u64);

impl Random {
    fn seeded() -> Random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9E37_79B9);
        Random(nanos ^ (u64::from(std::process::id()) << 32) | 1)
    }

    fn below(&mut self, n: u32) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % u64::from(n.max(1))) as u32
    }
}
