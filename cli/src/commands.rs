//! The command grammar of `tern`'s exec mode and the matcher that turns a
//! typed line into a command, with vtysh's rules: words may be shortened to
//! any unique prefix (`sh int br`), an exact keyword beats a prefix, a
//! keyword beats a free argument, and errors say unknown, ambiguous or
//! incomplete. [`crate::help`] answers `?` and TAB from the same tables.
//! The tokens and the word matching are the shared grammar's
//! ([`tern_control::grammar`]), which also holds the config-mode words.
pub use tern_control::grammar::{ArgKind, Token};
use tern_control::grammar::{Quality, quality};

/// What a command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    ShowVersion,
    ShowInterfaces,
    ShowInterfacesBrief,
    ShowInterface,
    ShowRunningConfig,
    /// `show bgp summary`: every family with peers.
    ShowBgpSummary,
    ShowBgpSummaryV4,
    ShowBgpSummaryV6,
    ShowBgpSummaryVpnV4,
    ShowBgpSummaryVpnV6,
    /// `show ip bgp`, `show bgp [ipv4 unicast]`: the IPv4 Loc-RIB.
    ShowBgpV4,
    ShowBgpV6,
    /// `show ip bgp PREFIX|ADDR`: one prefix in detail.
    ShowBgpRouteV4,
    ShowBgpRouteV6,
    /// `show bgp ipv4|ipv6 vpn [rd RD]`: the VPN table by RD.
    ShowBgpVpnV4,
    ShowBgpVpnV6,
    /// `show bgp ipv4|ipv6 vpn [rd RD] PREFIX`: one prefix in detail.
    ShowBgpVpnRouteV4,
    ShowBgpVpnRouteV6,
    /// `show segment-routing srv6 locator`.
    ShowSrv6Locators,
    /// `show segment-routing srv6 locator NAME detail`.
    ShowSrv6LocatorDetail,
    /// `show vrf`.
    ShowVrfs,
    /// `show bgp neighbors [ADDR]`.
    ShowBgpNeighbors,
    /// `show ip bgp neighbors ADDR received-routes|advertised-routes`
    /// (and `show bgp ipv4|ipv6 unicast neighbors ...`).
    ShowBgpReceivedV4,
    ShowBgpReceivedV6,
    ShowBgpAdvertisedV4,
    ShowBgpAdvertisedV6,
    /// `show ip route`, `show ipv6 route`.
    ShowIpRoute,
    ShowIpv6Route,
    /// `show ip route vrf NAME`, `show ipv6 route vrf NAME`.
    ShowIpRouteVrf,
    ShowIpv6RouteVrf,
    /// `clear bgp *|ADDR [soft [in|out]]`.
    ClearBgp,
    ClearBgpSoft,
    ClearBgpSoftIn,
    ClearBgpSoftOut,
    VipAdd,
    VipDel,
    ShowVips,
    /// `show service [NAME]`.
    ShowServices,
    /// `show service conntrack [NAME]`.
    ShowConntrack,
    /// `show bfd peers`.
    ShowBfdPeers,
    /// `show bfd peer ADDR`.
    ShowBfdPeer,
    /// `show egress-gateway`: policies, gateways' health, steered pods.
    ShowEgressGateway,
    /// `show egress-gateway nat`: the flows translated on this node.
    ShowEgressNat,
    /// `show datapath endpoints`: pod endpoints with their datapath counters.
    ShowEndpoints,
    /// `show datapath`: mode, uplink, tunnel settings, pod MTU.
    ShowDatapath,
    /// `show datapath drops`: dropped packets by reason.
    ShowDatapathDrops,
    /// `configure terminal`: enter config mode (the client's own state).
    ConfigureTerminal,
    /// `write [memory|file]`, `copy running-config startup-config`.
    WriteMemory,
    /// `end` in exec mode: nothing to leave.
    End,
    Exit,
}

/// One command: its words, and whether it takes a trailing `json`.
#[derive(Clone, Copy, Debug)]
pub struct CommandDef {
    pub tokens: &'static [Token],
    pub json: bool,
    pub action: Action,
}

use Token::{IfName, Kw};

