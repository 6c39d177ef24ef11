//! `mosquitto_socks5_set`: Debian's tools with `--proxy` on our library,
//! through a small SOCKS5 relay run by the test.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A SOCKS5 relay on loopback; `login` makes it require that user/password.
struct Relay {
    port: u16,
    connects: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Relay {
    fn start(login: Option<(&'static str, &'static str)>) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let connects = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (n, halt) = (connects.clone(), stop.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = c {
                    let n = n.clone();
                    std::thread::spawn(move || {
                        if let Ok(up) = handshake(c.try_clone().expect("clone"), login, &n) {
                            relay(c, up);
                        }
                    });
                }
            }
        });
        Relay {
            port,
            connects,
            stop,
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn take(c: &mut TcpStream, n: usize) -> std::io::Result<Vec<u8>> {
    let mut v = vec![0; n];
    c.read_exact(&mut v)?;
    Ok(v)
}

/// The server side of RFC 1928/1929, IPv4 and domain-name requests only.
fn handshake(
    mut c: TcpStream,
    login: Option<(&str, &str)>,
    n: &AtomicUsize,
) -> std::io::Result<TcpStream> {
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = take(&mut c, 2)?;
    let methods = take(&mut c, usize::from(head[1]))?;
    if let Some((user, pass)) = login {
        if !methods.contains(&2) {
            c.write_all(&[5, 0xff])?;
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
        c.write_all(&[5, 2])?;
        let h = take(&mut c, 2)?;
        let u = take(&mut c, usize::from(h[1]))?;
        let pl = take(&mut c, 1)?;
        let p = take(&mut c, usize::from(pl[0]))?;
        let ok = u == user.as_bytes() && p == pass.as_bytes();
        c.write_all(&[1, if ok { 0 } else { 1 }])?;
        if !ok {
            return Err(std::io::ErrorKind::PermissionDenied.into());
        }
    } else {
        c.write_all(&[5, 0])?;
    }
    let req = take(&mut c, 4)?;
    let host = if req[3] == 3 {
        let len = take(&mut c, 1)?;
        String::from_utf8_lossy(&take(&mut c, usize::from(len[0]))?).into_owned()
    } else {
        let a = take(&mut c, 4)?;
        format!("{}.{}.{}.{}", a[0], a[1], a[2], a[3])
    };
    let p = take(&mut c, 2)?;
    let host = if host == "localhost" {
        "127.0.0.1".into()
    } else {
        host
    };
    let up = TcpStream::connect((host.as_str(), u16::from_be_bytes([p[0], p[1]])))?;
    n.fetch_add(1, Ordering::SeqCst);
    c.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 0])?;
    c.set_read_timeout(None)?;
    Ok(up)
}

fn relay(c: TcpStream, up: TcpStream) {
    let (mut a, mut b) = (
        c.try_clone().expect("clone"),
        up.try_clone().expect("clone"),
    );
    let t = std::thread::spawn(move || {
        let _ = std::io::copy(&mut a, &mut b);
        let _ = b.shutdown(Shutdown::Both);
    });
    let (mut up, mut c) = (up, c);
    let _ = std::io::copy(&mut up, &mut c);
    let _ = c.shutdown(Shutdown::Both);
    let _ = t.join();
}

#[test]
fn pub_and_sub_through_a_socks5_proxy() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let lib = lib_dir();
    let ours = Lib::Ours(lib.path());
    let p = b.port.to_string();
    let relay = Relay::start(Some(("u", "pw")));
    let url = format!("socks5h://u:pw@127.0.0.1:{}", relay.port);
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_pub",
            &[
                "-h",
                "localhost",
                "-p",
                &p,
                "--proxy",
                &url,
                "-t",
                "s/t",
                "-m",
                "via",
                "-r",
            ],
        ),
        10,
    );
    assert!(out.status.success(), "{out:?}");
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_sub",
            &[
                "-h",
                "localhost",
                "-p",
                &p,
                "--proxy",
                &url,
                "-t",
                "s/t",
                "-C",
                "1",
                "-v",
            ],
        ),
        10,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "s/t via\n", "{out:?}");
    assert_eq!(relay.connects.load(Ordering::SeqCst), 2);
    // Wrong password: refused, as libmosquitto reports it.
    let bad = format!("socks5h://u:no@127.0.0.1:{}", relay.port);
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_sub",
            &["-p", &p, "--proxy", &bad, "-t", "s/t", "-C", "1"],
        ),
        10,
    );
    assert!(!out.status.success(), "{out:?}");
    assert_eq!(relay.connects.load(Ordering::SeqCst), 2);
}
