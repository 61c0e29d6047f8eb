//! ternd's configuration: FRR-style text, one command per line, with modes.
//!
//! The same [`ConfigSession`] applies lines from the config file and, later,
//! from the CLI's config mode, so both accept exactly one grammar; abbreviated
//! words are spelled out first with the grammar the shell completes from
//! ([`tern_control::grammar`]), as FRR does. A line that
//! is unknown or malformed is refused with its file, line number and a
//! reason; nothing of a refused file is applied. [`Config::render`] prints the
//! running configuration in the same syntax, so that reading it back gives the
//! same state.
use std::{collections::BTreeMap, fmt, path::Path};

pub mod bfd;
pub mod datapath;
pub mod egress;
#[cfg(test)]
mod grammar_tests;
#[cfg(test)]
mod neighbor_tests;
#[cfg(test)]
mod path_attr_tests;
#[cfg(test)]
mod policy_tests;
pub mod services;
#[cfg(test)]
mod srv6_tests;
pub mod statics;

pub use datapath::{DatapathConfig, DatapathMode};
pub use egress::EgressConfig;
pub use services::{ConntrackTimeouts, ServicesConfig};

use tern_bgp::Family;
use tern_bgp::config::check::{Handled, PASSWORD_MASK, check_ifname, check_text, parse_asn};
use tern_bgp::config::{BgpConfig, FrrProfile, VpnFamily, policy, router};
use tern_bgp::policy::Policy;
use tern_control::grammar;

/// Longest hostname accepted (as a DNS label sequence, RFC 1035's 253).
const MAX_HOSTNAME: usize = 253;

/// The whole configuration of one ternd.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `hostname NAME`: the node's name in prompts and show output.
    pub hostname: Option<String>,
    /// `log stdout [LEVEL]`: the daemon's log level (syslog level names).
    pub log_level: Option<LogLevel>,
    /// `interface NAME` stanzas, by name. Tern's eBPF counters are attached
    /// to every interface named here.
    pub interfaces: BTreeMap<String, InterfaceConfig>,
    /// `router bgp ASN`.
    pub bgp: Option<BgpConfig>,
    /// Prefix-lists, community-lists and route-maps.
    pub policy: Policy,
    /// `datapath ...`: the eBPF pod datapath.
    pub datapath: DatapathConfig,
    /// `service ...`: services of the load balancer, static VIPs, conntrack.
    pub services: ServicesConfig,
    /// `egress-gateway ...`: egress gateway policies and the SNAT settings.
    pub egress: EgressConfig,
    /// `bfd`: BFD peers and their timers (FRR bfdd's node).
    pub bfd: bfd::BfdConfig,
    /// `frr defaults traditional|datacenter` (None: no line, Tern's
    /// defaults, which are the datacenter profile's).
    pub frr_defaults: Option<FrrProfile>,
    /// `ip route ...` / `ipv6 route ...`.
    pub static_routes: statics::StaticRoutes,
    /// `log file PATH [LEVEL]`.
    pub log_file: Option<LogFile>,
    /// `log syslog [LEVEL]`: the level of what goes to syslog (/dev/log).
    pub log_syslog: Option<LogLevel>,
    /// SRv6 L3VPN: `segment-routing` locators, `vrf` blocks, the VRFs'
    /// BGP instances and the SIDs allocated for them (tern-srv6's model).
    pub srv6: tern_srv6::Srv6Config,
}

/// `log file PATH [LEVEL]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFile {
    pub path: String,
    /// FRR's default: debugging.
    pub level: LogLevel,
}

/// One `interface NAME` stanza.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// `description TEXT`.
    pub description: Option<String>,
}

/// Log levels with FRR's (syslog's) names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Emergencies,
    Alerts,
    Critical,
    Errors,
    Warnings,
    Notifications,
    Informational,
    Debugging,
}

impl LogLevel {
    const ALL: [(&'static str, LogLevel); 8] = [
        ("emergencies", LogLevel::Emergencies),
        ("alerts", LogLevel::Alerts),
        ("critical", LogLevel::Critical),
        ("errors", LogLevel::Errors),
        ("warnings", LogLevel::Warnings),
        ("notifications", LogLevel::Notifications),
        ("informational", LogLevel::Informational),
        ("debugging", LogLevel::Debugging),
    ];

    fn parse(s: &str) -> Option<LogLevel> {
        Self::ALL.iter().find(|(n, _)| *n == s).map(|(_, l)| *l)
    }

    /// FRR's keyword for the level.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, l)| *l == self)
            .map_or("debugging", |(n, _)| n)
    }

    /// The tracing filter directive this level maps to.
    pub fn tracing_directive(self) -> &'static str {
        match self {
            LogLevel::Emergencies | LogLevel::Alerts | LogLevel::Critical | LogLevel::Errors => {
                "error"
            }
            LogLevel::Warnings => "warn",
            LogLevel::Notifications | LogLevel::Informational => "info",
            LogLevel::Debugging => "debug",
        }
    }
}

/// The mode a line is read in, as vtysh's nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `(config)#`
    Config,
    /// `(config-if)#` for the named interface.
    Interface(String),
    /// `(config-router)#`
    Router,
    /// `(config-router-af)#`
    RouterAf(Family),
    /// `(config-route-map)#`: entry SEQ of route-map NAME.
    RouteMap(String, u32),
    /// `(config-service)#`: the block of service NAME.
    Service(String),
    /// `(config-egress-gw)#`: the block of egress gateway policy NAME.
    EgressPolicy(String),
    /// `(config-bfd)#`
    Bfd,
    /// `(config-bfd-peer)#`: the block of one BFD peer.
    BfdPeer(bfd::PeerKey),
    /// `(config-router-af)#` of `address-family ipv4 vpn` / `ipv6 vpn`.
    RouterVpnAf(VpnFamily),
    /// A block of the SRv6 L3VPN lines (tern-srv6's grammar):
    /// `segment-routing` and below, `vrf NAME`, `router bgp ASN vrf NAME`
    /// and its address-families, the default instance's
    /// `segment-routing srv6`. Never [`tern_srv6::Node::Top`] or
    /// [`tern_srv6::Node::BgpDefault`] (those are `Config` and `Router`).
    Srv6(tern_srv6::Node),
}

impl Mode {
    /// vtysh's name of the mode, as in the prompt `(config-router)#`.
    pub fn prompt_name(&self) -> &'static str {
        match self {
            Mode::Config => "config",
            Mode::Interface(_) => "config-if",
            Mode::Router => "config-router",
            Mode::RouterAf(_) => "config-router-af",
            Mode::RouteMap(..) => "config-route-map",
            Mode::Service(_) => "config-service",
            Mode::EgressPolicy(_) => "config-egress-gw",
            Mode::Bfd => "config-bfd",
            Mode::BfdPeer(_) => "config-bfd-peer",
            Mode::RouterVpnAf(_) => "config-router-af",
            Mode::Srv6(node) => srv6_mode_name(node),
        }
    }

    /// The mode a line falls back to when this one does not know it.
    fn parent(&self) -> Option<Mode> {
        match self {
            Mode::Config => None,
            Mode::Interface(_)
            | Mode::Router
            | Mode::RouteMap(..)
            | Mode::Service(_)
            | Mode::EgressPolicy(_)
            | Mode::Bfd => Some(Mode::Config),
            Mode::RouterAf(_) | Mode::RouterVpnAf(_) => Some(Mode::Router),
            Mode::BfdPeer(_) => Some(Mode::Bfd),
            Mode::Srv6(node) => Some(srv6_parent(node)),
        }
    }
}

