//! Bristol Fashion reader and writer.
//!
//! The format (Archer, Bogdanov, Lindell, Smart et al.'s "Bristol Fashion" MPC
//! circuits): line 1 `#gates #wires`; line 2 the number of input values and the
//! bit width of each; line 3 the same for outputs; then one gate a line,
//! `#in #out in-wires... out-wires... OP`. Input wires are numbered from 0 in input
//! order, the outputs are the last wires. Operations read: `XOR`, `AND`, `INV`, `EQ`
//! (`1 1 c w EQ` sets wire `w` to the constant bit `c`), `EQW` (`1 1 a w EQW` copies
//! wire `a`), and `MAND` (`2k k a1 b1 ... ak bk o1 ... ok MAND`, `k` ANDs of
//! consecutive input pairs), which becomes `k` [`Gate::And`]s. Blank lines are
//! ignored. The writer writes `XOR`, `AND`, `INV`, `EQ` and `EQW`.
//!
//! Nothing in a file is trusted: every malformation is an [`Error::Bristol`] naming
//! the 1-based line, and header counts never drive an allocation beyond
//! [`BristolLimits`].

use std::fmt::Write as _;
use std::path::Path;

use super::ir::{Circuit, Gate, Site, Wire, validate};
use crate::{Error, Result};

/// Bounds on what the reader accepts, so that a header cannot make it allocate
/// gigabytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BristolLimits {
    /// Largest accepted `#wires` (never above `u32::MAX`).
    pub max_wires: usize,
    /// Largest accepted `#gates`.
    pub max_gates: usize,
}

impl Default for BristolLimits {
    /// 2^26 wires and gates, about 490 times the SHA-256 circuit. Reading then
    /// allocates at most 8 MiB before the gates themselves; evaluating such a circuit
    /// takes 8 bytes a wire for every 64 instances.
    fn default() -> Self {
        BristolLimits {
            max_wires: 1 << 26,
            max_gates: 1 << 26,
        }
    }
}

fn err(line: usize, reason: impl Into<String>) -> Error {
    Error::Bristol {
        line,
        reason: reason.into(),
    }
}

/// A token for an error message: lossy UTF-8, cut at 24 bytes.
fn show(tok: &[u8]) -> String {
    let cut = &tok[..tok.len().min(24)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if tok.len() > cut.len() {
        s.push('…');
    }
    s
}

fn num(tok: &[u8], line: usize, what: &str) -> Result<usize> {
    std::str::from_utf8(tok)
        .ok()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<usize>().ok())
        .ok_or_else(|| err(line, format!("expected {what}, found `{}`", show(tok))))
}

type SplitLines<'a> = std::slice::Split<'a, u8, fn(&u8) -> bool>;

/// Non-blank lines with their 1-based numbers, split into tokens.
struct Lines<'a> {
    iter: std::iter::Enumerate<SplitLines<'a>>,
    /// The number of the last non-blank line returned (0 before the first).
    last: usize,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Self {
        let newline: fn(&u8) -> bool = |&b| b == b'\n';
        Lines {
            iter: text.split(newline).enumerate(),
            last: 0,
        }
    }

    fn next_nonblank(&mut self) -> Option<(usize, Vec<&'a [u8]>)> {
        for (i, line) in self.iter.by_ref() {
            let toks: Vec<&[u8]> = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|t| !t.is_empty())
                .collect();
            if !toks.is_empty() {
                self.last = i + 1;
                return Some((i + 1, toks));
            }
        }
        None
    }

    /// Where a truncated file is reported: the line after the last non-blank one.
    fn eof_line(&self) -> usize {
        self.last + 1
    }

    /// The header line `what`: a count followed by that many widths, each at least 1,
    /// summing to at most `max`.
    fn widths(&mut self, what: &str, max: usize) -> Result<(usize, Vec<usize>)> {
        let (ln, t) = self
            .next_nonblank()
            .ok_or_else(|| err(self.eof_line(), format!("file ends before the {what} line")))?;
        let count = num(t[0], ln, &format!("the number of {what} values"))?;
        if t.len() - 1 != count {
            return Err(err(
                ln,
                format!(
                    "declares {count} {what} values but lists {} widths",
                    t.len() - 1
                ),
            ));
        }
        let mut widths = Vec::with_capacity(count);
        let mut sum = 0usize;
        for tok in &t[1..] {
            let w = num(tok, ln, &format!("an {what} width"))?;
            if w == 0 {
                return Err(err(ln, format!("an {what} value of width 0")));
            }
            sum = sum.saturating_add(w);
            if sum > max {
                return Err(err(
                    ln,
                    format!("{what} widths exceed the {max} wires of the circuit"),
                ));
            }
            widths.push(w);
        }
        Ok((ln, widths))
    }
}

