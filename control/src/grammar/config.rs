//! The config-mode words, per mode as ternd names it (`config-router`):
//! FRR 8.4's help texts, read by the shell for `?`, TAB and abbreviations
//! and by ternd to spell out abbreviated lines before it parses them
//! ([`super::expand`]). The tables offer what ternd takes; ternd's parser
//! stays the judge, and a line the tables do not know is parsed as typed.
//! bgpd's `grammar_tests` checks that ternd knows every pattern here.
#[path = "config_srv6.rs"]
mod srv6;

use super::token::{
    ArgKind::{self, Asn, Ipv4, Ipv4Prefix, Ipv6, Ipv6Prefix, Line, Range, Word},
    Pattern, Token,
    Token::{Arg, Kw},
};

const NO: Token = Kw("no", "Negate a command or set its defaults");
const END: Token = Kw("end", "End current mode and change to enable mode");
const EXIT: Token = Kw("exit", "Exit current mode and down to previous mode");
const DO: Token = Kw("do", "To run exec commands in config-mode");
const BGP: Token = Kw("bgp", "BGP information");
const ASN: Token = Arg("(1-4294967295)", "AS number", Asn);
const NEIGHBOR: Token = Kw("neighbor", "Specify neighbor router");
const PEERS: [Token; 3] = [
    Arg("A.B.C.D", "Neighbor address", Ipv4),
    Arg("X:X::X:X", "Neighbor IPv6 address", Ipv6),
    Arg("WORD", "Interface name or neighbor tag", Word),
];
const PEER_GROUP: Token = Kw("peer-group", "Member of the peer-group");
const PGNAME: Token = Arg("PGNAME", "Peer-group name", Word);
const LEVELS: [(&str, &str); 8] = [
    ("alerts", "Immediate action needed"),
    ("critical", "Critical conditions"),
    ("debugging", "Debugging messages"),
    ("emergencies", "System is unusable"),
    ("errors", "Error conditions"),
    ("informational", "Informational messages"),
    ("notifications", "Normal but significant conditions"),
    ("warnings", "Warning conditions"),
];

/// Every config mode, as ternd names it in its replies and prompts.
/// `config-service` has no words of its own yet (its lines are parsed as
/// typed) but falls back to `config` like the others.
pub const MODES: [&str; 17] = [
    "config",
    "config-if",
    "config-router",
    "config-router-af",
    "config-route-map",
    "config-service",
    "config-egress-gw",
    "config-bfd",
    "config-bfd-peer",
    "config-sr",
    "config-srv6",
    "config-srv6-locators",
    "config-srv6-locator",
    "config-vrf",
    "config-router-srv6",
    "config-router-vrf",
    "config-router-vrf-af",
];

/// The mode a config mode falls back to for a line it does not know, as
/// ternd (and vtysh) do.
pub fn parent(mode: &str) -> Option<&'static str> {
    match mode {
        "config-if" | "config-router" | "config-route-map" | "config-service"
        | "config-egress-gw" | "config-bfd" | "config-sr" | "config-vrf" | "config-router-vrf" => {
            Some("config")
        }
        "config-router-af" | "config-router-srv6" => Some("config-router"),
        "config-bfd-peer" => Some("config-bfd"),
        "config-srv6" => Some("config-sr"),
        "config-srv6-locators" => Some("config-srv6"),
        "config-srv6-locator" => Some("config-srv6-locators"),
        "config-router-vrf-af" => Some("config-router-vrf"),
        _ => None,
    }
}

/// The words of one config mode (as the daemon names it in its reply),
/// with `end`, `exit` and `do`; an unknown mode has only those three.
/// Built once: ternd spells out every config line it reads through them.
pub fn patterns(mode: &str) -> &'static [Pattern] {
    static ALL: std::sync::OnceLock<Vec<(&'static str, Vec<Pattern>)>> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| MODES.iter().chain([&""]).map(|m| (*m, build(m))).collect());
    all.iter()
        .find(|(m, _)| *m == mode)
        .or_else(|| all.last())
        .map_or(&[], |(_, p)| p.as_slice())
}

fn build(mode: &str) -> Vec<Pattern> {
    let mut p = match mode {
        "config" => top(),
        "config-if" => interface(),
        "config-router" => router(),
        "config-router-af" => address_family(),
        "config-route-map" => route_map(),
        "config-egress-gw" => egress_policy(),
        "config-bfd" => bfd_node(),
        "config-bfd-peer" => bfd_peer(),
        "config-sr" => srv6::segment_routing(),
        "config-srv6" => srv6::srv6(),
        "config-srv6-locators" => srv6::locators(),
        "config-srv6-locator" => srv6::locator(),
        "config-vrf" => srv6::vrf(),
        "config-router-srv6" => srv6::router_srv6(),
        "config-router-vrf" => srv6::router_vrf(),
        "config-router-vrf-af" => srv6::router_vrf_af(),
        _ => Vec::new(),
    };
    p.extend([vec![END], vec![EXIT], vec![DO]]);
    p
}

