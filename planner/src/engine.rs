//! What the planner needs from a secure inference engine: for a chain of layers, the
//! sharings each layer may run in and the exact cost of every step of a run for a
//! given choice of sharings and conversions.
//!
//! [`Chain`] is that interface. The planner never prices a layer itself: it asks the
//! chain (which runs the engine's cost counter for the exact shapes) and only turns
//! the counted bytes, message patterns, gates and correlations into time with the
//! calibrated coefficients ([`crate::time`]).
//!
//! The step types ([`StepCost`], [`Work`], [`Placement`], [`Assignment`], [`Output`])
//! are the engine's.

use tessera_conversions::{Conversion, Sharing};

use crate::Result;

/// The step and assignment types of the engine.
mod types {
    use serde::{Deserialize, Serialize};
    use tessera_conversions::{Conversion, Price, Sharing};

    /// What the client receives.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Output {
        /// The label only (argmax of the scores).
        Label,
        /// The scores.
        Logits,
    }

    /// Where a layer runs: conversions applied to its input first, then the layer in
    /// `sharing`.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Placement {
        /// The layer's sharing.
        pub sharing: Sharing,
        /// Conversions applied to the layer's input, in order.
        pub convert: Vec<Conversion>,
    }

    /// A whole assignment of a chain.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Assignment {
        /// One placement per layer.
        pub layers: Vec<Placement>,
        /// Where the argmax runs (B or Y) when the output is the label.
        pub head: Option<Placement>,
        /// What the client receives.
        pub output: Output,
    }

    /// Local compute counters of a step, per party.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
    pub struct Work {
        /// GMW AND gates (gate × instance).
        pub gmw_and: u64,
        /// Garbled (party 0) and evaluated (party 1) AND gates.
        pub yao_and: u64,
        /// Ring multiply-adds of plaintext-weight or Beaver products.
        pub macs: u64,
        /// Elementwise ring operations.
        pub ring_ops: u64,
        /// Random OTs derandomised.
        pub ots: u64,
        /// Labels copied.
        pub labels: u64,
    }

    /// One step of a secure run: its exact online price and its work.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct StepCost {
        /// What the step does.
        pub name: String,
        /// The layer it belongs to (`None`: input or head).
        pub layer: Option<usize>,
        /// Exact online price (bytes, message pattern, AND gates, correlations).
        pub price: Price,
        /// Local work.
        pub work: Work,
        /// Bytes each party sends once per session (plaintext-weight masks).
        pub setup_bytes: [u64; 2],
    }
}

pub use types::{Assignment, Output, Placement, StepCost, Work};

/// A layer as the planner shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's name (the ONNX node name).
    pub name: String,
    /// The operator's short name (`dense`, `relu`, ...).
    pub op: String,
}

/// A chain of layers whose steps an engine can price.
///
/// The cost of layer `i` depends only on the sharing of layer `i − 1`, the
/// conversions applied to its input and its own sharing. This locality is what makes
/// dynamic programming over (layer, sharing) exact ([`crate::assign`]).
pub trait Chain {
    /// The layers, in order.
    fn layers(&self) -> Vec<LayerInfo>;

    /// The sharings layer `i` may run in without changing its result.
    fn options(&self, i: usize) -> Vec<Sharing>;

    /// The client's input entering in sharing `first`.
    ///
    /// # Errors
    /// If the engine cannot price it.
    fn input_steps(&self, first: Sharing, batch: usize) -> Result<Vec<StepCost>>;

    /// Layer `i` in `sharing` after `convert` from the previous layer's `prev`.
    ///
    /// # Errors
    /// If the combination is invalid or the engine cannot price it.
    fn layer_steps(
        &self,
        i: usize,
        prev: Sharing,
        convert: &[Conversion],
        sharing: Sharing,
        batch: usize,
    ) -> Result<Vec<StepCost>>;

    /// The head (argmax in `head`, or the scores revealed) after the last layer in
    /// `last`.
    ///
    /// # Errors
    /// If the combination is invalid or the engine cannot price it.
    fn head_steps(
        &self,
        last: Sharing,
        head: Option<&Placement>,
        output: Output,
        batch: usize,
    ) -> Result<Vec<StepCost>>;

    /// Where the head may run for `output`: `[None]` for logits, the Boolean
    /// sharings for a label.
    fn head_options(&self, output: Output) -> Vec<Option<Sharing>> {
        match output {
            Output::Logits => vec![None],
            Output::Label => vec![Some(Sharing::B), Some(Sharing::Y)],
        }
    }
}
