//! `flowscore demo`: the main job on built-in defaults. It computes the notes' figures for real
//! on the ncsn two-mode mixture (0.8/0.2 at ±(5, 5), identity covariances) and a 10-layer planar
//! flow, prints a summary table and writes it to `DIR/summary.md` with the PNG figures. The
//! samplers and likelihoods in the table run on the core ([`crate::jobs::mixture`]); the exact
//! reference samples, the density and score field, the probability-flow trajectories and the
//! planar layers are the core's too.
//!
//! This file is the orchestration; [`metrics`] holds the mode weights and the energy distance,
//! [`summary`] the Markdown table, `figures` the five PNG figures and `progress` the progress
//! lines (drawn only with the `cli` feature, on a terminal).

mod figures;
pub mod metrics;
mod progress;
pub mod summary;

pub use metrics::{energy_distance, mode_weights};
pub use summary::{LoglikRow, SamplerRow, summary_markdown};

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use flowscore::likelihood::ProbabilityFlow;
use flowscore::likelihood::sampling::{OdeSolver, transport};
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::GaussianMixture;
use flowscore::sde::{LIKELIHOOD_EPS, Sde};
use rayon::prelude::*;

use crate::data::Table;
use crate::io::{Spec, StagedDir};
use crate::jobs::{
    DEFAULT_ADAPTIVE_ATOL, DEFAULT_ADAPTIVE_RTOL, DEFAULT_ANNEALED_STEP, DEFAULT_ANNEALED_STEPS,
    LoglikSettings, Method, OdeOptions, SampleSettings, SamplerKind, Say, mixture,
};
use crate::sde_kind::AnySde;
use progress::{bar, draw};

/// Samples per sampler (and exact reference samples).
pub const SAMPLES: usize = 2000;
/// Data points scored by the probability-flow likelihood (as MATH.md §6's reference figures).
pub const LOGLIK_POINTS: usize = 50;
/// Plain Langevin / MALA: ncsn's toy settings, 1000 steps of ε = 0.1 from uniform on [−8, 8]².
pub const LANGEVIN_STEPS: u32 = 1000;
/// Plain Langevin / MALA step size (ncsn's toy runner).
pub const LANGEVIN_STEP: f64 = 0.1;
/// Reverse-SDE steps N (score_sde's default).
pub const REVERSE_STEPS: u32 = 1000;
/// Predictor–corrector signal-to-noise ratio (score_sde's default).
pub const PC_SNR: f64 = 0.16;
/// Trajectories drawn per SDE in the probability-flow figure.
pub const TRAJECTORIES: usize = 40;
/// Samples pushed through the planar flow per panel.
pub const FLOW_SAMPLES: usize = 3000;
/// Time segments of a drawn probability-flow trajectory: geometric from T down to ε, so the
/// last, fast-moving stretch near the data is resolved as finely as the start.
pub const TRAJECTORY_SEGMENTS: usize = 40;
/// Layers of the demo's planar flow.
pub const PLANAR_LAYERS: usize = 10;

/// The samplers the demo runs at their command-line defaults under each SDE, after
/// Euler–Maruyama, predictor–corrector and the probability-flow ODE, with their table names.
pub const NEW_SAMPLERS: [(&str, SamplerKind); 7] = [
    ("SRA1", SamplerKind::Sra1),
    ("stochastic Heun", SamplerKind::SdeHeun),
    ("adaptive SDE", SamplerKind::Adaptive),
    ("EDM-Heun", SamplerKind::EdmHeun),
    ("DPM-Solver++(2M)", SamplerKind::DpmPp2m),
    ("DPM-Solver++(3M)", SamplerKind::DpmPp3m),
    ("UniPC", SamplerKind::UniPc),
];

/// The demo's target: the spec's two-component mixture in 2-D.
type Mix = GaussianMixture<2, 2>;

/// What the demo computed.
#[derive(Clone, Debug)]
pub struct Report {
    /// The target's weights.
    pub target_weights: Vec<f64>,
    /// Energy distance between two independent exact sample sets (the noise floor).
    pub exact_energy: f64,
    /// Sampler rows.
    pub samplers: Vec<SamplerRow>,
    /// Likelihood rows.
    pub loglik: Vec<LoglikRow>,
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The summary in Markdown.
    pub markdown: String,
}

