//! Data loaders: the MNIST-10k file and `.npy` float32 arrays.

pub mod mnist;
pub mod npy;

pub use mnist::{MNIST10K_PAYLOAD_SHA256, MNIST10K_TEST, MNIST10K_TRAIN, Mnist};
pub use npy::{NpyF32, NpyIndices};
