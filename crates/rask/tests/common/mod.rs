//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used)]

/// SplitMix64: a small, seedable, deterministic generator.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Mixes a node index and its inputs into a value (order-sensitive).
pub fn mix(i: u64, inputs: &[u64]) -> u64 {
    let mut h = i.wrapping_mul(0x100_0000_01B3) ^ 0xCBF2_9CE4_8422_2325;
    for (p, x) in inputs.iter().enumerate() {
        h = (h ^ x.rotate_left(p as u32 % 64)).wrapping_mul(0x100_0000_01B3);
    }
    h
}
