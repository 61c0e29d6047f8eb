//! The one harness of Tern's end-to-end tests, this crate's lab tests and
//! the process and namespace tests of bgpd, the eBPF loader, tern-lab and
//! tern-cni (which dev-depend on it): find the built binaries, bring up a
//! private copy of a lab topology ([`Lab`]), poll with a deadline
//! ([`eventually`]), enter network namespaces ([`enter_netns`],
//! [`netns_command`]), capture and decode tunnel packets
//! ([`check_tunnel_capture`]), and run commands with their output kept for
//! the failure message.
//!
//! The tests run the real programs (tern-lab, ternd, tern, FRR's daemons)
//! as root in network namespaces they create and remove. `cargo build
//! --workspace --bins` must have run first (tests/run.sh does it).
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

mod capture;
mod netns;
mod pods;

pub use capture::{Capture, Encap, Tunnel, check_tunnel_capture, require_tool};
pub use netns::{Netns, enter_netns, in_netns, netns_command, with_netns};
pub use pods::CniPods;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Directory of the workspace's built binaries (target/debug), found from
/// the running test executable (target/debug/deps/NAME-HASH).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TERN_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target directory")
}

/// Path of a workspace binary; panics with a clear message if not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (tests/run.sh does)",
        p.display()
    );
    p
}

/// Runs a command, returning its output; panics if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command that must succeed; returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies the topology folder `lab/topologies` to a temporary directory and
/// renames the lab in `file` to `name`, so that a test's namespaces
/// (`clab-NAME-NODE`) never collide with a lab someone runs by hand.
pub fn private_topology(file: &str, name: &str) -> (TempLab, PathBuf) {
    let src = repo_root().join("lab/topologies");
    let dst = std::env::temp_dir().join(format!("tern-test-{name}"));
    let _ = std::fs::remove_dir_all(&dst);
    copy_dir(&src, &dst);
    let topo = dst.join(file);
    let text = std::fs::read_to_string(&topo).expect("read topology");
    let mut renamed = false;
    let text: String = text
        .lines()
        .map(|l| {
            if !renamed && l.starts_with("name:") {
                renamed = true;
                format!("name: {name}")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(renamed, "{file} has no top-level name:");
    std::fs::write(&topo, text + "\n").expect("write topology");
    (TempLab { dir: dst }, topo)
}

/// A copied topology folder, removed on drop.
#[derive(Debug)]
pub struct TempLab {
    dir: PathBuf,
}

impl Drop for TempLab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).expect("mkdir");
    for e in std::fs::read_dir(src).expect("read_dir") {
        let e = e.expect("dir entry");
        let to = dst.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).expect("copy");
        }
    }
}

