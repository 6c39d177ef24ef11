//! TLS listener wrapper: handshakes, client certificates, CRL, PSK, stalls.
//! Certificates are made at test time with the `openssl` command line in a
//! temporary directory; everything runs on 127.0.0.1 with bounded waits.
#![cfg(feature = "tls")]

use crate::harness::pki;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use mosquitto_rs::broker::security::PskFile;
use mosquitto_rs::broker::tls::{
    IdentitySource, PskLookup, TlsClientConfig, TlsClientOptions, TlsConn, TlsServerConfig,
    TlsServerOptions,
};
use pki::Pki;

const OPENSSL: &str = "openssl";

/// The shared test PKI, once per test binary. A missing `openssl` fails.
fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| Pki::fresh("tls"))
}

fn server_opts(require_certificate: bool) -> TlsServerOptions {
    let p = pki();
    TlsServerOptions {
        port: 8883,
        cafile: Some(p.path("ca.crt")),
        certfile: Some(p.path("server.crt")),
        keyfile: Some(p.path("server.key")),
        require_certificate,
        ..TlsServerOptions::default()
    }
}

/// What the server side saw.
#[derive(Debug, Default)]
struct Outcome {
    handshake: Option<Result<(), String>>,
    echoed: Vec<u8>,
    cn: Option<String>,
    subject: Option<String>,
    psk_identity: Option<String>,
    version: String,
}