/// The mode name of an SRv6 block, as the shared grammar names it (FRR's
/// prompts where they are distinct; FRR shows `config-router` and
/// `config-router-af` for a VRF's instance too, which Tern tells apart).
fn srv6_mode_name(node: &tern_srv6::Node) -> &'static str {
    use tern_srv6::Node;
    match node {
        Node::Top => "config",
        Node::BgpDefault => "config-router",
        Node::SegmentRouting => "config-sr",
        Node::Srv6 => "config-srv6",
        Node::Locators => "config-srv6-locators",
        Node::Locator(_) => "config-srv6-locator",
        Node::Vrf(_) => "config-vrf",
        Node::BgpSrv6 => "config-router-srv6",
        Node::BgpVrf(_) => "config-router-vrf",
        Node::BgpVrfAf { .. } => "config-router-vrf-af",
    }
}

/// The mode an SRv6 block's unknown lines fall back to.
fn srv6_parent(node: &tern_srv6::Node) -> Mode {
    use tern_srv6::Node;
    match node {
        Node::Srv6 => Mode::Srv6(Node::SegmentRouting),
        Node::Locators => Mode::Srv6(Node::Srv6),
        Node::Locator(_) => Mode::Srv6(Node::Locators),
        Node::BgpSrv6 => Mode::Router,
        Node::BgpVrfAf { vrf, .. } => Mode::Srv6(Node::BgpVrf(vrf.clone())),
        Node::Top | Node::BgpDefault | Node::SegmentRouting | Node::Vrf(_) | Node::BgpVrf(_) => {
            Mode::Config
        }
    }
}

/// The session mode of the SRv6 block `node`.
fn srv6_mode(node: tern_srv6::Node) -> Mode {
    match node {
        tern_srv6::Node::Top => Mode::Config,
        tern_srv6::Node::BgpDefault => Mode::Router,
        other => Mode::Srv6(other),
    }
}

/// The commands of a VRF instance's address-family (tern-srv6 refuses
/// any other word there instead of leaving it to the parent modes).
const VRF_AF_COMMANDS: [&str; 8] = [
    "network",
    "redistribute",
    "sid",
    "rd",
    "rt",
    "import",
    "export",
    "exit-address-family",
];

/// A refused line: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or a name for the source (e.g. "<cli>").
    pub source: String,
    /// 1-based line number.
    pub line: usize,
    /// The offending line, trimmed.
    pub text: String,
    /// Why it was refused.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} (in \"{}\")",
            self.source, self.line, self.reason, self.text
        )
    }
}

impl std::error::Error for ConfigError {}

/// Errors loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigError>),
}

/// Applies command lines to a [`Config`], tracking the current mode.
#[derive(Clone, Debug)]
pub struct ConfigSession {
    mode: Mode,
}

impl Default for ConfigSession {
    fn default() -> Self {
        Self { mode: Mode::Config }
    }
}

