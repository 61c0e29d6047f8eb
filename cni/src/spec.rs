//! The CNI execution protocol as tern-cni speaks it, versions 0.3.0 to
//! 1.1.0: the environment, the network configuration on stdin, and the
//! result and error documents on stdout (SPEC.md, sections "Parameters",
//! "Result types"). The versions differ in the verbs they know (CHECK from
//! 0.4.0, GC and STATUS from 1.1.0) and in one field of the result: before
//! 1.0.0 each IP carries its `version` ("4" or "6").
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The CNI versions whose result format tern-cni writes, oldest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// The newest supported version: the answer's version when the caller
/// names none that tern-cni supports.
pub const LATEST_VERSION: &str = "1.1.0";

/// The CNI_COMMAND verbs and the first version that has each.
const VERB_SINCE: [(Command, &str); 3] = [
    (Command::Check, "0.4.0"),
    (Command::Gc, "1.1.0"),
    (Command::Status, "1.1.0"),
];

/// A version as (major, minor, patch); None when it is not three numbers.
fn triple(v: &str) -> Option<(u32, u32, u32)> {
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    let t = (it.next()??, it.next()??, it.next()??);
    it.next().is_none().then_some(t)
}

/// Whether `version` (a supported one) is at least `min`.
pub fn version_at_least(version: &str, min: &str) -> bool {
    matches!((triple(version), triple(min)), (Some(a), Some(b)) if a >= b)
}

/// The supported version named by `stdin`'s `cniVersion`, if any: what
/// the answer and the error document are written in.
pub fn requested_version(stdin: &[u8]) -> Option<&'static str> {
    let v: serde_json::Value = serde_json::from_slice(stdin).ok()?;
    let asked = v.get("cniVersion")?.as_str()?;
    SUPPORTED_VERSIONS.iter().copied().find(|s| *s == asked)
}

/// The plugin's `type` in the network configuration.
pub const PLUGIN_TYPE: &str = "tern-cni";

/// Default directory where an older tern-cni kept its IPAM file (read once
/// into ternd, see `migrate`); the network's name is appended.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/tern/cni";

/// Error codes: 1-99 are the specification's, 100+ tern-cni's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 1: incompatible CNI version.
    IncompatibleVersion = 1,
    /// 3: container unknown or does not exist.
    UnknownContainer = 3,
    /// 4: invalid necessary environment variables.
    InvalidEnvironment = 4,
    /// 5: I/O failure.
    Io = 5,
    /// 6: failed to decode content.
    Decode = 6,
    /// 7: invalid network config.
    InvalidConfig = 7,
    /// 11: try again later (ternd unreachable, or it lost the allocation).
    TryAgainLater = 11,
    /// 50: the plugin is not available (STATUS: ternd does not answer, or
    /// its datapath is not loaded).
    NotAvailable = 50,
    /// 100: the kernel refused part of the pod's wiring.
    Netlink = 100,
    /// 101: no free address left in a pod CIDR.
    NoAddress = 101,
    /// 102: CHECK found the pod's wiring or registration different.
    CheckFailed = 102,
    /// 103: ternd's eBPF datapath could not program the pod's endpoint.
    Datapath = 103,
    /// 104: ADD of a key that is attached already, otherwise than asked
    /// (another namespace, or its wiring differs): DEL it first.
    Attached = 104,
}

/// An error as the specification's error document carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CniError {
    pub code: Code,
    pub msg: String,
    pub details: String,
}

impl CniError {
    pub fn new(code: Code, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    pub fn details(mut self, d: impl Into<String>) -> Self {
        self.details = d.into();
        self
    }

    /// The error document (`{"cniVersion", "code", "msg", "details"}`).
    pub fn to_json(&self, version: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "cniVersion": version,
            "code": self.code as u32,
            "msg": self.msg,
        });
        if !self.details.is_empty() {
            v["details"] = self.details.clone().into();
        }
        v
    }
}

impl std::fmt::Display for CniError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (code {})", self.msg, self.code as u32)
    }
}

