//! The daemons under test (ternd, FRR bgpd+zebra, BIRD 2, GoBGP): where their
//! binaries are, their versions, the config each gets (the same neighbors,
//! the run's hold time, passive, IPv4 unicast, no policy), starting them inside
//! the DUT's namespace with `setsid nsenter --net=...`, watching them, and a
//! guard that stops them by pid (SIGTERM, then SIGKILL) and removes what
//! they left in /run, and the DUT's own view of its sessions (how many are
//! not Established, or were dropped, by its CLI or control socket).

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, User, chown};

use crate::peers::Speaker;

/// FRR's daemons live here (Debian's frr package).
const FRR_DIR: &str = "/usr/lib/frr";
/// FRR's per-instance run directories (vty sockets, zserv.api).
const FRR_RUN_DIR: &str = "/var/run/frr";
/// ternd's per-instance run directories (its control socket).
const TERN_RUN_DIR: &str = "/run/tern";
/// How long a daemon gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How long a launch may take (FRR's `-d` parent waits for the daemon).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a query of the DUT's session view may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(20);
/// ternd's control socket in its run directory.
const TERN_SOCKET: &str = "ternd.sock";
/// GoBGP's API, inside the DUT's namespace.
const GOBGP_API_PORT: &str = "50051";

/// One daemon under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ternd,
    Frr,
    /// BIRD as bgperf runs it: BGP only, `protocol kernel` exports nothing.
    Bird,
    /// BIRD with `protocol kernel { ipv4 { export all; }; }`: it installs
    /// the routes (synchronously, one netlink request each).
    BirdKernel,
    Gobgp,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Ternd,
        Kind::Frr,
        Kind::Bird,
        Kind::BirdKernel,
        Kind::Gobgp,
    ];

    pub fn parse(name: &str) -> Result<Kind> {
        Ok(match name.trim().to_ascii_lowercase().as_str() {
            "ternd" | "tern" => Kind::Ternd,
            "frr" | "bgpd" => Kind::Frr,
            "bird" | "bird2" => Kind::Bird,
            "bird-kernel" | "bird+kernel" => Kind::BirdKernel,
            "gobgp" | "gobgpd" => Kind::Gobgp,
            other => {
                bail!("unknown daemon \"{other}\" (one of: ternd, frr, bird, bird-kernel, gobgp)")
            }
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ternd => "ternd",
            Kind::Frr => "frr",
            Kind::Bird => "bird",
            Kind::BirdKernel => "bird-kernel",
            Kind::Gobgp => "gobgp",
        }
    }

    /// Whether it installs the routes into the kernel (GoBGP would need
    /// zebra for that, which this benchmark does not run).
    pub fn installs_fib(self) -> bool {
        matches!(self, Kind::Ternd | Kind::Frr | Kind::BirdKernel)
    }

    /// The executables it needs, checked to exist; `ternd` is the path of
    /// ternd's binary. The error names the missing one and how to get it.
    pub fn programs(self, ternd: &Path) -> Result<Vec<PathBuf>> {
        let need = |path: PathBuf, hint: &str| -> Result<PathBuf> {
            if is_executable(&path) {
                Ok(path)
            } else {
                bail!(
                    "{}: {} not found or not executable ({hint})",
                    self.name(),
                    path.display()
                )
            }
        };
        Ok(match self {
            Kind::Ternd => vec![need(
                ternd.to_owned(),
                "build it with `cargo build --release -p tern-bgpd`, or pass --ternd PATH",
            )?],
            Kind::Frr => ["zebra", "bgpd"]
                .iter()
                .map(|d| need(Path::new(FRR_DIR).join(d), "install FRR: lab/setup.sh"))
                .collect::<Result<_>>()?,
            Kind::Bird | Kind::BirdKernel => {
                vec![need(on_path("bird"), "install bird2: lab/setup.sh")?]
            }
            Kind::Gobgp => vec![need(on_path("gobgpd"), "install gobgpd: lab/setup.sh")?],
        })
    }

    /// The version the daemon reports (`--version`).
    pub fn version(self, programs: &[PathBuf]) -> String {
        let Some(program) = programs.last() else {
            return "?".into();
        };
        let out = match Command::new(program).arg("--version").output() {
            Ok(o) => o,
            Err(e) => return format!("? ({e})"),
        };
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.iter().position(|w| *w == "version") {
            Some(i) => words.get(i + 1).copied().unwrap_or("?").to_owned(),
            None => words.get(1).copied().unwrap_or("?").to_owned(),
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `name` as found on PATH (or /usr/sbin, /usr/bin), else the bare name.
pub fn on_path(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Everything a DUT's config and launch depend on.
pub struct Setup<'a> {
    pub kind: Kind,
    pub programs: &'a [PathBuf],
    /// Namespace name, also the FRR/ternd instance name.
    pub instance: &'a str,
    pub netns_path: &'a Path,
    /// Config files, logs and pid files of this run.
    pub workdir: &'a Path,
    pub router_id: std::net::Ipv4Addr,
    pub asn: u32,
    /// The monitor first, then the injectors.
    pub neighbors: &'a [Speaker],
    /// Hold time of every neighbor (seconds); keepalives every third of it.
    pub hold_time: u16,
}

/// One running process of the DUT.
#[derive(Debug)]
struct Proc {
    name: String,
    pid: i32,
    program: PathBuf,
    /// Our child, for ternd, BIRD and GoBGP (FRR daemonizes itself).
    child: Option<Child>,
    log: PathBuf,
}

/// The running DUT; dropping it stops its processes.
#[derive(Debug)]
pub struct Dut {
    kind: Kind,
    instance: String,
    netns: PathBuf,
    workdir: PathBuf,
    procs: Vec<Proc>,
    remove_dirs: Vec<PathBuf>,
}

impl Dut {
    /// Writes the config and starts the daemon(s) in the DUT's namespace.
    pub fn start(s: &Setup<'_>) -> Result<Dut> {
        let mut dut = Dut {
            kind: s.kind,
            instance: s.instance.to_owned(),
            netns: s.netns_path.to_owned(),
            workdir: s.workdir.to_owned(),
            procs: Vec::new(),
            remove_dirs: Vec::new(),
        };
        match s.kind {
            Kind::Ternd => {
                let conf = write(s.workdir, "ternd.conf", &ternd_config(s))?;
                let run_dir = Path::new(TERN_RUN_DIR).join(s.instance);
                if !run_dir.exists() {
                    dut.remove_dirs.push(run_dir);
                }
                let program = first(s.programs)?;
                let args = ["-N", s.instance, "-f", path_str(&conf)?];
                dut.spawn_foreground("ternd", program, &args, s)?;
            }
            Kind::Frr => {
                let dir = s.workdir.join("frr");
                fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
                let frr = User::from_name("frr")
                    .context("looking up user frr")?
                    .ok_or_else(|| {
                        anyhow!("frr: no user `frr` (is FRR installed? lab/setup.sh)")
                    })?;
                chown(&dir, Some(frr.uid), Some(frr.gid))
                    .with_context(|| format!("chown frr {}", dir.display()))?;
                let conf = write(&dir, "frr.conf", &frr_config(s))?;
                chown(&conf, Some(frr.uid), Some(frr.gid))?;
                fs::create_dir_all(FRR_RUN_DIR)?;
                let run_dir = Path::new(FRR_RUN_DIR).join(s.instance);
                if !run_dir.exists() {
                    fs::create_dir(&run_dir)
                        .with_context(|| format!("creating {}", run_dir.display()))?;
                    dut.remove_dirs.push(run_dir.clone());
                }
                chown(&run_dir, Some(frr.uid), Some(frr.gid))
                    .with_context(|| format!("chown frr {}", run_dir.display()))?;
                for program in s.programs {
                    dut.spawn_frr(program, &dir, &conf, s)?;
                }
            }
            Kind::Bird | Kind::BirdKernel => {
                let conf = write(s.workdir, "bird.conf", &bird_config(s))?;
                let sock = s.workdir.join("bird.ctl");
                let args = ["-f", "-c", path_str(&conf)?, "-s", path_str(&sock)?];
                dut.spawn_foreground("bird", first(s.programs)?, &args, s)?;
            }
            Kind::Gobgp => {
                let conf = write(s.workdir, "gobgpd.toml", &gobgp_config(s))?;
                let api = format!("127.0.0.1:{GOBGP_API_PORT}");
                let args = [
                    "-f",
                    path_str(&conf)?,
                    "-t",
                    "toml",
                    "-p",
                    "--api-hosts",
                    &api,
                    "--pprof-disable",
                ];
                dut.spawn_foreground("gobgpd", first(s.programs)?, &args, s)?;
            }
        }
        Ok(dut)
    }

    /// Starts a daemon that stays in the foreground as our child.
    fn spawn_foreground(
        &mut self,
        name: &str,
        program: &Path,
        args: &[&str],
        s: &Setup<'_>,
    ) -> Result<()> {
        let log = s.workdir.join(format!("{name}.log"));
        let mut cmd = in_netns(s.netns_path, program, args, &log)?;
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        self.procs.push(Proc {
            name: name.to_owned(),
            pid,
            program: program.to_owned(),
            child: Some(child),
            log,
        });
        // setsid and nsenter exec in turn: wait until the pid runs the daemon.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.check_alive()?;
            if runs(pid, program) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name}: pid {pid} did not become {} within 5 s",
                    program.display()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts one FRR daemon (`-d`: it daemonizes) and reads its pid file.
    fn spawn_frr(&mut self, program: &Path, dir: &Path, conf: &Path, s: &Setup<'_>) -> Result<()> {
        let name = program
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("frr")
            .to_owned();
        let pid_file = dir.join(format!("{name}.pid"));
        let log = dir.join(format!("{name}.log"));
        let log_arg = format!("--log=file:{}", log.display());
        let args = [
            "-d",
            "-N",
            s.instance,
            "-f",
            path_str(conf)?,
            "-i",
            path_str(&pid_file)?,
            "-P",
            "0",
            &log_arg,
        ];
        let console = dir.join(format!("{name}.console"));
        let mut child = in_netns(s.netns_path, program, &args, &console)?
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let deadline = Instant::now() + START_TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                bail!(
                    "{name} did not daemonize within {} s",
                    START_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        if !status.success() {
            bail!(
                "{name} failed to start ({status}); {}",
                tail(&[&log, &console], 20)
            );
        }
        loop {
            let pid = fs::read_to_string(&pid_file)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok());
            if let Some(pid) = pid.filter(|p| runs(*p, program)) {
                self.procs.push(Proc {
                    name,
                    pid,
                    program: program.to_owned(),
                    child: None,
                    log,
                });
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("{name}: no running process in {}", pid_file.display());
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// The instance name (`-N`) of ternd or FRR, also the namespace's.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The run's directory for configs and logs.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Names and pids of the DUT's processes.
    pub fn pids(&self) -> Vec<(&str, i32)> {
        self.procs
            .iter()
            .map(|p| (p.name.as_str(), p.pid))
            .collect()
    }

    /// Fails, with the end of its log, when one of the processes has ended.
    pub fn check_alive(&mut self) -> Result<()> {
        for p in &mut self.procs {
            let ended = match &mut p.child {
                Some(c) => c.try_wait()?.map(|st| st.to_string()),
                None => (!runs(p.pid, &p.program)).then(|| "gone".to_owned()),
            };
            if let Some(how) = ended {
                bail!(
                    "{} (pid {}) exited ({how}); {}",
                    p.name,
                    p.pid,
                    tail(&[&p.log], 30)
                );
            }
        }
        Ok(())
    }

    /// The last lines of every process's log.
    pub fn logs(&self, lines: usize) -> String {
        let logs: Vec<&Path> = self.procs.iter().map(|p| p.log.as_path()).collect();
        tail(&logs, lines)
    }

    /// Stops every process (last started first): SIGTERM, then SIGKILL.
    pub fn stop(&mut self) {
        for left in self.stop_checked() {
            eprintln!("tern-bench: cleanup: {left}");
        }
    }

    /// Like [`Dut::stop`], and says what is left: processes that still run
    /// their program, run directories that could not be removed.
    pub fn stop_checked(&mut self) -> Vec<String> {
        let mut left = Vec::new();
        while let Some(mut p) = self.procs.pop() {
            if let Err(e) = stop(&mut p) {
                left.push(format!("{e:#}"));
            } else if runs(p.pid, &p.program) {
                left.push(format!("{} (pid {}) still runs", p.name, p.pid));
            }
        }
        for d in self.remove_dirs.drain(..) {
            if let Err(e) = fs::remove_dir_all(&d)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                left.push(format!("removing {}: {e}", d.display()));
            }
        }
        left
    }

    /// The DUT's own view: how many of its `neighbors` neighbors are not
    /// Established now or (where the daemon counts it) have had a session
    /// dropped. ternd by its control socket, FRR by vtysh, BIRD by birdc,
    /// GoBGP by its CLI (which does not count drops).
    pub fn sessions_down(&self, neighbors: usize) -> Result<usize> {
        let peers = match self.kind {
            Kind::Ternd => {
                let sock = Path::new(TERN_RUN_DIR)
                    .join(&self.instance)
                    .join(TERN_SOCKET);
                let v = tern_summary(&sock)?;
                json_peers(v.get("peers"), "dropped")?
            }
            Kind::Frr => {
                let text = self.query(
                    "vtysh",
                    &["-N", &self.instance, "-c", "show bgp summary json"],
                    false,
                )?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).context("vtysh: show bgp summary json")?;
                let peers = v
                    .pointer("/ipv4Unicast/peers")
                    .and_then(|p| p.as_object())
                    .ok_or_else(|| anyhow!("vtysh: no ipv4Unicast peers in the summary"))?;
                let list: Vec<serde_json::Value> = peers.values().cloned().collect();
                json_peers(Some(&serde_json::Value::Array(list)), "connectionsDropped")?
            }
            Kind::Bird | Kind::BirdKernel => {
                let sock = self.workdir.join("bird.ctl");
                let text =
                    self.query("birdc", &["-s", path_str(&sock)?, "show protocols"], false)?;
                bird_peers(&text)
            }
            Kind::Gobgp => {
                let text = self.query(
                    "gobgp",
                    &["-u", "127.0.0.1", "-p", GOBGP_API_PORT, "neighbor"],
                    true,
                )?;
                gobgp_peers(&text)
            }
        };
        if peers.total != neighbors {
            bail!(
                "the DUT lists {} neighbors, {neighbors} configured",
                peers.total
            );
        }
        Ok(peers.down)
    }

    /// Runs a CLI (inside the DUT's namespace with `in_ns`) and returns
    /// its output; killed by pid after [`QUERY_TIMEOUT`].
    fn query(&self, program: &str, args: &[&str], in_ns: bool) -> Result<String> {
        let out_path = self.workdir.join(format!("{program}.query"));
        let out = fs::File::create(&out_path)
            .with_context(|| format!("creating {}", out_path.display()))?;
        let mut cmd = if in_ns {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net={}", self.netns.display()))
                .arg("--")
                .arg(on_path(program));
            c
        } else {
            Command::new(on_path(program))
        };
        let mut child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let deadline = Instant::now() + QUERY_TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{program} gave no answer within {} s",
                    QUERY_TIMEOUT.as_secs()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let text = fs::read_to_string(&out_path).unwrap_or_default();
        let _ = fs::remove_file(&out_path);
        if !status.success() {
            bail!(
                "{program} {} failed ({status}): {}",
                args.join(" "),
                text.trim()
            );
        }
        Ok(text)
    }
}

/// Neighbors a DUT lists, and how many of them are down.
#[derive(Debug, PartialEq)]
struct PeerCount {
    total: usize,
    down: usize,
}

/// ternd's `show bgp summary` reply, from its control socket.
fn tern_summary(sock: &Path) -> Result<serde_json::Value> {
    let mut stream =
        UnixStream::connect(sock).with_context(|| format!("connecting to {}", sock.display()))?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT))?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT))?;
    stream.write_all(b"{\"request\":\"show-bgp-summary\"}\n")?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .context("reading ternd's reply")?;
    let v: serde_json::Value = serde_json::from_str(&line).context("ternd's reply")?;
    match v.get("reply").and_then(|r| r.as_str()) {
        Some("bgp-summary") => Ok(v),
        _ => bail!("ternd answered: {}", line.trim()),
    }
}