impl ConfigSession {
    /// The mode the next line is read in.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Applies one line. Comments (`!`, `#`) and blank lines are accepted
    /// and do nothing. On error, neither `config` nor the mode changes.
    ///
    /// Abbreviated words are spelled out first with the grammar the shell
    /// completes from ([`grammar::expand`]), as FRR does in frr.conf and
    /// over vtysh; an ambiguous one is refused in vtysh's words. A line
    /// the grammar does not cover is parsed as typed.
    pub fn apply(&mut self, config: &mut Config, line: &str) -> Result<(), String> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('!') || line.starts_with('#') {
            return Ok(());
        }
        check_line(line)?;
        let expanded = grammar::expand(self.mode.prompt_name(), line).map_err(|e| e.to_string())?;
        let line = expanded.as_str();
        let words: Vec<&str> = line.split_whitespace().collect();
        let saved = self.mode.clone();
        // Like vtysh: a line the current mode does not know is tried in the
        // parent modes, and the mode that takes it becomes current.
        let mut mode = Some(self.mode.clone());
        let mut result = Err(String::new());
        while let Some(m) = mode {
            self.mode = m.clone();
            result = self.apply_in(config, &m, &words, line);
            match result {
                Ok(Handled::Yes) | Err(_) => break,
                Ok(Handled::No) => mode = m.parent(),
            }
        }
        match result {
            Ok(Handled::Yes) => {
                // `router bgp` reads the defaults of `frr defaults`.
                let profile = config.frr_defaults.unwrap_or_default();
                if let Some(b) = config.bgp.as_mut()
                    && b.profile != profile
                {
                    b.set_profile(profile);
                }
                Ok(())
            }
            Ok(Handled::No) => {
                self.mode = saved;
                Err(format!(
                    "unknown command \"{}\"",
                    words.first().unwrap_or(&"")
                ))
            }
            Err(e) => {
                self.mode = saved;
                Err(e)
            }
        }
    }

    fn apply_in(
        &mut self,
        config: &mut Config,
        mode: &Mode,
        words: &[&str],
        line: &str,
    ) -> Result<Handled, String> {
        match mode {
            Mode::Config => self.apply_config(config, words),
            Mode::Interface(ifname) => self.apply_interface(config, ifname, words, line),
            Mode::Service(name) => match words {
                ["exit"] => {
                    self.mode = Mode::Config;
                    Ok(Handled::Yes)
                }
                _ => services::apply_sub(config, name, line),
            },
            Mode::EgressPolicy(name) => match words {
                ["exit"] => {
                    self.mode = Mode::Config;
                    Ok(Handled::Yes)
                }
                _ => egress::apply_sub(config, name, line),
            },
            Mode::Bfd => match words {
                ["exit"] => {
                    self.mode = Mode::Config;
                    Ok(Handled::Yes)
                }
                _ => {
                    let (handled, enter) = bfd::apply_node(config, words)?;
                    if let Some(key) = enter {
                        self.mode = Mode::BfdPeer(key);
                    }
                    Ok(handled)
                }
            },
            Mode::BfdPeer(key) => match words {
                ["exit"] => {
                    self.mode = Mode::Bfd;
                    Ok(Handled::Yes)
                }
                _ => bfd::apply_peer(config, key, words),
            },
            Mode::RouteMap(name, seq) => match words {
                ["exit"] => {
                    self.mode = Mode::Config;
                    Ok(Handled::Yes)
                }
                _ => policy::apply_route_map_line(&mut config.policy, name, *seq, words),
            },
            Mode::Srv6(node) => self.apply_srv6(config, node, words, line),
            Mode::RouterVpnAf(family) => {
                let Some(bgp) = config.bgp.as_mut() else {
                    return Ok(Handled::No);
                };
                match words {
                    ["exit-address-family"] | ["exit"] => {
                        self.mode = Mode::Router;
                        Ok(Handled::Yes)
                    }
                    _ => router::apply_vpn_af(bgp, *family, words),
                }
            }
            Mode::Router | Mode::RouterAf(_) => {
                let Some(bgp) = config.bgp.as_mut() else {
                    return Ok(Handled::No);
                };
                match (mode, words) {
                    (Mode::Router, ["address-family", rest @ ..])
                        if router::parse_vpn_family(rest).is_some() =>
                    {
                        if let Some(f) = router::parse_vpn_family(rest) {
                            self.mode = Mode::RouterVpnAf(f);
                        }
                        Ok(Handled::Yes)
                    }
                    (Mode::Router, ["segment-routing", ..] | ["no", "segment-routing", ..]) => {
                        let asn = bgp.asn;
                        self.apply_srv6_from(config, tern_srv6::Node::BgpDefault, line, Some(asn))
                    }
                    (Mode::Router, ["address-family", rest @ ..]) => {
                        let family = router::parse_family(rest)?;
                        self.mode = Mode::RouterAf(family);
                        Ok(Handled::Yes)
                    }
                    (Mode::Router, ["exit"]) => {
                        self.mode = Mode::Config;
                        Ok(Handled::Yes)
                    }
                    (Mode::Router, _) => router::apply_router(bgp, words, line),
                    (Mode::RouterAf(_), ["exit-address-family"] | ["exit"]) => {
                        self.mode = Mode::Router;
                        Ok(Handled::Yes)
                    }
                    (Mode::RouterAf(f), _) => router::apply_af(bgp, *f, words),
                    _ => Ok(Handled::No),
                }
            }
        }
    }

    fn apply_config(&mut self, config: &mut Config, words: &[&str]) -> Result<Handled, String> {
        match words {
            ["router", "bgp", asn] => {
                let asn = parse_asn(asn)?;
                match &config.bgp {
                    Some(b) if b.asn != asn => {
                        return Err(format!(
                            "BGP is already running; AS is {} (\"no router bgp {}\" first)",
                            b.asn, b.asn
                        ));
                    }
                    Some(_) => {}
                    None => config.bgp = Some(BgpConfig::new(asn)),
                }
                self.mode = Mode::Router;
            }
            ["router", "bgp", _, "vrf", ..]
            | ["no", "router", "bgp", _, "vrf", ..]
            | ["segment-routing", ..]
            | ["vrf", ..]
            | ["no", "vrf", ..] => {
                let line = words.join(" ");
                return self.apply_srv6_from(config, tern_srv6::Node::Top, &line, None);
            }
            ["router", "bgp"] => return Err("router bgp needs an AS number".into()),
            ["no", "router", "bgp", ..] => {
                if config.bgp.is_none() {
                    return Err("BGP is not configured".into());
                }
                // The default instance's SRv6 lines go with it.
                config
                    .srv6
                    .change(|c| {
                        c.bgp_asn = None;
                        c.bgp_locator = None;
                        Ok(())
                    })
                    .map_err(|e| e.to_string())?;
                config.bgp = None;
            }
            ["ip" | "ipv6", "prefix-list", ..] | ["no", "ip" | "ipv6", "prefix-list", ..] => {
                return policy::apply_prefix_list(&mut config.policy, words);
            }
            ["bgp", "community-list", ..] | ["no", "bgp", "community-list", ..] => {
                return policy::apply_community_list(&mut config.policy, words);
            }
            ["route-map", name, action, seq] => {
                let (name, seq) = policy::enter_route_map(&mut config.policy, name, action, seq)?;
                self.mode = Mode::RouteMap(name, seq);
            }
            ["route-map", ..] => {
                return Err("usage: route-map NAME permit|deny SEQ".into());
            }
            ["no", "route-map", rest @ ..] => policy::remove_route_map(&mut config.policy, rest)?,
            ["frr", "version", ..] => {
                // Accepted for configs shared with FRR.
            }
            ["frr", "defaults", p] => {
                let p = FrrProfile::parse(p).ok_or_else(|| {
                    format!("unknown frr defaults profile \"{p}\" (traditional, datacenter)")
                })?;
                config.frr_defaults = Some(p);
            }
            ["frr", "defaults", ..] => {
                return Err("usage: frr defaults traditional|datacenter".into());
            }
            ["no", "frr", "defaults", ..] => config.frr_defaults = None,
            ["ip" | "ipv6", "route", ..] | ["no", "ip" | "ipv6", "route", ..] => {
                statics::apply(&mut config.static_routes, words)?;
            }
            ["hostname", name] => {
                check_hostname(name)?;
                config.hostname = Some((*name).to_owned());
            }
            ["hostname"] => return Err("hostname needs a name".into()),
            ["hostname", ..] => return Err("hostname takes one word".into()),
            ["no", "hostname", ..] => config.hostname = None,
            ["log", "stdout"] => config.log_level = Some(LogLevel::Debugging),
            ["log", "stdout", level] => config.log_level = Some(parse_level(level)?),
            ["no", "log", "stdout", ..] => config.log_level = None,
            ["log", "file", path, level @ ..] if level.len() <= 1 => {
                check_log_path(path)?;
                config.log_file = Some(LogFile {
                    path: (*path).to_owned(),
                    level: match level.first() {
                        Some(l) => parse_level(l)?,
                        None => LogLevel::Debugging,
                    },
                });
            }
            ["log", "file", ..] => return Err("usage: log file PATH [LEVEL]".into()),
            ["no", "log", "file", ..] => config.log_file = None,
            ["log", "syslog"] => config.log_syslog = Some(LogLevel::Debugging),
            ["log", "syslog", level] => config.log_syslog = Some(parse_level(level)?),
            ["log", "syslog", ..] => return Err("usage: log syslog [LEVEL]".into()),
            ["no", "log", "syslog", ..] => config.log_syslog = None,
            ["log", other, ..] | ["no", "log", other, ..] => {
                return Err(format!(
                    "\"log {other}\" is not supported by Tern yet (log stdout|file|syslog)"
                ));
            }
            ["interface", name] => {
                check_ifname(name)?;
                config.interfaces.entry((*name).to_owned()).or_default();
                self.mode = Mode::Interface((*name).to_owned());
            }
            ["interface", _, "vrf", ..] => {
                return Err("interfaces in a VRF are not supported yet".into());
            }
            ["interface"] => return Err("interface needs a name".into()),
            ["interface", ..] => return Err("interface takes one name".into()),
            ["no", "interface", name] => {
                if config.interfaces.remove(*name).is_none() {
                    return Err(format!("interface {name} is not configured"));
                }
            }
            ["exit"] | ["end"] => self.mode = Mode::Config,
            ["datapath", ..] | ["no", "datapath", ..] => {
                return datapath::apply(&mut config.datapath, words);
            }
            ["service", ..] | ["no", "service", ..] => {
                let (handled, block) = services::apply_top(config, words)?;
                if let Some(name) = block {
                    self.mode = Mode::Service(name);
                }
                return Ok(handled);
            }
            ["bfd", ..] | ["no", "bfd", ..] => {
                let (handled, enter) = bfd::apply_top(config, words)?;
                if enter {
                    self.mode = Mode::Bfd;
                }
                return Ok(handled);
            }
            ["egress-gateway", ..] | ["no", "egress-gateway", ..] => {
                let (handled, block) = egress::apply_top(config, words)?;
                if let Some(name) = block {
                    self.mode = Mode::EgressPolicy(name);
                }
                return Ok(handled);
            }
            _ => return Ok(Handled::No),
        }
        Ok(Handled::Yes)
    }

    /// A line in an SRv6 block: tern-srv6 parses it (atomically: on
    /// error nothing changes); a line the block does not know falls back
    /// to the parent modes.
    fn apply_srv6(
        &mut self,
        config: &mut Config,
        node: &tern_srv6::Node,
        words: &[&str],
        line: &str,
    ) -> Result<Handled, String> {
        if let tern_srv6::Node::BgpVrfAf { vrf, .. } = node {
            let command = match words {
                ["no", c, ..] => *c,
                [c, ..] => *c,
                [] => return Ok(Handled::No),
            };
            if command == "exit" {
                self.mode = Mode::Srv6(tern_srv6::Node::BgpVrf(vrf.clone()));
                return Ok(Handled::Yes);
            }
            if !VRF_AF_COMMANDS.contains(&command) {
                return Ok(Handled::No);
            }
        }
        self.apply_srv6_from(config, node.clone(), line, None)
    }

    /// Parses `line` in SRv6 block `node`; `asn` is the default instance's
    /// AS number for its `segment-routing srv6` lines.
    fn apply_srv6_from(
        &mut self,
        config: &mut Config,
        node: tern_srv6::Node,
        line: &str,
        asn: Option<u32>,
    ) -> Result<Handled, String> {
        let mut next = node;
        let mut srv6 = config.srv6.clone();
        if let Some(asn) = asn
            && srv6.bgp_asn != Some(asn)
        {
            srv6.bgp_asn = Some(asn);
        }
        match tern_srv6::parse_line(&mut srv6, &mut next, line) {
            Ok(()) => {
                config.srv6 = srv6;
                self.mode = srv6_mode(next);
                Ok(Handled::Yes)
            }
            Err(tern_srv6::Srv6Error::WrongContext { .. }) => Ok(Handled::No),
            Err(e) => Err(e.to_string()),
        }
    }

    fn apply_interface(
        &mut self,
        config: &mut Config,
        ifname: &str,
        words: &[&str],
        line: &str,
    ) -> Result<Handled, String> {
        let Some(iface) = config.interfaces.get_mut(ifname) else {
            // Removed underneath us (e.g. `no interface` from another session).
            return Ok(Handled::No);
        };
        match words {
            ["description"] => return Err("description needs a text".into()),
            ["description", ..] => {
                let text = line["description".len()..].trim();
                check_text("description", text)?;
                iface.description = Some(text.to_owned());
            }
            ["no", "description", ..] => iface.description = None,
            ["exit"] | ["exit-interface"] => self.mode = Mode::Config,
            _ => return Ok(Handled::No),
        }
        Ok(Handled::Yes)
    }
}

