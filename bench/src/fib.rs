//! Counting the DUT's kernel FIB while it fills, from a thread inside the
//! DUT's namespace. A poll of the whole table costs too much at 1M routes
//! (reading /proc/net/fib_triestat walks the trie: ~80 ms of kernel time per
//! read, a netlink dump more), so the counter listens to the kernel's
//! RTM_NEWROUTE / RTM_DELROUTE notifications (group RTMGRP_IPV4_ROUTE, one
//! per route change, with a large receive buffer, drained with recvmmsg
//! every 5 ms rather than woken per route) and keeps a bitmap of the
//! injected prefixes present in the main table. If the buffer overflows
//! anyway (ENOBUFS: notifications lost) it falls back to polling
//! fib_triestat every half second, and says so. After the clock has stopped,
//! [`verify`] checks the count with one full rtnetlink dump.
//!
//! With a shared table (the scale mode: every injector announces the same
//! prefixes, prefix k's best path via injector k mod N) a prefix counts only
//! while its route goes via that injector. The gateway is the route's
//! RTA_GATEWAY, or the gateway of its nexthop object (RTA_NH_ID, as FRR's
//! zebra installs them; the counter then also listens to the nexthop
//! group). A route whose gateway it cannot tell counts as present.

use std::collections::HashMap;
use std::fs;
use std::io::IoSliceMut;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use ipnet::Ipv4Net;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, MultiHeaders, NetlinkAddr, SockFlag, SockProtocol, SockType, bind,
    recvmmsg, setsockopt, socket, sockopt,
};

use crate::measure::Event;
use crate::{netns, prefixes};

/// rtnetlink multicast group of IPv4 route changes.
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNEXTHOP: u16 = 104;
const RTM_DELNEXTHOP: u16 = 105;
/// RTNLGRP_NEXTHOP (32) as a bind() group bit.
const RTNLGRP_NEXTHOP_BIT: u32 = 1 << 31;
const RTA_GATEWAY: u16 = 5;
const RTA_NH_ID: u16 = 30;
const NHA_ID: u16 = 1;
const NHA_GATEWAY: u16 = 6;
const AF_INET: u8 = 2;
const RT_TABLE_MAIN: u32 = 254;
const RTN_UNICAST: u8 = 1;
const RTA_DST: u16 = 1;
const RTA_TABLE: u16 = 15;
/// Receive buffer of the listener (SO_RCVBUFFORCE, we are root).
const RCVBUF: usize = 1 << 30;
/// Receive slots per recvmmsg, and their size (a route notification is
/// about 100 octets).
const SLOTS: usize = 256;
const SLOT: usize = 2048;
/// Pause between drains of the listener (the time resolution).
const DRAIN_PAUSE: Duration = Duration::from_millis(5);
/// Poll interval after an overflow.
const FALLBACK_POLL: Duration = Duration::from_millis(500);

/// The counter's thread; dropping it stops and joins the thread.
pub struct FibCounter {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Injected prefixes in the main table now.
    pub seen: Arc<AtomicUsize>,
    /// Set when notifications were lost and the counter fell back to polling.
    pub overflowed: Arc<AtomicBool>,
}

impl FibCounter {
    /// Starts listening in `netns` for the first `target` injected prefixes;
    /// returns once the listener is bound, so nothing after it is missed.
    /// With `poll`, it counts by polling fib_triestat only (coarse; a
    /// cross-check that the listener does not slow the DUT down).
    /// `injectors`: N of a shared table (prefix k counts only via injector
    /// k mod N).
    pub fn start(
        netns: PathBuf,
        target: usize,
        injectors: Option<usize>,
        poll: bool,
        events: mpsc::Sender<Event>,
    ) -> Result<FibCounter> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(AtomicUsize::new(0));
        let overflowed = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let shared = (stop.clone(), seen.clone(), overflowed.clone());
        let thread = std::thread::Builder::new()
            .name("bench-fib".into())
            .spawn(move || {
                let (stop, seen, overflowed) = shared;
                let mut routes = Routes::new(target, injectors);
                let r = count(
                    &netns,
                    poll,
                    &mut routes,
                    &stop,
                    &seen,
                    &overflowed,
                    &ready_tx,
                );
                match r {
                    Ok(Some(t)) => {
                        let _ = events.send(Event::FibComplete(t));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        // Before the listener was ready the error goes to
                        // `start`; after, to the run.
                        if ready_tx.send(Err(anyhow!("{e:#}"))).is_err() {
                            let _ = events.send(Event::Failed(format!("FIB counter: {e:#}")));
                        }
                    }
                }
            })
            .context("starting the FIB counter")?;
        ready_rx
            .recv()
            .map_err(|_| anyhow!("the FIB counter ended before it was ready"))??;
        Ok(FibCounter {
            thread: Some(thread),
            stop,
            seen,
            overflowed,
        })
    }

    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FibCounter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The counter's body: the instant the FIB held `target` injected prefixes,
