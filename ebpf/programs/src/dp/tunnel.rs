//! Tunnels between nodes: VXLAN through a collect_md device
//! (bpf_skb_set_tunnel_key, the kernel encapsulates), and Geneve (RFC 8926)
//! encapsulated and decapsulated here, since the kernel has no geneve device.
//!
//! Geneve frame as sent (IPv4 outer; IPv6 outer has a 40-byte header):
//! ```text
//! | outer Ethernet 14 | outer IPv4 20 | UDP 8 | Geneve 8 | inner Ethernet 14 | inner IP packet |
//!
//!  Geneve header (RFC 8926 section 3.4):
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! The UDP source port is taken from the inner flow's hash (entropy for
//! ECMP, RFC 8926 section 3.3), in 49152-65535. The UDP checksum over IPv4
//! is 0, as VXLAN's (RFC 8926 section 3.3 allows it). Over IPv6 it is
//! computed (RFC 8200 section 8.1), as the kernel's VXLAN device does:
//! from the inner packet's own checksum where it has one that covers it
//! (TCP, UDP, ICMP, ICMPv6: the sum of a checksummed segment is known
//! without reading it, and stays right when the checksum is only filled in
//! later, on transmit), else by summing the packet. A GSO packet's
//! segments are made after this program, copying its outer header, and a
//! program cannot ask for a checksum per segment (bpf_skb_adjust_room
//! sets SKB_GSO_UDP_TUNNEL, never its _CSUM variant): they keep 0. The
//! outer IPv4 header checksum is computed.
use core::mem::MaybeUninit;

use aya_ebpf::{
    bindings::{
        __sk_buff, BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
        BPF_F_ADJ_ROOM_ENCAP_L2_ETH, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4, BPF_F_ADJ_ROOM_ENCAP_L3_IPV6,
        BPF_F_ADJ_ROOM_ENCAP_L4_UDP, BPF_F_DONT_FRAGMENT, BPF_F_TUNINFO_IPV6,
        BPF_FIB_LKUP_RET_SUCCESS, BPF_FIB_LOOKUP_OUTPUT, TC_ACT_REDIRECT,
        bpf_adj_room_mode::BPF_ADJ_ROOM_MAC, bpf_tunnel_key,
    },
    helpers::generated::{
        bpf_csum_diff, bpf_get_hash_recalc, bpf_redirect, bpf_skb_set_tunnel_key,
    },
    macros::map,
    maps::{HashMap, LruHashMap},
    programs::TcContext,
};
use tern_ebpf_common::datapath::{
    CFG_FLAG_EGRESS, CFG_FLAG_SERVICES, CFG_FLAG_SRV6, CFG_FLAG_VTEP, DatapathConfig, DropReason,
    GENEVE_PROTO_ETH, IpKey, MAX_VTEPS, MIN_PATH_MTU_V4, MIN_PATH_MTU_V6, Mode, PATH_MTU_ENTRIES,
    PATH_MTU_TIMEOUT_SECS, PathKind, PathMtu, REDIRECT_EGRESS, RemoteNode, TUNNEL_OVERHEAD_V4,
    TUNNEL_OVERHEAD_V6, VtepMac,
};
use tern_ebpf_common::srv6::{IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_ROUTING};

use super::{
    fwd::{
        TCX_NEXT, deliver, fib_lookup, fib_params, redirect_to_nexthop, skb_gso_size, to_stack,
        verdict, words,
    },
    icmp,
    maps::{count_path, endpoint, scratch, trace, trusted_source},
    pkt::{
        ETH_LEN, ETH_P_IP, ETH_P_IPV6, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP, L3, csum_add,
        csum_fold, dec_ttl, load, load_into, parse_l3, store,
    },
    svc::{IPPROTO_TCP, now},
};

/// Sends `ip` (from a pod) through the tunnel towards `remote`.
#[inline(never)]
pub fn tunnel_out(
    skb: *mut __sk_buff,
    ip: &L3,
    cfg: &DatapathConfig,
    mode: Mode,
    remote: &RemoteNode,
) -> i32 {
    verdict(tunnel_out_inner(
        &TcContext::new(skb),
        ip,
        cfg,
        mode,
        remote,
    ))
}

