//! The SRv6 L3VPN model of Tern (issue 14): pods in a VRF reach remote
//! sites over an IPv6 fabric, signalled by BGP VPNv4/VPNv6 with SRv6 service
//! SIDs (RFC 9252). This crate holds what the config says (locators, VRFs,
//! the VRFs' BGP instances), the SIDs allocated from the locator, route
//! distinguishers and route targets in text and wire form, the RFC 9252
//! transposition of a SID's function into the VPN label, and the plan: what
//! one node's datapath holds (encapsulation by VRF table and prefix,
//! decapsulation by local SID) and which VPN routes its BGP speaker exports.
//!
//! It is pure: no kernel access, no async runtime, no clock. ternd keeps a
//! [`Srv6Config`] (changed line by line with [`parse_line`], each line
//! atomic), hands it with the VPN routes its speaker selected to [`plan()`]
//! and programs the [`Srv6Plan`] into the eBPF maps; the speaker sends the
//! plan's exports and rebuilds received SIDs with [`rebuild`].
//!
//! A VRF here is a routing table id plus Tern's maps: the kernels Tern runs
//! on may have no VRF devices and no seg6 routes (the datapath does SRv6 in
//! TC programs). Its config block is Tern's own (`vrf NAME` / ` table N` /
//! `exit-vrf`); every other line is FRR's, as FRR's `show running-config`
//! prints it.
pub mod config;
pub mod error;
pub mod locator;
pub mod model;
pub mod plan;
pub mod rd;
pub mod sid;
#[cfg(test)]
mod testgen;
pub mod transpose;

pub use config::{Node, parse_line, parse_text, render, render_bgp_vrf};
pub use error::Srv6Error;
pub use locator::{DEFAULT_FUNC_BITS, DEFAULT_NODE_LEN, Locator, check_name};
pub use model::{BgpVrf, RESERVED_TABLES, Redistribute, Srv6Config, VpnAf, Vrf, check_table};
pub use plan::{
    DecapEntry, EncapEntry, SkipReason, Skipped, Srv6Plan, Unexported, VpnExport, VpnRoute, plan,
};
pub use rd::{RT_SUBTYPE, RouteDistinguisher, RouteTarget};
pub use sid::{
    Behavior, FIRST_UNRESERVED_LABEL, LocalSid, SidOwner, SidRequest, SidScope, SidTable,
};
pub use transpose::{IMPLICIT_NULL, LABEL_BITS, SidStructure, Transposed, rebuild, transpose};
