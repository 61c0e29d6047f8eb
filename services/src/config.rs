//! The `service NAME` block of ternd's config, in FRR's style (like a
//! `route-map` block): parse one sub-line, parse a whole block, render a
//! service back to lines.
//!
//! ```text
//! service web
//!  type cluster-ip                                   (default load-balancer)
//!  frontend 198.51.100.10 port 80 tcp                (tcp when omitted)
//!  backend 10.244.1.5 port 8080 weight 2 state terminating
//!  external-traffic-policy local                     (default cluster)
//!  session-affinity client-ip timeout 600            (10800 when omitted; `none`: off)
//!  source-range 192.0.2.0/24
//!  algorithm maglev table-size 16381                 (or `algorithm random`)
//!  announce always                                   (default auto)
//! exit
//! ```
//!
//! Every sub-line can be negated with `no`, which removes the item or resets
//! the setting to its default. A `backend` line states the whole backend: for
//! an (address, port) the service already has, it replaces the weight and the
//! state (an option left out takes its default), which is how an orchestrator
//! drains a backend. A `frontend` or `source-range` line for one the service
//! has already changes nothing. Defaults are not rendered.
use std::net::IpAddr;
use std::str::SplitWhitespace;

use ipnet::IpNet;

use crate::error::ServiceError;
use crate::model::{
    Algorithm, Announce, Backend, BackendState, DEFAULT_AFFINITY_TIMEOUT, DEFAULT_TABLE_SIZE,
    DEFAULT_WEIGHT, Frontend, Protocol, Service, ServiceKind, TrafficPolicy,
    check_affinity_timeout, check_backend, check_frontend, check_name, check_source_range,
    check_table_size,
};

/// The words that start a sub-line.
const COMMANDS: &str = "type, frontend, backend, external-traffic-policy, session-affinity, \
                        source-range, algorithm, announce or no";
const END: &str = "end of line";

/// The words of one line, with what each position expects.
struct Words<'a>(SplitWhitespace<'a>);

