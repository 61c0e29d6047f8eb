//! Socket-level balancing for pods and the node (cgroup sock_addr hooks):
//! a connect() or an unconnected sendmsg() to a frontend is given a
//! backend's address before any packet exists, so the connection's packets
//! carry the backend address end to end and no per-packet translation is
//! needed; recvmsg() and getpeername() show the frontend again, from what
//! the socket was given (keyed by the socket's cookie).
//!
//! Only sockets of the network namespaces ternd lists (its pods', the
//! node's own) are touched: several nodes (ternd instances) share one
//! kernel and one cgroup tree in the lab. Services with client affinity or
//! source ranges are left to the TC programs (the client address is not
//! known at connect time). A frontend without a backend refuses connect()
//! (EPERM).
use aya_ebpf::{
    bindings::bpf_sock_addr,
    helpers::generated::{bpf_get_netns_cookie, bpf_get_prandom_u32, bpf_get_socket_cookie},
    macros::{cgroup_sock_addr, map},
    maps::{HashMap, LruHashMap},
    programs::SockAddrContext,
};
use tern_ebpf_common::services::{
    MAX_SOCK_NETNS, SOCK_REVNAT_ENTRIES, SVC_F_ADDRESS, SVC_F_AFFINITY, SVC_F_RANDOM,
    SVC_F_SOURCE_RANGES, ServiceKey, SockRevKey, SockRevValue,
};

use super::{
    pkt::{IPPROTO_UDP, v4_key},
    svc::{IPPROTO_TCP, backend, service, table_id},
};

#[map(name = "TERN_SOCK_NETNS")]
static SOCK_NETNS: HashMap<u64, u32> = HashMap::with_max_entries(MAX_SOCK_NETNS, 0);

#[map(name = "TERN_SOCK_REVNAT")]
static SOCK_REVNAT: LruHashMap<SockRevKey, SockRevValue> =
    LruHashMap::with_max_entries(SOCK_REVNAT_ENTRIES, 0);

/// Allow the call (cgroup sock_addr programs: 1 allows, 0 refuses).
const ALLOW: i32 = 1;
const REFUSE: i32 = 0;

#[inline(always)]
fn ours(ctx: &SockAddrContext) -> bool {
    // SAFETY: a plain helper call on this program's context.
    let ns = unsafe { bpf_get_netns_cookie(ctx.sock_addr.cast()) };
    // SAFETY: map values stay valid while the program runs; plain data.
    unsafe { SOCK_NETNS.get(&ns) }.is_some()
}

#[inline(always)]
fn v6_of(w: &[u32; 4]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0..4].copy_from_slice(&w[0].to_ne_bytes());
    a[4..8].copy_from_slice(&w[1].to_ne_bytes());
    a[8..12].copy_from_slice(&w[2].to_ne_bytes());
    a[12..16].copy_from_slice(&w[3].to_ne_bytes());
    a
}

#[inline(always)]
fn words_of(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}

/// The destination of the call: address ([`IpKey`] layout) and port.
#[inline(always)]
fn dest(sa: &bpf_sock_addr, v6: bool) -> ([u8; 16], u16) {
    let addr = if v6 {
        v6_of(&sa.user_ip6)
    } else {
        v4_key(sa.user_ip4.to_ne_bytes()).addr
    };
    (addr, u16::from_be(sa.user_port as u16))
}

#[inline(always)]
fn set_dest(sa: &mut bpf_sock_addr, v6: bool, addr: &[u8; 16], port: u16) {
    if v6 {
        sa.user_ip6 = words_of(addr);
    } else {
        sa.user_ip4 = u32::from_ne_bytes([addr[12], addr[13], addr[14], addr[15]]);
    }
    sa.user_port = u32::from(port.to_be());
}

