//! The uplink's XDP fast path for north-south service traffic: a TCP or UDP
//! packet to a frontend whose backend is a pod of this node is translated
//! (DNAT, checksums fixed incrementally, TTL decremented, MACs rewritten)
//! and redirected to the pod's host-side veth before the kernel builds an
//! skb. It uses the TC path's maps (services, backends, Maglev tables,
//! conntrack) the same way, so a connection may start on one path and go
//! on on the other with the same backend.
//!
//! Everything else is `XDP_PASS`, untouched, for `tern_uplink_ingress` to
//! handle exactly as without XDP: not IPv4/IPv6 over plain Ethernet, IPv4
//! options or fragments, IPv6 extension headers, ICMP, a frontend address
//! on a port no service has, services with source ranges, client affinity
//! or the random algorithm, a backend on another node or one that needs
//! SNAT, an existing connection that was SNATed, a TTL about to expire, a
//! frame shorter than its headers say. XDP never drops: the TC program
//! counts drops by reason.
//!
//! Replies leave the pod through its veth, where `tern_pod_ingress`
//! translates them back from the reply entry written here.
use aya_ebpf::{
    bindings::{BPF_NOEXIST, xdp_action},
    helpers::generated::bpf_redirect,
    macros::map,
    maps::PerCpuArray,
    programs::XdpContext,
};
use tern_ebpf_common::{
    datapath::{CFG_FLAG_SERVICES, EP_FLAG_VETH_PEER, EndpointInfo, IpKey, PathKind},
    services::{
        CT_DIR_FORWARD, CT_DIR_REPLY, CT_F_SNAT, CT_STATE_CLOSING, CtEntry, CtKey, SVC_F_ADDRESS,
        SVC_F_AFFINITY, SVC_F_RANDOM, SVC_F_SOURCE_RANGES, ServiceKey, flow_hash,
    },
};

use super::{
    maps::{EpDir, config, count_endpoint, count_path, endpoint},
    pkt::{ETH_LEN, ETH_P_IP, ETH_P_IPV6, IPPROTO_UDP, v4_key},
    svc::{
        CT, IPPROTO_TCP, TCP_ACK, TCP_SYN, backend, close_partner, next_state, now, service,
        table_id,
    },
};

const PASS: u32 = xdp_action::XDP_PASS;

/// Per-CPU room for the keys and entries being built (the BPF stack is 512
/// bytes for the whole call chain).
#[repr(C)]
struct Scratch {
    key: ServiceKey,
    ck: CtKey,
    rk: CtKey,
    fwd: CtEntry,
    rev: CtEntry,
}

#[map(name = "TERN_XDP_SCRATCH")]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// A pointer to the `size_of::<T>()` bytes at `off`, or `None` past the
/// end of the frame (XDP sees one linear buffer: there is nothing to pull).
#[inline(always)]
fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Option<*mut T> {
    let p = (ctx.data() as *mut u8).wrapping_add(off);
    if p.wrapping_add(core::mem::size_of::<T>()) <= ctx.data_end() as *mut u8 {
        Some(p.cast())
    } else {
        None
    }
}

/// What the parse found: the packet's addresses and ports, where its
/// headers are.
struct Flow {
    src: IpKey,
    dst: IpKey,
    sport: u16,
    dport: u16,
    proto: u8,
    flags: u8,
    v6: bool,
    /// Offset of the L4 header.
    l4: usize,
}

/// The verdict for a frame arriving on the uplink.
#[inline(always)]
pub fn uplink(ctx: &XdpContext) -> u32 {
    try_uplink(ctx).unwrap_or(PASS)
}

#[inline(always)]
fn try_uplink(ctx: &XdpContext) -> Option<u32> {
    let cfg = config()?;
    if cfg.flags & CFG_FLAG_SERVICES == 0 {
        return None;
    }
    let f = parse(ctx)?;
    let (addr, port, ep) = decide(&f)?;
    rewrite(ctx, &f, &addr, port, ep)?;
    count_endpoint(ep.id, EpDir::ToPod, (ctx.data_end() - ctx.data()) as u64);
    count_path(PathKind::ServiceXdp);
    // SAFETY: a plain helper call; flags must be 0. For XDP it answers
    // XDP_REDIRECT (the frame leaves through the pod's host veth, into the
    // pod) or XDP_ABORTED for a bad ifindex.
    Some(unsafe { bpf_redirect(ep.ifindex, 0) } as u32)
}

