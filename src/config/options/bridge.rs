//! Bridge options: they apply to the current bridge (the last `connection`
//! line of the file), including its TLS and PSK settings.

use super::args::{int_of, non_negative, pub_topic_ok, sub_topic_ok, validate_text, Args};
use super::{Here, Set, Spec, Value};
use crate::config::bridge::{Bridge, BridgeAddress, BridgeProtocol, BridgeTopic, Direction};
use crate::config::parse::{Fail, Reader};
use crate::config::{StartType, DEFAULT_PORT};

const fn bridge(name: &'static str, value: Value<Bridge>) -> Spec {
    Spec::new(name, Set::Bridge(value))
}

/// The value is checked before the bridge (see [`Set::BridgeValueFirst`]).
const fn bridge_value_first(name: &'static str, value: Value<Bridge>) -> Spec {
    Spec::new(name, Set::BridgeValueFirst(value))
}

/// Sorted by name.
pub(super) const OPTIONS: &[Spec] = &[
    bridge("address", Value::With(addresses)),
    Spec::new("addresses", Set::Alias("address")),
    bridge("bridge_alpn", Value::Text(|b| &mut b.tls.alpn)),
    bridge_value_first(
        "bridge_attempt_unsubscribe",
        Value::Bool(|b| &mut b.attempt_unsubscribe),
    ),
    bridge("bridge_bind_address", Value::Text(|b| &mut b.bind_address)),
    bridge(
        "bridge_cafile",
        Value::With(|b, a| {
            no_psk(b)?;
            a.set_path(&mut b.tls.cafile)
        }),
    ),
    bridge(
        "bridge_capath",
        Value::With(|b, a| {
            no_psk(b)?;
            a.set_path(&mut b.tls.capath)
        }),
    ),
    bridge(
        "bridge_certfile",
        Value::With(|b, a| {
            no_psk(b)?;
            a.set_path(&mut b.tls.certfile)
        }),
    ),
    bridge(
        "bridge_identity",
        Value::With(|b, a| {
            no_certificates(b)?;
            a.set_string(&mut b.tls.psk_identity)
        }),
    ),
    bridge_value_first("bridge_insecure", Value::With(bridge_insecure)),
    bridge(
        "bridge_keyfile",
        Value::With(|b, a| {
            no_psk(b)?;
            a.set_path(&mut b.tls.keyfile)
        }),
    ),
    bridge_value_first(
        "bridge_max_packet_size",
        Value::With(|b, a| {
            b.max_packet_size = a.non_negative()?;
            Ok(())
        }),
    ),
    bridge_value_first(
        "bridge_outgoing_retain",
        Value::Bool(|b| &mut b.outgoing_retain),
    ),
    bridge("bridge_protocol_version", Value::With(protocol_version)),
    bridge(
        "bridge_psk",
        Value::With(|b, a| {
            no_certificates(b)?;
            a.set_string(&mut b.tls.psk)
        }),
    ),
    bridge_value_first(
        "bridge_require_ocsp",
        Value::Bool(|b| &mut b.tls.ocsp_required),
    ),
    bridge(
        "bridge_tls_version",
        Value::Text(|b| &mut b.tls.tls_version),
    ),
    bridge("cleansession", Value::Bool(|b| &mut b.cleansession)),
    Spec::new("clientid", Set::Alias("remote_clientid")),
    Spec::new("connection", Set::Reader(connection)),
    bridge("idle_timeout", Value::With(idle_timeout)),
    bridge("keepalive_interval", Value::With(keepalive_interval)),
    bridge(
        "local_cleansession",
        Value::With(|b, a| {
            b.local_cleansession = Some(a.bool()?);
            Ok(())
        }),
    ),
    bridge("local_clientid", Value::Text(|b| &mut b.local_clientid)),
    bridge("local_password", Value::Text(|b| &mut b.local_password)),
    bridge("local_username", Value::Text(|b| &mut b.local_username)),
    bridge("notification_topic", Value::With(notification_topic)),
    bridge("notifications", Value::Bool(|b| &mut b.notifications)),
    bridge(
        "notifications_local_only",
        Value::Bool(|b| &mut b.notifications_local_only),
    ),
    Spec::new("password", Set::Alias("remote_password")),
    bridge("remote_clientid", Value::Text(|b| &mut b.remote_clientid)),
    bridge("remote_password", Value::Text(|b| &mut b.remote_password)),
    bridge("remote_username", Value::Text(|b| &mut b.remote_username)),
    bridge("restart_timeout", Value::With(restart_timeout)),
    bridge("round_robin", Value::Bool(|b| &mut b.round_robin)),
    bridge("start_type", Value::With(start_type)),
    bridge("threshold", Value::With(threshold)),
    bridge_value_first(
        "topic",
        Value::With(|b, a| {
            b.topics.push(bridge_topic(a)?);
            Ok(())
        }),
    ),
    bridge("try_private", Value::Bool(|b| &mut b.try_private)),
    Spec::new("username", Set::Alias("remote_username")),
];

