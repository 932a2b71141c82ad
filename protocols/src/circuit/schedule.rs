//! Levelisation by AND depth: the schedule GMW runs with one communication round per
//! AND layer, over a whole batch.

use super::ir::{AndGate, Circuit, FreeGate, Gate, GateClass};

impl Circuit {
    /// The AND depth of every wire: 0 for inputs and constants, the maximum over a
    /// free gate's inputs, and one more than that for an AND gate.
    pub fn and_depths(&self) -> Vec<u32> {
        let mut depth = vec![0u32; self.num_wires];
        for g in &self.gates {
            let d = g.inputs().map(|w| depth[w.index()]).max().unwrap_or(0);
            depth[g.out().index()] = match g {
                Gate::And { .. } => d + 1,
                _ => d,
            };
        }
        depth
    }

    /// The AND depth of the circuit: the largest AND depth of any output wire (gates
    /// that reach no output count too, so this is the maximum over all wires).
    pub fn and_depth(&self) -> usize {
        self.and_depths().into_iter().max().unwrap_or(0) as usize
    }

    /// Levelises the circuit by AND depth; see [`Schedule`].
    pub fn schedule(&self) -> Schedule {
        let depth = self.and_depths();
        let max = depth.iter().copied().max().unwrap_or(0) as usize;
        let mut free: Vec<Vec<FreeGate>> = vec![Vec::new(); max + 1];
        let mut ands: Vec<Vec<AndGate>> = vec![Vec::new(); max];
        for g in &self.gates {
            let d = depth[g.out().index()] as usize;
            match g.class() {
                GateClass::And(and) => ands[d - 1].push(and),
                GateClass::Free(f) => free[d].push(f),
            }
        }
        Schedule { free, ands }
    }
}

/// A circuit's gates grouped by AND depth.
///
/// With `D` the AND depth, the schedule is, in order: free gates of depth 0, the ANDs
/// of depth 1, free gates of depth 1, the ANDs of depth 2, ..., the ANDs of depth
/// `D`, free gates of depth `D` (the [`Schedule::tail`]). Within a group, gates keep
/// their circuit order. Every AND gate of layer `k` (0-based, depth `k + 1`) reads
/// only wires assigned before the layer starts, so a protocol can evaluate all of
/// them at once: GMW runs one round per layer for the whole batch.
///
/// ```text
/// for layer in schedule.layers() {
///     for g in layer.free_before { /* local */ }
///     /* one round: open d = x ⊕ a, e = y ⊕ b for every gate of layer.ands */
/// }
/// for g in schedule.tail() { /* local */ }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    free: Vec<Vec<FreeGate>>,
    ands: Vec<Vec<AndGate>>,
}

/// One AND layer of a [`Schedule`] with the free gates that run before it.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    /// The 0-based layer index; its AND gates have AND depth `index + 1`.
    pub index: usize,
    /// Free gates to evaluate (in order) before this layer's ANDs.
    pub free_before: &'a [FreeGate],
    /// The AND gates of the layer, independent of each other.
    pub ands: &'a [AndGate],
}

impl Schedule {
    /// Number of AND layers, equal to the circuit's AND depth.
    pub fn and_depth(&self) -> usize {
        self.ands.len()
    }

    /// Layer `k` (0-based).
    ///
    /// # Panics
    /// If `k >= and_depth()`.
    pub fn layer(&self, k: usize) -> Layer<'_> {
        Layer {
            index: k,
            free_before: &self.free[k],
            ands: &self.ands[k],
        }
    }

    /// The AND layers in order, each with the free gates that precede it.
    pub fn layers(&self) -> impl ExactSizeIterator<Item = Layer<'_>> + '_ {
        (0..self.ands.len()).map(|k| self.layer(k))
    }

    /// Free gates after the last AND layer (all free gates if there is no AND).
    pub fn tail(&self) -> &[FreeGate] {
        &self.free[self.ands.len()]
    }

    /// Number of AND gates in each layer.
    pub fn and_layer_widths(&self) -> Vec<usize> {
        self.ands.iter().map(Vec::len).collect()
    }

    /// Total number of AND gates.
    pub fn num_and_gates(&self) -> usize {
        self.ands.iter().map(Vec::len).sum()
    }

    /// All gates in schedule order (a topological order of the circuit).
    pub fn gates(&self) -> impl Iterator<Item = Gate> + '_ {
        self.layers()
            .flat_map(|l| {
                l.free_before
                    .iter()
                    .map(|&g| Gate::from(g))
                    .chain(l.ands.iter().map(|&g| Gate::from(g)))
            })
            .chain(self.tail().iter().map(|&g| Gate::from(g)))
    }
}