/// Namespaces whose name starts with `prefix`.
pub fn netns_with_prefix(prefix: &str) -> Vec<String> {
    let out = run(Command::new("ip").args(["netns", "list"]));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// A lab brought up from a private copy of a topology; `tern-lab down`
/// runs when it is dropped, whether the test passed or panicked.
#[derive(Debug)]
pub struct Lab {
    /// The lab's name (namespaces are `clab-NAME-NODE`).
    pub name: String,
    topo: PathBuf,
    _copy: TempLab,
}

impl Lab {
    /// Copies `lab/topologies` with `file` renamed to lab `name` and
    /// brings it up; panics with tern-lab's output if that fails.
    pub fn up(file: &str, name: &str) -> Lab {
        Lab::up_with(file, name, |_| {})
    }

    /// Like [`Lab::up`], letting `edit` change the copied topology folder
    /// (its configs) before the lab starts.
    pub fn up_with(file: &str, name: &str, edit: impl FnOnce(&Path)) -> Lab {
        let (copy, topo) = private_topology(file, name);
        edit(topo.parent().unwrap_or(Path::new(".")));
        let lab = Lab {
            name: name.to_owned(),
            topo,
            _copy: copy,
        };
        // A run that was killed (no Drop) leaves its lab up under the same
        // name; its processes and namespaces would make this `up` fail.
        if lab.state_dir().exists() {
            eprintln!("lab {name}: taking down what an earlier run left up");
            run_ok(
                Command::new(bin("tern-lab"))
                    .args(["down", "--lab"])
                    .arg(name),
            );
        }
        run_ok(
            Command::new(bin("tern-lab"))
                .args(["up", "-t"])
                .arg(&lab.topo),
        );
        lab
    }

    /// The namespace (and FRR / ternd instance name) of a node.
    pub fn ns(&self, node: &str) -> String {
        format!("clab-{}-{node}", self.name)
    }

    /// tern-lab's state directory of this lab (each node's logs are in
    /// its NODE subdirectory).
    pub fn state_dir(&self) -> PathBuf {
        Path::new("/run/tern-lab").join(&self.name)
    }

    /// The topology file of the private copy.
    pub fn topology(&self) -> &Path {
        &self.topo
    }

    /// tern-lab's directory of `node` (its config copies, logs, sockets).
    pub fn dir(&self, node: &str) -> PathBuf {
        self.state_dir().join(node)
    }

    /// Runs `argv` inside `node`'s namespace (`tern-lab exec`).
    pub fn exec(&self, node: &str, argv: &[&str]) -> Output {
        run(Command::new(bin("tern-lab"))
            .args(["exec", "-t"])
            .arg(&self.topo)
            .arg(node)
            .arg("--")
            .args(argv))
    }

    /// The pid tern-lab recorded for `node`'s `process` (ternd, zebra,
    /// bgpd, ...).
    pub fn pid(&self, node: &str, process: &str) -> i32 {
        let path = self.state_dir().join("state.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let state: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        state["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["name"] == node))
            .and_then(|n| n["processes"].as_array())
            .and_then(|p| p.iter().find(|p| p["name"] == process))
            .and_then(|p| p["pid"].as_i64())
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_else(|| panic!("no pid of {node}/{process} in {state}"))
    }

    /// Stops `node`'s ternd (SIGTERM) and waits until it is gone.
    pub fn stop_ternd(&self, node: &str) {
        stop_pid(self.pid(node, "ternd"));
    }

    /// Starts a ternd again in `node`'s namespace with config `conf` (the
    /// lab's copy when None), as tern-lab does; it is stopped when the
    /// returned guard is dropped.
    pub fn start_ternd(&self, node: &str, conf: Option<&Path>) -> Ternd {
        let ns = self.ns(node);
        let dir = self.state_dir().join(node);
        let conf = conf.map_or_else(|| dir.join("ternd.conf"), Path::to_path_buf);
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join("node.log"))
            .expect("node.log");
        let err = log.try_clone().expect("node.log");
        // The child's pid is ternd's, and bpffs stays shared (see
        // netns_command).
        let child = netns_command(&ns, bin("ternd"))
            .args(["-N", &ns, "-f"])
            .arg(conf)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::from(log))
            .stderr(std::process::Stdio::from(err))
            .spawn()
            .expect("start ternd");
        Ternd { child }
    }
}

/// A ternd a test started itself: SIGTERM on drop (SIGKILL after 5 s).
#[derive(Debug)]
pub struct Ternd {
    child: std::process::Child,
}

