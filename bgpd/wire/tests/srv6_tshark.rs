//! Differential check of the SRv6 services of the Prefix-SID against an
//! independent decoder, Wireshark's BGP dissector (tshark): UPDATEs with
//! VPN-IPv4 and VPN-IPv6 routes and an SRv6 L3 Service TLV (End.DT4 and
//! End.DT6 SIDs with their structure, function transposed into the label
//! as FRR does) are built by this crate's encoder, written into a pcap as
//! TCP port 179 segments, and what tshark decodes (SID, behavior, structure
//! lengths, label, RD, prefix) is compared with this crate's decoding of
//! the same octets. tshark is required: a missing one fails the test.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::process::Command;

use tern_bgp_wire::{
    AfiSafi, AsPath, Attribute, Codec, ExtendedCommunity, Label, Message, MpReachNlri, NextHop,
    Nlri, NlriPrefix, Origin, PathAttribute, PrefixSid, RouteDistinguisher, Srv6SidStructure,
    UpdateMessage, UpdateOutcome, srv6_behavior,
};

/// The sending side: 4-octet AS, RFC 8950 next hops for VPN-IPv4.
fn codec() -> Codec {
    Codec {
        four_octet_as: true,
        extended_next_hop: vec![AfiSafi::IPV4_VPN],
        ..Codec::default()
    }
}

fn addr6(s: &str) -> Ipv6Addr {
    s.parse().expect("address")
}

/// One SRv6 L3VPN route as a PE exports it: the full SID is split into the
/// label (transposed function) and the SID advertised in the Prefix-SID.
fn vpn_update(
    family: AfiSafi,
    prefix: NlriPrefix,
    full_sid: Ipv6Addr,
    behavior: u16,
    structure: Srv6SidStructure,
) -> UpdateMessage {
    let (label, advertised) = structure
        .transpose_for_vpn(full_sid, Label::new(3).expect("label"))
        .expect("transposition fits");
    let prefix = match prefix {
        NlriPrefix::Vpnv4 { rd, prefix, .. } => NlriPrefix::Vpnv4 { label, rd, prefix },
        NlriPrefix::Vpnv6 { rd, prefix, .. } => NlriPrefix::Vpnv6 { label, rd, prefix },
        other => other,
    };
    let mp = MpReachNlri {
        family,
        next_hop: NextHop::VpnIpv6 {
            rd: RouteDistinguisher::default(),
            global: addr6("2001:db8:ff::1"),
            link_local: None,
        },
        nlri: vec![Nlri {
            path_id: None,
            prefix,
        }],
    };
    UpdateMessage::new(
        Vec::new(),
        vec![
            PathAttribute::new(Attribute::MpReachNlri(mp)),
            PathAttribute::new(Attribute::Origin(Origin::Igp)),
            PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(vec![65010]))),
            PathAttribute::new(Attribute::ExtendedCommunities(vec![
                ExtendedCommunity::route_target_as2(65010, 1),
            ])),
            PathAttribute::new(Attribute::PrefixSid(PrefixSid::srv6_l3_service(
                advertised,
                behavior,
                Some(structure),
            ))),
        ],
        Vec::new(),
    )
}

/// Writes `payloads` as TCP segments from 192.0.2.1:40000 to 192.0.2.2:179
/// (Ethernet, IPv4, TCP, in sequence) into a pcap file.
fn write_pcap(path: &Path, payloads: &[Vec<u8>]) {
    let mut f = Vec::new();
    // Global header: magic, version 2.4, zone, sigfigs, snaplen, Ethernet.
    f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&1u32.to_le_bytes());
    let mut seq: u32 = 1000;
    for (i, p) in payloads.iter().enumerate() {
        let mut pkt = Vec::new();
        pkt.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let total = u16::try_from(20 + 20 + p.len()).expect("fits");
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&u16::try_from(i + 1).expect("fits").to_be_bytes());
        ip.extend_from_slice(&[0x40, 0, 64, 6, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        let sum = checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        pkt.extend_from_slice(&ip);
        pkt.extend_from_slice(&40000u16.to_be_bytes());
        pkt.extend_from_slice(&179u16.to_be_bytes());
        pkt.extend_from_slice(&seq.to_be_bytes());
        pkt.extend_from_slice(&1u32.to_be_bytes());
        pkt.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        pkt.extend_from_slice(p);
        seq += u32::try_from(p.len()).expect("fits");
        let len = u32::try_from(pkt.len()).expect("fits");
        f.extend_from_slice(&u32::try_from(i + 1).expect("fits").to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&len.to_le_bytes());
        f.extend_from_slice(&pkt);
    }
    std::fs::write(path, f).expect("write pcap");
}

