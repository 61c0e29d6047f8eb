//! The FRR lines a ToR engineer types, against FRR 8.4 on the frrlines lab
//! (lab/topologies/frrlines.clab.yml): an FRR leaf (leaf1, AS 65001) and a
//! Tern node (node2, AS 65002) in symmetric places under an FRR ToR
//! (tor1), node2 with an FRR iBGP neighbor (ibgp2). Each leaf keeps tor1's
//! routes as received (soft-reconfiguration inbound); tor1 sends each one
//! route with the leaf's AS twice in the AS_PATH and one with it once.
//! Checked, with every line typed live into `tern` as into vtysh:
//! - received-routes and advertised-routes, text and JSON, against
//!   leaf1's (names swapped), also with an import route-map, and
//!   `clear bgp X soft in` without a ROUTE-REFRESH;
//! - allowas-in N / (3) / origin: node2 accepts what leaf1 accepts;
//! - next-hop-self: the next hop ibgp2 gets;
//! - bgp ebgp-requires-policy: "(Policy)" in the summary as in FRR's, and
//!   no routes either way until route-maps exist;
//! - static routes (Null0, gateway, interface with a distance) in the
//!   kernel with protocol static, `S>*` in `show ip route`, redistributed
//!   to tor1, removed with their line; `log file`;
//! - `write memory` keeps all of it.
//!
//! And without a lab: a pasted FRR leaf configuration
//! (lab/topologies/frrlines/frr-leaf.conf) that FRR's vtysh takes is
//! taken by `ternd -C` unchanged. Needs root and FRR (lab/setup.sh).
use std::process::Command;

use serde_json::Value;
use tern_tests::{Lab, bin, eventually, repo_root, run, run_ok, tern, tern_script, vtysh};

/// What leaf1 calls X, node2 calls Y (and the other way round).
const TWINS: [(&str, &str); 6] = [
    ("leaf1", "node2"),
    ("65001", "65002"),
    ("192.0.2.0", "192.0.2.2"),
    ("192.0.2.1", "192.0.2.3"),
    ("10.244.1.0", "10.244.2.0"),
    ("198.51.100.11", "198.51.100.12"),
];

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

