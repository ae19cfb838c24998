//! The `loglik` job: one log-density per data row, written as a table of N values — under a
//! Gaussian-mixture target (log p_ε, in closed form or by the probability-flow ODE), or under a
//! model file of `flowscore train` (a flow's exact log p; a score network's log p_ε by the
//! probability-flow ODE of its SDE), always in the data's units.

use std::path::PathBuf;
use std::time::Instant;

use flowscore::dist::StandardNormal;
use flowscore::flow::{Bijector, Flow};
use flowscore::format::Standardize;
use flowscore::likelihood::ExactDivergence;
use flowscore::likelihood::prior::SdePrior;
use flowscore::score::ScoreModel;
use flowscore::sde::Sde;

use crate::data::Table;
use crate::io::{Spec, Staged, TableWriter, check_output};
use crate::jobs::model_file::{ModelFile, UseModel};
use crate::jobs::pf_rows::{PfSettings, pf_rows};
use crate::jobs::{Say, Standardised, mixture, not_for};
use crate::sde_kind::AnySde;

/// ODE tolerances and step budget of `loglik` (passed to the core's Dormand–Prince 5(4)).
#[derive(Clone, Copy, Debug)]
pub struct OdeOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Maximum number of accepted + rejected steps before giving up.
    pub max_steps: u32,
}

/// score_sde's ODE tolerances rtol = atol = 1e-5.
pub const DEFAULT_TOL: f64 = flowscore::ode::dopri5::DEFAULT_TOL;
/// Step budget: far above the few hundred steps the built-in SDEs need at 1e-5.
pub const DEFAULT_MAX_STEPS: u32 = 100_000;

impl Default for OdeOptions {
    fn default() -> Self {
        Self { rtol: DEFAULT_TOL, atol: DEFAULT_TOL, max_steps: DEFAULT_MAX_STEPS }
    }
}

/// How `loglik` computes log p_ε(x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Method {
    /// The closed-form log-density of the perturbed mixture at ε.
    Exact,
    /// Probability-flow ODE with the exact divergence.
    Ode,
    /// Probability-flow ODE with Hutchinson's trace estimator (Rademacher probes).
    OdeHutchinson,
}

impl Method {
    /// The name on the command line (`--method NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Ode => "ode",
            Method::OdeHutchinson => "ode-hutchinson",
        }
    }
}

/// Settings of one likelihood run.
#[derive(Clone, Copy, Debug)]
pub struct LoglikSettings {
    /// The method.
    pub method: Method,
    /// The SDE.
    pub sde: AnySde,
    /// The time ε at which log p_ε is evaluated.
    pub eps: f64,
    /// ODE tolerances.
    pub ode: OdeOptions,
    /// Hutchinson probes per point.
    pub probes: usize,
    /// Seed (Hutchinson probes).
    pub seed: u64,
}

/// One log-likelihood per row and each row's NFE (0 for `exact`).
#[derive(Clone, Debug)]
pub struct LoglikOutput {
    /// log p_ε(x) per row.
    pub log_p: Vec<f64>,
    /// NFE per row.
    pub nfe: Vec<u32>,
}

/// A `loglik` request: the options as given (`None`: not given, take the default).
#[derive(Clone, Debug)]
pub struct LoglikRequest {
    /// The target mixture, SPEC.json (exactly one of `target` and `model`).
    pub target: Option<PathBuf>,
    /// A model file written by `flowscore train`.
    pub model: Option<PathBuf>,
    /// The data, .npy or .csv, N × D.
    pub data: PathBuf,
    /// The method (required with a target; a flow's is `exact`, a score network's `ode` by
    /// default).
    pub method: Option<Method>,
    /// The SDE (targets only; a score network holds its own) [default: vp].
    pub sde: Option<AnySde>,
    /// The time ε at which the log-density is evaluated (not for flows) [default: 1e-5].
    pub eps: Option<f64>,
    /// ODE relative tolerance (ode, ode-hutchinson) [default: 1e-5].
    pub rtol: Option<f64>,
    /// ODE absolute tolerance (ode, ode-hutchinson) [default: 1e-5].
    pub atol: Option<f64>,
    /// Hutchinson probes per point (ode-hutchinson) [default: 1].
    pub probes: Option<u32>,
    /// Random seed (ode-hutchinson probes) [default: 0].
    pub seed: Option<u64>,
    /// Output file, .npy or .csv.
    pub out: PathBuf,
}

