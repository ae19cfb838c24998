//! The probability-flow log-likelihood of every row of a table, for any score model and any
//! prior: the closed-form mixtures of `loglik --target` (prior: the mixture's exact p_T) and
//! the learned score networks of `loglik --model` and `eval` (prior: the SDE's p_T).
//!
//! The exact divergence (the caller's method: the mixtures' closed form, which shares its
//! pass with the score, or the networks' forward-mode duals) runs on the core's `f64x4` batch
//! API in parallel blocks; Hutchinson's estimator one row at a time on [`crate::par`]'s
//! driver. Row i is point i of the batch API wherever it lands (its probes drawn from the
//! stream (seed + m, i)), so each row gets the bits of its own scalar solve whatever the lane
//! width, block or thread count.

use anyhow::anyhow;
use flowscore::likelihood::prior::Prior;
use flowscore::likelihood::{
    DivergenceMethod, Hutchinson, LogLik, PfConfig, ProbabilityFlow, Probe, pf_log_likelihood,
    pf_log_likelihood_batch,
};
use flowscore::ode::Dopri5Options;
use flowscore::score::ScoreModel;
use flowscore::sde::Sde;

use crate::data::Table;
use crate::jobs::{LoglikOutput, LoglikSettings, Method, OdeOptions};
use crate::par::{self, CHUNK};

/// Rows per parallel task of the exact-divergence solve: whole `f64x4` lane groups, enough
/// work to amortise a task.
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
/// `prior` at T: the exact divergence `exact` for [`Method::Ode`], the mean of `job.probes`
/// single-probe Rademacher estimates for [`Method::OdeHutchinson`] (probe set m from the
/// streams of seed + m: unbiased, its variance falling as 1/M).
///
/// Errors: a row whose solve fails or whose log-density is not finite in `f64` (named by its
/// index); [`Method::Exact`], which has no ODE.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pf_rows<const D: usize, M, S, P, Dv>(
    model: &M,
    sde: &S,
    prior: &P,
    exact: &Dv,
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
        Method::Ode => rows.exact_divergence(exact, out),
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
    fn exact_divergence<const D: usize, Dv>(
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
                    pf_log_likelihood_batch(*model, *sde, div, *prior, xc, first, cfg, oc)
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
