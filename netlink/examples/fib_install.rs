//! FIB install rate: installs, replaces and deletes COUNT IPv4 (or IPv6) routes via a
//! veth next hop in a throwaway network namespace and prints routes/s for
//! each way of doing it. Prints only; it asserts nothing about timing.
//!
//!     cargo run --release -p tern-netlink --example fib_install -- [COUNT] [--len N] [--v6] [--address-order]
//!
//! The routes are written in `fib_write_order` (what ternd's FIB task
//! does), or in address order with `--address-order`, for comparison.
//!
//! Modes: Tern's pipelined batches with inline next hops, the same with
//! nexthop objects, next hops given by gateway only (as the BGP speaker
//! does; these stay inline), and, as a baseline, one rtnetlink request per route
//! through rtnetlink's Handle with 256 requests in flight.
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use ipnet::IpNet;
use netlink_packet_route::route::RouteProtocol;
use tern_netlink::{NextHop, Route, RouteOp, TERN_PROTO};

fn ip(args: &str) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("ip {args}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn prefixes(count: u32, len: u8, v6: bool) -> Vec<IpNet> {
    if v6 {
        let step = 1u128 << (128 - u32::from(len));
        let base = u128::from(std::net::Ipv6Addr::new(
            0x2001, 0xdb8, 0x1000, 0, 0, 0, 0, 0,
        ));
        return (0..u128::from(count))
            .filter_map(|i| IpNet::new(IpAddr::V6((base + i * step).into()), len).ok())
            .collect();
    }
    let step = 1u32 << (32 - u32::from(len));
    (0..count)
        .filter_map(|i| IpNet::new(IpAddr::V4(Ipv4Addr::from(0x1000_0000 + i * step)), len).ok())
        .collect()
}

fn row(mode: &str, op: &str, n: usize, failed: usize, took: Duration) {
    let rate = n as f64 / took.as_secs_f64();
    println!(
        "| {mode:<34} | {op:<8} | {n:>7} | {failed:>6} | {:>8.3} | {rate:>10.0} |",
        took.as_secs_f64()
    );
}

async fn batched(
    nl: &tern_netlink::Netlink,
    mode: &str,
    nets: &[IpNet],
    a: NextHop,
    b: NextHop,
) -> Result<(), String> {
    let install: Vec<RouteOp> = nets
        .iter()
        .map(|p| RouteOp::Replace(Route::new(*p, vec![a.clone()])))
        .collect();
    let change: Vec<RouteOp> = nets
        .iter()
        .map(|p| RouteOp::Replace(Route::new(*p, vec![b.clone()])))
        .collect();
    let delete: Vec<RouteOp> = nets
        .iter()
        .map(|p| RouteOp::Delete(Route::new(*p, vec![])))
        .collect();
    for (op, ops) in [
        ("install", &install),
        ("replace", &change),
        ("delete", &delete),
    ] {
        let r = nl.apply_batch(ops).await;
        row(mode, op, r.ops, r.failures.len(), r.elapsed);
        if let Some(f) = r.failures.first() {
            return Err(format!("{mode} {op}: op {} failed: {}", f.index, f.error));
        }
    }
    Ok(())
}

/// One `route_replace` call at a time (the incremental-update path).
async fn one_by_one(
    nl: &tern_netlink::Netlink,
    mode: &str,
    nets: &[IpNet],
    a: &NextHop,
) -> Result<(), String> {
    let started = Instant::now();
    for p in nets {
        nl.route_replace(&Route::new(*p, vec![a.clone()]))
            .await
            .map_err(|e| e.to_string())?;
    }
    row(mode, "install", nets.len(), 0, started.elapsed());
    nl.purge(TERN_PROTO).await.map_err(|e| e.to_string())?;
    Ok(())
}

async fn per_request(nets: &[IpNet], gw: Ipv4Addr, ifindex: u32) -> Result<(), String> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let started = Instant::now();
    let failed = futures::stream::iter(nets.iter().filter_map(|p| {
        match p {
            IpNet::V4(v4) => Some(
                rtnetlink::RouteMessageBuilder::<Ipv4Addr>::new()
                    .destination_prefix(v4.addr(), v4.prefix_len())
                    .gateway(gw)
                    .output_interface(ifindex)
                    .protocol(RouteProtocol::from(TERN_PROTO))
                    .build(),
            ),
            IpNet::V6(_) => None,
        }
    }))
    .map(|m| handle.route().add(m).replace().execute())
    .buffer_unordered(256)
    .filter(|r| futures::future::ready(r.is_err()))
    .count()
    .await;
    row(
        "rtnetlink Handle, 256 in flight",
        "install",
        nets.len(),
        failed,
        started.elapsed(),
    );
    Ok(())
}

