//! mosquitto's C plugins in the broker: test plugins written in C
//! (`fixtures/plugins/`, built with `cc` against Debian's `mosquitto-dev`
//! headers at test time), load failures, the ABI struct layout against the
//! same headers, the binary's dynamic symbol table, and Debian's own
//! dynamic-security plugin driven by Debian's `mosquitto_ctrl`.
//!
//! `MQTT_TEST_BROKER=/usr/sbin/mosquitto` runs the behaviour tests against
//! Debian's mosquitto with the same plugins.

use std::path::{Path, PathBuf};
use std::process::Command;

#[cfg(feature = "tls")]
use crate::harness::pki::Pki;
use crate::harness::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/plugins");

/// Compiles `fixtures/plugins/<name>.c` into `dir`: a shared object, or a
/// program with `shared == false`. None (skip) without a C compiler or the
/// headers outside CI.
fn build_c(dir: &TempDir, name: &str, shared: bool) -> Option<PathBuf> {
    build_c_with(dir, name, shared, None)
}

/// `build_c` with `-DAUTH_VERSION=<v>`, into `<name>_v<v>.so`.
fn build_c_with(dir: &TempDir, name: &str, shared: bool, version: Option<u8>) -> Option<PathBuf> {
    let cc = require_tool("cc", "builds the C test plugins")?;
    if !Path::new("/usr/include/mosquitto_broker.h").exists() {
        assert!(!in_ci(), "mosquitto-dev headers are required in CI");
        eprintln!("SKIP: /usr/include/mosquitto_broker.h missing (apt-get install mosquitto-dev)");
        return None;
    }
    let tag = version.map(|v| format!("_v{v}")).unwrap_or_default();
    let out = dir.join(&format!("{name}{tag}{}", if shared { ".so" } else { "" }));
    let mut cmd = Command::new(cc);
    if shared {
        cmd.args(["-shared", "-fPIC"]);
    }
    if let Some(v) = version {
        cmd.arg(format!("-DAUTH_VERSION={v}"));
    }
    let status = cmd
        .arg("-o")
        .arg(&out)
        .arg(format!("{FIXTURES}/{name}.c"))
        .status()
        .expect("run cc");
    assert!(status.success(), "cc {name}.c failed");
    Some(out)
}

/// One anonymous listener on `port` with the plugin `so`.
fn plugin_conf(port: u16, so: &Path) -> String {
    format!(
        "listener {port} 127.0.0.1\nallow_anonymous true\nplugin {}\n",
        so.display()
    )
}

fn connack_code(port: u16, id: &str, user: Option<&str>, pass: Option<&str>) -> u8 {
    let mut o = ConnectOpts::v311(id);
    o.username = user.map(str::to_owned);
    o.password = pass.map(|p| p.as_bytes().to_vec());
    let (_c, connack) = Client::connect_opts(port, &o);
    connack[3]
}

fn login(port: u16, id: &str, user: Option<&str>, pass: Option<&str>) -> Client {
    let mut o = ConnectOpts::v311(id);
    o.username = user.map(str::to_owned);
    o.password = pass.map(|p| p.as_bytes().to_vec());
    let (c, connack) = Client::connect_opts(port, &o);
    assert_eq!(connack[3], 0, "{id} refused");
    c
}

/// The message `sub` receives next, as (topic, payload).
fn next_message(sub: &mut Client) -> (String, Vec<u8>) {
    let p = sub.receive_publish();
    (p.topic, p.payload)
}

#[test]
fn plugin_struct_layout_matches_debian_headers() {
    let dir = TempDir::new("plugin-layout");
    let Some(prog) = build_c(&dir, "layout", false) else {
        return;
    };
    let out = Command::new(prog).output().expect("run layout");
    assert!(out.status.success());
    let theirs = String::from_utf8_lossy(&out.stdout).into_owned();
    let ours = mosquitto_rs::broker::plugin::layout_report();
    assert!(theirs.lines().count() > 60, "{theirs}");
    assert_eq!(ours, theirs);
}

#[test]
fn broker_exports_the_plugin_api_and_nothing_else() {
    if is_reference() {
        return;
    }
    let Some(nm) = require_tool("nm", "reads the broker's dynamic symbols") else {
        return;
    };
    let out = Command::new(nm)
        .args(["-D", "--defined-only"])
        .arg(broker_bin())
        .output()
        .expect("run nm");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    for n in &names {
        assert!(
            n.starts_with("mosquitto_"),
            "exported beyond the plugin API: {n}"
        );
    }
    // What Debian's dynamic-security plugin imports, and the rest of
    // mosquitto 2.0's linker.syms.
    for want in [
        "mosquitto_broker_publish",
        "mosquitto_broker_publish_copy",
        "mosquitto_callback_register",
        "mosquitto_callback_unregister",
        "mosquitto_calloc",
        "mosquitto_client_id",
        "mosquitto_client_username",
        "mosquitto_free",
        "mosquitto_kick_client_by_username",
        "mosquitto_kick_client_by_clientid",
        "mosquitto_log_printf",
        "mosquitto_malloc",
        "mosquitto_realloc",
        "mosquitto_strdup",
        "mosquitto_set_username",
        "mosquitto_sub_topic_check",
        "mosquitto_pub_topic_check",
        "mosquitto_topic_matches_sub",
        "mosquitto_validate_utf8",
        "mosquitto_property_free_all",
        "mosquitto_property_identifier",
        "mosquitto_property_next",
        "mosquitto_property_read_byte",
        "mosquitto_property_read_int16",
        "mosquitto_property_read_int32",
        "mosquitto_property_read_varint",
        "mosquitto_property_read_binary",
        "mosquitto_property_read_string",
        "mosquitto_property_read_string_pair",
        "mosquitto_property_copy_all",
        "mosquitto_property_check_command",
        "mosquitto_property_check_all",
        "mosquitto_property_identifier_to_string",
        "mosquitto_string_to_property_info",
    ] {
        assert!(names.contains(&want), "{want} not exported: {names:?}");
    }
    assert!(names.len() < 55, "{names:?}");
}

/// Starts the broker with `conf` and expects it to exit non-zero by itself,
/// with every one of `needles` in its output.
fn start_fails(dir: &TempDir, conf: &str, needles: &[&str]) {
    let port = free_port();
    let path = dir.write("fail.conf", &format!("listener {port} 127.0.0.1\n{conf}\n"));
    let run = run_to_exit(&["-c", &path.to_string_lossy()], dir, TIMEOUT);
    let out = run.output();
    assert!(!run.status.success(), "started with {conf}:\n{out}");
    assert!(
        run.status.code().is_some(),
        "killed by a signal: {:?}\n{out}",
        run.status
    );
    for n in needles {
        assert!(out.contains(n), "no '{n}' in:\n{out}");
    }
}

