//! Command-line options shared by mosquitto_pub and mosquitto_sub.
//!
//! The parser walks the arguments the way mosquitto's clients do: options are
//! matched whole (no bundling of `-rq1`), each option that takes a value takes
//! the next argument whatever it looks like, numbers are read like C's `atoi`
//! (so scripts that relied on `-q ''` meaning 0 keep working), and the same
//! parser reads the per-user defaults file (`~/.config/mosquitto_pub`).
//! Every error message matches mosquitto's so that wrappers which match on
//! them keep working.

use std::path::PathBuf;
use std::time::Duration;

use super::props::{self, CliProperties};
use super::socks::{self, ProxyUrl};
use crate::protocol::topic::{valid_topic_filter, valid_topic_name};
use crate::protocol::{ProtocolVersion, QoS};
use crate::tls::TlsClientOptions;

/// Which tool is parsing: some options belong to only one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Pub,
    Sub,
    /// mosquitto_rr: a request (pub's message options), one response
    /// printed with sub's output options.
    Rr,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Pub => "mosquitto_pub",
            Tool::Sub => "mosquitto_sub",
            Tool::Rr => "mosquitto_rr",
        }
    }
}

/// Where mosquitto_pub takes its message from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PubMode {
    #[default]
    None,
    /// `-m`: the argument itself.
    Message(Vec<u8>),
    /// `-f`: a whole file.
    File(PathBuf),
    /// `-s`: all of standard input as one message.
    StdinWhole,
    /// `-l`: one message per line of standard input.
    StdinLines,
    /// `-n`: an empty message.
    Null,
}

/// The client's Will, from the `--will-*` options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillOptions {
    pub topic: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub qos: QoS,
    pub retain: bool,
}

/// Everything the command line and the defaults file set.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub tool: Tool,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `--unix`: a socket path instead of host and port.
    pub unix_path: Option<String>,
    pub bind_address: Option<String>,
    pub id: Option<String>,
    pub id_prefix: Option<String>,
    pub keepalive: u16,
    pub clean_session: bool,
    pub qos: QoS,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub will: WillOptions,
    pub protocol: ProtocolVersion,
    /// `-x`, in seconds; `None` when not given.
    pub session_expiry: Option<u32>,
    pub debug: bool,
    pub quiet: bool,
    pub max_inflight: u16,
    pub nodelay: bool,
    /// The TLS options (`--cafile`, `--psk`, …), as given. They are parsed
    /// in every build; a build without the `tls` feature refuses them as
    /// unavailable rather than unknown.
    pub tls: TlsClientOptions,
    /// An option this build accepts but cannot honour (none today).
    pub unsupported: Option<String>,
    /// `-D`: MQTT 5 properties for each packet.
    pub props: CliProperties,
    /// `--proxy`: connect through this SOCKS5 proxy.
    pub proxy: Option<ProxyUrl>,

    // mosquitto_pub
    pub topic: Option<String>,
    pub pub_mode: PubMode,
    pub retain: bool,
    pub repeat_count: u32,
    pub repeat_delay: Duration,

    // mosquitto_sub
    pub topics: Vec<String>,
    pub filter_outs: Vec<String>,
    pub unsub_topics: Vec<String>,
    pub verbose: bool,
    pub eol: bool,
    pub msg_count: u32,
    pub timeout: Option<u32>,
    pub no_retain: bool,
    pub retained_only: bool,
    pub remove_retained: bool,
    pub exit_after_sub: bool,
    pub retain_as_published: bool,
    /// `--nolocal` (ours): MQTT 5's no-local subscription option.
    pub no_local: bool,
    /// `--retain-handling 0|1|2` (ours): MQTT 5's retain handling.
    pub retain_handling: Option<u8>,
    pub format: Option<String>,
    pub pretty: bool,
    /// Chance of printing a message, in hundredths of a percent (10000 = all).
    pub random_filter: u32,

    // mosquitto_rr
    /// `-e`: where the response is expected.
    pub response_topic: Option<String>,
}

impl Config {
    pub fn new(tool: Tool) -> Config {
        Config {
            tool,
            host: None,
            port: None,
            unix_path: None,
            bind_address: None,
            id: None,
            id_prefix: None,
            keepalive: 60,
            clean_session: true,
            qos: QoS::AtMostOnce,
            username: None,
            password: None,
            will: WillOptions::default(),
            // mosquitto_rr is for MQTT 5's request/response.
            protocol: if tool == Tool::Rr {
                ProtocolVersion::V5
            } else {
                ProtocolVersion::V311
            },
            session_expiry: None,
            debug: false,
            quiet: false,
            max_inflight: 20,
            nodelay: false,
            tls: TlsClientOptions::default(),
            unsupported: None,
            props: CliProperties::default(),
            proxy: None,
            topic: None,
            pub_mode: PubMode::None,
            retain: false,
            repeat_count: 1,
            repeat_delay: Duration::ZERO,
            topics: Vec::new(),
            filter_outs: Vec::new(),
            unsub_topics: Vec::new(),
            verbose: false,
            eol: true,
            msg_count: u32::from(tool == Tool::Rr),
            timeout: None,
            no_retain: false,
            retained_only: false,
            remove_retained: false,
            exit_after_sub: false,
            retain_as_published: false,
            no_local: false,
            retain_handling: None,
            format: None,
            pretty: false,
            random_filter: 10000,
            response_topic: None,
        }
    }

