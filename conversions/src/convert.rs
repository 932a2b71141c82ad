//! The conversions, run by a [`Converter`] that holds one party's GMW and Yao state.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use ndarray::{ArrayD, IxDyn};
use tessera_core::{BitMatrix, BitVec, Block, Prg, Ring};
use tessera_protocols::RevealTo;
use tessera_protocols::circuit::{Builder, Circuit, Program, Variant};
use tessera_protocols::gmw::{BShare, Gmw};
use tessera_protocols::preprocessing::RandomOts;
use tessera_protocols::yao::{ActiveLabels, Evaluator, Garbler, ZeroLabels};
use tessera_protocols::{AShare, ArithParty};

use crate::{Error, Result};

/// A value in the Y sharing, as this party holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum YShare {
    /// Party 0's zero labels.
    Garbler(ZeroLabels),
    /// Party 1's active labels.
    Evaluator(ActiveLabels),
}

impl YShare {
    /// Bits per instance.
    pub fn width(&self) -> usize {
        match self {
            YShare::Garbler(z) => z.width(),
            YShare::Evaluator(a) => a.width(),
        }
    }

    /// Number of instances.
    pub fn instances(&self) -> usize {
        match self {
            YShare::Garbler(z) => z.instances(),
            YShare::Evaluator(a) => a.instances(),
        }
    }
}

/// The A2B variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum A2bVariant {
    /// A2Y then Y2B: constant rounds, 32 bytes per AND gate of a ripple adder.
    Yao,
    /// Both shares entered bit-wise into a depth-optimised GMW adder: log ℓ rounds.
    Gmw,
}

/// The B2A variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum B2aVariant {
    /// Dealer daBits: one round, one bit each way per bit.
    DaBits,
    /// Dealer random OTs, derandomised: two rounds, 2ℓ bits per bit from party 0.
    Ot,
}

enum YaoRole {
    Garbler(Box<Garbler>),
    Evaluator(Evaluator),
}

/// One party's conversion state: a GMW session and a Yao garbler (party 0) or
/// evaluator (party 1). The arithmetic context ([`ArithParty`]: channel and correlation
/// provider) is passed to each call, so the same party can interleave A operations
/// and conversions. Both parties call the same methods in the same order.
pub struct Converter {
    party: usize,
    gmw: Gmw,
    yao: YaoRole,
    rng: Prg,
}

/// The conversion circuits, compiled once per process ([`compiled`]): every layer of
/// every query of every session converts, and compiling a 64-bit adder costs more than
/// evaluating it on one value.
fn programs() -> &'static Mutex<HashMap<ConvCircuit, Arc<Program>>> {
    static PROGRAMS: OnceLock<Mutex<HashMap<ConvCircuit, Arc<Program>>>> = OnceLock::new();
    PROGRAMS.get_or_init(Default::default)
}

/// `which` compiled, from the process's cache or built now.
fn compiled(which: ConvCircuit) -> Result<Arc<Program>> {
    // A panic elsewhere while holding the lock leaves the map consistent (an insert
    // either happened or not): recover the guard rather than propagate the poison.
    let cached = programs()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&which)
        .cloned();
    if let Some(p) = cached {
        return Ok(p);
    }
    let circuit = match which {
        ConvCircuit::Adder(ell, v) => adder(ell, v)?,
        ConvCircuit::Subtractor(ell) => subtractor(ell)?,
    };
    let p = Arc::new(Program::new(&circuit));
    programs()
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(which, Arc::clone(&p));
    Ok(p)
}

/// The circuits conversions evaluate, by width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum ConvCircuit {
    Adder(usize, Variant),
    Subtractor(usize),
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("party", &self.party)
            .finish_non_exhaustive()
    }
}

/// An ℓ-bit adder (inputs: two ℓ-bit values; output their sum mod 2^ℓ).
pub(crate) fn adder(ell: usize, v: Variant) -> Result<Circuit> {
    let mut b = Builder::new();
    let (x, y) = (b.input(ell), b.input(ell));
    let s = b.add(&x, &y, v);
    b.output(&s);
    Ok(b.finish()?)
}