/// The CNI operation (CNI_COMMAND).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Version,
    /// CNI 1.1: release what is not in the runtime's valid attachments.
    Gc,
    /// CNI 1.1: whether the plugin is ready for ADD.
    Status,
}

impl Command {
    /// The verb as CNI_COMMAND spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Version => "VERSION",
            Command::Gc => "GC",
            Command::Status => "STATUS",
        }
    }
}

/// The parameters a runtime passes in the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// Absent only on DEL (the namespace may already be gone).
    pub netns: Option<PathBuf>,
    pub ifname: String,
    /// The pod's Kubernetes namespace: K8S_POD_NAMESPACE of CNI_ARGS, read
    /// on ADD and CHECK (DEL needs none); None when the runtime gives none.
    pub namespace: Option<String>,
}

/// The CNI_ARGS key that carries the pod's Kubernetes namespace (set by
/// the kubelet's runtimes, with K8S_POD_NAME and K8S_POD_INFRA_CONTAINER_ID).
pub const POD_NAMESPACE_ARG: &str = "K8S_POD_NAMESPACE";

/// The pod's Kubernetes namespace from CNI_ARGS (`KEY1=VAL1;KEY2=VAL2`, the
/// specification's "Parameters"), checked with Kubernetes' rule. Other keys
/// are ignored, whatever IgnoreUnknown says: tern-cni reads one key only.
/// An element that is not KEY=VALUE, the key twice, or a name Kubernetes
/// refuses is an invalid environment (code 4).
pub fn pod_namespace(cni_args: &str) -> Result<Option<String>, CniError> {
    let bad = |m: String| CniError::new(Code::InvalidEnvironment, format!("CNI_ARGS: {m}"));
    if cni_args.is_empty() {
        return Ok(None);
    }
    let mut namespace = None;
    for element in cni_args.split(';') {
        let (key, value) = match element.split_once('=') {
            Some((k, v)) if !k.is_empty() => (k, v),
            _ => return Err(bad(format!("{element:?} is not KEY=VALUE"))),
        };
        if key != POD_NAMESPACE_ARG {
            continue;
        }
        if namespace.is_some() {
            return Err(bad(format!("{POD_NAMESPACE_ARG} is given twice")));
        }
        tern_control::check_namespace(value)
            .map_err(|e| bad(format!("{POD_NAMESPACE_ARG}: {e}")))?;
        namespace = Some(value.to_owned());
    }
    Ok(namespace)
}

/// Reads and checks the environment through `get` (std::env::var in the
/// binary, a map in tests).
pub fn parse_env(get: impl Fn(&str) -> Option<String>) -> Result<Env, CniError> {
    let bad = |m: String| CniError::new(Code::InvalidEnvironment, m);
    let command = match get("CNI_COMMAND").as_deref() {
        Some("ADD") => Command::Add,
        Some("DEL") => Command::Del,
        Some("CHECK") => Command::Check,
        Some("VERSION") => Command::Version,
        Some("GC") => Command::Gc,
        Some("STATUS") => Command::Status,
        Some(other) => {
            return Err(bad(format!(
                "CNI_COMMAND {other:?} is not ADD, DEL, CHECK, GC, STATUS or VERSION"
            )));
        }
        None => return Err(bad("CNI_COMMAND is not set".into())),
    };
    // GC and STATUS concern the network, not one attachment.
    if matches!(command, Command::Gc | Command::Status) && get("CNI_PATH").is_none() {
        return Err(bad("CNI_PATH is not set".into()));
    }
    if matches!(command, Command::Version | Command::Gc | Command::Status) {
        return Ok(Env {
            command,
            container_id: String::new(),
            netns: None,
            ifname: String::new(),
            namespace: None,
        });
    }
    let container_id =
        get("CNI_CONTAINERID").ok_or_else(|| bad("CNI_CONTAINERID is not set".into()))?;
    let valid_id = !container_id.is_empty()
        && container_id.len() <= 1024
        && container_id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && container_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_id {
        return Err(bad(format!(
            "CNI_CONTAINERID {container_id:?} must start with a letter or digit and hold only letters, digits, '_', '.', '-'"
        )));
    }
    let ifname = get("CNI_IFNAME").ok_or_else(|| bad("CNI_IFNAME is not set".into()))?;
    let valid_if = !ifname.is_empty()
        && ifname.len() <= 15
        && ifname != "."
        && ifname != ".."
        && !ifname.contains(['/', ':'])
        && !ifname.contains(char::is_whitespace);
    if !valid_if {
        return Err(bad(format!(
            "CNI_IFNAME {ifname:?} is not a valid interface name (1 to 15 bytes, no '/', ':' or spaces)"
        )));
    }
    if get("CNI_PATH").is_none() {
        return Err(bad("CNI_PATH is not set".into()));
    }
    let netns = get("CNI_NETNS")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from);
    if netns.is_none() && command != Command::Del {
        return Err(bad("CNI_NETNS is not set".into()));
    }
    if let Some(p) = &netns
        && !p.is_absolute()
    {
        return Err(bad(format!(
            "CNI_NETNS {} is not an absolute path",
            p.display()
        )));
    }
    // DEL reads no CNI_ARGS: it must clean up after any ADD, refused or not.
    let namespace = match command {
        Command::Del => None,
        _ => pod_namespace(&get("CNI_ARGS").unwrap_or_default())?,
    };
    Ok(Env {
        command,
        container_id,
        netns,
        ifname,
        namespace,
    })
}