/// `(config)#`
fn top() -> Vec<Pattern> {
    let hostname = Kw("hostname", "Set system's network name");
    let name = Arg("WORD", "This system's network name", Word);
    let log = Kw("log", "Logging control");
    let stdout = Kw("stdout", "Set stdout logging level");
    let ifname = Arg("IFNAME", "Interface's name", ArgKind::IfName);
    let router = Kw("router", "Enable a routing process");
    let mut p = vec![
        vec![hostname, name],
        vec![NO, Kw("hostname", "Reset system's network name")],
        vec![NO, Kw("hostname", "Reset system's network name"), name],
        vec![log, stdout],
        vec![NO, log, stdout],
        vec![Kw("interface", "Select an interface to configure"), ifname],
        vec![
            NO,
            Kw("interface", "Delete a pseudo interface's configuration"),
            ifname,
        ],
        vec![router, BGP, ASN],
        vec![NO, router, BGP],
        vec![NO, router, BGP, ASN],
    ];
    p.extend(LEVELS.iter().map(|(l, h)| vec![log, stdout, Kw(l, h)]));
    let file = Kw("file", "Logging to file");
    let path = Arg("FILENAME", "Logging filename", Word);
    let syslog = Kw("syslog", "Set syslog logging level");
    p.push(vec![log, file, path]);
    p.push(vec![NO, log, file]);
    p.push(vec![log, syslog]);
    p.push(vec![NO, log, syslog]);
    p.extend(LEVELS.iter().map(|(l, h)| vec![log, file, path, Kw(l, h)]));
    p.extend(LEVELS.iter().map(|(l, h)| vec![log, syslog, Kw(l, h)]));
    p.extend(static_routes());
    let frr = Kw("frr", "FRRouting global parameters");
    let defaults = Kw("defaults", "set of configuration defaults used");
    for (profile, help) in [
        (
            "datacenter",
            "Large-scale data center (BGP on-link) defaults",
        ),
        ("traditional", "Traditional (Internet) defaults"),
    ] {
        p.push(vec![frr, defaults, Kw(profile, help)]);
    }
    p.push(vec![NO, frr, defaults]);
    p.extend(policy_objects());
    p.extend(datapath());
    p.extend(egress_gateway());
    p.extend(srv6::top());
    let bfd = Kw("bfd", "Configure BFD peers");
    p.push(vec![bfd]);
    p.push(vec![NO, bfd]);
    p
}

/// `[no] ip route PREFIX TARGET [DISTANCE]`, `[no] ipv6 route ...`.
fn static_routes() -> Vec<Pattern> {
    let route = Kw("route", "Establish static routes");
    let distance = Arg("(1-255)", "Distance value for this route", Range(1, 255));
    let ifname = Arg("IFNAME", "Interface name", ArgKind::IfName);
    let null0 = Kw("Null0", "Null interface");
    let blackhole = Kw("blackhole", "Emit an ICMP unreachable when matched");
    let mut p = Vec::new();
    for (ip, prefix, gw) in [
        (
            Kw("ip", "IP information"),
            Arg("A.B.C.D/M", "IP destination prefix", Ipv4Prefix),
            Arg("A.B.C.D", "IP gateway address", Ipv4),
        ),
        (
            Kw("ipv6", "IPv6 information"),
            Arg("X:X::X:X/M", "IPv6 destination prefix", Ipv6Prefix),
            Arg("X:X::X:X", "IPv6 gateway address", Ipv6),
        ),
    ] {
        for target in [
            vec![gw],
            vec![gw, ifname],
            vec![ifname],
            vec![null0],
            vec![blackhole],
        ] {
            for with_distance in [false, true] {
                let mut line = vec![ip, route, prefix];
                line.extend(&target);
                if with_distance {
                    line.push(distance);
                }
                let mut no_line = vec![NO];
                no_line.extend(&line);
                p.push(line);
                p.push(no_line);
            }
        }
    }
    p
}

