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

/// A tcpdump writing the UDP packets of one interface to a file; killed on
/// drop unless [`Capture::stop`] ended it first.
#[derive(Debug)]
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `ifname` in namespace `ns`, writing the UDP
    /// packets (the tunnels') to `file` (its stderr next to it, `.err`),
    /// and waits until it listens.
    pub fn start(ns: &str, ifname: &str, file: &Path) -> Capture {
        Capture::start_filtered(ns, ifname, file, "udp")
    }

    /// The same with the capture filter `filter` (pcap syntax: `ip6` for
    /// SRv6).
    pub fn start_filtered(ns: &str, ifname: &str, file: &Path, filter: &str) -> Capture {
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

/// tshark must decode the tunnel packets in `file` with `t.vni`, carrying
/// pod packets of both families, find nothing malformed and raise no
/// error but one: Geneve over IPv6 sends UDP checksum 0, which RFC 8926
/// section 3.3 allows for tunnels (RFC 6935/6936 conditions) and Wireshark
/// flags as "Illegal checksum value (0)" all the same (it applies RFC
/// 8200's general rule). Geneve packets over IPv6 carry checksum 0
/// throughout, and the Geneve header is version 0, Ethernet payload, a UDP
/// source port from the flow hash.
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
    ]);
    for l in bad.lines().filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = l.split(';').collect();
        assert!(
            cols.get(2).is_some_and(|m| m.is_empty()),
            "malformed {proto} packet: {l}"
        );
        let zero_csum_allowed =
            t.encap == Encap::Geneve && cols.get(1).is_some_and(|p| outer_v6(p));
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
        let sums = tshark(&[
            "-Y",
            "geneve",
            "-T",
            "fields",
            "-E",
            "separator=;",
            "-e",
            "frame.protocols",
            "-e",
            "udp.checksum",
        ]);
        for l in sums.lines().filter(|l| !l.is_empty()) {
            let (protocols, sum) = l.split_once(';').unwrap_or((l, ""));
            if outer_v6(protocols) {
                assert_eq!(
                    sum.trim(),
                    "0x0000",
                    "Geneve over IPv6: the UDP checksum is 0 throughout: `{l}`"
                );
            }
        }
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
