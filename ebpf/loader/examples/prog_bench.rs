//! Benchmark of the datapath programs through BPF_PROG_TEST_RUN: kernel
//! nanoseconds per program run for each path, next to a no-op program.
//! Not a test: prints a table. Run as root:
//! `cargo run --release -p tern-ebpf --example prog_bench [CALLS]`.
//!
//! Two columns: "fresh" runs each packet once per syscall (the kernel's own
//! timer around the single run, averaged over CALLS calls): every path is
//! measured on the packet it is meant for. "repeat" lets the kernel rerun
//! the program 200 times on the same skb: only paths whose output takes
//! the same path again can be measured that way (a TTL of 255 leaves room
//! for the decrements); for the others it shows "-".
//!
//! Two probe rows time one costly step alone (an endpoint hash lookup, a
//! bpf_fib_lookup), so that a path's cost can be read against them.
//!
//! The SRv6 rows run with SRv6 state written (a pod veth in VRF 100, SR
//! policies of 1 and 3 SIDs, an End.DT4 SID); every other row runs with
//! none, as a node without SRv6 does. Two of them show what the state
//! costs packets that do not use it (a pod outside any VRF, IPv6 on the
//! uplink to no SID).
//!
//! The process moves itself into a new network namespace first, with a
//! veth "uplink" for the FIB lookups; nothing leaves that namespace.
use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use tern_ebpf::{
    Datapath, DatapathConfig, Hook, Probe,
    datapath::{EP_FLAG_VETH_PEER, EndpointInfo, Mode},
    srv6::{Behavior, Srv6Encap, Srv6State},
};

const POD_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0a];
const HOST_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x0b];

