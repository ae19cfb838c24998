//! The `sample` and `loglik` work on the core crate: the runtime dimension D ∈ 1..=8 is
//! dispatched to `flowscore::score::GaussianMixture<D, 16>`, the spec's k ≤ 16 components
//! followed by zero-weight ones, which the core skips (it evaluates the components up to the
//! last positive weight), so k costs k and each D is one instantiation of every sampler, not
//! one per (D, K). This is the one place the command line calls the core's samplers and
//! likelihoods.
//!
//! Parallel over samples: the lane-capable samplers and the ODE likelihood in blocks on the
//! core's `f64x4` batch APIs (`run_lanes`, [`super::pf_rows`]), the others one sample at a time on
//! [`crate::par`]'s driver. Sample (or row) i always uses the stream (seed, i), so the output
//! does not depend on the lane width, the block or the number of threads.

use anyhow::anyhow;
use flowscore::likelihood::sampling::transport;
use flowscore::likelihood::{ExactPrior, OdeSolver, ProbabilityFlow, exact_log_density};
use flowscore::ode::Dopri5Options;
use flowscore::rng::{LaneSource, Streams};
use flowscore::sample::{
    AdaptiveOptions, AdaptiveSde, AnnealedLangevin, DpmSolverPp2m, DpmSolverPp3m, EdmHeun,
    EulerMaruyama, LaneSampler, Langevin, Mala, PredictorCorrector, SrkMethod, StochasticRk,
};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::Sde;

use crate::data::Table;
use crate::io::Spec;
use crate::io::spec::{MAX_COMPONENTS, MAX_DIM};
use crate::jobs::pf_rows::pf_rows;
use crate::jobs::{
    ANNEAL_LEVELS, ANNEAL_SIGMA_MIN, CORRECTOR_STEPS, LoglikOutput, LoglikSettings, Method,
    SampleOutput, SampleSettings, SamplerKind, non_finite_sample,
};
use crate::par::{self, CHUNK};
use crate::sde_kind::AnySde;

/// The components every mixture is stored with: the spec's k ≤ [`MAX_COMPONENTS`] and zero
/// weights after them, which the core skips (one type per D, not per (D, K)).
const CAPACITY: usize = MAX_COMPONENTS;
const _: () = assert!(CAPACITY == 16, "the `mixture!` calls spell the capacity as a literal");

/// The spec's weights padded to K with zeros.
fn pad_weights<const K: usize>(spec: &Spec) -> [f32; K] {
    core::array::from_fn(|i| spec.weights.get(i).map_or(0.0, |w| *w as f32))
}

/// The spec's means padded to K with zeros.
fn pad_means<const D: usize, const K: usize>(spec: &Spec) -> [[f32; D]; K] {
    core::array::from_fn(|i| {
        core::array::from_fn(|j| {
            spec.means.get(i).and_then(|m| m.get(j)).map_or(0.0, |v| *v as f32)
        })
    })
}

/// The spec's covariances padded to K with identities.
fn pad_covariances<const D: usize, const K: usize>(spec: &Spec) -> [[[f32; D]; D]; K] {
    core::array::from_fn(|i| {
        core::array::from_fn(|r| {
            core::array::from_fn(|c| match spec.covariances.get(i) {
                Some(m) => m.get(r).and_then(|row| row.get(c)).map_or(0.0, |v| *v as f32),
                None => f32::from(u8::from(r == c)),
            })
        })
    })
}

/// The spec as a `GaussianMixture<D, K>` (literal D and K, so the core's bounds on D are met
/// concretely), padded with zero-weight components.
macro_rules! mixture {
    ($d:literal, $k:literal, $spec:expr) => {
        GaussianMixture::<$d, $k>::new(
            pad_weights::<$k>($spec),
            pad_means::<$d, $k>($spec),
            pad_covariances::<$d, $k>($spec),
        )
        .map_err(|e| anyhow!("invalid mixture: {e}"))
    };
}

