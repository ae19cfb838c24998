//! Random numbers over lanes: reproducible per-sample streams and any `rand_core` generator.
//!
//! [`Streams`] runs one Xoshiro128++ generator per lane. The stream of sample index `i` under
//! seed `s` is seeded from SplitMix64: with `x = mix64(s) + 2·i·γ` (γ the golden-ratio increment),
//! its 128-bit state is the two SplitMix64 outputs `mix64(x + γ)`, `mix64(x + 2γ)` read as four
//! little-endian `u32` words, exactly as `rand_xoshiro::Xoshiro128PlusPlus::from_seed` reads its
//! seed bytes. So the streams of all indices are disjoint stretches of one SplitMix64 sequence,
//! and a sample's numbers depend only on `(seed, index)`: never on the batch size, the lane
//! width or the thread count.
//!
//! Uniform draws take the top 23 (f32) or 32 (f64) bits of a word as a mantissa (exact, no
//! integer-to-float conversion); normal draws use the Box–Muller transform (cosine branch), which
//! is branch-free and made of [`crate::math`] functions, so it is bit-identical on every target.
//! The f32 normal's tail is cut at √(−2 ln 2⁻²³) ≈ 5.64σ, the f64 normal's at ≈ 6.66σ.

use crate::lane::{Lane, UintLanes};
use crate::real::Real;

/// SplitMix64's golden-ratio increment.
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function (Steele, Lea & Flood 2014).
#[inline(always)]
pub const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The 128-bit Xoshiro128++ state of sample `index` under `seed`, as four `u32` words
/// (`[s0, s1, s2, s3]`); equal to the state of
/// `Xoshiro128PlusPlus::from_seed(seed_bytes(seed, index))`.
#[inline]
pub const fn stream_state(seed: u64, index: u64) -> [u32; 4] {
    let b = seed_bytes(seed, index);
    let mut w = [0u32; 4];
    let mut i = 0;
    while i < 4 {
        w[i] = u32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        i += 1;
    }
    w
}

/// Half `h` (0 or 1) of [`stream_state`]`(seed, index)`, words `2h` (low 32 bits) and `2h + 1`
/// (high), given `m = mix64(seed)`: one SplitMix64 output instead of the whole state (the
/// all-zero replacement of [`seed_bytes`] never applies, so each half stands alone).
#[inline(always)]
fn stream_half(m: u64, index: u64, h: u64) -> u64 {
    let x = m.wrapping_add(index.wrapping_mul(2).wrapping_mul(GAMMA));
    mix64(x.wrapping_add(GAMMA.wrapping_mul(1 + (h & 1))))
}

