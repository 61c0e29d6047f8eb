//! Socket-level balancing: the cgroup programs attached to the cgroup v2
//! root give a connect() or sendto() to a frontend a backend's address,
//! and getpeername() / recvfrom() show the frontend; sockets of other
//! network namespaces are left alone. Runs in a private network namespace
//! (its loopback is the backend). Needs root and cgroup v2; fails without.
#![allow(clippy::unwrap_used)]
mod common;

use std::{
    io::{Read, Write},
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
};

use common::*;
use tern_ebpf::{
    Datapath,
    datapath::ip_key,
    services::{BACKEND_F_PRESENT, Backend, ServiceEntry, netns_cookie, service_key},
};

const VIP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

#[test]
fn connect_and_sendto_a_frontend_reach_a_backend_and_the_peer_shows_the_frontend() {
    private_netns();
    let mut dp = Datapath::load(None).unwrap();
    dp.attach_socket_lb()
        .expect("attach the socket programs (cgroup v2)");
    // The backend: this namespace's loopback.
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (tport, uport) = (
        tcp.local_addr().unwrap().port(),
        udp.local_addr().unwrap().port(),
    );
    for (id, port) in [(1, tport), (2, uport)] {
        dp.set_backend(
            id,
            Backend {
                addr: ip_key(IpAddr::V4(Ipv4Addr::LOCALHOST)).addr,
                port,
                pad: 0,
                flags: BACKEND_F_PRESENT,
            },
        )
        .unwrap();
        dp.write_table(id * 10, &[id; 7]).unwrap();
    }
    for (proto, id) in [(6u8, 1u32), (17, 2)] {
        dp.upsert_frontend(
            service_key(IpAddr::V4(VIP), 80, proto),
            ServiceEntry {
                id,
                table_off: id * 10,
                table_size: 7,
                ..ServiceEntry::default()
            },
        )
        .unwrap();
    }
    let vip = SocketAddr::new(IpAddr::V4(VIP), 80);
    // Not one of ternd's namespaces yet: left alone (no route to the VIP).
    assert!(TcpStream::connect_timeout(&vip, std::time::Duration::from_millis(300)).is_err());
    dp.set_socket_lb_netns(&[netns_cookie(None).unwrap()].into())
        .unwrap();
    let mut c = TcpStream::connect(vip).expect("connect to the VIP");
    assert_eq!(c.peer_addr().unwrap(), vip, "getpeername shows the VIP");
    let (mut s, from) = tcp.accept().unwrap();
    assert_eq!(from, c.local_addr().unwrap());
    s.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    c.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    // UDP: sendto the VIP, the answer comes from the VIP.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"ping", vip).unwrap();
    let mut b = [0u8; 16];
    let (n, peer) = udp.recv_from(&mut b).unwrap();
    assert_eq!(&b[..n], b"ping");
    udp.send_to(b"pong", peer).unwrap();
    let (n, from) = u.recv_from(&mut b).unwrap();
    assert_eq!(
        (&b[..n], from),
        (&b"pong"[..], vip),
        "recvfrom shows the VIP"
    );
    // A frontend without backends refuses connect().
    dp.upsert_frontend(
        service_key(IpAddr::V4(VIP), 81, 6),
        ServiceEntry {
            id: 3,
            ..ServiceEntry::default()
        },
    )
    .unwrap();
    let e = TcpStream::connect(SocketAddr::new(IpAddr::V4(VIP), 81)).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}");
}
