//! Brokers under test: started fresh from a binary with a temporary config on
//! a free loopback port, or an already running one reached by address.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to reach one broker under test.
#[derive(Clone, Debug)]
pub enum TargetKind {
    /// Start this binary (`-c config`) afresh for every case.
    Spawn(PathBuf),
    /// Use a running broker; CPU and RSS come from `pid` when given.
    Attach(SocketAddr, Option<u32>),
}

#[derive(Clone, Debug)]
pub struct Target {
    pub name: String,
    pub kind: TargetKind,
}

/// A broker ready for one case; a spawned one is stopped on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    /// Started for this case: no state left over from earlier cases.
    pub fresh: bool,
    child: Option<Child>,
}

/// The config both brokers get: mosquitto's defaults written out, so the two
/// are equivalent even if one binary's defaults drift.
pub fn config_text(port: u16, extra: &[String]) -> String {
    let mut s = format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         log_dest none\n\
         persistence false\n\
         max_queued_messages 1000\n"
    );
    // `max_inflight_messages` (from `--inflight`) comes first in `extra`.
    for line in extra {
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// rumqttd's own config (TOML; it takes `-c FILE` too): one listener on
/// loopback, MQTT 3.1.1 (`v4`) or, with `v5`, MQTT 5 (rumqttd serves each
/// version on a listener of its own). Its limits are raised where they would otherwise
/// cut the benchmark short: connections (10,010), payload (20 KiB), the 1 ms
/// pause between accepted connections. `max_inflight_count` stays at its
/// default, 100: despite its name it is how many packets a connection reads
/// from its socket per batch (`link/network.rs`), not the window to a client;
/// that window is fixed at 100 in rumqttd's source (`MAX_INFLIGHT`,
/// `router/iobufs.rs`), which is why `compare.sh` gives every broker 100.
pub fn rumqttd_config_text(port: u16, v5: bool) -> String {
    let v = if v5 { "v5" } else { "v4" };
    format!(
        "id = 0\n\n\
         [router]\n\
         id = 0\n\
         max_connections = 100000\n\
         max_outgoing_packet_count = 200\n\
         max_segment_size = 104857600\n\
         max_segment_count = 10\n\n\
         [{v}.1]\n\
         name = \"{v}-1\"\n\
         listen = \"127.0.0.1:{port}\"\n\
         next_connection_delay_ms = 0\n\
         [{v}.1.connections]\n\
         connection_timeout_ms = 60000\n\
         max_payload_size = 1048576\n\
         max_inflight_count = 100\n\
         dynamic_filters = true\n"
    )
}

/// rumqttd is recognised by its file name and gets its own config.
pub fn is_rumqttd(bin: &Path) -> bool {
    bin.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("rumqttd"))
}

fn free_port() -> Result<u16, String> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local_addr: {e}"))
}

impl Running {
    /// `v5`: the case's clients speak MQTT 5 (only rumqttd's config
    /// depends on it).
    pub fn start(
        target: &Target,
        workdir: &Path,
        extra: &[String],
        v5: bool,
    ) -> Result<Running, String> {
        match &target.kind {
            TargetKind::Attach(addr, pid) => Ok(Running {
                addr: *addr,
                pid: *pid,
                fresh: false,
                child: None,
            }),
            TargetKind::Spawn(bin) => spawn(&target.name, bin, workdir, extra, v5),
        }
    }

    pub fn pid_str(&self) -> Option<String> {
        self.pid.map(|p| p.to_string())
    }

    /// True while a spawned broker is still alive.
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }
}

fn spawn(
    name: &str,
    bin: &Path,
    workdir: &Path,
    extra: &[String],
    v5: bool,
) -> Result<Running, String> {
    let mut last = String::new();
    // Another process may grab the port between our probe and the broker's
    // bind: retry with a new one.
    for _attempt in 0..5 {
        let port = free_port()?;
        let (conf, text) = if is_rumqttd(bin) {
            // Its config loader picks the format by the file's extension.
            (
                workdir.join(format!("{name}.toml")),
                rumqttd_config_text(port, v5),
            )
        } else {
            (
                workdir.join(format!("{name}.conf")),
                config_text(port, extra),
            )
        };
        fs::write(&conf, text).map_err(|e| format!("{}: {e}", conf.display()))?;
        let errlog = workdir.join(format!("{name}.stderr"));
        let err = fs::File::create(&errlog).map_err(|e| format!("{}: {e}", errlog.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(err));
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill
        // the broker if this tool dies, so no broker outlives a benchmark.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let text = fs::read_to_string(&errlog).unwrap_or_default();
                last = format!(
                    "{} exited ({status}) on port {port}: {}",
                    bin.display(),
                    text.trim()
                );
                break;
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(Running {
                    addr,
                    pid: Some(child.id()),
                    fresh: true,
                    child: Some(child),
                });
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let text = fs::read_to_string(&errlog).unwrap_or_default();
                return Err(format!(
                    "{} did not listen on {addr} within 10 s (does it read `-c`?) {}",
                    bin.display(),
                    text.trim()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Err(last)
}

impl Drop for Running {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: signalling our own child, which we have not reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