    /// The port to connect to: the one given, or MQTT's default (8883 when
    /// a CA or a PSK is given, as mosquitto's clients do).
    pub fn effective_port(&self) -> u16 {
        let tls = self.tls.cafile.is_some() || self.tls.capath.is_some() || self.tls.psk.is_some();
        self.port.unwrap_or(if tls { 8883 } else { 1883 })
    }

    pub fn effective_host(&self) -> &str {
        self.host.as_deref().unwrap_or("localhost")
    }
}

/// Why parsing stopped without a usable configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseStop {
    /// `--help`.
    Help,
    /// `--version`.
    Version,
    /// A bad option; the text is the complete message for stderr, ending in
    /// the newlines mosquitto prints before its "Use --help" hint.
    Error(String),
}

fn err<T>(msg: impl Into<String>) -> Result<T, ParseStop> {
    Err(ParseStop::Error(msg.into()))
}

/// C's `atoi`: leading blanks, an optional sign, then digits; anything else
/// ends the number, and no digits at all is 0. Saturates instead of
/// overflowing.
pub fn atoi(s: &str) -> i64 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut v: i64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(i64::from(b - b'0'));
    }
    if neg {
        -v
    } else {
        v
    }
}

/// C's `atof`, enough for `--repeat-delay` and `--random-filter`: the longest
/// leading decimal number, or 0.
pub fn atof(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let bytes = t.as_bytes();
    let mut seen_dot = false;
    let mut seen_digit = false;
    for (i, &b) in bytes.iter().enumerate() {
        let ok = match b {
            b'+' | b'-' => i == 0,
            b'.' if !seen_dot => {
                seen_dot = true;
                true
            }
            b'0'..=b'9' => {
                seen_digit = true;
                true
            }
            _ => false,
        };
        if !ok {
            break;
        }
        end = i + 1;
    }
    if !seen_digit {
        return 0.0;
    }
    t.get(..end).and_then(|n| n.parse().ok()).unwrap_or(0.0)
}

/// Parse the whole command line (without the program name), after first
/// reading the user's defaults file if there is one.
pub fn parse(tool: Tool, args: &[Vec<u8>]) -> Result<Config, ParseStop> {
    let mut cfg = Config::new(tool);
    if let Some(path) = defaults_file(tool) {
        if let Ok(text) = std::fs::read_to_string(&path) {
            for line in text.lines() {
                if line.starts_with('#') {
                    continue;
                }
                let line = line.trim_end_matches(['\r', '\n']);
                let line = line.trim_start_matches(' ');
                if line.is_empty() {
                    continue;
                }
                let words: Vec<Vec<u8>> = match line.split_once(' ') {
                    Some((opt, rest)) => {
                        let rest = rest.trim_start_matches(' ');
                        if rest.is_empty() {
                            vec![opt.into()]
                        } else {
                            vec![opt.into(), rest.into()]
                        }
                    }
                    None => vec![line.into()],
                };
                parse_args(&mut cfg, &words)?;
            }
        }
    }
    parse_args(&mut cfg, args)?;
    check(&mut cfg)?;
    Ok(cfg)
}

/// `$XDG_CONFIG_HOME/<tool>` or `$HOME/.config/<tool>`, as mosquitto uses.
fn defaults_file(tool: Tool) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME") {
        let mut p = PathBuf::from(dir);
        p.push(tool.name());
        return Some(p);
    }
    let mut p = PathBuf::from(std::env::var_os("HOME")?);
    p.push(".config");
    p.push(tool.name());
    Some(p)
}

/// Cross-option rules checked once everything is read.
fn check(cfg: &mut Config) -> Result<(), ParseStop> {
    if cfg.will.payload.is_some() && cfg.will.topic.is_none() {
        return err("Error: Will payload given, but no will topic given.\n");
    }
    if cfg.will.retain && cfg.will.topic.is_none() {
        return err("Error: Will retain given, but no will topic given.\n");
    }
    if cfg.protocol == ProtocolVersion::V5 {
        if !cfg.clean_session && cfg.session_expiry.is_none() {
            cfg.session_expiry = Some(u32::MAX);
        }
        if cfg.session_expiry == Some(u32::MAX) && (cfg.id_prefix.is_some() || cfg.id.is_none()) {
            return err("Error: You must provide a client id if you are using an infinite session expiry interval.\n");
        }
        if let Some(expiry) = cfg.session_expiry.filter(|e| *e > 0) {
            cfg.props.connect.add(
                crate::protocol::properties::id::SESSION_EXPIRY_INTERVAL,
                crate::protocol::PropertyValue::U32(expiry),
            );
        }
    } else if !cfg.clean_session && (cfg.id_prefix.is_some() || cfg.id.is_none()) {
        return err("Error: You must provide a client id if you are using the -c option.\n");
    }
    if cfg.tool == Tool::Sub && cfg.topics.is_empty() {
        return err("Error: You must specify a topic to subscribe to.\n");
    }
    check_tls(&cfg.tls)?;
    match cfg.props.check() {
        // err_printf: --quiet silences it.
        Err(_) if cfg.quiet => err(""),
        Err(msg) => err(msg),
        Ok(()) => Ok(()),
    }
}

