//! Truncation of shared fixed-point values: `[x] ↦ [⌊x / 2^f⌋ + e]` after a
//! fixed-point product doubled the fractional bits.
//!
//! Security model: semi-honest parties and a non-colluding dealer (for the dealer
//! mode); the opened `c` is uniform, and local truncation sends nothing.
//!
//! Throughout, `x` is the signed (two's-complement) value of the shared ring element.
//!
//! # Dealer-assisted truncation ([`TruncMode::Dealer`])
//! Material (per element, see [`TruncPair`]): shares of a uniform `r ∈ Z_2^ℓ`, of
//! its top bit `r_msb`, and of `r_mid = ⌊(r mod 2^(ℓ−1)) / 2^f⌋`.
//!
//! 1. Shift into the non-negative half: `x' = x + 2^(ℓ−2)`, so `x' ∈ [0, 2^(ℓ−1))`
//!    when `x ∈ [−2^(ℓ−2), 2^(ℓ−2))`.
//! 2. Open `c = x' + r mod 2^ℓ` (one message each way; `c` is uniform, so perfectly
//!    hiding). Write `c' = c mod 2^(ℓ−1)` and `r' = r mod 2^(ℓ−1)`.
//! 3. Because `x' + r' < 2^ℓ`, `x' + r' = c' + 2^(ℓ−1)·β` with the carry
//!    `β = c_msb ⊕ r_msb = c_msb + r_msb − 2·c_msb·r_msb` — linear in `[r_msb]` since
//!    `c_msb` is public.
//! 4. Output `⌊c'/2^f⌋ − [r_mid] + 2^(ℓ−1−f)·[β] − 2^(ℓ−2−f)`.
//!
//! With `c' = C·2^f + c_l`, `r' = ρ·2^f + r_l`: `x' = (C − ρ + 2^(ℓ−1−f)β)·2^f + (c_l − r_l)`
//! and `c_l − r_l ∈ (−2^f, 2^f)`, so `⌊x'/2^f⌋ = C − ρ + 2^(ℓ−1−f)β − [c_l < r_l]`.
//! Since `2^f` divides `2^(ℓ−2)`, the output is
//!
//! **`⌊x / 2^f⌋ + e` with `e ∈ {0, 1}`, exactly, with failure probability 0**, for
//! every `x ∈ [−2^(ℓ−2), 2^(ℓ−2))` and `1 ≤ f ≤ ℓ − 2`. Moreover `e = 1` exactly when
//! `(x mod 2^f) + r_l ≥ 2^f`, which for uniform `r_l` has probability
//! `(x mod 2^f)/2^f`: the rounding is stochastic and unbiased. Cost: one round, `ℓ`
//! bits each way per element; the dealer sends party 1 `2ℓ` bits per element.
//!
//! # Local truncation of SecureML ([`TruncMode::Local`])
//! Mohassel and Zhang (SecureML, S&P 2017, §4.1): party 0 outputs `⌊x_0 / 2^f⌋` and
//! party 1 outputs `−⌊(−x_1 mod 2^ℓ) / 2^f⌋`, shifts of the unsigned representatives.
//! No communication. Let `|x| < 2^k` and let `x_0` be uniform and independent of `x`
//! (true of every share produced by this crate's protocols; not of a public constant
//! embedded as `(x, 0)`). Writing `u = x_0` (unsigned) and `x = X·2^f + ξ`,
//! `0 ≤ ξ < 2^f`:
//!
//! - if no wrap occurs (`u ≥ x` for `x ≥ 0`; `u < 2^ℓ − |x|` for `x < 0`), then
//!   `−x_1 mod 2^ℓ = u − x` and the output is `⌊x/2^f⌋ + e`, `e = [u mod 2^f < ξ] ∈ {0, 1}`;
//! - otherwise the output is `⌊x/2^f⌋ + e ∓ 2^(ℓ−f)` (a huge error).
//!
//! So **the error is `e ∈ {0, 1}` with probability `1 − |x|/2^ℓ ≥ 1 − 2^(k−ℓ)`**, and
//! off by `2^(ℓ−f)` otherwise. For ℓ = 64 and `|x| < 2^40` the failure probability is
//! below 2^-24 per element; for ℓ = 32 local truncation is only usable with very
//! small values (2^-10 per element at `|x| < 2^22`).

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use tessera_core::Ring;

use super::{AShare, array_from, flat};
use crate::preprocessing::TruncPair;
use crate::{Error, Result};

