//! The daemon's state and how it answers control requests. Pure of sockets:
//! the server (server.rs) feeds it requests; the kernel is reached through
//! tern-netlink and tern-ebpf only.
use std::{path::PathBuf, time::Instant};

use tern_control::{InterfaceInfo, KernelCounters, Reply, Request, TernCounters, VersionInfo};
use tern_ebpf::CounterPrograms;
use tern_netlink::{Link, Netlink, OperState};

pub mod actor;
pub mod datapath;
mod show;

use crate::config::{Config, ConfigSession};

/// Everything one ternd knows.
#[derive(Debug)]
pub struct Daemon {
    pub(crate) config: Config,
    pub(crate) config_file: PathBuf,
    pub(crate) instance: Option<String>,
    pub(crate) started: Instant,
    pub(crate) netlink: Netlink,
    pub(crate) counters: CounterPrograms,
    /// The BGP speaker and its tasks, when the config has `router bgp`.
    pub(crate) bgp: Option<crate::bgp_runtime::BgpRuntime>,
    /// Pod endpoints registered by tern-cni (see endpoints.rs).
    pub(crate) endpoints: crate::endpoints::Registry,
    /// The eBPF pod datapath, when the config has `datapath mode`.
    pub(crate) datapath: Option<crate::datapath::DatapathRuntime>,
    /// This instance's bpffs dir (pins of the counters and the datapath).
    pub(crate) pins: PathBuf,
    /// The services' share of this node (announcements, datapath maps).
    pub(crate) services: crate::services::ServicesRuntime,
    /// The VIPs the services want announced; the speaker gets them together
    /// with the egress IPs this node serves (see [`Daemon::vips_sync`]).
    pub(crate) service_vips: std::collections::BTreeSet<ipnet::IpNet>,
    /// The egress gateway's share of this node (datapath maps, egress IPs
    /// announced).
    pub(crate) egress: crate::egress::EgressRuntime,
    /// The BFD task (sessions of `bfd` / `peer` and `neighbor X bfd`).
    pub(crate) bfd: crate::bfd::BfdHandle,
    /// The `ip route` lines' routes in the kernel.
    pub(crate) statics: crate::statics::StaticsRuntime,
    /// The speaker's best paths, for the datapath and the egress gateway.
    pub(crate) loc_rib: crate::locrib::LocRibFeed,
    /// The VPN routes BGP chose and the VRFs' prefixes (SRv6 L3VPN).
    pub(crate) vpn: crate::vpn::VpnFeed,
    /// The SRv6 plan of the last datapath pass (`show` reads it).
    pub(crate) srv6_plan: tern_srv6::Srv6Plan,
}

/// What a ternd starts from: its configuration, where it came from, the
/// instance name and the bpffs directory for this instance's pins.
#[derive(Debug)]
pub struct Start {
    pub config: Config,
    pub config_file: PathBuf,
    pub instance: Option<String>,
    pub pins: PathBuf,
}

impl Daemon {
    /// Brings a ternd up to the point where it can answer: the counter
    /// programs loaded, BFD and BGP running, the counters attached to the
    /// interfaces that exist now, static routes and the egress gateway's
    /// node addresses taken from them, endpoints whose interfaces are gone
    /// dropped, and the datapath of the config loaded.
    pub async fn start(s: Start) -> anyhow::Result<Daemon> {
        use anyhow::Context;
        let counters = CounterPrograms::load(Some(&s.pins))
            .context("cannot load the eBPF counter programs (root and bpffs needed)")?;
        let netlink = Netlink::open()?;
        let loc_rib = crate::locrib::LocRibFeed::default();
        let vpn = crate::vpn::VpnFeed::default();
        let bfd = crate::bfd::spawn();
        bfd.set(crate::bfd::desired(&s.config));
        let bgp = match &s.config.bgp {
            None => None,
            Some(b) => Some(
                crate::bgp_runtime::BgpRuntime::start(&s.config, b, &netlink, &loc_rib, &bfd, &vpn)
                    .await?,
            ),
        };
        let endpoints = crate::endpoints::Registry::load(
            tern_control::run_dir(s.instance.as_deref())?.join(crate::endpoints::STATE_FILE),
        );
        let mut d = Daemon {
            bfd,
            config: s.config,
            config_file: s.config_file,
            instance: s.instance,
            started: Instant::now(),
            netlink,
            counters,
            bgp,
            endpoints,
            datapath: None,
            pins: s.pins,
            services: Default::default(),
            service_vips: Default::default(),
            egress: Default::default(),
            statics: Default::default(),
            loc_rib,
            vpn,
            srv6_plan: Default::default(),
        };
        // Before the first client can ask; the reconcile loop follows
        // later changes.
        match d.netlink.links().await {
            Ok(links) => {
                d.reconcile_counters(&links);
                d.statics_reconcile_with(&links).await;
                d.egress.set_node_addrs(&links);
                d.endpoints.prune(&links);
                if let Some(save) = d.endpoints.unsaved()
                    && let Err(e) = save.write()
                {
                    tracing::warn!(error = %e, "cannot save the endpoint registry");
                }
            }
            Err(e) => tracing::warn!(error = %e, "link dump failed"),
        }
        let dp_config = d.config.datapath.clone();
        d.datapath_apply(&dp_config).await?;
        Ok(d)
    }