/// mosquitto's checks of the TLS options, with its messages.
fn check_tls(t: &TlsClientOptions) -> Result<(), ParseStop> {
    if t.certfile.is_some() != t.keyfile.is_some() {
        return err("Error: Both certfile and keyfile must be provided if one of them is set.\n");
    }
    if t.keyform.is_some() && t.keyfile.is_none() {
        return err("Error: If keyform is set, keyfile must be also specified.\n");
    }
    if (t.cafile.is_some() || t.capath.is_some()) && t.psk.is_some() {
        return err("Error: Only one of --psk or --cafile/--capath may be used at once.\n");
    }
    if t.psk.is_some() && t.psk_identity.is_none() {
        return err("Error: --psk-identity required if --psk used.\n");
    }
    Ok(())
}

/// Whether a string fits in an MQTT string field and follows mosquitto's
/// character rules (the codec's).
pub fn valid_mqtt_utf8(s: &str) -> bool {
    s.len() <= 65535 && crate::protocol::valid_mqtt_string(s)
}

fn add_topic(cfg: &mut Config, topic: &str, arg: &str) -> Result<(), ParseStop> {
    if !valid_mqtt_utf8(topic) {
        return err(format!("Error: Malformed UTF-8 in {arg} argument.\n\n"));
    }
    match cfg.tool {
        Tool::Pub | Tool::Rr => {
            if !valid_topic_name(topic) {
                return err(format!(
                    "Error: Invalid publish topic '{topic}', does it contain '+' or '#'?\n"
                ));
            }
            cfg.topic = Some(topic.to_owned());
        }
        Tool::Sub => {
            if !valid_topic_filter(topic) {
                return err(format!(
                    "Error: Invalid subscription topic '{topic}', are all '+' and '#' wildcards correct?\n"
                ));
            }
            cfg.topics.push(topic.to_owned());
        }
    }
    Ok(())
}

/// Parse `-L mqtt://[user[:password]@]host[:port]/topic`.
fn parse_url(cfg: &mut Config, url: &str) -> Result<(), ParseStop> {
    let lower = url.to_ascii_lowercase();
    let rest = if lower.starts_with("mqtt://") {
        cfg.port = Some(1883);
        &url[7..]
    } else if lower.starts_with("mqtts://") {
        if cfg!(not(feature = "tls")) {
            return err("Error: TLS support not available.\n\n");
        }
        cfg.port = Some(8883);
        cfg.tls.use_os_certs = true;
        cfg.tls.first.get_or_insert_with(|| "mqtts://".to_owned());
        &url[8..]
    } else {
        return err("Error: unsupported URL scheme.\n\n");
    };
    let Some((authority, topic)) = rest.split_once('/') else {
        return err("Error: Invalid URL for -L argument specified - topic missing.\n");
    };
    add_topic(cfg, topic, "-L topic")?;
    let hostport = match authority.split_once('@') {
        Some((userinfo, hostport)) => {
            match userinfo.split_once(':') {
                Some((user, pass)) => {
                    cfg.username = Some(user.to_owned());
                    cfg.password = Some(pass.as_bytes().to_vec());
                }
                None => cfg.username = Some(userinfo.to_owned()),
            }
            hostport
        }
        None => authority,
    };
    match hostport.split_once(':') {
        Some((host, port)) => {
            cfg.host = Some(host.to_owned());
            cfg.port = Some(port_from(atoi(port))?);
        }
        None => cfg.host = Some(hostport.to_owned()),
    }
    Ok(())
}

fn port_from(v: i64) -> Result<u16, ParseStop> {
    u16::try_from(v).or_else(|_| err(format!("Error: Invalid port given: {v}\n")))
}

fn qos_from(v: i64, what: &str) -> Result<QoS, ParseStop> {
    match u8::try_from(v).ok().and_then(QoS::from_u8) {
        Some(q) => Ok(q),
        None if what == "will" => err(format!("Error: Invalid will QoS {v}.\n\n")),
        None => err(format!("Error: Invalid QoS given: {v}\n")),
    }
}

const TLS_VALUE_OPTIONS: &[(&str, &str)] = &[
    ("--cafile", "file"),
    ("--capath", "directory"),
    ("--cert", "file"),
    ("--key", "file"),
    ("--ciphers", "ciphers"),
    ("--tls-version", "version"),
    ("--tls-alpn", "protocol"),
    ("--tls-engine", "engine_id"),
    ("--tls-engine-kpass-sha1", "kpass sha1"),
    ("--keyform", "keyform"),
    ("--psk", "key"),
    ("--psk-identity", "identity"),
];

