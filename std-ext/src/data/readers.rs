//! Numeric tables in: NPY (f32 or f64, C or Fortran order, as NumPy writes them, via `npyz`)
//! and CSV (optional header row, via `csv`), every value checked finite and of supported
//! magnitude.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, bail, ensure};

use super::table::{Format, Table};

/// The largest magnitude accepted in data (so that squares and standardised values stay
/// finite in f64).
pub const MAX_DATA_MAGNITUDE: f64 = 1e100;

/// The longest NPY header accepted, in bytes: NumPy's own default limit when it reads a file
/// (`max_header_size`).
pub const MAX_NPY_HEADER: u64 = 10_000;

/// Reserves room for `n` values or says, as an error, that memory is short.
fn reserve(v: &mut Vec<f64>, n: usize, what: &str) -> anyhow::Result<()> {
    v.try_reserve(n).map_err(|_| {
        anyhow::anyhow!("not enough memory for {what} ({n} values, {:.2} GB)", n as f64 * 8.0 / 1e9)
    })
}

/// Reads a table from `.npy` (1-D arrays are one column) or `.csv`, and checks every value is
/// finite and of supported magnitude.
pub fn read(path: &Path) -> anyhow::Result<Table> {
    let table = match Format::of(path)? {
        Format::Npy => read_npy(path)?,
        Format::Csv => read_csv(path)?,
    };
    check_values(table, &path.display().to_string())
}

/// Parses a table held in memory, in `format`, with the checks of [`read`]; `name` names it in
/// messages. The same parsers as [`read`] (which streams from the file).
pub fn parse(bytes: &[u8], format: Format, name: &str) -> anyhow::Result<Table> {
    let table = match format {
        Format::Npy => npy_from(bytes, bytes.len() as u64, name)?,
        Format::Csv => csv_from(bytes, name)?,
    };
    check_values(table, name)
}

/// At least one row and one column; every value finite and at most [`MAX_DATA_MAGNITUDE`] in magnitude.
fn check_values(table: Table, name: &str) -> anyhow::Result<Table> {
    ensure!(table.rows > 0, "{name}: no data rows");
    ensure!(table.cols > 0, "{name}: no data columns");
    if let Some(i) = table.data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{name}: row {} column {} is not finite ({})",
            i / table.cols.max(1),
            i % table.cols.max(1),
            table.data[i]
        );
    }
    if let Some(i) = table.data.iter().position(|v| v.abs() > MAX_DATA_MAGNITUDE) {
        bail!(
            "{name}: row {} column {} is {}, beyond the supported magnitude {MAX_DATA_MAGNITUDE:e}",
            i / table.cols.max(1),
            i % table.cols.max(1),
            crate::text::num(table.data[i])
        );
    }
    Ok(table)
}

fn open(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))
}

pub(crate) fn read_npy(path: &Path) -> anyhow::Result<Table> {
    let file = open(path)?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    npy_from(BufReader::new(file), len, &path.display().to_string())
}

pub(crate) fn read_csv(path: &Path) -> anyhow::Result<Table> {
    csv_from(open(path)?, &path.display().to_string())
}