/// How to truncate after a fixed-point product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TruncMode {
    /// Dealer-assisted: one round, exact up to `+1` (no failure) for
    /// `|x| < 2^(ℓ−2)`.
    Dealer,
    /// SecureML's local shift: no communication, error `+1` except with probability
    /// `|x|/2^ℓ`.
    Local,
}

fn pow2<R: Ring>(k: u32) -> R {
    R::from_u64(1u64 << k)
}

fn check_f<R: Ring>(f: u32) -> Result<()> {
    if f == 0 || f > R::BITS - 2 {
        return Err(Error::InvalidArgument {
            op: "truncation",
            detail: format!("need 1 ≤ f ≤ {} in {}, got {f}", R::BITS - 2, R::NAME),
        });
    }
    Ok(())
}

/// This party's `x'_i + r_i`.
fn masked<R: Ring>(party: usize, x: &AShare<R>, r: &ArrayD<R>) -> Vec<R> {
    let offset = if party == 0 {
        pow2::<R>(R::BITS - 2)
    } else {
        R::zero()
    };
    let (xs, rs) = (flat(x.array()), flat(r));
    xs.iter()
        .zip(rs.iter())
        .map(|(&x, &r)| x + offset + r)
        .collect()
}

/// What a party keeps between opening and closing a dealer truncation.
pub struct TruncState<'a, R: Ring> {
    party: usize,
    pair: TruncPair<R>,
    x: &'a AShare<R>,
}

impl<R: Ring> std::fmt::Debug for TruncState<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TruncState({:?})", self.pair)
    }
}

/// Step 1 of dealer truncation: the message `x'_i + r_i`.
///
/// # Errors
/// [`Error::Shape`] if `x` does not fit the pair; [`Error::InvalidArgument`] for a
/// bad `f`.
pub fn trunc_open<'a, R: Ring>(
    party: usize,
    x: &'a AShare<R>,
    pair: TruncPair<R>,
) -> Result<(TruncState<'a, R>, Vec<R>)> {
    check_f::<R>(pair.frac_bits)?;
    if x.shape() != pair.r.shape() {
        return Err(Error::shape(
            "truncation",
            format!(
                "operand has shape {:?}, the pair was made for {:?}",
                x.shape(),
                pair.r.shape()
            ),
        ));
    }
    let msg = masked(party, x, &pair.r);
    Ok((TruncState { party, pair, x }, msg))
}

/// Step 2 of dealer truncation: this party's share of `⌊x / 2^f⌋ + e`.
///
/// # Errors
/// [`Error::Protocol`] if the peer's message has the wrong length.
pub fn trunc_close<R: Ring>(state: TruncState<'_, R>, peer: &[R]) -> Result<AShare<R>> {
    let TruncState { party, pair, x } = state;
    let mine = masked(party, x, &pair.r);
    if peer.len() != mine.len() {
        return Err(Error::Protocol {
            step: "truncation opening",
            detail: format!("{} elements, expected {}", peer.len(), mine.len()),
        });
    }
    let f = pair.frac_bits;
    let (msb, mid) = (flat(&pair.r_msb), flat(&pair.r_mid));
    let carry_weight = pow2::<R>(R::BITS - 1 - f);
    let offset = pow2::<R>(R::BITS - 2 - f);
    let one = R::one();
    let two = one + one;
    let out: Vec<R> = mine
        .iter()
        .zip(peer)
        .zip(msb.iter().zip(mid.iter()))
        .map(|((&m, &p), (&rm, &rd))| {
            let c = m + p;
            let (c_msb, c_low_shifted) = crate::preprocessing::msb_mid_pub(c, f);
            // [β] = c_msb·[i=0] + [r_msb]·(1 − 2·c_msb)
            let beta = rm * (one - two * c_msb) + if party == 0 { c_msb } else { R::zero() };
            let public = if party == 0 {
                c_low_shifted - offset
            } else {
                R::zero()
            };
            public - rd + carry_weight * beta
        })
        .collect();
    Ok(AShare::from_array(array_from(pair.r.shape(), out)?))
}

/// SecureML's local truncation of this party's share (no communication).
///
/// # Errors
/// [`Error::InvalidArgument`] for a bad `f`.
pub fn trunc_local<R: Ring>(party: usize, x: &AShare<R>, f: u32) -> Result<AShare<R>> {
    check_f::<R>(f)?;
    let out: ArrayD<R> = if party == 0 {
        x.array().mapv(|v| v.shr_logical(f))
    } else {
        x.array().mapv(|v| -((-v).shr_logical(f)))
    };
    Ok(AShare::from_array(out))
}
