//! `show bgp neighbors [ADDR] [json]` as FRR 8.4's bgpd prints it
//! (`bgp_show_peer`): the text block per neighbor and its JSON keys.
//! Tern has no graceful restart, roles (RFC 9234), update groups or
//! conditional advertisement; those lines say what Tern does (GR mode
//! Disable) or are left out.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::{BgpFamily, BgpNeighbor, NeighborCapability};

use crate::render::{printable, uptime};

/// FRR's text for a capability's state.
fn adv_rcv(c: &NeighborCapability) -> &'static str {
    match (c.advertised, c.received) {
        (true, true) => "advertised and received",
        (true, false) => "advertised",
        (false, true) => "received",
        (false, false) => "",
    }
}

/// FRR's JSON value for a capability's state.
fn adv_rcv_json(c: &NeighborCapability) -> &'static str {
    match (c.advertised, c.received) {
        (true, true) => "advertisedAndReceived",
        (true, false) => "advertised",
        (false, true) => "received",
        (false, false) => "",
    }
}

fn cap<'a>(n: &'a BgpNeighbor, name: &str) -> Option<&'a NeighborCapability> {
    n.capabilities.iter().find(|c| c.name == name)
}

fn family_title(key: &str) -> &str {
    match key {
        "ipv4Unicast" => "IPv4 Unicast",
        "ipv6Unicast" => "IPv6 Unicast",
        other => other,
    }
}

fn hms(msecs: Option<u64>) -> String {
    msecs.map_or_else(|| "never".to_owned(), |m| uptime(m / 1000))
}

/// `% No such neighbor in this view/vrf`, FRR's answer for an unknown
/// address.
pub const NO_SUCH_NEIGHBOR: &str = "% No such neighbor in this view/vrf\n";

/// The text of `show bgp neighbors [ADDR]`.
pub fn neighbors_text(list: &[BgpNeighbor], configured: bool, asked: bool) -> String {
    if !configured {
        return "% BGP instance not found\n".to_owned();
    }
    if asked && list.is_empty() {
        return format!("{NO_SUCH_NEIGHBOR}\n");
    }
    let mut out = String::new();
    for n in list {
        neighbor_text(n, &mut out);
    }
    out
}

