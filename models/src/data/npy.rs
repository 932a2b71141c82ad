//! A small, validating reader of NumPy `.npy` files holding `float32` arrays (for
//! `tessera infer --input X.npy`).
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
//! A small parser (about a hundred lines) rather than a crate: `ndarray-npy`
//! parses the header with `py_literal`, which brings the `pest` parser generator
//! into the build for three keys.

use std::path::Path;

use crate::model::{Model, checked_numel};
use crate::{Error, Result};

/// A `float32` array read from a `.npy` file.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyF32 {
    /// The shape.
    pub shape: Vec<usize>,
    /// The values, row-major (C order).
    pub data: Vec<f32>,
}

fn npy_err(reason: impl Into<String>) -> Error {
    Error::Data {
        format: "npy",
        path: None,
        reason: reason.into(),
    }
}

impl NpyF32 {
    /// Reads a `.npy` file.
    ///
    /// # Errors
    /// [`Error::Io`] if it cannot be read; [`Error::Data`] (with the path) if it is
    /// not a valid little-endian `float32` C-order array.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes).map_err(|e| match e {
            Error::Data { format, reason, .. } => Error::Data {
                format,
                path: Some(path.to_path_buf()),
                reason,
            },
            e => e,
        })
    }

    /// Parses the bytes of a `.npy` file.
    ///
    /// # Errors
    /// [`Error::Data`] as for [`NpyF32::from_file`].
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
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
        let header = start
            .checked_add(hlen)
            .and_then(|end| b.get(start..end))
            .ok_or_else(|| npy_err(format!("header of {hlen} bytes is truncated")))?;
        let header = std::str::from_utf8(header).map_err(|_| npy_err("header is not text"))?;
        if major < 3 && !header.is_ascii() {
            return Err(npy_err("a version 1 or 2 header must be ASCII"));
        }
        let dict = parse_header(header)?;
        let descr = dict.descr.ok_or_else(|| npy_err("header has no 'descr'"))?;
        let fortran = dict
            .fortran_order
            .ok_or_else(|| npy_err("header has no 'fortran_order'"))?;
        let shape = dict.shape.ok_or_else(|| npy_err("header has no 'shape'"))?;
        if descr != "<f4" {
            return Err(npy_err(format!(
                "dtype '{descr}'; Tessera reads little-endian float32 ('<f4') arrays"
            )));
        }
        if fortran {
            return Err(npy_err(
                "Fortran-order arrays are not supported; save in C order",
            ));
        }
        let data = &b[start + hlen..];
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