/// Accepts one connection on 127.0.0.1, wraps it, drives it with a mio
/// loop (edge-triggered, read until WouldBlock), echoes what it reads, and
/// stops when the client closes, on an error, or after `limit`.
fn serve_one<F>(config: &TlsServerConfig, limit: Duration, client: F) -> Outcome
where
    F: FnOnce(SocketAddr) + Send + 'static,
{
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut poll = Poll::new().unwrap();
    poll.registry()
        .register(&mut listener, Token(0), Interest::READABLE)
        .unwrap();
    let client_thread = std::thread::spawn(move || client(addr));
    let mut events = Events::with_capacity(16);
    let mut conn: Option<TlsConn> = None;
    let mut out = Outcome::default();
    let mut pending: Vec<u8> = Vec::new();
    let start = Instant::now();
    'outer: for _turn in 0..10_000 {
        let left = limit.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        poll.poll(&mut events, Some(left.min(Duration::from_millis(200))))
            .unwrap();
        for ev in events.iter() {
            if ev.token() == Token(0) && conn.is_none() {
                if let Ok((stream, _)) = listener.accept() {
                    let mut c = config.accept(stream).unwrap();
                    poll.registry()
                        .register(&mut c, Token(1), Interest::READABLE | Interest::WRITABLE)
                        .unwrap();
                    conn = Some(c);
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        // Read until WouldBlock.
        let mut buf = [0u8; 4096];
        for _ in 0..1000 {
            match c.read(&mut buf) {
                Ok(0) => break 'outer,
                Ok(n) => {
                    out.echoed.extend_from_slice(&buf[..n]);
                    pending.extend_from_slice(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    if c.is_established() {
                        break 'outer;
                    }
                    out.handshake = Some(Err(e.to_string()));
                    break 'outer;
                }
            }
        }
        if c.is_established() && out.handshake.is_none() {
            out.handshake = Some(Ok(()));
            out.cn = c.peer_identity(IdentitySource::Identity);
            out.subject = c.peer_identity(IdentitySource::Subject);
            out.psk_identity = c.psk_identity();
            out.version = c.version().to_string();
        }
        // Write what is pending, keeping the unsent rest.
        for _ in 0..1000 {
            if pending.is_empty() {
                break;
            }
            match c.write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => break 'outer,
            }
        }
    }
    if let Some(mut c) = conn {
        c.shutdown();
        let _ = poll.registry().deregister(&mut c);
        drop(c);
    }
    client_thread.join().unwrap();
    out
}

/// A client from our own client config: sends `msg`, expects it back.
/// Returns whether the echo came back.
fn crate_client(
    opts: TlsClientOptions,
    host: &'static str,
    msg: &'static [u8],
) -> impl FnOnce(SocketAddr) -> bool {
    move |addr| {
        let cfg = TlsClientConfig::build(&opts).unwrap();
        let tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let Ok(mut s) = cfg.connect(host, tcp) else {
            return false;
        };
        if s.write_all(msg).is_err() {
            return false;
        }
        let mut got = vec![0u8; msg.len()];
        let ok = s.read_exact(&mut got).is_ok() && got == msg;
        let _ = s.shutdown();
        ok
    }
}

fn run_crate_client(
    config: &TlsServerConfig,
    opts: TlsClientOptions,
    host: &'static str,
) -> (Outcome, bool) {
    let (tx, rx) = mpsc::channel();
    let client = crate_client(opts, host, b"hello over tls");
    let out = serve_one(config, Duration::from_secs(10), move |addr| {
        let _ = tx.send(client(addr));
    });
    let echoed = rx.recv_timeout(Duration::from_secs(5)).unwrap_or(false);
    (out, echoed)
}

fn client_opts() -> TlsClientOptions {
    TlsClientOptions {
        cafile: Some(pki().path("ca.crt")),
        ..TlsClientOptions::default()
    }
}

#[test]
fn handshake_and_echo_without_client_certificate() {
    let cfg = TlsServerConfig::build(&server_opts(false), None).unwrap();
    let (out, echoed) = run_crate_client(&cfg, client_opts(), "127.0.0.1");
    assert_eq!(out.handshake, Some(Ok(())));
    assert!(echoed, "client did not get its echo: {out:?}");
    assert_eq!(out.echoed, b"hello over tls");
    assert_eq!(out.cn, None);
    // Default: TLS 1.2 and 1.3 allowed; OpenSSL 3 picks 1.3.
    assert_eq!(out.version, "TLSv1.3");
    // Host name check: "localhost" is in the certificate too.
    let (_, echoed) = run_crate_client(&cfg, client_opts(), "localhost");
    assert!(echoed);
}

#[test]
fn client_checks_server_name_unless_insecure() {
    let cfg = TlsServerConfig::build(&server_opts(false), None).unwrap();
    // The server certificate is for localhost/127.0.0.1, not "wrong.example".
    let (_, echoed) = run_crate_client(&cfg, client_opts(), "wrong.example");
    assert!(!echoed);
    let mut insecure = client_opts();
    insecure.insecure = true;
    let (out, echoed) = run_crate_client(&cfg, insecure, "wrong.example");
    assert!(echoed, "{out:?}");
}

#[test]
fn require_certificate_accepts_signed_client_and_reports_identity() {
    let p = pki();
    let cfg = TlsServerConfig::build(&server_opts(true), None).unwrap();
    let mut opts = client_opts();
    opts.certfile = Some(p.path("client.crt"));
    opts.keyfile = Some(p.path("client.key"));
    let (out, echoed) = run_crate_client(&cfg, opts, "127.0.0.1");
    assert_eq!(out.handshake, Some(Ok(())));
    assert!(echoed);
    assert_eq!(out.cn.as_deref(), Some("client1"));
    assert_eq!(out.subject.as_deref(), Some("CN=client1,O=Test Org"));
}

#[test]
fn require_certificate_refuses_client_without_certificate() {
    let cfg = TlsServerConfig::build(&server_opts(true), None).unwrap();
    let (out, echoed) = run_crate_client(&cfg, client_opts(), "127.0.0.1");
    assert!(!echoed);
    let err = out.handshake.expect("server saw no handshake").unwrap_err();
    assert!(err.contains("TLS handshake failed"), "{err}");
}

#[test]
fn require_certificate_refuses_untrusted_certificate() {
    let p = pki();
    let cfg = TlsServerConfig::build(&server_opts(true), None).unwrap();
    let mut opts = client_opts();
    opts.certfile = Some(p.path("untrusted.crt"));
    opts.keyfile = Some(p.path("untrusted.key"));
    let (out, echoed) = run_crate_client(&cfg, opts, "127.0.0.1");
    assert!(!echoed);
    let err = out.handshake.expect("server saw no handshake").unwrap_err();
    assert!(err.contains("certificate"), "{err}");
}

#[test]
fn crl_refuses_revoked_certificate_only() {
    let p = pki();
    let mut so = server_opts(true);
    so.crlfile = Some(p.path("crl.pem"));
    let cfg = TlsServerConfig::build(&so, None).unwrap();

    let mut revoked = client_opts();
    revoked.certfile = Some(p.path("revoked.crt"));
    revoked.keyfile = Some(p.path("revoked.key"));
    let (out, echoed) = run_crate_client(&cfg, revoked, "127.0.0.1");
    assert!(!echoed);
    let err = out.handshake.expect("server saw no handshake").unwrap_err();
    assert!(err.contains("revoked"), "{err}");

    let mut good = client_opts();
    good.certfile = Some(p.path("client.crt"));
    good.keyfile = Some(p.path("client.key"));
    let (out, echoed) = run_crate_client(&cfg, good, "127.0.0.1");
    assert_eq!(out.handshake, Some(Ok(())));
    assert!(echoed);
}

fn psk_config() -> TlsServerConfig {
    let dir = &pki().dir;
    let file = dir.join("psk");
    std::fs::write(&file, "# ids\nid1:0a0b0c0d0e0f\nother:ffff\n").unwrap();
    let psk = PskFile::load(&file).unwrap();
    let lookup: PskLookup = Arc::new(move |id: &str| psk.key(id));
    let opts = TlsServerOptions {
        port: 8884,
        psk_hint: Some("hint".into()),
        psk_file_configured: true,
        ..TlsServerOptions::default()
    };
    TlsServerConfig::build(&opts, Some(lookup)).unwrap()
}

/// `openssl s_client -psk`: sends a line, returns what came back within 5 s.
fn s_client_psk(addr: SocketAddr, identity: &str, key: &str) -> String {
    let mut child = Command::new(OPENSSL)
        .args([
            "s_client",
            "-connect",
            &addr.to_string(),
            "-psk_identity",
            identity,
            "-psk",
            key,
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let _ = stdin.write_all(b"ping psk\n");
    let _ = stdin.flush();
    let got = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    drop(stdin);
    let _ = reader.join();
    got
}

#[test]
fn psk_handshake_with_openssl_s_client() {
    let cfg = psk_config();
    let (tx, rx) = mpsc::channel();
    let out = serve_one(&cfg, Duration::from_secs(10), move |addr| {
        let _ = tx.send(s_client_psk(addr, "id1", "0a0b0c0d0e0f"));
    });
    assert_eq!(out.handshake, Some(Ok(())), "{out:?}");
    assert_eq!(out.psk_identity.as_deref(), Some("id1"));
    assert_eq!(out.cn.as_deref(), Some("id1"));
    // psk_file configured: TLS 1.3 off, as mosquitto.
    assert_eq!(out.version, "TLSv1.2");
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(1)).unwrap(),
        "ping psk\n"
    );
}

#[test]
fn psk_wrong_key_or_identity_fails() {
    let cfg = psk_config();
    for (id, key) in [("id1", "0a0b0c0d0e00"), ("nobody", "0a0b0c0d0e0f")] {
        let (tx, rx) = mpsc::channel();
        let out = serve_one(&cfg, Duration::from_secs(10), move |addr| {
            let _ = tx.send(s_client_psk(addr, id, key));
        });
        assert!(
            matches!(out.handshake, Some(Err(_))),
            "{id}: {:?}",
            out.handshake
        );
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)).unwrap(), "");
    }
}

