//! The in-memory table every reader returns and every writer takes, and the file formats by
//! extension.

use std::path::Path;

use anyhow::bail;

/// A row-major table of f64 values.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Row-major values, `rows * cols` of them.
    pub data: Vec<f64>,
}

impl Table {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }
}

/// The file formats understood, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy`.
    Npy,
    /// Comma-separated values.
    Csv,
}

impl Format {
    /// The format of a path by its extension (`.npy` or `.csv`, any case).
    pub fn of(path: &Path) -> anyhow::Result<Self> {
        match path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()) {
            Some(e) if e == "npy" => Ok(Format::Npy),
            Some(e) if e == "csv" => Ok(Format::Csv),
            _ => bail!("{}: unknown file type (expected .npy or .csv)", path.display()),
        }
    }
}
