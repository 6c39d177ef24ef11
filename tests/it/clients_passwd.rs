//! mosquitto_passwd: files we write are accepted by Debian's broker, files
//! Debian's mosquitto_passwd writes are accepted by our verify code, and
//! options, prompts, messages and exit statuses match Debian's tool.

use crate::harness::*;

#[cfg(feature = "tls")]
use mosquitto_rs::client::password::PasswordHash;

fn read(p: &std::path::Path) -> String {
    std::fs::read_to_string(p).expect("read password file")
}

/// Debian's mosquitto_pub logging in as `user`/`pw`; its exit status.
#[cfg(feature = "tls")]
fn login(b: &Broker, user: &str, pw: &str) -> Option<i32> {
    run(
        DEBIAN_PUB,
        &[
            "-p",
            &b.port_arg(),
            "-t",
            "t",
            "-m",
            "m",
            "-u",
            user,
            "-P",
            pw,
        ],
    )
    .code
}

#[cfg(feature = "tls")]
fn secured_broker(pwfile: &std::path::Path) -> Broker {
    Broker::start_config(|port| {
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            pwfile.display()
        )
    })
}

#[cfg(feature = "tls")]
#[test]
fn our_files_work_with_debian_broker() {
    let dir = TempDir::new("pw-ours");
    let f = dir.join("passwd");
    let fs = f.to_str().unwrap();
    let r = run(OUR_PASSWD, &["-c", "-b", fs, "alice", "secret"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(read(&f).starts_with("alice:$7$101$"), "{}", read(&f));
    let r = run(OUR_PASSWD, &["-H", "sha512", "-b", fs, "bob", "hunter2"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let r = run(OUR_PASSWD, &["-I", "1000", "-b", fs, "carol", "c4rol"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let text = read(&f);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("bob:$6$"));
    assert!(lines[2].starts_with("carol:$7$1000$"));
    // Changing a password replaces that user's line in place.
    let r = run(OUR_PASSWD, &["-b", fs, "alice", "newsecret"]);
    assert_eq!(r.code, Some(0));
    let text = read(&f);
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with("alice:$7$101$"));
    assert!(!dir.join("passwd.tmp").exists(), "backup removed");

    let b = secured_broker(&f);
    assert_eq!(login(&b, "alice", "newsecret"), Some(0));
    assert_eq!(login(&b, "alice", "secret"), Some(5));
    assert_eq!(login(&b, "bob", "hunter2"), Some(0));
    assert_eq!(login(&b, "bob", "hunter3"), Some(5));
    assert_eq!(login(&b, "carol", "c4rol"), Some(0));
    assert_eq!(login(&b, "dave", "c4rol"), Some(5));
    drop(b);

    // -D removes a user.
    let r = run(OUR_PASSWD, &["-D", fs, "bob"]);
    assert_eq!(r.code, Some(0));
    assert!(!read(&f).contains("bob:"));
    let b = secured_broker(&f);
    assert_eq!(login(&b, "bob", "hunter2"), Some(5));
    assert_eq!(login(&b, "alice", "newsecret"), Some(0));
}

#[cfg(feature = "tls")]
#[test]
fn update_plain_text_file() {
    let dir = TempDir::new("pw-u");
    let f = dir.join("plain");
    std::fs::write(&f, "erin:plainpw\nfrank:  spaced \n").unwrap();
    let r = run(OUR_PASSWD, &["-U", f.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let text = read(&f);
    assert!(text.starts_with("erin:$7$101$"));
    assert!(text.contains("\nfrank:$7$101$"));
    let b = secured_broker(&f);
    assert_eq!(login(&b, "erin", "plainpw"), Some(0));
    assert_eq!(login(&b, "frank", "spaced"), Some(0));
    assert_eq!(login(&b, "erin", "plainpw2"), Some(5));
}

#[cfg(feature = "tls")]
#[test]
fn debian_files_verify_with_our_code() {
    let dir = TempDir::new("pw-deb");
    let f = dir.join("passwd");
    let fs = f.to_str().unwrap();
    assert_eq!(
        run(DEBIAN_PASSWD, &["-c", "-b", fs, "alice", "s3cret"]).code,
        Some(0)
    );
    assert_eq!(
        run(DEBIAN_PASSWD, &["-H", "sha512", "-b", fs, "bob", "pw"]).code,
        Some(0)
    );
    assert_eq!(
        run(DEBIAN_PASSWD, &["-I", "500", "-b", fs, "carol", "c"]).code,
        Some(0)
    );
    let text = read(&f);
    let mut checked = 0;
    for (line, user, good) in text.lines().zip(["alice", "bob", "carol"]).map(|(l, u)| {
        let pw = match u {
            "alice" => "s3cret",
            "bob" => "pw",
            _ => "c",
        };
        (l, u, pw)
    }) {
        let (name, hash) = line.split_once(':').unwrap();
        assert_eq!(name, user);
        let h = PasswordHash::parse(hash).unwrap_or_else(|| panic!("cannot parse {line}"));
        assert!(h.verify(good.as_bytes()), "{user}");
        assert!(!h.verify(b"wrong"), "{user}");
        assert_eq!(h.to_text(), hash);
        checked += 1;
    }
    assert_eq!(checked, 3);
    // And our tool edits Debian's file without disturbing the other lines.
    let r = run(OUR_PASSWD, &["-b", fs, "bob", "pw2"]);
    assert_eq!(r.code, Some(0));
    let after = read(&f);
    let before: Vec<&str> = text.lines().collect();
    let now: Vec<&str> = after.lines().collect();
    assert_eq!(now[0], before[0]);
    assert_eq!(now[2], before[2]);
    assert_ne!(now[1], before[1]);
}

#[cfg(feature = "tls")]
#[test]
fn prompts_twice_like_mosquitto_passwd() {
    let dir = TempDir::new("pw-prompt");
    for bin in [OUR_PASSWD, DEBIAN_PASSWD] {
        let f = dir.join(&format!("p{}", bin.len()));
        let fs = f.to_str().unwrap();
        let r = run_stdin(bin, &["-c", fs, "gina"], b"typed\ntyped\n");
        assert_eq!(r.code, Some(0), "{bin}: {r:?}");
        assert_eq!(r.stdout_text(), "Password: \nReenter password: \n", "{bin}");
        let line = read(&f);
        let (_, hash) = line.trim_end().split_once(':').unwrap();
        #[cfg(feature = "tls")]
        assert!(PasswordHash::parse(hash).unwrap().verify(b"typed"));
        let r = run_stdin(bin, &[fs, "gina"], b"one\ntwo\n");
        assert_eq!(r.code, Some(2), "{bin}");
        assert_eq!(r.stderr, "Error: Passwords do not match.\n", "{bin}");
        let r = run_stdin(bin, &[fs, "gina"], b"");
        assert_eq!(r.code, Some(1), "{bin}");
        assert_eq!(r.stderr, "Error: Empty password.\n", "{bin}");
    }
}

#[test]
fn errors_match_debian() {
    let dir = TempDir::new("pw-err");
    let f = dir.join("passwd");
    std::fs::write(&f, "alice:$6$784pUzYdBzSvd0ip$oO4FN8QD4ZmccXELTaBgSS1MT9Y3t0ywd4pbQZl+I7/80VrxUB9m4BpSikQSsQkKZCL2+hVBicfPLJ3r+MaU9A==\n").unwrap();
    let corrupt = dir.join("corrupt");
    std::fs::write(&corrupt, "alice:x\nbroken line\n").unwrap();
    let fs = f.to_str().unwrap();
    let cs = corrupt.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-c", "-D", fs, "u"],
        vec!["-c", "-U", fs],
        vec!["-D", "-U", fs],
        vec!["-b", "-D", fs, "u"],
        vec!["-H", "md5", fs, "u"],
        vec!["-H"],
        vec!["-I", "0", fs, "u"],
        vec!["-I"],
        vec!["-c", fs],
        vec!["-c", "-b", fs, "u"],
        vec!["-D", fs],
        vec!["-U"],
        vec!["-U", fs, "extra"],
        vec!["-b", fs, "u"],
        vec![fs],
        vec!["-b", fs, "a:b", "pw"],
        vec!["-b", fs, "a\tb", "pw"],
        vec!["-D", fs, "nobody"],
        vec!["-b", "/nonexistent/dir/file", "x", "y"],
    ];
    for args in &cases {
        let ours = run(OUR_PASSWD, args);
        let theirs = run(DEBIAN_PASSWD, args);
        assert_eq!(ours.code, theirs.code, "{args:?}: {ours:?} vs {theirs:?}");
        assert_eq!(ours.stderr, theirs.stderr, "{args:?}");
        assert_eq!(ours.stdout.is_empty(), theirs.stdout.is_empty(), "{args:?}");
    }
    // A corrupt line: same message, but where mosquitto_passwd 2.0.11 goes on
    // to rewrite the file without that line and exit 0, we stop with 1 and
    // leave the file alone.
    let r = run(OUR_PASSWD, &["-b", cs, "x", "y"]);
    assert_eq!(r.code, Some(1));
    #[cfg(feature = "tls")]
    assert_eq!(r.stderr, "Error: Corrupt password file at line 2.\n");
    assert_eq!(read(&corrupt), "alice:x\nbroken line\n");
    // Nothing above changed the file.
    assert!(read(&f).starts_with("alice:$6$784pUzYd"));
}

#[cfg(not(feature = "tls"))]
#[test]
fn without_tls_hashing_is_refused_clearly() {
    let dir = TempDir::new("pw-notls");
    let f = dir.join("passwd");
    let r = run(OUR_PASSWD, &["-c", "-b", f.to_str().unwrap(), "u", "p"]);
    assert_eq!(r.code, Some(1));
    assert!(
        r.stderr.contains("without the `tls` feature"),
        "{}",
        r.stderr
    );
}
