//! FNV-1a (64-bit) over the IEEE bits of every number the scenario produces.
//!
//! Two runs hash equal only if every `f32` they produced has the same bits, so equal hashes on
//! the host and on the Cortex-M4F show the computation is bit-for-bit reproducible.

/// FNV-1a 64-bit offset basis.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running FNV-1a hash and the count of values fed to it.
#[derive(Clone, Copy, Debug)]
pub struct Fnv1a {
    state: u64,
    count: u32,
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

impl Fnv1a {
    /// The empty hash.
    pub const fn new() -> Self {
        Self { state: FNV_OFFSET, count: 0 }
    }

    /// Feeds the bytes of a word, least significant first.
    pub fn push_u32(&mut self, word: u32) {
        for byte in word.to_le_bytes() {
            self.state ^= u64::from(byte);
            self.state = self.state.wrapping_mul(FNV_PRIME);
        }
        self.count = self.count.wrapping_add(1);
    }

    /// Feeds the bits of an `f32` (every NaN payload and the sign of zero count).
    pub fn push_f32(&mut self, x: f32) {
        self.push_u32(x.to_bits());
    }

    /// Feeds every element of a slice.
    pub fn push_all(&mut self, xs: &[f32]) {
        for &x in xs {
            self.push_f32(x);
        }
    }

    /// The hash so far.
    pub const fn value(&self) -> u64 {
        self.state
    }

    /// How many values were fed.
    pub const fn count(&self) -> u32 {
        self.count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of FNV-1a 64 (the published test vectors for "" and "a").
    #[test]
    fn matches_published_vectors() {
        assert_eq!(Fnv1a::new().value(), 0xcbf2_9ce4_8422_2325);
        let mut h = Fnv1a::new();
        h.state ^= u64::from(b'a');
        h.state = h.state.wrapping_mul(FNV_PRIME);
        assert_eq!(h.value(), 0xaf63_dc4c_8601_ec8c);
    }
}
