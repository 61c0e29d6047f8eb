//! SIGHUP reloads the config file live (a `network` added shows in
//! running-config and the BGP table; a broken file changes nothing and
//! ternd keeps running), and a core task that dies takes ternd down with a
//! clear line instead of leaving it running with frozen routes. Needs root
//! and `cargo build --bins` (for `tern`).
mod common;

use std::time::{Duration, Instant};

use common::Ternd;
use nix::sys::signal::Signal;
use tern_tests::{Netns, eventually};

const BASE: &str = "hostname reload\nrouter bgp 65001\n bgp router-id 198.51.100.11\n \
                    address-family ipv4 unicast\n  network 203.0.113.0/24\n";

fn rib_count(d: &Ternd) -> u64 {
    let r = d.ask(r#"{"request":"show-bgp-summary"}"#);
    r["rib_count"]["ipv4Unicast"].as_u64().unwrap_or(0)
}

fn running_config(d: &Ternd) -> String {
    let r = d.ask(r#"{"request":"show-running-config"}"#);
    r["text"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn sighup_reloads_the_config_file_and_refuses_a_broken_one() {
    let ns = Netns::new(&format!("tern-hup-{}", std::process::id()));
    let mut d = Ternd::start(
        &format!("t-hup-{}", std::process::id()),
        &format!("{BASE} exit-address-family\n"),
        Some(&ns),
    );
    eventually(10, "the first network in the Loc-RIB", || {
        rib_count(&d) == 1
    });

    // A network added to the file appears after SIGHUP.
    std::fs::write(
        &d.config,
        format!("{BASE}  network 198.51.100.0/24\n exit-address-family\n"),
    )
    .expect("edit config");
    d.signal(Signal::SIGHUP);
    eventually(10, "the added network in the Loc-RIB", || {
        rib_count(&d) == 2
    });
    assert!(d.running(), "ternd died of SIGHUP: {}", d.log());
    assert!(
        running_config(&d).contains("network 198.51.100.0/24"),
        "{}",
        running_config(&d)
    );
    let (ok, out, err) = d.tern("show ip bgp");
    assert!(ok && out.contains("198.51.100.0/24"), "{out}{err}");
    assert!(
        d.log().contains("SIGHUP: configuration reloaded"),
        "{}",
        d.log()
    );

    // A broken file changes nothing, and says why.
    std::fs::write(
        &d.config,
        "hostname broken\nrouter bgp 65001\n address-family ipv4 unicast\n  network 192.0.2.0/24\n  bogus words\n",
    )
    .expect("break config");
    d.signal(Signal::SIGHUP);
    eventually(10, "the refusal in the log", || {
        d.log().contains("reload refused")
    });
    let log = d.log();
    let file = d.config.display().to_string();
    assert!(
        log.contains(&format!("{file}:5: unknown command \"bogus\"")),
        "{log}"
    );
    assert!(d.running(), "ternd died: {log}");
    let text = running_config(&d);
    assert!(text.contains("hostname reload"), "{text}");
    assert!(text.contains("network 198.51.100.0/24"), "{text}");
    assert!(!text.contains("192.0.2.0/24"), "{text}");
    assert_eq!(rib_count(&d), 2);

    // A network taken out of the file is withdrawn.
    std::fs::write(&d.config, format!("{BASE} exit-address-family\n")).expect("edit config");
    d.signal(Signal::SIGHUP);
    eventually(10, "the network removed", || rib_count(&d) == 1);
    assert!(d.stop().success());
}

/// Waits for ternd to exit; its status and log.
fn exit_of(d: &mut Ternd, secs: u64) -> (Option<i32>, String) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Ok(Some(status)) = d.child.try_wait() {
            return (status.code(), d.log());
        }
        assert!(
            Instant::now() < deadline,
            "ternd still runs with a dead task: {}",
            d.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_dead_task_takes_ternd_down_with_its_name_and_panic() {
    // A task of main's (the interface reconcile loop).
    let mut d = Ternd::start_env(
        &format!("t-die1-{}", std::process::id()),
        "hostname die\n",
        None,
        &[("TERND_FAILPOINT", "panic:reconcile")],
    );
    let (code, log) = exit_of(&mut d, 10);
    assert_eq!(code, Some(70), "{log}");
    assert!(
        log.contains("ternd: task interface reconcile ended unexpectedly: failpoint reconcile"),
        "{log}"
    );

    // A task of the BGP side (the interface watch), in a namespace of its
    // own for port 179.
    let ns = Netns::new(&format!("tern-die-{}", std::process::id()));
    let mut d = Ternd::start_env(
        &format!("t-die2-{}", std::process::id()),
        &format!("{BASE} exit-address-family\n"),
        Some(&ns),
        &[("TERND_FAILPOINT", "panic:interface-watch")],
    );
    let (code, log) = exit_of(&mut d, 10);
    assert_eq!(code, Some(70), "{log}");
    assert!(
        log.contains("ternd: task interface watch ended unexpectedly: failpoint interface-watch"),
        "{log}"
    );
    // Each ternd that died left its guard watching (for the default 120 s
    // restart time); stopped here rather than left running.
    for n in ["die1", "die2"] {
        let instance = format!("t-{n}-{}", std::process::id());
        assert_eq!(stop_guards_of(&instance), 1, "the guard of {instance}");
        let _ = std::fs::remove_dir_all(format!("/sys/fs/bpf/tern/{instance}"));
    }
}

/// SIGKILLs the stale-state guards of `instance`; how many there were.
fn stop_guards_of(instance: &str) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
        if args.contains(&&b"--stale-guard"[..])
            && args.contains(&instance.as_bytes())
            && let Some(pid) = e.file_name().to_str().and_then(|p| p.parse().ok())
        {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            n += 1;
        }
    }
    n
}

/// The processes of namespace `ns` running `ternd --stale-guard`.
fn guards_in(ns: &Netns) -> usize {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", &ns.0])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"--stale-guard"))
        })
        .count()
}

fn ip_ok(ns: &Netns, args: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["-n", &ns.0])
        .args(args.split_whitespace())
        .output()
        .expect("ip");
    assert!(out.status.success(), "ip {args}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_killed_ternds_routes_and_datapath_go_unless_a_ternd_comes_back() {
    let pid = std::process::id();
    let ns = Netns::new(&format!("tern-guard-{pid}"));
    ip_ok(&ns, "link add up0 type veth peer name up0p");
    ip_ok(&ns, "link set up0 up");
    ip_ok(&ns, "link set up0p up");
    let instance = format!("t-guard-{pid}");
    let pins = std::path::PathBuf::from(format!("/sys/fs/bpf/tern/{instance}"));
    let config = "hostname guard\n\
                  datapath uplink up0\n\
                  datapath cluster-cidr 10.244.0.0/16\n\
                  datapath mode native\n\
                  router bgp 65001\n \
                  bgp router-id 198.51.100.11\n \
                  bgp graceful-restart\n \
                  bgp graceful-restart restart-time 3\n";
    let start = || {
        let d = Ternd::start(&instance, config, Some(&ns));
        eventually(20, "the uplink's pinned link", || {
            std::fs::read_dir(pins.join("links")).is_ok_and(|mut d| d.next().is_some())
        });
        d
    };

    // 1. Killed, and no ternd comes back: after the restart time (3 s)
    // the guard removes what the killed one left.
    let mut d = start();
    assert_eq!(guards_in(&ns), 1, "ternd starts one guard: {}", d.log());
    // A route of Tern's, as BGP would have installed it.
    ip_ok(&ns, "route add 198.18.5.0/24 dev up0 proto 202");
    d.child.kill().expect("SIGKILL");
    d.child.wait().expect("wait");
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        ip_ok(&ns, "route show proto 202").contains("198.18.5.0/24"),
        "the route stays within the restart time"
    );
    assert!(pins.exists(), "the pins stay within the restart time");
    eventually(15, "the killed ternd's state removed", || {
        let route = ip_ok(&ns, "route show proto 202");
        let vxlan = ip_ok(&ns, "link show").contains("tern_vxlan");
        if route.is_empty() && !pins.exists() && !vxlan && guards_in(&ns) == 0 {
            Ok(())
        } else {
            Err(format!(
                "routes {route:?}, pins {}, tern_vxlan {vxlan}, guards {}",
                pins.exists(),
                guards_in(&ns)
            ))
        }
    });
    drop(d);

    // 2. Killed, and a new ternd starts within the restart time: the old
    // guard leaves, and the new ternd's datapath stays.
    let mut d = start();
    d.child.kill().expect("SIGKILL");
    d.child.wait().expect("wait");
    let d2 = start();
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(guards_in(&ns), 1, "only the new ternd's guard is left");
    assert!(pins.join("links").exists(), "the new ternd's pins are kept");
    assert!(
        d2.ask(r#"{"request":"show-bgp-summary"}"#).is_object(),
        "the new ternd answers"
    );
    // Stopped without graceful restart, a ternd cleans up and stands its
    // guard down at once.
    drop(d);
    let mut d2 = d2;
    std::fs::write(&d2.config, "hostname guard\n").expect("config");
    d2.signal(Signal::SIGHUP);
    eventually(10, "graceful restart and datapath gone", || {
        !pins.join("links").exists()
    });
    assert!(d2.stop().success());
    eventually(5, "no guard left", || guards_in(&ns) == 0);
}
