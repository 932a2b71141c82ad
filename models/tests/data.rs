#![allow(clippy::unwrap_used)]
//! The data loaders: MNIST-10k (and corrupt variants of it) and `.npy` parsing.

mod common;

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use proptest::prelude::*;
use tessera_models::data::mnist::mnist10k_path;
use tessera_models::data::{MNIST10K_TEST, MNIST10K_TRAIN};
use tessera_models::{Error, Mnist, NpyF32, NpyIndices};

fn class_counts(labels: &[u8]) -> [usize; 10] {
    let mut c = [0; 10];
    for &l in labels {
        c[usize::from(l)] += 1;
    }
    c
}

#[test]
fn mnist10k_matches_its_readme() {
    let m = common::mnist(); // sha256 verified there
    assert_eq!((m.len(), m.rows(), m.cols()), (10_000, 28, 28));
    // Class counts of models/data/README.md.
    assert_eq!(
        class_counts(m.labels(MNIST10K_TRAIN).unwrap()),
        [817, 899, 783, 826, 774, 694, 827, 879, 740, 761]
    );
    assert_eq!(
        class_counts(m.labels(MNIST10K_TEST).unwrap()),
        [184, 228, 208, 206, 206, 169, 187, 191, 204, 217]
    );
    let x = m.images_f32(8000..8002).unwrap();
    assert_eq!(x.len(), 2 * 784);
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    let px = m.image(8000).unwrap();
    assert!(
        x[..784]
            .iter()
            .zip(px)
            .all(|(&v, &p)| v == f32::from(p) / 255.0)
    );
    assert!(m.images_f32(9999..10001).is_err());
    assert!(m.image(10_000).is_none());
    assert!(m.verify_sha256(&"0".repeat(64)).is_err());
}

