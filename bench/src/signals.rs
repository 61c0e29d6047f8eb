//! Ctrl-C and SIGTERM for the benchmark binaries: a flag the run checks,
//! so that it stops and cleans up (namespaces, daemons by pid) instead of
//! dying half-way.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

/// Sets `cancel` on SIGINT or SIGTERM (from a thread of its own); `program`
/// names the binary in the message. Registered before anything starts, so
/// that no signal is missed.
pub fn watch(cancel: Arc<AtomicBool>, program: &'static str) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    let mut term = rt
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        })
        .context("watching SIGTERM")?;
    let mut int = rt
        .block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        })
        .context("watching SIGINT")?;
    std::thread::Builder::new()
        .name("bench-signals".into())
        .spawn(move || {
            rt.block_on(async {
                loop {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                    cancel.store(true, Ordering::SeqCst);
                    eprintln!("{program}: interrupted, cleaning up");
                }
            });
        })
        .context("starting the signal thread")?;
    Ok(())
}
