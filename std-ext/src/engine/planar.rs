//! TEMPORARY ADAPTER (until `flowscore::flow::Planar` is available): planar layers
//! f(z) = z + û tanh(wᵀz + b) (Rezende & Mohamed 2015, MATH.md §1) in f64, forward only.

/// One planar layer with û already made invertible (wᵀû > −1).
#[derive(Clone, Copy, Debug)]
pub struct Planar<const D: usize> {
    u_hat: [f64; D],
    w: [f64; D],
    b: f64,
}

fn softplus(x: f64) -> f64 {
    if x > 0.0 { x + (-x).exp().ln_1p() } else { x.exp().ln_1p() }
}

impl<const D: usize> Planar<D> {
    /// A layer from free parameters u, w, b: û = u + (m(wᵀu) − wᵀu) w/‖w‖², m(s) = −1 + softplus(s).
    pub fn new(u: [f64; D], w: [f64; D], b: f64) -> Self {
        let wu: f64 = (0..D).map(|i| w[i] * u[i]).sum();
        let ww: f64 = w.iter().map(|v| v * v).sum();
        let u_hat = if ww > 0.0 {
            let m = -1.0 + softplus(wu);
            core::array::from_fn(|i| u[i] + (m - wu) * w[i] / ww)
        } else {
            u
        };
        Self { u_hat, w, b }
    }

    /// x = f(z) and log|det ∂f/∂z| = log|1 + h'(wᵀz + b) ûᵀw|.
    pub fn forward(&self, z: &[f64; D]) -> ([f64; D], f64) {
        let a: f64 = (0..D).map(|i| self.w[i] * z[i]).sum::<f64>() + self.b;
        let h = a.tanh();
        let uw: f64 = (0..D).map(|i| self.u_hat[i] * self.w[i]).sum();
        let x = core::array::from_fn(|i| z[i] + self.u_hat[i] * h);
        (x, (1.0 + (1.0 - h * h) * uw).abs().ln())
    }
}

/// The demo's 10-layer planar flow in 2-D: hyperplanes at ten angles, pushing N(0, I) into a
/// multi-lobed density.
pub fn demo_flow() -> Vec<Planar<2>> {
    (0..10)
        .map(|i| {
            let ang = i as f64 * 0.7 * core::f64::consts::PI;
            let (s, c) = ang.sin_cos();
            let w = [3.0 * c, 3.0 * s];
            let u = [2.0 * c - 0.6 * s, 2.0 * s + 0.6 * c];
            let b = if i % 2 == 0 { 0.5 } else { -0.5 };
            Planar::new(u, w, b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log-det equals the log of a central-difference Jacobian determinant.
    #[test]
    fn log_det_matches_finite_differences() {
        for layer in demo_flow() {
            let z = [0.3, -0.7];
            let (_, ld) = layer.forward(&z);
            let h = 1e-6;
            let mut j = [[0.0; 2]; 2];
            for c in 0..2 {
                let mut zp = z;
                let mut zm = z;
                zp[c] += h;
                zm[c] -= h;
                let (xp, _) = layer.forward(&zp);
                let (xm, _) = layer.forward(&zm);
                for r in 0..2 {
                    j[r][c] = (xp[r] - xm[r]) / (2.0 * h);
                }
            }
            let det = j[0][0] * j[1][1] - j[0][1] * j[1][0];
            assert!((det.abs().ln() - ld).abs() < 1e-6, "{} vs {ld}", det.abs().ln());
        }
    }
}
