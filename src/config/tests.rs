//! Tests of the configuration reader.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::options::{self, Set};
use super::*;

const SEED: &str = include_str!("testdata/seed.conf");
const SHIPPED: &str = include_str!("../../conf/mosquitto.conf");
const MAN_PAGE: &str = include_str!("../../man/mosquitto.conf.5");

fn parse(text: &str) -> Config {
    match Config::parse_str(text, "test.conf") {
        Ok(c) => c,
        Err(e) => panic!("unexpected error for {text:?}:\n{e}"),
    }
}

fn parse_err(text: &str) -> ConfigError {
    match Config::parse_str(text, "test.conf") {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e,
    }
}

/// Asserts that `text` fails at `line` with a reason containing `reason`.
fn assert_err(text: &str, line: usize, reason: &str) {
    let e = parse_err(text);
    assert_eq!(e.line, line, "line of {text:?}: {e}");
    assert!(
        e.reason.contains(reason),
        "reason of {text:?}: got {:?}, want {reason:?}",
        e.reason
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "mosquitto-rs-config-{}-{}",
            std::process::id(),
            name
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn notes_for<'a>(c: &'a Config, option: &str) -> Vec<&'a ConfigNote> {
    c.notes.iter().filter(|n| n.option == option).collect()
}

// ----- Whole files -----

#[test]
fn seed_file_loads() {
    // The seed's include_dir (/etc/mosquitto/conf.d) may not exist here;
    // mosquitto refuses a missing include_dir, so point it at an empty one.
    let dir = TempDir::new("seed");
    let text = SEED.replace(
        "include_dir /etc/mosquitto/conf.d",
        &format!("include_dir {}", dir.path().display()),
    );
    assert_ne!(text, SEED, "seed include_dir line not found");
    let c = parse(&text);
    assert!(c.persistence);
    assert!(c.log_dest.is_empty(), "log_dest none");
    assert_eq!(c.include_dirs, vec![dir.path().to_path_buf()]);
    assert!(c.local_only);
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[0].port, 1883);
    assert_eq!(c.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.listeners[1].bind_address.as_deref(), Some("::1"));
    assert_eq!(c.security.allow_anonymous, Some(true));
    // Everything the seed sets is implemented: no notes at all.
    let notes: Vec<_> = c.notes_of(NoteKind::NotYetActive).collect();
    assert!(notes.is_empty(), "{notes:?}");
    assert!(c.persistence);
    assert_eq!(c.notes_of(NoteKind::Deprecated).count(), 0);
}

#[test]
fn seed_file_with_its_old_options_uncommented_loads() {
    let dir = TempDir::new("seed-uncommented");
    let mut text = String::new();
    for line in SEED.lines() {
        let l = line.replace(
            "include_dir /etc/mosquitto/conf.d",
            &format!("include_dir {}", dir.path().display()),
        );
        // Uncomment "#option value" lines that carry a value.
        match l.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_lowercase())
                    && rest.contains(' ')
                    && !rest.contains('<')
                    && !rest.starts_with("pattern")
                    && !rest.starts_with("as the") =>
            {
                text.push_str(rest)
            }
            _ => text.push_str(&l),
        }
        text.push('\n');
    }
    // Bridge options need a connection; the seed only has placeholders.
    let text = text.replace(
        "#connection <name>",
        "connection seed\naddress 127.0.0.1:1884\ntopic # out 0",
    );
    let c = parse(&text);
    assert_eq!(c.sys_interval, 10);
    assert_eq!(c.max_inflight_messages, 10);
    assert_eq!(c.max_queued_messages, 100);
    assert_eq!(c.listeners.len(), 1, "port 1883 makes the default listener");
    assert!(c.listeners[0].is_default);
    assert_eq!(c.security.allow_anonymous, Some(true));
    assert_eq!(c.bridges.len(), 1);
    assert_eq!(c.bridges[0].restart_timeout.base, 30);
    let deprecated: Vec<_> = c
        .notes_of(NoteKind::Deprecated)
        .map(|n| n.option.as_str())
        .collect();
    assert!(deprecated.contains(&"retry_interval"), "{deprecated:?}");
    assert!(
        deprecated.contains(&"store_clean_interval"),
        "{deprecated:?}"
    );
    assert!(deprecated.contains(&"port"), "{deprecated:?}");
}

#[test]
fn shipped_file_loads_to_the_defaults() {
    let shipped = parse(SHIPPED);
    let empty = parse("");
    assert_eq!(shipped, empty);
    assert!(shipped.notes.is_empty(), "{:?}", shipped.notes);
    // And the defaults are mosquitto's.
    let d = Config::default();
    assert_eq!(shipped.autosave_interval, d.autosave_interval);
    assert_eq!(shipped.max_inflight_messages, 20);
    assert_eq!(shipped.max_queued_messages, 1000);
    assert_eq!(shipped.sys_interval, 10);
    assert_eq!(shipped.log_dest, vec![LogDest::Stderr]);
    assert_eq!(shipped.log_types, LogTypes::DEFAULT);
    assert_eq!(shipped.user, "mosquitto");
    assert_eq!(shipped.security.auto_id_prefix.as_deref(), Some("auto-"));
    assert_eq!(shipped.security.allow_anonymous, Some(true));
    assert!(shipped.local_only);
}

#[test]
fn shipped_file_documents_every_option() {
    // Every option the parser knows appears (commented) in conf/mosquitto.conf.
    let documented: Vec<&str> = SHIPPED
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for opt in documented_options() {
        assert!(
            documented.contains(&opt),
            "{opt} is not documented in conf/mosquitto.conf"
        );
    }
}

/// Every mosquitto 2.0 option with a valid value (aliases included).
const VALID_LINES: &[&str] = &[
    "acl_file /etc/mosquitto/acl",
    "allow_anonymous true",
    "allow_duplicate_messages true",
    "allow_zero_length_clientid false",
    "plugin /usr/lib/plugin.so",
    "plugin_opt_key value with spaces",
    "auth_plugin_deny_special_chars false",
    "auth_plugin /usr/lib/other.so",
    "auth_opt_abc 1",
    "auto_id_prefix gen-",
    "autosave_interval 60",
    "autosave_on_changes true",
    "persistence_discard_corrupt true",
    "check_retain_source true",
    "clientid_prefixes secure-",
    "connect_timeout 3",
    "connection_messages false",
    "log_dest stdout",
    "log_dest file /tmp/mosquitto log.txt",
    "log_facility 5",
    "log_timestamp false",
    "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    "log_type debug",
    "max_inflight_bytes 1000",
    "max_inflight_messages 5",
    "max_keepalive 120",
    "max_packet_size 2000",
    "max_queued_bytes 100000",
    "max_queued_messages 50",
    "memory_limit 1000000",
    "message_size_limit 1000",
    "persistence true",
    "retained_persistence true",
    "persistence_file m.db",
    "persistence_location /var/lib/mosquitto/",
    "persistent_client_expiration 2w",
    "pid_file /run/mosquitto.pid",
    "psk_file /etc/psk",
    "password_file /etc/pw",
    "per_listener_settings false",
    "outgoing_topic_aliases true",
    "queue_qos0_messages true",
    "retain_available false",
    "set_tcp_nodelay true",
    "sys_interval 0",
    "upgrade_outgoing_qos true",
    "user nobody",
    "websockets_log_level 255",
    "websockets_headers_size 4096",
    "port 1884",
    "bind_address 127.0.0.1",
    "listener 1885 ::1",
    "bind_interface lo",
    "http_dir /var/www",
    "max_connections 10",
    "max_qos 1",
    "maximum_qos 1",
    "max_topic_alias 0",
    "mount_point site/",
    "protocol websockets",
    "socket_domain ipv6",
    "use_username_as_clientid true",
    "cafile /etc/ca.pem",
    "capath /etc/certs",
    "certfile /etc/cert.pem",
    "keyfile /etc/key.pem",
    "ciphers ECDHE-RSA-AES256-GCM-SHA384",
    "ciphers_tls1.3 TLS_AES_128_GCM_SHA256",
    "crlfile /etc/crl.pem",
    "dhparamfile /etc/dh.pem",
    "require_certificate true",
    "tls_engine pkcs11",
    "tls_engine_kpass_sha1 0123456789abcdef0123456789abcdef01234567",
    "tls_keyform engine",
    "tls_version tlsv1.3",
    "use_identity_as_username true",
    "use_subject_as_username true",
    "listener 1886",
    "psk_hint hint one",
    "connection b1",
    "address example.org:1884 10.0.0.1",
    "topic a/# both 2 local/ remote/",
    "bridge_attempt_unsubscribe false",
    "bridge_alpn mqtt",
    "bridge_bind_address 10.0.0.2",
    "bridge_cafile /etc/ca.pem",
    "bridge_capath /etc/certs",
    "bridge_certfile /etc/c.pem",
    "bridge_keyfile /etc/k.pem",
    "bridge_insecure true",
    "bridge_require_ocsp true",
    "bridge_max_packet_size 10000",
    "bridge_outgoing_retain false",
    "bridge_protocol_version mqttv50",
    "bridge_tls_version tlsv1.2",
    "cleansession true",
    "local_cleansession false",
    "clientid rc",
    "local_clientid lc",
    "idle_timeout 30",
    "keepalive_interval 30",
    "local_username lu",
    "local_password lp",
    "notifications false",
    "notifications_local_only true",
    "notification_topic bridges/b1",
    "username ru",
    "password rp",
    "restart_timeout 10 60",
    "round_robin true",
    "start_type lazy",
    "threshold 5",
    "try_private false",
    "connection b2",
    "addresses 10.0.0.3:1883",
    "topic \"\" in 1 local/t remote/t",
    "remote_clientid rc2",
    "remote_username ru2",
    "remote_password rp2",
    "bridge_identity id",
    "bridge_psk 0011aabb",
];

