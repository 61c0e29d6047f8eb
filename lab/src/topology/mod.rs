//! The containerlab topology file: parsing (serde_yaml), validation, and the
//! typed `Topology` the runner builds from. Only the subset tern-lab can honour
//! is accepted; anything else fails with an error naming the file and the spot.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use crate::error::{TopologyError, TopologyErrorKind as Kind};
use crate::names;

#[cfg(test)]
mod tests;

/// Container path of FRR's integrated configuration.
pub const FRR_CONFIG_PATH: &str = "/etc/frr/frr.conf";
/// Container path of ternd's configuration.
pub const TERN_CONFIG_PATH: &str = "/etc/tern/ternd.conf";
/// Container path of gobgpd's configuration (TOML).
pub const GOBGP_CONFIG_PATH: &str = "/etc/gobgp/gobgpd.conf";
/// Container path of BIRD's configuration.
pub const BIRD_CONFIG_PATH: &str = "/etc/bird/bird.conf";

/// Node-level keys tern-lab understands; any other key is an error.
const NODE_KEYS: &[&str] = &[
    "kind",
    "image",
    "binds",
    "exec",
    "env",
    "startup-config",
    "labels",
];

/// The node label that lists a Tern node's pods (names separated by spaces
/// or commas). containerlab passes labels on as container metadata, so the
/// file stays valid for it.
pub const PODS_LABEL: &str = "tern.pods";

/// Container directory of CNI network configurations (as a runtime reads
/// them); a Tern node with pods binds its tern-cni configuration in here.
pub const CNI_CONF_DIR: &str = "/etc/cni/net.d/";

/// What runs on a node, decided from its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// FRR: zebra and bgpd, configured from `/etc/frr/frr.conf`.
    Frr,
    /// Tern: ternd, configured from `/etc/tern/ternd.conf`.
    Tern,
    /// GoBGP: gobgpd, configured from `/etc/gobgp/gobgpd.conf` (TOML).
    Gobgp,
    /// BIRD 2: bird, configured from `/etc/bird/bird.conf`.
    Bird,
    /// A plain host: only a namespace and its exec lines.
    Host,
}

impl Role {
    /// Decides the role from an image reference. The image's name (its last
    /// path component, without tag or digest) containing `frr` makes an FRR
    /// node, containing `tern` a Tern node, `gobgp` a GoBGP node
    /// (`jauderho/gobgp:v3.10.0`), `bird` a BIRD node (`pierky/bird:2.0.12`);
    /// anything else is a plain host. Looking only at the name keeps
    /// `registry.internal/alpine` a host.
    pub fn from_image(image: &str) -> Role {
        let without_digest = image.split('@').next().unwrap_or(image);
        let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
        let name = last.split(':').next().unwrap_or(last).to_ascii_lowercase();
        if name.contains("frr") {
            Role::Frr
        } else if name.contains("tern") {
            Role::Tern
        } else if name.contains("gobgp") {
            Role::Gobgp
        } else if name.contains("bird") {
            Role::Bird
        } else {
            Role::Host
        }
    }

    /// The container path the node's configuration is bound to, if any.
    pub fn config_path(self) -> Option<&'static str> {
        match self {
            Role::Frr => Some(FRR_CONFIG_PATH),
            Role::Tern => Some(TERN_CONFIG_PATH),
            Role::Gobgp => Some(GOBGP_CONFIG_PATH),
            Role::Bird => Some(BIRD_CONFIG_PATH),
            Role::Host => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Frr => "frr",
            Role::Tern => "tern",
            Role::Gobgp => "gobgp",
            Role::Bird => "bird",
            Role::Host => "host",
        })
    }
}

/// Whether a bind is read-only or read-write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMode {
    Ro,
    Rw,
}

/// One `host:container[:ro|rw]` bind, with the host side resolved against the
/// topology file's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    pub host: PathBuf,
    pub container: String,
    pub mode: BindMode,
}

/// One `exec:` line: as written, and split into words like containerlab does
/// (shell quoting rules, no shell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecLine {
    pub line: String,
    pub argv: Vec<String>,
}

/// A node of the lab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    pub kind: String,
    pub image: String,
    pub role: Role,
    /// Host path of the node's daemon configuration (every role but hosts).
    pub config: Option<PathBuf>,
    pub binds: Vec<Bind>,
    pub exec: Vec<ExecLine>,
    pub env: BTreeMap<String, String>,
    /// Pods of a Tern node (label `tern.pods`), wired by tern-cni at `up`.
    #[serde(default)]
    pub pods: Vec<String>,
    /// Host path of the node's tern-cni network configuration (the bind
    /// into /etc/cni/net.d/), when it has pods.
    #[serde(default)]
    pub cni_config: Option<PathBuf>,
}

