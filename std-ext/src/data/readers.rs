//! Numeric tables in: NPY (f32 or f64, C or Fortran order, as NumPy writes them, via `npyz`)
//! and CSV (optional header row, via `csv`), every value checked finite and of supported
//! magnitude.

use std::io::BufReader;
use std::path::Path;

use anyhow::{Context, bail, ensure};

use super::table::{Format, Table};

/// The largest magnitude accepted in data (so that squares and standardised values stay
/// finite in f64).
pub const MAX_DATA_MAGNITUDE: f64 = 1e100;

/// Reserves room for `n` values or says, as an error, that memory is short.
fn reserve(v: &mut Vec<f64>, n: usize, what: &str) -> anyhow::Result<()> {
    v.try_reserve(n).map_err(|_| {
        anyhow::anyhow!("not enough memory for {what} ({n} values, {:.2} GB)", n as f64 * 8.0 / 1e9)
    })
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
    if let Some(i) = table.data.iter().position(|v| v.abs() > MAX_DATA_MAGNITUDE) {
        bail!(
            "{}: row {} column {} is {}, beyond the supported magnitude {MAX_DATA_MAGNITUDE:e}",
            path.display(),
            i / table.cols.max(1),
            i % table.cols.max(1),
            crate::text::num(table.data[i])
        );
    }
    Ok(table)
}

pub(crate) fn read_npy(path: &Path) -> anyhow::Result<Table> {
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
    // The header's shape against the file's length, before any allocation.
    let values = rows
        .checked_mul(cols)
        .ok_or_else(|| anyhow::anyhow!("{}: shape {shape:?} is too large", path.display()))?;
    let file_len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(u64::MAX);
    let width = u64::from(npy.dtype().num_bytes().unwrap_or(8) as u32);
    ensure!(
        (values as u64).saturating_mul(width) <= file_len,
        "{}: truncated data (shape {shape:?} needs more bytes than the file holds)",
        path.display()
    );
    let mut data: Vec<f64> = Vec::new();
    reserve(&mut data, values, &format!("the data of {}", path.display()))?;
    match npy.try_data::<f64>() {
        Ok(r) => {
            for v in r {
                data.push(v.map_err(bad)?);
            }
        }
        Err(npy) => match npy.try_data::<f32>() {
            Ok(r) => {
                for v in r {
                    data.push(f64::from(v.map_err(bad)?));
                }
            }
            Err(npy) => bail!(
                "{}: unsupported dtype {} (expected float32 or float64)",
                path.display(),
                npy.dtype().descr()
            ),
        },
    }
    ensure!(data.len() == rows * cols, "{}: truncated data", path.display());
    let data = if order == npyz::Order::Fortran && cols > 1 {
        let mut t = Vec::new();
        reserve(&mut t, data.len(), &format!("the data of {}", path.display()))?;
        t.resize(data.len(), 0.0);
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

/// The field delimiter of a CSV file from its first data line: tab if it holds one, else `;`
/// if it holds one, else `,`.
fn sniff_delimiter(path: &Path) -> anyhow::Result<u8> {
    use std::io::BufRead;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut first = String::new();
    for line in BufReader::new(file).lines().take(1000) {
        let line = line.with_context(|| format!("{}: not UTF-8 text", path.display()))?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            first = line;
            break;
        }
    }
    // Numbers never contain tabs or semicolons, but decimal-comma files separate by ';'.
    let best = if first.contains('\t') {
        b'\t'
    } else if first.contains(';') {
        b';'
    } else {
        b','
    };
    Ok(best)
}

/// A field as shown in a message: at most 24 characters.
fn short(field: &str) -> String {
    let mut s: String = field.chars().take(24).collect();
    if field.chars().count() > 24 {
        s.push('…');
    }
    s
}

pub(crate) fn read_csv(path: &Path) -> anyhow::Result<Table> {
    let delimiter = sniff_delimiter(path)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_path(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0usize;
    let mut first = true;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let line = rec.position().map_or(0, |p| p.line());
        let parsed: Vec<Result<f64, _>> = rec.iter().map(|f| f.parse::<f64>()).collect();
        // Fields that are numbers, or would be with a decimal point for a decimal comma.
        let numeric = rec.iter().filter(|f| f.replace(',', ".").parse::<f64>().is_ok()).count();
        if first {
            first = false;
            // A header row: no field is (or looks like) a number.
            if numeric == 0 {
                continue;
            }
        }
        if let Some(j) = parsed.iter().position(|v| v.is_err()) {
            let field = rec.get(j).unwrap_or("");
            let hint = if delimiter == b';' && field.contains(',') {
                " (decimal commas are not supported)"
            } else {
                ""
            };
            bail!(
                "{}: line {line} field {} `{}` is not a number{hint}",
                path.display(),
                j + 1,
                short(field)
            );
        }
        let n = parsed.len();
        match cols {
            None => cols = Some(n),
            Some(c) => {
                ensure!(c == n, "{}: line {line} has {n} fields, expected {c}", path.display())
            }
        }
        reserve(&mut data, n, &format!("the data of {}", path.display()))?;
        data.extend(parsed.into_iter().flatten());
        rows += 1;
    }
    Ok(Table { rows, cols: cols.unwrap_or(0), data })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        std::fs::write(&p, "x;y\n1;2\n3;4.5\n").unwrap();
        assert_eq!(read(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.5]);
        std::fs::write(&p, "1\t2\n3\t4\n").unwrap();
        assert_eq!(read(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        std::fs::write(&p, "1,x\n3,4\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("line 1 field 2"));
    }
}