fn payload(count: u32, rows: u32, cols: u32, labels: &[u8]) -> Vec<u8> {
    let mut p = b"TSMNIST1".to_vec();
    for v in [count, rows, cols] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    p.extend((0..count * rows * cols).map(|i| (i % 251) as u8));
    p.extend_from_slice(labels);
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn mnist_err(gz: &[u8]) -> String {
    match Mnist::from_gz_bytes(gz) {
        Err(e @ Error::Data { .. }) => e.to_string(),
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn small_valid_file_round_trips() {
    let p = payload(3, 2, 2, &[1, 2, 9]);
    let m = Mnist::from_gz_bytes(&gzip(&p)).unwrap();
    assert_eq!(m.len(), 3);
    assert_eq!(m.labels(0..3).unwrap(), [1, 2, 9]);
    assert_eq!(m.image(1).unwrap(), [4, 5, 6, 7]);
    assert_eq!(Mnist::from_payload(&p).unwrap(), m);
}

#[test]
fn corrupt_mnist_files_are_clear_errors() {
    let good = payload(3, 2, 2, &[1, 2, 9]);
    let mut bad_magic = good.clone();
    bad_magic[7] = b'2';
    assert!(mnist_err(&gzip(&bad_magic)).contains("magic"));
    assert!(mnist_err(&gzip(&payload(0, 2, 2, &[]))).contains("positive"));
    assert!(mnist_err(&gzip(&payload(3, 2, 2, &[1, 2]))).contains("announces"));
    let mut longer = good.clone();
    longer.push(0);
    assert!(mnist_err(&gzip(&longer)).contains("more than"));
    assert!(mnist_err(&gzip(&payload(3, 2, 2, &[1, 2, 10]))).contains("not a digit"));
    // Dimensions whose product is absurd are refused before anything is inflated.
    let mut huge = good[..20].to_vec();
    huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
    huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(mnist_err(&gzip(&huge)).contains("limit"));
    // The gzip CRC-32: flip one byte of the stored CRC.
    let mut gz = gzip(&good);
    let n = gz.len();
    gz[n - 6] ^= 1;
    assert!(mnist_err(&gz).contains("gzip"), "{}", mnist_err(&gz));
    // Truncated stream; not gzip at all.
    let gz = gzip(&good);
    assert!(mnist_err(&gz[..gz.len() - 9]).contains("gzip"));
    assert!(mnist_err(b"TSMNIST1 plain, not gzip").contains("gzip"));
    // The real file, truncated.
    let real = std::fs::read(mnist10k_path()).unwrap();
    assert!(mnist_err(&real[..real.len() / 2]).contains("gzip"));
    // A missing file.
    assert!(matches!(
        Mnist::from_gz_file("/nonexistent/mnist.bin.gz"),
        Err(Error::Io { .. })
    ));
}

/// A `.npy` file: version `major`, header text (padded as numpy does), data.
fn npy(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let mut b = b"\x93NUMPY".to_vec();
    b.extend_from_slice(&[major, 0]);
    let pre = if major == 1 { 10 } else { 12 };
    let mut h = header.to_string();
    while !(pre + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    if major == 1 {
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        b.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    b.extend_from_slice(h.as_bytes());
    b.extend_from_slice(data);
    b
}

fn floats(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn npy_headers() {
    let d = floats(&[1.0, -2.5, 3.0, 4.0, 5.0, 6.0]);
    let a = NpyF32::from_bytes(&npy(
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
        &d,
    ))
    .unwrap();
    assert_eq!(a.shape, [2, 3]);
    assert_eq!(a.data, [1.0, -2.5, 3.0, 4.0, 5.0, 6.0]);
    // Key order, double quotes, no trailing comma, version 3, 1-tuple, scalar.
    let a = NpyF32::from_bytes(&npy(
        3,
        "{\"shape\": (6,), \"fortran_order\": False, \"descr\": \"<f4\"}",
        &d,
    ))
    .unwrap();
    assert_eq!(a.shape, [6]);
    let a = NpyF32::from_bytes(&npy(
        1,
        "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
        &d[..4],
    ))
    .unwrap();
    assert_eq!((a.shape.len(), a.data.len()), (0, 1));

    let err = |b: Vec<u8>| NpyF32::from_bytes(&b).unwrap_err().to_string();
    let h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    assert!(err(npy(1, h, &d[..20])).contains("do not hold"));
    assert!(err(npy(1, h, &[d.clone(), vec![0]].concat())).contains("do not hold"));
    assert!(err(npy(4, h, &d)).contains("version 4"));
    assert!(
        err(npy(
            1,
            "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
            &d
        ))
        .contains("'<i4'")
    );
    assert!(err(npy(1, "{'descr': '<f4', 'shape': (2, 3), }", &d)).contains("fortran_order"));
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
            &d
        ))
        .contains("unknown key")
    );
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",
            &d
        ))
        .contains("twice")
    );
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }",
            &d
        ))
        .contains("not a size")
    );
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (6,)}",
            &d
        ))
        .contains("bool")
    );
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} extra",
            &d
        ))
        .contains("after")
    );
    assert!(
        err(npy(
            1,
            "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}",
            &d
        ))
        .contains("header")
    );
    assert!(err(b"\x93NUMPY\x01\x00\xff\xff{}".to_vec()).contains("truncated"));
    assert!(err(b"PK\x03\x04 a zip, not npy".to_vec()).contains("magic"));
    // A shape whose size overflows.
    assert!(
        err(npy(
            1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551615, 2)}",
            &d
        ))
        .contains("do not hold")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn npy_parser_never_panics(
        edits in proptest::collection::vec((0usize..140, any::<u8>()), 0..6),
        cut in 0usize..160,
    ) {
        let mut b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                        &floats(&[1.0; 6]));
        for (at, v) in edits {
            let at = at % b.len();
            b[at] = v;
        }
        b.truncate(cut.min(b.len()));
        let _ = NpyF32::from_bytes(&b);
    }

    #[test]
    fn mnist_decoder_never_panics(
        edits in proptest::collection::vec((0usize..200, any::<u8>()), 1..4),
    ) {
        let mut gz = gzip(&payload(3, 4, 4, &[0, 5, 9]));
        for (at, v) in edits {
            let at = at % gz.len();
            gz[at] = v;
        }
        let _ = Mnist::from_gz_bytes(&gz);
    }
}

/// Indices: int64 and int32 `.npy` arrays, read as `i64`; other dtypes and wrong
/// lengths are errors, never panics.
#[test]
fn npy_indices_int64_and_int32() {
    let i8s: Vec<u8> = [3i64, -1, 1 << 40]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let a = NpyIndices::from_bytes(&npy(
        1,
        "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 3), }",
        &i8s,
    ))
    .unwrap();
    assert_eq!(
        (a.shape.as_slice(), a.data.as_slice()),
        (&[1, 3][..], &[3, -1, 1 << 40][..])
    );
    let i4s: Vec<u8> = [7i32, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
    let a = NpyIndices::from_bytes(&npy(
        1,
        "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
        &i4s,
    ))
    .unwrap();
    assert_eq!(a.data, [7, -2]);
    let err = |h: &str, d: &[u8]| {
        NpyIndices::from_bytes(&npy(1, h, d))
            .unwrap_err()
            .to_string()
    };
    assert!(
        err(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
            &i8s[..8]
        )
        .contains("int64")
    );
    assert!(
        err(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
            &i8s
        )
        .contains("do not hold")
    );
    assert!(
        err(
            "{'descr': '>i8', 'fortran_order': False, 'shape': (3,), }",
            &i8s
        )
        .contains(">i8")
    );
    // The float reader refuses indices.
    assert!(
        NpyF32::from_bytes(&npy(
            1,
            "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
            &i8s
        ))
        .is_err()
    );
}
