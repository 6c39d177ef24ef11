//! `save` under `kill -9`: whenever the saving process dies, the file on
//! disk is one complete database, the old one or the new one.
//!
//! The test binary re-runs itself as the saving child (selected by an
//! environment variable), which avoids fork() in a multi-threaded harness.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::harness::TempDir;
use mosquitto_rs::broker::persist::{load, save, PersistClient, PersistDb, StoredMessage};

const CHILD_ENV: &str = "PERSIST_CRASH_CHILD_DIR";

/// Two databases of clearly different shape and size (a few hundred KB, so
/// a save takes long enough to be killed in the middle of it).
fn db(which: u8) -> PersistDb {
    let n = if which == 0 { 300 } else { 700 };
    PersistDb {
        incoming_qos2: Vec::new(),
        last_db_id: u64::from(which) + 1,
        msgs: (0..n)
            .map(|i| StoredMessage {
                store_id: i + 1,
                topic: format!("crash/{which}/{i}"),
                payload: vec![which; 512],
                retain: true,
                ..StoredMessage::default()
            })
            .collect(),
        retained: (1..=n).collect(),
        clients: vec![PersistClient {
            client_id: format!("client-{which}"),
            ..PersistClient::default()
        }],
        ..PersistDb::default()
    }
}

/// In the child: save A and B alternately until killed (or 30 s pass, in
/// case the parent died first). In a normal test run: nothing.
#[test]
fn crash_child_saver() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let path = Path::new(&dir).join("mosquitto.db");
    let (a, b) = (db(0), db(1));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u64;
    while Instant::now() < deadline {
        save(&path, if i.is_multiple_of(2) { &a } else { &b }).unwrap();
        i += 1;
    }
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_saver(dir: &Path) -> KillOnDrop {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "--exact",
            "persist_crash::crash_child_saver",
            "--test-threads",
            "1",
            "--quiet",
        ])
        .env(CHILD_ENV, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn wait_for_file(path: &Path, child: &mut KillOnDrop) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "child never saved");
        assert!(child.0.try_wait().unwrap().is_none(), "child exited early");
        sleep(Duration::from_millis(1));
    }
}

#[test]
fn kill_9_during_save_leaves_old_or_new_file() {
    let dir = TempDir::new("persist-crash");
    let path = dir.join("mosquitto.db");
    let (a, b) = (db(0), db(1));
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let started = Instant::now();
    let (mut seen_a, mut seen_b, mut rounds) = (0, 0, 0);
    // Bounded in count and in time.
    while rounds < 30 && started.elapsed() < Duration::from_secs(60) {
        let _ = std::fs::remove_file(&path);
        let mut child = spawn_saver(&dir.path);
        wait_for_file(&path, &mut child);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        sleep(Duration::from_micros(rng % 20_000));
        child.0.kill().unwrap(); // SIGKILL
        child.0.wait().unwrap();
        drop(child);
        match load(&path) {
            Ok(Some(got)) if got == a => seen_a += 1,
            Ok(Some(got)) if got == b => seen_b += 1,
            Ok(Some(_)) => panic!("round {rounds}: file is neither A nor B"),
            Ok(None) => panic!("round {rounds}: file vanished"),
            Err(e) => panic!("round {rounds}: {e}"),
        }
        rounds += 1;
    }
    eprintln!("{rounds} kills: {seen_a} left A, {seen_b} left B");
    assert!(rounds >= 5, "too few rounds in the time allowed");
}
