//! mosquitto_pub's options, end to end: each test publishes with one tool
//! and receives with another, for every pairing of ours and Debian's.

use crate::harness::*;
use std::time::Duration;

fn sub_args<'a>(port: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["-p", port];
    v.extend_from_slice(extra);
    v
}

/// Publish with `pub_bin pub_args` (plus -p) and return what a subscriber
/// started with `sub_extra` prints, after `expect_len` bytes have arrived.
fn roundtrip(
    b: &Broker,
    pub_bin: &str,
    sub_bin: &str,
    sub_extra: &[&str],
    pub_args: &[&str],
    stdin: &[u8],
    expect_len: usize,
) -> Vec<u8> {
    let p = b.port_arg();
    let mut sub = Sub::start(sub_bin, &sub_args(&p, sub_extra));
    let mut args = vec!["-p", &p];
    args.extend_from_slice(pub_args);
    let r = run_stdin(pub_bin, &args, stdin);
    assert_eq!(r.code, Some(0), "{pub_bin} {args:?}: {r:?}");
    assert!(
        sub.wait_output_len(expect_len, TIMEOUT),
        "{sub_bin} got {:?}",
        sub.raw_output()
    );
    // Anything extra would arrive right behind; give it a moment.
    std::thread::sleep(Duration::from_millis(100));
    sub.output()
}

#[test]
fn message_topic_and_qos_levels() {
    let b = Broker::start("");
    for (pb, sb) in tool_pairs() {
        for q in ["0", "1", "2"] {
            let out = roundtrip(
                &b,
                pb,
                sb,
                &["-t", "q/t", "-q", "2", "-F", "%t %q %p"],
                &["-t", "q/t", "-q", q, "-m", "héllo wörld"],
                b"",
                1,
            );
            assert_eq!(
                String::from_utf8(out).unwrap(),
                format!("q/t {q} héllo wörld\n"),
                "{pb} -> {sb} at QoS {q}"
            );
        }
    }
}

#[test]
fn qos_flows_complete_before_exit() {
    let b = Broker::start("");
    let p = b.port_arg();
    let r = run(OUR_PUB, &["-p", &p, "-t", "f", "-m", "x", "-q", "2", "-d"]);
    assert_eq!(r.code, Some(0));
    let out = r.stdout_text();
    let order = [
        "sending CONNECT",
        "received CONNACK (0)",
        "sending PUBLISH (d0, q2, r0, m1, 'f', ... (1 bytes))",
        "received PUBREC (Mid: 1)",
        "sending PUBREL (m1)",
        "received PUBCOMP (Mid: 1, RC:0)",
        "sending DISCONNECT",
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), order.len(), "{out}");
    for (l, want) in lines.iter().zip(order) {
        assert_eq!(*l, format!("Client (null) {want}"));
    }
    let r = run(OUR_PUB, &["-p", &p, "-t", "f", "-m", "x", "-q", "1", "-d"]);
    assert!(r
        .stdout_text()
        .contains("Client (null) received PUBACK (Mid: 1, RC:0)\n"));
}

#[test]
fn file_with_binary_content_and_raw_output() {
    let b = Broker::start("");
    let dir = TempDir::new("pubfile");
    let data: Vec<u8> = vec![0, 1, 2, 0xff, 0xfe, b'\n', b'a', 0x80, 0];
    let path = dir.write_bytes("payload.bin", &data);
    let path = path.to_string_lossy();
    for (pb, sb) in tool_pairs() {
        let out = roundtrip(
            &b,
            pb,
            sb,
            &["-t", "bin", "-N"],
            &["-t", "bin", "-f", &path],
            b"",
            data.len(),
        );
        assert_eq!(out, data, "{pb} -> {sb}");
    }
    let r = run(
        OUR_PUB,
        &["-p", &b.port_arg(), "-t", "x", "-f", "/nonexistent/file"],
    );
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "Error: Unable to open file \"/nonexistent/file\".\nError loading input file \"/nonexistent/file\".\n"
    );
}

#[test]
fn stdin_lines_and_whole_stdin() {
    let b = Broker::start("");
    for (pb, sb) in tool_pairs() {
        let want = "l one\nl (null)\nl three 3\nl last\n";
        let out = roundtrip(
            &b,
            pb,
            sb,
            &["-t", "l", "-v"],
            &["-t", "l", "-l", "-q", "1"],
            b"one\n\nthree 3\nlast",
            want.len(),
        );
        assert_eq!(String::from_utf8(out).unwrap(), want, "{pb} -> {sb}");
        let out = roundtrip(&b, pb, sb, &["-t", "s"], &["-t", "s", "-s"], b"a\nb\n", 5);
        assert_eq!(out, b"a\nb\n\n", "{pb} -> {sb}");
    }
    let r = run_stdin(OUR_PUB, &["-p", &b.port_arg(), "-t", "s", "-s"], b"");
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "Error: Zero length input.\nError loading input from stdin.\n"
    );
    // An empty stdin with -l publishes nothing and succeeds.
    let r = run_stdin(OUR_PUB, &["-p", &b.port_arg(), "-t", "s", "-l"], b"");
    assert_eq!(r.code, Some(0), "{r:?}");
}

