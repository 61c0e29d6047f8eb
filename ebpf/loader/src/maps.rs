//! The small helpers every part of the loader shares (datapath, services,
//! egress): map keys of addresses, map errors, and the pin name the
//! conntrack collector opens on its own. It depends on nothing else of the
//! loader but [`Error`], so each of those modules can use it.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use tern_ebpf_common::datapath::IpKey;

use crate::Error;

/// The conntrack map's pin (its collector may run apart from the datapath).
pub const CT_PIN: &str = "dp_ct";

/// The map key of an address.
pub fn ip_key(a: IpAddr) -> IpKey {
    match a {
        IpAddr::V4(a) => IpKey::v4(a.octets()),
        IpAddr::V6(a) => IpKey::v6(a.octets()),
    }
}

/// The address of a map key.
pub fn key_ip(k: &IpKey) -> IpAddr {
    match k.as_v4() {
        Some(a) => IpAddr::V4(Ipv4Addr::from(a)),
        None => IpAddr::V6(Ipv6Addr::from(k.addr)),
    }
}

/// Turns an error of the map `name` into the loader's [`Error`].
pub(crate) fn map_err(name: &'static str) -> impl Fn(aya::maps::MapError) -> Error {
    move |source| Error::Map { name, source }
}

/// Whether a map operation failed because the key is absent (aya reports
/// a failed delete as the syscall's ENOENT).
pub(crate) fn not_found(e: &aya::maps::MapError) -> bool {
    match e {
        aya::maps::MapError::KeyNotFound => true,
        aya::maps::MapError::SyscallError(s) => s.io_error.raw_os_error() == Some(libc_enoent()),
        _ => false,
    }
}

fn libc_enoent() -> i32 {
    nix::errno::Errno::ENOENT as i32
}
