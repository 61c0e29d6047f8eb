//! tern-cni: the CNI 1.0.0 plugin that wires a pod into a Tern node.
//!
//! ternd is the one store of a pod's addresses and endpoint (its endpoint
//! registry); the plugin keeps no state. ADD asks ternd for an address per
//! pod CIDR (saved by ternd before anything is wired), creates a veth pair
//! into the pod's namespace with the addresses, routes and MTU
//! (tern-netlink's `pod` module), and registers the endpoint with ternd,
//! which answers once its eBPF datapath (when it runs) has the endpoint in
//! its maps. DEL undoes all three and succeeds when there is nothing to
//! undo. CHECK compares the kernel and ternd with what ADD made. VERSION
//! lists the supported versions. An IPAM file left by an older tern-cni is
//! read once into ternd (`migrate`). See the README's tern-cni section for
//! the keys.
pub mod migrate;
pub mod spec;
pub mod ternd;

use std::path::Path;

use ipnet::IpNet;
use tern_netlink::pod::{self, POD_GATEWAY_V4, POD_GATEWAY_V6, PodError, PodLinkSpec};

use crate::spec::{
    CniError, CniResult, Code, Command, Env, Network, ResultInterface, ResultIp, ResultRoute,
};

/// Test hook: `TERN_CNI_CRASH_AT=after-ipam|after-veth` makes ADD exit at
/// once at that point (after ternd allocated the addresses, after the veth
/// is made), as a plugin killed there would (no cleanup).
pub const CRASH_ENV: &str = "TERN_CNI_CRASH_AT";

/// Exit status of a crash made by [`CRASH_ENV`].
pub const CRASH_STATUS: i32 = 113;

/// The host end's name: `tern` and 11 hex digits of a hash of the key,
/// 15 bytes (the kernel's limit), the same for every ADD/DEL of a key.
pub fn host_ifname(container_id: &str, ifname: &str) -> String {
    // FNV-1a, 64 bits: stable across releases, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in container_id.bytes().chain([0u8]).chain(ifname.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("tern{:011x}", h & 0xfff_ffff_ffff)
}

fn netlink_err(what: &str) -> impl FnOnce(PodError) -> CniError + '_ {
    move |e| match e {
        PodError::Netns { path, source } => CniError::new(
            Code::UnknownContainer,
            format!("network namespace {} cannot be opened", path.display()),
        )
        .details(source.to_string()),
        PodError::Mismatch(m) => CniError::new(Code::CheckFailed, format!("{what}: {m}")),
        other => CniError::new(Code::Netlink, format!("{what}: {other}")),
    }
}

fn crash_point(at: &str) {
    if std::env::var(CRASH_ENV).as_deref() == Ok(at) {
        eprintln!("tern-cni: {CRASH_ENV}={at}: exiting without cleanup");
        std::process::exit(CRASH_STATUS);
    }
}

/// Runs one CNI command; the Ok value is the JSON to print on stdout.
pub fn run(env: &Env, stdin: &[u8]) -> Result<serde_json::Value, CniError> {
    if env.command == Command::Version {
        return Ok(version(stdin));
    }
    let net = spec::parse_netconf(stdin)?;
    match env.command {
        Command::Add => add(env, &net),
        Command::Del => del(env, &net).map(|()| serde_json::Value::Null),
        Command::Check => check(env, &net).map(|()| serde_json::Value::Null),
        Command::Version => Ok(version(stdin)),
    }
}