/// Counts a JSON list of peers with FRR's or ternd's `state` and a drop
/// counter named `dropped`.
fn json_peers(peers: Option<&serde_json::Value>, dropped: &str) -> Result<PeerCount> {
    let list = peers
        .and_then(|p| p.as_array())
        .ok_or_else(|| anyhow!("no list of peers in the summary"))?;
    let down = list
        .iter()
        .filter(|p| {
            p.get("state").and_then(|s| s.as_str()) != Some("Established")
                || p.get(dropped).and_then(|d| d.as_u64()).unwrap_or(0) > 0
        })
        .count();
    Ok(PeerCount {
        total: list.len(),
        down,
    })
}

/// `birdc show protocols`: the `peerN` lines; up means "up ... Established".
fn bird_peers(text: &str) -> PeerCount {
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("peer")).collect();
    let down = lines
        .iter()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.get(3) != Some(&"up") || !w.contains(&"Established")
        })
        .count();
    PeerCount {
        total: lines.len(),
        down,
    }
}

/// `gobgp neighbor`: one line per neighbor, its address first; the state
/// column says "Establ" when up.
fn gobgp_peers(text: &str) -> PeerCount {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok())
        })
        .collect();
    let down = lines
        .iter()
        .filter(|l| !l.split_whitespace().any(|w| w == "Establ"))
        .count();
    PeerCount {
        total: lines.len(),
        down,
    }
}

