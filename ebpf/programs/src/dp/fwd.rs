//! Forwarding decisions shared by the programs: delivery to a local pod
//! (MAC rewrite and bpf_redirect_peer) and native routing (bpf_fib_lookup
//! and bpf_redirect_neigh, or the stack when the FIB says so).
use aya_ebpf::{
    bindings::{
        __sk_buff, BPF_FIB_LKUP_RET_FRAG_NEEDED, BPF_FIB_LKUP_RET_SUCCESS,
        BPF_FIB_LOOKUP_SKIP_NEIGH, TC_ACT_SHOT, TC_ACT_UNSPEC, bpf_fib_lookup as FibParams,
        bpf_redir_neigh,
    },
    helpers::generated::{bpf_fib_lookup, bpf_redirect, bpf_redirect_neigh, bpf_redirect_peer},
    programs::TcContext,
};
use tern_ebpf_common::datapath::{
    DatapathConfig, DropReason, EP_FLAG_VETH_PEER, EndpointInfo, IpKey, PathKind, REDIRECT_EGRESS,
    REDIRECT_NEIGH, REDIRECT_PEER,
};

use super::{
    icmp,
    maps::{EpDir, count_drop, count_endpoint, count_path, trace},
    pkt::{AF_INET, AF_INET6, L3, dec_ttl, ptr_at, v4_key},
};

/// TCX_NEXT: the next program, then the stack, decide.
pub const TCX_NEXT: i32 = TC_ACT_UNSPEC;

/// The verdict of a result: a drop is counted by its reason.
#[inline(always)]
pub fn verdict(r: Result<i32, DropReason>) -> i32 {
    match r {
        Ok(v) => v,
        Err(reason) => {
            count_drop(reason);
            TC_ACT_SHOT
        }
    }
}

/// Hands the packet to the stack (counted as such).
#[inline(always)]
pub fn to_stack() -> i32 {
    count_path(PathKind::Stack);
    TCX_NEXT
}

/// The ifindex of the device the program runs on.
#[inline(always)]
pub fn skb_ifindex(ctx: &TcContext) -> u32 {
    // SAFETY: the context is the kernel's __sk_buff; ifindex is readable by TC programs.
    unsafe { (*ctx.skb.skb).ifindex }
}

/// gso_size of the packet (0: not a GSO packet).
#[inline(always)]
pub fn skb_gso_size(ctx: &TcContext) -> u32 {
    // SAFETY: as above; gso_size is readable by TC programs.
    unsafe { (*ctx.skb.skb).gso_size }
}

/// Delivers `ip` to the local pod `ep`: Ethernet addresses rewritten as the
/// pod's gateway would send it, then straight into the pod's namespace.
/// A routed packet (`Local`, `UplinkDeliver`; not a decapsulated one) has
/// its TTL decremented; a TTL about to expire goes to the stack, which
/// answers with ICMP time exceeded.
#[inline(never)]
pub fn deliver(
    skb: *mut __sk_buff,
    ip: &L3,
    ep: &EndpointInfo,
    path: PathKind,
    cfg: &DatapathConfig,
) -> i32 {
    verdict(deliver_inner(&TcContext::new(skb), ip, ep, path, cfg))
}

#[inline(always)]
fn deliver_inner(
    ctx: &TcContext,
    ip: &L3,
    ep: &EndpointInfo,
    path: PathKind,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    if matches!(path, PathKind::Local | PathKind::UplinkDeliver) {
        if ip.ttl <= 1 {
            return Ok(to_stack());
        }
        dec_ttl(ctx, ip)?;
    }
    // SAFETY: `ptr_at` checked the 12 bytes; the packet is writable (the
    // verifier makes a cloned skb private before the program runs).
    let macs = unsafe { &mut *ptr_at::<[u8; 12]>(ctx, 0)? };
    macs[..6].copy_from_slice(&ep.pod_mac);
    macs[6..].copy_from_slice(&ep.host_mac);
    count_endpoint(ep.id, EpDir::ToPod, u64::from(ctx.len()));
    count_path(path);
    // A veth pod: straight into its namespace (the peer's ingress), skipping
    // the host veth's egress. Anything else: out of the device.
    let peer = ep.flags & EP_FLAG_VETH_PEER != 0;
    trace(cfg, |t| {
        t.kind = if peer { REDIRECT_PEER } else { REDIRECT_EGRESS };
        t.ifindex = ep.ifindex;
    });
    // SAFETY: plain helper calls; flags must be 0.
    Ok(unsafe {
        if peer {
            bpf_redirect_peer(ep.ifindex, 0)
        } else {
            bpf_redirect(ep.ifindex, 0)
        }
    } as i32)
}

/// Fills the addresses of a FIB lookup.
#[inline(always)]
pub fn fib_params<'a>(
    p: &'a mut FibParams,
    v6: bool,
    proto: u8,
    ifindex: u32,
    src: &IpKey,
    dst: &IpKey,
) -> &'a mut FibParams {
    // SAFETY: bpf_fib_lookup is plain old data; all zero is its "unset" state.
    *p = unsafe { core::mem::zeroed() };
    p.l4_protocol = proto;
    p.ifindex = ifindex;
    if v6 {
        p.family = AF_INET6;
        p.__bindgen_anon_3.ipv6_src = words(&src.addr);
        p.__bindgen_anon_4.ipv6_dst = words(&dst.addr);
    } else {
        p.family = AF_INET;
        p.__bindgen_anon_3.ipv4_src = words(&src.addr)[3];
        p.__bindgen_anon_4.ipv4_dst = words(&dst.addr)[3];
    }
    p
}

