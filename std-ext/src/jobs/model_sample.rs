//! `flowscore sample --model MODEL`: samples of a model file written by `flowscore train`, in
//! the data's units. Flows: x = f(z), z ~ N(0, I) (no sampler option applies). Score networks:
//! the reverse SDE by Euler–Maruyama (default), predictor–corrector, SRA1 or stochastic Heun;
//! or the probability-flow ODE, adaptively (Dormand–Prince) or in few steps (EDM-Heun,
//! DPM-Solver++(2M), DPM-Solver++(3M), UniPC). A learned model has no exact p_T, so every sampler
//! starts from the SDE's prior. Sample i always uses the stream (seed, i); rows are computed
//! and written in chunks.

use std::path::PathBuf;

use anyhow::{Context, bail, ensure};
use flowscore::dist::StandardNormal;
use flowscore::flow::Bijector;
use flowscore::flow::Flow;
use flowscore::format::Standardize;
use flowscore::likelihood::sampling::{OdeSolver, pf_sample_batch};
use flowscore::ode::Dopri5Options;
use flowscore::sample::{
    DpmSolverPp2m, DpmSolverPp3m, EdmHeun, EulerMaruyama, LaneSampler, PredictorCorrector,
    SrkMethod, StochasticRk, UniPc,
};
use flowscore::score::ScoreModel;
use flowscore::sde::Sde;

use super::SamplerKind;
use super::model_file::{ModelFile, UseModel};
use crate::io::staged::Staged;
use crate::io::table::{TableWriter, check_output};

/// The samplers of a score network (the reverse-SDE and probability-flow ones with fixed
/// options; the adaptive reverse SDE's tolerances are not options of `sample --model`).
pub const SCORE_SAMPLERS: [SamplerKind; 9] = [
    SamplerKind::EulerMaruyama,
    SamplerKind::Pc,
    SamplerKind::Sra1,
    SamplerKind::SdeHeun,
    SamplerKind::Ode,
    SamplerKind::EdmHeun,
    SamplerKind::DpmPp2m,
    SamplerKind::DpmPp3m,
    SamplerKind::UniPc,
];

/// Rows per chunk of computing and writing.
const CHUNK_ROWS: usize = 65_536;

/// `flowscore sample --model` as given.
#[derive(Clone, Debug)]
pub struct ModelSampleRequest {
    /// The model file.
    pub model: PathBuf,
    /// The sampler (score networks only).
    pub sampler: Option<SamplerKind>,
    /// Number of samples.
    pub n: u64,
    /// Steps (the fixed-step samplers of a score network).
    pub steps: Option<u32>,
    /// Seed.
    pub seed: u64,
    /// Output file.
    pub out: PathBuf,
}

/// A validated `sample --model`: the model file loaded, the output checked and staged.
#[derive(Debug)]
pub struct ModelSampleJob {
    req: ModelSampleRequest,
    model: ModelFile,
    n: usize,
    staged: Staged,
}

impl ModelSampleJob {
    /// Validates the request before any work: the output path is checked and its temporary
    /// file created, the model file read and loaded, and the options checked against the model
    /// (a flow takes no sampler and no steps; a score network every reverse-SDE and
    /// probability-flow sampler but the adaptive reverse SDE, and `--steps` where the sampler
    /// has steps).
    pub fn new(req: ModelSampleRequest) -> anyhow::Result<Self> {
        check_output(&req.out)?;
        let staged = Staged::new(&req.out, &[req.model.as_path()])?;
        let model = ModelFile::read(&req.model)?;
        let n = usize::try_from(req.n).context("too many samples")?;
        if model.is_flow() {
            ensure!(
                req.sampler.is_none(),
                "--sampler does not apply to a flow (it samples x = f(z))"
            );
            ensure!(req.steps.is_none(), "--steps does not apply to a flow");
        } else {
            let kind = req.sampler.unwrap_or(SamplerKind::EulerMaruyama);
            ensure!(
                SCORE_SAMPLERS.contains(&kind),
                "--sampler {} does not apply to a score network ({})",
                kind.name(),
                SCORE_SAMPLERS.map(SamplerKind::name).join(", ")
            );
            ensure!(
                req.steps.is_none() || kind.takes_steps(),
                "--steps does not apply to the {} sampler (it is adaptive)",
                kind.name()
            );
        }
        Ok(Self { req, model, n, staged })
    }

    /// Samples and writes the table, then moves it into place.
    pub fn run(self, say: super::Say<'_>) -> anyhow::Result<()> {
        let Self { req, model, n, staged } = self;
        model.with(Sampling { req: &req, n, staged, say })
    }
}

/// `sample --model` on the model's type.
struct Sampling<'a, 'b> {
    req: &'a ModelSampleRequest,
    n: usize,
    staged: Staged,
    say: super::Say<'b>,
}

