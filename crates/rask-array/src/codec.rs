//! How a [`Block`] is encoded: its dtype, its shape, then its elements as
//! one byte string (their little-endian bytes, row-major).
//!
//! A chunk is millions of numbers; written one by one through serde they
//! cost a call each way per number, and a growing output buffer. As one
//! byte string, encoding is a copy into a buffer of known size, decoding
//! one copy out of the input (into huge pages when big,
//! `rask_core::big_vec`).
//!
//! Rules:
//! 1. Decoding checks that the bytes are exactly the shape's elements
//!    (no overflow, no bytes missing or left over) before it allocates,
//!    and that booleans are 0 or 1: a peer's bytes give a clear error,
//!    never a wrong block.
//! 2. Self-describing formats (JSON) get the bytes as a list of numbers
//!    and are read back either way.

use std::fmt;
use std::marker::PhantomData;

use ndarray::{ArcArray, IxDyn};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};

use crate::block::{Block, DType};

const _: () = assert!(
    cfg!(target_endian = "little"),
    "a block's bytes are its elements' little-endian bytes"
);

/// The elements of one chunk, as bytes.
struct Elements<'a>(&'a [u8]);

impl Serialize for Elements<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The bytes of a row-major, contiguous slice of plain numbers.
fn as_bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: `T` is f64, i64 or bool here: no padding, and the view
    // covers exactly the slice's initialized items, borrowed from it.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }
}

fn ser_array<T: Copy, S: Serializer>(
    dtype: DType,
    a: &ArcArray<T, IxDyn>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let std = a.as_standard_layout();
    let items = std
        .as_slice()
        .ok_or_else(|| serde::ser::Error::custom("a standard-layout block is not contiguous"))?;
    let mut t = s.serialize_tuple(3)?;
    t.serialize_element(&dtype)?;
    t.serialize_element(a.shape())?;
    t.serialize_element(&Elements(as_bytes(items)))?;
    t.end()
}

impl Serialize for Block {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Block::F64(a) => ser_array(DType::F64, a, s),
            Block::I64(a) => ser_array(DType::I64, a, s),
            Block::Bool(a) => ser_array(DType::Bool, a, s),
        }
    }
}

/// Bytes read back, borrowed from the input when the format allows.
enum Raw<'de> {
    Borrowed(&'de [u8]),
    Owned(Vec<u8>),
}

impl Raw<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Raw::Borrowed(b) => b,
            Raw::Owned(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for Raw<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Raw<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a block's element bytes")
            }
            fn visit_borrowed_bytes<E: de::Error>(self, v: &'de [u8]) -> Result<Raw<'de>, E> {
                Ok(Raw::Borrowed(v))
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Raw<'de>, E> {
                Ok(Raw::Owned(v.to_vec()))
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Raw<'de>, E> {
                Ok(Raw::Owned(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Raw<'de>, A::Error> {
                // At most 1 MiB reserved from a hint (a peer's hint may lie).
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Raw::Owned(v))
            }
        }
        d.deserialize_bytes(V)
    }
}

/// A row-major array of `shape` from its elements' bytes (rule 1).
fn array_from<T: Copy>(shape: &[usize], bytes: &[u8]) -> Result<ArcArray<T, IxDyn>, String> {
    let n = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("a block of shape {shape:?} is too big"))?;
    let size = std::mem::size_of::<T>();
    if n.checked_mul(size) != Some(bytes.len()) {
        return Err(format!(
            "a block of shape {shape:?} needs {} bytes of elements, found {}",
            n.saturating_mul(size),
            bytes.len()
        ));
    }
    let mut v: Vec<T> = rask_core::big_vec(n);
    // SAFETY: `v` has room for `n` items, `bytes.len()` bytes, which the
    // copy initializes; every bit pattern is a valid `T` (f64 or i64; bools
    // are checked by the caller first); the regions do not overlap.
    unsafe {
        rask_core::copy_bytes(
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), bytes.len()),
            bytes,
        );
        v.set_len(n);
    }
    ArcArray::from_shape_vec(IxDyn(shape), v).map_err(|e| e.to_string())
}