const SHOW: Token = Kw("show", "Show running system information");
const BGP: Token = Kw("bgp", "BGP information");
const IP: Token = Kw("ip", "IP information");
const IPV4: Token = Kw("ipv4", "Address Family");
const IPV6: Token = Kw("ipv6", "Address Family");
const UNICAST: Token = Kw("unicast", "Address Family modifier");
const VPN: Token = Kw("vpn", "Virtual Private Network");
const SEGMENT_ROUTING: Token = Kw("segment-routing", "Segment-Routing");
const SRV6: Token = Kw("srv6", "Segment-Routing SRv6");
const LOCATOR: Token = Kw("locator", "Locator Information");
const LOCATOR_NAME: Token = Token::Arg("NAME", "Locator Name", ArgKind::Word);
const RD: Token = Kw("rd", "Display information for a route distinguisher");
const RD_VALUE: Token = Token::Arg(
    "<ASN:NN_OR_IP-ADDRESS:NN|all>",
    "VPN Route Distinguisher, or all of them",
    ArgKind::Word,
);
const SERVICE: Token = Kw("service", "Kubernetes-style services");
const VIP: Token = Kw("vip", "Service LoadBalancer VIPs announced over BGP");
const DATAPATH: Token = Kw("datapath", "Tern's datapath state");
const SERVICE_NAME: Token = Token::Arg("NAME", "Service name", ArgKind::Word);
const CONNTRACK: Token = Kw(
    "conntrack",
    "Connections through services (Tern's own conntrack)",
);
const EGRESS_GATEWAY: Token = Kw(
    "egress-gateway",
    "Egress gateway policies, gateways and translations",
);
const SUMMARY: Token = Kw("summary", "Summary of BGP neighbor status");
const BFD: Token = Kw("bfd", "Bidirection Forwarding Detection");
const BFD_PEER_ADDR: Token = Token::Arg("<A.B.C.D|X:X::X:X>", "IP address", ArgKind::IpAddr);
const INTERFACE: Token = Kw("interface", "Interface status and configuration");
const NEIGHBORS: Token = Kw(
    "neighbors",
    "Detailed information on TCP and BGP neighbor connections",
);
const NEIGHBOR_ADDR: Token = Token::Arg(
    "<A.B.C.D|X:X::X:X|WORD>",
    "Neighbor to display information about",
    ArgKind::Word,
);
const RECEIVED: Token = Kw(
    "received-routes",
    "Display the received routes from neighbor",
);
const ADVERTISED: Token = Kw(
    "advertised-routes",
    "Display the routes advertised to a BGP neighbor",
);
const ROUTE: Token = Kw("route", "IP routing table");
const VRF: Token = Kw("vrf", "Specify the VRF");
const VRF_NAME: Token = Token::Arg("NAME", "The VRF name", ArgKind::Word);
const V4_NET: Token = Token::Arg(
    "A.B.C.D",
    "Network in the BGP routing table to display",
    ArgKind::Ipv4,
);
const V4_PREFIX: Token = Token::Arg("A.B.C.D/M", "IPv4 prefix", ArgKind::Ipv4Prefix);
const V6_NET: Token = Token::Arg(
    "X:X::X:X",
    "Network in the BGP routing table to display",
    ArgKind::Ipv6,
);
const V6_PREFIX: Token = Token::Arg("X:X::X:X/M", "IPv6 prefix", ArgKind::Ipv6Prefix);
const CLEAR: Token = Kw("clear", "Reset functions");
const ALL: Token = Kw("*", "Clear all peers");
const PEER: Token = Token::Arg(
    "<A.B.C.D|X:X::X:X|WORD>",
    "BGP neighbor address to clear",
    ArgKind::Word,
);
const SOFT: Token = Kw("soft", "Soft reconfig inbound and outbound updates");
const IN: Token = Kw(
    "in",
    "Send route-refresh unless using 'soft-reconfiguration inbound'",
);
const OUT: Token = Kw("out", "Resend all outbound updates");

/// The `show` commands of the BGP table, neighbors and the kernel FIB.
const fn show(tokens: &'static [Token], action: Action) -> CommandDef {
    CommandDef {
        tokens,
        json: true,
        action,
    }
}

/// A `clear` command.
const fn clear(tokens: &'static [Token], action: Action) -> CommandDef {
    CommandDef {
        tokens,
        json: false,
        action,
    }
}

const WRITE: Token = Kw(
    "write",
    "Write running configuration to memory, network, or terminal",
);

