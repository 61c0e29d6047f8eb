//! The daemon's state and how it answers control requests. Pure of sockets:
//! the server (server.rs) feeds it requests; the kernel is reached through
//! tern-netlink and tern-ebpf only.
use std::{path::PathBuf, time::Instant};

use tern_control::{InterfaceInfo, KernelCounters, Reply, Request, TernCounters, VersionInfo};
use tern_ebpf::CounterPrograms;
use tern_netlink::{Link, Netlink, OperState};

use crate::config::Config;

/// The BGP router-id FRR would pick without `bgp router-id`: the highest
/// IPv4 address on a loopback (other than 127/8), else the highest IPv4
/// address on any interface that is up.
pub fn pick_router_id(links: &[Link]) -> Option<std::net::Ipv4Addr> {
    let v4 = |l: &Link| {
        l.addresses
            .iter()
            .filter_map(|a| match a.addr() {
                std::net::IpAddr::V4(v) if !v.is_loopback() && !v.is_unspecified() => Some(v),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let lo = links.iter().filter(|l| l.loopback).flat_map(v4).max();
    lo.or_else(|| links.iter().filter(|l| l.admin_up).flat_map(v4).max())
}

/// Everything one ternd knows.
#[derive(Debug)]
pub struct Daemon {
    pub config: Config,
    pub config_file: PathBuf,
    pub instance: Option<String>,
    pub started: Instant,
    pub netlink: Netlink,
    pub counters: CounterPrograms,
    /// The BGP speaker, when the config has `router bgp`.
    pub speaker: Option<crate::speaker::SpeakerHandle>,
}

impl Daemon {
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
            Request::ShowRunningConfig => Reply::RunningConfig {
                text: self.config.render(),
            },
            Request::AddVip { prefix } | Request::DelVip { prefix } => {
                let announce = matches!(req, Request::AddVip { .. });
                match &self.speaker {
                    None => Reply::Error {
                        message:
                            "BGP is not configured (no `router bgp`): VIPs cannot be announced"
                                .into(),
                    },
                    Some(sp) => match sp.vip(prefix, announce).await {
                        Ok(vips) => Reply::Vips { vips },
                        Err(message) => Reply::Error { message },
                    },
                }
            }
            Request::ShowVips => match &self.speaker {
                None => Reply::Vips { vips: Vec::new() },
                Some(sp) => match sp.vips().await {
                    Some(vips) => Reply::Vips { vips },
                    None => Reply::Error {
                        message: "the BGP speaker is not running".into(),
                    },
                },
            },
            Request::ShowBgpSummary => match &self.speaker {
                None => Reply::BgpSummary(tern_control::BgpSummary::default()),
                Some(sp) => match sp.summary().await {
                    Some(s) => Reply::BgpSummary(s),
                    None => Reply::Error {
                        message: "the BGP speaker is not running".into(),
                    },
                },
            },
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
