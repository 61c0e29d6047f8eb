//! `show bfd peers [json]` and `show bfd peer ADDR [json]` in FRR 8.4
//! bfdd's layout: tab-indented blocks, timers in milliseconds, and the
//! JSON keys of bfdd (`remote-id`, `receive-interval`, ...).
use serde_json::{Value, json};
use tern_control::bfd::BfdPeer;

/// Echo receive interval a session advertises: Tern has no Echo
/// function, so 0 ("disabled").
const ECHO_DISABLED: u32 = 0;

/// bfdd's duration words: "1 hour(s), 2 minute(s), 3 second(s)".
fn duration(mut secs: u64) -> String {
    const MINUTE: u64 = 60;
    const HOUR: u64 = 60 * MINUTE;
    const DAY: u64 = 24 * HOUR;
    const MONTH: u64 = 30 * DAY;
    const YEAR: u64 = 12 * MONTH;
    let mut out = String::new();
    for (unit, name) in [
        (YEAR, "year"),
        (MONTH, "month"),
        (DAY, "day"),
        (HOUR, "hour"),
        (MINUTE, "minute"),
    ] {
        if secs >= unit {
            out.push_str(&format!("{} {name}(s), ", secs / unit));
            secs %= unit;
        }
    }
    out.push_str(&format!("{secs} second(s)"));
    out
}

fn interval(ms: u32) -> String {
    if ms == 0 {
        "disabled".to_owned()
    } else {
        format!("{ms}ms")
    }
}

fn peer_block(p: &BfdPeer, out: &mut String) {
    out.push_str(&format!("\tpeer {}", p.peer));
    if p.multihop {
        out.push_str(" multihop");
    }
    if let Some(l) = p.local {
        out.push_str(&format!(" local-address {l}"));
    }
    out.push_str(" vrf default");
    if let Some(i) = &p.interface {
        out.push_str(&format!(" interface {i}"));
    }
    out.push('\n');
    out.push_str(&format!("\t\tID: {}\n", p.id));
    out.push_str(&format!("\t\tRemote ID: {}\n", p.remote_id));
    out.push_str("\t\tActive mode\n");
    if let Some(t) = p.minimum_ttl {
        out.push_str(&format!("\t\tMinimum TTL: {t}\n"));
    }
    out.push_str(&format!("\t\tStatus: {}\n", p.status));
    match p.status.as_str() {
        "up" => out.push_str(&format!("\t\tUptime: {}\n", duration(p.since_secs))),
        "down" => out.push_str(&format!("\t\tDowntime: {}\n", duration(p.since_secs))),
        _ => {}
    }
    out.push_str(&format!("\t\tDiagnostics: {}\n", p.diagnostic));
    out.push_str(&format!(
        "\t\tRemote diagnostics: {}\n",
        p.remote_diagnostic
    ));
    out.push_str(&format!(
        "\t\tPeer Type: {}\n",
        if p.configured {
            "configured"
        } else {
            "dynamic"
        }
    ));
    out.push_str("\t\tRTT min/avg/max: 0/0/0 usec\n");
    out.push_str("\t\tLocal timers:\n");
    out.push_str(&format!(
        "\t\t\tDetect-multiplier: {}\n",
        p.detect_multiplier
    ));
    out.push_str(&format!(
        "\t\t\tReceive interval: {}ms\n",
        p.receive_interval_ms
    ));
    out.push_str(&format!(
        "\t\t\tTransmission interval: {}ms\n",
        p.transmit_interval_ms
    ));
    out.push_str(&format!(
        "\t\t\tEcho receive interval: {}\n",
        interval(ECHO_DISABLED)
    ));
    out.push_str("\t\t\tEcho transmission interval: disabled\n");
    out.push_str("\t\tRemote timers:\n");
    out.push_str(&format!(
        "\t\t\tDetect-multiplier: {}\n",
        p.remote_detect_multiplier
    ));
    out.push_str(&format!(
        "\t\t\tReceive interval: {}ms\n",
        p.remote_receive_interval_ms
    ));
    out.push_str(&format!(
        "\t\t\tTransmission interval: {}ms\n",
        p.remote_transmit_interval_ms
    ));
    out.push_str(&format!(
        "\t\t\tEcho receive interval: {}\n",
        interval(p.remote_echo_receive_interval_ms)
    ));
    out.push('\n');
}

/// `show bfd peers`.
pub fn peers_text(peers: &[BfdPeer]) -> String {
    let mut out = String::from("BFD Peers:\n");
    for p in peers {
        peer_block(p, &mut out);
    }
    out
}

/// `show bfd peer ADDR`: bfdd's answer when there is no such session
/// (text and JSON alike).
pub fn peer_text(peers: &[BfdPeer], addr: &str) -> String {
    match peers.first() {
        Some(p) => {
            let mut out = String::from("BFD Peer:\n");
            peer_block(p, &mut out);
            out
        }
        None => not_found(addr),
    }
}

/// bfdd's words for a session it does not have.
pub fn not_found(addr: &str) -> String {
    format!("% Unable to find 'peer {addr}'\n")
}

