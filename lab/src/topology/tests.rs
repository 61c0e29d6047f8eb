//! Unit tests of topology parsing and validation: the shipped default lab,
//! and one bad file per kind of error.

use std::path::{Path, PathBuf};

use super::*;
use crate::error::TopologyErrorKind as K;

/// A temp dir holding config files the topologies below refer to, and the
/// topology itself as `lab.clab.yml`.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (path, text) in [
            ("r1/frr.conf", "hostname r1\n"),
            ("r1/daemons", "bgpd=yes\n"),
            ("n1/ternd.conf", "hostname n1\n"),
            ("other.conf", "hostname x\n"),
        ] {
            let p = dir.path().join(path);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(p, text).expect("write");
        }
        Fixture { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("lab.clab.yml")
    }

    fn load(&self, yaml: &str) -> Result<Topology, TopologyError> {
        std::fs::write(self.path(), yaml).expect("write topology");
        Topology::load(self.path())
    }

    fn err(&self, yaml: &str) -> TopologyError {
        match self.load(yaml) {
            Ok(t) => panic!("expected an error, parsed {t:#?}"),
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&self.path().display().to_string()),
                    "error does not name the file: {text}"
                );
                e
            }
        }
    }
}

const GOOD: &str = r#"
name: t1
mgmt:
  network: custom
topology:
  kinds:
    linux:
      image: ignored
  defaults:
    kind: linux
  nodes:
    r1:
      kind: linux
      image: quay.io/frrouting/frr:8.4.1
      binds:
        - r1/frr.conf:/etc/frr/frr.conf
        - r1/daemons:/etc/frr/daemons:ro
      exec:
        - ip addr add 192.0.2.0/31 dev eth1
        - sh -c "echo 'a b'"
    n1:
      kind: linux
      image: tern:latest
      startup-config: n1/ternd.conf
      env:
        RUST_LOG: debug
        COUNT: 3
    h1:
      kind: linux
      image: alpine:3
  links:
    - endpoints: ["r1:eth1", "n1:eth1"]
    - endpoints: ["r1:eth2", "h1:e-2.100"]
      mtu: 9000
"#;

#[test]
fn good_file_parses() {
    let fx = Fixture::new();
    let t = fx.load(GOOD).expect("good topology");
    assert_eq!(t.name, "t1");
    assert_eq!(t.dir, fx.dir.path());
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["r1", "n1", "h1"], "file order is kept");

    let r1 = t.node("r1").expect("r1");
    assert_eq!(r1.role, Role::Frr);
    assert_eq!(
        r1.config.as_deref(),
        Some(fx.dir.path().join("r1/frr.conf").as_path())
    );
    assert_eq!(r1.binds.len(), 2);
    assert_eq!(r1.binds[1].mode, BindMode::Ro);
    assert_eq!(r1.binds[1].container, "/etc/frr/daemons");
    assert_eq!(r1.exec[1].argv, ["sh", "-c", "echo 'a b'"]);

    let n1 = t.node("n1").expect("n1");
    assert_eq!(n1.role, Role::Tern);
    assert_eq!(
        n1.config.as_deref(),
        Some(fx.dir.path().join("n1/ternd.conf").as_path())
    );
    assert_eq!(n1.env.get("COUNT").map(String::as_str), Some("3"));

    let h1 = t.node("h1").expect("h1");
    assert_eq!(h1.role, Role::Host);
    assert_eq!(h1.config, None);

    assert_eq!(t.links.len(), 2);
    assert_eq!(t.links[1].b.interface, "e-2.100");
    assert_eq!(t.links[1].mtu, Some(9000));
    assert_eq!(t.namespace("r1"), "clab-t1-r1");
}

