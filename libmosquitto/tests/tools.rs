//! Debian's mosquitto_pub, mosquitto_sub and mosquitto_rr running on our
//! library, against Debian's broker (MQTT 3.1.1 and 5) and ours (3.1.1).
//! Where output is compared, the same commands run on Debian's own
//! libmosquitto give the expected lines.

mod common;
use common::*;
use std::path::Path;

/// Retains a marker on `probe`, so a subscriber that prints it is known to
/// be subscribed (no sleeping).
fn retain_probe(lib: Lib<'_>, port: u16, probe: &str) {
    let p = port.to_string();
    let out = run_bounded(
        tool(
            lib,
            "mosquitto_pub",
            &["-p", &p, "-t", probe, "-m", "ready", "-r", "-q", "1"],
        ),
        10,
    );
    assert!(out.status.success(), "retain probe: {out:?}");
}

fn publish(lib: Lib<'_>, port: u16, args: &[&str]) {
    let p = port.to_string();
    let mut all = vec!["-p", &p];
    all.extend_from_slice(args);
    let out = run_bounded(tool(lib, "mosquitto_pub", &all), 10);
    assert!(out.status.success(), "mosquitto_pub {args:?}: {out:?}");
}

/// A subscriber on `topic` (and the probe) printing with `format`;
/// publishes `msgs` once it is subscribed; its lines after the probe and
/// its exit status.
fn scenario(
    lib: Lib<'_>,
    port: u16,
    version: &str,
    format: &str,
    sub_extra: &[&str],
    msgs: &[Vec<&str>],
) -> (Vec<String>, Option<i32>) {
    let probe = format!("probe/{port}/{version}");
    retain_probe(lib, port, &probe);
    let p = port.to_string();
    let count = (msgs.len() + 1).to_string();
    let mut args = vec![
        "-p", &p, "-V", version, "-t", &probe, "-t", "data/#", "-C", &count, "-F", format,
    ];
    args.extend_from_slice(sub_extra);
    let mut sub = Lines::start(tool(lib, "mosquitto_sub", &args));
    let first = sub.next();
    assert!(first.contains("ready"), "probe line: {first}");
    for m in msgs {
        let mut a = vec!["-V", version];
        a.extend(m.iter().copied());
        publish(lib, port, &a);
    }
    let lines = (0..msgs.len()).map(|_| sub.next()).collect();
    (lines, sub.wait())
}

fn qos_messages() -> Vec<Vec<&'static str>> {
    vec![
        vec!["-t", "data/q0", "-m", "zero", "-q", "0"],
        vec!["-t", "data/q1", "-m", "one", "-q", "1"],
        vec!["-t", "data/q2", "-m", "two", "-q", "2"],
        vec!["-t", "data/empty", "-n", "-q", "1"],
    ]
}

/// QoS 0/1/2 through pub and sub on our library give what Debian's
/// library gives, on `broker`.
fn qos_round_trip(broker: &Path, version: &str) {
    let b = Broker::start(broker, "");
    let dir = lib_dir();
    let fmt = "%t|%p|%q|%r|%l";
    let ours = scenario(
        Lib::Ours(dir.path()),
        b.port,
        version,
        fmt,
        &["-q", "2"],
        &qos_messages(),
    );
    let theirs = scenario(
        Lib::Debian,
        b.port,
        version,
        fmt,
        &["-q", "2"],
        &qos_messages(),
    );
    // Messages of different QoS may overtake each other: compare sets.
    let (mut sorted, mut expected) = (ours.0.clone(), theirs.0.clone());
    sorted.sort();
    expected.sort();
    assert_eq!((&sorted, ours.1), (&expected, theirs.1));
    assert_eq!(
        sorted,
        [
            "data/empty||1|0|0",
            "data/q0|zero|0|0|4",
            "data/q1|one|1|0|3",
            "data/q2|two|2|0|3"
        ]
    );
    assert_eq!(ours.1, Some(0));
}

#[test]
fn qos_0_1_2_debian_broker_v311() {
    qos_round_trip(Path::new(DEBIAN_BROKER), "mqttv311");
}

#[test]
fn qos_0_1_2_debian_broker_v5() {
    qos_round_trip(Path::new(DEBIAN_BROKER), "5");
}