/// `(config-bfd)#`: FRR bfdd's `peer` line.
fn bfd_node() -> Vec<Pattern> {
    let peer = Kw("peer", "Configure peer");
    let addrs = [
        Arg("A.B.C.D", "IPv4 peer address", Ipv4),
        Arg("X:X::X:X", "IPv6 peer address", Ipv6),
    ];
    let multihop = Kw("multihop", "Configure multihop");
    let local = Kw("local-address", "Configure local address");
    let iface = Kw("interface", "Configure interface name to use");
    let ifname = Arg("IFNAME", "Interface name", ArgKind::IfName);
    let mut p = Vec::new();
    for a in addrs {
        let local_addr = if matches!(a, Arg(_, _, Ipv4)) {
            Arg("A.B.C.D", "IPv4 local address", Ipv4)
        } else {
            Arg("X:X::X:X", "IPv6 local address", Ipv6)
        };
        for no in [false, true] {
            let head: Vec<Token> = if no { vec![NO, peer, a] } else { vec![peer, a] };
            p.push(head.clone());
            p.push([head.clone(), vec![iface, ifname]].concat());
            p.push([head.clone(), vec![multihop, local, local_addr]].concat());
            p.push([head.clone(), vec![local, local_addr]].concat());
            p.push([head, vec![local, local_addr, iface, ifname]].concat());
        }
    }
    p
}

/// `(config-bfd-peer)#`: the session's timers and state.
fn bfd_peer() -> Vec<Pattern> {
    let mult = Kw("detect-multiplier", "Configure peer detection multiplier");
    let rx = Kw("receive-interval", "Configure peer receive interval");
    let tx = Kw("transmit-interval", "Configure peer transmit interval");
    let shutdown = Kw("shutdown", "Disable BFD peer");
    let ms = Arg(
        "(10-60000)",
        "Configure timer value in milliseconds",
        Range(10, 60000),
    );
    vec![
        vec![
            mult,
            Arg("(2-255)", "Configure multiplier value", Range(2, 255)),
        ],
        vec![rx, ms],
        vec![tx, ms],
        vec![NO, mult],
        vec![NO, rx],
        vec![NO, tx],
        vec![shutdown],
        vec![NO, shutdown],
    ]
}

/// `egress-gateway ...` lines (Tern's own; no FRR counterpart).
fn egress_gateway() -> Vec<Pattern> {
    let egw = Kw(
        "egress-gateway",
        "Egress gateway: pods leave through fixed egress IPs",
    );
    let policy = Kw("policy", "Create a policy or enter its command mode");
    let name = Arg("WORD", "Policy name", Word);
    let nat = Kw("nat", "SNAT settings of the gateways");
    let range = Kw("port-range", "Source ports given to translated flows");
    let timeout = Kw("timeout", "Idle time after which a translation expires");
    let kinds = [
        ("tcp-syn", "TCP before the handshake completes"),
        ("tcp-established", "Established TCP"),
        ("tcp-closing", "TCP after a FIN or a RST"),
        ("other", "UDP and ICMP"),
    ];
    let mut p = vec![
        vec![egw, policy, name],
        vec![NO, egw, policy, name],
        vec![
            egw,
            nat,
            range,
            Arg("(1-65535)", "First port", Range(1, 65535)),
            Arg("(1-65535)", "Last port", Range(1, 65535)),
        ],
        vec![NO, egw, nat, range],
    ];
    for (k, h) in kinds {
        p.push(vec![
            egw,
            nat,
            timeout,
            Kw(k, h),
            Arg("(1-604800)", "Seconds", Range(1, 604_800)),
        ]);
        p.push(vec![NO, egw, nat, timeout, Kw(k, h)]);
    }
    p
}

/// `(config-egress-gw)#`
fn egress_policy() -> Vec<Pattern> {
    let mtch = Kw("match", "Which pods the policy takes");
    let source = Kw("source", "Pods whose address lies in a prefix");
    let namespace = Kw("namespace", "Pods of a Kubernetes namespace");
    let destination = Kw("destination", "Destinations that leave through a gateway");
    let exclude = Kw("exclude", "Destinations inside a destination that do not");
    let gateway = Kw(
        "gateway",
        "A gateway node and the egress IP it translates to",
    );
    let egress_ip = Kw(
        "egress-ip",
        "The source address of the traffic leaving the gateway",
    );
    let ns = Arg("WORD", "Namespace name", Word);
    let mut p = Vec::new();
    for prefix in [
        Arg("A.B.C.D/M", "IPv4 prefix", Ipv4Prefix),
        Arg("X:X::X:X/M", "IPv6 prefix", Ipv6Prefix),
    ] {
        for line in [
            vec![mtch, source, prefix],
            vec![destination, prefix],
            vec![exclude, prefix],
        ] {
            let mut no = vec![NO];
            no.extend(&line);
            p.push(line);
            p.push(no);
        }
    }
    p.push(vec![mtch, namespace, ns]);
    p.push(vec![NO, mtch, namespace, ns]);
    let nodes = [
        Arg("A.B.C.D", "Gateway node's IPv4 address", Ipv4),
        Arg("X:X::X:X", "Gateway node's IPv6 address", Ipv6),
    ];
    let ips = [
        Arg("A.B.C.D", "IPv4 egress IP", Ipv4),
        Arg("X:X::X:X", "IPv6 egress IP", Ipv6),
    ];
    for node in nodes {
        p.push(vec![NO, gateway, node]);
        for ip in ips {
            p.push(vec![gateway, node, egress_ip, ip]);
            p.push(vec![NO, gateway, node, egress_ip, ip]);
        }
    }
    p
}

