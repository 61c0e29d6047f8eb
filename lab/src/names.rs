//! Naming rules and well-known paths: containerlab's `clab-LAB-NODE`
//! namespace names, which lab and node names are usable, valid Linux
//! interface names, and where namespaces, daemon sockets and lab state live.

/// Where `ip netns` keeps its named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// FRR's run directory; each instance gets `FRR_RUN_DIR/INSTANCE`.
pub const FRR_RUN_DIR: &str = "/var/run/frr";
/// ternd's run directory; each instance serves `TERN_RUN_DIR/INSTANCE/ternd.sock`.
pub const TERN_RUN_DIR: &str = "/run/tern";
/// Where ternd pins its eBPF maps and links, a folder per instance (the
/// node's namespace name): a ternd stopped for a restart leaves them.
pub const TERN_PIN_DIR: &str = "/sys/fs/bpf/tern";
/// Where the runner keeps one state directory per lab.
pub const DEFAULT_STATE_ROOT: &str = "/run/tern-lab";
/// Where FRR's daemons are installed on Debian.
pub const FRR_SBIN_DIR: &str = "/usr/lib/frr";

/// Longest namespace (and daemon instance) name accepted. The binding limit is
/// the unix socket path (108 bytes) of `/var/run/frr/INSTANCE/zserv.api`; 64
/// leaves room and keeps names readable.
pub const MAX_INSTANCE_NAME: usize = 64;

/// Longest Linux interface name (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// The namespace of a node, which is also its FRR / ternd instance name:
/// containerlab's container name `clab-LAB-NODE`.
pub fn namespace_name(lab: &str, node: &str) -> String {
    format!("{}{node}", namespace_prefix(lab))
}

/// The prefix shared by every namespace of a lab: `clab-LAB-`.
pub fn namespace_prefix(lab: &str) -> String {
    format!("clab-{lab}-")
}

/// Checks a lab or node name. Such names end up in namespace names, paths
/// under /run and FRR's `-N` pathspace, which rejects dots and slashes; so
/// only ASCII letters, digits, `-` and `_` are allowed, starting with a
/// letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("it is empty".to_owned());
    };
    if !first.is_ascii_alphanumeric() {
        return Err(format!(
            "it must start with a letter or digit, not `{first}`"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "character `{}` is not allowed (use letters, digits, `-` and `_`)",
            bad.escape_default()
        ));
    }
    if name.len() > MAX_INSTANCE_NAME {
        return Err(format!(
            "it is {} characters long (at most {MAX_INSTANCE_NAME})",
            name.len()
        ));
    }
    Ok(())
}

/// Checks a Linux interface name the way the kernel's `dev_valid_name` does,
/// and refuses `lo`, which every namespace already has.
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    if name.len() > MAX_IFNAME {
        return Err(format!(
            "it is {} bytes long (Linux allows at most {MAX_IFNAME})",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err("`.` and `..` are not interface names".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "character `{}` is not allowed in interface names",
            bad.escape_default()
        ));
    }
    if name == "lo" {
        return Err("`lo` already exists in every namespace".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_follow_containerlab() {
        assert_eq!(namespace_name("tern", "tor1"), "clab-tern-tor1");
        assert_eq!(namespace_prefix("tern"), "clab-tern-");
    }

    #[test]
    fn names() {
        assert!(check_name("tor1").is_ok());
        assert!(check_name("my-lab_2").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a.b").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn interface_names() {
        assert!(check_ifname("eth1").is_ok());
        assert!(check_ifname("e1-1.100").is_ok());
        assert!(check_ifname("abcdefghijklmno").is_ok());
        assert!(check_ifname("abcdefghijklmnop").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("eth/1").is_err());
        assert!(check_ifname("eth 1").is_err());
        assert!(check_ifname("eth:1").is_err());
        assert!(check_ifname("..").is_err());
        assert!(check_ifname("lo").is_err());
    }
}
