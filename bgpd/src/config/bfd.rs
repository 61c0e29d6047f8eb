//! The `bfd` node of ternd's config, in FRR bfdd's words: `bfd` enters
//! `(config-bfd)#`, `peer ADDR [interface IFNAME] [multihop] [local-address
//! ADDR]` enters `(config-bfd-peer)#`, where `receive-interval`,
//! `transmit-interval`, `detect-multiplier` and `shutdown` set the
//! session's timers and state. `neighbor X bfd` under `router bgp` uses the
//! peer of the same address (or a session with the default timers).
use std::{collections::BTreeMap, fmt, net::IpAddr};

use tern_bgp::config::check::{Handled, check_ifname};

/// FRR bfdd's default timers (milliseconds) and multiplier.
pub const DEFAULT_INTERVAL_MS: u32 = 300;
pub const DEFAULT_DETECT_MULT: u8 = 3;

/// What tells BFD sessions apart in the config (as bfdd's `peer` line).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerKey {
    pub peer: IpAddr,
    pub multihop: bool,
    pub local: Option<IpAddr>,
    pub ifname: Option<String>,
}

impl PeerKey {
    /// A single-hop session to `peer` with nothing else given (what
    /// `neighbor X bfd` asks for when no `peer` line matches).
    pub fn single_hop(peer: IpAddr) -> PeerKey {
        PeerKey {
            peer,
            multihop: false,
            local: None,
            ifname: None,
        }
    }
}

impl fmt::Display for PeerKey {
    /// The `peer ...` line's words after `peer`, in bfdd's order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.peer)?;
        if self.multihop {
            f.write_str(" multihop")?;
        }
        if let Some(l) = self.local {
            write!(f, " local-address {l}")?;
        }
        if let Some(i) = &self.ifname {
            write!(f, " interface {i}")?;
        }
        Ok(())
    }
}

/// The settings of one `peer` block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    /// `receive-interval MS` (bfd.RequiredMinRxInterval).
    pub receive_interval_ms: u32,
    /// `transmit-interval MS` (bfd.DesiredMinTxInterval).
    pub transmit_interval_ms: u32,
    /// `detect-multiplier N`.
    pub detect_multiplier: u8,
    /// `shutdown`: the session is AdminDown.
    pub shutdown: bool,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            receive_interval_ms: DEFAULT_INTERVAL_MS,
            transmit_interval_ms: DEFAULT_INTERVAL_MS,
            detect_multiplier: DEFAULT_DETECT_MULT,
            shutdown: false,
        }
    }
}

/// The `bfd` node: present or not, and its peers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BfdConfig {
    /// A `bfd` line was given (rendered even without peers).
    pub enabled: bool,
    pub peers: BTreeMap<PeerKey, PeerConfig>,
}

/// Parses the words after `peer`.
pub fn parse_peer_key(words: &[&str]) -> Result<PeerKey, String> {
    const USAGE: &str = "usage: peer ADDRESS [multihop] [local-address ADDRESS] [interface IFNAME]";
    let Some((addr, mut rest)) = words.split_first() else {
        return Err(USAGE.into());
    };
    let peer: IpAddr = addr
        .parse()
        .map_err(|_| format!("invalid peer address \"{addr}\""))?;
    let mut key = PeerKey::single_hop(peer);
    while let Some((w, more)) = rest.split_first() {
        match (*w, more) {
            ("multihop", _) => {
                key.multihop = true;
                rest = more;
            }
            ("local-address", [a, more @ ..]) => {
                let l: IpAddr = a
                    .parse()
                    .map_err(|_| format!("invalid local-address \"{a}\""))?;
                if l.is_ipv4() != peer.is_ipv4() {
                    return Err("peer and local-address must be of the same family".into());
                }
                key.local = Some(l);
                rest = more;
            }
            ("interface", [i, more @ ..]) => {
                check_ifname(i)?;
                key.ifname = Some((*i).to_owned());
                rest = more;
            }
            ("vrf", _) => return Err("BFD in a VRF is not supported yet".into()),
            _ => return Err(USAGE.into()),
        }
    }
    if key.multihop && key.local.is_none() {
        // bfdd's rule: a multihop session is keyed by both addresses.
        return Err("local-address is required when using multihop".into());
    }
    if key.multihop && key.ifname.is_some() {
        return Err("multihop and interface cannot be configured together".into());
    }
    if peer.is_unspecified() || peer.is_multicast() || peer.is_loopback() {
        return Err(format!("invalid peer address \"{peer}\""));
    }
    Ok(key)
}

