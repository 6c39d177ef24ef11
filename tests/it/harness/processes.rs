//! Processes and the things around them: which broker is under test,
//! temporary directories, free loopback ports, bounded waits, and `Broker`
//! (the broker binary on a free loopback port with a temporary config file,
//! killed when dropped) and `RefBroker` (Debian's mosquitto, for tests that
//! need both).
//!
//! The binary under test is ours (`CARGO_BIN_EXE_mosquitto`) unless the
//! environment variable `MQTT_TEST_BROKER` names another one, e.g.
//! `MQTT_TEST_BROKER=/usr/sbin/mosquitto cargo test --test it -- broker_connect::`
//! runs the same tests against Debian's mosquitto 2.0.11. `is_reference()`
//! lets the few tests where we deliberately differ from mosquitto 2.0.11 branch.
//!
//! Rules: no sleeps for synchronisation (waits are socket reads with
//! deadlines, or polls of something that cannot be waited on, bounded by a
//! timeout), every loop bounded, only 127.0.0.1.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::mqtt::Client;

/// How long to wait for something that should happen.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long to wait when checking that nothing happens.
pub const QUIET: Duration = Duration::from_millis(300);
/// How long the broker may take to start listening.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A number no other call in this test process gets (for unique names).
pub fn unique() -> usize {
    COUNTER.fetch_add(1, Ordering::SeqCst)
}

/// The broker binary under test.
pub fn broker_bin() -> PathBuf {
    match std::env::var_os("MQTT_TEST_BROKER") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_mosquitto")),
    }
}

/// True when the tests run against a reference broker (Debian's mosquitto
/// 2.0.11) rather than ours. Tests of behaviours where we deliberately differ
/// from mosquitto 2.0.11 branch on this.
pub fn is_reference() -> bool {
    matches!(std::env::var_os("MQTT_TEST_BROKER"), Some(p) if !p.is_empty())
}

/// True in CI, where a missing external tool is a failure, not a skip.
pub fn in_ci() -> bool {
    matches!(std::env::var("CI"), Ok(v) if !v.is_empty() && v != "false" && v != "0")
}

/// A temporary directory removed on drop (kept if `MQTT_TEST_KEEP` is set).
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = unique();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "mosquitto-rs-test-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        // Brokers started as root drop privileges (to "mosquitto", as
        // Debian's does): let them write their files here.
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o777));
        TempDir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes the text `contents` to the file `name` here; its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        self.write_bytes(name, contents.as_bytes())
    }

    /// Writes `contents` to the file `name` here; its path.
    pub fn write_bytes(&self, name: &str, contents: &[u8]) -> PathBuf {
        let p = self.join(name);
        fs::write(&p, contents).expect("write temp file");
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("MQTT_TEST_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A loopback port that was free a moment ago, and that no other call in
/// this process has returned (all the tests share one process, and the
/// kernel may hand a just-released port out again before its first taker
/// has bound it).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    for _ in 0..1000 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().expect("local_addr").port();
        if given.insert(port) {
            return port;
        }
    }
    panic!("no fresh loopback port in 1000 tries");
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// True when process `pid` holds a listening TCP socket on `port`. A port
/// that merely accepts connections may belong to another test's broker that
/// took it between `free_port` and our bind.
pub fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        fs::read_link(fd.path()).is_ok_and(|target| {
            let t = target.to_string_lossy();
            inodes.iter().any(|i| t == format!("socket:[{i}]"))
        })
    })
}

/// Socket inodes in LISTEN state on `port`, from /proc/net/tcp and tcp6.
fn listening_inodes(port: u16) -> Vec<String> {
    let want = format!(":{port:04X}");
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 0A (LISTEN), inode in the tenth column.
            if let (Some(local), Some(&"0A"), Some(inode)) = (f.get(1), f.get(3), f.get(9)) {
                if local.ends_with(&want) {
                    out.push((*inode).to_string());
                }
            }
        }
    }
    out
}

