//! `show segment-routing srv6 locator [NAME detail] [json]` and `show vrf`
//! as FRR 8.4's zebra prints them. Tern's VRFs are routing tables without
//! a VRF device (this kernel has none), so a VRF's id is its table's.
use std::fmt::Write as _;

use serde_json::{Value, json};
use tern_control::{Srv6LocatorView, VrfView};

/// The owner of a locator's one chunk: the protocol that takes SIDs from
/// it, or zebra's "system".
fn owner(l: &Srv6LocatorView) -> &str {
    l.owner.as_deref().unwrap_or("system")
}

/// `show segment-routing srv6 locator`.
pub fn locators_text(locators: &[Srv6LocatorView]) -> String {
    let mut out = String::from(
        "Locator:\n\
         Name                 ID      Prefix                   Status\n\
         -------------------- ------- ------------------------ -------\n",
    );
    for l in locators {
        let _ = writeln!(out, "{:<20} {:>7} {:<24} Up", l.name, l.id, l.prefix);
    }
    out.push('\n');
    out
}

/// `show segment-routing srv6 locator json`.
pub fn locators_json(locators: &[Srv6LocatorView]) -> Value {
    let list: Vec<Value> = locators
        .iter()
        .map(|l| {
            json!({
                "name": l.name,
                "prefix": l.prefix,
                "functionBitsLength": l.function_len,
                "statusUp": true,
                "chunks": [{"prefix": l.prefix, "proto": owner(l)}],
            })
        })
        .collect();
    json!({ "locators": list })
}

/// `show segment-routing srv6 locator NAME detail`: nothing for a locator
/// that does not exist (as zebra).
pub fn locator_detail_text(locators: &[Srv6LocatorView], name: &str) -> String {
    let Some(l) = locators.iter().find(|l| l.name == name) else {
        return String::new();
    };
    format!(
        "Name: {}\nPrefix: {}\nFunction-Bit-Len: {}\nChunks:\n- prefix: {}, owner: {}\n",
        l.name,
        l.prefix,
        l.function_len,
        l.prefix,
        owner(l)
    )
}

/// `show segment-routing srv6 locator NAME detail json`.
pub fn locator_detail_json(locators: &[Srv6LocatorView], name: &str) -> Value {
    let Some(l) = locators.iter().find(|l| l.name == name) else {
        return json!({});
    };
    json!({
        "name": l.name,
        "prefix": l.prefix,
        "blockBitsLength": l.block_len,
        "nodeBitsLength": l.node_len,
        "functionBitsLength": l.function_len,
        "argumentBitsLength": l.argument_len,
        "algoNum": 0,
        "statusUp": true,
        "chunks": [{
            "prefix": l.prefix,
            "blockBitsLength": 0,
            "nodeBitsLength": 0,
            "functionBitsLength": 0,
            "argumentBitsLength": 0,
            "keep": 0,
            "proto": owner(l),
            "instance": 0,
            "sessionId": 0,
        }],
    })
}

/// `show vrf`: FRR's VRF-lite lines, `vrf NAME id ID table TABLE
/// (configured)`, or `inactive` for a VRF without a table.
pub fn vrfs_text(vrfs: &[VrfView]) -> String {
    if vrfs.is_empty() {
        return "No VRF\n".to_owned();
    }
    let mut out = String::new();
    for v in vrfs {
        match v.table {
            Some(t) => {
                let _ = writeln!(out, "vrf {} id {t} table {t} (configured)", v.name);
            }
            None => {
                let _ = writeln!(out, "vrf {} inactive (configured)", v.name);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn main_locator() -> Srv6LocatorView {
        Srv6LocatorView {
            name: "main".into(),
            id: 1,
            prefix: "fc00:0:1::/48".into(),
            block_len: 24,
            node_len: 24,
            function_len: 0,
            argument_len: 0,
            owner: Some("bgp".into()),
        }
    }

    #[test]
    fn locator_list_is_zebras() {
        // FRR 8.4's zebra for `locator main` / `prefix fc00:0:1::/48`.
        let want = "Locator:\n\
                    Name                 ID      Prefix                   Status\n\
                    -------------------- ------- ------------------------ -------\n\
                    main                       1 fc00:0:1::/48            Up\n\n";
        assert_eq!(locators_text(&[main_locator()]), want);
        let v = locators_json(&[main_locator()]);
        assert_eq!(v["locators"][0]["chunks"][0]["proto"], "bgp");
        assert_eq!(v["locators"][0]["statusUp"], true);
    }

    #[test]
    fn locator_detail_is_zebras() {
        let want = "Name: main\nPrefix: fc00:0:1::/48\nFunction-Bit-Len: 0\nChunks:\n\
                    - prefix: fc00:0:1::/48, owner: bgp\n";
        assert_eq!(locator_detail_text(&[main_locator()], "main"), want);
        assert_eq!(locator_detail_text(&[main_locator()], "other"), "");
        let v = locator_detail_json(&[main_locator()], "main");
        assert_eq!(v["blockBitsLength"], 24);
        assert_eq!(v["chunks"][0]["proto"], "bgp");
    }

    #[test]
    fn vrf_lines() {
        let vrfs = [
            VrfView {
                name: "blue".into(),
                table: None,
            },
            VrfView {
                name: "red".into(),
                table: Some(10),
            },
        ];
        assert_eq!(
            vrfs_text(&vrfs),
            "vrf blue inactive (configured)\nvrf red id 10 table 10 (configured)\n"
        );
        assert_eq!(vrfs_text(&[]), "No VRF\n");
    }
}
