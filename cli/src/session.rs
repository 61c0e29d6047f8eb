//! One shell session with ternd: the mode the next line is read in (exec,
//! or a config mode as the daemon names it) and what a line does there.
//!
//! Exec lines are matched against [`crate::commands`] and answered here.
//! `configure terminal` enters config mode on the client side; from then on
//! every line goes to ternd as a config line and its reply names the next
//! mode. `end` (and `exit` from `(config)`) comes back to exec mode;
//! `do CMD` runs an exec command. The `-c` list, a piped script and the
//! interactive shell all go through [`Session::run_line`].
use std::io::Write;

use tern_control::{BgpFamily, ClearMode, Reply, Request, grammar};

use crate::{
    bgp, bgp_neighbors, bgp_table, bgp_vpn,
    client::{Client, ClientError},
    commands::{self, Action, Parsed},
    render, route, srv6_view,
};

/// Something that answers control requests: ternd's socket, or a fake in
/// tests.
pub trait Control {
    fn request(&mut self, req: &Request) -> Result<Reply, ClientError>;

    /// A request answered by a stream of replies, each handed to `each`
    /// until the stream ends or `each` gives up (false). A daemon that
    /// answers with one reply streams that one.
    fn request_stream(
        &mut self,
        req: &Request,
        each: &mut dyn FnMut(Reply) -> bool,
    ) -> Result<(), ClientError> {
        let reply = self.request(req)?;
        each(reply);
        Ok(())
    }
}

impl Control for Client {
    fn request(&mut self, req: &Request) -> Result<Reply, ClientError> {
        Client::request(self, req)
    }

    fn request_stream(
        &mut self,
        req: &Request,
        each: &mut dyn FnMut(Reply) -> bool,
    ) -> Result<(), ClientError> {
        Client::request_stream(self, req, each)
    }
}

/// Where the next line is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `HOSTNAME#`
    Exec,
    /// A config mode as ternd names it: "config", "config-if",
    /// "config-router", "config-router-af".
    Config(String),
}

impl Mode {
    /// vtysh's prompt for this mode: `node1# `, `node1(config-router)# `.
    pub fn prompt(&self, hostname: &str) -> String {
        match self {
            Mode::Exec => format!("{hostname}# "),
            Mode::Config(m) => format!("{hostname}({m})# "),
        }
    }
}

/// How one line ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    /// `exit` or `quit` in exec mode: the session ends.
    Exit,
}

/// A session: the daemon connection, the mode, the hostname for the prompt.
#[derive(Debug)]
pub struct Session<C> {
    control: C,
    mode: Mode,
    hostname: String,
}

impl<C: Control> Session<C> {
    /// A session in exec mode; the hostname is `tern` until
    /// [`Session::refresh_hostname`] asks the daemon.
    pub fn new(control: C) -> Self {
        Session {
            control,
            mode: Mode::Exec,
            hostname: "tern".into(),
        }
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// The prompt for the current mode.
    pub fn prompt(&self) -> String {
        self.mode.prompt(&self.hostname)
    }

    /// Takes the hostname from `show version` (kept when that fails).
    pub fn refresh_hostname(&mut self) {
        if let Ok(Reply::Version(v)) = self.control.request(&Request::ShowVersion) {
            self.hostname = v.hostname;
        }
    }

    /// Runs one line in the current mode, printing its output to `out` and
    /// errors to `err`.
    pub fn run_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('!') {
            return Outcome::Ok;
        }
        match self.mode.clone() {
            Mode::Exec => self.exec_line(trimmed, out, err),
            Mode::Config(mode) => self.config_line(&mode, line, out, err),
        }
    }

    /// Leaves config mode (Ctrl-Z, `end`): tells the daemon, whose own
    /// config session returns to the top, and comes back to exec mode.
    pub fn end_config(&mut self, err: &mut dyn Write) {
        if matches!(self.mode, Mode::Exec) {
            return;
        }
        self.mode = Mode::Exec;
        let req = Request::ConfigLine { line: "end".into() };
        // A refusal does not keep the operator in config mode; only a lost
        // daemon is worth saying.
        if let Err(e) = self.control.request(&req) {
            let _ = writeln!(err, "% {e}");
        }
    }

