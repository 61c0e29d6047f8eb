//! The services benchmark's lab: a private copy of
//! lab/topologies/services.clab.yml brought up by tern-lab (FRR tor1; node1
//! and node2 running ternd on the eBPF datapath, two pods each made by
//! tern-cni; a client behind tor1), the same lab the services tests use, and
//! taken down again by a guard (`tern-lab down` stops its daemons by pid and
//! deletes its namespaces) on success, error, panic and Ctrl-C. Plus what
//! the benchmark does inside it: run code in a namespace, talk to ternd, read
//! tor1's routes.
//!
//! ```text
//!        client 203.0.113.2, .9 (and .10-.73, added by the bench)
//!                    | eth3
//!        tor1 (FRR, AS 65000; ECMP to the VIPs the nodes announce)
//!     eth1 192.0.2.0/31          eth2 192.0.2.2/31
//!   node1 (ternd, AS 65001)    node2 (ternd, AS 65002)
//!   pod1 pod2 (10.244.1.x)     pod1 pod2 (10.244.2.x)
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::netns;

/// The topology file the lab is copied from.
const TOPOLOGY: &str = "services.clab.yml";
/// node1's uplink address (tor1's next hop to it).
pub const NODE1_UPLINK: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The client's address (its default source).
pub const CLIENT_A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);
/// The Tern nodes' pods, as the topology names them.
pub const PODS: [(&str, &str); 4] = [
    ("node1", "pod1"),
    ("node1", "pod2"),
    ("node2", "pod1"),
    ("node2", "pod2"),
];

/// The lab of one run; dropping it takes it down and removes the copy.
#[derive(Debug)]
pub struct Lab {
    pub name: String,
    topo: PathBuf,
    copy: PathBuf,
    tern_lab: PathBuf,
    tern: PathBuf,
    keep: bool,
}

/// Where the topologies are: `lab/topologies` of the working directory
/// (run from the repository root) or of the checkout tern-bench was built in.
fn topologies() -> Result<PathBuf> {
    let here = PathBuf::from("lab/topologies");
    if here.join(TOPOLOGY).exists() {
        return Ok(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../lab/topologies");
    if built.join(TOPOLOGY).exists() {
        return Ok(built);
    }
    bail!("lab/topologies/{TOPOLOGY} not found: run tern-bench from the repository root")
}

fn copy_dir(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    for e in std::fs::read_dir(src).with_context(|| format!("reading {}", src.display()))? {
        let e = e?;
        let to = dst.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to)?;
        } else {
            std::fs::copy(e.path(), &to)
                .with_context(|| format!("copying {}", e.path().display()))?;
        }
    }
    Ok(())
}

impl Lab {
    /// Copies lab/topologies to a temporary directory with the services
    /// topology renamed to lab `name` (namespaces `clab-NAME-NODE`, never a
    /// lab someone runs by hand) and brings it up with tern-lab from
    /// `bin_dir` (which also holds ternd, tern-cni and tern).
    pub fn up(name: &str, bin_dir: &Path, keep: bool) -> Result<Lab> {
        let tern_lab = bin_dir.join("tern-lab");
        let tern = bin_dir.join("tern");
        for b in [
            &tern_lab,
            &tern,
            &bin_dir.join("ternd"),
            &bin_dir.join("tern-cni"),
        ] {
            if !b.exists() {
                bail!(
                    "{} is not built: cargo build --release -p tern-bench -p tern-bgpd -p tern-cli -p tern-lab -p tern-cni",
                    b.display()
                );
            }
        }
        let copy = std::env::temp_dir().join(format!("tern-bench-{name}"));
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&topologies()?, &copy)?;
        let topo = copy.join(TOPOLOGY);
        let text = std::fs::read_to_string(&topo)?;
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
        if !renamed {
            bail!("{TOPOLOGY} has no top-level name:");
        }
        std::fs::write(&topo, text + "\n")?;
        // The guard exists before `up`, so that a half-made lab goes too.
        let lab = Lab {
            name: name.to_owned(),
            topo,
            copy,
            tern_lab,
            tern,
            keep,
        };
        let out = Command::new(&lab.tern_lab)
            .args(["up", "-t"])
            .arg(&lab.topo)
            .output()
            .context("running tern-lab up")?;
        if !out.status.success() {
            bail!("tern-lab up failed:\n{}", output_text(&out));
        }
        Ok(lab)
    }

    /// The namespace (and FRR / ternd instance name) of a node.
    pub fn ns(&self, node: &str) -> String {
        format!("clab-{}-{node}", self.name)
    }

    /// The namespace of a pod of a node.
    pub fn pod_ns(&self, node: &str, pod: &str) -> String {
        format!("clab-{}-{node}-{pod}", self.name)
    }

    /// Configuration lines for a node's ternd, through `tern` (config mode).
    pub fn configure(&self, node: &str, lines: &[&str]) -> Result<()> {
        let mut cmd = Command::new(&self.tern);
        cmd.args(["-N", &self.ns(node), "-c", "configure terminal"]);
        for l in lines {
            cmd.args(["-c", l]);
        }
        let out = cmd.output().context("running tern")?;
        let text = output_text(&out);
        if !out.status.success() || text.contains('%') {
            bail!("{node}: `{}` refused: {text}", lines.join("; "));
        }
        Ok(())
    }

    /// A node's `tern` show in JSON.
    pub fn tern_json(&self, node: &str, show: &str) -> Result<Value> {
        let out = Command::new(&self.tern)
            .args(["-N", &self.ns(node), "-c", show])
            .output()
            .context("running tern")?;
        if !out.status.success() {
            bail!("{node}: `{show}`: {}", output_text(&out));
        }
        serde_json::from_slice(&out.stdout).with_context(|| format!("{node}: `{show}`"))
    }

    /// The number of tor1's active paths to `prefix` (0 without a route).
    pub fn tor_paths(&self, prefix: &str) -> Result<usize> {
        let v = vtysh_json(&self.ns("tor1"), &format!("show ip route {prefix} json"))?;
        Ok(v[prefix][0]["nexthops"]
            .as_array()
            .map_or(0, |n| n.iter().filter(|h| h["active"] == true).count()))
    }

    /// Established BGP sessions on tor1, both families.
    pub fn tor_sessions(&self) -> Result<usize> {
        let v = vtysh_json(&self.ns("tor1"), "show bgp summary json")?;
        Ok(["ipv4Unicast", "ipv6Unicast"]
            .iter()
            .flat_map(|f| v[f]["peers"].as_object().into_iter().flatten())
            .filter(|(_, p)| p["state"] == "Established")
            .count())
    }

    /// A pod's IPv4 address.
    pub fn pod_addr(&self, node: &str, pod: &str) -> Result<Ipv4Addr> {
        let ns = self.pod_ns(node, pod);
        let out = output(
            "ip",
            &[
                "-n", &ns, "-4", "-o", "addr", "show", "dev", "eth0", "scope", "global",
            ],
        )?;
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .and_then(|a| a.split('/').next())
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("no IPv4 address on {ns}'s eth0: {out}"))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        match Command::new(&self.tern_lab)
            .args(["down", "-t"])
            .arg(&self.topo)
            .output()
        {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("tern-bench: tern-lab down: {}", output_text(&o)),
            Err(e) => eprintln!("tern-bench: tern-lab down: {e}"),
        }
        if self.keep {
            eprintln!(
                "tern-bench: kept the topology copy in {}",
                self.copy.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.copy);
        }
    }
}