/// FRR's level name `level`, or the refusal naming the valid ones.
fn parse_level(level: &str) -> Result<LogLevel, String> {
    LogLevel::parse(level).ok_or_else(|| {
        format!(
            "unknown log level \"{level}\" (one of: {})",
            LogLevel::ALL.map(|(n, _)| n).join(", ")
        )
    })
}

/// The path of `log file`: absolute, naming a file.
fn check_log_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/')
        || path.ends_with('/')
        || path.ends_with("/.")
        || path.ends_with("/..")
    {
        return Err(format!(
            "log file \"{path}\": give the absolute path of a file"
        ));
    }
    Ok(())
}

fn check_hostname(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_HOSTNAME
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-'))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid hostname \"{name}\""))
    }
}

/// Refuses a line with a control character in it (a tab between words
/// is fine): a newline inside a `description` sent over the control
/// socket would otherwise become extra lines of the saved file, and
/// escape sequences would reach every terminal that shows the text.
fn check_line(line: &str) -> Result<(), String> {
    match line.chars().find(|c| c.is_control() && *c != '\t') {
        Some(c) => Err(format!(
            "control character U+{:04X} in the line: configuration text (descriptions, \
             names, passwords) may not contain control characters",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

/// `line` with every password replaced by [`PASSWORD_MASK`]: what a log
/// line or an error echoing a config line may show. The words after
/// `password` (in `neighbor X password WORD` and its `no` form) are
/// the secret.
pub fn mask_secrets(line: &str) -> std::borrow::Cow<'_, str> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "password");
    match at {
        Some(i) if i + 1 < words.len() && words.contains(&"neighbor") => {
            let mut out = words[..=i].join(" ");
            out.push(' ');
            out.push_str(PASSWORD_MASK);
            std::borrow::Cow::Owned(out)
        }
        _ => std::borrow::Cow::Borrowed(line),
    }
}

impl Config {
    /// Parses a whole config text. Every refused line is reported; if any
    /// is, no configuration results.
    pub fn parse(source: &str, text: &str) -> Result<Config, Vec<ConfigError>> {
        let mut config = Config::default();
        let mut session = ConfigSession::default();
        let mut errors = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if let Err(reason) = session.apply(&mut config, line) {
                errors.push(ConfigError {
                    source: source.to_owned(),
                    line: i + 1,
                    text: mask_secrets(line.trim()).into_owned(),
                    reason,
                });
            }
        }
        if errors.is_empty() {
            let mut config = config;
            config.reserve_vni();
            // Lines applied one by one allocate SIDs in the order they come;
            // a whole text allocates them in tern-srv6's own order (explicit
            // functions first, then by owner), whatever the order of blocks.
            let srv6_text = tern_srv6::render(&config.srv6).join("\n");
            match tern_srv6::parse_text(&srv6_text) {
                Ok(srv6) => config.srv6 = srv6,
                Err((_, e)) => {
                    return Err(vec![ConfigError {
                        source: source.to_owned(),
                        line: text.lines().count(),
                        text: String::new(),
                        reason: format!("SRv6 SIDs: {e}"),
                    }]);
                }
            }
            Ok(config)
        } else {
            Err(errors)
        }
    }

    /// Keeps the datapath's VNI from the egress policies' ids (their
    /// traffic crosses the tunnel with the policy's id as its VNI).
    pub fn reserve_vni(&mut self) {
        self.egress.table.set_reserved_id(self.datapath.vni);
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&path.display().to_string(), &text).map_err(LoadError::Invalid)
    }

    /// The configuration in the file's own syntax, secrets included (what
    /// `write memory` saves).
    pub fn render(&self) -> String {
        self.render_shown(true)
    }

    /// The configuration as `show running-config` prints it: passwords
    /// only with `secrets` (a root caller), else [`PASSWORD_MASK`].
    pub fn render_shown(&self, secrets: bool) -> String {
        let mut out = String::from("!\n");
        if let Some(p) = self.frr_defaults {
            out.push_str(&format!("frr defaults {}\n", p.keyword()));
        }
        if let Some(h) = &self.hostname {
            out.push_str(&format!("hostname {h}\n"));
        }
        if let Some(l) = self.log_level {
            out.push_str(&format!("log stdout {}\n", l.name()));
        }
        if let Some(f) = &self.log_file {
            out.push_str(&format!("log file {}", f.path));
            if f.level != LogLevel::Debugging {
                out.push_str(&format!(" {}", f.level.name()));
            }
            out.push('\n');
        }
        match self.log_syslog {
            Some(LogLevel::Debugging) => out.push_str("log syslog\n"),
            Some(l) => out.push_str(&format!("log syslog {}\n", l.name())),
            None => {}
        }
        out.push_str("!\n");
        if !self.static_routes.routes.is_empty() {
            statics::render(&self.static_routes, &mut out);
            out.push_str("!\n");
        }
        if !self.srv6.vrfs.is_empty() {
            let mut vrfs = tern_srv6::Srv6Config::new();
            vrfs.vrfs = self.srv6.vrfs.clone();
            push_lines(&mut out, tern_srv6::render(&vrfs));
        }
        for (name, iface) in &self.interfaces {
            out.push_str(&format!("interface {name}\n"));
            if let Some(d) = &iface.description {
                out.push_str(&format!(" description {d}\n"));
            }
            out.push_str("exit\n!\n");
        }
        datapath::render(&self.datapath, &mut out);
        services::render(&self.services, &mut out);
        egress::render(&self.egress, &mut out);
        if let Some(b) = &self.bgp {
            router::render_with_srv6(b, secrets, self.srv6.bgp_locator.as_deref(), &mut out);
        }
        // FRR 8.4 prints the VRF instances after the default one, then
        // zebra's segment-routing block.
        for b in self.srv6.bgp_vrfs.values() {
            push_lines(&mut out, tern_srv6::render_bgp_vrf(b));
        }
        if !self.srv6.locators.is_empty() {
            let mut locators = tern_srv6::Srv6Config::new();
            locators.locators = self.srv6.locators.clone();
            push_lines(&mut out, tern_srv6::render(&locators));
        }
        policy::render(&self.policy, &mut out);
        bfd::render(&self.bfd, &mut out);
        out.push_str("end\n");
        out
    }
}

/// Appends `lines` to `out`, one a line.
fn push_lines(out: &mut String, lines: Vec<String>) {
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
! node1
hostname node1
log stdout informational
!
interface eth1
 description uplink to tor1
!
interface eth2
exit
# trailing comment
";

    #[test]
    fn parses_a_good_file() {
        let c = Config::parse("t.conf", GOOD).expect("valid");
        assert_eq!(c.hostname.as_deref(), Some("node1"));
        assert_eq!(c.log_level, Some(LogLevel::Informational));
        assert_eq!(c.interfaces.len(), 2);
        assert_eq!(
            c.interfaces["eth1"].description.as_deref(),
            Some("uplink to tor1")
        );
        assert_eq!(c.interfaces["eth2"].description, None);
    }

    #[test]
    fn render_reads_back_to_the_same_state() {
        let c = Config::parse("t.conf", GOOD).expect("valid");
        let text = c.render();
        let again = Config::parse("running", &text).expect("rendered config parses");
        assert_eq!(again, c);
        assert_eq!(again.render(), text);
    }

    #[test]
    fn top_level_command_leaves_interface_mode() {
        let c = Config::parse("t", "interface eth1\nhostname n\n").expect("valid");
        assert_eq!(c.hostname.as_deref(), Some("n"));
        // description outside interface mode is unknown at top level
        let e = Config::parse("t", "interface eth1\nhostname n\ndescription x\n").unwrap_err();
        assert_eq!(e[0].line, 3);
    }

    /// FRR reads abbreviated words in frr.conf and over vtysh; so does
    /// ternd, with the grammar the shell completes from, and the running
    /// config prints the words in full.
    #[test]
    fn abbreviated_lines_mean_the_full_ones() {
        let short = "\
hostn n1
int eth1
 desc  uplink  to tor1
ro bgp 65001
 nei TORS peer-g
 nei 192.0.2.2 rem 65002
 nei 192.0.2.2 pass s3cret
 address-f ipv4 uni
  nei 192.0.2.2 route-m IN in
  ne 10.0.0.0/24
 exit-address-f
route-m IN perm 10
 set local 300
";
        let full = "\
hostname n1
interface eth1
 description  uplink  to tor1
router bgp 65001
 neighbor TORS peer-group
 neighbor 192.0.2.2 remote-as 65002
 neighbor 192.0.2.2 password s3cret
 address-family ipv4 unicast
  neighbor 192.0.2.2 route-map IN in
  network 10.0.0.0/24
 exit-address-family
route-map IN permit 10
 set local-preference 300
";
        let a = Config::parse("short", short).expect("abbreviated");
        let b = Config::parse("full", full).expect("full");
        assert_eq!(a, b);
        assert_eq!(a.render(), b.render());
        assert!(a.render().contains(" neighbor 192.0.2.2 remote-as 65002\n"));
    }

    /// A word that shortens keywords of two whole commands is refused in
    /// vtysh's words, without trying the parent modes, and changes nothing;
    /// the line is echoed only up to that word.
    #[test]
    fn ambiguous_abbreviations_are_refused() {
        let mut c = Config::default();
        let mut s = ConfigSession::default();
        assert_eq!(s.apply(&mut c, "e"), Err("Ambiguous command: e".into()));
        s.apply(&mut c, "router bgp 65001").expect("router");
        s.apply(&mut c, "neighbor 192.0.2.2 remote-as 65002")
            .expect("neighbor");
        let before = c.clone();
        assert_eq!(
            s.apply(&mut c, "no nei 192.0.2.2 pa"),
            Err("Ambiguous command: no nei 192.0.2.2 pa".into())
        );
        s.apply(&mut c, "address-family ipv4 unicast").expect("af");
        assert_eq!(
            s.apply(&mut c, "ex"),
            Err("Ambiguous command: ex".into()),
            "exit or exit-address-family"
        );
        assert_eq!(s.mode(), &Mode::RouterAf(Family::Ipv4Unicast));
        assert_eq!(c, before);
        // A line the grammar does not complete is the parser's to judge.
        assert_eq!(s.apply(&mut c, "ne"), Err("unknown command \"ne\"".into()));
        let errs = Config::parse("t.conf", "hostname a\ne\n").unwrap_err();
        assert_eq!(
            errs[0].to_string(),
            "t.conf:2: Ambiguous command: e (in \"e\")"
        );
    }

    #[test]
    fn bad_lines_name_file_line_and_reason() {
        let text = "hostname ok\nfrobnicate now\ninterface\nhostname a b\nlog stdout loud\ninterface averyveryverylongname\nlog monitor\n";
        let errs = Config::parse("/etc/tern/ternd.conf", text).unwrap_err();
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert_eq!(
            errs[0].to_string(),
            "/etc/tern/ternd.conf:2: unknown command \"frobnicate\" (in \"frobnicate now\")"
        );
        assert!(errs[3].reason.contains("unknown log level \"loud\""));
        assert!(errs[4].reason.contains("1 to 15 characters"));
    }

    #[test]
    fn control_characters_are_refused_everywhere() {
        let mut c = Config::parse("t", GOOD).expect("valid");
        let before = c.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "interface eth1").expect("mode");
        for bad in [
            "description up\nrouter bgp 666",
            "description up\rlink",
            "description tab\there",
            "description \u{1b}[2Jclear",
            "description del\u{7f}",
            "description c1\u{9b}31m",
            "hostname a\u{0}b",
            "interface eth\u{1}x",
        ] {
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains("control character"), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
        }
        let mut b = Config::parse(
            "t",
            "router bgp 65001\n neighbor 192.0.2.1 remote-as 65000\n neighbor G peer-group\n",
        )
        .expect("valid");
        let before = b.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut b, "router bgp 65001").expect("mode");
        for bad in [
            "neighbor 192.0.2.1 description x\nneighbor 192.0.2.1 password p",
            "neighbor G description x\u{85}y",
            "neighbor 192.0.2.1 password p\u{1}q",
            "neighbor G\u{7} peer-group",
        ] {
            let e = s.apply(&mut b, bad).expect_err(bad);
            assert!(e.contains("control character"), "{bad}: {e}");
            assert_eq!(b, before, "{bad}");
        }
        // Tabs between words (files indented with tabs) still read.
        s.apply(&mut b, "neighbor\t192.0.2.1 description\tuplink one")
            .expect("tab between words");
        assert_eq!(
            b.bgp.as_ref().unwrap().neighbors[&"192.0.2.1".parse().unwrap()]
                .description
                .as_deref(),
            Some("uplink one")
        );
    }

    #[test]
    fn odd_bytes_never_panic() {
        for text in [
            "\u{0}",
            "interface \u{7f}",
            "hostname ..",
            "hostname -a",
            "interface a/b",
            "description",
            "\u{feff}hostname x",
            "interface eth1\n description \u{1F600}",
        ] {
            let _ = Config::parse("t", text);
        }
        assert!(Config::parse("t", "hostname ..").is_err());
        assert!(Config::parse("t", "interface a/b").is_err());
    }
}

