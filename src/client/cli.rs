//! What mosquitto_pub and mosquitto_sub share around the options: reading
//! the command line, answering `--help`/`--version`, refusing what this
//! build cannot do, building the CONNECT and reporting connection failures
//! with mosquitto's words and exit statuses.

use std::os::unix::ffi::OsStringExt;
use std::time::Duration;

use super::net::{OpenError, Target};
use super::options::{self, Config, ParseStop, Tool};
use super::session::{Session, SessionError};
use super::usage;
use crate::protocol::properties::{id, PropertyValue};
use crate::protocol::{Connect, ConnectReturnCode, ProtocolVersion, Will};
#[cfg(feature = "tls")]
use crate::tls::{TlsClientConfig, TlsClientOptions};
#[cfg(feature = "tls")]
use std::path::Path;

/// Print to stderr unless `--quiet`.
pub fn err(cfg: &Config, msg: &str) {
    if !cfg.quiet {
        eprint!("{msg}");
    }
}

/// The program's arguments as bytes (a payload need not be UTF-8).
pub fn args() -> Vec<Vec<u8>> {
    std::env::args_os().skip(1).map(|a| a.into_vec()).collect()
}

/// Parse the command line; on `--help`, `--version` or an error, print what
/// mosquitto prints and return the exit status instead.
pub fn load(tool: Tool, args: &[Vec<u8>]) -> Result<Config, i32> {
    let cfg = match options::parse(tool, args) {
        Ok(cfg) => cfg,
        Err(ParseStop::Help) => {
            out!("{}", usage::usage(tool));
            return Err(1);
        }
        Err(ParseStop::Version) => {
            outln!("{}", usage::version_line(tool));
            return Err(1);
        }
        Err(ParseStop::Error(msg)) => {
            eprint!("{msg}");
            eprintln!("\nUse '{} --help' to see usage.", tool.name());
            return Err(1);
        }
    };
    #[cfg(not(feature = "tls"))]
    if let Some(opt) = &cfg.tls.first {
        eprintln!(
            "Error: TLS support not available in this build of {}, option '{opt}' cannot be used.",
            tool.name()
        );
        return Err(1);
    }
    if let Some(opt) = &cfg.tls.unsupported {
        eprintln!(
            "Error: The '{opt}' option is not supported by this version of {}.",
            tool.name()
        );
        return Err(1);
    }
    if let Some(opt) = &cfg.unsupported {
        eprintln!(
            "Error: The '{opt}' option is not supported by this version of {}.",
            tool.name()
        );
        return Err(1);
    }
    Ok(cfg)
}

/// The client id to use: `-i`, or `-I` with our process id, or, for MQTT
/// 3.1, which requires one, `mosq-` and 18 random characters as libmosquitto
/// makes it; otherwise none (the broker assigns one).
pub fn client_id(cfg: &Config) -> String {
    match (&cfg.id, &cfg.id_prefix) {
        (Some(id), _) => id.clone(),
        (None, Some(prefix)) => format!("{prefix}{}", std::process::id()),
        (None, None) if cfg.protocol == ProtocolVersion::V31 => random_id(),
        (None, None) => String::new(),
    }
}

/// `mosq-` and 18 letters and digits from /dev/urandom (the clock if that
/// cannot be read).
fn random_id() -> String {
    const ALPHANUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = [0u8; 18];
    let read = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes));
    if read.is_err() {
        let mut x = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9E37_79B9, |d| d.as_nanos() as u64)
            | 1;
        for b in bytes.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
    }
    let mut id = String::from("mosq-");
    for b in bytes {
        let c = ALPHANUM
            .get(usize::from(b & 0x7F) % ALPHANUM.len())
            .copied()
            .unwrap_or(b'0');
        id.push(char::from(c));
    }
    id
}