#[test]
fn plugin_load_failures_stop_start_up_with_the_reason() {
    let dir = TempDir::new("plugin-fail");
    let missing = dir.join("missing.so");
    start_fails(
        &dir,
        &format!("plugin {}", missing.display()),
        &["missing.so", "No such file or directory"],
    );
    let text = dir.write("text.so", "this is not a shared object\n");
    start_fails(
        &dir,
        &format!("plugin {}", text.display()),
        &["text.so", "Load error"],
    );
    let Some(none) = build_c(&dir, "not_a_plugin", true) else {
        return;
    };
    start_fails(
        &dir,
        &format!("plugin {}", none.display()),
        &["mosquitto_auth_plugin_version() or mosquitto_plugin_version()"],
    );
    let Some(v5) = build_c(&dir, "events_v5", true) else {
        return;
    };
    start_fails(
        &dir,
        &format!("plugin {}\nplugin_opt_fail_init 1", v5.display()),
        &["Plugin returned 13 when initialising."],
    );
    let Some(v4) = build_c(&dir, "auth_v4", true) else {
        return;
    };
    start_fails(
        &dir,
        &format!("auth_plugin {}\nauth_opt_fail_init 1", v4.display()),
        &["Authentication plugin returned 13 when initialising."],
    );
}

#[test]
fn v4_auth_plugin_allows_and_denies_logins_and_topics() {
    let dir = TempDir::new("plugin-v4");
    let Some(so) = build_c(&dir, "auth_v4", true) else {
        return;
    };
    let b = Broker::start(&format!("auth_plugin {}\nauth_opt_allow ok/", so.display()));
    assert_eq!(connack_code(b.port, "g1", Some("good"), Some("pw")), 0);
    assert_eq!(connack_code(b.port, "g2", Some("good"), Some("nope")), 5);
    assert_eq!(connack_code(b.port, "g3", Some("other"), Some("pw")), 5);
    assert!(b.wait_for_log("auth_v4: welcome good from 127.0.0.1", TIMEOUT));

    // Anonymous: the plugin defers and allow_anonymous lets it in.
    let mut sub = login(b.port, "sub", None, None);
    sub.subscribe("#", 0);
    let mut publ = login(b.port, "pub", Some("good"), Some("pw"));
    publ.publish0("denied/x", b"no", false);
    publ.publish0("elsewhere/x", b"deferred", false);
    publ.publish0("hidden/x", b"not for reading", false);
    publ.publish0("ok/x", b"yes", false);
    // Only the allowed topic arrives: "denied/" is refused, a topic every
    // plugin deferred on is refused too (mosquitto 2.0's rule), "hidden/"
    // may be written but not read.
    assert_eq!(next_message(&mut sub), ("ok/x".into(), b"yes".to_vec()));
    sub.expect_nothing();

    // auth_plugin_deny_special_chars (default true): a client id with a
    // wildcard character is refused every access before the plugin is asked.
    let mut wild = login(b.port, "wild+card", Some("good"), Some("pw"));
    wild.publish0("ok/wild", b"refused", false);
    publ.publish0("ok/tame", b"allowed", false);
    assert_eq!(
        next_message(&mut sub),
        ("ok/tame".into(), b"allowed".to_vec())
    );
    sub.expect_nothing();
}

#[test]
fn v5_plugin_auth_acl_message_tick_and_disconnect() {
    let dir = TempDir::new("plugin-v5");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let b = Broker::start(&format!("plugin {}\nplugin_opt_any thing", so.display()));
    assert!(b.wait_for_log("events_v5: ready with 1 options", TIMEOUT));
    assert_eq!(
        connack_code(b.port, "a1", Some("v5user"), Some("v5pass")),
        0
    );
    assert_eq!(connack_code(b.port, "a2", Some("v5user"), Some("wrong")), 5);
    assert_eq!(connack_code(b.port, "a3", Some("nobody"), None), 5);

    let mut sub = login(b.port, "sub", None, None);
    sub.subscribe("v5/#", 0);
    let mut publ = login(b.port, "pub", Some("v5user"), Some("v5pass"));
    publ.publish0("v5/secret", b"hidden", false);
    publ.publish0("v5/change", b"original", false);
    assert_eq!(
        next_message(&mut sub),
        ("v5/change".into(), b"changed-by-plugin".to_vec())
    );
    publ.publish0("v5/ticks", b"?", false);
    assert_eq!(
        next_message(&mut sub),
        ("v5/ticks".into(), b"ticked".to_vec())
    );
    publ.publish0("v5/plain", b"as is", false);
    assert_eq!(
        next_message(&mut sub),
        ("v5/plain".into(), b"as is".to_vec())
    );

    // The disconnect event, answered through mosquitto_broker_publish_copy.
    let watched = login(b.port, "watched-1", None, None);
    watched.disconnect();
    assert_eq!(
        next_message(&mut sub),
        ("v5/gone".into(), b"watched-1".to_vec())
    );

    // mosquitto_set_username during basic auth: the new name is the one
    // the broker (and the plugin's later calls) see.
    let mut renamed = login(b.port, "ren", Some("renamed"), Some("x"));
    renamed.publish0("v5/whoami", b"?", false);
    assert_eq!(
        next_message(&mut sub),
        ("v5/whoami".into(), b"new-name".to_vec())
    );
    sub.expect_nothing();

    // A $CONTROL topic goes to the plugin that registered it, not to
    // subscribers; its answer (mosquitto_broker_publish) does.
    let mut ctl = login(b.port, "ctl", None, None);
    ctl.subscribe("$CONTROL/#", 0);
    publ.publish0("$CONTROL/test/v1", b"ping", false);
    assert_eq!(
        next_message(&mut ctl),
        ("$CONTROL/test/v1/response".into(), b"pub:ping".to_vec())
    );
    ctl.expect_nothing();

    // An UNSUBSCRIBE the plugin refuses leaves the subscription in place.
    let mut keeper = login(b.port, "keeper", None, None);
    keeper.subscribe("v5/keep", 0);
    keeper.subscribe("v5/drop", 0);
    keeper.send_raw(&unsubscribe_bytes(7, &["v5/keep", "v5/drop"]));
    assert!(matches!(keeper.expect_packet(), Packet::UnsubAck(_)));
    publ.publish0("v5/drop", b"gone", false);
    publ.publish0("v5/keep", b"kept", false);
    assert_eq!(
        next_message(&mut keeper),
        ("v5/keep".into(), b"kept".to_vec())
    );
    keeper.expect_nothing();

    // SIGHUP: the reload event.
    let pid = b.pid().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on the broker child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(
        b.wait_for_log("events_v5: reload event", TIMEOUT),
        "{}",
        b.log_text()
    );
}

const DYNSEC: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

