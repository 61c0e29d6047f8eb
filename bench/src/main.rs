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
//! sudo target/release/tern-bench --scale --daemons ternd,bird      # scale
//! ```
//!
//! `--scale` runs, for each daemon, 10 x 100k, 30 x 100k, 50 x 100k and
//! 1 x 1M (or `--scale-configs`) with a shared table (every injector
//! announces the same M prefixes, see peers.rs) and prints one table with a
//! row per (configuration, daemon). A run in which any BGP session goes
//! down is reported as failed, in every mode.
//!
//! `--show` loads `--show-routes` routes (default 4 injectors x 250k) into
//! ternd and into FRR, one after the other, and times each show of
//! `--shows` with the daemon's own CLI while the sessions stay up (see
//! show.rs): one table with a row per (show, daemon).
//!
//! `--services` and `--egress` compare Tern's load balancer with
//! kube-proxy-style iptables DNAT (issue 12, services.rs) and Tern's egress
//! gateway with iptables MASQUERADE (issue 13, egress.rs).
//!
//! Needs root (network namespaces). Everything runs inside namespaces it
//! creates and deletes again, also on failure and Ctrl-C.

mod daemons;
mod egress;
mod fib;
mod measure;
mod netns;
mod peers;
mod prefixes;
mod report;
mod services;
mod show;
mod signals;
mod table;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::daemons::Kind;
use crate::measure::Params;

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
    /// Default: all five; with --show, ternd and frr (the only two it runs).
    #[arg(long, value_delimiter = ',')]
    daemons: Option<Vec<String>>,
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
    /// Services mode (issue 12): Tern's load balancer against kube-proxy-style
    /// iptables DNAT in the services lab (see services.rs); one table.
    /// Needs tern-lab, ternd, tern-cni and tern next to tern-bench.
    #[arg(long, conflicts_with_all = ["scale", "show"])]
    services: bool,
    /// Egress gateway mode (issue 13): Tern's egress gateway against
    /// iptables MASQUERADE with kernel conntrack, pod to an outside server,
    /// in namespaces of its own with Tern's datapath loaded directly (see
    /// egress.rs); one table.
    #[arg(long, conflicts_with_all = ["scale", "show", "services"])]
    egress: bool,
    /// Scale mode: for each daemon, the configurations of --scale-configs
    /// (N peers x M prefixes, every peer announcing the same M prefixes),
    /// one table with a row per (configuration, daemon). --peers and
    /// --prefixes are not used.
    #[arg(long)]
    scale: bool,
    /// The scale mode's configurations, NxM each (M may end in k or M).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10x100k,30x100k,50x100k,1x1M"
    )]
    scale_configs: Vec<String>,
    /// Show mode: load --show-routes routes into each daemon (ternd, frr),
    /// then time each of --shows with its CLI (tern, vtysh) while every
    /// session stays up. --peers and --prefixes are not used.
    #[arg(long, conflicts_with = "scale")]
    show: bool,
    /// Routes the show mode loads (distinct /24s, split evenly between the
    /// --show-peers injectors).
    #[arg(long, default_value_t = 1_000_000)]
    show_routes: usize,
    /// Injecting peers of the show mode.
    #[arg(long, default_value_t = 4)]
    show_peers: usize,
    /// The shows, in order.
    #[arg(long, value_delimiter = ',', default_value = show::DEFAULT_SHOWS)]
    shows: Vec<String>,
    /// Seconds the show mode waits before each show (after the load, after
    /// the last show).
    #[arg(long, default_value_t = 2)]
    show_pause: u64,
    /// tern's binary for the show mode (default: next to tern-bench).
    #[arg(long)]
    tern: Option<PathBuf>,
    /// Hold time of every session in seconds, keepalives every third of it
    /// (default: 90; with --show 9, FRR's datacenter profile and ternd's
    /// default, the timers under which a busy daemon drops sessions).
    #[arg(long, value_parser = clap::value_parser!(u16).range(3..))]
    hold_time: Option<u16>,
}

/// One configuration of the scale mode: N peers x M prefixes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Config {
    peers: usize,
    prefixes: usize,
}

impl Config {
    /// "10x100000", "10x100k", "1x1M".
    fn parse(text: &str) -> Result<Config> {
        let t = text.trim();
        let (n, m) = t
            .split_once(['x', 'X'])
            .with_context(|| format!("--scale-configs: \"{t}\" is not NxM (e.g. 10x100000)"))?;
        let (digits, factor) = match m.strip_suffix(['k', 'K']) {
            Some(d) => (d, 1000),
            None => match m.strip_suffix('M') {
                Some(d) => (d, 1_000_000),
                None => (m, 1),
            },
        };
        let peers: usize = n
            .parse()
            .with_context(|| format!("--scale-configs: bad peer count in \"{t}\""))?;
        let prefixes = digits
            .parse::<usize>()
            .ok()
            .and_then(|d| d.checked_mul(factor))
            .with_context(|| format!("--scale-configs: bad prefix count in \"{t}\""))?;
        check_size(peers, prefixes, true)?;
        Ok(Config { peers, prefixes })
    }
}

