//! mosquitto_sub's options, end to end against the test broker, with our
//! subscriber fed by our publisher and by Debian's.

use crate::harness::*;
use std::time::Duration;

fn publish(pub_bin: &str, port: &str, args: &[&str]) {
    let mut all = vec!["-p", port];
    all.extend_from_slice(args);
    let r = run(pub_bin, &all);
    assert_eq!(r.code, Some(0), "{pub_bin} {all:?}: {r:?}");
}

fn pubs() -> [&'static str; 2] {
    [OUR_PUB, DEBIAN_PUB]
}

#[test]
fn several_topics_filter_out_and_verbose() {
    let b = Broker::start("");
    let p = b.port_arg();
    for pb in pubs() {
        let mut sub = Sub::start(
            OUR_SUB,
            &["-p", &p, "-t", "a/#", "-t", "b", "-T", "a/secret/#", "-v"],
        );
        publish(pb, &p, &["-t", "a/1", "-m", "one"]);
        publish(pb, &p, &["-t", "a/secret/x", "-m", "hidden"]);
        publish(pb, &p, &["-t", "b", "-m", "two"]);
        publish(pb, &p, &["-t", "c", "-m", "none"]);
        let want = "a/1 one\nb two\n";
        assert!(sub.wait_output_len(want.len(), TIMEOUT));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(String::from_utf8(sub.output()).unwrap(), want);
    }
}

#[test]
fn count_no_eol_and_exit_status() {
    let b = Broker::start("");
    let p = b.port_arg();
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "c", "-C", "2", "-N"]);
    publish(OUR_PUB, &p, &["-t", "c", "-m", "x"]);
    publish(DEBIAN_PUB, &p, &["-t", "c", "-m", "y"]);
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    assert_eq!(sub.output(), b"xy");
    let r = run(OUR_SUB, &["-p", &p, "-t", "c", "-C", "0"]);
    assert_eq!(r.code, Some(1));
    assert!(r
        .stderr
        .starts_with("Error: Invalid message count \"0\".\n"));
}

#[test]
fn timeout_exits_27() {
    let b = Broker::start("");
    let p = b.port_arg();
    for sb in [OUR_SUB, DEBIAN_SUB] {
        let r = run(sb, &["-p", &p, "-t", "quiet/topic", "-W", "1"]);
        assert_eq!(r.code, Some(27), "{sb}");
        assert_eq!(r.stderr, "Timed out\n", "{sb}");
    }
    let r = run(OUR_SUB, &["-p", &p, "-t", "x", "-W", "0"]);
    assert!(r.stderr.starts_with("Error: Invalid timeout \"0\".\n"));
}

#[test]
fn retained_handling_r_retained_only_remove_retained() {
    let b = Broker::start("");
    let p = b.port_arg();
    publish(OUR_PUB, &p, &["-t", "rt/1", "-m", "old1", "-r"]);
    publish(OUR_PUB, &p, &["-t", "rt/2", "-m", "old2", "-r"]);
    // -R: stale (retained) messages are not printed, live ones are.
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "rt/#", "-R"]);
    publish(OUR_PUB, &p, &["-t", "rt/1", "-m", "fresh"]);
    assert!(sub.wait_output_len(6, TIMEOUT));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sub.output(), b"fresh\n");
    drop(sub);
    // --retained-only: the retained ones, then exit at the first live one.
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "rt/#", "--retained-only", "-v"]);
    assert!(sub.wait_output_len(20, TIMEOUT));
    publish(OUR_PUB, &p, &["-t", "rt/1", "-m", "live"]);
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    let out = String::from_utf8(sub.output()).unwrap();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    // "fresh" was not retained, so the store still has old1.
    assert_eq!(lines, ["rt/1 old1", "rt/2 old2"]);
    // -R with --retained-only is refused.
    let r = run(OUR_SUB, &["-p", &p, "-t", "rt/#", "--retained-only", "-R"]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        r.stderr,
        "\nError: Combining '-R' and '--retained-only' makes no sense.\n"
    );
    // --remove-retained clears them (except what -T filters out).
    let r = run(
        OUR_SUB,
        &[
            "-p",
            &p,
            "-t",
            "rt/#",
            "--remove-retained",
            "-T",
            "rt/2",
            "--retained-only",
            "-W",
            "2",
        ],
    );
    assert_eq!(r.stdout_text(), "old1\n", "{r:?}");
    let r = run(OUR_SUB, &["-p", &p, "-t", "rt/#", "-W", "1", "-v"]);
    assert_eq!(r.stdout_text(), "rt/2 old2\n");
}

