//! Tern's pod datapath: TCX programs on each pod's host-side veth, on the
//! node's uplink and on the collect_md VXLAN device.
//!
//! - `tern_pod_ingress` (packets a pod sends): to a pod of this node ->
//!   straight into that pod (bpf_redirect_peer); to a remote pod prefix in
//!   a tunnel mode -> VXLAN or Geneve towards the node behind it; else
//!   native routing (bpf_fib_lookup, bpf_redirect_neigh) or the stack.
//! - `tern_uplink_ingress`: Geneve for this node is decapsulated and
//!   delivered before the stack sees it; native packets for local pods are
//!   delivered; the rest continues to the stack.
//! - `tern_uplink_xdp` (XDP, where the uplink's driver has native XDP):
//!   service packets to a pod of this node, translated and redirected into
//!   the pod before an skb exists; the rest passes to `tern_uplink_ingress`.
//! - `tern_vxlan_ingress`: packets the VXLAN device decapsulated -> the pod.
//! - `tern_vxlan_egress`: fragments the node's stack made of a pod's IPv4
//!   packet without DF too big for its tunnel -> tunnelled one by one.
//! - SRv6 L3VPN (dp/srv6.rs), only while SRv6 state exists: a pod in a VRF
//!   is encapsulated (H.Encaps.Red) or routed in its VRF's table; on the
//!   uplink, IPv6 to a local End.DT4/DT6/DT46 SID is decapsulated into the
//!   SID's VRF.
//! - `tern_noop`, `tern_probe_endpoint`, `tern_probe_fib`: benchmark
//!   baselines (never attached).
//!
//! The settings (mode, VNI, ports, ifindexes, node addresses, MTU) live in a
//! map, so a mode change takes effect with the next packet. Every drop is
//! counted by reason; every packet's path is counted.
#![no_std]
#![no_main]

mod dp {
    pub mod egw;
    pub mod fwd;
    pub mod icmp;
    pub mod maps;
    pub mod pkt;
    pub mod sock;
    pub mod srv6;
    pub mod svc;
    pub mod tunnel;
    pub mod xdp;
}

use core::mem::MaybeUninit;

use aya_ebpf::{
    bindings::{
        BPF_F_TUNINFO_IPV6, TC_ACT_OK, TC_ACT_SHOT, TC_ACT_UNSPEC, bpf_fib_lookup as FibParams,
        bpf_tunnel_key,
    },
    helpers::generated::bpf_skb_get_tunnel_key,
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};
use dp::{
    fwd::{deliver, fib_lookup, fib_params, native, skb_ifindex, to_stack, unwords, verdict},
    maps::{EpDir, config, count_endpoint, endpoint, is_pod_iface, trusted_source, tunnel},
    pkt::{
        ETH_LEN, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP, forwardable, load, parse_l3, ptr_at,
        v4_key,
    },
    svc::{SVC_DONE, SVC_DROP, SVC_PASS},
    tunnel::{GENEVE_DECAPSULATED, GENEVE_EGRESS, geneve_in, tunnel_out},
};
use tern_ebpf_common::datapath::{
    CFG_FLAG_EGRESS, CFG_FLAG_SERVICES, CFG_FLAG_SRV6, DropReason, Mode, PathKind,
};

#[inline(always)]
fn ethertype(ctx: &TcContext) -> Result<u16, DropReason> {
    let b: [u8; 2] = load(ctx, 12)?;
    Ok(u16::from_be_bytes(b))
}

#[classifier]
pub fn tern_pod_ingress(ctx: TcContext) -> i32 {
    verdict(try_pod_ingress(&ctx))
}