#[test]
fn default_lab_parses() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/tern.clab.yml");
    let t = Topology::load(&file).expect("the default lab must parse");
    assert_eq!(t.name, "tern");
    let roles: Vec<(&str, Role)> = t.nodes.iter().map(|n| (n.name.as_str(), n.role)).collect();
    assert_eq!(
        roles,
        [
            ("tor1", Role::Frr),
            ("node1", Role::Tern),
            ("node2", Role::Tern)
        ]
    );
    assert_eq!(t.links.len(), 2);
    assert_eq!(t.links[0].a.to_string(), "tor1:eth1");
    assert_eq!(t.links[0].b.to_string(), "node1:eth1");
    assert_eq!(t.links[1].a.to_string(), "tor1:eth2");
    assert_eq!(t.links[1].b.to_string(), "node2:eth1");
    for node in &t.nodes {
        let config = node.config.as_ref().expect("config");
        assert!(config.is_file(), "{}", config.display());
    }
}

#[test]
fn roles_come_from_the_image_name() {
    assert_eq!(Role::from_image("quay.io/frrouting/frr:8.4.1"), Role::Frr);
    assert_eq!(Role::from_image("frrouting/frr@sha256:abcd"), Role::Frr);
    assert_eq!(Role::from_image("tern:latest"), Role::Tern);
    assert_eq!(
        Role::from_image("registry.example:5000/team/tern"),
        Role::Tern
    );
    assert_eq!(Role::from_image("jauderho/gobgp:v3.10.0"), Role::Gobgp);
    assert_eq!(Role::from_image("docker.io/osrg/GoBGP"), Role::Gobgp);
    assert_eq!(Role::from_image("pierky/bird:2.0.12"), Role::Bird);
    assert_eq!(Role::from_image("ghcr.io/x/bird2@sha256:abcd"), Role::Bird);
    assert_eq!(Role::from_image("alpine:3"), Role::Host);
    assert_eq!(Role::from_image("registry.internal/alpine"), Role::Host);
    // Only the image's own name counts, not its registry path or tag.
    assert_eq!(Role::from_image("bird.example/alpine:gobgp"), Role::Host);
    assert_eq!(Role::Gobgp.config_path(), Some(GOBGP_CONFIG_PATH));
    assert_eq!(Role::Bird.config_path(), Some(BIRD_CONFIG_PATH));
    assert_eq!(Role::Gobgp.to_string(), "gobgp");
    assert_eq!(Role::Bird.to_string(), "bird");
}

#[test]
fn peer_labs_parse() {
    for (file, router, role) in [
        ("gobgp.clab.yml", "gobgp1", Role::Gobgp),
        ("bird.clab.yml", "bird1", Role::Bird),
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("topologies")
            .join(file);
        let t = Topology::load(&path).unwrap_or_else(|e| panic!("{file} must parse: {e}"));
        let roles: Vec<(&str, Role)> = t.nodes.iter().map(|n| (n.name.as_str(), n.role)).collect();
        assert_eq!(
            roles,
            [(router, role), ("node1", Role::Tern), ("node2", Role::Tern)],
            "{file}"
        );
        let links: Vec<String> = t.links.iter().map(|l| format!("{} {}", l.a, l.b)).collect();
        assert_eq!(
            links,
            [
                format!("{router}:eth1 node1:eth1"),
                format!("{router}:eth2 node2:eth1")
            ],
            "{file}"
        );
        for node in &t.nodes {
            let config = node.config.as_ref().expect("config");
            assert!(config.is_file(), "{}", config.display());
        }
    }
}

fn node_yaml(body: &str) -> String {
    format!("name: t1\ntopology:\n  nodes:\n    r1:\n{body}")
}

#[test]
fn unknown_node_key_is_named() {
    let fx = Fixture::new();
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      mgmt-ipv4: 172.20.20.2\n",
    ));
    match &e.kind {
        K::UnknownNodeKey { node, key } => {
            assert_eq!(node, "r1");
            assert_eq!(key, "mgmt-ipv4");
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("mgmt-ipv4"));
}

#[test]
fn unknown_top_level_key_is_reported() {
    let fx = Fixture::new();
    let e =
        fx.err("name: t1\nbogus: 1\ntopology:\n  nodes:\n    h: {kind: linux, image: alpine}\n");
    assert!(matches!(e.kind, K::Yaml(_)), "{e}");
    assert!(e.to_string().contains("bogus"), "{e}");
}