/// Store the value of one of `TLS_VALUE_OPTIONS`.
fn set_tls_value(t: &mut TlsClientOptions, opt: &str, v: String) {
    match opt {
        "--cafile" => t.cafile = Some(v.into()),
        "--capath" => t.capath = Some(v.into()),
        "--cert" => t.certfile = Some(v.into()),
        "--key" => t.keyfile = Some(v.into()),
        "--ciphers" => t.ciphers = Some(v),
        "--tls-version" => t.tls_version = Some(v),
        "--psk" => t.psk = Some(v),
        "--psk-identity" => t.psk_identity = Some(v),
        "--tls-alpn" => t.alpn = Some(v),
        "--keyform" => {
            if v != "pem" {
                t.unsupported
                    .get_or_insert_with(|| format!("--keyform {v}"));
            }
            t.keyform = Some(v);
        }
        _ => {
            t.unsupported.get_or_insert_with(|| opt.to_owned());
        }
    }
}

/// An option from the command line and the argument after it, which is its
/// value if it takes one.
struct OptArg<'a> {
    opt: &'a str,
    next: Option<&'a [u8]>,
}

impl<'a> OptArg<'a> {
    /// The value as bytes, with mosquitto's message when it is missing.
    fn raw(&self, what: &str) -> Result<&'a [u8], ParseStop> {
        match self.next {
            Some(v) => Ok(v),
            None => err(format!(
                "Error: {} argument given but no {what} specified.\n\n",
                self.opt
            )),
        }
    }

    /// The value as text; invalid UTF-8 is replaced, as it only matters
    /// for topics, which `utf8_value` checks strictly.
    fn value(&self, what: &str) -> Result<String, ParseStop> {
        self.raw(what)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// A topic or URL value, which must be valid MQTT UTF-8 (`arg` names the
    /// option in the message).
    fn utf8_value(&self, what: &str, arg: &str) -> Result<String, ParseStop> {
        match std::str::from_utf8(self.raw(what)?) {
            Ok(s) if valid_mqtt_utf8(s) => Ok(s.to_owned()),
            _ => err(format!("Error: Malformed UTF-8 in {arg} argument.\n\n")),
        }
    }
}

/// Arguments an option uses: itself alone, or itself and its value.
const FLAG: usize = 1;
const WITH_VALUE: usize = 2;

/// How many arguments an option used, or `None` when the group does not
/// know it.
type Used = Result<Option<usize>, ParseStop>;

/// Which tools an option belongs to (a set of these bits).
const PUB: u8 = 1;
const SUB: u8 = 2;
const RR: u8 = 4;
const ALL: u8 = PUB | SUB | RR;

impl Tool {
    fn bit(self) -> u8 {
        match self {
            Tool::Pub => PUB,
            Tool::Sub => SUB,
            Tool::Rr => RR,
        }
    }
}

/// Options without a value that only switch a setting, with the tools they
/// belong to.
type Switch = (&'static [&'static str], u8, fn(&mut Config));
const SWITCHES: &[Switch] = &[
    (&["-c", "--disable-clean-session"], ALL, |c| {
        c.clean_session = false
    }),
    (&["-d", "--debug"], ALL, |c| c.debug = true),
    (&["--nodelay"], ALL, |c| c.nodelay = true),
    (&["--quiet"], ALL, |c| c.quiet = true),
    (&["--will-retain"], ALL, |c| c.will.retain = true),
    (&["-r", "--retain"], PUB, |c| c.retain = true),
    (&["-E"], SUB, |c| c.exit_after_sub = true),
    (&["-N"], SUB | RR, |c| c.eol = false),
    (&["--pretty"], SUB | RR, |c| c.pretty = true),
    (&["-R"], SUB | RR, |c| c.no_retain = true),
    (&["--remove-retained"], SUB, |c| c.remove_retained = true),
    (&["--retain-as-published"], SUB | RR, |c| {
        c.retain_as_published = true
    }),
    (&["--retained-only"], SUB, |c| c.retained_only = true),
    (&["-v", "--verbose"], SUB | RR, |c| c.verbose = true),
    (&["--nolocal"], SUB, |c| c.no_local = true),
];

/// Parse one list of arguments into `cfg`.
pub fn parse_args(cfg: &mut Config, args: &[Vec<u8>]) -> Result<(), ParseStop> {
    let mut i = 0;
    while let Some(opt_raw) = args.get(i) {
        let opt_text = String::from_utf8_lossy(opt_raw);
        if opt_text == "-D" || opt_text == "--property" {
            let rest = args.get(i + 1..).unwrap_or_default();
            i += FLAG + props::parse(&mut cfg.props, rest)?;
            // As mosquitto: a property makes the client speak MQTT 5.
            cfg.protocol = ProtocolVersion::V5;
            continue;
        }
        let arg = OptArg {
            opt: opt_text.as_ref(),
            next: args.get(i + 1).map(Vec::as_slice),
        };
        i += parse_option(cfg, &arg)?;
    }
    Ok(())
}

