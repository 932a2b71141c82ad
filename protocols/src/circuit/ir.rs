//! The circuit IR: wires, gates, and a validated [`Circuit`].

use std::ops::Range;

use crate::{Error, Result};

/// A wire id. Wires are numbered `0..num_wires`; the inputs come first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Wire(pub u32);

impl Wire {
    /// The id as an index into per-wire storage.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl std::fmt::Display for Wire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "w{}", self.0)
    }
}

/// An AND gate, `out = a ∧ b`: the only gate that costs communication in GMW (one
/// Beaver triple and one opening per instance) and ciphertexts in Yao (two with
/// half-gates).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AndGate {
    /// Left input.
    pub a: Wire,
    /// Right input.
    pub b: Wire,
    /// Output.
    pub out: Wire,
}

/// A gate that is free in GMW (local on XOR shares) and in Yao with free-XOR: every
/// gate kind but AND.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FreeGate {
    /// `out = a ⊕ b`.
    Xor {
        /// Left input.
        a: Wire,
        /// Right input.
        b: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = ¬a`.
    Inv {
        /// Input.
        a: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = a` (Bristol `EQW`).
    Copy {
        /// Input.
        a: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = value`, a public constant (Bristol `EQ`).
    Const {
        /// The constant.
        value: bool,
        /// Output.
        out: Wire,
    },
}

/// One gate of a [`Circuit`]. Every interpreter (plaintext, cost counter, GMW, Yao)
/// matches on all of these kinds; adding a kind breaks every interpreter's build,
/// which is the point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gate {
    /// `out = a ⊕ b`.
    Xor {
        /// Left input.
        a: Wire,
        /// Right input.
        b: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = a ∧ b`.
    And {
        /// Left input.
        a: Wire,
        /// Right input.
        b: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = ¬a`.
    Inv {
        /// Input.
        a: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = a` (Bristol `EQW`).
    Copy {
        /// Input.
        a: Wire,
        /// Output.
        out: Wire,
    },
    /// `out = value`, a public constant (Bristol `EQ`).
    Const {
        /// The constant.
        value: bool,
        /// Output.
        out: Wire,
    },
}

impl Gate {
    /// The wire this gate assigns.
    #[inline]
    pub fn out(&self) -> Wire {
        match *self {
            Gate::Xor { out, .. }
            | Gate::And { out, .. }
            | Gate::Inv { out, .. }
            | Gate::Copy { out, .. }
            | Gate::Const { out, .. } => out,
        }
    }

    /// The wires this gate reads (zero, one or two).
    #[inline]
    pub fn inputs(&self) -> impl Iterator<Item = Wire> + use<> {
        let (x, y) = match *self {
            Gate::Xor { a, b, .. } | Gate::And { a, b, .. } => (Some(a), Some(b)),
            Gate::Inv { a, .. } | Gate::Copy { a, .. } => (Some(a), None),
            Gate::Const { .. } => (None, None),
        };
        x.into_iter().chain(y)
    }

    /// Splits the gate into the two classes protocols treat differently.
    #[inline]
    pub fn class(self) -> GateClass {
        match self {
            Gate::Xor { a, b, out } => GateClass::Free(FreeGate::Xor { a, b, out }),
            Gate::And { a, b, out } => GateClass::And(AndGate { a, b, out }),
            Gate::Inv { a, out } => GateClass::Free(FreeGate::Inv { a, out }),
            Gate::Copy { a, out } => GateClass::Free(FreeGate::Copy { a, out }),
            Gate::Const { value, out } => GateClass::Free(FreeGate::Const { value, out }),
        }
    }
}

/// A gate as either an AND gate or a free gate; see [`Gate::class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GateClass {
    /// An AND gate.
    And(AndGate),
    /// Any other gate.
    Free(FreeGate),
}

impl From<AndGate> for Gate {
    fn from(g: AndGate) -> Gate {
        Gate::And {
            a: g.a,
            b: g.b,
            out: g.out,
        }
    }
}

impl From<FreeGate> for Gate {
    fn from(g: FreeGate) -> Gate {
        match g {
            FreeGate::Xor { a, b, out } => Gate::Xor { a, b, out },
            FreeGate::Inv { a, out } => Gate::Inv { a, out },
            FreeGate::Copy { a, out } => Gate::Copy { a, out },
            FreeGate::Const { value, out } => Gate::Const { value, out },
        }
    }
}

/// A validated Boolean circuit.
///
/// Invariants, checked by [`Circuit::new`]:
/// - the input values occupy wires `0..input_bits()` contiguously, in order, each
///   value's wires least significant bit first;
/// - every other wire is assigned by exactly one gate, so
///   `num_wires == input_bits + gates.len()`;
/// - gates are in topological order: a gate reads only inputs and wires assigned by
///   earlier gates;
/// - each output value is a non-empty list of wires (LSB first); any wire may appear
///   in outputs, also several times.
///
/// Which party owns which input is not part of the circuit: the caller decides at
/// run time.
#[derive(Clone, PartialEq, Eq)]
pub struct Circuit {
    pub(crate) num_wires: usize,
    pub(crate) input_widths: Vec<usize>,
    pub(crate) gates: Vec<Gate>,
    pub(crate) outputs: Vec<Vec<Wire>>,
}

impl std::fmt::Debug for Circuit {
    /// A summary; the gate list of a real circuit is far too long to print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Circuit")
            .field("num_wires", &self.num_wires)
            .field("input_widths", &self.input_widths)
            .field("output_widths", &self.output_widths())
            .field("gates", &self.gates.len())
            .finish()
    }
}

