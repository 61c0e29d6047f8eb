//! tern-cni: the CNI plugin (versions 0.3.0 to 1.1.0) that wires a pod
//! into a Tern node.
//!
//! ternd is the one store of a pod's addresses and endpoint (its endpoint
//! registry); the plugin keeps no state. ADD asks ternd for an address per
//! pod CIDR (saved by ternd before anything is wired), creates a veth pair
//! into the pod's namespace with the addresses, routes and MTU
//! (tern-netlink's `pod` module), and registers the endpoint with ternd,
//! which answers once its eBPF datapath (when it runs) has the endpoint in
//! its maps. An ADD of a key that is attached already never rewires it:
//! it answers with what is there when that is what it would make, and
//! fails otherwise, leaving the live pod as it was. DEL undoes all three
//! and succeeds when there is nothing to undo. CHECK compares the kernel
//! and ternd with what ADD made. GC releases the network's attachments
//! that the runtime no longer lists, STATUS says whether ternd and its
//! datapath can take an ADD, VERSION lists the supported versions. An IPAM
//! file left by an older tern-cni is read once into ternd (`migrate`). See
//! the README's tern-cni section for the keys.
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
    // The pod's namespace first: nothing is read, asked or wired for a
    // CNI_NETNS that is not a pod's.
    if matches!(env.command, Command::Add | Command::Check) {
        let netns = env
            .netns
            .as_deref()
            .ok_or_else(|| CniError::new(Code::InvalidEnvironment, "CNI_NETNS is not set"))?;
        pod_netns(netns)?;
    }
    let net = spec::parse_netconf(stdin, env.command)?;
    match env.command {
        Command::Add => add(env, &net),
        Command::Del => del(env, &net).map(|()| serde_json::Value::Null),
        Command::Check => check(env, &net).map(|()| serde_json::Value::Null),
        Command::Gc => gc(&net).map(|()| serde_json::Value::Null),
        Command::Status => status(&net).map(|()| serde_json::Value::Null),
        Command::Version => Ok(version(stdin)),
    }
}

/// VERSION: the supported versions, in the version the caller asked for
/// when tern-cni supports it, else in the newest.
pub fn version(stdin: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "cniVersion": spec::requested_version(stdin).unwrap_or(spec::LATEST_VERSION),
        "supportedVersions": spec::SUPPORTED_VERSIONS,
    })
}

fn link_spec(
    env: &Env,
    netns: &Path,
    net: &Network,
    addresses: Vec<IpNet>,
    routes: Vec<IpNet>,
) -> PodLinkSpec {
    PodLinkSpec {
        netns: netns.to_owned(),
        ifname: env.ifname.clone(),
        host_ifname: host_ifname(&env.container_id, &env.ifname),
        mtu: net.mtu,
        // A VRF pod's host routes go into the VRF's table: ternd's work.
        host_routes: net.vrf.is_none(),
        addresses,
        routes,
    }
}

/// What the pod routes through this interface: per family, the default
/// route unless another interface of the pod has it already, else the
/// network's pod CIDR.
fn pod_routes(env: &Env, netns: &Path, net: &Network) -> Result<Vec<IpNet>, CniError> {
    let (v4_taken, v6_taken) = pod::foreign_defaults(netns, &env.ifname)
        .map_err(netlink_err("reading the pod's routes"))?;
    Ok(net
        .pools
        .iter()
        .map(|p| match (p, v4_taken, v6_taken) {
            (IpNet::V4(_), true, _) | (IpNet::V6(_), _, true) => *p,
            (IpNet::V4(_), false, _) => IpNet::V4(ipnet::Ipv4Net::default()),
            (IpNet::V6(_), _, false) => IpNet::V6(ipnet::Ipv6Net::default()),
        })
        .collect())
}