#[test]
fn qos_0_1_2_our_broker_v311() {
    qos_round_trip(&our_broker(), "mqttv311");
}

/// A retained message published through our library reaches a later
/// subscriber, flagged retained (`%r`).
fn retained(broker: &Path) {
    let b = Broker::start(broker, "");
    let dir = lib_dir();
    let ours_lib = Lib::Ours(dir.path());
    publish(
        ours_lib,
        b.port,
        &["-t", "data/kept", "-m", "still here", "-r", "-q", "1"],
    );
    let fmt = "%t|%p|%r|%q";
    // A new subscriber gets the retained message, flagged retained.
    let p = b.port.to_string();
    let out = run_bounded(
        tool(
            ours_lib,
            "mosquitto_sub",
            &["-p", &p, "-t", "data/kept", "-C", "1", "-F", fmt],
        ),
        10,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "data/kept|still here|1|0\n"
    );
    assert!(out.status.success());
}

#[test]
fn retained_debian_broker() {
    retained(Path::new(DEBIAN_BROKER));
}

#[test]
fn retained_our_broker() {
    retained(&our_broker());
}

/// `-D` properties on publish reach a v5 subscriber, printed by `-F %P`
/// and friends exactly as on Debian's library.
#[test]
fn v5_properties_debian_broker() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let dir = lib_dir();
    let msgs = vec![vec![
        "-t",
        "data/p",
        "-m",
        "props",
        "-q",
        "1",
        "-D",
        "publish",
        "user-property",
        "k",
        "v",
        "-D",
        "publish",
        "content-type",
        "text/plain",
        "-D",
        "publish",
        "response-topic",
        "data/reply",
        "-D",
        "publish",
        "correlation-data",
        "abc",
        "-D",
        "publish",
        "message-expiry-interval",
        "100",
    ]];
    let fmt = "%t|%p|%P|%C|%R|%D|%E|%q";
    let sub_extra = ["-D", "subscribe", "subscription-identifier", "5", "-q", "1"];
    let ours = scenario(Lib::Ours(dir.path()), b.port, "5", fmt, &sub_extra, &msgs);
    let theirs = scenario(Lib::Debian, b.port, "5", fmt, &sub_extra, &msgs);
    assert_eq!(ours, theirs);
    assert!(
        ours.0[0].starts_with("data/p|props|k:v|text/plain|data/reply|abc|"),
        "{:?}",
        ours.0
    );
}

/// A client on our library that dies leaves its will, at QoS 1, retained.
fn will(broker: &Path, version: &str) {
    let b = Broker::start(broker, "");
    let dir = lib_dir();
    let ours = Lib::Ours(dir.path());
    let p = b.port.to_string();
    let probe = format!("probe/will/{version}");
    retain_probe(ours, b.port, &probe);
    let mut watcher = Lines::start(tool(
        ours,
        "mosquitto_sub",
        &[
            "-p", &p, "-V", version, "-t", &probe, "-t", "will/#", "-C", "2", "-v",
        ],
    ));
    assert!(watcher.next().contains("ready"));
    let mut dying = Lines::start(tool(
        ours,
        "mosquitto_sub",
        &[
            "-p",
            &p,
            "-V",
            version,
            "-t",
            &probe,
            "--will-topic",
            "will/t",
            "--will-payload",
            "gone",
            "--will-qos",
            "1",
            "--will-retain",
            "-k",
            "30",
        ],
    ));
    assert!(dying.next().contains("ready"));
    dying.kill();
    assert_eq!(watcher.next(), "will/t gone");
    assert_eq!(watcher.wait(), Some(0));
}

#[test]
fn will_debian_broker_v311() {
    will(Path::new(DEBIAN_BROKER), "mqttv311");
}

#[test]
fn will_debian_broker_v5() {
    will(Path::new(DEBIAN_BROKER), "5");
}

#[test]
fn will_our_broker_v311() {
    will(&our_broker(), "mqttv311");
}

