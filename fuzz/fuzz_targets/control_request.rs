// Fuzz target: one control connection's byte stream, as ternd reads it:
// lines (tern-control's framing), each a JSON Request. What decodes must
// encode back to the same request (what tern sends is what ternd reads);
// the requests ternd checks before acting are checked as it does: pod
// endpoint requests go to an in-memory endpoint registry (tern-bgpd's
// Registry, as tern-cni's ADD/DEL would drive it), services and egress
// policies are validated, config lines go through the connection's
// configuration session. Each line is also read as a Reply (what tern
// reads back).
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tern_bgpd::config::{Config, ConfigSession};
use tern_bgpd::endpoints::Registry;
use tern_control::{Reply, Request, framing};

fuzz_target!(init: tern_fuzz::check_build(), |data: &[u8]| {
    let mut stream = Cursor::new(data);
    let mut registry = Registry::new(None);
    let mut config = Config::default();
    let mut session = ConfigSession::default();
    while let Ok(Some(line)) = framing::read_line(&mut stream) {
        let _ = serde_json::from_slice::<Reply>(&line);
        let Ok(req) = serde_json::from_slice::<Request>(&line) else {
            continue;
        };
        let again = match serde_json::to_vec(&req) {
            Ok(bytes) => bytes,
            Err(e) => panic!("a decoded request does not encode: {e}: {req:?}"),
        };
        match serde_json::from_slice::<Request>(&again) {
            Ok(back) => assert_eq!(back, req, "a request changes on its way through JSON"),
            Err(e) => panic!("an encoded request does not decode: {e}: {req:?}"),
        }
        let _ = req.is_registration();
        match req {
            Request::EndpointAllocate(claim) => {
                let _ = registry.reserve(claim, &[]);
            }
            Request::EndpointAdd(ep) => {
                let _ = registry.add(ep);
            }
            Request::EndpointImport(file) => {
                let _ = registry.import(file);
            }
            Request::EndpointDel {
                container_id,
                ifname,
            } => {
                let _ = registry.del(&container_id, &ifname);
            }
            Request::ServicesApply { upsert, .. } => {
                for s in &upsert {
                    let _ = s.validate();
                }
            }
            Request::EgressApply { upsert, .. } => {
                for p in &upsert {
                    let _ = p.validate();
                }
            }
            Request::ConfigLine { line } => {
                let mut next = config.clone();
                if session.apply(&mut next, &line).is_ok() {
                    config = next;
                }
            }
            _ => {}
        }
    }
    // No address is held twice within one table (the main one or a VRF's).
    let mut held = std::collections::BTreeSet::new();
    for ep in registry.list() {
        for a in &ep.addresses {
            assert!(
                held.insert((ep.vrf.clone(), a.addr())),
                "address {a} held twice: {:?}",
                registry.list()
            );
        }
    }
    for r in registry.reservations() {
        for a in &r.addresses {
            assert!(
                held.insert((r.vrf.clone(), a.addr())),
                "address {a} reserved while held: {:?}",
                registry.reservations()
            );
        }
    }
});
