//! `datapath ...` lines: which eBPF pod datapath ternd runs, on which
//! uplink, with which tunnel parameters. No `datapath mode` line means no
//! programs at all (pods are forwarded by plain kernel routing).
//!
//! ```text
//! datapath mode native|vxlan|geneve
//! datapath uplink IFNAME
//! datapath vni N                 (1-16777215, default 1)
//! datapath vxlan-port N          (default 4789)
//! datapath geneve-port N         (default 6081)
//! datapath cluster-cidr PREFIX   (repeatable: learnt prefixes inside it are pod CIDRs)
//! datapath xdp auto|off          (default off; auto: the uplink's XDP service
//!                                 fast path where its driver has native XDP)
//! datapath vtep PREFIX ADDRESS MAC (repeatable: PREFIX behind an external VTEP)
//! datapath node-prefix PREFIX    (repeatable: underlay range of the cluster's
//!                                 nodes, trusted as a tunnel source)
//! ```
//! Every line has a `no` form that returns to the default.
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    net::IpAddr,
};

use ipnet::IpNet;

use tern_bgp::config::check::{Handled, check_ifname};

/// Default VXLAN / Geneve network identifier.
pub const DEFAULT_VNI: u32 = 1;
/// IANA's VXLAN port (RFC 7348).
pub const DEFAULT_VXLAN_PORT: u16 = 4789;
/// IANA's Geneve port (RFC 8926).
pub const DEFAULT_GENEVE_PORT: u16 = 6081;

/// How pod packets to other nodes leave this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatapathMode {
    /// Routed by the kernel FIB (routes learnt over BGP).
    Native,
    /// Encapsulated in VXLAN by a collect_md device ternd owns.
    Vxlan,
    /// Encapsulated in Geneve by the eBPF program itself.
    Geneve,
}

impl DatapathMode {
    /// The config keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            DatapathMode::Native => "native",
            DatapathMode::Vxlan => "vxlan",
            DatapathMode::Geneve => "geneve",
        }
    }

    fn parse(s: &str) -> Result<Self, String> {
        match s {
            "native" => Ok(DatapathMode::Native),
            "vxlan" => Ok(DatapathMode::Vxlan),
            "geneve" => Ok(DatapathMode::Geneve),
            _ => Err(format!(
                "unknown datapath mode \"{s}\" (one of: native, vxlan, geneve)"
            )),
        }
    }
}

/// The `datapath` lines of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatapathConfig {
    /// None: no eBPF datapath.
    pub mode: Option<DatapathMode>,
    /// The interface towards the fabric.
    pub uplink: Option<String>,
    pub vni: u32,
    pub vxlan_port: u16,
    pub geneve_port: u16,
    /// Prefixes that hold every node's pod CIDR: a prefix learnt over BGP
    /// that lies inside one of them is a remote pod CIDR (tunnel map entry).
    pub cluster_cidrs: BTreeSet<IpNet>,
    /// `datapath xdp auto`: the uplink's XDP program in native mode where the
    /// driver has it; `off` (the default): the TC programs only. Off by
    /// default because XDP needs full checksums from the uplink's peer (a
    /// veth peer's locally made packets carry partial ones).
    pub xdp: bool,
    /// `datapath vtep PREFIX ADDRESS MAC`: pods (or any hosts) of PREFIX
    /// live behind an external VTEP (a Linux VXLAN device, a hardware
    /// VTEP) at ADDRESS, whose device takes frames to MAC. They are
    /// tunnelled to like another node's pods.
    pub vteps: BTreeMap<IpNet, Vtep>,
    /// `datapath node-prefix PREFIX`: underlay ranges of the cluster's
    /// nodes. Geneve and VXLAN are taken only from a known node: a tunnel
    /// map node, an external VTEP, an egress gateway node, or an address
    /// inside one of these (the nodes a gateway serves in native mode,
    /// where BGP's next hops are the fabric's, not the nodes').
    pub node_prefixes: BTreeSet<IpNet>,
}

/// An external VTEP behind a prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vtep {
    /// Its underlay address.
    pub addr: IpAddr,
    /// Its device's MAC address.
    pub mac: [u8; 6],
}

impl Default for DatapathConfig {
    fn default() -> Self {
        Self {
            mode: None,
            uplink: None,
            vni: DEFAULT_VNI,
            vxlan_port: DEFAULT_VXLAN_PORT,
            geneve_port: DEFAULT_GENEVE_PORT,
            cluster_cidrs: BTreeSet::new(),
            xdp: false,
            vteps: BTreeMap::new(),
            node_prefixes: BTreeSet::new(),
        }
    }
}