/// What the log-densities are of.
#[derive(Debug)]
enum Source {
    /// A closed-form mixture, standardised.
    Target { target: Standardised, settings: LoglikSettings },
    /// A trained model; `pf` is `None` for a flow (exact), the ODE's settings for a score
    /// network.
    Model { model: ModelFile, pf: Option<PfSettings> },
}

/// A validated `loglik` job: the target read and standardised, or the model file loaded; the
/// data read and mapped to the target's standard or the model's coordinates; settings
/// complete; output checked and staged.
#[derive(Debug)]
pub struct LoglikJob {
    source: Source,
    data: Table,
    out: PathBuf,
    staged: Staged,
}

/// The default time ε of the likelihood.
const DEFAULT_EPS: f64 = 1e-5;

impl LoglikJob {
    /// Validates a request before any work: options that do not apply to the method (or to
    /// the model) are errors; the output path is checked and its temporary file created; the
    /// target is read, validated and standardised, or the model file read and loaded; the data
    /// are read, checked against the dimension and mapped to the coordinates of the work.
    pub fn new(req: LoglikRequest) -> anyhow::Result<Self> {
        match (&req.target, &req.model) {
            (Some(_), None) => Self::for_target(req),
            (None, Some(_)) => Self::for_model(req),
            _ => anyhow::bail!("give exactly one of --target and --model"),
        }
    }

    fn for_target(req: LoglikRequest) -> anyhow::Result<Self> {
        let target_path = req.target.clone().unwrap_or_default();
        let method =
            req.method.ok_or_else(|| anyhow::anyhow!("--method is required with --target"))?;
        let pf = method_settings(&req, method)?;
        check_output(&req.out)?;
        let staged = Staged::new(&req.out, &[&target_path, &req.data])?;
        let spec = Spec::read(&target_path)?;
        let target = Standardised::new(&spec)?;
        let mut data = crate::data::read(&req.data)?;
        anyhow::ensure!(
            data.cols == spec.dim,
            "data has {} columns but the spec has dimension D = {}",
            data.cols,
            spec.dim
        );
        let mut z = vec![0.0; spec.dim];
        for row in data.data.chunks_mut(spec.dim) {
            target.to_standard(row, &mut z);
            row.copy_from_slice(&z);
        }
        let settings = LoglikSettings {
            method,
            sde: req.sde.unwrap_or(AnySde::Vp(flowscore::sde::Vp::default())),
            eps: pf.eps,
            ode: pf.ode,
            probes: pf.probes,
            seed: pf.seed,
        };
        Ok(Self { source: Source::Target { target, settings }, data, out: req.out, staged })
    }

