//! `flowscore train` end to end: the model file does not depend on --threads, a resumed run
//! (also after SIGKILL at random moments) ends with the same bytes, bad input is exit 2 with one
//! line and nothing written.

use std::path::Path;
use std::process::Command;

fn flowscore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flowscore"))
}

fn train(dir: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let mut c = flowscore();
    c.args(["train", "--model", "realnvp", "--data", "moons", "--batch", "64", "--seed", "3"])
        .arg("--out")
        .arg(dir.join(out))
        .args(extra);
    c.output().unwrap()
}

fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn model_file_does_not_depend_on_threads_and_resume_is_exact() {
    let d = tempfile::tempdir().unwrap();
    let a = train(d.path(), "a.fsm", &["--steps", "60", "--threads", "1"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = train(d.path(), "b.fsm", &["--steps", "60", "--threads", "2"]);
    assert!(b.status.success());
    let fa = std::fs::read(d.path().join("a.fsm")).unwrap();
    assert_eq!(fa, std::fs::read(d.path().join("b.fsm")).unwrap(), "1 vs 2 threads");
    let ck = d.path().join("run.ckpt");
    let ck_s = ck.to_str().unwrap();
    let c = train(
        d.path(),
        "c.fsm",
        &["--steps", "20", "--checkpoint", ck_s, "--checkpoint-every", "20"],
    );
    assert!(c.status.success());
    let r = train(d.path(), "r.fsm", &["--steps", "60", "--resume", ck_s]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(fa, std::fs::read(d.path().join("r.fsm")).unwrap(), "resumed vs uninterrupted");
}

#[test]
fn sigkill_at_random_moments_then_resume_gives_the_same_bits() {
    let d = tempfile::tempdir().unwrap();
    let steps = "400";
    let full = train(d.path(), "full.fsm", &["--steps", steps]);
    assert!(full.status.success());
    let want = std::fs::read(d.path().join("full.fsm")).unwrap();
    let ck = d.path().join("k.ckpt");
    let ck_s = ck.to_str().unwrap().to_string();
    let mut kills_with_checkpoint = 0;
    // Kill moments from a fixed pseudo-random sequence (reproducible), 30–900 ms.
    let mut state = 0x9e3779b97f4a7c15u64;
    for round in 0..12 {
        let _ = std::fs::remove_file(&ck);
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let ms = 30 + state % 870;
        let mut child = flowscore()
            .args([
                "train", "--model", "realnvp", "--data", "moons", "--batch", "64", "--seed", "3",
            ])
            .args(["--steps", steps, "--checkpoint", &ck_s, "--checkpoint-every", "5"])
            .arg("--out")
            .arg(d.path().join("killed.fsm"))
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(ms));
        let _ = child.kill(); // SIGKILL on Unix
        let _ = child.wait();
        if !ck.exists() {
            continue;
        }
        kills_with_checkpoint += 1;
        let out = format!("resumed{round}.fsm");
        let r = train(d.path(), &out, &["--steps", steps, "--resume", &ck_s]);
        assert!(
            r.status.success(),
            "round {round} ({ms} ms): {}",
            String::from_utf8_lossy(&r.stderr)
        );
        assert_eq!(want, std::fs::read(d.path().join(&out)).unwrap(), "round {round} ({ms} ms)");
    }
    assert!(kills_with_checkpoint >= 10, "only {kills_with_checkpoint} kills left a checkpoint");
}

#[test]
fn bad_input_is_one_line_exit_2_and_writes_nothing() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("nan.csv"), "x,y\n1,2\nnan,3\n4,5\n").unwrap();
    std::fs::write(d.path().join("wide.csv"), "1,2,3\n4,5,6\n7,8,9\n").unwrap();
    std::fs::write(d.path().join("bad.ckpt"), b"FLWSCKPT not really").unwrap();
    // A valid checkpoint of another model (scorenet).
    let ok = flowscore()
        .args(["train", "--model", "scorenet", "--data", "moons", "--steps", "2", "--batch", "16"])
        .arg("--checkpoint")
        .arg(d.path().join("score.ckpt"))
        .args(["--checkpoint-every", "1", "--out"])
        .arg(d.path().join("score.fsm"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    // The score network's model file samples (Euler–Maruyama by default) to finite points.
    let smp = flowscore()
        .args(["sample", "-n", "20", "--steps", "50", "--model"])
        .arg(d.path().join("score.fsm"))
        .arg("--out")
        .arg(d.path().join("score-samples.csv"))
        .output()
        .unwrap();
    assert!(smp.status.success(), "{}", String::from_utf8_lossy(&smp.stderr));
    let before = listing(d.path());
    let p = |n: &str| d.path().join(n).to_str().unwrap().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["--model".into(), "nosuch".into(), "--data".into(), "moons".into()],
        vec![
            "--model".into(),
            "scorenet".into(),
            "--loss".into(),
            "nll".into(),
            "--data".into(),
            "moons".into(),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--loss".into(),
            "dsm".into(),
            "--data".into(),
            "moons".into(),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--sde".into(),
            "ve".into(),
            "--data".into(),
            "moons".into(),
        ],
        vec!["--model".into(), "realnvp".into(), "--data".into(), "nosuchset".into()],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--steps".into(),
            "0".into(),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--batch".into(),
            "0".into(),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--lr".into(),
            "0".into(),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--lr".into(),
            "-1".into(),
        ],
        vec!["--model".into(), "realnvp".into(), "--data".into(), p("nan.csv")],
        vec!["--model".into(), "realnvp".into(), "--data".into(), p("wide.csv")],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--resume".into(),
            p("bad.ckpt"),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--resume".into(),
            p("score.ckpt"),
        ],
        vec![
            "--model".into(),
            "realnvp".into(),
            "--data".into(),
            "moons".into(),
            "--resume".into(),
            p("nosuch.ckpt"),
        ],
    ];
    // Hidden widths this build does not train, and --hidden for a model without one.
    let mut cases = cases;
    for (model, hidden) in [("realnvp", "16"), ("spline", "64"), ("maf", "32"), ("scorenet", "64")]
    {
        cases.push(
            ["--model", model, "--data", "moons", "--hidden", hidden].map(String::from).to_vec(),
        );
    }
    for args in cases {
        let out = flowscore()
            .arg("train")
            .args(&args)
            .args(["--steps", "3"].iter().filter(|_| !args.contains(&"--steps".to_string())))
            .arg("--out")
            .arg(d.path().join("new.fsm"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(listing(d.path()), before, "{args:?} changed the directory");
    }
}

/// `flowscore sample --model MODEL -n N` (in `dir`, with `extra` options): the rows.
fn sample_model(dir: &Path, model: &str, extra: &[&str], n: usize) -> Vec<[f64; 2]> {
    let out = flowscore()
        .current_dir(dir)
        .args(["sample", "--model", model, "--out", "sampled.csv", "-n", &n.to_string()])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    let rows = read_rows(&dir.join("sampled.csv"));
    assert_eq!(rows.len(), n);
    rows
}

/// Each coordinate's sample mean within `mean_tol`·σ of μ and its spread within a factor
/// 1 ± `sd_tol` of σ.
fn assert_moments(
    tag: &str,
    rows: &[[f64; 2]],
    mu: [f64; 2],
    sd: [f64; 2],
    mean_tol: f64,
    sd_tol: f64,
) {
    for k in 0..2 {
        let m = rows.iter().map(|r| r[k]).sum::<f64>() / rows.len() as f64;
        let v = rows.iter().map(|r| (r[k] - m).powi(2)).sum::<f64>() / rows.len() as f64;
        println!("{tag}: coordinate {k}: mean {m} (μ {}), sd {} (σ {})", mu[k], v.sqrt(), sd[k]);
        assert!((m - mu[k]).abs() < mean_tol * sd[k], "{tag}: mean {k}: {m}");
        assert!((v.sqrt() / sd[k] - 1.0).abs() < sd_tol, "{tag}: sd {k}: {}", v.sqrt());
    }
}

/// Points of N(μ, diag(σ²)) written as CSV.
fn gaussian_csv(path: &Path, n: usize, seed: u64, mu: [f64; 2], sd: [f64; 2]) {
    use flowscore::rng::{LaneSource, Streams};
    let mut s = String::from("x0,x1\n");
    let mut r = Streams::<f64>::new(seed, 0);
    for _ in 0..n {
        let z: [f64; 2] = r.normal_array();
        s.push_str(&format!("{},{}\n", mu[0] + sd[0] * z[0], mu[1] + sd[1] * z[1]));
    }
    std::fs::write(path, s).unwrap();
}

/// The rows of a 2-column CSV with a header.
fn read_rows(path: &Path) -> Vec<[f64; 2]> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let mut it = l.split(',').map(|v| v.parse::<f64>().unwrap());
            [it.next().unwrap(), it.next().unwrap()]
        })
        .collect()
}