macro_rules! dispatch_mixture {
    ($spec:expr, $f:ident ( $($arg:expr),* $(,)? )) => {
        match $spec.dim {
            1 => $f::<1, CAPACITY>(mixture!(1, 16, $spec)?, $($arg),*),
            2 => $f::<2, CAPACITY>(mixture!(2, 16, $spec)?, $($arg),*),
            3 => $f::<3, CAPACITY>(mixture!(3, 16, $spec)?, $($arg),*),
            4 => $f::<4, CAPACITY>(mixture!(4, 16, $spec)?, $($arg),*),
            5 => $f::<5, CAPACITY>(mixture!(5, 16, $spec)?, $($arg),*),
            6 => $f::<6, CAPACITY>(mixture!(6, 16, $spec)?, $($arg),*),
            7 => $f::<7, CAPACITY>(mixture!(7, 16, $spec)?, $($arg),*),
            8 => $f::<8, CAPACITY>(mixture!(8, 16, $spec)?, $($arg),*),
            d => Err(anyhow!("dimension D = {d} is not supported (D must be 1..={MAX_DIM})")),
        }
    };
}

/// A consumer of sample rows (row-major, D values each), called chunk by chunk in index order.
pub type Sink<'a> = &'a mut dyn FnMut(&[f64]) -> anyhow::Result<()>;

/// Runs `sample` on a validated spec with the core's samplers, handing the samples to `sink`
/// in chunks of at most [`CHUNK`] rows; returns the mean per-sample statistic (NFE for the
/// adaptive samplers, ode and adaptive; acceptance rate for MALA; else 0).
pub fn sample_into(spec: &Spec, job: &SampleSettings, sink: Sink<'_>) -> anyhow::Result<f64> {
    let bx = start_box(spec);
    dispatch_mixture!(spec, sample_dk(job, &bx, sink))
}

/// Runs `sample` on a validated spec and collects the samples.
pub fn sample(spec: &Spec, job: &SampleSettings) -> anyhow::Result<SampleOutput> {
    let mut data = Vec::new();
    let mean = sample_into(spec, job, &mut |rows| {
        data.try_reserve(rows.len()).map_err(|_| anyhow!("not enough memory for the samples"))?;
        data.extend_from_slice(rows);
        Ok(())
    })?;
    Ok(SampleOutput {
        table: Table { rows: job.n, cols: spec.dim, data },
        note: note_of(job, mean),
        mean_stat: mean,
    })
}

/// The note printed after a run: mean NFE (adaptive samplers), the fixed number of score
/// evaluations per sample (the other reverse-SDE and probability-flow samplers) or the
/// acceptance rate (MALA).
pub fn note_of(job: &SampleSettings, mean: f64) -> Option<String> {
    match job.sampler {
        SamplerKind::Mala => Some(format!("MALA acceptance rate {mean:.3}")),
        SamplerKind::Ode | SamplerKind::Adaptive => Some(format!("mean NFE {mean:.1}")),
        SamplerKind::Sra1
        | SamplerKind::SdeHeun
        | SamplerKind::EdmHeun
        | SamplerKind::DpmPp2m
        | SamplerKind::DpmPp3m => {
            job.sampler.evaluations(job.steps).map(|n| format!("{n} score evaluations per sample"))
        }
        _ => None,
    }
}

/// Runs `loglik` on validated data with the core's likelihoods.
pub fn loglik(spec: &Spec, data: &Table, job: &LoglikSettings) -> anyhow::Result<LoglikOutput> {
    if data.cols != spec.dim {
        return Err(anyhow!(
            "data has {} columns but the spec has dimension D = {}",
            data.cols,
            spec.dim
        ));
    }
    dispatch_mixture!(spec, loglik_dk(data, job))
}

/// The box Langevin chains start from, uniform: the means' bounding box widened by three
/// standard deviations of the widest component (for the ncsn mixture: [−8, 8]²).
pub fn start_box(spec: &Spec) -> (Vec<f64>, Vec<f64>) {
    let mut lmax: f64 = 0.0;
    for c in &spec.covariances {
        let m = nalgebra::DMatrix::from_fn(spec.dim, spec.dim, |r, s| c[r][s]);
        lmax = lmax.max(m.symmetric_eigenvalues().max());
    }
    let pad = 3.0 * lmax.sqrt();
    let lo =
        (0..spec.dim).map(|i| spec.means.iter().map(|m| m[i]).fold(f64::INFINITY, f64::min) - pad);
    let hi = (0..spec.dim)
        .map(|i| spec.means.iter().map(|m| m[i]).fold(f64::NEG_INFINITY, f64::max) + pad);
    (lo.collect(), hi.collect())
}