fn try_pod_ingress(ctx: &TcContext) -> Result<i32, DropReason> {
    let mut ip = MaybeUninit::uninit();
    if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut ip)? {
        return Ok(to_stack());
    }
    // SAFETY: parse_l3 answered true: it initialised `ip`.
    let ip = unsafe { ip.assume_init_mut() };
    let Some(cfg) = config() else {
        return Ok(to_stack());
    };
    let ifindex = skb_ifindex(ctx);
    // A pod in a VRF: its table or its SR policies, never the main table.
    if cfg.flags & CFG_FLAG_SRV6 != 0
        && let Some(table) = dp::srv6::vrf_of(ifindex)
    {
        if !forwardable(ip) {
            return Ok(to_stack());
        }
        return Ok(dp::srv6::from_vrf_pod(ctx.skb.skb, ip, table, cfg));
    }
    let own = endpoint(&ip.src).filter(|e| e.ifindex == ifindex);
    if let Some(src) = own {
        count_endpoint(src.id, EpDir::FromPod, u64::from(ctx.len()));
    }
    if !forwardable(ip) {
        return Ok(to_stack());
    }
    // A pod forwards only from its own addresses (its link-local ones talk
    // to its gateway, which is not forwarding).
    if own.is_none() && is_pod_iface(ifindex) {
        return Err(DropReason::SourceSpoofed);
    }
    // A reply of a translated connection, or a connection to a service:
    // translated in place, then routed as any other packet.
    if cfg.flags & CFG_FLAG_SERVICES != 0 {
        let mut r = dp::svc::reply(ctx.skb.skb, ip);
        if r == SVC_PASS {
            r = dp::svc::forward(ctx.skb.skb, ip, 0);
        }
        if r == SVC_DONE {
            r = dp::svc::apply(ctx.skb.skb, ip);
        }
        if r == SVC_DROP {
            return Ok(TC_ACT_SHOT);
        }
    }
    if let Some(ep) = endpoint(&ip.dst) {
        return Ok(deliver(ctx.skb.skb, ip, ep, PathKind::Local, cfg));
    }
    let mode = Mode::from_u32(cfg.mode);
    // An egress gateway policy's traffic: to its gateway through the
    // tunnel (Geneve unless the node runs VXLAN), or translated here when
    // this node is the gateway.
    if cfg.flags & CFG_FLAG_EGRESS != 0 {
        match dp::egw::steer(ctx.skb.skb, ip) {
            dp::egw::EGW_DROP => return Ok(TC_ACT_SHOT),
            dp::egw::EGW_REMOTE => {
                let remote = dp::egw::remote().ok_or(DropReason::EgressNoGateway)?;
                let tunnel_mode = if mode == Mode::Vxlan {
                    Mode::Vxlan
                } else if cfg.geneve_port != 0 {
                    Mode::Geneve
                } else {
                    return Err(DropReason::NoTunnel);
                };
                return Ok(tunnel_out(ctx.skb.skb, ip, cfg, tunnel_mode, remote));
            }
            dp::egw::EGW_LOCAL => return Ok(egress_snat(ctx.skb.skb, ip, ifindex)),
            _ => {}
        }
    }
    if mode != Mode::Native
        && let Some(remote) = tunnel(&ip.dst)
    {
        return Ok(tunnel_out(ctx.skb.skb, ip, cfg, mode, remote));
    }
    Ok(native(ctx.skb.skb, ip, ifindex, cfg))
}

/// This node is the gateway of `ip`'s egress policy (set by `egw::steer`
/// or `egw::set_policy_id`): translated to the egress IP, then routed out
/// by the FIB. A frame of its own, so that the callers' stay small.
#[inline(never)]
fn egress_snat(skb: *mut aya_ebpf::bindings::__sk_buff, ip: &mut dp::pkt::L3, ifindex: u32) -> i32 {
    let Some(cfg) = config() else {
        return TC_ACT_SHOT;
    };
    let mut r = dp::egw::snat(skb, ip);
    if r == SVC_DONE {
        r = dp::egw::snat_commit(ip);
    }
    if r == SVC_DONE {
        r = dp::svc::apply(skb, ip);
    }
    if r == SVC_DROP {
        return TC_ACT_SHOT;
    }
    native(skb, ip, ifindex, cfg)
}

