//! SRv6 L3VPN routes (RFC 9252) on the wire against real peers, with
//! tern-bgp-wire as the only BGP code on our side: a scripted speaker in
//! its own namespace accepts sessions from GoBGP 3.10 and FRR 8.4 (each in
//! a namespace of its own), sends them VPN-IPv4 and VPN-IPv6 routes whose
//! Prefix-SID carries an SRv6 L3 Service (End.DT4 / End.DT6 SID with its
//! structure, function transposed into the label as FRR does), and checks
//! what each peer shows: `gobgp global rib -a vpnv4|vpnv6 -j`, FRR's `show
//! bgp ipv4|ipv6 vpn json` and the detail text with its SID lines. Each
//! peer also re-advertises the routes to a second speaker session, and
//! ExaBGP 4.2 originates routes with a raw Prefix-SID attribute: those
//! UPDATEs, as the peers encoded them, are decoded and re-encoded octet for
//! octet, and written under bgpd/wire/tests/fixtures/srv6/ when
//! TERN_SRV6_WRITE_FIXTURES is set. Last, ExaBGP is sent one of our routes
//! and answers it with the NOTIFICATION it sends for RFC 9252's layout.
//!
//! What the peers do (also in the fixtures README): GoBGP shows every field
//! of the SRv6 L3 Service and passes it on as received; FRR 8.4 shows the
//! label and the SID as advertised (not the behavior), and passes SID,
//! structure and label on with the opaque behavior; FRR 8.4 does not
//! advertise RFC 8950 next hops for VPN-IPv4, so it gets a 12-octet one.
//!
//! Needs root, gobgpd, FRR (zebra, bgpd, vtysh) and exabgp (lab/setup.sh);
//! fails, never skips, when one is missing. Run under the lab lock.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tern_bgp_wire::{
    Afi, AfiSafi, AsPath, Attribute, Capability, Codec, ExtendedCommunity, ExtendedNextHopEntry,
    Label, Message, MpReachNlri, NextHop, Nlri, NlriPrefix, OpenMessage, Origin, PathAttribute,
    PrefixSid, RouteDistinguisher, Srv6SidStructure, UpdateMessage, UpdateOutcome, srv6_behavior,
};
use tern_tests::{Netns, eventually, netns_command, require_tool, run, run_ok, with_netns};

const SPK: &str = "tsw-spk";
const GOB: &str = "tsw-gob";
const FRR: &str = "tsw-frr";
const EXA: &str = "tsw-exa";
/// FRR's instance (pathspace) name.
const FRR_INSTANCE: &str = "tswfrr";

/// Our AS towards the peers we send to, and towards those that send to us.
const SENDER_AS: u32 = 65001;
const RECEIVER_AS: u32 = 65004;
const GOBGP_AS: u32 = 65002;
const FRR_AS: u32 = 65003;
const EXA_AS: u32 = 65005;

/// The SID structure FRR uses by default: block 40, node 24, function 16,
/// the function transposed into the label.
fn structure() -> Srv6SidStructure {
    Srv6SidStructure::with_transposed_function(40, 24, 16, 0)
}

/// One VPN route the speaker exports.
struct Route {
    family: AfiSafi,
    rd: RouteDistinguisher,
    prefix: &'static str,
    /// The full SID (function bits included).
    sid: Ipv6Addr,
    behavior: u16,
}

fn routes() -> Vec<Route> {
    vec![
        Route {
            family: AfiSafi::IPV4_VPN,
            rd: RouteDistinguisher::as2(65001, 100),
            prefix: "10.20.0.0/16",
            sid: "2001:db8:aa:1:4d2::".parse().expect("sid"),
            behavior: srv6_behavior::END_DT4,
        },
        Route {
            family: AfiSafi::IPV6_VPN,
            rd: RouteDistinguisher::as2(65001, 200),
            prefix: "2001:db8:20::/48",
            sid: "2001:db8:aa:1:e000::".parse().expect("sid"),
            behavior: srv6_behavior::END_DT6,
        },
    ]
}

impl Route {
    /// The label and the SID with the transposed bits cleared.
    fn split(&self) -> (Label, Ipv6Addr) {
        structure()
            .transpose_for_vpn(self.sid, Label::new(3).expect("label"))
            .expect("transposition fits")
    }

