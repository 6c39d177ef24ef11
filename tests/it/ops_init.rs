//! The SysV init script `conf/mosquitto.init`, run against the real broker
//! with every path in a temporary directory: start, status, reload, restart,
//! condrestart and stop, with the pid file written by the broker (`pid_file`
//! in the configuration, started with `-d`) or by the script (no
//! `pid_file`), a stale pid file, and a configuration that does not load.
//!
//! The script's plain pid-file logic is tested (the distribution's
//! /etc/rc.d/init.d/functions is switched off), so the result does not
//! depend on the machine. The broker is ours (`CARGO_BIN_EXE_mosquitto`)
//! unless `MQTT_TEST_BROKER` names another, e.g. Debian's
//! /usr/sbin/mosquitto.
//!
//! Only 127.0.0.1; every wait has a deadline; whatever the script started is
//! killed when a test ends, passed or failed.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::harness::{broker_bin, free_port, TempDir};

/// The longest any one run of the script may take (its own waits are
/// bounded by START_TIMEOUT and STOP_TIMEOUT, set to 10 s below).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(40);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether process `pid` exists and has not exited (zombies have).
fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/status")) {
        Ok(s) => !s
            .lines()
            .any(|l| l.starts_with("State:") && (l.contains("Z (") || l.contains("X ("))),
        Err(_) => false,
    }
}

/// Whether process `pid` is a live broker (named like the broker binary)
/// other than this test process: only those are killed on clean-up.
fn is_broker(pid: i32) -> bool {
    let bin = broker_bin();
    let name = bin.file_name().unwrap_or_default().to_string_lossy();
    let comm: String = name.chars().take(15).collect();
    pid != std::process::id() as i32
        && alive(pid)
        && fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim_end() == comm)
}

/// What one run of the script did.
struct Run {
    code: i32,
    output: String,
}

/// A temporary directory with a config, pid and lock file, and the broker
/// processes the script started (killed on drop).
struct Setup {
    dir: TempDir,
    port: u16,
    conf: PathBuf,
    pid_file: PathBuf,
    lock_file: PathBuf,
    /// Set PIDFILE for the script (needed when the config has no pid_file).
    pass_pid_file: bool,
    seen_pids: Vec<i32>,
}

impl Setup {
    /// `pid_in_config`: whether the config sets pid_file. `extra`: more
    /// config lines.
    fn new(tag: &str, pid_in_config: bool, extra: &str) -> Setup {
        // World-writable: a broker started as root may switch to the
        // mosquitto user before it writes its pid file.
        let dir = TempDir::new(&format!("ops-{tag}"));
        let port = free_port();
        let pid_file = dir.join("mosquitto.pid");
        let mut conf = format!("listener {port} 127.0.0.1\nallow_anonymous true\n");
        if pid_in_config {
            conf.push_str(&format!("pid_file {}\n", pid_file.display()));
        }
        conf.push_str(extra);
        let conf_path = dir.join("mosquitto.conf");
        fs::write(&conf_path, conf).expect("write config");
        Setup {
            port,
            conf: conf_path,
            pid_file,
            lock_file: dir.join("subsys-mosquitto"),
            pass_pid_file: !pid_in_config,
            seen_pids: Vec::new(),
            dir,
        }
    }

