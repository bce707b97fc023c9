//! Tasks that can cross a process boundary: registered functions and the
//! codecs of their values.
//!
//! No code travels between processes. A function marked `#[rask::task]` is
//! compiled into the binary with a [`Registered`] entry (its stable name, a
//! shim that decodes the arguments, calls it and encodes the result, and the
//! codecs of its types) collected at link time with `inventory`. A worker
//! process, which runs the same binary, finds the entry by name. A task whose
//! body reports no [`Remote`] (a closure, an unregistered function) runs on
//! in-process executors only; process executors refuse it.
//!
//! A list of delayed values passed where a registered function takes a
//! `Vec<T>` becomes a built-in gather task (registered as [`GATHER`]): its
//! encoding is the list's length followed by each item's encoding, which is
//! exactly bincode's encoding of the `Vec<T>`, so a worker gathers without
//! knowing `T`.
//!
//! Values are encoded with bincode (fixed-width integers, little-endian),
//! except vectors of plain numbers, which are copied as their bytes (a
//! 256 MiB `Vec<f64>` encodes at memory speed, not element by element).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::node::{Data, TaskFailure, Value};

/// How values of one type are written to bytes and read back.
#[derive(Debug)]
pub struct Codec {
    /// The type's name, for errors.
    pub type_name: fn() -> &'static str,
    /// Appends the encoding of a value (which must be of this type).
    pub encode: fn(&Value, &mut Vec<u8>) -> Result<(), String>,
    /// Reads a value of this type.
    pub decode: fn(&[u8]) -> Result<Value, String>,
}

/// The codec of `T` (for `static`s made by `#[rask::task]`).
pub const fn codec<T: Data + Serialize + DeserializeOwned>() -> Codec {
    Codec {
        type_name: std::any::type_name::<T>,
        encode: encode_value::<T>,
        decode: decode_value::<T>,
    }
}

/// Signature of a registered function's shim: encoded arguments in, the
/// encoded result appended to the buffer.
pub type Shim = fn(&[&[u8]], &mut Vec<u8>) -> Result<(), TaskFailure>;

/// A function registered with `#[rask::task]`.
#[derive(Debug)]
pub struct Registered {
    /// Its stable name: the crate path and the function name (`app::stats::mean`).
    pub name: &'static str,
    /// Decodes the arguments, calls the function, encodes its result.
    pub call: Shim,
    /// The codecs of its parameters, in order.
    pub args: &'static [&'static Codec],
    /// The codec of its result.
    pub output: &'static Codec,
}

/// The link-time entry of one registered function.
#[derive(Debug)]
pub struct Registration(pub &'static Registered);

inventory::collect!(Registration);

/// Looks up a registered function by its stable name.
pub fn registered(name: &str) -> Option<&'static Registered> {
    static BY_NAME: OnceLock<HashMap<&'static str, &'static Registered>> = OnceLock::new();
    BY_NAME
        .get_or_init(|| {
            inventory::iter::<Registration>
                .into_iter()
                .map(|r| (r.0.name, r.0))
                .collect()
        })
        .get(name)
        .copied()
}

/// The stable name of the built-in gather (see the module docs).
pub const GATHER: &str = "rask::gather";

/// Writes the encoding of a `Vec<T>` from the encodings of its items.
fn gather_shim(items: &[&[u8]], out: &mut Vec<u8>) -> Result<(), TaskFailure> {
    out.reserve(8 + items.iter().map(|i| i.len()).sum::<usize>());
    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
    for i in items {
        out.extend_from_slice(i);
    }
    Ok(())
}

static UNIT: Codec = codec::<()>();

/// What a worker finds under [`GATHER`]; the shim is byte-level, so the
/// output codec does not matter there.
static GATHER_ENTRY: Registered = Registered {
    name: GATHER,
    call: gather_shim,
    args: &[],
    output: &UNIT,
};

inventory::submit! { Registration(&GATHER_ENTRY) }

/// The gather whose result `codec` (a `Vec<T>`'s) decodes: one entry per
/// codec, made on first use and kept for the life of the process.
pub(crate) fn gather_registration(codec: &'static Codec) -> &'static Registered {
    static BY_CODEC: Mutex<Vec<&'static Registered>> = Mutex::new(Vec::new());
    let mut known = BY_CODEC.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = known.iter().find(|r| std::ptr::eq(r.output, codec)) {
        return r;
    }
    let r: &'static Registered = Box::leak(Box::new(Registered {
        name: GATHER,
        call: gather_shim,
        args: &[],
        output: codec,
    }));
    known.push(r);
    r
}

