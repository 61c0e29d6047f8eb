//! The pod datapath (ebpf/programs/src/datapath.rs) from userspace: load,
//! attach to the uplink, the VXLAN device and pod veths through TCX,
//! program endpoints, tunnel routes and the settings, read the counters.
//!
//! A daemon holds one [`Datapath`] per instance. Maps and TCX links are
//! pinned under the instance's bpffs dir, so that the programs keep
//! forwarding when the daemon is killed or stops for a restart
//! ([`Datapath::release`]); the next [`Datapath::load`] adopts them.
//! Dropping the value or calling [`Datapath::shutdown`] detaches everything
//! and removes the pins. Changing the mode is a map write: no reload, no
//! re-attach, the next packet sees it.
use std::{
    collections::{BTreeMap, BTreeSet},
    fs, io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    time::Duration,
};

use aya::{
    Ebpf,
    maps::{Array, HashMap, LpmTrie, MapData, PerCpuArray, PerCpuValues, lpm_trie::Key},
    programs::{
        SchedClassifier, TcAttachType, TestRun, TestRunOptions, Xdp, XdpMode,
        tc::SchedClassifierLinkId, xdp::XdpLinkId,
    },
};
use ipnet::IpNet;
pub use tern_ebpf_common::datapath::{
    CFG_FLAG_EGRESS, CFG_FLAG_SERVICES, CFG_FLAG_SRV6, CFG_FLAG_TRACE, CFG_FLAG_VTEP,
    DatapathConfig, DropReason, EP_FLAG_VETH_PEER, EndpointCounters, EndpointInfo,
    GENEVE_DEFAULT_PORT, IpKey, MAX_ENDPOINT_ADDRESSES, MAX_ENDPOINTS, MAX_TRUSTED_SOURCES,
    MAX_TUNNEL_ROUTES, MIN_PATH_MTU_V4, Mode, PathKind, PathMtu, REDIRECT_EGRESS, REDIRECT_NEIGH,
    REDIRECT_PEER, RedirectTrace, RemoteNode, TUNNEL_OVERHEAD_V4, TUNNEL_OVERHEAD_V6,
    VXLAN_DEFAULT_PORT,
};
use tern_ebpf_common::datapath::{
    CONFIG_MAP, DROPS_MAP, ENDPOINT_COUNTERS_MAP, ENDPOINTS_MAP, MAX_VTEPS, NODES_MAP,
    PATH_MTU_MAP, PATHS_MAP, POD_IFACES_MAP, PROG_NOOP, PROG_POD_INGRESS, PROG_PROBE_ENDPOINT,
    PROG_PROBE_FIB, PROG_UPLINK_INGRESS, PROG_UPLINK_XDP, PROG_VXLAN_EGRESS, PROG_VXLAN_INGRESS,
    TRACE_MAP, TUNNELS_MAP, VTEPS_MAP, VtepMac,
};

pub use crate::maps::{CT_PIN, ip_key, key_ip};
use crate::{
    Error,
    maps::{map_err, not_found},
    table_pool::TablePool,
};
use tern_ebpf_common::{egress, services, srv6};

/// Where a datapath program is attached (on TCX ingress; the VXLAN device
/// gets its egress program too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// A pod's host-side veth: packets the pod sends.
    Pod,
    /// The node's uplink: Geneve decapsulation, native delivery.
    Uplink,
    /// The collect_md VXLAN device: decapsulated packets (ingress) and the
    /// stack's fragments of pods' packets too big for the tunnel (egress).
    Vxlan,
    /// The no-op program (benchmark baseline).
    Noop,
}

impl Hook {
    fn program(self) -> &'static str {
        match self {
            Hook::Pod => PROG_POD_INGRESS,
            Hook::Uplink => PROG_UPLINK_INGRESS,
            Hook::Vxlan => PROG_VXLAN_INGRESS,
            Hook::Noop => PROG_NOOP,
        }
    }

    /// The program on the interface's TCX egress, if the hook has one.
    fn egress_program(self) -> Option<&'static str> {
        match self {
            Hook::Vxlan => Some(PROG_VXLAN_EGRESS),
            _ => None,
        }
    }
}

/// A benchmark probe: a program that does one costly step of a path alone,
/// to time it next to the no-op ([`Datapath::bench_probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Probe {
    /// One endpoint-map (hash) lookup of the IPv4 destination.
    Endpoint,
    /// One bpf_fib_lookup for the IPv4 source and destination.
    FibLookup,
}

impl Probe {
    fn program(self) -> &'static str {
        match self {
            Probe::Endpoint => PROG_PROBE_ENDPOINT,
            Probe::FibLookup => PROG_PROBE_FIB,
        }
    }
}

fn lpm_key(p: &IpNet) -> Key<[u8; 16]> {
    match p.trunc() {
        IpNet::V4(n) => Key::new(
            96 + u32::from(n.prefix_len()),
            IpKey::v4(n.addr().octets()).addr,
        ),
        IpNet::V6(n) => Key::new(u32::from(n.prefix_len()), n.addr().octets()),
    }
}

fn lpm_prefix(k: &Key<[u8; 16]>) -> Option<IpNet> {
    let key = IpKey { addr: k.data() };
    let len = k.prefix_len();
    match key.as_v4() {
        Some(a) if len >= 96 => IpNet::new(IpAddr::V4(Ipv4Addr::from(a)), (len - 96) as u8).ok(),
        _ => IpNet::new(IpAddr::V6(Ipv6Addr::from(key.addr)), len as u8).ok(),
    }
}

fn remote_node(a: IpAddr) -> RemoteNode {
    RemoteNode {
        addr: ip_key(a).addr,
        family: if a.is_ipv4() { 4 } else { 6 },
        vni: 0,
    }
}

/// What BPF_PROG_TEST_RUN gave back.
#[derive(Clone, Debug)]
pub struct TestRunOutput {
    /// The program's return value (TC_ACT_* / TCX_*).
    pub verdict: i32,
    /// The packet as the program left it.
    pub packet: Vec<u8>,
}

/// What the kernel made of one loaded program ([`Datapath::program_stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramStats {
    pub name: &'static str,
    /// Instructions the verifier processed (all paths it walked).
    pub verified_insns: Option<u32>,
    /// Size of the program after the verifier's rewrites, in bytes (8 per
    /// instruction).
    pub translated_bytes: Option<u32>,
    /// Size of the JIT's machine code, in bytes.
    pub jitted_bytes: Option<u32>,
}

/// What [`Datapath::replace_tunnel_routes`] changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TunnelDiff {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    /// Routes left out: past the map's capacity, or refused by the kernel.
    pub refused: usize,
}

/// Programs attached to one interface.
#[derive(Debug)]
struct Attached {
    hook: Hook,
    ifindex: u32,
    link: TcLink,
    /// The hook's egress program's link, if it has one.
    egress: Option<TcLink>,
}