/// `flowscore loglik --model MODEL --data DATA --out OUT` (in `dir`, on `threads` threads):
/// the log-densities written.
fn loglik(
    dir: &Path,
    model: &str,
    data: &str,
    out: &str,
    extra: &[&str],
    threads: u32,
) -> Vec<f64> {
    let o = flowscore()
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .args(["loglik", "--model", model, "--data", data, "--out", out])
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(dir.join(out)).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("log_p"));
    lines.map(|l| l.parse().unwrap()).collect()
}

/// The median over rows of |log p − log N(x; μ, diag σ²)|.
fn median_abs_error(log_p: &[f64], xs: &[[f64; 2]], mu: [f64; 2], sd: [f64; 2]) -> f64 {
    let mut e: Vec<f64> = log_p
        .iter()
        .zip(xs)
        .map(|(l, x)| {
            let q: f64 = (0..2).map(|k| ((x[k] - mu[k]) / sd[k]).powi(2)).sum();
            let exact = -(2.0 * std::f64::consts::PI).ln() - sd[0].ln() - sd[1].ln() - 0.5 * q;
            (l - exact).abs()
        })
        .collect();
    e.sort_by(f64::total_cmp);
    e[e.len() / 2]
}

#[test]
fn eval_reports_the_nll_in_the_data_units() {
    // Data far from the origin and on very different scales: after the stored standardisation
    // the flow only has to learn N(0, I), so its NLL in the user's units must be the Gaussian's
    // entropy ln(2πe) + ln σ₁ + ln σ₂ (= 0.535 here) — wrong units would be off by nats.
    let d = tempfile::tempdir().unwrap();
    let (mu, sd) = ([1e3, -5.0], [100.0, 0.001]);
    gaussian_csv(&d.path().join("train.csv"), 20_000, 1, mu, sd);
    gaussian_csv(&d.path().join("test.csv"), 20_000, 2, mu, sd);
    let out = flowscore()
        .args(["train", "--model", "realnvp", "--steps", "600", "--batch", "256", "--data"])
        .arg(d.path().join("train.csv"))
        .arg("--out")
        .arg(d.path().join("g.fsm"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ev = flowscore()
        .args(["eval", "--model"])
        .arg(d.path().join("g.fsm"))
        .arg("--data")
        .arg(d.path().join("test.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ev.stdout);
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    let nll: f64 =
        text.split("NLL ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let entropy = (2.0 * std::f64::consts::PI * std::f64::consts::E).ln() + sd[0].ln() + sd[1].ln();
    println!("eval NLL {nll:.4} vs entropy {entropy:.4}");
    // Sampling error of the mean over 20 000 points ≈ 0.007; the fit's own error is smaller.
    assert!((nll - entropy).abs() < 0.03, "NLL {nll} vs entropy {entropy}");
    // Samples of the model in the data's units: mean and spread of the Gaussian. What this
    // checks is the map back to the data's units: a wrong one is off by the scales (×100,
    // ×10⁻³) or the shift (10³). The fit itself is not exact: its NLL is ≈ 0.01 nats above the
    // entropy, which a spread off by up to ≈ 10 % accounts for (KL of N(0, s²) from N(0, 1) is
    // ½(s² − 1 − ln s²) = 0.007 at s = 1.09).
    let rows = sample_model(d.path(), "g.fsm", &[], 20_000);
    assert_moments("flow", &rows, mu, sd, 0.1, 0.15);
    // `loglik --model`: one log p per row, in the data's units, the same whatever the thread
    // count, averaging to eval's NLL, and per row close to the generating density (a wrong
    // unit map is off by ln 100 + ln 1000 nats).
    let ll = loglik(d.path(), "g.fsm", "test.csv", "ll-1.csv", &[], 1);
    assert_eq!(ll, loglik(d.path(), "g.fsm", "test.csv", "ll-2.csv", &[], 2), "1 vs 2 threads");
    let test = read_rows(&d.path().join("test.csv"));
    assert_eq!(ll.len(), test.len());
    let mean = ll.iter().sum::<f64>() / ll.len() as f64;
    assert!((mean + nll).abs() < 1e-4, "loglik mean {mean} vs eval NLL {nll}");
    let err = median_abs_error(&ll, &test, mu, sd);
    println!("flow loglik: median |log p - log N| = {err:.4}");
    // The fit's own per-point error at this budget (600 steps) measured 0.02–0.08 on two
    // draws of such data (its mean, the KL, is ≈ 0.01); a wrong unit map or log-determinant is
    // off by ≥ ln 10 nats.
    assert!(err < 0.2, "median per-row error {err}");
    // Options that do not apply to a flow, and data of the wrong width: exit 2, nothing written.
    std::fs::write(d.path().join("wide.csv"), "1,2,3\n4,5,6\n").unwrap();
    let before = listing(d.path());
    for extra in [
        &["--method", "ode"][..],
        &["--sde", "vp"],
        &["--eps", "1e-3"],
        &["--rtol", "1e-4"],
        &["--probes", "2"],
        &["--data", "wide.csv"],
        &["--target", "spec.json"],
    ] {
        let mut c = flowscore();
        c.current_dir(d.path()).args(["loglik", "--model", "g.fsm", "--out", "x.csv"]);
        if !extra.contains(&"--data") {
            c.args(["--data", "test.csv"]);
        }
        let o = c.args(extra).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert_eq!(listing(d.path()), before, "{extra:?} changed the directory");
    }
    // Bad input: exit 2 with one line.
    for args in [
        vec!["eval", "--model", "/nonexistent.fsm", "--data", "moons"],
        vec!["eval", "--model", d.path().join("train.csv").to_str().unwrap(), "--data", "moons"],
    ] {
        let o = flowscore().args(&args).output().unwrap();
        assert_eq!(o.status.code(), Some(2));
        assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    }
}

#[test]
fn score_network_loglik_is_the_probability_flow_density_in_the_data_units() {
    // A score network trained by DSM (VP) on a Gaussian far from the origin, on very different
    // scales: its probability-flow log-density, in the user's units, must be close to the
    // generating density per row; Hutchinson's estimate must be unbiased for the exact
    // divergence's; eval's NLL is loglik's mean; the rows do not depend on the thread count.
    let d = tempfile::tempdir().unwrap();
    let (mu, sd) = ([1e3, -5.0], [100.0, 0.001]);
    gaussian_csv(&d.path().join("train.csv"), 20_000, 1, mu, sd);
    gaussian_csv(&d.path().join("test.csv"), 400, 2, mu, sd);
    let out = flowscore()
        .current_dir(d.path())
        .args(["train", "--model", "scorenet", "--steps", "2000", "--batch", "256"])
        .args(["--data", "train.csv", "--out", "s.fsm"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let test = read_rows(&d.path().join("test.csv"));
    let ode = loglik(d.path(), "s.fsm", "test.csv", "ode-1.csv", &[], 1);
    assert_eq!(ode, loglik(d.path(), "s.fsm", "test.csv", "ode-2.csv", &[], 2), "1 vs 2 threads");
    let err = median_abs_error(&ode, &test, mu, sd);
    println!("score loglik: median |log p - log N| = {err:.4}");
    // Measured 0.079 at this budget (2 000 steps of DSM); a wrong unit map or prior is off by
    // nats.
    assert!(err < 0.2, "median per-row error {err}");
    // Samples of the network, from the SDE's prior, by a reverse-SDE and by the few-step
    // probability-flow samplers, in the data's units (the same bounds as the flow's above).
    for extra in [
        &["--sampler", "sra1"][..],
        &["--sampler", "edm-heun"],
        &["--sampler", "dpmpp-2m"],
        &["--sampler", "dpmpp-3m"],
        &["--sampler", "dpmpp-3m", "--steps", "20"],
    ] {
        let rows = sample_model(d.path(), "s.fsm", extra, 4000);
        assert_moments(&format!("{extra:?}"), &rows, mu, sd, 0.1, 0.15);
    }
    // eval prints the mean NLL of the same probability-flow solves.
    let ev = flowscore()
        .current_dir(d.path())
        .args(["eval", "--model", "s.fsm", "--data", "test.csv"])
        .output()
        .unwrap();
    assert!(ev.status.success(), "{}", String::from_utf8_lossy(&ev.stderr));
    let text = String::from_utf8_lossy(&ev.stdout);
    let nll: f64 =
        text.split("NLL ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let mean = ode.iter().sum::<f64>() / ode.len() as f64;
    assert!((mean + nll).abs() < 1e-4, "loglik mean {mean} vs eval NLL {nll}");
    // Hutchinson (4 probes) on the first 100 rows: the per-row difference from the exact
    // divergence has mean zero (an unbiased estimator; the ODE tolerance adds ≲ 1e-3).
    let mut head = String::from("x0,x1\n");
    for x in &test[..100] {
        head.push_str(&format!("{},{}\n", x[0], x[1]));
    }
    std::fs::write(d.path().join("head.csv"), head).unwrap();
    let h = loglik(
        d.path(),
        "s.fsm",
        "head.csv",
        "h.csv",
        &["--method", "ode-hutchinson", "--probes", "4", "--seed", "7"],
        2,
    );
    let diff: Vec<f64> = h.iter().zip(&ode).map(|(a, b)| a - b).collect();
    let n = diff.len() as f64;
    let m = diff.iter().sum::<f64>() / n;
    let se = (diff.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt();
    println!("hutchinson - exact: mean {m:.5}, standard error {se:.5}");
    assert!(se > 0.0, "Hutchinson's estimate has no spread: its probes are not random");
    assert!(m.abs() < 4.0 * se + 1e-3, "bias {m} (standard error {se})");
    // Options that do not apply to a score network: exit 2, nothing written (the adaptive
    // reverse SDE is not a choice of `sample --model`, and --steps does not apply to ode).
    let before = listing(d.path());
    let loglik = ["loglik", "--model", "s.fsm", "--data", "test.csv", "--out", "x.csv"];
    let sample = ["sample", "--model", "s.fsm", "--out", "x.csv", "-n", "10"];
    for (cmd, extra) in [
        (&loglik[..], &["--method", "exact"][..]),
        (&loglik, &["--sde", "ve"]),
        (&loglik, &["--probes", "2"]),
        (&loglik, &["--seed", "1"]),
        (&sample, &["--sampler", "adaptive"]),
        (&sample, &["--sampler", "ode", "--steps", "5"]),
        (&sample, &["--precision", "f64"]),
    ] {
        let o = flowscore().current_dir(d.path()).args(cmd).args(extra).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{extra:?}: {err}");
        assert_eq!(listing(d.path()), before, "{extra:?} changed the directory");
    }
}

#[test]
fn microcontroller_sized_score_network_samples_and_scores_in_the_data_units() {
    // `--hidden 16` trains another network type (2 + 16 → 16 → 16 → 2, the firmware's second
    // opinion): its model file must load in `loglik` and `sample`, with the data's units
    // restored, the rows independent of the thread count, and its samples on the target.
    let d = tempfile::tempdir().unwrap();
    let (mu, sd) = ([-40.0, 3.0], [5.0, 0.02]);
    gaussian_csv(&d.path().join("train.csv"), 20_000, 3, mu, sd);
    gaussian_csv(&d.path().join("test.csv"), 300, 4, mu, sd);
    let out = flowscore()
        .current_dir(d.path())
        .args(["train", "--model", "scorenet", "--hidden", "16", "--steps", "12000"])
        .args(["--batch", "256", "--data", "train.csv", "--out", "small.fsm"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let test = read_rows(&d.path().join("test.csv"));
    let ode = loglik(d.path(), "small.fsm", "test.csv", "ode-1.csv", &[], 1);
    assert_eq!(ode, loglik(d.path(), "small.fsm", "test.csv", "ode-2.csv", &[], 2));
    let err = median_abs_error(&ode, &test, mu, sd);
    println!("hidden-16 score loglik: median |log p - log N| = {err:.4}");
    // Measured 0.059; a wrong unit map is off by ln σ ≈ 1.6 or 3.9 nats per coordinate.
    assert!(err < 0.2, "median per-row error {err}");
    // The small network needs more steps than the large one's 2 000: there its spreads were
    // 0.82σ (Euler–Maruyama) and 1.26σ (DPM-Solver++(3M)); at 12 000 steps within 5 %.
    for extra in [&["--sampler", "euler-maruyama"][..], &["--sampler", "dpmpp-3m"]] {
        let rows = sample_model(d.path(), "small.fsm", extra, 4000);
        assert_moments(&format!("hidden 16 {extra:?}"), &rows, mu, sd, 0.1, 0.15);
    }
}
