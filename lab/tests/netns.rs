//! Root-only tests of the runner against the real kernel and FRR: bring up
//! small labs in network namespaces, check them, tear them down, and check
//! nothing is left. They fail (never skip) when root or `ip netns` is missing.
//! Every lab has a name unique to this test process, so they run in parallel
//! with each other and with other test suites.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tern_lab::{LabError, Options, Role, Topology};
use tern_tests::{eventually, netns_command, run_ok};

/// Fails the test unless this machine can run labs.
fn require_netns() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "these tests need root (they create network namespaces); run them as root"
    );
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("`ip` must be installed (bash lab/setup.sh)");
    assert!(
        out.status.success(),
        "`ip netns list` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A lab name unique to this process and test: `tl<tag><pid>`.
fn lab_name(tag: char) -> String {
    format!("tl{tag}{}", std::process::id())
}

/// Writes files (path, content) under a fresh temp dir.
fn write_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let p = dir.path().join(path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(&p, text).expect("write");
    }
    dir
}

fn namespaces_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Tears the lab down when a test ends, even by panicking.
struct Guard<'a> {
    topo: &'a Topology,
    opts: &'a Options,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        if let Err(e) = tern_lab::down(self.topo, self.opts) {
            eprintln!("cleanup of lab {} failed: {e}", self.topo.name);
        }
    }
}

const FRR_CONF: &str = "frr version 8.4\nfrr defaults datacenter\nhostname r1\n!\n\
router bgp 65000\n bgp router-id 198.51.100.1\n neighbor 192.0.2.1 remote-as 65001\nexit\n!\n";

#[test]
fn frr_and_host_lab_comes_up_answers_and_goes_away() {
    require_netns();
    let lab = lab_name('f');
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    r1:
      kind: linux
      image: quay.io/frrouting/frr:8.4.1
      binds: [r1/frr.conf:/etc/frr/frr.conf]
      exec:
        - ip addr add 192.0.2.0/31 dev eth1
        - ip addr add 2001:db8:0:1::1/64 dev eth1 nodad
    h1:
      kind: linux
      image: alpine:3
      exec:
        - ip addr add 192.0.2.1/31 dev eth1
        - ip addr add 2001:db8:0:1::2/64 dev eth1 nodad
  links:
    - endpoints: ["r1:eth1", "h1:eth1"]
"#
    );
    let dir = write_files(&[("lab.clab.yml", &yaml), ("r1/frr.conf", FRR_CONF)]);
    // FRR reads its config as user frr: the runner must cope with a private dir.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
    let opts = Options::default();
    let guard = Guard {
        topo: &topo,
        opts: &opts,
    };

    let report = tern_lab::up(&topo, &opts).expect("up");
    assert_eq!(report.nodes.len(), 2);
    let state = opts.load_state(&lab).expect("state").expect("state exists");
    let recorded: Vec<_> = state
        .nodes
        .iter()
        .flat_map(|n| n.processes.clone())
        .collect();
    let names: Vec<&str> = recorded.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["zebra", "bgpd"]);
    assert!(recorded.iter().all(|p| p.is_running()));

    // Traffic between the host node and the FRR node, v4 and v6.
    for target in ["192.0.2.0", "2001:db8:0:1::1"] {
        let argv: Vec<String> = ["ping", "-q", "-c", "1", "-W", "5", target]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let status = tern_lab::exec(&topo, "h1", &argv).expect("exec ping");
        assert!(status.success(), "ping {target} from h1 failed");
    }

    let instance = format!("clab-{lab}-r1");
    let version = run_ok(Command::new("vtysh").args(["-N", &instance, "-c", "show version"]));
    assert!(version.contains("FRRouting"), "{version}");

    let status = tern_lab::status(&topo, &opts).expect("status");
    assert!(status.healthy, "{status:#?}");
    let r1 = &status.nodes[0];
    assert_eq!(r1.role, Role::Frr);
    assert!(r1.checks[0].output.contains("65001"), "{:#?}", r1.checks);

    // A second `up` refuses and leaves the running lab alone.
    let again = tern_lab::up(&topo, &opts).expect_err("second up");
    assert!(matches!(again, LabError::AlreadyUp { .. }), "{again}");
    assert!(again.to_string().contains("run tern-lab down"), "{again}");
    assert!(recorded.iter().all(|p| p.is_running()));

    let down = tern_lab::down(&topo, &opts).expect("down");
    assert!(down.found_anything);
    assert_eq!(down.namespaces.len(), 2, "{down:#?}");
    std::mem::forget(guard);

    assert_eq!(
        namespaces_with_prefix(&format!("clab-{lab}-")),
        Vec::<String>::new()
    );
    for p in &recorded {
        assert!(
            !Path::new(&format!("/proc/{}", p.pid)).exists() || !p.is_running(),
            "{p:?} survived"
        );
    }
    assert!(!Path::new("/var/run/frr").join(&instance).exists());
    assert!(!Path::new("/run/tern-lab").join(&lab).exists());

    let again = tern_lab::down(&topo, &opts).expect("second down");
    assert!(!again.found_anything, "{again:#?}");
}

