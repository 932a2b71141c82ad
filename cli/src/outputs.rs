//! The outputs a client receives from a secure run, decoded: named tensors with a
//! per-example shape (any graph output — scores, feature maps, probabilities — under
//! its graph name), printed as text, serialised to JSON and written to `.npy`, and
//! their comparison with the plaintext fixed-point reference.
//!
//! The values are the client's secrets: printing or saving them is the client's own
//! output, but no `Debug` here shows them (it gives the name and shapes only), so a
//! `{:?}` in a log or an error message leaks nothing.

use std::fmt::Write as _;
use std::path::Path;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};
use tessera_core::{FixedPoint, Ring};
use tessera_models::NpyF32;

use crate::CliError;

/// One output of a model for a batch: `batch` examples of `shape` each, decoded to
/// reals. Its `Debug` output shows the name and shapes, never the values.
#[derive(Clone, PartialEq)]
pub struct OutputTensor {
    name: String,
    shape: Vec<usize>,
    batch: usize,
    values: Vec<f64>,
}

impl std::fmt::Debug for OutputTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputTensor")
            .field("name", &self.name)
            .field("shape", &self.shape)
            .field("batch", &self.batch)
            .finish_non_exhaustive()
    }
}

/// The number of values of one example of `shape`.
fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

impl OutputTensor {
    /// An output named `name`: `batch` examples of `shape`, `values` batch-major and
    /// each example in C order.
    ///
    /// # Errors
    /// [`CliError::Check`] unless `values` holds `batch × Π shape` values.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        batch: usize,
        values: Vec<f64>,
    ) -> Result<Self, CliError> {
        let name = name.into();
        if numel(&shape).and_then(|n| n.checked_mul(batch)) != Some(values.len()) {
            return Err(CliError::Check(format!(
                "output `{name}`: {} values are not {batch} examples of shape {shape:?}",
                values.len()
            )));
        }
        Ok(OutputTensor {
            name,
            shape,
            batch,
            values,
        })
    }

    /// Decodes ring values at scale `2^f` (`signed value / 2^f`, exact in `f64`
    /// while `|signed value| < 2^53`).
    ///
    /// # Errors
    /// As [`OutputTensor::new`].
    pub fn decode<R: Ring>(
        name: impl Into<String>,
        shape: Vec<usize>,
        batch: usize,
        ring: &[R],
        fp: FixedPoint,
    ) -> Result<Self, CliError> {
        Self::new(name, shape, batch, fp.decode_slice(ring))
    }

    /// The output's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The values of one example.
    fn per_example(&self) -> usize {
        self.values.len() / self.batch.max(1)
    }

    /// Example `i`'s values (C order), or `None` past the batch.
    pub fn example(&self, i: usize) -> Option<&[f64]> {
        if i >= self.batch {
            return None;
        }
        let per = self.per_example();
        self.values.get(i * per..(i + 1) * per)
    }

    /// The tensor as text: a line naming it with its shapes, then one line per
    /// example, `#i: [v, …]` with four decimals, aligned across examples. At most
    /// `max_examples` examples are shown, then a line saying how many more there
    /// are; an example of more than `max_values` values shows its first
    /// `max_values`, then `…` and its count.
    pub fn text(&self, max_examples: usize, max_values: usize) -> String {
        let per = self.per_example();
        let shown = self.batch.min(max_examples);
        let take = per.min(max_values);
        let cells: Vec<Vec<String>> = (0..shown)
            .map(|i| {
                self.example(i)
                    .unwrap_or_default()
                    .iter()
                    .take(take)
                    .map(|v| format!("{v:.4}"))
                    .collect()
            })
            .collect();
        let width = cells.iter().flatten().map(String::len).max().unwrap_or(0);
        let index_width = shown.saturating_sub(1).to_string().len();
        let mut out = format!(
            "{}: {} example{} × {:?}",
            self.name,
            self.batch,
            if self.batch == 1 { "" } else { "s" },
            self.shape
        );
        for (i, row) in cells.iter().enumerate() {
            let row: Vec<String> = row.iter().map(|c| format!("{c:>width$}")).collect();
            let more = if take < per {
                format!(", …] ({per} values)")
            } else {
                "]".to_string()
            };
            let _ = write!(out, "\n  #{i:<index_width$} [{}{more}", row.join(", "));
        }
        if shown < self.batch {
            let _ = write!(out, "\n  … {} more examples", self.batch - shown);
        }
        out
    }

    /// The tensor as a `float32` array of shape `[batch] ++ shape` (values rounded
    /// to the nearest `f32`).
    ///
    /// # Errors
    /// [`CliError::Models`] if the shape does not hold the values (not for a tensor
    /// made by [`OutputTensor::new`]).
    pub fn to_npy(&self) -> Result<NpyF32, CliError> {
        let shape = std::iter::once(self.batch)
            .chain(self.shape.iter().copied())
            .collect();
        Ok(NpyF32::new(
            shape,
            self.values.iter().map(|&v| v as f32).collect(),
        )?)
    }

    /// Writes [`OutputTensor::to_npy`] to `path`.
    ///
    /// # Errors
    /// [`CliError::Usage`] naming the file if it cannot be written.
    pub fn write_npy(&self, path: &Path) -> Result<(), CliError> {
        self.to_npy()?.write_file(path).map_err(|e| match e {
            tessera_models::Error::Io { path, source } => {
                CliError::Usage(format!("cannot write {}: {source}", path.display()))
            }
            e => e.into(),
        })
    }
}

