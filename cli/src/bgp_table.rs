//! `show ip bgp [json]`, `show bgp ipv4|ipv6 unicast [json]` and
//! `show ip bgp PREFIX [json]` as FRR 8.4's bgpd prints them: the status
//! codes legend, the Network / Next Hop / Metric / LocPrf / Weight / Path
//! columns, "Displayed N routes and M total paths", and the detail block
//! of one prefix; the JSON keys of `bgp_show_table` and
//! `route_vty_out_detail`. Next hops carry the peer's hostname, as FRR's
//! `datacenter` profile (`bgp default show-nexthop-hostname`) shows them.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::{BgpFamily, BgpPath, BgpRoute, BgpTable};

/// FRR 8.4's answer when there is no `router bgp`.
const NO_INSTANCE: &str = "Default BGP instance not found";

/// FRR's default LOCAL_PREF, printed in the header.
const DEFAULT_LOCAL_PREF: u32 = 100;

/// Status codes: `*` valid, `>` best or `=` multipath, `i` internal.
pub(crate) fn status(p: &BgpPath) -> String {
    let valid = if p.valid { '*' } else { ' ' };
    let sel = if p.best {
        '>'
    } else if p.multipath {
        '='
    } else {
        ' '
    };
    let internal = if p.internal { 'i' } else { ' ' };
    format!("{valid}{sel}{internal}")
}

fn origin_char(origin: &str) -> char {
    match origin {
        "IGP" => 'i',
        "EGP" => 'e',
        _ => '?',
    }
}

/// The hostname FRR shows next to a next hop: ours for a local path, the
/// peer's otherwise.
fn nh_hostname<'a>(p: &'a BgpPath, local_host: Option<&'a str>) -> Option<&'a str> {
    if p.local {
        local_host
    } else {
        p.peer_hostname.as_deref()
    }
}

/// Whether the link-local next hop is the one forwarded to: Tern installs
/// the global next hop, and the link-local one only when the global one is
/// unspecified.
fn link_local_used(p: &BgpPath) -> bool {
    p.next_hop_link_local.is_some() && p.next_hop == "::"
}

/// The next hop of the table: the one Tern forwards to (FRR shows its
/// link-local one, which is what zebra installs).
fn table_next_hop(p: &BgpPath) -> &str {
    match &p.next_hop_link_local {
        Some(ll) if link_local_used(p) => ll,
        _ => &p.next_hop,
    }
}

/// Pads `len` printed characters to `width`; too long, the rest of the
/// row goes on a new line indented to `indent`.
fn pad(out: &mut String, len: usize, width: usize, indent: usize) {
    if len < width {
        out.push_str(&" ".repeat(width - len));
    } else {
        let _ = write!(out, "\n{:indent$}", "");
    }
}

pub(crate) fn header(t: &BgpTable, out: &mut String) {
    let _ = writeln!(
        out,
        "BGP table version is {}, local router ID is {}, vrf id 0",
        t.table_version, t.router_id
    );
    let _ = writeln!(
        out,
        "Default local pref {DEFAULT_LOCAL_PREF}, local AS {}",
        t.local_as
    );
    out.push_str(
        "Status codes:  s suppressed, d damped, h history, * valid, > best, = multipath,\n\
         \x20              i internal, r RIB-failure, S Stale, R Removed\n\
         Nexthop codes: @NNN nexthop's vrf id, < announce-nh-self\n\
         Origin codes:  i - IGP, e - EGP, ? - incomplete\n\
         RPKI validation codes: V valid, I invalid, N Not found\n\n",
    );
    out.push_str("   Network          Next Hop            Metric LocPrf Weight Path\n");
}

/// One row of the table.
pub(crate) fn row(
    r: &BgpRoute,
    p: &BgpPath,
    first: bool,
    local_host: Option<&str>,
    out: &mut String,
) {
    out.push_str(&status(p));
    if first {
        let net = r.prefix.to_string();
        out.push_str(&net);
        pad(out, net.len(), 17, 20);
    } else {
        out.push_str(&" ".repeat(17));
    }
    let mut nh = match nh_hostname(p, local_host) {
        Some(h) => format!("{}({})", table_next_hop(p), crate::render::printable(h)),
        None => table_next_hop(p).to_owned(),
    };
    // A VPN route exported from a VRF: the VRF's id, and `<` for
    // announce-nh-self.
    if p.vpn.as_ref().is_some_and(|v| v.vrf.is_some()) {
        let _ = write!(nh, "@{}<", vrf_id_text(p));
    }
    out.push_str(&nh);
    pad(out, nh.len(), 16, 36);
    match p.med {
        Some(m) => {
            let _ = write!(out, "{m:>10}");
        }
        None => out.push_str(&" ".repeat(10)),
    }
    match p.local_pref {
        Some(l) => {
            let _ = write!(out, "{l:>7}");
        }
        None => out.push_str(&" ".repeat(7)),
    }
    let _ = write!(out, "{:>7} ", p.weight);
    if !p.as_path.is_empty() {
        let _ = write!(out, "{} ", p.as_path);
    }
    let _ = writeln!(out, "{}", origin_char(&p.origin));
}