#[test]
fn many_lines_respect_max_inflight() {
    let b = Broker::start("");
    let p = b.port_arg();
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "many", "-q", "1"]);
    let input: String = (0..500).map(|i| format!("line {i}\n")).collect();
    let r = run_stdin(
        OUR_PUB,
        &["-p", &p, "-t", "many", "-l", "-q", "1", "-M", "3"],
        input.as_bytes(),
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(sub.wait_output_len(input.len(), TIMEOUT));
    assert_eq!(String::from_utf8(sub.output()).unwrap(), input);
}

#[test]
fn null_message_and_retain() {
    let b = Broker::start("");
    let p = b.port_arg();
    for (pb, sb) in tool_pairs() {
        let r = run(
            pb,
            &["-p", &p, "-t", "ret/a", "-m", "kept", "-r", "-q", "1"],
        );
        assert_eq!(r.code, Some(0));
        // A subscriber arriving later gets it, flagged retained.
        let r = run(
            sb,
            &[
                "-p", &p, "-t", "ret/a", "-C", "1", "-F", "%r %t %p", "-W", "5",
            ],
        );
        assert_eq!(r.stdout_text(), "1 ret/a kept\n", "{pb} -> {sb}");
        // -n -r clears it.
        let r = run(pb, &["-p", &p, "-t", "ret/a", "-n", "-r"]);
        assert_eq!(r.code, Some(0));
        let r = run(sb, &["-p", &p, "-t", "ret/a", "-W", "1"]);
        assert_eq!(r.stdout_text(), "");
        assert_eq!(r.code, Some(27));
        // A null message is delivered as an empty payload.
        let out = roundtrip(&b, pb, sb, &["-t", "n", "-v"], &["-t", "n", "-n"], b"", 1);
        assert_eq!(out, b"n (null)\n", "{pb} -> {sb}");
    }
}

#[test]
fn repeat_and_repeat_delay() {
    let b = Broker::start("");
    for (pb, sb) in tool_pairs() {
        let out = roundtrip(
            &b,
            pb,
            sb,
            &["-t", "rep"],
            &[
                "-t",
                "rep",
                "-m",
                "r",
                "--repeat",
                "3",
                "--repeat-delay",
                "0.05",
                "-q",
                "1",
            ],
            b"",
            6,
        );
        assert_eq!(out, b"r\nr\nr\n", "{pb} -> {sb}");
    }
}

