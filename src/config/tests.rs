//! Tests of the configuration reader.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const SEED: &str = include_str!("testdata/seed.conf");
const SHIPPED: &str = include_str!("../../conf/mosquitto.conf");

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
    // persistence is not implemented yet: one note, nothing else.
    let notes: Vec<_> = c.notes_of(NoteKind::NotYetActive).collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0].option, "persistence");
    assert_eq!(notes[0].line, 75);
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
    for opt in ALL_OPTIONS {
        assert!(
            documented.contains(opt),
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
    "check_retain_source true",
    "clientid_prefixes secure-",
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

/// Every option name the parser accepts (canonical names; aliases too).
const ALL_OPTIONS: &[&str] = &[
    "acl_file",
    "address",
    "allow_anonymous",
    "allow_duplicate_messages",
    "allow_zero_length_clientid",
    "auth_plugin_deny_special_chars",
    "auto_id_prefix",
    "autosave_interval",
    "autosave_on_changes",
    "bind_address",
    "bind_interface",
    "bridge_alpn",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_identity",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_max_packet_size",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "bridge_psk",
    "bridge_require_ocsp",
    "bridge_tls_version",
    "cafile",
    "capath",
    "certfile",
    "check_retain_source",
    "ciphers",
    "ciphers_tls1.3",
    "cleansession",
    "clientid_prefixes",
    "connection",
    "connection_messages",
    "crlfile",
    "dhparamfile",
    "http_dir",
    "idle_timeout",
    "include_dir",
    "keepalive_interval",
    "keyfile",
    "listener",
    "local_cleansession",
    "local_clientid",
    "local_password",
    "local_username",
    "log_dest",
    "log_facility",
    "log_timestamp",
    "log_timestamp_format",
    "log_type",
    "max_connections",
    "max_inflight_bytes",
    "max_inflight_messages",
    "max_keepalive",
    "max_packet_size",
    "max_qos",
    "max_queued_bytes",
    "max_queued_messages",
    "max_topic_alias",
    "memory_limit",
    "message_size_limit",
    "mount_point",
    "notification_topic",
    "notifications",
    "notifications_local_only",
    "password_file",
    "per_listener_settings",
    "persistence",
    "persistence_file",
    "persistence_location",
    "persistent_client_expiration",
    "pid_file",
    "plugin",
    "plugin_opt_*",
    "port",
    "protocol",
    "psk_file",
    "psk_hint",
    "queue_qos0_messages",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "require_certificate",
    "restart_timeout",
    "retain_available",
    "round_robin",
    "set_tcp_nodelay",
    "socket_domain",
    "start_type",
    "sys_interval",
    "threshold",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "topic",
    "try_private",
    "upgrade_outgoing_qos",
    "use_identity_as_username",
    "use_subject_as_username",
    "use_username_as_clientid",
    "user",
    "websockets_headers_size",
    "websockets_log_level",
];

#[test]
fn every_option_parses_with_a_valid_value() {
    let text = VALID_LINES.join("\n");
    let c = parse(&text);
    // Spot checks across the groups.
    assert!(c.allow_duplicate_messages);
    assert_eq!(c.autosave_interval, 60);
    assert!(c.check_retain_source);
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
    assert_eq!(l.tls_keyform, KeyForm::Engine);
    assert_eq!(l.tls_version.as_deref(), Some("tlsv1.3"));
    assert_eq!(l.ciphers_tls13.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert!(l.require_certificate && l.use_identity_as_username && l.use_subject_as_username);
    assert_eq!(c.listeners[1].port, 1886);
    assert_eq!(c.listeners[1].psk_hint.as_deref(), Some("hint one"));
    let d = &c.listeners[2];
    assert!(d.is_default);
    assert_eq!(d.port, 1884);
    assert_eq!(d.bind_address.as_deref(), Some("127.0.0.1"));

    // Bridges.
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
    assert!(!b.attempt_unsubscribe && b.insecure && b.require_ocsp && !b.outgoing_retain);
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

#[test]
fn every_option_is_in_the_option_list() {
    // Each VALID_LINES option is listed in ALL_OPTIONS (after alias mapping),
    // so the documentation test above covers them all.
    for line in VALID_LINES {
        let opt = line.split(' ').next().unwrap_or("");
        let canonical = match opt {
            "auth_plugin" => "plugin",
            "retained_persistence" => "persistence",
            "maximum_qos" => "max_qos",
            "clientid" => "remote_clientid",
            "username" => "remote_username",
            "password" => "remote_password",
            "addresses" => "address",
            o if o.starts_with("plugin_opt_") || o.starts_with("auth_opt_") => "plugin_opt_*",
            o => o,
        };
        assert!(ALL_OPTIONS.contains(&canonical), "{opt}");
    }
}
