//! ternd: Tern's per-node daemon.
//!
//! `ternd [-N NAME] [-f FILE] [-C]`: reads the FRR-style config (refusing the
//! whole file on any bad line, with file:line and a reason), attaches the
//! eBPF counters to the interfaces it names, and serves the control socket
//! for `tern`. -N selects an instance, as FRR's daemons do: its socket,
//! default config path and bpffs pins carry the name.
use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Instant};

use clap::Parser;
use tern_bgpd::{config::Config, daemon::Daemon, server};
use tokio::sync::Mutex;

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(n) = &args.instance
        && let Err(e) = tern_control::validate_instance(n)
    {
        eprintln!("ternd: {e}");
        return ExitCode::from(2);
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
    init_logging(&config);
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
            Ok(())
        }
        Err(e) => Err(format!(
            "bpffs is not mounted on {shown} and mounting it failed ({e}): \
             run ternd as root, or mount it first: mount -t bpf bpf {shown}"
        )),
    }
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let default = config.log_level.map_or("info", |l| l.tracing_directive());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

async fn run(args: Args, config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    use anyhow::Context;
    let instance = args.instance.clone();
    let socket = tern_control::socket_path(instance.as_deref())?;
    let pins = tern_ebpf::pin_dir(&args.bpffs, instance.as_deref().unwrap_or("default"));
    ensure_bpffs(&args.bpffs).map_err(|e| anyhow::anyhow!(e))?;
    // Bind first: a second daemon of the same instance stops here, before
    // it touches the first one's pins.
    let listener = server::bind(&socket)?;
    let counters = tern_ebpf::CounterPrograms::load(Some(&pins))
        .context("cannot load the eBPF counter programs (root and bpffs needed)")?;
    let netlink = tern_netlink::Netlink::open()?;
    let netlink_for_stop = netlink.clone();
    let bgp = match &config.bgp {
        None => None,
        Some(b) => Some(tern_bgpd::bgp_runtime::BgpRuntime::start(&config, b, &netlink).await?),
    };
    let daemon = Daemon {
        config,
        config_file: config_path.clone(),
        instance: instance.clone(),
        started: Instant::now(),
        netlink,
        counters,
        bgp,
        endpoints: tern_bgpd::endpoints::Registry::load(
            tern_control::run_dir(instance.as_deref())?.join(tern_bgpd::endpoints::STATE_FILE),
        ),
        datapath: None,
        pins: pins.clone(),
    };
    // Attach the counters to the interfaces that exist now, before the
    // first client can ask (the reconcile loop follows later changes).
    let mut daemon = daemon;
    match daemon.netlink.links().await {
        Ok(links) => {
            daemon.reconcile_counters(&links);
            daemon.endpoints.prune(&links);
            if let Some(save) = daemon.endpoints.unsaved()
                && let Err(e) = save.write()
            {
                tracing::warn!(error = %e, "cannot save the endpoint registry");
            }
        }
        Err(e) => tracing::warn!(error = %e, "link dump failed"),
    }
    let dp_config = daemon.config.datapath.clone();
    daemon.datapath_apply(&dp_config).await?;
    let daemon = Arc::new(Mutex::new(daemon));
    tracing::info!(
        instance = instance.as_deref().unwrap_or("-"),
        config = %config_path.display(),
        socket = %socket.display(),
        "ternd started"
    );

    // Reconcile loop: until the link watch lands, poll links once a second
    // so counters follow interfaces that appear, vanish or are re-created.
    let reconciler = {
        let daemon = daemon.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                tick.tick().await;
                let save = {
                    let mut d = daemon.lock().await;
                    match d.netlink.links().await {
                        Ok(links) => {
                            d.reconcile_counters(&links);
                            d.endpoints.prune(&links);
                            let cfg = d.config.datapath.clone();
                            d.datapath_reconcile_with(&cfg, &links).await;
                        }
                        Err(e) => tracing::warn!(error = %e, "link dump failed"),
                    }
                    d.endpoints.unsaved()
                };
                // Written without the daemon's lock.
                if let Some(save) = save
                    && let Err(e) = save.write_async().await
                {
                    tracing::warn!(error = %e, "cannot save the endpoint registry");
                }
            }
        })
    };
    let follower = tokio::spawn(tern_bgpd::datapath::follow(daemon.clone()));
    let server = tokio::spawn(server::serve(listener, daemon.clone()));

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
    }
    // Cease the BGP sessions, then take Tern's routes out of the kernel;
    // with graceful restart configured, leave both to the next ternd.
    let (bgp, graceful) = {
        let mut d = daemon.lock().await;
        let graceful = d
            .config
            .bgp
            .as_ref()
            .is_some_and(|b| b.graceful_restart.enabled);
        (d.bgp.take(), graceful)
    };
    match bgp {
        Some(b) if graceful => b.stop_for_restart().await,
        Some(b) => b.stop(&netlink_for_stop).await,
        None => {}
    }
    server.abort();
    reconciler.abort();
    follower.abort();
    // Wait for the tasks to drop their share of the daemon.
    let _ = server.await;
    let _ = reconciler.await;
    let _ = follower.await;
    let _ = std::fs::remove_file(&socket);
    if instance.is_some()
        && let Some(dir) = socket.parent()
    {
        let _ = std::fs::remove_dir(dir);
    }
    let datapath = daemon.lock().await.datapath.take();
    if let Some(dp) = datapath {
        dp.shutdown().await;
    }
    daemon.lock().await.counters.shutdown();
    drop(daemon);
    let _ = std::fs::remove_dir(&pins);
    tracing::info!("ternd stopped");
    Ok(())
}
