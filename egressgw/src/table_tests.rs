//! Tests of the policy table: upsert and delete, the rules between policies
//! (one owner per prefix and pod, one node per egress IP), all-or-nothing
//! apply, and policy ids.
use super::*;
use crate::config::parse_sub_line;
use crate::model::Gateway;
use crate::testgen::{self, Rng};

fn policy(name: &str, lines: &[&str]) -> Policy {
    let mut p = Policy::new(name);
    for l in lines {
        parse_sub_line(&mut p, l).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    p
}

fn legacy_db() -> Policy {
    policy(
        "legacy-db",
        &[
            "match source 10.244.0.0/16",
            "match namespace finance",
            "destination 192.0.2.128/25",
            "exclude 192.0.2.200/32",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ],
    )
}

/// The index matches the policies exactly.
fn check_index(t: &PolicyTable) {
    let mut expected = Index::default();
    for p in t.iter() {
        expected.add(p);
    }
    assert_eq!(t.index, expected);
    assert_eq!(t.ids, assign_ids(t.policies.keys(), t.reserved));
}

#[test]
fn upsert_and_delete() {
    let mut t = PolicyTable::new();
    assert!(t.is_empty());
    let db = legacy_db();
    assert_eq!(
        t.upsert(db.clone()).unwrap(),
        Change::Added("legacy-db".into())
    );
    assert_eq!(
        t.upsert(db.clone()).unwrap(),
        Change::Unchanged("legacy-db".into())
    );
    let mut db2 = db.clone();
    db2.destinations.push("198.18.0.0/15".parse().unwrap());
    assert_eq!(
        t.upsert(db2.clone()).unwrap(),
        Change::Updated("legacy-db".into())
    );
    assert_eq!(t.get("legacy-db"), Some(&db2));
    assert_eq!(t.len(), 1);
    check_index(&t);

    // An invalid policy: refused with its name, the table unchanged.
    let bad = policy("bad", &["destination 192.0.2.0/24", "exclude 192.0.2.0/24"]);
    let before = t.clone();
    assert_eq!(
        t.upsert(bad).unwrap_err().to_string(),
        "policy bad: exclude 192.0.2.0/24 is also a destination (remove the destination instead)"
    );
    assert_eq!(t, before);

    assert_eq!(
        t.delete("legacy-db").unwrap(),
        Change::Removed("legacy-db".into())
    );
    assert_eq!(
        t.delete("legacy-db").unwrap_err().to_string(),
        "no egress-gateway policy named legacy-db"
    );
    assert!(t.is_empty());
    check_index(&t);
    assert_eq!(t, PolicyTable::default());
}

#[test]
fn one_policy_per_prefix_and_pod() {
    let mut t = PolicyTable::new();
    t.upsert(legacy_db()).unwrap();
    // Same destination, pods both may select: refused, saying why.
    let hr_too = policy(
        "other",
        &[
            "match source 10.244.1.0/24",
            "destination 192.0.2.128/25",
            "gateway 198.51.100.13 egress-ip 203.0.113.11",
        ],
    );
    assert_eq!(
        t.upsert(hr_too).unwrap_err().to_string(),
        "policy other: destination 192.0.2.128/25 is also a destination of policy legacy-db, \
         and both may select the same pods (match sources 10.244.1.0/24 and 10.244.0.0/16 overlap, \
         one of them matches any namespace): which one takes that traffic would be undecided"
    );
    // The same prefix as an exclude of the other: refused too.
    let as_exclude = policy(
        "other",
        &["match namespace finance", "destination 192.0.2.200/32"],
    );
    assert_eq!(
        t.upsert(as_exclude).unwrap_err().to_string(),
        "policy other: destination 192.0.2.200/32 is also an exclude of policy legacy-db, \
         and both may select the same pods (one of them matches any source, \
         both match namespace finance): which one takes that traffic would be undecided"
    );
    // Selections that cannot meet share prefixes freely: other namespaces,
    // disjoint sources, or sources of the other family only.
    for (name, lines) in [
        (
            "hr",
            &["match namespace hr", "destination 192.0.2.128/25"] as &[&str],
        ),
        (
            "elsewhere",
            &[
                "match source 10.245.0.0/16",
                "match namespace finance",
                "destination 192.0.2.128/25",
            ],
        ),
        (
            "v6-pods",
            &[
                "match source fd00::/64",
                "destination 192.0.2.128/25",
                "destination 2001:db8::/32",
            ],
        ),
        // A policy that selects nothing yet.
        ("draft", &["destination 192.0.2.128/25"]),
        // A longer or shorter prefix: the longest match decides.
        (
            "narrower",
            &["match namespace finance", "destination 192.0.2.192/26"],
        ),
        (
            "wider",
            &["match namespace finance", "destination 192.0.2.0/24"],
        ),
    ] {
        t.upsert(policy(name, lines))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // Namespace matches meeting by name, source any: refused.
    assert!(
        t.upsert(policy(
            "hr2",
            &["match namespace hr", "destination 192.0.2.128/25"]
        ))
        .unwrap_err()
        .to_string()
        .contains("(neither matches by source, both match namespace hr)")
    );
    // A policy may be changed in place without tripping over itself.
    let mut db = legacy_db();
    db.excludes.clear();
    t.upsert(db).unwrap();
    check_index(&t);
}

#[test]
fn one_node_per_egress_ip() {
    let mut t = PolicyTable::new();
    t.upsert(legacy_db()).unwrap();
    let other = policy(
        "other",
        &[
            "match namespace hr",
            "destination 198.18.0.0/15",
            "gateway 198.51.100.13 egress-ip 203.0.113.10",
        ],
    );
    assert_eq!(
        t.upsert(other).unwrap_err().to_string(),
        "policy other: egress-ip 203.0.113.10 is served by gateway 198.51.100.12 in policy legacy-db"
    );
    // The same node may serve the same egress IP for another policy.
    let shared = policy(
        "other",
        &[
            "match namespace hr",
            "destination 198.18.0.0/15",
            "gateway 198.51.100.12 egress-ip 203.0.113.10",
        ],
    );
    t.upsert(shared).unwrap();
    check_index(&t);
}

#[test]
fn apply_is_all_or_nothing() {
    let mut t = PolicyTable::new();
    let hr = policy(
        "hr",
        &[
            "match namespace hr",
            "destination 198.18.0.0/15",
            "gateway 198.51.100.13 egress-ip 203.0.113.11",
        ],
    );
    assert_eq!(
        t.apply(vec![legacy_db(), hr.clone()], vec![], false)
            .unwrap(),
        [
            Change::Added("legacy-db".into()),
            Change::Added("hr".into())
        ]
    );
    let before = t.clone();
    let clash = policy(
        "clash",
        &["match namespace finance", "destination 192.0.2.128/25"],
    );
    for (upsert, delete, replace_all, message) in [
        (
            vec![hr.clone(), hr.clone()],
            vec![],
            false,
            "policy hr is given twice",
        ),
        (
            vec![hr.clone()],
            vec!["hr".to_owned()],
            false,
            "policy hr is both upserted and deleted",
        ),
        (
            vec![],
            vec!["legacy-db".to_owned(), "legacy-db".to_owned()],
            false,
            "policy legacy-db is given twice",
        ),
        (
            vec![],
            vec!["nope".to_owned()],
            false,
            "no egress-gateway policy named nope",
        ),
        (
            vec![policy("ok", &["destination 10.0.0.0/8"]), {
                policy("bad", &["destination 10.0.0.0/8", "exclude 11.0.0.0/8"])
            }],
            vec!["hr".to_owned()],
            false,
            "policy bad: exclude 11.0.0.0/8 lies in no destination of the policy",
        ),
        // Against a policy that stays.
        (
            vec![clash.clone()],
            vec!["hr".to_owned()],
            false,
            "policy clash: destination 192.0.2.128/25 is also a destination of policy legacy-db, \
             and both may select the same pods (one of them matches any source, both match namespace finance): \
             which one takes that traffic would be undecided",
        ),
        // Between two upserted policies.
        (
            vec![
                clash.clone(),
                policy(
                    "clash2",
                    &["match source 10.244.7.0/24", "destination 192.0.2.128/25"],
                ),
            ],
            vec!["legacy-db".to_owned()],
            false,
            "policy clash2: destination 192.0.2.128/25 is also a destination of policy clash, \
             and both may select the same pods (one of them matches any source, one of them matches any namespace): \
             which one takes that traffic would be undecided",
        ),
        (
            vec![policy(
                "steal",
                &[
                    "destination 10.0.0.0/8",
                    "gateway 198.51.100.99 egress-ip 203.0.113.11",
                ],
            )],
            vec![],
            false,
            "policy steal: egress-ip 203.0.113.11 is served by gateway 198.51.100.13 in policy hr",
        ),
    ] {
        let e = t.apply(upsert, delete, replace_all).unwrap_err();
        assert_eq!(e.to_string(), message);
        assert_eq!(t, before, "{message}");
    }

    // Against the table as it will be: a prefix and an egress IP move from
    // a deleted policy to a new one in one call.
    let mut taker = clash.clone();
    taker.name = "taker".into();
    taker.gateways.push(Gateway::new(
        "198.51.100.99".parse().unwrap(),
        "203.0.113.11".parse().unwrap(),
    ));
    let mut moved = t.clone();
    assert_eq!(
        moved
            .apply(
                vec![taker.clone()],
                vec!["legacy-db".into(), "hr".into()],
                false
            )
            .unwrap(),
        [
            Change::Removed("hr".into()),
            Change::Removed("legacy-db".into()),
            Change::Added("taker".into())
        ]
    );
    check_index(&moved);
    // Or between two upserted policies.
    let mut swapped = t.clone();
    let mut db = legacy_db();
    db.destinations[0] = "192.0.2.0/25".parse().unwrap();
    db.excludes.clear();
    let mut hr2 = hr.clone();
    hr2.match_namespaces = vec!["finance".into()];
    hr2.destinations = vec!["192.0.2.128/25".parse().unwrap()];
    hr2.excludes.clear();
    swapped.apply(vec![db, hr2], vec![], false).unwrap();
    check_index(&swapped);

    // replace_all: everything not upserted goes.
    let changes = t.apply(vec![hr.clone()], vec![], true).unwrap();
    assert_eq!(
        changes,
        [
            Change::Removed("legacy-db".into()),
            Change::Unchanged("hr".into())
        ]
    );
    assert_eq!(t.len(), 1);
    check_index(&t);
    // ...and nothing with nothing.
    t.apply(vec![], vec![], true).unwrap();
    assert!(t.is_empty());
    check_index(&t);
}

#[test]
fn table_limit() {
    let mut t = PolicyTable::new();
    let many: Vec<Policy> = (0..MAX_POLICIES)
        .map(|i| Policy::new(format!("p{i}")))
        .collect();
    t.apply(many, vec![], false).unwrap();
    assert_eq!(
        t.upsert(Policy::new("one-more")).unwrap_err().to_string(),
        "4097 policies: the table holds at most 4096"
    );
    assert_eq!(
        t.apply(vec![Policy::new("one-more")], vec![], false)
            .unwrap_err()
            .to_string(),
        "4097 policies: the table holds at most 4096"
    );
    // Replacing one that is there is fine; so is a swap in one call.
    t.upsert(Policy::new("p0")).unwrap();
    t.apply(vec![Policy::new("one-more")], vec!["p1".into()], false)
        .unwrap();
    // Every id distinct, in range, not 0.
    let ids: HashSet<u32> = t.iter_with_ids().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), MAX_POLICIES);
    assert!(ids.iter().all(|&id| (1..=MAX_POLICY_ID).contains(&id)));
    check_index(&t);
}

