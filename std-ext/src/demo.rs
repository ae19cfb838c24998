//! `flowscore demo`: the main job on built-in defaults. It computes the notes' figures for real
//! on the ncsn two-mode mixture (0.8/0.2 at ±(5, 5), identity covariances) and a 10-layer planar
//! flow, prints a summary table and writes it to `DIR/summary.md` with the PNG figures. The
//! samplers and likelihoods in the table run on the core ([`crate::core_run`]); the exact
//! reference samples, the density and score field, the probability-flow trajectories and the
//! planar layers are the core's too.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use flowscore::flow::Bijector;
use flowscore::flow::planar::Planar;
use flowscore::likelihood::ProbabilityFlow;
use flowscore::likelihood::sampling::{OdeSolver, transport};
use flowscore::rng::{LaneSource, Streams};
use flowscore::score::GaussianMixture;
use flowscore::sde::{LIKELIHOOD_EPS, Sde};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use plotters::prelude::*;
use rayon::prelude::*;

use crate::output::StagedDir;
use crate::plot::{self, FONT, plot_err};
use crate::run::{LoglikJob, Method, OdeOptions, SampleJob, SamplerKind};
use crate::sde_kind::AnySde;
use crate::spec::Spec;
use crate::table::Table;

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

/// The demo's target: the spec's two-component mixture in 2-D.
type Mix = GaussianMixture<2, 2>;

/// One sampler's row of the summary.
#[derive(Clone, Debug)]
pub struct SamplerRow {
    /// Sampler name.
    pub sampler: String,
    /// SDE label, if the sampler uses one.
    pub sde: Option<&'static str>,
    /// Fraction of samples in each mode.
    pub weights: Vec<f64>,
    /// max_k |fraction_k − π_k|.
    pub mode_error: f64,
    /// Energy distance to exact samples.
    pub energy: f64,
    /// Wall time in milliseconds.
    pub millis: f64,
}

/// One likelihood row of the summary.
#[derive(Clone, Debug)]
pub struct LoglikRow {
    /// SDE label.
    pub sde: &'static str,
    /// `ode` or `ode-hutchinson`.
    pub method: &'static str,
    /// max |log p_ode − log p_exact| over the points.
    pub max_error: f64,
    /// mean |log p_ode − log p_exact|.
    pub mean_error: f64,
    /// Mean NFE per point.
    pub mean_nfe: f64,
}

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

fn bar(len: usize, msg: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:34} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_string());
    pb
}

/// Energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖ between the two empirical distributions
/// (V-statistic, so it is ≥ 0 and 0 only for equal sets); per-row sums in a fixed order, so
/// the value does not depend on the thread count.
pub fn energy_distance<const D: usize>(a: &[[f64; D]], b: &[[f64; D]]) -> f64 {
    let dist = |p: &[f64; D], q: &[f64; D]| -> f64 {
        (0..D).map(|i| (p[i] - q[i]).powi(2)).sum::<f64>().sqrt()
    };
    let mean_cross = |x: &[[f64; D]], y: &[[f64; D]]| -> f64 {
        let rows: Vec<f64> =
            x.par_iter().map(|p| y.iter().map(|q| dist(p, q)).sum::<f64>()).collect();
        rows.iter().sum::<f64>() / (x.len() * y.len()).max(1) as f64
    };
    2.0 * mean_cross(a, b) - mean_cross(a, a) - mean_cross(b, b)
}

