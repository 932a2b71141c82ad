//! GMW messages larger than a transport frame: with a small `max_frame` (4 KiB instead
//! of 256 MiB, so no test allocates gigabytes), AND-layer openings and reveals are
//! streamed in several frames. Over the in-memory transport and TCP loopback the
//! result matches the plaintext interpreter, the meter equals the price
//! ([`gmw::cost_with`]) byte for byte and frame for frame, and each layer is still one
//! round. A peer that sends a wrong frame sequence gets a clear error, no panic or hang.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::block;
use tessera_core::channel::HEADER_LEN;
use tessera_core::{BitMatrix, BitVec, Block, Channel, ChannelConfig, Phase, PhaseMeter, Prg, Z64};
use tessera_protocols::circuit::{Builder, Circuit, bristol};
use tessera_protocols::gmw::{self, BShare, Gmw, Program, RevealTo};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::{ArithParty, Error, PartyMaterial, Result, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The frame limit of these tests.
const FRAME: usize = 4096;
const LIMIT: Duration = Duration::from_secs(60);

fn small_frames() -> ChannelConfig {
    ChannelConfig {
        max_frame: FRAME,
        timeout: Duration::from_secs(10),
        ..Default::default()
    }
}

fn aes() -> Circuit {
    let path = format!("{}/circuits/aes_128.txt", env!("CARGO_MANIFEST_DIR"));
    bristol::read_file(&path).unwrap()
}

fn random_inputs(prg: &mut Prg, circuit: &Circuit, n: usize) -> Vec<BitMatrix> {
    circuit
        .input_widths()
        .iter()
        .map(|&w| {
            let rows: Vec<BitVec> = (0..w).map(|_| BitVec::random(prg, n)).collect();
            BitMatrix::from_rows(&rows).unwrap()
        })
        .collect()
}

/// Both parties' material for `demand`, dealt in process over default channels (the
/// dealer's own framing is not what these tests are about).
async fn material(demand: &tessera_protocols::Demand) -> (PartyMaterial, PartyMaterial) {
    let (m0, m1, _) = harness::deal_in_process::<Z64>(&HarnessOptions::default(), demand)
        .await
        .unwrap();
    (m0, m1)
}

/// Which transport the two parties talk over.
#[derive(Clone, Copy, Debug)]
enum Transport {
    InMemory,
    Tcp,
}

async fn channels(t: Transport, cfg: ChannelConfig) -> (Channel, Channel) {
    match t {
        Transport::InMemory => Channel::in_memory_pair(cfg),
        Transport::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (a, b) = tokio::join!(Channel::accept(&listener, cfg), Channel::connect(addr, cfg));
            (a.unwrap(), b.unwrap())
        }
    }
}

/// What both parties run: `Gmw::run` of `program` on `n` instances.
struct Job<'a> {
    program: &'a Program,
    owners: &'a [usize],
    n: usize,
    to: RevealTo,
}

/// One party: the job on its own channel end, online phase; returns its outputs and
/// its online meter.
async fn party(
    p: usize,
    mut ch: Channel,
    m: &PartyMaterial,
    job: &Job<'_>,
    mine: Vec<BitMatrix>,
) -> Result<(Option<Vec<BitMatrix>>, PhaseMeter)> {
    ch.set_phase(Phase::Online);
    let mut ap = ArithParty::<Z64>::new(ch, Box::new(Store::<Z64>::from_material(m.clone())?));
    let (ch, prov) = ap.parts_mut();
    let refs: Vec<&BitMatrix> = mine.iter().collect();
    let out = Gmw::new(p)?
        .run(ch, prov, job.program, job.owners, &refs, job.n, job.to)
        .await?;
    let (ch, _) = ap.into_parts();
    Ok((out, ch.close().await?.online))
}