/// The IPv4 header checksum.
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0xffff)
}

/// What both decoders must agree on for one UPDATE.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    sid: String,
    behavior: String,
    /// Block, node, function, argument, transposition length and offset.
    structure: Vec<String>,
    label: String,
    rd: String,
    prefix: String,
}

/// Our decoding of one UPDATE.
fn ours(bytes: &[u8]) -> Summary {
    let Ok(Message::Update(u)) = Message::decode(bytes, &codec()) else {
        panic!("our UPDATE does not decode");
    };
    assert_eq!(u.outcome, UpdateOutcome::Accept);
    let Some(Attribute::PrefixSid(p)) = u.attribute(40).map(|a| &a.value) else {
        panic!("no Prefix-SID");
    };
    let service = p.srv6_l3().expect("SRv6 L3 Service");
    let info = service.first_sid().expect("SID Information");
    let s = info.structure().expect("SID Structure");
    let (label, rd, prefix) = match u.mp_reach().expect("MP_REACH_NLRI").nlri[0].prefix {
        NlriPrefix::Vpnv4 { label, rd, prefix } => (label, rd, prefix.to_string()),
        NlriPrefix::Vpnv6 { label, rd, prefix } => (label, rd, prefix.to_string()),
        ref other => panic!("not VPN: {other:?}"),
    };
    Summary {
        sid: info.sid.to_string(),
        behavior: info.behavior.to_string(),
        structure: [
            s.locator_block_len,
            s.locator_node_len,
            s.function_len,
            s.argument_len,
            s.transposition_len,
            s.transposition_offset,
        ]
        .iter()
        .map(u8::to_string)
        .collect(),
        label: label.value().to_string(),
        rd: rd.to_string(),
        prefix,
    }
}

const FIELDS: [&str; 12] = [
    "bgp.prefix_sid.srv6_l3vpn.sid_value",
    "bgp.prefix_sid.srv6_l3vpn.srv6_endpoint_behavior",
    "bgp.prefix_sid.srv6_l3vpn.sid.locator_block_len",
    "bgp.prefix_sid.srv6_l3vpn.sid.locator_node_len",
    "bgp.prefix_sid.srv6_l3vpn.sid.func_len",
    "bgp.prefix_sid.srv6_l3vpn.sid.arg_len",
    "bgp.prefix_sid.srv6_l3vpn.sid.trans_len",
    "bgp.prefix_sid.srv6_l3vpn.sid.trans_offset",
    "bgp.label_stack",
    "bgp.rd",
    "bgp.prefix_length",
    "bgp.mp_reach_nlri_ipv4_prefix",
];

fn tshark(pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-d", "tcp.port==179,bgp"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("tshark is needed by this test and cannot run ({e}); lab/setup.sh installs it")
        });
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The label value from tshark's "19744 (bottom)".
fn label_value(stack: &str) -> String {
    assert!(stack.ends_with("(bottom)"), "label stack `{stack}`");
    stack.split_whitespace().next().unwrap_or("").to_owned()
}

/// tshark's decoding, one Summary per frame. tshark 4.0 has fields for the
/// Prefix-SID, the label and (VPN-IPv4 only) the RD and prefix; a VPN-IPv6
/// route is one text line, "Label Stack=N (bottom) RD=X, IPv6=P/L".
fn theirs(pcap: &Path) -> Vec<Summary> {
    let mut args = vec![
        "-Y",
        "bgp.type == 2",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "occurrence=f",
    ];
    for f in FIELDS {
        args.extend(["-e", f]);
    }
    let fields = tshark(pcap, &args);
    let verbose = tshark(pcap, &["-V", "-Y", "bgp.type == 2"]);
    // Per frame: the VPN-IPv6 NLRI line, if any.
    let mut v6_lines: Vec<Option<String>> = Vec::new();
    for l in verbose.lines() {
        if l.starts_with("Frame ") {
            v6_lines.push(None);
        } else if let Some(rest) = l.trim().strip_prefix("Label Stack=")
            && rest.contains("IPv6=")
            && let Some(last) = v6_lines.last_mut()
        {
            *last = Some(rest.to_owned());
        }
    }
    let lines: Vec<&str> = fields.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), v6_lines.len(), "frames:\n{fields}");
    lines
        .iter()
        .zip(v6_lines)
        .map(|(l, v6)| {
            let c: Vec<&str> = l.split(';').collect();
            assert_eq!(c.len(), FIELDS.len(), "tshark line `{l}`");
            let behavior = match c[1].strip_prefix("0x") {
                Some(hex) => u16::from_str_radix(hex, 16)
                    .map(|v| v.to_string())
                    .unwrap_or_else(|_| c[1].to_owned()),
                None => c[1].to_owned(),
            };
            let (label, rd, prefix) = match v6 {
                // "917504 (bottom) RD=192.0.2.10:7, IPv6=2001:db8:20::/48"
                Some(rest) => {
                    let (stack, tail) = rest.split_once(" RD=").unwrap_or((&rest, ""));
                    let (rd, prefix) = tail.split_once(", IPv6=").unwrap_or((tail, ""));
                    (label_value(stack), rd.to_owned(), prefix.to_owned())
                }
                None => {
                    let bits: u8 = c[10].parse().unwrap_or(0);
                    let len = bits.saturating_sub(88);
                    (
                        label_value(c[8]),
                        c[9].to_owned(),
                        format!("{}/{len}", c[11]),
                    )
                }
            };
            Summary {
                sid: c[0].to_owned(),
                behavior,
                structure: c[2..8].iter().map(|s| (*s).to_owned()).collect(),
                label,
                rd,
                prefix,
            }
        })
        .collect()
}

