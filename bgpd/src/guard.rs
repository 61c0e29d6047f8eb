//! The stale-state guard: what a ternd leaves running when it ends without
//! cleaning up (killed, a core task died, or stopped for a restart with
//! graceful restart configured) is taken away if no ternd of the instance
//! comes back within the restart time.
//!
//! A killed ternd leaves its routes in the kernel (IPv4 routes cannot
//! expire on their own) and its pinned eBPF datapath attached, which is
//! what lets pods and the fabric carry on while the next ternd starts. If
//! none starts, that state would stay for ever while the peers dropped the
//! node's routes after the restart time. ternd therefore starts a small
//! process of its own, `ternd --stale-guard SECS`, in its namespaces, and
//! holds the write end of a pipe that is the guard's standard input. When
//! that pipe closes without the word `clean` (ternd ended and left its
//! state), the guard waits up to SECS for a ternd to answer on the
//! instance's control socket. If one does, it has taken over and the
//! guard exits. If none does, the guard removes Tern's routes and nexthop
//! objects, the instance's pins (which detaches the programs) and the
//! VXLAN device with its fragmentation rule, as a clean stop would have.
use std::{
    io::{Read, Write},
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    time::{Duration, Instant},
};

use crate::datapath::{FRAG_MARK, FRAG_RULE_PRIORITY, FRAG_TABLE, VXLAN_DEVICE};

/// What ternd writes to the guard before a stop that cleaned up.
const CLEAN: &[u8] = b"clean\n";

/// ternd's side: the guard process and the pipe it watches.
#[derive(Debug)]
pub struct Guard {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Guard {
    /// Starts the guard of this ternd (the same executable, in the same
    /// namespaces) for `restart_time` seconds.
    pub fn spawn(
        instance: Option<&str>,
        bpffs: &Path,
        restart_time: u16,
    ) -> std::io::Result<Guard> {
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("--stale-guard")
            .arg(restart_time.to_string())
            .arg("--bpffs")
            .arg(bpffs);
        if let Some(n) = instance {
            cmd.args(["-N", n]);
        }
        // Its own process group: a Ctrl-C or a group signal meant for
        // ternd must not take the guard along.
        use std::os::unix::process::CommandExt;
        let mut child = cmd.stdin(Stdio::piped()).process_group(0).spawn()?;
        let pipe = child.stdin.take();
        Ok(Guard { child, pipe })
    }

    /// ternd stops having removed its state itself: the guard exits.
    pub fn stand_down(mut self) {
        if let Some(mut p) = self.pipe.take() {
            let _ = p.write_all(CLEAN);
        }
        let _ = self.child.wait();
    }

    /// ternd stops and leaves its state to the next ternd: the guard
    /// keeps watch (the pipe closes without `clean`).
    pub fn keep_watch(mut self) {
        drop(self.pipe.take());
    }
}

/// Closes every descriptor but the standard three: what the guard
/// inherited from ternd (its control socket, its BGP port) must not
/// outlive ternd, or a new ternd could not bind them, and the guard would
/// take its own copy of the control socket for a ternd that answers.
pub fn close_inherited() {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|fd| *fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // The directory's own descriptor is among them, already closed.
        let _ = nix::unistd::close(fd);
    }
}

/// The guard process (`ternd --stale-guard SECS`). Returns when ternd
/// stood it down, when a new ternd took over, or after the clean-up.
pub fn run(socket: &Path, pins: &Path, restart_time: Duration) -> anyhow::Result<()> {
    let mut said = Vec::new();
    // Blocks until ternd ends, one way or another.
    let _ = std::io::stdin().lock().read_to_end(&mut said);
    if said.ends_with(CLEAN) {
        return Ok(());
    }
    let deadline = Instant::now() + restart_time;
    tracing::info!(
        secs = restart_time.as_secs(),
        socket = %socket.display(),
        "ternd ended and left its routes and datapath: waiting for a ternd to take them over"
    );
    loop {
        if crate::server::answers(socket) {
            tracing::info!("a new ternd answers: it has taken over; the guard exits");
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    tracing::warn!(
        secs = restart_time.as_secs(),
        "no ternd came back within the restart time: removing the routes and the datapath it left"
    );
    clean_up(pins)
}

fn clean_up(pins: &Path) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let nl = tern_netlink::Netlink::open()?;
        let mut errors = Vec::new();
        if let Err(e) = nl.purge(tern_netlink::TERN_PROTO).await {
            errors.push(format!("routes: {e}"));
        }
        // Unpinning the links detaches the programs; the maps go with
        // their last user.
        match std::fs::remove_dir_all(pins) {
            Ok(()) => tracing::info!(pins = %pins.display(), "pins removed"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => errors.push(format!("pins {}: {e}", pins.display())),
        }
        if let Err(e) = nl
            .frag_rule_delete(FRAG_MARK, FRAG_TABLE, FRAG_RULE_PRIORITY)
            .await
        {
            errors.push(format!("fragmentation rule: {e}"));
        }
        if let Err(e) = nl.link_delete(VXLAN_DEVICE).await {
            errors.push(format!("{VXLAN_DEVICE}: {e}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("clean-up incomplete: {}", errors.join("; "))
        }
    })
}