/// A TCX link of the datapath: owned by the program (no pin dir), or
/// pinned, so that it outlives this process and the next ternd takes it
/// over.
#[derive(Debug)]
enum TcLink {
    Owned(SchedClassifierLinkId),
    Pinned(PathBuf),
}

/// The links' folder under the pin dir.
const LINKS_DIR: &str = "links";

/// Whether the map pinned at `path` (if any) has the layout `obj` defines
/// for `map_name`: None when nothing is pinned there.
fn pin_fits(obj: &aya_obj::Object, map_name: &str, path: &Path) -> Option<bool> {
    if !path.exists() {
        return None;
    }
    let Ok(info) = aya::maps::MapInfo::from_pin(path) else {
        return Some(false);
    };
    let Some(def) = obj.maps.get(map_name) else {
        return Some(false);
    };
    let ty = info.map_type().ok().map(|t| t as u32);
    Some(
        ty == Some(def.map_type())
            && info.key_size() == def.key_size()
            && info.value_size() == def.value_size()
            && info.max_entries() == def.max_entries()
            && info.map_flags() == def.map_flags(),
    )
}

/// The pod datapath of one node.
pub struct Datapath {
    pub(crate) ebpf: Ebpf,
    /// The maps' pins.
    pins: Vec<PathBuf>,
    /// Where the links are pinned (with a pin dir).
    links_dir: Option<PathBuf>,
    /// Pinned links found at load that no attach has taken over yet.
    stale_links: std::collections::BTreeSet<PathBuf>,
    /// Every map came from an earlier ternd's pins.
    adopted: bool,
    attached: BTreeMap<String, Attached>,
    /// The uplink's XDP program, where it is attached (native mode only).
    xdp: Option<(String, u32, XdpLinkId)>,
    /// The programs record their redirects ([`Datapath::set_trace`]).
    trace: bool,
    /// The programs look packets up in the service maps.
    pub(crate) services: bool,
    /// The programs apply egress gateway policies.
    pub(crate) egress: bool,
    /// The programs look into the SRv6 maps.
    pub(crate) srv6: bool,
    /// External VTEPs as written to their map.
    vteps: BTreeMap<IpAddr, [u8; 6]>,
    /// The lookup-table pool, mapped on first use.
    pub(crate) pool: Option<TablePool>,
    /// What the tunnel map holds, as written (read from the map once, when
    /// first needed): each change is a diff against it, not a map dump.
    tunnels: Option<BTreeMap<IpNet, IpAddr>>,
    /// The trusted outer sources as written to their map (empty after
    /// [`Datapath::load`], which starts from fresh maps).
    trusted: BTreeSet<IpNet>,
}

impl std::fmt::Debug for Datapath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Datapath")
            .field("pins", &self.pins)
            .field("attached", &self.attached)
            .field("xdp", &self.xdp.as_ref().map(|(n, i, _)| (n, i)))
            .field("trace", &self.trace)
            .finish()
    }
}

const PINNED: [(&str, &str); 26] = [
    (ENDPOINTS_MAP, "dp_endpoints"),
    (POD_IFACES_MAP, "dp_pod_ifaces"),
    (ENDPOINT_COUNTERS_MAP, "dp_endpoint_counters"),
    (DROPS_MAP, "dp_drops"),
    (PATHS_MAP, "dp_paths"),
    (TUNNELS_MAP, "dp_tunnels"),
    (PATH_MTU_MAP, "dp_path_mtu"),
    (VTEPS_MAP, "dp_vteps"),
    (NODES_MAP, "dp_nodes"),
    (CONFIG_MAP, "dp_config"),
    (TRACE_MAP, "dp_trace"),
    (services::SERVICES_MAP, "dp_services"),
    (services::BACKENDS_MAP, "dp_backends"),
    (services::LB_TABLE_MAP, "dp_lb_table"),
    (services::CT_MAP, CT_PIN),
    (services::AFFINITY_MAP, "dp_affinity"),
    (services::SOURCE_RANGES_MAP, "dp_source_ranges"),
    (services::SERVICES_CONFIG_MAP, "dp_services_config"),
    (egress::STEER_MAP, "dp_egw_steer"),
    (egress::POLICIES_MAP, "dp_egw_policies"),
    (egress::MATCH_MAP, "dp_egw_match"),
    (egress::CONFIG_MAP, "dp_egw_config"),
    (srv6::ENCAP_MAP, "dp_srv6_encap"),
    (srv6::SIDS_MAP, "dp_srv6_sids"),
    (srv6::LOCATORS_MAP, "dp_srv6_locators"),
    (srv6::VRF_IFACES_MAP, "dp_vrf_ifaces"),
];