fn sh(cmd: &str) -> Result<()> {
    let out = Command::new("sh").arg("-c").arg(cmd).output()?;
    if !out.status.success() {
        bail!("`{cmd}`: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn csum(d: &[u8]) -> u16 {
    let mut s: u32 = d
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn eth(t: u16) -> Vec<u8> {
    let mut f = HOST_MAC.to_vec();
    f.extend_from_slice(&POD_MAC);
    f.extend_from_slice(&t.to_be_bytes());
    f
}

fn ipv4_hdr(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, total: usize) -> Vec<u8> {
    let mut h = vec![0u8; 20];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    h[6] = 0x40;
    h[8] = 255;
    h[9] = proto;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h
}

/// Ethernet + IPv4 + UDP, 128 bytes of payload, TTL 255.
fn v4(src: Ipv4Addr, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut f = eth(0x0800);
    f.extend(ipv4_hdr(src, dst, 17, 28 + 128));
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&(8u16 + 128).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(std::iter::repeat_n(0xab, 128));
    f
}

/// Ethernet + IPv6 + UDP, 128 bytes of payload, hop limit 255.
fn v6(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let mut f = eth(0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&(8u16 + 128).to_be_bytes());
    f.extend_from_slice(&[17, 255]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5001u16.to_be_bytes());
    f.extend_from_slice(&(8u16 + 128).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(std::iter::repeat_n(0xab, 128));
    f
}

struct Case {
    name: &'static str,
    mode: Mode,
    hook: Hook,
    /// Time this probe instead of the hook's program.
    probe: Option<Probe>,
    packet: Vec<u8>,
    ifindex: u32,
    repeat_ok: bool,
    /// Run with the SRv6 state written (else with none: the programs skip
    /// the SRv6 lookups).
    srv6: bool,
}

fn bench(dp: &mut Datapath, c: &Case, repeat: u32) -> Result<Duration> {
    Ok(match c.probe {
        Some(p) => dp.bench_probe(p, &c.packet, c.ifindex, repeat)?,
        None => dp.bench(c.hook, &c.packet, c.ifindex, repeat)?,
    })
}

fn fresh(dp: &mut Datapath, c: &Case, calls: u32) -> Result<f64> {
    let mut total = Duration::ZERO;
    for _ in 0..calls {
        total += bench(dp, c, 1)?;
    }
    Ok(total.as_nanos() as f64 / f64::from(calls))
}

fn main() -> Result<()> {
    let calls: u32 = match std::env::args().nth(1) {
        Some(a) => a.parse().context("CALLS must be a number")?,
        None => 20_000,
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).context("unshare (run as root)")?;
    sh(
        "ip link set lo up && ip link add bup type veth peer name bgw && ip link add blxc type veth peer name bpod \
        && ip link set bup up && ip link set bgw up && ip link set blxc up && ip link set bpod up \
        && ip addr add 10.0.0.1/24 dev bup && ip route add 10.8.0.0/16 via 10.0.0.2 \
        && ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:99 dev bup nud permanent \
        && sysctl -qw net.ipv4.conf.all.forwarding=1 net.ipv6.conf.all.forwarding=1",
    )?;
    // SRv6: a pod veth in VRF 100, the fabric's route to the remote locator.
    sh(
        "ip link add bvrf type veth peer name bvrfp && ip link set bvrf up && ip link set bvrfp up \
        && ip -6 addr add fd00::1/64 dev bup nodad && ip -6 route add fc00:0:2::/48 via fd00::2 \
        && ip -6 neigh add fd00::2 lladdr 02:00:00:00:00:99 dev bup nud permanent \
        && ip route add 10.1.0.2/32 dev bvrf table 100",
    )?;
    let vrf_pod = nix::net::if_::if_nametoindex("bvrf")?;
    let up = nix::net::if_::if_nametoindex("bup")?;
    let lxc = nix::net::if_::if_nametoindex("blxc")?;
    let mut dp = Datapath::load(None).context("load the datapath")?;
    let a = Ipv4Addr::new(10, 1, 0, 2);
    let b = Ipv4Addr::new(10, 1, 0, 3);
    let a6: Ipv6Addr = "fd00:1::2".parse()?;
    let b6: Ipv6Addr = "fd00:1::3".parse()?;
    for (ip, id, ifindex) in [
        (IpAddr::V4(a), 1, lxc),
        (IpAddr::V6(a6), 1, lxc),
        (IpAddr::V4(b), 2, 42),
        (IpAddr::V6(b6), 2, 42),
    ] {
        dp.upsert_endpoint(
            ip,
            EndpointInfo {
                ifindex,
                id,
                pod_mac: POD_MAC,
                host_mac: HOST_MAC,
                flags: EP_FLAG_VETH_PEER,
            },
        )?;
    }
    dp.replace_tunnel_routes(&[("10.2.0.0/16".parse()?, "10.0.0.2".parse()?)])?;
    // The other node, whose Geneve the decapsulation bench sends.
    dp.set_trusted_sources(&["10.0.0.2/32".parse()?].into())?;
    let base = DatapathConfig {
        vni: 4242,
        vxlan_ifindex: up,
        uplink_ifindex: up,
        ..DatapathConfig::default()
    }
    .with_local_v4(Some(Ipv4Addr::new(10, 0, 0, 1)))
    .with_local_v6(Some("fd00::1".parse()?));
    let remote_sid: Ipv6Addr = "fc00:0:2:e046::".parse()?;
    let local_sid: Ipv6Addr = "fc00:0:1:e004::".parse()?;
    let srv6_state = Srv6State {
        vrf_ifaces: vec![(vrf_pod, 100)],
        encaps: vec![
            (
                100,
                "10.2.0.0/16".parse()?,
                Srv6Encap::new(vec![remote_sid]),
            ),
            (
                100,
                "10.3.0.0/16".parse()?,
                Srv6Encap::new(vec![
                    "fc00:0:2::1".parse()?,
                    "fc00:0:2::2".parse()?,
                    remote_sid,
                ]),
            ),
        ],
        sids: vec![(local_sid, Behavior::EndDt4, 100)],
        locators: vec!["fc00:0:1::/48".parse()?],
    };
    // An SRv6 frame from the fabric to this node's End.DT4 SID.
    let mut srv6_in = eth(0x86dd);
    let inner = v4(Ipv4Addr::new(10, 2, 0, 1), a, 5001);
    srv6_in.extend_from_slice(&[0x60, 0, 0, 0]);
    srv6_in.extend_from_slice(&((inner.len() - 14) as u16).to_be_bytes());
    srv6_in.extend_from_slice(&[4, 64]);
    srv6_in.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>()?.octets());
    srv6_in.extend_from_slice(&local_sid.octets());
    srv6_in.extend_from_slice(&inner[14..]);
    // A Geneve frame from the other node for pod B, as the encap path writes it.
    dp.set_config(&base.with_mode(Mode::Geneve))?;
    dp.upsert_endpoint(
        IpAddr::V4(Ipv4Addr::new(10, 2, 0, 9)),
        EndpointInfo {
            ifindex: 43,
            id: 3,
            pod_mac: POD_MAC,
            host_mac: HOST_MAC,
            flags: EP_FLAG_VETH_PEER,
        },
    )?;
    let mut geneve = dp
        .test_run(Hook::Pod, &v4(a, Ipv4Addr::new(10, 2, 0, 9), 5001), lxc)?
        .packet;
    if geneve.len() < 34 {
        bail!("the Geneve encapsulation produced no frame");
    }
    geneve[26..30].copy_from_slice(&[10, 0, 0, 2]);
    geneve[30..34].copy_from_slice(&[10, 0, 0, 1]);
    geneve[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&geneve[14..34]);
    geneve[24..26].copy_from_slice(&c.to_be_bytes());
    let mut big = v4(a, Ipv4Addr::new(10, 2, 0, 9), 5001);
    big.extend(std::iter::repeat_n(0u8, 1400));
    let l = (big.len() - 14) as u16;
    big[16..18].copy_from_slice(&l.to_be_bytes());
    big[24..26].copy_from_slice(&[0, 0]);
    let c = csum(&big[14..34]);
    big[24..26].copy_from_slice(&c.to_be_bytes());

    let cases = [
        Case {
            name: "no-op program (baseline)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Noop,
            packet: v4(a, b, 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "probe: one endpoint hash lookup alone",
            probe: Some(Probe::Endpoint),
            mode: Mode::Native,
            hook: Hook::Noop,
            packet: v4(a, b, 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "probe: one bpf_fib_lookup alone (via gw)",
            probe: Some(Probe::FibLookup),
            mode: Mode::Native,
            hook: Hook::Noop,
            packet: v4(a, Ipv4Addr::new(10, 8, 0, 1), 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: same node IPv4 (redirect_peer)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, b, 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: same node IPv6 (redirect_peer)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v6(a6, b6),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: native (fib_lookup + redirect_neigh)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 8, 0, 1), 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: native, no route (to the stack)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(192, 0, 2, 1), 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: VXLAN (set_tunnel_key + redirect)",
            mode: Mode::Vxlan,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 2, 0, 1), 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: Geneve encap + fib + redirect_neigh",
            mode: Mode::Geneve,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 2, 0, 1), 5001),
            ifindex: lxc,
            repeat_ok: false,
            srv6: false,
        },
        Case {
            name: "pod: too big, ICMP frag-needed",
            mode: Mode::Geneve,
            probe: None,
            hook: Hook::Pod,
            packet: big,
            ifindex: lxc,
            repeat_ok: false,
            srv6: false,
        },
        Case {
            name: "uplink: Geneve decap + redirect_peer",
            mode: Mode::Geneve,
            probe: None,
            hook: Hook::Uplink,
            packet: geneve,
            ifindex: up,
            repeat_ok: false,
            srv6: false,
        },
        Case {
            name: "uplink: not ours (to the stack)",
            mode: Mode::Geneve,
            probe: None,
            hook: Hook::Uplink,
            packet: v4(Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 1), 179),
            ifindex: up,
            repeat_ok: true,
            srv6: false,
        },
        Case {
            name: "pod: native, SRv6 state on (VRF miss)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 8, 0, 1), 5001),
            ifindex: lxc,
            repeat_ok: true,
            srv6: true,
        },
        Case {
            name: "pod: SRv6 H.Encaps.Red, 1 SID + fib",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 2, 0, 1), 5001),
            ifindex: vrf_pod,
            repeat_ok: false,
            srv6: true,
        },
        Case {
            name: "pod: SRv6 H.Encaps.Red, 3 SIDs (SRH)",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Pod,
            packet: v4(a, Ipv4Addr::new(10, 3, 0, 1), 5001),
            ifindex: vrf_pod,
            repeat_ok: false,
            srv6: true,
        },
        Case {
            name: "uplink: SRv6 End.DT4 decap + VRF fib",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Uplink,
            packet: srv6_in,
            ifindex: up,
            repeat_ok: false,
            srv6: true,
        },
        Case {
            name: "uplink: IPv6 not ours, SRv6 state on",
            mode: Mode::Native,
            probe: None,
            hook: Hook::Uplink,
            packet: v6("fd00::2".parse()?, "fd00::1".parse()?),
            ifindex: up,
            repeat_ok: true,
            srv6: true,
        },
    ];
    println!("BPF_PROG_TEST_RUN, 128-byte UDP payloads; kernel ns per program run");
    println!(
        "{:<44} {:>12} {:>14}",
        "path", "fresh (ns)", "repeat=200 (ns)"
    );
    for c in &cases {
        dp.set_config(&base.with_mode(c.mode))?;
        if c.srv6 {
            dp.sync_srv6(&srv6_state)?;
        } else {
            dp.clear_srv6()?;
        }
        // Warm up, then measure.
        fresh(&mut dp, c, calls / 10 + 1)?;
        let f = fresh(&mut dp, c, calls)?;
        let r = if c.repeat_ok {
            let mut total = Duration::ZERO;
            let n = calls / 200 + 1;
            for _ in 0..n {
                total += bench(&mut dp, c, 200)?;
            }
            format!("{:.1}", total.as_nanos() as f64 / f64::from(n))
        } else {
            "-".to_string()
        };
        println!("{:<44} {:>12.1} {:>14}", c.name, f, r);
    }
    let drops: u64 = dp.drop_counters()?.iter().map(|(_, n)| n).sum();
    if drops != 0 {
        bail!(
            "the benchmark packets were dropped: {:?}",
            dp.drop_counters()?
        );
    }
    Ok(())
}