#[test]
fn yaml_syntax_error() {
    let fx = Fixture::new();
    let e = fx.err("name: [t1\n");
    assert!(matches!(e.kind, K::Yaml(_)), "{e}");
}

#[test]
fn missing_file() {
    let e = Topology::load("/nonexistent/lab.clab.yml").expect_err("no file");
    assert!(matches!(e.kind, K::Read(_)), "{e}");
    assert!(e.to_string().contains("/nonexistent/lab.clab.yml"));
}

#[test]
fn names_are_checked() {
    let fx = Fixture::new();
    let e = fx.err("topology:\n  nodes:\n    h: {kind: linux, image: alpine}\n");
    assert!(matches!(e.kind, K::MissingName), "{e}");
    let e = fx.err("name: t.1\ntopology:\n  nodes:\n    h: {kind: linux, image: alpine}\n");
    assert!(matches!(e.kind, K::BadLabName { .. }), "{e}");
    let e = fx.err("name: t1\ntopology:\n  nodes:\n    h/1: {kind: linux, image: alpine}\n");
    assert!(matches!(e.kind, K::BadNodeName { .. }), "{e}");
    let e = fx.err("name: t1\ntopology:\n  nodes: {}\n");
    assert!(matches!(e.kind, K::NoNodes), "{e}");
    let e =
        fx.err("name: t1\nprefix: lab\ntopology:\n  nodes:\n    h: {kind: linux, image: alpine}\n");
    assert!(matches!(e.kind, K::UnsupportedPrefix(_)), "{e}");
    let long = "n".repeat(60);
    let e = fx.err(&format!(
        "name: t1\ntopology:\n  nodes:\n    {long}: {{kind: linux, image: alpine}}\n"
    ));
    assert!(matches!(e.kind, K::NamespaceTooLong { .. }), "{e}");
}

#[test]
fn kind_and_image_are_required() {
    let fx = Fixture::new();
    let e = fx.err(&node_yaml("      image: alpine\n"));
    assert!(matches!(e.kind, K::MissingKind { .. }), "{e}");
    let e = fx.err(&node_yaml("      kind: nokia_srlinux\n      image: srl\n"));
    assert!(matches!(e.kind, K::UnsupportedKind { .. }), "{e}");
    let e = fx.err(&node_yaml("      kind: linux\n"));
    assert!(matches!(e.kind, K::MissingImage { .. }), "{e}");
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      binds: oops\n",
    ));
    assert!(matches!(e.kind, K::BadNode { .. }), "{e}");
}

#[test]
fn configs_must_exist() {
    let fx = Fixture::new();
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: frrouting/frr:8.4.1\n",
    ));
    match &e.kind {
        K::MissingConfig {
            node,
            role,
            container_path,
        } => {
            assert_eq!(node, "r1");
            assert_eq!(*role, Role::Frr);
            assert_eq!(*container_path, FRR_CONFIG_PATH);
        }
        other => panic!("wrong error: {other}"),
    }
    for (image, path) in [
        ("tern:latest", TERN_CONFIG_PATH),
        ("jauderho/gobgp:v3.10.0", GOBGP_CONFIG_PATH),
        ("pierky/bird:2.0.12", BIRD_CONFIG_PATH),
    ] {
        let e = fx.err(&node_yaml(&format!(
            "      kind: linux\n      image: {image}\n"
        )));
        assert!(
            matches!(e.kind, K::MissingConfig { container_path, .. } if container_path == path),
            "{e}"
        );
        assert!(e.to_string().contains(path), "{e}");
    }
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: tern:latest\n      binds: [nope.conf:/etc/tern/ternd.conf]\n",
    ));
    assert!(matches!(e.kind, K::BindSourceMissing { .. }), "{e}");
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: tern:latest\n      startup-config: nope.conf\n",
    ));
    assert!(matches!(e.kind, K::ConfigNotFound { .. }), "{e}");
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: frr\n      binds: [r1:/etc/frr/frr.conf]\n",
    ));
    assert!(
        matches!(e.kind, K::ConfigNotFound { .. }),
        "a directory is not a config: {e}"
    );
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: frr\n      binds: [r1/frr.conf:/etc/frr/frr.conf]\n      startup-config: other.conf\n",
    ));
    assert!(matches!(e.kind, K::AmbiguousConfig { .. }), "{e}");
    // The same file both ways is fine.
    fx.load(&node_yaml(
        "      kind: linux\n      image: frr\n      binds: [r1/frr.conf:/etc/frr/frr.conf]\n      startup-config: r1/frr.conf\n",
    ))
    .expect("same file twice");
}

