//! The circuit [`Builder`]: gates with constant folding, inputs, outputs, and
//! [`Builder::finish`] with dead-gate elimination. The gadget library
//! ([`super::gadgets`]) adds word-level methods to it.

use super::ir::{Circuit, Gate, Wire, relayout};
use crate::{Error, Result};

#[derive(Clone, Copy, Default)]
struct Info {
    /// The wire's value if it is a known constant.
    constant: Option<bool>,
    /// A wire known to hold the negation of this one.
    negation: Option<Wire>,
}

/// Builds a [`Circuit`] gate by gate.
///
/// Gates fold as they are added: constants propagate (`x ⊕ 0 = x`, `x ∧ 1 = x`,
/// `x ∧ 0 = 0`, `x ⊕ 1 = ¬x`), `x ⊕ x = 0`, `x ∧ x = x`, `x ⊕ ¬x = 1`, `x ∧ ¬x = 0`,
/// `¬¬x = x`, and a wire is inverted at most once. So gadgets can be written plainly
/// (e.g. a subtractor as `a + ¬b + 1`) without paying for the constants.
/// [`Builder::finish`] drops gates that reach no output.
///
/// # Panics
/// Methods taking wires panic if a wire does not come from this builder, and any
/// method panics if the circuit outgrows 32-bit wire ids.
#[derive(Default)]
pub struct Builder {
    gates: Vec<Gate>,
    info: Vec<Info>,
    inputs: Vec<Vec<Wire>>,
    outputs: Vec<Vec<Wire>>,
    consts: [Option<Wire>; 2],
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    fn fresh(&mut self) -> Wire {
        let id = u32::try_from(self.info.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .expect("circuit outgrows 32-bit wire ids");
        self.info.push(Info::default());
        Wire(id)
    }

    /// Declares the next input value, `width` bits; returns its wires, LSB first.
    /// Input values are numbered in the order of these calls.
    pub fn input(&mut self, width: usize) -> Vec<Wire> {
        let word: Vec<Wire> = (0..width).map(|_| self.fresh()).collect();
        self.inputs.push(word.clone());
        word
    }

    /// Declares the next output value, LSB first. Output values are numbered in the
    /// order of these calls; a wire may appear in several outputs.
    pub fn output(&mut self, word: &[Wire]) {
        self.outputs.push(word.to_vec());
    }

    /// Number of gates added so far (before dead-gate elimination).
    pub fn num_gates(&self) -> usize {
        self.gates.len()
    }

    /// The value of `w` if it is a known constant.
    pub fn constant_value(&self, w: Wire) -> Option<bool> {
        self.info[w.index()].constant
    }

    /// A wire holding the constant `value` (one [`Gate::Const`] per value, shared).
    pub fn constant(&mut self, value: bool) -> Wire {
        if let Some(w) = self.consts[usize::from(value)] {
            return w;
        }
        let out = self.fresh();
        self.gates.push(Gate::Const { value, out });
        self.info[out.index()].constant = Some(value);
        self.consts[usize::from(value)] = Some(out);
        out
    }

    /// `width` wires holding the constant `value`, LSB first.
    ///
    /// # Panics
    /// If `width > 64` or `value` does not fit in `width` bits.
    pub fn constant_word(&mut self, value: u64, width: usize) -> Vec<Wire> {
        assert!(
            width <= 64 && (width == 64 || value >> width == 0),
            "{value} does not fit in {width} bits"
        );
        (0..width)
            .map(|i| self.constant((value >> i) & 1 == 1))
            .collect()
    }

    fn negation(&self, w: Wire) -> Option<Wire> {
        self.info[w.index()].negation
    }

    /// `¬a` (free).
    pub fn not(&mut self, a: Wire) -> Wire {
        if let Some(v) = self.constant_value(a) {
            return self.constant(!v);
        }
        if let Some(n) = self.negation(a) {
            return n;
        }
        let out = self.fresh();
        self.gates.push(Gate::Inv { a, out });
        self.info[a.index()].negation = Some(out);
        self.info[out.index()].negation = Some(a);
        out
    }

    /// `a ⊕ b` (free).
    pub fn xor(&mut self, a: Wire, b: Wire) -> Wire {
        match (self.constant_value(a), self.constant_value(b)) {
            (Some(x), Some(y)) => self.constant(x ^ y),
            (Some(false), None) => b,
            (Some(true), None) => self.not(b),
            (None, Some(false)) => a,
            (None, Some(true)) => self.not(a),
            (None, None) if a == b => self.constant(false),
            (None, None) if self.negation(a) == Some(b) => self.constant(true),
            (None, None) => {
                let out = self.fresh();
                self.gates.push(Gate::Xor { a, b, out });
                out
            }
        }
    }

    /// `a ∧ b` (one AND gate unless it folds).
    pub fn and(&mut self, a: Wire, b: Wire) -> Wire {
        match (self.constant_value(a), self.constant_value(b)) {
            (Some(false), _) | (_, Some(false)) => self.constant(false),
            (Some(true), _) => b,
            (_, Some(true)) => a,
            (None, None) if a == b => a,
            (None, None) if self.negation(a) == Some(b) => self.constant(false),
            (None, None) => {
                let out = self.fresh();
                self.gates.push(Gate::And { a, b, out });
                out
            }
        }
    }

    /// `a ∨ b = a ⊕ b ⊕ (a ∧ b)` (one AND).
    pub fn or(&mut self, a: Wire, b: Wire) -> Wire {
        let x = self.xor(a, b);
        let y = self.and(a, b);
        self.xor(x, y)
    }

    /// `s ? t : f = f ⊕ (s ∧ (t ⊕ f))` (one AND).
    pub fn mux_bit(&mut self, s: Wire, t: Wire, f: Wire) -> Wire {
        let d = self.xor(t, f);
        let m = self.and(s, d);
        self.xor(f, m)
    }

    /// Finishes the circuit: drops gates that reach no output, numbers the input
    /// wires first and the output wires last (Bristol layout, with a
    /// [`Gate::Copy`] for an output that is an input, or repeats an earlier output
    /// wire), and validates it.
    ///
    /// # Errors
    /// [`Error::InvalidCircuit`] if an output names a wire this builder did not make,
    /// or the circuit breaks an invariant of [`Circuit`] (which would be a bug).
    pub fn finish(self) -> Result<Circuit> {
        let n = self.info.len();
        let mut live = vec![false; n];
        for w in self.outputs.iter().flatten() {
            if w.index() >= n {
                return Err(Error::InvalidCircuit(format!(
                    "output wire {w} was not made by this builder"
                )));
            }
            live[w.index()] = true;
        }
        let mut keep = vec![false; self.gates.len()];
        for (k, g) in self.gates.iter().enumerate().rev() {
            if live[g.out().index()] {
                keep[k] = true;
                for w in g.inputs() {
                    live[w.index()] = true;
                }
            }
        }
        let gates: Vec<Gate> = self
            .gates
            .iter()
            .zip(&keep)
            .filter(|&(_, &k)| k)
            .map(|(g, _)| *g)
            .collect();
        let input_bits: usize = self.inputs.iter().map(Vec::len).sum();
        let output_bits: usize = self.outputs.iter().map(Vec::len).sum();
        if input_bits + gates.len() + output_bits >= u32::MAX as usize {
            return Err(Error::InvalidCircuit(
                "the circuit outgrows 32-bit wire ids".into(),
            ));
        }
        let c = relayout(n, &self.inputs, &gates, &self.outputs);
        Circuit::new(c.num_wires, c.input_widths, c.gates, c.outputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_adds_no_gates_for_trivial_identities() {
        let mut b = Builder::new();
        let x = b.input(2);
        let (p, q) = (x[0], x[1]);
        let zero = b.constant(false);
        let one = b.constant(true);
        assert_eq!(b.constant(false), zero, "constants are shared");
        let before = b.num_gates();
        assert_eq!(b.xor(p, zero), p);
        assert_eq!(b.and(p, one), p);
        assert_eq!(b.and(zero, q), zero);
        assert_eq!(b.xor(p, p), zero);
        assert_eq!(b.and(q, q), q);
        assert_eq!(b.xor(one, one), zero);
        assert_eq!(b.num_gates(), before);
        let np = b.not(p);
        assert_eq!(b.not(p), np, "a wire is inverted once");
        assert_eq!(b.not(np), p);
        assert_eq!(b.xor(p, one), np);
        assert_eq!(b.xor(p, np), one);
        assert_eq!(b.and(np, p), zero);
        assert_eq!(b.not(one), zero);
        assert_eq!(b.num_gates(), before + 1);
        assert_eq!(b.constant_value(one), Some(true));
        assert_eq!(b.constant_value(p), None);
    }

    #[test]
    fn finish_drops_dead_gates_and_lays_out_outputs() {
        let mut b = Builder::new();
        let x = b.input(2);
        let dead = b.and(x[0], x[1]);
        let live = b.xor(x[0], x[1]);
        let _also_dead = b.not(dead);
        b.output(&[live, x[1]]);
        assert_eq!(b.num_gates(), 3);
        let c = b.finish().unwrap();
        let cost = c.cost();
        assert_eq!((cost.and_gates, cost.xor_gates, cost.inv_gates), (0, 1, 0));
        assert_eq!(cost.copy_gates, 1, "the input wire in the output is copied");
        assert!(c.is_bristol_layout());
        for v in 0..4u64 {
            assert_eq!(
                c.eval_u64(&[&[v]]).unwrap(),
                vec![vec![(v & 1) ^ (v >> 1) | (v >> 1) << 1]]
            );
        }
    }

    #[test]
    fn inputs_declared_late_still_come_first() {
        let mut b = Builder::new();
        let x = b.input(1);
        let one = b.constant(true);
        let nx = b.xor(x[0], one);
        let y = b.input(1);
        let r = b.and(nx, y[0]);
        b.output(&[r]);
        let c = b.finish().unwrap();
        assert_eq!(c.input_widths(), &[1, 1]);
        let out = c.eval_u64(&[&[0, 0, 1, 1], &[0, 1, 0, 1]]).unwrap();
        assert_eq!(out, vec![vec![0, 1, 0, 0]]);
    }

    #[test]
    fn foreign_output_wire_is_an_error() {
        let mut b = Builder::new();
        b.input(1);
        b.output(&[Wire(5)]);
        assert!(matches!(b.finish(), Err(Error::InvalidCircuit(_))));
    }
}
