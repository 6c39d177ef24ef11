//! Listener options with the real broker: `bind_interface`, `socket_domain`,
//! `mount_point`, `use_username_as_clientid` and the deprecated default
//! listener (`port`, `bind_address`).

use std::fs;
use std::time::Duration;

use crate::harness::*;

/// The local addresses (as /proc shows them, e.g. "0100007F") listening on
/// `port`, from /proc/net/tcp (IPv4) or tcp6.
fn listening_addresses(port: u16, v6: bool) -> Vec<String> {
    let table = if v6 {
        "/proc/net/tcp6"
    } else {
        "/proc/net/tcp"
    };
    let want = format!(":{port:04X}");
    fs::read_to_string(table)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (f.get(1)?, f.get(3)?);
            let (ip, p) = local.split_once(':')?;
            (*state == "0A" && format!(":{p}") == want).then(|| ip.to_string())
        })
        .collect()
}

const LOOPBACK_V4: &str = "0100007F";
const LOOPBACK_V6: &str = "00000000000000000000000001000000";

#[test]
fn bind_interface_lo_listens_on_loopback_addresses_only() {
    let b = Broker::start_config(|port| {
        format!("listener {port}\nbind_interface lo\nallow_anonymous true\n")
    });
    assert_eq!(listening_addresses(b.port, false), [LOOPBACK_V4]);
    // IPv6 only where the host has ::1 on lo; never the wildcard.
    let v6 = listening_addresses(b.port, true);
    assert!(v6.iter().all(|a| a == LOOPBACK_V6), "{v6:?}");
    let mut c = b.client("via-lo");
    c.subscribe("lo/t", 1);
    c.publish("lo/t", b"x", 1, false);
    assert_eq!(c.receive_publish().payload, b"x");
}

#[test]
fn bind_interface_that_cannot_serve_the_listener_refuses_start() {
    for (line, warning) in [
        (
            "listener PORT 127.0.0.1\nbind_interface nosuchif0",
            "Warning: Interface nosuchif0 does not support IPv4 configuration.",
        ),
        (
            "listener PORT 127.0.0.2\nbind_interface lo",
            "Warning: Interface address for lo does not match specified listener address (127.0.0.2).",
        ),
    ] {
        let dir = TempDir::new("bind-if");
        let conf = dir.write(
            "m.conf",
            &line.replace("PORT", &free_port().to_string()),
        );
        let out = run_to_exit(
            &["-c", conf.to_str().unwrap_or("")],
            &dir,
            Duration::from_secs(10),
        );
        assert_ne!(out.status.code(), Some(0), "{line}: {}", out.output());
        assert!(out.output().contains(warning), "{line}: {}", out.output());
    }
}

#[test]
fn socket_domain_ipv4_keeps_a_host_name_listener_off_ipv6() {
    let b = Broker::start_config(|port| {
        format!("listener {port} localhost\nsocket_domain ipv4\nallow_anonymous true\n")
    });
    assert_eq!(listening_addresses(b.port, false), [LOOPBACK_V4]);
    assert!(listening_addresses(b.port, true).is_empty());
    b.client("v4-only").subscribe("x", 0);
}

#[test]
fn deprecated_port_and_bind_address_make_the_default_listener() {
    let b = Broker::start_config(|port| {
        format!("port {port}\nbind_address 127.0.0.1\nallow_anonymous true\n")
    });
    assert_eq!(listening_addresses(b.port, false), [LOOPBACK_V4]);
    let mut c = b.client("old-style");
    c.subscribe("old/t", 0);
    c.publish0("old/t", b"1.4 config", false);
    assert_eq!(c.expect_publish().payload, b"1.4 config");
}

#[test]
fn mount_point_prefixes_and_confines_a_listeners_clients() {
    let plain = free_port();
    let b = Broker::start_config(|mounted| {
        format!(
            "listener {plain} 127.0.0.1\nallow_anonymous true\n\
             listener {mounted} 127.0.0.1\nmount_point tenant/\nallow_anonymous true\n"
        )
    });
    let mut outside = Client::connect(plain, "outside", true, 60);
    outside.subscribe("#", 1);
    let mut inside = b.client("inside");
    inside.subscribe("#", 1);
    let mut inside_pub = b.client("inside-pub");
    // Debian's 2.0.11 forgets to strip the mount point on the way out (fixed
    // in 2.0.12, mosquitto issue #2244).
    let seen_inside = |t: &str| {
        if is_reference() {
            format!("tenant/{t}")
        } else {
            t.to_string()
        }
    };

    // Published inside: outside sees the prefix, inside does not.
    inside_pub.publish("room/temp", b"21", 1, false);
    let o = outside.receive_publish();
    assert_eq!(
        (o.topic.as_str(), &o.payload[..]),
        ("tenant/room/temp", &b"21"[..])
    );
    let i = inside.receive_publish();
    assert_eq!(
        (i.topic, &i.payload[..]),
        (seen_inside("room/temp"), &b"21"[..])
    );

    // Published outside under the mount point: reaches inside, stripped.
    outside.publish("tenant/cmd", b"go", 1, false);
    assert_eq!(outside.receive_publish().topic, "tenant/cmd");
    let i = inside.receive_publish();
    assert_eq!((i.topic, &i.payload[..]), (seen_inside("cmd"), &b"go"[..]));

    // Outside the mount point: invisible to the mounted listener.
    outside.publish("elsewhere", b"no", 1, false);
    assert_eq!(outside.receive_publish().topic, "elsewhere");
    inside.expect_nothing();

    // Retained messages and wills are mounted too.
    drop(inside_pub);
    let will = ConnectOpts::v311("inside-will").will("status", b"gone", 1, true);
    let (w, _) = Client::connect_opts(b.port, &will);
    w.drop_connection();
    let o = outside.receive_publish();
    assert_eq!(
        (o.topic.as_str(), &o.payload[..]),
        ("tenant/status", &b"gone"[..])
    );
    let mut late = b.client("inside-late");
    late.subscribe("status", 0);
    let r = late.expect_publish();
    assert_eq!((r.topic, r.retain), (seen_inside("status"), true));
}

#[test]
fn use_username_as_clientid_makes_the_username_the_session() {
    let b = Broker::start_config(|port| {
        format!("listener {port} 127.0.0.1\nuse_username_as_clientid true\nallow_anonymous true\n")
    });
    let mut opts = ConnectOpts::v311("first-id");
    opts.username = Some("alice".into());
    let (mut first, connack) = Client::connect_opts(b.port, &opts);
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x00]);
    assert!(
        b.wait_for_log(" as alice (", Duration::from_secs(5)),
        "{}",
        b.log_text()
    );
    // A second connection with the same username but another client id
    // takes the session over, as a same-id connection would.
    opts.client_id = b"second-id".to_vec();
    let (mut second, _) = Client::connect_opts(b.port, &opts);
    first.expect_closed();
    second.subscribe("u/t", 0);

    // Without a username there is no client id to use: refused as
    // "not authorised", as mosquitto does.
    let (_, connack) = Client::connect_opts(b.port, &ConnectOpts::v311("no-user"));
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x05]);
}
