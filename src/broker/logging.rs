//! The broker's logger: mosquitto's log types, destinations and line format
//! ("<unix time>: <message>") behind the `log` facade.
//!
//! mosquitto has more log types than `log` has levels, so each record's
//! *target* names its mosquitto type ("notice", "information", …); the
//! macros below set it. Records from other crates are typed by level.

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

pub const LOG_INFO: u32 = 0x01;
pub const LOG_NOTICE: u32 = 0x02;
pub const LOG_WARNING: u32 = 0x04;
pub const LOG_ERR: u32 = 0x08;
pub const LOG_DEBUG: u32 = 0x10;
pub const LOG_SUBSCRIBE: u32 = 0x20;
pub const LOG_UNSUBSCRIBE: u32 = 0x40;
pub const LOG_WEBSOCKETS: u32 = 0x80;
/// mosquitto's default: error, warning, notice, information.
pub const LOG_DEFAULT: u32 = LOG_ERR | LOG_WARNING | LOG_NOTICE | LOG_INFO;
pub const LOG_ALL: u32 = 0xFF;

pub const DEST_STDOUT: u32 = 0x01;
pub const DEST_STDERR: u32 = 0x02;
pub const DEST_FILE: u32 = 0x04;
pub const DEST_SYSLOG: u32 = 0x08;
pub const DEST_TOPIC: u32 = 0x10;

/// Where syslog lines go unless `MOSQUITTO_RS_SYSLOG_SOCKET` names another
/// socket (tests point it at their own).
const SYSLOG_SOCKET: &str = "/dev/log";
/// Log lines published to `$SYS/broker/log/...` per loop turn at most; the
/// rest are dropped so a log storm cannot feed itself.
const TOPIC_QUEUE_MAX: usize = 1000;

/// Logs at mosquitto's "notice" type.
#[macro_export]
macro_rules! notice { ($($a:tt)*) => { ::log::info!(target: "notice", $($a)*) } }
/// Logs at mosquitto's "information" type.
#[macro_export]
macro_rules! information { ($($a:tt)*) => { ::log::info!(target: "information", $($a)*) } }
/// Logs at mosquitto's "warning" type.
#[macro_export]
macro_rules! warning { ($($a:tt)*) => { ::log::warn!(target: "warning", $($a)*) } }
/// Logs at mosquitto's "error" type.
#[macro_export]
macro_rules! error { ($($a:tt)*) => { ::log::error!(target: "error", $($a)*) } }
/// Logs at mosquitto's "debug" type.
#[macro_export]
macro_rules! debug { ($($a:tt)*) => { ::log::debug!(target: "debug", $($a)*) } }
/// Logs at mosquitto's "subscribe" type.
#[macro_export]
macro_rules! log_subscribe { ($($a:tt)*) => { ::log::info!(target: "subscribe", $($a)*) } }
/// Logs at mosquitto's "unsubscribe" type.
#[macro_export]
macro_rules! log_unsubscribe { ($($a:tt)*) => { ::log::info!(target: "unsubscribe", $($a)*) } }

#[derive(Debug, Clone)]
pub struct LogSettings {
    /// Bitmask of LOG_* types to emit.
    pub types: u32,
    /// Bitmask of DEST_* destinations; 0 logs nothing.
    pub dests: u32,
    pub timestamp: bool,
    /// strftime format for the timestamp; None prints unix seconds.
    pub timestamp_format: Option<String>,
    /// `log_dest file` path.
    pub file: Option<PathBuf>,
    /// Syslog facility number (3 = daemon, 16..23 = local0..local7).
    pub facility: u8,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            types: LOG_DEFAULT,
            dests: DEST_STDERR,
            timestamp: true,
            timestamp_format: None,
            file: None,
            facility: 3,
        }
    }
}

impl LogSettings {
    /// The logger's settings for a configuration (`log_dest`, `log_type`,
    /// `log_timestamp*`, `log_facility`).
    pub fn from_config(cfg: &crate::config::Config) -> LogSettings {
        use crate::config::LogDest;
        let mut dests = 0;
        let mut file = None;
        for d in &cfg.log_dest {
            match d {
                LogDest::Stdout => dests |= DEST_STDOUT,
                LogDest::Stderr => dests |= DEST_STDERR,
                LogDest::Syslog => dests |= DEST_SYSLOG,
                LogDest::Topic => dests |= DEST_TOPIC,
                LogDest::File(p) => {
                    dests |= DEST_FILE;
                    file = Some(p.clone());
                }
                // Not available on Linux builds: the config notes say so.
                LogDest::Dlt => {}
            }
        }
        LogSettings {
            types: cfg.log_types.0,
            dests,
            timestamp: cfg.log_timestamp,
            timestamp_format: cfg.log_timestamp_format.clone(),
            file,
            facility: cfg.log_facility.map(|n| 16 + n).unwrap_or(3),
        }
    }
}

struct State {
    settings: LogSettings,
    file: Option<File>,
    syslog: Option<UnixDatagram>,
}

struct Logger {
    state: Mutex<State>,
}

