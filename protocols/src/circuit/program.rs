//! A circuit compiled for evaluation (GMW and Yao): its [`Schedule`](crate::circuit::Schedule) with wires renumbered to reusable
//! storage slots, so that a party's wire store holds only the wires that are live at
//! once (for AES-128, 960 slots for its 36,919 wires) and stays in cache for large
//! batches.
//!
//! Slots are assigned in schedule order. Input values take slots `0..input_bits` (in
//! the circuit's layout). A free gate releases the slots of inputs it reads for the
//! last time, then takes a slot for its output, possibly one it just released (the
//! word loops read a word before they write it). An AND layer is treated as one step:
//! all of its outputs take slots first, and only then are the slots of the wires it
//! reads for the last time released, because [`crate::gmw::and_close`] (and Yao's half-gates) reads every
//! gate's inputs again. Output wires are never released; a gate output nobody reads
//! is released right after it is written.

use crate::circuit::{AndGate, Circuit, FreeGate, Wire};

/// A circuit's AND layers and free gates over storage slots. `Debug` prints a summary.
///
/// Cloning is cheap (the compiled body is shared), so a program compiled once can be
/// handed to worker threads of every run that evaluates it.
#[derive(Clone, PartialEq, Eq)]
pub struct Program(std::sync::Arc<Body>);

#[derive(PartialEq, Eq)]
struct Body {
    slots: usize,
    and_gates: usize,
    input_widths: Vec<usize>,
    layers: Vec<(Vec<FreeGate>, Vec<AndGate>)>,
    tail: Vec<FreeGate>,
    outputs: Vec<Vec<Wire>>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("slots", &self.0.slots)
            .field("input_widths", &self.0.input_widths)
            .field("and_layers", &self.0.layers.len())
            .finish_non_exhaustive()
    }
}

const NEVER: usize = usize::MAX - 1;
const FOREVER: usize = usize::MAX;

struct Alloc {
    slot: Vec<u32>,
    last_use: Vec<usize>,
    released: Vec<bool>,
    free: Vec<u32>,
    next: u32,
}

impl Alloc {
    fn take(&mut self, w: Wire) -> Wire {
        let s = self.free.pop().unwrap_or_else(|| {
            self.next += 1;
            self.next - 1
        });
        self.slot[w.index()] = s;
        Wire(s)
    }

    fn map(&self, w: Wire) -> Wire {
        Wire(self.slot[w.index()])
    }

    /// Releases `w`'s slot if `pos` is its last use (once).
    fn release_if_last(&mut self, w: Wire, pos: usize) {
        let i = w.index();
        if self.last_use[i] == pos && !self.released[i] {
            self.released[i] = true;
            self.free.push(self.slot[i]);
        }
    }
}

fn free_inputs(g: &FreeGate) -> [Option<Wire>; 2] {
    match *g {
        FreeGate::Xor { a, b, .. } => [Some(a), Some(b)],
        FreeGate::Inv { a, .. } | FreeGate::Copy { a, .. } => [Some(a), None],
        FreeGate::Const { .. } => [None, None],
    }
}

fn free_out(g: &FreeGate) -> Wire {
    match *g {
        FreeGate::Xor { out, .. }
        | FreeGate::Inv { out, .. }
        | FreeGate::Copy { out, .. }
        | FreeGate::Const { out, .. } => out,
    }
}

fn with_out(g: FreeGate, out: Wire) -> FreeGate {
    match g {
        FreeGate::Xor { a, b, .. } => FreeGate::Xor { a, b, out },
        FreeGate::Inv { a, .. } => FreeGate::Inv { a, out },
        FreeGate::Copy { a, .. } => FreeGate::Copy { a, out },
        FreeGate::Const { value, .. } => FreeGate::Const { value, out },
    }
}

/// One free gate: map its inputs, release those read for the last time, take a slot
/// for its output.
fn free_step(al: &mut Alloc, g: &FreeGate, pos: usize) -> FreeGate {
    let mapped = match *g {
        FreeGate::Xor { a, b, out } => FreeGate::Xor {
            a: al.map(a),
            b: al.map(b),
            out,
        },
        FreeGate::Inv { a, out } => FreeGate::Inv { a: al.map(a), out },
        FreeGate::Copy { a, out } => FreeGate::Copy { a: al.map(a), out },
        c @ FreeGate::Const { .. } => c,
    };
    for w in free_inputs(g).into_iter().flatten() {
        al.release_if_last(w, pos);
    }
    let out = free_out(g);
    let s = al.take(out);
    al.release_if_last(out, NEVER);
    with_out(mapped, s)
}

