//! Services on the control socket: what `show service [NAME] [json]` and
//! `show service conntrack [json]` answer. The service itself is
//! tern-services' model (the bulk request carries it as is).
use serde::{Deserialize, Serialize};
pub use tern_services::Service;

/// One service as this node runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    /// The configuration.
    pub service: Service,
    /// The id the datapath knows it by (0: not programmed).
    pub id: u32,
    pub frontends: Vec<FrontendStatus>,
}

/// One frontend of a service on this node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrontendStatus {
    /// `ADDR port PORT PROTO`.
    pub frontend: String,
    /// Its address is announced by BGP from this node.
    pub announced: bool,
    /// Backends that take new connections here, as `ADDR:PORT`.
    pub backends: Vec<String>,
    /// Whether the datapath holds the frontend.
    pub programmed: bool,
}

/// `show service conntrack`: connections through services.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conntrack {
    /// Connections tracked (all, whatever the filter).
    pub count: u64,
    /// Conntrack entries (two per connection).
    pub entries_total: u64,
    /// The connections that match the filter.
    pub connections: Vec<Connection>,
}

/// One tracked connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub service: String,
    pub protocol: String,
    pub client: String,
    pub frontend: String,
    pub backend: String,
    /// The node's address and port when the client's was replaced (SNAT).
    pub snat: Option<String>,
    /// syn, established, closing or other.
    pub state: String,
    /// Seconds until the forward entry expires.
    pub expires_in: u64,
}