/// Where ternd listens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerndRef {
    /// ternd's instance name (`-N`): socket /run/tern/NAME/ternd.sock.
    pub instance: Option<String>,
    /// The control socket's path, instead of an instance.
    pub socket: Option<PathBuf>,
}

/// One attachment the runtime still uses (GC's `cni.dev/valid-attachments`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(rename = "containerID")]
    pub container_id: String,
    pub ifname: String,
}

/// The network configuration (stdin). Keys the plugin does not know
/// (`args`, `runtimeConfig`, ...) are accepted and ignored, as the
/// specification asks.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetConf {
    pub cni_version: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub plugin_type: String,
    /// The node's pod CIDRs: at most one IPv4 and one IPv6.
    #[serde(default, rename = "podCIDRs")]
    pub pod_cidrs: Vec<IpNet>,
    pub mtu: Option<u32>,
    #[serde(default)]
    pub ternd: TerndRef,
    /// Where an older tern-cni kept its IPAM file (default
    /// /var/lib/tern/cni/NAME): read once into ternd.
    pub data_dir: Option<PathBuf>,
    pub prev_result: Option<serde_json::Value>,
    /// GC: the attachments the runtime still uses.
    #[serde(rename = "cni.dev/valid-attachments")]
    pub valid_attachments: Option<Vec<Attachment>>,
    /// The same list under the name an earlier draft of CNI 1.1 gave it
    /// (libcni sends both).
    #[serde(rename = "cni.dev/attachments")]
    pub attachments: Option<Vec<Attachment>>,
    /// The VRF the network's pods join (a `vrf NAME` of ternd's config);
    /// absent: the main table.
    pub vrf: Option<String>,
}

/// A checked network configuration.
#[derive(Clone, Debug)]
pub struct Network {
    pub version: String,
    pub name: String,
    pub pools: Vec<IpNet>,
    pub mtu: u32,
    pub socket: PathBuf,
    pub data_dir: PathBuf,
    pub prev_result: Option<serde_json::Value>,
    pub valid_attachments: Option<Vec<Attachment>>,
    /// The VRF of the network's pods (ternd checks that it exists).
    pub vrf: Option<String>,
}

