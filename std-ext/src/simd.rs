//! Run-time CPU dispatch: a batch runs on the widest vectors the machine has, with the same bits.
//!
//! The core's batch lanes ([`WideScalar::Wide`]: two `wide::f32x8` for `f32`, one `f64x4` for
//! `f64`) are compiled for the build's target features, and `wide` picks its implementation at
//! compile time: a plain x86-64 build (SSE2 only, what `cargo install` makes) runs every `f32x8`
//! as two SSE halves. This module runs a batch's work — a [`LaneWork`], generic in its lane type —
//! a second way: on AVX2 lanes (a private module: 32 `f32` in four `__m256`, 8 `f64` in two
//! `__m256d`) inside a function compiled for AVX2, chosen once at run time by
//! `is_x86_feature_detected!`. The AVX2 lanes set [`Lane::INLINE_KERNELS`], so that the core's
//! math kernels, too, are compiled into the AVX2 function rather than called at the
//! baseline's width.
//!
//! **Everything inlined.** Code that is not inlined into the AVX2 function is compiled for the
//! baseline, where an AVX2 operation cannot be an instruction: each one becomes a call (the
//! same bits, several times slower). The dispatched work and what it calls on lanes are
//! therefore `#[inline(always)]`, or choose an always-inlined twin when
//! [`Lane::INLINE_KERNELS`] is set (the math kernels, the mixture score, the Euler–Maruyama
//! chain, the flow's forward pass, the Dormand–Prince likelihood solve), and build arrays of
//! lanes with the core's [`flowscore::lane::array_fn`], an always-inlined loop
//! (`core::array::from_fn`'s closure
//! machinery stays out of line). A new dispatched path is checked in the release binary:
//! `objdump -d target/release/flowscore | grep 'call.*core_arch'` lists the calls left.
//!
//! **The same bits on every path.** Every lane operation is an IEEE 754 operation that is
//! correctly rounded (`+ − × ÷ sqrt`, comparisons, bit operations), and no path enables FMA (Rust
//! never contracts `a * b + c` by itself), so an AVX2 lane computes exactly what an SSE2 lane or
//! an `f32` does; a test runs the same jobs on both paths and compares every bit.
//!
//! **Why not AVX-512.** Measured on an AVX-512 Xeon: the same lane code compiled for AVX-512 ran
//! slower than for AVX2 (planar flow sampling, one thread), and the compiler's AVX-512 code
//! for the lanes' `round` (magic-number rounding with a masked `vpternlogd` for the sign) gave
//! wrong results. AVX2 is the widest path dispatched to.
//!
//! **Choosing the path.** The `simd-dispatch` feature (on by default) compiles the AVX2 path;
//! without it every batch runs on the baseline. [`Isa::active`] is the detected path, unless the
//! environment variable `FLOWSCORE_SIMD=baseline` asks for the baseline (for comparisons); it is
//! read once. A request for a path the CPU lacks runs the baseline. [`run_on`] runs one job on a
//! given path.
//!
//! Why hand-written and not `multiversion` or `pulp`: both dispatch a function and rely, as this
//! module does, on everything below it being inlined; what they add (attribute macros, their own
//! vector types) would not reach the core's generic lane code, which is where the work is.

use std::sync::OnceLock;

use flowscore::batch::WideScalar;
use flowscore::lane::{Lane, Scalar};

#[cfg(all(target_arch = "x86_64", feature = "simd-dispatch"))]
mod avx2;

/// The code paths a batch can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// The build's own target features and the core's batch lanes ([`WideScalar::Wide`]).
    Baseline,
    /// x86-64 AVX2: 256-bit registers, 32 `f32` or 8 `f64` per chunk.
    Avx2,
}

impl Isa {
    /// The widest path this CPU can run (with the `simd-dispatch` feature; the baseline
    /// without it).
    pub fn detected() -> Isa {
        #[cfg(all(target_arch = "x86_64", feature = "simd-dispatch"))]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        Isa::Baseline
    }

