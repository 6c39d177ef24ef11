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

impl Options {
    /// Re-reads the configuration for SIGHUP, with the same command line
    /// (`-c` file, `-p` ports, `-v`), and returns the configuration to run
    /// with (see [`Config::apply_reload`]). Without `-c` there is nothing to
    /// re-read. On error the running configuration should stay in force.
    pub fn reload(&self) -> Result<Config, ConfigError> {
        let Some(path) = &self.config_file else {
            return Ok(self.config.clone());
        };
        let mut reader = Reader::new();
        reader.read_main_file(path)?;
        let new = check::finish(reader, &self.cmd_ports, self.verbose)?;
        self.config.apply_reload(new)
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LogTypes, NoteKind};

    fn args(list: &[&str]) -> Vec<String> {
        std::iter::once("mosquitto")
            .chain(list.iter().copied())
            .map(String::from)
            .collect()
    }

    fn run(list: &[&str]) -> Options {
        match parse_args(&args(list)) {
            Ok(CliAction::Run(o)) => o,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    fn fail(list: &[&str]) -> CliError {
        match parse_args(&args(list)) {
            Err(e) => e,
            other => panic!("{list:?}: expected an error, got {other:?}"),
        }
    }

    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "mosquitto-rs-cli-{}-{}",
                std::process::id(),
                name
            ));
            std::fs::write(&p, text).expect("write temp file");
            TempFile(p)
        }
        fn arg(&self) -> &str {
            self.0.to_str().unwrap_or("")
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn endpoints(o: &Options) -> Vec<(String, u16)> {
        o.config
            .listeners
            .iter()
            .map(|l| (l.bind_address.clone().unwrap_or_default(), l.port))
            .collect()
    }

    #[test]
    fn no_arguments_runs_local_only_on_1883() {
        let o = run(&[]);
        assert!(!o.daemon && !o.verbose && !o.test_config);
        assert_eq!(o.config_file, None);
        assert!(o.config.local_only);
        assert_eq!(
            endpoints(&o),
            vec![("127.0.0.1".into(), 1883), ("::1".into(), 1883)]
        );
        assert_eq!(o.config.security.allow_anonymous, Some(true));
        assert_eq!(o.config.user, "mosquitto");
    }

    #[test]
    fn ports_without_config_are_local_only() {
        let o = run(&["-p", "1884", "--port", "1885"]);
        assert_eq!(o.cmd_ports, vec![1884, 1885]);
        assert_eq!(
            endpoints(&o),
            vec![
                ("127.0.0.1".into(), 1884),
                ("::1".into(), 1884),
                ("127.0.0.1".into(), 1885),
                ("::1".into(), 1885)
            ]
        );
    }

    #[test]
    fn ports_are_ignored_when_the_config_has_listeners() {
        let f = TempFile::new("listeners.conf", "listener 1999\n");
        let o = run(&["-p", "1884", "-c", f.arg()]);
        assert_eq!(o.config_file, Some(f.0.clone()));
        assert_eq!(endpoints(&o), vec![(String::new(), 1999)]);
        assert_eq!(o.config.security.allow_anonymous, Some(false));
        assert_eq!(o.config.notes_of(NoteKind::Notice).count(), 1);
        // But a config without listeners still takes them.
        let f = TempFile::new("nolisteners.conf", "sys_interval 5\n");
        let o = run(&["-c", f.arg(), "-p", "1884"]);
        assert_eq!(endpoints(&o).len(), 2);
        assert!(o.config.listeners.iter().all(|l| l.port == 1884));
    }

    #[test]
    fn port_errors() {
        for bad in ["0", "65536", "-1", "abc", ""] {
            assert_eq!(
                fail(&["-p", bad]),
                CliError::InvalidArgument(format!("Invalid port specified ({bad}).")),
            );
        }
        assert_eq!(
            fail(&["-p"]).to_string(),
            "Error: -p argument given, but no port specified."
        );
        let mut many = Vec::new();
        for _ in 0..=CMD_PORT_LIMIT {
            many.extend(["-p", "1884"]);
        }
        assert!(fail(&many).to_string().contains("Only 10 ports"));
    }

    #[test]
    fn config_file_errors() {
        assert_eq!(
            fail(&["-c"]).to_string(),
            "Error: -c argument given, but no config file specified."
        );
        match fail(&["--config-file", "/nonexistent/mosquitto-rs.conf"]) {
            CliError::Config(e) => assert!(e.reason.starts_with("Unable to open config file")),
            other => panic!("{other:?}"),
        }
        let f = TempFile::new("bad.conf", "listener 1883\nbogus 1\n");
        match fail(&["-c", f.arg()]) {
            CliError::Config(e) => {
                assert_eq!(e.line, 2);
                assert_eq!(e.file, f.0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags() {
        let f = TempFile::new("flags.conf", "listener 1999\nlog_type error\n");
        let o = run(&["-v", "-d", "--test-config", "-c", f.arg()]);
        assert!(o.daemon && o.verbose && o.test_config);
        assert_eq!(o.config.log_types, LogTypes::ALL, "-v overrides log_type");
        let o = run(&["--daemon", "--verbose", "-c", f.arg()]);
        assert!(o.daemon && o.verbose);
        let o = run(&["-c", f.arg()]);
        assert_eq!(o.config.log_types, LogTypes::ERROR);
    }

    #[test]
    fn help_and_unknown_options() {
        assert_eq!(parse_args(&args(&["-h"])), Ok(CliAction::Help));
        assert_eq!(parse_args(&args(&["-d", "--help"])), Ok(CliAction::Help));
        let e = fail(&["-x"]);
        assert_eq!(e, CliError::UnknownOption("-x".into()));
        assert!(e.shows_usage());
        assert_eq!(e.to_string(), "Error: Unknown option '-x'.");
        assert!(!fail(&["-p"]).shows_usage());
        // Arguments are handled in order: the unknown option comes first.
        assert_eq!(
            fail(&["-dv", "-c", "/nonexistent"]),
            CliError::UnknownOption("-dv".into())
        );
    }

    #[test]
    fn several_config_files_are_read_into_one() {
        let a = TempFile::new("a.conf", "listener 1999\n");
        let b = TempFile::new("b.conf", "listener 2000\nallow_anonymous true\n");
        let o = run(&["-c", a.arg(), "-c", b.arg()]);
        assert_eq!(o.config.listeners.len(), 2);
        assert_eq!(o.config_file, Some(b.0.clone()));
        assert_eq!(o.config.security.allow_anonymous, Some(true));
    }

    #[test]
    fn reload_rereads_the_config_file() {
        let f = TempFile::new("reload.conf", "listener 1999\nsys_interval 5\n");
        let o = run(&["-v", "-c", f.arg()]);
        std::fs::write(&f.0, "listener 1999\nsys_interval 7\nlog_type error\n").expect("write");
        let r = o.reload().expect("reload");
        assert_eq!(r.sys_interval, 7);
        assert_eq!(r.log_types, LogTypes::ALL, "-v still applies");
        std::fs::write(&f.0, "listener 1999\nbogus\n").expect("write");
        assert_eq!(o.reload().expect_err("bad file").line, 2);
        // Without -c there is nothing to re-read.
        let o = run(&["-p", "1884"]);
        assert_eq!(o.reload().expect("no file"), o.config);
    }

    #[test]
    fn usage_text() {
        let u = usage();
        assert!(u.starts_with(&format!("mosquitto version {}\n", crate::VERSION)));
        assert!(u.contains("Usage: mosquitto [-c config_file] [-d] [-h] [-p port]"));
        for opt in [" -c ", " -d ", " -h ", " -p ", " -v ", " --test-config "] {
            assert!(u.contains(opt), "{opt}");
        }
    }
}
