//! Routing policy with FRR's semantics: prefix-lists, standard
//! community-lists and route-maps, and their evaluation against one route.
//! Pure: the configuration layer builds a [`Policy`], the RIB asks it about
//! each route it imports from or exports to a peer that has a route-map.
//!
//! Evaluation (as FRR's `route_map_apply`): the entries of a route-map are
//! tried in sequence order; the first whose every `match` holds decides: a
//! `deny` entry refuses the route, a `permit` entry applies its `set`s and
//! accepts it. A route no entry matches is refused, and so is every route
//! given to a route-map that is not defined. A prefix-list or
//! community-list that is not defined matches nothing.
use std::collections::BTreeMap;

use ipnet::IpNet;
use tern_bgp_wire::Community;

use crate::attrs::PathAttrs;

/// `permit` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Permit,
    Deny,
}

impl Action {
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Permit => "permit",
            Action::Deny => "deny",
        }
    }
}

/// One line of an `ip prefix-list` / `ipv6 prefix-list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixListEntry {
    pub action: Action,
    /// The prefix to match; `any` is the family's default route with `le`
    /// set to the family's full length.
    pub prefix: IpNet,
    /// Written as `any`.
    pub any: bool,
    /// `ge N`: shortest length matched (default: the prefix's own length).
    pub ge: Option<u8>,
    /// `le N`: longest length matched (default: `ge`'s maximum, or exact).
    pub le: Option<u8>,
}

impl PrefixListEntry {
    /// Whether `route` falls in this entry's prefix and length range.
    pub fn matches(&self, route: &IpNet) -> bool {
        let same_family = matches!(
            (route, &self.prefix),
            (IpNet::V4(_), IpNet::V4(_)) | (IpNet::V6(_), IpNet::V6(_))
        );
        if !same_family {
            return false;
        }
        let len = route.prefix_len();
        if len < self.prefix.prefix_len() || !self.prefix.contains(&route.network()) {
            return false;
        }
        let (lo, hi) = match (self.ge, self.le) {
            (None, None) => (self.prefix.prefix_len(), self.prefix.prefix_len()),
            (ge, le) => (
                ge.unwrap_or(self.prefix.prefix_len()),
                le.unwrap_or(self.prefix.max_prefix_len()),
            ),
        };
        (lo..=hi).contains(&len)
    }
}

/// Entries by sequence number: a prefix-list or a community-list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeqList<E> {
    pub entries: BTreeMap<u32, E>,
}

impl<E> Default for SeqList<E> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<E> SeqList<E> {
    /// The sequence number FRR gives an entry written without one: the
    /// next multiple of 5 above the highest.
    pub fn next_seq(&self) -> u32 {
        self.entries
            .keys()
            .next_back()
            .map_or(5, |s| (s / 5 + 1).saturating_mul(5))
    }
}

/// An `ip prefix-list NAME` (or ipv6).
pub type PrefixList = SeqList<PrefixListEntry>;

impl PrefixList {
    /// The action of the first entry matching `route`; no match is a deny.
    pub fn permits(&self, route: &IpNet) -> bool {
        self.entries
            .values()
            .find(|e| e.matches(route))
            .is_some_and(|e| e.action == Action::Permit)
    }
}

/// One line of a `bgp community-list standard NAME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommunityListEntry {
    pub action: Action,
    /// The route must carry all of these.
    pub communities: Vec<Community>,
}

/// A standard community-list.
pub type CommunityList = SeqList<CommunityListEntry>;

impl CommunityList {
    /// Whether the list permits a route carrying `have`. With `exact`, a
    /// permitting entry must name exactly the route's set.
    pub fn permits(&self, have: &[Community], exact: bool) -> bool {
        let hit = self
            .entries
            .values()
            .find(|e| e.communities.iter().all(|c| have.contains(c)));
        match hit {
            Some(e) if e.action == Action::Permit => {
                !exact || have.iter().all(|c| e.communities.contains(c))
            }
            _ => false,
        }
    }
}

/// `set community ...`
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetCommunity {
    /// The route's communities become these (plus its own with `additive`).
    Values {
        communities: Vec<Community>,
        additive: bool,
    },
    /// `set community none`: all removed.
    None,
}

/// One `route-map NAME permit|deny SEQ` entry. Each kind of match and set
/// appears at most once (a second line of a kind replaces the first, as in
/// FRR).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteMapEntry {
    pub action: Action,
    /// `match ip address prefix-list NAME`.
    pub match_prefix_v4: Option<String>,
    /// `match ipv6 address prefix-list NAME`.
    pub match_prefix_v6: Option<String>,
    /// `match community NAME [exact-match]`.
    pub match_community: Option<(String, bool)>,
    /// `set local-preference N`.
    pub set_local_pref: Option<u32>,
    /// `set metric N`.
    pub set_metric: Option<u32>,
    pub set_community: Option<SetCommunity>,
    /// `set as-path prepend ASN...`: in the order written.
    pub set_prepend: Option<Vec<u32>>,
}

