//! TLS and TLS-PSK listeners of the real broker, end to end: our and
//! Debian's `mosquitto_pub`/`mosquitto_sub` against our broker, and our
//! clients against Debian's mosquitto 2.0.11; bridges' ALPN and OCSP
//! stapling (`bridge_require_ocsp`) against `openssl s_server`, with OCSP
//! responses made by `openssl ocsp`. Certificates (CA, server for
//! localhost/127.0.0.1, client, revoked client + CRL, expired client, an
//! untrusted self-signed one, a server certificate for another name) are made
//! with the `openssl` command in a temporary directory when the tests run;
//! no key is committed.
//!
//! Only 127.0.0.1; every wait is bounded. A missing tool (openssl, Debian's
//! clients or broker) fails under CI and is a printed skip elsewhere.
#![cfg(feature = "tls")]

use crate::harness::pki;

use crate::harness::*;
use pki::Pki;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The PSK every test uses, and its identity.
const PSK_ID: &str = "sensor1";
const PSK_KEY: &str = "0a1b2c3d4e5f60718293";

// ---------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------

/// Made once per test binary; None (skip) when openssl is missing.
fn pki() -> Option<&'static Pki> {
    static PKI: OnceLock<Option<Pki>> = OnceLock::new();
    PKI.get_or_init(|| {
        require_tool("openssl", "making test certificates")?;
        let pki = Pki::fresh("secbroker");
        std::fs::write(pki.path("psk"), format!("{PSK_ID}:{PSK_KEY}\nother:00ff\n"))
            .expect("psk file");
        pki.let_others_read(); // the psk file too
        Some(pki)
    })
    .as_ref()
}

