//! Every conversion (and the composite routes) at batch 1, 100 and 10,000 under the
//! `local`, `lan` and `wan` profiles: online time (median of 5 runs, from a common
//! start to the later party's end), bytes each party sends, rounds. Both parties and the dealer run in process
//! over shaped in-memory channels; the dealer's work is offline and not timed.
//!
//! `cargo bench -p tessera-bench-suite --bench conversions [-- FILTER]` prints a
//! Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Barrier;

use ndarray::{ArrayD, IxDyn};
use tessera_conversions::{
    A2bVariant, B2aVariant, Conversion, Converter, Price, conversion_demand,
};
use tessera_core::{ChannelConfig, NetworkProfile, Ring, Z64};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{AShare, ArithParty, Demand};

#[derive(Clone, Copy)]
enum Case {
    Edge(Conversion),
    A2bYao,
    Y2aViaB(B2aVariant),
}

impl Case {
    fn name(self) -> String {
        match self {
            Case::Edge(c) => c.name().to_string(),
            Case::A2bYao => "a2b-yao (a2y+y2b)".into(),
            Case::Y2aViaB(v) => format!("y2a via {}", Conversion::B2A(v).name()),
        }
    }

    /// The edges before the timed part (to reach the source sharing) and the timed ones.
    fn plan(self) -> (Vec<Conversion>, Vec<Conversion>) {
        use Conversion::*;
        match self {
            Case::Edge(A2Y) | Case::Edge(A2BGmw) => (
                vec![],
                vec![match self {
                    Case::Edge(c) => c,
                    _ => unreachable!(),
                }],
            ),
            Case::Edge(Y2A) => (vec![A2Y], vec![Y2A]),
            Case::Edge(Y2B) => (vec![A2Y], vec![Y2B]),
            Case::Edge(B2Y) => (vec![A2BGmw], vec![B2Y]),
            Case::Edge(B2A(v)) => (vec![A2BGmw], vec![B2A(v)]),
            Case::A2bYao => (vec![], vec![A2Y, Y2B]),
            Case::Y2aViaB(v) => (vec![A2Y], vec![Y2B, B2A(v)]),
        }
    }
}

enum Val {
    A(AShare<Z64>),
    B(tessera_protocols::gmw::BShare),
    Y(tessera_conversions::YShare),
}

async fn apply(
    conv: &mut Converter,
    p: &mut ArithParty<Z64>,
    v: Val,
    c: Conversion,
    n: usize,
) -> tessera_protocols::Result<Val> {
    let e = |e: tessera_conversions::Error| tessera_protocols::Error::Protocol {
        step: "conversion",
        detail: e.to_string(),
    };
    Ok(match (v, c) {
        (Val::A(a), Conversion::A2Y) => Val::Y(conv.a2y(p, &a).await.map_err(e)?),
        (Val::A(a), Conversion::A2BGmw) => {
            Val::B(conv.a2b(p, &a, A2bVariant::Gmw).await.map_err(e)?)
        }
        (Val::Y(y), Conversion::Y2A) => Val::A(conv.y2a(p, &y, &[n]).await.map_err(e)?),
        (Val::Y(y), Conversion::Y2B) => Val::B(conv.y2b(&y)),
        (Val::B(b), Conversion::B2Y) => Val::Y(conv.b2y(p, &b).await.map_err(e)?),
        (Val::B(b), Conversion::B2A(v)) => Val::A(conv.b2a(p, &b, &[n], v).await.map_err(e)?),
        _ => {
            return Err(tessera_protocols::Error::Protocol {
                step: "bench",
                detail: "invalid plan".into(),
            });
        }
    })
}