impl RouteMapEntry {
    pub fn new(action: Action) -> Self {
        Self {
            action,
            match_prefix_v4: None,
            match_prefix_v6: None,
            match_community: None,
            set_local_pref: None,
            set_metric: None,
            set_community: None,
            set_prepend: None,
        }
    }

    fn has_sets(&self) -> bool {
        self.set_local_pref.is_some()
            || self.set_metric.is_some()
            || self.set_community.is_some()
            || self.set_prepend.is_some()
    }
}

/// A `route-map NAME`: entries by sequence number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMap {
    pub entries: BTreeMap<u32, RouteMapEntry>,
}

/// What a route-map made of a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Deny,
    /// Accepted with its attributes as they were.
    Unchanged,
    /// Accepted with these attributes.
    Changed(Box<PathAttrs>),
}

/// Every policy object of a configuration, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub prefix_lists_v4: BTreeMap<String, PrefixList>,
    pub prefix_lists_v6: BTreeMap<String, PrefixList>,
    pub community_lists: BTreeMap<String, CommunityList>,
    pub route_maps: BTreeMap<String, RouteMap>,
}

impl Policy {
    /// Runs route-map `name` on the route `prefix` with attributes `attrs`.
    pub fn apply(&self, name: &str, prefix: &IpNet, attrs: &PathAttrs) -> Outcome {
        let Some(map) = self.route_maps.get(name) else {
            return Outcome::Deny;
        };
        let Some(entry) = map
            .entries
            .values()
            .find(|e| self.matches(e, prefix, attrs))
        else {
            return Outcome::Deny;
        };
        if entry.action == Action::Deny {
            return Outcome::Deny;
        }
        if !entry.has_sets() {
            return Outcome::Unchanged;
        }
        let mut out = attrs.clone();
        apply_sets(entry, &mut out);
        if out == *attrs {
            Outcome::Unchanged
        } else {
            Outcome::Changed(Box::new(out))
        }
    }

    /// Whether route-map `name` looks at the prefix (a prefix-list match):
    /// if not, its outcome depends on the attributes alone, and exports
    /// through it may be shared between prefixes with the same attributes.
    pub fn reads_prefix(&self, name: &str) -> bool {
        self.route_maps.get(name).is_some_and(|m| {
            m.entries
                .values()
                .any(|e| e.match_prefix_v4.is_some() || e.match_prefix_v6.is_some())
        })
    }

    fn matches(&self, e: &RouteMapEntry, prefix: &IpNet, attrs: &PathAttrs) -> bool {
        let in_list = |lists: &BTreeMap<String, PrefixList>, name: &String| {
            lists.get(name).is_some_and(|l| l.permits(prefix))
        };
        if let Some(name) = &e.match_prefix_v4
            && !(matches!(prefix, IpNet::V4(_)) && in_list(&self.prefix_lists_v4, name))
        {
            return false;
        }
        if let Some(name) = &e.match_prefix_v6
            && !(matches!(prefix, IpNet::V6(_)) && in_list(&self.prefix_lists_v6, name))
        {
            return false;
        }
        if let Some((name, exact)) = &e.match_community
            && !self
                .community_lists
                .get(name)
                .is_some_and(|l| l.permits(&attrs.communities, *exact))
        {
            return false;
        }
        true
    }
}

