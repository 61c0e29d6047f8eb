//! The `tern` command line: its command grammar, the client of ternd's
//! control socket, renderers that print what vtysh prints, and the
//! interactive shell (modes, `?`, TAB, history).
pub mod bfd_view;
pub mod bgp;
pub mod bgp_adj;
pub mod bgp_neighbors;
pub mod bgp_table;
pub mod bgp_vpn;
pub mod client;
pub mod commands;
pub mod datapath_view;
pub mod egress_view;
pub mod endpoint_view;
pub mod help;
pub mod render;
pub mod route;
pub mod service_view;
pub mod session;
pub mod shell;
pub mod srv6_view;
