//! One benchmark run against one daemon: namespaces, the DUT, the peers and
//! the FIB counter, then the clock. t0 is the instant the injectors are told
//! to announce; the run ends when the monitor holds all N*M routes and (for
//! daemons that install routes) the DUT's kernel FIB holds them too, or at
//! the timeout. CPU seconds are the DUT's utime+stime from t0 to that end,
//! peak RSS the sum of its processes' VmHWM.
//!
//! A session that goes down (seen by our peers, or in the DUT's own view
//! read at the end) fails the run: it ends a second after the first one
//! goes down and is reported as "FAILED: N sessions down", never with a
//! time. Every run stops its DUT by pid and deletes its namespaces before
//! it returns, on failure too, and checks that nothing is left.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::daemons::{Dut, Kind, Setup};
use crate::fib::{self, FibCounter};
use crate::netns::{self, Lab};
use crate::peers::{Peers, Plan, Progress, Speaker};

/// How long a run goes on after the first session went down, so that the
/// other sessions a failing DUT takes with it are counted too.
const DOWN_GRACE: Duration = Duration::from_secs(1);

/// The DUT's AS; the monitor's; the first injector's (then +1 each).
pub const DUT_ASN: u32 = 65000;
pub const MONITOR_ASN: u32 = 65099;
pub const FIRST_INJECTOR_ASN: u32 = 65101;

/// What the peers and the FIB counter report to the main thread.
#[derive(Debug)]
pub enum Event {
    /// Every session is up and the UPDATEs are built.
    Established,
    /// The monitor holds all N*M routes.
    Converged(Instant),
    /// Every injector has written all its UPDATEs and its End-of-RIB.
    InjectorsDone(Instant),
    /// The DUT's kernel FIB holds N*M more routes than before t0.
    FibComplete(Instant),
    /// A peer or the FIB counter failed.
    Failed(String),
    /// A session went down (which, and why).
    SessionDown(String),
}

/// How one part of the run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Mark {
    /// Seconds after t0.
    Done(f64),
    /// Not reached by the timeout; what had been counted.
    Timeout { seen: usize },
    /// Not measured (GoBGP's FIB).
    NotApplicable,
    /// The run failed before it got there.
    Failed,
    /// Sessions went down during the run: failed, whatever the clock said.
    SessionsDown(usize),
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub kind: Kind,
    pub version: String,
    pub converged: Mark,
    pub fib: Mark,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    /// The DUT's CPU seconds from t0 to the monitor's convergence (read
    /// when the main thread hears of it, within milliseconds).
    pub cpu_at_converged: Option<f64>,
    /// CPU seconds of the bench itself (peers, FIB counter) in the window.
    pub bench_cpu_seconds: Option<f64>,
    /// Seconds after t0 at which the injectors had written everything.
    pub injected: Option<f64>,
    /// Routes the monitor must hold: N*M, or M with a shared table.
    pub total: usize,
    /// Injecting peers (N) and prefixes per peer (M) of the run.
    pub peers: usize,
    pub prefixes: usize,
    /// Sessions our peers saw go down; None when they never came up.
    pub sessions_down: Option<usize>,
    /// Sessions the DUT itself lists as not Established or dropped, read
    /// at the end of the window; None when it could not be asked.
    pub dut_sessions_down: Option<usize>,
    /// What went wrong, or remarks worth printing under the table.
    pub notes: Vec<String>,
}

/// Parameters shared by every run.
#[derive(Clone, Debug)]
pub struct Params {
    pub peers: usize,
    pub prefixes: usize,
    pub timeout: Duration,
    pub establish_timeout: Duration,
    /// Pause between the sessions coming up and t0.
    pub settle: Duration,
    /// Keep every run's configs and logs (/tmp/tbench-PID-I).
    pub keep: bool,
    /// Count the FIB by polling fib_triestat instead of listening.
    pub fib_poll: bool,
    /// Set by the signal thread on Ctrl-C / SIGTERM.
    pub cancel: Arc<AtomicBool>,
    /// Every injector announces the same M prefixes (the scale mode; see
    /// peers.rs).
    pub shared: bool,
    /// Hold time of every session (seconds).
    pub hold_time: u16,
}

