//! Core primitives: PRG, fixed-key AES, bit transposes, transport over TCP loopback.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand_core::RngCore;
use tessera_bench_suite::tcp_pair;
use tessera_core::{BitMatrix, Block, ChannelConfig, FixedKeyAes, Prg, Z64};
use tessera_protocols::ot::transpose::transpose_into;

fn prg(c: &mut Criterion) {
    let mut g = c.benchmark_group("prg");
    let mut p = Prg::from_entropy();
    for size in [4096usize, 1 << 20] {
        let mut buf = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("fill_bytes", size), &size, |b, _| {
            b.iter(|| p.fill_bytes(black_box(&mut buf)))
        });
    }
    g.finish();
}

fn fixed_key_aes(c: &mut Criterion) {
    let mut g = c.benchmark_group("fixed_key_aes");
    let aes = FixedKeyAes::get();
    let n = 1024usize;
    let mut blocks: Vec<Block> = (0..n as u128).map(Block).collect();
    let tweaks = blocks.clone();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("permute_1024", |b| {
        b.iter(|| aes.permute_many(black_box(&mut blocks)))
    });
    g.bench_function("tccr_1024", |b| {
        b.iter(|| aes.tccr_many(black_box(&mut blocks), &tweaks))
    });
    g.finish();
}

fn transpose(c: &mut Criterion) {
    let mut g = c.benchmark_group("transpose");
    let mut p = Prg::from_entropy();
    let n = 1 << 16;
    let values: Vec<u64> = (0..n).map(|_| p.next_u64()).collect();
    g.throughput(Throughput::Bytes((n * 8) as u64));
    g.bench_function("values_to_wires_64x65536", |b| {
        b.iter(|| BitMatrix::from_values(black_box(&values), 64))
    });
    let m = BitMatrix::from_values(&values, 64);
    g.bench_function("wires_to_values_64x65536", |b| {
        b.iter(|| black_box(&m).to_values())
    });
    let big = BitMatrix::from_values(&values, 64).transpose().transpose();
    g.bench_function("bitmatrix_64x65536", |b| {
        b.iter(|| black_box(&big).transpose())
    });
    // OT extension's transposes: 128 columns of 64 tiles (one batch of the
    // extension) to 8,192 rows of 128 bits.
    let tiles = 64;
    let cols: Vec<Block> = (0..128 * tiles).map(|_| Block::random(&mut p)).collect();
    let mut rows = vec![Block::ZERO; 128 * tiles];
    g.throughput(Throughput::Bytes((cols.len() * 16) as u64));
    g.bench_function("ot_tiles_128x8192", |b| {
        b.iter(|| transpose_into(black_box(&cols), tiles, &mut rows))
    });
    g.finish();
}

fn transport(c: &mut Criterion) {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("runtime: {e}"),
    };
    let (mut a, mut b) = match rt.block_on(tcp_pair(ChannelConfig::default())) {
        Ok(p) => p,
        Err(e) => panic!("loopback pair: {e}"),
    };
    let mut g = c.benchmark_group("transport_tcp_loopback");
    g.bench_function("round_trip_8B", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let ping = async {
                    a.send_ring(vec![Z64::default()]).await?;
                    a.recv_ring::<Z64>(1).await
                };
                let pong = async {
                    let m = b.recv_ring::<Z64>(1).await?;
                    b.send_ring(m).await
                };
                tokio::try_join!(ping, pong)
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    let n = 1 << 20; // 8 MiB each way
    g.throughput(Throughput::Bytes((2 * 8 * n) as u64));
    g.bench_function("exchange_8MiB_each_way", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                tokio::try_join!(
                    a.exchange_pod(vec![Z64::default(); n]),
                    b.exchange_pod(vec![Z64::default(); n])
                )
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    // A bulk stream as Yao's tables flow: 64 frames of 1 MiB one way, the sender's
    // buffers returning to a pool once written, the receiver reusing one buffer.
    let frames = 64;
    let (pool_tx, pool) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut rbuf: Vec<u8> = Vec::new();
    g.throughput(Throughput::Bytes((frames << 20) as u64));
    g.bench_function("stream_64x1MiB_one_way_reused_buffers", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let send = async {
                    for _ in 0..frames {
                        let mut v = pool.try_recv().unwrap_or_default();
                        v.resize(1 << 20, 1);
                        a.send_buffer(Pooled(v, pool_tx.clone())).await?;
                    }
                    a.recv_words(1).await
                };
                let recv = async {
                    for _ in 0..frames {
                        b.recv_pod_into(&mut rbuf, Some(1 << 20)).await?;
                    }
                    b.send_words(vec![0]).await
                };
                tokio::try_join!(send, recv)
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("{e}"))
        })
    });
    g.finish();
}

/// A frame buffer that returns to its pool when the channel's writer drops it.
struct Pooled(Vec<u8>, std::sync::mpsc::Sender<Vec<u8>>);

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let _ = self.1.send(std::mem::take(&mut self.0));
    }
}

criterion_group!(benches, prg, fixed_key_aes, transpose, transport);
criterion_main!(benches);
