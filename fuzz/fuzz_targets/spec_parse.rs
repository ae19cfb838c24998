//! Fuzz target: the SPEC.json parser and the standardisation of the mixture it accepts.
//!
//! No input may panic. A spec that parses satisfies what validation promises (D within
//! 1..=8, K within 1..=16, weights ≥ 0 summing to 1, symmetric covariances of the right
//! shape), and its standardisation either succeeds with a finite map whose inverse undoes it or
//! is an error value.
#![no_main]

use flowscore_std::io::spec::{MAX_COMPONENTS, MAX_DIM, Spec, WEIGHT_SUM_TOL};
use flowscore_std::jobs::Standardised;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let text = String::from_utf8_lossy(bytes);
    let Ok(spec) = Spec::parse(&text, "SPEC.json") else { return };
    let (d, k) = (spec.dim, spec.weights.len());
    assert!((1..=MAX_DIM).contains(&d) && (1..=MAX_COMPONENTS).contains(&k));
    assert_eq!(spec.means.len(), k);
    assert_eq!(spec.covariances.len(), k);
    assert!(spec.weights.iter().all(|w| w.is_finite() && *w >= 0.0));
    assert!((spec.weights.iter().sum::<f64>() - 1.0).abs() <= WEIGHT_SUM_TOL);
    for (m, c) in spec.means.iter().zip(&spec.covariances) {
        assert_eq!(m.len(), d);
        assert!(c.len() == d && c.iter().all(|r| r.len() == d));
        for i in 0..d {
            for j in 0..d {
                assert!(c[i][j].is_finite());
            }
        }
    }
    let Ok(std) = Standardised::new(&spec) else { return };
    // x → z → x is the identity up to rounding at each component's mean: forward substitution
    // is backward stable, so the error is within a few d·ε of |L||z| + |m| + |x|, whatever
    // the condition number.
    let mut z = vec![0.0; d];
    let mut back = vec![0.0; d];
    for x in &spec.means {
        std.to_standard(x, &mut z);
        assert!(z.iter().all(|v| v.is_finite()), "standard coordinates of a mean: {z:?}");
        std.from_standard(&z, &mut back);
        for i in 0..d {
            let lz: f64 = (0..=i).map(|j| (std.factor[(i, j)] * z[j]).abs()).sum();
            let bound = 1e-12 * (lz + std.mean[i].abs() + x[i].abs());
            assert!((x[i] - back[i]).abs() <= bound, "{} -> {} (bound {bound})", x[i], back[i]);
        }
    }
    // The standardised target has mean 0 and covariance I.
    let s = &std.spec;
    for i in 0..d {
        let mean: f64 = s.weights.iter().zip(&s.means).map(|(w, m)| w * m[i]).sum();
        assert!(mean.abs() <= 1e-6, "standardised mean {mean}");
    }
});