#[inline(always)]
fn tunnel_out_inner(
    ctx: &TcContext,
    ip: &L3,
    cfg: &DatapathConfig,
    mode: Mode,
    remote: &RemoteNode,
) -> Result<i32, DropReason> {
    let outer_v6 = remote.family == 6;
    let (overhead, have_local) = if outer_v6 {
        (TUNNEL_OVERHEAD_V6, cfg.local_v6 != [0; 16])
    } else {
        (TUNNEL_OVERHEAD_V4, cfg.local_v4 != [0; 4])
    };
    if !have_local {
        return Err(DropReason::NoTunnel);
    }
    // The path towards the node: the uplink's MTU, or less when a router
    // on the way said so (an ICMP error about an outer packet, learnt on
    // the uplink).
    let learnt = path_mtu(remote);
    let path = match learnt {
        Some(m) if cfg.uplink_mtu == 0 || m < cfg.uplink_mtu => m,
        _ => cfg.uplink_mtu,
    };
    // What goes on the wire: the packet, or each segment of a GSO packet.
    // Against the uplink's MTU alone TCP segments need no check: adjust_room
    // shrinks gso_size by the overhead, and the segments fit. UDP GSO
    // segments are the application's datagrams and keep their size
    // (the VXLAN device segments them as they are; Geneve refuses them,
    // below): each must fit with the overhead.
    let gso = skb_gso_size(ctx);
    let udp_gso = gso != 0 && ip.proto == IPPROTO_UDP;
    let wire = if gso == 0 {
        ip.len as u32
    } else if learnt.is_some() || udp_gso {
        segment_len(ctx, ip, gso)?
    } else {
        0
    };
    if path != 0 && wire != 0 && wire + overhead > path {
        // A GSO packet is not quoted in an ICMP answer.
        if ip.df && !udp_gso {
            return Ok(icmp::too_big(
                ctx.skb.skb,
                ip,
                path.saturating_sub(overhead),
                cfg,
            ));
        }
        // IPv4 without DF is fragmented, as a router would: the node's
        // stack does it under `frag_mark` (a rule leads it into the VXLAN
        // device with the tunnel's room as the route's MTU) and
        // `tern_vxlan_egress` tunnels each fragment. An egress gateway's
        // packet is not (its gateway takes no fragments).
        if !ip.v6 && cfg.frag_mark != 0 && remote.vni == 0 {
            // SAFETY: the context is the kernel's __sk_buff; TC programs may write mark.
            unsafe { (*ctx.skb.skb).mark = cfg.frag_mark };
            count_path(PathKind::Fragmented);
            return Ok(TCX_NEXT);
        }
        return Err(DropReason::MtuExceeded);
    }
    if ip.ttl <= 1 {
        return Ok(to_stack());
    }
    dec_ttl(ctx, ip)?;
    to_vtep(ctx, cfg, remote)?;
    Ok(match mode {
        Mode::Vxlan => vxlan_out(ctx.skb.skb, cfg, remote),
        // A pod's UDP GSO write cannot cross Geneve on this kernel: the
        // receiving node's decapsulation could not split it into its
        // datagrams (see the uplink's Geneve decap). It is dropped and
        // counted here, before anything goes on the wire.
        _ if udp_gso => return Err(DropReason::EncapFailed),
        _ => geneve_v6_checksum(ctx, ip, remote, geneve_out(ctx.skb.skb, cfg, remote)),
    })
}

/// Tunnels a fragment the node's stack made of a pod's packet too big for
/// its tunnel (see [`DatapathConfig::frag_mark`]), leaving the VXLAN
/// device: in VXLAN mode it gets its tunnel key and goes on into the
/// device; in Geneve mode it is encapsulated and redirected to the uplink.
/// The stack has routed it already (its TTL is decremented).
#[inline(never)]
pub fn tunnel_fragment(
    skb: *mut __sk_buff,
    ip: &L3,
    cfg: &DatapathConfig,
    mode: Mode,
    remote: &RemoteNode,
) -> i32 {
    verdict(tunnel_fragment_inner(
        &TcContext::new(skb),
        ip,
        cfg,
        mode,
        remote,
    ))
}

#[inline(always)]
fn tunnel_fragment_inner(
    ctx: &TcContext,
    ip: &L3,
    cfg: &DatapathConfig,
    mode: Mode,
    remote: &RemoteNode,
) -> Result<i32, DropReason> {
    let overhead = if remote.family == 6 {
        TUNNEL_OVERHEAD_V6
    } else {
        TUNNEL_OVERHEAD_V4
    };
    let path = match path_mtu(remote) {
        Some(m) if cfg.uplink_mtu == 0 || m < cfg.uplink_mtu => m,
        _ => cfg.uplink_mtu,
    };
    // ternd keeps the route's MTU at the smallest path it knows of; a
    // path that shrank since is caught here rather than sent to be lost.
    if path != 0 && ip.len as u32 + overhead > path {
        return Err(DropReason::MtuExceeded);
    }
    count_path(PathKind::FragmentTunnelled);
    to_vtep(ctx, cfg, remote)?;
    match mode {
        Mode::Vxlan => {
            set_vxlan_key(ctx, cfg, remote)?;
            count_path(PathKind::VxlanEncap);
            Ok(TCX_NEXT)
        }
        Mode::Geneve => Ok(geneve_v6_checksum(
            ctx,
            ip,
            remote,
            geneve_out(ctx.skb.skb, cfg, remote),
        )),
        Mode::Native => Err(DropReason::NoTunnel),
    }
}