/// Fraction of samples per mode and the largest deviation from the weights.
/// A sample's mode is the component with the largest responsibility γₖ(x) at t = 0.
pub fn mode_weights<const D: usize, const K: usize>(
    mix: &GaussianMixture<D, K>,
    xs: &[[f64; D]],
) -> (Vec<f64>, f64) {
    let mut counts = [0usize; K];
    for x in xs {
        let g = mix.responsibilities(x, 1.0, 0.0);
        let mut best = 0;
        for (k, gk) in g.iter().enumerate() {
            if *gk > g[best] {
                best = k;
            }
        }
        counts[best] += 1;
    }
    let fr: Vec<f64> = counts.iter().map(|&c| c as f64 / xs.len().max(1) as f64).collect();
    let err =
        fr.iter().zip(mix.weights()).map(|(f, w)| (f - f64::from(*w)).abs()).fold(0.0, f64::max);
    (fr, err)
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

/// Runs the demo, writing into `out` (created with its parents if missing). The output paths are
/// checked before any work; every file is written into a temporary directory and moved into
/// place only when all of them are complete, so a failed run leaves `out` as it was.
pub fn run(out_dir: &Path, seed: u64) -> anyhow::Result<Report> {
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

    let mut record = |name: &str, sde: Option<&'static str>, xs: &[[f64; 2]], ms: f64| {
        let (weights, mode_error) = mode_weights(&mix, xs);
        rows.push(SamplerRow {
            sampler: name.to_string(),
            sde,
            weights,
            mode_error,
            energy: energy_distance(xs, &exact),
            millis: ms,
        });
    };

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
    record("Langevin", None, &langevin, ms(t));
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
    record("MALA", None, &mala, ms(t));
    let t = Instant::now();
    let annealed = core_draw(
        &spec,
        SamplerKind::AnnealedLangevin,
        None,
        crate::cli::DEFAULT_ANNEALED_STEPS,
        crate::cli::DEFAULT_ANNEALED_STEP,
        sub_seed(seed, 5),
    )?
    .0;
    record("annealed Langevin", None, &annealed, ms(t));

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
        record("Euler-Maruyama", Some(sde.label()), &em, ms(t));
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
        record("predictor-corrector", Some(sde.label()), &pc, ms(t));
        let t = Instant::now();
        let (xs, nfe) =
            core_draw(&spec, SamplerKind::Ode, Some(sde), 1, 0.0, sub_seed(seed, tag + 2))?;
        record("probability-flow ODE", Some(sde.label()), &xs, ms(t));
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
        let job = |method| LoglikJob {
            method,
            sde,
            eps,
            ode: OdeOptions::default(),
            probes: 1,
            seed: sub_seed(seed, 40),
        };
        let exact_lp = crate::core_run::loglik(&spec, &points, &job(Method::Exact))?.log_p;
        for (name, method) in [("ode", Method::Ode), ("ode-hutchinson", Method::OdeHutchinson)] {
            let pb = bar(1, &format!("log-likelihood {name} ({})", sde.label()));
            let res = crate::core_run::loglik(&spec, &points, &job(method))?;
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
    density_figure(out, &mix)?;
    pb.inc(1);
    langevin_figure(out, &exact, &langevin, &annealed, &rows)?;
    pb.inc(1);
    reverse_figure(out, &reverse, &rows)?;
    pb.inc(1);
    trajectory_figure(out, &trajectories)?;
    pb.inc(1);
    planar_figure(out, seed)?;
    pb.finish_and_clear();

    let markdown = summary_markdown(&spec.weights, exact_energy, &rows, &loglik, seed);
    let summary = staged.path("summary.md");
    std::fs::write(&summary, &markdown)
        .with_context(|| format!("cannot write {}", staged.final_path("summary.md").display()))?;
    let files: Vec<PathBuf> = FILES.iter().map(|f| staged.final_path(f)).collect();
    crate::cli::say(&format!(
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
/// per-sample statistic (NFE for the ODE sampler).
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
    let job = SampleJob {
        sampler,
        sde: sde.unwrap_or(AnySde::all()[1]),
        n: SAMPLES,
        steps,
        step_size: if step_size > 0.0 { step_size } else { 1.0 },
        snr: PC_SNR,
        seed,
    };
    let out = crate::core_run::sample(spec, &job)?;
    pb.inc(1);
    pb.finish_and_clear();
    Ok((
        out.table.data.chunks(2).map(|c| [c[0], c.get(1).copied().unwrap_or(0.0)]).collect(),
        out.mean_stat,
    ))
}

/// Draws `n` samples in parallel (sample i from `f(i)`), with a progress bar.
fn draw<T: Send>(
    n: usize,
    msg: &str,
    f: impl Fn(u64) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let pb = bar(n, msg);
    let out: Vec<anyhow::Result<T>> = (0..n as u64)
        .into_par_iter()
        .map(|i| {
            let r = f(i);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    out.into_iter().collect()
}

fn summary_markdown(
    weights: &[f64],
    exact_energy: f64,
    rows: &[SamplerRow],
    loglik: &[LoglikRow],
    seed: u64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# flowscore demo summary\n");
    let _ = writeln!(
        s,
        "Target: the ncsn mixture {:.1}·N((5, 5), I) + {:.1}·N((−5, −5), I); {SAMPLES} samples per \
         sampler; seed {seed}.\n",
        weights[0], weights[1]
    );
    let _ = writeln!(
        s,
        "Mode-weight error = max over modes of |fraction of samples in the mode − weight|. Energy \
         distance to {SAMPLES} exact samples; two independent exact sets give {exact_energy:.4} \
         (the noise floor).\n"
    );
    let _ = writeln!(
        s,
        "| sampler | SDE | weight of mode (5, 5) | mode-weight error | energy distance | time (ms) |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {:.3} | {:.4} | {:.0} |",
            r.sampler,
            r.sde.unwrap_or("—"),
            r.weights.first().copied().unwrap_or(0.0),
            r.mode_error,
            r.energy,
            r.millis
        );
    }
    let _ = writeln!(
        s,
        "\nProbability-flow log-likelihood log p_ε(x), ε = 1e-5, vs the closed form at the same ε, \
         on {LOGLIK_POINTS} points drawn from the data (Dormand–Prince 5(4), rtol = atol = 1e-5; \
         Hutchinson: one Rademacher probe).\n"
    );
    let _ = writeln!(s, "| SDE | method | max error (nats) | mean error (nats) | mean NFE |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|");
    for r in loglik {
        let _ = writeln!(
            s,
            "| {} | {} | {:.2e} | {:.2e} | {:.1} |",
            r.sde, r.method, r.max_error, r.mean_error, r.mean_nfe
        );
    }
    s
}

const RANGE: (f64, f64) = (-9.0, 9.0);

fn density_figure(out: &Path, mix: &Mix) -> anyhow::Result<PathBuf> {
    let path = out.join("density_score.png");
    plot::figure(&path, (820, 860), "Gaussian mixture: log-density and score field", |area| {
        let mut chart = plot::panel(
            area,
            "0.8 N((5,5), I) + 0.2 N((-5,-5), I); arrows: s(x) = grad log p(x)",
            RANGE,
            RANGE,
        )?;
        let cells = 120;
        let h = (RANGE.1 - RANGE.0) / cells as f64;
        let mut grid = Vec::with_capacity(cells * cells);
        let mut top = f64::NEG_INFINITY;
        for i in 0..cells {
            for j in 0..cells {
                let x = [RANGE.0 + (i as f64 + 0.5) * h, RANGE.0 + (j as f64 + 0.5) * h];
                let l = mix.perturbed_log_density(&x, 1.0, 0.0);
                top = top.max(l);
                grid.push((x, l));
            }
        }
        // Filled contours: 12 bands of log p, one nat each below the maximum.
        let bands = 12.0;
        chart
            .draw_series(grid.iter().map(|(x, l)| {
                let v = ((l - top + bands) / bands).max(0.0);
                let v = (v * bands).floor() / bands;
                Rectangle::new(
                    [(x[0] - h / 2.0, x[1] - h / 2.0), (x[0] + h / 2.0, x[1] + h / 2.0)],
                    plot::colormap(v).filled(),
                )
            }))
            .map_err(plot_err)?
            .label("log p(x), bands of 1 nat (top 12)")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], plot::colormap(0.8).filled())
            });
        let arrows = 19;
        let ha = (RANGE.1 - RANGE.0) / arrows as f64;
        let mut segs = Vec::new();
        for i in 0..arrows {
            for j in 0..arrows {
                let x = [RANGE.0 + (i as f64 + 0.5) * ha, RANGE.0 + (j as f64 + 0.5) * ha];
                let s = mix.perturbed_score(&x, 1.0, 0.0);
                let n = (s[0] * s[0] + s[1] * s[1]).sqrt();
                if n > 0.0 {
                    // Direction of the score; length grows with |s| up to 0.8 cell.
                    let len = 0.8 * ha * (n / (n + 2.0));
                    let d = [s[0] / n * len, s[1] / n * len];
                    let tip = (x[0] + d[0], x[1] + d[1]);
                    let back = [-d[0] * 0.35, -d[1] * 0.35];
                    let (c, sn) = (0.94f64, 0.34f64);
                    let w1 =
                        (tip.0 + c * back[0] - sn * back[1], tip.1 + sn * back[0] + c * back[1]);
                    let w2 =
                        (tip.0 + c * back[0] + sn * back[1], tip.1 - sn * back[0] + c * back[1]);
                    segs.push(vec![(x[0], x[1]), tip]);
                    segs.push(vec![w1, tip, w2]);
                }
            }
        }
        chart
            .draw_series(segs.into_iter().map(|p| PathElement::new(p, WHITE.stroke_width(2))))
            .map_err(plot_err)?
            .label("score s(x)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(2)));
        plot::legend(&mut chart)
    })?;
    Ok(path)
}

fn row_of<'a>(rows: &'a [SamplerRow], name: &str, sde: Option<&str>) -> Option<&'a SamplerRow> {
    rows.iter().find(|r| r.sampler == name && r.sde == sde)
}