/// Checks N and M; `shared`: the peers announce the same M prefixes.
fn check_size(peers: usize, prefixes: usize, shared: bool) -> Result<usize> {
    if peers == 0 || prefixes == 0 {
        bail!("the number of peers and of prefixes must be at least 1");
    }
    if peers > netns::MAX_PEERS {
        bail!("at most {} peers", netns::MAX_PEERS);
    }
    let total = if shared {
        Some(prefixes)
    } else {
        peers.checked_mul(prefixes)
    };
    total.filter(|t| *t <= prefixes::MAX).with_context(|| {
        format!(
            "{peers} x {prefixes}: at most {} distinct prefixes (the /24s from 100.64.0.0 to 126.255.255.0)",
            prefixes::MAX
        )
    })
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == show::CLIENT_WRAPPER) {
        return show::client_wrapper(argv.get(2..).unwrap_or_default());
    }
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
    if args.services {
        return services::run(args.markdown, args.keep, cancel);
    }
    if args.egress {
        return egress::run(args.markdown, cancel);
    }
    if args.show {
        return run_show(args, cancel);
    }
    let configs = if args.scale {
        args.scale_configs
            .iter()
            .map(|c| Config::parse(c))
            .collect::<Result<Vec<_>>>()?
    } else {
        check_size(args.peers, args.prefixes, false).context("--peers x --prefixes")?;
        vec![Config {
            peers: args.peers,
            prefixes: args.prefixes,
        }]
    };
    if configs.is_empty() {
        bail!("--scale-configs names no configuration");
    }
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and starts routing daemons");
    }
    let kinds = kinds(args.daemons.as_deref(), "ternd,frr,bird,bird-kernel,gobgp")?;
    let ternd = next_to_me(args.ternd, "ternd")?;
    // Every binary first: a missing one stops the bench before it starts.
    let mut programs = Vec::new();
    for k in &kinds {
        programs.push(k.programs(&ternd)?);
    }
    signals::watch(cancel.clone(), "tern-bench")?;
    let base = Params {
        peers: args.peers,
        prefixes: args.prefixes,
        timeout: Duration::from_secs(args.timeout),
        establish_timeout: Duration::from_secs(args.establish_timeout),
        settle: Duration::from_secs(args.settle),
        fib_poll: args.fib_poll,
        keep: args.keep,
        cancel: cancel.clone(),
        shared: args.scale,
        hold_time: args.hold_time.unwrap_or(peers::HOLD_TIME),
    };
    let load = table::load_average();
    let mut outcomes = Vec::new();
    // Each run's namespaces and work directory are named by this index.
    let mut index = 0;
    for config in &configs {
        let params = Params {
            peers: config.peers,
            prefixes: config.prefixes,
            ..base.clone()
        };
        eprintln!(
            "tern-bench: {} peers x {} prefixes{} = {} routes to the monitor, timeout {} s per daemon",
            config.peers,
            config.prefixes,
            if args.scale { " (shared)" } else { "" },
            params.total(),
            args.timeout
        );
        for (kind, progs) in kinds.iter().zip(&programs) {
            eprintln!("tern-bench: {} ...", kind.name());
            let o = measure::run(*kind, progs, &params, index)?;
            index += 1;
            eprintln!(
                "tern-bench: {}: converged {}, FIB {}, sessions down {}",
                kind.name(),
                report::mark(&o.converged, o.total),
                report::mark(&o.fib, o.total),
                o.down()
            );
            outcomes.push(o);
        }
    }
    let text = if args.scale {
        report::render_scale(&outcomes, &load, args.markdown)
    } else {
        report::render(&outcomes, args.peers, args.prefixes, &load, args.markdown)
    };
    print!("{text}");
    Ok(outcomes.iter().all(|o| !o.failed()))
}

