//! `?` and TAB for the interactive shell: what may come next on a line,
//! printed in vtysh's format, and the completions of the word under the
//! cursor. Works on lists of token patterns: the exec grammar of
//! [`crate::commands`] and the config-mode words of the grammar shared
//! with ternd ([`tern_control::grammar::config`]); [`describe_in_mode`]
//! and [`complete_in_mode`] pick the right one for the shell's mode.
use std::collections::BTreeMap;

use tern_control::grammar::{self, ArgKind, Pattern, Quality, Token, quality};

use crate::{commands, session::Mode};

/// vtysh's indentation of the value list under an argument's help line.
const VALUES_INDENT: usize = 5;

/// The exec grammar as patterns, `json` forms included.
pub fn exec_patterns() -> Vec<Pattern> {
    commands::patterns(commands::COMMANDS)
        .into_iter()
        .map(|(_, _, tokens)| tokens)
        .collect()
}

/// One line of `?`'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelpItem {
    /// The keyword, or the argument's name (`IFNAME`, `A.B.C.D/M`), or `<cr>`.
    pub text: String,
    pub help: String,
    /// Values an argument may take (interface names), listed under it.
    pub values: Vec<String>,
}

/// What `?` says about a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Describe {
    /// What may come next: `<cr>` first, then in byte order, as vtysh does.
    Items(Vec<HelpItem>),
    /// The words typed so far fit no command.
    NoMatch,
}

/// The token a pattern has at word `i`; a trailing LINE takes every word
/// from its position on.
fn token_at(p: &[Token], i: usize) -> Option<Token> {
    match p.get(i) {
        Some(t) => Some(*t),
        None => match p.last() {
            Some(t @ Token::Arg(_, _, ArgKind::Line)) => Some(*t),
            _ => None,
        },
    }
}

/// Whether a pattern is a whole command once `n` words are typed.
fn complete_at(p: &[Token], n: usize) -> bool {
    n == p.len() || (n > p.len() && matches!(p.last(), Some(Token::Arg(_, _, ArgKind::Line))))
}

/// Splits a line into its finished words and the word being typed (empty
/// when the line is empty or ends in a blank), with that word's offset.
fn split(line: &str) -> (Vec<&str>, &str, usize) {
    let mut words: Vec<&str> = line.split_whitespace().collect();
    let ends_in_blank = line.is_empty() || line.ends_with(char::is_whitespace);
    let partial = if ends_in_blank {
        ""
    } else {
        words.pop().unwrap_or("")
    };
    (words, partial, line.len() - partial.len())
}

/// The patterns that still fit after `words`, keeping at each word only the
/// best kind of match (exact keyword, then prefix, then argument) as the
/// matcher does; None when none fits. Ambiguous prefixes keep every match:
/// `?` then lists what may follow any of them, like vtysh.
fn narrow<'a>(patterns: &'a [Pattern], words: &[&str]) -> Option<Vec<&'a Pattern>> {
    let mut live: Vec<&Pattern> = patterns.iter().collect();
    for (i, w) in words.iter().enumerate() {
        let scored: Vec<(Quality, &Pattern)> = live
            .iter()
            .filter_map(|p| Some((quality(token_at(p, i)?, w)?, *p)))
            .collect();
        let best = scored.iter().map(|(q, _)| *q).max()?;
        live = scored
            .into_iter()
            .filter(|(q, _)| *q == best)
            .map(|(_, p)| p)
            .collect();
    }
    Some(live)
}

/// Whether `word` could be the start of a value of `tok` (a prefix of a
/// keyword, or characters an argument of that kind may hold).
fn could_start(tok: Token, word: &str) -> bool {
    let all = |f: fn(char) -> bool| word.chars().all(f);
    let v4 = |c: char| c.is_ascii_digit() || c == '.' || c == '/';
    let v6 = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.' || c == '/';
    match tok {
        Token::Kw(k, _) => k.starts_with(word),
        Token::IfName => true,
        Token::Prefix => all(v6),
        Token::Arg(_, _, kind) => match kind {
            ArgKind::Word | ArgKind::Line | ArgKind::IfName => true,
            ArgKind::Range(..) => all(|c| c.is_ascii_digit()),
            ArgKind::Asn => all(|c| c.is_ascii_digit() || c == '.'),
            ArgKind::Ipv4 | ArgKind::Ipv4Prefix => all(v4),
            ArgKind::Ipv6 | ArgKind::Ipv6Prefix | ArgKind::IpAddr => all(v6),
        },
    }
}