impl Ternd {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .output();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` is gone (a zombie counts as gone).
pub fn gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.contains(") Z "),
        Err(_) => true,
    }
}

/// SIGTERM to `pid`, then waits (up to 10 s) until it is gone.
pub fn stop_pid(pid: i32) {
    run_ok(Command::new("kill").args(["-TERM", &pid.to_string()]));
    eventually(10, "the process gone", || {
        if gone(pid) {
            Ok(())
        } else {
            Err(format!("pid {pid} still runs"))
        }
    });
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(bin("tern-lab"))
            .args(["down", "-t"])
            .arg(&self.topo)
            .output();
    }
}

/// What a check polled by [`eventually`] returns: `bool` (holds or not
/// yet), or `Result<T, String>` (the value, or why not yet).
pub trait Outcome {
    /// What [`eventually`] returns once the check passes.
    type Value;
    /// Ok with the value, or Err with what is still missing ("" if the
    /// check does not say).
    fn into_result(self) -> Result<Self::Value, String>;
}

impl Outcome for bool {
    type Value = ();
    fn into_result(self) -> Result<(), String> {
        if self { Ok(()) } else { Err(String::new()) }
    }
}

impl<T> Outcome for Result<T, String> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self
    }
}

/// Polls `check` every 200 ms until it passes, and returns its value; after
/// `secs` it fails with `what` and the check's last word (topotest style:
/// poll with a deadline, never sleep blindly).
pub fn eventually<R: Outcome>(secs: u64, what: &str, mut check: impl FnMut() -> R) -> R::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match check().into_result() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() >= deadline => {
                if e.is_empty() {
                    panic!("{what}: not reached in {secs} s")
                } else {
                    panic!("{what}: not reached in {secs} s: {e}")
                }
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    }
}

/// Runs a command that must succeed and parses its stdout as JSON.
pub fn json(cmd: &mut Command) -> serde_json::Value {
    let out = run_ok(cmd);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// FRR's answer to `cmd` in instance `ns`, as JSON.
pub fn vtysh(ns: &str, cmd: &str) -> serde_json::Value {
    json(Command::new("vtysh").args(["-N", ns, "-c", cmd]))
}

/// FRR's answer to `cmd` in instance `ns`, as text (vtysh's complaint
/// about a missing vtysh.conf, on stderr, is left out).
pub fn vtysh_text(ns: &str, cmd: &str) -> String {
    run_ok(Command::new("vtysh").args(["-N", ns, "-c", cmd]))
}

/// Changes FRR's running configuration in instance `ns`: `configure
/// terminal`, then each line in order (as vtysh -c arguments).
pub fn vtysh_config(ns: &str, lines: &[&str]) {
    let mut cmd = Command::new("vtysh");
    cmd.args(["-N", ns, "-c", "configure terminal"]);
    for l in lines {
        cmd.args(["-c", l]);
    }
    run_ok(&mut cmd);
}

/// tern's answer to `cmd` in instance `ns`, as JSON.
pub fn tern(ns: &str, cmd: &str) -> serde_json::Value {
    json(Command::new(bin("tern")).args(["-N", ns, "-c", cmd]))
}

/// Feeds `script` to `tern -N ns` on stdin, as an operator's script
/// would; panics unless every line is accepted. Returns tern's stdout.
pub fn tern_script(ns: &str, script: &str) -> String {
    use std::io::Write as _;
    let mut child = Command::new(bin("tern"))
        .args(["-N", ns])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start tern");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("tern");
    assert!(
        out.status.success(),
        "tern refused part of\n{script}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// tern's answer to `cmd` in instance `ns`, as text.
pub fn tern_text(ns: &str, cmd: &str) -> String {
    run_ok(Command::new(bin("tern")).args(["-N", ns, "-c", cmd]))
}

/// `tern -N ns -c CMD1 -c CMD2 ...`, as `vtysh -c` runs several commands
/// in one session (config mode carries over); its stdout.
pub fn tern_cmds(ns: &str, cmds: &[&str]) -> String {
    let mut c = Command::new(bin("tern"));
    c.args(["-N", ns]);
    for cmd in cmds {
        c.args(["-c", cmd]);
    }
    run_ok(&mut c)
}

/// Adds `line` after each line starting with `after` in `file` (a lab
/// config copy); panics when there is none.
pub fn insert_after(file: &Path, after: &str, line: &str) {
    let text = std::fs::read_to_string(file).expect("config");
    let mut out = String::new();
    for l in text.lines() {
        out.push_str(l);
        out.push('\n');
        if l.starts_with(after) {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(out.len() > text.len(), "no {after:?} in {}", file.display());
    std::fs::write(file, out).expect("write config");
}

/// (from-pod packets, to-pod packets) of the endpoint of `pod_ns`, as the
/// datapath of ternd instance `ns` counted them; its program must be
/// attached.
pub fn endpoint_counters(ns: &str, pod_ns: &str) -> (u64, u64) {
    let v = tern(ns, "show datapath endpoints json");
    let e = v["endpoints"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["containerId"] == pod_ns)
        .unwrap_or_else(|| panic!("no endpoint {pod_ns} in {v}"));
    assert_eq!(e["attached"], true, "pod program attached to {pod_ns}: {e}");
    let c = &e["counters"];
    (
        c["fromPodPackets"].as_u64().unwrap_or_default(),
        c["toPodPackets"].as_u64().unwrap_or_default(),
    )
}

/// tor1 of the datapath lab passes the announcing node's address on as
/// the next hop of the pod CIDRs (the tunnel modes need it; see the
/// topology's comments).
pub fn tor_next_hop_unchanged(tor: &str) {
    vtysh_config(
        tor,
        &[
            "router bgp 65000",
            "address-family ipv4 unicast",
            "neighbor 192.0.2.1 attribute-unchanged next-hop",
            "neighbor 192.0.2.3 attribute-unchanged next-hop",
            "exit-address-family",
            "address-family ipv6 unicast",
            "neighbor 2001:db8:0:1::2 attribute-unchanged next-hop",
            "neighbor 2001:db8:0:2::2 attribute-unchanged next-hop",
            "end",
            "clear bgp * soft out",
        ],
    );
}

/// Tern's routes (protocol 202) in a namespace's main table: (prefix,
/// gateway) pairs.
pub fn tern_routes(ns: &str) -> Vec<(String, String)> {
    let proto = tern_netlink::TERN_PROTO.to_string();
    let v = json(Command::new("ip").args(["-n", ns, "-j", "route", "show", "proto", &proto]));
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["dst"].as_str().unwrap_or("").to_owned(),
                        r["gateway"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The global address of one family of the pod whose namespace is `ns`
/// (its `eth0`, as tern-cni wires it).
pub fn pod_addr(ns: &str, v6: bool) -> String {
    let fam = if v6 { "-6" } else { "-4" };
    let out = run_ok(Command::new("ip").args([
        "-n", ns, fam, "-o", "addr", "show", "dev", "eth0", "scope", "global",
    ]));
    out.split_whitespace()
        .skip_while(|w| *w != "inet" && *w != "inet6")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("no {fam} address in {ns}: {out}"))
        .to_owned()
}

/// `ping -c COUNT` from namespace `from_ns` to `to`; Err with ping's output.
pub fn ns_ping(from_ns: &str, to: &str, count: u32) -> Result<(), String> {
    let count = count.to_string();
    let out = run(netns_command(from_ns, "ping").args(["-c", &count, "-i", "0.2", "-W", "1", to]));
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ping {to} from {from_ns}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Size of each [`tcp_transfer`].
pub const TRANSFER: usize = 1 << 20;

/// Ten `segment`-byte datagrams sent from `from_ns` to `addr:port` (a
/// socket in `to_ns`) as one UDP GSO write (UDP_SEGMENT): Ok when each
/// arrives whole within `wait`, Err saying which did not.
pub fn udp_gso(
    from_ns: &str,
    to_ns: &str,
    addr: std::net::IpAddr,
    port: u16,
    segment: u16,
    wait: std::time::Duration,
) -> Result<(), String> {
    use nix::sys::socket::{setsockopt, sockopt::UdpGsoSegment};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
    let any = |port| match addr {
        IpAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
        IpAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
    };
    let rx = with_netns(to_ns, || UdpSocket::bind(any(port))).map_err(|e| format!("bind: {e}"))?;
    rx.set_read_timeout(Some(wait))
        .map_err(|e| format!("timeout: {e}"))?;
    with_netns(from_ns, || -> Result<(), String> {
        let tx = UdpSocket::bind(any(0)).map_err(|e| format!("bind: {e}"))?;
        setsockopt(&tx, UdpGsoSegment, &i32::from(segment))
            .map_err(|e| format!("UDP_SEGMENT: {e}"))?;
        let data: Vec<u8> = (0..10 * u32::from(segment))
            .map(|i| (i % 251) as u8)
            .collect();
        tx.send_to(&data, SocketAddr::new(addr, port))
            .map(|_| ())
            .map_err(|e| format!("send: {e}"))
    })?;
    let mut buf = vec![0u8; usize::from(segment) + 100];
    for i in 0..10 {
        let (n, _) = rx
            .recv_from(&mut buf)
            .map_err(|e| format!("UDP GSO to {addr}: datagram {i} of 10: {e}"))?;
        if n != usize::from(segment) {
            return Err(format!(
                "UDP GSO to {addr}: datagram {i} of {n} bytes, not {segment}"
            ));
        }
    }
    Ok(())
}

/// 1 MiB over TCP from a socket in `client_ns` to a listener on
/// `server_addr:port` in `server_ns`; the server checks that the
/// connection is the client's and counts and checks every byte.
pub fn tcp_transfer(server_ns: &str, server_addr: &str, client_ns: &str, port: u16) {
    use std::io::{Read, Write};
    use std::time::Duration;
    let ip: std::net::IpAddr = server_addr.parse().expect("pod address");
    let addr = std::net::SocketAddr::new(ip, port);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let server = in_netns(server_ns, move || {
        let l = std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let _ = ready_tx.send(());
        let (mut conn, peer) = l.accept().expect("accept");
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let mut got = Vec::new();
        conn.read_to_end(&mut got).expect("read");
        (peer, got)
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the server never listened");
    let client = in_netns(client_ns, move || {
        let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        c.set_write_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        let data: Vec<u8> = (0..TRANSFER).map(|i| (i % 251) as u8).collect();
        c.write_all(&data).expect("write");
        c.shutdown(std::net::Shutdown::Write).expect("shutdown");
        c.local_addr().expect("local address")
    });
    let local = client.join().expect("client thread");
    let (peer, got) = server.join().expect("server thread");
    assert_eq!(peer, local, "the server saw another client");
    assert_eq!(got.len(), TRANSFER, "bytes received over TCP to {addr}");
    assert!(
        got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8),
        "the bytes received at {addr} differ from those sent"
    );
}