/// An NPY table from a reader of `len` bytes (the length bounds the header's shape before any
/// allocation).
fn npy_from<R: Read>(mut r: R, len: u64, name: &str) -> anyhow::Result<Table> {
    // The preamble is checked here, before the NPY reader allocates the header it declares: a
    // 60-byte file may declare a 4 GB header.
    let mut pre = [0u8; 12];
    let mut got = 0;
    while got < pre.len() {
        match r.read(&mut pre[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => bail!("{name}: cannot read data: {e}"),
        }
    }
    ensure!(got >= 10 && pre.starts_with(b"\x93NUMPY"), "{name}: not a valid NPY file");
    let (header_len, preamble) = match pre[6] {
        1 => (u64::from(u16::from_le_bytes([pre[8], pre[9]])), 10),
        2 | 3 if got == 12 => {
            (u64::from(u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]])), 12)
        }
        v => bail!("{name}: not a valid NPY file (format version {v})"),
    };
    ensure!(
        header_len <= MAX_NPY_HEADER && preamble + header_len <= len,
        "{name}: not a valid NPY file (a header of {header_len} bytes; NumPy writes at most \
         {MAX_NPY_HEADER})"
    );
    // The header text is checked against the grammar NumPy writes before the NPY reader parses
    // it: that reader's general Python-literal parser backtracks, and takes exponential time
    // on nested brackets (a 180-byte header of 31 `{` took over 10 s).
    let mut head = pre[..got].to_vec();
    let start = head.len();
    head.resize(preamble as usize + header_len as usize, 0);
    if start < head.len() {
        r.read_exact(&mut head[start..])
            .map_err(|e| anyhow::anyhow!("{name}: not a valid NPY file (header: {e})"))?;
    }
    let text = &head[preamble as usize..];
    check_npy_header(text).map_err(|e| anyhow::anyhow!("{name}: not a valid NPY file ({e})"))?;
    let npy = npyz::NpyFile::new(std::io::Cursor::new(head).chain(r))
        .map_err(|e| anyhow::anyhow!("{name}: not a valid NPY file: {e}"))?;
    let shape = npy.shape().to_vec();
    let order = npy.order();
    let (rows, cols) = match shape.as_slice() {
        [n] => (*n as usize, 1),
        [n, d] => (*n as usize, *d as usize),
        _ => bail!("{name}: expected a 1-D or 2-D array, found shape {shape:?}"),
    };
    let bad = |e: std::io::Error| anyhow::anyhow!("{name}: cannot read data: {e}");
    // The header's shape against the file's length, before any allocation.
    let values = rows
        .checked_mul(cols)
        .ok_or_else(|| anyhow::anyhow!("{name}: shape {shape:?} is too large"))?;
    let width = u64::from(npy.dtype().num_bytes().unwrap_or(8) as u32);
    ensure!(
        (values as u64).saturating_mul(width) <= len,
        "{name}: truncated data (shape {shape:?} needs more bytes than the file holds)"
    );
    let mut data: Vec<f64> = Vec::new();
    reserve(&mut data, values, &format!("the data of {name}"))?;
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
                "{name}: unsupported dtype {} (expected float32 or float64)",
                npy.dtype().descr()
            ),
        },
    }
    ensure!(data.len() == rows * cols, "{name}: truncated data");
    let data = if order == npyz::Order::Fortran && cols > 1 {
        let mut t = Vec::new();
        reserve(&mut t, data.len(), &format!("the data of {name}"))?;
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

/// Checks, in one pass, that an NPY header is what NumPy writes: a dict literal of quoted keys
/// whose values are quoted strings, `True`/`False`, or tuples of non-negative integers,
/// followed by spaces and a newline. Nothing nests deeper than a tuple in the dict.
fn check_npy_header(text: &[u8]) -> Result<(), String> {
    let mut s = text;
    let ws = |s: &mut &[u8]| {
        while let [b' ' | b'\t', rest @ ..] = *s {
            *s = rest;
        }
    };
    let eat = |s: &mut &[u8], c: u8| -> bool {
        if s.first() == Some(&c) {
            *s = &s[1..];
            true
        } else {
            false
        }
    };
    let string = |s: &mut &[u8]| -> Result<(), String> {
        let q = match s.first() {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err("header: expected a quoted string".into()),
        };
        let mut i = 1;
        while i < s.len() {
            match s[i] {
                b'\\' => i += 2,
                b'\n' => break,
                c if c == q => {
                    *s = &s[i + 1..];
                    return Ok(());
                }
                _ => i += 1,
            }
        }
        Err("header: a string is not closed".into())
    };
    ws(&mut s);
    if !eat(&mut s, b'{') {
        return Err("header: expected a dict".into());
    }
    loop {
        ws(&mut s);
        if eat(&mut s, b'}') {
            break;
        }
        string(&mut s)?;
        ws(&mut s);
        if !eat(&mut s, b':') {
            return Err("header: expected `:` after a key".into());
        }
        ws(&mut s);
        if s.starts_with(b"True") || s.starts_with(b"False") {
            s = &s[if s[0] == b'T' { 4 } else { 5 }..];
        } else if eat(&mut s, b'(') {
            loop {
                ws(&mut s);
                if eat(&mut s, b')') {
                    break;
                }
                let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return Err("header: a shape holds something other than integers".into());
                }
                s = &s[digits..];
                ws(&mut s);
                if eat(&mut s, b')') {
                    break;
                }
                if !eat(&mut s, b',') {
                    return Err("header: expected `,` or `)` in a shape".into());
                }
            }
        } else {
            string(&mut s)?;
        }
        ws(&mut s);
        if eat(&mut s, b'}') {
            break;
        }
        if !eat(&mut s, b',') {
            return Err("header: expected `,` or `}` in the dict".into());
        }
    }
    ws(&mut s);
    eat(&mut s, b'\n');
    if s.is_empty() { Ok(()) } else { Err("header: text after the dict".into()) }
}