/// Ethernet, then IPv4 without options or fragments or IPv6 without
/// extension headers, then TCP or UDP with its whole header in the frame.
#[inline(always)]
fn parse(ctx: &XdpContext) -> Option<Flow> {
    let frame = ctx.data_end() - ctx.data();
    // SAFETY: `ptr_at` checked the 14 bytes.
    let eth = unsafe { &*ptr_at::<[u8; ETH_LEN]>(ctx, 0)? };
    let ethertype = u16::from_be_bytes([eth[12], eth[13]]);
    let (src, dst, proto, ttl, l4, len, v6) = if ethertype == ETH_P_IP {
        // SAFETY: `ptr_at` checked the 20 bytes.
        let h = unsafe { &*ptr_at::<[u8; 20]>(ctx, ETH_LEN)? };
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        // Version 4, no options, not a fragment, a length that fits.
        if h[0] != 0x45 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 || len < 20 {
            return None;
        }
        (
            v4_key([h[12], h[13], h[14], h[15]]),
            v4_key([h[16], h[17], h[18], h[19]]),
            h[9],
            h[8],
            ETH_LEN + 20,
            ETH_LEN + len,
            false,
        )
    } else if ethertype == ETH_P_IPV6 {
        // SAFETY: `ptr_at` checked the 40 bytes.
        let h = unsafe { &*ptr_at::<[u8; 40]>(ctx, ETH_LEN)? };
        if h[0] >> 4 != 6 {
            return None;
        }
        // SAFETY: 16-byte ranges inside the 40 checked bytes.
        let (s, d) = unsafe {
            (
                h.as_ptr().add(8).cast::<[u8; 16]>().read_unaligned(),
                h.as_ptr().add(24).cast::<[u8; 16]>().read_unaligned(),
            )
        };
        let payload = usize::from(u16::from_be_bytes([h[4], h[5]]));
        (
            IpKey { addr: s },
            IpKey { addr: d },
            h[6],
            h[7],
            ETH_LEN + 40,
            ETH_LEN + 40 + payload,
            true,
        )
    } else {
        return None;
    };
    // A TTL about to expire: the stack answers time exceeded.
    if ttl <= 1 || len > frame {
        return None;
    }
    let (sport, dport, flags) = if proto == IPPROTO_TCP {
        // SAFETY: `ptr_at` checked the 20 bytes of a TCP header.
        let t = unsafe { &*ptr_at::<[u8; 20]>(ctx, l4)? };
        if t[12] >> 4 < 5 || l4 + usize::from(t[12] >> 4) * 4 > len {
            return None;
        }
        (
            u16::from_be_bytes([t[0], t[1]]),
            u16::from_be_bytes([t[2], t[3]]),
            t[13],
        )
    } else if proto == IPPROTO_UDP {
        // SAFETY: `ptr_at` checked the 8 bytes of a UDP header.
        let u = unsafe { &*ptr_at::<[u8; 8]>(ctx, l4)? };
        if l4 + 8 > len || (v6 && u[6] == 0 && u[7] == 0) {
            // IPv6 UDP without a checksum is invalid: the stack's to judge.
            return None;
        }
        (
            u16::from_be_bytes([u[0], u[1]]),
            u16::from_be_bytes([u[2], u[3]]),
            0,
        )
    } else {
        return None;
    };
    Some(Flow {
        src,
        dst,
        sport,
        dport,
        proto,
        flags,
        v6,
        l4,
    })
}

