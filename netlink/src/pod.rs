//! Pod interfaces for the CNI plugin: a veth pair whose one end sits in the
//! pod's network namespace, its addresses, routes, neighbours and MTU.
//!
//! The addressing model is the one Calico operators know: the pod gets a
//! /32 (and a /128), its default route points at a link-local gateway
//! ([`POD_GATEWAY_V4`], [`POD_GATEWAY_V6`]) that resolves, through a
//! permanent neighbour entry in the pod, to the host end's MAC. A pod with
//! several interfaces (Multus' `net1`, ...) has one default route per
//! family, on the interface that was there first: the others route only
//! the prefixes they are given ([`PodLinkSpec::routes`]), through the same
//! gateway address marked `onlink`, so that none of them replaces what
//! another one set. The node
//! routes each pod address to the host end (`scope link`, protocol
//! [`CNI_ROUTE_PROTO`]) with a permanent neighbour entry for the pod's MAC,
//! so plain kernel forwarding works before any eBPF program is attached and
//! no ARP/ND or DAD wait is involved.
//!
//! The functions here are blocking: each runs its requests on a
//! current-thread runtime of its own, the pod's part on a thread that has
//! entered the pod's namespace (a netlink socket belongs to the namespace
//! it was opened in).
use std::{
    fs::File,
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
};

use futures::TryStreamExt;
use ipnet::IpNet;
use netlink_packet_route::{
    AddressFamily,
    address::{AddressAttribute, AddressFlags, AddressHeaderFlags},
    link::{InfoData, InfoVeth, LinkAttribute, LinkMessage},
    route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope},
};
use rtnetlink::{Handle, LinkUnspec, LinkVeth, RouteMessageBuilder};

/// The pod's IPv4 default gateway: link-local, never on the wire.
pub const POD_GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// The pod's IPv6 default gateway (link-local).
pub const POD_GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
/// Route protocol id of the node's routes to its pods (`ip route show
/// proto 203`); not Tern's BGP id (202), so ternd's purge of stale BGP
/// routes leaves pods alone.
pub const CNI_ROUTE_PROTO: u8 = 203;

const ENODEV: i32 = 19;
const EEXIST: i32 = 17;

/// Errors wiring a pod.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("network namespace {path}: {source}")]
    Netns {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink {what}: {source}")]
    Request {
        what: String,
        #[source]
        source: rtnetlink::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Something else went wrong on the way (in words).
    #[error("{0}")]
    Other(String),
    /// An interface of the requested name already exists.
    #[error("{0}")]
    Exists(String),
    /// CHECK found the pod's wiring different from what it should be.
    #[error("{0}")]
    Mismatch(String),
}

/// What a pod interface should look like.
#[derive(Clone, Debug)]
pub struct PodLinkSpec {
    /// The pod's network namespace (a bind-mounted nsfs file or /proc/PID/ns/net).
    pub netns: PathBuf,
    /// The interface name inside the pod (CNI_IFNAME).
    pub ifname: String,
    /// The host end's name (at most 15 bytes).
    pub host_ifname: String,
    pub mtu: u32,
    /// The pod's addresses as host routes: /32 and/or /128.
    pub addresses: Vec<IpNet>,
    /// Destinations the pod routes through this interface's gateway: the
    /// default route of a family (0.0.0.0/0, ::/0) when this interface owns
    /// it, the network's pod CIDRs otherwise (see [`foreign_defaults`]).
    pub routes: Vec<IpNet>,
    /// Whether the node's host routes to the pod go into the main table
    /// here; false for a pod in a VRF, whose host routes ternd installs in
    /// the VRF's table ([`crate::Netlink::vrf_pod_route_replace`]).
    pub host_routes: bool,
}

/// The two ends of a wired pod interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLink {
    pub host_ifindex: u32,
    pub host_mac: Vec<u8>,
    pub pod_ifindex: u32,
    pub pod_mac: Vec<u8>,
}

