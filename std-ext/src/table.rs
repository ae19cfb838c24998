//! Numeric tables in and out: NPY (f32 or f64, C or Fortran order, as NumPy writes them, via
//! `npyz`) and CSV (optional header row, via `csv`). Every write goes to a temporary file in
//! the destination directory and is renamed into place, so an interrupted run never leaves a
//! half-written file under the requested name.

use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use npyz::WriterBuilder;

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

/// Checks, before any work, that an output path is writable in principle: a known extension,
/// a file name, and an existing parent directory.
pub fn check_output(path: &Path) -> anyhow::Result<Format> {
    let format = Format::of(path)?;
    ensure!(path.file_name().is_some(), "{}: not a file path", path.display());
    let dir = parent_dir(path);
    ensure!(dir.is_dir(), "output directory {} does not exist", dir.display());
    Ok(format)
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Reads a table from `.npy` (1-D arrays are one column) or `.csv`, and checks every value is
/// finite.
pub fn read(path: &Path) -> anyhow::Result<Table> {
    let table = match Format::of(path)? {
        Format::Npy => read_npy(path)?,
        Format::Csv => read_csv(path)?,
    };
    ensure!(table.rows > 0, "{}: no data rows", path.display());
    if let Some(i) = table.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: row {} column {} is not finite ({})",
            path.display(),
            i / table.cols.max(1),
            i % table.cols.max(1),
            table.data[i]
        );
    }
    Ok(table)
}

fn read_npy(path: &Path) -> anyhow::Result<Table> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let npy = npyz::NpyFile::new(BufReader::new(file))
        .map_err(|e| anyhow::anyhow!("{}: not a valid NPY file: {e}", path.display()))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n as usize, 1),
        [n, d] => (*n as usize, *d as usize),
        _ => bail!("{}: expected a 1-D or 2-D array, found shape {shape:?}", path.display()),
    };
    let bad = |e: std::io::Error| anyhow::anyhow!("{}: cannot read data: {e}", path.display());
    let data: Vec<f64> = match npy.try_data::<f64>() {
        Ok(r) => r.into_iter().collect::<Result<_, _>>().map_err(bad)?,
        Err(npy) => match npy.try_data::<f32>() {
            Ok(r) => {
                r.into_iter().map(|v| v.map(f64::from)).collect::<Result<_, _>>().map_err(bad)?
            }
            Err(npy) => bail!(
                "{}: unsupported dtype {} (expected float32 or float64)",
                path.display(),
                npy.dtype().descr()
            ),
        },
    };
    ensure!(data.len() == rows * cols, "{}: truncated data", path.display());
    let data = if order == npyz::Order::Fortran && cols > 1 {
        let mut t = vec![0.0; data.len()];
        for r in 0..rows {
            for c in 0..cols {
                t[r * cols + c] = data[c * rows + r];
            }
        }
        t
    } else {
        data
    };
    Ok(Table { rows, cols, data })
}

fn read_csv(path: &Path) -> anyhow::Result<Table> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0;
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let parsed: Result<Vec<f64>, _> = rec.iter().map(|f| f.parse::<f64>()).collect();
        let values = match parsed {
            Ok(v) => v,
            // A first row that is not numeric is a header.
            Err(_) if i == 0 => continue,
            Err(_) => bail!("{}: line {} has a non-numeric field", path.display(), i + 1),
        };
        match cols {
            None => cols = Some(values.len()),
            Some(c) => ensure!(
                c == values.len(),
                "{}: line {} has {} fields, expected {c}",
                path.display(),
                i + 1,
                values.len()
            ),
        }
        data.extend(values);
        rows += 1;
    }
    Ok(Table { rows, cols: cols.unwrap_or(0), data })
}

/// Writes a table atomically: `.npy` as little-endian f64 (`<f8`), shape (rows, cols), or
/// (rows,) when `one_d`; `.csv` with a header row of `columns` names.
pub fn write(path: &Path, table: &Table, columns: &[String], one_d: bool) -> anyhow::Result<()> {
    let format = check_output(path)?;
    atomic_write(path, |w| match format {
        Format::Npy => {
            let shape: Vec<u64> = if one_d {
                vec![table.rows as u64]
            } else {
                vec![table.rows as u64, table.cols as u64]
            };
            let mut npy = npyz::WriteOptions::<f64>::new()
                .default_dtype()
                .shape(&shape)
                .writer(w)
                .begin_nd()?;
            npy.extend(table.data.iter().copied())?;
            npy.finish()?;
            Ok(())
        }
        Format::Csv => {
            let mut wr = csv::Writer::from_writer(w);
            wr.write_record(columns)?;
            for r in 0..table.rows {
                // `{}` prints the shortest string that parses back to the same f64.
                wr.write_record(table.row(r).iter().map(|v| format!("{v}")))?;
            }
            wr.flush()?;
            Ok(())
        }
    })
}

/// Writes through `body` into a temporary file next to `path`, then renames it into place.
pub fn atomic_write(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<&mut std::fs::File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    let mut tmp =
        tempfile::Builder::new()
            .prefix(".flowscore-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut w = BufWriter::new(tmp.as_file_mut());
        body(&mut w).with_context(|| format!("cannot write {}", path.display()))?;
        w.flush().with_context(|| format!("cannot write {}", path.display()))?;
    }
    tmp.as_file().sync_all().ok();
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn csv_without_header_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.csv");
        std::fs::write(&p, "1,2\n3,4\n").unwrap();
        assert_eq!(read(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        std::fs::write(&p, "x,y\n1,nan\n").unwrap();
        assert!(read(&p).is_err());
        std::fs::write(&p, "1,2\n3\n").unwrap();
        assert!(read(&p).is_err());
    }
}
