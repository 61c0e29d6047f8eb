//! Helpers shared by ternd's process tests: a ternd started from the
//! workspace's binary (in the root namespace or a throwaway one), requests
//! over its control socket, throwaway namespaces joined by a veth, and a
//! scripted BGP peer. Each test file uses its own part of it.
#![allow(dead_code)]

use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    os::unix::net::UnixStream,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use tern_bgp_wire::{Capability, Codec, Message, OpenMessage};
use tern_tests::{Netns, enter_netns, netns_command, run_ok};

pub const TERND_BUILT: &str = env!("CARGO_BIN_EXE_ternd");

/// The ternd under test: this build's, or another binary named by
/// TERN_TEST_TERND (to check that a test fails on an older ternd).
pub fn ternd_bin() -> PathBuf {
    std::env::var_os("TERN_TEST_TERND").map_or_else(|| PathBuf::from(TERND_BUILT), PathBuf::from)
}

/// Two namespaces joined by a veth named eth1 on both sides: the DUT
/// (192.0.2.1/24) and the peer (192.0.2.2/24).
pub fn linked_pair(tag: &str) -> (Netns, Netns) {
    let pid = std::process::id();
    let dut = Netns::new(&format!("tern-{tag}-dut-{pid}"));
    let peer = Netns::new(&format!("tern-{tag}-peer-{pid}"));
    run_ok(Command::new("ip").args([
        "link", "add", "name", "eth1", "netns", &dut.0, "type", "veth", "peer", "name", "eth1",
        "netns", &peer.0,
    ]));
    for (ns, addr) in [(&dut, "192.0.2.1/24"), (&peer, "192.0.2.2/24")] {
        run_ok(Command::new("ip").args(["-n", &ns.0, "link", "set", "eth1", "up"]));
        run_ok(Command::new("ip").args(["-n", &ns.0, "addr", "add", addr, "dev", "eth1"]));
    }
    (dut, peer)
}