#[test]
fn binds_are_checked() {
    let fx = Fixture::new();
    for bind in [
        "r1/daemons",
        "r1/daemons:/etc/frr/daemons:z",
        "r1/daemons:etc/frr/daemons",
        ":/etc/frr/daemons",
        "a:b:c:d",
    ] {
        let e = fx.err(&node_yaml(&format!(
            "      kind: linux\n      image: alpine\n      binds: ['{bind}']\n"
        )));
        assert!(matches!(e.kind, K::BadBind { .. }), "{bind}: {e}");
    }
    let abs = fx.dir.path().join("other.conf");
    let t = fx
        .load(&node_yaml(&format!(
            "      kind: linux\n      image: alpine\n      binds: ['{}:/x:rw']\n",
            abs.display()
        )))
        .expect("absolute host path");
    assert_eq!(t.nodes[0].binds[0].host, abs);
}

#[test]
fn exec_and_env_are_checked() {
    let fx = Fixture::new();
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      exec:\n        - ip link\n        - echo 'unterminated\n",
    ));
    assert!(matches!(e.kind, K::BadExec { line: 2, .. }), "{e}");
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      exec: ['   ']\n",
    ));
    assert!(matches!(e.kind, K::BadExec { line: 1, .. }), "{e}");
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      env:\n        LIST: [1, 2]\n",
    ));
    assert!(matches!(e.kind, K::BadEnv { .. }), "{e}");
}

fn link_yaml(links: &str) -> String {
    format!(
        "name: t1\ntopology:\n  nodes:\n    a: {{kind: linux, image: alpine}}\n    b: {{kind: linux, image: alpine}}\n  links:\n{links}"
    )
}

#[test]
fn links_are_checked() {
    let fx = Fixture::new();
    let e = fx.err(&link_yaml("    - endpoints: [\"a:eth1\"]\n"));
    assert!(matches!(e.kind, K::BadLink { link: 1, .. }), "{e}");
    let e = fx.err(&link_yaml(
        "    - endpoints: [\"a:eth1\", \"b:eth1\", \"b:eth2\"]\n",
    ));
    assert!(matches!(e.kind, K::BadLink { .. }), "{e}");
    let e = fx.err(&link_yaml("    - endpoints: [\"a-eth1\", \"b:eth1\"]\n"));
    assert!(matches!(e.kind, K::BadEndpoint { .. }), "{e}");
    let e = fx.err(&link_yaml(
        "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n    - endpoints: [\"a:eth2\", \"c:eth1\"]\n",
    ));
    match &e.kind {
        K::UnknownNode { link, node, .. } => {
            assert_eq!(*link, 2);
            assert_eq!(node, "c");
        }
        other => panic!("wrong error: {other}"),
    }
    for ifname in ["eth1234567890123", "eth/1", "eth 1", "", "lo", "a:b"] {
        let e = fx.err(&link_yaml(&format!(
            "    - endpoints: [\"a:{ifname}\", \"b:eth1\"]\n"
        )));
        assert!(
            matches!(e.kind, K::BadInterfaceName { .. }),
            "{ifname:?}: {e}"
        );
    }
    let e = fx.err(&link_yaml(
        "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n    - endpoints: [\"b:eth2\", \"a:eth1\"]\n",
    ));
    match &e.kind {
        K::InterfaceReused {
            link,
            node,
            interface,
            first_link,
        } => {
            assert_eq!((*link, *first_link), (2, 1));
            assert_eq!((node.as_str(), interface.as_str()), ("a", "eth1"));
        }
        other => panic!("wrong error: {other}"),
    }
    let e = fx.err(&link_yaml("    - endpoints: [\"a:eth1\", \"a:eth1\"]\n"));
    assert!(matches!(e.kind, K::InterfaceReused { .. }), "{e}");
    let e = fx.err(&link_yaml(
        "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      mtu: 10\n",
    ));
    assert!(matches!(e.kind, K::BadLink { .. }), "{e}");
    let e = fx.err(&link_yaml(
        "    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      vars: {}\n",
    ));
    assert!(matches!(e.kind, K::Yaml(_)), "{e}");
    // A link between two interfaces of one node is allowed.
    fx.load(&link_yaml("    - endpoints: [\"a:eth1\", \"a:eth2\"]\n"))
        .expect("loop link");
}

