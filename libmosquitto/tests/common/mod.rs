//! Shared by the library's tests: where the built library is, a directory
//! where it is named libmosquitto.so.1, brokers on free loopback ports, and
//! bounded waits.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const DEBIAN_LIB: &str = "/usr/lib/x86_64-linux-gnu/libmosquitto.so.1";
pub const DEBIAN_BROKER: &str = "/usr/sbin/mosquitto";

/// target/<profile>/, from this test binary's own path (target/<profile>/deps/).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Our built library. `cargo test` does not rebuild a cdylib for the
/// integration tests: run `cargo build -p libmosquitto` first.
pub fn our_lib() -> PathBuf {
    let lib = target_dir().join("libmosquitto.so");
    assert!(
        lib.exists(),
        "{} is missing: cargo build -p libmosquitto",
        lib.display()
    );
    lib
}

/// A fresh temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("libmosq-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A directory holding our library as libmosquitto.so.1, for LD_LIBRARY_PATH.
pub fn lib_dir() -> TempDir {
    let d = TempDir::new("lib");
    std::fs::copy(our_lib(), d.path().join("libmosquitto.so.1")).expect("copy library");
    d
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until something accepts on the port (bounded: 10 s).
pub fn wait_port(port: u16) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nothing listening on port {port}");
}

/// A running broker, killed on drop.
pub struct Broker {
    pub port: u16,
    child: Option<Child>,
    exe: PathBuf,
    dir: TempDir,
}

impl Broker {
    /// `exe` with a config of a loopback listener plus `extra` lines
    /// (`{dir}` in them stands for the broker's own directory).
    pub fn start(exe: &Path, extra: &str) -> Broker {
        let dir = TempDir::new("broker");
        // Debian's broker, started as root, drops to the mosquitto user:
        // its persistence file must still be writable.
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777));
        }
        let port = free_port();
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(
            dir.path().join("mosquitto.conf"),
            format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}\n"),
        )
        .expect("write config");
        let mut b = Broker {
            port,
            child: None,
            exe: exe.to_path_buf(),
            dir,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let child = Command::new(&self.exe)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start broker");
        self.child = Some(child);
        wait_port(self.port);
    }

    /// SIGTERM (the broker saves its state) and wait for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Debian's broker and ours (built from this workspace).
pub fn our_broker() -> PathBuf {
    target_dir().join("mosquitto")
}

/// Runs a child to completion with a deadline; kills it if it overstays.
pub fn run_bounded(mut cmd: Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > end {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

/// Exported symbols with their versions, `version name` per line, sorted.
pub fn versioned_symbols(lib: &Path) -> Vec<String> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(lib)
        .output()
        .expect("objdump");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.contains("*UND*") && l.contains("MOSQ_1."))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = f.len();
            (n >= 2).then(|| format!("{} {}", f[n - 2], f[n - 1]))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Which library a Debian tool runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lib<'a> {
    /// Ours, from this directory (named libmosquitto.so.1).
    Ours(&'a Path),
    /// Debian's own, as installed.
    Debian,
}

/// `/usr/bin/<tool>` on `lib`.
pub fn tool(lib: Lib<'_>, name: &str, args: &[&str]) -> Command {
    let mut c = Command::new(format!("/usr/bin/{name}"));
    c.args(args);
    if let Lib::Ours(dir) = lib {
        c.env("LD_LIBRARY_PATH", dir);
    }
    c
}

/// A running tool whose stdout lines are read as they come.
pub struct Lines {
    child: Child,
    rx: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    pub fn start(mut cmd: Command) -> Lines {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tool");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines { child, rx }
    }

    /// The next line, within 10 s.
    pub fn next(&mut self) -> String {
        self.rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a line from the tool within 10 s")
    }

    /// Waits (10 s at most) for the tool to exit; its status code.
    pub fn wait(mut self) -> Option<i32> {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        None
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