/// One party: reach the source sharing, wait for the other party at an in-process
/// barrier (both have consumed every message of the preparation), then the timed
/// conversions from the common start instant.
async fn party(
    p: &mut ArithParty<Z64>,
    n: usize,
    pre: Vec<Conversion>,
    timed: Vec<Conversion>,
    barrier: Arc<Barrier>,
) -> tessera_protocols::Result<(Duration, u64, u64)> {
    let mut conv = Converter::new(p.party()).map_err(|e| tessera_protocols::Error::Protocol {
        step: "converter",
        detail: e.to_string(),
    })?;
    let x = ArrayD::from_shape_fn(IxDyn(&[n]), |i| Z64::from_u64(i[0] as u64 * 0x9E37_79B9));
    let mut v = Val::A(AShare::from_public(p.party(), &x));
    for c in pre {
        v = apply(&mut conv, p, v, c, n).await?;
    }
    barrier.wait().await;
    let before = *p.channel().metering();
    let t = Instant::now();
    for c in timed {
        v = apply(&mut conv, p, v, c, n).await?;
    }
    let elapsed = t.elapsed();
    let d = p.channel().metering().since(&before).online;
    drop(v);
    Ok((elapsed, d.bytes_sent, d.rounds))
}

fn main() {
    let filter = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let cases = [
        Case::Edge(Conversion::Y2B),
        Case::Edge(Conversion::B2Y),
        Case::Edge(Conversion::A2Y),
        Case::Edge(Conversion::Y2A),
        Case::Edge(Conversion::A2BGmw),
        Case::A2bYao,
        Case::Edge(Conversion::B2A(B2aVariant::DaBits)),
        Case::Edge(Conversion::B2A(B2aVariant::Ot)),
        Case::Y2aViaB(B2aVariant::DaBits),
    ];
    println!(
        "| conversion | network | batch | online time (median) | bytes sent p0 / p1 | rounds | predicted bytes / rounds |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for (net_name, profile) in [
        ("local", NetworkProfile::LOCAL),
        ("lan", NetworkProfile::LAN),
        ("wan", NetworkProfile::WAN),
    ] {
        for case in cases {
            for n in [1usize, 100, 10_000] {
                let label = format!("{} {net_name} {n}", case.name());
                if !label.contains(&filter) {
                    continue;
                }
                let (pre, timed) = case.plan();
                let mut demand = Demand::new();
                for c in pre.iter().chain(&timed) {
                    demand.extend(&conversion_demand(*c, 64, n).unwrap_or_else(|e| panic!("{e}")));
                }
                let mut price: Option<Price> = None;
                for c in &timed {
                    let p = Price::of(*c, 64, n).unwrap_or_else(|e| panic!("{e}"));
                    price = Some(match price {
                        None => p,
                        Some(q) => q.then(&p),
                    });
                }
                let price = price.unwrap_or_else(|| panic!("no timed step"));
                let mut times = Vec::new();
                let mut last = (0, 0, 0);
                for _ in 0..5 {
                    let opts = HarnessOptions {
                        channel: ChannelConfig::with_profile(profile),
                        timeout: Duration::from_secs(600),
                        ..Default::default()
                    };
                    let (p0, t0, p1, t1) = (pre.clone(), timed.clone(), pre.clone(), timed.clone());
                    let b0 = Arc::new(Barrier::new(2));
                    let b1 = b0.clone();
                    let run = rt
                        .block_on(harness::run::<Z64, _, _>(
                            &opts,
                            &demand,
                            async move |p| party(p, n, p0, t0, b0).await,
                            async move |p| party(p, n, p1, t1, b1).await,
                        ))
                        .unwrap_or_else(|e| panic!("{label}: {e}"));
                    times.push(run.out0.0.max(run.out1.0));
                    last = (run.out0.1, run.out1.1, run.out0.2.max(run.out1.2));
                }
                times.sort();
                let median = times[times.len() / 2];
                println!(
                    "| {} | {net_name} | {n} | {:.3} ms | {} / {} | {} | {} / {} |",
                    case.name(),
                    median.as_secs_f64() * 1e3,
                    last.0,
                    last.1,
                    last.2,
                    price.bytes_sent[0] + price.bytes_sent[1],
                    price.rounds()
                );
            }
        }
    }
}