fn sample_dk<const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    job: &SampleSettings,
    bx: &(Vec<f64>, Vec<f64>),
    sink: Sink<'_>,
) -> anyhow::Result<f64> {
    let sde = job.sde;
    let model = mix.under(sde);
    let eps = sde.sampling_eps();
    let steps = job.steps;
    let step = job.step_size as f32;
    // Langevin chains start uniform in the box, from the sample's own stream (the samplers
    // then continue on a second stream of the same index, seed + 1).
    let start = |i: u64| -> [f64; D] {
        let mut rng = Streams::<f64>::new(job.seed.wrapping_add(1), i);
        core::array::from_fn(|j| bx.0[j] + (bx.1[j] - bx.0[j]) * rng.uniform())
    };
    let n = job.n as u64;
    // A chain that ends exactly where it started did not sample: the step size is below the
    // resolution of its state (or, for MALA, every proposal was rejected).
    let moved = |i: u64, x: &[f64; D]| -> anyhow::Result<()> {
        if *x == start(i) {
            return Err(anyhow!(
                "sample {i} ended exactly at its starting point: the chain did not move (step \
                 size too small for the state's precision, or, for MALA, too large for any \
                 proposal to be accepted)"
            ));
        }
        Ok(())
    };
    let mut stat = 0.0;
    let mut buf: Vec<f64> = Vec::new();
    buf.try_reserve(CHUNK.min(job.n) * D).map_err(|_| anyhow!("not enough memory"))?;
    let mut row = 0u64;
    let mut run_all = |f: &(dyn Fn(u64) -> anyhow::Result<([f64; D], f64)> + Sync)| {
        par::map_chunks(n, f, |rows| {
            buf.clear();
            for r in rows {
                let (x, s) = r?;
                if x.iter().any(|v| !v.is_finite()) {
                    return Err(non_finite_sample(row));
                }
                row += 1;
                buf.extend_from_slice(&x);
                stat += s;
            }
            sink(&buf)
        })
    };
    let n_rows = job.n;
    let seed = job.seed;
    // The Langevin chains start in the box; the samplers below them from their prior.
    let lanes = |sampler: &(dyn Fn(u64, &mut [[f64; D]]) -> u64 + Sync),
                 from_box: bool,
                 sink: Sink<'_>|
     -> anyhow::Result<u64> {
        let start: Option<&(dyn Fn(u64) -> [f64; D] + Sync)> =
            if from_box { Some(&start) } else { None };
        run_lanes(sampler, start, n_rows, &moved, sink)
    };
    match job.sampler {
        SamplerKind::Langevin => {
            let s = Langevin::new(step, steps)?;
            lanes(&|first, xs| s.sample_batch_f64(&model, seed, first, xs), true, sink)?;
            Ok(())
        }
        SamplerKind::Mala => {
            let s = Mala::new(step, steps)?;
            let accepted =
                lanes(&|first, xs| s.sample_batch_f64(&model, seed, first, xs), true, sink)?;
            stat = accepted as f64 / steps.max(1) as f64;
            Ok(())
        }
        SamplerKind::AnnealedLangevin => {
            let noisy = mix.noisy();
            let s = AnnealedLangevin::new(
                sigma_max_of(&mix) as f32,
                ANNEAL_SIGMA_MIN as f32,
                ANNEAL_LEVELS,
                steps,
                step,
            )?;
            lanes(&|first, xs| s.sample_batch_f64(&noisy, seed, first, xs), true, sink)?;
            Ok(())
        }
        SamplerKind::EulerMaruyama => {
            let s = EulerMaruyama::new(sde, steps, eps as f32)?;
            lanes(&|first, xs| s.sample_batch_f64(&model, seed, first, xs), false, sink)?;
            Ok(())
        }
        SamplerKind::Pc => {
            let s =
                PredictorCorrector::new(sde, steps, eps as f32, job.snr as f32, CORRECTOR_STEPS)?;
            lanes(&|first, xs| s.sample_batch_f64(&model, seed, first, xs), false, sink)?;
            Ok(())
        }
        SamplerKind::Ode => {
            // The probability-flow ODE is deterministic, so whatever x_T it starts from is
            // carried to the output: it starts from the exact p_T of the closed-form target
            // (x_T = α_T x₀ + σ_T ξ with x₀ an exact draw), not the SDE's prior N(0, s² I).
            // Under VE that prior ignores the data's mean (with s = σ_max = 50 the ncsn
            // mixture's mode weights moved by up to 0.034); from the exact p_T the only error
            // left is the solver's. The stochastic samplers (Euler–Maruyama, PC) keep the
            // prior: their noise contracts a start-distribution error, and in standard
            // coordinates p_T and the prior differ by O(α_T) (VP, sub-VP) or O(1/σ_max) (VE).
            let solver = OdeSolver::Adaptive(Dopri5Options::default());
            let field = ProbabilityFlow::new(&model, &sde);
            let t_max = f64::from(sde.t_max());
            run_all(&|i| {
                let x_t: [f64; D] = model.sample_at(t_max, &mut Streams::<f64>::new(job.seed, i));
                let sol = transport(&field, &solver, x_t, t_max, eps)?;
                sol.status.lane(0).map_err(|e| anyhow!("sample {i}: {e}"))?;
                Ok((sol.y, sol.nfe))
            })
        }
        SamplerKind::Sra1 | SamplerKind::SdeHeun => {
            let method =
                if job.sampler == SamplerKind::Sra1 { SrkMethod::Sra1 } else { SrkMethod::Heun };
            let s = StochasticRk::new(sde, method, steps, eps as f32)?;
            lanes(&|first, xs| s.sample_batch_f64(&model, seed, first, xs), false, sink)?;
            Ok(())
        }
        SamplerKind::Adaptive => {
            let opts = AdaptiveOptions::with_tol(job.atol, job.rtol);
            let s = AdaptiveSde::new(sde, eps as f32, opts)?;
            run_all(&|i| {
                let mut x = [0.0; D];
                let st = s.run_with_stats(&model, &mut x, &mut Streams::<f64>::new(job.seed, i));
                let nfe = st.lane_result(0).map_err(|e| anyhow!("sample {i}: {e}"))?;
                Ok((x, f64::from(nfe)))
            })
        }
        // Deterministic flows: from the exact p_T, as the ode sampler (see there).
        SamplerKind::EdmHeun => {
            let s = EdmHeun::new(sde, steps, eps as f32)?.starting_from_input();
            run_all(&|i| Ok((from_exact_p_t(&s, &model, job.seed, i), 0.0)))
        }
        SamplerKind::DpmPp2m => {
            let s = DpmSolverPp2m::new(sde, steps, eps as f32)?.starting_from_input();
            run_all(&|i| Ok((from_exact_p_t(&s, &model, job.seed, i), 0.0)))
        }
        SamplerKind::DpmPp3m => {
            let s = DpmSolverPp3m::new(sde, steps, eps as f32)?.starting_from_input();
            run_all(&|i| Ok((from_exact_p_t(&s, &model, job.seed, i), 0.0)))
        }
    }?;
    Ok(stat / job.n.max(1) as f64)
}