#[map(name = "TERN_VTEPS")]
static VTEPS: HashMap<IpKey, VtepMac> = HashMap::with_max_entries(MAX_VTEPS, 0);

/// A packet for an external VTEP (a device that takes only frames to its
/// own MAC) gets that MAC as its destination; Tern nodes ignore the inner
/// Ethernet addresses.
#[inline(always)]
fn to_vtep(ctx: &TcContext, cfg: &DatapathConfig, remote: &RemoteNode) -> Result<(), DropReason> {
    if cfg.flags & CFG_FLAG_VTEP == 0 {
        return Ok(());
    }
    // SAFETY: map values stay valid while the program runs; plain data.
    if let Some(v) = unsafe { VTEPS.get(&IpKey { addr: remote.addr }) } {
        let mac = v.mac;
        store(ctx, 0, &mac, 0)?;
    }
    Ok(())
}

#[map(name = "TERN_PATH_MTU")]
static PATH_MTU: LruHashMap<IpKey, PathMtu> = LruHashMap::with_max_entries(PATH_MTU_ENTRIES, 0);

/// The path MTU learnt towards `remote`, while it holds.
#[inline(always)]
fn path_mtu(remote: &RemoteNode) -> Option<u32> {
    path_mtu_to(&remote.addr)
}

/// The path MTU learnt towards `addr` (a node, or the first SID of an
/// SRv6 policy), while it holds.
#[inline(always)]
pub fn path_mtu_to(addr: &[u8; 16]) -> Option<u32> {
    let k = IpKey { addr: *addr };
    // SAFETY: map values stay valid while the program runs; plain data.
    let e = unsafe { PATH_MTU.get(&k) }?;
    (e.expires > now()).then_some(e.mtu)
}

/// The length of each segment of a GSO packet: its IP and transport
/// headers and `gso` bytes of payload.
#[inline(always)]
pub fn segment_len(ctx: &TcContext, ip: &L3, gso: u32) -> Result<u32, DropReason> {
    let l4 = match ip.proto {
        IPPROTO_TCP => u32::from(load::<u8>(ctx, ip.off + ip.hdr_len + 12)? >> 4) * 4,
        IPPROTO_UDP => 8,
        _ => 0,
    };
    Ok(ip.hdr_len as u32 + l4 + gso)
}

/// An ICMP "fragmentation needed" (RFC 1191) or ICMPv6 "packet too big"
/// (RFC 8201) addressed to this node about one of its own tunnel packets
/// (UDP from this node to the Geneve or VXLAN port of the node it quotes,
/// or, with SRv6 on, IPv6 from this node's address carrying IPv4, IPv6 or
/// a routing header): the path MTU towards that node (the SID the quoted
/// packet was addressed to) is remembered for
/// [`PATH_MTU_TIMEOUT_SECS`], so that the pods' packets that do not fit get
/// "too big" answers with the room the tunnel leaves. Anything else is
/// left alone. The message goes on to the stack either way.
#[inline(never)]
pub fn learn_path_mtu(skb: *mut __sk_buff, ip: &L3, cfg: &DatapathConfig) {
    let _ = learn_inner(&TcContext::new(skb), ip, cfg);
}

