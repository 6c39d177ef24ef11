//! A C program (tests/c/client.c) compiled at test time against our
//! mosquitto.h and linked with our library; a C++ program on Debian's
//! libmosquittopp on our library; valgrind on both kinds of use.

mod common;
use common::*;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Compiles the C test program against our header and library.
fn build_c(lib: &TempDir) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = lib.path().join("client");
    let out = Command::new("cc")
        .args(["-Wall", "-Wextra", "-Werror", "-g", "-O1", "-I"])
        .arg(root.join("include"))
        .arg(root.join("tests/c/client.c"))
        .arg(format!("-L{}", lib.path().display()))
        .args(["-l:libmosquitto.so.1", "-lpthread", "-o"])
        .arg(&exe)
        .output()
        .expect("cc");
    assert!(
        out.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run_c(lib: &TempDir, exe: &Path, args: &[&str]) -> String {
    let mut c = Command::new(exe);
    c.args(args).env("LD_LIBRARY_PATH", lib.path());
    let out = run_bounded(c, 30);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn c_program_links_our_library() {
    let lib = lib_dir();
    let exe = build_c(&lib);
    let out = Command::new("ldd")
        .arg(&exe)
        .env("LD_LIBRARY_PATH", lib.path())
        .output()
        .expect("ldd");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{}/libmosquitto.so.1", lib.path().display())),
        "{text}"
    );
    assert_eq!(run_c(&lib, &exe, &["api"]), "api ok\n");
}

fn threaded_and_polled(broker: &Path) {
    let b = Broker::start(broker, "");
    let lib = lib_dir();
    let exe = build_c(&lib);
    let port = b.port.to_string();
    assert_eq!(run_c(&lib, &exe, &["threaded", &port]), "threaded ok 100\n");
    assert_eq!(run_c(&lib, &exe, &["polled", &port]), "polled ok 100\n");
    assert_eq!(run_c(&lib, &exe, &["threads", &port]), "threads ok 1000\n");
    for (t, m) in [("simple/1", "one"), ("simple/2", "two")] {
        let out = run_bounded(
            tool(
                Lib::Debian,
                "mosquitto_pub",
                &["-p", &port, "-t", t, "-m", m, "-r", "-q", "1"],
            ),
            10,
        );
        assert!(out.status.success());
    }
    assert_eq!(run_c(&lib, &exe, &["simple", &port]), "simple ok\n");
}

#[test]
fn c_threaded_and_polled_debian_broker() {
    threaded_and_polled(Path::new(DEBIAN_BROKER));
}

#[test]
fn c_threaded_and_polled_our_broker() {
    threaded_and_polled(&our_broker());
}

/// The broker restarts (its state saved) while the program publishes at
/// QoS 1: every message arrives, after an automatic reconnect.
fn reconnect(broker: &Path) {
    let mut b = Broker::start(
        broker,
        "persistence true\npersistence_location {dir}/\nautosave_interval 1",
    );
    let lib = lib_dir();
    let exe = build_c(&lib);
    let mut child = Command::new(&exe)
        .args(["reconnect", &b.port.to_string()])
        .env("LD_LIBRARY_PATH", lib.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).expect("half");
    assert_eq!(line, "half\n");
    b.stop();
    // The rest is published while the broker is down.
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("go");
    drop(stdin);
    b.restart();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = rx
        .recv_timeout(std::time::Duration::from_secs(40))
        .expect("program ends")
        .expect("output");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("rest");
    assert!(
        rest.starts_with("reconnect ok 100 connects "),
        "{rest}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let connects: u32 = rest
        .trim()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(connects >= 2, "{rest}");
    assert!(out.status.success());
}

#[test]
fn c_reconnect_no_qos1_loss_debian_broker() {
    reconnect(Path::new(DEBIAN_BROKER));
}

#[test]
fn c_reconnect_no_qos1_loss_our_broker() {
    reconnect(&our_broker());
}

/// Debian's C++ wrapper (libmosquittopp.so.1) on our libmosquitto.so.1.
#[test]
fn cpp_wrapper_runs_on_our_library() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let lib = lib_dir();
    let exe = lib.path().join("cppclient");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("g++")
        .args(["-Wall", "-O1", "-g"])
        .arg(root.join("tests/cpp/client.cpp"))
        .args(["-lmosquittopp", "-o"])
        .arg(&exe)
        .output()
        .expect("g++");
    assert!(
        out.status.success(),
        "g++: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ldd = Command::new("ldd")
        .arg(&exe)
        .env("LD_LIBRARY_PATH", lib.path())
        .output()
        .expect("ldd");
    let ldd = String::from_utf8_lossy(&ldd.stdout);
    assert!(ldd.contains("libmosquittopp.so.1"), "{ldd}");
    assert!(
        ldd.contains(&format!("{}/libmosquitto.so.1", lib.path().display())),
        "{ldd}"
    );
    assert_eq!(run_c(&lib, &exe, &[&b.port.to_string()]), "cpp ok 10\n");
}

/// valgrind: no invalid reads or writes, and no definite or possible
/// leaks, in `cmd`.
fn valgrind(lib: &TempDir, args: &[&str]) -> String {
    let mut c = Command::new("valgrind");
    c.args([
        "-q",
        "--error-exitcode=9",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,possible",
    ])
    .args(args)
    .env("LD_LIBRARY_PATH", lib.path());
    let out = run_bounded(c, 120);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "valgrind {args:?}: {err}");
    assert!(
        !err.contains("Invalid read") && !err.contains("Invalid write"),
        "{err}"
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn valgrind_c_program_and_debian_sub() {
    let b = Broker::start(Path::new(DEBIAN_BROKER), "");
    let lib = lib_dir();
    let exe = build_c(&lib);
    let exe = exe.to_string_lossy().into_owned();
    let port = b.port.to_string();
    assert_eq!(valgrind(&lib, &[&exe, "api"]), "api ok\n");
    assert_eq!(
        valgrind(&lib, &[&exe, "threaded", &port]),
        "threaded ok 100\n"
    );
    assert_eq!(valgrind(&lib, &[&exe, "polled", &port]), "polled ok 100\n");
    assert_eq!(
        valgrind(&lib, &[&exe, "threads", &port]),
        "threads ok 1000\n"
    );
    // Debian's mosquitto_sub on our library, MQTT 5 with properties.
    let out = run_bounded(
        tool(
            Lib::Ours(lib.path()),
            "mosquitto_pub",
            &["-p", &port, "-t", "vg/t", "-m", "kept", "-r", "-q", "1"],
        ),
        10,
    );
    assert!(out.status.success());
    let text = valgrind(
        &lib,
        &[
            "/usr/bin/mosquitto_sub",
            "-p",
            &port,
            "-V",
            "5",
            "-t",
            "vg/t",
            "-C",
            "1",
            "-F",
            "%t %p %r",
            "-D",
            "connect",
            "user-property",
            "a",
            "b",
        ],
    );
    assert_eq!(text, "vg/t kept 1\n");
}
