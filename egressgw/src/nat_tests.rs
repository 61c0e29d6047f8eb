//! Tests of the SNAT settings.
use super::*;

#[test]
fn default_range_is_every_port_but_the_well_known_ones() {
    let r = PortRange::default();
    assert_eq!((r.min, r.max), (1024, 65_535));
    assert_eq!(r.len(), 64_512);
    for port in [0, 1, 1023] {
        assert!(!r.contains(port), "{port}");
    }
    // The tunnels' ports are inside and kept from UDP flows.
    for (proto, port) in DEFAULT_RESERVED {
        assert_eq!(proto, NatProto::Udp);
        assert!(r.contains(port));
    }
}

#[test]
fn ranges_and_timeouts() {
    assert_eq!(PortRange::new(1, 65_535).unwrap().len(), 65_535);
    assert_eq!(PortRange::new(5000, 5000).unwrap().len(), 1);
    for (min, max) in [(0, 10), (10, 9), (1, 65_536), (70_000, 70_001)] {
        assert_eq!(
            PortRange::new(min, max).unwrap_err().to_string(),
            format!("port-range {min} {max}: expected 1 <= MIN <= MAX <= 65535")
        );
    }
    let mut t = NatTimeouts::default();
    assert_eq!(t.get("tcp-established"), Some(21_600));
    assert_eq!(t.get("udp"), None);
    assert!(t.set("other", 30));
    assert!(!t.set("sctp", 30));
    assert_eq!(t.other, 30);
    assert_eq!(t.validate(), Ok(()));
    t.tcp_syn = 0;
    assert_eq!(
        t.validate().unwrap_err().to_string(),
        "timeout 0: expected 1 to 604800 seconds"
    );
    assert!(NatTimeouts::check(MAX_TIMEOUT).is_ok());
    assert!(NatTimeouts::check(MAX_TIMEOUT + 1).is_err());
    assert_eq!(NatProto::from_number(58), Some(NatProto::Icmp));
    assert_eq!(NatProto::from_number(132), None);
    assert_eq!(
        serde_json::to_value(NatConfig::default()).unwrap()["ports"]["max"],
        65_535
    );
    // A range from JSON is checked before use.
    let bad = PortRange { min: 9, max: 8 };
    assert!(bad.is_empty());
    assert!(bad.validate().is_err());
    let cfg = NatConfig {
        ports: bad,
        ..NatConfig::default()
    };
    assert_eq!(
        cfg.validate().unwrap_err().to_string(),
        "port-range 9 8: expected 1 <= MIN <= MAX <= 65535"
    );
    assert!(!PortRange::default().is_empty());
    assert_eq!(NatConfig::default().validate(), Ok(()));
}