    /// Runs `conf/mosquitto.init ACTION` with this setup's paths.
    fn run(&mut self, action: &str) -> Run {
        let out_path = self.dir.join(&format!("script-{action}.out"));
        let out = File::create(&out_path).expect("script output file");
        let err = out.try_clone().expect("dup output file");
        let mut cmd = Command::new("bash");
        cmd.arg(repo().join("conf/mosquitto.init"))
            .arg(action)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for var in [
            "MOSQUITTO_BIN",
            "MOSQUITTO_CONF",
            "PIDFILE",
            "LOCKFILE",
            "START_TIMEOUT",
            "STOP_TIMEOUT",
            "MOSQUITTO_SYSCONFIG",
            "MOSQUITTO_INIT_FUNCTIONS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("MOSQUITTO_BIN", broker_bin())
            .env("MOSQUITTO_CONF", &self.conf)
            .env("LOCKFILE", &self.lock_file)
            .env("START_TIMEOUT", "10")
            .env("STOP_TIMEOUT", "10")
            .env("MOSQUITTO_SYSCONFIG", self.dir.join("no-sysconfig"))
            .env("MOSQUITTO_INIT_FUNCTIONS", self.dir.join("no-functions"));
        if self.pass_pid_file {
            cmd.env("PIDFILE", &self.pid_file);
        }
        let mut child = cmd.spawn().expect("run bash");
        let deadline = Instant::now() + SCRIPT_DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the script") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("mosquitto.init {action} still running after {SCRIPT_DEADLINE:?}");
            }
            sleep(Duration::from_millis(20));
        };
        if let Some(pid) = self.recorded_pid() {
            self.seen_pids.push(pid);
        }
        let output = fs::read_to_string(&out_path).unwrap_or_default();
        Run {
            code: status.code().unwrap_or(-1),
            output,
        }
    }

    /// The pid in the pid file, if there is a file with a number in it.
    fn recorded_pid(&self) -> Option<i32> {
        fs::read_to_string(&self.pid_file)
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    /// The running broker's pid, from the pid file, which must name a live
    /// process.
    fn running_pid(&self) -> i32 {
        let pid = self
            .recorded_pid()
            .unwrap_or_else(|| panic!("no pid in {}", self.pid_file.display()));
        assert!(alive(pid), "pid {pid} from the pid file is not running");
        pid
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The broker answers an MQTT 3.1.1 CONNECT with CONNACK "accepted".
    fn assert_accepts_mqtt(&self) {
        let mut s = TcpStream::connect_timeout(&self.addr(), IO_TIMEOUT)
            .unwrap_or_else(|e| panic!("connect to port {}: {e}", self.port));
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        // CONNECT: protocol "MQTT" level 4, clean session, keepalive 60,
        // client id "ops".
        let connect = [
            0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 3, b'o', b'p', b's',
        ];
        s.write_all(&connect).expect("send CONNECT");
        let mut connack = [0u8; 4];
        s.read_exact(&mut connack).expect("read CONNACK");
        assert_eq!(connack, [0x20, 0x02, 0x00, 0x00], "CONNACK accepted");
    }

    /// Nothing listens on the port any more.
    fn assert_refuses_connections(&self) {
        match TcpStream::connect_timeout(&self.addr(), IO_TIMEOUT) {
            Ok(_) => panic!("port {} still accepts connections", self.port),
            Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}"),
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(pid) = self.recorded_pid() {
            self.seen_pids.push(pid);
        }
        for &pid in &self.seen_pids {
            if is_broker(pid) {
                // SAFETY: kill(2) on a pid this test's script started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        // `dir` (a TempDir) is removed after this, the brokers gone.
    }
}

fn assert_code(run: &Run, want: i32, what: &str) {
    assert_eq!(
        run.code, want,
        "{what}: exit code {} (want {want}); output:\n{}",
        run.code, run.output
    );
}

/// Waits (bounded) until process `pid` has gone.
fn assert_exits(pid: i32) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while alive(pid) {
        assert!(Instant::now() < deadline, "pid {pid} still running");
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn start_status_reload_restart_stop_with_the_brokers_own_pid_file() {
    let mut s = Setup::new("daemon", true, "");

    let r = s.run("status");
    assert_code(&r, 3, "status before start");
    assert!(r.output.contains("is stopped"), "{}", r.output);
    s.assert_refuses_connections();

    assert_code(&s.run("start"), 0, "start");
    let pid = s.running_pid();
    assert!(s.lock_file.exists(), "start creates the lock file");
    let r = s.run("status");
    assert_code(&r, 0, "status while running");
    assert!(
        r.output.contains(&format!("(pid {pid}) is running")),
        "{}",
        r.output
    );
    s.assert_accepts_mqtt();

    // A second start leaves the running broker alone.
    let r = s.run("start");
    assert_code(&r, 0, "start while running");
    assert!(r.output.contains("already running"), "{}", r.output);
    assert_eq!(s.running_pid(), pid);

    // SIGHUP: the same process carries on.
    assert_code(&s.run("reload"), 0, "reload");
    assert_code(&s.run("force-reload"), 0, "force-reload");
    assert_eq!(s.running_pid(), pid);
    s.assert_accepts_mqtt();

    // restart and condrestart replace the process.
    assert_code(&s.run("restart"), 0, "restart");
    let pid2 = s.running_pid();
    assert_ne!(pid2, pid, "restart starts a new broker");
    assert_exits(pid);
    s.assert_accepts_mqtt();
    assert_code(&s.run("condrestart"), 0, "condrestart while running");
    let pid3 = s.running_pid();
    assert_ne!(pid3, pid2, "condrestart restarts a running broker");
    assert_exits(pid2);

    assert_code(&s.run("stop"), 0, "stop");
    assert_exits(pid3);
    assert!(!s.pid_file.exists(), "stop leaves no pid file");
    assert!(!s.lock_file.exists(), "stop removes the lock file");
    s.assert_refuses_connections();
    let r = s.run("status");
    assert_code(&r, 3, "status after stop");
    assert!(r.output.contains("is stopped"), "{}", r.output);

    // Actions on a stopped service.
    assert_code(&s.run("stop"), 0, "stop when stopped");
    assert_code(&s.run("reload"), 7, "reload when stopped");
    assert_code(&s.run("try-restart"), 0, "try-restart when stopped");
    assert!(
        !s.pid_file.exists(),
        "try-restart does not start a stopped broker"
    );
    s.assert_refuses_connections();
}

#[test]
fn without_pid_file_in_the_config_the_script_records_the_pid() {
    let mut s = Setup::new("background", false, "");

    assert_code(&s.run("start"), 0, "start");
    let pid = s.running_pid();
    let r = s.run("status");
    assert_code(&r, 0, "status while running");
    assert!(r.output.contains("is running"), "{}", r.output);
    s.assert_accepts_mqtt();

    assert_code(&s.run("reload"), 0, "reload");
    assert_eq!(s.running_pid(), pid);

    assert_code(&s.run("stop"), 0, "stop");
    assert_exits(pid);
    assert!(!s.pid_file.exists(), "stop removes the pid file");
    s.assert_refuses_connections();
    assert_code(&s.run("status"), 3, "status after stop");
}

#[test]
fn a_stale_pid_file_or_lock_is_reported_and_start_recovers() {
    let mut s = Setup::new("stale", true, "");

    // The pid of a process that has exited.
    let mut child = Command::new("true").spawn().expect("run true");
    let dead = child.id() as i32;
    child.wait().expect("wait for true");
    assert!(!alive(dead));
    fs::write(&s.pid_file, format!("{dead}\n")).unwrap();
    let r = s.run("status");
    assert_code(&r, 1, "status with a stale pid file");
    assert!(
        r.output.contains("dead but pid file exists"),
        "{}",
        r.output
    );

    // The number now belongs to a process that is not the broker.
    fs::write(&s.pid_file, format!("{}\n", std::process::id())).unwrap();
    assert_code(&s.run("status"), 1, "status with another program's pid");

    fs::remove_file(&s.pid_file).unwrap();
    fs::write(&s.lock_file, "").unwrap();
    let r = s.run("status");
    assert_code(&r, 2, "status with only the lock file");
    assert!(r.output.contains("dead but subsys locked"), "{}", r.output);

    fs::write(&s.pid_file, format!("{dead}\n")).unwrap();
    assert_code(&s.run("start"), 0, "start over a stale pid file");
    let pid = s.running_pid();
    assert_ne!(pid, dead);
    s.assert_accepts_mqtt();
    assert_code(&s.run("stop"), 0, "stop");
    assert_exits(pid);
    s.assert_refuses_connections();
}

#[test]
fn start_fails_cleanly_on_a_configuration_that_does_not_load() {
    for (tag, pid_in_config) in [("badconf-daemon", true), ("badconf-background", false)] {
        let mut s = Setup::new(tag, pid_in_config, "no_such_option_here 1\n");
        let r = s.run("start");
        assert_ne!(r.code, 0, "{tag}: start must fail; output:\n{}", r.output);
        assert!(r.output.contains("FAILED"), "{tag}: {}", r.output);
        assert!(
            !s.pid_file.exists(),
            "{tag}: no pid file after a failed start"
        );
        assert!(
            !s.lock_file.exists(),
            "{tag}: no lock file after a failed start"
        );
        assert_code(&s.run("status"), 3, "status after a failed start");
        s.assert_refuses_connections();
    }
}

#[test]
fn missing_binary_or_config_and_bad_usage_have_lsb_exit_codes() {
    let mut s = Setup::new("lsb", true, "");
    assert_code(&s.run("frobnicate"), 2, "unknown action");

    let conf = s.conf.clone();
    s.conf = s.dir.join("no-such.conf");
    assert_code(&s.run("start"), 6, "start without a config");
    s.conf = conf;

    // The configuration's pid_file and PIDFILE must agree.
    s.pass_pid_file = true;
    let real = s.pid_file.clone();
    s.pid_file = s.dir.join("other.pid");
    let r = s.run("start");
    assert_code(&r, 6, "start with a PIDFILE the config does not use");
    assert!(r.output.contains("make them the same"), "{}", r.output);
    s.pid_file = real;
    assert!(!s.pid_file.exists());
    s.assert_refuses_connections();
}

#[test]
fn script_headers_and_syntax() {
    let path = repo().join("conf/mosquitto.init");
    let text = fs::read_to_string(&path).expect("init script");
    assert!(text.starts_with("#!/bin/bash\n"));
    for header in [
        "# chkconfig:",
        "# description:",
        "# processname:  mosquitto",
        "# pidfile:      /var/run/mosquitto.pid",
        "### BEGIN INIT INFO",
        "# Provides:          mosquitto",
        "# Required-Start:",
        "# Short-Description:",
        "### END INIT INFO",
    ] {
        assert!(text.contains(header), "init script lacks {header:?}");
    }
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "init script is executable");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash -n");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    shellcheck(&[&path, &repo().join(".ci/rpm-check")]);
}

/// shellcheck, when installed (.ci/rpm-check installs it and runs it too).
fn shellcheck(paths: &[&Path]) {
    let Ok(out) = Command::new("shellcheck").args(paths).output() else {
        eprintln!("skipping shellcheck: not installed (.ci/rpm-check runs it)");
        return;
    };
    assert!(
        out.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