fn req(what: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> PodError {
    let what = what.into();
    move |source| PodError::Request { what, source }
}

/// Runs `f` with a netlink handle of the current namespace, or of `netns`
/// (on a thread that enters it).
fn run<T, F, Fut>(netns: Option<&File>, f: F) -> Result<T, PodError>
where
    T: Send,
    F: FnOnce(Handle) -> Fut + Send,
    Fut: Future<Output = Result<T, PodError>>,
{
    std::thread::scope(|s| {
        s.spawn(move || {
            if let Some(fd) = netns {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| PodError::Io(std::io::Error::from(e)))?;
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()?;
            rt.block_on(async move {
                let (conn, handle, _) = rtnetlink::new_connection()?;
                tokio::spawn(conn);
                f(handle).await
            })
        })
        .join()
        .unwrap_or_else(|_| Err(PodError::Other("netlink worker panicked".into())))
    })
}

fn open_netns(path: &Path) -> Result<File, PodError> {
    File::open(path).map_err(|source| PodError::Netns {
        path: path.to_owned(),
        source,
    })
}

/// A link by name: None when there is none.
async fn link_by_name(h: &Handle, name: &str) -> Result<Option<LinkMessage>, PodError> {
    match h.link().get().match_name(name).execute().try_next().await {
        Ok(m) => Ok(m),
        Err(e) if crate::errno(&e) == Some(ENODEV) => Ok(None),
        Err(e) => Err(req(format!("looking up link {name}"))(e)),
    }
}

fn mac_of(m: &LinkMessage) -> Vec<u8> {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(a) => Some(a.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

fn mtu_of(m: &LinkMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Mtu(v) => Some(*v),
            _ => None,
        })
        .unwrap_or(0)
}

/// SIOCETHTOOL of <linux/sockios.h>.
const SIOCETHTOOL: u64 = 0x8946;
/// ETHTOOL_SGRO of <linux/ethtool.h>: set generic receive offload.
const ETHTOOL_SGRO: u32 = 0x2c;

/// struct ethtool_value of <linux/ethtool.h>.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// struct ifreq with the ifr_data member (an ioctl's argument).
#[repr(C)]
struct IfreqData {
    name: [u8; 16],
    data: *mut EthtoolValue,
    pad: [u8; 16],
}

/// The MTU of each `(netns, ifname)` as the pod sees it now (`ip link set
/// eth0 mtu N` inside a pod changes it after CNI ADD), None where the
/// namespace or the interface is gone. One thread enters each namespace in
/// turn and asks with SIOCGIFMTU: a few microseconds a pod.
pub fn pod_mtus(pods: &[(&Path, &str)]) -> Vec<Option<u32>> {
    std::thread::scope(|s| {
        s.spawn(|| {
            pods.iter()
                .map(|(netns, ifname)| {
                    let fd = File::open(netns).ok()?;
                    nix::sched::setns(&fd, nix::sched::CloneFlags::CLONE_NEWNET).ok()?;
                    if_mtu(ifname).ok()
                })
                .collect()
        })
        .join()
        .unwrap_or_else(|_| vec![None; pods.len()])
    })
}

/// A socket to ask interface ioctls of in the calling thread's network
/// namespace, and `ifname` as bytes once it fits an ifreq's name.
fn ioctl_socket(ifname: &str) -> std::io::Result<(std::os::fd::OwnedFd, &[u8])> {
    let bytes = ifname.as_bytes();
    if bytes.len() >= 16 {
        return Err(std::io::Error::from_raw_os_error(nix::libc::EINVAL));
    }
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    Ok((sock, bytes))
}

/// `ifname`'s MTU in the calling thread's network namespace.
#[allow(unsafe_code)]
fn if_mtu(ifname: &str) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let (sock, bytes) = ioctl_socket(ifname)?;
    // SAFETY: ifreq is plain old data; all zeroes is a valid value.
    let mut req: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(bytes) {
        *d = *s as nix::libc::c_char;
    }
    // SAFETY: `req` outlives the call; the kernel reads the name and writes
    // the MTU into the union.
    let rc = unsafe { nix::libc::ioctl(sock.as_raw_fd(), nix::libc::SIOCGIFMTU as _, &mut req) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFMTU filled the union's MTU member.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| std::io::Error::from_raw_os_error(nix::libc::EINVAL))
}

/// Turns generic receive offload on for `ifname` in the calling thread's
/// network namespace (`ethtool -K IFNAME gro on`). On a veth this also
/// gives the device a NAPI queue, so that frames an XDP program redirects
/// into its peer are received rather than dropped.
#[allow(unsafe_code)]
pub fn enable_gro(ifname: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let (sock, bytes) = ioctl_socket(ifname)?;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_SGRO,
        data: 1,
    };
    let mut req = IfreqData {
        name: [0; 16],
        data: &mut value,
        pad: [0; 16],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `req` and the `value` it points to outlive the call; the
    // kernel reads the name and copies the ethtool_value in and out.
    let rc = unsafe { nix::libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

async fn set_up(h: &Handle, index: u32, what: &str) -> Result<(), PodError> {
    h.link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(req(format!("setting {what} up")))
}

async fn add_neighbour(h: &Handle, index: u32, ip: IpAddr, mac: &[u8]) -> Result<(), PodError> {
    h.neighbours()
        .add(index, ip)
        .link_layer_address(mac)
        .replace()
        .execute()
        .await
        .map_err(req(format!("adding neighbour {ip}")))
}

async fn add_route(h: &Handle, msg: RouteMessage, what: String) -> Result<(), PodError> {
    h.route()
        .add(msg)
        .replace()
        .execute()
        .await
        .map_err(req(what))
}

/// Host route to one pod address over the host end.
fn host_route(addr: IpNet, host_index: u32) -> RouteMessage {
    host_route_in(addr, host_index, None)
}

/// The same in `table` (None: the main table).
fn host_route_in(addr: IpNet, host_index: u32, table: Option<u32>) -> RouteMessage {
    match addr.addr() {
        IpAddr::V4(a) => {
            let b = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(a, 32)
                .output_interface(host_index)
                .scope(RouteScope::Link)
                .protocol(RouteProtocol::Other(CNI_ROUTE_PROTO));
            match table {
                Some(t) => b.table_id(t).build(),
                None => b.build(),
            }
        }
        IpAddr::V6(a) => {
            let b = RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(a, 128)
                .output_interface(host_index)
                .protocol(RouteProtocol::Other(CNI_ROUTE_PROTO));
            match table {
                Some(t) => b.table_id(t).build(),
                None => b.build(),
            }
        }
    }
}

impl crate::Netlink {
    /// Installs (or replaces) the host route of a VRF pod's address `addr`
    /// over its host veth `host_index` in the VRF's `table`, as tern-cni
    /// installs a main-table pod's (scope link, protocol
    /// [`CNI_ROUTE_PROTO`]).
    pub async fn vrf_pod_route_replace(
        &self,
        addr: IpNet,
        host_index: u32,
        table: u32,
    ) -> Result<(), crate::Error> {
        self.handle
            .route()
            .add(host_route_in(addr, host_index, Some(table)))
            .replace()
            .execute()
            .await
            .map_err(|source| crate::Error::Request {
                what: "VRF pod route add",
                source,
            })
    }

    /// Deletes that route; one that is not there is no error.
    pub async fn vrf_pod_route_delete(
        &self,
        addr: IpNet,
        host_index: u32,
        table: u32,
    ) -> Result<(), crate::Error> {
        match self
            .handle
            .route()
            .del(host_route_in(addr, host_index, Some(table)))
            .execute()
            .await
        {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.code.is_some_and(|c| c.get() == -nix::libc::ESRCH) =>
            {
                Ok(())
            }
            Err(source) => Err(crate::Error::Request {
                what: "VRF pod route delete",
                source,
            }),
        }
    }
}

/// Creates the veth pair (the pod end directly inside the pod's namespace),
/// addresses, routes, neighbours and MTU on both ends. A host end of the same
/// name left by an interrupted earlier attempt is deleted first. On failure
/// the pair is deleted again, so nothing is left half-made.
pub fn pod_link_add(spec: &PodLinkSpec) -> Result<PodLink, PodError> {
    let ns = open_netns(&spec.netns)?;
    let ns_fd = std::os::fd::AsRawFd::as_raw_fd(&ns);
    let (host_ifindex, host_mac) = run(None, |h| async move {
        if let Some(old) = link_by_name(&h, &spec.host_ifname).await? {
            tracing::info!(host = %spec.host_ifname, "deleting a host veth left by an earlier attempt");
            h.link()
                .del(old.header.index)
                .execute()
                .await
                .map_err(req("deleting the old host veth"))?;
        }
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(spec.ifname.clone()));
        peer.attributes.push(LinkAttribute::Mtu(spec.mtu));
        peer.attributes.push(LinkAttribute::NetNsFd(ns_fd));
        let msg = LinkVeth::new(&spec.host_ifname, &spec.ifname)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .mtu(spec.mtu)
            .build();
        h.link().add(msg).execute().await.map_err(|e| {
            if crate::errno(&e) == Some(EEXIST) {
                PodError::Exists(format!(
                    "cannot create the veth pair: {} already exists in the pod or {} on the node",
                    spec.ifname, spec.host_ifname
                ))
            } else {
                req("creating the veth pair")(e)
            }
        })?;
        let m = link_by_name(&h, &spec.host_ifname)
            .await?
            .ok_or_else(|| PodError::Other("the new host veth vanished".into()))?;
        Ok((m.header.index, mac_of(&m)))
    })?;
    let result = (|| {
        let host_mac2 = host_mac.clone();
        let (pod_ifindex, pod_mac) = run(Some(&ns), |h| async move {
            let m = link_by_name(&h, &spec.ifname).await?.ok_or_else(|| {
                PodError::Other(format!("{} did not appear in the pod", spec.ifname))
            })?;
            let idx = m.header.index;
            if let Some(lo) = link_by_name(&h, "lo").await? {
                set_up(&h, lo.header.index, "lo").await?;
            }
            for a in &spec.addresses {
                let mut add = h.address().add(idx, a.addr(), a.prefix_len()).replace();
                if a.addr().is_ipv6() {
                    let m = add.message_mut();
                    m.header.flags = AddressHeaderFlags::Nodad;
                    m.attributes
                        .push(AddressAttribute::Flags(AddressFlags::Nodad));
                }
                add.execute()
                    .await
                    .map_err(req(format!("adding {a} in the pod")))?;
            }
            set_up(&h, idx, "the pod interface").await?;
            // GRO on the pod's end turns on its NAPI queue, which a veth
            // needs to take frames that XDP redirects into its peer (the
            // uplink's XDP service fast path); without it they are dropped.
            if let Err(e) = enable_gro(&spec.ifname) {
                tracing::warn!(ifname = %spec.ifname, error = %e, "cannot turn GRO on in the pod: XDP cannot deliver to it");
            }
            for (v6, gw) in [
                (false, IpAddr::V4(POD_GATEWAY_V4)),
                (true, IpAddr::V6(POD_GATEWAY_V6)),
            ] {
                if !spec.addresses.iter().any(|a| a.addr().is_ipv6() == v6) {
                    continue;
                }
                add_neighbour(&h, idx, gw, &host_mac2).await?;
                let family: Vec<IpNet> = spec
                    .routes
                    .iter()
                    .copied()
                    .filter(|d| d.addr().is_ipv6() == v6)
                    .collect();
                if !v6 && family.iter().any(|d| d.prefix_len() == 0) {
                    let gw = RouteMessageBuilder::<Ipv4Addr>::new()
                        .destination_prefix(POD_GATEWAY_V4, 32)
                        .output_interface(idx)
                        .scope(RouteScope::Link)
                        .build();
                    add_route(&h, gw, "the gateway route in the pod".into()).await?;
                }
                for dst in family {
                    add_route(
                        &h,
                        gateway_route(dst, idx),
                        format!("the route to {dst} in the pod"),
                    )
                    .await?;
                }
            }
            Ok((idx, mac_of(&m)))
        })?;
        let pod_mac2 = pod_mac.clone();
        run(None, |h| async move {
            set_up(&h, host_ifindex, "the host veth").await?;
            for a in &spec.addresses {
                add_neighbour(&h, host_ifindex, a.addr(), &pod_mac2).await?;
                if !spec.host_routes {
                    continue;
                }
                add_route(
                    &h,
                    host_route(*a, host_ifindex),
                    format!("the host route to {a}"),
                )
                .await?;
            }
            Ok(())
        })?;
        Ok(PodLink {
            host_ifindex,
            host_mac: host_mac.clone(),
            pod_ifindex,
            pod_mac,
        })
    })();
    if result.is_err() {
        let _ = pod_link_del(&spec.host_ifname);
    }
    result
}

/// Deletes the host end (and with it the pod end, the routes and the
/// neighbours over it). Ok(false) when there was none.
pub fn pod_link_del(host_ifname: &str) -> Result<bool, PodError> {
    run(None, |h| async move {
        let Some(m) = link_by_name(&h, host_ifname).await? else {
            return Ok(false);
        };
        match h.link().del(m.header.index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if crate::errno(&e) == Some(ENODEV) => Ok(false),
            Err(e) => Err(req(format!("deleting {host_ifname}"))(e)),
        }
    })
}

/// The ifindex of a link of the current namespace, if it exists.
pub fn link_index(name: &str) -> Result<Option<u32>, PodError> {
    run(None, |h| async move {
        Ok(link_by_name(&h, name).await?.map(|m| m.header.index))
    })
}

fn route_is_default_via(m: &RouteMessage, gw: IpAddr, oif: u32) -> bool {
    let mut gateway = None;
    let mut out = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(RouteAddress::Inet(v)) => gateway = Some(IpAddr::V4(*v)),
            RouteAttribute::Gateway(RouteAddress::Inet6(v)) => gateway = Some(IpAddr::V6(*v)),
            RouteAttribute::Oif(i) => out = Some(*i),
            _ => {}
        }
    }
    m.header.destination_prefix_length == 0 && gateway == Some(gw) && out == Some(oif)
}

