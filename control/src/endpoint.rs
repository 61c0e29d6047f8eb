//! Pod endpoints: what the CNI plugin (`tern-cni`) registers with ternd for
//! every pod interface it creates, and what the datapath programs from.
//!
//! An endpoint is keyed by (container id, pod interface name), as the CNI
//! specification keys an attachment. Its Kubernetes namespace follows
//! Kubernetes' naming rule, [`check_namespace`], which tern-cni, ternd and
//! the egress gateway's policies all apply.
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Kubernetes' namespace rule (an RFC 1123 label), checked on an
/// endpoint's namespace by tern-cni and ternd. It is the egress gateway's
/// rule for the namespaces its policies match, so that both agree on what a
/// namespace is.
pub use tern_egressgw::model::check_namespace;

/// One pod interface on this node, wired by `tern-cni`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME: the interface's name inside the pod (`eth0`).
    pub ifname: String,
    /// CNI_NETNS: the pod's network namespace path.
    pub netns: String,
    /// The host end of the veth pair (`ternXXXXXXXXXXX`).
    pub host_ifname: String,
    /// Its ifindex in the node's namespace.
    pub host_ifindex: u32,
    /// The pod end's MAC address (`aa:bb:cc:dd:ee:ff`).
    pub pod_mac: String,
    /// The host end's MAC address.
    pub host_mac: String,
    /// The pod's addresses: a /32 and/or a /128.
    pub addresses: Vec<IpNet>,
    pub mtu: u32,
    /// The pod's Kubernetes namespace, from CNI_ARGS' K8S_POD_NAMESPACE
    /// (egress gateway policies match on it); None when the runtime gives
    /// none, and in registries saved before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The CNI network's `name` that attached it (CNI 1.1's GC releases a
    /// network's attachments by it); None from a tern-cni or ternd that
    /// predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The VRF the pod is in (the network configuration's `vrf`): its
    /// addresses live in the VRF's table, apart from the main table's and
    /// other VRFs' pods (which may hold the same addresses). None: the main
    /// table, as before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

impl Endpoint {
    /// The key the registry and the CNI plugin share.
    pub fn key(&self) -> (&str, &str) {
        (&self.container_id, &self.ifname)
    }
}

/// What `tern-cni` ADD asks ternd for before it wires a pod interface: an
/// address from each of the network's pod CIDRs (`pools`), held for the key
/// until DEL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointClaim {
    /// CNI_CONTAINERID.
    pub container_id: String,
    /// CNI_IFNAME.
    pub ifname: String,
    /// CNI_NETNS: while it exists, the addresses are never reclaimed.
    pub netns: String,
    /// The host veth the plugin is about to make (two keys may not share one).
    pub host_ifname: String,
    /// The network configuration's `podCIDRs`: one address of each.
    pub pools: Vec<IpNet>,
    /// The CNI network's `name` that attached it (CNI 1.1's GC releases a
    /// network's attachments by it); None from a tern-cni or ternd that
    /// predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The network configuration's `vrf`: the addresses are unique within
    /// that VRF (None: the main table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

/// Addresses ternd holds for a pod interface whose ADD has not finished
/// (no [`Endpoint`] yet): the answer to an [`EndpointClaim`], and what a
/// plugin killed between the allocation and the registration leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    pub host_ifname: String,
    /// A /32 and/or a /128, in the order of the claim's pools.
    pub addresses: Vec<IpNet>,
    /// The CNI network's `name` that attached it (CNI 1.1's GC releases a
    /// network's attachments by it); None from a tern-cni or ternd that
    /// predates the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The claim's VRF (None: the main table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<String>,
}

/// Why ternd refused an endpoint request; tern-cni turns each into the CNI
/// error code of the same meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// No free address left in a pod CIDR.
    NoAddress,
    /// Another key holds the host veth name, or the key holds other
    /// addresses than the request says.
    Conflict,
    /// The request itself is invalid (names, addresses, namespace).
    Invalid,
    /// EndpointAdd for a key that holds no addresses.
    Unknown,
    /// The registry is full (as many endpoints as the datapath has ids).
    Full,
    /// The eBPF datapath could not program the endpoint.
    Datapath,
    /// The registry could not be saved.
    Io,
}

/// One allocation of the IPAM file (`DATADIR/ipam.json`) that tern-cni
/// kept before ternd held the addresses: read once into ternd's registry
/// (`Request::EndpointImport`) so that none is handed out twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamFileAllocation {
    pub container_id: String,
    pub ifname: String,
    pub netns: String,
    pub host_ifname: String,
    pub addresses: Vec<IpNet>,
}

