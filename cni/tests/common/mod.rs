//! What the tern-cni tests share: a node namespace with its own ternd
//! ([`Node`]), tern-cni run in it exactly as a container runtime runs it,
//! and the checks that nothing of a pod is left.
// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use tern_tests::netns_command;

/// A node namespace with its own ternd, data directory and pod namespaces.
pub struct Node {
    pub prefix: String,
    pub host_ns: String,
    pub instance: String,
    pub dir: tempfile::TempDir,
    /// ternd's configuration.
    config: String,
    ternd: Option<Child>,
    pods: Vec<String>,
}

pub fn bin_dir() -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_tern-cni"));
    exe.parent().map(Path::to_path_buf).unwrap_or_default()
}

pub fn ternd_bin() -> PathBuf {
    let p = bin_dir().join("ternd");
    assert!(
        p.exists(),
        "{} is not built: run `cargo build -p tern-bgpd` first (tests/run.sh builds every binary)",
        p.display()
    );
    p
}

pub fn sh(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn ok(cmd: &mut Command) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Node {
    pub fn new(tag: &str) -> Node {
        Node::with_config(tag, "hostname cni-test\n")
    }

    pub fn with_config(tag: &str, config: &str) -> Node {
        assert!(
            nix::unistd::geteuid().is_root(),
            "the CNI tests need root (network namespaces, veths)"
        );
        assert!(
            Path::new("/sys/fs/bpf").join(".").exists(),
            "bpffs is not mounted on /sys/fs/bpf (ternd needs it): mount -t bpf bpf /sys/fs/bpf"
        );
        let prefix = format!("tcni{}-{tag}", std::process::id());
        let host_ns = format!("{prefix}-host");
        ok(Command::new("ip").args(["netns", "add", &host_ns]));
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node {
            prefix: prefix.clone(),
            host_ns,
            instance: prefix,
            dir,
            config: config.to_owned(),
            ternd: None,
            pods: Vec::new(),
        };
        node.start_ternd();
        node
    }

    pub fn nsenter(&self, program: &Path) -> Command {
        netns_command(&self.host_ns, program)
    }

    pub fn start_ternd(&mut self) {
        let conf = self.dir.path().join("ternd.conf");
        std::fs::write(&conf, &self.config).expect("write ternd.conf");
        let log = std::fs::File::create(self.dir.path().join("ternd.log")).expect("log");
        let child = self
            .nsenter(&ternd_bin())
            .args(["-N", &self.instance, "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start ternd");
        self.ternd = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.endpoints_raw().is_err() {
            if let Some(c) = self.ternd.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("ternd exited ({status}): {}", self.ternd_log());
            }
            assert!(
                Instant::now() < deadline,
                "ternd never answered: {}",
                self.ternd_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn stop_ternd(&mut self) {
        if let Some(mut c) = self.ternd.take() {
            let pid = nix::unistd::Pid::from_raw(c.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn ternd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ternd.log")).unwrap_or_default()
    }

    /// Where an older tern-cni kept its IPAM file.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("ipam")
    }

    pub fn socket(&self) -> PathBuf {
        tern_control::socket_path(Some(&self.instance)).expect("socket path")
    }

    pub fn netconf(&self) -> Value {
        json!({
            "cniVersion": "1.0.0",
            "name": "tern-test",
            "type": "tern-cni",
            "podCIDRs": ["10.244.7.0/24", "fd00:10:244:7::/64"],
            "mtu": 1450,
            "ternd": { "instance": self.instance },
            "dataDir": self.data_dir(),
        })
    }

    pub fn pod(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        ok(Command::new("ip").args(["netns", "add", &ns]));
        self.pods.push(ns.clone());
        format!("/var/run/netns/{ns}")
    }

    pub fn del_pod_ns(&mut self, path: &str) {
        let ns = path.rsplit('/').next().unwrap_or_default().to_owned();
        ok(Command::new("ip").args(["netns", "del", &ns]));
        self.pods.retain(|p| *p != ns);
    }

    /// Runs tern-cni as a runtime does; returns (exit ok, stdout JSON).
    pub fn cni(&self, env: &[(&str, &str)], stdin: &str) -> (bool, Value, String) {
        let mut c = self.nsenter(Path::new(env!("CARGO_BIN_EXE_tern-cni")));
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn tern-cni");
        if let Some(mut i) = child.stdin.take() {
            let _ = i.write_all(stdin.as_bytes());
        }
        let out = child.wait_with_output().expect("tern-cni output");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
        };
        let code = out.status.code().unwrap_or(-1);
        (
            out.status.success(),
            v,
            format!(
                "exit {code}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    pub fn run_cmd(
        &self,
        cmd: &str,
        cid: &str,
        netns: Option<&str>,
        conf: &Value,
    ) -> (bool, Value, String) {
        self.run_cmd_if(cmd, cid, "eth0", netns, conf)
    }

    /// [`Node::run_cmd`] for the pod interface `ifname`.
    pub fn run_cmd_if(
        &self,
        cmd: &str,
        cid: &str,
        ifname: &str,
        netns: Option<&str>,
        conf: &Value,
    ) -> (bool, Value, String) {
        let mut env = vec![
            ("CNI_COMMAND", cmd),
            ("CNI_CONTAINERID", cid),
            ("CNI_IFNAME", ifname),
            ("CNI_PATH", "/opt/cni/bin"),
        ];
        if let Some(n) = netns {
            env.push(("CNI_NETNS", n));
        }
        self.cni(&env, &conf.to_string())
    }

    pub fn add(&self, cid: &str, netns: &str) -> Value {
        let (good, v, err) = self.run_cmd("ADD", cid, Some(netns), &self.netconf());
        assert!(good, "ADD {cid} failed: {v} {err}");
        v
    }

    pub fn del(&self, cid: &str, netns: Option<&str>) {
        let (good, v, err) = self.run_cmd("DEL", cid, netns, &self.netconf());
        assert!(good, "DEL {cid} failed: {v} {err}");
        assert_eq!(v, Value::Null, "DEL prints nothing on success");
    }

    pub fn check(&self, cid: &str, netns: &str, prev: &Value) -> (bool, Value, String) {
        let mut conf = self.netconf();
        conf["prevResult"] = prev.clone();
        self.run_cmd("CHECK", cid, Some(netns), &conf)
    }

    pub fn endpoints_raw(&self) -> Result<Value, String> {
        let tern = bin_dir().join("tern");
        let out = sh(self.nsenter(&tern).args([
            "-N",
            &self.instance,
            "-c",
            "show datapath endpoints json",
        ]));
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
    }

    pub fn endpoints(&self) -> Vec<Value> {
        let v = self
            .endpoints_raw()
            .unwrap_or_else(|e| panic!("tern show datapath endpoints: {e}"));
        v["endpoints"].as_array().cloned().unwrap_or_default()
    }

    pub fn host_veths(&self) -> Vec<String> {
        let out = ok(Command::new("ip").args([
            "-n",
            &self.host_ns,
            "-o",
            "link",
            "show",
            "type",
            "veth",
        ]));
        out.lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_owned())
            .filter(|n| n.starts_with("tern"))
            .collect()
    }

    /// Every key holding addresses in ternd (endpoints and reservations of
    /// unfinished ADDs), as `{"containerId", "addresses"}`.
    pub fn allocations(&self) -> Vec<Value> {
        let (eps, reserved) = tern_cni::ternd::endpoints(&self.socket())
            .unwrap_or_else(|e| panic!("ternd's endpoints: {e}"));
        eps.iter()
            .map(|e| (&e.container_id, &e.addresses))
            .chain(reserved.iter().map(|r| (&r.container_id, &r.addresses)))
            .map(|(c, a)| json!({"containerId": c, "addresses": a}))
            .collect()
    }

    pub fn host_routes(&self) -> String {
        ok(Command::new("ip").args(["-n", &self.host_ns, "route", "show", "proto", "203"]))
            + &ok(Command::new("ip").args([
                "-n",
                &self.host_ns,
                "-6",
                "route",
                "show",
                "proto",
                "203",
            ]))
    }

    /// Nothing of any pod is left: no veth, allocation, endpoint or route.
    pub fn assert_clean(&self) {
        assert_eq!(self.host_veths(), Vec::<String>::new(), "host veths left");
        assert_eq!(
            self.allocations(),
            Vec::<Value>::new(),
            "IPAM allocations left"
        );
        assert_eq!(
            self.endpoints(),
            Vec::<Value>::new(),
            "ternd endpoints left"
        );
        assert_eq!(self.host_routes(), "", "pod routes left");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop_ternd();
        for p in std::mem::take(&mut self.pods) {
            let _ = Command::new("ip").args(["netns", "del", &p]).output();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.host_ns])
            .output();
        let _ = std::fs::remove_dir_all(Path::new("/run/tern").join(&self.instance));
    }
}

pub fn addr_of(result: &Value, v6: bool) -> String {
    result["ips"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["address"].as_str())
        .find(|a| a.contains(':') == v6)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| {
            panic!(
                "no {} address in {result}",
                if v6 { "IPv6" } else { "IPv4" }
            )
        })
        .to_owned()
}

/// `to` answers a ping from the pod (one reply of up to three: the first
/// echo may wait for neighbour resolution on the way).
pub fn ping(from_netns: &str, to: &str) {
    let ns = from_netns.rsplit('/').next().unwrap_or_default();
    ok(netns_command(ns, "ping").args(["-c", "3", "-i", "0.2", "-W", "2", to]));
}
/// Runs a command that must fail; returns its error document's code.
pub fn err_code(node: &Node, env: &[(&str, &str)], stdin: &str) -> u64 {
    let (good, v, err) = node.cni(env, stdin);
    assert!(!good, "expected a failure: {v} {err}");
    // In the configuration's version when tern-cni supports it, else in
    // the newest.
    let version = tern_cni::spec::requested_version(stdin.as_bytes())
        .unwrap_or(tern_cni::spec::LATEST_VERSION);
    assert_eq!(v["cniVersion"], version, "{v}");
    assert!(v["msg"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    v["code"]
        .as_u64()
        .unwrap_or_else(|| panic!("no code in {v}"))
}
