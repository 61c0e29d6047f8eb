//! The SRv6 lines of ternd's config, exactly as FRR's `show running-config`
//! prints them where FRR has them: parse one line in its block, parse a
//! whole text, render the config back.
//!
//! ```text
//! segment-routing
//!  srv6
//!   locators
//!    locator MAIN
//!     prefix 2001:db8:1:1::/64 [block-len N node-len N] [func-bits N]
//!    exit
//!    !
//!   exit
//!   !
//!  exit
//!  !
//! exit
//! !
//! vrf blue                       (Tern's block: FRR takes the table from the
//!  table 10                       kernel's VRF device, which Tern does not use)
//! exit-vrf
//! !
//! router bgp 65001               (the default instance: only its SRv6 lines
//!  !                              are this crate's; bgpd owns the rest)
//!  segment-routing srv6
//!   locator MAIN
//!  exit
//! exit
//! !
//! router bgp 65001 vrf blue
//!  sid vpn per-vrf export auto|N                 (End.DT46, FRR 9's words;
//!                                                 not with sid vpn export)
//!  !
//!  address-family ipv4 unicast
//!   network 10.0.0.0/24
//!   redistribute connected|static|kernel
//!   sid vpn export auto|N                        (End.DT4; End.DT6 in ipv6)
//!   rd vpn export 65001:10
//!   rt vpn both 65001:10                         (or import / export lines)
//!   export vpn
//!   import vpn
//!  exit-address-family
//! exit
//! !
//! ```
//!
//! Every item line can be negated with `no`. `rt vpn import|export|both`
//! replaces the whole list of its direction (as FRR's does); `no rt vpn DIR`
//! empties it. A line is parsed and checked whole, and applied through
//! [`Srv6Config::change`]: a line that fails (a bad value, a SID that cannot
//! be allocated, a table another VRF has) changes nothing, not even the
//! block the parser is in. Leading spaces do not matter; `!` lines and empty
//! lines are skipped.
use std::collections::BTreeMap;
use std::str::SplitWhitespace;

use ipnet::{IpNet, Ipv6Net};

use crate::error::Srv6Error;
use crate::locator::{Locator, check_name};
use crate::model::{BgpVrf, Redistribute, Srv6Config, VpnAf, Vrf, check_table};
use crate::rd::{RouteDistinguisher, RouteTarget};
use crate::sid::{SidOwner, SidRequest};

/// Where in the config a line is read: the block the previous lines opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Node {
    /// Outside every block.
    #[default]
    Top,
    /// `segment-routing`.
    SegmentRouting,
    /// `segment-routing` / `srv6`.
    Srv6,
    /// ... / `locators`.
    Locators,
    /// ... / `locator NAME`.
    Locator(String),
    /// `vrf NAME`.
    Vrf(String),
    /// `router bgp ASN` (the default instance).
    BgpDefault,
    /// `router bgp ASN` / `segment-routing srv6`.
    BgpSrv6,
    /// `router bgp ASN vrf NAME`.
    BgpVrf(String),
    /// `router bgp ASN vrf NAME` / `address-family ipv4|ipv6 unicast`.
    BgpVrfAf { vrf: String, ipv4: bool },
}

impl Node {
    fn context(&self) -> &'static str {
        match self {
            Node::Top => "at the top level",
            Node::SegmentRouting => "in segment-routing",
            Node::Srv6 => "in segment-routing srv6",
            Node::Locators => "in srv6 locators",
            Node::Locator(_) => "in an srv6 locator",
            Node::Vrf(_) => "in a vrf block",
            Node::BgpDefault => "in router bgp (Tern's SRv6 lines there: segment-routing srv6)",
            Node::BgpSrv6 => "in router bgp segment-routing srv6",
            Node::BgpVrf(_) => "in router bgp vrf",
            Node::BgpVrfAf { .. } => "in an address-family of router bgp vrf",
        }
    }
}

const END: &str = "end of line";

/// The words of one line.
struct Words<'a>(SplitWhitespace<'a>);

impl<'a> Words<'a> {
    fn next(&mut self, expected: &'static str) -> Result<&'a str, Srv6Error> {
        self.0.next().ok_or(Srv6Error::MissingWord { expected })
    }

    fn opt(&mut self) -> Option<&'a str> {
        self.0.next()
    }

