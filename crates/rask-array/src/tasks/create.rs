//! Kernels that make chunks from nothing: constants, ramps, identity
//! blocks and seeded random numbers.
//!
//! Random chunks: chunk `index` of an array with seed `seed` draws from a
//! xoshiro256++ stream whose state is SplitMix64-expanded from
//! `(seed, index)`, so a chunk's values depend only on the seed, the
//! chunking and the chunk's position, never on the executor or the order in
//! which chunks run.

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

use super::block;
use crate::block::{Block, Scalar};

/// A chunk filled with one value.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn full(shape: Vec<usize>, value: Scalar) -> Block {
    let dim = IxDyn(&shape);
    match value {
        Scalar::F64(x) => block(ArrayD::from_elem(dim, x)),
        Scalar::I64(x) => block(ArrayD::from_elem(dim, x)),
        Scalar::Bool(x) => block(ArrayD::from_elem(dim, x)),
    }
}

/// A 1-d chunk `start + step * (first + i)` for `i` in `0..len`; `last`,
/// when given, is the exact value of the array's final element (linspace).
#[rask_macros::task(crate = rask_core)]
pub(crate) fn ramp(
    start: f64,
    step: f64,
    first: u64,
    len: usize,
    last: Option<(u64, f64)>,
) -> Block {
    let mut v: Vec<f64> = (0..len as u64)
        .map(|i| start + step * (first + i) as f64)
        .collect();
    if let Some((at, x)) = last {
        if at >= first && at < first + len as u64 {
            v[(at - first) as usize] = x;
        }
    }
    block(ArrayD::from_shape_vec(IxDyn(&[len]), v).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0]))))
}

/// A 2-d chunk of an identity-like matrix: ones where `col - row == k`,
/// for the chunk starting at global `(row0, col0)`.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn eye(shape: Vec<usize>, row0: u64, col0: u64, k: i64) -> Block {
    let a = ArrayD::from_shape_fn(IxDyn(&shape), |ix| {
        let r = row0 as i64 + ix[0] as i64;
        let c = col0 as i64 + ix[1] as i64;
        if c - r == k {
            1.0
        } else {
            0.0
        }
    });
    block(a)
}

/// A distribution of random numbers.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Dist {
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound (included).
        low: f64,
        /// Upper bound (excluded).
        high: f64,
    },
    /// Normal with this mean and standard deviation (Box-Muller).
    Normal {
        /// The mean.
        mean: f64,
        /// The standard deviation.
        std: f64,
    },
}

fn splitmix64(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman and Vigna): small, fast, good enough for
/// simulation, not for cryptography.
pub(crate) struct Xoshiro([u64; 4]);

impl Xoshiro {
    /// The stream of chunk `index` of an array seeded with `seed`.
    pub(crate) fn for_chunk(seed: u64, index: u64) -> Self {
        let mut sm = seed;
        let a = splitmix64(&mut sm);
        let mut sm = a ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Xoshiro(s)
    }

    #[inline(always)]
    pub(crate) fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let r = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        r
    }

    /// Uniform on `[0, 1)` with 53 random bits.
    #[inline(always)]
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Streams stepped together (each a xoshiro256++ of its own).
const LANES: usize = 8;

/// [`LANES`] xoshiro256++ streams stepped together, state as lanes per
/// word, so the compiler keeps them in vector registers. Values never
/// depend on the CPU: every instruction set steps the same eight streams.
struct Lanes {
    s: [[u64; LANES]; 4],
}

impl Lanes {
    #[allow(clippy::needless_range_loop)] // lanes and words index one table
    fn new(seed: u64, index: u64) -> Self {
        let mut s = [[0u64; LANES]; 4];
        for l in 0..LANES {
            let g = Xoshiro::for_chunk(
                seed,
                index.wrapping_mul(LANES as u64).wrapping_add(l as u64),
            );
            for w in 0..4 {
                s[w][l] = g.0[w];
            }
        }
        Lanes { s }
    }

    #[inline(always)]
    fn next(&mut self) -> [u64; LANES] {
        let [s0, s1, s2, s3] = &mut self.s;
        let mut r = [0u64; LANES];
        for l in 0..LANES {
            r[l] = s0[l]
                .wrapping_add(s3[l])
                .rotate_left(23)
                .wrapping_add(s0[l]);
            let t = s1[l] << 17;
            s2[l] ^= s0[l];
            s3[l] ^= s1[l];
            s1[l] ^= s2[l];
            s0[l] ^= s3[l];
            s2[l] ^= t;
            s3[l] = s3[l].rotate_left(45);
        }
        r
    }
}

/// Uniform on `[0, 1)` from the top 52 bits (exponent trick: no integer
/// to float conversion, which vectorizes).
#[inline(always)]
fn unit(x: u64) -> f64 {
    f64::from_bits(0x3FF0_0000_0000_0000 | (x >> 12)) - 1.0
}

