//! Arithmetic sharing (A): additive 2-out-of-2 shares over Z_2^ℓ held as ndarray
//! tensors, with local linear operations, Beaver multiplication for every bilinear
//! map, plaintext-weight layers and fixed-point truncation.
//!
//! # Model
//! Two semi-honest parties hold `X = X_0 + X_1 mod 2^ℓ`; a semi-honest dealer that
//! colludes with neither supplies correlations offline (see [`crate::dealer`]). Every
//! interactive operation is vectorised: one round per interactive layer, whatever the
//! tensor size.
//!
//! # Layout
//! Protocol steps are pure functions ([`beaver`], [`trunc`], [`plain`]) that take the
//! peer's message and return the next one, so both parties can be stepped in one unit
//! test. [`ArithParty`] is the thin async driver that takes correlations from a
//! [`Provider`] and moves the messages.
//!
//! | operation | rounds | online elements sent per party |
//! |---|---|---|
//! | add, sub, neg, public add/scale, sum, sum-pool, local truncation | 0 | 0 |
//! | input (owner) | 1 | `n` (owner only) |
//! | reveal to both / to one | 1 | `n` (both / the other) |
//! | Beaver `f(X, Y)` (mul, matmul, conv2d, dot) | 1 | `|X| + |Y|` |
//! | square | 1 | `n` |
//! | dealer truncation | 1 | `n` |
//! | plaintext-weight layer | 1 | `|X|` (party 1 only) |

pub mod beaver;
pub mod bilinear;
pub mod plain;
pub mod trunc;
pub mod window;

use std::borrow::Cow;

use ndarray::{ArrayD, Axis, IxDyn};
use tessera_core::{Channel, FixedPoint, Prg, Ring};

use crate::preprocessing::Provider;
use crate::{Error, Result};
use bilinear::{Bilinear, BilinearOp, Conv2dParams};
pub use plain::PlainWeights;
pub use trunc::TruncMode;

/// The elements of `a` in row-major order, borrowed when contiguous.
pub(crate) fn flat<R: Ring>(a: &ArrayD<R>) -> Cow<'_, [R]> {
    match a.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(a.iter().copied().collect()),
    }
}

/// A tensor of `shape` from row-major data.
pub(crate) fn array_from<R: Ring>(shape: &[usize], v: Vec<R>) -> Result<ArrayD<R>> {
    ArrayD::from_shape_vec(IxDyn(shape), v).map_err(|e| Error::shape("tensor", e.to_string()))
}

/// One party's additive share of a tensor over Z_2^ℓ. `Debug` prints the shape only.
#[derive(Clone, PartialEq, Eq)]
pub struct AShare<R: Ring> {
    data: ArrayD<R>,
}

impl<R: Ring> std::fmt::Debug for AShare<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AShare({}, shape {:?})", R::NAME, self.data.shape())
    }
}

fn same_shape(op: &'static str, a: &[usize], b: &[usize]) -> Result<()> {
    if a != b {
        return Err(Error::shape(op, format!("{a:?} vs {b:?}")));
    }
    Ok(())
}

impl<R: Ring> AShare<R> {
    /// Wraps a share tensor (e.g. one received from another protocol).
    pub fn from_array(data: ArrayD<R>) -> Self {
        AShare { data }
    }

    /// A share of zero.
    pub fn zeros(shape: &[usize]) -> Self {
        AShare {
            data: ArrayD::from_elem(IxDyn(shape), R::zero()),
        }
    }

    /// Party `party`'s share of the public tensor `c` (party 0 holds `c`, party 1
    /// zero). Such shares are not random: re-randomise before local truncation.
    pub fn from_public(party: usize, c: &ArrayD<R>) -> Self {
        if party == 0 {
            AShare { data: c.clone() }
        } else {
            Self::zeros(c.shape())
        }
    }

    /// The share tensor.
    pub fn array(&self) -> &ArrayD<R> {
        &self.data
    }

