//! UniPC's samples, point by point, for a comparison with the reference implementation of
//! Zhao et al. (`benches/peers/unipc_reference.py`): the first 500 exact p_T start points of
//! `examples/sampler_quality.rs` (seed 606) on its two mixtures under VP, carried to ε = 1e-3 in
//! `f64` by UniPC (√t steps) of orders 3 and 2, B(h) = e^{−h} − 1 and −h, at 10, 20 and 50
//! evaluations.
//!
//! ```sh
//! cargo run --release --example unipc_points -- --out DIR
//! ```
//!
//! writes `DIR/unipc_2d.csv` and `DIR/unipc_8d.csv`, rows `variant,steps,index,x₁,…,x_D`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::random_mixture;
use flowscore::rng::Streams;
use flowscore::sample::{LaneSampler, Spacing, UniPc, UniPcVariant};
use flowscore::score::{GaussianMixture, MixtureScore};
use flowscore::sde::{SAMPLING_EPS_VP, Sde, Vp};

/// Start points per mixture.
const POINTS: u64 = 500;
/// The start points' seed (`examples/sampler_quality.rs`'s START_SEED).
const START_SEED: u64 = 606;

fn write<const D: usize, const K: usize>(m: GaussianMixture<D, K>, path: &Path) {
    let sde = Vp::default();
    let model: MixtureScore<D, K, Vp> = m.under(sde);
    let mut text = String::new();
    let variants = [
        ("bh2-3", 3u32, UniPcVariant::Bh2),
        ("bh1-3", 3, UniPcVariant::Bh1),
        ("bh2-2", 2, UniPcVariant::Bh2),
    ];
    for (tag, order, variant) in variants {
        for steps in [10u32, 20, 50] {
            let s = UniPc::with(
                sde,
                steps,
                SAMPLING_EPS_VP,
                Spacing::Time { power: 2.0 },
                order,
                variant,
            )
            .unwrap()
            .starting_from_input();
            for i in 0..POINTS {
                let start: [f32; D] =
                    model.sample_at(sde.t_max(), &mut Streams::<f32>::new(START_SEED, i));
                let mut x = start.map(f64::from);
                s.run(&model, &mut x, &mut Streams::<f64>::new(0, i));
                let row: Vec<String> = x.iter().map(|v| format!("{v:e}")).collect();
                let _ = writeln!(text, "{tag},{steps},{i},{}", row.join(","));
            }
        }
    }
    std::fs::write(path, text).expect("write the points");
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = match (args.next().as_deref(), args.next()) {
        (Some("--out"), Some(d)) if Path::new(&d).is_dir() => PathBuf::from(d),
        _ => {
            eprintln!("error: use --out DIR (an existing directory)");
            std::process::exit(2);
        }
    };
    write(random_mixture::<2, 8>(41), &dir.join("unipc_2d.csv"));
    write(random_mixture::<8, 5>(42), &dir.join("unipc_8d.csv"));
    println!("wrote {0}/unipc_2d.csv and {0}/unipc_8d.csv", dir.display());
}
