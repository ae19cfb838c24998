//! The `flowscore` command: see `flowscore --help`.
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(flowscore_std::cli::main_with_args(std::env::args_os()));
}
