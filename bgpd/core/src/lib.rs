//! Tern's BGP protocol core, sans I/O: what a BGP speaker decides, apart
//! from the sockets, tasks, kernel and clock that `ternd` wires around it.
//!
//! Layers, each using only those below it:
//!
//! ```text
//! fsm                     session state machine (RFC 4271 §8)
//! nexthop                 the kernel's view of best paths (next-hop tracking)
//!  └ vpn                  the VPN RIB (SAFI 128), apart from the unicast tables
//!  └ rib                  Adj-RIB-In, Loc-RIB and decision, Adj-RIB-Out
//!  └ config               `router bgp` and policy lines: model and grammar
//!     └ policy            prefix-lists, community-lists, route-maps
//!        └ attrs, family  path attributes; address families
//!           └ tern-bgp-wire (the codec)
//! ```
//!
//! Time comes in as input: the RIB is told the time
//! ([`rib::Rib::set_time`]) and never reads a clock.
pub mod attrs;
pub mod config;
pub mod family;
pub mod fsm;
pub mod nexthop;
pub mod policy;
pub mod rib;
pub mod vpn;

pub use family::Family;