impl Params {
    /// Routes the monitor must hold.
    pub fn total(&self) -> usize {
        if self.shared {
            self.prefixes
        } else {
            self.peers * self.prefixes
        }
    }
}

impl Outcome {
    /// Sessions down by our peers' count or the DUT's, whichever is more.
    pub fn down(&self) -> usize {
        self.sessions_down
            .unwrap_or(0)
            .max(self.dut_sessions_down.unwrap_or(0))
    }

    /// Whether the run failed (crash, refused config, sessions down);
    /// timeouts are results, not failures.
    pub fn failed(&self) -> bool {
        [&self.converged, &self.fib]
            .iter()
            .any(|m| matches!(m, Mark::Failed | Mark::SessionsDown(_)))
    }
}

/// What [`run_with`] hands its hook once the DUT holds every route (the
/// monitor has them all, and the FIB too where the DUT installs routes),
/// while every session is still up and kept alive by the peers' thread.
pub struct Loaded<'a> {
    pub dut: &'a mut Dut,
    pub progress: &'a Progress,
    /// The peers' and the FIB counter's events (a session going down).
    pub events: &'a mpsc::Receiver<Event>,
    /// The DUT's neighbors: the monitor and the injectors.
    pub neighbors: usize,
    /// The run so far (converged, FIB, CPU, peak RSS).
    pub out: &'a Outcome,
}

/// Runs the benchmark against one daemon. An `Err` means the run could not
/// be made at all (setup, a missing binary, Ctrl-C); a daemon that crashes
/// or never converges gives an `Outcome` with notes.
pub fn run(kind: Kind, programs: &[PathBuf], p: &Params, index: usize) -> Result<Outcome> {
    run_with(kind, programs, p, index, &mut |_| Ok(()))
}

