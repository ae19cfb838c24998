//! Sample quality per score evaluation: sliced energy distance to exact samples (and the largest
//! mode-weight error) against the number of score evaluations per sample, for every reverse-SDE
//! and probability-flow sampler, on an 8-component 2-D and a 5-component 8-D random anisotropic
//! mixture under VP (exact mixture score). Prints markdown tables.
//!
//! `cargo run --release --example sampler_quality [-- --dump DIR]`; with `--dump` it also writes
//! the mixtures and their exact reference samples to `DIR/mixtures.json` for
//! `benches/peers/kdiffusion_samplers.py`.

#[path = "../tests/common/mod.rs"]
mod common;

use common::{exact_n, random_mixture, sliced_energy, weight_error};
use flowscore::Error;
use flowscore::likelihood::{OdeSolver, pf_sample_batch};
use flowscore::ode::Dopri5Options;
use flowscore::sample::{
    AdaptiveOptions, AdaptiveSde, DpmSolverPp2m, EdmHeun, EulerMaruyama, LaneSampler,
    PredictorCorrector, SrkMethod, StochasticRk,
};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::{SAMPLING_EPS_VP, Vp};
use wide::f32x8;

/// Samples per measurement.
const SAMPLES: usize = 10_000;
/// Evaluation budgets per sample.
const BUDGETS: [u32; 6] = [10, 20, 50, 100, 250, 1000];

fn cell<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    xs: &[[f32; D]],
    reference: &[[f32; D]],
) -> String {
    if xs.iter().any(|x| x.iter().any(|v| !v.is_finite())) {
        return "non-finite".into();
    }
    format!("{:.2e} ({:.3})", sliced_energy(xs, reference), weight_error(m, xs))
}

fn table<const D: usize, const K: usize>(name: &str, m: GaussianMixture<D, K>) {
    let sde = Vp::default();
    let model: MixtureScore<D, K, Vp> = m.under(sde);
    let eps = SAMPLING_EPS_VP;
    let reference = exact_n(&m, 9_999, SAMPLES);
    let floor = sliced_energy(&exact_n(&m, 1_234, SAMPLES), &reference);
    println!("\n### {name} (VP, ε = 1e-3, {SAMPLES} samples)\n");
    println!("Exact vs exact (the noise floor): {floor:.2e}\n");
    print!("| sampler |");
    for b in BUDGETS {
        print!(" {b} NFE |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(BUDGETS.len()));
    let run = |f: &dyn Fn(u32) -> Option<Vec<[f32; D]>>| -> String {
        BUDGETS
            .iter()
            .map(|&b| match f(b) {
                Some(xs) => cell(&m, &xs, &reference),
                None => "–".into(),
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    let batch = |s: &dyn Fn(&mut [[f32; D]])| {
        let mut xs = vec![[0.0f32; D]; SAMPLES];
        s(&mut xs);
        xs
    };
    println!(
        "| EM | {} |",
        run(&|b| Some(batch(&|xs| {
            EulerMaruyama::new(sde, b, eps).unwrap().sample_batch(&model, 11, 0, xs);
        })))
    );
    println!(
        "| PC (1 corrector) | {} |",
        run(&|b| (b >= 2).then(|| batch(&|xs| {
            PredictorCorrector::new(sde, b / 2, eps, 0.16, 1)
                .unwrap()
                .sample_batch(&model, 11, 0, xs);
        })))
    );
    println!(
        "| SRA1 | {} |",
        run(&|b| Some(batch(&|xs| {
            StochasticRk::new(sde, SrkMethod::Sra1, b / 2, eps)
                .unwrap()
                .sample_batch(&model, 11, 0, xs);
        })))
    );
    println!(
        "| stochastic Heun | {} |",
        run(&|b| Some(batch(&|xs| {
            StochasticRk::new(sde, SrkMethod::Heun, b / 2, eps)
                .unwrap()
                .sample_batch(&model, 11, 0, xs);
        })))
    );
    println!(
        "| EDM-Heun | {} |",
        run(&|b| Some(batch(&|xs| {
            EdmHeun::new(sde, b / 2, eps).unwrap().sample_batch(&model, 11, 0, xs);
        })))
    );
    println!(
        "| DPM-Solver++(2M) | {} |",
        run(&|b| Some(batch(&|xs| {
            DpmSolverPp2m::new(sde, b, eps).unwrap().sample_batch(&model, 11, 0, xs);
        })))
    );

    // Adaptive samplers: a tolerance sweep, with the mean NFE each reached.
    println!("\n| adaptive sampler | tolerance | mean NFE | energy distance (weight error) |");
    println!("|---|---:|---:|---:|");
    for tol in [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005] {
        let s = AdaptiveSde::new(sde, eps, AdaptiveOptions::with_tol(0.78 * tol, tol)).unwrap();
        let mut xs = vec![[0.0f32; D]; SAMPLES];
        let mut st = vec![Ok(0); SAMPLES];
        s.run_batch_with_status::<f32x8, f32, _, D>(&model, 11, 0, &mut xs, &mut st).unwrap();
        let (nfe, failed) = mean_nfe(&st);
        println!(
            "| adaptive SDE (ε_abs = 0.78 ε_rel) | {tol} | {nfe:.1}{failed} | {} |",
            cell(&m, &xs, &reference)
        );
    }
    for tol in [1e-1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-5] {
        let solver = OdeSolver::Adaptive(Dopri5Options::with_tol(tol, tol));
        let mut xs = vec![[0.0f32; D]; SAMPLES];
        let mut st = vec![Ok(0); SAMPLES];
        pf_sample_batch(&model, &sde, &solver, eps as f64, 11, 0, &mut xs, &mut st).unwrap();
        let (nfe, failed) = mean_nfe(&st);
        println!(
            "| PF-ODE Dormand–Prince (rtol = atol) | {tol:e} | {nfe:.1}{failed} | {} |",
            cell(&m, &xs, &reference)
        );
    }
}

fn mean_nfe(st: &[Result<u32, Error>]) -> (f64, String) {
    let ok: Vec<u32> = st.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let failed = st.len() - ok.len();
    let mean = ok.iter().map(|&v| v as f64).sum::<f64>() / ok.len().max(1) as f64;
    (mean, if failed > 0 { format!(" ({failed} failed)") } else { String::new() })
}

fn main() {
    println!(
        "Cells: sliced energy distance to {SAMPLES} exact samples (largest mode-weight error)."
    );
    table("8-component 2-D mixture", random_mixture::<2, 8>(41));
    table("5-component 8-D mixture", random_mixture::<8, 5>(42));
}