/// The output of a broker run that was expected to exit by itself.
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Exited {
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs the broker binary with `args` in `dir` and waits (bounded) for it to
/// exit by itself. Panics if it is still running after `timeout`.
pub fn run_to_exit(args: &[&str], dir: &TempDir, timeout: Duration) -> Exited {
    let out_path = dir.join("run.stdout");
    let err_path = dir.join("run.stderr");
    let mut child = Command::new(broker_bin())
        .args(args)
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("stdout file"))
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn broker");
    let status = wait_timeout(&mut child, timeout);
    let status = match status {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "broker {:?} {:?} did not exit within {:?}; stderr: {}",
                broker_bin(),
                args,
                timeout,
                fs::read_to_string(&err_path).unwrap_or_default()
            );
        }
    };
    Exited {
        status,
        stdout: fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Polls `done` until it returns true (then true) or `timeout` passes (then
/// false). For what has no readiness notification to wait on: log files,
/// another thread's buffer, a child's exit.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits (bounded) until the text `read` returns contains `needle`.
pub fn wait_for_text(read: impl Fn() -> String, needle: &str, timeout: Duration) -> bool {
    wait_until(timeout, || read().contains(needle))
}

/// Polls `try_wait` until the child exits or the timeout passes.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => {}
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        // Polling a child process has no blocking-with-timeout form in std.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A running broker on 127.0.0.1:`port`, killed on drop.
pub struct Broker {
    pub port: u16,
    pub dir: TempDir,
    pub config_path: PathBuf,
    child: Option<Child>,
    exit: Option<ExitStatus>,
}

impl Broker {
    /// Starts the broker with `listener PORT 127.0.0.1`, `allow_anonymous
    /// true` and the `extra_config` lines.
    pub fn start(extra_config: &str) -> Broker {
        Broker::start_config(|port| {
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra_config}\n")
        })
    }

    /// Starts the broker with a config file whose whole text `make_config`
    /// returns for the chosen port.
    pub fn start_config(make_config: impl Fn(u16) -> String) -> Broker {
        Broker::start_with(|port, dir| {
            let path = dir.write("mosquitto.conf", &make_config(port));
            vec!["-c".to_string(), path.to_string_lossy().into_owned()]
        })
    }

    /// Like `start`, with the environment variables `env` set for the
    /// broker process (never for the test process: the other tests' brokers
    /// must not see them).
    pub fn start_env(extra_config: &str, env: &[(&str, &OsStr)]) -> Broker {
        Broker::start_with_env(
            |port, dir| {
                let conf =
                    format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra_config}\n");
                let path = dir.write("mosquitto.conf", &conf);
                vec!["-c".to_string(), path.to_string_lossy().into_owned()]
            },
            env,
        )
    }

    /// Starts the broker on a given port (to restart one where its peers
    /// expect it) with the whole config text `make_config` returns.
    pub fn start_on(port: u16, make_config: impl Fn(u16) -> String) -> Broker {
        Broker::try_start_on(port, make_config)
            .unwrap_or_else(|log| panic!("broker did not start on port {port}:\n{log}"))
    }

    /// `start_on`, or the broker's output if it did not start (e.g. because
    /// something else has the port).
    pub fn try_start_on(port: u16, make_config: impl Fn(u16) -> String) -> Result<Broker, String> {
        let dir = TempDir::new("broker");
        let path = dir.write("mosquitto.conf", &make_config(port));
        let args = vec!["-c".to_string(), path.to_string_lossy().into_owned()];
        let mut b = Broker::spawn(port, dir, &args, &[]);
        b.wait_listening()?;
        Ok(b)
    }

    /// Starts the broker with the command line `make_args` returns for the
    /// chosen port and temp dir, and waits until the port accepts TCP
    /// connections. Retries with another port if the chosen one was taken in
    /// the meantime.
    pub fn start_with(make_args: impl Fn(u16, &TempDir) -> Vec<String>) -> Broker {
        Broker::start_with_env(make_args, &[])
    }

    /// `start_with`, with the environment variables `env` set for the broker.
    pub fn start_with_env(
        make_args: impl Fn(u16, &TempDir) -> Vec<String>,
        env: &[(&str, &OsStr)],
    ) -> Broker {
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let dir = TempDir::new("broker");
            let port = free_port();
            let args = make_args(port, &dir);
            let mut b = Broker::spawn(port, dir, &args, env);
            match b.wait_listening() {
                Ok(()) => return b,
                Err(log) => {
                    last_log = log;
                    if last_log.contains("in use") {
                        continue;
                    }
                    break;
                }
            }
        }
        panic!(
            "broker {:?} did not start listening within {:?}; its output:\n{last_log}",
            broker_bin(),
            START_TIMEOUT
        );
    }

    /// Runs the broker with `args` in `dir`, its output going to files there.
    fn spawn(port: u16, dir: TempDir, args: &[String], env: &[(&str, &OsStr)]) -> Broker {
        let config_path = args
            .iter()
            .position(|a| a == "-c")
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
            .unwrap_or_default();
        let child = Command::new(broker_bin())
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("broker.stdout")).expect("stdout file"))
            .stderr(File::create(dir.join("broker.stderr")).expect("stderr file"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn broker {:?}: {e}", broker_bin()));
        Broker {
            port,
            dir,
            config_path,
            child: Some(child),
            exit: None,
        }
    }

    /// The port as a command-line argument (`-p`).
    pub fn port_arg(&self) -> String {
        self.port.to_string()
    }

    fn wait_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ours = self
                .child
                .as_ref()
                .is_none_or(|c| listens_on(c.id(), self.port));
            if ours
                && TcpStream::connect_timeout(&addr(self.port), Duration::from_millis(500)).is_ok()
            {
                return Ok(());
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.exit = Some(status);
                    self.child = None;
                    return Err(format!("(exited: {status})\n{}", self.log_text()));
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("(timed out)\n{}", self.log_text()));
            }
            // Connection refused comes back at once; do not spin.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the broker wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        let out = fs::read_to_string(self.dir.join("broker.stdout")).unwrap_or_default();
        let err = fs::read_to_string(self.dir.join("broker.stderr")).unwrap_or_default();
        format!("{out}{err}")
    }

    /// Waits (bounded) until the broker's output contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(|| self.log_text(), needle, timeout)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Sends SIGTERM and waits for the process to exit. Returns its status,
    /// or None if it did not exit within the timeout (it is then killed).
    pub fn stop_gracefully(&mut self) -> Option<ExitStatus> {
        let mut child = match self.child.take() {
            Some(c) => c,
            None => return self.exit,
        };
        // SAFETY: kill(2) on the pid of a child we spawned and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        match wait_timeout(&mut child, TIMEOUT) {
            Some(s) => {
                self.exit = Some(s);
                Some(s)
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
        }
    }

    /// Kills the broker at once (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            self.exit = c.wait().ok();
        }
    }

    /// A connected, CONNACKed MQTT 3.1.1 client.
    pub fn client(&self, client_id: &str) -> Client {
        Client::connect(self.port, client_id, true, 60)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- broker output ({:?}, port {}) ----\n{}\n---- end of broker output ----",
                broker_bin(),
                self.port,
                self.log_text()
            );
        }
    }
}

