//! Provisional entry point until the config module lands: `-p PORT`, `-v`.
use mosquitto_rs::broker::logging::{self, LogSettings, LOG_ALL};
use mosquitto_rs::broker::{Broker, ListenerSpec, Settings};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut log = LogSettings::default();
    let mut port = 1883u16;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "-v" => log.types = LOG_ALL,
            "-p" => {
                i += 1;
                port = args.get(i).and_then(|p| p.parse().ok()).unwrap_or(1883);
            }
            _ => {}
        }
        i += 1;
    }
    logging::init(log);
    let settings = Settings {
        listeners: vec![ListenerSpec {
            addrs: vec![
                format!("127.0.0.1:{port}").parse().unwrap(),
                format!("[::1]:{port}").parse().unwrap(),
            ],
            port,
            max_connections: -1,
            mount_point: None,
        }],
        ..Settings::default()
    };
    match Broker::new(settings) {
        Ok(mut b) => {
            if let Err(e) = b.run() {
                eprintln!("Error: {e}");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    }
}