#[test]
fn client_id_prefix_keepalive_and_bind_address() {
    let b = Broker::start("");
    let p = b.port_arg();
    let r = run(
        OUR_PUB,
        &["-p", &p, "-t", "x", "-m", "y", "-i", "my-id", "-d"],
    );
    assert!(r
        .stdout_text()
        .starts_with("Client my-id sending CONNECT\n"));
    let r = run(
        OUR_PUB,
        &["-p", &p, "-t", "x", "-m", "y", "-I", "pre-", "-d"],
    );
    let first = r.stdout_text().lines().next().unwrap_or("").to_owned();
    assert!(
        first.starts_with("Client pre-") && first.ends_with(" sending CONNECT"),
        "{first}"
    );
    let pid: String = first["Client pre-".len()..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    assert!(!pid.is_empty());
    let r = run(
        OUR_PUB,
        &["-p", &p, "-t", "x", "-m", "y", "-i", "a", "-I", "b"],
    );
    assert_eq!(r.code, Some(1));
    assert!(r
        .stderr
        .starts_with("Error: -i and -I argument cannot be used together.\n"));
    let r = run(OUR_PUB, &["-p", &p, "-t", "x", "-m", "y", "-k", "5"]);
    assert_eq!(r.code, Some(0));
    let r = run(OUR_PUB, &["-p", &p, "-t", "x", "-m", "y", "-k", "4"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with(
        "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n"
    ));
    let r = run(
        OUR_PUB,
        &[
            "-p",
            &p,
            "-t",
            "x",
            "-m",
            "y",
            "-A",
            "127.0.0.1",
            "--nodelay",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = run(
        OUR_PUB,
        &[
            "-h",
            "127.0.0.1",
            "-p",
            &p,
            "-t",
            "x",
            "-m",
            "y",
            "-A",
            "nonexistent.invalid",
        ],
    );
    assert_eq!(r.code, Some(1));
    assert_eq!(r.stderr, "Unable to connect (Lookup error.).\n");
}

#[test]
fn url_option() {
    let b = Broker::start("");
    let p = b.port_arg();
    for (pb, sb) in tool_pairs() {
        let url = format!("mqtt://127.0.0.1:{p}/url/topic");
        let mut sub = Sub::start(sb, &["-L", &url, "-v"]);
        let r = run(pb, &["-L", &url, "-m", "via url"]);
        assert_eq!(r.code, Some(0), "{r:?}");
        assert!(sub.wait_output_len(18, TIMEOUT));
        assert_eq!(sub.output(), b"url/topic via url\n", "{pb} -> {sb}");
    }
    let r = run(OUR_PUB, &["-L", "http://x/y", "-m", "z"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.starts_with("Error: unsupported URL scheme.\n"));
    let r = run(OUR_PUB, &["-L", "mqtt://host", "-m", "z"]);
    assert!(r
        .stderr
        .starts_with("Error: Invalid URL for -L argument specified - topic missing.\n"));
}

#[test]
fn protocol_versions() {
    let b = Broker::start("");
    let p = b.port_arg();
    // Ours speaks MQTT 5 too now.
    for v in ["mqttv31", "mqttv311", "31", "311", "mqttv5", "5"] {
        let out = roundtrip(
            &b,
            OUR_PUB,
            OUR_SUB,
            &["-t", "v", "-V", v, "-i", "s"],
            &["-t", "v", "-V", v, "-m", v, "-i", "p", "-q", "1"],
            b"",
            v.len() + 1,
        );
        assert_eq!(out, format!("{v}\n").as_bytes());
    }
    let r = run(OUR_PUB, &["-p", &p, "-t", "v", "-m", "x", "-V", "mqttv4"]);
    assert_eq!(r.code, Some(1));
    assert!(r
        .stderr
        .starts_with("Error: Invalid protocol version argument given.\n"));
}

#[test]
fn will_message_on_unexpected_disconnect() {
    let b = Broker::start("");
    let p = b.port_arg();
    for (pb, sb) in tool_pairs() {
        let mut watcher = Sub::start(sb, &["-p", &p, "-t", "will/#", "-v", "-q", "1"]);
        // A -l publisher waiting on stdin holds the connection open; killing
        // it makes the broker send its Will.
        let mut doomed = std::process::Command::new(pb)
            .args([
                "-p",
                &p,
                "-t",
                "will/other",
                "-l",
                "--will-topic",
                "will/gone",
                "--will-payload",
                "bye",
                "--will-qos",
                "1",
                "--will-retain",
            ])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(300));
        let _ = doomed.kill();
        let _ = doomed.wait();
        assert!(
            watcher.wait_output_len(13, TIMEOUT),
            "{pb} -> {sb}: {:?}",
            watcher.raw_output()
        );
        assert_eq!(watcher.output(), b"will/gone bye\n");
        // It was retained.
        let r = run(
            OUR_SUB,
            &[
                "-p",
                &p,
                "-t",
                "will/gone",
                "-C",
                "1",
                "-F",
                "%r%p",
                "-W",
                "5",
            ],
        );
        assert_eq!(r.stdout_text(), "1bye\n");
        run(OUR_PUB, &["-p", &p, "-t", "will/gone", "-r", "-n"]);
    }
    let r = run(
        OUR_PUB,
        &["-p", &p, "-t", "a", "-m", "b", "--will-payload", "x"],
    );
    assert_eq!(r.code, Some(1));
    assert!(r
        .stderr
        .starts_with("Error: Will payload given, but no will topic given.\n"));
    let r = run(OUR_PUB, &["-p", &p, "-t", "a", "-m", "b", "--will-retain"]);
    assert!(r
        .stderr
        .starts_with("Error: Will retain given, but no will topic given.\n"));
    let r = run(
        OUR_PUB,
        &["-p", &p, "-t", "a", "-m", "b", "--will-topic", "w/#"],
    );
    assert!(r
        .stderr
        .starts_with("Error: Invalid will topic 'w/#', does it contain '+' or '#'?\n"));
    let r = run(
        OUR_PUB,
        &[
            "-p",
            &p,
            "-t",
            "a",
            "-m",
            "b",
            "--will-topic",
            "w",
            "--will-qos",
            "3",
        ],
    );
    assert!(r.stderr.starts_with("Error: Invalid will QoS 3.\n"));
}

#[test]
fn persistent_session_with_c() {
    let b = Broker::start("");
    let p = b.port_arg();
    for (pb, sb) in tool_pairs() {
        let id = format!("persist-{}", sb.len());
        // Create the session and subscription, then leave.
        let r = run(
            sb,
            &["-p", &p, "-t", "ps", "-q", "1", "-c", "-i", &id, "-E"],
        );
        assert_eq!(r.code, Some(0), "{r:?}");
        // Published while the subscriber is away...
        let r = run(pb, &["-p", &p, "-t", "ps", "-m", "queued", "-q", "1"]);
        assert_eq!(r.code, Some(0));
        // ...and delivered when it comes back.
        let r = run(
            sb,
            &[
                "-p", &p, "-t", "ps", "-q", "1", "-c", "-i", &id, "-C", "1", "-W", "5",
            ],
        );
        assert_eq!(r.stdout_text(), "queued\n", "{pb} -> {sb}");
    }
}
