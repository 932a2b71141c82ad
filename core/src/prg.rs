//! AES-based randomness: an AES-128-CTR PRG seeded from the OS CSPRNG, and the
//! fixed-key AES permutation with the correlation-robust hashes of Guo, Katz, Wang
//! and Yu ("Efficient and secure multiparty computation from fixed-key block
//! ciphers", S&P 2020) that garbling uses.
//!
//! Both encrypt many blocks per call through the `aes` crate's `encrypt_blocks`, which
//! uses AES-NI, or VAES-256/512 where the CPU has it, on whole batches. The crate
//! selects the backend at run time, but a call costs tens of nanoseconds of dispatch
//! unless the build enables the target features: the workspace's
//! `.cargo/config.toml` builds with `-C target-cpu=native`, which on a Zen 4 core
//! takes batched fixed-key AES from about 1.0 to 3.1 G blocks/s. Callers batch
//! (hundreds of blocks per call) in any case.

use std::sync::LazyLock;

use aes::Aes128;
use aes::cipher::array::Array;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use rand_core::{CryptoRng, RngCore, SeedableRng};

use crate::Block;

/// Views a byte slice whose length is a multiple of 16 as AES blocks (no copy).
///
/// # Panics
/// If the length is not a multiple of 16 (an internal invariant of the callers).
#[inline]
fn as_aes_blocks(bytes: &mut [u8]) -> &mut [aes::Block] {
    let (blocks, rest) = Array::slice_as_chunks_mut(bytes);
    assert!(rest.is_empty(), "AES input must be whole blocks");
    blocks
}

/// Blocks per internal buffer refill (4 KiB).
const BUF_BLOCKS: usize = 256;

/// AES-128 in counter mode as a cryptographically secure PRG.
///
/// The output stream is a pure function of the seed: the same seed and the same
/// sequence of calls give the same bytes, which is what seed compression relies on.
/// The key never appears in `Debug`.
#[derive(Clone)]
pub struct Prg {
    cipher: Aes128,
    counter: u128,
    buf: Box<[u8; BUF_BLOCKS * 16]>,
    pos: usize,
}

impl std::fmt::Debug for Prg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prg(<redacted>)")
    }
}

impl Prg {
    /// A PRG keyed by `seed`.
    pub fn from_seed_block(seed: Block) -> Self {
        Prg {
            cipher: Aes128::new(&seed.to_bytes().into()),
            counter: 0,
            buf: Box::new([0u8; BUF_BLOCKS * 16]),
            pos: BUF_BLOCKS * 16,
        }
    }

    /// The first `n` words of the stream of the PRG keyed by `seed` (what
    /// [`Prg::from_seed_block`] followed by `n` calls of `next_u64` gives) into `out`,
    /// without the PRG's buffer: one key schedule and `⌈n/2⌉` blocks, where a fresh
    /// PRG would allocate its 4 KiB buffer and fill it whole. For many short
    /// expansions (the vector OLEs of the OT source: one per OT string).
    pub fn expand_words(seed: Block, n: usize, out: &mut Vec<u64>) {
        out.clear();
        out.resize(n.div_ceil(2) * 2, 0);
        let cipher = Aes128::new(&seed.to_bytes().into());
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(out.as_mut_slice());
        keystream_into(&cipher, &mut 0, bytes);
        // The stream's bytes are read as little-endian words, as `next_u64` does.
        for w in out.iter_mut() {
            *w = u64::from_le(*w);
        }
        out.truncate(n);
    }

    /// A PRG seeded from the operating system's CSPRNG.
    ///
    /// # Panics
    /// If the operating system cannot provide randomness (as `rand::rng()` does);
    /// running without an entropy source would be unsafe.
    pub fn from_entropy() -> Self {
        Self::from_seed_block(os_seed())
    }

    fn refill(&mut self) {
        keystream_into(&self.cipher, &mut self.counter, &mut self.buf[..]);
        self.pos = 0;
    }