/// The field delimiter of a CSV file from its first data line (`head`): tab if it holds one,
/// else `;` if it holds one, else `,`. Numbers never contain tabs or semicolons, but
/// decimal-comma files separate by `;`.
fn sniff_delimiter(head: &str) -> u8 {
    if head.contains('\t') {
        b'\t'
    } else if head.contains(';') {
        b';'
    } else {
        b','
    }
}

/// Reads lines up to and including the first data line (not empty, not a `#` comment; at most
/// 1 000 lines), and returns the bytes read and that line.
fn read_head<R: BufRead>(r: &mut R, name: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let mut bytes = Vec::new();
    for _ in 0..1000 {
        let start = bytes.len();
        let n = r.read_until(b'\n', &mut bytes).with_context(|| format!("cannot read {name}"))?;
        if n == 0 {
            break;
        }
        let line = std::str::from_utf8(&bytes[start..])
            .map_err(|_| anyhow::anyhow!("{name}: not UTF-8 text"))?;
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            let line = line.to_owned();
            return Ok((bytes, line));
        }
    }
    Ok((bytes, String::new()))
}

/// A field as shown in a message: at most 24 characters.
fn short(field: &str) -> String {
    let mut s: String = field.chars().take(24).collect();
    if field.chars().count() > 24 {
        s.push('…');
    }
    s
}