/// A directory the broker can write to after dropping privileges, holding
/// a fresh dynsec.json made by `mosquitto_ctrl dynsec init` (admin user
/// "admin"/"adminpw"). None (skip) without the tools outside CI.
fn dynsec_dir(tag: &str) -> Option<(TempDir, PathBuf)> {
    use std::os::unix::fs::PermissionsExt;
    let ctrl = require_tool("mosquitto_ctrl", "manages the dynamic-security plugin")?;
    if !Path::new(DYNSEC).exists() {
        assert!(!in_ci(), "{DYNSEC} is required in CI (package mosquitto)");
        eprintln!("SKIP: {DYNSEC} missing");
        return None;
    }
    let dir = TempDir::new(tag);
    std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let json = dir.join("dynsec.json");
    let out = Command::new(ctrl)
        .args(["dynsec", "init"])
        .arg(&json)
        .args(["admin", "adminpw"])
        .output()
        .expect("mosquitto_ctrl init");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::set_permissions(&json, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    Some((dir, json))
}

fn dynsec_conf(port: u16, json: &Path) -> String {
    format!(
        "listener {port} 127.0.0.1\nplugin {DYNSEC}\nplugin_opt_config_file {}\n",
        json.display()
    )
}

/// One `mosquitto_ctrl dynsec` command as the admin; panics if it fails.
fn ctrl(port: u16, args: &str) {
    let out = Command::new("mosquitto_ctrl")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            "admin",
            "-P",
            "adminpw",
        ])
        .arg("dynsec")
        .args(args.split_whitespace())
        .output()
        .expect("run mosquitto_ctrl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "mosquitto_ctrl dynsec {args}: {text}");
    assert!(
        !text.contains("Error"),
        "mosquitto_ctrl dynsec {args}: {text}"
    );
}

/// Clients, groups, roles and ACLs, made through the plugin's control
/// topic with Debian's mosquitto_ctrl.
fn dynsec_setup(port: u16) {
    for cmd in [
        "createClient alice -p alicepw",
        "createClient bob -p bobpw",
        "createClient carol -p carolpw",
        "createRole writer",
        "addRoleACL writer publishClientSend data/# allow",
        "createRole reader",
        "addRoleACL reader subscribePattern data/# allow",
        "createGroup readers",
        "addGroupRole readers reader",
        "addGroupClient readers bob",
        "addClientRole alice writer",
    ] {
        ctrl(port, cmd);
    }
}

/// What clients see under the rules of `dynsec_setup`: CONNACK codes,
/// SUBACK codes and the messages a reader gets.
fn dynsec_observe(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    for (id, user, pass) in [
        ("c1", Some("alice"), Some("alicepw")),
        ("c2", Some("alice"), Some("wrong")),
        ("c3", Some("mallory"), Some("x")),
        ("c4", None, None),
    ] {
        seen.push(format!(
            "connack {id} {}",
            connack_code(port, id, user, pass)
        ));
    }
    let mut bob = login(port, "bob-1", Some("bob"), Some("bobpw"));
    seen.push(format!(
        "bob subscribe {:?}",
        bob.subscribe_many(&[("data/#", 0)])
    ));
    let mut carol = login(port, "carol-1", Some("carol"), Some("carolpw"));
    seen.push(format!(
        "carol subscribe {:?}",
        carol.subscribe_many(&[("data/#", 0)])
    ));
    let mut alice = login(port, "alice-1", Some("alice"), Some("alicepw"));
    carol.publish0("data/carol", b"refused", false);
    alice.publish0("other/alice", b"refused", false);
    alice.publish0("data/alice", b"allowed", false);
    let (topic, payload) = next_message(&mut bob);
    seen.push(format!(
        "bob got {topic} {}",
        String::from_utf8_lossy(&payload)
    ));
    bob.expect_nothing();
    seen
}

/// `disableClient` kicks a connected client (mosquitto_kick_client_by_username)
/// and refuses it afterwards; `enableClient` lets it in again.
fn dynsec_kick(port: u16) -> Vec<String> {
    let mut alice = login(port, "alice-k", Some("alice"), Some("alicepw"));
    ctrl(port, "disableClient alice");
    alice.expect_closed();
    let refused = connack_code(port, "alice-k2", Some("alice"), Some("alicepw"));
    ctrl(port, "enableClient alice");
    let back = connack_code(port, "alice-k3", Some("alice"), Some("alicepw"));
    vec![format!("kicked, then {refused}, then {back}")]
}

const DYNSEC_EXPECTED: &[&str] = &[
    "connack c1 0",
    "connack c2 5",
    "connack c3 5",
    "connack c4 5",
    "bob subscribe [0]",
    "carol subscribe [128]",
    "bob got data/alice allowed",
];

#[test]
fn dynsec_plugin_with_mosquitto_ctrl_behaves_as_with_debian_mosquitto() {
    // Debian's dynsec plugin takes OpenSSL's PKCS5_PBKDF2_HMAC from the
    // process that loads it: a broker built without TLS has no libcrypto to
    // offer and refuses the plugin at start-up with that dlopen error.
    if cfg!(not(feature = "tls")) {
        eprintln!("skipped: Debian's dynsec plugin needs a broker built with TLS");
        return;
    }
    let Some((dir, json)) = dynsec_dir("dynsec-ours") else {
        return;
    };
    let mut b = Broker::start_config(|port| dynsec_conf(port, &json));
    dynsec_setup(b.port);
    let ours = dynsec_observe(b.port);
    assert_eq!(ours, DYNSEC_EXPECTED);
    let kick = dynsec_kick(b.port);
    assert_eq!(kick, ["kicked, then 5, then 0"]);

    // SIGHUP re-checks connected clients through the plugin: alice (known
    // only to the plugin; allow_anonymous is false) stays, and so does
    // the effect of the plugin's rules.
    let mut alice = login(b.port, "alice-hup", Some("alice"), Some("alicepw"));
    let pid = b.pid().expect("running") as libc::pid_t;
    // SAFETY: kill(2) on the broker child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    assert!(b.wait_for_log("Reloading config", TIMEOUT));
    // A round trip on a fresh connection: the reload's loop turn is over.
    assert_eq!(
        connack_code(b.port, "probe", Some("alice"), Some("alicepw")),
        0
    );
    alice.assert_alive();

    // The plugin saved its JSON; a restart loads it again.
    let saved = read_required(&json);
    assert!(saved.contains("\"alice\""), "{saved}");
    let port = b.port;
    assert!(b.stop_gracefully().is_some_and(|s| s.success()));
    let again = Broker::start_on(port, |p| dynsec_conf(p, &json));
    assert_eq!(dynsec_observe(again.port), DYNSEC_EXPECTED);
    drop(dir);

    // Debian's mosquitto with the same plugin and commands, side by side.
    if is_reference() {
        return;
    }
    let Some((ref_dir, ref_json)) = dynsec_dir("dynsec-debian") else {
        return;
    };
    let Some(debian) =
        RefBroker::start(|port| ref_dir.write("ref.conf", &dynsec_conf(port, &ref_json)))
    else {
        return;
    };
    dynsec_setup(debian.port);
    assert_eq!(dynsec_observe(debian.port), ours);
    assert_eq!(dynsec_kick(debian.port), kick);
}

#[test]
fn plugins_per_listener_apply_to_their_listener_only() {
    let dir = TempDir::new("plugin-listeners");
    let Some(so) = build_c(&dir, "auth_v4", true) else {
        return;
    };
    let other = free_port();
    let b = Broker::start_config(|port| {
        format!(
            "per_listener_settings true\n\
             listener {port} 127.0.0.1\nallow_anonymous true\nplugin {}\n\
             listener {other} 127.0.0.1\nallow_anonymous true\n",
            so.display()
        )
    });
    assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
        other
    ))
    .is_ok()));
    assert_eq!(connack_code(b.port, "p1", Some("other"), Some("pw")), 5);
    assert_eq!(connack_code(b.port, "p2", Some("good"), Some("pw")), 0);
    assert_eq!(connack_code(other, "p3", Some("other"), Some("pw")), 0);
}

