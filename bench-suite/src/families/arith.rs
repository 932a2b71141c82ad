//! Arithmetic sharing (A) over Z_2^64: Beaver multiplication, matrix product with a
//! shared weight (matrix Beaver triple), a dense layer with party 0's plaintext
//! weight, and truncation by 16 bits (dealer-assisted and SecureML local), each at
//! several sizes. Inputs are fresh uniform shares every repetition; the result
//! shares are added up and compared with the plaintext computation.

use ndarray::{ArrayD, Ix2, IxDyn};
use tessera_core::{Prg, Ring};
use tessera_protocols::{AShare, ArithParty, BilinearOp, Demand, TruncMode};

use super::FamilyContext;
use crate::error::{BenchError, Result};
use crate::scenario::{ELL, R, Scenario, Stopwatch, Workload};

/// Fractional bits of the truncation scenarios.
pub const TRUNC_BITS: u32 = 16;

/// Inputs of the truncation scenarios are below 2^40 in absolute value (a product of
/// two fixed-point values with 16 fractional bits and integer parts below 2^4).
const TRUNC_INPUT_BITS: u32 = 40;

/// An arithmetic operation and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// Element-wise `x ⊙ y` of `n` elements (one Beaver triple per element).
    Mul {
        /// Elements.
        n: usize,
    },
    /// `X · Y` of `m×k` and `k×n` shared matrices (one matrix triple).
    MatMul {
        /// Rows of `X`.
        m: usize,
        /// Inner dimension.
        k: usize,
        /// Columns of `Y`.
        n: usize,
    },
    /// A dense layer `X · W`, `X` shared `batch × inputs`, `W` party 0's plaintext
    /// `inputs × outputs` (its mask sent once in the set-up phase, untimed).
    Dense {
        /// Rows of `X`.
        batch: usize,
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
    },
    /// Truncation of `n` shared values by [`TRUNC_BITS`].
    Trunc {
        /// Elements.
        n: usize,
        /// Dealer-assisted or local.
        mode: TruncMode,
    },
}

/// The workload of one [`ArithOp`].
#[derive(Debug)]
pub struct ArithWork {
    op: ArithOp,
    demand: Demand,
    /// Mask index of the dense layer's weight.
    mask: usize,
}

impl ArithWork {
    /// The workload of `op`.
    pub fn new(op: ArithOp) -> Self {
        let mut d = Demand::new();
        let mut mask = 0;
        match op {
            ArithOp::Mul { n } => {
                d.mul(&[n]);
            }
            ArithOp::MatMul { m, k, n } => {
                d.matmul(&[m, k], &[k, n]);
            }
            ArithOp::Dense {
                batch,
                inputs,
                outputs,
            } => {
                mask = d.weight_mask(&[inputs, outputs]);
                d.plain_weight(
                    BilinearOp::MatMul,
                    mask,
                    &[batch, inputs],
                    &[inputs, outputs],
                );
            }
            ArithOp::Trunc { n, mode } => {
                if mode == TruncMode::Dealer {
                    d.trunc(TRUNC_BITS, &[n]);
                }
            }
        }
        ArithWork {
            op,
            demand: d,
            mask,
        }
    }

    fn shapes(&self) -> (Vec<usize>, Option<Vec<usize>>) {
        match self.op {
            ArithOp::Mul { n } => (vec![n], Some(vec![n])),
            ArithOp::MatMul { m, k, n } => (vec![m, k], Some(vec![k, n])),
            ArithOp::Dense {
                batch,
                inputs,
                outputs,
            } => (vec![batch, inputs], Some(vec![inputs, outputs])),
            ArithOp::Trunc { n, .. } => (vec![n], None),
        }
    }
}

/// One repetition's data: both parties' shares of `x` (and of `y`, or the plaintext
/// weight `W` for the dense layer).
#[derive(Debug)]
pub struct ArithInput {
    x: [ArrayD<R>; 2],
    y: Option<[ArrayD<R>; 2]>,
}

