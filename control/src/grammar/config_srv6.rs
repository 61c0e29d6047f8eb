//! The words of the SRv6 L3VPN config (issue 14), per mode: zebra's
//! `segment-routing` block, Tern's `vrf NAME` block, bgpd's `router bgp
//! ASN vrf NAME` instance and the default instance's `segment-routing
//! srv6`. FRR 8.4's help texts where FRR has the command.
use super::super::token::{
    ArgKind::{Asn, Ipv4Prefix, Ipv6Prefix, Line, Range, Word},
    Pattern, Token,
    Token::{Arg, Kw},
};
use super::NO;

const VRF_NAME: Token = Arg("NAME", "VRF's name", Word);
const LOCATOR_NAME: Token = Arg("NAME", "Specify locator-name", Word);
const VPN: Token = Kw("vpn", "Between current address-family and vpn");
const EXPORT: Token = Kw(
    "export",
    "For routes leaked from current address-family to vpn",
);
const IMPORT: Token = Kw(
    "import",
    "For routes leaked from vpn to current address-family",
);

/// Each pattern, and its `no` form.
fn with_no(lines: Vec<Pattern>) -> Vec<Pattern> {
    lines
        .into_iter()
        .flat_map(|l| {
            let mut no = vec![NO];
            no.extend(&l);
            [l, no]
        })
        .collect()
}

/// `(config)#`: the blocks' first lines.
pub(super) fn top() -> Vec<Pattern> {
    let router = Kw("router", "Enable a routing process");
    let bgp = Kw("bgp", "BGP information");
    let asn = Arg("(1-4294967295)", "AS number", Asn);
    let vrf = Kw("vrf", "BGP view/VRF");
    let mut p = vec![vec![Kw("segment-routing", "Segment-Routing")]];
    p.extend(with_no(vec![vec![
        Kw("vrf", "Select a VRF to configure"),
        VRF_NAME,
    ]]));
    p.extend(with_no(vec![vec![router, bgp, asn, vrf, VRF_NAME]]));
    p
}

/// `(config-sr)#`
pub(super) fn segment_routing() -> Vec<Pattern> {
    with_no(vec![vec![Kw("srv6", "Segment-Routing SRv6 configuration")]])
}

/// `(config-srv6)#`
pub(super) fn srv6() -> Vec<Pattern> {
    vec![vec![Kw("locators", "Segment-Routing SRv6 locators")]]
}

/// `(config-srv6-locators)#`
pub(super) fn locators() -> Vec<Pattern> {
    with_no(vec![vec![
        Kw("locator", "Segment Routing SRv6 locator"),
        LOCATOR_NAME,
    ]])
}

/// `(config-srv6-locator)#`: `prefix X:X::X:X/M [block-len N node-len N]
/// [func-bits N]`.
pub(super) fn locator() -> Vec<Pattern> {
    let prefix = Kw("prefix", "Configure SRv6 locator prefix");
    let net = Arg("X:X::X:X/M", "SRv6 locator prefix", Ipv6Prefix);
    let block = Kw("block-len", "Configure SRv6 locator block length in bits");
    let block_n = Arg(
        "(16-64)",
        "Specify SRv6 locator block length in bits",
        Range(16, 64),
    );
    let node = Kw("node-len", "Configure SRv6 locator node length in bits");
    let node_n = Arg(
        "(16-64)",
        "Specify SRv6 locator node length in bits",
        Range(16, 64),
    );
    let func = Kw(
        "func-bits",
        "Configure SRv6 locator function length in bits",
    );
    let func_n = Arg(
        "(1-20)",
        "Specify SRv6 locator function length in bits",
        Range(1, 20),
    );
    vec![
        vec![prefix, net],
        vec![prefix, net, func, func_n],
        vec![prefix, net, block, block_n, node, node_n],
        vec![prefix, net, block, block_n, node, node_n, func, func_n],
    ]
}

/// `(config-vrf)#`: Tern's table id of the VRF.
pub(super) fn vrf() -> Vec<Pattern> {
    let table = Kw("table", "The VRF's routing table");
    let id = Arg("(1-4294967295)", "Table id", Range(1, 4_294_967_295));
    vec![
        vec![table, id],
        vec![NO, table],
        vec![NO, table, id],
        vec![Kw(
            "exit-vrf",
            "Exit current mode and down to previous mode",
        )],
    ]
}

