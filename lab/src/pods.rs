//! Pods on Tern nodes, made the way a container runtime makes them: for
//! each pod of a node's `tern.pods` label, a network namespace
//! `clab-LAB-NODE-POD`, then `tern-cni` run inside the node's namespace with
//! the CNI environment (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
//! CNI_PATH) and the node's network configuration on stdin. `down` runs DEL
//! for each pod while ternd still runs, then deletes the pod's namespace.
//!
//! Like a runtime filling in runtime-specific values, the runner adds two
//! keys to the configuration when the file leaves them out: `ternd` (the
//! node's ternd instance, `clab-LAB-NODE`) and `dataDir` (the node's lab
//! directory, so IPAM state goes away with the lab).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::LabError;
use crate::names::NETNS_DIR;
use crate::netns;
use crate::state::LabState;
use crate::sys;
use crate::topology::Topology;

/// The pod's interface name (CNI_IFNAME).
pub const POD_IFNAME: &str = "eth0";
/// How long one tern-cni run may take.
const CNI_TIMEOUT: Duration = Duration::from_secs(30);

/// One pod as `up` made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodState {
    pub name: String,
    /// The pod's network namespace (`clab-LAB-NODE-POD`); also its
    /// CNI_CONTAINERID.
    pub namespace: String,
    /// The node's namespace, where tern-cni runs.
    pub node_namespace: String,
    /// The network configuration passed on stdin (a copy in the node's dir).
    pub netconf: PathBuf,
    /// The tern-cni binary.
    pub cni: PathBuf,
    /// Whether ADD succeeded.
    pub added: bool,
    /// The pod's addresses from ADD's result.
    pub addresses: Vec<String>,
}

/// The configuration a node's pods get: the bound file, with `ternd` and
/// `dataDir` filled in when absent.
fn netconf(file: &Path, instance: &str, node_dir: &Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read(file).map_err(|e| format!("reading {}: {e}", file.display()))?;
    let mut v: Value = serde_json::from_slice(&text)
        .map_err(|e| format!("{} is not JSON: {e}", file.display()))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(format!("{} is not a JSON object", file.display()));
    };
    obj.entry("ternd")
        .or_insert_with(|| serde_json::json!({ "instance": instance }));
    obj.entry("dataDir")
        .or_insert_with(|| Value::String(node_dir.join("cni").display().to_string()));
    serde_json::to_vec_pretty(&v).map_err(|e| e.to_string())
}

/// Runs tern-cni for `pod` with `command` (ADD, DEL); returns its stdout, or
/// the failure in words with its output.
fn run_cni(pod: &PodState, command: &str) -> Result<String, (String, String)> {
    let stdin = std::fs::read(&pod.netconf).map_err(|e| {
        (
            format!("reading {}: {e}", pod.netconf.display()),
            String::new(),
        )
    })?;
    let cni_path = pod.cni.parent().unwrap_or(Path::new("/"));
    let mut cmd = sys::nsenter(&pod.node_namespace, &[&pod.cni]);
    cmd.env("CNI_COMMAND", command)
        .env("CNI_CONTAINERID", &pod.namespace)
        .env("CNI_NETNS", Path::new(NETNS_DIR).join(&pod.namespace))
        .env("CNI_IFNAME", POD_IFNAME)
        .env("CNI_PATH", cni_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let what = sys::describe(&cmd);
    tracing::info!(pod = %pod.namespace, command, "tern-cni");
    let mut child = cmd
        .spawn()
        .map_err(|e| (format!("cannot run {what}: {e}"), String::new()))?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(&stdin);
    }
    let out = sys::reader(child.stdout.take());
    let err = sys::reader(child.stderr.take());
    let status = sys::wait_deadline(&mut child, CNI_TIMEOUT)
        .map_err(|e| (format!("waiting for tern-cni: {e}"), String::new()))?;
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(out),
        Some(s) => Err((
            format!("tern-cni {command} failed ({})", sys::describe_status(s)),
            format!("{out}{err}"),
        )),
        None => Err((
            format!(
                "tern-cni {command} did not finish in {} s",
                CNI_TIMEOUT.as_secs()
            ),
            format!("{out}{err}"),
        )),
    }
}

