//! `--proxy socks5h://…`: mosquitto_pub and mosquitto_sub through a small
//! SOCKS5 server run by the test (RFC 1928 with RFC 1929 username/password),
//! which relays to the broker or fails in the ways a proxy can. Debian's
//! clients go through the same proxy, to show it speaks SOCKS5 as
//! libmosquitto expects and that our errors are theirs.

#[cfg(feature = "tls")]
use crate::harness::pki;

use crate::harness::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the proxy does once the client has asked for a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Connect to the broker and relay.
    Relay,
    /// The same, with the bound address in the reply as a domain name
    /// (libmosquitto 2.0.11 misreads that form, so only for our clients).
    RelayNamed,
    /// Answer the CONNECT request with this failure code.
    Refuse(u8),
    /// Read the greeting and never answer.
    Silent,
}

/// An upper bound for any one proxy socket operation, so that no thread
/// outlives a failed test by much.
const IO_LIMIT: Duration = Duration::from_secs(30);

/// A SOCKS5 server on 127.0.0.1; stops accepting on drop.
struct Proxy {
    port: u16,
    /// Each CONNECT request's address type and destination as text.
    requests: Arc<Mutex<Vec<(u8, String)>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(mode: Mode, login: Option<(&str, &str)>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let login = login.map(|(u, p)| (u.as_bytes().to_vec(), p.as_bytes().to_vec()));
        let (reqs, stopping) = (requests.clone(), stop.clone());
        let accept = thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (reqs, login) = (reqs.clone(), login.clone());
                thread::spawn(move || {
                    let _ = serve(conn, mode, login, reqs);
                });
            }
        });
        Proxy {
            port,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    fn url(&self) -> String {
        format!("socks5h://127.0.0.1:{}", self.port)
    }

    fn url_with(&self, userinfo: &str) -> String {
        format!("socks5h://{userinfo}@127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<(u8, String)> {
        self.requests.lock().expect("lock").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn read_n(s: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v)?;
    Ok(v)
}

/// One client connection: the SOCKS5 handshake, then per `mode`.
fn serve(
    mut c: TcpStream,
    mode: Mode,
    login: Option<(Vec<u8>, Vec<u8>)>,
    reqs: Arc<Mutex<Vec<(u8, String)>>>,
) -> std::io::Result<()> {
    c.set_read_timeout(Some(IO_LIMIT))?;
    c.set_write_timeout(Some(IO_LIMIT))?;
    let head = read_n(&mut c, 2)?;
    assert_eq!(head[0], 5, "SOCKS version in greeting");
    let methods = read_n(&mut c, usize::from(head[1]))?;
    if mode == Mode::Silent {
        // Hold the connection until the client gives up.
        let _ = c.read_to_end(&mut Vec::new());
        return Ok(());
    }
    match &login {
        Some((user, pass)) => {
            if !methods.contains(&2) {
                return c.write_all(&[5, 0xff]);
            }
            c.write_all(&[5, 2])?;
            let ver_ulen = read_n(&mut c, 2)?;
            assert_eq!(ver_ulen[0], 1, "username/password version");
            let u = read_n(&mut c, usize::from(ver_ulen[1]))?;
            let plen = read_n(&mut c, 1)?;
            let p = read_n(&mut c, usize::from(plen[0]))?;
            if (&u, &p) != (user, pass) {
                // The status most proxies send for bad credentials.
                return c.write_all(&[1, 1]);
            }
            c.write_all(&[1, 0])?;
        }
        None => {
            if !methods.contains(&0) {
                return c.write_all(&[5, 0xff]);
            }
            c.write_all(&[5, 0])?;
        }
    }
    let req = read_n(&mut c, 4)?;
    assert_eq!(&req[..3], &[5, 1, 0], "CONNECT request");
    let host = match req[3] {
        1 => {
            let a = read_n(&mut c, 4)?;
            format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
        }
        3 => {
            let len = read_n(&mut c, 1)?;
            String::from_utf8_lossy(&read_n(&mut c, usize::from(len[0]))?).into_owned()
        }
        4 => {
            let a: [u8; 16] = read_n(&mut c, 16)?.try_into().expect("16 bytes");
            std::net::Ipv6Addr::from(a).to_string()
        }
        other => panic!("address type {other}"),
    };
    let p = read_n(&mut c, 2)?;
    let port = u16::from_be_bytes([p[0], p[1]]);
    reqs.lock()
        .expect("lock")
        .push((req[3], format!("{host}:{port}")));
    if let Mode::Refuse(code) = mode {
        return c.write_all(&[5, code, 0, 1, 0, 0, 0, 0, 0, 0]);
    }
    // socks5h: the proxy resolves the name; "localhost" may give ::1 first,
    // where the broker is not listening.
    let upstream = (host.as_str(), port)
        .to_socket_addrs()?
        .find_map(|a| TcpStream::connect_timeout(&a, TIMEOUT).ok());
    let Some(up) = upstream else {
        return c.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]);
    };
    let mut ok = if mode == Mode::RelayNamed {
        let mut v = vec![5, 0, 0, 3, 9];
        v.extend_from_slice(b"127.0.0.1");
        v
    } else {
        vec![5, 0, 0, 1, 127, 0, 0, 1]
    };
    ok.extend_from_slice(&up.local_addr()?.port().to_be_bytes());
    c.write_all(&ok)?;
    up.set_read_timeout(Some(IO_LIMIT))?;
    relay(c, up)
}