/// `mosquitto_pub` (ours) with `args`, bounded; its exit code.
#[cfg(feature = "tls")]
fn pub_tool(args: &[&str]) -> Option<i32> {
    let mut child = Command::new(OUR_PUB)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run mosquitto_pub");
    let status = wait_timeout(&mut child, TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    status.and_then(|s| s.code())
}

#[cfg(feature = "tls")]
#[test]
fn plugin_gives_tls_psk_keys_without_a_psk_file() {
    let dir = TempDir::new("plugin-psk");
    let Some(so) = build_c(&dir, "auth_v4", true) else {
        return;
    };
    let plain = free_port();
    let b = Broker::start_config(|port| {
        format!(
            "allow_anonymous true\nauth_plugin {}\nauth_opt_allow ok/\n\
             listener {port} 127.0.0.1\npsk_hint plug\n\
             listener {plain} 127.0.0.1\n",
            so.display()
        )
    });
    assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
        plain
    ))
    .is_ok()));
    let mut sub = login(plain, "psk-sub", None, None);
    sub.subscribe("ok/#", 0);
    let port = b.port.to_string();
    let base = ["-h", "127.0.0.1", "-p", &port, "-t", "ok/psk", "-q", "1"];
    let good = [
        &base[..],
        &["--psk", "deadbeef", "--psk-identity", "plugid", "-m", "in"],
    ]
    .concat();
    assert_eq!(pub_tool(&good), Some(0));
    assert_eq!(next_message(&mut sub), ("ok/psk".into(), b"in".to_vec()));
    let wrong = [
        &base[..],
        &["--psk", "deadbeee", "--psk-identity", "plugid", "-m", "x"],
    ]
    .concat();
    assert_ne!(pub_tool(&wrong), Some(0));
    let unknown = [
        &base[..],
        &["--psk", "deadbeef", "--psk-identity", "who", "-m", "x"],
    ]
    .concat();
    assert_ne!(pub_tool(&unknown), Some(0));
    sub.expect_nothing();
}

#[test]
fn auth_plugin_versions_2_and_3_allow_and_deny() {
    let dir = TempDir::new("plugin-v23");
    for version in [2, 3] {
        let Some(so) = build_c_with(&dir, "auth_v4", true, Some(version)) else {
            return;
        };
        let b = Broker::start(&format!("auth_plugin {}\nauth_opt_allow ok/", so.display()));
        assert_eq!(
            connack_code(b.port, "g1", Some("good"), Some("pw")),
            0,
            "v{version}"
        );
        assert_eq!(
            connack_code(b.port, "g2", Some("good"), Some("no")),
            5,
            "v{version}"
        );
        let mut sub = login(b.port, "sub", None, None);
        sub.subscribe("#", 0);
        let mut publ = login(b.port, "pub", Some("good"), Some("pw"));
        publ.publish0("denied/x", b"no", false);
        publ.publish0("hidden/x", b"unread", false);
        publ.publish0("ok/x", b"yes", false);
        assert_eq!(
            next_message(&mut sub),
            ("ok/x".into(), b"yes".to_vec()),
            "v{version}"
        );
        sub.expect_nothing();
    }
}

/// The CONNACK reason code for an MQTT 5 CONNECT with authentication
/// method `method` and data `data`, and whether the CONNACK carries the
/// plugin's "welcome" data.
fn ext_auth_connack(port: u16, method: &str, data: &[u8]) -> (u8, bool) {
    let mut props = vec![0x15, 0, method.len() as u8];
    props.extend_from_slice(method.as_bytes());
    props.extend_from_slice(&[0x16, 0, data.len() as u8]);
    props.extend_from_slice(data);
    let opts = ConnectOpts::v5("ext").props(&props);
    let (_c, connack) = Client::connect_opts(port, &opts);
    let welcome = connack.windows(7).any(|w| w == b"welcome");
    (connack[3], welcome)
}

#[test]
fn v5_plugin_extended_auth_in_one_step() {
    let dir = TempDir::new("plugin-ext");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let b = Broker::start(&format!("plugin {}", so.display()));
    assert_eq!(ext_auth_connack(b.port, "TEST", b"open"), (0, true));
    assert_eq!(ext_auth_connack(b.port, "TEST", b"shut"), (0x87, false));
    assert_eq!(ext_auth_connack(b.port, "OTHER", b"open"), (0x8C, false));
}

/// An authentication method and data as MQTT 5 properties.
fn auth_props(method: &str, data: &[u8]) -> Vec<u8> {
    let mut props = vec![0x15];
    put_str(&mut props, method.as_bytes());
    if !data.is_empty() {
        props.push(0x16);
        put_str(&mut props, data);
    }
    props
}

/// An AUTH packet with `reason`, `method` and `data`.
fn auth_bytes(reason: u8, method: &str, data: &[u8]) -> Vec<u8> {
    let props = auth_props(method, data);
    let mut body = vec![reason];
    put_len(&mut body, props.len());
    body.extend_from_slice(&props);
    packet(0xF0, &body)
}

/// The next packet's bytes, or what happened instead.
fn next_raw(c: &mut Client) -> String {
    match c.read_raw(TIMEOUT) {
        Read1::Packet(p) => format!("{p:02x?}"),
        Read1::Closed => "closed".into(),
        Read1::Timeout => "nothing".into(),
    }
}

/// The "CHAL" method of `events_v5.c` through raw MQTT 5 packets: what the
/// broker sends at each step, as bytes. Then a wrong answer, and an AUTH
/// with another method.
fn challenge_exchange(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let mut opts = ConnectOpts::v5("chal-1").props(&auth_props("CHAL", b"hello"));
    opts.username = Some("carl".into());
    let mut c = Client::raw(port, "chal-1");
    c.send_raw(&opts.bytes());
    seen.push(next_raw(&mut c));
    c.send_raw(&auth_bytes(0x18, "CHAL", b"answer"));
    seen.push(next_raw(&mut c));
    // The username the plugin set during the exchange is the client's.
    let mut body = vec![0, 1, 0];
    put_str(&mut body, b"v5/whoami");
    body.push(0);
    c.send_raw(&packet(0x82, &body));
    seen.push(next_raw(&mut c));
    c.send_raw(&publish_v5("v5/whoami", b"?", &[]));
    seen.push(next_raw(&mut c));
    // Re-authentication: 0x19, the challenge again, the answer, AUTH 0x00.
    c.send_raw(&auth_bytes(0x19, "CHAL", b""));
    seen.push(next_raw(&mut c));
    c.send_raw(&auth_bytes(0x18, "CHAL", b"answer"));
    seen.push(next_raw(&mut c));
    c.version = mosquitto_rs::protocol::ProtocolVersion::V5;
    c.assert_alive();

    let opts = ConnectOpts::v5("chal-2").props(&auth_props("CHAL", b""));
    let mut c = Client::raw(port, "chal-2");
    c.send_raw(&opts.bytes());
    seen.push(next_raw(&mut c));
    c.send_raw(&auth_bytes(0x18, "CHAL", b"wrong"));
    seen.push(next_raw(&mut c));
    seen.push(next_raw(&mut c));
    seen
}

