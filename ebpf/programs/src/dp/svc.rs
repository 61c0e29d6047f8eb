//! Service load balancing: a packet to a frontend (VIP or cluster address,
//! port, protocol) is translated to a backend picked from the service's
//! Maglev (or random) table by the flow's hash, and written down in Tern's
//! own conntrack; replies are translated back. Layouts and the meaning of
//! each entry: tern-ebpf-common's `services` module.
//!
//! - [`forward`]: the first packet of a connection picks the backend (client
//!   affinity first, when the service has it; the source ranges checked);
//!   later packets find it in conntrack and keep it while the backend
//!   exists. Arriving on the uplink under policy cluster, a connection to a
//!   backend on another node is also SNATed to this node (a port from
//!   `SNAT_PORT_MIN..=SNAT_PORT_MAX` that no other connection to that
//!   backend uses), so its replies come back here.
//! - [`reply`]: a packet that matches a reply entry gets the frontend as its
//!   source again (and the client as its destination after SNAT).
//!
//! Both rewrite the packet in place and the parsed [`L3`] with it; the
//! caller then routes the packet as any other (to a local pod, a tunnel,
//! the FIB). Checksums are fixed with bpf_l3/l4_csum_replace, which keep
//! CHECKSUM_PARTIAL packets (GSO) right; a zero IPv4 UDP checksum stays 0.
use aya_ebpf::{
    bindings::{
        __sk_buff, BPF_F_MARK_MANGLED_0, BPF_F_MMAPABLE, BPF_F_PSEUDO_HDR, BPF_NOEXIST, TC_ACT_SHOT,
    },
    helpers::generated::{
        bpf_get_prandom_u32, bpf_ktime_get_ns, bpf_l3_csum_replace, bpf_l4_csum_replace,
    },
    macros::map,
    maps::{Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, lpm_trie::Key},
    programs::TcContext,
};
use tern_ebpf_common::{
    datapath::{DatapathConfig, DropReason, IpKey, PathKind},
    services::{
        AFFINITY_ENTRIES, AffinityEntry, AffinityKey, BACKEND_F_PRESENT, Backend, CT_DIR_FORWARD,
        CT_DIR_REPLY, CT_ENTRIES, CT_F_EGRESS, CT_F_SNAT, CT_STATE_CLOSING, CT_STATE_ESTABLISHED,
        CT_STATE_OTHER, CT_STATE_SYN, CtEntry, CtKey, LB_TABLE_ENTRIES, MAX_BACKENDS,
        MAX_SERVICE_ENTRIES, SNAT_PORT_MAX, SNAT_PORT_MIN, SOURCE_RANGE_ENTRIES, SVC_F_ADDRESS,
        SVC_F_AFFINITY, SVC_F_LOCAL, SVC_F_RANDOM, SVC_F_SOURCE_RANGES, ServiceEntry, ServiceKey,
        ServicesConfig, flow_hash,
    },
};

use super::{
    maps::{config, count_drop, count_path, endpoint},
    pkt::{IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP, L3, load, v4_key},
};

pub const IPPROTO_TCP: u8 = 6;
const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// [`forward`] / [`reply`]: not a service packet, left as it was.
pub const SVC_PASS: i32 = 0;
/// Translated: route the packet by its new addresses.
pub const SVC_DONE: i32 = 1;
/// Dropped (counted): return `TC_ACT_SHOT`.
pub const SVC_DROP: i32 = TC_ACT_SHOT;

#[map(name = "TERN_SERVICES")]
static SERVICES: HashMap<ServiceKey, ServiceEntry> =
    HashMap::with_max_entries(MAX_SERVICE_ENTRIES, 0);

#[map(name = "TERN_BACKENDS")]
static BACKENDS: Array<Backend> = Array::with_max_entries(MAX_BACKENDS, 0);

/// The pool of tables: `LB_TABLE_ENTRIES` u32 ids, held as pairs (an array
/// element takes 8 bytes whatever its value size, so u32 values would leave
/// holes in the memory ternd maps; a little-endian u64 is two ids in a row).
#[map(name = "TERN_LB_TABLE")]
static LB_TABLE: Array<u64> = Array::with_max_entries(LB_TABLE_ENTRIES / 2, BPF_F_MMAPABLE);

