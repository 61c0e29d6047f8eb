//! BFD (RFC 5880/5881) against FRR 8.4's bfdd (lab/topologies/bfd.clab.yml):
//! `neighbor X bfd` and a `bfd` / `peer` block with 300 ms x 3 on both
//! sides. The BFD session comes up both ways; then node1's eth1 drops every
//! packet (nftables in node1's namespace: the link stays up, so neither
//! fast external failover nor a TCP reset can end the sessions, only BFD or
//! the 9 s hold time). Both BGP sessions must be down in under a second,
//! each side sending Cease / BFD Down; with the drop removed, BFD and BGP
//! come back. Prints the measured times. Needs root, FRR with bfdd
//! (lab/setup.sh) and nft.
mod frr_pair;

use std::{
    process::Command,
    sync::mpsc,
    time::{Duration, Instant},
};

use frr_pair::Lab;
use tern_tests::{bin, eventually, netns_command, run, run_ok};

const TOR1: &str = "192.0.2.0";
const NODE1: &str = "192.0.2.1";

/// node1's view of its session with tor1.
fn tern_state(ns: &str) -> String {
    let out = run(Command::new(bin("tern")).args(["-N", ns, "-c", "show bgp summary json"]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["ipv4Unicast"]["peers"][TOR1]["state"]
        .as_str()
        .unwrap_or("?")
        .to_owned()
}

/// tor1's view of its session with node1.
fn frr_state(ns: &str) -> String {
    let out = run(Command::new("vtysh").args([
        "-N",
        ns,
        "-c",
        &format!("show bgp neighbors {NODE1} json"),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v[NODE1]["bgpState"].as_str().unwrap_or("?").to_owned()
}

/// Polls `state` on its own thread until it is not Established; the time
/// since `from`.
fn time_to_down(
    from: Instant,
    ns: String,
    state: fn(&str) -> String,
) -> mpsc::Receiver<Option<Duration>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let deadline = from + Duration::from_secs(20);
        let mut got = None;
        while Instant::now() < deadline {
            if state(&ns) != "Established" {
                got = Some(from.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = tx.send(got);
    });
    rx
}

fn nft(ns: &str, script: &str) {
    run_ok(netns_command(ns, "nft").args([script]));
}

#[test]
fn bfd_takes_bgp_down_in_under_a_second_and_both_come_back() {
    let lab = Lab::up("bfd.clab.yml", "bfd");
    eventually(40, "BGP Established and BFD up on both sides", || {
        let frr = lab.frr("show bfd peers json");
        let tern = lab.tern_json("show bfd peers json");
        lab.frr_state() == "Established"
            && tern_state(&lab.node1) == "Established"
            && frr[0]["status"] == "up"
            && tern[0]["status"] == "up"
    });
    // Both see each other's discriminators and timers.
    let frr = lab.frr(&format!("show bfd peer {NODE1} json"));
    let tern = lab.tern_json(&format!("show bfd peer {TOR1} json"));
    println!("tor1: {frr}\nnode1: {tern}");
    assert_eq!(
        frr["remote-id"], tern["id"],
        "tor1 knows node1's discriminator"
    );
    assert_eq!(
        tern["remote-id"], frr["id"],
        "node1 knows tor1's discriminator"
    );
    for v in [&frr, &tern] {
        assert_eq!(v["remote-detect-multiplier"], 3, "{v}");
        assert_eq!(v["remote-receive-interval"], 300, "{v}");
        assert_eq!(v["remote-transmit-interval"], 300, "{v}");
    }
    // The same JSON keys as bfdd's, in its order.
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&tern), keys(&frr));
    assert_eq!(tern["peer"], TOR1);
    assert_eq!(tern["interface"], "eth1");
    assert_eq!(tern["local"], NODE1);
    let text = lab.tern(&format!("show bfd peer {TOR1}"));
    assert!(
        text.starts_with(&format!(
            "BFD Peer:\n\tpeer {TOR1} local-address {NODE1} vrf default interface eth1\n"
        )),
        "{text}"
    );

    // Cut: node1's eth1 drops everything; the link stays up.
    nft(
        &lab.node1,
        "add table inet bfdcut; \
         add chain inet bfdcut in { type filter hook input priority -10; }; \
         add chain inet bfdcut out { type filter hook output priority -10; }; \
         add rule inet bfdcut in iifname \"eth1\" drop; \
         add rule inet bfdcut out oifname \"eth1\" drop",
    );
    let cut = Instant::now();
    let tern_rx = time_to_down(cut, lab.node1.clone(), tern_state);
    let frr_rx = time_to_down(cut, lab.tor1.clone(), frr_state);
    let tern_down = tern_rx.recv().ok().flatten();
    let frr_down = frr_rx.recv().ok().flatten();
    println!(
        "BGP down after the cut (BFD 300 ms x 3, hold time 9 s): node1 {tern_down:?}, tor1 {frr_down:?}"
    );
    let tern_down = tern_down.expect("node1's BGP session never went down");
    let frr_down = frr_down.expect("tor1's BGP session never went down");
    assert!(
        tern_down < Duration::from_secs(1) && frr_down < Duration::from_secs(1),
        "BGP must be down on both sides within a second: node1 {tern_down:?}, tor1 {frr_down:?}"
    );
    let n = lab.tern_json(&format!("show bgp neighbors {TOR1} json"));
    let reset = n[TOR1]["lastResetDueTo"].as_str().unwrap_or_default();
    let f = lab.frr(&format!("show bgp neighbors {NODE1} json"));
    let frr_reset = f[NODE1]["lastNotificationReason"]
        .as_str()
        .unwrap_or_default();
    println!("node1 last reset: {reset:?}; tor1 last NOTIFICATION: {frr_reset:?}");
    assert!(reset.contains("BFD Down"), "{n}");
    assert!(frr_reset.contains("BFD Down"), "{f}");
    let tern = lab.tern_json(&format!("show bfd peer {TOR1} json"));
    assert_eq!(tern["status"], "down", "{tern}");
    assert_eq!(tern["diagnostic"], "control detection time expired");

    // Restore: BFD comes up again and BGP follows by its own rules.
    nft(&lab.node1, "delete table inet bfdcut");
    let back = Instant::now();
    eventually(60, "BFD up and BGP Established again on both sides", || {
        let frr = lab.frr("show bfd peers json");
        let tern = lab.tern_json("show bfd peers json");
        lab.frr_state() == "Established"
            && tern_state(&lab.node1) == "Established"
            && frr[0]["status"] == "up"
            && tern[0]["status"] == "up"
    });
    println!("BFD and BGP back {:?} after the restore", back.elapsed());
    eventually(20, "tor1's route learnt again", || {
        lab.fib().iter().any(|p| p == "198.51.100.1")
    });
}

#[test]
fn bfd_lines_are_live_persisted_and_refused_with_a_reason() {
    let lab = Lab::up("bfd.clab.yml", "bfdcfg");
    eventually(40, "BFD up", || {
        lab.tern_json("show bfd peers json")[0]["status"] == "up"
    });
    // A timer change is negotiated live (Poll/Final) and shown by FRR.
    lab.tern_script(
        "configure terminal\nbfd\npeer 192.0.2.0 interface eth1\nreceive-interval 200\n\
         transmit-interval 250\ndetect-multiplier 4\nend\nwrite memory\n",
    );
    eventually(10, "tor1 sees node1's new timers", || {
        let v = lab.frr(&format!("show bfd peer {NODE1} json"));
        v["remote-receive-interval"] == 200
            && v["remote-transmit-interval"] == 250
            && v["remote-detect-multiplier"] == 4
            && v["status"] == "up"
    });
    let conf = lab
        .tern("show running-config")
        .lines()
        .skip_while(|l| *l != "bfd")
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        conf,
        "bfd\n peer 192.0.2.0 interface eth1\n  detect-multiplier 4\n  receive-interval 200\n  \
         transmit-interval 250\n exit",
    );
    // Refused with the reason, nothing changed.
    for (line, why) in [
        ("receive-interval 5", "10 to 60000"),
        ("detect-multiplier 1", "2 to 255"),
    ] {
        let out = run(Command::new(bin("tern")).args([
            "-N",
            &lab.node1,
            "-c",
            "configure terminal",
            "-c",
            "bfd",
            "-c",
            "peer 192.0.2.0 interface eth1",
            "-c",
            line,
        ]));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains(why), "{line}: {all}");
    }
    let out = run(Command::new(bin("tern")).args([
        "-N",
        &lab.node1,
        "-c",
        "configure terminal",
        "-c",
        "bfd",
        "-c",
        "peer 192.0.2.0 multihop",
    ]));
    let all =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(all.contains("local-address is required"), "{all}");
    // shutdown: AdminDown; FRR sees the session down, and BGP stays up
    // (an administrative down is not a failure, RFC 5882 section 3.2).
    lab.tern_script("configure terminal\nbfd\npeer 192.0.2.0 interface eth1\nshutdown\nend\n");
    eventually(10, "tor1 sees the session down", || {
        lab.frr(&format!("show bfd peer {NODE1} json"))["status"] == "down"
    });
    assert_eq!(
        lab.tern_json(&format!("show bfd peer {TOR1} json"))["status"],
        "shutdown"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tern_state(&lab.node1), "Established");
    lab.tern_script("configure terminal\nbfd\npeer 192.0.2.0 interface eth1\nno shutdown\nend\n");
    eventually(10, "BFD up again", || {
        lab.frr(&format!("show bfd peer {NODE1} json"))["status"] == "up"
    });
    // `neighbor X bfd` on and off leaves the BGP session alone (as FRR).
    let established = |lab: &Lab| {
        lab.tern_json(&format!("show bgp neighbors {TOR1} json"))[TOR1]["connectionsEstablished"]
            .as_u64()
    };
    let before = established(&lab);
    lab.tern_script("configure terminal\nrouter bgp 65001\nno neighbor 192.0.2.0 bfd\nend\n");
    lab.tern_script("configure terminal\nrouter bgp 65001\nneighbor 192.0.2.0 bfd\nend\n");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tern_state(&lab.node1), "Established");
    assert_eq!(established(&lab), before);
    assert!(
        lab.tern("show running-config")
            .contains(" neighbor 192.0.2.0 bfd\n")
    );

    // Multihop (RFC 5883, UDP 4784) beside the single-hop session: over
    // the direct link its packets arrive with TTL 255, above the minimum
    // of 254.
    tern_tests::vtysh_config(
        &lab.tor1,
        &["bfd", "peer 192.0.2.1 multihop local-address 192.0.2.0"],
    );
    lab.tern_script(
        "configure terminal\nbfd\npeer 192.0.2.0 multihop local-address 192.0.2.1\nend\n",
    );
    let multihop_up = |v: &serde_json::Value| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .any(|p| p["multihop"] == true && p["status"] == "up")
        })
    };
    eventually(15, "the multihop session up on both sides", || {
        multihop_up(&lab.frr("show bfd peers json"))
            && multihop_up(&lab.tern_json("show bfd peers json"))
    });
    let text = lab.tern("show bfd peers");
    assert!(
        text.contains("\tpeer 192.0.2.0 multihop local-address 192.0.2.1 vrf default\n"),
        "{text}"
    );
    assert!(text.contains("\t\tMinimum TTL: 254\n"), "{text}");
}