/// VALID_LINES read as one file.
fn valid_config() -> Config {
    parse(&VALID_LINES.join("\n"))
}

#[test]
fn valid_lines_set_the_general_options() {
    let c = valid_config();
    assert!(c.allow_duplicate_messages);
    assert_eq!(c.autosave_interval, 60);
    assert!(c.check_retain_source);
    assert_eq!(
        c.log_dest,
        vec![
            LogDest::Stdout,
            LogDest::File(PathBuf::from("/tmp/mosquitto log.txt"))
        ]
    );
    assert_eq!(c.log_facility, Some(5));
    assert_eq!(c.log_types, LogTypes::DEBUG);
    assert_eq!(c.max_inflight_bytes, 1000);
    assert_eq!(c.max_keepalive, 120);
    assert_eq!(c.max_packet_size, 2000);
    assert_eq!(c.memory_limit, 1_000_000);
    assert_eq!(c.message_size_limit, 1000);
    assert_eq!(
        c.persistent_client_expiration,
        Some(Duration::from_secs(14 * 86400))
    );
    assert_eq!(
        c.persistence_filepath(),
        PathBuf::from("/var/lib/mosquitto//m.db")
    );
    assert_eq!(c.sys_interval, 0);
    assert_eq!(c.user, "nobody");
    assert_eq!(c.websockets_headers_size, 4096);
    assert!(!c.local_only);
}

#[test]
fn valid_lines_set_the_security_options() {
    let c = valid_config();
    assert_eq!(c.security.clientid_prefixes.as_deref(), Some("secure-"));
    assert!(!c.security.allow_zero_length_clientid);
    assert_eq!(c.security.auto_id_prefix.as_deref(), Some("gen-"));
    assert_eq!(c.security.plugins.len(), 2);
    assert_eq!(
        c.security.plugins[0].options,
        vec![("key".to_string(), "value with spaces".to_string())]
    );
    assert!(!c.security.plugins[0].deny_special_chars);
    assert_eq!(
        c.security.plugins[1].options,
        vec![("abc".to_string(), "1".to_string())]
    );
}

#[test]
fn valid_lines_set_the_listener_options() {
    let c = valid_config();
    // Listeners: 1885, 1886, then the default listener last.
    assert_eq!(c.listeners.len(), 3);
    let l = &c.listeners[0];
    assert_eq!(l.port, 1885);
    assert_eq!(l.bind_address.as_deref(), Some("::1"));
    assert_eq!(l.bind_interface.as_deref(), Some("lo"));
    assert_eq!(l.max_connections, 10);
    assert_eq!(l.max_qos, 1);
    assert_eq!(l.max_topic_alias, 0);
    assert_eq!(l.mount_point.as_deref(), Some("site/"));
    assert_eq!(l.protocol, Protocol::Websockets);
    assert_eq!(l.socket_domain, Some(SocketDomain::Ipv6));
    assert!(l.uses_tls());
    assert_eq!(l.tls.tls_keyform, KeyForm::Engine);
    assert_eq!(l.tls.tls_version.as_deref(), Some("tlsv1.3"));
    assert_eq!(
        l.tls.ciphers_tls13.as_deref(),
        Some("TLS_AES_128_GCM_SHA256")
    );
    assert!(
        l.tls.require_certificate
            && l.tls.use_identity_as_username
            && l.tls.use_subject_as_username
    );
    assert_eq!(c.listeners[1].port, 1886);
    assert_eq!(c.listeners[1].tls.psk_hint.as_deref(), Some("hint one"));
    let d = &c.listeners[2];
    assert!(d.is_default);
    assert_eq!(d.port, 1884);
    assert_eq!(d.bind_address.as_deref(), Some("127.0.0.1"));
}

#[test]
fn valid_lines_set_the_bridge_options() {
    let c = valid_config();
    assert_eq!(c.bridges.len(), 2);
    let b = &c.bridges[0];
    assert_eq!(
        b.addresses,
        vec![
            BridgeAddress {
                host: "example.org".into(),
                port: 1884
            },
            BridgeAddress {
                host: "10.0.0.1".into(),
                port: 1883
            }
        ]
    );
    assert_eq!(b.topics[0].direction, Direction::Both);
    assert_eq!(b.topics[0].qos, 2);
    assert_eq!(b.topics[0].local_topic(), "local/a/#");
    assert_eq!(b.topics[0].remote_topic(), "remote/a/#");
    assert!(!b.attempt_unsubscribe && b.tls.insecure && b.tls.ocsp_required && !b.outgoing_retain);
    assert_eq!(b.protocol_version, BridgeProtocol::Mqtt5);
    assert!(b.cleansession);
    assert_eq!(b.local_cleansession, Some(false));
    assert_eq!(b.remote_clientid.as_deref(), Some("rc"));
    assert_eq!(b.local_clientid.as_deref(), Some("lc"));
    assert_eq!(b.remote_username.as_deref(), Some("ru"));
    assert_eq!(b.remote_password.as_deref(), Some("rp"));
    assert_eq!(b.idle_timeout, 30);
    assert_eq!(b.keepalive_interval, 30);
    assert_eq!(
        b.restart_timeout,
        RestartTimeout {
            base: 10,
            cap: Some(60)
        }
    );
    assert_eq!(b.start_type, StartType::Lazy);
    assert_eq!(b.threshold, 5);
    assert!(!b.try_private && b.round_robin && !b.notifications && b.notifications_local_only);
    assert_eq!(b.max_packet_size, 10000);
    let b2 = &c.bridges[1];
    assert_eq!(b2.topics[0].pattern, None);
    assert_eq!(b2.topics[0].local_topic(), "local/t");
    assert_eq!(b2.local_clientid.as_deref(), Some("local.rc2"));
    assert!(b2.uses_psk());
}

// ----- The option table against the documentation -----