    fn for_model(req: LoglikRequest) -> anyhow::Result<Self> {
        let model_path = req.model.clone().unwrap_or_default();
        anyhow::ensure!(
            req.sde.is_none(),
            "--sde does not apply to a model file (it holds its SDE)"
        );
        check_output(&req.out)?;
        let staged = Staged::new(&req.out, &[&model_path, &req.data])?;
        let model = ModelFile::read(&model_path)?;
        let pf = if model.is_flow() {
            let flow = "a flow (its log-density is exact)";
            anyhow::ensure!(
                matches!(req.method, None | Some(Method::Exact)),
                "--method {} does not apply to {flow}",
                req.method.map_or("", Method::name)
            );
            not_for(req.eps.is_some(), "--eps", flow)?;
            not_for(req.rtol.is_some(), "--rtol", flow)?;
            not_for(req.atol.is_some(), "--atol", flow)?;
            not_for(req.probes.is_some(), "--probes", flow)?;
            not_for(req.seed.is_some(), "--seed", flow)?;
            None
        } else {
            let method = req.method.unwrap_or(Method::Ode);
            anyhow::ensure!(
                method != Method::Exact,
                "--method exact needs a closed-form density (--target); a score network's \
                 log-likelihood is by the probability-flow ODE: --method ode or ode-hutchinson"
            );
            Some(method_settings(&req, method)?)
        };
        let data = crate::data::read(&req.data)?;
        anyhow::ensure!(
            data.cols == 2,
            "data has {} columns but the model {} is of dimension D = 2",
            data.cols,
            model.kind()
        );
        Ok(Self { source: Source::Model { model, pf }, data, out: req.out, staged })
    }

    /// The settings of a `--target` job, defaults filled in (`None` for a model file).
    pub fn settings(&self) -> Option<&LoglikSettings> {
        match &self.source {
            Source::Target { settings, .. } => Some(settings),
            Source::Model { .. } => None,
        }
    }

    /// Computes the log-densities in the data's coordinates, writes them, says the mean (and
    /// the NFE statistics of the ODE methods) and moves the file into place.
    pub fn run(self, say: Say<'_>) -> anyhow::Result<()> {
        let Self { source, data, out, staged } = self;
        let start = Instant::now();
        let (res, ode, what) = match &source {
            Source::Target { target: st, settings: job } => {
                let mut res = mixture::loglik(&st.spec, &data, job)?;
                for (i, l) in res.log_p.iter_mut().enumerate() {
                    *l -= st.log_det;
                    anyhow::ensure!(l.is_finite(), "row {i}: the log-density is not finite in f64");
                }
                (res, job.method != Method::Exact, String::new())
            }
            Source::Model { model, pf } => {
                let res = model.with(ModelLoglik { data: &data, pf: pf.as_ref() })?;
                (res, pf.is_some(), format!(" of {} ({})", model.path(), model.kind()))
            }
        };
        drop(data);
        let n = res.log_p.len();
        let mut w = TableWriter::new(&staged, n, &["log_p".to_string()], true)?;
        w.rows(&res.log_p)?;
        w.finish()?;
        let mean = res.log_p.iter().sum::<f64>() / n as f64;
        let mut text = format!(
            "wrote {n} log-likelihoods{what} to {} in {:.2} s; mean log p = {mean:.6}\n",
            out.display(),
            start.elapsed().as_secs_f64()
        );
        if ode {
            let min = res.nfe.iter().copied().min().unwrap_or(0);
            let max = res.nfe.iter().copied().max().unwrap_or(0);
            let avg = res.nfe.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            text.push_str(&format!("NFE: mean {avg:.1}, min {min}, max {max}\n"));
        }
        say(&text)?;
        staged.commit()
    }
}

/// The request's settings for `method`, defaults filled in: the tolerances are errors for
/// `exact`, the probes and their seed for all but `ode-hutchinson`.
fn method_settings(req: &LoglikRequest, method: Method) -> anyhow::Result<PfSettings> {
    let what = format!("--method {}", method.name());
    let ode = method != Method::Exact;
    let hutch = method == Method::OdeHutchinson;
    not_for(req.rtol.is_some() && !ode, "--rtol", &what)?;
    not_for(req.atol.is_some() && !ode, "--atol", &what)?;
    not_for(req.probes.is_some() && !hutch, "--probes", &what)?;
    not_for(req.seed.is_some() && !hutch, "--seed", &what)?;
    Ok(PfSettings {
        method,
        eps: req.eps.unwrap_or(DEFAULT_EPS),
        ode: OdeOptions {
            rtol: req.rtol.unwrap_or(DEFAULT_TOL),
            atol: req.atol.unwrap_or(DEFAULT_TOL),
            max_steps: DEFAULT_MAX_STEPS,
        },
        probes: req.probes.unwrap_or(1) as usize,
        seed: req.seed.unwrap_or(0),
    })
}

