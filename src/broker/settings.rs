//! The broker's runtime view of its configuration: listener addresses
//! resolved and limits in the types the hot path uses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use super::database::Limits;
use super::security::SecurityPaths;
use crate::config::{Config, Listener, Protocol, SocketDomain};

/// Where a TLS client's username comes from, if not from CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsIdentity {
    /// `use_identity_as_username`: certificate CN or PSK identity.
    Identity,
    /// `use_subject_as_username`: the certificate subject.
    Subject,
}

/// A websockets listener's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebsocketSettings {
    /// `http_dir`: plain HTTP GETs are served from here.
    pub http_dir: Option<PathBuf>,
    /// `websockets_headers_size`: the longest request head accepted.
    pub headers_size: usize,
}

#[derive(Debug, Clone)]
pub struct ListenerSpec {
    /// Every address to bind for this listener (one per family for a
    /// listener without an address); empty for a unix socket listener.
    pub addrs: Vec<SocketAddr>,
    /// `listener 0 <path>`: a unix domain socket instead of TCP.
    pub unix_path: Option<PathBuf>,
    pub port: u16,
    /// `bind_interface`: bind the interface's own address of each family
    /// instead of the wildcard (or check the listener's address is its).
    pub bind_interface: Option<String>,
    /// The listener names an address (`listener PORT ADDRESS`).
    pub explicit_address: bool,
    /// -1: unlimited.
    pub max_connections: i32,
    pub mount_point: Option<String>,
    /// Highest QoS this listener's clients may use (0 to 2).
    pub max_qos: u8,
    /// `max_topic_alias`: topic aliases an MQTT 5 client may use towards us.
    pub max_topic_alias: u16,
    /// Security settings that apply to this listener's clients (global ones
    /// unless `per_listener_settings`).
    pub allow_anonymous: bool,
    pub allow_zero_length_clientid: bool,
    pub auto_id_prefix: String,
    /// Index into `Settings::security`: the password/ACL/PSK files for
    /// this listener's clients.
    pub security: usize,
    /// `use_username_as_clientid`.
    pub username_as_clientid: bool,
    /// TLS or TLS-PSK settings; None for plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::TlsServerOptions>,
    pub tls_identity: Option<TlsIdentity>,
    /// `protocol websockets`: MQTT over websockets, with these settings.
    pub websockets: Option<WebsocketSettings>,
    /// A listener whose feature is not available yet is kept in the list
    /// (so indexes match the config) but not opened; this says why.
    pub disabled: Option<String>,
}