/// Every command `tern` knows.
pub const COMMANDS: &[CommandDef] = &[
    CommandDef {
        tokens: &[SHOW, Kw("version", "Displays ternd version")],
        json: false,
        action: Action::ShowVersion,
    },
    CommandDef {
        tokens: &[SHOW, INTERFACE],
        json: true,
        action: Action::ShowInterfaces,
    },
    CommandDef {
        tokens: &[
            SHOW,
            INTERFACE,
            Kw("brief", "Interface status and configuration summary"),
        ],
        json: true,
        action: Action::ShowInterfacesBrief,
    },
    CommandDef {
        tokens: &[SHOW, INTERFACE, IfName],
        json: true,
        action: Action::ShowInterface,
    },
    CommandDef {
        tokens: &[
            SHOW,
            Kw(
                "running-config",
                "running configuration (same as write terminal)",
            ),
        ],
        json: false,
        action: Action::ShowRunningConfig,
    },
    CommandDef {
        tokens: &[
            SERVICE,
            VIP,
            Kw("add", "Announce a service VIP over BGP"),
            Token::Prefix,
        ],
        json: false,
        action: Action::VipAdd,
    },
    CommandDef {
        tokens: &[
            SERVICE,
            VIP,
            Kw("del", "Withdraw a service VIP"),
            Token::Prefix,
        ],
        json: false,
        action: Action::VipDel,
    },
    CommandDef {
        tokens: &[SHOW, SERVICE, VIP],
        json: true,
        action: Action::ShowVips,
    },
    show(&[SHOW, SERVICE], Action::ShowServices),
    show(&[SHOW, SERVICE, SERVICE_NAME], Action::ShowServices),
    show(&[SHOW, SERVICE, CONNTRACK], Action::ShowConntrack),
    show(
        &[SHOW, SERVICE, CONNTRACK, SERVICE_NAME],
        Action::ShowConntrack,
    ),
    show(
        &[SHOW, BFD, Kw("peers", "BFD peers status")],
        Action::ShowBfdPeers,
    ),
    show(
        &[SHOW, BFD, Kw("peer", "Show BFD peer"), BFD_PEER_ADDR],
        Action::ShowBfdPeer,
    ),
    show(&[SHOW, EGRESS_GATEWAY], Action::ShowEgressGateway),
    show(
        &[
            SHOW,
            EGRESS_GATEWAY,
            Kw("nat", "Flows translated to an egress IP on this node"),
        ],
        Action::ShowEgressNat,
    ),
    CommandDef {
        tokens: &[SHOW, DATAPATH],
        json: true,
        action: Action::ShowDatapath,
    },
    CommandDef {
        tokens: &[
            SHOW,
            DATAPATH,
            Kw("endpoints", "Pod endpoints registered by tern-cni"),
        ],
        json: true,
        action: Action::ShowEndpoints,
    },
    CommandDef {
        tokens: &[
            SHOW,
            DATAPATH,
            Kw("drops", "Packets the datapath dropped, by reason"),
        ],
        json: true,
        action: Action::ShowDatapathDrops,
    },
    CommandDef {
        tokens: &[SHOW, BGP, SUMMARY],
        json: true,
        action: Action::ShowBgpSummary,
    },
    CommandDef {
        tokens: &[SHOW, IP, BGP, SUMMARY],
        json: true,
        action: Action::ShowBgpSummaryV4,
    },
    CommandDef {
        tokens: &[SHOW, BGP, IPV4, UNICAST, SUMMARY],
        json: true,
        action: Action::ShowBgpSummaryV4,
    },
    CommandDef {
        tokens: &[SHOW, BGP, IPV6, UNICAST, SUMMARY],
        json: true,
        action: Action::ShowBgpSummaryV6,
    },
    show(
        &[SHOW, BGP, IPV4, VPN, SUMMARY],
        Action::ShowBgpSummaryVpnV4,
    ),
    show(
        &[SHOW, BGP, IPV6, VPN, SUMMARY],
        Action::ShowBgpSummaryVpnV6,
    ),
    show(&[SHOW, IP, BGP], Action::ShowBgpV4),
    show(&[SHOW, BGP], Action::ShowBgpV4),
    show(&[SHOW, BGP, IPV4, UNICAST], Action::ShowBgpV4),
    show(&[SHOW, BGP, IPV6, UNICAST], Action::ShowBgpV6),
    // As in FRR, every family's table takes addresses and prefixes of
    // both; the wrong one is refused with FRR's message.
    show(&[SHOW, IP, BGP, V4_NET], Action::ShowBgpRouteV4),
    show(&[SHOW, IP, BGP, V4_PREFIX], Action::ShowBgpRouteV4),
    show(&[SHOW, IP, BGP, V6_NET], Action::ShowBgpRouteV4),
    show(&[SHOW, IP, BGP, V6_PREFIX], Action::ShowBgpRouteV4),
    show(&[SHOW, BGP, V4_NET], Action::ShowBgpRouteV4),
    show(&[SHOW, BGP, V4_PREFIX], Action::ShowBgpRouteV4),
    show(&[SHOW, BGP, V6_NET], Action::ShowBgpRouteV4),
    show(&[SHOW, BGP, V6_PREFIX], Action::ShowBgpRouteV4),
    show(&[SHOW, BGP, IPV4, UNICAST, V4_NET], Action::ShowBgpRouteV4),
    show(
        &[SHOW, BGP, IPV4, UNICAST, V4_PREFIX],
        Action::ShowBgpRouteV4,
    ),
    show(&[SHOW, BGP, IPV4, UNICAST, V6_NET], Action::ShowBgpRouteV4),
    show(
        &[SHOW, BGP, IPV4, UNICAST, V6_PREFIX],
        Action::ShowBgpRouteV4,
    ),
    show(&[SHOW, BGP, IPV6, UNICAST, V4_NET], Action::ShowBgpRouteV6),
    show(
        &[SHOW, BGP, IPV6, UNICAST, V4_PREFIX],
        Action::ShowBgpRouteV6,
    ),
    show(&[SHOW, BGP, IPV6, UNICAST, V6_NET], Action::ShowBgpRouteV6),
    show(
        &[SHOW, BGP, IPV6, UNICAST, V6_PREFIX],
        Action::ShowBgpRouteV6,
    ),
    show(
        &[SHOW, SEGMENT_ROUTING, SRV6, LOCATOR],
        Action::ShowSrv6Locators,
    ),
    show(
        &[
            SHOW,
            SEGMENT_ROUTING,
            SRV6,
            LOCATOR,
            LOCATOR_NAME,
            Kw("detail", "Detailed information"),
        ],
        Action::ShowSrv6LocatorDetail,
    ),
    CommandDef {
        tokens: &[SHOW, Kw("vrf", "VRF")],
        json: false,
        action: Action::ShowVrfs,
    },
    show(&[SHOW, BGP, IPV4, VPN], Action::ShowBgpVpnV4),
    show(&[SHOW, BGP, IPV4, VPN, RD, RD_VALUE], Action::ShowBgpVpnV4),
    show(
        &[SHOW, BGP, IPV4, VPN, V4_PREFIX],
        Action::ShowBgpVpnRouteV4,
    ),
    show(
        &[SHOW, BGP, IPV4, VPN, RD, RD_VALUE, V4_PREFIX],
        Action::ShowBgpVpnRouteV4,
    ),
    show(&[SHOW, BGP, IPV6, VPN], Action::ShowBgpVpnV6),
    show(&[SHOW, BGP, IPV6, VPN, RD, RD_VALUE], Action::ShowBgpVpnV6),
    show(
        &[SHOW, BGP, IPV6, VPN, V6_PREFIX],
        Action::ShowBgpVpnRouteV6,
    ),
    show(
        &[SHOW, BGP, IPV6, VPN, RD, RD_VALUE, V6_PREFIX],
        Action::ShowBgpVpnRouteV6,
    ),
    show(&[SHOW, BGP, NEIGHBORS], Action::ShowBgpNeighbors),
    show(
        &[SHOW, BGP, NEIGHBORS, NEIGHBOR_ADDR],
        Action::ShowBgpNeighbors,
    ),
    show(&[SHOW, IP, BGP, NEIGHBORS], Action::ShowBgpNeighbors),
    show(
        &[SHOW, IP, BGP, NEIGHBORS, NEIGHBOR_ADDR],
        Action::ShowBgpNeighbors,
    ),
    show(
        &[SHOW, IP, BGP, NEIGHBORS, NEIGHBOR_ADDR, RECEIVED],
        Action::ShowBgpReceivedV4,
    ),
    show(
        &[SHOW, IP, BGP, NEIGHBORS, NEIGHBOR_ADDR, ADVERTISED],
        Action::ShowBgpAdvertisedV4,
    ),
    show(
        &[SHOW, BGP, IPV4, UNICAST, NEIGHBORS, NEIGHBOR_ADDR, RECEIVED],
        Action::ShowBgpReceivedV4,
    ),
    show(
        &[
            SHOW,
            BGP,
            IPV4,
            UNICAST,
            NEIGHBORS,
            NEIGHBOR_ADDR,
            ADVERTISED,
        ],
        Action::ShowBgpAdvertisedV4,
    ),
    show(
        &[SHOW, BGP, IPV6, UNICAST, NEIGHBORS, NEIGHBOR_ADDR, RECEIVED],
        Action::ShowBgpReceivedV6,
    ),
    show(
        &[
            SHOW,
            BGP,
            IPV6,
            UNICAST,
            NEIGHBORS,
            NEIGHBOR_ADDR,
            ADVERTISED,
        ],
        Action::ShowBgpAdvertisedV6,
    ),
    show(&[SHOW, IP, ROUTE], Action::ShowIpRoute),
    show(&[SHOW, IP, ROUTE, VRF, VRF_NAME], Action::ShowIpRouteVrf),
    show(
        &[
            SHOW,
            Kw("ipv6", "IPv6 information"),
            Kw("route", "IPv6 routing table"),
            VRF,
            VRF_NAME,
        ],
        Action::ShowIpv6RouteVrf,
    ),
    show(
        &[
            SHOW,
            Kw("ipv6", "IPv6 information"),
            Kw("route", "IPv6 routing table"),
        ],
        Action::ShowIpv6Route,
    ),
    clear(&[CLEAR, BGP, ALL], Action::ClearBgp),
    clear(&[CLEAR, BGP, ALL, SOFT], Action::ClearBgpSoft),
    clear(&[CLEAR, BGP, ALL, SOFT, IN], Action::ClearBgpSoftIn),
    clear(&[CLEAR, BGP, ALL, SOFT, OUT], Action::ClearBgpSoftOut),
    clear(&[CLEAR, BGP, PEER], Action::ClearBgp),
    clear(&[CLEAR, BGP, PEER, SOFT], Action::ClearBgpSoft),
    clear(&[CLEAR, BGP, PEER, SOFT, IN], Action::ClearBgpSoftIn),
    clear(&[CLEAR, BGP, PEER, SOFT, OUT], Action::ClearBgpSoftOut),
    clear(&[CLEAR, IP, BGP, ALL], Action::ClearBgp),
    clear(&[CLEAR, IP, BGP, ALL, SOFT], Action::ClearBgpSoft),
    clear(&[CLEAR, IP, BGP, ALL, SOFT, IN], Action::ClearBgpSoftIn),
    clear(&[CLEAR, IP, BGP, ALL, SOFT, OUT], Action::ClearBgpSoftOut),
    clear(&[CLEAR, IP, BGP, PEER], Action::ClearBgp),
    clear(&[CLEAR, IP, BGP, PEER, SOFT], Action::ClearBgpSoft),
    clear(&[CLEAR, IP, BGP, PEER, SOFT, IN], Action::ClearBgpSoftIn),
    clear(&[CLEAR, IP, BGP, PEER, SOFT, OUT], Action::ClearBgpSoftOut),
    CommandDef {
        tokens: &[
            Kw("configure", "Configuration from vty interface"),
            Kw("terminal", "Configuration terminal"),
        ],
        json: false,
        action: Action::ConfigureTerminal,
    },
    CommandDef {
        tokens: &[WRITE],
        json: false,
        action: Action::WriteMemory,
    },
    CommandDef {
        tokens: &[
            WRITE,
            Kw(
                "memory",
                "Write configuration to the file (same as write file)",
            ),
        ],
        json: false,
        action: Action::WriteMemory,
    },
    CommandDef {
        tokens: &[
            WRITE,
            Kw(
                "file",
                "Write configuration to the file (same as write memory)",
            ),
        ],
        json: false,
        action: Action::WriteMemory,
    },
    CommandDef {
        tokens: &[WRITE, Kw("terminal", "Write to terminal")],
        json: false,
        action: Action::ShowRunningConfig,
    },
    CommandDef {
        tokens: &[
            Kw("copy", "Copy from one file to another"),
            Kw("running-config", "Copy from current system configuration"),
            Kw("startup-config", "Copy to startup configuration"),
        ],
        json: false,
        action: Action::WriteMemory,
    },
    CommandDef {
        tokens: &[Kw("end", "End current mode and change to enable mode")],
        json: false,
        action: Action::End,
    },
    CommandDef {
        tokens: &[Kw("exit", "Exit current mode and down to previous mode")],
        json: false,
        action: Action::Exit,
    },
    CommandDef {
        tokens: &[Kw("quit", "Exit current mode and down to previous mode")],
        json: false,
        action: Action::Exit,
    },
];

