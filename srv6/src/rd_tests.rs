//! Tests of route distinguishers and route targets: FRR's text forms, the
//! wire octets (RFC 4364 section 4.2, RFC 4360), refusals, round trips.
use super::*;

fn rd(s: &str) -> RouteDistinguisher {
    s.parse().unwrap()
}

fn rt(s: &str) -> RouteTarget {
    s.parse().unwrap()
}

#[test]
fn rd_types_from_text() {
    assert_eq!(rd("65000:100"), RouteDistinguisher::as2(65000, 100));
    assert_eq!(rd("65000:100").rd_type(), 0);
    assert_eq!(
        rd("0:4294967295"),
        RouteDistinguisher::as2(0, u32::MAX),
        "type 0 keeps a 4-octet number"
    );
    assert_eq!(
        rd("192.0.2.1:5"),
        RouteDistinguisher::ipv4(Ipv4Addr::new(192, 0, 2, 1), 5)
    );
    assert_eq!(rd("192.0.2.1:5").rd_type(), 1);
    // Above 65535 the AS takes 4 octets: type 2.
    assert_eq!(rd("65536:7"), RouteDistinguisher::as4(65536, 7));
    assert_eq!(rd("4200000000:7").rd_type(), 2);
    assert_eq!(rd("65535:7").rd_type(), 0);
}

#[test]
fn rd_wire_octets() {
    assert_eq!(rd("65000:100").to_bytes(), [0, 0, 0xfd, 0xe8, 0, 0, 0, 100]);
    assert_eq!(rd("192.0.2.1:5").to_bytes(), [0, 1, 192, 0, 2, 1, 0, 5]);
    assert_eq!(
        rd("4200000000:7").to_bytes(),
        [0, 2, 0xfa, 0x56, 0xea, 0x00, 0, 7]
    );
    for text in [
        "65000:100",
        "192.0.2.1:5",
        "4200000000:7",
        "0:0",
        "255.255.255.255:65535",
    ] {
        let r = rd(text);
        assert_eq!(RouteDistinguisher::from_bytes(r.to_bytes()), Ok(r));
        assert_eq!(r.to_string(), text, "FRR prints what it reads");
    }
    for bad in [[0, 3, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0]] {
        assert!(RouteDistinguisher::from_bytes(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn rd_refusals_name_the_field() {
    for (text, reason) in [
        ("65000", "ASN:NN"),
        ("65000:", "decimal digits"),
        ("65000:-1", "decimal digits"),
        ("65000:1x", "decimal digits"),
        (":5", "AS number or an IPv4 address"),
        ("as65000:1", "AS number or an IPv4 address"),
        ("65000:4294967296", "4 octets"),
        ("4200000000:65536", "2 octets"),
        ("4294967296:1", "out of range"),
        ("192.0.2.1:65536", "2 octets"),
        ("192.0.2:1", "IPv4"),
        ("1.2.3.4.5:1", "IPv4"),
        ("65000:99999999999999999999999", "out of range"),
    ] {
        let e = text
            .parse::<RouteDistinguisher>()
            .expect_err(text)
            .to_string();
        assert!(e.contains(reason), "{text}: {e}");
        assert!(e.contains(text), "{text}: {e}");
    }
}

#[test]
fn rt_wire_octets_are_rfc_4360() {
    assert_eq!(
        rt("65000:100").to_bytes(),
        [0x00, 0x02, 0xfd, 0xe8, 0, 0, 0, 100]
    );
    assert_eq!(
        rt("192.0.2.1:5").to_bytes(),
        [0x01, 0x02, 192, 0, 2, 1, 0, 5]
    );
    assert_eq!(
        rt("4200000000:7").to_bytes(),
        [0x02, 0x02, 0xfa, 0x56, 0xea, 0x00, 0, 7]
    );
    for text in ["65000:100", "192.0.2.1:5", "4200000000:7"] {
        let r = rt(text);
        assert_eq!(RouteTarget::from_bytes(r.to_bytes()), Ok(r));
        assert_eq!(r.to_string(), text);
        assert_eq!(r.display_tagged(), format!("RT:{text}"));
    }
    // A site of origin (sub-type 0x03) and an opaque community are no RT.
    assert!(RouteTarget::from_bytes([0x00, 0x03, 0, 1, 0, 0, 0, 1]).is_err());
    assert!(RouteTarget::from_bytes([0x03, 0x02, 0, 1, 0, 0, 0, 1]).is_err());
    assert!("65000:4294967296".parse::<RouteTarget>().is_err());
}

#[test]
fn rt_order_is_the_octets_order() {
    // FRR keeps RT lists sorted by their octets: type 0 before type 1
    // before type 2, whatever the text says.
    let mut v = [
        rt("4200000000:1"),
        rt("192.0.2.1:1"),
        rt("65000:2"),
        rt("65000:1"),
    ];
    v.sort();
    let texts: Vec<String> = v.iter().map(|r| r.to_string()).collect();
    assert_eq!(texts, ["65000:1", "65000:2", "192.0.2.1:1", "4200000000:1"]);
}

#[test]
fn serde_uses_the_text_form() {
    let r = rt("65000:100");
    let j = serde_json::to_string(&r).unwrap();
    assert_eq!(j, "\"65000:100\"");
    assert_eq!(serde_json::from_str::<RouteTarget>(&j).unwrap(), r);
    let d = rd("192.0.2.1:5");
    let j = serde_json::to_string(&d).unwrap();
    assert_eq!(serde_json::from_str::<RouteDistinguisher>(&j).unwrap(), d);
    assert!(serde_json::from_str::<RouteDistinguisher>("\"x\"").is_err());
}
