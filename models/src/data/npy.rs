//! A small, validating reader and a writer of NumPy `.npy` files holding `float32`
//! arrays (for `tessera infer --input X.npy` and `--output Y.npy`).
//!
//! Format (NumPy's `numpy.lib.format`, versions 1.0, 2.0 and 3.0): the magic
//! `\x93NUMPY`, a major and minor version byte, the header length (u16 LE in 1.0,
//! u32 LE in 2.0 and 3.0), a header that is a Python dict literal
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 28, 28), }` padded
//! with spaces and ending in a newline, then the data.
//!
//! Only little-endian `float32` (`'<f4'`) in C order is accepted; any other dtype,
//! Fortran order, a header that is not exactly such a dict, or a data length other
//! than `4 × Π shape` is an [`Error::Data`] that says which.
//!
//! [`NpyF32::to_bytes`] writes what `numpy.save` writes for a C-order `float32`
//! array: version 1.0 (2.0 only if the header outgrows a u16, as NumPy does), keys in
//! sorted order, the spare spaces NumPy leaves after the dict so that the first axis
//! can grow in place, and space padding up to a newline so that the data starts at
//! a multiple of 64 bytes.
//!
//! A small parser (about a hundred lines) rather than a crate: `ndarray-npy`
//! parses the header with `py_literal`, which brings the `pest` parser generator
//! into the build for three keys.

use std::path::Path;

use crate::model::{Model, checked_numel};
use crate::{Error, Result};

/// A `float32` array read from or written to a `.npy` file. Its `Debug` output shows
/// the shape only: the values are a party's input or output.
#[derive(Clone, PartialEq)]
pub struct NpyF32 {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major (C order).
    pub data: Vec<f32>,
}

impl std::fmt::Debug for NpyF32 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyF32")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

/// NumPy's alignment of the data start (`numpy.lib.format.ARRAY_ALIGN`).
const ARRAY_ALIGN: usize = 64;
/// The spare digits NumPy leaves for the growing axis
/// (`numpy.lib.format.GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;

fn npy_err(reason: impl Into<String>) -> Error {
    Error::Data {
        format: "npy",
        path: None,
        reason: reason.into(),
    }
}

