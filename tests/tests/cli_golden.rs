//! Golden test of tern's show commands against FRR 8.4's vtysh, on the
//! golden lab (lab/topologies/golden.clab.yml): an FRR leaf (leaf1, AS
//! 65001) and a Tern node (node2, AS 65002) sit in symmetric places under
//! an FRR top-of-rack router, each announcing a loopback /32 and a pod /24
//! (and a pod /64 over an IPv6 session), each with one neighbor that never
//! comes up.
//! Both are asked the same questions; leaf1's answers, with its own names
//! and numbers swapped for node2's, must match Tern's: every key of FRR's
//! JSON exists in Tern's (with the same JSON type), and the text tables
//! line up column for column. Keys of FRR features Tern does not have are
//! listed below with the reason. Also: FRR's error texts for bad input,
//! `clear bgp` seen from FRR's side, and who may use the control socket.
//! Needs root, FRR and bpffs (lab/setup.sh).
use std::process::Command;

use serde_json::Value;
use tern_tests::{Lab, bin, eventually, run, tern, tern_text, vtysh, vtysh_text};

/// What leaf1 calls X, node2 calls Y (and the other way round).
const TWINS: [(&str, &str); 8] = [
    ("leaf1", "node2"),
    ("65001", "65002"),
    ("192.0.2.0", "192.0.2.2"),
    ("192.0.2.1", "192.0.2.3"),
    ("10.244.1.0", "10.244.2.0"),
    ("198.51.100.11", "198.51.100.12"),
    ("2001:db8:0:1::", "2001:db8:0:2::"),
    ("2001:db8:244:1::", "2001:db8:244:2::"),
];

