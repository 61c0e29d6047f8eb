//! The datapath benchmark's topology: two "nodes" (network namespaces)
//! joined by a veth uplink, two pods per node on veth pairs with tern-cni's
//! addressing, and the per-case wiring on top of it (plain routes, the 1000
//! iptables FORWARD rules, the kernel VXLAN device, Tern's datapath). The
//! guard deletes every namespace it made (which takes the veths, devices,
//! routes and iptables rules with it) on success, error, panic and Ctrl-C.
//!
//! ```text
//!  pod PRE-p11 ─ lxc1 ┐                          ┌ lxc1 ─ pod PRE-p21
//!  10.251.1.11        │  node PRE-n1    up0  up0 │  node PRE-n2  10.251.2.11
//!  pod PRE-p12 ─ lxc2 ┤  10.250.0.1 ────────────── 10.250.0.2   ├ lxc2 ─ pod PRE-p22
//!  10.251.1.12        ┘                          └              10.251.2.12
//! ```

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use ipnet::Ipv6Net;
use nix::sched::{CloneFlags, setns};
use tern_ebpf::datapath::{EP_FLAG_VETH_PEER, EndpointInfo, Mode};
use tern_ebpf::{Datapath, DatapathConfig, Hook};

/// The uplink's name in both nodes.
pub const UPLINK: &str = "up0";
/// Tern's collect_md VXLAN device (cases d; present while Tern's datapath is loaded).
pub const TERN_VXLAN: &str = "tvx0";
/// The kernel's own VXLAN device with a fixed VNI and remote (case f).
pub const KERNEL_VXLAN: &str = "vxk0";
/// VNI of every tunnel case.
pub const VNI: u32 = 4242;
/// The uplink's MTU; tunnel cases give the pods 50 bytes less.
pub const UPLINK_MTU: u32 = 1500;
/// The VRF table the pods move to for the SRv6 case.
pub const SRV6_TABLE: u32 = 100;
/// What H.Encaps.Red adds to a pod's packet with one segment: an IPv6
/// header, no routing header.
pub const SRV6_OVERHEAD: u32 = 40;
/// Number of FORWARD rules that do not match in case (c).
pub const IPTABLES_RULES: usize = 1000;

/// One pod: its namespace, address, MACs and host-side veth.
#[derive(Clone, Debug)]
pub struct Pod {
    pub ns: String,
    pub node: u8,
    pub host_if: String,
    pub v4: Ipv4Addr,
    pub pod_mac: [u8; 6],
    pub host_mac: [u8; 6],
    pub id: u32,
}

/// The namespaces of one run; dropping it deletes them.
pub struct Topology {
    pub prefix: String,
    pub pods: Vec<Pod>,
    created: Vec<String>,
}

/// Runs `ip ARGS`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    run("ip", args)
}

/// Runs a program, failing with its stderr.
pub fn run(prog: &str, args: &[&str]) -> Result<()> {
    output(prog, args).map(|_| ())
}

/// Runs a program, failing with its stderr; returns its stdout.
pub fn output(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("running `{prog} {}` (is it installed?)", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "`{prog} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `f` on a thread that has entered network namespace `ns`; sockets it
/// opens stay in that namespace whichever thread uses them afterwards.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let path = Path::new("/run/netns").join(ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            let fd = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
            setns(&fd, CloneFlags::CLONE_NEWNET)
                .with_context(|| format!("entering network namespace {ns}"))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| bail!("a thread in namespace {ns} panicked"))
    })
}