#[cfg(test)]
mod bgp_tests {
    use tern_bgp::config::AllowAsIn;

    use super::*;

    #[test]
    fn bestpath_multipath_relax_and_refused_bestpath_options() {
        let mut c = Config::parse(
            "t",
            "router bgp 65001\n bgp bestpath as-path multipath-relax\n",
        )
        .expect("valid");
        assert!(c.bgp.as_ref().unwrap().multipath_relax);
        let text = c.render();
        assert!(
            text.contains("\n bgp bestpath as-path multipath-relax\n"),
            "{text}"
        );
        assert_eq!(Config::parse("r", &text).unwrap(), c);
        let mut s = ConfigSession::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        s.apply(&mut c, "no bgp bestpath as-path multipath-relax")
            .unwrap();
        assert!(!c.bgp.as_ref().unwrap().multipath_relax);
        s.apply(&mut c, "bgp bestpath as-path multipath-relax no-as-set")
            .unwrap();
        assert!(c.bgp.as_ref().unwrap().multipath_relax);
        let before = c.clone();
        for (bad, want) in [
            (
                "bgp bestpath compare-routerid",
                "\"bgp bestpath compare-routerid\" is not supported by Tern yet",
            ),
            (
                "bgp bestpath as-path multipath-relax as-set",
                "multipath-relax as-set\" is not supported by Tern yet",
            ),
            (
                "bgp bestpath med missing-as-worst",
                "\"bgp bestpath med missing-as-worst\" is not supported by Tern yet",
            ),
            (
                "bgp bestpath as-path ignore",
                "\"bgp bestpath as-path ignore\" is not supported by Tern yet",
            ),
        ] {
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains(want), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
        }
    }

