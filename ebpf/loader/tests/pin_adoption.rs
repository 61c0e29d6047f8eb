//! The datapath outlives its process: a `Datapath` loaded with a pin dir
//! pins its maps and its TCX links, so that after [`Datapath::release`]
//! (a stop for a restart; SIGKILL leaves the same) the programs stay
//! attached with their state, and the next `load` adopts both: the
//! settings and entries are those of before, `attach` swaps the new program
//! into the pinned link (never two programs, never none), links no
//! interface took are swept, and a pinned map of another layout is
//! replaced rather than adopted. Runs in a throwaway namespace with its own
//! interfaces (veth pairs). Needs root, bpffs and bpftool.
#![allow(clippy::unwrap_used)]

use std::{net::IpAddr, path::PathBuf, process::Command};

use aya::programs::{SchedClassifier, tc::TcAttachType};
use tern_ebpf::{
    Datapath, DatapathConfig, Hook,
    datapath::{EP_FLAG_VETH_PEER, EndpointInfo, Mode},
};
use tern_tests::{Netns, with_netns};

/// The ids of the programs on `ifname`'s TCX ingress.
fn tcx_programs(ifname: &str) -> Vec<u32> {
    let (_, progs) = SchedClassifier::query_tcx(ifname, TcAttachType::Ingress).unwrap();
    progs.iter().map(|p| p.id()).collect()
}

fn ip(ns: &str, args: &str) {
    let out = Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args}: {out:?}");
}

/// A pin dir of this test run, removed on drop.
struct PinDir(PathBuf);

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_released_datapath_is_adopted_with_its_links_and_state() {
    let ns = Netns::new(&format!("tpin{}", std::process::id()));
    for d in ["d0", "d1"] {
        ip(&ns.0, &format!("link add {d} type veth peer name {d}p"));
        ip(&ns.0, &format!("link set {d} up"));
        ip(&ns.0, &format!("link set {d}p up"));
    }
    let pins = PinDir(PathBuf::from(format!(
        "/sys/fs/bpf/tern/test-pin-adoption-{}",
        std::process::id()
    )));
    let pod: IpAddr = "10.244.9.5".parse().unwrap();
    with_netns(&ns.0, || {
        // The first ternd: settings, an endpoint, two interfaces.
        let mut dp = Datapath::load(Some(&pins.0)).unwrap();
        assert!(!dp.adopted(), "nothing was pinned before");
        let cfg = DatapathConfig {
            vni: 77,
            ..DatapathConfig::new(Mode::Geneve)
        };
        dp.set_config(&cfg).unwrap();
        let d0 = dp.attach(Hook::Uplink, "d0").unwrap();
        dp.attach(Hook::Pod, "d1").unwrap();
        let ep = EndpointInfo {
            ifindex: d0,
            id: 3,
            pod_mac: [2, 0, 0, 0, 0, 5],
            host_mac: [2, 0, 0, 0, 0, 6],
            flags: EP_FLAG_VETH_PEER,
        };
        dp.upsert_endpoint(pod, ep).unwrap();
        let before = tcx_programs("d0");
        assert_eq!(before.len(), 1, "one program on d0");
        dp.release();

        // Nobody holds the datapath now: the programs still run.
        assert_eq!(tcx_programs("d0"), before, "the program stays attached");
        assert_eq!(
            tcx_programs("d1").len(),
            1,
            "the pod program stays attached"
        );

        // The next ternd adopts: same settings and entries.
        let mut dp = Datapath::load(Some(&pins.0)).unwrap();
        assert!(dp.adopted(), "every map adopted");
        let got = dp.config().unwrap();
        assert_eq!((got.mode(), got.vni), (Mode::Geneve, 77), "settings kept");
        assert_eq!(dp.endpoints().unwrap(), vec![(pod, ep)], "endpoint kept");
        // Taking d0 over swaps the program in the same link.
        dp.attach(Hook::Uplink, "d0").unwrap();
        let after = tcx_programs("d0");
        assert_eq!(after.len(), 1, "still exactly one program on d0: {after:?}");
        assert_ne!(after, before, "the new program runs in the pinned link");
        // d1 is not wanted any more (its pod went while no ternd ran).
        assert_eq!(dp.sweep_stale_links(), 1, "d1's link swept");
        assert!(tcx_programs("d1").is_empty(), "d1 detached by the sweep");
        dp.release();

        // A map pinned with another layout (an upgrade changed it) is
        // replaced, so the load is not an adoption.
        let settings = pins.0.join("dp_config");
        std::fs::remove_file(&settings).unwrap();
        let out = Command::new("bpftool")
            .args(["map", "create"])
            .arg(&settings)
            .args(["type", "array", "key", "4", "value", "8", "entries", "1"])
            .args(["name", "dp_config"])
            .output()
            .unwrap();
        assert!(out.status.success(), "bpftool map create: {out:?}");
        let mut dp = Datapath::load(Some(&pins.0)).unwrap();
        assert!(!dp.adopted(), "a map of another layout is not adopted");
        assert_eq!(dp.config().unwrap().mode(), Mode::Native, "fresh settings");

        // The clean stop detaches and unpins everything.
        dp.attach(Hook::Uplink, "d0").unwrap();
        dp.shutdown();
        assert!(tcx_programs("d0").is_empty(), "detached on shutdown");
        let left: Vec<_> = std::fs::read_dir(&pins.0)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "pins left after shutdown: {left:?}");
    });
}
