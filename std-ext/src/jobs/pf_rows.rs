//! The probability-flow log-likelihood of every row of a table, for any score model and any
//! prior: the closed-form mixtures of `loglik --target` (prior: the mixture's exact p_T) and
//! the learned score networks of `loglik --model` and `eval` (prior: the SDE's p_T).
//!
//! The exact divergence (the caller's method: the mixtures' closed form, which shares its
//! pass with the score, on the run-time dispatched lanes; or the networks' forward-mode duals,
//! on the core's `f64x4`) runs on the core's batch API in parallel blocks; Hutchinson's estimator one row at a time on [`crate::par`]'s
//! driver. Row i is point i of the batch API wherever it lands (its probes drawn from the
//! stream (seed + m, i)), so each row gets the bits of its own scalar solve whatever the lane
//! width, block or thread count.

use anyhow::anyhow;
use flowscore::likelihood::prior::Prior;
use flowscore::likelihood::{
    DivergenceMethod, Hutchinson, LogLik, PfConfig, ProbabilityFlow, Probe, pf_log_likelihood,
    pf_log_likelihood_batch_on,
};
use flowscore::ode::Dopri5Options;
use flowscore::score::ScoreModel;
use flowscore::sde::Sde;

use crate::data::Table;
use crate::jobs::{LoglikOutput, LoglikSettings, Method, OdeOptions};
use crate::par::{self, CHUNK};
use crate::simd::{self, LaneWork};

/// Rows per parallel task of the exact-divergence solve: whole lane groups (of 4 and of 8),
/// enough work to amortise a task.
pub(crate) const BLOCK: usize = 256;

/// How the rows are solved: the [`LoglikSettings`] other than the SDE (a model file holds its
/// own).
#[derive(Clone, Copy, Debug)]
pub(crate) struct PfSettings {
    /// [`Method::Ode`] or [`Method::OdeHutchinson`].
    pub method: Method,
    /// The time ε at which log p_ε is evaluated.
    pub eps: f64,
    /// ODE tolerances and step budget.
    pub ode: OdeOptions,
    /// Hutchinson probes per row.
    pub probes: usize,
    /// Seed of the probes.
    pub seed: u64,
}

impl PfSettings {
    /// The settings of `eval` (score_sde's likelihood: ε = 1e-5, rtol = atol = 1e-5, the
    /// exact divergence).
    pub const EVAL: Self = Self {
        method: Method::Ode,
        eps: 1e-5,
        ode: OdeOptions {
            rtol: crate::jobs::DEFAULT_TOL,
            atol: crate::jobs::DEFAULT_TOL,
            max_steps: crate::jobs::DEFAULT_MAX_STEPS,
        },
        probes: 1,
        seed: 0,
    };
}

impl From<&LoglikSettings> for PfSettings {
    fn from(s: &LoglikSettings) -> Self {
        Self { method: s.method, eps: s.eps, ode: s.ode, probes: s.probes, seed: s.seed }
    }
}

/// Appends log p_ε(x) and the NFE of every row of `data` (D columns, in the model's
/// coordinates) to `out`, by the probability-flow ODE of `model` under `sde` from ε to T with
/// `prior` at T: the exact divergence `exact.0` for [`Method::Ode`] (its blocks on the lanes
/// `exact.1` says: [`Dispatched`] where the whole solve is inlined for the dispatched lanes, as
/// the mixtures', else [`Baseline`]), the mean of `job.probes`
/// single-probe Rademacher estimates for [`Method::OdeHutchinson`] (probe set m from the
/// streams of seed + m: unbiased, its variance falling as 1/M).
///
/// Errors: a row whose solve fails or whose log-density is not finite in `f64` (named by its
/// index); [`Method::Exact`], which has no ODE.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pf_rows<const D: usize, M, S, P, Dv, Ln: BlockLanes>(
    model: &M,
    sde: &S,
    prior: &P,
    exact: (&Dv, Ln),
    data: &Table,
    job: &PfSettings,
    out: &mut LoglikOutput,
) -> anyhow::Result<()>
where
    M: ScoreModel<D> + Sync,
    S: Sde + Sync,
    P: Prior<D> + Sync,
    for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>> + Sync,
{
    if data.cols != D {
        return Err(anyhow!("data has {} columns but the model has D = {D}", data.cols));
    }
    let cfg = PfConfig {
        eps: job.eps,
        opts: Dopri5Options {
            max_steps: job.ode.max_steps,
            ..Dopri5Options::with_tol(job.ode.rtol, job.ode.atol)
        },
    };
    out.log_p.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    out.nfe.try_reserve(data.rows).map_err(|_| anyhow!("not enough memory for the output"))?;
    let rows = Rows { model, sde, prior, data, cfg };
    match job.method {
        Method::Ode => rows.exact_divergence::<D, Dv, Ln>(exact.0, out),
        Method::OdeHutchinson => rows.hutchinson(job, out),
        Method::Exact => Err(anyhow!("--method exact has no probability-flow ODE")),
    }
}