    /// The endpoints', the Loc-RIB's and the VPN routes' subscriptions,
    /// which the daemon's follower task watches (see
    /// [`actor::DaemonHandle::follow`]).
    pub fn subscriptions(
        &self,
    ) -> (
        tokio::sync::watch::Receiver<Vec<tern_control::Endpoint>>,
        tokio::sync::watch::Receiver<crate::locrib::LocRibView>,
        tokio::sync::watch::Receiver<Vec<tern_srv6::VpnRoute>>,
    ) {
        (
            self.endpoints.subscribe(),
            self.loc_rib.subscribe(),
            self.vpn.subscribe_routes(),
        )
    }

    /// The clean stop: the BGP sessions ceased and Tern's routes taken
    /// out of the kernel, the datapath detached (with graceful restart
    /// configured, the three are left to the next ternd), the static
    /// routes removed (as zebra's go with it), the counters detached, the
    /// pins' directory removed when empty.
    ///
    /// Returns whether routes and datapath were left for the next ternd.
    pub async fn shutdown(mut self) -> bool {
        let graceful = self
            .config
            .bgp
            .as_ref()
            .is_some_and(|b| b.graceful_restart.enabled);
        match self.bgp.take() {
            Some(b) if graceful => b.stop_for_restart().await,
            Some(b) => b.stop(&self.netlink).await,
            None => {}
        }
        let nl = self.netlink.clone();
        self.statics.remove_all(&nl).await;
        if let Some(dp) = self.datapath.take() {
            if graceful {
                dp.release();
            } else {
                dp.shutdown().await;
            }
        }
        self.counters.shutdown();
        let pins = std::mem::take(&mut self.pins);
        drop(self);
        let _ = std::fs::remove_dir(&pins);
        graceful
    }