const JSON: Token = Kw("json", "JavaScript Object Notation");

/// A matched command with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub action: Action,
    /// The interface name, for commands that take one.
    pub ifname: Option<String>,
    /// The prefix, for commands that take one.
    pub prefix: Option<ipnet::IpNet>,
    /// The address, for commands that take one (a network to look up by
    /// longest match).
    pub addr: Option<std::net::IpAddr>,
    /// A free word argument (a neighbor's address as typed).
    pub word: Option<String>,
    pub json: bool,
}

/// Why a line is not a command, with the index of the offending word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    Unknown { word: usize },
    Ambiguous { word: usize },
    Incomplete,
}

/// A command's tokens, with `json` appended when asked for.
fn tokens_of(def: &CommandDef, with_json: bool) -> Vec<Token> {
    let mut t = def.tokens.to_vec();
    if with_json {
        t.push(JSON);
    }
    t
}

/// Every pattern: each command, and its `json` form where it has one.
pub(crate) fn patterns(commands: &[CommandDef]) -> Vec<(usize, bool, Vec<Token>)> {
    let mut out = Vec::new();
    for (i, def) in commands.iter().enumerate() {
        out.push((i, false, tokens_of(def, false)));
        if def.json {
            out.push((i, true, tokens_of(def, true)));
        }
    }
    out
}