/// The backend (address, port) and its pod for the flow, with the
/// conntrack entries written as the TC path writes them; `None` when the
/// TC path must decide (nothing was changed then).
#[inline(always)]
fn decide(f: &Flow) -> Option<([u8; 16], u16, &'static EndpointInfo)> {
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    let s = unsafe { &mut *SCRATCH.get_ptr_mut(0)? };
    s.key = ServiceKey {
        addr: f.dst.addr,
        port: f.dport,
        proto: f.proto,
        pad: 0,
    };
    let svc = service(&s.key)?;
    if svc.flags & (SVC_F_ADDRESS | SVC_F_AFFINITY | SVC_F_SOURCE_RANGES | SVC_F_RANDOM) != 0 {
        return None;
    }
    let t = now();
    s.ck = CtKey {
        src: f.src.addr,
        dst: f.dst.addr,
        sport: f.sport,
        dport: f.dport,
        proto: f.proto,
        dir: CT_DIR_FORWARD,
        pad: 0,
    };
    let opening = f.proto == IPPROTO_TCP && f.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
    if let Some(e) = CT.get_ptr_mut(&s.ck) {
        // SAFETY: an entry of the map, valid while the program runs; a
        // concurrent writer of the same entry can only race on the expiry.
        let e = unsafe { &mut *e };
        if !(opening && e.state == CT_STATE_CLOSING)
            && let Some(b) = backend(e.backend_id)
            && b.addr == e.addr_a
            && b.port == e.port_a
        {
            // An SNATed connection (its backend is remote, or was when it
            // began) stays with the TC path.
            if e.flags & CT_F_SNAT != 0 {
                return None;
            }
            let ep = local_pod(&e.addr_a)?;
            let (state, timeout) = next_state(f.proto, e.state, f.flags, false);
            e.state = state;
            e.expires = t + timeout;
            s.rk = CtKey {
                src: e.addr_a,
                dst: f.src.addr,
                sport: e.port_a,
                dport: f.sport,
                proto: f.proto,
                dir: CT_DIR_REPLY,
                pad: 0,
            };
            // SAFETY: map values stay valid while the program runs; plain data.
            if unsafe { CT.get(&s.rk) }.is_none() {
                // Evicted or collected while the forward entry lived.
                s.rev = CtEntry {
                    expires: e.expires,
                    addr_a: f.dst.addr,
                    addr_b: f.src.addr,
                    port_a: f.dport,
                    port_b: f.sport,
                    backend_id: e.backend_id,
                    service_id: e.service_id,
                    flags: 0,
                    state,
                    pad: 0,
                };
                let _ = CT.insert(&s.rk, &s.rev, u64::from(BPF_NOEXIST));
            } else if state == CT_STATE_CLOSING {
                close_partner(&s.rk, e.expires);
            }
            return Some((e.addr_a, e.port_a, ep));
        }
    }
    // A new connection (or one whose backend went away): the Maglev table's
    // pick, by the hash every node computes alike.
    if svc.table_size == 0 {
        return None;
    }
    let hash = flow_hash(&f.src.addr, &f.dst.addr, f.sport, f.dport, f.proto);
    let bid = table_id(svc.table_off.wrapping_add(hash % svc.table_size))?;
    let b = backend(bid)?;
    // A client that is itself the backend (hairpin) needs SNAT: TC's.
    if b.addr == f.src.addr {
        return None;
    }
    let ep = local_pod(&b.addr)?;
    let (state, timeout) = next_state(f.proto, 0, f.flags, false);
    s.fwd = CtEntry {
        expires: t + timeout,
        addr_a: b.addr,
        addr_b: [0; 16],
        port_a: b.port,
        port_b: 0,
        backend_id: bid,
        service_id: svc.id,
        flags: 0,
        state,
        pad: 0,
    };
    s.rk = CtKey {
        src: b.addr,
        dst: f.src.addr,
        sport: b.port,
        dport: f.sport,
        proto: f.proto,
        dir: CT_DIR_REPLY,
        pad: 0,
    };
    s.rev = CtEntry {
        expires: t + timeout,
        addr_a: f.dst.addr,
        addr_b: f.src.addr,
        port_a: f.dport,
        port_b: f.sport,
        backend_id: bid,
        service_id: svc.id,
        flags: 0,
        state,
        pad: 0,
    };
    CT.insert(&s.rk, &s.rev, 0).ok()?;
    CT.insert(&s.ck, &s.fwd, 0).ok()?;
    Some((b.addr, b.port, ep))
}