/// Runs AES-128 (key from party 0, plaintext from party 1) on `n` random instances
/// over `t` with 4 KiB frames and checks outputs, bytes, frames and rounds.
fn check_streamed_aes(t: Transport, n: usize, to: RevealTo) {
    let circuit = aes();
    let owners = [0, 1];
    let mut prg = Prg::from_seed_block(Block::from(n as u128));
    let inputs = random_inputs(&mut prg, &circuit, n);
    let want = circuit.eval(&inputs).unwrap();
    let program = Program::new(&circuit);
    let demand = gmw::demand(&circuit, n);
    let (out, meters) = block(async {
        tokio::time::timeout(LIMIT, async {
            let (m0, m1) = material(&demand).await;
            let (c0, c1) = channels(t, small_frames()).await;
            let job = Job {
                program: &program,
                owners: &owners,
                n,
                to,
            };
            let mine = |p: usize| vec![inputs[p].clone()];
            let ((o0, me0), (o1, me1)) = tokio::try_join!(
                party(0, c0, &m0, &job, mine(0)),
                party(1, c1, &m1, &job, mine(1)),
            )?;
            Ok::<_, Error>(([o0, o1], [me0, me1]))
        })
        .await
        .unwrap()
        .unwrap()
    });
    for (p, out) in out.iter().enumerate() {
        if to.learns(p) {
            assert_eq!(
                out.as_ref(),
                Some(&want),
                "{t:?} n={n}: party {p}'s outputs"
            );
        } else {
            assert!(out.is_none());
        }
    }
    let price = gmw::cost_with::<Z64>(&circuit, n, &owners, to, FRAME).unwrap();
    assert_eq!(price.online, meters, "{t:?} n={n}: metered vs priced");
    // Still one round per AND layer (plus inputs and the reveal)...
    let depth = circuit.cost().and_depth;
    for m in &meters {
        assert_eq!(m.rounds as usize, depth + 2, "{t:?} n={n}");
    }
    // ...although the layers really went out in several frames each.
    let widest = circuit
        .cost()
        .and_layer_widths
        .iter()
        .copied()
        .max()
        .unwrap();
    let payload = 8 * gmw::message_words(widest, n) as u64;
    assert!(
        payload > FRAME as u64,
        "the test must exceed the frame limit"
    );
    assert!(meters[0].messages_sent as usize > depth + 2);
    // The price is the default (one frame a message) plus a header per extra frame.
    let single = gmw::cost::<Z64>(&circuit, n, &owners, to).unwrap().online;
    for p in 0..2 {
        let extra = meters[p].messages_sent - single[p].messages_sent;
        assert!(extra > 0);
        assert_eq!(
            meters[p].bytes_sent,
            single[p].bytes_sent + HEADER_LEN as u64 * extra
        );
    }
}

#[test]
fn aes_layers_above_the_frame_limit_stream_in_memory() {
    // 256: whole words per gate (each AND layer message 2 · k · 32 bytes, up to 40 KiB);
    // 300: tightly packed bits; the 128-bit output of 300 instances (4,800 bytes) is
    // a streamed reveal too.
    check_streamed_aes(Transport::InMemory, 256, RevealTo::Both);
    check_streamed_aes(Transport::InMemory, 300, RevealTo::Party1);
}

#[test]
fn aes_layers_above_the_frame_limit_stream_over_tcp() {
    check_streamed_aes(Transport::Tcp, 256, RevealTo::Party0);
    check_streamed_aes(Transport::Tcp, 300, RevealTo::Both);
}

#[test]
fn exchange_wire_bytes_is_one_header_per_frame() {
    // Whatever fits one frame (256 MiB by default) costs what it always cost.
    for b in [0u64, 8, 1 << 20, 1 << 28] {
        assert_eq!(gmw::exchange_wire_bytes(b), b + 8);
    }
    // 1 GiB + 8 bytes: five frames.
    assert_eq!(
        gmw::exchange_wire_bytes((1 << 30) + 8),
        (1 << 30) + 8 + 5 * 8
    );
    assert_eq!(gmw::exchange_wire_bytes_with(8 * 1000, FRAME), 8000 + 2 * 8);
    assert_eq!(gmw::exchange_frames_with(8 * 1000, FRAME), 2);
    assert_eq!(gmw::exchange_frames_with(0, FRAME), 1);
}

// ---- A hostile peer ----

/// One AND layer of `k` gates (`x_i ∧ y_i`), party 0 owning `x`, party 1 `y`.
fn and_layer(k: usize) -> Circuit {
    let mut b = Builder::new();
    let x = b.input(k);
    let y = b.input(k);
    let z: Vec<_> = x.iter().zip(&y).map(|(&a, &c)| b.and(a, c)).collect();
    b.output(&z);
    b.finish().unwrap()
}

