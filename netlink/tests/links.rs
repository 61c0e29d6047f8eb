//! Reads the links of the test's own namespace through rtnetlink: loopback
//! is always there, up, with 127.0.0.1/8 once it is up.
use tern_netlink::{Netlink, OperState};

#[tokio::test(flavor = "current_thread")]
async fn loopback_is_listed_with_its_address() {
    let nl = Netlink::open().expect("netlink socket");
    let links = nl.links().await.expect("link dump");
    let lo = links.iter().find(|l| l.name == "lo").expect("lo listed");
    assert_eq!(lo.index, 1);
    assert!(lo.loopback);
    if lo.admin_up {
        assert!(matches!(lo.oper_state, OperState::Unknown | OperState::Up));
        assert!(
            lo.addresses.iter().any(|a| a.to_string() == "127.0.0.1/8"),
            "lo addresses: {:?}",
            lo.addresses
        );
    }
    assert!(links.windows(2).all(|w| w[0].index < w[1].index));
}
