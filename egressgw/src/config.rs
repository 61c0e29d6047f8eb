//! The `egress-gateway ...` lines of ternd's config, in FRR's style (like a
//! `route-map` block): the `egress-gateway policy NAME` block (parse one
//! sub-line, parse a whole block, render a policy back to lines) and the
//! top-level `egress-gateway nat ...` settings of the gateway's SNAT.
//!
//! ```text
//! egress-gateway policy legacy-db
//!  match source 10.244.0.0/16                      (repeatable)
//!  match namespace finance                         (repeatable)
//!  destination 192.0.2.128/25                      (repeatable)
//!  exclude 192.0.2.200/32                          (repeatable)
//!  gateway 198.51.100.12 egress-ip 203.0.113.10    (repeatable)
//! exit
//! egress-gateway nat port-range 1024 65535         (the default)
//! egress-gateway nat timeout tcp-established 21600 (also tcp-syn, tcp-closing, other)
//! ```
//!
//! Every sub-line can be negated with `no`, which removes that item; `no
//! gateway ADDR` removes every gateway line of node ADDR. A line for an item
//! the policy has already changes nothing. Items keep the order they were
//! given in, and render in it, grouped by kind (match source, match
//! namespace, destination, exclude, gateway). Rules that span lines
//! (excludes inside destinations, gateway families, limits) are
//! [`Policy::validate`]'s, checked when the policy is stored.
use std::net::IpAddr;
use std::str::SplitWhitespace;

use ipnet::IpNet;

use crate::error::EgressError;
use crate::model::{Gateway, Policy, check_address, check_name, check_namespace, check_prefix};
use crate::nat::{NatConfig, NatTimeouts, PortRange, TIMEOUT_KINDS};

/// The words that start a sub-line.
const COMMANDS: &str = "match, destination, exclude, gateway or no";
const END: &str = "end of line";

/// The words of one line, with what each position expects.
struct Words<'a>(SplitWhitespace<'a>);

