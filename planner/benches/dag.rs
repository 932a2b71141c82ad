//! Time of the exact DAG planner ([`tessera_planner::dag::solve`]) on 100-node DAGs:
//! a ResNet-like network (conv → relu → conv → add(skip) → relu blocks) and a random
//! DAG whose nodes read up to three of the three previous nodes (frontier ≤ 3), every
//! node allowed in A, B and Y, with synthetic costs. The timed part is `solve` on a
//! validated [`Dag`] (the costs are queried inside it); [`Dag::new`], which also
//! chooses the processing order, is timed apart.
//!
//! `cargo bench -p tessera-planner --bench dag`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tessera_conversions::Sharing;
use tessera_planner::dag::{Dag, DagCosts, DagNode, SharingSet, solve};

/// Pseudo-random costs: a hash of (node, sharing, targets).
struct Hashed;

fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn code(s: Sharing) -> u64 {
    match s {
        Sharing::A => 1,
        Sharing::B => 2,
        Sharing::Y => 3,
    }
}

impl DagCosts for Hashed {
    fn node_cost(&self, node: usize, s: Sharing) -> f64 {
        (mix(node as u64 * 16 + code(s)) % 1000) as f64
    }
    fn value_cost(&self, node: usize, from: Sharing, targets: SharingSet) -> f64 {
        let t: u64 = targets.iter().map(|s| 1 << code(s)).sum();
        (mix(node as u64 * 1024 + code(from) * 64 + t + 7) % 300) as f64
    }
}

/// input → conv → relu → 19 × [conv → relu → conv → add(skip) → relu] → fc → argmax.
fn resnet() -> Dag {
    let all = SharingSet::ALL;
    let boolean = SharingSet::of(&[Sharing::B, Sharing::Y]);
    let mut nodes = Vec::new();
    let mut push = |inputs: Vec<usize>, options| {
        nodes.push(DagNode::new(inputs, options));
        nodes.len() - 1
    };
    let x = push(vec![], all);
    let c = push(vec![x], all);
    let mut h = push(vec![c], boolean);
    for _ in 0..19 {
        let c1 = push(vec![h], all);
        let r1 = push(vec![c1], boolean);
        let c2 = push(vec![r1], all);
        let a = push(vec![c2, h], all);
        h = push(vec![a], boolean);
    }
    let f = push(vec![h], all);
    push(vec![f], boolean);
    Dag::new(nodes).expect("a valid DAG")
}

/// 100 nodes, node i reading 1–3 of nodes i−3..i−1 (chosen by hash).
fn random() -> Dag {
    let nodes = (0..100usize)
        .map(|i| {
            let inputs = if i == 0 {
                vec![]
            } else {
                let k = 1 + mix(i as u64) % 3;
                (0..k)
                    .map(|j| {
                        let back = 1 + (mix(i as u64 * 8 + j) % 3) as usize;
                        i.saturating_sub(back)
                    })
                    .collect()
            };
            DagNode::new(inputs, SharingSet::ALL)
        })
        .collect();
    Dag::new(nodes).expect("a valid DAG")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dag");
    for (name, dag) in [("resnet_100", resnet()), ("random_100_w3", random())] {
        let sol = solve(&dag, &Hashed).expect("solvable");
        eprintln!(
            "{name}: {} nodes, frontier width {}, optimum {}",
            dag.len(),
            dag.width(),
            sol.cost
        );
        g.bench_function(format!("solve/{name}"), |b| {
            b.iter(|| solve(black_box(&dag), &Hashed).expect("solvable"))
        });
        let nodes = dag.nodes().to_vec();
        g.bench_function(format!("new/{name}"), |b| {
            b.iter(|| Dag::new(black_box(nodes.clone())).expect("valid"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
