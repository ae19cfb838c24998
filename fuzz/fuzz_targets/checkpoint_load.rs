//! Fuzz target: the training checkpoint parser (`flowscore train --resume`).
//!
//! Each input is parsed as it is; with its trailing CRC-32 recomputed (so that mutations reach
//! the checks after the checksum); and as an edit script on a built-in valid checkpoint (3-byte
//! edits: position u16 LE and an XOR byte, then the CRC recomputed). No outcome may be a panic,
//! and a checkpoint that parses writes back exactly the bytes it came from.
#![no_main]

use flowscore_std::train::checkpoint::Checkpoint;
use libfuzzer_sys::fuzz_target;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

fn reseal(f: &mut [u8]) {
    if let Some(n) = f.len().checked_sub(4) {
        let c = CRC.checksum(&f[..n]).to_le_bytes();
        f[n..].copy_from_slice(&c);
    }
}

fn check(bytes: &[u8]) {
    if let Ok(c) = Checkpoint::from_bytes(bytes) {
        assert_eq!(c.to_bytes(), bytes, "a parsed checkpoint writes back its bytes");
        assert!(c.params.len() == c.m.len() && c.m.len() == c.v.len() && c.v.len() == c.avg.len());
    }
}

fn valid() -> Vec<u8> {
    let p = 5;
    Checkpoint {
        model_tag: "realnvp d=2".into(),
        step: 7,
        adam_steps: 7,
        ema_updates: 7,
        params: (0..p).map(|i| i as f32 * 0.5).collect(),
        m: vec![0.25; p],
        v: vec![1e-3; p],
        avg: vec![-1.0; p],
    }
    .to_bytes()
}

fuzz_target!(|bytes: &[u8]| {
    check(bytes);
    let mut sealed = bytes.to_vec();
    reseal(&mut sealed);
    check(&sealed);
    let mut f = valid();
    for e in bytes.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([e[0], e[1]]));
        if at < f.len() {
            f[at] ^= e[2];
        } else if e[2] & 1 == 1 {
            // Truncate, or extend, the file.
            f.truncate(at % (f.len() + 1));
        } else {
            f.push(e[2]);
        }
    }
    reseal(&mut f);
    check(&f);
});
