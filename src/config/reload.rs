//! SIGHUP: which settings a re-read configuration may change.
//!
//! As documented for mosquitto: the general options and the security
//! settings (global and per listener) are reloaded; listeners, bridges,
//! plugins, `pid_file` and `user` keep their start-up values, and a reload
//! may not add listeners.

use std::path::PathBuf;

use super::listener::{Listener, Security};
use super::{Config, ConfigError};

/// What identifies a listener across reloads.
fn endpoint(l: &Listener) -> (u16, Option<&str>, Option<&std::path::Path>) {
    (
        l.port,
        l.bind_address.as_deref(),
        l.unix_socket_path.as_deref(),
    )
}

/// The reloadable part of a security block; plugins stay as they were.
fn reload_security(running: &Security, new: &Security) -> Security {
    Security {
        plugins: running.plugins.clone(),
        ..new.clone()
    }
}

impl Config {
    /// The configuration to run with after SIGHUP: `self` (the running
    /// configuration) with every reloadable setting taken from `new` (the
    /// freshly read one, start-up rules applied). Fails, like mosquitto, when
    /// `new` defines a listener that is not running; the running
    /// configuration then stays in force.
    pub fn apply_reload(&self, new: Config) -> Result<Config, ConfigError> {
        for l in &new.listeners {
            if !self.listeners.iter().any(|r| endpoint(r) == endpoint(l)) {
                return Err(ConfigError::new(
                    PathBuf::new(),
                    0,
                    "It is not currently possible to add/remove listeners when reloading the \
                     config file.",
                ));
            }
        }
        let mut out = self.clone();
        for l in &mut out.listeners {
            if let Some(n) = new.listeners.iter().find(|n| endpoint(n) == endpoint(l)) {
                l.security = reload_security(&l.security, &n.security);
            }
        }
        out.security = reload_security(&self.security, &new.security);

        out.allow_duplicate_messages = new.allow_duplicate_messages;
        out.autosave_interval = new.autosave_interval;
        out.autosave_on_changes = new.autosave_on_changes;
        out.check_retain_source = new.check_retain_source;
        out.connect_timeout = new.connect_timeout;
        out.connection_messages = new.connection_messages;
        out.max_inflight_bytes = new.max_inflight_bytes;
        out.max_inflight_messages = new.max_inflight_messages;
        out.max_keepalive = new.max_keepalive;
        out.max_packet_size = new.max_packet_size;
        out.max_queued_bytes = new.max_queued_bytes;
        out.max_queued_messages = new.max_queued_messages;
        out.memory_limit = new.memory_limit;
        out.message_size_limit = new.message_size_limit;
        out.outgoing_topic_aliases = new.outgoing_topic_aliases;
        out.per_listener_settings = new.per_listener_settings;
        out.queue_qos0_messages = new.queue_qos0_messages;
        out.retain_available = new.retain_available;
        out.set_tcp_nodelay = new.set_tcp_nodelay;
        out.sys_interval = new.sys_interval;
        out.upgrade_outgoing_qos = new.upgrade_outgoing_qos;
        out.persistence = new.persistence;
        out.persistence_file = new.persistence_file;
        out.persistence_location = new.persistence_location;
        out.persistent_client_expiration = new.persistent_client_expiration;
        out.log_dest = new.log_dest;
        out.log_facility = new.log_facility;
        out.log_timestamp = new.log_timestamp;
        out.log_timestamp_format = new.log_timestamp_format;
        out.log_types = new.log_types;
        out.websockets_log_level = new.websockets_log_level;
        out.include_dirs = new.include_dirs;
        out.notes = new.notes;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        match Config::parse_str(text, "test.conf") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn reload_takes_general_and_security_settings_only() {
        let running = parse(
            "listener 1883\nmax_connections 5\npassword_file /a\nsys_interval 10\n\
             pid_file /run/a.pid\nplugin /p.so\nconnection b\naddress h\ntopic t\n",
        );
        let new = parse(
            "listener 1883\nmax_connections 50\npassword_file /b\nsys_interval 20\n\
             pid_file /run/b.pid\nlog_type all\npersistence true\ntls_engine pkcs11\n",
        );
        let new_notes = new.notes.clone();
        assert!(!new_notes.is_empty());
        let r = running.apply_reload(new).expect("reload");
        assert_eq!(r.sys_interval, 20);
        assert_eq!(r.security.password_file, Some(PathBuf::from("/b")));
        assert_eq!(r.security.plugins.len(), 1, "plugins are not reloaded");
        assert_eq!(r.log_types, crate::config::LogTypes::ALL);
        assert!(r.persistence);
        assert_eq!(
            r.listeners[0].max_connections, 5,
            "listeners are not reloaded"
        );
        assert_eq!(r.pid_file, Some(PathBuf::from("/run/a.pid")));
        assert_eq!(r.bridges.len(), 1, "bridges are not reloaded");
        assert_eq!(r.notes, new_notes, "the new file's notes");
    }

    #[test]
    fn reload_updates_per_listener_security() {
        let running = parse(
            "per_listener_settings true\nlistener 1883\nallow_anonymous true\n\
             listener 1884 127.0.0.1\n",
        );
        let new = parse(
            "per_listener_settings true\nlistener 1884 127.0.0.1\nacl_file /acl\n\
             listener 1883\n",
        );
        let r = running.apply_reload(new).expect("reload");
        assert_eq!(r.listeners[0].port, 1883);
        assert_eq!(r.listeners[0].security.allow_anonymous, Some(false));
        assert_eq!(
            r.listeners[1].security.acl_file,
            Some(PathBuf::from("/acl"))
        );
    }

    #[test]
    fn reload_refuses_new_listeners() {
        let running = parse("listener 1883\n");
        let e = running
            .apply_reload(parse("listener 1883\nlistener 1884\n"))
            .expect_err("new listener");
        assert!(e.reason.contains("add/remove listeners"));
        // Dropping one is tolerated (it keeps running), as in mosquitto.
        let running = parse("listener 1883\nlistener 1884\n");
        let r = running
            .apply_reload(parse("listener 1884\n"))
            .expect("reload");
        assert_eq!(r.listeners.len(), 2);
    }
}