/// connect / sendmsg: a frontend becomes one of its backends.
#[inline(always)]
fn balance(ctx: &SockAddrContext, v6: bool) -> i32 {
    if !ours(ctx) {
        return ALLOW;
    }
    // SAFETY: the kernel's context for this program, valid while it runs.
    let sa = unsafe { &mut *ctx.sock_addr };
    let proto = sa.protocol as u8;
    if proto != IPPROTO_TCP && proto != IPPROTO_UDP {
        return ALLOW;
    }
    let (addr, port) = dest(sa, v6);
    let key = ServiceKey {
        addr,
        port,
        proto,
        pad: 0,
    };
    let Some(svc) = service(&key) else {
        return ALLOW;
    };
    if svc.flags & (SVC_F_ADDRESS | SVC_F_AFFINITY | SVC_F_SOURCE_RANGES) != 0 {
        return ALLOW;
    }
    if svc.table_size == 0 {
        return REFUSE;
    }
    // SAFETY: plain helper calls on this program's context.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) };
    let pick = if svc.flags & SVC_F_RANDOM != 0 {
        // SAFETY: a plain helper call.
        unsafe { bpf_get_prandom_u32() }
    } else {
        // A socket keeps its pick: the cookie, mixed.
        let h = cookie.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as u32
    };
    let Some(id) = table_id(svc.table_off.wrapping_add(pick % svc.table_size)) else {
        return ALLOW;
    };
    let Some(b) = backend(id) else {
        return ALLOW;
    };
    // The backend of the other family than the socket's cannot be used.
    let b_v4 = b.addr[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    if b_v4 == v6 {
        return ALLOW;
    }
    let rk = SockRevKey {
        cookie,
        addr: b.addr,
        port: b.port,
        pad: [0; 6],
    };
    let rv = SockRevValue { addr, port, pad: 0 };
    let _ = SOCK_REVNAT.insert(&rk, &rv, 0);
    set_dest(sa, v6, &b.addr, b.port);
    ALLOW
}

/// recvmsg / getpeername: a backend the socket was given shows as the
/// frontend it asked for.
#[inline(always)]
fn reverse(ctx: &SockAddrContext, v6: bool) -> i32 {
    if !ours(ctx) {
        return ALLOW;
    }
    // SAFETY: the kernel's context for this program, valid while it runs.
    let sa = unsafe { &mut *ctx.sock_addr };
    let (addr, port) = dest(sa, v6);
    // SAFETY: a plain helper call on this program's context.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.sock_addr.cast()) };
    let rk = SockRevKey {
        cookie,
        addr,
        port,
        pad: [0; 6],
    };
    // SAFETY: map values stay valid while the program runs; plain data.
    if let Some(v) = unsafe { SOCK_REVNAT.get(&rk) } {
        let (a, p) = (v.addr, v.port);
        set_dest(sa, v6, &a, p);
    }
    ALLOW
}

#[cgroup_sock_addr(connect4)]
pub fn tern_sock_connect4(ctx: SockAddrContext) -> i32 {
    balance(&ctx, false)
}

#[cgroup_sock_addr(connect6)]
pub fn tern_sock_connect6(ctx: SockAddrContext) -> i32 {
    balance(&ctx, true)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn tern_sock_sendmsg4(ctx: SockAddrContext) -> i32 {
    balance(&ctx, false)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn tern_sock_sendmsg6(ctx: SockAddrContext) -> i32 {
    balance(&ctx, true)
}

#[cgroup_sock_addr(recvmsg4)]
pub fn tern_sock_recvmsg4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx, false)
}

#[cgroup_sock_addr(recvmsg6)]
pub fn tern_sock_recvmsg6(ctx: SockAddrContext) -> i32 {
    reverse(&ctx, true)
}

#[cgroup_sock_addr(getpeername4)]
pub fn tern_sock_getpeername4(ctx: SockAddrContext) -> i32 {
    reverse(&ctx, false)
}

#[cgroup_sock_addr(getpeername6)]
pub fn tern_sock_getpeername6(ctx: SockAddrContext) -> i32 {
    reverse(&ctx, true)
}
