//! Network namespaces in tests: the one way a test enters one (a thread
//! that calls setns, or a command started by nsenter), and a throwaway
//! namespace removed on drop.
use std::{ffi::OsStr, fs::File, process::Command};

/// The path `ip netns add NAME` binds the namespace to.
fn netns_path(ns: &str) -> String {
    format!("/run/netns/{ns}")
}

/// Moves the calling thread (only; the others stay where they are) into
/// the network namespace `ns`; panics when it cannot.
pub fn enter_netns(ns: &str) {
    let path = netns_path(ns);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
        .unwrap_or_else(|e| panic!("setns {path}: {e}"));
}

/// Runs `f` on a thread of its own inside `ns`; the handle gives its result.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        enter_netns(&ns);
        f()
    })
}

/// Runs `f` (which may borrow) on a thread inside `ns` and waits for it.
pub fn with_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(ns);
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// A command that runs `program` inside `ns`: `nsenter --net`, which
/// changes the network namespace only (bpffs and /sys stay the host's, as
/// for a daemon tern-lab starts) and execs `program`, so the child's pid is
/// the program's.
pub fn netns_command(ns: &str, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.arg(format!("--net={}", netns_path(ns)))
        .arg("--")
        .arg(program);
    cmd
}

/// A throwaway network namespace with its loopback up, deleted on drop.
#[derive(Debug)]
pub struct Netns(pub String);

impl Netns {
    /// Creates namespace `name` (deleting a stale one of that name first).
    pub fn new(name: &str) -> Netns {
        let _ = Command::new("ip").args(["netns", "del", name]).output();
        crate::run_ok(Command::new("ip").args(["netns", "add", name]));
        let ns = Netns(name.to_owned());
        crate::run_ok(Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]));
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}