/// Replaces IPv6 next-hop addresses (a word that is an IPv6 address, not a
/// prefix) by ADDR: Tern forwards IPv6 routes learned over a link to the
/// peer's global next hop, zebra to its link-local one.
fn mask_v6_next_hops(line: &str) -> String {
    line.split(' ')
        .map(|w| {
            let end = w.find(['(', ',']).unwrap_or(w.len());
            let (addr, rest) = w.split_at(end);
            if addr.parse::<std::net::Ipv6Addr>().is_ok() {
                format!("ADDR{rest}")
            } else {
                w.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Swaps every name of `TWINS` in `s` for its twin.
fn swap(s: &str) -> String {
    let mut out = s.to_owned();
    for (i, (a, _)) in TWINS.iter().enumerate() {
        out = out.replace(a, &format!("\u{1}{i}a\u{1}"));
    }
    for (i, (_, b)) in TWINS.iter().enumerate() {
        out = out.replace(b, &format!("\u{1}{i}b\u{1}"));
    }
    for (i, (a, b)) in TWINS.iter().enumerate() {
        out = out
            .replace(&format!("\u{1}{i}a\u{1}"), b)
            .replace(&format!("\u{1}{i}b\u{1}"), a);
    }
    out
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `path` (`/a/b/c`) is masked: a mask names a key anywhere, or
/// with a `/`, the end of a path.
fn masked(path: &str, masks: &[(&str, &str)]) -> bool {
    masks.iter().any(|(m, _)| {
        if m.contains('/') {
            path.ends_with(m)
        } else {
            path.rsplit('/').next() == Some(*m)
        }
    })
}

/// Every key path of `frr` that `tern` lacks or holds with another JSON
/// type. Object keys are looked up under their twin name first (peers and
/// prefixes are named differently on each side); array items are compared
/// by position (Tern's first item when it has fewer).
fn missing(frr: &Value, tern: &Value, path: &str, masks: &[(&str, &str)], out: &mut Vec<String>) {
    match (frr, tern) {
        (Value::Object(f), Value::Object(t)) => {
            for (k, fv) in f {
                let p = format!("{path}/{k}");
                if masked(&p, masks) {
                    continue;
                }
                match t.get(&swap(k)).or_else(|| t.get(k)) {
                    Some(tv) => missing(fv, tv, &p, masks, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(f), Value::Array(t)) => {
            for (i, fv) in f.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match t.get(i).or_else(|| t.first()) {
                    Some(tv) => missing(fv, tv, &p, masks, out),
                    None => out.push(p),
                }
            }
        }
        (f, t) if kind(f) != kind(t) => {
            out.push(format!("{path} ({} in FRR, {} in Tern)", kind(f), kind(t)))
        }
        _ => {}
    }
}

/// Asks leaf1 (FRR) and node2 (Tern) `cmd` and checks every FRR key.
fn same_keys(leaf1: &str, node2: &str, cmd: &str, masks: &[(&str, &str)]) {
    let f = vtysh(leaf1, cmd);
    let t = tern(node2, &swap(cmd));
    let mut out = Vec::new();
    missing(&f, &t, "", masks, &mut out);
    assert!(
        out.is_empty(),
        "`{cmd}`: FRR keys missing in Tern's JSON: {out:?}\nFRR: {f:#}\nTern: {t:#}"
    );
}

/// Keys of FRR features Tern does not implement, with the reason.
const NEIGHBOR_MASKS: &[(&str, &str)] = &[
    ("localRole", "BGP roles (RFC 9234) are not implemented"),
    ("remoteRole", "BGP roles (RFC 9234) are not implemented"),
    (
        "bgpTimerConfiguredConditionalAdvertisementsSec",
        "no conditional advertisement",
    ),
    (
        "longLivedGracefulRestartByPeer",
        "long-lived graceful restart is not implemented",
    ),
    (
        "addPath/ipv4Unicast/rxAdvertisedAndReceived",
        "Tern announces no ADD-PATH: it shows rxReceived",
    ),
    (
        "addPath/ipv6Unicast/rxAdvertisedAndReceived",
        "Tern announces no ADD-PATH: it shows rxReceived",
    ),
    (
        "192.0.2.99/lastResetTimerMsecs",
        "FRR records a reset before the first session (Waiting for NHT); \
         Tern's last reset is about a session that went down",
    ),
    (
        "192.0.2.99/lastResetDueTo",
        "FRR records a reset before the first session (Waiting for NHT)",
    ),
    (
        "nextConnectTimerDueInMsecs",
        "Tern's timers do not expose their deadline",
    ),
    ("updateGroupId", "FRR's update groups"),
    ("subGroupId", "FRR's update groups"),
    ("lastResetCode", "FRR's internal reset code numbers"),
    ("estimatedRttInMsecs", "not measured"),
    ("readThread", "FRR's thread internals"),
    ("writeThread", "FRR's thread internals"),
];

const ROUTE_MASKS: &[(&str, &str)] = &[
    ("internalStatus", "zebra's internal route state"),
    ("internalFlags", "zebra's internal route flags"),
    ("nexthopGroupId", "zebra's nexthop-group ids"),
    ("installedNexthopGroupId", "zebra's nexthop-group ids"),
    (
        "uptime",
        "the kernel keeps no route age: Tern has it for its BGP routes only (checked apart)",
    ),
];

const DETAIL_MASKS: &[(&str, &str)] = &[];

/// IPv6 routes learned over a link carry a global and a link-local next
/// hop; Tern forwards to the global one (so marks it used), zebra to the
/// link-local one.
const V6_MASKS: &[(&str, &str)] = &[(
    "nexthops[1]/used",
    "Tern forwards to the global next hop, FRR to the link-local one",
)];

/// The remote prefix's detail: FRR also sends a route back to the eBGP
/// peer it came from (which drops it), so it lists that peer; Tern does not.
const REMOTE_DETAIL_MASKS: &[(&str, &str)] = &[(
    "/advertisedTo",
    "FRR advertises back to the sender; Tern does not",
)];

/// The byte offsets at which each whitespace-separated field ends.
fn field_ends(line: &str) -> Vec<usize> {
    let mut ends = Vec::new();
    let b = line.as_bytes();
    for i in 0..b.len() {
        if b[i] != b' ' && (i + 1 == b.len() || b[i + 1] == b' ') {
            ends.push(i + 1);
        }
    }
    ends
}

/// The lines of a table from its header (the line starting with `head`).
fn table_lines<'a>(text: &'a str, head: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no line starting with {head:?} in:\n{text}"));
    lines[start..]
        .iter()
        .take_while(|l| !l.is_empty())
        .copied()
        .collect()
}

fn sorted(lines: &[String]) -> Vec<String> {
    let mut v = lines.to_vec();
    v.sort();
    v
}

/// FRR's text of a command with names swapped, and Tern's.
fn both_texts(leaf1: &str, node2: &str, cmd: &str) -> (String, String) {
    (swap(&vtysh_text(leaf1, cmd)), tern_text(node2, &swap(cmd)))
}

fn summary_columns(leaf1: &str, node2: &str) {
    let (f, t) = both_texts(leaf1, node2, "show bgp ipv4 unicast summary");
    let fl = table_lines(&f, "Neighbor");
    let tl = table_lines(&t, "Neighbor");
    assert_eq!(fl.len(), tl.len(), "FRR:\n{f}\nTern:\n{t}");
    assert_eq!(fl[0], tl[0], "header");
    for (a, b) in fl.iter().zip(&tl).skip(1) {
        // Counters differ; right-aligned columns end at the same offsets.
        assert_eq!(
            field_ends(a),
            field_ends(b),
            "columns of\n{a}\n{b}\nFRR:\n{f}\nTern:\n{t}"
        );
    }
}

/// `show ip bgp` / `show bgp ipv6 unicast`: the header, the rows (a row
/// with the lines it wraps onto) and the footer, line for line.
fn bgp_table_text(leaf1: &str, node2: &str, cmd: &str) {
    let (f, t) = both_texts(leaf1, node2, cmd);
    let version = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                if l.starts_with("BGP table version is ") {
                    l.split_once(',').map_or(l.to_owned(), |(_, rest)| {
                        format!("BGP table version,{rest}")
                    })
                } else {
                    l.to_owned()
                }
            })
            .collect()
    };
    let (fl, tl) = (version(&f), version(&t));
    // The numbers differ with each daemon's history; both count.
    let number = |s: &str| -> Option<u64> {
        s.lines()
            .find_map(|l| l.strip_prefix("BGP table version is "))
            .and_then(|l| l.split(',').next()?.parse().ok())
    };
    assert!(
        number(&f).is_some_and(|v| v > 0) && number(&t).is_some_and(|v| v > 0),
        "table versions\nFRR:\n{f}\nTern:\n{t}"
    );
    let head = |v: &[String]| -> Vec<String> {
        v.iter()
            .take_while(|l| !l.starts_with("*"))
            .cloned()
            .collect()
    };
    let rows = |v: &[String]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for l in v.iter().skip_while(|l| !l.starts_with("*")) {
            if l.is_empty() {
                break;
            }
            let l = mask_v6_next_hops(l);
            match out.last_mut() {
                Some(row) if !l.starts_with('*') => {
                    row.push('\n');
                    row.push_str(&l);
                }
                _ => out.push(l),
            }
        }
        out
    };
    assert_eq!(head(&fl), head(&tl), "header\nFRR:\n{f}\nTern:\n{t}");
    assert_eq!(
        sorted(&rows(&fl)),
        sorted(&rows(&tl)),
        "rows\nFRR:\n{f}\nTern:\n{t}"
    );
    assert_eq!(fl.last(), tl.last(), "footer");
}

/// A row without zebra's trailing route age ("hh:mm:ss"), and whether it
/// had one.
fn strip_age(l: &str) -> (String, bool) {
    match l.rsplit_once(", ") {
        Some((head, age))
            if age.len() == 8
                && age.split(':').count() == 3
                && age
                    .split(':')
                    .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit())) =>
        {
            (head.to_owned(), true)
        }
        _ => (l.to_owned(), false),
    }
}