/// `datapath ...` lines (Tern's own; no FRR counterpart).
fn datapath() -> Vec<Pattern> {
    let dp = Kw("datapath", "eBPF pod datapath");
    let mode = Kw("mode", "How pod packets reach other nodes");
    let uplink = Kw("uplink", "Interface towards the fabric");
    let vni = Kw("vni", "VXLAN/Geneve network identifier");
    let vxlan_port = Kw("vxlan-port", "UDP port of VXLAN");
    let geneve_port = Kw("geneve-port", "UDP port of Geneve");
    let cidr = Kw("cluster-cidr", "Prefix holding the nodes' pod CIDRs");
    let xdp = Kw("xdp", "Service fast path in XDP on the uplink");
    let port = Arg("(1-65535)", "UDP port", Range(1, 65535));
    let prefix4 = Arg("A.B.C.D/M", "IPv4 prefix", Ipv4Prefix);
    let prefix6 = Arg("X:X::X:X/M", "IPv6 prefix", Ipv6Prefix);
    let mut p = vec![
        vec![
            dp,
            uplink,
            Arg("IFNAME", "Interface's name", ArgKind::IfName),
        ],
        vec![dp, vni, Arg("(1-16777215)", "VNI", Range(1, 16_777_215))],
        vec![dp, vxlan_port, port],
        vec![dp, geneve_port, port],
        vec![dp, cidr, prefix4],
        vec![dp, cidr, prefix6],
        vec![NO, dp, mode],
        vec![NO, dp, uplink],
        vec![NO, dp, vni],
        vec![NO, dp, vxlan_port],
        vec![NO, dp, geneve_port],
        vec![NO, dp, cidr, prefix4],
        vec![NO, dp, cidr, prefix6],
        vec![
            dp,
            xdp,
            Kw("auto", "Native XDP where the uplink's driver has it"),
        ],
        vec![dp, xdp, Kw("off", "TC programs only (default)")],
        vec![NO, dp, xdp],
    ];
    let node_prefix = Kw(
        "node-prefix",
        "Underlay range of the cluster's nodes (trusted tunnel sources)",
    );
    let vtep = Kw("vtep", "Prefix behind an external VTEP");
    for prefix in [prefix4, prefix6] {
        p.push(vec![dp, node_prefix, prefix]);
        p.push(vec![NO, dp, node_prefix, prefix]);
        p.push(vec![
            dp,
            vtep,
            prefix,
            Arg(
                "A.B.C.D|X:X::X:X",
                "VTEP's underlay address",
                ArgKind::IpAddr,
            ),
            Arg("XX:XX:XX:XX:XX:XX", "VTEP device's MAC address", Word),
        ]);
        p.push(vec![NO, dp, vtep, prefix]);
    }
    p.extend(
        [
            ("native", "Routed by the kernel FIB (BGP routes)"),
            ("vxlan", "VXLAN to the node announcing the pod CIDR"),
            ("geneve", "Geneve to the node announcing the pod CIDR"),
        ]
        .map(|(m, h)| vec![dp, mode, Kw(m, h)]),
    );
    p
}