/// or `None` when stopped before that.
fn count(
    netns: &std::path::Path,
    poll_only: bool,
    routes: &mut Routes,
    stop: &AtomicBool,
    seen: &AtomicUsize,
    overflowed: &AtomicBool,
    ready: &mpsc::Sender<Result<()>>,
) -> Result<Option<Instant>> {
    netns::enter(netns)?;
    let target = routes.target;
    let base = fib_prefixes()?;
    if poll_only {
        let _ = ready.send(Ok(()));
        return poll(base, target, stop, seen);
    }
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .context("opening a netlink socket")?;
    setsockopt(&fd, sockopt::RcvBufForce, &RCVBUF).context("SO_RCVBUFFORCE")?;
    let groups = if routes.injectors.is_some() {
        RTMGRP_IPV4_ROUTE | RTNLGRP_NEXTHOP_BIT
    } else {
        RTMGRP_IPV4_ROUTE
    };
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, groups)).context("joining RTMGRP_IPV4_ROUTE")?;
    let _ = ready.send(Ok(()));
    let mut slots = vec![[0u8; SLOT]; SLOTS];
    let mut lens = Vec::with_capacity(SLOTS);
    let mut headers = MultiHeaders::<NetlinkAddr>::preallocate(SLOTS, None);
    while !stop.load(Ordering::Relaxed) {
        match receive_batch(fd.as_raw_fd(), &mut headers, &mut slots, &mut lens) {
            Ok(()) if lens.is_empty() => std::thread::sleep(DRAIN_PAUSE),
            Ok(()) => {
                for (slot, len) in slots.iter().zip(&lens) {
                    apply(slot.get(..*len).unwrap_or_default(), routes);
                }
                seen.store(routes.table.held(), Ordering::Relaxed);
                if routes.table.held() >= target {
                    return Ok(Some(Instant::now()));
                }
            }
            Err(Errno::ENOBUFS) => {
                overflowed.store(true, Ordering::Relaxed);
                drop(fd);
                return poll(base, target, stop, seen);
            }
            Err(e) => return Err(anyhow!("reading route notifications: {e}")),
        }
    }
    Ok(None)
}