impl Drop for Dut {
    fn drop(&mut self) {
        self.stop();
    }
}

fn stop(p: &mut Proc) -> Result<()> {
    let alive = |p: &mut Proc| match &mut p.child {
        Some(c) => matches!(c.try_wait(), Ok(None)),
        None => runs(p.pid, &p.program),
    };
    for (signal, grace) in [
        (Signal::SIGTERM, STOP_GRACE),
        (Signal::SIGKILL, Duration::from_secs(5)),
    ] {
        if !alive(p) {
            return Ok(());
        }
        kill(Pid::from_raw(p.pid), signal)
            .with_context(|| format!("{signal} to {} (pid {})", p.name, p.pid))?;
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && alive(p) {
            thread::sleep(Duration::from_millis(20));
        }
    }
    if alive(p) {
        bail!("{} (pid {}) survived SIGKILL", p.name, p.pid);
    }
    Ok(())
}

/// Whether `pid` is a live (not zombie) process running `program`.
fn runs(pid: i32, program: &Path) -> bool {
    let live = fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.get(s.rfind(')')? + 1..)?.to_owned();
            rest.split_whitespace()
                .next()
                .map(|st| !matches!(st, "Z" | "X" | "x"))
        })
        .unwrap_or(false);
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
    let want = fs::canonicalize(program).unwrap_or_else(|_| program.to_owned());
    live && exe.is_some_and(|e| e == want)
}

