//! Boolean circuits: one description, several interpreters (STYLE.md #7).
//!
//! - [`Circuit`] — the IR: gates ([`Gate`]: XOR, AND, INV, copy, constant) over
//!   `u32` [`Wire`] ids, input values with bit widths (which party owns which input
//!   is decided at run time, not here), outputs as lists of wires. Validated on
//!   construction.
//! - [`Schedule`] — levelisation by AND depth: all ANDs of equal depth in one
//!   [`Layer`], with the free gates between layers. GMW runs one round per layer
//!   over a whole batch; Yao can take the gates in any of these orders.
//! - Interpreters: the bit-sliced plaintext evaluator ([`Circuit::eval`] and the
//!   [`values`] encodings; the test oracle), the cost counter ([`Circuit::cost`]),
//!   and, in their own modules, GMW and Yao.
//! - [`bristol`] — Bristol Fashion reader and writer; the bundled reference circuits
//!   (AES-128, SHA-256) live in `protocols/circuits/`.
//! - [`Builder`] and the gadget library ([`gadgets`]): adders, comparators,
//!   equality, mux, max, ReLU, multiplication, max-pooling and argmax, each in a
//!   size- and a depth-optimised [`Variant`] where the two differ.
//!
//! Bit order everywhere: a word is a list of wires with the least significant bit
//! first; wide values as bytes are big-endian (see [`values`]).
//!
//! Circuits are public: nothing here is secret, so everything may print.
#![doc = include_str!("README.md")]

pub mod bristol;
mod builder;
mod cost;
pub mod gadgets;
mod ir;
mod plain;
mod schedule;
pub mod values;

pub use bristol::BristolLimits;
pub use builder::Builder;
pub use cost::CircuitCost;
pub use gadgets::{Variant, gadget_cost_table};
pub use ir::{AndGate, Circuit, FreeGate, Gate, GateClass, Wire};
pub use schedule::{Layer, Schedule};
