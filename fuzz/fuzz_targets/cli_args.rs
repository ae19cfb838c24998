//! Fuzz target: the command line's argument parsing and its validation into jobs.
//!
//! The input is an argument list (NUL-separated, after the program name). It is parsed as
//! `flowscore` parses it; a usage error must be one line of bounded length. A command that
//! parses is validated as `flowscore` validates it, before any work — with every path
//! replaced by one of a set of fixtures (valid and invalid specs, data files, model files and
//! checkpoints, missing files; the choice made by a hash of the path given) and every output
//! path by a path of the same extension in an empty scratch directory (or the fixture it
//! names, when it names an input). Validation may fail, with one line of bounded length, but
//! must not panic, and once the validated job is dropped, unrun, nothing is written: the
//! scratch directory is empty and the fixtures are unchanged. The demo (whose validation is its
//! first step) is parsed but not run.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use flowscore_std::cli::{Command, Parsed, parse_args, validate};
use flowscore_std::jobs::train::{LossName, ModelName, TrainJob, TrainRequest};
use flowscore_std::text::one_line;
use libfuzzer_sys::fuzz_target;

/// The longest message line accepted.
const MAX_MESSAGE: usize = 600;

struct Fixtures {
    _dir: tempfile::TempDir,
    root: PathBuf,
    specs: Vec<PathBuf>,
    data: Vec<PathBuf>,
    models: Vec<PathBuf>,
    checkpoints: Vec<PathBuf>,
    out: PathBuf,
    listing: Vec<(PathBuf, Vec<u8>)>,
}

/// Every file under the fixture directory with its contents, sorted.
fn listing(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    v.sort();
    v
}

fn npy_2col(rows: usize) -> Vec<u8> {
    let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': ({rows}, 2), }}");
    let mut h = header.into_bytes();
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(b' ');
    }
    h.push(b'\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(h.len() as u16).to_le_bytes());
    b.extend_from_slice(&h);
    for i in 0..rows {
        let x = (i as f64 * 0.37).sin() * 3.0 + 100.0;
        let y = (i as f64 * 0.91).cos() * 0.5 - 7.0;
        b.extend_from_slice(&x.to_le_bytes());
        b.extend_from_slice(&y.to_le_bytes());
    }
    b
}

fn fixtures() -> &'static Fixtures {
    static FX: OnceLock<Fixtures> = OnceLock::new();
    FX.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let w = |name: &str, bytes: &[u8]| {
            let p = root.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        };
        let specs = vec![
            w(
                "mix2.json",
                br#"{"weights": [0.3, 0.7], "means": [[-1000, 0], [1000, 5]],
                    "covariances": [[[1, 0], [0, 1]], [[10000, 0], [0, 2]]]}"#,
            ),
            w(
                "mix3.json",
                br#"{"weights": [1], "means": [[0, 1, 2]],
                    "covariances": [[[1, 0.5, 0], [0.5, 1, 0], [0, 0, 1]]]}"#,
            ),
            w("bad.json", br#"{"weights": [0.5], "means": [[0]], "covariances": [[[1]]]}"#),
            root.join("missing.json"),
        ];
        let csv: String = (0..60)
            .map(|i| format!("{},{}\n", (i as f64).sin() * 4.0, (i as f64 * 0.3).cos()))
            .collect();
        let data = vec![
            w("data2.csv", format!("x,y\n{csv}").as_bytes()),
            w("data2.npy", &npy_2col(80)),
            w("data1.csv", b"1\n2\n3\n4\n"),
            w("bad.csv", b"1,2\n3,x\n"),
            w("wide.csv", b"1,2,3,4,5,6,7,8,9\n"),
            root.join("missing.csv"),
        ];
        // A trained model file and a checkpoint, from one step of `flowscore train`.
        let model = root.join("realnvp.flws");
        let ck = root.join("realnvp.ckpt");
        let req = TrainRequest {
            model: ModelName::Realnvp,
            data: data[0].display().to_string(),
            loss: Some(LossName::Nll),
            sde: None,
            hidden: None,
            steps: 2,
            batch: 8,
            lr: 1e-3,
            seed: 1,
            threads: 1,
            resume: None,
            checkpoint: Some(ck.clone()),
            checkpoint_every: 1,
            out: model.clone(),
        };
        TrainJob::new(req).unwrap().run(&mut |_| Ok(())).unwrap();
        let mut damaged = std::fs::read(&model).unwrap();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 1;
        let models = vec![model, w("damaged.flws", &damaged), root.join("missing.flws")];
        let checkpoints = vec![ck, w("junk.ckpt", b"FLWSCKPT junk"), root.join("missing.ckpt")];
        let out = root.join("scratch");
        std::fs::create_dir(&out).unwrap();
        let listing = listing(&root);
        Fixtures { _dir: dir, root, specs, data, models, checkpoints, out, listing }
    })
}