/// Parses stdin's network configuration for `command`. Text that is not
/// JSON is a decoding error (code 6); JSON whose values do not fit (a pod
/// CIDR that is not a prefix, an MTU that is a string) is an invalid
/// configuration (code 7), as is a verb the configuration's version does
/// not have (code 1).
pub fn parse_netconf(bytes: &[u8], command: Command) -> Result<Network, CniError> {
    let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        CniError::new(Code::Decode, "cannot decode the network configuration")
            .details(e.to_string())
    })?;
    let bad = |m: String| CniError::new(Code::InvalidConfig, m);
    if !json.is_object() {
        return Err(bad("the network configuration is not a JSON object".into()));
    }
    let conf: NetConf = serde_json::from_value(json)
        .map_err(|e| bad(format!("invalid network configuration: {e}")))?;
    let version = conf
        .cni_version
        .clone()
        .ok_or_else(|| bad("cniVersion is missing".into()))?;
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "cniVersion {version} is not supported (supported: {})",
                SUPPORTED_VERSIONS.join(", ")
            ),
        ));
    }
    if let Some((verb, since)) = VERB_SINCE.iter().find(|(c, _)| *c == command)
        && !version_at_least(&version, since)
    {
        return Err(CniError::new(
            Code::IncompatibleVersion,
            format!(
                "{} needs cniVersion {since} or later; the configuration is {version}",
                verb.as_str()
            ),
        ));
    }
    let valid_name = !conf.name.is_empty()
        && conf.name.len() <= 128
        && conf.name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && conf
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !valid_name {
        return Err(bad(format!(
            "name {:?} must be letters, digits, '_', '.', '-'",
            conf.name
        )));
    }
    if conf.plugin_type != PLUGIN_TYPE {
        return Err(bad(format!(
            "type is {:?}, expected {PLUGIN_TYPE:?}",
            conf.plugin_type
        )));
    }
    let v4 = conf.pod_cidrs.iter().filter(|p| p.addr().is_ipv4()).count();
    let v6 = conf.pod_cidrs.len() - v4;
    if conf.pod_cidrs.is_empty() || v4 > 1 || v6 > 1 {
        return Err(bad(
            "podCIDRs must list one IPv4 and/or one IPv6 prefix".into()
        ));
    }
    for p in &conf.pod_cidrs {
        if p.trunc() != *p {
            return Err(bad(format!("pod CIDR {p} has host bits set")));
        }
        let max = if p.addr().is_ipv4() { 30 } else { 126 };
        if p.prefix_len() > max {
            return Err(bad(format!("pod CIDR {p} is too small (at most /{max})")));
        }
    }
    let mtu = conf.mtu.unwrap_or(1500);
    let min = if v6 > 0 { 1280 } else { 576 };
    if !(min..=65535).contains(&mtu) {
        return Err(bad(format!("mtu {mtu} is out of range ({min} to 65535)")));
    }
    let socket = match (&conf.ternd.instance, &conf.ternd.socket) {
        (Some(_), Some(_)) => return Err(bad("ternd: give instance or socket, not both".into())),
        (Some(i), None) => {
            tern_control::socket_path(Some(i)).map_err(|e| bad(format!("ternd: {e}")))?
        }
        (None, Some(s)) if s.is_absolute() => s.clone(),
        (None, Some(s)) => {
            return Err(bad(format!("ternd.socket {} is not absolute", s.display())));
        }
        (None, None) => tern_control::socket_path(None).map_err(|e| bad(e.to_string()))?,
    };
    let data_dir = match conf.data_dir {
        Some(d) if d.is_absolute() => d,
        Some(d) => return Err(bad(format!("dataDir {} is not absolute", d.display()))),
        None => PathBuf::from(DEFAULT_DATA_DIR).join(&conf.name),
    };
    if conf.vrf.as_deref().is_some_and(str::is_empty) {
        return Err(bad(
            "vrf is empty: give a VRF name or leave the key out".into()
        ));
    }
    let mut pools = conf.pod_cidrs;
    pools.sort_by_key(|p| p.addr().is_ipv6());
    Ok(Network {
        version,
        name: conf.name,
        pools,
        mtu,
        socket,
        data_dir,
        prev_result: conf.prev_result,
        valid_attachments: conf.valid_attachments.or(conf.attachments),
        vrf: conf.vrf,
    })
}

