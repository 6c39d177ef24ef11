//! mosquitto_pub's main loop: load the message, connect, publish (once,
//! `--repeat` times, or once per line of standard input with `-l`), finish
//! every QoS 1 and 2 flow, then disconnect.

use std::collections::HashMap;
use std::io::Read;
use std::time::Instant;

use super::cli::{self, ConnectFailure};
use super::options::{Config, PubMode, Tool};
use super::session::{Event, Session, SessionError};
use super::usage;
use crate::protocol::properties::id;
use crate::protocol::{
    Packet, Properties, PropertyValue, ProtocolVersion, QoS, MAX_REMAINING_LENGTH,
};

pub fn main() -> i32 {
    let cfg = match cli::load(Tool::Pub, &cli::args()) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    let message = match load_message(&cfg) {
        Ok(m) => m,
        Err(()) => return 1,
    };
    let Some(topic) = cfg.topic.clone().filter(|_| cfg.pub_mode != PubMode::None) else {
        eprintln!("Error: Both topic and message must be supplied.");
        out!("{}", usage::usage(Tool::Pub));
        return 1;
    };
    let session = match cli::connect(&cfg) {
        Ok(s) => s,
        Err(ConnectFailure::Refused(code)) => {
            cli::err(&cfg, "Error: The connection was refused.\n");
            return code;
        }
        Err(ConnectFailure::Failed(code)) => return code,
    };
    if session.version() != ProtocolVersion::V5 && !cfg.props.publish.is_empty() {
        // libmosquitto refuses to publish them over MQTT 3 and
        // mosquitto_pub, seeing an error it has no words for, just leaves.
        let mut session = session;
        session.disconnect(&Properties::default());
        return 0;
    }
    let (properties, alias) = alias_properties(&cfg, &session);
    let mut p = Publisher {
        cfg: &cfg,
        topic,
        session,
        inflight: HashMap::new(),
        properties,
        alias,
        sent_once: false,
    };
    let result = match message {
        Some(m) => p.publish_repeated(&m),
        None => p.publish_lines(),
    };
    match result {
        Ok(()) => {
            p.session.disconnect(&cfg.props.disconnect);
            0
        }
        Err(e) => {
            cli::err(&cfg, &format!("{}\n", e.message()));
            e.code()
        }
    }
}

/// The message to send, or `None` for `-l` (lines come later); errors are
/// printed here.
pub(super) fn load_message(cfg: &Config) -> Result<Option<Vec<u8>>, ()> {
    match &cfg.pub_mode {
        PubMode::Message(m) => Ok(Some(m.clone())),
        PubMode::Null => Ok(Some(Vec::new())),
        PubMode::File(path) => {
            let shown = path.display();
            match std::fs::read(path) {
                Ok(data) if data.len() > MAX_REMAINING_LENGTH => {
                    cli::err(
                        cfg,
                        &format!("Error: File must be less than {MAX_REMAINING_LENGTH} bytes.\n\n"),
                    );
                    cli::err(cfg, &format!("Error loading input file \"{shown}\".\n"));
                    Err(())
                }
                Ok(data) => Ok(Some(data)),
                Err(_) => {
                    cli::err(cfg, &format!("Error: Unable to open file \"{shown}\".\n"));
                    cli::err(cfg, &format!("Error loading input file \"{shown}\".\n"));
                    Err(())
                }
            }
        }
        PubMode::StdinWhole => {
            let mut data = Vec::new();
            let read = std::io::stdin().lock().read_to_end(&mut data);
            let problem = if read.is_err() {
                None
            } else if data.len() > MAX_REMAINING_LENGTH {
                Some(format!(
                    "Error: Message length must be less than {MAX_REMAINING_LENGTH} bytes.\n\n"
                ))
            } else if data.is_empty() {
                Some("Error: Zero length input.\n".to_owned())
            } else {
                return Ok(Some(data));
            };
            if let Some(p) = problem {
                cli::err(cfg, &p);
            }
            cli::err(cfg, "Error loading input from stdin.\n");
            Err(())
        }
        PubMode::StdinLines | PubMode::None => Ok(None),
    }
}

/// The properties to publish with, and whether the topic alias in them
/// may stand for the topic after the first message. mosquitto_pub uses the
/// alias whatever the broker said; we drop an alias the broker's CONNACK
/// does not allow, so that it does not cost the connection.
fn alias_properties(cfg: &Config, session: &Session) -> (Properties, bool) {
    let mut props = cfg.props.publish.clone();
    let Some(PropertyValue::U16(alias)) = props.get(id::TOPIC_ALIAS).cloned() else {
        return (props, false);
    };
    let max = match session.server_properties().get(id::TOPIC_ALIAS_MAXIMUM) {
        Some(PropertyValue::U16(m)) => *m,
        _ => 0,
    };
    if alias > max {
        props.remove(id::TOPIC_ALIAS);
        return (props, false);
    }
    (props, true)
}

