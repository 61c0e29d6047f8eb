//! Tests of the `tern-lab` binary's verbs and exit codes on a lab that is
//! not up (no namespaces are created here), and of its topology errors.

use std::fs;
use std::process::{Command, Output};

fn tern_lab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tern-lab"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run tern-lab")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn host_lab() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = format!("tlcli{}", std::process::id());
    let file = dir.path().join("lab.clab.yml");
    fs::write(
        &file,
        format!("name: {lab}\ntopology:\n  nodes:\n    h1: {{kind: linux, image: alpine}}\n"),
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    (dir, path)
}

#[test]
fn verbs_on_a_lab_that_is_not_up() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (`down` refuses otherwise)"
    );
    let (_dir, file) = host_lab();

    let out = tern_lab(&["status", "-t", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not up"), "{}", text(&out));

    let out = tern_lab(&["-t", &file, "status", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(json["healthy"], false);
    assert_eq!(json["nodes"][0]["name"], "h1");
    assert_eq!(json["nodes"][0]["namespace_present"], false);

    let out = tern_lab(&["down", "-t", &file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("nothing to tear down"),
        "{}",
        text(&out)
    );

    let out = tern_lab(&["exec", "-t", &file, "h1", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));

    let out = tern_lab(&["exec", "-t", &file, "nope", "--", "true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("has no node `nope`"), "{}", text(&out));
}

#[test]
fn topology_errors_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.clab.yml");
    fs::write(
        &file,
        "name: x\ntopology:\n  nodes:\n    r1: {kind: linux, image: alpine, ports: [80]}\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let out = tern_lab(&["up", "-t", &path]);
    assert_eq!(out.status.code(), Some(1));
    let msg = text(&out);
    assert!(msg.contains(&path), "{msg}");
    assert!(msg.contains("node `r1`: unknown key `ports`"), "{msg}");
}