/// One side of a link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    pub node: String,
    pub interface: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.interface)
    }
}

/// A point-to-point link, built as a veth pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub a: Endpoint,
    pub b: Endpoint,
    pub mtu: Option<u32>,
}

/// A validated topology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    /// The lab's name (`name:`).
    pub name: String,
    /// The file it was read from, as given.
    pub file: PathBuf,
    /// The absolute directory relative paths in the file are resolved against.
    pub dir: PathBuf,
    /// Nodes, in file order.
    pub nodes: Vec<Node>,
    /// Links, in file order.
    pub links: Vec<Link>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    prefix: Option<String>,
    /// containerlab's management network: meaningless without docker, ignored.
    #[serde(default, rename = "mgmt")]
    _mgmt: Option<Value>,
    topology: Option<RawTopology>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    nodes: Option<Mapping>,
    #[serde(default)]
    links: Vec<RawLink>,
    /// Kind and default settings are not applied; nodes must be explicit.
    #[serde(default, rename = "kinds")]
    _kinds: Option<Value>,
    #[serde(default, rename = "defaults")]
    _defaults: Option<Value>,
    #[serde(default, rename = "groups")]
    _groups: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    endpoints: Vec<String>,
    mtu: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    kind: Option<String>,
    image: Option<String>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    exec: Vec<String>,
    #[serde(default)]
    env: Mapping,
    #[serde(rename = "startup-config")]
    startup_config: Option<String>,
    #[serde(default)]
    labels: Mapping,
}

impl Topology {
    /// Reads and validates a topology file.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology, TopologyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| TopologyError {
            file: path.to_owned(),
            kind: Kind::Read(e),
        })?;
        Topology::parse(&text, path)
    }

    /// Validates topology text as if it had been read from `path` (relative
    /// paths inside it are resolved against `path`'s directory).
    pub fn parse(text: &str, path: &Path) -> Result<Topology, TopologyError> {
        let err = |kind| TopologyError {
            file: path.to_owned(),
            kind,
        };
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let dir = std::path::absolute(&parent).map_err(|e| err(Kind::Read(e)))?;
        parse_raw(text, &dir)
            .map(|(name, nodes, links)| Topology {
                name,
                file: path.to_owned(),
                dir,
                nodes,
                links,
            })
            .map_err(err)
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The namespace (and daemon instance name) of a node of this lab.
    pub fn namespace(&self, node: &str) -> String {
        names::namespace_name(&self.name, node)
    }
}

fn parse_raw(text: &str, dir: &Path) -> Result<(String, Vec<Node>, Vec<Link>), Kind> {
    let raw: RawFile = serde_yaml::from_str(text).map_err(Kind::Yaml)?;
    let name = raw.name.ok_or(Kind::MissingName)?;
    names::check_name(&name).map_err(|reason| Kind::BadLabName {
        name: name.clone(),
        reason,
    })?;
    if let Some(prefix) = raw.prefix
        && prefix != "clab"
    {
        return Err(Kind::UnsupportedPrefix(prefix));
    }
    let topology = raw.topology.ok_or(Kind::NoNodes)?;
    let raw_nodes = topology.nodes.ok_or(Kind::NoNodes)?;
    if raw_nodes.is_empty() {
        return Err(Kind::NoNodes);
    }
    let mut nodes = Vec::with_capacity(raw_nodes.len());
    for (key, value) in raw_nodes {
        let node_name = match key {
            Value::String(s) => s,
            other => {
                return Err(Kind::BadNodeName {
                    node: scalar_text(&other),
                    reason: "node names must be strings".to_owned(),
                });
            }
        };
        nodes.push(parse_node(&name, node_name, value, dir)?);
    }
    for n in &nodes {
        for pod in &n.pods {
            let taken = format!("{}-{pod}", n.name);
            if nodes.iter().any(|m| m.name == taken) {
                return Err(Kind::BadNode {
                    node: n.name.clone(),
                    message: format!("pod `{pod}` would share namespace names with node `{taken}`"),
                });
            }
        }
    }
    let links = parse_links(topology.links, &nodes)?;
    Ok((name, nodes, links))
}