/// `ip|ipv6 prefix-list`, `bgp community-list`, `route-map` (config mode).
fn policy_objects() -> Vec<Pattern> {
    let plist = Kw("prefix-list", "Build a prefix list");
    let pname = Arg("WORD", "Name of a prefix list", Word);
    let seq = Kw("seq", "sequence number of an entry");
    let seqn = Arg("(1-4294967295)", "Sequence number", Range(1, 4_294_967_295));
    let actions = [
        Kw("permit", "Specify packets to forward"),
        Kw("deny", "Specify packets to reject"),
    ];
    let mut p = Vec::new();
    for (family, prefix) in [
        (
            Kw("ip", "IP information"),
            Arg("A.B.C.D/M", "IP prefix <network>/<length>", Ipv4Prefix),
        ),
        (
            Kw("ipv6", "IPv6 information"),
            Arg("X:X::X:X/M", "IPv6 prefix", Ipv6Prefix),
        ),
    ] {
        let rest = Arg("LINE", "[ge N] [le N]", Line);
        for action in actions {
            for head in [
                vec![family, plist, pname],
                vec![family, plist, pname, seq, seqn],
            ] {
                let mut any = head.clone();
                any.extend([action, Kw("any", "Any prefix match")]);
                let mut one = head.clone();
                one.extend([action, prefix]);
                let mut ranged = one.clone();
                ranged.push(rest);
                let mut no = vec![NO];
                no.extend(&one);
                p.extend([any, one, ranged, no]);
            }
        }
        p.push(vec![NO, family, plist, pname]);
        p.push(vec![NO, family, plist, pname, seq, seqn]);
    }
    let clist = Kw("community-list", "Add a community list entry");
    let standard = Kw("standard", "Add a standard community-list entry");
    let cname = Arg("WORD", "Community list name", Word);
    let comms = Arg(
        "LINE",
        "Community number in AA:NN format or a well-known name",
        Line,
    );
    for action in actions {
        p.push(vec![BGP, clist, standard, cname, action, comms]);
        p.push(vec![BGP, clist, standard, cname, seq, seqn, action, comms]);
    }
    p.push(vec![NO, BGP, clist, standard, cname]);
    let rmap = Kw(
        "route-map",
        "Create route-map or enter route-map command mode",
    );
    let rname = Arg("WORD", "Route map tag", Word);
    let order = Arg(
        "(1-65535)",
        "Sequence to insert to/delete from existing route-map entry",
        Range(1, 65535),
    );
    for action in [
        Kw("permit", "Route map permits set operations"),
        Kw("deny", "Route map denies set operations"),
    ] {
        p.push(vec![rmap, rname, action, order]);
        p.push(vec![NO, rmap, rname, action, order]);
    }
    p.push(vec![NO, rmap, rname]);
    p
}

/// `(config-route-map)#`
fn route_map() -> Vec<Pattern> {
    let mtch = Kw("match", "Match values from routing table");
    let set = Kw("set", "Set values in destination routing protocol");
    let address = Kw("address", "Match address of route");
    let plist = Kw("prefix-list", "Match entries of prefix-lists");
    let pname = Arg("WORD", "IP prefix-list name", Word);
    let community = Kw("community", "Match BGP community list");
    let cname = Arg("WORD", "Community-list name", Word);
    let local_pref = Kw("local-preference", "BGP local preference path attribute");
    let metric = Kw("metric", "Metric value for destination routing protocol");
    let set_comm = Kw("community", "BGP community attribute");
    let as_path = Kw("as-path", "Transform BGP AS-path attribute");
    let prepend = Kw("prepend", "Prepend to the as-path");
    let mut p = vec![
        vec![mtch, Kw("ip", "IP information"), address, plist, pname],
        vec![mtch, Kw("ipv6", "IPv6 information"), address, plist, pname],
        vec![mtch, community, cname],
        vec![
            mtch,
            community,
            cname,
            Kw("exact-match", "Do exact matching of communities"),
        ],
        vec![
            set,
            local_pref,
            Arg(
                "(0-4294967295)",
                "Preference value",
                Range(0, 4_294_967_295),
            ),
        ],
        vec![
            set,
            metric,
            Arg("(0-4294967295)", "Metric value", Range(0, 4_294_967_295)),
        ],
        vec![set, set_comm, Kw("none", "No community attribute")],
        vec![
            set,
            set_comm,
            Arg(
                "LINE",
                "Community number in AA:NN format or a well-known name, [additive]",
                Line,
            ),
        ],
        vec![
            set,
            as_path,
            prepend,
            Arg("LINE", "AS numbers to prepend", Line),
        ],
    ];
    for tail in [
        vec![mtch, Kw("ip", "IP information"), address],
        vec![mtch, Kw("ipv6", "IPv6 information"), address],
        vec![mtch, community],
        vec![set, local_pref],
        vec![set, metric],
        vec![set, set_comm],
        vec![set, as_path, prepend],
    ] {
        let mut no = vec![NO];
        no.extend(tail);
        p.push(no);
    }
    p
}

