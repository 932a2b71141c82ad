//! # tessera-protocols
//!
//! The three sharings of Tessera — arithmetic (A), Boolean GMW (B) and Yao (Y) — with
//! the Boolean circuit representation, the dealer and the preprocessing store.
//!
//! Security model: two semi-honest parties and a semi-honest dealer that is present
//! only offline and does not collude with either party.
#![deny(missing_docs)]

pub mod arith;
pub mod circuit;
pub mod dealer;
pub mod error;
pub mod gmw;
#[cfg(feature = "test-harness")]
pub mod harness;
pub mod ot;
pub mod preprocessing;
pub mod runtime;
pub mod yao;

pub use arith::bilinear::{Bilinear, BilinearOp, Conv2dParams, ConvParams};
pub use arith::window::Window;
pub use arith::{AShare, ArithParty, PlainWeights, TruncMode};
pub use error::{Error, Result};
pub use gmw::{BShare, Gmw, RevealTo};
pub use preprocessing::{Demand, PartyMaterial, Provider, Request, Store};