/// Copy both ways until either side closes, passing the close on.
fn relay(c: TcpStream, up: TcpStream) -> std::io::Result<()> {
    let (mut c_r, mut up_w) = (c.try_clone()?, up.try_clone()?);
    let there = thread::spawn(move || {
        let _ = std::io::copy(&mut c_r, &mut up_w);
        let _ = up_w.shutdown(Shutdown::Both);
    });
    let (mut up_r, mut c_w) = (up, c);
    let _ = std::io::copy(&mut up_r, &mut c_w);
    let _ = c_w.shutdown(Shutdown::Both);
    let _ = there.join();
    Ok(())
}

fn have_debian() -> bool {
    std::path::Path::new(DEBIAN_PUB).exists()
}

/// Our tools, and Debian's when installed.
fn publishers() -> Vec<&'static str> {
    let mut v = vec![OUR_PUB];
    if have_debian() {
        v.push(DEBIAN_PUB);
    }
    v
}

/// Publish `msg` with `pub_bin` through `proxy` (extra args first) and
/// check a direct subscriber gets it.
fn publish_through(b: &Broker, pub_bin: &str, proxy_url: &str, extra: &[&str], msg: &str) {
    let port = b.port_arg();
    let mut sub = Sub::start(OUR_SUB, &["-p", &port, "-t", "px/t", "-C", "1"]);
    let mut args: Vec<&str> = extra.to_vec();
    args.extend_from_slice(&[
        "--proxy",
        proxy_url,
        "-h",
        "localhost",
        "-p",
        &port,
        "-t",
        "px/t",
        "-m",
        msg,
    ]);
    let r = run(pub_bin, &args);
    assert_eq!(r.code, Some(0), "{pub_bin} {args:?}: {r:?}");
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
    assert_eq!(
        String::from_utf8_lossy(&sub.output()),
        format!("{msg}\n"),
        "{pub_bin}"
    );
}

#[test]
fn pub_through_proxy_reaches_subscriber() {
    let b = Broker::start("");
    let proxy = Proxy::start(Mode::Relay, None);
    for bin in publishers() {
        publish_through(&b, bin, &proxy.url(), &[], "via socks");
    }
    // The broker's name went to the proxy to resolve (socks5h), as
    // libmosquitto sends it.
    let want = (3u8, format!("localhost:{}", b.port));
    assert!(
        proxy.requests().iter().all(|r| *r == want),
        "{:?}",
        proxy.requests()
    );
    assert_eq!(proxy.requests().len(), publishers().len());
}