#[inline(always)]
fn learn_inner(ctx: &TcContext, ip: &L3, cfg: &DatapathConfig) -> Result<(), DropReason> {
    let icmp = ip.off + ip.hdr_len;
    let h: [u8; 8] = load(ctx, icmp)?;
    let (mtu, min) = if ip.v6 {
        if ip.proto != IPPROTO_ICMPV6 || h[0] != 2 || cfg.local_v6 == [0; 16] {
            return Ok(());
        }
        (
            u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
            MIN_PATH_MTU_V6,
        )
    } else {
        if ip.proto != IPPROTO_ICMP || h[0] != 3 || h[1] != 4 || cfg.local_v4 == [0; 4] {
            return Ok(());
        }
        (u32::from(u16::from_be_bytes([h[6], h[7]])), MIN_PATH_MTU_V4)
    };
    // The quoted packet: ours, UDP to a tunnel port.
    let q = icmp + 8;
    let mut node = [0u8; 16];
    let udp = if ip.v6 {
        let qh: [u8; 40] = load(ctx, q)?;
        if qh[0] >> 4 != 6 || qh[8..24] != cfg.local_v6 {
            return Ok(());
        }
        node.copy_from_slice(&qh[24..40]);
        let srv6 = qh[6] == IPPROTO_IPIP || qh[6] == IPPROTO_IPV6 || qh[6] == IPPROTO_ROUTING;
        if srv6 && cfg.flags & CFG_FLAG_SRV6 != 0 {
            remember(node, mtu, min, cfg);
            return Ok(());
        }
        if qh[6] != IPPROTO_UDP {
            return Ok(());
        }
        q + 40
    } else {
        let qh: [u8; 20] = load(ctx, q)?;
        let ihl = usize::from(qh[0] & 0x0f) * 4;
        if qh[0] >> 4 != 4 || ihl < 20 || qh[9] != IPPROTO_UDP || qh[12..16] != cfg.local_v4 {
            return Ok(());
        }
        node = IpKey::v4([qh[16], qh[17], qh[18], qh[19]]).addr;
        q + ihl
    };
    let ports: [u8; 4] = load(ctx, udp)?;
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    let tunnel_port = (cfg.geneve_port != 0 && dport == cfg.geneve_port)
        || (cfg.vxlan_port != 0 && dport == cfg.vxlan_port);
    if tunnel_port {
        remember(node, mtu, min, cfg);
    }
    Ok(())
}

/// Remembers `mtu` (at least `min`) towards `node`, unless it says nothing
/// the uplink's MTU does not.
#[inline(always)]
fn remember(node: [u8; 16], mtu: u32, min: u32, cfg: &DatapathConfig) {
    // An MTU of 0 comes from routers older than RFC 1191: nothing to learn.
    if mtu == 0 {
        return;
    }
    let mtu = mtu.max(min);
    if cfg.uplink_mtu != 0 && mtu >= cfg.uplink_mtu {
        return;
    }
    let e = PathMtu {
        expires: now() + PATH_MTU_TIMEOUT_SECS * 1_000_000_000,
        mtu,
        pad: 0,
    };
    let _ = PATH_MTU.insert(&IpKey { addr: node }, &e, 0);
    count_path(PathKind::PathMtuLearnt);
}

/// VXLAN: the tunnel key (VNI, remote node) goes with the skb into the
/// collect_md device, which encapsulates.
#[inline(never)]
fn vxlan_out(skb: *mut __sk_buff, cfg: &DatapathConfig, remote: &RemoteNode) -> i32 {
    verdict(vxlan_out_inner(&TcContext::new(skb), cfg, remote))
}

#[inline(always)]
fn vxlan_out_inner(
    ctx: &TcContext,
    cfg: &DatapathConfig,
    remote: &RemoteNode,
) -> Result<i32, DropReason> {
    set_vxlan_key(ctx, cfg, remote)?;
    trace(cfg, |t| {
        t.kind = REDIRECT_EGRESS;
        t.ifindex = cfg.vxlan_ifindex;
        t.tunnel_id = vni_of(cfg, remote);
        t.tunnel_family = remote.family;
        t.tunnel_remote = remote.addr;
    });
    count_path(PathKind::VxlanEncap);
    // SAFETY: a plain helper call.
    Ok(unsafe { bpf_redirect(cfg.vxlan_ifindex, 0) } as i32)
}

/// Gives the packet its VXLAN tunnel key (VNI, this node, `remote`).
#[inline(always)]
fn set_vxlan_key(
    ctx: &TcContext,
    cfg: &DatapathConfig,
    remote: &RemoteNode,
) -> Result<(), DropReason> {
    // SAFETY: bpf_tunnel_key is plain old data.
    let mut key: bpf_tunnel_key = unsafe { core::mem::zeroed() };
    key.tunnel_id = vni_of(cfg, remote);
    key.tunnel_ttl = 64;
    // The outer IPv4 header gets DF, as Geneve's: a router on the way
    // answers with ICMP rather than fragmenting, the path MTU is learnt and
    // the pods are told (one outer-header policy for both tunnels).
    let mut flags = u64::from(BPF_F_DONT_FRAGMENT);
    if remote.family == 6 {
        key.__bindgen_anon_1.remote_ipv6 = words(&remote.addr);
        key.__bindgen_anon_3.local_ipv6 = words(&cfg.local_v6);
        flags |= u64::from(BPF_F_TUNINFO_IPV6);
    } else {
        // IPv4 addresses in bpf_tunnel_key are in host byte order.
        let a = &remote.addr;
        key.__bindgen_anon_1.remote_ipv4 = u32::from_be_bytes([a[12], a[13], a[14], a[15]]);
        key.__bindgen_anon_3.local_ipv4 = u32::from_be_bytes(cfg.local_v4);
    }
    // SAFETY: `key` is a valid bpf_tunnel_key of the size passed.
    let rc = unsafe {
        bpf_skb_set_tunnel_key(
            ctx.skb.skb,
            &mut key,
            core::mem::size_of::<bpf_tunnel_key>() as u32,
            flags,
        )
    };
    if rc != 0 {
        return Err(DropReason::RedirectFailed);
    }
    Ok(())
}