/// Receives up to `slots.len()` queued notifications with one recvmmsg
/// (non-blocking); `lens` gets the length of each, empty when none waited.
fn receive_batch(
    fd: RawFd,
    headers: &mut MultiHeaders<NetlinkAddr>,
    slots: &mut [[u8; SLOT]],
    lens: &mut Vec<usize>,
) -> Result<(), Errno> {
    lens.clear();
    let mut iovs: Vec<[IoSliceMut<'_>; 1]> = slots
        .iter_mut()
        .map(|s| [IoSliceMut::new(s.as_mut_slice())])
        .collect();
    match recvmmsg(fd, headers, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None) {
        Ok(received) => {
            for r in received {
                if r.flags.contains(MsgFlags::MSG_TRUNC) {
                    // Larger than a slot: not a route of ours (they are
                    // ~100 octets); skip it rather than misparse it.
                    lens.push(0);
                } else {
                    lens.push(r.bytes);
                }
            }
            Ok(())
        }
        Err(Errno::EAGAIN | Errno::EINTR) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The fallback: fib_triestat's prefix count against the one at start.
fn poll(
    base: usize,
    target: usize,
    stop: &AtomicBool,
    seen: &AtomicUsize,
) -> Result<Option<Instant>> {
    while !stop.load(Ordering::Relaxed) {
        let n = fib_prefixes()?.saturating_sub(base);
        seen.store(n, Ordering::Relaxed);
        if n >= target {
            return Ok(Some(Instant::now()));
        }
        std::thread::sleep(FALLBACK_POLL);
    }
    Ok(None)
}

/// Applies the route notifications in one datagram to `table`.
/// The injected prefixes in the main table, and what the gateway check of a
/// shared table needs.
struct Routes {
    table: prefixes::Table,
    target: usize,
    /// N with a shared table: prefix k must go via injector k mod N.
    injectors: Option<usize>,
    /// Gateways of the nexthop objects announced so far.
    nexthops: HashMap<u32, Ipv4Addr>,
}

impl Routes {
    fn new(target: usize, injectors: Option<usize>) -> Routes {
        Routes {
            table: prefixes::Table::new(target),
            target,
            injectors,
            nexthops: HashMap::new(),
        }
    }

    /// Whether a route to `p` via `gw` is the one that counts.
    fn wanted(&self, p: Ipv4Net, gw: Option<Ipv4Addr>) -> bool {
        let (Some(n), Some(gw)) = (self.injectors, gw) else {
            return true;
        };
        match prefixes::index_of(p, self.target) {
            Some(k) => gw == netns::injector_addr(k % n.max(1)),
            None => true,
        }
    }
}

fn apply(mut buf: &[u8], routes: &mut Routes) {
    while buf.len() >= 16 {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < 16 || len > buf.len() {
            return;
        }
        let body = buf.get(16..len).unwrap_or_default();
        match kind {
            RTM_NEWROUTE | RTM_DELROUTE => {
                if let Some(r) = unicast_main_v4(body) {
                    let gw = r
                        .gateway
                        .or_else(|| r.nh_id.and_then(|id| routes.nexthops.get(&id).copied()));
                    if kind == RTM_NEWROUTE && routes.wanted(r.prefix, gw) {
                        routes.table.announce(r.prefix);
                    } else {
                        routes.table.withdraw(r.prefix);
                    }
                }
            }
            RTM_NEWNEXTHOP | RTM_DELNEXTHOP => {
                if let Some((id, gw)) = nexthop_v4(body) {
                    if kind == RTM_NEWNEXTHOP {
                        routes.nexthops.insert(id, gw);
                    } else {
                        routes.nexthops.remove(&id);
                    }
                }
            }
            _ => {}
        }
        buf = buf.get(align4(len)..).unwrap_or_default();
    }
}

/// The route attributes [`apply`] reads.
struct RouteInfo {
    prefix: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    nh_id: Option<u32>,
}

/// Id and IPv4 gateway of an RTM_NEWNEXTHOP / RTM_DELNEXTHOP body (struct
/// nhmsg, 8 octets, then attributes).
fn nexthop_v4(body: &[u8]) -> Option<(u32, Ipv4Addr)> {
    let mut id = None;
    let mut gw = None;
    let mut attrs = body.get(8..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = attrs.get(4..len)?;
        match kind {
            NHA_ID if value.len() == 4 => {
                id = Some(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]));
            }
            NHA_GATEWAY if value.len() == 4 => {
                gw = Some(Ipv4Addr::new(value[0], value[1], value[2], value[3]));
            }
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or_default();
    }
    Some((id?, gw?))
}

fn unicast_main_v4(body: &[u8]) -> Option<RouteInfo> {
    // struct rtmsg { u8 family, dst_len, src_len, tos, table, protocol,
    // scope, type; u32 flags; } then attributes.
    let (&family, &dst_len, &table8, &rtype) =
        (body.first()?, body.get(1)?, body.get(4)?, body.get(7)?);
    if family != AF_INET || rtype != RTN_UNICAST {
        return None;
    }
    let mut table = u32::from(table8);
    let mut dst = None;
    let mut gateway = None;
    let mut nh_id = None;
    let mut attrs = body.get(12..)?;
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        let kind = u16::from_ne_bytes([attrs[2], attrs[3]]);
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = attrs.get(4..len)?;
        match kind {
            RTA_DST if value.len() == 4 => {
                dst = Some(std::net::Ipv4Addr::new(
                    value[0], value[1], value[2], value[3],
                ));
            }
            RTA_TABLE if value.len() == 4 => {
                table = u32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
            }
            RTA_GATEWAY if value.len() == 4 => {
                gateway = Some(Ipv4Addr::new(value[0], value[1], value[2], value[3]));
            }
            RTA_NH_ID if value.len() == 4 => {
                nh_id = Some(u32::from_ne_bytes([value[0], value[1], value[2], value[3]]));
            }
            _ => {}
        }
        attrs = attrs.get(align4(len)..).unwrap_or_default();
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    Some(RouteInfo {
        prefix: Ipv4Net::new(dst?, dst_len).ok()?,
        gateway,
        nh_id,
    })
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The "Prefixes" count of the main trie of the calling thread's namespace
/// (local and main share one trie when there are no policy rules).
fn fib_prefixes() -> Result<usize> {
    // /proc/net follows the process's namespace, thread-self the thread's.
    let path = "/proc/thread-self/net/fib_triestat";
    let text = fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    let main = text
        .split("Main:")
        .nth(1)
        .ok_or_else(|| anyhow!("{path}: no Main: section"))?;
    main.lines()
        .find_map(|l| l.trim().strip_prefix("Prefixes:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| anyhow!("{path}: no Prefixes: line"))
}

/// How many of the first `total` injected prefixes the main table of
/// `netns` holds, from one full rtnetlink dump.
pub fn verify(netns: PathBuf, total: usize) -> Result<usize> {
    let t = std::thread::Builder::new()
        .name("bench-verify".into())
        .spawn(move || -> Result<usize> {
            netns::enter(&netns)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let nl = tern_netlink::Netlink::open()?;
                let routes = nl.routes(None, Some(RT_TABLE_MAIN)).await?;
                Ok(routes
                    .iter()
                    .filter(|r| match r.prefix {
                        ipnet::IpNet::V4(p) => prefixes::index_of(p, total).is_some(),
                        ipnet::IpNet::V6(_) => false,
                    })
                    .count())
            })
        })
        .context("starting the FIB check")?;
    t.join().map_err(|_| anyhow!("the FIB check panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWROUTE as the kernel sends it for 100.64.1.0/24 in table 254.
    fn newroute(kind: u16, table: u32, third: u8) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[AF_INET, 24, 0, 0, 254, 202, 0, RTN_UNICAST, 0, 0, 0, 0]);
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_TABLE.to_ne_bytes());
        m.extend_from_slice(&table.to_ne_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&RTA_DST.to_ne_bytes());
        m.extend_from_slice(&[100, 64, third, 0]);
        let len = (m.len() as u32).to_ne_bytes();
        m[..4].copy_from_slice(&len);
        m
    }

    #[test]
    fn counts_main_table_notifications() {
        let mut r = Routes::new(10, None);
        let mut both = newroute(RTM_NEWROUTE, 254, 1);
        both.extend(newroute(RTM_NEWROUTE, 254, 2));
        apply(&both, &mut r);
        assert_eq!(r.table.held(), 2);
        apply(&newroute(RTM_NEWROUTE, 100, 3), &mut r);
        assert_eq!(r.table.held(), 2);
        apply(&newroute(RTM_DELROUTE, 254, 1), &mut r);
        assert_eq!(r.table.held(), 1);
        apply(&[1, 2, 3], &mut r);
        assert_eq!(r.table.held(), 1);
    }

    /// `m` with one more 4-octet attribute, its length fixed up.
    fn with_attr(mut m: Vec<u8>, kind: u16, value: [u8; 4]) -> Vec<u8> {
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&value);
        let len = (m.len() as u32).to_ne_bytes();
        m[..4].copy_from_slice(&len);
        m
    }

    #[test]
    fn shared_table_counts_only_the_best_injectors_gateway() {
        // Two injectors: prefix 1 (100.64.1.0/24) must go via injector 1
        // (192.0.2.12), prefix 2 via injector 0 (192.0.2.11).
        let mut r = Routes::new(10, Some(2));
        let via = |third, gw| with_attr(newroute(RTM_NEWROUTE, 254, third), RTA_GATEWAY, gw);
        apply(&via(1, [192, 0, 2, 11]), &mut r);
        assert_eq!(r.table.held(), 0);
        apply(&via(1, [192, 0, 2, 12]), &mut r);
        assert_eq!(r.table.held(), 1);
        apply(&via(1, [192, 0, 2, 11]), &mut r);
        assert_eq!(r.table.held(), 0);
        // Through a nexthop object announced before the route.
        let mut nh = Vec::new();
        nh.extend_from_slice(&0u32.to_ne_bytes());
        nh.extend_from_slice(&RTM_NEWNEXTHOP.to_ne_bytes());
        nh.extend_from_slice(&[0; 10]);
        nh.extend_from_slice(&[AF_INET, 0, 0, 0, 0, 0, 0, 0]);
        let nh = with_attr(nh, NHA_ID, 7u32.to_ne_bytes());
        let nh = with_attr(nh, NHA_GATEWAY, [192, 0, 2, 11]);
        apply(&nh, &mut r);
        apply(
            &with_attr(
                newroute(RTM_NEWROUTE, 254, 2),
                RTA_NH_ID,
                7u32.to_ne_bytes(),
            ),
            &mut r,
        );
        assert_eq!(r.table.held(), 1);
    }
}