/// `bfd`, `no bfd`: the node's lines at the top level. Returns whether
/// the line enters `(config-bfd)#`.
pub(crate) fn apply_top(
    config: &mut super::Config,
    words: &[&str],
) -> Result<(Handled, bool), String> {
    match words {
        ["bfd"] => {
            config.bfd.enabled = true;
            Ok((Handled::Yes, true))
        }
        ["no", "bfd"] => {
            config.bfd = BfdConfig::default();
            Ok((Handled::Yes, false))
        }
        ["bfd", ..] | ["no", "bfd", ..] => Err("usage: bfd".into()),
        _ => Ok((Handled::No, false)),
    }
}

/// A line in `(config-bfd)#`: `peer ...` (returns the key to enter) and
/// `no peer ...`.
pub(crate) fn apply_node(
    config: &mut super::Config,
    words: &[&str],
) -> Result<(Handled, Option<PeerKey>), String> {
    match words {
        ["peer", rest @ ..] => {
            let key = parse_peer_key(rest)?;
            config.bfd.peers.entry(key.clone()).or_default();
            Ok((Handled::Yes, Some(key)))
        }
        ["no", "peer", rest @ ..] => {
            let key = parse_peer_key(rest)?;
            if config.bfd.peers.remove(&key).is_none() {
                return Err(format!("BFD peer {key} is not configured"));
            }
            Ok((Handled::Yes, None))
        }
        ["profile", ..] | ["no", "profile", ..] => {
            Err("\"profile\" is not supported by Tern yet: give the timers under peer".into())
        }
        _ => Ok((Handled::No, None)),
    }
}

/// A line in `(config-bfd-peer)#` for `key`.
pub(crate) fn apply_peer(
    config: &mut super::Config,
    key: &PeerKey,
    words: &[&str],
) -> Result<Handled, String> {
    let Some(p) = config.bfd.peers.get_mut(key) else {
        // Removed underneath this session: the parent modes take the line.
        return Ok(Handled::No);
    };
    let interval = |w: &str, what: &str| -> Result<u32, String> {
        match w.parse::<u32>() {
            Ok(v) if (10..=60000).contains(&v) => Ok(v),
            _ => Err(format!(
                "{what} \"{w}\" out of range: 10 to 60000 milliseconds"
            )),
        }
    };
    match words {
        ["receive-interval", v] => p.receive_interval_ms = interval(v, "receive-interval")?,
        ["transmit-interval", v] => p.transmit_interval_ms = interval(v, "transmit-interval")?,
        ["detect-multiplier", v] => {
            p.detect_multiplier = match v.parse::<u8>() {
                Ok(m) if m >= 2 => m,
                _ => return Err(format!("detect-multiplier \"{v}\" out of range: 2 to 255")),
            }
        }
        ["no", "receive-interval", ..] => p.receive_interval_ms = DEFAULT_INTERVAL_MS,
        ["no", "transmit-interval", ..] => p.transmit_interval_ms = DEFAULT_INTERVAL_MS,
        ["no", "detect-multiplier", ..] => p.detect_multiplier = DEFAULT_DETECT_MULT,
        ["shutdown"] => p.shutdown = true,
        ["no", "shutdown"] => p.shutdown = false,
        [
            "receive-interval" | "transmit-interval" | "detect-multiplier",
            ..,
        ] => {
            return Err(format!("usage: {} VALUE", words[0]));
        }
        [
            "echo-mode" | "echo-interval" | "echo" | "passive-mode" | "minimum-ttl" | "profile",
            ..,
        ]
        | [
            "no",
            "echo-mode" | "echo-interval" | "echo" | "passive-mode" | "minimum-ttl" | "profile",
            ..,
        ] => {
            let w = if words[0] == "no" { words[1] } else { words[0] };
            return Err(format!("\"{w}\" is not supported by Tern yet"));
        }
        _ => return Ok(Handled::No),
    }
    Ok(Handled::Yes)
}

