//! End-to-end tests of the `flowscore` command: every bad input is a one-line error with exit
//! status 2 and an untouched output directory; NPY outputs load as NumPy writes them; CSV
//! round-trips; the ODE likelihood agrees with the closed form; the demo writes its figures and
//! its numbers meet the samplers' and the likelihood's bounds.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use flowscore_std::jobs::SamplerKind;
use npyz::WriterBuilder;
use predicates::prelude::*;
use tempfile::TempDir;

/// The ncsn two-mode mixture.
const NCSN: &str = r#"{"weights": [0.8, 0.2], "means": [[5, 5], [-5, -5]],
  "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}"#;
/// An anisotropic 3-component mixture in 2-D.
const ANISO: &str = r#"{"weights": [0.5, 0.3, 0.2], "means": [[0, 0], [3, -1], [-2, 2]],
  "covariances": [[[1.0, 0.6], [0.6, 0.8]], [[0.3, 0.0], [0.0, 1.5]], [[0.5, -0.2], [-0.2, 0.4]]]}"#;

/// The likelihood bound of the core's probability-flow tests at rtol = atol = 1e-5 (nats).
const LOGLIK_BOUND: f64 = 2e-3;

fn flowscore() -> Command {
    Command::cargo_bin("flowscore").expect("binary built")
}

struct Fixture {
    dir: TempDir,
    out: TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), out: tempfile::tempdir().unwrap() }
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        fs::write(&p, text).unwrap();
        p
    }
    fn out(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }
    fn out_is_empty(&self) -> bool {
        fs::read_dir(self.out.path()).unwrap().next().is_none()
    }
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs the command, expects exit 2 with one line `error: …` on stderr and nothing written.
fn assert_rejected(fx: &Fixture, args: &[&str], needle: &str) {
    let assert = flowscore().args(args).assert().code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(stderr.starts_with("error:"), "stderr: {stderr:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.to_lowercase().contains(&needle.to_lowercase()), "{needle:?} not in {stderr:?}");
    assert!(assert.get_output().stdout.is_empty(), "nothing on stdout");
    assert!(fx.out_is_empty(), "output directory changed for {args:?}");
}

fn sample_args<'a>(spec: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["sample", "--target", spec, "--sampler", "euler-maruyama"];
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--out", out]);
    v
}

#[test]
fn bad_specs_are_rejected() {
    let fx = Fixture::new();
    let out = fx.out("s.npy");
    let cases = [
        ("malformed.json", r#"{"weights": [1], "means": [[0]]"#, "not a valid mixture spec"),
        ("text.json", "this is not JSON", "not a valid mixture spec"),
        (
            "negative.json",
            r#"{"weights": [-0.5, 1.5], "means": [[0], [1]], "covariances": [[[1]], [[1]]]}"#,
            "negative",
        ),
        (
            "sum.json",
            r#"{"weights": [0.5, 0.6], "means": [[0], [1]], "covariances": [[[1]], [[1]]]}"#,
            "sum to",
        ),
        (
            "not_spd.json",
            r#"{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 2], [2, 1]]]}"#,
            "positive definite",
        ),
        (
            "not_sym.json",
            r#"{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0.3], [0, 1]]]}"#,
            "symmetric",
        ),
        (
            "shape.json",
            r#"{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0]]]}"#,
            "not 2×2",
        ),
        (
            "big_d.json",
            r#"{"weights": [1], "means": [[0,0,0,0,0,0,0,0,0]], "covariances": [[[1]]]}"#,
            "D must be 1..=8",
        ),
    ];
    for (name, text, needle) in cases {
        let spec = fx.file(name, text);
        assert_rejected(&fx, &sample_args(p(&spec), p(&out), &[]), needle);
    }
    let missing = fx.dir.path().join("missing.json");
    assert_rejected(&fx, &sample_args(p(&missing), p(&out), &[]), "cannot read spec");
}

#[test]
fn bad_sampler_options_are_rejected() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", NCSN);
    let out = fx.out("s.npy");
    let (s, o) = (p(&spec), p(&out));
    assert_rejected(
        &fx,
        &["sample", "--target", s, "--sampler", "gibbs", "--out", o],
        "invalid value 'gibbs'",
    );
    assert_rejected(&fx, &sample_args(s, o, &["--sde", "vx"]), "invalid value 'vx'");
    for bad in ["0", "-0.1", "nan", "inf"] {
        let args = ["sample", "--target", s, "--sampler", "langevin", "--step-size", bad];
        let mut v = args.to_vec();
        v.extend_from_slice(&["--out", o]);
        assert_rejected(&fx, &v, "--step-size");
    }
    assert_rejected(&fx, &sample_args(s, o, &["--steps", "0"]), "--steps");
    assert_rejected(&fx, &sample_args(s, o, &["--snr", "0"]), "--snr");
    assert_rejected(&fx, &sample_args(s, o, &["-n", "0"]), "'0'");
    let nowhere = fx.out.path().join("no/such/dir/s.npy");
    assert_rejected(&fx, &sample_args(s, p(&nowhere), &[]), "does not exist");
    let wrong_ext = fx.out("s.txt");
    assert_rejected(&fx, &sample_args(s, p(&wrong_ext), &[]), "unknown file type");
}

