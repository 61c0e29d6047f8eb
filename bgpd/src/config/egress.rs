//! `egress-gateway ...` lines of ternd's config: policy blocks (`egress-gateway
//! policy NAME`, entering `(config-egress-gw)#`; the sub-line grammar is
//! tern-egressgw's) and the gateway's SNAT settings (`egress-gateway nat
//! port-range MIN MAX`, `egress-gateway nat timeout KIND SECONDS`), with
//! their `no` forms.
//!
//! Every line is applied to a copy of the policy, which the policy table
//! must accept whole (the policy's own rules and those between policies);
//! a refused line changes nothing.
use tern_egressgw::{EgressError, NatConfig, Policy, PolicyTable};

use tern_bgp::config::check::Handled;

use super::Config;

/// The egress gateway's part of [`Config`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EgressConfig {
    /// `egress-gateway policy NAME` blocks, with their policy ids (never
    /// the datapath's VNI: [`Config::reserve_vni`]).
    pub table: PolicyTable,
    /// `egress-gateway nat ...`.
    pub nat: NatConfig,
}

impl Default for EgressConfig {
    /// No policy; the default VNI kept from the ids.
    fn default() -> Self {
        let mut table = PolicyTable::new();
        table.set_reserved_id(super::datapath::DEFAULT_VNI);
        EgressConfig {
            table,
            nat: NatConfig::default(),
        }
    }
}