    /// A fresh, independent seed drawn from this PRG.
    pub fn gen_seed(&mut self) -> Block {
        let mut b = [0u8; 16];
        self.fill_bytes(&mut b);
        Block::from_bytes(b)
    }
}

/// Counter blocks made on the stack per AES call of [`keystream_into`] (1 KiB: stays in
/// L1, and a batch long enough for the cipher's widest backend).
const CTR_CHUNK: usize = 64;

/// Writes the next `out.len() / 16` counter-mode keystream blocks into `out`: block
/// `i` is `AES_k(counter + i)`, the counter little-endian. The counters are made a
/// chunk at a time in a small buffer and encrypted from it into `out`, so that `out`
/// (often a cold buffer) is written once, by the cipher.
fn keystream_into(cipher: &Aes128, counter: &mut u128, out: &mut [u8]) {
    let mut ctr = [[0u64; 2]; CTR_CHUNK];
    for chunk in as_aes_blocks(out).chunks_mut(CTR_CHUNK) {
        let n = chunk.len();
        let (lo, hi) = (*counter as u64, (*counter >> 64) as u64);
        if lo.checked_add(n as u64).is_some() {
            // No carry into the high word within the chunk: plain 64-bit adds.
            for (i, c) in ctr[..n].iter_mut().enumerate() {
                *c = [(lo + i as u64).to_le(), hi.to_le()];
            }
        } else {
            for (i, c) in ctr[..n].iter_mut().enumerate() {
                let v = counter.wrapping_add(i as u128);
                *c = [(v as u64).to_le(), ((v >> 64) as u64).to_le()];
            }
        }
        *counter = counter.wrapping_add(n as u128);
        let (input, _) = Array::slice_as_chunks(bytemuck::cast_slice::<[u64; 2], u8>(&ctr[..n]));
        let r = cipher.encrypt_blocks_b2b(input, chunk);
        debug_assert!(r.is_ok(), "counter chunk and output chunk have one length");
    }
}

impl RngCore for Prg {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // 1. Whatever is left in the buffer (it holds the next keystream bytes).
        let avail = self.buf.len() - self.pos;
        let take = avail.min(dest.len());
        dest[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        let rest = &mut dest[take..];
        if rest.is_empty() {
            return;
        }
        // 2. Whole blocks straight into the destination, no copy.
        let whole = rest.len() / 16 * 16;
        let (bulk, tail) = rest.split_at_mut(whole);
        keystream_into(&self.cipher, &mut self.counter, bulk);
        // 3. The tail from a fresh buffer.
        if !tail.is_empty() {
            self.refill();
            tail.copy_from_slice(&self.buf[..tail.len()]);
            self.pos = tail.len();
        }
    }
}

impl CryptoRng for Prg {}

impl SeedableRng for Prg {
    type Seed = [u8; 16];
    fn from_seed(seed: [u8; 16]) -> Self {
        Prg::from_seed_block(Block::from_bytes(seed))
    }
}

/// 16 bytes from the operating system's CSPRNG.
///
/// # Panics
/// If the operating system cannot provide randomness.
pub fn os_seed() -> Block {
    let mut b = [0u8; 16];
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut b).expect("the operating system's random number generator failed");
    Block::from_bytes(b)
}

/// The public fixed key of the fixed-key AES permutation π (any public constant works;
/// this is the first 16 bytes of the binary expansion of π).
const FIXED_KEY: [u8; 16] = [
    0x24, 0x3f, 0x6a, 0x88, 0x85, 0xa3, 0x08, 0xd3, 0x13, 0x19, 0x8a, 0x2e, 0x03, 0x70, 0x73, 0x44,
];

/// The fixed-key AES permutation π(x) = AES_k(x) for a public key k, and the hashes
/// built from it (GKWY20).
#[derive(Clone)]
pub struct FixedKeyAes {
    cipher: Aes128,
}