/// stdout and stderr of a finished command, trimmed.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_owned()
}

/// Runs `prog ARGS`, returning its stdout; fails with its output.
pub fn output(prog: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("running {prog} (is it installed?)"))?;
    if !out.status.success() {
        bail!("`{prog} {}` failed: {}", args.join(" "), output_text(&out));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn vtysh_json(ns: &str, cmd: &str) -> Result<Value> {
    let out = output("vtysh", &["-N", ns, "-c", cmd])?;
    serde_json::from_str(&out).with_context(|| format!("vtysh `{cmd}`: {out}"))
}

/// Path of a named namespace.
pub fn ns_path(ns: &str) -> PathBuf {
    Path::new("/run/netns").join(ns)
}

/// Runs `f` on a thread inside namespace `ns` (network only); sockets it
/// opens and processes it starts live there.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let path = ns_path(ns);
    std::thread::scope(|s| {
        s.spawn(|| {
            netns::enter(&path)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| bail!("a thread in {ns} panicked"))
    })
}

/// One request on ternd's control socket in `ns` (one JSON line each way);
/// an error reply is an error.
pub fn control(ns: &str, req: &Value) -> Result<Value> {
    let mut c = Control::connect(ns)?;
    c.send(req)?;
    c.receive()
}

/// A connection to a ternd's control socket.
pub struct Control {
    ns: String,
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Control {
    pub fn connect(ns: &str) -> Result<Control> {
        let path = format!("/run/tern/{ns}/ternd.sock");
        let stream = UnixStream::connect(&path).with_context(|| format!("connecting to {path}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Control {
            ns: ns.to_owned(),
            stream,
            reader,
        })
    }

    pub fn send(&mut self, req: &Value) -> Result<()> {
        let mut line = serde_json::to_vec(req)?;
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .with_context(|| format!("sending to {}'s ternd", self.ns))
    }

    pub fn receive(&mut self) -> Result<Value> {
        let mut answer = String::new();
        self.reader
            .read_line(&mut answer)
            .with_context(|| format!("reading {}'s ternd's answer", self.ns))?;
        let v: Value = serde_json::from_str(&answer)
            .with_context(|| format!("{}'s ternd answered: {answer}", self.ns))?;
        if v["reply"] == "error" {
            bail!("{}'s ternd: {}", self.ns, v["message"]);
        }
        Ok(v)
    }
}

/// Polls `check` every 50 ms until it holds or `secs` pass (or Ctrl-C).
pub fn wait_for(
    secs: u64,
    cancel: &Arc<AtomicBool>,
    what: &str,
    mut check: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if cancel.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        let last = check();
        match last {
            Ok(true) => return Ok(()),
            Ok(false) if Instant::now() >= deadline => bail!("{what}: not within {secs} s"),
            Err(e) if Instant::now() >= deadline => {
                return Err(e.context(format!("{what}: not within {secs} s")));
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A process the benchmark started: SIGKILL by pid and reaped on drop.
#[derive(Debug)]
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Starts `prog ARGS` inside namespace `ns` (the child inherits the
    /// starting thread's namespace), output discarded.
    pub fn start_in(ns: &str, prog: &str, args: &[&str]) -> Result<ChildGuard> {
        in_ns(ns, || {
            Command::new(prog)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map(ChildGuard)
                .with_context(|| format!("starting {prog} in {ns} (is it installed?)"))
        })
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