/// `(config-if)#`
fn interface() -> Vec<Pattern> {
    let description = Kw("description", "Interface specific description");
    vec![
        vec![
            description,
            Arg("LINE", "Characters describing this interface", Line),
        ],
        vec![NO, description],
    ]
}

/// `(config-router)#`
fn router() -> Vec<Pattern> {
    let router_id = Kw("router-id", "Override configured router identifier");
    let family = Kw("address-family", "Enter Address Family command mode");
    let unicast = Kw("unicast", "Address Family modifier");
    let timers = Kw("timers", "BGP per neighbor timers");
    let mut p = vec![
        vec![
            BGP,
            router_id,
            Arg("A.B.C.D", "Manually configured router identifier", Ipv4),
        ],
        vec![NO, BGP, router_id],
    ];
    let gr = Kw("graceful-restart", "Graceful restart capability parameters");
    p.push(vec![BGP, gr]);
    p.push(vec![NO, BGP, gr]);
    for (kw, help, arg) in [
        (
            "restart-time",
            "Set the time to wait to delete stale routes before a BGP open message is received",
            Arg("(0-4095)", "Delay value (seconds)", Range(0, 4095)),
        ),
        (
            "stalepath-time",
            "Set the max time to hold onto restarting peer's stale paths",
            Arg("(1-4095)", "Delay value (seconds)", Range(1, 4095)),
        ),
    ] {
        p.push(vec![BGP, gr, Kw(kw, help), arg]);
        p.push(vec![NO, BGP, gr, Kw(kw, help)]);
    }
    let listen = Kw("listen", "BGP Dynamic Neighbors listen commands");
    let range = Kw("range", "Configure BGP dynamic neighbors listen range");
    for prefix in [
        Arg("A.B.C.D/M", "Neighbor address", Ipv4Prefix),
        Arg("X:X::X:X/M", "Neighbor address", Ipv6Prefix),
    ] {
        p.push(vec![BGP, listen, range, prefix, PEER_GROUP, PGNAME]);
        p.push(vec![NO, BGP, listen, range, prefix, PEER_GROUP, PGNAME]);
    }
    let bestpath = Kw("bestpath", "Change the default bestpath selection");
    let as_path = Kw("as-path", "AS-path attribute");
    let relax = Kw(
        "multipath-relax",
        "Allow load sharing across routes that have different AS paths (but same length)",
    );
    p.push(vec![BGP, bestpath, as_path, relax]);
    p.push(vec![
        BGP,
        bestpath,
        as_path,
        relax,
        Kw("no-as-set", "Do not generate an AS_SET"),
    ]);
    p.push(vec![NO, BGP, bestpath, as_path, relax]);
    p.push(vec![
        BGP,
        Kw(
            "log-neighbor-changes",
            "Log neighbor up/down and reset reason",
        ),
    ]);
    let log_changes = Kw(
        "log-neighbor-changes",
        "Log neighbor up/down and reset reason",
    );
    p.push(vec![NO, BGP, log_changes]);
    let requires = Kw(
        "ebgp-requires-policy",
        "Require in and out policy for eBGP peers (RFC8212)",
    );
    p.push(vec![BGP, requires]);
    p.push(vec![NO, BGP, requires]);
    let router_timers = Kw("timers", "Adjust routing timers");
    let bgp_timers = Kw("bgp", "BGP timers");
    p.push(vec![
        router_timers,
        bgp_timers,
        Arg("(0-65535)", "Keepalive interval", Range(0, 65535)),
        Arg("(0-65535)", "Holdtime", Range(0, 65535)),
    ]);
    p.push(vec![NO, router_timers, bgp_timers]);
    p.extend(send_community());
    let limit = Kw("limit", "Configure Dynamic Neighbors listen limit value");
    let max = Arg(
        "(1-65535)",
        "Configure Dynamic Neighbors listen limit value",
        Range(1, 65535),
    );
    p.push(vec![BGP, listen, limit, max]);
    p.push(vec![NO, BGP, listen, limit]);
    p.push(vec![NO, BGP, listen, limit, max]);
    let vpn = Kw("vpn", "Address Family modifier");
    for af in [Kw("ipv4", "Address Family"), Kw("ipv6", "Address Family")] {
        p.push(vec![family, af]);
        p.push(vec![family, af, unicast]);
        p.push(vec![family, af, vpn]);
    }
    p.extend(srv6::in_router());
    let remote_as = Kw("remote-as", "Specify a BGP neighbor");
    let tails: Vec<Vec<Token>> = vec![
        vec![remote_as, ASN],
        vec![remote_as, Kw("internal", "Internal BGP peer")],
        vec![remote_as, Kw("external", "External BGP peer")],
        vec![
            Kw("description", "Neighbor specific description"),
            Arg("LINE", "Up to 80 characters describing this neighbor", Line),
        ],
        vec![
            timers,
            Arg("(0-65535)", "Keepalive interval", Range(0, 65535)),
            Arg("(0-65535)", "Holdtime", Range(0, 65535)),
        ],
        vec![
            timers,
            Kw("connect", "BGP connect timer"),
            Arg("(1-65535)", "Connect timer", Range(1, 65535)),
        ],
        vec![Kw("passive", "Don't send open messages to this neighbor")],
        vec![
            Kw("password", "Set a password"),
            Arg("LINE", "The password", Word),
        ],
        vec![Kw(
            "ebgp-multihop",
            "Allow EBGP neighbors not on directly connected networks",
        )],
        vec![
            Kw(
                "ebgp-multihop",
                "Allow EBGP neighbors not on directly connected networks",
            ),
            Arg("(1-255)", "maximum hop count", Range(1, 255)),
        ],
        vec![
            Kw("update-source", "Source of routing updates"),
            Arg("A.B.C.D", "IPv4 address", Ipv4),
        ],
        vec![
            Kw("update-source", "Source of routing updates"),
            Arg("X:X::X:X", "IPv6 address", Ipv6),
        ],
        vec![
            Kw("update-source", "Source of routing updates"),
            Arg("WORD", "Interface name", ArgKind::IfName),
        ],
        vec![Kw("shutdown", "Administratively shut down this neighbor")],
        vec![Kw("bfd", "Enables BFD support")],
        vec![Kw("peer-group", "Configure peer-group")],
        vec![PEER_GROUP, PGNAME],
        vec![
            Kw("ttl-security", "BGP ttl-security parameters"),
            Kw("hops", "Specify the maximum number of hops to the BGP peer"),
            Arg("(1-254)", "Number of hops to BGP peer", Range(1, 254)),
        ],
    ];
    // FRR 9's `path-attribute discard|treat-as-withdraw (1-255)...`: the
    // table holds one number; further ones are sent as typed.
    let path_attribute = Kw(
        "path-attribute",
        "Manipulate path attributes from incoming UPDATE messages",
    );
    let attr_num = Arg("(1-255)", "Attribute number", Range(1, 255));
    let mut tails = tails;
    for (kind, help) in [
        (
            "discard",
            "Drop specified attributes from incoming UPDATE messages",
        ),
        (
            "treat-as-withdraw",
            "Treat-as-withdraw any incoming BGP UPDATE messages that contain the specified attribute",
        ),
    ] {
        tails.push(vec![path_attribute, Kw(kind, help), attr_num]);
        tails.push(vec![path_attribute, Kw(kind, help)]);
    }
    p.extend(neighbor_forms(&tails, true));
    p.extend(neighbor_forms(&af_neighbor_tails(), false));
    p
}

