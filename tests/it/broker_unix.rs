//! Unix socket listeners (`listener 0 PATH`): MQTT over the socket and
//! across to TCP, mosquitto's log lines, the socket file's life (stale file
//! replaced, mode, removed at exit), start-up refusals, listener options,
//! and the `--unix` option of our clients and Debian's.
//!
//! Every broker here also has a TCP listener: the harness waits on its port.
//! The unix listener comes first in the file, so it is open by then.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::*;

/// The socket path every test broker uses, inside its temp dir.
fn sock_in(dir: &TempDir) -> PathBuf {
    dir.join("mqtt.sock")
}

/// A broker whose config `make_config(port, socket path)` returns.
fn start(make_config: impl Fn(u16, &Path) -> String) -> (Broker, PathBuf) {
    let b = Broker::start_with(|port, dir| {
        let path = dir.write("mosquitto.conf", &make_config(port, &sock_in(dir)));
        vec!["-c".to_string(), path.to_string_lossy().into_owned()]
    });
    let sock = sock_in(&b.dir);
    (b, sock)
}

/// An anonymous broker with a unix listener and a TCP one.
fn start_plain() -> (Broker, PathBuf) {
    start(|port, sock| {
        format!(
            "listener 0 {}\nlistener {port} 127.0.0.1\nallow_anonymous true\n",
            sock.display()
        )
    })
}

/// The (topic, payload) of the next PUBLISH.
fn next_message(c: &mut Client) -> (String, Vec<u8>) {
    let p = c.receive_publish();
    (p.topic, p.payload)
}

/// Runs the broker with a unix listener at `path` (and a TCP one) from a
/// config in `dir`, expecting start-up to fail.
fn start_refused(dir: &TempDir, path: &Path) -> Exited {
    let conf = dir.write(
        "mosquitto.conf",
        &format!(
            "listener 0 {}\nlistener {} 127.0.0.1\n",
            path.display(),
            free_port()
        ),
    );
    let out = run_to_exit(&["-c", &conf.to_string_lossy()], dir, TIMEOUT);
    assert!(!out.status.success(), "{}", out.output());
    out
}

#[test]
fn pub_sub_over_the_unix_socket_and_across_to_tcp() {
    let (b, sock) = start_plain();
    let mut unix_sub = Client::connect_unix(&sock, "unix-sub");
    unix_sub.subscribe("x/#", 2);
    let mut tcp_sub = b.client("tcp-sub");
    tcp_sub.subscribe("x/#", 2);

    // unix -> unix and unix -> TCP, at each QoS.
    let mut unix_pub = Client::connect_unix(&sock, "unix-pub");
    for qos in 0..=2u8 {
        let topic = format!("x/from-unix/{qos}");
        unix_pub.publish(&topic, b"u", qos, false);
        for sub in [&mut unix_sub, &mut tcp_sub] {
            assert_eq!(next_message(sub), (topic.clone(), b"u".to_vec()));
        }
    }
    // TCP -> unix (and TCP).
    let mut tcp_pub = b.client("tcp-pub");
    tcp_pub.publish("x/from-tcp", b"t", 1, false);
    for sub in [&mut unix_sub, &mut tcp_sub] {
        assert_eq!(next_message(sub), ("x/from-tcp".to_string(), b"t".to_vec()));
    }
    // A retained message set over TCP reaches a new unix subscriber.
    tcp_pub.publish("kept", b"r", 1, true);
    let mut late = Client::connect_unix(&sock, "unix-late");
    late.subscribe("kept", 1);
    let p = late.receive_publish();
    assert_eq!((p.topic.as_str(), p.retain), ("kept", true));
    for c in [unix_sub, tcp_sub, unix_pub, tcp_pub, late] {
        c.disconnect();
    }
}

#[test]
fn log_lines_name_the_socket_path() {
    let (b, sock) = start_plain();
    let s = sock.display();
    assert!(
        b.log_text()
            .contains(&format!("Opening unix listen socket on path {s}.")),
        "{}",
        b.log_text()
    );
    let c = Client::connect_unix(&sock, "logged");
    for line in [
        format!("New connection from {s}:0 on port 0."),
        format!("New client connected from {s}:0 as logged (p2, c1, k60)."),
    ] {
        assert!(b.wait_for_log(&line, TIMEOUT), "no {line:?}");
    }
    c.disconnect();
    assert!(b.wait_for_log("Client logged disconnected.", TIMEOUT));
}