/// The 16 bytes of an address as the four network-order words the kernel's
/// structures hold.
#[inline(always)]
pub fn words(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// The 16 bytes of an address from the four network-order words the
/// kernel's structures hold ([`words`] the other way).
#[inline(always)]
pub fn unwords(w: &[u32; 4]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..4].copy_from_slice(&w[0].to_ne_bytes());
    a[4..8].copy_from_slice(&w[1].to_ne_bytes());
    a[8..12].copy_from_slice(&w[2].to_ne_bytes());
    a[12..16].copy_from_slice(&w[3].to_ne_bytes());
    a
}

/// Runs bpf_fib_lookup; returns its code.
#[inline(always)]
pub fn fib_lookup(ctx: &TcContext, p: &mut FibParams, flags: u32) -> i64 {
    // SAFETY: `p` is a valid bpf_fib_lookup of the size passed.
    unsafe {
        bpf_fib_lookup(
            ctx.skb.skb.cast(),
            p,
            core::mem::size_of::<FibParams>() as i32,
            flags | BPF_FIB_LOOKUP_SKIP_NEIGH,
        )
    }
}

/// Redirects to the egress of the FIB result's device through
/// bpf_redirect_neigh, towards the FIB result's next hop.
#[inline(always)]
pub fn redirect_to_nexthop(p: &FibParams, path: PathKind, cfg: &DatapathConfig) -> i32 {
    // SAFETY: bpf_redir_neigh is plain old data.
    let mut nh: bpf_redir_neigh = unsafe { core::mem::zeroed() };
    // After the lookup, the destination field holds the next hop (gateway
    // or the destination itself); an IPv4 route may have an IPv6 gateway,
    // then `family` says AF_INET6.
    // SAFETY: reading the union member the kernel filled for this family.
    unsafe {
        if p.family == AF_INET6 {
            nh.nh_family = u32::from(AF_INET6);
            nh.__bindgen_anon_1.ipv6_nh = p.__bindgen_anon_4.ipv6_dst;
        } else {
            nh.nh_family = u32::from(AF_INET);
            nh.__bindgen_anon_1.ipv4_nh = p.__bindgen_anon_4.ipv4_dst;
        }
    }
    trace(cfg, |t| {
        t.kind = REDIRECT_NEIGH;
        t.ifindex = p.ifindex;
        // SAFETY: as above.
        unsafe {
            if p.family == AF_INET6 {
                t.nexthop = unwords(&p.__bindgen_anon_4.ipv6_dst);
                t.nexthop_family = 6;
            } else {
                let b = p.__bindgen_anon_4.ipv4_dst.to_ne_bytes();
                t.nexthop = v4_key(b).addr;
                t.nexthop_family = 4;
            }
        }
    });
    count_path(path);
    // SAFETY: `nh` is a valid bpf_redir_neigh of the size passed.
    unsafe {
        bpf_redirect_neigh(
            p.ifindex,
            &mut nh,
            core::mem::size_of::<bpf_redir_neigh>() as i32,
            0,
        ) as i32
    }
}

/// Native routing of a packet from a pod: the kernel FIB decides, the
/// program forwards; what the FIB does not forward goes to the stack.
#[inline(never)]
pub fn native(skb: *mut __sk_buff, ip: &L3, ifindex: u32, cfg: &DatapathConfig) -> i32 {
    verdict(native_inner(&TcContext::new(skb), ip, ifindex, cfg))
}

#[inline(always)]
fn native_inner(
    ctx: &TcContext,
    ip: &L3,
    ifindex: u32,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    // tot_len 0: the kernel checks the skb itself against the MTU, GSO-aware.
    // SAFETY: bpf_fib_lookup is plain old data; `fib_params` fills it.
    let mut fib: FibParams = unsafe { core::mem::zeroed() };
    let p = fib_params(&mut fib, ip.v6, ip.proto, ifindex, &ip.src, &ip.dst);
    let rc = fib_lookup(ctx, p, 0);
    if rc == i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        if ip.ttl <= 1 {
            return Ok(to_stack());
        }
        dec_ttl(ctx, ip)?;
        Ok(redirect_to_nexthop(p, PathKind::Native, cfg))
    } else if rc == i64::from(BPF_FIB_LKUP_RET_FRAG_NEEDED) && ip.df {
        // SAFETY: mtu_result is what the kernel wrote for FRAG_NEEDED.
        let mtu = u32::from(unsafe { p.__bindgen_anon_1.mtu_result });
        Ok(icmp::too_big(ctx.skb.skb, ip, mtu, cfg))
    } else {
        // Not forwardable here (local, unreachable, forwarding off, needs
        // fragmentation without DF): the stack does what it does.
        Ok(to_stack())
    }
}
