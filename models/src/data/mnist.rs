//! The MNIST-10k file `models/data/mnist-10k.bin.gz` (format in
//! `models/data/README.md`): a gzip stream of the magic `TSMNIST1`, `count`, `rows`,
//! `cols` (u32 little-endian), `count·rows·cols` pixels (u8) and `count` labels (u8,
//! 0..9).
//!
//! Validation: the gzip CRC-32 and length trailer (checked by `flate2` at the end of
//! the stream), the magic, non-zero and bounded dimensions, the exact payload length
//! (nothing missing, nothing after), labels in 0..9, and — with
//! [`Mnist::verify_sha256`] — the payload's SHA-256 against a known value such as
//! [`MNIST10K_PAYLOAD_SHA256`]. Decompression never reads more than the header
//! announces plus one byte, so a gzip bomb is cut off.

use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The SHA-256 of the uncompressed payload of `models/data/mnist-10k.bin.gz`.
pub const MNIST10K_PAYLOAD_SHA256: &str =
    "bc1c6dc784e0a1129926b9a7e7fd8c4a69ac5ef2010b8912621be1b1583213e0";
/// The training records of MNIST-10k.
pub const MNIST10K_TRAIN: Range<usize> = 0..8000;
/// The test records of MNIST-10k ("test index t" is record 8000 + t).
pub const MNIST10K_TEST: Range<usize> = 8000..10000;

const MAGIC: &[u8; 8] = b"TSMNIST1";
const HEADER: usize = 20;
/// The largest pixel payload accepted (1 GiB).
const MAX_PIXELS: usize = 1 << 30;

/// A set of labelled 8-bit grey images.
#[derive(Clone, PartialEq, Eq)]
pub struct Mnist {
    rows: usize,
    cols: usize,
    pixels: Vec<u8>,
    labels: Vec<u8>,
    sha256: [u8; 32],
}

impl std::fmt::Debug for Mnist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Mnist({} images {}×{}, payload sha256 {})",
            self.len(),
            self.rows,
            self.cols,
            self.payload_sha256()
        )
    }
}

fn data_err(path: Option<&Path>, reason: impl Into<String>) -> Error {
    Error::Data {
        format: "MNIST",
        path: path.map(Path::to_path_buf),
        reason: reason.into(),
    }
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]) as usize
}