/// Sample i of a deterministic probability-flow sampler started from an exact draw of p_T,
/// both on the stream (seed, i).
fn from_exact_p_t<const D: usize, const K: usize, S, P>(
    sampler: &P,
    model: &MixtureScore<D, K, S>,
    seed: u64,
    i: u64,
) -> [f64; D]
where
    S: Sde,
    P: LaneSampler<D, MixtureScore<D, K, S>>,
{
    let mut rng = Streams::<f64>::new(seed, i);
    let mut x: [f64; D] = model.sample_at(f64::from(model.sde().t_max()), &mut rng);
    sampler.run(model, &mut x, &mut rng);
    x
}

/// Samples per parallel task of [`run_lanes`]: whole `f64x4` lane groups, enough work to
/// amortise a task.
const BLOCK: usize = 256;

/// Runs a batch sampler over samples `0..n` in [`CHUNK`]s, each chunk's [`BLOCK`]s in parallel
/// (`sampler(first, xs)` runs samples `first..first + xs.len()` on the core's lanes, sample i
/// on the stream (seed, i), as the scalar run does: the bits do not depend on the lane width,
/// the block or the thread count). Chains start at `start(i)`, or at zero for samplers that
/// draw their own start; a chain that did not move, or a non-finite sample, is an error.
/// Hands each chunk to `sink`; returns the sampler's total count (accepted proposals).
fn run_lanes<const D: usize>(
    sampler: &(dyn Fn(u64, &mut [[f64; D]]) -> u64 + Sync),
    start: Option<&(dyn Fn(u64) -> [f64; D] + Sync)>,
    n: usize,
    moved: &(dyn Fn(u64, &[f64; D]) -> anyhow::Result<()> + Sync),
    sink: Sink<'_>,
) -> anyhow::Result<u64> {
    use rayon::prelude::*;
    let mut total = 0u64;
    let mut xs: Vec<[f64; D]> = Vec::new();
    xs.try_reserve_exact(CHUNK.min(n)).map_err(|_| anyhow!("not enough memory"))?;
    let mut buf: Vec<f64> = Vec::new();
    buf.try_reserve_exact(CHUNK.min(n) * D).map_err(|_| anyhow!("not enough memory"))?;
    let mut lo = 0usize;
    while lo < n {
        let hi = (lo + CHUNK).min(n);
        xs.clear();
        xs.extend((lo..hi).map(|i| start.map_or([0.0; D], |f| f(i as u64))));
        total += xs
            .par_chunks_mut(BLOCK)
            .enumerate()
            .map(|(b, blk)| sampler((lo + b * BLOCK) as u64, blk))
            .sum::<u64>();
        buf.clear();
        for (k, x) in xs.iter().enumerate() {
            if x.iter().any(|v| !v.is_finite()) {
                return Err(non_finite_sample((lo + k) as u64));
            }
            if start.is_some() {
                moved((lo + k) as u64, x)?;
            }
            buf.extend_from_slice(x);
        }
        sink(&buf)?;
        lo = hi;
    }
    Ok(total)
}

