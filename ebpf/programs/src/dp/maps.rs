//! The datapath's maps (layouts in tern-ebpf-common) and small accessors.
use aya_ebpf::{
    bindings::bpf_fib_lookup as FibParams,
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
};
use tern_ebpf_common::datapath::{
    CFG_FLAG_TRACE, DROP_REASONS, DatapathConfig, DropReason, ENDPOINT_MAP_ENTRIES,
    EndpointCounters, EndpointInfo, IpKey, MAX_ENDPOINTS, MAX_TRUSTED_SOURCES, MAX_TUNNEL_ROUTES,
    PATH_KINDS, PathKind, RedirectTrace, RemoteNode,
};

#[map(name = "TERN_ENDPOINTS")]
static ENDPOINTS: HashMap<IpKey, EndpointInfo> = HashMap::with_max_entries(ENDPOINT_MAP_ENTRIES, 0);

#[map(name = "TERN_POD_IFACES")]
static POD_IFACES: HashMap<u32, u32> = HashMap::with_max_entries(MAX_ENDPOINTS, 0);

/// Whether `ifindex` is a pod's host-side interface.
#[inline(always)]
pub fn is_pod_iface(ifindex: u32) -> bool {
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { POD_IFACES.get(&ifindex) }.is_some()
}

#[map(name = "TERN_EP_COUNTERS")]
static EP_COUNTERS: PerCpuArray<EndpointCounters> = PerCpuArray::with_max_entries(MAX_ENDPOINTS, 0);

#[map(name = "TERN_DROPS")]
static DROPS: PerCpuArray<u64> = PerCpuArray::with_max_entries(DROP_REASONS, 0);

#[map(name = "TERN_PATHS")]
static PATHS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PATH_KINDS, 0);

#[map(name = "TERN_TUNNELS")]
static TUNNELS: LpmTrie<[u8; 16], RemoteNode> = LpmTrie::with_max_entries(MAX_TUNNEL_ROUTES, 0);

#[map(name = "TERN_NODES")]
static NODES: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(MAX_TRUSTED_SOURCES, 0);

#[map(name = "TERN_DP_CONFIG")]
static CONFIG: Array<DatapathConfig> = Array::with_max_entries(1, 0);

/// Per-CPU scratch space for headers being built (the BPF stack is 512
/// bytes for the whole call chain).
#[repr(C)]
pub struct Scratch {
    pub geneve_v4: [u8; 50],
    pub geneve_v6: [u8; 70],
    pub icmp_v4: [u8; 56],
    pub icmp_v6: [u8; 96],
    pub quote_v4: [u8; 28],
    pub quote_v6: [u8; 48],
    pub eth: [u8; 12],
    /// Packet bytes being summed for a checksum (bpf_csum_diff takes at
    /// most 512 at a time).
    pub chunk: [u8; 512],
    /// An inner IPv6 header being summed.
    pub hdr6: [u8; 40],
    pub fib: FibParams,
    /// The outer IPv6 header and SRH of an SRv6 encapsulation.
    pub srv6: [u8; tern_ebpf_common::srv6::MAX_ENCAP_OVERHEAD],
}

#[map(name = "TERN_SCRATCH")]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// This CPU's scratch space.
#[inline(always)]
pub fn scratch() -> Option<&'static mut Scratch> {
    // SAFETY: this CPU's slot; a program runs to completion on one CPU
    // without preemption by another user of the slot.
    SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

#[map(name = "TERN_TRACE")]
static TRACE: PerCpuArray<RedirectTrace> = PerCpuArray::with_max_entries(1, 0);

/// The local pod with address `a`, if any.
#[inline(always)]
pub fn endpoint(a: &IpKey) -> Option<&'static EndpointInfo> {
    // SAFETY: map values stay valid while the program runs (RCU); plain data.
    unsafe { ENDPOINTS.get(a) }
}

/// The node behind the longest tunnel prefix covering `a`, if any.
#[inline(always)]
pub fn tunnel(a: &IpKey) -> Option<&'static RemoteNode> {
    TUNNELS.get(Key::new(128, a.addr))
}

/// Whether `a` is a trusted outer source of tunnelled packets (a node, an
/// external VTEP, inside a node prefix).
#[inline(always)]
pub fn trusted_source(a: &[u8; 16]) -> bool {
    NODES.get(Key::new(128, *a)).is_some()
}

/// The datapath configuration (all zero, native mode, until the loader sets it).
#[inline(always)]
pub fn config() -> Option<&'static DatapathConfig> {
    CONFIG.get(0)
}

#[inline(always)]
fn bump(map: &PerCpuArray<u64>, i: u32) {
    if let Some(p) = map.get_ptr_mut(i) {
        // SAFETY: a per-CPU slot of this CPU; no other program writes it now.
        unsafe { *p += 1 };
    }
}

/// Counts a dropped packet.
#[inline(always)]
pub fn count_drop(r: DropReason) {
    bump(&DROPS, r as u32);
}

/// Counts the path a packet took.
#[inline(always)]
pub fn count_path(p: PathKind) {
    bump(&PATHS, p as u32);
}

/// Which side of an endpoint's counters a packet goes to.
#[derive(Clone, Copy)]
pub enum EpDir {
    FromPod,
    ToPod,
}

/// Counts a packet of `len` bytes against endpoint `id`.
#[inline(always)]
pub fn count_endpoint(id: u32, dir: EpDir, len: u64) {
    if let Some(p) = EP_COUNTERS.get_ptr_mut(id) {
        // SAFETY: a per-CPU slot of this CPU; no other program writes it now.
        let c = unsafe { &mut *p };
        match dir {
            EpDir::FromPod => {
                c.from_pod_packets += 1;
                c.from_pod_bytes += len;
            }
            EpDir::ToPod => {
                c.to_pod_packets += 1;
                c.to_pod_bytes += len;
            }
        }
    }
}

/// Records the redirect about to be returned (read back by tests and
/// diagnostics; BPF_PROG_TEST_RUN shows only the verdict), if the settings
/// ask for it: production pays the flag test only. `fill` writes the
/// record in place, after it was zeroed.
#[inline(always)]
pub fn trace(cfg: &DatapathConfig, fill: impl FnOnce(&mut RedirectTrace)) {
    if cfg.flags & CFG_FLAG_TRACE != 0
        && let Some(p) = TRACE.get_ptr_mut(0)
    {
        // SAFETY: this CPU's slot; a program runs to completion on one CPU.
        let t = unsafe { &mut *p };
        *t = RedirectTrace::default();
        fill(t);
    }
}