/// An ℓ-bit subtractor `x − y`.
pub(crate) fn subtractor(ell: usize) -> Result<Circuit> {
    let mut b = Builder::new();
    let (x, y) = (b.input(ell), b.input(ell));
    let s = b.sub(&x, &y, Variant::Size);
    b.output(&s);
    Ok(b.finish()?)
}

fn to_bits<R: Ring>(x: &AShare<R>) -> BitMatrix {
    let vals: Vec<u64> = x.array().iter().map(|v| v.to_u64()).collect();
    BitMatrix::from_values(&vals, R::BITS as usize)
}

fn from_bits<R: Ring>(m: &BitMatrix, shape: &[usize]) -> Result<AShare<R>> {
    let vals: Vec<R> = m.to_values().into_iter().map(R::from_u64).collect();
    let arr = ArrayD::from_shape_vec(IxDyn(shape), vals).map_err(|e| Error::Shape {
        op: "to arithmetic",
        detail: e.to_string(),
    })?;
    Ok(AShare::from_array(arr))
}

fn check_shape(op: &'static str, shape: &[usize], n: usize) -> Result<()> {
    if shape.iter().product::<usize>() != n {
        return Err(Error::Shape {
            op,
            detail: format!("shape {shape:?} does not hold {n} elements"),
        });
    }
    Ok(())
}

fn check_width<R: Ring>(op: &'static str, w: usize) -> Result<()> {
    if w != R::BITS as usize {
        return Err(Error::Shape {
            op,
            detail: format!("{w}-bit values, the ring has {} bits", R::BITS),
        });
    }
    Ok(())
}

fn wrong_role(op: &'static str) -> Error {
    Error::Shape {
        op,
        detail: "a Y share of the other party's role".into(),
    }
}

/// Checks that exactly the owner passes bits, of shape `width × n`.
fn check_owner<'a>(
    op: &'static str,
    party: usize,
    owner: usize,
    mine: Option<&'a BitMatrix>,
    width: usize,
    n: usize,
) -> Result<Option<&'a BitMatrix>> {
    match (owner == party, mine) {
        (true, Some(m)) if (m.rows(), m.cols()) == (width, n) => Ok(Some(m)),
        (false, None) if owner <= 1 => Ok(None),
        (true, Some(m)) => Err(Error::Shape {
            op,
            detail: format!("{}x{} bits for a {width}x{n} input", m.rows(), m.cols()),
        }),
        _ => Err(Error::Shape {
            op,
            detail: format!("party {party} and owner {owner}: only the owner passes bits"),
        }),
    }
}

/// The low ℓ bits of an OT string, as a one-time pad in the ring.
fn pad<R: Ring>(b: Block) -> R {
    R::from_u64(b.0 as u64)
}

impl Converter {
    /// Party `party`'s converter (party 0 garbles).
    ///
    /// # Errors
    /// If `party` is not 0 or 1.
    pub fn new(party: usize) -> Result<Self> {
        let gmw = Gmw::new(party)?;
        let yao = if party == 0 {
            YaoRole::Garbler(Box::new(Garbler::new()))
        } else {
            YaoRole::Evaluator(Evaluator::new())
        };
        Ok(Converter {
            party,
            gmw,
            yao,
            rng: Prg::from_entropy(),
        })
    }

    /// This party's index.
    pub fn party(&self) -> usize {
        self.party
    }

    /// The GMW session (for B operations between conversions).
    pub fn gmw_mut(&mut self) -> &mut Gmw {
        &mut self.gmw
    }