/// A 2-D point set.
type Points = Vec<[f64; 2]>;
/// A probability-flow path: (t, x) at each segment end.
type Path2 = Vec<(f64, [f64; 2])>;
/// Reverse-SDE samples per SDE: (SDE, Euler–Maruyama, predictor–corrector).
type ReverseSets = Vec<(AnySde, Points, Points)>;
/// Probability-flow paths per SDE with the mean NFE.
type TrajectorySets = Vec<(AnySde, Vec<Path2>, f64)>;

fn sub_seed(seed: u64, tag: u64) -> u64 {
    seed ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// The spec's mixture as the core's `GaussianMixture<2, 2>` (the demo's spec has D = 2, K = 2).
fn demo_mixture(spec: &Spec) -> anyhow::Result<Mix> {
    anyhow::ensure!(
        spec.dim == 2 && spec.weights.len() == 2,
        "internal: the demo's spec must have D = 2 and K = 2"
    );
    let arr2 = |v: &[f64]| -> [f32; 2] { [v[0] as f32, v[1] as f32] };
    GaussianMixture::new(
        [spec.weights[0] as f32, spec.weights[1] as f32],
        [arr2(&spec.means[0]), arr2(&spec.means[1])],
        core::array::from_fn(|k| core::array::from_fn(|r| arr2(&spec.covariances[k][r]))),
    )
    .map_err(|e| anyhow::anyhow!("invalid mixture: {e}"))
}

/// One exact draw x ~ p₀ from the sample's own stream (seed, i).
fn exact_sample(mix: &Mix, seed: u64, i: u64) -> [f64; 2] {
    mix.sample_with_component::<f64, _>(&mut Streams::<f64>::new(seed, i)).0
}

/// Probability-flow trajectory of sample i: x_T = prior std × N(0, I) from the stream
/// (seed, i), transported by the core's Dormand–Prince over [`TRAJECTORY_SEGMENTS`] geometric
/// segments T = t₀ > t₁ > … > ε, recording the state at each segment end.
fn trajectory(mix: Mix, sde: AnySde, seed: u64, i: u64) -> anyhow::Result<Path2> {
    let model = mix.under(sde);
    let field = ProbabilityFlow::new(&model, &sde);
    let solver = OdeSolver::default();
    let t_max = f64::from(sde.t_max());
    let eps = sde.sampling_eps();
    let s = f64::from(sde.prior_std());
    let z: [f64; 2] = Streams::<f64>::new(seed, i).normal_array();
    let mut x = z.map(|v| v * s);
    let mut path = Vec::with_capacity(TRAJECTORY_SEGMENTS + 1);
    path.push((t_max, x));
    let mut t0 = t_max;
    for k in 1..=TRAJECTORY_SEGMENTS {
        let t1 = t_max * (eps / t_max).powf(k as f64 / TRAJECTORY_SEGMENTS as f64);
        let sol = transport(&field, &solver, x, t0, t1)?;
        sol.status.lane(0).map_err(|e| anyhow::anyhow!("trajectory {i}: {e}"))?;
        x = sol.y;
        path.push((t1, x));
        t0 = t1;
    }
    Ok(path)
}

/// The files the demo writes.
pub const FILES: [&str; 6] = [
    "density_score.png",
    "langevin_vs_annealed.png",
    "reverse_sde.png",
    "ode_trajectories.png",
    "planar_flow.png",
    "summary.md",
];

/// Runs the demo, writing into `out` (created with its parents if missing), and says the summary
/// and the files written through `say` before moving them into place. The output paths are
/// checked before any work; every file is written into a temporary directory and moved into
/// place only when all of them are complete, so a failed run leaves `out` as it was.
pub fn run(out_dir: &Path, seed: u64, say: Say<'_>) -> anyhow::Result<Report> {
    let staged = StagedDir::new(out_dir, &FILES)?;
    let out = staged.path("");
    let out = out.as_path();
    let spec = Spec::ncsn_mixture();
    let mix = demo_mixture(&spec)?;
    let mut rows = Vec::new();

    // Exact samples: the reference, and an independent set for the energy-distance noise floor.
    let exact = draw(SAMPLES, "exact samples", |i| Ok(exact_sample(&mix, sub_seed(seed, 1), i)))?;
    let exact2 =
        draw(SAMPLES, "exact samples (2nd set)", |i| Ok(exact_sample(&mix, sub_seed(seed, 2), i)))?;
    let exact_energy = energy_distance(&exact, &exact2);

    let mut record = |name: &str, sde: Option<&'static str>, xs: &[[f64; 2]], nfe: f64, ms: f64| {
        let (weights, mode_error) = mode_weights(&mix, xs);
        rows.push(SamplerRow {
            sampler: name.to_string(),
            sde,
            weights,
            mode_error,
            energy: energy_distance(xs, &exact),
            nfe,
            millis: ms,
        });
    };
    // Score evaluations per sample of a fixed-step sampler.
    let fixed = |s: SamplerKind, steps: u32| s.evaluations(steps).unwrap_or(0) as f64;

    // Langevin family, on the core's samplers.
    let t = Instant::now();
    let langevin = core_draw(
        &spec,
        SamplerKind::Langevin,
        None,
        LANGEVIN_STEPS,
        LANGEVIN_STEP,
        sub_seed(seed, 3),
    )?
    .0;
    record("Langevin", None, &langevin, fixed(SamplerKind::Langevin, LANGEVIN_STEPS), ms(t));
    let t = Instant::now();
    let mala = core_draw(
        &spec,
        SamplerKind::Mala,
        None,
        LANGEVIN_STEPS,
        LANGEVIN_STEP,
        sub_seed(seed, 4),
    )?
    .0;
    record("MALA", None, &mala, fixed(SamplerKind::Mala, LANGEVIN_STEPS), ms(t));
    let t = Instant::now();
    let annealed = core_draw(
        &spec,
        SamplerKind::AnnealedLangevin,
        None,
        DEFAULT_ANNEALED_STEPS,
        DEFAULT_ANNEALED_STEP,
        sub_seed(seed, 5),
    )?
    .0;
    let nfe = fixed(SamplerKind::AnnealedLangevin, DEFAULT_ANNEALED_STEPS);
    record("annealed Langevin", None, &annealed, nfe, ms(t));

    // Reverse SDE (EM and PC) and probability-flow ODE under each SDE, on the core. The
    // figure's mean NFE is the single-solve sampler's (`pf_sample`, T → ε in one solve); the
    // drawn trajectories are the same ODE solved segment by segment to record the path.
    let mut reverse: ReverseSets = Vec::new();
    let mut trajectories: TrajectorySets = Vec::new();
    for (s_i, sde) in AnySde::all().into_iter().enumerate() {
        let tag = 10 + 3 * s_i as u64;
        let t = Instant::now();
        let em = core_draw(
            &spec,
            SamplerKind::EulerMaruyama,
            Some(sde),
            REVERSE_STEPS,
            0.0,
            sub_seed(seed, tag),
        )?
        .0;
        let nfe = fixed(SamplerKind::EulerMaruyama, REVERSE_STEPS);
        record("Euler-Maruyama", Some(sde.label()), &em, nfe, ms(t));
        let t = Instant::now();
        let pc = core_draw(
            &spec,
            SamplerKind::Pc,
            Some(sde),
            REVERSE_STEPS,
            0.0,
            sub_seed(seed, tag + 1),
        )?
        .0;
        let nfe = fixed(SamplerKind::Pc, REVERSE_STEPS);
        record("predictor-corrector", Some(sde.label()), &pc, nfe, ms(t));
        let t = Instant::now();
        let (xs, nfe) =
            core_draw(&spec, SamplerKind::Ode, Some(sde), 1, 0.0, sub_seed(seed, tag + 2))?;
        record("probability-flow ODE", Some(sde.label()), &xs, nfe, ms(t));
        // The stochastic Runge–Kutta, adaptive and few-step samplers at their defaults.
        for (k, (name, sampler)) in NEW_SAMPLERS.into_iter().enumerate() {
            let t = Instant::now();
            let steps = sampler.default_steps();
            let seed_k = sub_seed(seed, 100 + 8 * s_i as u64 + k as u64);
            let (xs, mean) = core_draw(&spec, sampler, Some(sde), steps, 0.0, seed_k)?;
            let nfe = sampler.evaluations(steps).map_or(mean, |n| n as f64);
            record(name, Some(sde.label()), &xs, nfe, ms(t));
        }
        let paths: Vec<Path2> = (0..TRAJECTORIES as u64)
            .into_par_iter()
            .map(|i| trajectory(mix, sde, sub_seed(seed, tag + 2), i))
            .collect::<anyhow::Result<_>>()?;
        reverse.push((sde, em, pc));
        trajectories.push((sde, paths, nfe));
    }

    // Probability-flow likelihood (core) vs the closed form at ε, on points drawn from the data.
    let points = Table {
        rows: LOGLIK_POINTS,
        cols: 2,
        data: exact[..LOGLIK_POINTS].iter().flatten().copied().collect(),
    };
    let mut loglik = Vec::new();
    let eps = LIKELIHOOD_EPS as f64;
    for sde in AnySde::all() {
        let job = |method| LoglikSettings {
            method,
            sde,
            eps,
            ode: OdeOptions::default(),
            probes: 1,
            seed: sub_seed(seed, 40),
        };
        let exact_lp = mixture::loglik(&spec, &points, &job(Method::Exact))?.log_p;
        for (name, method) in [("ode", Method::Ode), ("ode-hutchinson", Method::OdeHutchinson)] {
            let pb = bar(1, &format!("log-likelihood {name} ({})", sde.label()));
            let res = mixture::loglik(&spec, &points, &job(method))?;
            pb.finish_and_clear();
            let errs: Vec<f64> =
                res.log_p.iter().zip(&exact_lp).map(|(a, b)| (a - b).abs()).collect();
            let n = errs.len() as f64;
            loglik.push(LoglikRow {
                sde: sde.label(),
                method: name,
                max_error: errs.iter().copied().fold(0.0, f64::max),
                mean_error: errs.iter().sum::<f64>() / n,
                mean_nfe: res.nfe.iter().map(|&v| v as f64).sum::<f64>() / n,
            });
        }
    }

    // Figures.
    let pb = bar(5, "figures");
    figures::density(out, &mix)?;
    pb.inc(1);
    figures::langevin(out, &exact, &langevin, &annealed, &rows)?;
    pb.inc(1);
    figures::reverse(out, &reverse, &rows)?;
    pb.inc(1);
    figures::trajectories(out, &trajectories)?;
    pb.inc(1);
    figures::planar(out, seed)?;
    pb.finish_and_clear();

    let markdown = summary_markdown(&spec.weights, exact_energy, &rows, &loglik, seed);
    let summary = staged.path("summary.md");
    std::fs::write(&summary, &markdown)
        .with_context(|| format!("cannot write {}", staged.final_path("summary.md").display()))?;
    let files: Vec<PathBuf> = FILES.iter().map(|f| staged.final_path(f)).collect();
    say(&format!(
        "{markdown}\nwrote {}\n",
        files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    ))?;
    let files = staged.commit()?;
    Ok(Report {
        target_weights: spec.weights,
        exact_energy,
        samplers: rows,
        loglik,
        files,
        markdown,
    })
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// `SAMPLES` draws from the core's sampler `sampler` (with a progress line), and the mean
/// per-sample statistic (NFE for the adaptive samplers).
fn core_draw(
    spec: &Spec,
    sampler: SamplerKind,
    sde: Option<AnySde>,
    steps: u32,
    step_size: f64,
    seed: u64,
) -> anyhow::Result<(Points, f64)> {
    let pb = bar(
        1,
        &format!("{sampler:?}{}", sde.map(|s| format!(" ({})", s.label())).unwrap_or_default()),
    );
    let job = SampleSettings {
        sampler,
        sde: sde.unwrap_or(AnySde::all()[1]),
        n: SAMPLES,
        steps,
        step_size: if step_size > 0.0 { step_size } else { 1.0 },
        snr: PC_SNR,
        rtol: DEFAULT_ADAPTIVE_RTOL,
        atol: DEFAULT_ADAPTIVE_ATOL,
        seed,
        precision: sampler.default_precision(),
    };
    let out = mixture::sample(spec, &job)?;
    pb.inc(1);
    pb.finish_and_clear();
    Ok((
        out.table.data.chunks(2).map(|c| [c[0], c.get(1).copied().unwrap_or(0.0)]).collect(),
        out.mean_stat,
    ))
}