impl Mnist {
    /// Reads a gzip-compressed MNIST file.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read; [`Error::Data`] if it is corrupt.
    pub fn from_gz_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::decode_gz(&bytes, Some(path))
    }

    /// Decodes gzip-compressed MNIST bytes.
    ///
    /// # Errors
    /// [`Error::Data`] if the bytes are not a valid gzip stream of a valid payload.
    pub fn from_gz_bytes(bytes: &[u8]) -> Result<Self> {
        Self::decode_gz(bytes, None)
    }

    fn decode_gz(bytes: &[u8], path: Option<&Path>) -> Result<Self> {
        let gz_err = |e: std::io::Error| data_err(path, format!("gzip stream: {e}"));
        let mut dec = GzDecoder::new(bytes);
        let mut payload = vec![0u8; HEADER];
        dec.read_exact(&mut payload).map_err(gz_err)?;
        let total = Self::check_header(&payload, path)?;
        // Read at most one byte more than announced, so that extra data is seen but
        // a decompression bomb is not inflated.
        let rest = (total - HEADER) as u64 + 1;
        dec.by_ref()
            .take(rest)
            .read_to_end(&mut payload)
            .map_err(gz_err)?;
        if payload.len() != total {
            return Err(data_err(
                path,
                format!(
                    "payload is {}{} bytes, the header announces {total}",
                    if payload.len() > total {
                        "more than "
                    } else {
                        ""
                    },
                    payload.len().min(total)
                ),
            ));
        }
        // Reaching the end of the stream makes flate2 check the CRC-32 and length.
        let mut tail = [0u8; 1];
        match dec.read(&mut tail).map_err(gz_err)? {
            0 => {}
            _ => return Err(data_err(path, "data after the announced payload")),
        }
        Self::from_payload_inner(payload, path)
    }

    /// Validates the 20-byte header and returns the payload size it announces.
    fn check_header(h: &[u8], path: Option<&Path>) -> Result<usize> {
        if &h[..8] != MAGIC {
            return Err(data_err(
                path,
                format!(
                    "magic {:?}, expected \"TSMNIST1\"",
                    String::from_utf8_lossy(&h[..8])
                ),
            ));
        }
        let (count, rows, cols) = (u32_at(h, 8), u32_at(h, 12), u32_at(h, 16));
        if count == 0 || rows == 0 || cols == 0 {
            return Err(data_err(
                path,
                format!("{count} images of {rows}×{cols}: every count must be positive"),
            ));
        }
        let pixels = count
            .checked_mul(rows)
            .and_then(|v| v.checked_mul(cols))
            .filter(|&v| v <= MAX_PIXELS)
            .ok_or_else(|| {
                data_err(
                    path,
                    format!("{count} images of {rows}×{cols} exceed the 1 GiB limit"),
                )
            })?;
        Ok(HEADER + pixels + count)
    }

    /// Decodes an uncompressed payload.
    ///
    /// # Errors
    /// [`Error::Data`] if the payload is invalid.
    pub fn from_payload(payload: &[u8]) -> Result<Self> {
        if payload.len() < HEADER {
            return Err(data_err(
                None,
                format!("{} bytes is shorter than the header", payload.len()),
            ));
        }
        let total = Self::check_header(&payload[..HEADER], None)?;
        if payload.len() != total {
            return Err(data_err(
                None,
                format!(
                    "payload is {} bytes, the header announces {total}",
                    payload.len()
                ),
            ));
        }
        Self::from_payload_inner(payload.to_vec(), None)
    }

    fn from_payload_inner(payload: Vec<u8>, path: Option<&Path>) -> Result<Self> {
        let (count, rows, cols) = (
            u32_at(&payload, 8),
            u32_at(&payload, 12),
            u32_at(&payload, 16),
        );
        let npx = count * rows * cols;
        let labels = payload[HEADER + npx..].to_vec();
        if let Some((i, &l)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
            return Err(data_err(
                path,
                format!("label {l} of image {i} is not a digit"),
            ));
        }
        let sha256 = Sha256::digest(&payload).into();
        let pixels = payload[HEADER..HEADER + npx].to_vec();
        Ok(Mnist {
            rows,
            cols,
            pixels,
            labels,
            sha256,
        })
    }

    /// The SHA-256 of the uncompressed payload, in hex.
    pub fn payload_sha256(&self) -> String {
        hex::encode(self.sha256)
    }

    /// Checks the payload's SHA-256 against `expected_hex`.
    ///
    /// # Errors
    /// [`Error::Data`] if it differs.
    pub fn verify_sha256(&self, expected_hex: &str) -> Result<()> {
        let got = self.payload_sha256();
        if !got.eq_ignore_ascii_case(expected_hex) {
            return Err(data_err(
                None,
                format!("payload sha256 {got}, expected {expected_hex}"),
            ));
        }
        Ok(())
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images (never true for a decoded file).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image height.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Image width.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The pixels of image `i` (row-major), if it exists.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.rows * self.cols;
        self.pixels.get(i * n..(i + 1) * n)
    }

    /// The labels of the records in `range`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the range is out of bounds.
    pub fn labels(&self, range: Range<usize>) -> Result<&[u8]> {
        self.check_range(&range)?;
        Ok(&self.labels[range])
    }

    /// The images of the records in `range` as model input: `pixel / 255` in `f32`
    /// (correctly rounded, as numpy's `float32(k) / float32(255)`), shaped
    /// `[n, 1, rows, cols]`, row-major.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the range is out of bounds.
    pub fn images_f32(&self, range: Range<usize>) -> Result<Vec<f32>> {
        self.check_range(&range)?;
        let n = self.rows * self.cols;
        Ok(self.pixels[range.start * n..range.end * n]
            .iter()
            .map(|&p| f32::from(p) / 255.0)
            .collect())
    }

    fn check_range(&self, range: &Range<usize>) -> Result<()> {
        if range.start > range.end || range.end > self.len() {
            return Err(Error::InvalidArgument {
                what: "MNIST records",
                detail: format!("range {range:?} of {} records", self.len()),
            });
        }
        Ok(())
    }
}

/// The default location of the MNIST-10k file relative to the `models` crate.
pub fn mnist10k_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist-10k.bin.gz")
}
