//! The clients' MQTT 5: `-V`, `-D` properties, mosquitto_sub's v5 output
//! and mosquitto_rr, compared with Debian's mosquitto 2.0.11 clients.
//!
//! The broker is a parameter: the broker under test by default
//! (`Broker::start`, i.e. ours or `MQTT_TEST_BROKER`); with
//! `CLIENTS_V5_BROKER=debian` in the environment, Debian's mosquitto.

use crate::harness::*;
use std::time::Duration;

const DEBIAN_RR: &str = "/usr/bin/mosquitto_rr";
const OUR_RR: &str = env!("CARGO_BIN_EXE_mosquitto_rr");

/// A broker that speaks MQTT 5, kept alive by the guard.
enum V5Broker {
    UnderTest(Broker),
    // The directory holds its config file for as long as it runs.
    Debian(RefBroker, #[allow(dead_code)] TempDir),
}

impl V5Broker {
    fn start() -> Option<V5Broker> {
        if std::env::var("CLIENTS_V5_BROKER").as_deref() != Ok("debian") {
            return Some(V5Broker::UnderTest(Broker::start("")));
        }
        let dir = TempDir::new("clients-v5");
        let b = RefBroker::start(|port| {
            dir.write(
                "m.conf",
                &format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
            )
        })?;
        Some(V5Broker::Debian(b, dir))
    }