/// The id at `i` of the table pool.
#[inline(always)]
pub fn table_id(i: u32) -> Option<u32> {
    let pair = *LB_TABLE.get(i / 2)?;
    Some(if i & 1 == 0 {
        pair as u32
    } else {
        (pair >> 32) as u32
    })
}

#[map(name = "TERN_CT")]
pub static CT: LruHashMap<CtKey, CtEntry> = LruHashMap::with_max_entries(CT_ENTRIES, 0);

#[map(name = "TERN_AFFINITY")]
static AFFINITY: LruHashMap<AffinityKey, AffinityEntry> =
    LruHashMap::with_max_entries(AFFINITY_ENTRIES, 0);

#[map(name = "TERN_SRC_RANGES")]
static SRC_RANGES: LpmTrie<[u8; 20], u32> = LpmTrie::with_max_entries(SOURCE_RANGE_ENTRIES, 0);

#[map(name = "TERN_SVC_CONFIG")]
static SVC_CONFIG: Array<ServicesConfig> = Array::with_max_entries(1, 0);

/// Per-CPU room for the conntrack keys and entries being built (the BPF
/// stack is 512 bytes for the whole call chain).
#[repr(C)]
struct Scratch {
    ck: CtKey,
    rk: CtKey,
    fwd: CtEntry,
    rev: CtEntry,
    key: ServiceKey,
    ak: AffinityKey,
}

#[map(name = "TERN_SVC_SCRATCH")]
static SCRATCH: PerCpuArray<Scratch> = PerCpuArray::with_max_entries(1, 0);

/// The ports and TCP flags of a TCP or UDP packet that is not a fragment.
#[derive(Clone, Copy)]
pub struct Ports {
    pub sport: u16,
    pub dport: u16,
    pub flags: u8,
}

#[inline(always)]
pub fn ports(ctx: &TcContext, ip: &L3) -> Result<Option<Ports>, DropReason> {
    if ip.frag || (ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP) {
        return Ok(None);
    }
    let l4 = ip.off + ip.hdr_len;
    let p: [u8; 4] = load(ctx, l4)?;
    let flags = if ip.proto == IPPROTO_TCP {
        load::<u8>(ctx, l4 + 13)?
    } else {
        0
    };
    Ok(Some(Ports {
        sport: u16::from_be_bytes([p[0], p[1]]),
        dport: u16::from_be_bytes([p[2], p[3]]),
        flags,
    }))
}

#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: a plain helper call.
    unsafe { bpf_ktime_get_ns() }
}

/// The state after a packet with TCP `flags` (UDP: other), and its timeout
/// (the egress gateway's timeouts for its flows, the services' otherwise).
#[inline(always)]
pub fn next_state(proto: u8, old: u8, flags: u8, egress: bool) -> (u8, u64) {
    let t = if egress {
        super::egw::timeouts()
    } else {
        SVC_CONFIG.get(0).copied().unwrap_or(ServicesConfig {
            tcp_syn: 60,
            tcp_established: 21600,
            tcp_closing: 10,
            other: 60,
        })
    };
    let state = if proto != IPPROTO_TCP {
        CT_STATE_OTHER
    } else if flags & (TCP_FIN | TCP_RST) != 0 {
        CT_STATE_CLOSING
    } else if flags & TCP_SYN != 0 && flags & TCP_ACK == 0 {
        CT_STATE_SYN
    } else if old == CT_STATE_CLOSING {
        CT_STATE_CLOSING
    } else {
        CT_STATE_ESTABLISHED
    };
    let secs = match state {
        CT_STATE_SYN => t.tcp_syn,
        CT_STATE_ESTABLISHED => t.tcp_established,
        CT_STATE_CLOSING => t.tcp_closing,
        _ => t.other,
    };
    (state, u64::from(secs) * 1_000_000_000)
}

