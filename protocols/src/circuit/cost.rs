//! The cost counter: gate counts, AND depth and layer widths of a circuit, the data
//! from which each protocol derives its exact byte and round counts (next to its own
//! implementation; nothing protocol-specific is assumed here).

use super::ir::{Circuit, Gate};

/// What a circuit costs, counted on the circuit itself (one instance; a batch of `n`
/// instances has `n` times the gates, in the same layers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CircuitCost {
    /// AND gates.
    pub and_gates: usize,
    /// XOR gates.
    pub xor_gates: usize,
    /// INV gates.
    pub inv_gates: usize,
    /// Copy gates (Bristol `EQW`).
    pub copy_gates: usize,
    /// Constant gates (Bristol `EQ`).
    pub const_gates: usize,
    /// AND depth: the number of AND layers of the [`super::Schedule`].
    pub and_depth: usize,
    /// AND gates in each layer, `and_layer_widths.len() == and_depth`.
    pub and_layer_widths: Vec<usize>,
    /// Input bits (all input values together).
    pub input_bits: usize,
    /// Output bits (all output values together).
    pub output_bits: usize,
    /// Wires.
    pub wires: usize,
}

impl CircuitCost {
    /// All gates of every kind.
    pub fn gates(&self) -> usize {
        self.and_gates + self.xor_gates + self.inv_gates + self.copy_gates + self.const_gates
    }
}

impl Circuit {
    /// Counts the circuit's cost; the interpreter that prices a circuit (STYLE #7).
    pub fn cost(&self) -> CircuitCost {
        let mut c = CircuitCost {
            input_bits: self.input_bits(),
            output_bits: self.output_bits(),
            wires: self.num_wires,
            ..CircuitCost::default()
        };
        let mut depth = vec![0u32; self.num_wires];
        for g in &self.gates {
            let d = g.inputs().map(|w| depth[w.index()]).max().unwrap_or(0);
            let d = match g {
                Gate::Xor { .. } => {
                    c.xor_gates += 1;
                    d
                }
                Gate::And { .. } => {
                    c.and_gates += 1;
                    let d = d + 1;
                    if c.and_layer_widths.len() < d as usize {
                        c.and_layer_widths.resize(d as usize, 0);
                    }
                    c.and_layer_widths[d as usize - 1] += 1;
                    d
                }
                Gate::Inv { .. } => {
                    c.inv_gates += 1;
                    d
                }
                Gate::Copy { .. } => {
                    c.copy_gates += 1;
                    d
                }
                Gate::Const { .. } => {
                    c.const_gates += 1;
                    d
                }
            };
            depth[g.out().index()] = d;
        }
        c.and_depth = c.and_layer_widths.len();
        c
    }
}

impl std::fmt::Display for CircuitCost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} AND (depth {}), {} XOR, {} INV, {} copy, {} const; {} input bits, {} output bits",
            self.and_gates,
            self.and_depth,
            self.xor_gates,
            self.inv_gates,
            self.copy_gates,
            self.const_gates,
            self.input_bits,
            self.output_bits
        )
    }
}