static FIXED_KEY_AES: LazyLock<FixedKeyAes> = LazyLock::new(|| FixedKeyAes {
    cipher: Aes128::new(&FIXED_KEY.into()),
});

impl FixedKeyAes {
    /// The process-wide instance (key schedule computed once).
    pub fn get() -> &'static FixedKeyAes {
        &FIXED_KEY_AES
    }

    /// π applied in place to every block (batched).
    #[inline]
    pub fn permute_many(&self, blocks: &mut [Block]) {
        self.cipher
            .encrypt_blocks(as_aes_blocks(bytemuck::cast_slice_mut(blocks)));
    }

    /// `out[j] = π(input[j])` (batched, buffer to buffer: saves a copy when the input
    /// must be kept).
    ///
    /// # Panics
    /// If the lengths differ.
    #[inline]
    pub fn permute_into(&self, input: &[Block], out: &mut [Block]) {
        let (blocks, rest) = Array::slice_as_chunks(bytemuck::cast_slice::<Block, u8>(input));
        assert!(rest.is_empty(), "AES input must be whole blocks");
        let r = self
            .cipher
            .encrypt_blocks_b2b(blocks, as_aes_blocks(bytemuck::cast_slice_mut(out)));
        assert!(
            r.is_ok(),
            "permute_into: {} blocks into {}",
            input.len(),
            out.len()
        );
    }

    /// π(x) for one block.
    pub fn permute(&self, x: Block) -> Block {
        let mut b = [x];
        self.permute_many(&mut b);
        b[0]
    }

    /// The linear orthomorphism σ(xL ‖ xR) = (xL ⊕ xR) ‖ xL of GKWY20 §7.
    #[inline]
    pub fn sigma(x: Block) -> Block {
        let hi = (x.0 >> 64) as u64;
        let lo = x.0 as u64;
        Block(((u128::from(hi ^ lo)) << 64) | u128::from(hi))
    }

    /// Circular correlation-robust hash H(x) = π(σ(x)) ⊕ σ(x), in place (GKWY20 §7.2).
    pub fn ccr_many(&self, xs: &mut [Block]) {
        for x in xs.iter_mut() {
            *x = Self::sigma(*x);
        }
        let s: Vec<Block> = xs.to_vec();
        self.permute_many(xs);
        for (x, s) in xs.iter_mut().zip(s) {
            *x ^= s;
        }
    }

    /// [`FixedKeyAes::tccr_many`] with counted tweaks: block `j` of `xs` is hashed with
    /// the tweak `hi | (first + j / per)` (`hi` in the high 64 bits; `per` = 1 gives
    /// every block its own index, 2 gives each pair of blocks one — the two strings of
    /// one transfer). `scratch` holds `π(x)` where the blocks go through memory.
    ///
    /// Where the build has VAES and AVX-512 (the workspace's `-C target-cpu=native` on
    /// Zen 4 or Ice Lake) sixteen blocks at a time go through both rounds of AES in
    /// registers with their tweaks made there too, instead of two batched passes of
    /// the cipher and two more over memory for the tweaks and the final XOR; the rest
    /// (and other CPUs) by the batched passes. The same hash either way (tested).
    ///
    /// # Panics
    /// If `per` is not 1 or 2 (a caller's bug).
    pub fn tccr_counted(
        &self,
        xs: &mut [Block],
        scratch: &mut Vec<Block>,
        hi: u128,
        first: u64,
        per: usize,
    ) {
        assert!(per == 1 || per == 2, "one or two blocks per tweak");
        #[cfg(all(
            target_arch = "x86_64",
            target_feature = "vaes",
            target_feature = "avx512f"
        ))]
        {
            // SAFETY: `vaes::tccr_counted` needs SSE2, AES-NI, AVX-512 F and VAES, which
            // this build enables for the whole binary (the `cfg` above, from the
            // build's target features): the binary runs only on CPUs that have them,
            // as all of its code compiled for them does.
            #[allow(unsafe_code)]
            let done = unsafe { vaes::tccr_counted(FIXED_KEY, xs, (hi >> 64) as u64, first, per) };
            // `done` is a multiple of 16, so the rest's first tweak index is whole.
            let rest = &mut xs[done..];
            self.tccr_counted_batched(rest, scratch, hi, first + (done / per) as u64, per);
        }
        #[cfg(not(all(
            target_arch = "x86_64",
            target_feature = "vaes",
            target_feature = "avx512f"
        )))]
        self.tccr_counted_batched(xs, scratch, hi, first, per);
    }

    /// [`FixedKeyAes::tccr_counted`] by batched passes of the cipher over memory.
    fn tccr_counted_batched(
        &self,
        xs: &mut [Block],
        scratch: &mut Vec<Block>,
        hi: u128,
        first: u64,
        per: usize,
    ) {
        if scratch.len() < xs.len() {
            scratch.resize(xs.len(), Block::ZERO);
        }
        let px = &mut scratch[..xs.len()];
        self.permute_into(xs, px);
        for (j, (x, &p)) in xs.iter_mut().zip(px.iter()).enumerate() {
            *x = p ^ Block(hi | u128::from(first + (j / per) as u64));
        }
        self.permute_many(xs);
        for (x, &p) in xs.iter_mut().zip(px.iter()) {
            *x ^= p;
        }
    }

    /// Tweakable circular correlation-robust hash H(x, i) = π(π(x) ⊕ i) ⊕ π(x), in
    /// place, with tweak `tweaks[j]` for `xs[j]` (GKWY20 §7.3, the hash half-gates uses).
    ///
    /// # Panics
    /// If `xs` and `tweaks` differ in length.
    pub fn tccr_many(&self, xs: &mut [Block], tweaks: &[Block]) {
        assert_eq!(xs.len(), tweaks.len(), "one tweak per block");
        self.permute_many(xs);
        let px: Vec<Block> = xs.to_vec();
        for (x, t) in xs.iter_mut().zip(tweaks) {
            *x ^= *t;
        }
        self.permute_many(xs);
        for (x, p) in xs.iter_mut().zip(px) {
            *x ^= p;
        }
    }
}

