//! Bit-slicing values for circuit inputs and reading outputs back.
//!
//! A batch of `n` values of width `w` is a [`BitMatrix`] with `w` rows and `n`
//! columns: row `i` holds bit `i` (LSB = row 0) of every value, column `j` is value
//! `j`. This is the layout of [`BitMatrix::from_values`], and the one GMW shares.
//!
//! Wide values are big-endian byte strings read as one integer, as in Bristol
//! Fashion (see `protocols/circuits/README.md`): wire `i` of a value carries bit `i`
//! of the integer, so wire 0 is the least significant bit of the **last** byte. A
//! width that is not a multiple of 8 takes `⌈w/8⌉` bytes whose unused high bits in
//! the first byte are zero. For `w ≤ 64`, [`from_bytes`] of the big-endian bytes of
//! `v` equals [`from_u64`] of `v`.

use tessera_core::BitMatrix;

use crate::{Error, Result};

/// Bit-slices `values`, each of `width ≤ 64` bits.
///
/// # Errors
/// [`Error::InvalidValue`] if `width > 64` or a value does not fit in `width` bits.
pub fn from_u64(values: &[u64], width: usize) -> Result<BitMatrix> {
    if width > 64 {
        return Err(Error::InvalidValue(format!(
            "a {width}-bit value does not fit a u64; use bytes or hex"
        )));
    }
    if width < 64 {
        if let Some((j, v)) = values.iter().enumerate().find(|(_, v)| **v >> width != 0) {
            return Err(Error::InvalidValue(format!(
                "value {j} ({v:#x}) does not fit in {width} bits"
            )));
        }
    }
    Ok(BitMatrix::from_values(values, width))
}

/// Reads a bit-sliced batch of values of at most 64 bits back.
///
/// # Errors
/// [`Error::InvalidValue`] if the values are wider than 64 bits.
pub fn to_u64(m: &BitMatrix) -> Result<Vec<u64>> {
    if m.rows() > 64 {
        return Err(Error::InvalidValue(format!(
            "a {}-bit value does not fit a u64; use bytes or hex",
            m.rows()
        )));
    }
    Ok(m.to_values())
}

/// Bit-slices big-endian byte strings, each `⌈width/8⌉` bytes long.
///
/// # Errors
/// [`Error::InvalidValue`] if a string has the wrong length or sets bits above
/// `width`.
pub fn from_bytes<B: AsRef<[u8]>>(values: &[B], width: usize) -> Result<BitMatrix> {
    let len = width.div_ceil(8);
    let mut m = BitMatrix::zeros(width, values.len());
    for (j, v) in values.iter().enumerate() {
        let v = v.as_ref();
        if v.len() != len {
            return Err(Error::InvalidValue(format!(
                "value {j} has {} bytes, a {width}-bit value takes {len}",
                v.len()
            )));
        }
        if width % 8 != 0 && v[0] >> (width % 8) != 0 {
            return Err(Error::InvalidValue(format!(
                "value {j} sets bits above bit {}",
                width - 1
            )));
        }
        for i in 0..width {
            if (v[len - 1 - i / 8] >> (i % 8)) & 1 == 1 {
                m.set(i, j, true);
            }
        }
    }
    Ok(m)
}

/// Reads a bit-sliced batch back as big-endian byte strings of `⌈rows/8⌉` bytes.
pub fn to_bytes(m: &BitMatrix) -> Vec<Vec<u8>> {
    let len = m.rows().div_ceil(8);
    (0..m.cols())
        .map(|j| {
            let mut v = vec![0u8; len];
            for i in 0..m.rows() {
                if m.get(i, j) {
                    v[len - 1 - i / 8] |= 1 << (i % 8);
                }
            }
            v
        })
        .collect()
}

/// Bit-slices hex strings of big-endian byte strings (two digits a byte, either
/// case), as in the AES and SHA-256 known answers.
///
/// # Errors
/// [`Error::InvalidValue`] if a string is not hex or has the wrong length (see
/// [`from_bytes`]).
pub fn from_hex<S: AsRef<str>>(values: &[S], width: usize) -> Result<BitMatrix> {
    let bytes = values
        .iter()
        .enumerate()
        .map(|(j, s)| {
            hex::decode(s.as_ref())
                .map_err(|e| Error::InvalidValue(format!("value {j} is not hex: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    from_bytes(&bytes, width)
}

/// Reads a bit-sliced batch back as lower-case hex of big-endian byte strings.
pub fn to_hex(m: &BitMatrix) -> Vec<String> {
    to_bytes(m).into_iter().map(hex::encode).collect()
}