fn connect_packet(cfg: &Config) -> Connect {
    let mut properties = cfg.props.connect.clone();
    if cfg.protocol == ProtocolVersion::V5
        && cfg.msg_count > 0
        && cfg.msg_count < 20
        && properties.get(id::RECEIVE_MAXIMUM).is_none()
    {
        // Receive maximum, so that no more than -C messages are in flight.
        properties.add(
            id::RECEIVE_MAXIMUM,
            PropertyValue::U16(cfg.msg_count as u16),
        );
    }
    Connect {
        protocol: cfg.protocol,
        bridge: false,
        clean_session: cfg.clean_session,
        keep_alive: cfg.keepalive,
        client_id: client_id(cfg),
        will: cfg.will.topic.as_ref().map(|topic| Will {
            topic: topic.clone(),
            payload: cfg.will.payload.clone().unwrap_or_default(),
            qos: cfg.will.qos,
            retain: cfg.will.retain,
            properties: cfg.props.will.clone(),
        }),
        username: cfg.username.clone(),
        // MQTT 3 allows a password only together with a user name.
        password: cfg
            .password
            .clone()
            .filter(|_| cfg.username.is_some() || cfg.protocol == ProtocolVersion::V5),
        properties,
    }
}

/// libmosquitto refuses MQTT 5 properties on a 3.x connection (`-D` then
/// `-V 311`) before it opens the socket; these are its messages.
fn refuse_v3_properties(cfg: &Config) -> Result<(), ConnectFailure> {
    if cfg.protocol == ProtocolVersion::V5 {
        return Ok(());
    }
    if cfg.will.topic.is_some() && !cfg.props.will.is_empty() {
        err(cfg, "Error: Problem setting will.\n");
        return Err(ConnectFailure::Failed(1));
    }
    if !cfg.props.connect.is_empty() {
        err(cfg, "Unable to connect (This feature is not supported.).\n");
        return Err(ConnectFailure::Failed(1));
    }
    Ok(())
}

/// Why `connect` gave up.
pub enum ConnectFailure {
    /// The broker answered with a refusal; the exit status is its code and
    /// the message has been printed.
    Refused(i32),
    /// No connection; the message has been printed.
    Failed(i32),
}

/// The TLS client context the options ask for, if any; an unusable option
/// or file is reported with mosquitto's words (and the detail with `-d`).
#[cfg(feature = "tls")]
fn tls_config(cfg: &Config) -> Result<Option<TlsClientConfig>, ConnectFailure> {
    let t = &cfg.tls;
    if cfg.unix_path.is_some() && t.enabled(None) {
        // libmosquitto would run TLS over the socket; ours cannot, and
        // dropping the encryption that was asked for is not an option.
        err(
            cfg,
            &format!(
                "Error: TLS over a unix socket (--unix) is not supported by this version of {}.\n",
                cfg.tool.name()
            ),
        );
        return Err(ConnectFailure::Failed(1));
    }
    if cfg.unix_path.is_some() || !t.enabled(cfg.port) {
        return Ok(None);
    }
    let has_ca = t.cafile.is_some() || t.capath.is_some();
    if has_ca {
        // libmosquitto checks the files exist before anything else.
        let missing = [&t.cafile, &t.certfile, &t.keyfile]
            .into_iter()
            .flatten()
            .any(|f| std::fs::File::open(f).is_err())
            || t.capath.as_ref().is_some_and(|d| !Path::new(d).is_dir());
        if missing {
            err(cfg, "Error: Problem setting TLS options: File not found.\n");
            return Err(ConnectFailure::Failed(1));
        }
    }
    if let Some(v) = &t.tls_version {
        if !matches!(v.as_str(), "tlsv1.3" | "tlsv1.2" | "tlsv1.1") {
            err(
                cfg,
                "Error: Problem setting TLS options, check the options are valid.\n",
            );
            return Err(ConnectFailure::Failed(1));
        }
    }
    if let Some(psk) = &t.psk {
        if !has_ca && crate::passwd::hex_to_key(psk).is_none() {
            err(cfg, "Error: Problem setting TLS-PSK options.\n");
            return Err(ConnectFailure::Failed(1));
        }
    }
    let opts = TlsClientOptions {
        // libmosquitto uses the PSK only when no CA is given.
        psk: t.psk.clone().filter(|_| !has_ca),
        use_os_certs: t.use_os_certs || (!has_ca && t.psk.is_none()),
        // mosquitto 2.0's clients have no OCSP option.
        ocsp_required: false,
        ..t.clone()
    };
    match TlsClientConfig::build(&opts) {
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            if cfg.debug {
                err(cfg, &format!("Error: {e}\n"));
            }
            err(cfg, "Unable to connect (A TLS error occurred.).\n");
            Err(ConnectFailure::Failed(1))
        }
    }
}