/// The IPAM file's content (its own field names, camelCase).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpamFile {
    pub allocations: Vec<IpamFileAllocation>,
    /// Last address handed out, per pod CIDR (its text).
    #[serde(default)]
    pub last: std::collections::BTreeMap<String, std::net::IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Reply, Request};

    fn sample() -> Endpoint {
        Endpoint {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/var/run/netns/p1".into(),
            host_ifname: "tern0123456789a".into(),
            host_ifindex: 7,
            pod_mac: "02:00:00:00:00:01".into(),
            host_mac: "02:00:00:00:00:02".into(),
            addresses: vec!["10.244.1.2/32".parse().unwrap()],
            mtu: 1500,
            namespace: None,
            network: None,
            vrf: None,
        }
    }

    #[test]
    fn endpoint_requests_round_trip() {
        let claim = EndpointClaim {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/var/run/netns/p1".into(),
            host_ifname: "tern0123456789a".into(),
            pools: vec!["10.244.1.0/24".parse().unwrap()],
            network: Some("tern".into()),
            vrf: None,
        };
        let reservation = Reservation {
            container_id: "c1".into(),
            ifname: "eth0".into(),
            netns: "/var/run/netns/p1".into(),
            host_ifname: "tern0123456789a".into(),
            addresses: vec!["10.244.1.2/32".parse().unwrap()],
            network: None,
            vrf: None,
        };
        // The IPAM file as tern-cni wrote it.
        let file: IpamFile = serde_json::from_str(
            r#"{"allocations":[{"containerId":"c1","ifname":"eth0","netns":"/var/run/netns/p1",
                "hostIfname":"tern0123456789a","addresses":["10.244.1.2/32"]}],
                "last":{"10.244.1.0/24":"10.244.1.2"}}"#,
        )
        .unwrap();
        assert_eq!(file.allocations[0].addresses, reservation.addresses);
        let reqs = [
            Request::EndpointAllocate(claim),
            Request::EndpointAdd(sample()),
            Request::EndpointImport(file),
            Request::EndpointDel {
                container_id: "c1".into(),
                ifname: "eth0".into(),
            },
            Request::ShowEndpoints,
        ];
        for r in reqs {
            let s = serde_json::to_string(&r).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        }
        let rep = Reply::Endpoints {
            endpoints: vec![sample()],
            reserved: vec![],
        };
        let s = serde_json::to_string(&rep).unwrap();
        assert!(s.starts_with(r#"{"reply":"endpoints""#), "{s}");
        assert!(!s.contains("reserved"), "{s}");
        assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), rep);
        for rep in [
            Reply::Endpoints {
                endpoints: vec![],
                reserved: vec![reservation.clone()],
            },
            Reply::EndpointReserved(reservation),
            Reply::EndpointRefused {
                reason: Refusal::NoAddress,
                message: "no free address left in pod CIDR 10.244.1.0/24".into(),
            },
        ] {
            let s = serde_json::to_string(&rep).unwrap();
            assert_eq!(serde_json::from_str::<Reply>(&s).unwrap(), rep, "{s}");
        }
    }

    #[test]
    fn namespace_is_optional_on_the_wire() {
        // Without one, the key is left out: what older ternd and tern-cni
        // write and read.
        let old = serde_json::to_value(sample()).unwrap();
        assert!(old.get("namespace").is_none(), "{old}");
        assert_eq!(serde_json::from_value::<Endpoint>(old).unwrap(), sample());
        let mut ep = sample();
        ep.namespace = Some("finance".into());
        let req = serde_json::to_string(&Request::EndpointAdd(ep.clone())).unwrap();
        assert!(req.contains(r#""namespace":"finance""#), "{req}");
        assert_eq!(
            serde_json::from_str::<Request>(&req).unwrap(),
            Request::EndpointAdd(ep)
        );
    }

    #[test]
    fn vrf_is_optional_on_the_wire() {
        let old = serde_json::to_value(sample()).unwrap();
        assert!(old.get("vrf").is_none(), "{old}");
        let mut ep = sample();
        ep.vrf = Some("red".into());
        let s = serde_json::to_string(&Request::EndpointAdd(ep.clone())).unwrap();
        assert!(s.contains(r#""vrf":"red""#), "{s}");
        assert_eq!(
            serde_json::from_str::<Request>(&s).unwrap(),
            Request::EndpointAdd(ep)
        );
        let claim: EndpointClaim = serde_json::from_str(
            r#"{"container_id":"c1","ifname":"eth0","netns":"/n","host_ifname":"h","pools":[],"vrf":"blue"}"#,
        )
        .unwrap();
        assert_eq!(claim.vrf.as_deref(), Some("blue"));
    }
}