/// One of `from`, chosen by the path given.
fn pick(p: &Path, from: &[PathBuf]) -> PathBuf {
    let h = p
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(7u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    from[(h % from.len() as u64) as usize].clone()
}

/// An output path: the input it names (given → substituted pairs), the scratch directory
/// itself for a path without a file name, or a file of the same extension in it.
fn output(p: &Path, inputs: &[(PathBuf, PathBuf)], fx: &Fixtures) -> PathBuf {
    if let Some((_, s)) = inputs.iter().find(|(g, _)| g == p) {
        return s.clone();
    }
    match (p.file_name(), p.extension()) {
        (None, _) => fx.out.clone(),
        (Some(_), Some(e)) => {
            let mut name = OsString::from("o.");
            name.push(e);
            fx.out.join(name)
        }
        (Some(_), None) => fx.out.join("o"),
    }
}

/// Replaces a given input path by a fixture ([`pick`]), noting the (given, fixture) pair.
fn substitute(p: &mut Option<PathBuf>, fixtures: &[PathBuf], inputs: &mut Vec<(PathBuf, PathBuf)>) {
    if let Some(p) = p.as_mut() {
        let s = pick(p, fixtures);
        inputs.push((p.clone(), s.clone()));
        *p = s;
    }
}

fn check_line(msg: &str) {
    let line = one_line(msg);
    assert!(!line.contains('\n') && line.chars().count() <= MAX_MESSAGE, "message: {line}");
}

fuzz_target!(|bytes: &[u8]| {
    let fx = fixtures();
    let args = std::iter::once(OsString::from("flowscore"))
        .chain(bytes.split(|&b| b == 0).map(|a| OsString::from_vec(a.to_vec())));
    let mut cli = match parse_args(args) {
        Parsed::Command(c) => c,
        Parsed::Print(_) => return,
        Parsed::Error(msg) => return check_line(&msg),
    };
    match &mut cli.command {
        Command::Demo(_) => return,
        Command::Sample(a) => {
            let mut inputs = Vec::new();
            substitute(&mut a.target, &fx.specs, &mut inputs);
            substitute(&mut a.model, &fx.models, &mut inputs);
            a.out = output(&a.out, &inputs, fx);
        }
        Command::Loglik(a) => {
            let d = pick(&a.data, &fx.data);
            let mut inputs = vec![(a.data.clone(), d.clone())];
            a.data = d;
            substitute(&mut a.target, &fx.specs, &mut inputs);
            substitute(&mut a.model, &fx.models, &mut inputs);
            a.out = output(&a.out, &inputs, fx);
        }
        Command::Train(a) => {
            let mut inputs = Vec::new();
            if flowscore_std::data::ToySet::from_name(&a.data).is_none() {
                let d = pick(Path::new(&a.data), &fx.data);
                inputs.push((PathBuf::from(&a.data), d.clone()));
                a.data = d.display().to_string();
            }
            if let Some(r) = a.resume.as_mut() {
                let s = pick(r, &fx.checkpoints);
                inputs.push((r.clone(), s.clone()));
                *r = s;
            }
            let out = a.out.clone();
            a.out = output(&a.out, &inputs, fx);
            if let Some(c) = a.checkpoint.as_mut() {
                // The same output as --out stays the same.
                *c = if *c == out { a.out.clone() } else { output(c, &inputs, fx) };
                if *c == a.out && *c != out {
                    c.set_extension("ckpt");
                }
            }
        }
        Command::Eval(a) => {
            a.model = pick(&a.model, &fx.models);
            if flowscore_std::data::ToySet::from_name(&a.data).is_none() {
                a.data = pick(Path::new(&a.data), &fx.data).display().to_string();
            }
        }
    }
    match validate(cli) {
        Ok(job) => drop(job),
        Err(e) => check_line(&format!("{e:#}")),
    }
    let left: Vec<_> = std::fs::read_dir(&fx.out).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(left.is_empty(), "validation left files behind: {left:?}");
    assert!(listing(&fx.root) == fx.listing, "validation changed the fixtures");
});