/// The user a broker started as root switches to (as `user` defaults).
fn mosquitto_uid() -> Option<u32> {
    let name = std::ffi::CString::new("mosquitto").ok()?;
    // SAFETY: getpwnam returns NULL or a pointer to a static record; the
    // uid is copied out at once.
    unsafe {
        let p = libc::getpwnam(name.as_ptr());
        (!p.is_null()).then(|| (*p).pw_uid)
    }
}

#[test]
fn socket_is_mode_0770_owned_by_the_broker_user_and_removed_at_exit() {
    let (mut b, sock) = start_plain();
    let m = fs::symlink_metadata(&sock).expect("socket file");
    assert!(m.file_type().is_socket());
    assert_eq!(m.permissions().mode() & 0o777, 0o770);
    // SAFETY: geteuid has no memory effects.
    if unsafe { libc::geteuid() } == 0 {
        if let Some(uid) = mosquitto_uid() {
            assert_eq!(m.uid(), uid, "the socket belongs to the dropped-to user");
        }
    }
    let status = b.stop_gracefully().expect("broker stops on SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!sock.exists(), "socket file left behind");
}

#[test]
fn sighup_keeps_the_unix_listener_and_its_file() {
    let (b, sock) = start_plain();
    let mut before = Client::connect_unix(&sock, "before-hup");
    let pid = b.pid().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on the broker child we started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    assert!(b.wait_for_log("Reloading config.", TIMEOUT));
    before.assert_alive();
    let mut after = Client::connect_unix(&sock, "after-hup");
    after.assert_alive();
    assert!(fs::symlink_metadata(&sock)
        .expect("socket file")
        .file_type()
        .is_socket());
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let b = Broker::start_with(|port, dir| {
        let sock = sock_in(dir);
        // A socket file nobody listens on any more, as a killed broker
        // leaves it.
        drop(std::os::unix::net::UnixListener::bind(&sock).expect("stale socket"));
        assert!(std::os::unix::net::UnixStream::connect(&sock).is_err());
        let conf = format!(
            "listener 0 {}\nlistener {port} 127.0.0.1\nallow_anonymous true\n",
            sock.display()
        );
        let path = dir.write("mosquitto.conf", &conf);
        vec!["-c".to_string(), path.to_string_lossy().into_owned()]
    });
    let mut c = Client::connect_unix(&sock_in(&b.dir), "after-stale");
    c.assert_alive();
    c.disconnect();
}

#[test]
fn a_regular_file_at_the_path_stops_start_up() {
    if is_reference() {
        // mosquitto 2.0.11 unlinks whatever is there; we refuse on purpose.
        return;
    }
    let dir = TempDir::new("unix-regular");
    let target = dir.write("precious", "keep me\n");
    let out = start_refused(&dir, &target);
    let line = format!(
        "Error: \"{}\" exists and is not a socket; not replacing it with a unix socket.",
        target.display()
    );
    assert!(out.output().contains(&line), "{}", out.output());
    assert_eq!(fs::read_to_string(&target).expect("file kept"), "keep me\n");
}

#[test]
fn a_path_too_long_for_a_unix_socket_stops_start_up() {
    let dir = TempDir::new("unix-long");
    // sun_path holds 108 bytes with the terminating NUL.
    let sock = dir.path.join(format!("{}.sock", "s".repeat(120)));
    let out = start_refused(&dir, &sock);
    let line = format!(
        "Error: Path to unix socket is too long \"{}\".",
        sock.display()
    );
    assert!(out.output().contains(&line), "{}", out.output());
    assert!(!out.output().contains("Opening unix listen socket"));
}

#[test]
fn a_socket_in_a_missing_directory_stops_start_up() {
    let dir = TempDir::new("unix-nodir");
    let sock = dir.join("no-such-dir").join("mqtt.sock");
    let out = start_refused(&dir, &sock);
    for line in [
        format!("Opening unix listen socket on path {}.", sock.display()),
        "Error binding unix socket: No such file or directory".to_string(),
    ] {
        assert!(out.output().contains(&line), "{}", out.output());
    }
}

#[test]
fn tls_options_on_a_unix_listener_stop_start_up() {
    if is_reference() {
        // mosquitto runs TLS over the socket; we do not implement that and
        // refuse rather than serve plain text.
        return;
    }
    let dir = TempDir::new("unix-tls");
    let conf = dir.write(
        "mosquitto.conf",
        &format!(
            "listener 0 {}\npsk_hint hint\nlistener {} 127.0.0.1\n",
            sock_in(&dir).display(),
            free_port()
        ),
    );
    let out = run_to_exit(&["-c", &conf.to_string_lossy()], &dir, TIMEOUT);
    assert!(!out.status.success(), "{}", out.output());
    assert!(
        out.output()
            .contains("does not support TLS on unix sockets"),
        "{}",
        out.output()
    );
    assert!(!sock_in(&dir).exists());
}

#[test]
fn garbage_on_the_unix_socket_closes_that_client_only() {
    let (b, sock) = start_plain();
    let mut sub = Client::connect_unix(&sock, "bystander");
    sub.subscribe("g/#", 1);
    // Packet type 0 is reserved: the broker drops the connection.
    let mut bad = Client::raw_unix(&sock, "garbage");
    bad.send_raw(&[0x00, 0x02, 0xde, 0xad]);
    bad.expect_closed();
    // A connected client sends a remaining length of five bytes (four is
    // the most there can be).
    let mut liar = Client::connect_unix(&sock, "liar");
    liar.send_raw(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    liar.expect_closed();

    let mut publ = b.client("after-garbage");
    publ.publish("g/ok", b"fine", 1, false);
    assert_eq!(
        next_message(&mut sub),
        ("g/ok".to_string(), b"fine".to_vec())
    );
    sub.assert_alive();
    assert_broker_healthy(b.port);
    let mut again = Client::connect_unix(&sock, "after-garbage-unix");
    again.assert_alive();
}

#[test]
fn max_connections_and_mount_point_apply_to_the_unix_listener() {
    let (b, sock) = start(|port, sock| {
        format!(
            "listener 0 {}\nmax_connections 1\nmount_point m/\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n",
            sock.display()
        )
    });
    let mut tcp_sub = b.client("tcp-watch");
    tcp_sub.subscribe("#", 1);
    let mut inside = Client::connect_unix(&sock, "mounted");
    inside.subscribe("t", 1);
    inside.publish("t", b"in", 1, false);
    assert_eq!(
        next_message(&mut tcp_sub),
        ("m/t".to_string(), b"in".to_vec())
    );
    // Its subscription is mounted too. (The topic it is delivered with
    // differs: mosquitto 2.0.11 leaves the mount point on, we strip it.)
    assert_eq!(inside.receive_publish().payload, b"in");

    let mut second = Client::raw_unix(&sock, "one-too-many");
    second.expect_closed();
    assert!(b.wait_for_log("denied: max_connections exceeded.", TIMEOUT));
    // The TCP listener has no limit of its own.
    assert_broker_healthy(b.port);
    inside.assert_alive();
}

#[test]
fn per_listener_security_applies_to_unix_listeners() {
    let (b, sock) = start(|port, sock| {
        let acl = sock.with_file_name("acl");
        fs::write(&acl, "topic readwrite anon/#\n").expect("acl file");
        format!(
            "per_listener_settings true\n\
             listener 0 {}\nallow_anonymous true\nacl_file {}\n\
             listener 0 {}\nallow_anonymous false\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n",
            sock.display(),
            acl.display(),
            sock.with_file_name("closed.sock").display()
        )
    });
    // The second unix listener takes no anonymous clients (CONNACK 5).
    let closed = sock.with_file_name("closed.sock");
    let (_, connack) = Client::connect_unix_opts(&closed, &ConnectOpts::v311("anon"));
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x05]);

    // The first one's ACL: other/x is dropped, anon/x passes; TCP clients
    // have no ACL.
    let mut watch = b.client("tcp-watch");
    watch.subscribe("#", 0);
    let mut c = Client::connect_unix(&sock, "acl-bound");
    c.publish("other/x", b"no", 0, false);
    c.publish("anon/x", b"yes", 0, false);
    assert_eq!(
        next_message(&mut watch),
        ("anon/x".to_string(), b"yes".to_vec())
    );
    c.disconnect();
}