    /// The share tensor, by value.
    pub fn into_array(self) -> ArrayD<R> {
        self.data
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn zip(&self, o: &AShare<R>, op: &'static str, f: impl Fn(R, R) -> R) -> Result<Self> {
        same_shape(op, self.shape(), o.shape())?;
        let (a, b) = (flat(&self.data), flat(&o.data));
        let v = a.iter().zip(b.iter()).map(|(&x, &y)| f(x, y)).collect();
        Ok(AShare::from_array(array_from(self.shape(), v)?))
    }

    /// `[X + Y]` (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn add(&self, o: &AShare<R>) -> Result<Self> {
        self.zip(o, "add", |x, y| x + y)
    }

    /// `[X − Y]` (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn sub(&self, o: &AShare<R>) -> Result<Self> {
        self.zip(o, "sub", |x, y| x - y)
    }

    /// `[−X]` (local).
    pub fn neg(&self) -> Self {
        AShare::from_array(self.data.mapv(|x| -x))
    }

    /// `[X + C]` for a public tensor `C` (party 0 adds it).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn add_public(&self, party: usize, c: &ArrayD<R>) -> Result<Self> {
        same_shape("add_public", self.shape(), c.shape())?;
        if party == 0 {
            self.zip(&AShare::from_array(c.clone()), "add_public", |x, y| x + y)
        } else {
            Ok(self.clone())
        }
    }

    /// `[X + c]` for a public scalar (party 0 adds it).
    pub fn add_scalar(&self, party: usize, c: R) -> Self {
        if party == 0 {
            AShare::from_array(self.data.mapv(|x| x + c))
        } else {
            self.clone()
        }
    }

    /// `[c · X]` for a public scalar (local).
    pub fn mul_scalar(&self, c: R) -> Self {
        AShare::from_array(self.data.mapv(|x| x * c))
    }

    /// `[C ⊙ X]` for a public tensor (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes differ.
    pub fn mul_public(&self, c: &ArrayD<R>) -> Result<Self> {
        self.zip(&AShare::from_array(c.clone()), "mul_public", |x, y| x * y)
    }

    /// `[f(X, W)]` for a public right operand `W` (local, by linearity in `X`).
    ///
    /// # Errors
    /// [`Error::Shape`] if the shapes do not fit `op`.
    pub fn bilinear_public(&self, op: BilinearOp, w: &ArrayD<R>) -> Result<Self> {
        Ok(AShare::from_array(op.apply(self.data.view(), w.view())?))
    }

    /// `[Σ X]` as a 0-dimensional tensor (local).
    pub fn sum(&self) -> Self {
        let s = flat(&self.data).iter().fold(R::zero(), |a, &b| a + b);
        AShare::from_array(ArrayD::from_elem(IxDyn(&[]), s))
    }

    /// The sum along `axis`, removing it (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the axis does not exist.
    pub fn sum_axis(&self, axis: usize) -> Result<Self> {
        if axis >= self.data.ndim() {
            return Err(Error::shape(
                "sum_axis",
                format!("axis {axis} of a {}-dimensional tensor", self.data.ndim()),
            ));
        }
        Ok(AShare::from_array(self.data.sum_axis(Axis(axis))))
    }

    /// Sum pooling of `[N, C, H, W]` over `k × k` windows with stride `stride`, no
    /// padding (local): output `[N, C, (H−k)/s+1, (W−k)/s+1]`.
    ///
    /// # Errors
    /// [`Error::Shape`] if the input is not 4-D or the window does not fit.
    pub fn sum_pool2d(&self, k: usize, stride: usize) -> Result<Self> {
        let &[n, c, h, w] = self.shape() else {
            return Err(Error::shape(
                "sum_pool2d",
                format!("need [N, C, H, W], got {:?}", self.shape()),
            ));
        };
        if k == 0 || stride == 0 || k > h || k > w {
            return Err(Error::shape(
                "sum_pool2d",
                format!("window {k} with stride {stride} does not fit {h}×{w}"),
            ));
        }
        let (oh, ow) = ((h - k) / stride + 1, (w - k) / stride + 1);
        let x = flat(&self.data);
        let mut out = vec![R::zero(); n * c * oh * ow];
        for img in 0..n * c {
            let src = &x[img * h * w..(img + 1) * h * w];
            let dst = &mut out[img * oh * ow..(img + 1) * oh * ow];
            for i in 0..oh {
                for j in 0..ow {
                    let mut s = R::zero();
                    for di in 0..k {
                        let row = &src[(i * stride + di) * w + j * stride..][..k];
                        for &v in row {
                            s += v;
                        }
                    }
                    dst[i * ow + j] = s;
                }
            }
        }
        Ok(AShare::from_array(array_from(&[n, c, oh, ow], out)?))
    }

    /// A local linear re-indexing of every example: `x: [N, …]` with `per_in` values
    /// per example becomes `[N, idx.len() / taps]`, output `j` of an example being the
    /// sum of the example's values at `idx[j·taps .. (j+1)·taps]` (`None`: zero).
    /// With `taps = 1` a gather (padding, transposition, slicing); with more, window
    /// sums (sum pooling of any geometry).
    ///
    /// # Errors
    /// [`Error::Shape`] if the sizes do not fit or an index is out of range.
    pub fn gather_sum(&self, per_in: usize, idx: &[Option<usize>], taps: usize) -> Result<Self> {
        let x = flat(&self.data);
        let bad = |why: String| Err(Error::shape("gather_sum", why));
        if per_in == 0
            || taps == 0
            || !x.len().is_multiple_of(per_in)
            || !idx.len().is_multiple_of(taps)
        {
            return bad(format!(
                "{} values in examples of {per_in}, {} indices in windows of {taps}",
                x.len(),
                idx.len()
            ));
        }
        if idx.iter().flatten().any(|&i| i >= per_in) {
            return bad(format!("an index outside an example of {per_in} values"));
        }
        let n = x.len() / per_in;
        let per_out = idx.len() / taps;
        let mut out = Vec::with_capacity(n * per_out);
        for ex in x.chunks_exact(per_in) {
            for w in idx.chunks_exact(taps) {
                out.push(w.iter().flatten().fold(R::zero(), |a, &i| a + ex[i]));
            }
        }
        Ok(AShare::from_array(array_from(&[n, per_out], out)?))
    }

    /// The same share with another shape of equal size (local).
    ///
    /// # Errors
    /// [`Error::Shape`] if the sizes differ.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        let v = flat(&self.data).into_owned();
        if v.len() != shape.iter().product::<usize>() {
            return Err(Error::shape(
                "reshape",
                format!("{:?} into {shape:?}", self.shape()),
            ));
        }
        Ok(AShare::from_array(array_from(shape, v)?))
    }
}