impl<'de> Deserialize<'de> for Block {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'de>(PhantomData<&'de ()>);
        impl<'de> Visitor<'de> for V<'de> {
            type Value = Block;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a block: dtype, shape, element bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Block, A::Error> {
                let missing = |what| de::Error::custom(format!("a block's {what} is missing"));
                let dtype: DType = seq.next_element()?.ok_or_else(|| missing("dtype"))?;
                let shape: Vec<usize> = seq.next_element()?.ok_or_else(|| missing("shape"))?;
                let raw: Raw<'de> = seq.next_element()?.ok_or_else(|| missing("data"))?;
                let bytes = raw.as_slice();
                let block = match dtype {
                    DType::F64 => array_from::<f64>(&shape, bytes).map(Block::F64),
                    DType::I64 => array_from::<i64>(&shape, bytes).map(Block::I64),
                    DType::Bool => match bytes.iter().position(|&b| b > 1) {
                        Some(i) => Err(format!("element {i} of a bool block is {}", bytes[i])),
                        None => array_from::<bool>(&shape, bytes).map(Block::Bool),
                    },
                };
                block.map_err(de::Error::custom)
            }
        }
        d.deserialize_tuple(3, V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use ndarray::ArrayD;

    fn round_trip(b: &Block) -> Block {
        let bytes = rask_core::format::to_vec(b).unwrap();
        rask_core::decode::<Block>(&bytes).unwrap()
    }

    #[test]
    fn blocks_of_every_dtype_come_back_equal() {
        let f = ArrayD::from_shape_fn(IxDyn(&[3, 4]), |i| (i[0] * 4 + i[1]) as f64 * 0.5 - 1.0);
        let i = f.mapv(|x| (x * 2.0) as i64);
        let b = f.mapv(|x| x > 0.0);
        for block in [Block::from(f.clone()), Block::from(i), Block::from(b)] {
            let back = round_trip(&block);
            assert_eq!(back.dtype(), block.dtype());
            assert_eq!(back.shape(), block.shape());
            assert_eq!(format!("{back:?}"), format!("{block:?}"));
        }
        // A transposed view is encoded in its own (logical) row-major order.
        let t = Block::F64(f.clone().into_shared().reversed_axes());
        let Block::F64(back) = round_trip(&t) else {
            panic!("dtype changed")
        };
        assert_eq!(back, f.t());
        // Zero-size and 0-d blocks.
        let empty = Block::from(ArrayD::<f64>::zeros(IxDyn(&[0, 5])));
        assert_eq!(round_trip(&empty).shape(), &[0, 5]);
        let scalar = Block::from(ArrayD::from_elem(IxDyn(&[]), 7i64));
        assert_eq!(round_trip(&scalar).shape(), &[] as &[usize]);
    }

    #[test]
    fn the_elements_are_one_byte_string() {
        let f = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let bytes = rask_core::format::to_vec(&Block::from(f)).unwrap();
        // dtype 0, shape [2, 2], 32 bytes of elements: 1 + 3 + 1 + 32.
        assert_eq!(bytes.len(), 37);
        assert_eq!(&bytes[..5], &[0, 2, 2, 2, 32]);
        assert_eq!(&bytes[5..13], &1.0f64.to_le_bytes());
    }

    #[test]
    fn bad_bytes_are_refused_with_a_reason() {
        // (postcard keeps no text of a custom error: through `decode` a
        // refused block names its type; the reasons are checked on
        // `array_from` and through JSON.)
        let f = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0f64, 2.0, 3.0, 4.0]).unwrap();
        let mut bytes = rask_core::format::to_vec(&Block::from(f)).unwrap();
        // Shape [2, 3] for 4 elements' bytes.
        bytes[3] = 3;
        let e = rask_core::decode::<Block>(&bytes).unwrap_err();
        assert!(e.contains("not a valid `rask_array::block::Block`"), "{e}");
        let e = array_from::<f64>(&[2, 3], &[0; 32]).unwrap_err();
        assert!(e.contains("needs 48 bytes of elements, found 32"), "{e}");
        // A shape whose element count overflows.
        let huge = (DType::F64, vec![usize::MAX, 3], Elements(&[]));
        let bytes = rask_core::format::to_vec(&huge).unwrap();
        assert!(rask_core::decode::<Block>(&bytes).is_err());
        let e = array_from::<f64>(&[usize::MAX, 3], &[]).unwrap_err();
        assert!(e.contains("too big"), "{e}");
        // A bool that is neither 0 nor 1.
        let bad = (DType::Bool, vec![2usize], Elements(&[1, 7]));
        let bytes = rask_core::format::to_vec(&bad).unwrap();
        assert!(rask_core::decode::<Block>(&bytes).is_err());
        let e = serde_json::from_str::<Block>(r#"["Bool",[2],[1,7]]"#).unwrap_err();
        assert!(
            e.to_string().contains("element 1 of a bool block is 7"),
            "{e}"
        );
        // Bytes missing at the end.
        let good = rask_core::format::to_vec(&bad).unwrap();
        assert!(rask_core::decode::<Block>(&good[..good.len() - 1]).is_err());
    }

    #[test]
    fn json_reads_its_own_encoding() {
        let b = Block::from(ArrayD::from_shape_vec(IxDyn(&[2]), vec![true, false]).unwrap());
        let text = serde_json::to_string(&b).unwrap();
        let back: Block = serde_json::from_str(&text).unwrap();
        assert_eq!(format!("{back:?}"), format!("{b:?}"));
    }
}