/// Where a circuit breaks an invariant, so that the Bristol reader can name a line.
#[derive(Debug)]
pub(crate) enum Site {
    /// The wire or input counts.
    Header,
    /// The gate with this index.
    Gate(usize),
    /// The output value with this index.
    Output(usize),
}

/// An invariant violation found by [`validate`].
#[derive(Debug)]
pub(crate) struct Violation {
    pub(crate) site: Site,
    pub(crate) reason: String,
}

impl Violation {
    fn new(site: Site, reason: String) -> Self {
        Violation { site, reason }
    }

    /// As an [`Error::InvalidCircuit`].
    pub(crate) fn into_error(self) -> Error {
        let at = match self.site {
            Site::Header => "wire counts".to_string(),
            Site::Gate(g) => format!("gate {g}"),
            Site::Output(o) => format!("output {o}"),
        };
        Error::InvalidCircuit(format!("{at}: {}", self.reason))
    }
}

/// Checks every invariant listed on [`Circuit`]. Allocates one bit per wire, only
/// after the wire count has been checked against the gates actually given.
pub(crate) fn validate(
    num_wires: usize,
    input_widths: &[usize],
    gates: &[Gate],
    outputs: &[Vec<Wire>],
) -> std::result::Result<(), Violation> {
    let mut input_bits = 0usize;
    for (i, &w) in input_widths.iter().enumerate() {
        if w == 0 {
            return Err(Violation::new(
                Site::Header,
                format!("input value {i} has width 0"),
            ));
        }
        input_bits = input_bits
            .checked_add(w)
            .ok_or_else(|| Violation::new(Site::Header, "input widths overflow".into()))?;
    }
    if num_wires > u32::MAX as usize {
        return Err(Violation::new(
            Site::Header,
            format!("{num_wires} wires do not fit 32-bit wire ids"),
        ));
    }
    let assigned = input_bits.checked_add(gates.len());
    if assigned != Some(num_wires) {
        return Err(Violation::new(
            Site::Header,
            format!(
                "the circuit declares {num_wires} wires but its {input_bits} input bits and {} \
                 gates assign {}",
                gates.len(),
                input_bits.saturating_add(gates.len())
            ),
        ));
    }
    let mut set = vec![0u64; num_wires.div_ceil(64)];
    let is_set = |set: &[u64], w: usize| (set[w / 64] >> (w % 64)) & 1 == 1;
    for w in 0..input_bits {
        set[w / 64] |= 1 << (w % 64);
    }
    for (g, gate) in gates.iter().enumerate() {
        for x in gate.inputs() {
            let xi = x.index();
            if xi >= num_wires {
                return Err(Violation::new(
                    Site::Gate(g),
                    format!("reads wire {xi}, out of range (the circuit has {num_wires} wires)"),
                ));
            }
            if !is_set(&set, xi) {
                return Err(Violation::new(
                    Site::Gate(g),
                    format!("reads wire {xi} before any gate assigns it"),
                ));
            }
        }
        let o = gate.out().index();
        if o >= num_wires {
            return Err(Violation::new(
                Site::Gate(g),
                format!("assigns wire {o}, out of range (the circuit has {num_wires} wires)"),
            ));
        }
        if o < input_bits {
            return Err(Violation::new(
                Site::Gate(g),
                format!("assigns wire {o}, which is an input wire"),
            ));
        }
        if is_set(&set, o) {
            return Err(Violation::new(
                Site::Gate(g),
                format!("assigns wire {o} a second time"),
            ));
        }
        set[o / 64] |= 1 << (o % 64);
    }
    for (i, out) in outputs.iter().enumerate() {
        if out.is_empty() {
            return Err(Violation::new(Site::Output(i), "has width 0".into()));
        }
        if let Some(w) = out.iter().find(|w| w.index() >= num_wires) {
            return Err(Violation::new(
                Site::Output(i),
                format!("uses wire {w}, out of range (the circuit has {num_wires} wires)"),
            ));
        }
    }
    Ok(())
}