/// Password hashing needs OpenSSL.
#[cfg(feature = "tls")]
#[test]
fn use_username_as_clientid_on_a_unix_listener() {
    let (b, sock) = start(|port, sock| {
        let pw = sock.with_file_name("passwords");
        let out = Command::new(OUR_PASSWD)
            .args(["-c", "-b", &pw.to_string_lossy(), "alice", "secret"])
            .output()
            .expect("run mosquitto_passwd");
        assert!(out.status.success(), "{out:?}");
        format!(
            "per_listener_settings true\n\
             listener 0 {}\nuse_username_as_clientid true\npassword_file {}\n\
             listener {port} 127.0.0.1\nallow_anonymous true\n",
            sock.display(),
            pw.display()
        )
    });
    let opts = ConnectOpts {
        username: Some("alice".into()),
        password: Some(b"secret".to_vec()),
        ..ConnectOpts::v311("not-this-id")
    };
    let (mut alice, connack) = Client::connect_unix_opts(&sock, &opts);
    assert_eq!(connack, CONNACK_OK);
    let line = format!("New client connected from {}:0 as alice (", sock.display());
    assert!(b.wait_for_log(&line, TIMEOUT), "no {line:?}");
    let wrong = ConnectOpts {
        password: Some(b"guess".to_vec()),
        ..opts
    };
    let (_, connack) = Client::connect_unix_opts(&sock, &wrong);
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x05]);
    alice.assert_alive();
    alice.disconnect();
}