fn write_npy_f64(path: &Path, rows: usize, cols: usize, data: &[f64]) {
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<f64>::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    fs::write(path, buf).unwrap();
}

fn write_npy_f32(path: &Path, rows: usize, cols: usize, data: &[f32]) {
    let mut buf = Vec::new();
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&[rows as u64, cols as u64])
        .writer(&mut buf)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    fs::write(path, buf).unwrap();
}

fn loglik_args<'a>(spec: &'a str, data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["loglik", "--target", spec, "--data", data, "--method", "exact"];
    v.extend_from_slice(extra);
    v.extend_from_slice(&["--out", out]);
    v
}

#[test]
fn bad_data_and_loglik_options_are_rejected() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", NCSN);
    let out = fx.out("l.npy");
    let (s, o) = (p(&spec), p(&out));
    let three = fx.file("three.csv", "a,b,c\n1,2,3\n4,5,6\n");
    assert_rejected(&fx, &loglik_args(s, p(&three), o, &[]), "D = 2");
    let nan = fx.file("nan.csv", "x0,x1\n1,2\nnan,0\n");
    assert_rejected(&fx, &loglik_args(s, p(&nan), o, &[]), "not finite");
    let inf = fx.dir.path().join("inf.npy");
    write_npy_f64(&inf, 2, 2, &[0.0, 1.0, f64::INFINITY, 2.0]);
    assert_rejected(&fx, &loglik_args(s, p(&inf), o, &[]), "not finite");
    let ninf = fx.dir.path().join("ninf.npy");
    write_npy_f32(&ninf, 1, 2, &[f32::NEG_INFINITY, 2.0]);
    assert_rejected(&fx, &loglik_args(s, p(&ninf), o, &[]), "not finite");
    let garbage = fx.file("garbage.npy", "not an npy file");
    assert_rejected(&fx, &loglik_args(s, p(&garbage), o, &[]), "not a valid NPY");
    let good = fx.file("good.csv", "1,2\n3,4\n");
    let g = p(&good);
    assert_rejected(&fx, &loglik_args(s, g, o, &["--sde", "ve2"]), "invalid value 've2'");
    assert_rejected(&fx, &loglik_args(s, g, o, &["--rtol", "0"]), "--rtol");
    assert_rejected(&fx, &loglik_args(s, g, o, &["--atol", "-1"]), "--atol");
    assert_rejected(&fx, &loglik_args(s, g, o, &["--eps", "0"]), "--eps");
    assert_rejected(&fx, &loglik_args(s, g, o, &["--probes", "0"]), "--probes");
    assert_rejected(
        &fx,
        &["loglik", "--target", s, "--data", g, "--method", "mcmc", "--out", o],
        "invalid value 'mcmc'",
    );
    let nowhere = fx.out.path().join("missing/l.csv");
    assert_rejected(&fx, &loglik_args(s, g, p(&nowhere), &[]), "does not exist");
}

