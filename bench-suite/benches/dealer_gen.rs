//! Dealer generation rate: the dealer's whole work for a demand (expanding both
//! parties' seeds and computing party 1's corrections), without the network.
//!
//! `cargo bench -p tessera-bench-suite --bench dealer_gen`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_core::{Block, Z64};
use tessera_protocols::Demand;
use tessera_protocols::preprocessing::deal;

const TRIPLES: usize = 1 << 20;
const AND_BITS: usize = 1 << 26;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("dealer_gen");
    g.sample_size(10);

    let mut d = Demand::new();
    d.mul(&[TRIPLES]);
    g.throughput(Throughput::Elements(TRIPLES as u64));
    g.bench_function("beaver_z64_2^20", |b| {
        b.iter(|| deal::<Z64>(&d, Block(1), Block(2)).map(|c| c.len()))
    });

    let mut d = Demand::new();
    d.and_triples(AND_BITS);
    g.throughput(Throughput::Elements(AND_BITS as u64));
    g.bench_function("and_triples_2^26", |b| {
        b.iter(|| deal::<Z64>(&d, Block(1), Block(2)).map(|c| c.len()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
