//! The daemon as a task that owns its state: everything else (the control
//! server, the interface ticker, the datapath follower, SIGHUP) talks to it
//! through a [`DaemonHandle`], a bounded channel of typed messages, each
//! answered on a oneshot. Requests are served one at a time, in order; no
//! other task holds the daemon's state, so no lock exists to be held
//! across an await. Slow work outside the daemon's state (a file written,
//! a streamed table read from the speaker) is done by the caller, with
//! what the daemon hands out.
use std::{path::PathBuf, sync::Arc};

use tern_control::{Reply, Request};
use tokio::{
    sync::{mpsc, oneshot, watch},
    task::JoinHandle,
};

use super::Daemon;
use crate::{
    config::{Config, ConfigSession, statics::StaticRoutes},
    endpoints::Save,
    locrib::LocRibView,
    speaker::SpeakerHandle,
};

/// Messages waiting for the daemon at most: a caller past it waits for
/// room (backpressure), it is not dropped.
const INBOX: usize = 64;

/// What the daemon is asked.
enum Msg {
    /// A control request answered from the daemon's state.
    Request(Request, oneshot::Sender<Reply>),
    /// A config-mode line, in the caller's session (returned updated).
    Configure(
        ConfigSession,
        String,
        oneshot::Sender<(ConfigSession, Reply)>,
    ),
    /// `show running-config`, passwords only with the flag (root).
    RunningConfig(bool, oneshot::Sender<Reply>),
    /// The config file's path and the running configuration's text.
    ConfigText(oneshot::Sender<(PathBuf, String)>),
    /// An endpoint request (tern-cni's), with the registry's state to save
    /// if changed; an EndpointAdd is answered once the datapath, when it
    /// runs, has programmed the endpoint (see `Daemon::endpoint_add`).
    Endpoint(Request, oneshot::Sender<(Reply, Option<Save>)>),
    /// The speaker, for a table streamed outside the daemon.
    Speaker(oneshot::Sender<Option<SpeakerHandle>>),
    /// What `show ip route` reads outside the daemon.
    RouteSources(oneshot::Sender<RouteSources>),
    /// The configuration read again from the file (SIGHUP).
    Reload(Box<Config>, oneshot::Sender<Result<(), String>>),
    /// A second passed: follow the interfaces.
    Tick(oneshot::Sender<Option<Save>>),
    /// The endpoints, the Loc-RIB or the VPN routes changed: program the
    /// datapath.
    DatapathChanged(oneshot::Sender<()>),
    /// Stop serving and hand the state back for the shutdown sequence.
    Stop(oneshot::Sender<Daemon>),
}

/// What `show ip route` needs besides the kernel: a netlink socket, the
/// speaker (for the BGP facts) and the static routes.
pub struct RouteSources {
    pub netlink: tern_netlink::Netlink,
    pub speaker: Option<SpeakerHandle>,
    pub statics: StaticRoutes,
}

/// The way to the daemon's task; clones share it.
#[derive(Clone, Debug)]
pub struct DaemonHandle {
    tx: mpsc::Sender<Msg>,
    /// `write memory`s take turns (see [`DaemonHandle::write_memory`]).
    writes: Arc<tokio::sync::Mutex<()>>,
}

/// Starts the daemon's task; it ends when every handle is gone or when
/// [`DaemonHandle::stop`] takes the state back.
pub fn spawn(daemon: Daemon) -> (DaemonHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(INBOX);
    let handle = DaemonHandle {
        tx,
        writes: Arc::default(),
    };
    (handle, tokio::spawn(daemon.run(rx)))
}