fn array(shape: &[usize], v: Vec<R>) -> Result<ArrayD<R>> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| BenchError::wrong(e.to_string()))
}

/// Uniform shares of `value`.
fn share(prg: &mut Prg, value: &ArrayD<R>) -> Result<[ArrayD<R>; 2]> {
    let s0 = array(value.shape(), R::random_vec(prg, value.len()))?;
    let s1 = value - &s0;
    Ok([s0, s1])
}

fn matmul(a: &ArrayD<R>, b: &ArrayD<R>) -> Result<ArrayD<R>> {
    let a2 = a
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|e| BenchError::wrong(e.to_string()))?;
    let b2 = b
        .view()
        .into_dimensionality::<Ix2>()
        .map_err(|e| BenchError::wrong(e.to_string()))?;
    Ok(a2.dot(&b2).into_dyn())
}

impl Workload for ArithWork {
    type Input = ArithInput;
    type Output = ArrayD<R>;

    fn demand(&self) -> Result<Demand> {
        Ok(self.demand.clone())
    }

    fn inputs(&self) -> Result<ArithInput> {
        let mut prg = Prg::from_entropy();
        let (xs, ys) = self.shapes();
        let x = match self.op {
            ArithOp::Trunc { n, .. } => {
                let bound = 1i64 << TRUNC_INPUT_BITS;
                let v = R::random_vec(&mut prg, n)
                    .into_iter()
                    .map(|r| R::from_i64(r.to_i64().rem_euclid(2 * bound) - bound))
                    .collect();
                array(&xs, v)?
            }
            _ => array(&xs, R::random_vec(&mut prg, xs.iter().product()))?,
        };
        let x = share(&mut prg, &x)?;
        let y = match (self.op, ys) {
            // The plaintext weight: party 0 holds all of it, party 1 nothing.
            (ArithOp::Dense { .. }, Some(ws)) => {
                let w = array(&ws, R::random_vec(&mut prg, ws.iter().product()))?;
                Some([w, ArrayD::zeros(IxDyn(&ws))])
            }
            (_, Some(ys)) => {
                let y = array(&ys, R::random_vec(&mut prg, ys.iter().product()))?;
                Some(share(&mut prg, &y)?)
            }
            (_, None) => None,
        };
        Ok(ArithInput { x, y })
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        input: &ArithInput,
        sw: &mut Stopwatch,
    ) -> Result<ArrayD<R>> {
        let i = p.party();
        let x = AShare::from_array(input.x[i].clone());
        let y = input.y.as_ref().map(|y| AShare::from_array(y[i].clone()));
        let missing = || BenchError::wrong("the operation has no second operand");
        let z = match self.op {
            ArithOp::Mul { .. } | ArithOp::MatMul { .. } => {
                let y = y.ok_or_else(missing)?;
                sw.start(p.channel_mut()).await?;
                let z = if matches!(self.op, ArithOp::Mul { .. }) {
                    p.mul(&x, &y).await?
                } else {
                    p.matmul(&x, &y).await?
                };
                sw.stop(p.channel());
                z
            }
            ArithOp::Dense {
                inputs, outputs, ..
            } => {
                let w = input.y.as_ref().ok_or_else(missing)?;
                let weight = (i == 0).then(|| w[0].clone());
                let pw = p
                    .setup_plain_weights(self.mask, &[inputs, outputs], weight)
                    .await?;
                sw.start(p.channel_mut()).await?;
                let z = p.plain_layer(BilinearOp::MatMul, &pw, &x).await?;
                sw.stop(p.channel());
                z
            }
            ArithOp::Trunc { mode, .. } => {
                sw.start(p.channel_mut()).await?;
                let z = p.trunc(&x, TRUNC_BITS, mode).await?;
                sw.stop(p.channel());
                z
            }
        };
        Ok(z.into_array())
    }

