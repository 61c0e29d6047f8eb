//! Abbreviated config lines spelled out, as FRR's matcher reads them:
//! `nei 192.0.2.2 rem 65002` is `neighbor 192.0.2.2 remote-as 65002` in
//! frr.conf, over vtysh and in `tern` alike. The shell spells a line out
//! before it sends it, and ternd before it parses it, so a line typed
//! abbreviated, sent raw over the socket or written in the config file
//! means the same.
//!
//! Like FRR, a mode's own words are tried first and its parents' only when
//! the line is no whole command of the mode; a word that shortens keywords
//! of more than one whole command is ambiguous, and that is not retried in
//! the parent modes. A line no mode completes (free text past the tables,
//! a word they do not know, a line cut short) has its unambiguous words
//! spelled out and the rest kept byte for byte, for ternd's parser to judge.
use super::{
    config,
    token::{ArgKind, Pattern, Quality, Token, quality},
};

/// A line with a word that shortens keywords of more than one command it
/// could be (FRR's `% Ambiguous command`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Ambiguous command: {typed}")]
pub struct Ambiguous {
    /// Which word (0-based).
    pub word: usize,
    /// The line as typed up to and including that word; not past it,
    /// where a secret (a password) could follow.
    pub typed: String,
    /// The keywords the word could be, sorted.
    pub keywords: Vec<&'static str>,
}

/// `line` with each word typed as a unique prefix of a keyword spelled out,
/// read in config mode `mode` (as ternd names it) and the modes it falls
/// back to. Everything else is kept byte for byte.
pub fn expand(mode: &str, line: &str) -> Result<String, Ambiguous> {
    let words = words_at(line);
    let mut all = Vec::new();
    let mut m = Some(mode);
    while let Some(name) = m {
        let own = config::patterns(name);
        let n = narrow(own, &words);
        let complete = n.complete(words.len());
        if !complete.is_empty() {
            return spell_out(line, &words[..n.seen], &complete, true);
        }
        all.extend(own.iter().cloned());
        m = config::parent(name);
    }
    let n = narrow(&all, &words);
    spell_out(line, &words[..n.seen], &n.live, false)
}

/// The patterns that fit the first words of a line.
struct Narrowed<'a> {
    /// The patterns left, each the best kind of match at every word.
    live: Vec<&'a Pattern>,
    /// How many words were matched: all of them, or up to a word no
    /// pattern takes, or up to and including the start of a free text.
    seen: usize,
}

impl Narrowed<'_> {
    /// The patterns that are a whole command of a line of `n` words.
    fn complete(&self, n: usize) -> Vec<&Pattern> {
        self.live
            .iter()
            .copied()
            .filter(|p| {
                p.len() == self.seen
                    && (self.seen == n || matches!(p.last(), Some(Token::Arg(_, _, ArgKind::Line))))
            })
            .collect()
    }
}

/// Matches words left to right, keeping at each the best kind of match
/// (exact keyword, then prefix, then argument), as the matcher does.
fn narrow<'a>(patterns: &'a [Pattern], words: &[(usize, &str)]) -> Narrowed<'a> {
    let mut live: Vec<&Pattern> = patterns.iter().collect();
    let mut seen = 0;
    for (i, (_, word)) in words.iter().enumerate() {
        let scored: Vec<(Quality, &Pattern)> = live
            .iter()
            .filter_map(|p| Some((quality(*p.get(i)?, word)?, *p)))
            .collect();
        let Some(best) = scored.iter().map(|(q, _)| *q).max() else {
            break;
        };
        live = scored
            .into_iter()
            .filter(|(q, _)| *q == best)
            .map(|(_, p)| p)
            .collect();
        seen = i + 1;
        if live
            .iter()
            .any(|p| matches!(p.get(i), Some(Token::Arg(_, _, ArgKind::Line))))
        {
            break;
        }
    }
    Narrowed { live, seen }
}

