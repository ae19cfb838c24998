//! The example's models, fixed at compile time: an 8-component 2-D Gaussian mixture (the
//! "8 Gaussians" ring, closed-form score under any SDE) and a 10-layer planar flow.

use flowscore::Error;
use flowscore::dist::StandardNormal;
use flowscore::flow::{Flow, Planar};
use flowscore::score::GaussianMixture;

/// Components of the mixture.
pub const COMPONENTS: usize = 8;
/// Planar layers of the flow.
pub const PLANAR_LAYERS: usize = 10;
/// Radius of the ring the mixture's means sit on (the simulated sensor's signal follows it).
pub const RING_RADIUS: f32 = 2.0;
/// Per-axis variance of each component (σ = 0.3: the components barely overlap).
pub const COMPONENT_VARIANCE: f32 = 0.09;

/// The 10-layer planar flow over a standard normal base.
pub type PlanarFlow = Flow<StandardNormal, [Planar<2>; PLANAR_LAYERS]>;
/// The 8-component mixture.
pub type Mixture = GaussianMixture<2, COMPONENTS>;

/// Planar layers (u, w, b): dyadic values (exact in `f32`), each a mild warp; `Planar::new`
/// applies the invertibility correction û where wᵀu < −1 would need it.
const PLANAR_PARAMETERS: [([f32; 2], [f32; 2], f32); PLANAR_LAYERS] = [
    ([0.5, -0.25], [1.0, 0.5], 0.0),
    ([-0.375, 0.5], [0.25, 1.0], 0.5),
    ([0.25, 0.25], [-1.0, 0.75], -0.25),
    ([0.5, 0.125], [0.5, -0.5], 0.25),
    ([-0.25, -0.5], [0.75, 0.25], -0.5),
    ([0.125, -0.375], [-0.5, -1.0], 0.125),
    ([0.375, 0.25], [1.0, -0.25], 0.0),
    ([-0.5, 0.25], [-0.25, 0.5], 0.375),
    ([0.25, -0.125], [0.5, 0.75], -0.125),
    ([-0.125, 0.375], [-0.75, 0.25], 0.25),
];

/// The planar flow.
pub fn planar_flow() -> Result<PlanarFlow, Error> {
    let mut layers = [Planar::new([0.0; 2], [0.0; 2], 0.0)?; PLANAR_LAYERS];
    for (layer, (u, w, b)) in layers.iter_mut().zip(PLANAR_PARAMETERS) {
        *layer = Planar::new(u, w, b)?;
    }
    Ok(Flow::new(StandardNormal, layers))
}

/// 2048·(cos, sin)(2πk/8) / 1024, the ring points in sensor units (what the device replays).
const RING_MEANS: [[f32; 2]; COMPONENTS] = [
    [2.0, 0.0],
    [1.414_062_5, 1.414_062_5],
    [0.0, 2.0],
    [-1.414_062_5, 1.414_062_5],
    [-2.0, 0.0],
    [-1.414_062_5, -1.414_062_5],
    [0.0, -2.0],
    [1.414_062_5, -1.414_062_5],
];

/// The mixture: equal weights, means on the radius-2 ring, isotropic covariance.
pub fn mixture() -> Result<Mixture, Error> {
    let v = COMPONENT_VARIANCE;
    GaussianMixture::new([0.125; COMPONENTS], RING_MEANS, [[[v, 0.0], [0.0, v]]; COMPONENTS])
}
