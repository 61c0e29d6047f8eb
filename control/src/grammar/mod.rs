//! The config grammar that ternd and `tern` both read: the words of each
//! config mode ([`config`]), the tokens they are made of ([`token`]) and
//! the spelling out of abbreviated lines ([`expand`]). The shell answers
//! `?` and TAB from the tables and spells a line out before sending it;
//! ternd spells out every line it reads (file or socket) before parsing it.
//! Files form layers: `token` at the bottom, then `config`, then `expand`.
pub mod config;
pub mod expand;
pub mod token;

pub use expand::{Ambiguous, expand};
pub use token::{ArgKind, Pattern, Quality, Token, quality};