/// A connection that closes in one direction (FIN or RST seen) closes in
/// both: the entry of the other direction (`key`) takes the closing state
/// and expires no later than `expires`. Otherwise a client that resets a
/// connection would leave the other side's entry established for hours,
/// and with it the connection's SNAT port.
#[inline(always)]
pub fn close_partner(key: &CtKey, expires: u64) {
    if let Some(p) = CT.get_ptr_mut(key) {
        // SAFETY: an entry of the map, valid while the program runs; a
        // concurrent writer of the same entry can only race on the expiry.
        let p = unsafe { &mut *p };
        p.state = CT_STATE_CLOSING;
        if p.expires > expires {
            p.expires = expires;
        }
    }
}

/// The frontend `key`, if there is one.
#[inline(always)]
pub fn service(key: &ServiceKey) -> Option<&'static ServiceEntry> {
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { SERVICES.get(key) }
}

/// Whether `addr` is a frontend address (a marker entry exists).
#[inline(always)]
fn is_frontend_addr(addr: &IpKey) -> bool {
    let k = ServiceKey {
        addr: addr.addr,
        port: 0,
        proto: 0,
        pad: 0,
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { SERVICES.get(&k) }.is_some_and(|e| e.flags & SVC_F_ADDRESS != 0)
}

/// The backend with `id`, if it exists and still is `addr:port`.
#[inline(always)]
pub fn backend(id: u32) -> Option<&'static Backend> {
    BACKENDS
        .get(id)
        .filter(|b| id != 0 && b.flags & BACKEND_F_PRESENT != 0)
}

#[inline(always)]
fn source_allowed(service: u32, src: &IpKey) -> bool {
    let mut data = [0u8; 20];
    data[..4].copy_from_slice(&service.to_be_bytes());
    data[4..].copy_from_slice(&src.addr);
    SRC_RANGES.get(Key::new(160, data)).is_some()
}

/// Translates a packet to a frontend. `from_uplink`: it came from outside
/// the node (a remote backend under policy cluster means SNAT). Returns
/// [`SVC_PASS`], [`SVC_DONE`] or [`SVC_DROP`].
#[inline(never)]
pub fn forward(skb: *mut __sk_buff, ip: &mut L3, from_uplink: u32) -> i32 {
    // The settings are looked up here rather than passed: LLVM would
    // otherwise pass their fields by value, more than BPF's five registers.
    let Some(cfg) = config() else {
        return SVC_PASS;
    };
    outcome(forward_inner(
        &TcContext::new(skb),
        ip,
        cfg,
        from_uplink != 0,
    ))
}

#[inline(always)]
fn outcome(r: Result<bool, DropReason>) -> i32 {
    match r {
        Ok(false) => SVC_PASS,
        Ok(true) => SVC_DONE,
        Err(reason) => {
            count_drop(reason);
            SVC_DROP
        }
    }
}

