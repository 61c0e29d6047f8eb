//! The egress gateway on the control socket: what `show egress-gateway
//! [json]` and `show egress-gateway nat [json]` answer. Policies, their
//! states and the NAT settings are tern-egressgw's model; the bulk request
//! carries policies as that crate writes them.
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
pub use tern_egressgw::{GatewayStatus, NatConfig, Policy, PolicyCounts, PolicyState};

use crate::NamedCount;

/// `show egress-gateway`: the policies as this node runs them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressStatus {
    /// Every policy, in name order.
    pub policies: Vec<EgressPolicy>,
    /// Steering of this node's pods: one entry per (pod, destination or
    /// exclude).
    pub steering: Vec<SteeredPod>,
    /// What this node translates as a gateway: one entry per (policy,
    /// egress IP) it serves.
    pub snat: Vec<SnatView>,
    /// The egress IPs this node announces by BGP now.
    pub announced: Vec<IpNet>,
    /// The SNAT port range and timeouts.
    pub nat: NatConfig,
    /// Whether the eBPF datapath is loaded (without it nothing is steered
    /// or translated here, and no egress IP is announced).
    pub datapath: bool,
    /// Whether the datapath holds the current plan.
    pub programmed: bool,
    /// The last failure to program the datapath, if the last pass failed.
    pub last_error: Option<String>,
    /// The datapath's egress drop reasons with their counts.
    pub drops: Vec<NamedCount>,
    /// The datapath's egress paths (`egress-steer`, `egress-snat`) with
    /// their packet counts.
    pub paths: Vec<NamedCount>,
}

/// One policy: its config, whether it is in force, its gateways' health
/// and what this node programs for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressPolicy {
    pub name: String,
    /// The id the datapath knows it by (the tunnel's VNI).
    pub policy_id: u32,
    pub state: PolicyState,
    /// Why the policy, or a part of it, is not in force.
    pub reasons: Vec<String>,
    pub match_sources: Vec<IpNet>,
    pub match_namespaces: Vec<String>,
    pub destinations: Vec<IpNet>,
    pub excludes: Vec<IpNet>,
    pub gateways: Vec<GatewayStatus>,
    pub counts: PolicyCounts,
}

/// One steering entry of a local pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SteeredPod {
    pub pod: IpAddr,
    pub namespace: Option<String>,
    pub policy: String,
    pub destination: IpNet,
    /// An exclude: the traffic leaves as without a policy.
    pub excluded: bool,
    /// The egress IPs new flows may take (those of healthy gateways).
    pub egress_ips: Vec<IpAddr>,
}

/// What this node translates for one policy and egress IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnatView {
    pub policy: String,
    pub egress_ip: IpAddr,
    /// Inner sources accepted.
    pub sources: Vec<IpNet>,
    pub destinations: Vec<IpNet>,
}

/// `show egress-gateway nat`: the flows translated on this node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EgressNat {
    pub entries: Vec<NatEntry>,
    /// Flows translated (the length of `entries`).
    pub count: u64,
}

/// One translated flow (its forward conntrack entry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NatEntry {
    /// The policy's name ("?" when no policy has the entry's id any more).
    pub policy: String,
    /// tcp, udp, icmp, or the protocol number.
    pub protocol: String,
    /// The pod's address and port.
    pub source: IpAddr,
    pub source_port: u16,
    pub egress_ip: IpAddr,
    pub egress_port: u16,
    pub destination: IpAddr,
    pub destination_port: u16,
    /// syn, established, closing or other.
    pub state: String,
    /// Seconds until the entry expires.
    pub expires_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reply, Request};

    #[test]
    fn wire_names_and_keys() {
        assert_eq!(
            serde_json::to_string(&Request::ShowEgressNat).unwrap(),
            r#"{"request":"show-egress-nat"}"#
        );
        let req: Request =
            serde_json::from_str(r#"{"request":"egress-apply","delete":["old"]}"#).unwrap();
        assert_eq!(
            req,
            Request::EgressApply {
                upsert: Vec::new(),
                delete: vec!["old".into()],
                replace_all: false
            }
        );
        let nat = Reply::EgressNat(EgressNat {
            entries: vec![NatEntry {
                policy: "legacy-db".into(),
                protocol: "tcp".into(),
                source: "10.244.1.5".parse().unwrap(),
                source_port: 40000,
                egress_ip: "203.0.113.10".parse().unwrap(),
                egress_port: 1234,
                destination: "192.0.2.130".parse().unwrap(),
                destination_port: 5432,
                state: "established".into(),
                expires_in: 21599,
            }],
            count: 1,
        });
        let j = serde_json::to_value(&nat).unwrap();
        assert_eq!(j["reply"], "egress-nat");
        assert_eq!(j["entries"][0]["egressPort"], 1234);
        assert_eq!(j["entries"][0]["destinationPort"], 5432);
        assert_eq!(j["entries"][0]["expiresIn"], 21599);
        assert_eq!(serde_json::from_value::<Reply>(j).unwrap(), nat);
        let st = Reply::EgressGateway(EgressStatus::default());
        let s = serde_json::to_string(&st).unwrap();
        assert!(
            s.starts_with(r#"{"reply":"egress-gateway","policies":[]"#),
            "{s}"
        );
        assert!(s.contains(r#""lastError":null"#), "{s}");
        assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), st);
    }
}