/// Apply one option; returns how many arguments it used. Each option is
/// known to one group only, so the order of the groups does not matter.
fn parse_option(cfg: &mut Config, a: &OptArg) -> Result<usize, ParseStop> {
    let tool = cfg.tool;
    if let Some((_, _, set)) = SWITCHES
        .iter()
        .find(|(names, tools, _)| names.contains(&a.opt) && tools & tool.bit() != 0)
    {
        set(cfg);
        return Ok(FLAG);
    }
    let tool_option: fn(&mut Config, &OptArg) -> Used = match tool {
        Tool::Pub => pub_option,
        Tool::Sub => sub_option,
        Tool::Rr => rr_option,
    };
    for group in [
        tool_option,
        connection_option,
        client_option,
        will_option,
        tls_option,
    ] {
        if let Some(used) = group(cfg, a)? {
            return Ok(used);
        }
    }
    err(format!("Error: Unknown option '{}'.\n", a.opt))
}

/// Where and how to connect: address, port, URL, proxy, credentials,
/// protocol.
fn connection_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "-A" => cfg.bind_address = Some(a.value("address")?),
        "-h" | "--host" => cfg.host = Some(a.value("host")?),
        "-p" | "--port" => cfg.port = Some(port_from(atoi(&a.value("port")?))?),
        "--unix" => cfg.unix_path = Some(a.value("socket path")?),
        "-L" | "--url" => {
            let url = a.utf8_value("URL", "-L")?;
            parse_url(cfg, &url)?;
        }
        "--proxy" => match socks::parse_url(&a.value("proxy url")?) {
            Ok(p) => cfg.proxy = Some(p),
            // mosquitto prints these with err_printf, which --quiet silences.
            Err(_) if cfg.quiet => return err(""),
            Err(msg) => return err(msg),
        },
        "-u" | "--username" => cfg.username = Some(a.value("username")?),
        "-P" | "--pw" => cfg.password = Some(a.raw("password")?.to_vec()),
        "-V" | "--protocol-version" => {
            let Some(v) = a.next else {
                return err(
                    "Error: --protocol-version argument given but no version specified.\n\n",
                );
            };
            cfg.protocol = match v {
                b"mqttv31" | b"31" => ProtocolVersion::V31,
                b"mqttv311" | b"311" => ProtocolVersion::V311,
                b"mqttv5" | b"5" => ProtocolVersion::V5,
                _ => return err("Error: Invalid protocol version argument given.\n\n"),
            };
        }
        _ => return Ok(None),
    }
    Ok(Some(WITH_VALUE))
}

/// The client's session and messages: id, keepalive, QoS, topic, expiry,
/// in-flight window; also --help, --version and -D.
fn client_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "--help" => return Err(ParseStop::Help),
        "--version" => return Err(ParseStop::Version),
        "-i" | "--id" => {
            if cfg.id_prefix.is_some() {
                return err("Error: -i and -I argument cannot be used together.\n\n");
            }
            cfg.id = Some(a.value("id")?);
        }
        "-I" | "--id-prefix" => {
            if cfg.id.is_some() {
                return err("Error: -i and -I argument cannot be used together.\n\n");
            }
            cfg.id_prefix = Some(a.value("id prefix")?);
        }
        "-k" | "--keepalive" => {
            let v = atoi(&a.value("keepalive")?);
            match u16::try_from(v) {
                Ok(k) if k >= 5 => cfg.keepalive = k,
                _ => return err(
                    "Error: Invalid keepalive given, it must be between 5 and 65535 inclusive.\n\n",
                ),
            }
        }
        "-M" => {
            let v = atoi(&a.value("max_inflight")?);
            if v < 1 {
                return err("Error: Maximum inflight messages must be greater than 0.\n\n");
            }
            cfg.max_inflight = u16::try_from(v).unwrap_or(u16::MAX);
        }
        "-q" | "--qos" => cfg.qos = qos_from(atoi(&a.value("QoS")?), "")?,
        "-t" | "--topic" => {
            let t = a.utf8_value("topic", "-t")?;
            add_topic(cfg, &t, "-t")?;
        }
        "-x" => {
            let v = a.value("session expiry interval")?;
            cfg.session_expiry = Some(parse_expiry(&v)?);
        }
        _ => return Ok(None),
    }
    Ok(Some(WITH_VALUE))
}

/// Set mosquitto_pub's message source, which may be given only once.
fn set_pub_mode(cfg: &mut Config, mode: PubMode) -> Result<(), ParseStop> {
    if cfg.pub_mode != PubMode::None {
        return err("Error: Only one type of message can be sent at once.\n\n");
    }
    cfg.pub_mode = mode;
    Ok(())
}

