//! Fuzz target: the NPY and CSV readers (`--data`), through the same parsers as the files.
//!
//! The first byte picks the format (even: NPY, odd: CSV); the rest is the file. No input may
//! panic or allocate beyond what its length justifies; a table that parses has rows × cols
//! values, at least one row, and every value finite and within the supported magnitude. A
//! parsed table written back as CSV (17 significant digits) parses to the same values.
#![no_main]

use flowscore_std::data::{Format, MAX_DATA_MAGNITUDE, readers::parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, file)) = bytes.split_first() else { return };
    let format = if pick % 2 == 0 { Format::Npy } else { Format::Csv };
    let Ok(t) = parse(file, format, "data") else { return };
    assert!(t.rows >= 1 && t.cols >= 1);
    assert_eq!(t.data.len(), t.rows * t.cols);
    assert!(t.data.iter().all(|v| v.is_finite() && v.abs() <= MAX_DATA_MAGNITUDE));
    let mut csv = String::new();
    for r in 0..t.rows {
        let row: Vec<String> = t.row(r).iter().map(|v| format!("{v:e}")).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    let back = parse(csv.as_bytes(), Format::Csv, "written").expect("written table parses");
    assert_eq!((back.rows, back.cols), (t.rows, t.cols));
    assert!(back.data.iter().zip(&t.data).all(|(a, b)| a.to_bits() == b.to_bits() || a == b));
});