/// Whether a token is an interface name, whose values the daemon knows.
fn is_ifname(tok: Token) -> bool {
    matches!(tok, Token::IfName | Token::Arg(_, _, ArgKind::IfName))
}

/// The rows `?` shows for one token.
fn rows(tok: Token) -> Vec<(&'static str, &'static str)> {
    match tok {
        Token::Kw(k, h) => vec![(k, h)],
        Token::IfName => vec![("IFNAME", "Interface name")],
        Token::Prefix => vec![("A.B.C.D/M", "IPv4 prefix"), ("X:X::X:X/M", "IPv6 prefix")],
        Token::Arg(name, h, _) => vec![(name, h)],
    }
}

/// What `?` typed at the end of `line` lists, over `patterns`. `ifnames`
/// is asked only when an interface name may come next.
pub fn describe(
    patterns: &[Pattern],
    line: &str,
    ifnames: &mut dyn FnMut() -> Vec<String>,
) -> Describe {
    let (words, partial, _) = split(line);
    let Some(live) = narrow(patterns, &words) else {
        return Describe::NoMatch;
    };
    let i = words.len();
    let mut cr = false;
    let mut items: BTreeMap<&str, HelpItem> = BTreeMap::new();
    let mut want_values: Vec<&str> = Vec::new();
    for p in &live {
        if partial.is_empty() && complete_at(p, i) {
            cr = true;
        }
        let Some(tok) = token_at(p, i) else { continue };
        if !could_start(tok, partial) {
            continue;
        }
        for (text, help) in rows(tok) {
            items.entry(text).or_insert_with(|| HelpItem {
                text: text.to_owned(),
                help: help.to_owned(),
                values: Vec::new(),
            });
        }
        if is_ifname(tok) {
            want_values.extend(rows(tok).into_iter().map(|(text, _)| text));
        }
    }
    if !want_values.is_empty() {
        let values: Vec<String> = ifnames()
            .into_iter()
            .filter(|n| n.starts_with(partial))
            .collect();
        for text in want_values {
            if let Some(item) = items.get_mut(text) {
                item.values.clone_from(&values);
            }
        }
    }
    let mut out = Vec::new();
    if cr {
        out.push(HelpItem {
            text: "<cr>".into(),
            help: String::new(),
            values: Vec::new(),
        });
    }
    out.extend(items.into_values());
    if out.is_empty() {
        Describe::NoMatch
    } else {
        Describe::Items(out)
    }
}

/// `?`'s answer as vtysh prints it: two blanks, the word padded to the
/// longest, two blanks, the help text; argument values below, indented by
/// five and wrapped at `cols`.
pub fn render(d: &Describe, cols: usize) -> String {
    let items = match d {
        Describe::NoMatch => return "% There is no matched command.\n".into(),
        Describe::Items(items) => items,
    };
    let width = items.iter().map(|i| i.text.len()).max().unwrap_or(0);
    let mut out = String::new();
    for item in items {
        if item.help.is_empty() {
            out.push_str(&format!("  {}\n", item.text));
        } else {
            out.push_str(&format!("  {:<width$}  {}\n", item.text, item.help));
        }
        if !item.values.is_empty() {
            out.push_str(&values_block(&item.values, cols));
        }
    }
    out
}

/// FRR's list of an argument's values: indented, each followed by a
/// blank, a new line before one that would reach `cols`.
fn values_block(values: &[String], cols: usize) -> String {
    let mut out = " ".repeat(VALUES_INDENT);
    let mut col = VALUES_INDENT;
    for v in values {
        if col + v.len() + 1 >= cols {
            out.push('\n');
            out.push_str(&" ".repeat(VALUES_INDENT));
            col = VALUES_INDENT;
        }
        out.push_str(v);
        out.push(' ');
        col += v.len() + 1;
    }
    out.push('\n');
    out
}