fn weights_text(r: Option<&SamplerRow>) -> String {
    r.map(|r| {
        format!("weights {:.2}/{:.2}", r.weights[0], r.weights.get(1).copied().unwrap_or(0.0))
    })
    .unwrap_or_default()
}

fn langevin_figure(
    out: &Path,
    exact: &[[f64; 2]],
    langevin: &[[f64; 2]],
    annealed: &[[f64; 2]],
    rows: &[SamplerRow],
) -> anyhow::Result<PathBuf> {
    let path = out.join("langevin_vs_annealed.png");
    plot::figure(
        &path,
        (1500, 560),
        "Plain vs annealed Langevin (target weights 0.80/0.20)",
        |area| {
            let panels = area.split_evenly((1, 3));
            let sets: [(&str, &[[f64; 2]], RGBColor, String); 3] = [
                ("exact samples", exact, RGBColor(40, 40, 40), "weights 0.80/0.20".into()),
                (
                    "plain Langevin",
                    langevin,
                    RGBColor(214, 39, 40),
                    weights_text(row_of(rows, "Langevin", None)),
                ),
                (
                    "annealed Langevin",
                    annealed,
                    RGBColor(31, 119, 180),
                    weights_text(row_of(rows, "annealed Langevin", None)),
                ),
            ];
            for (p, (name, xs, color, wt)) in panels.iter().zip(sets) {
                let mut chart = plot::panel(p, &format!("{name}: {wt}"), RANGE, RANGE)?;
                plot::scatter(&mut chart, xs, color, name)?;
                plot::legend(&mut chart)?;
            }
            Ok(())
        },
    )?;
    Ok(path)
}

