//! What /proc tells about a process (CPU time, RSS) and the machine.

use std::fs;

/// User + system CPU seconds of `pid` ("self" for this process).
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after
    // the last ')'. There, field 3 (state) is index 0, utime (14) index 11.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let tck = if tck > 0 { tck as f64 } else { 100.0 };
    Some((utime + stime) / tck)
}

fn status_kb(pid: &str, key: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.get(key.len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resident set size in KiB.
pub fn rss_kb(pid: &str) -> Option<u64> {
    status_kb(pid, "VmRSS:")
}

/// Peak resident set size in KiB over the process's life.
pub fn hwm_kb(pid: &str) -> Option<u64> {
    status_kb(pid, "VmHWM:")
}

/// The soft open-files limit of `pid`, from /proc/PID/limits.
pub fn open_files_limit(pid: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.get("Max open files".len()..)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Raises this process's soft RLIMIT_NOFILE as far as allowed (children
/// inherit it). Returns the new soft limit.
pub fn raise_nofile(want: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 1024;
    }
    if want > rl.rlim_max {
        // Root (CAP_SYS_RESOURCE) may raise the hard limit too; elsewhere
        // this fails and the hard limit caps the soft one below.
        let new = libc::rlimit {
            rlim_cur: want,
            rlim_max: want,
        };
        // SAFETY: new is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return want;
        }
    }
    let target = want.min(rl.rlim_max);
    if target > rl.rlim_cur {
        let new = libc::rlimit {
            rlim_cur: target,
            rlim_max: rl.rlim_max,
        };
        // SAFETY: new is a valid rlimit not above the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
            return target;
        }
    }
    rl.rlim_cur
}

/// One line per fact: cores, CPU model, kernel, memory.
pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "?".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    let mem = status_line("/proc/meminfo", "MemTotal:").unwrap_or_else(|| "?".into());
    let load = fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    vec![
        ("nproc".into(), nproc),
        ("CPU".into(), model),
        ("kernel".into(), kernel),
        ("memory".into(), mem),
        ("load average at start".into(), load),
    ]
}

fn status_line(path: &str, key: &str) -> Option<String> {
    let s = fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    Some(line.get(key.len()..)?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_stats() {
        assert!(cpu_seconds("self").is_some());
        assert!(rss_kb("self").unwrap_or(0) > 0);
        assert!(hwm_kb("self").unwrap_or(0) > 0);
        assert!(open_files_limit("self").unwrap_or(0) > 0);
    }
}
