//! tern-bench: the BGP convergence benchmark (issue 3), bgperf-style. N
//! injecting peers each announce M distinct IPv4 prefixes to the daemon under
//! test, which passes them to one monitor peer; for ternd, FRR, BIRD and
//! GoBGP in turn, on this machine, it measures the time until the monitor
//! holds all N*M routes, the DUT's CPU seconds and peak RSS, and the time
//! until the DUT's kernel FIB holds them. Prints a side-by-side table; asserts
//! nothing about timing.
//!
//! ```text
//! cargo build --release -p tern-bench -p tern-bgpd
//! sudo target/release/tern-bench                                  # quick: 2 x 10,000
//! sudo target/release/tern-bench --peers 10 --prefixes 100000     # full
//! ```
//!
//! Needs root (network namespaces). Everything runs inside two namespaces it
//! creates and deletes again, also on failure and Ctrl-C.

mod daemons;
mod fib;
mod measure;
mod netns;
mod peers;
mod prefixes;
mod report;
mod signals;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::daemons::Kind;
use crate::measure::{Mark, Params};

#[derive(Parser, Debug)]
#[command(
    name = "tern-bench",
    version,
    about = "BGP convergence and FIB install benchmark: ternd against FRR, BIRD and GoBGP"
)]
struct Args {
    /// Injecting peers (N), each with its own AS (65101, 65102, ...).
    #[arg(long, default_value_t = 2)]
    peers: usize,
    /// Distinct IPv4 prefixes (/24s) each peer announces (M).
    #[arg(long, default_value_t = 10_000)]
    prefixes: usize,
    /// Daemons to run, in this order: ternd, frr, bird (BGP only, as bgperf
    /// runs it), bird-kernel (BIRD exporting to the kernel FIB), gobgp.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ternd,frr,bird,bird-kernel,gobgp"
    )]
    daemons: Vec<String>,
    /// Seconds each daemon gets, from the first announcement, to converge
    /// (and fill its FIB) before it is reported as "timeout".
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Seconds the sessions get to come up.
    #[arg(long, default_value_t = 60)]
    establish_timeout: u64,
    /// Seconds between the sessions coming up and the first announcement,
    /// so that the DUTs' start-up timers do not count.
    #[arg(long, default_value_t = 3)]
    settle: u64,
    /// ternd's binary (default: next to tern-bench, i.e. target/release/ternd).
    #[arg(long)]
    ternd: Option<PathBuf>,
    /// Count the DUT's FIB by polling /proc/net/fib_triestat every 0.5 s
    /// instead of listening to route notifications (a coarse cross-check).
    #[arg(long)]
    fib_poll: bool,
    /// Keep each daemon's configs and logs in /tmp/tbench-PID-N (they are
    /// kept anyway when a daemon fails).
    #[arg(long)]
    keep: bool,
    /// Print the table in markdown.
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cancel = Arc::new(AtomicBool::new(false));
    match run(args, cancel.clone()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("tern-bench: {e:#}");
            if cancel.load(Ordering::SeqCst) {
                ExitCode::from(130)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Ok(false) when a daemon failed (crashed, refused its config, lost a
/// session); timeouts are results, not failures.
fn run(args: Args, cancel: Arc<AtomicBool>) -> Result<bool> {
    if args.peers == 0 || args.prefixes == 0 {
        bail!("--peers and --prefixes must be at least 1");
    }
    if args.peers > netns::MAX_PEERS {
        bail!("--peers is at most {}", netns::MAX_PEERS);
    }
    let total = args
        .peers
        .checked_mul(args.prefixes)
        .filter(|t| *t <= prefixes::MAX)
        .with_context(|| {
            format!(
                "--peers x --prefixes must be at most {} (the /24s from 100.64.0.0 to 126.255.255.0)",
                prefixes::MAX
            )
        })?;
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and starts routing daemons");
    }
    let mut kinds = Vec::new();
    for d in &args.daemons {
        let k = Kind::parse(d)?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.sort_by_key(|k| Kind::ALL.iter().position(|a| a == k));
    let ternd = match args.ternd {
        Some(p) => p,
        None => std::env::current_exe()
            .context("locating tern-bench's own binary")?
            .with_file_name("ternd"),
    };
    // Every binary first: a missing one stops the bench before it starts.
    let mut programs = Vec::new();
    for k in &kinds {
        programs.push(k.programs(&ternd)?);
    }
    signals::watch(cancel.clone(), "tern-bench")?;
    let params = Params {
        peers: args.peers,
        prefixes: args.prefixes,
        timeout: Duration::from_secs(args.timeout),
        establish_timeout: Duration::from_secs(args.establish_timeout),
        settle: Duration::from_secs(args.settle),
        fib_poll: args.fib_poll,
        keep: args.keep,
        cancel: cancel.clone(),
    };
    eprintln!(
        "tern-bench: {} peers x {} prefixes = {total} routes, timeout {} s per daemon",
        args.peers, args.prefixes, args.timeout
    );
    let load = table::load_average();
    let mut outcomes = Vec::new();
    for (i, (kind, progs)) in kinds.iter().zip(&programs).enumerate() {
        eprintln!("tern-bench: {} ...", kind.name());
        let o = measure::run(*kind, progs, &params, i)?;
        eprintln!(
            "tern-bench: {}: converged {}, FIB {}",
            kind.name(),
            report::mark(&o.converged, o.total),
            report::mark(&o.fib, o.total)
        );
        outcomes.push(o);
    }
    print!(
        "{}",
        report::render(&outcomes, args.peers, args.prefixes, &load, args.markdown)
    );
    Ok(outcomes
        .iter()
        .all(|o| o.converged != Mark::Failed && o.fib != Mark::Failed))
}
