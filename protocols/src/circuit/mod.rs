//! Boolean circuits: the IR ([`Circuit`]), its AND-depth [`Schedule`], the
//! plaintext and cost interpreters, the [`bristol`] reader and writer, and the
//! [`Builder`] with its [`gadgets`].
//!
//! Circuits are public: nothing here is secret, so everything may print.
//!
#![doc = include_str!("README.md")]

pub mod bristol;
mod builder;
mod cost;
pub mod gadgets;
mod ir;
mod plain;
mod program;
mod schedule;
pub mod values;

pub use bristol::BristolLimits;
pub use builder::Builder;
pub use cost::CircuitCost;
pub use gadgets::{Variant, gadget_cost_table};
pub use ir::{AndGate, Circuit, FreeGate, Gate, GateClass, Wire};
pub use program::Program;
pub use schedule::{Layer, Schedule};
