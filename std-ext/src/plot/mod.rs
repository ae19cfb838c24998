//! PNG figures with plotters' bitmap backend: a figure with a title, square panels, scatter
//! layers, legends and a colour map. The text font (Ubuntu Light, shipped by the
//! `epaint_default_fonts` crate) is embedded and registered with plotters' `ab_glyph` renderer,
//! so figures render the same on a headless machine with no system fonts.
//!
//! Figures are written where they are asked for; the commands draw them into a staging
//! directory ([`crate::io::StagedDir`]) that is moved into place when every output is
//! complete.

use std::path::Path;
use std::sync::Once;

use anyhow::anyhow;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Font family name under which the embedded font is registered.
pub const FONT: &str = "sans-serif";

static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        // The bytes are a valid TrueType font shipped by the crate; a failure would only make
        // text invisible, never abort.
        let _ = plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        );
    });
}

/// A drawing area of a figure being built.
pub type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// A 2-D chart with f64 axes on a figure being built.
pub type Chart<'a, 'b> =
    ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a `width` × `height` figure with `draw` and writes it to `path`.
pub fn figure(
    path: &Path,
    size: (u32, u32),
    title: &str,
    draw: impl FnOnce(&Area<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    register_font();
    let root = BitMapBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let body = root.titled(title, (FONT, 26)).map_err(plot_err)?;
    draw(&body)?;
    root.present().map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Converts a plotters error into an error value.
pub fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

/// A viridis-like colour map on [0, 1].
pub fn colormap(v: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] =
        [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)];
    let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
    let x = v * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let lerp = |a: u8, b: u8| (a as f64 + f * (b as f64 - a as f64)).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

/// A square 2-D panel with axes labelled x0, x1 over `range` × `range`.
pub fn panel<'a, 'b>(
    area: &'a Area<'b>,
    caption: &str,
    range: (f64, f64),
    yrange: (f64, f64),
) -> anyhow::Result<Chart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(8)
        .x_label_area_size(34)
        .y_label_area_size(40)
        .build_cartesian_2d(range.0..range.1, yrange.0..yrange.1)
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("x0")
        .y_desc("x1")
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_err)?;
    Ok(chart)
}

/// Scatter of 2-D points with a legend entry.
pub fn scatter(
    chart: &mut Chart<'_, '_>,
    points: &[[f64; 2]],
    color: RGBColor,
    label: &str,
) -> anyhow::Result<()> {
    chart
        .draw_series(points.iter().map(|p| Circle::new((p[0], p[1]), 1, color.mix(0.45).filled())))
        .map_err(plot_err)?
        .label(label.to_string())
        .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
    Ok(())
}

/// Draws the legend box of a chart.
pub fn legend<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .draw()
        .map_err(plot_err)?;
    Ok(())
}
