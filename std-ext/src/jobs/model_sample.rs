//! `flowscore sample --model MODEL`: samples of a model file written by `flowscore train`, in
//! the data's units. Flows: x = f(z), z ~ N(0, I) (no sampler option applies). Score networks:
//! the reverse SDE by Euler–Maruyama (default), predictor–corrector, or the probability-flow
//! ODE. Sample i always uses the stream (seed, i); rows are computed and written in chunks.

use std::path::PathBuf;

use anyhow::{Context, bail, ensure};
use flowscore::dist::StandardNormal;
use flowscore::flow::Flow;
use flowscore::format::{self, Standardize};
use flowscore::likelihood::sampling::{OdeSolver, pf_sample_batch};
use flowscore::ode::Dopri5Options;
use flowscore::sample::{EulerMaruyama, LaneSampler, PredictorCorrector};
use flowscore::score::ScoreModel;
use flowscore::sde::{DEFAULT_STEPS, SAMPLING_EPS_VE, SAMPLING_EPS_VP, Sde, SubVp, Ve, Vp};

use super::SamplerKind;
use super::train::{MafSmall, MafStack, RealNvp, ScoreNet2, SplineStack};
use crate::io::staged::Staged;
use crate::io::table::{TableWriter, check_output};

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
    /// Steps (euler-maruyama, pc).
    pub steps: Option<u32>,
    /// Seed.
    pub seed: u64,
    /// Output file.
    pub out: PathBuf,
}

/// Validates the request, samples and writes the table.
pub fn run(req: ModelSampleRequest, say: super::Say<'_>) -> anyhow::Result<()> {
    check_output(&req.out)?;
    let bytes = std::fs::read(&req.model)
        .with_context(|| format!("cannot read {}", req.model.display()))?;
    let staged = Staged::new(&req.out, &[req.model.as_path()])?;
    let n = usize::try_from(req.n).context("too many samples")?;
    macro_rules! flow {
        ($t:ty) => {
            if let Ok((m, s)) = format::load::<$t, 2>(&bytes) {
                ensure!(
                    req.sampler.is_none(),
                    "--sampler does not apply to a flow (it samples x = f(z))"
                );
                ensure!(req.steps.is_none(), "--steps does not apply to a flow");
                let flow = Flow::new(StandardNormal, m);
                return write(staged, n, &s, say, |first, buf| {
                    flow.sample_batch(req.seed, first, buf);
                    Ok(())
                });
            }
        };
    }
    flow!(RealNvp);
    flow!(MafStack);
    flow!(MafSmall);
    flow!(SplineStack);
    macro_rules! score {
        ($s:ty, $eps:expr) => {
            if let Ok((m, s)) = format::load::<ScoreNet2<$s>, 2>(&bytes) {
                let sde = m.conditioning.0;
                return sample_score(&m, sde, $eps, &req, n, &s, staged, say);
            }
        };
    }
    score!(Vp, SAMPLING_EPS_VP);
    score!(Ve, SAMPLING_EPS_VE);
    score!(SubVp, SAMPLING_EPS_VP);
    let why = format::load::<RealNvp, 2>(&bytes).err().map_or(String::new(), |e| format!(" ({e})"));
    bail!("{}: not a model `flowscore train` writes{why}", req.model.display())
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
    let steps = req.steps.unwrap_or(DEFAULT_STEPS);
    match req.sampler.unwrap_or(SamplerKind::EulerMaruyama) {
        SamplerKind::EulerMaruyama => {
            let em = EulerMaruyama::new(sde, steps, eps)?;
            write(staged, n, s, say, |first, buf| {
                em.sample_batch(m, req.seed, first, buf);
                Ok(())
            })
        }
        SamplerKind::Pc => {
            let pc = PredictorCorrector::new(sde, steps, eps, crate::jobs::DEFAULT_SNR as f32, 1)?;
            write(staged, n, s, say, |first, buf| {
                pc.sample_batch(m, req.seed, first, buf);
                Ok(())
            })
        }
        SamplerKind::Ode => {
            ensure!(
                req.steps.is_none(),
                "--steps does not apply to the ode sampler (it is adaptive)"
            );
            let solver = OdeSolver::Adaptive(Dopri5Options::with_tol(1e-5, 1e-5));
            write(staged, n, s, say, |first, buf| {
                let mut res = vec![Err(flowscore::Error::NonFiniteState); buf.len()];
                pf_sample_batch(m, &sde, &solver, eps as f64, req.seed, first, buf, &mut res)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                for (i, r) in res.into_iter().enumerate() {
                    r.map_err(|e| anyhow::anyhow!("sample {}: {e}", first as usize + i))?;
                }
                Ok(())
            })
        }
        other => bail!(
            "--sampler {} does not apply to a score network (euler-maruyama, pc, ode)",
            other.name()
        ),
    }
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
        for x in &buf[..k] {
            let y = s.to_data(&[x[0] as f64, x[1] as f64]);
            ensure!(y.iter().all(|v| v.is_finite()), "sample {done}: not finite");
            vals.extend_from_slice(&y);
        }
        w.rows(&vals)?;
        done += k;
    }
    w.finish()?;
    say(&format!("{n} samples written to {}\n", staged.path().display()))?;
    staged.commit()
}