#[classifier]
pub fn tern_uplink_ingress(ctx: TcContext) -> i32 {
    verdict(try_uplink_ingress(&ctx))
}

fn try_uplink_ingress(ctx: &TcContext) -> Result<i32, DropReason> {
    let mut slot = MaybeUninit::uninit();
    if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut slot)? {
        return Ok(to_stack());
    }
    // SAFETY: parse_l3 answered true: it initialised `slot`.
    let ip = unsafe { slot.assume_init_mut() };
    let Some(cfg) = config() else {
        return Ok(to_stack());
    };
    // To one of this node's SIDs (or locators): decapsulated into the VRF.
    if ip.v6 && cfg.flags & CFG_FLAG_SRV6 != 0 {
        let v = dp::srv6::sid_in(ctx.skb.skb, ip, cfg);
        if v != dp::srv6::SRV6_PASS {
            return Ok(v);
        }
    }
    let local = if ip.v6 {
        cfg.local_v6 != [0; 16] && ip.dst.addr == cfg.local_v6
    } else {
        cfg.local_v4 != [0; 4] && ip.dst == v4_key(cfg.local_v4)
    };
    // A router's word about one of our tunnel packets: the path MTU to
    // that node (the message goes on to the stack).
    if local && !ip.frag && (ip.proto == IPPROTO_ICMP || ip.proto == IPPROTO_ICMPV6) {
        dp::tunnel::learn_path_mtu(ctx.skb.skb, ip, cfg);
    }
    // A fragmented Geneve packet (never sent by us: the outer header has DF)
    // is left to the stack, which reassembles or drops it.
    if local && ip.proto == IPPROTO_UDP && !ip.frag && cfg.geneve_port != 0 {
        let ports: [u8; 4] = load(ctx, ip.off + ip.hdr_len)?;
        if u16::from_be_bytes([ports[2], ports[3]]) == cfg.geneve_port {
            let v = geneve_in(ctx.skb.skb, ip, cfg);
            if v == GENEVE_EGRESS {
                if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut slot)? {
                    return Err(DropReason::EgressUnsupported);
                }
                // SAFETY: parse_l3 answered true: it initialised `slot` again.
                let inner = unsafe { slot.assume_init_mut() };
                return Ok(egress_snat(ctx.skb.skb, inner, skb_ifindex(ctx)));
            }
            if v != GENEVE_DECAPSULATED {
                return Ok(v);
            }
            // Decapsulated, with services on: a reply from a backend on
            // another node is translated back, then delivered.
            if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut slot)? {
                return Err(DropReason::NoEndpoint);
            }
            // SAFETY: parse_l3 answered true: it initialised `slot` again.
            let inner = unsafe { slot.assume_init_mut() };
            let mut r = dp::svc::reply(ctx.skb.skb, inner);
            if r == SVC_DONE {
                r = dp::svc::apply(ctx.skb.skb, inner);
            }
            if r == SVC_DROP {
                return Ok(TC_ACT_SHOT);
            }
            let ep = endpoint(&inner.dst).ok_or(DropReason::NoEndpoint)?;
            return Ok(deliver(ctx.skb.skb, inner, ep, PathKind::GeneveDecap, cfg));
        }
    }
    // Replies of translated connections (services, egress gateway flows),
    // and connections to services.
    if cfg.flags & (CFG_FLAG_SERVICES | CFG_FLAG_EGRESS) != 0 && forwardable(ip) {
        let mut r = dp::svc::reply(ctx.skb.skb, ip);
        if r == SVC_PASS {
            r = dp::svc::forward(ctx.skb.skb, ip, 1);
        }
        if r == SVC_DONE {
            r = dp::svc::apply(ctx.skb.skb, ip);
        }
        if r == SVC_DROP {
            return Ok(TC_ACT_SHOT);
        }
        if r == SVC_DONE {
            // Translated: to a local pod, through a tunnel, or routed.
            if let Some(ep) = endpoint(&ip.dst) {
                return Ok(deliver(ctx.skb.skb, ip, ep, PathKind::UplinkDeliver, cfg));
            }
            let mode = Mode::from_u32(cfg.mode);
            if mode != Mode::Native
                && let Some(remote) = tunnel(&ip.dst)
            {
                return Ok(tunnel_out(ctx.skb.skb, ip, cfg, mode, remote));
            }
            return Ok(native(ctx.skb.skb, ip, skb_ifindex(ctx), cfg));
        }
    }
    if forwardable(ip)
        && let Some(ep) = endpoint(&ip.dst)
    {
        return Ok(deliver(ctx.skb.skb, ip, ep, PathKind::UplinkDeliver, cfg));
    }
    Ok(to_stack())
}

