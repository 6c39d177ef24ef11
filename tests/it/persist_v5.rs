//! An MQTT 5 session (subscription options and identifiers), its queued
//! v5 messages (properties, expiry) and a retained v5 message survive a
//! restart, and the mosquitto.db holding them moves both ways between ours
//! and Debian's mosquitto 2.0.11 (driven by paho, interop/paho_v5persist.py).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::*;

enum Running {
    Ours(Broker),
    Debian(RefBroker),
}

impl Running {
    fn start(debian: bool, dir: &Path) -> Option<Running> {
        let persist = format!(
            "persistence true\npersistence_location {}/\nautosave_interval 0\n",
            dir.display()
        );
        if !debian {
            return Some(Running::Ours(Broker::start(&persist)));
        }
        let conf = dir.join("ref.conf");
        RefBroker::start(|port| {
            let text = format!("listener {port} 127.0.0.1\nallow_anonymous true\n{persist}");
            fs::write(&conf, text).unwrap();
            conf.clone()
        })
        .map(Running::Debian)
    }

    fn port(&self) -> u16 {
        match self {
            Running::Ours(b) => b.port,
            Running::Debian(r) => r.port,
        }
    }

    /// SIGTERM: both save their database on the way out.
    fn stop(self) {
        match self {
            Running::Ours(mut b) => assert!(b.stop_gracefully().is_some_and(|s| s.success())),
            Running::Debian(r) => assert!(r.stop().success()),
        }
    }
}

/// Sets the session up on one broker (`first_debian`), restarts from its
/// database on the other (or the same), checks everything came back.
fn across(first_debian: bool, then_debian: bool) {
    let Some(python) = paho_python() else {
        return;
    };
    let dir = TempDir::new("v5persist");
    let _ = fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o777));
    let Some(a) = Running::start(first_debian, &dir.path) else {
        return;
    };
    let port = a.port().to_string();
    let out = run_paho_script(
        &python,
        "paho_v5persist.py",
        &["--port", &port, "--phase", "setup"],
    );
    assert!(out.contains("ok"), "{out}");
    a.stop();
    let db = dir.join("mosquitto.db");
    assert!(db.exists());
    // Each drops to its own user before reading: let the other read it.
    fs::set_permissions(&db, fs::Permissions::from_mode(0o644)).expect("chmod");
    let Some(b) = Running::start(then_debian, &dir.path) else {
        return;
    };
    let port = b.port().to_string();
    let out = run_paho_script(
        &python,
        "paho_v5persist.py",
        &["--port", &port, "--phase", "collect"],
    );
    assert!(out.contains("ok"), "{out}");
    b.stop();
}

#[test]
fn a_v5_session_survives_our_restart() {
    across(is_reference(), is_reference());
}

#[test]
fn a_v5_session_moves_from_debians_mosquitto_to_ours() {
    across(true, false);
}

#[test]
fn a_v5_session_moves_from_ours_to_debians_mosquitto() {
    across(false, true);
}