    fn verify(&self, input: &ArithInput, [z0, z1]: [ArrayD<R>; 2]) -> Result<()> {
        let z = &z0 + &z1;
        let x = &input.x[0] + &input.x[1];
        let y = input.y.as_ref().map(|[a, b]| a + b);
        let missing = || BenchError::wrong("the operation has no second operand");
        let want = match self.op {
            ArithOp::Mul { .. } => &x * &y.ok_or_else(missing)?,
            ArithOp::MatMul { .. } | ArithOp::Dense { .. } => matmul(&x, &y.ok_or_else(missing)?)?,
            ArithOp::Trunc { mode, .. } => {
                // ⌊x/2^f⌋ + e, e ∈ {0, 1}; local truncation may also be off by
                // ∓2^(ℓ−f) with probability |x|/2^ℓ (< 2^-24 here), as documented
                // in tessera_protocols::arith::trunc.
                let wrap = R::from_u64(1u64 << (ELL as u32 - TRUNC_BITS));
                for (j, (xv, zv)) in x.iter().zip(z.iter()).enumerate() {
                    let floor = R::from_i64(xv.to_i64() >> TRUNC_BITS);
                    let e = *zv - floor;
                    let ok = e.to_u64() <= 1
                        || (mode == TruncMode::Local
                            && ((e - wrap).to_u64() <= 1 || (e + wrap).to_u64() <= 1));
                    if !ok {
                        return Err(BenchError::wrong(format!(
                            "element {j}: truncation of {} by {TRUNC_BITS} bits gave {}",
                            xv.to_i64(),
                            zv.to_i64()
                        )));
                    }
                }
                return Ok(());
            }
        };
        if z.shape() != want.shape() {
            return Err(BenchError::wrong(format!(
                "result shape {:?}, expected {:?}",
                z.shape(),
                want.shape()
            )));
        }
        match z.iter().zip(want.iter()).position(|(a, b)| a != b) {
            Some(j) => Err(BenchError::wrong(format!(
                "element {j} differs from the plaintext result"
            ))),
            None => Ok(()),
        }
    }
}

/// The family: every operation at each size; the smallest size of each is in the
/// quick subset.
///
/// # Errors
/// None (the signature of a [`super::Family`]).
pub fn scenarios(_: &FamilyContext) -> Result<Vec<Scenario>> {
    let mut v = Vec::new();
    for (n, quick) in [(1_000, true), (100_000, false), (1_000_000, false)] {
        v.push(
            Scenario::new("arith", "beaver-mul", ArithWork::new(ArithOp::Mul { n }))
                .param("n", n)
                .quick(quick),
        );
    }
    // A SecureML-MLP-sized layer (784 → 128) for one input and for a batch of 128.
    for (batch, quick) in [(1, true), (128, false)] {
        v.push(
            Scenario::new(
                "arith",
                "matmul",
                ArithWork::new(ArithOp::MatMul {
                    m: batch,
                    k: 784,
                    n: 128,
                }),
            )
            .param("shape", format!("{batch}x784x128"))
            .quick(quick),
        );
        v.push(
            Scenario::new(
                "arith",
                "dense-plain-weights",
                ArithWork::new(ArithOp::Dense {
                    batch,
                    inputs: 784,
                    outputs: 128,
                }),
            )
            .param("shape", format!("{batch}x784x128"))
            .quick(quick),
        );
    }
    for (mode, name) in [
        (TruncMode::Dealer, "trunc-dealer"),
        (TruncMode::Local, "trunc-local"),
    ] {
        for (n, quick) in [(1_000, true), (100_000, false), (1_000_000, false)] {
            v.push(
                Scenario::new("arith", name, ArithWork::new(ArithOp::Trunc { n, mode }))
                    .param("n", n)
                    .quick(quick),
            );
        }
    }
    Ok(v)
}