/// [`row`], without hostnames when `hide` (FRR's traditional profile).
pub(crate) fn row_shown(
    r: &BgpRoute,
    p: &BgpPath,
    first: bool,
    local_host: Option<&str>,
    hide: bool,
    out: &mut String,
) {
    if hide {
        let bare = BgpPath {
            peer_hostname: None,
            ..p.clone()
        };
        row(r, &bare, first, None, out);
    } else {
        row(r, p, first, local_host, out);
    }
}

/// `show ip bgp`: the whole table. `local_host` is our hostname.
pub fn table_text(t: &BgpTable, local_host: Option<&str>) -> String {
    if !t.configured {
        return format!("{NO_INSTANCE}\n");
    }
    let paths: usize = t.routes.iter().map(|r| r.paths.len()).sum();
    if t.routes.is_empty() {
        return "No BGP prefixes displayed, 0 exist\n".to_owned();
    }
    let mut out = String::new();
    header(t, &mut out);
    for r in &t.routes {
        for (i, p) in r.paths.iter().enumerate() {
            row_shown(r, p, i == 0, local_host, t.hide_hostnames, &mut out);
        }
    }
    let _ = writeln!(
        out,
        "\nDisplayed  {} routes and {paths} total paths",
        t.routes.len()
    );
    out
}

fn afi(family: BgpFamily) -> &'static str {
    match family {
        BgpFamily::Ipv4Unicast => "ipv4",
        BgpFamily::Ipv6Unicast => "ipv6",
    }
}

/// The next hops of a path as FRR's JSON lists them: the global one, and
/// for IPv6 a link-local one (the one used when present).
fn nexthops_json(p: &BgpPath, family: BgpFamily, local_host: Option<&str>, detail: bool) -> Value {
    let host = nh_hostname(p, local_host);
    let mut list = Vec::new();
    let mut global = Map::new();
    global.insert("ip".into(), json!(p.next_hop));
    if let Some(h) = host {
        global.insert("hostname".into(), json!(h));
    }
    let nh_afi = if p.next_hop.contains(':') {
        "ipv6"
    } else {
        afi(family)
    };
    global.insert("afi".into(), json!(nh_afi));
    if nh_afi == "ipv6" {
        global.insert("scope".into(), json!("global"));
    }
    if detail {
        global.insert("metric".into(), json!(0));
        global.insert("accessible".into(), json!(true));
    }
    if !link_local_used(p) {
        global.insert("used".into(), json!(true));
    }
    list.push(Value::Object(global));
    if let Some(ll) = &p.next_hop_link_local {
        let mut o = Map::new();
        o.insert("ip".into(), json!(ll));
        if let Some(h) = host {
            o.insert("hostname".into(), json!(h));
        }
        o.insert("afi".into(), json!("ipv6"));
        o.insert("scope".into(), json!("link-local"));
        if detail {
            o.insert("accessible".into(), json!(true));
        }
        if link_local_used(p) {
            o.insert("used".into(), json!(true));
        }
        list.push(Value::Object(o));
    }
    Value::Array(list)
}

/// Why the best path won, when Tern knows: a lone path is FRR's
/// "First path received".
fn selection_reason(r: &BgpRoute) -> Option<&'static str> {
    (r.paths.len() == 1).then_some("First path received")
}

pub(crate) fn path_json(
    r: &BgpRoute,
    p: &BgpPath,
    family: BgpFamily,
    local_host: Option<&str>,
) -> Value {
    let mut o = Map::new();
    o.insert("valid".into(), json!(p.valid));
    if p.best {
        o.insert("bestpath".into(), json!(true));
        if let Some(why) = selection_reason(r) {
            o.insert("selectionReason".into(), json!(why));
        }
    }
    if p.multipath {
        o.insert("multipath".into(), json!(true));
    }
    o.insert(
        "pathFrom".into(),
        json!(if p.internal { "internal" } else { "external" }),
    );
    o.insert("prefix".into(), json!(r.prefix.addr().to_string()));
    o.insert("prefixLen".into(), json!(r.prefix.prefix_len()));
    o.insert("network".into(), json!(r.prefix.to_string()));
    o.insert("version".into(), json!(r.version));
    if let Some(m) = p.med {
        o.insert("metric".into(), json!(m));
    }
    if let Some(l) = p.local_pref {
        o.insert("locPrf".into(), json!(l));
    }
    o.insert("weight".into(), json!(p.weight));
    o.insert(
        "peerId".into(),
        json!(p.peer.as_deref().unwrap_or("(unspec)")),
    );
    o.insert("path".into(), json!(p.as_path));
    o.insert("origin".into(), json!(p.origin));
    o.insert(
        "nexthops".into(),
        nexthops_json(p, family, local_host, false),
    );
    Value::Object(o)
}

