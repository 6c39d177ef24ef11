//! TLS and TLS-PSK through our library (the project's TLS client): Debian's
//! tools on ours against Debian's broker and ours.

mod common;
#[path = "../../tests/it/harness/pki.rs"]
#[allow(dead_code)]
mod pki;

use common::*;
use std::path::Path;

fn tls_round_trip(broker: &Path, tag: &str) {
    let pki = pki::Pki::fresh(tag);
    let b = Broker::start(
        broker,
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}",
            pki.arg("ca.crt"),
            pki.arg("server.crt"),
            pki.arg("server.key")
        ),
    );
    let lib = lib_dir();
    let ours = Lib::Ours(lib.path());
    let p = b.port.to_string();
    let ca = pki.arg("ca.crt");
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_pub",
            &[
                "-p",
                &p,
                "--cafile",
                &ca,
                "-h",
                "localhost",
                "-t",
                "tls/t",
                "-m",
                "secret",
                "-r",
                "-q",
                "1",
            ],
        ),
        10,
    );
    assert!(out.status.success(), "{out:?}");
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_sub",
            &[
                "-p",
                &p,
                "--cafile",
                &ca,
                "-h",
                "localhost",
                "-t",
                "tls/t",
                "-C",
                "1",
                "-v",
            ],
        ),
        10,
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "tls/t secret\n",
        "{out:?}"
    );
    // A server certificate for another name is refused, unless --insecure.
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_sub",
            &[
                "-p",
                &p,
                "--cafile",
                &ca,
                "-h",
                "127.0.0.2",
                "-t",
                "tls/t",
                "-C",
                "1",
            ],
        ),
        10,
    );
    assert!(!out.status.success(), "{out:?}");
}

#[test]
fn tls_debian_broker() {
    tls_round_trip(Path::new(DEBIAN_BROKER), "libmosq-tls-deb");
}

#[test]
fn tls_our_broker() {
    tls_round_trip(&our_broker(), "libmosq-tls-ours");
}

#[test]
fn psk_debian_broker() {
    let dir = TempDir::new("psk");
    let psk_file = dir.path().join("psk");
    std::fs::write(&psk_file, "dev1:deadbeef\n").expect("psk file");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::Permissions::from_mode(0o755);
        let _ = std::fs::set_permissions(dir.path(), mode);
        let mode = std::fs::Permissions::from_mode(0o644);
        let _ = std::fs::set_permissions(&psk_file, mode);
    }
    let b = Broker::start(
        Path::new(DEBIAN_BROKER),
        &format!("psk_hint hint\npsk_file {}", psk_file.display()),
    );
    let lib = lib_dir();
    let ours = Lib::Ours(lib.path());
    let p = b.port.to_string();
    let psk = ["--psk", "deadbeef", "--psk-identity", "dev1"];
    let mut args = vec!["-p", &p, "-t", "psk/t", "-m", "shared", "-r", "-q", "1"];
    args.extend_from_slice(&psk);
    let out = run_bounded(tool(ours, "mosquitto_pub", &args), 10);
    assert!(out.status.success(), "{out:?}");
    let mut args = vec!["-p", &p, "-t", "psk/t", "-C", "1", "-v"];
    args.extend_from_slice(&psk);
    let out = run_bounded(tool(ours, "mosquitto_sub", &args), 10);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "psk/t shared\n",
        "{out:?}"
    );
    // A wrong key fails the handshake.
    let out = run_bounded(
        tool(
            ours,
            "mosquitto_sub",
            &[
                "-p",
                &p,
                "-t",
                "psk/t",
                "-C",
                "1",
                "--psk",
                "beef",
                "--psk-identity",
                "dev1",
            ],
        ),
        10,
    );
    assert!(!out.status.success(), "{out:?}");
}

/// A client certificate (`mosquitto_tls_set` with certfile and keyfile)
/// for a broker that requires one.
#[test]
fn client_certificate_debian_broker() {
    let pki = pki::Pki::fresh("libmosq-tls-cert");
    let b = Broker::start(
        Path::new(DEBIAN_BROKER),
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true",
            pki.arg("ca.crt"),
            pki.arg("server.crt"),
            pki.arg("server.key")
        ),
    );
    let lib = lib_dir();
    let ours = Lib::Ours(lib.path());
    let p = b.port.to_string();
    let (ca, cert, key) = (
        pki.arg("ca.crt"),
        pki.arg("client.crt"),
        pki.arg("client.key"),
    );
    let base = ["-p", &p, "--cafile", &ca, "-h", "localhost", "-t", "c/t"];
    let mut args = base.to_vec();
    args.extend_from_slice(&["--cert", &cert, "--key", &key, "-m", "m", "-r"]);
    let out = run_bounded(tool(ours, "mosquitto_pub", &args), 10);
    assert!(out.status.success(), "{out:?}");
    let mut args = base.to_vec();
    args.extend_from_slice(&["--cert", &cert, "--key", &key, "-C", "1"]);
    let out = run_bounded(tool(ours, "mosquitto_sub", &args), 10);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "m\n", "{out:?}");
    // Without a certificate the broker refuses the handshake (with TLS 1.3
    // after it seemed complete): the client exits with an error, it does
    // not retry for ever (a kill by run_bounded would leave no code).
    let mut args = base.to_vec();
    args.extend_from_slice(&["-C", "1"]);
    let out = run_bounded(tool(ours, "mosquitto_sub", &args), 10);
    assert!(out.status.code().is_some_and(|c| c != 0), "{out:?}");
}

/// valgrind on Debian's mosquitto_sub over TLS on our library: no invalid
/// access, no definite or possible leak.
#[test]
fn valgrind_sub_over_tls() {
    let pki = pki::Pki::fresh("libmosq-tls-vg");
    let b = Broker::start(
        Path::new(DEBIAN_BROKER),
        &format!(
            "cafile {}\ncertfile {}\nkeyfile {}",
            pki.arg("ca.crt"),
            pki.arg("server.crt"),
            pki.arg("server.key")
        ),
    );
    let lib = lib_dir();
    let p = b.port.to_string();
    let ca = pki.arg("ca.crt");
    let base = ["-p", &p, "--cafile", &ca, "-h", "localhost", "-t", "vg"];
    let mut args = base.to_vec();
    args.extend_from_slice(&["-m", "k", "-r"]);
    let out = run_bounded(tool(Lib::Ours(lib.path()), "mosquitto_pub", &args), 10);
    assert!(out.status.success(), "{out:?}");
    let mut c = std::process::Command::new("valgrind");
    c.args([
        "-q",
        "--error-exitcode=9",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,possible",
        "/usr/bin/mosquitto_sub",
    ])
    .args(base)
    .args(["-C", "1"])
    .env("LD_LIBRARY_PATH", lib.path());
    let out = run_bounded(c, 120);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "k\n");
}