/// `loglik --model`: log p of every row (in the data's units) under the model.
struct ModelLoglik<'a> {
    data: &'a Table,
    pf: Option<&'a PfSettings>,
}

impl UseModel for ModelLoglik<'_> {
    type Out = anyhow::Result<LoglikOutput>;
    fn flow<B: Bijector<2> + Sync>(self, flow: &B, file: &ModelFile) -> Self::Out {
        let log_p = flow_log_p(flow, file.standardize(), self.data)?;
        let nfe = vec![0; log_p.len()];
        Ok(LoglikOutput { log_p, nfe })
    }
    fn score<M: ScoreModel<2> + Sync, S: Sde + Copy + Sync>(
        self,
        model: &M,
        sde: S,
        _sampling_eps: f32,
        file: &ModelFile,
    ) -> Self::Out {
        let pf = self.pf.copied().unwrap_or(PfSettings::EVAL);
        score_log_p(model, &sde, file.standardize(), self.data, &pf)
    }
}

/// log p(x) of every row of `data` (data units, two columns) under a flow: the exact density
/// of the standardised point (its inverse pass, in `f64`) plus the standardisation's
/// log-determinant. Errors: a row whose inverse fails or whose log-density is not finite.
pub(crate) fn flow_log_p<B: Bijector<2> + Sync>(
    b: &B,
    s: &Standardize<2>,
    data: &Table,
) -> anyhow::Result<Vec<f64>> {
    // The flow borrows its layers (a reference to a bijector is one): no copy of them.
    let flow = Flow::new(StandardNormal, b);
    let mut log_p = Vec::new();
    log_p.try_reserve_exact(data.rows).map_err(|_| anyhow::anyhow!("not enough memory"))?;
    crate::par::map_chunks(
        data.rows as u64,
        |i| {
            let row = data.row(i as usize);
            let z = s.to_model(&[row[0], row[1]]);
            let lp = flow.log_prob::<f64, 2>(z).map_err(|e| anyhow::anyhow!("row {i}: {e}"))?;
            let l = lp + s.log_det_to_model();
            anyhow::ensure!(l.is_finite(), "row {i}: the log-density is not finite in f64");
            Ok(l)
        },
        |rows| {
            for r in rows {
                log_p.push(r?);
            }
            Ok(())
        },
    )?;
    Ok(log_p)
}

/// log p_ε(x) of every row of `data` (data units, two columns) under a score network by the
/// probability-flow ODE of its SDE, with the SDE's p_T as the prior, plus the
/// standardisation's log-determinant; the NFE per row.
pub(crate) fn score_log_p<M: ScoreModel<2> + Sync, S: Sde + Sync>(
    model: &M,
    sde: &S,
    s: &Standardize<2>,
    data: &Table,
    pf: &PfSettings,
) -> anyhow::Result<LoglikOutput> {
    let mut z = Table { rows: data.rows, cols: 2, data: Vec::new() };
    z.data.try_reserve_exact(2 * data.rows).map_err(|_| anyhow::anyhow!("not enough memory"))?;
    for i in 0..data.rows {
        let row = data.row(i);
        z.data.extend_from_slice(&s.to_model(&[row[0], row[1]]));
    }
    let mut out = LoglikOutput { log_p: Vec::new(), nfe: Vec::new() };
    // The networks' duals are not inlined for the dispatched lanes: the baseline's.
    let exact = (&ExactDivergence, super::pf_rows::Baseline);
    pf_rows(model, sde, &SdePrior(sde), exact, &z, pf, &mut out)?;
    for l in &mut out.log_p {
        *l += s.log_det_to_model();
    }
    Ok(out)
}