/// The parts of an NPY header: (major, minor) version, descr, fortran_order, shape.
fn npy_header(bytes: &[u8]) -> ((u8, u8), String, bool, Vec<usize>) {
    assert_eq!(&bytes[..6], b"\x93NUMPY", "magic");
    let version = (bytes[6], bytes[7]);
    let (len, start) = match version.0 {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
    };
    assert_eq!((start + len) % 64, 0, "data starts 64-byte aligned, as NumPy writes");
    let text = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    assert!(text.ends_with('\n'));
    let field = |key: &str| -> String {
        let i = text.find(&format!("'{key}': ")).unwrap_or_else(|| panic!("{key} in {text}"));
        text[i + key.len() + 4..].to_string()
    };
    let descr = field("descr");
    let descr = descr.split('\'').nth(1).unwrap().to_string();
    let fortran = field("fortran_order").starts_with("True");
    let shape = field("shape");
    let shape = &shape[1..shape.find(')').unwrap()];
    let shape =
        shape.split(',').filter(|s| !s.trim().is_empty()).map(|s| s.trim().parse().unwrap());
    (version, descr, fortran, shape.collect())
}

fn npy_f64_data(bytes: &[u8]) -> Vec<f64> {
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + len..].chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn sample_writes_npy_and_csv_as_numpy_reads_them() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", ANISO);
    let npy = fx.out("s.npy");
    let csv = fx.out("s.csv");
    for out in [&npy, &csv] {
        flowscore()
            .args(sample_args(p(&spec), p(out), &["-n", "37", "--steps", "200", "--seed", "7"]))
            .assert()
            .success()
            .stdout(predicate::str::contains("wrote 37 samples"));
    }
    let bytes = fs::read(&npy).unwrap();
    let (version, descr, fortran, shape) = npy_header(&bytes);
    assert_eq!(version, (1, 0));
    assert_eq!(descr, "<f8");
    assert!(!fortran);
    assert_eq!(shape, vec![37, 2]);
    let from_npy = npy_f64_data(&bytes);
    assert_eq!(from_npy.len(), 74);
    // The CSV holds the same samples (same seed), digit for digit.
    let text = fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("x0,x1"));
    let from_csv: Vec<f64> =
        lines.flat_map(|l| l.split(',').map(|v| v.parse::<f64>().unwrap())).collect();
    assert_eq!(from_csv, from_npy);
    assert!(from_npy.iter().all(|v| v.is_finite()));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(fx.out.path()).unwrap().count(), 2);
}

#[test]
fn every_sampler_runs_from_the_command_line() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", NCSN);
    for kind in SamplerKind::ALL {
        let sampler = kind.name();
        let out = fx.out(&format!("{sampler}.csv"));
        let mut args = vec!["sample", "--target", p(&spec), "--sampler", sampler, "-n", "16"];
        // Each sampler gets exactly the options that apply to it.
        if kind.takes_steps() {
            args.extend(["--steps", "50"]);
        }
        if kind.takes_sde() {
            args.extend(["--sde", "subvp"]);
        }
        if kind == SamplerKind::Adaptive {
            args.extend(["--rtol", "0.02", "--atol", "0.01"]);
        }
        args.extend(["--out", p(&out)]);
        flowscore().args(&args).assert().success();
        let text = fs::read_to_string(&out).unwrap();
        assert_eq!(text.lines().count(), 17, "{sampler}");
    }
}

/// The reverse-SDE and probability-flow samplers write the same bytes with 1, 2 and 3 threads
/// (sample i depends on its index only), and print their score evaluations per sample.
#[test]
fn samples_do_not_depend_on_the_thread_count() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", ANISO);
    for kind in SamplerKind::ALL.into_iter().filter(|k| k.takes_sde()) {
        let sampler = kind.name();
        let run = |threads: &str| {
            let out = fx.out(&format!("{sampler}-{threads}.npy"));
            let mut args = vec!["sample", "--target", p(&spec), "--sampler", sampler];
            args.extend(["-n", "300", "--seed", "5", "--out", p(&out)]);
            let o = flowscore().args(&args).env("RAYON_NUM_THREADS", threads).output().unwrap();
            assert!(o.status.success(), "{sampler}: {}", String::from_utf8_lossy(&o.stderr));
            (fs::read(&out).unwrap(), String::from_utf8(o.stdout).unwrap())
        };
        let (one, said) = run("1");
        assert_eq!(run("2").0, one, "{sampler}: 1 vs 2 threads");
        assert_eq!(run("3").0, one, "{sampler}: 1 vs 3 threads");
        if let Some(n) = kind.evaluations(kind.default_steps()) {
            if kind != SamplerKind::EulerMaruyama && kind != SamplerKind::Pc {
                assert!(said.contains(&format!("{n} score evaluations per sample")), "{said}");
            }
        } else {
            assert!(said.contains("mean NFE"), "{said}");
        }
    }
}

