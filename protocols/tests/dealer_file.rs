//! Persisted preprocessing: a saved file drives a later online run; a second load, a
//! load for another session, a truncated or tampered file, and running out of the
//! file's material each give their own error.

// Test helpers outside #[test] functions unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use tessera_core::{Ring, SessionId, Z64};
use tessera_protocols::harness::{self, HarnessOptions};
use tessera_protocols::preprocessing::{FORMAT_VERSION, MAGIC};
use tessera_protocols::{Demand, Error, PartyMaterial};

fn demand() -> Demand {
    let mut d = Demand::new();
    d.mul(&[5]).and_triples(77).random_ots(9, 1);
    d
}

/// Deals `demand` in process and saves both parties' files in `dir` (made for
/// `opts.material_session::<Z64>()`, the session bound to the harness's job).
fn deal_to_files(dir: &Path, opts: &HarnessOptions) -> (PathBuf, PathBuf) {
    let (m0, m1, _) = block(harness::deal_in_process::<Z64>(opts, &demand())).unwrap();
    let (p0, p1) = (dir.join("p0.pre"), dir.join("p1.pre"));
    m0.save(&p0).unwrap();
    m1.save(&p1).unwrap();
    (p0, p1)
}

fn file_reason(e: Error) -> String {
    match e {
        Error::PreprocessingFile { reason, .. } => reason,
        other => panic!("expected a file error, got {other}"),
    }
}

#[test]
fn saved_material_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let (p0, p1) = deal_to_files(dir.path(), &opts);
    // Only the two files: no temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p1).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let m0 = PartyMaterial::load(&p0, 0, opts.material_session::<Z64>()).unwrap();
    let m1 = PartyMaterial::load(&p1, 1, opts.material_session::<Z64>()).unwrap();
    let x = arr::<Z64>(&[5], (1..=5).map(Z64::from_u64).collect());
    let y = arr::<Z64>(&[5], (0..5).map(|v| Z64::from_i64(-3 * v)).collect());
    let (x0, y1) = (x.clone(), y.clone());
    let run = block(harness::run_with_material::<Z64, _, _>(
        &opts,
        &m0,
        &m1,
        async move |p| {
            let (a, b) = inputs(p, &x0, &[5]).await?;
            let z = p.mul(&a, &b).await?;
            let t = p.provider_mut().take_and_triples(77)?;
            Ok((p.reveal(&z).await?, t.a.len()))
        },
        async move |p| {
            let (a, b) = inputs(p, &y1, &[5]).await?;
            let z = p.mul(&a, &b).await?;
            let t = p.provider_mut().take_and_triples(77)?;
            Ok((p.reveal(&z).await?, t.a.len()))
        },
    ))
    .unwrap();
    assert_eq!(run.out0.0, &x * &y);
    assert_eq!(run.out1.1, 77);
    // The files are claimed: a second load, for this or any session, is refused.
    match PartyMaterial::load(&p0, 0, opts.material_session::<Z64>()) {
        Err(Error::AlreadyConsumed { session, .. }) => {
            assert_eq!(session, opts.material_session::<Z64>())
        }
        other => panic!("expected AlreadyConsumed, got {other:?}"),
    }
    assert!(matches!(
        PartyMaterial::load(&p1, 1, SessionId::random()),
        Err(Error::SessionMismatch { .. })
    ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn verify_checks_without_claiming() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let (p0, p1) = deal_to_files(dir.path(), &opts);
    // Verifying twice leaves the file fresh; it answers the demand it was dealt for.
    for _ in 0..2 {
        assert_eq!(
            PartyMaterial::verify(&p1, 1, opts.material_session::<Z64>()).unwrap(),
            demand()
        );
    }
    assert!(matches!(
        PartyMaterial::verify(&p1, 1, SessionId::random()),
        Err(Error::SessionMismatch { .. })
    ));
    assert!(
        file_reason(PartyMaterial::verify(&p1, 0, opts.material_session::<Z64>()).unwrap_err())
            .contains("party 1")
    );
    PartyMaterial::load(&p1, 1, opts.material_session::<Z64>()).unwrap();
    assert!(matches!(
        PartyMaterial::verify(&p1, 1, opts.material_session::<Z64>()),
        Err(Error::AlreadyConsumed { .. })
    ));
    let mut bytes = std::fs::read(&p0).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&p0, &bytes).unwrap();
    assert!(
        file_reason(PartyMaterial::verify(&p0, 0, opts.material_session::<Z64>()).unwrap_err())
            .contains("checksum")
    );
}

