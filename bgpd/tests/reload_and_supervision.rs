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
}