    fn exec_line(&mut self, line: &str, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
        let parsed = match commands::parse(line) {
            Ok(p) => p,
            Err(e) => {
                let _ = writeln!(err, "{}", commands::error_message(line, &e));
                return Outcome::Failed;
            }
        };
        match parsed.action {
            Action::Exit => Outcome::Exit,
            Action::End => Outcome::Ok,
            Action::ConfigureTerminal => {
                self.mode = Mode::Config("config".into());
                Outcome::Ok
            }
            Action::WriteMemory => self.write_memory(out, err),
            Action::ShowBgpV4 | Action::ShowBgpV6
                if parsed.prefix.is_none() && parsed.addr.is_none() =>
            {
                self.stream_bgp_table(&parsed, out, err)
            }
            Action::ShowIpRoute | Action::ShowIpv6Route => self.stream_routes(&parsed, out, err),
            _ => match execute(&mut self.control, &parsed) {
                Ok(text) => {
                    let _ = out.write_all(text.as_bytes());
                    Outcome::Ok
                }
                Err(msg) => {
                    let _ = writeln!(err, "% {msg}");
                    Outcome::Failed
                }
            },
        }
    }

    /// `show ip bgp [json]`, `show bgp ipv6 unicast [json]`: the whole
    /// table, written as ternd streams it (the first lines at once, and
    /// never the whole table in memory).
    fn stream_bgp_table(
        &mut self,
        p: &Parsed,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Outcome {
        let family = if p.action == Action::ShowBgpV6 {
            BgpFamily::Ipv6Unicast
        } else {
            BgpFamily::Ipv4Unicast
        };
        let req = Request::ShowBgpRoutes {
            family,
            prefix: None,
            longest_match: false,
            stream: true,
        };
        let mut table = bgp_table::TableStream::new(family, p.json);
        self.stream(&req, err, |reply| match reply {
            Reply::BgpTableStart(t) => Ok(table.start(t, out)),
            Reply::BgpRoutes { routes } => Ok(table.routes(&routes, out)),
            Reply::BgpTableEnd { routes, paths } => Ok(table.end(routes, paths, out)),
            // A ternd without streaming answers with the whole table.
            Reply::BgpTable(t) => Ok(table.whole(t, out)),
            Reply::Error { message } => Err(message),
            other => Err(format!("unexpected reply from ternd: {other:?}")),
        })
    }

    /// Sends a request answered by a stream and hands each reply to
    /// `write`, which renders it (the inner error: the output went away,
    /// which ends the stream) or names what went wrong (an error reply).
    fn stream(
        &mut self,
        req: &Request,
        err: &mut dyn Write,
        mut write: impl FnMut(Reply) -> Result<std::io::Result<()>, String>,
    ) -> Outcome {
        let mut failed: Option<String> = None;
        let mut each = |reply: Reply| match write(reply) {
            Ok(written) => written.is_ok(),
            Err(message) => {
                failed = Some(message);
                true
            }
        };
        let result = self.control.request_stream(req, &mut each);
        match (result, failed) {
            (Err(e), _) => {
                let _ = writeln!(err, "% {e}");
                Outcome::Failed
            }
            (Ok(()), Some(message)) => {
                let _ = writeln!(err, "% {message}");
                Outcome::Failed
            }
            (Ok(()), None) => Outcome::Ok,
        }
    }

    /// `show ip route [json]`, `show ipv6 route [json]`, written as ternd
    /// streams the table.
    fn stream_routes(&mut self, p: &Parsed, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
        let ipv6 = p.action == Action::ShowIpv6Route;
        let req = Request::ShowRoutes { ipv6, stream: true };
        let mut table = route::RoutesStream::new(ipv6, p.json);
        let outcome = self.stream(&req, err, |reply| match reply {
            Reply::RoutesStart => Ok(table.start(out)),
            Reply::Routes { routes } => Ok(table.routes(&routes, out)),
            Reply::RoutesEnd { .. } => Ok(table.end(out)),
            Reply::Error { message } => Err(message),
            other => Err(format!("unexpected reply from ternd: {other:?}")),
        });
        if outcome == Outcome::Ok {
            let _ = table.finish(out);
        }
        outcome
    }

    /// `write memory`, with vtysh's words around ternd's answer.
    fn write_memory(&mut self, out: &mut dyn Write, err: &mut dyn Write) -> Outcome {
        let _ = writeln!(out, "Building Configuration...");
        let _ = out.flush();
        match self.control.request(&Request::WriteMemory) {
            Ok(Reply::Written { path }) => {
                let _ = writeln!(out, "Configuration saved to {path}\n[OK]");
                Outcome::Ok
            }
            Ok(Reply::Error { message }) => {
                let _ = writeln!(err, "% {message}");
                Outcome::Failed
            }
            Ok(other) => {
                let _ = writeln!(err, "% unexpected reply from ternd: {other:?}");
                Outcome::Failed
            }
            Err(e) => {
                let _ = writeln!(err, "% {e}");
                Outcome::Failed
            }
        }
    }

    fn config_line(
        &mut self,
        mode: &str,
        line: &str,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Outcome {
        // Spelled out as ternd will; an ambiguous line goes as typed, for
        // ternd to refuse in FRR's words.
        let typed = line.trim();
        let line = grammar::expand(mode, typed).unwrap_or_else(|_| typed.to_owned());
        let words: Vec<&str> = line.split_whitespace().collect();
        let sent = match words.as_slice() {
            ["do"] => {
                let _ = writeln!(err, "% Command incomplete: do");
                return Outcome::Failed;
            }
            ["do", ..] => {
                let body = line.trim_start().strip_prefix("do").unwrap_or("").trim();
                return match commands::parse(body).map(|p| p.action) {
                    // Mode changes have no meaning under `do`.
                    Ok(Action::Exit | Action::End | Action::ConfigureTerminal) => Outcome::Ok,
                    _ => self.exec_line(body, out, err),
                };
            }
            ["end"] => {
                self.end_config(err);
                return Outcome::Ok;
            }
            ["exit" | "quit"] if mode == "config" => {
                self.end_config(err);
                return Outcome::Ok;
            }
            ["exit" | "quit"] => "exit".to_owned(),
            _ => line.clone(),
        };
        let hostname_changed =
            matches!(words.as_slice(), ["hostname", ..] | ["no", "hostname", ..]);
        match self.control.request(&Request::ConfigLine { line: sent }) {
            Ok(Reply::ConfigApplied { mode }) => {
                self.mode = Mode::Config(mode);
                if hostname_changed {
                    self.refresh_hostname();
                }
                Outcome::Ok
            }
            Ok(Reply::Error { message }) => {
                let _ = writeln!(err, "% {message}");
                Outcome::Failed
            }
            Ok(other) => {
                let _ = writeln!(err, "% unexpected reply from ternd: {other:?}");
                Outcome::Failed
            }
            Err(e) => {
                let _ = writeln!(err, "% {e}");
                Outcome::Failed
            }
        }
    }
}

/// Runs an exec command that asks the daemon something and renders the
/// answer as vtysh would.
fn execute(control: &mut dyn Control, p: &Parsed) -> Result<String, String> {
    let req = match p.action {
        Action::ShowVersion => Request::ShowVersion,
        Action::ShowRunningConfig => Request::ShowRunningConfig,
        Action::ShowInterfaces | Action::ShowInterfacesBrief => {
            Request::ShowInterfaces { name: None }
        }
        Action::ShowInterface => Request::ShowInterfaces {
            name: p.ifname.clone(),
        },
        Action::ShowBgpSummary
        | Action::ShowBgpSummaryV4
        | Action::ShowBgpSummaryV6
        | Action::ShowBgpSummaryVpnV4
        | Action::ShowBgpSummaryVpnV6 => Request::ShowBgpSummary,
        Action::VipAdd | Action::VipDel => match p.prefix {
            Some(prefix) if p.action == Action::VipAdd => Request::AddVip { prefix },
            Some(prefix) => Request::DelVip { prefix },
            None => return Err("a prefix is needed".into()),
        },
        Action::ShowVips => Request::ShowVips,
        Action::ShowEndpoints => Request::ShowDatapathEndpoints,
        Action::ShowDatapath => Request::ShowDatapath,
        Action::ShowDatapathDrops => Request::ShowDatapathDrops,
        Action::ShowIpRouteVrf | Action::ShowIpv6RouteVrf => Request::ShowVrfRoutes {
            ipv6: p.action == Action::ShowIpv6RouteVrf,
            vrf: p.word.clone().unwrap_or_default(),
        },
        Action::ShowServices => Request::ShowServices {
            name: p.word.clone(),
        },
        Action::ShowConntrack => Request::ShowConntrack {
            service: p.word.clone(),
            limit: None,
        },
        Action::ShowEgressGateway => Request::ShowEgressGateway,
        Action::ShowEgressNat => Request::ShowEgressNat,
        Action::ShowBfdPeers => Request::ShowBfdPeers { peer: None },
        Action::ShowBfdPeer => Request::ShowBfdPeers { peer: p.addr },
        Action::ShowBgpV4 | Action::ShowBgpV6 | Action::ShowBgpRouteV4 | Action::ShowBgpRouteV6 => {
            bgp_routes_request(p)?
        }
        Action::ShowSrv6Locators | Action::ShowSrv6LocatorDetail => Request::ShowSrv6Locators,
        Action::ShowVrfs => Request::ShowVrfs,
        Action::ShowBgpVpnV4
        | Action::ShowBgpVpnV6
        | Action::ShowBgpVpnRouteV4
        | Action::ShowBgpVpnRouteV6 => Request::ShowBgpVpn {
            ipv6: matches!(p.action, Action::ShowBgpVpnV6 | Action::ShowBgpVpnRouteV6),
            rd: p.word.clone(),
            prefix: p.prefix,
        },
        Action::ShowBgpNeighbors => match p.word.as_deref().map(str::parse) {
            None => Request::ShowBgpNeighbors { address: None },
            Some(Ok(a)) => Request::ShowBgpNeighbors { address: Some(a) },
            // Not an address: no neighbor has that name.
            Some(Err(_)) => {
                return Ok(if p.json {
                    render::pretty(&serde_json::json!({"bgpNoSuchNeighbor": true}))
                } else {
                    format!("{}\n", bgp_neighbors::NO_SUCH_NEIGHBOR)
                });
            }
        },
        Action::ShowBgpReceivedV4
        | Action::ShowBgpReceivedV6
        | Action::ShowBgpAdvertisedV4
        | Action::ShowBgpAdvertisedV6 => {
            let word = p.word.as_deref().unwrap_or("");
            match word.parse() {
                Ok(address) => Request::ShowBgpAdjRib {
                    family: adj_family(p.action),
                    address,
                    advertised: matches!(
                        p.action,
                        Action::ShowBgpAdvertisedV4 | Action::ShowBgpAdvertisedV6
                    ),
                },
                // vtysh's words for a name that is no address.
                Err(_) => {
                    return Ok(if p.json {
                        render::pretty(&serde_json::json!({ "malformedAddressOrName": word }))
                    } else {
                        format!("% Malformed address or name: {word}\n")
                    });
                }
            }
        }
        Action::ClearBgp
        | Action::ClearBgpSoft
        | Action::ClearBgpSoftIn
        | Action::ClearBgpSoftOut => Request::ClearBgp {
            address: match p.word.as_deref().map(str::parse) {
                None => None,
                Some(Ok(a)) => Some(a),
                // vtysh's words, and like vtysh no failure status.
                Some(Err(_)) => {
                    return Ok(format!(
                        "Malformed address or name: {}\n",
                        p.word.as_deref().unwrap_or("")
                    ));
                }
            },
            mode: match p.action {
                Action::ClearBgpSoft => ClearMode::Soft,
                Action::ClearBgpSoftIn => ClearMode::SoftIn,
                Action::ClearBgpSoftOut => ClearMode::SoftOut,
                _ => ClearMode::Hard,
            },
        },
        Action::WriteMemory => Request::WriteMemory,
        // Handled by the session itself (streamed shows, modes).
        Action::ShowIpRoute
        | Action::ShowIpv6Route
        | Action::Exit
        | Action::End
        | Action::ConfigureTerminal => return Ok(String::new()),
    };
    let mut reply = control.request(&req).map_err(|e| e.to_string())?;
    if let Reply::Interfaces { interfaces } = &mut reply {
        render::sort_interfaces(interfaces);
    }
    match (p.action, reply) {
        // FRR's `show ip bgp` and `clear bgp` without BGP: a plain line.
        (
            Action::ClearBgp
            | Action::ClearBgpSoft
            | Action::ClearBgpSoftIn
            | Action::ClearBgpSoftOut,
            Reply::Error { message },
        ) if message == NO_BGP => Ok(format!("{message}\n")),
        (_, Reply::Error { message }) => Err(message),
        (Action::ShowVersion, Reply::Version(v)) => Ok(render::version(&v, &kernel_release())),
        (Action::ShowRunningConfig, Reply::RunningConfig { text }) => Ok(format!(
            "Building configuration...\n\nCurrent configuration:\n{text}"
        )),
        (Action::ShowInterfacesBrief, Reply::Interfaces { interfaces }) => Ok(if p.json {
            render::pretty(&render::interfaces_json(&interfaces, true))
        } else {
            render::interfaces_brief(&interfaces)
        }),
        (Action::ShowInterfaces | Action::ShowInterface, Reply::Interfaces { interfaces }) => {
            Ok(if p.json {
                render::pretty(&render::interfaces_json(&interfaces, false))
            } else {
                render::interfaces(&interfaces)
            })
        }
        (
            Action::ShowBgpSummary
            | Action::ShowBgpSummaryV4
            | Action::ShowBgpSummaryV6
            | Action::ShowBgpSummaryVpnV4
            | Action::ShowBgpSummaryVpnV6,
            Reply::BgpSummary(s),
        ) => {
            let family = match p.action {
                Action::ShowBgpSummaryV4 => Some("ipv4Unicast"),
                Action::ShowBgpSummaryV6 => Some("ipv6Unicast"),
                Action::ShowBgpSummaryVpnV4 => Some("ipv4Vpn"),
                Action::ShowBgpSummaryVpnV6 => Some("ipv6Vpn"),
                _ => None,
            };
            Ok(if p.json {
                render::pretty(&bgp::summary_json(&s, family))
            } else {
                bgp::summary_text(&s, family)
            })
        }
        (Action::VipAdd | Action::VipDel, Reply::Vips { .. }) => Ok(String::new()),
        (Action::ShowVips, Reply::Vips { vips }) => Ok(if p.json {
            let list: Vec<String> = vips.iter().map(ToString::to_string).collect();
            render::pretty(&serde_json::json!({ "vips": list }))
        } else {
            vips.iter().map(|v| format!("{v}\n")).collect()
        }),
        (Action::ShowEndpoints, Reply::DatapathEndpoints { endpoints }) => Ok(if p.json {
            render::pretty(&crate::datapath_view::endpoints_json(&endpoints))
        } else {
            crate::datapath_view::endpoints_text(&endpoints)
        }),
        (Action::ShowDatapath, Reply::Datapath(info)) => Ok(if p.json {
            render::pretty(&crate::datapath_view::datapath_json(&info))
        } else {
            crate::datapath_view::datapath_text(&info)
        }),
        (Action::ShowIpRouteVrf | Action::ShowIpv6RouteVrf, Reply::Routes { routes }) => {
            let vrf = p.word.clone().unwrap_or_default();
            Ok(if p.json {
                render::pretty(&crate::route::vrf_routes_json(&routes, &vrf))
            } else {
                crate::route::vrf_routes_text(&routes, p.action == Action::ShowIpv6RouteVrf, &vrf)
            })
        }
        (Action::ShowServices, Reply::Services { services }) => Ok(if p.json {
            render::pretty(&crate::service_view::services_json(&services))
        } else {
            crate::service_view::services_text(&services)
        }),
        (Action::ShowConntrack, Reply::Conntrack(c)) => Ok(if p.json {
            render::pretty(&crate::service_view::conntrack_json(&c))
        } else {
            crate::service_view::conntrack_text(&c)
        }),
        (Action::ShowEgressGateway, Reply::EgressGateway(st)) => Ok(if p.json {
            render::pretty(&crate::egress_view::status_json(&st))
        } else {
            crate::egress_view::status_text(&st)
        }),
        (Action::ShowBfdPeers, Reply::BfdPeers { peers }) => Ok(if p.json {
            render::pretty(&crate::bfd_view::peers_json(&peers))
        } else {
            crate::bfd_view::peers_text(&peers)
        }),
        (Action::ShowBfdPeer, Reply::BfdPeers { peers }) => Ok(if p.json {
            match peers.first() {
                Some(peer) => render::pretty(&crate::bfd_view::peer_json(peer)),
                None => {
                    crate::bfd_view::not_found(&p.addr.map(|a| a.to_string()).unwrap_or_default())
                }
            }
        } else {
            let addr = p.addr.map(|a| a.to_string()).unwrap_or_default();
            crate::bfd_view::peer_text(&peers, &addr)
        }),
        (Action::ShowEgressNat, Reply::EgressNat(n)) => Ok(if p.json {
            render::pretty(&crate::egress_view::nat_json(&n))
        } else {
            crate::egress_view::nat_text(&n)
        }),
        (Action::ShowDatapathDrops, Reply::DatapathDrops { drops }) => Ok(if p.json {
            render::pretty(&crate::datapath_view::drops_json(&drops))
        } else {
            crate::datapath_view::drops_text(&drops)
        }),
        (
            Action::ShowBgpV4 | Action::ShowBgpV6 | Action::ShowBgpRouteV4 | Action::ShowBgpRouteV6,
            Reply::BgpTable(t),
        ) => {
            let family = match p.action {
                Action::ShowBgpV6 | Action::ShowBgpRouteV6 => BgpFamily::Ipv6Unicast,
                _ => BgpFamily::Ipv4Unicast,
            };
            let host = t.local_hostname.as_deref();
            let detail = matches!(p.action, Action::ShowBgpRouteV4 | Action::ShowBgpRouteV6);
            Ok(match (detail, p.json) {
                (false, false) => bgp_table::table_text(&t, host),
                (false, true) => render::pretty(&bgp_table::table_json(&t, family, host)),
                (true, false) => bgp_table::detail_text(&t, host),
                (true, true) => render::pretty(&bgp_table::detail_json(&t, family, host)),
            })
        }
        (Action::ShowSrv6Locators, Reply::Srv6Locators { locators }) => Ok(if p.json {
            render::pretty(&srv6_view::locators_json(&locators))
        } else {
            srv6_view::locators_text(&locators)
        }),
        (Action::ShowSrv6LocatorDetail, Reply::Srv6Locators { locators }) => {
            let name = p.word.as_deref().unwrap_or_default();
            Ok(if p.json {
                render::pretty(&srv6_view::locator_detail_json(&locators, name))
            } else {
                srv6_view::locator_detail_text(&locators, name)
            })
        }
        (Action::ShowVrfs, Reply::Vrfs { vrfs }) => Ok(srv6_view::vrfs_text(&vrfs)),
        (
            Action::ShowBgpVpnV4
            | Action::ShowBgpVpnV6
            | Action::ShowBgpVpnRouteV4
            | Action::ShowBgpVpnRouteV6,
            Reply::BgpVpnTable(t),
        ) => {
            let ipv6 = matches!(p.action, Action::ShowBgpVpnV6 | Action::ShowBgpVpnRouteV6);
            let detail = matches!(
                p.action,
                Action::ShowBgpVpnRouteV4 | Action::ShowBgpVpnRouteV6
            );
            Ok(match (detail, p.json) {
                (false, false) => bgp_vpn::vpn_text(&t),
                (false, true) => render::pretty(&bgp_vpn::vpn_json(&t, ipv6)),
                (true, false) => bgp_vpn::vpn_detail_text(&t),
                (true, true) => render::pretty(&bgp_vpn::vpn_detail_json(&t, ipv6)),
            })
        }
        (
            Action::ShowBgpNeighbors,
            Reply::BgpNeighbors {
                configured,
                neighbors,
            },
        ) => {
            let asked = p.word.is_some();
            Ok(if p.json {
                render::pretty(&bgp_neighbors::neighbors_json(
                    &neighbors, configured, asked,
                ))
            } else {
                bgp_neighbors::neighbors_text(&neighbors, configured, asked)
            })
        }
        (
            Action::ClearBgp
            | Action::ClearBgpSoft
            | Action::ClearBgpSoftIn
            | Action::ClearBgpSoftOut,
            Reply::Cleared { .. },
        ) => Ok(String::new()),
        (
            Action::ShowBgpReceivedV4
            | Action::ShowBgpReceivedV6
            | Action::ShowBgpAdvertisedV4
            | Action::ShowBgpAdvertisedV6,
            Reply::BgpAdjRib {
                table,
                filtered,
                error,
            },
        ) => {
            let advertised = matches!(
                p.action,
                Action::ShowBgpAdvertisedV4 | Action::ShowBgpAdvertisedV6
            );
            Ok(if p.json {
                render::pretty(&crate::bgp_adj::adj_json(
                    &table,
                    adj_family(p.action),
                    advertised,
                    filtered,
                    error,
                ))
            } else {
                crate::bgp_adj::adj_text(&table, filtered, error)
            })
        }
        (_, other) => Err(format!("unexpected reply from ternd: {other:?}")),
    }
}

/// The family of a received-routes / advertised-routes command.
fn adj_family(a: Action) -> BgpFamily {
    match a {
        Action::ShowBgpReceivedV6 | Action::ShowBgpAdvertisedV6 => BgpFamily::Ipv6Unicast,
        _ => BgpFamily::Ipv4Unicast,
    }
}

/// ternd's refusal of `clear bgp` without `router bgp` (FRR's words).
const NO_BGP: &str = "No BGP process is configured";

/// `show ip bgp [PREFIX|ADDR]`: a prefix is looked up exactly, an
/// address by longest match, as FRR does.
fn bgp_routes_request(p: &Parsed) -> Result<Request, String> {
    let family = match p.action {
        Action::ShowBgpV6 | Action::ShowBgpRouteV6 => BgpFamily::Ipv6Unicast,
        _ => BgpFamily::Ipv4Unicast,
    };
    let asked_v6 = p
        .prefix
        .map(|n| n.addr().is_ipv6())
        .or(p.addr.map(|a| a.is_ipv6()));
    match (family, asked_v6) {
        (BgpFamily::Ipv4Unicast, Some(true)) => {
            return Err("Cannot specify IPv6 address or prefix with IPv4 AFI".into());
        }
        (BgpFamily::Ipv6Unicast, Some(false)) => {
            return Err("Cannot specify IPv4 address or prefix with IPv6 AFI".into());
        }
        _ => {}
    }
    Ok(match (p.prefix, p.addr) {
        (Some(prefix), _) => Request::ShowBgpRoutes {
            family,
            prefix: Some(prefix),
            longest_match: false,
            stream: false,
        },
        (None, Some(a)) => Request::ShowBgpRoutes {
            family,
            prefix: Some(ipnet::IpNet::from(a)),
            longest_match: true,
            stream: false,
        },
        (None, None) => Request::ShowBgpRoutes {
            family,
            prefix: None,
            longest_match: false,
            stream: false,
        },
    })
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_control::VersionInfo;

    /// A daemon that follows modes as ternd does and records the config
    /// lines it was sent.
    #[derive(Default)]
    struct Fake {
        lines: Vec<String>,
        mode: String,
        refuse_config: bool,
    }

    impl Control for Fake {
        fn request(&mut self, req: &Request) -> Result<Reply, ClientError> {
            Ok(match req {
                Request::ShowVersion => Reply::Version(VersionInfo {
                    version: "0.1.0".into(),
                    hostname: "node1".into(),
                    instance: None,
                    pid: 1,
                    uptime_secs: 0,
                    config_file: "/etc/tern/ternd.conf".into(),
                    counters_attached: Vec::new(),
                }),
                Request::ConfigLine { line } => {
                    self.lines.push(line.clone());
                    if self.refuse_config {
                        return Ok(Reply::Error {
                            message: "not yet".into(),
                        });
                    }
                    let words: Vec<&str> = line.split_whitespace().collect();
                    self.mode = match (self.mode.as_str(), words.as_slice()) {
                        (_, ["router", "bgp", _]) => "config-router",
                        (_, ["interface", _]) => "config-if",
                        (_, ["address-family", ..]) => "config-router-af",
                        ("config-router-af", ["exit" | "exit-address-family"]) => "config-router",
                        (_, ["exit" | "end"]) => "config",
                        (_, ["bogus", ..]) => {
                            return Ok(Reply::Error {
                                message: "unknown command \"bogus\"".into(),
                            });
                        }
                        ("", _) => "config",
                        (m, _) => return Ok(Reply::ConfigApplied { mode: m.into() }),
                    }
                    .into();
                    Reply::ConfigApplied {
                        mode: self.mode.clone(),
                    }
                }
                Request::WriteMemory => Reply::Written {
                    path: "/etc/tern/ternd.conf".into(),
                },
                _ => Reply::Error {
                    message: "not in this fake".into(),
                },
            })
        }
    }

    /// Runs lines; returns the prompt after each, stdout and stderr.
    fn run(s: &mut Session<Fake>, lines: &[&str]) -> (Vec<String>, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let prompts = lines
            .iter()
            .map(|l| {
                s.run_line(l, &mut out, &mut err);
                s.prompt()
            })
            .collect();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (prompts, text(out), text(err))
    }

    #[test]
    fn prompt_per_mode() {
        assert_eq!(Mode::Exec.prompt("node1"), "node1# ");
        for m in ["config", "config-if", "config-router", "config-router-af"] {
            assert_eq!(
                Mode::Config(m.into()).prompt("node1"),
                format!("node1({m})# ")
            );
        }
    }

    #[test]
    fn modes_follow_the_daemon_and_end_returns_to_exec() {
        let mut s = Session::new(Fake::default());
        s.refresh_hostname();
        let (prompts, _, err) = run(
            &mut s,
            &[
                "conf t",
                "router bgp 65001",
                "address-family ipv4 unicast",
                "net 10.0.0.0/24",
                "exit-address-family",
                "bogus line",
                "exit",
                "interface eth1",
                "end",
            ],
        );
        assert_eq!(
            prompts,
            [
                "node1(config)# ",
                "node1(config-router)# ",
                "node1(config-router-af)# ",
                "node1(config-router-af)# ",
                "node1(config-router)# ",
                "node1(config-router)# ",
                "node1(config)# ",
                "node1(config-if)# ",
                "node1# ",
            ]
        );
        assert_eq!(err, "% unknown command \"bogus\"\n");
        // `conf t` is the client's; the abbreviation was spelled out.
        assert_eq!(s.control.lines[2], "network 10.0.0.0/24");
        assert_eq!(s.control.lines.last().map(String::as_str), Some("end"));
    }

    /// An ambiguous line is not half spelled out: it goes to ternd as
    /// typed, whose refusal quotes what was typed.
    #[test]
    fn ambiguous_lines_are_sent_as_typed() {
        let mut s = Session::new(Fake::default());
        run(
            &mut s,
            &[
                "conf t",
                "router bgp 65001",
                "no nei 192.0.2.2 pa",
                "nei 192.0.2.2 rem 65002",
            ],
        );
        assert_eq!(
            s.control.lines[1..],
            ["no nei 192.0.2.2 pa", "neighbor 192.0.2.2 remote-as 65002"]
        );
    }

    #[test]
    fn exit_from_config_sends_end_and_exit_from_exec_ends() {
        let mut s = Session::new(Fake::default());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(
            s.run_line("configure terminal", &mut out, &mut err),
            Outcome::Ok
        );
        assert_eq!(s.run_line("exit", &mut out, &mut err), Outcome::Ok);
        assert_eq!(s.mode(), &Mode::Exec);
        assert_eq!(s.control.lines, ["end"]);
        assert_eq!(s.run_line("exit", &mut out, &mut err), Outcome::Exit);
    }

    #[test]
    fn refused_config_lines_keep_the_mode() {
        let mut s = Session::new(Fake {
            refuse_config: true,
            ..Fake::default()
        });
        let (prompts, _, err) = run(&mut s, &["conf t", "router bgp 65001", "end"]);
        assert_eq!(prompts, ["tern(config)# ", "tern(config)# ", "tern# "]);
        assert_eq!(err, "% not yet\n");
    }

    #[test]
    fn do_and_write_memory() {
        let mut s = Session::new(Fake::default());
        let (_, out, err) = run(
            &mut s,
            &["conf t", "do write", "do", "do exit", "end", "wr mem"],
        );
        assert_eq!(
            out,
            "Building Configuration...\nConfiguration saved to /etc/tern/ternd.conf\n[OK]\n"
                .repeat(2)
        );
        assert_eq!(err, "% Command incomplete: do\n");
        assert_eq!(s.mode(), &Mode::Exec);
        let (_, _, err) = run(&mut s, &["show bogus"]);
        assert_eq!(err, "% Unknown command: show bogus\n");
    }
}