/// A finite log-density, or the error that names its row.
fn finite(i: usize, l: LogLik) -> anyhow::Result<LogLik> {
    if !l.log_p.is_finite() {
        return Err(anyhow!(
            "row {i}: the log-density is not representable in f64 ({}; the point is too far \
             from the density's mass)",
            l.log_p
        ));
    }
    Ok(l)
}

/// The rows' solve: the model, its SDE and prior, the data and the ODE's configuration.
struct Rows<'a, M, S, P> {
    model: &'a M,
    sde: &'a S,
    prior: &'a P,
    data: &'a Table,
    cfg: PfConfig,
}

impl<M, S, P> Rows<'_, M, S, P>
where
    S: Sde + Sync,
{
    fn exact_divergence<const D: usize, Dv, Ln: BlockLanes>(
        &self,
        div: &Dv,
        out: &mut LoglikOutput,
    ) -> anyhow::Result<()>
    where
        M: ScoreModel<D> + Sync,
        P: Prior<D> + Sync,
        for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>> + Sync,
    {
        use rayon::prelude::*;
        let Self { model, sde, prior, data, cfg } = self;
        let mut lo = 0usize;
        while lo < data.rows {
            let hi = (lo + CHUNK).min(data.rows);
            let mut xs: Vec<[f64; D]> = Vec::new();
            xs.try_reserve_exact(hi - lo).map_err(|_| anyhow!("not enough memory"))?;
            xs.extend((lo..hi).map(|i| core::array::from_fn(|j| data.row(i)[j])));
            let mut res: Vec<Result<LogLik, flowscore::Error>> = Vec::new();
            res.try_reserve_exact(hi - lo).map_err(|_| anyhow!("not enough memory"))?;
            res.resize(hi - lo, Ok(LogLik { log_p: 0.0, nfe: 0 }));
            xs.par_chunks(BLOCK).zip(res.par_chunks_mut(BLOCK)).enumerate().try_for_each(
                |(b, (xc, oc))| {
                    let first = (lo + b * BLOCK) as u64;
                    let (model, sde, prior) = (*model, *sde, *prior);
                    Ln::run(PfBlock { model, sde, div, prior, xs: xc, first, cfg, out: oc })
                },
            )?;
            for (k, r) in res.into_iter().enumerate() {
                let i = lo + k;
                let l = finite(i, r.map_err(|e| anyhow!("row {i}: {e}"))?)?;
                out.log_p.push(l.log_p);
                out.nfe.push(l.nfe);
            }
            lo = hi;
        }
        Ok(())
    }

    fn hutchinson<const D: usize>(
        &self,
        job: &PfSettings,
        out: &mut LoglikOutput,
    ) -> anyhow::Result<()>
    where
        M: ScoreModel<D> + Sync,
        P: Prior<D> + Sync,
    {
        let Self { model, sde, prior, data, cfg } = self;
        let probes = job.probes.max(1);
        par::map_chunks(
            data.rows as u64,
            |idx| {
                let i = idx as usize;
                let x: [f64; D] = core::array::from_fn(|j| data.row(i)[j]);
                let mut acc = LogLik { log_p: 0.0, nfe: 0 };
                for m in 0..probes {
                    let seed = job.seed.wrapping_add(m as u64);
                    let div = Hutchinson::<1>::new(Probe::Rademacher, seed);
                    let l = pf_log_likelihood(*model, *sde, &div, *prior, &x, idx, cfg)
                        .and_then(|l| l.lane(0))
                        .map_err(|e| anyhow!("row {i}: {e}"))?;
                    acc.log_p += l.log_p;
                    acc.nfe += l.nfe;
                }
                acc.log_p /= probes as f64;
                finite(i, acc)
            },
            |rows| {
                for r in rows {
                    let l = r?;
                    out.log_p.push(l.log_p);
                    out.nfe.push(l.nfe);
                }
                Ok(())
            },
        )
    }
}

/// The lanes the exact-divergence blocks run on. [`Dispatched`] only for a solve that is
/// inlined for the dispatched lanes end to end (the mixtures' [`ClosedFormDivergence`]): the
/// duals, Hutchinson's probes and the networks are not, and there they would run each lane
/// operation as a call (the same bits, several times slower).
///
/// [`ClosedFormDivergence`]: flowscore::likelihood::ClosedFormDivergence
pub(crate) trait BlockLanes {
    /// Runs `work` on these lanes.
    fn run<J: LaneWork<f64>>(work: J) -> J::Output;
}