impl NpyF32 {
    /// An array of `shape` holding `data` in C order.
    ///
    /// # Errors
    /// [`Error::Shape`] unless `data` has `Π shape` values.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let a = NpyF32 { shape, data };
        a.check()?;
        Ok(a)
    }

    fn check(&self) -> Result<()> {
        if checked_numel(&self.shape) == Some(self.data.len()) {
            Ok(())
        } else {
            Err(Error::shape(
                "npy array",
                format!("{} values for shape {:?}", self.data.len(), self.shape),
            ))
        }
    }

    /// The bytes of a `.npy` file holding this array: little-endian `float32`, C
    /// order, the header as `numpy.save` writes it (see the module docs), so that
    /// `numpy.load` and [`NpyF32::from_bytes`] read it back.
    ///
    /// # Errors
    /// [`Error::Shape`] if `data` does not hold `Π shape` values (the fields are
    /// public, so this is checked here too).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.check()?;
        // Python's repr of the shape tuple: `()`, `(5,)`, `(2, 3)`.
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        let shape = match dims.as_slice() {
            [one] => format!("({one},)"),
            _ => format!("({})", dims.join(", ")),
        };
        let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
        if let Some(first) = dims.first() {
            let spare = GROWTH_AXIS_MAX_DIGITS.saturating_sub(first.len());
            header.extend(std::iter::repeat_n(' ', spare));
        }
        // Magic (6), version (2), header length (2 bytes in 1.0, 4 in 2.0), header,
        // spaces, '\n'. NumPy pads with 1 to 64 spaces (64 when already aligned) and
        // moves to 2.0 when the padded header outgrows the u16.
        let padded = |prefix: usize| {
            let used = prefix + header.len() + 1;
            header.len() + (ARRAY_ALIGN - used % ARRAY_ALIGN) + 1
        };
        let (major, prefix) = if padded(10) <= usize::from(u16::MAX) {
            (1u8, 10)
        } else {
            (2u8, 12)
        };
        let len = padded(prefix);
        header.extend(std::iter::repeat_n(' ', len - header.len() - 1));
        header.push('\n');
        let mut out = Vec::with_capacity(prefix + header.len() + 4 * self.data.len());
        out.extend_from_slice(b"\x93NUMPY");
        out.extend_from_slice(&[major, 0]);
        match major {
            1 => out.extend_from_slice(&(header.len() as u16).to_le_bytes()),
            _ => out.extend_from_slice(&(header.len() as u32).to_le_bytes()),
        }
        out.extend_from_slice(header.as_bytes());
        for v in &self.data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// Writes this array to a `.npy` file (created or truncated).
    ///
    /// # Errors
    /// [`Error::Shape`] as for [`NpyF32::to_bytes`]; [`Error::Io`] with the path if
    /// the file cannot be written.
    pub fn write_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()?).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a `.npy` file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; [`Error::Data`] (with the path) if it is
    /// not a valid little-endian `float32` C-order array.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_file(path.as_ref(), Self::from_bytes)
    }

    /// Parses the bytes of a `.npy` file.
    ///
    /// # Errors
    /// [`Error::Data`] as for [`NpyF32::from_file`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let (descr, shape, data) = parse(b)?;
        if descr != "<f4" {
            return Err(npy_err(format!(
                "dtype '{descr}'; Tessera reads little-endian float32 ('<f4') arrays"
            )));
        }
        let n = checked_numel(&shape)
            .filter(|n| n.checked_mul(4) == Some(data.len()))
            .ok_or_else(|| {
                npy_err(format!(
                    "{} data bytes do not hold a float32 array of shape {shape:?}",
                    data.len()
                ))
            })?;
        let values: Vec<f32> = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        debug_assert_eq!(values.len(), n);
        Ok(NpyF32 {
            shape,
            data: values,
        })
    }

    /// Checks that this array is an input of `model` — its per-example input shape,
    /// with or without a leading batch dimension — and returns the batch size.
    ///
    /// # Errors
    /// [`Error::Shape`] otherwise, or if the batch is empty.
    pub fn batch_for(&self, model: &Model) -> Result<usize> {
        let per = model.input_shape();
        if self.shape == per {
            return Ok(1);
        }
        match self.shape.split_first() {
            Some((&n, rest)) if rest == per && n > 0 => Ok(n),
            _ => Err(Error::shape(
                "npy input",
                format!(
                    "array of shape {:?}; the model takes {per:?} or [N, {}]",
                    self.shape,
                    per.iter()
                        .map(usize::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
}

/// The dtype, shape and data bytes of a `.npy` file (C order checked).
fn parse(b: &[u8]) -> Result<(String, Vec<usize>, &[u8])> {
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(npy_err("not a .npy file (no \\x93NUMPY magic)"));
    }
    let (major, minor) = (b[6], b[7]);
    let (hlen, start): (usize, usize) = match major {
        1 => (usize::from(u16::from_le_bytes([b[8], b[9]])), 10),
        2 | 3 if b.len() >= 12 => (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12),
        _ => {
            return Err(npy_err(format!(
                "format version {major}.{minor} is not supported"
            )));
        }
    };
    let end = start
        .checked_add(hlen)
        .filter(|&end| end <= b.len())
        .ok_or_else(|| npy_err(format!("header of {hlen} bytes is truncated")))?;
    let header = std::str::from_utf8(&b[start..end]).map_err(|_| npy_err("header is not text"))?;
    if major < 3 && !header.is_ascii() {
        return Err(npy_err("a version 1 or 2 header must be ASCII"));
    }
    let dict = parse_header(header)?;
    let descr = dict.descr.ok_or_else(|| npy_err("header has no 'descr'"))?;
    let fortran = dict
        .fortran_order
        .ok_or_else(|| npy_err("header has no 'fortran_order'"))?;
    let shape = dict.shape.ok_or_else(|| npy_err("header has no 'shape'"))?;
    if fortran {
        return Err(npy_err(
            "Fortran-order arrays are not supported; save in C order",
        ));
    }
    Ok((descr, shape, &b[end..]))
}

/// Integer indices read from a `.npy` file of little-endian `int64` (`'<i8'`) or
/// `int32` (`'<i4'`) values, as `i64` (the input of a model with an index input, see
/// [`crate::IndexInput`]). Its `Debug` output shows the shape only.
#[derive(Clone, PartialEq)]
pub struct NpyIndices {
    /// The shape.
    pub shape: Vec<usize>,
    /// The indices, row-major.
    pub data: Vec<i64>,
}

impl std::fmt::Debug for NpyIndices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyIndices")
            .field("shape", &self.shape)
            .finish_non_exhaustive()
    }
}

impl NpyIndices {
    /// Reads an `int64` or `int32` `.npy` file.
    ///
    /// # Errors
    /// [`Error::Io`] if unreadable; [`Error::Data`] naming the file for another dtype,
    /// Fortran order, a malformed header or a wrong data length.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        read_file(path.as_ref(), Self::from_bytes)
    }

    /// Parses the bytes of an `int64` or `int32` `.npy` file.
    ///
    /// # Errors
    /// As [`NpyIndices::from_file`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let (descr, shape, data) = parse(b)?;
        let width = match descr.as_str() {
            "<i8" => 8,
            "<i4" => 4,
            _ => {
                return Err(npy_err(format!(
                    "dtype '{descr}'; indices are little-endian int64 ('<i8') or int32 ('<i4')"
                )));
            }
        };
        checked_numel(&shape)
            .filter(|n| n.checked_mul(width) == Some(data.len()))
            .ok_or_else(|| {
                npy_err(format!(
                    "{} data bytes do not hold a {descr} array of shape {shape:?}",
                    data.len()
                ))
            })?;
        let data = data
            .chunks_exact(width)
            .map(|c| match *c {
                [a, b, c, d] => i64::from(i32::from_le_bytes([a, b, c, d])),
                [a, b, c, d, e, f, g, h] => i64::from_le_bytes([a, b, c, d, e, f, g, h]),
                _ => 0,
            })
            .collect();
        Ok(NpyIndices { shape, data })
    }
}

