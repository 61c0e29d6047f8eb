//! Static routes as zebra installs the `ip route` lines of FRR: protocol
//! `static` (RTPROT_STATIC, 4, what `redistribute static` and `show ip
//! route`'s `S` read), one kernel route per prefix in the main table with
//! the next hops of its best distance (ECMP when several), or a blackhole
//! route for `Null0` / `blackhole`.
use ipnet::IpNet;
use netlink_packet_route::route::{RouteMessage, RouteScope, RouteType};

use crate::route::{NextHop, Route, base_message, delete_message, replace_message};
use crate::{Error, Netlink};

/// The kernel's RTPROT_STATIC.
pub const STATIC_PROTO: u8 = 4;

/// The priority zebra gives the routes it installs (its "metric 20").
pub const STATIC_METRIC: u32 = 20;

/// What a static route leads to in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StaticHops {
    /// Packets are dropped (`Null0`, `blackhole`).
    Blackhole,
    /// Forwarded through these next hops.
    Via(Vec<NextHop>),
}

/// A static route of `prefix` in the main table with zebra's metric.
fn route(prefix: IpNet, nhs: Vec<NextHop>) -> Route {
    let mut r = Route::new(prefix, nhs);
    r.metric = STATIC_METRIC;
    r
}

/// The RTM_NEWROUTE body of a static route.
fn message(prefix: IpNet, hops: &StaticHops) -> RouteMessage {
    match hops {
        StaticHops::Via(nhs) => replace_message(&route(prefix, nhs.clone()), STATIC_PROTO, None),
        StaticHops::Blackhole => {
            let mut m = base_message(&route(prefix, Vec::new()), STATIC_PROTO);
            m.header.kind = RouteType::BlackHole;
            m.header.scope = RouteScope::Universe;
            m
        }
    }
}

fn request_error(what: &'static str) -> impl FnOnce(rtnetlink::Error) -> Error {
    move |source| Error::Request { what, source }
}

impl Netlink {
    /// Installs the static route of `prefix`, or replaces the one there
    /// (same prefix, main table, metric) atomically.
    pub async fn static_route_replace(
        &self,
        prefix: IpNet,
        hops: &StaticHops,
    ) -> Result<(), Error> {
        if let StaticHops::Via(nhs) = hops {
            route(prefix, nhs.clone())
                .validate(false)
                .map_err(|reason| Error::Route {
                    prefix,
                    source: crate::OpError::Invalid { reason },
                })?;
        }
        self.handle
            .route()
            .add(message(prefix, hops))
            .replace()
            .execute()
            .await
            .map_err(request_error("static route add"))
    }

    /// Deletes the static route of `prefix` (protocol static, main table,
    /// zebra's metric, any type: unicast or blackhole); one that is not
    /// there is no error.
    pub async fn static_route_delete(&self, prefix: IpNet) -> Result<(), Error> {
        let mut m = delete_message(&route(prefix, Vec::new()), STATIC_PROTO);
        m.header.kind = RouteType::Unspec;
        match self.handle.route().del(m).execute().await {
            Ok(()) => Ok(()),
            Err(rtnetlink::Error::NetlinkError(e))
                if e.code.is_some_and(|c| c.get() == -nix::libc::ESRCH) =>
            {
                Ok(())
            }
            Err(source) => Err(Error::Request {
                what: "static route delete",
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blackhole_and_via_messages() {
        let p: IpNet = "203.0.113.0/24".parse().unwrap_or_else(|_| unreachable!());
        let m = message(p, &StaticHops::Blackhole);
        assert_eq!(m.header.kind, RouteType::BlackHole);
        assert_eq!(u8::from(m.header.protocol), STATIC_PROTO);
        let via = StaticHops::Via(vec![NextHop {
            gateway: Some("192.0.2.1".parse().unwrap_or_else(|_| unreachable!())),
            ifindex: None,
            weight: 1,
        }]);
        let m = message(p, &via);
        assert_eq!(m.header.kind, RouteType::Unicast);
        assert_eq!(u8::from(m.header.protocol), STATIC_PROTO);
    }
}