/// One example's values nested as its shape (a scalar for shape `[]`), as
/// `numpy.ndarray.tolist` gives them.
struct Nested<'a> {
    shape: &'a [usize],
    values: &'a [f64],
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some((&n, rest)) = self.shape.split_first() else {
            return s.serialize_f64(self.values.first().copied().unwrap_or(f64::NAN));
        };
        let sub = numel(rest).unwrap_or(0);
        let mut seq = s.serialize_seq(Some(n))?;
        for k in 0..n {
            let values = self.values.get(k * sub..(k + 1) * sub).unwrap_or_default();
            seq.serialize_element(&Nested {
                shape: rest,
                values,
            })?;
        }
        seq.end()
    }
}

/// `{"name", "shape" (per example), "batch", "values"}` with `values` a list of the
/// examples, each nested as `shape` (so `numpy.array(values)` has shape
/// `[batch] ++ shape`).
impl Serialize for OutputTensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Examples<'a>(&'a OutputTensor);
        impl Serialize for Examples<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let t = self.0;
                let mut seq = s.serialize_seq(Some(t.batch))?;
                for i in 0..t.batch {
                    seq.serialize_element(&Nested {
                        shape: &t.shape,
                        values: t.example(i).unwrap_or_default(),
                    })?;
                }
                seq.end()
            }
        }
        let mut st = s.serialize_struct("OutputTensor", 4)?;
        st.serialize_field("name", &self.name)?;
        st.serialize_field("shape", &self.shape)?;
        st.serialize_field("batch", &self.batch)?;
        st.serialize_field("values", &Examples(self))?;
        st.end()
    }
}

/// How one secure output compares with the plaintext fixed-point reference, in
/// units of `2^-f` (differences of the ring values, read as signed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutputCheck {
    /// The output's name.
    pub name: String,
    /// Whether the plan computes the reference exactly (no dealer truncation), so
    /// that every value must be equal.
    pub exact: bool,
    /// The largest difference allowed: 0 under an exact plan, else the reference's
    /// worst-case bound ([`tessera_models::FixedRun::error_bound_ulps`]).
    pub allowed_ulps: u128,
    /// The largest `|secure − reference|`.
    pub max_diff_ulps: u64,
    /// How many values differ.
    pub differing: usize,
    /// How many values were compared.
    pub compared: usize,
}

impl OutputCheck {
    /// Compares `secure` with `reference` (ring values at scale `2^f`, same layout).
    /// `bound_ulps` is the reference's bound, used when the plan is not `exact`.
    ///
    /// # Errors
    /// [`CliError::Check`] if the two do not have the same number of values.
    pub fn compare<R: Ring>(
        name: impl Into<String>,
        secure: &[R],
        reference: &[R],
        exact: bool,
        bound_ulps: u128,
    ) -> Result<Self, CliError> {
        let name = name.into();
        if secure.len() != reference.len() {
            return Err(CliError::Check(format!(
                "output `{name}`: {} secure values, {} in the reference",
                secure.len(),
                reference.len()
            )));
        }
        let diffs = secure
            .iter()
            .zip(reference)
            .map(|(&s, &r)| (s - r).to_i64().unsigned_abs());
        let (mut max_diff_ulps, mut differing) = (0, 0);
        for d in diffs {
            max_diff_ulps = max_diff_ulps.max(d);
            differing += usize::from(d != 0);
        }
        Ok(OutputCheck {
            name,
            exact,
            allowed_ulps: if exact { 0 } else { bound_ulps },
            max_diff_ulps,
            differing,
            compared: secure.len(),
        })
    }