/// The public integer `round(2^f / k²)` by which [`ArithParty::avg_pool2d`] scales a
/// `k × k` window sum before truncating by `f`.
pub fn avg_pool_scale<R: Ring>(fp: FixedPoint, k: usize) -> R {
    R::from_u64((fp.scale() / (k * k) as f64).round() as u64)
}

/// One party of the arithmetic sharing: its index, the channel to the peer, its
/// correlation provider and a CSPRNG for input sharing.
pub struct ArithParty<R: Ring> {
    party: usize,
    ch: Channel,
    provider: Box<dyn Provider<R>>,
    rng: Prg,
}

impl<R: Ring> std::fmt::Debug for ArithParty<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArithParty")
            .field("party", &self.party)
            .field("ring", &R::NAME)
            .field("channel", &self.ch)
            .field("correlations_left", &self.provider.remaining())
            .finish_non_exhaustive()
    }
}

impl<R: Ring> ArithParty<R> {
    /// A party over `ch` (connected to the other party) taking correlations from
    /// `provider`; the party index is the provider's.
    pub fn new(ch: Channel, provider: Box<dyn Provider<R>>) -> Self {
        ArithParty {
            party: provider.party(),
            ch,
            provider,
            rng: Prg::from_entropy(),
        }
    }

    /// This party's index (0 or 1).
    pub fn party(&self) -> usize {
        self.party
    }

