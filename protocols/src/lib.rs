//! # tessera-protocols
//!
//! The three sharings of Tessera — arithmetic (A), Boolean GMW (B) and Yao (Y) — with
//! the Boolean circuit representation, the dealer and the preprocessing store.
//!
//! Security model: two semi-honest parties and a semi-honest dealer that is present
//! only offline and does not collude with either party.
#![deny(missing_docs)]

pub mod circuit;
pub mod error;

pub use error::{Error, Result};