/// Whether `m` routes `dst` through `gw` over `oif` (the default route
/// when `dst` is 0.0.0.0/0 or ::/0).
fn route_is(m: &RouteMessage, dst: IpNet, gw: IpAddr, oif: u32) -> bool {
    if dst.prefix_len() == 0 {
        return route_is_default_via(m, gw, oif);
    }
    let mut gateway = None;
    let mut out = None;
    let mut to = None;
    for a in &m.attributes {
        match a {
            RouteAttribute::Gateway(RouteAddress::Inet(v)) => gateway = Some(IpAddr::V4(*v)),
            RouteAttribute::Gateway(RouteAddress::Inet6(v)) => gateway = Some(IpAddr::V6(*v)),
            RouteAttribute::Destination(RouteAddress::Inet(v)) => to = Some(IpAddr::V4(*v)),
            RouteAttribute::Destination(RouteAddress::Inet6(v)) => to = Some(IpAddr::V6(*v)),
            RouteAttribute::Oif(i) => out = Some(*i),
            _ => {}
        }
    }
    m.header.destination_prefix_length == dst.prefix_len()
        && to == Some(dst.addr())
        && gateway == Some(gw)
        && out == Some(oif)
}

/// The pod's gateway of `dst`'s family.
fn gateway_of(dst: &IpNet) -> IpAddr {
    if dst.addr().is_ipv4() {
        POD_GATEWAY_V4.into()
    } else {
        POD_GATEWAY_V6.into()
    }
}

