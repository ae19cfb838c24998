//! End-to-end tests of the command's behaviour under hostile or careless use: a closed stdout,
//! output files and directories, non-finite results, targets far from unit location and
//! scale, memory limits, stated limits, and the shape of error messages. Every bad input must
//! give exit status 2, one line `error: …` on stderr and write nothing; exit 0 only with
//! correct output.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use flowscore_std::jobs::{
    DEFAULT_ADAPTIVE_ATOL, DEFAULT_ADAPTIVE_RTOL, DEFAULT_DPM_STEPS, DEFAULT_DPM3_STEPS,
    DEFAULT_EDM_STEPS, DEFAULT_SRK_STEPS, DEFAULT_UNIPC_STEPS, SamplerKind,
};
use tempfile::TempDir;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("flowscore")
}

fn flowscore() -> Command {
    Command::cargo_bin("flowscore").expect("binary built")
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The ncsn two-mode mixture.
const NCSN: &str = r#"{"weights": [0.8, 0.2], "means": [[5, 5], [-5, -5]],
  "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}"#;
/// Means at about (10³, −10³).
const FAR: &str = r#"{"weights": [0.7, 0.3], "means": [[1000, -1000], [1002.5, -1001]],
  "covariances": [[[1, 0.3], [0.3, 0.8]], [[0.5, 0], [0, 0.6]]]}"#;
/// Covariances of order 10⁴·I.
const WIDE: &str = r#"{"weights": [0.6, 0.4], "means": [[0, 0], [150, -100]],
  "covariances": [[[1e4, 0], [0, 1e4]], [[2e4, 5e3], [5e3, 1e4]]]}"#;

struct Fx {
    dir: TempDir,
    out: TempDir,
}

impl Fx {
    fn new() -> Self {
        Self { dir: tempfile::tempdir().unwrap(), out: tempfile::tempdir().unwrap() }
    }
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }
    fn out(&self, name: &str) -> PathBuf {
        self.out.path().join(name)
    }
}

/// A listing of a directory tree: (relative path, contents) for files, (path, None) for
/// directories, sorted.
fn snapshot(dir: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut v = Vec::new();
    fn walk(root: &Path, d: &Path, v: &mut Vec<(String, Option<Vec<u8>>)>) {
        for e in fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                v.push((rel, None));
                walk(root, &e.path(), v);
            } else {
                v.push((rel, fs::read(e.path()).ok()));
            }
        }
    }
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// Exit 2, one line `error: …` containing `needle`, nothing on stdout, `watched` unchanged.
fn rejected(args: &[&str], needle: &str, watched: &Path) {
    let before = snapshot(watched);
    let out = flowscore().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr:?}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(stderr.chars().count() <= 210, "short line: {stderr:?}");
    assert!(stderr.to_lowercase().contains(&needle.to_lowercase()), "{needle:?} in {stderr:?}");
    assert!(out.stdout.is_empty(), "stdout: {:?}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(snapshot(watched), before, "{args:?} changed {}", watched.display());
}

fn read_csv(path: &Path) -> Vec<Vec<f64>> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn read_npy_f64(path: &Path) -> Vec<f64> {
    let bytes = fs::read(path).unwrap();
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + len..].chunks(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect()
}

// ---------------------------------------------------------------- 1. closed stdout

