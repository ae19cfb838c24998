//! The demo's progress lines on stderr: drawn with the `cli` feature when stderr is a terminal,
//! hidden otherwise (they never change the outputs).

#[cfg(feature = "cli")]
use std::io::IsTerminal;

#[cfg(feature = "cli")]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

/// A progress line of `len` steps.
#[cfg(feature = "cli")]
pub(super) fn bar(len: usize, msg: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(len as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:34} [{bar:30}] {pos}/{len} {elapsed_precise}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(msg.to_string());
    pb
}

/// A progress line that draws nothing (built without the `cli` feature).
#[cfg(not(feature = "cli"))]
pub(super) fn bar(_len: usize, _msg: &str) -> Hidden {
    Hidden
}

/// A progress line that draws nothing.
#[cfg(not(feature = "cli"))]
pub(super) struct Hidden;

#[cfg(not(feature = "cli"))]
impl Hidden {
    /// Does nothing.
    pub(super) fn inc(&self, _n: u64) {}
    /// Does nothing.
    pub(super) fn finish_and_clear(&self) {}
}

/// Draws `n` samples in parallel (sample i from `f(i)`), with a progress bar.
pub(super) fn draw<T: Send>(
    n: usize,
    msg: &str,
    f: impl Fn(u64) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Vec<T>> {
    let pb = bar(n, msg);
    let out: Vec<anyhow::Result<T>> = (0..n as u64)
        .into_par_iter()
        .map(|i| {
            let r = f(i);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();
    out.into_iter().collect()
}