impl<'a> Words<'a> {
    fn new(line: &'a str) -> Words<'a> {
        Words(line.split_whitespace())
    }

    /// The next word, which must be there.
    fn next(&mut self, expected: &'static str) -> Result<&'a str, EgressError> {
        self.0.next().ok_or(EgressError::MissingWord { expected })
    }

    /// The next word, if any.
    fn opt(&mut self) -> Option<&'a str> {
        self.0.next()
    }

    /// The next word, which must be `keyword`.
    fn keyword(&mut self, keyword: &'static str) -> Result<(), EgressError> {
        let word = self.next(keyword)?;
        if word != keyword {
            return Err(unknown(word, keyword));
        }
        Ok(())
    }

    /// No word left.
    fn end(&mut self) -> Result<(), EgressError> {
        match self.0.next() {
            None => Ok(()),
            Some(word) => Err(unknown(word, END)),
        }
    }
}

fn unknown(word: &str, expected: &'static str) -> EgressError {
    EgressError::UnknownWord {
        word: word.to_owned(),
        expected,
    }
}

fn bad_value(what: &'static str, value: &str, expected: &'static str) -> EgressError {
    EgressError::BadValue {
        what,
        value: value.to_owned(),
        expected,
    }
}

/// A prefix, checked (host bits, IPv4-mapped), then the end of the line.
fn parse_prefix(w: &mut Words, what: &'static str) -> Result<IpNet, EgressError> {
    let word = w.next("a prefix")?;
    let net: IpNet = word
        .parse()
        .map_err(|_| bad_value(what, word, "a prefix like 192.0.2.0/24 or 2001:db8::/32"))?;
    w.end()?;
    check_prefix(what, &net)?;
    Ok(net)
}

fn parse_addr(w: &mut Words, what: &'static str) -> Result<IpAddr, EgressError> {
    let word = w.next("an IPv4 or IPv6 address")?;
    let addr: IpAddr = word
        .parse()
        .map_err(|_| bad_value(what, word, "an IPv4 or IPv6 address"))?;
    check_address(what, addr)?;
    Ok(addr)
}

/// `NODE egress-ip ADDR`, checked.
fn parse_gateway(w: &mut Words) -> Result<Gateway, EgressError> {
    let node = parse_addr(w, "gateway")?;
    w.keyword("egress-ip")?;
    let egress_ip = parse_addr(w, "egress-ip")?;
    w.end()?;
    Ok(Gateway::new(node, egress_ip))
}

fn parse_namespace(w: &mut Words) -> Result<String, EgressError> {
    let name = w.next("a namespace name")?;
    w.end()?;
    check_namespace(name)?;
    Ok(name.to_owned())
}

/// Adds `item` unless `list` has it.
fn add<T: PartialEq>(list: &mut Vec<T>, item: T) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Removes `item` from `list`, which must have it.
fn remove<T: PartialEq>(list: &mut Vec<T>, item: &T, shown: String) -> Result<(), EgressError> {
    let Some(i) = list.iter().position(|x| x == item) else {
        return Err(EgressError::NotConfigured(shown));
    };
    list.remove(i);
    Ok(())
}

/// Applies one sub-line of an `egress-gateway policy` block (leading spaces
/// allowed) to `policy`. The line is parsed and checked whole before
/// anything changes: a line that fails leaves `policy` as it was.
pub fn parse_sub_line(policy: &mut Policy, line: &str) -> Result<(), EgressError> {
    let mut w = Words::new(line);
    let first = w.next(COMMANDS)?;
    let negate = first == "no";
    let command = if negate { w.next(COMMANDS)? } else { first };
    match command {
        "match" => {
            const MATCH: &str = "source or namespace";
            match w.next(MATCH)? {
                "source" => {
                    let net = parse_prefix(&mut w, "match source")?;
                    if negate {
                        remove(
                            &mut policy.match_sources,
                            &net,
                            format!("match source {net}"),
                        )?;
                    } else {
                        add(&mut policy.match_sources, net);
                    }
                }
                "namespace" => {
                    let ns = parse_namespace(&mut w)?;
                    if negate {
                        let shown = format!("match namespace {ns}");
                        remove(&mut policy.match_namespaces, &ns, shown)?;
                    } else {
                        add(&mut policy.match_namespaces, ns);
                    }
                }
                other => return Err(unknown(other, MATCH)),
            }
        }
        "destination" => {
            let net = parse_prefix(&mut w, "destination")?;
            if negate {
                remove(&mut policy.destinations, &net, format!("destination {net}"))?;
            } else {
                add(&mut policy.destinations, net);
            }
        }
        "exclude" => {
            let net = parse_prefix(&mut w, "exclude")?;
            if negate {
                remove(&mut policy.excludes, &net, format!("exclude {net}"))?;
            } else {
                add(&mut policy.excludes, net);
            }
        }
        "gateway" if negate => {
            // `no gateway NODE`: every line of the node.
            let mut probe = Words(w.0.clone());
            let node = parse_addr(&mut probe, "gateway")?;
            if probe.opt().is_none() {
                let before = policy.gateways.len();
                policy.gateways.retain(|g| g.node != node);
                if policy.gateways.len() == before {
                    return Err(EgressError::NotConfigured(format!("gateway {node}")));
                }
                return Ok(());
            }
            let g = parse_gateway(&mut w)?;
            remove(&mut policy.gateways, &g, g.to_string())?;
        }
        "gateway" => add(&mut policy.gateways, parse_gateway(&mut w)?),
        other => return Err(unknown(other, COMMANDS)),
    }
    Ok(())
}

/// The name in a block's header line `egress-gateway policy NAME`, checked.
pub fn parse_header(line: &str) -> Result<String, EgressError> {
    let mut w = Words::new(line);
    w.keyword("egress-gateway")?;
    w.keyword("policy")?;
    let name = w.next("a policy name")?;
    w.end()?;
    check_name(name)?;
    Ok(name.to_owned())
}

/// Parses a whole block: the header `egress-gateway policy NAME`, sub-lines,
/// and an optional `exit`; blank lines and `!` comments are skipped. The
/// policy is validated at the end. An error carries the index in `lines` of
/// the line at fault; a rule that spans lines ([`Policy::validate`]) points
/// at the header.
pub fn parse_block(lines: &[&str]) -> Result<Policy, (usize, EgressError)> {
    let Some(header) = lines.first() else {
        return Err((
            0,
            EgressError::MissingWord {
                expected: "egress-gateway policy NAME",
            },
        ));
    };
    let mut policy = Policy::new(parse_header(header).map_err(|e| (0, e))?);
    let mut exited = false;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('!') {
            continue;
        }
        if exited {
            return Err((i, EgressError::AfterExit));
        }
        if line == "exit" {
            exited = true;
            continue;
        }
        parse_sub_line(&mut policy, line).map_err(|e| (i, e))?;
    }
    policy.validate().map_err(|e| (0, e))?;
    Ok(policy)
}

