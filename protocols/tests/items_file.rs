//! Preprocessing files with an `items` body (correlations in full, as the OT source
//! makes them): every kind round-trips in both rings and for both parties, correlations
//! made by OT extension are read back with their relations, the writer refuses items
//! that do not fit their requests, and damaged, foreign, consumed, old-format or
//! other-ring files are refused with their own errors, never a panic.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use tessera_core::{Block, Channel, ChannelConfig, Ring, SessionId, Z32, Z64};
use tessera_protocols::preprocessing::{
    Body, Correlation, DealingId, FORMAT_VERSION, deal, expand_party0, expand_party1, save_items,
};
use tessera_protocols::{
    BilinearOp, Conv2dParams, Demand, Error, PartyMaterial, Provider, Request, Store,
};

type Items<R> = Vec<(Request, Correlation<R>)>;

/// Every kind, both senders of random OTs, a weight mask and its plaintext-weight
/// products.
fn demand() -> Demand {
    let mut d = Demand::new();
    d.mul(&[5])
        .matmul(&[2, 3], &[3, 4])
        .conv2d(
            Conv2dParams {
                stride: 1,
                padding: 1,
            },
            &[1, 2, 4, 4],
            &[3, 2, 3, 3],
        )
        .square(&[2, 2])
        .trunc(8, &[3])
        .and_triples(77)
        .random_ots(9, 0)
        .random_ots(5, 1)
        .dabits(70);
    let m = d.weight_mask(&[4, 3]);
    d.plain_weight(BilinearOp::MatMul, m, &[2, 4], &[4, 3]);
    let m = d.weight_mask(&[6]);
    d.plain_weight(BilinearOp::Elementwise, m, &[6], &[6]);
    d
}

/// Both parties' dealt correlations for `d`, expanded.
fn dealt<R: Ring>(d: &Demand) -> [Items<R>; 2] {
    let (s0, s1) = (Block::from_bytes([1; 16]), Block::from_bytes([2; 16]));
    let corrections = deal::<R>(d, s0, s1).unwrap();
    [
        expand_party0(d, s0).unwrap(),
        expand_party1(d, s1, &corrections).unwrap(),
    ]
}

fn file_reason(e: Error) -> String {
    match e {
        Error::PreprocessingFile { reason, .. } => reason,
        other => panic!("expected a file error, got {other}"),
    }
}

struct Files {
    dir: tempfile::TempDir,
    session: SessionId,
    dealing: DealingId,
}

