//! SRv6 L3VPN in eBPF: the headend (H.Encaps.Red, RFC 8986 section 5.2)
//! for pods in a VRF, and the End.DT4 / End.DT6 / End.DT46 SIDs of this
//! node (RFC 8986 sections 4.6-4.8). The kernel does neither here: no seg6
//! routes, no VRF devices. A VRF is a routing table id; the programs look
//! it up with bpf_fib_lookup (BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID).
//!
//! Packet as sent with three segments S1, S2, S3 (S1 visited first):
//! ```text
//! | Ethernet 14 | IPv6 40, DA = S1, NH 43 | SRH 8 + 2 * 16 | inner IPv4 / IPv6 |
//!
//!  SRH (RFC 8754 section 2), reduced (RFC 8754 section 4.1.1): S1 lives
//!  only in the DA, so the list holds n - 1 SIDs, last segment first.
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Header 4 |  Hdr Ext Len 4| Routing Type 4| Seg Left 2    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Last Entry 1  |     Flags 0   |              Tag 0            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            Segment List[0] = S3 (the VRF's End.DT* SID)       |
//! |            Segment List[1] = S2                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! With one segment there is no SRH: IPv6 next header 4 (IPv4) or 41
//! (IPv6). The outer header's flow label comes from the inner flow's hash
//! (ECMP entropy, RFC 6437), its traffic class is the inner DSCP with ECN
//! cleared (RFC 6040's compatibility mode: the decapsulation does not
//! carry a congestion mark back into the inner header).
//!
//! The inner TTL / hop limit is decremented once on each side: the
//! headend and the End.DT* node both forward the inner packet through a
//! table. A packet that cannot take it is dropped (`hop-limit-exceeded`):
//! the node's stack routes in the main table and must not answer for a VRF.
//! For the same reason no ICMP error goes back through a VPN: a routing
//! header with segments left at an End.DT* SID is dropped and counted
//! without the Parameter Problem RFC 8986 section 4.6 sends, and an inner
//! packet too big for the pod's link is dropped (`mtu-exceeded`). The
//! headend answers its own pods (fragmentation needed / packet too big)
//! from the FIB's MTU towards the first SID, or the smaller path MTU an
//! ICMPv6 error on the uplink taught the tunnels' path MTU map.
use core::mem::MaybeUninit;

use aya_ebpf::{
    bindings::{
        __sk_buff, BPF_F_ADJ_ROOM_DECAP_L3_IPV4, BPF_F_ADJ_ROOM_DECAP_L3_IPV6,
        BPF_F_ADJ_ROOM_ENCAP_L3_IPV6, BPF_F_ADJ_ROOM_FIXED_GSO, BPF_FIB_LKUP_RET_FRAG_NEEDED,
        BPF_FIB_LKUP_RET_SUCCESS, BPF_FIB_LOOKUP_DIRECT, BPF_FIB_LOOKUP_OUTPUT,
        BPF_FIB_LOOKUP_TBID, TC_ACT_SHOT, bpf_adj_room_mode::BPF_ADJ_ROOM_MAC,
    },
    helpers::generated::bpf_get_hash_recalc,
    macros::map,
    maps::{HashMap, LpmTrie, lpm_trie::Key},
    programs::TcContext,
};
use tern_ebpf_common::{
    datapath::{DatapathConfig, DropReason, IpKey, PathKind},
    srv6::{
        Behavior, DEFAULT_HOP_LIMIT, ENCAP_KEY_LEN, IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_ROUTING,
        LocalSid, MAX_ENCAP_OVERHEAD, MAX_ENCAP_ROUTES, MAX_LOCAL_SIDS, MAX_LOCATORS, MAX_SEGMENTS,
        ROUTING_TYPE_SRH, Srv6Policy, encap_overhead,
    },
};

use super::{
    fwd::{fib_lookup, fib_params, redirect_to_nexthop, skb_gso_size, skb_ifindex, verdict},
    icmp,
    maps::{count_drop, scratch},
    pkt::{
        ETH_LEN, ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, L3, dec_ttl, load, load_into, parse_l3, store,
    },
    tunnel::{path_mtu_to, segment_len},
};

#[map(name = "TERN_SRV6_ENCAP")]
static ENCAP: LpmTrie<[u8; ENCAP_KEY_LEN], Srv6Policy> =
    LpmTrie::with_max_entries(MAX_ENCAP_ROUTES, 0);

#[map(name = "TERN_SRV6_SIDS")]
static SIDS: HashMap<[u8; 16], LocalSid> = HashMap::with_max_entries(MAX_LOCAL_SIDS, 0);

#[map(name = "TERN_SRV6_LOCATORS")]
static LOCATORS: LpmTrie<[u8; 16], u32> = LpmTrie::with_max_entries(MAX_LOCATORS, 0);

#[map(name = "TERN_VRF_IFACES")]
static VRF_IFACES: HashMap<u32, u32> =
    HashMap::with_max_entries(tern_ebpf_common::datapath::MAX_ENDPOINTS, 0);

/// [`sid_in`]: not a packet for one of this node's SIDs or locators; the
/// caller goes on as without SRv6 (not a TC verdict).
pub const SRV6_PASS: i32 = 1002;

/// Extension headers walked in front of the inner packet at a SID (a
/// hop-by-hop, a destination options, the SRH, one more): a packet with
/// more is dropped as `srv6-wrong-inner`.
const MAX_EXT_HEADERS: usize = 4;
const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_DSTOPTS: u8 = 60;

/// The VRF table of the pod interface `ifindex`, if it is in one.
#[inline(always)]
pub fn vrf_of(ifindex: u32) -> Option<u32> {
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { VRF_IFACES.get(&ifindex) }.copied()
}

/// A packet from a pod in VRF `table` (forwardable, its TTL not yet
/// decremented): checked to come from the pod's own address, then
/// encapsulated when an SR policy of the VRF covers the destination, else
/// forwarded through the VRF's table, else dropped (`vrf-no-route`): a VRF
/// pod never reaches the main table.
#[inline(never)]
pub fn from_vrf_pod(skb: *mut __sk_buff, ip: &L3, table: u32, cfg: &DatapathConfig) -> i32 {
    if !source_is_the_pod_s(skb, ip, table) {
        count_drop(DropReason::SourceSpoofed);
        return TC_ACT_SHOT;
    }
    if ip.ttl <= 1 {
        count_drop(DropReason::HopLimitExceeded);
        return TC_ACT_SHOT;
    }
    let key = Key::new(32 + 128, table_key(table, &ip.dst));
    match ENCAP.get(&key) {
        Some(policy) => encap(skb, ip, policy, cfg),
        None => vrf_local(skb, ip, table, cfg),
    }
}

/// Strict reverse-path check in the VRF: the VRF's table routes the
/// packet's source back out of the interface it came in on (a VRF pod's
/// addresses are not in the endpoint map, and two VRFs may share them).
/// A pod sending from an address that is not its own in its
/// VRF is dropped as `source-spoofed`.
#[inline(never)]
fn source_is_the_pod_s(skb: *mut __sk_buff, ip: &L3, table: u32) -> bool {
    let ctx = TcContext::new(skb);
    let Some(s) = scratch() else {
        return false;
    };
    let ifindex = skb_ifindex(&ctx);
    let p = fib_params(&mut s.fib, ip.v6, ip.proto, ifindex, &ip.dst, &ip.src);
    p.__bindgen_anon_5.tbid = table;
    // Any length the link takes: the question is the route, not the MTU.
    p.__bindgen_anon_1.tot_len = 1;
    fib_lookup(&ctx, p, BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID)
        == i64::from(BPF_FIB_LKUP_RET_SUCCESS)
        && p.ifindex == ifindex
}

/// The encap key of `table` and `dst`, written as words (no byte loops).
#[inline(always)]
fn table_key(table: u32, dst: &IpKey) -> [u8; ENCAP_KEY_LEN] {
    let a = &dst.addr;
    let w: [u32; 5] = [
        u32::from_ne_bytes(table.to_be_bytes()),
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ];
    // SAFETY: [u32; 5] and [u8; 20] have the same size; any bytes are valid.
    unsafe { core::mem::transmute::<[u32; 5], [u8; ENCAP_KEY_LEN]>(w) }
}

/// The VRF's own table forwards the packet (another pod of the VRF on
/// this node, a route the control plane put there).
#[inline(never)]
fn vrf_local(skb: *mut __sk_buff, ip: &L3, table: u32, cfg: &DatapathConfig) -> i32 {
    verdict(vrf_local_inner(&TcContext::new(skb), ip, table, cfg))
}

#[inline(always)]
fn vrf_local_inner(
    ctx: &TcContext,
    ip: &L3,
    table: u32,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    let s = scratch().ok_or(DropReason::VrfNoRoute)?;
    let p = fib_params(
        &mut s.fib,
        ip.v6,
        ip.proto,
        skb_ifindex(ctx),
        &ip.src,
        &ip.dst,
    );
    p.__bindgen_anon_5.tbid = table;
    // tot_len 0: the kernel checks the skb itself against the MTU, GSO-aware.
    let rc = fib_lookup(ctx, p, BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID);
    if rc == i64::from(BPF_FIB_LKUP_RET_FRAG_NEEDED) {
        if !ip.df {
            // The stack would fragment, but routes in the main table.
            return Err(DropReason::MtuExceeded);
        }
        // SAFETY: mtu_result is what the kernel wrote for FRAG_NEEDED.
        let mtu = u32::from(unsafe { p.__bindgen_anon_1.mtu_result });
        return Ok(icmp::too_big(ctx.skb.skb, ip, mtu, cfg));
    }
    if rc != i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return Err(DropReason::VrfNoRoute);
    }
    dec_ttl(ctx, ip)?;
    Ok(redirect_to_nexthop(p, PathKind::VrfLocal, cfg))
}