impl EgressConfig {
    /// No policy: the egress gateway programs nothing.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Every egress IP of every policy, as a host prefix: the best paths
    /// the datapath task follows to judge the gateways' health.
    pub fn egress_prefixes(&self) -> Vec<ipnet::IpNet> {
        let mut out: Vec<ipnet::IpNet> = self
            .table
            .iter()
            .flat_map(|p| p.gateways.iter().map(|g| ipnet::IpNet::from(g.egress_ip)))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every gateway node of every policy: known nodes, whose tunnelled
    /// replies the pods' nodes take.
    pub fn gateway_nodes(&self) -> Vec<std::net::IpAddr> {
        let mut out: Vec<std::net::IpAddr> = self
            .table
            .iter()
            .flat_map(|p| p.gateways.iter().map(|g| g.node))
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

const USAGE: &str = "usage: egress-gateway policy NAME | egress-gateway nat port-range MIN MAX | \
                     egress-gateway nat timeout tcp-syn|tcp-established|tcp-closing|other SECONDS";

/// A top-level `egress-gateway ...` or `no egress-gateway ...` line.
/// Returns the name of the policy whose block the line opens, if it opens
/// one.
pub(crate) fn apply_top(
    config: &mut Config,
    words: &[&str],
) -> Result<(Handled, Option<String>), String> {
    let e = &mut config.egress;
    match words {
        ["egress-gateway", "policy", _] => {
            let name = tern_egressgw::parse_header(&words.join(" ")).map_err(|e| e.to_string())?;
            if e.table.get(&name).is_none() {
                e.table
                    .upsert(Policy::new(name.clone()))
                    .map_err(|e| e.to_string())?;
            }
            return Ok((Handled::Yes, Some(name)));
        }
        ["egress-gateway", "policy"] => {
            return Err("egress-gateway policy needs a name".into());
        }
        ["no", "egress-gateway", "policy", name] => {
            e.table.delete(name).map_err(|e| e.to_string())?;
        }
        ["no", "egress-gateway", "policy"] => {
            return Err("no egress-gateway policy needs a name".into());
        }
        ["egress-gateway", "nat", ..] | ["no", "egress-gateway", "nat", ..] => {
            let mut nat = e.nat;
            tern_egressgw::parse_nat_line(&mut nat, &words.join(" ")).map_err(|e| e.to_string())?;
            e.nat = nat;
        }
        ["egress-gateway", ..] | ["no", "egress-gateway", ..] => return Err(USAGE.into()),
        _ => return Ok((Handled::No, None)),
    }
    Ok((Handled::Yes, None))
}

/// A line inside `egress-gateway policy NAME`: applied to a copy, which
/// the table must accept, else nothing changes. A line whose first word
/// the block does not know is left to the top level (vtysh leaves the
/// sub-mode for it).
pub(crate) fn apply_sub(config: &mut Config, name: &str, line: &str) -> Result<Handled, String> {
    let Some(policy) = config.egress.table.get(name) else {
        // Removed underneath this session (`no egress-gateway policy` from
        // another one): the line is the top level's.
        return Ok(Handled::No);
    };
    let mut policy = policy.clone();
    let mut words = line.split_whitespace();
    let first = match words.next() {
        Some("no") => words.next(),
        w => w,
    };
    match tern_egressgw::parse_sub_line(&mut policy, line) {
        Ok(()) => {}
        Err(EgressError::UnknownWord { word, .. }) if Some(word.as_str()) == first => {
            return Ok(Handled::No);
        }
        Err(e) => return Err(e.to_string()),
    }
    config
        .egress
        .table
        .upsert(policy)
        .map_err(|e| e.to_string())?;
    Ok(Handled::Yes)
}

/// The `egress-gateway` lines of the running config: the NAT settings that
/// differ from the defaults, then each policy's block in name order.
pub fn render(e: &EgressConfig, out: &mut String) {
    let nat = tern_egressgw::render_nat(&e.nat);
    for l in &nat {
        out.push_str(l);
        out.push('\n');
    }
    if !nat.is_empty() {
        out.push_str("!\n");
    }
    for p in e.table.iter() {
        for l in tern_egressgw::render(p) {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("!\n");
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSession, Mode};

    const TEXT: &str = "\
egress-gateway nat port-range 2000 2999
egress-gateway nat timeout tcp-established 3600
!
egress-gateway policy legacy-db
 match source 10.244.0.0/16
 match namespace finance
 destination 192.0.2.128/25
 destination 2001:db8:2::/48
 exclude 192.0.2.200/32
 gateway 198.51.100.12 egress-ip 203.0.113.10
 gateway 198.51.100.13 egress-ip 203.0.113.11
 gateway 198.51.100.12 egress-ip 2001:db8:113::10
exit
!
egress-gateway policy web-out
 match namespace web
 destination 198.18.0.0/15
 gateway 198.51.100.13 egress-ip 203.0.113.20
exit
!
";

    #[test]
    fn egress_lines_parse_render_and_read_back() {
        let c = Config::parse("t", TEXT).unwrap_or_else(|e| panic!("{e:?}"));
        let e = &c.egress;
        assert_eq!(e.table.len(), 2);
        let db = e.table.get("legacy-db").expect("policy legacy-db");
        assert_eq!(db.destinations.len(), 2);
        assert_eq!(db.gateways.len(), 3);
        assert!(e.table.id("legacy-db").is_some_and(|id| id > 0));
        assert_eq!((e.nat.ports.min, e.nat.ports.max), (2000, 2999));
        assert_eq!(e.nat.timeouts.tcp_established, 3600);
        let text = c.render();
        assert!(text.contains(TEXT), "{text}");
        let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(again, c);
        assert_eq!(again.render(), text);
        assert_eq!(
            e.egress_prefixes()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "203.0.113.10/32",
                "203.0.113.11/32",
                "203.0.113.20/32",
                "2001:db8:113::10/128"
            ]
        );
        // Defaults render nothing.
        let c = Config::parse("t", "egress-gateway nat timeout other 60\n").expect("valid");
        assert!(!c.render().contains("egress-gateway"), "{}", c.render());
    }

    #[test]
    fn the_block_is_a_mode_with_exit_end_and_top_level_fallback() {
        let mut c = Config::default();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "egress-gateway policy legacy-db")
            .expect("enter");
        assert_eq!(s.mode(), &Mode::EgressPolicy("legacy-db".into()));
        assert_eq!(s.mode().prompt_name(), "config-egress-gw");
        for line in [
            "match source 10.244.0.0/16",
            "destination 192.0.2.128/25",
            "exclude 192.0.2.200/32",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ] {
            s.apply(&mut c, line)
                .unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        assert!(
            c.egress
                .table
                .get("legacy-db")
                .is_some_and(|p| p.is_complete())
        );
        s.apply(&mut c, "exit").expect("exit");
        assert_eq!(s.mode(), &Mode::Config);
        s.apply(&mut c, "egress-gateway policy legacy-db")
            .expect("enter again");
        s.apply(&mut c, "no exclude 192.0.2.200/32").expect("no");
        s.apply(&mut c, "end").expect("end");
        assert_eq!(s.mode(), &Mode::Config);
        assert!(
            c.egress
                .table
                .get("legacy-db")
                .is_some_and(|p| p.excludes.is_empty())
        );
        // A top-level line leaves the block.
        s.apply(&mut c, "egress-gateway policy legacy-db")
            .expect("enter");
        s.apply(&mut c, "hostname n1").expect("top level");
        assert_eq!(s.mode(), &Mode::Config);
        assert_eq!(c.hostname.as_deref(), Some("n1"));
        // `no egress-gateway policy` from inside the block.
        s.apply(&mut c, "egress-gateway policy legacy-db")
            .expect("enter");
        s.apply(&mut c, "no egress-gateway policy legacy-db")
            .expect("delete");
        assert_eq!(s.mode(), &Mode::Config);
        assert!(c.egress.table.is_empty());
        // Lines of a block whose policy is gone fall back to the top level.
        let mut s = ConfigSession::default();
        let mut c2 = c.clone();
        s.apply(&mut c2, "egress-gateway policy p").expect("enter");
        c2.egress.table.delete("p").expect("gone");
        assert!(s.apply(&mut c2, "destination 192.0.2.0/24").is_err());
    }

    #[test]
    fn bad_egress_lines_are_refused_with_the_reason_and_change_nothing() {
        let mut c = Config::parse("t", TEXT).expect("valid");
        let before = c.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "egress-gateway policy legacy-db")
            .expect("enter");
        for (bad, why) in [
            ("destination 192.0.2.1/24", "host bits"),
            ("exclude 198.51.100.0/24", "lies in no destination"),
            ("gateway 198.51.100.12 egress-ip 127.0.0.1", "loopback"),
            ("gateway 198.51.100.12", "egress-ip"),
            ("match namespace Finance", "lower-case"),
            ("no destination 10.0.0.0/8", "not configured"),
            ("no destination 192.0.2.128/25", "lies in no destination"),
            ("match frobnicate", "source or namespace"),
            // Another policy's egress IP, served from another node.
            (
                "gateway 198.51.100.12 egress-ip 203.0.113.20",
                "served by gateway 198.51.100.13 in policy web-out",
            ),
        ] {
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
            assert_eq!(s.mode(), &Mode::EgressPolicy("legacy-db".into()), "{bad}");
        }
        // A second policy that would take the same traffic.
        s.apply(&mut c, "egress-gateway policy twin").expect("new");
        s.apply(&mut c, "match namespace finance").expect("match");
        let e = s
            .apply(&mut c, "destination 192.0.2.128/25")
            .expect_err("ambiguous");
        assert!(e.contains("legacy-db") && e.contains("undecided"), "{e}");
        s.apply(&mut c, "end").expect("end");
        let mut s = ConfigSession::default();
        for (bad, why) in [
            ("egress-gateway policy", "needs a name"),
            ("egress-gateway policy bad/name", "policy name"),
            ("egress-gateway policy a b", "usage"),
            ("egress-gateway frobnicate", "usage"),
            (
                "no egress-gateway policy nosuch",
                "no egress-gateway policy named nosuch",
            ),
            (
                "egress-gateway nat port-range 3000 2000",
                "port-range 3000 2000",
            ),
            ("egress-gateway nat port-range 0 10", "port-range"),
            ("egress-gateway nat timeout forever 5", "unknown word"),
            ("egress-gateway nat timeout other 0", "timeout 0"),
            ("egress-gateway nat bogus", "port-range or timeout"),
        ] {
            let before = c.clone();
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
        }
        // The `no` forms go back to the defaults.
        s.apply(&mut c, "no egress-gateway nat port-range")
            .expect("no port-range");
        s.apply(&mut c, "no egress-gateway nat timeout tcp-established")
            .expect("no timeout");
        assert_eq!(c.egress.nat, tern_egressgw::NatConfig::default());
        s.apply(&mut c, "no egress-gateway policy web-out")
            .expect("delete");
        assert!(c.egress.table.get("web-out").is_none());
    }

    #[test]
    fn a_bad_file_names_the_line() {
        let errs = Config::parse(
            "ternd.conf",
            "egress-gateway policy p\n destination 192.0.2.0/24\n exclude 10.0.0.0/8\nexit\n",
        )
        .expect_err("exclude outside");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, 3);
        assert!(
            errs[0].reason.contains("lies in no destination"),
            "{errs:?}"
        );
    }
}
