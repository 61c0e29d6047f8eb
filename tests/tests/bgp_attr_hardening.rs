//! Issue 19 item 13, "never pass on what breaks the next router": a raw
//! scripted speaker (AS 65100) sends node1 (ternd) routes carrying
//! malformed optional transitive attributes, each with another attribute
//! after it; FRR 8.4 (frr1) and BIRD 2 (bird1) downstream of node1 must keep
//! their sessions with it up throughout, and each route ends where RFC 7606
//! says (treat-as-withdraw: nowhere). A well-formed route with the same
//! attributes goes through, and `neighbor X path-attribute discard|
//! treat-as-withdraw` applies to an unknown attribute type live. Topology:
//! lab/topologies/attrs.clab.yml. Needs root, FRR, BIRD 2 and bpffs
//! (lab/setup.sh); fails, never skips, when one is missing.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tern_tests::{Lab, eventually, in_netns, run, tern_script, vtysh};

const SPEAKER_AS: u16 = 65100;
const SPEAKER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 0);
const TERND: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const FRR_NEIGHBOR: &str = "192.0.2.2";

fn message(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&u16::try_from(19 + body.len()).expect("fits").to_be_bytes());
    m.push(kind);
    m.extend_from_slice(body);
    m
}

/// OPEN: AS 65100, hold 90 s, IPv4 unicast, 4-octet AS.
fn open() -> Vec<u8> {
    let mut caps = vec![1, 4, 0, 1, 0, 1, 65, 4, 0, 0];
    caps.extend_from_slice(&SPEAKER_AS.to_be_bytes());
    let mut body = vec![4];
    body.extend_from_slice(&SPEAKER_AS.to_be_bytes());
    body.extend_from_slice(&90u16.to_be_bytes());
    body.extend_from_slice(&[10, 0, 0, 100]);
    body.push(u8::try_from(2 + caps.len()).expect("fits"));
    body.push(2);
    body.push(u8::try_from(caps.len()).expect("fits"));
    body.extend_from_slice(&caps);
    message(1, &body)
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code, u8::try_from(value.len()).expect("short value")];
    a.extend_from_slice(value);
    a
}

/// An UPDATE announcing 10.`third`.0.0/24 (4-octet AS path) with `extra`
/// attributes after the mandatory ones, and a COMMUNITIES after those.
fn update(third: u8, extra: &[Vec<u8>]) -> Vec<u8> {
    let mut attrs = attr(0x40, 1, &[0]);
    let mut path = vec![2, 1, 0, 0];
    path.extend_from_slice(&SPEAKER_AS.to_be_bytes());
    attrs.extend(attr(0x40, 2, &path));
    attrs.extend(attr(0x40, 3, &SPEAKER.octets()));
    for e in extra {
        attrs.extend_from_slice(e);
    }
    attrs.extend(attr(0xc0, 8, &[0xfe, 0x4c, 0, 1])); // 65100:1
    let mut body = vec![0, 0];
    body.extend_from_slice(&u16::try_from(attrs.len()).expect("fits").to_be_bytes());
    body.extend_from_slice(&attrs);
    body.extend_from_slice(&[24, 10, third, 0]);
    message(2, &body)
}

/// Runs the speaker in the `speaker` namespace: connects, keeps the
/// session alive, sends what arrives on the channel. Reads (and drops)
/// everything ternd sends; a NOTIFICATION or a close fails the test.
fn speaker(ns: &str) -> mpsc::Sender<Vec<u8>> {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    in_netns(ns, move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut stream = loop {
            match TcpStream::connect(SocketAddrV4::new(TERND, 179)) {
                Ok(s) => break s,
                Err(e) => {
                    assert!(Instant::now() < deadline, "speaker: connect to ternd: {e}");
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        };
        let mut reader = stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        // A NOTIFICATION is type 3 at offset 18 of a message
                        // start; good enough for the small messages ternd sends.
                        if n >= 19
                            && buf[..n]
                                .windows(19)
                                .any(|w| w[..16] == [0xff; 16] && w[18] == 3)
                        {
                            eprintln!("speaker: ternd sent a NOTIFICATION");
                        }
                    }
                }
            }
        });
        stream.write_all(&open()).expect("OPEN");
        stream.write_all(&message(4, &[])).expect("KEEPALIVE");
        let mut last = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(m) => stream.write_all(&m).expect("send to ternd"),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            if last.elapsed() >= Duration::from_secs(2) {
                stream.write_all(&message(4, &[])).expect("KEEPALIVE");
                last = Instant::now();
            }
        }
    });
    tx
}