/// Run-time dispatch changes no bit: every sampler in both precisions writes the same bytes on
/// the baseline path (`FLOWSCORE_SIMD=baseline`) as on the path the CPU was found to have (AVX2
/// on x86-64 machines that have it).
#[test]
fn every_dispatched_path_writes_the_same_bytes() {
    use flowscore_std::simd::Isa;
    if Isa::detected() == Isa::Baseline {
        eprintln!("this CPU has only the baseline path: nothing to compare");
        return;
    }
    let fx = Fixture::new();
    let spec = fx.file("spec.json", ANISO);
    let run = |args: &[&str], path: &str, out: &Path| {
        let mut cmd = flowscore();
        cmd.args(args).args(["--out", p(out)]);
        if path == "baseline" {
            cmd.env("FLOWSCORE_SIMD", "baseline");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        fs::read(out).unwrap()
    };
    for kind in SamplerKind::ALL {
        for precision in ["f32", "f64"] {
            if kind == SamplerKind::Ode && precision == "f32" {
                continue;
            }
            let sampler = kind.name();
            let mut args = vec!["sample", "--target", p(&spec), "--sampler", sampler];
            args.extend(["-n", "150", "--seed", "3", "--precision", precision]);
            if kind.takes_steps() {
                args.extend(["--steps", "40"]);
            }
            let [a, b] = ["baseline", "detected"].map(|path| {
                run(&args, path, &fx.out(&format!("{sampler}-{precision}-{path}.npy")))
            });
            assert!(a == b, "{sampler} --precision {precision}: the paths differ");
        }
    }
}

fn read_loglik_npy(path: &Path) -> Vec<f64> {
    let bytes = fs::read(path).unwrap();
    let (_, descr, _, shape) = npy_header(&bytes);
    assert_eq!(descr, "<f8");
    let v = npy_f64_data(&bytes);
    assert_eq!(shape, vec![v.len()]);
    v
}

/// `loglik --method ode` agrees with `--method exact` within the core's bound, for f32 NPY
/// input, under each SDE; the CSV input of the same points gives the same exact values.
#[test]
fn ode_loglik_matches_exact() {
    let fx = Fixture::new();
    let spec = fx.file("spec.json", ANISO);
    // Points from the target itself (exact mixture samples would need the core; these cover
    // the modes and the space between them).
    let pts: Vec<f32> = vec![
        0.1, -0.2, 3.0, -1.0, -2.0, 2.0, 1.0, 1.0, -0.5, 0.8, 2.5, 0.5, 0.0, 2.5, -3.0, 1.0, 3.2,
        -2.4, 0.7, -0.9,
    ];
    let data = fx.dir.path().join("pts.npy");
    write_npy_f32(&data, 10, 2, &pts);
    let csv = fx.file(
        "pts.csv",
        &pts.chunks(2)
            .map(|c| format!("{},{}\n", f64::from(c[0]), f64::from(c[1])))
            .collect::<String>(),
    );
    for sde in ["ve", "vp", "subvp"] {
        let exact = fx.out(&format!("exact_{sde}.npy"));
        let ode = fx.out(&format!("ode_{sde}.npy"));
        let exact_csv = fx.out(&format!("exact_{sde}.csv"));
        flowscore()
            .args(loglik_args(p(&spec), p(&data), p(&exact), &["--sde", sde]))
            .assert()
            .success();
        flowscore()
            .args([
                "loglik",
                "--target",
                p(&spec),
                "--data",
                p(&data),
                "--method",
                "ode",
                "--sde",
                sde,
                "--rtol",
                "1e-5",
                "--atol",
                "1e-5",
                "--out",
                p(&ode),
            ])
            .assert()
            .success()
            .stdout(predicate::str::contains("NFE: mean"));
        flowscore()
            .args(loglik_args(p(&spec), p(&csv), p(&exact_csv), &["--sde", sde]))
            .assert()
            .success();
        let e = read_loglik_npy(&exact);
        let o = read_loglik_npy(&ode);
        assert_eq!(e.len(), 10);
        let max = e.iter().zip(&o).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(max < LOGLIK_BOUND, "{sde}: max |ode − exact| = {max}");
        let text = fs::read_to_string(&exact_csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("log_p"));
        let c: Vec<f64> = lines.map(|l| l.parse().unwrap()).collect();
        assert_eq!(c, e, "CSV and f32 NPY input give the same values");
    }
}

/// A row of a Markdown table as trimmed cells.
fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect()
}

