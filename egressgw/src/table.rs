//! The policy table ternd holds: every egress gateway policy by name, each
//! with its policy id, and the rules that keep policies from contradicting
//! each other (see [`crate`] for the precedence rule they protect).
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::EgressError;
use crate::hash::{fmix64, fnv1a64};
use crate::model::{Family, Policy};

/// Most policies the table holds.
pub const MAX_POLICIES: usize = 4096;
/// Largest policy id: ids are 24 bits (the tunnel carries them as the
/// VNI), never 0.
pub const MAX_POLICY_ID: u32 = 0x00ff_ffff;

/// What an upsert or a delete did to one policy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    Added(String),
    Updated(String),
    Removed(String),
    /// Upserted as it already was.
    Unchanged(String),
}

impl Change {
    /// The policy's name.
    pub fn name(&self) -> &str {
        match self {
            Change::Added(n) | Change::Updated(n) | Change::Removed(n) | Change::Unchanged(n) => n,
        }
    }
}

/// Who claims what: the prefixes (destinations and excludes) and egress IPs
/// of a set of policies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Index {
    /// Destination or exclude prefix -> the policies that have it.
    prefixes: BTreeMap<IpNet, BTreeSet<String>>,
    /// Egress IP -> policy -> the gateway node serving it there.
    egress: BTreeMap<IpAddr, BTreeMap<String, IpAddr>>,
}

impl Index {
    fn add(&mut self, p: &Policy) {
        for net in p.destinations.iter().chain(&p.excludes) {
            self.prefixes
                .entry(*net)
                .or_default()
                .insert(p.name.clone());
        }
        for g in &p.gateways {
            self.egress
                .entry(g.egress_ip)
                .or_default()
                .insert(p.name.clone(), g.node);
        }
    }

    fn remove(&mut self, p: &Policy) {
        for net in p.destinations.iter().chain(&p.excludes) {
            if let Some(names) = self.prefixes.get_mut(net) {
                names.remove(&p.name);
                if names.is_empty() {
                    self.prefixes.remove(net);
                }
            }
        }
        for g in &p.gateways {
            if let Some(users) = self.egress.get_mut(&g.egress_ip) {
                users.remove(&p.name);
                if users.is_empty() {
                    self.egress.remove(&g.egress_ip);
                }
            }
        }
    }