/// The VNI towards `remote`: its own (an egress policy's) or the datapath's.
#[inline(always)]
fn vni_of(cfg: &DatapathConfig, remote: &RemoteNode) -> u32 {
    if remote.vni != 0 { remote.vni } else { cfg.vni }
}

/// The UDP source port for a flow hash: 49152-65535 (RFC 8926 section 3.3).
#[inline(always)]
fn source_port(hash: u32) -> u16 {
    0xc000 | (((hash >> 16) ^ hash) & 0x3fff) as u16
}

/// Geneve: room for the outer headers is made after the Ethernet header,
/// the headers are written, and the result is routed like any packet of
/// the node's: FIB lookup from the uplink, bpf_redirect_neigh.
#[inline(never)]
fn geneve_out(skb: *mut __sk_buff, cfg: &DatapathConfig, remote: &RemoteNode) -> i32 {
    verdict(geneve_out_inner(&TcContext::new(skb), cfg, remote))
}

#[inline(always)]
fn geneve_out_inner(
    ctx: &TcContext,
    cfg: &DatapathConfig,
    remote: &RemoteNode,
) -> Result<i32, DropReason> {
    let s = scratch().ok_or(DropReason::EncapFailed)?;
    let inner_eth: [u8; 14] = load(ctx, 0)?;
    // SAFETY: a plain helper call on this program's skb.
    let hash = unsafe { bpf_get_hash_recalc(ctx.skb.skb) };
    let sport = source_port(hash).to_be_bytes();
    let dport = cfg.geneve_port.to_be_bytes();
    let vni = vni_of(cfg, remote).to_be_bytes();
    let geneve = [
        0u8,
        0,
        (GENEVE_PROTO_ETH >> 8) as u8,
        GENEVE_PROTO_ETH as u8,
        vni[1],
        vni[2],
        vni[3],
        0,
    ];
    let l2 = (ETH_LEN as u64) << 56;
    let base = u64::from(BPF_F_ADJ_ROOM_ENCAP_L4_UDP | BPF_F_ADJ_ROOM_ENCAP_L2_ETH) | l2;
    let outer_src;
    if remote.family == 6 {
        ctx.adjust_room(
            TUNNEL_OVERHEAD_V6 as i32,
            BPF_ADJ_ROOM_MAC,
            base | u64::from(BPF_F_ADJ_ROOM_ENCAP_L3_IPV6),
        )
        .map_err(|_| DropReason::EncapFailed)?;
        let payload = (ctx.len() as usize - ETH_LEN - 40).min(0xffff) as u16;
        let h = &mut s.geneve_v6;
        *h = [0u8; 70];
        // Version 6, flow label from the flow hash.
        let fl = (hash & 0x000f_ffff).to_be_bytes();
        h[0] = 0x60;
        h[1] = fl[1];
        h[2] = fl[2];
        h[3] = fl[3];
        h[4..6].copy_from_slice(&payload.to_be_bytes());
        h[6] = IPPROTO_UDP;
        h[7] = 64;
        h[8..24].copy_from_slice(&cfg.local_v6);
        h[24..40].copy_from_slice(&remote.addr);
        h[40..42].copy_from_slice(&sport);
        h[42..44].copy_from_slice(&dport);
        h[44..46].copy_from_slice(&payload.to_be_bytes());
        h[48..56].copy_from_slice(&geneve);
        h[56..70].copy_from_slice(&inner_eth);
        store(ctx, 12, &ETH_P_IPV6.to_be_bytes(), 0)?;
        store(ctx, ETH_LEN, h, 0)?;
        outer_src = IpKey::v6(cfg.local_v6);
    } else {
        ctx.adjust_room(
            TUNNEL_OVERHEAD_V4 as i32,
            BPF_ADJ_ROOM_MAC,
            base | u64::from(BPF_F_ADJ_ROOM_ENCAP_L3_IPV4),
        )
        .map_err(|_| DropReason::EncapFailed)?;
        let total = (ctx.len() as usize - ETH_LEN).min(0xffff) as u16;
        let h = &mut s.geneve_v4;
        *h = [0u8; 50];
        h[0] = 0x45;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[6] = 0x40; // DF: the pod MTU leaves room for the overhead
        h[8] = 64;
        h[9] = IPPROTO_UDP;
        h[12..16].copy_from_slice(&cfg.local_v4);
        h[16..20].copy_from_slice(&remote.addr[12..16]);
        let c = csum_fold(csum_add(0, &h[0..20]));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h[20..22].copy_from_slice(&sport);
        h[22..24].copy_from_slice(&dport);
        h[24..26].copy_from_slice(&(total - 20).to_be_bytes());
        h[28..36].copy_from_slice(&geneve);
        h[36..50].copy_from_slice(&inner_eth);
        store(ctx, 12, &ETH_P_IP.to_be_bytes(), 0)?;
        store(ctx, ETH_LEN, h, 0)?;
        outer_src = IpKey::v4(cfg.local_v4);
    }
    let outer_dst = IpKey::v6(remote.addr);
    let p = fib_params(
        &mut s.fib,
        remote.family == 6,
        IPPROTO_UDP,
        cfg.uplink_ifindex,
        &outer_src,
        &outer_dst,
    );
    let rc = fib_lookup(ctx, p, BPF_FIB_LOOKUP_OUTPUT);
    if rc != i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return Err(DropReason::NoRoute);
    }
    Ok(redirect_to_nexthop(p, PathKind::GeneveEncap, cfg))
}

