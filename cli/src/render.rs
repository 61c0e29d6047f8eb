//! Renderers: ternd's replies printed the way vtysh prints the same show
//! commands (FRR 8.4's zebra for interfaces), and FRR's JSON keys.
use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use tern_control::{InterfaceInfo, VersionInfo};

/// `s` safe to print on a terminal: control characters (C0, DEL, C1:
/// escape sequences, carriage returns, newlines that would forge lines)
/// as `\xHH` or `\u{HHHH}`, and a backslash doubled so that an escape
/// cannot be faked. For strings a peer chose (its FQDN hostname and
/// domain, the reason a session went down); JSON output is escaped by
/// the encoder instead.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() || c == '\\') {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() && u32::from(c) <= 0xff => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// IFF_* flags in the order FRR prints them.
const FLAGS: &[(u32, &str)] = &[
    (0x1, "UP"),
    (0x2, "BROADCAST"),
    (0x4, "DEBUG"),
    (0x8, "LOOPBACK"),
    (0x10, "POINTOPOINT"),
    (0x20, "NOTRAILERS"),
    (0x40, "RUNNING"),
    (0x80, "NOARP"),
    (0x100, "PROMISC"),
    (0x200, "ALLMULTI"),
    (0x1000, "MULTICAST"),
];
const IFF_RUNNING: u32 = 0x40;

/// Orders interface names as zebra does: by name, numbers compared as
/// numbers (eth2 before eth10).
pub fn sort_interfaces(list: &mut [InterfaceInfo]) {
    list.sort_by_key(|i| natural_key(&i.name));
}

/// Splits a name into text and number runs for natural ordering.
fn natural_key(name: &str) -> Vec<(String, u64)> {
    let mut key = Vec::new();
    let mut text = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            let mut n: u64 = c.to_digit(10).map_or(0, u64::from);
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n.saturating_mul(10).saturating_add(u64::from(d));
                chars.next();
            }
            key.push((std::mem::take(&mut text), n));
        } else {
            text.push(c);
        }
    }
    key.push((text, 0));
    key
}

/// `<UP,BROADCAST,RUNNING,MULTICAST>`
pub fn flags_string(flags: u32) -> String {
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    format!("<{}>", names.join(","))
}

/// Uptime as FRR prints it: `hh:mm:ss`, then `NdNNhNNm`, then `NNwNdNNh`.
pub fn uptime(secs: u64) -> String {
    const DAY: u64 = 86_400;
    const WEEK: u64 = 7 * DAY;
    let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
    if secs < DAY {
        format!("{:02}:{m:02}:{s:02}", secs / 3600)
    } else if secs < WEEK {
        format!("{}d{h:02}h{m:02}m", secs / DAY)
    } else {
        format!("{:02}w{}d{h:02}h", secs / WEEK, (secs % WEEK) / DAY)
    }
}

/// `show version`
pub fn version(v: &VersionInfo, kernel: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Tern {} ({}) on Linux({kernel}).",
        v.version, v.hostname
    );
    let _ = writeln!(
        out,
        "ternd pid {}, instance {}, up {}",
        v.pid,
        v.instance.as_deref().unwrap_or("(default)"),
        uptime(v.uptime_secs)
    );
    let _ = writeln!(out, "configuration file: {}", v.config_file);
    let on = if v.counters_attached.is_empty() {
        "(none)".to_owned()
    } else {
        v.counters_attached.join(" ")
    };
    let _ = writeln!(out, "eBPF interface counters (TCX) on: {on}");
    out
}

fn is_running(i: &InterfaceInfo) -> bool {
    i.flags & IFF_RUNNING != 0
}

fn up_down(b: bool) -> &'static str {
    if b { "up" } else { "down" }
}

fn interface_type(i: &InterfaceInfo) -> String {
    if i.kind.is_empty() {
        "Other".to_owned()
    } else {
        i.kind.to_uppercase()
    }
}