/// Matches a line against the grammar.
pub fn parse(line: &str) -> Result<Parsed, ParseError> {
    parse_in(COMMANDS, line)
}

fn parse_in(commands: &[CommandDef], line: &str) -> Result<Parsed, ParseError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if words.is_empty() {
        return Err(ParseError::Incomplete);
    }
    let mut live = patterns(commands);
    for (i, w) in words.iter().enumerate() {
        let scored: Vec<_> = live
            .iter()
            .filter_map(|p| {
                let tok = *p.2.get(i)?;
                quality(tok, w).map(|q| (q, p.clone()))
            })
            .collect();
        let Some(best) = scored.iter().map(|(q, _)| *q).max() else {
            return Err(ParseError::Unknown { word: i });
        };
        live = scored
            .into_iter()
            .filter(|(q, _)| *q == best)
            .map(|(_, p)| p)
            .collect();
        if best == Quality::Partial {
            let mut kws: Vec<&str> = live
                .iter()
                .filter_map(|p| match p.2.get(i) {
                    Some(Kw(k, _)) => Some(*k),
                    _ => None,
                })
                .collect();
            kws.sort_unstable();
            kws.dedup();
            if kws.len() > 1 {
                return Err(ParseError::Ambiguous { word: i });
            }
        }
    }
    let Some((idx, json, toks)) = live.into_iter().find(|p| p.2.len() == words.len()) else {
        return Err(ParseError::Incomplete);
    };
    let def = &commands[idx];
    let ifname = toks
        .iter()
        .zip(&words)
        .find(|(t, _)| **t == IfName)
        .map(|(_, w)| (*w).to_owned());
    let prefix = toks
        .iter()
        .zip(&words)
        .find(|(t, _)| {
            matches!(
                t,
                Token::Prefix | Token::Arg(_, _, ArgKind::Ipv4Prefix | ArgKind::Ipv6Prefix)
            )
        })
        .and_then(|(_, w)| w.parse().ok());
    let addr = toks
        .iter()
        .zip(&words)
        .find(|(t, _)| {
            matches!(
                t,
                Token::Arg(_, _, ArgKind::Ipv4 | ArgKind::Ipv6 | ArgKind::IpAddr)
            )
        })
        .and_then(|(_, w)| w.parse().ok());
    let word = toks
        .iter()
        .zip(&words)
        .find(|(t, _)| matches!(t, Token::Arg(_, _, ArgKind::Word)))
        .map(|(_, w)| (*w).to_owned());
    Ok(Parsed {
        action: def.action,
        ifname,
        prefix,
        addr,
        word,
        json,
    })
}

