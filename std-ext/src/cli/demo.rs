//! `flowscore demo`: its arguments, handed to the demo job ([`crate::demo`]).

use std::path::PathBuf;

use clap::Args;

/// The arguments of `flowscore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output directory (created with its parents if missing; files already in it other
    /// than the demo's six are left alone).
    #[arg(long, value_name = "DIR", default_value = "out/demo")]
    pub out: PathBuf,
    /// Random seed.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
}

/// Runs the demo, printing its summary through the command line's printer.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::demo::run(&args.out, args.seed, &mut super::say).map(|_| ())
}