/// One session in bfdd's JSON keys.
pub fn peer_json(p: &BfdPeer) -> Value {
    let mut o = serde_json::Map::new();
    o.insert("multihop".into(), json!(p.multihop));
    o.insert("peer".into(), json!(p.peer.to_string()));
    if let Some(l) = p.local {
        o.insert("local".into(), json!(l.to_string()));
    }
    o.insert("vrf".into(), json!("default"));
    if let Some(i) = &p.interface {
        o.insert("interface".into(), json!(i));
    }
    o.insert("id".into(), json!(p.id));
    o.insert("remote-id".into(), json!(p.remote_id));
    o.insert("passive-mode".into(), json!(false));
    if let Some(t) = p.minimum_ttl {
        o.insert("minimum-ttl".into(), json!(t));
    }
    o.insert("status".into(), json!(p.status));
    match p.status.as_str() {
        "up" => {
            o.insert("uptime".into(), json!(p.since_secs));
        }
        "down" => {
            o.insert("downtime".into(), json!(p.since_secs));
        }
        _ => {}
    }
    o.insert("diagnostic".into(), json!(p.diagnostic));
    o.insert("remote-diagnostic".into(), json!(p.remote_diagnostic));
    o.insert("receive-interval".into(), json!(p.receive_interval_ms));
    o.insert("transmit-interval".into(), json!(p.transmit_interval_ms));
    o.insert("echo-receive-interval".into(), json!(ECHO_DISABLED));
    o.insert("echo-transmit-interval".into(), json!(0));
    o.insert("detect-multiplier".into(), json!(p.detect_multiplier));
    o.insert(
        "remote-receive-interval".into(),
        json!(p.remote_receive_interval_ms),
    );
    o.insert(
        "remote-transmit-interval".into(),
        json!(p.remote_transmit_interval_ms),
    );
    o.insert(
        "remote-echo-receive-interval".into(),
        json!(p.remote_echo_receive_interval_ms),
    );
    o.insert(
        "remote-detect-multiplier".into(),
        json!(p.remote_detect_multiplier),
    );
    o.insert("rtt-min".into(), json!(0));
    o.insert("rtt-avg".into(), json!(0));
    o.insert("rtt-max".into(), json!(0));
    Value::Object(o)
}

/// `show bfd peers json`: an array.
pub fn peers_json(peers: &[BfdPeer]) -> Value {
    Value::Array(peers.iter().map(peer_json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up() -> BfdPeer {
        BfdPeer {
            peer: "192.0.2.1".parse().expect("addr"),
            local: Some("192.0.2.0".parse().expect("addr")),
            interface: Some("eth1".into()),
            multihop: false,
            id: 1216280537,
            remote_id: 1216280537,
            status: "up".into(),
            since_secs: 7,
            diagnostic: "ok".into(),
            remote_diagnostic: "ok".into(),
            configured: false,
            receive_interval_ms: 300,
            transmit_interval_ms: 300,
            detect_multiplier: 3,
            remote_receive_interval_ms: 300,
            remote_transmit_interval_ms: 300,
            remote_echo_receive_interval_ms: 50,
            remote_detect_multiplier: 3,
            minimum_ttl: None,
            rx_packets: 0,
            tx_packets: 0,
            up_events: 1,
            down_events: 0,
        }
    }

    /// FRR 8.4 bfdd's `show bfd peers` of a session that is up (captured
    /// in a lab of two FRR nodes); Tern's has "disabled" as its own echo
    /// receive interval, bfdd "50ms".
    const FRR_UP: &str = "BFD Peers:
\tpeer 192.0.2.1 local-address 192.0.2.0 vrf default interface eth1
\t\tID: 1216280537
\t\tRemote ID: 1216280537
\t\tActive mode
\t\tStatus: up
\t\tUptime: 7 second(s)
\t\tDiagnostics: ok
\t\tRemote diagnostics: ok
\t\tPeer Type: dynamic
\t\tRTT min/avg/max: 0/0/0 usec
\t\tLocal timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 300ms
\t\t\tTransmission interval: 300ms
\t\t\tEcho receive interval: 50ms
\t\t\tEcho transmission interval: disabled
\t\tRemote timers:
\t\t\tDetect-multiplier: 3
\t\t\tReceive interval: 300ms
\t\t\tTransmission interval: 300ms
\t\t\tEcho receive interval: 50ms

";

    #[test]
    fn text_is_bfdds_layout() {
        let ours = peers_text(&[up()]);
        let frr = FRR_UP.replacen(
            "Echo receive interval: 50ms",
            "Echo receive interval: disabled",
            1,
        );
        assert_eq!(ours, frr);
        assert_eq!(duration(3725), "1 hour(s), 2 minute(s), 5 second(s)");
        assert!(peer_text(&[], "192.0.2.9").contains("192.0.2.9"));
    }

    #[test]
    fn json_has_bfdds_keys_in_its_order() {
        let v = peer_json(&up());
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(
            keys,
            [
                "multihop",
                "peer",
                "local",
                "vrf",
                "interface",
                "id",
                "remote-id",
                "passive-mode",
                "status",
                "uptime",
                "diagnostic",
                "remote-diagnostic",
                "receive-interval",
                "transmit-interval",
                "echo-receive-interval",
                "echo-transmit-interval",
                "detect-multiplier",
                "remote-receive-interval",
                "remote-transmit-interval",
                "remote-echo-receive-interval",
                "remote-detect-multiplier",
                "rtt-min",
                "rtt-avg",
                "rtt-max"
            ]
        );
    }
}