    /// Whether `p` contradicts a policy of the index that `counts` (looked
    /// up with `get`): an egress IP served from another node, or a prefix
    /// the other has too while both may select the same pods.
    fn check<'a>(
        &self,
        p: &Policy,
        get: impl Fn(&str) -> Option<&'a Policy>,
        counts: impl Fn(&str) -> bool,
    ) -> Result<(), EgressError> {
        for g in &p.gateways {
            let Some(users) = self.egress.get(&g.egress_ip) else {
                continue;
            };
            for (owner, node) in users {
                if *owner != p.name && counts(owner) && *node != g.node {
                    return Err(EgressError::EgressIpInUse {
                        egress_ip: g.egress_ip,
                        node: *node,
                        owner: owner.clone(),
                    });
                }
            }
        }
        let mine = p
            .destinations
            .iter()
            .map(|n| ("destination", n))
            .chain(p.excludes.iter().map(|n| ("exclude", n)));
        for (what, prefix) in mine {
            let Some(names) = self.prefixes.get(prefix) else {
                continue;
            };
            for name in names {
                if *name == p.name || !counts(name) {
                    continue;
                }
                let Some(other) = get(name) else {
                    continue;
                };
                if let Some(why) = common_selection(p, other, Family::of_net(prefix)) {
                    let other_what = if other.destinations.contains(prefix) {
                        "a destination"
                    } else {
                        "an exclude"
                    };
                    return Err(EgressError::Ambiguous {
                        what,
                        prefix: *prefix,
                        other_what,
                        other: other.name.clone(),
                        why,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Why `a` and `b` may both select one pod of `family`, or None if they
/// cannot: a pod is selected by both when its address can lie in a match
/// source of each (or either matches any source) and its namespace can be a
/// match namespace of each (or either matches any namespace).
pub(crate) fn common_selection(a: &Policy, b: &Policy, family: Family) -> Option<String> {
    if !a.may_select_family(family) || !b.may_select_family(family) {
        return None;
    }
    let sources = match (a.match_sources.is_empty(), b.match_sources.is_empty()) {
        (true, true) => "neither matches by source".to_owned(),
        (true, false) | (false, true) => "one of them matches any source".to_owned(),
        (false, false) => {
            let (sa, sb) = a.match_sources.iter().find_map(|sa| {
                b.match_sources
                    .iter()
                    .find(|sb| sa.contains(*sb) || sb.contains(sa))
                    .map(|sb| (sa, sb))
            })?;
            if sa == sb {
                format!("both match source {sa}")
            } else {
                format!("match sources {sa} and {sb} overlap")
            }
        }
    };
    let namespaces = match (a.match_namespaces.is_empty(), b.match_namespaces.is_empty()) {
        (true, true) => "neither matches by namespace".to_owned(),
        (true, false) | (false, true) => "one of them matches any namespace".to_owned(),
        (false, false) => {
            let ns = a
                .match_namespaces
                .iter()
                .find(|ns| b.match_namespaces.contains(ns))?;
            format!("both match namespace {ns}")
        }
    };
    Some(format!("{sources}, {namespaces}"))
}

/// The id a policy named `name` would like: a hash of the name in
/// `1..=MAX_POLICY_ID`.
fn home_id(name: &str) -> u32 {
    let h = fmix64(fnv1a64(name.as_bytes()));
    (h % u64::from(MAX_POLICY_ID)) as u32 + 1
}

/// Ids for `names`: in name order, each takes its home id or the next free
/// one after it (wrapping, skipping 0). The ids depend only on the set of
/// names, so every node with the same policies has the same ids, and a
/// policy's id changes only when a new name takes its place, which needs two
/// names with one home among at most [`MAX_POLICIES`] of 2^24.
/// `reserved` (when not 0) is never given: the datapath's own VNI, which
/// the tunnel must tell apart from the policies' ids.
fn assign_ids<'a>(names: impl Iterator<Item = &'a String>, reserved: u32) -> BTreeMap<String, u32> {
    assign_ids_with(names, home_id, reserved)
}

/// [`assign_ids`] with another home function (tests force collisions).
fn assign_ids_with<'a>(
    names: impl Iterator<Item = &'a String>,
    home: impl Fn(&str) -> u32,
    reserved: u32,
) -> BTreeMap<String, u32> {
    let mut taken = HashSet::new();
    if reserved != 0 {
        taken.insert(reserved);
    }
    let mut ids = BTreeMap::new();
    for name in names {
        let mut id = home(name);
        while !taken.insert(id) {
            id = if id >= MAX_POLICY_ID { 1 } else { id + 1 };
        }
        ids.insert(name.clone(), id);
    }
    ids
}

/// Every egress gateway policy of the node, by name, with its id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyTable {
    policies: BTreeMap<String, Policy>,
    /// Policy id by name (a function of the set of names and `reserved`).
    ids: BTreeMap<String, u32>,
    /// The id no policy gets (0: none).
    reserved: u32,
    index: Index,
}

impl PolicyTable {
    pub fn new() -> PolicyTable {
        PolicyTable::default()
    }

    /// Keeps `id` from every policy (0: none): the datapath's VNI, since a
    /// policy's traffic travels the tunnel with the policy's id as its VNI.
    /// Ids may change (every node with the same VNI and policies agrees).
    pub fn set_reserved_id(&mut self, id: u32) {
        if self.reserved != id {
            self.reserved = id;
            self.ids = assign_ids(self.policies.keys(), id);
        }
    }

    /// Adds or replaces `policy`. It must pass [`Policy::validate`] and
    /// contradict no other policy: no egress IP served from another node,
    /// no prefix that another policy has while both may select the same pods.
    /// The table is unchanged on error.
    pub fn upsert(&mut self, policy: Policy) -> Result<Change, EgressError> {
        policy.validate().map_err(|e| e.in_policy(&policy.name))?;
        if !self.policies.contains_key(&policy.name) && self.policies.len() >= MAX_POLICIES {
            return Err(EgressError::TooManyPolicies {
                count: self.policies.len() + 1,
            });
        }
        self.index
            .check(&policy, |n| self.policies.get(n), |_| true)
            .map_err(|e| e.in_policy(&policy.name))?;
        let change = self.commit_upsert(policy);
        if matches!(change, Change::Added(_)) {
            self.ids = assign_ids(self.policies.keys(), self.reserved);
        }
        Ok(change)
    }

    /// Removes the policy `name`, which must be there.
    pub fn delete(&mut self, name: &str) -> Result<Change, EgressError> {
        if !self.policies.contains_key(name) {
            return Err(EgressError::UnknownPolicy(name.to_owned()));
        }
        let change = self.commit_delete(name);
        self.ids = assign_ids(self.policies.keys(), self.reserved);
        Ok(change)
    }

    /// Applies a set of changes all or nothing: `delete` removes policies
    /// (each must be there), `upsert` adds or replaces policies, and with
    /// `replace_all` every policy not in `upsert` is removed too (the
    /// orchestrator's full resync). On any error nothing changes.
    ///
    /// The rules between policies are checked against the table as it will
    /// be, so one call can move a prefix or an egress IP from a policy to
    /// another. The changes come back removals first (in name order), then
    /// one per upserted policy in the order given.
    pub fn apply(
        &mut self,
        upsert: Vec<Policy>,
        delete: Vec<String>,
        replace_all: bool,
    ) -> Result<Vec<Change>, EgressError> {
        // Check everything first.
        let mut upserted: HashSet<&str> = HashSet::with_capacity(upsert.len());
        for p in &upsert {
            if !upserted.insert(&p.name) {
                return Err(EgressError::PolicyGivenTwice(p.name.clone()));
            }
            p.validate().map_err(|e| e.in_policy(&p.name))?;
        }
        let mut deleted: BTreeSet<&str> = BTreeSet::new();
        for name in &delete {
            if upserted.contains(name.as_str()) {
                return Err(EgressError::UpsertAndDelete(name.clone()));
            }
            if !self.policies.contains_key(name) {
                return Err(EgressError::UnknownPolicy(name.clone()));
            }
            if !deleted.insert(name) {
                return Err(EgressError::PolicyGivenTwice(name.clone()));
            }
        }
        // A policy stays as it is unless upserted, deleted or swept away.
        let stays =
            |name: &str| !replace_all && !upserted.contains(name) && !deleted.contains(name);
        let count = self.policies.keys().filter(|n| stays(n)).count() + upsert.len();
        if count > MAX_POLICIES {
            return Err(EgressError::TooManyPolicies { count });
        }
        let by_name: BTreeMap<&str, &Policy> =
            upsert.iter().map(|p| (p.name.as_str(), p)).collect();
        let mut incoming = Index::default();
        for p in &upsert {
            // Against the policies that stay...
            self.index
                .check(p, |n| self.policies.get(n), stays)
                .map_err(|e| e.in_policy(&p.name))?;
            // ...and against the upserted ones before it.
            incoming
                .check(p, |n| by_name.get(n).copied(), |_| true)
                .map_err(|e| e.in_policy(&p.name))?;
            incoming.add(p);
        }

        // Then change.
        let mut removed: BTreeSet<String> = deleted.iter().map(|&n| n.to_owned()).collect();
        if replace_all {
            removed.extend(
                self.policies
                    .keys()
                    .filter(|n| !upserted.contains(n.as_str()))
                    .cloned(),
            );
        }
        let mut changes = Vec::with_capacity(removed.len() + upsert.len());
        for name in removed {
            changes.push(self.commit_delete(&name));
        }
        // Take every upserted policy's old claims out before adding the new
        // ones, so that claims can move between them.
        for p in &upsert {
            if let Some(old) = self.policies.get(&p.name) {
                self.index.remove(old);
            }
        }
        for p in upsert {
            changes.push(self.commit_upsert_released(p));
        }
        self.ids = assign_ids(self.policies.keys(), self.reserved);
        Ok(changes)
    }

    /// The policy `name`.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies.get(name)
    }

    /// The id of the policy `name`.
    pub fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// Every policy, in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// Every policy with its id, in name order.
    pub fn iter_with_ids(&self) -> impl Iterator<Item = (u32, &Policy)> {
        self.policies
            .iter()
            .map(|(name, p)| (self.ids.get(name).copied().unwrap_or(0), p))
    }

    pub fn len(&self) -> usize {
        self.policies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
    }

    /// Stores a checked policy (its index entries not yet released).
    fn commit_upsert(&mut self, policy: Policy) -> Change {
        if let Some(old) = self.policies.get(&policy.name) {
            if *old == policy {
                return Change::Unchanged(policy.name);
            }
            let old = old.clone();
            self.index.remove(&old);
        }
        self.commit_upsert_released(policy)
    }

    /// Stores a checked policy whose old version, if any, is out of the index.
    fn commit_upsert_released(&mut self, policy: Policy) -> Change {
        let name = policy.name.clone();
        self.index.add(&policy);
        match self.policies.insert(name.clone(), policy) {
            None => Change::Added(name),
            Some(old) if self.policies.get(&name) == Some(&old) => Change::Unchanged(name),
            Some(_) => Change::Updated(name),
        }
    }

    /// Removes a policy that is there.
    fn commit_delete(&mut self, name: &str) -> Change {
        if let Some(old) = self.policies.remove(name) {
            self.index.remove(&old);
        }
        Change::Removed(name.to_owned())
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
