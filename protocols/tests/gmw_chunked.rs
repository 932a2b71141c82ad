//! GMW evaluation in chunks of instances ([`Gmw::eval_program_chunked`]), the way a
//! large stage keeps its memory within a working set: over the in-memory transport,
//! AES-128 on 300 instances in chunks (aligned and not) computes the plaintext result,
//! consumes exactly [`gmw::chunked_demand`], and its meter equals the price — one
//! message per AND layer per chunk, the AND depth times the chunk count in rounds.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::block;
use tessera_core::channel::HEADER_LEN;
use tessera_core::{BitMatrix, BitVec, Block, Channel, ChannelConfig, Phase, Prg, Z64};
use tessera_protocols::circuit::{Circuit, bristol};
use tessera_protocols::gmw::{self, BShare, Gmw, Program, RevealTo};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{ArithParty, Error, Store};

const LIMIT: Duration = Duration::from_secs(60);

fn aes() -> Circuit {
    let path = format!("{}/circuits/aes_128.txt", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

fn random(prg: &mut Prg, w: usize, n: usize) -> BitMatrix {
    let rows: Vec<BitVec> = (0..w).map(|_| BitVec::random(prg, n)).collect();
    BitMatrix::from_rows(&rows).unwrap()
}

/// AES on `n` instances in chunks of `chunk`: party 0 holds the keys, party 1 the
/// plaintexts (each its own value as its XOR share, the other zeros).
fn check(n: usize, chunk: usize) {
    let circuit = aes();
    let program = Program::new(&circuit);
    let widths = circuit.cost().and_layer_widths;
    let mut prg = Prg::from_seed_block(Block::from((n * 1000 + chunk) as u128));
    let inputs: Vec<BitMatrix> = circuit
        .input_widths()
        .iter()
        .map(|&w| random(&mut prg, w, n))
        .collect();
    let want = circuit.eval(&inputs).unwrap();
    let demand = gmw::chunked_demand(&widths, n, chunk);
    let (outs, meters) = block(async {
        tokio::time::timeout(LIMIT, async {
            let (m0, m1, _) = harness::deal_in_process::<Z64>(&HarnessOptions::default(), &demand)
                .await
                .unwrap();
            let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
            let party = |p: usize, ch: Channel, m| {
                let (program, inputs) = (&program, &inputs);
                async move {
                    let mut ch = ch;
                    ch.set_phase(Phase::Online);
                    let mut ap =
                        ArithParty::<Z64>::new(ch, Box::new(Store::<Z64>::from_material(m)?));
                    let shares: Vec<BShare> = inputs
                        .iter()
                        .enumerate()
                        .map(|(i, x)| {
                            if i == p {
                                BShare::from_matrix(x.clone())
                            } else {
                                BShare::zeros(x.rows(), n)
                            }
                        })
                        .collect();
                    let refs: Vec<&BShare> = shares.iter().collect();
                    let (ch, prov) = ap.parts_mut();
                    let mut g = Gmw::new(p)?;
                    let out = g
                        .eval_program_chunked(ch, prov, program, &refs, chunk)
                        .await?;
                    let left = prov.remaining();
                    let refs: Vec<&BShare> = out.iter().collect();
                    let opened = g.reveal(ch, &refs, RevealTo::Both).await?;
                    let (ch, _) = ap.into_parts();
                    Ok::<_, Error>((opened, left, ch.close().await?.online))
                }
            };
            let ((o0, l0, me0), (o1, l1, me1)) =
                tokio::try_join!(party(0, c0, m0), party(1, c1, m1))?;
            assert_eq!((l0, l1), (0, 0), "every triple taken, none left");
            Ok::<_, Error>(([o0, o1], [me0, me1]))
        })
        .await
        .unwrap()
        .unwrap()
    });
    for o in &outs {
        assert_eq!(o.as_ref(), Some(&want), "n={n} chunk={chunk}");
    }
    let sizes = gmw::chunk_sizes(n, chunk);
    let layers: u64 = sizes
        .iter()
        .flat_map(|&c| {
            widths
                .iter()
                .map(move |&k| gmw::exchange_wire_bytes(8 * gmw::message_words(k, c) as u64))
        })
        .sum();
    let reveal = (HEADER_LEN + 8 * (128 * n).div_ceil(64)) as u64;
    for m in &meters {
        assert_eq!(m.bytes_sent, layers + reveal, "n={n} chunk={chunk}: bytes");
        assert_eq!(m.messages_sent as usize, sizes.len() * widths.len() + 1);
        assert_eq!(m.rounds as usize, sizes.len() * widths.len() + 1, "rounds");
    }
}

#[test]
fn chunked_aes_is_exact_and_priced() {
    check(300, 300); // one piece: eval_program itself
    check(300, 128); // 128 + 128 + 44: aligned cuts, a short tail
    check(300, 100); // cuts inside words
}

#[test]
fn chunk_sizes_respect_the_working_set() {
    let program = Program::new(&aes());
    let per = gmw::instance_bits(&program) as u64;
    assert!(per > program.slots() as u64);
    // Everything fits: one chunk.
    assert_eq!(gmw::chunk_instances(&program, 1000, per * 1000 / 8), 1000);
    // 300 instances' worth for 1000: chunks of 256, word-aligned, within the bound.
    let c = gmw::chunk_instances(&program, 1000, per * 300 / 8);
    assert_eq!(c, 256);
    assert_eq!(gmw::chunk_sizes(1000, c), vec![256, 256, 256, 232]);
    // A bound below one word of instances still makes progress, 64 at a time.
    assert_eq!(gmw::chunk_instances(&program, 1000, 1), 64);
    assert_eq!(gmw::chunk_instances(&program, 10, 1), 10);
    assert_eq!(gmw::chunk_sizes(0, 64), vec![0]);
}