/// Runs the binary with stdout a pipe whose read end is closed before the child writes.
fn run_with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child =
        Proc::new(bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn a_closed_stdout_ends_quietly_with_status_0_and_complete_outputs() {
    let fx = Fx::new();
    let spec = fx.file("spec.json", NCSN);
    let data = fx.file("data.csv", "x0,x1\n5,5\n-5,-5\n0,0\n");
    let out = fx.out("l.npy");
    let (code, err) = run_with_closed_stdout(&[
        "loglik",
        "--target",
        p(&spec),
        "--data",
        p(&data),
        "--method",
        "exact",
        "--out",
        p(&out),
    ]);
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(err.is_empty(), "quiet: {err:?}");
    let v = read_npy_f64(&out);
    assert_eq!(v.len(), 3);
    assert!(v[0] > v[2] && v[1] > v[2], "mode points more likely than the saddle: {v:?}");
    for args in [&["--help"][..], &["sample", "--help"], &["--version"]] {
        let (code, err) = run_with_closed_stdout(args);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        assert!(err.is_empty(), "{args:?}: {err:?}");
    }
    // The demo too: its summary goes to stdout, its files still land.
    let demo = fx.out("demo");
    let (code, err) = run_with_closed_stdout(&["demo", "--out", p(&demo)]);
    assert_eq!(code, Some(0), "{err}");
    assert!(demo.join("summary.md").is_file());
}

#[test]
fn a_full_stdout_is_a_one_line_error_and_writes_nothing() {
    let fx = Fx::new();
    let spec = fx.file("spec.json", NCSN);
    let out = fx.out("s.csv");
    let full = || Stdio::from(fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    let res = Proc::new(bin())
        .args(["sample", "--target", p(&spec), "--sampler", "ode", "-n", "4", "--out", p(&out)])
        .stdout(full())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: cannot write to stdout"), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(fs::read_dir(fx.out.path()).unwrap().next().is_none(), "nothing written");
    let res = Proc::new(bin()).arg("--help").stdout(full()).output().unwrap();
    assert_eq!(res.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&res.stderr).lines().count(), 1);
}

// ---------------------------------------------------------------- 7. file handling

#[cfg(unix)]
#[test]
fn outputs_follow_the_umask_keep_modes_follow_symlinks_and_spare_inputs() {
    use std::os::unix::fs::{PermissionsExt, symlink};
    let fx = Fx::new();
    let spec = fx.file("spec.json", NCSN);
    let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for (umask, want) in [("022", 0o644), ("027", 0o640)] {
        let out = fx.out(&format!("u{umask}.npy"));
        let cmd = format!(
            "umask {umask}; exec '{}' sample --target '{}' --sampler ode -n 3 --out '{}'",
            bin().display(),
            p(&spec),
            p(&out)
        );
        assert!(Proc::new("sh").args(["-c", &cmd]).output().unwrap().status.success());
        assert_eq!(mode(&out), want, "umask {umask}");
    }
    // An existing file keeps its permission bits.
    let kept = fx.out("kept.csv");
    fs::write(&kept, "old").unwrap();
    fs::set_permissions(&kept, fs::Permissions::from_mode(0o604)).unwrap();
    let sample = |out: &Path| {
        flowscore()
            .args(["sample", "--target", p(&spec), "--sampler", "ode", "-n", "3", "--out", p(out)])
            .assert()
            .success();
    };
    sample(&kept);
    assert_eq!(mode(&kept), 0o604);
    assert_eq!(read_csv(&kept).len(), 3);
    // A symbolic link stays a link; its target gets the samples.
    let real = fx.out("real.csv");
    fs::write(&real, "old").unwrap();
    let link = fx.out("link.csv");
    symlink(&real, &link).unwrap();
    sample(&link);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(read_csv(&real).len(), 3);
    // --out equal to --data (directly or through a link) is refused; the data stay.
    let data = fx.out("data.csv");
    fs::write(&data, "x0,x1\n1,2\n").unwrap();
    let alias = fx.out("alias.csv");
    symlink(&data, &alias).unwrap();
    for out in [&data, &alias] {
        rejected(
            &[
                "loglik",
                "--target",
                p(&spec),
                "--data",
                p(&data),
                "--method",
                "exact",
                "--out",
                p(out),
            ],
            "same file as the input",
            fx.out.path(),
        );
    }
    assert_eq!(fs::read_to_string(&data).unwrap(), "x0,x1\n1,2\n");
}

#[test]
fn impossible_output_paths_are_refused_before_any_work() {
    let fx = Fx::new();
    let spec = fx.file("spec.json", NCSN);
    let plain = fx.out("f");
    fs::write(&plain, "a file").unwrap();
    let dir_npy = fx.out("x.npy");
    fs::create_dir(&dir_npy).unwrap();
    let under_file = plain.join("x.npy");
    // A sampling job of hours: refusals must come before it starts.
    for (out, needle) in [
        (under_file.as_path(), "is not a directory"),
        (dir_npy.as_path(), "is a directory"),
        (Path::new("/proc/flowscore-test.npy"), "cannot create a file in /proc"),
        (Path::new("/proc/self/x/y.npy"), "/proc/self"),
    ] {
        let t = Instant::now();
        rejected(
            &[
                "sample",
                "--target",
                p(&spec),
                "--sampler",
                "pc",
                "-n",
                "100000000",
                "--out",
                p(out),
            ],
            needle,
            fx.out.path(),
        );
        assert!(t.elapsed() < Duration::from_secs(20), "{out:?} took {:?}", t.elapsed());
    }
}

// ---------------------------------------------------------------- 4. demo

#[test]
fn a_demo_that_cannot_write_leaves_its_directory_unchanged() {
    let fx = Fx::new();
    let out = fx.out("demo");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.txt"), "mine").unwrap();
    fs::write(out.join("planar_flow.png"), "an older figure").unwrap();
    fs::create_dir(out.join("summary.md")).unwrap();
    let t = Instant::now();
    rejected(&["demo", "--out", p(&out)], "summary.md is a directory", fx.out.path());
    assert!(t.elapsed() < Duration::from_secs(5), "refused before the work: {:?}", t.elapsed());
    // A demo directory that is a file.
    let file = fx.out("demo-file");
    fs::write(&file, "x").unwrap();
    rejected(&["demo", "--out", p(&file)], "is not a directory", fx.out.path());
    rejected(&["demo", "--out", "/proc/flowscore-demo"], "cannot create", fx.out.path());
}

// ---------------------------------------------------------------- 2. non-finite results

#[test]
fn huge_data_give_finite_exact_values_or_a_one_line_error() {
    let fx = Fx::new();
    let spec = fx.file(
        "one.json",
        r#"{"weights": [1], "means": [[0, 0]], "covariances": [[[1, 0], [0, 1]]]}"#,
    );
    // Finite but very large: the closed form is -|x|²/2 - log 2π up to the ε-perturbation.
    let data = fx.file("big.csv", "x0,x1\n1e100,0\n3e50,-4e50\n");
    let out = fx.out("l.npy");
    let args = |d: &Path, o: &Path, m: &str| {
        vec![
            "loglik".to_string(),
            "--target".into(),
            p(&spec).into(),
            "--data".into(),
            p(d).into(),
            "--method".into(),
            m.into(),
            "--out".into(),
            p(o).into(),
        ]
    };
    flowscore().args(args(&data, &out, "exact")).assert().success();
    let v = read_npy_f64(&out);
    for (got, sq) in v.iter().zip([1e200, 25e100]) {
        assert!(got.is_finite(), "{v:?}");
        let r = got / (-sq / 2.0);
        assert!((r - 1.0).abs() < 1e-3, "{got} vs {}", -sq / 2.0);
    }
    fs::remove_file(&out).unwrap();
    // Beyond the stated magnitude: refused, by every method.
    let beyond = fx.file("beyond.csv", "x0,x1\n1e200,0\n");
    for m in ["exact", "ode", "ode-hutchinson"] {
        let a = args(&beyond, &out, m);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        rejected(&a, "beyond the supported magnitude", fx.out.path());
    }
}

// ---------------------------------------------------------------- 3. location and scale

/// The exact mean and covariance of a 2-D mixture spec.
fn moments(spec: &str) -> ([f64; 2], [[f64; 2]; 2]) {
    let v: serde_json::Value = serde_json::from_str(spec).unwrap();
    let w: Vec<f64> =
        v["weights"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let mu = |k: usize, i: usize| v["means"][k][i].as_f64().unwrap();
    let cv = |k: usize, i: usize, j: usize| v["covariances"][k][i][j].as_f64().unwrap();
    let m: [f64; 2] = core::array::from_fn(|i| (0..w.len()).map(|k| w[k] * mu(k, i)).sum());
    let c = core::array::from_fn(|i| {
        core::array::from_fn(|j| {
            (0..w.len()).map(|k| w[k] * (cv(k, i, j) + (mu(k, i) - m[i]) * (mu(k, j) - m[j]))).sum()
        })
    });
    (m, c)
}

/// Checks the sample mean and covariance against the exact ones: each within 5 standard
/// errors (the covariance's standard errors estimated from the samples' fourth moments).
fn check_moments(xs: &[Vec<f64>], spec: &str, what: &str) {
    let (m, c) = moments(spec);
    let n = xs.len() as f64;
    let mean: [f64; 2] = core::array::from_fn(|i| xs.iter().map(|x| x[i]).sum::<f64>() / n);
    for i in 0..2 {
        let se = (c[i][i] / n).sqrt();
        assert!((mean[i] - m[i]).abs() < 5.0 * se, "{what}: mean[{i}] {} vs {}", mean[i], m[i]);
    }
    for (i, j) in [(0, 0), (0, 1), (1, 1)] {
        let prods: Vec<f64> = xs.iter().map(|x| (x[i] - mean[i]) * (x[j] - mean[j])).collect();
        let s = prods.iter().sum::<f64>() / (n - 1.0);
        let var = prods.iter().map(|q| (q - s).powi(2)).sum::<f64>() / (n - 1.0);
        let se = (var / n).sqrt();
        assert!(
            (s - c[i][j]).abs() < 5.0 * se,
            "{what}: cov[{i}][{j}] {s} vs {} (se {se})",
            c[i][j]
        );
    }
}

/// Draws 4 000 samples with each (sampler, options) from the far and the wide target and checks
/// their moments; returns the samplers run.
fn exact_at_any_location_and_scale(cases: &[(&'static str, &[&str])]) -> Vec<&'static str> {
    let fx = Fx::new();
    let mut tested = Vec::new();
    for (name, text) in [("far", FAR), ("wide", WIDE)] {
        let spec = fx.file(&format!("{name}.json"), text);
        for (k, (sampler, extra)) in cases.iter().enumerate() {
            tested.push(*sampler);
            let out = fx.out(&format!("{name}-{sampler}-{k}.csv"));
            let mut args = vec!["sample", "--target", p(&spec), "--sampler", sampler, "-n", "4000"];
            args.extend_from_slice(extra);
            args.extend(["--seed", "11", "--out", p(&out)]);
            flowscore().args(&args).assert().success();
            let xs = read_csv(&out);
            assert_eq!(xs.len(), 4000);
            check_moments(&xs, text, &format!("{name} {sampler} {extra:?}"));
        }
    }
    tested
}

#[test]
fn every_sampler_is_exact_at_any_location_and_scale() {
    let tested = exact_at_any_location_and_scale(&[
        // Unadjusted Langevin is biased by O(step): a smaller step keeps its bias below
        // the statistical bound.
        ("langevin", &["--step-size", "0.01", "--steps", "3000"][..]),
        ("mala", &[]),
        ("annealed-langevin", &[]),
        ("euler-maruyama", &["--sde", "vp"]),
        ("euler-maruyama", &["--sde", "ve"]),
        ("pc", &["--sde", "subvp"]),
        ("ode", &["--sde", "ve"]),
        ("ode", &["--sde", "vp"]),
        ("sra1", &["--sde", "vp"]),
        ("sra1", &["--sde", "ve"]),
        ("sde-heun", &["--sde", "subvp"]),
        ("edm-heun", &["--sde", "ve"]),
        ("edm-heun", &["--sde", "vp"]),
        ("dpmpp-2m", &["--sde", "ve"]),
        ("dpmpp-2m", &["--sde", "subvp"]),
        ("dpmpp-3m", &["--sde", "ve"]),
        ("dpmpp-3m", &["--sde", "vp"]),
        ("unipc", &["--sde", "ve"]),
        ("unipc", &["--sde", "subvp"]),
        ("adaptive", &["--sde", "vp"]),
        ("adaptive", &["--sde", "ve"]),
    ]);
    for kind in SamplerKind::ALL {
        assert!(tested.contains(&kind.name()), "{} is not tested here", kind.name());
    }
}

/// The ncsn mixture's mode weights from the VE probability-flow sampler (formerly off by
/// up to 0.034 from its N(0, σ_max² I) start).
#[test]
fn the_ve_probability_flow_sampler_keeps_the_mode_weights() {
    let fx = Fx::new();
    let spec = fx.file("ncsn.json", NCSN);
    let out = fx.out("ve.csv");
    flowscore()
        .args(["sample", "--target", p(&spec), "--sampler", "ode", "--sde", "ve"])
        .args(["-n", "20000", "--seed", "5", "--out", p(&out)])
        .assert()
        .success();
    let xs = read_csv(&out);
    let upper = xs.iter().filter(|x| x[0] + x[1] > 0.0).count() as f64 / xs.len() as f64;
    // Standard error sqrt(0.16/20000) = 0.0028: 4 of them.
    assert!((upper - 0.8).abs() < 0.0115, "weight of the (5, 5) mode: {upper}");
}

/// loglik is covariant: moving and scaling the target and the data by x ↦ a x + b changes
/// every log-density by −D log a, exactly up to rounding, for every method; the ODE agrees
/// with the closed form on a target of scale 10².
#[test]
fn loglik_changes_by_the_log_determinant_under_an_affine_map() {
    let fx = Fx::new();
    let small = r#"{"weights": [0.6, 0.4], "means": [[0, 0], [1.5, -1]],
      "covariances": [[[1, 0], [0, 1]], [[2, 0.5], [0.5, 1]]]}"#;
    let (a, b) = (100.0f64, [1000.0, -2000.0]);
    let s1 = fx.file("small.json", small);
    let s2 = fx.file(
        "big.json",
        r#"{"weights": [0.6, 0.4], "means": [[1000, -2000], [1150, -2100]],
      "covariances": [[[1e4, 0], [0, 1e4]], [[2e4, 5e3], [5e3, 1e4]]]}"#,
    );
    let pts = [[0.1, 0.2], [1.4, -0.9], [-1.0, 2.0], [3.0, -3.0]];
    let d1: String = pts.iter().map(|x| format!("{},{}\n", x[0], x[1])).collect();
    let d2: String =
        pts.iter().map(|x| format!("{},{}\n", a * x[0] + b[0], a * x[1] + b[1])).collect();
    let (f1, f2) = (fx.file("d1.csv", &d1), fx.file("d2.csv", &d2));
    let run = |s: &Path, d: &Path, m: &str, o: &str| -> Vec<f64> {
        let out = fx.out(o);
        flowscore()
            .args(["loglik", "--target", p(s), "--data", p(d), "--method", m, "--out", p(&out)])
            .assert()
            .success();
        read_npy_f64(&out)
    };
    for m in ["exact", "ode"] {
        let l1 = run(&s1, &f1, m, &format!("{m}1.npy"));
        let l2 = run(&s2, &f2, m, &format!("{m}2.npy"));
        for (u, v) in l1.iter().zip(&l2) {
            let shift = u - v;
            assert!((shift - 2.0 * a.ln()).abs() < 1e-6, "{m}: {u} − {v} = {shift}");
        }
    }
    let e = run(&s2, &f2, "exact", "e.npy");
    let o = run(&s2, &f2, "ode", "o.npy");
    for (u, v) in e.iter().zip(&o) {
        assert!((u - v).abs() < 2e-3, "ode {v} vs exact {u}");
    }
}

// ---------------------------------------------------------------- 5. memory

fn sh_limited(limit_kb: u64, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let cmd = format!("ulimit -v {limit_kb}; exec '{}' {}", bin().display(), quoted.join(" "));
    Proc::new("sh").args(["-c", &cmd]).env("RAYON_NUM_THREADS", "2").output().unwrap()
}

#[test]
fn memory_limits_give_an_error_or_are_not_needed() {
    let fx = Fx::new();
    // 1.5e6 samples in D = 8 are 96 MB of output: streamed in chunks they run in 150 MB of
    // address space.
    let d8 = fx.file(
        "d8.json",
        &format!(
            r#"{{"weights": [1], "means": [[{}]], "covariances": [[{}]]}}"#,
            ["0"; 8].join(","),
            (0..8)
                .map(|i| format!(
                    "[{}]",
                    (0..8).map(|j| if i == j { "1" } else { "0" }).collect::<Vec<_>>().join(",")
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
    );
    let out = fx.out("big.npy");
    let res = sh_limited(
        150_000,
        &[
            "sample",
            "--target",
            p(&d8),
            "--sampler",
            "langevin",
            "--steps",
            "1",
            "-n",
            "1500000",
            "--out",
            p(&out),
        ],
    );
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert_eq!(fs::metadata(&out).unwrap().len(), 128 + 1_500_000 * 8 * 8);
    fs::remove_file(&out).unwrap();
    // Data whose table does not fit: a (2^27, 8) float32 array (a sparse file of zeros) needs
    // 8 GiB as f64.
    let data = fx.dir.path().join("huge.npy");
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (134217728, 8), }";
    let pad = 64 - (10 + header.len() + 1) % 64;
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend(((header.len() + pad + 1) as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(std::iter::repeat_n(b' ', pad));
    bytes.push(b'\n');
    fs::write(&data, &bytes).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&data).unwrap();
    f.set_len(bytes.len() as u64 + (1u64 << 27) * 8 * 4).unwrap();
    let l = fx.out("l.npy");
    let res = sh_limited(
        1_000_000,
        &["loglik", "--target", p(&d8), "--data", p(&data), "--method", "exact", "--out", p(&l)],
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.starts_with("error: not enough memory"), "{err}");
    assert_eq!(err.lines().count(), 1);
    assert!(fs::read_dir(fx.out.path()).unwrap().next().is_none());
}

// ---------------------------------------------------------------- 6. limits

#[test]
fn limits_are_stated_and_enforced_with_reasons() {
    let fx = Fx::new();
    let w = fx.out.path();
    let spec = fx.file("spec.json", NCSN);
    let data = fx.file("d.csv", "1,2\n");
    let out = fx.out("o.npy");
    let (s, d, o) = (p(&spec), p(&data), p(&out));
    let ll = |extra: &[&'static str], m: &'static str| -> Vec<String> {
        let mut v: Vec<String> = ["loglik", "--target", s, "--data", d, "--method", m]
            .iter()
            .map(|x| x.to_string())
            .collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v.extend(["--out".to_string(), o.to_string()]);
        v
    };
    let check = |v: Vec<String>, needle: &str| {
        let a: Vec<&str> = v.iter().map(String::as_str).collect();
        rejected(&a, needle, w);
    };
    check(ll(&["--eps", "0.99999999"], "exact"), "--eps");
    check(ll(&["--rtol", "1"], "ode"), "--rtol");
    check(ll(&["--atol", "1e10"], "ode"), "--atol");
    check(ll(&["--rtol", "1e-5"], "exact"), "--rtol does not apply to --method exact");
    check(ll(&["--probes", "4"], "ode"), "--probes does not apply");
    check(ll(&["--seed", "4"], "exact"), "--seed does not apply");
    let sm = |sampler: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> =
            ["sample", "--target", s, "--sampler", sampler].iter().map(|x| x.to_string()).collect();
        v.extend(extra.iter().map(|x| x.to_string()));
        v.extend(["--out".to_string(), o.to_string()]);
        v
    };
    check(sm("ode", &["--steps", "10"]), "--steps does not apply to --sampler ode");
    check(sm("pc", &["--step-size", "0.1"]), "--step-size does not apply");
    check(sm("langevin", &["--snr", "0.1"]), "--snr does not apply");
    check(sm("mala", &["--sde", "ve"]), "--sde does not apply");
    check(sm("langevin", &["--step-size", "1e-30"]), "--step-size");
    check(sm("adaptive", &["--steps", "10"]), "--steps does not apply to --sampler adaptive");
    check(sm("edm-heun", &["--snr", "0.1"]), "--snr does not apply to --sampler edm-heun");
    check(sm("sra1", &["--step-size", "0.1"]), "--step-size does not apply to --sampler sra1");
    check(sm("annealed-langevin", &["--sde", "vp"]), "--sde does not apply");
    check(sm("ode", &["--precision", "f32"]), "--precision f32 does not apply to --sampler ode");
    check(sm("pc", &["--precision", "f16"]), "--precision");
    for other in [
        "euler-maruyama",
        "pc",
        "ode",
        "sra1",
        "sde-heun",
        "edm-heun",
        "dpmpp-2m",
        "dpmpp-3m",
        "unipc",
    ] {
        check(
            sm(other, &["--rtol", "0.01"]),
            &format!("--rtol does not apply to --sampler {other}"),
        );
        check(
            sm(other, &["--atol", "0.01"]),
            &format!("--atol does not apply to --sampler {other}"),
        );
    }
    for bad in ["0", "1e-6", "2", "-0.01", "nan"] {
        check(sm("adaptive", &["--rtol", bad]), "--rtol");
        check(sm("adaptive", &["--atol", bad]), "--atol");
    }
    // The sample help states each sampler's default steps and its score evaluations.
    let help =
        String::from_utf8(flowscore().args(["sample", "--help"]).output().unwrap().stdout).unwrap();
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        format!("{} (sra1, sde-heun: {} evaluations)", DEFAULT_SRK_STEPS, 2 * DEFAULT_SRK_STEPS),
        format!("{} (edm-heun: {} evaluations)", DEFAULT_EDM_STEPS, 2 * DEFAULT_EDM_STEPS),
        format!("{} (dpmpp-2m: {} evaluations)", DEFAULT_DPM_STEPS, DEFAULT_DPM_STEPS),
        format!("{} (dpmpp-3m: {} evaluations)", DEFAULT_DPM3_STEPS, DEFAULT_DPM3_STEPS),
        format!("{} (unipc: {} evaluations)", DEFAULT_UNIPC_STEPS, DEFAULT_UNIPC_STEPS),
        format!("--rtol {DEFAULT_ADAPTIVE_RTOL}, --atol {DEFAULT_ADAPTIVE_ATOL} (adaptive)"),
    ] {
        assert!(help.contains(&needle), "{needle} in sample --help: {help}");
    }
    for kind in SamplerKind::ALL {
        assert!(help.contains(kind.name()), "{} in sample --help", kind.name());
    }
    // Help states the defaults as written and the limits.
    let help =
        String::from_utf8(flowscore().args(["loglik", "--help"]).output().unwrap().stdout).unwrap();
    assert!(help.contains("[default: 1e-5]"), "{help}");
    assert!(!help.contains("0.0000099999"), "{help}");
    let top = String::from_utf8(flowscore().arg("--help").output().unwrap().stdout).unwrap();
    for needle in ["D = 1..8", "K = 1..16", "1e12", "1e5", "1e100", "f32", "status 0"] {
        assert!(top.contains(needle), "{needle} in --help");
    }
    // Condition numbers: beyond f64's reach is refused with the reason; a single component of
    // condition number 1e11 (formerly "not positive definite") is sampled faithfully.
    let ill = fx.file(
        "ill.json",
        r#"{"weights": [1], "means": [[0, 0]], "covariances": [[[1e13, 0], [0, 1]]]}"#,
    );
    rejected(
        &["sample", "--target", p(&ill), "--sampler", "ode", "--out", o],
        "condition number 1e13",
        w,
    );
    let ok = fx.file(
        "ok.json",
        r#"{"weights": [1], "means": [[1e39, 0]], "covariances": [[[1e5, 0], [0, 1e-6]]]}"#,
    );
    let csv = fx.out("ok.csv");
    flowscore()
        .args(["sample", "--target", p(&ok), "--sampler", "ode", "-n", "4000", "--out", p(&csv)])
        .assert()
        .success();
    let xs = read_csv(&csv);
    let n = xs.len() as f64;
    let m1 = xs.iter().map(|x| x[1]).sum::<f64>() / n;
    let v1 = xs.iter().map(|x| (x[1] - m1).powi(2)).sum::<f64>() / (n - 1.0);
    let m0 = xs.iter().map(|x| x[0]).sum::<f64>() / n;
    assert!((v1 / 1e-6 - 1.0).abs() < 0.12, "variance {v1} vs 1e-6");
    assert!((m0 / 1e39 - 1.0).abs() < 1e-12, "mean {m0} vs 1e39");
    // A two-component mixture too ill-conditioned for f32 in standard coordinates.
    let narrow = fx.file(
        "narrow.json",
        r#"{"weights": [0.5, 0.5], "means": [[-1000, 0], [1000, 0]],
           "covariances": [[[1, 0], [0, 1]], [[1, 0], [0, 1]]]}"#,
    );
    rejected(
        &["sample", "--target", p(&narrow), "--sampler", "ode", "--out", o],
        "in standard coordinates",
        w,
    );
}

// ---------------------------------------------------------------- 8. messages

#[test]
fn messages_are_one_short_line_and_csv_delimiters_are_recognised() {
    let fx = Fx::new();
    let w = fx.out.path();
    let spec = fx.file("spec.json", NCSN);
    let mut outs = Vec::new();
    for (name, text) in [
        ("comma.csv", "x0,x1\n1,2\n-3,4.5\n"),
        ("semi.csv", "x0;x1\n1;2\n-3;4.5\n"),
        ("tab.csv", "1\t2\n-3\t4.5\n"),
    ] {
        let data = fx.file(name, text);
        let out = fx.out(&format!("{name}.npy"));
        flowscore()
            .args(["loglik", "--target", p(&spec), "--data", p(&data), "--method", "exact"])
            .args(["--out", p(&out)])
            .assert()
            .success();
        outs.push(read_npy_f64(&out));
        fs::remove_file(&out).unwrap();
    }
    assert_eq!(outs[0].len(), 2);
    assert!(outs.iter().all(|o| *o == outs[0]));
    let o = fx.out("o.npy");
    let bad = fx.file("dec.csv", "1,5;2,5\n");
    rejected(
        &["loglik", "--target", p(&spec), "--data", p(&bad), "--method", "exact", "--out", p(&o)],
        "decimal commas",
        w,
    );
    let mixed = fx.file("mixed.csv", "1,x\n1,2\n");
    rejected(
        &["loglik", "--target", p(&spec), "--data", p(&mixed), "--method", "exact", "--out", p(&o)],
        "line 1 field 2",
        w,
    );
    // No subcommand: an error line, not bare usage.
    let res = flowscore().output().unwrap();
    assert_eq!(res.status.code(), Some(2));
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(err.starts_with("error: no subcommand"), "{err}");
    assert_eq!(err.lines().count(), 1);
    // A 309-digit number stays short in messages.
    let big = format!("{:.0}", 1e308);
    assert_eq!(big.len(), 309);
    let huge = fx.file(
        "huge.json",
        &format!(r#"{{"weights": [{big}], "means": [[0]], "covariances": [[[1]]]}}"#),
    );
    rejected(
        &["sample", "--target", p(&huge), "--sampler", "ode", "--out", p(&o)],
        "sum to 1e308",
        w,
    );
    rejected(
        &["sample", "--target", p(&spec), "--sampler", "mala", "--step-size", &big, "--out", p(&o)],
        "--step-size",
        w,
    );
}