fn parse_node(lab: &str, name: String, value: Value, dir: &Path) -> Result<Node, Kind> {
    names::check_name(&name).map_err(|reason| Kind::BadNodeName {
        node: name.clone(),
        reason,
    })?;
    let namespace = names::namespace_name(lab, &name);
    if namespace.len() > names::MAX_INSTANCE_NAME {
        return Err(Kind::NamespaceTooLong {
            node: name,
            len: namespace.len(),
            namespace,
            max: names::MAX_INSTANCE_NAME,
        });
    }
    let mapping = match value {
        Value::Mapping(m) => m,
        Value::Null => Mapping::new(),
        _ => {
            return Err(Kind::BadNode {
                node: name,
                message: "a node must be a mapping of keys (kind, image, ...)".to_owned(),
            });
        }
    };
    for key in mapping.keys() {
        let known = key.as_str().is_some_and(|k| NODE_KEYS.contains(&k));
        if !known {
            return Err(Kind::UnknownNodeKey {
                node: name,
                key: scalar_text(key),
            });
        }
    }
    let raw: RawNode =
        serde_yaml::from_value(Value::Mapping(mapping)).map_err(|e| Kind::BadNode {
            node: name.clone(),
            message: e.to_string(),
        })?;

    let kind = raw
        .kind
        .ok_or_else(|| Kind::MissingKind { node: name.clone() })?;
    if kind != "linux" {
        return Err(Kind::UnsupportedKind { node: name, kind });
    }
    let image = raw
        .image
        .filter(|i| !i.trim().is_empty())
        .ok_or_else(|| Kind::MissingImage { node: name.clone() })?;
    let role = Role::from_image(&image);

    let mut binds = Vec::with_capacity(raw.binds.len());
    for spec in &raw.binds {
        let bind = parse_bind(&name, spec, dir)?;
        if !bind.host.exists() {
            return Err(Kind::BindSourceMissing {
                node: name,
                bind: spec.clone(),
                path: bind.host,
            });
        }
        binds.push(bind);
    }
    let startup = raw.startup_config.map(|s| resolve(dir, &s));
    let config = match role.config_path() {
        Some(container_path) => Some(find_config(&name, role, container_path, &binds, startup)?),
        None => None,
    };

    let mut exec = Vec::with_capacity(raw.exec.len());
    for (i, line) in raw.exec.into_iter().enumerate() {
        let bad = |reason: &str| Kind::BadExec {
            node: name.clone(),
            line: i + 1,
            reason: reason.to_owned(),
        };
        let argv = shlex::split(&line).ok_or_else(|| bad("unbalanced quotes"))?;
        if argv.is_empty() {
            return Err(bad("the line is empty"));
        }
        exec.push(ExecLine { line, argv });
    }

    let mut env = BTreeMap::new();
    for (key, value) in raw.env {
        let key = scalar_text(&key);
        let bad = |reason: &str| Kind::BadEnv {
            node: name.clone(),
            key: key.clone(),
            reason: reason.to_owned(),
        };
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            return Err(bad("variable names must be non-empty, without `=` or NUL"));
        }
        let value = match value {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(bad("the value must be a string, number or boolean")),
        };
        if value.contains('\0') {
            return Err(bad("the value contains NUL"));
        }
        env.insert(key, value);
    }

    let pods = parse_pods(lab, &name, role, &raw.labels)?;
    let cni_config = binds
        .iter()
        .find(|b| b.container.starts_with(CNI_CONF_DIR))
        .map(|b| b.host.clone());
    if !pods.is_empty() && cni_config.is_none() {
        return Err(Kind::BadNode {
            node: name,
            message: format!(
                "label {PODS_LABEL} needs the node's tern-cni configuration bound into {CNI_CONF_DIR} (e.g. node1/10-tern.conf:{CNI_CONF_DIR}10-tern.conf)"
            ),
        });
    }

    Ok(Node {
        name,
        kind,
        image,
        role,
        config,
        binds,
        exec,
        env,
        pods,
        cni_config,
    })
}

/// The pod names of label `tern.pods`; other labels are containerlab
/// metadata and ignored, but must be strings as containerlab wants.
fn parse_pods(lab: &str, node: &str, role: Role, labels: &Mapping) -> Result<Vec<String>, Kind> {
    let bad = |message: String| Kind::BadNode {
        node: node.to_owned(),
        message,
    };
    let mut pods = Vec::new();
    for (k, v) in labels {
        let key = scalar_text(k);
        let Value::String(value) = v else {
            return Err(bad(format!("label {key} must be a string")));
        };
        if key != PODS_LABEL {
            continue;
        }
        if role != Role::Tern {
            return Err(bad(format!(
                "label {PODS_LABEL} is only for Tern nodes (image tern...)"
            )));
        }
        for pod in value.split([' ', ',', '\t']).filter(|p| !p.is_empty()) {
            names::check_name(pod).map_err(|reason| bad(format!("pod name `{pod}`: {reason}")))?;
            let ns = names::namespace_name(lab, &format!("{node}-{pod}"));
            if ns.len() > names::MAX_INSTANCE_NAME {
                return Err(bad(format!(
                    "pod `{pod}`: namespace {ns} is longer than {} characters",
                    names::MAX_INSTANCE_NAME
                )));
            }
            if pods.iter().any(|p| p == pod) {
                return Err(bad(format!("pod `{pod}` is listed twice")));
            }
            pods.push(pod.to_owned());
        }
    }
    Ok(pods)
}