/// The pod of this node at `addr`, if it sits behind a veth (XDP redirects
/// into veths only).
#[inline(always)]
fn local_pod(addr: &[u8; 16]) -> Option<&'static EndpointInfo> {
    endpoint(&IpKey { addr: *addr }).filter(|ep| ep.flags & EP_FLAG_VETH_PEER != 0)
}

/// One's complement sum of the 16-bit words of `a` (as read in memory).
#[inline(always)]
fn sum16(a: &[u8; 16], v4: bool) -> u32 {
    let mut s = 0u32;
    let mut i = if v4 { 12 } else { 0 };
    while i < 16 {
        s += u32::from(u16::from_be_bytes([a[i], a[i + 1]]));
        i += 2;
    }
    s
}

/// The checksum `hc` after words summing to `old` were replaced by words
/// summing to `new` (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
#[inline(always)]
fn csum_update(hc: u16, old: u32, new: u32) -> u16 {
    let old = (old & 0xffff) + (old >> 16);
    let old = (old & 0xffff) + (old >> 16);
    let mut s = u32::from(!hc) + u32::from(!(old as u16)) + new;
    s = (s & 0xffff) + (s >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

/// Writes the backend as destination, fixes the checksums, decrements the
/// TTL and writes the pod's Ethernet addresses. Every pointer is taken
/// before the first write, so a frame is changed whole or not at all.
#[inline(always)]
fn rewrite(
    ctx: &XdpContext,
    f: &Flow,
    addr: &[u8; 16],
    port: u16,
    ep: &EndpointInfo,
) -> Option<()> {
    let csum_off = f.l4 + if f.proto == IPPROTO_TCP { 16 } else { 6 };
    let c = ptr_at::<[u8; 2]>(ctx, csum_off)?;
    let ports = ptr_at::<[u8; 4]>(ctx, f.l4)?;
    let macs = ptr_at::<[u8; 12]>(ctx, 0)?;
    // SAFETY: `ptr_at` checked each range; they lie in one frame that
    // nothing else touches while the program runs.
    let (c, ports, macs) = unsafe { (&mut *c, &mut *ports, &mut *macs) };
    if f.v6 {
        let h = ptr_at::<[u8; 40]>(ctx, ETH_LEN)?;
        // SAFETY: as above.
        let h = unsafe { &mut *h };
        h[24..40].copy_from_slice(addr);
        h[7] = h[7].wrapping_sub(1);
    } else {
        let h = ptr_at::<[u8; 20]>(ctx, ETH_LEN)?;
        // SAFETY: as above.
        let h = unsafe { &mut *h };
        let ttl = h[8].wrapping_sub(1);
        let old = sum16(&f.dst.addr, true) + u32::from(u16::from_be_bytes([h[8], h[9]]));
        let new = sum16(addr, true) + u32::from(u16::from_be_bytes([ttl, h[9]]));
        let hc = csum_update(u16::from_be_bytes([h[10], h[11]]), old, new);
        h[8] = ttl;
        h[10..12].copy_from_slice(&hc.to_be_bytes());
        h[16..20].copy_from_slice(&addr[12..16]);
    }
    // The L4 checksum: its pseudo header holds the destination address.
    let old = sum16(&f.dst.addr, !f.v6) + u32::from(f.dport);
    let new = sum16(addr, !f.v6) + u32::from(port);
    let hc = u16::from_be_bytes(*c);
    // A zero IPv4 UDP checksum means none: it stays 0.
    if !(f.proto == IPPROTO_UDP && hc == 0) {
        let mut n = csum_update(hc, old, new);
        if f.proto == IPPROTO_UDP && n == 0 {
            n = 0xffff;
        }
        *c = n.to_be_bytes();
    }
    let p = port.to_be_bytes();
    ports[2] = p[0];
    ports[3] = p[1];
    macs[..6].copy_from_slice(&ep.pod_mac);
    macs[6..].copy_from_slice(&ep.host_mac);
    Some(())
}