/// Where an outgoing QoS 1 or 2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// Named by the packet we are waiting for: PUBACK, PUBREC, PUBCOMP.
enum Flow {
    Ack,
    Rec,
    Comp,
}

struct Publisher<'a> {
    cfg: &'a Config,
    topic: String,
    session: Session,
    inflight: HashMap<u16, Flow>,
    /// `-D publish …`.
    properties: Properties,
    /// Send the topic only once, then its alias.
    alias: bool,
    sent_once: bool,
}

impl Publisher<'_> {
    fn send(&mut self, payload: &[u8]) -> Result<(), SessionError> {
        let qos = self.cfg.qos;
        let topic = if self.alias && self.sent_once {
            ""
        } else {
            self.topic.as_str()
        };
        self.sent_once = true;
        let mid = self
            .session
            .publish(topic, payload, qos, self.cfg.retain, &self.properties)?;
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.inflight.insert(mid, Flow::Ack);
            }
            QoS::ExactlyOnce => {
                self.inflight.insert(mid, Flow::Rec);
            }
        }
        Ok(())
    }

    /// Move the QoS flows on with one packet from the broker.
    fn on_packet(&mut self, p: Packet) -> Result<(), SessionError> {
        match p {
            Packet::PubAck(a) if self.inflight.get(&a.packet_id) == Some(&Flow::Ack) => {
                self.inflight.remove(&a.packet_id);
                self.warn_failed(a.packet_id, a.reason);
            }
            Packet::PubRec(a) if self.inflight.get(&a.packet_id) == Some(&Flow::Rec) => {
                if a.reason >= 0x80 {
                    self.inflight.remove(&a.packet_id);
                    self.warn_failed(a.packet_id, a.reason);
                } else {
                    self.inflight.insert(a.packet_id, Flow::Comp);
                    self.session.send_pubrel(a.packet_id)?;
                }
            }
            Packet::PubComp(a) if self.inflight.get(&a.packet_id) == Some(&Flow::Comp) => {
                self.inflight.remove(&a.packet_id);
                self.warn_failed(a.packet_id, a.reason);
            }
            _ => {}
        }
        Ok(())
    }

    fn warn_failed(&self, mid: u16, reason: u8) {
        if reason >= 0x80 {
            cli::err(
                self.cfg,
                &format!(
                    "Warning: Publish {mid} failed: {}.\n",
                    cli::reason_string(reason)
                ),
            );
        }
    }

    /// Process broker packets until every flow is complete.
    fn drain(&mut self) -> Result<(), SessionError> {
        while !self.inflight.is_empty() {
            if let Event::Packet(p) = self.session.wait(None, None, None)? {
                self.on_packet(p)?;
            }
        }
        Ok(())
    }

    /// `-m`, `-f`, `-s`, `-n`: the message, `--repeat` times, with
    /// `--repeat-delay` between the end of one publish and the next.
    fn publish_repeated(&mut self, payload: &[u8]) -> Result<(), SessionError> {
        for n in 0..self.cfg.repeat_count {
            if n > 0 && !self.cfg.repeat_delay.is_zero() {
                let until = Instant::now() + self.cfg.repeat_delay;
                loop {
                    match self.session.wait(Some(until), None, None)? {
                        Event::Deadline => break,
                        Event::Packet(p) => self.on_packet(p)?,
                        Event::Input | Event::Signal => {}
                    }
                }
            }
            self.send(payload)?;
            self.drain()?;
        }
        Ok(())
    }

    /// `-l`: one message per line of standard input (without its newline),
    /// keeping at most `-M` QoS 1/2 messages unacknowledged.
    fn publish_lines(&mut self) -> Result<(), SessionError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut eof = false;
        let mut chunk = vec![0u8; 65536];
        let max = usize::from(self.cfg.max_inflight);
        loop {
            while self.inflight.len() < max {
                let line = match buf.iter().position(|&b| b == b'\n') {
                    Some(pos) => {
                        let line: Vec<u8> = buf.drain(..=pos).collect();
                        line.get(..pos).unwrap_or(&[]).to_vec()
                    }
                    None if eof && !buf.is_empty() => std::mem::take(&mut buf),
                    None => break,
                };
                self.send(&line)?;
            }
            if eof && buf.is_empty() && self.inflight.is_empty() {
                return Ok(());
            }
            let want_input = !eof && self.inflight.len() < max;
            match self.session.wait(None, want_input.then_some(0), None)? {
                Event::Input => {
                    // A read larger than stdin's buffer goes straight to the
                    // descriptor, so poll and this read agree.
                    match std::io::stdin().lock().read(&mut chunk) {
                        Ok(0) => eof = true,
                        Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(_) => eof = true,
                    }
                }
                Event::Packet(p) => self.on_packet(p)?,
                Event::Deadline | Event::Signal => {}
            }
        }
    }
}
