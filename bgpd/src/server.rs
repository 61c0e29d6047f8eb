//! The control socket: a Unix stream socket at /run/tern[/NAME]/ternd.sock,
//! mode 0660, group `tern`, speaking tern-control's JSON lines.
//!
//! A client that sends garbage gets an error reply; one that sends a line
//! longer than [`MAX_REQUEST`] is answered and disconnected. Neither disturbs
//! the daemon or other clients.
//!
//! No client can wedge the socket. A connection must send its first request
//! within [`REQUEST_TIMEOUT`], finish any request it starts within it, and
//! read its answer (no progress for that long closes it). Connections are
//! served from two pools: [`MAX_SESSIONS`] for `tern` and other clients,
//! [`MAX_REGISTRATIONS`] for tern-cni's endpoint requests, so that shells
//! never keep a pod from starting. Between requests a connection keeps its
//! slot (an interactive `tern` keeps one connection and its config mode
//! while the operator thinks) until a new client needs the slot: then the
//! connection idle the longest (at least [`REQUEST_TIMEOUT`]) is closed. When
//! a pool is full of busy clients, a new one is answered
//! `ternd: too many control connections (N); try again` and closed.
use std::{
    collections::HashMap,
    io,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use tern_control::{MAX_REQUEST, REQUEST_TIMEOUT, Reply, Request};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        UnixListener, UnixStream,
        unix::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{Notify, Semaphore},
};

use crate::{daemon::actor::DaemonHandle, route_table};

/// Connections served at once for `tern` and other clients.
pub const MAX_SESSIONS: usize = 64;

/// Connections served at once for tern-cni's endpoint requests, besides.
pub const MAX_REGISTRATIONS: usize = 16;

/// Connections that have not sent their first request yet.
pub const MAX_PENDING: usize = 128;

/// Bytes of an answer written at a time; each piece must be taken by the
/// client within [`REQUEST_TIMEOUT`].
const WRITE_CHUNK: usize = 64 * 1024;

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

/// Whether a ternd answers a request on the control socket at `path`. A
/// connection alone proves nothing: a ternd being killed still takes one
/// until the last of its threads is gone, and never answers it.
pub fn answers(path: &Path) -> bool {
    use std::io::{BufRead, Write};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return false;
    };
    let limit = Some(std::time::Duration::from_secs(3));
    let _ = s.set_read_timeout(limit);
    let _ = s.set_write_timeout(limit);
    if s.write_all(b"{\"request\":\"show-version\"}\n").is_err() {
        return false;
    }
    let mut line = String::new();
    io::BufReader::new(s)
        .read_line(&mut line)
        .is_ok_and(|n| n > 0)
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
        if answers(path) {
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

/// Slots of one kind of client: members are busy (serving a request) or
/// idle since some instant; an idle one gives up its slot to a newcomer.
#[derive(Debug)]
struct Pool {
    limit: usize,
    members: std::sync::Mutex<Members>,
}

#[derive(Debug, Default)]
struct Members {
    next: u64,
    by_id: HashMap<u64, Member>,
}

#[derive(Debug)]
struct Member {
    idle_since: Option<Instant>,
    evict: Arc<Notify>,
}

/// A connection's slot in a pool; given back on drop.
#[derive(Debug)]
struct Seat {
    pool: Arc<Pool>,
    id: u64,
    evict: Arc<Notify>,
}

impl Pool {
    fn new(limit: usize) -> Arc<Pool> {
        Arc::new(Pool {
            limit,
            members: std::sync::Mutex::new(Members::default()),
        })
    }

    fn members(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new busy member: a free one, else the one of the member
    /// idle the longest (for at least `idle`), which is told to close.
    fn take(self: &Arc<Self>, idle: Duration) -> Option<Seat> {
        let mut m = self.members();
        if m.by_id.len() >= self.limit {
            let now = Instant::now();
            let oldest = m
                .by_id
                .iter()
                .filter_map(|(id, x)| x.idle_since.map(|t| (t, *id)))
                .filter(|(t, _)| now.duration_since(*t) >= idle)
                .min();
            let (_, id) = oldest?;
            if let Some(gone) = m.by_id.remove(&id) {
                gone.evict.notify_one();
            }
        }
        m.next += 1;
        let id = m.next;
        let evict = Arc::new(Notify::new());
        m.by_id.insert(
            id,
            Member {
                idle_since: None,
                evict: Arc::clone(&evict),
            },
        );
        Some(Seat {
            pool: Arc::clone(self),
            id,
            evict,
        })
    }
}

impl Seat {
    /// Waiting for the next request: the slot may go to a newcomer.
    fn idle(&self) {
        if let Some(m) = self.pool.members().by_id.get_mut(&self.id) {
            m.idle_since = Some(Instant::now());
        }
    }

    /// A request is coming: false if the slot was given away meanwhile.
    fn busy(&self) -> bool {
        match self.pool.members().by_id.get_mut(&self.id) {
            Some(m) => {
                m.idle_since = None;
                true
            }
            None => false,
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.pool.members().by_id.remove(&self.id);
    }
}

/// What the clients share.
#[derive(Debug)]
struct Shared {
    daemon: DaemonHandle,
    sessions: Arc<Pool>,
    registrations: Arc<Pool>,
    pending: Arc<Semaphore>,
}

/// Serves clients until the listener fails.
pub async fn serve(listener: UnixListener, daemon: DaemonHandle) {
    let shared = Arc::new(Shared {
        daemon,
        sessions: Pool::new(MAX_SESSIONS),
        registrations: Pool::new(MAX_REGISTRATIONS),
        pending: Arc::new(Semaphore::new(MAX_PENDING)),
    });
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            if let Err(e) = client(stream, &shared).await {
                tracing::info!(error = %e, "control client disconnected");
            }
        });
    }
}