/// How a task runs outside the process that built it.
#[derive(Clone, Copy, Debug)]
pub enum Remote {
    /// A call of a registered function.
    Call(&'static Registered),
    /// A constant: computed where the graph is, sent as its encoding.
    Literal(&'static Codec),
}

impl Remote {
    /// The codec of the task's result.
    pub fn output(&self) -> &'static Codec {
        match self {
            Remote::Call(r) => r.output,
            Remote::Literal(c) => c,
        }
    }
}

/// Plain-number vectors, copied as bytes. Each `$t` is a primitive number
/// type whose every bit pattern is valid, with no padding.
macro_rules! pod_vectors {
    ($($t:ty),*) => {
        fn encode_pod(v: &dyn Any, out: &mut Vec<u8>) -> bool {
            $(
                if let Some(v) = v.downcast_ref::<Vec<$t>>() {
                    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    out.reserve(std::mem::size_of_val(v.as_slice()));
                    for x in v {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    return true;
                }
            )*
            false
        }

        fn decode_pod<T: 'static>(bytes: &[u8]) -> Option<Result<Box<dyn Any>, String>> {
            $(
                if TypeId::of::<T>() == TypeId::of::<Vec<$t>>() {
                    return Some(decode_pod_vec::<$t, { std::mem::size_of::<$t>() }>(bytes, <$t>::from_le_bytes)
                        .map(|v| Box::new(v) as Box<dyn Any>));
                }
            )*
            None
        }
    };
}

pod_vectors!(f64, f32, u64, i64, u32, i32, u16, i16, u8, i8);

fn decode_pod_vec<T, const N: usize>(
    bytes: &[u8],
    from: fn([u8; N]) -> T,
) -> Result<Vec<T>, String> {
    let (len, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| "a vector's length is missing".to_owned())?;
    let len = u64::from_le_bytes(*len) as usize;
    if rest.len() != len.saturating_mul(N) {
        return Err(format!(
            "a vector of {len} items needs {} bytes, found {}",
            len.saturating_mul(N),
            rest.len()
        ));
    }
    Ok(rest
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            from(a)
        })
        .collect())
}

/// Appends the encoding of `v`.
pub fn encode<T: Serialize + 'static>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
    if encode_pod(v, out) {
        return Ok(());
    }
    bincode::serialize_into(out, v).map_err(|e| e.to_string())
}

/// Reads a `T` from its encoding.
pub fn decode<T: DeserializeOwned + 'static>(bytes: &[u8]) -> Result<T, String> {
    if let Some(r) = decode_pod::<T>(bytes) {
        return r.and_then(|b| {
            b.downcast::<T>()
                .map(|b| *b)
                .map_err(|_| "internal error: vector type mismatch".to_owned())
        });
    }
    bincode::deserialize(bytes).map_err(|e| e.to_string())
}

fn encode_value<T: Data + Serialize>(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v.downcast_ref::<T>() {
        Some(t) => encode(t, out),
        None => Err(format!("a value is not a `{}`", std::any::type_name::<T>())),
    }
}

fn decode_value<T: Data + DeserializeOwned>(bytes: &[u8]) -> Result<Value, String> {
    decode::<T>(bytes).map(|v| Arc::new(v) as Value)
}

/// Decodes argument `position` of a registered function (used by the shims
/// that `#[rask::task]` writes).
pub fn decode_arg<T: DeserializeOwned + 'static>(
    args: &[&[u8]],
    position: usize,
) -> Result<T, TaskFailure> {
    let bytes = args.get(position).ok_or_else(|| {
        TaskFailure::msg(format!(
            "argument {} is missing ({} given)",
            position + 1,
            args.len()
        ))
    })?;
    decode::<T>(bytes).map_err(|e| {
        TaskFailure::msg(format!(
            "argument {} is not a valid `{}`: {e}",
            position + 1,
            std::any::type_name::<T>()
        ))
    })
}

/// Encodes a registered function's result (used by the shims).
pub fn encode_output<T: Serialize + 'static>(v: &T, out: &mut Vec<u8>) -> Result<(), TaskFailure> {
    encode(v, out).map_err(|e| TaskFailure::msg(format!("the result could not be encoded: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_vectors_and_structs_round_trip() {
        let mut buf = Vec::new();
        encode(&vec![1.5f64, -2.0, 3.25], &mut buf).unwrap();
        assert_eq!(buf.len(), 8 + 24);
        assert_eq!(decode::<Vec<f64>>(&buf).unwrap(), vec![1.5, -2.0, 3.25]);
        buf.clear();
        encode(&(7u64, "seven".to_owned(), vec![(1u8, true)]), &mut buf).unwrap();
        let back: (u64, String, Vec<(u8, bool)>) = decode(&buf).unwrap();
        assert_eq!(back, (7, "seven".to_owned(), vec![(1, true)]));
    }

    #[test]
    fn a_gather_writes_the_encoding_of_the_vector() {
        let items: Vec<Vec<u8>> = [vec![1.0f64, 2.0], vec![], vec![3.5]]
            .iter()
            .map(|v| {
                let mut b = Vec::new();
                encode(v, &mut b).unwrap();
                b
            })
            .collect();
        let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        gather_shim(&slices, &mut out).unwrap();
        let back: Vec<Vec<f64>> = decode(&out).unwrap();
        assert_eq!(back, vec![vec![1.0, 2.0], vec![], vec![3.5]]);
        assert!(registered(GATHER).is_some());
        static C: Codec = codec::<Vec<Vec<f64>>>();
        assert!(std::ptr::eq(
            gather_registration(&C),
            gather_registration(&C)
        ));
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert!(decode::<Vec<f64>>(&[1, 0, 0, 0, 0, 0, 0, 0, 9]).is_err());
        assert!(decode::<Vec<f64>>(&[1, 2]).is_err());
        assert!(decode::<String>(&[255, 255, 255, 255, 255, 255, 255, 255]).is_err());
        let e = decode_arg::<u64>(&[&[1, 2]], 0).unwrap_err();
        assert!(
            e.to_string().contains("argument 1 is not a valid `u64`"),
            "{e}"
        );
        assert!(decode_arg::<u64>(&[], 1).is_err());
    }
}