/// The options the documentation lists: every table entry but the aliases
/// and the removed options (prefixed ones as `plugin_opt_*`).
fn documented_options() -> Vec<&'static str> {
    options::all()
        .filter(|o| !matches!(o.set, Set::Alias(_) | Set::Ignored))
        .map(|o| o.name)
        .collect()
}

/// The options man/mosquitto.conf.5 describes: the `\fBname\fP` tag of each
/// `.TP` from GENERAL OPTIONS to COMPATIBILITY, outside the indented
/// (`.RS`) lists such as log_dest's destinations.
fn man_page_options() -> BTreeSet<&'static str> {
    let start = MAN_PAGE
        .find(".SH \"GENERAL OPTIONS\"")
        .expect("GENERAL OPTIONS");
    let end = MAN_PAGE.find(".SH COMPATIBILITY").expect("COMPATIBILITY");
    let mut names = BTreeSet::new();
    let (mut depth, mut tag_next) = (0, false);
    for line in MAN_PAGE[start..end].lines() {
        if tag_next && depth == 0 {
            if let Some(name) = line
                .strip_prefix("\\fB")
                .and_then(|l| l.split("\\fP").next())
            {
                names.insert(name);
            }
        }
        tag_next = line == ".TP";
        if line.starts_with(".RS") {
            depth += 1;
        } else if line == ".RE" {
            depth -= 1;
        }
    }
    names
}

#[test]
fn every_option_of_the_man_page_is_in_the_option_table_and_back() {
    let table: BTreeSet<&str> = documented_options()
        .into_iter()
        .map(|n| n.trim_end_matches('*'))
        .collect();
    let man = man_page_options();
    assert!(
        man.len() > 100,
        "only {} options in the man page",
        man.len()
    );
    let undocumented: Vec<_> = table.difference(&man).collect();
    assert!(
        undocumented.is_empty(),
        "not in man/mosquitto.conf.5: {undocumented:?}"
    );
    let unknown: Vec<_> = man.difference(&table).collect();
    assert!(unknown.is_empty(), "not in the option table: {unknown:?}");
}

#[test]
fn option_tables_are_sorted_with_unique_names_and_working_aliases() {
    for table in options::sorted_tables() {
        for pair in table.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} first", pair[1].name);
        }
    }
    let mut seen = BTreeSet::new();
    for o in options::all() {
        assert!(seen.insert(o.name), "{} is in the table twice", o.name);
        if let Set::Alias(target) = o.set {
            let found = options::all().find(|t| t.name == target);
            assert!(
                found.is_some_and(|t| !matches!(t.set, Set::Alias(_))),
                "{} is an alias of {target}, which is not an option",
                o.name
            );
        }
        // And lookup finds each one (prefixed ones with a key).
        let written = o.name.replace('*', "key");
        let found = options::lookup(&written).map(|(spec, _)| spec.name);
        assert_eq!(found, Some(o.name), "{written}");
    }
}

#[test]
fn every_active_option_is_in_the_option_table() {
    for entry in ACTIVE_OPTIONS {
        let name = entry.split(' ').next().unwrap_or(entry);
        assert!(options::lookup(name).is_some(), "{entry}");
    }
}

#[test]
fn every_option_has_a_valid_line() {
    // So the valid_lines_set_* tests above parse every option. The removed
    // ones and include_dir (it needs a directory) have tests of their own.
    let elsewhere = |o: &options::Spec| matches!(o.set, Set::Ignored) || o.name == "include_dir";
    for o in options::all().filter(|o| !elsewhere(o)) {
        let covered = VALID_LINES.iter().any(|l| match o.prefix() {
            Some(prefix) => l.starts_with(prefix),
            None => l.split(' ').next() == Some(o.name),
        });
        assert!(covered, "VALID_LINES has no {} line", o.name);
    }
}

// ----- Line syntax -----

#[test]
fn comments_blank_lines_and_white_space() {
    let c = parse(
        "# comment\n\n   \n\t\n  # indented comment\n  allow_anonymous true  \n\
         listener 1884\r\nmax_connections\t7\t\n\tmax_qos 1\n",
    );
    assert_eq!(c.security.allow_anonymous, Some(true));
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].port, 1884);
    assert_eq!(c.listeners[0].max_connections, 7);
    assert_eq!(c.listeners[0].max_qos, 1);
}

#[test]
fn unknown_option_reports_file_and_line() {
    let e = parse_err("listener 1883\n\n# x\nfoo bar\n");
    assert_eq!(e.line, 4);
    assert_eq!(e.file, PathBuf::from("test.conf"));
    assert_eq!(e.reason, "Unknown configuration variable \"foo\".");
    assert_eq!(
        e.to_string(),
        "Error: Unknown configuration variable \"foo\".\nError found at test.conf:4."
    );
}

#[test]
fn option_names_are_case_sensitive() {
    assert_err(
        "Listener 1883\n",
        1,
        "Unknown configuration variable \"Listener\"",
    );
}

#[test]
fn booleans_are_exactly_true_false_1_0() {
    for (v, want) in [("true", true), ("1", true), ("false", false), ("0", false)] {
        let c = parse(&format!("set_tcp_nodelay {v}\n"));
        assert_eq!(c.set_tcp_nodelay, want, "{v}");
    }
    for v in ["yes", "no", "True", "FALSE", "on", "2", "t"] {
        assert_err(
            &format!("listener 1883\nallow_anonymous {v}\n"),
            2,
            &format!("Invalid allow_anonymous value ({v})."),
        );
    }
    assert_err(
        "allow_anonymous\n",
        1,
        "Empty allow_anonymous value in configuration.",
    );
    // Extra words after a single-word value are ignored, as in mosquitto.
    assert!(parse("set_tcp_nodelay true false\n").set_tcp_nodelay);
}

#[test]
fn numbers_are_checked() {
    assert_err(
        "max_inflight_messages abc\n",
        1,
        "Invalid max_inflight_messages value (abc).",
    );
    assert_err(
        "max_inflight_messages 12x\n",
        1,
        "Invalid max_inflight_messages value (12x).",
    );
    assert_err(
        "max_inflight_messages 70000\n",
        1,
        "max_inflight_messages must be <= 65535.",
    );
    assert_eq!(
        parse("max_inflight_messages 65535\n").max_inflight_messages,
        0
    );
    assert_eq!(parse("max_inflight_messages -3\n").max_inflight_messages, 0);
    assert_err(
        "max_keepalive 65536\n",
        1,
        "Invalid max_keepalive value (65536).",
    );
    assert_err("max_keepalive -1\n", 1, "Invalid max_keepalive value (-1).");
    assert_eq!(parse("max_keepalive 65535\n").max_keepalive, 65535);
    assert_err(
        "max_packet_size 19\n",
        1,
        "Invalid max_packet_size value (19).",
    );
    assert_eq!(parse("max_packet_size 20\n").max_packet_size, 20);
    assert_eq!(parse("max_packet_size 0\n").max_packet_size, 0);
    assert_err(
        "sys_interval 65536\n",
        1,
        "Invalid sys_interval value (65536).",
    );
    assert_err("sys_interval -1\n", 1, "Invalid sys_interval value (-1).");
    assert_err("log_facility 8\n", 1, "Invalid log_facility value (8).");
    assert_err(
        "message_size_limit 268435456\n",
        1,
        "Invalid message_size_limit value",
    );
    assert_err(
        "message_size_limit -1\n",
        1,
        "Invalid message_size_limit value",
    );
    assert_err("memory_limit -1\n", 1, "Invalid memory_limit value (-1).");
    assert_err("websockets_headers_size 65536\n", 1, "between 0 and 65535");
    assert_err(
        "autosave_interval 99999999999\n",
        1,
        "Invalid autosave_interval value",
    );
    assert_err(
        "autosave_interval\n",
        1,
        "Empty autosave_interval value in configuration.",
    );
    assert_eq!(parse("autosave_interval -5\n").autosave_interval, 0);
    assert_eq!(parse("max_queued_messages -5\n").max_queued_messages, 0);
    assert_eq!(parse("max_queued_bytes -5\n").max_queued_bytes, 0);
    assert_eq!(parse("max_inflight_bytes -5\n").max_inflight_bytes, 0);
    assert_eq!(parse("max_queued_messages +7\n").max_queued_messages, 7);
}