// ---------------------------------------------------------------------------
// Running the command-line clients
// ---------------------------------------------------------------------------

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs a client tool; kills it if it outlives `limit`.
fn run_tool(bin: &str, args: &[&str], limit: Duration) -> Run {
    let mut child = Command::new(bin)
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    // Drain the pipes while waiting: a big message would fill them.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut text);
            }
            text
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = wait_timeout(&mut child, limit);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Run {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

fn tool_limit() -> Duration {
    Duration::from_secs(15)
}

/// `mosquitto_pub` (ours or Debian's) publishing `msg` on `topic` at QoS 1.
fn publish(bin: &str, port: u16, host: &str, tls: &[&str], topic: &str, msg: &str) -> Run {
    let port_s = port.to_string();
    let mut a = vec![
        "-h", host, "-p", &port_s, "-k", "10", "-q", "1", "-t", topic, "-m", msg,
    ];
    a.extend_from_slice(tls);
    run_tool(bin, &a, tool_limit())
}

/// `mosquitto_sub` (ours or Debian's) reading one message (a retained one,
/// so no start-up race) from `topic`.
fn read_one(bin: &str, port: u16, host: &str, tls: &[&str], topic: &str) -> Run {
    let port_s = port.to_string();
    let mut a = vec![
        "-h", host, "-p", &port_s, "-k", "10", "-C", "1", "-W", "10", "-t", topic,
    ];
    a.extend_from_slice(tls);
    run_tool(bin, &a, tool_limit())
}

fn debian_clients() -> bool {
    require_tool(
        DEBIAN_PUB,
        "Debian's mosquitto_pub against our TLS listeners",
    )
    .is_some()
        && require_tool(
            DEBIAN_SUB,
            "Debian's mosquitto_sub against our TLS listeners",
        )
        .is_some()
}

fn assert_ok(r: &Run, what: &str) {
    assert_eq!(
        r.code,
        Some(0),
        "{what}: stdout {:?} stderr {:?}",
        r.stdout,
        r.stderr
    );
}

fn assert_refused(r: &Run, what: &str) {
    assert!(
        matches!(r.code, Some(c) if c != 0),
        "{what} should have failed: {:?} stdout {:?} stderr {:?}",
        r.code,
        r.stdout,
        r.stderr
    );
}

/// A plain-TCP subscriber on the broker's first listener.
fn plain_sub(port: u16, id: &str, filter: &str) -> Client {
    let mut c = Client::connect(port, id, true, 60);
    c.subscribe(filter, 1);
    c
}

/// With the `tls` options: our mosquitto_pub keeps a retained message on
/// `{prefix}/retained` that our mosquitto_sub (connecting to `host`) reads
/// back; Debian's clients, when installed, publish and read it too.
/// `sub` sees each publish.
fn retained_round_trip(sub: &mut Client, port: u16, host: &str, tls: &[&str], prefix: &str) {
    let (kept, deb) = (format!("{prefix}/retained"), format!("{prefix}/deb"));
    let retain = [tls, &["-r"]].concat();
    assert_ok(
        &publish(OUR_PUB, port, "127.0.0.1", &retain, &kept, "kept"),
        "retained",
    );
    expect_message(sub, &kept, "kept");
    let r = read_one(OUR_SUB, port, host, tls, &kept);
    assert_ok(&r, "our sub");
    assert_eq!(r.stdout, "kept\n");
    if debian_clients() {
        assert_ok(
            &publish(DEBIAN_PUB, port, "127.0.0.1", tls, &deb, "debian"),
            "deb pub",
        );
        expect_message(sub, &deb, "debian");
        let r = read_one(DEBIAN_SUB, port, "127.0.0.1", tls, &kept);
        assert_ok(&r, "deb sub");
        assert_eq!(r.stdout, "kept\n");
    }
}

fn expect_message(c: &mut Client, topic: &str, payload: &str) {
    let m = c.receive_publish();
    assert_eq!(
        (
            m.topic.as_str(),
            String::from_utf8_lossy(&m.payload).as_ref()
        ),
        (topic, payload)
    );
}

// ---------------------------------------------------------------------------
// Our broker
// ---------------------------------------------------------------------------

/// Our broker with a plain listener (the harness's port) and the TLS
/// listeners that `tls_config` returns for their ports.
fn start_with_tls(n: usize, tls_config: impl Fn(&[u16]) -> String) -> (Broker, Vec<u16>) {
    let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let b = Broker::start_config(|port| {
        format!(
            "per_listener_settings false\nlistener {port} 127.0.0.1\nallow_anonymous true\n{}",
            tls_config(&ports)
        )
    });
    for &p in &ports {
        wait_port(p);
    }
    (b, ports)
}

fn wait_port(port: u16) {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect_timeout(&addr(port), Duration::from_millis(500)).is_err() {
        assert!(Instant::now() < deadline, "port {port} never opened");
        // Connection refused comes back at once; do not spin.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn server_tls(p: &Pki, port: u16, cert: &str) -> String {
    format!(
        "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
        p.arg("ca.crt"),
        p.arg(&format!("{cert}.crt")),
        p.arg(&format!("{cert}.key"))
    )
}

#[test]
fn tls_listener_without_client_certificates() {
    let Some(p) = pki() else { return };
    let (b, ports) = start_with_tls(2, |ports| {
        format!(
            "{}{}",
            server_tls(p, ports[0], "server"),
            server_tls(p, ports[1], "other")
        )
    });
    let (tls, other) = (ports[0], ports[1]);
    let ca = p.arg("ca.crt");
    let with_ca = ["--cafile", ca.as_str()];
    let mut sub = plain_sub(b.port, "plain-sub", "tls/#");

    // Our clients, by address and by name (both in the certificate).
    assert_ok(
        &publish(OUR_PUB, tls, "127.0.0.1", &with_ca, "tls/a", "ours by ip"),
        "our pub",
    );
    expect_message(&mut sub, "tls/a", "ours by ip");
    assert_ok(
        &publish(OUR_PUB, tls, "localhost", &with_ca, "tls/b", "ours by name"),
        "our pub",
    );
    expect_message(&mut sub, "tls/b", "ours by name");
    // An mqtts:// URL turns TLS on (system CAs plus --cafile).
    let url = format!("mqtts://localhost:{tls}/tls/url");
    let r = run_tool(
        OUR_PUB,
        &["-L", &url, "--cafile", &ca, "-m", "by url"],
        tool_limit(),
    );
    assert_ok(&r, "mqtts URL");
    expect_message(&mut sub, "tls/url", "by url");
    // A message from plain TCP read over TLS.
    let mut plain = Client::connect(b.port, "plain-pub", true, 60);
    plain.publish("tls/retained", b"kept", 1, true);
    expect_message(&mut sub, "tls/retained", "kept");
    let r = read_one(OUR_SUB, tls, "127.0.0.1", &with_ca, "tls/retained");
    assert_ok(&r, "our sub");
    assert_eq!(r.stdout, "kept\n");

    // A message spanning many TLS records.
    let big = "x".repeat(200_000);
    plain.publish("tls/big", big.as_bytes(), 1, true);
    expect_message(&mut sub, "tls/big", &big);
    let r = read_one(OUR_SUB, tls, "127.0.0.1", &with_ca, "tls/big");
    assert_ok(&r, "our sub, big message");
    assert_eq!(r.stdout.len(), big.len() + 1);

    // And the other way: a big message from a TLS publisher.
    let big_file = b.dir.write("big.txt", &big);
    let port_s = tls.to_string();
    let f = big_file.to_string_lossy();
    let a = [
        "-h",
        "127.0.0.1",
        "-p",
        &port_s,
        "--cafile",
        &ca,
        "-t",
        "tls/big2",
        "-q",
        "1",
        "-f",
        &f,
    ];
    assert_ok(&run_tool(OUR_PUB, &a, tool_limit()), "our pub, big message");
    expect_message(&mut sub, "tls/big2", &big);

    // Debian's clients.
    if debian_clients() {
        assert_ok(
            &publish(DEBIAN_PUB, tls, "127.0.0.1", &with_ca, "tls/c", "debian"),
            "deb pub",
        );
        expect_message(&mut sub, "tls/c", "debian");
        let r = read_one(DEBIAN_SUB, tls, "localhost", &with_ca, "tls/retained");
        assert_ok(&r, "deb sub");
        assert_eq!(r.stdout, "kept\n");
    }

    // A server certificate for another name is refused unless --insecure;
    // one from an untrusted CA is refused even then.
    for bin in [OUR_PUB, DEBIAN_PUB] {
        if bin == DEBIAN_PUB && find_tool(DEBIAN_PUB).is_none() {
            continue;
        }
        let r = publish(bin, other, "127.0.0.1", &with_ca, "tls/x", "wrong name");
        assert_refused(&r, "host name mismatch");
        // libmosquitto finishes the handshake either inside connect or in
        // its loop, and words the failure accordingly; ours always does it
        // inside connect.
        if bin == OUR_PUB {
            assert_eq!(r.stderr, "Unable to connect (A TLS error occurred.).\n");
        } else {
            assert!(r.stderr.contains("A TLS error occurred."), "{}", r.stderr);
        }
        let insecure = ["--cafile", ca.as_str(), "--insecure"];
        assert_ok(
            &publish(bin, other, "127.0.0.1", &insecure, "tls/d", "insecure"),
            bin,
        );
        expect_message(&mut sub, "tls/d", "insecure");
        let untrusted = p.arg("untrusted.crt");
        let r = publish(
            bin,
            tls,
            "127.0.0.1",
            &["--cafile", &untrusted, "--insecure"],
            "tls/x",
            "no",
        );
        assert_refused(&r, "untrusted CA");
    }
    // mosquitto_sub reports a failed handshake with its own words and code.
    let untrusted = p.arg("untrusted.crt");
    let r = read_one(
        OUR_SUB,
        tls,
        "127.0.0.1",
        &["--cafile", &untrusted],
        "tls/#",
    );
    assert_eq!(r.code, Some(8), "{:?}", r.stderr);
    assert_eq!(r.stderr, "Error: A TLS error occurred.\n");
    // Plain MQTT on the TLS port is not understood; our client without TLS
    // options says the connection was lost.
    let r = publish(OUR_PUB, tls, "127.0.0.1", &[], "tls/x", "plain");
    assert_refused(&r, "plain to TLS");
    sub.expect_nothing();
    assert_broker_healthy(b.port);
}

#[test]
fn tls_garbage_and_stalled_handshakes_do_not_disturb_others() {
    let Some(p) = pki() else { return };
    let (b, ports) = start_with_tls(1, |ports| server_tls(p, ports[0], "server"));
    let tls = ports[0];
    let ca = p.arg("ca.crt");
    // One client stalls after half a TLS record header, one sends an MQTT
    // CONNECT in clear, one sends random bytes.
    let mut stalled = TcpStream::connect_timeout(&addr(tls), TIMEOUT).expect("connect");
    stalled.write_all(&[0x16, 0x03]).expect("write");
    let mut clear = TcpStream::connect_timeout(&addr(tls), TIMEOUT).expect("connect");
    clear
        .write_all(&ConnectOpts::v311("clear").bytes())
        .expect("write");
    let mut garbage = TcpStream::connect_timeout(&addr(tls), TIMEOUT).expect("connect");
    garbage
        .write_all(b"\x16\x03\x01\x00\x05hello, this is not TLS at all")
        .expect("write");
    // The broker closes the two bad ones without sending MQTT.
    for (name, s) in [("clear", &mut clear), ("garbage", &mut garbage)] {
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            !buf.starts_with(&[0x20]),
            "{name}: got an MQTT answer {buf:02x?}"
        );
    }
    // Meanwhile a proper TLS client is served at once.
    let mut sub = plain_sub(b.port, "plain-sub", "stall/#");
    assert_ok(
        &publish(
            OUR_PUB,
            tls,
            "127.0.0.1",
            &["--cafile", &ca],
            "stall/a",
            "served",
        ),
        "pub while another handshake stalls",
    );
    expect_message(&mut sub, "stall/a", "served");
    // The stalled connection is still merely waiting: no bytes for it.
    stalled.set_read_timeout(Some(QUIET)).expect("timeout");
    let mut one = [0u8; 1];
    match stalled.read(&mut one) {
        Ok(0) => {}
        Ok(_) => panic!("stalled handshake got an answer"),
        Err(_) => {}
    }
    assert!(b.log_text().contains("failed"), "{}", b.log_text());
    assert_broker_healthy(b.port);
}

#[test]
fn client_certificates_identity_crl_and_expiry() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("certs");
    // Only the certificate's CN (client1) may write; anonymous plain
    // clients may read. Delivery therefore proves the identity mapping.
    let acl = dir.write(
        "acl",
        "topic read cert/#\nuser client1\ntopic readwrite cert/#\n",
    );
    let (b, ports) = start_with_tls(1, |ports| {
        format!(
            "acl_file {}\n{}require_certificate true\nuse_identity_as_username true\ncrlfile {}\n",
            acl.display(),
            server_tls(p, ports[0], "server"),
            p.arg("crl.pem")
        )
    });
    let tls = ports[0];
    let ca = p.arg("ca.crt");
    let cert = |name: &str| -> Vec<String> {
        vec![
            "--cafile".into(),
            ca.clone(),
            "--cert".into(),
            p.arg(&format!("{name}.crt")),
            "--key".into(),
            p.arg(&format!("{name}.key")),
        ]
    };
    let mut sub = plain_sub(b.port, "plain-sub", "cert/#");

    let good = cert("client");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    assert_ok(
        &publish(OUR_PUB, tls, "127.0.0.1", &good, "cert/ours", "signed"),
        "client cert",
    );
    expect_message(&mut sub, "cert/ours", "signed");
    assert!(b.log_text().contains("u'client1'"), "{}", b.log_text());
    let mut plain = Client::connect(b.port, "plain-pub", true, 60);
    // Anonymous plain clients may not write cert/#: only client1 may.
    plain.publish("cert/retained", b"anon", 1, true);
    retained_round_trip(&mut sub, tls, "localhost", &good, "cert");

    // Refused: no certificate, revoked, expired, from an untrusted CA.
    let none = ["--cafile", ca.as_str()];
    assert_refused(
        &publish(OUR_PUB, tls, "127.0.0.1", &none, "cert/x", "no cert"),
        "no cert",
    );
    for (name, why) in [
        ("revoked", "revoked"),
        ("expired", "expired"),
        ("untrusted", "certificate"),
    ] {
        // Debian's mosquitto logs OpenSSL's words for all three.
        let why = if is_reference() {
            "certificate verify failed"
        } else {
            why
        };
        let before = b.log_text().matches(why).count();
        let v = cert(name);
        let v: Vec<&str> = v.iter().map(String::as_str).collect();
        assert_refused(
            &publish(OUR_PUB, tls, "127.0.0.1", &v, "cert/x", name),
            name,
        );
        if debian_clients() {
            assert_refused(
                &publish(DEBIAN_PUB, tls, "127.0.0.1", &v, "cert/x", name),
                name,
            );
        }
        assert!(
            b.wait_for_log_count(why, before + 1),
            "no {why} refusal logged:\n{}",
            b.log_text()
        );
    }
    sub.expect_nothing();
    // The connected plain clients were never disturbed.
    assert_ok(
        &publish(OUR_PUB, tls, "127.0.0.1", &good, "cert/end", "still fine"),
        "after",
    );
    expect_message(&mut sub, "cert/end", "still fine");
}

