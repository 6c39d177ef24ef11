//! Eclipse Paho's Python client (pip package paho-mqtt 2.x) driven by
//! tests/it/interop/paho_interop.py.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::processes::{in_ci, require_tool, wait_timeout};

/// python3 with paho-mqtt 2.x, or None after a skip note (a panic under CI).
pub fn paho_python() -> Option<PathBuf> {
    let python = require_tool("python3", "apt-get install python3")?;
    let ok = Command::new(&python)
        .args([
            "-c",
            "import paho.mqtt.client as m; assert hasattr(m, 'CallbackAPIVersion')",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !in_ci(),
            "paho-mqtt 2.x is required in CI (pip install paho-mqtt)"
        );
        eprintln!("SKIP: paho-mqtt 2.x not importable by python3 (pip install paho-mqtt)");
        return None;
    }
    Some(python)
}

/// Runs tests/it/interop/paho_interop.py with `args` (bounded) and checks that
/// every scenario passed.
pub fn run_paho(python: &Path, args: &[&str]) {
    let text = run_paho_script(python, "paho_interop.py", args);
    assert!(text.contains("paho: 6 passed, 0 failed"), "{text}");
}

/// Runs tests/it/interop/`script` with `args` (bounded), checks it exited
/// 0, and returns what it printed.
pub fn run_paho_script(python: &Path, script: &str, args: &[&str]) -> String {
    let script = format!("{}/tests/it/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python)
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn python3");
    if wait_timeout(&mut child, Duration::from_secs(120)).is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "paho scenarios failed ({}):\n{text}",
        out.status
    );
    text
}