async fn run(count: u32, len: u8, v6: bool, address_order: bool) -> Result<(), String> {
    ip("link set lo up")?;
    ip("link add veth0 type veth peer name veth1")?;
    for dev in ["veth0", "veth1"] {
        ip(&format!("link set {dev} up"))?;
    }
    ip("addr add 192.0.2.1/24 dev veth0")?;
    ip("-6 addr add 2001:db8:1::1/64 dev veth0 nodad")?;
    let nl = tern_netlink::Netlink::open().map_err(|e| e.to_string())?;
    let links = nl.links().await.map_err(|e| e.to_string())?;
    let veth0 = links
        .iter()
        .find(|l| l.name == "veth0")
        .map(|l| l.index)
        .ok_or("veth0 missing")?;
    let (ga, gb) = if v6 {
        ("2001:db8:1::2", "2001:db8:1::3")
    } else {
        ("192.0.2.2", "192.0.2.3")
    };
    let a = NextHop::via(ga.parse().map_err(|_| "ip")?, veth0);
    let b = NextHop::via(gb.parse().map_err(|_| "ip")?, veth0);
    let mut nets = prefixes(count, len, v6);
    if !address_order {
        nets.sort_by_key(tern_netlink::fib_write_order);
    }

    println!(
        "{count} IPv{} /{len} routes via veth0, in {} order, {} CPUs",
        if v6 { 6 } else { 4 },
        if address_order {
            "address"
        } else {
            "FIB write"
        },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "| {:<34} | {:<8} | {:>7} | {:>6} | {:>8} | {:>10} |",
        "mode", "op", "routes", "failed", "seconds", "routes/s"
    );
    println!(
        "|{:-<36}|{:-<10}|{:-<9}|{:-<8}|{:-<10}|{:-<12}|",
        "", "", "", "", "", ""
    );
    batched(
        &nl,
        "batched, inline next hops",
        &nets,
        a.clone(),
        b.clone(),
    )
    .await?;
    nl.set_nexthop_objects(true).await;
    batched(&nl, "batched, nexthop objects", &nets, a.clone(), b.clone()).await?;
    // What the BGP speaker sends: a gateway, no interface (always inline).
    let gw_only = |n: &NextHop| NextHop {
        ifindex: None,
        ..n.clone()
    };
    batched(
        &nl,
        "batched, gateway only (inline)",
        &nets,
        gw_only(&a),
        gw_only(&b),
    )
    .await?;
    let few = &nets[..nets.len().min(5000)];
    one_by_one(&nl, "route_replace one by one, nh objects", few, &a).await?;
    nl.set_nexthop_objects(false).await;
    one_by_one(&nl, "route_replace one by one, inline", few, &a).await?;
    nl.purge(TERN_PROTO).await.map_err(|e| e.to_string())?;
    if !v6 {
        per_request(&nets, Ipv4Addr::new(192, 0, 2, 2), veth0).await?;
    }
    let started = Instant::now();
    let purged = nl.purge(TERN_PROTO).await.map_err(|e| e.to_string())?;
    row(
        "purge (dump + batched delete)",
        "delete",
        purged,
        0,
        started.elapsed(),
    );
    Ok(())
}

fn main() {
    let mut count = 100_000u32;
    let mut len = None;
    let mut v6 = false;
    let mut address_order = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--len" => len = args.next().and_then(|v| v.parse::<u8>().ok()),
            "--v6" => v6 = true,
            "--address-order" => address_order = true,
            n => count = n.parse().unwrap_or(count),
        }
    }
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        eprintln!("unshare(CLONE_NEWNET) failed (run as root): {e}");
        std::process::exit(1);
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let max = if v6 { 128 } else { 32 };
    let len = len.unwrap_or(max).clamp(max / 4, max);
    if let Err(e) = rt.block_on(run(count, len, v6, address_order)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