#[inline(always)]
fn forward_inner(
    ctx: &TcContext,
    ip: &mut L3,
    cfg: &DatapathConfig,
    from_uplink: bool,
) -> Result<bool, DropReason> {
    let Some(p) = ports(ctx, ip)? else {
        return if is_frontend_addr(&ip.dst) {
            Err(DropReason::NoService)
        } else {
            Ok(false)
        };
    };
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    let s = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(DropReason::NatFailed)? };
    s.key = ServiceKey {
        addr: ip.dst.addr,
        port: p.dport,
        proto: ip.proto,
        pad: 0,
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    let Some(svc) = (unsafe { SERVICES.get(&s.key) }) else {
        return if is_frontend_addr(&ip.dst) {
            Err(DropReason::NoService)
        } else {
            Ok(false)
        };
    };
    if svc.flags & SVC_F_ADDRESS != 0 {
        return Err(DropReason::NoService);
    }
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
    // An opening SYN on the tuple of a connection that was closing is a
    // new connection: it picks again (by today's policy and backends).
    let opening = ip.proto == IPPROTO_TCP && p.flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
    if let Some(e) = CT.get_ptr_mut(&s.ck) {
        // SAFETY: an entry of the map, valid while the program runs; a
        // concurrent writer of the same entry can only race on the expiry.
        let e = unsafe { &mut *e };
        if !(opening && e.state == CT_STATE_CLOSING)
            && let Some(b) = backend(e.backend_id)
            && b.addr == e.addr_a
            && b.port == e.port_a
        {
            let (state, timeout) = next_state(ip.proto, e.state, p.flags, false);
            e.state = state;
            e.expires = t + timeout;
            // The reply entry may have been evicted (LRU) or collected
            // while this one lived: without it the replies would leave
            // untranslated. Written again if it is missing.
            let snat = e.flags & CT_F_SNAT != 0;
            s.rk = CtKey {
                src: e.addr_a,
                dst: if snat { e.addr_b } else { ip.src.addr },
                sport: e.port_a,
                dport: if snat { e.port_b } else { p.sport },
                proto: ip.proto,
                dir: CT_DIR_REPLY,
                pad: 0,
            };
            // SAFETY: map values stay valid while the program runs; plain data.
            if unsafe { CT.get(&s.rk) }.is_none() {
                s.rev = CtEntry {
                    expires: e.expires,
                    addr_a: ip.dst.addr,
                    addr_b: ip.src.addr,
                    port_a: p.dport,
                    port_b: p.sport,
                    backend_id: e.backend_id,
                    service_id: e.service_id,
                    flags: e.flags & CT_F_SNAT,
                    state,
                    pad: 0,
                };
                let _ = CT.insert(&s.rk, &s.rev, u64::from(BPF_NOEXIST));
            } else if state == CT_STATE_CLOSING {
                close_partner(&s.rk, e.expires);
            }
            let n = nat()?;
            n.dst = e.addr_a;
            n.dport = e.port_a;
            n.src = e.addr_b;
            n.sport = e.port_b;
            n.flags = NAT_DST | if e.flags & CT_F_SNAT != 0 { NAT_SRC } else { 0 };
            count_path(PathKind::ServiceForward);
            return Ok(true);
        }
    }
    // A new connection (or one whose backend went away).
    if svc.flags & SVC_F_SOURCE_RANGES != 0 && !source_allowed(svc.id, &ip.src) {
        return Err(DropReason::SourceRange);
    }
    if svc.table_size == 0 {
        return Err(DropReason::NoBackend);
    }
    let hash = flow_hash(&ip.src.addr, &ip.dst.addr, p.sport, p.dport, ip.proto);
    s.ak = AffinityKey {
        client: ip.src.addr,
        service_id: svc.id,
    };
    let mut bid = 0u32;
    if svc.flags & SVC_F_AFFINITY != 0 {
        // SAFETY: as above.
        if let Some(a) = unsafe { AFFINITY.get(&s.ak) }
            && a.expires > t
            && backend(a.backend_id).is_some()
        {
            bid = a.backend_id;
        }
    }
    if bid == 0 {
        let slot = if svc.flags & SVC_F_RANDOM != 0 {
            // SAFETY: a plain helper call.
            (unsafe { bpf_get_prandom_u32() }) % svc.table_size
        } else {
            hash % svc.table_size
        };
        bid = table_id(svc.table_off.wrapping_add(slot)).ok_or(DropReason::NoBackend)?;
    }
    let b = backend(bid).ok_or(DropReason::NoBackend)?;
    if svc.flags & SVC_F_AFFINITY != 0 {
        let a = AffinityEntry {
            expires: t + u64::from(svc.affinity_timeout) * 1_000_000_000,
            backend_id: bid,
            pad: 0,
        };
        let _ = AFFINITY.insert(&s.ak, &a, 0);
    }
    let (state, timeout) = next_state(ip.proto, 0, p.flags, false);
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
        dst: ip.src.addr,
        sport: b.port,
        dport: p.sport,
        proto: ip.proto,
        dir: CT_DIR_REPLY,
        pad: 0,
    };
    s.rev = CtEntry {
        expires: t + timeout,
        addr_a: ip.dst.addr,
        addr_b: ip.src.addr,
        port_a: p.dport,
        port_b: p.sport,
        backend_id: bid,
        service_id: svc.id,
        flags: 0,
        state,
        pad: 0,
    };
    // A pod that reaches itself through a service (hairpin) would get a
    // packet from its own address, which its kernel drops: the frontend
    // becomes the source, and the reply entry turns it back.
    let hairpin = b.addr == ip.src.addr;
    let snat = hairpin
        || (from_uplink
            && svc.flags & SVC_F_LOCAL == 0
            && endpoint(&IpKey { addr: b.addr }).is_none());
    if snat {
        if hairpin {
            s.rk.dst = ip.dst.addr;
        } else if (IpKey { addr: b.addr }).as_v4().is_some() {
            if cfg.local_v4 == [0; 4] {
                return Err(DropReason::NatFailed);
            }
            s.rk.dst = IpKey::v4(cfg.local_v4).addr;
        } else {
            if cfg.local_v6 == [0; 16] {
                return Err(DropReason::NatFailed);
            }
            s.rk.dst = cfg.local_v6;
        }
        s.rev.flags = CT_F_SNAT;
        let range = u32::from(SNAT_PORT_MAX - SNAT_PORT_MIN) + 1;
        let mut port = 0u16;
        let mut i = 0u32;
        while i < 8 {
            let candidate = SNAT_PORT_MIN + ((hash.rotate_left(i * 5) + i) % range) as u16;
            s.rk.dport = candidate;
            if CT.insert(&s.rk, &s.rev, u64::from(BPF_NOEXIST)).is_ok() {
                port = candidate;
                break;
            }
            i += 1;
        }
        if port == 0 {
            return Err(DropReason::NatFailed);
        }
        s.fwd.flags = CT_F_SNAT;
        s.fwd.addr_b = s.rk.dst;
        s.fwd.port_b = port;
    } else if CT.insert(&s.rk, &s.rev, 0).is_err() {
        return Err(DropReason::NatFailed);
    }
    if CT.insert(&s.ck, &s.fwd, 0).is_err() {
        return Err(DropReason::NatFailed);
    }
    let n = nat()?;
    n.dst = s.fwd.addr_a;
    n.dport = s.fwd.port_a;
    n.src = s.fwd.addr_b;
    n.sport = s.fwd.port_b;
    n.flags = NAT_DST | if snat { NAT_SRC } else { 0 };
    count_path(PathKind::ServiceForward);
    Ok(true)
}

