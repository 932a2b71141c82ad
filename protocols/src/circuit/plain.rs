//! The plaintext interpreter: bit-sliced evaluation of a batch, the test oracle of
//! every protocol that runs a [`Circuit`].

use tessera_core::BitMatrix;
use tessera_core::bits::words_for;

use super::ir::{Circuit, Gate};
use super::values;
use crate::{Error, Result};

impl Circuit {
    fn check_input_count(&self, given: usize) -> Result<()> {
        if given == self.num_inputs() {
            return Ok(());
        }
        Err(Error::Shape {
            op: "circuit evaluation",
            detail: format!(
                "the circuit has {} inputs, {given} given",
                self.num_inputs()
            ),
        })
    }

    /// Evaluates the circuit on a batch of `n` instances at once.
    ///
    /// `inputs[i]` holds input value `i` bit-sliced (see [`values`]): one row per bit,
    /// one column per instance. Each wire is a packed vector of `n` bits, so one gate
    /// costs `⌈n/64⌉` word operations. The batch size is the column count of the
    /// inputs; a circuit without inputs is evaluated once (`n = 1`). Returns each
    /// output value in the same layout.
    ///
    /// # Errors
    /// [`Error::Shape`] if the number of inputs, a row count (width) or a column count
    /// (batch size) does not fit.
    pub fn eval(&self, inputs: &[BitMatrix]) -> Result<Vec<BitMatrix>> {
        self.check_input_count(inputs.len())?;
        let n = inputs.first().map_or(1, BitMatrix::cols);
        for (i, (m, &w)) in inputs.iter().zip(&self.input_widths).enumerate() {
            if m.rows() != w || m.cols() != n {
                return Err(Error::Shape {
                    op: "circuit evaluation",
                    detail: format!(
                        "input {i} is {}x{} (bits x instances), expected {w}x{n}",
                        m.rows(),
                        m.cols()
                    ),
                });
            }
        }
        let nw = words_for(n);
        let mut s = vec![0u64; self.num_wires * nw];
        let mut off = 0;
        for m in inputs {
            let len = m.as_words().len();
            s[off..off + len].copy_from_slice(m.as_words());
            off += len;
        }
        for g in &self.gates {
            let o = g.out().index() * nw;
            match *g {
                Gate::Xor { a, b, .. } => {
                    let (a, b) = (a.index() * nw, b.index() * nw);
                    for k in 0..nw {
                        s[o + k] = s[a + k] ^ s[b + k];
                    }
                }
                Gate::And { a, b, .. } => {
                    let (a, b) = (a.index() * nw, b.index() * nw);
                    for k in 0..nw {
                        s[o + k] = s[a + k] & s[b + k];
                    }
                }
                Gate::Inv { a, .. } => {
                    let a = a.index() * nw;
                    for k in 0..nw {
                        s[o + k] = !s[a + k];
                    }
                }
                Gate::Copy { a, .. } => {
                    let a = a.index() * nw;
                    s.copy_within(a..a + nw, o);
                }
                Gate::Const { value, .. } => {
                    s[o..o + nw].fill(if value { !0 } else { 0 });
                }
            }
        }
        // INV and constants set bits past `n` in the last word; clear them on output.
        let tail = if n.is_multiple_of(64) {
            !0
        } else {
            (1u64 << (n % 64)) - 1
        };
        Ok(self
            .outputs
            .iter()
            .map(|out| {
                let mut m = BitMatrix::zeros(out.len(), n);
                for (r, w) in out.iter().enumerate() {
                    let row = m.row_mut(r);
                    row.copy_from_slice(&s[w.index() * nw..(w.index() + 1) * nw]);
                    if let Some(last) = row.last_mut() {
                        *last &= tail;
                    }
                }
                m
            })
            .collect())
    }

    /// Evaluates a batch given as integers: `inputs[i][j]` is input value `i` of
    /// instance `j` (all inputs hold the same number of instances). Returns
    /// `outputs[o][j]`.
    ///
    /// # Errors
    /// [`Error::InvalidValue`] if an input or output is wider than 64 bits or a value
    /// does not fit its width; [`Error::Shape`] as for [`Circuit::eval`].
    pub fn eval_u64(&self, inputs: &[&[u64]]) -> Result<Vec<Vec<u64>>> {
        self.check_input_count(inputs.len())?;
        let ins = inputs
            .iter()
            .zip(&self.input_widths)
            .map(|(v, &w)| values::from_u64(v, w))
            .collect::<Result<Vec<_>>>()?;
        self.eval(&ins)?.iter().map(values::to_u64).collect()
    }

    /// Evaluates a batch given as big-endian byte strings (the Bristol Fashion bit
    /// order; see [`values`]): `inputs[i][j]` is input value `i` of instance `j`.
    /// Returns `outputs[o][j]` in the same encoding.
    ///
    /// # Errors
    /// As for [`values::from_bytes`] and [`Circuit::eval`].
    pub fn eval_bytes<B: AsRef<[u8]>>(&self, inputs: &[&[B]]) -> Result<Vec<Vec<Vec<u8>>>> {
        self.check_input_count(inputs.len())?;
        let ins = inputs
            .iter()
            .zip(&self.input_widths)
            .map(|(v, &w)| values::from_bytes(v, w))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.eval(&ins)?.iter().map(values::to_bytes).collect())
    }

    /// Evaluates a batch given as hex strings of big-endian byte strings, e.g. the
    /// AES-128 known answer:
    /// `aes.eval_hex(&[&[key], &[plaintext]])?[0][0] == ciphertext`.
    ///
    /// # Errors
    /// As for [`values::from_hex`] and [`Circuit::eval`].
    pub fn eval_hex<S: AsRef<str>>(&self, inputs: &[&[S]]) -> Result<Vec<Vec<String>>> {
        self.check_input_count(inputs.len())?;
        let ins = inputs
            .iter()
            .zip(&self.input_widths)
            .map(|(v, &w)| values::from_hex(v, w))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.eval(&ins)?.iter().map(values::to_hex).collect())
    }
}
