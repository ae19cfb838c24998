//! The core's Jacobi eigen-solver (`score::covariance::jacobi`) against nalgebra's
//! `SymmetricEigen` (a tridiagonal QR solver, the reference) on random symmetric positive-definite
//! matrices of every D = 1..=8, conditioned up to 10¹²: the same eigenvalues, and a
//! decomposition A = V Λ Vᵀ with orthonormal V, to `f64` round-off. Also: a matrix that is
//! already diagonal, one with repeated eigenvalues, and non-finite input.

use flowscore::rng::{LaneSource, Streams};
use flowscore::score::covariance::jacobi;
use nalgebra::allocator::Allocator;
use nalgebra::{
    ArrayStorage, Const, DefaultAllocator, DimDiff, DimSub, SMatrix, SymmetricEigen, U1,
};

/// Q diag(λ) Qᵀ with Q orthonormal (Gram–Schmidt of a normal matrix) and λ spread over
/// `decades` decades (geometric), seeded.
fn spd<const D: usize>(seed: u64, decades: f64) -> [[f64; D]; D] {
    let mut rng = Streams::<f64>::new(seed, 0);
    let mut q: [[f64; D]; D] = core::array::from_fn(|_| rng.normal_array());
    for j in 0..D {
        for k in 0..j {
            let qk = q[k];
            let dot: f64 = q[j].iter().zip(&qk).map(|(a, b)| a * b).sum();
            for (x, y) in q[j].iter_mut().zip(&qk) {
                *x -= dot * y;
            }
        }
        let n = q[j].iter().map(|x| x * x).sum::<f64>().sqrt();
        for x in q[j].iter_mut() {
            *x /= n;
        }
    }
    let lambda: [f64; D] =
        core::array::from_fn(|j| 10f64.powf(decades * j as f64 / (D.max(2) - 1) as f64));
    core::array::from_fn(|r| {
        core::array::from_fn(|c| (0..D).map(|j| q[j][r] * lambda[j] * q[j][c]).sum())
    })
}

fn check<const D: usize>(a: [[f64; D]; D])
where
    Const<D>: DimSub<U1>,
    DefaultAllocator: Allocator<DimDiff<Const<D>, U1>>,
{
    let (lambda, v) = jacobi(a).expect("Jacobi converges");
    let scale = a.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
    // A = V Λ Vᵀ and Vᵀ V = I.
    for r in 0..D {
        for c in 0..D {
            let back: f64 = (0..D).map(|j| v[r][j] * lambda[j] * v[c][j]).sum();
            assert!((back - a[r][c]).abs() <= 1e-13 * scale, "A[{r}][{c}]: {back} vs {}", a[r][c]);
            let dot: f64 = (0..D).map(|i| v[i][r] * v[i][c]).sum();
            let id = if r == c { 1.0 } else { 0.0 };
            assert!((dot - id).abs() <= 1e-13, "VᵀV[{r}][{c}] = {dot}");
        }
    }
    // The reference's eigenvalues, sorted.
    // Column-major storage: column j holds (a₀ⱼ, …); `a` is symmetric, so rows serve as columns.
    let m = SMatrix::<f64, D, D>::from_data(ArrayStorage(a));
    let reference = SymmetricEigen::new(m);
    let mut want: Vec<f64> = reference.eigenvalues.iter().copied().collect();
    let mut got = lambda.to_vec();
    want.sort_by(f64::total_cmp);
    got.sort_by(f64::total_cmp);
    let lmax = want.last().copied().unwrap_or(0.0).abs();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-12 * lmax, "eigenvalue {g} vs {w}");
    }
}

#[test]
fn jacobi_agrees_with_the_reference_for_every_d() {
    fn all<const D: usize>()
    where
        Const<D>: DimSub<U1>,
        DefaultAllocator: Allocator<DimDiff<Const<D>, U1>>,
    {
        for seed in 0..20 {
            for decades in [0.0, 3.0, 8.0, 12.0] {
                check::<D>(spd::<D>(seed * 31 + D as u64, decades));
            }
        }
    }
    all::<1>();
    all::<2>();
    all::<3>();
    all::<4>();
    all::<5>();
    all::<6>();
    all::<7>();
    all::<8>();
}

#[test]
fn special_matrices() {
    // Diagonal: returned as is, V = I, no sweep needed.
    let (l, v) = jacobi([[3.0, 0.0], [0.0, 0.5]]).unwrap();
    assert_eq!((l, v), ([3.0, 0.5], [[1.0, 0.0], [0.0, 1.0]]));
    // Repeated eigenvalues (2, 2, 5): any orthonormal basis of the 2-eigenspace will do.
    let a = [[3.0, 1.0, 1.0], [1.0, 3.0, 1.0], [1.0, 1.0, 3.0]];
    check(a);
    let (mut l, _) = jacobi(a).unwrap();
    l.sort_by(f64::total_cmp);
    assert!((l[0] - 2.0).abs() < 1e-14 && (l[1] - 2.0).abs() < 1e-14 && (l[2] - 5.0).abs() < 1e-14);
    // Non-finite input: refused at once.
    assert!(jacobi([[f64::NAN, 1.0], [1.0, 1.0]]).is_none());
    assert!(jacobi([[f64::INFINITY, 0.0], [0.0, 1.0]]).is_none());
    // A huge off-diagonal ratio (θ far beyond 1e150 is handled without overflow).
    check([[1e-300, 1e-160], [1e-160, 1e300]]);
}
