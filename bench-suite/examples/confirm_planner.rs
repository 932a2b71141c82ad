//! Confirms the planner's choice by measurement on a small model: every assignment of
//! a dense → ReLU → dense → argmax network (every sharing of every layer and of the
//! argmax, default conversion routes, plus the planner's own choice) runs for real —
//! dealer and both parties over TCP loopback shaped to the profile — and the measured
//! online times are ranked against the planner's `auto`.
//!
//! `cargo run --release -p tessera-bench-suite --example confirm_planner -- [lan|wan] [reps]`

use std::time::Duration;

use tessera_core::{ChannelConfig, FixedPoint, NetworkProfile, Z64};
use tessera_engine::session::loopback;
use tessera_engine::{self, Assignment, Output, Placement, RunOptions, Sharing, default_route};
use tessera_models::{Dense, FixedModel, Head, Model, Op, Tensor};
use tessera_planner::assign::{Planner, Strategy};
use tessera_planner::engine::ModelChain;
use tessera_planner::{Calibration, Objective, TimeModel};

type R = Z64;

fn tensor(seed: &mut u64, shape: Vec<usize>) -> Tensor {
    let n = shape.iter().product();
    let v = (0..n)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.8
        })
        .collect();
    Tensor::new(shape, v).expect("shape")
}

fn letters(a: &Assignment) -> String {
    let mut s = String::new();
    for p in &a.layers {
        for c in &p.convert {
            s.push_str(&format!("{} ", c.name()));
        }
        s.push_str(&format!("{:?} ", p.sharing));
    }
    if let Some(h) = &a.head {
        s.push_str("\\|");
        s.push_str(&format!("{:?}", h.sharing));
        for c in &h.convert {
            s.push_str(&format!(" {}", c.name()));
        }
    }
    s
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let net: NetworkProfile = args.get(1).map_or("lan", String::as_str).parse()?;
    let reps: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let (inn, hidden, classes, batch) = (16, 8, 4, 1);
    let mut seed = 7u64;
    let model = Model::new(
        vec![inn],
        vec![
            (
                "fc1".into(),
                Op::Dense(Dense {
                    weight: tensor(&mut seed, vec![hidden, inn]),
                    bias: Some(tensor(&mut seed, vec![hidden])),
                }),
            ),
            ("relu".into(), Op::Relu),
            (
                "fc2".into(),
                Op::Dense(Dense {
                    weight: tensor(&mut seed, vec![classes, hidden]),
                    bias: Some(tensor(&mut seed, vec![classes])),
                }),
            ),
        ],
        Head::ArgMax,
    )?;
    let fm = FixedModel::<R>::new(&model, FixedPoint::new(16))?;
    let x = fm.encode_input(tensor(&mut seed, vec![batch, inn]).data())?;
    let reference = fm.run(&x)?.labels();
    let cal = Calibration::default_embedded()?;
    let chain = ModelChain::new(&fm)?;
    let planner = Planner::new(
        &chain,
        TimeModel::new(&cal, net),
        Objective::Online,
        batch,
        Output::Label,
    )?;
    let auto = planner.solve(Strategy::Auto)?.assignment;

    // Every assignment with default routes, and auto's own.
    let opts: Vec<Vec<Sharing>> = (0..fm.layers().len())
        .map(|i| tessera_engine::layer_options(&fm, i))
        .collect();
    let mut all = vec![auto.clone()];
    for &a in &opts[0] {
        for &b in &opts[1] {
            for &c in &opts[2] {
                for h in [Sharing::B, Sharing::Y] {
                    let a = Assignment {
                        layers: vec![
                            Placement::new(a, vec![]),
                            Placement::new(b, default_route(a, b)),
                            Placement::new(c, default_route(b, c)),
                        ],
                        head: Some(Placement::new(h, default_route(c, h))),
                        output: Output::Label,
                        input: None,
                        working_set: None,
                    };
                    if a != auto {
                        all.push(a);
                    }
                }
            }
        }
    }
    let channel = ChannelConfig::with_profile(net);
    let mut rows = Vec::new();
    for a in &all {
        let steps = planner.steps(a)?;
        let predicted = planner.run_cost(&steps) * 1e3;
        let mut times = Vec::new();
        // One warm-up, then `reps` measured runs.
        for rep in 0..=reps {
            let r = loopback(
                &fm,
                a,
                &x,
                batch,
                channel,
                RunOptions::default(),
                Duration::from_secs(120),
            )
            .await?;
            let labels = r.parties[1].output.labels.clone().unwrap_or_default();
            assert_eq!(labels, reference, "{}", letters(a));
            if rep > 0 {
                let on = r.parties.iter().map(|p| p.online).max().unwrap_or_default();
                times.push(on.as_secs_f64() * 1e3);
            }
        }
        times.sort_by(f64::total_cmp);
        rows.push((letters(a), predicted, times[times.len() / 2], *a == auto));
    }
    rows.sort_by(|a, b| a.2.total_cmp(&b.2));
    let best = rows[0].2;
    println!(
        "{} assignments of fc1 → relu → fc2 → argmax ({inn}-{hidden}-{classes}, batch {batch}) under {net}, median of {reps} runs each:\n",
        rows.len()
    );
    println!(
        "| rank | assignment (fc1, relu, fc2 \\| argmax) | predicted online | measured online | vs best |"
    );
    println!("|---|---|---|---|---|---|");
    for (i, (name, p, m, is_auto)) in rows.iter().enumerate() {
        println!(
            "| {} | `{}`{} | {p:.2} ms | {m:.2} ms | {:+.0} % |",
            i + 1,
            name,
            if *is_auto { " (auto)" } else { "" },
            100.0 * (m - best) / best
        );
    }
    let (rank, auto_row) = rows
        .iter()
        .enumerate()
        .find(|(_, r)| r.3)
        .ok_or("auto was not measured")?;
    println!(
        "\nauto ranks {} of {} by measured online time: {:.2} ms, {:+.1} % from the fastest ({:.2} ms)",
        rank + 1,
        rows.len(),
        auto_row.2,
        100.0 * (auto_row.2 - best) / best,
        best
    );
    Ok(())
}