/// Where the inner IP packet starts in a Geneve frame with an IPv6 outer
/// header: outer Ethernet, IPv6, UDP, Geneve, inner Ethernet.
const INNER_V6: usize = ETH_LEN + TUNNEL_OVERHEAD_V6 as usize;
/// The longest packet summed for a checksum, in 512-byte chunks (a
/// 9216-byte jumbo frame fits).
const SUM_CHUNKS: usize = 18;

/// After [`geneve_out`] answered `verdict`: a frame on its way over IPv6
/// (not a GSO packet) gets its outer UDP checksum. The frame is still the
/// program's to change (the redirect happens when the program returns),
/// and this runs in a frame of its own beside geneve_out's, not under it
/// (BPF's 512 bytes of stack are for the whole call chain).
#[inline(always)]
fn geneve_v6_checksum(ctx: &TcContext, ip: &L3, remote: &RemoteNode, verdict: i32) -> i32 {
    if verdict != TC_ACT_REDIRECT as i32 || remote.family != 6 || skb_gso_size(ctx) != 0 {
        return verdict;
    }
    store_udp6_checksum(ctx.skb.skb, ip, verdict)
}

#[inline(never)]
fn store_udp6_checksum(skb: *mut __sk_buff, ip: &L3, verdict: i32) -> i32 {
    let ctx = TcContext::new(skb);
    let payload = (ctx.len() as usize - ETH_LEN - 40).min(0xffff) as u16;
    let r = udp6_checksum(&ctx, ip, payload)
        .and_then(|c| store(&ctx, ETH_LEN + 46, &c.to_be_bytes(), 0));
    match r {
        Ok(()) => verdict,
        Err(e) => super::fwd::verdict(Err(e)),
    }
}

/// The outer UDP checksum of a Geneve frame over IPv6 whose headers are
/// written (checksum field 0) and whose inner packet is `ip` (as it was
/// before the encapsulation), `payload` bytes of UDP in all.
#[inline(always)]
fn udp6_checksum(ctx: &TcContext, ip: &L3, payload: u16) -> Result<u16, DropReason> {
    let s = scratch().ok_or(DropReason::EncapFailed)?;
    // The pseudo-header (RFC 8200 section 8.1) and the outer headers from
    // UDP to the inner Ethernet header, as written.
    let h = &s.geneve_v6;
    let mut sum = csum_add(0, &h[8..40]) + u32::from(payload) + u32::from(IPPROTO_UDP);
    sum += csum_add(0, &h[40..70]);
    let l4_len = (ip.len - ip.hdr_len) as u32;
    let l4 = INNER_V6 + ip.hdr_len;
    // The inner segment's own checksum covers it: its sum is the
    // complement of its pseudo-header's. An IPv4 header with a right
    // checksum sums to zero (in one's complement); an IPv6 header is summed.
    let covered = !ip.frag
        && match ip.proto {
            IPPROTO_TCP => true,
            IPPROTO_ICMPV6 => ip.v6,
            IPPROTO_UDP => {
                let c: [u8; 2] = load_copy(ctx, l4 + 6)?;
                c != [0, 0]
            }
            IPPROTO_ICMP => !ip.v6,
            _ => false,
        };
    if covered {
        if ip.v6 {
            load_into(ctx, INNER_V6, &mut s.hdr6)?;
            sum += csum_add(0, &s.hdr6);
        }
        if ip.proto != IPPROTO_ICMP {
            let mut pseudo = csum_add(0, &ip.src.addr) + csum_add(0, &ip.dst.addr);
            pseudo += l4_len + u32::from(ip.proto);
            sum += u32::from(csum_fold(pseudo));
        }
    } else {
        sum += sum_packet(ctx, INNER_V6, INNER_V6 + ip.len)?;
    }
    let c = csum_fold(sum);
    // A computed 0 is sent as all ones (0 means "no checksum").
    Ok(if c == 0 { 0xffff } else { c })
}