fn route_table_text(leaf1: &str, node2: &str, cmd: &str) {
    let (f, t) = both_texts(leaf1, node2, cmd);
    // zebra ends each row with the route's age; the kernel keeps none, so
    // Tern prints it for its BGP routes only (the age of the best path):
    // compare up to it, and check that Tern's BGP rows have one.
    let fl: Vec<String> = f
        .lines()
        .map(|l| mask_v6_next_hops(&strip_age(l).0))
        .collect();
    let tl: Vec<String> = t
        .lines()
        .map(|l| mask_v6_next_hops(&strip_age(l).0))
        .collect();
    assert_eq!(sorted(&fl), sorted(&tl), "FRR:\n{f}\nTern:\n{t}");
    let bgp_rows: Vec<&str> = t.lines().filter(|l| l.starts_with("B>*")).collect();
    assert!(!bgp_rows.is_empty(), "no BGP route in Tern's table:\n{t}");
    for row in bgp_rows {
        assert!(strip_age(row).1, "no route age on a BGP row: {row:?}\n{t}");
    }
}

/// A "Last update:" line with its time replaced, and the time checked to
/// read as ctime(3) prints it ("Mon Nov 23 18:11:25 2026").
fn mask_last_update(l: &str) -> String {
    let Some((head, when)) = l.split_once("Last update: ") else {
        return l.to_owned();
    };
    let parts: Vec<&str> = when.split_whitespace().collect();
    assert!(
        parts.len() == 5
            && parts[3].split(':').count() == 3
            && parts[4].parse::<u32>().is_ok_and(|y| y >= 2000),
        "not a ctime(3) time: {l:?}"
    );
    format!("{head}Last update: TIME")
}