/// Reads a file, panicking with a clear message if it is missing.
pub fn read_required(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "required file {} is missing or unreadable: {e}",
            path.display()
        )
    })
}

/// Looks for an executable on PATH (or an absolute path).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// Returns the tool's path, or: in CI panics; elsewhere prints a skip note
/// and returns None.
pub fn require_tool(name: &str, why: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(p) => Some(p),
        None if in_ci() => panic!("{name} is required in CI ({why}) but was not found on PATH"),
        None => {
            eprintln!("SKIP: {name} not found on PATH ({why}); install it to run this test");
            None
        }
    }
}

/// Debian's mosquitto started on `port` with the config file `conf`, killed
/// on drop (or stopped with SIGTERM by `stop`, which makes it save).
pub struct RefBroker {
    pub port: u16,
    child: Child,
    /// Holds its log: stdout and stderr, printed if a test panics.
    dir: TempDir,
}

impl RefBroker {
    /// Starts Debian's mosquitto with the config file `write_conf` writes
    /// for a free port, and waits until that process listens there (another
    /// port is tried if the first was taken meanwhile). None (after a skip
    /// note, or a panic under CI) when it is not installed.
    pub fn start(write_conf: impl Fn(u16) -> PathBuf) -> Option<RefBroker> {
        let bin = require_tool("mosquitto", "the reference broker")?;
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let conf = write_conf(port);
            let dir = TempDir::new("debian-log");
            let log = File::create(dir.join("mosquitto.log")).expect("log file");
            let child = Command::new(&bin)
                .args(["-c", &conf.to_string_lossy()])
                .stdout(log.try_clone().expect("log file"))
                .stderr(log)
                .spawn()
                .expect("start Debian mosquitto");
            let mut b = RefBroker { port, child, dir };
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if b.child.try_wait().ok().flatten().is_some() {
                    last_log = b.log_text();
                    break;
                }
                if listens_on(b.child.id(), port) && TcpStream::connect(addr(port)).is_ok() {
                    return Some(b);
                }
                assert!(
                    Instant::now() < deadline,
                    "Debian mosquitto did not start:\n{}",
                    b.log_text()
                );
                // Neither a child's exit nor its bind can be waited on with
                // a timeout in std; poll briefly.
                std::thread::sleep(Duration::from_millis(20));
            }
            if !last_log.contains("in use") {
                break;
            }
        }
        panic!("Debian mosquitto exited:\n{last_log}");
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// Waits (bounded) until its log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_for_text(|| self.log_text(), needle, timeout)
    }

    /// SIGTERM and wait: mosquitto saves its database on the way out. Its
    /// exit status.
    pub fn stop(mut self) -> ExitStatus {
        // SAFETY: kill(2) on the child we started.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let status = wait_timeout(&mut self.child, TIMEOUT);
        assert!(status.is_some(), "Debian mosquitto exited");
        status.expect("exited")
    }
}

impl Drop for RefBroker {
    fn drop(&mut self) {
        let exited = self.child.try_wait().ok().flatten();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- Debian mosquitto output (exited by itself: {exited:?}) ----\n{}\n---- end of Debian mosquitto output ----",
                self.log_text()
            );
        }
    }
}