/// `line` with each of `words` spelled out where every pattern in
/// `candidates` has the same keyword there (`ro bgp` is `router bgp`:
/// `route-map` needs a name, not the keyword `bgp`, and loses on it).
/// With `strict` (the candidates are whole commands), a word that could
/// be two keywords makes the line ambiguous.
fn spell_out(
    line: &str,
    words: &[(usize, &str)],
    candidates: &[&Pattern],
    strict: bool,
) -> Result<String, Ambiguous> {
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    for (i, &(at, word)) in words.iter().enumerate() {
        let mut keywords: Vec<&'static str> = candidates
            .iter()
            .filter_map(|p| match p.get(i) {
                Some(Token::Kw(k, _)) => Some(*k),
                _ => None,
            })
            .collect();
        keywords.sort_unstable();
        keywords.dedup();
        if !candidates
            .iter()
            .all(|p| matches!(p.get(i), Some(Token::Kw(..))))
        {
            continue;
        }
        match keywords.as_slice() {
            [k] if *k != word => {
                out.push_str(&line[copied..at]);
                out.push_str(k);
                copied = at + word.len();
            }
            [_, _, ..] if strict => {
                return Err(Ambiguous {
                    word: i,
                    typed: line[..at + word.len()].to_owned(),
                    keywords,
                });
            }
            _ => {}
        }
    }
    out.push_str(&line[copied..]);
    Ok(out)
}

/// The words of a line with their byte offsets.
fn words_at(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                out.push((s, &line[s..i]));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &line[s..]));
    }
    out
}

#[cfg(test)]
mod tests {
    /// The line spelled out; these lines are not ambiguous.
    fn expand(mode: &str, line: &str) -> String {
        super::expand(mode, line).unwrap_or_else(|e| panic!("{mode}: {line}: {e}"))
    }

