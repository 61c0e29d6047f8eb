//! The egress gateway: a pod's packet that a policy takes leaves through
//! one of the policy's gateway nodes, translated to that gateway's egress
//! IP. Layouts and the meaning of each map: tern-ebpf-common's `egress`
//! module.
//!
//! - [`steer`] (the pod's node): the steering map's longest prefix for
//!   (pod, destination) decides; an exclude leaves the packet alone; else
//!   the flow's hash picks one of the policy's healthy gateways
//!   (rendezvous hashing, as tern-egressgw's `pick`). The caller tunnels
//!   the packet there with the policy's id as VNI, or translates it here
//!   when this node is the gateway.
//! - [`snat`] (the gateway): a packet of a policy (from the tunnel, or a
//!   local pod) is checked against the policy's sources, destinations and
//!   excludes, and translated to the egress IP with a port no other flow
//!   to that destination uses; both directions are written to Tern's
//!   conntrack map, whose reply path (svc.rs) translates the replies and
//!   the ICMP errors about the flow back.
use aya_ebpf::{
    bindings::{__sk_buff, BPF_NOEXIST, TC_ACT_SHOT},
    macros::map,
    maps::{Array, HashMap, LpmTrie, PerCpuArray, lpm_trie::Key},
    programs::TcContext,
};
use tern_ebpf_common::{
    datapath::{DropReason, PathKind, RemoteNode},
    egress::{
        EgressConfig, GW_F_LOCAL, MATCH_DESTINATION, MATCH_ENTRIES, MATCH_KEY_LEN, MATCH_SOURCE,
        MAX_GATEWAYS, POLICY_ENTRIES, POLICY_F_LOCAL, PORT_PROBES, PolicyGateways, PolicyKey,
        RESERVED_UDP_PORTS, STEER_ENTRIES, STEER_F_EXCLUDED, Steer, flow_hash, match_key,
        pick_score,
    },
    services::{
        CT_DIR_FORWARD, CT_DIR_REPLY, CT_F_EGRESS, CT_F_SNAT, CT_STATE_CLOSING, CtEntry, CtKey,
        ServicesConfig,
    },
};

use super::{
    maps::{count_drop, count_path},
    pkt::{IPPROTO_UDP, L3},
    svc::{
        CT, IPPROTO_TCP, NAT_SRC, Ports, TCP_ACK, TCP_SYN, close_partner, nat, next_state, now,
        ports,
    },
};

#[map(name = "TERN_EGW_STEER")]
static STEER: LpmTrie<[u8; 32], Steer> = LpmTrie::with_max_entries(STEER_ENTRIES, 0);

#[map(name = "TERN_EGW_POLICIES")]
static POLICIES: HashMap<PolicyKey, PolicyGateways> = HashMap::with_max_entries(POLICY_ENTRIES, 0);

#[map(name = "TERN_EGW_MATCH")]
static MATCH: LpmTrie<[u8; MATCH_KEY_LEN], u32> = LpmTrie::with_max_entries(MATCH_ENTRIES, 0);

#[map(name = "TERN_EGW_CONFIG")]
static EGW_CONFIG: Array<EgressConfig> = Array::with_max_entries(1, 0);

/// Per-CPU room for keys and entries (BPF's stack is 512 bytes for the
/// whole call chain), and what [`steer`] hands its caller.
#[repr(C)]
struct Scratch {
    steer_key: [u8; 32],
    match_key: [u8; MATCH_KEY_LEN],
    ck: CtKey,
    rk: CtKey,
    fwd: CtEntry,
    rev: CtEntry,
    /// [`EGW_REMOTE`]: where the tunnel goes, with the policy's VNI.
    remote: RemoteNode,
    /// [`EGW_LOCAL`], and a decapsulated packet of a policy: its id.
    policy_id: u32,
    /// [`pick`]'s best index so far and its score. Kept in map memory,
    /// where the verifier does not track the value: in a register it
    /// would explore every (iteration, best) pair.
    best: u32,
    top: u64,
    /// [`snat`]'s decision, for [`snat_commit`]: the flow's ports, TCP
    /// flags and hash, and the egress IP it leaves with.
    sport: u16,
    dport: u16,
    tcp_flags: u8,
    hash: u32,
    egress_ip: [u8; 16],
}

#[map(name = "TERN_EGW_SCRATCH")]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn scratch() -> Result<&'static mut Scratch, DropReason> {
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    SCRATCH
        .get_ptr_mut(0)
        .map(|p| unsafe { &mut *p })
        .ok_or(DropReason::EgressDenied)
}

