//! The anchor of the services benchmark: LoadBalancer services as
//! kube-proxy's iptables mode writes them, loaded with iptables-restore
//! into a node's namespace (iptables 1.8.9, nf_tables backend; this kernel
//! has no IPVS).
//!
//! The nat table's layout is kube-proxy's (1.28): PREROUTING and OUTPUT jump
//! to KUBE-SERVICES, which has one rule per service matching its
//! VIP:port, in service order; each jumps to the service's KUBE-EXT chain
//! (external traffic: marked for masquerade under policy cluster, or sent
//! to the KUBE-SVL chain of local endpoints under policy local), then to
//! KUBE-SVC (every endpoint) whose rules pick an endpoint with
//! `-m statistic --mode random --probability 1/k`, and each endpoint's
//! KUBE-SEP chain DNATs to it. KUBE-POSTROUTING masquerades what was marked.
//! The first packet of a connection walks KUBE-SERVICES rule by rule up to
//! its service; conntrack carries the rest. kube-proxy's ClusterIP rule per
//! service (a second KUBE-SERVICES rule) and the NodePort chains are left
//! out: only the VIPs are reached here.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::lab::in_ns;

/// One endpoint of a service: a pod address, its port, and whether the pod
/// runs on the node the rules are for.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    pub addr: Ipv4Addr,
    pub port: u16,
    pub local: bool,
}

/// One LoadBalancer service with one TCP port.
#[derive(Clone, Debug)]
pub struct Svc {
    pub name: String,
    pub vip: Ipv4Addr,
    pub port: u16,
    pub endpoints: Vec<Endpoint>,
    /// externalTrafficPolicy: Local (only local endpoints, no masquerade).
    pub local: bool,
}

/// The pod CIDR of the cluster (kube-proxy's --cluster-cidr).
const CLUSTER_CIDR: &str = "10.244.0.0/16";

/// A chain suffix derived from `text`, 16 characters as kube-proxy's are
/// (it uses base32 of a SHA-256; any stable hash serves here).
fn chain_id(text: &str) -> String {
    // FNV-1a, 64 bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016X}")
}

/// The chains and rules of one service, KUBE-SERVICES' rule separate.
struct Rules {
    chains: Vec<String>,
    portal: String,
    rules: Vec<String>,
}

fn service_rules(s: &Svc) -> Rules {
    let port_name = format!("default/{}:http", s.name);
    let id = chain_id(&format!("{port_name}/tcp"));
    let (svc, ext, svl) = (
        format!("KUBE-SVC-{id}"),
        format!("KUBE-EXT-{id}"),
        format!("KUBE-SVL-{id}"),
    );
    let mut chains = vec![svc.clone(), ext.clone()];
    let portal = format!(
        "-A KUBE-SERVICES -d {}/32 -p tcp -m comment --comment \"{port_name} loadbalancer IP\" -m tcp --dport {} -j {ext}",
        s.vip, s.port
    );
    let mut rules = Vec::new();
    if s.local {
        chains.push(svl.clone());
        rules.push(format!(
            "-A {ext} -s {CLUSTER_CIDR} -m comment --comment \"pod traffic for {port_name} external destinations\" -j {svc}"
        ));
        rules.push(format!(
            "-A {ext} -m comment --comment \"masquerade LOCAL traffic for {port_name} external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"
        ));
        rules.push(format!(
            "-A {ext} -m comment --comment \"route LOCAL traffic for {port_name} external destinations\" -m addrtype --src-type LOCAL -j {svc}"
        ));
        rules.push(format!("-A {ext} -j {svl}"));
    } else {
        rules.push(format!(
            "-A {ext} -m comment --comment \"masquerade traffic for {port_name} external destinations\" -j KUBE-MARK-MASQ"
        ));
        rules.push(format!("-A {ext} -j {svc}"));
    }
    let seps: Vec<(String, &Endpoint)> = s
        .endpoints
        .iter()
        .map(|e| {
            let ep = format!("{}:{}", e.addr, e.port);
            (
                format!("KUBE-SEP-{}", chain_id(&format!("{port_name}/tcp/{ep}"))),
                e,
            )
        })
        .collect();
    let pick = |chain: &str, eps: &[&(String, &Endpoint)], rules: &mut Vec<String>| {
        for (i, (sep, e)) in eps.iter().enumerate() {
            let left = eps.len() - i;
            let ep = format!("{}:{}", e.addr, e.port);
            if left > 1 {
                rules.push(format!(
                    "-A {chain} -m comment --comment \"{port_name} -> {ep}\" -m statistic --mode random --probability {:.11} -j {sep}",
                    1.0 / left as f64
                ));
            } else {
                rules.push(format!(
                    "-A {chain} -m comment --comment \"{port_name} -> {ep}\" -j {sep}"
                ));
            }
        }
    };
    let all: Vec<&(String, &Endpoint)> = seps.iter().collect();
    pick(&svc, &all, &mut rules);
    if s.local {
        let local: Vec<&(String, &Endpoint)> = seps.iter().filter(|(_, e)| e.local).collect();
        pick(&svl, &local, &mut rules);
    }
    for (sep, e) in &seps {
        chains.push(sep.clone());
        rules.push(format!(
            "-A {sep} -s {}/32 -m comment --comment \"{port_name}\" -j KUBE-MARK-MASQ",
            e.addr
        ));
        rules.push(format!(
            "-A {sep} -p tcp -m comment --comment \"{port_name}\" -m tcp -j DNAT --to-destination {}:{}",
            e.addr, e.port
        ));
    }
    Rules {
        chains,
        portal,
        rules,
    }
}