/// mosquitto_rr: a request answered by a responder (both on our library).
#[test]
fn request_response_debian_broker_v5() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let dir = lib_dir();
    let ours = Lib::Ours(dir.path());
    let p = b.port.to_string();
    retain_probe(ours, b.port, "probe/rr");
    // The responder: answers the first request on the response topic.
    let mut responder = Lines::start(tool(
        ours,
        "mosquitto_sub",
        &[
            "-p", &p, "-V", "5", "-t", "probe/rr", "-t", "req", "-C", "2", "-F", "%R",
        ],
    ));
    assert!(responder.next().is_empty(), "probe has no response topic");
    let rr = std::thread::spawn({
        let p = p.clone();
        let dir = dir.path().to_path_buf();
        move || {
            run_bounded(
                tool(
                    Lib::Ours(&dir),
                    "mosquitto_rr",
                    &[
                        "-p", &p, "-t", "req", "-e", "resp/1", "-m", "question", "-W", "10",
                    ],
                ),
                15,
            )
        }
    });
    let reply_topic = responder.next();
    assert_eq!(reply_topic, "resp/1");
    // Answer until the requester has it (it subscribes before publishing).
    publish(
        ours,
        b.port,
        &["-V", "5", "-t", &reply_topic, "-m", "answer"],
    );
    let out = rr.join().expect("rr thread");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "answer\n");
    assert!(out.status.success(), "{out:?}");
}

/// `-d` prints the library's log lines: ours are libmosquitto's.
#[test]
fn debug_log_lines_same_as_debian() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let dir = lib_dir();
    let p = b.port.to_string();
    let run = |lib: Lib<'_>| {
        let mut text = String::new();
        for (name, args) in [
            (
                "mosquitto_pub",
                vec!["-p", &p, "-t", "dbg/t", "-m", "hi", "-q", "2", "-r", "-d"],
            ),
            (
                "mosquitto_sub",
                vec![
                    "-p", &p, "-V", "5", "-t", "dbg/t", "-q", "1", "-C", "1", "-d", "-i", "dbg",
                ],
            ),
        ] {
            let out = run_bounded(tool(lib, name, &args), 10);
            assert!(out.status.success(), "{name}: {out:?}");
            text.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        text
    };
    let ours = run(Lib::Ours(dir.path()));
    assert_eq!(ours, run(Lib::Debian));
    assert!(ours.contains("Client (null) sending PUBREL (m1)"), "{ours}");
}

/// An idle client on our library keeps its connection with PINGREQ at the
/// keepalive period (5 s here).
#[test]
fn keepalive_pings() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let dir = lib_dir();
    let p = b.port.to_string();
    // Line-buffered: -d lines are not flushed otherwise.
    let mut cmd = std::process::Command::new("stdbuf");
    cmd.args([
        "-oL",
        "/usr/bin/mosquitto_sub",
        "-p",
        &p,
        "-t",
        "idle",
        "-k",
        "5",
        "-d",
    ])
    .env("LD_LIBRARY_PATH", dir.path());
    let mut sub = Lines::start(cmd);
    let start = std::time::Instant::now();
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.ends_with("received PINGRESP"))
    {
        assert!(lines.len() < 20, "{lines:?}");
        lines.push(sub.next());
    }
    let waited = start.elapsed();
    assert!(
        lines.iter().any(|l| l.ends_with("sending PINGREQ")),
        "{lines:?}"
    );
    assert!(
        waited.as_secs_f64() > 4.0 && waited.as_secs_f64() < 8.0,
        "{waited:?}"
    );
}

/// Debian's mosquitto_ctrl on our library administers the dynamic
/// security plugin of Debian's broker (MQTT 5 request/response).
#[test]
fn mosquitto_ctrl_dynsec() {
    let plugin = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";
    let dir = TempDir::new("dynsec");
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777));
    }
    let json = dir.path().join("dynsec.json");
    let json_s = json.to_string_lossy().into_owned();
    let out = run_bounded(
        tool(
            Lib::Debian,
            "mosquitto_ctrl",
            &["dynsec", "init", &json_s, "admin", "adminpw"],
        ),
        10,
    );
    assert!(out.status.success(), "{out:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o666));
    }
    let b = Broker::start(
        Path::new(DEBIAN_BROKER),
        &format!("plugin {plugin}\nplugin_opt_config_file {json_s}"),
    );
    let lib = lib_dir();
    let ours = Lib::Ours(lib.path());
    let p = b.port.to_string();
    let admin = ["-p", &p, "-u", "admin", "-P", "adminpw", "dynsec"];
    let ctrl = |more: &[&str]| {
        let mut args = admin.to_vec();
        args.extend_from_slice(more);
        run_bounded(tool(ours, "mosquitto_ctrl", &args), 10)
    };
    let out = ctrl(&["createClient", "bob", "-p", "bobpw"]);
    assert!(out.status.success(), "{out:?}");
    let out = ctrl(&["listClients"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "admin\nbob\n");
}

