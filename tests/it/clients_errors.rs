//! Bad input and failures: our tools must print what Debian's mosquitto 2.0
//! tools print on stderr and exit with the same status, and never panic or
//! hang.

use crate::harness::*;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Run ours and Debian's with the same arguments; same stderr and status.
fn same_as_debian(ours: &str, debian: &str, args: &[&str]) -> Run {
    let a = run(ours, args);
    let b = run(debian, args);
    assert_eq!(
        a.code, b.code,
        "exit status for {args:?}: ours {a:?} debian {b:?}"
    );
    assert_eq!(a.stderr, b.stderr, "stderr for {args:?}");
    assert!(!a.stderr.contains("panicked"));
    a
}

#[test]
fn bad_pub_arguments_match_mosquitto() {
    let b = Broker::start("");
    let p = b.port_arg();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--foo"],
        vec!["-t"],
        vec!["-p", &p, "-t", "a/+", "-m", "x"],
        vec!["-p", &p, "-t", "a/#", "-m", "x"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-q", "3"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-q", "-1"],
        vec!["-p", "70000", "-t", "a", "-m", "x"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-n"],
        vec!["-p", &p, "-t", "a", "-l", "-s"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-c"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-k", "2"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-v"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-C", "1"],
        vec!["-p", &p, "-t", "a", "-m", "x", "--repeat", "0"],
        vec!["-p", &p, "-t", "a", "-m", "x", "--repeat-delay", "-1"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-M", "0"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-V", "5", "-x", "abc"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-V", "5", "-c"],
        vec!["-p", &p, "-t", "a", "-m"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-u"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-P"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-h"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-i"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-A"],
        vec!["-p", &p, "-t", "a", "-m", "x", "-L"],
        vec!["-p", &p, "-t", "a", "-m", "x", "--will-topic"],
    ];
    for args in &cases {
        let r = same_as_debian(OUR_PUB, DEBIAN_PUB, args);
        assert_eq!(r.code, Some(1), "{args:?}");
        assert!(r.stderr.starts_with("Error: "), "{args:?}: {}", r.stderr);
    }
    // No topic or no message: the error, then the usage on stdout.
    let r = same_as_debian(OUR_PUB, DEBIAN_PUB, &["-p", &p, "-m", "x"]);
    assert_eq!(
        r.stderr,
        "Error: Both topic and message must be supplied.\n"
    );
    assert!(r.stdout_text().contains("Usage: mosquitto_pub"));
}

#[test]
fn bad_sub_arguments_match_mosquitto() {
    let b = Broker::start("");
    let p = b.port_arg();
    let cases: Vec<Vec<&str>> = vec![
        vec!["-p", &p],
        vec!["-p", &p, "-t", "a/#b"],
        vec!["-p", &p, "-t", "a/b+"],
        vec!["-p", &p, "-t", "a", "-C", "x"],
        vec!["-p", &p, "-t", "a", "-W", "x"],
        vec!["-p", &p, "-t", "a", "-r"],
        vec!["-p", &p, "-t", "a", "-m", "x"],
        vec!["-p", &p, "-t", "a", "-T", "#x"],
        vec!["-p", &p, "-t", "a", "-F"],
        vec!["-p", &p, "-t", "a", "-q", "7"],
        vec!["-p", &p, "-t", "a", "-U"],
        vec!["-p", &p, "-t", "a", "-c"],
        vec!["-p", &p, "-t", "a", "--random-filter", "0"],
    ];
    for args in &cases {
        let r = same_as_debian(OUR_SUB, DEBIAN_SUB, args);
        assert_eq!(r.code, Some(1), "{args:?}");
    }
}

#[test]
fn unreachable_hosts_and_closed_ports() {
    // A port nobody listens on.
    let port = free_port().to_string();
    for (ours, debian) in [(OUR_PUB, DEBIAN_PUB), (OUR_SUB, DEBIAN_SUB)] {
        let r = same_as_debian(
            ours,
            debian,
            &["-p", &port, "-t", "a", "-m", "x"][..if ours == OUR_PUB { 6 } else { 4 }],
        );
        assert_eq!(r.stderr, "Error: Connection refused\n");
        assert_eq!(r.code, Some(1));
        let r = same_as_debian(
            ours,
            debian,
            &["-h", "nonexistent.invalid", "-t", "a", "-m", "x"]
                [..if ours == OUR_PUB { 6 } else { 4 }],
        );
        assert_eq!(r.stderr, "Unable to connect (Lookup error.).\n");
        // --quiet silences it but keeps the status.
        let r = run(
            ours,
            &["-p", &port, "-t", "a", "-m", "x", "--quiet"][..if ours == OUR_PUB { 7 } else { 4 }],
        );
        if ours == OUR_PUB {
            assert_eq!(r.stderr, "");
        }
        assert_eq!(r.code, Some(1));
    }
}

#[test]
fn silent_server_times_out_after_keepalive() {
    // Accepts the connection and never answers: mosquitto would wait for
    // ever; we give up after the keepalive interval.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port().to_string();
    let keep = std::thread::spawn(move || {
        let conn = l.accept();
        std::thread::sleep(Duration::from_secs(8));
        drop(conn);
    });
    let start = Instant::now();
    let r = run_limit(
        OUR_PUB,
        &["-p", &port, "-t", "a", "-m", "x", "-k", "5"],
        b"",
        Duration::from_secs(8),
    );
    assert!(start.elapsed() < Duration::from_secs(7));
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr, "Error: Connection timed out\n");
    let _ = keep.join();
}

// The password file is hashed: the broker needs the `tls` feature to read it.
#[cfg(feature = "tls")]
#[test]
fn refused_connection_bad_credentials() {
    let dir = TempDir::new("cred");
    let pw = dir.join("pw");
    let r = run(
        DEBIAN_PASSWD,
        &["-c", "-b", pw.to_str().unwrap(), "alice", "secret"],
    );
    assert_eq!(r.code, Some(0));
    let b = Broker::start_config(|port| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            pw.display()
        )
    });
    let p = b.port_arg();
    for (args, code) in [
        (vec!["-u", "alice", "-P", "wrong"], 5),
        (vec![], 5),
        (vec!["-u", "bob", "-P", "secret"], 5),
    ] {
        let mut pub_args = vec!["-p", p.as_str(), "-t", "a", "-m", "x"];
        pub_args.extend_from_slice(&args);
        let r = same_as_debian(OUR_PUB, DEBIAN_PUB, &pub_args);
        assert_eq!(r.code, Some(code));
        assert_eq!(
            r.stderr,
            "Connection error: Connection Refused: not authorised.\nError: The connection was refused.\n"
        );
        let mut sub_args = vec!["-p", p.as_str(), "-t", "a"];
        sub_args.extend_from_slice(&args);
        let r = same_as_debian(OUR_SUB, DEBIAN_SUB, &sub_args);
        assert_eq!(r.code, Some(code));
        assert_eq!(
            r.stderr,
            "Connection error: Connection Refused: not authorised.\n"
        );
    }
    let r = run(
        OUR_PUB,
        &[
            "-p", &p, "-t", "a", "-m", "x", "-u", "alice", "-P", "secret",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = run(
        OUR_SUB,
        &["-p", &p, "-t", "a", "-u", "alice", "-P", "secret", "-E"],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
}

#[test]
#[cfg(feature = "tls")]
fn tls_options_are_used() {
    for bin in [OUR_PUB, OUR_SUB] {
        let mut all = vec!["-t", "a", "-m", "x"];
        if bin == OUR_SUB {
            all.truncate(2);
        }
        // The options are taken; the missing CA file is then reported in
        // libmosquitto's words before any connection is tried.
        all.extend_from_slice(&["-p", "1", "--cafile", "/nonexistent/ca.pem", "--insecure"]);
        let r = run(bin, &all);
        assert_eq!(r.code, Some(1));
        assert_eq!(
            r.stderr,
            "Error: Problem setting TLS options: File not found.\n"
        );
        let r = run(bin, &["-t", "a", "--cafile"]);
        assert!(r
            .stderr
            .starts_with("Error: --cafile argument given but no file specified.\n"));
        let r = run(bin, &["-t", "a", "--tls-engine", "e"]);
        assert_eq!(r.code, Some(1));
        assert!(
            r.stderr.contains("'--tls-engine' option is not supported"),
            "{}",
            r.stderr
        );
    }
}

#[test]
#[cfg(not(feature = "tls"))]
fn tls_options_are_reported_unavailable() {
    for bin in [OUR_PUB, OUR_SUB] {
        for args in [
            vec!["--cafile", "ca.pem"],
            vec!["--capath", "/etc/ssl"],
            vec!["--cert", "c", "--key", "k"],
            vec!["--insecure"],
            vec!["--tls-version", "tlsv1.2"],
            vec!["--psk", "abcd", "--psk-identity", "me"],
            vec!["--ciphers", "ALL"],
        ] {
            let mut all = vec!["-t", "a", "-m", "x"];
            if bin == OUR_SUB {
                all.truncate(2);
            }
            all.extend_from_slice(&args);
            let r = run(bin, &all);
            assert_eq!(r.code, Some(1), "{args:?}");
            assert!(
                r.stderr.contains("TLS support not available"),
                "{}",
                r.stderr
            );
            assert!(r.stderr.contains(args[0]), "{}", r.stderr);
            assert!(!r.stderr.contains("Unknown option"));
        }
        let r = run(bin, &["-t", "a", "--cafile"]);
        assert!(r
            .stderr
            .starts_with("Error: --cafile argument given but no file specified.\n"));
    }
    let r = run(OUR_PUB, &["-L", "mqtts://host/t", "-m", "x"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("Error: TLS support not available.\n"));
}

#[test]
fn help_and_version() {
    for (ours, debian, name) in [
        (OUR_PUB, DEBIAN_PUB, "mosquitto_pub"),
        (OUR_SUB, DEBIAN_SUB, "mosquitto_sub"),
    ] {
        let a = run(ours, &["--help"]);
        let b = run(debian, &["--help"]);
        assert_eq!(a.code, b.code);
        assert_eq!(a.code, Some(1));
        let ours_text = a.stdout_text();
        let theirs = b.stdout_text();
        // Same synopsis, line for line.
        let synopsis = |t: &str| -> Vec<String> {
            t.lines()
                .skip_while(|l| !l.starts_with("Usage:"))
                .take_while(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(synopsis(&ours_text), synopsis(&theirs));
        assert!(ours_text.starts_with(&format!("{name} is a simple MQTT client")));
        // Every option Debian documents appears in ours.
        for l in theirs.lines().filter(|l| l.starts_with(" -")) {
            let opt = l.split(" : ").next().unwrap().trim();
            assert!(
                ours_text.contains(&format!(" {opt} ")),
                "{name} help lacks {opt}"
            );
        }
        let v = run(ours, &["--version"]);
        assert_eq!(v.code, Some(1));
        assert!(v.stdout_text().starts_with(&format!("{name} version ")));
        assert!(v.stdout_text().ends_with(".\n"));
    }
}

/// `mosquitto_sub -d … | head -1`: the reader goes away. Debian's tools
/// ignore SIGPIPE and the failed prints; ours must not panic on them either
/// and still finish their work (here `-C 1` on a retained message).
#[test]
fn closed_stdout_is_not_a_crash() {
    let b = Broker::start("");
    let p = b.port_arg();
    let set = run(OUR_PUB, &["-p", &p, "-t", "closed/out", "-m", "kept", "-r"]);
    assert_eq!(set.code, Some(0), "{set:?}");
    for sub in [OUR_SUB, DEBIAN_SUB] {
        let mut child = std::process::Command::new(sub)
            .args(["-d", "-p", &p, "-t", "closed/out", "-C", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader is gone before the first line
        let status = wait_timeout(&mut child, TIMEOUT);
        let _ = child.kill();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert!(!err.contains("panicked"), "{sub}: {err}");
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{sub}: {err}");
    }
}