/// [`steer`]: no policy takes the packet (or an exclude does).
pub const EGW_PASS: i32 = 0;
/// [`steer`]: the gateway is this node: [`snat`] (the policy is set).
pub const EGW_LOCAL: i32 = 1000;
/// [`steer`]: tunnel the packet to [`remote`].
pub const EGW_REMOTE: i32 = 1001;
/// Dropped (counted): return `TC_ACT_SHOT`.
pub const EGW_DROP: i32 = TC_ACT_SHOT;

/// The gateway's timeouts (the services' defaults until ternd writes them).
#[inline(always)]
pub fn timeouts() -> ServicesConfig {
    let c = EGW_CONFIG.get(0).copied().unwrap_or_default();
    ServicesConfig {
        tcp_syn: c.tcp_syn,
        tcp_established: c.tcp_established,
        tcp_closing: c.tcp_closing,
        other: c.other,
    }
}

/// The tunnel [`steer`] chose ([`EGW_REMOTE`]).
#[inline(always)]
pub fn remote() -> Option<&'static RemoteNode> {
    scratch().ok().map(|s| &s.remote)
}

/// Remembers the policy of a packet being decapsulated, for [`snat`].
#[inline(always)]
pub fn set_policy_id(id: u32) {
    if let Ok(s) = scratch() {
        s.policy_id = id;
    }
}