    /// FRR lines a ToR engineer types daily: supported, or refused with a
    /// message that names what is not supported.
    const FRR_DAILY: &str = "\
frr defaults datacenter
router bgp 65001
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 timers bgp 10 30
 neighbor FABRIC peer-group
 neighbor FABRIC remote-as external
 neighbor FABRIC send-community all
 neighbor 192.0.2.1 peer-group FABRIC
 neighbor 192.0.2.2 remote-as 65000
 neighbor 192.0.2.2 timers 1 3
 neighbor 192.0.2.2 send-community
 address-family ipv4 unicast
  neighbor 192.0.2.2 send-community large
  neighbor FABRIC send-community both
 exit-address-family
";

    #[test]
    fn frr_daily_lines_are_accepted() {
        let c = Config::parse("t", FRR_DAILY).unwrap_or_else(|e| panic!("{e:?}"));
        let b = c.bgp.as_ref().expect("bgp");
        assert_eq!(b.timers, Some((10, 30)));
        let r = b.resolved();
        let one: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let two: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(r.neighbors[&one].timers(), (10, 30), "router default");
        assert_eq!(r.neighbors[&two].timers(), (1, 3), "own timers win");
        let mut d = b.resolved();
        let dynamic = d.add_dynamic("192.0.2.9".parse().unwrap(), "FABRIC");
        assert_eq!(dynamic.map(|n| n.timers()), Some((10, 30)));
        let text = c.render();
        assert!(text.contains("\n timers bgp 10 30\n"), "{text}");
        assert!(!text.contains("send-community"), "FRR's default: {text}");
        assert!(!text.contains("log-neighbor-changes"), "{text}");
        assert_eq!(Config::parse("r", &text).unwrap(), c, "{text}");
        let mut c = c;
        let mut s = ConfigSession::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        s.apply(&mut c, "no timers bgp").unwrap();
        assert_eq!(c.bgp.as_ref().unwrap().timers, None);
    }

    #[test]
    fn frr_lines_tern_lacks_are_refused_by_name() {
        let mut c = Config::parse("t", FRR_DAILY).unwrap();
        let before = c.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        s.apply(&mut c, "address-family ipv4 unicast").unwrap();
        let cases = [
            (
                "neighbor eth1 interface",
                "\"neighbor ... interface\" is not supported by Tern yet",
            ),
            (
                "neighbor eth1 interface remote-as external",
                "\"neighbor ... interface\" is not supported by Tern yet",
            ),
            (
                "neighbor 192.0.2.2 bfd profile fast",
                "\"neighbor ... bfd profile fast\" is not supported by Tern yet",
            ),
            (
                "no neighbor 192.0.2.2 send-community",
                "\"no neighbor ... send-community\" is not supported by Tern yet",
            ),
            (
                "no neighbor FABRIC send-community extended",
                "\"no neighbor ... send-community\" is not supported by Tern yet",
            ),
            (
                "neighbor 192.0.2.2 send-community bogus",
                "standard, extended, large",
            ),
            (
                "neighbor 192.0.2.2 allowas-in 11",
                "invalid allowas-in count \"11\" (1..10, or origin)",
            ),
            (
                "neighbor 192.0.2.2 allowas-in 2 3",
                "usage: neighbor ADDRESS allowas-in [(1-10)|origin]",
            ),
            (
                "neighbor 192.0.2.9 allowas-in",
                "neighbor 192.0.2.9 is not configured",
            ),
            (
                "neighbor 192.0.2.2 next-hop-self all",
                "usage: [no] neighbor ADDRESS next-hop-self [force]",
            ),
            (
                "neighbor 192.0.2.2 soft-reconfiguration",
                "usage: [no] neighbor ADDRESS soft-reconfiguration inbound",
            ),
            (
                "bgp ebgp-requires-policy now",
                "usage: [no] bgp ebgp-requires-policy",
            ),
            (
                "frr defaults cloud",
                "unknown frr defaults profile \"cloud\"",
            ),
            ("timers bgp 1 2", "at least 3"),
            ("timers bgp 3", "usage: timers bgp"),
            ("log file tern.log", "give the absolute path of a file"),
            (
                "log file /var/log/tern.log loud",
                "unknown log level \"loud\"",
            ),
            ("log syslog informational now", "usage: log syslog [LEVEL]"),
            (
                "log monitor",
                "\"log monitor\" is not supported by Tern yet",
            ),
        ];
        for (bad, want) in cases {
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains(want), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
        }
        assert_eq!(s.mode(), &Mode::RouterAf(Family::Ipv4Unicast), "mode kept");
    }