    /// The channel to the peer.
    pub fn channel(&self) -> &Channel {
        &self.ch
    }

    /// The channel to the peer, mutable (e.g. to change the metering phase).
    pub fn channel_mut(&mut self) -> &mut Channel {
        &mut self.ch
    }

    /// The correlation provider (other sharings take their Boolean correlations here).
    pub fn provider_mut(&mut self) -> &mut dyn Provider<R> {
        self.provider.as_mut()
    }

    /// The channel and the provider at once (protocols that take correlations while
    /// they talk, such as GMW and the conversions).
    pub fn parts_mut(&mut self) -> (&mut Channel, &mut dyn Provider<R>) {
        (&mut self.ch, self.provider.as_mut())
    }

    /// The channel and the provider.
    pub fn into_parts(self) -> (Channel, Box<dyn Provider<R>>) {
        (self.ch, self.provider)
    }

    async fn exchange(&mut self, msg: Vec<R>) -> Result<Vec<R>> {
        Ok(self.ch.exchange_pod(msg).await?)
    }

    /// Shares this party's private input `x`: draws the peer's share uniformly and sends
    /// it (one message). The peer calls [`ArithParty::receive_input`].
    ///
    /// # Errors
    /// Transport errors.
    pub async fn share_input(&mut self, x: &ArrayD<R>) -> Result<AShare<R>> {
        let peer = R::random_vec(&mut self.rng, x.len());
        let own: Vec<R> = flat(x).iter().zip(&peer).map(|(&x, &r)| x - r).collect();
        self.ch.send_ring(peer).await?;
        Ok(AShare::from_array(array_from(x.shape(), own)?))
    }

    /// Receives this party's share of the peer's input of `shape`.
    ///
    /// # Errors
    /// Transport errors, or a message of the wrong size.
    pub async fn receive_input(&mut self, shape: &[usize]) -> Result<AShare<R>> {
        let n = shape.iter().product();
        let v = self.ch.recv_ring(n).await?;
        Ok(AShare::from_array(array_from(shape, v)?))
    }

    /// Opens `x` to both parties (one round).
    ///
    /// # Errors
    /// Transport errors.
    pub async fn reveal(&mut self, x: &AShare<R>) -> Result<ArrayD<R>> {
        let mine = flat(x.array()).into_owned();
        let theirs = self.exchange(mine.clone()).await?;
        let v = mine.iter().zip(&theirs).map(|(&a, &b)| a + b).collect();
        array_from(x.shape(), v)
    }

    /// Opens `x` to party `to` only: the other party sends its share; `to` gets
    /// `Some(x)`, the other `None`.
    ///
    /// # Errors
    /// Transport errors; [`Error::InvalidArgument`] if `to > 1`.
    pub async fn reveal_to(&mut self, x: &AShare<R>, to: usize) -> Result<Option<ArrayD<R>>> {
        if to > 1 {
            return Err(Error::InvalidArgument {
                op: "reveal_to",
                detail: format!("party {to} does not exist"),
            });
        }
        if to == self.party {
            let theirs = self.ch.recv_ring::<R>(x.len()).await?;
            let v = flat(x.array())
                .iter()
                .zip(&theirs)
                .map(|(&a, &b)| a + b)
                .collect();
            Ok(Some(array_from(x.shape(), v)?))
        } else {
            self.ch.send_ring(flat(x.array()).into_owned()).await?;
            Ok(None)
        }
    }

    /// `[f(X, Y)]` for any bilinear map, by one Beaver triple (one round).
    ///
    /// # Errors
    /// Shape errors, preprocessing errors ([`Error::Exhausted`],
    /// [`Error::WrongCorrelation`]), transport errors.
    pub async fn bilinear(
        &mut self,
        op: BilinearOp,
        x: &AShare<R>,
        y: &AShare<R>,
    ) -> Result<AShare<R>> {
        op.output_shape(x.shape(), y.shape())?;
        let triple = self.provider.take_beaver(op, x.shape(), y.shape())?;
        let (state, msg) = beaver::beaver_open(self.party, op, x, y, triple)?;
        let peer = self.exchange(msg).await?;
        beaver::beaver_close(self.ch.threads(), state, &peer)
    }