#[test]
fn persistent_client_expiration_units() {
    for (v, secs) in [
        ("1h", 3600),
        ("2d", 2 * 86400),
        ("3w", 3 * 7 * 86400),
        ("4m", 4 * 30 * 86400),
        ("5y", 5 * 365 * 86400),
    ] {
        let c = parse(&format!("persistent_client_expiration {v}\n"));
        assert_eq!(
            c.persistent_client_expiration,
            Some(Duration::from_secs(secs)),
            "{v}"
        );
    }
    for v in ["10", "0d", "-1d", "d", "1x", "1.5d"] {
        assert_err(
            &format!("persistent_client_expiration {v}\n"),
            1,
            "Invalid persistent_client_expiration duration in configuration.",
        );
    }
    assert_err(
        "persistent_client_expiration\n",
        1,
        "Empty persistent_client_expiration",
    );
}

#[test]
fn strings_refuse_duplicates_and_empty_values() {
    assert_err(
        "password_file /a\npassword_file /b\n",
        2,
        "Duplicate password_file value in configuration.",
    );
    assert_err(
        "password_file\n",
        1,
        "Empty password_file value in configuration.",
    );
    assert_err(
        "pid_file    \n",
        1,
        "Empty pid_file value in configuration.",
    );
    // The rest of the line is the value, inner spaces included.
    let c = parse("pid_file   /run/my broker.pid  \n");
    assert_eq!(c.pid_file, Some(PathBuf::from("/run/my broker.pid")));
    // `user` may be repeated; the last one wins.
    assert_eq!(parse("user a\nuser b\n").user, "b");
    // Control characters are refused like malformed UTF-8.
    assert_err(
        "pid_file /run/a\u{1}b\n",
        1,
        "Malformed UTF-8 in configuration.",
    );
    assert_err(
        "pid_file /run/a\tb\n",
        1,
        "Malformed UTF-8 in configuration.",
    );
}

#[test]
fn invalid_utf8_is_an_error_with_its_line() {
    let dir = TempDir::new("utf8");
    let path = dir.path().join("bad.conf");
    std::fs::write(
        &path,
        b"# caf\xe9 is fine in a comment\nlistener 1883\npid_file /run/\xff\n",
    )
    .expect("write");
    let e = Config::load(&path).expect_err("bad UTF-8");
    assert_eq!(e.line, 3);
    assert_eq!(e.reason, "Malformed UTF-8 in configuration.");
}

#[test]
fn load_refuses_missing_files_and_directories() {
    let dir = TempDir::new("load");
    let e = Config::load(dir.path()).expect_err("a directory");
    assert_eq!(e.line, 0);
    assert!(e.reason.ends_with("is a directory."), "{}", e.reason);
    assert!(!e.to_string().contains("Error found at"));
    let missing = dir.path().join("missing.conf");
    let e = Config::load(&missing).expect_err("missing");
    assert_eq!(
        e.reason,
        format!("Unable to open config file {}.", missing.display())
    );
    let ok = dir.write("ok.conf", "listener 1999\n");
    assert_eq!(Config::load(&ok).expect("loads").listeners[0].port, 1999);
}

// ----- Logging -----

#[test]
fn log_dest_and_log_type_accumulate() {
    assert_eq!(parse("").log_dest, vec![LogDest::Stderr]);
    let c = parse("log_dest stdout\nlog_dest syslog\nlog_dest stdout\n");
    assert_eq!(c.log_dest, vec![LogDest::Stdout, LogDest::Syslog]);
    let c = parse("log_dest stdout\nlog_dest none\nlog_dest topic\n");
    assert_eq!(c.log_dest, vec![LogDest::Topic]);
    assert!(parse("log_dest none\n").log_dest.is_empty());
    assert_err(
        "log_dest file\n",
        1,
        "Empty \"log_dest file\" value in configuration.",
    );
    assert_err(
        "log_dest file /a\nlog_dest none\nlog_dest file /b\n",
        3,
        "Duplicate \"log_dest file\" value.",
    );
    assert_err("log_dest console\n", 1, "Invalid log_dest value (console).");
    assert_err("log_dest\n", 1, "Empty log_dest value in configuration.");

    let c = parse("log_type error\nlog_type subscribe\n");
    assert_eq!(
        c.log_types,
        LogTypes(LogTypes::ERROR.0 | LogTypes::SUBSCRIBE.0)
    );
    assert!(c.log_types.contains(LogTypes::ERROR));
    assert!(!c.log_types.contains(LogTypes::WARNING));
    assert_eq!(parse("log_type all\n").log_types, LogTypes::ALL);
    assert_eq!(
        parse("log_type all\nlog_type none\n").log_types,
        LogTypes::NONE
    );
    assert_eq!(
        parse("log_type none\nlog_type websockets\n").log_types,
        LogTypes::WEBSOCKETS
    );
    assert_err("log_type verbose\n", 1, "Invalid log_type value (verbose).");
    assert_err("log_type\n", 1, "Empty log_type value in configuration.");
}

// ----- Listeners -----

#[test]
fn default_listener_from_port_and_top_level_options() {
    let c = parse("max_connections 5\nport 1884\nbind_address 127.0.0.1\n");
    assert!(!c.local_only);
    assert_eq!(c.listeners.len(), 1);
    let l = &c.listeners[0];
    assert!(l.is_default);
    assert_eq!(l.port, 1884);
    assert_eq!(l.bind_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(l.max_connections, 5);
    assert_eq!(c.security.allow_anonymous, Some(false));

    // bind_address alone: port 1883.
    let c = parse("bind_address ::1\n");
    assert_eq!(c.listeners.len(), 1);
    assert_eq!(c.listeners[0].port, 1883);
}

#[test]
fn listener_blocks_take_the_options_that_follow_them() {
    let c = parse(
        "max_connections 3\nport 1884\n\
         listener 1885 127.0.0.1\nmax_connections 10\nsocket_domain ipv4\nmount_point a/\n\
         listener 1886\nprotocol mqtt\nmax_qos 0\n",
    );
    let ports: Vec<u16> = c.listeners.iter().map(|l| l.port).collect();
    assert_eq!(ports, vec![1885, 1886, 1884], "default listener comes last");
    assert_eq!(c.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.listeners[0].max_connections, 10);
    assert_eq!(c.listeners[0].socket_domain, Some(SocketDomain::Ipv4));
    assert_eq!(c.listeners[0].mount_point.as_deref(), Some("a/"));
    assert_eq!(c.listeners[1].max_connections, -1);
    assert_eq!(c.listeners[1].max_qos, 0);
    assert!(!c.listeners[0].is_default && !c.listeners[1].is_default);
    assert!(c.listeners[2].is_default);
    assert_eq!(c.listeners[2].max_connections, 3);
}

#[test]
fn only_listener_lines_means_no_default_listener() {
    let c = parse("listener 1885\nlistener 1886 ::1 # trailing comment\n");
    assert_eq!(c.listeners.len(), 2);
    assert_eq!(c.listeners[1].bind_address.as_deref(), Some("::1"));
    let c = parse("listener 1885 # comment\n");
    assert_eq!(c.listeners[0].bind_address, None);
}

#[test]
fn listener_values() {
    assert_err("listener\n", 1, "Empty listener value in configuration.");
    assert_err("listener 65536\n", 1, "Invalid port value (65536).");
    assert_err("listener -1\n", 1, "Invalid port value (-1).");
    assert_err("listener http\n", 1, "Invalid port value (http).");
    assert_err(
        "listener 0\n",
        1,
        "A listener with port 0 must provide a Unix socket path.",
    );
    let c = parse("listener 0 /run/mosquitto.sock\n");
    assert_eq!(c.listeners[0].port, 0);
    assert!(c.listeners[0].is_unix_socket());
    assert_eq!(
        c.listeners[0].unix_socket_path,
        Some(PathBuf::from("/run/mosquitto.sock"))
    );
    assert_eq!(c.listeners[0].bind_address, None);
    assert_err("port 0\n", 1, "Invalid port value (0).");
    assert_err("port 65536\n", 1, "Invalid port value (65536).");
    assert_err("port abc\n", 1, "Invalid port value");
    assert_err(
        "listener 1883\nsocket_domain ipv5\n",
        2,
        "Invalid socket_domain value \"ipv5\"",
    );
    assert_err(
        "listener 1883\nprotocol mqttsn\n",
        2,
        "Invalid protocol value (mqttsn).",
    );
    assert_err(
        "listener 1883\nmax_qos 3\n",
        2,
        "max_qos must be between 0 and 2 inclusive.",
    );
    assert_err(
        "listener 1883\nmax_topic_alias 65536\n",
        2,
        "Invalid max_topic_alias value",
    );
    assert_eq!(
        parse("listener 1883\nmax_connections -7\n").listeners[0].max_connections,
        -1
    );
}

#[test]
fn port_given_twice_uses_the_last_with_a_notice() {
    let c = parse("port 1884\nport 1885\n");
    assert_eq!(c.listeners[0].port, 1885);
    let notices: Vec<_> = c
        .notes_of(NoteKind::Notice)
        .filter(|n| n.option == "port")
        .collect();
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].line, 2);
}