thread_local! {
    /// Lines for `log_dest topic`, drained by the broker each turn.
    static TOPIC_QUEUE: RefCell<Vec<(&'static str, String)>> = const { RefCell::new(Vec::new()) };
}

/// Takes the log lines waiting to be published as `$SYS/broker/log/...`.
pub fn take_topic_lines(out: &mut Vec<(&'static str, String)>) {
    TOPIC_QUEUE.with(|q| out.append(&mut q.borrow_mut()));
}

/// mosquitto's topic and syslog priority for each log type.
fn route_of(t: u32) -> (&'static str, u8) {
    match t {
        LOG_ERR => ("$SYS/broker/log/E", 3),
        LOG_WARNING => ("$SYS/broker/log/W", 4),
        LOG_NOTICE => ("$SYS/broker/log/N", 5),
        LOG_INFO => ("$SYS/broker/log/I", 6),
        LOG_DEBUG => ("$SYS/broker/log/D", 7),
        LOG_SUBSCRIBE => ("$SYS/broker/log/M/subscribe", 5),
        LOG_UNSUBSCRIBE => ("$SYS/broker/log/M/unsubscribe", 5),
        LOG_WEBSOCKETS => ("$SYS/broker/log/WS", 7),
        _ => ("$SYS/broker/log/E", 3),
    }
}

fn open_file(path: &PathBuf) -> Option<File> {
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(f) => Some(f),
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "Error: Unable to open log file {} for writing: {e}.",
                path.display()
            );
            None
        }
    }
}

fn open_syslog() -> Option<UnixDatagram> {
    let path = std::env::var_os("MOSQUITTO_RS_SYSLOG_SOCKET")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSLOG_SOCKET));
    let sock = UnixDatagram::unbound().ok()?;
    sock.connect(&path).ok()?;
    // Never let a stuck syslog daemon stall the broker.
    sock.set_nonblocking(true).ok()?;
    Some(sock)
}

/// The types that reach at least one destination, read without the lock
/// so that filtered-out lines cost one atomic load.
static ACTIVE_TYPES: AtomicU32 = AtomicU32::new(LOG_DEFAULT);

static LOGGER: Logger = Logger {
    state: Mutex::new(State {
        settings: LogSettings {
            types: LOG_DEFAULT,
            dests: DEST_STDERR,
            timestamp: true,
            timestamp_format: None,
            file: None,
            facility: 3,
        },
        file: None,
        syslog: None,
    }),
};

fn type_of(record: &log::Record<'_>) -> u32 {
    match record.target() {
        "notice" => LOG_NOTICE,
        "information" => LOG_INFO,
        "warning" => LOG_WARNING,
        "error" => LOG_ERR,
        "debug" => LOG_DEBUG,
        "subscribe" => LOG_SUBSCRIBE,
        "unsubscribe" => LOG_UNSUBSCRIBE,
        "websockets" => LOG_WEBSOCKETS,
        // Other crates' chatter (mio's registrations…) is not ours to
        // print; their warnings and errors are.
        _ => match record.level() {
            log::Level::Error => LOG_ERR,
            log::Level::Warn => LOG_WARNING,
            _ => 0,
        },
    }
}

fn format_time(format: &str) -> String {
    // An empty result is a failure (or an empty format), as strftime's 0.
    match crate::sys::time::LocalTime::now().map(|t| t.strftime(format)) {
        Some(s) if !s.is_empty() => s,
        _ => "Time error".into(),
    }
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let t = type_of(record);
        if ACTIVE_TYPES.load(Ordering::Relaxed) & t == 0 {
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let s = &st.settings;
        let line = if s.timestamp {
            let ts = match &s.timestamp_format {
                Some(f) => format_time(f),
                None => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string(),
            };
            format!("{ts}: {}", record.args())
        } else {
            record.args().to_string()
        };
        let dests = s.dests;
        let (topic, prio) = route_of(t);
        let facility = s.facility;
        // A failed log write has nowhere to be reported; carry on.
        if dests & DEST_STDOUT != 0 {
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        if dests & DEST_STDERR != 0 {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
        if dests & DEST_FILE != 0 {
            if let Some(f) = st.file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
        if dests & DEST_SYSLOG != 0 {
            if let Some(sock) = &st.syslog {
                let pri = u32::from(facility) * 8 + u32::from(prio);
                let msg = format!("<{pri}>mosquitto[{}]: {line}", std::process::id());
                let _ = sock.send(msg.as_bytes());
            }
        }
        if dests & DEST_TOPIC != 0 {
            TOPIC_QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                if q.len() < TOPIC_QUEUE_MAX {
                    q.push((topic, line));
                }
            });
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// Installs the logger (once) and applies `settings` (any number of times),
/// opening the log file and the syslog socket as needed.
pub fn init(settings: LogSettings) {
    let active = if settings.dests == 0 {
        0
    } else {
        settings.types
    };
    ACTIVE_TYPES.store(active, Ordering::Relaxed);
    if let Ok(mut st) = LOGGER.state.lock() {
        st.file = match (&settings.file, settings.dests & DEST_FILE != 0) {
            (Some(p), true) => open_file(p),
            _ => None,
        };
        st.syslog = if settings.dests & DEST_SYSLOG != 0 {
            open_syslog()
        } else {
            None
        };
        st.settings = settings;
    }
    // Already set on a second call; the new settings above still apply.
    let _ = log::set_logger(&LOGGER);
    // Debug lines are skipped by the macros themselves unless wanted.
    log::set_max_level(if active & LOG_DEBUG != 0 {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Info
    });
}

/// SIGHUP: reopen the log file (after logrotate moved it) and the syslog
/// socket.
pub fn reopen() {
    if let Ok(mut st) = LOGGER.state.lock() {
        if st.settings.dests & DEST_FILE != 0 {
            st.file = st.settings.file.as_ref().and_then(open_file);
        }
        if st.settings.dests & DEST_SYSLOG != 0 {
            st.syslog = open_syslog();
        }
    }
}

/// Whether debug lines would be written, so callers can skip formatting work.
pub fn debug_enabled() -> bool {
    ACTIVE_TYPES.load(Ordering::Relaxed) & LOG_DEBUG != 0
}
