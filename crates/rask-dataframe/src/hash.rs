//! Deterministic row hashes for splitting by key (shuffles, split group-by
//! output, joins). The hash depends only on the values, never on a process's
//! random seed or a partition's dictionary, so every process and partition
//! sends a key to the same bucket. Integer keys of any width hash as `i64`
//! (and so do decimals that fit it, dates and timestamps as their integers);
//! strings and binaries of every encoding, dictionaries included, hash by
//! their bytes alike; null has its own hash. Keys of two tables that must
//! meet (a join) are cast to one type first, so equal keys hash alike.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int32Type, Int64Type};

use crate::error::{FrameError, Result};

const K: u64 = 0x9E37_79B9_7F4A_7C15;
const NULL_HASH: u64 = 0x5bd1_e995_1234_5678;

#[inline]
fn mix(x: u64) -> u64 {
    let x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[inline]
pub(crate) fn hash_bytes(b: &[u8]) -> u64 {
    let mut h = (b.len() as u64).wrapping_mul(K);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h ^ u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h ^ u64::from_le_bytes(w) ^ 0xff);
    }
    h
}

/// The bits of a float with -0.0 as 0.0 and every NaN alike, so that
/// equal values (as keys) have equal bits.
pub(crate) fn float_bits(v: f64) -> u64 {
    if v.is_nan() {
        f64::NAN.to_bits()
    } else if v == 0.0 {
        0
    } else {
        v.to_bits()
    }
}

/// One hash per row over the columns.
pub(crate) fn hash_rows(cols: &[ArrayRef], n_rows: usize) -> Result<Vec<u64>> {
    let mut h = vec![K; n_rows];
    for c in cols {
        hash_into(c, &mut h)?;
    }
    Ok(h)
}

fn combine(acc: &mut u64, v: u64) {
    *acc = mix(acc.rotate_left(5) ^ v);
}

fn hash_into(a: &ArrayRef, out: &mut [u64]) -> Result<()> {
    // Fast paths without a vector of per-row hashes.
    match a.data_type() {
        DataType::Int64 if a.null_count() == 0 => {
            let p = a.as_primitive::<Int64Type>();
            for (o, &v) in out.iter_mut().zip(p.values().iter()) {
                combine(o, mix(v as u64 ^ K));
            }
            return Ok(());
        }
        DataType::Dictionary(k, _) if **k == DataType::Int32 => {
            let d = a.as_dictionary::<Int32Type>();
            let vh = value_hashes(d.values())?;
            for (i, (o, &k)) in out.iter_mut().zip(d.keys().values().iter()).enumerate() {
                let v = if d.is_valid(i) {
                    vh[k as usize]
                } else {
                    NULL_HASH
                };
                combine(o, v);
            }
            return Ok(());
        }
        _ => {}
    }
    let v = value_hashes(a)?;
    for (o, v) in out.iter_mut().zip(v) {
        combine(o, v);
    }
    Ok(())
}

/// The hash of each row's value alone (`NULL_HASH` for null).
fn value_hashes(a: &ArrayRef) -> Result<Vec<u64>> {
    use DataType as T;
    let n = a.len();
    let nulled = |v: Vec<u64>| -> Vec<u64> {
        match a.nulls().filter(|b| b.null_count() > 0) {
            None => v,
            Some(b) => v
                .into_iter()
                .enumerate()
                .map(|(i, h)| if b.is_valid(i) { h } else { NULL_HASH })
                .collect(),
        }
    };
    Ok(match a.data_type() {
        T::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let vh = value_hashes(d.values())?;
            let keys = d.normalized_keys();
            (0..n)
                .map(|i| {
                    if a.is_valid(i) {
                        vh[keys[i]]
                    } else {
                        NULL_HASH
                    }
                })
                .collect()
        }
        T::Utf8 => {
            let s = a.as_string::<i32>();
            nulled((0..n).map(|i| hash_bytes(s.value(i).as_bytes())).collect())
        }
        T::LargeUtf8 => {
            let s = a.as_string::<i64>();
            nulled((0..n).map(|i| hash_bytes(s.value(i).as_bytes())).collect())
        }
        T::Utf8View => {
            let s = a.as_string_view();
            nulled((0..n).map(|i| hash_bytes(s.value(i).as_bytes())).collect())
        }
        T::Binary => {
            let s = a.as_binary::<i32>();
            nulled((0..n).map(|i| hash_bytes(s.value(i))).collect())
        }
        T::LargeBinary => {
            let s = a.as_binary::<i64>();
            nulled((0..n).map(|i| hash_bytes(s.value(i))).collect())
        }
        T::BinaryView => {
            let s = a.as_binary_view();
            nulled((0..n).map(|i| hash_bytes(s.value(i))).collect())
        }
        T::FixedSizeBinary(_) => {
            let s = a.as_fixed_size_binary();
            nulled((0..n).map(|i| hash_bytes(s.value(i))).collect())
        }
        T::Boolean => {
            let b = a.as_boolean();
            nulled((0..n).map(|i| mix(u64::from(b.value(i)) + 1)).collect())
        }
        T::Null => vec![NULL_HASH; n],
        T::Decimal128(..) => {
            let p = a.as_primitive::<Decimal128Type>();
            nulled(
                p.values()
                    .iter()
                    .map(|&v| match i64::try_from(v) {
                        Ok(small) => mix(small as u64 ^ K),
                        Err(_) => mix(mix((v >> 64) as u64) ^ v as u64),
                    })
                    .collect(),
            )
        }
        t if crate::expr::typing::is_decimal(t) => {
            let scale = crate::groupby::keys::decimal_scale(t);
            value_hashes(&cast(a, &T::Decimal128(38, scale))?)?
        }
        t if t.is_integer() => {
            let c = cast(a, &T::Int64)?;
            let p = c.as_primitive::<Int64Type>();
            nulled(p.values().iter().map(|&v| mix(v as u64 ^ K)).collect())
        }
        t if t.is_floating() => {
            let c = cast(a, &T::Float64)?;
            let p = c.as_primitive::<Float64Type>();
            nulled(p.values().iter().map(|&v| mix(float_bits(v) ^ K)).collect())
        }
        t if crate::expr::typing::is_temporal(t) => {
            // The integer underneath (both sides of a join share a type).
            let int = match t {
                T::Date32 | T::Time32(_) => T::Int32,
                _ => T::Int64,
            };
            let c = a.to_data().into_builder().data_type(int).build()?;
            value_hashes(&arrow::array::make_array(c))?
        }
        t => {
            return Err(FrameError::Invalid(format!(
                "cannot hash a key of type {t}"
            )))
        }
    })
}