/// Text output without the table version line (each side counts its own
/// best-path changes).
fn unversioned(text: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with("BGP table version is"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same with the lines sorted: swapping names reorders the rows.
fn unversioned_sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = unversioned(text).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// JSON output without the table version.
fn unversioned_json(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("bgpTableVersion");
    }
    v
}

fn vtysh_out(ns: &str, cmd: &str) -> String {
    run_ok(Command::new("vtysh").args(["-N", ns, "-c", cmd]))
}

fn tern_out(ns: &str, cmd: &str) -> String {
    run_ok(Command::new(bin("tern")).args(["-N", ns, "-c", cmd]))
}

/// leaf1's answer to `frr_cmd` as node2 would give it.
fn frr_twin(leaf1: &str, frr_cmd: &str) -> String {
    swap(&vtysh_out(leaf1, frr_cmd))
}

/// The prefixes of a `show ip bgp json` answer (FRR's and Tern's keys).
fn loc_rib(v: &Value) -> Vec<String> {
    v["routes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The first next hop of a prefix in FRR's `show ip bgp PREFIX json`.
fn frr_next_hop(ns: &str, prefix: &str) -> String {
    let v = vtysh(ns, &format!("show ip bgp {prefix} json"));
    v["paths"][0]["nexthops"][0]["ip"]
        .as_str()
        .unwrap_or("none")
        .to_owned()
}

/// Route refreshes tor1 received from node2.
fn refreshes_from_node2(tor1: &str) -> u64 {
    let v = vtysh(tor1, "show bgp neighbors 192.0.2.3 json");
    v["192.0.2.3"]["messageStats"]["routeRefreshRecv"]
        .as_u64()
        .unwrap_or(u64::MAX)
}

/// tor1's routes from node2.
fn tor1_from_node2(tor1: &str) -> Vec<String> {
    loc_rib(&vtysh(tor1, "show ip bgp neighbors 192.0.2.3 routes json"))
}

/// The line of `show bgp summary` for tor1.
fn summary_line(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("tor1("))
        .unwrap_or("")
        .to_owned()
}

/// Sets `line` (address-family ipv4 unicast) on both leaves.
fn both_af(leaf1: &str, node2: &str, frr_line: &str) {
    tern_tests::vtysh_config(
        leaf1,
        &["router bgp 65001", "address-family ipv4 unicast", frr_line],
    );
    let ours = swap(frr_line);
    tern_script(
        node2,
        &format!(
            "configure terminal\nrouter bgp 65002\naddress-family ipv4 unicast\n{ours}\nend\n"
        ),
    );
}

#[test]
fn frr_lines_against_frr_8_4() {
    let lab = Lab::up("frrlines.clab.yml", &format!("fl{}", std::process::id()));
    let tor1 = lab.ns("tor1");
    let leaf1 = lab.ns("leaf1");
    let node2 = lab.ns("node2");
    let ibgp2 = lab.ns("ibgp2");
    let received_frr = "show ip bgp neighbors 192.0.2.0 received-routes";
    let received_tern = "show ip bgp neighbors 192.0.2.2 received-routes";
    eventually(40, "received-routes at leaf1, node2 and ibgp2", || {
        let frr = vtysh(&leaf1, &format!("{received_frr} json"));
        let ours = tern(&node2, &format!("{received_tern} json"));
        let ibgp = loc_rib(&vtysh(&ibgp2, "show ip bgp json"));
        match (
            frr["totalPrefixCounter"].as_u64(),
            ours["totalPrefixCounter"].as_u64(),
        ) {
            (Some(8), Some(8)) if ibgp.contains(&"172.16.1.0/24".to_owned()) => Ok(()),
            other => Err(format!("received counters {other:?}, ibgp2 has {ibgp:?}")),
        }
    });

    // soft-reconfiguration inbound: the Adj-RIB-In as received, loop
    // refused routes included, line for line and key for key as FRR's.
    let ours = tern_out(&node2, received_tern);
    let frr = frr_twin(&leaf1, received_frr);
    assert_eq!(
        unversioned_sorted(&ours),
        unversioned_sorted(&frr),
        "node2:\n{ours}\nleaf1 (names swapped):\n{frr}"
    );
    let frr_json: Value =
        serde_json::from_str(&frr_twin(&leaf1, &format!("{received_frr} json"))).unwrap();
    assert_eq!(
        unversioned_json(tern(&node2, &format!("{received_tern} json"))),
        unversioned_json(frr_json)
    );
    // advertised-routes: FRR passes tor1's routes back to tor1, a node
    // does not (only its own); those rows are FRR's, as is the layout.
    let ours = tern_out(&node2, "show ip bgp neighbors 192.0.2.2 advertised-routes");
    let frr = frr_twin(&leaf1, "show ip bgp neighbors 192.0.2.0 advertised-routes");
    let rows: Vec<&str> = ours.lines().filter(|l| l.starts_with("*>")).collect();
    assert_eq!(rows.len(), 2, "{ours}");
    for row in &rows {
        assert!(
            frr.lines().any(|l| l == *row),
            "{row:?} not in FRR's\n{frr}"
        );
    }
    let head = |t: &str| -> String { unversioned(t.split("\n*>").next().unwrap_or_default()) };
    assert_eq!(head(&ours), head(&frr));
    assert!(ours.ends_with("\nTotal number of prefixes 2\n"), "{ours}");
    let ours = tern(
        &node2,
        "show ip bgp neighbors 192.0.2.2 advertised-routes json",
    );
    let frr: Value = serde_json::from_str(&frr_twin(
        &leaf1,
        "show ip bgp neighbors 192.0.2.0 advertised-routes json",
    ))
    .unwrap();
    for p in ["10.244.2.0/24", "198.51.100.12/32"] {
        assert_eq!(
            ours["advertisedRoutes"][p], frr["advertisedRoutes"][p],
            "{p}"
        );
    }
    // The neighbor's family block says so, as FRR's does.
    let af = |v: &Value, addr: &str| v[addr]["addressFamilyInfo"]["ipv4Unicast"].clone();
    let ours = af(
        &tern(&node2, "show bgp neighbors 192.0.2.2 json"),
        "192.0.2.2",
    );
    let frr = af(
        &vtysh(&leaf1, "show bgp neighbors 192.0.2.0 json"),
        "192.0.2.0",
    );
    assert_eq!(ours["inboundSoftConfigPermit"], true, "{ours}");
    assert_eq!(
        ours["inboundSoftConfigPermit"],
        frr["inboundSoftConfigPermit"]
    );
    assert!(
        tern_out(&node2, "show bgp neighbors 192.0.2.2").contains(
            "\n For address family: IPv4 Unicast\n  Inbound soft reconfiguration allowed\n"
        )
    );
    // FRR's refusals: no soft-reconfiguration, no such neighbor.
    assert_eq!(
        tern_out(&node2, "show ip bgp neighbors 192.0.2.5 received-routes"),
        vtysh_out(&ibgp2, "show ip bgp neighbors 192.0.2.4 received-routes")
    );
    assert_eq!(
        tern(
            &node2,
            "show ip bgp neighbors 192.0.2.5 received-routes json"
        ),
        vtysh(
            &ibgp2,
            "show ip bgp neighbors 192.0.2.4 received-routes json"
        )
    );
    assert_eq!(
        tern_out(&node2, "show ip bgp neighbors 192.0.2.99 received-routes"),
        vtysh_out(&leaf1, "show ip bgp neighbors 192.0.2.99 received-routes")
    );

    // An import route-map on both: applied to the kept routes; the
    // received list and its filtered count are FRR's.
    let policy = "ip prefix-list PODS seq 5 permit 10.244.0.0/16 le 24\n\
                  route-map NO-PODS deny 10\n match ip address prefix-list PODS\nexit\n\
                  route-map NO-PODS permit 20\nexit\n";
    let frr_policy: Vec<&str> = policy.lines().collect();
    tern_tests::vtysh_config(&leaf1, &frr_policy);
    tern_script(&node2, &format!("configure terminal\n{policy}end\n"));
    both_af(&leaf1, &node2, "neighbor 192.0.2.0 route-map NO-PODS in");
    run_ok(Command::new("vtysh").args(["-N", &leaf1, "-c", "clear bgp 192.0.2.0 soft in"]));
    eventually(10, "10.244.1.0/24 refused by NO-PODS", || {
        let ours = loc_rib(&tern(&node2, "show ip bgp json"));
        let frr = loc_rib(&vtysh(&leaf1, "show ip bgp json"));
        let learned = |r: &[String]| r.contains(&"10.244.1.0/24".to_owned());
        match (learned(&ours), learned(&frr)) {
            (false, _) => Ok(()),
            _ => Err(format!("node2 {ours:?}, leaf1 {frr:?}")),
        }
    });
    let frr_json: Value =
        serde_json::from_str(&frr_twin(&leaf1, &format!("{received_frr} json"))).unwrap();
    assert_eq!(
        unversioned_json(tern(&node2, &format!("{received_tern} json"))),
        unversioned_json(frr_json)
    );
    tern_script(&node2, "clear bgp 192.0.2.2 soft in\n");
    both_af(&leaf1, &node2, "no neighbor 192.0.2.0 route-map NO-PODS in");
    eventually(10, "10.244.1.0/24 back without NO-PODS", || {
        let ours = loc_rib(&tern(&node2, "show ip bgp json"));
        if ours.contains(&"10.244.1.0/24".to_owned()) {
            Ok(())
        } else {
            Err(format!("node2 {ours:?}"))
        }
    });

    // allowas-in: node2 accepts what leaf1 (FRR) accepts, from the kept
    // Adj-RIB-In.
    for (line, want) in [
        ("neighbor 192.0.2.0 allowas-in 1", [true, false]),
        ("neighbor 192.0.2.0 allowas-in", [true, true]),
        ("neighbor 192.0.2.0 allowas-in origin", [false, true]),
        ("no neighbor 192.0.2.0 allowas-in", [false, false]),
    ] {
        both_af(&leaf1, &node2, line);
        run_ok(Command::new("vtysh").args(["-N", &leaf1, "-c", "clear bgp 192.0.2.0 soft in"]));
        let has = |rib: &[String]| {
            [
                rib.contains(&"172.16.9.0/24".to_owned()),
                rib.contains(&"203.0.113.0/24".to_owned()),
            ]
        };
        eventually(10, "the Loc-RIBs of node2 and leaf1", || {
            let ours = has(&loc_rib(&tern(&node2, "show ip bgp json")));
            let frr = has(&loc_rib(&vtysh(&leaf1, "show ip bgp json")));
            if ours == want && frr == want {
                Ok(())
            } else {
                Err(format!(
                    "{line}: node2 {ours:?}, leaf1 {frr:?}, want {want:?}"
                ))
            }
        });
    }
    assert_eq!(
        refreshes_from_node2(&tor1),
        0,
        "soft-reconfiguration: never a ROUTE-REFRESH"
    );

    // next-hop-self towards the iBGP neighbor, typed in router mode as
    // FRR allows (it belongs to IPv4 unicast).
    assert_eq!(frr_next_hop(&ibgp2, "172.16.1.0/24"), "192.0.2.2");
    tern_script(
        &node2,
        "configure terminal\nrouter bgp 65002\nneighbor 192.0.2.5 next-hop-self\nend\n",
    );
    eventually(10, "next-hop-self at ibgp2", || {
        match frr_next_hop(&ibgp2, "172.16.1.0/24") {
            nh if nh == "192.0.2.4" => Ok(()),
            nh => Err(format!("ibgp2 has next hop {nh}")),
        }
    });
    let n = tern(&node2, "show bgp neighbors 192.0.2.5 json");
    assert_eq!(
        n["192.0.2.5"]["addressFamilyInfo"]["ipv4Unicast"]["routerAlwaysNextHop"], true,
        "{n}"
    );
    let running = tern_out(&node2, "show running-config");
    assert!(
        running.contains(" address-family ipv4 unicast\n")
            && running.contains("\n  neighbor 192.0.2.5 next-hop-self\n"),
        "{running}"
    );
    tern_script(
        &node2,
        "configure terminal\nrouter bgp 65002\nno neighbor 192.0.2.5 next-hop-self\nend\n",
    );
    eventually(
        10,
        "the original next hop at ibgp2",
        || match frr_next_hop(&ibgp2, "172.16.1.0/24") {
            nh if nh == "192.0.2.2" => Ok(()),
            nh => Err(format!("ibgp2 has next hop {nh}")),
        },
    );

    // bgp ebgp-requires-policy: FRR's "(Policy)" in the summary, and no
    // routes either way on the eBGP session; iBGP is not concerned.
    tern_tests::vtysh_config(&leaf1, &["router bgp 65001", "bgp ebgp-requires-policy"]);
    tern_script(
        &node2,
        "configure terminal\nrouter bgp 65002\nbgp ebgp-requires-policy\nend\n",
    );
    let policy_cols = "     (Policy) (Policy) tor1";
    eventually(10, "(Policy) in both summaries", || {
        let ours = summary_line(&tern_out(&node2, "show bgp summary"));
        let frr = summary_line(&vtysh_out(&leaf1, "show bgp summary"));
        if ours.ends_with(policy_cols) && frr.ends_with(policy_cols) {
            Ok(())
        } else {
            Err(format!("node2: {ours}\nleaf1: {frr}"))
        }
    });
    eventually(10, "nothing sent to tor1 without a policy", || {
        let sent = tor1_from_node2(&tor1);
        let rib = loc_rib(&tern(&node2, "show ip bgp json"));
        if sent.is_empty() && rib.len() == 2 {
            Ok(())
        } else {
            Err(format!("tor1 has {sent:?} from node2; node2 has {rib:?}"))
        }
    });
    assert!(
        frr_next_hop(&ibgp2, "10.244.2.0/24") != "none",
        "iBGP keeps its routes"
    );
    tern_script(
        &node2,
        "configure terminal\nroute-map ALL permit 10\nexit\nrouter bgp 65002\n\
         address-family ipv4 unicast\nneighbor 192.0.2.2 route-map ALL in\n\
         neighbor 192.0.2.2 route-map ALL out\nend\n",
    );
    eventually(10, "routes both ways with route-map ALL", || {
        let sent = tor1_from_node2(&tor1);
        let rib = loc_rib(&tern(&node2, "show ip bgp json"));
        if sent.contains(&"10.244.2.0/24".to_owned()) && rib.contains(&"172.16.1.0/24".to_owned()) {
            Ok(())
        } else {
            Err(format!("tor1 has {sent:?} from node2; node2 has {rib:?}"))
        }
    });
    tern_script(
        &node2,
        "configure terminal\nrouter bgp 65002\nno bgp ebgp-requires-policy\n\
         address-family ipv4 unicast\nno neighbor 192.0.2.2 route-map ALL in\n\
         no neighbor 192.0.2.2 route-map ALL out\nend\n",
    );
    tern_tests::vtysh_config(&leaf1, &["router bgp 65001", "no bgp ebgp-requires-policy"]);

    // Static routes: in the kernel with protocol static, shown as zebra
    // shows them, redistributed, removed with their line.
    tern_script(
        &node2,
        "configure terminal\nip route 203.0.113.128/25 Null0\nip route 192.0.2.128/25 192.0.2.2\n\
         ip route 192.0.2.200/32 eth1 5\nrouter bgp 65002\naddress-family ipv4 unicast\n\
         redistribute static\nend\n",
    );
    let kernel = || -> Vec<(String, String)> {
        let out = run_ok(
            Command::new("ip").args(["-n", &node2, "-j", "route", "show", "proto", "static"]),
        );
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["dst"].as_str().unwrap_or("").to_owned(),
                            r["type"]
                                .as_str()
                                .or(r["gateway"].as_str())
                                .or(r["dev"].as_str())
                                .unwrap_or("")
                                .to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    eventually(10, "the static routes in node2's kernel", || {
        let k = kernel();
        let want = [
            ("192.0.2.128/25", "192.0.2.2"),
            ("192.0.2.200", "eth1"),
            ("203.0.113.128/25", "blackhole"),
        ];
        if want
            .iter()
            .all(|(p, h)| k.contains(&((*p).to_owned(), (*h).to_owned())))
        {
            Ok(())
        } else {
            Err(format!("kernel has {k:?}"))
        }
    });
    let routes = tern_out(&node2, "show ip route");
    for row in [
        "S>* 192.0.2.128/25 [1/0] via 192.0.2.2, eth1, weight 1\n",
        "S>* 192.0.2.200/32 [5/0] is directly connected, eth1, weight 1\n",
        "S>* 203.0.113.128/25 [1/0] unreachable (blackhole), weight 1\n",
    ] {
        assert!(routes.contains(row), "{row:?} in\n{routes}");
    }
    eventually(10, "the static routes at tor1", || {
        let sent = tor1_from_node2(&tor1);
        if sent.contains(&"203.0.113.128/25".to_owned())
            && sent.contains(&"192.0.2.200/32".to_owned())
        {
            Ok(())
        } else {
            Err(format!("tor1 has {sent:?} from node2"))
        }
    });
    tern_script(
        &node2,
        "configure terminal\nno ip route 203.0.113.128/25 Null0\nend\n",
    );
    eventually(10, "the removed static route gone", || {
        let gone = !kernel().iter().any(|(p, _)| p == "203.0.113.128/25")
            && !tor1_from_node2(&tor1).contains(&"203.0.113.128/25".to_owned());
        if gone {
            Ok(())
        } else {
            Err("203.0.113.128/25 still there".to_owned())
        }
    });

    // log file: opened at once; one that cannot be opened is refused.
    let log = lab.dir("node2").join("ternd-file.log");
    tern_script(
        &node2,
        &format!(
            "configure terminal\nlog file {} informational\nend\n",
            log.display()
        ),
    );
    tern_script(&node2, "clear bgp 192.0.2.5\n");
    eventually(10, "clear bgp in node2's log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("clear bgp: resetting the session") {
            Ok(())
        } else {
            Err(format!("{} has:\n{text}", log.display()))
        }
    });
    let refused = run(Command::new(bin("tern")).args([
        "-N",
        &node2,
        "-c",
        "configure terminal",
        "-c",
        "log file /nonexistent-tern-dir/ternd.log",
    ]));
    let said = String::from_utf8_lossy(&refused.stdout).into_owned()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("cannot open log file /nonexistent-tern-dir/ternd.log"),
        "{said}"
    );

    // write memory keeps every line.
    tern_script(&node2, "write memory\n");
    let saved = std::fs::read_to_string(lab.dir("node2").join("ternd.conf")).unwrap();
    for line in [
        "\nip route 192.0.2.128/25 192.0.2.2\n",
        "\nip route 192.0.2.200/32 eth1 5\n",
        "\n  neighbor 192.0.2.2 soft-reconfiguration inbound\n",
        "\n  redistribute static\n",
        "\nlog file ",
    ] {
        assert!(saved.contains(line), "{line:?} in\n{saved}");
    }
    assert!(!saved.contains("203.0.113.128/25"), "{saved}");
}

/// An FRR leaf configuration as operators write it, made only of lines
/// Tern supports: FRR's vtysh checks it is FRR's, and ternd takes it as
/// it is.
#[test]
fn a_pasted_frr_leaf_config_starts_ternd_unchanged() {
    let file = repo_root().join("lab/topologies/frrlines/frr-leaf.conf");
    let frr = run(Command::new("vtysh").arg("--dryrun").arg("-f").arg(&file));
    assert!(
        frr.status.success(),
        "FRR's vtysh refuses {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&frr.stdout),
        String::from_utf8_lossy(&frr.stderr)
    );
    let out = run(Command::new(bin("ternd")).arg("-C").arg("-f").arg(&file));
    assert!(
        out.status.success(),
        "ternd -C refuses {}:\n{}{}",
        file.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
