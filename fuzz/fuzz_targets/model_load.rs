//! Fuzz target: the model loader on arbitrary bytes, and on valid files with arbitrary edits.
//!
//! Each input is loaded as each of four model types (`models.rs`): as it is; with its CRC-32
//! recomputed (so that mutations of the seed corpus reach the checks after the checksum); and
//! as an edit script on a built-in valid file (first byte: which file; then 3-byte edits,
//! position u16 LE and an XOR byte; the CRC is recomputed after the edits). No outcome may be
//! a panic; a successful load must re-encode to the bytes it came from, and loading in place
//! (`load_into`) must agree with `load`.
#![no_main]

use std::sync::OnceLock;

use flowscore::format::{ModelFormat, checksum, load, load_into, save};
use libfuzzer_sys::fuzz_target;

mod models;
use models::*;

fn valid() -> &'static [Vec<u8>; 4] {
    static FILES: OnceLock<[Vec<u8>; 4]> = OnceLock::new();
    FILES.get_or_init(valid_files)
}

/// Recompute the trailing CRC-32 of a file.
fn reseal(f: &mut [u8]) {
    if let Some(body_len) = f.len().checked_sub(4) {
        let crc = checksum(&f[..body_len]).to_le_bytes();
        f[body_len..].copy_from_slice(&crc);
    }
}

/// Load `bytes` as `M`; a model that loads writes back the same bytes (`exact`), or bytes of the
/// same length (a MAF re-applies its masks, so masked weights may read back as zero). Loading in
/// place into `start` gives the same outcome: the same error, or a model that writes the same
/// bytes.
fn try_type<M: ModelFormat>(bytes: &[u8], exact: bool, start: &M) {
    let loaded = load::<M, 2>(bytes);
    let mut into = *start;
    let in_place = load_into::<M, 2>(bytes, &mut into);
    match (&loaded, &in_place) {
        (Ok((model, std)), Ok(std2)) => {
            let mut out = vec![0u8; bytes.len()];
            let n = save::<M, 2>(model, std, &mut out).expect("a loaded model saves");
            assert_eq!(n, bytes.len());
            if exact {
                assert_eq!(out, bytes);
            }
            let mut out2 = vec![0u8; bytes.len()];
            save::<M, 2>(&into, std2, &mut out2).expect("a model loaded in place saves");
            assert_eq!(out2, out, "load_into gave another model than load");
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        _ => panic!("load and load_into disagree: {:?} vs {:?}", loaded.is_ok(), in_place),
    }
}

/// The models the in-place loads start from (the valid files' models).
fn starts() -> &'static (SmallRealNvp, SmallSpline, Mixed, SmallScore) {
    static MODELS: OnceLock<(SmallRealNvp, SmallSpline, Mixed, SmallScore)> = OnceLock::new();
    MODELS.get_or_init(|| (small_realnvp(), small_spline(), mixed(), small_score()))
}

fn load_all(bytes: &[u8]) {
    let start = starts();
    try_type::<SmallRealNvp>(bytes, true, &start.0);
    try_type::<SmallSpline>(bytes, true, &start.1);
    try_type::<Mixed>(bytes, false, &start.2);
    try_type::<SmallScore>(bytes, true, &start.3);
}

fuzz_target!(|data: &[u8]| {
    load_all(data);
    let mut sealed = data.to_vec();
    reseal(&mut sealed);
    load_all(&sealed);
    if let Some((&which, script)) = data.split_first() {
        let mut f = valid()[usize::from(which) % 4].clone();
        let len = f.len();
        for edit in script.chunks_exact(3) {
            let pos = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % len;
            f[pos] ^= edit[2];
        }
        reseal(&mut f);
        load_all(&f);
    }
});
