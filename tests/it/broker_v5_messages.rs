//! MQTT 5 messages and subscriptions end to end: properties through the
//! broker, subscription options and identifiers, shared subscriptions,
//! message expiry, topic aliases, with paho-mqtt and Debian's tools, each
//! run against ours and against Debian's mosquitto 2.0.11.

use crate::harness::*;

fn debian(conf: &str) -> Option<RefBroker> {
    let dir = TempDir::new("v5msg-ref");
    RefBroker::start(|port| {
        dir.write(
            &format!("m{port}.conf"),
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{conf}\n"),
        )
    })
}

/// paho's MQTT 5 scenarios (tests/it/interop/paho_v5msg.py) on `port`;
/// `reference`: the broker is mosquitto 2.0.11, which sends retained
/// messages on a shared subscribe where we follow the spec.
fn paho_v5(port: u16, reference: bool) {
    let Some(python) = paho_python() else {
        return;
    };
    let port = port.to_string();
    let mut args = vec!["--port", &port];
    if reference {
        args.push("--reference");
    }
    let text = run_paho_script(&python, "paho_v5msg.py", &args);
    assert!(text.contains(" passed, 0 failed"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

#[test]
fn paho_v5_message_scenarios() {
    let b = Broker::start("");
    paho_v5(b.port, is_reference());
}

#[test]
fn paho_v5_message_scenarios_against_debians_broker() {
    if let Some(r) = debian("") {
        paho_v5(r.port, true);
    }
}

/// What Debian's mosquitto_sub prints for messages Debian's mosquitto_pub
/// sends with every PUBLISH property, through the broker on `port`:
/// one subscriber with `-F '%j'`, one with the fields one by one.
fn tools_transcript(port: u16) -> (String, String) {
    let p = port.to_string();
    let base = ["-p", &p, "-V", "mqttv5", "-q", "1", "-C", "2", "-W", "10"];
    let sub = |format: &str, id: &str| {
        let mut args = base.to_vec();
        args.extend(["-t", "v5p/#", "-F", format]);
        args.extend(["-D", "subscribe", "subscription-identifier", id]);
        args.extend(["-D", "connect", "receive-maximum", "10"]);
        Sub::start("/usr/bin/mosquitto_sub", &args)
    };
    let mut json = sub("%j", "5");
    let fields = "%t|%q|%r|%C|%D|%E|%F|%R|%S|%A|%P|%p";
    let mut each = sub(fields, "268435455");
    let publ = [
        "-p",
        &p,
        "-V",
        "mqttv5",
        "-q",
        "1",
        "-D",
        "connect",
        "session-expiry-interval",
        "30",
    ];
    let props = [
        ["user-property", "k", "v"].as_slice(),
        &["user-property", "k", "again"],
        &["message-expiry-interval", "60"],
        &["content-type", "text/x"],
        &["response-topic", "reply/t"],
        &["correlation-data", "c0rr"],
        &["payload-format-indicator", "1"],
        &["topic-alias", "1"],
    ];
    let mut args = publ.to_vec();
    args.extend(["-t", "v5p/a", "-m", "hello"]);
    for pr in props {
        args.push("-D");
        args.push("publish");
        args.extend_from_slice(pr);
    }
    let r = run("/usr/bin/mosquitto_pub", &args);
    assert_eq!(r.code, Some(0), "mosquitto_pub: {}", r.stderr);
    // A plain one, retained.
    let mut args = publ.to_vec();
    args.extend(["-t", "v5p/b", "-m", "plain", "-r"]);
    let r = run("/usr/bin/mosquitto_pub", &args);
    assert_eq!(r.code, Some(0), "mosquitto_pub: {}", r.stderr);
    assert_eq!(json.wait_exit(TIMEOUT), Some(0), "{}", json.stderr());
    assert_eq!(each.wait_exit(TIMEOUT), Some(0), "{}", each.stderr());
    // A second boundary may pass between receipt and delivery.
    let tidy = |s: Vec<u8>| {
        let s = String::from_utf8_lossy(&strip_debug(&s)).into_owned();
        let s = s.replace(
            "\"message-expiry-interval\":59",
            "\"message-expiry-interval\":60",
        );
        let s = s.replace("|59|", "|60|");
        // The JSON timestamp differs from run to run.
        s.lines()
            .map(|l| match (l.find("\"tst\":\""), l.find("\",\"topic\"")) {
                (Some(a), Some(b)) if a < b => format!("{}{}", &l[..a + 7], &l[b..]),
                _ => l.to_owned(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    (tidy(json.output()), tidy(each.output()))
}

#[test]
fn debian_tools_v5_properties_print_the_same_through_ours_and_debians() {
    let (Some(_), Some(_)) = (
        require_tool("mosquitto_sub", "Debian's client"),
        require_tool("mosquitto_pub", "Debian's client"),
    ) else {
        return;
    };
    let b = Broker::start("");
    let (json, each) = tools_transcript(b.port);
    let lines: Vec<&str> = each.lines().collect();
    assert_eq!(
        lines,
        [
            "v5p/a|1|0|text/x|c0rr|60|1|reply/t|268435455||k:v k:again|hello",
            "v5p/b|1|0||||||268435455|||plain",
        ],
        "{each}"
    );
    assert!(json.contains("\"content-type\":\"text/x\""), "{json}");
    assert!(json.contains("\"subscription-identifier\":5"), "{json}");
    if let Some(r) = debian("") {
        let (rjson, reach) = tools_transcript(r.port);
        assert_eq!(each, reach, "field by field");
        assert_eq!(json, rjson, "JSON");
    }
}