    /// `[X ⊙ Y]`.
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`].
    pub async fn mul(&mut self, x: &AShare<R>, y: &AShare<R>) -> Result<AShare<R>> {
        self.bilinear(BilinearOp::Elementwise, x, y).await
    }

    /// `[X · Y]` for `X: [m, k]`, `Y: [k, n]`.
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`].
    pub async fn matmul(&mut self, x: &AShare<R>, y: &AShare<R>) -> Result<AShare<R>> {
        self.bilinear(BilinearOp::MatMul, x, y).await
    }

    /// 2-D convolution of `X: [N, C, H, W]` with a shared kernel `K: [O, C, kh, kw]`.
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`].
    pub async fn conv2d(
        &mut self,
        x: &AShare<R>,
        k: &AShare<R>,
        p: Conv2dParams,
    ) -> Result<AShare<R>> {
        self.bilinear(BilinearOp::Conv(p.into()), x, k).await
    }

    /// `[⟨x, y⟩]` of two vectors of length `n` (a 0-dimensional result), by a
    /// `[1, n]·[n, 1]` matrix triple: the dealer sends one element, not `n`.
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`]; [`Error::Shape`] unless both are 1-D of one length.
    pub async fn dot(&mut self, x: &AShare<R>, y: &AShare<R>) -> Result<AShare<R>> {
        let n = match (x.shape(), y.shape()) {
            (&[n], &[m]) if n == m => n,
            (a, b) => {
                return Err(Error::shape(
                    "dot",
                    format!("need two [n] vectors, got {a:?} and {b:?}"),
                ));
            }
        };
        let z = self
            .bilinear(
                BilinearOp::MatMul,
                &x.reshape(&[1, n])?,
                &y.reshape(&[n, 1])?,
            )
            .await?;
        z.reshape(&[])
    }

    /// `[X ⊙ X]` by a square pair (one round, `n` elements each way).
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`].
    pub async fn square(&mut self, x: &AShare<R>) -> Result<AShare<R>> {
        let pair = self.provider.take_square(x.shape())?;
        let (state, msg) = beaver::square_open(self.party, x, pair)?;
        let peer = self.exchange(msg).await?;
        beaver::square_close(state, &peer)
    }

    /// `[⌊X / 2^f⌋ + e]`, `e ∈ {0, 1}` (see [`trunc`] for the exact bounds of each mode).
    ///
    /// # Errors
    /// Preprocessing and transport errors (dealer mode); [`Error::InvalidArgument`] for
    /// `f` outside `1..=ℓ−2`.
    pub async fn trunc(&mut self, x: &AShare<R>, f: u32, mode: TruncMode) -> Result<AShare<R>> {
        match mode {
            TruncMode::Local => trunc::trunc_local(self.party, x, f),
            TruncMode::Dealer => {
                let pair = self.provider.take_trunc(f, x.shape())?;
                let (state, msg) = trunc::trunc_open(self.party, x, pair)?;
                let peer = self.exchange(msg).await?;
                trunc::trunc_close(state, &peer)
            }
        }
    }

    /// Fixed-point `f(X, Y)` with `fp.frac_bits` fractional bits: the Beaver product
    /// then a truncation (two rounds in dealer mode, one in local mode).
    ///
    /// # Errors
    /// As [`ArithParty::bilinear`] and [`ArithParty::trunc`].
    pub async fn bilinear_fixed(
        &mut self,
        op: BilinearOp,
        x: &AShare<R>,
        y: &AShare<R>,
        fp: FixedPoint,
        mode: TruncMode,
    ) -> Result<AShare<R>> {
        let z = self.bilinear(op, x, y).await?;
        self.trunc(&z, fp.frac_bits, mode).await
    }

    /// Fixed-point `X ⊙ Y`.
    ///
    /// # Errors
    /// As [`ArithParty::bilinear_fixed`].
    pub async fn mul_fixed(
        &mut self,
        x: &AShare<R>,
        y: &AShare<R>,
        fp: FixedPoint,
        mode: TruncMode,
    ) -> Result<AShare<R>> {
        self.bilinear_fixed(BilinearOp::Elementwise, x, y, fp, mode)
            .await
    }

    /// Fixed-point average pooling of `[N, C, H, W]` over `k × k` windows: the local
    /// window sum, scaled by the public [`avg_pool_scale`] `q = round(2^f/k²)`, then
    /// truncated by `f`. The result is `⌊S·q / 2^f⌋ + e` for the window sum `S`,
    /// `e ∈ {0,1}` (plus the representation error `|q/2^f − 1/k²| ≤ 2^-(f+1)` per unit
    /// of `S`).
    ///
    /// # Errors
    /// As [`AShare::sum_pool2d`] and [`ArithParty::trunc`].
    pub async fn avg_pool2d(
        &mut self,
        x: &AShare<R>,
        k: usize,
        stride: usize,
        fp: FixedPoint,
        mode: TruncMode,
    ) -> Result<AShare<R>> {
        let s = x
            .sum_pool2d(k, stride)?
            .mul_scalar(avg_pool_scale::<R>(fp, k));
        self.trunc(&s, fp.frac_bits, mode).await
    }

    /// Set-up of a plaintext-weight layer (charged to the set-up phase): party 0 passes
    /// `Some(W)`, party 1 `None`; both pass the weight's shape and the mask index from
    /// [`Demand::weight_mask`](crate::preprocessing::Demand::weight_mask). Party 0
    /// sends `W − U` once.
    ///
    /// # Errors
    /// Preprocessing, shape and transport errors; [`Error::InvalidArgument`] if party 0
    /// has no weight or party 1 has one.
    pub async fn setup_plain_weights(
        &mut self,
        mask: usize,
        shape: &[usize],
        weight: Option<ArrayD<R>>,
    ) -> Result<PlainWeights<R>> {
        let m = self.provider.take_weight_mask(shape)?;
        let previous = self.ch.phase();
        self.ch.set_phase(tessera_core::Phase::Setup);
        let r = match (self.party, weight) {
            (0, Some(w)) => {
                let (handle, msg) = plain::setup_owner(mask, w, m)?;
                self.ch.send_ring(msg).await?;
                Ok(handle)
            }
            (1, None) => {
                let n = shape.iter().product();
                let msg = self.ch.recv_ring::<R>(n).await?;
                plain::setup_peer(mask, shape, msg)
            }
            (p, w) => Err(Error::InvalidArgument {
                op: "setup_plain_weights",
                detail: format!(
                    "party {p} {} a weight; only party 0 holds one",
                    if w.is_some() {
                        "passed"
                    } else {
                        "did not pass"
                    }
                ),
            }),
        };
        self.ch.set_phase(previous);
        r
    }

    /// `[f(X, W)]` for party 0's plaintext weight `W` (see [`plain`]): party 1 sends one
    /// activation-sized message, party 0 nothing.
    ///
    /// # Errors
    /// Shape, preprocessing and transport errors.
    pub async fn plain_layer(
        &mut self,
        op: BilinearOp,
        w: &PlainWeights<R>,
        x: &AShare<R>,
    ) -> Result<AShare<R>> {
        op.output_shape(x.shape(), w.shape())?;
        let m = self
            .provider
            .take_plain_weight(op, w.mask(), x.shape(), w.shape())?;
        if self.party == 0 {
            let peer = self.ch.recv_ring::<R>(x.len()).await?;
            plain::layer_owner(self.ch.threads(), op, w, x, m, peer)
        } else {
            let (state, msg) = plain::layer_peer_open(op, w, x, m)?;
            self.ch.send_ring(msg).await?;
            plain::layer_peer_close(self.ch.threads(), state)
        }
    }
}