/// What the broker answers to an AUTH with another method than CONNECT's,
/// during the CONNECT's exchange and once connected, and to a wrong answer
/// in a re-authentication.
fn auth_mistakes(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    let opts = ConnectOpts::v5("chal-3").props(&auth_props("CHAL", b""));
    let mut c = Client::raw(port, "chal-3");
    c.send_raw(&opts.bytes());
    next_raw(&mut c);
    c.send_raw(&auth_bytes(0x18, "OTHER", b"answer"));
    seen.push(next_raw(&mut c));
    seen.push(next_raw(&mut c));
    for last in [
        auth_bytes(0x19, "OTHER", b""),
        auth_bytes(0x18, "CHAL", b"no"),
    ] {
        let opts = ConnectOpts::v5("chal-4").props(&auth_props("CHAL", b""));
        let mut c = Client::raw(port, "chal-4");
        c.send_raw(&opts.bytes());
        next_raw(&mut c);
        c.send_raw(&auth_bytes(0x18, "CHAL", b"answer"));
        next_raw(&mut c);
        c.send_raw(&auth_bytes(0x19, "CHAL", b""));
        next_raw(&mut c);
        c.send_raw(&last);
        seen.push(next_raw(&mut c));
        seen.push(next_raw(&mut c));
    }
    // An AUTH without a method during a CONNECT's exchange.
    let opts = ConnectOpts::v5("chal-5").props(&auth_props("CHAL", b""));
    let mut c = Client::raw(port, "chal-5");
    c.send_raw(&opts.bytes());
    next_raw(&mut c);
    c.send_raw(&packet(0xF0, &[0x18, 0]));
    seen.push(next_raw(&mut c));
    seen.push(next_raw(&mut c));
    seen
}

#[test]
fn v5_plugin_extended_auth_challenge_and_reauthentication() {
    let dir = TempDir::new("plugin-chal");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    // No allow_anonymous: an authentication method replaces the password
    // check, as in mosquitto.
    let conf = |port: u16| format!("listener {port} 127.0.0.1\nplugin {}\n", so.display());
    let b = Broker::start_config(conf);
    let ours = challenge_exchange(b.port);
    let challenge = |id: &str, user: &str| {
        let data = format!("challenge:{id}:{user}:127.0.0.1:5:60");
        format!("{:02x?}", auth_bytes(0x18, "CHAL", data.as_bytes()))
    };
    assert_eq!(ours[0], challenge("chal-1", "carl"));
    let connack = &ours[1];
    assert!(connack.starts_with("[20, "), "{connack}");
    let final_data = format!("{:02x?}", b"server-final");
    let final_data = final_data.trim_matches(|c| c == '[' || c == ']');
    assert!(connack.contains(final_data), "{connack}");
    assert_eq!(ours[2], "[90, 04, 00, 01, 00, 00]");
    assert_eq!(
        ours[3],
        format!("{:02x?}", publish_v5("v5/whoami", b"chal-user", &[]))
    );
    assert_eq!(ours[4], challenge("chal-1", "chal-user"));
    assert_eq!(
        ours[5],
        format!("{:02x?}", auth_bytes(0x00, "CHAL", b"server-final"))
    );
    assert_eq!(ours[6], challenge("chal-2", "-"));
    assert_eq!(ours[7], "[20, 03, 00, 87, 00]");
    assert_eq!(ours[8], "closed");
    if is_reference() {
        return;
    }
    let mistakes = auth_mistakes(b.port);
    let disconnect = |code: u8, why: &str| {
        let mut body = vec![code, why.len() as u8 + 3, 0x1f];
        put_str(&mut body, why.as_bytes());
        format!("{:02x?}", packet(0xE0, &body))
    };
    assert_eq!(
        mistakes,
        [
            "[e0, 01, 82]".to_string(),
            "closed".into(),
            disconnect(0x82, "protocol error"),
            "closed".into(),
            disconnect(0x87, "not authorised"),
            "closed".into(),
            "[e0, 01, 80]".into(),
            "closed".into(),
        ]
    );

    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(challenge_exchange(debian.port), ours);
    // The same DISCONNECT 0x82 before closing a CONNECT's exchange. Where
    // 2.0.11 differs (README): no reason strings once connected, CONNACK
    // 0x87 (not DISCONNECT) for a failed re-authentication.
    let theirs = auth_mistakes(debian.port);
    assert_eq!(theirs[..2], mistakes[..2]);
    assert_eq!(theirs[4], "[20, 03, 00, 87, 00]");
    assert_eq!(theirs[6..], mistakes[6..]);
}

/// One exchange on `port`: CONNECT with `method` (username "u"), then each
/// of `answers` as the next AUTH; what the broker sent after each step.
fn auth_script(port: u16, method: &str, answers: &[(u8, &[u8])]) -> Vec<String> {
    let mut opts = ConnectOpts::v5("scripted").props(&auth_props(method, b""));
    opts.username = Some("u".into());
    let mut c = Client::raw(port, "scripted");
    c.send_raw(&opts.bytes());
    let mut seen = vec![next_raw(&mut c)];
    for (reason, data) in answers {
        c.send_raw(&auth_bytes(*reason, method, data));
        seen.push(next_raw(&mut c));
    }
    seen
}

/// Version 4 `mosquitto_auth_start`/`_continue` on one listener, version
/// 5 events on another, none on a third (`per_listener_settings`).
fn per_listener_auth(ports: [u16; 3]) -> Vec<Vec<String>> {
    let [v5, v4, none] = ports;
    let answer: &[(u8, &[u8])] = &[(0x18, b"v4-answer"), (0x19, b""), (0x18, b"v4-answer")];
    vec![
        auth_script(v4, "V4CHAL", answer),
        auth_script(v4, "V4CHAL", &[(0x18, b"wrong")]),
        auth_script(v4, "CHAL", &[]),
        auth_script(v5, "V4CHAL", &[]),
        auth_script(v5, "CHAL", &[(0x18, b"answer")]),
        auth_script(none, "CHAL", &[]),
    ]
}

#[test]
fn extended_auth_per_listener_and_through_version_4_plugins() {
    let dir = TempDir::new("plugin-ext-listeners");
    let (Some(v5), Some(v4)) = (
        build_c(&dir, "events_v5", true),
        build_c(&dir, "auth_v4", true),
    ) else {
        return;
    };
    let (p4, p0) = (free_port(), free_port());
    let conf = |port: u16, p4: u16, p0: u16| {
        format!(
            "per_listener_settings true\n\
             listener {port} 127.0.0.1\nplugin {}\n\
             listener {p4} 127.0.0.1\nauth_plugin {}\n\
             listener {p0} 127.0.0.1\nallow_anonymous true\n",
            v5.display(),
            v4.display()
        )
    };
    let b = Broker::start_config(|port| conf(port, p4, p0));
    assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
        p0
    ))
    .is_ok()));
    let ours = per_listener_auth([b.port, p4, p0]);
    let hex = |b: Vec<u8>| format!("{b:02x?}");
    let challenge = |reauth: u8| {
        let data = format!("v4-challenge:scripted:{reauth}");
        hex(auth_bytes(0x18, "V4CHAL", data.as_bytes()))
    };
    let [accepted, wrong, other, v4_on_v5, v5_on_v5, none] = &ours[..] else {
        panic!("{ours:?}")
    };
    assert_eq!(accepted[0], challenge(0));
    assert!(accepted[1].starts_with("[20, "), "{accepted:?}");
    assert_eq!(accepted[2], challenge(1));
    assert_eq!(accepted[3], hex(auth_bytes(0, "V4CHAL", b"v4-ok")));
    assert_eq!(wrong[1], "[20, 03, 00, 87, 00]");
    let not_supported = "[20, 03, 00, 8c, 00]";
    assert_eq!(other[0], not_supported);
    assert_eq!(v4_on_v5[0], not_supported);
    assert!(v5_on_v5[1].starts_with("[20, "), "{v5_on_v5:?}");
    assert_eq!(none[0], not_supported);

    if is_reference() {
        return;
    }
    let (r4, r0) = (free_port(), free_port());
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port, r4, r0))) else {
        return;
    };
    assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
        r0
    ))
    .is_ok()));
    assert_eq!(per_listener_auth([debian.port, r4, r0]), ours);
}