#[test]
fn psk_with_our_client() {
    let cfg = psk_config();
    let opts = TlsClientOptions {
        psk: Some("0a0b0c0d0e0f".into()),
        psk_identity: Some("id1".into()),
        ..TlsClientOptions::default()
    };
    let (out, echoed) = run_crate_client(&cfg, opts, "127.0.0.1");
    assert!(echoed, "{out:?}");
    assert_eq!(out.psk_identity.as_deref(), Some("id1"));
}

#[test]
fn stalled_handshake_never_blocks() {
    let cfg = TlsServerConfig::build(&server_opts(false), None).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut client = std::net::TcpStream::connect(addr).unwrap();
    let (std_stream, _) = listener.accept().unwrap();
    std_stream.set_nonblocking(true).unwrap();
    let mut conn = cfg
        .accept(mio::net::TcpStream::from_std(std_stream))
        .unwrap();
    let mut buf = [0u8; 64];

    // Nothing sent yet.
    let t = Instant::now();
    let e = conn.read(&mut buf).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert_eq!(
        conn.write(b"x").unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    assert!(!conn.handshake().unwrap());
    // Half a TLS record header of a ClientHello, then silence.
    client.write_all(&[0x16, 0x03, 0x01, 0x00]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..3 {
        let e = conn.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    }
    assert!(!conn.is_established());
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(conn.peer_identity(IdentitySource::Identity), None);

    // Garbage instead of TLS: a hard error, not a hang.
    client.write_all(b"\x00\x05GET / HTTP/1.0\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let mut failed = false;
    for _ in 0..10 {
        match conn.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(_) => {
                failed = true;
                break;
            }
            Ok(_) => panic!("read data from a non-TLS client"),
        }
    }
    assert!(failed);
    // It stays failed.
    assert!(conn.handshake().is_err());
}

#[test]
fn build_errors_are_clear() {
    let p = pki();
    let e = |o: &TlsServerOptions| TlsServerConfig::build(o, None).unwrap_err().to_string();

    let mut o = server_opts(false);
    o.certfile = Some(p.path("missing.crt"));
    let m = e(&o);
    assert!(m.contains("certfile") && m.contains("missing.crt"), "{m}");

    let mut o = server_opts(false);
    o.keyfile = Some(p.path("client.key"));
    let m = e(&o);
    assert!(m.contains("keyfile") && m.contains("mismatch"), "{m}");

    let mut o = server_opts(false);
    o.keyfile = Some(p.path("ca.crt"));
    assert!(e(&o).contains("keyfile"), "{}", e(&o));

    let mut o = server_opts(false);
    o.tls_version = Some("tlsv9".into());
    assert!(e(&o).contains("tls_version"), "{}", e(&o));

    let mut o = server_opts(false);
    o.ciphers = Some("NOT-A-CIPHER".into());
    assert!(e(&o).contains("cipher"), "{}", e(&o));

    let mut o = server_opts(false);
    o.cafile = Some(p.path("nope.crt"));
    assert!(e(&o).contains("cafile"), "{}", e(&o));

    let mut o = server_opts(false);
    o.crlfile = Some(p.path("ca.key"));
    assert!(e(&o).contains("crlfile"), "{}", e(&o));

    let mut o = server_opts(false);
    o.dhparamfile = Some(p.path("ca.crt"));
    assert!(e(&o).contains("dhparamfile"), "{}", e(&o));

    let o = TlsServerOptions::default();
    assert!(e(&o).contains("certfile"), "{}", e(&o));

    let mut o = server_opts(false);
    o.keyfile = None;
    assert!(e(&o).contains("keyfile"), "{}", e(&o));

    let c = TlsClientConfig::build(&TlsClientOptions::default()).unwrap_err();
    assert!(c.to_string().contains("cafile"), "{c}");
    let c = TlsClientConfig::build(&TlsClientOptions {
        psk: Some("xyz".into()),
        psk_identity: Some("id".into()),
        ..TlsClientOptions::default()
    })
    .unwrap_err();
    assert!(c.to_string().contains("PSK"), "{c}");
}

#[test]
fn tls_version_restricts_protocol() {
    let mut so = server_opts(false);
    so.tls_version = Some("tlsv1.3".into());
    let cfg = TlsServerConfig::build(&so, None).unwrap();
    let mut co = client_opts();
    co.tls_version = Some("tlsv1.2".into());
    // Client tlsv1.2 allows 1.2 and 1.3 (minimum), so it works with 1.3.
    let (out, echoed) = run_crate_client(&cfg, co, "127.0.0.1");
    assert!(echoed);
    assert_eq!(out.version, "TLSv1.3");

    let mut so = server_opts(false);
    so.tls_version = Some("tlsv1.2".into());
    so.psk_file_configured = true; // mosquitto: no TLS 1.3 then
    let cfg = TlsServerConfig::build(&so, None).unwrap();
    let (out, echoed) = run_crate_client(&cfg, client_opts(), "127.0.0.1");
    assert!(echoed);
    assert_eq!(out.version, "TLSv1.2");
}