/// `(config-router-af)#`
fn address_family() -> Vec<Pattern> {
    let network = Kw("network", "Specify a network to announce via BGP");
    let paths = Kw("maximum-paths", "Forward packets over multiple paths");
    let npaths = Arg("(1-256)", "Number of paths", Range(1, 256));
    let mut p = vec![
        vec![Kw(
            "exit-address-family",
            "Exit from Address Family configuration mode",
        )],
        vec![paths, npaths],
        vec![NO, paths],
        vec![NO, paths, npaths],
    ];
    for prefix in [
        Arg("A.B.C.D/M", "IPv4 prefix", Ipv4Prefix),
        Arg("X:X::X:X/M", "IPv6 prefix", Ipv6Prefix),
    ] {
        p.push(vec![network, prefix]);
        p.push(vec![NO, network, prefix]);
        let aggregate = Kw("aggregate-address", "Configure BGP aggregate entries");
        let as_set = Kw("as-set", "Generate AS set path information");
        let summary = Kw("summary-only", "Filter more specific routes from updates");
        for opts in [
            vec![],
            vec![as_set],
            vec![summary],
            vec![as_set, summary],
            vec![summary, as_set],
        ] {
            let mut line = vec![aggregate, prefix];
            line.extend(opts);
            let mut no_line = vec![NO];
            no_line.extend(&line);
            p.push(line);
            p.push(no_line);
        }
    }
    let redistribute = Kw(
        "redistribute",
        "Redistribute information from another routing protocol",
    );
    for (kind, help) in [
        (
            "connected",
            "Connected routes (directly attached subnet or host)",
        ),
        ("kernel", "Kernel routes (not installed via the zebra RIB)"),
        ("static", "Statically configured routes"),
    ] {
        p.push(vec![redistribute, Kw(kind, help)]);
        p.push(vec![NO, redistribute, Kw(kind, help)]);
    }
    let max_prefix = Kw(
        "maximum-prefix",
        "Maximum number of prefix accept from this peer",
    );
    let tails = vec![
        vec![Kw(
            "activate",
            "Enable the Address Family for this Neighbor",
        )],
        vec![
            max_prefix,
            Arg(
                "(1-4294967295)",
                "maximum no. of prefix limit",
                Range(1, 4_294_967_295),
            ),
        ],
        vec![Kw(
            "route-reflector-client",
            "Configure a neighbor as Route Reflector client",
        )],
    ];
    let route_map = Kw("route-map", "Apply route map to neighbor");
    let name = Arg("WORD", "Name of route map", Word);
    let mut tails = tails;
    for dir in [
        Kw("in", "Apply map to incoming routes"),
        Kw("out", "Apply map to outbound routes"),
    ] {
        tails.push(vec![route_map, name, dir]);
    }
    p.extend(neighbor_forms(&tails, false));
    p.extend(neighbor_forms(&af_neighbor_tails(), false));
    p.extend(send_community());
    p
}

