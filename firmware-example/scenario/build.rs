//! Writes `flash_model.rs`: the learned model file (`../models/sensor-flow.flws`), loaded here
//! on the host by the core's loader (every check of `format::load`), as a `static` of the core's
//! layer types built by their `const` constructors, so that a device runs it from flash with no
//! RAM for its parameters; with the file's CRC-32, which the firmware compares at boot with
//! `format::checksum_of` of that static (equal: the model it runs encodes to the file's bytes).
//! Parameters are written as their bit patterns, so nothing is rounded. With the
//! `planted-corruption` feature one bit of one weight is flipped, as a damaged flash page would
//! hold it, and the check must refuse the model.
use std::fmt::Write as _;
use std::{env, fs, path::PathBuf};

use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::format;
use flowscore::nn::{Activation, Dense};

/// `learned::SensorFlowLayers` (the generated code names that alias, so the two must agree for
/// it to compile).
type SensorFlowLayers = [(Maf<2, 16, 4>, Permutation<2>); 4];
/// The model file.
const MODEL_PATH: &str = "../models/sensor-flow.flws";

/// The weight whose lowest mantissa bit `planted-corruption` flips: layer 2's hidden layer,
/// row 5, column 7 (an unmasked weight of the MADE).
const PLANTED: (usize, usize, usize) = (2, 5, 7);

fn bits_row(row: &[f32]) -> String {
    let v: Vec<String> = row.iter().map(|x| format!("{:#010x}", x.to_bits())).collect();
    format!("[{}]", v.join(", "))
}

fn dense<const IN: usize, const OUT: usize>(
    d: &Dense<IN, OUT>,
    flip: Option<(usize, usize)>,
) -> String {
    let mut w = *d.weight();
    if let Some((r, c)) = flip {
        assert!(w[r][c] != 0.0, "the planted bit is in an unmasked weight");
        w[r][c] = f32::from_bits(w[r][c].to_bits() ^ 1);
    }
    let rows: Vec<String> = w.iter().map(|r| bits_row(r)).collect();
    format!("dense([{}], {})", rows.join(", "), bits_row(d.bias()))
}

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    println!("cargo:rerun-if-changed={MODEL_PATH}");
    println!("cargo:rerun-if-changed=build.rs");
    let model = fs::read(MODEL_PATH).expect("the model file is readable");
    let model = model.as_slice();

    let planted = env::var_os("CARGO_FEATURE_PLANTED_CORRUPTION").is_some();
    let (layers, standardize) = format::load::<SensorFlowLayers, 2>(model)
        .unwrap_or_else(|e| panic!("models/sensor-flow.flws does not load: {e}"));
    let crc = u32::from_le_bytes(model[model.len() - 4..].try_into().expect("four bytes"));
    let mut src = String::new();
    writeln!(src, "// Written by build.rs from models/sensor-flow.flws; do not edit.").unwrap();
    let mut items = Vec::new();
    for (k, (maf, perm)) in layers.iter().enumerate() {
        assert!(*perm == Permutation::reverse(), "layer {k}: the flow reverses between layers");
        let net = maf.made();
        assert!(net.activation == Activation::Tanh, "layer {k}: tanh");
        let flip = |part: usize| {
            (planted && PLANTED.0 == k && part == 1).then_some((PLANTED.1, PLANTED.2))
        };
        items.push(format!(
            "layer({}, [{}], {})",
            dense(&net.input, flip(0)),
            dense(&net.hidden[0], flip(1)),
            dense(&net.output, flip(2))
        ));
    }
    writeln!(src, "/// The learned flow's layers, in flash.").unwrap();
    writeln!(src, "pub static LAYERS: SensorFlowLayers = [\n    {},\n];", items.join(",\n    "))
        .unwrap();
    writeln!(
        src,
        "/// The model file's standardisation.\npub static STANDARDIZE: Standardize<2> = standardize({}, {});",
        bits_row(standardize.shift()),
        bits_row(standardize.scale())
    )
    .unwrap();
    writeln!(src, "/// The model file's CRC-32 (its last four bytes).\npub const MODEL_CRC: u32 = {crc:#010x};").unwrap();
    writeln!(
        src,
        "/// The model file's length in bytes.\npub const MODEL_LEN: usize = {};",
        model.len()
    )
    .unwrap();
    fs::write(out.join("flash_model.rs"), src).expect("OUT_DIR is writable");
}
