//! The figure and the comparison table of the sampler-quality benchmark: reads the points that
//! `examples/sampler_quality.rs` (`DIR/flowscore.json`) and, when present, the peer script
//! `benches/peers/kdiffusion_samplers.py` (`DIR/kdiffusion.json`) wrote, draws energy distance
//! against score evaluations per sample (log–log, one panel per mixture, the exact-vs-exact
//! noise floor as a grey band) into PNG, and prints a Markdown table with one column per budget
//! (adaptive samplers: the best point whose mean NFE is within the budget).
//!
//! ```sh
//! cargo run --release -p flowscore-std --example sampler_quality_plot -- DIR OUT.png
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use flowscore_std::plot::{FONT, figure, plot_err};
use plotters::prelude::*;
use serde::Deserialize;

/// The budgets of the table's columns.
const BUDGETS: [f64; 6] = [10.0, 20.0, 50.0, 100.0, 250.0, 1000.0];

#[derive(Deserialize)]
struct Results {
    peer: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    #[serde(default)]
    floor: Option<f64>,
    #[serde(default)]
    floor_min: Option<f64>,
    #[serde(default)]
    floor_max: Option<f64>,
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Row {
    sampler: String,
    adaptive: bool,
    points: Vec<Point>,
}

#[derive(Deserialize, Clone, Copy)]
struct Point {
    nfe: f64,
    energy: Option<f64>,
    #[serde(default)]
    weight_error: Option<f64>,
}

fn read(path: &Path) -> anyhow::Result<Results> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a results file", path.display()))
}

