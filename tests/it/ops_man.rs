//! The man pages in `man/`: they render without a single groff or man
//! warning, and they document every option, command-line flag and signal a
//! mosquitto user expects to find there.
//!
//! groff and man are external tools: missing under CI (`CI=true`) is a
//! failure, elsewhere the rendering tests print a skip note.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use crate::harness::in_ci;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every man page in man/ (files whose extension is a section number).
fn man_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(repo().join("man"))
        .expect("man/ exists")
        .map(|e| e.expect("readable man/ entry").path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.len() == 1 && e.as_bytes()[0].is_ascii_digit())
        })
        .collect();
    pages.sort();
    pages
}

fn read(page: &str) -> String {
    fs::read_to_string(repo().join("man").join(page)).expect("man page readable")
}

/// True when `tool` can be run; panics under CI when it cannot.
fn have_tool(tool: &str) -> bool {
    if Command::new(tool).arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        !in_ci(),
        "{tool} is not installed; CI needs it (Debian: apt-get install groff-base man-db)"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

#[test]
fn the_broker_and_config_pages_exist() {
    let names: Vec<String> = man_pages()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["mosquitto.8", "mosquitto.conf.5"] {
        assert!(
            names.iter().any(|n| n == want),
            "man/{want} missing: {names:?}"
        );
    }
}

#[test]
fn every_man_page_renders_without_groff_warnings() {
    if !have_tool("groff") {
        return;
    }
    let pages = man_pages();
    assert!(!pages.is_empty());
    for page in &pages {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(page)
            .output()
            .expect("run groff");
        assert!(out.status.success(), "groff failed on {}", page.display());
        assert!(
            out.stderr.is_empty(),
            "groff -man -ww -z {} warns:\n{}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_man_page_formats_with_man_without_complaints() {
    if !have_tool("man") {
        return;
    }
    for page in &man_pages() {
        let out = Command::new("man")
            .arg("-l")
            .arg(page)
            .env("MANWIDTH", "80")
            .env_remove("MAN_KEEP_FORMATTING")
            .env_remove("MANPAGER")
            .env_remove("PAGER")
            .output()
            .expect("run man");
        assert!(out.status.success(), "man -l {} failed", page.display());
        assert!(
            out.stderr.is_empty(),
            "man -l {} complains:\n{}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        for section in ["NAME", "DESCRIPTION", "SEE ALSO"] {
            assert!(
                text.lines().any(|l| l.trim_end() == section),
                "{} has no {section} section",
                page.display()
            );
        }
    }
}

/// True when `page` has a tag line for `option`: `\fBoption\fP ...`
/// (or `.B option` / `.BR option ...`).
fn documents(page: &str, option: &str) -> bool {
    page.lines().any(|l| {
        l.starts_with(&format!("\\fB{option}\\fP"))
            || l == format!(".B {option}")
            || l.starts_with(&format!(".BR {option} "))
    })
}

/// Every option of mosquitto 2.0's mosquitto.conf(5), in its order.
const MOSQUITTO_2_0_OPTIONS: &[&str] = &[
    // General options
    "acl_file",
    "allow_anonymous",
    "allow_duplicate_messages",
    "allow_zero_length_clientid",
    "auth_plugin_deny_special_chars",
    "auto_id_prefix",
    "autosave_interval",
    "autosave_on_changes",
    "check_retain_source",
    "clientid_prefixes",
    "connection_messages",
    "include_dir",
    "log_dest",
    "log_facility",
    "log_timestamp",
    "log_timestamp_format",
    "log_type",
    "max_inflight_bytes",
    "max_inflight_messages",
    "max_keepalive",
    "max_packet_size",
    "max_queued_bytes",
    "max_queued_messages",
    "memory_limit",
    "message_size_limit",
    "password_file",
    "per_listener_settings",
    "persistence",
    "persistence_file",
    "persistence_location",
    "persistent_client_expiration",
    "pid_file",
    "plugin_opt_",
    "plugin",
    "psk_file",
    "queue_qos0_messages",
    "retain_available",
    "set_tcp_nodelay",
    "sys_interval",
    "upgrade_outgoing_qos",
    "user",
    // Listeners
    "bind_address",
    "bind_interface",
    "http_dir",
    "listener",
    "max_connections",
    "max_qos",
    "max_topic_alias",
    "mount_point",
    "port",
    "protocol",
    "socket_domain",
    "use_username_as_clientid",
    "websockets_log_level",
    "websockets_headers_size",
    // Certificate based TLS
    "cafile",
    "capath",
    "certfile",
    "ciphers",
    "ciphers_tls1.3",
    "crlfile",
    "dhparamfile",
    "keyfile",
    "require_certificate",
    "tls_engine",
    "tls_engine_kpass_sha1",
    "tls_keyform",
    "tls_version",
    "use_identity_as_username",
    "use_subject_as_username",
    // Pre-shared key based TLS
    "psk_hint",
    // Bridges
    "address",
    "bridge_attempt_unsubscribe",
    "bridge_bind_address",
    "bridge_max_packet_size",
    "bridge_outgoing_retain",
    "bridge_protocol_version",
    "cleansession",
    "local_cleansession",
    "connection",
    "keepalive_interval",
    "idle_timeout",
    "local_clientid",
    "local_password",
    "local_username",
    "notifications",
    "notifications_local_only",
    "notification_topic",
    "remote_clientid",
    "remote_password",
    "remote_username",
    "restart_timeout",
    "round_robin",
    "start_type",
    "threshold",
    "topic",
    "try_private",
    // Bridge TLS
    "bridge_alpn",
    "bridge_cafile",
    "bridge_capath",
    "bridge_certfile",
    "bridge_identity",
    "bridge_insecure",
    "bridge_keyfile",
    "bridge_psk",
    "bridge_require_ocsp",
    "bridge_tls_version",
];

#[test]
fn config_page_documents_every_mosquitto_2_0_option() {
    let page = read("mosquitto.conf.5");
    let missing: Vec<&str> = MOSQUITTO_2_0_OPTIONS
        .iter()
        .copied()
        .filter(|o| !documents(&page, o))
        .collect();
    assert!(missing.is_empty(), "mosquitto.conf.5 lacks: {missing:?}");
    // Old names that mosquitto still accepts are mentioned too.
    for alias in ["addresses", "auth_plugin", "auth_opt_", "clientid"] {
        assert!(
            page.contains(alias),
            "mosquitto.conf.5 never mentions {alias}"
        );
    }
}

#[test]
fn config_page_documents_every_option_of_the_default_config() {
    // conf/mosquitto.conf shows each option as "#name value" (comments
    // proper start with "# ").
    let conf = fs::read_to_string(repo().join("conf/mosquitto.conf")).expect("default config");
    let page = read("mosquitto.conf.5");
    let mut seen = 0;
    for line in conf.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.".contains(*c))
            .collect();
        if name.is_empty() || !rest.starts_with(|c: char| c.is_ascii_lowercase()) {
            continue;
        }
        seen += 1;
        assert!(documents(&page, &name), "mosquitto.conf.5 lacks {name}");
    }
    assert!(
        seen > 100,
        "only {seen} options found in conf/mosquitto.conf"
    );
}

#[test]
fn config_page_has_the_compatibility_notes() {
    let page = read("mosquitto.conf.5");
    let compat = page
        .split(".SH COMPATIBILITY")
        .nth(1)
        .expect("a COMPATIBILITY section");
    for word in [
        "certfile",
        "keyfile",
        "store_clean_interval",
        "retry_interval",
        "trace_level",
    ] {
        assert!(
            compat.contains(word),
            "COMPATIBILITY does not mention {word}"
        );
    }
}

#[test]
fn broker_page_documents_command_line_signals_and_files() {
    let page = read("mosquitto.8");
    for flag in [
        "\\-c",
        "\\-d",
        "\\-h",
        "\\-p",
        "\\-v",
        "\\-\\-test\\-config",
        "\\-\\-config\\-file",
        "\\-\\-daemon",
    ] {
        assert!(page.contains(flag), "mosquitto.8 lacks {flag}");
    }
    for signal in ["SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM"] {
        assert!(
            page.lines()
                .any(|l| l.starts_with(".B") && l.contains(signal)),
            "mosquitto.8 has no entry for {signal}"
        );
    }
    for file in [
        "/etc/mosquitto/mosquitto.conf",
        "/etc/rc.d/init.d/mosquitto",
        "/etc/sysconfig/mosquitto",
        "/var/lib/mosquitto/mosquitto.db",
    ] {
        assert!(page.contains(file), "mosquitto.8 does not mention {file}");
    }
}