fn parse_bind(node: &str, spec: &str, dir: &Path) -> Result<Bind, Kind> {
    let bad = |reason: &str| Kind::BadBind {
        node: node.to_owned(),
        bind: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [host, container] => (*host, *container, BindMode::Rw),
        [host, container, "ro"] => (*host, *container, BindMode::Ro),
        [host, container, "rw"] => (*host, *container, BindMode::Rw),
        [_, _, mode] => {
            return Err(bad(&format!("mode `{mode}` is not `ro` or `rw`")));
        }
        _ => return Err(bad("expected two or three `:`-separated parts")),
    };
    if host.is_empty() {
        return Err(bad("the host path is empty"));
    }
    if !container.starts_with('/') {
        return Err(bad("the container path must be absolute"));
    }
    Ok(Bind {
        host: resolve(dir, host),
        container: container.to_owned(),
        mode,
    })
}

fn find_config(
    node: &str,
    role: Role,
    container_path: &'static str,
    binds: &[Bind],
    startup: Option<PathBuf>,
) -> Result<PathBuf, Kind> {
    let bound = binds
        .iter()
        .find(|b| b.container == container_path)
        .map(|b| b.host.clone());
    let path = match (bound, startup) {
        (Some(bind), Some(startup)) if bind != startup => {
            return Err(Kind::AmbiguousConfig {
                node: node.to_owned(),
                container_path,
                bind,
                startup,
            });
        }
        (Some(path), _) | (None, Some(path)) => path,
        (None, None) => {
            return Err(Kind::MissingConfig {
                node: node.to_owned(),
                role,
                container_path,
            });
        }
    };
    if !path.is_file() {
        return Err(Kind::ConfigNotFound {
            node: node.to_owned(),
            path,
        });
    }
    Ok(path)
}

fn parse_links(raw: Vec<RawLink>, nodes: &[Node]) -> Result<Vec<Link>, Kind> {
    let mut used: HashMap<Endpoint, usize> = HashMap::new();
    let mut links = Vec::with_capacity(raw.len());
    for (i, raw_link) in raw.into_iter().enumerate() {
        let number = i + 1;
        let [a, b]: [String; 2] =
            raw_link
                .endpoints
                .try_into()
                .map_err(|v: Vec<String>| Kind::BadLink {
                    link: number,
                    reason: format!("a link needs exactly 2 endpoints, found {}", v.len()),
                })?;
        let a = parse_endpoint(number, &a, nodes)?;
        let b = parse_endpoint(number, &b, nodes)?;
        for end in [&a, &b] {
            if let Some(first) = used.insert(end.clone(), number) {
                return Err(Kind::InterfaceReused {
                    link: number,
                    node: end.node.clone(),
                    interface: end.interface.clone(),
                    first_link: first,
                });
            }
        }
        if raw_link.mtu.is_some_and(|m| !(68..=65535).contains(&m)) {
            return Err(Kind::BadLink {
                link: number,
                reason: "mtu must be between 68 and 65535".to_owned(),
            });
        }
        links.push(Link {
            a,
            b,
            mtu: raw_link.mtu,
        });
    }
    Ok(links)
}

fn parse_endpoint(link: usize, text: &str, nodes: &[Node]) -> Result<Endpoint, Kind> {
    let Some((node, interface)) = text.split_once(':') else {
        return Err(Kind::BadEndpoint {
            link,
            endpoint: text.to_owned(),
        });
    };
    if node.is_empty() {
        return Err(Kind::BadEndpoint {
            link,
            endpoint: text.to_owned(),
        });
    }
    if !nodes.iter().any(|n| n.name == node) {
        return Err(Kind::UnknownNode {
            link,
            endpoint: text.to_owned(),
            node: node.to_owned(),
        });
    }
    names::check_ifname(interface).map_err(|reason| Kind::BadInterfaceName {
        link,
        endpoint: text.to_owned(),
        interface: interface.to_owned(),
        reason,
    })?;
    Ok(Endpoint {
        node: node.to_owned(),
        interface: interface.to_owned(),
    })
}

fn resolve(dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_owned()
    } else {
        dir.join(p)
    }
}

/// A YAML key or scalar as text, for error messages.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_owned(),
        other => serde_yaml::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "?".to_owned()),
    }
}