/// A route to `dst` through the pod's gateway over `idx`; a default route
/// of IPv4 relies on the gateway's own /32 route, any other is `onlink`.
fn gateway_route(dst: IpNet, idx: u32) -> RouteMessage {
    let mut m = match dst {
        IpNet::V4(d) => RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(d.addr(), d.prefix_len())
            .gateway(POD_GATEWAY_V4)
            .output_interface(idx)
            .build(),
        IpNet::V6(d) => RouteMessageBuilder::<Ipv6Addr>::new()
            .destination_prefix(d.addr(), d.prefix_len())
            .gateway(POD_GATEWAY_V6)
            .output_interface(idx)
            .build(),
    };
    if dst.prefix_len() != 0 && dst.addr().is_ipv4() {
        m.header.flags |= netlink_packet_route::route::RouteFlags::Onlink;
    }
    m
}

/// Which families (IPv4, IPv6) already have a default route in the pod's
/// namespace over an interface other than `ifname`: the interface being
/// added does not own those.
pub fn foreign_defaults(netns: &Path, ifname: &str) -> Result<(bool, bool), PodError> {
    let ns = open_netns(netns)?;
    run(Some(&ns), |h| async move {
        let own = link_by_name(&h, ifname).await?.map(|m| m.header.index);
        let mut found = (false, false);
        for (family, v6) in [(AddressFamily::Inet, false), (AddressFamily::Inet6, true)] {
            let other = routes(&h, family).await?.iter().any(|m| {
                let oif = m.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                });
                m.header.destination_prefix_length == 0
                    && m.header.table == 254
                    && oif.is_some()
                    && oif != own
            });
            if v6 {
                found.1 = other;
            } else {
                found.0 = other;
            }
        }
        Ok(found)
    })
}