/// mosquitto_pub's own options: the message source and --repeat.
fn pub_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "-f" | "--file" => {
            // Checked before the value, as mosquitto does.
            if cfg.pub_mode != PubMode::None {
                return err("Error: Only one type of message can be sent at once.\n\n");
            }
            let path = a.value("file")?;
            set_pub_mode(cfg, PubMode::File(PathBuf::from(path)))?;
        }
        "-m" | "--message" => {
            if cfg.pub_mode != PubMode::None {
                return err("Error: Only one type of message can be sent at once.\n\n");
            }
            let m = a.raw("message")?;
            if m.len() > crate::protocol::MAX_REMAINING_LENGTH {
                return err(format!(
                    "Error: Message length must be less than {} bytes.\n\n",
                    crate::protocol::MAX_REMAINING_LENGTH
                ));
            }
            set_pub_mode(cfg, PubMode::Message(m.to_vec()))?;
        }
        "-l" | "--stdin-line" => {
            set_pub_mode(cfg, PubMode::StdinLines)?;
            return Ok(Some(FLAG));
        }
        "-n" | "--null-message" => {
            set_pub_mode(cfg, PubMode::Null)?;
            return Ok(Some(FLAG));
        }
        "-s" | "--stdin-file" => {
            set_pub_mode(cfg, PubMode::StdinWhole)?;
            return Ok(Some(FLAG));
        }
        "--repeat" => {
            let v = atoi(&a.value("count")?);
            if v < 1 {
                return err("Error: --repeat argument must be >0.\n\n");
            }
            cfg.repeat_count = u32::try_from(v).unwrap_or(u32::MAX);
        }
        "--repeat-delay" => {
            let f = atof(&a.value("time")?);
            if f < 0.0 {
                return err("Error: --repeat-delay argument must be >=0.0.\n\n");
            }
            cfg.repeat_delay = Duration::try_from_secs_f64(f).unwrap_or(Duration::MAX);
        }
        _ => return Ok(None),
    }
    Ok(Some(WITH_VALUE))
}

/// mosquitto_rr's options: `-e`, and those of pub and sub it shares.
fn rr_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "-e" => {
            let t = a.utf8_value("response topic", "-e")?;
            if !valid_topic_name(&t) {
                return err(format!(
                    "Error: Invalid response topic '{t}', does it contain '+' or '#'?\n"
                ));
            }
            cfg.response_topic = Some(t);
            Ok(Some(WITH_VALUE))
        }
        "-f" | "--file" | "-m" | "--message" | "-n" | "--null-message" | "-s" | "--stdin-file" => {
            pub_option(cfg, a)
        }
        "-F" | "-W" => sub_option(cfg, a),
        _ => Ok(None),
    }
}

/// mosquitto_sub's own options with a value: count, format, filters,
/// unsubscribe topics, timeout.
fn sub_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "-C" => {
            let v = atoi(&a.value("count")?);
            if v < 1 {
                return err(format!("Error: Invalid message count \"{v}\".\n\n"));
            }
            cfg.msg_count = u32::try_from(v).unwrap_or(u32::MAX);
        }
        "-F" => {
            let f = a.value("format")?;
            super::format::check_format(&f).map_err(ParseStop::Error)?;
            cfg.format = Some(f);
        }
        "--random-filter" => {
            // A percentage, kept in hundredths. (mosquitto 2.0 multiplies by 10,
            // so its "100" prints only a tenth of the messages; we do what
            // its help text says.)
            let chance = (100.0 * atof(&a.value("chance")?)).round() as i64;
            if !(1..=10000).contains(&chance) {
                return err("Error: --random-filter chance must be between 0.1-100.0\n\n");
            }
            cfg.random_filter = chance as u32;
        }
        "-T" | "--filter-out" => {
            let t = a.utf8_value("topic filter", "-T")?;
            if !valid_topic_filter(&t) {
                return err(format!(
                    "Error: Invalid filter topic '{t}', are all '+' and '#' wildcards correct?\n"
                ));
            }
            cfg.filter_outs.push(t);
        }
        "-U" | "--unsubscribe" => {
            let t = a.utf8_value("unsubscribe topic", "-U")?;
            if !valid_topic_filter(&t) {
                return err(format!("Error: Invalid unsubscribe topic '{t}', are all '+' and '#' wildcards correct?\n"));
            }
            cfg.unsub_topics.push(t);
        }
        "--retain-handling" => {
            let v = a.value("retain handling")?;
            match v.as_str() {
                "0" | "1" | "2" => cfg.retain_handling = Some(atoi(&v) as u8),
                _ => return err("Error: --retain-handling must be 0, 1 or 2.\n\n"),
            }
        }
        "-W" => {
            let v = atoi(&a.value("timeout")?);
            if v < 1 {
                return err(format!("Error: Invalid timeout \"{v}\".\n\n"));
            }
            cfg.timeout = Some(u32::try_from(v).unwrap_or(u32::MAX));
        }
        _ => return Ok(None),
    }
    Ok(Some(WITH_VALUE))
}