impl Circuit {
    /// Builds a circuit, checking every invariant listed on [`Circuit`].
    ///
    /// # Errors
    /// [`Error::InvalidCircuit`] naming the first gate or output that breaks one.
    pub fn new(
        num_wires: usize,
        input_widths: Vec<usize>,
        gates: Vec<Gate>,
        outputs: Vec<Vec<Wire>>,
    ) -> Result<Circuit> {
        validate(num_wires, &input_widths, &gates, &outputs).map_err(Violation::into_error)?;
        Ok(Circuit {
            num_wires,
            input_widths,
            gates,
            outputs,
        })
    }

    /// Total number of wires.
    pub fn num_wires(&self) -> usize {
        self.num_wires
    }

    /// The gates, in topological order.
    pub fn gates(&self) -> &[Gate] {
        &self.gates
    }

    /// Number of input values.
    pub fn num_inputs(&self) -> usize {
        self.input_widths.len()
    }

    /// Bit width of each input value.
    pub fn input_widths(&self) -> &[usize] {
        &self.input_widths
    }

    /// Total number of input bits (the input wires are `0..input_bits()`).
    pub fn input_bits(&self) -> usize {
        self.input_widths.iter().sum()
    }

    /// The wires of input value `i`, LSB first.
    ///
    /// # Panics
    /// If `i >= num_inputs()`.
    pub fn input_range(&self, i: usize) -> Range<usize> {
        let start: usize = self.input_widths[..i].iter().sum();
        start..start + self.input_widths[i]
    }

    /// Number of output values.
    pub fn num_outputs(&self) -> usize {
        self.outputs.len()
    }

    /// The wires of each output value, LSB first.
    pub fn outputs(&self) -> &[Vec<Wire>] {
        &self.outputs
    }

    /// Bit width of each output value.
    pub fn output_widths(&self) -> Vec<usize> {
        self.outputs.iter().map(Vec::len).collect()
    }

    /// Total number of output bits.
    pub fn output_bits(&self) -> usize {
        self.outputs.iter().map(Vec::len).sum()
    }

