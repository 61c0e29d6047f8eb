//! aggregate-address against FRR 8.4 (lab/topologies/aggregate.clab.yml):
//! FRR receives node1's summary-only aggregate of its pod CIDRs, with
//! ATOMIC_AGGREGATE and AGGREGATOR (AS 65001, router-id 198.51.100.11), and
//! not the more-specifics; without summary-only (changed live) it gets
//! both; the aggregate of a route node1 learns from FRR goes when FRR
//! withdraws that route; neither aggregate is in node1's kernel FIB, the
//! learned more-specific is. Needs root and FRR (lab/setup.sh).
mod frr_pair;

use frr_pair::Lab;
use tern_tests::eventually;

#[test]
fn frr_sees_the_aggregates_while_contributors_last() {
    let lab = Lab::up("aggregate.clab.yml", "agg");
    let has = |p: &str| lab.frr_route(p)["paths"].is_array();
    eventually(40, "FRR has node1's aggregate of its pod CIDRs", || {
        has("10.244.0.0/16")
    });
    let path = &lab.frr_route("10.244.0.0/16")["paths"][0];
    assert_eq!(path["aspath"]["string"], "65001", "{path}");
    assert_eq!(path["atomicAggregate"], true, "{path}");
    assert_eq!(path["aggregatorAs"], 65001, "{path}");
    assert_eq!(path["aggregatorId"], "198.51.100.11", "{path}");
    assert!(
        !has("10.244.1.0/24") && !has("10.244.2.0/24"),
        "summary-only: FRR must not get the more-specifics"
    );

    // The route node1 learns from FRR contributes to 10.250.0.0/16; it is
    // in node1's FIB, the aggregates are not.
    eventually(20, "FRR has node1's aggregate of FRR's own route", || {
        has("10.250.0.0/16")
    });
    let agg = &lab.frr_route("10.250.0.0/16")["paths"][0];
    assert_eq!(agg["aspath"]["string"], "65001", "{agg}");
    assert_eq!(agg["aggregatorAs"], 65001, "{agg}");
    eventually(10, "node1 installs the learned more-specific", || {
        lab.fib().contains(&"10.250.1.0/24".to_owned())
    });
    let fib = lab.fib();
    assert!(
        !fib.iter()
            .any(|p| p == "10.250.0.0/16" || p == "10.244.0.0/16"),
        "Tern does not install aggregates: {fib:?}"
    );

    // summary-only off, live: the more-specifics reach FRR as well.
    lab.tern_script(
        "configure terminal
router bgp 65001
 address-family ipv4 unicast
  aggregate-address 10.244.0.0/16
end
",
    );
    eventually(10, "FRR gets the more-specifics", || {
        has("10.244.1.0/24") && has("10.244.2.0/24") && has("10.244.0.0/16")
    });
    let running = lab.tern("show running-config");
    assert!(
        running.contains("  aggregate-address 10.244.0.0/16\n")
            && running.contains("  aggregate-address 10.250.0.0/16\n"),
        "{running}"
    );

    // The contributors go one by one: the aggregate stays while one is
    // left and goes with the last.
    lab.tern_script(
        "configure terminal
router bgp 65001
 address-family ipv4 unicast
  no network 10.244.1.0/24
end
",
    );
    eventually(10, "FRR loses 10.244.1.0/24", || !has("10.244.1.0/24"));
    assert!(has("10.244.0.0/16"), "10.244.2.0/24 still contributes");
    lab.tern_script(
        "configure terminal
router bgp 65001
 address-family ipv4 unicast
  no network 10.244.2.0/24
end
",
    );
    eventually(
        10,
        "FRR loses the aggregate with its last contributor",
        || !has("10.244.0.0/16") && !has("10.244.2.0/24"),
    );

    // FRR withdraws the learned contributor: that aggregate goes too.
    lab.frr_config(&["address-family ipv4 unicast", "no network 10.250.1.0/24"]);
    eventually(15, "FRR loses 10.250.0.0/16", || !has("10.250.0.0/16"));
    eventually(10, "node1 removes the learned route", || {
        !lab.fib().contains(&"10.250.1.0/24".to_owned())
    });
    // And it comes back with it.
    lab.frr_config(&["address-family ipv4 unicast", "network 10.250.1.0/24"]);
    eventually(15, "FRR has 10.250.0.0/16 again", || has("10.250.0.0/16"));
    assert_eq!(lab.frr_state(), "Established");
}