/// vtysh's message for a refused line.
pub fn error_message(line: &str, err: &ParseError) -> String {
    let line = line.trim();
    match err {
        ParseError::Unknown { .. } => format!("% Unknown command: {line}"),
        ParseError::Ambiguous { .. } => format!("% Ambiguous command: {line}"),
        ParseError::Incomplete => format!("% Command incomplete: {line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Parsed {
        parse(line).unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }

    #[test]
    fn full_and_abbreviated_forms() {
        assert_eq!(ok("show version").action, Action::ShowVersion);
        assert_eq!(ok("sh ver").action, Action::ShowVersion);
        assert_eq!(ok("  show   interface ").action, Action::ShowInterfaces);
        assert_eq!(ok("sh int br").action, Action::ShowInterfacesBrief);
        let p = ok("sh int brief json");
        assert!(p.json);
        assert_eq!(ok("show running-config").action, Action::ShowRunningConfig);
        assert_eq!(ok("sh run").action, Action::ShowRunningConfig);
    }

    #[test]
    fn vip_commands() {
        let p = ok("service vip add 198.51.100.100/32");
        assert_eq!(p.action, Action::VipAdd);
        assert_eq!(p.prefix, Some("198.51.100.100/32".parse().unwrap()));
        assert_eq!(ok("serv vip del 2001:db8::1/128").action, Action::VipDel);
        assert_eq!(
            parse("service vip add not-a-prefix"),
            Err(ParseError::Unknown { word: 3 })
        );
        assert_eq!(ok("sh service vip json").action, Action::ShowVips);
        assert_eq!(ok("sh service").action, Action::ShowServices);
        let p = ok("sh service web json");
        assert_eq!(
            (p.action, p.word.as_deref(), p.json),
            (Action::ShowServices, Some("web"), true)
        );
        assert_eq!(ok("sh serv conn").action, Action::ShowConntrack);
        let p = ok("sh service conntrack web");
        assert_eq!(
            (p.action, p.word.as_deref()),
            (Action::ShowConntrack, Some("web"))
        );
        assert_eq!(ok("sh datap end json").action, Action::ShowEndpoints);
        assert_eq!(ok("sh datap").action, Action::ShowDatapath);
        assert!(ok("show datapath json").json);
        assert_eq!(ok("sh datap dr json").action, Action::ShowDatapathDrops);
    }

    #[test]
    fn egress_gateway_commands() {
        assert_eq!(ok("show egress-gateway").action, Action::ShowEgressGateway);
        let p = ok("sh egr json");
        assert_eq!((p.action, p.json), (Action::ShowEgressGateway, true));
        let p = ok("show egress-gateway nat json");
        assert_eq!((p.action, p.json), (Action::ShowEgressNat, true));
        assert_eq!(ok("sh e n").action, Action::ShowEgressNat);
        assert_eq!(
            parse("show egress-gateway bogus"),
            Err(ParseError::Unknown { word: 2 })
        );
    }

    #[test]
    fn config_and_write_commands() {
        assert_eq!(ok("conf t").action, Action::ConfigureTerminal);
        assert_eq!(ok("configure terminal").action, Action::ConfigureTerminal);
        assert_eq!(parse("conf"), Err(ParseError::Incomplete));
        for line in ["write", "wr mem", "write file", "copy run start"] {
            assert_eq!(ok(line).action, Action::WriteMemory, "{line}");
        }
        assert_eq!(ok("write terminal").action, Action::ShowRunningConfig);
        assert_eq!(ok("end").action, Action::End);
    }

    #[test]
    fn bgp_summary_forms() {
        assert_eq!(ok("sh bgp su").action, Action::ShowBgpSummary);
        assert_eq!(ok("show ip bgp summary").action, Action::ShowBgpSummaryV4);
        assert_eq!(
            ok("sh bgp ipv6 uni sum json").action,
            Action::ShowBgpSummaryV6
        );
        assert!(ok("show bgp summary json").json);
        // FRR's `show bgp` is the IPv4 unicast table.
        assert_eq!(ok("show bgp").action, Action::ShowBgpV4);
        assert_eq!(parse("show ip"), Err(ParseError::Incomplete));
        // "sh i" is ambiguous between interface and ip.
        assert_eq!(
            parse("sh i bgp summary"),
            Err(ParseError::Ambiguous { word: 1 })
        );
    }

    #[test]
    fn bgp_table_neighbor_route_and_clear_forms() {
        assert_eq!(ok("sh ip bgp").action, Action::ShowBgpV4);
        assert_eq!(ok("show bgp ipv6 unicast json").action, Action::ShowBgpV6);
        let p = ok("show ip bgp 10.0.0.0/24 json");
        assert_eq!(p.action, Action::ShowBgpRouteV4);
        assert_eq!(p.prefix, Some("10.0.0.0/24".parse().unwrap()));
        assert!(p.json);
        let p = ok("show ip bgp 10.0.0.1");
        assert_eq!(p.addr, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            ok("sh bgp ipv6 uni 2001:db8::/64").action,
            Action::ShowBgpRouteV6
        );
        assert_eq!(
            parse("show ip bgp 1.2.3"),
            Err(ParseError::Unknown { word: 3 })
        );
        let p = ok("show ip bgp neighbors 192.0.2.1 json");
        assert_eq!(p.action, Action::ShowBgpNeighbors);
        assert_eq!(p.word.as_deref(), Some("192.0.2.1"));
        assert!(p.json);
        assert_eq!(ok("show bgp neighbors json").word, None);
        assert_eq!(ok("sh ip ro").action, Action::ShowIpRoute);
        assert_eq!(ok("show ipv6 route json").action, Action::ShowIpv6Route);
        let v = ok("sh ip ro vrf red json");
        assert_eq!(
            (v.action, v.word.as_deref(), v.json),
            (Action::ShowIpRouteVrf, Some("red"), true)
        );
        assert_eq!(
            ok("show ipv6 route vrf blue").action,
            Action::ShowIpv6RouteVrf
        );
        assert_eq!(ok("clear bgp *").action, Action::ClearBgp);
        assert_eq!(ok("clear ip bgp * soft").action, Action::ClearBgpSoft);
        let p = ok("clear bgp 192.0.2.0 soft in");
        assert_eq!(p.action, Action::ClearBgpSoftIn);
        assert_eq!(p.word.as_deref(), Some("192.0.2.0"));
        assert_eq!(
            ok("clear bgp 2001:db8::1 soft out").action,
            Action::ClearBgpSoftOut
        );
        assert_eq!(parse("clear bgp"), Err(ParseError::Incomplete));
    }

    #[test]
    fn vpn_srv6_and_vrf_forms() {
        assert_eq!(ok("sh bgp ipv4 vpn").action, Action::ShowBgpVpnV4);
        let p = ok("show bgp ipv4 vpn rd 65001:1 json");
        assert_eq!(p.action, Action::ShowBgpVpnV4);
        assert_eq!(p.word.as_deref(), Some("65001:1"));
        assert!(p.json);
        let p = ok("show bgp ipv6 vpn rd 192.0.2.1:7 2001:db8::/64");
        assert_eq!(p.action, Action::ShowBgpVpnRouteV6);
        assert_eq!(p.word.as_deref(), Some("192.0.2.1:7"));
        assert_eq!(p.prefix, Some("2001:db8::/64".parse().unwrap()));
        let p = ok("show bgp ipv4 vpn 10.1.0.0/24");
        assert_eq!(p.action, Action::ShowBgpVpnRouteV4);
        assert_eq!(p.word, None);
        assert_eq!(
            ok("show segment-routing srv6 locator json").action,
            Action::ShowSrv6Locators
        );
        let p = ok("sh segment-routing srv6 locator main detail");
        assert_eq!(p.action, Action::ShowSrv6LocatorDetail);
        assert_eq!(p.word.as_deref(), Some("main"));
        assert_eq!(ok("show vrf").action, Action::ShowVrfs);
        assert_eq!(
            ok("show bgp ipv6 vpn summary json").action,
            Action::ShowBgpSummaryVpnV6
        );
        assert!(
            parse("show vrf json").is_err(),
            "FRR 8.4 has no `show vrf json`"
        );
    }

    #[test]
    fn keyword_beats_interface_name() {
        assert_eq!(
            ok("show interface brief").action,
            Action::ShowInterfacesBrief
        );
        let p = ok("show interface eth1");
        assert_eq!(p.action, Action::ShowInterface);
        assert_eq!(p.ifname.as_deref(), Some("eth1"));
        let p = ok("show interface eth1 json");
        assert!(p.json);
        // "json" alone after interface is the json form of the list.
        let p = ok("show interface json");
        assert_eq!(p.action, Action::ShowInterfaces);
        assert!(p.json);
    }

    #[test]
    fn errors_like_vtysh() {
        assert_eq!(parse("show bogus"), Err(ParseError::Unknown { word: 1 }));
        assert_eq!(parse("frob"), Err(ParseError::Unknown { word: 0 }));
        assert_eq!(parse("show"), Err(ParseError::Incomplete));
        assert_eq!(parse(""), Err(ParseError::Incomplete));
        // "show version json" is not a command
        assert_eq!(
            parse("show version json"),
            Err(ParseError::Unknown { word: 2 })
        );
        assert_eq!(
            error_message("sh bogus", &ParseError::Unknown { word: 1 }),
            "% Unknown command: sh bogus"
        );
    }

    #[test]
    fn ambiguous_prefixes() {
        const T: &[CommandDef] = &[
            CommandDef {
                tokens: &[Kw("show", ""), Kw("interface", "")],
                json: false,
                action: Action::ShowInterfaces,
            },
            CommandDef {
                tokens: &[Kw("show", ""), Kw("ip", "")],
                json: false,
                action: Action::ShowVersion,
            },
        ];
        assert_eq!(parse_in(T, "sh i"), Err(ParseError::Ambiguous { word: 1 }));
        assert_eq!(parse_in(T, "sh in").unwrap().action, Action::ShowInterfaces);
        assert_eq!(parse_in(T, "sh ip").unwrap().action, Action::ShowVersion);
        assert_eq!(ok("ex").action, Action::Exit);
        assert_eq!(parse("e"), Err(ParseError::Ambiguous { word: 0 }));
        assert_eq!(ok("show r").action, Action::ShowRunningConfig);
    }
}
