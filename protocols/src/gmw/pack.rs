//! Tight bit packing: `n` bits of a wire (a packed row whose last word may carry
//! garbage past `n`, e.g. after a local INV) written to or read from any bit offset of
//! a packed stream. With offsets and lengths that are multiples of 64 both are word
//! copies.

/// The mask of the valid bits in the last word of an `n`-bit row (`!0` if `n` is a
/// multiple of 64).
#[inline]
pub(crate) fn tail_mask(n: usize) -> u64 {
    match n % 64 {
        0 => !0,
        r => (1u64 << r) - 1,
    }
}

/// ORs bits `0..n` of `src` into `dst` at bit offset `off`. The target bits must be
/// zero beforehand; bits of `src` past `n` are ignored.
///
/// # Panics
/// If `src` holds fewer than `n` bits or `dst` fewer than `off + n`.
pub(crate) fn put_bits(dst: &mut [u64], off: usize, src: &[u64], n: usize) {
    if n == 0 {
        return;
    }
    let nw = n.div_ceil(64);
    let (q, r) = (off / 64, off % 64);
    let last = tail_mask(n);
    for (i, &s) in src[..nw].iter().enumerate() {
        let w = if i + 1 == nw { s & last } else { s };
        if r == 0 {
            dst[q + i] |= w;
        } else {
            dst[q + i] |= w << r;
            let hi = w >> (64 - r);
            if hi != 0 {
                dst[q + i + 1] |= hi;
            }
        }
    }
}

/// Overwrites `dst` (`⌈n/64⌉` words) with bits `off..off + n` of `src`, clearing the
/// bits past `n` in its last word.
///
/// # Panics
/// If `src` holds fewer than `off + n` bits or `dst` fewer than `⌈n/64⌉` words.
pub(crate) fn get_bits(src: &[u64], off: usize, n: usize, dst: &mut [u64]) {
    if n == 0 {
        return;
    }
    let nw = n.div_ceil(64);
    let (q, r) = (off / 64, off % 64);
    if r == 0 {
        dst[..nw].copy_from_slice(&src[q..q + nw]);
    } else {
        for (i, d) in dst[..nw].iter_mut().enumerate() {
            let hi = src.get(q + i + 1).map_or(0, |w| w << (64 - r));
            *d = (src[q + i] >> r) | hi;
        }
    }
    dst[nw - 1] &= tail_mask(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bit(v: &[u64], i: usize) -> bool {
        (v[i / 64] >> (i % 64)) & 1 == 1
    }

    #[test]
    fn put_then_get_round_trips_at_every_offset() {
        let src: Vec<u64> = (0..4u64)
            .map(|i| 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i + 1) | 1 << 63)
            .collect();
        for n in [1usize, 5, 63, 64, 65, 127, 128, 200, 256] {
            for off in [0usize, 1, 7, 63, 64, 65, 130] {
                let mut dst = vec![0u64; (off + n).div_ceil(64)];
                put_bits(&mut dst, off, &src, n);
                for i in 0..dst.len() * 64 {
                    let want = i >= off && i < off + n && bit(&src, i - off);
                    assert_eq!(bit(&dst, i), want, "n={n} off={off} bit {i}");
                }
                let mut back = vec![!0u64; n.div_ceil(64)];
                get_bits(&dst, off, n, &mut back);
                for i in 0..back.len() * 64 {
                    assert_eq!(bit(&back, i), i < n && bit(&src, i), "n={n} off={off}");
                }
            }
        }
    }
}
