//! `flowscore eval`: the held-out negative log-likelihood of a model file on data, in the data's
//! units — exact for flows; by the probability-flow ODE with the exact divergence (dual
//! numbers) for score networks, with the NFE reported.

use std::path::{Path, PathBuf};

use flowscore::flow::Bijector;
use flowscore::score::ScoreModel;
use flowscore::sde::Sde;

use super::Say;
use super::loglik::{flow_log_p, score_log_p};
use super::model_file::{ModelFile, UseModel};
use super::pf_rows::PfSettings;
use crate::data::{self, Table, ToySet};

/// Held-out points of a toy set (as `flowscore train` holds out: seed + 1).
const TOY_POINTS: usize = 5_000;

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

/// A validated evaluation: the model file, read and loaded, and the points.
#[derive(Debug)]
pub struct EvalJob {
    model: ModelFile,
    points: Table,
}

impl EvalJob {
    /// Reads and loads the model file and reads the data.
    pub fn new(req: EvalRequest) -> anyhow::Result<Self> {
        let model = ModelFile::read(&req.model)?;
        let points = if let Some(set) = ToySet::from_name(&req.data) {
            let pts = set.sample(TOY_POINTS, req.seed.wrapping_add(1));
            Table { rows: pts.len(), cols: 2, data: pts.into_iter().flatten().collect() }
        } else {
            data::read_points(Path::new(&req.data), Some(2)).map_err(|e| anyhow::anyhow!("{e}"))?
        };
        Ok(Self { model, points })
    }

    /// Evaluates and prints the mean NLL with its standard error.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let (log_p, nfe) = self.model.with(Eval(&self.points))?;
        let nll: Vec<f64> = log_p.iter().map(|l| -l).collect();
        let n = nll.len() as f64;
        let mean = nll.iter().sum::<f64>() / n;
        let var = nll.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let mut line = format!(
            "{}: {}, NLL {mean:.4} ± {:.4} nats over {} points",
            self.model.path(),
            self.model.kind(),
            (var / n).sqrt(),
            nll.len()
        );
        if let Some(nfe) = nfe {
            let avg = nfe.iter().map(|&v| v as f64).sum::<f64>() / n;
            line.push_str(&format!(", mean NFE {avg:.1}"));
        }
        say(&format!("{line}\n"))
    }
}

/// log p(x) per point in the data's units, and the NFE per point for score networks.
struct Eval<'a>(&'a Table);

impl UseModel for Eval<'_> {
    type Out = anyhow::Result<(Vec<f64>, Option<Vec<u32>>)>;
    fn flow<B: Bijector<2> + Sync>(self, flow: &B, file: &ModelFile) -> Self::Out {
        Ok((flow_log_p(flow, file.standardize(), self.0)?, None))
    }
    fn score<M: ScoreModel<2> + Sync, S: Sde + Copy + Sync>(
        self,
        model: &M,
        sde: S,
        _sampling_eps: f32,
        file: &ModelFile,
    ) -> Self::Out {
        let out = score_log_p(model, &sde, file.standardize(), self.0, &PfSettings::EVAL)?;
        Ok((out.log_p, Some(out.nfe)))
    }
}
