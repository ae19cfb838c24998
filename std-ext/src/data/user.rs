//! User data: an N × D table of points (1 ≤ D ≤ [`MAX_USER_DIM`]) read from NPY or CSV with
//! typed errors, a seeded held-out split, and the per-dimension standardisation fitted on the
//! training split, with the log-determinant that converts densities between standard
//! coordinates and the user's units.

use std::fmt;
use std::path::Path;

use flowscore::rng::{LaneSource, Streams};

use super::readers::{MAX_DATA_MAGNITUDE, read_csv, read_npy};
use super::table::{Format, Table};

/// The largest data dimension D accepted (the const-generic core is dispatched up to 8).
pub const MAX_USER_DIM: usize = 8;

/// Why user data were rejected.
#[derive(Clone, Debug, PartialEq)]
pub enum DataError {
    /// The file could not be read or parsed (the reader's message).
    Read(String),
    /// The file holds no data rows.
    Empty,
    /// The width D is outside 1..=[`MAX_USER_DIM`], or not the width expected.
    Width {
        /// The width found.
        found: usize,
        /// The width expected (`None`: any of 1..=[`MAX_USER_DIM`]).
        expected: Option<usize>,
    },
    /// A value is NaN or infinite.
    NotFinite {
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
    },
    /// A value's magnitude is beyond [`MAX_DATA_MAGNITUDE`] (its square would overflow f64 in
    /// the standardisation).
    TooLarge {
        /// Its row.
        row: usize,
        /// Its column.
        col: usize,
    },
    /// A split or standardisation parameter is out of range (the message says which).
    Invalid(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataError::Read(m) => write!(f, "{m}"),
            DataError::Empty => write!(f, "no data rows"),
            DataError::Width { found, expected: Some(e) } => {
                write!(f, "data have {found} columns, expected {e}")
            }
            DataError::Width { found, expected: None } => {
                write!(f, "data have {found} columns, expected 1..={MAX_USER_DIM}")
            }
            DataError::NotFinite { row, col } => write!(f, "row {row} column {col} is not finite"),
            DataError::TooLarge { row, col } => write!(
                f,
                "row {row} column {col} is beyond the supported magnitude {MAX_DATA_MAGNITUDE:e}"
            ),
            DataError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for DataError {}

/// Reads N × D points from `.npy` (float32 or float64, shape (N, D) or (N,)) or `.csv` (header
/// optional): at least one row, D within 1..=[`MAX_USER_DIM`] (and equal to `expected_dim`
/// when given), every value finite and at most [`MAX_DATA_MAGNITUDE`] in magnitude.
pub fn read_points(path: &Path, expected_dim: Option<usize>) -> Result<Table, DataError> {
    let read = |e: anyhow::Error| DataError::Read(format!("{e:#}"));
    let t = match Format::of(path).map_err(read)? {
        Format::Npy => read_npy(path).map_err(read)?,
        Format::Csv => read_csv(path).map_err(read)?,
    };
    check_points(&t, expected_dim)?;
    Ok(t)
}

/// The checks of [`read_points`] on a table already in memory.
pub fn check_points(t: &Table, expected_dim: Option<usize>) -> Result<(), DataError> {
    if t.rows == 0 {
        return Err(DataError::Empty);
    }
    let bad_width =
        t.cols == 0 || t.cols > MAX_USER_DIM || expected_dim.is_some_and(|e| e != t.cols);
    if bad_width {
        return Err(DataError::Width { found: t.cols, expected: expected_dim });
    }
    if let Some(i) = t.data.iter().position(|v| !v.is_finite()) {
        return Err(DataError::NotFinite { row: i / t.cols, col: i % t.cols });
    }
    if let Some(i) = t.data.iter().position(|v| v.abs() > MAX_DATA_MAGNITUDE) {
        return Err(DataError::TooLarge { row: i / t.cols, col: i % t.cols });
    }
    Ok(())
}

/// A table split into training rows and held-out rows (each in the original row order).
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// The training rows.
    pub train: Table,
    /// The held-out rows.
    pub held_out: Table,
}

/// Holds out round(`fraction`·N) rows (0 ≤ fraction < 1, at least one training row), chosen by
/// seed: row i's key is a uniform draw from the stream (seed, i) and the rows with the smallest
/// keys are held out, so the split is deterministic and a row's key does not depend on N.
pub fn split(t: &Table, fraction: f64, seed: u64) -> Result<Split, DataError> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(DataError::Invalid(format!("held-out fraction {fraction} is outside [0, 1)")));
    }
    let k = ((fraction * t.rows as f64).round() as usize).min(t.rows.saturating_sub(1));
    let mut keys: Vec<(f64, usize)> =
        (0..t.rows).map(|i| (Streams::<f64>::new(seed, i as u64).uniform(), i)).collect();
    keys.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut held = vec![false; t.rows];
    for &(_, i) in &keys[..k] {
        held[i] = true;
    }
    let part = |want: bool| {
        let data: Vec<f64> =
            (0..t.rows).filter(|&i| held[i] == want).flat_map(|i| t.row(i).to_vec()).collect();
        Table { rows: data.len() / t.cols.max(1), cols: t.cols, data }
    };
    Ok(Split { train: part(false), held_out: part(true) })
}

