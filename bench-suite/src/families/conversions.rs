//! Every conversion on `n` values of Z_2^64: A2B in both variants (GMW adder; Yao =
//! A2Y then Y2B), B2A in both variants (daBits; OT), A2Y, Y2A, B2Y and Y2B.
//!
//! Each party starts from fresh uniform arithmetic shares of random values and first
//! reaches the source sharing untimed (e.g. A2Y before a timed Y2A); the window
//! covers the measured conversion(s) only. After the window the result is revealed
//! (B and Y) or its shares are added (A), and must equal the input values.

use ndarray::{ArrayD, IxDyn};
use tessera_conversions::{
    A2bVariant, B2aVariant, Conversion, Converter, Price, YShare, conversion_demand,
};
use tessera_core::{Prg, Ring};
use tessera_protocols::gmw::BShare;
use tessera_protocols::{AShare, ArithParty, Demand};

use super::FamilyContext;
use crate::error::{BenchError, Result};
use crate::scenario::{ELL, R, Scenario, Stopwatch, Workload};

/// A measured conversion: the untimed steps that reach its source sharing from A,
/// and the timed steps.
#[derive(Clone, Debug)]
pub struct ConvWork {
    pre: Vec<Conversion>,
    timed: Vec<Conversion>,
    n: usize,
}

impl ConvWork {
    /// The timed steps `timed`, after the untimed `pre` (which start in A).
    pub fn new(pre: Vec<Conversion>, timed: Vec<Conversion>, n: usize) -> Self {
        ConvWork { pre, timed, n }
    }
}

enum Val {
    A(AShare<R>),
    B(BShare),
    Y(YShare),
}

async fn apply(
    conv: &mut Converter,
    p: &mut ArithParty<R>,
    v: Val,
    c: Conversion,
    n: usize,
) -> Result<Val> {
    Ok(match (v, c) {
        (Val::A(a), Conversion::A2Y) => Val::Y(conv.a2y(p, &a).await?),
        (Val::A(a), Conversion::A2BGmw) => Val::B(conv.a2b(p, &a, A2bVariant::Gmw).await?),
        (Val::Y(y), Conversion::Y2A) => Val::A(conv.y2a(p, &y, &[n]).await?),
        (Val::Y(y), Conversion::Y2B) => Val::B(conv.y2b(&y)),
        (Val::B(b), Conversion::B2Y) => Val::Y(conv.b2y(p, &b).await?),
        (Val::B(b), Conversion::B2A(v)) => Val::A(conv.b2a(p, &b, &[n], v).await?),
        (_, c) => {
            return Err(BenchError::wrong(format!(
                "{} does not start from the sharing the plan reached",
                c.name()
            )));
        }
    })
}

/// What a party returns: its arithmetic share, or the revealed values.
#[derive(Debug)]
pub enum ConvOutput {
    /// An arithmetic share (to be added to the other party's).
    Share(ArrayD<R>),
    /// Values revealed to both after the window.
    Revealed(Vec<u64>),
}

impl Workload for ConvWork {
    type Input = [ArrayD<R>; 2];
    type Output = ConvOutput;

    fn demand(&self) -> Result<Demand> {
        let mut d = Demand::new();
        for c in self.pre.iter().chain(&self.timed) {
            d.extend(&conversion_demand(*c, ELL, self.n)?);
        }
        Ok(d)
    }

    fn and_gates(&self) -> Option<u64> {
        let mut total = 0;
        for c in &self.timed {
            total += Price::of(*c, ELL, self.n).map(|p| p.and_gates).ok()?;
        }
        Some(total)
    }

    fn inputs(&self) -> Result<[ArrayD<R>; 2]> {
        let mut prg = Prg::from_entropy();
        let mk = |v| ArrayD::from_shape_vec(IxDyn(&[self.n]), v);
        let s0 =
            mk(R::random_vec(&mut prg, self.n)).map_err(|e| BenchError::wrong(e.to_string()))?;
        let s1 =
            mk(R::random_vec(&mut prg, self.n)).map_err(|e| BenchError::wrong(e.to_string()))?;
        Ok([s0, s1])
    }

    async fn party(
        &self,
        p: &mut ArithParty<R>,
        input: &[ArrayD<R>; 2],
        sw: &mut Stopwatch,
    ) -> Result<ConvOutput> {
        let mut conv = Converter::new(p.party())?;
        let mut v = Val::A(AShare::from_array(input[p.party()].clone()));
        for c in &self.pre {
            v = apply(&mut conv, p, v, *c, self.n).await?;
        }
        sw.start(p.channel_mut()).await?;
        for c in &self.timed {
            v = apply(&mut conv, p, v, *c, self.n).await?;
        }
        sw.stop(p.channel());
        Ok(match v {
            Val::A(a) => ConvOutput::Share(a.into_array()),
            Val::B(b) => ConvOutput::Revealed(conv.reveal_b(p, &b).await?.to_values()),
            Val::Y(y) => ConvOutput::Revealed(conv.reveal_y(p, &y).await?.to_values()),
        })
    }

    fn verify(&self, input: &[ArrayD<R>; 2], out: [ConvOutput; 2]) -> Result<()> {
        let want: Vec<u64> = (&input[0] + &input[1]).iter().map(|v| v.to_u64()).collect();
        let got = match out {
            [ConvOutput::Share(a), ConvOutput::Share(b)] => {
                (&a + &b).iter().map(|v| v.to_u64()).collect()
            }
            [ConvOutput::Revealed(a), ConvOutput::Revealed(b)] if a == b => a,
            _ => {
                return Err(BenchError::wrong(
                    "the parties' outputs disagree in kind or value",
                ));
            }
        };
        match got.iter().zip(&want).position(|(g, w)| g != w) {
            _ if got.len() != want.len() => Err(BenchError::wrong(format!(
                "{} values out, {} in",
                got.len(),
                want.len()
            ))),
            Some(j) => Err(BenchError::wrong(format!(
                "value {j} changed in conversion"
            ))),
            None => Ok(()),
        }
    }
}

/// The measured conversions: name, untimed steps from A, timed steps.
pub fn cases() -> Vec<(&'static str, Vec<Conversion>, Vec<Conversion>)> {
    use Conversion::*;
    vec![
        ("a2b-gmw", vec![], vec![A2BGmw]),
        ("a2b-yao", vec![], vec![A2Y, Y2B]),
        ("b2a-dabits", vec![A2BGmw], vec![B2A(B2aVariant::DaBits)]),
        ("b2a-ot", vec![A2BGmw], vec![B2A(B2aVariant::Ot)]),
        ("a2y", vec![], vec![A2Y]),
        ("y2a", vec![A2Y], vec![Y2A]),
        ("b2y", vec![A2BGmw], vec![B2Y]),
        ("y2b", vec![A2Y], vec![Y2B]),
    ]
}

/// Every conversion at n = 1, 100 and 10,000; n = 100 is quick.
///
/// # Errors
/// None (the signature of a [`super::Family`]).
pub fn scenarios(_: &FamilyContext) -> Result<Vec<Scenario>> {
    let mut v = Vec::new();
    for (name, pre, timed) in cases() {
        for n in [1usize, 100, 10_000] {
            v.push(
                Scenario::new("conv", name, ConvWork::new(pre.clone(), timed.clone(), n))
                    .param("n", n)
                    .quick(n == 100),
            );
        }
    }
    Ok(v)
}