    /// Whether the circuit is laid out as a Bristol Fashion file requires: the output
    /// wires, flattened in order, are exactly the last wires `num_wires - m..num_wires`.
    /// Circuits read from Bristol files and circuits from [`super::Builder::finish`]
    /// always are.
    pub fn is_bristol_layout(&self) -> bool {
        let m = self.output_bits();
        m <= self.num_wires
            && self
                .outputs
                .iter()
                .flatten()
                .enumerate()
                .all(|(p, w)| w.index() == self.num_wires - m + p)
    }

    /// The same function laid out for Bristol Fashion (see
    /// [`Circuit::is_bristol_layout`]): wires renumbered so that outputs come last, and
    /// a [`Gate::Copy`] added for each output occurrence that is an input wire or
    /// repeats an earlier output wire. Returns a clone if the layout already fits.
    pub fn to_bristol_layout(&self) -> Circuit {
        if self.is_bristol_layout() {
            return self.clone();
        }
        let inputs: Vec<Vec<Wire>> = (0..self.num_inputs())
            .map(|i| self.input_range(i).map(|w| Wire(w as u32)).collect())
            .collect();
        relayout(self.num_wires, &inputs, &self.gates, &self.outputs)
    }
}

/// Renumbers a topologically ordered gate list into a circuit in Bristol layout:
/// `inputs` (in old ids) become wires `0..`, gate outputs follow in gate order, and
/// the outputs take the last ids, in order; an output occurrence that is not a gate
/// output, or repeats an earlier one, gets a [`Gate::Copy`] at the end.
///
/// The result is not validated: callers either pass a valid circuit (a relabelling
/// of a valid circuit is valid) or validate it themselves.
pub(crate) fn relayout(
    old_wires: usize,
    inputs: &[Vec<Wire>],
    gates: &[Gate],
    outputs: &[Vec<Wire>],
) -> Circuit {
    const NONE: u32 = u32::MAX;
    let mut map = vec![NONE; old_wires];
    let mut next = 0u32;
    for w in inputs.iter().flatten() {
        map[w.index()] = next;
        next += 1;
    }
    let mut gate_out = vec![false; old_wires];
    for g in gates {
        gate_out[g.out().index()] = true;
    }
    // For each output position: the old wire placed there directly, or a copy source.
    let mut placed = vec![false; old_wires];
    let mut copies = Vec::new();
    let flat: Vec<Wire> = outputs.iter().flatten().copied().collect();
    let mut direct = vec![false; flat.len()];
    for (p, w) in flat.iter().enumerate() {
        let i = w.index();
        if gate_out[i] && !placed[i] {
            placed[i] = true;
            direct[p] = true;
        } else {
            copies.push(p);
        }
    }
    let total = next as usize + gates.len() + copies.len();
    let base = (total - flat.len()) as u32;
    for (p, w) in flat.iter().enumerate() {
        if direct[p] {
            map[w.index()] = base + p as u32;
        }
    }
    for g in gates {
        let o = g.out().index();
        if !placed[o] {
            map[o] = next;
            next += 1;
        }
    }
    let m = |w: Wire| Wire(map[w.index()]);
    let mut new_gates: Vec<Gate> = gates
        .iter()
        .map(|g| match *g {
            Gate::Xor { a, b, out } => Gate::Xor {
                a: m(a),
                b: m(b),
                out: m(out),
            },
            Gate::And { a, b, out } => Gate::And {
                a: m(a),
                b: m(b),
                out: m(out),
            },
            Gate::Inv { a, out } => Gate::Inv {
                a: m(a),
                out: m(out),
            },
            Gate::Copy { a, out } => Gate::Copy {
                a: m(a),
                out: m(out),
            },
            Gate::Const { value, out } => Gate::Const { value, out: m(out) },
        })
        .collect();
    for &p in &copies {
        new_gates.push(Gate::Copy {
            a: m(flat[p]),
            out: Wire(base + p as u32),
        });
    }
    let mut new_outputs = Vec::with_capacity(outputs.len());
    let mut p = base;
    for o in outputs {
        new_outputs.push((p..p + o.len() as u32).map(Wire).collect());
        p += o.len() as u32;
    }
    Circuit {
        num_wires: total,
        input_widths: inputs.iter().map(Vec::len).collect(),
        gates: new_gates,
        outputs: new_outputs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn and(a: u32, b: u32, out: u32) -> Gate {
        Gate::And {
            a: Wire(a),
            b: Wire(b),
            out: Wire(out),
        }
    }

    fn invalid(r: Result<Circuit>) -> String {
        match r {
            Err(Error::InvalidCircuit(s)) => s,
            other => panic!("expected InvalidCircuit, got {other:?}"),
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let ok = Circuit::new(3, vec![2], vec![and(0, 1, 2)], vec![vec![Wire(2)]]).unwrap();
        assert_eq!(ok.input_range(0), 0..2);
        assert!(ok.is_bristol_layout());

        let e = invalid(Circuit::new(4, vec![2], vec![and(0, 1, 2)], vec![]));
        assert!(e.contains("declares 4 wires"), "{e}");
        let e = invalid(Circuit::new(3, vec![2, 0], vec![and(0, 1, 2)], vec![]));
        assert!(e.contains("width 0"), "{e}");
        let e = invalid(Circuit::new(3, vec![2], vec![and(0, 5, 2)], vec![]));
        assert!(e.starts_with("gate 0") && e.contains("out of range"), "{e}");
        let e = invalid(Circuit::new(3, vec![2], vec![and(0, 2, 2)], vec![]));
        assert!(e.contains("before any gate assigns it"), "{e}");
        let e = invalid(Circuit::new(3, vec![2], vec![and(0, 1, 1)], vec![]));
        assert!(e.contains("input wire"), "{e}");
        let e = invalid(Circuit::new(
            4,
            vec![2],
            vec![and(0, 1, 2), and(0, 1, 2)],
            vec![],
        ));
        assert!(e.starts_with("gate 1") && e.contains("second time"), "{e}");
        let e = invalid(Circuit::new(3, vec![2], vec![and(0, 1, 7)], vec![]));
        assert!(e.contains("assigns wire 7, out of range"), "{e}");
        let e = invalid(Circuit::new(3, vec![2], vec![and(0, 1, 2)], vec![vec![]]));
        assert!(e.starts_with("output 0"), "{e}");
        let e = invalid(Circuit::new(
            3,
            vec![2],
            vec![and(0, 1, 2)],
            vec![vec![Wire(3)]],
        ));
        assert!(
            e.starts_with("output 0") && e.contains("out of range"),
            "{e}"
        );
    }

    #[test]
    fn relayout_moves_outputs_last_and_copies_inputs_and_repeats() {
        // Outputs: the AND (wire 2), input 0, the AND again; gate 3 is an XOR after.
        let gates = vec![
            and(0, 1, 2),
            Gate::Xor {
                a: Wire(2),
                b: Wire(0),
                out: Wire(3),
            },
        ];
        let c = Circuit::new(4, vec![1, 1], gates, vec![vec![Wire(2), Wire(0), Wire(2)]]).unwrap();
        assert!(!c.is_bristol_layout());
        let l = c.to_bristol_layout();
        assert!(l.is_bristol_layout());
        assert_eq!(l.num_wires(), 6);
        assert_eq!(l.outputs(), &[vec![Wire(3), Wire(4), Wire(5)]]);
        assert_eq!(
            &l.gates()[2..],
            &[
                Gate::Copy {
                    a: Wire(0),
                    out: Wire(4)
                },
                Gate::Copy {
                    a: Wire(3),
                    out: Wire(5)
                },
            ]
        );
        assert_eq!(l.to_bristol_layout(), l);
    }
}