/// The per-dimension affine map to standard coordinates, z = (x − shift) / scale, with shift
/// and scale the mean and standard deviation of the training rows.
///
/// A density q in standard coordinates is the density p(x) = q(z) · |det ∂z/∂x| in the user's
/// units: log p(x) = log q(z) + [`Standardize::log_det`], exactly.
#[derive(Clone, Debug, PartialEq)]
pub struct Standardize {
    /// Per-dimension shift (the training mean).
    pub shift: Vec<f64>,
    /// Per-dimension scale (the training standard deviation, > 0).
    pub scale: Vec<f64>,
}

impl Standardize {
    /// Fits the map on training rows; a constant dimension (zero spread) is an error.
    pub fn fit(train: &Table) -> Result<Self, DataError> {
        check_points(train, None)?;
        let n = train.rows as f64;
        let mut shift = vec![0.0; train.cols];
        for r in 0..train.rows {
            for (s, v) in shift.iter_mut().zip(train.row(r)) {
                *s += v / n;
            }
        }
        let mut var = vec![0.0; train.cols];
        for r in 0..train.rows {
            for ((a, v), m) in var.iter_mut().zip(train.row(r)).zip(&shift) {
                *a += (v - m).powi(2) / n;
            }
        }
        let scale: Vec<f64> = var.iter().map(|v| v.sqrt()).collect();
        if let Some(j) = scale.iter().position(|s| !(*s > 0.0 && s.is_finite())) {
            return Err(DataError::Invalid(format!(
                "column {j} has no spread in the training rows; it cannot be standardised"
            )));
        }
        Ok(Self { shift, scale })
    }

    /// The dimension D.
    pub fn dim(&self) -> usize {
        self.shift.len()
    }

    /// z = (x − shift) / scale for one row.
    pub fn apply(&self, x: &[f64], z: &mut [f64]) {
        for (j, zj) in z.iter_mut().enumerate().take(self.dim()) {
            *zj = (x[j] - self.shift[j]) / self.scale[j];
        }
    }

    /// x = shift + scale · z for one row.
    pub fn invert(&self, z: &[f64], x: &mut [f64]) {
        for (j, xj) in x.iter_mut().enumerate().take(self.dim()) {
            *xj = self.shift[j] + self.scale[j] * z[j];
        }
    }

    /// Every row of a table mapped to standard coordinates.
    pub fn apply_table(&self, t: &Table) -> Table {
        let mut out = t.clone();
        for (x, z) in t.data.chunks(t.cols).zip(out.data.chunks_mut(t.cols)) {
            self.apply(x, z);
        }
        out
    }