fn detail_text(leaf1: &str, node2: &str, cmd: &str) {
    let f = swap(&vtysh_text(leaf1, cmd));
    let t = tern_text(node2, &swap(cmd));
    // The prefix's version differs with each daemon's history; both count.
    let number =
        |s: &str| -> Option<u64> { s.lines().next()?.split_once(", version ")?.1.parse().ok() };
    assert!(
        number(&f).is_some_and(|v| v > 0) && number(&t).is_some_and(|v| v > 0),
        "versions\nFRR:\n{f}\nTern:\n{t}"
    );
    let clean = |s: &str| -> Vec<String> {
        s.lines()
            .map(mask_last_update)
            .map(|l| match l.split_once(", version ") {
                Some((head, _)) => head.to_owned(),
                None => l,
            })
            .collect()
    };
    assert_eq!(clean(&f), clean(&t), "FRR:\n{f}\nTern:\n{t}");
}

/// Tern counts table versions as FRR does: every route's version is at
/// least 1 and at most the table's, which `show ip bgp json` and the
/// summary give alike.
fn versions_counted(node2: &str) {
    for (table, family) in [
        ("show ip bgp json", "ipv4Unicast"),
        ("show bgp ipv6 unicast json", "ipv6Unicast"),
    ] {
        let t = tern(node2, table);
        let summary = tern(node2, "show bgp summary json");
        let table_version = t["tableVersion"].as_u64().unwrap_or(0);
        assert_eq!(
            summary[family]["tableVersion"], table_version,
            "`{table}`: {t:#}\nsummary: {summary:#}"
        );
        let routes = t["routes"].as_object().expect("routes");
        assert!(!routes.is_empty(), "`{table}`: {t:#}");
        for (prefix, paths) in routes {
            for p in paths.as_array().expect("paths") {
                let v = p["version"].as_u64().unwrap_or(0);
                assert!(
                    (1..=table_version).contains(&v),
                    "`{table}` {prefix}: version {v}, table {table_version}: {t:#}"
                );
            }
        }
    }
}

/// tor1's aggregate 172.16.0.0/16 (AGGREGATOR 65000 198.51.100.1,
/// ATOMIC_AGGREGATE, community 0:0, extended community RT:65000:100), as
/// both leaves learnt it: the path's JSON values and its detail text are
/// FRR's, but for the peers it is advertised to (FRR sends it back to tor1).
fn tagged_aggregate(leaf1: &str, node2: &str) {
    const CMD: &str = "show ip bgp 172.16.0.0/16";
    let json = format!("{CMD} json");
    same_keys(leaf1, node2, &json, REMOTE_DETAIL_MASKS);
    let f = vtysh(leaf1, &json);
    let t = tern(node2, &json);
    for key in [
        "aspath",
        "aggregatorAs",
        "aggregatorId",
        "atomicAggregate",
        "community",
        "extendedCommunity",
        "origin",
        "valid",
    ] {
        let fv = &f["paths"][0][key];
        assert!(!fv.is_null(), "FRR has no {key}: {f:#}");
        assert_eq!(
            fv, &t["paths"][0][key],
            "`{json}` {key}: FRR {f:#}\nTern {t:#}"
        );
    }
    // The text, without the lines of the peers it is advertised to (the
    // heading and the one line of peers after it).
    let text = |s: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut lines = s.lines();
        while let Some(l) = lines.next() {
            if l.starts_with("  Advertised to") {
                lines.next();
                continue;
            }
            if l.starts_with("  Not advertised") {
                continue;
            }
            let l = mask_last_update(l);
            out.push(match l.split_once(", version ") {
                Some((head, _)) => head.to_owned(),
                None => l,
            });
        }
        out
    };
    let fs = swap(&vtysh_text(leaf1, CMD));
    let ts = tern_text(node2, CMD);
    assert!(
        fs.contains("(aggregated by 65000 198.51.100.1)")
            && fs.contains("Community: internet")
            && fs.contains("Extended Community: RT:65000:100"),
        "the lab's aggregate is not what this test expects:\n{fs}"
    );
    assert_eq!(text(&fs), text(&ts), "FRR:\n{fs}\nTern:\n{ts}");
}

