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
    // Who is asking (SO_PEERCRED): passwords are shown to root only.
    let root = stream.peer_cred().is_ok_and(|c| c.uid() == 0);
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
                let shown = crate::config::mask_secrets(&line);
                tracing::info!(line = %shown, "config line");
                daemon.lock().await.configure(&mut session, &line).await
            }
            Ok(Request::ShowRunningConfig) => daemon.lock().await.running_config(root),
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

/// The show and clear requests of `show ip bgp`, `show bgp neighbors`,
/// `show ip route` and `clear bgp`.
pub async fn show(daemon: &mut Daemon, req: Request) -> Reply {
    use crate::speaker::show::family;
    let speaker = daemon.bgp.as_ref().map(|b| b.speaker.clone());
    let answer = match (req, speaker) {
        (Request::ShowRoutes { ipv6 }, speaker) => routes(daemon, ipv6, speaker).await,
        (Request::ShowBgpRoutes { .. }, None) => Ok(Reply::BgpTable(Default::default())),
        (Request::ShowBgpNeighbors { .. }, None) => Ok(Reply::BgpNeighbors {
            configured: false,
            neighbors: Vec::new(),
        }),
        (Request::ClearBgp { .. }, None) => Err("No BGP process is configured".to_owned()),
        (
            Request::ShowBgpRoutes {
                family: f,
                prefix,
                longest_match,
            },
            Some(sp),
        ) => sp
            .routes(family(f), prefix, longest_match)
            .await
            .map(Reply::BgpTable),
        (Request::ShowBgpNeighbors { address }, Some(sp)) => {
            sp.neighbors(address)
                .await
                .map(|neighbors| Reply::BgpNeighbors {
                    configured: true,
                    neighbors,
                })
        }
        (Request::ClearBgp { address, mode }, Some(sp)) => sp
            .clear(address, mode)
            .await
            .map(|neighbors| Reply::Cleared { neighbors }),
        (other, _) => Err(format!("not a show request: {other:?}")),
    };
    answer.unwrap_or_else(|message| Reply::Error { message })
}

/// zebra's administrative distance of BGP routes: eBGP 20, iBGP 200.
const DISTANCE_EBGP: u8 = 20;
const DISTANCE_IBGP: u8 = 200;

/// The kernel's main table as zebra shows it: connected routes from the
/// addresses of the interfaces that are up (not the kernel's own
/// `proto kernel` routes, which zebra ignores), then every other route
/// with its protocol: Tern's (202) as bgp, `proto static` as static, the
/// rest as kernel.
async fn routes(
    daemon: &mut Daemon,
    ipv6: bool,
    speaker: Option<crate::speaker::SpeakerHandle>,
) -> Result<Reply, String> {
    use tern_control::{FibNextHop, FibRoute};
    let links = daemon
        .netlink
        .links()
        .await
        .map_err(|e| format!("cannot read interfaces: {e}"))?;
    let kernel = daemon
        .netlink
        .kernel_routes(None, Some(tern_netlink::RT_TABLE_MAIN))
        .await
        .map_err(|e| format!("cannot read routes: {e}"))?;
    let name_of = |i: u32| links.iter().find(|l| l.index == i).map(|l| l.name.clone());
    let mut out: Vec<FibRoute> = Vec::new();
    for l in links
        .iter()
        .filter(|l| l.admin_up && (l.lower_up || l.loopback))
    {
        for a in &l.addresses {
            if a.addr().is_ipv6() != ipv6 || a.addr().is_loopback() {
                continue;
            }
            let hop = FibNextHop {
                gateway: None,
                ifindex: Some(l.index),
                ifname: Some(l.name.clone()),
                weight: 1,
            };
            let prefix = a.trunc();
            match out.iter_mut().find(|r| r.prefix == prefix) {
                Some(r) => r.nexthops.push(hop),
                None => out.push(FibRoute {
                    prefix,
                    protocol: "connected".into(),
                    distance: 0,
                    metric: 0,
                    table: tern_netlink::RT_TABLE_MAIN,
                    nexthops: vec![hop],
                    uptime_secs: None,
                }),
            }
        }
    }
    // iBGP or eBGP (the distance of Tern's routes) and the best path's
    // MED (zebra's metric of a BGP route; the kernel's priority is the
    // distance).
    let family = if ipv6 {
        tern_control::BgpFamily::Ipv6Unicast
    } else {
        tern_control::BgpFamily::Ipv4Unicast
    };
    let mut best = std::collections::HashMap::new();
    if let Some(sp) = speaker
        && kernel
            .iter()
            .any(|k| k.protocol == tern_netlink::TERN_PROTO)
        && let Ok(t) = sp
            .routes(crate::speaker::show::family(family), None, false)
            .await
    {
        for r in t.routes {
            if let Some(p) = r.paths.first().filter(|p| p.best) {
                let since = p.last_update.as_ref().map(|u| u.epoch);
                best.insert(r.prefix, (p.internal, p.med.unwrap_or(0), since));
            }
        }
    }
    let now = crate::rib::unix_now();
    for k in kernel {
        let r = &k.route;
        if r.prefix.addr().is_ipv6() != ipv6 || k.protocol == 2 {
            continue;
        }
        let (protocol, distance, metric, since) = match k.protocol {
            tern_netlink::TERN_PROTO => match best.get(&r.prefix) {
                Some((true, med, since)) => ("bgp", DISTANCE_IBGP, *med, *since),
                Some((false, med, since)) => ("bgp", DISTANCE_EBGP, *med, *since),
                None => ("bgp", DISTANCE_EBGP, 0, None),
            },
            4 => ("static", 1, r.metric, None),
            _ => ("kernel", 0, r.metric, None),
        };
        out.push(FibRoute {
            prefix: r.prefix,
            protocol: protocol.into(),
            distance,
            metric,
            table: r.table,
            nexthops: r
                .nexthops
                .iter()
                .map(|h| FibNextHop {
                    gateway: h.gateway.map(|g| g.to_string()),
                    ifindex: h.ifindex,
                    ifname: h.ifindex.and_then(name_of),
                    weight: h.weight,
                })
                .collect(),
            uptime_secs: since.map(|t| now.saturating_sub(t)),
        });
    }
    out.sort_by_key(|r| r.prefix);
    Ok(Reply::Routes { routes: out })
}