/// XDP on the uplink: north-south service packets to a pod of this node,
/// translated and redirected into the pod's veth (dp/xdp.rs); everything
/// else passes on to `tern_uplink_ingress`.
#[xdp]
pub fn tern_uplink_xdp(ctx: XdpContext) -> u32 {
    dp::xdp::uplink(&ctx)
}

#[classifier]
pub fn tern_vxlan_ingress(ctx: TcContext) -> i32 {
    verdict(try_vxlan_ingress(&ctx))
}

fn try_vxlan_ingress(ctx: &TcContext) -> Result<i32, DropReason> {
    // SAFETY: bpf_tunnel_key is plain old data.
    let mut key: bpf_tunnel_key = unsafe { core::mem::zeroed() };
    let size = core::mem::size_of::<bpf_tunnel_key>() as u32;
    // SAFETY: `key` is a valid bpf_tunnel_key of the size passed. An IPv6
    // outer header needs the IPv6 flag, else the helper fails.
    let v4 = unsafe { bpf_skb_get_tunnel_key(ctx.skb.skb, &mut key, size, 0) } == 0;
    // SAFETY: as above.
    if !v4
        && unsafe {
            bpf_skb_get_tunnel_key(ctx.skb.skb, &mut key, size, u64::from(BPF_F_TUNINFO_IPV6))
        } != 0
    {
        return Err(DropReason::BadHeader);
    }
    // The outer source: only the cluster's nodes and external VTEPs may
    // send into it, whatever the VNI.
    // SAFETY: the helper filled the union member of the family it was asked for.
    let src = unsafe {
        if v4 {
            v4_key(key.__bindgen_anon_1.remote_ipv4.to_be_bytes()).addr
        } else {
            unwords(&key.__bindgen_anon_1.remote_ipv6)
        }
    };
    if !trusted_source(&src) {
        return Err(DropReason::UnknownTunnelSource);
    }
    let Some(cfg) = config() else {
        return Ok(to_stack());
    };
    // Another VNI is an egress gateway policy's, when this node serves it.
    let egress = key.tunnel_id != cfg.vni;
    if egress && cfg.flags & CFG_FLAG_EGRESS == 0 {
        return Err(DropReason::WrongVni);
    }
    let mut ip = MaybeUninit::uninit();
    if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut ip)? {
        return if egress {
            Err(DropReason::WrongVni)
        } else {
            Ok(to_stack())
        };
    }
    // SAFETY: parse_l3 answered true: it initialised `ip`.
    let ip = unsafe { ip.assume_init_mut() };
    if egress {
        if !dp::egw::serves(key.tunnel_id, ip.v6) {
            return Err(DropReason::WrongVni);
        }
        if !forwardable(ip) {
            return Err(DropReason::EgressUnsupported);
        }
        dp::egw::set_policy_id(key.tunnel_id);
        return Ok(egress_snat(ctx.skb.skb, ip, skb_ifindex(ctx)));
    }
    if !forwardable(ip) {
        return Ok(to_stack());
    }
    let ep = endpoint(&ip.dst).ok_or(DropReason::NoEndpoint)?;
    // A reply from a backend on another node to a local client: the
    // service's address becomes its source again.
    if cfg.flags & CFG_FLAG_SERVICES != 0 {
        let mut r = dp::svc::reply(ctx.skb.skb, ip);
        if r == SVC_DONE {
            r = dp::svc::apply(ctx.skb.skb, ip);
        }
        if r == SVC_DROP {
            return Ok(TC_ACT_SHOT);
        }
    }
    Ok(deliver(ctx.skb.skb, ip, ep, PathKind::VxlanDeliver, cfg))
}