    fn keyword(&mut self, keyword: &'static str) -> Result<(), Srv6Error> {
        let word = self.next(keyword)?;
        if word != keyword {
            return Err(unknown(word, keyword));
        }
        Ok(())
    }

    fn end(&mut self) -> Result<(), Srv6Error> {
        match self.0.next() {
            None => Ok(()),
            Some(word) => Err(unknown(word, END)),
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        what: &'static str,
        expected: &'static str,
    ) -> Result<T, Srv6Error> {
        let word = self.next(expected)?;
        word.parse().map_err(|_| bad_value(what, word, expected))
    }

    /// A name, checked, then the end of the line.
    fn name(&mut self, what: &'static str) -> Result<String, Srv6Error> {
        let name = self.next("a name")?;
        check_name(what, name)?;
        Ok(name.to_owned())
    }
}

fn unknown(word: &str, expected: &'static str) -> Srv6Error {
    Srv6Error::UnknownWord {
        word: word.to_owned(),
        expected,
    }
}

fn bad_value(what: &'static str, value: &str, expected: &'static str) -> Srv6Error {
    Srv6Error::BadValue {
        what,
        value: value.to_owned(),
        expected,
    }
}

/// `ASN` of `router bgp`: 1 to 4294967295.
fn parse_asn(w: &mut Words) -> Result<u32, Srv6Error> {
    const EXPECTED: &str = "an AS number 1 to 4294967295";
    let word = w.next(EXPECTED)?;
    match word.parse::<u32>() {
        Ok(asn) if asn > 0 => Ok(asn),
        _ => Err(bad_value("router bgp", word, EXPECTED)),
    }
}

/// `auto` or a function value.
fn parse_sid_request(w: &mut Words) -> Result<SidRequest, Srv6Error> {
    const EXPECTED: &str = "auto or a function value 1 to 1048575";
    let word = w.next(EXPECTED)?;
    if word == "auto" {
        return Ok(SidRequest::Auto);
    }
    match word.parse::<u32>() {
        Ok(n) if (1..1 << 20).contains(&n) => Ok(SidRequest::Function(n)),
        _ => Err(bad_value("sid vpn export", word, EXPECTED)),
    }
}

/// The `prefix` line of a locator.
fn parse_prefix_line(name: &str, w: &mut Words) -> Result<Locator, Srv6Error> {
    const PREFIX: &str = "an IPv6 prefix like 2001:db8:1:1::/64";
    let word = w.next(PREFIX)?;
    let prefix: Ipv6Net = word
        .parse()
        .map_err(|_| bad_value("prefix", word, PREFIX))?;
    let (mut block, mut node, mut func) = (None, None, None);
    const OPTIONS: &str = "block-len, node-len, func-bits or end of line";
    while let Some(option) = w.opt() {
        let slot = match option {
            "block-len" => &mut block,
            "node-len" => &mut node,
            "func-bits" => &mut func,
            other => return Err(unknown(other, OPTIONS)),
        };
        if slot.is_some() {
            return Err(bad_value(
                "prefix",
                option,
                "each of block-len, node-len and func-bits once",
            ));
        }
        *slot = Some(w.number::<u8>(
            "length",
            "a number of bits (block-len and node-len 16 to 64, func-bits 1 to 20)",
        )?);
    }
    Locator::new(name, prefix, block, node, func)
}

/// A `network` prefix of the family `ipv4`, checked.
fn parse_network(w: &mut Words, ipv4: bool) -> Result<IpNet, Srv6Error> {
    const EXPECTED: &str = "a prefix like 10.0.0.0/24 or 2001:db8::/48";
    let word = w.next(EXPECTED)?;
    let net: IpNet = word
        .parse()
        .map_err(|_| bad_value("network", word, EXPECTED))?;
    w.end()?;
    if matches!(net, IpNet::V4(_)) != ipv4 {
        return Err(Srv6Error::NetworkFamily {
            network: net,
            family: if ipv4 { "IPv4" } else { "IPv6" },
        });
    }
    if net.trunc() != net {
        return Err(Srv6Error::NetworkHostBits {
            given: net,
            normalised: net.trunc(),
        });
    }
    Ok(net)
}

fn parse_redistribute(w: &mut Words) -> Result<Redistribute, Srv6Error> {
    const EXPECTED: &str = "connected, static or kernel";
    let word = w.next(EXPECTED)?;
    let r = match word {
        "connected" => Redistribute::Connected,
        "static" => Redistribute::Static,
        "kernel" => Redistribute::Kernel,
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(r)
}

/// The rest of the line as route targets, sorted by octets, without duplicates.
fn parse_rt_list(w: &mut Words) -> Result<Vec<RouteTarget>, Srv6Error> {
    let mut list = Vec::new();
    while let Some(word) = w.opt() {
        list.push(word.parse::<RouteTarget>()?);
    }
    if list.is_empty() {
        return Err(Srv6Error::MissingWord {
            expected: "one or more route targets (ASN:NN, A.B.C.D:NN, ASN4:NN)",
        });
    }
    list.sort();
    list.dedup();
    Ok(list)
}

/// `import`, `export` or `both`: which lists a `rt vpn` line sets.
fn parse_direction(w: &mut Words) -> Result<(bool, bool), Srv6Error> {
    const EXPECTED: &str = "import, export or both";
    match w.next(EXPECTED)? {
        "import" => Ok((true, false)),
        "export" => Ok((false, true)),
        "both" => Ok((true, true)),
        other => Err(unknown(other, EXPECTED)),
    }
}

fn wrong(line: &str, node: &Node) -> Srv6Error {
    Srv6Error::WrongContext {
        line: line.trim().to_owned(),
        context: node.context(),
    }
}

/// Applies one line read in block `node` to `cfg`, and moves `node` to the
/// block the line opens or closes. On `Err` neither changes.
pub fn parse_line(cfg: &mut Srv6Config, node: &mut Node, line: &str) -> Result<(), Srv6Error> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('!') {
        return Ok(());
    }
    let mut w = Words(trimmed.split_whitespace());
    let first = w.next("a command")?;
    let negate = first == "no";
    let command = if negate {
        w.next("a command after no")?
    } else {
        first
    };
    let next_node = match (node.clone(), command) {
        (Node::Top, "segment-routing") if !negate => {
            w.end()?;
            Node::SegmentRouting
        }
        (Node::Top, "vrf") => {
            let name = w.name("vrf")?;
            w.end()?;
            cfg.change(|c| {
                if negate {
                    c.vrfs
                        .remove(&name)
                        .ok_or_else(|| Srv6Error::NotConfigured(format!("vrf {name}")))?;
                } else {
                    c.vrfs.entry(name.clone()).or_insert(Vrf {
                        name: name.clone(),
                        table: None,
                    });
                }
                Ok(())
            })?;
            if negate { Node::Top } else { Node::Vrf(name) }
        }
        (Node::Top, "router") => {
            w.keyword("bgp")?;
            let asn = parse_asn(&mut w)?;
            match w.opt() {
                None if negate => {
                    if cfg.bgp_asn != Some(asn) {
                        return Err(Srv6Error::NotConfigured(format!("router bgp {asn}")));
                    }
                    cfg.change(|c| {
                        c.bgp_asn = None;
                        c.bgp_locator = None;
                        Ok(())
                    })?;
                    Node::Top
                }
                None => {
                    if cfg.bgp_asn.is_some_and(|a| a != asn) {
                        return Err(bad_value(
                            "router bgp",
                            &asn.to_string(),
                            "the AS number of the router bgp already configured",
                        ));
                    }
                    cfg.change(|c| {
                        c.bgp_asn = Some(asn);
                        Ok(())
                    })?;
                    Node::BgpDefault
                }
                Some("vrf") => {
                    let vrf = w.name("vrf")?;
                    w.end()?;
                    cfg.change(|c| {
                        match c.bgp_vrfs.get(&vrf) {
                            Some(b) if b.asn != asn => {
                                return Err(Srv6Error::OtherAsn {
                                    asn,
                                    vrf: vrf.clone(),
                                    existing: b.asn,
                                });
                            }
                            Some(_) if negate => {
                                c.bgp_vrfs.remove(&vrf);
                            }
                            None if negate => {
                                return Err(Srv6Error::NotConfigured(format!(
                                    "router bgp {asn} vrf {vrf}"
                                )));
                            }
                            Some(_) => {}
                            None => {
                                c.bgp_vrfs.insert(vrf.clone(), BgpVrf::new(asn, &vrf));
                            }
                        }
                        Ok(())
                    })?;
                    if negate { Node::Top } else { Node::BgpVrf(vrf) }
                }
                Some(other) => return Err(unknown(other, "vrf or end of line")),
            }
        }
        (Node::SegmentRouting, "srv6") => {
            w.end()?;
            if negate {
                cfg.change(|c| {
                    c.locators.clear();
                    Ok(())
                })?;
                Node::SegmentRouting
            } else {
                Node::Srv6
            }
        }
        (Node::SegmentRouting, "exit") if !negate => {
            w.end()?;
            Node::Top
        }
        (Node::Srv6, "locators") if !negate => {
            w.end()?;
            Node::Locators
        }
        (Node::Srv6, "exit") if !negate => {
            w.end()?;
            Node::SegmentRouting
        }
        (Node::Locators, "locator") => {
            let name = w.name("locator")?;
            w.end()?;
            if negate {
                cfg.change(|c| {
                    c.locators
                        .remove(&name)
                        .map(|_| ())
                        .ok_or_else(|| Srv6Error::NotConfigured(format!("locator {name}")))
                })?;
                Node::Locators
            } else {
                Node::Locator(name)
            }
        }
        (Node::Locators, "exit") if !negate => {
            w.end()?;
            Node::Srv6
        }
        (Node::Locator(name), "prefix") if !negate => {
            let loc = parse_prefix_line(&name, &mut w)?;
            cfg.change(|c| {
                c.locators.insert(name.clone(), loc);
                Ok(())
            })?;
            Node::Locator(name)
        }
        (Node::Locator(_), "exit") if !negate => {
            w.end()?;
            Node::Locators
        }
        (Node::Vrf(name), "table") => {
            let given = if negate {
                w.opt().map(|s| s.to_owned())
            } else {
                Some(w.next("a table id")?.to_owned())
            };
            w.end()?;
            let table = match &given {
                None => None,
                Some(s) => {
                    let t: u32 = s
                        .parse()
                        .map_err(|_| bad_value("table", s, "a table id 1 to 4294967295"))?;
                    check_table(t)?;
                    Some(t)
                }
            };
            cfg.change(|c| {
                let others: Vec<(String, Option<u32>)> = c
                    .vrfs
                    .values()
                    .filter(|v| v.name != name)
                    .map(|v| (v.name.clone(), v.table))
                    .collect();
                let v = c
                    .vrfs
                    .get_mut(&name)
                    .ok_or_else(|| Srv6Error::NotConfigured(format!("vrf {name}")))?;
                if let Some(other) = table
                    .filter(|_| !negate)
                    .and_then(|t| others.iter().find(|(_, o)| *o == Some(t)))
                {
                    return Err(Srv6Error::TableInUse {
                        table: table.unwrap_or_default(),
                        other: other.0.clone(),
                    });
                }
                if negate {
                    if v.table.is_none() || (table.is_some() && v.table != table) {
                        return Err(Srv6Error::NotConfigured(format!(
                            "table {}",
                            given.as_deref().unwrap_or("")
                        )));
                    }
                    v.table = None;
                } else {
                    v.table = table;
                }
                Ok(())
            })?;
            Node::Vrf(name)
        }
        (Node::Vrf(_), "exit-vrf" | "exit") if !negate => {
            w.end()?;
            Node::Top
        }
        (Node::BgpDefault, "segment-routing") => {
            w.keyword("srv6")?;
            w.end()?;
            if negate {
                cfg.change(|c| {
                    c.bgp_locator = None;
                    Ok(())
                })?;
                Node::BgpDefault
            } else {
                Node::BgpSrv6
            }
        }
        (Node::BgpDefault, "exit") if !negate => {
            w.end()?;
            Node::Top
        }
        (Node::BgpSrv6, "locator") => {
            let name = w.name("locator")?;
            w.end()?;
            cfg.change(|c| {
                match (&c.bgp_locator, negate) {
                    (Some(cur), false) if *cur != name => {
                        return Err(bad_value(
                            "locator",
                            &name,
                            "the locator already configured (no locator NAME first)",
                        ));
                    }
                    (Some(cur), true) if *cur == name => c.bgp_locator = None,
                    (_, true) => return Err(Srv6Error::NotConfigured(format!("locator {name}"))),
                    _ => c.bgp_locator = Some(name.clone()),
                }
                Ok(())
            })?;
            Node::BgpSrv6
        }
        (Node::BgpSrv6, "exit") if !negate => {
            w.end()?;
            Node::BgpDefault
        }
        (Node::BgpVrf(vrf), "address-family") if !negate => {
            const AF: &str = "ipv4 or ipv6";
            let ipv4 = match w.next(AF)? {
                "ipv4" => true,
                "ipv6" => false,
                other => return Err(unknown(other, AF)),
            };
            w.keyword("unicast")?;
            w.end()?;
            Node::BgpVrfAf { vrf, ipv4 }
        }
        (Node::BgpVrf(vrf), "sid") => {
            w.keyword("vpn")?;
            w.keyword("per-vrf")?;
            w.keyword("export")?;
            let request = if negate {
                // The value after `no` is checked but not needed.
                if let Some(word) = w.opt() {
                    parse_sid_request(&mut Words(word.split_whitespace()))?;
                }
                None
            } else {
                Some(parse_sid_request(&mut w)?)
            };
            w.end()?;
            cfg.change(|c| {
                let b = bgp_vrf(c, &vrf)?;
                if !negate && (b.ipv4.sid.is_some() || b.ipv6.sid.is_some()) {
                    return Err(Srv6Error::SidExclusive {
                        present: "sid vpn export in the address-families",
                    });
                }
                if negate && b.sid_per_vrf.is_none() {
                    return Err(Srv6Error::NotConfigured("sid vpn per-vrf export".into()));
                }
                b.sid_per_vrf = request;
                Ok(())
            })?;
            Node::BgpVrf(vrf)
        }
        (Node::BgpVrf(_), "exit") if !negate => {
            w.end()?;
            Node::Top
        }
        (Node::BgpVrfAf { vrf, .. }, "exit-address-family") if !negate => {
            w.end()?;
            Node::BgpVrf(vrf)
        }
        (Node::BgpVrfAf { vrf, ipv4 }, _) => {
            let edit = parse_af_line(&mut w, command, negate, ipv4)?;
            cfg.change(|c| {
                let b = bgp_vrf(c, &vrf)?;
                if command == "sid" && !negate && b.sid_per_vrf.is_some() {
                    return Err(Srv6Error::SidExclusive {
                        present: "sid vpn per-vrf export",
                    });
                }
                edit(b.af_mut(ipv4))
            })?;
            Node::BgpVrfAf { vrf, ipv4 }
        }
        _ => return Err(wrong(line, node)),
    };
    *node = next_node;
    Ok(())
}

fn bgp_vrf<'c>(c: &'c mut Srv6Config, vrf: &str) -> Result<&'c mut BgpVrf, Srv6Error> {
    c.bgp_vrfs
        .get_mut(vrf)
        .ok_or_else(|| Srv6Error::NotConfigured(format!("router bgp vrf {vrf}")))
}

