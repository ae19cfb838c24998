//! The demo's five PNG figures, drawn on [`crate::plot`]'s panels.

use std::path::{Path, PathBuf};

use flowscore::flow::Bijector;
use flowscore::flow::planar::Planar;
use flowscore::rng::Streams;
use plotters::prelude::*;

use super::{FLOW_SAMPLES, Mix, PLANAR_LAYERS, ReverseSets, SamplerRow, TrajectorySets, sub_seed};
use crate::plot::{self, FONT, plot_err};
use crate::sde_kind::AnySde;

const RANGE: (f64, f64) = (-9.0, 9.0);

pub(super) fn density(out: &Path, mix: &Mix) -> anyhow::Result<PathBuf> {
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

pub(super) fn langevin(
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

pub(super) fn reverse(
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

pub(super) fn trajectories(out: &Path, trajectories: &TrajectorySets) -> anyhow::Result<PathBuf> {
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

pub(super) fn planar(out: &Path, seed: u64) -> anyhow::Result<PathBuf> {
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