impl DatapathConfig {
    /// Whether `prefix` is a pod CIDR by the `cluster-cidr` lines.
    pub fn is_pod_cidr(&self, prefix: &IpNet) -> bool {
        self.cluster_cidrs.iter().any(|c| c.contains(prefix))
    }
}

fn parse_port(what: &str, s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("invalid {what} \"{s}\": a UDP port 1-65535")),
    }
}

/// A prefix without host bits.
fn parse_prefix(p: &str) -> Result<IpNet, String> {
    let net: IpNet = p
        .parse()
        .map_err(|_| format!("invalid prefix \"{p}\" (A.B.C.D/M or X:X::X:X/M)"))?;
    if net.trunc() != net {
        return Err(format!(
            "{p}: host bits are set (did you mean {}?)",
            net.trunc()
        ));
    }
    Ok(net)
}

fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Applies one `[no] datapath ...` line (top-level config mode).
pub(crate) fn apply(dp: &mut DatapathConfig, words: &[&str]) -> Result<Handled, String> {
    match words {
        ["datapath", "mode", m] => dp.mode = Some(DatapathMode::parse(m)?),
        ["datapath", "uplink", name] => {
            check_ifname(name)?;
            dp.uplink = Some((*name).to_owned());
        }
        ["datapath", "vni", n] => {
            dp.vni = match n.parse::<u32>() {
                Ok(v) if (1..1 << 24).contains(&v) => v,
                _ => return Err(format!("invalid VNI \"{n}\": 1-16777215 (24 bits)")),
            }
        }
        ["datapath", "vxlan-port", p] => dp.vxlan_port = parse_port("VXLAN port", p)?,
        ["datapath", "geneve-port", p] => dp.geneve_port = parse_port("Geneve port", p)?,
        ["datapath", "cluster-cidr", p] => {
            dp.cluster_cidrs.insert(parse_prefix(p)?);
        }
        ["datapath", "xdp", v] => {
            dp.xdp = match *v {
                "auto" => true,
                "off" => false,
                _ => return Err(format!("invalid datapath xdp \"{v}\" (auto or off)")),
            }
        }
        ["datapath", "vtep", p, a, m] => {
            let net = parse_prefix(p)?;
            let addr: IpAddr = a
                .parse()
                .map_err(|_| format!("invalid VTEP address \"{a}\" (A.B.C.D or X:X::X:X)"))?;
            let mac = crate::datapath::parse_mac(m)
                .filter(|m| m[0] & 1 == 0 && *m != [0; 6])
                .ok_or_else(|| format!("invalid VTEP MAC \"{m}\" (a unicast XX:XX:XX:XX:XX:XX)"))?;
            if let Some((q, other)) = dp
                .vteps
                .iter()
                .find(|(q, v)| v.addr == addr && v.mac != mac && **q != net)
            {
                return Err(format!(
                    "VTEP {addr} has MAC {} for {q}: one MAC per VTEP",
                    mac_string(&other.mac)
                ));
            }
            dp.vteps.insert(net, Vtep { addr, mac });
        }
        ["no", "datapath", "vtep", p, ..] => {
            let net: IpNet = p.parse().map_err(|_| format!("invalid prefix \"{p}\""))?;
            if dp.vteps.remove(&net).is_none() {
                return Err(format!("vtep {p} is not configured"));
            }
        }
        ["datapath", "vtep", ..] => {
            return Err("usage: datapath vtep PREFIX ADDRESS MAC".into());
        }
        ["datapath", "node-prefix", p] => {
            dp.node_prefixes.insert(parse_prefix(p)?);
        }
        ["no", "datapath", "node-prefix", p] => {
            let net: IpNet = p.parse().map_err(|_| format!("invalid prefix \"{p}\""))?;
            if !dp.node_prefixes.remove(&net) {
                return Err(format!("node-prefix {p} is not configured"));
            }
        }
        ["datapath", "node-prefix"] | ["no", "datapath", "node-prefix"] => {
            return Err("usage: datapath node-prefix PREFIX".into());
        }
        ["no", "datapath", "xdp", ..] => dp.xdp = false,
        ["no", "datapath", "mode", ..] => dp.mode = None,
        ["no", "datapath", "uplink", ..] => dp.uplink = None,
        ["no", "datapath", "vni", ..] => dp.vni = DEFAULT_VNI,
        ["no", "datapath", "vxlan-port", ..] => dp.vxlan_port = DEFAULT_VXLAN_PORT,
        ["no", "datapath", "geneve-port", ..] => dp.geneve_port = DEFAULT_GENEVE_PORT,
        ["no", "datapath", "cluster-cidr", p] => {
            let net: IpNet = p.parse().map_err(|_| format!("invalid prefix \"{p}\""))?;
            if !dp.cluster_cidrs.remove(&net) {
                return Err(format!("cluster-cidr {p} is not configured"));
            }
        }
        ["datapath", "mode"] => return Err("usage: datapath mode native|vxlan|geneve".into()),
        ["datapath", "uplink"] => return Err("usage: datapath uplink IFNAME".into()),
        ["datapath", "vni"] => return Err("usage: datapath vni (1-16777215)".into()),
        ["datapath", "vxlan-port" | "geneve-port"] => {
            return Err("usage: datapath vxlan-port|geneve-port (1-65535)".into());
        }
        ["datapath", "cluster-cidr"] => return Err("usage: datapath cluster-cidr PREFIX".into()),
        ["datapath", "xdp"] => return Err("usage: datapath xdp auto|off".into()),
        [
            "datapath",
            "mode" | "uplink" | "vni" | "vxlan-port" | "geneve-port" | "cluster-cidr" | "xdp"
            | "node-prefix",
            ..,
        ] => {
            return Err(format!("datapath {} takes one value", words[1]));
        }
        ["datapath", other, ..] | ["no", "datapath", other, ..] => {
            return Err(format!(
                "unknown datapath setting \"{other}\" (mode, uplink, vni, vxlan-port, geneve-port, cluster-cidr, xdp, vtep, node-prefix)"
            ));
        }
        ["datapath"] | ["no", "datapath"] => {
            return Err(
                "datapath needs a setting (mode, uplink, vni, vxlan-port, geneve-port, cluster-cidr, xdp, vtep, node-prefix)"
                    .into(),
            );
        }
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// The `datapath` lines for show running-config (only what differs from
/// the defaults, mode last so that a file read back sets it up at once).
pub(crate) fn render(dp: &DatapathConfig, out: &mut String) {
    let before = out.len();
    if let Some(u) = &dp.uplink {
        let _ = writeln!(out, "datapath uplink {u}");
    }
    if dp.vni != DEFAULT_VNI {
        let _ = writeln!(out, "datapath vni {}", dp.vni);
    }
    if dp.vxlan_port != DEFAULT_VXLAN_PORT {
        let _ = writeln!(out, "datapath vxlan-port {}", dp.vxlan_port);
    }
    if dp.geneve_port != DEFAULT_GENEVE_PORT {
        let _ = writeln!(out, "datapath geneve-port {}", dp.geneve_port);
    }
    for c in &dp.cluster_cidrs {
        let _ = writeln!(out, "datapath cluster-cidr {c}");
    }
    if dp.xdp {
        let _ = writeln!(out, "datapath xdp auto");
    }
    for (p, v) in &dp.vteps {
        let _ = writeln!(out, "datapath vtep {p} {} {}", v.addr, mac_string(&v.mac));
    }
    for p in &dp.node_prefixes {
        let _ = writeln!(out, "datapath node-prefix {p}");
    }
    if let Some(m) = dp.mode {
        let _ = writeln!(out, "datapath mode {}", m.keyword());
    }
    if out.len() != before {
        out.push_str("!\n");
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn r_lines(r: &str) -> Vec<&str> {
        r.lines().collect()
    }

    #[test]
    fn lines_round_trip_through_running_config() {
        let text = "datapath mode vxlan\ndatapath uplink eth1\ndatapath vni 4242\n\
                    datapath vxlan-port 8472\ndatapath geneve-port 6082\n\
                    datapath cluster-cidr 10.244.0.0/16\ndatapath cluster-cidr 2001:db8:244::/48\n\
                    datapath xdp auto\ndatapath vtep 10.99.0.0/24 192.0.2.99 02:00:00:00:99:01\n\
                    datapath vtep fd00:99::/64 192.0.2.99 02:00:00:00:99:01\n\
                    datapath node-prefix 192.0.2.0/24\ndatapath node-prefix 2001:db8:ff::/48\n";
        let c = Config::parse("t", text).expect("valid");
        let d = &c.datapath;
        assert_eq!(d.mode, Some(super::DatapathMode::Vxlan));
        assert_eq!(d.uplink.as_deref(), Some("eth1"));
        assert_eq!((d.vni, d.vxlan_port, d.geneve_port), (4242, 8472, 6082));
        assert!(d.is_pod_cidr(&"10.244.2.0/24".parse().unwrap()));
        assert!(d.is_pod_cidr(&"2001:db8:244:2::/64".parse().unwrap()));
        assert!(!d.is_pod_cidr(&"198.51.100.12/32".parse().unwrap()));
        assert!(d.xdp);
        assert_eq!(d.vteps.len(), 2);
        assert_eq!(
            d.node_prefixes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["192.0.2.0/24", "2001:db8:ff::/48"]
        );
        assert!(
            r_lines(&c.render()).contains(&"datapath node-prefix 2001:db8:ff::/48"),
            "{}",
            c.render()
        );
        let r = c.render();
        let again = Config::parse("running", &r).expect("rendered config parses");
        assert_eq!(again, c, "{r}");
        assert_eq!(again.render(), r);
        let undone = Config::parse(
            "t",
            &format!(
                "{text}no datapath mode\nno datapath uplink\nno datapath vni\nno datapath vxlan-port\n\
                 no datapath geneve-port\nno datapath cluster-cidr 10.244.0.0/16\n\
                 no datapath cluster-cidr 2001:db8:244::/48\nno datapath xdp\n\
                 no datapath vtep 10.99.0.0/24\nno datapath vtep fd00:99::/64\n\
                 no datapath node-prefix 192.0.2.0/24\nno datapath node-prefix 2001:db8:ff::/48\n"
            ),
        )
        .expect("valid");
        assert_eq!(undone, Config::default());
        assert!(!undone.render().contains("datapath"));
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        for (line, want) in [
            ("datapath mode ipip", "unknown datapath mode"),
            ("datapath mode", "usage: datapath mode"),
            ("datapath vni 0", "invalid VNI"),
            ("datapath vni 16777216", "invalid VNI"),
            ("datapath vni x", "invalid VNI"),
            ("datapath vxlan-port 0", "invalid VXLAN port"),
            ("datapath geneve-port 70000", "invalid Geneve port"),
            ("datapath uplink a/b", "invalid interface name"),
            ("datapath uplink eth1 eth2", "takes one value"),
            ("datapath cluster-cidr 10.244.1.1/16", "host bits"),
            ("datapath cluster-cidr nonsense", "invalid prefix"),
            ("no datapath cluster-cidr 10.0.0.0/8", "not configured"),
            ("datapath frobnicate 1", "unknown datapath setting"),
            ("datapath xdp on", "invalid datapath xdp"),
            ("datapath xdp", "usage: datapath xdp"),
            ("datapath xdp auto off", "takes one value"),
            ("datapath", "needs a setting"),
            (
                "datapath vtep 10.99.0.0/24 192.0.2.99",
                "usage: datapath vtep",
            ),
            (
                "datapath vtep 10.99.0.1/24 192.0.2.99 02:00:00:00:99:01",
                "host bits",
            ),
            (
                "datapath vtep 10.99.0.0/24 nowhere 02:00:00:00:99:01",
                "invalid VTEP address",
            ),
            (
                "datapath vtep 10.99.0.0/24 192.0.2.99 01:00:5e:00:00:01",
                "invalid VTEP MAC",
            ),
            (
                "datapath vtep 10.99.0.0/24 192.0.2.99 02:00:00",
                "invalid VTEP MAC",
            ),
            (
                "datapath vtep 10.99.0.0/24 192.0.2.99 02:00:00:00:99:01\n\
                 datapath vtep 10.98.0.0/24 192.0.2.99 02:00:00:00:99:02",
                "one MAC per VTEP",
            ),
            ("no datapath vtep 10.99.0.0/24", "not configured"),
            ("datapath node-prefix 192.0.2.1/24", "host bits"),
            ("datapath node-prefix 2001:db8::1/64", "host bits"),
            ("datapath node-prefix nodes", "invalid prefix"),
            ("datapath node-prefix", "usage: datapath node-prefix"),
            ("no datapath node-prefix", "usage: datapath node-prefix"),
            (
                "datapath node-prefix 192.0.2.0/24 198.51.100.0/24",
                "takes one value",
            ),
            ("no datapath node-prefix 192.0.2.0/24", "not configured"),
            ("no datapath node-prefix x", "invalid prefix"),
        ] {
            let errs = Config::parse("t", line).expect_err(line);
            assert!(errs[0].reason.contains(want), "{line}: {errs:?}");
        }
    }
}
