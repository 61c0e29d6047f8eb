//! Network namespaces and veth links, through `ip` (iproute2): list, create,
//! delete, list the processes inside one, and build a link between two nodes.

use std::fs;
use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error::LabError;
use crate::names::NETNS_DIR;
use crate::sys;

/// How long a single `ip` call may take.
const IP_TIMEOUT: Duration = Duration::from_secs(30);

/// Names of all named network namespaces (entries of /run/netns).
pub(crate) fn list() -> Result<Vec<String>, LabError> {
    let entries = match fs::read_dir(NETNS_DIR) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(format!("listing {NETNS_DIR}"), e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LabError::io(format!("listing {NETNS_DIR}"), e))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether the named namespace exists.
pub(crate) fn exists(name: &str) -> bool {
    Path::new(NETNS_DIR).join(name).exists()
}

/// `ip netns add NAME`, then brings `lo` up inside it.
pub(crate) fn add(name: &str) -> Result<(), LabError> {
    sys::run(Command::new("ip").args(["netns", "add", name]), IP_TIMEOUT)?;
    sys::run(
        Command::new("ip").args(["-n", name, "link", "set", "lo", "up"]),
        IP_TIMEOUT,
    )?;
    Ok(())
}

/// `ip netns delete NAME` (its interfaces, and so its veths, go with it).
pub(crate) fn delete(name: &str) -> Result<(), LabError> {
    sys::run(
        Command::new("ip").args(["netns", "delete", name]),
        IP_TIMEOUT,
    )?;
    Ok(())
}

/// Pids of the processes whose network namespace is `name`.
pub(crate) fn pids(name: &str) -> Result<Vec<i32>, LabError> {
    let out = sys::run(Command::new("ip").args(["netns", "pids", name]), IP_TIMEOUT)?;
    Ok(out
        .stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect())
}

/// One end of a veth pair to create.
pub(crate) struct VethEnd<'a> {
    pub namespace: &'a str,
    pub interface: &'a str,
}

/// Creates a veth pair whose ends appear directly, already named, in their
/// namespaces, and sets both up. Asking the kernel to create each end inside
/// its namespace (one RTM_NEWLINK with a netns for each end) has the same
/// result as creating the pair under temporary names in the root namespace
/// and moving and renaming each end, without a window in which half-built
/// links sit in the root namespace, or can clash with its names.
pub(crate) fn add_veth(a: &VethEnd<'_>, b: &VethEnd<'_>, mtu: Option<u32>) -> Result<(), LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(["link", "add", "name", a.interface, "netns", a.namespace]);
    if let Some(mtu) = mtu {
        cmd.args(["mtu", &mtu.to_string()]);
    }
    cmd.args([
        "type",
        "veth",
        "peer",
        "name",
        b.interface,
        "netns",
        b.namespace,
    ]);
    if let Some(mtu) = mtu {
        cmd.args(["mtu", &mtu.to_string()]);
    }
    sys::run(&mut cmd, IP_TIMEOUT)?;
    for end in [a, b] {
        sys::run(
            Command::new("ip").args(["-n", end.namespace, "link", "set", end.interface, "up"]),
            IP_TIMEOUT,
        )?;
    }
    Ok(())
}