#[test]
fn exit_after_subscribe_and_unsubscribe() {
    let b = Broker::start("");
    let p = b.port_arg();
    let r = run(OUR_SUB, &["-p", &p, "-t", "e", "-E", "-d"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout_text().contains("Subscribed (mid: 1): 0\n"),
        "{r:?}"
    );
    // A persistent session subscribed to u/a and u/b...
    let r = run(
        OUR_SUB,
        &[
            "-p", &p, "-c", "-i", "unsub", "-q", "1", "-t", "u/a", "-t", "u/b", "-E",
        ],
    );
    assert_eq!(r.code, Some(0));
    // ...drops u/a with -U.
    let r = run(
        OUR_SUB,
        &[
            "-p", &p, "-c", "-i", "unsub", "-q", "1", "-t", "u/b", "-U", "u/a", "-E", "-d",
        ],
    );
    assert!(
        r.stdout_text()
            .contains("sending UNSUBSCRIBE (Mid: 2, Topic: u/a)"),
        "{r:?}"
    );
    publish(OUR_PUB, &p, &["-t", "u/a", "-m", "gone", "-q", "1"]);
    publish(OUR_PUB, &p, &["-t", "u/b", "-m", "kept", "-q", "1"]);
    let r = run(
        OUR_SUB,
        &[
            "-p", &p, "-c", "-i", "unsub", "-q", "1", "-t", "u/b", "-C", "1", "-W", "5",
        ],
    );
    assert_eq!(r.stdout_text(), "kept\n");
    let r = run(OUR_SUB, &["-p", &p, "-t", "x", "-U", "a/#b"]);
    assert!(r.stderr.starts_with(
        "Error: Invalid unsubscribe topic 'a/#b', are all '+' and '#' wildcards correct?\n"
    ));
}

#[test]
fn output_formats() {
    let b = Broker::start("");
    let p = b.port_arg();
    let cases: [(&str, &[&str], &str); 6] = [
        ("%t|%p|%l|%q|%r|%x|%X", &["-m", "hi!"], "f|hi!|3|1|0|686921|686921\n"),
        ("%10t|%-5l|%05l|%.1t|%%|@@|\\t", &["-m", "abc"], "         f|3    |00003|f|%|@|\t\n"),
        ("%j", &["-m", "a\"b"], "{\"topic\":\"f\",\"qos\":1,\"retain\":0,\"payloadlen\":3,\"mid\":1,\"payload\":\"a\\\"b\"}\n"),
        ("%J", &["-m", "{\"k\": [1, true]}"], "{\"topic\":\"f\",\"qos\":1,\"retain\":0,\"payloadlen\":16,\"mid\":1,\"payload\":{\"k\":[1,true]}}\n"),
        ("%p", &["-n"], "\n"),
        ("@Y", &["-m", "x"], ""),
    ];
    for (fmt, pub_args, want) in cases {
        let mut sub = Sub::start(
            OUR_SUB,
            &["-p", &p, "-t", "f", "-q", "1", "-F", fmt, "-C", "1"],
        );
        let mut args = vec!["-t", "f", "-q", "1"];
        args.extend_from_slice(pub_args);
        publish(OUR_PUB, &p, &args);
        assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
        let out = String::from_utf8(sub.output()).unwrap();
        if fmt.starts_with("%j") || fmt.starts_with("%J") {
            // Strip the timestamp, which we cannot predict.
            let tst_end = out.find("\"topic\"").expect("topic field");
            assert!(out.starts_with("{\"tst\":\""), "{out}");
            assert_eq!(format!("{{{}", &out[tst_end..]), want);
        } else if fmt == "@Y" {
            let year: u32 = out.trim().parse().expect("a year");
            assert!(year >= 2024, "{out}");
        } else {
            assert_eq!(out, want, "format {fmt}");
        }
    }
    // %J with a payload that is not JSON reports it on stderr.
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "f", "-F", "%J", "-C", "1"]);
    publish(OUR_PUB, &p, &["-t", "f", "-m", "not json"]);
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    assert_eq!(
        sub.stderr(),
        "Error: Message payload is not valid JSON on topic f.\n"
    );
    // Bad formats are refused as mosquitto refuses them.
    for (fmt, msg) in [
        ("%z", "Error: Invalid format specifier 'z'.\n"),
        ("abc%", "Error: Incomplete format specifier.\n"),
        ("\\q", "Error: Invalid escape specifier 'q'.\n"),
    ] {
        for sb in [OUR_SUB, DEBIAN_SUB] {
            let r = run(sb, &["-p", &p, "-t", "f", "-F", fmt]);
            assert_eq!(r.code, Some(1));
            assert_eq!(
                r.stderr,
                format!("{msg}\nUse 'mosquitto_sub --help' to see usage.\n"),
                "{sb}"
            );
        }
    }
}