/// One request line as read from a client.
enum Incoming {
    Line(Vec<u8>),
    TooLong,
    End,
}

/// Reads one request line; the whole line must arrive within
/// [`REQUEST_TIMEOUT`].
async fn read_request(rd: &mut BufReader<OwnedReadHalf>) -> io::Result<Incoming> {
    let mut line = Vec::new();
    let mut limited = (&mut *rd).take(MAX_REQUEST as u64 + 1);
    let read = limited.read_until(b'\n', &mut line);
    let n = tokio::time::timeout(REQUEST_TIMEOUT, read)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no complete request within {} s", REQUEST_TIMEOUT.as_secs()),
            )
        })??;
    if n == 0 {
        return Ok(Incoming::End);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    } else if line.len() > MAX_REQUEST {
        return Ok(Incoming::TooLong);
    }
    Ok(Incoming::Line(line))
}

fn too_many(limit: usize) -> Reply {
    Reply::Error {
        message: format!("ternd: too many control connections ({limit}); try again"),
    }
}

async fn client(stream: UnixStream, sh: &Shared) -> io::Result<()> {
    // Who is asking (SO_PEERCRED): passwords are shown to root only.
    let root = stream.peer_cred().is_ok_and(|c| c.uid() == 0);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    let Ok(pending) = Arc::clone(&sh.pending).try_acquire_owned() else {
        tracing::warn!(
            limit = MAX_PENDING,
            "too many new control connections; refusing one"
        );
        return send(&mut wr, &too_many(MAX_PENDING)).await;
    };
    let mut next = match read_request(&mut rd).await? {
        Incoming::End => return Ok(()),
        Incoming::TooLong => return send(&mut wr, &too_long()).await,
        Incoming::Line(l) => serde_json::from_slice::<Request>(&l),
    };
    // tern-cni's requests have slots of their own.
    let pool = match &next {
        Ok(r) if r.is_registration() => &sh.registrations,
        _ => &sh.sessions,
    };
    let Some(seat) = pool.take(REQUEST_TIMEOUT) else {
        tracing::warn!(
            limit = pool.limit,
            "too many control connections; refusing one"
        );
        return send(&mut wr, &too_many(pool.limit)).await;
    };
    drop(pending);
    // This connection's config mode (`configure terminal` in tern).
    let mut session = crate::config::ConfigSession::default();
    loop {
        match next {
            Ok(Request::ShowBgpRoutes {
                family,
                prefix: None,
                stream: true,
                ..
            }) => stream_table(sh, &mut wr, family).await?,
            Ok(Request::ShowRoutes { ipv6, stream: true }) => {
                stream_routes(sh, &mut wr, ipv6).await?
            }
            next => {
                let reply = answer(sh, &mut session, root, next).await;
                send(&mut wr, &reply).await?;
            }
        }
        seat.idle();
        tokio::select! {
            got = rd.fill_buf() => if got?.is_empty() {
                return Ok(());
            },
            () = seat.evict.notified() => {
                tracing::info!("idle control connection closed: its slot went to a new client");
                return Ok(());
            }
        }
        if !seat.busy() {
            let reply = Reply::Error {
                message: "ternd: this connection was idle and its slot went to another client; connect again".into(),
            };
            return send(&mut wr, &reply).await;
        }
        next = match read_request(&mut rd).await? {
            Incoming::End => return Ok(()),
            Incoming::TooLong => return send(&mut wr, &too_long()).await,
            Incoming::Line(l) => serde_json::from_slice::<Request>(&l),
        };
    }
}

/// Routes in one reply of a streamed table.
const TABLE_CHUNK: usize = 2048;

