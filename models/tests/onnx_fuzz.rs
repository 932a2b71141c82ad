#![allow(clippy::unwrap_used)]
//! Malformed ONNX bytes are an error, never a panic: the real models' bytes, truncated
//! and mutated, must load to `Ok` or `Err`. When a mutant still loads, running it
//! through both interpreters must not panic either.

mod common;

use std::sync::OnceLock;

use proptest::prelude::*;
use tessera_core::{FixedPoint, Z64};
use tessera_models::{FixedModel, load_onnx};

fn models() -> &'static [Vec<u8>; 2] {
    static M: OnceLock<[Vec<u8>; 2]> = OnceLock::new();
    M.get_or_init(|| {
        [
            std::fs::read(common::onnx_path("mlp")).unwrap(),
            std::fs::read(common::onnx_path("cnn")).unwrap(),
        ]
    })
}

/// Loads `bytes`; if that works, runs one all-zero example through the float and
/// fixed-point interpreters (any outcome but a panic is fine).
fn exercise(bytes: &[u8]) -> bool {
    let Ok(m) = load_onnx(bytes) else {
        return false;
    };
    let x = vec![0.25f32; m.input_len()];
    let _ = m.run_float::<f32>(&x);
    if let Ok(fm) = FixedModel::<Z64>::new(&m, FixedPoint::default()) {
        let _ = fm.run_f32(&x);
    }
    true
}

/// The byte offsets of the graph's structure (node list and value infos) lie before
/// the big weight blobs at the end; mutations are spread over the whole file but
/// favour the first 4 KiB, where a flipped byte changes structure rather than a weight.
fn position(len: usize) -> impl Strategy<Value = usize> {
    prop_oneof![0..len.min(4096), 0..len]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn truncated_models_do_not_panic(which in 0usize..2, cut in 0.0f64..1.0) {
        let bytes = &models()[which];
        let n = (cut * bytes.len() as f64) as usize;
        // A strict prefix of a protobuf message can still be a valid message (one that
        // stops between fields); it must then fail the loader's checks, not panic.
        exercise(&bytes[..n]);
    }

    #[test]
    fn mutated_models_do_not_panic(
        which in 0usize..2,
        edits in proptest::collection::vec((position(343_948), any::<u8>()), 1..8),
    ) {
        let mut bytes = models()[which].clone();
        for (at, v) in edits {
            let at = at % bytes.len();
            bytes[at] = v;
        }
        exercise(&bytes);
    }

    #[test]
    fn spliced_models_do_not_panic(
        which in 0usize..2,
        at in position(343_948),
        del in 0usize..64,
        ins in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut bytes = models()[which].clone();
        let at = at % bytes.len();
        let end = (at + del).min(bytes.len());
        bytes.splice(at..end, ins);
        exercise(&bytes);
    }
}

#[test]
fn every_prefix_of_the_head_is_handled() {
    // Exhaustively: every truncation within the first 2 KiB of both models.
    for bytes in models() {
        for n in 0..2048.min(bytes.len()) {
            assert!(
                !exercise(&bytes[..n]),
                "a {n}-byte prefix loaded as a model"
            );
        }
    }
}
