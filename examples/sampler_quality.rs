//! Sample quality per score evaluation: sliced energy distance to exact samples (and the largest
//! mode-weight error) against the number of score evaluations per sample, for every reverse-SDE
//! and probability-flow sampler, on an 8-component 2-D and a 5-component 8-D random anisotropic
//! mixture under VP (exact mixture score). Prints markdown tables.
//!
//! ```sh
//! cargo run --release --example sampler_quality [-- --samples N] [-- --out DIR]
//! ```
//!
//! With `--out DIR` it also writes `DIR/flowscore.json` (every measured point, for
//! `cargo run --release -p flowscore-std --example sampler_quality_plot`) and
//! `DIR/mixtures.json` (the mixtures, the exact reference samples and the exact p_T start
//! points, for `benches/peers/kdiffusion_samplers.py`).
//!
//! The reverse-SDE samplers start from the VP prior N(0, I) drawn from their own streams (their
//! noise forgets the start); the probability-flow samplers (EDM-Heun, DPM-Solver++(2M) and
//! (3M), UniPC, the adaptive Dormand–Prince PF-ODE) from exact draws of p_T, as `flowscore sample` runs them: a
//! deterministic flow carries any start mismatch into its output (MATH.md §6.1). The peer
//! script starts k-diffusion's samplers from the same points.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use common::{directions, exact_n, random_mixture, sliced_energy, weight_error};
use flowscore::Error;
use flowscore::likelihood::ProbabilityFlow;
use flowscore::likelihood::sampling::{OdeSolver, transport};
use flowscore::ode::Dopri5Options;
use flowscore::rng::Streams;
use flowscore::sample::{
    AdaptiveOptions, AdaptiveSde, DpmSolverPp2m, DpmSolverPp3m, EdmHeun, EulerMaruyama,
    LaneSampler, PredictorCorrector, SecondDerivative, SrkMethod, StochasticRk, UniPc,
};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::{SAMPLING_EPS_VP, Sde, Vp};
use wide::f32x8;

/// Samples per measurement (`--samples` changes it).
const SAMPLES: usize = 20_000;
/// Evaluation budgets per sample.
const BUDGETS: [u32; 6] = [10, 20, 50, 100, 250, 1000];
/// Independent exact sets behind the noise floor.
const FLOOR_SETS: u64 = 4;
/// Independent runs of the repeated target check.
const REPEATS: u64 = 32;
/// Seed of the exact p_T start points of the probability-flow samplers.
const START_SEED: u64 = 606;
/// Seed of the samplers' own streams.
const SEED: u64 = 11;
/// Seed of the exact p_ε draws of the repeated target check.
const EXACT_SEED: u64 = 5_000;
/// Samples per set of the large-sample check (its noise floor is a tenth of the main one's).
const LARGE: usize = 200_000;
/// Independent sets of the large-sample check.
const LARGE_SETS: u64 = 3;

/// One measurement: mean NFE per sample, sliced energy distance, largest mode-weight error, and
/// the tolerance (adaptive samplers).
struct Point {
    nfe: f64,
    energy: f64,
    weight: f64,
    tol: Option<f64>,
    failed: usize,
}

/// A sampler's measurements.
struct Row {
    name: &'static str,
    adaptive: bool,
    points: Vec<Point>,
}

/// `f(first_index, chunk)` on consecutive chunks of `xs` on all cores, cut at multiples of 8 so
/// that the lane chunks (and so the bits) are those of one call on the whole slice.
fn parallel<T: Send>(xs: &mut [T], f: &(dyn Fn(u64, &mut [T]) + Sync)) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per = xs.len().div_ceil(threads).div_ceil(8) * 8;
    std::thread::scope(|s| {
        for (c, chunk) in xs.chunks_mut(per.max(8)).enumerate() {
            s.spawn(move || f((c * per.max(8)) as u64, chunk));
        }
    });
}

fn point<const D: usize, const K: usize>(
    m: &GaussianMixture<D, K>,
    xs: &[[f32; D]],
    reference: &[[f32; D]],
    nfe: f64,
    tol: Option<f64>,
    failed: usize,
) -> Point {
    let finite: Vec<[f32; D]> =
        xs.iter().filter(|x| x.iter().all(|v| v.is_finite())).copied().collect();
    let failed = failed.max(xs.len() - finite.len());
    if failed > 0 {
        return Point { nfe, energy: f64::NAN, weight: f64::NAN, tol, failed };
    }
    Point { nfe, energy: sliced_energy(xs, reference), weight: weight_error(m, xs), tol, failed }
}