/// A v5 QoS 0 PUBLISH of `payload` on `topic` with the user properties
/// `users`.
fn publish_v5(topic: &str, payload: &[u8], users: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    let mut props = Vec::new();
    for (k, v) in users {
        props.push(0x26);
        put_str(&mut props, k.as_bytes());
        put_str(&mut props, v.as_bytes());
    }
    put_len(&mut body, props.len());
    body.extend_from_slice(&props);
    body.extend_from_slice(payload);
    packet(0x30, &body)
}

/// What a v5 subscriber gets, as bytes, when the message event of
/// `events_v5.c` adds a user property to messages with and without
/// properties, and when its control callback publishes with one.
fn plugin_properties(port: u16) -> Vec<Vec<u8>> {
    let (mut sub, _) = Client::connect_opts(port, &ConnectOpts::v5("props-sub"));
    let mut body = vec![0, 1, 0];
    for f in ["v5/props", "$CONTROL/test/v1/response"] {
        put_str(&mut body, f.as_bytes());
        body.push(0);
    }
    sub.send_raw(&packet(0x82, &body));
    assert_eq!(sub.expect_raw(), [0x90, 5, 0, 1, 0, 0, 0]);
    let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v5("props-pub"));
    publ.send_raw(&publish_v5("v5/props", b"1", &[("k", "v")]));
    let mut seen = vec![sub.expect_raw()];
    publ.send_raw(&publish_v5("v5/props", b"2", &[]));
    seen.push(sub.expect_raw());
    publ.send_raw(&publish_v5("$CONTROL/test/v1", b"ping", &[]));
    seen.push(sub.expect_raw());
    seen
}

#[test]
fn v5_plugin_properties_reach_v5_subscribers() {
    let dir = TempDir::new("plugin-props");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = plugin_properties(b.port);
    let users = |raw: &[u8]| {
        let Packet::Publish(p) = decode_v5(raw) else {
            panic!("{raw:02x?}")
        };
        let users: Vec<String> = p
            .properties
            .user_properties()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        (String::from_utf8_lossy(&p.payload).into_owned(), users)
    };
    let added = "added-by=events_v5".to_string();
    assert_eq!(
        users(&ours[0]),
        ("had-properties".into(), vec!["k=v".into(), added.clone()])
    );
    assert_eq!(users(&ours[1]), ("no-properties".into(), vec![added]));
    assert_eq!(
        users(&ours[2]),
        (
            "props-pub:ping".into(),
            vec!["answered-by=events_v5".into()]
        )
    );
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(plugin_properties(debian.port), ours);
}

/// One MQTT 5 packet from its bytes.
fn decode_v5(raw: &[u8]) -> Packet {
    let h = mosquitto_rs::protocol::fixed_header(raw)
        .expect("framed")
        .expect("whole");
    Packet::decode(
        &h,
        &raw[h.header_len..],
        mosquitto_rs::protocol::ProtocolVersion::V5,
    )
    .expect("decodes")
}

/// What an MQTT 5 client sees when `events_v5.c` refuses one of two
/// unsubscriptions (the UNSUBACK's bytes), and what
/// `mosquitto_client_sub_count` says before and after.
fn unsubscribe_and_count(port: u16) -> Vec<Vec<u8>> {
    let (mut c, _) = Client::connect_opts(port, &ConnectOpts::v5("counter"));
    let mut body = vec![0, 1, 0];
    for f in ["v5/keep", "v5/drop", "v5/subs"] {
        put_str(&mut body, f.as_bytes());
        body.push(0);
    }
    c.send_raw(&packet(0x82, &body));
    let mut seen = vec![c.expect_raw()];
    c.send_raw(&publish_v5("v5/subs", b"?", &[]));
    seen.push(c.expect_raw());
    let mut body = vec![0, 2, 0];
    for f in ["v5/keep", "v5/drop"] {
        put_str(&mut body, f.as_bytes());
    }
    c.send_raw(&packet(0xA2, &body));
    seen.push(c.expect_raw());
    c.send_raw(&publish_v5("v5/subs", b"?", &[]));
    seen.push(c.expect_raw());
    seen
}

