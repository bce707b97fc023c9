//! The one binary format of Rask: task values, wire messages and files
//! (postcard 1, a serde format with a published, stable specification).
//!
//! Every crate encodes through here (the wire's frames, the value codec,
//! the local data plane, the workflow journal), so the format lives in one
//! place. What the bytes are:
//! - integers `u16`..`u128` and `usize` as LEB128 varints, signed ones
//!   zigzagged first; `u8`/`i8` as one byte; `bool` as one byte (0 or 1);
//! - `f32`/`f64` as their little-endian bytes;
//! - sequences, maps, strings and byte strings as a varint length, then
//!   the items (so the encoding of a `Vec<T>` is the length followed by
//!   each item's encoding: [`write_len`] writes that prefix by hand);
//! - an enum as the varint index of its variant, then its fields; structs
//!   and tuples as their fields in order, with no names.
//!
//! Rules:
//! 1. Decoding reads only the bytes given: a length larger than what is
//!    left fails before anything is allocated for it (serde's collections
//!    reserve at most 1 MiB from a length hint), so a peer's bytes cannot
//!    make us allocate more than they are long.
//! 2. [`from_slice`] requires the whole input to be one value; bytes left
//!    over are an error. [`from_prefix`] hands them back.
//! 3. Values from peers are decoded under a nesting limit
//!    ([`from_slice_nested`], `depth.rs`), so a recursive type cannot
//!    recurse once per level of the input.

use postcard::ser_flavors::Flavor;
use serde::{Deserialize, Serialize};

use crate::depth::{self, Limited, MAX_DEPTH};

/// A value that does not encode, or bytes that do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

impl FormatError {
    fn from_postcard(e: postcard::Error) -> FormatError {
        FormatError(e.to_string())
    }
}

/// Appends to a `Vec` (postcard's own flavours take the vector by value).
struct Append<'a>(&'a mut Vec<u8>);

impl Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        self.0.push(b);
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, b: &[u8]) -> postcard::Result<()> {
        self.0.extend_from_slice(b);
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Appends the encoding of `v` to `out`. On an error `out` may hold part
/// of the encoding: truncate it to its old length.
pub fn append<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), FormatError> {
    postcard::serialize_with_flavor(v, Append(out)).map_err(FormatError::from_postcard)
}

/// Counts the bytes of an encoding without writing them.
struct Count(usize);

impl Flavor for Count {
    type Output = usize;

    #[inline]
    fn try_push(&mut self, _: u8) -> postcard::Result<()> {
        self.0 += 1;
        Ok(())
    }

    #[inline]
    fn try_extend(&mut self, b: &[u8]) -> postcard::Result<()> {
        self.0 += b.len();
        Ok(())
    }

    fn finalize(self) -> postcard::Result<usize> {
        Ok(self.0)
    }
}

/// The length of the encoding of `v` (a pass over `v` that writes
/// nothing: cheap for values made of few, big byte strings).
pub fn encoded_len<T: Serialize + ?Sized>(v: &T) -> Result<usize, FormatError> {
    postcard::serialize_with_flavor(v, Count(0)).map_err(FormatError::from_postcard)
}

/// Writes the encoding of `v` into `out`, which must be exactly
/// [`encoded_len`] bytes long.
pub fn write_exact<T: Serialize + ?Sized>(v: &T, out: &mut [u8]) -> Result<(), FormatError> {
    let len = out.len();
    let used = postcard::to_slice(v, out)
        .map_err(FormatError::from_postcard)?
        .len();
    if used != len {
        return Err(FormatError(format!(
            "the encoding took {used} bytes, not the {len} counted"
        )));
    }
    Ok(())
}

/// The encoding of `v`.
pub fn to_vec<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    append(v, &mut out)?;
    Ok(out)
}

/// Decodes one `T` that takes up all of `bytes` (rule 2).
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FormatError> {
    let (v, rest) = from_prefix(bytes)?;
    left_over(v, rest)
}

/// Decodes one `T` from the start of `bytes`; returns it and what follows.
pub fn from_prefix<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<(T, &'a [u8]), FormatError> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    let v = T::deserialize(&mut de).map_err(FormatError::from_postcard)?;
    let rest = de.finalize().map_err(FormatError::from_postcard)?;
    Ok((v, rest))
}

/// [`from_slice`] under the nesting limit (rule 3): for values whose type
/// may be recursive.
pub fn from_slice_nested<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, FormatError> {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    depth::take_tripped();
    let v = T::deserialize(Limited {
        de: &mut de,
        depth: MAX_DEPTH,
    })
    .map_err(|e| match (depth::take_tripped(), e) {
        (true, _) => FormatError(depth::TOO_DEEP.to_owned()),
        // postcard keeps no text of a custom error (serde's "invalid value",
        // "invalid length", an unknown variant, a `Deserialize` impl's own
        // check): name the type at least. Keeping the text would mean
        // wrapping the error type of every access object, which made
        // decoding 8-28% slower (see `depth.rs`).
        (false, postcard::Error::SerdeDeCustom) => FormatError(format!(
            "the bytes are not a valid `{}`: a part of it refused its value \
             (an invalid value, length or enum variant, or a check of its own)",
            std::any::type_name::<T>()
        )),
        (false, e) => FormatError::from_postcard(e),
    })?;
    let rest = de.finalize().map_err(FormatError::from_postcard)?;
    left_over(v, rest)
}