async fn routes(h: &Handle, family: AddressFamily) -> Result<Vec<RouteMessage>, PodError> {
    let msg = match family {
        AddressFamily::Inet6 => RouteMessageBuilder::<Ipv6Addr>::new().build(),
        _ => RouteMessageBuilder::<Ipv4Addr>::new().build(),
    };
    h.route()
        .get(msg)
        .execute()
        .try_collect()
        .await
        .map_err(req("route dump"))
}

/// CNI CHECK: the host end exists and is up, the pod end carries the
/// addresses and MTU, the pod routes `routes` through the gateway over it, and the
/// node routes each address to the host end. The first difference found is
/// reported as [`PodError::Mismatch`].
pub fn pod_link_check(spec: &PodLinkSpec) -> Result<PodLink, PodError> {
    let ns = open_netns(&spec.netns)?;
    let (host_ifindex, host_mac) = run(None, |h| async move {
        let m = link_by_name(&h, &spec.host_ifname).await?.ok_or_else(|| {
            PodError::Mismatch(format!("host veth {} does not exist", spec.host_ifname))
        })?;
        let idx = m.header.index;
        let have = routes(&h, AddressFamily::Inet).await?;
        let have6 = routes(&h, AddressFamily::Inet6).await?;
        for a in &spec.addresses {
            let found = have.iter().chain(have6.iter()).any(|r| {
                r.header.destination_prefix_length == a.prefix_len()
                    && r.attributes.iter().any(|x| {
                        matches!(x, RouteAttribute::Destination(RouteAddress::Inet(v)) if IpAddr::V4(*v) == a.addr())
                            || matches!(x, RouteAttribute::Destination(RouteAddress::Inet6(v)) if IpAddr::V6(*v) == a.addr())
                    })
                    && r.attributes.contains(&RouteAttribute::Oif(idx))
            });
            if !found {
                return Err(PodError::Mismatch(format!(
                    "the node has no route to {a} over {}",
                    spec.host_ifname
                )));
            }
        }
        Ok((idx, mac_of(&m)))
    })?;
    let (pod_ifindex, pod_mac) = run(Some(&ns), |h| async move {
        let m = link_by_name(&h, &spec.ifname).await?.ok_or_else(|| {
            PodError::Mismatch(format!("{} does not exist in the pod", spec.ifname))
        })?;
        let idx = m.header.index;
        if mtu_of(&m) != spec.mtu {
            return Err(PodError::Mismatch(format!(
                "{} has MTU {}, expected {}",
                spec.ifname,
                mtu_of(&m),
                spec.mtu
            )));
        }
        let links = crate::links_of(&h)
            .await
            .map_err(|e| PodError::Other(format!("cannot read the pod's addresses: {e}")))?;
        let have: Vec<IpNet> = links
            .iter()
            .find(|l| l.index == idx)
            .map(|l| l.addresses.clone())
            .unwrap_or_default();
        for a in &spec.addresses {
            if !have.contains(a) {
                return Err(PodError::Mismatch(format!(
                    "{} in the pod lacks {a}",
                    spec.ifname
                )));
            }
        }
        for dst in &spec.routes {
            let family = if dst.addr().is_ipv6() {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            };
            let gw = gateway_of(dst);
            let rs = routes(&h, family).await?;
            if !rs.iter().any(|r| route_is(r, *dst, gw, idx)) {
                let what = if dst.prefix_len() == 0 {
                    "default route".to_owned()
                } else {
                    format!("route to {dst}")
                };
                return Err(PodError::Mismatch(format!(
                    "the pod has no {what} via {gw} dev {}",
                    spec.ifname
                )));
            }
        }
        Ok((idx, mac_of(&m)))
    })?;
    Ok(PodLink {
        host_ifindex,
        host_mac,
        pod_ifindex,
        pod_mac,
    })
}

/// Turns on IPv4 and/or IPv6 forwarding in the current namespace.
pub fn enable_forwarding(v4: bool, v6: bool) -> std::io::Result<()> {
    let set = |path: &str| -> std::io::Result<()> {
        if std::fs::read_to_string(path)?.trim() != "1" {
            std::fs::write(path, b"1")?;
        }
        Ok(())
    };
    if v4 {
        set("/proc/sys/net/ipv4/ip_forward")?;
    }
    if v6 {
        set("/proc/sys/net/ipv6/conf/all/forwarding")?;
    }
    Ok(())
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
