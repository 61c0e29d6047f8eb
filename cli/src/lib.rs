//! The `tern` command line: its command grammar, the client of ternd's
//! control socket, and renderers that print what vtysh prints.
pub mod bgp;
pub mod client;
pub mod commands;
pub mod render;