#[test]
fn v5_unsubscribe_refused_by_a_plugin_and_subscription_count() {
    let dir = TempDir::new("plugin-unsub");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = unsubscribe_and_count(b.port);
    let payload = |raw: &[u8]| match decode_v5(raw) {
        Packet::Publish(p) => String::from_utf8_lossy(&p.payload).into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(ours[0], [0x90, 6, 0, 1, 0, 0, 0, 0]);
    assert_eq!(payload(&ours[1]), "3");
    // "v5/keep" refused (0x87) and kept, "v5/drop" gone.
    assert_eq!(ours[2], [0xB0, 5, 0, 2, 0, 0x87, 0x00]);
    if is_reference() {
        return;
    }
    assert_eq!(payload(&ours[3]), "2");
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    let theirs = unsubscribe_and_count(debian.port);
    assert_eq!(theirs[..3], ours[..3]);
    // 2.0.11 counts the slots of its subscription array, which an
    // unsubscription empties but does not remove (README).
    assert_eq!(payload(&theirs[3]), "3");
}

/// The ACL check of `events_v5.c` on what it is shown besides the topic:
/// the SUBACK codes for "v5/q0only" at QoS 1 and 0, and which PUBLISHes to
/// "v5/small" a subscriber receives.
fn acl_sees_the_message(port: u16) -> Vec<String> {
    let mut sub = login(port, "acl-sub", None, None);
    let codes = sub.subscribe_many(&[("v5/q0only", 1), ("v5/q0only", 0), ("v5/small", 1)]);
    let mut seen = vec![format!("suback {codes:?}")];
    let mut publ = login(port, "acl-pub", None, None);
    for (payload, qos, retain) in [
        (&b"long payload"[..], 0, false),
        (b"xy", 0, false),
        (b"ret", 0, true),
        (b"two", 2, false),
        (b"one", 1, false),
        (b"ok", 0, false),
    ] {
        publ.publish("v5/small", payload, qos, retain);
    }
    for _ in 0..2 {
        let p = sub.receive_publish();
        seen.push(String::from_utf8_lossy(&p.payload).into_owned());
    }
    sub.expect_nothing();
    seen
}

#[test]
fn the_acl_check_sees_payload_qos_and_retain() {
    let dir = TempDir::new("plugin-acl-msg");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = acl_sees_the_message(b.port);
    assert_eq!(ours, ["suback [128, 0, 1]", "one", "ok"]);
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(acl_sees_the_message(debian.port), ours);
}

/// Config for `cert_v5.so` with two TLS listeners from `p`: `cert`
/// requires client certificates, `plain` does not.
#[cfg(feature = "tls")]
fn cert_conf(so: &Path, p: &Pki, cert: u16, plain: u16) -> String {
    let tls = |port: u16| {
        format!(
            "listener {port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\n",
            p.arg("ca.crt"),
            p.arg("server.crt"),
            p.arg("server.key")
        )
    };
    format!(
        "plugin {}\n{}require_certificate true\n{}",
        so.display(),
        tls(cert),
        tls(plain)
    )
}

/// `mosquitto_pub -u cert` to `port` with the CA and, if `with_cert`, the
/// client certificate; its exit code.
#[cfg(feature = "tls")]
fn pub_as_cert(p: &Pki, port: u16, with_cert: bool) -> Option<i32> {
    let (ca, cc, ck) = (p.arg("ca.crt"), p.arg("client.crt"), p.arg("client.key"));
    let port = port.to_string();
    let mut args = vec!["-h", "127.0.0.1", "-p", &port, "-t", "c/t", "-m", "x"];
    args.extend(["-u", "cert", "--cafile", &ca]);
    if with_cert {
        args.extend(["--cert", &cc, "--key", &ck]);
    }
    pub_tool(&args)
}

#[cfg(feature = "tls")]
#[test]
fn plugins_get_the_client_certificate() {
    let dir = TempDir::new("plugin-cert");
    let Some(so) = build_c(&dir, "cert_v5", true) else {
        return;
    };
    if require_tool("openssl", "makes the test certificates").is_none() {
        return;
    }
    let p = Pki::fresh("plugin-cert");
    let (cert, plain) = (free_port(), free_port());
    let b = Broker::start(&cert_conf(&so, &p, cert, plain));
    for port in [cert, plain] {
        assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
            port
        ))
        .is_ok()));
    }
    assert_eq!(pub_as_cert(&p, cert, true), Some(0));
    let subject = "cert_v5: certificate /O=Test Org/CN=client1";
    assert!(b.wait_for_log(subject, TIMEOUT), "{}", b.log_text());
    assert_ne!(pub_as_cert(&p, plain, false), Some(0));
    assert!(b.wait_for_log("cert_v5: no certificate", TIMEOUT));
    if is_reference() {
        return;
    }
    let (rcert, rplain) = (free_port(), free_port());
    let Some(debian) = RefBroker::start(|port| {
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\n{}",
            cert_conf(&so, &p, rcert, rplain)
        );
        dir.write("ref.conf", &conf)
    }) else {
        return;
    };
    for port in [rcert, rplain] {
        assert!(wait_until(TIMEOUT, || std::net::TcpStream::connect(addr(
            port
        ))
        .is_ok()));
    }
    assert_eq!(pub_as_cert(&p, rcert, true), Some(0));
    assert!(
        debian.wait_for_log(subject, TIMEOUT),
        "{}",
        debian.log_text()
    );
    assert_ne!(pub_as_cert(&p, rplain, false), Some(0));
}

/// A v5 PUBLISH at `qos` with packet id `id` and no properties.
fn publish_v5_qos(topic: &str, payload: &[u8], qos: u8, id: u16) -> Vec<u8> {
    let mut body = Vec::new();
    put_str(&mut body, topic.as_bytes());
    body.extend_from_slice(&id.to_be_bytes());
    body.push(0);
    body.extend_from_slice(payload);
    packet(0x30 | (qos << 1), &body)
}

/// What an MQTT 5 publisher is answered when the plugin's ACL check
/// refuses its QoS 1 and QoS 2 PUBLISHes (and its message event one), and that the QoS 2 packet id
/// is free again afterwards (a subscriber gets the next message on it).
fn refused_publish_acks(port: u16) -> Vec<Vec<u8>> {
    let mut sub = login(port, "ack-sub", None, None);
    sub.subscribe("v5/open", 0);
    let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v5("ack-pub"));
    publ.send_raw(&publish_v5_qos("v5/secret", b"no", 1, 4));
    let mut seen = vec![publ.expect_raw()];
    // Refused by the message event rather than the ACL check.
    publ.send_raw(&publish_v5_qos("v5/refused", b"no", 1, 6));
    seen.push(publ.expect_raw());
    publ.send_raw(&publish_v5_qos("v5/secret", b"no", 2, 5));
    seen.push(publ.expect_raw());
    publ.send_raw(&publish_v5_qos("v5/open", b"yes", 2, 5));
    seen.push(publ.expect_raw());
    publ.send_raw(&[0x62, 2, 0, 5]);
    seen.push(publ.expect_raw());
    seen.push(sub.receive_publish().payload);
    seen
}

#[test]
fn a_publish_the_plugin_refuses_gets_0x87_over_mqtt_5() {
    let dir = TempDir::new("plugin-puback");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = refused_publish_acks(b.port);
    let want: [&[u8]; 6] = [
        &[0x40, 3, 0, 4, 0x87],
        &[0x40, 3, 0, 6, 0x87],
        &[0x50, 3, 0, 5, 0x87],
        &[0x50, 2, 0, 5],
        &[0x70, 2, 0, 5],
        b"yes",
    ];
    assert_eq!(ours, want);
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(refused_publish_acks(debian.port), ours);
}

/// What a subscriber gets on "v5/readprops" when an MQTT 5 client publishes
/// there with a payload format, content type, correlation data and two
/// user properties: the message event of `events_v5.c` replaces the
/// payload with what the property read API found.
fn read_properties(port: u16) -> String {
    let mut sub = login(port, "read-sub", None, None);
    sub.subscribe("v5/readprops", 0);
    let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v5("read-pub"));
    let mut props = vec![0x01, 1, 0x03];
    put_str(&mut props, b"text/x");
    props.push(0x09);
    put_str(&mut props, b"abc");
    for (k, v) in [("k", "v"), ("k2", "v2")] {
        props.push(0x26);
        put_str(&mut props, k.as_bytes());
        put_str(&mut props, v.as_bytes());
    }
    let mut body = Vec::new();
    put_str(&mut body, b"v5/readprops");
    put_len(&mut body, props.len());
    body.extend_from_slice(&props);
    body.extend_from_slice(b"x");
    publ.send_raw(&packet(0x30, &body));
    String::from_utf8_lossy(&sub.receive_publish().payload).into_owned()
}

#[test]
fn v5_plugin_reads_a_messages_properties() {
    let dir = TempDir::new("plugin-readprops");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = read_properties(b.port);
    assert_eq!(
        ours,
        "ids=1,3,9,38,38,;users=k:v,k2:v2,;corr=abc/3;ct=text/x;pfi=1;wrongtype=null\
         ;copy=0:300:70000:200000;check=0,2,0,2;name=correlation-data;info=0:8:6"
    );
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(read_properties(debian.port), ours);
}

