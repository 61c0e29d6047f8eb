//! Pods added to a lab's nodes the way a runtime adds them: tern-cni run by
//! lab/tools/cni_pod.py with a network configuration of the caller's
//! choice (a VRF's, say), which the topology's `tern.pods` label cannot
//! give.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use crate::{bin, repo_root, run_ok};

/// The pods added to lab `lab`; CNI DEL and their namespaces go on drop
/// (before the lab's own `down`, when the pods are made after the lab).
#[derive(Debug)]
pub struct CniPods {
    lab: String,
    /// (node, pod, network configuration), in the order added.
    added: Vec<(String, String, PathBuf)>,
    /// (node, pod) -> (IPv4, IPv6).
    addrs: BTreeMap<(String, String), (String, String)>,
}

impl CniPods {
    pub fn new(lab: &str) -> CniPods {
        CniPods {
            lab: lab.to_owned(),
            added: Vec::new(),
            addrs: BTreeMap::new(),
        }
    }

    /// Adds `pod` on `node` (Kubernetes namespace `k8s_ns`) with the network
    /// configuration `netconf`; panics with tern-cni's answer on failure.
    pub fn add(&mut self, node: &str, pod: &str, k8s_ns: &str, netconf: &Path) {
        let out = run_ok(
            Command::new("python3")
                .arg(repo_root().join("lab/tools/cni_pod.py"))
                .args(["add", &self.lab, node, pod, "--k8s-namespace", k8s_ns])
                .arg("--netconf")
                .arg(netconf)
                .arg("--cni")
                .arg(bin("tern-cni")),
        );
        self.added
            .push((node.to_owned(), pod.to_owned(), netconf.to_owned()));
        let result: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let addr = |v6: bool| {
            result["ips"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["address"].as_str())
                .filter_map(|a| a.split('/').next())
                .find(|a| a.contains(':') == v6)
                .unwrap_or_else(|| panic!("no address of {node}/{pod}: {out}"))
                .to_owned()
        };
        self.addrs
            .insert((node.to_owned(), pod.to_owned()), (addr(false), addr(true)));
    }

    /// A pod's address of one family.
    pub fn addr(&self, node: &str, pod: &str, v6: bool) -> String {
        let (a4, a6) = &self.addrs[&(node.to_owned(), pod.to_owned())];
        if v6 { a6.clone() } else { a4.clone() }
    }

    /// The namespace of a pod added here.
    pub fn ns(&self, node: &str, pod: &str) -> String {
        format!("clab-{}-{node}-{pod}", self.lab)
    }
}

impl Drop for CniPods {
    fn drop(&mut self) {
        for (node, pod, netconf) in self.added.iter().rev() {
            let _ = Command::new("python3")
                .arg(repo_root().join("lab/tools/cni_pod.py"))
                .args(["del", &self.lab, node, pod])
                .arg("--netconf")
                .arg(netconf)
                .arg("--cni")
                .arg(bin("tern-cni"))
                .output();
        }
    }
}