/// `setsid nsenter --net=NETNS -- PROGRAM ARGS`, output to `log`. setsid
/// keeps a terminal's Ctrl-C away from the daemon: the bench stops it.
fn in_netns(netns: &Path, program: &Path, args: &[&str], log: &Path) -> Result<Command> {
    let out = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let err = out.try_clone()?;
    let mut cmd = Command::new("setsid");
    cmd.arg("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("--")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    Ok(cmd)
}

fn first(programs: &[PathBuf]) -> Result<&Path> {
    programs
        .first()
        .map(PathBuf::as_path)
        .ok_or_else(|| anyhow!("no program"))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str()
        .ok_or_else(|| anyhow!("path {} is not UTF-8", p.display()))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
    Ok(path)
}

/// The last `lines` lines of each log, labelled.
fn tail(logs: &[&Path], lines: usize) -> String {
    let mut out = String::new();
    for log in logs {
        let text = fs::read_to_string(log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        let _ = writeln!(out, "last lines of {}:", log.display());
        for l in all.get(from..).unwrap_or_default() {
            let _ = writeln!(out, "    {l}");
        }
    }
    out
}

fn ternd_config(s: &Setup<'_>) -> String {
    let mut c = format!(
        "! tern-bench DUT\nhostname bench-dut\n!\nrouter bgp {}\n bgp router-id {}\n",
        s.asn, s.router_id
    );
    for n in s.neighbors {
        let _ = write!(
            c,
            " neighbor {a} remote-as {asn}\n neighbor {a} timers {ka} {hold}\n neighbor {a} passive\n",
            a = n.addr,
            asn = n.asn,
            ka = s.hold_time / 3,
            hold = s.hold_time
        );
    }
    c.push_str(" !\n address-family ipv4 unicast\n");
    for n in s.neighbors {
        // The DUT passes what it learns on to the monitor, as BIRD's
        // `export all` does: a node sends eBGP peers only its own routes
        // unless an export route-map lets learned ones through.
        let _ = writeln!(
            c,
            "  neighbor {a} activate\n  neighbor {a} route-map TRANSIT out",
            a = n.addr
        );
    }
    c.push_str(" exit-address-family\nexit\n!\nroute-map TRANSIT permit 10\nexit\n");
    c
}

fn frr_config(s: &Setup<'_>) -> String {
    let mut c = format!(
        "frr defaults datacenter\nhostname bench-dut\n!\nrouter bgp {}\n bgp router-id {}\n no bgp ebgp-requires-policy\n",
        s.asn, s.router_id
    );
    for n in s.neighbors {
        let _ = write!(
            c,
            " neighbor {a} remote-as {asn}\n neighbor {a} timers {ka} {hold}\n neighbor {a} passive\n",
            a = n.addr,
            asn = n.asn,
            ka = s.hold_time / 3,
            hold = s.hold_time
        );
    }
    c.push_str(" !\n address-family ipv4 unicast\n");
    for n in s.neighbors {
        let _ = writeln!(c, "  neighbor {} activate", n.addr);
    }
    c.push_str(" exit-address-family\nexit\n");
    c
}

fn bird_config(s: &Setup<'_>) -> String {
    let mut c = format!(
        "# tern-bench DUT\nrouter id {rid};\nlog stderr all;\n\nprotocol device {{ }}\n\n\
         protocol kernel {{\n  ipv4 {{ import none; export {export}; }};\n}}\n\n\
         template bgp peer {{\n  local {rid} as {asn};\n  hold time {hold};\n  keepalive time {ka};\n  passive on;\n  ipv4 {{ import all; export all; }};\n}}\n\n",
        rid = s.router_id,
        asn = s.asn,
        export = if s.kind == Kind::BirdKernel {
            "all"
        } else {
            "none"
        },
        ka = s.hold_time / 3,
        hold = s.hold_time
    );
    for (i, n) in s.neighbors.iter().enumerate() {
        let _ = writeln!(
            c,
            "protocol bgp peer{i} from peer {{ neighbor {} as {}; }}",
            n.addr, n.asn
        );
    }
    c
}

fn gobgp_config(s: &Setup<'_>) -> String {
    let mut c = format!(
        "# tern-bench DUT\n[global.config]\n  as = {}\n  router-id = \"{}\"\n",
        s.asn, s.router_id
    );
    for n in s.neighbors {
        let _ = write!(
            c,
            "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = {}\n  \
             [neighbors.timers.config]\n    hold-time = {}\n    keepalive-interval = {}\n  \
             [neighbors.transport.config]\n    passive-mode = true\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
            n.addr,
            n.asn,
            s.hold_time,
            s.hold_time / 3
        );
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_views() {
        let bird = "BIRD 2.0.12 ready.\nName       Proto      Table      State  Since         Info\n\
            device1    Device     ---        up     12:00:00.000\n\
            peer0      BGP        ---        up     12:00:01.000  Established\n\
            peer1      BGP        ---        start  12:00:05.000  Active        Socket: Connection closed\n";
        assert_eq!(bird_peers(bird), PeerCount { total: 2, down: 1 });
        let gobgp = "Peer           AS  Up/Down State       |#Received  Accepted\n\
            192.0.2.2   65099 00:00:10 Establ      |        0         0\n\
            192.0.2.11  65101    never Active      |        0         0\n";
        assert_eq!(gobgp_peers(gobgp), PeerCount { total: 2, down: 1 });
        let tern: serde_json::Value = serde_json::json!([
            {"state": "Established", "dropped": 0},
            {"state": "Established", "dropped": 1},
            {"state": "Active", "dropped": 0}
        ]);
        assert_eq!(
            json_peers(Some(&tern), "dropped").ok(),
            Some(PeerCount { total: 3, down: 2 })
        );
    }
}
