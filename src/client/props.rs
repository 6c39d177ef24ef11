//! `-D command identifier value`: MQTT 5 properties given on the command
//! line, with mosquitto 2.0's names, value parsing, checks and messages
//! (its `client_props.c` and libmosquitto's property rules). The values
//! are stored as `protocol::Properties`, one list per packet they go on.

use super::options::{atoi, ParseStop};
use crate::protocol::properties::id;
use crate::protocol::{Properties, PropertyValue};

/// The properties each command (packet) will carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CliProperties {
    pub connect: Properties,
    pub publish: Properties,
    pub subscribe: Properties,
    pub unsubscribe: Properties,
    pub disconnect: Properties,
    pub will: Properties,
}

/// The commands `-D` names (libmosquitto's `mosquitto_string_to_command`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Connect,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    Unsubscribe,
    Disconnect,
    Auth,
    Will,
}

const COMMANDS: &[(&str, Command)] = &[
    ("connect", Command::Connect),
    ("connack", Command::ConnAck),
    ("publish", Command::Publish),
    ("puback", Command::PubAck),
    ("pubrec", Command::PubRec),
    ("pubrel", Command::PubRel),
    ("pubcomp", Command::PubComp),
    ("subscribe", Command::Subscribe),
    ("unsubscribe", Command::Unsubscribe),
    ("disconnect", Command::Disconnect),
    ("auth", Command::Auth),
    ("will", Command::Will),
];

/// Value types, numbered as libmosquitto numbers them (its "Error adding
/// property" message shows the number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    Byte = 1,
    Int16 = 2,
    Int32 = 3,
    Varint = 4,
    Binary = 5,
    String = 6,
    Pair = 7,
}

const NAMES: &[(&str, u8, Type)] = &[
    (
        "payload-format-indicator",
        id::PAYLOAD_FORMAT_INDICATOR,
        Type::Byte,
    ),
    (
        "message-expiry-interval",
        id::MESSAGE_EXPIRY_INTERVAL,
        Type::Int32,
    ),
    ("content-type", id::CONTENT_TYPE, Type::String),
    ("response-topic", id::RESPONSE_TOPIC, Type::String),
    ("correlation-data", id::CORRELATION_DATA, Type::Binary),
    (
        "subscription-identifier",
        id::SUBSCRIPTION_IDENTIFIER,
        Type::Varint,
    ),
    (
        "session-expiry-interval",
        id::SESSION_EXPIRY_INTERVAL,
        Type::Int32,
    ),
    (
        "assigned-client-identifier",
        id::ASSIGNED_CLIENT_IDENTIFIER,
        Type::String,
    ),
    ("server-keep-alive", id::SERVER_KEEP_ALIVE, Type::Int16),
    (
        "authentication-method",
        id::AUTHENTICATION_METHOD,
        Type::String,
    ),
    ("authentication-data", id::AUTHENTICATION_DATA, Type::Binary),
    (
        "request-problem-information",
        id::REQUEST_PROBLEM_INFORMATION,
        Type::Byte,
    ),
    ("will-delay-interval", id::WILL_DELAY_INTERVAL, Type::Int32),
    (
        "request-response-information",
        id::REQUEST_RESPONSE_INFORMATION,
        Type::Byte,
    ),
    (
        "response-information",
        id::RESPONSE_INFORMATION,
        Type::String,
    ),
    ("server-reference", id::SERVER_REFERENCE, Type::String),
    ("reason-string", id::REASON_STRING, Type::String),
    ("receive-maximum", id::RECEIVE_MAXIMUM, Type::Int16),
    ("topic-alias-maximum", id::TOPIC_ALIAS_MAXIMUM, Type::Int16),
    ("topic-alias", id::TOPIC_ALIAS, Type::Int16),
    ("maximum-qos", id::MAXIMUM_QOS, Type::Byte),
    ("retain-available", id::RETAIN_AVAILABLE, Type::Byte),
    ("user-property", id::USER_PROPERTY, Type::Pair),
    ("maximum-packet-size", id::MAXIMUM_PACKET_SIZE, Type::Int32),
    (
        "wildcard-subscription-available",
        id::WILDCARD_SUBSCRIPTION_AVAILABLE,
        Type::Byte,
    ),
    (
        "subscription-identifier-available",
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        Type::Byte,
    ),
    (
        "shared-subscription-available",
        id::SHARED_SUBSCRIPTION_AVAILABLE,
        Type::Byte,
    ),
];

/// Whether property `pid` may go on `cmd` (libmosquitto's
/// `mosquitto_property_check_command`).
pub fn allowed(cmd: Command, pid: u8) -> bool {
    use Command as C;
    match pid {
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => matches!(cmd, C::Publish | C::Will),
        id::SUBSCRIPTION_IDENTIFIER => matches!(cmd, C::Publish | C::Subscribe),
        id::SESSION_EXPIRY_INTERVAL => matches!(cmd, C::Connect | C::ConnAck | C::Disconnect),
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => {
            matches!(cmd, C::Connect | C::ConnAck | C::Auth)
        }
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => cmd == C::ConnAck,
        id::WILL_DELAY_INTERVAL => cmd == C::Will,
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => cmd == C::Connect,
        id::SERVER_REFERENCE => matches!(cmd, C::ConnAck | C::Disconnect),
        id::REASON_STRING => {
            !matches!(cmd, C::Connect | C::Publish | C::Subscribe | C::Unsubscribe)
        }
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            matches!(cmd, C::Connect | C::ConnAck)
        }
        id::TOPIC_ALIAS => cmd == C::Publish,
        id::USER_PROPERTY => true,
        _ => false,
    }
}