/// ADD's result in the network's version (before 1.0.0 each IP names its
/// version).
fn add_result(
    env: &Env,
    net: &Network,
    netns: &Path,
    link: &pod::PodLink,
    addresses: &[IpNet],
    routes: &[IpNet],
) -> Result<serde_json::Value, CniError> {
    let versioned = !spec::version_at_least(&net.version, "1.0.0");
    let gateway = |a: &IpNet| -> std::net::IpAddr {
        if a.addr().is_ipv4() {
            POD_GATEWAY_V4.into()
        } else {
            POD_GATEWAY_V6.into()
        }
    };
    let result = CniResult {
        cni_version: net.version.clone(),
        interfaces: vec![
            ResultInterface {
                name: host_ifname(&env.container_id, &env.ifname),
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
                version: versioned.then(|| if a.addr().is_ipv4() { "4" } else { "6" }.to_owned()),
                address: *a,
                gateway: Some(gateway(a)),
                interface: Some(1),
            })
            .collect(),
        routes: routes
            .iter()
            .map(|d| ResultRoute {
                dst: *d,
                gw: Some(gateway(d)),
            })
            .collect(),
        dns: serde_json::json!({}),
    };
    serde_json::to_value(&result).map_err(|e| CniError::new(Code::Io, e.to_string()))
}

/// Refuses a CNI_NETNS that does not exist (code 3), that is not a network
/// namespace (a regular file, a directory: code 4), or that is the
/// namespace tern-cni itself runs in (the host's): wiring a "pod" there
/// would give the host's eth0 a pod address and replace its default route.
fn pod_netns(netns: &Path) -> Result<(), CniError> {
    use std::os::unix::fs::MetadataExt;
    if !netns.exists() {
        return Err(CniError::new(
            Code::UnknownContainer,
            format!("network namespace {} does not exist", netns.display()),
        ));
    }
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
    migrate::import_ipam_file(net)?;
    let host = host_ifname(&env.container_id, &env.ifname);
    // A key attached already is a live pod: answered or refused, never
    // rewired (runtimes repeat an ADD after a timeout).
    let (eps, _) = ternd::endpoints(&net.socket)?;
    if let Some(ep) = eps
        .into_iter()
        .find(|e| e.container_id == env.container_id && e.ifname == env.ifname)
    {
        return add_again(env, net, netns, ep);
    }
    let routes = pod_routes(env, netns, net)?;
    // An earlier unfinished ADD of this key gets the same addresses;
    // another key's host veth name is refused.
    let claim = tern_control::EndpointClaim {
        container_id: env.container_id.clone(),
        ifname: env.ifname.clone(),
        netns: netns.display().to_string(),
        host_ifname: host.clone(),
        pools: net.pools.clone(),
        network: Some(net.name.clone()),
        vrf: net.vrf.clone(),
    };
    let addresses = ternd::allocate(&net.socket, claim)?.addresses;
    crash_point("after-ipam");

    // Frees the addresses again (the key held no endpoint: they are this
    // ADD's); when ternd cannot be reached, it reclaims them once the
    // pod's namespace is gone (or on the runtime's DEL).
    let release = || {
        if let Err(e) = ternd::deregister(&net.socket, &env.container_id, &env.ifname) {
            eprintln!("tern-cni: ADD failed and its addresses could not be freed: {e}");
        }
    };
    let spec = link_spec(env, netns, net, addresses.clone(), routes.clone());
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
        network: Some(net.name.clone()),
        vrf: net.vrf.clone(),
    };
    if let Err(e) = ternd::register(&net.socket, endpoint) {
        let _ = pod::pod_link_del(&host);
        release();
        return Err(e);
    }
    add_result(env, net, netns, &link, &addresses, &routes)
}