fn mac_str(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl Topology {
    /// The node namespace `i` (1 or 2).
    pub fn node(&self, i: u8) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// The address of node `i` on the uplink.
    pub fn node_addr(i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 250, 0, i)
    }

    /// Node `i`'s pod CIDR.
    pub fn pod_cidr(i: u8) -> String {
        format!("10.251.{i}.0/24")
    }

    /// Pod `j` (1 or 2) of node `i`.
    pub fn pod(&self, node: u8, j: u32) -> Result<&Pod> {
        self.pods
            .iter()
            .find(|p| p.node == node && p.id == j)
            .with_context(|| format!("no pod {j} on node {node}"))
    }

    /// Builds the namespaces, the uplink, the pods and the plain-kernel
    /// routing that tern-cni sets up (pod /32 routes and permanent neighbours
    /// on the node; /32, default via 169.254.1.1 and its permanent neighbour
    /// in the pod), plus routes to the other node's pod CIDR over the uplink.
    pub fn create(prefix: &str) -> Result<Topology> {
        let mut t = Topology {
            prefix: prefix.to_owned(),
            pods: Vec::new(),
            created: Vec::new(),
        };
        for i in 1..=2u8 {
            let n = t.node(i);
            t.add_ns(&n)?;
            ip(&["-n", &n, "link", "set", "lo", "up"])?;
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &n,
                    "sysctl",
                    "-qw",
                    "net.ipv4.conf.all.forwarding=1",
                ],
            )?;
        }
        let (n1, n2) = (t.node(1), t.node(2));
        ip(&[
            "link", "add", UPLINK, "netns", &n1, "type", "veth", "peer", "name", UPLINK, "netns",
            &n2,
        ])?;
        for i in 1..=2u8 {
            let n = t.node(i);
            let a = format!("{}/24", Self::node_addr(i));
            ip(&["-n", &n, "addr", "add", &a, "dev", UPLINK])?;
            ip(&["-n", &n, "link", "set", UPLINK, "up"])?;
        }
        for node in 1..=2u8 {
            for j in 1..=2u8 {
                let pod = Pod {
                    ns: format!("{prefix}p{node}{j}"),
                    node,
                    host_if: format!("lxc{j}"),
                    v4: Ipv4Addr::new(10, 251, node, 10 + j),
                    pod_mac: [0x02, 0, 0, node, j, 0x02],
                    host_mac: [0x02, 0, 0, node, j, 0x01],
                    id: u32::from(j),
                };
                t.add_ns(&pod.ns)?;
                let n = t.node(node);
                let (hm, pm) = (mac_str(&pod.host_mac), mac_str(&pod.pod_mac));
                let ns = pod.ns.as_str();
                ip(&[
                    "link",
                    "add",
                    &pod.host_if,
                    "netns",
                    &n,
                    "address",
                    &hm,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    ns,
                    "address",
                    &pm,
                ])?;
                ip(&["-n", &n, "link", "set", &pod.host_if, "up"])?;
                ip(&["-n", ns, "link", "set", "lo", "up"])?;
                ip(&["-n", ns, "link", "set", "eth0", "up"])?;
                let a = format!("{}/32", pod.v4);
                ip(&["-n", ns, "addr", "add", &a, "dev", "eth0"])?;
                ip(&[
                    "-n",
                    ns,
                    "route",
                    "add",
                    "169.254.1.1",
                    "dev",
                    "eth0",
                    "scope",
                    "link",
                ])?;
                ip(&[
                    "-n",
                    ns,
                    "route",
                    "add",
                    "default",
                    "via",
                    "169.254.1.1",
                    "dev",
                    "eth0",
                ])?;
                ip(&[
                    "-n",
                    ns,
                    "neigh",
                    "add",
                    "169.254.1.1",
                    "lladdr",
                    &hm,
                    "dev",
                    "eth0",
                    "nud",
                    "permanent",
                ])?;
                // The node side, as tern-cni does it (route protocol 203).
                let host = pod.v4.to_string();
                ip(&[
                    "-n",
                    &n,
                    "route",
                    "add",
                    &host,
                    "dev",
                    &pod.host_if,
                    "scope",
                    "link",
                    "proto",
                    "203",
                ])?;
                ip(&[
                    "-n",
                    &n,
                    "neigh",
                    "add",
                    &host,
                    "lladdr",
                    &pm,
                    "dev",
                    &pod.host_if,
                    "nud",
                    "permanent",
                ])?;
                t.pods.push(pod);
            }
        }
        t.remote_routes_via_uplink()?;
        Ok(t)
    }

    fn add_ns(&mut self, ns: &str) -> Result<()> {
        if Path::new("/run/netns").join(ns).exists() {
            bail!(
                "network namespace {ns} already exists (left by an earlier run? `ip netns delete {ns}`)"
            );
        }
        ip(&["netns", "add", ns])?;
        self.created.push(ns.to_owned());
        Ok(())
    }

    /// Each node routes the other's pod CIDR to the other node over the
    /// uplink (what BGP installs in native routing).
    pub fn remote_routes_via_uplink(&self) -> Result<()> {
        for (i, other) in [(1u8, 2u8), (2, 1)] {
            let gw = Self::node_addr(other).to_string();
            ip(&[
                "-n",
                &self.node(i),
                "route",
                "replace",
                &Self::pod_cidr(other),
                "via",
                &gw,
                "dev",
                UPLINK,
            ])?;
        }
        Ok(())
    }

    /// Removes the routes to the other node's pod CIDR (the tunnel modes of
    /// Tern's datapath must work without them).
    pub fn remove_remote_routes(&self) -> Result<()> {
        for (i, other) in [(1u8, 2u8), (2, 1)] {
            ip(&["-n", &self.node(i), "route", "del", &Self::pod_cidr(other)])?;
        }
        Ok(())
    }

    /// Sets every pod's MTU (1500, or 1450 in the tunnel cases).
    pub fn set_pod_mtu(&self, mtu: u32) -> Result<()> {
        let m = mtu.to_string();
        for p in &self.pods {
            ip(&["-n", &p.ns, "link", "set", "eth0", "mtu", &m])?;
        }
        Ok(())
    }

    /// Case (c): in both nodes' FORWARD chain, [`IPTABLES_RULES`] rules that
    /// no benchmark packet matches, each `-s 192.0.2.0/24 -d ADDR/32 -p tcp
    /// --dport 8080 -j DROP` with ADDR running from 198.51.100.1 to
    /// 198.51.103.250 (the shape of per-service rules; the benchmark's packets
    /// come from 10.251.0.0/16), then one `-j ACCEPT`. The kernel evaluates
    /// all of them for every forwarded packet.
    pub fn add_iptables_rules(&self) -> Result<()> {
        let mut script = String::from("*filter\n:FORWARD ACCEPT [0:0]\n");
        for k in 0..IPTABLES_RULES {
            script.push_str(&format!(
                "-A FORWARD -s 192.0.2.0/24 -d 198.51.{}.{}/32 -p tcp -m tcp --dport 8080 -j DROP\n",
                100 + k / 250,
                k % 250 + 1
            ));
        }
        script.push_str("-A FORWARD -j ACCEPT\nCOMMIT\n");
        for i in 1..=2u8 {
            restore(&self.node(i), &script)?;
        }
        Ok(())
    }

    /// Packets the final ACCEPT rule of node `i`'s FORWARD chain has seen.
    pub fn iptables_accepted(&self, i: u8) -> Result<u64> {
        let out = output(
            "ip",
            &[
                "netns",
                "exec",
                &self.node(i),
                "iptables",
                "-w",
                "-t",
                "filter",
                "-L",
                "FORWARD",
                "-n",
                "-v",
                "-x",
            ],
        )?;
        let rules: Vec<&str> = out
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|c| c.parse::<u64>().is_ok())
            })
            .collect();
        if rules.len() != IPTABLES_RULES + 1 {
            bail!(
                "node {i}'s FORWARD chain has {} rules, expected {}",
                rules.len(),
                IPTABLES_RULES + 1
            );
        }
        let last = rules.last().copied().unwrap_or_default();
        if !last.contains("ACCEPT") {
            bail!("node {i}'s last FORWARD rule is not the ACCEPT: `{last}`");
        }
        last.split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
            .context("reading the ACCEPT rule's packet counter")
    }

    /// Empties both nodes' FORWARD chains again.
    pub fn flush_iptables(&self) -> Result<()> {
        for i in 1..=2u8 {
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &self.node(i),
                    "iptables",
                    "-w",
                    "-F",
                    "FORWARD",
                ],
            )?;
        }
        Ok(())
    }

    /// Case (f): a kernel VXLAN device per node (fixed VNI, the other node as
    /// its only remote, UDP 4789 over the uplink) with an address in
    /// 10.252.0.0/24, and the other node's pod CIDR routed through it.
    pub fn add_kernel_vxlan(&self) -> Result<()> {
        for (i, other) in [(1u8, 2u8), (2, 1)] {
            let n = self.node(i);
            let (local, remote) = (
                Self::node_addr(i).to_string(),
                Self::node_addr(other).to_string(),
            );
            let vni = VNI.to_string();
            ip(&[
                "-n",
                &n,
                "link",
                "add",
                KERNEL_VXLAN,
                "type",
                "vxlan",
                "id",
                &vni,
                "local",
                &local,
                "remote",
                &remote,
                "dstport",
                "4789",
                "dev",
                UPLINK,
            ])?;
            let a = format!("10.252.0.{i}/24");
            ip(&["-n", &n, "addr", "add", &a, "dev", KERNEL_VXLAN])?;
            ip(&["-n", &n, "link", "set", KERNEL_VXLAN, "up"])?;
            let via = format!("10.252.0.{other}");
            ip(&[
                "-n",
                &n,
                "route",
                "replace",
                &Self::pod_cidr(other),
                "via",
                &via,
                "dev",
                KERNEL_VXLAN,
            ])?;
        }
        Ok(())
    }

    /// Deletes the kernel VXLAN devices (their routes go with them).
    pub fn remove_kernel_vxlan(&self) -> Result<()> {
        for i in 1..=2u8 {
            ip(&["-n", &self.node(i), "link", "del", KERNEL_VXLAN])?;
        }
        Ok(())
    }

    /// Transmitted packets of `dev` in node `i`.
    pub fn tx_packets(&self, i: u8, dev: &str) -> Result<u64> {
        let out = output(
            "ip",
            &["-n", &self.node(i), "-s", "-j", "link", "show", dev],
        )?;
        let v: serde_json::Value =
            serde_json::from_str(&out).with_context(|| format!("`ip -j -s link` said {out}"))?;
        v.get(0)
            .and_then(|l| l.pointer("/stats64/tx/packets"))
            .and_then(|p| p.as_u64())
            .with_context(|| format!("no tx packet counter for {dev} in {out}"))
    }

    /// Loads Tern's datapath into node `i` through the loader API (no pins):
    /// Tern's collect_md VXLAN device, the programs on the uplink, the VXLAN
    /// device and both pods' host veths, the pods as endpoints, the other
    /// node's pod CIDR in the tunnel map. Starts in native mode.
    pub fn load_datapath(&self, i: u8) -> Result<(Datapath, DatapathConfig)> {
        let n = self.node(i);
        ip(&[
            "-n", &n, "link", "add", TERN_VXLAN, "type", "vxlan", "external", "dstport", "4789",
        ])?;
        ip(&["-n", &n, "link", "set", TERN_VXLAN, "up"])?;
        let mut dp = Datapath::load(None).context(
            "loading Tern's datapath (root and a kernel with BPF, TCX and BTF are needed)",
        )?;
        let pods: Vec<Pod> = self.pods.iter().filter(|p| p.node == i).cloned().collect();
        let (dp, up, vx, lxc) = in_ns(&n, move || {
            let up = dp.attach(Hook::Uplink, UPLINK)?;
            let vx = dp.attach(Hook::Vxlan, TERN_VXLAN)?;
            let mut lxc = Vec::new();
            for p in pods {
                let ifindex = dp.attach(Hook::Pod, &p.host_if)?;
                lxc.push((p, ifindex));
            }
            Ok((dp, up, vx, lxc))
        })
        .with_context(|| format!("attaching the datapath in node {i}"))?;
        let mut dp = dp;
        for (p, ifindex) in lxc {
            let ep = EndpointInfo {
                ifindex,
                id: p.id,
                pod_mac: p.pod_mac,
                host_mac: p.host_mac,
                flags: EP_FLAG_VETH_PEER,
            };
            dp.upsert_endpoint(IpAddr::V4(p.v4), ep)?;
        }
        let other = 3 - i;
        dp.replace_tunnel_routes(&[(
            Self::pod_cidr(other).parse()?,
            IpAddr::V4(Self::node_addr(other)),
        )])?;
        // The other node is the one trusted tunnel source (as ternd
        // derives it from the tunnel map).
        dp.set_trusted_sources(&[ipnet::IpNet::from(IpAddr::V4(Self::node_addr(other)))].into())?;
        let settings = DatapathConfig {
            vni: VNI,
            vxlan_ifindex: vx,
            uplink_ifindex: up,
            uplink_mtu: UPLINK_MTU,
            ..DatapathConfig::new(Mode::Native)
        }
        .with_local_v4(Some(Self::node_addr(i)));
        dp.set_config(&settings)?;
        Ok((dp, settings))
    }

    /// Node `i`'s IPv6 address on the uplink (the SRv6 underlay).
    pub fn node_v6(i: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfd00, 0x250, 0, 0, 0, 0, 0, u16::from(i))
    }

    /// Node `i`'s SRv6 locator.
    pub fn locator(i: u8) -> Ipv6Net {
        Ipv6Net::new(Ipv6Addr::new(0xfc00, 0, u16::from(i), 0, 0, 0, 0, 0), 48).expect("a /48")
    }

    /// Node `i`'s End.DT46 SID of the pods' VRF.
    pub fn srv6_sid(i: u8) -> Ipv6Addr {
        Ipv6Addr::new(0xfc00, 0, u16::from(i), 0x100, 0, 0, 0, 0)
    }

    /// The SRv6 case's underlay and VRF: the uplink's IPv6 addresses, each
    /// node's route to the other's locator, IPv6 forwarding, and the pods'
    /// host routes in VRF table [`SRV6_TABLE`].
    pub fn setup_srv6(&self) -> Result<()> {
        for (i, other) in [(1u8, 2u8), (2, 1)] {
            let n = self.node(i);
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &n,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.forwarding=1",
                ],
            )?;
            let a = format!("{}/64", Self::node_v6(i));
            ip(&["-n", &n, "addr", "replace", &a, "dev", UPLINK, "nodad"])?;
            let (loc, gw) = (
                Self::locator(other).to_string(),
                Self::node_v6(other).to_string(),
            );
            ip(&[
                "-n", &n, "-6", "route", "replace", &loc, "via", &gw, "dev", UPLINK,
            ])?;
            let table = SRV6_TABLE.to_string();
            for p in self.pods.iter().filter(|p| p.node == i) {
                let host = p.v4.to_string();
                ip(&[
                    "-n", &n, "route", "replace", &host, "dev", &p.host_if, "scope", "link",
                    "table", &table,
                ])?;
            }
        }
        Ok(())
    }

    /// Takes the SRv6 case's routes and addresses away again.
    pub fn remove_srv6(&self) -> Result<()> {
        for i in 1..=2u8 {
            let n = self.node(i);
            ip(&["-n", &n, "route", "flush", "table", &SRV6_TABLE.to_string()])?;
            let a = format!("{}/64", Self::node_v6(i));
            ip(&["-n", &n, "addr", "del", &a, "dev", UPLINK])?;
        }
        Ok(())
    }

    /// The ifindex of pod `p`'s host veth in its node.
    pub fn host_ifindex(&self, p: &Pod) -> Result<u32> {
        let line = output(
            "ip",
            &[
                "-n",
                &self.node(p.node),
                "-o",
                "link",
                "show",
                "dev",
                &p.host_if,
            ],
        )?;
        line.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .with_context(|| format!("no ifindex in `{line}`"))
    }

    /// Deletes Tern's VXLAN devices (after the datapaths were shut down).
    pub fn remove_tern_vxlan(&self) -> Result<()> {
        for i in 1..=2u8 {
            ip(&["-n", &self.node(i), "link", "del", TERN_VXLAN])?;
        }
        Ok(())
    }
}

/// Feeds `script` to iptables-restore inside namespace `ns`.
fn restore(ns: &str, script: &str) -> Result<()> {
    use std::io::Write as _;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "iptables-restore", "-w"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running iptables-restore (is iptables installed?)")?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .context("writing the rules to iptables-restore")?;
    }
    let out = child
        .wait_with_output()
        .context("waiting for iptables-restore")?;
    if !out.status.success() {
        bail!(
            "iptables-restore in {ns} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "delete", &ns]) {
                eprintln!("tern-bench-datapath: cleanup: {e:#}");
            }
        }
    }
}