/// H.Encaps.Red: the outer IPv6 header (and an SRH past one segment) is
/// pushed in front of `ip`, which is then routed on the outer header in
/// the main table (bpf_fib_lookup, bpf_redirect_neigh).
#[inline(never)]
fn encap(skb: *mut __sk_buff, ip: &L3, policy: &Srv6Policy, cfg: &DatapathConfig) -> i32 {
    verdict(encap_inner(&TcContext::new(skb), ip, policy, cfg))
}

#[inline(always)]
fn encap_inner(
    ctx: &TcContext,
    ip: &L3,
    policy: &Srv6Policy,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    let n = policy.count as usize;
    if n == 0 || n > MAX_SEGMENTS {
        return Err(DropReason::EncapFailed);
    }
    let src = if policy.source != [0; 16] {
        policy.source
    } else if cfg.local_v6 != [0; 16] {
        cfg.local_v6
    } else {
        return Err(DropReason::NoTunnel);
    };
    let overhead = encap_overhead(n);
    let s = scratch().ok_or(DropReason::EncapFailed)?;
    // The outer packet's route first: nothing is changed for a packet that
    // cannot leave, and the route's MTU decides whether it fits.
    let inner_nh = if ip.v6 { IPPROTO_IPV6 } else { IPPROTO_IPIP };
    let outer_nh = if n == 1 { inner_nh } else { IPPROTO_ROUTING };
    let oif = if cfg.uplink_ifindex != 0 {
        cfg.uplink_ifindex
    } else {
        skb_ifindex(ctx)
    };
    let p = fib_params(
        &mut s.fib,
        true,
        outer_nh,
        oif,
        &IpKey { addr: src },
        &IpKey {
            addr: policy.segments[0],
        },
    );
    // What goes on the wire: the packet, or each segment of a GSO packet.
    // TCP segments fit as the pod's MTU makes them: adjust_room shrinks
    // gso_size by the overhead (tot_len 0: not checked). UDP GSO segments
    // are the application's datagrams and keep their size (FIXED_GSO):
    // each must fit with the overhead.
    let gso = skb_gso_size(ctx);
    let udp_gso = gso != 0 && ip.proto == IPPROTO_UDP;
    let wire = if gso == 0 {
        ip.len as u32
    } else if udp_gso {
        segment_len(ctx, ip, gso)?
    } else {
        0
    };
    if wire != 0 {
        p.__bindgen_anon_1.tot_len = (wire + overhead as u32).min(0xffff) as u16;
    }
    let rc = fib_lookup(ctx, p, BPF_FIB_LOOKUP_OUTPUT);
    if rc == i64::from(BPF_FIB_LKUP_RET_FRAG_NEEDED) {
        if !ip.df || udp_gso {
            // IPv4 without DF would need fragmenting the inner packet; a
            // GSO packet is not quoted in an ICMP answer.
            return Err(DropReason::MtuExceeded);
        }
        // SAFETY: mtu_result is what the kernel wrote for FRAG_NEEDED.
        let mtu = u32::from(unsafe { p.__bindgen_anon_1.mtu_result });
        return Ok(icmp::too_big(
            ctx.skb.skb,
            ip,
            mtu.saturating_sub(overhead as u32),
            cfg,
        ));
    }
    if rc != i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return Err(DropReason::NoRoute);
    }
    // Less than the route's MTU when a router on the way said so (an
    // ICMPv6 packet too big about one of our packets to this SID, learnt
    // on the uplink). Each segment of a GSO packet must fit it too.
    if let Some(path) = path_mtu_to(&policy.segments[0]) {
        let wire = if gso == 0 {
            ip.len as u32
        } else {
            segment_len(ctx, ip, gso)?
        };
        if wire + overhead as u32 > path {
            if !ip.df || udp_gso {
                return Err(DropReason::MtuExceeded);
            }
            return Ok(icmp::too_big(
                ctx.skb.skb,
                ip,
                path.saturating_sub(overhead as u32),
                cfg,
            ));
        }
    }
    // The inner traffic class: IPv4's TOS byte, or IPv6's across its first
    // two bytes. DSCP is kept, ECN cleared.
    let first: [u8; 2] = load(ctx, ip.off)?;
    let tc = if ip.v6 {
        (first[0] << 4) | (first[1] >> 4)
    } else {
        first[1]
    } & 0xfc;
    dec_ttl(ctx, ip)?;
    // SAFETY: a plain helper call on this program's skb.
    let hash = unsafe { bpf_get_hash_recalc(ctx.skb.skb) };
    let fl = hash & 0x000f_ffff;
    let h = &mut s.srv6;
    *h = [0u8; MAX_ENCAP_OVERHEAD];
    h[0] = 0x60 | (tc >> 4);
    h[1] = (tc << 4) | ((fl >> 16) as u8 & 0x0f);
    h[2] = (fl >> 8) as u8;
    h[3] = fl as u8;
    let payload = (ip.len + overhead - 40).min(0xffff) as u16;
    h[4..6].copy_from_slice(&payload.to_be_bytes());
    h[6] = outer_nh;
    h[7] = match policy.hop_limit {
        0 => DEFAULT_HOP_LIMIT,
        l => l.min(255) as u8,
    };
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&policy.segments[0]);
    if n > 1 {
        let seg = &policy.segments;
        h[40] = inner_nh;
        h[41] = (2 * (n - 1)) as u8; // Hdr Ext Len: 8-octet units past the first 8
        h[42] = ROUTING_TYPE_SRH;
        h[43] = (n - 1) as u8; // Segments Left: S2 comes next
        h[44] = (n - 2) as u8; // Last Entry (reduced SRH: S1 is not listed)
        // The list from the last segment back to S2.
        match n {
            2 => h[48..64].copy_from_slice(&seg[1]),
            3 => {
                h[48..64].copy_from_slice(&seg[2]);
                h[64..80].copy_from_slice(&seg[1]);
            }
            _ => {
                h[48..64].copy_from_slice(&seg[3]);
                h[64..80].copy_from_slice(&seg[2]);
                h[80..96].copy_from_slice(&seg[1]);
            }
        }
    }
    let fixed = if udp_gso { BPF_F_ADJ_ROOM_FIXED_GSO } else { 0 };
    ctx.adjust_room(
        overhead as i32,
        BPF_ADJ_ROOM_MAC,
        u64::from(BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 | fixed),
    )
    .map_err(|_| DropReason::EncapFailed)?;
    store(ctx, 12, &ETH_P_IPV6.to_be_bytes(), 0)?;
    store_outer(ctx, h, n)?;
    Ok(redirect_to_nexthop(p, PathKind::Srv6Encap, cfg))
}