/// Writes every slot of `out` with uniform numbers on `[low, high)`.
#[inline(always)]
fn uniform_lanes(g: &mut Lanes, out: &mut [std::mem::MaybeUninit<f64>], low: f64, high: f64) {
    let w = high - low;
    let mut quads = out.chunks_exact_mut(LANES);
    for q in &mut quads {
        let r = g.next();
        for l in 0..LANES {
            q[l].write(low + w * unit(r[l]));
        }
    }
    let rest = quads.into_remainder();
    if !rest.is_empty() {
        let r = g.next();
        for (l, x) in rest.iter_mut().enumerate() {
            x.write(low + w * unit(r[l]));
        }
    }
}

/// [`uniform_lanes`] compiled for AVX-512 (eight lanes in one register).
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn uniform_avx512(
    g: &mut Lanes,
    out: &mut [std::mem::MaybeUninit<f64>],
    low: f64,
    high: f64,
) {
    uniform_lanes(g, out, low, high)
}

/// [`uniform_lanes`] compiled for AVX2 (four lanes in one register).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn uniform_avx2(g: &mut Lanes, out: &mut [std::mem::MaybeUninit<f64>], low: f64, high: f64) {
    uniform_lanes(g, out, low, high)
}

/// Appends `n` uniform numbers to `out` (which must be empty), with AVX2
/// where the CPU has it.
fn uniform_into(g: &mut Lanes, out: &mut Vec<f64>, n: usize, low: f64, high: f64) {
    out.reserve(n);
    let spare = &mut out.spare_capacity_mut()[..n];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            unsafe { uniform_avx512(g, spare, low, high) };
        } else if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked just above).
            unsafe { uniform_avx2(g, spare, low, high) };
        } else {
            uniform_lanes(g, spare, low, high);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    uniform_lanes(g, spare, low, high);
    // SAFETY: `uniform_lanes` wrote all `n` slots of the spare capacity,
    // and `out` was empty.
    unsafe { out.set_len(n) };
}

/// A uniform chunk drawn piece by piece, in C order: pieces whose lengths
/// are multiples of [`LANES`] (all but the last) give exactly the values of
/// [`fill`] for the same chunk.
pub(crate) struct UniformStream {
    g: Lanes,
    low: f64,
    high: f64,
}

impl UniformStream {
    /// The stream of chunk `index`, or `None` for other distributions.
    pub(crate) fn new(seed: u64, index: u64, dist: Dist) -> Option<Self> {
        match dist {
            Dist::Uniform { low, high } => Some(UniformStream {
                g: Lanes::new(seed, index),
                low,
                high,
            }),
            Dist::Normal { .. } => None,
        }
    }

    /// The next `n` values.
    pub(crate) fn next(&mut self, n: usize) -> Vec<f64> {
        let mut v = super::scratch::take(n);
        uniform_into(&mut self.g, &mut v, n, self.low, self.high);
        v
    }
}

/// Fills `n` values of `dist` (uniform: eight interleaved streams).
pub(crate) fn fill(seed: u64, index: u64, n: usize, dist: Dist) -> Vec<f64> {
    let mut out = super::scratch::take(n);
    match dist {
        Dist::Uniform { low, high } => {
            let mut g = Lanes::new(seed, index);
            uniform_into(&mut g, &mut out, n, low, high);
        }
        Dist::Normal { mean, std } => {
            let mut g = Xoshiro::for_chunk(seed, index);
            while out.len() < n {
                // Box-Muller: two uniforms, two normals; 1 - u keeps the log finite.
                let u1 = 1.0 - g.next_f64();
                let u2 = g.next_f64();
                let r = (-2.0 * u1.ln()).sqrt();
                let (s, c) = (std::f64::consts::TAU * u2).sin_cos();
                out.push(mean + std * r * c);
                if out.len() < n {
                    out.push(mean + std * r * s);
                }
            }
        }
    }
    out
}

/// Chunk `index` of a seeded random array.
#[rask_macros::task(crate = rask_core)]
pub(crate) fn random(seed: u64, index: u64, shape: Vec<usize>, dist: Dist) -> Block {
    let n = shape.iter().product();
    let v = fill(seed, index, n, dist);
    match ArrayD::from_shape_vec(IxDyn(&shape), v) {
        Ok(a) => block(a),
        Err(_) => block(ArrayD::<f64>::zeros(IxDyn(&shape))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_deterministic_and_plausible() {
        let a = fill(
            7,
            3,
            10_001,
            Dist::Uniform {
                low: 0.0,
                high: 1.0,
            },
        );
        let b = fill(
            7,
            3,
            10_001,
            Dist::Uniform {
                low: 0.0,
                high: 1.0,
            },
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fill(
                7,
                4,
                10_001,
                Dist::Uniform {
                    low: 0.0,
                    high: 1.0
                }
            )
        );
        let mean = a.iter().sum::<f64>() / a.len() as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        assert!(a.iter().all(|&x| (0.0..1.0).contains(&x)));
        let n = fill(
            1,
            0,
            20_000,
            Dist::Normal {
                mean: 2.0,
                std: 3.0,
            },
        );
        let m = n.iter().sum::<f64>() / n.len() as f64;
        let v = n.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / n.len() as f64;
        assert!(
            (m - 2.0).abs() < 0.1 && (v.sqrt() - 3.0).abs() < 0.1,
            "{m} {v}"
        );
    }
}