/// What a client sees (bytes, or "closed") when `events_v5.c` answers with
/// codes mosquitto does not expect: basic auth (3.1.1 and 5), extended
/// auth at CONNECT, at a continue step and in a re-authentication, and the
/// message event (MQTT_ERR_UNKNOWN, MOSQ_ERR_NOT_FOUND; 5 and 3.1.1).
fn odd_codes(port: u16) -> Vec<String> {
    let mut seen = Vec::new();
    for mut opts in [ConnectOpts::v311("odd-1"), ConnectOpts::v5("odd-2")] {
        opts.username = Some("oddcode".into());
        let mut c = Client::raw(port, "odd");
        c.send_raw(&opts.bytes());
        seen.push(next_raw(&mut c));
    }
    let opts = ConnectOpts::v5("odd-3").props(&auth_props("ODD", b""));
    let mut c = Client::raw(port, "odd-3");
    c.send_raw(&opts.bytes());
    seen.push(next_raw(&mut c));
    let opts = ConnectOpts::v5("odd-4").props(&auth_props("CHAL", b""));
    let mut c = Client::raw(port, "odd-4");
    c.send_raw(&opts.bytes());
    next_raw(&mut c);
    c.send_raw(&auth_bytes(0x18, "CHAL", b"odd"));
    seen.push(next_raw(&mut c));
    let opts = ConnectOpts::v5("odd-5").props(&auth_props("CHAL", b""));
    let mut c = Client::raw(port, "odd-5");
    c.send_raw(&opts.bytes());
    next_raw(&mut c);
    c.send_raw(&auth_bytes(0x18, "CHAL", b"answer"));
    next_raw(&mut c);
    c.send_raw(&auth_bytes(0x19, "CHAL", b""));
    next_raw(&mut c);
    c.send_raw(&auth_bytes(0x18, "CHAL", b"odd"));
    seen.push(next_raw(&mut c));
    for (topic, id) in [("v5/oddcode", 1), ("v5/oddcode2", 2)] {
        let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v5("odd-pub"));
        publ.send_raw(&publish_v5_qos(topic, b"x", 1, id));
        seen.push(next_raw(&mut publ));
        seen.push(next_raw(&mut publ));
    }
    let mut publ = login(port, "odd-pub3", None, None);
    publ.publish0("v5/oddcode", b"x", false);
    seen.push(next_raw(&mut publ));
    // QoS 2 from a persistent session: the packet id was not kept, so
    // the same id after reconnecting carries a new message.
    let mut sub = login(port, "odd-sub", None, None);
    sub.subscribe("v5/open", 0);
    let qos2 = |topic: &str, payload: &[u8]| {
        let mut body = Vec::new();
        put_str(&mut body, topic.as_bytes());
        body.extend_from_slice(&[0, 7]);
        body.extend_from_slice(payload);
        packet(0x34, &body)
    };
    let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v311("odd-q2").clean(false));
    publ.send_raw(&qos2("v5/oddcode", b"x"));
    seen.push(next_raw(&mut publ));
    let (mut publ, _) = Client::connect_opts(port, &ConnectOpts::v311("odd-q2").clean(false));
    publ.send_raw(&qos2("v5/open", b"again"));
    seen.push(next_raw(&mut publ));
    publ.send_raw(&[0x62, 2, 0, 7]);
    seen.push(next_raw(&mut publ));
    seen.push(format!(
        "{:?}",
        String::from_utf8_lossy(&sub.receive_publish().payload)
    ));
    seen
}

#[test]
fn plugin_codes_mosquitto_does_not_expect_close_the_connection() {
    let dir = TempDir::new("plugin-odd");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = odd_codes(b.port);
    let closed = "closed".to_string();
    let mut want = vec![closed.clone(); 5];
    want.extend(["[e0, 01, 80]".to_string(), closed.clone()]);
    want.extend([closed.clone(), closed.clone(), closed.clone(), closed]);
    want.extend(["[50, 02, 00, 07]".to_string(), "[70, 02, 00, 07]".into()]);
    want.push("\"again\"".into());
    assert_eq!(ours, want);
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(odd_codes(debian.port), ours);
}

/// `mosquitto_client_protocol` of a TCP and a websockets publisher, as the
/// message event of `events_v5.c` reports it.
fn client_protocols(port: u16, ws: u16) -> Vec<Vec<u8>> {
    let mut sub = login(port, "proto-sub", None, None);
    sub.subscribe("v5/protocol", 0);
    let mut tcp = login(port, "proto-tcp", None, None);
    tcp.publish0("v5/protocol", b"?", false);
    let mut seen = vec![sub.receive_publish().payload];
    let mut web = Client::connect_ws(ws, "proto-ws");
    web.publish0("v5/protocol", b"?", false);
    seen.push(sub.receive_publish().payload);
    seen
}

#[test]
fn plugins_are_told_a_websockets_client_is_one() {
    let dir = TempDir::new("plugin-ws");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let ws = std::cell::Cell::new(0);
    let conf = |port: u16| {
        ws.set(free_port());
        format!(
            "allow_anonymous true\nplugin {}\nlistener {port} 127.0.0.1\n\
             listener {} 127.0.0.1\nprotocol websockets\n",
            so.display(),
            ws.get()
        )
    };
    let b = Broker::start_config(conf);
    let ours = client_protocols(b.port, ws.get());
    // mp_mqtt, mp_websockets
    assert_eq!(ours, [b"0".to_vec(), b"2".to_vec()]);
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(client_protocols(debian.port, ws.get()), ours);
}

/// A message callback renames its publisher (`mosquitto_set_username`);
/// then another client's message makes the plugin kick by the new name:
/// what the renamed client sees, and its name as the plugin reads it.
fn renamed_then_kicked(port: u16) -> Vec<String> {
    let mut sub = login(port, "ren-sub", None, None);
    sub.subscribe("v5/whoami", 0);
    let mut renamed = login(port, "ren-a", None, None);
    renamed.publish0("v5/become", b"?", false);
    renamed.publish0("v5/whoami", b"?", false);
    let mut seen = vec![String::from_utf8_lossy(&sub.receive_publish().payload).into_owned()];
    let mut other = login(port, "ren-b", None, None);
    other.publish0("v5/kickpromoted", b"?", false);
    seen.push(next_raw(&mut renamed));
    other.publish0("v5/whoami", b"?", false);
    seen.push(String::from_utf8_lossy(&sub.receive_publish().payload).into_owned());
    seen
}

#[test]
fn set_username_from_a_message_callback_renames_the_session() {
    let dir = TempDir::new("plugin-rename");
    let Some(so) = build_c(&dir, "events_v5", true) else {
        return;
    };
    let conf = |port: u16| plugin_conf(port, &so);
    let b = Broker::start_config(conf);
    let ours = renamed_then_kicked(b.port);
    assert_eq!(ours, ["promoted", "closed", "(none)"]);
    if is_reference() {
        return;
    }
    let Some(debian) = RefBroker::start(|port| dir.write("ref.conf", &conf(port))) else {
        return;
    };
    assert_eq!(renamed_then_kicked(debian.port), ours);
}
