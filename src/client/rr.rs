//! mosquitto_rr: subscribe to the response topic, publish the request
//! (with MQTT 5, carrying the response topic and any `-D publish`
//! properties such as correlation data), print the first message that
//! arrives on the response topic and exit; `-W` gives up with status 27.
//! Statuses and messages are mosquitto 2.0.11's.

use std::time::{Duration, Instant};

use super::cli::{self, ConnectFailure};
use super::options::{Config, Tool};
use super::publisher::load_message;
use super::session::{Event, Session, SessionError};
use super::subscriber;
use crate::protocol::properties::id;
use crate::protocol::{Packet, Properties, PropertyValue, ProtocolVersion};

/// mosquitto's MOSQ_ERR_TIMEOUT, the exit status after `-W`.
const EXIT_TIMED_OUT: i32 = 27;

pub fn main() -> i32 {
    let mut cfg = match cli::load(Tool::Rr, &cli::args()) {
        Ok(cfg) => cfg,
        Err(code) => return code,
    };
    let (Some(topic), Some(response)) = (cfg.topic.clone(), cfg.response_topic.clone()) else {
        return missing();
    };
    if cfg.pub_mode == super::options::PubMode::None {
        return missing();
    }
    if cfg.props.publish.get(id::RESPONSE_TOPIC).is_some() {
        cli::err(
            &cfg,
            "Error in PUBLISH properties: Duplicate response topic.\n",
        );
        return 1;
    }
    cfg.props
        .publish
        .add(id::RESPONSE_TOPIC, PropertyValue::String(response.clone()));
    let message = match load_message(&cfg) {
        Ok(Some(m)) => m,
        Ok(None) | Err(()) => return 1,
    };
    let started = Instant::now();
    let session = match cli::connect(&cfg) {
        Ok(s) => s,
        Err(ConnectFailure::Refused(code) | ConnectFailure::Failed(code)) => return code,
    };
    let deadline = cfg
        .timeout
        .map(|secs| started + Duration::from_secs(u64::from(secs)));
    let mut rr = Requester { cfg: &cfg, session };
    match rr.run(&topic, &response, &message, deadline) {
        Ok(code) => code,
        Err(e) => {
            cli::err(&cfg, &format!("{}\n", e.message()));
            e.code()
        }
    }
}

fn missing() -> i32 {
    eprintln!("Error: All of topic, message, and response topic must be supplied.");
    eprintln!("\nUse 'mosquitto_rr --help' to see usage.");
    1
}

struct Requester<'a> {
    cfg: &'a Config,
    session: Session,
}

impl Requester<'_> {
    fn run(
        &mut self,
        topic: &str,
        response: &str,
        message: &[u8],
        deadline: Option<Instant>,
    ) -> Result<i32, SessionError> {
        let cfg = self.cfg;
        let v5 = cfg.protocol == ProtocolVersion::V5;
        // mosquitto_rr subscribes with no options (-R and
        // --retain-as-published are accepted but not sent).
        let none = Properties::default();
        let sub_props = if v5 { &cfg.props.subscribe } else { &none };
        self.session
            .subscribe(&[response.to_owned()], cfg.qos, 0, sub_props)?;
        loop {
            let p = match self.session.wait(deadline, None, None)? {
                Event::Packet(p) => p,
                Event::Deadline => return Ok(self.timed_out()),
                Event::Input | Event::Signal => continue,
            };
            match p {
                Packet::SubAck(ack) => {
                    let code = ack.codes.first().copied().unwrap_or(0x80);
                    if code >= 0x80 {
                        cli::err(cfg, &format!("{}\n", cli::reason_string(code)));
                        self.session.disconnect(&cfg.props.disconnect);
                        return Ok(0);
                    }
                    // Over MQTT 3 the request goes without properties.
                    let props = if v5 { &cfg.props.publish } else { &none };
                    self.session
                        .publish(topic, message, cfg.qos, cfg.retain, props)?;
                }
                Packet::PubRec(a) if a.reason < 0x80 => self.session.send_pubrel(a.packet_id)?,
                Packet::Publish(m) => {
                    subscriber::print(cfg, &m);
                    // mosquitto_rr closes the connection without a
                    // DISCONNECT once it has its answer.
                    return Ok(0);
                }
                _ => {}
            }
        }
    }

    /// `-W` passed: leave with "disconnect with will", as mosquitto_rr.
    fn timed_out(&mut self) -> i32 {
        self.session
            .disconnect_with(0x04, &self.cfg.props.disconnect);
        cli::err(self.cfg, "Timed out\n");
        EXIT_TIMED_OUT
    }
}

#[cfg(test)]
mod tests {
    use super::super::options::{parse_args, ParseStop, PubMode};
    use super::*;
    use crate::protocol::QoS;

    fn parse(a: &[&str]) -> Result<Config, ParseStop> {
        let mut cfg = Config::new(Tool::Rr);
        let args: Vec<Vec<u8>> = a.iter().map(|s| s.as_bytes().to_vec()).collect();
        parse_args(&mut cfg, &args)?;
        Ok(cfg)
    }

    #[test]
    fn options_as_mosquitto_rr() {
        let c = parse(&["-t", "req", "-e", "resp", "-m", "x", "-W", "3", "-v"]).unwrap();
        assert_eq!(c.protocol, ProtocolVersion::V5);
        assert_eq!(c.response_topic.as_deref(), Some("resp"));
        assert_eq!(c.pub_mode, PubMode::Message(b"x".to_vec()));
        assert_eq!((c.timeout, c.verbose, c.msg_count), (Some(3), true, 1));
        assert_eq!(c.qos, QoS::AtMostOnce);
        for opt in ["-l", "-C", "-r", "-E", "-U", "--repeat"] {
            assert_eq!(
                parse(&[opt, "1"]),
                Err(ParseStop::Error(format!(
                    "Error: Unknown option '{opt}'.\n"
                )))
            );
        }
        assert_eq!(
            parse(&["-e", "a/#"]),
            Err(ParseStop::Error(
                "Error: Invalid response topic 'a/#', does it contain '+' or '#'?\n".into()
            ))
        );
    }
}