    /// The UPDATE announcing this route with `next_hop`.
    fn update(&self, next_hop: NextHop) -> UpdateMessage {
        let (label, advertised) = self.split();
        let prefix = if self.family == AfiSafi::IPV4_VPN {
            NlriPrefix::Vpnv4 {
                label,
                rd: self.rd,
                prefix: self.prefix.parse().expect("prefix"),
            }
        } else {
            NlriPrefix::Vpnv6 {
                label,
                rd: self.rd,
                prefix: self.prefix.parse().expect("prefix"),
            }
        };
        let mp = MpReachNlri {
            family: self.family,
            next_hop,
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
                PathAttribute::new(Attribute::AsPath(AsPath::from_sequence(vec![SENDER_AS]))),
                PathAttribute::new(Attribute::ExtendedCommunities(vec![
                    ExtendedCommunity::route_target_as2(65001, 1),
                ])),
                PathAttribute::new(Attribute::PrefixSid(PrefixSid::srv6_l3_service(
                    advertised,
                    self.behavior,
                    Some(structure()),
                ))),
            ],
            Vec::new(),
        )
    }
}

// ------------------------------------------------------------ the speaker

/// What one session received: every message as its octets, decoded with
/// the session's codec.
#[derive(Default)]
struct Received {
    codec: Option<Codec>,
    messages: Vec<Vec<u8>>,
    notification: Option<tern_bgp_wire::NotificationMessage>,
}

/// One passive BGP session of the scripted speaker.
struct Session {
    name: &'static str,
    out: mpsc::Sender<Message>,
    rx: Arc<Mutex<Received>>,
}

impl Session {
    /// Listens on `local`:179 in the speaker's namespace as AS `asn`; the
    /// peer connects. Runs until the test ends.
    fn listen(name: &'static str, local: Ipv4Addr, asn: u32) -> Session {
        let listener = with_netns(SPK, || {
            TcpListener::bind(SocketAddr::from((local, 179)))
                .unwrap_or_else(|e| panic!("{name}: bind {local}:179: {e}"))
        });
        let (tx, out_rx) = mpsc::channel::<Message>();
        let rx = Arc::new(Mutex::new(Received::default()));
        let shared = Arc::clone(&rx);
        std::thread::spawn(move || {
            if let Ok((stream, _)) = listener.accept() {
                serve(stream, local, asn, &out_rx, &shared);
            }
        });
        Session { name, out: tx, rx }
    }

    fn codec(&self) -> Option<Codec> {
        self.rx.lock().ok().and_then(|r| r.codec.clone())
    }

    fn established(&self) -> Result<Codec, String> {
        let r = self.rx.lock().map_err(|e| e.to_string())?;
        if let Some(n) = &r.notification {
            return Err(format!("{}: NOTIFICATION {n:?}", self.name));
        }
        r.codec
            .clone()
            .ok_or_else(|| format!("{}: no session yet", self.name))
    }

    fn send(&self, m: Message) {
        self.out.send(m).expect("session thread alive");
    }