/// [`run`], and once the DUT holds every route, `loaded` before the
/// sessions close (the show mode times its shows there). Not called when
/// the run failed or timed out before.
pub fn run_with(
    kind: Kind,
    programs: &[PathBuf],
    p: &Params,
    index: usize,
    loaded: &mut dyn FnMut(Loaded<'_>) -> Result<()>,
) -> Result<Outcome> {
    let mut out = Outcome {
        kind,
        version: kind.version(programs),
        converged: Mark::Failed,
        fib: if kind.installs_fib() {
            Mark::Failed
        } else {
            Mark::NotApplicable
        },
        cpu_seconds: None,
        peak_rss_mb: None,
        bench_cpu_seconds: None,
        cpu_at_converged: None,
        injected: None,
        total: p.total(),
        peers: p.peers,
        prefixes: p.prefixes,
        sessions_down: None,
        dut_sessions_down: None,
        notes: Vec::new(),
    };
    let prefix = format!("tbench-{}-{index}", std::process::id());
    let workdir = PathBuf::from(format!("/tmp/{prefix}"));
    let guard = WorkDir::create(&workdir)?;
    if p.keep {
        guard.keep();
    }
    let lab = Lab::create(&prefix, p.peers)?;
    let monitor = Speaker {
        addr: netns::MONITOR_ADDR,
        asn: MONITOR_ASN,
    };
    let injectors: Vec<Speaker> = (0..p.peers)
        .map(|i| Speaker {
            addr: netns::injector_addr(i),
            asn: FIRST_INJECTOR_ASN + i as u32,
        })
        .collect();
    let mut neighbors = vec![monitor];
    neighbors.extend(&injectors);
    let dut_ns = lab.dut_path();
    let setup = Setup {
        kind,
        programs,
        instance: &lab.dut,
        netns_path: &dut_ns,
        workdir: &workdir,
        router_id: netns::DUT_ADDR,
        asn: DUT_ASN,
        neighbors: &neighbors,
        hold_time: p.hold_time,
    };
    let mut dut = match Dut::start(&setup) {
        Ok(d) => d,
        Err(e) => {
            out.notes.push(format!("{e:#}"));
            guard.keep();
            check_cleanup(kind, Vec::new(), lab)?;
            return Ok(out);
        }
    };
    let plan = Plan {
        dut: netns::DUT_ADDR,
        dut_asn: DUT_ASN,
        monitor,
        injectors,
        prefixes: p.prefixes,
        establish_timeout: p.establish_timeout,
        shared: p.shared,
        hold_time: p.hold_time,
    };
    let progress = Arc::new(Progress::default());
    // The peers have stopped when it returns, on every path.
    let result = measure(&mut dut, &lab, plan, p, &progress, &mut out, loaded);
    let established = !matches!(result, Err(ref e) if e.is::<NotUp>());
    let ours = progress.sessions_down.load(Ordering::SeqCst);
    out.sessions_down = established.then_some(ours);
    for r in progress.reasons() {
        out.notes.push(format!("session down: {r}"));
    }
    if let Some(n) = out.dut_sessions_down.filter(|n| *n > ours) {
        out.notes.push(format!(
            "the DUT lists {n} of its sessions as not Established or dropped; our peers saw {ours} go down"
        ));
    }
    let down = out.down();
    if down > 0 {
        out.converged = Mark::SessionsDown(down);
        if out.fib != Mark::NotApplicable {
            out.fib = Mark::SessionsDown(down);
        }
    }
    let cancelled = p.cancel.load(Ordering::SeqCst);
    if let Err(e) = &result
        && !cancelled
    {
        out.notes.push(format!("{e:#}"));
        out.notes.push(dut.logs(40));
    }
    if result.is_err() || down > 0 {
        // Keep the logs for a look after the run.
        guard.keep();
    }
    let left = dut.stop_checked();
    check_cleanup(kind, left, lab)?;
    match result {
        Err(e) if cancelled => Err(e),
        _ => Ok(out),
    }
}

/// Fails when the DUT's processes or the namespaces outlived the run: the
/// next run would not start clean. `left` is what [`Dut::stop_checked`] found.
fn check_cleanup(kind: Kind, mut left: Vec<String>, lab: Lab) -> Result<()> {
    left.extend(lab.remove());
    if !left.is_empty() {
        bail!(
            "cleanup after {} left something behind: {}",
            kind.name(),
            left.join("; ")
        );
    }
    Ok(())
}

/// The sessions never all came up (no session can have gone down).
#[derive(Debug)]
struct NotUp(String);

impl std::fmt::Display for NotUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotUp {}

/// The run's error once a session (`first`) went down: waits [`DOWN_GRACE`] for the
/// others a failing DUT takes along, then says how many and whether the
/// DUT is still running.
/// The DUT's own view is read then too, into `out`, while it still runs.
fn sessions_down(
    dut: &mut Dut,
    progress: &Progress,
    first: &str,
    neighbors: usize,
    out: &mut Outcome,
) -> anyhow::Error {
    eprintln!("tern-bench: session down: {first}");
    std::thread::sleep(DOWN_GRACE);
    dut_view(dut, neighbors, out);
    let n = progress.sessions_down.load(Ordering::SeqCst);
    let what = format!("{n} session{} down", if n == 1 { "" } else { "s" });
    match dut.check_alive() {
        Err(e) => e.context(what),
        Ok(()) => anyhow!("{what}; the DUT still runs"),
    }
}

fn measure(
    dut: &mut Dut,
    lab: &Lab,
    plan: Plan,
    p: &Params,
    progress: &Arc<Progress>,
    out: &mut Outcome,
    loaded: &mut dyn FnMut(Loaded<'_>) -> Result<()>,
) -> Result<()> {
    let total = plan.total();
    let neighbors = plan.injectors.len() + 1;
    let (tx, rx) = mpsc::channel();
    let mut peers = Peers::spawn(plan, lab.peers_path(), tx.clone(), progress.clone())?;
    // Up to the sessions.
    let up_deadline = Instant::now() + p.establish_timeout + Duration::from_secs(5);
    loop {
        check_cancel(p)?;
        dut.check_alive()?;
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Established) => break,
            Ok(Event::Failed(e)) => {
                std::thread::sleep(Duration::from_millis(200));
                dut.check_alive()?;
                return Err(NotUp(e).into());
            }
            Ok(Event::SessionDown(why)) => {
                return Err(sessions_down(dut, progress, &why, neighbors, out));
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < up_deadline => {}
            Err(_) => return Err(NotUp("the sessions did not come up".into()).into()),
        }
    }
    // Let start-up timers lapse (FRR, for one, holds its first
    // advertisements to new peers for about a second) before t0.
    let settled = Instant::now() + p.settle;
    while Instant::now() < settled {
        check_cancel(p)?;
        dut.check_alive()?;
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Failed(e)) => {
                dut.check_alive()?;
                bail!("{e}");
            }
            Ok(Event::SessionDown(why)) => {
                return Err(sessions_down(dut, progress, &why, neighbors, out));
            }
            _ => {}
        }
    }
    let pids: Vec<i32> = dut.pids().iter().map(|(_, pid)| *pid).collect();
    let mut fib = if out.kind.installs_fib() {
        Some(FibCounter::start(
            lab.dut_path(),
            total,
            p.shared.then_some(p.peers),
            p.fib_poll,
            tx.clone(),
        )?)
    } else {
        None
    };
    let me = [std::process::id() as i32];
    let cpu0 = cpu_seconds(&pids)?;
    let bench0 = cpu_seconds(&me)?;
    peers.go()?;
    let t0 = Instant::now();
    let deadline = t0 + p.timeout;
    let secs = |t: Instant| t.duration_since(t0).as_secs_f64();
    let mut converged = None;
    let mut fib_done = None;
    let result = loop {
        if let Err(e) = check_cancel(p) {
            break Err(e);
        }
        if let Err(e) = dut.check_alive() {
            break Err(e);
        }
        let fib_pending = fib.is_some() && fib_done.is_none();
        if converged.is_some() && !fib_pending {
            break Ok(());
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Converged(t)) => {
                converged = Some(secs(t));
                out.cpu_at_converged = cpu_seconds(&pids).ok().map(|c| c - cpu0);
            }
            Ok(Event::FibComplete(t)) => fib_done = Some(secs(t)),
            Ok(Event::InjectorsDone(t)) => out.injected = Some(secs(t)),
            Ok(Event::Failed(e)) => {
                // A session that ends usually means the DUT did: say that.
                std::thread::sleep(Duration::from_millis(200));
                break Err(dut.check_alive().err().unwrap_or_else(|| anyhow!("{e}")));
            }
            Ok(Event::SessionDown(why)) => {
                break Err(sessions_down(dut, progress, &why, neighbors, out));
            }
            Ok(Event::Established) => {}
            Err(_) if Instant::now() >= deadline => break Ok(()),
            Err(_) => {}
        }
    };
    // CPU and memory at the end of the window, before anything else runs.
    let cpu1 = cpu_seconds(&pids);
    out.bench_cpu_seconds = cpu_seconds(&me).ok().map(|b| b - bench0);
    let rss = peak_rss_mb(&pids);
    if let (Ok(c1), Ok(rss)) = (&cpu1, &rss) {
        out.cpu_seconds = Some(c1 - cpu0);
        out.peak_rss_mb = Some(*rss);
    }
    // The DUT's own view, while our sessions are still up.
    if out.dut_sessions_down.is_none() {
        dut_view(dut, neighbors, out);
    }
    let seen_monitor = progress.monitor_routes.load(Ordering::Relaxed);
    out.converged = match converged {
        Some(s) => Mark::Done(s),
        None if result.is_ok() => Mark::Timeout { seen: seen_monitor },
        None => Mark::Failed,
    };
    if let Some(counter) = &mut fib {
        let seen = counter.seen.load(Ordering::Relaxed);
        counter.stop();
        out.fib = match fib_done {
            Some(s) => Mark::Done(s),
            None if result.is_ok() => Mark::Timeout { seen },
            None => Mark::Failed,
        };
    }
    if result.is_err() || converged.is_none() {
        out.notes.push(format!(
            "the monitor held {seen_monitor} of {total} routes{}",
            match &fib {
                Some(c) => format!(", the FIB {} of {total}", c.seen.load(Ordering::Relaxed)),
                None => String::new(),
            }
        ));
    }
    let unexpected = progress.unexpected_routes.load(Ordering::Relaxed);
    if unexpected > 0 {
        out.notes.push(format!(
            "the monitor received {unexpected} announcements of prefixes nobody injected"
        ));
    }
    if fib
        .as_ref()
        .is_some_and(|c| c.overflowed.load(Ordering::Relaxed))
    {
        out.notes.push(
            "route notifications overflowed the FIB counter's socket: the FIB was counted by polling (0.5 s resolution)".into(),
        );
    }
    result?;
    // Checked while the sessions are still up: a DUT takes a session's
    // routes out of its FIB when the session goes down.
    if fib_done.is_some() {
        let n = fib::verify(lab.dut_path(), total)?;
        if n != total {
            out.notes.push(format!(
                "the FIB counter reached {total}, but a route dump finds {n} of the injected prefixes in the main table"
            ));
        }
    }
    if converged.is_some() && (fib.is_none() || fib_done.is_some()) {
        loaded(Loaded {
            dut,
            progress,
            events: &rx,
            neighbors,
            out,
        })?;
    }
    peers.stop();
    Ok(())
}