/// The Will's options with a value (`--will-retain` is a switch).
fn will_option(cfg: &mut Config, a: &OptArg) -> Used {
    match a.opt {
        "--will-payload" => cfg.will.payload = Some(a.raw("will payload")?.to_vec()),
        "--will-qos" => cfg.will.qos = qos_from(atoi(&a.value("will QoS")?), "will")?,
        "--will-topic" => {
            let t = a.utf8_value("will topic", "--will-topic")?;
            if !valid_topic_name(&t) {
                return err(format!(
                    "Error: Invalid will topic '{t}', does it contain '+' or '#'?\n"
                ));
            }
            cfg.will.topic = Some(t);
        }
        _ => return Ok(None),
    }
    Ok(Some(WITH_VALUE))
}

/// The TLS options; the first one given is remembered for the message of a
/// build without TLS.
fn tls_option(cfg: &mut Config, a: &OptArg) -> Used {
    let opt = a.opt;
    match opt {
        "--insecure" | "--tls-use-os-certs" => {
            cfg.tls.first.get_or_insert_with(|| opt.to_owned());
            if opt == "--insecure" {
                cfg.tls.insecure = true;
            } else {
                cfg.tls.use_os_certs = true;
            }
            Ok(Some(FLAG))
        }
        _ => {
            let Some((_, what)) = TLS_VALUE_OPTIONS.iter().find(|(name, _)| *name == opt) else {
                return Ok(None);
            };
            let v = a.value(what)?;
            cfg.tls.first.get_or_insert_with(|| opt.to_owned());
            set_tls_value(&mut cfg.tls, opt, v);
            Ok(Some(WITH_VALUE))
        }
    }
}