    fn port(&self) -> String {
        match self {
            V5Broker::UnderTest(b) => b.port_arg(),
            V5Broker::Debian(b, _) => b.port.to_string(),
        }
    }
}

/// Debian's client tools are needed to compare with.
fn debian_tools() -> bool {
    require_tool(
        "mosquitto_rr",
        "Debian's mosquitto-clients, to compare with",
    )
    .is_some()
}

#[test]
fn property_errors_match_debian() {
    let Some(b) = V5Broker::start() else { return };
    if !debian_tools() {
        return;
    }
    let p = b.port();
    let cases: &[&[&str]] = &[
        &["-D", "connect", "user-property", "a", "b", "-V", "311"],
        &["-D", "conect", "user-property", "a", "b"],
        &["-D", "connect", "foo", "a"],
        &["-D", "connect", "topic-alias", "1"],
        &["-D", "publish", "subscription-identifier", "1"],
        &["-D", "auth", "authentication-method", "x"],
        &["-D", "puback", "reason-string", "x"],
        &["-D", "connack", "reason-string", "x"],
        &["-D", "publish", "message-expiry-interval", "-1"],
        &["-D", "publish", "topic-alias", "0"],
        &["-D", "publish", "topic-alias", "70000"],
        &["-D", "connect", "request-problem-information", "2"],
        &["-D", "connect", "receive-maximum", "0", "--quiet"],
        &["-D", "connect", "maximum-packet-size", "0"],
        &[
            "-D",
            "publish",
            "content-type",
            "a",
            "-D",
            "publish",
            "content-type",
            "b",
        ],
        &["-D", "publish"],
        &["-D", "publish", "user-property", "a"],
        &[
            "-D",
            "will",
            "user-property",
            "a",
            "b",
            "--will-topic",
            "w",
            "-V",
            "311",
        ],
        &["-x", "10", "-D", "connect", "session-expiry-interval", "5"],
        &["-D", "PUBLISH", "Content-Type", "x"],
        &["-c", "-V", "5"],
        &["-x", "-1"],
        &["-x", "∞", "-i", "id"],
        &["-x", "5", "-V", "311", "-c"],
        &["-V", "4"],
        &["-D", "subscribe", "subscription-identifier", "3"],
    ];
    for case in cases {
        let mut args = vec!["-p", p.as_str(), "-t", "a", "-m", "x"];
        args.extend_from_slice(case);
        let ours = run(OUR_PUB, &args);
        let theirs = run(DEBIAN_PUB, &args);
        assert_eq!(
            (ours.code, ours.stderr.as_str()),
            (theirs.code, theirs.stderr.as_str()),
            "mosquitto_pub {case:?}"
        );
    }
}

/// The `"tst"` value of a JSON line, which differs between two runs.
fn without_tst(out: &[u8]) -> String {
    let text = String::from_utf8_lossy(out);
    text.lines()
        .map(|l| match (l.find("\"tst\":"), l.find("+0000\"")) {
            (Some(a), Some(b)) if b > a => format!("{}{}", &l[..a], &l[b + 6..]),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const ALL_PUBLISH_PROPS: &[&str] = &[
    "-D",
    "publish",
    "content-type",
    "text/plain",
    "-D",
    "publish",
    "correlation-data",
    "c0rr",
    "-D",
    "publish",
    "message-expiry-interval",
    "100",
    "-D",
    "publish",
    "payload-format-indicator",
    "1",
    "-D",
    "publish",
    "user-property",
    "k",
    "v",
    "-D",
    "publish",
    "response-topic",
    "r/t",
    "-D",
    "publish",
    "user-property",
    "k2",
    "v2",
];

#[test]
fn v5_output_formats_match_debian_sub() {
    let Some(b) = V5Broker::start() else { return };
    if !debian_tools() {
        return;
    }
    let p = b.port();
    let formats: &[&[&str]] = &[
        &["-F", "%A|%C|%D|%E|%F|%P|%R|%S|%t|%p|%q|%r|%l|%m"],
        &["-F", "%j"],
        &["-F", "%J"],
        &["--pretty", "-F", "%j"],
    ];
    for fmt in formats {
        let mut args = vec![
            "-p",
            &p,
            "-V",
            "5",
            "-q",
            "1",
            "-t",
            "f/#",
            "-C",
            "4",
            "-D",
            "subscribe",
            "subscription-identifier",
            "9",
        ];
        args.extend_from_slice(fmt);
        let mut ours = Sub::start(OUR_SUB, &args);
        let mut theirs = Sub::start(DEBIAN_SUB, &args);
        for (n, pb) in [OUR_PUB, DEBIAN_PUB].into_iter().enumerate() {
            let topic = format!("f/{n}");
            let mut pargs = vec!["-p", &p, "-t", &topic, "-q", "1", "-m", "{\"a\":[1,2]}"];
            pargs.extend_from_slice(ALL_PUBLISH_PROPS);
            assert_eq!(run(pb, &pargs).code, Some(0));
            let plain = ["-p", &p, "-t", &topic, "-m", "{}", "-V", "5"];
            assert_eq!(run(pb, &plain).code, Some(0));
        }
        assert_eq!(ours.wait_exit(TIMEOUT), Some(0));
        assert_eq!(theirs.wait_exit(TIMEOUT), Some(0));
        let (o, t) = (without_tst(&ours.output()), without_tst(&theirs.output()));
        assert!(o.contains("r/t"), "{fmt:?}: {o}");
        assert_eq!(o, t, "mosquitto_sub {fmt:?}");
    }
}

#[test]
fn every_version_connects_and_31_gets_an_id() {
    let Some(b) = V5Broker::start() else { return };
    let p = b.port();
    for v in ["31", "mqttv31", "311", "mqttv311", "5", "mqttv5"] {
        let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-V", v, "-t", "v", "-C", "1"]);
        let r = run(OUR_PUB, &["-p", &p, "-V", v, "-t", "v", "-m", v]);
        assert_eq!(r.code, Some(0), "{v}: {r:?}");
        assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{v}");
        assert_eq!(sub.output(), format!("{v}\n").into_bytes());
        if v.ends_with("31") {
            let raw = sub.raw_output();
            assert!(raw.contains("Client mosq-"), "{raw}");
        }
    }
}

#[test]
fn connect_subscribe_will_disconnect_properties_are_accepted() {
    let Some(b) = V5Broker::start() else { return };
    let p = b.port();
    let mut sub = Sub::start(
        OUR_SUB,
        &[
            "-p",
            &p,
            "-t",
            "w/#",
            "-C",
            "1",
            "-F",
            "%t %p %C %P",
            "-D",
            "connect",
            "user-property",
            "c",
            "1",
            "-D",
            "connect",
            "receive-maximum",
            "5",
            "-D",
            "subscribe",
            "user-property",
            "s",
            "2",
            "-D",
            "unsubscribe",
            "user-property",
            "u",
            "3",
            "-D",
            "disconnect",
            "session-expiry-interval",
            "0",
            "-U",
            "nothing",
        ],
    );
    // A will with properties, published when the client is killed.
    let mut willer = Sub::spawn(
        OUR_SUB,
        &[
            "-p",
            &p,
            "-t",
            "none",
            "-d",
            "-i",
            "willer",
            "--will-topic",
            "w/x",
            "--will-payload",
            "gone",
            "-D",
            "will",
            "content-type",
            "text/x",
            "-D",
            "will",
            "user-property",
            "wk",
            "wv",
        ],
    );
    assert!(willer.wait_for_raw(b"Subscribed (mid", TIMEOUT));
    assert_eq!(willer.signal("KILL"), None);
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
    assert_eq!(sub.output(), b"w/x gone text/x wk:wv\n");
}

#[test]
fn topic_alias_is_reused_with_stdin_lines() {
    let Some(b) = V5Broker::start() else { return };
    let p = b.port();
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-V", "5", "-t", "al", "-C", "3"]);
    let r = run_stdin(
        OUR_PUB,
        &[
            "-p",
            &p,
            "-t",
            "al",
            "-l",
            "-d",
            "-D",
            "publish",
            "topic-alias",
            "2",
        ],
        b"one\ntwo\nthree\n",
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let debug = r.stdout_text();
    assert!(debug.contains("'al', ... (3 bytes)"), "{debug}");
    assert!(debug.contains("'(null)', ... (3 bytes)"), "{debug}");
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    assert_eq!(sub.output(), b"one\ntwo\nthree\n");
}

/// A responder in paho-mqtt (MQTT 5): answers on the request's response
/// topic with its correlation data.
const PAHO_RESPONDER: &str = r#"
import sys, paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
def on_connect(c, u, f, rc, props):
    c.subscribe("svc/req", qos=1)
def on_subscribe(c, u, mid, rcs, props):
    print("ready", flush=True)
def on_message(c, u, m):
    p = Properties(PacketTypes.PUBLISH)
    p.CorrelationData = m.properties.CorrelationData
    body = b"answer to " + m.payload + b" for " + m.properties.CorrelationData
    c.publish(m.properties.ResponseTopic, body, qos=1, properties=p)
c.on_connect, c.on_subscribe, c.on_message = on_connect, on_subscribe, on_message
c.connect("127.0.0.1", int(sys.argv[1]))
c.loop_forever()
"#;

#[test]
fn rr_gets_the_answer_of_a_paho_v5_responder() {
    let Some(b) = V5Broker::start() else { return };
    let Some(python) = paho_python() else { return };
    let p = b.port();
    let mut responder = Sub::spawn(&python.to_string_lossy(), &["-c", PAHO_RESPONDER, &p]);
    assert!(
        responder.wait_for_raw(b"ready", TIMEOUT),
        "{}",
        responder.stderr()
    );
    let r = run(
        OUR_RR,
        &[
            "-p",
            &p,
            "-t",
            "svc/req",
            "-e",
            "svc/resp/1",
            "-m",
            "ping",
            "-q",
            "1",
            "-D",
            "publish",
            "correlation-data",
            "id-42",
            "-W",
            "10",
            "-F",
            "%t %p %D",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(
        r.stdout_text(),
        "svc/resp/1 answer to ping for id-42 id-42\n"
    );
}

#[test]
fn rr_in_311_mode_with_a_responder_made_of_debian_clients() {
    let Some(b) = V5Broker::start() else { return };
    if !debian_tools() {
        return;
    }
    let p = b.port();
    for rr in [OUR_RR, DEBIAN_RR] {
        let mut listener = Sub::start(DEBIAN_SUB, &["-p", &p, "-V", "311", "-t", "q3", "-C", "1"]);
        let mut asker = Sub::spawn(
            rr,
            &[
                "-p", &p, "-V", "311", "-t", "q3", "-e", "a3", "-m", "question", "-v", "-W", "10",
            ],
        );
        assert_eq!(listener.wait_exit(TIMEOUT), Some(0));
        assert_eq!(listener.output(), b"question\n");
        let r = run(
            DEBIAN_PUB,
            &["-p", &p, "-V", "311", "-t", "a3", "-m", "reply"],
        );
        assert_eq!(r.code, Some(0));
        assert_eq!(
            asker.wait_exit(TIMEOUT),
            Some(0),
            "{rr}: {}",
            asker.stderr()
        );
        assert_eq!(asker.output(), b"a3 reply\n", "{rr}");
    }
}

#[test]
fn rr_times_out_and_checks_its_options_as_debian() {
    let Some(b) = V5Broker::start() else { return };
    if !debian_tools() {
        return;
    }
    let p = b.port();
    let cases: &[&[&str]] = &[
        &["-t", "nobody", "-e", "r", "-m", "x", "-W", "1"],
        &["-t", "nobody", "-m", "x"],
        &["-t", "a/#", "-e", "r", "-m", "x"],
        &["-t", "t", "-e", "r/+", "-m", "x"],
        &[
            "-t",
            "t",
            "-e",
            "r",
            "-m",
            "x",
            "-D",
            "publish",
            "response-topic",
            "y",
        ],
        &["-t", "t", "-e", "r", "-m", "x", "-C", "1"],
        &["-t", "t", "-e", "r", "-l"],
    ];
    for case in cases {
        let mut args = vec!["-p", p.as_str()];
        args.extend_from_slice(case);
        let ours = run_limit(OUR_RR, &args, b"", Duration::from_secs(10));
        let theirs = run_limit(DEBIAN_RR, &args, b"", Duration::from_secs(10));
        assert_eq!(
            (ours.code, ours.stderr.as_str()),
            (theirs.code, theirs.stderr.as_str()),
            "mosquitto_rr {case:?}"
        );
    }
}

#[test]
fn subscription_options_nolocal_and_retain_handling() {
    let Some(b) = V5Broker::start() else { return };
    let p = b.port();
    let r = run(OUR_PUB, &["-p", &p, "-t", "rh", "-m", "kept", "-r"]);
    assert_eq!(r.code, Some(0));
    let base = [
        "-p",
        p.as_str(),
        "-V",
        "5",
        "-t",
        "rh",
        "-W",
        "1",
        "-C",
        "1",
        "-d",
    ];
    let mut never = base.to_vec();
    never.extend(["--retain-handling", "2", "--nolocal"]);
    let r = run(OUR_SUB, &never);
    assert_eq!(r.code, Some(27), "{r:?}");
    assert!(
        r.stdout_text().contains("Options: 0x24)"),
        "{}",
        r.stdout_text()
    );
    assert!(!r.stdout_text().contains("kept"));
    let mut always = base.to_vec();
    always.extend(["--retain-handling", "0"]);
    let r = run(OUR_SUB, &always);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout_text().contains("\nkept\n"), "{}", r.stdout_text());
    let r = run(OUR_SUB, &["-t", "x", "--retain-handling", "3"]);
    assert_eq!(r.stderr, "Error: --retain-handling must be 0, 1 or 2.\n\n\nUse 'mosquitto_sub --help' to see usage.\n");
}