impl<'a> Words<'a> {
    fn new(line: &'a str) -> Words<'a> {
        Words(line.split_whitespace())
    }

    /// The next word, which must be there.
    fn next(&mut self, expected: &'static str) -> Result<&'a str, ServiceError> {
        self.0.next().ok_or(ServiceError::MissingWord { expected })
    }

    /// The next word, if any.
    fn opt(&mut self) -> Option<&'a str> {
        self.0.next()
    }

    /// The next word, which must be `keyword`.
    fn keyword(&mut self, keyword: &'static str) -> Result<(), ServiceError> {
        let word = self.next(keyword)?;
        if word != keyword {
            return Err(unknown(word, keyword));
        }
        Ok(())
    }

    /// No word left.
    fn end(&mut self) -> Result<(), ServiceError> {
        match self.0.next() {
            None => Ok(()),
            Some(word) => Err(unknown(word, END)),
        }
    }
}

fn unknown(word: &str, expected: &'static str) -> ServiceError {
    ServiceError::UnknownWord {
        word: word.to_owned(),
        expected,
    }
}

fn bad_value(what: &'static str, value: &str, expected: &'static str) -> ServiceError {
    ServiceError::BadValue {
        what,
        value: value.to_owned(),
        expected,
    }
}

fn parse_addr(w: &mut Words, what: &'static str) -> Result<IpAddr, ServiceError> {
    let word = w.next("an IPv4 or IPv6 address")?;
    word.parse()
        .map_err(|_| bad_value(what, word, "an IPv4 or IPv6 address"))
}

fn parse_port(w: &mut Words) -> Result<u16, ServiceError> {
    w.keyword("port")?;
    let word = w.next("a port number")?;
    word.parse()
        .map_err(|_| bad_value("port", word, "a port from 1 to 65535"))
}

fn parse_number(w: &mut Words, what: &'static str) -> Result<u32, ServiceError> {
    let word = w.next("a number")?;
    word.parse()
        .map_err(|_| bad_value(what, word, "a whole number"))
}

/// `ADDR port N [tcp|udp]`, checked.
fn parse_frontend(w: &mut Words) -> Result<Frontend, ServiceError> {
    let addr = parse_addr(w, "frontend address")?;
    let port = parse_port(w)?;
    let proto = match w.opt() {
        None => Protocol::Tcp,
        Some("tcp") => Protocol::Tcp,
        Some("udp") => Protocol::Udp,
        Some(other) => return Err(unknown(other, "tcp, udp or end of line")),
    };
    w.end()?;
    let f = Frontend::new(addr, port, proto);
    check_frontend(&f)?;
    Ok(f)
}

/// `ADDR port N [weight W] [state S]`, checked.
fn parse_backend(w: &mut Words) -> Result<Backend, ServiceError> {
    let addr = parse_addr(w, "backend address")?;
    let port = parse_port(w)?;
    let mut weight: Option<u32> = None;
    let mut state: Option<BackendState> = None;
    while let Some(option) = w.opt() {
        match option {
            "weight" if weight.is_none() => weight = Some(parse_number(w, "weight")?),
            "state" if state.is_none() => {
                state = Some(match w.next("active, terminating or maintenance")? {
                    "active" => BackendState::Active,
                    "terminating" => BackendState::Terminating,
                    "maintenance" => BackendState::Maintenance,
                    other => return Err(unknown(other, "active, terminating or maintenance")),
                })
            }
            "weight" | "state" => return Err(ServiceError::RepeatedWord(option.to_owned())),
            other => return Err(unknown(other, "weight, state or end of line")),
        }
    }
    let weight = weight.unwrap_or(u32::from(DEFAULT_WEIGHT));
    let Ok(weight) = u16::try_from(weight) else {
        return Err(ServiceError::BadWeight { addr, port, weight });
    };
    let b = Backend {
        addr,
        port,
        weight,
        state: state.unwrap_or_default(),
    };
    check_backend(&b)?;
    Ok(b)
}

/// A prefix, checked for host bits.
fn parse_source_range(w: &mut Words) -> Result<IpNet, ServiceError> {
    let word = w.next("a prefix")?;
    let net: IpNet = word
        .parse()
        .map_err(|_| bad_value("source-range", word, "a prefix like 192.0.2.0/24"))?;
    w.end()?;
    check_source_range(&net)?;
    Ok(net)
}

fn parse_kind(w: &mut Words) -> Result<ServiceKind, ServiceError> {
    const EXPECTED: &str = "load-balancer or cluster-ip";
    let kind = match w.next(EXPECTED)? {
        "load-balancer" => ServiceKind::LoadBalancer,
        "cluster-ip" => ServiceKind::ClusterIp,
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(kind)
}

fn parse_policy(w: &mut Words) -> Result<TrafficPolicy, ServiceError> {
    const EXPECTED: &str = "cluster or local";
    let policy = match w.next(EXPECTED)? {
        "cluster" => TrafficPolicy::Cluster,
        "local" => TrafficPolicy::Local,
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(policy)
}

/// `client-ip [timeout N]` or `none`.
fn parse_affinity(w: &mut Words) -> Result<Option<u32>, ServiceError> {
    const EXPECTED: &str = "client-ip or none";
    let timeout = match w.next(EXPECTED)? {
        "none" => None,
        "client-ip" => match w.opt() {
            None => Some(DEFAULT_AFFINITY_TIMEOUT),
            Some("timeout") => {
                let t = parse_number(w, "session-affinity timeout")?;
                check_affinity_timeout(t)?;
                Some(t)
            }
            Some(other) => return Err(unknown(other, "timeout or end of line")),
        },
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(timeout)
}

/// `maglev [table-size N]` or `random`.
fn parse_algorithm(w: &mut Words) -> Result<Algorithm, ServiceError> {
    const EXPECTED: &str = "maglev or random";
    let algorithm = match w.next(EXPECTED)? {
        "random" => Algorithm::Random,
        "maglev" => match w.opt() {
            None => Algorithm::Maglev {
                table_size: DEFAULT_TABLE_SIZE,
            },
            Some("table-size") => {
                let size = parse_number(w, "maglev table-size")?;
                check_table_size(size)?;
                Algorithm::Maglev { table_size: size }
            }
            Some(other) => return Err(unknown(other, "table-size or end of line")),
        },
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(algorithm)
}

fn parse_announce(w: &mut Words) -> Result<Announce, ServiceError> {
    const EXPECTED: &str = "auto or always";
    let announce = match w.next(EXPECTED)? {
        "auto" => Announce::Auto,
        "always" => Announce::Always,
        other => return Err(unknown(other, EXPECTED)),
    };
    w.end()?;
    Ok(announce)
}

/// After `no WORD`: nothing, or the words the positive line takes.
fn parse_optional<T>(
    w: &mut Words,
    parse: impl FnOnce(&mut Words) -> Result<T, ServiceError>,
) -> Result<(), ServiceError> {
    let rest = w.0.clone();
    if w.opt().is_none() {
        return Ok(());
    }
    w.0 = rest;
    parse(w).map(|_| ())
}

/// Applies one sub-line of a `service` block (leading spaces allowed) to
/// `svc`. The line is parsed and checked whole before anything changes: a
/// line that fails leaves `svc` as it was. Rules that span lines (table size
/// against backends, settings only load-balancers take) are
/// [`Service::validate`]'s, once the block is complete.
pub fn parse_sub_line(svc: &mut Service, line: &str) -> Result<(), ServiceError> {
    let mut w = Words::new(line);
    let first = w.next(COMMANDS)?;
    let negate = first == "no";
    let command = if negate { w.next(COMMANDS)? } else { first };
    match (negate, command) {
        (false, "type") => svc.kind = parse_kind(&mut w)?,
        (true, "type") => {
            parse_optional(&mut w, parse_kind)?;
            svc.kind = ServiceKind::default();
        }
        (false, "frontend") => {
            let f = parse_frontend(&mut w)?;
            if !svc.frontends.contains(&f) {
                svc.frontends.push(f);
            }
        }
        (true, "frontend") => {
            let f = parse_frontend(&mut w)?;
            let Some(i) = svc.frontends.iter().position(|x| *x == f) else {
                return Err(ServiceError::NotConfigured(format!("frontend {f}")));
            };
            svc.frontends.remove(i);
        }
        (false, "backend") => {
            let b = parse_backend(&mut w)?;
            match svc
                .backends
                .iter_mut()
                .find(|x| (x.addr, x.port) == (b.addr, b.port))
            {
                Some(existing) => *existing = b,
                None => svc.backends.push(b),
            }
        }
        (true, "backend") => {
            let b = parse_backend(&mut w)?;
            let Some(i) = svc
                .backends
                .iter()
                .position(|x| (x.addr, x.port) == (b.addr, b.port))
            else {
                return Err(ServiceError::NotConfigured(format!("backend {b}")));
            };
            svc.backends.remove(i);
        }
        (false, "external-traffic-policy") => svc.traffic_policy = parse_policy(&mut w)?,
        (true, "external-traffic-policy") => {
            parse_optional(&mut w, parse_policy)?;
            svc.traffic_policy = TrafficPolicy::default();
        }
        (false, "session-affinity") => svc.affinity_timeout = parse_affinity(&mut w)?,
        (true, "session-affinity") => {
            parse_optional(&mut w, parse_affinity)?;
            svc.affinity_timeout = None;
        }
        (false, "source-range") => {
            let net = parse_source_range(&mut w)?;
            if !svc.source_ranges.contains(&net) {
                svc.source_ranges.push(net);
            }
        }
        (true, "source-range") => {
            let net = parse_source_range(&mut w)?;
            let Some(i) = svc.source_ranges.iter().position(|x| *x == net) else {
                return Err(ServiceError::NotConfigured(format!("source-range {net}")));
            };
            svc.source_ranges.remove(i);
        }
        (false, "algorithm") => svc.algorithm = parse_algorithm(&mut w)?,
        (true, "algorithm") => {
            parse_optional(&mut w, parse_algorithm)?;
            svc.algorithm = Algorithm::default();
        }
        (false, "announce") => svc.announce = parse_announce(&mut w)?,
        (true, "announce") => {
            parse_optional(&mut w, parse_announce)?;
            svc.announce = Announce::default();
        }
        (_, other) => return Err(unknown(other, COMMANDS)),
    }
    Ok(())
}

/// The name in a block's header line `service NAME`, checked.
pub fn parse_header(line: &str) -> Result<String, ServiceError> {
    let mut w = Words::new(line);
    w.keyword("service")?;
    let name = w.next("a service name")?;
    w.end()?;
    check_name(name)?;
    Ok(name.to_owned())
}

/// Parses a whole block: the header `service NAME`, sub-lines, and an
/// optional `exit`; blank lines and `!` comments are skipped. The service is
/// validated at the end. An error carries the index in `lines` of the line at
/// fault; a rule that spans lines ([`Service::validate`]) points at the header.
pub fn parse_block(lines: &[&str]) -> Result<Service, (usize, ServiceError)> {
    let Some(header) = lines.first() else {
        return Err((
            0,
            ServiceError::MissingWord {
                expected: "service NAME",
            },
        ));
    };
    let mut svc = Service::new(parse_header(header).map_err(|e| (0, e))?);
    let mut exited = false;
    for (i, line) in lines.iter().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('!') {
            continue;
        }
        if exited {
            return Err((i, ServiceError::AfterExit));
        }
        if line == "exit" {
            exited = true;
            continue;
        }
        parse_sub_line(&mut svc, line).map_err(|e| (i, e))?;
    }
    svc.validate().map_err(|e| (0, e))?;
    Ok(svc)
}

/// The sub-line of one backend, without indentation.
pub fn backend_line(b: &Backend) -> String {
    let mut line = format!("backend {} port {}", b.addr, b.port);
    if b.weight != DEFAULT_WEIGHT {
        line.push_str(&format!(" weight {}", b.weight));
    }
    if b.state != BackendState::Active {
        line.push_str(&format!(" state {}", b.state));
    }
    line
}

/// The block of `svc`: `service NAME`, the sub-lines indented by one space
/// in a stable order (type, frontends, backends, policy, affinity, source
/// ranges, algorithm, announce; defaults left out), then `exit`.
pub fn render(svc: &Service) -> Vec<String> {
    let mut lines = vec![format!("service {}", svc.name)];
    if svc.kind == ServiceKind::ClusterIp {
        lines.push(" type cluster-ip".to_owned());
    }
    for f in &svc.frontends {
        lines.push(format!(" frontend {f}"));
    }
    for b in &svc.backends {
        lines.push(format!(" {}", backend_line(b)));
    }
    if svc.traffic_policy == TrafficPolicy::Local {
        lines.push(" external-traffic-policy local".to_owned());
    }
    match svc.affinity_timeout {
        None => {}
        Some(DEFAULT_AFFINITY_TIMEOUT) => lines.push(" session-affinity client-ip".to_owned()),
        Some(t) => lines.push(format!(" session-affinity client-ip timeout {t}")),
    }
    for r in &svc.source_ranges {
        lines.push(format!(" source-range {r}"));
    }
    match svc.algorithm {
        Algorithm::Maglev {
            table_size: DEFAULT_TABLE_SIZE,
        } => {}
        Algorithm::Maglev { table_size } => {
            lines.push(format!(" algorithm maglev table-size {table_size}"))
        }
        Algorithm::Random => lines.push(" algorithm random".to_owned()),
    }
    if svc.announce == Announce::Always {
        lines.push(" announce always".to_owned());
    }
    lines.push("exit".to_owned());
    lines
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