/// Leaving the VXLAN device: the fragments the node's stack made of a pod's
/// packet too big for its tunnel (marked by `tern_pod_ingress`, routed by
/// ternd's rule into this device) are tunnelled one by one; everything
/// else (the pods' own tunnelled packets) passes untouched.
#[classifier]
pub fn tern_vxlan_egress(ctx: TcContext) -> i32 {
    // SAFETY: the context is the kernel's __sk_buff; mark is readable by TC programs.
    let mark = unsafe { (*ctx.skb.skb).mark };
    if mark == 0 {
        return TC_ACT_UNSPEC;
    }
    verdict(try_vxlan_egress(&ctx, mark))
}

fn try_vxlan_egress(ctx: &TcContext, mark: u32) -> Result<i32, DropReason> {
    let Some(cfg) = config() else {
        return Ok(TC_ACT_UNSPEC);
    };
    if mark != cfg.frag_mark {
        return Ok(TC_ACT_UNSPEC);
    }
    // The mark has done its work (the outer packet is routed without it).
    // SAFETY: as above; TC programs may write mark.
    unsafe { (*ctx.skb.skb).mark = 0 };
    let mut ip = MaybeUninit::uninit();
    if !parse_l3(ctx, ETH_LEN, ethertype(ctx)?, &mut ip)? {
        return Err(DropReason::NoTunnel);
    }
    // SAFETY: parse_l3 answered true: it initialised `ip`.
    let ip = unsafe { ip.assume_init_mut() };
    let remote = tunnel(&ip.dst).ok_or(DropReason::NoTunnel)?;
    Ok(dp::tunnel::tunnel_fragment(
        ctx.skb.skb,
        ip,
        cfg,
        Mode::from_u32(cfg.mode),
        remote,
    ))
}

/// Does nothing: the baseline of the benchmark.
#[classifier]
pub fn tern_noop(_ctx: TcContext) -> i32 {
    TC_ACT_UNSPEC
}

/// Benchmark probe: reads the IPv4 destination and looks it up in the
/// endpoint map (one hash lookup), nothing else. Never attached.
#[classifier]
pub fn tern_probe_endpoint(ctx: TcContext) -> i32 {
    if let Ok(h) = ptr_at::<[u8; 20]>(&ctx, ETH_LEN) {
        // SAFETY: `ptr_at` checked the 20 bytes.
        let h = unsafe { &*h };
        let dst = v4_key([h[16], h[17], h[18], h[19]]);
        if endpoint(&dst).is_some() {
            return TC_ACT_OK;
        }
    }
    TC_ACT_UNSPEC
}

/// Benchmark probe: one bpf_fib_lookup for the packet's IPv4 addresses
/// (as the native path makes it), nothing else. Never attached.
#[classifier]
pub fn tern_probe_fib(ctx: TcContext) -> i32 {
    if let Ok(h) = ptr_at::<[u8; 20]>(&ctx, ETH_LEN) {
        // SAFETY: `ptr_at` checked the 20 bytes.
        let h = unsafe { &*h };
        let (src, dst) = (
            v4_key([h[12], h[13], h[14], h[15]]),
            v4_key([h[16], h[17], h[18], h[19]]),
        );
        // SAFETY: plain old data, filled by fib_params.
        let mut p: FibParams = unsafe { core::mem::zeroed() };
        let p = fib_params(&mut p, false, h[9], skb_ifindex(&ctx), &src, &dst);
        if fib_lookup(&ctx, p, 0) == 0 {
            return TC_ACT_OK;
        }
    }
    TC_ACT_UNSPEC
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