fn neighbor_text(n: &BgpNeighbor, out: &mut String) {
    let link = if n.internal { "internal" } else { "external" };
    let _ = writeln!(
        out,
        "BGP neighbor is {}, remote AS {}, local AS {}, {link} link",
        n.address, n.remote_as, n.local_as
    );
    if let Some(d) = &n.description {
        let _ = writeln!(out, " Description: {}", printable(d));
    }
    if let Some(h) = &n.hostname {
        let _ = writeln!(out, "Hostname: {}", printable(h));
    }
    let _ = writeln!(
        out,
        "  BGP version 4, remote router ID {}, local router ID {}",
        n.remote_router_id, n.local_router_id
    );
    match n.uptime_secs {
        Some(s) if n.state == "Established" => {
            let _ = writeln!(out, "  BGP state = Established, up for {}", uptime(s));
        }
        _ => {
            let _ = writeln!(out, "  BGP state = {}", n.state);
        }
    }
    let _ = writeln!(
        out,
        "  Last read {}, Last write {}",
        hms(n.last_read_msecs),
        hms(n.last_write_msecs)
    );
    // The negotiated timers; before a session, the configured ones (FRR).
    let _ = writeln!(
        out,
        "  Hold time is {} seconds, keepalive interval is {} seconds",
        n.hold_time.unwrap_or(n.configured_hold_time),
        n.keepalive.unwrap_or(n.configured_keepalive)
    );
    let _ = writeln!(
        out,
        "  Configured hold time is {} seconds, keepalive interval is {} seconds",
        n.configured_hold_time, n.configured_keepalive
    );
    if n.state == "Established" {
        out.push_str("  Neighbor capabilities:\n");
        if let Some(c) = cap(n, "4byteAs") {
            let _ = writeln!(out, "    4 Byte AS: {}", adv_rcv(c));
        }
        if let Some(c) = cap(n, "extendedMessage") {
            let _ = writeln!(out, "    Extended Message: {}", adv_rcv(c));
        }
        if cap(n, "addPath").is_some() {
            out.push_str("    AddPath:\n");
            for (f, ks) in &n.add_path_received {
                let what: Vec<&str> = ks
                    .iter()
                    .map(|k| {
                        if k.starts_with("rx") {
                            "RX received"
                        } else {
                            "TX received"
                        }
                    })
                    .collect();
                let _ = writeln!(out, "      {}: {}", f.title(), what.join(", "));
            }
        }
        if let Some(c) = cap(n, "routeRefresh") {
            let suffix = match (c.received, cap(n, "routeRefreshOld").is_some()) {
                (true, true) => "(old & new)",
                (true, false) => "(new)",
                (false, true) => "(old)",
                (false, false) => "",
            };
            let _ = writeln!(out, "    Route refresh: {}{suffix}", adv_rcv(c));
        }
        if let Some(c) = cap(n, "enhancedRouteRefresh") {
            let _ = writeln!(out, "    Enhanced Route Refresh: {}", adv_rcv(c));
        }
        for c in &n.mp_families {
            let _ = writeln!(
                out,
                "    Address Family {}: {}",
                family_title(&c.name),
                adv_rcv(c)
            );
        }
        if let Some(c) = cap(n, "extendedNexthop") {
            let _ = writeln!(out, "    Extended nexthop: {}", adv_rcv(c));
        }
        if let Some(c) = cap(n, "hostName") {
            let mut line = "    Hostname Capability:".to_owned();
            if c.advertised {
                let _ = write!(
                    line,
                    " advertised (name: {},domain name: n/a)",
                    n.local_hostname.as_deref().unwrap_or("n/a")
                );
            }
            if c.received {
                let _ = write!(
                    line,
                    " received (name: {},domain name: {})",
                    printable(n.hostname.as_deref().unwrap_or("n/a")),
                    printable(
                        n.domain
                            .as_deref()
                            .filter(|d| !d.is_empty())
                            .unwrap_or("n/a")
                    )
                );
            }
            let _ = writeln!(out, "{line}");
        }
        if let Some(c) = cap(n, "gracefulRestart") {
            let _ = writeln!(out, "    Graceful Restart Capability: {}", adv_rcv(c));
            if let Some(r) = remote_gr(n) {
                let _ = writeln!(
                    out,
                    "      Remote Restart timer is {} seconds",
                    r.restart_time
                );
                out.push_str("      Address families by peer:\n        ");
                if r.families.is_empty() {
                    out.push_str("none");
                }
                let fams: Vec<String> = r
                    .families
                    .iter()
                    .map(|(f, kept)| {
                        let how = if *kept { "preserved" } else { "not preserved" };
                        format!("{}({how})", f.title())
                    })
                    .collect();
                out.push_str(&fams.join(", "));
                out.push('\n');
            }
        }
    }
    let gr = &n.graceful_restart;
    out.push_str("  Graceful restart information:\n");
    if !n.eor_sent.is_empty() {
        let _ = writeln!(out, "    End-of-RIB send: {}", titles(&n.eor_sent));
    }
    if !n.eor_received.is_empty() {
        let _ = writeln!(out, "    End-of-RIB received: {}", titles(&n.eor_received));
    }
    let _ = writeln!(out, "    Local GR Mode: {}", gr.local_mode);
    let _ = writeln!(out, "    Remote GR Mode: {}", remote_gr_mode(n));
    let remote = remote_gr(n);
    let yes = |b: bool| if b { "True" } else { "False" };
    let _ = writeln!(out, "    R bit: {}", yes(remote.is_some_and(|r| r.r_bit)));
    let _ = writeln!(out, "    N bit: {}", yes(remote.is_some_and(|r| r.n_bit)));
    out.push_str("    Timers:\n");
    let _ = writeln!(
        out,
        "      Configured Restart Time(sec): {}",
        gr.restart_time
    );
    let _ = writeln!(
        out,
        "      Received Restart Time(sec): {}",
        remote.map_or(0, |r| r.restart_time)
    );
    if let Some(r) = remote {
        for f in &n.families {
            let f = f.family;
            let yn = |b: bool| if b { "Yes" } else { "No" };
            let sent = n.eor_sent.contains(&f);
            let _ = writeln!(out, "    {}:", f.title());
            let _ = writeln!(out, "      F bit: {}", yes(f_bit(r, f)));
            let _ = writeln!(out, "      End-of-RIB sent: {}", yn(sent));
            let _ = writeln!(
                out,
                "      End-of-RIB sent after update: {}",
                yn(n.eor_sent_after_update.contains(&f))
            );
            let _ = writeln!(
                out,
                "      End-of-RIB received: {}",
                yn(n.eor_received.contains(&f))
            );
            out.push_str("      Timers:\n");
            let _ = writeln!(
                out,
                "        Configured Stale Path Time(sec): {}",
                gr.stale_path_time
            );
        }
    }
    let m = &n.messages;
    out.push_str("  Message statistics:\n    Inq depth is 0\n    Outq depth is 0\n");
    out.push_str("                         Sent       Rcvd\n");
    for (name, s, r) in [
        ("Opens:", m.opens_sent, m.opens_rcvd),
        ("Notifications:", m.notifications_sent, m.notifications_rcvd),
        ("Updates:", m.updates_sent, m.updates_rcvd),
        ("Keepalives:", m.keepalives_sent, m.keepalives_rcvd),
        ("Route Refresh:", m.route_refresh_sent, m.route_refresh_rcvd),
        ("Capability:", 0, 0),
        ("Total:", m.total_sent(), m.total_rcvd()),
    ] {
        let _ = writeln!(out, "    {name:<14} {s:>10} {r:>10}");
    }
    out.push_str("  Minimum time between advertisement runs is 0 seconds\n\n");
    for f in &n.families {
        let _ = writeln!(out, " For address family: {}", f.family.title());
        if f.soft_reconfig_in {
            out.push_str("  Inbound soft reconfiguration allowed\n");
        }
        if f.next_hop_self {
            out.push_str("  NEXT_HOP is always this router\n");
        }
        let _ = writeln!(out, "  {} accepted prefixes\n", f.accepted);
    }
    let _ = writeln!(
        out,
        "  Connections established {}; dropped {}",
        n.established, n.dropped
    );
    match (&n.last_reset, n.last_reset_msecs) {
        (Some(why), Some(ms)) => {
            let _ = writeln!(
                out,
                "  Last reset {},  {}",
                uptime(ms / 1000),
                printable(why)
            );
        }
        _ => out.push_str("  Last reset never\n"),
    }
    if let Some(h) = n.ebgp_max_hops {
        let _ = writeln!(out, "  External BGP neighbor may be up to {h} hops away.");
    }
    if let (Some(lh), Some(lp)) = (&n.local_host, n.local_port) {
        let _ = writeln!(out, "Local host: {lh}, Local port: {lp}");
    }
    if let (Some(fh), Some(fp)) = (&n.foreign_host, n.foreign_port) {
        let _ = writeln!(out, "Foreign host: {fh}, Foreign port: {fp}");
    }
    if let Some(nh) = &n.nexthop {
        let _ = writeln!(out, "Nexthop: {nh}");
        let _ = writeln!(out, "Nexthop global: {}", n.nexthop_global);
        let _ = writeln!(out, "Nexthop local: {}", n.nexthop_local);
        let shared = if n.shared_network {
            "shared network"
        } else {
            "non shared network"
        };
        let _ = writeln!(out, "BGP connection: {shared}");
    }
    let _ = writeln!(
        out,
        "BGP Connect Retry Timer in Seconds: {}",
        n.connect_retry
    );
    if n.authentication {
        out.push_str("Peer Authentication Enabled\n");
    }
    out.push_str("\n\n");
}