/// Fixed-key AES on 512-bit registers (four blocks each), for builds with VAES and
/// AVX-512.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "vaes",
    target_feature = "avx512f"
))]
mod vaes {
    use std::arch::x86_64::{
        __m128i, __m512i, _mm_aeskeygenassist_si128, _mm_shuffle_epi32, _mm_slli_si128,
        _mm_xor_si128, _mm512_add_epi64, _mm512_aesenc_epi128, _mm512_aesenclast_epi128,
        _mm512_broadcast_i32x4, _mm512_set_epi64, _mm512_xor_si512,
    };

    use crate::Block;

    /// One step of the AES-128 key schedule.
    #[target_feature(enable = "sse2,aes")]
    fn next_key<const RCON: i32>(prev: __m128i) -> __m128i {
        let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<RCON>(prev));
        let mut p = prev;
        p = _mm_xor_si128(p, _mm_slli_si128::<4>(p));
        p = _mm_xor_si128(p, _mm_slli_si128::<4>(p));
        p = _mm_xor_si128(p, _mm_slli_si128::<4>(p));
        _mm_xor_si128(p, t)
    }

    /// AES-128's eleven round keys of `key` (the bytes as the `aes` crate takes them),
    /// each broadcast to the four lanes of a register.
    #[target_feature(enable = "sse2,aes,avx512f")]
    fn round_keys(key: [u8; 16]) -> [__m512i; 11] {
        let mut k = [bytemuck::cast::<[u8; 16], __m128i>(key); 11];
        k[1] = next_key::<0x01>(k[0]);
        k[2] = next_key::<0x02>(k[1]);
        k[3] = next_key::<0x04>(k[2]);
        k[4] = next_key::<0x08>(k[3]);
        k[5] = next_key::<0x10>(k[4]);
        k[6] = next_key::<0x20>(k[5]);
        k[7] = next_key::<0x40>(k[6]);
        k[8] = next_key::<0x80>(k[7]);
        k[9] = next_key::<0x1b>(k[8]);
        k[10] = next_key::<0x36>(k[9]);
        let mut out = [_mm512_broadcast_i32x4(k[0]); 11];
        for (o, r) in out.iter_mut().zip(k) {
            *o = _mm512_broadcast_i32x4(r);
        }
        out
    }

    /// π on sixteen blocks (four registers, their rounds interleaved).
    #[target_feature(enable = "avx512f,vaes")]
    fn permute(mut s: [__m512i; 4], rk: &[__m512i; 11]) -> [__m512i; 4] {
        for v in &mut s {
            *v = _mm512_xor_si512(*v, rk[0]);
        }
        for r in &rk[1..10] {
            for v in &mut s {
                *v = _mm512_aesenc_epi128(*v, *r);
            }
        }
        for v in &mut s {
            *v = _mm512_aesenclast_epi128(*v, rk[10]);
        }
        s
    }

    /// The hash of [`super::FixedKeyAes::tccr_counted`] under `key`, on the whole
    /// groups of sixteen blocks at the front of `xs`; returns how many blocks it
    /// hashed (the key schedule is made per call: tens of nanoseconds against the
    /// microseconds of a batch).
    #[target_feature(enable = "sse2,aes,avx512f,vaes")]
    pub(super) fn tccr_counted(
        key: [u8; 16],
        xs: &mut [Block],
        hi: u64,
        first: u64,
        per: usize,
    ) -> usize {
        let rk = round_keys(key);
        let hi = hi as i64;
        // Register q holds blocks 4q .. 4q + 3 of a group, lane l's tweak index being
        // (4q + l) / per past the group's first; each group adds 16 / per.
        let mut tw = [_mm512_xor_si512(rk[0], rk[0]); 4];
        for (q, t) in tw.iter_mut().enumerate() {
            let at = |l: usize| first.wrapping_add(((4 * q + l) / per) as u64) as i64;
            *t = _mm512_set_epi64(hi, at(3), hi, at(2), hi, at(1), hi, at(0));
        }
        let step = (16 / per) as i64;
        let inc = _mm512_set_epi64(0, step, 0, step, 0, step, 0, step);
        let whole = xs.len() / 16 * 16;
        let groups: &mut [[Block; 16]] = bytemuck::cast_slice_mut(&mut xs[..whole]);
        for g in groups.iter_mut() {
            let p = permute(bytemuck::cast(*g), &rk);
            let mut y = p;
            for (v, t) in y.iter_mut().zip(&tw) {
                *v = _mm512_xor_si512(*v, *t);
            }
            let mut y = permute(y, &rk);
            for (v, p) in y.iter_mut().zip(&p) {
                *v = _mm512_xor_si512(*v, *p);
            }
            *g = bytemuck::cast(y);
            for t in &mut tw {
                *t = _mm512_add_epi64(*t, inc);
            }
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_tweaks_hash_as_tccr_many() {
        // Lengths around the 16-block groups of the register path, both tweak
        // spacings, a tweak domain in the high bits.
        let aes = FixedKeyAes::get();
        let mut prg = Prg::from_seed_block(Block(77));
        let hi = 0xdead_beef_u128 << 64;
        for n in [0usize, 1, 15, 16, 17, 32, 100, 1000, 1024] {
            for per in [1, 2] {
                let xs = Block::random_vec(&mut prg, n);
                let first = 1_000_000 + n as u64;
                let tweaks: Vec<Block> = (0..n)
                    .map(|j| Block(hi | u128::from(first + (j / per) as u64)))
                    .collect();
                let mut want = xs.clone();
                aes.tccr_many(&mut want, &tweaks);
                let mut got = xs.clone();
                aes.tccr_counted(&mut got, &mut Vec::new(), hi, first, per);
                assert_eq!(got, want, "{n} blocks, {per} per tweak");
                let mut batched = xs.clone();
                aes.tccr_counted_batched(&mut batched, &mut Vec::new(), hi, first, per);
                assert_eq!(batched, want, "{n} blocks, {per} per tweak, batched");
            }
        }
    }

    #[test]
    fn fips197_known_answer() {
        // FIPS-197 appendix C.1 through the same batched path the PRG uses.
        let key: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
            .unwrap()
            .try_into()
            .unwrap();
        let c = Aes128::new(&key.into());
        let mut pt = hex::decode("00112233445566778899aabbccddeeff").unwrap();
        c.encrypt_blocks(as_aes_blocks(&mut pt));
        assert_eq!(hex::encode(pt), "69c4e0d86a7b0430d8cdb78070b4c55a");
    }

    #[test]
    fn permute_into_equals_permute_in_place() {
        let aes = FixedKeyAes::get();
        let xs = Block::random_vec(&mut Prg::from_seed_block(Block(9)), 1000);
        let mut in_place = xs.clone();
        aes.permute_many(&mut in_place);
        let mut out = vec![Block::ZERO; xs.len()];
        aes.permute_into(&xs, &mut out);
        assert_eq!(out, in_place);
        assert_eq!(aes.permute(xs[3]), out[3]);
    }

    #[test]
    fn expanded_words_are_the_stream() {
        let mut out = Vec::new();
        for n in [0usize, 1, 2, 7, 100, 513] {
            let seed = Block(0xfeed_u128 + n as u128);
            Prg::expand_words(seed, n, &mut out);
            let mut prg = Prg::from_seed_block(seed);
            let want: Vec<u64> = (0..n).map(|_| prg.next_u64()).collect();
            assert_eq!(out, want, "{n} words");
        }
    }

    #[test]
    fn stream_is_independent_of_call_pattern() {
        let seed = Block(0x1234);
        let mut a = Prg::from_seed_block(seed);
        let mut whole = vec![0u8; 10_000];
        a.fill_bytes(&mut whole);
        let mut b = Prg::from_seed_block(seed);
        let mut pieces = vec![0u8; 10_000];
        let mut off = 0;
        for n in [1usize, 7, 16, 33, 4096, 5000, 3] {
            let end = (off + n).min(pieces.len());
            b.fill_bytes(&mut pieces[off..end]);
            off = end;
        }
        b.fill_bytes(&mut pieces[off..]);
        assert_eq!(whole, pieces);
    }

    #[test]
    fn keystream_is_aes_of_the_counter_across_the_word_boundary() {
        let key = Block(0x0123_4567_89ab_cdef_u128 << 3);
        let cipher = Aes128::new(&key.to_bytes().into());
        // 200 blocks from a counter whose low word carries after 100 of them: every
        // chunk, the carrying one included, is AES of its counter.
        let start = (7u128 << 64) | u128::from(u64::MAX - 99);
        let mut counter = start;
        let mut out = vec![0u8; 200 * 16];
        keystream_into(&cipher, &mut counter, &mut out);
        assert_eq!(counter, start + 200);
        for (i, got) in out.chunks_exact(16).enumerate() {
            let mut want = (start + i as u128).to_le_bytes();
            cipher.encrypt_blocks(as_aes_blocks(&mut want));
            assert_eq!(got, want, "block {i}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let p = Prg::from_seed_block(Block(42));
        assert_eq!(format!("{p:?}"), "Prg(<redacted>)");
        assert_eq!(format!("{:?}", Block(42)), "Block(<redacted>)");
    }
}