type AfEdit = Box<dyn FnOnce(&mut VpnAf) -> Result<(), Srv6Error>>;

fn not_configured(what: String) -> Srv6Error {
    Srv6Error::NotConfigured(what)
}

/// Parses one line of an address-family block into the edit it makes.
fn parse_af_line(
    w: &mut Words,
    command: &str,
    negate: bool,
    ipv4: bool,
) -> Result<AfEdit, Srv6Error> {
    const COMMANDS: &str =
        "network, redistribute, sid, rd, rt, import, export, exit-address-family or no";
    Ok(match command {
        "network" => {
            let net = parse_network(w, ipv4)?;
            Box::new(move |af: &mut VpnAf| {
                if negate {
                    let before = af.networks.len();
                    af.networks.retain(|n| *n != net);
                    if af.networks.len() == before {
                        return Err(not_configured(format!("network {net}")));
                    }
                } else if !af.networks.contains(&net) {
                    af.networks.push(net);
                }
                Ok(())
            })
        }
        "redistribute" => {
            let r = parse_redistribute(w)?;
            Box::new(move |af: &mut VpnAf| {
                if negate {
                    let before = af.redistribute.len();
                    af.redistribute.retain(|x| *x != r);
                    if af.redistribute.len() == before {
                        return Err(not_configured(format!("redistribute {}", r.word())));
                    }
                } else if !af.redistribute.contains(&r) {
                    af.redistribute.push(r);
                    af.redistribute.sort();
                }
                Ok(())
            })
        }
        "sid" => {
            w.keyword("vpn")?;
            w.keyword("export")?;
            let request = if negate {
                match w.opt() {
                    None => None,
                    Some(word) => {
                        let mut one = Words(word.split_whitespace());
                        Some(parse_sid_request(&mut one)?)
                    }
                }
            } else {
                Some(parse_sid_request(w)?)
            };
            w.end()?;
            Box::new(move |af: &mut VpnAf| {
                if negate {
                    if af.sid.is_none() || (request.is_some() && af.sid != request) {
                        return Err(not_configured("sid vpn export".into()));
                    }
                    af.sid = None;
                } else {
                    af.sid = request;
                }
                Ok(())
            })
        }
        "rd" => {
            w.keyword("vpn")?;
            w.keyword("export")?;
            let rd = match w.opt() {
                None if negate => None,
                None => {
                    return Err(Srv6Error::MissingWord {
                        expected: "a route distinguisher (ASN:NN, A.B.C.D:NN, ASN4:NN)",
                    });
                }
                Some(word) => Some(word.parse::<RouteDistinguisher>()?),
            };
            w.end()?;
            Box::new(move |af: &mut VpnAf| {
                if negate {
                    if af.rd.is_none() || (rd.is_some() && af.rd != rd) {
                        return Err(not_configured("rd vpn export".into()));
                    }
                    af.rd = None;
                } else {
                    af.rd = rd;
                }
                Ok(())
            })
        }
        "rt" | "route-target" => {
            w.keyword("vpn")?;
            let (import, export) = parse_direction(w)?;
            let list = if negate {
                // FRR empties the list whatever targets follow.
                while w.opt().is_some() {}
                Vec::new()
            } else {
                parse_rt_list(w)?
            };
            Box::new(move |af: &mut VpnAf| {
                let none_set =
                    (!import || af.rt_import.is_empty()) && (!export || af.rt_export.is_empty());
                if negate && none_set {
                    return Err(not_configured("rt vpn".into()));
                }
                if import {
                    af.rt_import = list.clone();
                }
                if export {
                    af.rt_export = list;
                }
                Ok(())
            })
        }
        "import" | "export" => {
            w.keyword("vpn")?;
            w.end()?;
            let import = command == "import";
            Box::new(move |af: &mut VpnAf| {
                let flag = if import {
                    &mut af.import_vpn
                } else {
                    &mut af.export_vpn
                };
                *flag = !negate;
                Ok(())
            })
        }
        other => return Err(unknown(other, COMMANDS)),
    })
}