    /// Inputs both parties' ℓ-bit values into a garbled circuit — the evaluator's
    /// through `ℓ·n` dealer OTs first (one round), then the garbler's — and evaluates
    /// `circuit` (two ℓ-bit inputs: garbler's, evaluator's).
    async fn garble_both<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        mine: &BitMatrix,
        program: &Program,
    ) -> Result<YShare> {
        let (w, n) = (mine.rows(), mine.cols());
        let (ch, provider) = p.parts_mut();
        let rots = provider.take_random_ots(w * n, 0)?;
        Ok(match &mut self.yao {
            YaoRole::Garbler(g) => {
                let peer = g.input_from_evaluator(ch, w, n, rots).await?;
                let own = g.input(ch, mine).await?;
                let mut out = g.eval_program(ch, program, &[&own, &peer]).await?;
                YShare::Garbler(out.remove(0))
            }
            YaoRole::Evaluator(e) => {
                let own = e.input(ch, mine, rots).await?;
                let peer = e.input_from_garbler(ch, w, n).await?;
                let mut out = e.eval_program(ch, program, &[&peer, &own]).await?;
                YShare::Evaluator(out.remove(0))
            }
        })
    }

    /// A2Y: both arithmetic shares enter the garbled circuit and a ripple-carry adder
    /// adds them inside (ℓ−1 AND gates per element; two rounds).
    ///
    /// # Errors
    /// Transport or preprocessing errors.
    pub async fn a2y<R: Ring>(&mut self, p: &mut ArithParty<R>, x: &AShare<R>) -> Result<YShare> {
        let program = compiled(ConvCircuit::Adder(R::BITS as usize, Variant::Size))?;
        self.garble_both(p, &to_bits(x), &program).await
    }

    /// Y2A: the garbler draws a random mask `r` (its arithmetic share), the circuit
    /// computes `v − r` and decodes it to the evaluator (its share). One round.
    ///
    /// # Errors
    /// If `y` is not ℓ bits wide or `shape` does not fit; transport errors.
    pub async fn y2a<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        y: &YShare,
        shape: &[usize],
    ) -> Result<AShare<R>> {
        let (w, n) = (y.width(), y.instances());
        check_width::<R>("y2a", w)?;
        check_shape("y2a", shape, n)?;
        let program = compiled(ConvCircuit::Subtractor(w))?;
        let ch = p.channel_mut();
        match (&mut self.yao, y) {
            (YaoRole::Garbler(g), YShare::Garbler(v)) => {
                let r = R::random_vec(&mut self.rng, n);
                let rs =
                    AShare::from_array(ArrayD::from_shape_vec(IxDyn(shape), r).map_err(|e| {
                        Error::Shape {
                            op: "y2a",
                            detail: e.to_string(),
                        }
                    })?);
                let rl = g.input(ch, &to_bits(&rs)).await?;
                let out = g.eval_program(ch, &program, &[v, &rl]).await?;
                g.reveal(ch, &out[0], RevealTo::Party1).await?;
                Ok(rs)
            }
            (YaoRole::Evaluator(e), YShare::Evaluator(v)) => {
                let rl = e.input_from_garbler(ch, w, n).await?;
                let out = e.eval_program(ch, &program, &[v, &rl]).await?;
                let bits = e
                    .reveal(ch, &out[0], RevealTo::Party1)
                    .await?
                    .ok_or_else(|| Error::Shape {
                        op: "y2a",
                        detail: "the evaluator did not receive its share".into(),
                    })?;
                from_bits(&bits, shape)
            }
            _ => Err(Error::Shape {
                op: "y2a",
                detail: "a Y share of the other party's role".into(),
            }),
        }
    }

    /// Y2B: local — each party's XOR share is the least significant bit of its labels
    /// (the garbler's permute bits; the evaluator's masked values).
    pub fn y2b(&self, y: &YShare) -> BShare {
        BShare::from_matrix(match y {
            YShare::Garbler(z) => z.lsb_matrix(),
            YShare::Evaluator(a) => a.lsb_matrix(),
        })
    }

    /// B2Y: the garbler's share becomes its input labels, the evaluator's share enters
    /// through `width·n` dealer OTs, and the labels are XORed (free). Two rounds.
    ///
    /// # Errors
    /// Transport or preprocessing errors.
    pub async fn b2y<R: Ring>(&mut self, p: &mut ArithParty<R>, b: &BShare) -> Result<YShare> {
        let (w, n) = (b.width(), b.batch());
        let (ch, provider) = p.parts_mut();
        let rots = provider.take_random_ots(w * n, 0)?;
        Ok(match &mut self.yao {
            YaoRole::Garbler(g) => {
                let peer = g.input_from_evaluator(ch, w, n, rots).await?;
                let own = g.input(ch, b.matrix()).await?;
                YShare::Garbler(own.xor(&peer)?)
            }
            YaoRole::Evaluator(e) => {
                let own = e.input(ch, b.matrix(), rots).await?;
                let peer = e.input_from_garbler(ch, w, n).await?;
                YShare::Evaluator(peer.xor(&own)?)
            }
        })
    }

    /// A2B in the chosen variant.
    ///
    /// # Errors
    /// Transport or preprocessing errors.
    pub async fn a2b<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        x: &AShare<R>,
        variant: A2bVariant,
    ) -> Result<BShare> {
        match variant {
            A2bVariant::Yao => {
                let y = self.a2y(p, x).await?;
                Ok(self.y2b(&y))
            }
            A2bVariant::Gmw => {
                // Each arithmetic share is already a B sharing of itself (the other party
                // holds zeros); a depth-optimised adder in GMW adds them.
                let (ell, n) = (R::BITS as usize, x.len());
                let mine = BShare::from_matrix(to_bits(x));
                let zero = BShare::zeros(ell, n);
                let inputs = if self.party == 0 {
                    [&mine, &zero]
                } else {
                    [&zero, &mine]
                };
                let program = compiled(ConvCircuit::Adder(ell, Variant::Depth))?;
                let (ch, provider) = p.parts_mut();
                let mut out = self
                    .gmw
                    .eval_program(ch, provider, &program, &inputs)
                    .await?;
                Ok(out.remove(0))
            }
        }
    }

    /// B2A in the chosen variant; `shape` is the arithmetic shape of the `n` values of
    /// `w ≤ ℓ` bits each (`Σ 2ⁱ bᵢ`; `w = 1` turns a shared bit into a 0/1 share).
    /// By daBits: open `c = b ⊕ r` for a daBit `r` (one exchange), then
    /// [`dabits_close`].
    ///
    /// # Errors
    /// If `b` is empty or wider than ℓ bits, or `shape` does not fit; transport or preprocessing
    /// errors.
    pub async fn b2a<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        b: &BShare,
        shape: &[usize],
        variant: B2aVariant,
    ) -> Result<AShare<R>> {
        let (w, n) = (b.width(), b.batch());
        // Narrower values (a single bit: a comparison's result) convert as the
        // same sum of their bits, with one correlation per bit.
        if w == 0 || w > R::BITS as usize {
            check_width::<R>("b2a", w)?;
        }
        check_shape("b2a", shape, n)?;
        let party = self.party;
        let bits = b.matrix().to_flat();
        let (ch, provider) = p.parts_mut();
        let mut out = vec![R::zero(); n];
        match variant {
            B2aVariant::DaBits => {
                // Open c = b ⊕ r for a daBit r (one exchange), then
                // [b]ᴬ = c + [r]ᴬ − 2c[r]ᴬ and x = Σ 2ⁱ [bᵢ]ᴬ.
                let d = provider.take_dabits(w * n)?;
                let mut masked = bits;
                masked.xor_assign(&d.boolean);
                let theirs = ch.exchange_pod(masked.words().to_vec()).await?;
                let mut c = BitVec::from_words(w * n, theirs)?;
                c.xor_assign(&masked);
                dabits_close(party, &c, &d.arith, w, &mut out);
            }
            B2aVariant::Ot => {
                // Per bit i: party 0 (OT sender) draws s and offers m_c = (b₀ ⊕ c)2ⁱ − s;
                // party 1 chooses c = b₁ and learns (b₀ ⊕ b₁)2ⁱ − s.
                let rots = provider.take_random_ots(w * n, 0)?;
                match rots {
                    RandomOts::Sender { m0, m1 } => {
                        let e = BitVec::from_words(
                            w * n,
                            ch.recv_words(tessera_core::bits::words_for(w * n)).await?,
                        )?;
                        let s = R::random_vec(&mut self.rng, w * n);
                        let mut reply = Vec::with_capacity(2 * w * n);
                        for j in 0..w * n {
                            let (i, inst) = (j / n, j % n);
                            let pow = R::from_u64(1u64 << i);
                            let b0 = bits.get(j);
                            let m = |c: bool| if b0 ^ c { pow - s[j] } else { -s[j] };
                            let (p0, p1) = if e.get(j) {
                                (m1[j], m0[j])
                            } else {
                                (m0[j], m1[j])
                            };
                            reply.push(m(false) + pad::<R>(p0));
                            reply.push(m(true) + pad::<R>(p1));
                            out[inst] += s[j];
                        }
                        ch.send_ring(reply).await?;
                    }
                    RandomOts::Receiver { choices, chosen } => {
                        let mut e = bits.clone();
                        e.xor_assign(&choices);
                        ch.send_words(e.into_words()).await?;
                        let y: Vec<R> = ch.recv_ring(2 * w * n).await?;
                        for j in 0..w * n {
                            let inst = j % n;
                            out[inst] += y[2 * j + usize::from(bits.get(j))] - pad::<R>(chosen[j]);
                        }
                    }
                }
            }
        }
        let arr = ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| Error::Shape {
            op: "b2a",
            detail: e.to_string(),
        })?;
        Ok(AShare::from_array(arr))
    }

    /// Inputs `width × n` bits owned by party `owner` into the Y sharing: the
    /// garbler's (owner 0) as labels sent directly, the evaluator's (owner 1) through
    /// `width·n` dealer random OTs. The owner passes `Some(bits)`, the other `None`.
    ///
    /// # Errors
    /// If the owner passes no bits (or the other party some), preprocessing or
    /// transport errors.
    pub async fn input_y<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        owner: usize,
        mine: Option<&BitMatrix>,
        width: usize,
        n: usize,
    ) -> Result<YShare> {
        let mine = check_owner("Y input", self.party, owner, mine, width, n)?;
        let (ch, provider) = p.parts_mut();
        Ok(match (&mut self.yao, owner) {
            (YaoRole::Garbler(g), 0) => {
                let bits = mine.ok_or_else(|| Error::Shape {
                    op: "Y input",
                    detail: "the owner has no bits".into(),
                })?;
                YShare::Garbler(g.input(ch, bits).await?)
            }
            (YaoRole::Evaluator(e), 0) => {
                YShare::Evaluator(e.input_from_garbler(ch, width, n).await?)
            }
            (YaoRole::Garbler(g), _) => {
                let rots = provider.take_random_ots(width * n, 0)?;
                YShare::Garbler(g.input_from_evaluator(ch, width, n, rots).await?)
            }
            (YaoRole::Evaluator(e), _) => {
                let rots = provider.take_random_ots(width * n, 0)?;
                let bits = mine.ok_or_else(|| Error::Shape {
                    op: "Y input",
                    detail: "the owner has no bits".into(),
                })?;
                YShare::Evaluator(e.input(ch, bits, rots).await?)
            }
        })
    }

    /// Evaluates a compiled circuit in the Y sharing on garbled inputs (party 0 garbles and
    /// streams the tables, party 1 evaluates); outputs stay garbled.
    ///
    /// # Errors
    /// If an input belongs to the other role or does not fit; transport errors.
    pub async fn eval_y<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        program: &Program,
        inputs: &[&YShare],
    ) -> Result<Vec<YShare>> {
        let ch = p.channel_mut();
        match &mut self.yao {
            YaoRole::Garbler(g) => {
                let ins = inputs
                    .iter()
                    .map(|y| match y {
                        YShare::Garbler(z) => Ok(z),
                        YShare::Evaluator(_) => Err(wrong_role("eval_y")),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let out = g.eval_program(ch, program, &ins).await?;
                Ok(out.into_iter().map(YShare::Garbler).collect())
            }
            YaoRole::Evaluator(e) => {
                let ins = inputs
                    .iter()
                    .map(|y| match y {
                        YShare::Evaluator(a) => Ok(a),
                        YShare::Garbler(_) => Err(wrong_role("eval_y")),
                    })
                    .collect::<Result<Vec<_>>>()?;
                let out = e.eval_program(ch, program, &ins).await?;
                Ok(out.into_iter().map(YShare::Evaluator).collect())
            }
        }
    }

    /// Reveals a Y value to `to`; the learning party gets `Some(bits)`.
    ///
    /// # Errors
    /// If the value belongs to the other role; transport errors.
    pub async fn reveal_y_to<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        y: &YShare,
        to: RevealTo,
    ) -> Result<Option<BitMatrix>> {
        let ch = p.channel_mut();
        Ok(match (&mut self.yao, y) {
            (YaoRole::Garbler(g), YShare::Garbler(v)) => g.reveal(ch, v, to).await?,
            (YaoRole::Evaluator(e), YShare::Evaluator(v)) => e.reveal(ch, v, to).await?,
            _ => return Err(wrong_role("reveal")),
        })
    }

    /// Inputs `width × n` bits owned by party `owner` into the B sharing (one seed
    /// message, see [`Gmw::input`]). The owner passes `Some(bits)`, the other `None`.
    ///
    /// # Errors
    /// If the owner passes no bits (or the other party some); transport errors.
    pub async fn input_b<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        owner: usize,
        mine: Option<&BitMatrix>,
        width: usize,
        n: usize,
    ) -> Result<BShare> {
        let mine = check_owner("B input", self.party, owner, mine, width, n)?;
        let given: Vec<&BitMatrix> = mine.into_iter().collect();
        let mut out = self
            .gmw
            .input(p.channel_mut(), &[width], &[owner], n, &given)
            .await?;
        Ok(out.remove(0))
    }

    /// Evaluates `circuit` in the B sharing (one exchange per AND layer).
    ///
    /// # Errors
    /// Shape, preprocessing and transport errors.
    pub async fn eval_b<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        circuit: &Circuit,
        inputs: &[&BShare],
    ) -> Result<Vec<BShare>> {
        self.eval_b_program(p, &Program::new(circuit), inputs).await
    }

    /// [`Converter::eval_b`] of a circuit compiled once by the caller.
    ///
    /// # Errors
    /// As [`Converter::eval_b`].
    pub async fn eval_b_program<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        program: &Program,
        inputs: &[&BShare],
    ) -> Result<Vec<BShare>> {
        let (ch, provider) = p.parts_mut();
        Ok(self.gmw.eval_program(ch, provider, program, inputs).await?)
    }

    /// [`Converter::eval_b_program`] in chunks of `chunk` instances
    /// ([`tessera_protocols::gmw::Gmw::eval_program_chunked`]).
    ///
    /// # Errors
    /// As [`Converter::eval_b_program`].
    pub async fn eval_b_program_chunked<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        program: &Program,
        inputs: &[&BShare],
        chunk: usize,
    ) -> Result<Vec<BShare>> {
        let (ch, provider) = p.parts_mut();
        Ok(self
            .gmw
            .eval_program_chunked(ch, provider, program, inputs, chunk)
            .await?)
    }

    /// Reveals a B value to `to`; the learning party gets `Some(bits)`.
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal_b_to<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        b: &BShare,
        to: RevealTo,
    ) -> Result<Option<BitMatrix>> {
        Ok(self
            .gmw
            .reveal(p.channel_mut(), &[b], to)
            .await?
            .map(|mut v| v.remove(0)))
    }

    /// Reveals a Y value to both parties (for tests and outputs).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal_y<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        y: &YShare,
    ) -> Result<BitMatrix> {
        let ch = p.channel_mut();
        let out = match (&mut self.yao, y) {
            (YaoRole::Garbler(g), YShare::Garbler(v)) => g.reveal(ch, v, RevealTo::Both).await?,
            (YaoRole::Evaluator(e), YShare::Evaluator(v)) => {
                e.reveal(ch, v, RevealTo::Both).await?
            }
            _ => {
                return Err(Error::Shape {
                    op: "reveal",
                    detail: "a Y share of the other party's role".into(),
                });
            }
        };
        out.ok_or_else(|| Error::Shape {
            op: "reveal",
            detail: "no output".into(),
        })
    }

    /// Reveals a B value to both parties (for tests and outputs).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal_b<R: Ring>(
        &mut self,
        p: &mut ArithParty<R>,
        b: &BShare,
    ) -> Result<BitMatrix> {
        let mut out = self
            .gmw
            .reveal(p.channel_mut(), &[b], RevealTo::Both)
            .await?
            .ok_or_else(|| Error::Shape {
                op: "reveal",
                detail: "no output".into(),
            })?;
        Ok(out.remove(0))
    }
}