trait LogCount {
    fn wait_for_log_count(&self, needle: &str, n: usize) -> bool;
}

impl LogCount for Broker {
    /// Waits (bounded) until `needle` occurs at least `n` times in the log.
    fn wait_for_log_count(&self, needle: &str, n: usize) -> bool {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if self.log_text().matches(needle).count() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Log files have no readiness notification.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn psk_listener_with_identity_as_username_and_reload() {
    let dir = TempDir::new("psk");
    let psk = dir.write("psk", &format!("{PSK_ID}:{PSK_KEY}\n"));
    let acl = dir.write(
        "acl",
        &format!("topic read psk/#\nuser {PSK_ID}\ntopic readwrite psk/#\n"),
    );
    let (b, ports) = start_with_tls(1, |ports| {
        format!(
            "psk_file {}\nacl_file {}\nlistener {} 127.0.0.1\npsk_hint our-broker\nuse_identity_as_username true\n",
            psk.display(),
            acl.display(),
            ports[0]
        )
    });
    let port = ports[0];
    let good = ["--psk", PSK_KEY, "--psk-identity", PSK_ID];
    let mut sub = plain_sub(b.port, "plain-sub", "psk/#");
    assert_ok(
        &publish(OUR_PUB, port, "127.0.0.1", &good, "psk/ours", "psk"),
        "our psk pub",
    );
    expect_message(&mut sub, "psk/ours", "psk");
    assert!(b.log_text().contains(&format!("u'{PSK_ID}'")));
    retained_round_trip(&mut sub, port, "127.0.0.1", &good, "psk");
    // Wrong key, unknown identity.
    let wrong_key = ["--psk", "0a1b2c3d4e5f60718294", "--psk-identity", PSK_ID];
    let r = publish(OUR_PUB, port, "127.0.0.1", &wrong_key, "psk/x", "wrong key");
    assert_refused(&r, "wrong key");
    assert_eq!(r.stderr, "Unable to connect (A TLS error occurred.).\n");
    let unknown = ["--psk", PSK_KEY, "--psk-identity", "nobody"];
    assert_refused(
        &publish(OUR_PUB, port, "127.0.0.1", &unknown, "psk/x", "unknown"),
        "unknown",
    );
    sub.expect_nothing();

    // SIGHUP re-reads the PSK file: the new key works, the old one not.
    std::fs::write(&psk, format!("{PSK_ID}:00112233\n")).expect("rewrite psk");
    let pid = b.pid().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on the broker child this test spawned.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(b.wait_for_log("Reloading config", TIMEOUT));
    let new = ["--psk", "00112233", "--psk-identity", PSK_ID];
    // The reload completes within the loop turn that logged it; the first
    // connection after the log line sees the new key.
    assert_ok(
        &publish(OUR_PUB, port, "127.0.0.1", &new, "psk/new", "new key"),
        "new key",
    );
    expect_message(&mut sub, "psk/new", "new key");
    assert_refused(
        &publish(OUR_PUB, port, "127.0.0.1", &good, "psk/x", "old"),
        "old key",
    );
    // A bad PSK file on reload is reported and the current keys stay.
    std::fs::write(&psk, format!("{PSK_ID}:not-hex\n")).expect("rewrite psk");
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let reported = if is_reference() {
        "Error opening psk file"
    } else {
        "keeping the old ones"
    };
    assert!(b.wait_for_log(reported, TIMEOUT), "{}", b.log_text());
    if is_reference() {
        return; // Debian's 2.0.11 goes on with no PSK keys at all
    }
    assert_ok(
        &publish(OUR_PUB, port, "127.0.0.1", &new, "psk/kept", "kept key"),
        "kept",
    );
    expect_message(&mut sub, "psk/kept", "kept key");
}

// ---------------------------------------------------------------------------
// Our clients against Debian's broker
// ---------------------------------------------------------------------------

#[test]
fn our_clients_against_debian_broker_over_tls_and_psk() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("debian");
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755));
    }
    let (cert, psk) = (free_port(), free_port());
    let Some(deb) = RefBroker::start(|tls| {
        dir.write(
            "mosquitto.conf",
            &format!(
                "per_listener_settings true\n\
                 {}allow_anonymous true\n\
                 {}require_certificate true\nuse_identity_as_username true\nallow_anonymous true\n\
                 listener {psk} 127.0.0.1\npsk_hint debian\npsk_file {}\nallow_anonymous true\n",
                server_tls(p, tls, "server"),
                server_tls(p, cert, "server"),
                p.arg("psk"),
            ),
        )
    }) else {
        return;
    };
    let tls = deb.port;
    for port in [cert, psk] {
        wait_port(port);
    }
    let ca = p.arg("ca.crt");
    let with_ca = ["--cafile", ca.as_str()];
    let (cc, ck) = (p.arg("client.crt"), p.arg("client.key"));
    let with_cert = [
        "--cafile",
        ca.as_str(),
        "--cert",
        cc.as_str(),
        "--key",
        ck.as_str(),
    ];
    let with_psk = ["--psk", PSK_KEY, "--psk-identity", PSK_ID];

    for (port, opts, name) in [
        (tls, &with_ca[..], "tls"),
        (cert, &with_cert[..], "cert"),
        (psk, &with_psk[..], "psk"),
    ] {
        let topic = format!("deb/{name}");
        let r = publish(
            OUR_PUB,
            port,
            "127.0.0.1",
            &[opts, &["-r"]].concat(),
            &topic,
            &format!("via {name}"),
        );
        assert_ok(&r, name);
        let r = read_one(OUR_SUB, port, "localhost", opts, &topic);
        assert_ok(&r, name);
        assert_eq!(r.stdout, format!("via {name}\n"));
    }
    // And what Debian's broker refuses, our clients report as mosquitto's do.
    let r = publish(OUR_PUB, cert, "127.0.0.1", &with_ca, "deb/x", "no cert");
    assert_refused(&r, "no client certificate");
    let wrong = ["--psk", "00ff", "--psk-identity", PSK_ID];
    let r = publish(OUR_PUB, psk, "127.0.0.1", &wrong, "deb/x", "wrong psk");
    assert_refused(&r, "wrong psk");
    assert_eq!(r.stderr, "Unable to connect (A TLS error occurred.).\n");
    let untrusted = p.arg("untrusted.crt");
    let r = read_one(
        OUR_SUB,
        tls,
        "127.0.0.1",
        &["--cafile", &untrusted],
        "deb/#",
    );
    assert_eq!(r.code, Some(8), "{:?}", r.stderr);
}