impl Datapath {
    /// Loads the programs (the kernel verifies them) and, with `pin_dir`,
    /// pins the maps there and the links under its `links` folder.
    ///
    /// What an earlier ternd of the instance left pinned (it was killed,
    /// or stopped for a restart with [`Datapath::release`]) is adopted:
    /// each map whose pin has this object's layout is used as it is, with
    /// its entries (a pin of another layout is replaced), and the settings
    /// are kept; pinned links are taken over by [`Datapath::attach`], which
    /// swaps the new program in atomically. Pods keep forwarding through
    /// the old programs until then. Settings of a fresh datapath start as
    /// [`DatapathConfig::default`] (native mode).
    pub fn load(pin_dir: Option<&Path>) -> Result<Self, Error> {
        let mut map_pins = Vec::new();
        let mut adopted = 0;
        let mut stale_links = std::collections::BTreeSet::new();
        if let Some(dir) = pin_dir {
            let links = dir.join(LINKS_DIR);
            fs::create_dir_all(&links).map_err(|source| Error::Pin {
                path: links.clone(),
                source,
            })?;
            let obj = aya_obj::Object::parse(crate::DATAPATH_OBJ)
                .map_err(|e| Error::Invalid(format!("the datapath object: {e}")))?;
            for (map_name, file) in PINNED {
                let path = dir.join(file);
                match pin_fits(&obj, map_name, &path) {
                    None => {}
                    Some(true) => adopted += 1,
                    Some(false) => {
                        tracing::warn!(path = %path.display(), "pinned map of another layout: replaced (its entries are lost)");
                        fs::remove_file(&path).map_err(|source| Error::Pin {
                            path: path.clone(),
                            source,
                        })?;
                    }
                }
                map_pins.push((map_name, path));
            }
            let entries = fs::read_dir(&links).map_err(|source| Error::Pin {
                path: links.clone(),
                source,
            })?;
            stale_links.extend(entries.flatten().map(|e| e.path()));
        }
        let mut loader = aya::EbpfLoader::new();
        loader.btf(None);
        for (name, path) in &map_pins {
            loader.map_pin_path(name, path.as_path());
        }
        let mut ebpf = loader.load(crate::DATAPATH_OBJ)?;
        let names = [Hook::Pod, Hook::Uplink, Hook::Vxlan, Hook::Noop]
            .map(Hook::program)
            .into_iter()
            .chain([PROG_VXLAN_EGRESS]);
        for name in names {
            let prog: &mut SchedClassifier = ebpf
                .program_mut(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(|source| Error::Program { name, source })?;
            prog.load()
                .map_err(|source| Error::Program { name, source })?;
        }
        let name = PROG_UPLINK_XDP;
        let prog: &mut Xdp = ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        prog.load()
            .map_err(|source| Error::Program { name, source })?;
        let mut dp = Datapath {
            ebpf,
            pins: map_pins.into_iter().map(|(_, p)| p).collect(),
            links_dir: pin_dir.map(|d| d.join(LINKS_DIR)),
            stale_links,
            attached: BTreeMap::new(),
            xdp: None,
            trace: false,
            services: false,
            egress: false,
            srv6: false,
            vteps: BTreeMap::new(),
            pool: None,
            tunnels: None,
            adopted: adopted == PINNED.len(),
            trusted: BTreeSet::new(),
        };
        if dp.adopted {
            // The running settings stay; the flags the loader owns follow
            // them until their owners write again.
            let flags = dp.raw_config()?.flags;
            dp.trace = flags & CFG_FLAG_TRACE != 0;
            dp.services = flags & CFG_FLAG_SERVICES != 0;
            dp.egress = flags & CFG_FLAG_EGRESS != 0;
            dp.srv6 = flags & CFG_FLAG_SRV6 != 0;
            dp.vteps = dp.read_vteps()?;
            dp.trusted = dp.trusted_sources()?.into_iter().collect();
            tracing::info!(
                maps = adopted,
                links = dp.stale_links.len(),
                "adopted the datapath an earlier ternd left running"
            );
        } else {
            dp.set_config(&DatapathConfig::default())?;
            dp.set_conntrack_timeouts(services::ServicesConfig::default())?;
            dp.set_egress_config(egress::EgressConfig::default())?;
        }
        Ok(dp)
    }

    /// Whether every map was adopted from an earlier ternd's pins (see
    /// [`Datapath::load`]).
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// Attaches the program for `hook` to TCX ingress of `ifname` (in the
    /// caller's network namespace). Returns its ifindex. Attaching the same
    /// interface with the same hook again is a no-op; another hook replaces
    /// the first. With a pin dir the link is pinned, and a link an earlier
    /// ternd pinned on this interface is taken over: the kernel swaps this
    /// program in, with no moment without one.
    pub fn attach(&mut self, hook: Hook, ifname: &str) -> Result<u32, Error> {
        if let Some(a) = self.attached.get(ifname) {
            if a.hook == hook {
                return Ok(a.ifindex);
            }
            self.detach(ifname)?;
        }
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .map_err(|e| Error::Invalid(format!("interface {ifname}: {e}")))?;
        let link = self.attach_tc(hook.program(), ifname, ifindex, TcAttachType::Ingress)?;
        let egress = match hook.egress_program() {
            None => None,
            Some(name) => match self.attach_tc(name, ifname, ifindex, TcAttachType::Egress) {
                Ok(l) => Some(l),
                Err(e) => {
                    self.drop_tc(hook.program(), link);
                    return Err(e);
                }
            },
        };
        self.attached.insert(
            ifname.to_owned(),
            Attached {
                hook,
                ifindex,
                link,
                egress,
            },
        );
        tracing::info!(ifname, ifindex, ?hook, "datapath attached");
        Ok(ifindex)
    }

    /// Attaches program `name` to `ifname` in direction `dir`: pinned
    /// (taking over an earlier ternd's link there) with a pin dir, owned
    /// by the program without.
    fn attach_tc(
        &mut self,
        name: &'static str,
        ifname: &str,
        ifindex: u32,
        dir: TcAttachType,
    ) -> Result<TcLink, Error> {
        let dir_name = match dir {
            TcAttachType::Ingress => "ingress",
            _ => "egress",
        };
        let attach_err = |source| Error::Attach {
            ifname: ifname.to_owned(),
            dir: dir_name,
            source,
        };
        let Some(links) = &self.links_dir else {
            let id = self
                .prog_mut(name)?
                .attach(ifname, dir)
                .map_err(attach_err)?;
            return Ok(TcLink::Owned(id));
        };
        let path = links.join(format!("{ifindex}-{dir_name}"));
        if self.stale_links.remove(&path) {
            match self.adopt_tc(name, &path) {
                Ok(()) => {
                    tracing::info!(ifname, dir = dir_name, "took over the pinned link");
                    return Ok(TcLink::Pinned(path));
                }
                Err(e) => {
                    // The interface it was on is gone (a new one may
                    // carry its name): attach afresh.
                    tracing::info!(ifname, dir = dir_name, error = %e, "pinned link not taken over");
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let prog = self.prog_mut(name)?;
        let id = prog.attach(ifname, dir).map_err(attach_err)?;
        let link = prog
            .take_link(id)
            .map_err(|source| Error::Program { name, source })?;
        let fd = aya::programs::links::FdLink::try_from(link)
            .map_err(|e| Error::Invalid(format!("link of {ifname}: {e}")))?;
        // Dropping the pinned value closes our descriptor; the pin keeps
        // the link (an error drops the link, which detaches it).
        fd.pin(&path).map_err(|e| Error::Pin {
            path: path.clone(),
            source: io::Error::other(e),
        })?;
        Ok(TcLink::Pinned(path))
    }

    /// Puts program `name` into the link pinned at `path`.
    fn adopt_tc(&mut self, name: &'static str, path: &Path) -> Result<(), Error> {
        let invalid =
            |e: &dyn std::fmt::Display| Error::Invalid(format!("{}: {e}", path.display()));
        let pinned = aya::programs::links::PinnedLink::from_pin(path).map_err(|e| invalid(&e))?;
        let link = aya::programs::tc::SchedClassifierLink::try_from(
            aya::programs::links::FdLink::from(pinned),
        )
        .map_err(|e| invalid(&e))?;
        let prog = self.prog_mut(name)?;
        let id = prog
            .attach_to_link(link)
            .map_err(|source| Error::Program { name, source })?;
        // Our descriptor closes; the pin keeps the link.
        let _ = prog.take_link(id);
        Ok(())
    }

    /// Detaches a link of program `name`.
    fn drop_tc(&mut self, name: &'static str, link: TcLink) {
        match link {
            TcLink::Owned(id) => {
                if let Ok(p) = self.prog_mut(name) {
                    // The interface may be gone already (its links died with it).
                    let _ = p.detach(id);
                }
            }
            // With no descriptor left, removing the pin detaches it.
            TcLink::Pinned(path) => {
                let _ = fs::remove_file(path);
            }
        }
    }

    /// Detaches `ifname`'s programs.
    pub fn detach(&mut self, ifname: &str) -> Result<(), Error> {
        let a = self
            .attached
            .remove(ifname)
            .ok_or_else(|| Error::NotAttached(ifname.to_owned()))?;
        self.drop_tc(a.hook.program(), a.link);
        if let (Some(name), Some(link)) = (a.hook.egress_program(), a.egress) {
            self.drop_tc(name, link);
        }
        Ok(())
    }

    /// Removes the pinned links found at load that no [`Datapath::attach`]
    /// took over (their interfaces are gone or no longer wanted), which
    /// detaches them. Called once the first reconcile has attached what it
    /// wants.
    pub fn sweep_stale_links(&mut self) -> usize {
        let n = self.stale_links.len();
        for p in std::mem::take(&mut self.stale_links) {
            let _ = fs::remove_file(p);
        }
        n
    }

    /// Attaches the uplink's XDP program (`tern_uplink_xdp`) to `ifname` in
    /// native (driver) mode, through a bpf_link that ends with this value
    /// (a restarted daemon attaches its own; the old link died with the old
    /// process). Returns the ifindex. A driver without native XDP is an
    /// error: generic XDP would only add work before the TC program.
    /// Attaching again to the same interface is a no-op; another interface
    /// replaces the first.
    pub fn attach_xdp(&mut self, ifname: &str) -> Result<u32, Error> {
        if let Some((n, ifindex, _)) = &self.xdp {
            if n == ifname {
                return Ok(*ifindex);
            }
            self.detach_xdp()?;
        }
        let ifindex = nix::net::if_::if_nametoindex(ifname)
            .map_err(|e| Error::Invalid(format!("interface {ifname}: {e}")))?;
        let link = self
            .xdp_prog_mut()?
            .attach_to_if_index(ifindex, XdpMode::Driver)
            .map_err(|source| Error::Attach {
                ifname: ifname.to_owned(),
                dir: "xdp",
                source,
            })?;
        self.xdp = Some((ifname.to_owned(), ifindex, link));
        tracing::info!(ifname, ifindex, "uplink XDP attached (native mode)");
        Ok(ifindex)
    }

    /// Detaches the XDP program, if it is attached.
    pub fn detach_xdp(&mut self) -> Result<(), Error> {
        if let Some((_, _, link)) = self.xdp.take() {
            let name = PROG_UPLINK_XDP;
            // The interface may be gone already (its link died with it).
            let _ = self
                .xdp_prog_mut()?
                .detach(link)
                .map_err(|source| Error::Program { name, source });
        }
        Ok(())
    }

    /// Where the XDP program is attached (always native mode): interface
    /// and ifindex.
    pub fn xdp_attached(&self) -> Option<(&str, u32)> {
        self.xdp.as_ref().map(|(n, i, _)| (n.as_str(), *i))
    }

    /// Runs the uplink's XDP program once on `packet` through
    /// BPF_PROG_TEST_RUN. The verdict is an `XDP_*` action.
    pub fn test_run_xdp(&self, packet: &[u8]) -> Result<TestRunOutput, Error> {
        let (out, _) = self.run_xdp(packet, 1)?;
        Ok(out)
    }

    /// Runs the XDP program `repeat` times on `packet`; the kernel's mean
    /// time per run.
    pub fn bench_xdp(&self, packet: &[u8], repeat: u32) -> Result<Duration, Error> {
        Ok(self.run_xdp(packet, repeat)?.1)
    }

    fn run_xdp(&self, packet: &[u8], repeat: u32) -> Result<(TestRunOutput, Duration), Error> {
        let name = PROG_UPLINK_XDP;
        let prog: &Xdp = self
            .ebpf
            .program(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        let mut out = vec![0u8; packet.len() + 512];
        let res = prog
            .test_run(TestRunOptions {
                data_in: Some(packet),
                data_out: Some(&mut out),
                repeat,
                ..TestRunOptions::new()
            })
            .map_err(|source| Error::Program { name, source })?;
        out.truncate(res.data_size_out as usize);
        Ok((
            TestRunOutput {
                verdict: res.return_value as i32,
                packet: out,
            },
            res.duration,
        ))
    }

    fn xdp_prog_mut(&mut self) -> Result<&mut Xdp, Error> {
        let name = PROG_UPLINK_XDP;
        self.ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })
    }

    /// Interfaces attached, with their hook and ifindex.
    pub fn attached(&self) -> impl Iterator<Item = (&str, Hook, u32)> {
        self.attached
            .iter()
            .map(|(n, a)| (n.as_str(), a.hook, a.ifindex))
    }

    /// Replaces the settings; the next packet sees them (a live mode
    /// change). `c.flags` is ignored: the flags follow
    /// [`Datapath::set_trace`], [`Datapath::set_services_enabled`], the
    /// egress policies and the SRv6 state.
    pub fn set_config(&mut self, c: &DatapathConfig) -> Result<(), Error> {
        if c.vni >= 1 << 24 {
            return Err(Error::Invalid(format!(
                "VNI {} is not a 24-bit value",
                c.vni
            )));
        }
        if c.mode() == Mode::Geneve && c.geneve_port == 0 {
            return Err(Error::Invalid("Geneve needs a UDP port".into()));
        }
        let mut flags = if self.trace { CFG_FLAG_TRACE } else { 0 };
        if self.services {
            flags |= CFG_FLAG_SERVICES;
        }
        if self.egress {
            flags |= CFG_FLAG_EGRESS;
        }
        if self.srv6 {
            flags |= CFG_FLAG_SRV6;
        }
        if !self.vteps.is_empty() {
            flags |= CFG_FLAG_VTEP;
        }
        let mut map: Array<&mut MapData, DatapathConfig> = Array::try_from(
            self.ebpf
                .map_mut(CONFIG_MAP)
                .ok_or(Error::Missing(CONFIG_MAP))?,
        )
        .map_err(map_err(CONFIG_MAP))?;
        map.set(0, DatapathConfig { flags, ..*c }, 0)
            .map_err(map_err(CONFIG_MAP))
    }

    /// The settings in force, as [`Datapath::set_config`] took them (flags
    /// read as 0).
    pub fn config(&self) -> Result<DatapathConfig, Error> {
        let map: Array<&MapData, DatapathConfig> = Array::try_from(
            self.ebpf
                .map(CONFIG_MAP)
                .ok_or(Error::Missing(CONFIG_MAP))?,
        )
        .map_err(map_err(CONFIG_MAP))?;
        let c = map.get(&0, 0).map_err(map_err(CONFIG_MAP))?;
        Ok(DatapathConfig { flags: 0, ..c })
    }

    /// The settings with the loader's flags, as the programs see them.
    fn raw_config(&self) -> Result<DatapathConfig, Error> {
        let map: Array<&MapData, DatapathConfig> = Array::try_from(
            self.ebpf
                .map(CONFIG_MAP)
                .ok_or(Error::Missing(CONFIG_MAP))?,
        )
        .map_err(map_err(CONFIG_MAP))?;
        map.get(&0, 0).map_err(map_err(CONFIG_MAP))
    }

    /// The external VTEPs in their map.
    fn read_vteps(&self) -> Result<BTreeMap<IpAddr, [u8; 6]>, Error> {
        let map: HashMap<&MapData, IpKey, VtepMac> =
            HashMap::try_from(self.ebpf.map(VTEPS_MAP).ok_or(Error::Missing(VTEPS_MAP))?)
                .map_err(map_err(VTEPS_MAP))?;
        map.iter()
            .map(|r| {
                r.map(|(k, v)| (key_ip(&k), v.mac))
                    .map_err(map_err(VTEPS_MAP))
            })
            .collect()
    }

    /// Adds or updates the local pod with address `ip`. A new endpoint id
    /// starts with zero counters. Refused for an interface in a VRF
    /// ([`Datapath::set_vrf_iface`]): a VRF pod's addresses are its VRF's.
    pub fn upsert_endpoint(&mut self, ip: IpAddr, ep: EndpointInfo) -> Result<(), Error> {
        if ep.id >= MAX_ENDPOINTS {
            return Err(Error::Invalid(format!(
                "endpoint id {} is not below {MAX_ENDPOINTS}",
                ep.id
            )));
        }
        if let Some(table) = self.vrf_of_iface(ep.ifindex)? {
            return Err(Error::Invalid(format!(
                "interface {} is in the VRF of table {table}: its pod is no endpoint of the main table",
                ep.ifindex
            )));
        }
        let key = ip_key(ip);
        let old = {
            let map = self.endpoints_map()?;
            match map.get(&key, 0) {
                Ok(old) => Some(old),
                Err(aya::maps::MapError::KeyNotFound) => None,
                Err(e) => return Err(map_err(ENDPOINTS_MAP)(e)),
            }
        };
        let fresh = old.is_none_or(|o| o.id != ep.id);
        if fresh && !self.endpoint_id_in_use(ep.id, &key)? {
            self.zero_endpoint_counters(ep.id)?;
        }
        // The interface first: from the moment the address is in the map,
        // its packets are checked against it.
        self.pod_ifaces_map()?
            .insert(ep.ifindex, ep.id, 0)
            .map_err(map_err(POD_IFACES_MAP))?;
        let mut map: HashMap<&mut MapData, IpKey, EndpointInfo> = HashMap::try_from(
            self.ebpf
                .map_mut(ENDPOINTS_MAP)
                .ok_or(Error::Missing(ENDPOINTS_MAP))?,
        )
        .map_err(map_err(ENDPOINTS_MAP))?;
        map.insert(key, ep, 0).map_err(map_err(ENDPOINTS_MAP))?;
        if let Some(old) = old
            && old.ifindex != ep.ifindex
        {
            self.release_pod_iface(old.ifindex)?;
        }
        Ok(())
    }

    /// Removes the local pod with address `ip`; false if there was none.
    pub fn remove_endpoint(&mut self, ip: IpAddr) -> Result<bool, Error> {
        let key = ip_key(ip);
        let old = match self.endpoints_map()?.get(&key, 0) {
            Ok(old) => old,
            Err(e) if not_found(&e) => return Ok(false),
            Err(e) => return Err(map_err(ENDPOINTS_MAP)(e)),
        };
        let mut map: HashMap<&mut MapData, IpKey, EndpointInfo> = HashMap::try_from(
            self.ebpf
                .map_mut(ENDPOINTS_MAP)
                .ok_or(Error::Missing(ENDPOINTS_MAP))?,
        )
        .map_err(map_err(ENDPOINTS_MAP))?;
        let removed = match map.remove(&key) {
            Ok(()) => true,
            Err(e) if not_found(&e) => false,
            Err(e) => return Err(map_err(ENDPOINTS_MAP)(e)),
        };
        self.release_pod_iface(old.ifindex)?;
        Ok(removed)
    }

    /// Forgets the pod interface `ifindex` once no endpoint address uses it.
    fn release_pod_iface(&mut self, ifindex: u32) -> Result<(), Error> {
        let map = self.endpoints_map()?;
        for kv in map.iter() {
            match kv {
                Ok((_, v)) if v.ifindex == ifindex => return Ok(()),
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(ENDPOINTS_MAP)(e)),
            }
        }
        match self.pod_ifaces_map()?.remove(&ifindex) {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Ok(()),
            Err(e) => Err(map_err(POD_IFACES_MAP)(e)),
        }
    }

    fn pod_ifaces_map(&mut self) -> Result<HashMap<&mut MapData, u32, u32>, Error> {
        HashMap::try_from(
            self.ebpf
                .map_mut(POD_IFACES_MAP)
                .ok_or(Error::Missing(POD_IFACES_MAP))?,
        )
        .map_err(map_err(POD_IFACES_MAP))
    }

    /// The pod interfaces whose packets are checked for their source, with
    /// their endpoint ids.
    pub fn pod_ifaces(&self) -> Result<Vec<(u32, u32)>, Error> {
        let map: HashMap<&MapData, u32, u32> = HashMap::try_from(
            self.ebpf
                .map(POD_IFACES_MAP)
                .ok_or(Error::Missing(POD_IFACES_MAP))?,
        )
        .map_err(map_err(POD_IFACES_MAP))?;
        map.iter()
            .collect::<Result<Vec<_>, _>>()
            .map_err(map_err(POD_IFACES_MAP))
    }

    /// Makes the endpoint map hold exactly `endpoints` (what a daemon does
    /// after a restart or a resync): new and changed entries are written
    /// first, then stale ones removed. Returns (written, removed).
    pub fn replace_endpoints(
        &mut self,
        endpoints: &[(IpAddr, EndpointInfo)],
    ) -> Result<(usize, usize), Error> {
        let have: BTreeMap<IpAddr, EndpointInfo> = self.endpoints()?.into_iter().collect();
        let want: BTreeMap<IpAddr, EndpointInfo> = endpoints.iter().copied().collect();
        let mut written = 0;
        for (ip, ep) in &want {
            if have.get(ip) != Some(ep) {
                self.upsert_endpoint(*ip, *ep)?;
                written += 1;
            }
        }
        let mut removed = 0;
        for ip in have.keys().filter(|ip| !want.contains_key(*ip)) {
            if self.remove_endpoint(*ip)? {
                removed += 1;
            }
        }
        Ok((written, removed))
    }

    /// Every local pod address and its endpoint.
    pub fn endpoints(&self) -> Result<Vec<(IpAddr, EndpointInfo)>, Error> {
        let map = self.endpoints_map()?;
        let mut out = Vec::new();
        for kv in map.iter() {
            let (k, v) = kv.map_err(map_err(ENDPOINTS_MAP))?;
            out.push((key_ip(&k), v));
        }
        out.sort_by_key(|(a, _)| *a);
        Ok(out)
    }

    /// Makes the tunnel map hold exactly `routes` (remote pod prefix ->
    /// the node announcing it), with the fewest writes, against what this
    /// `Datapath` wrote (no map dump). The order never leaves a wanted
    /// prefix missing and never needs a free slot it cannot get: changed
    /// entries are replaced in place, then stale ones go, then new ones
    /// come. Past the map's capacity the rest are refused and counted, so a
    /// full map cannot wedge later changes; a write the kernel refuses is
    /// counted too, the others still done, and the first error returned.
    pub fn replace_tunnel_routes(
        &mut self,
        routes: &[(IpNet, IpAddr)],
    ) -> Result<TunnelDiff, Error> {
        let mut diff = TunnelDiff::default();
        let mut want: BTreeMap<IpNet, IpAddr> = BTreeMap::new();
        for (p, nh) in routes {
            // Any mix of families works: an IPv6 pod prefix behind an IPv4
            // node rides an IPv4 underlay, and the reverse.
            want.insert(p.trunc(), *nh);
        }
        let room = usize::try_from(MAX_TUNNEL_ROUTES).unwrap_or(usize::MAX);
        if want.len() > room {
            diff.refused += want.len() - room;
            // Refused from the end of the address order.
            while want.len() > room {
                want.pop_last();
            }
        }
        let mut have = match self.tunnels.take() {
            Some(t) => t,
            None => self.tunnel_routes()?.into_iter().collect(),
        };
        let result = write_tunnels(&mut self.ebpf, &mut have, &want, &mut diff);
        self.tunnels = Some(have);
        result.map(|()| diff)
    }

    /// Replaces the external VTEPs (node address -> its device's MAC): the
    /// packets tunnelled to one carry its MAC as their inner destination.
    /// Only the difference is written; the programs look VTEPs up only
    /// while there are some.
    pub fn set_vteps(&mut self, want: &BTreeMap<IpAddr, [u8; 6]>) -> Result<(), Error> {
        if &self.vteps == want {
            return Ok(());
        }
        let mut map: HashMap<&mut MapData, IpKey, VtepMac> = HashMap::try_from(
            self.ebpf
                .map_mut(VTEPS_MAP)
                .ok_or(Error::Missing(VTEPS_MAP))?,
        )
        .map_err(map_err(VTEPS_MAP))?;
        if want.len() > MAX_VTEPS as usize {
            return Err(Error::Invalid(format!(
                "{} external VTEPs: at most {MAX_VTEPS}",
                want.len()
            )));
        }
        for (addr, mac) in want {
            if self.vteps.get(addr) != Some(mac) {
                let v = VtepMac {
                    mac: *mac,
                    pad: [0; 2],
                };
                map.insert(ip_key(*addr), v, 0)
                    .map_err(map_err(VTEPS_MAP))?;
            }
        }
        for addr in self.vteps.keys().filter(|a| !want.contains_key(a)) {
            match map.remove(&ip_key(*addr)) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(VTEPS_MAP)(e)),
            }
        }
        let config = self.config()?;
        self.vteps = want.clone();
        self.set_config(&config)
    }

