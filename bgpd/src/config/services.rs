//! `service ...` lines of ternd's config: service blocks (`service NAME`,
//! grammar in tern-services), static VIPs (`service vip PREFIX`) and the
//! conntrack timeouts (`service conntrack timeout KIND SECONDS`).
use std::collections::BTreeSet;

use ipnet::IpNet;
use tern_services::{Service, ServiceTable, config as grammar};

use tern_bgp::config::check::Handled;

use super::Config;

/// Conntrack timeouts in seconds (Cilium's defaults).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConntrackTimeouts {
    pub tcp_syn: u32,
    pub tcp_established: u32,
    pub tcp_closing: u32,
    pub other: u32,
}

impl Default for ConntrackTimeouts {
    fn default() -> Self {
        ConntrackTimeouts {
            tcp_syn: 60,
            tcp_established: 6 * 3600,
            tcp_closing: 10,
            other: 60,
        }
    }
}

const TIMEOUT_KINDS: &str = "tcp-syn, tcp-established, tcp-closing or other";

impl ConntrackTimeouts {
    fn slot(&mut self, kind: &str) -> Result<&mut u32, String> {
        Ok(match kind {
            "tcp-syn" => &mut self.tcp_syn,
            "tcp-established" => &mut self.tcp_established,
            "tcp-closing" => &mut self.tcp_closing,
            "other" => &mut self.other,
            _ => return Err(format!("unknown timeout \"{kind}\" ({TIMEOUT_KINDS})")),
        })
    }
}

/// The services' part of [`Config`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServicesConfig {
    /// `service NAME` blocks.
    pub table: ServiceTable,
    /// `service vip PREFIX`: announced whatever the services (what
    /// `service vip add` adds).
    pub vips: BTreeSet<IpNet>,
    /// `service conntrack timeout KIND SECONDS`.
    pub timeouts: ConntrackTimeouts,
}

/// A static VIP must be a host route.
pub fn check_vip(p: &IpNet) -> Result<(), String> {
    if p.prefix_len() != p.max_prefix_len() {
        return Err(format!(
            "a VIP is a host route (/{}): {p}",
            p.max_prefix_len()
        ));
    }
    Ok(())
}

/// A top-level `service ...` or `no service ...` line. Returns the name
/// of the service whose block the line opens, if it opens one.
pub(crate) fn apply_top(
    config: &mut Config,
    words: &[&str],
) -> Result<(Handled, Option<String>), String> {
    let s = &mut config.services;
    match words {
        ["service", "vip", prefix] => {
            let p: IpNet = prefix
                .parse()
                .map_err(|_| format!("\"{prefix}\" is not a prefix"))?;
            check_vip(&p)?;
            s.vips.insert(p.trunc());
        }
        ["no", "service", "vip", prefix] => {
            let p: IpNet = prefix
                .parse()
                .map_err(|_| format!("\"{prefix}\" is not a prefix"))?;
            if !s.vips.remove(&p) {
                return Err(format!("VIP {p} is not configured"));
            }
        }
        ["service", "conntrack", "timeout", kind, secs] => {
            let v: u32 = secs
                .parse()
                .ok()
                .filter(|v| (1..=7 * 86400).contains(v))
                .ok_or_else(|| format!("timeout \"{secs}\": 1 to 604800 seconds"))?;
            *s.timeouts.slot(kind)? = v;
        }
        ["no", "service", "conntrack", "timeout", kind, ..] => {
            let default = *ConntrackTimeouts::default().slot(kind)?;
            *s.timeouts.slot(kind)? = default;
        }
        ["service", "conntrack", ..] => {
            return Err(format!(
                "usage: service conntrack timeout {TIMEOUT_KINDS} SECONDS"
            ));
        }
        ["service", name] => {
            let name =
                grammar::parse_header(&format!("service {name}")).map_err(|e| e.to_string())?;
            if s.table.get(&name).is_none() {
                s.table
                    .upsert(Service::new(name.clone()))
                    .map_err(|e| e.to_string())?;
            }
            return Ok((Handled::Yes, Some(name)));
        }
        ["no", "service", name] => {
            s.table.delete(name).map_err(|e| e.to_string())?;
        }
        ["service"] => return Err("service needs a name".into()),
        ["service", ..] => {
            return Err(
                "usage: service NAME | service vip PREFIX | service conntrack timeout KIND SECONDS"
                    .into(),
            );
        }
        _ => return Ok((Handled::No, None)),
    }
    Ok((Handled::Yes, None))
}

