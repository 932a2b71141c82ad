//! Shared helpers of the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use tessera_models::data::MNIST10K_PAYLOAD_SHA256;
use tessera_models::data::mnist::mnist10k_path;
use tessera_models::{Mnist, Model, load_onnx_file};

pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn onnx_path(name: &str) -> PathBuf {
    crate_dir().join("onnx").join(format!("{name}.onnx"))
}

pub fn fixture(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures").join(name)
}

pub fn model(name: &str) -> Model {
    load_onnx_file(onnx_path(name)).unwrap()
}

/// MNIST-10k, loaded and checked once per test binary.
pub fn mnist() -> &'static Mnist {
    static M: OnceLock<Mnist> = OnceLock::new();
    M.get_or_init(|| {
        let m = Mnist::from_gz_file(mnist10k_path()).unwrap();
        m.verify_sha256(MNIST10K_PAYLOAD_SHA256).unwrap();
        m
    })
}

pub fn json(path: PathBuf) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `float_reference.json`'s entry for a model.
pub fn float_reference(name: &str) -> serde_json::Value {
    json(crate_dir().join("onnx/float_reference.json"))["models"][name].clone()
}

pub fn usizes(v: &serde_json::Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// How many layers of each kind, sorted by kind.
pub fn kinds(m: &Model) -> Vec<(&'static str, usize)> {
    let mut k: Vec<(&'static str, usize)> = Vec::new();
    for l in m.layers() {
        match k.iter_mut().find(|(n, _)| *n == l.op().kind()) {
            Some((_, c)) => *c += 1,
            None => k.push((l.op().kind(), 1)),
        }
    }
    k.sort_unstable();
    k
}
