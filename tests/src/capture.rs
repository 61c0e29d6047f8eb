//! Packets on the wire: tcpdump captures in a namespace, and the one check
//! of a captured VXLAN / Geneve tunnel that tshark decodes.
use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use crate::{eventually, netns_command, run_ok};

/// Fails the test unless `name` is on the PATH (a missing tool is a
/// failure, never a skip).
pub fn require_tool(name: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{name} is needed by this test and is not installed (lab/setup.sh installs it)"
    );
}

/// A tcpdump writing the packets of one interface to a file; killed on
/// drop unless [`Capture::stop`] ended it first.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `ifname` in namespace `ns`, writing its UDP
    /// packets to `file` (its stderr next to it, `.err`), and waits until
    /// it listens.
    pub fn start(ns: &str, ifname: &str, file: &Path) -> Capture {
        Capture::filtered(ns, ifname, file, "udp")
    }

    /// The same with a pcap filter of the caller's.
    pub fn filtered(ns: &str, ifname: &str, file: &Path, filter: &str) -> Capture {
        let err = file.with_extension("err");
        let child = netns_command(ns, "tcpdump")
            .args([
                "--immediate-mode",
                "-i",
                ifname,
                "-U",
                "-n",
                "-s",
                "512",
                "-w",
            ])
            .arg(file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(File::create(&err).expect("tcpdump's stderr file"))
            .spawn()
            .expect("start tcpdump");
        let capture = Capture {
            child: Some(child),
            file: file.to_owned(),
        };
        eventually(10, "tcpdump listening", || {
            let e = std::fs::read_to_string(&err).unwrap_or_default();
            if e.contains("listening on") {
                Ok(())
            } else {
                Err(e)
            }
        });
        capture
    }

    /// Stops tcpdump (SIGINT, so that it writes what it has) and returns
    /// the capture file.
    pub fn stop(mut self) -> PathBuf {
        if let Some(mut c) = self.child.take() {
            if let Ok(pid) = i32::try_from(c.id()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGINT,
                );
            }
            let _ = c.wait();
        }
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The encapsulation of a tunnel capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    Vxlan,
    Geneve,
}

impl Encap {
    /// tshark's protocol name.
    fn proto(self) -> &'static str {
        match self {
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
        }
    }

    /// tshark's "decode as" for the IANA port.
    fn decode_as(self) -> &'static str {
        match self {
            Encap::Vxlan => "udp.port==4789,vxlan",
            Encap::Geneve => "udp.port==6081,geneve",
        }
    }
}

/// What a tunnel capture must hold.
#[derive(Clone, Copy, Debug)]
pub struct Tunnel<'a> {
    pub encap: Encap,
    pub vni: u32,
    /// At least this many tunnel packets.
    pub min_packets: usize,
    /// How the pods' (inner) IPv4 and IPv6 source addresses start.
    pub pods_v4: &'a str,
    pub pods_v6: &'a str,
}

/// tshark's PI_ERROR and PI_CHECKSUM, as `-T fields` prints them.
const PI_ERROR: &str = "8388608";
const PI_CHECKSUM: &str = "16777216";