/// The daemons named (or `default`), each once, in the bench's order.
fn kinds(named: Option<&[String]>, default: &str) -> Result<Vec<Kind>> {
    let default: Vec<String> = default.split(',').map(str::to_owned).collect();
    let mut kinds = Vec::new();
    for d in named.unwrap_or(&default) {
        let k = Kind::parse(d)?;
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.sort_by_key(|k| Kind::ALL.iter().position(|a| a == k));
    Ok(kinds)
}

/// `given`, or the binary `name` next to tern-bench's own.
fn next_to_me(given: Option<PathBuf>, name: &str) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p),
        None => Ok(std::env::current_exe()
            .context("locating tern-bench's own binary")?
            .with_file_name(name)),
    }
}

/// The show mode: for each daemon, one run that loads the table and then
/// times the shows (see show.rs); Ok(false) when a load or a show failed.
fn run_show(args: Args, cancel: Arc<AtomicBool>) -> Result<bool> {
    let peers = args.show_peers;
    let routes = args.show_routes;
    check_size(peers, 1, false).context("--show-peers")?;
    if routes == 0 || !routes.is_multiple_of(peers) {
        bail!("--show-routes ({routes}) must be a positive multiple of --show-peers ({peers})");
    }
    let prefixes = routes / peers;
    check_size(peers, prefixes, false).context("--show-routes")?;
    if !nix::unistd::geteuid().is_root() {
        bail!("run it as root: it creates network namespaces and starts routing daemons");
    }
    let kinds = kinds(args.daemons.as_deref(), "ternd,frr")?;
    if let Some(k) = kinds.iter().find(|k| !matches!(k, Kind::Ternd | Kind::Frr)) {
        bail!("the show mode runs ternd and frr, not {}", k.name());
    }
    let ternd = next_to_me(args.ternd, "ternd")?;
    let mut programs = Vec::new();
    for k in &kinds {
        programs.push(k.programs(&ternd)?);
    }
    let commands: Vec<String> = args
        .shows
        .iter()
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty())
        .collect();
    if commands.is_empty() {
        bail!("--shows names no command");
    }
    let spec = show::Spec {
        commands,
        tern: next_to_me(args.tern, "tern")?,
        wrapper: std::env::current_exe().context("locating tern-bench's own binary")?,
        total: routes,
        peers,
        hold_time: args.hold_time.unwrap_or(9),
        pause: Duration::from_secs(args.show_pause),
        cancel: cancel.clone(),
    };
    show::check_clients(&kinds, &spec)?;
    signals::watch(cancel.clone(), "tern-bench")?;
    let hold_time = spec.hold_time;
    let params = Params {
        peers,
        prefixes,
        timeout: Duration::from_secs(args.timeout),
        establish_timeout: Duration::from_secs(args.establish_timeout),
        settle: Duration::from_secs(args.settle),
        fib_poll: args.fib_poll,
        keep: args.keep,
        cancel: cancel.clone(),
        shared: false,
        hold_time,
    };
    let load = table::load_average();
    eprintln!(
        "tern-bench: show mode: {peers} peers x {prefixes} prefixes = {routes} routes, hold time {hold_time} s, shows: {}",
        spec.commands.join(", ")
    );
    let mut outcomes = Vec::new();
    let mut loads = Vec::new();
    let mut shows = Vec::new();
    for (index, (kind, progs)) in kinds.iter().zip(&programs).enumerate() {
        eprintln!("tern-bench: {} ...", kind.name());
        let mut loaded = None;
        let o = measure::run_with(*kind, progs, &params, index, &mut |l| {
            show::run_shows(l, &spec, &mut loaded, &mut shows)
        })?;
        loads.push(loaded.unwrap_or_else(|| show::Load {
            kind: o.kind,
            version: o.version.clone(),
            converged: o.converged.clone(),
            fib: o.fib.clone(),
            peak_rss_mb: o.peak_rss_mb,
            rss_mb: Vec::new(),
        }));
        outcomes.push(o);
    }
    print!(
        "{}",
        report::render_show(&outcomes, &loads, &shows, &spec, &load, args.markdown)
    );
    let loaded_all = loads
        .iter()
        .all(|l| matches!(l.converged, measure::Mark::Done(_)));
    Ok(loaded_all
        && shows.len() == kinds.len() * spec.commands.len()
        && shows.iter().all(|s| !s.failed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_configs_parse() {
        let c = |t: &str| Config::parse(t).ok();
        assert_eq!(
            c("10x100000"),
            Some(Config {
                peers: 10,
                prefixes: 100_000
            })
        );
        assert_eq!(c("30x100k"), c("30x100000"));
        assert_eq!(
            c(" 1x1M"),
            Some(Config {
                peers: 1,
                prefixes: 1_000_000
            })
        );
        for bad in [
            "10", "x100", "0x10", "10x0", "10xk", "10x2M", "300x10", "ax10",
        ] {
            assert!(c(bad).is_none(), "{bad}");
        }
    }
}