impl Program {
    /// Compiles `circuit` (levelised by [`Circuit::schedule`]).
    pub fn new(circuit: &Circuit) -> Program {
        let schedule = circuit.schedule();
        let nw = circuit.num_wires();
        // Positions: each free gate one step, each AND layer one step.
        let mut last_use = vec![NEVER; nw];
        let mut pos = 0usize;
        let mut read = |w: Wire, p: usize| last_use[w.index()] = p;
        for layer in schedule.layers() {
            for g in layer.free_before {
                for w in free_inputs(g).into_iter().flatten() {
                    read(w, pos);
                }
                pos += 1;
            }
            for g in layer.ands {
                read(g.a, pos);
                read(g.b, pos);
            }
            pos += 1;
        }
        for g in schedule.tail() {
            for w in free_inputs(g).into_iter().flatten() {
                read(w, pos);
            }
            pos += 1;
        }
        for w in circuit.outputs().iter().flatten() {
            last_use[w.index()] = FOREVER;
        }
        let input_bits = circuit.input_bits();
        let mut al = Alloc {
            slot: vec![u32::MAX; nw],
            last_use,
            released: vec![false; nw],
            free: Vec::new(),
            next: 0,
        };
        for w in 0..input_bits {
            al.take(Wire(w as u32));
        }
        // Inputs nobody reads are released at once (after they are written).
        for w in (0..input_bits).rev() {
            al.release_if_last(Wire(w as u32), NEVER);
        }
        let mut pos = 0usize;
        let mut layers = Vec::with_capacity(schedule.and_depth());
        for layer in schedule.layers() {
            let mut free = Vec::with_capacity(layer.free_before.len());
            for g in layer.free_before {
                free.push(free_step(&mut al, g, pos));
                pos += 1;
            }
            let ands: Vec<AndGate> = layer
                .ands
                .iter()
                .map(|g| {
                    let (a, b) = (al.map(g.a), al.map(g.b));
                    AndGate {
                        a,
                        b,
                        out: al.take(g.out),
                    }
                })
                .collect();
            for g in layer.ands {
                al.release_if_last(g.a, pos);
                al.release_if_last(g.b, pos);
            }
            for g in layer.ands {
                al.release_if_last(g.out, NEVER);
            }
            pos += 1;
            layers.push((free, ands));
        }
        let mut tail = Vec::with_capacity(schedule.tail().len());
        for g in schedule.tail() {
            tail.push(free_step(&mut al, g, pos));
            pos += 1;
        }
        let outputs = circuit
            .outputs()
            .iter()
            .map(|o| o.iter().map(|&w| al.map(w)).collect())
            .collect();
        Program(std::sync::Arc::new(Body {
            slots: al.next as usize,
            and_gates: layers.iter().map(|(_, ands)| ands.len()).sum(),
            input_widths: circuit.input_widths().to_vec(),
            layers,
            tail,
            outputs,
        }))
    }

    /// Storage slots (the wire store's size).
    pub fn slots(&self) -> usize {
        self.0.slots
    }

    /// Bytes of one party's wire store for `n` instances.
    pub fn store_bytes(&self, n: usize) -> usize {
        self.0.slots * n.div_ceil(64) * 8
    }

    /// AND gates per instance (the sum of the layers' widths).
    pub fn and_gates(&self) -> usize {
        self.0.and_gates
    }

    /// The input widths (input value `i` occupies the slots after those of values
    /// `0..i`).
    pub fn input_widths(&self) -> &[usize] {
        &self.0.input_widths
    }

    /// The AND layers, each with the free gates before it.
    pub fn layers(&self) -> &[(Vec<FreeGate>, Vec<AndGate>)] {
        &self.0.layers
    }

    /// Free gates after the last layer.
    pub fn tail(&self) -> &[FreeGate] {
        &self.0.tail
    }

    /// The slots of each output value.
    pub fn outputs(&self) -> &[Vec<Wire>] {
        &self.0.outputs
    }
}
