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
    if width < 64
        && let Some((j, v)) = values.iter().enumerate().find(|(_, v)| **v >> width != 0)
    {
        return Err(Error::InvalidValue(format!(
            "value {j} ({v:#x}) does not fit in {width} bits"
        )));
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
        if !width.is_multiple_of(8) && v[0] >> (width % 8) != 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u64_round_trip_and_width_checks() {
        let v = [0, 1, u64::MAX, 0x8000_0000_0000_0000];
        assert_eq!(to_u64(&from_u64(&v, 64).unwrap()).unwrap(), v);
        assert_eq!(to_u64(&from_u64(&[5, 7], 3).unwrap()).unwrap(), vec![5, 7]);
        assert!(matches!(from_u64(&[8], 3), Err(Error::InvalidValue(_))));
        assert!(matches!(from_u64(&[0], 65), Err(Error::InvalidValue(_))));
        assert!(matches!(
            to_u64(&BitMatrix::zeros(65, 1)),
            Err(Error::InvalidValue(_))
        ));
    }

    #[test]
    fn bytes_agree_with_u64_and_check_lengths() {
        for width in [1usize, 7, 8, 12, 16, 63, 64] {
            let v: u64 = 0x0123_4567_89ab_cdef & if width == 64 { !0 } else { (1 << width) - 1 };
            let len = width.div_ceil(8);
            let be = v.to_be_bytes()[8 - len..].to_vec();
            assert_eq!(
                from_bytes(&[&be], width).unwrap(),
                from_u64(&[v], width).unwrap()
            );
            assert_eq!(to_bytes(&from_u64(&[v], width).unwrap()), vec![be]);
        }
        assert!(matches!(
            from_bytes(&[[1u8, 2]], 8),
            Err(Error::InvalidValue(_))
        ));
        assert!(matches!(
            from_bytes(&[[0x10u8]], 4),
            Err(Error::InvalidValue(_))
        ));
        assert!(matches!(from_hex(&["zz"], 8), Err(Error::InvalidValue(_))));
        assert!(matches!(
            from_hex(&["abc"], 12),
            Err(Error::InvalidValue(_))
        ));
        assert_eq!(to_hex(&from_hex(&["0ABC"], 12).unwrap()), vec!["0abc"]);
    }
}