/// FRR's (connectionsEstablished, connectionsDropped) with node1.
fn frr_counters(ns: &str) -> Result<(u64, u64), String> {
    let v = vtysh(ns, "show bgp neighbors json");
    let n = &v[FRR_NEIGHBOR];
    if n["bgpState"] != "Established" {
        return Err(format!("frr1 -> node1 not Established: {}", n["bgpState"]));
    }
    Ok((
        n["connectionsEstablished"].as_u64().unwrap_or(0),
        n["connectionsDropped"].as_u64().unwrap_or(0),
    ))
}

/// BIRD's protocol line for node1 (state and the time it entered it).
fn bird_state(lab: &Lab) -> Result<String, String> {
    let out = run(Command::new("birdc")
        .arg("-s")
        .arg(lab.dir("bird1").join("bird.ctl"))
        .args(["show", "protocols", "node1"]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("node1"))
        .ok_or_else(|| format!("no node1 protocol in birdc output: {text}"))?
        .to_owned();
    if !line.contains("Established") {
        return Err(format!("bird1 -> node1 not Established: {line}"));
    }
    Ok(line)
}

/// Whether two `show protocols` lines of bird1 name the same session: the
/// same fields, and the same "since" time but for BIRD's printing jitter.
/// BIRD keeps that time on its monotonic clock and converts it to the wall
/// clock when it prints, so it moves by a millisecond from one print to the
/// next; a session that went down and up again moves it by seconds (BIRD
/// waits at least its connect delay before it reconnects).
fn same_bird_session(a: &str, b: &str) -> bool {
    fn ms(t: &str) -> Option<i64> {
        let (hms, frac) = t.split_once('.')?;
        let mut it = hms.split(':').map(|x| x.parse::<i64>().ok());
        let (h, m, s) = (it.next()??, it.next()??, it.next()??);
        Some(((h * 60 + m) * 60 + s) * 1000 + frac.parse::<i64>().ok()?)
    }
    let (fa, fb): (Vec<&str>, Vec<&str>) = (
        a.split_whitespace().collect(),
        b.split_whitespace().collect(),
    );
    fa.len() == fb.len()
        && fa.iter().zip(&fb).all(|(x, y)| {
            x == y || matches!((ms(x), ms(y)), (Some(p), Some(q)) if (p - q).abs() < 1000)
        })
}

fn assert_same_bird_session(now: Result<String, String>, before: &str) {
    match now {
        Ok(line) => assert!(
            same_bird_session(&line, before),
            "bird1's session with node1 went down: {before} -> {line}"
        ),
        Err(e) => panic!("bird1's session with node1 went down: {e}"),
    }
}

fn frr_has(ns: &str, prefix: &str) -> bool {
    let v = vtysh(ns, &format!("show bgp ipv4 unicast {prefix} json"));
    v["paths"].as_array().is_some_and(|p| !p.is_empty())
}

fn bird_has(lab: &Lab, prefix: &str) -> bool {
    let out = run(Command::new("birdc")
        .arg("-s")
        .arg(lab.dir("bird1").join("bird.ctl"))
        .args(["show", "route", "for", prefix, "protocol", "node1"]));
    String::from_utf8_lossy(&out.stdout).contains(prefix)
}

#[test]
fn malformed_attributes_never_reach_frr_or_bird() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "needs root (network namespaces)"
    );
    let lab = Lab::up("attrs.clab.yml", "attrs");
    let (frr, node) = (lab.ns("frr1"), lab.ns("node1"));
    let tx = speaker(&lab.ns("speaker"));
    let before_frr = eventually(60, "frr1's session counters", || frr_counters(&frr));
    let before_bird = eventually(60, "bird1's session state", || bird_state(&lab));
    // Control: a well-formed route with the same attribute types passes.
    let send = |m: Vec<u8>| tx.send(m).expect("speaker alive");
    send(update(
        99,
        &[
            attr(0xc0, 22, &[0, 6, 0, 0, 0x31, 192, 0, 2, 9]),
            attr(0xc0, 23, &[0, 8, 0, 4, 4, 2, 0, 7]),
            attr(0xc0, 25, &[0; 20]),
            attr(0xc0, 35, &[0, 0, 0xfe, 0x4c]),
        ],
    ));
    eventually(30, "the well-formed route downstream", || {
        (frr_has(&frr, "10.99.0.0/24") && bird_has(&lab, "10.99.0.0/24"))
            .then_some(())
            .ok_or_else(|| "the well-formed route did not reach frr1 and bird1".to_owned())
    });
    // The malformed cases, each with COMMUNITIES after it.
    let cases: Vec<(u8, Vec<u8>)> = vec![
        (1, attr(0xc0, 35, &[0, 0, 1])),                 // OTC length 3
        (2, attr(0xc0, 35, &[0, 0, 0, 1, 2])),           // OTC length 5
        (3, attr(0xc0, 23, &[8])),                       // Tunnel Encap length 1
        (4, attr(0xc0, 23, &[0, 8, 0, 12, 4, 8, 0, 0])), // TLV overrun
        (5, attr(0xc0, 22, &[0, 6])),                    // PMSI length 2
        (6, attr(0xc0, 25, &[0, 2, 0, 0, 1])),           // IPv6 ext comm length 5
    ];
    for (third, bad) in &cases {
        send(update(*third, std::slice::from_ref(bad)));
    }
    // Prefix-SID whose TLV overruns: attribute discard, the route stays.
    send(update(7, &[attr(0xc0, 40, &[1, 0, 9, 0])]));
    eventually(30, "the Prefix-SID route downstream", || {
        (frr_has(&frr, "10.7.0.0/24") && bird_has(&lab, "10.7.0.0/24"))
            .then_some(())
            .ok_or_else(|| {
                "the Prefix-SID route (attribute discarded) is missing downstream".to_owned()
            })
    });
    // Give FRR time to react if anything bad was passed on.
    std::thread::sleep(Duration::from_secs(5));
    for (third, _) in &cases {
        let p = format!("10.{third}.0.0/24");
        assert!(!frr_has(&frr, &p), "{p} reached frr1");
        assert!(!bird_has(&lab, &p), "{p} reached bird1");
    }
    assert_eq!(
        frr_counters(&frr),
        Ok(before_frr),
        "frr1's session with node1 went down"
    );
    assert_same_bird_session(bird_state(&lab), &before_bird);

    // path-attribute discard / treat-as-withdraw for an unknown type (0xf0).
    let unknown = || attr(0xc0, 0xf0, &[1, 2, 3]);
    tern_script(
        &node,
        "configure terminal\nrouter bgp 65001\nneighbor 192.0.2.0 path-attribute discard 240\nend\n",
    );
    send(update(20, &[unknown()]));
    eventually(30, "10.20.0.0/24 at frr1", || {
        frr_has(&frr, "10.20.0.0/24")
            .then_some(())
            .ok_or_else(|| "10.20.0.0/24 (0xf0 discarded) did not reach frr1".to_owned())
    });
    let v = vtysh(&frr, "show bgp ipv4 unicast 10.20.0.0/24 json");
    assert!(
        !v.to_string().to_lowercase().contains("unknown"),
        "attribute 240 reached frr1: {v}"
    );
    tern_script(
        &node,
        "configure terminal\nrouter bgp 65001\nneighbor 192.0.2.0 path-attribute treat-as-withdraw 240\nend\n",
    );
    send(update(20, &[unknown()]));
    send(update(21, &[unknown()]));
    eventually(30, "10.20.0.0/24 withdrawn at frr1", || {
        (!frr_has(&frr, "10.20.0.0/24"))
            .then_some(())
            .ok_or_else(|| "10.20.0.0/24 not withdrawn by treat-as-withdraw".to_owned())
    });
    assert!(!frr_has(&frr, "10.21.0.0/24"));
    let running = tern_script(&node, "show running-config\n");
    assert!(
        running.contains(" neighbor 192.0.2.0 path-attribute discard 240")
            && running.contains(" neighbor 192.0.2.0 path-attribute treat-as-withdraw 240"),
        "{running}"
    );
    assert_eq!(
        frr_counters(&frr),
        Ok(before_frr),
        "frr1's session with node1 went down"
    );
    assert_same_bird_session(bird_state(&lab), &before_bird);
    drop(tx);
}