#[test]
fn mount_point_needs_a_listener_and_no_wildcards() {
    assert_err(
        "mount_point a/\n",
        1,
        "You must create a listener before using the mount_point",
    );
    assert_err(
        "listener 1883\nmount_point a/+/\n",
        2,
        "Invalid mount_point 'a/+/'.",
    );
    assert_err(
        "listener 1883\nmount_point a/#\n",
        2,
        "Invalid mount_point 'a/#'.",
    );
}

#[test]
fn listener_tls_rules() {
    assert_err(
        "listener 8883\ncertfile /c.pem\n",
        1,
        "Both certfile and keyfile must be given",
    );
    assert_err(
        "listener 1883\nlistener 8883\nkeyfile /k.pem\n",
        2,
        "Both certfile and keyfile must be given",
    );
    assert_err(
        "listener 8883\npsk_hint h\ncertfile /c.pem\n",
        3,
        "Cannot use both certificate and psk encryption in a single listener.",
    );
    assert_err(
        "listener 8883\npsk_hint h\ncafile /c.pem\n",
        3,
        "Cannot use both certificate and psk encryption",
    );
    assert_err(
        "listener 1883\nlistener 8883\ncertfile /c\nkeyfile /k\ntls_version tlsv1\n",
        2,
        "Unsupported tls_version \"tlsv1\"",
    );
    assert_err(
        "listener 8883\npsk_hint h\ntls_version ssl3\n",
        1,
        "Unsupported tls_version",
    );
    // Without TLS on the listener mosquitto ignores tls_version, and so do we.
    parse("listener 1883\ntls_version tlsv1\n");
    assert_err(
        "listener 8883\ntls_engine_kpass_sha1 abc\n",
        2,
        "Invalid tls_engine_kpass_sha1",
    );
    let c = parse("listener 8883\ncertfile /c.pem\nkeyfile /k.pem\ntls_keyform pem\n");
    assert!(c.listeners[0].uses_tls());
    assert_eq!(c.listeners[0].tls.tls_keyform, KeyForm::Pem);
    // TLS options at the top level go to the default listener.
    let c = parse("certfile /c.pem\nkeyfile /k.pem\nport 8883\n");
    assert_eq!(c.listeners.len(), 1);
    assert!(c.listeners[0].is_default && c.listeners[0].uses_tls());
    assert_eq!(c.listeners[0].port, 8883);
}

// ----- Local-only mode and allow_anonymous -----

#[test]
fn no_listener_means_local_only_with_anonymous_access() {
    let c = parse("allow_anonymous false\n");
    assert!(c.local_only);
    // mosquitto forces anonymous access on in local-only mode.
    assert_eq!(c.security.allow_anonymous, Some(true));
    let addrs: Vec<_> = c
        .listeners
        .iter()
        .map(|l| (l.bind_address.clone().unwrap_or_default(), l.port))
        .collect();
    assert_eq!(
        addrs,
        vec![("127.0.0.1".to_string(), 1883), ("::1".to_string(), 1883)]
    );
    assert!(c.listeners.iter().all(|l| l.security.allows_anonymous()));
}

#[test]
fn top_level_listener_options_alone_stay_local_only() {
    // As in mosquitto 2.0.20: only listener/port/bind_address leave local-only
    // mode; the default listener made from other options is not opened.
    let c = parse("max_connections 5\n");
    assert!(c.local_only);
    assert!(c.listeners.iter().all(|l| !l.is_default));
    assert_eq!(c.notes_of(NoteKind::Notice).count(), 1);
}

#[test]
fn allow_anonymous_defaults_to_false_with_listeners() {
    let c = parse("listener 1883\n");
    assert_eq!(c.security.allow_anonymous, Some(false));
    assert!(!c.security_for(&c.listeners[0]).allows_anonymous());
    let c = parse("listener 1883\nallow_anonymous true\n");
    assert_eq!(c.security.allow_anonymous, Some(true));
    assert!(c.security_for(&c.listeners[0]).allows_anonymous());
}

#[test]
fn per_listener_settings() {
    let c = parse(
        "per_listener_settings true\n\
         listener 1883\nallow_anonymous true\n\
         listener 1884\npassword_file /pw\nacl_file /acl\nauto_id_prefix l2-\n\
         plugin /p.so\nplugin_opt_x 1\n",
    );
    assert!(c.per_listener_settings);
    let (a, b) = (&c.listeners[0], &c.listeners[1]);
    assert_eq!(a.security.allow_anonymous, Some(true));
    assert_eq!(
        b.security.allow_anonymous,
        Some(false),
        "defaulted per listener"
    );
    assert_eq!(b.security.password_file, Some(PathBuf::from("/pw")));
    assert_eq!(b.security.acl_file, Some(PathBuf::from("/acl")));
    assert_eq!(a.security.auto_id_prefix.as_deref(), Some("auto-"));
    assert_eq!(b.security.auto_id_prefix.as_deref(), Some("l2-"));
    assert_eq!(b.security.plugins.len(), 1);
    assert_eq!(b.security.plugins[0].options.len(), 1);
    assert!(a.security.plugins.is_empty());
    // The global settings are untouched and not used.
    assert_eq!(c.security.password_file, None);
    assert!(std::ptr::eq(c.security_for(b), &b.security));

    // Without per_listener_settings everything is global.
    let c = parse("listener 1883\npassword_file /pw\nlistener 1884\nacl_file /acl\n");
    assert_eq!(c.security.password_file, Some(PathBuf::from("/pw")));
    assert_eq!(c.security.acl_file, Some(PathBuf::from("/acl")));
    assert_eq!(c.listeners[0].security, Security::default());
    assert!(std::ptr::eq(c.security_for(&c.listeners[1]), &c.security));

    // Duplicates are per listener with per_listener_settings.
    parse(
        "per_listener_settings true\nlistener 1\npassword_file /a\nlistener 2\npassword_file /b\n",
    );
    assert_err(
        "listener 1\npassword_file /a\nlistener 2\npassword_file /b\n",
        4,
        "Duplicate password_file value",
    );
}

