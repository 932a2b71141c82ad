//! Private training in SecureML's setting: the training examples and the model are
//! secret-shared between the two parties (additively, in `Z_2^64`), and one SGD
//! iteration — forward pass, loss gradient, backward pass, update — is lowered to one
//! list of steps ([`TrainProgram`]) that three interpreters read:
//!
//! - [`plain`]: the fixed-point reference in the clear (the oracle of every test),
//! - [`TrainProgram::costs`]: the exact price of each step (bytes, rounds,
//!   correlations — the offline demand), which the planner times,
//! - [`secure`]: the two-party execution on shares.
//!
//! # The network and its arithmetic
//! A chain of dense layers `784 → … → C` with ReLU between them, and an output
//! activation whose loss gradient is `out − y`:
//! - **softmax with cross-entropy** (the MLP): `out` is [`tessera_models::ops::softmax`]'s
//!   fixed-point softmax, bit for bit the circuit the inference engine evaluates (a
//!   spline of `e^x` after subtracting the group's maximum, a restoring division);
//!   the gradient of `CE(softmax(z), y)` with respect to `z` is `softmax(z) − y`.
//! - **SecureML's piecewise sigmoid** (logistic regression, one-vs-rest over the `C`
//!   classes): `out = clamp(z + ½, 0, 1)`, and the gradient SecureML uses is `out − y`
//!   (that of the logistic loss with the approximation substituted).
//!
//! Values are fixed point with `f` fractional bits. A product of two shared tensors
//! is a Beaver product with a dealer matrix triple (one exchange), left at scale
//! `2^2f`, then truncated by the dealer pair (`⌊x/2^f⌋ + e`, `e ∈ {0, 1}` with
//! probability `(x mod 2^f)/2^f`, never failing for `|x| < 2^62`; see
//! [`tessera_protocols::arith::trunc`]): stochastic rounding, unbiased. The reference
//! rounds to nearest ([`plain`]): each truncation of a secure run differs from the
//! reference's by at most one unit in the last place, which later steps propagate (the
//! tests state their bounds).
//!
//! ReLU's derivative is the comparison bit of the forward pass, `[z ≥ 0]`, computed
//! once as a 0/1 arithmetic share and used twice: `relu(z) = z ⊙ bit` forward and
//! `δ ⊙ bit` backward (Beaver products of an integer, no truncation). The comparison
//! runs in B (GMW) or Y (Yao) — the plan's choice per layer — on the two parties'
//! shares entered as inputs: `¬msb(z₀ + z₁)` by one comparator over the low `ℓ − 1`
//! bits (`msb(a + b) = msb(a) ⊕ msb(b) ⊕ carry`, the carry `[¬a' < b']` over the low
//! bits), and the one-bit result returns to A by one daBit.
//!
//! The SGD update `θ ← θ − (η / B)·g` multiplies each pending gradient (scale `2^2f`)
//! by the public integer `c = round(η/B · 2^k)` and truncates by `f + k` bits, all
//! gradients in one exchange ([`TStep::Trunc`]); `k` is [`LR_BITS`].

use serde::{Deserialize, Serialize};
use tessera_core::{FixedPoint, Ring, Z64};
use tessera_models::Model;
use tessera_models::fixed::FixedModel;
use tessera_models::model::Head;
use tessera_models::ops::{Op, Softmax};
use tessera_protocols::Demand;
use tessera_protocols::arith::bilinear::BilinearOp;
use tessera_protocols::circuit::{Builder, Variant};
use tessera_protocols::gmw::DEFAULT_WORKING_SET;

use crate::circuits::{BoolLayer, Gather, argmax_layer};
use crate::cost::{
    StepCost, Work, bool_input_price, bool_layer_steps, free, op_steps, ring_bytes, route_steps,
};
use crate::{Conversion, Flight, Price, Sharing, default_route};
use crate::{Error, Result};

pub mod plain;
pub mod secure;
pub mod shared;

/// The ring of training (64 bits: products of two fixed-point values must stay below
/// `2^62` before truncation).
pub type R = Z64;

/// The extra bits of the learning-rate constant `c = round(η/B · 2^k)`.
pub const LR_BITS: u32 = 20;

/// The largest activation magnitude the static range check assumes (`2^ACT_BITS`);
/// the loss gradient `out − y` is below 2 in magnitude.
const ACT_BITS: u32 = 8;

/// A slot of the program: one shared tensor.
pub type Slot = usize;

/// The output activation and its loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    /// Softmax over the `C` outputs with the cross-entropy loss.
    SoftmaxCrossEntropy,
    /// SecureML's piecewise sigmoid per output with the logistic loss (one-vs-rest).
    #[serde(rename = "secureml-sigmoid")]
    SecureMlSigmoid,
}

/// What is trained: a chain of dense layers and the output activation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    /// The widths `[in, hidden…, C]`.
    pub dims: Vec<usize>,
    /// The output activation and loss.
    pub head: Objective,
    /// Examples per SGD iteration.
    pub batch: usize,
    /// The learning rate `η` (the step is `η` times the batch's mean gradient).
    pub lr: f64,
    /// The fixed-point fractional bits.
    pub frac_bits: u32,
    /// Heavy-ball momentum `μ` (0: plain SGD).
    #[serde(default)]
    pub momentum: f64,
    /// Convolutions before the dense layers, each followed by a ReLU and its pooling,
    /// each reading the previous one's output (the last one's, flattened, is `dims[0]`
    /// wide).
    #[serde(default)]
    pub convs: Vec<Conv>,
    /// The learning rate's factor per epoch (epoch `e` trains at `lr · decay^e`).
    #[serde(default = "one")]
    pub lr_decay: f64,
}

fn one() -> f64 {
    1.0
}

/// A 2-D convolution over `[c, h, w]` images: `out` kernels of `k × k`, stride
/// `stride`, `pad` zeros around each side. It is trained as a matrix product of the images'
/// patches (`[B·P, c·k·k]`, gathered locally from the shares) with the kernel
/// (`[c·k·k, out]`); its output is laid out position by position (`[B, P, out]`), and
/// so is the input of a convolution after another (`channels_last`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Conv {
    /// Input channels, height and width.
    pub input: [usize; 3],
    /// Kernels.
    pub out: usize,
    /// Kernel size.
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Average pooling after the ReLU: `pool × pool` windows of stride `pool` (1: none;
    /// a power of two, dividing the output's height and width).
    #[serde(default = "one_usize")]
    pub pool: usize,
    /// Max pooling instead of average pooling.
    #[serde(default)]
    pub max_pool: bool,
    /// The input is laid out `[h, w, c]` per image (the output of a convolution before
    /// this one), not `[c, h, w]` (the images).
    #[serde(default)]
    pub channels_last: bool,
    /// Zeros added on every side of the input (ONNX `pads` all equal).
    #[serde(default)]
    pub pad: usize,
}

fn one_usize() -> usize {
    1
}

impl Conv {
    /// Output height and width.
    pub fn out_hw(&self) -> [usize; 2] {
        let o = |n: usize| ((n + 2 * self.pad).saturating_sub(self.k)) / self.stride.max(1) + 1;
        [o(self.input[1]), o(self.input[2])]
    }

    /// Output positions per image.
    pub fn positions(&self) -> usize {
        let [h, w] = self.out_hw();
        h * w
    }

    /// The bits the average pooling divides by (`log2(pool²)`; 0 for max pooling).
    pub fn pool_bits(&self) -> u32 {
        if self.max_pool {
            0
        } else {
            2 * self.pool.max(1).trailing_zeros()
        }
    }

    /// Values the dense layer after the convolution reads per image (after pooling).
    pub fn outputs(&self) -> usize {
        self.positions() / (self.pool * self.pool).max(1) * self.out
    }

    /// The `[c, h, w]` of the output after pooling (what a next convolution reads).
    pub fn pooled_shape(&self) -> [usize; 3] {
        let [oh, ow] = self.out_hw();
        let p = self.pool.max(1);
        [self.out, oh / p, ow / p]
    }

