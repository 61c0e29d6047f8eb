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
        (Request::ShowBgpRoutes { .. }, None) => Ok(Reply::BgpTable(Default::default())),
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