    /// log |det ∂z/∂x| = −Σ ln scale: add it to a log-density in standard coordinates to get the
    /// log-density in the user's units.
    pub fn log_det(&self) -> f64 {
        -self.scale.iter().map(|s| s.ln()).sum::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Table {
        let data = (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))).map(|(r, c)| f(r, c));
        Table { rows, cols, data: data.collect() }
    }

    #[test]
    fn reads_points_and_rejects_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.csv");
        std::fs::write(&p, "x,y\n1,2\n3,4.5\n").unwrap();
        let t = read_points(&p, None).unwrap();
        assert_eq!((t.rows, t.cols, t.data.clone()), (2, 2, vec![1.0, 2.0, 3.0, 4.5]));
        assert_eq!(read_points(&p, Some(3)), Err(DataError::Width { found: 2, expected: Some(3) }));
        std::fs::write(&p, "1,2\n3,nan\n").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::NotFinite { row: 1, col: 1 }));
        std::fs::write(&p, "1,2\n3,inf\n").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::NotFinite { row: 1, col: 1 }));
        // Finite but so large that the standardisation's squares would overflow.
        std::fs::write(&p, "1,2\n-1e200,4\n").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::TooLarge { row: 1, col: 0 }));
        std::fs::write(&p, "1,2\n1e100,4\n").unwrap();
        assert!(read_points(&p, None).is_ok());
        std::fs::write(&p, "x,y\n").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::Empty));
        std::fs::write(&p, "").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::Empty));
        std::fs::write(&p, "1,2,3,4,5,6,7,8,9\n").unwrap();
        assert_eq!(read_points(&p, None), Err(DataError::Width { found: 9, expected: None }));
        std::fs::write(&p, "1,2\n3\n").unwrap();
        assert!(matches!(read_points(&p, None), Err(DataError::Read(_))));
        // NPY in f32 and f64, through the crate's own writer for f64.
        let q = dir.path().join("b.npy");
        let t = table(5, 3, |r, c| (r * 3 + c) as f64 * 0.25);
        crate::io::write(&q, &t, &["a".into(), "b".into(), "c".into()], false).unwrap();
        assert_eq!(read_points(&q, Some(3)).unwrap(), t);
        assert!(matches!(read_points(&dir.path().join("c.txt"), None), Err(DataError::Read(_))));
    }

    #[test]
    fn the_split_is_seeded_exact_and_disjoint() {
        let t = table(1000, 2, |r, c| (2 * r + c) as f64);
        let s = split(&t, 0.1, 4).unwrap();
        assert_eq!((s.train.rows, s.held_out.rows), (900, 100));
        assert_eq!(s, split(&t, 0.1, 4).unwrap());
        assert_ne!(s.held_out, split(&t, 0.1, 5).unwrap().held_out);
        // Every row lands in exactly one part, each part in the original order.
        let mut firsts: Vec<f64> =
            s.train.data.chunks(2).chain(s.held_out.data.chunks(2)).map(|r| r[0]).collect();
        assert!(
            s.train.data.chunks(2).zip(s.train.data.chunks(2).skip(1)).all(|(a, b)| a[0] < b[0])
        );
        firsts.sort_by(f64::total_cmp);
        assert_eq!(firsts, (0..1000).map(|r| 2.0 * r as f64).collect::<Vec<_>>());
        // A row's key does not depend on N: held-out rows of a prefix come from the same keys.
        let small = split(&table(500, 2, |r, c| (2 * r + c) as f64), 0.2, 4).unwrap();
        let big = split(&t, 0.1, 4).unwrap();
        let big_set: Vec<f64> = big.held_out.data.chunks(2).map(|r| r[0]).collect();
        let small_in_big =
            small.held_out.data.chunks(2).filter(|r| big_set.contains(&r[0])).count();
        assert!(small_in_big > 0);
        assert_eq!(split(&t, 0.0, 1).unwrap().held_out.rows, 0);
        assert!(split(&t, 1.0, 1).is_err() && split(&t, -0.1, 1).is_err());
        assert_eq!(split(&table(1, 2, |_, _| 0.0), 0.9, 1).unwrap().train.rows, 1);
    }

    #[test]
    fn standardise_inverts_and_its_log_det_keeps_densities_normalised() {
        let t = table(400, 2, |r, c| {
            let u = Streams::<f64>::new(11, r as u64).normal_array::<2>();
            if c == 0 { 1000.0 + 30.0 * u[0] } else { -5.0 + 0.01 * u[1] }
        });
        let st = Standardize::fit(&t).unwrap();
        let z = st.apply_table(&t);
        // Mean 0 and standard deviation 1 per column on the training rows.
        for c in 0..2 {
            let m = (0..z.rows).map(|r| z.row(r)[c]).sum::<f64>() / z.rows as f64;
            let v = (0..z.rows).map(|r| (z.row(r)[c] - m).powi(2)).sum::<f64>() / z.rows as f64;
            assert!(m.abs() < 1e-9 && (v - 1.0).abs() < 1e-9, "{m} {v}");
        }
        let (mut zz, mut back) = ([0.0; 2], [0.0; 2]);
        for r in 0..t.rows {
            st.apply(t.row(r), &mut zz);
            st.invert(&zz, &mut back);
            assert!((back[0] - t.row(r)[0]).abs() < 1e-9 && (back[1] - t.row(r)[1]).abs() < 1e-13);
        }
        // N(0, I) in standard coordinates, moved to the user's units with log_det, integrates to
        // 1 there (midpoint rule over ±8 scales around the shift).
        let cells = 400;
        let (h0, h1) = (16.0 * st.scale[0] / cells as f64, 16.0 * st.scale[1] / cells as f64);
        let mut total = 0.0;
        for i in 0..cells {
            for j in 0..cells {
                let x = [
                    st.shift[0] - 8.0 * st.scale[0] + (i as f64 + 0.5) * h0,
                    st.shift[1] - 8.0 * st.scale[1] + (j as f64 + 0.5) * h1,
                ];
                st.apply(&x, &mut zz);
                let lq = -(zz[0] * zz[0] + zz[1] * zz[1]) / 2.0 - core::f64::consts::TAU.ln();
                total += (lq + st.log_det()).exp() * h0 * h1;
            }
        }
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        assert!(
            Standardize::fit(&table(3, 2, |r, c| if c == 0 { r as f64 } else { 2.0 })).is_err()
        );
    }
}