/// Reads the DUT's own count of sessions down into `out`, if it runs.
fn dut_view(dut: &mut Dut, neighbors: usize, out: &mut Outcome) {
    if dut.check_alive().is_err() {
        return;
    }
    match dut.sessions_down(neighbors) {
        Ok(n) => out.dut_sessions_down = Some(n),
        Err(e) => out.notes.push(format!(
            "could not read the DUT's view of its sessions: {e:#}"
        )),
    }
}

fn check_cancel(p: &Params) -> Result<()> {
    if p.cancel.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// utime + stime of the processes, in seconds.
pub fn cpu_seconds(pids: &[i32]) -> Result<f64> {
    let tck = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let mut ticks = 0u64;
    for pid in pids {
        let path = format!("/proc/{pid}/stat");
        let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        // Fields after the command name (which is in parentheses and may
        // hold spaces): state is field 3, utime 14, stime 15.
        let rest = text
            .rfind(')')
            .and_then(|i| text.get(i + 1..))
            .ok_or_else(|| anyhow!("{path}: unexpected format"))?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        for i in [14 - 3, 15 - 3] {
            ticks += fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or_else(|| anyhow!("{path}: no field {}", i + 3))?;
        }
    }
    Ok(ticks as f64 / tck)
}

/// Sum of the processes' VmHWM (peak resident set), in MB.
fn peak_rss_mb(pids: &[i32]) -> Result<f64> {
    let mut kb = 0u64;
    for pid in pids {
        let path = format!("/proc/{pid}/status");
        let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        kb += text
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| anyhow!("{path}: no VmHWM"))?;
    }
    Ok(kb as f64 / 1024.0)
}

/// The run's directory for configs and logs; removed unless kept.
struct WorkDir {
    path: PathBuf,
    keep: std::cell::Cell<bool>,
}

impl WorkDir {
    fn create(path: &Path) -> Result<WorkDir> {
        fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        Ok(WorkDir {
            path: path.to_owned(),
            keep: std::cell::Cell::new(false),
        })
    }

    fn keep(&self) {
        self.keep.set(true);
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep.get() {
            eprintln!(
                "tern-bench: configs and logs kept in {}",
                self.path.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