#[test]
fn ip_literal_is_sent_as_an_address() {
    let b = Broker::start("");
    let proxy = Proxy::start(Mode::RelayNamed, None);
    let port = b.port_arg();
    let mut sub = Sub::start(OUR_SUB, &["-p", &port, "-t", "px/ip", "-C", "1"]);
    let url = proxy.url();
    let r = run(
        OUR_PUB,
        &[
            "--proxy",
            &url,
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-t",
            "px/ip",
            "-m",
            "v4",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    assert_eq!(proxy.requests(), [(1u8, format!("127.0.0.1:{port}"))]);
}

#[test]
fn sub_through_proxy_receives() {
    let b = Broker::start("");
    let proxy = Proxy::start(Mode::Relay, None);
    let port = b.port_arg();
    let url = proxy.url();
    let mut subs = vec![OUR_SUB];
    if have_debian() {
        subs.push(DEBIAN_SUB);
    }
    for bin in subs {
        let mut sub = Sub::start(
            bin,
            &[
                "--proxy",
                &url,
                "-h",
                "localhost",
                "-p",
                &port,
                "-t",
                "px/s",
                "-C",
                "1",
            ],
        );
        let r = run(OUR_PUB, &["-p", &port, "-t", "px/s", "-m", "to sub"]);
        assert_eq!(r.code, Some(0), "{r:?}");
        assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{bin}: {}", sub.stderr());
        assert_eq!(String::from_utf8_lossy(&sub.output()), "to sub\n", "{bin}");
    }
}

#[test]
fn username_and_password_accepted() {
    let b = Broker::start("");
    // ':' in the password is written %3A in the URL.
    let proxy = Proxy::start(Mode::Relay, Some(("alice", "s3:cret")));
    let url = proxy.url_with("alice:s3%3Acret");
    for bin in publishers() {
        publish_through(&b, bin, &url, &[], "logged in");
    }
}

#[test]
fn wrong_credentials_refused() {
    let proxy = Proxy::start(Mode::Relay, Some(("alice", "secret")));
    let wrong = proxy.url_with("alice:guess");
    let none = proxy.url();
    for bin in publishers() {
        // The proxy's failure status (1) reads as a SOCKS general failure.
        let r = run(bin, &["--proxy", &wrong, "-t", "t", "-m", "x"]);
        assert_eq!(r.code, Some(16), "{bin}: {r:?}");
        assert_eq!(r.stderr, "Error: Proxy error.\n", "{bin}");
        // No credentials offered: no acceptable method.
        let r = run(bin, &["--proxy", &none, "-t", "t", "-m", "x"]);
        assert_eq!(r.code, Some(11), "{bin}: {r:?}");
        assert_eq!(r.stderr, "Error: Authorisation failed.\n", "{bin}");
    }
    let r = run(OUR_SUB, &["--proxy", &wrong, "-t", "t"]);
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (Some(16), "Error: Proxy error.\n")
    );
    assert!(proxy.requests().is_empty());
}

#[test]
fn refused_connect_reported() {
    let proxy = Proxy::start(Mode::Refuse(5), None);
    let url = proxy.url();
    for bin in publishers() {
        let r = run(bin, &["--proxy", &url, "-t", "t", "-m", "x"]);
        assert_eq!(r.code, Some(4), "{bin}: {r:?}");
        assert_eq!(
            r.stderr, "Error: The client is not currently connected.\n",
            "{bin}"
        );
    }
    // mosquitto_sub would retry for ever here; ours reports it the same way.
    let r = run(OUR_SUB, &["--proxy", &url, "-t", "t"]);
    assert_eq!(r.code, Some(4), "{r:?}");
    assert_eq!(r.stderr, "Error: The client is not currently connected.\n");
}

#[test]
fn other_refusals_reported() {
    for (code, exit, line) in [
        (1, 16, "Error: Proxy error.\n"),
        (2, 11, "Error: Authorisation failed.\n"),
        (8, 16, "Error: Proxy error.\n"),
        (9, 3, "Error: Invalid function arguments provided.\n"),
    ] {
        let proxy = Proxy::start(Mode::Refuse(code), None);
        let url = proxy.url();
        for bin in publishers() {
            let r = run(bin, &["--proxy", &url, "-t", "t", "-m", "x"]);
            assert_eq!(
                (r.code, r.stderr.as_str()),
                (Some(exit), line),
                "{bin} {code}"
            );
        }
    }
}

#[test]
fn silent_proxy_times_out() {
    let proxy = Proxy::start(Mode::Silent, None);
    let url = proxy.url();
    let start = Instant::now();
    let r = run_limit(
        OUR_PUB,
        &["--proxy", &url, "-t", "t", "-m", "x", "-k", "5"],
        b"",
        Duration::from_secs(8),
    );
    // The keepalive period bounds the whole connect, handshake included.
    assert!(start.elapsed() < Duration::from_secs(7));
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr, "Error: Connection timed out\n");
}