/// Translates a reply of a translated connection back. Returns
/// [`SVC_PASS`], [`SVC_DONE`] or [`SVC_DROP`].
#[inline(never)]
pub fn reply(skb: *mut __sk_buff, ip: &mut L3) -> i32 {
    outcome(reply_inner(&TcContext::new(skb), ip))
}

#[inline(always)]
fn reply_inner(ctx: &TcContext, ip: &mut L3) -> Result<bool, DropReason> {
    let Some(p) = ports(ctx, ip)? else {
        return icmp_error(ctx, ip);
    };
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    let s = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(DropReason::NatFailed)? };
    s.rk = CtKey {
        src: ip.src.addr,
        dst: ip.dst.addr,
        sport: p.sport,
        dport: p.dport,
        proto: ip.proto,
        dir: CT_DIR_REPLY,
        pad: 0,
    };
    let Some(e) = CT.get_ptr_mut(&s.rk) else {
        return Ok(false);
    };
    // SAFETY: as in forward_inner.
    let e = unsafe { &mut *e };
    let egress = e.flags & CT_F_EGRESS != 0;
    let (state, timeout) = next_state(ip.proto, e.state, p.flags, egress);
    e.state = state;
    e.expires = now() + timeout;
    if state == CT_STATE_CLOSING {
        // The connection's forward entry, keyed as the client sends.
        s.ck = CtKey {
            src: e.addr_b,
            dst: e.addr_a,
            sport: e.port_b,
            dport: e.port_a,
            proto: ip.proto,
            dir: CT_DIR_FORWARD,
            pad: 0,
        };
        close_partner(&s.ck, e.expires);
    }
    let n = nat()?;
    n.src = e.addr_a;
    n.sport = e.port_a;
    n.dst = e.addr_b;
    n.dport = e.port_b;
    // An egress flow's source (the outside server) was never translated.
    n.flags = if egress { 0 } else { NAT_SRC } | if e.flags & CT_F_SNAT != 0 { NAT_DST } else { 0 };
    count_path(if egress {
        PathKind::EgressReply
    } else {
        PathKind::ServiceReply
    });
    Ok(true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Src,
    Dst,
}

/// The translation [`forward`] or [`reply`] (or the egress gateway)
/// decided, for [`apply`]: the new source and destination (each only when
/// its `NAT_*` flag is set).
#[repr(C)]
pub struct Nat {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub sport: u16,
    pub dport: u16,
    pub flags: u32,
}