fn reverse_figure(
    out: &Path,
    reverse: &ReverseSets,
    rows: &[SamplerRow],
) -> anyhow::Result<PathBuf> {
    let path = out.join("reverse_sde.png");
    plot::figure(
        &path,
        (1500, 1020),
        "Reverse-SDE samples: Euler-Maruyama (top) and predictor-corrector (bottom)",
        |area| {
            let panels = area.split_evenly((2, 3));
            for (c, (sde, em, pc)) in reverse.iter().enumerate() {
                for (r, (name, xs, color)) in [
                    ("Euler-Maruyama", em, RGBColor(31, 119, 180)),
                    ("predictor-corrector", pc, RGBColor(44, 160, 44)),
                ]
                .into_iter()
                .enumerate()
                {
                    let row = row_of(rows, name, Some(sde.label()));
                    let cap = format!(
                        "{} {name}: {}, energy dist. {:.3}",
                        sde.label(),
                        weights_text(row),
                        row.map_or(f64::NAN, |r| r.energy)
                    );
                    let mut chart = plot::panel(&panels[r * 3 + c], &cap, RANGE, RANGE)?;
                    plot::scatter(
                        &mut chart,
                        xs,
                        color,
                        &format!("{name} ({}), N = {}", sde.label(), xs.len()),
                    )?;
                    plot::legend(&mut chart)?;
                }
            }
            Ok(())
        },
    )?;
    Ok(path)
}