#[test]
fn per_listener_settings_must_come_first() {
    assert_err(
        "listener 1883\nallow_anonymous true\nper_listener_settings true\n",
        3,
        "per_listener_settings must be set before any other security settings.",
    );
    assert_err(
        "check_retain_source true\nper_listener_settings true\n",
        2,
        "per_listener_settings must be set before",
    );
    // Turning it off later is allowed.
    parse("allow_anonymous true\nper_listener_settings false\n");
}

#[test]
fn per_listener_security_before_any_listener_goes_to_the_default_listener() {
    let c = parse("per_listener_settings true\npassword_file /pw\nport 1884\nlistener 1885\n");
    let d = c
        .listeners
        .iter()
        .find(|l| l.is_default)
        .expect("default listener");
    assert_eq!(d.port, 1884);
    assert_eq!(d.security.password_file, Some(PathBuf::from("/pw")));
    assert_eq!(d.security.allow_anonymous, Some(false));
}

#[test]
fn plugin_options_need_a_plugin() {
    assert_err(
        "plugin_opt_a 1\n",
        1,
        "must follow a plugin (or auth_plugin) line",
    );
    assert_err(
        "auth_opt_a 1\n",
        1,
        "must follow a plugin (or auth_plugin) line",
    );
    assert_err(
        "auth_plugin_deny_special_chars false\n",
        1,
        "must follow a plugin (or auth_plugin) line",
    );
    assert_err(
        "plugin /p.so\nplugin_opt_ 1\n",
        2,
        "Invalid plugin_opt_ config option.",
    );
    assert_err(
        "plugin /p.so\nplugin_opt_key\n",
        2,
        "Empty key value in configuration.",
    );
    let c = parse("plugin /a.so\nplugin_opt_one 1\nauth_plugin /b.so\nauth_opt_two 2 3\n");
    assert_eq!(c.security.plugins[0].path, PathBuf::from("/a.so"));
    assert_eq!(
        c.security.plugins[0].options,
        vec![("one".into(), "1".into())]
    );
    assert_eq!(
        c.security.plugins[1].options,
        vec![("two".into(), "2 3".into())]
    );
}

// ----- Bridges -----

fn bridge_with(topic_line: &str) -> Result<Config, ConfigError> {
    Config::parse_str(
        &format!("connection b\naddress 10.0.0.1\n{topic_line}\n"),
        "test.conf",
    )
}

fn topic_of(topic_line: &str) -> BridgeTopic {
    match bridge_with(topic_line) {
        Ok(c) => c.bridges[0].topics[0].clone(),
        Err(e) => panic!("{topic_line}: {e}"),
    }
}

fn topic_err(topic_line: &str) -> String {
    match bridge_with(topic_line) {
        Ok(c) => panic!("{topic_line}: accepted as {:?}", c.bridges[0].topics),
        Err(e) => {
            assert_eq!(e.line, 3, "{topic_line}");
            e.reason
        }
    }
}

#[test]
fn bridge_topic_forms() {
    let t = topic_of("topic sensors/#");
    assert_eq!(t.pattern.as_deref(), Some("sensors/#"));
    assert_eq!((t.direction, t.qos), (Direction::Out, 0));
    assert_eq!(
        (t.local_prefix.clone(), t.remote_prefix.clone()),
        (None, None)
    );
    assert_eq!(topic_of("topic a IN").direction, Direction::In);
    let t = topic_of("topic a both 2");
    assert_eq!((t.direction, t.qos), (Direction::Both, 2));
    let t = topic_of("topic # in 1 local/ remote/");
    assert_eq!(t.local_topic(), "local/#");
    assert_eq!(t.remote_topic(), "remote/#");
    let t = topic_of("topic t out 0 \"\" r/");
    assert_eq!(
        (t.local_prefix.clone(), t.local_topic()),
        (None, "t".to_string())
    );
    assert_eq!(t.remote_topic(), "r/t");
    let t = topic_of("topic t out 0 l/ \"\"");
    assert_eq!(
        (t.local_topic(), t.remote_topic()),
        ("l/t".to_string(), "t".to_string())
    );
    let t = topic_of("topic \"\" out 0 a/b c/d");
    assert_eq!(t.pattern, None);
    assert_eq!(
        (t.local_topic(), t.remote_topic()),
        ("a/b".to_string(), "c/d".to_string())
    );
    let t = topic_of("topic t out # a comment");
    assert_eq!((t.direction, t.qos), (Direction::Out, 0));
    let t = topic_of("topic t both 1 # a comment");
    assert_eq!((t.qos, t.local_prefix.clone()), (1, None));
}

#[test]
fn bridge_topic_errors() {
    assert_eq!(topic_err("topic"), "Empty topic value in configuration.");
    assert_eq!(
        topic_err("topic a sideways"),
        "Invalid bridge topic direction 'sideways'."
    );
    assert_eq!(topic_err("topic a out 3"), "Invalid bridge QoS level '3'.");
    assert_eq!(topic_err("topic a out x"), "Invalid bridge QoS level 'x'.");
    assert_eq!(topic_err("topic \"\" out 0"), "Invalid bridge remapping.");
    assert_eq!(
        topic_err("topic \"\" out 0 l/"),
        "Invalid bridge remapping."
    );
    assert_eq!(
        topic_err("topic \"\" out 0 \"\" r/"),
        "Invalid bridge remapping."
    );
    assert_eq!(
        topic_err("topic \"\" out 0 \"\" \"\""),
        "Invalid bridge remapping."
    );
    assert_eq!(
        topic_err("topic a out 0 l/# r/"),
        "Invalid bridge topic local prefix 'l/#'."
    );
    assert_eq!(
        topic_err("topic a out 0 l/ r/+"),
        "Invalid bridge topic remote prefix 'r/+'."
    );
    assert_eq!(
        topic_err("topic #/a out 0 l/ r/"),
        "Invalid bridge topic local prefix and pattern combination 'l/#/a'."
    );
    assert_eq!(
        topic_err("topic # out 0 l r/"),
        "Invalid bridge topic local prefix and pattern combination 'l#'."
    );
    assert_eq!(
        topic_err("topic a/b# out"),
        "Invalid bridge topic pattern 'a/b#'."
    );
}

#[test]
fn bridge_defaults_and_client_ids() {
    let c = parse("connection b1\naddress h1\ntopic a\nconnection b2\naddress h2\ntopic b\n");
    let b = &c.bridges[0];
    assert_eq!(b.keepalive_interval, 60);
    assert_eq!(b.idle_timeout, 60);
    assert_eq!(b.threshold, 10);
    assert_eq!(
        b.restart_timeout,
        RestartTimeout {
            base: 5,
            cap: Some(30)
        }
    );
    assert_eq!(b.start_type, StartType::Automatic);
    assert_eq!(b.protocol_version, BridgeProtocol::Mqtt311);
    assert!(b.notifications && b.try_private && b.attempt_unsubscribe && b.outgoing_retain);
    assert!(!b.cleansession && !b.local_cleansession());
    assert_eq!(b.addresses[0].port, 1883);
    let remote = b.remote_clientid.clone().expect("generated");
    assert!(remote.ends_with(".b1"), "{remote}");
    assert_eq!(b.local_clientid, Some(format!("local.{remote}")));
    assert_eq!(
        b.notification_topic(),
        format!("$SYS/broker/connection/{remote}/state")
    );
    assert_eq!((b.file.clone(), b.line), (PathBuf::from("test.conf"), 1));
    assert_ne!(c.bridges[0].local_clientid, c.bridges[1].local_clientid);
    // local_cleansession follows cleansession unless set.
    let c = parse("connection b\naddress h\ntopic a\ncleansession true\n");
    assert!(c.bridges[0].local_cleansession());
}