    /// Whether the difference is within what is allowed.
    pub fn ok(&self) -> bool {
        u128::from(self.max_diff_ulps) <= self.allowed_ulps
    }

    /// One line for the text report, e.g. `scores vs the plaintext fixed-point
    /// reference: 30/30 equal, largest difference 0 × 2^-16 (exact plan: must be 0)`.
    pub fn text(&self, frac_bits: u32) -> String {
        let rule = if self.exact {
            "exact plan: must be 0".to_string()
        } else {
            format!(
                "the reference's bound for this plan: {} × 2^-{frac_bits}",
                self.allowed_ulps
            )
        };
        format!(
            "{} vs the plaintext fixed-point reference: {}/{} equal, largest difference {} × 2^-{frac_bits} ({rule}){}",
            self.name,
            self.compared - self.differing,
            self.compared,
            self.max_diff_ulps,
            if self.ok() { "" } else { " — FAILED" }
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use tessera_core::Z64;

    use super::*;

    fn t(shape: &[usize], batch: usize) -> OutputTensor {
        let n = numel(shape).unwrap() * batch;
        let values = (0..n).map(|i| i as f64 * 0.5 - 1.0).collect();
        OutputTensor::new("out", shape.to_vec(), batch, values).unwrap()
    }

    #[test]
    fn json_nests_each_example_as_its_shape() {
        let j = serde_json::to_value(t(&[2, 3], 2)).unwrap();
        assert_eq!(j["shape"], serde_json::json!([2, 3]));
        assert_eq!(j["batch"], 2);
        assert_eq!(
            j["values"],
            serde_json::json!([
                [[-1.0, -0.5, 0.0], [0.5, 1.0, 1.5]],
                [[2.0, 2.5, 3.0], [3.5, 4.0, 4.5]]
            ])
        );
        let j = serde_json::to_value(t(&[], 3)).unwrap();
        assert_eq!(j["values"], serde_json::json!([-1.0, -0.5, 0.0]));
        let j = serde_json::to_value(t(&[2, 0], 1)).unwrap();
        assert_eq!(j["values"], serde_json::json!([[[], []]]));
    }

    #[test]
    fn text_shows_the_first_values_and_examples_then_counts() {
        let s = t(&[3], 2).text(20, 16);
        assert_eq!(
            s,
            "out: 2 examples × [3]\n  #0 [-1.0000, -0.5000,  0.0000]\n  #1 [ 0.5000,  1.0000,  1.5000]"
        );
        let s = t(&[40], 30).text(20, 4);
        assert!(
            s.contains("\n  #0  [ -1.0000,  -0.5000,   0.0000,   0.5000, …] (40 values)"),
            "{s}"
        );
        assert!(s.ends_with("\n  … 10 more examples"), "{s}");
        assert_eq!(s.lines().count(), 22);
    }

    #[test]
    fn npy_has_the_batch_first_and_debug_no_values() {
        let x = t(&[2, 3], 4);
        let a = x.to_npy().unwrap();
        assert_eq!(a.shape, [4, 2, 3]);
        assert_eq!(a.data[7], 2.5);
        let d = format!("{x:?}");
        assert!(d.contains("[2, 3]") && !d.contains("2.5"), "{d}");
        assert!(OutputTensor::new("x", vec![3], 2, vec![0.0; 5]).is_err());
    }

    #[test]
    fn example_is_none_past_the_batch() {
        let x = t(&[3], 2);
        assert_eq!(x.example(1), Some(&[0.5, 1.0, 1.5][..]));
        assert_eq!(x.example(2), None);
        assert_eq!(x.example(usize::MAX), None);
    }

    #[test]
    fn check_counts_signed_ring_differences() {
        let z = |v: i64| Z64::from_i64(v);
        let s = [z(5), z(-3), z(0)];
        let r = [z(5), z(-1), z(-1)];
        let c = OutputCheck::compare("scores", &s, &r, false, 2).unwrap();
        assert_eq!((c.max_diff_ulps, c.differing, c.compared), (2, 2, 3));
        assert!(c.ok());
        let c = OutputCheck::compare("scores", &s, &r, true, 2).unwrap();
        assert!(!c.ok());
        assert!(
            c.text(16)
                .contains("1/3 equal, largest difference 2 × 2^-16")
        );
        assert!(OutputCheck::compare("scores", &s, &r[..2], true, 0).is_err());
    }
}
