//! The words a command pattern is made of, and how a typed word matches
//! one, with vtysh's rules: a keyword may be shortened to any prefix, an
//! exact keyword beats a prefix, and a prefix beats a free argument.
//! The bottom layer of the grammar: the config tables, the expansion of
//! abbreviations and the shell's exec matcher and `?`/TAB all use it.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One word of a command pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Token {
    /// A keyword and its help text.
    Kw(&'static str, &'static str),
    /// An interface name.
    IfName,
    /// An IPv4 or IPv6 prefix (A.B.C.D/M, X:X::X:X/M).
    Prefix,
    /// Any other argument: its name as vtysh shows it (`WORD`,
    /// `(1-255)`, `A.B.C.D`), its help text, and what it accepts.
    Arg(&'static str, &'static str, ArgKind),
}

/// What an [`Token::Arg`] accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// One word.
    Word,
    /// The rest of the line, however many words (`description LINE`).
    Line,
    /// An interface name, under the name and help text given.
    IfName,
    /// A number in this inclusive range.
    Range(u64, u64),
    /// An AS number, asplain or asdot.
    Asn,
    Ipv4,
    Ipv6,
    Ipv4Prefix,
    Ipv6Prefix,
    /// An IPv4 or IPv6 address.
    IpAddr,
}

/// One command's tokens, in order.
pub type Pattern = Vec<Token>;

/// How well a word matches a token; higher wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Quality {
    /// An argument takes the word.
    Var,
    /// The word is a shortened keyword.
    Partial,
    /// The word is the keyword.
    Exact,
}

/// How `word` matches `tok`, if at all.
pub fn quality(tok: Token, word: &str) -> Option<Quality> {
    match tok {
        Token::Kw(k, _) if k == word => Some(Quality::Exact),
        Token::Kw(k, _) if k.starts_with(word) => Some(Quality::Partial),
        Token::Kw(..) => None,
        Token::IfName => is_ifname(word).then_some(Quality::Var),
        Token::Prefix => word.parse::<ipnet::IpNet>().is_ok().then_some(Quality::Var),
        Token::Arg(_, _, kind) => arg_matches(kind, word).then_some(Quality::Var),
    }
}

/// A plausible Linux interface name.
fn is_ifname(word: &str) -> bool {
    !word.is_empty() && word.len() <= 15 && !word.contains('/')
}

/// Whether an argument of `kind` takes `word`.
fn arg_matches(kind: ArgKind, word: &str) -> bool {
    match kind {
        ArgKind::Word | ArgKind::Line => !word.is_empty(),
        ArgKind::IfName => is_ifname(word),
        ArgKind::Range(lo, hi) => word.parse::<u64>().is_ok_and(|n| (lo..=hi).contains(&n)),
        ArgKind::Asn => {
            let plain = word.parse::<u32>().is_ok_and(|n| n > 0);
            let dot = word
                .split_once('.')
                .is_some_and(|(a, b)| a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok());
            plain || dot
        }
        ArgKind::Ipv4 => word.parse::<Ipv4Addr>().is_ok(),
        ArgKind::Ipv6 => word.parse::<Ipv6Addr>().is_ok(),
        ArgKind::Ipv4Prefix => word.parse::<ipnet::Ipv4Net>().is_ok(),
        ArgKind::Ipv6Prefix => word.parse::<ipnet::Ipv6Net>().is_ok(),
        ArgKind::IpAddr => word.parse::<IpAddr>().is_ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_prefix_beats_argument() {
        let kw = Token::Kw("neighbor", "");
        assert_eq!(quality(kw, "neighbor"), Some(Quality::Exact));
        assert_eq!(quality(kw, "nei"), Some(Quality::Partial));
        assert_eq!(quality(kw, "neighbors"), None);
        let asn = Token::Arg("(1-4294967295)", "", ArgKind::Asn);
        assert_eq!(quality(asn, "65001"), Some(Quality::Var));
        assert_eq!(quality(asn, "1.10"), Some(Quality::Var));
        assert_eq!(quality(asn, "0"), None);
        let range = Token::Arg("(1-255)", "", ArgKind::Range(1, 255));
        assert_eq!(quality(range, "256"), None);
        assert!(Quality::Exact > Quality::Partial && Quality::Partial > Quality::Var);
    }
}