fn trajectory_figure(out: &Path, trajectories: &TrajectorySets) -> anyhow::Result<PathBuf> {
    let path = out.join("ode_trajectories.png");
    plot::figure(
        &path,
        (1500, 560),
        "Probability-flow ODE trajectories from noise (t = 1) to data (t = eps)",
        |area| {
            let panels = area.split_evenly((1, 3));
            for (p, (sde, paths, nfe)) in panels.iter().zip(trajectories) {
                let r = if matches!(sde, AnySde::Ve(_)) { 100.0 } else { 9.0 };
                let inside = |x: &[f64; 2]| x[0].abs() <= r && x[1].abs() <= r;
                let mut chart = plot::panel(
                    p,
                    &format!("{} (mean NFE {nfe:.0})", sde.label()),
                    (-r, r),
                    (-r, r),
                )?;
                chart
                    .draw_series(paths.iter().map(|path| {
                        PathElement::new(
                            path.iter().map(|(_, x)| (x[0], x[1])).collect::<Vec<_>>(),
                            RGBColor(120, 120, 120).mix(0.7),
                        )
                    }))
                    .map_err(plot_err)?
                    .label("trajectory")
                    .legend(|(x, y)| {
                        PathElement::new(vec![(x, y), (x + 14, y)], RGBColor(120, 120, 120))
                    });
                let starts: Vec<[f64; 2]> = paths
                    .iter()
                    .filter_map(|p| p.first().map(|s| s.1))
                    .filter(|x| inside(x))
                    .collect();
                let ends: Vec<[f64; 2]> =
                    paths.iter().filter_map(|p| p.last().map(|s| s.1)).collect();
                chart
                    .draw_series(
                        starts
                            .iter()
                            .map(|x| Circle::new((x[0], x[1]), 3, RGBColor(214, 39, 40).filled())),
                    )
                    .map_err(plot_err)?
                    .label("start: prior draw at t = 1")
                    .legend(|(x, y)| Circle::new((x, y), 4, RGBColor(214, 39, 40).filled()));
                chart
                    .draw_series(
                        ends.iter()
                            .map(|x| Circle::new((x[0], x[1]), 3, RGBColor(31, 119, 180).filled())),
                    )
                    .map_err(plot_err)?
                    .label("end: sample at t = eps")
                    .legend(|(x, y)| Circle::new((x, y), 4, RGBColor(31, 119, 180).filled()));
                plot::legend(&mut chart)?;
            }
            Ok(())
        },
    )?;
    Ok(path)
}

/// The demo's planar flow in 2-D (Rezende & Mohamed 2015, MATH.md §1): hyperplanes at ten
/// angles, pushing N(0, I) into a multi-lobed density.
fn planar_flow() -> anyhow::Result<Vec<Planar<2>>> {
    (0..PLANAR_LAYERS)
        .map(|i| {
            let ang = i as f64 * 0.7 * core::f64::consts::PI;
            let (s, c) = ang.sin_cos();
            let w = [(3.0 * c) as f32, (3.0 * s) as f32];
            let u = [(2.0 * c - 0.6 * s) as f32, (2.0 * s + 0.6 * c) as f32];
            let b = if i % 2 == 0 { 0.5 } else { -0.5 };
            Planar::new(u, w, b).map_err(|e| anyhow::anyhow!("planar layer {i}: {e}"))
        })
        .collect()
}