/// The lines of `show bgp neighbors ADDR` that hold no counter or timer:
/// each one FRR prints (names swapped) Tern prints the same.
fn neighbor_text(leaf1: &str, node2: &str) {
    const STABLE: [&str; 17] = [
        "BGP neighbor is ",
        " Description: ",
        "Hostname: ",
        "  BGP version 4, ",
        "  Hold time is ",
        "  Configured hold time is ",
        "    4 Byte AS: ",
        "    Route refresh: ",
        "    Address Family ",
        "    Hostname Capability: ",
        "  Message statistics:",
        "    Inq depth is ",
        "    Outq depth is ",
        " For address family: ",
        "  External BGP neighbor may be up to ",
        "BGP connection: ",
        "BGP Connect Retry Timer in Seconds: ",
    ];
    let (f, t) = both_texts(leaf1, node2, "show bgp neighbors 192.0.2.0");
    let ours: Vec<&str> = t.lines().collect();
    let mut checked = 0;
    for line in f
        .lines()
        .filter(|l| STABLE.iter().any(|p| l.starts_with(p)))
    {
        assert!(
            ours.contains(&line),
            "FRR's line {line:?} not in Tern's:\n{t}\nFRR:\n{f}"
        );
        checked += 1;
    }
    assert!(
        checked >= STABLE.len(),
        "only {checked} lines compared:\n{f}"
    );
    // Graceful restart: the capability's details and the whole
    // information block, line for line.
    let block = |text: &str| -> Vec<String> {
        let lines: Vec<&str> = text.lines().collect();
        let cap = lines
            .iter()
            .position(|l| l.starts_with("    Graceful Restart Capability: "));
        let start = lines
            .iter()
            .position(|l| *l == "  Graceful restart information:");
        let end = lines.iter().position(|l| *l == "  Message statistics:");
        match (cap, start, end) {
            (Some(c), Some(s), Some(e)) if c < s && s < e => lines[c..c + 4]
                .iter()
                .chain(&lines[s..e])
                .map(|l| (*l).to_owned())
                .collect(),
            _ => panic!("no graceful restart block in:\n{text}"),
        }
    };
    // "End-of-RIB sent after update" says whether an UPDATE left after the
    // End-of-RIB, in a later second. FRR's leaf sends tor1's own routes
    // back to it (tor1 drops them as AS loops) as they arrive, which can
    // be after its End-of-RIB; Tern never sends a route to the peer it came
    // from. The line is compared for its form; Tern's own value follows
    // what it sent.
    let after = "      End-of-RIB sent after update: ";
    let masked = |b: Vec<String>| -> Vec<String> {
        b.into_iter()
            .map(|l| {
                if l.starts_with(after) {
                    after.to_owned()
                } else {
                    l
                }
            })
            .collect()
    };
    assert_eq!(
        masked(block(&f)),
        masked(block(&t)),
        "FRR:\n{f}\nTern:\n{t}"
    );
    assert!(
        block(&t).iter().any(|l| *l == format!("{after}Yes")),
        "Tern sent nothing to tor1 after its End-of-RIB:\n{t}"
    );
}

/// FRR's and Tern's words for bad input, side by side.
fn same_errors(leaf1: &str, node2: &str) {
    let cases = [
        "show ip bgp 10.9.9.0/24",
        "show ip bgp 10.9.9.0/24 json",
        "show ip bgp 1.2.3",
        "show ip bgp 2001:db8::/64",
        "show bgp ipv6 unicast 10.0.0.0/8",
        "show bgp neighbors 192.0.2.9",
        "show bgp neighbors 192.0.2.9 json",
        "show bgp neighbors not-a-peer",
        "clear bgp 192.0.2.9",
        "clear ip bgp 192.0.2.9 soft in",
        "clear bgp 1.2.3",
    ];
    for cmd in cases {
        let (frr, ours) = both_answers(leaf1, node2, cmd);
        if !cmd.ends_with("json") {
            assert!(!frr.is_empty(), "`{cmd}`: FRR said nothing");
        }
        assert_same_answer(cmd, &frr, &ours, "");
    }
}

