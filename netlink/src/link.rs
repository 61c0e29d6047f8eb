//! Links (interfaces) as the kernel reports them, in Tern's own types.
use ipnet::IpNet;
use netlink_packet_route::link::{
    InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, State,
};
use serde::{Deserialize, Serialize};

/// RFC 2863 operational state (IFLA_OPERSTATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OperState {
    Unknown,
    NotPresent,
    Down,
    LowerLayerDown,
    Testing,
    Dormant,
    Up,
}

/// The kernel's own counters for a link (IFLA_STATS64).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub multicast: u64,
}

/// One link of the namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// IFLA_INFO_KIND ("veth", "vxlan", ...), none for physical devices and lo.
    pub kind: Option<String>,
    pub admin_up: bool,
    /// IFF_LOWER_UP: the carrier is present.
    pub lower_up: bool,
    pub loopback: bool,
    /// The IFF_* flags as the kernel reports them.
    pub flags: u32,
    /// Link-layer type: "Ethernet", "Loopback", or the ARPHRD name.
    pub link_type: String,
    /// IFLA_LINK: the peer or lower device (a veth's other end).
    pub parent_ifindex: Option<u32>,
    pub oper_state: OperState,
    pub mtu: u32,
    /// Hardware address as raw bytes (6 for Ethernet, empty when none).
    pub hw_addr: Vec<u8>,
    pub stats: LinkStats,
    pub addresses: Vec<IpNet>,
}

impl Link {
    pub(crate) fn from_message(m: &LinkMessage) -> Self {
        let flags = m.header.flags;
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            admin_up: flags.contains(LinkFlags::Up),
            lower_up: flags.contains(LinkFlags::LowerUp),
            loopback: flags.contains(LinkFlags::Loopback),
            flags: flags.bits(),
            link_type: link_type_name(m.header.link_layer_type),
            parent_ifindex: None,
            oper_state: OperState::Unknown,
            mtu: 0,
            hw_addr: Vec::new(),
            stats: LinkStats::default(),
            addresses: Vec::new(),
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => link.name.clone_from(n),
                LinkAttribute::Mtu(v) => link.mtu = *v,
                LinkAttribute::Link(i) => link.parent_ifindex = Some(*i),
                LinkAttribute::Address(a) => link.hw_addr.clone_from(a),
                LinkAttribute::OperState(s) => link.oper_state = oper_state(*s),
                LinkAttribute::Stats64(s) => {
                    link.stats = LinkStats {
                        rx_packets: s.rx_packets,
                        rx_bytes: s.rx_bytes,
                        rx_errors: s.rx_errors,
                        rx_dropped: s.rx_dropped,
                        tx_packets: s.tx_packets,
                        tx_bytes: s.tx_bytes,
                        tx_errors: s.tx_errors,
                        tx_dropped: s.tx_dropped,
                        multicast: s.multicast,
                    }
                }
                LinkAttribute::LinkInfo(infos) => {
                    for i in infos {
                        if let LinkInfo::Kind(k) = i {
                            link.kind = Some(kind_name(k));
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }

    /// The hardware address as FRR prints it (`aa:bb:cc:dd:ee:ff`).
    pub fn hw_addr_string(&self) -> String {
        self.hw_addr
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

fn link_type_name(t: LinkLayerType) -> String {
    match t {
        LinkLayerType::Ether => "Ethernet".into(),
        LinkLayerType::Loopback => "Loopback".into(),
        LinkLayerType::None => "None".into(),
        other => format!("{other:?}"),
    }
}

fn oper_state(s: State) -> OperState {
    match s {
        State::NotPresent => OperState::NotPresent,
        State::Down => OperState::Down,
        State::LowerLayerDown => OperState::LowerLayerDown,
        State::Testing => OperState::Testing,
        State::Dormant => OperState::Dormant,
        State::Up => OperState::Up,
        _ => OperState::Unknown,
    }
}

fn kind_name(k: &InfoKind) -> String {
    match k {
        InfoKind::Veth => "veth".into(),
        InfoKind::Vxlan => "vxlan".into(),
        InfoKind::Bridge => "bridge".into(),
        InfoKind::Dummy => "dummy".into(),
        InfoKind::Vlan => "vlan".into(),
        InfoKind::Tun => "tun".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}