/// The demo writes its five figures and summary.md, and its numbers meet the bounds:
/// annealed Langevin, reverse-SDE and probability-flow samplers put the right mass in each mode
/// (error ≤ 0.05, about 5 standard errors at N = 2000) and are close to exact samples in energy
/// distance (≤ 0.05; the exact-vs-exact floor is about 0.005; plain Langevin's is about 1.9),
/// plain Langevin and MALA get the weights wrong (error ≥ 0.2: the known failure); the
/// probability-flow likelihood is within 2e-3 nats of the closed form.
#[test]
fn demo_writes_figures_and_meets_the_bounds() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("demo");
    flowscore()
        .args(["demo", "--out", p(&dir), "--seed", "3"])
        .assert()
        .success()
        .stdout(predicate::str::contains("| sampler |"));
    for name in [
        "density_score.png",
        "langevin_vs_annealed.png",
        "reverse_sde.png",
        "ode_trajectories.png",
        "planar_flow.png",
    ] {
        let bytes = fs::read(dir.join(name)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{name}");
        assert!(bytes.len() > 10_000, "{name} has content");
    }
    let summary = fs::read_to_string(dir.join("summary.md")).unwrap();
    let mut sampler_rows = 0;
    let mut loglik_rows = 0;
    let mut names = Vec::new();
    for line in summary.lines().filter(|l| l.starts_with("| ") && !l.contains("---")) {
        let c = cells(line);
        if c.len() == 7 && c[0] != "sampler" {
            sampler_rows += 1;
            let mode_error: f64 = c[3].parse().unwrap();
            let energy: f64 = c[4].parse().unwrap();
            let nfe: f64 = c[5].parse().unwrap();
            names.push(c[0].clone());
            // The fixed counts of the defaults; the adaptive ones in a plausible range.
            let expected = match c[0].as_str() {
                "Langevin" | "MALA" | "Euler-Maruyama" => Some(1000.0),
                "annealed Langevin" | "predictor-corrector" => Some(2000.0),
                "SRA1" | "stochastic Heun" => Some(200.0),
                "EDM-Heun" | "DPM-Solver++(2M)" => Some(100.0),
                "DPM-Solver++(3M)" => Some(50.0),
                "UniPC" => Some(20.0),
                _ => None,
            };
            match expected {
                Some(e) => assert_eq!(nfe, e, "{line}"),
                None => assert!(nfe > 10.0 && nfe < 5000.0, "{line}"),
            }
            if c[0] == "Langevin" || c[0] == "MALA" {
                assert!(mode_error >= 0.2, "{line}");
            } else {
                assert!(mode_error <= 0.05, "{line}");
                assert!(energy <= 0.05, "{line}");
            }
        } else if c.len() == 5 && c[0] != "SDE" {
            loglik_rows += 1;
            if c[1] == "ode" {
                let max_error: f64 = c[2].parse().unwrap();
                let nfe: f64 = c[4].parse().unwrap();
                assert!(max_error < LOGLIK_BOUND, "{line}");
                assert!(nfe > 20.0 && nfe < 300.0, "{line}");
            }
        }
    }
    // Three Langevin rows, then ten samplers under each of the three SDEs.
    assert_eq!(sampler_rows, 33);
    for name in [
        "SRA1",
        "stochastic Heun",
        "adaptive SDE",
        "EDM-Heun",
        "DPM-Solver++(2M)",
        "DPM-Solver++(3M)",
        "UniPC",
    ] {
        assert_eq!(names.iter().filter(|n| *n == name).count(), 3, "{name} under VE, VP, sub-VP");
    }
    assert_eq!(loglik_rows, 6);
    // Only the figures and the summary: no temporary files.
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 6);
}

#[test]
fn help_is_available_on_every_subcommand() {
    for sub in [&[][..], &["demo"], &["sample"], &["loglik"]] {
        let mut args: Vec<&str> = sub.to_vec();
        args.push("--help");
        flowscore().args(&args).assert().success().stdout(predicate::str::contains("Usage"));
    }
    flowscore()
        .args(["sample", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("D = 1..8"));
}