/// Connect to the broker and wait for its CONNACK. Gives up after the
/// keepalive interval, so an unreachable host or a silent server cannot
/// hang a script.
pub fn connect(cfg: &Config) -> Result<Session, ConnectFailure> {
    refuse_v3_properties(cfg)?;
    #[cfg(feature = "tls")]
    let tls = tls_config(cfg)?;
    if cfg.proxy.as_ref().is_some_and(|p| p.too_long()) {
        // libmosquitto refuses these settings and mosquitto's clients exit
        // without a word; so do we.
        return Err(ConnectFailure::Failed(1));
    }
    let target = Target {
        host: cfg.effective_host(),
        port: cfg.effective_port(),
        unix_path: cfg.unix_path.as_deref(),
        bind_address: cfg.bind_address.as_deref(),
        nodelay: cfg.nodelay,
        proxy: cfg.proxy.as_ref(),
        #[cfg(feature = "tls")]
        tls: tls.as_ref(),
    };
    let timeout = Duration::from_secs(u64::from(cfg.keepalive));
    match Session::connect(&target, &connect_packet(cfg), cfg.debug, timeout) {
        Ok((session, ack)) if ack.code == 0 => Ok(session),
        Ok((_, ack)) => {
            err(
                cfg,
                &format!("{}\n", refusal_message(cfg.tool, cfg.protocol, ack.code)),
            );
            Err(ConnectFailure::Refused(i32::from(ack.code)))
        }
        Err(e) => {
            if let (true, SessionError::Open(OpenError::Tls(detail))) = (cfg.debug, &e) {
                err(cfg, &format!("Error: {detail}\n"));
            }
            if let (Tool::Sub, SessionError::Open(OpenError::Tls(_))) = (cfg.tool, &e) {
                // mosquitto_sub reports it from its loop, with MOSQ_ERR_TLS.
                err(cfg, "Error: A TLS error occurred.\n");
                return Err(ConnectFailure::Failed(8));
            }
            err(cfg, &format!("{}\n", e.message()));
            Err(ConnectFailure::Failed(match e {
                SessionError::Open(e) => e.code(),
                SessionError::ConnectTimeout => 1,
                other => other.code(),
            }))
        }
    }
}

/// `Connection error: …` for a refusing CONNACK.
pub fn refusal_message(tool: Tool, version: ProtocolVersion, code: u8) -> String {
    if version == ProtocolVersion::V5 {
        if code == 0x84 && tool == Tool::Rr {
            format!(
                "Connection error: {}. mosquitto_rr only supports connecting to an MQTT v5 broker",
                reason_string(code)
            )
        } else if code == 0x84 {
            format!(
                "Connection error: {}. Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.",
                reason_string(code)
            )
        } else {
            format!("Connection error: {}", reason_string(code))
        }
    } else {
        format!("Connection error: {}", ConnectReturnCode::describe(code))
    }
}

/// MQTT 5 reason codes in words, as libmosquitto names them (the
/// protocol layer holds the one table).
pub fn reason_string(code: u8) -> &'static str {
    crate::protocol::ReasonCode(code).name()
}