/// ADD of a key ternd holds an endpoint for: the same result again when
/// the pod is wired as this ADD would wire it, in the same namespace;
/// otherwise code 104, and the pod, its veth and its addresses stay as
/// they are.
fn add_again(
    env: &Env,
    net: &Network,
    netns: &Path,
    ep: tern_control::Endpoint,
) -> Result<serde_json::Value, CniError> {
    let attached = |why: String| {
        CniError::new(
            Code::Attached,
            format!(
                "container {} interface {} is attached already ({}, {}): {why}; DEL it before adding it again",
                env.container_id,
                env.ifname,
                ep.netns,
                ep.addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        )
    };
    if Path::new(&ep.netns) != netns {
        return Err(attached(format!(
            "ADD names another namespace, {}",
            netns.display()
        )));
    }
    let in_pools = ep.addresses.len() == net.pools.len()
        && net
            .pools
            .iter()
            .all(|p| ep.addresses.iter().any(|a| p.contains(&a.addr())));
    if !in_pools {
        return Err(attached(format!(
            "its addresses are not one of each pod CIDR {:?}",
            net.pools
        )));
    }
    let routes = pod_routes(env, netns, net)?;
    let spec = link_spec(env, netns, net, ep.addresses.clone(), routes.clone());
    let link = pod::pod_link_check(&spec).map_err(|e| match e {
        PodError::Mismatch(m) => attached(m),
        other => netlink_err("reading the attached pod")(other),
    })?;
    if link.host_ifindex != ep.host_ifindex || spec.host_ifname != ep.host_ifname {
        return Err(attached(format!(
            "ternd has it on {} ifindex {}, the node on {} ifindex {}",
            ep.host_ifname, ep.host_ifindex, spec.host_ifname, link.host_ifindex
        )));
    }
    add_result(env, net, netns, &link, &ep.addresses, &routes)
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
    // The routes through this interface's gateway that ADD reported.
    let routes = prev
        .routes
        .iter()
        .filter(|r| {
            r.gw.is_some_and(|g| {
                g == std::net::IpAddr::from(POD_GATEWAY_V4)
                    || g == std::net::IpAddr::from(POD_GATEWAY_V6)
            })
        })
        .map(|r| r.dst)
        .collect();
    let spec = link_spec(env, netns, net, ep.addresses.clone(), routes);
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

/// GC (CNI 1.1): releases every attachment of this network that ternd
/// holds (endpoint or reservation) and the runtime does not list in
/// `cni.dev/valid-attachments`: its addresses and its veth. Attachments of
/// other networks, and those a tern-cni older than the network field made,
/// are left alone.
fn gc(net: &Network) -> Result<(), CniError> {
    let valid = net.valid_attachments.as_ref().ok_or_else(|| {
        CniError::new(
            Code::InvalidConfig,
            "GC needs cni.dev/valid-attachments in the network configuration",
        )
    })?;
    if let Err(e) = migrate::import_ipam_file(net) {
        eprintln!("tern-cni: GC: {e}");
    }
    let (eps, reserved) = ternd::endpoints(&net.socket)?;
    let held = eps
        .into_iter()
        .map(|e| (e.container_id, e.ifname, e.host_ifname, e.network))
        .chain(
            reserved
                .into_iter()
                .map(|r| (r.container_id, r.ifname, r.host_ifname, r.network)),
        );
    let mut failed = Vec::new();
    for (cid, ifname, host, network) in held {
        let listed = valid
            .iter()
            .any(|a| a.container_id == cid && a.ifname == ifname);
        if listed || network.as_deref() != Some(net.name.as_str()) {
            continue;
        }
        eprintln!("tern-cni: GC: releasing container {cid} interface {ifname} ({host})");
        let outcome = ternd::deregister(&net.socket, &cid, &ifname).and_then(|()| {
            pod::pod_link_del(&host)
                .map(|_| ())
                .map_err(netlink_err("deleting the veth"))
        });
        if let Err(e) = outcome {
            failed.push(format!("container {cid} interface {ifname}: {e}"));
        }
    }
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(CniError::new(
            Code::Io,
            format!("GC could not release {} attachment(s)", failed.len()),
        )
        .details(format!("{first}; {}", failed[1..].join("; ")))),
    }
}

/// STATUS (CNI 1.1): ready when ternd answers and the eBPF datapath it is
/// configured with is loaded (with none configured, the node routes pods
/// with plain kernel routes); code 50 otherwise.
fn status(net: &Network) -> Result<(), CniError> {
    let info = ternd::datapath(&net.socket).map_err(|e| {
        CniError::new(
            Code::NotAvailable,
            format!("ternd does not answer on {}", net.socket.display()),
        )
        .details(e.to_string())
    })?;
    ready(&info)
}

/// STATUS's verdict on ternd's `show datapath`.
fn ready(info: &tern_control::DatapathInfo) -> Result<(), CniError> {
    match (&info.mode, info.loaded) {
        (Some(mode), false) => Err(CniError::new(
            Code::NotAvailable,
            format!("ternd's eBPF datapath (mode {mode}) is not loaded"),
        )
        .details(info.last_error.clone().unwrap_or_default())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_needs_the_configured_datapath_loaded() {
        let mut info = tern_control::DatapathInfo::default();
        // No eBPF datapath configured: kernel routing, ready.
        assert_eq!(ready(&info), Ok(()));
        info.mode = Some("native".into());
        info.last_error = Some("cannot attach".into());
        let e = ready(&info).unwrap_err();
        assert_eq!(e.code, Code::NotAvailable);
        assert_eq!(e.details, "cannot attach");
        info.loaded = true;
        assert_eq!(ready(&info), Ok(()));
    }

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
