//! Routing policy against FRR: prefix-lists, a community-list and
//! route-maps typed into `tern`'s config mode (from a pipe, as a script
//! would), applied to the session with the default lab's FRR ToR while it
//! stays up. Export: a prepend and a community FRR sees, a denied loopback
//! FRR loses, a prefix-list edit that withdraws a route. Import: a route-map
//! that keeps one fabric route and refuses the rest, put in force by a
//! ROUTE-REFRESH (FRR counts it) and not by a session reset.
//! Needs root and FRR (lab/setup.sh).
use std::process::Command;

use tern_tests::{Lab, bin, eventually, tern_script, vtysh};

/// The prefixes of Tern's IPv4 routes (protocol 202) in `node`'s kernel.
fn fib(node: &str) -> Vec<String> {
    tern_tests::tern_routes(node)
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| !p.contains(':'))
        .collect()
}

/// FRR's view of its session with node1: (state, connections established,
/// route refreshes received).
fn frr_session(tor1: &str) -> (String, u64, u64) {
    let v = vtysh(tor1, "show bgp neighbors 192.0.2.1 json");
    let n = &v["192.0.2.1"];
    (
        n["bgpState"].as_str().unwrap_or("?").to_owned(),
        n["connectionsEstablished"].as_u64().unwrap_or(0),
        n["messageStats"]["routeRefreshRecv"].as_u64().unwrap_or(0),
    )
}

#[test]
fn route_maps_shape_what_frr_gets_and_what_tern_installs() {
    let lab = Lab::up("tern.clab.yml", &format!("pol{}", std::process::id()));
    let tor1 = lab.ns("tor1");
    let node1 = lab.ns("node1");
    let frr_route = |p: &str| vtysh(&tor1, &format!("show ip bgp {p} json"));
    eventually(
        30,
        "FRR has node1's routes and node1 has the fabric's",
        || {
            frr_route("198.51.100.11/32")["paths"].is_array()
                && fib(&node1).contains(&"10.244.2.0/24".to_owned())
                && fib(&node1).contains(&"198.51.100.1".to_owned())
        },
    );
    let (_, established, _) = frr_session(&tor1);

    // Export policy: pod CIDRs leave with a prepend and a community, the
    // rest (the loopback) is refused by the route-map's implicit deny.
    tern_script(
        &node1,
        "configure terminal
ip prefix-list PODS seq 5 permit 10.244.0.0/16 le 24
route-map TOR-OUT permit 10
 match ip address prefix-list PODS
 set as-path prepend 65001 65001
 set community 65001:244
exit
router bgp 65001
 address-family ipv4 unicast
  neighbor 192.0.2.0 route-map TOR-OUT out
end
",
    );
    eventually(10, "FRR sees the prepend and the community", || {
        let r = frr_route("10.244.1.0/24");
        r["paths"][0]["aspath"]["string"] == "65001 65001 65001"
            && r["paths"][0]["community"]["string"] == "65001:244"
    });
    eventually(10, "FRR loses the loopback the route-map refuses", || {
        !frr_route("198.51.100.11/32")["paths"].is_array()
    });

    // Import policy: of the fabric's routes only node2's pod CIDR is kept.
    tern_script(
        &node1,
        "configure terminal
ip prefix-list NODE2-PODS seq 5 permit 10.244.2.0/24
route-map TOR-IN permit 10
 match ip address prefix-list NODE2-PODS
 set local-preference 200
exit
router bgp 65001
 address-family ipv4 unicast
  neighbor 192.0.2.0 route-map TOR-IN in
end
",
    );
    eventually(10, "node1's FIB keeps only what TOR-IN permits", || {
        let f = fib(&node1);
        f.contains(&"10.244.2.0/24".to_owned())
            && !f.contains(&"198.51.100.1".to_owned())
            && !f.contains(&"198.51.100.12".to_owned())
    });
    let (state, now_established, refreshes) = frr_session(&tor1);
    assert_eq!(state, "Established");
    assert_eq!(
        now_established, established,
        "the session was not reset to apply the policy"
    );
    assert!(refreshes >= 1, "Tern asked FRR for a ROUTE-REFRESH");

    // Editing a prefix-list in use re-exports at once: without PODS the
    // pod CIDR is refused too.
    tern_script(&node1, "configure terminal\nno ip prefix-list PODS\nend\n");
    eventually(10, "FRR loses the pod CIDR", || {
        !frr_route("10.244.1.0/24")["paths"].is_array()
    });
    // Detaching both route-maps brings everything back.
    tern_script(
        &node1,
        "configure terminal
router bgp 65001
 address-family ipv4 unicast
  no neighbor 192.0.2.0 route-map TOR-IN in
  no neighbor 192.0.2.0 route-map TOR-OUT out
end
",
    );
    eventually(10, "everything is back both ways", || {
        let f = fib(&node1);
        frr_route("10.244.1.0/24")["paths"][0]["aspath"]["string"] == "65001"
            && frr_route("198.51.100.11/32")["paths"].is_array()
            && f.contains(&"198.51.100.1".to_owned())
    });
    let running = tern_script(&node1, "show running-config\n");
    assert!(running.contains("route-map TOR-IN permit 10\n match ip address prefix-list NODE2-PODS\n set local-preference 200\nexit\n"), "{running}");
    assert_eq!(frr_session(&tor1).1, established, "never reset");

    // Bad policy lines are refused with the reason, and change nothing.
    let out = Command::new(bin("tern"))
        .args([
            "-N",
            &node1,
            "-c",
            "configure terminal",
            "-c",
            "ip prefix-list BAD permit 10.0.0.0/8 ge 4",
        ])
        .output()
        .expect("tern");
    assert!(!out.status.success());
    let err =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("len < ge-value <= le-value"), "{err}");
}