#[test]
fn unreachable_proxy_reported() {
    let port = free_port().to_string();
    let url = format!("socks5h://127.0.0.1:{port}");
    let r = run(OUR_PUB, &["--proxy", &url, "-t", "t", "-m", "x"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert_eq!(r.stderr, "Error: Connection refused\n");
}

#[test]
fn bad_urls_as_mosquitto() {
    let cases: [(&str, &str); 5] = [
        (
            "socks5://h",
            "Error: Unsupported proxy protocol: socks5://h\n",
        ),
        ("socks5h://", "Error: Invalid proxy.\n"),
        ("socks5h://h:0", "Error: Invalid proxy port 0\n"),
        ("socks5h://h:70000", "Error: Invalid proxy port 70000\n"),
        ("socks5h://u@@h", ""),
    ];
    for (url, line) in cases {
        for bin in publishers() {
            let r = run(bin, &["--proxy", url, "-t", "t", "-m", "x"]);
            assert_eq!(r.code, Some(1), "{bin} {url}");
            assert_eq!(
                r.stderr,
                format!("{line}\nUse 'mosquitto_pub --help' to see usage.\n"),
                "{bin} {url}"
            );
        }
    }
    let r = run(OUR_SUB, &["-t", "t", "--proxy"]);
    assert_eq!(
        r.stderr,
        "Error: --proxy argument given but no proxy url specified.\n\n\
         \nUse 'mosquitto_sub --help' to see usage.\n"
    );
    // Credentials too long for SOCKS: libmosquitto refuses them silently.
    let long = format!("socks5h://{}@127.0.0.1:1", "u".repeat(256));
    for bin in publishers() {
        let r = run(bin, &["--proxy", &long, "-t", "t", "-m", "x"]);
        assert_eq!((r.code, r.stderr.as_str()), (Some(1), ""), "{bin}");
    }
}

#[cfg(feature = "tls")]
#[test]
fn tls_through_proxy() {
    let pki = pki::Pki::fresh("proxy-tls");
    let b = Broker::start_config(|port| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\ncafile {}\ncertfile {}\nkeyfile {}\n",
            pki.arg("ca.crt"),
            pki.arg("server.crt"),
            pki.arg("server.key")
        )
    });
    let proxy = Proxy::start(Mode::Relay, Some(("bob", "pw")));
    let url = proxy.url_with("bob:pw");
    let ca = pki.arg("ca.crt");
    let port = b.port_arg();
    for bin in publishers() {
        let mut sub = Sub::start(
            OUR_SUB,
            &[
                "--cafile",
                &ca,
                "-h",
                "localhost",
                "-p",
                &port,
                "-t",
                "px/tls",
                "-C",
                "1",
            ],
        );
        let r = run(
            bin,
            &[
                "--cafile",
                &ca,
                "--proxy",
                &url,
                "-h",
                "localhost",
                "-p",
                &port,
                "-t",
                "px/tls",
                "-m",
                "sealed",
            ],
        );
        assert_eq!(r.code, Some(0), "{bin}: {r:?}");
        assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
        assert_eq!(String::from_utf8_lossy(&sub.output()), "sealed\n", "{bin}");
    }
    // Our subscriber over TLS through the proxy, too.
    let mut sub = Sub::start(
        OUR_SUB,
        &[
            "--cafile",
            &ca,
            "--proxy",
            &url,
            "-h",
            "localhost",
            "-p",
            &port,
            "-t",
            "px/tls2",
            "-C",
            "1",
        ],
    );
    let r = run(
        OUR_PUB,
        &[
            "--cafile",
            &ca,
            "-h",
            "localhost",
            "-p",
            &port,
            "-t",
            "px/tls2",
            "-m",
            "back",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0), "{}", sub.stderr());
    assert_eq!(String::from_utf8_lossy(&sub.output()), "back\n");
    let _ = std::fs::remove_dir_all(&pki.dir);
}