/// One interface of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultInterface {
    pub name: String,
    pub mac: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
}

/// One address of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultIp {
    /// "4" or "6": written before CNI 1.0.0 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub address: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<std::net::IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
}

/// One route of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRoute {
    pub dst: IpNet,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gw: Option<std::net::IpAddr>,
}

/// The success result of ADD (and the prevResult of CHECK and DEL).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CniResult {
    pub cni_version: String,
    #[serde(default)]
    pub interfaces: Vec<ResultInterface>,
    #[serde(default)]
    pub ips: Vec<ResultIp>,
    #[serde(default)]
    pub routes: Vec<ResultRoute>,
    #[serde(default)]
    pub dns: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Env, CniError> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_env(|k| m.get(k).cloned())
    }

    #[test]
    fn environment() {
        let ok = [
            ("CNI_COMMAND", "ADD"),
            ("CNI_CONTAINERID", "abc-1"),
            ("CNI_NETNS", "/var/run/netns/x"),
            ("CNI_IFNAME", "eth0"),
            ("CNI_PATH", "/opt/cni/bin"),
        ];
        assert_eq!(env(&ok).unwrap().command, Command::Add);
        assert_eq!(env(&ok).unwrap().namespace, None);
        let mut with_args = ok.to_vec();
        with_args.push(("CNI_ARGS", "K8S_POD_NAMESPACE=finance;K8S_POD_NAME=db-0"));
        assert_eq!(
            env(&with_args).unwrap().namespace.as_deref(),
            Some("finance")
        );
        with_args.pop();
        with_args.push(("CNI_ARGS", "K8S_POD_NAMESPACE=Finance"));
        assert_eq!(env(&with_args).unwrap_err().code, Code::InvalidEnvironment);
        // DEL cleans up whatever CNI_ARGS says.
        with_args[0] = ("CNI_COMMAND", "DEL");
        assert_eq!(env(&with_args).unwrap().namespace, None);
        assert_eq!(
            env(&[("CNI_COMMAND", "VERSION")]).unwrap().command,
            Command::Version
        );
        for drop in [
            "CNI_COMMAND",
            "CNI_CONTAINERID",
            "CNI_NETNS",
            "CNI_IFNAME",
            "CNI_PATH",
        ] {
            let v: Vec<_> = ok.iter().copied().filter(|(k, _)| *k != drop).collect();
            assert_eq!(
                env(&v).unwrap_err().code,
                Code::InvalidEnvironment,
                "{drop}"
            );
        }
        let mut del = ok.to_vec();
        del[0] = ("CNI_COMMAND", "DEL");
        del.retain(|(k, _)| *k != "CNI_NETNS");
        assert_eq!(env(&del).unwrap().netns, None);
        for (k, v) in [
            ("CNI_COMMAND", "add"),
            ("CNI_CONTAINERID", "-x"),
            ("CNI_CONTAINERID", "a/b"),
            ("CNI_IFNAME", "a-very-long-interface"),
            ("CNI_IFNAME", "a b"),
            ("CNI_NETNS", "relative"),
        ] {
            let mut e = ok.to_vec();
            e.retain(|(kk, _)| *kk != k);
            e.push((k, v));
            assert_eq!(
                env(&e).unwrap_err().code,
                Code::InvalidEnvironment,
                "{k}={v}"
            );
        }
    }

    #[test]
    fn cni_args() {
        let ns = |a: &str| pod_namespace(a);
        // As the kubelet's runtimes write it.
        assert_eq!(
            ns("IgnoreUnknown=1;K8S_POD_NAMESPACE=kube-system;K8S_POD_NAME=coredns-0;K8S_POD_INFRA_CONTAINER_ID=0123abcd").unwrap(),
            Some("kube-system".to_owned())
        );
        assert_eq!(
            ns("K8S_POD_NAMESPACE=default").unwrap().as_deref(),
            Some("default")
        );
        // Empty, or without the key: no namespace.
        assert_eq!(ns("").unwrap(), None);
        assert_eq!(ns("IgnoreUnknown=1;K8S_POD_NAME=p").unwrap(), None);
        // Unknown keys may hold anything but must still be KEY=VALUE.
        assert_eq!(ns("X=a=b;Y=").unwrap(), None);
        for (bad, msg) in [
            (
                "K8S_POD_NAMESPACE",
                r#"CNI_ARGS: "K8S_POD_NAMESPACE" is not KEY=VALUE"#,
            ),
            (
                "IgnoreUnknown=1;junk",
                r#"CNI_ARGS: "junk" is not KEY=VALUE"#,
            ),
            ("K8S_POD_NAMESPACE=a;", r#"CNI_ARGS: "" is not KEY=VALUE"#),
            ("=a", r#"CNI_ARGS: "=a" is not KEY=VALUE"#),
            (
                "K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=a",
                "CNI_ARGS: K8S_POD_NAMESPACE is given twice",
            ),
            (
                "K8S_POD_NAMESPACE=",
                r#"CNI_ARGS: K8S_POD_NAMESPACE: namespace "": a namespace has 1 to 63 characters"#,
            ),
            (
                "K8S_POD_NAMESPACE=Kube_System",
                r#"CNI_ARGS: K8S_POD_NAMESPACE: namespace "Kube_System": may hold only lower-case letters, digits and '-'"#,
            ),
            (
                "K8S_POD_NAMESPACE=-x",
                r#"CNI_ARGS: K8S_POD_NAMESPACE: namespace "-x": must start and end with a letter or a digit"#,
            ),
        ] {
            let e = ns(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidEnvironment, "{bad}");
            assert_eq!(e.msg, msg, "{bad}");
        }
        let long = format!("K8S_POD_NAMESPACE={}", "n".repeat(64));
        assert_eq!(ns(&long).unwrap_err().code, Code::InvalidEnvironment);
    }

    #[test]
    fn netconf() {
        let good = br#"{"cniVersion":"1.0.0","name":"tern","type":"tern-cni",
            "podCIDRs":["fd00:10::/64","10.244.1.0/24"],"mtu":1450,
            "ternd":{"instance":"node1"},"runtimeConfig":{"x":1}}"#;
        let n = parse_netconf(good, Command::Add).unwrap();
        assert_eq!(n.pools[0].to_string(), "10.244.1.0/24");
        assert_eq!(n.socket, PathBuf::from("/run/tern/node1/ternd.sock"));
        assert_eq!(n.data_dir, PathBuf::from("/var/lib/tern/cni/tern"));
        let code = |s: &str| parse_netconf(s.as_bytes(), Command::Add).unwrap_err().code;
        assert_eq!(n.vrf, None);
        let red = br#"{"cniVersion":"1.0.0","name":"red","type":"tern-cni",
            "podCIDRs":["10.240.1.0/24"],"vrf":"red"}"#;
        assert_eq!(
            parse_netconf(red, Command::Add).unwrap().vrf.as_deref(),
            Some("red")
        );
        assert_eq!(code("{"), Code::Decode);
        for v in ["0.2.0", "1.2.0", "garbage", ""] {
            assert_eq!(
                code(&format!(
                    r#"{{"cniVersion":"{v}","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"]}}"#
                )),
                Code::IncompatibleVersion,
                "{v}"
            );
        }
        for bad in [
            r#"{"name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"ptp","podCIDRs":["10.0.0.0/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":[]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.1/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24","10.1.0.0/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"mtu":100}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"dataDir":"rel"}"#,
            r#"{"cniVersion":"1.0.0","name":"","type":"tern-cni","podCIDRs":["10.0.0.0/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"ternd":{"instance":"../x"}}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"vrf":""}"#,
        ] {
            assert_eq!(code(bad), Code::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn versions_and_their_verbs() {
        let conf = |v: &str| {
            format!(
                r#"{{"cniVersion":"{v}","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"]}}"#
            )
        };
        for v in SUPPORTED_VERSIONS {
            for c in [Command::Add, Command::Del] {
                assert_eq!(parse_netconf(conf(v).as_bytes(), c).unwrap().version, *v);
            }
        }
        // CHECK came with 0.4.0, GC and STATUS with 1.1.0.
        for (v, c, ok) in [
            ("0.3.0", Command::Check, false),
            ("0.3.1", Command::Check, false),
            ("0.4.0", Command::Check, true),
            ("1.0.0", Command::Gc, false),
            ("1.0.0", Command::Status, false),
            ("1.1.0", Command::Gc, true),
            ("1.1.0", Command::Status, true),
        ] {
            let r = parse_netconf(conf(v).as_bytes(), c);
            assert_eq!(r.is_ok(), ok, "{v} {c:?}");
            if let Err(e) = r {
                assert_eq!(e.code, Code::IncompatibleVersion, "{v} {c:?}");
            }
        }
        assert_eq!(
            requested_version(br#"{"cniVersion":"0.4.0"}"#),
            Some("0.4.0")
        );
        assert_eq!(requested_version(br#"{"cniVersion":"garbage"}"#), None);
        assert_eq!(requested_version(b"not json"), None);
        assert!(version_at_least("1.1.0", "1.0.0"));
        assert!(!version_at_least("0.4.0", "1.0.0"));
        assert!(version_at_least("0.3.1", "0.3.0"));
        assert!(!version_at_least("1.0", "0.3.0"));
        let gc = br#"{"cniVersion":"1.1.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],
            "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}"#;
        let n = parse_netconf(gc, Command::Gc).unwrap();
        assert_eq!(
            n.valid_attachments,
            Some(vec![Attachment {
                container_id: "c1".into(),
                ifname: "eth0".into()
            }])
        );
        // libcni sends the list under both names; an earlier draft's alone
        // is taken too.
        let both =
            br#"{"cniVersion":"1.1.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],
            "cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}],
            "cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]}"#;
        assert_eq!(
            parse_netconf(both, Command::Gc).unwrap().valid_attachments,
            n.valid_attachments
        );
        let draft =
            br#"{"cniVersion":"1.1.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],
            "cni.dev/attachments":[{"containerID":"c1","ifname":"eth0"}]}"#;
        assert_eq!(
            parse_netconf(draft, Command::Gc).unwrap().valid_attachments,
            n.valid_attachments
        );
        let env = env(&[("CNI_COMMAND", "GC"), ("CNI_PATH", "/opt/cni/bin")]).unwrap();
        assert_eq!(env.command, Command::Gc);
    }

    /// JSON that does not parse is a decoding error (6); JSON whose values
    /// are of the wrong kind is an invalid configuration (7).
    #[test]
    fn bad_values_are_invalid_configuration_not_decoding_errors() {
        let code = |s: &str| parse_netconf(s.as_bytes(), Command::Add).unwrap_err().code;
        for bad in ["{", "", "not json", r#"{"cniVersion":"1.0.0""#] {
            assert_eq!(code(bad), Code::Decode, "{bad}");
        }
        for bad in [
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["banana"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":"10.0.0.0/24"}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"mtu":"1500"}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"mtu":-1}"#,
            r#"{"cniVersion":"1.0.0","name":7,"type":"tern-cni","podCIDRs":["10.0.0.0/24"]}"#,
            r#"{"cniVersion":"1.0.0","name":"t","type":"tern-cni","podCIDRs":["10.0.0.0/24"],"ternd":{"instanse":"x"}}"#,
            r#"["cniVersion","1.0.0"]"#,
            r#""1.0.0""#,
        ] {
            assert_eq!(code(bad), Code::InvalidConfig, "{bad}");
        }
    }

    #[test]
    fn error_document() {
        let e =
            CniError::new(Code::TryAgainLater, "ternd is not running").details("connect: ENOENT");
        assert_eq!(
            e.to_json("1.0.0"),
            serde_json::json!({"cniVersion":"1.0.0","code":11,"msg":"ternd is not running","details":"connect: ENOENT"})
        );
    }
}
