//! ternd: Tern's per-node daemon.
//!
//! `ternd [-N NAME] [-f FILE] [-C]`: reads the FRR-style config (refusing the
//! whole file on any bad line, with file:line and a reason), attaches the
//! eBPF counters to the interfaces it names, and serves the control socket
//! for `tern`. -N selects an instance, as FRR's daemons do: its socket,
//! default config path and bpffs pins carry the name.
//!
//! Signals: SIGTERM and SIGINT stop it cleanly; SIGHUP re-reads the config
//! file and applies the difference live, as config lines are (a file that
//! does not parse is refused with file:line and a reason in the log and
//! changes nothing). A core task that ends while ternd runs (a panic) makes
//! it exit with status 70 and `ternd: task NAME ended unexpectedly: REASON`,
//! for systemd or the lab to start a fresh one.
use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use clap::Parser;
use tern_bgpd::{
    config::Config,
    daemon::{Daemon, Start, actor::DaemonHandle},
    server,
};

#[derive(Parser, Debug)]
#[command(name = "ternd", version, about = "Tern routing daemon")]
struct Args {
    /// Instance name (like FRR's -N): socket /run/tern/NAME/ternd.sock,
    /// default config /etc/tern/NAME/ternd.conf.
    #[arg(short = 'N', long = "pathspace")]
    instance: Option<String>,
    /// Configuration file.
    #[arg(short = 'f', long = "config_file")]
    config: Option<PathBuf>,
    /// Check the configuration file and exit (like FRR's -C).
    #[arg(short = 'C', long = "dryrun")]
    check: bool,
    /// Where bpffs is mounted.
    #[arg(long, default_value = "/sys/fs/bpf")]
    bpffs: PathBuf,
    /// (internal) Run as the stale-state guard of the instance's ternd
    /// with this restart time in seconds (see tern_bgpd::guard).
    #[arg(long, value_name = "SECS", hide = true)]
    stale_guard: Option<u16>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(n) = &args.instance
        && let Err(e) = tern_control::validate_instance(n)
    {
        eprintln!("ternd: {e}");
        return ExitCode::from(2);
    }
    if let Some(secs) = args.stale_guard {
        return stale_guard(&args, secs);
    }
    let config_path = args.config.clone().unwrap_or_else(|| match &args.instance {
        Some(n) => PathBuf::from("/etc/tern").join(n).join("ternd.conf"),
        None => PathBuf::from("/etc/tern/ternd.conf"),
    });
    let config = match Config::load(&config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ternd: {e}");
            eprintln!("ternd: not started: fix the configuration");
            return ExitCode::FAILURE;
        }
    };
    if args.check {
        println!("ternd: {} is valid", config_path.display());
        return ExitCode::SUCCESS;
    }
    tern_bgpd::logging::init(&config);
    install_panic_hook();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ternd: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args, config_path, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log and stderr are the same stream.
            eprintln!("ternd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The instance's bpffs folder (its pins), which its guard removes too.
fn pin_dir(args: &Args) -> PathBuf {
    tern_ebpf::pin_dir(&args.bpffs, args.instance.as_deref().unwrap_or("default"))
}

/// `ternd --stale-guard SECS`: the guard process ternd starts (see
/// [`tern_bgpd::guard`]); it logs to ternd's standard error.
fn stale_guard(args: &Args, secs: u16) -> ExitCode {
    tern_bgpd::guard::close_inherited();
    tern_bgpd::logging::init(&Config::default());
    let socket = match tern_control::socket_path(args.instance.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ternd: stale guard: {e}");
            return ExitCode::from(2);
        }
    };
    let pins = pin_dir(args);
    let wait = std::time::Duration::from_secs(u64::from(secs));
    match tern_bgpd::guard::run(&socket, &pins, wait) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("stale guard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Makes sure bpffs is mounted on `path`, mounting it when it is not (as
/// Cilium's agent does): `ip netns exec` gives the process a fresh /sys
/// without it. The mount lands in ternd's own mount namespace, which is
/// the netns's private one under `ip netns exec`. The error names the
/// cause and the fix in one line.
fn ensure_bpffs(path: &std::path::Path) -> Result<(), String> {
    use nix::sys::statfs::{BPF_FS_MAGIC, statfs};
    let shown = path.display();
    if statfs(path).is_ok_and(|s| s.filesystem_type() == BPF_FS_MAGIC) {
        return Ok(());
    }
    let mounted = std::fs::create_dir_all(path)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            nix::mount::mount(
                Some("bpf"),
                path,
                Some("bpf"),
                nix::mount::MsFlags::empty(),
                Some("mode=0700"),
            )
            .map_err(|e| e.desc().to_owned())
        });
    match mounted {
        Ok(()) => {
            tracing::info!(path = %shown, "bpffs was not mounted: mounted it");
            tracing::warn!(
                "this bpffs is this ternd's own (ip netns exec hides the host's): its pinned \
                 datapath dies with it and a restart cannot adopt it; start ternd with \
                 `nsenter --net=/run/netns/NS` to keep the host's bpffs"
            );
            Ok(())
        }
        Err(e) => Err(format!(
            "bpffs is not mounted on {shown} and mounting it failed ({e}): \
             run ternd as root, or mount it first: mount -t bpf bpf {shown}"
        )),
    }
}

/// Exit status of a ternd whose core task ended (EX_SOFTWARE).
const EXIT_TASK_DIED: i32 = 70;