#[derive(Default)]
struct Header {
    descr: Option<String>,
    fortran_order: Option<bool>,
    shape: Option<Vec<usize>>,
}

/// A cursor over the header text.
struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: u8) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(npy_err(format!(
                "header: expected {:?} at byte {}",
                c as char, self.i
            )))
        }
    }
    fn string(&mut self) -> Result<String> {
        let q = match self.peek() {
            Some(q @ (b'\'' | b'"')) => q,
            _ => {
                return Err(npy_err(format!(
                    "header: expected a string at byte {}",
                    self.i
                )));
            }
        };
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            if self.s[self.i] == b'\\' {
                return Err(npy_err("header: escapes in strings are not supported"));
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err(npy_err("header: unterminated string"));
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }
    fn word(&mut self) -> &str {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
    fn tuple(&mut self) -> Result<Vec<usize>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            let w = self.word().to_string();
            let d: usize = w
                .strip_suffix('L')
                .unwrap_or(&w)
                .parse()
                .map_err(|_| npy_err(format!("header: shape entry {w:?} is not a size")))?;
            dims.push(d);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

fn parse_header(text: &str) -> Result<Header> {
    let mut c = Cursor {
        s: text.as_bytes(),
        i: 0,
    };
    let mut h = Header::default();
    c.expect(b'{')?;
    loop {
        if c.eat(b'}') {
            break;
        }
        let key = c.string()?;
        c.expect(b':')?;
        let dup = match key.as_str() {
            "descr" => h.descr.replace(c.string()?).is_some(),
            "fortran_order" => {
                let v = match c.word() {
                    "True" => true,
                    "False" => false,
                    w => {
                        return Err(npy_err(format!(
                            "header: fortran_order {w:?} is not a bool"
                        )));
                    }
                };
                h.fortran_order.replace(v).is_some()
            }
            "shape" => h.shape.replace(c.tuple()?).is_some(),
            k => return Err(npy_err(format!("header: unknown key {k:?}"))),
        };
        if dup {
            return Err(npy_err(format!("header: key {key:?} appears twice")));
        }
        if !c.eat(b',') {
            c.expect(b'}')?;
            break;
        }
    }
    c.ws();
    if c.i != c.s.len() {
        return Err(npy_err("header: text after the dict"));
    }
    Ok(h)
}

/// Reads a `.npy` file and parses it with `parse`, naming the file in a parse error.
fn read_file<T>(path: &Path, parse: impl FnOnce(&[u8]) -> Result<T>) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&bytes).map_err(|e| match e {
        Error::Data { format, reason, .. } => Error::Data {
            format,
            path: Some(path.to_path_buf()),
            reason,
        },
        e => e,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn arr(shape: &[usize]) -> NpyF32 {
        let n: usize = shape.iter().product();
        let data = (0..n).map(|i| i as f32 * 0.25 - 3.5).collect();
        NpyF32::new(shape.to_vec(), data).unwrap()
    }

    #[test]
    fn written_arrays_read_back_with_the_data_aligned() {
        for shape in [
            &[][..],
            &[5],
            &[2, 3],
            &[3, 1, 28, 28],
            &[0],
            &[2, 0, 3],
            &[1_234_567_890, 0],
        ] {
            let a = arr(shape);
            let b = a.to_bytes().unwrap();
            assert_eq!(NpyF32::from_bytes(&b).unwrap(), a, "{shape:?}");
            assert_eq!(&b[..8], b"\x93NUMPY\x01\x00", "{shape:?}");
            let hlen = usize::from(u16::from_le_bytes([b[8], b[9]]));
            assert_eq!((10 + hlen) % 64, 0, "{shape:?}: data offset");
            assert_eq!(b[9 + hlen], b'\n', "{shape:?}");
            assert_eq!(b.len(), 10 + hlen + 4 * a.data.len());
        }
        // Special values survive bit for bit.
        let a = NpyF32::new(vec![4], vec![f32::MIN, -0.0, f32::INFINITY, 1e-45]).unwrap();
        let back = NpyF32::from_bytes(&a.to_bytes().unwrap()).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back.data), bits(&a.data));
    }

    #[test]
    fn header_is_the_one_numpy_writes() {
        // `numpy.save` (NumPy 1.24.2) of `numpy.zeros((2, 3), '<f4')` and of a 0-d
        // array: 118 header bytes each, the dict, NumPy's spare spaces for the
        // first axis, padding, newline.
        let numpy_2x3 = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }}{}\n",
            " ".repeat(58)
        );
        let numpy_0d = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': (), }}{}\n",
            " ".repeat(62)
        );
        for (shape, want) in [(&[2, 3][..], numpy_2x3), (&[], numpy_0d)] {
            let b = NpyF32::new(shape.to_vec(), vec![0.0; shape.iter().product()])
                .unwrap()
                .to_bytes()
                .unwrap();
            assert_eq!(u16::from_le_bytes([b[8], b[9]]), 118, "{shape:?}");
            assert_eq!(std::str::from_utf8(&b[10..128]).unwrap(), want, "{shape:?}");
        }
    }

    #[test]
    fn a_header_too_long_for_version_1_uses_version_2() {
        let a = NpyF32::new(vec![1; 22_000], vec![7.0]).unwrap();
        let b = a.to_bytes().unwrap();
        assert_eq!(&b[6..8], [2, 0]);
        let hlen = u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize;
        assert_eq!((12 + hlen) % 64, 0);
        assert_eq!(NpyF32::from_bytes(&b).unwrap(), a);
    }

    #[test]
    fn mismatched_data_and_unwritable_paths_are_errors() {
        assert!(matches!(
            NpyF32::new(vec![2, 3], vec![0.0; 5]),
            Err(Error::Shape { .. })
        ));
        let bad = NpyF32 {
            shape: vec![usize::MAX, 2],
            data: vec![],
        };
        assert!(matches!(bad.to_bytes(), Err(Error::Shape { .. })));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.npy");
        let a = arr(&[2, 10]);
        a.write_file(&path).unwrap();
        assert_eq!(NpyF32::from_file(&path).unwrap(), a);
        let missing = dir.path().join("no-such-dir").join("y.npy");
        match a.write_file(&missing) {
            Err(Error::Io { path, .. }) => assert_eq!(path, missing),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn debug_shows_the_shape_and_no_value() {
        let a = NpyF32::new(vec![2], vec![1234.5, -6789.25]).unwrap();
        let d = format!("{a:?}");
        assert!(d.contains("[2]"), "{d}");
        assert!(!d.contains("1234") && !d.contains("6789"), "{d}");
    }
}
