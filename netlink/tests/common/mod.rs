//! Throwaway network namespaces for the kernel tests: each test body runs on
//! its own thread after unshare(CLONE_NEWNET), with a current-thread tokio
//! runtime, so nothing it does is seen outside and nothing needs cleaning up
//! (the namespace dies with the thread). `ip` commands spawned from that
//! thread run in the same namespace. A machine without network namespaces
//! fails these tests: it does not skip them.
#![allow(dead_code)]

use std::future::Future;
use std::process::Command;
use std::time::Duration;

use tern_netlink::{LinkEvent, Netlink};
use tokio::sync::mpsc::UnboundedReceiver;

/// Runs `body` in a fresh network namespace and propagates its panics.
pub fn in_netns<F, Fut>(body: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let t = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET): these tests need root and network namespaces");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(body());
    });
    if let Err(panic) = t.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` twice, each time in a fresh namespace with [`topo`]: with
/// inline next hops, then with nexthop objects.
pub fn in_both_modes<F, Fut>(body: F)
where
    F: Fn(Topo) -> Fut + Send + Clone + 'static,
    Fut: Future<Output = ()>,
{
    for nexthop_objects in [false, true] {
        let body = body.clone();
        in_netns(move || async move {
            let mut t = topo().await;
            t.nl.set_nexthop_objects(nexthop_objects).await;
            t.nexthop_objects = nexthop_objects;
            eprintln!("mode: nexthop objects {nexthop_objects}");
            body(t).await;
        });
    }
}

/// Runs `ip ARGS...` in the calling thread's namespace; panics on failure.
pub fn ip(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("running ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j ARGS...` parsed.
pub fn ip_json(args: &str) -> serde_json::Value {
    let out = ip(&format!("-j {args}"));
    if out.trim().is_empty() {
        return serde_json::Value::Array(Vec::new());
    }
    serde_json::from_str(&out).expect("ip -j output is JSON")
}

/// The test topology: lo up; veth0 (192.0.2.1/24, 2001:db8:1::1/64) and
/// veth2 (198.51.100.1/24, 2001:db8:2::1/64), each paired with an
/// address-less peer (veth1, veth3) so that they have carrier.
pub struct Topo {
    pub nl: Netlink,
    /// Whether routes refer to nexthop objects (see [`in_both_modes`]).
    pub nexthop_objects: bool,
    pub veth0: u32,
    pub veth2: u32,
}

pub async fn topo() -> Topo {
    ip("link set lo up");
    ip("link add veth0 type veth peer name veth1");
    ip("link add veth2 type veth peer name veth3");
    for dev in ["veth0", "veth1", "veth2", "veth3"] {
        ip(&format!("link set {dev} up"));
    }
    ip("addr add 192.0.2.1/24 dev veth0");
    ip("addr add 198.51.100.1/24 dev veth2");
    ip("-6 addr add 2001:db8:1::1/64 dev veth0 nodad");
    ip("-6 addr add 2001:db8:2::1/64 dev veth2 nodad");
    let nl = Netlink::open().expect("netlink");
    let links = nl.links().await.expect("links");
    let index = |name: &str| {
        links
            .iter()
            .find(|l| l.name == name)
            .map(|l| l.index)
            .expect("veth exists")
    };
    Topo {
        nexthop_objects: false,
        veth0: index("veth0"),
        veth2: index("veth2"),
        nl,
    }
}

/// Runs `sysctl -w SETTING` in the calling thread's namespace.
pub fn sysctl(setting: &str) {
    let out = Command::new("sysctl")
        .args(["-w", setting])
        .output()
        .expect("running sysctl");
    assert!(
        out.status.success(),
        "sysctl -w {setting}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (5 s at most) for an event matching `want`, returning it and
/// dropping the others.
pub async fn expect_event(
    rx: &mut UnboundedReceiver<LinkEvent>,
    what: &str,
    want: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) if want(&e) => return e,
            Ok(Some(e)) => seen.push(e),
            Ok(None) => panic!("watch ended while waiting for {what}; saw {seen:?}"),
            Err(_) => panic!("no {what} within 5 s; saw {seen:?}"),
        }
    }
}
