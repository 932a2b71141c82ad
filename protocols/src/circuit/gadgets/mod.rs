//! The gadget library: word-level building blocks as methods on [`Builder`].
//!
//! A word is a slice of wires, least significant bit first; signed words are two's
//! complement. Arithmetic is mod 2^ℓ. Where a size-optimised and a depth-optimised
//! construction differ, the gadget takes a [`Variant`]: GMW pays one round per AND
//! layer, so on slow links depth wins; Yao pays per AND gate whatever the depth, so
//! size wins. [`gadget_cost_table`] prints what each costs.
//!
//! | gadget | size-optimised | depth-optimised |
//! |---|---|---|
//! | [`Builder::add`], [`Builder::sub`] | ripple carry, one AND a bit | Sklansky parallel prefix (Ladner–Fischer family) |
//! | [`Builder::lt_unsigned`], [`Builder::lt_signed`] | one-AND carry chain | prefix tree |
//! | [`Builder::eq`] | AND tree (both) | |
//! | [`Builder::mux`] | one AND a bit (both) | |
//! | [`Builder::max_signed`], [`Builder::max_pool`], [`Builder::argmax`] | via the comparator | via the comparator |
//! | [`Builder::relu`] | one AND a bit (both) | |
//! | [`Builder::mul`] | schoolbook, ripple accumulation | Wallace tree + prefix adder |
//! | [`Builder::sum`] (many words) | tree of ripple adders | Dadda tree + prefix adder |
//! | [`Builder::sum_columns`] (sparse bits), [`Builder::mul_const`] | Dadda tree + ripple adder | Dadda tree + prefix adder |
//! | [`Builder::decode`] (one-hot), [`Builder::select_constant`] (free) | AND tree (both) | |

mod arith;
mod compare;
mod lookup;

use super::Builder;
use super::ir::Wire;
use crate::Result;

/// Which construction a gadget uses where a size- and a depth-optimised one differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Fewest AND gates (ripple-carry style): best for Yao, or GMW on a fast link.
    Size,
    /// Logarithmic AND depth (parallel prefix, Wallace tree): best for GMW on a
    /// high-latency link.
    Depth,
}

impl Variant {
    /// Both variants.
    pub const ALL: [Variant; 2] = [Variant::Size, Variant::Depth];
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Variant::Size => "size",
            Variant::Depth => "depth",
        })
    }
}

/// Panics unless `a` and `b` are non-empty words of equal width.
fn check_pair(op: &str, a: &[Wire], b: &[Wire]) {
    assert!(
        !a.is_empty() && a.len() == b.len(),
        "{op}: words of width {} and {} (must be equal and non-zero)",
        a.len(),
        b.len()
    );
}

/// Words of the multi-operand sum row of [`gadget_cost_table`].
pub const TABLE_SUM_WORDS: usize = 8;
/// Window of the max-pooling row of [`gadget_cost_table`] (a 2×2 pool).
pub const TABLE_POOL_WINDOW: usize = 4;
/// Number of values of the argmax row of [`gadget_cost_table`] (ten classes).
pub const TABLE_ARGMAX_VALUES: usize = 10;

type GadgetFn = fn(&mut Builder, usize, Variant);

/// The gadgets of the cost table: name, whether the variant matters, and a function
/// that builds the gadget on fresh inputs of width ℓ and outputs its result.
fn table_rows() -> Vec<(&'static str, bool, GadgetFn)> {
    fn two(b: &mut Builder, l: usize) -> (Vec<Wire>, Vec<Wire>) {
        (b.input(l), b.input(l))
    }
    vec![
        ("add", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.add(&x, &y, v);
            b.output(&r);
        }),
        ("sub", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.sub(&x, &y, v);
            b.output(&r);
        }),
        ("lt_unsigned", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.lt_unsigned(&x, &y, v);
            b.output(&[r]);
        }),
        ("lt_signed", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.lt_signed(&x, &y, v);
            b.output(&[r]);
        }),
        ("eq", false, |b, l, _| {
            let (x, y) = two(b, l);
            let r = b.eq(&x, &y);
            b.output(&[r]);
        }),
        ("mux", false, |b, l, _| {
            let s = b.input(1);
            let (x, y) = two(b, l);
            let r = b.mux(s[0], &x, &y);
            b.output(&r);
        }),
        ("max_signed", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.max_signed(&x, &y, v);
            b.output(&r);
        }),
        ("relu", false, |b, l, _| {
            let x = b.input(l);
            let r = b.relu(&x);
            b.output(&r);
        }),
        ("mul", true, |b, l, v| {
            let (x, y) = two(b, l);
            let r = b.mul(&x, &y, v);
            b.output(&r);
        }),
        ("sum (8 words)", true, |b, l, v| {
            let w: Vec<Vec<Wire>> = (0..TABLE_SUM_WORDS).map(|_| b.input(l)).collect();
            let r = b.sum(&w, v);
            b.output(&r);
        }),
        ("max_pool (window 4)", true, |b, l, v| {
            let w: Vec<Vec<Wire>> = (0..TABLE_POOL_WINDOW).map(|_| b.input(l)).collect();
            let r = b.max_pool(&w, v);
            b.output(&r);
        }),
        ("argmax (10 values)", true, |b, l, v| {
            let w: Vec<Vec<Wire>> = (0..TABLE_ARGMAX_VALUES).map(|_| b.input(l)).collect();
            let (i, m) = b.argmax(&w, v);
            b.output(&i);
            b.output(&m);
        }),
    ]
}

/// The AND gates and AND depth of every gadget of the library for each width in
/// `widths` and each variant, measured by [`super::Circuit::cost`] on finished
/// circuits, as a Markdown table. `protocols/examples/gadget_costs.rs` prints it for
/// ℓ = 32 and 64; the copy in `protocols/src/circuit/README.md` is checked against it
/// by a test.
///
/// # Errors
/// Only if a gadget builds an invalid circuit, which would be a bug.
pub fn gadget_cost_table(widths: &[usize]) -> Result<String> {
    let mut s = String::from("| gadget | variant |");
    let mut rule = String::from("|---|---|");
    for l in widths {
        s.push_str(&format!(" AND (ℓ={l}) | depth (ℓ={l}) |"));
        rule.push_str("---:|---:|");
    }
    s.push('\n');
    s.push_str(&rule);
    s.push('\n');
    for (name, varies, build) in table_rows() {
        let variants: &[Variant] = if varies {
            &Variant::ALL
        } else {
            &[Variant::Size]
        };
        for &v in variants {
            let label = if varies { v.to_string() } else { "—".into() };
            s.push_str(&format!("| {name} | {label} |"));
            for &l in widths {
                let mut b = Builder::new();
                build(&mut b, l, v);
                let cost = b.finish()?.cost();
                s.push_str(&format!(" {} | {} |", cost.and_gates, cost.and_depth));
            }
            s.push('\n');
        }
    }
    Ok(s)
}