/// The one's complement sum of the packet's bytes from `off` to `end`, as
/// 16-bit big-endian words: 512-byte chunks, then the rest in halving
/// pieces (few steps for the verifier to walk).
#[inline(always)]
fn sum_packet(ctx: &TcContext, mut off: usize, end: usize) -> Result<u32, DropReason> {
    let mut wide = 0u64;
    for _ in 0..SUM_CHUNKS {
        if off + 512 > end {
            break;
        }
        wide += sum_chunk::<512>(ctx, off)?;
        off += 512;
    }
    if off + 512 <= end {
        // Longer than a jumbo frame: not a packet this program sends.
        return Err(DropReason::EncapFailed);
    }
    macro_rules! piece {
        ($n:literal) => {
            if off + $n <= end {
                wide += sum_chunk::<$n>(ctx, off)?;
                off += $n;
            }
        };
    }
    piece!(256);
    piece!(128);
    piece!(64);
    piece!(32);
    piece!(16);
    piece!(8);
    piece!(4);
    // bpf_csum_diff sums the chunks as the CPU reads them (little-endian
    // words); a one's complement sum of byte-swapped words is the
    // byte-swapped sum (RFC 1071), so it is folded and swapped back.
    let mut folded = (wide & 0xffff) + ((wide >> 16) & 0xffff) + (wide >> 32);
    folded = (folded & 0xffff) + (folded >> 16);
    folded = (folded & 0xffff) + (folded >> 16);
    let mut sum = u32::from((folded as u16).swap_bytes());
    if off + 2 <= end {
        let w: [u8; 2] = load_copy(ctx, off)?;
        sum += u32::from(u16::from_be_bytes(w));
        off += 2;
    }
    if off < end {
        let b: [u8; 1] = load_copy(ctx, off)?;
        sum += u32::from(b[0]) << 8;
    }
    Ok(sum)
}

/// bpf_csum_diff's sum of the `N` packet bytes at `off` (a multiple of 4,
/// at most 512), through the scratch chunk.
#[inline(always)]
fn sum_chunk<const N: usize>(ctx: &TcContext, off: usize) -> Result<u64, DropReason> {
    let s = scratch().ok_or(DropReason::EncapFailed)?;
    // SAFETY: the chunk holds 512 bytes; N is at most that.
    let rc = unsafe {
        aya_ebpf::helpers::generated::bpf_skb_load_bytes(
            ctx.skb.skb.cast(),
            off as u32,
            s.chunk.as_mut_ptr().cast(),
            N as u32,
        )
    };
    if rc != 0 {
        return Err(DropReason::Truncated);
    }
    // SAFETY: as above; no `from` buffer.
    let r = unsafe {
        bpf_csum_diff(
            core::ptr::null_mut(),
            0,
            s.chunk.as_mut_ptr().cast(),
            N as u32,
            0,
        )
    };
    if r < 0 {
        return Err(DropReason::EncapFailed);
    }
    Ok(r as u64)
}

/// `N` bytes at `off` through bpf_skb_load_bytes (the packet's data need not
/// be linear).
#[inline(always)]
fn load_copy<const N: usize>(ctx: &TcContext, off: usize) -> Result<[u8; N], DropReason> {
    let mut b = [0u8; N];
    load_into(ctx, off, &mut b)?;
    Ok(b)
}

/// [`geneve_in`]: decapsulated, a local pod's packet, to be delivered by
/// the caller (not a TC verdict).
pub const GENEVE_DECAPSULATED: i32 = 1000;
/// [`geneve_in`]: decapsulated, a packet of an egress gateway policy this
/// node serves (its id set with `egw::set_policy_id`), to be translated and
/// routed by the caller.
pub const GENEVE_EGRESS: i32 = 1001;