fn apply_sets(e: &RouteMapEntry, a: &mut PathAttrs) {
    if let Some(lp) = e.set_local_pref {
        a.local_pref = Some(lp);
    }
    if let Some(m) = e.set_metric {
        a.med = Some(m);
    }
    match &e.set_community {
        Some(SetCommunity::None) => a.communities.clear(),
        Some(SetCommunity::Values {
            communities,
            additive,
        }) => {
            if !additive {
                a.communities.clear();
            }
            a.communities.extend(communities.iter().copied());
            a.communities.sort_unstable();
            a.communities.dedup();
        }
        None => {}
    }
    if let Some(asns) = &e.set_prepend {
        for asn in asns.iter().rev() {
            a.as_path = crate::attrs::prepend(&a.as_path, *asn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// seq, action, prefix, ge, le.
    type Line<'a> = (u32, Action, &'a str, Option<u8>, Option<u8>);

    fn pl(lines: &[Line<'_>]) -> PrefixList {
        PrefixList {
            entries: lines
                .iter()
                .map(|(s, a, p, ge, le)| {
                    (
                        *s,
                        PrefixListEntry {
                            action: *a,
                            prefix: p.parse().unwrap(),
                            any: false,
                            ge: *ge,
                            le: *le,
                        },
                    )
                })
                .collect(),
        }
    }

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn prefix_list_lengths_follow_frr() {
        let exact = pl(&[(5, Action::Permit, "10.0.0.0/8", None, None)]);
        assert!(exact.permits(&net("10.0.0.0/8")));
        assert!(!exact.permits(&net("10.1.0.0/16")), "exact length only");
        let le = pl(&[(5, Action::Permit, "10.0.0.0/8", None, Some(24))]);
        assert!(le.permits(&net("10.0.0.0/8")));
        assert!(le.permits(&net("10.1.2.0/24")));
        assert!(!le.permits(&net("10.1.2.0/25")));
        assert!(!le.permits(&net("11.0.0.0/8")));
        let ge = pl(&[(5, Action::Permit, "10.0.0.0/8", Some(24), None)]);
        assert!(!ge.permits(&net("10.1.0.0/16")));
        assert!(ge.permits(&net("10.1.2.0/24")));
        assert!(ge.permits(&net("10.1.2.3/32")));
        // First match wins; no match is a deny.
        let mixed = pl(&[
            (5, Action::Deny, "10.1.0.0/16", None, Some(32)),
            (10, Action::Permit, "10.0.0.0/8", None, Some(32)),
        ]);
        assert!(!mixed.permits(&net("10.1.1.0/24")));
        assert!(mixed.permits(&net("10.2.1.0/24")));
        assert!(!mixed.permits(&net("192.0.2.0/24")));
        assert!(!mixed.permits(&net("2001:db8::/32")), "other family");
    }

    #[test]
    fn next_sequence_numbers_step_by_five() {
        let mut l = PrefixList::default();
        assert_eq!(l.next_seq(), 5);
        l = pl(&[(5, Action::Permit, "10.0.0.0/8", None, None)]);
        assert_eq!(l.next_seq(), 10);
        l = pl(&[(12, Action::Permit, "10.0.0.0/8", None, None)]);
        assert_eq!(l.next_seq(), 15);
    }

    fn policy() -> Policy {
        let mut p = Policy::default();
        p.prefix_lists_v4.insert(
            "PODS".into(),
            pl(&[(5, Action::Permit, "10.244.0.0/16", None, Some(24))]),
        );
        let mut cl = CommunityList::default();
        cl.entries.insert(
            5,
            CommunityListEntry {
                action: Action::Permit,
                communities: vec![Community::new(65000, 100)],
            },
        );
        p.community_lists.insert("GOLD".into(), cl);
        let mut rm = RouteMap::default();
        let mut e10 = RouteMapEntry::new(Action::Permit);
        e10.match_community = Some(("GOLD".into(), false));
        e10.set_local_pref = Some(300);
        rm.entries.insert(10, e10);
        let mut e20 = RouteMapEntry::new(Action::Permit);
        e20.match_prefix_v4 = Some("PODS".into());
        e20.set_metric = Some(50);
        e20.set_community = Some(SetCommunity::Values {
            communities: vec![Community::new(65001, 1)],
            additive: true,
        });
        e20.set_prepend = Some(vec![65001, 65001]);
        rm.entries.insert(20, e20);
        rm.entries.insert(30, RouteMapEntry::new(Action::Deny));
        p.route_maps.insert("IN".into(), rm);
        p
    }

    #[test]
    fn route_map_first_matching_entry_decides() {
        let p = policy();
        let mut gold = PathAttrs::local();
        gold.communities = vec![Community::new(65000, 100)];
        match p.apply("IN", &net("192.0.2.0/24"), &gold) {
            Outcome::Changed(a) => assert_eq!(a.local_pref, Some(300)),
            o => panic!("{o:?}"),
        }
        let plain = PathAttrs::local();
        match p.apply("IN", &net("10.244.1.0/24"), &plain) {
            Outcome::Changed(a) => {
                assert_eq!(a.med, Some(50));
                assert_eq!(a.communities, vec![Community::new(65001, 1)]);
                assert_eq!(a.as_path.path_length(), 2);
                assert_eq!(a.as_path.first_as(), Some(65001));
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            p.apply("IN", &net("192.0.2.0/24"), &plain),
            Outcome::Deny,
            "falls to seq 30 deny"
        );
        assert_eq!(
            p.apply("IN", &net("2001:db8::/32"), &plain),
            Outcome::Deny,
            "an ip prefix-list match fails on IPv6"
        );
        assert_eq!(
            p.apply("NOPE", &net("10.244.1.0/24"), &plain),
            Outcome::Deny,
            "an undefined route-map refuses everything"
        );
    }

    #[test]
    fn community_list_exact_match_and_set_none() {
        let p = policy();
        let list = &p.community_lists["GOLD"];
        let gold = Community::new(65000, 100);
        let other = Community::new(65000, 200);
        assert!(list.permits(&[gold, other], false));
        assert!(!list.permits(&[gold, other], true));
        assert!(list.permits(&[gold], true));
        assert!(!list.permits(&[other], false));
        let mut e = RouteMapEntry::new(Action::Permit);
        e.set_community = Some(SetCommunity::None);
        let mut a = PathAttrs::local();
        a.communities = vec![gold];
        apply_sets(&e, &mut a);
        assert!(a.communities.is_empty());
    }
}