/// FRR's "Remote GR Mode": the peer restarts (its capability lists
/// families), only helps (an empty list), or sent no capability.
fn remote_gr_mode(n: &BgpNeighbor) -> &'static str {
    match remote_gr(n) {
        _ if n.state != "Established" => "NotApplicable",
        Some(r) if !r.families.is_empty() => "Restart",
        Some(_) => "Helper",
        None => "Disable",
    }
}

/// The peer's Graceful Restart capability of the current session.
fn remote_gr(n: &BgpNeighbor) -> Option<&tern_control::RemoteGracefulRestart> {
    n.graceful_restart
        .remote
        .as_ref()
        .filter(|_| n.state == "Established")
}

/// The peer's F bit (forwarding kept) for `f`; false when not listed.
fn f_bit(r: &tern_control::RemoteGracefulRestart, f: BgpFamily) -> bool {
    r.families.iter().any(|(g, kept)| *g == f && *kept)
}

fn titles(list: &[BgpFamily]) -> String {
    list.iter().map(|f| f.title()).collect::<Vec<_>>().join(" ")
}

fn keys(list: &[BgpFamily]) -> Value {
    let mut m = Map::new();
    for f in list {
        m.insert(f.key().into(), json!(true));
    }
    Value::Object(m)
}

/// The JSON of `show bgp neighbors [ADDR] json`.
pub fn neighbors_json(list: &[BgpNeighbor], configured: bool, asked: bool) -> Value {
    if !configured {
        return json!({});
    }
    if asked && list.is_empty() {
        return json!({"bgpNoSuchNeighbor": true});
    }
    let mut top = Map::new();
    for n in list {
        top.insert(n.address.clone(), neighbor_json(n));
    }
    Value::Object(top)
}