impl UseModel for Sampling<'_, '_> {
    type Out = anyhow::Result<()>;
    fn flow<B: Bijector<2> + Sync>(self, flow: &B, file: &ModelFile) -> Self::Out {
        let flow = Flow::new(StandardNormal, flow);
        let seed = self.req.seed;
        write(self.staged, self.n, file.standardize(), self.say, |first, buf| {
            flow.sample_batch(seed, first, buf);
            Ok(())
        })
    }
    fn score<M: ScoreModel<2> + Sync, S: Sde + Copy + Sync>(
        self,
        model: &M,
        sde: S,
        sampling_eps: f32,
        file: &ModelFile,
    ) -> Self::Out {
        sample_score(
            model,
            sde,
            sampling_eps,
            self.req,
            self.n,
            file.standardize(),
            self.staged,
            self.say,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn sample_score<M: ScoreModel<2> + Sync, S: Sde + Copy>(
    m: &M,
    sde: S,
    eps: f32,
    req: &ModelSampleRequest,
    n: usize,
    s: &Standardize<2>,
    staged: Staged,
    say: super::Say<'_>,
) -> anyhow::Result<()> {
    let kind = req.sampler.unwrap_or(SamplerKind::EulerMaruyama);
    let steps = req.steps.unwrap_or(kind.default_steps());
    let seed = req.seed;
    // A fixed-step lane sampler: sample i on the stream (seed, i).
    type Run<'m> = Box<dyn Fn(u64, &mut [[f32; 2]]) + 'm>;
    fn lanes<'m, M: ScoreModel<2>, P: LaneSampler<2, M> + 'm>(
        smp: P,
        m: &'m M,
        seed: u64,
    ) -> Run<'m> {
        Box::new(move |first, buf| {
            smp.sample_batch(m, seed, first, buf);
        })
    }
    let run: Run<'_> = match kind {
        SamplerKind::Ode => {
            // score_sde's ODE sampler: adaptive Dormand–Prince at rtol = atol = 1e-5.
            let solver = OdeSolver::Adaptive(Dopri5Options::default());
            return write(staged, n, s, say, |first, buf| {
                let mut res = vec![Err(flowscore::Error::NonFiniteState); buf.len()];
                pf_sample_batch(m, &sde, &solver, eps as f64, req.seed, first, buf, &mut res)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                for (i, r) in res.into_iter().enumerate() {
                    r.map_err(|e| anyhow::anyhow!("sample {}: {e}", first as usize + i))?;
                }
                Ok(())
            });
        }
        SamplerKind::EulerMaruyama => lanes(EulerMaruyama::new(sde, steps, eps)?, m, seed),
        SamplerKind::Pc => {
            let (snr, moves) = (crate::jobs::DEFAULT_SNR as f32, crate::jobs::CORRECTOR_STEPS);
            lanes(PredictorCorrector::new(sde, steps, eps, snr, moves)?, m, seed)
        }
        SamplerKind::Sra1 => lanes(StochasticRk::new(sde, SrkMethod::Sra1, steps, eps)?, m, seed),
        SamplerKind::SdeHeun => {
            lanes(StochasticRk::new(sde, SrkMethod::Heun, steps, eps)?, m, seed)
        }
        SamplerKind::EdmHeun => lanes(EdmHeun::new(sde, steps, eps)?, m, seed),
        SamplerKind::DpmPp2m => lanes(DpmSolverPp2m::new(sde, steps, eps)?, m, seed),
        SamplerKind::DpmPp3m => lanes(DpmSolverPp3m::new(sde, steps, eps)?, m, seed),
        SamplerKind::UniPc => lanes(UniPc::new(sde, steps, eps)?, m, seed),
        // Refused with the list of SCORE_SAMPLERS when the request was checked; named here so
        // that a new sampler must be placed on one side or the other.
        SamplerKind::Langevin
        | SamplerKind::Mala
        | SamplerKind::AnnealedLangevin
        | SamplerKind::Adaptive => {
            bail!("--sampler {} does not apply to a score network", kind.name())
        }
    };
    write(staged, n, s, say, |first, buf| {
        run(first, buf);
        Ok(())
    })
}

/// Computes `n` rows in chunks with `fill(first_index, buffer)` (standardised coordinates) and
/// writes them in the data's units.
fn write(
    staged: Staged,
    n: usize,
    s: &Standardize<2>,
    say: super::Say<'_>,
    mut fill: impl FnMut(u64, &mut [[f32; 2]]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut w = TableWriter::new(&staged, n, &["x0".to_string(), "x1".to_string()], false)?;
    let mut buf = vec![[0.0f32; 2]; CHUNK_ROWS.min(n.max(1))];
    let mut done = 0usize;
    while done < n {
        let k = CHUNK_ROWS.min(n - done);
        fill(done as u64, &mut buf[..k])?;
        let mut vals = Vec::with_capacity(2 * k);
        for (i, x) in buf[..k].iter().enumerate() {
            let y = s.to_data(&[x[0] as f64, x[1] as f64]);
            if !y.iter().all(|v| v.is_finite()) {
                return Err(super::non_finite_sample((done + i) as u64));
            }
            vals.extend_from_slice(&y);
        }
        w.rows(&vals)?;
        done += k;
    }
    w.finish()?;
    say(&format!("{n} samples written to {}\n", staged.path().display()))?;
    staged.commit()
}