    /// The path batches run on: [`Isa::detected`], or the baseline when the environment variable
    /// `FLOWSCORE_SIMD` is `baseline` (read once, at the first call).
    pub fn active() -> Isa {
        static ACTIVE: OnceLock<Isa> = OnceLock::new();
        *ACTIVE.get_or_init(|| match std::env::var("FLOWSCORE_SIMD").as_deref() {
            Ok("baseline") => Isa::Baseline,
            _ => Isa::detected(),
        })
    }

    /// Whether this CPU can run the path.
    pub fn available(self) -> bool {
        match self {
            Isa::Baseline => true,
            Isa::Avx2 => Isa::detected() == Isa::Avx2,
        }
    }

    /// The path's name (`baseline`, `avx2`).
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
        }
    }
}

/// The scalars whose batches are dispatched: `f32` and `f64`.
///
/// Sealed: the AVX2 path's lane types are private to this module, and only the work that
/// [`run`] hands them to, on a CPU found to have AVX2, ever holds one.
pub trait Dispatch: WideScalar + sealed::Sealed {}

impl Dispatch for f32 {}
impl Dispatch for f64 {}

mod sealed {
    use super::LaneWork;
    use flowscore::batch::WideScalar;

    pub trait Sealed: flowscore::lane::Scalar {
        /// Runs `work` on the AVX2 lanes if the CPU has AVX2, else on the baseline's.
        fn on_avx2<J: LaneWork<Self>>(work: J) -> J::Output;
    }

    /// The AVX2 lanes of each scalar, and the function compiled for AVX2 that runs them.
    macro_rules! sealed {
        ($s:ty, $lanes:ty, $why:literal) => {
            impl Sealed for $s {
                #[inline(always)]
                fn on_avx2<J: LaneWork<$s>>(work: J) -> J::Output {
                    #[cfg(all(target_arch = "x86_64", feature = "simd-dispatch"))]
                    {
                        #[doc = $why]
                        #[target_feature(enable = "avx2")]
                        fn avx2<J: LaneWork<$s>>(work: J) -> J::Output {
                            work.run::<$lanes>()
                        }
                        if std::arch::is_x86_feature_detected!("avx2") {
                            // SAFETY: the CPU was just found to have AVX2.
                            #[allow(unsafe_code)]
                            return unsafe { avx2(work) };
                        }
                    }
                    work.run::<<$s as WideScalar>::Wide>()
                }
            }
        };
    }
    sealed!(
        f32,
        flowscore::lane::Duo<flowscore::lane::Duo<super::avx2::F8>>,
        "32 lanes, four AVX2 registers per value, so that independent dependency chains \
         overlap (the baseline's `Duo<f32x8>` is four SSE registers). Against the baseline: \
         BENCHMARKS.md, \"Run-time dispatch\"."
    );
    sealed!(
        f64,
        flowscore::lane::Duo<super::avx2::D4>,
        "8 lanes, two AVX2 registers per value (the baseline's `f64x4` is two SSE registers)."
    );
}

/// A batch's work, written once for every lane type (as the core's `ChunkKernel`): [`run`] calls
/// `run::<W>` with the lanes of the chosen path.
///
/// Implementations mark `run` `#[inline(always)]`: what is not inlined into the dispatched
/// function keeps the baseline's target features.
pub trait LaneWork<T: Scalar> {
    /// What the work returns.
    type Output;
    /// Does the work with full chunks on `W`.
    fn run<W: Lane<Scalar = T>>(self) -> Self::Output;
}

/// Runs `work` on the [`Isa::active`] path.
#[inline(always)]
pub fn run<T: Dispatch, J: LaneWork<T>>(work: J) -> J::Output {
    run_on(Isa::active(), work)
}