pub const NAT_SRC: u32 = 1;
pub const NAT_DST: u32 = 2;

#[map(name = "TERN_NAT")]
static NAT: PerCpuArray<Nat> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
pub fn nat() -> Result<&'static mut Nat, DropReason> {
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    NAT.get_ptr_mut(0)
        .map(|p| unsafe { &mut *p })
        .ok_or(DropReason::NatFailed)
}

/// Rewrites the packet (and `ip`) as [`forward`] or [`reply`] decided when
/// it answered [`SVC_DONE`]. A frame of its own: called by the program,
/// not from inside the decision, so that the call chain fits BPF's 512
/// bytes of stack. Returns [`SVC_DONE`] or [`SVC_DROP`].
#[inline(never)]
pub fn apply(skb: *mut __sk_buff, ip: &mut L3) -> i32 {
    outcome(apply_inner(&TcContext::new(skb), ip).map(|()| true))
}

#[inline(always)]
fn apply_inner(ctx: &TcContext, ip: &mut L3) -> Result<(), DropReason> {
    let n = nat()?;
    if n.flags == 0 {
        return Ok(());
    }
    let p = ports(ctx, ip)?.ok_or(DropReason::NatFailed)?;
    if n.flags & NAT_DST != 0 {
        rewrite_inner(ctx, ip, Side::Dst, &n.dst, p.dport, n.dport)?;
    }
    if n.flags & NAT_SRC != 0 {
        rewrite_inner(ctx, ip, Side::Src, &n.src, p.sport, n.sport)?;
    }
    Ok(())
}

/// Rewrites the source or destination address and port of a TCP or UDP
/// packet (same family), fixing the IPv4 header checksum and the L4
/// checksum (pseudo header included), and updates `ip`.
#[inline(always)]
fn rewrite_inner(
    ctx: &TcContext,
    ip: &mut L3,
    side: Side,
    addr: &[u8; 16],
    old_port: u16,
    new_port: u16,
) -> Result<(), DropReason> {
    let skb = ctx.skb.skb;
    let l4 = ip.off + ip.hdr_len;
    let csum_off = (l4 + if ip.proto == IPPROTO_TCP { 16 } else { 6 }) as u32;
    let mangled = if ip.proto == IPPROTO_UDP {
        u64::from(BPF_F_MARK_MANGLED_0)
    } else {
        0
    };
    let old = if side == Side::Src {
        &ip.src.addr
    } else {
        &ip.dst.addr
    };
    if ip.v6 {
        let off = ip.off + if side == Side::Src { 8 } else { 24 };
        // The one's complement difference new - old of the 16 bytes, as a
        // 32-bit partial sum (what bpf_l4_csum_replace takes with size 0).
        let mut diff = 0u64;
        let mut i = 0;
        while i < 16 {
            diff += u64::from(!u16::from_ne_bytes([old[i], old[i + 1]]));
            diff += u64::from(u16::from_ne_bytes([addr[i], addr[i + 1]]));
            i += 2;
        }
        let diff = (diff & 0xffff_ffff) + (diff >> 32);
        let diff = (diff & 0xffff_ffff) + (diff >> 32);
        // SAFETY: plain helper calls on this program's skb; the offsets were
        // read from the packet's own headers.
        let rc = unsafe {
            bpf_l4_csum_replace(
                skb,
                csum_off,
                0,
                diff as u64,
                u64::from(BPF_F_PSEUDO_HDR) | mangled,
            )
        };
        if rc != 0 {
            return Err(DropReason::NatFailed);
        }
        ctx.store(off, addr, 0).map_err(|_| DropReason::NatFailed)?;
    } else {
        let off = ip.off + if side == Side::Src { 12 } else { 16 };
        let from = u32::from_ne_bytes([old[12], old[13], old[14], old[15]]);
        let to = u32::from_ne_bytes([addr[12], addr[13], addr[14], addr[15]]);
        // SAFETY: as above.
        let rc = unsafe {
            bpf_l4_csum_replace(
                skb,
                csum_off,
                u64::from(from),
                u64::from(to),
                u64::from(BPF_F_PSEUDO_HDR) | mangled | 4,
            ) | bpf_l3_csum_replace(skb, (ip.off + 10) as u32, u64::from(from), u64::from(to), 4)
        };
        if rc != 0 {
            return Err(DropReason::NatFailed);
        }
        ctx.store(off, &to, 0).map_err(|_| DropReason::NatFailed)?;
    }
    let port_off = l4 + if side == Side::Src { 0 } else { 2 };
    let from = u16::from_ne_bytes(old_port.to_be_bytes());
    let to = u16::from_ne_bytes(new_port.to_be_bytes());
    // SAFETY: as above.
    let rc =
        unsafe { bpf_l4_csum_replace(skb, csum_off, u64::from(from), u64::from(to), mangled | 2) };
    if rc != 0 {
        return Err(DropReason::NatFailed);
    }
    ctx.store(port_off, &to, 0)
        .map_err(|_| DropReason::NatFailed)?;
    let new = IpKey { addr: *addr };
    if side == Side::Src {
        ip.src = new;
    } else {
        ip.dst = new;
    }
    Ok(())
}