/// FRR's stdout and tern's stdout and stderr for the same command,
/// trimmed (vtysh prints its errors on stdout, tern on stderr).
fn both_answers(leaf1: &str, node2: &str, cmd: &str) -> (String, String) {
    let f = run(Command::new("vtysh").args(["-N", leaf1, "-c", cmd]));
    let t = run(Command::new(bin("tern")).args(["-N", node2, "-c", cmd]));
    let frr = String::from_utf8_lossy(&f.stdout).trim().to_owned();
    let mut ours = String::from_utf8_lossy(&t.stdout).into_owned();
    ours.push_str(&String::from_utf8_lossy(&t.stderr));
    (frr, ours.trim().to_owned())
}

/// The two answers are equal: as JSON values for a `json` command, else
/// as text.
fn assert_same_answer(cmd: &str, frr: &str, ours: &str, context: &str) {
    if cmd.ends_with("json") {
        let a: Value = serde_json::from_str(frr).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        let b: Value = serde_json::from_str(ours).unwrap_or_else(|e| panic!("{cmd}: {e}"));
        assert_eq!(a, b, "`{cmd}`{context}");
    } else {
        assert_eq!(frr, ours, "`{cmd}`{context}");
    }
}

/// tor1's view of a neighbor (leaf1 or node2).
fn tor_neighbor(tor1: &str, addr: &str) -> Value {
    vtysh(tor1, &format!("show bgp neighbors {addr} json"))[addr].clone()
}

/// tor1 has both leaves up: two IPv4 prefixes and one IPv6 prefix from each.
fn both_up(tor1: &str) -> Result<(), String> {
    for (family, peers, count) in [
        ("ipv4", ["192.0.2.1", "192.0.2.3"], 2),
        ("ipv6", ["2001:db8:0:1::2", "2001:db8:0:2::2"], 1),
    ] {
        let v = vtysh(tor1, &format!("show bgp {family} unicast summary json"));
        for peer in peers {
            let p = &v["peers"][peer];
            if p["state"] != "Established" || p["pfxRcd"] != count {
                return Err(format!("{peer}: {p}"));
            }
        }
    }
    Ok(())
}

/// `clear bgp`: a hard reset reaches FRR as Cease/Administrative Reset and
/// the session comes back; soft in sends ROUTE-REFRESH; soft out resends
/// the Adj-RIB-Out.
fn clear_commands(lab: &Lab) {
    let (tor1, leaf1, node2) = (lab.ns("tor1"), lab.ns("leaf1"), lab.ns("node2"));
    let before = tor_neighbor(&tor1, "192.0.2.3");
    let stat = |v: &Value, k: &str| v["messageStats"][k].as_u64().unwrap_or(0);
    tern_text(&node2, "clear bgp 192.0.2.2 soft in");
    eventually(10, "ROUTE-REFRESH at tor1", || {
        let now = tor_neighbor(&tor1, "192.0.2.3");
        if stat(&now, "routeRefreshRecv") > stat(&before, "routeRefreshRecv") {
            Ok(())
        } else {
            Err(format!("no ROUTE-REFRESH at tor1: {}", now["messageStats"]))
        }
    });
    tern_text(&node2, "clear ip bgp * soft out");
    eventually(10, "UPDATE at tor1", || {
        let now = tor_neighbor(&tor1, "192.0.2.3");
        if stat(&now, "updatesRecv") > stat(&before, "updatesRecv") {
            Ok(())
        } else {
            Err(format!("no UPDATE at tor1: {}", now["messageStats"]))
        }
    });
    // The same hard reset on both leaves; tor1 (FRR) names the
    // NOTIFICATION Tern sent.
    vtysh_text(&leaf1, "clear bgp *");
    tern_text(&node2, "clear bgp *");
    eventually(30, "the sessions reset by clear bgp *", || {
        for addr in ["192.0.2.1", "192.0.2.3"] {
            let n = tor_neighbor(&tor1, addr);
            if n["connectionsDropped"].as_u64().unwrap_or(0) < 1 {
                return Err(format!("{addr} not dropped: {n}"));
            }
        }
        // tor1's log names the NOTIFICATION it received from node2.
        let log = std::fs::read_to_string(lab.state_dir().join("tor1/bgpd.log"))
            .map_err(|e| format!("tor1's bgpd.log: {e}"))?;
        if !log.lines().any(|l| {
            l.contains("192.0.2.3") && l.contains("received") && l.contains("Administrative Reset")
        }) {
            return Err(format!(
                "no Cease/Administrative Reset from node2 in:\n{log}"
            ));
        }
        both_up(&tor1)
    });
    let n = tern(&node2, "show bgp neighbors 192.0.2.2 json");
    assert_eq!(n["192.0.2.2"]["lastResetDueTo"], "User reset", "{n}");
    assert_eq!(n["192.0.2.2"]["connectionsEstablished"], 2, "{n}");
}