/// `show ip bgp json`.
pub fn table_json(t: &BgpTable, family: BgpFamily, local_host: Option<&str>) -> Value {
    if !t.configured {
        return json!({ "warning": NO_INSTANCE });
    }
    let mut routes = Map::new();
    for r in &t.routes {
        let paths: Vec<Value> = r
            .paths
            .iter()
            .map(|p| path_json(r, p, family, local_host))
            .collect();
        routes.insert(r.prefix.to_string(), Value::Array(paths));
    }
    json!({
        "vrfId": 0,
        "vrfName": "default",
        "tableVersion": t.table_version,
        "routerId": t.router_id,
        "defaultLocPrf": DEFAULT_LOCAL_PREF,
        "localAS": t.local_as,
        "routes": Value::Object(routes),
    })
}

/// `show ip bgp [json]` of a table that ternd streams: the header, the
/// rows of each chunk as it arrives, the count at the end, in exactly the
/// text and JSON of [`table_text`] / FRR's large-table JSON (one prefix a
/// line: `"routes": { "P": [...]` then `,"P": [...]`, scripts read it line
/// by line).
#[derive(Debug)]
pub struct TableStream {
    family: BgpFamily,
    json: bool,
    /// The header, until the first route needs it (an empty table has none).
    header: Option<BgpTable>,
    configured: bool,
    local_host: Option<String>,
    hide_hostnames: bool,
    /// Prefixes written so far.
    written: u64,
}

impl TableStream {
    pub fn new(family: BgpFamily, json: bool) -> Self {
        Self {
            family,
            json,
            header: None,
            configured: false,
            local_host: None,
            hide_hostnames: false,
            written: 0,
        }
    }

    /// The stream's first reply: the table's header.
    pub fn start(&mut self, t: BgpTable, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.configured = t.configured;
        self.local_host = t.local_hostname.clone();
        self.hide_hostnames = t.hide_hostnames;
        if !t.configured {
            return if self.json {
                out.write_all(crate::render::pretty(&json!({ "warning": NO_INSTANCE })).as_bytes())
            } else {
                writeln!(out, "{NO_INSTANCE}")
            };
        }
        if self.json {
            write!(
                out,
                "{{\n \"vrfId\": 0,\n \"vrfName\": \"default\",\n \"tableVersion\": {},\n \
                 \"routerId\": {},\n \"defaultLocPrf\": {DEFAULT_LOCAL_PREF},\n \"localAS\": {},\n \
                 \"routes\": {{ ",
                t.table_version,
                Value::from(t.router_id.as_str()),
                t.local_as
            )?;
            out.flush()
        } else {
            self.header = Some(t);
            Ok(())
        }
    }

    /// The next routes, in address order.
    pub fn routes(
        &mut self,
        routes: &[BgpRoute],
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        if !self.configured {
            return Ok(());
        }
        let host = self.local_host.as_deref();
        let mut s = String::new();
        if self.json {
            for r in routes {
                let paths: Vec<Value> = r
                    .paths
                    .iter()
                    .map(|p| path_json(r, p, self.family, host))
                    .collect();
                if self.written > 0 {
                    s.push_str("\n,");
                }
                let _ = write!(
                    s,
                    "{}: {}",
                    Value::from(r.prefix.to_string()),
                    Value::Array(paths)
                );
                self.written += 1;
            }
        } else {
            if !routes.is_empty()
                && let Some(t) = self.header.take()
            {
                header(&t, &mut s);
            }
            for r in routes {
                for (i, p) in r.paths.iter().enumerate() {
                    row_shown(r, p, i == 0, host, self.hide_hostnames, &mut s);
                }
                self.written += 1;
            }
        }
        out.write_all(s.as_bytes())?;
        out.flush()
    }

