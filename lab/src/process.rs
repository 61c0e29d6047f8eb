//! Inspecting and stopping processes through /proc and signals. A recorded
//! pid is only signalled while it still runs the recorded program (and, when
//! known, started at the recorded time), so a reused pid is never touched.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// A daemon process the runner started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// What it is: `zebra`, `bgpd`, `ternd`.
    pub name: String,
    pub pid: i32,
    /// The executable it runs (the script path for an interpreted program).
    pub program: PathBuf,
    /// Its start time in clock ticks after boot (/proc/PID/stat field 22).
    pub start_time: Option<u64>,
    /// Where its output goes.
    pub log: PathBuf,
}

/// What `stop` did with a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// It was not running any more.
    AlreadyGone,
    /// The pid now runs something else: left alone.
    NotOurs,
    /// It exited after SIGTERM.
    Terminated,
    /// It needed SIGKILL.
    Killed,
    /// It survived SIGKILL (e.g. stuck in the kernel).
    Survived,
}

/// Fields of /proc/PID/stat after the command name.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain anything.
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Reaps `pid` if it is an exited child of this process (the runner's own
/// daemons when it runs inside a long-lived test process); harmless otherwise.
fn reap(pid: i32) {
    // ECHILD (not our child) and "still running" are both expected here.
    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
}

/// Whether `pid` is a running (not zombie) process.
pub fn is_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    reap(pid);
    match stat_fields(pid) {
        Some(fields) => !matches!(fields.first().map(String::as_str), Some("Z" | "X" | "x")),
        None => false,
    }
}

/// The start time of `pid` in clock ticks after boot.
pub fn start_time(pid: i32) -> Option<u64> {
    // Field 22 overall; the fields after the name start at field 3.
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// The executable of `pid`, without the ` (deleted)` mark of a replaced file.
pub fn exe(pid: i32) -> Option<PathBuf> {
    let link = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
    let text = link.to_string_lossy();
    Some(match text.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => link,
    })
}

/// The first words of `pid`'s command line.
fn cmdline(pid: i32) -> Vec<PathBuf> {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|w| !w.is_empty())
                .take(2)
                .map(|w| PathBuf::from(String::from_utf8_lossy(w).into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn same_file(a: &Path, b: &Path) -> bool {
    if a == b {
        return true;
    }
    match (fs::canonicalize(a), fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Whether `pid` is alive and runs `program`: its executable is `program`, or
/// its command line starts with it (directly, or after an interpreter).
pub fn runs_program(pid: i32, program: &Path) -> bool {
    if !is_alive(pid) {
        return false;
    }
    if exe(pid).is_some_and(|e| same_file(&e, program)) {
        return true;
    }
    cmdline(pid).iter().any(|w| same_file(w, program))
}

impl ProcessRecord {
    /// Whether the recorded process is still the one the runner started.
    pub fn is_running(&self) -> bool {
        if !runs_program(self.pid, &self.program) {
            return false;
        }
        match self.start_time {
            Some(recorded) => start_time(self.pid) == Some(recorded),
            None => true,
        }
    }

    /// Stops the process if it is still ours: SIGTERM, up to `grace` to exit,
    /// then SIGKILL.
    pub fn stop(&self, grace: Duration) -> StopOutcome {
        if !is_alive(self.pid) {
            return StopOutcome::AlreadyGone;
        }
        if !self.is_running() {
            return StopOutcome::NotOurs;
        }
        terminate(self.pid, grace)
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL and wait a little more.
pub fn terminate(pid: i32, grace: Duration) -> StopOutcome {
    match kill(Pid::from_raw(pid), Signal::SIGTERM) {
        Ok(()) => {}
        Err(Errno::ESRCH) => return StopOutcome::AlreadyGone,
        Err(e) => tracing::warn!(pid, error = %e, "SIGTERM failed"),
    }
    if wait_gone(pid, grace) {
        return StopOutcome::Terminated;
    }
    tracing::warn!(
        pid,
        "still running {} s after SIGTERM: sending SIGKILL",
        grace.as_secs()
    );
    if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGKILL)
        && e != Errno::ESRCH
    {
        tracing::warn!(pid, error = %e, "SIGKILL failed");
    }
    if wait_gone(pid, Duration::from_secs(2)) {
        StopOutcome::Killed
    } else {
        StopOutcome::Survived
    }
}

/// Terminates several processes at once: SIGTERM to all, a shared `grace`
/// period, then SIGKILL to those left. Returns the pids that survived.
pub fn terminate_all(pids: &[i32], grace: Duration) -> Vec<i32> {
    for pid in pids {
        // ESRCH: already gone, which is what we want.
        let _ = kill(Pid::from_raw(*pid), Signal::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && pids.iter().any(|p| is_alive(*p)) {
        thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<i32> = pids.iter().copied().filter(|p| is_alive(*p)).collect();
    for pid in &left {
        tracing::warn!(pid, "still running after SIGTERM: sending SIGKILL");
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && left.iter().any(|p| is_alive(*p)) {
        thread::sleep(Duration::from_millis(50));
    }
    left.into_iter().filter(|p| is_alive(*p)).collect()
}

fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_inspectable() {
        let pid = std::process::id() as i32;
        assert!(is_alive(pid));
        assert!(start_time(pid).is_some());
        let me = std::env::current_exe().expect("current exe");
        assert!(runs_program(pid, &me));
        assert!(!runs_program(pid, Path::new("/nonexistent/program")));
    }

    #[test]
    fn stop_terminates_a_child_and_spares_a_mismatch() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let Some(sleep) = exe(pid) else {
            panic!("no exe for child {pid}");
        };
        let wrong = ProcessRecord {
            name: "x".into(),
            pid,
            program: PathBuf::from("/bin/true"),
            start_time: start_time(pid),
            log: PathBuf::new(),
        };
        assert_eq!(wrong.stop(Duration::from_secs(1)), StopOutcome::NotOurs);
        let right = ProcessRecord {
            program: sleep,
            ..wrong
        };
        assert!(right.is_running());
        assert_eq!(right.stop(Duration::from_secs(5)), StopOutcome::Terminated);
        assert!(!is_alive(pid));
        // Already reaped by `stop`; wait() must not hang either way.
        let _ = child.try_wait();
    }
}
