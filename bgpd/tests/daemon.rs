//! ternd as a process: config refusal with file:line, the control socket's
//! permissions, garbage on the socket, and a clean stop. Needs root (bpf).
use std::{
    io::{BufRead, BufReader, Read, Write},
    os::unix::{fs::PermissionsExt, net::UnixStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tern_tests::Netns;

const TERND: &str = env!("CARGO_BIN_EXE_ternd");

fn temp_config(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

#[test]
fn bad_config_is_refused_with_file_line_and_reason() {
    let (_d, path) = temp_config(
        "bad.conf",
        "hostname ok\n!\ninterface eth1\n bogus words\nlog stdout loud\n",
    );
    let out = Command::new(TERND)
        .args(["-N", "t-badconf", "-f"])
        .arg(&path)
        .output()
        .expect("run ternd");
    assert_eq!(out.status.code(), Some(1), "must exit 1, not panic (101)");
    let err = String::from_utf8_lossy(&out.stderr);
    let p = path.display();
    assert!(
        err.contains(&format!("{p}:4: unknown command \"bogus\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:5: unknown log level \"loud\"")),
        "{err}"
    );
    assert!(err.contains("not started"), "{err}");
    assert!(!Path::new("/run/tern/t-badconf/ternd.sock").exists());
}

#[test]
fn missing_config_is_a_clear_error() {
    let out = Command::new(TERND)
        .args(["-N", "t-missing", "-f", "/nonexistent/tern/ternd.conf"])
        .output()
        .expect("run ternd");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "cannot read config file /nonexistent/tern/ternd.conf: No such file or directory"
        ),
        "{err}"
    );
}

#[test]
fn check_mode_validates_without_starting() {
    let (_d, path) = temp_config("ok.conf", "hostname n1\ninterface lo\n");
    let out = Command::new(TERND)
        .arg("-C")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
}

#[test]
fn bad_instance_names_are_refused() {
    let out = Command::new(TERND)
        .args(["-N", "../etc", "-C"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid instance name"));
}

/// A running ternd, stopped (SIGTERM) and reaped on drop.
struct Ternd {
    child: Child,
    socket: PathBuf,
}

impl Ternd {
    fn start(instance: &str, config: &Path) -> Ternd {
        let socket = PathBuf::from(format!("/run/tern/{instance}/ternd.sock"));
        let child = Command::new(TERND)
            .args(["-N", instance, "-f"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ternd");
        let mut t = Ternd { child, socket };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&t.socket).is_err() {
            if let Ok(Some(status)) = t.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = t.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("ternd exited early ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "ternd socket never appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    fn stop(&mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        self.child.wait().expect("wait ternd")
    }
}

impl Drop for Ternd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

fn roundtrip(stream: &mut UnixStream, line: &[u8]) -> serde_json::Value {
    stream.write_all(line).expect("write");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut reply = String::new();
    reader.read_line(&mut reply).expect("read reply");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

#[test]
fn control_socket_survives_garbage_and_stops_cleanly() {
    let instance = format!("t-sock-{}", std::process::id());
    let (_d, path) = temp_config("ternd.conf", "hostname sockets\ninterface lo\n");
    let mut d = Ternd::start(&instance, &path);

    let mode = std::fs::metadata(&d.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660, "socket mode {:o}", mode & 0o777);

    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let r = roundtrip(&mut s, b"this is not json\n");
    assert_eq!(r["reply"], "error");
    assert!(
        r["message"]
            .as_str()
            .unwrap_or("")
            .contains("malformed request")
    );
    let r = roundtrip(&mut s, b"{\"request\":\"no-such-request\"}\n");
    assert_eq!(r["reply"], "error");
    let r = roundtrip(&mut s, &[0xff, 0xfe, 0x00, b'\n']);
    assert_eq!(r["reply"], "error");
    // The same connection still works for a real request.
    let r = roundtrip(&mut s, b"{\"request\":\"show-version\"}\n");
    assert_eq!(r["reply"], "version");
    assert_eq!(r["hostname"], "sockets");

    // A client that disconnects mid-line does not disturb the daemon.
    {
        let mut c = UnixStream::connect(&d.socket).expect("connect");
        c.write_all(b"{\"request\":\"sho").expect("write");
    }
    // An oversized line is answered with an error and the connection closed.
    {
        let mut c = UnixStream::connect(&d.socket).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..17 {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
        let mut reply = String::new();
        let _ = BufReader::new(&c).read_line(&mut reply);
        assert!(reply.contains("longer than"), "reply: {reply:?}");
    }
    // The daemon is still serving.
    let mut s2 = UnixStream::connect(&d.socket).expect("connect after garbage");
    s2.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let r = roundtrip(
        &mut s2,
        b"{\"request\":\"show-interfaces\",\"name\":\"lo\"}\n",
    );
    assert_eq!(r["reply"], "interfaces");
    assert_eq!(r["interfaces"][0]["name"], "lo");
    assert!(
        r["interfaces"][0]["tern"].is_object(),
        "lo counters attached: {r}"
    );

    // A second daemon of the same instance refuses to start.
    let out = Command::new(TERND)
        .args(["-N", &instance, "-f"])
        .arg(&path)
        .output()
        .expect("run second ternd");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already serves"));

    let status = d.stop();
    assert!(status.success(), "ternd exit {status}");
    assert!(!d.socket.exists(), "socket removed on stop");
    assert!(
        !Path::new(&format!("/sys/fs/bpf/tern/{instance}")).exists(),
        "pins removed"
    );
}

impl Ternd {
    /// Started the way lab users start daemons: `ip netns exec NS ternd`,
    /// which gives ternd a fresh /sys without bpffs. `ip netns exec` execs
    /// ternd, so the child's pid is ternd's.
    fn start_in(ns: &Netns, instance: &str, config: &Path) -> Ternd {
        let socket = PathBuf::from(format!("/run/tern/{instance}/ternd.sock"));
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, TERND, "-N", instance, "-f"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ip netns exec ternd");
        let mut t = Ternd { child, socket };
        t.wait_for_socket();
        t
    }

    fn wait_for_socket(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&self.socket).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("ternd exited early ({status}): {err}");
            }
            assert!(Instant::now() < deadline, "ternd socket never appeared");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request on a fresh connection.
    fn ask(&self, req: &str) -> serde_json::Value {
        let mut s = UnixStream::connect(&self.socket).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).ok();
        roundtrip(&mut s, format!("{req}\n").as_bytes())
    }

    /// Everything ternd wrote to stderr (the log), after a stop.
    fn log(&mut self) -> String {
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        err
    }
}

#[test]
fn runs_under_ip_netns_exec_without_bpffs() {
    let pid = std::process::id();
    let ns = Netns::new(&format!("tern-t-bpffs-{pid}"));
    let instance = format!("t-netns-{pid}");
    let (_d, path) = temp_config("ternd.conf", "hostname innetns\ninterface lo\n");
    let mut d = Ternd::start_in(&ns, &instance, &path);
    let r = d.ask(r#"{"request":"show-version"}"#);
    assert_eq!(r["reply"], "version", "{r}");
    assert_eq!(r["hostname"], "innetns");
    let r = d.ask(r#"{"request":"show-interfaces","name":"lo"}"#);
    assert!(
        r["interfaces"][0]["tern"].is_object(),
        "counters on lo: {r}"
    );
    let status = d.stop();
    assert!(status.success(), "ternd exit {status}: {}", d.log());
}

/// Not a test of its own: `shows_passwords_to_root_only` runs this test
/// binary again as another user with TERN_T_ASK set to a socket and a
/// request; it prints the reply on one line.
#[test]
fn helper_ask_as_another_user() {
    let Ok(ask) = std::env::var("TERN_T_ASK") else {
        return;
    };
    let (socket, req) = ask.split_once(' ').expect("SOCKET REQUEST");
    let mut s = UnixStream::connect(socket).expect("connect as another user");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let r = roundtrip(&mut s, format!("{req}\n").as_bytes());
    println!("REPLY {r}");
}

/// `req` sent to ternd's socket by uid `uid` (gid: the socket's group).
fn ask_as(uid: u32, socket: &Path, req: &str) -> serde_json::Value {
    use std::os::unix::{fs::MetadataExt, process::CommandExt};
    let gid = std::fs::metadata(socket).expect("socket").gid();
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "helper_ask_as_another_user",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("TERN_T_ASK", format!("{} {req}", socket.display()))
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("REPLY ").map(|(_, r)| r))
        .unwrap_or_else(|| {
            panic!(
                "no reply: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    serde_json::from_str(line).expect("reply json")
}

#[test]
fn passwords_are_shown_to_root_only_logged_never_and_saved_privately() {
    use std::os::unix::fs::MetadataExt;
    let pid = std::process::id();
    let ns = Netns::new(&format!("tern-t-secret-{pid}"));
    let instance = format!("t-secret-{pid}");
    let (dir, path) = temp_config(
        "ternd.conf",
        "hostname secrets\nrouter bgp 65001\n bgp router-id 192.0.2.9\n \
         neighbor 192.0.2.1 remote-as 65000\n neighbor 192.0.2.1 password fil3-s3cret\n",
    );
    // The operator's file: owned by uid 65534, group-readable.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
    let mut d = Ternd::start_in(&ns, &instance, &path);

    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    for line in [
        "router bgp 65001",
        "neighbor 192.0.2.1 password l1ve-s3cret",
    ] {
        let req = serde_json::json!({"request": "config-line", "line": line});
        let r = roundtrip(&mut s, format!("{req}\n").as_bytes());
        assert_eq!(r["reply"], "config-applied", "{line}: {r}");
    }
    let root = d.ask(r#"{"request":"show-running-config"}"#);
    let text = root["text"].as_str().expect("text");
    assert!(
        text.contains(" neighbor 192.0.2.1 password l1ve-s3cret\n"),
        "{text}"
    );
    let other = ask_as(65534, &d.socket, r#"{"request":"show-running-config"}"#);
    let text = other["text"].as_str().unwrap_or_else(|| panic!("{other}"));
    assert!(!text.contains("s3cret"), "{text}");
    assert!(
        text.contains(" neighbor 192.0.2.1 password <hidden>\n"),
        "{text}"
    );

    let r = d.ask(r#"{"request":"write-memory"}"#);
    assert_eq!(r["reply"], "written", "{r}");
    for p in [path.clone(), dir.path().join("ternd.conf.bak")] {
        let m = std::fs::metadata(&p).expect("saved file");
        assert_eq!(m.mode() & 0o7777, 0o640, "{}", p.display());
        assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
    }
    let saved = std::fs::read_to_string(&path).expect("read saved");
    assert!(saved.contains("password l1ve-s3cret"), "{saved}");

    let status = d.stop();
    let log = d.log();
    assert!(status.success(), "ternd exit {status}: {log}");
    assert!(
        log.contains("config line"),
        "config lines are logged: {log}"
    );
    assert!(!log.contains("s3cret"), "a password in the log: {log}");
}

#[test]
fn a_newline_in_a_description_cannot_add_config_lines() {
    let pid = std::process::id();
    let ns = Netns::new(&format!("tern-t-inject-{pid}"));
    let instance = format!("t-inject-{pid}");
    let (_dir, path) = temp_config("ternd.conf", "hostname inject\ninterface lo\n");
    let mut d = Ternd::start_in(&ns, &instance, &path);
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    for line in [
        "interface lo",
        "description loopback\nrouter bgp 666",
        "description loopback\u{1b}[2J",
    ] {
        let req = serde_json::json!({"request": "config-line", "line": line});
        let r = roundtrip(&mut s, format!("{req}\n").as_bytes());
        if line == "interface lo" {
            assert_eq!(r["reply"], "config-applied", "{r}");
        } else {
            assert_eq!(r["reply"], "error", "{line:?}: {r}");
            let m = r["message"].as_str().unwrap_or("");
            assert!(m.contains("control character"), "{m}");
        }
    }
    let r = d.ask(r#"{"request":"write-memory"}"#);
    assert_eq!(r["reply"], "written", "{r}");
    let saved = std::fs::read_to_string(&path).expect("saved");
    assert!(!saved.contains("router bgp"), "{saved}");
    assert!(!saved.contains("description"), "{saved}");
    let status = d.stop();
    assert!(status.success(), "ternd exit {status}: {}", d.log());
}

#[test]
fn frr_router_lines_apply_live_or_are_refused_by_name() {
    let pid = std::process::id();
    let ns = Netns::new(&format!("tern-t-frrlines-{pid}"));
    let instance = format!("t-frrlines-{pid}");
    let (_dir, path) = temp_config(
        "ternd.conf",
        "hostname frrlines\nrouter bgp 65001\n bgp router-id 192.0.2.9\n \
         neighbor 192.0.2.1 remote-as 65000\n",
    );
    let mut d = Ternd::start_in(&ns, &instance, &path);
    let mut s = UnixStream::connect(&d.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut line = |text: &str| {
        let req = serde_json::json!({"request": "config-line", "line": text});
        roundtrip(&mut s, format!("{req}\n").as_bytes())
    };
    for ok in [
        "router bgp 65001",
        "bgp log-neighbor-changes",
        "no bgp ebgp-requires-policy",
        "bgp bestpath as-path multipath-relax",
        "timers bgp 10 30",
        "neighbor 192.0.2.1 send-community all",
        "neighbor 192.0.2.1 bfd",
    ] {
        let r = line(ok);
        assert_eq!(r["reply"], "config-applied", "{ok}: {r}");
    }
    for (bad, want) in [
        (
            "bgp bestpath compare-routerid",
            "is not supported by Tern yet",
        ),
        (
            "neighbor eth1 interface",
            "\"neighbor ... interface\" is not supported by Tern yet",
        ),
        ("neighbor 192.0.2.1 bfd profile fast", "bfd profile"),
    ] {
        let r = line(bad);
        assert_eq!(r["reply"], "error", "{bad}: {r}");
        assert!(r["message"].as_str().unwrap_or("").contains(want), "{r}");
    }
    let text = d.ask(r#"{"request":"show-running-config"}"#)["text"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(
        text.contains("\n bgp bestpath as-path multipath-relax\n"),
        "{text}"
    );
    assert!(text.contains("\n timers bgp 10 30\n"), "{text}");
    // The router's timers are the neighbor's now (it has none of its own).
    let r = d.ask(r#"{"request":"show-bgp-neighbors","address":"192.0.2.1"}"#);
    let n = &r["neighbors"][0];
    assert_eq!(n["configured_keepalive"], 10, "{r}");
    assert_eq!(n["configured_hold_time"], 30, "{r}");
    let status = d.stop();
    assert!(status.success(), "ternd exit {status}: {}", d.log());
}