    /// Makes the trusted outer sources exactly `want` (node addresses and
    /// prefixes, either family): Geneve and VXLAN packets from any other
    /// source are dropped as [`DropReason::UnknownTunnelSource`]. Only the
    /// difference against what this `Datapath` wrote is written (no map
    /// dump), new entries before stale ones go, so that a source trusted
    /// before and after is never missing in between (stale ones go first
    /// only when both would not fit the map together). More than the map
    /// holds is refused and nothing changes; a write the kernel refuses
    /// stops the update (what was written is remembered, the next call
    /// goes on from there).
    pub fn set_trusted_sources(&mut self, want: &BTreeSet<IpNet>) -> Result<(), Error> {
        let want: BTreeSet<IpNet> = want.iter().map(IpNet::trunc).collect();
        if want == self.trusted {
            return Ok(());
        }
        let room = MAX_TRUSTED_SOURCES as usize;
        if want.len() > room {
            return Err(Error::Invalid(format!(
                "{} trusted tunnel sources: at most {MAX_TRUSTED_SOURCES}",
                want.len()
            )));
        }
        write_trusted(&mut self.ebpf, &mut self.trusted, &want)
    }

    /// The trusted outer sources in the map.
    pub fn trusted_sources(&self) -> Result<Vec<IpNet>, Error> {
        let map: LpmTrie<&MapData, [u8; 16], u32> =
            LpmTrie::try_from(self.ebpf.map(NODES_MAP).ok_or(Error::Missing(NODES_MAP))?)
                .map_err(map_err(NODES_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            let (k, _) = kv.map_err(map_err(NODES_MAP))?;
            out.extend(lpm_prefix(&k));
        }
        out.sort();
        Ok(out)
    }

    /// The tunnel routes in the map.
    pub fn tunnel_routes(&self) -> Result<Vec<(IpNet, IpAddr)>, Error> {
        let map: LpmTrie<&MapData, [u8; 16], RemoteNode> = LpmTrie::try_from(
            self.ebpf
                .map(TUNNELS_MAP)
                .ok_or(Error::Missing(TUNNELS_MAP))?,
        )
        .map_err(map_err(TUNNELS_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            let (k, v) = kv.map_err(map_err(TUNNELS_MAP))?;
            if let Some(p) = lpm_prefix(&k) {
                out.push((p, key_ip(&IpKey { addr: v.addr })));
            }
        }
        out.sort();
        Ok(out)
    }

    /// The path MTUs the tunnel learnt, by remote node, that still hold at
    /// `now` (CLOCK_MONOTONIC nanoseconds), with their expiry.
    pub fn path_mtus(&self, now: u64) -> Result<Vec<(IpAddr, PathMtu)>, Error> {
        let map: HashMap<&MapData, IpKey, PathMtu> = HashMap::try_from(
            self.ebpf
                .map(PATH_MTU_MAP)
                .ok_or(Error::Missing(PATH_MTU_MAP))?,
        )
        .map_err(map_err(PATH_MTU_MAP))?;
        let mut out = Vec::new();
        for kv in map.iter() {
            match kv {
                Ok((k, v)) if v.expires > now => out.push((key_ip(&k), v)),
                Ok(_) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(PATH_MTU_MAP)(e)),
            }
        }
        out.sort_unstable_by_key(|(a, _)| *a);
        Ok(out)
    }

    /// The counters of endpoint `id`, summed over CPUs.
    pub fn endpoint_counters(&self, id: u32) -> Result<EndpointCounters, Error> {
        let map: PerCpuArray<&MapData, EndpointCounters> = PerCpuArray::try_from(
            self.ebpf
                .map(ENDPOINT_COUNTERS_MAP)
                .ok_or(Error::Missing(ENDPOINT_COUNTERS_MAP))?,
        )
        .map_err(map_err(ENDPOINT_COUNTERS_MAP))?;
        let mut sum = EndpointCounters::default();
        for v in map
            .get(&id, 0)
            .map_err(map_err(ENDPOINT_COUNTERS_MAP))?
            .iter()
        {
            sum.add(v);
        }
        Ok(sum)
    }

    /// Dropped packets by reason, summed over CPUs.
    pub fn drop_counters(&self) -> Result<Vec<(DropReason, u64)>, Error> {
        let map = self.u64_array(DROPS_MAP)?;
        DropReason::ALL
            .iter()
            .map(|r| Ok((*r, sum_u64(&map, *r as u32, DROPS_MAP)?)))
            .collect()
    }

    /// Packets by the path they took, summed over CPUs.
    pub fn path_counters(&self) -> Result<Vec<(PathKind, u64)>, Error> {
        let map = self.u64_array(PATHS_MAP)?;
        PathKind::ALL
            .iter()
            .map(|p| Ok((*p, sum_u64(&map, *p as u32, PATHS_MAP)?)))
            .collect()
    }

    /// Makes the programs record every redirect they ask for, for
    /// [`Datapath::last_redirect`] (off after [`Datapath::load`]: production
    /// pays one branch per redirect for it). Takes effect with the next packet.
    pub fn set_trace(&mut self, on: bool) -> Result<(), Error> {
        let config = self.config()?;
        self.trace = on;
        self.set_config(&config)
    }

    /// The last redirect any CPU recorded since [`Datapath::clear_trace`]
    /// (only while [`Datapath::set_trace`] is on).
    pub fn last_redirect(&self) -> Result<Option<RedirectTrace>, Error> {
        let map: PerCpuArray<&MapData, RedirectTrace> =
            PerCpuArray::try_from(self.ebpf.map(TRACE_MAP).ok_or(Error::Missing(TRACE_MAP))?)
                .map_err(map_err(TRACE_MAP))?;
        let values = map.get(&0, 0).map_err(map_err(TRACE_MAP))?;
        Ok(values.iter().find(|t| t.kind != 0).copied())
    }

    /// Forgets the recorded redirects.
    pub fn clear_trace(&mut self) -> Result<(), Error> {
        let cpus = nr_cpus()?;
        let mut map: PerCpuArray<&mut MapData, RedirectTrace> = PerCpuArray::try_from(
            self.ebpf
                .map_mut(TRACE_MAP)
                .ok_or(Error::Missing(TRACE_MAP))?,
        )
        .map_err(map_err(TRACE_MAP))?;
        let zero = PerCpuValues::try_from(vec![RedirectTrace::default(); cpus])
            .map_err(|e| Error::Invalid(format!("per-CPU values: {e}")))?;
        map.set(0, zero, 0).map_err(map_err(TRACE_MAP))
    }

    /// Runs the program of `hook` once on `packet` through
    /// BPF_PROG_TEST_RUN, as if it arrived on `ifindex` (0: loopback).
    pub fn test_run(
        &self,
        hook: Hook,
        packet: &[u8],
        ifindex: u32,
    ) -> Result<TestRunOutput, Error> {
        let (out, _) = self.run(hook.program(), packet, ifindex, 1)?;
        Ok(out)
    }

    /// Runs the program of `hook` `repeat` times on `packet`; returns the
    /// kernel's mean time per run.
    pub fn bench(
        &self,
        hook: Hook,
        packet: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<Duration, Error> {
        let (_, d) = self.run(hook.program(), packet, ifindex, repeat)?;
        Ok(d)
    }

    /// Runs a benchmark probe like [`Datapath::bench`] (loaded on first use;
    /// `load` does not load the probes).
    pub fn bench_probe(
        &mut self,
        probe: Probe,
        packet: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<Duration, Error> {
        let name = probe.program();
        let prog: &mut SchedClassifier = self
            .ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        if prog.fd().is_err() {
            prog.load()
                .map_err(|source| Error::Program { name, source })?;
        }
        let (_, d) = self.run(name, packet, ifindex, repeat)?;
        Ok(d)
    }

    fn run(
        &self,
        name: &'static str,
        packet: &[u8],
        ifindex: u32,
        repeat: u32,
    ) -> Result<(TestRunOutput, Duration), Error> {
        let prog: &SchedClassifier = self
            .ebpf
            .program(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        // struct __sk_buff: ingress_ifindex at 36, ifindex at 40 (UAPI).
        let mut ctx = [0u8; 192];
        if ifindex > 1 {
            ctx[36..40].copy_from_slice(&ifindex.to_ne_bytes());
            ctx[40..44].copy_from_slice(&ifindex.to_ne_bytes());
        }
        let mut out = vec![0u8; packet.len() + 512];
        let res = prog
            .test_run(TestRunOptions {
                data_in: Some(packet),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat,
                ..TestRunOptions::new()
            })
            .map_err(|source| Error::Program { name, source })?;
        out.truncate(res.data_size_out as usize);
        Ok((
            TestRunOutput {
                verdict: res.return_value as i32,
                packet: out,
            },
            res.duration,
        ))
    }

    /// The verifier's and the JIT's figures of each attachable program.
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, Error> {
        let mut out = Vec::new();
        let names = [Hook::Pod, Hook::Uplink, Hook::Vxlan, Hook::Noop]
            .map(Hook::program)
            .into_iter()
            .chain([PROG_VXLAN_EGRESS]);
        for name in names {
            let prog: &SchedClassifier = self
                .ebpf
                .program(name)
                .ok_or(Error::Missing(name))?
                .try_into()
                .map_err(|source| Error::Program { name, source })?;
            let info = prog
                .info()
                .map_err(|source| Error::Program { name, source })?;
            out.push(ProgramStats {
                name,
                verified_insns: info.verified_instruction_count(),
                translated_bytes: info.size_translated(),
                jitted_bytes: Some(info.size_jitted()).filter(|n| *n > 0),
            });
        }
        Ok(out)
    }

    /// Detaches every interface and removes the pins.
    pub fn shutdown(&mut self) {
        let names: Vec<String> = self.attached.keys().cloned().collect();
        for n in names {
            let _ = self.detach(&n);
        }
        self.sweep_stale_links();
        let _ = self.detach_xdp();
        for p in self.pins.drain(..) {
            let _ = fs::remove_file(p);
        }
        if let Some(d) = self.links_dir.take() {
            let _ = fs::remove_dir(d);
        }
    }

    /// Lets go of the datapath and leaves it running for the next ternd
    /// (a stop for a restart): the pinned maps and links stay, so pods
    /// keep forwarding with the programs and state of now until the next
    /// [`Datapath::load`] adopts them. The XDP fast path, which is not
    /// pinned, ends here; its packets take the TC path meanwhile.
    pub fn release(mut self) {
        self.pins.clear();
        self.attached.clear();
        self.stale_links.clear();
        self.links_dir = None;
    }

    fn prog_mut(&mut self, name: &'static str) -> Result<&mut SchedClassifier, Error> {
        self.ebpf
            .program_mut(name)
            .ok_or(Error::Missing(name))?
            .try_into()
            .map_err(|source| Error::Program { name, source })
    }

    fn endpoints_map(&self) -> Result<HashMap<&MapData, IpKey, EndpointInfo>, Error> {
        HashMap::try_from(
            self.ebpf
                .map(ENDPOINTS_MAP)
                .ok_or(Error::Missing(ENDPOINTS_MAP))?,
        )
        .map_err(map_err(ENDPOINTS_MAP))
    }

    fn endpoint_id_in_use(&self, id: u32, except: &IpKey) -> Result<bool, Error> {
        let map = self.endpoints_map()?;
        for kv in map.iter() {
            let (k, v) = kv.map_err(map_err(ENDPOINTS_MAP))?;
            if v.id == id && &k != except {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn zero_endpoint_counters(&mut self, id: u32) -> Result<(), Error> {
        let cpus = nr_cpus()?;
        let mut map: PerCpuArray<&mut MapData, EndpointCounters> = PerCpuArray::try_from(
            self.ebpf
                .map_mut(ENDPOINT_COUNTERS_MAP)
                .ok_or(Error::Missing(ENDPOINT_COUNTERS_MAP))?,
        )
        .map_err(map_err(ENDPOINT_COUNTERS_MAP))?;
        let zero = PerCpuValues::try_from(vec![EndpointCounters::default(); cpus])
            .map_err(|e| Error::Invalid(format!("per-CPU values: {e}")))?;
        map.set(id, zero, 0).map_err(map_err(ENDPOINT_COUNTERS_MAP))
    }

    fn u64_array(&self, name: &'static str) -> Result<PerCpuArray<&MapData, u64>, Error> {
        PerCpuArray::try_from(self.ebpf.map(name).ok_or(Error::Missing(name))?)
            .map_err(map_err(name))
    }
}

fn sum_u64(map: &PerCpuArray<&MapData, u64>, i: u32, name: &'static str) -> Result<u64, Error> {
    Ok(map
        .get(&i, 0)
        .map_err(map_err(name))?
        .iter()
        .fold(0u64, |a, v| a.wrapping_add(*v)))
}

fn nr_cpus() -> Result<usize, Error> {
    aya::util::nr_cpus().map_err(|(what, e)| Error::Invalid(format!("{what}: {e}")))
}

impl Drop for Datapath {
    /// As [`Datapath::shutdown`], unless [`Datapath::release`] let go.
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Brings the tunnel map from `have` to `want` (see
/// [`Datapath::replace_tunnel_routes`]), keeping `have` true to the map.
fn write_tunnels(
    ebpf: &mut Ebpf,
    have: &mut BTreeMap<IpNet, IpAddr>,
    want: &BTreeMap<IpNet, IpAddr>,
    diff: &mut TunnelDiff,
) -> Result<(), Error> {
    let mut map: LpmTrie<&mut MapData, [u8; 16], RemoteNode> = LpmTrie::try_from(
        ebpf.map_mut(TUNNELS_MAP)
            .ok_or(Error::Missing(TUNNELS_MAP))?,
    )
    .map_err(map_err(TUNNELS_MAP))?;
    let mut first_error = None;
    let mut failed = |e, diff: &mut TunnelDiff| {
        diff.refused += 1;
        first_error.get_or_insert(map_err(TUNNELS_MAP)(e));
    };
    // Changed: replaced in place.
    let changed: Vec<(IpNet, IpAddr)> = want
        .iter()
        .filter(|(p, nh)| have.get(*p).is_some_and(|old| old != *nh))
        .map(|(p, nh)| (*p, *nh))
        .collect();
    for (p, nh) in changed {
        match map.insert(&lpm_key(&p), remote_node(nh), 0) {
            Ok(()) => {
                have.insert(p, nh);
                diff.changed += 1;
            }
            Err(e) => failed(e, diff),
        }
    }
    // Stale: their slots freed before any new entry needs one.
    let stale: Vec<IpNet> = have
        .keys()
        .filter(|p| !want.contains_key(*p))
        .copied()
        .collect();
    for p in stale {
        match map.remove(&lpm_key(&p)) {
            Ok(()) => {
                have.remove(&p);
                diff.removed += 1;
            }
            Err(e) if not_found(&e) => {
                have.remove(&p);
                diff.removed += 1;
            }
            Err(e) => failed(e, diff),
        }
    }
    // New.
    let new: Vec<(IpNet, IpAddr)> = want
        .iter()
        .filter(|(p, _)| !have.contains_key(*p))
        .map(|(p, nh)| (*p, *nh))
        .collect();
    for (p, nh) in new {
        match map.insert(&lpm_key(&p), remote_node(nh), 0) {
            Ok(()) => {
                have.insert(p, nh);
                diff.added += 1;
            }
            Err(e) => failed(e, diff),
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Brings the trusted-source map from `have` to `want` (see
/// [`Datapath::set_trusted_sources`]), keeping `have` true to the map.
fn write_trusted(
    ebpf: &mut Ebpf,
    have: &mut BTreeSet<IpNet>,
    want: &BTreeSet<IpNet>,
) -> Result<(), Error> {
    let mut map: LpmTrie<&mut MapData, [u8; 16], u32> =
        LpmTrie::try_from(ebpf.map_mut(NODES_MAP).ok_or(Error::Missing(NODES_MAP))?)
            .map_err(map_err(NODES_MAP))?;
    let new: Vec<IpNet> = want.difference(have).copied().collect();
    let stale: Vec<IpNet> = have.difference(want).copied().collect();
    let stale_first = have.len() + new.len() > MAX_TRUSTED_SOURCES as usize;
    let remove = |map: &mut LpmTrie<&mut MapData, [u8; 16], u32>,
                  have: &mut BTreeSet<IpNet>|
     -> Result<(), Error> {
        for p in &stale {
            match map.remove(&lpm_key(p)) {
                Ok(()) => {}
                Err(e) if not_found(&e) => {}
                Err(e) => return Err(map_err(NODES_MAP)(e)),
            }
            have.remove(p);
        }
        Ok(())
    };
    if stale_first {
        remove(&mut map, have)?;
    }
    for p in &new {
        map.insert(&lpm_key(p), 1, 0).map_err(map_err(NODES_MAP))?;
        have.insert(*p);
    }
    if !stale_first {
        remove(&mut map, have)?;
    }
    Ok(())
}