/// A row's value at budget `b`: its point at `b` (fixed-step samplers) or its best point with
/// mean NFE ≤ `b` (adaptive samplers), with that point's NFE.
fn at_budget(r: &Row, b: f64) -> Option<Point> {
    let ok = r.points.iter().filter(|p| p.energy.is_some_and(f64::is_finite));
    if r.adaptive {
        ok.filter(|p| p.nfe <= b)
            .copied()
            .min_by(|p, q| p.energy.unwrap().total_cmp(&q.energy.unwrap()))
    } else {
        ok.copied().find(|p| p.nfe == b)
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        return Err(anyhow!("usage: sampler_quality_plot DIR OUT.png"));
    };
    let dir = PathBuf::from(dir);
    let ours = read(&dir.join("flowscore.json"))?;
    let peer_path = dir.join("kdiffusion.json");
    let peer = if peer_path.exists() { Some(read(&peer_path)?) } else { None };

    // The table.
    for (ci, case) in ours.cases.iter().enumerate() {
        let pc = peer.as_ref().and_then(|p| p.cases.get(ci));
        println!("\n### {}\n", case.name);
        if let Some(f) = case.floor {
            println!("Exact vs exact (noise floor): {f:.2e}\n");
        }
        print!("| sampler |");
        for b in BUDGETS {
            print!(" {b} |");
        }
        println!("\n|---|{}", "---:|".repeat(BUDGETS.len()));
        let rows = case.rows.iter().map(|r| (&ours.peer, r));
        let prow =
            pc.into_iter().flat_map(|c| c.rows.iter()).map(|r| (&peer.as_ref().unwrap().peer, r));
        for (who, r) in rows.chain(prow) {
            let cells: Vec<String> = BUDGETS
                .iter()
                .map(|&b| match at_budget(r, b) {
                    Some(p) if r.adaptive => format!(
                        "{:.2e} ({:.3}; {:.0})",
                        p.energy.unwrap(),
                        p.weight_error.unwrap_or(f64::NAN),
                        p.nfe
                    ),
                    Some(p) => {
                        format!(
                            "{:.2e} ({:.3})",
                            p.energy.unwrap(),
                            p.weight_error.unwrap_or(f64::NAN)
                        )
                    }
                    None => "–".into(),
                })
                .collect();
            let name = if who == "flowscore" {
                r.sampler.clone()
            } else {
                format!("{who}: {}", r.sampler)
            };
            println!("| {name} | {} |", cells.join(" | "));
        }
    }

    // The figure: one panel per mixture.
    let colours = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(127, 127, 127),
        RGBColor(0, 0, 0),
        RGBColor(255, 187, 120),
        RGBColor(152, 223, 138),
        RGBColor(174, 199, 232),
        RGBColor(197, 176, 213),
    ];
    let n = ours.cases.len();
    figure(
        Path::new(out),
        (760 * n as u32, 640),
        "Energy distance to exact samples vs score evaluations per sample (VP, exact score)",
        |area| {
            let panels = area.split_evenly((1, n));
            for (ci, (case, panel)) in ours.cases.iter().zip(panels.iter()).enumerate() {
                let mut series: Vec<(String, bool, &Row)> =
                    case.rows.iter().map(|r| (r.sampler.clone(), false, r)).collect();
                if let Some(p) = peer.as_ref().and_then(|p| p.cases.get(ci)) {
                    series.extend(
                        p.rows.iter().map(|r| (format!("k-diffusion {}", r.sampler), true, r)),
                    );
                }
                let all: Vec<f64> = series
                    .iter()
                    .flat_map(|(_, _, r)| r.points.iter().filter_map(|p| p.energy))
                    .filter(|v| v.is_finite() && *v > 0.0)
                    .chain(case.floor_min.or(case.floor))
                    .collect();
                let lo = all.iter().copied().fold(f64::INFINITY, f64::min) * 0.7;
                let hi = all.iter().copied().fold(0.0, f64::max).min(1.0) * 1.5;
                let mut chart = ChartBuilder::on(panel)
                    .caption(&case.name, (FONT, 22))
                    .margin(12)
                    .x_label_area_size(44)
                    .y_label_area_size(70)
                    .build_cartesian_2d((8f64..1500f64).log_scale(), (lo..hi).log_scale())
                    .map_err(plot_err)?;
                chart
                    .configure_mesh()
                    .x_desc("score evaluations per sample (mean for adaptive samplers)")
                    .y_desc("sliced energy distance")
                    .label_style((FONT, 15))
                    .y_label_formatter(&|v| format!("{v:.0e}"))
                    .draw()
                    .map_err(plot_err)?;
                let floor = case.floor.unwrap_or(f64::NAN);
                let (fl, fh) = (case.floor_min.unwrap_or(floor), case.floor_max.unwrap_or(floor));
                chart
                    .draw_series([Rectangle::new(
                        [(8.0, fl), (1500.0, fh)],
                        RGBColor(225, 225, 225).filled(),
                    )])
                    .map_err(plot_err)?
                    .label("exact vs exact (noise floor)")
                    .legend(|(x, y)| {
                        Rectangle::new(
                            [(x, y - 5), (x + 18, y + 5)],
                            RGBColor(200, 200, 200).filled(),
                        )
                    });
                for (si, (name, dashed, r)) in series.iter().enumerate() {
                    let c = colours[si % colours.len()];
                    let mut pts: Vec<(f64, f64)> = r
                        .points
                        .iter()
                        .filter_map(|p| {
                            p.energy.filter(|v| v.is_finite() && *v > 0.0).map(|e| (p.nfe, e))
                        })
                        .collect();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let style = c.stroke_width(2);
                    let anno = if *dashed {
                        chart
                            .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
                            .map_err(plot_err)?
                    } else {
                        chart.draw_series(LineSeries::new(pts.clone(), style)).map_err(plot_err)?
                    };
                    anno.label(name.as_str()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                    });
                    if *dashed {
                        chart
                            .draw_series(pts.iter().map(|&p| TriangleMarker::new(p, 5, c.filled())))
                            .map_err(plot_err)?;
                    } else {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
                            .map_err(plot_err)?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font((FONT, 13))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(plot_err)?;
            }
            Ok(())
        },
    )?;
    println!("\nwrote {out}");
    Ok(())
}