#[test]
fn down_cleans_up_after_a_crashed_up() {
    require_netns();
    let lab = lab_name('c');
    let yaml = format!(
        "name: {lab}\ntopology:\n  nodes:\n    a: {{kind: linux, image: alpine}}\n    b: {{kind: linux, image: alpine}}\n"
    );
    let dir = write_files(&[("lab.clab.yml", &yaml)]);
    let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
    let state_root = tempfile::tempdir().expect("state root");
    let opts = Options {
        state_root: state_root.path().to_owned(),
        ..Options::default()
    };

    // What a crash leaves: namespaces (one not even in the topology), a
    // process inside one, an FRR run dir; no state file.
    let ours = [
        format!("clab-{lab}-a"),
        format!("clab-{lab}-b"),
        format!("clab-{lab}-stray"),
    ];
    // Not ours: same text prefix but another lab (`{lab}x`), and a lab
    // `{lab}-o` that is up, whose names start with `clab-{lab}-`.
    let foreign = format!("clab-{lab}x-keep");
    let other_lab = format!("{lab}-o");
    let other_ns = format!("clab-{other_lab}-n1");
    for ns in ours.iter().chain([&foreign, &other_ns]) {
        run_ok(Command::new("ip").args(["netns", "add", ns]));
    }
    let other_state = tern_lab::LabState {
        version: 1,
        lab: other_lab.clone(),
        topology_file: PathBuf::from("other.clab.yml"),
        phase: tern_lab::Phase::Up,
        started_unix: 0,
        nodes: vec![tern_lab::NodeState {
            name: "n1".into(),
            role: Role::Host,
            namespace: other_ns.clone(),
            instance: other_ns.clone(),
            namespace_created: true,
            dir: state_root.path().join(&other_lab).join("n1"),
            log: state_root.path().join(&other_lab).join("n1/node.log"),
            run_dirs: Vec::new(),
            processes: Vec::new(),
            pods: Vec::new(),
        }],
    };
    fs::create_dir(state_root.path().join(&other_lab)).expect("mkdir");
    other_state
        .save(state_root.path())
        .expect("save other state");

    let mut sleeper = netns_command(&ours[0], "sleep")
        .arg("300")
        .spawn()
        .expect("spawn sleep in namespace");
    // nsenter enters the namespace a moment after it starts: wait for it,
    // or `down` may look before the process is there.
    eventually(10, "the sleeper in the namespace", || {
        let out = Command::new("ip")
            .args(["netns", "pids", &ours[0]])
            .output()
            .expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|p| p == sleeper.id().to_string())
    });
    let run_dir = Path::new("/var/run/frr").join(&ours[1]);
    fs::create_dir_all(&run_dir).expect("mkdir run dir");

    let report = tern_lab::down(&topo, &opts).expect("down");

    let cleanup_foreign = || {
        for ns in [&foreign, &other_ns] {
            let _ = Command::new("ip").args(["netns", "delete", ns]).status();
        }
    };
    let left = namespaces_with_prefix(&format!("clab-{lab}"));
    cleanup_foreign();
    assert!(report.found_anything);
    let mut expected = left.clone();
    expected.sort();
    let mut want = vec![other_ns.clone(), foreign.clone()];
    want.sort();
    assert_eq!(expected, want, "only the other labs' namespaces may remain");
    assert!(!run_dir.exists(), "run dir of the crashed lab remains");
    // The sleeper was killed (down reaps it, so try_wait may report ECHILD).
    let pid = sleeper.id();
    let gone = matches!(sleeper.try_wait(), Ok(Some(_)) | Err(_))
        || !Path::new(&format!("/proc/{pid}")).exists();
    if !gone {
        let _ = sleeper.kill();
        let _ = sleeper.wait();
    }
    assert!(gone, "the process inside the namespace survived down");
    assert!(
        state_root.path().join(&other_lab).exists(),
        "other lab's state touched"
    );
}