// ---------------------------------------------------------------------------
// openssl s_server as a fake remote broker
// ---------------------------------------------------------------------------

/// `openssl s_server` on `port` with the server certificate and `extra`
/// options, writing what it reports (ALPN offers, the bytes it receives,
/// handshake errors) into `log`, unbuffered (it would print them only once
/// the connection ends). Killed on drop, so a failing assertion leaves no
/// server behind. Its stdin stays open (it quits at end of input).
struct SServer {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl SServer {
    fn start(p: &Pki, port: u16, log: std::path::PathBuf, extra: &[&str]) -> SServer {
        let out = std::fs::File::create(&log).expect("s_server log");
        let child = Command::new("stdbuf")
            .args([
                "-o0",
                "openssl",
                "s_server",
                "-accept",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["-cert", &p.arg("server.crt"), "-key", &p.arg("server.key")])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("openssl s_server");
        wait_port(port);
        SServer { child, log }
    }

    /// What it printed so far; it also prints the bytes it receives, which
    /// are not UTF-8.
    fn text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// Waits (bounded) until its output contains `needle`.
    fn wait_for(&self, needle: &str) -> bool {
        wait_for_text(|| self.text(), needle, TIMEOUT)
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// ALPN
// ---------------------------------------------------------------------------

const ALPN_OFFER: &str = "ALPN protocols advertised by the client: mqtt-test";

/// `--tls-alpn` and `bridge_alpn` put the protocol in the TLS handshake.
#[test]
fn clients_and_bridges_offer_the_alpn_protocol() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("alpn");
    let alpn = ["-alpn", "mqtt-test"];

    let port = free_port();
    let server = SServer::start(p, port, dir.join("client.log"), &alpn);
    let ca = p.arg("ca.crt");
    let mut client = Command::new(OUR_PUB)
        .args(["-h", "localhost", "-p", &port.to_string(), "--cafile", &ca])
        .args(["--tls-alpn", "mqtt-test", "-t", "a", "-m", "b", "-k", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto_pub");
    let seen = server.wait_for(ALPN_OFFER);
    let _ = (client.kill(), client.wait());
    assert!(seen, "{}", server.text());
    drop(server);

    let port = free_port();
    let server = SServer::start(p, port, dir.join("bridge.log"), &alpn);
    let local = Broker::start(&format!(
        "connection alpn-bridge\naddress localhost:{port}\ntopic a out 0\n\
         bridge_cafile {ca}\nbridge_alpn mqtt-test\n"
    ));
    assert!(
        server.wait_for(ALPN_OFFER),
        "{}\n{}",
        server.text(),
        local.log_text()
    );
}

// ---------------------------------------------------------------------------
// OCSP stapling (bridge_require_ocsp)
// ---------------------------------------------------------------------------

/// What the OCSP response made by [`ocsp_response`] says.
#[derive(Clone, Copy)]
enum Staple {
    /// server.crt is good, signed by the CA.
    Good,
    /// server.crt is revoked (keyCompromise), signed by the CA.
    Revoked,
    /// server.crt is good, but signed by a key the bridge does not trust
    /// (the self-signed `untrusted` certificate).
    Untrusted,
    /// other.crt (same CA) is good: nothing about server.crt.
    OtherCert,
}

/// Makes a DER OCSP response with `openssl ocsp` acting as the responder
/// over a one-line CA database (`index.txt` format) in `dir`. Valid from
/// now for a day.
fn ocsp_response(p: &Pki, dir: &TempDir, staple: Staple) -> std::path::PathBuf {
    let (name, cert, status, signer) = match staple {
        Staple::Good => ("good", "server", "V", "ca"),
        Staple::Revoked => ("revoked", "server", "R", "ca"),
        Staple::Untrusted => ("untrusted", "server", "V", "untrusted"),
        Staple::OtherCert => ("other", "other", "V", "ca"),
    };
    let crt = p.arg(&format!("{cert}.crt"));
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-serial", "-in", &crt])
        .output()
        .expect("openssl x509");
    let serial = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("serial=")
        .to_string();
    assert!(!serial.is_empty(), "no serial for {crt}");
    // Fields: status, expiry, revocation date[,reason], serial, file, subject.
    // Only status, serial and revocation matter to the responder.
    let revocation = if status == "R" {
        "200101000000Z,keyCompromise"
    } else {
        ""
    };
    let index = dir.write(
        &format!("{name}.idx"),
        &format!("{status}\t491231235959Z\t{revocation}\t{serial}\tunknown\t/CN={cert}\n"),
    );
    let der = dir.join(&format!("{name}.der"));
    let out = Command::new("openssl")
        .arg("ocsp")
        .args(["-index", &index.to_string_lossy()])
        .args(["-rsigner", &p.arg(&format!("{signer}.crt"))])
        .args(["-rkey", &p.arg(&format!("{signer}.key"))])
        .args(["-CA", &p.arg("ca.crt"), "-issuer", &p.arg("ca.crt")])
        .args(["-cert", &crt, "-respout", &der.to_string_lossy()])
        .args(["-ndays", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("openssl ocsp");
    assert!(
        out.status.success() && der.exists(),
        "openssl ocsp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    der
}

/// A bridge with `bridge_require_ocsp true` to an `openssl s_server` that
/// staples `staple` (none: no `-status_file`). Returns both once the
/// bridge has had time to connect: the bridge's remote client id is
/// `ocsp-<name>`.
fn ocsp_bridge(p: &Pki, dir: &TempDir, name: &str, staple: Option<Staple>) -> (SServer, Broker) {
    let port = free_port();
    let status_file = staple.map(|s| ocsp_response(p, dir, s));
    let mut extra = Vec::new();
    if let Some(f) = &status_file {
        extra.extend(["-status_file".to_string(), f.to_string_lossy().into_owned()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = SServer::start(p, port, dir.join(&format!("{name}.log")), &extra);
    let local = Broker::start(&format!(
        "connection {name}\naddress localhost:{port}\ntopic a out 0\n\
         remote_clientid ocsp-{name}\nbridge_cafile {}\nbridge_require_ocsp true\n\
         restart_timeout 1\n",
        p.arg("ca.crt")
    ));
    (server, local)
}

/// The bridge's TLS handshake fails, says why (`why` starts the reason)
/// in the broker's log, and no CONNECT reaches the server; the bridge tries
/// again after its back-off.
fn assert_ocsp_refused(p: &Pki, name: &str, staple: Option<Staple>, why: &str) {
    let dir = TempDir::new("ocsp");
    let (server, local) = ocsp_bridge(p, &dir, name, staple);
    // Debian's 2.0.11 logs only OpenSSL's words, the same for every case.
    let line = if is_reference() {
        "SSL routines::invalid status response".to_string()
    } else {
        format!("Bridge {name}: TLS handshake failed: OCSP: {why}")
    };
    // Twice: the refusal is not fatal, the bridge retries (restart_timeout 1).
    assert!(
        local.wait_for_log_count(&line, 2),
        "no \"{line}\" twice:\n{}\n--- s_server:\n{}",
        local.log_text(),
        server.text()
    );
    // The client id would be in the CONNECT, sent only after the handshake.
    assert!(
        !server.text().contains(&format!("ocsp-{name}")),
        "a CONNECT reached the server:\n{}",
        server.text()
    );
    assert!(
        !local.log_text().contains("not implemented"),
        "{}",
        local.log_text()
    );
}

/// A good response for the server's certificate, signed by the CA: the
/// bridge completes the handshake and sends its CONNECT.
#[test]
fn bridge_require_ocsp_accepts_a_good_stapled_response() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("ocsp");
    let (server, local) = ocsp_bridge(p, &dir, "good", Some(Staple::Good));
    // s_server prints the bytes it receives: the CONNECT names the protocol
    // and the bridge's client id.
    assert!(
        server.wait_for("ocsp-good"),
        "no CONNECT reached the server:\n{}\n--- broker:\n{}",
        server.text(),
        local.log_text()
    );
    assert!(server.text().contains("MQTT"), "{}", server.text());
    assert!(!local.log_text().contains("OCSP"), "{}", local.log_text());
}

#[test]
fn bridge_require_ocsp_refuses_a_server_that_staples_nothing() {
    let Some(p) = pki() else { return };
    assert_ocsp_refused(p, "none", None, "no response stapled");
}

#[test]
fn bridge_require_ocsp_refuses_a_revoked_certificate() {
    let Some(p) = pki() else { return };
    assert_ocsp_refused(
        p,
        "revoked",
        Some(Staple::Revoked),
        "the server certificate is revoked (keyCompromise)",
    );
}

/// A response signed by a key outside the bridge's trust, and a genuine
/// response about another certificate, are refused too.
#[test]
fn bridge_require_ocsp_refuses_untrusted_or_unrelated_responses() {
    let Some(p) = pki() else { return };
    assert_ocsp_refused(
        p,
        "untrusted",
        Some(Staple::Untrusted),
        // OpenSSL's details ("self-signed certificate") vary by version.
        "response verification failed: ",
    );
    if is_reference() {
        return; // 2.0.11 takes a good response about any certificate
    }
    assert_ocsp_refused(
        p,
        "unrelated",
        Some(Staple::OtherCert),
        "the response is not about the server certificate",
    );
}

/// Without bridge_require_ocsp nothing is asked: a server that staples
/// nothing is fine (the option is what makes the difference).
#[test]
fn bridge_without_require_ocsp_needs_no_staple() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("ocsp");
    let port = free_port();
    let server = SServer::start(p, port, dir.join("plain.log"), &[]);
    let local = Broker::start(&format!(
        "connection plain\naddress localhost:{port}\ntopic a out 0\n\
         remote_clientid ocsp-plain\nbridge_cafile {}\n",
        p.arg("ca.crt")
    ));
    assert!(
        server.wait_for("ocsp-plain"),
        "{}\n--- broker:\n{}",
        server.text(),
        local.log_text()
    );
}

/// A TLS server that completes the handshake (and sends TLS 1.3 session
/// tickets, which make the socket readable with no MQTT data) but never
/// answers CONNECT: the client gives up after its keepalive, as over TCP.
#[test]
fn tls_server_that_never_answers_connect_times_out() {
    let Some(p) = pki() else { return };
    let dir = TempDir::new("tls-silent");
    let port = free_port();
    let server = SServer::start(p, port, dir.join("silent.log"), &[]);
    let ca = p.arg("ca.crt");
    let started = Instant::now();
    let r = run_tool(
        OUR_PUB,
        &[
            "-h",
            "localhost",
            "-p",
            &port.to_string(),
            "--cafile",
            &ca,
            "-t",
            "a",
            "-m",
            "b",
            "-k",
            "5",
        ],
        Duration::from_secs(20),
    );
    assert_eq!(r.code, Some(1), "{} / {}", r.stderr, server.text());
    assert_eq!(r.stderr, "Error: Connection timed out\n");
    assert!(started.elapsed() < Duration::from_secs(15));
}