#[test]
fn bridge_option_values() {
    let base = "connection b\naddress h\ntopic a\n";
    let with = |extra: &str| parse(&format!("{base}{extra}\n")).bridges[0].clone();
    let with_err = |extra: &str, reason: &str| assert_err(&format!("{base}{extra}\n"), 4, reason);
    assert_eq!(with("keepalive_interval 2").keepalive_interval, 5);
    with_err(
        "keepalive_interval 65536",
        "Bridge keepalive value too high.",
    );
    assert_eq!(with("idle_timeout 0").idle_timeout, 1);
    assert_eq!(with("threshold -3").threshold, 1);
    assert_eq!(
        with("restart_timeout 20").restart_timeout,
        RestartTimeout {
            base: 20,
            cap: None
        }
    );
    assert_eq!(
        with("restart_timeout 0").restart_timeout,
        RestartTimeout { base: 1, cap: None }
    );
    with_err(
        "restart_timeout 10 5",
        "backoff cap is lower than the base in restart_timeout.",
    );
    with_err(
        "restart_timeout",
        "Empty restart_timeout value in configuration.",
    );
    assert_eq!(with("start_type once").start_type, StartType::Once);
    with_err("start_type manual", "Manual start_type not supported.");
    with_err(
        "start_type sometimes",
        "Invalid start_type value in configuration (sometimes).",
    );
    assert_eq!(
        with("bridge_protocol_version mqttv31").protocol_version,
        BridgeProtocol::Mqtt31
    );
    with_err(
        "bridge_protocol_version mqttv5",
        "Invalid bridge_protocol_version value (mqttv5).",
    );
    assert_err(
        &format!("{base}bridge_cafile /ca\nbridge_tls_version ssl3\n"),
        1,
        "Unsupported tls_version \"ssl3\"",
    );
    assert_eq!(
        with("bridge_tls_version ssl3").tls.tls_version.as_deref(),
        Some("ssl3")
    );
    assert_eq!(with("bridge_max_packet_size -1").max_packet_size, 0);
    assert_err(
        &format!("{base}remote_clientid a\nclientid b\n"),
        5,
        "Duplicate clientid value in configuration.",
    );
    with_err(
        "notification_topic a/#",
        "Invalid notification_topic 'a/#'.",
    );
    // Adjusted values leave a notice.
    let c = parse(&format!("{base}keepalive_interval 1\n"));
    assert_eq!(
        c.notes_of(NoteKind::Notice).filter(|n| n.line == 4).count(),
        1
    );
}

#[test]
fn bridge_require_ocsp_without_certificates_leaves_a_notice() {
    let base = "connection b\naddress h\ntopic a\nbridge_require_ocsp true\n";
    let ocsp_notes = |c: &Config| -> Vec<String> {
        c.notes_of(NoteKind::Notice)
            .filter(|n| n.option == "bridge_require_ocsp")
            .map(|n| n.message.clone())
            .collect()
    };
    let c = parse(base);
    assert!(c.bridges[0].tls.ocsp_required);
    let notes = ocsp_notes(&c);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("no effect"), "{notes:?}");
    assert_eq!(c.notes_of(NoteKind::NotYetActive).count(), 0);
    let notes = ocsp_notes(&parse(&format!(
        "{base}bridge_identity id\nbridge_psk 00ff\n"
    )));
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("every connection will fail"), "{notes:?}");
    assert!(ocsp_notes(&parse(&format!("{base}bridge_cafile /ca\n"))).is_empty());
    assert!(ocsp_notes(&parse(&format!("{base}bridge_capath /ca\n"))).is_empty());
}

#[test]
fn bridge_addresses() {
    let c = parse("connection b\naddress ::1:8883 h2:1884 h3 # backup\ntopic a\n");
    let a: Vec<_> = c.bridges[0]
        .addresses
        .iter()
        .map(|a| (a.host.as_str(), a.port))
        .collect();
    assert_eq!(a, vec![("::1", 8883), ("h2", 1884), ("h3", 1883)]);
    assert_err("connection b\naddress h:0\n", 2, "Invalid port value (0).");
    assert_err(
        "connection b\naddress h:99999\n",
        2,
        "Invalid port value (99999).",
    );
    assert_err(
        "connection b\naddress\n",
        2,
        "Empty address value in configuration.",
    );
    assert_err(
        "connection b\naddress h\naddresses h2\n",
        3,
        "Invalid bridge configuration.",
    );
}

#[test]
fn bridge_structure_errors() {
    assert_err("topic a\n", 1, "Invalid bridge configuration.");
    assert_err("address h\n", 1, "Invalid bridge configuration.");
    assert_err("try_private false\n", 1, "Invalid bridge configuration.");
    assert_err(
        "connection\n",
        1,
        "Empty connection value in configuration.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nconnection a\n",
        4,
        "Duplicate bridge name \"a\".",
    );
    assert_err(
        "listener 1883\nconnection a\ntopic t\n",
        2,
        "Invalid bridge configuration: no remote addresses defined.",
    );
    assert_err(
        "connection a\naddress h\n",
        1,
        "Invalid bridge configuration: no topics defined.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nbridge_psk 00ff\n",
        1,
        "Invalid bridge configuration: missing bridge_identity.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nbridge_identity i\n",
        1,
        "Invalid bridge configuration: missing bridge_psk.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nbridge_cafile /ca\nbridge_psk 00\n",
        5,
        "Cannot use both certificate and psk encryption in a single bridge.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nbridge_identity i\nbridge_certfile /c\n",
        5,
        "Cannot use both certificate and psk encryption in a single bridge.",
    );
    assert_err(
        "connection a\naddress h\ntopic t\nlocal_clientid x\n\
         connection b\naddress h\ntopic t\nlocal_clientid x\n",
        5,
        "Bridge local_clientid 'x' is not unique.",
    );
}

// ----- include_dir -----

#[test]
fn include_dir_sort_order() {
    let mut names: Vec<&[u8]> = vec![
        b"b.conf", b"A.conf", b"01.conf", b"a.conf", b"B.conf", b"00.conf",
    ];
    names.sort_by(|a, b| parse::include_order(a, b));
    let names: Vec<&str> = names
        .iter()
        .map(|n| std::str::from_utf8(n).unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        vec!["00.conf", "01.conf", "A.conf", "a.conf", "B.conf", "b.conf"]
    );
}

#[test]
fn include_dir_reads_conf_files_in_order() {
    let one = TempDir::new("inc-one");
    let two = TempDir::new("inc-two");
    for name in ["b.conf", "A.conf", "01.conf", "a.conf", "B.conf", "00.conf"] {
        one.write(name, &format!("plugin /{name}\n"));
    }
    one.write("notes.txt", "this is not read\n");
    one.write(".conf", "not read either: needs a name before .conf\n");
    one.write("x.conf.bak", "not read\n");
    two.write("Z.conf", "plugin /two-Z\n");
    let c = parse(&format!(
        "include_dir {}\nlistener 1883\ninclude_dir {}\n",
        one.path().display(),
        two.path().display()
    ));
    let order: Vec<String> = c
        .security
        .plugins
        .iter()
        .map(|p| p.path.display().to_string())
        .collect();
    assert_eq!(
        order,
        vec!["/00.conf", "/01.conf", "/A.conf", "/a.conf", "/B.conf", "/b.conf", "/two-Z"]
    );
    assert_eq!(
        c.include_dirs,
        vec![one.path().to_path_buf(), two.path().to_path_buf()]
    );
}