fn neighbor_json(n: &BgpNeighbor) -> Value {
    let mut o = Map::new();
    o.insert("remoteAs".into(), json!(n.remote_as));
    o.insert("localAs".into(), json!(n.local_as));
    if n.internal {
        o.insert("nbrInternalLink".into(), json!(true));
    } else {
        o.insert("nbrExternalLink".into(), json!(true));
    }
    if let Some(d) = &n.description {
        o.insert("nbrDesc".into(), json!(d));
    }
    if let Some(h) = &n.hostname {
        o.insert("hostname".into(), json!(h));
    }
    o.insert("bgpVersion".into(), json!(4));
    o.insert("remoteRouterId".into(), json!(n.remote_router_id));
    o.insert("localRouterId".into(), json!(n.local_router_id));
    o.insert("bgpState".into(), json!(n.state));
    if let (Some(s), true) = (n.uptime_secs, n.state == "Established") {
        o.insert("bgpTimerUpMsec".into(), json!(s.saturating_mul(1000)));
        o.insert("bgpTimerUpString".into(), json!(uptime(s)));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        o.insert(
            "bgpTimerUpEstablishedEpoch".into(),
            json!(now.saturating_sub(s)),
        );
    }
    o.insert(
        "bgpTimerLastRead".into(),
        json!(n.last_read_msecs.unwrap_or(0)),
    );
    o.insert(
        "bgpTimerLastWrite".into(),
        json!(n.last_write_msecs.unwrap_or(0)),
    );
    o.insert(
        "bgpInUpdateElapsedTimeMsecs".into(),
        json!(n.last_update_msecs.unwrap_or(0)),
    );
    o.insert(
        "bgpTimerConfiguredHoldTimeMsecs".into(),
        json!(u64::from(n.configured_hold_time) * 1000),
    );
    o.insert(
        "bgpTimerConfiguredKeepAliveIntervalMsecs".into(),
        json!(u64::from(n.configured_keepalive) * 1000),
    );
    let hold = n.hold_time.unwrap_or(n.configured_hold_time);
    let keepalive = n.keepalive.unwrap_or(n.configured_keepalive);
    o.insert(
        "bgpTimerHoldTimeMsecs".into(),
        json!(u64::from(hold) * 1000),
    );
    o.insert(
        "bgpTimerKeepAliveIntervalMsecs".into(),
        json!(u64::from(keepalive) * 1000),
    );
    o.insert("extendedOptionalParametersLength".into(), json!(false));
    if n.state == "Established" {
        let mut caps = Map::new();
        for c in &n.capabilities {
            match c.name.as_str() {
                "hostName" => {
                    let mut h = Map::new();
                    if c.advertised {
                        h.insert(
                            "advHostName".into(),
                            json!(n.local_hostname.as_deref().unwrap_or("n/a")),
                        );
                        h.insert("advDomainName".into(), json!("n/a"));
                    }
                    if c.received {
                        h.insert(
                            "rcvHostName".into(),
                            json!(n.hostname.as_deref().unwrap_or("n/a")),
                        );
                        h.insert(
                            "rcvDomainName".into(),
                            json!(
                                n.domain
                                    .as_deref()
                                    .filter(|d| !d.is_empty())
                                    .unwrap_or("n/a")
                            ),
                        );
                    }
                    caps.insert("hostName".into(), Value::Object(h));
                }
                "routeRefresh" => {
                    let old = cap(n, "routeRefreshOld").is_some();
                    let v = match (c.advertised, c.received, old) {
                        (true, true, true) => "advertisedAndReceivedOldNew",
                        (true, true, false) => "advertisedAndReceivedNew",
                        (true, false, true) => "advertisedAndReceivedOld",
                        (true, false, false) => "advertised",
                        _ => "received",
                    };
                    caps.insert("routeRefresh".into(), json!(v));
                }
                "routeRefreshOld" => {}
                "gracefulRestart" if !(c.advertised && c.received) => {
                    caps.insert("gracefulRestartCapability".into(), json!(adv_rcv_json(c)));
                }
                "addPath" => {
                    let mut fams = Map::new();
                    for (f, ks) in &n.add_path_received {
                        let mut o = Map::new();
                        for k in ks {
                            o.insert(k.clone(), json!(true));
                        }
                        fams.insert(f.key().into(), Value::Object(o));
                    }
                    caps.insert("addPath".into(), Value::Object(fams));
                }
                "extendedNexthop" => {
                    caps.insert("extendedNexthop".into(), json!(adv_rcv_json(c)));
                }
                name => {
                    caps.insert(name.into(), json!(adv_rcv_json(c)));
                }
            }
        }
        let mut mp = Map::new();
        for c in &n.mp_families {
            mp.insert(c.name.clone(), json!({ adv_rcv_json(c): true }));
        }
        caps.insert("multiprotocolExtensions".into(), Value::Object(mp));
        if let Some(r) = remote_gr(n) {
            caps.insert(
                "gracefulRestartRemoteTimerMsecs".into(),
                json!(u64::from(r.restart_time) * 1000),
            );
            let by_peer = if r.families.is_empty() {
                json!("none")
            } else {
                let mut m = Map::new();
                for (f, kept) in &r.families {
                    let mut sub = Map::new();
                    if *kept {
                        sub.insert("preserved".into(), json!(true));
                    }
                    m.insert(f.key().into(), Value::Object(sub));
                }
                Value::Object(m)
            };
            caps.insert("addressFamiliesByPeer".into(), by_peer);
        }
        o.insert("neighborCapabilities".into(), Value::Object(caps));
    }
    let gr = &n.graceful_restart;
    let mut info = json!({
        "endOfRibSend": keys(&n.eor_sent),
        "endOfRibRecv": keys(&n.eor_received),
        "localGrMode": gr.local_mode,
        "remoteGrMode": remote_gr_mode(n),
    });
    let remote = remote_gr(n);
    if let Some(i) = info.as_object_mut() {
        i.insert("rBit".into(), json!(remote.is_some_and(|r| r.r_bit)));
        i.insert("nBit".into(), json!(remote.is_some_and(|r| r.n_bit)));
        i.insert(
            "timers".into(),
            json!({
                "configuredRestartTimer": gr.restart_time,
                "receivedRestartTimer": remote.map_or(0, |r| r.restart_time),
            }),
        );
    }
    if let (Some(r), Some(i)) = (remote, info.as_object_mut()) {
        for f in &n.families {
            let f = f.family;
            let sent = n.eor_sent.contains(&f);
            i.insert(
                f.key().into(),
                json!({
                    "fBit": f_bit(r, f),
                    "endOfRibStatus": {
                        "endOfRibSend": sent,
                        "endOfRibSentAfterUpdate": n.eor_sent_after_update.contains(&f),
                        "endOfRibRecv": n.eor_received.contains(&f),
                    },
                    "timers": { "stalePathTimer": gr.stale_path_time },
                }),
            );
        }
    }
    o.insert("gracefulRestartInfo".into(), info);
    let m = &n.messages;
    o.insert(
        "messageStats".into(),
        json!({
            "depthInq": 0,
            "depthOutq": 0,
            "opensSent": m.opens_sent,
            "opensRecv": m.opens_rcvd,
            "notificationsSent": m.notifications_sent,
            "notificationsRecv": m.notifications_rcvd,
            "updatesSent": m.updates_sent,
            "updatesRecv": m.updates_rcvd,
            "keepalivesSent": m.keepalives_sent,
            "keepalivesRecv": m.keepalives_rcvd,
            "routeRefreshSent": m.route_refresh_sent,
            "routeRefreshRecv": m.route_refresh_rcvd,
            "capabilitySent": 0,
            "capabilityRecv": 0,
            "totalSent": m.total_sent(),
            "totalRecv": m.total_rcvd(),
        }),
    );
    o.insert("minBtwnAdvertisementRunsTimerMsecs".into(), json!(0));
    let mut afs = Map::new();
    for f in &n.families {
        let mut af = json!({
            "packetQueueLength": 0,
            "commAttriSentToNbr": "extendedAndStandard",
            "acceptedPrefixCounter": f.accepted,
            "sentPrefixCounter": f.sent,
        });
        if let Some(o) = af.as_object_mut() {
            if f.soft_reconfig_in {
                o.insert("inboundSoftConfigPermit".into(), json!(true));
            }
            if f.next_hop_self {
                o.insert("routerAlwaysNextHop".into(), json!(true));
            }
        }
        afs.insert(f.family.key().into(), af);
    }
    o.insert("addressFamilyInfo".into(), Value::Object(afs));
    o.insert("connectionsEstablished".into(), json!(n.established));
    o.insert("connectionsDropped".into(), json!(n.dropped));
    if let (Some(why), Some(ms)) = (&n.last_reset, n.last_reset_msecs) {
        o.insert("lastResetTimerMsecs".into(), json!(ms));
        o.insert("lastResetDueTo".into(), json!(why));
    }
    if let Some(h) = n.ebgp_max_hops {
        o.insert("externalBgpNbrMaxHopsAway".into(), json!(h));
    }
    // Without a connection FRR says Unknown and -1.
    let (lh, lp) = match (&n.local_host, n.local_port) {
        (Some(h), Some(p)) => (json!(h), json!(p)),
        _ => (json!("Unknown"), json!(-1)),
    };
    o.insert("hostLocal".into(), lh);
    o.insert("portLocal".into(), lp);
    let (fh, fp) = match (&n.foreign_host, n.foreign_port) {
        (Some(h), Some(p)) => (json!(h), json!(p)),
        _ => (json!("Unknown"), json!(-1)),
    };
    o.insert("hostForeign".into(), fh);
    o.insert("portForeign".into(), fp);
    if let Some(nh) = &n.nexthop {
        o.insert("nexthop".into(), json!(nh));
        o.insert("nexthopGlobal".into(), json!(n.nexthop_global));
        o.insert("nexthopLocal".into(), json!(n.nexthop_local));
        o.insert(
            "bgpConnection".into(),
            json!(if n.shared_network {
                "sharedNetwork"
            } else {
                "nonSharedNetwork"
            }),
        );
    }
    o.insert("connectRetryTimer".into(), json!(n.connect_retry));
    if n.authentication {
        // FRR 8.4 prints it as a number.
        o.insert("authenticationEnabled".into(), json!(1));
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::{MessageCounters, NeighborFamily};

    fn up() -> BgpNeighbor {
        BgpNeighbor {
            address: "192.0.2.2".into(),
            remote_as: 65000,
            local_as: 65002,
            description: Some("tor1".into()),
            hostname: Some("tor1".into()),
            local_hostname: Some("node2".into()),
            remote_router_id: "198.51.100.1".into(),
            local_router_id: "198.51.100.12".into(),
            state: "Established".into(),
            uptime_secs: Some(7),
            hold_time: Some(9),
            keepalive: Some(3),
            configured_hold_time: 9,
            configured_keepalive: 3,
            connect_retry: 10,
            capabilities: vec![NeighborCapability {
                name: "4byteAs".into(),
                advertised: true,
                received: true,
            }],
            messages: MessageCounters {
                opens_sent: 1,
                opens_rcvd: 1,
                updates_sent: 4,
                ..Default::default()
            },
            families: vec![NeighborFamily {
                family: BgpFamily::Ipv4Unicast,
                accepted: 3,
                sent: 5,
                soft_reconfig_in: false,
                next_hop_self: false,
            }],
            established: 1,
            ebgp_max_hops: Some(1),
            ..Default::default()
        }
    }

    #[test]
    fn text_block_like_frr() {
        let t = neighbors_text(&[up()], true, false);
        assert!(t.starts_with("BGP neighbor is 192.0.2.2, remote AS 65000, local AS 65002, external link\n Description: tor1\nHostname: tor1\n  BGP version 4, remote router ID 198.51.100.1, local router ID 198.51.100.12\n  BGP state = Established, up for 00:00:07\n"), "{t}");
        assert!(
            t.contains("\n    4 Byte AS: advertised and received\n"),
            "{t}"
        );
        assert!(
            t.contains("\n    Opens:                  1          1\n"),
            "{t}"
        );
        assert!(
            t.contains("\n    Total:                  5          1\n"),
            "{t}"
        );
        assert!(t.contains("\n  3 accepted prefixes\n"), "{t}");
        assert!(t.contains("\n  External BGP neighbor may be up to 1 hops away.\n"));
        assert!(!t.contains("soft reconfiguration"), "{t}");
        // The family lines of soft-reconfiguration and next-hop-self, as
        // FRR 8.4.4 prints them, before the counters.
        let mut n = up();
        n.families[0].soft_reconfig_in = true;
        n.families[0].next_hop_self = true;
        let t = neighbors_text(std::slice::from_ref(&n), true, false);
        assert!(
            t.contains(
                " For address family: IPv4 Unicast\n  Inbound soft reconfiguration allowed\n  \
                 NEXT_HOP is always this router\n  3 accepted prefixes\n"
            ),
            "{t}"
        );
        let v = neighbors_json(&[n], true, false);
        let af = &v["192.0.2.2"]["addressFamilyInfo"]["ipv4Unicast"];
        assert_eq!(af["inboundSoftConfigPermit"], true, "{v}");
        assert_eq!(af["routerAlwaysNextHop"], true, "{v}");
    }

    #[test]
    fn peer_supplied_strings_are_escaped() {
        let mut n = up();
        n.hostname = Some("tor1\nBGP neighbor is 6.6.6.6\x1b[2J\u{9b}".into());
        n.domain = Some("ex\rample\\x41".into());
        n.last_reset = Some("NOTIFICATION received (Cease)\x07".into());
        n.last_reset_msecs = Some(1000);
        n.capabilities.push(NeighborCapability {
            name: "hostName".into(),
            advertised: true,
            received: true,
        });
        n.families[0].accepted = 0;
        let t = neighbors_text(&[n.clone()], true, false);
        assert!(
            !t.chars().any(|c| c.is_control() && c != '\n'),
            "a control character reached the terminal: {t:?}"
        );
        assert!(
            t.contains("Hostname: tor1\\x0aBGP neighbor is 6.6.6.6\\x1b[2J\\x9b\n"),
            "{t}"
        );
        assert!(t.contains("domain name: ex\\x0dample\\\\x41)"), "{t}");
        assert!(t.contains("(Cease)\\x07\n"), "{t}");
        assert!(
            !t.contains("\nBGP neighbor is 6.6.6.6"),
            "a forged line: {t}"
        );
        // JSON keeps the string as sent (the encoder escapes it).
        let v = neighbors_json(&[n], true, false);
        assert!(v.to_string().contains("tor1\\nBGP"), "{v}");
    }

    #[test]
    fn unknown_neighbor() {
        assert_eq!(
            neighbors_text(&[], true, true),
            "% No such neighbor in this view/vrf\n\n"
        );
        assert_eq!(
            neighbors_json(&[], true, true),
            json!({"bgpNoSuchNeighbor": true})
        );
        let v = neighbors_json(&[up()], true, true);
        let n = &v["192.0.2.2"];
        assert_eq!(n["bgpState"], "Established");
        assert_eq!(
            n["addressFamilyInfo"]["ipv4Unicast"]["acceptedPrefixCounter"],
            3
        );
        assert_eq!(
            n["neighborCapabilities"]["4byteAs"],
            "advertisedAndReceived"
        );
    }

    #[test]
    fn authentication_as_frr_prints_it() {
        // FRR 8.4.4 with `neighbor X password`: a text line after the
        // connect retry timer and `"authenticationEnabled":1` in JSON.
        let text = |n: &BgpNeighbor| neighbors_text(std::slice::from_ref(n), true, false);
        let mut n = up();
        assert!(!text(&n).contains("Authentication"));
        assert!(neighbor_json(&n).get("authenticationEnabled").is_none());
        n.authentication = true;
        let t = text(&n);
        assert!(
            t.contains("BGP Connect Retry Timer in Seconds: 10\nPeer Authentication Enabled\n"),
            "{t}"
        );
        assert_eq!(neighbor_json(&n)["authenticationEnabled"], 1);
    }
}