/// tshark finds nothing malformed and raises no error in the capture.
fn assert_clean(pcap: &Path) {
    let bad = tshark(
        pcap,
        &[
            "-Y",
            "_ws.malformed || _ws.expert.severity == error",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "_ws.expert.message",
        ],
    );
    assert!(bad.trim().is_empty(), "tshark reports errors: {bad}");
}

#[test]
fn tshark_decodes_our_srv6_vpn_updates_as_we_do() {
    let frr_like = Srv6SidStructure::with_transposed_function(40, 24, 16, 0);
    let updates = [
        vpn_update(
            AfiSafi::IPV4_VPN,
            NlriPrefix::Vpnv4 {
                label: Label::WITHDRAWN,
                rd: RouteDistinguisher::as2(65010, 100),
                prefix: "10.20.0.0/16".parse().expect("prefix"),
            },
            addr6("2001:db8:aa:1:4d2::"),
            srv6_behavior::END_DT4,
            frr_like,
        ),
        vpn_update(
            AfiSafi::IPV6_VPN,
            NlriPrefix::Vpnv6 {
                label: Label::WITHDRAWN,
                rd: RouteDistinguisher::ipv4(Ipv4Addr::new(192, 0, 2, 10), 7),
                prefix: "2001:db8:20::/48".parse().expect("prefix"),
            },
            addr6("2001:db8:aa:1:e000::"),
            srv6_behavior::END_DT6,
            frr_like,
        ),
        // No transposition, an argument, End.DT46 and implicit null.
        vpn_update(
            AfiSafi::IPV4_VPN,
            NlriPrefix::Vpnv4 {
                label: Label::WITHDRAWN,
                rd: RouteDistinguisher::as4(4_200_000_000, 3),
                prefix: "172.16.5.0/24".parse().expect("prefix"),
            },
            addr6("fc00:0:1:e002::"),
            srv6_behavior::END_DT46,
            Srv6SidStructure {
                locator_block_len: 32,
                locator_node_len: 16,
                function_len: 16,
                argument_len: 8,
                transposition_len: 0,
                transposition_offset: 0,
            },
        ),
    ];
    let ctx = codec();
    let bytes: Vec<Vec<u8>> = updates
        .iter()
        .map(|u| Message::Update(u.clone()).to_bytes(&ctx).expect("encodes"))
        .collect();
    let dir = std::env::temp_dir().join(format!("tern-wire-srv6-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap = dir.join("srv6-vpn.pcap");
    write_pcap(&pcap, &bytes);
    let theirs = theirs(&pcap);
    assert_clean(&pcap);
    let _ = std::fs::remove_dir_all(&dir);
    let ours: Vec<Summary> = bytes.iter().map(|b| ours(b)).collect();
    assert_eq!(theirs, ours);
    // And what was decoded is what was meant: the full SIDs come back.
    let expected_labels = ["19744", "917504", "3"];
    for (s, want) in ours.iter().zip(expected_labels) {
        assert_eq!(s.label, want, "{s:?}");
    }
    assert_eq!(ours[0].sid, "2001:db8:aa:1::");
    assert_eq!(ours[0].behavior, "19");
    assert_eq!(ours[1].rd, "192.0.2.10:7");
    assert_eq!(ours[2].sid, "fc00:0:1:e002::");
}
