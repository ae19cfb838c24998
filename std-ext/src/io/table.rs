//! Numeric tables out: `.npy` as little-endian f64 (`<f8`) and `.csv` with a header row. Every
//! write goes to a temporary file in the destination directory and is renamed into place
//! ([`crate::io::Staged`]), so an interrupted run never leaves a half-written file under the
//! requested name.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use npyz::WriterBuilder;

use crate::data::{Format, Table};
use crate::io::Staged;

/// Checks, before any work, that an output path can take a table: a known extension (the
/// rest of the checks are [`crate::io::Staged::new`]'s).
pub fn check_output(path: &Path) -> anyhow::Result<Format> {
    Format::of(path)
}

/// A table written chunk by chunk into a staged output: `.npy` as little-endian f64 (`<f8`)
/// with the shape given up front, `.csv` with a header row.
pub struct TableWriter {
    inner: WriterKind,
    cols: usize,
    rows_left: usize,
    path: PathBuf,
}

enum WriterKind {
    Npy(npyz::NpyWriter<f64, BufWriter<std::fs::File>>),
    Csv(Box<csv::Writer<BufWriter<std::fs::File>>>),
}

impl TableWriter {
    /// Starts a table of `rows` × `columns.len()` values in `out`; `.npy` shape (rows,) when
    /// `one_d`.
    pub fn new(out: &Staged, rows: usize, columns: &[String], one_d: bool) -> anyhow::Result<Self> {
        let path = out.path().to_path_buf();
        let w = BufWriter::new(out.file()?);
        let cols = columns.len();
        let inner = match Format::of(&path)? {
            Format::Npy => {
                let shape: Vec<u64> =
                    if one_d { vec![rows as u64] } else { vec![rows as u64, cols as u64] };
                let npy = npyz::WriteOptions::<f64>::new()
                    .default_dtype()
                    .shape(&shape)
                    .writer(w)
                    .begin_nd()
                    .with_context(|| format!("cannot write {}", path.display()))?;
                WriterKind::Npy(npy)
            }
            Format::Csv => {
                let mut wr = csv::Writer::from_writer(w);
                wr.write_record(columns)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                WriterKind::Csv(Box::new(wr))
            }
        };
        Ok(Self { inner, cols, rows_left: rows, path })
    }

    /// Appends whole rows (row-major).
    pub fn rows(&mut self, values: &[f64]) -> anyhow::Result<()> {
        let n = values.len() / self.cols.max(1);
        ensure!(n <= self.rows_left, "internal: more rows than announced");
        self.rows_left -= n;
        let ctx = || format!("cannot write {}", self.path.display());
        match &mut self.inner {
            WriterKind::Npy(w) => w.extend(values.iter().copied()).with_context(ctx)?,
            WriterKind::Csv(w) => {
                for row in values.chunks(self.cols.max(1)) {
                    // `{}` prints the shortest string that parses back to the same f64.
                    w.write_record(row.iter().map(|v| format!("{v}"))).with_context(ctx)?;
                }
            }
        }
        Ok(())
    }

    /// Finishes the file (every announced row must have been written).
    pub fn finish(self) -> anyhow::Result<()> {
        ensure!(self.rows_left == 0, "internal: fewer rows than announced");
        let ctx = || format!("cannot write {}", self.path.display());
        match self.inner {
            WriterKind::Npy(w) => w.finish().with_context(ctx)?,
            WriterKind::Csv(w) => {
                let mut inner = (*w).into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
                inner.flush().with_context(ctx)?;
            }
        }
        Ok(())
    }
}

/// Writes a table atomically (through [`Staged`]): `.npy` as little-endian
/// f64 (`<f8`), shape (rows, cols), or (rows,) when `one_d`; `.csv` with a header row of
/// `columns` names.
pub fn write(path: &Path, table: &Table, columns: &[String], one_d: bool) -> anyhow::Result<()> {
    check_output(path)?;
    let out = Staged::new(path, &[])?;
    let mut w = TableWriter::new(&out, table.rows, columns, one_d)?;
    w.rows(&table.data)?;
    w.finish()?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read;

    #[test]
    fn npy_and_csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = Table { rows: 3, cols: 2, data: vec![1.0, -2.5, 0.1, 1e-300, 3.0, 7.0] };
        for name in ["a.npy", "a.csv"] {
            let p = dir.path().join(name);
            write(&p, &t, &["x0".into(), "x1".into()], false).unwrap();
            assert_eq!(read(&p).unwrap(), t, "{name}");
        }
        // Nothing but the two outputs is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