/// VERSION: the spec's version document, in the version the caller asked
/// for when it gave one.
pub fn version(stdin: &[u8]) -> serde_json::Value {
    let asked = serde_json::from_slice::<serde_json::Value>(stdin)
        .ok()
        .and_then(|v| {
            v.get("cniVersion")
                .and_then(|s| s.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "1.0.0".to_owned());
    serde_json::json!({
        "cniVersion": asked,
        "supportedVersions": spec::SUPPORTED_VERSIONS,
    })
}

fn link_spec(env: &Env, netns: &Path, net: &Network, addresses: Vec<IpNet>) -> PodLinkSpec {
    PodLinkSpec {
        netns: netns.to_owned(),
        ifname: env.ifname.clone(),
        host_ifname: host_ifname(&env.container_id, &env.ifname),
        mtu: net.mtu,
        // A VRF pod's host routes go into the VRF's table: ternd's work.
        host_routes: net.vrf.is_none(),
        addresses,
    }
}

/// Refuses a CNI_NETNS that is not a network namespace, or that is the
/// namespace tern-cni itself runs in (the host's): wiring a "pod" there
/// would give the host's eth0 a pod address and replace its default route.
fn pod_netns(netns: &Path) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt;
    let fs = nix::sys::statfs::statfs(netns).map_err(|e| {
        CniError::new(
            Code::UnknownContainer,
            format!("network namespace {}: {e}", netns.display()),
        )
    })?;
    if fs.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_NETNS {} is not a network namespace (a file of nsfs, such as /run/netns/NAME or /proc/PID/ns/net)",
                netns.display()
            ),
        ));
    }
    let id = |p: &Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino()));
    let own = Path::new("/proc/self/ns/net");
    match (id(netns), id(own)) {
        (Ok(pod), Ok(host)) if pod == host => Err(CniError::new(
            Code::InvalidEnvironment,
            format!(
                "CNI_NETNS {} is the network namespace tern-cni runs in (the host's), not a pod's: refused",
                netns.display()
            ),
        )),
        (Ok(_), Ok(_)) => Ok(()),
        (Err(e), _) | (_, Err(e)) => Err(CniError::new(
            Code::Io,
            format!(
                "cannot compare {} with {}: {e}",
                netns.display(),
                own.display()
            ),
        )),
    }
}

fn add(env: &Env, net: &Network) -> Result<serde_json::Value, CniError> {
    let netns = env
        .netns
        .as_deref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
    if !netns.exists() {
        return Err(CniError::new(
            Code::UnknownContainer,
            format!("network namespace {} does not exist", netns.display()),
        ));
    }
    pod_netns(netns)?;
    migrate::import_ipam_file(net)?;
    let host = host_ifname(&env.container_id, &env.ifname);
    // An earlier ADD of this key (interrupted, or repeated) gets the same
    // addresses; another key's host veth name is refused.
    let claim = tern_control::EndpointClaim {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: netns.display().to_string(),
        host_ifname: host.clone(),
        pools: net.pools.clone(),
        vrf: net.vrf.clone(),
    };
    let addresses = ternd::allocate(&net.socket, claim)?.addresses;
    crash_point("after-ipam");

    // Frees the addresses again; when ternd cannot be reached, it reclaims
    // them once the pod's namespace is gone (or on the runtime's DEL).
    let release = || {
        if let Err(e) = ternd::deregister(&net.socket, &env.container_id, &env.ifname) {
            eprintln!("tern-cni: ADD failed and its addresses could not be freed: {e}");
        }
    };
    let spec = link_spec(env, netns, net, addresses.clone());
    let wired = pod::enable_forwarding(
        addresses.iter().any(|a| a.addr().is_ipv4()),
        addresses.iter().any(|a| a.addr().is_ipv6()),
    )
    .map_err(|e| CniError::new(Code::Io, "cannot enable forwarding").details(e.to_string()))
    .and_then(|()| pod::pod_link_add(&spec).map_err(netlink_err("wiring the pod")));
    let link = match wired {
        Ok(l) => l,
        Err(e) => {
            release();
            return Err(e);
        }
    };
    crash_point("after-veth");

    let endpoint = tern_control::Endpoint {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: netns.display().to_string(),
        host_ifname: host.clone(),
        host_ifindex: link.host_ifindex,
        pod_mac: pod::mac_string(&link.pod_mac),
        host_mac: pod::mac_string(&link.host_mac),
        addresses: addresses.clone(),
        mtu: net.mtu,
        namespace: env.namespace.clone(),
        vrf: net.vrf.clone(),
    };
    if let Err(e) = ternd::register(&net.socket, endpoint) {
        let _ = pod::pod_link_del(&host);
        release();
        return Err(e);
    }

    let result = CniResult {
        cni_version: net.version.clone(),
        interfaces: vec![
            ResultInterface {
                name: host,
                mac: pod::mac_string(&link.host_mac),
                sandbox: None,
            },
            ResultInterface {
                name: env.ifname.clone(),
                mac: pod::mac_string(&link.pod_mac),
                sandbox: Some(netns.display().to_string()),
            },
        ],
        ips: addresses
            .iter()
            .map(|a| ResultIp {
                address: *a,
                gateway: Some(if a.addr().is_ipv4() {
                    POD_GATEWAY_V4.into()
                } else {
                    POD_GATEWAY_V6.into()
                }),
                interface: Some(1),
            })
            .collect(),
        routes: addresses
            .iter()
            .map(|a| {
                if a.addr().is_ipv4() {
                    ResultRoute {
                        dst: IpNet::V4(ipnet::Ipv4Net::default()),
                        gw: Some(POD_GATEWAY_V4.into()),
                    }
                } else {
                    ResultRoute {
                        dst: IpNet::V6(ipnet::Ipv6Net::default()),
                        gw: Some(POD_GATEWAY_V6.into()),
                    }
                }
            })
            .collect(),
        dns: serde_json::json!({}),
    };
    serde_json::to_value(&result).map_err(|e| CniError::new(Code::Io, e.to_string()))
}

