//! The broker's command line (mosquitto's `config__parse_args`).
//!
//! ```text
//! mosquitto [-c config_file] [-d] [-h] [-p port] [-v] [--test-config]
//! ```
//!
//! Arguments are handled in order, like mosquitto: `-c` reads the file at
//! once (several `-c` read several files into one configuration), the
//! start-up rules run after the last argument.

use std::fmt;
use std::path::PathBuf;

use super::parse::Reader;
use super::{check, Config, ConfigError};

/// mosquitto accepts at most this many `-p` options.
pub const CMD_PORT_LIMIT: usize = 10;

/// What the broker should do.
// Built once at start-up; boxing would only make matching clumsier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum CliAction {
    /// `-h`/`--help`: print [`usage`] and exit.
    Help,
    /// Start (or, with `test_config`, only check) the broker.
    Run(Options),
}

/// The parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The configuration to run with, start-up rules applied.
    pub config: Config,
    /// The last `-c` file, if any (needed to reload on SIGHUP).
    pub config_file: Option<PathBuf>,
    /// `-d`: detach into the background.
    pub daemon: bool,
    /// `-v`: every log type is enabled (already applied to `config`).
    pub verbose: bool,
    /// `--test-config`: check the configuration and exit.
    pub test_config: bool,
    /// The `-p` ports, in order (already applied to `config` when in
    /// local-only mode).
    pub cmd_ports: Vec<u16>,
}

/// A command line that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliError {
    /// The configuration file is wrong.
    Config(ConfigError),
    /// An option's argument is missing or wrong; the text is the reason.
    InvalidArgument(String),
    /// An option we do not know; print [`usage`] after the error.
    UnknownOption(String),
}

impl CliError {
    /// True when mosquitto prints the usage text after this error.
    pub fn shows_usage(&self) -> bool {
        matches!(self, CliError::UnknownOption(_))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Config(e) => e.fmt(f),
            CliError::InvalidArgument(reason) => write!(f, "Error: {reason}"),
            CliError::UnknownOption(opt) => write!(f, "Error: Unknown option '{opt}'."),
        }
    }
}

impl std::error::Error for CliError {}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::Config(e)
    }
}

/// The help text, in mosquitto 2.0's layout.
pub fn usage() -> String {
    format!(
        "mosquitto version {}\n\
         \n\
         mosquitto is an MQTT v5.0/v3.1.1/v3.1 broker.\n\
         \n\
         Usage: mosquitto [-c config_file] [-d] [-h] [-p port] [-v] [--test-config]\n\
         \n\
         \x20-c : read the broker configuration from config_file.\n\
         \x20-d : detach and run in the background once started.\n\
         \x20-h : show this help and exit.\n\
         \x20-p : listen on this port (may be given up to {} times). Only used\n\
         \x20     when the configuration defines no listener, so it does not\n\
         \x20     mix well with -c.\n\
         \x20-v : verbose mode - log every message type, whatever log_type\n\
         \x20     the configuration file sets.\n\
         \x20--test-config : read and check the configuration, then exit.\n\
         \n\
         See https://mosquitto.org/ for more information.\n",
        crate::VERSION,
        CMD_PORT_LIMIT
    )
}

/// Parses the broker's arguments. `args` is the whole command line as from
/// `std::env::args()`: the first element (the program name) is skipped.
pub fn parse_args(args: &[String]) -> Result<CliAction, CliError> {
    let mut reader = Reader::new();
    let mut config_file = None;
    let mut daemon = false;
    let mut verbose = false;
    let mut test_config = false;
    let mut cmd_ports = Vec::new();

    let mut it = args.iter().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "-c" | "--config-file" => {
                let Some(file) = it.next() else {
                    return Err(CliError::InvalidArgument(
                        "-c argument given, but no config file specified.".to_string(),
                    ));
                };
                let path = PathBuf::from(file);
                reader.read_main_file(&path)?;
                config_file = Some(path);
            }
            "-d" | "--daemon" => daemon = true,
            "-h" | "--help" => return Ok(CliAction::Help),
            "-p" | "--port" => {
                let Some(port) = it.next() else {
                    return Err(CliError::InvalidArgument(
                        "-p argument given, but no port specified.".to_string(),
                    ));
                };
                let p = port
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| {
                        CliError::InvalidArgument(format!("Invalid port specified ({port})."))
                    })?;
                if cmd_ports.len() == CMD_PORT_LIMIT {
                    return Err(CliError::InvalidArgument(format!(
                        "Only {CMD_PORT_LIMIT} ports can be specified on the command line."
                    )));
                }
                cmd_ports.push(p);
            }
            "-v" | "--verbose" => verbose = true,
            "--test-config" => test_config = true,
            other => return Err(CliError::UnknownOption(other.to_string())),
        }
    }

    let config = check::finish(reader, &cmd_ports, verbose)?;
    Ok(CliAction::Run(Options {
        config,
        config_file,
        daemon,
        verbose,
        test_config,
        cmd_ports,
    }))
}