/// An ICMP error (destination unreachable, time exceeded; ICMPv6 also
/// packet too big) about a translated connection, on its way back: the
/// quoted packet is the one we translated, so it gets the frontend as its
/// destination again (and the client as its source after SNAT); the
/// error's own destination becomes the client after SNAT, and an error
/// sent by the backend itself comes from the frontend. Checksums: the
/// quoted IPv4 header's, the outer IPv4 header's, the ICMP checksum (with
/// its pseudo header for ICMPv6).
#[inline(always)]
fn icmp_error(ctx: &TcContext, ip: &mut L3) -> Result<bool, DropReason> {
    if ip.frag {
        return Ok(false);
    }
    let icmp = ip.off + ip.hdr_len;
    let t: [u8; 1] = load(ctx, icmp)?;
    let error = if ip.v6 {
        ip.proto == IPPROTO_ICMPV6 && (1..=3).contains(&t[0])
    } else {
        ip.proto == IPPROTO_ICMP && (t[0] == 3 || t[0] == 11)
    };
    if !error {
        return Ok(false);
    }
    let inner = icmp + 8;
    // The quoted header: addresses, protocol, length.
    let (isrc, idst, iproto, ihl) = if ip.v6 {
        let h: [u8; 40] = load(ctx, inner)?;
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        a.copy_from_slice(&h[8..24]);
        b.copy_from_slice(&h[24..40]);
        (a, b, h[6], 40)
    } else {
        let h: [u8; 20] = load(ctx, inner)?;
        let ihl = usize::from(h[0] & 0x0f) * 4;
        if h[0] >> 4 != 4 || ihl < 20 {
            return Ok(false);
        }
        (
            v4_key([h[12], h[13], h[14], h[15]]).addr,
            v4_key([h[16], h[17], h[18], h[19]]).addr,
            h[9],
            ihl,
        )
    };
    if iproto != IPPROTO_TCP && iproto != IPPROTO_UDP {
        return Ok(false);
    }
    let iports: [u8; 4] = load(ctx, inner + ihl)?;
    let (isport, idport) = (
        u16::from_be_bytes([iports[0], iports[1]]),
        u16::from_be_bytes([iports[2], iports[3]]),
    );
    // SAFETY: this CPU's slot; a program runs to completion on one CPU.
    let s = unsafe { &mut *SCRATCH.get_ptr_mut(0).ok_or(DropReason::NatFailed)? };
    // The quoted packet went to the backend: its reply would be keyed so.
    s.rk = CtKey {
        src: idst,
        dst: isrc,
        sport: idport,
        dport: isport,
        proto: iproto,
        dir: CT_DIR_REPLY,
        pad: 0,
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    let Some(e) = (unsafe { CT.get(&s.rk) }) else {
        return Ok(false);
    };
    s.rev = *e;
    let csum = icmp + 2;
    let (sa, da) = if ip.v6 { (8, 24) } else { (12, 16) };
    // Quoted destination: backend -> frontend.
    fix_addr(
        ctx,
        ip,
        inner,
        inner + da,
        &idst,
        &s.rev.addr_a,
        csum,
        false,
    )?;
    fix_port(ctx, inner + ihl + 2, idport, s.rev.port_a, csum)?;
    if s.rev.flags & CT_F_SNAT != 0 {
        // Quoted source: node -> client; and the error goes to the client.
        fix_addr(
            ctx,
            ip,
            inner,
            inner + sa,
            &isrc,
            &s.rev.addr_b,
            csum,
            false,
        )?;
        fix_port(ctx, inner + ihl, isport, s.rev.port_b, csum)?;
        let old = ip.dst.addr;
        fix_addr(
            ctx,
            ip,
            ip.off,
            ip.off + da,
            &old,
            &s.rev.addr_b,
            csum,
            true,
        )?;
        ip.dst.addr = s.rev.addr_b;
    }
    // Rewritten here: nothing left for `apply`.
    nat()?.flags = 0;
    if ip.src.addr == idst {
        // Sent by the backend itself: from the frontend.
        let old = ip.src.addr;
        fix_addr(
            ctx,
            ip,
            ip.off,
            ip.off + sa,
            &old,
            &s.rev.addr_a,
            csum,
            true,
        )?;
        ip.src.addr = s.rev.addr_a;
    }
    count_path(if s.rev.flags & CT_F_EGRESS != 0 {
        PathKind::EgressReply
    } else {
        PathKind::ServiceReply
    });
    Ok(true)
}

/// Replaces the address at `off` (in the IPv4 or IPv6 header at `hdr`)
/// from `old` to `new`: an IPv4 header's checksum is fixed (then the ICMP
/// checksum, which covers the quoted header, does not change); over IPv6
/// the ICMPv6 checksum at `csum` is (`pseudo`: the address is in its
/// pseudo header, the outer one).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fix_addr(
    ctx: &TcContext,
    ip: &L3,
    hdr: usize,
    off: usize,
    old: &[u8; 16],
    new: &[u8; 16],
    csum: usize,
    pseudo: bool,
) -> Result<(), DropReason> {
    let skb = ctx.skb.skb;
    if ip.v6 {
        let mut diff = 0u64;
        let mut i = 0;
        while i < 16 {
            diff += u64::from(!u16::from_ne_bytes([old[i], old[i + 1]]));
            diff += u64::from(u16::from_ne_bytes([new[i], new[i + 1]]));
            i += 2;
        }
        let diff = (diff & 0xffff_ffff) + (diff >> 32);
        let diff = (diff & 0xffff_ffff) + (diff >> 32);
        let flags = if pseudo {
            u64::from(BPF_F_PSEUDO_HDR)
        } else {
            0
        };
        // SAFETY: a plain helper call on this program's skb.
        if unsafe { bpf_l4_csum_replace(skb, csum as u32, 0, diff, flags) } != 0 {
            return Err(DropReason::NatFailed);
        }
        ctx.store(off, new, 0).map_err(|_| DropReason::NatFailed)
    } else {
        let from = u32::from_ne_bytes([old[12], old[13], old[14], old[15]]);
        let to = u32::from_ne_bytes([new[12], new[13], new[14], new[15]]);
        // SAFETY: as above.
        let rc = unsafe {
            bpf_l3_csum_replace(skb, (hdr + 10) as u32, u64::from(from), u64::from(to), 4)
        };
        if rc != 0 {
            return Err(DropReason::NatFailed);
        }
        ctx.store(off, &to, 0).map_err(|_| DropReason::NatFailed)
    }
}

/// Replaces a quoted port, fixing the ICMP checksum at `csum`.
#[inline(always)]
fn fix_port(
    ctx: &TcContext,
    off: usize,
    old: u16,
    new: u16,
    csum: usize,
) -> Result<(), DropReason> {
    let from = u16::from_ne_bytes(old.to_be_bytes());
    let to = u16::from_ne_bytes(new.to_be_bytes());
    // SAFETY: a plain helper call on this program's skb.
    let rc =
        unsafe { bpf_l4_csum_replace(ctx.skb.skb, csum as u32, u64::from(from), u64::from(to), 2) };
    if rc != 0 {
        return Err(DropReason::NatFailed);
    }
    ctx.store(off, &to, 0).map_err(|_| DropReason::NatFailed)
}