#[test]
fn failed_up_rolls_back_and_names_the_failing_line() {
    require_netns();
    let lab = lab_name('r');
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    a:
      kind: linux
      image: alpine
    b:
      kind: linux
      image: alpine
      exec:
        - ip link set eth1 up
        - ip addr add 192.0.2.1/40 dev eth1
  links:
    - endpoints: ["a:eth1", "b:eth1"]
"#
    );
    let dir = write_files(&[("lab.clab.yml", &yaml)]);
    let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
    let opts = Options::default();
    let _guard = Guard {
        topo: &topo,
        opts: &opts,
    };
    let err = tern_lab::up(&topo, &opts).expect_err("up must fail");
    match err.root_cause() {
        LabError::ExecFailed {
            node, index, line, ..
        } => {
            assert_eq!(node, "b");
            assert_eq!(*index, 2);
            assert!(line.contains("/40"));
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(
        err.to_string()
            .contains("everything it had created was removed"),
        "{err}"
    );
    assert_eq!(
        namespaces_with_prefix(&format!("clab-{lab}-")),
        Vec::<String>::new()
    );
    assert!(!Path::new("/run/tern-lab").join(&lab).exists());
}

/// A stand-in ternd (stays in the foreground until SIGTERM) and tern CLI
/// (answers while ternd's run dir exists), so the Tern path of the runner is
/// tested before the real daemon exists.
const FAKE_TERND: &str = "#!/bin/sh\n[ \"$1\" = -N ] && [ \"$3\" = -f ] && [ -r \"$4\" ] || exit 2\n\
echo \"fake ternd $2 up\"\ntrap 'exit 0' TERM\nwhile :; do sleep 0.2; done\n";
const FAKE_TERN: &str =
    "#!/bin/sh\n[ \"$1\" = -N ] && [ -d \"/run/tern/$2\" ] || exit 1\necho \"fake tern: $4\"\n";

#[test]
fn tern_node_runs_ternd_and_answers() {
    require_netns();
    let lab = lab_name('t');
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    n1:
      kind: linux
      image: tern:latest
      binds: [n1/ternd.conf:/etc/tern/ternd.conf]
      env: {{RUST_LOG: debug}}
"#
    );
    let dir = write_files(&[
        ("lab.clab.yml", &yaml),
        ("n1/ternd.conf", "hostname n1\n!\ninterface eth1\n!\n"),
        ("bin/ternd", FAKE_TERND),
        ("bin/tern", FAKE_TERN),
    ]);
    for bin in ["ternd", "tern"] {
        fs::set_permissions(
            dir.path().join("bin").join(bin),
            fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
    let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
    let opts = Options {
        tern_bin_dir: Some(dir.path().join("bin")),
        ready_timeout: Duration::from_secs(20),
        ..Options::default()
    };
    let guard = Guard {
        topo: &topo,
        opts: &opts,
    };
    let report = tern_lab::up(&topo, &opts).expect("up");
    let ternd = &report.nodes[0].processes[0];
    assert_eq!(ternd.name, "ternd");
    assert!(ternd.program.ends_with("bin/ternd"), "{ternd:?}");
    assert!(ternd.is_running());
    let log = fs::read_to_string(&report.nodes[0].log).expect("node log");
    assert!(
        log.contains(&format!("fake ternd clab-{lab}-n1 up")),
        "{log}"
    );

    let status = tern_lab::status(&topo, &opts).expect("status");
    assert!(status.healthy, "{status:#?}");
    let outputs: Vec<&str> = status.nodes[0]
        .checks
        .iter()
        .map(|c| c.output.trim())
        .collect();
    assert_eq!(
        outputs,
        [
            "fake tern: show version",
            "fake tern: show interface brief",
            "fake tern: show bgp summary"
        ]
    );

    tern_lab::down(&topo, &opts).expect("down");
    std::mem::forget(guard);
    assert!(!ternd.is_running());
    assert!(
        !Path::new("/run/tern")
            .join(format!("clab-{lab}-n1"))
            .exists()
    );
    assert_eq!(
        namespaces_with_prefix(&format!("clab-{lab}-")),
        Vec::<String>::new()
    );
}

const GOBGPD_CONF: &str = r#"[global.config]
  as = 65100
  router-id = "198.51.100.2"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "192.0.2.1"
    peer-as = 65200
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 9
    keepalive-interval = 3
"#;

const BIRD_CONF: &str = "log stderr all;\nrouter id 198.51.100.3;\nprotocol device {}\n\
protocol static { ipv4; route 198.51.100.3/32 blackhole; }\n\
protocol bgp g1 { local as 65200; neighbor 192.0.2.0 as 65100; connect retry time 1;\n\
  ipv4 { import all; export all; }; }\n";

#[test]
fn gobgp_and_bird_nodes_run_peer_answer_and_go_away() {
    require_netns();
    let lab = lab_name('p');
    let yaml = format!(
        r#"name: {lab}
topology:
  nodes:
    g1:
      kind: linux
      image: jauderho/gobgp:v3.10.0
      binds: [g1/gobgpd.conf:/etc/gobgp/gobgpd.conf]
      exec: [ip addr add 192.0.2.0/31 dev eth1]
    b1:
      kind: linux
      image: pierky/bird:2.0.12
      startup-config: b1/bird.conf
      exec: [ip addr add 192.0.2.1/31 dev eth1]
  links:
    - endpoints: ["g1:eth1", "b1:eth1"]
"#
    );
    let dir = write_files(&[
        ("lab.clab.yml", &yaml),
        ("g1/gobgpd.conf", GOBGPD_CONF),
        ("b1/bird.conf", BIRD_CONF),
    ]);
    let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
    let opts = Options::default();
    let guard = Guard {
        topo: &topo,
        opts: &opts,
    };
    let report = tern_lab::up(&topo, &opts).expect("up");
    let procs: Vec<(Role, String)> = report
        .nodes
        .iter()
        .flat_map(|n| n.processes.iter().map(|p| (n.role, p.name.clone())))
        .collect();
    assert_eq!(
        procs,
        [(Role::Gobgp, "gobgpd".into()), (Role::Bird, "bird".into())]
    );
    let recorded: Vec<_> = report
        .nodes
        .iter()
        .flat_map(|n| n.processes.clone())
        .collect();
    assert!(recorded.iter().all(|p| p.is_running()), "{recorded:#?}");
    let b1_dir = &report.nodes[1].dir;
    let socket = tern_lab::bird_socket(b1_dir);
    assert!(socket.exists(), "{}", socket.display());

    // The two daemons peer with each other (each tool asked on its side),
    // and BIRD's loopback reaches GoBGP's RIB.
    let g1 = format!("clab-{lab}-g1");
    eventually(30, "GoBGP and BIRD Established", || {
        let bird =
            run_ok(
                Command::new("birdc")
                    .arg("-s")
                    .arg(&socket)
                    .args(["show", "protocols", "g1"]),
            );
        let rib = run_ok(netns_command(&g1, "gobgp").args(["global", "rib"]));
        if bird.contains("Established") && rib.contains("198.51.100.3/32") {
            Ok(())
        } else {
            Err(format!("birdc: {bird}\ngobgp: {rib}"))
        }
    });

    let status = tern_lab::status(&topo, &opts).expect("status");
    assert!(status.healthy, "{status:#?}");
    let g = &status.nodes[0];
    assert!(g.checks[0].command.contains("gobgp neighbor"), "{g:#?}");
    assert!(g.checks[0].output.contains("192.0.2.1"), "{g:#?}");
    assert!(g.checks[0].output.contains("Establ"), "{g:#?}");
    let b = &status.nodes[1];
    assert!(b.checks[0].command.contains("show protocols"), "{b:#?}");
    assert!(b.checks[0].output.contains("Established"), "{b:#?}");
    let bird_log = fs::read_to_string(b1_dir.join("bird.log")).expect("bird.log");
    assert!(bird_log.contains("Started"), "{bird_log}");

    tern_lab::down(&topo, &opts).expect("down");
    std::mem::forget(guard);
    for p in &recorded {
        assert!(!p.is_running(), "{p:?} survived");
    }
    assert_eq!(
        namespaces_with_prefix(&format!("clab-{lab}-")),
        Vec::<String>::new()
    );
    assert!(!Path::new("/run/tern-lab").join(&lab).exists());
}

#[test]
fn bad_gobgp_or_bird_config_fails_up_with_the_daemons_words() {
    require_netns();
    for (tag, image, file, text, daemon, words) in [
        (
            'g',
            "jauderho/gobgp:v3.10.0",
            "gobgpd.conf",
            "[global.config]\n  as = \"not a number\"\n",
            "gobgpd",
            "global.config.as",
        ),
        (
            'b',
            "pierky/bird:2.0.12",
            "bird.conf",
            "router id 198.51.100.3;\nprotocol bogus {}\n",
            "bird",
            "bird.conf:2",
        ),
    ] {
        let lab = lab_name(tag);
        let yaml = format!(
            "name: {lab}\ntopology:\n  nodes:\n    r1: {{kind: linux, image: \"{image}\", startup-config: r1/{file}}}\n"
        );
        let conf = format!("r1/{file}");
        let dir = write_files(&[("lab.clab.yml", &yaml), (&conf, text)]);
        let topo = Topology::load(dir.path().join("lab.clab.yml")).expect("topology");
        let opts = Options::default();
        let _guard = Guard {
            topo: &topo,
            opts: &opts,
        };
        let err = tern_lab::up(&topo, &opts).expect_err("up must fail");
        match err.root_cause() {
            LabError::DaemonFailed {
                node,
                daemon: d,
                log_tail,
                ..
            } => {
                assert_eq!(node, "r1");
                assert_eq!(d, daemon);
                assert!(log_tail.contains(words), "{err}");
            }
            other => panic!("wrong error: {other}"),
        }
        assert_eq!(
            namespaces_with_prefix(&format!("clab-{lab}-")),
            Vec::<String>::new()
        );
        assert!(!Path::new("/run/tern-lab").join(&lab).exists());
    }
}