    /// The per-family lines of FRR 8.4: in address-family mode, and in
    /// router mode for IPv4 unicast, shown under the address family.
    #[test]
    fn allowas_in_next_hop_self_and_soft_reconfiguration() {
        let text = "router bgp 65001\n neighbor 192.0.2.2 remote-as 65000\n \
                    neighbor 192.0.2.2 allowas-in\n neighbor 192.0.2.2 next-hop-self\n \
                    neighbor G peer-group\n neighbor G remote-as internal\n \
                    neighbor 192.0.2.3 peer-group G\n \
                    address-family ipv4 unicast\n  neighbor G next-hop-self force\n  \
                    neighbor G allowas-in origin\n  \
                    neighbor 192.0.2.2 soft-reconfiguration inbound\n exit-address-family\n \
                    address-family ipv6 unicast\n  neighbor 192.0.2.2 activate\n  \
                    neighbor 192.0.2.2 allowas-in 5\n";
        let mut c = Config::parse("t", text).unwrap_or_else(|e| panic!("{e:?}"));
        let b = c.bgp.as_ref().unwrap();
        let two: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let three: std::net::IpAddr = "192.0.2.3".parse().unwrap();
        let v4 = b.af_neighbor(two, Family::Ipv4Unicast);
        assert_eq!(v4.allowas_in, Some(AllowAsIn::Count(3)));
        assert!(v4.next_hop_self && v4.soft_reconfig_in && !v4.next_hop_self_force);
        assert_eq!(
            b.af_neighbor(two, Family::Ipv6Unicast).allowas_in,
            Some(AllowAsIn::Count(5))
        );
        let member = b.resolved().af_neighbor(three, Family::Ipv4Unicast);
        assert!(member.next_hop_self_force, "from the group");
        assert_eq!(member.allowas_in, Some(AllowAsIn::Origin));
        let rendered = c.render();
        for line in [
            "\n address-family ipv4 unicast\n",
            "\n  neighbor 192.0.2.2 allowas-in\n",
            "\n  neighbor 192.0.2.2 next-hop-self\n",
            "\n  neighbor 192.0.2.2 soft-reconfiguration inbound\n",
            "\n  neighbor G next-hop-self force\n",
            "\n  neighbor G allowas-in origin\n",
            "\n  neighbor 192.0.2.2 allowas-in 5\n",
        ] {
            assert!(rendered.contains(line), "{line:?} in\n{rendered}");
        }
        assert_eq!(Config::parse("r", &rendered).unwrap(), c, "{rendered}");
        // The `no` forms, live, in either mode.
        let mut s = ConfigSession::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        s.apply(&mut c, "no neighbor 192.0.2.2 allowas-in").unwrap();
        s.apply(&mut c, "no neighbor 192.0.2.2 next-hop-self")
            .unwrap();
        s.apply(&mut c, "address-family ipv4 unicast").unwrap();
        s.apply(&mut c, "no neighbor 192.0.2.2 soft-reconfiguration inbound")
            .unwrap();
        s.apply(&mut c, "no neighbor G next-hop-self force")
            .unwrap();
        s.apply(&mut c, "no neighbor G allowas-in origin").unwrap();
        let b = c.bgp.as_ref().unwrap();
        assert_eq!(
            b.af_neighbor(two, Family::Ipv4Unicast),
            tern_bgp::config::AfNeighbor::default()
        );
        assert!(
            b.families
                .get(&Family::Ipv4Unicast)
                .is_none_or(|af| af.groups.is_empty())
        );
    }

    /// `frr defaults traditional` turns on ebgp-requires-policy, timers 60
    /// 180, connect retry 120, and turns off log-neighbor-changes; lines
    /// that repeat the profile's defaults are not stored (nor shown).
    #[test]
    fn frr_defaults_profiles() {
        let text = "frr defaults traditional\nrouter bgp 65001\n \
                    neighbor 192.0.2.2 remote-as 65000\n \
                    neighbor 192.0.2.3 remote-as 65000\n neighbor 192.0.2.3 timers 3 9\n \
                    bgp ebgp-requires-policy\n";
        let c = Config::parse("t", text).unwrap();
        let b = c.bgp.as_ref().unwrap();
        assert_eq!(b.profile, FrrProfile::Traditional);
        assert!(b.ebgp_requires_policy() && !b.log_neighbor_changes());
        assert_eq!(b.ebgp_requires_policy, None, "the profile's default");
        let r = b.resolved();
        let two: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let three: std::net::IpAddr = "192.0.2.3".parse().unwrap();
        assert_eq!(r.neighbors[&two].timers(), (60, 180));
        assert_eq!(r.neighbors[&two].connect_retry, Some(120));
        assert_eq!(r.neighbors[&three].timers(), (3, 9), "its own timers");
        let rendered = c.render();
        assert!(
            rendered.starts_with("!\nfrr defaults traditional\n"),
            "{rendered}"
        );
        assert!(!rendered.contains("ebgp-requires-policy"), "{rendered}");
        assert_eq!(Config::parse("r", &rendered).unwrap(), c);
        // Datacenter: the opposite defaults, and the departures shown.
        let dc = Config::parse(
            "t",
            "frr defaults datacenter\nrouter bgp 65001\n bgp ebgp-requires-policy\n \
             no bgp log-neighbor-changes\n no bgp ebgp-requires-policy\n \
             bgp ebgp-requires-policy\n",
        )
        .unwrap();
        let b = dc.bgp.as_ref().unwrap();
        assert!(b.ebgp_requires_policy() && !b.log_neighbor_changes());
        let rendered = dc.render();
        assert!(
            rendered.contains("\n bgp ebgp-requires-policy\n"),
            "{rendered}"
        );
        assert!(
            rendered.contains("\n no bgp log-neighbor-changes\n"),
            "{rendered}"
        );
        assert_eq!(Config::parse("r", &rendered).unwrap(), dc);
        // Without the line: Tern's defaults, the datacenter profile's.
        let none = Config::parse("t", "router bgp 65001\n").unwrap();
        let b = none.bgp.as_ref().unwrap();
        assert!(!b.ebgp_requires_policy() && b.log_neighbor_changes());
        // The profile changed live reaches `router bgp`.
        let mut c = c;
        let mut s = ConfigSession::default();
        s.apply(&mut c, "frr defaults datacenter").unwrap();
        let b = c.bgp.as_ref().unwrap();
        assert!(!b.ebgp_requires_policy());
        assert_eq!(b.resolved().neighbors[&two].timers(), (3, 9));
        s.apply(&mut c, "no frr defaults").unwrap();
        assert_eq!(c.frr_defaults, None);
    }

    #[test]
    fn log_file_and_syslog_lines() {
        let c = Config::parse(
            "t",
            "log stdout warnings\nlog file /var/log/tern/ternd.log informational\nlog syslog\n",
        )
        .unwrap();
        assert_eq!(
            c.log_file,
            Some(LogFile {
                path: "/var/log/tern/ternd.log".into(),
                level: LogLevel::Informational
            })
        );
        assert_eq!(c.log_syslog, Some(LogLevel::Debugging));
        let text = c.render();
        assert!(
            text.contains("\nlog file /var/log/tern/ternd.log informational\nlog syslog\n"),
            "{text}"
        );
        assert_eq!(Config::parse("r", &text).unwrap(), c);
        let mut c = c;
        let mut s = ConfigSession::default();
        s.apply(&mut c, "log file /tmp/t.log").unwrap();
        assert_eq!(
            c.log_file.as_ref().map(|f| f.level),
            Some(LogLevel::Debugging)
        );
        s.apply(&mut c, "log syslog errors").unwrap();
        assert_eq!(c.log_syslog, Some(LogLevel::Errors));
        s.apply(&mut c, "no log file").unwrap();
        s.apply(&mut c, "no log syslog").unwrap();
        assert_eq!((c.log_file, c.log_syslog), (None, None));
    }