/// `show ip bgp` of a whole table as a stream of replies: the header at
/// once, then the routes a chunk at a time, each asked of the speaker when
/// the last has been written, so that neither ternd nor the client ever
/// holds the whole answer, the speaker is held for one chunk at most, and
/// the work stops when the client goes away (a write fails).
async fn stream_table(
    sh: &Shared,
    wr: &mut OwnedWriteHalf,
    family: tern_control::BgpFamily,
) -> io::Result<()> {
    let Some(sp) = sh.daemon.speaker().await else {
        send(wr, &Reply::BgpTableStart(Default::default())).await?;
        return send(
            wr,
            &Reply::BgpTableEnd {
                routes: 0,
                paths: 0,
            },
        )
        .await;
    };
    let (header, prefixes) = match sp.table_start(family).await {
        Ok(started) => started,
        Err(message) => return send(wr, &Reply::Error { message }).await,
    };
    send(wr, &Reply::BgpTableStart(header)).await?;
    let (mut routes, mut paths) = (0u64, 0u64);
    let mut at = 0;
    while at < prefixes.len() {
        let chunk = prefixes.chunk(at, TABLE_CHUNK);
        at += chunk.len();
        let got = match sp.table_chunk(family, chunk).await {
            Ok(got) => got,
            Err(message) => return send(wr, &Reply::Error { message }).await,
        };
        if got.is_empty() {
            continue;
        }
        routes += got.len() as u64;
        paths += got.iter().map(|r| r.paths.len() as u64).sum::<u64>();
        send(wr, &Reply::BgpRoutes { routes: got }).await?;
    }
    send(wr, &Reply::BgpTableEnd { routes, paths }).await
}

fn too_long() -> Reply {
    Reply::Error {
        message: format!(
            "ternd: request longer than {MAX_REQUEST} bytes (1 MiB); connection closed"
        ),
    }
}

/// Serves one request: the daemon's task answers it; file I/O (`write
/// memory`, the endpoint registry's file) happens here, outside that task.
async fn answer(
    sh: &Shared,
    session: &mut crate::config::ConfigSession,
    root: bool,
    req: Result<Request, serde_json::Error>,
) -> Reply {
    match req {
        Ok(Request::ConfigLine { line }) => {
            let shown = crate::config::mask_secrets(&line);
            tracing::info!(line = %shown, "config line");
            sh.daemon.configure(session, line).await
        }
        Ok(Request::ShowRunningConfig) => sh.daemon.running_config(root).await,
        Ok(Request::WriteMemory) => sh.daemon.write_memory().await,
        Ok(
            req @ (Request::EndpointAllocate(_)
            | Request::EndpointAdd(_)
            | Request::EndpointImport(_)
            | Request::EndpointDel { .. }),
        ) => {
            let (reply, save) = sh.daemon.endpoint(req).await;
            match save {
                Some(s) => match s.write_async().await {
                    Ok(()) => reply,
                    Err(message) => Reply::EndpointRefused {
                        reason: tern_control::Refusal::Io,
                        message,
                    },
                },
                None => reply,
            }
        }
        Ok(req) => {
            tracing::debug!(?req, "control request");
            sh.daemon.request(req).await
        }
        Err(e) => Reply::Error {
            message: format!("malformed request: {e}"),
        },
    }
}

/// Writes one answer line; a client that takes no part of it within
/// [`REQUEST_TIMEOUT`] is given up.
async fn send(wr: &mut OwnedWriteHalf, reply: &Reply) -> io::Result<()> {
    let mut buf = serde_json::to_vec(reply).map_err(io::Error::other)?;
    buf.push(b'\n');
    for chunk in buf.chunks(WRITE_CHUNK) {
        tokio::time::timeout(REQUEST_TIMEOUT, wr.write_all(chunk))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the client took none of its answer in {} s",
                        REQUEST_TIMEOUT.as_secs()
                    ),
                )
            })??;
    }
    Ok(())
}

/// `show ip route` as a stream of replies: the routes a chunk at a time
/// (never splitting one prefix's), the BGP facts of each chunk asked of
/// the speaker when it is due, outside the daemon's task.
async fn stream_routes(sh: &Shared, wr: &mut OwnedWriteHalf, ipv6: bool) -> io::Result<()> {
    let Some(crate::daemon::actor::RouteSources {
        netlink,
        speaker,
        statics,
    }) = sh.daemon.route_sources().await
    else {
        return send(
            wr,
            &Reply::Error {
                message: "ternd is shutting down".into(),
            },
        )
        .await;
    };
    let table = match route_table::route_rows(&netlink, ipv6).await {
        Ok(found) => found,
        Err(message) => return send(wr, &Reply::Error { message }).await,
    };
    let rows = &table.rows;
    send(wr, &Reply::RoutesStart).await?;
    let (mut at, mut total) = (0, 0u64);
    while at < rows.len() {
        let mut end = (at + TABLE_CHUNK).min(rows.len());
        while end < rows.len() && rows[end].prefix() == rows[end - 1].prefix() {
            end += 1;
        }
        let routes =
            route_table::fib_routes(&table, &rows[at..end], ipv6, speaker.as_ref(), &statics).await;
        total += routes.len() as u64;
        send(wr, &Reply::Routes { routes }).await?;
        at = end;
    }
    send(wr, &Reply::RoutesEnd { routes: total }).await
}