/// A CSV table from a reader: delimiter sniffed from the first data line, an optional header
/// row (no field of it is, or looks like, a number), `#` comments, every row as wide as the
/// first.
fn csv_from<R: Read>(r: R, name: &str) -> anyhow::Result<Table> {
    let mut r = BufReader::new(r);
    let (head, first) = read_head(&mut r, name)?;
    let delimiter = sniff_delimiter(&first);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(std::io::Cursor::new(head).chain(r));
    let mut data = Vec::new();
    let mut cols = None;
    let mut rows = 0usize;
    let mut first = true;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
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
            bail!("{name}: line {line} field {} `{}` is not a number{hint}", j + 1, short(field));
        }
        let n = parsed.len();
        match cols {
            None => cols = Some(n),
            Some(c) => ensure!(c == n, "{name}: line {line} has {n} fields, expected {c}"),
        }
        reserve(&mut data, n, &format!("the data of {name}"))?;
        data.extend(parsed.into_iter().flatten());
        rows += 1;
    }
    Ok(Table { rows, cols: cols.unwrap_or(0), data })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `table_parse` fuzz target: an NPY file of 60 bytes whose version-2 header
    /// length says 4 GB made the reader allocate 4 GB. It is refused from its preamble, as is
    /// a header longer than the file.
    #[test]
    fn an_npy_header_longer_than_the_file_is_refused_before_allocating() {
        let mut f = b"\x93NUMPY\x02\x00".to_vec();
        f.extend_from_slice(&[0xf5; 4]);
        f.extend_from_slice(&[0xf5; 41]);
        f.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0]);
        let e = parse(&f, Format::Npy, "a.npy").unwrap_err().to_string();
        assert!(e.contains("not a valid NPY file"), "{e}");
        let mut g = b"\x93NUMPY\x01\x00".to_vec();
        g.extend_from_slice(&200u16.to_le_bytes());
        g.extend_from_slice(b"{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }");
        assert!(parse(&g, Format::Npy, "b.npy").is_err());
        // Found by the same target: shape (4, 0) read as 4 rows of nothing.
        let h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (4, 0), }\n";
        let mut z = b"\x93NUMPY\x01\x00".to_vec();
        z.extend_from_slice(&(h.len() as u16).to_le_bytes());
        z.extend_from_slice(h);
        let e = parse(&z, Format::Npy, "z.npy").unwrap_err().to_string();
        assert!(e.contains("no data columns"), "{e}");
        // A valid file of each version still reads.
        for v in [1u8, 2, 3] {
            let h = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n";
            let mut f = vec![0x93, b'N', b'U', b'M', b'P', b'Y', v, 0];
            if v == 1 {
                f.extend_from_slice(&(h.len() as u16).to_le_bytes());
            } else {
                f.extend_from_slice(&(h.len() as u32).to_le_bytes());
            }
            f.extend_from_slice(h);
            f.extend_from_slice(&1.5f64.to_le_bytes());
            f.extend_from_slice(&(-2.0f64).to_le_bytes());
            assert_eq!(parse(&f, Format::Npy, "c.npy").unwrap().data, vec![1.5, -2.0], "v{v}");
        }
    }

    fn npy_v1(header: &[u8], data: &[f64]) -> Vec<u8> {
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend_from_slice(&(header.len() as u16).to_le_bytes());
        f.extend_from_slice(header);
        for v in data {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f
    }

    /// Found by the `table_parse` fuzz target: a header of 31 nested `{` kept the NPY reader's
    /// parser busy for over 10 s (its time doubles with each bracket). Headers outside NumPy's
    /// grammar are refused in one pass, at any nesting depth and whatever bracket.
    #[test]
    fn npy_headers_outside_numpys_grammar_are_refused_in_one_pass() {
        for open in ["{", "[", "(", "{'a': ("] {
            for depth in [31, 200, 4000] {
                let mut h = b"{'descr': '<f8', 'fortran_order':".to_vec();
                h.extend(open.repeat(depth).bytes());
                h.extend_from_slice(b" False, 'shape': (2, 2), }\n");
                let e = parse(&npy_v1(&h, &[0.0; 4]), Format::Npy, "n.npy").unwrap_err();
                assert!(e.to_string().contains("not a valid NPY file"), "{e}");
            }
        }
        for bad in [
            &b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), } x\n"[..],
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, -2), }\n",
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), \n",
            b"{'descr': '<f8, 'fortran_order': False, 'shape': (2, 2), }\n",
            b"{'descr': ['<f8'], 'fortran_order': False, 'shape': (2, 2), }\n",
        ] {
            assert!(parse(&npy_v1(bad, &[0.0; 4]), Format::Npy, "n.npy").is_err());
        }
        // What NumPy writes (with and without the trailing comma, any padding, either quote,
        // either order, Fortran order) still reads.
        for good in [
            &b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }          \n"[..],
            b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2)}\n",
            b"{\"shape\": (2,2), \"descr\": \"<f8\", \"fortran_order\": True}\n",
            b"{'descr':'<f8','fortran_order':False,'shape':(4,),}\n",
        ] {
            let t = parse(&npy_v1(good, &[1.0, 2.0, 3.0, 4.0]), Format::Npy, "g.npy").unwrap();
            assert_eq!(t.rows * t.cols, 4);
            let fortran = good.windows(4).any(|w| w == b"True");
            let want = if fortran { [1.0, 3.0, 2.0, 4.0] } else { [1.0, 2.0, 3.0, 4.0] };
            assert_eq!(t.data, want, "{}", String::from_utf8_lossy(good));
        }
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
        std::fs::write(&p, "x;y\n1;2\n3;4.5\n").unwrap();
        assert_eq!(read(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.5]);
        std::fs::write(&p, "1\t2\n3\t4\n").unwrap();
        assert_eq!(read(&p).unwrap().data, vec![1.0, 2.0, 3.0, 4.0]);
        std::fs::write(&p, "1,x\n3,4\n").unwrap();
        assert!(read(&p).unwrap_err().to_string().contains("line 1 field 2"));
    }
}