impl Daemon {
    async fn run(mut self, mut inbox: mpsc::Receiver<Msg>) {
        while let Some(msg) = inbox.recv().await {
            match msg {
                Msg::Request(req, reply) => {
                    let _ = reply.send(self.handle(req).await);
                }
                Msg::Configure(mut session, line, reply) => {
                    let answer = self.configure(&mut session, &line).await;
                    let _ = reply.send((session, answer));
                }
                Msg::RunningConfig(secrets, reply) => {
                    let _ = reply.send(self.running_config(secrets));
                }
                Msg::ConfigText(reply) => {
                    let _ = reply.send((self.config_file.clone(), self.config.render()));
                }
                Msg::Endpoint(req, reply) => {
                    let answer = self.handle(req).await;
                    let _ = reply.send((answer, self.endpoints.unsaved()));
                }
                Msg::Speaker(reply) => {
                    let _ = reply.send(self.bgp.as_ref().map(|b| b.speaker.clone()));
                }
                Msg::RouteSources(reply) => {
                    let _ = reply.send(RouteSources {
                        netlink: self.netlink.clone(),
                        speaker: self.bgp.as_ref().map(|b| b.speaker.clone()),
                        statics: self.config.static_routes.clone(),
                    });
                }
                Msg::Reload(new, reply) => {
                    let _ = reply.send(self.reload(*new).await.map_err(|e| format!("{e:#}")));
                }
                Msg::Tick(reply) => {
                    self.follow_links().await;
                    let _ = reply.send(self.endpoints.unsaved());
                }
                Msg::DatapathChanged(reply) => {
                    self.follow_datapath().await;
                    let _ = reply.send(());
                }
                Msg::Stop(reply) => {
                    let _ = reply.send(self);
                    return;
                }
            }
        }
    }

    /// Brings counters, static routes, the endpoint registry and the
    /// datapath in line with the interfaces as they are now.
    async fn follow_links(&mut self) {
        match self.netlink.links().await {
            Ok(links) => {
                self.reconcile_counters(&links);
                self.statics_reconcile_with(&links).await;
                self.endpoints.prune(&links);
                let cfg = self.config.datapath.clone();
                self.datapath_reconcile_with(&cfg, &links).await;
            }
            Err(e) => tracing::warn!(error = %e, "link dump failed"),
        }
    }

    /// Programs the datapath after the endpoints or the Loc-RIB changed.
    async fn follow_datapath(&mut self) {
        if self.datapath.is_none() {
            // No maps to program, but the egress gateways' health (a best
            // path of an egress IP) still shows in `show egress-gateway`,
            // and BGP still hears of the VRFs (empty: no VRF pod runs
            // without the datapath).
            let eps = self.endpoints.list();
            self.srv6_plan(&eps);
            self.egress_sync();
            return;
        }
        match self.netlink.links().await {
            Ok(links) => {
                let cfg = self.config.datapath.clone();
                self.datapath_reconcile_with(&cfg, &links).await;
            }
            Err(e) => tracing::warn!(error = %e, "link dump failed"),
        }
    }
}

/// The daemon's task is gone (ternd is stopping).
fn gone() -> Reply {
    Reply::Error {
        message: "ternd is shutting down".into(),
    }
}