/// Writes the first `encap_overhead(n)` bytes of `h` after the Ethernet
/// header (constant sizes: one store per segment count).
#[inline(always)]
fn store_outer(ctx: &TcContext, h: &[u8; MAX_ENCAP_OVERHEAD], n: usize) -> Result<(), DropReason> {
    // SAFETY (each cast): a prefix of `h`, which is MAX_ENCAP_OVERHEAD
    // bytes long; byte arrays have no alignment needs.
    unsafe {
        match n {
            1 => store(ctx, ETH_LEN, &*h.as_ptr().cast::<[u8; 40]>(), 0),
            2 => store(ctx, ETH_LEN, &*h.as_ptr().cast::<[u8; 64]>(), 0),
            3 => store(ctx, ETH_LEN, &*h.as_ptr().cast::<[u8; 80]>(), 0),
            _ => store(ctx, ETH_LEN, h, 0),
        }
    }
}

/// An IPv6 packet on the uplink (`outer`): to a local SID -> checked,
/// decapsulated and forwarded through the SID's VRF table; to an address
/// of a local locator that is no SID -> dropped; anything else ->
/// [`SRV6_PASS`].
#[inline(never)]
pub fn sid_in(skb: *mut __sk_buff, outer: &L3, cfg: &DatapathConfig) -> i32 {
    verdict(sid_in_inner(&TcContext::new(skb), outer, cfg))
}