/// The closing step of B2A by daBits, pure: from the opened bits `c = b ⊕ r` (`w` bits
/// of each of the `out.len()` instances, bit-major: bit `i` of instance `k` at
/// `i·n + k`) and this party's arithmetic shares of the daBits' `r` in the same order,
/// adds this party's share of `x = Σᵢ 2ⁱ·bᵢ` to `out`, with `[bᵢ]ᴬ = c + [r]ᴬ − 2c[r]ᴬ`.
/// Bit `i` of every instance, then the next bit, without a branch on the bits (they
/// are uniformly random: a branch mispredicts half the time) or a division per bit.
///
/// # Panics
/// If `c` or `arith` hold fewer than `w·out.len()` bits or shares (the caller sizes
/// them from the same `w` and `n`).
pub fn dabits_close<R: Ring>(party: usize, c: &BitVec, arith: &[R], w: usize, out: &mut [R]) {
    let n = out.len();
    // c + r − 2cr: party 0 adds the public c, party 1 does not.
    let one = if party == 0 { R::one() } else { R::zero() };
    let cw = c.words();
    for (i, rs) in arith.chunks_exact(n.max(1)).take(w).enumerate() {
        let pow = R::from_u64(1u64 << i);
        for (j, (&r, o)) in (i * n..).zip(rs.iter().zip(out.iter_mut())) {
            let bit = R::from_u64((cw[j / 64] >> (j % 64)) & 1);
            *o += (r + bit * (one - r - r)) * pow;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::{Z32, Z64};

    /// The two parties' closing steps add up to the values, for any opened mask.
    fn closing_recombines<R: Ring>(n: usize, seed: u128) {
        let w = R::BITS as usize;
        let mut prg = Prg::from_seed_block(Block(seed));
        let xs = R::random_vec(&mut prg, n);
        // Bit-major bits of the values, daBits (r as a bit and as shares), c = b ⊕ r.
        let b = BitVec::from_bools(
            &(0..w)
                .flat_map(|i| xs.iter().map(move |x| (x.to_u64() >> i) & 1 == 1))
                .collect::<Vec<_>>(),
        );
        let r = BitVec::random(&mut prg, w * n);
        let r0 = R::random_vec(&mut prg, w * n);
        let r1: Vec<R> = (0..w * n)
            .map(|j| R::from_u64(u64::from(r.get(j))) - r0[j])
            .collect();
        let mut c = b.clone();
        c.xor_assign(&r);
        let (mut y0, mut y1) = (vec![R::from_u64(0); n], vec![R::from_u64(0); n]);
        dabits_close(0, &c, &r0, w, &mut y0);
        dabits_close(1, &c, &r1, w, &mut y1);
        for k in 0..n {
            assert_eq!(y0[k] + y1[k], xs[k], "value {k} of {n}");
        }
    }

    #[test]
    fn dabits_closing_steps_recombine_to_the_values() {
        for (n, seed) in [(1, 1), (37, 2), (64, 3), (100, 4)] {
            closing_recombines::<Z64>(n, seed);
            closing_recombines::<Z32>(n, seed);
        }
    }
}