/// `(config-router)#`: the default instance's `segment-routing srv6`.
pub(super) fn in_router() -> Vec<Pattern> {
    with_no(vec![vec![
        Kw("segment-routing", "Segment-Routing configuration"),
        Kw("srv6", "Segment-Routing SRv6 configuration"),
    ]])
}

/// `(config-router-srv6)#`
pub(super) fn router_srv6() -> Vec<Pattern> {
    with_no(vec![vec![
        Kw("locator", "Specify SRv6 locator"),
        LOCATOR_NAME,
    ]])
}

/// `sid vpn [per-vrf] export auto|(1-1048575)` after `head`.
fn sid_lines(per_vrf: bool) -> Vec<Pattern> {
    let sid = Kw("sid", "sid value for VRF");
    let per = Kw(
        "per-vrf",
        "SID per-VRF (both IPv4 and IPv6 address families)",
    );
    let auto = Kw("auto", "Automatically assign a label");
    let value = Arg("(1-1048575)", "Sid allocation index", Range(1, 1_048_575));
    let head: Vec<Token> = if per_vrf {
        vec![sid, VPN, per, EXPORT]
    } else {
        vec![sid, VPN, EXPORT]
    };
    let mut p = Vec::new();
    for tail in [auto, value] {
        let mut l = head.clone();
        l.push(tail);
        p.push(l);
    }
    let mut no = vec![NO];
    no.extend(&head);
    p.push(no);
    p
}

/// `(config-router-vrf)#`: `router bgp ASN vrf NAME`.
pub(super) fn router_vrf() -> Vec<Pattern> {
    let family = Kw("address-family", "Enter Address Family command mode");
    let unicast = Kw("unicast", "Address Family modifier");
    let mut p: Vec<Pattern> = [Kw("ipv4", "Address Family"), Kw("ipv6", "Address Family")]
        .into_iter()
        .map(|af| vec![family, af, unicast])
        .collect();
    p.extend(sid_lines(true));
    p
}

/// `(config-router-vrf-af)#`: a VRF instance's address-family.
pub(super) fn router_vrf_af() -> Vec<Pattern> {
    let network = Kw("network", "Specify a network to announce via BGP");
    let redistribute = Kw(
        "redistribute",
        "Redistribute information from another routing protocol",
    );
    let rd = Kw("rd", "Specify route distinguisher");
    let rd_value = Arg(
        "ASN:NN_OR_IP-ADDRESS:NN",
        "Route Distinguisher (<A.B.C.D|(1-4294967295)>:<number>)",
        Word,
    );
    let rt = Kw("rt", "Specify route target list");
    let both = Kw("both", "For routes leaked from and to vpn");
    let rts = Arg(
        "RTLIST",
        "Space separated route target list (A.B.C.D:MN|EF:OPQR|GHJK:MN)",
        Line,
    );
    let mut p = vec![vec![Kw(
        "exit-address-family",
        "Exit from Address Family configuration mode",
    )]];
    p.extend(with_no(vec![
        vec![network, Arg("A.B.C.D/M", "IPv4 prefix", Ipv4Prefix)],
        vec![network, Arg("X:X::X:X/M", "IPv6 prefix", Ipv6Prefix)],
        vec![
            redistribute,
            Kw(
                "connected",
                "Connected routes (directly attached subnet or host)",
            ),
        ],
        vec![
            redistribute,
            Kw("kernel", "Kernel routes (not installed via the zebra RIB)"),
        ],
        vec![redistribute, Kw("static", "Statically configured routes")],
        vec![IMPORT, VPN],
        vec![EXPORT, VPN],
    ]));
    p.extend(sid_lines(false));
    p.push(vec![rd, VPN, EXPORT, rd_value]);
    p.push(vec![NO, rd, VPN, EXPORT]);
    for dir in [IMPORT, EXPORT, both] {
        p.push(vec![rt, VPN, dir, rts]);
        p.push(vec![NO, rt, VPN, dir]);
    }
    p
}
