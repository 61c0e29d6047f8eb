//! `tern` as an operator uses it: the interactive shell on a terminal.
//! ternd runs in a throwaway network namespace; `tern -N INSTANCE` runs in
//! a tmux pane (a real pseudo-terminal) that the test types into with
//! `send-keys` and reads with `capture-pane`, polling with a deadline:
//! `sh ver`, `show ?`, `sh int br`, TAB completion, an unknown command,
//! `conf t` and the config prompts, `write memory`, `end`, and `exit`
//! ending the process. Needs root and tmux (lab/setup.sh installs it).
use std::{
    os::unix::net::UnixStream,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use tern_tests::{bin, netns_command};

const DEADLINE: Duration = Duration::from_secs(15);

/// The namespace, ternd, the tmux server and the scratch directory; all
/// removed on drop.
struct Setup {
    netns: String,
    instance: String,
    dir: PathBuf,
    ternd: Option<Child>,
    /// tmux server socket name (`tmux -L`), private to this test.
    tmux: String,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.tmux, "kill-server"])
            .output();
        if let Some(mut c) = self.ternd.take() {
            // A clean stop first (ternd removes its socket and pins), then
            // SIGKILL if it does not come.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(format!("/run/tern/{}", self.instance));
        let _ = std::fs::remove_dir_all(format!("/sys/fs/bpf/tern/{}", self.instance));
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn setup() -> Setup {
    let pid = std::process::id();
    let s = Setup {
        netns: format!("tern-cli-{pid}"),
        instance: format!("t-cli-{pid}"),
        dir: std::env::temp_dir().join(format!("tern-cli-{pid}")),
        ternd: None,
        tmux: format!("tern-cli-{pid}"),
    };
    let tmux_ok = Command::new("tmux").arg("-V").output();
    assert!(
        tmux_ok.is_ok_and(|o| o.status.success()),
        "tmux is missing: run lab/setup.sh"
    );
    std::fs::create_dir_all(&s.dir).expect("scratch directory");
    sh(&["ip", "netns", "add", &s.netns]);
    let ns = s.netns.as_str();
    sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    sh(&[
        "ip", "-n", ns, "link", "add", "eth1", "type", "veth", "peer", "name", "eth2",
    ]);
    sh(&["ip", "-n", ns, "link", "set", "eth1", "up"]);
    sh(&["ip", "-n", ns, "link", "set", "eth2", "up"]);
    s
}

fn start_ternd(s: &mut Setup) {
    let conf = s.dir.join("ternd.conf");
    std::fs::write(
        &conf,
        "hostname clinode\ninterface eth1\n description uplink\n\
         router bgp 65001\n bgp router-id 10.0.0.1\n neighbor 192.0.2.99 remote-as 65002\n \
         neighbor 192.0.2.99 passive\n",
    )
    .expect("write config");
    let child = netns_command(&s.netns, bin("ternd"))
        .args(["-N", &s.instance, "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ternd");
    s.ternd = Some(child);
    let sock = format!("/run/tern/{}/ternd.sock", s.instance);
    let deadline = Instant::now() + DEADLINE;
    while UnixStream::connect(&sock).is_err() {
        assert!(Instant::now() < deadline, "ternd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The tmux pane running `tern`.
struct Pane<'a> {
    s: &'a Setup,
    name: String,
}

impl Pane<'_> {
    fn tmux(&self, args: &[&str]) -> Output {
        let mut all = vec!["tmux", "-L", &self.s.tmux];
        all.extend(args);
        sh(&all)
    }

    /// Types text as it is (no key names).
    fn type_text(&self, text: &str) {
        self.tmux(&["send-keys", "-t", &self.name, "-l", text]);
    }

    /// Presses keys by tmux's names (Enter, Tab, C-u).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.name];
        args.extend(keys);
        self.tmux(&args);
    }

    /// The whole pane, scrollback included, wrapped lines joined, without
    /// trailing blanks.
    fn lines(&self) -> Vec<String> {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name]);
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect();
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    }

    /// Waits until `ok` holds for what the pane shows from line `from` on.
    fn wait(&self, from: usize, what: &str, ok: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let lines = self.lines();
            let new = lines.get(from..).unwrap_or_default();
            if ok(new) {
                return new.to_vec();
            }
            assert!(
                Instant::now() < deadline,
                "not seen in {DEADLINE:?}: {what}\n--- pane ---\n{}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Where the next output starts: the line of the current prompt.
    fn mark(&self) -> usize {
        self.lines().len().saturating_sub(1)
    }

    /// Types a line, presses Enter and waits for `prompt` to come back
    /// after output that contains every one of `expect`.
    fn run(&self, line: &str, expect: &[&str], prompt: &str) -> Vec<String> {
        let from = self.mark();
        self.type_text(line);
        self.press(&["Enter"]);
        self.wait(
            from,
            &format!("{line:?} -> {expect:?}, then {prompt:?}"),
            |new| {
                let text = new.join("\n");
                new.len() > 1
                    && new.last().is_some_and(|l| l == prompt)
                    && expect.iter().all(|e| text.contains(e))
            },
        )
    }

    /// tern's exit status once it has ended. The pane's shell writes it to
    /// a file: tmux 3.3a can leave an exited pane process unreaped (a
    /// zombie, `pane_dead` never set) on a loaded machine, so the pane's own
    /// state is no witness.
    fn exit_status(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.s.dir.join("tern.status")).ok()?;
        text.ends_with('\n').then(|| text.trim().to_owned())
    }
}

#[test]
fn interactive_shell_like_vtysh() {
    let mut s = setup();
    start_ternd(&mut s);
    let name = "shell".to_owned();
    // HOME in the scratch directory: the history file lands there.
    // The shell around tern records its exit status (see `exit_status`).
    let cmd = format!(
        "env HOME={dir} {tern} -N {instance}; echo $? > {dir}/tern.status",
        dir = s.dir.display(),
        tern = bin("tern").display(),
        instance = s.instance
    );
    sh(&[
        "tmux",
        "-L",
        &s.tmux,
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "200",
        "-y",
        "50",
        &cmd,
    ]);
    let pane = Pane { s: &s, name };
    pane.tmux(&["set-option", "-t", &pane.name, "remain-on-exit", "on"]);
    pane.wait(0, "the exec prompt", |new| {
        new.last().is_some_and(|l| l == "clinode#")
    });

    pane.run("sh ver", &["Tern ", "(clinode)"], "clinode#");
    // The abbreviation every vtysh user types first.
    pane.run(
        "sh bgp su",
        &[
            "IPv4 Unicast Summary",
            "BGP router identifier 10.0.0.1, local AS number 65001",
            "Neighbor        V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd",
            "192.0.2.99      4      65002",
            "Total number of neighbors 1",
        ],
        "clinode#",
    );

    // `?` lists the next words and gives the line back without the `?`.
    let from = pane.mark();
    pane.type_text("show ?");
    let new = pane.wait(from, "show ? help", |new| {
        new.last().is_some_and(|l| l == "clinode# show") && new.len() > 2
    });
    let text = new.join("\n");
    assert!(
        text.contains("  interface        Interface status and configuration")
            && text.contains("  version          Displays ternd version"),
        "{text}"
    );
    assert!(!text.contains('?'), "{text}");
    pane.press(&["C-u"]);

    pane.run(
        "sh int br",
        &["Interface       Status  VRF", "eth1", "eth2"],
        "clinode#",
    );

    // TAB completes a unique prefix, word by word.
    let from = pane.mark();
    pane.type_text("sh");
    pane.press(&["Tab"]);
    pane.type_text("interf");
    pane.press(&["Tab"]);
    pane.wait(from, "TAB completion to `show interface`", |new| {
        new.last().is_some_and(|l| l == "clinode# show interface")
    });
    pane.type_text("eth1");
    pane.press(&["Enter"]);
    pane.wait(from, "show interface eth1", |new| {
        new.join("\n").contains("Description: uplink")
            && new.last().is_some_and(|l| l == "clinode#")
    });

    pane.run("sh bogus", &["% Unknown command: sh bogus"], "clinode#");

    // Config mode: the client's `conf t`, then the daemon's modes.
    pane.run("conf t", &[], "clinode(config)#");
    pane.run("interface eth2", &[], "clinode(config-if)#");
    pane.run("description downlink", &[], "clinode(config-if)#");
    pane.run("exit", &[], "clinode(config)#");
    pane.run("end", &[], "clinode#");
    pane.run(
        "write memory",
        &["Building Configuration...", "[OK]"],
        "clinode#",
    );
    let saved = std::fs::read_to_string(s.dir.join("ternd.conf")).expect("saved config");
    assert!(saved.contains(" description downlink"), "{saved}");

    let from = pane.mark();
    pane.type_text("exit");
    pane.press(&["Enter"]);
    let deadline = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(status) = pane.exit_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "tern did not end on exit:\n{}",
            pane.lines().get(from..).unwrap_or_default().join("\n")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, "0", "tern's exit status");
    let history = std::fs::read_to_string(s.dir.join(".tern_history")).unwrap_or_default();
    assert!(history.contains("sh int br"), "history: {history}");
}
