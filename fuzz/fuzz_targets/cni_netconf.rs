// Fuzz target: what a container runtime hands tern-cni, read as tern-cni
// reads it before it touches the node: the environment (CNI_COMMAND,
// CNI_CONTAINERID, CNI_IFNAME, CNI_NETNS, CNI_PATH and CNI_ARGS with the
// pod's namespace) and the network configuration on stdin.
//
// Input: `KEY=VALUE` lines (the environment), an empty line, then stdin.
// A configuration that parses must hold what parse_netconf promises:
// one or two pools (at most one per address family, no host bits), an MTU
// in range, absolute paths.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_cni::spec::{self, Command};

const COMMANDS: [Command; 6] = [
    Command::Add,
    Command::Del,
    Command::Check,
    Command::Version,
    Command::Gc,
    Command::Status,
];

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let split = data.windows(2).position(|w| w == b"\n\n");
    let (env_part, stdin) = match split {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let env_text = String::from_utf8_lossy(env_part);
    let vars: Vec<(&str, &str)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .collect();
    let get = |key: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    };
    let env = spec::parse_env(get);
    if let Some(args) = get("CNI_ARGS") {
        let _ = spec::pod_namespace(&args);
    }
    // The command of the environment, or every one when it is refused.
    let commands = match &env {
        Ok(e) => {
            let _ = tern_cni::host_ifname(&e.container_id, &e.ifname);
            vec![e.command]
        }
        Err(_) => COMMANDS.to_vec(),
    };
    let version = tern_cni::version(stdin);
    let asked = spec::requested_version(stdin);
    assert!(version.get("cniVersion").is_some());
    for command in commands {
        match spec::parse_netconf(stdin, command) {
            Ok(net) => check(&net, asked),
            Err(e) => {
                let _ = e.to_json(asked.unwrap_or(spec::LATEST_VERSION));
            }
        }
    }
});

fn check(net: &spec::Network, asked: Option<&str>) {
    assert_eq!(
        asked,
        Some(net.version.as_str()),
        "cniVersion read twice differs"
    );
    let v4 = net.pools.iter().filter(|p| p.addr().is_ipv4()).count();
    let v6 = net.pools.len() - v4;
    assert!(
        (1..=2).contains(&net.pools.len()) && v4 <= 1 && v6 <= 1,
        "{:?}",
        net.pools
    );
    for p in &net.pools {
        assert_eq!(p.trunc(), *p, "pool with host bits");
    }
    assert!((576..=65535).contains(&net.mtu), "mtu {}", net.mtu);
    assert!(net.socket.is_absolute() && net.data_dir.is_absolute());
}