#[inline(always)]
fn sid_in_inner(ctx: &TcContext, outer: &L3, cfg: &DatapathConfig) -> Result<i32, DropReason> {
    // SAFETY: map values stay valid while the program runs; plain data.
    let Some(sid) = (unsafe { SIDS.get(&outer.dst.addr) }).copied() else {
        // Inside one of our locators but no SID: nothing on this node
        // serves it, and the stack would only route it back out.
        if LOCATORS.get(Key::new(128, outer.dst.addr)).is_some() {
            return Err(DropReason::Srv6UnknownSid);
        }
        return Ok(SRV6_PASS);
    };
    let behavior = Behavior::from_u32(sid.behavior).ok_or(DropReason::Srv6UnknownSid)?;
    // The extension headers up to the upper-layer header, each inside the
    // outer payload. A routing header must have no segment left: an
    // End.DT* SID is the last one (RFC 8986 section 4.6 S02-S04).
    let end = outer.off + outer.len;
    let mut off = outer.off + outer.hdr_len;
    let mut nh = outer.proto;
    for _ in 0..MAX_EXT_HEADERS {
        if nh != IPPROTO_HOPOPTS && nh != IPPROTO_DSTOPTS && nh != IPPROTO_ROUTING {
            break;
        }
        if off + 8 > end {
            return Err(DropReason::Srv6BadHeader);
        }
        let mut e = [0u8; 8];
        load_into(ctx, off, &mut e)?;
        let len = (usize::from(e[1]) + 1) * 8;
        if off + len > end {
            return Err(DropReason::Srv6BadHeader);
        }
        if nh == IPPROTO_ROUTING {
            let segments_left = e[3];
            if e[2] == ROUTING_TYPE_SRH {
                let last_entry = usize::from(e[4]);
                // The segment list must fit the header it is in.
                if 8 + 16 * (last_entry + 1) > len {
                    return Err(DropReason::Srv6BadHeader);
                }
                if usize::from(segments_left) > last_entry + 1 {
                    return Err(DropReason::Srv6SegmentsLeft);
                }
            }
            if segments_left != 0 {
                return Err(DropReason::Srv6SegmentsLeft);
            }
        }
        nh = e[0];
        off += len;
    }
    let inner_v6 = if nh == IPPROTO_IPV6 {
        true
    } else if nh == IPPROTO_IPIP {
        false
    } else {
        return Err(DropReason::Srv6WrongInner);
    };
    if !behavior.accepts(inner_v6) {
        return Err(DropReason::Srv6WrongInner);
    }
    if off + if inner_v6 { 40 } else { 20 } > end {
        return Err(DropReason::Srv6BadHeader);
    }
    let mut slot = MaybeUninit::uninit();
    let et = if inner_v6 { ETH_P_IPV6 } else { ETH_P_IP };
    if !parse_l3(ctx, off, et, &mut slot)? {
        return Err(DropReason::Srv6WrongInner);
    }
    // SAFETY: parse_l3 answered true: it initialised `slot`.
    let inner = unsafe { slot.assume_init_mut() };
    if off + inner.len > end {
        return Err(DropReason::Srv6BadHeader);
    }
    if inner.ttl <= 1 {
        return Err(DropReason::HopLimitExceeded);
    }
    Ok(decap(ctx.skb.skb, inner, sid.table, cfg))
}