/// `-x`: seconds, `-1` or `∞` for never; C's `strtol` with base 0.
fn parse_expiry(v: &str) -> Result<u32, ParseStop> {
    if v == "∞" {
        return Ok(u32::MAX);
    }
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v.strip_prefix('+').unwrap_or(v)),
    };
    let parsed = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        i64::from_str_radix(hex, 16)
    } else if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8)
    } else {
        digits.parse::<i64>()
    };
    let Ok(n) = parsed else {
        return err("Error: session-expiry-interval not a number.\n\n");
    };
    let n = if neg { -n } else { n };
    if n == -1 {
        return Ok(u32::MAX);
    }
    u32::try_from(n).or_else(|_| err("Error: session-expiry-interval out of range.\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<Vec<u8>> {
        a.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn parse_only(tool: Tool, a: &[&str]) -> Result<Config, ParseStop> {
        let mut cfg = Config::new(tool);
        parse_args(&mut cfg, &args(a))?;
        check(&mut cfg)?;
        Ok(cfg)
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("12"), 12);
        assert_eq!(atoi("  -3x"), -3);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(""), 0);
        assert_eq!(atoi("99999999999999999999999"), i64::MAX);
        assert_eq!(atof("0.5s"), 0.5);
        assert_eq!(atof("x"), 0.0);
        assert_eq!(atof("-1"), -1.0);
    }

    #[test]
    fn pub_basics() {
        let c = parse_only(
            Tool::Pub,
            &[
                "-h",
                "localhost",
                "-t",
                "mqtt",
                "-m",
                "hello world.",
                "-q",
                "2",
                "-r",
            ],
        )
        .unwrap();
        assert_eq!(c.topic.as_deref(), Some("mqtt"));
        assert_eq!(c.pub_mode, PubMode::Message(b"hello world.".to_vec()));
        assert_eq!(c.qos, QoS::ExactlyOnce);
        assert!(c.retain);
    }

    #[test]
    fn proxy_option() {
        let c = parse_only(
            Tool::Sub,
            &["--proxy", "socks5h://u:p@proxy:9050", "-t", "a"],
        )
        .unwrap();
        let p = c.proxy.unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy", 9050));
        assert_eq!(
            (p.username.as_deref(), p.password.as_deref()),
            (Some("u"), Some("p"))
        );
        assert_eq!(c.unsupported, None);
        let e = |a: &[&str]| match parse_only(Tool::Pub, a) {
            Err(ParseStop::Error(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            e(&["--proxy"]),
            "Error: --proxy argument given but no proxy url specified.\n\n"
        );
        assert_eq!(
            e(&["--proxy", "socks5h://h:0"]),
            "Error: Invalid proxy port 0\n"
        );
        // err_printf: silenced by an earlier --quiet only.
        assert_eq!(e(&["--quiet", "--proxy", "socks5h://h:0"]), "");
    }

    #[test]
    fn errors_match_mosquitto() {
        let e = |tool, a: &[&str]| match parse_only(tool, a) {
            Err(ParseStop::Error(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            e(Tool::Pub, &["-t"]),
            "Error: -t argument given but no topic specified.\n\n"
        );
        assert_eq!(
            e(Tool::Pub, &["-t", "a/+"]),
            "Error: Invalid publish topic 'a/+', does it contain '+' or '#'?\n"
        );
        assert_eq!(e(Tool::Pub, &["-q", "3"]), "Error: Invalid QoS given: 3\n");
        assert_eq!(e(Tool::Pub, &["--foo"]), "Error: Unknown option '--foo'.\n");
        assert_eq!(e(Tool::Pub, &["-v"]), "Error: Unknown option '-v'.\n");
        assert_eq!(e(Tool::Sub, &["-m", "x"]), "Error: Unknown option '-m'.\n");
        assert_eq!(
            e(Tool::Sub, &["-p", "1"]),
            "Error: You must specify a topic to subscribe to.\n"
        );
        assert_eq!(
            e(Tool::Pub, &["-m", "a", "-n"]),
            "Error: Only one type of message can be sent at once.\n\n"
        );
        assert_eq!(
            e(Tool::Pub, &["-t", "a", "-c"]),
            "Error: You must provide a client id if you are using the -c option.\n"
        );
        assert_eq!(
            e(Tool::Pub, &["-p", "70000"]),
            "Error: Invalid port given: 70000\n"
        );
    }

    #[test]
    fn tls_options_are_recognised() {
        let c = parse_only(Tool::Pub, &["--cafile", "x", "--insecure", "-t", "a"]).unwrap();
        assert_eq!(c.tls.first.as_deref(), Some("--cafile"));
        assert_eq!(c.tls.cafile.as_deref(), Some(std::path::Path::new("x")));
        assert!(c.tls.insecure);
        assert!(c.tls.enabled(c.port));
        assert_eq!(c.effective_port(), 8883);
        let c = parse_only(Tool::Pub, &["-t", "a"]).unwrap();
        assert!(!c.tls.enabled(c.port));
        assert_eq!(c.effective_port(), 1883);
        let c = parse_only(
            Tool::Sub,
            &[
                "--psk",
                "00ff",
                "--psk-identity",
                "me",
                "-p",
                "1",
                "-t",
                "a",
            ],
        )
        .unwrap();
        assert_eq!(c.tls.psk.as_deref(), Some("00ff"));
        assert_eq!(c.tls.psk_identity.as_deref(), Some("me"));
        assert_eq!(c.effective_port(), 1);
        let c = parse_only(Tool::Pub, &["--tls-alpn", "x", "-t", "a"]).unwrap();
        assert_eq!(
            (c.tls.alpn.as_deref(), c.tls.unsupported),
            (Some("x"), None)
        );
        let c = parse_only(Tool::Pub, &["--tls-engine", "e", "-t", "a"]).unwrap();
        assert_eq!(c.tls.unsupported.as_deref(), Some("--tls-engine"));
        let c = parse_only(
            Tool::Pub,
            &["--keyform", "pem", "--cert", "c", "--key", "k"],
        )
        .unwrap();
        assert_eq!(c.tls.unsupported, None);
    }

    #[test]
    fn tls_option_errors_match_mosquitto() {
        let e = |a: &[&str]| match parse_only(Tool::Pub, a) {
            Err(ParseStop::Error(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            e(&["--cert", "c", "-t", "a"]),
            "Error: Both certfile and keyfile must be provided if one of them is set.\n"
        );
        assert_eq!(
            e(&["--psk", "00", "-t", "a"]),
            "Error: --psk-identity required if --psk used.\n"
        );
        assert_eq!(
            e(&["--psk", "00", "--psk-identity", "i", "--cafile", "x"]),
            "Error: Only one of --psk or --cafile/--capath may be used at once.\n"
        );
        assert_eq!(
            e(&["--cafile"]),
            "Error: --cafile argument given but no file specified.\n\n"
        );
    }

    #[cfg(feature = "tls")]
    #[test]
    fn mqtts_url() {
        let c = parse_only(Tool::Sub, &["-L", "mqtts://u:p@localhost/a/b"]).unwrap();
        assert_eq!(c.port, Some(8883));
        assert!(c.tls.use_os_certs);
        assert!(c.tls.enabled(c.port));
        assert_eq!(c.host.as_deref(), Some("localhost"));
        assert_eq!(c.topics, vec!["a/b".to_string()]);
        let c = parse_only(Tool::Sub, &["-L", "mqtts://h:1234/t", "--cafile", "ca"]).unwrap();
        assert_eq!(c.port, Some(1234));
    }

    #[test]
    fn url() {
        let c = parse_only(Tool::Sub, &["-L", "mqtt://u:p@host:1999/a/b"]).unwrap();
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password.as_deref(), Some(&b"p"[..]));
        assert_eq!(c.host.as_deref(), Some("host"));
        assert_eq!(c.port, Some(1999));
        assert_eq!(c.topics, vec!["a/b".to_string()]);
    }

    #[test]
    fn expiry() {
        assert_eq!(parse_expiry("-1"), Ok(u32::MAX));
        assert_eq!(parse_expiry("∞"), Ok(u32::MAX));
        assert_eq!(parse_expiry("0x10"), Ok(16));
        assert!(parse_expiry("x").is_err());
    }
}