    /// For `batch` images, each pooled output's window: `pool²` indices into the
    /// convolution's output (`[B, P, out]`, position-major), output after output in the
    /// order `[B, P / pool², out]`.
    pub fn pool_windows(&self, batch: usize) -> Vec<usize> {
        let [oh, ow] = self.out_hw();
        let p = self.pool.max(1);
        let (ph, pw) = (oh / p, ow / p);
        let mut out = Vec::with_capacity(batch * oh * ow * self.out);
        for b in 0..batch {
            for py in 0..ph {
                for px in 0..pw {
                    for c in 0..self.out {
                        for dy in 0..p {
                            for dx in 0..p {
                                let (y, x) = (py * p + dy, px * p + dx);
                                out.push(((b * oh + y) * ow + x) * self.out + c);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// The sums of each pooling window of `x` (the convolution's output over `batch`
    /// images): linear, so the reference and each party on its shares compute it alike.
    ///
    /// # Errors
    /// Too few values.
    pub fn sum_pool(&self, x: &[R], batch: usize) -> Result<Vec<R>> {
        let w = (self.pool * self.pool).max(1);
        self.pool_windows(batch)
            .chunks(w)
            .map(|win| {
                win.iter().try_fold(<R as Ring>::from_u64(0), |acc, &i| {
                    x.get(i).map(|&v| acc + v)
                })
            })
            .collect::<Option<Vec<R>>>()
            .ok_or_else(|| Error::shape("pooling", format!("{} values", x.len())))
    }

    /// Each pooled value `d` copied to its window's positions (the gradient of a sum
    /// pooling), `[B, P, out]`.
    ///
    /// # Errors
    /// `d` not one value per pooled output.
    pub fn upsample(&self, d: &[R], batch: usize) -> Result<Vec<R>> {
        let w = (self.pool * self.pool).max(1);
        let mut out = vec![<R as Ring>::from_u64(0); batch * self.positions() * self.out];
        let wins = self.pool_windows(batch);
        if wins.len() != d.len() * w {
            return Err(Error::shape(
                "pooling gradient",
                format!("{} values for {} windows", d.len(), wins.len() / w),
            ));
        }
        for (win, &v) in wins.chunks(w).zip(d) {
            for &i in win {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// Values per patch.
    pub fn patch(&self) -> usize {
        self.input[0] * self.k * self.k
    }

    /// The patches of `batch` images `x` (`[B, c, h, w]`, flat), in the order of
    /// [`Conv::patch_indices`]: what the reference gathers from values and each party
    /// from its shares (the gather is linear).
    ///
    /// # Errors
    /// Too few values for the images.
    pub fn gather<T: Copy + Default>(&self, x: &[T], batch: usize) -> Result<Vec<T>> {
        let n = batch * self.input.iter().product::<usize>();
        if x.len() != n {
            return Err(Error::shape(
                "training images",
                format!("{} values for {batch} images of {:?}", x.len(), self.input),
            ));
        }
        // The padding reads one zero past the input (a valid share of 0 at both parties).
        let mut ext = x.to_vec();
        ext.push(T::default());
        gather_at(&ext, &self.patch_indices(batch)).map_err(|_| {
            Error::shape(
                "training images",
                format!("{} values for {batch} images of {:?}", x.len(), self.input),
            )
        })
    }

    /// The patches' gradient `d` summed back onto the input (the transpose of
    /// [`Conv::gather`], col2im): `[B, c, h, w]` (or `[B, h, w, c]`), linear.
    ///
    /// # Errors
    /// `d` not one value per patch entry.
    pub fn scatter(&self, d: &[R], batch: usize) -> Result<Vec<R>> {
        let idx = self.patch_indices(batch);
        if d.len() != idx.len() {
            return Err(Error::shape(
                "patch gradient",
                format!("{} values for {} patch entries", d.len(), idx.len()),
            ));
        }
        // One slot past the input takes the padding's gradients, dropped.
        let n = batch * self.input.iter().product::<usize>();
        let mut out = vec![<R as Ring>::from_u64(0); n + 1];
        for (&i, &v) in idx.iter().zip(d) {
            out[i] += v;
        }
        out.truncate(n);
        Ok(out)
    }

    /// For `batch` images, the input index of each patch entry, patch after patch
    /// (image, output row, output column; entry order channel, kernel row, column); an
    /// entry in the padding gets the index one past the input (a zero).
    pub fn patch_indices(&self, batch: usize) -> Vec<usize> {
        let [c, h, w] = self.input;
        let [oh, ow] = self.out_hw();
        let zero = batch * c * h * w;
        let mut out = Vec::with_capacity(batch * oh * ow * self.patch());
        for b in 0..batch {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ci in 0..c {
                        for ky in 0..self.k {
                            for kx in 0..self.k {
                                let (y, x) = (oy * self.stride + ky, ox * self.stride + kx);
                                let (Some(y), Some(x)) =
                                    (y.checked_sub(self.pad), x.checked_sub(self.pad))
                                else {
                                    out.push(zero);
                                    continue;
                                };
                                if y >= h || x >= w {
                                    out.push(zero);
                                    continue;
                                }
                                out.push(if self.channels_last {
                                    ((b * h + y) * w + x) * c + ci
                                } else {
                                    ((b * c + ci) * h + y) * w + x
                                });
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// One trained layer as a matrix product: `rows` per example, `inp` → `out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Rows per example (a convolution's output positions, 1 for a dense layer).
    pub rows: usize,
    /// Input width (a convolution's patch).
    pub inp: usize,
    /// Output width (a convolution's kernels).
    pub out: usize,
}

impl TrainSpec {
    /// The MLP 784-128-128-10 with ReLU and softmax cross-entropy.
    pub fn mlp(batch: usize, lr: f64) -> Self {
        TrainSpec {
            dims: vec![784, 128, 128, 10],
            head: Objective::SoftmaxCrossEntropy,
            batch,
            lr,
            frac_bits: 16,
            momentum: 0.8,
            convs: Vec::new(),
            lr_decay: 1.0,
        }
    }

    /// The spec of epoch `e` (0-based): the learning rate decayed `e` times.
    pub fn at_epoch(&self, e: usize) -> TrainSpec {
        TrainSpec {
            lr: self.lr * self.lr_decay.powi(e as i32),
            ..self.clone()
        }
    }

    /// A small CNN: a 5×5 convolution of stride 2 with 8 kernels (28×28 → 8×12×12),
    /// ReLU, dense 1152 → 64, ReLU, dense 64 → 10, softmax cross-entropy.
    pub fn cnn(batch: usize, lr: f64) -> Self {
        Self::mnist_cnn(batch, lr, 2, 1)
    }

    /// 8 kernels of 5×5 and `stride` over the 28×28 digits, ReLU, `pool × pool`
    /// average pooling, dense → 64 → 10, softmax cross-entropy.
    fn mnist_cnn(batch: usize, lr: f64, stride: usize, pool: usize) -> Self {
        let conv = Conv {
            input: [1, 28, 28],
            out: 8,
            k: 5,
            stride,
            pool,
            max_pool: false,
            channels_last: false,
            pad: 0,
        };
        TrainSpec {
            dims: vec![conv.outputs(), 64, 10],
            convs: vec![conv],
            ..TrainSpec::mlp(batch, lr)
        }
    }

    /// The CNN with average pooling: a 5×5 convolution of stride 1 with 8 kernels
    /// (28×28 → 8×24×24), ReLU, 2×2 average pooling (→ 8×12×12), dense 1152 → 64,
    /// ReLU, dense 64 → 10, softmax cross-entropy.
    pub fn cnn_pool(batch: usize, lr: f64) -> Self {
        Self::mnist_cnn(batch, lr, 1, 2)
    }

    /// [`TrainSpec::cnn_pool`] with 2×2 max pooling instead of average pooling.
    pub fn cnn_maxpool(batch: usize, lr: f64) -> Self {
        let mut s = Self::cnn_pool(batch, lr);
        for c in &mut s.convs {
            c.max_pool = true;
        }
        s
    }

    /// LeNet-5 for 28×28 digits (no padding): 6 kernels of 5×5 (→ 6×24×24), ReLU, 2×2
    /// max pooling (→ 6×12×12), 16 kernels of 5×5 (→ 16×8×8), ReLU, 2×2 max pooling
    /// (→ 16×4×4), dense 256 → 120 → 84 → 10 with ReLU, softmax cross-entropy.
    pub fn lenet(batch: usize, lr: f64) -> Self {
        let c1 = Conv {
            input: [1, 28, 28],
            out: 6,
            k: 5,
            stride: 1,
            pool: 2,
            max_pool: true,
            channels_last: false,
            pad: 0,
        };
        let c2 = Conv {
            input: c1.pooled_shape(),
            out: 16,
            channels_last: true,
            ..c1
        };
        TrainSpec {
            dims: vec![c2.outputs(), 120, 84, 10],
            convs: vec![c1, c2],
            ..TrainSpec::mlp(batch, lr)
        }
    }

    /// Logistic regression 784 → 10 (one-vs-rest) with SecureML's sigmoid.
    pub fn logreg(batch: usize, lr: f64) -> Self {
        TrainSpec {
            dims: vec![784, 10],
            head: Objective::SecureMlSigmoid,
            batch,
            lr,
            frac_bits: 16,
            momentum: 0.8,
            convs: Vec::new(),
            lr_decay: 1.0,
        }
    }

    /// Every trained layer as a matrix product: the convolutions, then the dense
    /// layers.
    pub fn geometry(&self) -> Vec<Geometry> {
        let mut g: Vec<Geometry> = self
            .convs
            .iter()
            .map(|c| Geometry {
                rows: c.positions(),
                inp: c.patch(),
                out: c.out,
            })
            .collect();
        g.extend(self.dims.windows(2).map(|w| Geometry {
            rows: 1,
            inp: w[0],
            out: w[1],
        }));
        g
    }

    /// The number of trained layers (the convolutions included).
    pub fn layers(&self) -> usize {
        self.dims.len().saturating_sub(1) + self.convs.len()
    }

    /// The classes (the last width).
    pub fn classes(&self) -> usize {
        self.dims.last().copied().unwrap_or(0)
    }

    /// The input width (per example).
    pub fn inputs(&self) -> usize {
        match self.convs.first() {
            Some(c) => c.input.iter().product(),
            None => self.dims.first().copied().unwrap_or(0),
        }
    }

    /// The learning-rate constant `c = round(η/B · 2^k)` of the update.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `c` is 0 (the rate vanishes in fixed point) or
    /// the update of a gradient of the assumed range could overflow the ring.
    pub fn lr_constant(&self) -> Result<i64> {
        let bad = |detail: String| Error::InvalidArgument {
            what: "learning rate",
            detail,
        };
        if !self.lr.is_finite() || self.lr <= 0.0 {
            return Err(bad(format!("{} is not a positive number", self.lr)));
        }
        let c = (self.lr / self.batch as f64 * f64::from(LR_BITS).exp2()).round();
        if c < 1.0 {
            return Err(bad(format!(
                "{} over a batch of {} is below the fixed-point resolution 2^-{LR_BITS}",
                self.lr, self.batch
            )));
        }
        // A pending gradient of the last layer is a sum over the batch of products of
        // an activation below 2^ACT_BITS and a loss gradient below 2, at scale 2^2f;
        // times c it must stay below 2^62, where the dealer truncation is exact up to
        // one unit. (The reference checks every truncation's input as it trains.)
        let grad_bits = f64::from(ACT_BITS + 1 + 2 * self.frac_bits) + (self.batch as f64).log2();
        if grad_bits + c.log2() >= 62.0 {
            return Err(bad(format!(
                "{} overflows the fixed-point range: the update of a gradient of the assumed \
                 range (activations below 2^{ACT_BITS}, batch {}, f = {}) needs {:.0} bits of the \
                 ring's 62; lower the rate",
                self.lr,
                self.batch,
                self.frac_bits,
                grad_bits + c.log2()
            )));
        }
        Ok(c as i64)
    }

    /// Checks the shape and the format.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a network of no layer, a zero width or batch, a
    /// format outside `8..=24` fractional bits, a bad learning rate.
    pub fn validate(&self) -> Result<()> {
        let bad = |detail: String| Error::InvalidArgument {
            what: "training",
            detail,
        };
        if self.layers() == 0 || self.dims.contains(&0) {
            return Err(bad(format!(
                "widths {:?}: need two or more, none 0",
                self.dims
            )));
        }
        if self.batch == 0 {
            return Err(bad("a batch of 0 examples".into()));
        }
        // Sizes beyond any trainable network (a hostile model or share file must get an
        // error, not an allocation that exhausts memory): per example, at most 2^24
        // values in any layer, and at most 2^28 weights in one.
        const MAX_VALUES: usize = 1 << 24;
        const MAX_WEIGHTS: usize = 1 << 28;
        let too_big = |what: String| bad(format!("{what}: larger than any network trained here"));
        if self.batch > MAX_VALUES {
            return Err(too_big(format!("a batch of {}", self.batch)));
        }
        for c in &self.convs {
            // Each size first (so that the products below cannot overflow), then the
            // layer's values: its input, output and kernel.
            let sizes = c.input.iter().chain([&c.out, &c.k, &c.pad, &c.stride]);
            let prod = |v: &[usize]| v.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            if sizes.into_iter().any(|&d| d > MAX_VALUES)
                || [
                    prod(&c.input),
                    prod(&[c.positions(), c.out]),
                    prod(&[c.input[0], c.k, c.k, c.out]),
                ]
                .iter()
                .any(|v| v.is_none_or(|v| v > MAX_VALUES))
            {
                return Err(too_big(format!("convolution {c:?}")));
            }
        }
        if self.dims.iter().any(|&d| d > MAX_VALUES)
            || self
                .dims
                .windows(2)
                .any(|w| w[0].checked_mul(w[1]).is_none_or(|n| n > MAX_WEIGHTS))
        {
            return Err(too_big(format!("widths {:?}", self.dims)));
        }
        for (i, c) in self.convs.iter().enumerate() {
            let before = i.checked_sub(1).map(|j| self.convs[j]);
            if c.channels_last != before.is_some()
                || before.is_some_and(|b| b.pooled_shape() != c.input)
            {
                return Err(bad(format!(
                    "convolution {} reads {:?}{}, the one before gives {:?} (channels last)",
                    i + 1,
                    c.input,
                    if c.channels_last {
                        " channels last"
                    } else {
                        ""
                    },
                    before.map(|b| b.pooled_shape())
                )));
            }
            if c.k == 0 || c.stride == 0 || c.out == 0 || c.input.contains(&0) {
                return Err(bad(format!("convolution {c:?}: sizes of 0")));
            }
            if c.k > c.input[1] + 2 * c.pad || c.k > c.input[2] + 2 * c.pad || c.pad >= c.k {
                return Err(bad(format!(
                    "convolution {c:?}: the kernel exceeds the padded image, or the padding is \
                     as wide as the kernel"
                )));
            }
            let [oh, ow] = c.out_hw();
            if c.pool == 0 || !c.pool.is_power_of_two() || oh % c.pool != 0 || ow % c.pool != 0 {
                return Err(bad(format!(
                    "pooling {0}×{0}: a power of two dividing the convolution's {oh}×{ow}",
                    c.pool
                )));
            }
            if i + 1 == self.convs.len() && self.dims[0] != c.outputs() {
                return Err(bad(format!(
                    "the convolution gives {} values, the first dense layer takes {}",
                    c.outputs(),
                    self.dims[0]
                )));
            }
        }
        if !(8..=24).contains(&self.frac_bits) {
            return Err(bad(format!(
                "{} fractional bits; training supports 8 to 24",
                self.frac_bits
            )));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(bad(format!(
                "learning-rate decay {}: need 0 < γ ≤ 1",
                self.lr_decay
            )));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err(bad(format!("momentum {}: need 0 ≤ μ < 1", self.momentum)));
        }
        self.lr_constant().map(|_| ())
    }

    /// The momentum constant `round(μ · 2^k)` (0 without momentum).
    pub fn momentum_constant(&self) -> i64 {
        (self.momentum * f64::from(LR_BITS).exp2()).round() as i64
    }

    /// The one-layer model of the output activation over `[C]` (what its circuits and
    /// its fixed-point reference are built from).
    ///
    /// # Errors
    /// Never for a validated spec.
    pub fn head_model(&self) -> Result<FixedModel<R>> {
        let c = self.classes();
        let op = match self.head {
            Objective::SoftmaxCrossEntropy => Op::Softmax(Softmax { len: c, log: false }),
            Objective::SecureMlSigmoid => Op::SecureMlSigmoid,
        };
        let m = Model::new(vec![c], vec![("head".into(), op)], Head::Scores)?;
        FixedModel::new(&m, FixedPoint::new(self.frac_bits))
    }
}

/// Where each comparison runs: the ReLU derivative of every hidden layer and the
/// output activation, each in B or Y (everything else is in A).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TrainPlan {
    /// Per hidden layer, the sharing of its comparison.
    pub hidden: Vec<Sharing>,
    /// The sharing of the output activation.
    pub head: Sharing,
}

impl TrainPlan {
    /// Every comparison in `s` (the baselines `a+b` and `a+y`).
    pub fn uniform(spec: &TrainSpec, s: Sharing) -> Self {
        TrainPlan {
            hidden: vec![s; spec.layers() - 1],
            head: s,
        }
    }

    /// `a+b`, `a+y` (and `pure-…` names are refused: training needs A's products).
    pub fn named(spec: &TrainSpec, name: &str) -> Result<Self> {
        match name {
            "a+b" => Ok(Self::uniform(spec, Sharing::B)),
            "a+y" => Ok(Self::uniform(spec, Sharing::Y)),
            other => Err(Error::Plan(format!(
                "training plan {other:?}: use auto, a+b or a+y (the products of shared weights \
                 and activations run in A; pure B/Y training would multiply in circuits)"
            ))),
        }
    }

    /// A short name: `a+b`, `a+y` or the per-step list.
    pub fn name(&self) -> String {
        let all = |s| self.head == s && self.hidden.iter().all(|&h| h == s);
        if all(Sharing::B) {
            "a+b".into()
        } else if all(Sharing::Y) {
            "a+y".into()
        } else {
            let mut v: Vec<String> = self.hidden.iter().map(|s| format!("{s:?}")).collect();
            v.push(format!("{:?}", self.head));
            format!("a+[{}]", v.join(","))
        }
    }

    fn check(&self, spec: &TrainSpec) -> Result<()> {
        let ok = |s: &Sharing| matches!(s, Sharing::B | Sharing::Y);
        if self.hidden.len() != spec.layers() - 1 || !self.hidden.iter().all(ok) || !ok(&self.head)
        {
            return Err(Error::Plan(format!(
                "a training plan needs B or Y for each of {} hidden layers and the head, got {self:?}",
                spec.layers() - 1
            )));
        }
        Ok(())
    }
}

/// One step of an SGD iteration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TStep {
    /// `dst = op(a) · op(b)` (`op` a transpose where asked), `[m, k] · [k, n]`, left at
    /// scale `2^2f`: one Beaver exchange with a matrix triple.
    MatMul {
        /// The left operand and whether it is transposed first.
        a: (Slot, bool),
        /// The right operand and whether it is transposed first.
        b: (Slot, bool),
        /// The result.
        dst: Slot,
        /// `[m, k, n]`.
        mkn: [usize; 3],
        /// What it computes, for step names.
        name: String,
    },
    /// `dst = ⌊src / 2^bits⌋ (+ e)` for every pair, in one exchange.
    Trunc {
        /// `(src, dst, elements)`.
        pairs: Vec<(Slot, Slot, usize)>,
        /// The bits removed.
        bits: u32,
        /// What it truncates.
        name: String,
    },
    /// `dst = src + bias` broadcast over the `rows` (local).
    AddBias {
        /// `[rows, cols]`.
        src: Slot,
        /// `[cols]`.
        bias: Slot,
        /// The result.
        dst: Slot,
        /// The rows.
        rows: usize,
    },
    /// `dst = [src ≥ 0]` as 0/1 in A: a comparison in `sharing`, one daBit per element.
    Drelu {
        /// The `n` values compared.
        src: Slot,
        /// The bits.
        dst: Slot,
        /// Elements.
        n: usize,
        /// B or Y.
        sharing: Sharing,
        /// The layer (for step names).
        layer: usize,
    },
    /// `dst = src ⊙ bit` for a 0/1 `bit` (a Beaver product, no truncation).
    MulBit {
        /// The values.
        src: Slot,
        /// The bits.
        bit: Slot,
        /// The result.
        dst: Slot,
        /// Elements.
        n: usize,
        /// What it computes.
        name: String,
    },
    /// `dst = head(src)` over `rows` examples of `C` values, computed in `sharing`
    /// (converted there from A and back).
    Head {
        /// The logits, `[rows, C]` at scale `2^f`.
        src: Slot,
        /// The activation, at scale `2^f`.
        dst: Slot,
        /// The examples.
        rows: usize,
        /// B or Y.
        sharing: Sharing,
    },
    /// `dst[r]` = the index of row `r`'s largest value (the first on ties), over `rows`
    /// rows of `C` logits: an argmax circuit in `sharing` (converted there from A), the
    /// index bits back to A by one daBit each.
    Label {
        /// The logits, `[rows, C]`.
        src: Slot,
        /// The indices, `[rows]` (integers).
        dst: Slot,
        /// The examples.
        rows: usize,
        /// B or Y.
        sharing: Sharing,
    },
    /// `dst` = the patches of the images `src` (`[B, c, h, w]` → `[B·P, c·k·k]`; a
    /// local gather).
    Im2Col {
        /// The images.
        src: Slot,
        /// The patches.
        dst: Slot,
        /// The convolution.
        conv: Conv,
        /// The images.
        batch: usize,
    },
    /// `dst` = the patches' gradient `src` summed back onto the convolution's input
    /// (col2im, the transpose of [`TStep::Im2Col`]; local).
    Col2Im {
        /// `[B·P, c·k·k]`.
        src: Slot,
        /// The input's layout.
        dst: Slot,
        /// The convolution.
        conv: Conv,
        /// The images.
        batch: usize,
    },
    /// `dst` = the sums of the convolution output's pooling windows (local).
    SumPool {
        /// `[B, P, out]`.
        src: Slot,
        /// `[B, P / pool², out]`.
        dst: Slot,
        /// The convolution.
        conv: Conv,
        /// The images.
        batch: usize,
    },
    /// `dst` = each pooled value copied to its window (local; a sum pooling's gradient).
    Upsample {
        /// `[B, P / pool², out]`.
        src: Slot,
        /// `[B, P, out]`.
        dst: Slot,
        /// The convolution.
        conv: Conv,
        /// The images.
        batch: usize,
    },
    /// `dst[i] = src[idx[i]]` (local: a re-indexing of shares).
    Gather {
        /// The values.
        src: Slot,
        /// The result.
        dst: Slot,
        /// The index of each result in `src`.
        idx: Vec<usize>,
    },
    /// `dst` = the slots one after another (local).
    Concat {
        /// The slots.
        srcs: Vec<Slot>,
        /// The result.
        dst: Slot,
    },
    /// `dst = src + c` for a public integer `c` (party 0 adds it).
    AddConst {
        /// The values.
        src: Slot,
        /// The result.
        dst: Slot,
        /// The constant.
        c: i64,
    },
    /// `dst = a + b` (local).
    Add {
        /// Summand.
        a: Slot,
        /// Summand.
        b: Slot,
        /// Result.
        dst: Slot,
    },
    /// `dst = a − b` (local).
    Sub {
        /// Minuend.
        a: Slot,
        /// Subtrahend.
        b: Slot,
        /// Result.
        dst: Slot,
    },
    /// `dst[j] = 2^shift · Σ_r src[r, j]` (local; the bias gradient, at scale `2^2f`).
    SumRows {
        /// `[rows, cols]`.
        src: Slot,
        /// `[cols]`.
        dst: Slot,
        /// The rows.
        rows: usize,
        /// The left shift.
        shift: u32,
    },
    /// `dst = c · src` for a public integer `c` (local).
    Scale {
        /// The values.
        src: Slot,
        /// The result.
        dst: Slot,
        /// The constant.
        c: i64,
    },
}

impl TStep {
    /// The map of a local re-indexing step (the patches, a pooling's sums or copies, a
    /// gather) on a flat vector: linear, so the reference applies it to the values and
    /// each party to its shares.
    ///
    /// # Errors
    /// A vector that does not fit the step; another kind of step.
    pub fn reindex(&self, v: &[R]) -> Result<Vec<R>> {
        match self {
            TStep::Im2Col { conv, batch, .. } => conv.gather(v, *batch),
            TStep::Col2Im { conv, batch, .. } => conv.scatter(v, *batch),
            TStep::SumPool { conv, batch, .. } => conv.sum_pool(v, *batch),
            TStep::Upsample { conv, batch, .. } => conv.upsample(v, *batch),
            TStep::Gather { idx, .. } => gather_at(v, idx),
            other => Err(Error::Plan(format!("{other:?} is not a re-indexing step"))),
        }
    }
}

/// One SGD iteration lowered: the steps and where the parameters and the batch live.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainProgram {
    /// What is trained.
    pub spec: TrainSpec,
    /// Where the comparisons run.
    pub plan: TrainPlan,
    /// The steps of one iteration, in order.
    pub steps: Vec<TStep>,
    /// How many slots the steps use.
    pub slots: usize,
    /// The parameters' slots and shapes: `W_l` (`[in, out]`) then `b_l` (`[out]`), layer
    /// after layer. They persist across iterations; every other slot is per iteration.
    pub params: Vec<(Slot, Vec<usize>)>,
    /// The velocity of each parameter (momentum; empty without): `u = μ·u + (η/B)·g`
    /// at scale `2^f`, `θ ← θ − u`. Kept across iterations, zero at the start.
    pub velocity: Vec<Slot>,
    /// The batch's inputs (`[B, in]`) and one-hot targets (`[B, C]`), at scale `2^f`.
    pub x: Slot,
    /// See [`TrainProgram::x`].
    pub y: Slot,
    /// Inference ([`TrainProgram::inference`]): the slot of the predicted labels.
    pub labels: Option<Slot>,
    /// Training: each parameter's pending gradient (`Σ` over the batch, scale `2^2f`),
    /// in the order of [`TrainProgram::params`].
    pub grads: Vec<Slot>,
}

struct Slots(usize);

impl Slots {
    fn next(&mut self) -> Slot {
        self.0 += 1;
        self.0 - 1
    }
}

/// What the forward pass left for the backward pass and the head.
struct Forward {
    params: Vec<(Slot, Vec<usize>)>,
    x: Slot,
    y: Slot,
    /// Each layer's input (the first: the batch or its patches).
    acts: Vec<Slot>,
    /// Each hidden layer's ReLU bits.
    bits: Vec<Slot>,
    /// Each convolution's max pooling argmax one-hot, if it has one.
    maxpool_onehot: Vec<Option<Slot>>,
    /// The logits.
    z: Slot,
}

/// A layer's name in step names.
fn layer_name(spec: &TrainSpec, l: usize) -> String {
    let nc = spec.convs.len();
    if l < nc {
        format!("conv{}", l + 1)
    } else {
        format!("fc{}", l + 1 - nc)
    }
}

/// Lowers the forward pass of `spec` (on its batch) under `plan`: the parameters'
/// slots, the batch's, then `a_l = relu(a_{l-1} · W_l + b_l)` up to the last layer's
/// logits `z` — the one lowering of training and of inference.
fn lower_forward(
    spec: &TrainSpec,
    plan: &TrainPlan,
    s: &mut Slots,
    steps: &mut Vec<TStep>,
) -> Result<Forward> {
    spec.validate()?;
    plan.check(spec)?;
    let (f, bsz, nl) = (spec.frac_bits, spec.batch, spec.layers());
    let geo = spec.geometry();
    let mut params = Vec::new();
    for g in &geo {
        params.push((s.next(), vec![g.inp, g.out]));
        params.push((s.next(), vec![g.out]));
    }
    let (x, y) = (s.next(), s.next());
    let w = |l: usize| params[2 * l].0;
    let b = |l: usize| params[2 * l + 1].0;
    // A convolution's input: its patches, gathered locally.
    let patches = |steps: &mut Vec<TStep>, s: &mut Slots, src: Slot, conv: &Conv| {
        let dst = s.next();
        steps.push(TStep::Im2Col {
            src,
            dst,
            conv: *conv,
            batch: bsz,
        });
        dst
    };
    let first = match spec.convs.first() {
        Some(conv) => patches(steps, s, x, conv),
        None => x,
    };
    let mut acts = vec![first];
    let mut maxpool_onehot = vec![None; spec.convs.len()];
    let mut bits = Vec::new();
    let mut z = x;
    for l in 0..nl {
        let g = geo[l];
        let rows = bsz * g.rows;
        let zl = s.next();
        let t = truncated_product(
            steps,
            s,
            (acts[l], false),
            (w(l), false),
            [rows, g.inp, g.out],
            f,
            format!("{}: x·W", layer_name(spec, l)),
        );
        steps.push(TStep::AddBias {
            src: t,
            bias: b(l),
            dst: zl,
            rows,
        });
        z = zl;
        if l + 1 < nl {
            let (bit, a) = (s.next(), s.next());
            let n = rows * g.out;
            steps.push(TStep::Drelu {
                src: zl,
                dst: bit,
                n,
                sharing: plan.hidden[l],
                layer: l + 1,
            });
            steps.push(TStep::MulBit {
                src: zl,
                bit,
                dst: a,
                n,
                name: format!("relu{}", l + 1),
            });
            bits.push(bit);
            let pooled = match spec.convs.get(l) {
                Some(conv) if conv.max_pool && conv.pool > 1 => {
                    let (m, onehot) = max_pool(steps, s, a, conv, bsz, (plan.hidden[l], l + 1));
                    maxpool_onehot[l] = onehot;
                    m
                }
                Some(conv) if conv.pool > 1 => {
                    // Average pooling: the windows' sums, divided by pool² in one
                    // truncation.
                    let (sp, pooled) = (s.next(), s.next());
                    steps.push(TStep::SumPool {
                        src: a,
                        dst: sp,
                        conv: *conv,
                        batch: bsz,
                    });
                    steps.push(TStep::Trunc {
                        pairs: vec![(sp, pooled, bsz * conv.outputs())],
                        bits: conv.pool_bits(),
                        name: format!("pool{}", l + 1),
                    });
                    pooled
                }
                _ => a,
            };
            // A convolution after this one reads the patches of its output.
            match spec.convs.get(l + 1) {
                Some(next) => acts.push(patches(steps, s, pooled, next)),
                None => acts.push(pooled),
            }
        }
    }
    Ok(Forward {
        params,
        x,
        y,
        acts,
        bits,
        maxpool_onehot,
        z,
    })
}

impl TrainProgram {
    /// The persistent state's slots and shapes: the parameters, then their velocities
    /// (the interpreters take and update the state in this order).
    pub fn state(&self) -> Vec<(Slot, Vec<usize>)> {
        let mut out = self.params.clone();
        out.extend(
            self.velocity
                .iter()
                .zip(&self.params)
                .map(|(&v, (_, s))| (v, s.clone())),
        );
        out
    }

    /// [`TrainProgram::state`], checked to have `n` tensors (what an interpreter is
    /// given).
    ///
    /// # Errors
    /// Another number of tensors.
    pub fn state_of(&self, n: usize) -> Result<Vec<(Slot, Vec<usize>)>> {
        let layout = self.state();
        if n != layout.len() {
            return Err(Error::shape(
                "training state",
                format!("{n} tensors for {}", layout.len()),
            ));
        }
        Ok(layout)
    }

    /// A zero state (parameters and velocities).
    pub fn zero_state(&self) -> Vec<Vec<R>> {
        self.state()
            .iter()
            .map(|(_, s)| vec![<R as Ring>::from_u64(0); s.iter().product()])
            .collect()
    }

    /// Lowers one SGD iteration of `spec` under `plan`.
    ///
    /// # Errors
    /// An invalid spec ([`TrainSpec::validate`]) or plan.
    pub fn new(spec: &TrainSpec, plan: &TrainPlan) -> Result<Self> {
        let (f, bsz, nl) = (spec.frac_bits, spec.batch, spec.layers());
        let geo = spec.geometry();
        let mut s = Slots(0);
        let mut steps = Vec::new();
        let Forward {
            params,
            x,
            y,
            acts,
            bits,
            maxpool_onehot,
            z,
        } = lower_forward(spec, plan, &mut s, &mut steps)?;
        let w = |l: usize| params[2 * l].0;
        let name = |l: usize| layer_name(spec, l);
        // The loss gradient δ = head(z) − y.
        let (out, mut delta) = (s.next(), s.next());
        steps.push(TStep::Head {
            src: z,
            dst: out,
            rows: bsz,
            sharing: plan.head,
        });
        steps.push(TStep::Sub {
            a: out,
            b: y,
            dst: delta,
        });
        // Backward: g_W = a_{l-1}ᵀ · δ_l, g_b = Σ δ_l (both at 2^2f), then
        // δ_{l-1} = trunc(δ_l · W_lᵀ) ⊙ bit_{l-1} (a convolution's δ is laid out as
        // its output, position by position, so the dense layer after it reads it as is).
        let mut grads = vec![(0, 0); 2 * nl];
        for l in (0..nl).rev() {
            let g = geo[l];
            let rows = bsz * g.rows;
            let (gw, gb) = (s.next(), s.next());
            steps.push(TStep::MatMul {
                a: (acts[l], true),
                b: (delta, false),
                dst: gw,
                mkn: [g.inp, rows, g.out],
                name: format!("{}: gradient of W", name(l)),
            });
            steps.push(TStep::SumRows {
                src: delta,
                dst: gb,
                rows,
                shift: f,
            });
            grads[2 * l] = (gw, g.inp * g.out);
            grads[2 * l + 1] = (gb, g.out);
            if l > 0 {
                // After a pooling, δ·Wᵀ is the pooled values' gradient: divided by pool²
                // in the same truncation and copied back to each window. For a
                // convolution, δ·Kᵀ is its patches' gradient, summed back onto its
                // input (col2im) first.
                let pool = spec.convs.get(l - 1).filter(|c| c.pool > 1).copied();
                let nd = s.next();
                let mut e = truncated_product(
                    &mut steps,
                    &mut s,
                    (delta, false),
                    (w(l), true),
                    [rows, g.out, g.inp],
                    f + pool.map_or(0, |c| c.pool_bits()),
                    format!("{}: δ·Wᵀ", name(l)),
                );
                if let Some(conv) = spec.convs.get(l) {
                    let img = s.next();
                    steps.push(TStep::Col2Im {
                        src: e,
                        dst: img,
                        conv: *conv,
                        batch: bsz,
                    });
                    e = img;
                }
                if let Some(conv) = pool {
                    let up = s.next();
                    steps.push(TStep::Upsample {
                        src: e,
                        dst: up,
                        conv,
                        batch: bsz,
                    });
                    e = up;
                    // Max pooling: the gradient goes to each window's maximum only.
                    if let Some(onehot) = maxpool_onehot[l - 1] {
                        let routed = s.next();
                        steps.push(TStep::MulBit {
                            src: e,
                            bit: onehot,
                            dst: routed,
                            n: bsz * conv.positions() * conv.out,
                            name: format!("pool{l}: argmax"),
                        });
                        e = routed;
                    }
                }
                let prev = geo[l - 1];
                steps.push(TStep::MulBit {
                    src: e,
                    bit: bits[l - 1],
                    dst: nd,
                    n: bsz * prev.rows * prev.out,
                    name: format!("relu{l}: derivative"),
                });
                delta = nd;
            }
        }
        // The update: θ ← θ − u with u = ⌊(c·g + m·2^f·u) / 2^(f+k)⌋ (m = 0 without
        // momentum: u = ⌊c·g / 2^(f+k)⌋), every gradient in one exchange.
        let c = spec.lr_constant()?;
        let m = spec.momentum_constant();
        let velocity: Vec<Slot> = if m > 0 {
            params.iter().map(|_| s.next()).collect()
        } else {
            Vec::new()
        };
        let mut pairs = Vec::new();
        let mut updates = Vec::new();
        for (i, &(g, n)) in grads.iter().enumerate() {
            let sc = s.next();
            steps.push(TStep::Scale { src: g, dst: sc, c });
            let u = match velocity.get(i) {
                Some(&v) => {
                    let (mv, sum) = (s.next(), s.next());
                    steps.push(TStep::Scale {
                        src: v,
                        dst: mv,
                        c: m << f,
                    });
                    steps.push(TStep::Add {
                        a: sc,
                        b: mv,
                        dst: sum,
                    });
                    pairs.push((sum, v, n));
                    v
                }
                None => {
                    let u = s.next();
                    pairs.push((sc, u, n));
                    u
                }
            };
            updates.push((params[i].0, u));
        }
        steps.push(TStep::Trunc {
            pairs,
            bits: f + LR_BITS,
            name: "update".into(),
        });
        for (p, u) in updates {
            steps.push(TStep::Sub { a: p, b: u, dst: p });
        }
        Ok(TrainProgram {
            spec: spec.clone(),
            plan: plan.clone(),
            steps,
            slots: s.0,
            params,
            velocity,
            x,
            y,
            labels: None,
            grads: grads.iter().map(|&(g, _)| g).collect(),
        })
    }

    /// Lowers secure inference with the model of `spec` on `batch` examples: the forward
    /// pass of [`TrainProgram::new`] (the same steps, the comparisons where `plan`
    /// puts them) and the index of each example's largest logit (the first on ties),
    /// computed by an argmax circuit in the sharing of `plan.head` and returned to A
    /// ([`TrainProgram::labels`]). The state is the parameters alone; the target slot
    /// is not read.
    ///
    /// # Errors
    /// An invalid spec or plan; a batch of 0.
    pub fn inference(spec: &TrainSpec, plan: &TrainPlan, batch: usize) -> Result<Self> {
        let spec = TrainSpec {
            batch,
            ..spec.clone()
        };
        let mut s = Slots(0);
        let mut steps = Vec::new();
        let fw = lower_forward(&spec, plan, &mut s, &mut steps)?;
        let labels = s.next();
        steps.push(TStep::Label {
            src: fw.z,
            dst: labels,
            rows: batch,
            sharing: plan.head,
        });
        Ok(TrainProgram {
            spec,
            plan: plan.clone(),
            steps,
            slots: s.0,
            params: fw.params,
            velocity: Vec::new(),
            x: fw.x,
            y: fw.y,
            labels: Some(labels),
            grads: Vec::new(),
        })
    }

    /// Every priced step of one iteration, in order (local steps are free and not
    /// listed).
    ///
    /// # Errors
    /// Circuit errors (never for a lowered program).
    pub fn costs(&self) -> Result<Vec<StepCost>> {
        let head = self.spec.head_model()?;
        let mut out = Vec::new();
        for st in &self.steps {
            out.extend(step_costs(st, &head)?);
        }
        Ok(out)
    }

    /// The correlations of `iterations` iterations, in order.
    ///
    /// # Errors
    /// As [`TrainProgram::costs`].
    pub fn demand(&self, iterations: usize) -> Result<Demand> {
        let one = crate::cost::total_price(&self.costs()?).demand;
        let mut d = Demand::new();
        for _ in 0..iterations {
            d.extend(&one);
        }
        Ok(d)
    }
}

/// `v[idx[i]]` for every `i`: a [`TStep::Gather`], the same on values and on shares.
///
/// # Errors
/// An index outside `v`.
pub fn gather_at<T: Copy>(v: &[T], idx: &[usize]) -> Result<Vec<T>> {
    idx.iter()
        .map(|&i| v.get(i).copied())
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| Error::Plan("a gather outside its source".into()))
}

/// Pushes a gather of `src` at `idx`; returns the new slot.
fn push_gather(steps: &mut Vec<TStep>, s: &mut Slots, src: Slot, idx: Vec<usize>) -> Slot {
    let dst = s.next();
    steps.push(TStep::Gather { src, dst, idx });
    dst
}

/// Pushes `max(x, y) = y + (x − y)·[x ≥ y]` over `len` elements; returns the maxima and
/// the comparison bits.
fn push_max(
    steps: &mut Vec<TStep>,
    s: &mut Slots,
    (x, y): (Slot, Slot),
    len: usize,
    sharing: Sharing,
    (layer, level): (usize, usize),
) -> (Slot, Slot) {
    let (d, bit, prod, m) = (s.next(), s.next(), s.next(), s.next());
    steps.push(TStep::Sub { a: x, b: y, dst: d });
    steps.push(TStep::Drelu {
        src: d,
        dst: bit,
        n: len,
        sharing,
        layer,
    });
    steps.push(TStep::MulBit {
        src: d,
        bit,
        dst: prod,
        n: len,
        name: format!("pool{layer}: maximum {level}"),
    });
    steps.push(TStep::Add {
        a: y,
        b: prod,
        dst: m,
    });
    (m, bit)
}

/// Max pooling of `a` (the convolution's ReLU'd output, `[B, P, out]`) over windows of
/// `w = pool²` values as a tournament (SecureNN's): `max(x, y) = y + (x − y)·[x ≥ y]`,
/// every pair of a level in one comparison in `sharing`, `log₂ w` levels. Returns the
/// maxima (`[B, P/w, out]`) and the one-hot of each window's first maximum at the
/// convolution's positions (`[B, P, out]`; none for 1×1 windows), which routes the
/// gradient backward: built
/// top-down, a node's selection `s` (1 at the root) splits into `s·b` for its left
/// child and `s − s·b` for its right, one product round per level below the top
/// (2×2: `o₀ = b₃b₁, o₁ = b₃ − o₀, o₂ = (1 − b₃)b₂, o₃ = 1 − b₃ − o₂`).
fn max_pool(
    steps: &mut Vec<TStep>,
    s: &mut Slots,
    a: Slot,
    conv: &Conv,
    batch: usize,
    (sharing, layer): (Sharing, usize),
) -> (Slot, Option<Slot>) {
    let wins = conv.pool_windows(batch);
    let w = (conv.pool * conv.pool).max(1);
    let n = wins.len() / w;
    // A level is one slot of `groups` groups of `n`: group g holds node g of every window.
    let groups_of = |ids: &mut dyn Iterator<Item = usize>| -> Vec<usize> {
        ids.flat_map(|g| (0..n).map(move |j| g * n + j)).collect()
    };
    let wref = &wins;
    let leaves: Vec<usize> = (0..w)
        .flat_map(|k| (0..n).map(move |j| wref[j * w + k]))
        .collect();
    let mut cur = push_gather(steps, s, a, leaves);
    let mut groups = w;
    let mut bits = Vec::new();
    while groups > 1 {
        let half = groups / 2;
        let left = push_gather(steps, s, cur, groups_of(&mut (0..half).map(|g| 2 * g)));
        let right = push_gather(steps, s, cur, groups_of(&mut (0..half).map(|g| 2 * g + 1)));
        let (m, bit) = push_max(
            steps,
            s,
            (left, right),
            half * n,
            sharing,
            (layer, bits.len() + 1),
        );
        bits.push(bit);
        cur = m;
        groups = half;
    }
    // The one-hot, from the top level (one pair) down to the leaves.
    let mut sel: Option<Slot> = None;
    for (depth, &bit) in bits.iter().enumerate().rev() {
        let pairs = w >> (depth + 1);
        let (left, right) = (s.next(), s.next());
        match sel {
            None => {
                let neg = s.next();
                steps.push(TStep::Gather {
                    src: bit,
                    dst: left,
                    idx: (0..pairs * n).collect(),
                });
                steps.push(TStep::Scale {
                    src: bit,
                    dst: neg,
                    c: -1,
                });
                steps.push(TStep::AddConst {
                    src: neg,
                    dst: right,
                    c: 1,
                });
            }
            Some(parent) => {
                steps.push(TStep::MulBit {
                    src: parent,
                    bit,
                    dst: left,
                    n: pairs * n,
                    name: format!("pool{layer}: one-hot {}", depth + 1),
                });
                steps.push(TStep::Sub {
                    a: parent,
                    b: left,
                    dst: right,
                });
            }
        }
        // Children in order: node p's are 2p (left) and 2p + 1 (right).
        let both = s.next();
        steps.push(TStep::Concat {
            srcs: vec![left, right],
            dst: both,
        });
        let order =
            groups_of(&mut (0..2 * pairs).map(|c| if c % 2 == 0 { c / 2 } else { pairs + c / 2 }));
        sel = Some(push_gather(steps, s, both, order));
    }
    // Leaf k of window j sits at position wins[j·w + k].
    let mut inverse = vec![0; wins.len()];
    for (jk, &pos) in wins.iter().enumerate() {
        let (j, k) = (jk / w, jk % w);
        inverse[pos] = k * n + j;
    }
    let onehot = sel.map(|sel| push_gather(steps, s, sel, inverse));
    (cur, onehot)
}

/// Pushes `op(a) · op(b)` (`[m, k] · [k, n]`) and its truncation by `f` bits; returns
/// the truncated slot.
fn truncated_product(
    steps: &mut Vec<TStep>,
    s: &mut Slots,
    a: (Slot, bool),
    b: (Slot, bool),
    mkn: [usize; 3],
    f: u32,
    name: String,
) -> Slot {
    let (p, t) = (s.next(), s.next());
    steps.push(TStep::MatMul {
        a,
        b,
        dst: p,
        mkn,
        name: name.clone(),
    });
    steps.push(TStep::Trunc {
        pairs: vec![(p, t, mkn[0] * mkn[2])],
        bits: f,
        name,
    });
    t
}

fn step(name: String, sharing: Sharing, price: Price) -> StepCost {
    StepCost {
        name,
        layer: None,
        sharing: Some(sharing),
        price,
        work: Work::default(),
        setup_bytes: [0, 0],
    }
}

/// One exchange of `n` ring elements each way.
fn exchange(n: usize) -> Price {
    let mut p = free();
    let b = ring_bytes::<R>(n);
    p.bytes_sent = [b, b];
    p.flights.push(Flight::Both);
    p
}

/// The prices of one step.
fn step_costs(st: &TStep, head: &FixedModel<R>) -> Result<Vec<StepCost>> {
    Ok(match st {
        TStep::MatMul { mkn, name, .. } => {
            let [m, k, n] = *mkn;
            let mut price = exchange(m * k + k * n);
            price.demand.beaver(BilinearOp::MatMul, &[m, k], &[k, n]);
            let mut s = step(name.clone(), Sharing::A, price);
            s.work.macs = (2 * m * k * n) as u64;
            s.work.ring_ops = (4 * (m * k + k * n + m * n)) as u64;
            vec![s]
        }
        TStep::Trunc { pairs, bits, name } => {
            let n: usize = pairs.iter().map(|p| p.2).sum();
            let mut price = exchange(n);
            price.demand.trunc(*bits, &[n]);
            let mut s = step(format!("{name}: truncation"), Sharing::A, price);
            s.work.ring_ops = 2 * n as u64;
            vec![s]
        }
        TStep::MulBit { n, name, .. } => {
            let mut price = exchange(2 * n);
            price.demand.mul(&[*n]);
            let mut s = step(name.clone(), Sharing::A, price);
            s.work.ring_ops = 6 * *n as u64;
            vec![s]
        }
        TStep::Drelu {
            n, sharing, layer, ..
        } => {
            let ell = <R as Ring>::BITS as usize;
            let name = format!("relu{layer}: comparison");
            let mut out = Vec::new();
            for owner in 0..2 {
                let mut s = step(
                    format!("{name}: share {owner} in {sharing:?}"),
                    *sharing,
                    bool_input_price(*sharing, owner, ell * n),
                );
                s.work.labels = (ell * n) as u64;
                if *sharing == Sharing::Y && owner == 1 {
                    s.work.ots = (ell * n) as u64;
                }
                out.push(s);
            }
            let bl = drelu_layer(*sharing)?;
            out.extend(bool_layer_steps(
                &name,
                None,
                std::slice::from_ref(&bl),
                *sharing,
                ell,
                *n,
                DEFAULT_WORKING_SET,
            ));
            if *sharing == Sharing::Y {
                out.extend(route_steps::<R>(&name, None, &[Conversion::Y2B], *n)?);
            }
            let b2a = Conversion::B2A(crate::B2aVariant::DaBits);
            let mut s = step(
                format!("{name}: {}", b2a.name()),
                Sharing::A,
                Price::of(b2a, 1, *n)?,
            );
            s.work.ring_ops = *n as u64;
            out.push(s);
            out
        }
        TStep::Head { rows, sharing, .. } => {
            let c = head.layers()[0].layer().input_shape()[0];
            let mut out =
                route_steps::<R>("head", None, &default_route(Sharing::A, *sharing), rows * c)?;
            out.extend(op_steps(head, 0, *sharing, *rows, 0)?);
            out.extend(route_steps::<R>(
                "head",
                None,
                &default_route(*sharing, Sharing::A),
                rows * c,
            )?);
            out
        }
        TStep::Label { rows, sharing, .. } => {
            let c = head.classes();
            let ell = <R as Ring>::BITS as usize;
            let name = "label";
            let mut out =
                route_steps::<R>(name, None, &default_route(Sharing::A, *sharing), rows * c)?;
            let bl = argmax_layer(c, ell, *sharing == Sharing::B)?;
            out.extend(bool_layer_steps(
                name,
                None,
                std::slice::from_ref(&bl),
                *sharing,
                ell,
                *rows,
                DEFAULT_WORKING_SET,
            ));
            let width = label_bits(c);
            if *sharing == Sharing::Y {
                out.extend(route_steps::<R>(
                    name,
                    None,
                    &[Conversion::Y2B],
                    rows * width,
                )?);
            }
            let b2a = Conversion::B2A(crate::B2aVariant::DaBits);
            let mut s = step(
                format!("{name}: {}", b2a.name()),
                Sharing::A,
                Price::of(b2a, width, *rows)?,
            );
            s.work.ring_ops = (*rows * width) as u64;
            out.push(s);
            out
        }
        TStep::AddBias { .. }
        | TStep::Im2Col { .. }
        | TStep::Col2Im { .. }
        | TStep::SumPool { .. }
        | TStep::Upsample { .. }
        | TStep::Gather { .. }
        | TStep::Concat { .. }
        | TStep::AddConst { .. }
        | TStep::Add { .. }
        | TStep::Sub { .. }
        | TStep::SumRows { .. }
        | TStep::Scale { .. } => Vec::new(),
    })
}

/// The bits of a label among `classes` (the argmax circuit's index width).
pub(crate) fn label_bits(classes: usize) -> usize {
    (usize::BITS - classes.saturating_sub(1).leading_zeros()).max(1) as usize
}

/// The comparison of the ReLU derivative: inputs the two parties' shares (`ℓ` bits
/// each), output `[z ≥ 0] = ¬msb(z₀ + z₁)`, one instance per element.
pub(crate) fn drelu_layer(sharing: Sharing) -> Result<BoolLayer> {
    let ell = <R as Ring>::BITS as usize;
    let v = if sharing == Sharing::B {
        Variant::Depth
    } else {
        Variant::Size
    };
    let mut b = Builder::new();
    let x0 = b.input(ell);
    let x1 = b.input(ell);
    // The carry into the top bit: low(x0) + low(x1) ≥ 2^(ℓ-1) ⟺ ¬low(x0) < low(x1).
    let not0: Vec<_> = x0[..ell - 1].iter().map(|&w| b.not(w)).collect();
    let carry = b.lt_unsigned(&not0, &x1[..ell - 1], v);
    let t = b.xor(x0[ell - 1], x1[ell - 1]);
    let msb = b.xor(t, carry);
    let ge = b.not(msb);
    b.output(&[ge]);
    let one = || Gather {
        slots: 1,
        idx: None,
    };
    BoolLayer::joining(b, 1, vec![one(), one()], Vec::new())
}

/// Encodes labelled images (pixels `0..=255`, `[N, in]`) as a training set: inputs
/// `pixel / 255` and one-hot targets, both at scale `2^f`.
///
/// # Errors
/// A label outside `0..C` or a size that does not fit.
pub fn encode_examples(spec: &TrainSpec, pixels: &[u8], labels: &[u8]) -> Result<(Vec<R>, Vec<R>)> {
    let (inp, c) = (spec.inputs(), spec.classes());
    if pixels.len() != labels.len() * inp {
        return Err(Error::shape(
            "training data",
            format!(
                "{} pixels for {} examples of {inp} inputs (the model's input width)",
                pixels.len(),
                labels.len()
            ),
        ));
    }
    let one = f64::from(spec.frac_bits).exp2();
    let x = pixels
        .iter()
        .map(|&p| <R as Ring>::from_i64((f64::from(p) / 255.0 * one).round() as i64))
        .collect();
    let mut y = vec![<R as Ring>::from_u64(0); labels.len() * c];
    for (i, &l) in labels.iter().enumerate() {
        let l = usize::from(l);
        if l >= c {
            return Err(Error::shape(
                "training data",
                format!("label {l} of example {i}: the model has {c} classes"),
            ));
        }
        y[i * c + l] = <R as Ring>::from_i64(one as i64);
    }
    Ok((x, y))
}

/// The logits of a dense ReLU chain with parameters `params` (fixed point, the order
/// of [`TrainProgram::params`]) on `x` (`[N, in]`), computed in floating point from
/// the decoded values (how a user of the revealed model evaluates it).
pub fn logits(spec: &TrainSpec, params: &[Vec<R>], x: &[R]) -> Vec<f64> {
    let scale = f64::from(spec.frac_bits).exp2();
    let dec = |v: &[R]| -> Vec<f64> { v.iter().map(|&r| r.to_i64() as f64 / scale).collect() };
    let n = x.len() / spec.inputs().max(1);
    let mut h: Vec<f64> = dec(x);
    let geo = spec.geometry();
    for (l, g) in geo.iter().enumerate() {
        if let Some(c) = spec.convs.get(l) {
            h.push(0.0);
            h = c.patch_indices(n).iter().map(|&i| h[i]).collect();
        }
        let (w, b) = (dec(&params[2 * l]), dec(&params[2 * l + 1]));
        let rows = n * g.rows;
        let mut next = vec![0.0; rows * g.out];
        for i in 0..rows {
            for j in 0..g.out {
                let mut s = b[j];
                for k in 0..g.inp {
                    s += h[i * g.inp + k] * w[k * g.out + j];
                }
                next[i * g.out + j] = if l + 1 < geo.len() { s.max(0.0) } else { s };
            }
        }
        h = next;
        if let Some(c) = spec.convs.get(l)
            && c.pool > 1
        {
            let w = c.pool * c.pool;
            h = c
                .pool_windows(n)
                .chunks(w)
                .map(|win| {
                    let vals = win.iter().map(|&i| h[i]);
                    if c.max_pool {
                        vals.fold(f64::MIN, f64::max)
                    } else {
                        vals.sum::<f64>() / w as f64
                    }
                })
                .collect();
        }
    }
    h
}

/// The labels (argmax of [`logits`], the first on ties) the parameters predict for `x`.
pub fn predict(spec: &TrainSpec, params: &[Vec<R>], x: &[R]) -> Vec<usize> {
    let c = spec.classes().max(1);
    logits(spec, params, x)
        .chunks(c)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f64::MIN),
                    |(bi, bv), (i, &v)| if v > bv { (i, v) } else { (bi, bv) },
                )
                .0
        })
        .collect()
}

/// The trained network as an ONNX model (opset 13): the convolution (`Conv`, `Relu`,
/// `Flatten`) if any, then `Gemm` nodes (`transB = 1`, PyTorch's `[out, in]` weights)
/// with `Relu` between them; input `input` (`[N, in]` or `[N, c, h, w]`), output
/// `logits` `[N, C]` — loadable by `tessera infer` and any ONNX runtime.
///
/// # Errors
/// Parameters that do not fit the spec.
pub fn to_onnx(spec: &TrainSpec, params: &[Vec<R>]) -> Result<Vec<u8>> {
    use prost::Message;
    use tessera_models::onnx::proto as pb;
    if params.len() != 2 * spec.layers() {
        return Err(Error::shape(
            "trained parameters",
            format!("{} tensors for {} layers", params.len(), spec.layers()),
        ));
    }
    let scale = f64::from(spec.frac_bits).exp2();
    let dec = |r: R| (r.to_i64() as f64 / scale) as f32;
    let tensor = |name: String, dims: Vec<i64>, data: Vec<f32>| pb::TensorProto {
        dims,
        data_type: 1,
        float_data: data,
        name,
        ..Default::default()
    };
    let value = |name: &str, dims: &[i64]| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            tensor_type: Some(pb::TypeProtoTensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| pb::Dimension {
                            value: Some(if d < 0 {
                                pb::DimensionValue::DimParam("N".into())
                            } else {
                                pb::DimensionValue::DimValue(d)
                            }),
                            denotation: String::new(),
                        })
                        .collect(),
                }),
            }),
            denotation: String::new(),
        }),
        ..Default::default()
    };
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut prev = "input".to_string();
    let geo = spec.geometry();
    let off = spec.convs.len();
    let attr_i = |name: &str, i: i64| pb::AttributeProto {
        name: name.into(),
        i,
        r#type: 2,
        ..Default::default()
    };
    for (l, g) in geo.iter().enumerate() {
        let (k, o) = (g.inp, g.out);
        let w = &params[2 * l];
        let b = &params[2 * l + 1];
        if w.len() != k * o || b.len() != o {
            return Err(Error::shape(
                format!("trained layer {}", l + 1),
                format!("{} weights and {} biases for {k} → {o}", w.len(), b.len()),
            ));
        }
        let bias: Vec<f32> = b.iter().map(|&v| dec(v)).collect();
        let last = l + 1 == geo.len();
        if let Some(c) = spec.convs.get(l) {
            // Ours is [c·k·k, out]; Conv takes [out, c, k, k], the same entry order
            // (ONNX's activations are [c, h, w] where ours are channels last after the
            // first convolution: the kernel reads the same values).
            let wt: Vec<f32> = (0..o)
                .flat_map(|j| (0..k).map(move |i| dec(w[i * o + j])))
                .collect();
            let dims = vec![o as i64, c.input[0] as i64, c.k as i64, c.k as i64];
            let n = l + 1;
            let (cn, wn, bn) = (
                format!("conv{n}"),
                format!("conv{n}.weight"),
                format!("conv{n}.bias"),
            );
            inits.push(tensor(wn.clone(), dims, wt));
            inits.push(tensor(bn.clone(), vec![o as i64], bias));
            nodes.push(pb::NodeProto {
                input: vec![prev.clone(), wn, bn],
                output: vec![cn.clone()],
                name: cn.clone(),
                op_type: "Conv".into(),
                attribute: vec![
                    pb::AttributeProto {
                        name: "strides".into(),
                        ints: vec![c.stride as i64; 2],
                        r#type: 7,
                        ..Default::default()
                    },
                    pb::AttributeProto {
                        name: "pads".into(),
                        ints: vec![c.pad as i64; 4],
                        r#type: 7,
                        ..Default::default()
                    },
                ],
                ..Default::default()
            });
            let ints = |name: &str, v: i64| pb::AttributeProto {
                name: name.into(),
                ints: vec![v; 2],
                r#type: 7,
                ..Default::default()
            };
            let (relu, pool, flat) = (format!("relu{n}"), format!("pool{n}"), format!("flat{n}"));
            let mut chain = vec![("Relu", cn.clone(), relu.clone(), Vec::new())];
            let mut last = relu.clone();
            if c.pool > 1 {
                let p = c.pool as i64;
                chain.push((
                    if c.max_pool { "MaxPool" } else { "AveragePool" },
                    relu,
                    pool.clone(),
                    vec![ints("kernel_shape", p), ints("strides", p)],
                ));
                last = pool;
            }
            if l + 1 == off {
                chain.push((
                    "Flatten",
                    last.clone(),
                    flat.clone(),
                    vec![attr_i("axis", 1)],
                ));
                last = flat;
            }
            for (op, from, to, attribute) in chain {
                nodes.push(pb::NodeProto {
                    input: vec![from],
                    output: vec![to.clone()],
                    name: to,
                    op_type: op.into(),
                    attribute,
                    ..Default::default()
                });
            }
            prev = last;
            continue;
        }
        // Ours are [in, out]; Gemm with transB takes [out, in]. After the convolution
        // our input is position-major (pos·C + c), ONNX's Flatten channel-major.
        let row = |i: usize| -> usize {
            match spec.convs.last() {
                Some(c) if l == off => {
                    let p = c.outputs() / c.out;
                    let (ch, pos) = (i / p, i % p);
                    pos * c.out + ch
                }
                _ => i,
            }
        };
        let wt: Vec<f32> = (0..o)
            .flat_map(|j| (0..k).map(move |i| dec(w[row(i) * o + j])))
            .collect();
        let n = l + 1 - off;
        let (wn, bn) = (format!("fc{n}.weight"), format!("fc{n}.bias"));
        inits.push(tensor(wn.clone(), vec![o as i64, k as i64], wt));
        inits.push(tensor(bn.clone(), vec![o as i64], bias));
        let out = if last {
            "logits".to_string()
        } else {
            format!("fc{n}")
        };
        nodes.push(pb::NodeProto {
            input: vec![prev.clone(), wn, bn],
            output: vec![out.clone()],
            name: format!("fc{n}"),
            op_type: "Gemm".into(),
            attribute: vec![attr_i("transB", 1)],
            ..Default::default()
        });
        prev = out;
        if !last {
            let r = format!("relu_fc{n}");
            nodes.push(pb::NodeProto {
                input: vec![prev.clone()],
                output: vec![r.clone()],
                name: r.clone(),
                op_type: "Relu".into(),
                ..Default::default()
            });
            prev = r;
        }
    }
    let input_dims: Vec<i64> = match spec.convs.first() {
        Some(c) => std::iter::once(-1)
            .chain(c.input.iter().map(|&d| d as i64))
            .collect(),
        None => vec![-1, spec.inputs() as i64],
    };
    let model = pb::ModelProto {
        ir_version: 8,
        producer_name: "tessera train".into(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            node: nodes,
            name: "trained".into(),
            initializer: inits,
            input: vec![value("input", &input_dims)],
            output: vec![value("logits", &[-1, spec.classes() as i64])],
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}