/// Geneve arriving on the uplink for this node (`outer` is UDP to our
/// Geneve port): checked, decapsulated and delivered to the pod (or, with
/// services, [`GENEVE_DECAPSULATED`]).
#[inline(never)]
pub fn geneve_in(skb: *mut __sk_buff, outer: &L3, cfg: &DatapathConfig) -> i32 {
    verdict(geneve_in_inner(&TcContext::new(skb), outer, cfg))
}

#[inline(always)]
fn geneve_in_inner(ctx: &TcContext, outer: &L3, cfg: &DatapathConfig) -> Result<i32, DropReason> {
    // Only the nodes (and external VTEPs) of the cluster may send into it,
    // whatever the VNI: a host elsewhere on the underlay cannot reach pods
    // or egress gateway policies by encapsulating.
    if !trusted_source(&outer.src.addr) {
        return Err(DropReason::UnknownTunnelSource);
    }
    let udp_off = outer.off + outer.hdr_len;
    let udp: [u8; 8] = load(ctx, udp_off)?;
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    let g_off = udp_off + 8;
    let g: [u8; 8] = load(ctx, g_off)?;
    if g[0] >> 6 != 0 {
        return Err(DropReason::BadHeader); // unknown version
    }
    if g[1] & 0x80 != 0 {
        // A control (OAM) packet is not data for a pod.
        return Ok(to_stack());
    }
    if g[1] & 0x40 != 0 {
        // Critical options present; this endpoint understands none (RFC 8926 section 3.5).
        return Err(DropReason::BadHeader);
    }
    if u16::from_be_bytes([g[2], g[3]]) != GENEVE_PROTO_ETH {
        return Err(DropReason::BadHeader);
    }
    let vni = u32::from_be_bytes([0, g[4], g[5], g[6]]);
    // Another VNI is an egress gateway policy's, when this node serves it.
    let egress = vni != cfg.vni;
    if egress && cfg.flags & CFG_FLAG_EGRESS == 0 {
        return Err(DropReason::WrongVni);
    }
    let opt_len = usize::from(g[0] & 0x3f) * 4;
    let eth_off = g_off + 8 + opt_len;
    let et: [u8; 2] = load(ctx, eth_off + 12)?;
    let l3_off = eth_off + ETH_LEN;
    let mut inner = MaybeUninit::uninit();
    if !parse_l3(ctx, l3_off, u16::from_be_bytes(et), &mut inner)? {
        return Err(DropReason::NoEndpoint);
    }
    // SAFETY: parse_l3 answered true: it initialised `inner`.
    let inner = unsafe { inner.assume_init_mut() };
    // The inner packet must lie within the UDP datagram and the outer packet.
    if udp_len < 8
        || udp_off + udp_len > outer.off + outer.len
        || l3_off + inner.len > udp_off + udp_len
    {
        return Err(DropReason::Truncated);
    }
    if egress {
        if !super::egw::serves(vni, inner.v6) {
            return Err(DropReason::WrongVni);
        }
        super::egw::set_policy_id(vni);
    }
    let ep = if egress {
        None
    } else {
        Some(endpoint(&inner.dst).ok_or(DropReason::NoEndpoint)?)
    };
    // A UDP GSO packet (a pod's UDP_SEGMENT write, kept whole by the
    // sender's encapsulation) cannot be delivered from here on this
    // kernel: bpf_skb_adjust_room leaves its UDP tunnel GSO state behind
    // (only BPF_F_ADJ_ROOM_DECAP_L4_UDP, newer than Linux 6.18, clears
    // it), and the pod's stack could not split it into datagrams. It is
    // dropped and counted rather than lost unseen.
    if skb_gso_size(ctx) != 0 && inner.proto == IPPROTO_UDP {
        return Err(DropReason::DecapFailed);
    }
    let flags = if inner.v6 {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV6
    } else {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4
    };
    let shrink = (l3_off - ETH_LEN) as i32;
    ctx.adjust_room(-shrink, BPF_ADJ_ROOM_MAC, u64::from(flags))
        .map_err(|_| DropReason::DecapFailed)?;
    let et = if inner.v6 { ETH_P_IPV6 } else { ETH_P_IP };
    store(ctx, 12, &et.to_be_bytes(), 0).map_err(|_| DropReason::DecapFailed)?;
    inner.off = ETH_LEN;
    // With services, the packet may be a reply to translate back first: the
    // uplink program does that and the delivery in its own frame (this
    // one's, with the conntrack's, would not fit BPF's 512 bytes of stack).
    let Some(ep) = ep else {
        return Ok(GENEVE_EGRESS);
    };
    if cfg.flags & CFG_FLAG_SERVICES != 0 {
        return Ok(GENEVE_DECAPSULATED);
    }
    Ok(deliver(ctx.skb.skb, inner, ep, PathKind::GeneveDecap, cfg))
}
