//! One benchmark run against one daemon: namespaces, the DUT, the peers and
//! the FIB counter, then the clock. t0 is the instant the injectors are told
//! to announce; the run ends when the monitor holds all N*M routes and (for
//! daemons that install routes) the DUT's kernel FIB holds them too, or at
//! the timeout. CPU seconds are the DUT's utime+stime from t0 to that end,
//! peak RSS the sum of its processes' VmHWM.

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
    /// Routes in N*M.
    pub total: usize,
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
}

/// Runs the benchmark against one daemon. An `Err` means the run could not
/// be made at all (setup, a missing binary, Ctrl-C); a daemon that crashes
/// or never converges gives an `Outcome` with notes.
pub fn run(kind: Kind, programs: &[PathBuf], p: &Params, index: usize) -> Result<Outcome> {
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
        total: p.peers * p.prefixes,
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
    };
    let mut dut = match Dut::start(&setup) {
        Ok(d) => d,
        Err(e) => {
            out.notes.push(format!("{e:#}"));
            guard.keep();
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
    };
    let result = measure(&mut dut, &lab, plan, p, &mut out);
    if let Err(e) = result {
        if p.cancel.load(Ordering::SeqCst) {
            return Err(e);
        }
        out.notes.push(format!("{e:#}"));
        out.notes.push(dut.logs(40));
        // Keep the logs for a look after the run.
        guard.keep();
    }
    Ok(out)
}

fn measure(dut: &mut Dut, lab: &Lab, plan: Plan, p: &Params, out: &mut Outcome) -> Result<()> {
    let total = plan.total();
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(Progress::default());
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
                bail!("{e}");
            }
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < up_deadline => {}
            Err(_) => bail!("the sessions did not come up"),
        }
    }
    // Let start-up timers lapse (FRR, for one, holds its first
    // advertisements to new peers for about a second) before t0.
    let settled = Instant::now() + p.settle;
    while Instant::now() < settled {
        check_cancel(p)?;
        dut.check_alive()?;
        if let Ok(Event::Failed(e)) = rx.recv_timeout(Duration::from_millis(50)) {
            dut.check_alive()?;
            bail!("{e}");
        }
    }
    let pids: Vec<i32> = dut.pids().iter().map(|(_, pid)| *pid).collect();
    let mut fib = if out.kind.installs_fib() {
        Some(FibCounter::start(
            lab.dut_path(),
            total,
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
    peers.stop();
    Ok(())
}

fn check_cancel(p: &Params) -> Result<()> {
    if p.cancel.load(Ordering::SeqCst) {
        bail!("interrupted");
    }
    Ok(())
}

/// utime + stime of the processes, in seconds.
fn cpu_seconds(pids: &[i32]) -> Result<f64> {
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