fn planar_figure(out: &Path, seed: u64) -> anyhow::Result<PathBuf> {
    let flow = planar_flow()?;
    // Push N(0, I) samples through the layers, keeping every layer's points and log-density.
    let mut layers: Vec<Vec<([f64; 2], f64)>> = Vec::with_capacity(flow.len() + 1);
    let base: Vec<([f64; 2], f64)> = (0..FLOW_SAMPLES as u64)
        .map(|i| {
            let mut rng = Streams::<f64>::new(sub_seed(seed, 50), i);
            let z: [f64; 2] = flowscore::rng::LaneSource::normal_array(&mut rng);
            let lp = -(z[0] * z[0] + z[1] * z[1]) / 2.0 - core::f64::consts::TAU.ln();
            (z, lp)
        })
        .collect();
    layers.push(base);
    for layer in &flow {
        let prev = layers.last().cloned().unwrap_or_default();
        layers.push(
            prev.iter()
                .map(|(z, lp)| {
                    let (x, ld) = layer.forward(*z);
                    (x, lp - ld)
                })
                .collect(),
        );
    }
    let r = layers
        .iter()
        .flatten()
        .map(|(x, _)| x[0].abs().max(x[1].abs()))
        .fold(3.0f64, |a, b| if b.is_finite() { a.max(b) } else { a })
        .min(12.0);
    let path = out.join("planar_flow.png");
    plot::figure(
        &path,
        (1600, 1260),
        "10 planar transformations of N(0, I), layer by layer (colour: log-density)",
        |area| {
            let panels = area.split_evenly((3, 4));
            let all: Vec<f64> = layers.iter().flatten().map(|(_, l)| *l).collect();
            let lo = all
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(f64::INFINITY, f64::min)
                .max(-12.0);
            let hi =
                all.iter().copied().filter(|v| v.is_finite()).fold(f64::NEG_INFINITY, f64::max);
            for (k, pts) in layers.iter().enumerate() {
                let Some(p) = panels.get(k) else { break };
                let cap = if k == 0 {
                    "K = 0: base N(0, I)".to_string()
                } else {
                    format!("after K = {k} layer{}", if k == 1 { "" } else { "s" })
                };
                let mut chart = plot::panel(p, &cap, (-r, r), (-r, r))?;
                chart
                    .draw_series(pts.iter().map(|(x, l)| {
                        Circle::new(
                            (x[0], x[1]),
                            2,
                            plot::colormap((l - lo) / (hi - lo).max(1e-9)).filled(),
                        )
                    }))
                    .map_err(plot_err)?
                    .label("z_K (colour: log p)")
                    .legend(|(x, y)| Circle::new((x, y), 4, plot::colormap(0.7).filled()));
                plot::legend(&mut chart)?;
            }
            if let Some(p) = panels.get(layers.len()) {
                // Colour key for log p.
                let mut chart = ChartBuilder::on(p)
                    .caption("colour key: log p", (FONT, 18))
                    .margin(30)
                    .y_label_area_size(50)
                    .build_cartesian_2d(0.0..1.0, lo..hi)
                    .map_err(plot_err)?;
                chart
                    .configure_mesh()
                    .disable_mesh()
                    .disable_x_axis()
                    .y_desc("log p")
                    .label_style((FONT, 13))
                    .draw()
                    .map_err(plot_err)?;
                let steps = 64;
                chart
                    .draw_series((0..steps).map(|i| {
                        let a = lo + (hi - lo) * i as f64 / steps as f64;
                        let b = lo + (hi - lo) * (i + 1) as f64 / steps as f64;
                        Rectangle::new(
                            [(0.3, a), (0.7, b)],
                            plot::colormap((i as f64 + 0.5) / steps as f64).filled(),
                        )
                    }))
                    .map_err(plot_err)?;
            }
            Ok(())
        },
    )?;
    Ok(path)
}
