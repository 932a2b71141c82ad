//! # tessera-core
//!
//! The foundation of Tessera, a framework for mixed-protocol secure two-party
//! computation: rings Z_2^ℓ and fixed-point encoding, packed bits and the bit-sliced
//! transpose, 128-bit blocks, the AES PRG and fixed-key AES, and a metered async
//! transport (TCP or in-memory) with network shaping and a session handshake.
//!
//! Security model of the whole framework: two semi-honest parties and a semi-honest
//! dealer that does not collude with either. Nothing here trusts bytes from the
//! network: malformed input is an [`Error`], never a panic.
#![deny(missing_docs)]

#[cfg(target_endian = "big")]
compile_error!("Tessera's wire format is little-endian and assumes a little-endian host");

pub mod bits;
mod block;
pub mod channel;
mod error;
pub mod fixed;
pub mod handshake;
pub mod meter;
pub mod prg;
pub mod profile;
pub mod ring;
pub mod threads;
pub mod tls;

pub use bits::{BitMatrix, BitVec};
pub use block::Block;
pub use channel::{Channel, ChannelConfig};
pub use error::{Error, Result};
pub use fixed::FixedPoint;
pub use handshake::{ConfigSummary, Handshake, Mediated, Role, SessionId, mediate};
pub use meter::{Metering, Phase, PhaseMeter, Replay, peak_rss_bytes};
pub use prg::{FixedKeyAes, Prg};
pub use profile::NetworkProfile;
pub use ring::{Ring, Z32, Z64};
pub use threads::Threads;
pub use tls::TlsConfig;