/// `connection <name>`: a new bridge, which the following bridge options of
/// this file apply to.
fn connection(r: &mut Reader, a: &mut Args, here: &mut Here) -> Result<(), Fail> {
    let name = a.word()?;
    validate_text(name, a.name)?;
    if r.cfg.bridges.iter().any(|b| b.name == name) {
        return Err(Fail::Msg(format!("Duplicate bridge name \"{name}\".")));
    }
    let mut bridge = Bridge::new(name);
    bridge.file = here.at.file.to_path_buf();
    bridge.line = here.at.line;
    r.cfg.bridges.push(bridge);
    here.fs.bridge = Some(r.cfg.bridges.len().saturating_sub(1));
    Ok(())
}

/// One line of addresses per bridge.
fn addresses(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    if !b.addresses.is_empty() {
        return Err("Invalid bridge configuration.".into());
    }
    let mut addresses = Vec::new();
    while let Some(tok) = a.next_arg() {
        addresses.push(bridge_address(tok)?);
    }
    if addresses.is_empty() {
        return Err("Empty address value in configuration.".into());
    }
    b.addresses = addresses;
    Ok(())
}

fn bridge_insecure(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    b.tls.insecure = a.bool()?;
    if b.tls.insecure {
        a.notice(format!(
            "Bridge {} is in insecure mode: the remote host name is not checked.",
            b.name
        ));
    }
    Ok(())
}

/// The whole rest of the line, as mosquitto reads it.
fn protocol_version(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    let v = a.rest().ok_or_else(|| a.empty())?;
    b.protocol_version = match v {
        "mqttv31" => BridgeProtocol::Mqtt31,
        "mqttv311" => BridgeProtocol::Mqtt311,
        "mqttv50" => BridgeProtocol::Mqtt5,
        other => return Err(a.invalid(other)),
    };
    Ok(())
}

fn idle_timeout(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    let v = a.int()?;
    b.idle_timeout = non_negative(v).max(1);
    if v < 1 {
        a.notice("idle_timeout is too low, using 1 second.");
    }
    Ok(())
}

fn keepalive_interval(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    let v = a.int()?;
    if v > 65535 {
        return Err("Bridge keepalive value too high.".into());
    }
    b.keepalive_interval = u16::try_from(v).unwrap_or(0).max(5);
    if v < 5 {
        a.notice("keepalive_interval is too low, using 5 seconds.");
    }
    Ok(())
}

fn notification_topic(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    a.set_string(&mut b.notification_topic)?;
    if let Some(t) = &b.notification_topic {
        if !pub_topic_ok(t) {
            return Err(format!("Invalid notification_topic '{t}'."));
        }
    }
    Ok(())
}

/// `restart_timeout <base> [<cap>]`.
fn restart_timeout(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    let base = a.int()?;
    let cap = match a.next_arg() {
        Some(tok) => Some(int_of(tok, a.name)?),
        None => None,
    };
    let base_clamped = non_negative(base).max(1);
    if let Some(cap) = cap {
        if cap < i32::try_from(base_clamped).unwrap_or(i32::MAX) {
            return Err("backoff cap is lower than the base in restart_timeout.".into());
        }
    }
    b.restart_timeout.base = base_clamped;
    b.restart_timeout.cap = cap.map(non_negative);
    if base < 1 {
        a.notice("restart_timeout is too low, using 1 second.");
    }
    Ok(())
}

fn start_type(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    b.start_type = match a.word()? {
        "automatic" => StartType::Automatic,
        "lazy" => StartType::Lazy,
        "once" => StartType::Once,
        "manual" => return Err("Manual start_type not supported.".into()),
        other => {
            return Err(format!(
                "Invalid start_type value in configuration ({other})."
            ))
        }
    };
    Ok(())
}