fn left_over<T>(v: T, rest: &[u8]) -> Result<T, FormatError> {
    if rest.is_empty() {
        Ok(v)
    } else {
        Err(FormatError(format!(
            "{} bytes left over after the value",
            rest.len()
        )))
    }
}

/// A `u32` written as four little-endian bytes whatever the format does with
/// integers (`#[serde(with = "rask_core::format::fixed_u32")]`): for fields
/// that must sit at a known offset, such as a protocol version.
pub mod fixed_u32 {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Writes `v` as `[u8; 4]`, little-endian.
    pub fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
        v.to_le_bytes().serialize(s)
    }

    /// Reads four little-endian bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
        <[u8; 4]>::deserialize(d).map(u32::from_le_bytes)
    }
}

/// The most bytes a length prefix takes.
pub const MAX_LEN_BYTES: usize = 10;

/// Appends `n` as a length prefix (the prefix of a sequence's encoding).
#[inline]
pub fn write_len(out: &mut Vec<u8>, n: usize) {
    let mut buf = [0u8; MAX_LEN_BYTES];
    let k = len_into(&mut buf, n);
    out.extend_from_slice(&buf[..k]);
}

/// Writes `n` as a length prefix into `buf`; returns the bytes written.
#[inline]
pub fn len_into(buf: &mut [u8; MAX_LEN_BYTES], n: usize) -> usize {
    let mut v = n as u64;
    let mut i = 0;
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            buf[i] = byte;
            return i + 1;
        }
        buf[i] = byte | 0x80;
        i += 1;
    }
}

/// The bytes [`write_len`] takes for `n`.
#[inline]
pub fn len_size(n: usize) -> usize {
    let bits = 64 - (n as u64 | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Reads a length prefix; returns it and the bytes after it. `None` for a
/// prefix that is cut short, longer than ten bytes, or over `u64::MAX`.
#[inline]
pub fn read_len(bytes: &[u8]) -> Option<(usize, &[u8])> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(MAX_LEN_BYTES) {
        let part = u64::from(b & 0x7f);
        if i == MAX_LEN_BYTES - 1 && b > 1 {
            return None;
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(v).ok()?, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_the_formats_own() {
        for n in [
            0usize,
            1,
            127,
            128,
            300,
            1 << 20,
            u32::MAX as usize,
            usize::MAX,
        ] {
            let mut ours = Vec::new();
            write_len(&mut ours, n);
            assert_eq!(ours, to_vec(&n).unwrap(), "{n}");
            assert_eq!(ours.len(), len_size(n), "{n}");
            let (back, rest) = read_len(&ours).unwrap();
            assert_eq!((back, rest.len()), (n, 0));
            let v: Vec<u8> = vec![7; n.min(200)];
            let enc = to_vec(&v).unwrap();
            let (len, items) = read_len(&enc).unwrap();
            assert_eq!((len, items), (v.len(), &v[..]));
        }
        assert!(read_len(&[0x80]).is_none());
        assert!(read_len(&[0xff; 11]).is_none());
        assert!(read_len(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]).is_none());
    }

    #[test]
    fn whole_input_or_an_error() {
        let b = to_vec(&(1u32, "x".to_owned())).unwrap();
        assert_eq!(from_slice::<(u32, String)>(&b).unwrap(), (1, "x".into()));
        let mut longer = b.clone();
        longer.push(0);
        let e = from_slice::<(u32, String)>(&longer).unwrap_err();
        assert!(e.to_string().contains("1 bytes left over"), "{e}");
        let (v, rest) = from_prefix::<(u32, String)>(&longer).unwrap();
        assert_eq!((v.0, rest), (1, &[0u8][..]));
        assert!(from_slice_nested::<(u32, String)>(&longer).is_err());
        assert!(from_slice_nested::<(u32, String)>(&b).is_ok());
        assert!(from_slice::<(u32, String)>(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn a_fixed_u32_is_four_bytes() {
        #[derive(Serialize, Deserialize, Debug, PartialEq)]
        struct Hello {
            magic: [u8; 4],
            #[serde(with = "fixed_u32")]
            version: u32,
        }
        let h = Hello {
            magic: *b"RASK",
            version: 0x0102_0304,
        };
        let b = to_vec(&h).unwrap();
        assert_eq!(b, b"RASK\x04\x03\x02\x01");
        assert_eq!(from_slice::<Hello>(&b).unwrap(), h);
    }

    #[test]
    fn a_huge_length_allocates_nothing() {
        let mut b = Vec::new();
        write_len(&mut b, usize::MAX >> 1);
        b.extend_from_slice(&[1, 2, 3]);
        assert!(from_slice::<Vec<u64>>(&b).is_err());
        assert!(from_slice::<String>(&b).is_err());
    }
}