/// A line inside `service NAME`: applied to a copy, which must still be a
/// valid service that owns its frontends, else nothing changes.
pub(crate) fn apply_sub(config: &mut Config, name: &str, line: &str) -> Result<Handled, String> {
    let Some(svc) = config.services.table.get(name) else {
        return Ok(Handled::No);
    };
    let mut svc = svc.clone();
    let mut words = line.split_whitespace();
    let first = match words.next() {
        Some("no") => words.next(),
        w => w,
    };
    match grammar::parse_sub_line(&mut svc, line) {
        Ok(()) => {}
        // A command the block does not know may be a top-level one (vtysh
        // leaves the sub-mode for it).
        Err(tern_services::ServiceError::UnknownWord { word, .. })
            if Some(word.as_str()) == first =>
        {
            return Ok(Handled::No);
        }
        Err(e) => return Err(e.to_string()),
    }
    config
        .services
        .table
        .upsert(svc)
        .map_err(|e| e.to_string())?;
    Ok(Handled::Yes)
}

/// The `service` lines of the running config.
pub fn render(s: &ServicesConfig, out: &mut String) {
    for v in &s.vips {
        out.push_str(&format!("service vip {v}\n"));
    }
    let d = ConntrackTimeouts::default();
    for (kind, v, dv) in [
        ("tcp-syn", s.timeouts.tcp_syn, d.tcp_syn),
        (
            "tcp-established",
            s.timeouts.tcp_established,
            d.tcp_established,
        ),
        ("tcp-closing", s.timeouts.tcp_closing, d.tcp_closing),
        ("other", s.timeouts.other, d.other),
    ] {
        if v != dv {
            out.push_str(&format!("service conntrack timeout {kind} {v}\n"));
        }
    }
    if !s.vips.is_empty() || s.timeouts != d {
        out.push_str("!\n");
    }
    for svc in s.table.iter() {
        for l in grammar::render(svc) {
            out.push_str(&l);
            out.push('\n');
        }
        out.push_str("!\n");
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigSession};

    const TEXT: &str = "\
service vip 198.51.100.100/32
service conntrack timeout other 5
!
service web
 frontend 198.51.100.10 port 80 tcp
 frontend 2001:db8:100::10 port 80 tcp
 backend 10.244.1.5 port 8080
 backend 10.244.2.7 port 8080 weight 2 state terminating
 external-traffic-policy local
 source-range 192.0.2.0/24
exit
!
";

    #[test]
    fn service_lines_parse_render_and_read_back() {
        let c = Config::parse("t", TEXT).expect("valid");
        let web = c.services.table.get("web").expect("service web");
        assert_eq!(web.frontends.len(), 2);
        assert_eq!(web.backends.len(), 2);
        assert_eq!(c.services.timeouts.other, 5);
        assert_eq!(c.services.vips.len(), 1);
        let text = c.render();
        assert!(
            text.contains("service web\n frontend 198.51.100.10 port 80 tcp\n"),
            "{text}"
        );
        let again = Config::parse("running", &text).expect("rendered config parses");
        assert_eq!(again, c);
    }

    #[test]
    fn bad_service_lines_are_refused_and_change_nothing() {
        let mut c = Config::parse("t", TEXT).expect("valid");
        let before = c.clone();
        let mut s = ConfigSession::default();
        s.apply(&mut c, "service web").expect("enter the block");
        assert_eq!(s.mode().prompt_name(), "config-service");
        for (bad, why) in [
            ("frontend 198.51.100.10 port 0 tcp", "port"),
            ("backend 10.244.1.5 port 8080 weight 500", "weight"),
            ("algorithm maglev table-size 1000", "not a prime"),
            ("source-range 192.0.2.1/24", "host bits"),
            ("frontend 198.51.100.10 port 80 sctp", "sctp"),
            ("no backend 10.9.9.9 port 1", "not configured"),
        ] {
            let e = s.apply(&mut c, bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
            assert_eq!(c, before, "{bad}");
        }
        // A frontend another service owns.
        s.apply(&mut c, "service other").expect("new service");
        let e = s
            .apply(&mut c, "frontend 198.51.100.10 port 80 tcp")
            .expect_err("taken");
        assert!(e.contains("web"), "{e}");
        // Top-level lines leave the block, as in vtysh.
        s.apply(&mut c, "hostname n1").expect("top level");
        assert_eq!(s.mode().prompt_name(), "config");
        for bad in [
            "service vip 198.51.100.0/24",
            "service conntrack timeout forever 5",
            "service conntrack timeout other 0",
            "no service nosuch",
            "service bad/name",
        ] {
            assert!(s.apply(&mut c, bad).is_err(), "{bad}");
        }
    }
}