/// kube-proxy's whole ruleset for `services` (filter and nat tables), for
/// a plain iptables-restore that replaces both tables.
pub fn full(services: &[Svc]) -> String {
    let mut out = String::from(
        "*filter\n\
         :KUBE-FORWARD - [0:0]\n\
         -A FORWARD -m comment --comment \"kubernetes forwarding rules\" -j KUBE-FORWARD\n\
         -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n\
         -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x4000/0x4000 -j ACCEPT\n\
         -A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         COMMIT\n\
         *nat\n\
         :KUBE-SERVICES - [0:0]\n\
         :KUBE-POSTROUTING - [0:0]\n\
         :KUBE-MARK-MASQ - [0:0]\n",
    );
    let all: Vec<Rules> = services.iter().map(service_rules).collect();
    for r in &all {
        for c in &r.chains {
            out.push_str(&format!(":{c} - [0:0]\n"));
        }
    }
    out.push_str(
        "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES\n\
         -A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" -j KUBE-POSTROUTING\n\
         -A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\n\
         -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN\n\
         -A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0\n\
         -A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n",
    );
    for r in &all {
        out.push_str(&r.portal);
        out.push('\n');
    }
    for r in &all {
        for l in &r.rules {
            out.push_str(l);
            out.push('\n');
        }
    }
    out.push_str("COMMIT\n");
    out
}

/// One more service for `iptables-restore --noflush`: its new chains and
/// rules, and its KUBE-SERVICES rule appended (`-A`), as an incremental
/// sync that writes only what changed would.
pub fn add_one(s: &Svc) -> String {
    let r = service_rules(s);
    let mut out = String::from("*nat\n");
    for c in &r.chains {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    out.push_str(&r.portal);
    out.push('\n');
    for l in &r.rules {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// One more service as kube-proxy's partial sync (1.27+,
/// MinimizeIPTablesRestore) writes it for `iptables-restore --noflush`:
/// the new service's chains, and KUBE-SERVICES declared again (which
/// flushes it) and rewritten whole, `existing` then `s`.
pub fn partial_sync(existing: &[Svc], s: &Svc) -> String {
    let r = service_rules(s);
    let mut out = String::from("*nat\n:KUBE-SERVICES - [0:0]\n");
    for c in &r.chains {
        out.push_str(&format!(":{c} - [0:0]\n"));
    }
    for e in existing {
        out.push_str(&service_rules(e).portal);
        out.push('\n');
    }
    out.push_str(&r.portal);
    out.push('\n');
    for l in &r.rules {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("COMMIT\n");
    out
}

/// Runs iptables-restore (with `--noflush` when asked) on `text` in
/// namespace `ns`; returns when it started and when it had exited.
pub fn restore(ns: &str, text: &str, noflush: bool) -> Result<(Instant, Instant)> {
    in_ns(ns, || {
        let start = Instant::now();
        let mut cmd = Command::new("iptables-restore");
        if noflush {
            cmd.arg("--noflush");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting iptables-restore (is iptables installed?)")?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .context("writing to iptables-restore")?;
        }
        let out = child
            .wait_with_output()
            .context("waiting for iptables-restore")?;
        let end = Instant::now();
        if !out.status.success() {
            bail!(
                "iptables-restore failed in {ns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((start, end))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(local: bool) -> Svc {
        Svc {
            name: "web".into(),
            vip: Ipv4Addr::new(198, 18, 1, 10),
            port: 80,
            endpoints: vec![
                Endpoint {
                    addr: Ipv4Addr::new(10, 244, 1, 2),
                    port: 8080,
                    local: true,
                },
                Endpoint {
                    addr: Ipv4Addr::new(10, 244, 2, 2),
                    port: 8080,
                    local: false,
                },
            ],
            local,
        }
    }

    #[test]
    fn cluster_policy_masquerades_and_picks_every_endpoint() {
        let text = full(&[svc(false)]);
        let portal = text
            .lines()
            .find(|l| l.starts_with("-A KUBE-SERVICES"))
            .unwrap_or_default();
        assert!(portal.contains("-d 198.18.1.10/32 -p tcp"), "{portal}");
        assert!(portal.contains("--dport 80 -j KUBE-EXT-"), "{portal}");
        let picks: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("-A KUBE-SVC-"))
            .collect();
        assert_eq!(picks.len(), 2, "{text}");
        assert!(picks[0].contains("--probability 0.50000000000"), "{text}");
        assert!(!picks[1].contains("statistic"), "{text}");
        assert_eq!(
            text.lines()
                .filter(|l| l.contains("-j DNAT --to-destination"))
                .count(),
            2
        );
        assert!(text.contains("external destinations\" -j KUBE-MARK-MASQ"));
        assert!(!text.contains("KUBE-SVL-"));
    }

    #[test]
    fn local_policy_sends_to_local_endpoints_only() {
        let text = full(&[svc(true)]);
        let svl: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("-A KUBE-SVL-"))
            .collect();
        assert_eq!(svl.len(), 1, "{text}");
        assert!(svl[0].contains("10.244.1.2:8080"), "{text}");
    }

    #[test]
    fn an_added_service_appends_its_portal() {
        let text = add_one(&svc(false));
        assert!(text.starts_with("*nat\n:KUBE-SVC-"), "{text}");
        assert!(!text.contains(":KUBE-SERVICES"), "{text}");
        assert!(text.ends_with("COMMIT\n"));
        let sync = partial_sync(&[svc(false)], &svc(false));
        assert!(sync.starts_with("*nat\n:KUBE-SERVICES - [0:0]\n"), "{sync}");
        assert_eq!(
            sync.lines()
                .filter(|l| l.starts_with("-A KUBE-SERVICES"))
                .count(),
            2
        );
    }
}