    #[test]
    fn abbreviations_are_spelled_out() {
        assert_eq!(
            expand("config-router", "nei 192.0.2.2 rem 65002"),
            "neighbor 192.0.2.2 remote-as 65002"
        );
        assert_eq!(expand("config", "ro bgp 65001"), "router bgp 65001");
        assert_eq!(
            expand("config", "route-m TOR-IN perm 10"),
            "route-map TOR-IN permit 10"
        );
        assert_eq!(
            expand("config", "ip prefix-l PODS seq 5 per 10.244.0.0/16 le 24"),
            "ip prefix-list PODS seq 5 permit 10.244.0.0/16 le 24"
        );
        assert_eq!(
            expand("config-route-map", "set local 300"),
            "set local-preference 300"
        );
        assert_eq!(
            expand("config-route-map", "ma ip add prefix-l PODS"),
            "match ip address prefix-list PODS"
        );
        assert_eq!(
            expand("config-router-af", "nei 192.0.2.0 route-m IN in"),
            "neighbor 192.0.2.0 route-map IN in"
        );
        assert_eq!(expand("config", "log std deb"), "log stdout debugging");
        assert_eq!(expand("config", "int eth1"), "interface eth1");
        assert_eq!(
            expand("config-router-af", "agg 10.0.0.0/8 summ as-s"),
            "aggregate-address 10.0.0.0/8 summary-only as-set"
        );
        assert_eq!(
            expand("config-router", "nei 192.0.2.0 ttl-sec hop 1"),
            "neighbor 192.0.2.0 ttl-security hops 1"
        );
        assert_eq!(
            expand("config-router", "nei 192.0.2.0 path-att disc 240 35"),
            "neighbor 192.0.2.0 path-attribute discard 240 35"
        );
        assert_eq!(
            expand("config-router", "no nei TORS path-att treat 240"),
            "no neighbor TORS path-attribute treat-as-withdraw 240"
        );
        assert_eq!(
            expand("config-router", "nei TORS peer-g"),
            "neighbor TORS peer-group"
        );
        assert_eq!(
            expand("config-router", "bgp lis ra 192.0.2.0/24 peer-g TORS"),
            "bgp listen range 192.0.2.0/24 peer-group TORS"
        );
        assert_eq!(
            expand("config-router", "bgp lis lim 10"),
            "bgp listen limit 10"
        );
        assert_eq!(
            expand("config-router-af", "nei TORS act"),
            "neighbor TORS activate"
        );
        assert_eq!(
            expand("config-router", "bgp best as-p multipath-r"),
            "bgp bestpath as-path multipath-relax"
        );
        assert_eq!(
            expand("config-router", "no bgp best as-p mul"),
            "no bgp bestpath as-path multipath-relax"
        );
        assert_eq!(
            expand("config-router", "bgp log-n"),
            "bgp log-neighbor-changes"
        );
        assert_eq!(
            expand("config-router", "no bgp ebgp-r"),
            "no bgp ebgp-requires-policy"
        );
        assert_eq!(expand("config-router", "tim bgp 10 30"), "timers bgp 10 30");
        assert_eq!(
            expand("config-router-af", "nei 192.0.2.2 send-c la"),
            "neighbor 192.0.2.2 send-community large"
        );
        assert_eq!(
            expand("config-router", "nei TORS send-c"),
            "neighbor TORS send-community"
        );
        assert_eq!(expand("config", "en"), "end");
        assert_eq!(
            expand("config-router-af", "net 10.0.0.0/24"),
            "network 10.0.0.0/24"
        );
        // Words of the parent modes too, as ternd falls back to them.
        assert_eq!(expand("config-router-af", "int eth1"), "interface eth1");
        assert_eq!(expand("config", "datap mo vx"), "datapath mode vxlan");
        assert_eq!(expand("config", "no datap mo"), "no datapath mode");
        assert_eq!(
            expand("config-router", "datap cluster 10.244.0.0/16"),
            "datapath cluster-cidr 10.244.0.0/16"
        );
        assert_eq!(
            expand("config", "datap node 192.0.2.0/24"),
            "datapath node-prefix 192.0.2.0/24"
        );
        assert_eq!(
            expand("config", "no datap node 2001:db8::/48"),
            "no datapath node-prefix 2001:db8::/48"
        );
        assert_eq!(
            expand("config", "egr pol legacy-db"),
            "egress-gateway policy legacy-db"
        );
        assert_eq!(
            expand("config", "no egr nat time tcp-e"),
            "no egress-gateway nat timeout tcp-established"
        );
        assert_eq!(
            expand("config", "egr nat port 2000 2999"),
            "egress-gateway nat port-range 2000 2999"
        );
        assert_eq!(
            expand("config-egress-gw", "ma so 10.244.0.0/16"),
            "match source 10.244.0.0/16"
        );
        assert_eq!(
            expand("config-egress-gw", "ma name finance"),
            "match namespace finance"
        );
        assert_eq!(
            expand("config-egress-gw", "dest 192.0.2.128/25"),
            "destination 192.0.2.128/25"
        );
        assert_eq!(
            expand("config-egress-gw", "no ex 192.0.2.200/32"),
            "no exclude 192.0.2.200/32"
        );
        assert_eq!(
            expand("config-egress-gw", "gat 198.51.100.12 eg 203.0.113.10"),
            "gateway 198.51.100.12 egress-ip 203.0.113.10"
        );
        // Top-level words from inside the block, as ternd falls back.
        assert_eq!(expand("config-egress-gw", "hostn n1"), "hostname n1");
    }

