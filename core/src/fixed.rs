//! Signed fixed-point encoding of reals into Z_2^ℓ.
//!
//! A real `x` is encoded as the ring element `round(x · 2^f)` in two's complement,
//! where `f` is the number of fractional bits. Decoding reads the signed
//! representative and divides by 2^f, so `|decode(encode(x)) − x| ≤ 2^-(f+1)`.
//! Encodable values satisfy `|x · 2^f| < 2^(ℓ-1)`.

use serde::{Deserialize, Serialize};

use crate::{Error, Result, Ring};

/// A fixed-point format: `frac_bits` fractional bits in the ring `R`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FixedPoint {
    /// Number of fractional bits `f`.
    pub frac_bits: u32,
}

impl Default for FixedPoint {
    /// 16 fractional bits (the default for Z_2^64).
    fn default() -> Self {
        FixedPoint { frac_bits: 16 }
    }
}

impl FixedPoint {
    /// A format with `frac_bits` fractional bits.
    pub const fn new(frac_bits: u32) -> Self {
        FixedPoint { frac_bits }
    }

    /// The scale 2^f.
    pub fn scale(self) -> f64 {
        (self.frac_bits as f64).exp2()
    }

    /// The largest magnitude representable in ring `R` (exclusive bound).
    pub fn max_abs<R: Ring>(self) -> f64 {
        ((R::BITS - 1) as f64).exp2() / self.scale()
    }

    /// Encodes `x`, rounding to the nearest multiple of 2^-f.
    ///
    /// # Errors
    /// [`Error::FixedPoint`] if `x` is NaN, infinite, or `|x·2^f| ≥ 2^(ℓ-1)`, and
    /// [`Error::Config`] if `f ≥ ℓ - 1`.
    pub fn encode<R: Ring>(self, x: f64) -> Result<R> {
        if self.frac_bits >= R::BITS - 1 {
            return Err(Error::Config {
                what: "fixed-point format",
                reason: format!(
                    "{} fractional bits leave no integer part in Z_2^{}",
                    self.frac_bits,
                    R::BITS
                ),
            });
        }
        let err = |reason| Error::FixedPoint {
            value: x,
            frac_bits: self.frac_bits,
            ring_bits: R::BITS,
            reason,
        };
        if x.is_nan() {
            return Err(err("not a number"));
        }
        if x.is_infinite() {
            return Err(err("infinite"));
        }
        let scaled = (x * self.scale()).round();
        let bound = ((R::BITS - 1) as f64).exp2();
        if scaled >= bound || scaled < -bound {
            return Err(err("out of range"));
        }
        Ok(R::from_i64(scaled as i64))
    }

    /// Encodes every value of `xs`.
    ///
    /// # Errors
    /// As [`FixedPoint::encode`], for the first value that fails.
    pub fn encode_slice<R: Ring>(self, xs: &[f64]) -> Result<Vec<R>> {
        xs.iter().map(|&x| self.encode(x)).collect()
    }

    /// Decodes the signed representative of `v` as a real.
    pub fn decode<R: Ring>(self, v: R) -> f64 {
        v.to_i64() as f64 / self.scale()
    }

    /// Decodes every value of `vs`.
    pub fn decode_slice<R: Ring>(self, vs: &[R]) -> Vec<f64> {
        vs.iter().map(|&v| self.decode(v)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Z32, Z64};

    #[test]
    fn rejects_non_finite_and_out_of_range() {
        let f = FixedPoint::default();
        assert!(matches!(
            f.encode::<Z64>(f64::NAN),
            Err(Error::FixedPoint {
                reason: "not a number",
                ..
            })
        ));
        assert!(matches!(
            f.encode::<Z64>(f64::INFINITY),
            Err(Error::FixedPoint {
                reason: "infinite",
                ..
            })
        ));
        assert!(matches!(
            f.encode::<Z32>(40000.0),
            Err(Error::FixedPoint {
                reason: "out of range",
                ..
            })
        ));
        assert!(f.encode::<Z32>(-32768.0).is_ok());
        assert!(f.encode::<Z32>(32768.0).is_err());
        assert!(FixedPoint::new(31).encode::<Z32>(0.5).is_err());
    }

    #[test]
    fn negative_values_round_trip() {
        let f = FixedPoint::new(16);
        let v: Z64 = f.encode(-1.5).unwrap();
        assert_eq!(f.decode(v), -1.5);
    }
}