/// Removes everything in front of `inner` and forwards it through `table`.
#[inline(never)]
fn decap(skb: *mut __sk_buff, inner: &mut L3, table: u32, cfg: &DatapathConfig) -> i32 {
    verdict(decap_inner(&TcContext::new(skb), inner, table, cfg))
}

#[inline(always)]
fn decap_inner(
    ctx: &TcContext,
    inner: &mut L3,
    table: u32,
    cfg: &DatapathConfig,
) -> Result<i32, DropReason> {
    let s = scratch().ok_or(DropReason::DecapFailed)?;
    let p = fib_params(
        &mut s.fib,
        inner.v6,
        inner.proto,
        skb_ifindex(ctx),
        &inner.src,
        &inner.dst,
    );
    p.__bindgen_anon_5.tbid = table;
    // The skb still carries the outer headers: the inner length is what
    // must fit the pod's link (a GSO packet's segments are checked by the
    // kernel when they are made).
    if skb_gso_size(ctx) == 0 {
        p.__bindgen_anon_1.tot_len = inner.len.min(0xffff) as u16;
    }
    let rc = fib_lookup(ctx, p, BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID);
    if rc == i64::from(BPF_FIB_LKUP_RET_FRAG_NEEDED) {
        return Err(DropReason::MtuExceeded);
    }
    if rc != i64::from(BPF_FIB_LKUP_RET_SUCCESS) {
        return Err(DropReason::VrfNoRoute);
    }
    let shrink = inner.off - ETH_LEN;
    // DECAP_L3_*: the inner family, which the kernel also takes as the
    // shortest packet it may leave (an IPv4 packet under 40 bytes is fine).
    let family = if inner.v6 {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV6
    } else {
        BPF_F_ADJ_ROOM_DECAP_L3_IPV4
    };
    // FIXED_GSO: the inner segments keep their size (the outer headers
    // were never part of it).
    ctx.adjust_room(
        -(shrink as i32),
        BPF_ADJ_ROOM_MAC,
        u64::from(family | BPF_F_ADJ_ROOM_FIXED_GSO),
    )
    .map_err(|_| DropReason::DecapFailed)?;
    let et = if inner.v6 { ETH_P_IPV6 } else { ETH_P_IP };
    store(ctx, 12, &et.to_be_bytes(), 0).map_err(|_| DropReason::DecapFailed)?;
    inner.off = ETH_LEN;
    dec_ttl(ctx, inner)?;
    Ok(redirect_to_nexthop(p, PathKind::Srv6Decap, cfg))
}
