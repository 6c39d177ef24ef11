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
    run_interop_script(python, script, args, &[], Duration::from_secs(120))
}

/// Runs `program` on tests/it/interop/`script` with `args` and the extra
/// environment `env`, for at most `limit`; checks it exited 0 and returns
/// its stdout followed by its stderr.
pub fn run_interop_script(
    program: &Path,
    script: &str,
    args: &[&str],
    env: &[(&str, &Path)],
    limit: Duration,
) -> String {
    let script = format!("{}/tests/it/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(program)
        .arg(&script)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
    if wait_timeout(&mut child, limit).is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("wait for the script");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{script} failed ({}):\n{text}",
        out.status
    );
    text
}