/// The frames of a classic pcap file (as tcpdump -w writes it) that were
/// captured whole.
pub fn pcap_frames(file: &Path) -> Vec<Vec<u8>> {
    let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(data.len() >= 24, "{}: not a pcap file", file.display());
    let le = match data[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => panic!("{}: not a classic pcap file", file.display()),
    };
    let u32_at = |b: &[u8]| {
        let a = [b[0], b[1], b[2], b[3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let caplen = u32_at(&data[at + 8..at + 12]) as usize;
        let len = u32_at(&data[at + 12..at + 16]) as usize;
        at += 16;
        if at + caplen > data.len() {
            break;
        }
        if caplen == len {
            out.push(data[at..at + caplen].to_vec());
        }
        at += caplen;
    }
    out
}

/// One's complement checksum of `data` (0 when it holds a valid checksum).
fn csum(data: &[u8]) -> u16 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The L4 checksum of `l4` under the pseudo-header of the IP header `ip`.
fn l4_csum(ip: &[u8], proto: u8, l4: &[u8]) -> u16 {
    let mut p = Vec::new();
    if ip[0] >> 4 == 4 {
        p.extend_from_slice(&ip[12..20]);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    } else {
        p.extend_from_slice(&ip[8..40]);
        p.extend_from_slice(&(l4.len() as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
    }
    p.extend_from_slice(l4);
    csum(&p)
}

/// For a Geneve frame over IPv6 of frame size (not a GSO packet): whether
/// its outer UDP checksum is set and right for the frame as it reaches the
/// wire. A frame captured on a veth may still carry its inner TCP or UDP
/// checksum unfilled (the stack fills it on the way to a real NIC): the
/// inner checksum is filled first, as the NIC would. None: not such a
/// frame.
pub fn geneve6_checksum_ok(f: &[u8]) -> Option<bool> {
    if f.len() > MAX_FRAME as usize
        || f.len() < 84
        || f[12..14] != [0x86, 0xdd]
        || f[20] != 17
        || f[56..58] != 6081u16.to_be_bytes()
    {
        return None;
    }
    let mut f = f.to_vec();
    let inner_eth = 70 + usize::from(f[62] & 0x3f) * 4;
    let ip = inner_eth + 14;
    if f.len() > ip + 40 {
        let (v6, proto, hlen, frag) = match f[inner_eth + 12..inner_eth + 14] {
            [0x08, 0x00] => (
                false,
                f[ip + 9],
                usize::from(f[ip] & 0x0f) * 4,
                u16::from_be_bytes([f[ip + 6], f[ip + 7]]) & 0x3fff != 0,
            ),
            [0x86, 0xdd] => (true, f[ip + 6], 40, false),
            _ => (false, 0, 0, true),
        };
        let end = if v6 {
            ip + 40 + usize::from(u16::from_be_bytes([f[ip + 4], f[ip + 5]]))
        } else {
            ip + usize::from(u16::from_be_bytes([f[ip + 2], f[ip + 3]]))
        };
        let at = match proto {
            6 => Some(16),
            17 if v6 || f[ip + hlen + 6..ip + hlen + 8] != [0, 0] => Some(6),
            _ => None,
        };
        if let Some(at) = at.filter(|_| !frag && end <= f.len()) {
            let l4 = ip + hlen;
            f[l4 + at..l4 + at + 2].copy_from_slice(&[0, 0]);
            let c = l4_csum(&f[ip..l4], proto, &f[l4..end]);
            f[l4 + at..l4 + at + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
    Some(f[60..62] != [0, 0] && l4_csum(&f[14..54], 17, &f[54..]) == 0)
}

/// The largest frame that is not a GSO packet (a 1500-byte uplink's).
const MAX_FRAME: u64 = 1514;

/// tshark must decode the tunnel packets in `file` with `t.vni`, carrying
/// pod packets of both families, find nothing malformed and raise no
/// error but one: a GSO packet of Geneve over IPv6 (captured before it is
/// segmented, longer than a frame) carries UDP checksum 0, which its
/// segments copy (a program cannot ask for a checksum per segment), and
/// Wireshark flags it as "Illegal checksum value (0)". Every other Geneve
/// packet over IPv6 carries a checksum that tshark verifies as good, and
/// the Geneve header is version 0, Ethernet payload, a UDP source port
/// from the flow hash.
pub fn check_tunnel_capture(file: &Path, t: &Tunnel) {
    let (proto, decode) = (t.encap.proto(), t.encap.decode_as());
    let f = file.display().to_string();
    let tshark = |args: &[&str]| {
        run_ok(
            Command::new("tshark")
                .args(["-r", &f, "-d", decode])
                .args(args),
        )
    };
    // The last (inner) source address of each packet.
    let vni_field = format!("{proto}.vni");
    let out = tshark(&[
        "-Y",
        proto,
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "occurrence=l",
        "-e",
        &vni_field,
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
    ]);
    let lines: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines.len() >= t.min_packets,
        "tshark decoded only {} {proto} packets:\n{out}",
        lines.len()
    );
    let (mut inner4, mut inner6) = (0, 0);
    for l in &lines {
        let cols: Vec<&str> = l.split(';').collect();
        // tshark prints the VXLAN VNI in decimal and the Geneve VNI in hex.
        let vni = match cols[0].strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).ok(),
            None => cols[0].parse().ok(),
        };
        assert_eq!(vni, Some(t.vni), "{proto} VNI in `{l}`");
        if cols.get(1).is_some_and(|c| c.starts_with(t.pods_v4)) {
            inner4 += 1;
        } else if cols.get(2).is_some_and(|c| c.starts_with(t.pods_v6)) {
            inner6 += 1;
        }
    }
    assert!(
        inner4 > 0 && inner6 > 0,
        "inner IPv4 ({inner4}) and IPv6 ({inner6}) pod packets in {proto}:\n{out}"
    );
    // The outer header's family, from the frame's protocol stack.
    let outer_v6 = |protocols: &str| protocols.starts_with("eth:ethertype:ipv6:");
    let bad = tshark(&[
        "-Y",
        "_ws.malformed || _ws.expert.severity == error",
        "-T",
        "fields",
        "-E",
        "separator=;",
        "-E",
        "aggregator=|",
        "-e",
        "frame.number",
        "-e",
        "frame.protocols",
        "-e",
        "_ws.malformed",
        "-e",
        "_ws.expert.message",
        "-e",
        "_ws.expert.severity",
        "-e",
        "_ws.expert.group",
        "-e",
        "frame.len",
    ]);
    for l in bad.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = l.split(';').collect();
        assert!(
            cols.get(2).is_some_and(|m| m.is_empty()),
            "malformed {proto} packet: {l}"
        );
        let gso = cols
            .get(6)
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n > MAX_FRAME);
        let zero_csum_allowed =
            t.encap == Encap::Geneve && gso && cols.get(1).is_some_and(|p| outer_v6(p));
        let msgs = cols.get(3).copied().unwrap_or_default().split('|');
        let sevs = cols.get(4).copied().unwrap_or_default().split('|');
        let groups = cols.get(5).copied().unwrap_or_default().split('|');
        for ((msg, sev), group) in msgs.zip(sevs).zip(groups) {
            let allowed =
                zero_csum_allowed && msg == "Illegal checksum value (0)" && group == PI_CHECKSUM;
            assert!(
                sev != PI_ERROR || allowed,
                "tshark reports an error in a {proto} packet: {l}"
            );
        }
    }
    if t.encap == Encap::Geneve {
        let mut checked = 0;
        for f in pcap_frames(file) {
            if let Some(ok) = geneve6_checksum_ok(&f) {
                assert!(
                    ok,
                    "Geneve over IPv6: a wrong outer UDP checksum in the frame {:02x?}",
                    f
                );
                checked += 1;
            }
        }
        println!("{checked} Geneve frames over IPv6 with a right outer UDP checksum");
        let hdr = tshark(&[
            "-Y",
            "geneve",
            "-T",
            "fields",
            "-e",
            "geneve.version",
            "-e",
            "geneve.proto_type",
            "-e",
            "udp.srcport",
            "-c",
            "5",
        ]);
        for l in hdr.lines() {
            let c: Vec<&str> = l.split('\t').collect();
            assert_eq!(c.first(), Some(&"0"), "Geneve version in `{l}`");
            assert_eq!(
                c.get(1),
                Some(&"0x6558"),
                "Geneve protocol type (Ethernet) in `{l}`"
            );
            let sport: Option<u16> = c.get(2).and_then(|p| p.parse().ok());
            assert!(
                sport.is_some_and(|p| p >= 49152),
                "UDP source port {sport:?} from the flow hash in `{l}`"
            );
        }
    }
}
