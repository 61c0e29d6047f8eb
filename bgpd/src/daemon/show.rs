//! The daemon's answers to the BGP and routing-table show requests
//! (`show ip bgp`, `show bgp neighbors`, `show ip route`) and to `clear
//! bgp`: the speaker is asked outside any other state of the daemon.
use tern_control::{Reply, Request};

use crate::{daemon::Daemon, route_table};

impl Daemon {
    /// The show and clear requests of `show ip bgp`, `show bgp neighbors`,
    /// `show ip route` and `clear bgp`.
    pub async fn show(&mut self, req: Request) -> Reply {
        answer(self, req).await
    }
}

async fn answer(daemon: &mut Daemon, req: Request) -> Reply {
    let speaker = daemon.bgp.as_ref().map(|b| b.speaker.clone());
    let answer = match (req, speaker) {
        (Request::ShowRoutes { ipv6, .. }, speaker) => routes(daemon, ipv6, speaker).await,
        (Request::ShowVrfRoutes { ipv6, vrf }, _) => vrf_routes(daemon, ipv6, &vrf).await,
        (Request::ShowBgpRoutes { .. }, None) => Ok(Reply::BgpTable(Default::default())),
        (Request::ShowBgpVpn { .. }, None) => Ok(Reply::BgpVpnTable(Default::default())),
        (Request::ShowBgpVpn { ipv6, rd, prefix }, Some(sp)) => {
            // `rd all` is every RD, as no `rd` at all.
            let rd = match rd
                .as_deref()
                .filter(|r| *r != "all")
                .map(str::parse::<tern_srv6::RouteDistinguisher>)
            {
                None => None,
                Some(Ok(rd)) => Some(tern_bgp_wire::RouteDistinguisher(rd.to_bytes())),
                // FRR's words for an RD it cannot read.
                Some(Err(_)) => {
                    return Reply::Error {
                        message: "Malformed Route Distinguisher".to_owned(),
                    };
                }
            };
            sp.vpn_table(ipv6, rd, prefix).await.map(Reply::BgpVpnTable)
        }
        (Request::ShowBgpNeighbors { .. }, None) => Ok(Reply::BgpNeighbors {
            configured: false,
            neighbors: Vec::new(),
        }),
        (Request::ClearBgp { .. }, None) => Err("No BGP process is configured".to_owned()),
        (Request::ShowBgpAdjRib { .. }, None) => Ok(Reply::BgpAdjRib {
            table: Default::default(),
            filtered: 0,
            error: None,
        }),
        (
            Request::ShowBgpAdjRib {
                family: f,
                address,
                advertised,
            },
            Some(sp),
        ) => sp
            .adj_rib(f, address, advertised)
            .await
            .map(|(table, filtered, error)| Reply::BgpAdjRib {
                table,
                filtered,
                error,
            }),
        (
            Request::ShowBgpRoutes {
                family: f,
                prefix,
                longest_match,
                ..
            },
            Some(sp),
        ) => sp
            .routes(f, prefix, longest_match)
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

/// `show ip route vrf NAME` / `show ipv6 route vrf NAME`: the VRF's
/// kernel table as zebra shows a VRF (its pods' host routes are kernel
/// routes: tern-cni's protocol 203 is no zebra protocol), and the remote
/// VPN prefixes the VRF imported as BGP routes through the VPN route's next
/// hop, with the SID they are encapsulated to as zebra's `seg6`.
async fn vrf_routes(daemon: &mut Daemon, ipv6: bool, vrf: &str) -> Result<Reply, String> {
    use tern_control::{FibNextHop, FibRoute};
    let table = crate::srv6::vrf_table(&daemon.config.srv6, vrf)
        .map_err(|_| format!("VRF {vrf} not found"))?;
    let links = daemon
        .netlink
        .links()
        .await
        .map_err(|e| format!("cannot read interfaces: {e}"))?;
    let name = |i: u32| links.iter().find(|l| l.index == i).map(|l| l.name.clone());
    let mut routes: Vec<FibRoute> = Vec::new();
    daemon
        .netlink
        .visit_kernel_routes(ipv6, Some(table), |k| {
            if k.route.prefix.addr().is_ipv6() != ipv6 || k.route.table != table {
                return;
            }
            routes.push(FibRoute {
                prefix: k.route.prefix,
                protocol: "kernel".into(),
                distance: 0,
                metric: k.route.metric,
                table,
                nexthops: k
                    .route
                    .nexthops
                    .iter()
                    .map(|h| FibNextHop {
                        gateway: h.gateway.map(|g| g.to_string()),
                        ifindex: h.ifindex,
                        ifname: h.ifindex.and_then(name),
                        weight: h.weight,
                        seg6: Vec::new(),
                    })
                    .collect(),
                uptime_secs: None,
                blackhole: k.blackhole,
            });
        })
        .await
        .map_err(|e| format!("cannot read routes: {e}"))?;
    for e in daemon
        .srv6_plan
        .encap
        .iter()
        .filter(|e| e.table == table && e.prefix.addr().is_ipv6() == ipv6)
    {
        routes.push(FibRoute {
            prefix: e.prefix,
            protocol: "bgp".into(),
            distance: 20,
            metric: 0,
            table,
            nexthops: vec![FibNextHop {
                gateway: Some(e.next_hop.to_string()),
                ifindex: None,
                ifname: None,
                weight: 1,
                seg6: vec![e.sid],
            }],
            uptime_secs: None,
            blackhole: false,
        });
    }
    routes.sort_by_key(|r| r.prefix);
    Ok(Reply::Routes { routes })
}

/// `show ip route` / `show ipv6 route` in one reply.
async fn routes(
    daemon: &mut Daemon,
    ipv6: bool,
    speaker: Option<crate::speaker::SpeakerHandle>,
) -> Result<Reply, String> {
    let table = route_table::route_rows(&daemon.netlink, ipv6).await?;
    let statics = daemon.config.static_routes.clone();
    let routes =
        route_table::fib_routes(&table, &table.rows, ipv6, speaker.as_ref(), &statics).await;
    Ok(Reply::Routes { routes })
}