#[test]
fn pods_lab_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/pods.clab.yml");
    let t = Topology::load(&path).unwrap_or_else(|e| panic!("pods.clab.yml must parse: {e}"));
    for name in ["node1", "node2"] {
        let n = t.node(name).expect("node");
        assert_eq!(n.pods, ["pod1", "pod2"]);
        let conf = n.cni_config.as_ref().expect("tern-cni config");
        assert!(conf.is_file(), "{}", conf.display());
    }
    assert!(t.node("tor1").expect("tor1").pods.is_empty());
}

#[test]
fn pods_are_checked() {
    let fx = Fixture::new();
    std::fs::write(fx.dir.path().join("n1/10-tern.conf"), "{}").expect("write");
    let tern = |labels: &str, cni: bool| {
        let bind = if cni {
            "        - n1/10-tern.conf:/etc/cni/net.d/10-tern.conf\n"
        } else {
            ""
        };
        format!(
            "name: t1\ntopology:\n  nodes:\n    n1:\n      kind: linux\n      image: tern:latest\n      binds:\n        - n1/ternd.conf:/etc/tern/ternd.conf\n{bind}      labels:\n{labels}"
        )
    };
    let t = fx
        .load(&tern(
            "        tern.pods: \"a, b\"\n        other: x\n",
            true,
        ))
        .expect("pods parse");
    assert_eq!(t.nodes[0].pods, ["a", "b"]);
    for (labels, cni, needle) in [
        ("        tern.pods: \"a\"\n", false, "/etc/cni/net.d/"),
        ("        tern.pods: \"a a\"\n", true, "twice"),
        ("        tern.pods: \"a/b\"\n", true, "pod name"),
        ("        tern.pods: [a]\n", true, "must be a string"),
    ] {
        let e = fx.err(&tern(labels, cni));
        assert!(matches!(e.kind, K::BadNode { .. }), "{e}");
        assert!(e.to_string().contains(needle), "{needle}: {e}");
    }
    // Only Tern nodes have pods.
    let e = fx.err(&node_yaml(
        "      kind: linux\n      image: alpine\n      labels:\n        tern.pods: a\n",
    ));
    assert!(e.to_string().contains("only for Tern nodes"), "{e}");
}

#[test]
fn srv6_lab_parses() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/srv6.clab.yml");
    let t = Topology::load(&path).unwrap_or_else(|e| panic!("srv6.clab.yml must parse: {e}"));
    let roles: Vec<(&str, Role)> = t.nodes.iter().map(|n| (n.name.as_str(), n.role)).collect();
    assert_eq!(
        roles,
        [
            ("tor1", Role::Frr),
            ("node1", Role::Tern),
            ("node2", Role::Tern)
        ]
    );
    // The pods come from lab/tools/cni_pod.py with each VRF's network
    // configuration, not from the `tern.pods` label.
    assert!(t.nodes.iter().all(|n| n.pods.is_empty()));
    for n in ["node1", "node2"] {
        for vrf in ["red", "blue"] {
            let conf = path
                .parent()
                .unwrap_or(Path::new("."))
                .join(format!("srv6/{n}/{vrf}.conf"));
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&conf).expect("netconf")).expect("JSON");
            assert_eq!(v["vrf"], vrf, "{}", conf.display());
        }
    }
}