    /// The node's name: the config's hostname, else the system's.
    pub fn hostname(&self) -> String {
        if let Some(h) = &self.config.hostname {
            return h.clone();
        }
        nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "ternd".to_owned())
    }

    /// Brings the attached counters in line with the config and the links
    /// that exist now: attach where missing, re-attach where the interface
    /// was re-created (new ifindex), forget links that are gone. Safe to run
    /// any number of times.
    pub fn reconcile_counters(&mut self, links: &[Link]) {
        let attached: Vec<(String, u32)> = self
            .counters
            .attached()
            .map(|(n, i)| (n.to_owned(), i))
            .collect();
        for (name, ifindex) in &attached {
            let current = links.iter().find(|l| &l.name == name).map(|l| l.index);
            let wanted = self.config.interfaces.contains_key(name);
            if current != Some(*ifindex) || !wanted {
                let _ = self.counters.detach(name);
                tracing::info!(ifname = %name, ifindex, "counters detached");
            }
        }
        for name in self.config.interfaces.keys() {
            let is_attached = self.counters.attached().any(|(n, _)| n == name);
            if is_attached || !links.iter().any(|l| &l.name == name) {
                continue;
            }
            if let Err(e) = self.counters.attach(name) {
                tracing::warn!(ifname = %name, error = %e, "cannot attach counters");
            }
        }
    }

    /// Applies one line of config mode to the running configuration, live.
    /// A line that does not parse, or whose change cannot be carried out,
    /// is refused and leaves both the configuration and the mode as they
    /// were.
    pub async fn configure(&mut self, session: &mut ConfigSession, line: &str) -> Reply {
        let saved = session.clone();
        let mut new = self.config.clone();
        if let Err(reason) = session.apply(&mut new, line) {
            // vtysh's wording for a line no mode knows; the reason otherwise.
            let message = if reason.starts_with("unknown command") {
                format!("Unknown command: {}", line.trim())
            } else {
                reason
            };
            return Reply::Error { message };
        }
        match self.commit(new).await {
            Ok(()) => Reply::ConfigApplied {
                mode: session.mode().prompt_name().to_owned(),
            },
            Err(e) => {
                *session = saved;
                Reply::Error {
                    message: format!("{e:#}"),
                }
            }
        }
    }

    /// Makes `new` the running configuration, reconciling BGP, the
    /// datapath and the services with it.
    async fn commit(&mut self, mut new: Config) -> anyhow::Result<()> {
        new.reserve_vni();
        // First, as it may fail (a log file that cannot be opened).
        if new.log_file != self.config.log_file || new.log_syslog != self.config.log_syslog {
            crate::logging::apply(&new).map_err(|e| anyhow::anyhow!(e))?;
        }
        let services_changed = new.services != self.config.services;
        let egress_changed = new.egress != self.config.egress;
        let statics_changed = new.static_routes != self.config.static_routes;
        let srv6_changed = new.srv6 != self.config.srv6;
        let bgp_before = self.bgp.as_ref().map(|b| b.speaker.clone());
        self.commit_bgp(new).await?;
        if srv6_changed && !egress_changed {
            // VRF tables, SIDs and policies: a datapath pass (the egress
            // change below makes one too).
            match self.netlink.links().await {
                Ok(links) => {
                    let cfg = self.config.datapath.clone();
                    self.datapath_reconcile_with(&cfg, &links).await;
                }
                Err(e) => tracing::warn!(error = %e, "link dump failed"),
            }
        }
        if egress_changed {
            // The gateways' egress IPs are followed in the Loc-RIB.
            self.retap();
            self.egress.config_changed();
            match self.netlink.links().await {
                // A datapath pass: the node's addresses and the pods'
                // MTU (tunnelled in native mode once policies exist) are
                // brought up to date, and it ends with the egress sync.
                Ok(links) => {
                    let cfg = self.config.datapath.clone();
                    self.datapath_reconcile_with(&cfg, &links).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "link dump failed");
                    self.egress_sync();
                }
            }
        }
        let bgp_now = self.bgp.as_ref().map(|b| b.speaker.clone());
        if bgp_before.is_some() != bgp_now.is_some()
            || bgp_before.zip(bgp_now).is_some_and(|(a, b)| !a.same(&b))
        {
            // A new speaker starts without VIPs.
            self.services.announced = None;
        }
        if services_changed || self.services.announced.is_none() {
            self.services_sync();
        }
        self.bfd.set(crate::bfd::desired(&self.config));
        if statics_changed {
            self.statics_reconcile().await;
        }
        Ok(())
    }

    /// Brings the static routes in the kernel in line with the config and
    /// the interfaces that exist now.
    pub async fn statics_reconcile(&mut self) {
        match self.netlink.links().await {
            Ok(links) => self.statics_reconcile_with(&links).await,
            Err(e) => tracing::warn!(error = %e, "link dump failed"),
        }
    }

    /// The same with the interfaces already read.
    pub async fn statics_reconcile_with(&mut self, links: &[Link]) {
        self.statics
            .reconcile(&self.config.static_routes, links, &self.netlink)
            .await;
    }

    /// The main table's pods (a VRF pod never reaches services or the
    /// egress gateway, and its addresses may be another pod's).
    fn main_table_pods(&self) -> Vec<tern_control::Endpoint> {
        let mut eps = self.endpoints.list();
        eps.retain(|e| e.vrf.is_none());
        eps
    }

    /// The local pods' addresses: which backends are on this node.
    fn local_addresses(&self) -> std::collections::HashSet<std::net::IpAddr> {
        self.main_table_pods()
            .iter()
            .flat_map(|e| e.addresses.iter().map(|a| a.addr()))
            .collect()
    }

    /// Brings the VIP announcements and the datapath's service maps in
    /// line with the services, the local pods and the datapath.
    pub fn services_sync(&mut self) {
        self.services_sync_only(None);
    }

    /// The same for the services named in `only` (None: all of them): a
    /// request that changes a few services costs what they cost, not what
    /// the whole table does.
    fn services_sync_only(&mut self, only: Option<&std::collections::BTreeSet<String>>) {
        let local = self.local_addresses();
        let is_local = |a: std::net::IpAddr| local.contains(&a);
        let node = tern_services::NodeView {
            is_local: &is_local,
        };
        // The datapath first: with one, a VIP is announced only once its
        // frontend is programmed here (never before the node can serve it).
        let pod_netns: std::collections::BTreeSet<String> = self
            .main_table_pods()
            .into_iter()
            .map(|e| e.netns)
            .collect();
        self.service_vips = if let Some(rt) = &mut self.datapath {
            self.services.reconcile(
                rt.datapath_mut(),
                &self.config.services,
                &node,
                &pod_netns,
                only,
            );
            let mut want = self.services.announced_and_served();
            want.extend(self.config.services.vips.iter().copied());
            want
        } else {
            crate::services::announcements(&self.config.services, &node)
        };
        self.vips_sync();
    }

    /// Gives the speaker the host routes it originates at run time: the
    /// services' VIPs and the egress IPs this node serves, together (one
    /// feature's set never replaces the other's), when they changed.
    pub fn vips_sync(&mut self) {
        let mut want = self.service_vips.clone();
        want.extend(self.egress.announced().iter().copied());
        if self.services.announced.as_ref() != Some(&want)
            && let Some(b) = &self.bgp
        {
            b.speaker
                .notify(crate::speaker::Command::SetVips(want.clone()));
            self.services.announced = Some(want);
        }
    }

    /// The local pods as the egress gateway's plan sees them: each address
    /// of each endpoint, with the pod's namespace.
    fn egress_pods(&self) -> Vec<tern_egressgw::PodInfo> {
        self.main_table_pods()
            .iter()
            .flat_map(|e| {
                e.addresses.iter().map(|a| tern_egressgw::PodInfo {
                    addr: a.addr(),
                    namespace: e.namespace.clone(),
                })
            })
            .collect()
    }

    /// Brings the egress gateway's datapath maps and announcements in line
    /// with the policies, the local pods and the gateways' health in the
    /// Loc-RIB. Cheap when none of them changed (no new plan).
    pub fn egress_sync(&mut self) {
        let pods = self.egress_pods();
        // The egress IPs' best paths only, copied: the view's lock is not
        // held while the datapath is written (the speaker records into it).
        let rib: crate::locrib::LocRibView = self.loc_rib.read(|view| {
            self.config
                .egress
                .egress_prefixes()
                .into_iter()
                .filter_map(|p| view.get(&p).map(|nhs| (p, nhs.clone())))
                .collect()
        });
        let dp = self.datapath.as_mut().map(|rt| rt.datapath_mut());
        let changed = self.egress.sync(
            dp,
            &self.config.egress,
            &self.config.datapath.cluster_cidrs,
            pods,
            &rib,
        );
        if changed {
            self.vips_sync();
        }
    }

    /// The best paths the datapath task keeps (see
    /// [`crate::locrib::LocRibFeed::set_tapped`]): the pod CIDRs and the
    /// gateways' egress IPs; when that set changes, the speaker hands every
    /// best path over again.
    pub fn retap(&self) {
        let mut tapped: Vec<ipnet::IpNet> =
            self.config.datapath.cluster_cidrs.iter().copied().collect();
        tapped.extend(self.config.egress.egress_prefixes());
        if self.loc_rib.set_tapped(&tapped)
            && let Some(b) = &self.bgp
        {
            b.speaker.notify(crate::speaker::Command::ResyncFib);
        }
    }

    async fn commit_bgp(&mut self, new: Config) -> anyhow::Result<()> {
        if new.datapath != self.config.datapath {
            self.datapath_apply(&new.datapath).await?;
        }
        let old_bgp = self.config.bgp.clone();
        match (&old_bgp, &new.bgp) {
            (None, None) => self.config = new,
            (None, Some(b)) => {
                let rt = crate::bgp_runtime::BgpRuntime::start(
                    &new,
                    b,
                    &self.netlink,
                    &self.loc_rib,
                    &self.bfd,
                    &self.vpn,
                )
                .await?;
                self.bgp = Some(rt);
                self.config = new;
            }
            (Some(_), None) => {
                if let Some(rt) = self.bgp.take() {
                    rt.stop(&self.netlink).await;
                }
                self.config = new;
            }
            (Some(o), Some(n)) if o.asn != n.asn || o.router_id != n.router_id => {
                if let Some(rt) = self.bgp.take() {
                    rt.stop(&self.netlink).await;
                }
                match crate::bgp_runtime::BgpRuntime::start(
                    &new,
                    n,
                    &self.netlink,
                    &self.loc_rib,
                    &self.bfd,
                    &self.vpn,
                )
                .await
                {
                    Ok(rt) => {
                        self.bgp = Some(rt);
                        self.config = new;
                    }
                    Err(e) => {
                        // Put the old speaker back: the change is refused.
                        if let Ok(rt) = crate::bgp_runtime::BgpRuntime::start(
                            &self.config,
                            o,
                            &self.netlink,
                            &self.loc_rib,
                            &self.bfd,
                            &self.vpn,
                        )
                        .await
                        {
                            self.bgp = Some(rt);
                        }
                        return Err(e);
                    }
                }
            }
            (Some(o), Some(n)) => {
                if let Some(rt) = &self.bgp {
                    if o != n {
                        rt.reconfigure(n);
                    }
                    if self.config.policy != new.policy {
                        rt.speaker
                            .notify(crate::speaker::Command::SetPolicy(std::sync::Arc::new(
                                new.policy.clone(),
                            )));
                    }
                    if self.config.srv6 != new.srv6 {
                        rt.speaker
                            .notify(crate::speaker::Command::SetSrv6(Box::new(new.srv6.clone())));
                    }
                }
                self.config = new;
            }
        }
        Ok(())
    }

    /// Makes the configuration read from the config file the running one
    /// (SIGHUP), through the same reconciliation as config lines: only what
    /// differs changes (a `network` added is announced, a changed neighbor
    /// restarts its session). A change that cannot be carried out is
    /// refused and the running configuration stays as it was.
    pub async fn reload(&mut self, new: Config) -> anyhow::Result<()> {
        let mut new = new;
        // The SIDs in use stay with their owners (a reload is not a restart).
        new.srv6
            .keep_sids_of(&self.config.srv6)
            .map_err(|e| anyhow::anyhow!("SRv6 SIDs: {e}"))?;
        if new == self.config {
            return Ok(());
        }
        self.commit(new).await
    }

    /// `show running-config`; passwords only with `secrets` (the caller
    /// is root: members of group tern may use the socket too).
    pub fn running_config(&self, secrets: bool) -> Reply {
        Reply::RunningConfig {
            text: self.config.render_shown(secrets),
        }
    }

    /// Answers one control request.
    pub async fn handle(&mut self, req: Request) -> Reply {
        match req {
            Request::ShowVersion => Reply::Version(VersionInfo {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                hostname: self.hostname(),
                instance: self.instance.clone(),
                pid: std::process::id(),
                uptime_secs: self.started.elapsed().as_secs(),
                config_file: self.config_file.display().to_string(),
                counters_attached: self
                    .counters
                    .attached()
                    .map(|(n, _)| n.to_owned())
                    .collect(),
            }),
            // Passwords masked: the server shows them to root only (see
            // `running_config`).
            Request::ShowRunningConfig => self.running_config(false),
            Request::AddVip { prefix } | Request::DelVip { prefix } => {
                let add = matches!(req, Request::AddVip { .. });
                if self.bgp.is_none() {
                    return Reply::Error {
                        message:
                            "BGP is not configured (no `router bgp`): VIPs cannot be announced"
                                .into(),
                    };
                }
                if let Err(message) = crate::config::services::check_vip(&prefix) {
                    return Reply::Error { message };
                }
                let mut new = self.config.clone();
                let changed = if add {
                    new.services.vips.insert(prefix)
                } else {
                    new.services.vips.remove(&prefix)
                };
                if !changed {
                    return Reply::Error {
                        message: if add {
                            format!("VIP {prefix} is already announced")
                        } else {
                            format!("VIP {prefix} is not announced")
                        },
                    };
                }
                match self.commit(new).await {
                    Ok(()) => Reply::Vips {
                        vips: self.services.announced.iter().flatten().copied().collect(),
                    },
                    Err(e) => Reply::Error {
                        message: format!("{e:#}"),
                    },
                }
            }
            Request::ServicesApply {
                upsert,
                delete,
                replace_all,
            } => {
                // The table checks the whole request before it changes
                // anything, so it is applied in place: no copy of the
                // configuration, and only the services it touched are
                // programmed again.
                let changes = match self
                    .config
                    .services
                    .table
                    .apply(upsert, delete, replace_all)
                {
                    Ok(c) => c,
                    Err(e) => {
                        return Reply::Error {
                            message: e.to_string(),
                        };
                    }
                };
                let touched: std::collections::BTreeSet<String> = changes
                    .iter()
                    .filter(|c| !matches!(c, tern_services::Change::Unchanged(_)))
                    .map(|c| c.name().to_owned())
                    .collect();
                if self.services.announced.is_none() {
                    self.services_sync();
                } else if !touched.is_empty() {
                    self.services_sync_only(Some(&touched));
                }
                Reply::ServicesApplied {
                    changes: changes.iter().map(change_line).collect(),
                }
            }
            Request::EgressApply {
                upsert,
                delete,
                replace_all,
            } => {
                let mut new = self.config.clone();
                let changes = match new.egress.table.apply(upsert, delete, replace_all) {
                    Ok(c) => c,
                    Err(e) => {
                        return Reply::Error {
                            message: e.to_string(),
                        };
                    }
                };
                match self.commit(new).await {
                    Ok(()) => Reply::EgressApplied {
                        changes: changes.iter().map(egress_change_line).collect(),
                    },
                    Err(e) => Reply::Error {
                        message: format!("{e:#}"),
                    },
                }
            }
            Request::ShowBfdPeers { peer } => match self.bfd.show(peer).await {
                Some(peers) => Reply::BfdPeers { peers },
                None => Reply::Error {
                    message: "the BFD task is not running".into(),
                },
            },
            Request::ShowEgressGateway => {
                self.egress_sync();
                let dp = self.datapath.as_ref().map(|rt| rt.datapath());
                Reply::EgressGateway(self.egress.status(&self.config.egress, dp))
            }
            Request::ShowEgressNat => match &self.datapath {
                None => Reply::Error {
                    message: "the datapath is not running (no `datapath mode`): no NAT entries"
                        .into(),
                },
                Some(rt) => {
                    match crate::egress::nat_entries(rt.datapath(), &self.config.egress.table) {
                        Ok(n) => Reply::EgressNat(n),
                        Err(message) => Reply::Error { message },
                    }
                }
            },
            Request::ShowServices { name } => {
                let local = self.local_addresses();
                let is_local = |a: std::net::IpAddr| local.contains(&a);
                let node = tern_services::NodeView {
                    is_local: &is_local,
                };
                match self
                    .services
                    .status(&self.config.services, &node, name.as_deref())
                {
                    Ok(services) => Reply::Services { services },
                    Err(message) => Reply::Error { message },
                }
            }
            Request::ShowConntrack { service, limit } => match &self.datapath {
                None => Reply::Error {
                    message: "the datapath is not running (no `datapath mode`): no conntrack"
                        .into(),
                },
                Some(rt) => match self.services.conntrack(
                    rt.datapath(),
                    &self.config.services,
                    service.as_deref(),
                    limit,
                ) {
                    Ok(c) => Reply::Conntrack(c),
                    Err(message) => Reply::Error { message },
                },
            },
            Request::ShowVips => match self.bgp.as_ref().map(|b| &b.speaker) {
                None => Reply::Vips { vips: Vec::new() },
                Some(sp) => match sp.vips().await {
                    Some(vips) => Reply::Vips { vips },
                    None => Reply::Error {
                        message: "the BGP speaker is not running".into(),
                    },
                },
            },
            Request::ConfigLine { .. } => Reply::Error {
                message: "configuration lines are served per connection".into(),
            },
            // File I/O: served by `write_memory` without the daemon's lock.
            Request::WriteMemory => Reply::Error {
                message: "write memory is served by the control server".into(),
            },
            Request::EndpointAllocate(claim) => {
                if let Some(why) = self.vrf_refusal(&claim) {
                    return refused(why);
                }
                let links = match self.netlink.links().await {
                    Ok(l) => l,
                    Err(e) => {
                        return Reply::Error {
                            message: format!("cannot read interfaces: {e}"),
                        };
                    }
                };
                // What the node routes to pods is taken, whether the
                // registry knows it or not.
                let routed = match self
                    .netlink
                    .routes(Some(tern_netlink::pod::CNI_ROUTE_PROTO), None)
                    .await
                {
                    Ok(r) => r.iter().map(|r| r.prefix.addr()).collect(),
                    Err(e) => {
                        return Reply::Error {
                            message: format!("cannot read the pod routes: {e}"),
                        };
                    }
                };
                match self.endpoints.reserve_avoiding(claim, &links, &routed) {
                    Ok(r) => Reply::EndpointReserved(r),
                    Err(e) => refused(e),
                }
            }
            Request::EndpointAdd(ep) => self.endpoint_add(ep).await,
            Request::EndpointImport(file) => {
                let r = self.endpoints.import(file);
                self.endpoints_reply(r)
            }
            Request::EndpointDel {
                container_id,
                ifname,
            } => {
                let r = self.endpoints.del(&container_id, &ifname);
                self.endpoints_reply(r)
            }
            Request::ShowEndpoints => self.endpoints_reply(Ok(self.endpoints.list())),
            Request::ShowDatapath => Reply::Datapath(Box::new(self.datapath_info())),
            Request::ShowSrv6Locators => Reply::Srv6Locators {
                locators: crate::srv6::locator_views(&self.config.srv6),
            },
            Request::ShowVrfs => Reply::Vrfs {
                vrfs: self
                    .config
                    .srv6
                    .vrfs
                    .values()
                    .map(|v| tern_control::VrfView {
                        name: v.name.clone(),
                        table: v.table,
                    })
                    .collect(),
            },
            Request::ShowDatapathEndpoints => Reply::DatapathEndpoints {
                endpoints: self.datapath_endpoints(),
            },
            Request::ShowDatapathDrops => match self.datapath_drops() {
                Ok(drops) => Reply::DatapathDrops { drops },
                Err(message) => Reply::Error { message },
            },
            Request::ShowBgpSummary => match self.bgp.as_ref().map(|b| &b.speaker) {
                None => Reply::BgpSummary(tern_control::BgpSummary::default()),
                Some(sp) => match sp.summary().await {
                    Some(s) => Reply::BgpSummary(s),
                    None => Reply::Error {
                        message: "the BGP speaker is not running".into(),
                    },
                },
            },
            Request::ShowBgpRoutes { .. }
            | Request::ShowBgpNeighbors { .. }
            | Request::ShowBgpAdjRib { .. }
            | Request::ShowRoutes { .. }
            | Request::ShowVrfRoutes { .. }
            | Request::ShowBgpVpn { .. }
            | Request::ClearBgp { .. } => self.show(req).await,
            Request::ShowInterfaces { name } => match self.netlink.links().await {
                Err(e) => Reply::Error {
                    message: format!("cannot read interfaces: {e}"),
                },
                Ok(links) => {
                    self.reconcile_counters(&links);
                    let mut out = Vec::new();
                    for l in &links {
                        if name.as_ref().is_some_and(|n| n != &l.name) {
                            continue;
                        }
                        out.push(self.interface_info(l));
                    }
                    if let (Some(n), true) = (&name, out.is_empty()) {
                        return Reply::Error {
                            message: format!("Interface {n} not found"),
                        };
                    }
                    Reply::Interfaces { interfaces: out }
                }
            },
        }
    }

    /// Why a claim for a pod in a VRF is refused: the VRF must be
    /// configured with a table, and the eBPF datapath must run (the kernel
    /// has no VRF devices: a VRF is its table plus the datapath's maps).
    fn vrf_refusal(
        &self,
        claim: &tern_control::EndpointClaim,
    ) -> Option<crate::endpoints::Refused> {
        let vrf = claim.vrf.as_deref()?;
        let why = match crate::srv6::vrf_table(&self.config.srv6, vrf) {
            Err(why) => why,
            Ok(_) if self.config.datapath.mode.is_none() => {
                format!("VRF {vrf}: pods in a VRF need the eBPF datapath (no `datapath mode` line)")
            }
            Ok(_) => return None,
        };
        Some(crate::endpoints::Refused {
            reason: tern_control::Refusal::Invalid,
            message: why,
        })
    }

    /// The endpoints and reservations after an endpoint request, or why it
    /// was refused.
    fn endpoints_reply(
        &self,
        r: Result<Vec<tern_control::Endpoint>, crate::endpoints::Refused>,
    ) -> Reply {
        match r {
            Ok(endpoints) => Reply::Endpoints {
                endpoints,
                reserved: self.endpoints.reservations(),
            },
            Err(e) => refused(e),
        }
    }

    /// Registers a pod endpoint. With the eBPF datapath running, the
    /// datapath is reconciled at once and the answer waits for it: a pod's
    /// ADD returns only once its endpoint is in the endpoint map with its
    /// program attached. When that fails, the endpoint goes back to a
    /// reservation (the plugin's cleanup frees it) and the answer says why.
    async fn endpoint_add(&mut self, ep: tern_control::Endpoint) -> Reply {
        let registered = self.endpoints.add(ep.clone());
        if registered.is_err() || self.datapath.is_none() {
            return self.endpoints_reply(registered);
        }
        let cfg = self.config.datapath.clone();
        let why = match self.netlink.links().await {
            Ok(links) => {
                self.datapath_reconcile_with(&cfg, &links).await;
                let state = self.datapath.as_ref().map(|rt| rt.endpoint_state(&ep));
                if let Some((Some(_), true, _)) = state {
                    return self.endpoints_reply(Ok(self.endpoints.list()));
                }
                // The reason first: the next pass clears it.
                let why = self
                    .datapath_info()
                    .last_error
                    .unwrap_or_else(|| "not programmed".to_owned());
                self.endpoints.unregister(&ep.container_id, &ep.ifname);
                self.datapath_reconcile_with(&cfg, &links).await;
                why
            }
            Err(e) => {
                self.endpoints.unregister(&ep.container_id, &ep.ifname);
                format!("cannot read interfaces: {e}")
            }
        };
        tracing::warn!(container_id = %ep.container_id, host = %ep.host_ifname, error = %why, "endpoint refused: the datapath could not program it");
        refused(crate::endpoints::Refused {
            reason: tern_control::Refusal::Datapath,
            message: format!(
                "the eBPF datapath could not program endpoint {} (container {} interface {}): {why}",
                ep.host_ifname, ep.container_id, ep.ifname
            ),
        })
    }

    fn interface_info(&self, l: &Link) -> InterfaceInfo {
        let tern = self
            .counters
            .attached()
            .find(|(n, i)| *n == l.name && *i == l.index)
            .and_then(|(_, i)| self.counters.read(i).ok())
            .map(|c| TernCounters {
                rx_packets: c.rx_packets,
                rx_bytes: c.rx_bytes,
                tx_packets: c.tx_packets,
                tx_bytes: c.tx_bytes,
            });
        let s = l.stats;
        InterfaceInfo {
            name: l.name.clone(),
            ifindex: l.index,
            kind: l.kind.clone().unwrap_or_default(),
            admin_up: l.admin_up,
            lower_up: l.lower_up,
            loopback: l.loopback,
            flags: l.flags,
            link_type: l.link_type.clone(),
            parent_ifindex: l.parent_ifindex,
            oper_state: oper_state_name(l.oper_state).to_owned(),
            mtu: l.mtu,
            hw_addr: l.hw_addr_string(),
            addresses: l.addresses.clone(),
            kernel: KernelCounters {
                rx_packets: s.rx_packets,
                rx_bytes: s.rx_bytes,
                rx_errors: s.rx_errors,
                rx_dropped: s.rx_dropped,
                tx_packets: s.tx_packets,
                tx_bytes: s.tx_bytes,
                tx_errors: s.tx_errors,
                tx_dropped: s.tx_dropped,
                multicast: s.multicast,
            },
            tern,
            description: self
                .config
                .interfaces
                .get(&l.name)
                .and_then(|i| i.description.clone()),
        }
    }
}