/// The per-family neighbor lines that FRR also takes in router mode (for
/// IPv4 unicast): allowas-in, next-hop-self, soft-reconfiguration.
fn af_neighbor_tails() -> Vec<Vec<Token>> {
    let allowas = Kw("allowas-in", "Accept as-path with my AS present in it");
    let nhs = Kw(
        "next-hop-self",
        "Disable the next hop calculation for this neighbor",
    );
    let soft = Kw("soft-reconfiguration", "Per neighbor soft reconfiguration");
    vec![
        vec![allowas],
        vec![
            allowas,
            Arg("(1-10)", "Number of occurrences of AS number", Range(1, 10)),
        ],
        vec![
            allowas,
            Kw(
                "origin",
                "Only accept my AS in the as-path if the route was originated in my AS",
            ),
        ],
        vec![nhs],
        vec![
            nhs,
            Kw("force", "Set the next hop to self for reflected routes"),
        ],
        vec![
            soft,
            Kw(
                "inbound",
                "Allow inbound soft reconfiguration for this neighbor",
            ),
        ],
    ]
}

/// `neighbor PEER send-community [KIND]`: accepted by ternd (it sends
/// every community); the `no` form is refused, so it is not offered.
fn send_community() -> Vec<Pattern> {
    let send = Kw(
        "send-community",
        "Send Community attribute to this neighbor",
    );
    let kinds = [
        ("standard", "Send Standard Community attributes"),
        ("extended", "Send Extended Community attributes"),
        ("large", "Send Large Community attributes"),
        (
            "all",
            "Send Standard, Large and Extended Community attributes",
        ),
        ("both", "Send Standard and Extended Community attributes"),
    ];
    let mut p = Vec::new();
    for peer in PEERS {
        p.push(vec![NEIGHBOR, peer, send]);
        for (k, h) in kinds {
            p.push(vec![NEIGHBOR, peer, send, Kw(k, h)]);
        }
    }
    p
}

/// `neighbor PEER TAIL` for each peer kind and tail, and the `no` forms:
/// the whole line, the tail's first word alone and, in router mode,
/// `no neighbor PEER`.
fn neighbor_forms(tails: &[Vec<Token>], bare_no: bool) -> Vec<Pattern> {
    let mut p = Vec::new();
    for peer in PEERS {
        if bare_no {
            p.push(vec![NO, NEIGHBOR, peer]);
        }
        for tail in tails {
            let mut line = vec![NEIGHBOR, peer];
            line.extend(tail);
            let mut no_line = vec![NO];
            no_line.extend(&line);
            let mut no_short = vec![NO, NEIGHBOR, peer];
            no_short.extend(tail.first());
            p.push(line);
            p.push(no_line);
            p.push(no_short);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_offers_end_exit_do() {
        for m in [
            "config",
            "config-if",
            "config-router",
            "config-router-af",
            "config-egress-gw",
            "config-bfd",
            "config-bfd-peer",
            "?",
        ] {
            let p = patterns(m);
            for w in ["end", "exit", "do"] {
                assert!(
                    p.iter()
                        .any(|t| matches!(t.as_slice(), [Kw(k, _)] if *k == w)),
                    "{m}: {w}"
                );
            }
        }
    }
}
