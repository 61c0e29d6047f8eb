//! The control socket: a Unix stream socket at /run/tern[/NAME]/ternd.sock,
//! mode 0660, group `tern`, speaking tern-control's JSON lines.
//!
//! A client that sends garbage gets an error reply; one that sends a line
//! longer than the protocol allows is answered and disconnected. Neither
//! disturbs the daemon or other clients.
use std::{
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
};

use tern_control::{MAX_LINE, Reply, Request};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{Mutex, Semaphore},
};

use crate::daemon::Daemon;

/// Most clients served at once; more are turned away.
const MAX_CLIENTS: usize = 64;

/// Errors setting up the socket.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("another ternd already serves {0}")]
    InUse(PathBuf),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Binds the control socket, replacing a stale one left by a dead daemon.
pub fn bind(path: &Path) -> Result<UnixListener, ServerError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(|source| ServerError::Io {
        what: "creating",
        path: dir.to_owned(),
        source,
    })?;
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServerError::InUse(path.to_owned()));
        }
        std::fs::remove_file(path).map_err(|source| ServerError::Io {
            what: "removing stale socket",
            path: path.to_owned(),
            source,
        })?;
    }
    let listener = UnixListener::bind(path).map_err(|source| ServerError::Io {
        what: "binding",
        path: path.to_owned(),
        source,
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(|source| {
        ServerError::Io {
            what: "setting mode of",
            path: path.to_owned(),
            source,
        }
    })?;
    match nix::unistd::Group::from_name("tern") {
        Ok(Some(g)) => {
            if let Err(e) = nix::unistd::chown(path, None, Some(g.gid)) {
                tracing::warn!(error = %e, "cannot give the control socket to group tern");
            }
        }
        _ => tracing::warn!("group tern does not exist: only root may use the control socket"),
    }
    Ok(listener)
}

/// Serves clients until the listener fails.
pub async fn serve(listener: UnixListener, daemon: Arc<Mutex<Daemon>>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!("too many control clients; turning one away");
            continue;
        };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            if let Err(e) = client(stream, daemon).await {
                tracing::debug!(error = %e, "control client ended");
            }
            drop(permit);
        });
    }
}

async fn client(stream: UnixStream, daemon: Arc<Mutex<Daemon>>) -> io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let mut line = Vec::new();
    // This connection's config mode (`configure terminal` in tern).
    let mut session = crate::config::ConfigSession::default();
    loop {
        line.clear();
        let n = (&mut rd)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        let too_long = line.last() != Some(&b'\n') && line.len() > MAX_LINE;
        if too_long {
            let reply = Reply::Error {
                message: format!("request longer than {MAX_LINE} bytes"),
            };
            send(&mut wr, &reply).await?;
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let reply = match serde_json::from_slice::<Request>(&line) {
            Ok(Request::ConfigLine { line }) => {
                tracing::info!(%line, "config line");
                daemon.lock().await.configure(&mut session, &line).await
            }
            Ok(req) => {
                tracing::debug!(?req, "control request");
                daemon.lock().await.handle(req).await
            }
            Err(e) => Reply::Error {
                message: format!("malformed request: {e}"),
            },
        };
        send(&mut wr, &reply).await?;
    }
}

async fn send(wr: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> io::Result<()> {
    let mut buf = serde_json::to_vec(reply).map_err(io::Error::other)?;
    buf.push(b'\n');
    wr.write_all(&buf).await
}