#[test]
fn include_dir_errors() {
    let e = parse_err("listener 1883\ninclude_dir /nonexistent/mosquitto-rs/conf.d\n");
    assert_eq!(e.line, 2);
    assert_eq!(
        e.reason,
        "Unable to open include_dir '/nonexistent/mosquitto-rs/conf.d'."
    );
    assert_err(
        "include_dir\n",
        1,
        "Empty include_dir value in configuration.",
    );

    let dir = TempDir::new("inc-err");
    let bad = dir.write("bad.conf", "\nallow_anonymous maybe\n");
    let e = parse_err(&format!(
        "listener 1883\n\ninclude_dir {}\n",
        dir.path().display()
    ));
    assert_eq!(e.file, bad);
    assert_eq!(e.line, 2);
    assert_eq!(e.included_from, vec![(PathBuf::from("test.conf"), 3)]);
    assert_eq!(
        e.to_string(),
        format!(
            "Error: Invalid allow_anonymous value (maybe).\n\
             Error found at {}:2.\nError found at test.conf:3.",
            bad.display()
        )
    );
}

#[test]
fn included_files_start_with_fresh_listener_and_bridge_context() {
    let dir = TempDir::new("inc-ctx");
    // In an included file, listener options before a `listener` line apply to
    // the default listener, and bridge options need their own `connection`.
    dir.write("a.conf", "max_connections 9\n");
    let c = parse(&format!(
        "listener 1884\nmax_connections 1\ninclude_dir {}\n",
        dir.path().display()
    ));
    assert_eq!(c.listeners[0].max_connections, 1);
    assert_eq!(c.listeners[1].max_connections, 9);
    assert!(c.listeners[1].is_default);

    let dir = TempDir::new("inc-bridge");
    dir.write("a.conf", "topic t\n");
    let e = parse_err(&format!(
        "connection b\naddress h\ntopic x\ninclude_dir {}\n",
        dir.path().display()
    ));
    assert_eq!(
        (e.line, e.reason.as_str()),
        (1, "Invalid bridge configuration.")
    );
}

#[test]
fn include_dir_in_an_included_file_is_ignored() {
    let dir = TempDir::new("inc-nested");
    dir.write("a.conf", "include_dir /nonexistent/dir\n");
    let c = parse(&format!("include_dir {}\n", dir.path().display()));
    let notes = notes_for(&c, "include_dir");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].kind, NoteKind::Notice);
    assert_eq!(c.include_dirs.len(), 1);
}

// ----- Notes -----

#[test]
fn removed_options_are_accepted_with_a_deprecation_note() {
    let c = parse(
        "retry_interval 20\nstore_clean_interval 10\ntrace_level 3 extra\n\
         trace_output protocol\nffdc_output x\nmax_log_entries 5\n",
    );
    let notes: Vec<_> = c
        .notes
        .iter()
        .map(|n| (n.option.as_str(), n.kind, n.line))
        .collect();
    assert_eq!(
        notes,
        vec![
            ("retry_interval", NoteKind::Deprecated, 1),
            ("store_clean_interval", NoteKind::Deprecated, 2),
            ("trace_level", NoteKind::Deprecated, 3),
            ("trace_output", NoteKind::Deprecated, 4),
            ("ffdc_output", NoteKind::Deprecated, 5),
            ("max_log_entries", NoteKind::Deprecated, 6),
        ]
    );
    assert!(c.notes[0].message.contains("retry_interval"));
}

#[test]
fn deprecated_but_working_options_are_noted() {
    let c = parse("port 1883\nbind_address 0.0.0.0\nallow_duplicate_messages true\n");
    let opts: Vec<_> = c
        .notes_of(NoteKind::Deprecated)
        .map(|n| n.option.as_str())
        .collect();
    assert_eq!(
        opts,
        vec!["port", "bind_address", "allow_duplicate_messages"]
    );
    assert_eq!(c.notes_of(NoteKind::NotYetActive).count(), 0);
}

#[test]
fn options_not_implemented_yet_are_noted() {
    let c = parse(
        "listener 1883\nprotocol mqtt\nlog_dest stderr\nlog_dest dlt\nmemory_limit 5\n\
         listener 9001\nprotocol websockets\nhttp_dir /var/www\nwebsockets_headers_size 2048\n\
         websockets_log_level 255\ntls_engine pkcs11\n",
    );
    let notes: Vec<_> = c
        .notes_of(NoteKind::NotYetActive)
        .map(|n| (n.option.as_str(), n.line))
        .collect();
    assert_eq!(notes, vec![("log_dest", 4), ("tls_engine", 11)]);
    let first = c
        .notes_of(NoteKind::NotYetActive)
        .next()
        .map(|n| n.message.clone());
    assert!(first.unwrap_or_default().contains("'log_dest dlt'"));
    assert!(is_active("listener", Some("1883")));
    assert!(is_active("max_inflight_bytes", Some("5")));
    assert!(is_active("check_retain_source", Some("true")));
    assert!(is_active("protocol", Some("mqtt")));
    assert!(is_active("protocol", Some("websockets")));
    assert!(is_active("http_dir", Some("/var/www")));
    assert!(is_active("websockets_headers_size", Some("2048")));
    assert!(is_active("websockets_log_level", Some("255")));
    assert!(is_active("log_dest", Some("file")));
    assert!(!is_active("log_dest", Some("dlt")));
    assert!(is_active("bridge_cafile", None));
    assert!(is_active("bridge_alpn", None));
    assert!(is_active("bridge_require_ocsp", None));
}

#[test]
fn note_display_includes_the_position() {
    let c = parse("log_dest dlt\n");
    let n = &c.notes[0];
    assert_eq!(n.to_string(), format!("{} (test.conf:1)", n.message));
}

#[test]
fn extra_arguments() {
    // Single-word options ignore what follows, like mosquitto.
    let c =
        parse("listener 1883 127.0.0.1 extra words\nsocket_domain ipv4 ipv6\nlog_dest stdout x\n");
    assert_eq!(c.listeners[0].bind_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(c.listeners[0].socket_domain, Some(SocketDomain::Ipv4));
    assert_eq!(c.log_dest, vec![LogDest::Stdout]);
    // Options that take the rest of the line refuse extra words.
    assert_err(
        "connection b\naddress h\ntopic t\nbridge_protocol_version mqttv311 now\n",
        4,
        "Invalid bridge_protocol_version value (mqttv311 now).",
    );
    assert_err(
        "listener 8883\ncertfile /c\nkeyfile /k\ntls_version tlsv1.2 only\n",
        1,
        "Unsupported tls_version \"tlsv1.2 only\"",
    );
    assert_err(
        "include_dir /nonexistent dir\n",
        1,
        "Unable to open include_dir '/nonexistent dir'.",
    );
    // ...and keep them for plain strings, as mosquitto does.
    assert_eq!(
        parse("acl_file /etc/acl # not a comment\n")
            .security
            .acl_file,
        Some(PathBuf::from("/etc/acl # not a comment"))
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    // Every valid line cut at every character, and pseudo-random bytes.
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for line in VALID_LINES
        .iter()
        .chain(SEED.lines().collect::<Vec<_>>().iter())
    {
        for (i, _) in line.char_indices() {
            inputs.push(format!("listener 1883\n{}\n", &line[..i]).into_bytes());
        }
    }
    let names: Vec<&str> = options::all().map(|o| o.name).collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let alphabet = b"ab01 #\t\r\n\"/+:-_.\xff\xc3";
    for _ in 0..2000 {
        let mut bytes = Vec::new();
        for _ in 0..(state % 40) {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bytes.push(alphabet[(state >> 33) as usize % alphabet.len()]);
        }
        let mut text = b"connection b\naddress h\n".to_vec();
        let opt = names[(state >> 40) as usize % names.len()];
        text.extend_from_slice(opt.as_bytes());
        text.push(b' ');
        text.extend_from_slice(&bytes);
        inputs.push(text);
    }
    for input in &inputs {
        // Either result is fine; returning at all is the test.
        let mut reader = parse::Reader::new();
        let result = reader
            .read_main_text(input, Path::new("f.conf"))
            .and_then(|()| check::finish(reader, &[], false));
        if let Err(e) = result {
            assert!(e.line > 0, "{e}");
        }
    }
}