/// Whether this node serves policy `vni` for the family: a tunnelled
/// packet with another VNI than the datapath's is the egress gateway's.
#[inline(always)]
pub fn serves(vni: u32, v6: bool) -> bool {
    let k = PolicyKey {
        policy_id: vni,
        family: if v6 { 6 } else { 4 },
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { POLICIES.get(&k) }.is_some_and(|g| g.flags & POLICY_F_LOCAL != 0)
}

/// The index of the gateway a flow with `hash` takes among `g`'s (only the
/// local ones when `local_only`): the highest [`pick_score`], the first on
/// a tie. None when there is none. A frame of its own (LLVM unrolls the
/// loop and keeps its scores on the stack).
#[inline(never)]
fn pick(s: &mut Scratch, g: &PolicyGateways, hash: u32, local_only: bool) -> Option<usize> {
    let best = &raw mut s.best;
    let top = &raw mut s.top;
    // SAFETY (the volatile accesses): fields of this CPU's scratch slot.
    unsafe {
        core::ptr::write_volatile(best, u32::MAX);
        core::ptr::write_volatile(top, 0);
    }
    let mut i = 0;
    while i < MAX_GATEWAYS {
        if i as u32 >= g.count {
            break;
        }
        let gw = &g.gateways[i];
        if !local_only || gw.flags & GW_F_LOCAL != 0 {
            let score = pick_score(hash, gw.key);
            // SAFETY: as above.
            unsafe {
                if core::ptr::read_volatile(best) == u32::MAX
                    || score > core::ptr::read_volatile(top)
                {
                    core::ptr::write_volatile(best, i as u32);
                    core::ptr::write_volatile(top, score);
                }
            }
        }
        i += 1;
    }
    // SAFETY: as above.
    let b = unsafe { core::ptr::read_volatile(best) };
    if (b as usize) < MAX_GATEWAYS {
        Some(b as usize)
    } else {
        None
    }
}

/// The pod's node: which way a packet from a local pod goes. Returns
/// [`EGW_PASS`], [`EGW_LOCAL`], [`EGW_REMOTE`] or [`EGW_DROP`].
#[inline(never)]
pub fn steer(skb: *mut __sk_buff, ip: &L3) -> i32 {
    match steer_inner(&TcContext::new(skb), ip) {
        Ok(v) => v,
        Err(reason) => {
            count_drop(reason);
            EGW_DROP
        }
    }
}

#[inline(always)]
fn steer_inner(ctx: &TcContext, ip: &L3) -> Result<i32, DropReason> {
    let s = scratch()?;
    s.steer_key[..16].copy_from_slice(&ip.src.addr);
    s.steer_key[16..].copy_from_slice(&ip.dst.addr);
    let Some(entry) = STEER.get(Key::new(256, s.steer_key)) else {
        return Ok(EGW_PASS);
    };
    if entry.flags & STEER_F_EXCLUDED != 0 {
        return Ok(EGW_PASS);
    }
    let policy_id = entry.policy_id;
    // Only TCP and UDP have the ports a translation needs; a fragment's
    // are not in the packet.
    let p = ports(ctx, ip)?.ok_or(DropReason::EgressUnsupported)?;
    let k = PolicyKey {
        policy_id,
        family: if ip.v6 { 6 } else { 4 },
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    let g = unsafe { POLICIES.get(&k) }.ok_or(DropReason::EgressNoGateway)?;
    let hash = flow_hash(&ip.src.addr, &ip.dst.addr, p.sport, p.dport, ip.proto);
    let i = pick(s, g, hash, false).ok_or(DropReason::EgressNoGateway)?;
    let gw = g.gateways.get(i).ok_or(DropReason::EgressNoGateway)?;
    s.policy_id = policy_id;
    if gw.flags & GW_F_LOCAL != 0 {
        return Ok(EGW_LOCAL);
    }
    s.remote = RemoteNode {
        addr: gw.node,
        family: gw.node_family,
        vni: policy_id,
    };
    count_path(PathKind::EgressSteer);
    Ok(EGW_REMOTE)
}

/// Whether the policy's match map allows `addr` as `kind`.
#[inline(always)]
fn allowed(s: &mut Scratch, policy_id: u32, kind: u8, addr: &[u8; 16]) -> bool {
    s.match_key = match_key(policy_id, kind, addr);
    MATCH
        .get(Key::new((MATCH_KEY_LEN * 8) as u32, s.match_key))
        .is_some_and(|v| *v == 1)
}

/// The gateway, first half: checks a packet of the policy set by
/// [`set_policy_id`] (or [`steer`]) against the policy and picks its egress
/// IP. Returns [`super::svc::SVC_DONE`] (go on with [`snat_commit`]) or
/// [`super::svc::SVC_DROP`]. Two calls in a row rather than one, so that
/// each frame is small (BPF's 512 bytes hold the whole call chain).
#[inline(never)]
pub fn snat(skb: *mut __sk_buff, ip: &L3) -> i32 {
    outcome(snat_check(&TcContext::new(skb), ip))
}

/// The gateway, second half: the flow's conntrack entries (a port for a
/// new flow) and the translation for `svc::apply`. Returns
/// [`super::svc::SVC_DONE`] or [`super::svc::SVC_DROP`].
#[inline(never)]
pub fn snat_commit(ip: &L3) -> i32 {
    outcome(commit_inner(ip))
}

#[inline(always)]
fn outcome(r: Result<(), DropReason>) -> i32 {
    match r {
        Ok(()) => super::svc::SVC_DONE,
        Err(reason) => {
            count_drop(reason);
            super::svc::SVC_DROP
        }
    }
}

#[inline(always)]
fn snat_check(ctx: &TcContext, ip: &L3) -> Result<(), DropReason> {
    let s = scratch()?;
    let policy_id = s.policy_id;
    let p = ports(ctx, ip)?.ok_or(DropReason::EgressUnsupported)?;
    if !allowed(s, policy_id, MATCH_SOURCE, &ip.src.addr)
        || !allowed(s, policy_id, MATCH_DESTINATION, &ip.dst.addr)
    {
        return Err(DropReason::EgressDenied);
    }
    let k = PolicyKey {
        policy_id,
        family: if ip.v6 { 6 } else { 4 },
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    let g = unsafe { POLICIES.get(&k) }.ok_or(DropReason::EgressDenied)?;
    let hash = flow_hash(&ip.src.addr, &ip.dst.addr, p.sport, p.dport, ip.proto);
    let i = pick(s, g, hash, true).ok_or(DropReason::EgressDenied)?;
    s.egress_ip = g.gateways.get(i).ok_or(DropReason::EgressDenied)?.egress_ip;
    s.sport = p.sport;
    s.dport = p.dport;
    s.tcp_flags = p.flags;
    s.hash = hash;
    Ok(())
}

/// Writes the reply key and entry of the flow `ip` (ports `p`) leaving
/// from the egress IP's `port` into the scratch.
#[inline(always)]
fn reply_entry(s: &mut Scratch, ip: &L3, p: &Ports, port: u16, expires: u64, state: u8) {
    s.rk = CtKey {
        src: ip.dst.addr,
        dst: s.egress_ip,
        sport: p.dport,
        dport: port,
        proto: ip.proto,
        dir: CT_DIR_REPLY,
        pad: 0,
    };
    s.rev = CtEntry {
        expires,
        addr_a: ip.dst.addr,
        addr_b: ip.src.addr,
        port_a: p.dport,
        port_b: p.sport,
        backend_id: 0,
        service_id: s.policy_id,
        flags: CT_F_SNAT | CT_F_EGRESS,
        state,
        pad: 0,
    };
}

#[inline(always)]
fn commit_inner(ip: &L3) -> Result<(), DropReason> {
    let s = scratch()?;
    let policy_id = s.policy_id;
    let egress_ip = s.egress_ip;
    let hash = s.hash;
    let p = Ports {
        sport: s.sport,
        dport: s.dport,
        flags: s.tcp_flags,
    };
    let t = now();
    s.ck = CtKey {
        src: ip.src.addr,
        dst: ip.dst.addr,
        sport: p.sport,
        dport: p.dport,
        proto: ip.proto,
        dir: CT_DIR_FORWARD,
        pad: 0,
    };
    let opening = ip.proto == IPPROTO_TCP && p.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
    if let Some(e) = CT.get_ptr_mut(&s.ck) {
        // SAFETY: an entry of the map, valid while the program runs; a
        // concurrent writer of the same entry can only race on the expiry.
        let e = unsafe { &mut *e };
        // Kept while it is this policy's and its egress IP is still the
        // one the flow picks. An opening SYN on a closing tuple (the pod
        // reuses its source port) is a new connection on the same port: both
        // entries start over, so a pod's tuples hold one port each however
        // fast it reconnects.
        // The port is the flow's while its reply entry is the flow's (or
        // gone: evicted or collected while this one lived, it is written
        // again, or the replies would not find their pod).
        let (state, timeout) = next_state(ip.proto, e.state, p.flags, true);
        reply_entry(s, ip, &p, e.port_b, t + timeout, state);
        // SAFETY: map values stay valid while the program runs; plain data.
        let holder =
            unsafe { CT.get(&s.rk) }.map(|r| r.addr_b == ip.src.addr && r.port_b == p.sport);
        if e.flags & CT_F_EGRESS != 0
            && e.service_id == policy_id
            && e.addr_b == egress_ip
            && holder != Some(false)
        {
            e.state = state;
            e.expires = t + timeout;
            if holder.is_none() || opening {
                let _ = CT.insert(&s.rk, &s.rev, 0);
            } else if state == CT_STATE_CLOSING {
                close_partner(&s.rk, e.expires);
            }
            let n = nat()?;
            n.src = egress_ip;
            n.sport = e.port_b;
            n.flags = NAT_SRC;
            count_path(PathKind::EgressSnat);
            return Ok(());
        }
    }
    // A new flow: a port for it, then its two entries.
    let c = EGW_CONFIG.get(0).copied().unwrap_or_default();
    if c.port_min == 0 || c.port_max < c.port_min {
        return Err(DropReason::EgressPortsExhausted);
    }
    let (state, timeout) = next_state(ip.proto, 0, p.flags, true);
    reply_entry(s, ip, &p, 0, t + timeout, state);
    let range = u32::from(c.port_max - c.port_min) + 1;
    let mut port = 0u16;
    // The pod's own port first, as Linux's NAT keeps it when it can.
    if (c.port_min..=c.port_max).contains(&p.sport)
        && !(ip.proto == IPPROTO_UDP && RESERVED_UDP_PORTS.contains(&p.sport))
    {
        s.rk.dport = p.sport;
        if CT.insert(&s.rk, &s.rev, u64::from(BPF_NOEXIST)).is_ok() {
            port = p.sport;
        }
    }
    let mut i = 0u32;
    while port == 0 && i < PORT_PROBES {
        // Successive probes walk the range from a point the flow's hash
        // chooses, in steps that differ per probe.
        let off = hash.wrapping_add(i.wrapping_mul(0x9e37_79b1)) % range;
        let candidate = c.port_min + off as u16;
        i += 1;
        if ip.proto == IPPROTO_UDP && RESERVED_UDP_PORTS.contains(&candidate) {
            continue;
        }
        s.rk.dport = candidate;
        if CT.insert(&s.rk, &s.rev, u64::from(BPF_NOEXIST)).is_ok() {
            port = candidate;
            break;
        }
    }
    if port == 0 {
        return Err(DropReason::EgressPortsExhausted);
    }
    s.fwd = CtEntry {
        expires: t + timeout,
        addr_a: ip.dst.addr,
        addr_b: egress_ip,
        port_a: p.dport,
        port_b: port,
        backend_id: 0,
        service_id: policy_id,
        flags: CT_F_SNAT | CT_F_EGRESS,
        state,
        pad: 0,
    };
    if CT.insert(&s.ck, &s.fwd, 0).is_err() {
        let _ = CT.remove(&s.rk);
        return Err(DropReason::NatFailed);
    }
    let n = nat()?;
    n.src = egress_ip;
    n.sport = port;
    n.flags = NAT_SRC;
    count_path(PathKind::EgressSnat);
    Ok(())
}