/// Runs `work` on the path `isa`, or on the baseline if this CPU cannot run `isa`.
#[inline(always)]
pub fn run_on<T: Dispatch, J: LaneWork<T>>(isa: Isa, work: J) -> J::Output {
    match isa {
        Isa::Avx2 => T::on_avx2(work),
        Isa::Baseline => work.run::<T::Wide>(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscore::Real;
    use flowscore::rng::{LaneSource, Streams};

    /// The number of functions [`Kernels`] evaluates, and of streams' draws per sample.
    const KERNELS: usize = 20;
    const DRAWS: usize = 4;

    /// A few kernels and the streams' draws, lane by lane in the scalar's order: value k of
    /// input i at k·n + i, whatever the lane width; then the draws of streams (9, i).
    struct Kernels<'a, T> {
        xs: &'a [T],
        out: &'a mut Vec<u64>,
    }
    impl<T: Dispatch + Lane<Scalar = T>> LaneWork<T> for Kernels<'_, T> {
        type Output = ();
        #[inline(always)]
        fn run<W: Lane<Scalar = T>>(self) {
            let n = self.xs.len();
            self.out.clear();
            self.out.resize((KERNELS + DRAWS) * n, 0);
            let bits = |v: T| v.to_f64().to_bits();
            for (ci, c) in self.xs.chunks(W::LANES).enumerate() {
                let x = W::load(c);
                let y = x * W::from_f64(0.37) - W::from_f64(1.0);
                // Equal to x where x is an integer (±0, ±∞, huge), else the nearest one.
                let r = Lane::round(x);
                let (one, zero) = (W::from_f64(1.0), W::from_f64(0.0));
                let test = |m: W::Mask| W::select(m, one, zero);
                let outs: [W; KERNELS] = [
                    x.exp(),
                    Lane::abs(x).ln(),
                    x.ln_1p(),
                    x.tanh(),
                    x.sin_cos().0,
                    x.sin_cos().1,
                    Lane::round(x),
                    Lane::floor(x),
                    Lane::sqrt(x),
                    x / y,
                    Lane::max(x, y) - Lane::min(x, y),
                    x.softplus(),
                    x.sigmoid(),
                    x.expm1(),
                    test(x.lt(r)),
                    test(x.le(r)),
                    test(x.gt(r)),
                    test(x.ge(r)),
                    test(x.eq(r)),
                    test(x.is_nan()),
                ];
                let first = (ci * W::LANES) as u64;
                let mut rng = Streams::<W>::new(9, first);
                let normals: [W; DRAWS - 1] = rng.normal_array();
                let u: W = rng.uniform();
                let draws = normals.iter().chain([&u]);
                for (k, o) in outs.iter().chain(draws).enumerate() {
                    for j in 0..c.len() {
                        self.out[k * n + ci * W::LANES + j] = bits(o.extract(j));
                    }
                }
            }
        }
    }

    /// Inputs that reach the kernels' special cases (±0, ±∞, NaN, subnormals, huge, halves),
    /// then uniform ones on (−100, 100); the length is no multiple of any lane width.
    fn inputs<T: Lane<Scalar = T>>() -> Vec<T> {
        let mut xs: Vec<f64> = vec![0.0, -0.0, f64::INFINITY, -f64::INFINITY, f64::NAN];
        xs.extend([1e-40, -1e-45, 1e-310, f32::MAX as f64, -f64::MAX, 88.7, -103.9, 709.9]);
        xs.extend([-745.2, 1e30, 0.5, 2.5, -2.5, 1e7 + 0.5, 4503599627370497.0]);
        let mut rng = Streams::<f64>::new(3, 0);
        while xs.len() < 4099 {
            let u: f64 = rng.uniform();
            xs.push((u - 0.5) * 200.0);
        }
        xs.into_iter().map(T::from_f64).collect()
    }

    /// Every value of [`Kernels`] on each path (and on the AVX2 lanes outside the dispatched
    /// function) against the scalar's, bit for bit.
    fn same_bits_on_every_path<T: Dispatch + Lane<Scalar = T>>() {
        let xs = inputs::<T>();
        let mut scalar = Vec::new();
        Kernels { xs: &xs, out: &mut scalar }.run::<T>();
        let mut paths = vec![Isa::Baseline];
        if Isa::Avx2.available() {
            paths.push(Isa::Avx2);
        } else {
            eprintln!("this CPU has no AVX2: only the baseline path is compared");
        }
        for isa in paths {
            let mut got = Vec::new();
            run_on::<T, _>(isa, Kernels { xs: &xs, out: &mut got });
            assert_eq!(got.len(), scalar.len());
            let bad = got.iter().zip(&scalar).position(|(a, b)| a != b);
            assert!(bad.is_none(), "{}: first differing value at {bad:?}", isa.name());
        }
    }

    #[test]
    fn f32_lanes_give_the_scalar_bits_on_every_path() {
        same_bits_on_every_path::<f32>();
    }

    #[test]
    fn f64_lanes_give_the_scalar_bits_on_every_path() {
        same_bits_on_every_path::<f64>();
    }

    /// The AVX2 lanes called outside the function compiled for AVX2 (each operation then is a
    /// call), and their masks' `any`/`all` on every bit, as the scalar lanes define them.
    #[cfg(all(target_arch = "x86_64", feature = "simd-dispatch"))]
    #[test]
    fn avx2_lanes_outside_the_dispatched_function() {
        use flowscore::lane::{Duo, Mask, UintLanes};
        if !Isa::Avx2.available() {
            eprintln!("this CPU has no AVX2: nothing to run");
            return;
        }
        let xs = inputs::<f32>();
        let (mut scalar, mut lanes) = (Vec::new(), Vec::new());
        Kernels { xs: &xs, out: &mut scalar }.run::<f32>();
        Kernels { xs: &xs, out: &mut lanes }.run::<Duo<avx2::F8>>();
        assert!(lanes == scalar);
        let xs = inputs::<f64>();
        Kernels { xs: &xs, out: &mut scalar }.run::<f64>();
        Kernels { xs: &xs, out: &mut lanes }.run::<avx2::D4>();
        assert!(lanes == scalar);
        fn masks<U: UintLanes + Mask>() {
            assert!(!U::splat_u64(0).any() && !U::splat_u64(0).all());
            assert!(U::splat_u64(u64::MAX).any() && U::splat_u64(u64::MAX).all());
            for lane in 0..U::LANES {
                for bit in [0, U::WIDTH / 2, U::WIDTH - 1] {
                    let one = U::from_fn_u64(|i| if i == lane { 1 << bit } else { 0 });
                    assert!(one.any() && !one.all(), "lane {lane} bit {bit}");
                    let all_but = U::from_fn_u64(|i| if i == lane { !(1 << bit) } else { !0 });
                    assert!(all_but.any() && !all_but.all(), "lane {lane} bit {bit}");
                }
            }
        }
        masks::<avx2::U8>();
        masks::<avx2::Q4>();
        fn split<U: UintLanes>() {
            let f = |i: usize| 0x0123_4567_89ab_cdef_u64.rotate_left(8 * i as u32 + 4);
            let (lo, hi) = U::from_fn_u64_split(f);
            let mask = if U::WIDTH == 64 { u64::MAX } else { (1 << U::WIDTH) - 1 };
            for i in 0..U::LANES {
                assert_eq!(lo.extract_u64(i), f(i) & mask, "lane {i}");
                assert_eq!(hi.extract_u64(i), (f(i) >> 32) & mask, "lane {i}");
            }
        }
        split::<avx2::U8>();
        split::<avx2::Q4>();
        split::<Duo<avx2::U8>>();
        let a = avx2::U8::from_fn_u64(|i| (i as u64) << 28 | 0xf00f);
        let b = avx2::U8::from_fn_u64(|i| 0xffff_fff0 + i as u64);
        for (k, r) in [(a.wrapping_add(b), 0), (a.wrapping_sub(b), 1), (a << 7, 2), (a >> 13, 3)] {
            for i in 0..8 {
                let (x, y) = (a.extract_u64(i) as u32, b.extract_u64(i) as u32);
                let want = [x.wrapping_add(y), x.wrapping_sub(y), x << 7, x >> 13][r];
                assert_eq!(k.extract_u64(i), u64::from(want), "op {r} lane {i}");
            }
        }
    }
}