impl DaemonHandle {
    /// Sends `msg` built around a fresh oneshot and waits for the answer;
    /// `None` when the daemon's task is gone.
    async fn ask<T>(&self, msg: impl FnOnce(oneshot::Sender<T>) -> Msg) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(msg(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Answers a control request.
    pub async fn request(&self, req: Request) -> Reply {
        self.ask(|r| Msg::Request(req, r))
            .await
            .unwrap_or_else(gone)
    }

    /// Applies a config-mode line in `session` (left as it was when the
    /// line is refused).
    pub async fn configure(&self, session: &mut ConfigSession, line: String) -> Reply {
        let s = session.clone();
        match self.ask(|r| Msg::Configure(s, line, r)).await {
            Some((updated, reply)) => {
                *session = updated;
                reply
            }
            None => gone(),
        }
    }

    /// `show running-config`; passwords only with `secrets`.
    pub async fn running_config(&self, secrets: bool) -> Reply {
        self.ask(|r| Msg::RunningConfig(secrets, r))
            .await
            .unwrap_or_else(gone)
    }

    /// The config file's path and the text `write memory` puts in it.
    pub async fn config_text(&self) -> Option<(PathBuf, String)> {
        self.ask(Msg::ConfigText).await
    }

    /// An endpoint request; the registry's new state comes back to be
    /// saved by the caller before it answers.
    pub async fn endpoint(&self, req: Request) -> (Reply, Option<Save>) {
        self.ask(|r| Msg::Endpoint(req, r))
            .await
            .unwrap_or_else(|| (gone(), None))
    }

    /// The BGP speaker, when BGP runs.
    pub async fn speaker(&self) -> Option<SpeakerHandle> {
        self.ask(Msg::Speaker).await.flatten()
    }

    /// What `show ip route` reads outside the daemon.
    pub async fn route_sources(&self) -> Option<RouteSources> {
        self.ask(Msg::RouteSources).await
    }

    /// Makes `new` the running configuration (SIGHUP).
    pub async fn reload(&self, new: Config) -> Result<(), String> {
        self.ask(|r| Msg::Reload(Box::new(new), r))
            .await
            .unwrap_or_else(|| Err("ternd is shutting down".into()))
    }

    /// `write memory`: the running configuration to the config file,
    /// atomically, the previous file kept as FILE.bak. The daemon renders
    /// the text; the writing and fsyncs happen on a blocking thread while
    /// other requests and the BGP side carry on. Saves
    /// run one at a time, each rendering the configuration once it is its
    /// turn, so the file never goes back to an older state.
    pub async fn write_memory(&self) -> Reply {
        let _turn = self.writes.lock().await;
        let Some((path, text)) = self.config_text().await else {
            return gone();
        };
        let written = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || super::write_atomically(&path, &text)).await
        };
        match written {
            Ok(Ok(())) => Reply::Written {
                path: path.display().to_string(),
            },
            Ok(Err(e)) => Reply::Error {
                message: format!("cannot write {}: {e}", path.display()),
            },
            Err(e) => Reply::Error {
                message: format!("cannot write {}: {e}", path.display()),
            },
        }
    }

    /// Stops the daemon's task and takes its state back.
    pub async fn stop(&self) -> Option<Daemon> {
        self.ask(Msg::Stop).await
    }

    /// Follows the interfaces once a second (counters, static routes,
    /// endpoints, datapath), saving the endpoint registry when it changed.
    /// A task of its own: it ends with the daemon.
    pub async fn tick_every_second(self) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        for round in 0u64.. {
            tick.tick().await;
            // (a test hook: once the daemon is up and serving)
            if round == 2 {
                crate::bgp_runtime::failpoint("reconcile");
            }
            let Some(save) = self.ask(Msg::Tick).await else {
                return;
            };
            // Written outside the daemon's task.
            if let Some(save) = save
                && let Err(e) = save.write_async().await
            {
                tracing::warn!(error = %e, "cannot save the endpoint registry");
            }
        }
    }

    /// Has the datapath programmed whenever the endpoint registry, the
    /// Loc-RIB or the VPN routes BGP chose change (the once-a-second tick
    /// catches the rest). A task of its own: it ends with the daemon or
    /// when a source is gone.
    pub async fn follow(
        self,
        mut endpoints: watch::Receiver<Vec<tern_control::Endpoint>>,
        mut loc_rib: watch::Receiver<LocRibView>,
        mut vpn_routes: watch::Receiver<Vec<tern_srv6::VpnRoute>>,
    ) {
        loop {
            tokio::select! {
                r = endpoints.changed() => if r.is_err() { return },
                r = loc_rib.changed() => if r.is_err() { return },
                r = vpn_routes.changed() => if r.is_err() { return },
            }
            if self.ask(Msg::DatapathChanged).await.is_none() {
                return;
            }
        }
    }
}