/// Parses a whole text (the blocks of the module's example, in any order
/// and number). The SIDs are allocated once, after the last line, explicit
/// functions first and automatic ones in owner order, so that the same
/// config gives the same SIDs whatever the order of its blocks. `Err` holds
/// the 0-based index of the line at fault (for a SID that cannot be
/// allocated, the line that asked for it).
pub fn parse_text(text: &str) -> Result<Srv6Config, (usize, Srv6Error)> {
    let mut cfg = Srv6Config::new();
    cfg.defer_sids(true);
    let mut node = Node::Top;
    let mut asked_at: BTreeMap<SidOwner, usize> = BTreeMap::new();
    let mut requests = cfg.sid_requests();
    for (i, line) in text.lines().enumerate() {
        parse_line(&mut cfg, &mut node, line).map_err(|e| (i, e))?;
        let now = cfg.sid_requests();
        if now != requests {
            for (owner, request) in &now {
                if requests.get(owner) != Some(request) {
                    asked_at.insert(owner.clone(), i);
                }
            }
            requests = now;
        }
    }
    cfg.defer_sids(false);
    if let Err(e) = cfg.sync_sids() {
        return Err((line_of(&e, &requests, &asked_at), e));
    }
    Ok(cfg)
}

/// The line that asked for the SID `e` refuses: the latest one among the
/// owners it may be about.
fn line_of(
    e: &Srv6Error,
    requests: &BTreeMap<SidOwner, SidRequest>,
    asked_at: &BTreeMap<SidOwner, usize>,
) -> usize {
    let about = |owner: &SidOwner, request: &SidRequest| match e {
        Srv6Error::FunctionOutOfRange { function, .. }
        | Srv6Error::FunctionReserved { function, .. }
        | Srv6Error::FunctionTaken { function, .. } => *request == SidRequest::Function(*function),
        Srv6Error::LocatorFull { owner: o, .. } => owner.to_string() == *o,
        _ => true,
    };
    requests
        .iter()
        .filter(|(o, r)| about(o, r))
        .filter_map(|(o, _)| asked_at.get(o).copied())
        .max()
        .unwrap_or(0)
}

