//! tern-cni under a real container runtime: Debian's podman 4.3 (CNI
//! network backend) on node1 of the pods lab, with a tern network
//! configured as a .conflist of tern-cni, portmap and bandwidth (Debian's
//! containernetworking-plugins). Two containers started from a busybox
//! rootfs reach each other, the node and the other node's pods; a port
//! published with `-p` answers from outside the node; stopping and removing
//! them leaves no address, endpoint, route, veth, iptables rule or tc
//! qdisc of theirs. Then a container is removed behind the runtime's back
//! (its processes killed, its runtime state deleted) and CNI 1.1's GC,
//! given the attachments the runtime still has, releases its address,
//! endpoint and veth and nothing else.
//!
//! podman runs inside node1's network namespace with configuration and
//! state of its own (a containers.conf, `--root`, `--runroot`, network
//! configuration directory and plugin directory under a temporary
//! directory). Needs root, bpffs, podman, runc, containernetworking-plugins
//! and busybox-static (lab/setup.sh installs them), and the built binaries.
//! What is missing makes the test fail saying so.
use std::{
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tern_tests::{Lab, bin, eventually, netns_command, run, run_ok, with_netns};

/// Debian's CNI plugins.
const DEBIAN_CNI_DIR: &str = "/usr/lib/cni";

/// The port a container serves on, and the node's port published to it.
const CONTAINER_PORT: u16 = 8080;
const NODE_PORT: u16 = 18080;

/// What the container's web server answers.
const PAGE: &str = "hello from a tern pod\n";

/// Rate and burst the bandwidth plugin applies to every container, each
/// way (bits per second, bytes).
const RATE: u64 = 100_000_000;
const BURST: u64 = 1_000_000;

/// Fails the test naming what this machine lacks.
fn require(what: &str, present: bool) {
    assert!(
        present,
        "podman test cannot run: {what} is missing (lab/setup.sh installs it)"
    );
}

fn tool(name: &str) -> bool {
    run(Command::new("sh").args(["-c", &format!("command -v {name}")]))
        .status
        .success()
}

/// One podman "installation": its containers.conf, storage and state.
struct Podman {
    node_ns: String,
    conf: PathBuf,
    netd: PathBuf,
    root: PathBuf,
    runroot: PathBuf,
}

impl Podman {
    fn new(dir: &Path, name: &str, node_ns: &str, netd: &Path, plugins: &Path) -> Podman {
        let base = dir.join(name);
        std::fs::create_dir_all(&base).expect("podman dir");
        let conf = base.join("containers.conf");
        std::fs::write(
            &conf,
            format!(
                "[network]\nnetwork_backend = \"cni\"\ncni_plugin_dirs = [\"{}\"]\nnetwork_config_dir = \"{}\"\n\
                 [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n\
                 tmp_dir = \"{}\"\nvolume_path = \"{}\"\n",
                plugins.display(),
                netd.display(),
                base.join("tmp").display(),
                base.join("volumes").display()
            ),
        )
        .expect("containers.conf");
        Podman {
            node_ns: node_ns.to_owned(),
            conf,
            netd: netd.to_owned(),
            root: base.join("root"),
            runroot: base.join("run"),
        }
    }

    /// `podman ARGS` in the node's namespace with this installation's
    /// configuration and state.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = netns_command(&self.node_ns, "podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .arg("--network-config-dir")
            .arg(&self.netd)
            .args([
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
                "--storage-driver",
                "vfs",
            ])
            .args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        run_ok(&mut self.cmd(args)).trim().to_owned()
    }

    /// Starts a container from `rootfs` on `network`, detached.
    fn run(
        &self,
        name: &str,
        network: &str,
        rootfs: &Path,
        extra: &[&str],
        argv: &[&str],
    ) -> Container {
        let rootfs = rootfs.display().to_string();
        let mut args = vec!["run", "-d", "--name", name, "--network", network];
        // runc cannot raise a limit to the node's hard limits here
        // ("error setting rlimit ... operation not permitted"): ask for
        // less.
        args.extend([
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ]);
        args.extend(extra);
        args.extend(["--rootfs", &rootfs]);
        args.extend(argv);
        let id = self.ok(&args);
        let fmt = format!(
            "{{{{.State.Pid}}}} {{{{.State.ConmonPid}}}} {{{{.NetworkSettings.SandboxKey}}}} \
             {{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}} \
             {{{{(index .NetworkSettings.Networks \"{network}\").GlobalIPv6Address}}}}"
        );
        let out = self.ok(&["inspect", "-f", &fmt, name]);
        let f: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(f.len(), 5, "podman inspect {name}: {out}");
        Container {
            name: name.to_owned(),
            id,
            pid: f[0].parse().unwrap_or_else(|e| panic!("pid {out}: {e}")),
            conmon: f[1]
                .parse()
                .unwrap_or_else(|e| panic!("conmon pid {out}: {e}")),
            netns: PathBuf::from(f[2]),
            v4: f[3].to_owned(),
            v6: f[4].to_owned(),
        }
    }

    fn exec_ping(&self, c: &Container, to: &str) -> Result<(), String> {
        let out = run(&mut self.cmd(&["exec", &c.name, "ping", "-c", "1", "-W", "2", to]));
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "ping {to} from {}: {}{}",
                c.name,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Removes every container this installation knows (teardown).
    fn remove_all(&self) {
        let _ = self.cmd(&["rm", "-a", "-f", "-t", "0"]).output();
    }
}

/// A running container as podman reports it.
#[derive(Debug)]
struct Container {
    name: String,
    id: String,
    pid: i32,
    conmon: i32,
    /// Its network namespace (a bind mount under /run/netns).
    netns: PathBuf,
    v4: String,
    v6: String,
}

/// Unmounts every mount under `dir` (deepest first) and removes `dir`.
fn unmount_and_remove(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut under: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect();
    under.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in under {
        let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes a network namespace bind mount left by a killed container.
fn remove_netns(path: &Path) {
    let _ = nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// ternd's endpoints and reservations of unfinished ADDs, as
/// (container id, addresses).
fn holders(node_ns: &str) -> Vec<(String, Vec<String>)> {
    let socket = tern_control::socket_path(Some(node_ns)).expect("socket path");
    let mut s = std::os::unix::net::UnixStream::connect(&socket)
        .unwrap_or_else(|e| panic!("ternd on {}: {e}", socket.display()));
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut line = serde_json::to_vec(&tern_control::Request::ShowEndpoints).expect("request");
    line.push(b'\n');
    s.write_all(&line).expect("send");
    let mut answer = String::new();
    BufReader::new((&s).take(tern_control::MAX_LINE as u64))
        .read_line(&mut answer)
        .expect("receive");
    match serde_json::from_str(&answer) {
        Ok(tern_control::Reply::Endpoints {
            endpoints,
            reserved,
        }) => endpoints
            .into_iter()
            .map(|e| (e.container_id, e.addresses))
            .chain(reserved.into_iter().map(|r| (r.container_id, r.addresses)))
            .map(|(c, a)| (c, a.iter().map(|n| n.addr().to_string()).collect()))
            .collect(),
        other => panic!("ShowEndpoints: {other:?} ({answer})"),
    }
}

fn ip(ns: &str, args: &[&str]) -> String {
    run_ok(Command::new("ip").args(["-n", ns]).args(args))
}

/// Interface names of a namespace.
fn links(ns: &str) -> Vec<String> {
    ip(ns, &["-o", "link", "show"])
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_owned())
        .collect()
}

/// The node's routes to pods (tern-cni's protocol, 203), both families.
fn pod_routes(ns: &str) -> String {
    ip(ns, &["route", "show", "proto", "203"]) + &ip(ns, &["-6", "route", "show", "proto", "203"])
}

fn iptables(ns: &str) -> String {
    run_ok(&mut netns_command(ns, "iptables-save"))
        + &run_ok(&mut netns_command(ns, "ip6tables-save"))
}

/// One HTTP GET over plain TCP from inside `ns`.
fn http_get(ns: &str, addr: &str, port: u16) -> Result<String, String> {
    let target = format!("{addr}:{port}");
    with_netns(ns, move || {
        let sa: std::net::SocketAddr = target.parse().map_err(|e| format!("{target}: {e}"))?;
        let mut s = std::net::TcpStream::connect_timeout(&sa, Duration::from_secs(2))
            .map_err(|e| format!("connect {target}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(|e| e.to_string())?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
            .map_err(|e| format!("send to {target}: {e}"))?;
        let mut body = String::new();
        s.read_to_string(&mut body)
            .map_err(|e| format!("read from {target}: {e}"))?;
        Ok(body)
    })
}

/// The busybox root filesystem the containers run from.
fn busybox_rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "etc", "tmp", "www"] {
        std::fs::create_dir_all(root.join(d)).expect("rootfs dir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "ping", "httpd", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("applet");
    }
    std::fs::write(root.join("www/index.html"), PAGE).expect("page");
    root
}

/// A tern network as a user configures it: tern-cni first, then portmap
/// and bandwidth (chained: each gets the previous result).
fn conflist(name: &str, node_ns: &str, data_dir: &Path, chained: bool) -> Value {
    let mut plugins = vec![json!({
        "type": "tern-cni",
        "podCIDRs": ["10.244.1.0/24", "2001:db8:244:1::/64"],
        "mtu": 1500,
        "ternd": {"instance": node_ns},
        "dataDir": data_dir.join(name),
    })];
    if chained {
        plugins.push(json!({"type": "portmap", "capabilities": {"portMappings": true}}));
        plugins.push(json!({
            "type": "bandwidth",
            "ingressRate": RATE, "ingressBurst": BURST,
            "egressRate": RATE, "egressBurst": BURST,
        }));
    }
    json!({"cniVersion": "1.0.0", "name": name, "plugins": plugins})
}

#[test]
fn podman_runs_containers_on_a_tern_network() {
    let started = Instant::now();
    assert!(
        nix::unistd::geteuid().is_root(),
        "the podman test needs root (network namespaces, containers)"
    );
    require("podman", tool("podman"));
    require("runc", tool("runc"));
    require("iptables-save", tool("iptables-save"));
    require("tc", tool("tc"));
    require(
        "busybox-static (/bin/busybox)",
        Path::new("/bin/busybox").exists(),
    );
    for p in ["portmap", "bandwidth"] {
        require(
            &format!("the CNI plugin {DEBIAN_CNI_DIR}/{p} (containernetworking-plugins)"),
            Path::new(DEBIAN_CNI_DIR).join(p).exists(),
        );
    }
    let tern_cni = bin("tern-cni");

    let lab = Lab::up("pods.clab.yml", &format!("pm{}", std::process::id()));
    let node1 = lab.ns("node1");
    let tor1 = lab.ns("tor1");
    let dir = std::env::temp_dir().join(format!("tern-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut cleanup = Cleanup {
        dir: dir.clone(),
        podmans: Vec::new(),
        netns: Vec::new(),
        attachments: Vec::new(),
    };

    // The plugin directory a runtime gets as CNI_PATH: tern-cni and
    // Debian's plugins.
    let plugins = dir.join("cni-bin");
    std::fs::create_dir_all(&plugins).expect("plugin dir");
    std::os::unix::fs::symlink(&tern_cni, plugins.join("tern-cni")).expect("tern-cni link");
    for p in ["portmap", "bandwidth"] {
        std::os::unix::fs::symlink(Path::new(DEBIAN_CNI_DIR).join(p), plugins.join(p))
            .expect("plugin link");
    }
    let netd = dir.join("net.d");
    std::fs::create_dir_all(&netd).expect("net.d");
    let data = dir.join("cni-data");
    std::fs::write(
        netd.join("10-tern.conflist"),
        conflist("tern", &node1, &data, true).to_string(),
    )
    .expect("conflist");
    std::fs::write(
        netd.join("20-tern-gc.conflist"),
        conflist("tern-gc", &node1, &data, false).to_string(),
    )
    .expect("conflist");
    let rootfs = busybox_rootfs(&dir);
    let podman = Podman::new(&dir, "podman", &node1, &netd, &plugins);
    cleanup
        .podmans
        .push(Podman::new(&dir, "podman", &node1, &netd, &plugins));
    let networks = podman.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}}"]);
    assert!(networks.contains("tern tern-cni"), "{networks}");

    let lab_pods = holders(&node1);
    assert_eq!(lab_pods.len(), 2, "{lab_pods:?}");
    let links_before = links(&node1);
    let routes_before = pod_routes(&node1);

    // Two containers: a web server with a published port, and a shell.
    let port = format!("{NODE_PORT}:{CONTAINER_PORT}");
    let c1 = podman.run(
        "web",
        "tern",
        &rootfs,
        &["-p", &port],
        &[
            "/bin/httpd",
            "-f",
            "-p",
            &CONTAINER_PORT.to_string(),
            "-h",
            "/www",
        ],
    );
    cleanup.netns.push(c1.netns.clone());
    cleanup.attachments.push(("tern".into(), c1.id.clone()));
    let c2 = podman.run("shell", "tern", &rootfs, &[], &["/bin/sleep", "600"]);
    cleanup.netns.push(c2.netns.clone());
    cleanup.attachments.push(("tern".into(), c2.id.clone()));
    assert!(
        c1.v4.starts_with("10.244.1.") && c1.v6.starts_with("2001:db8:244:1:"),
        "{c1:?}"
    );
    assert!(
        c2.v4.starts_with("10.244.1.") && c2.v6.starts_with("2001:db8:244:1:"),
        "{c2:?}"
    );
    // ternd holds their addresses (and the lab's pods' only besides).
    let held = holders(&node1);
    for c in [&c1, &c2] {
        let want = vec![c.v4.clone(), c.v6.clone()];
        assert!(
            held.iter().any(|(id, a)| *id == c.id && *a == want),
            "{} is not in ternd: {held:?}",
            c.name
        );
    }
    assert_eq!(held.len(), 4, "{held:?}");

    // Each other, both families; the node; the other node's pods (once
    // BGP carried node2's pod CIDRs).
    podman
        .exec_ping(&c2, &c1.v4)
        .unwrap_or_else(|e| panic!("{e}"));
    podman
        .exec_ping(&c2, &c1.v6)
        .unwrap_or_else(|e| panic!("{e}"));
    podman
        .exec_ping(&c1, &c2.v4)
        .unwrap_or_else(|e| panic!("{e}"));
    podman
        .exec_ping(&c2, "198.51.100.11")
        .unwrap_or_else(|e| panic!("{e}"));
    podman
        .exec_ping(&c2, "2001:db8:0:1::2")
        .unwrap_or_else(|e| panic!("{e}"));
    let remote_v4 = tern_tests::pod_addr(&lab.ns("node2-pod1"), false);
    let remote_v6 = tern_tests::pod_addr(&lab.ns("node2-pod2"), true);
    eventually(60, "a container reaches node2's pod over IPv4", || {
        podman.exec_ping(&c2, &remote_v4)
    });
    eventually(30, "a container reaches node2's pod over IPv6", || {
        podman.exec_ping(&c1, &remote_v6)
    });

    // The published port answers from outside the node (tor1), on the
    // node's uplink and loopback addresses.
    for addr in ["192.0.2.1", "198.51.100.11"] {
        let page = eventually(10, "the published port answers", || {
            http_get(&tor1, addr, NODE_PORT)
        });
        assert!(page.ends_with(PAGE), "{addr}:{NODE_PORT} answered {page:?}");
    }
    // portmap's DNAT to the container and bandwidth's shaping on its host
    // veth: both plugins got tern-cni's result.
    let rules = iptables(&node1);
    assert!(
        rules.contains(&format!("--to-destination {}:{CONTAINER_PORT}", c1.v4)),
        "{rules}"
    );
    let qdiscs = run_ok(netns_command(&node1, "tc").args(["qdisc", "show"]));
    let new_links: Vec<String> = links(&node1)
        .into_iter()
        .filter(|l| !links_before.contains(l))
        .collect();
    for l in new_links.iter().filter(|l| l.starts_with("tern")) {
        assert!(
            qdiscs.contains(&format!("qdisc tbf 1: dev {l} root")),
            "no bandwidth limit on {l}: {qdiscs}"
        );
    }
    assert_eq!(
        new_links.iter().filter(|l| l.starts_with("tern")).count(),
        2,
        "{new_links:?}"
    );

    // Stopped and removed: the runtime's DEL leaves nothing of theirs.
    podman.ok(&["stop", "-t", "0", "web", "shell"]);
    podman.ok(&["rm", "web", "shell"]);
    assert_eq!(holders(&node1), lab_pods, "addresses or endpoints left");
    assert_eq!(links(&node1), links_before, "interfaces left");
    assert_eq!(pod_routes(&node1), routes_before, "pod routes left");
    let qdiscs = run_ok(netns_command(&node1, "tc").args(["qdisc", "show"]));
    assert!(!qdiscs.contains("tbf"), "bandwidth qdiscs left: {qdiscs}");
    // portmap keeps its four shared chains and their jumps by design;
    // nothing of a container may be left.
    let rules = iptables(&node1);
    for residue in [
        "CNI-DN-".to_owned(),
        c1.id.clone(),
        c1.v4.clone(),
        c2.v4.clone(),
        c1.v6.clone(),
        format!("--dport {NODE_PORT}"),
    ] {
        assert!(
            !rules.contains(&residue),
            "iptables still has {residue}: {rules}"
        );
    }
    for c in [&c1, &c2] {
        assert!(
            !c.netns.exists(),
            "{} of {} left",
            c.netns.display(),
            c.name
        );
    }

    // GC. A container of another podman installation loses its runtime:
    // its processes are killed and its state deleted, so nothing ever
    // runs its DEL; its namespace (still mounted) keeps its veth.
    let lost_podman = Podman::new(&dir, "lost", &node1, &netd, &plugins);
    cleanup
        .podmans
        .push(Podman::new(&dir, "lost", &node1, &netd, &plugins));
    let lost = lost_podman.run("lost", "tern-gc", &rootfs, &[], &["/bin/sleep", "600"]);
    cleanup.netns.push(lost.netns.clone());
    cleanup
        .attachments
        .push(("tern-gc".into(), lost.id.clone()));
    let kept = podman.run("kept", "tern-gc", &rootfs, &[], &["/bin/sleep", "600"]);
    cleanup.netns.push(kept.netns.clone());
    cleanup
        .attachments
        .push(("tern-gc".into(), kept.id.clone()));
    for pid in [lost.conmon, lost.pid] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    eventually(10, "the lost container's processes end", || {
        tern_tests::gone(lost.pid) && tern_tests::gone(lost.conmon)
    });
    unmount_and_remove(&dir.join("lost"));
    let lost_host = links(&node1)
        .into_iter()
        .filter(|l| !links_before.contains(l) && l.starts_with("tern"))
        .count();
    assert_eq!(lost_host, 2, "the lost and the kept container's veths");
    assert!(holders(&node1).iter().any(|(id, _)| *id == lost.id));
    // What a CNI 1.1 runtime sends: the network's plugin configuration at
    // 1.1.0 and the attachments it still has.
    let mut gc_conf = conflist("tern-gc", &node1, &data, false)["plugins"][0].clone();
    gc_conf["cniVersion"] = json!("1.1.0");
    gc_conf["name"] = json!("tern-gc");
    gc_conf["cni.dev/valid-attachments"] = json!([{"containerID": kept.id, "ifname": "eth0"}]);
    let mut gc = netns_command(&node1, &tern_cni);
    gc.env_clear()
        .env("CNI_COMMAND", "GC")
        .env("CNI_PATH", &plugins)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = gc.spawn().expect("tern-cni GC");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(gc_conf.to_string().as_bytes())
        .expect("GC's configuration");
    let out = child.wait_with_output().expect("GC's output");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "GC: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let held = holders(&node1);
    assert!(!held.iter().any(|(id, _)| *id == lost.id), "{held:?}");
    assert!(held.iter().any(|(id, _)| *id == kept.id), "{held:?}");
    assert_eq!(
        held.len(),
        3,
        "the lab's pods and the kept container: {held:?}"
    );
    let veths: Vec<String> = links(&node1)
        .into_iter()
        .filter(|l| !links_before.contains(l))
        .collect();
    assert_eq!(veths.len(), 1, "only the kept container's veth: {veths:?}");
    let routes = pod_routes(&node1);
    assert!(!routes.contains(&format!("{} ", lost.v4)), "{routes}");
    podman
        .exec_ping(&kept, &remote_v4)
        .unwrap_or_else(|e| panic!("{e}"));
    remove_netns(&lost.netns);
    podman.ok(&["rm", "-f", "-t", "0", "kept"]);
    assert_eq!(holders(&node1), lab_pods);
    assert_eq!(links(&node1), links_before);
    assert_eq!(pod_routes(&node1), routes_before);
    let elapsed = started.elapsed();
    eprintln!("podman test: {:.1} s", elapsed.as_secs_f64());
    drop(cleanup);
    drop(lab);
}

/// Where libcni (inside podman) caches each attachment's result; a
/// container whose runtime was lost leaves its entry.
const LIBCNI_CACHE: &str = "/var/lib/cni/results";

/// Teardown whatever happened: containers removed, mounts and leftover
/// namespaces of killed containers removed, libcni's cached results of the
/// test's containers deleted, the temporary directory gone.
struct Cleanup {
    dir: PathBuf,
    podmans: Vec<Podman>,
    netns: Vec<PathBuf>,
    /// (network, container id) of every container started.
    attachments: Vec<(String, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.podmans {
            p.remove_all();
        }
        for n in &self.netns {
            if n.exists() {
                remove_netns(n);
            }
        }
        for (network, id) in &self.attachments {
            let _ =
                std::fs::remove_file(Path::new(LIBCNI_CACHE).join(format!("{network}-{id}-eth0")));
        }
        unmount_and_remove(&self.dir);
    }
}
