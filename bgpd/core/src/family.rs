//! The address families Tern routes: [`Family`] and its AFI/SAFI, defined
//! with the codec (the control protocol names them too).
pub use tern_bgp_wire::{Family, afi_safi, family_of};