#[test]
fn running_past_the_file_is_exhaustion() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let (p0, p1) = deal_to_files(dir.path(), &opts);
    let m0 = PartyMaterial::load(&p0, 0, opts.material_session::<Z64>()).unwrap();
    let m1 = PartyMaterial::load(&p1, 1, opts.material_session::<Z64>()).unwrap();
    let r = block(harness::run_with_material::<Z64, _, _>(
        &opts,
        &m0,
        &m1,
        async |p| {
            p.provider_mut()
                .take_beaver(tessera_protocols::BilinearOp::Elementwise, &[5], &[5])?;
            p.provider_mut().take_and_triples(78).map(|_| ())
        },
        async |_| Ok(()),
    ));
    assert!(
        matches!(
            r,
            Err(Error::Exhausted {
                requested: 78,
                remaining: 77,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn wrong_session_is_refused_and_leaves_the_file_usable() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let (p0, _) = deal_to_files(dir.path(), &opts);
    let other = SessionId::random();
    match PartyMaterial::load(&p0, 0, other) {
        Err(Error::SessionMismatch {
            expected, found, ..
        }) => assert_eq!((expected, found), (other, opts.material_session::<Z64>())),
        r => panic!("expected SessionMismatch, got {r:?}"),
    }
    PartyMaterial::load(&p0, 0, opts.material_session::<Z64>()).unwrap();
}

#[test]
fn damaged_files_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let (_, p1) = deal_to_files(dir.path(), &opts);
    let good = std::fs::read(&p1).unwrap();
    let try_bytes = |bytes: &[u8], party: usize| {
        let p = dir.path().join("damaged.pre");
        std::fs::write(&p, bytes).unwrap();
        PartyMaterial::load(&p, party, opts.material_session::<Z64>())
    };

    // Truncated inside the body and inside the header.
    let r = file_reason(try_bytes(&good[..good.len() - 10], 1).unwrap_err());
    assert!(r.contains("truncated") && r.contains("body"), "{r}");
    let r = file_reason(try_bytes(&good[..30], 1).unwrap_err());
    assert!(r.contains("truncated") && r.contains("header"), "{r}");
    // Extra bytes.
    let mut long = good.clone();
    long.push(0);
    assert!(file_reason(try_bytes(&long, 1).unwrap_err()).contains("trailing"));
    // A flipped bit in the corrections, and in the session id.
    for at in [good.len() - 3, 20] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        let r = file_reason(try_bytes(&bad, 1).unwrap_err());
        assert!(r.contains("checksum mismatch"), "{r}");
    }
    // Bad magic, other version.
    let mut bad = good.clone();
    bad[0] = b'X';
    assert!(file_reason(try_bytes(&bad, 1).unwrap_err()).contains("magic"));
    assert_eq!(&good[..8], &MAGIC);
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let r = file_reason(try_bytes(&bad, 1).unwrap_err());
    assert!(
        r.contains(&format!("format version {}", FORMAT_VERSION + 1)),
        "{r}"
    );
    // The other party's file.
    let r = file_reason(try_bytes(&good, 0).unwrap_err());
    assert!(r.contains("party 1's material"), "{r}");
    // Missing file.
    let r = PartyMaterial::load(
        &dir.path().join("none.pre"),
        1,
        opts.material_session::<Z64>(),
    )
    .unwrap_err();
    assert!(file_reason(r).contains("cannot read"));
    // The intact file still loads.
    try_bytes(&good, 1).unwrap();
}

/// A file written as its corrections arrive ([`MaterialWriter`]) is byte for byte the
/// file `save` writes; an unfinished or overfull writer leaves no file; an opened file
/// hands its corrections to a store that reads them from disk, with every relation of
/// the in-memory material.
#[test]
fn streamed_files_equal_saved_files_and_feed_a_store_from_disk() {
    use tessera_protocols::preprocessing::MaterialWriter;
    use tessera_protocols::{Provider, Store};
    let dir = tempfile::tempdir().unwrap();
    let opts = HarnessOptions::default();
    let s = opts.material_session::<Z64>();
    let (m0, m1, _) = block(harness::deal_in_process::<Z64>(&opts, &demand())).unwrap();
    let (saved, streamed) = (
        dir.path().join("saved.pre"),
        dir.path().join("streamed.pre"),
    );
    m1.save(&saved).unwrap();
    let mut w = MaterialWriter::create(
        &streamed,
        1,
        s,
        m1.dealing,
        m1.ring_bits,
        &m1.demand,
        m1.seed,
        m1.corrections.len(),
    )
    .unwrap();
    for chunk in m1.corrections.chunks(7) {
        w.write(chunk).unwrap();
    }
    w.finish().unwrap();
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&streamed).unwrap()
    );

    // Too few or too many corrections: an error, and nothing at the target.
    let short = dir.path().join("short.pre");
    let mut w = MaterialWriter::create(
        &short,
        1,
        s,
        m1.dealing,
        m1.ring_bits,
        &m1.demand,
        m1.seed,
        10,
    )
    .unwrap();
    w.write(&[0; 4]).unwrap();
    assert!(file_reason(w.finish().unwrap_err()).contains("6 correction bytes missing"));
    let mut w = MaterialWriter::create(
        &short,
        1,
        s,
        m1.dealing,
        m1.ring_bits,
        &m1.demand,
        m1.seed,
        3,
    )
    .unwrap();
    assert!(file_reason(w.write(&[0; 4]).unwrap_err()).contains("more than announced"));
    drop(w);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no leftovers"
    );

    // Opened (and claimed), party 1's corrections are read from the file by the store.
    let opened = PartyMaterial::open(&streamed, 1, s).unwrap();
    match &opened.body {
        tessera_protocols::preprocessing::Body::Seeded {
            corrections_len, ..
        } => assert_eq!(*corrections_len, m1.corrections.len()),
        other => panic!("a dealer's file has a seeded body, not {other:?}"),
    }
    let mut from_disk = Store::<Z64>::from_opened(opened).unwrap();
    let mut in_memory = Store::<Z64>::from_material(m1.clone()).unwrap();
    let mut p0 = Store::<Z64>::from_material(m0).unwrap();
    for r in demand().requests() {
        use tessera_protocols::preprocessing::{Correlation, RandomOts};
        match (from_disk.take(r).unwrap(), in_memory.take(r).unwrap()) {
            (Correlation::Beaver(x), Correlation::Beaver(y)) => {
                assert_eq!((x.a, x.b, x.c), (y.a, y.b, y.c));
            }
            (Correlation::And(x), Correlation::And(y)) => {
                assert_eq!((x.a, x.b, x.c), (y.a, y.b, y.c));
            }
            (
                Correlation::Rot(RandomOts::Sender { m0: a, m1: b }),
                Correlation::Rot(RandomOts::Sender { m0: c, m1: d }),
            ) => {
                assert_eq!((a, b), (c, d));
            }
            (x, y) => panic!("{r}: {x:?} / {y:?}"),
        }
        p0.take(r).unwrap();
    }
    assert_eq!(from_disk.remaining(), 0);
    assert!(matches!(
        PartyMaterial::open(&streamed, 1, s).unwrap_err(),
        Error::AlreadyConsumed { .. }
    ));
}