/// The 16 seed bytes of sample `index` under `seed` (see the module docs). An all-zero state,
/// which Xoshiro cannot leave, is replaced by the bytes of index `u64::MAX` (it cannot occur:
/// `mix64` is a bijection with `mix64(0) = 0`, and its two inputs differ by γ ≠ 0; the rule
/// keeps the definition total).
#[inline]
pub const fn seed_bytes(seed: u64, index: u64) -> [u8; 16] {
    let x = mix64(seed).wrapping_add(index.wrapping_mul(2).wrapping_mul(GAMMA));
    let mut a = mix64(x.wrapping_add(GAMMA));
    let mut b = mix64(x.wrapping_add(GAMMA.wrapping_mul(2)));
    if a == 0 && b == 0 {
        let y = mix64(seed).wrapping_add(u64::MAX.wrapping_mul(2).wrapping_mul(GAMMA));
        a = mix64(y.wrapping_add(GAMMA));
        b = mix64(y.wrapping_add(GAMMA.wrapping_mul(2)));
    }
    let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
    [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// A source of random lanes: uniform, normal and Rademacher draws of lane type `L`.
///
/// Implemented by [`Streams`] (one reproducible stream per sample) and by [`CoreRng`] (any
/// `rand_core` generator).
pub trait LaneSource<L: Lane> {
    /// One 32-bit word per lane.
    fn next_u32s(&mut self) -> L::U32s;

    /// Uniform on `[0, 1)`, a multiple of 2⁻²³ (f32) or 2⁻³² (f64).
    #[inline(always)]
    fn uniform(&mut self) -> L {
        L::unit_from_u32(self.next_u32s()) - <L as Lane>::from_f64(1.0)
    }
    /// Uniform on `(0, 1]` (never 0, so its logarithm is finite).
    #[inline(always)]
    fn uniform_open(&mut self) -> L {
        <L as Lane>::from_f64(2.0) - L::unit_from_u32(self.next_u32s())
    }
    /// Standard normal, by Box–Muller (cosine branch): √(−2 ln u₁)·cos(2π u₂).
    #[inline(always)]
    fn normal(&mut self) -> L {
        let u1 = self.uniform_open();
        let u2 = self.uniform();
        let r = Lane::sqrt(<L as Lane>::from_f64(-2.0) * Real::ln(u1));
        let (_, c) = Real::sin_cos(<L as Lane>::from_f64(core::f64::consts::TAU) * u2);
        r * c
    }
    /// ±1 with probability ½ each (the top bit of a word).
    #[inline(always)]
    fn rademacher(&mut self) -> L {
        let u = self.uniform();
        <L as Lane>::select(
            Lane::lt(u, <L as Lane>::from_f64(0.5)),
            <L as Lane>::from_f64(-1.0),
            <L as Lane>::from_f64(1.0),
        )
    }
    /// `D` independent standard normals.
    #[inline(always)]
    fn normal_array<const D: usize>(&mut self) -> [L; D] {
        if L::INLINE_KERNELS {
            // A loop: `array::from_fn`'s closure may stay out of line, where it would not run
            // on a dispatched function's target features (see `Lane::INLINE_KERNELS`).
            let mut out = [L::default(); D];
            for o in &mut out {
                *o = self.normal();
            }
            out
        } else {
            crate::lane::array_fn(|_| self.normal())
        }
    }
}

/// Xoshiro128++ run lane-parallel: lane `j` is the stream of sample index `first_index + j`.
#[derive(Clone, Copy, Debug)]
pub struct Streams<L: Lane> {
    s: [L::U32s; 4],
}

impl<L: Lane> Streams<L> {
    /// Streams for samples `first_index .. first_index + L::LANES` under `seed`.
    #[inline]
    pub fn new(seed: u64, first_index: u64) -> Self {
        let m = mix64(seed);
        let half = |h: u64| {
            L::U32s::from_fn_u64_split(|j| stream_half(m, first_index.wrapping_add(j as u64), h))
        };
        let ((s0, s1), (s2, s3)) = (half(0), half(1));
        Self { s: [s0, s1, s2, s3] }
    }
}

impl<L: Lane> LaneSource<L> for Streams<L> {
    #[inline(always)]
    fn next_u32s(&mut self) -> L::U32s {
        // Xoshiro128++ (Blackman & Vigna 2018), lane for lane.
        let [s0, s1, s2, s3] = self.s;
        let result = s0.wrapping_add(s3).rotate_left(7).wrapping_add(s0);
        let t = s1 << 9;
        let s2 = s2 ^ s0;
        let s3 = s3 ^ s1;
        let s1 = s1 ^ s2;
        let s0 = s0 ^ s3;
        let s2 = s2 ^ t;
        let s3 = s3.rotate_left(11);
        self.s = [s0, s1, s2, s3];
        result
    }
}

/// Any `rand_core` generator as a [`LaneSource`]: each lane takes the next word in turn.
#[derive(Clone, Debug)]
pub struct CoreRng<G>(pub G);

impl<L: Lane, G: rand_core::Rng> LaneSource<L> for CoreRng<G> {
    #[inline]
    fn next_u32s(&mut self) -> L::U32s {
        L::U32s::from_fn_u64(|_| self.0.next_u32() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro128PlusPlus;
    use wide::f32x8;

    #[test]
    fn streams_equal_rand_xoshiro() {
        for (seed, first) in [(0u64, 0u64), (42, 1000), (u64::MAX, 7)] {
            let mut lanes = Streams::<f32x8>::new(seed, first);
            let mut refs: [Xoshiro128PlusPlus; 8] = core::array::from_fn(|j| {
                Xoshiro128PlusPlus::from_seed(seed_bytes(seed, first + j as u64))
            });
            for _ in 0..100 {
                let w = LaneSource::<f32x8>::next_u32s(&mut lanes);
                for (j, r) in refs.iter_mut().enumerate() {
                    assert_eq!(w.to_array()[j], r.next_u32());
                }
            }
        }
    }

    #[test]
    fn one_word_at_a_time_is_the_state() {
        // Indices near the wrap of u64 too: the index arithmetic wraps in both.
        for seed in [0u64, 1, 42, u64::MAX] {
            for index in (0..300u64).chain(u64::MAX - 300..=u64::MAX) {
                let [lo, hi] = [0, 1].map(|h| stream_half(mix64(seed), index, h));
                let words = [lo as u32, (lo >> 32) as u32, hi as u32, (hi >> 32) as u32];
                assert_eq!(words, stream_state(seed, index), "seed {seed} index {index}");
            }
        }
        // A state with a zero half (found by search): still the state, no replacement.
        let (seed, index) = (42, 8_082_136_689_992_878_578);
        assert_eq!(stream_half(mix64(seed), index, 1), 0);
        let lo = stream_half(mix64(seed), index, 0);
        assert_eq!([lo as u32, (lo >> 32) as u32, 0, 0], stream_state(seed, index));
    }

    #[test]
    fn lane_width_does_not_change_draws() {
        let mut wide8 = Streams::<f32x8>::new(9, 16);
        let mut scalars: [Streams<f32>; 8] =
            core::array::from_fn(|j| Streams::<f32>::new(9, 16 + j as u64));
        for _ in 0..50 {
            let v: f32x8 = wide8.normal();
            for (j, s) in scalars.iter_mut().enumerate() {
                assert_eq!(v.to_array()[j].to_bits(), s.normal().to_bits());
            }
        }
    }
}
