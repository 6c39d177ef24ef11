//! Configuration files and the command line: errors stop start-up with
//! `Error found at FILE:LINE.`, the seed config loads, `-p`, `-h`.

use crate::harness::*;
use std::time::Duration;

const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the broker on a config whose second line is `line` and asserts it
/// refuses to start, naming the file and line.
fn refuses(line: &str, reason: &str) {
    let dir = TempDir::new("badconf");
    let port = free_port();
    let path = dir.write(
        "bad.conf",
        &format!("listener {port} 127.0.0.1\n{line}\nallow_anonymous true\n"),
    );
    let path_s = path.to_string_lossy().into_owned();
    let out = run_to_exit(&["-c", &path_s], &dir, EXIT_TIMEOUT);
    assert!(
        !out.status.success(),
        "{line:?}: exit status {}",
        out.status
    );
    let text = out.output();
    assert!(
        text.contains(&format!("Error found at {path_s}:2.")),
        "{line:?}: no 'Error found at {path_s}:2.' in:\n{text}"
    );
    assert!(text.contains(reason), "{line:?}: no {reason:?} in:\n{text}");
}

#[test]
fn unknown_option_refuses_start() {
    refuses(
        "bogus_option 1",
        "Error: Unknown configuration variable \"bogus_option\".",
    );
}

#[test]
fn malformed_values_refuse_start() {
    refuses(
        "allow_anonymous maybe",
        "Error: Invalid allow_anonymous value (maybe).",
    );
    refuses(
        "max_packet_size 5",
        "Error: Invalid max_packet_size value (5).",
    );
    refuses(
        "log_dest nowhere",
        "Error: Invalid log_dest value (nowhere).",
    );
    refuses(
        "retain_available",
        "Error: Empty retain_available value in configuration.",
    );
}

#[test]
fn missing_config_file_refuses_start() {
    let dir = TempDir::new("noconf");
    let path = dir.join("does-not-exist.conf");
    let path_s = path.to_string_lossy().into_owned();
    let out = run_to_exit(&["-c", &path_s], &dir, EXIT_TIMEOUT);
    assert!(!out.status.success());
    let text = out.output();
    assert!(
        text.contains(&format!("Error: Unable to open config file {path_s}.")),
        "{text}"
    );
}

#[test]
fn error_in_included_file_names_that_file() {
    let dir = TempDir::new("incconf");
    let inc = TempDir::new("incdir");
    let inc_file = inc.write("zz-bad.conf", "# comment\n\nnot_an_option yes\n");
    let port = free_port();
    let path = dir.write(
        "main.conf",
        &format!(
            "listener {port} 127.0.0.1\ninclude_dir {}\n",
            inc.path.display()
        ),
    );
    let out = run_to_exit(&["-c", &path.to_string_lossy()], &dir, EXIT_TIMEOUT);
    assert!(!out.status.success());
    let text = out.output();
    assert!(
        text.contains(&format!("Error found at {}:3.", inc_file.display())),
        "{text}"
    );
}

#[test]
fn seed_config_loads() {
    // The annotated mosquitto.conf from the document the project started from.
    let seed_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/fixtures/seed-mosquitto.conf"
    );
    let seed = read_required(std::path::Path::new(seed_path));
    assert!(
        seed.contains("include_dir /etc/mosquitto/conf.d"),
        "the seed config changed: update this test"
    );
    let mut b = Broker::start_with(|port, dir| {
        // The seed's conf.d is replaced by a temp dir holding the listener,
        // as a Debian install keeps it in /etc/mosquitto/conf.d.
        let conf_d = dir.join("conf.d");
        std::fs::create_dir_all(&conf_d).expect("conf.d");
        std::fs::write(
            conf_d.join("listener.conf"),
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n"),
        )
        .expect("listener.conf");
        let text = seed.replace(
            "include_dir /etc/mosquitto/conf.d",
            &format!("include_dir {}", conf_d.display()),
        );
        let path = dir.write("mosquitto.conf", &text);
        vec!["-c".into(), path.to_string_lossy().into_owned()]
    });
    let mut sub = Client::connect(b.port, "seed-sub", true, 60);
    sub.subscribe("seed/t", 1);
    let mut publ = Client::connect(b.port, "seed-pub", true, 60);
    publ.publish("seed/t", b"seeded", 1, false);
    assert_eq!(sub.receive_publish().payload, b"seeded");
    // log_dest none: no connection messages (mosquitto 2.0.11 still prints
    // "Loading config file ..." for include_dir files, before logging is set
    // up, so the log need not be empty).
    let log = b.log_text();
    assert!(
        !log.contains("New client connected"),
        "log_dest none, yet the broker logged connections:\n{log}"
    );
    let status = b.stop_gracefully().expect("exits on SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
}

#[test]
fn sigterm_stops_the_broker_cleanly() {
    let mut b = Broker::start("");
    let mut c = Client::connect(b.port, "sigterm", true, 60);
    c.assert_alive();
    let status = b.stop_gracefully().expect("exits on SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
    c.expect_closed();
    assert!(b.log_text().contains("terminating"), "{}", b.log_text());
}

// ---------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------

#[test]
fn dash_p_listens_without_a_config_file() {
    let b = Broker::start_with(|port, _| vec!["-p".into(), port.to_string()]);
    let mut sub = Client::connect(b.port, "dash-p-sub", true, 60);
    sub.subscribe("p/t", 0);
    let mut publ = Client::connect(b.port, "dash-p-pub", true, 60);
    publ.publish("p/t", b"port", 1, false);
    assert_eq!(sub.receive_publish().payload, b"port");
}

#[test]
fn dash_h_prints_usage() {
    let dir = TempDir::new("help");
    let out = run_to_exit(&["-h"], &dir, EXIT_TIMEOUT);
    let text = out.output();
    assert!(
        text.contains("Usage: mosquitto [-c config_file] [-d] [-h] [-p port]"),
        "{text}"
    );
    // Each option is explained (in our own words, not mosquitto's).
    for opt in [" -c : ", " -d : ", " -h : ", " -p : ", " -v : "] {
        assert!(text.contains(opt), "{opt} missing from:\n{text}");
    }
}

#[test]
fn unknown_command_line_option_fails() {
    let dir = TempDir::new("badopt");
    let out = run_to_exit(&["--bogus"], &dir, EXIT_TIMEOUT);
    assert!(!out.status.success(), "exit status {}", out.status);
    let text = out.output();
    assert!(text.contains("Error: Unknown option '--bogus'."), "{text}");
    assert!(text.contains("Usage: mosquitto"), "{text}");
}

#[test]
fn dash_v_logs_everything() {
    let b = Broker::start_with(|port, _| vec!["-p".into(), port.to_string(), "-v".into()]);
    let mut c = Client::connect(b.port, "verbose", true, 60);
    c.subscribe("v/t", 0);
    // -v enables debug logging: packet-level lines appear.
    assert!(
        b.wait_for_log("Received SUBSCRIBE from verbose", TIMEOUT),
        "{}",
        b.log_text()
    );
}
