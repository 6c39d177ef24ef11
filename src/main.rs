//! The `mosquitto` broker command: mosquitto's command line and start-up
//! sequence, then the event loop.

use std::process::ExitCode;

mod plugin_exports;

use mosquitto_rs::broker::logging::{self, LogSettings};
use mosquitto_rs::broker::{Broker, Settings};
use mosquitto_rs::config::{self, CliAction, NoteKind};
use mosquitto_rs::sys::process;
use mosquitto_rs::{error, notice, warning};

/// Counted, for `$SYS/broker/heap/*` and `memory_limit`.
#[global_allocator]
static HEAP: mosquitto_rs::broker::heap::CountingAlloc = mosquitto_rs::broker::heap::CountingAlloc;

/// mosquitto's exit status for a bad command line or configuration.
const EXIT_CONFIG: u8 = 3;

fn main() -> ExitCode {
    // The plugin API must be in this binary for plugins to find it (build.rs
    // exports it); nothing in Rust calls it, so say it is used.
    std::hint::black_box(plugin_exports::exported());
    let args: Vec<String> = std::env::args().collect();
    // Until the configuration says otherwise, errors go to stderr with
    // mosquitto's timestamped format.
    logging::init(LogSettings::default());
    let opts = match config::parse_args(&args) {
        Ok(CliAction::Help) => {
            print!("{}", config::usage());
            return ExitCode::from(EXIT_CONFIG);
        }
        Ok(CliAction::Run(opts)) => opts,
        Err(e) => {
            for line in e.to_string().lines() {
                error!("{line}");
            }
            if e.shows_usage() {
                eprint!("{}", config::usage());
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let cfg = &opts.config;
    if opts.test_config {
        println!("Configuration file is OK.");
        return ExitCode::SUCCESS;
    }
    logging::init(LogSettings::from_config(cfg));
    notice!("mosquitto version {} starting", mosquitto_rs::VERSION);
    match &opts.config_file {
        Some(f) => notice!("Config loaded from {}.", f.display()),
        None => notice!("Using default config."),
    }
    for n in &cfg.notes {
        match n.kind {
            NoteKind::Deprecated | NoteKind::NotYetActive => warning!("Warning: {n}"),
            NoteKind::Notice => notice!("{n}"),
        }
    }
    if cfg.local_only {
        notice!(
            "Starting in local only mode. Connections will only be possible from clients \
             running on this machine."
        );
        notice!("Create a configuration file which defines a listener to allow remote access.");
        notice!("For more details see https://mosquitto.org/documentation/authentication-methods/");
    }
    let settings = match Settings::from_config(cfg) {
        Ok(s) => s,
        Err(e) => {
            error!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    let mut broker = match Broker::new(settings) {
        Ok(b) => b,
        Err(e) => {
            error!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    if opts.daemon {
        if let Err(e) = process::daemonise() {
            error!("Error: unable to run in the background: {e}");
            return ExitCode::from(1);
        }
    }
    // Written while still root, so that /var/run works as init scripts
    // expect (mosquitto 1.x did the same).
    let pid_file = cfg.pid_file.clone();
    if let Some(p) = &pid_file {
        if let Err(e) = std::fs::write(p, format!("{}\n", std::process::id())) {
            error!("Error: Unable to write pid file {}: {e}", p.display());
            return ExitCode::from(1);
        }
    }
    // Listeners, certificates and log files are open: give up root.
    match process::drop_privileges(&cfg.user, &broker.unix_socket_paths()) {
        Ok(Some(w)) => warning!("{w}"),
        Ok(None) => {}
        Err(e) => {
            error!("Error: {e}");
            return ExitCode::from(1);
        }
    }
    if let Err(e) = broker.load_persistence() {
        error!("Error: {e}");
        return ExitCode::from(1);
    }
    notice!("mosquitto version {} running", mosquitto_rs::VERSION);
    // SIGHUP re-reads the same files with the same command line.
    let reload_opts = opts.clone();
    broker.set_reloader(Box::new(move || reload_opts.reload()));
    let result = broker.run();
    notice!("mosquitto version {} terminating", mosquitto_rs::VERSION);
    if let Some(p) = &pid_file {
        let _ = std::fs::remove_file(p);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("Error: {e}");
            ExitCode::from(1)
        }
    }
}