/// The control socket: root and group `tern` may connect, others not.
fn socket_permissions(node2: &str) {
    let as_user = |groups: &str| {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup"]);
        if groups.is_empty() {
            c.arg("--clear-groups");
        } else {
            c.arg(format!("--groups={groups}"));
        }
        c.arg(bin("tern"))
            .args(["-N", node2, "-c", "show version"])
            .env_remove("HOME");
        run(&mut c)
    };
    let group = run(Command::new("getent").args(["group", "tern"]));
    assert!(
        group.status.success(),
        "group tern does not exist: run lab/setup.sh (it creates it)"
    );
    let root = run(Command::new(bin("tern")).args(["-N", node2, "-c", "show version"]));
    assert!(
        root.status.success(),
        "root cannot use the socket: {root:?}"
    );
    let stranger = as_user("");
    assert_eq!(
        stranger.status.code(),
        Some(1),
        "nobody outside group tern reached ternd: {stranger:?}"
    );
    let err = String::from_utf8_lossy(&stranger.stderr);
    assert!(err.contains("ermission denied"), "{err}");
    let member = as_user("tern");
    assert!(
        member.status.success(),
        "a member of group tern cannot use the socket: {member:?}"
    );
    assert!(String::from_utf8_lossy(&member.stdout).contains("ternd"));
}

/// With `router bgp` removed on both leaves, the BGP commands answer as
/// FRR does.
fn without_bgp(leaf1: &str, node2: &str) {
    let f =
        run(Command::new("vtysh").args(["-N", leaf1, "-c", "conf t", "-c", "no router bgp 65001"]));
    assert!(f.status.success(), "FRR: {f:?}");
    tern_tests::run_ok(Command::new(bin("tern")).args([
        "-N",
        node2,
        "-c",
        "conf t",
        "-c",
        "no router bgp 65002",
    ]));
    let cmds = [
        "show ip bgp",
        "show ip bgp json",
        "show bgp ipv6 unicast",
        "show ip bgp 10.0.0.0/8",
        "show ip bgp 10.0.0.0/8 json",
        "clear bgp *",
        "show bgp summary",
        "show bgp summary json",
        "show bgp neighbors",
        "show bgp neighbors json",
    ];
    for cmd in cmds {
        let (frr, ours) = both_answers(leaf1, node2, cmd);
        assert_same_answer(cmd, &frr, &ours, " without BGP");
    }
}