/// A running ternd, its log in a file; stopped (SIGTERM, by pid) on drop.
pub struct Ternd {
    pub child: Child,
    pub socket: PathBuf,
    pub instance: String,
    pub config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Ternd {
    /// Writes `config` to a file of its own and starts ternd on it, in
    /// namespace `netns` when given.
    pub fn start(instance: &str, config: &str, netns: Option<&Netns>) -> Ternd {
        Self::start_env(instance, config, netns, &[])
    }

    /// Like [`Ternd::start`], with extra environment variables.
    pub fn start_env(
        instance: &str,
        config: &str,
        netns: Option<&Netns>,
        env: &[(&str, &str)],
    ) -> Ternd {
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("ternd.conf");
        std::fs::write(&conf, config).expect("write config");
        let log = dir.path().join("ternd.log");
        let mut cmd = match netns {
            Some(ns) => netns_command(&ns.0, ternd_bin()),
            None => Command::new(ternd_bin()),
        };
        cmd.args(["-N", instance, "-f"])
            .arg(&conf)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("start ternd");
        let mut t = Ternd {
            child,
            socket: PathBuf::from(format!("/run/tern/{instance}/ternd.sock")),
            instance: instance.to_owned(),
            config: conf,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(&t.socket).is_err() {
            if let Ok(Some(status)) = t.child.try_wait() {
                panic!("ternd exited early ({status}): {}", t.log());
            }
            assert!(
                Instant::now() < deadline,
                "ternd socket never appeared: {}",
                t.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        t
    }

    /// A connection to the control socket with 15 s timeouts.
    pub fn connect(&self) -> UnixStream {
        let s = UnixStream::connect(&self.socket).expect("connect to ternd");
        s.set_read_timeout(Some(Duration::from_secs(15))).ok();
        s.set_write_timeout(Some(Duration::from_secs(15))).ok();
        s
    }

    /// One request (a JSON text) on a fresh connection.
    pub fn ask(&self, req: &str) -> serde_json::Value {
        let mut s = self.connect();
        roundtrip(&mut s, req)
    }

    /// Runs `tern -N INSTANCE -c CMD`: (success, stdout, stderr).
    pub fn tern(&self, cmd: &str) -> (bool, String, String) {
        let out = Command::new(tern_tests::bin("tern"))
            .args(["-N", &self.instance, "-c", cmd])
            .output()
            .expect("run tern");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal ternd");
    }

    /// Still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) -> std::process::ExitStatus {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
        }
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

/// Sends one request line on `s` and reads its answer.
pub fn roundtrip(s: &mut UnixStream, req: &str) -> serde_json::Value {
    s.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut reply = String::new();
    BufReader::new(&*s)
        .read_line(&mut reply)
        .expect("read reply");
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

/// Connects to ternd's BGP port at 192.0.2.1 from the calling thread's
/// namespace, trying for up to 10 s while ternd starts listening.
pub fn connect_ternd() -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(
            &SocketAddr::from(([192, 0, 2, 1], 179)),
            Duration::from_secs(2),
        ) {
            Ok(s) => return s,
            Err(e) => {
                assert!(Instant::now() < deadline, "connect to ternd: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A BGP message with the given type and body.
pub fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(
        &u16::try_from(19 + body.len())
            .expect("message fits")
            .to_be_bytes(),
    );
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// What [`Peer::poll`] found.
pub enum Polled {
    Message(Message),
    Nothing,
    Closed,
}

/// A scripted BGP peer's connection to ternd at 192.0.2.1.
pub struct Peer {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    pub fn keepalive(&mut self) {
        self.send(&message(4, &[]));
    }

    /// The next message from ternd; None when the connection closes or
    /// nothing comes within the read timeout.
    pub fn recv(&mut self) -> Option<Message> {
        let codec = Codec {
            four_octet_as: true,
            ..Codec::default()
        };
        loop {
            if let Ok(Some(n)) = codec.frame(&self.buf) {
                let msg =
                    Message::decode(&self.buf[..n], &codec).expect("ternd sent a valid message");
                self.buf.drain(..n);
                return Some(msg);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// What came within the read timeout.
    pub fn poll(&mut self) -> Polled {
        let codec = Codec {
            four_octet_as: true,
            ..Codec::default()
        };
        loop {
            if let Ok(Some(n)) = codec.frame(&self.buf) {
                let msg =
                    Message::decode(&self.buf[..n], &codec).expect("ternd sent a valid message");
                self.buf.drain(..n);
                return Polled::Message(msg);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Polled::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Polled::Nothing;
                }
                Err(_) => return Polled::Closed,
            }
        }
    }

    /// Enters `peer_ns` (on the calling thread only: call it from a thread
    /// of its own), connects to ternd as AS 65099 with hold time `hold`
    /// and brings the session to Established.
    pub fn establish(peer_ns: &Netns, hold: u16) -> Peer {
        enter_netns(&peer_ns.0);
        let stream = connect_ternd();
        stream
            .set_read_timeout(Some(Duration::from_secs(u64::from(hold))))
            .expect("timeout");
        let mut p = Peer {
            stream,
            buf: Vec::new(),
        };
        let open = OpenMessage::new(
            65099,
            hold,
            "192.0.2.99".parse().expect("id"),
            vec![
                Capability::Multiprotocol(tern_bgp_wire::AfiSafi::IPV4_UNICAST),
                Capability::FourOctetAs(65099),
            ],
        );
        let bytes = Message::Open(open)
            .to_bytes(&Codec::default())
            .expect("encode");
        p.send(&bytes);
        assert!(matches!(p.recv(), Some(Message::Open(_))), "ternd's OPEN");
        p.keepalive();
        assert!(
            matches!(p.recv(), Some(Message::Keepalive)),
            "ternd's KEEPALIVE"
        );
        p
    }
}