/// `show interface [NAME]`
pub fn interfaces(list: &[InterfaceInfo]) -> String {
    let mut out = String::new();
    for i in list {
        let _ = writeln!(
            out,
            "Interface {} is {}, line protocol is {}",
            i.name,
            up_down(i.admin_up),
            up_down(is_running(i))
        );
        out.push_str("  vrf: default\n");
        if let Some(d) = &i.description {
            let _ = writeln!(out, "  Description: {d}");
        }
        let _ = writeln!(out, "  index {} metric 0 mtu {} ", i.ifindex, i.mtu);
        let _ = writeln!(out, "  flags: {}", flags_string(i.flags));
        let _ = writeln!(out, "  Type: {}", i.link_type);
        if !i.hw_addr.is_empty() && !i.loopback {
            let _ = writeln!(out, "  HWaddr: {}", i.hw_addr);
        }
        for a in &i.addresses {
            let fam = if a.addr().is_ipv4() { "inet" } else { "inet6" };
            // FRR does not list the loopback's own 127/8 and ::1.
            if i.loopback && a.addr().is_loopback() {
                continue;
            }
            let _ = writeln!(out, "  {fam} {a}");
        }
        let _ = writeln!(out, "  Interface Type {}", interface_type(i));
        if let Some(p) = i.parent_ifindex.filter(|p| *p != i.ifindex) {
            let _ = writeln!(out, "  Parent ifindex: {p}");
        }
        let k = &i.kernel;
        let _ = writeln!(
            out,
            "    input packets {}, bytes {}, dropped {}, multicast packets {}",
            k.rx_packets, k.rx_bytes, k.rx_dropped, k.multicast
        );
        let _ = writeln!(out, "    input errors {}", k.rx_errors);
        let _ = writeln!(
            out,
            "    output packets {}, bytes {}, dropped {}",
            k.tx_packets, k.tx_bytes, k.tx_dropped
        );
        let _ = writeln!(out, "    output errors {}", k.tx_errors);
        match &i.tern {
            Some(t) => {
                let _ = writeln!(
                    out,
                    "  Tern eBPF counters: input packets {}, bytes {}, output packets {}, bytes {}",
                    t.rx_packets, t.rx_bytes, t.tx_packets, t.tx_bytes
                );
            }
            None => out.push_str("  Tern eBPF counters: not attached\n"),
        }
    }
    out
}

/// `show interface brief`
pub fn interfaces_brief(list: &[InterfaceInfo]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<16}{:<8}{:<16}Addresses",
        "Interface", "Status", "VRF"
    );
    let _ = writeln!(
        out,
        "{:<16}{:<8}{:<16}---------",
        "---------", "------", "---"
    );
    for i in list {
        let addrs: Vec<String> = i
            .addresses
            .iter()
            .filter(|a| !(i.loopback && a.addr().is_loopback()))
            .filter(|a| match a.addr() {
                std::net::IpAddr::V6(v6) => !v6.is_unicast_link_local(),
                std::net::IpAddr::V4(_) => true,
            })
            .map(ToString::to_string)
            .collect();
        let first = addrs.first().map(String::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "{:<16}{:<8}{:<16}{first}",
            i.name,
            up_down(i.admin_up),
            "default"
        );
        for a in addrs.iter().skip(1) {
            let _ = writeln!(out, "{:<40}+ {a}", "");
        }
    }
    out.push('\n');
    out
}

fn interface_json(i: &InterfaceInfo) -> Value {
    let mut o = Map::new();
    o.insert("administrativeStatus".into(), json!(up_down(i.admin_up)));
    o.insert("operationalStatus".into(), json!(up_down(is_running(i))));
    o.insert("vrfName".into(), json!("default"));
    if let Some(d) = &i.description {
        o.insert("description".into(), json!(d));
    }
    o.insert("index".into(), json!(i.ifindex));
    o.insert("metric".into(), json!(0));
    o.insert("mtu".into(), json!(i.mtu));
    o.insert("flags".into(), json!(flags_string(i.flags)));
    o.insert("type".into(), json!(i.link_type));
    if !i.hw_addr.is_empty() && !i.loopback {
        o.insert("hardwareAddress".into(), json!(i.hw_addr));
    }
    let addrs: Vec<Value> = i
        .addresses
        .iter()
        .filter(|a| !(i.loopback && a.addr().is_loopback()))
        .map(|a| json!({"address": a.to_string(), "secondary": false, "unnumbered": false}))
        .collect();
    o.insert("ipAddresses".into(), Value::Array(addrs));
    o.insert("interfaceType".into(), json!(interface_type(i)));
    if let Some(p) = i.parent_ifindex.filter(|p| *p != i.ifindex) {
        o.insert("parentIfindex".into(), json!(p));
    }
    let k = &i.kernel;
    o.insert("inputPackets".into(), json!(k.rx_packets));
    o.insert("inputBytes".into(), json!(k.rx_bytes));
    o.insert("inputDropped".into(), json!(k.rx_dropped));
    o.insert("inputMulticastPackets".into(), json!(k.multicast));
    o.insert("inputErrors".into(), json!(k.rx_errors));
    o.insert("outputPackets".into(), json!(k.tx_packets));
    o.insert("outputBytes".into(), json!(k.tx_bytes));
    o.insert("outputDropped".into(), json!(k.tx_dropped));
    o.insert("outputErrors".into(), json!(k.tx_errors));
    if let Some(t) = &i.tern {
        o.insert(
            "ternCounters".into(),
            json!({
                "inputPackets": t.rx_packets,
                "inputBytes": t.rx_bytes,
                "outputPackets": t.tx_packets,
                "outputBytes": t.tx_bytes,
            }),
        );
    }
    Value::Object(o)
}