/// The run-time dispatched path ([`simd::run`]), for solves inlined for its lanes.
pub(crate) struct Dispatched;

impl BlockLanes for Dispatched {
    #[inline(always)]
    fn run<J: LaneWork<f64>>(work: J) -> J::Output {
        simd::run::<f64, J>(work)
    }
}

/// The core's batch lanes only (the dispatched path's are not even compiled for the work).
pub(crate) struct Baseline;

impl BlockLanes for Baseline {
    #[inline(always)]
    fn run<J: LaneWork<f64>>(work: J) -> J::Output {
        work.run::<<f64 as flowscore::batch::WideScalar>::Wide>()
    }
}

/// One block of rows of the exact-divergence solve ([`pf_log_likelihood_batch_on`]) as work for
/// [`simd::run_on`].
struct PfBlock<'a, M, S, Dv, P, const D: usize> {
    model: &'a M,
    sde: &'a S,
    div: &'a Dv,
    prior: &'a P,
    xs: &'a [[f64; D]],
    first: u64,
    cfg: &'a PfConfig,
    out: &'a mut [Result<LogLik, flowscore::Error>],
}

impl<M, S, Dv, P, const D: usize> LaneWork<f64> for PfBlock<'_, M, S, Dv, P, D>
where
    M: ScoreModel<D>,
    S: Sde,
    P: Prior<D>,
    for<'a> Dv: DivergenceMethod<D, ProbabilityFlow<'a, M, S>>,
{
    type Output = Result<(), flowscore::Error>;
    #[inline(always)]
    fn run<W: flowscore::Lane<Scalar = f64>>(self) -> Self::Output {
        let Self { model, sde, div, prior, xs, first, cfg, out } = self;
        pf_log_likelihood_batch_on::<W, f64, D, _, _, _, _>(
            model, sde, div, prior, xs, first, cfg, out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowscore::likelihood::{ClosedFormDivergence, ExactPrior};
    use flowscore::score::GaussianMixture;
    use flowscore::sde::{SubVp, Ve};

    /// A block of the exact-divergence solve gives every row the bits of its own scalar solve
    /// on each code path this CPU has (the dispatched lanes, the baseline's), the tail included,
    /// in 2 and 3 dimensions.
    #[test]
    fn every_path_gives_the_scalar_bits() {
        fn check<const D: usize, S: Sde + Copy>(m: GaussianMixture<D, 3>, sde: S) {
            let model = m.under(sde);
            let cfg = PfConfig::new(1e-5, 1e-5);
            let n = 29; // no multiple of any lane width
            let xs: Vec<[f64; D]> = (0..n)
                .map(|i| core::array::from_fn(|j| 4.0 * ((i * (j + 3)) as f64 * 0.71).sin()))
                .collect();
            let mut paths = vec![simd::Isa::Baseline];
            if simd::Isa::Avx2.available() {
                paths.push(simd::Isa::Avx2);
            }
            for isa in paths {
                let mut out = vec![Ok(LogLik { log_p: 0.0, nfe: 0 }); n];
                let (prior, div) = (&ExactPrior(&model), &ClosedFormDivergence);
                let block = PfBlock {
                    model: &model,
                    sde: &sde,
                    div,
                    prior,
                    xs: &xs,
                    first: 7,
                    cfg: &cfg,
                    out: &mut out,
                };
                simd::run_on(isa, block).unwrap();
                for (i, (x, r)) in xs.iter().zip(&out).enumerate() {
                    let one = pf_log_likelihood(&model, &sde, div, prior, x, 7 + i as u64, &cfg)
                        .and_then(|l| l.lane(0))
                        .unwrap();
                    let got = r.unwrap();
                    assert_eq!(got.log_p.to_bits(), one.log_p.to_bits(), "{} row {i}", isa.name());
                    assert_eq!(got.nfe, one.nfe, "{} row {i}", isa.name());
                }
            }
        }
        let cov2 = [[1.0, 0.3], [0.3, 0.5]];
        let m2 = GaussianMixture::new(
            [0.5, 0.3, 0.2],
            [[2.0, 0.0], [-1.0, 2.0], [0.0, -3.0]],
            [cov2; 3],
        );
        check(m2.unwrap(), Ve::default());
        let cov3 = [[0.6, 0.1, 0.0], [0.1, 1.2, -0.2], [0.0, -0.2, 0.4]];
        let means3 = [[1.0, 0.0, -1.0], [-2.0, 1.0, 0.5], [0.0, -2.0, 2.0]];
        check(GaussianMixture::new([0.2, 0.5, 0.3], means3, [cov3; 3]).unwrap(), SubVp::default());
    }
}