    /// The UPDATEs received so far, as octets.
    fn updates(&self) -> Vec<Vec<u8>> {
        self.rx
            .lock()
            .map(|r| {
                r.messages
                    .iter()
                    .filter(|m| m.get(18) == Some(&2))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn our_open(local: Ipv4Addr, asn: u32) -> OpenMessage {
    OpenMessage::new(
        asn,
        90,
        local,
        vec![
            Capability::Multiprotocol(AfiSafi::IPV4_VPN),
            Capability::Multiprotocol(AfiSafi::IPV6_VPN),
            Capability::RouteRefresh,
            Capability::FourOctetAs(asn),
            Capability::ExtendedNextHop(vec![ExtendedNextHopEntry {
                nlri: AfiSafi::IPV4_VPN,
                next_hop_afi: Afi::IPV6,
            }]),
        ],
    )
}

/// The session loop: OPEN exchange, then KEEPALIVEs every 3 s, what the
/// test hands over sent, everything received kept.
fn serve(
    mut stream: TcpStream,
    local: Ipv4Addr,
    asn: u32,
    out: &mpsc::Receiver<Message>,
    rx: &Arc<Mutex<Received>>,
) {
    let open = our_open(local, asn);
    let pre = Codec::default();
    let write = |s: &mut TcpStream, m: &Message, c: &Codec| {
        let bytes = m.to_bytes(c).expect("our message encodes");
        s.write_all(&bytes).is_ok()
    };
    if !write(&mut stream, &Message::Open(open.clone()), &pre) {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut buf = Vec::new();
    let mut codec = pre;
    let mut last = Instant::now();
    loop {
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        while let Ok(Some(n)) = codec.frame(&buf) {
            let bytes: Vec<u8> = buf.drain(..n).collect();
            match Message::decode(&bytes, &codec) {
                Ok(Message::Open(theirs)) => {
                    codec = Codec::negotiate(&open, &theirs);
                    if !write(&mut stream, &Message::Keepalive, &codec) {
                        return;
                    }
                    if let Ok(mut r) = rx.lock() {
                        r.codec = Some(codec.clone());
                    }
                }
                Ok(Message::Notification(n)) => {
                    if let Ok(mut r) = rx.lock() {
                        r.notification = Some(n);
                    }
                }
                _ => {}
            }
            if let Ok(mut r) = rx.lock() {
                r.messages.push(bytes);
            }
        }
        while let Ok(m) = out.try_recv() {
            if !write(&mut stream, &m, &codec) {
                return;
            }
        }
        if last.elapsed() >= Duration::from_secs(3) {
            if !write(&mut stream, &Message::Keepalive, &codec) {
                return;
            }
            last = Instant::now();
        }
    }
}

// ------------------------------------------------------------- the peers

/// A process the test started, stopped by its pid on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A daemon that forked itself (FRR), known by the pid it wrote; SIGTERM on
/// drop, and waited for.
struct Daemon(i32);

impl Daemon {
    /// The pid in `file`, once the daemon has written it.
    fn from_pid_file(file: &Path) -> Daemon {
        let pid = eventually(10, &format!("{}", file.display()), || {
            std::fs::read_to_string(file)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
                .ok_or_else(|| "no pid yet".to_owned())
        });
        Daemon(pid)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0),
            nix::sys::signal::Signal::SIGTERM,
        );
        for _ in 0..50 {
            if tern_tests::gone(self.0) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A veth pair between the speaker and `peer`, with addresses.
fn link(peer: &str, ours: &str, theirs: &str, ours_v4: &[&str], theirs_v4: &str, v6: (&str, &str)) {
    run_ok(Command::new("ip").args([
        "link", "add", ours, "netns", SPK, "type", "veth", "peer", "name", theirs, "netns", peer,
    ]));
    for a in ours_v4 {
        run_ok(Command::new("ip").args(["-n", SPK, "addr", "add", a, "dev", ours]));
    }
    run_ok(Command::new("ip").args(["-n", peer, "addr", "add", theirs_v4, "dev", theirs]));
    run_ok(Command::new("ip").args(["-n", SPK, "addr", "add", v6.0, "dev", ours, "nodad"]));
    run_ok(Command::new("ip").args(["-n", peer, "addr", "add", v6.1, "dev", theirs, "nodad"]));
    run_ok(Command::new("ip").args(["-n", SPK, "link", "set", ours, "up"]));
    run_ok(Command::new("ip").args(["-n", peer, "link", "set", theirs, "up"]));
}

fn gobgp_conf() -> String {
    let mut c =
        format!("[global.config]\n  as = {GOBGP_AS}\n  router-id = \"192.0.2.2\"\n  port = 179\n");
    for (addr, asn) in [("192.0.2.1", SENDER_AS), ("192.0.2.3", RECEIVER_AS)] {
        c.push_str(&format!(
            "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n  [neighbors.timers.config]\n    connect-retry = 1\n"
        ));
        for f in ["l3vpn-ipv4-unicast", "l3vpn-ipv6-unicast"] {
            c.push_str(&format!(
                "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"{f}\"\n"
            ));
        }
    }
    c
}

fn frr_conf(log: &Path) -> String {
    format!(
        "frr defaults datacenter\nhostname {FRR}\nlog file {}\n!\nrouter bgp {FRR_AS}\n bgp router-id 192.0.2.10\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n neighbor 192.0.2.9 remote-as {SENDER_AS}\n neighbor 192.0.2.9 timers connect 1\n neighbor 192.0.2.9 capability extended-nexthop\n neighbor 192.0.2.11 remote-as {RECEIVER_AS}\n neighbor 192.0.2.11 timers connect 1\n neighbor 192.0.2.11 capability extended-nexthop\n !\n address-family ipv4 vpn\n  neighbor 192.0.2.9 activate\n  neighbor 192.0.2.11 activate\n exit-address-family\n !\n address-family ipv6 vpn\n  neighbor 192.0.2.9 activate\n  neighbor 192.0.2.11 activate\n exit-address-family\n!\n",
        log.display()
    )
}

/// ExaBGP originates one VPN-IPv4 and one VPN-IPv6 route with `prefix_sid`
/// (the attribute value, hex) as a raw attribute.
fn exabgp_conf(prefix_sid: &str) -> String {
    format!(
        "neighbor 192.0.2.17 {{\n  router-id 192.0.2.18;\n  local-address 192.0.2.18;\n  local-as {EXA_AS};\n  peer-as {RECEIVER_AS};\n  family {{\n    ipv4 mpls-vpn;\n    ipv6 mpls-vpn;\n  }}\n  static {{\n    route 10.50.0.0/16 rd 65005:50 label 1234 next-hop 192.0.2.18 extended-community [ target:65005:1 ] attribute [ 0x28 0xc0 0x{prefix_sid} ];\n    route 2001:db8:50::/48 rd 65005:60 label 2345 next-hop 2001:db8:3::2 extended-community [ target:65005:1 ] attribute [ 0x28 0xc0 0x{prefix_sid} ];\n  }}\n}}\n"
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn gobgp_json(args: &[&str]) -> Result<Value, String> {
    let out = run(netns_command(GOB, "gobgp").args(args).arg("-j"));
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}"))
}

fn vtysh(cmd: &str) -> String {
    let out = run(Command::new("vtysh").args(["-N", FRR_INSTANCE, "-c", cmd]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ------------------------------------------------------------- the checks

/// Decodes `bytes` with `codec`, re-encodes with the sender's view, and
/// demands the same octets; returns the UPDATE.
fn round_trip(who: &str, bytes: &[u8], codec: &Codec) -> UpdateMessage {
    let Ok(Message::Update(u)) = Message::decode(bytes, codec) else {
        panic!("{who}: not an UPDATE: {}", hex(bytes));
    };
    assert_eq!(u.outcome, UpdateOutcome::Accept, "{who}: {}", hex(bytes));
    // The sender's view: we advertised RFC 8950 next hops for VPN-IPv4.
    let sender = Codec {
        extended_next_hop: vec![AfiSafi::IPV4_VPN],
        ..codec.mirrored()
    };
    let again = Message::Update(u.clone())
        .to_bytes(&sender)
        .unwrap_or_else(|e| panic!("{who}: re-encode: {e}"));
    assert_eq!(hex(&again), hex(bytes), "{who}: re-encoded octets differ");
    u
}

/// (RD, prefix, full SID, behavior) of every VPN route in `u` that carries
/// an SRv6 L3 Service, the SID rebuilt from the label and the structure.
fn srv6_routes(u: &UpdateMessage) -> Vec<(String, String, Ipv6Addr, u16)> {
    let Some(Attribute::PrefixSid(p)) = u.attribute(40).map(|a| &a.value) else {
        return Vec::new();
    };
    let Some(info) = p.srv6_l3().and_then(|s| s.first_sid().cloned()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (_, n) in u.announced() {
        let (label, rd, prefix) = match n.prefix {
            NlriPrefix::Vpnv4 { label, rd, prefix } => (label, rd, prefix.to_string()),
            NlriPrefix::Vpnv6 { label, rd, prefix } => (label, rd, prefix.to_string()),
            _ => continue,
        };
        let sid = match info.structure() {
            Some(s) => s.sid_from_vpn_label(info.sid, label).expect("SID fits"),
            None => info.sid,
        };
        out.push((rd.to_string(), prefix, sid, info.behavior));
    }
    out
}

/// The 16 octets of a SID as GoBGP's JSON gives them (standard base64).
fn base64_16(s: &str) -> Option<[u8; 16]> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits: u32 = 0;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().take_while(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)?;
        bits = bits << 6 | u32::try_from(v).ok()?;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from(bits >> n & 0xff).ok()?);
        }
    }
    out.try_into().ok()
}

/// One path of `gobgp global rib -a vpnv4|vpnv6 -j`: label, RD, next hop
/// family, and the Prefix-SID's SRv6 L3 Service field by field.
fn check_gobgp_path(r: &Route, path: &Value) {
    let (label, advertised) = r.split();
    let ctx = format!("GoBGP path of {}: {path}", r.prefix);
    assert_eq!(path["nlri"]["prefix"], r.prefix, "{ctx}");
    assert_eq!(path["nlri"]["labels"][0], label.value(), "{ctx}");
    let rd = &path["nlri"]["rd"];
    assert_eq!(
        format!("{}:{}", rd["admin"], rd["assigned"]),
        r.rd.to_string(),
        "{ctx}"
    );
    let attrs = path["attrs"].as_array().expect("attrs");
    let psid = attrs
        .iter()
        .find(|a| a["type"] == 40)
        .unwrap_or_else(|| panic!("no Prefix-SID: {ctx}"));
    let tlv = &psid["TLVs"][0];
    assert_eq!(tlv["type"], 5, "{ctx}");
    let info = &tlv["SubTLVs"][0];
    assert_eq!(info["type"], 1, "{ctx}");
    let sid = info["sid"].as_str().and_then(base64_16).map(Ipv6Addr::from);
    assert_eq!(sid, Some(advertised), "{ctx}");
    assert_eq!(info["endpoint_behavior"], r.behavior, "{ctx}");
    let st = &info["sub_sub_tlvs"][0];
    let s = structure();
    assert_eq!(
        [
            &st["locator_block_length"],
            &st["locator_node_length"],
            &st["function_length"],
            &st["argument_length"],
            &st["transposition_length"],
            &st["transposition_offset"],
        ]
        .map(|v| v.as_u64()),
        [
            s.locator_block_len,
            s.locator_node_len,
            s.function_len,
            s.argument_len,
            s.transposition_len,
            s.transposition_offset,
        ]
        .map(|v| Some(u64::from(v))),
        "{ctx}"
    );
    // The full SID, rebuilt from what GoBGP shows, is the one exported.
    assert_eq!(
        sid.map(|sid| s.sid_from_vpn_label(sid, label)),
        Some(Ok(r.sid)),
        "{ctx}"
    );
}

/// Writes the UPDATEs of `who` as fixtures when asked to, one per family.
fn keep_fixtures(who: &str, updates: &[(AfiSafi, Vec<u8>)]) {
    if std::env::var_os("TERN_SRV6_WRITE_FIXTURES").is_none() {
        return;
    }
    let dir = tern_tests::repo_root().join("bgpd/wire/tests/fixtures/srv6");
    std::fs::create_dir_all(&dir).expect("fixtures dir");
    for (family, u) in updates {
        let fam = if *family == AfiSafi::IPV4_VPN {
            "vpnv4"
        } else {
            "vpnv6"
        };
        let text = format!(
            "# {who} to a scripted speaker (AS {RECEIVER_AS}): {fam} UPDATE with an SRv6 L3 Service\n\
             # Prefix-SID. Session: 4-octet AS, VPN-IPv4 + VPN-IPv6, the speaker advertised RFC 8950\n\
             # next hops for VPN-IPv4. Captured by tests/tests/srv6_vpn_wire.rs.\n{}\n",
            hex(u)
        );
        std::fs::write(dir.join(format!("{who}-update-{fam}.hex")), text).expect("write fixture");
    }
}

#[test]
fn srv6_vpn_routes_with_gobgp_frr_and_exabgp() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "needs root (network namespaces)"
    );
    for t in ["gobgpd", "gobgp", "vtysh", "exabgp"] {
        require_tool(t);
    }
    let work = std::env::temp_dir().join(format!("tern-srv6-wire-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    let _work_guard = TempDir(work.clone());
    let _namespaces: Vec<Netns> = [SPK, GOB, FRR, EXA].iter().map(|n| Netns::new(n)).collect();
    link(
        GOB,
        "sg0",
        "gs0",
        &["192.0.2.1/29", "192.0.2.3/29"],
        "192.0.2.2/29",
        ("2001:db8:1::1/64", "2001:db8:1::2/64"),
    );
    link(
        FRR,
        "sf0",
        "fs0",
        &["192.0.2.9/29", "192.0.2.11/29"],
        "192.0.2.10/29",
        ("2001:db8:2::1/64", "2001:db8:2::2/64"),
    );
    link(
        EXA,
        "se0",
        "es0",
        &["192.0.2.17/29"],
        "192.0.2.18/29",
        ("2001:db8:3::1/64", "2001:db8:3::2/64"),
    );

    // Our sessions listen before the peers start.
    let to_gobgp = Session::listen("to GoBGP", Ipv4Addr::new(192, 0, 2, 1), SENDER_AS);
    let from_gobgp = Session::listen("from GoBGP", Ipv4Addr::new(192, 0, 2, 3), RECEIVER_AS);
    let to_frr = Session::listen("to FRR", Ipv4Addr::new(192, 0, 2, 9), SENDER_AS);
    let from_frr = Session::listen("from FRR", Ipv4Addr::new(192, 0, 2, 11), RECEIVER_AS);
    let from_exa = Session::listen("from ExaBGP", Ipv4Addr::new(192, 0, 2, 17), RECEIVER_AS);

    // GoBGP.
    std::fs::write(work.join("gobgp.toml"), gobgp_conf()).expect("gobgp.toml");
    let gobgp_log = std::fs::File::create(work.join("gobgpd.log")).expect("log");
    let _gobgpd = Proc(
        netns_command(GOB, "gobgpd")
            .arg("-f")
            .arg(work.join("gobgp.toml"))
            .arg("-p")
            .stdout(Stdio::from(gobgp_log.try_clone().expect("log")))
            .stderr(Stdio::from(gobgp_log))
            .spawn()
            .expect("start gobgpd"),
    );
    // FRR: zebra, then bgpd.
    let run_dir = PathBuf::from("/var/run/frr").join(FRR_INSTANCE);
    std::fs::create_dir_all(&run_dir).expect("FRR run dir");
    let _run_dir_guard = TempDir(run_dir.clone());
    std::fs::write(work.join("frr.conf"), frr_conf(&work.join("bgpd.log"))).expect("frr.conf");
    std::fs::write(work.join("zebra.conf"), format!("hostname {FRR}\n")).expect("zebra.conf");
    run_ok(
        Command::new("chown")
            .args(["-R", "frr:frr"])
            .arg(&work)
            .arg(&run_dir),
    );
    run_ok(Command::new("chmod").arg("755").arg(&work));
    run_ok(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                FRR,
                "/usr/lib/frr/zebra",
                "-d",
                "-N",
                FRR_INSTANCE,
                "-f",
            ])
            .arg(work.join("zebra.conf"))
            .arg("-i")
            .arg(work.join("zebra.pid")),
    );
    let _zebra = Daemon::from_pid_file(&work.join("zebra.pid"));
    run_ok(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                FRR,
                "/usr/lib/frr/bgpd",
                "-d",
                "-N",
                FRR_INSTANCE,
                "-f",
            ])
            .arg(work.join("frr.conf"))
            .arg("-i")
            .arg(work.join("bgpd.pid")),
    );
    let _bgpd = Daemon::from_pid_file(&work.join("bgpd.pid"));
    // ExaBGP originates the attribute our encoder writes for the first route.
    let exa_sid = PrefixSid::srv6_l3_service(
        "2001:db8:ee:5::".parse().expect("sid"),
        srv6_behavior::END_DT46,
        Some(Srv6SidStructure {
            transposition_len: 0,
            transposition_offset: 0,
            ..structure()
        }),
    );
    std::fs::write(work.join("exabgp.conf"), exabgp_conf(&hex(&exa_sid.tlvs))).expect("conf");
    let exa_log = std::fs::File::create(work.join("exabgp.log")).expect("log");
    let _exabgp = Proc(
        netns_command(EXA, "exabgp")
            .arg(work.join("exabgp.conf"))
            .env("exabgp_daemon_user", "root")
            .env("exabgp_daemon_drop", "false")
            .env("exabgp_api_cli", "false")
            .env("exabgp_log_destination", "stdout")
            .stdout(Stdio::from(exa_log.try_clone().expect("log")))
            .stderr(Stdio::from(exa_log))
            .spawn()
            .expect("start exabgp"),
    );

    let logs = || {
        let read = |f: &str| std::fs::read_to_string(work.join(f)).unwrap_or_default();
        format!(
            "--- gobgpd.log\n{}\n--- bgpd.log\n{}\n--- exabgp.log\n{}",
            read("gobgpd.log"),
            read("bgpd.log"),
            read("exabgp.log")
        )
    };
    for s in [&to_gobgp, &from_gobgp, &to_frr, &from_frr, &from_exa] {
        eventually(60, s.name, || {
            s.established().map_err(|e| format!("{e}\n{}", logs()))
        });
    }

    // Send every route to GoBGP and FRR.
    let mut next_hops = BTreeMap::new();
    for (s, v6) in [(&to_gobgp, "2001:db8:1::1"), (&to_frr, "2001:db8:2::1")] {
        let codec = s.codec().expect("established");
        for r in routes() {
            let global: Ipv6Addr = v6.parse().expect("address");
            let nh = if r.family == AfiSafi::IPV6_VPN || codec.may_send_ipv6_next_hop(r.family) {
                NextHop::VpnIpv6 {
                    rd: RouteDistinguisher::default(),
                    global,
                    link_local: None,
                }
            } else {
                NextHop::VpnIpv4 {
                    rd: RouteDistinguisher::default(),
                    addr: if s.name == "to GoBGP" {
                        Ipv4Addr::new(192, 0, 2, 1)
                    } else {
                        Ipv4Addr::new(192, 0, 2, 9)
                    },
                }
            };
            next_hops.insert((s.name, r.prefix), format!("{nh:?}"));
            s.send(Message::Update(r.update(nh)));
        }
    }
    println!("next hops sent: {next_hops:#?}");

    // GoBGP shows each route with its RD, label and the SRv6 SID.
    for r in routes() {
        let fam = if r.family == AfiSafi::IPV4_VPN {
            "vpnv4"
        } else {
            "vpnv6"
        };
        let key = format!("{}:{}", r.rd, r.prefix);
        let v = eventually(30, &format!("GoBGP has {key}"), || {
            let v = gobgp_json(&["global", "rib", "-a", fam])?;
            if v[&key].is_array() {
                Ok(v)
            } else {
                Err(format!("{fam} RIB: {v}"))
            }
        });
        check_gobgp_path(&r, &v[&key][0]);
    }

    // FRR: the JSON RIB and the detail text with the SID.
    for r in routes() {
        let afi = if r.family == AfiSafi::IPV4_VPN {
            "ipv4"
        } else {
            "ipv6"
        };
        let detail = eventually(30, &format!("FRR has {}", r.prefix), || {
            let t = vtysh(&format!("show bgp {afi} vpn {}", r.prefix));
            if t.contains(&r.rd.to_string()) {
                Ok(t)
            } else {
                Err(format!("{t}\n{}", logs()))
            }
        });
        println!("FRR {afi} vpn {}:\n{detail}", r.prefix);
        // FRR 8.4 prints the SID as advertised (transposed bits cleared)
        // and the label; the full SID follows from them and the structure.
        let (label, advertised) = r.split();
        let line = |key: &str| {
            detail
                .lines()
                .find_map(|l| l.trim().strip_prefix(key).map(str::trim))
                .unwrap_or_else(|| panic!("no `{key}` line for {}:\n{detail}", r.prefix))
                .to_owned()
        };
        assert_eq!(line("Remote SID:"), advertised.to_string(), "{detail}");
        assert_eq!(line("Remote label:"), label.value().to_string(), "{detail}");
        let shown_sid: Ipv6Addr = line("Remote SID:").parse().expect("SID");
        let shown_label = Label::new(line("Remote label:").parse().expect("label")).expect("label");
        assert_eq!(
            structure().sid_from_vpn_label(shown_sid, shown_label),
            Ok(r.sid),
            "{detail}"
        );
        let json = vtysh(&format!("show bgp {afi} vpn json"));
        println!("FRR {afi} vpn json: {json}");
        let v: Value = serde_json::from_str(&json).unwrap_or(Value::Null);
        let rd = r.rd.to_string();
        let paths = &v["routes"]["routeDistinguishers"][&rd][r.prefix];
        assert!(
            paths.as_array().is_some_and(|p| !p.is_empty()),
            "FRR's JSON has {} under RD {rd}: {json}",
            r.prefix
        );
        let path = &paths[0];
        assert_eq!(path["valid"], true, "{json}");
        assert_eq!(path["network"], r.prefix, "{json}");
        // The detail JSON has the label and the SID as advertised; FRR 8.4
        // shows the endpoint behavior nowhere.
        let detail_json = vtysh(&format!("show bgp {afi} vpn {} json", r.prefix));
        let d: Value = serde_json::from_str(&detail_json).unwrap_or(Value::Null);
        let p = &d[&rd]["paths"][0];
        assert_eq!(p["remoteLabel"], label.value(), "{detail_json}");
        assert_eq!(p["remoteSid"], advertised.to_string(), "{detail_json}");
        assert_eq!(p["valid"], true, "{detail_json}");
        let nh = if r.family == AfiSafi::IPV4_VPN {
            next_hops
                .get(&("to FRR", r.prefix))
                .filter(|n| n.starts_with("VpnIpv6"))
                .map_or("192.0.2.9", |_| "2001:db8:2::1")
        } else {
            "2001:db8:2::1"
        };
        assert_eq!(p["nexthops"][0]["ip"], nh, "{detail_json}");
    }

    // What each peer re-advertised to us, and what ExaBGP originated.
    let mut checked = Vec::new();
    for (who, s, expected) in [
        ("gobgp", &from_gobgp, 2usize),
        ("frr", &from_frr, 2),
        ("exabgp", &from_exa, 2),
    ] {
        let codec = s.codec().expect("established");
        let found = eventually(30, &format!("SRv6 routes from {who}"), || {
            let mut found = Vec::new();
            let mut raw = Vec::new();
            for u in s.updates() {
                let decoded = round_trip(who, &u, &codec);
                let routes = srv6_routes(&decoded);
                if let (false, Some(mp)) = (routes.is_empty(), decoded.mp_reach()) {
                    raw.push((mp.family, u.clone()));
                    found.extend(routes);
                }
            }
            if found.len() >= expected {
                Ok((found, raw))
            } else {
                Err(format!("{who}: {found:?} of {} UPDATEs", s.updates().len()))
            }
        });
        keep_fixtures(who, &found.1);
        checked.push((who, found.0));
    }
    println!("received: {checked:#?}");
    for (who, found) in &checked {
        if *who == "exabgp" {
            for (_, _, sid, behavior) in found {
                assert_eq!(*sid, "2001:db8:ee:5::".parse::<Ipv6Addr>().expect("sid"));
                assert_eq!(*behavior, srv6_behavior::END_DT46);
            }
            continue;
        }
        for r in routes() {
            // FRR 8.4 passes the SID, its structure and the label on, but
            // writes the opaque behavior (0xffff) in place of the one it
            // received; GoBGP passes the attribute on as received.
            let behavior_out = if *who == "frr" {
                srv6_behavior::OPAQUE
            } else {
                r.behavior
            };
            assert!(
                found
                    .iter()
                    .any(|(rd, prefix, sid, behavior)| *rd == r.rd.to_string()
                        && prefix == r.prefix
                        && *sid == r.sid
                        && *behavior == behavior_out),
                "{who} re-advertised {} with SID {} and behavior {behavior_out}: {found:?}",
                r.prefix,
                r.sid,
            );
        }
    }

    // The other way round, ExaBGP 4.2 refuses an RFC 9252 Prefix-SID: it
    // answers our VPN-IPv4 route with a NOTIFICATION, and the test records
    // which.
    let r = &routes()[0];
    from_exa.send(Message::Update(r.update(NextHop::VpnIpv4 {
        rd: RouteDistinguisher::default(),
        addr: Ipv4Addr::new(192, 0, 2, 17),
    })));
    let n = eventually(20, "ExaBGP's answer to an SRv6 Prefix-SID", || {
        from_exa
            .rx
            .lock()
            .ok()
            .and_then(|r| r.notification.clone())
            .ok_or_else(|| "no NOTIFICATION from ExaBGP".to_owned())
    });
    println!(
        "ExaBGP answers an SRv6 L3 Service with NOTIFICATION {}/{}: {}",
        n.code,
        n.subcode,
        String::from_utf8_lossy(&n.data)
    );
    assert_eq!(
        (n.code, n.subcode),
        (3, 5),
        "ExaBGP's NOTIFICATION (UPDATE Message Error / Attribute Length Error expected)"
    );
}