    /// Lines of an FRR leaf: profiles, per-family neighbor lines,
    /// static routes and log destinations.
    #[test]
    fn frr_leaf_lines_are_spelled_out() {
        assert_eq!(expand("config", "frr def dat"), "frr defaults datacenter");
        assert_eq!(
            expand("config-router", "nei 192.0.2.2 allow 2"),
            "neighbor 192.0.2.2 allowas-in 2"
        );
        assert_eq!(
            expand("config-router-af", "no nei TORS next-hop-s f"),
            "no neighbor TORS next-hop-self force"
        );
        assert_eq!(
            expand("config-router-af", "nei 192.0.2.2 soft in"),
            "neighbor 192.0.2.2 soft-reconfiguration inbound"
        );
        assert_eq!(
            expand("config-router", "bgp ebgp-r"),
            "bgp ebgp-requires-policy"
        );
        assert_eq!(
            expand("config", "ip ro 10.0.0.0/8 Nu 250"),
            "ip route 10.0.0.0/8 Null0 250"
        );
        assert_eq!(
            expand("config", "no ipv6 ro 2001:db8::/32 black"),
            "no ipv6 route 2001:db8::/32 blackhole"
        );
        assert_eq!(
            expand("config", "log fi /var/log/t.log inf"),
            "log file /var/log/t.log informational"
        );
        assert_eq!(expand("config", "log sys err"), "log syslog errors");
    }

    #[test]
    fn free_text_and_unknown_words_are_kept() {
        assert_eq!(
            expand("config-if", "desc  uplink   to  tor1 "),
            "description  uplink   to  tor1 "
        );
        assert_eq!(
            expand("config-router", "neighbor 192.0.2.2 desc  a  b"),
            "neighbor 192.0.2.2 description  a  b"
        );
        // Cut short, or a word the tables do not take: left for the
        // daemon to judge.
        assert_eq!(expand("config-router-af", "nei"), "neighbor");
        assert_eq!(expand("config", "hostname ro"), "hostname ro");
    }

    #[test]
    fn bfd_words_are_spelled_out() {
        assert_eq!(expand("config", "bf"), "bfd");
        assert_eq!(
            expand("config-bfd", "pe 192.0.2.1 mul local 192.0.2.0"),
            "peer 192.0.2.1 multihop local-address 192.0.2.0"
        );
        assert_eq!(
            expand("config-bfd", "pe 192.0.2.1 int eth1"),
            "peer 192.0.2.1 interface eth1"
        );
        assert_eq!(expand("config-bfd-peer", "rec 200"), "receive-interval 200");
        assert_eq!(expand("config-bfd-peer", "det 5"), "detect-multiplier 5");
        assert_eq!(expand("config-bfd-peer", "no shut"), "no shutdown");
        assert_eq!(
            expand("config-router", "nei 192.0.2.2 bf"),
            "neighbor 192.0.2.2 bfd"
        );
    }

    /// FRR refuses a word that shortens keywords of two whole commands,
    /// naming the line up to that word; a line no command completes is
    /// left to the parser.
    #[test]
    fn ambiguous_words_are_refused() {
        let err = super::expand("config", "e").expect_err("end or exit");
        assert_eq!(err.to_string(), "Ambiguous command: e");
        assert_eq!(err.keywords, ["end", "exit"]);
        let err = super::expand("config-router", "no nei TORS pa").expect_err("three");
        assert_eq!(err.word, 3);
        assert_eq!(err.keywords, ["passive", "password", "path-attribute"]);
        // Only `password` takes a word after it: not ambiguous, and the
        // secret is never echoed.
        assert_eq!(
            expand("config-router", "nei TORS pass s3cret"),
            "neighbor TORS password s3cret"
        );
        let err = super::expand("config-router-af", "ex").expect_err("two");
        assert_eq!(err.keywords, ["exit", "exit-address-family"]);
        // Cut short (FRR: incomplete): left as typed.
        assert_eq!(expand("config-router-af", "ne"), "ne");
        // A whole command of one of the two wins (FRR picks the only
        // complete match).
        assert_eq!(
            expand("config-router-af", "ne 10.0.0.0/24"),
            "network 10.0.0.0/24"
        );
    }

    /// A mode's own words first, its parent's only when the line is no
    /// whole command of the mode (FRR's node, then its parent).
    #[test]
    fn the_mode_before_its_parents() {
        assert_eq!(expand("config-router-af", "int eth1"), "interface eth1");
        assert_eq!(expand("config-bfd-peer", "shut"), "shutdown");
        assert_eq!(expand("config-service", "ho n1"), "hostname n1");
    }
}