fn fail<T>(msg: String) -> Result<T, ParseStop> {
    Err(ParseStop::Error(msg))
}

/// Parse the words after `-D`; returns how many it used. `args` starts at
/// the command name.
pub fn parse(props: &mut CliProperties, args: &[Vec<u8>]) -> Result<usize, ParseStop> {
    let word = |i: usize| args.get(i).map(|w| String::from_utf8_lossy(w).into_owned());
    let not_enough = "Error: --property argument given but not enough arguments specified.\n\n";
    let (Some(cmdname), Some(propname)) = (word(0), word(1)) else {
        return fail(not_enough.into());
    };
    if args.len() < 3 {
        return fail(not_enough.into());
    }
    let Some(&(_, cmd)) = COMMANDS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(&cmdname))
    else {
        return fail("Error: Invalid command given in --property argument.\n\n".into());
    };
    let Some(&(_, pid, ty)) = NAMES
        .iter()
        .find(|(n, _, _)| n.eq_ignore_ascii_case(&propname))
    else {
        return fail("Error: Invalid property name given in --property argument.\n\n".into());
    };
    if !allowed(cmd, pid) {
        return fail(format!(
            "Error: {propname} property not allowed for {cmdname} in --property argument.\n\n"
        ));
    }
    let (key, value, used) = if ty == Type::Pair {
        match (args.get(2), args.get(3)) {
            (Some(k), Some(v)) => (Some(k.as_slice()), v.as_slice(), 4),
            _ => return fail(not_enough.into()),
        }
    } else {
        (None, args.get(2).map_or(&[][..], Vec::as_slice), 3)
    };
    let not_supported = || {
        fail(format!(
            "Error: {propname} property not supported for {cmdname} in --property argument.\n\n"
        ))
    };
    let list = match cmd {
        Command::Connect => &mut props.connect,
        Command::Publish if pid == id::SUBSCRIPTION_IDENTIFIER => return not_supported(),
        Command::Publish => &mut props.publish,
        Command::Subscribe if pid != id::SUBSCRIPTION_IDENTIFIER && pid != id::USER_PROPERTY => {
            return not_supported()
        }
        Command::Subscribe => &mut props.subscribe,
        Command::Unsubscribe => &mut props.unsubscribe,
        Command::Disconnect => &mut props.disconnect,
        Command::Will => &mut props.will,
        Command::Auth | Command::PubAck | Command::PubRec | Command::PubRel | Command::PubComp => {
            return not_supported()
        }
        // libmosquitto refuses it without a word.
        Command::ConnAck => return fail(String::new()),
    };
    let v = value_of(ty, key, value, &propname)?;
    list.add(pid, v);
    Ok(used)
}

/// One value, parsed as libmosquitto's client does (numbers with `atol`).
fn value_of(
    ty: Type,
    key: Option<&[u8]>,
    value: &[u8],
    name: &str,
) -> Result<PropertyValue, ParseStop> {
    let text = String::from_utf8_lossy(value);
    let number = |max: i64| {
        let n = atoi(&text);
        if (0..=max).contains(&n) {
            Ok(n)
        } else {
            fail(format!(
                "Error: Property value ({n}) out of range for property {name}.\n\n"
            ))
        }
    };
    // A string that is not MQTT UTF-8 fails in libmosquitto's "add".
    let string = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) if super::options::valid_mqtt_utf8(s) => Ok(s.to_owned()),
        _ => fail(format!("Error adding property {name} {}\n", ty as u8)),
    };
    Ok(match ty {
        Type::Byte => PropertyValue::Byte(number(0xFF)? as u8),
        Type::Int16 => PropertyValue::U16(number(0xFFFF)? as u16),
        Type::Int32 => PropertyValue::U32(number(0xFFFF_FFFF)? as u32),
        Type::Varint => PropertyValue::Varint(number(0xFFFF_FFFF)? as u32),
        Type::Binary => {
            if value.len() > 0xFFFF {
                return fail(format!(
                    "Error: Property value too long for property {name}.\n\n"
                ));
            }
            PropertyValue::Binary(value.to_vec())
        }
        Type::String => PropertyValue::String(string(value)?),
        Type::Pair => PropertyValue::Pair(string(key.unwrap_or_default())?, string(value)?),
    })
}