/// NCSN's technique 1: σ₁ = the largest distance between two means (at least 1).
fn sigma_max_of<const D: usize, const K: usize>(mix: &GaussianMixture<D, K>) -> f64 {
    let mut dmax: f64 = 1.0;
    let w = mix.weights();
    let m = mix.means();
    for a in 0..K {
        for b in 0..K {
            if w[a] > 0.0 && w[b] > 0.0 {
                let d: f64 =
                    (0..D).map(|i| (m[a][i] as f64 - m[b][i] as f64).powi(2)).sum::<f64>().sqrt();
                dmax = dmax.max(d);
            }
        }
    }
    dmax
}

fn loglik_dk<const D: usize, const K: usize>(
    mix: GaussianMixture<D, K>,
    data: &Table,
    job: &LoglikSettings,
) -> anyhow::Result<LoglikOutput> {
    let sde: AnySde = job.sde;
    let model = mix.under(sde);
    let mut out = LoglikOutput { log_p: Vec::new(), nfe: Vec::new() };
    if job.method != Method::Exact {
        pf_rows(&model, &sde, &ExactPrior(&model), data, &job.into(), &mut out)?;
        return Ok(out);
    }
    out.log_p.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    out.nfe.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    par::map_chunks(
        data.rows as u64,
        |idx| {
            let i = idx as usize;
            let x: [f64; D] = core::array::from_fn(|j| data.row(i)[j]);
            let l = exact_log_density(&model, &x, job.eps);
            if !l.is_finite() {
                return Err(anyhow!(
                    "row {i}: the log-density is not representable in f64 ({l}; the point is \
                     too far from the target)"
                ));
            }
            Ok(l)
        },
        |rows| {
            for r in rows {
                out.log_p.push(r?);
                out.nfe.push(0);
            }
            Ok(())
        },
    )?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscore::sde::Vp;

    fn settings(sampler: SamplerKind, n: usize) -> SampleSettings {
        SampleSettings {
            sampler,
            sde: AnySde::Vp(Vp::default()),
            n,
            steps: 12,
            step_size: 0.05,
            snr: 0.16,
            rtol: 1e-2,
            atol: 1e-2,
            seed: 0xfeed,
        }
    }

    /// The batched lane path returns, for every index, the bits of the scalar chain of that
    /// index (stream (seed, i); Langevin chains from the box point of stream (seed + 1, i)),
    /// across lane groups, the scalar tail, parallel blocks and the chunk boundary.
    #[test]
    fn lane_batches_give_every_index_its_scalar_chain() {
        let spec = Spec::ncsn_mixture();
        let mix = mixture!(2, 16, &spec).unwrap();
        let n = CHUNK + BLOCK + 7;
        let picks = [0, 3, BLOCK - 1, BLOCK, BLOCK + 5, CHUNK - 1, CHUNK, n - 1];

        let job = settings(SamplerKind::EulerMaruyama, n);
        let got = sample(&spec, &job).unwrap().table;
        let sde = job.sde;
        let model = mix.under(sde);
        let em = EulerMaruyama::new(sde, job.steps, sde.sampling_eps() as f32).unwrap();
        for i in picks {
            let mut x = [0.0f64; 2];
            em.run(&model, &mut x, &mut Streams::<f64>::new(job.seed, i as u64));
            assert_eq!(
                got.row(i).iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                [x[0].to_bits(), x[1].to_bits()]
            );
        }

        let n = 3 * BLOCK + 3;
        let job = settings(SamplerKind::Mala, n);
        let out = sample(&spec, &job).unwrap();
        let bx = start_box(&spec);
        let mala = Mala::new(job.step_size as f32, job.steps).unwrap();
        let mut accepted = 0.0;
        for i in 0..n {
            let mut rng = Streams::<f64>::new(job.seed.wrapping_add(1), i as u64);
            let mut x: [f64; 2] =
                core::array::from_fn(|j| bx.0[j] + (bx.1[j] - bx.0[j]) * rng.uniform());
            accepted += mala.run(&model, &mut x, &mut Streams::<f64>::new(job.seed, i as u64));
            assert_eq!(out.table.row(i), &x[..], "sample {i}");
        }
        let rate = accepted / (job.steps as f64 * n as f64);
        assert!((out.mean_stat - rate).abs() < 1e-12, "{} vs {rate}", out.mean_stat);
    }
    /// The lane path of `loglik --method ode` gives every row the bits of its own scalar solve
    /// (index i), across lane groups, the scalar tail and parallel blocks; and a row far out
    /// is still solved to the closed form's value within the tolerance.
    #[test]
    fn ode_rows_give_every_row_its_scalar_solve() {
        use crate::jobs::pf_rows::BLOCK;
        use flowscore::likelihood::{ExactDivergence, PfConfig, pf_log_likelihood};
        let spec = Spec::ncsn_mixture();
        let mix = mixture!(2, 16, &spec).unwrap();
        let n = BLOCK + 6;
        let data: Vec<f64> = (0..n)
            .flat_map(|i| {
                let t = i as f64 * 0.37;
                [6.0 * t.cos(), 5.0 * t.sin()]
            })
            .collect();
        let table = Table { rows: n, cols: 2, data };
        let job = LoglikSettings {
            method: Method::Ode,
            sde: AnySde::Vp(Vp::default()),
            eps: 1e-5,
            ode: crate::jobs::OdeOptions { rtol: 1e-5, atol: 1e-5, max_steps: 10_000 },
            probes: 1,
            seed: 3,
        };
        let out = loglik(&spec, &table, &job).unwrap();
        let model = mix.under(job.sde);
        let cfg = PfConfig {
            eps: job.eps,
            opts: Dopri5Options { max_steps: 10_000, ..Dopri5Options::with_tol(1e-5, 1e-5) },
        };
        for i in [0, 1, 3, 4, 7, BLOCK - 1, BLOCK, BLOCK + 3, n - 1] {
            let x = [table.row(i)[0], table.row(i)[1]];
            let r = pf_log_likelihood(
                &model,
                &job.sde,
                &ExactDivergence,
                &ExactPrior(&model),
                &x,
                i as u64,
                &cfg,
            )
            .and_then(|l| l.lane(0))
            .unwrap();
            assert_eq!((out.log_p[i].to_bits(), out.nfe[i]), (r.log_p.to_bits(), r.nfe), "row {i}");
            let exact = exact_log_density(&model, &x, job.eps);
            assert!((out.log_p[i] - exact).abs() < 1e-3, "row {i}: {} vs {exact}", out.log_p[i]);
        }
    }
}
