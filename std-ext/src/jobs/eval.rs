//! `flowscore eval`: the held-out negative log-likelihood of a model file on data, in the data's
//! units — exact for flows; by the probability-flow ODE with the exact divergence (dual
//! numbers) for score networks, with the NFE reported.
//!
//! The model file's kind and shapes are read by loading it as each model `flowscore train`
//! writes ([`super::train`]) in turn: the core's loader checks every shape, so a file loads as
//! exactly one of them or is refused with the loader's reason.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use flowscore::dist::StandardNormal;
use flowscore::flow::Flow;
use flowscore::flow::train::TrainableInverse;
use flowscore::format::{self, ModelFormat, Standardize};
use flowscore::likelihood::divergence::ExactDivergence;
use flowscore::likelihood::prior::SdePrior;
use flowscore::likelihood::{LogLik, PfConfig, pf_log_likelihood_batch};
use flowscore::sde::{Sde, SubVp, Ve, Vp};

use super::Say;
use super::train::{MafSmall, MafStack, RealNvp, ScoreNet2, SplineStack};
use crate::data::{self, ToySet};

/// Held-out points of a toy set (as `flowscore train` holds out: seed + 1).
const TOY_POINTS: usize = 5_000;
/// The probability-flow likelihood's ε and tolerance (score_sde's).
const PF_EPS: f64 = 1e-5;
/// Dormand–Prince rtol = atol.
const PF_TOL: f64 = 1e-5;

/// `flowscore eval` as given.
#[derive(Clone, Debug)]
pub struct EvalRequest {
    /// The model file.
    pub model: PathBuf,
    /// A toy set's name (its held-out points for `seed`) or a 2-column file.
    pub data: String,
    /// The toy set's seed (the training seed).
    pub seed: u64,
}

/// A validated evaluation: the model's bytes and the points.
#[derive(Debug)]
pub struct EvalJob {
    name: String,
    bytes: Vec<u8>,
    points: Vec<[f64; 2]>,
}

impl EvalJob {
    /// Reads the model file and the data.
    pub fn new(req: EvalRequest) -> anyhow::Result<Self> {
        let bytes = std::fs::read(&req.model)
            .with_context(|| format!("cannot read {}", req.model.display()))?;
        let points = if let Some(set) = ToySet::from_name(&req.data) {
            set.sample(TOY_POINTS, req.seed.wrapping_add(1))
        } else {
            let t = data::read_points(Path::new(&req.data), Some(2))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            (0..t.rows).map(|i| [t.row(i)[0], t.row(i)[1]]).collect()
        };
        Ok(Self { name: req.model.display().to_string(), bytes, points })
    }

    /// Evaluates and prints the mean NLL with its standard error.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let mut first_err = None;
        macro_rules! try_flow {
            ($t:ty, $kind:expr) => {
                match format::load::<$t, 2>(&self.bytes) {
                    Ok((m, s)) => {
                        return self.report($kind, flow_nll(&m, &s, &self.points)?, None, say)
                    }
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            };
        }
        macro_rules! try_score {
            ($s:ty, $kind:expr) => {
                match format::load::<ScoreNet2<$s>, 2>(&self.bytes) {
                    Ok((m, s)) => {
                        let (nll, nfe) = score_nll(&m, &m.conditioning.0, &s, &self.points)?;
                        return self.report($kind, nll, Some(nfe), say);
                    }
                    Err(e) => first_err = first_err.or(Some(e)),
                }
            };
        }
        try_flow!(RealNvp, "realnvp");
        try_flow!(MafStack, "maf");
        try_flow!(MafSmall, "maf (hidden 16)");
        try_flow!(SplineStack, "spline");
        try_score!(Vp, "scorenet (vp)");
        try_score!(Ve, "scorenet (ve)");
        try_score!(SubVp, "scorenet (subvp)");
        match first_err {
            Some(e)
                if [
                    format::BAD_MAGIC,
                    format::BAD_CHECKSUM,
                    format::TRUNCATED,
                    format::TRAILING,
                    format::BAD_VERSION,
                ]
                .contains(&e) =>
            {
                bail!("{}: not a usable model file: {e}", self.name)
            }
            _ => bail!(
                "{}: a model this build does not evaluate (not one `flowscore train` writes)",
                self.name
            ),
        }
    }

    fn report(
        &self,
        kind: &str,
        nll: Vec<f64>,
        nfe: Option<f64>,
        say: Say<'_>,
    ) -> anyhow::Result<()> {
        let n = nll.len() as f64;
        let mean = nll.iter().sum::<f64>() / n;
        let var = nll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let mut line = format!(
            "{}: {kind}, NLL {mean:.4} ± {:.4} nats over {} points",
            self.name,
            (var / n).sqrt(),
            nll.len()
        );
        if let Some(f) = nfe {
            line.push_str(&format!(", mean NFE {f:.1}"));
        }
        say(&format!("{line}\n"))
    }
}

/// −log p(x) in the data's units: the flow's density of the standardised point plus the
/// standardisation's log-determinant.
fn flow_nll<B: TrainableInverse<2> + ModelFormat>(
    b: &B,
    s: &Standardize<2>,
    xs: &[[f64; 2]],
) -> anyhow::Result<Vec<f64>> {
    let flow = Flow::new(StandardNormal, *b);
    xs.iter()
        .map(|x| {
            let z = s.to_model(x);
            let lp = flow.log_prob::<f64, 2>(z).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(-(lp + s.log_det_to_model()))
        })
        .collect()
}

/// −log p_ε(x) by the probability-flow ODE, and the mean NFE.
fn score_nll<M: flowscore::score::ScoreModel<2>, S: Sde>(
    m: &M,
    sde: &S,
    s: &Standardize<2>,
    xs: &[[f64; 2]],
) -> anyhow::Result<(Vec<f64>, f64)> {
    let zs: Vec<[f64; 2]> = xs.iter().map(|x| s.to_model(x)).collect();
    let cfg = PfConfig::new(PF_EPS, PF_TOL);
    let mut out: Vec<Result<LogLik, flowscore::Error>> =
        vec![Err(flowscore::Error::NonFiniteState); zs.len()];
    pf_log_likelihood_batch::<f64, 2, M, S, _, _>(
        m,
        sde,
        &ExactDivergence,
        &SdePrior(sde),
        &zs,
        0,
        &cfg,
        &mut out,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut nll = Vec::with_capacity(out.len());
    let mut nfe = 0.0;
    for (i, r) in out.into_iter().enumerate() {
        let r = r.map_err(|e| anyhow::anyhow!("point {i}: {e}"))?;
        nll.push(-(r.log_p + s.log_det_to_model()));
        nfe += r.nfe as f64;
    }
    let n = nll.len().max(1) as f64;
    Ok((nll, nfe / n))
}