/// `show interface [NAME|brief] json`: an object keyed by interface name.
pub fn interfaces_json(list: &[InterfaceInfo], brief: bool) -> Value {
    let mut top = Map::new();
    for i in list {
        let v = if brief {
            let addrs: Vec<String> = i.addresses.iter().map(ToString::to_string).collect();
            json!({
                "status": up_down(i.admin_up),
                "vrfName": "default",
                "addresses": addrs,
            })
        } else {
            interface_json(i)
        };
        top.insert(i.name.clone(), v);
    }
    Value::Object(top)
}

/// JSON as vtysh prints it: two-space indent, one key per line.
pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".to_owned());
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::{KernelCounters, TernCounters};

    fn eth1() -> InterfaceInfo {
        InterfaceInfo {
            name: "eth1".into(),
            ifindex: 6,
            kind: "veth".into(),
            admin_up: true,
            lower_up: true,
            loopback: false,
            flags: 0x1 | 0x2 | 0x40 | 0x1000,
            link_type: "Ethernet".into(),
            parent_ifindex: Some(5),
            oper_state: "up".into(),
            mtu: 1500,
            hw_addr: "06:a5:57:f6:ef:db".into(),
            addresses: vec![
                "192.0.2.0/31".parse().unwrap(),
                "2001:db8:0:1::1/64".parse().unwrap(),
                "fe80::4a5:57ff:fef6:efdb/64".parse().unwrap(),
            ],
            kernel: KernelCounters::default(),
            tern: Some(TernCounters {
                rx_packets: 3,
                rx_bytes: 294,
                tx_packets: 4,
                tx_bytes: 392,
            }),
            description: Some("uplink".into()),
        }
    }

    #[test]
    fn natural_order() {
        let mut l: Vec<InterfaceInfo> = ["lo", "eth10", "eth2", "eth1"]
            .iter()
            .map(|n| InterfaceInfo {
                name: (*n).into(),
                ..eth1()
            })
            .collect();
        sort_interfaces(&mut l);
        let names: Vec<&str> = l.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["eth1", "eth2", "eth10", "lo"]);
    }

    #[test]
    fn flags_in_frr_order() {
        assert_eq!(
            flags_string(0x1 | 0x2 | 0x40 | 0x1000),
            "<UP,BROADCAST,RUNNING,MULTICAST>"
        );
        assert_eq!(flags_string(0x1 | 0x8 | 0x40), "<UP,LOOPBACK,RUNNING>");
    }

    #[test]
    fn uptime_like_frr() {
        assert_eq!(uptime(0), "00:00:00");
        assert_eq!(uptime(3723), "01:02:03");
        assert_eq!(uptime(86_400 + 7200 + 60), "1d02h01m");
        assert_eq!(uptime(8 * 86_400 + 3600), "01w1d01h");
    }

    #[test]
    fn brief_lines_up_like_zebra() {
        // Captured from FRR 8.4.4's `show interface brief` for the same links.
        let want = "\
Interface       Status  VRF             Addresses
---------       ------  ---             ---------
eth1            up      default         192.0.2.0/31
                                        + 2001:db8:0:1::1/64

";
        assert_eq!(interfaces_brief(&[eth1()]), want);
    }

    #[test]
    fn detail_starts_like_zebra() {
        let text = interfaces(&[eth1()]);
        assert!(text.starts_with(
            "Interface eth1 is up, line protocol is up\n  vrf: default\n  Description: uplink\n"
        ));
        assert!(text.contains("  flags: <UP,BROADCAST,RUNNING,MULTICAST>\n  Type: Ethernet\n  HWaddr: 06:a5:57:f6:ef:db\n  inet 192.0.2.0/31\n  inet6 2001:db8:0:1::1/64\n"));
        assert!(text.contains("  Interface Type VETH\n"));
        assert!(text.contains("  Parent ifindex: 5\n"));
        assert!(text.contains(
            "Tern eBPF counters: input packets 3, bytes 294, output packets 4, bytes 392"
        ));
    }

    #[test]
    fn json_keys_are_frrs() {
        let v = interfaces_json(&[eth1()], false);
        let e = &v["eth1"];
        for k in [
            "administrativeStatus",
            "operationalStatus",
            "vrfName",
            "description",
            "index",
            "metric",
            "mtu",
            "flags",
            "type",
            "hardwareAddress",
            "ipAddresses",
            "interfaceType",
            "parentIfindex",
        ] {
            assert!(e.get(k).is_some(), "missing {k}");
        }
        assert_eq!(e["ipAddresses"][0]["address"], "192.0.2.0/31");
        assert_eq!(e["ternCounters"]["inputPackets"], 3);
    }
}