// ---------------------------------------------------------------------------
// The --unix option of the command-line clients.
// ---------------------------------------------------------------------------

/// Runs a client tool to completion (bounded): exit code, stdout, stderr.
fn run_tool(bin: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    if wait_timeout(&mut child, TIMEOUT).is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{} {args:?} did not finish", bin.display());
    }
    // It has exited: this only drains the (small) pipes.
    let out = child.wait_with_output().expect("tool output");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `pub_bin` publishes over the socket (live to a TCP subscriber, and
/// retained), then `sub_bin` reads the retained message over the socket.
fn tools_over_unix(b: &Broker, sock: &Path, pub_bin: &Path, sub_bin: &Path, tag: &str) {
    let s = sock.to_string_lossy();
    let live = format!("tools/{tag}/live");
    let kept = format!("tools/{tag}/kept");
    let mut watch = b.client(&format!("watch-{tag}"));
    watch.subscribe(&live, 1);
    let (code, _, err) = run_tool(
        pub_bin,
        &["--unix", &s, "-t", &live, "-m", "one", "-q", "1"],
    );
    assert_eq!(code, Some(0), "{}: {err}", pub_bin.display());
    assert_eq!(next_message(&mut watch), (live.clone(), b"one".to_vec()));

    let (code, _, err) = run_tool(pub_bin, &["--unix", &s, "-t", &kept, "-m", "two", "-r"]);
    assert_eq!(code, Some(0), "{}: {err}", pub_bin.display());
    let (code, out, err) = run_tool(sub_bin, &["--unix", &s, "-t", &kept, "-C", "1", "-W", "10"]);
    assert_eq!(code, Some(0), "{}: {err}", sub_bin.display());
    assert_eq!(out, "two\n");
}

#[test]
fn our_clients_with_unix_against_our_broker() {
    let (b, sock) = start_plain();
    tools_over_unix(&b, &sock, Path::new(OUR_PUB), Path::new(OUR_SUB), "ours");
}

#[test]
fn debian_clients_with_unix_against_our_broker() {
    let (Some(debian_pub), Some(debian_sub)) = (
        require_tool("mosquitto_pub", "Debian's client with --unix"),
        require_tool("mosquitto_sub", "Debian's client with --unix"),
    ) else {
        return;
    };
    let (b, sock) = start_plain();
    tools_over_unix(&b, &sock, &debian_pub, &debian_sub, "debian");
}

#[test]
fn our_clients_with_unix_against_debian_broker() {
    let dir = TempDir::new("debian-unix");
    let sock = sock_in(&dir);
    let Some(reference) = RefBroker::start(|port| {
        dir.write(
            "mosquitto.conf",
            &format!(
                "listener 0 {}\nlistener {port} 127.0.0.1\nallow_anonymous true\n",
                sock.display()
            ),
        )
    }) else {
        return;
    };
    let s = sock.to_string_lossy();
    let (code, _, err) = run_tool(
        Path::new(OUR_PUB),
        &["--unix", &s, "-t", "ref/kept", "-m", "hi", "-r", "-q", "1"],
    );
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = run_tool(
        Path::new(OUR_SUB),
        &["--unix", &s, "-t", "ref/kept", "-C", "1", "-W", "10"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "hi\n");
    // Its log names unix peers as ours does.
    let line = format!("New connection from {s}:0 on port 0.");
    assert!(reference.wait_for_log(&line, TIMEOUT), "no {line:?}");
}

#[test]
fn our_clients_refuse_tls_options_with_unix() {
    let dir = TempDir::new("unix-client-tls");
    let sock = sock_in(&dir);
    let (code, _, err) = run_tool(
        Path::new(OUR_PUB),
        &[
            "--unix",
            &sock.to_string_lossy(),
            "--cafile",
            "/nonexistent/ca.crt",
            "-t",
            "t",
            "-m",
            "m",
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let want = if cfg!(feature = "tls") {
        "Error: TLS over a unix socket (--unix) is not supported by this version of mosquitto_pub."
    } else {
        "Error: TLS support not available in this build of mosquitto_pub"
    };
    assert!(err.contains(want), "{err}");
}
