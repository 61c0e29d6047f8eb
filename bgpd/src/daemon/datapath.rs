//! The daemon's side of the eBPF datapath: `datapath mode` applied and
//! reconciled with the interfaces, the `show datapath` answers, and the
//! task that reconciles whenever the endpoints or the Loc-RIB change.

use ipnet::IpNet;
use tern_control::{DatapathEndpoint, DatapathInfo, EndpointTraffic, NamedCount};
use tern_netlink::Link;

use super::Daemon;
use crate::config::DatapathConfig;
use crate::datapath::{DatapathRuntime, trusted_sources, tunnel_routes, unconfigured};
use crate::srv6::Srv6Wanted;
impl Daemon {
    /// Starts, keeps or stops the datapath for `cfg` (a config change or
    /// ternd's start). Loading failures refuse the change.
    pub async fn datapath_apply(&mut self, cfg: &DatapathConfig) -> anyhow::Result<()> {
        let mut cidrs: Vec<IpNet> = cfg.cluster_cidrs.iter().copied().collect();
        // The gateways' egress IPs, whose best paths are their health.
        cidrs.extend(self.config.egress.egress_prefixes());
        if self.loc_rib.set_tapped(&cidrs)
            && let Some(b) = &self.bgp
        {
            b.speaker.notify(crate::speaker::Command::ResyncFib);
        }
        match (cfg.mode, self.datapath.is_some()) {
            (None, true) => {
                if let Some(rt) = self.datapath.take() {
                    rt.shutdown().await;
                }
            }
            (Some(_), false) => {
                let rt = DatapathRuntime::load(&self.pins, self.netlink.clone())?;
                tracing::info!(pins = %self.pins.display(), "eBPF pod datapath loaded");
                self.services.datapath_reset(rt.datapath().adopted());
                self.datapath = Some(rt);
                self.egress.datapath_reset();
            }
            _ => {}
        }
        if self.datapath.is_some() {
            let links = self.netlink.links().await?;
            self.datapath_reconcile_with(cfg, &links).await;
        }
        Ok(())
    }

    /// The SRv6 L3VPN's share of a pass: each VRF's pod prefixes handed
    /// to BGP, and the plan of the VPN routes BGP chose (kept for `show`)
    /// turned into the datapath's state.
    pub fn srv6_plan(&mut self, eps: &[tern_control::Endpoint]) -> Srv6Wanted {
        let cfg = &self.config.srv6;
        let prefixes = crate::srv6::vrf_prefixes(cfg, eps);
        self.vpn.set_vrf_prefixes(prefixes.clone());
        let plan = tern_srv6::plan(cfg, &self.vpn.routes(), &prefixes);
        let wanted = crate::srv6::wanted(cfg, &plan);
        self.srv6_plan = plan;
        wanted
    }

    /// One reconcile pass with the links given (see
    /// [`DatapathRuntime::reconcile`]).
    pub async fn datapath_reconcile_with(&mut self, cfg: &DatapathConfig, links: &[Link]) {
        self.egress.set_node_addrs(links);
        let eps = self.endpoints.list();
        let srv6 = self.srv6_plan(&eps);
        if self.datapath.is_none() {
            self.services_sync();
            self.egress_sync();
            return;
        }
        let (mut tunnels, over) = self.loc_rib.read(|rib| tunnel_routes(cfg, rib));
        // External VTEPs' prefixes, configured (they win over BGP's).
        tunnels.extend(cfg.vteps.iter().map(|(p, v)| (*p, v.addr)));
        let vrf_tables = crate::srv6::vrf_tables(&self.config.srv6);
        let restarting = self.bgp.as_ref().is_some_and(|b| b.restarting());
        if let Some(rt) = &mut self.datapath {
            rt.keep_adopted_tunnels(restarting, &mut tunnels);
        }
        let trusted = trusted_sources(cfg, &tunnels, self.config.egress.gateway_nodes());
        if let Some(rt) = &mut self.datapath {
            rt.reconcile(
                cfg,
                links,
                &eps,
                (&tunnels, over),
                &trusted,
                (&vrf_tables, &srv6),
            )
            .await;
        }
        self.services_sync();
        self.egress_sync();
    }

    /// `show datapath`.
    pub fn datapath_info(&self) -> DatapathInfo {
        match &self.datapath {
            Some(rt) => rt.info(&self.config.datapath),
            None => unconfigured(&self.config.datapath),
        }
    }

    /// `show datapath endpoints`: the registry with the datapath's counters.
    pub fn datapath_endpoints(&self) -> Vec<DatapathEndpoint> {
        let list = self.endpoints.list();
        // The MTU each pod has now (it may have changed its interface's
        // since ADD); the recorded one where the pod cannot be asked.
        let asked: Vec<(&std::path::Path, &str)> = list
            .iter()
            .map(|e| (std::path::Path::new(&e.netns), e.ifname.as_str()))
            .collect();
        let mtus = tern_netlink::pod::pod_mtus(&asked);
        list.into_iter()
            .zip(mtus)
            .map(|(mut endpoint, now)| {
                if let Some(mtu) = now {
                    endpoint.mtu = mtu;
                }
                let mtu_too_big = self
                    .datapath
                    .as_ref()
                    .is_some_and(|rt| endpoint.mtu > rt.pod_mtu());
                let (id, attached, counters) = match &self.datapath {
                    Some(rt) => rt.endpoint_state(&endpoint),
                    None => (None, false, EndpointTraffic::default()),
                };
                DatapathEndpoint {
                    endpoint,
                    id,
                    attached,
                    counters,
                    mtu_too_big,
                }
            })
            .collect()
    }

    /// `show datapath drops`: every reason with its count.
    pub fn datapath_drops(&self) -> Result<Vec<NamedCount>, String> {
        let Some(rt) = &self.datapath else {
            return Err("the eBPF datapath is not running (no `datapath mode` line)".into());
        };
        rt.drops()
    }
}