    #[test]
    fn passwords_are_shown_to_root_only_and_never_echoed() {
        let text = "router bgp 65001\n neighbor 192.0.2.1 remote-as 65000\n \
                    neighbor 192.0.2.1 password s3cret\n neighbor G peer-group\n \
                    neighbor G password gr0up\n";
        let c = Config::parse("t", text).expect("valid");
        let full = c.render();
        assert!(
            full.contains(" neighbor 192.0.2.1 password s3cret\n"),
            "{full}"
        );
        assert!(full.contains(" neighbor G password gr0up\n"), "{full}");
        let shown = c.render_shown(false);
        assert!(
            !shown.contains("s3cret") && !shown.contains("gr0up"),
            "{shown}"
        );
        assert!(
            shown.contains(" neighbor 192.0.2.1 password <hidden>\n"),
            "{shown}"
        );
        // The masked text does not set a password when pasted back.
        let errs = Config::parse("pasted", &shown).expect_err("mask refused");
        assert!(
            errs[0].reason.contains("give the password itself"),
            "{errs:?}"
        );
        // Errors and log lines that echo a line mask it.
        let errs = Config::parse(
            "t",
            "router bgp 65001\n neighbor 192.0.2.1 remote-as 65000\n \
             neighbor 192.0.2.1 password s3cret extra\n",
        )
        .expect_err("two words");
        assert!(!errs[0].to_string().contains("s3cret"), "{}", errs[0]);
        assert_eq!(
            mask_secrets(" neighbor 192.0.2.1 password s3cret"),
            "neighbor 192.0.2.1 password <hidden>"
        );
        assert_eq!(
            mask_secrets("no neighbor G password s3cret"),
            "no neighbor G password <hidden>"
        );
        assert_eq!(
            mask_secrets("no neighbor G password"),
            "no neighbor G password"
        );
        assert_eq!(mask_secrets("hostname n1"), "hostname n1");
    }

    const NODE1: &str = "\
hostname node1
!
router bgp 65001
 bgp router-id 198.51.100.11
 neighbor 192.0.2.0 remote-as 65000
 neighbor 192.0.2.0 description tor1
 neighbor 2001:db8:0:1::1 remote-as external
 neighbor 2001:db8:0:1::1 timers 1 3
 neighbor 198.51.100.99 remote-as 65099
 neighbor 198.51.100.99 ebgp-multihop 3
 neighbor 198.51.100.99 update-source lo
 neighbor 198.51.100.98 remote-as internal
 neighbor 198.51.100.98 update-source 198.51.100.11
 bgp graceful-restart
 bgp graceful-restart restart-time 90
 !
 address-family ipv4 unicast
  network 10.244.1.0/24
  network 198.51.100.11/32
  neighbor 198.51.100.98 route-reflector-client
  neighbor 192.0.2.0 maximum-prefix 1000
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:244:1::/64
  neighbor 192.0.2.0 activate
 exit-address-family
exit
!
interface eth1
";

    #[test]
    fn router_bgp_block_parses() {
        let c = Config::parse("n1", NODE1).expect("valid");
        let b = c.bgp.as_ref().expect("bgp");
        assert_eq!(b.asn, 65001);
        assert_eq!(b.router_id, Some("198.51.100.11".parse().unwrap()));
        let tor: std::net::IpAddr = "192.0.2.0".parse().unwrap();
        let v6: std::net::IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert_eq!(
            b.neighbors[&tor].remote_as,
            Some(tern_bgp::config::RemoteAsConfig::Asn(65000))
        );
        assert_eq!(b.neighbors[&tor].timers(), (3, 9));
        assert_eq!(b.neighbors[&v6].timers(), (1, 3));
        assert!(b.is_active(tor, Family::Ipv4Unicast));
        assert!(
            b.is_active(tor, Family::Ipv6Unicast),
            "activated explicitly"
        );
        assert!(b.is_active(v6, Family::Ipv6Unicast));
        assert!(!b.is_active(v6, Family::Ipv4Unicast));
        assert_eq!(b.networks(Family::Ipv4Unicast).count(), 2);
        // `interface eth1` after the router block is a top-level line.
        assert!(c.interfaces.contains_key("eth1"));
    }

    #[test]
    fn router_bgp_round_trips_through_running_config() {
        let c = Config::parse("n1", NODE1).expect("valid");
        let text = c.render();
        let again = Config::parse("running", &text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
        assert_eq!(again, c, "{text}");
        assert_eq!(again.render(), text);
    }

    #[test]
    fn bad_bgp_lines_are_refused() {
        let cases = [
            ("router bgp 0", "AS 0 is reserved"),
            ("router bgp 4294967296", "invalid AS number"),
            ("router bgp 65001\n bgp router-id 0.0.0.0", "not usable"),
            (
                "router bgp 65001\n neighbor 192.0.2.9 timers 3 9",
                "remote-as ...\" first",
            ),
            (
                "router bgp 65001\n neighbor 192.0.2.9 remote-as 65000\n neighbor 192.0.2.9 timers 1 2",
                "at least 3",
            ),
            (
                "router bgp 65001\n neighbor tor remote-as 65000",
                "not an IP address",
            ),
            (
                "router bgp 65001\n address-family l2vpn evpn",
                "not supported",
            ),
            (
                "router bgp 65001\n address-family ipv4 unicast\n  network 10.0.0.1/24",
                "host bits",
            ),
            (
                "router bgp 65001\n address-family ipv4 unicast\n  network 2001:db8::/32",
                "not an ipv4 unicast prefix",
            ),
            ("router bgp 65001\nrouter bgp 65002", "already running"),
            (
                "router bgp 65001\n neighbor 192.0.2.9 remote-as 65000\n neighbor 192.0.2.9 frobnicate",
                "unknown or unsupported neighbor option",
            ),
        ];
        for (text, want) in cases {
            let errs = Config::parse("t", text).expect_err(text);
            assert!(
                errs.iter().any(|e| e.reason.contains(want)),
                "{text}: {errs:?}"
            );
        }
    }

    #[test]
    fn asdot_and_modes() {
        let c = Config::parse("t", "router bgp 1.10\n").expect("asdot");
        assert_eq!(c.bgp.map(|b| b.asn), Some(65546));
        let mut s = ConfigSession::default();
        let mut c = Config::default();
        s.apply(&mut c, "router bgp 65001").unwrap();
        assert_eq!(s.mode(), &Mode::Router);
        s.apply(&mut c, "address-family ipv6 unicast").unwrap();
        assert_eq!(s.mode(), &Mode::RouterAf(Family::Ipv6Unicast));
        // A bad line keeps the mode.
        assert!(s.apply(&mut c, "network nonsense").is_err());
        assert_eq!(s.mode(), &Mode::RouterAf(Family::Ipv6Unicast));
        s.apply(&mut c, "exit-address-family").unwrap();
        assert_eq!(s.mode(), &Mode::Router);
        s.apply(&mut c, "hostname x").unwrap();
        assert_eq!(s.mode(), &Mode::Config);
        s.apply(&mut c, "router bgp 65001").unwrap();
        s.apply(&mut c, "end").unwrap();
        assert_eq!(s.mode(), &Mode::Config);
    }
}