/// The lines of `cfg`, as FRR prints them: the segment-routing block (when
/// there is a locator), the VRF blocks, the default instance's SRv6 lines
/// (when BGP has a locator and an AS number), the VRF instances.
pub fn render(cfg: &Srv6Config) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |s: &str| out.push(s.to_owned());
    if !cfg.locators.is_empty() {
        push("segment-routing");
        push(" srv6");
        push("  locators");
        for loc in cfg.locators.values() {
            push(&format!("   locator {}", loc.name()));
            push(&format!("    prefix {}", loc.prefix_words()));
            push("   exit");
            push("   !");
        }
        push("  exit");
        push("  !");
        push(" exit");
        push(" !");
        push("exit");
        push("!");
    }
    for vrf in cfg.vrfs.values() {
        push(&format!("vrf {}", vrf.name));
        if let Some(t) = vrf.table {
            push(&format!(" table {t}"));
        }
        push("exit-vrf");
        push("!");
    }
    if let Some(asn) = cfg.bgp_asn {
        push(&format!("router bgp {asn}"));
        if let Some(loc) = &cfg.bgp_locator {
            push(" !");
            push(" segment-routing srv6");
            push(&format!("  locator {loc}"));
            push(" exit");
        }
        push("exit");
        push("!");
    }
    for b in cfg.bgp_vrfs.values() {
        out.extend(render_bgp_vrf(b));
    }
    out
}

