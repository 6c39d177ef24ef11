//! The seed's demo, as written: `mosquitto_sub -t mqtt` in one terminal,
//! `mosquitto_pub -h localhost -t mqtt -m "hello world."` in another, and the
//! Chinese variants. The subscriber runs with exactly the demo's arguments
//! (plus `-p`), so readiness is detected by publishing until it prints.

use crate::harness::*;
use std::time::{Duration, Instant};

/// Start `sub_args` as written, then run the publisher (as written) until
/// the subscriber prints something; every line printed must be `expected`.
fn demo(sub_args: &[&str], pub_args: &[&str], expected: &str) {
    let mut sub = Sub::spawn(OUR_SUB, sub_args);
    let deadline = Instant::now() + TIMEOUT;
    let mut published = 0;
    while Instant::now() < deadline {
        let r = run(OUR_PUB, pub_args);
        assert_eq!(r.code, Some(0), "publisher failed: {r:?}");
        assert!(r.stdout.is_empty() && r.stderr.is_empty(), "{r:?}");
        published += 1;
        if sub.wait_output_len(1, Duration::from_millis(200)) {
            break;
        }
    }
    assert!(sub.wait_for_raw(b"\n", Duration::from_secs(2)));
    let out = String::from_utf8(sub.output()).expect("UTF-8 output");
    let lines: Vec<&str> = out.lines().collect();
    assert!(!lines.is_empty() && lines.len() <= published, "{out:?}");
    for l in lines {
        assert_eq!(l, expected);
    }
    assert!(out.ends_with('\n'));
    assert_eq!(sub.signal("INT"), Some(0));
    assert_eq!(sub.stderr(), "");
}

#[test]
fn demo_hello_world() {
    let b = Broker::start("");
    let p = b.port_arg();
    demo(
        &["-t", "mqtt", "-p", &p],
        &[
            "-h",
            "localhost",
            "-t",
            "mqtt",
            "-m",
            "hello world.",
            "-p",
            &p,
        ],
        "hello world.",
    );
}

#[test]
fn demo_chinese_topic_and_client_id() {
    let b = Broker::start("");
    let p = b.port_arg();
    demo(
        &["-t", "主题", "-p", &p],
        &[
            "-t",
            "主题",
            "-i",
            "发布端",
            "-h",
            "localhost",
            "-m",
            "你好",
            "-p",
            &p,
        ],
        "你好",
    );
    demo(
        &["-t", "主题", "-p", &p],
        &[
            "-t",
            "主题",
            "-i",
            "发布端",
            "-h",
            "localhost",
            "-m",
            "我是发布端，你好。",
            "-p",
            &p,
        ],
        "我是发布端，你好。",
    );
}

/// The demo on the default port, exactly as written, when 1883 is free.
#[test]
fn demo_on_default_port() {
    if !port_is_free(1883) {
        println!("note: port 1883 is in use; skipping the default-port demo");
        return;
    }
    let Ok(_b) = Broker::try_start_on(1883, |port| {
        format!("listener {port} localhost\nallow_anonymous true\n")
    }) else {
        println!("note: could not start a broker on localhost:1883; skipping");
        return;
    };
    demo(
        &["-t", "mqtt"],
        &["-h", "localhost", "-t", "mqtt", "-m", "hello world."],
        "hello world.",
    );
}
