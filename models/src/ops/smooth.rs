//! The smooth activations — `sigmoid` (the logistic function), `tanh`, `elu`, `selu`,
//! `softplus`, `softsign` — as [`SplineFn`]s: each one's float semantics (the
//! mathematical function, evaluated in `f64`), a Lipschitz constant and the layout of
//! its fixed-point [`Spline`](super::spline::Spline). The operator is
//! [`SplineOp`](super::spline::SplineOp) for all six.
//!
//! | function | windows `(k, s)`: `[−2^k, 2^k)`, segments `2^−s` | offset bits | below | above |
//! |---|---|---|---|---|
//! | sigmoid | `(1, 2)`, `(3, 1)` | 6 | 0 | 1 |
//! | tanh | `(2, 3)` | 6 | −1 | 1 |
//! | elu | `x < 0` only: `(0, 3)`, `(2, 2)`, `(4, 0)` | 6 | `−α` | `x` for `x ≥ 0` |
//! | selu | as elu | 6 | `−γα` | `γx` for `x ≥ 0` |
//! | softplus | `(1, 2)`, `(3, 1)` | 7 | 0 | `x` |
//! | softsign | `(0, 3)`, `(2, 1)`, `(4, −1)`, `(6, −3)`, `(8, −5)` | 6 | −1 | 1 |
//!
//! The error each achieves and its AND gates per element are measured by the tests
//! and listed in `docs/models.md`.

use super::spline::{Plan, SplineFn, TailPlan};

/// The largest `|α|`, `γ` the activations accept.
pub const MAX_PARAM: f32 = 1024.0;

fn check_param(name: &str, v: f32, zero_ok: bool) -> Result<(), String> {
    let ok = v.is_finite() && v <= MAX_PARAM && (v > 0.0 || (zero_ok && v == 0.0));
    if ok {
        Ok(())
    } else {
        let lo = if zero_ok { "0 ≤" } else { "0 <" };
        Err(format!(
            "{name} = {v}: Tessera supports {lo} {name} ≤ {MAX_PARAM}"
        ))
    }
}

/// The logistic function `σ(x) = 1/(1 + e^−x)` ([`crate::Op::Sigmoid`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Logistic;

impl SplineFn for Logistic {
    const KIND: &'static str = "sigmoid";
    fn eval(&self, x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }
    fn lipschitz(&self) -> f64 {
        0.25
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(1, 2), (3, 1)],
            offset_bits: 6,
            below: TailPlan::Const(0.0),
            above: TailPlan::Const(1.0),
            split: false,
        }
    }
}

/// `tanh x` ([`crate::Op::Tanh`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tanh;

impl SplineFn for Tanh {
    const KIND: &'static str = "tanh";
    fn eval(&self, x: f64) -> f64 {
        x.tanh()
    }
    fn lipschitz(&self) -> f64 {
        1.0
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(2, 3)],
            offset_bits: 6,
            below: TailPlan::Const(-1.0),
            above: TailPlan::Const(1.0),
            split: false,
        }
    }
}

/// ELU: `x` for `x ≥ 0`, `α(e^x − 1)` below ([`crate::Op::Elu`]; ONNX `Elu`, `alpha`
/// default 1). `α` is a public hyper-parameter, `0 ≤ α ≤ 1024`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Elu {
    /// `α`.
    pub alpha: f32,
}

impl Default for Elu {
    fn default() -> Self {
        Elu { alpha: 1.0 }
    }
}

impl SplineFn for Elu {
    const KIND: &'static str = "elu";
    fn eval(&self, x: f64) -> f64 {
        if x >= 0.0 {
            x
        } else {
            f64::from(self.alpha) * x.exp_m1()
        }
    }
    fn lipschitz(&self) -> f64 {
        f64::from(self.alpha).max(1.0)
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(0, 3), (2, 2), (4, 0)],
            offset_bits: 6,
            below: TailPlan::Const(-f64::from(self.alpha)),
            above: TailPlan::Identity,
            split: true,
        }
    }
    fn check(&self) -> Result<(), String> {
        check_param("alpha", self.alpha, true)
    }
    fn hyper(&self) -> String {
        format!("alpha={:08x}", self.alpha.to_bits())
    }
}

/// SELU: `γx` for `x > 0`, `γα(e^x − 1)` below ([`crate::Op::Selu`]; ONNX `Selu`,
/// defaults `α ≈ 1.6733`, `γ ≈ 1.0507`). Public hyper-parameters, `0 ≤ α ≤ 1024`,
/// `0 < γ ≤ 1024`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Selu {
    /// `α`.
    pub alpha: f32,
    /// `γ`.
    pub gamma: f32,
}

impl Default for Selu {
    /// ONNX's defaults (the self-normalising constants of Klambauer et al., 2017).
    fn default() -> Self {
        Selu {
            alpha: 1.673_263_2,
            gamma: 1.050_701,
        }
    }
}

impl SplineFn for Selu {
    const KIND: &'static str = "selu";
    fn eval(&self, x: f64) -> f64 {
        let g = f64::from(self.gamma);
        if x > 0.0 {
            g * x
        } else {
            g * f64::from(self.alpha) * x.exp_m1()
        }
    }
    fn lipschitz(&self) -> f64 {
        f64::from(self.gamma) * f64::from(self.alpha).max(1.0)
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(0, 3), (2, 2), (4, 0)],
            offset_bits: 6,
            below: TailPlan::Const(-f64::from(self.gamma) * f64::from(self.alpha)),
            above: TailPlan::Scale(f64::from(self.gamma)),
            split: true,
        }
    }
    fn check(&self) -> Result<(), String> {
        check_param("alpha", self.alpha, true)?;
        check_param("gamma", self.gamma, false)
    }
    fn hyper(&self) -> String {
        format!(
            "alpha={:08x},gamma={:08x}",
            self.alpha.to_bits(),
            self.gamma.to_bits()
        )
    }
}

/// `softplus(x) = ln(1 + e^x)` ([`crate::Op::Softplus`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softplus;

impl SplineFn for Softplus {
    const KIND: &'static str = "softplus";
    fn eval(&self, x: f64) -> f64 {
        x.max(0.0) + (-x.abs()).exp().ln_1p()
    }
    fn lipschitz(&self) -> f64 {
        1.0
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(1, 2), (3, 1)],
            offset_bits: 7,
            below: TailPlan::Const(0.0),
            above: TailPlan::Identity,
            split: false,
        }
    }
}

/// `softsign(x) = x/(1 + |x|)` ([`crate::Op::Softsign`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Softsign;

impl SplineFn for Softsign {
    const KIND: &'static str = "softsign";
    fn eval(&self, x: f64) -> f64 {
        x / (1.0 + x.abs())
    }
    fn lipschitz(&self) -> f64 {
        1.0
    }
    fn plan(&self) -> Plan {
        Plan {
            levels: &[(0, 3), (2, 1), (4, -1), (6, -3), (8, -5)],
            offset_bits: 6,
            below: TailPlan::Const(-1.0),
            above: TailPlan::Const(1.0),
            split: false,
        }
    }
}