/// Reads a Bristol Fashion circuit with the default [`BristolLimits`].
///
/// # Errors
/// [`Error::Bristol`] naming the line of the first problem: bad header counts,
/// non-numeric tokens, unknown operations, wrong arity, wires out of range, assigned
/// twice or read before assignment, too many or too few gates, a truncated file, or
/// sizes over the limits.
pub fn read(text: impl AsRef<[u8]>) -> Result<Circuit> {
    read_with_limits(text.as_ref(), BristolLimits::default())
}

/// Reads a Bristol Fashion file from disk with the default [`BristolLimits`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, otherwise as for [`read`].
pub fn read_file(path: impl AsRef<Path>) -> Result<Circuit> {
    let path = path.as_ref();
    let text = std::fs::read(path).map_err(|source| Error::Io {
        context: format!("reading the Bristol circuit {}", path.display()),
        source,
    })?;
    read(text)
}

/// Reads a Bristol Fashion circuit within `limits`.
///
/// # Errors
/// As for [`read`].
pub fn read_with_limits(text: &[u8], limits: BristolLimits) -> Result<Circuit> {
    let mut lines = Lines::new(text);
    let (l1, t) = lines
        .next_nonblank()
        .ok_or_else(|| err(1, "empty file: expected `#gates #wires`"))?;
    if t.len() != 2 {
        return Err(err(
            l1,
            format!("expected `#gates #wires`, found {} tokens", t.len()),
        ));
    }
    let ngates = num(t[0], l1, "the gate count")?;
    let nwires = num(t[1], l1, "the wire count")?;
    let max_wires = limits.max_wires.min(u32::MAX as usize);
    if nwires > max_wires {
        return Err(err(
            l1,
            format!("{nwires} wires exceed the limit of {max_wires}"),
        ));
    }
    if ngates > limits.max_gates {
        return Err(err(
            l1,
            format!("{ngates} gates exceed the limit of {}", limits.max_gates),
        ));
    }
    let (_, input_widths) = lines.widths("input", nwires)?;
    let (l3, output_widths) = lines.widths("output", nwires)?;
    let input_bits: usize = input_widths.iter().sum();

    let mut gates: Vec<Gate> = Vec::new();
    let mut gate_lines: Vec<usize> = Vec::new();
    let mut read_gates = 0usize;
    while let Some((ln, t)) = lines.next_nonblank() {
        if read_gates == ngates {
            return Err(err(
                ln,
                format!("more gates than the {ngates} the header declares"),
            ));
        }
        read_gates += 1;
        if t.len() < 3 {
            return Err(err(ln, "a gate needs `#in #out wires... OP`"));
        }
        let nin = num(t[0], ln, "the gate's input count")?;
        let nout = num(t[1], ln, "the gate's output count")?;
        let op = t[t.len() - 1];
        if nin.checked_add(nout).and_then(|x| x.checked_add(3)) != Some(t.len()) {
            return Err(err(
                ln,
                format!(
                    "a gate with {nin} inputs and {nout} outputs takes {} tokens, found {}",
                    nin.saturating_add(nout).saturating_add(3),
                    t.len()
                ),
            ));
        }
        let (ins, outs) = t[2..t.len() - 1].split_at(nin);
        let wire = |tok: &[u8]| -> Result<Wire> {
            let w = num(tok, ln, "a wire number")?;
            if w >= nwires {
                return Err(err(
                    ln,
                    format!("wire {w} out of range (the circuit has {nwires} wires)"),
                ));
            }
            Ok(Wire(w as u32))
        };
        let arity = |want_in: usize, want_out: usize| -> Result<()> {
            if (nin, nout) != (want_in, want_out) {
                return Err(err(
                    ln,
                    format!(
                        "{} takes {want_in} inputs and {want_out} outputs, found {nin} and {nout}",
                        show(op)
                    ),
                ));
            }
            Ok(())
        };
        let before = gates.len();
        match op {
            b"XOR" | b"AND" => {
                arity(2, 1)?;
                let (a, b, out) = (wire(ins[0])?, wire(ins[1])?, wire(outs[0])?);
                gates.push(if op == b"XOR" {
                    Gate::Xor { a, b, out }
                } else {
                    Gate::And { a, b, out }
                });
            }
            b"INV" => {
                arity(1, 1)?;
                gates.push(Gate::Inv {
                    a: wire(ins[0])?,
                    out: wire(outs[0])?,
                });
            }
            b"EQW" => {
                arity(1, 1)?;
                gates.push(Gate::Copy {
                    a: wire(ins[0])?,
                    out: wire(outs[0])?,
                });
            }
            b"EQ" => {
                arity(1, 1)?;
                let value = match ins[0] {
                    b"0" => false,
                    b"1" => true,
                    other => {
                        return Err(err(
                            ln,
                            format!("EQ takes the constant 0 or 1, found `{}`", show(other)),
                        ));
                    }
                };
                gates.push(Gate::Const {
                    value,
                    out: wire(outs[0])?,
                });
            }
            b"MAND" => {
                if nout == 0 || nin != 2 * nout {
                    return Err(err(
                        ln,
                        format!("MAND takes 2k inputs and k ≥ 1 outputs, found {nin} and {nout}"),
                    ));
                }
                for (pair, out) in ins.chunks_exact(2).zip(outs) {
                    gates.push(Gate::And {
                        a: wire(pair[0])?,
                        b: wire(pair[1])?,
                        out: wire(out)?,
                    });
                }
            }
            _ => return Err(err(ln, format!("unknown operation `{}`", show(op)))),
        }
        gate_lines.resize(gates.len(), ln);
        if input_bits + gates.len() > nwires {
            return Err(err(
                ln,
                format!(
                    "gate {} assigns more wires than the {nwires} the header declares",
                    before
                ),
            ));
        }
    }
    if read_gates < ngates {
        return Err(err(
            lines.eof_line(),
            format!("file ends after {read_gates} of the {ngates} gates the header declares"),
        ));
    }
    let output_bits: usize = output_widths.iter().sum();
    let mut outputs = Vec::with_capacity(output_widths.len());
    let mut next = nwires - output_bits;
    for w in output_widths {
        outputs.push((next..next + w).map(|i| Wire(i as u32)).collect());
        next += w;
    }
    validate(nwires, &input_widths, &gates, &outputs).map_err(|v| {
        let line = match v.site {
            Site::Header => l1,
            Site::Gate(g) => gate_lines[g],
            Site::Output(_) => l3,
        };
        err(line, v.reason)
    })?;
    Ok(Circuit {
        num_wires: nwires,
        input_widths,
        gates,
        outputs,
    })
}