#[test]
fn non_utf8_payload_is_printed_raw() {
    let b = Broker::start("");
    let p = b.port_arg();
    let dir = TempDir::new("raw");
    let data = [0xC3u8, 0x28, 0xA0, 0xA1, 0xFF, 0x00, b'z'];
    let f = dir.write_bytes("raw", &data);
    let f = f.to_string_lossy();
    for pb in pubs() {
        for (extra, suffix) in [(&[][..], &b"\n"[..]), (&["-v"][..], &b"\n"[..])] {
            let mut args = vec!["-p", p.as_str(), "-t", "raw", "-C", "1"];
            args.extend_from_slice(extra);
            let mut sub = Sub::start(OUR_SUB, &args);
            publish(pb, &p, &["-t", "raw", "-f", &f]);
            assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
            let mut want = Vec::new();
            if !extra.is_empty() {
                want.extend_from_slice(b"raw ");
            }
            want.extend_from_slice(&data);
            want.extend_from_slice(suffix);
            assert_eq!(sub.output(), want);
        }
    }
}

#[test]
fn signals_disconnect_cleanly() {
    let b = Broker::start("");
    let p = b.port_arg();
    for sig in ["INT", "TERM"] {
        let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "s"]);
        assert_eq!(sub.signal(sig), Some(0));
        assert!(
            sub.raw_output().ends_with("sending DISCONNECT\n"),
            "{}",
            sub.raw_output()
        );
    }
}

#[test]
fn keepalive_pings() {
    let b = Broker::start("");
    let p = b.port_arg();
    let mut sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "k", "-k", "5"]);
    assert!(sub.wait_for_raw(b"received PINGRESP", Duration::from_secs(10)));
    assert!(sub.raw_output().contains("Client (null) sending PINGREQ\n"));
}

#[test]
fn qos_and_client_id_and_prefix() {
    let b = Broker::start("");
    let p = b.port_arg();
    let mut sub = Sub::start(
        OUR_SUB,
        &[
            "-p", &p, "-t", "q", "-q", "2", "-i", "subber", "-F", "%q %p",
        ],
    );
    assert!(sub
        .raw_output()
        .starts_with("Client subber sending CONNECT\n"));
    assert!(sub
        .raw_output()
        .contains("Client subber sending SUBSCRIBE (Mid: 1, Topic: q, QoS: 2, Options: 0x00)\n"));
    publish(DEBIAN_PUB, &p, &["-t", "q", "-q", "2", "-m", "two"]);
    assert!(sub.wait_output_len(6, TIMEOUT));
    assert_eq!(sub.output(), b"2 two\n");
    let sub = Sub::start(OUR_SUB, &["-p", &p, "-t", "q", "-I", "pfx"]);
    assert!(sub
        .raw_output()
        .starts_with(&format!("Client pfx{} sending CONNECT\n", sub.pid())));
}

#[test]
fn random_filter_all_and_bad_values() {
    let b = Broker::start("");
    let p = b.port_arg();
    let mut sub = Sub::start(
        OUR_SUB,
        &["-p", &p, "-t", "r", "--random-filter", "100", "-C", "1"],
    );
    publish(OUR_PUB, &p, &["-t", "r", "-m", "all"]);
    assert_eq!(sub.wait_exit(TIMEOUT), Some(0));
    assert_eq!(sub.output(), b"all\n");
    let r = run(OUR_SUB, &["-p", &p, "-t", "r", "--random-filter", "0"]);
    assert!(r
        .stderr
        .starts_with("Error: --random-filter chance must be between 0.1-100.0\n"));
}