/// Writes `text` to `path` so that a crash leaves either the old or the
/// new file, never a torn one: a temporary file in the same directory,
/// fsync, the old file kept as PATH.bak (written the same way), rename,
/// fsync of the directory. The file holds passwords: a new file is made
/// with mode 0600; an existing one keeps its owner, group and mode, and
/// so does its backup.
pub fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ternd.conf".to_owned());
    let old = match std::fs::metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(m) = &old {
        let mut current = std::fs::File::open(path)?;
        let bak = dir.join(format!("{name}.bak"));
        replace_file(dir, &format!("{name}.bak"), &bak, Some(m), |f| {
            std::io::copy(&mut current, f).map(|_| ())
        })?;
    }
    replace_file(dir, &name, path, old.as_ref(), |f| {
        std::io::Write::write_all(f, text.as_bytes())
    })?;
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `dest` through a temporary file named after `name` in `dir`:
/// created 0600, filled by `fill`, given `like`'s owner and mode, synced,
/// renamed over `dest`. The temporary file is removed on failure.
fn replace_file(
    dir: &std::path::Path,
    name: &str,
    dest: &std::path::Path,
    like: Option<&std::fs::Metadata>,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        fill(&mut f)?;
        if let Some(m) = like {
            std::os::unix::fs::fchown(&f, Some(m.uid()), Some(m.gid()))?;
            f.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, dest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn change_line(c: &tern_services::Change) -> String {
    use tern_services::Change;
    match c {
        Change::Added(n) => format!("added {n}"),
        Change::Updated(n) => format!("updated {n}"),
        Change::Removed(n) => format!("removed {n}"),
        Change::Unchanged(n) => format!("unchanged {n}"),
    }
}

fn egress_change_line(c: &tern_egressgw::Change) -> String {
    use tern_egressgw::Change;
    match c {
        Change::Added(n) => format!("added {n}"),
        Change::Updated(n) => format!("updated {n}"),
        Change::Removed(n) => format!("removed {n}"),
        Change::Unchanged(n) => format!("unchanged {n}"),
    }
}

fn refused(e: crate::endpoints::Refused) -> Reply {
    Reply::EndpointRefused {
        reason: e.reason,
        message: e.message,
    }
}

fn oper_state_name(s: OperState) -> &'static str {
    match s {
        OperState::Unknown => "unknown",
        OperState::NotPresent => "notpresent",
        OperState::Down => "down",
        OperState::LowerLayerDown => "lowerlayerdown",
        OperState::Testing => "testing",
        OperState::Dormant => "dormant",
        OperState::Up => "up",
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::write_atomically;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o7777
    }

    #[test]
    fn a_new_config_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ternd.conf");
        write_atomically(&path, "neighbor 192.0.2.1 password s3cret\n").expect("write");
        assert_eq!(mode(&path), 0o600);
        assert!(!dir.path().join("ternd.conf.bak").exists());
    }

    #[test]
    fn an_existing_file_and_its_backup_keep_owner_and_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ternd.conf");
        let bak = dir.path().join("ternd.conf.bak");
        std::fs::write(&path, "old\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown (root needed)");
        // A backup left by someone else with a looser mode is replaced.
        std::fs::write(&bak, "older\n").expect("write bak");
        std::fs::set_permissions(&bak, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        write_atomically(&path, "new\n").expect("write");
        for p in [&path, &bak] {
            let m = std::fs::metadata(p).expect("metadata");
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
            assert_eq!(mode(p), 0o640, "{}", p.display());
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(std::fs::read_to_string(&bak).unwrap(), "old\n");
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }
}