/// libmosquitto's `mosquitto_property_check_all`: the message
/// (`mosquitto_strerror`) for the first problem in a list.
pub fn check_all(cmd: Command, props: &Properties) -> Result<(), &'static str> {
    const PROTOCOL: &str = "A network protocol error occurred when communicating with the broker.";
    for (i, (pid, v)) in props.0.iter().enumerate() {
        let bad_value = match (*pid, v) {
            (
                id::REQUEST_PROBLEM_INFORMATION
                | id::REQUEST_RESPONSE_INFORMATION
                | id::MAXIMUM_QOS
                | id::RETAIN_AVAILABLE
                | id::WILDCARD_SUBSCRIPTION_AVAILABLE
                | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
                | id::SHARED_SUBSCRIPTION_AVAILABLE,
                PropertyValue::Byte(b),
            ) => *b > 1,
            (id::MAXIMUM_PACKET_SIZE, PropertyValue::U32(0)) => true,
            (id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS, PropertyValue::U16(0)) => true,
            _ => false,
        };
        if bad_value || !allowed(cmd, *pid) {
            return Err(PROTOCOL);
        }
        let repeated = props.0.iter().skip(i + 1).any(|(other, _)| other == pid);
        if repeated && *pid != id::USER_PROPERTY {
            return Err("Duplicate property in property list");
        }
    }
    Ok(())
}

impl CliProperties {
    /// The end-of-parsing checks, with mosquitto's messages.
    pub fn check(&self) -> Result<(), String> {
        let lists = [
            (Command::Connect, &self.connect, "CONNECT"),
            (Command::Publish, &self.publish, "PUBLISH"),
            (Command::Subscribe, &self.subscribe, "SUBSCRIBE"),
            (Command::Unsubscribe, &self.unsubscribe, "UNSUBSCRIBE"),
            (Command::Disconnect, &self.disconnect, "DISCONNECT"),
            (Command::Will, &self.will, "Will"),
        ];
        for (cmd, list, name) in lists {
            check_all(cmd, list).map_err(|e| format!("Error in {name} properties: {e}\n"))?;
        }
        Ok(())
    }

    /// Whether any list (other than those the tool adds itself) is set.
    pub fn any(&self) -> bool {
        !(self.connect.is_empty()
            && self.publish.is_empty()
            && self.subscribe.is_empty()
            && self.unsubscribe.is_empty()
            && self.disconnect.is_empty()
            && self.will.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str]) -> Result<(CliProperties, usize), String> {
        let args: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        let mut p = CliProperties::default();
        match parse(&mut p, &args) {
            Ok(n) => Ok((p, n)),
            Err(ParseStop::Error(m)) => Err(m),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn values_and_lists() {
        let (p, n) = run(&["publish", "Message-Expiry-Interval", "60", "x"]).unwrap();
        assert_eq!(n, 3);
        assert_eq!(p.publish.message_expiry_interval(), Some(60));
        let (p, n) = run(&["connect", "user-property", "k", "v"]).unwrap();
        assert_eq!(n, 4);
        assert_eq!(
            p.connect.user_properties().collect::<Vec<_>>(),
            [("k", "v")]
        );
        let (p, _) = run(&["subscribe", "subscription-identifier", "7"]).unwrap();
        assert_eq!(
            p.subscribe.subscription_identifiers().collect::<Vec<_>>(),
            [7]
        );
        let (p, _) = run(&["will", "correlation-data", "abc"]).unwrap();
        assert_eq!(p.will.correlation_data(), Some(&b"abc"[..]));
    }

    #[test]
    fn errors_as_mosquitto() {
        let e = |w: &[&str]| run(w).unwrap_err();
        assert_eq!(
            e(&["publish", "content-type"]),
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
        assert_eq!(
            e(&["conect", "a", "b"]),
            "Error: Invalid command given in --property argument.\n\n"
        );
        assert_eq!(
            e(&["connect", "foo", "b"]),
            "Error: Invalid property name given in --property argument.\n\n"
        );
        assert_eq!(
            e(&["connect", "topic-alias", "1"]),
            "Error: topic-alias property not allowed for connect in --property argument.\n\n"
        );
        assert_eq!(
            e(&["publish", "subscription-identifier", "1"]),
            "Error: subscription-identifier property not supported for publish in --property argument.\n\n"
        );
        assert_eq!(
            e(&["publish", "message-expiry-interval", "-1"]),
            "Error: Property value (-1) out of range for property message-expiry-interval.\n\n"
        );
        assert_eq!(e(&["connack", "reason-string", "x"]), "");
        assert_eq!(
            e(&["publish", "user-property", "a"]),
            "Error: --property argument given but not enough arguments specified.\n\n"
        );
    }

    #[test]
    fn final_checks() {
        let (mut p, _) = run(&["publish", "topic-alias", "0"]).unwrap();
        assert_eq!(
            p.check().unwrap_err(),
            "Error in PUBLISH properties: A network protocol error occurred when communicating with the broker.\n"
        );
        p.publish = Properties::default();
        p.publish
            .add(id::CONTENT_TYPE, PropertyValue::String("a".into()));
        p.publish
            .add(id::CONTENT_TYPE, PropertyValue::String("b".into()));
        assert_eq!(
            p.check().unwrap_err(),
            "Error in PUBLISH properties: Duplicate property in property list\n"
        );
    }
}
