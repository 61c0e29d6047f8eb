//! Dynamic neighbors against FRR 8.4 (lab/topologies/dynamic.clab.yml):
//! node1 has no neighbor line for tor1, only `bgp listen range
//! 192.0.2.0/24 peer-group TORS`. FRR connects, node1 creates the neighbor
//! with the group's settings (remote-as external, description, a TCP MD5
//! password the listener has for the whole range), routes flow
//! both ways, `show bgp summary` marks it as FRR does (`*`, dynamicPeer);
//! when FRR shuts the session down the neighbor is deleted, and it comes
//! back with the next connection. Needs root and FRR (lab/setup.sh).
mod frr_pair;

use frr_pair::Lab;
use tern_tests::eventually;

#[test]
fn frr_connecting_from_a_listen_range_becomes_a_dynamic_neighbor() {
    let lab = Lab::up("dynamic.clab.yml", "dyn");
    eventually(40, "FRR's session with node1 is Established", || {
        let v = lab.frr("show bgp ipv4 unicast summary json");
        let p = &v["peers"]["192.0.2.1"];
        p["state"] == "Established" && p["pfxRcd"] == 1
    });
    eventually(10, "node1 installs FRR's route", || {
        lab.fib().contains(&"10.250.1.0/24".to_owned())
    });
    let v = lab.tern_json("show bgp summary json");
    let p = &v["ipv4Unicast"]["peers"]["192.0.2.0"];
    assert_eq!(p["dynamicPeer"], true, "{v}");
    assert_eq!(p["state"], "Established", "{v}");
    assert_eq!(p["remoteAs"], 65000, "{v}");
    assert_eq!(p["desc"], "fabric", "the group's description: {v}");
    let text = lab.tern("show bgp summary");
    // FRR's datacenter profile shows hostname(address), a star first for
    // a dynamic neighbor.
    assert!(text.contains("\n*tor1(192.0.2.0) "), "{text}");
    // The dynamic neighbor is not configuration.
    let running = lab.tern("show running-config");
    assert!(
        running.contains(" bgp listen range 192.0.2.0/24 peer-group TORS\n")
            && running.contains(" bgp listen limit 4\n")
            && !running.contains("neighbor 192.0.2.0"),
        "{running}"
    );

    // FRR shuts the session down: the neighbor is deleted on node1, with
    // its routes.
    lab.frr_config(&["neighbor 192.0.2.1 shutdown"]);
    eventually(15, "node1 deletes the dynamic neighbor", || {
        let v = lab.tern_json("show bgp summary json");
        v["ipv4Unicast"]["peers"]["192.0.2.0"].is_null()
    });
    eventually(10, "node1 removes FRR's route", || {
        !lab.fib().contains(&"10.250.1.0/24".to_owned())
    });

    // Back again with the next connection.
    lab.frr_config(&["no neighbor 192.0.2.1 shutdown"]);
    eventually(30, "the dynamic neighbor comes back", || {
        let v = lab.tern_json("show bgp summary json");
        let p = &v["ipv4Unicast"]["peers"]["192.0.2.0"];
        p["state"] == "Established" && p["dynamicPeer"] == true
    });
    eventually(10, "FRR has node1's route again", || {
        lab.frr_route("10.244.1.0/24")["paths"].is_array()
    });

    // Removing the listen range live drops the dynamic neighbor.
    lab.tern_script(
        "configure terminal
router bgp 65001
 no bgp listen range 192.0.2.0/24 peer-group TORS
end
",
    );
    eventually(15, "node1 drops the neighbor with its range", || {
        let v = lab.tern_json("show bgp summary json");
        v["ipv4Unicast"]["peers"]["192.0.2.0"].is_null()
    });
    eventually(15, "FRR's session is down", || {
        lab.frr_state() != "Established"
    });
}