#[test]
fn ids_depend_on_names_only() {
    let mut rng = Rng(0x1d5_0000_0001);
    let names: Vec<String> = (0..300).map(|i| format!("policy-{i}")).collect();
    let mut a = PolicyTable::new();
    for n in &names {
        a.upsert(Policy::new(n.clone())).unwrap();
    }
    // Another order, with detours: the same ids.
    let mut shuffled = names.clone();
    rng.shuffle(&mut shuffled);
    let mut b = PolicyTable::new();
    b.upsert(Policy::new("detour")).unwrap();
    for n in &shuffled {
        b.upsert(Policy::new(n.clone())).unwrap();
    }
    b.delete("detour").unwrap();
    assert_eq!(a, b);
    // Among 300 names in 2^24 ids, none shares a home: each has its home.
    for n in &names {
        assert_eq!(a.id(n), Some(home_id(n)), "{n}");
    }
    // Ids stay when others come and go (no collision among these names).
    let before: Vec<u32> = names.iter().filter_map(|n| a.id(n)).collect();
    a.upsert(Policy::new("newcomer")).unwrap();
    a.delete("policy-7").unwrap();
    for (n, id) in names.iter().zip(&before) {
        if n != "policy-7" {
            assert_eq!(a.id(n), Some(*id), "{n}");
        }
    }
    assert_eq!(a.id("policy-7"), None);
    // Collisions are resolved in name order: the first name keeps the
    // home, the next take the following ids, wrapping past the largest to
    // 1, never 0.
    let names: Vec<String> = ["c", "a", "b"].iter().map(|s| s.to_string()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    let ids = assign_ids_with(sorted.iter(), |_| MAX_POLICY_ID, 0);
    assert_eq!(ids["a"], MAX_POLICY_ID);
    assert_eq!(ids["b"], 1);
    assert_eq!(ids["c"], 2);
    let ids = assign_ids(names.iter(), 0);
    assert_eq!(ids["a"], home_id("a"));
    // The reserved id (the datapath's VNI) is skipped like a taken one.
    let ids = assign_ids_with(sorted.iter(), |_| MAX_POLICY_ID, 1);
    assert_eq!((ids["a"], ids["b"], ids["c"]), (MAX_POLICY_ID, 2, 3));
}

#[test]
fn no_policy_gets_the_reserved_id_and_reserving_renumbers_only_its_holder() {
    let mut t = PolicyTable::new();
    for name in ["legacy-db", "payments", "web"] {
        let mut p = Policy::new(name);
        p.match_namespaces.push(name.to_owned());
        t.upsert(p).unwrap();
    }
    let before: Vec<u32> = t.iter_with_ids().map(|(id, _)| id).collect();
    let taken = t.id("payments").unwrap();
    t.set_reserved_id(taken);
    assert_ne!(t.id("payments"), Some(taken));
    assert_eq!(t.id("legacy-db"), Some(before[0]));
    assert_eq!(t.id("web"), Some(before[2]));
    assert!(t.iter_with_ids().all(|(id, _)| id != taken && id != 0));
    check_index(&t);
    t.set_reserved_id(0);
    assert_eq!(t.id("payments"), Some(taken));
}

#[test]
fn random_tables_keep_their_rules() {
    // Random policies upserted one by one: each is either stored or refused
    // with the table unchanged; the index always matches the policies; and
    // no two stored policies share a prefix for a pod both may select.
    let mut rng = Rng(0x7ab1_e000_0002);
    let mut t = PolicyTable::new();
    let (mut stored, mut refused) = (0, 0);
    for n in 0..1500 {
        let name = format!("p{}", rng.below(200));
        let p = testgen::policy(&mut rng, &name);
        let before = t.clone();
        match t.upsert(p.clone()) {
            Ok(_) => {
                stored += 1;
                assert_eq!(t.get(&name), Some(&p));
            }
            Err(e) => {
                refused += 1;
                assert_eq!(t, before, "{e}");
                assert!(
                    e.to_string().starts_with(&format!("policy {name}: ")),
                    "{e}"
                );
            }
        }
        if n % 7 == 0 && !t.is_empty() {
            let victim = t
                .iter()
                .nth(rng.below(t.len() as u64) as usize)
                .map(|p| p.name.clone());
            if let Some(v) = victim {
                t.delete(&v).unwrap();
            }
        }
        if n % 100 == 0 {
            check_index(&t);
        }
    }
    assert!(
        stored > 300 && refused > 30,
        "{stored} stored, {refused} refused"
    );
    check_index(&t);
    let all: Vec<&Policy> = t.iter().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            for prefix in a.destinations.iter().chain(&a.excludes) {
                let shared = b.destinations.contains(prefix) || b.excludes.contains(prefix);
                assert!(
                    !shared || common_selection(a, b, Family::of_net(prefix)).is_none(),
                    "{} and {} share {prefix}",
                    a.name,
                    b.name
                );
            }
        }
    }
    // The whole table again through apply(replace_all): unchanged.
    let copy: Vec<Policy> = t.iter().cloned().collect();
    let mut again = t.clone();
    let changes = again.apply(copy, vec![], true).unwrap();
    assert!(changes.iter().all(|c| matches!(c, Change::Unchanged(_))));
    assert_eq!(again, t);
}