/// The `bfd` block of the running config, as bfdd writes it.
pub fn render(b: &BfdConfig, out: &mut String) {
    if !b.enabled && b.peers.is_empty() {
        return;
    }
    out.push_str("bfd\n");
    let d = PeerConfig::default();
    for (key, p) in &b.peers {
        out.push_str(&format!(" peer {key}\n"));
        if p.detect_multiplier != d.detect_multiplier {
            out.push_str(&format!("  detect-multiplier {}\n", p.detect_multiplier));
        }
        if p.receive_interval_ms != d.receive_interval_ms {
            out.push_str(&format!("  receive-interval {}\n", p.receive_interval_ms));
        }
        if p.transmit_interval_ms != d.transmit_interval_ms {
            out.push_str(&format!("  transmit-interval {}\n", p.transmit_interval_ms));
        }
        if p.shutdown {
            out.push_str("  shutdown\n");
        }
        out.push_str(" exit\n !\n");
    }
    out.push_str("exit\n!\n");
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSession, Mode};

    const TEXT: &str = "\
bfd
 peer 192.0.2.1 interface eth1
  detect-multiplier 5
  receive-interval 100
  transmit-interval 150
 exit
 !
 peer 2001:db8::1 multihop local-address 2001:db8::2
  shutdown
 exit
 !
exit
!
";

    #[test]
    fn bfd_lines_parse_render_and_read_back() {
        let c = Config::parse("t", TEXT).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(c.bfd.peers.len(), 2);
        let text = c.render();
        assert!(text.contains(TEXT), "{text}");
        let again = Config::parse("r", &text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(again, c);
    }

    #[test]
    fn neighbor_bfd_asks_for_a_session() {
        let text = "\
router bgp 65001
 neighbor 192.0.2.2 remote-as 65002
 neighbor 192.0.2.2 bfd
 neighbor 192.0.2.6 remote-as 65002
 neighbor 192.0.2.6 bfd
 neighbor 192.0.2.6 ebgp-multihop 3
 neighbor 192.0.2.6 update-source 192.0.2.7
 neighbor 192.0.2.9 remote-as 65002
exit
!
bfd
 peer 192.0.2.2 interface eth1
  receive-interval 100
 exit
 !
exit
!
";
        let c = Config::parse("t", text).unwrap_or_else(|e| panic!("{e:?}"));
        let rendered = c.render();
        assert!(rendered.contains(" neighbor 192.0.2.2 bfd\n"), "{rendered}");
        assert_eq!(Config::parse("r", &rendered).ok().as_ref(), Some(&c));
        let d = crate::bfd::desired(&c);
        assert_eq!(d.len(), 2, "{d:?}");
        // The peer block serves 192.0.2.2, with its timers.
        assert!(d[0].configured && d[0].cfg.receive_interval_ms == 100);
        assert_eq!(d[0].key.ifname.as_deref(), Some("eth1"));
        // 192.0.2.6 gets a multihop session from its update-source.
        assert!(!d[1].configured && d[1].key.multihop);
        assert_eq!(d[1].key.local, "192.0.2.7".parse().ok());
        let mut c2 = c.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut c2, "router bgp 65001").expect("router");
        s.apply(&mut c2, "no neighbor 192.0.2.6 bfd")
            .expect("no bfd");
        assert_eq!(crate::bfd::desired(&c2).len(), 1);
        let e = s
            .apply(
                &mut c2,
                "neighbor 192.0.2.2 bfd check-control-plane-failure",
            )
            .expect_err("refused");
        assert!(e.contains("not supported"), "{e}");
    }

    #[test]
    fn bad_bfd_lines_are_refused_with_a_reason() {
        let mut c = Config::default();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "bfd").expect("bfd");
        assert_eq!(s.mode(), &Mode::Bfd);
        for (line, why) in [
            ("peer 192.0.2.1 multihop", "local-address is required"),
            ("peer 192.0.2.1 local-address 2001:db8::1", "same family"),
            ("peer banana", "invalid peer address"),
            ("peer 192.0.2.1 vrf red", "VRF"),
            ("no peer 192.0.2.9", "not configured"),
        ] {
            let e = s.apply(&mut c, line).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
        s.apply(&mut c, "peer 192.0.2.1").expect("peer");
        assert!(matches!(s.mode(), Mode::BfdPeer(_)));
        for (line, why) in [
            ("receive-interval 5", "10 to 60000"),
            ("transmit-interval 60001", "10 to 60000"),
            ("detect-multiplier 1", "2 to 255"),
            ("echo-mode", "not supported"),
        ] {
            let e = s.apply(&mut c, line).expect_err(line);
            assert!(e.contains(why), "{line}: {e}");
        }
        s.apply(&mut c, "receive-interval 300").expect("rx");
        s.apply(&mut c, "exit").expect("exit");
        assert_eq!(s.mode(), &Mode::Bfd);
        // A top-level line leaves the node, as in vtysh.
        s.apply(&mut c, "hostname n1").expect("hostname");
        assert_eq!(s.mode(), &Mode::Config);
    }
}