/// Makes every pod of every node; records each in the state (through
/// `save`) before creating it, so `down` can undo a partial run.
pub(crate) fn add_pods(
    topo: &Topology,
    cni: &Path,
    state: &mut LabState,
    save: &mut dyn FnMut(&LabState) -> Result<(), LabError>,
) -> Result<(), LabError> {
    for node in topo.nodes.iter().filter(|n| !n.pods.is_empty()) {
        let Some(ns_idx) = state.nodes.iter().position(|n| n.name == node.name) else {
            continue;
        };
        let fail = |pod: &str, reason: String, output: String| LabError::Pod {
            node: node.name.clone(),
            pod: pod.to_owned(),
            reason,
            output,
        };
        let (node_ns, node_dir) = {
            let n = &state.nodes[ns_idx];
            (n.namespace.clone(), n.dir.clone())
        };
        let file = node.cni_config.clone().unwrap_or_default();
        let conf = netconf(&file, &node_ns, &node_dir).map_err(|r| fail("-", r, String::new()))?;
        let conf_copy = node_dir.join("cni.conf");
        std::fs::write(&conf_copy, conf)
            .map_err(|e| LabError::io(format!("writing {}", conf_copy.display()), e))?;
        for pod in &node.pods {
            let record = PodState {
                name: pod.clone(),
                namespace: topo.namespace(&format!("{}-{pod}", node.name)),
                node_namespace: node_ns.clone(),
                netconf: conf_copy.clone(),
                cni: cni.to_owned(),
                added: false,
                addresses: Vec::new(),
            };
            state.nodes[ns_idx].pods.push(record.clone());
            save(state)?;
            netns::add(&record.namespace)?;
            let out = run_cni(&record, "ADD").map_err(|(r, o)| fail(pod, r, o))?;
            let result: Value = serde_json::from_str(&out).map_err(|e| {
                fail(
                    pod,
                    format!("tern-cni ADD printed no result: {e}"),
                    out.clone(),
                )
            })?;
            let addresses: Vec<String> = result["ips"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["address"].as_str().map(str::to_owned))
                .collect();
            tracing::info!(pod = %record.namespace, ?addresses, "pod is up");
            if let Some(p) = state.nodes[ns_idx].pods.last_mut() {
                p.added = true;
                p.addresses = addresses;
            }
            save(state)?;
        }
    }
    Ok(())
}

/// What [`del_pods`] did.
#[derive(Debug, Default)]
pub(crate) struct PodsDeleted {
    /// Pods whose CNI DEL succeeded.
    pub released: Vec<String>,
    /// Pod namespaces deleted.
    pub deleted: Vec<String>,
    pub problems: Vec<String>,
}

/// CNI DEL for every recorded pod (whether its ADD finished or not), then
/// its namespace.
pub(crate) fn del_pods(state: &LabState) -> PodsDeleted {
    let mut r = PodsDeleted::default();
    let (deleted, problems) = (&mut r.deleted, &mut r.problems);
    for node in state.nodes.iter().rev() {
        for pod in node.pods.iter().rev() {
            if netns::exists(&pod.node_namespace) && pod.cni.exists() {
                match run_cni(pod, "DEL") {
                    Ok(_) => r.released.push(pod.namespace.clone()),
                    Err((reason, output)) => problems.push(format!(
                        "pod {}: {reason}: {}",
                        pod.namespace,
                        output.trim()
                    )),
                }
            }
            if netns::exists(&pod.namespace) {
                match netns::delete(&pod.namespace) {
                    Ok(()) => deleted.push(pod.namespace.clone()),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netconf_gets_instance_and_data_dir_unless_given() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("10-tern.conf");
        std::fs::write(&f, r#"{"cniVersion":"1.0.0","name":"pods","type":"tern-cni","podCIDRs":["10.244.1.0/24"]}"#)
            .expect("write");
        let v: Value = serde_json::from_slice(
            &netconf(&f, "clab-x-node1", Path::new("/run/l/node1")).expect("conf"),
        )
        .expect("json");
        assert_eq!(v["ternd"]["instance"], "clab-x-node1");
        assert_eq!(v["dataDir"], "/run/l/node1/cni");
        std::fs::write(
            &f,
            r#"{"cniVersion":"1.0.0","ternd":{"socket":"/s"},"dataDir":"/d"}"#,
        )
        .expect("write");
        let v: Value = serde_json::from_slice(&netconf(&f, "i", Path::new("/n")).expect("conf"))
            .expect("json");
        assert_eq!(v["ternd"]["socket"], "/s");
        assert_eq!(v["dataDir"], "/d");
        std::fs::write(&f, "[1]").expect("write");
        assert!(netconf(&f, "i", Path::new("/n")).is_err());
    }
}
