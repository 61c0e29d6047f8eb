//! The benchmark's two network namespaces and the veth between them, made
//! with `ip` and deleted again by a guard (on success, error, panic and
//! Ctrl-C alike), plus `enter`, which moves the calling thread into one.
//!
//! ```text
//!  netns tbench-PID-dut             netns tbench-PID-peers
//!  +------------------+            +--------------------------------+
//!  | DUT daemon       |  dut0      | peers0: 192.0.2.2  monitor     |
//!  | 192.0.2.1/24     |------------| 192.0.2.11.. injectors 1..N    |
//!  +------------------+     veth   +--------------------------------+
//! ```

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};

/// Where `ip netns add` puts its bind mounts.
const NETNS_DIR: &str = "/run/netns";
/// The DUT's interface and address.
pub const DUT_IF: &str = "dut0";
pub const DUT_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The peers' interface; the monitor and every injector have an address on it.
pub const PEERS_IF: &str = "peers0";
pub const MONITOR_ADDR: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// Injector `i` (0-based) uses 192.0.2.(11 + i).
const FIRST_INJECTOR_HOST: u8 = 11;
/// Injector addresses stop short of the broadcast address.
pub const MAX_PEERS: usize = 254 - FIRST_INJECTOR_HOST as usize;

/// Address of injector `i` (0-based); `i` must be below [`MAX_PEERS`].
pub fn injector_addr(i: usize) -> Ipv4Addr {
    let host = u8::try_from(usize::from(FIRST_INJECTOR_HOST) + i).unwrap_or(u8::MAX);
    Ipv4Addr::new(192, 0, 2, host)
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("running `ip {}` (is iproute2 installed?)", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Moves the calling thread into the named namespace (network only). Sockets
/// the thread opens afterwards live there; so does /proc/thread-self/net.
pub fn enter(path: &std::path::Path) -> Result<()> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    setns(&f, CloneFlags::CLONE_NEWNET)
        .with_context(|| format!("entering network namespace {}", path.display()))?;
    Ok(())
}

/// The two namespaces of one run; dropping it deletes them.
#[derive(Debug)]
pub struct Lab {
    pub dut: String,
    pub peers: String,
    created: Vec<String>,
}

impl Lab {
    /// Creates `PREFIX-dut` and `PREFIX-peers`, the veth between them and the
    /// addresses of the DUT, the monitor and `injectors` injectors.
    pub fn create(prefix: &str, injectors: usize) -> Result<Lab> {
        let mut lab = Lab {
            dut: format!("{prefix}-dut"),
            peers: format!("{prefix}-peers"),
            created: Vec::new(),
        };
        for ns in [lab.dut.clone(), lab.peers.clone()] {
            if lab_path(&ns).exists() {
                bail!(
                    "network namespace {ns} already exists (left by an earlier run? delete it with `ip netns delete {ns}`)"
                );
            }
            ip(&["netns", "add", &ns])?;
            lab.created.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "link", "add", "name", DUT_IF, "netns", &lab.dut, "type", "veth", "peer", "name",
            PEERS_IF, "netns", &lab.peers,
        ])?;
        ip(&[
            "-n",
            &lab.dut,
            "addr",
            "add",
            &format!("{DUT_ADDR}/24"),
            "dev",
            DUT_IF,
        ])?;
        let mut addrs = vec![MONITOR_ADDR];
        addrs.extend((0..injectors).map(injector_addr));
        for a in addrs {
            ip(&[
                "-n",
                &lab.peers,
                "addr",
                "add",
                &format!("{a}/24"),
                "dev",
                PEERS_IF,
            ])?;
        }
        for (ns, dev) in [(&lab.dut, DUT_IF), (&lab.peers, PEERS_IF)] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(lab)
    }

    pub fn dut_path(&self) -> PathBuf {
        lab_path(&self.dut)
    }

    pub fn peers_path(&self) -> PathBuf {
        lab_path(&self.peers)
    }
}

impl Lab {
    /// Deletes both namespaces now and says what is left of them.
    pub fn remove(mut self) -> Vec<String> {
        let mut left = Vec::new();
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "delete", &ns]) {
                left.push(format!("{e:#}"));
            }
            if lab_path(&ns).exists() {
                left.push(format!("network namespace {ns} still exists"));
            }
        }
        left
    }
}

fn lab_path(ns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(ns)
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "delete", &ns]) {
                eprintln!("tern-bench: cleanup: {e:#}");
            }
        }
    }
}