/// TAB: where the word under the cursor starts and the words it may
/// become, sorted (keywords and, where one may come, interface names).
pub fn complete(
    patterns: &[Pattern],
    line: &str,
    ifnames: &mut dyn FnMut() -> Vec<String>,
) -> (usize, Vec<String>) {
    let (words, partial, start) = split(line);
    let Some(live) = narrow(patterns, &words) else {
        return (start, Vec::new());
    };
    let mut out: Vec<String> = Vec::new();
    let mut want_ifnames = false;
    for p in &live {
        match token_at(p, words.len()) {
            Some(Token::Kw(k, _)) if k.starts_with(partial) => out.push(k.to_owned()),
            Some(tok) if is_ifname(tok) => want_ifnames = true,
            _ => {}
        }
    }
    if want_ifnames {
        out.extend(ifnames().into_iter().filter(|n| n.starts_with(partial)));
    }
    out.sort();
    out.dedup();
    (start, out)
}

/// The config line after a leading `do` and its offset in `line`, if the
/// line runs an exec command from config mode.
fn after_do(line: &str) -> Option<(&str, usize)> {
    let lead = line.len() - line.trim_start().len();
    let rest = line[lead..].strip_prefix("do")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let body = rest.trim_start();
    Some((body, line.len() - body.len()))
}

/// `?` in the shell's mode: the exec grammar, or the config mode's words
/// (and the exec grammar after `do`).
pub fn describe_in_mode(
    mode: &Mode,
    line: &str,
    ifnames: &mut dyn FnMut() -> Vec<String>,
) -> Describe {
    match mode {
        Mode::Exec => describe(&exec_patterns(), line, ifnames),
        Mode::Config(m) => match after_do(line) {
            Some((body, _)) => describe(&exec_patterns(), body, ifnames),
            None => describe(grammar::config::patterns(m), line, ifnames),
        },
    }
}