impl Files {
    fn new() -> Self {
        Files {
            dir: tempfile::tempdir().unwrap(),
            session: SessionId::random(),
            dealing: DealingId::random(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn save<R: Ring>(&self, name: &str, party: usize, items: Items<R>) -> PathBuf {
        let p = self.path(name);
        save_items(&p, party, self.session, self.dealing, items).unwrap();
        p
    }

    /// Writes `bytes` and opens them as `party`'s file (claiming it).
    fn open_bytes<R: Ring>(&self, bytes: &[u8], party: usize) -> Result<Items<R>, Error> {
        let p = self.path("damaged.pre");
        std::fs::write(&p, bytes).unwrap();
        PartyMaterial::open(&p, party, self.session)?.into_items::<R>()
    }
}

/// Saved, opened and saved again, the file is byte for byte the same; a store made
/// from the opened file hands out the same correlations.
fn round_trip<R: Ring>() {
    let f = Files::new();
    let d = demand();
    for party in 0..2 {
        let [i0, i1] = dealt::<R>(&d);
        let items = if party == 0 { i0 } else { i1 };
        let first = f.save(&format!("{party}.pre"), party, items);
        let bytes = std::fs::read(&first).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(PartyMaterial::verify(&first, party, f.session).unwrap(), d);
        let (_, dealing) = PartyMaterial::inspect(&first, party, f.session).unwrap();
        assert_eq!(dealing, f.dealing);
        std::fs::write(f.path("copy.pre"), &bytes).unwrap();

        let opened = PartyMaterial::open(&first, party, f.session).unwrap();
        assert!(
            matches!(opened.body, Body::Items { .. }),
            "{:?}",
            opened.body
        );
        assert_eq!(opened.ring_bits, R::BITS);
        let back = opened.into_items::<R>().unwrap();
        let again = f.save(&format!("{party}.again.pre"), party, back);
        assert_eq!(std::fs::read(&again).unwrap(), bytes, "party {party}");

        // Through a store, as the file source reads it.
        let opened = PartyMaterial::open(&f.path("copy.pre"), party, f.session).unwrap();
        let mut store = Store::<R>::from_opened(opened).unwrap();
        let taken: Items<R> = d
            .requests()
            .iter()
            .map(|r| (r.clone(), store.take(r).unwrap()))
            .collect();
        assert_eq!(store.remaining(), 0);
        let third = f.save(&format!("{party}.store.pre"), party, taken);
        assert_eq!(std::fs::read(&third).unwrap(), bytes, "party {party}");

        // Exactly the correlations' bytes after the header and demand.
        let dlen = postcard::to_stdvec(&d).unwrap().len();
        let body = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 88 + body);
        assert_eq!(bytes[88], 1, "the items body kind");
        let raw = body - 9 - dlen;
        let elems: usize = d.requests().iter().map(|r| r.expanded_bytes::<R>()).sum();
        assert!(raw <= elems, "{raw} > {elems}");
    }
}

#[test]
fn every_kind_round_trips_through_an_items_file_z64() {
    round_trip::<Z64>();
}

#[test]
fn every_kind_round_trips_through_an_items_file_z32() {
    round_trip::<Z32>();
}

/// Correlations made by OT extension, saved by both parties and read back, still
/// satisfy their relations.
#[test]
fn ot_made_correlations_survive_the_file() {
    let mut d = Demand::new();
    d.mul(&[4]).matmul(&[2, 3], &[3, 2]).and_triples(100);
    let f = Files::new();
    let made = |mut ch: Channel, party: usize, d: Demand| async move {
        tessera_protocols::ot::source::generate_offline::<Z64>(&mut ch, party, &d, None).await
    };
    let (i0, i1) = block(async {
        let (c0, c1) = Channel::in_memory_pair(ChannelConfig::default());
        futures::future::join(made(c0, 0, d.clone()), made(c1, 1, d.clone())).await
    });
    let p0 = f.save("0.pre", 0, i0.unwrap());
    let p1 = f.save("1.pre", 1, i1.unwrap());
    let read = |p: &Path, party| {
        PartyMaterial::open(p, party, f.session)
            .unwrap()
            .into_items::<Z64>()
            .unwrap()
    };
    for ((_, x), (_, y)) in read(&p0, 0).into_iter().zip(read(&p1, 1)) {
        match (x, y) {
            (Correlation::Beaver(x), Correlation::Beaver(y)) => {
                let (a, b) = (&x.a + &y.a, &x.b + &y.b);
                let c = &x.c + &y.c;
                let want = match x.op {
                    BilinearOp::MatMul => matmul_ref(&a, &b),
                    _ => &a * &b,
                };
                assert_eq!(c, want);
            }
            (Correlation::And(x), Correlation::And(y)) => {
                for i in 0..x.a.len() {
                    let bit = |v: &tessera_core::BitVec| v.iter().nth(i).unwrap();
                    let (a, b, c) = (
                        bit(&x.a) ^ bit(&y.a),
                        bit(&x.b) ^ bit(&y.b),
                        bit(&x.c) ^ bit(&y.c),
                    );
                    assert_eq!(a & b, c);
                }
            }
            (x, y) => panic!("{x:?} / {y:?}"),
        }
    }
}

/// The writer checks every item against its request before it is written: another
/// party's side, another shape or kind is refused naming the request, and no file is
/// left behind.
#[test]
fn the_writer_refuses_items_that_do_not_fit() {
    let f = Files::new();
    let d = demand();
    let [_, i1] = dealt::<Z64>(&d);
    let p = f.path("bad.pre");
    // Party 1's items as party 0's: its first random OTs (party 0 sends) are the
    // receiver's side.
    let r = file_reason(save_items(&p, 0, f.session, f.dealing, i1).unwrap_err());
    assert!(r.contains("request #6") && r.contains("other side"), "{r}");
    // A triple of another shape.
    let [mut i0, _] = dealt::<Z64>(&d);
    if let (_, Correlation::Beaver(t)) = &mut i0[0] {
        t.a = arr(&[4], vec![Z64::default(); 4]);
    }
    let r = file_reason(save_items(&p, 0, f.session, f.dealing, i0).unwrap_err());
    assert!(r.contains("request #0") && r.contains("shape [4]"), "{r}");
    // Another kind in a request's place.
    let [mut i0, _] = dealt::<Z64>(&d);
    let (head, tail) = i0.split_at_mut(3);
    std::mem::swap(&mut head[0].1, &mut tail[0].1);
    let r = file_reason(save_items(&p, 0, f.session, f.dealing, i0).unwrap_err());
    assert!(r.contains("request #0"), "{r}");
    assert_eq!(std::fs::read_dir(f.dir.path()).unwrap().count(), 0);
}

/// The SHA-256 of a file's header and body (bytes 0..56 and 88..), written in place.
fn reseal(bytes: &mut [u8]) {
    let mut h = Sha256::new();
    h.update(&bytes[..56]);
    h.update(&bytes[88..]);
    let sum: [u8; 32] = h.finalize().into();
    bytes[56..88].copy_from_slice(&sum);
}

#[test]
fn damaged_items_files_name_the_problem() {
    let f = Files::new();
    let d = demand();
    let [i0, _] = dealt::<Z64>(&d);
    let good = std::fs::read(f.save("0.pre", 0, i0)).unwrap();
    let reason = |bytes: &[u8], party| file_reason(f.open_bytes::<Z64>(bytes, party).unwrap_err());

    let r = reason(&good[..good.len() - 10], 0);
    assert!(r.contains("truncated") && r.contains("body"), "{r}");
    let r = reason(&good[..40], 0);
    assert!(r.contains("truncated") && r.contains("header"), "{r}");
    let mut long = good.clone();
    long.push(0);
    assert!(reason(&long, 0).contains("trailing"));
    for at in [good.len() - 3, 20, 88, 95] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let r = reason(&bad, 0);
        assert!(r.contains("checksum mismatch"), "{r}");
    }
    let r = reason(&good, 1);
    assert!(r.contains("party 0's material"), "{r}");

    // Bodies that pass the checksum but do not hold what their demand needs.
    let mut bad = good.clone();
    bad[88] = 7;
    reseal(&mut bad);
    assert!(reason(&bad, 0).contains("unknown body kind 7"));
    let mut short = good[..good.len() - 8].to_vec();
    let body = (short.len() - 88) as u64;
    short[32..40].copy_from_slice(&body.to_le_bytes());
    reseal(&mut short);
    let r = reason(&short, 0);
    assert!(
        r.contains("malformed body") && r.contains("its demand takes"),
        "{r}"
    );
    let mut bad = good.clone();
    bad[89..97].copy_from_slice(&u64::MAX.to_le_bytes());
    reseal(&mut bad);
    assert!(reason(&bad, 0).contains("exceeds the body"));
    // A demand whose shapes overflow.
    let mut huge = Demand::new();
    huge.square(&[usize::MAX, 3]);
    let hd = postcard::to_stdvec(&huge).unwrap();
    let mut bad = good[..89].to_vec();
    bad.extend_from_slice(&(hd.len() as u64).to_le_bytes());
    bad.extend_from_slice(&hd);
    let body = (bad.len() - 88) as u64;
    bad[32..40].copy_from_slice(&body.to_le_bytes());
    reseal(&mut bad);
    let r = reason(&bad, 0);
    assert!(r.contains("request #0") && r.contains("overflows"), "{r}");

    // Another ring; the dealer's reader; another session; claimed twice.
    let p = f.path("ring.pre");
    std::fs::write(&p, &good).unwrap();
    let r = file_reason(
        PartyMaterial::open(&p, 0, f.session)
            .unwrap()
            .into_items::<Z32>()
            .unwrap_err(),
    );
    assert!(r.contains("Z_2^64") && r.contains("Z32"), "{r}");
    std::fs::write(&p, &good).unwrap();
    // The reader of seed-compressed material refuses it without claiming it.
    let r = file_reason(PartyMaterial::load(&p, 0, f.session).unwrap_err());
    assert!(r.contains("correlations in full"), "{r}");
    PartyMaterial::open(&p, 0, f.session).unwrap();
    assert!(matches!(
        PartyMaterial::open(&p, 0, f.session),
        Err(Error::AlreadyConsumed { .. })
    ));
    std::fs::write(&p, &good).unwrap();
    assert!(matches!(
        PartyMaterial::open(&p, 0, SessionId::random()),
        Err(Error::SessionMismatch { .. })
    ));
    // The intact file reads.
    assert_eq!(f.open_bytes::<Z64>(&good, 0).unwrap().len(), d.len());
}

/// Version 2 files (whose body kind is implicit) are refused: run the offline phase
/// again.
#[test]
fn version_2_files_are_refused() {
    assert_eq!(FORMAT_VERSION, 3);
    let f = Files::new();
    let [i0, _] = dealt::<Z64>(&demand());
    let mut old = std::fs::read(f.save("0.pre", 0, i0)).unwrap();
    old[8..12].copy_from_slice(&2u32.to_le_bytes());
    reseal(&mut old);
    let r = file_reason(f.open_bytes::<Z64>(&old, 0).unwrap_err());
    assert!(
        r.contains("format version 2") && r.contains("run the offline phase again"),
        "{r}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any flipped bit, any truncation: an error, never a panic, never material.
    #[test]
    fn flips_and_truncations_are_refused(at in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<prop::sample::Index>()) {
        let f = Files::new();
        let mut d = Demand::new();
        d.mul(&[3]).and_triples(65).random_ots(4, 1).dabits(3);
        let [i0, _] = dealt::<Z64>(&d);
        let good = std::fs::read(f.save("0.pre", 0, i0)).unwrap();
        let mut bad = good.clone();
        bad[at.index(good.len())] ^= 1 << bit;
        prop_assert!(f.open_bytes::<Z64>(&bad, 0).is_err());
        let short = &good[..cut.index(good.len())];
        prop_assert!(f.open_bytes::<Z64>(short, 0).is_err());
    }
}