#[test]
fn tern_answers_like_frr_on_the_golden_lab() {
    let lab = Lab::up("golden.clab.yml", &format!("g{}", std::process::id()));
    let (tor1, leaf1, node2) = (lab.ns("tor1"), lab.ns("leaf1"), lab.ns("node2"));
    eventually(30, "both leaves' sessions up", || both_up(&tor1));
    // Routes of other programs in both leaves' main tables: zebra shows
    // them as kernel routes (K), with the kernel's metric.
    for (ns, tor) in [(&leaf1, "192.0.2.0"), (&node2, "192.0.2.2")] {
        for extra in [&[][..], &["metric", "100"][..]] {
            let dst = if extra.is_empty() {
                "203.0.113.0/24"
            } else {
                "203.0.114.0/24"
            };
            tern_tests::run_ok(
                Command::new("ip")
                    .args(["-n", ns.as_str(), "route", "add", dst, "via", tor])
                    .args(extra),
            );
        }
    }
    // Both leaves hold the six routes (two own, tor1's loopback and its
    // tagged aggregate, the other leaf's two) and have installed the four
    // learned ones.
    eventually(20, "six routes in each leaf", || {
        for (name, v) in [
            ("leaf1", vtysh(&leaf1, "show ip bgp json")),
            ("node2", tern(&node2, "show ip bgp json")),
        ] {
            let n = v["routes"].as_object().map_or(0, |m| m.len());
            if n != 6 {
                return Err(format!("{name} has {n} routes: {v}"));
            }
        }
        for (name, v) in [
            ("leaf1", vtysh(&leaf1, "show ip route json")),
            ("node2", tern(&node2, "show ip route json")),
        ] {
            let bgp = v.as_object().map_or(0, |m| {
                m.values().filter(|r| r[0]["protocol"] == "bgp").count()
            });
            if bgp != 4 {
                return Err(format!("{name} has {bgp} BGP routes in its FIB: {v}"));
            }
            if v["203.0.114.0/24"][0]["protocol"] != "kernel" {
                return Err(format!("{name} does not show the kernel route yet: {v}"));
            }
        }
        Ok(())
    });

    same_errors(&leaf1, &node2);
    socket_permissions(&node2);
    // After a `clear bgp *` on both, the neighbors have the same history.
    clear_commands(&lab);
    eventually(20, "six routes in node2 after clear bgp *", || {
        let n = tern(&node2, "show ip bgp json")["routes"]
            .as_object()
            .map_or(0, |m| m.len());
        if n == 6 {
            Ok(())
        } else {
            Err(format!("{n} routes"))
        }
    });

    same_keys(
        &leaf1,
        &node2,
        "show bgp summary json",
        &[("peerMemory", "FRR's allocator statistics")],
    );
    same_keys(&leaf1, &node2, "show ip bgp json", &[]);
    same_keys(
        &leaf1,
        &node2,
        "show ip bgp 10.244.1.0/24 json",
        DETAIL_MASKS,
    );
    same_keys(
        &leaf1,
        &node2,
        "show ip bgp 10.244.2.0/24 json",
        REMOTE_DETAIL_MASKS,
    );
    same_keys(&leaf1, &node2, "show bgp ipv6 unicast json", V6_MASKS);
    same_keys(
        &leaf1,
        &node2,
        "show bgp ipv6 unicast 2001:db8:244:1::/64 json",
        DETAIL_MASKS,
    );
    let remote_v6: Vec<(&str, &str)> = REMOTE_DETAIL_MASKS
        .iter()
        .chain(V6_MASKS)
        .copied()
        .collect();
    same_keys(
        &leaf1,
        &node2,
        "show bgp ipv6 unicast 2001:db8:244:2::/64 json",
        &remote_v6,
    );
    same_keys(&leaf1, &node2, "show bgp neighbors json", NEIGHBOR_MASKS);
    same_keys(&leaf1, &node2, "show ip route json", ROUTE_MASKS);
    same_keys(&leaf1, &node2, "show ipv6 route json", ROUTE_MASKS);
    for cmd in ["show ip route json", "show ipv6 route json"] {
        let t = tern(&node2, cmd);
        let bgp: Vec<&serde_json::Value> = t
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|v| v.as_array())
            .flatten()
            .filter(|r| r["protocol"] == "bgp")
            .collect();
        assert!(!bgp.is_empty(), "`{cmd}`: no BGP route: {t:#}");
        for r in bgp {
            let age = r["uptime"].as_str().unwrap_or("");
            assert!(
                strip_age(&format!("x, {age}")).1,
                "`{cmd}`: uptime of {r:#}"
            );
        }
    }

    summary_columns(&leaf1, &node2);
    bgp_table_text(&leaf1, &node2, "show ip bgp");
    bgp_table_text(&leaf1, &node2, "show bgp ipv6 unicast");
    route_table_text(&leaf1, &node2, "show ip route");
    route_table_text(&leaf1, &node2, "show ipv6 route");
    neighbor_text(&leaf1, &node2);
    detail_text(&leaf1, &node2, "show ip bgp 10.244.1.0/24");
    detail_text(&leaf1, &node2, "show bgp ipv6 unicast 2001:db8:244:1::/64");
    versions_counted(&node2);
    tagged_aggregate(&leaf1, &node2);
    without_bgp(&leaf1, &node2);
}
