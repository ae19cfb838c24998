//! The learned model in flash: `build.rs` loads `../models/sensor-flow.flws` on the host with the
//! core's loader and writes its layers as a `static` built by the core's `const` constructors
//! (each parameter from its bit pattern), so the anomaly detector scores readings with the
//! parameters where they lie in flash and spends no RAM on them. At boot the firmware compares
//! [`MODEL_CRC`], the file's CRC-32, with `flowscore::format::checksum_of(&LAYERS,
//! &STANDARDIZE)`: equal, the model it runs is the file's, bit for bit.

use crate::learned::SensorFlowLayers;
use flowscore::flow::maf::Maf;
use flowscore::flow::permute::Permutation;
use flowscore::format::Standardize;
use flowscore::nn::{Activation, Dense, Mlp};

/// `f32`s from their bit patterns.
const fn floats<const N: usize>(bits: [u32; N]) -> [f32; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        out[i] = f32::from_bits(bits[i]);
        i += 1;
    }
    out
}

/// A dense layer from the bit patterns of its weight rows and biases; a non-finite value stops
/// the build (the loader on the host has already refused those).
const fn dense<const IN: usize, const OUT: usize>(
    weight: [[u32; IN]; OUT],
    bias: [u32; OUT],
) -> Dense<IN, OUT> {
    let mut w = [[0.0; IN]; OUT];
    let mut o = 0;
    while o < OUT {
        w[o] = floats(weight[o]);
        o += 1;
    }
    match Dense::from_params(w, floats(bias)) {
        Ok(d) => d,
        Err(_) => panic!("a non-finite parameter in the model file"),
    }
}

/// One MAF layer (tanh MADE 2 → 16 → 16 → 4, masks applied) and the reversal after it.
const fn layer(
    input: Dense<2, 16>,
    hidden: [Dense<16, 16>; 1],
    output: Dense<16, 4>,
) -> (Maf<2, 16, 4>, Permutation<2>) {
    let net = Mlp { activation: Activation::Tanh, input, hidden, output };
    (Maf::new(net), Permutation::reverse())
}

/// The standardisation from the bit patterns of its shift and scale.
const fn standardize(shift: [u32; 2], scale: [u32; 2]) -> Standardize<2> {
    match Standardize::new(floats(shift), floats(scale)) {
        Ok(s) => s,
        Err(_) => panic!("an invalid standardisation in the model file"),
    }
}

include!(concat!(env!("OUT_DIR"), "/flash_model.rs"));

/// The flash-resident detector, once [`LAYERS`] and [`STANDARDIZE`] encode to the model file
/// (their streamed CRC-32 equals [`MODEL_CRC`]); otherwise the CRC-32 they give (0 when they
/// have no encoding).
pub fn verified() -> Result<crate::learned::LearnedDetector<&'static SensorFlowLayers>, u32> {
    match flowscore::format::checksum_of(&LAYERS, &STANDARDIZE) {
        Ok(crc) if crc == MODEL_CRC => {
            Ok(crate::learned::LearnedDetector::in_flash(&LAYERS, STANDARDIZE))
        }
        Ok(crc) => Err(crc),
        Err(_) => Err(0),
    }
}