fn threshold(b: &mut Bridge, a: &mut Args) -> Result<(), String> {
    let v = a.int()?;
    b.threshold = non_negative(v).max(1);
    if v < 1 {
        a.notice("threshold is too low, using 1 message.");
    }
    Ok(())
}

/// Certificate and PSK encryption exclude each other on one bridge.
fn no_psk(b: &Bridge) -> Result<(), String> {
    if b.tls.psk_identity.is_some() || b.tls.psk.is_some() {
        return Err(BOTH_ENCRYPTIONS.to_string());
    }
    Ok(())
}

fn no_certificates(b: &Bridge) -> Result<(), String> {
    if b.has_cert_settings() {
        return Err(BOTH_ENCRYPTIONS.to_string());
    }
    Ok(())
}

const BOTH_ENCRYPTIONS: &str = "Cannot use both certificate and psk encryption in a single bridge.";

/// `host[:port]`; the port is taken after the last colon, as mosquitto does
/// (so an IPv6 address needs an explicit port).
fn bridge_address(tok: &str) -> Result<BridgeAddress, String> {
    validate_text(tok, "address")?;
    match tok.rsplit_once(':') {
        Some((host, port)) => {
            let p = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| format!("Invalid port value ({port})."))?;
            Ok(BridgeAddress {
                host: host.to_string(),
                port: p,
            })
        }
        None => Ok(BridgeAddress {
            host: tok.to_string(),
            port: DEFAULT_PORT,
        }),
    }
}

/// `topic pattern [[[out|in|both] qos] local-prefix remote-prefix]`, where
/// `""` stands for an empty pattern or prefix.
fn bridge_topic(a: &mut Args) -> Result<BridgeTopic, String> {
    let pattern = a.word()?;
    validate_text(pattern, "topic")?;
    let mut topic = BridgeTopic {
        pattern: if pattern == "\"\"" {
            None
        } else {
            Some(pattern.to_string())
        },
        direction: Direction::Out,
        qos: 0,
        local_prefix: None,
        remote_prefix: None,
    };
    if let Some(dir) = a.next_arg() {
        topic.direction = match dir.to_ascii_lowercase().as_str() {
            "out" => Direction::Out,
            "in" => Direction::In,
            "both" => Direction::Both,
            _ => return Err(format!("Invalid bridge topic direction '{dir}'.")),
        };
        if let Some(qos) = a.next_arg() {
            topic.qos = qos
                .parse::<u8>()
                .ok()
                .filter(|q| *q <= 2)
                .ok_or_else(|| format!("Invalid bridge QoS level '{qos}'."))?;
            if let Some(lp) = a.next_arg() {
                validate_text(lp, "topic")?;
                topic.local_prefix = (lp != "\"\"").then(|| lp.to_string());
                if let Some(rp) = a.next_arg() {
                    validate_text(rp, "topic")?;
                    topic.remote_prefix = (rp != "\"\"").then(|| rp.to_string());
                }
            }
        }
    }
    check_topic(&topic)?;
    Ok(topic)
}

/// The checks mosquitto makes on a bridge topic once it is read.
fn check_topic(topic: &BridgeTopic) -> Result<(), String> {
    let prefixes = [
        ("local", &topic.local_prefix),
        ("remote", &topic.remote_prefix),
    ];
    for (side, prefix) in prefixes {
        if let Some(p) = prefix {
            if !pub_topic_ok(p) {
                return Err(format!("Invalid bridge topic {side} prefix '{p}'."));
            }
        }
    }
    if topic.pattern.is_none() && (topic.local_prefix.is_none() || topic.remote_prefix.is_none()) {
        return Err("Invalid bridge remapping.".to_string());
    }
    let pat = topic.pattern.as_deref().unwrap_or("");
    for (side, prefix) in prefixes {
        if let Some(p) = prefix {
            let full = format!("{p}{pat}");
            if !sub_topic_ok(&full) {
                return Err(format!(
                    "Invalid bridge topic {side} prefix and pattern combination '{full}'."
                ));
            }
        }
    }
    if let Some(p) = &topic.pattern {
        if !sub_topic_ok(p) {
            return Err(format!("Invalid bridge topic pattern '{p}'."));
        }
    }
    Ok(())
}