fn cell(p: &Point) -> String {
    if p.failed > 0 {
        format!("{} non-finite", p.failed)
    } else {
        format!("{:.2e} ({:.3})", p.energy, p.weight)
    }
}

struct Case {
    name: String,
    floor: f64,
    floor_min: f64,
    floor_max: f64,
    rows: Vec<Row>,
    mixture_json: String,
}

/// A fixed-budget sampler run: the budget (score evaluations) and the points to move in place;
/// `None` when the budget is not a whole number of its steps.
type FixedRun<'a, const D: usize> = dyn Fn(u32, &mut [[f32; D]]) -> Option<()> + 'a;

fn table<const D: usize, const K: usize>(name: &str, m: GaussianMixture<D, K>, n: usize) -> Case {
    let sde = Vp::default();
    let model: MixtureScore<D, K, Vp> = m.under(sde);
    let eps = SAMPLING_EPS_VP;
    let t_max = sde.t_max();
    let reference = exact_n(&m, 9_999, n);
    let floors: Vec<f64> =
        (0..FLOOR_SETS).map(|s| sliced_energy(&exact_n(&m, 1_234 + s, n), &reference)).collect();
    let floor = floors.iter().sum::<f64>() / floors.len() as f64;
    let floor_min = floors.iter().copied().fold(f64::INFINITY, f64::min);
    let floor_max = floors.iter().copied().fold(0.0, f64::max);
    let start: Vec<[f32; D]> = (0..n as u64)
        .map(|i| model.sample_at(t_max, &mut Streams::<f32>::new(START_SEED, i)))
        .collect();
    let mut rows = Vec::new();

    let fixed = |name: &'static str, run: &FixedRun<'_, D>| -> Row {
        let points = BUDGETS
            .iter()
            .filter_map(|&b| {
                let mut xs = start.clone();
                run(b, &mut xs)?;
                Some(point(&m, &xs, &reference, b as f64, None, 0))
            })
            .collect();
        Row { name, adaptive: false, points }
    };
    rows.push(fixed("EM", &|b, xs| {
        let s = EulerMaruyama::new(sde, b, eps).unwrap();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));
    rows.push(fixed("PC (1 corrector)", &|b, xs| {
        let s = PredictorCorrector::new(sde, b / 2, eps, 0.16, 1).unwrap();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));
    for (label, method) in [("SRA1", SrkMethod::Sra1), ("stochastic Heun", SrkMethod::Heun)] {
        rows.push(fixed(label, &|b, xs| {
            let s = StochasticRk::new(sde, method, b / 2, eps).unwrap();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
            Some(())
        }));
    }
    rows.push(fixed("EDM-Heun", &|b, xs| {
        let s = EdmHeun::new(sde, b / 2, eps).unwrap().starting_from_input();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));
    rows.push(fixed("DPM-Solver++(2M)", &|b, xs| {
        let s = DpmSolverPp2m::new(sde, b, eps).unwrap().starting_from_input();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));
    rows.push(fixed("DPM-Solver++(3M)", &|b, xs| {
        let s = DpmSolverPp3m::new(sde, b, eps).unwrap().starting_from_input();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));
    rows.push(fixed("DPM-Solver++(3M), Taylor D''", &|b, xs| {
        let s = DpmSolverPp3m::new(sde, b, eps)
            .unwrap()
            .with_second_derivative(SecondDerivative::Taylor)
            .starting_from_input();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));

    rows.push(fixed("UniPC (order 3, √t steps)", &|b, xs| {
        let s = UniPc::new(sde, b, eps).unwrap().starting_from_input();
        parallel(xs, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        Some(())
    }));

    // Adaptive samplers: a tolerance sweep, with the mean NFE each reached.
    let mut points = Vec::new();
    for tol in [0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005] {
        let s = AdaptiveSde::new(sde, eps, AdaptiveOptions::with_tol(0.78 * tol, tol)).unwrap();
        let mut xs: Vec<([f32; D], Result<u32, Error>)> = vec![([0.0; D], Ok(0)); n];
        parallel(&mut xs, &|first, c| {
            let (mut x, mut st): (Vec<[f32; D]>, Vec<Result<u32, Error>>) =
                c.iter().cloned().unzip();
            s.run_batch_with_status::<f32x8, f32, _, D>(&model, SEED, first, &mut x, &mut st)
                .unwrap();
            for (o, v) in c.iter_mut().zip(x.into_iter().zip(st)) {
                *o = v;
            }
        });
        let (x, st): (Vec<[f32; D]>, Vec<Result<u32, Error>>) = xs.into_iter().unzip();
        let (nfe, failed) = mean_nfe(&st);
        points.push(point(&m, &x, &reference, nfe, Some(tol), failed));
    }
    rows.push(Row { name: "adaptive SDE (ε_abs = 0.78 ε_rel)", adaptive: true, points });
    let mut points = Vec::new();
    for tol in [1e-1, 3e-2, 1e-2, 1e-3, 1e-4, 1e-5] {
        let solver = OdeSolver::Adaptive(Dopri5Options::with_tol(tol, tol));
        let field = ProbabilityFlow::new(&model, &sde);
        let mut xs: Vec<([f32; D], Result<u32, Error>)> =
            start.iter().map(|x| (*x, Ok(0))).collect();
        parallel(&mut xs, &|_, c| {
            for (x, st) in c.iter_mut() {
                let r = transport(&field, &solver, *x, t_max as f64, eps as f64);
                match r.and_then(|sol| sol.status.lane(0).map(|()| sol)) {
                    Ok(sol) => {
                        *x = sol.y;
                        *st = Ok(sol.nfe as u32);
                    }
                    Err(e) => *st = Err(e),
                }
            }
        });
        let (x, st): (Vec<[f32; D]>, Vec<Result<u32, Error>>) = xs.into_iter().unzip();
        let (nfe, failed) = mean_nfe(&st);
        points.push(point(&m, &x, &reference, nfe, Some(tol), failed));
    }
    rows.push(Row { name: "PF-ODE Dormand–Prince (rtol = atol)", adaptive: true, points });

    // The target check, repeated: REPEATS independent runs (sampler streams SEED + r, p_T
    // start points START_SEED + r) of Euler–Maruyama at 1 000 evaluations and of the few-step
    // samplers at 20, against the same reference; mean and standard error of the mean.
    let starts: Vec<Vec<[f32; D]>> = (0..REPEATS)
        .map(|r| {
            (0..n as u64)
                .map(|i| model.sample_at(t_max, &mut Streams::<f32>::new(START_SEED + r, i)))
                .collect()
        })
        .collect();
    let rep = |name: &'static str, run: &dyn Fn(u64, &mut [[f32; D]])| {
        let e: Vec<f64> = (0..REPEATS)
            .map(|r| {
                let mut xs = starts[r as usize].clone();
                run(r, &mut xs);
                sliced_energy(&xs, &reference)
            })
            .collect();
        (name, e)
    };
    let repeated: Vec<(&'static str, Vec<f64>)> = vec![
        rep("EM, 1 000 evaluations", &|r, xs| {
            let s = EulerMaruyama::new(sde, 1000, eps).unwrap();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED + r, first, c);
            });
        }),
        rep("SRA1, 20 evaluations", &|r, xs| {
            let s = StochasticRk::new(sde, SrkMethod::Sra1, 10, eps).unwrap();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED + r, first, c);
            });
        }),
        rep("DPM-Solver++(2M), 20 evaluations", &|_, xs| {
            let s = DpmSolverPp2m::new(sde, 20, eps).unwrap().starting_from_input();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        }),
        rep("DPM-Solver++(3M), 20 evaluations", &|_, xs| {
            let s = DpmSolverPp3m::new(sde, 20, eps).unwrap().starting_from_input();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        }),
        rep("UniPC, 20 evaluations", &|_, xs| {
            let s = UniPc::new(sde, 20, eps).unwrap().starting_from_input();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        }),
        rep("DPM-Solver++(3M), 1 000 evaluations (the converged flow)", &|_, xs| {
            let s = DpmSolverPp3m::new(sde, 1000, eps).unwrap().starting_from_input();
            parallel(xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        }),
        rep("exact samples of p_ε", &|r, xs| {
            for (i, x) in xs.iter_mut().enumerate() {
                *x = model.sample_at(eps, &mut Streams::<f32>::new(EXACT_SEED + r, i as u64));
            }
        }),
    ];

    // The few-step samplers against the converged flow from the same start points (paired:
    // the exact-vs-exact noise floor cancels, so what is left is the sampler's own error).
    let flow = |r: usize, steps: u32, unipc: bool| {
        let mut xs = starts[r].clone();
        if unipc {
            let s = UniPc::new(sde, steps, eps).unwrap().starting_from_input();
            parallel(&mut xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        } else {
            let s = DpmSolverPp3m::new(sde, steps, eps).unwrap().starting_from_input();
            parallel(&mut xs, &|first, c| {
                s.sample_batch(&model, SEED, first, c);
            });
        }
        xs
    };
    let paired: Vec<(&'static str, Vec<f64>)> = {
        let (mut u, mut d) = (Vec::new(), Vec::new());
        for r in 0..REPEATS as usize {
            let converged = flow(r, 1000, false);
            u.push(sliced_energy(&flow(r, 20, true), &converged));
            d.push(sliced_energy(&flow(r, 20, false), &converged));
        }
        vec![("UniPC, 20 evaluations", u), ("DPM-Solver++(3M), 20 evaluations", d)]
    };

    // The large-sample check: LARGE_SETS independent sets of LARGE points, each against its
    // own exact reference, of UniPC at 20 evaluations, Euler–Maruyama at 1 000 and exact p_ε
    // draws.
    let mut large: Vec<(&'static str, Vec<f64>)> = vec![
        ("UniPC, 20 evaluations", Vec::new()),
        ("EM, 1 000 evaluations", Vec::new()),
        ("exact samples of p_ε", Vec::new()),
    ];
    for r in 0..LARGE_SETS {
        let reference = exact_n(&m, 77_000 + r, LARGE);
        let mut u: Vec<[f32; D]> = (0..LARGE as u64)
            .map(|i| model.sample_at(t_max, &mut Streams::<f32>::new(8_000 + r, i)))
            .collect();
        let s = UniPc::new(sde, 20, eps).unwrap().starting_from_input();
        parallel(&mut u, &|first, c| {
            s.sample_batch(&model, SEED, first, c);
        });
        let mut em = vec![[0.0f32; D]; LARGE];
        let s = EulerMaruyama::new(sde, 1000, eps).unwrap();
        parallel(&mut em, &|first, c| {
            s.sample_batch(&model, 500 + r, first, c);
        });
        let exact: Vec<[f32; D]> = (0..LARGE as u64)
            .map(|i| model.sample_at(eps, &mut Streams::<f32>::new(9_000 + r, i)))
            .collect();
        for (row, xs) in large.iter_mut().zip([&u, &em, &exact]) {
            row.1.push(sliced_energy(xs, &reference));
        }
    }

    // The tables.
    println!("\n### {name} (VP, ε = 1e-3, {n} samples)\n");
    println!(
        "Exact vs exact (the noise floor): {floor:.2e} (mean of {FLOOR_SETS} sets; \
         {floor_min:.2e}–{floor_max:.2e})\n"
    );
    print!("| sampler |");
    for b in BUDGETS {
        print!(" {b} NFE |");
    }
    println!();
    println!("|---|{}", "---:|".repeat(BUDGETS.len()));
    for r in rows.iter().filter(|r| !r.adaptive) {
        let cells: Vec<String> = BUDGETS
            .iter()
            .map(|&b| r.points.iter().find(|p| p.nfe == b as f64).map_or("–".into(), cell))
            .collect();
        println!("| {} | {} |", r.name, cells.join(" | "));
    }
    println!(
        "\nRepeated ({REPEATS} runs: sampler seeds {SEED}.., p_T start seeds {START_SEED}.., \
         exact p_ε seeds {EXACT_SEED}..), mean ± standard error of the sliced energy distance:\n"
    );
    runs_table("runs", &repeated);
    println!(
        "\nPaired: sliced energy distance to the converged flow (DPM-Solver++(3M), 1 000 \
         evaluations) from the same p_T start points, mean ± standard error over the {REPEATS} runs:\n"
    );
    runs_table("runs", &paired);
    println!(
        "\nLarge samples: {LARGE_SETS} sets of {LARGE} points, each against its own {LARGE} exact \
         samples (p_T start seeds 8000.., EM seeds 500.., exact p_ε seeds 9000.., references \
         77000..), mean ± standard error:\n"
    );
    runs_table("sets", &large);
    println!("\n| adaptive sampler | tolerance | mean NFE | energy distance (weight error) |");
    println!("|---|---:|---:|---:|");
    for r in rows.iter().filter(|r| r.adaptive) {
        for p in &r.points {
            println!("| {} | {:e} | {:.1} | {} |", r.name, p.tol.unwrap_or(0.0), p.nfe, cell(p));
        }
    }

    let arr = |v: &[f32]| {
        format!("[{}]", v.iter().map(|x| format!("{x:e}")).collect::<Vec<_>>().join(", "))
    };
    let rowsj =
        |xs: &[[f32; D]]| format!("[{}]", xs.iter().map(|x| arr(x)).collect::<Vec<_>>().join(", "));
    let dirs_json = format!(
        "[{}]",
        directions::<D>()
            .iter()
            .map(|d| format!(
                "[{}]",
                d.iter().map(|v| format!("{v:e}")).collect::<Vec<_>>().join(", ")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut mj = String::new();
    let _ = write!(
        mj,
        "{{\"name\": \"{name}\", \"weights\": {}, \"means\": [{}], \"covariances\": [{}], \
         \"reference\": {}, \"start\": {}, \"directions\": {}, \"t_max\": {t_max:e}, \"eps\": {eps:e}}}",
        arr(m.weights()),
        m.means().iter().map(|v| arr(v)).collect::<Vec<_>>().join(", "),
        m.covariances()
            .iter()
            .map(|c| format!(
                "[{}]",
                c.matrix().iter().map(|r| arr(r)).collect::<Vec<_>>().join(", ")
            ))
            .collect::<Vec<_>>()
            .join(", "),
        rowsj(&reference),
        rowsj(&start),
        dirs_json,
    );
    Case { name: name.to_string(), floor, floor_min, floor_max, rows, mixture_json: mj }
}

/// A markdown table of named runs: mean, standard error and every value (column `what`).
fn runs_table(what: &str, rows: &[(&str, Vec<f64>)]) {
    println!("| run | mean | ± s.e. | {what} |");
    println!("|---|---:|---:|---|");
    for (name, e) in rows {
        let (mean, se) = mean_se(e);
        let runs: Vec<String> = e.iter().map(|v| format!("{v:.2e}")).collect();
        println!("| {name} | {mean:.3e} | {se:.1e} | {} |", runs.join(", "));
    }
}

/// The mean and the standard error of the mean.
fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

fn mean_nfe(st: &[Result<u32, Error>]) -> (f64, usize) {
    let ok: Vec<u32> = st.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let failed = st.len() - ok.len();
    let mean = ok.iter().map(|&v| v as f64).sum::<f64>() / ok.len().max(1) as f64;
    (mean, failed)
}

/// A JSON number (`null` for NaN).
fn num(v: f64) -> String {
    if v.is_finite() { format!("{v:e}") } else { "null".into() }
}

fn results_json(cases: &[Case], n: usize) -> String {
    let mut s = format!("{{\"peer\": \"flowscore\", \"samples\": {n}, \"cases\": [");
    for (ci, c) in cases.iter().enumerate() {
        let _ = write!(
            s,
            "{}{{\"name\": \"{}\", \"floor\": {}, \"floor_min\": {}, \"floor_max\": {}, \"rows\": [",
            if ci > 0 { ", " } else { "" },
            c.name,
            num(c.floor),
            num(c.floor_min),
            num(c.floor_max)
        );
        for (ri, r) in c.rows.iter().enumerate() {
            let pts: Vec<String> = r
                .points
                .iter()
                .map(|p| {
                    format!(
                        "{{\"nfe\": {}, \"energy\": {}, \"weight_error\": {}, \"tol\": {}}}",
                        num(p.nfe),
                        num(p.energy),
                        num(p.weight),
                        p.tol.map_or("null".into(), num)
                    )
                })
                .collect();
            let _ = write!(
                s,
                "{}{{\"sampler\": \"{}\", \"adaptive\": {}, \"points\": [{}]}}",
                if ri > 0 { ", " } else { "" },
                r.name,
                r.adaptive,
                pts.join(", ")
            );
        }
        s.push_str("]}");
    }
    s.push_str("]}\n");
    s
}

fn main() {
    let mut out: Option<PathBuf> = None;
    let mut n = SAMPLES;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = args.next().map(PathBuf::from),
            "--samples" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(SAMPLES),
            other => {
                eprintln!("error: unknown argument {other} (use --out DIR, --samples N)");
                std::process::exit(2);
            }
        }
    }
    if let Some(dir) = &out
        && !dir.is_dir()
    {
        eprintln!("error: --out {}: not a directory", dir.display());
        std::process::exit(2);
    }
    println!("Cells: sliced energy distance to {n} exact samples (largest mode-weight error).");
    let cases = [
        table("8-component 2-D mixture", random_mixture::<2, 8>(41), n),
        table("5-component 8-D mixture", random_mixture::<8, 5>(42), n),
    ];
    if let Some(dir) = out {
        let mixtures = format!(
            "[{}]\n",
            cases.iter().map(|c| c.mixture_json.as_str()).collect::<Vec<_>>().join(",\n")
        );
        std::fs::write(dir.join("mixtures.json"), mixtures).expect("write mixtures.json");
        std::fs::write(dir.join("flowscore.json"), results_json(&cases, n))
            .expect("write flowscore.json");
        println!("\nwrote {0}/mixtures.json and {0}/flowscore.json", dir.display());
    }
}
