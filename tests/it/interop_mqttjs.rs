//! MQTT.js (npm `mqtt` 5.x) with `protocolVersion: 5` through ours and
//! through Debian's mosquitto 2.0.11: tests/it/interop/mqttjs_v5.js checks
//! what its clients receive (CONNACK properties, subscription identifier,
//! no local, QoS 0/1/2 with user properties, content type, response topic,
//! correlation data, message expiry, a client topic alias, a session that
//! outlives its connection, a request/response) and prints it as JSON; both
//! brokers must print the same.
//!
//! Node and the module: `apt-get install nodejs npm` and
//! `npm install --prefix tests/it/interop/mqttjs mqtt@5` (what `.ci/run`
//! does; the directory is git-ignored). `MQTTJS_DIR` names another prefix.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::harness::*;

/// `node` and the `node_modules` holding `mqtt`, or None after a skip note
/// (a panic under CI).
fn mqttjs() -> Option<(PathBuf, PathBuf)> {
    let node = require_tool("node", "apt-get install nodejs npm")?;
    let prefix = std::env::var_os("MQTTJS_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/it/interop/mqttjs"
            ))
        },
        PathBuf::from,
    );
    let modules = prefix.join("node_modules");
    if !modules.join("mqtt").join("package.json").is_file() {
        let how = format!("npm install --prefix {} mqtt@5", prefix.display());
        assert!(!in_ci(), "MQTT.js is required in CI ({how})");
        eprintln!(
            "SKIP: MQTT.js not installed in {} ({how})",
            modules.display()
        );
        return None;
    }
    Some((node, modules))
}

/// Runs the script against `port` (bounded); asserts it passed its own
/// checks and returns its JSON line.
fn run_script(node: &Path, modules: &Path, port: u16) -> String {
    let port = port.to_string();
    let env = [("NODE_PATH", modules)];
    let text = run_interop_script(
        node,
        "mqttjs_v5.js",
        &[&port],
        &env,
        Duration::from_secs(60),
    );
    assert!(text.contains("checks, 0 failed"), "{text}");
    let json = text
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line:\n{text}"));
    json.to_owned()
}

#[test]
fn mqttjs_v5_round_trip_matches_debians_broker() {
    let Some((node, modules)) = mqttjs() else {
        return;
    };
    let b = Broker::start("");
    let ours = run_script(&node, &modules, b.port);
    // Spot checks of our own run, beside the script's.
    for needle in [
        r#""subscriptionIdentifier":7"#,
        r#""userProperties":{"a":"1","b":["x","y"]}"#,
        r#""correlationData":"buffer:id-42""#,
        r#""topic":"TAG/m/alias","payload":"by alias""#,
        r#""connack_resumed":{"sessionPresent":true"#,
        r#""no_local":[{"topic":"TAG/m-own","payload":"theirs""#,
    ] {
        assert!(ours.contains(needle), "{needle} missing in:\n{ours}");
    }
    let dir = TempDir::new("mqttjs-ref");
    let Some(r) = RefBroker::start(|port| {
        dir.write(
            &format!("m{port}.conf"),
            &format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
    }) else {
        return;
    };
    let theirs = run_script(&node, &modules, r.port);
    assert_eq!(ours, theirs, "ours (left) and Debian's mosquitto (right)");
}