/// The `router bgp ASN vrf NAME` block of `b`, ending with `exit` and `!`.
pub fn render_bgp_vrf(b: &BgpVrf) -> Vec<String> {
    let mut out = vec![format!("router bgp {} vrf {}", b.asn, b.vrf)];
    if let Some(r) = b.sid_per_vrf {
        out.push(format!(" sid vpn per-vrf export {r}"));
    }
    for (ipv4, af) in [(true, &b.ipv4), (false, &b.ipv6)] {
        if af.is_empty() {
            continue;
        }
        out.push(" !".into());
        out.push(format!(
            " address-family {} unicast",
            if ipv4 { "ipv4" } else { "ipv6" }
        ));
        for n in &af.networks {
            out.push(format!("  network {n}"));
        }
        for r in &af.redistribute {
            out.push(format!("  redistribute {}", r.word()));
        }
        if let Some(r) = af.sid {
            out.push(format!("  sid vpn export {r}"));
        }
        if let Some(rd) = af.rd {
            out.push(format!("  rd vpn export {rd}"));
        }
        let list = |l: &[RouteTarget]| {
            l.iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        if !af.rt_import.is_empty() && af.rt_import == af.rt_export {
            out.push(format!("  rt vpn both {}", list(&af.rt_import)));
        } else {
            if !af.rt_import.is_empty() {
                out.push(format!("  rt vpn import {}", list(&af.rt_import)));
            }
            if !af.rt_export.is_empty() {
                out.push(format!("  rt vpn export {}", list(&af.rt_export)));
            }
        }
        if af.export_vpn {
            out.push("  export vpn".into());
        }
        if af.import_vpn {
            out.push("  import vpn".into());
        }
        out.push(" exit-address-family".into());
    }
    out.push("exit".into());
    out.push("!".into());
    out
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