impl ListenerSpec {
    /// A plain TCP listener with default settings (tests, `-p`).
    pub fn tcp(addrs: Vec<SocketAddr>, port: u16) -> ListenerSpec {
        ListenerSpec {
            addrs,
            unix_path: None,
            port,
            bind_interface: None,
            explicit_address: false,
            max_connections: -1,
            mount_point: None,
            max_qos: 2,
            max_topic_alias: 10,
            allow_anonymous: true,
            allow_zero_length_clientid: true,
            auto_id_prefix: "auto-".into(),
            security: 0,
            username_as_clientid: false,
            #[cfg(feature = "tls")]
            tls: None,
            tls_identity: None,
            websockets: None,
            disabled: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listeners: Vec<ListenerSpec>,
    /// Security file sets: one for the broker, or one per listener with
    /// `per_listener_settings true`.
    pub security: Vec<SecurityPaths>,
    /// Deprecated `clientid_prefixes`.
    pub clientid_prefixes: Option<String>,
    pub allow_duplicate_messages: bool,
    /// Ask the ACL again whether a retained message's publisher may still
    /// publish it before sending it to a new subscriber.
    pub check_retain_source: bool,
    pub upgrade_outgoing_qos: bool,
    /// Ours: topic aliases towards MQTT 5 clients that accept them.
    pub outgoing_topic_aliases: bool,
    pub limits: Limits,
    pub queue_qos0_messages: bool,
    /// 0: no limit.
    pub message_size_limit: usize,
    /// 0: no limit beyond the protocol's.
    pub max_packet_size: usize,
    /// 0: no limit.
    pub max_keepalive: u16,
    pub retain_available: bool,
    /// `memory_limit` in bytes; 0: none.
    pub memory_limit: u64,
    pub set_tcp_nodelay: bool,
    pub connection_messages: bool,
    pub persistent_client_expiration: Option<Duration>,
    /// Seconds between `$SYS` updates; 0 turns the tree off.
    pub sys_interval: u32,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
    /// The `connection` blocks.
    pub bridges: Vec<crate::config::Bridge>,
    /// `persistence true`: where and when to save.
    pub persistence: Option<super::PersistSettings>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listeners: Vec::new(),
            security: vec![SecurityPaths::default()],
            clientid_prefixes: None,
            allow_duplicate_messages: false,
            check_retain_source: false,
            upgrade_outgoing_qos: false,
            outgoing_topic_aliases: false,
            limits: Limits {
                max_inflight: 20,
                max_inflight_bytes: 0,
                max_queued: 1000,
                max_queued_bytes: 0,
            },
            queue_qos0_messages: false,
            message_size_limit: 0,
            max_packet_size: 0,
            max_keepalive: 0,
            retain_available: true,
            memory_limit: 0,
            set_tcp_nodelay: true,
            connection_messages: true,
            persistent_client_expiration: None,
            sys_interval: 10,
            connect_timeout: Duration::from_secs(10),
            persistence: None,
            bridges: Vec::new(),
        }
    }
}

/// The addresses a listener binds: its `bind_address` resolved (a host name
/// may give several), or the wildcard of each family `socket_domain` allows.
fn listener_addrs(l: &Listener) -> Result<Vec<SocketAddr>, String> {
    let family_ok = |a: &SocketAddr| match l.socket_domain {
        Some(SocketDomain::Ipv4) => a.is_ipv4(),
        Some(SocketDomain::Ipv6) => a.is_ipv6(),
        None => true,
    };
    let addrs: Vec<SocketAddr> = match &l.bind_address {
        Some(host) => (host.as_str(), l.port)
            .to_socket_addrs()
            .map_err(|e| format!("Unable to resolve bind address {host}: {e}"))?
            .collect(),
        None => vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), l.port),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), l.port),
        ],
    };
    let mut out: Vec<SocketAddr> = addrs.into_iter().filter(family_ok).collect();
    out.dedup();
    Ok(out)
}

/// Why a configured listener cannot be opened by this build yet (every
/// kind can be now; kept for features still to come).
fn unsupported(_l: &Listener) -> Option<String> {
    None
}

/// A websockets listener's settings; None for MQTT listeners.
fn websocket_settings(l: &Listener, cfg: &Config) -> Option<WebsocketSettings> {
    (l.protocol == Protocol::Websockets).then(|| WebsocketSettings {
        http_dir: l.http_dir.clone(),
        headers_size: match cfg.websockets_headers_size {
            0 => crate::protocol::websocket::handshake::DEFAULT_HEADERS_SIZE,
            n => usize::from(n),
        },
    })
}

fn security_paths(sec: &crate::config::Security) -> SecurityPaths {
    SecurityPaths {
        password_file: sec.password_file.clone(),
        acl_file: sec.acl_file.clone(),
        psk_file: sec.psk_file.clone(),
        plugins: sec.plugins.clone(),
    }
}

/// The TLS settings of a listener that asks for TLS or PSK. Without the
/// `tls` feature such a listener is an error: never plain text where
/// encryption was asked for.
#[cfg(feature = "tls")]
fn tls_options(
    l: &Listener,
    psk_file: bool,
) -> Result<Option<super::tls::TlsServerOptions>, String> {
    if !(l.uses_tls() || l.uses_psk()) {
        return Ok(None);
    }
    // The file's options, plus what the context needs from the listener.
    Ok(Some(super::tls::TlsServerOptions {
        port: l.port,
        psk_file_configured: psk_file,
        ..l.tls.clone()
    }))
}

