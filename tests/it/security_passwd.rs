//! Password files written by Debian's `mosquitto_passwd` load and check.
#![cfg(feature = "tls")]

use std::path::Path;
use std::process::Command;

use crate::harness::TempDir;
use mosquitto_rs::broker::security::{authenticate, AuthResult, ConnackCode, PasswordFile};

const TOOL: &str = "/usr/bin/mosquitto_passwd";

/// The tool, or `None` (outside CI) with a note. In CI a missing tool fails.
fn tool() -> Option<&'static Path> {
    let p = Path::new(TOOL);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{TOOL} is missing (apt-get install mosquitto)");
    }
    eprintln!("note: {TOOL} not installed; skipping this test");
    None
}

fn run(tool: &Path, args: &[&str]) {
    let out = Command::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "mosquitto_passwd {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn files_from_mosquitto_passwd() {
    let Some(tool) = tool() else { return };
    let dir = TempDir::new("passwd-both");
    let file = dir.join("pw");
    let f = file.to_str().unwrap();
    run(tool, &["-c", "-b", f, "alice", "s3cret"]);
    run(tool, &["-b", "-H", "sha512", f, "bob", "hunter2"]);
    run(
        tool,
        &["-b", "-H", "sha512-pbkdf2", f, "carol", "pä ss:word"],
    );
    run(tool, &["-b", f, "dave", ""]);

    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alice:$7$101$"), "{text}");
    assert!(text.contains("bob:$6$"), "{text}");

    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.warnings().is_empty(), "{:?}", pw.warnings());
    assert_eq!(pw.len(), 4);
    assert_eq!(pw.check("alice", Some(b"s3cret")), AuthResult::Ok);
    assert_eq!(pw.check("alice", Some(b"s3cret ")), AuthResult::BadPassword);
    assert_eq!(pw.check("bob", Some(b"hunter2")), AuthResult::Ok);
    assert_eq!(pw.check("bob", Some(b"hunter3")), AuthResult::BadPassword);
    assert_eq!(
        pw.check("carol", Some("pä ss:word".as_bytes())),
        AuthResult::Ok
    );
    assert_eq!(pw.check("dave", Some(b"")), AuthResult::Ok);
    assert_eq!(pw.check("dave", None), AuthResult::MissingPassword);
    assert_eq!(pw.check("eve", Some(b"s3cret")), AuthResult::UnknownUser);

    assert_eq!(
        authenticate(false, Some(&pw), Some("bob"), Some(b"hunter2")),
        Ok(())
    );
    assert_eq!(
        authenticate(false, Some(&pw), Some("bob"), Some(b"nope")),
        Err(ConnackCode::NotAuthorized)
    );

    // Deleting a user with the tool removes it for us too.
    run(tool, &["-D", f, "bob"]);
    let pw = PasswordFile::load(&file).unwrap();
    assert_eq!(pw.check("bob", Some(b"hunter2")), AuthResult::UnknownUser);
    assert_eq!(pw.check("alice", Some(b"s3cret")), AuthResult::Ok);
}

#[test]
fn plaintext_file_upgraded_with_dash_u() {
    let Some(tool) = tool() else { return };
    let dir = TempDir::new("passwd-upgrade");
    let file = dir.join("pw");
    // (Debian's mosquitto_passwd -U refuses comment lines, so none here.)
    std::fs::write(&file, "alice:apple\nbob:banana\n").unwrap();

    // As mosquitto 2.0: plaintext entries are dropped with a warning each.
    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.is_empty());
    let lines: Vec<usize> = pw.warnings().iter().map(|w| w.line).collect();
    assert_eq!(lines, vec![1, 2]);
    assert_eq!(pw.check("alice", Some(b"apple")), AuthResult::UnknownUser);

    run(tool, &["-U", file.to_str().unwrap()]);
    let pw = PasswordFile::load(&file).unwrap();
    assert!(pw.warnings().is_empty(), "{:?}", pw.warnings());
    assert_eq!(pw.check("alice", Some(b"apple")), AuthResult::Ok);
    assert_eq!(pw.check("bob", Some(b"banana")), AuthResult::Ok);
    assert_eq!(pw.check("bob", Some(b"apple")), AuthResult::BadPassword);
}