/// `mosquitto_pub -l` publishes from its main thread while the library's
/// loop thread (loop_start) runs.
#[test]
fn pub_line_mode_uses_the_loop_thread() {
    let b = Broker::start(&our_broker(), "");
    let dir = lib_dir();
    let ours = Lib::Ours(dir.path());
    let p = b.port.to_string();
    retain_probe(ours, b.port, "probe/lines");
    let mut sub = Lines::start(tool(
        ours,
        "mosquitto_sub",
        &[
            "-p",
            &p,
            "-t",
            "probe/lines",
            "-t",
            "lines",
            "-C",
            "4",
            "-q",
            "1",
        ],
    ));
    assert_eq!(sub.next(), "ready");
    let mut publisher = tool(
        ours,
        "mosquitto_pub",
        &["-p", &p, "-t", "lines", "-l", "-q", "1"],
    );
    let mut child = publisher
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn pub");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"one\ntwo\nthree\n").expect("write");
    }
    let got: Vec<String> = (0..3).map(|_| sub.next()).collect();
    assert_eq!(got, ["one", "two", "three"]);
    assert_eq!(sub.wait(), Some(0));
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}

/// A v5 broker's CONNACK limits (maximum QoS, retain available, maximum
/// packet size) refuse a publish as libmosquitto refuses it.
#[test]
fn v5_server_limits_same_as_debian() {
    let b = Broker::start(
        Path::new(DEBIAN_BROKER),
        "max_qos 1\nretain_available false\nmax_packet_size 100",
    );
    let dir = lib_dir();
    let p = b.port.to_string();
    let big = "x".repeat(200);
    for args in [
        vec!["-t", "lim", "-m", "q2", "-q", "2"],
        vec!["-t", "lim", "-m", "kept", "-r"],
        vec!["-t", "lim", "-m", &big],
        vec!["-t", "lim", "-m", "fine", "-q", "1"],
    ] {
        let mut all = vec!["-p", &p, "-V", "5"];
        all.extend_from_slice(&args);
        let ours = run_bounded(tool(Lib::Ours(dir.path()), "mosquitto_pub", &all), 10);
        let theirs = run_bounded(tool(Lib::Debian, "mosquitto_pub", &all), 10);
        assert_eq!(
            (ours.status.code(), &ours.stderr),
            (theirs.status.code(), &theirs.stderr),
            "{args:?}: {}",
            String::from_utf8_lossy(&ours.stderr)
        );
    }
}

/// Failures read as on Debian's library: refused connection (errno text),
/// unknown host, and a TLS handshake refused in the loop (exit code 8).
#[test]
fn connect_errors_same_as_debian() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let dir = lib_dir();
    let closed = free_port().to_string();
    let open = b.port.to_string();
    let cases: [Vec<&str>; 3] = [
        vec!["-p", &closed, "-t", "x"],
        vec!["-h", "no-such-host.invalid", "-t", "x"],
        vec![
            "-p",
            &open,
            "-t",
            "x",
            "-C",
            "1",
            "--cafile",
            "/etc/ssl/certs/ca-certificates.crt",
        ],
    ];
    for args in cases {
        let ours = run_bounded(tool(Lib::Ours(dir.path()), "mosquitto_sub", &args), 10);
        let theirs = run_bounded(tool(Lib::Debian, "mosquitto_sub", &args), 10);
        assert_eq!(
            (ours.status.code(), String::from_utf8_lossy(&ours.stderr)),
            (
                theirs.status.code(),
                String::from_utf8_lossy(&theirs.stderr)
            ),
            "{args:?}"
        );
        assert_ne!(ours.status.code(), Some(0));
    }
}