    /// The end of the stream: how many routes and paths there were.
    pub fn end(
        &mut self,
        routes: u64,
        paths: u64,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        if !self.configured {
            return Ok(());
        }
        if self.json {
            if self.written > 0 {
                out.write_all(b"\n")?;
            }
            out.write_all(b" }  } \n")?;
        } else if routes == 0 {
            writeln!(out, "No BGP prefixes displayed, 0 exist")?;
        } else {
            writeln!(out, "\nDisplayed  {routes} routes and {paths} total paths")?;
        }
        out.flush()
    }

    /// A whole table in one reply (a ternd that does not stream).
    pub fn whole(&mut self, t: BgpTable, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let routes = t.routes.len() as u64;
        let paths = t.routes.iter().map(|r| r.paths.len() as u64).sum();
        let rows = t.routes.clone();
        self.start(t, out)?;
        self.routes(&rows, out)?;
        self.end(routes, paths, out)
    }
}

fn peer_name(addr: &str, host: Option<&str>) -> String {
    match host {
        Some(h) => format!("{}({addr})", crate::render::printable(h)),
        None => addr.to_owned(),
    }
}

/// `show ip bgp PREFIX`: the prefix and each path in detail; FRR's
/// "% Network not in table" when the table does not have it.
pub fn detail_text(t: &BgpTable, local_host: Option<&str>) -> String {
    if !t.configured {
        return format!("{NO_INSTANCE}\n");
    }
    let Some(r) = t.routes.first() else {
        return "% Network not in table\n".to_owned();
    };
    let mut out = String::new();
    route_detail_text(r, local_host, None, &mut out);
    out
}