fn del(env: &Env, net: &Network) -> Result<(), CniError> {
    let host = host_ifname(&env.container_id, &env.ifname);
    // An older plugin's allocation of this key is ternd's first, so that
    // DEL frees it.
    if let Err(e) = migrate::import_ipam_file(net) {
        eprintln!("tern-cni: DEL: {e}");
    }
    // ternd first, so that it never holds an endpoint whose veth is gone.
    // When ternd cannot be reached, it drops the endpoint and frees its
    // addresses by itself once the veth is gone (and a reservation once
    // the pod's namespace is gone too), so DEL still succeeds.
    if let Err(e) = ternd::deregister(&net.socket, &env.container_id, &env.ifname) {
        eprintln!("tern-cni: DEL: {e}; ternd frees the addresses when the veth is gone");
    }
    pod::pod_link_del(&host).map_err(netlink_err("deleting the pod's veth"))?;
    Ok(())
}

fn check(env: &Env, net: &Network) -> Result<(), CniError> {
    let netns = env
        .netns
        .as_deref()
        .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
    let prev = net.prev_result.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "CHECK needs prevResult in the network configuration",
        )
    })?;
    let prev: CniResult = serde_json::from_value(prev.clone()).map_err(|e| {
        CniError::new(Code::Decode, "cannot decode prevResult").details(e.to_string())
    })?;
    if let Err(e) = migrate::import_ipam_file(net) {
        eprintln!("tern-cni: CHECK: {e}");
    }
    let (eps, reserved) = ternd::endpoints(&net.socket)?;
    let key = |c: &str, i: &str| c == env.container_id && i == env.ifname;
    let Some(ep) = eps.into_iter().find(|e| key(&e.container_id, &e.ifname)) else {
        let (code, what) = if reserved.iter().any(|r| key(&r.container_id, &r.ifname)) {
            (
                Code::CheckFailed,
                "holds addresses but no endpoint (its ADD did not finish)",
            )
        } else {
            (Code::UnknownContainer, "has no allocation")
        };
        return Err(CniError::new(
            code,
            format!(
                "container {} interface {} {what} in ternd",
                env.container_id, env.ifname
            ),
        ));
    };
    let mut want = ep.addresses.clone();
    let mut got: Vec<IpNet> = prev.ips.iter().map(|i| i.address).collect();
    want.sort();
    got.sort();
    if want != got {
        return Err(CniError::new(
            Code::CheckFailed,
            format!("prevResult has addresses {got:?}, ternd holds {want:?}"),
        ));
    }
    let spec = link_spec(env, netns, net, ep.addresses.clone());
    let link = pod::pod_link_check(&spec).map_err(netlink_err("CHECK"))?;
    if ep.host_ifname != spec.host_ifname || ep.host_ifindex != link.host_ifindex {
        return Err(CniError::new(
            Code::CheckFailed,
            format!(
                "ternd's endpoint for container {} interface {} is {} ifindex {}, the node has {} ifindex {}",
                env.container_id,
                env.ifname,
                ep.host_ifname,
                ep.host_ifindex,
                spec.host_ifname,
                link.host_ifindex
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_short_and_stable() {
        let a = host_ifname("0123456789abcdef", "eth0");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("tern"));
        assert_eq!(a, host_ifname("0123456789abcdef", "eth0"));
        assert_ne!(a, host_ifname("0123456789abcdef", "eth1"));
        assert_ne!(host_ifname("ab", "c"), host_ifname("a", "bc"));
    }
}
