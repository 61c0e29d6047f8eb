//! Tern's BGP speaker and the `ternd` daemon around it.
//!
//! Today the daemon reads its FRR-style configuration, attaches Tern's eBPF
//! interface counters, and serves the control socket that `tern` talks to.
//! The BGP wire codec lives in the `tern-bgp-wire` crate beside this one.
pub mod bfd;
pub mod bgp_runtime;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod datapath;
pub mod egress;
pub mod endpoints;
pub mod fib;
pub mod guard;
pub mod locrib;
pub mod logging;
pub mod route_table;
pub mod server;
pub mod services;
pub mod speaker;
pub mod srv6;
pub mod statics;
pub mod vpn;
