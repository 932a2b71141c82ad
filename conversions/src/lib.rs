//! # tessera-conversions
//!
//! The six conversion gates between the arithmetic (A), Boolean GMW (B) and Yao (Y)
//! sharings, each vectorised over a whole tensor and priced exactly, and the graph of
//! conversions a planner chooses routes from.
//!
//! | conversion | construction | online rounds | correlations |
//! |---|---|---|---|
//! | Y2B | local: each party's B share is the lsb of its labels (ABY) | 0 | — |
//! | B2Y | garbler's share as its labels, evaluator's through dealer OTs, XOR free | 2 | ℓn random OTs |
//! | A2Y | both shares enter the garbled circuit, ripple-carry adder inside | 2 | ℓn random OTs |
//! | Y2A | garbler's random mask subtracted inside the circuit, result to the evaluator | 1 | — |
//! | A2B (GMW) | each share is a B sharing locally; depth-optimised (Sklansky) adder in GMW | adder depth | adder AND triples |
//! | A2B (Yao) | A2Y then Y2B | 2 | ℓn random OTs |
//! | B2A (daBits) | open b ⊕ r for a daBit r, then `[b]ᴬ = c + [r]ᴬ − 2c[r]ᴬ` | 1 | ℓn daBits |
//! | B2A (OT) | per bit one derandomised random OT: the receiver learns `(b₀ ⊕ b₁)2ⁱ − s` | 2 | ℓn random OTs |
//!
//! Values are vectors of `n` elements of Z_2^ℓ; a signed fixed-point value is its
//! two's-complement ring element, so every route round-trips it exactly.
//!
//! Security model: semi-honest parties, a non-colluding dealer that is present only
//! offline. Party 0 is the garbler.
#![deny(missing_docs)]

mod convert;
mod error;
mod graph;

pub use convert::{A2bVariant, B2aVariant, Converter, YShare, dabits_close};
pub use error::{Error, Result};
pub use graph::{
    Conversion, Flight, Price, Route, Sharing, a2b_route, conversion_demand, primitive_edges,
    routes,
};