/// Panics are logged with their place and kept for the supervisors'
/// report (the default hook still prints its own lines).
fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %msg, location = %at.trim_start(), "panic");
        tern_bgpd::bgp_runtime::record_panic(format!("{msg}{at}"));
        default(info);
    }));
}

/// A core task ended: say which and why, and exit at once (no clean
/// stop: the next ternd purges or, with graceful restart, keeps the
/// routes this one leaves).
fn task_died(task: &str, reason: &str) -> ! {
    tracing::error!(task, reason, "core task ended unexpectedly: exiting");
    eprintln!("ternd: task {task} ended unexpectedly: {reason}");
    std::process::exit(EXIT_TASK_DIED)
}

/// SIGHUP: the config file, read outside the daemon's task, becomes the
/// running configuration through the same reconciliation as config lines.
async fn reload(daemon: &DaemonHandle, path: &Path) {
    let file = path.to_owned();
    let loaded = tokio::task::spawn_blocking(move || Config::load(&file)).await;
    let new = match loaded {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::error!("SIGHUP: {e}; reload refused, the running configuration is unchanged");
            return;
        }
        Err(e) => {
            tracing::error!("SIGHUP: reading the config failed: {e}");
            return;
        }
    };
    match daemon.reload(new).await {
        Ok(()) => tracing::info!(config = %path.display(), "SIGHUP: configuration reloaded"),
        Err(e) => {
            tracing::error!("SIGHUP: {e}; reload refused, the running configuration is unchanged")
        }
    }
}

async fn run(args: Args, config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    // Before the socket exists: a SIGHUP sent once it is there must not
    // find the default action (exit).
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut deaths = tern_bgpd::bgp_runtime::task_deaths();
    let instance = args.instance.clone();
    let socket = tern_control::socket_path(instance.as_deref())?;
    let pins = pin_dir(&args);
    ensure_bpffs(&args.bpffs).map_err(|e| anyhow::anyhow!(e))?;
    // Bind first: a second daemon of the same instance stops here, before
    // it touches the first one's pins.
    let listener = server::bind(&socket)?;
    // What peers give us to come back is what the guard waits.
    let restart_time = config
        .bgp
        .as_ref()
        .map_or(tern_bgp::config::model::DEFAULT_RESTART_TIME, |b| {
            b.graceful_restart.restart_time()
        });
    // Before anything is pinned or installed: what a ternd that dies
    // from here on leaves is watched.
    let guard = match tern_bgpd::guard::Guard::spawn(instance.as_deref(), &args.bpffs, restart_time)
    {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start the stale-state guard: a killed ternd's routes stay until the next ternd");
            None
        }
    };
    let daemon = Daemon::start(Start {
        config,
        config_file: config_path.clone(),
        instance: instance.clone(),
        pins: pins.clone(),
    })
    .await?;
    let (endpoints, loc_rib, vpn_routes) = daemon.subscriptions();
    let (daemon, mut daemon_task) = tern_bgpd::daemon::actor::spawn(daemon);
    tracing::info!(
        instance = instance.as_deref().unwrap_or("-"),
        config = %config_path.display(),
        socket = %socket.display(),
        "ternd started"
    );

    // Until the link watch lands, the interfaces are followed once a
    // second, so counters follow interfaces that appear, vanish or are
    // re-created.
    let mut reconciler = tokio::spawn(daemon.clone().tick_every_second());
    let mut follower = tokio::spawn(daemon.clone().follow(endpoints, loc_rib, vpn_routes));
    // Services and the egress gateway share the conntrack map: collected
    // whenever a datapath is loaded (its map pinned), whichever uses it.
    let collector = tokio::spawn(tern_bgpd::services::collect_conntrack(pins.clone()));
    let mut server = tokio::spawn(server::serve(listener, daemon.clone()));

    use tern_bgpd::bgp_runtime::end_reason;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM: shutting down");
                break;
            }
            _ = tokio::signal::ctrl_c() => {
                tracing::info!("SIGINT: shutting down");
                break;
            }
            _ = hup.recv() => reload(&daemon, &config_path).await,
            r = &mut server => task_died("control server", &end_reason(r).unwrap_or_default()),
            r = &mut reconciler => {
                task_died("interface reconcile", &end_reason(r).unwrap_or_default())
            }
            r = &mut follower => task_died("datapath follow", &end_reason(r).unwrap_or_default()),
            r = &mut daemon_task => task_died("daemon", &end_reason(r).unwrap_or_default()),
            Some(d) = deaths.recv() => task_died(d.task, &d.reason),
        }
    }
    // The tasks that ask the daemon stop first; then the daemon hands its
    // state back for the shutdown sequence.
    server.abort();
    reconciler.abort();
    follower.abort();
    collector.abort();
    let _ = server.await;
    let _ = reconciler.await;
    let _ = follower.await;
    let Some(d) = daemon.stop().await else {
        anyhow::bail!("the daemon's task is gone: cannot stop cleanly");
    };
    let left_running = d.shutdown().await;
    if let Some(g) = guard {
        if left_running {
            g.keep_watch();
        } else {
            g.stand_down();
        }
    }
    let _ = std::fs::remove_file(&socket);
    if instance.is_some()
        && let Some(dir) = socket.parent()
    {
        let _ = std::fs::remove_dir(dir);
    }
    tracing::info!("ternd stopped");
    Ok(())
}