/// The block of `policy`: the header, the sub-lines indented by one space
/// (match sources, match namespaces, destinations, excludes, gateways, each
/// in its order), then `exit`.
pub fn render(policy: &Policy) -> Vec<String> {
    let mut lines = vec![format!("egress-gateway policy {}", policy.name)];
    for s in &policy.match_sources {
        lines.push(format!(" match source {s}"));
    }
    for ns in &policy.match_namespaces {
        lines.push(format!(" match namespace {ns}"));
    }
    for d in &policy.destinations {
        lines.push(format!(" destination {d}"));
    }
    for e in &policy.excludes {
        lines.push(format!(" exclude {e}"));
    }
    for g in &policy.gateways {
        lines.push(format!(" {g}"));
    }
    lines.push("exit".to_owned());
    lines
}

/// Applies a top-level `[no] egress-gateway nat ...` line to `nat`:
/// `port-range MIN MAX` or `timeout KIND SECONDS`; the `no` forms (with or
/// without the values) restore the default. A line that fails changes
/// nothing.
pub fn parse_nat_line(nat: &mut NatConfig, line: &str) -> Result<(), EgressError> {
    const SETTINGS: &str = "port-range or timeout";
    let mut w = Words::new(line);
    let first = w.next("egress-gateway")?;
    let negate = first == "no";
    if negate {
        w.keyword("egress-gateway")?;
    } else if first != "egress-gateway" {
        return Err(unknown(first, "egress-gateway"));
    }
    w.keyword("nat")?;
    match w.next(SETTINGS)? {
        "port-range" => {
            // After `no`, the values are optional; when given they must parse.
            let range = if negate && w.0.clone().next().is_none() {
                PortRange::default()
            } else {
                let min = parse_number(&mut w, "port-range MIN")?;
                let max = parse_number(&mut w, "port-range MAX")?;
                w.end()?;
                PortRange::new(min, max)?
            };
            nat.ports = if negate { PortRange::default() } else { range };
        }
        "timeout" => {
            let kind = w.next(TIMEOUT_KINDS)?;
            let Some(default) = NatTimeouts::default().get(kind) else {
                return Err(unknown(kind, TIMEOUT_KINDS));
            };
            let value = if negate && w.0.clone().next().is_none() {
                default
            } else {
                let s = parse_number(&mut w, "timeout")?;
                w.end()?;
                NatTimeouts::check(s)?;
                s
            };
            nat.timeouts.set(kind, if negate { default } else { value });
        }
        other => return Err(unknown(other, SETTINGS)),
    }
    Ok(())
}

fn parse_number(w: &mut Words, what: &'static str) -> Result<u32, EgressError> {
    let word = w.next("a number")?;
    word.parse()
        .map_err(|_| bad_value(what, word, "a whole number"))
}

/// The `egress-gateway nat` lines of `nat` that differ from the defaults.
pub fn render_nat(nat: &NatConfig) -> Vec<String> {
    let mut lines = Vec::new();
    if nat.ports != PortRange::default() {
        lines.push(format!(
            "egress-gateway nat port-range {} {}",
            nat.ports.min, nat.ports.max
        ));
    }
    let default = NatTimeouts::default();
    for (kind, value) in nat.timeouts.entries() {
        if default.get(kind) != Some(value) {
            lines.push(format!("egress-gateway nat timeout {kind} {value}"));
        }
    }
    lines
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