/// A frame as the channel writes it.
fn frame(payload: &[u8], depth: u32) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(&depth.to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// Words of the one AND layer of these tests: 100 gates × 300 instances, 60,000 bits,
/// 938 words (7,504 bytes), honestly sent as frames of 4,096 and 3,408 bytes.
const K: usize = 100;
const N: usize = 300;

/// Party 0 evaluates the AND layer against a raw peer that writes `bytes` and closes;
/// returns what party 0's evaluation returned.
fn against_raw_peer(bytes: Vec<u8>) -> Result<Vec<BShare>> {
    let circuit = and_layer(K);
    assert_eq!(gmw::message_words(K, N), 938);
    let program = Program::new(&circuit);
    let demand = gmw::demand(&circuit, N);
    block(async {
        tokio::time::timeout(LIMIT, async {
            let (m0, _) = material(&demand).await;
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let (r, w) = tokio::io::split(ours);
            let mut ch = Channel::from_halves(Box::new(r), Box::new(w), small_frames());
            let (mut raw_r, mut raw_w) = tokio::io::split(theirs);
            // Everything party 0 sends is drained, so its writer never blocks.
            let drain = tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = raw_r.read_to_end(&mut sink).await;
                sink.len()
            });
            raw_w.write_all(&bytes).await.unwrap();
            raw_w.shutdown().await.unwrap();
            let mut prov = Store::<Z64>::from_material(m0).unwrap();
            let (x, y) = (BShare::zeros(K, N), BShare::zeros(K, N));
            let r = Gmw::new(0)
                .unwrap()
                .eval_program(&mut ch, &mut prov, &program, &[&x, &y])
                .await;
            drop(ch);
            // Party 0 sent its own opening, streamed: two frames.
            let sent = drain.await.unwrap();
            assert_eq!(sent, 938 * 8 + 2 * HEADER_LEN);
            r
        })
        .await
        .unwrap()
    })
}

fn core_error(r: Result<Vec<BShare>>) -> tessera_core::Error {
    match r {
        Err(Error::Core(e)) => e,
        Err(e) => panic!("expected a transport error, got {e}"),
        Ok(_) => panic!("a hostile frame sequence was accepted"),
    }
}

/// `sizes` frames (bytes each) at `depth`.
fn frames(sizes: &[usize], depth: u32) -> Vec<u8> {
    sizes
        .iter()
        .flat_map(|&len| frame(&vec![0x5a; len], depth))
        .collect()
}

#[test]
fn a_wrong_or_oversized_frame_sequence_is_a_clear_error() {
    use tessera_core::Error as E;

    // The honest sequence: 4,096 + 3,408 bytes at depth 1 (the harness is sound).
    let out = against_raw_peer(frames(&[4096, 3408], 1)).unwrap();
    assert_eq!(out[0].width(), K);

    // A length over the frame limit, refused from the header before any allocation;
    // and the whole message in one frame, as a peer with a larger limit would send it.
    let mut f = frame(&[], 1);
    f[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = core_error(against_raw_peer(f));
    assert!(matches!(e, E::FrameTooLarge { max: 4096, .. }), "{e}");
    let e = core_error(against_raw_peer(frames(&[7504], 1)));
    assert!(
        matches!(
            e,
            E::FrameTooLarge {
                len: 7504,
                max: 4096
            }
        ),
        "{e}"
    );

    // Totals too large and too small, and one frame too many: each refused at the
    // first header that does not fit the expected 7,504 bytes.
    for sizes in [vec![4096, 3920], vec![4096, 3104], vec![4096, 4096, 8]] {
        let e = core_error(against_raw_peer(frames(&sizes, 1)));
        let s = e.to_string();
        assert!(
            matches!(e, E::Malformed { .. })
                && s.contains("frame 2 of a 7504-byte message")
                && s.contains("expected 3408"),
            "{sizes:?}: {s}"
        );
    }
    // A frame of the message at another causal depth, and an impossible depth.
    let mut bytes = frames(&[4096], 1);
    bytes.extend(frames(&[3408], 2));
    let e = core_error(against_raw_peer(bytes));
    assert!(
        e.to_string().contains("causal depth 2, its first frame 1"),
        "{e}"
    );
    let e = core_error(against_raw_peer(frames(&[4096, 3408], 9)));
    assert!(
        e.to_string().contains("causal depth 9 is impossible"),
        "{e}"
    );

    // The peer stops after one frame, or inside the second: a clear close.
    let e = core_error(against_raw_peer(frames(&[4096], 1)));
    assert!(matches!(e, E::ConnectionClosed { .. }), "{e}");
    let mut bytes = frames(&[4096, 3408], 1);
    bytes.truncate(bytes.len() - 8);
    let e = core_error(against_raw_peer(bytes));
    assert!(
        matches!(&e, E::ConnectionClosed { during } if during.contains("3400 of 3408")),
        "{e}"
    );
}
