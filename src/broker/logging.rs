//! The broker's logger: mosquitto's log types, destinations and line format
//! ("<unix time>: <message>") behind the `log` facade.
//!
//! mosquitto has more log types than `log` has levels, so each record's
//! *target* names its mosquitto type ("notice", "information", …); the
//! macros below set it. Records from other crates are typed by level.

use std::io::Write;
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
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            types: LOG_DEFAULT,
            dests: DEST_STDERR,
            timestamp: true,
            timestamp_format: None,
        }
    }
}

struct Logger {
    settings: Mutex<LogSettings>,
}

/// The types that reach at least one destination, read without the lock
/// so that filtered-out lines cost one atomic load.
static ACTIVE_TYPES: AtomicU32 = AtomicU32::new(LOG_DEFAULT);

static LOGGER: Logger = Logger {
    settings: Mutex::new(LogSettings {
        types: LOG_DEFAULT,
        dests: DEST_STDERR,
        timestamp: true,
        timestamp_format: None,
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
    let mut buf = [0u8; 256];
    // SAFETY: time/localtime_r/strftime are given valid pointers to stack
    // values and a bounded output buffer; the format is NUL-terminated below.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return "Time error".into();
        }
        let Ok(fmt) = std::ffi::CString::new(format) else {
            return "Time error".into();
        };
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr(), &tm);
        if n == 0 {
            return "Time error".into();
        }
        String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned()
    }
}

impl log::Log for Logger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        if ACTIVE_TYPES.load(Ordering::Relaxed) & type_of(record) == 0 {
            return;
        }
        let Ok(s) = self.settings.lock() else {
            return;
        };
        let line = if s.timestamp {
            let ts = match &s.timestamp_format {
                Some(f) => format_time(f),
                None => SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
                    .to_string(),
            };
            format!("{ts}: {}\n", record.args())
        } else {
            format!("{}\n", record.args())
        };
        // A failed log write has nowhere to be reported; carry on.
        if s.dests & DEST_STDOUT != 0 {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        if s.dests & DEST_STDERR != 0 {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {
        let _ = std::io::stdout().flush();
    }
}

/// Installs the logger (once) and applies `settings` (any number of times).
pub fn init(settings: LogSettings) {
    let active = if settings.dests == 0 {
        0
    } else {
        settings.types
    };
    ACTIVE_TYPES.store(active, Ordering::Relaxed);
    if let Ok(mut s) = LOGGER.settings.lock() {
        *s = settings;
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

/// Whether debug lines would be written, so callers can skip formatting work.
pub fn debug_enabled() -> bool {
    ACTIVE_TYPES.load(Ordering::Relaxed) & LOG_DEBUG != 0
}