/// Writes `circuit` in Bristol Fashion. A circuit not in Bristol layout is written as
/// [`Circuit::to_bristol_layout`], so that the file always reads back (with [`read`])
/// to a circuit equal to `circuit.to_bristol_layout()`, which is `circuit` itself for
/// every circuit from the reader or the [`super::Builder`].
pub fn to_string(circuit: &Circuit) -> String {
    let laid;
    let c = if circuit.is_bristol_layout() {
        circuit
    } else {
        laid = circuit.to_bristol_layout();
        &laid
    };
    let mut s = String::with_capacity(24 * c.gates.len() + 64);
    // Writing to a String cannot fail.
    let _ = writeln!(s, "{} {}", c.gates.len(), c.num_wires);
    let _ = write!(s, "{}", c.input_widths.len());
    for w in &c.input_widths {
        let _ = write!(s, " {w}");
    }
    let _ = write!(s, "\n{}", c.outputs.len());
    for o in &c.outputs {
        let _ = write!(s, " {}", o.len());
    }
    s.push_str("\n\n");
    for g in &c.gates {
        let _ = match *g {
            Gate::Xor { a, b, out } => writeln!(s, "2 1 {} {} {} XOR", a.0, b.0, out.0),
            Gate::And { a, b, out } => writeln!(s, "2 1 {} {} {} AND", a.0, b.0, out.0),
            Gate::Inv { a, out } => writeln!(s, "1 1 {} {} INV", a.0, out.0),
            Gate::Copy { a, out } => writeln!(s, "1 1 {} {} EQW", a.0, out.0),
            Gate::Const { value, out } => writeln!(s, "1 1 {} {} EQ", u8::from(value), out.0),
        };
    }
    s
}

/// Writes `circuit` in Bristol Fashion to `w`; see [`to_string`].
///
/// # Errors
/// [`Error::Io`] if writing fails.
pub fn write<W: std::io::Write>(circuit: &Circuit, mut w: W) -> Result<()> {
    w.write_all(to_string(circuit).as_bytes())
        .and_then(|()| w.flush())
        .map_err(|source| Error::Io {
            context: "writing a Bristol circuit".into(),
            source,
        })
}

impl Circuit {
    /// Reads a Bristol Fashion circuit; see [`read`].
    ///
    /// # Errors
    /// As for [`read`].
    pub fn from_bristol(text: impl AsRef<[u8]>) -> Result<Circuit> {
        read(text)
    }

    /// The circuit in Bristol Fashion; see [`to_string`].
    pub fn to_bristol(&self) -> String {
        to_string(self)
    }
}