/// One prefix in detail; `rd` for a VPN route (`show bgp ipv4 vpn
/// PREFIX`), which FRR prints with its RD, its local label, and each
/// path's remote label and SID, without the table name and the
/// bestpath-from-AS.
pub(crate) fn route_detail_text(
    r: &BgpRoute,
    local_host: Option<&str>,
    rd: Option<&str>,
    out: &mut String,
) {
    let vpn = rd.is_some();
    let _ = writeln!(
        out,
        "BGP routing table entry for {}{}, version {}",
        rd.map(|d| format!("{d}:")).unwrap_or_default(),
        r.prefix,
        r.version
    );
    if vpn {
        // The local label: Tern allocates none (SRv6 services carry the
        // SID's function in the label, per path).
        out.push_str("not allocated\n");
    }
    let table = if vpn { "" } else { ", table default" };
    let best = r.paths.iter().position(|p| p.best);
    match best {
        Some(b) => {
            let _ = writeln!(
                out,
                "Paths: ({} available, best #{}{table})",
                r.paths.len(),
                b + 1
            );
        }
        None => {
            let _ = writeln!(out, "Paths: ({} available, no best path)", r.paths.len());
        }
    }
    if r.advertised_to.is_empty() {
        out.push_str("  Not advertised to any peer\n");
    } else {
        out.push_str("  Advertised to non peer-group peers:\n ");
        for (addr, host) in &r.advertised_to {
            let _ = write!(out, " {}", peer_name(addr, host.as_deref()));
        }
        out.push('\n');
    }
    for p in &r.paths {
        let path = if p.as_path.is_empty() {
            "Local"
        } else {
            &p.as_path
        };
        match &p.aggregator {
            Some((asn, id)) => {
                let _ = writeln!(out, "  {path}, (aggregated by {asn} {id})");
            }
            None => {
                let _ = writeln!(out, "  {path}");
            }
        }
        let nh = match nh_hostname(p, local_host) {
            Some(h) => format!("{}({})", p.next_hop, crate::render::printable(h)),
            None => p.next_hop.clone(),
        };
        let from = match &p.peer {
            Some(a) => peer_name(a, p.peer_hostname.as_deref()),
            None => if p.next_hop.contains(':') {
                "::"
            } else {
                "0.0.0.0"
            }
            .to_owned(),
        };
        let vrf = match p.vpn.as_ref().and_then(|v| v.vrf.as_deref()) {
            Some(name) => format!(" vrf {name}({}) announce-nh-self", vrf_id_text(p)),
            None => String::new(),
        };
        let _ = writeln!(out, "    {nh} from {from} ({}){vrf}", p.peer_router_id);
        if let Some(ll) = &p.next_hop_link_local {
            if link_local_used(p) {
                let _ = writeln!(out, "    ({ll}) (used)");
            } else {
                let _ = writeln!(out, "    ({ll})");
            }
        }
        let mut line = format!("      Origin {}", p.origin);
        if let Some(m) = p.med {
            let _ = write!(line, ", metric {m}");
        }
        if let Some(l) = p.local_pref {
            let _ = write!(line, ", localpref {l}");
        }
        if p.weight != 0 {
            let _ = write!(line, ", weight {}", p.weight);
        }
        if p.valid {
            line.push_str(", valid");
        }
        if p.local {
            line.push_str(", sourced, local");
        } else if p.internal {
            line.push_str(", internal");
        } else {
            line.push_str(", external");
        }
        if p.atomic_aggregate {
            line.push_str(", atomic-aggregate");
        }
        if p.multipath {
            line.push_str(", multipath");
        }
        if p.best {
            if vpn {
            } else if p.from_as == 0 {
                line.push_str(", bestpath-from-AS Local");
            } else {
                let _ = write!(line, ", bestpath-from-AS {}", p.from_as);
            }
            match selection_reason(r) {
                Some(why) => {
                    let _ = write!(line, ", best ({why})");
                }
                None => line.push_str(", best"),
            }
        }
        let _ = writeln!(out, "{line}");
        if !p.communities.is_empty() {
            let _ = writeln!(out, "      Community: {}", p.communities.join(" "));
        }
        if !p.extended_communities.is_empty() {
            let _ = writeln!(
                out,
                "      Extended Community: {}",
                p.extended_communities.join(" ")
            );
        }
        if !p.large_communities.is_empty() {
            let _ = writeln!(
                out,
                "      Large Community: {}",
                p.large_communities.join(" ")
            );
        }
        if let Some(o) = &p.originator_id {
            let _ = write!(out, "      Originator: {o}");
            if !p.cluster_list.is_empty() {
                let _ = write!(out, ", Cluster list: {}", p.cluster_list.join(" "));
            }
            out.push('\n');
        }
        if let Some(v) = &p.vpn {
            let _ = writeln!(out, "      Remote label: {}", v.label);
            if let Some(sid) = &v.sid {
                let _ = writeln!(out, "      Remote SID: {sid}");
            }
        }
        if let Some(u) = &p.last_update {
            // ctime's text ends in its own newline, as in FRR.
            let _ = write!(out, "      Last update: {}", u.string);
            if !u.string.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

/// The id FRR prints after a VPN path's VRF ("-" when it has none).
pub(crate) fn vrf_id_text(p: &BgpPath) -> String {
    p.vpn
        .as_ref()
        .and_then(|v| v.vrf_id)
        .map_or_else(|| "-".to_owned(), |id| id.to_string())
}

/// `show ip bgp PREFIX json`: `{}` when the prefix is not in the table.
pub fn detail_json(t: &BgpTable, family: BgpFamily, local_host: Option<&str>) -> Value {
    if !t.configured {
        return json!({ "warning": NO_INSTANCE });
    }
    let Some(r) = t.routes.first() else {
        return json!({});
    };
    route_detail_json(r, family, local_host)
}

/// One prefix in detail as FRR's JSON has it (a VPN path adds its VRF,
/// remote label and SID).
pub(crate) fn route_detail_json(
    r: &BgpRoute,
    family: BgpFamily,
    local_host: Option<&str>,
) -> Value {
    let mut adv = Map::new();
    for (addr, host) in &r.advertised_to {
        let mut o = Map::new();
        if let Some(h) = host {
            o.insert("hostname".into(), json!(h));
        }
        adv.insert(addr.clone(), Value::Object(o));
    }
    let paths: Vec<Value> = r
        .paths
        .iter()
        .map(|p| {
            let mut o = Map::new();
            let segments: Vec<Value> = p
                .as_path_segments
                .iter()
                .map(|s| json!({"type": s.kind, "list": s.asns}))
                .collect();
            o.insert(
                "aspath".into(),
                json!({
                    "string": if p.as_path.is_empty() { "Local" } else { &p.as_path },
                    "segments": segments,
                    "length": p.as_path_length,
                }),
            );
            if let Some(v) = &p.vpn
                && let Some(name) = &v.vrf
            {
                o.insert("nhVrfName".into(), json!(name));
                o.insert("nhVrfId".into(), json!(v.vrf_id.map_or(-1, i64::from)));
                o.insert("announceNexthopSelf".into(), json!(true));
            }
            o.insert("origin".into(), json!(p.origin));
            if let Some(m) = p.med {
                o.insert("metric".into(), json!(m));
            }
            if let Some(l) = p.local_pref {
                o.insert("locPrf".into(), json!(l));
            }
            if p.weight != 0 {
                o.insert("weight".into(), json!(p.weight));
            }
            o.insert("valid".into(), json!(p.valid));
            o.insert("version".into(), json!(r.version));
            if p.local {
                o.insert("sourced".into(), json!(true));
                o.insert("local".into(), json!(true));
            }
            if p.atomic_aggregate {
                o.insert("atomicAggregate".into(), json!(true));
            }
            if p.multipath {
                o.insert("multipath".into(), json!(true));
            }
            if p.best {
                let mut b = Map::new();
                if p.vpn.is_none() {
                    b.insert("bestpathFromAs".into(), json!(p.from_as));
                }
                b.insert("overall".into(), json!(true));
                if let Some(why) = selection_reason(r) {
                    b.insert("selectionReason".into(), json!(why));
                }
                o.insert("bestpath".into(), Value::Object(b));
            }
            if let Some((asn, id)) = &p.aggregator {
                o.insert("aggregatorAs".into(), json!(asn));
                o.insert("aggregatorId".into(), json!(id));
            }
            if !p.communities.is_empty() {
                // The list items by FRR's JSON names; an older ternd sends
                // none, and its text names stand in.
                let list = if p.community_list.len() == p.communities.len() {
                    &p.community_list
                } else {
                    &p.communities
                };
                o.insert(
                    "community".into(),
                    json!({"string": p.communities.join(" "), "list": list}),
                );
            }
            if !p.extended_communities.is_empty() {
                o.insert(
                    "extendedCommunity".into(),
                    json!({"string": p.extended_communities.join(" ")}),
                );
            }
            if !p.large_communities.is_empty() {
                o.insert(
                    "largeCommunity".into(),
                    json!({"string": p.large_communities.join(" "), "list": p.large_communities}),
                );
            }
            if let Some(orig) = &p.originator_id {
                o.insert("originatorId".into(), json!(orig));
            }
            if !p.cluster_list.is_empty() {
                o.insert("clusterList".into(), json!({"list": p.cluster_list}));
            }
            if let Some(v) = &p.vpn {
                o.insert("remoteLabel".into(), json!(v.label));
                if let Some(sid) = &v.sid {
                    o.insert("remoteSid".into(), json!(sid));
                }
            }
            if let Some(u) = &p.last_update {
                o.insert(
                    "lastUpdate".into(),
                    json!({"epoch": u.epoch, "string": u.string}),
                );
            }
            o.insert(
                "nexthops".into(),
                nexthops_json(p, family, local_host, true),
            );
            let mut peer = Map::new();
            match &p.peer {
                Some(a) => {
                    peer.insert("peerId".into(), json!(a));
                    peer.insert("routerId".into(), json!(p.peer_router_id));
                    if let Some(h) = &p.peer_hostname {
                        peer.insert("hostname".into(), json!(h));
                    }
                    peer.insert(
                        "type".into(),
                        json!(if p.internal { "internal" } else { "external" }),
                    );
                }
                None => {
                    let unspec = if p.next_hop.contains(':') {
                        "::"
                    } else {
                        "0.0.0.0"
                    };
                    peer.insert("peerId".into(), json!(unspec));
                    peer.insert("routerId".into(), json!(p.peer_router_id));
                }
            }
            o.insert("peer".into(), Value::Object(peer));
            Value::Object(o)
        })
        .collect();
    json!({
        "prefix": r.prefix.to_string(),
        "version": r.version,
        "advertisedTo": Value::Object(adv),
        "paths": paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BgpTable {
        let local = BgpPath {
            best: true,
            valid: true,
            local: true,
            peer_router_id: "198.51.100.12".into(),
            next_hop: "0.0.0.0".into(),
            med: Some(0),
            weight: 32768,
            origin: "IGP".into(),
            ..Default::default()
        };
        let learned = BgpPath {
            best: true,
            valid: true,
            peer: Some("192.0.2.2".into()),
            peer_router_id: "198.51.100.1".into(),
            peer_hostname: Some("tor1".into()),
            next_hop: "192.0.2.2".into(),
            as_path: "65000 65001".into(),
            as_path_length: 2,
            from_as: 65000,
            origin: "IGP".into(),
            ..Default::default()
        };
        BgpTable {
            configured: true,
            router_id: "198.51.100.12".into(),
            local_as: 65002,
            local_hostname: Some("node2".into()),
            table_version: 6,
            hide_hostnames: false,
            routes: vec![
                BgpRoute {
                    prefix: "10.244.1.0/24".parse().unwrap(),
                    version: 5,
                    paths: vec![learned],
                    advertised_to: vec![],
                },
                BgpRoute {
                    prefix: "198.51.100.12/32".parse().unwrap(),
                    version: 1,
                    paths: vec![local],
                    advertised_to: vec![("192.0.2.2".into(), Some("tor1".into()))],
                },
            ],
        }
    }

    /// What a [`TableStream`] writes for `t` sent in chunks of `n` routes.
    fn streamed(t: &BgpTable, n: usize, json: bool) -> String {
        let mut out = Vec::new();
        let mut s = TableStream::new(BgpFamily::Ipv4Unicast, json);
        let header = BgpTable {
            routes: Vec::new(),
            ..t.clone()
        };
        s.start(header, &mut out).unwrap();
        for chunk in t.routes.chunks(n) {
            s.routes(chunk, &mut out).unwrap();
        }
        let paths = t.routes.iter().map(|r| r.paths.len() as u64).sum();
        s.end(t.routes.len() as u64, paths, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_streamed_table_reads_as_the_whole_one() {
        let t = table();
        for n in [1, 2, 5] {
            assert_eq!(streamed(&t, n, false), table_text(&t, Some("node2")));
            let text = streamed(&t, n, true);
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v,
                table_json(&t, BgpFamily::Ipv4Unicast, Some("node2")),
                "{text}"
            );
            // FRR's layout for large tables: one prefix a line.
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines[7].get(..25), Some(r#" "routes": { "10.244.1.0/"#));
            assert!(lines[8].starts_with(r#","198.51.100.12/32": [{"#), "{text}");
            assert_eq!(lines[9], " }  } ");
        }
        // An empty table and no BGP at all, as FRR prints them.
        let empty = BgpTable {
            routes: Vec::new(),
            ..table()
        };
        assert_eq!(
            streamed(&empty, 3, false),
            "No BGP prefixes displayed, 0 exist\n"
        );
        assert!(streamed(&empty, 3, true).ends_with(" \"routes\": {  }  } \n"));
        let none = BgpTable::default();
        assert_eq!(streamed(&none, 3, false), table_text(&none, None));
    }

    #[test]
    fn versions_where_frr_prints_them() {
        // FRR 8.4.4: "BGP table version is 6, ..." and "tableVersion": 6 for
        // the table, "version" in every path of a prefix, and the prefix's
        // version in its detail, text and JSON.
        let t = table();
        let text = table_text(&t, None);
        assert!(
            text.starts_with(
                "BGP table version is 6, local router ID is 198.51.100.12, vrf id 0\n"
            ),
            "{text}"
        );
        let v = table_json(&t, BgpFamily::Ipv4Unicast, None);
        assert_eq!(v["tableVersion"], 6);
        assert_eq!(v["routes"]["10.244.1.0/24"][0]["version"], 5);
        assert_eq!(v["routes"]["198.51.100.12/32"][0]["version"], 1);
        let lines = streamed(&t, 1, true);
        assert_eq!(lines.lines().nth(3), Some(r#" "tableVersion": 6,"#));
        assert!(
            lines.contains(r#""network":"10.244.1.0/24","version":5,"#),
            "{lines}"
        );
        let one = BgpTable {
            routes: vec![t.routes[0].clone()],
            ..t
        };
        assert!(
            detail_text(&one, None)
                .starts_with("BGP routing table entry for 10.244.1.0/24, version 5\n")
        );
        let v = detail_json(&one, BgpFamily::Ipv4Unicast, None);
        assert_eq!(
            (&v["version"], &v["paths"][0]["version"]),
            (&json!(5), &json!(5))
        );
    }

    #[test]
    fn rows_line_up_with_frr() {
        // Rows FRR 8.4.4 printed for paths of the same shape.
        let text = table_text(&table(), Some("node2"));
        assert!(
            text.contains(
                "\n*> 10.244.1.0/24    192.0.2.2(tor1)                        0 65000 65001 i\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("\n*> 198.51.100.12/32 0.0.0.0(node2)           0         32768 i\n"),
            "{text}"
        );
        assert!(text.ends_with("\nDisplayed  2 routes and 2 total paths\n"));
        assert!(
            text.contains("\n   Network          Next Hop            Metric LocPrf Weight Path\n")
        );
        // FRR's traditional profile: next hops without hostnames, in the
        // whole table and in a streamed one.
        let bare = BgpTable {
            hide_hostnames: true,
            ..table()
        };
        for text in [table_text(&bare, Some("node2")), streamed(&bare, 1, false)] {
            assert!(
                text.contains(
                    "\n*> 10.244.1.0/24    192.0.2.2                              0 65000 65001 i\n"
                ),
                "{text}"
            );
            assert!(
                text.contains("\n*> 198.51.100.12/32 0.0.0.0                  0         32768 i\n"),
                "{text}"
            );
        }
    }

    #[test]
    fn internal_and_multipath_rows() {
        // Rows of the shape FRR 8.x prints for iBGP ECMP paths: `*=i` for
        // the other multipath members, LocPrf in its column, the prefix
        // only on the first path.
        let ibgp = |nh: &str, best: bool| BgpPath {
            best,
            multipath: true,
            valid: true,
            internal: true,
            peer: Some(nh.into()),
            next_hop: nh.into(),
            local_pref: Some(100),
            origin: "IGP".into(),
            ..Default::default()
        };
        let t = BgpTable {
            configured: true,
            router_id: "192.0.2.9".into(),
            local_as: 65000,
            local_hostname: None,
            table_version: 2,
            hide_hostnames: false,
            routes: vec![BgpRoute {
                prefix: "10.96.0.0/24".parse().unwrap(),
                version: 2,
                paths: vec![
                    ibgp("192.168.200.141", true),
                    ibgp("192.168.200.142", false),
                ],
                advertised_to: vec![],
            }],
        };
        let text = table_text(&t, None);
        assert!(
            text.contains(
                "\n*>i10.96.0.0/24     192.168.200.141               100      0 i\n\
                 *=i                 192.168.200.142               100      0 i\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("Displayed  1 routes and 2 total paths\n"));
        let v = table_json(&t, BgpFamily::Ipv4Unicast, None);
        let paths = &v["routes"]["10.96.0.0/24"];
        assert_eq!(paths[0]["bestpath"], true);
        assert_eq!(paths[1]["multipath"], true);
        assert_eq!(paths[1]["pathFrom"], "internal");
        assert_eq!(paths[1]["locPrf"], 100);
        assert!(paths[1].get("bestpath").is_none());
    }

    #[test]
    fn long_prefix_wraps_as_frr_does() {
        let mut t = table();
        t.routes[0].prefix = "2001:db8:aaaa:bbbb::/64".parse().unwrap();
        let text = table_text(&t, None);
        assert!(
            text.contains("*> 2001:db8:aaaa:bbbb::/64\n                    192.0.2.2(tor1)"),
            "{text}"
        );
    }

    #[test]
    fn detail_of_local_and_learned_paths() {
        let t = table();
        let one = BgpTable {
            routes: vec![t.routes[1].clone()],
            ..t.clone()
        };
        let text = detail_text(&one, Some("node2"));
        assert!(text.starts_with("BGP routing table entry for 198.51.100.12/32, version 1\nPaths: (1 available, best #1, table default)\n  Advertised to non peer-group peers:\n  tor1(192.0.2.2)\n  Local\n    0.0.0.0(node2) from 0.0.0.0 (198.51.100.12)\n      Origin IGP, metric 0, weight 32768, valid, sourced, local, bestpath-from-AS Local, best (First path received)\n"), "{text}");
        let v = detail_json(&one, BgpFamily::Ipv4Unicast, Some("node2"));
        assert_eq!(v["paths"][0]["aspath"]["string"], "Local");
        assert_eq!(v["paths"][0]["peer"]["peerId"], "0.0.0.0");
        assert_eq!(v["advertisedTo"]["192.0.2.2"]["hostname"], "tor1");
        let none = BgpTable {
            routes: vec![],
            ..t
        };
        assert_eq!(detail_text(&none, None), "% Network not in table\n");
        assert_eq!(detail_json(&none, BgpFamily::Ipv4Unicast, None), json!({}));
    }

    #[test]
    fn aggregator_and_communities_as_frr_prints_them() {
        // What FRR 8.4.4 prints for an aggregate learnt with community 0:0
        // and RT:65000:100 (the golden lab compares the whole of it).
        let mut t = table();
        t.routes.truncate(1);
        let p = &mut t.routes[0].paths[0];
        p.as_path = "65000".into();
        p.aggregator = Some((65000, "198.51.100.1".into()));
        p.atomic_aggregate = true;
        p.communities = vec!["internet".into(), "no-export".into()];
        p.community_list = vec!["internet".into(), "noExport".into()];
        p.extended_communities = vec!["RT:65000:100".into()];
        let text = detail_text(&t, None);
        assert!(
            text.contains("\n  65000, (aggregated by 65000 198.51.100.1)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "      Community: internet no-export\n      Extended Community: RT:65000:100\n"
            ),
            "{text}"
        );
        let v = detail_json(&t, BgpFamily::Ipv4Unicast, None);
        let path = &v["paths"][0];
        assert_eq!(path["aggregatorAs"], 65000);
        assert_eq!(path["aggregatorId"], "198.51.100.1");
        assert_eq!(
            path["community"],
            json!({"string": "internet no-export", "list": ["internet", "noExport"]})
        );
        assert_eq!(path["extendedCommunity"], json!({"string": "RT:65000:100"}));
    }
}