/// TLS over a unix socket is not implemented: such a listener stops
/// start-up rather than serving plain text where encryption was asked for
/// (mosquitto would run TLS on it).
fn check_unix_without_tls(l: &Listener) -> Result<(), String> {
    match &l.unix_socket_path {
        Some(path) if l.has_tls_settings() => Err(format!(
            "the unix socket listener on {} has TLS or PSK options, but mosquitto-rs does \
             not support TLS on unix sockets; remove them (a unix socket is local to the host) \
             or use a TCP listener",
            path.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(not(feature = "tls"))]
fn check_no_tls(l: &Listener) -> Result<(), String> {
    if l.uses_tls() || l.uses_psk() {
        return Err(format!(
            "the listener on port {} needs TLS, but this build has no TLS support \
             (cargo feature `tls`)",
            l.port
        ));
    }
    Ok(())
}

impl Settings {
    pub fn from_config(cfg: &Config) -> Result<Settings, String> {
        let mut listeners = Vec::new();
        let mut security = vec![security_paths(&cfg.security)];
        for l in &cfg.listeners {
            let sec = cfg.security_for(l);
            let security_idx = if cfg.per_listener_settings {
                security.push(security_paths(sec));
                security.len() - 1
            } else {
                0
            };
            let disabled = unsupported(l);
            if disabled.is_none() {
                check_unix_without_tls(l)?;
            }
            #[cfg(not(feature = "tls"))]
            check_no_tls(l)?;
            let tls_identity = if l.tls.use_subject_as_username {
                Some(TlsIdentity::Subject)
            } else if l.tls.use_identity_as_username {
                Some(TlsIdentity::Identity)
            } else {
                None
            };
            let addrs = if disabled.is_some() || l.is_unix_socket() {
                Vec::new()
            } else {
                listener_addrs(l)?
            };
            listeners.push(ListenerSpec {
                addrs,
                unix_path: l.unix_socket_path.clone(),
                port: l.port,
                bind_interface: l.bind_interface.clone(),
                explicit_address: l.bind_address.is_some(),
                max_connections: l.max_connections,
                mount_point: l.mount_point.clone(),
                max_qos: l.max_qos.min(2),
                max_topic_alias: l.max_topic_alias,
                allow_anonymous: sec.allows_anonymous(),
                allow_zero_length_clientid: sec.allow_zero_length_clientid,
                auto_id_prefix: sec.auto_id_prefix().to_owned(),
                security: security_idx,
                username_as_clientid: l.use_username_as_clientid,
                #[cfg(feature = "tls")]
                tls: tls_options(l, sec.psk_file.is_some())?,
                tls_identity,
                websockets: websocket_settings(l, cfg),
                disabled,
            });
        }
        let zero_unlimited = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Ok(Settings {
            listeners,
            security,
            clientid_prefixes: cfg.security.clientid_prefixes.clone(),
            allow_duplicate_messages: cfg.allow_duplicate_messages,
            check_retain_source: cfg.check_retain_source,
            upgrade_outgoing_qos: cfg.upgrade_outgoing_qos,
            outgoing_topic_aliases: cfg.outgoing_topic_aliases,
            limits: Limits {
                max_inflight: usize::from(cfg.max_inflight_messages),
                max_inflight_bytes: zero_unlimited(cfg.max_inflight_bytes),
                max_queued: zero_unlimited(u64::from(cfg.max_queued_messages)),
                max_queued_bytes: zero_unlimited(cfg.max_queued_bytes),
            },
            queue_qos0_messages: cfg.queue_qos0_messages,
            message_size_limit: zero_unlimited(u64::from(cfg.message_size_limit)),
            max_packet_size: zero_unlimited(u64::from(cfg.max_packet_size)),
            max_keepalive: cfg.max_keepalive,
            retain_available: cfg.retain_available,
            memory_limit: cfg.memory_limit,
            set_tcp_nodelay: cfg.set_tcp_nodelay,
            connection_messages: cfg.connection_messages,
            persistent_client_expiration: cfg.persistent_client_expiration,
            sys_interval: cfg.sys_interval,
            connect_timeout: Duration::from_secs(u64::from(cfg.connect_timeout)),
            bridges: cfg.bridges.clone(),
            persistence: cfg.persistence.then(|| super::PersistSettings {
                path: cfg.persistence_filepath(),
                autosave_interval: cfg.autosave_interval,
                on_changes: cfg.autosave_on_changes,
                discard_corrupt: cfg.persistence_discard_corrupt,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_only_and_listener_blocks() {
        let cfg = Config::parse_str("", "t.conf").unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        let addrs: Vec<String> = s
            .listeners
            .iter()
            .flat_map(|l| l.addrs.iter().map(|a| a.to_string()))
            .collect();
        assert_eq!(addrs, ["127.0.0.1:1883", "[::1]:1883"]);
        assert!(s.listeners.iter().all(|l| l.allow_anonymous));

        let cfg = Config::parse_str(
            "listener 1884\nsocket_domain ipv4\nmount_point m/\nlistener 1885 127.0.0.1\n\
             max_queued_messages 0\nmax_inflight_messages 5\nmax_inflight_bytes 300\n",
            "t.conf",
        )
        .unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        assert_eq!(s.listeners[0].addrs, ["0.0.0.0:1884".parse().unwrap()]);
        assert_eq!(s.listeners[0].mount_point.as_deref(), Some("m/"));
        assert!(
            !s.listeners[0].allow_anonymous,
            "2.0 default with listeners"
        );
        assert_eq!(s.listeners[1].addrs, ["127.0.0.1:1885".parse().unwrap()]);
        assert_eq!(s.limits.max_queued, 0);
        assert_eq!(s.limits.max_inflight, 5);
        assert_eq!(s.limits.max_inflight_bytes, 300);
    }

    #[test]
    fn websockets_listeners_are_opened_with_their_settings() {
        let cfg = Config::parse_str(
            "listener 1883\nlistener 9001\nprotocol websockets\nhttp_dir /www\n\
             listener 9002\nprotocol websockets\n",
            "t.conf",
        )
        .unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        assert!(s.listeners.iter().all(|l| l.disabled.is_none()));
        assert_eq!(s.listeners[0].websockets, None);
        let ws = s.listeners[1].websockets.as_ref().unwrap();
        assert_eq!(ws.http_dir.as_deref(), Some(std::path::Path::new("/www")));
        assert_eq!(
            ws.headers_size, 4096,
            "0 or unset: libwebsockets 4's default"
        );
        assert_eq!(s.listeners[2].websockets.as_ref().unwrap().http_dir, None);
        let cfg = Config::parse_str(
            "websockets_headers_size 1024\nlistener 9001\nprotocol websockets\n",
            "t.conf",
        )
        .unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        assert_eq!(
            s.listeners[0].websockets.as_ref().unwrap().headers_size,
            1024
        );
    }

    #[test]
    fn unix_listeners_are_opened_without_tls() {
        let cfg =
            Config::parse_str("listener 0 /run/m.sock\nmax_connections 3\n", "t.conf").unwrap();
        let s = Settings::from_config(&cfg).unwrap();
        let l = &s.listeners[0];
        assert_eq!(
            l.unix_path.as_deref(),
            Some(std::path::Path::new("/run/m.sock"))
        );
        assert!(l.addrs.is_empty());
        assert_eq!(
            (l.port, l.max_connections, l.disabled.as_deref()),
            (0, 3, None)
        );

        for tls in ["psk_hint h", "cafile /ca.pem", "require_certificate true"] {
            let text = format!("listener 0 /run/m.sock\n{tls}\n");
            let cfg = Config::parse_str(&text, "t.conf").unwrap();
            let e = Settings::from_config(&cfg).unwrap_err();
            assert!(
                e.contains("does not support TLS on unix sockets"),
                "{tls}: {e}"
            );
        }
    }
}
