//! The `router bgp` configuration and the routing policy lines, as FRR
//! writes them: the model ([`model`]), the lines of `(config-router)#`
//! and `(config-router-af)#` ([`router`], with [`neighbor`] and
//! [`path_attr`]), the policy lines ([`policy`]), and the word checks
//! that every mode shares ([`check`]). The daemon's whole configuration
//! (interfaces, datapath, services, ...) is built on these in `ternd`.
pub mod check;
pub mod model;
pub mod neighbor;
pub mod path_attr;
pub mod policy;
pub mod router;

pub use check::{Handled, PASSWORD_MASK};
pub use model::{
    AfConfig, AfNeighbor, AggregateConfig, AllowAsIn, BgpConfig, FrrProfile, GracefulRestartConfig,
    NeighborConfig, PathAttrPolicy, Redistribute, RemoteAsConfig, VpnFamily,
};