/// TAB in the shell's mode; the start is an offset in `line`.
pub fn complete_in_mode(
    mode: &Mode,
    line: &str,
    ifnames: &mut dyn FnMut() -> Vec<String>,
) -> (usize, Vec<String>) {
    match mode {
        Mode::Exec => complete(&exec_patterns(), line, ifnames),
        Mode::Config(m) => match after_do(line) {
            Some((body, offset)) => {
                let (start, words) = complete(&exec_patterns(), body, ifnames);
                (start + offset, words)
            }
            None => complete(grammar::config::patterns(m), line, ifnames),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["eth1".into(), "eth2".into(), "lo".into()]
    }

    fn help(line: &str) -> String {
        render(&describe(&exec_patterns(), line, &mut names), 80)
    }

    #[test]
    fn show_lists_the_next_words_in_vtysh_format() {
        assert_eq!(
            help("show "),
            "  bfd              Bidirection Forwarding Detection\n\
             \x20 bgp              BGP information\n\
             \x20 datapath         Tern's datapath state\n\
             \x20 egress-gateway   Egress gateway policies, gateways and translations\n\
             \x20 interface        Interface status and configuration\n\
             \x20 ip               IP information\n\
             \x20 ipv6             IPv6 information\n\
             \x20 running-config   running configuration (same as write terminal)\n\
             \x20 segment-routing  Segment-Routing\n\
             \x20 service          Kubernetes-style services\n\
             \x20 version          Displays ternd version\n\
             \x20 vrf              VRF\n"
        );
    }

    #[test]
    fn abbreviated_words_then_interface_names() {
        assert_eq!(
            help("sh int "),
            "  <cr>\n\
             \x20 IFNAME  Interface name\n\
             \x20    eth1 eth2 lo \n\
             \x20 brief   Interface status and configuration summary\n\
             \x20 json    JavaScript Object Notation\n"
        );
        assert_eq!(
            help("show interface eth1 "),
            "  <cr>\n  json  JavaScript Object Notation\n"
        );
    }

    #[test]
    fn partial_word_lists_its_completions() {
        assert_eq!(help("sh"), "  show  Show running system information\n");
        assert_eq!(
            help("show interface e"),
            "  IFNAME  Interface name\n     eth1 eth2 \n"
        );
        // A word no interface starts with: the argument, no values.
        assert_eq!(help("show interface x"), "  IFNAME  Interface name\n");
        assert_eq!(help("show version "), "  <cr>\n");
    }

    #[test]
    fn no_match_and_prefix_arguments() {
        assert_eq!(help("show bogus "), "% There is no matched command.\n");
        assert_eq!(
            help("show version bogus "),
            "% There is no matched command.\n"
        );
        assert_eq!(
            help("service vip add "),
            "  A.B.C.D/M   IPv4 prefix\n  X:X::X:X/M  IPv6 prefix\n"
        );
        assert_eq!(
            help("show datapath "),
            "  <cr>\n\
             \x20 drops      Packets the datapath dropped, by reason\n\
             \x20 endpoints  Pod endpoints registered by tern-cni\n\
             \x20 json       JavaScript Object Notation\n"
        );
    }

    #[test]
    fn top_level_includes_modes_and_write() {
        let h = help("");
        for w in ["configure", "copy", "end", "exit", "quit", "show", "write"] {
            assert!(h.contains(&format!("  {w} ")), "{w} missing:\n{h}");
        }
        assert!(h.contains("Configuration from vty interface"));
    }

    #[test]
    fn values_wrap_at_the_terminal_width() {
        let v: Vec<String> = (0..6).map(|i| format!("veth{i}")).collect();
        assert_eq!(
            values_block(&v, 24),
            "     veth0 veth1 veth2 \n     veth3 veth4 veth5 \n"
        );
    }

    #[test]
    fn tab_completes_words_and_interface_names() {
        let c = |line: &str| complete(&exec_patterns(), line, &mut names);
        assert_eq!(c("sh interf"), (3, vec!["interface".to_owned()]));
        assert_eq!(c("sh"), (0, vec!["show".to_owned()]));
        assert_eq!(
            c("sh i"),
            (
                3,
                vec!["interface".to_owned(), "ip".to_owned(), "ipv6".to_owned()]
            )
        );
        assert_eq!(
            c("show interface "),
            (
                15,
                ["brief", "eth1", "eth2", "json", "lo"]
                    .map(String::from)
                    .to_vec()
            )
        );
        assert_eq!(c("show interface e").1, vec!["eth1", "eth2"]);
        assert_eq!(c("show bogus ").1, Vec::<String>::new());
        assert_eq!(c("conf").1, vec!["configure"]);
    }

    #[test]
    fn interface_names_are_asked_for_only_when_needed() {
        let mut asked = 0;
        let _ = describe(&exec_patterns(), "show ", &mut || {
            asked += 1;
            names()
        });
        assert_eq!(asked, 0);
        let _ = describe(&exec_patterns(), "show interface ", &mut || {
            asked += 1;
            names()
        });
        assert_eq!(asked, 1);
    }

    #[test]
    fn config_mode_words_and_do() {
        let cfg = Mode::Config("config".into());
        let h = render(&describe_in_mode(&cfg, "", &mut names), 80);
        for w in [
            "hostname",
            "interface",
            "router",
            "log",
            "no",
            "exit",
            "end",
            "do",
        ] {
            assert!(h.contains(&format!("  {w} ")), "{w} missing:\n{h}");
        }
        let h = render(&describe_in_mode(&cfg, "router ", &mut names), 80);
        assert_eq!(h, "  bgp  BGP information\n");
        let h = render(&describe_in_mode(&cfg, "do sh", &mut names), 80);
        assert_eq!(h, "  show  Show running system information\n");
        assert_eq!(
            complete_in_mode(&cfg, "do sh ver", &mut names),
            (6, vec!["version".to_owned()])
        );
        assert_eq!(
            complete_in_mode(&cfg, "inter", &mut names),
            (0, vec!["interface".to_owned()])
        );
        let af = Mode::Config("config-router-af".into());
        let h = render(&describe_in_mode(&af, "ne", &mut names), 80);
        assert_eq!(
            h,
            "  neighbor  Specify neighbor router\n  network   Specify a network to announce via BGP\n"
        );
    }
}
