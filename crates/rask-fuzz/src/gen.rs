//! A seeded generator for the property tests: valid inputs of each target
//! (the same ones the seed corpus holds), and mutations of them of the kinds
//! libFuzzer makes (flipped bits, bytes set to edge values, cuts, splices,
//! inserted and repeated runs), so a stable `cargo test` covers the paths
//! near the valid ones in a few seconds.

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// Values libFuzzer likes to write into integers.
const EDGES: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x20, 0x0a];

/// `input` changed by one to four mutations.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                v[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                v[i] = EDGES[rng.below(EDGES.len())];
            }
            2 if len > 0 => {
                // A run of 0xff or 0x00 over a length field, say.
                let i = rng.below(len);
                let n = (1 + rng.below(8)).min(len - i);
                let b = if rng.below(2) == 0 { 0xff } else { 0x00 };
                v[i..i + n].fill(b);
            }
            3 => v.truncate(rng.below(len + 1)),
            4 => {
                let i = rng.below(len + 1);
                let n = rng.below(16);
                let ins = rng.bytes(n);
                v.splice(i..i, ins);
            }
            5 if len > 0 => {
                // Repeat a piece (a frame twice, a field twice).
                let a = rng.below(len);
                let b = a + rng.below(len - a + 1);
                let piece = v[a..b].to_vec();
                let at = rng.below(len + 1);
                v.splice(at..at, piece);
            }
            _ if !others.is_empty() => {
                // Splice in the tail of another valid input.
                let o = &others[rng.below(others.len())];
                let from = rng.below(o.len() + 1);
                let at = rng.below(len + 1);
                v.truncate(at);
                v.extend_from_slice(&o[from..]);
            }
            _ => {}
        }
    }
    v
}
