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
//! exactly the format's encoding of the `Vec<T>` ([`crate::format`]), so a
//! worker gathers without knowing `T`.
//!
//! Values are encoded in [`crate::format`], except vectors of the numbers
//! whose encoding there is their little-endian bytes (`f64`, `f32`, `u8`,
//! `i8`): those are written as the length prefix, then the items' bytes in
//! one copy (a 256 MiB `Vec<f64>` encodes at memory speed, not element by
//! element), which is the same bytes the format writes, so they may also sit
//! inside a gathered vector. Decoding allocates no more than the bytes given
//! call for and refuses a value nested deeper than 256 levels (`depth.rs`),
//! so no input can abort the process.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::format;
use crate::node::{Data, TaskFailure, Value};

/// How values of one type are written to bytes and read back.
#[derive(Debug)]
pub struct Codec {
    /// The type's name, for errors.
    pub type_name: fn() -> &'static str,
    /// Appends the encoding of a value (which must be of this type).
    pub encode: fn(&Value, &mut Vec<u8>) -> Result<(), String>,
    /// The length of a value's encoding, when it is known without encoding
    /// (vectors of numbers, already encoded bytes): such values are written
    /// straight into shared memory with `write`.
    pub exact_len: fn(&Value) -> Option<usize>,
    /// Writes the encoding into a buffer of exactly `exact_len` bytes.
    pub write: fn(&Value, &mut [u8]) -> Result<(), String>,
    /// Reads a value of this type.
    pub decode: fn(&[u8]) -> Result<Value, String>,
    /// For a vector (`Vec<U>`, from [`vec_codec`]): encodes each item on its
    /// own, so a multi-output task's parts are kept and fetched one by one
    /// (see `Delayed::split`).
    pub split: Option<Splitter>,
}

/// Encodes each item of a vector on its own (see [`Codec::split`]).
pub type Splitter = fn(&Value) -> Result<Vec<Vec<u8>>, String>;

/// The codec of `T` (for `static`s made by `#[rask::task]`).
pub const fn codec<T: Data + Serialize + DeserializeOwned>() -> Codec {
    Codec {
        type_name: std::any::type_name::<T>,
        encode: encode_value::<T>,
        exact_len: exact_len_of::<T>,
        write: write_value::<T>,
        decode: decode_value::<T>,
        split: None,
    }
}

/// The codec of `Vec<U>`, which can also split a value into its items
/// (what `#[rask::task]` uses for a function returning a `Vec`).
pub const fn vec_codec<U: Data + Serialize + DeserializeOwned>() -> Codec {
    Codec {
        split: Some(split_vec::<U>),
        ..codec::<Vec<U>>()
    }
}

fn split_vec<U: Data + Serialize>(v: &Value) -> Result<Vec<Vec<u8>>, String> {
    let items = v
        .downcast_ref::<Vec<U>>()
        .ok_or_else(|| format!("a value is not a `{}`", std::any::type_name::<Vec<U>>()))?;
    items
        .iter()
        .map(|item| {
            let mut out = Vec::new();
            encode(item, &mut out).map(|()| out)
        })
        .collect()
}

/// A codec for `T` made on first use and kept for the life of the process
/// (for generic code that needs a `&'static Codec`).
pub fn codec_of_type<T: Data + Serialize + DeserializeOwned>() -> &'static Codec {
    static KNOWN: Mutex<Vec<(TypeId, &'static Codec)>> = Mutex::new(Vec::new());
    let id = TypeId::of::<T>();
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, c)) = known.iter().find(|(t, _)| *t == id) {
        return c;
    }
    let c: &'static Codec = Box::leak(Box::new(codec::<T>()));
    known.push((id, c));
    c
}

/// Signature of a registered function's shim: encoded arguments in, the
/// result out (encoded by the function's output codec).
pub type Shim = fn(&[&[u8]]) -> Result<Value, TaskFailure>;

/// The future of an `async` registered function's call, its arguments
/// decoded into it.
pub type TaskFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, TaskFailure>> + Send>>;

/// Signature of an `async` registered function's shim: decodes the
/// arguments and returns the call's future (a worker runs it on its async
/// runtime).
pub type AsyncShim = fn(&[&[u8]]) -> Result<TaskFuture, TaskFailure>;

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
    /// For an `async fn`: the shim that makes its future (then `call` is
    /// not used).
    pub call_async: Option<AsyncShim>,
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

/// The codec of one type, registered by `#[rask::task]` for each of its
/// parameter and result types, so that a value of that type made in the
/// client (a `value(..)`, a future's result) can be sent to workers.
#[derive(Debug)]
pub struct TypeCodec {
    /// The type's id (a function, as `TypeId::of` is not `const`).
    pub type_id: fn() -> TypeId,
    /// Its codec.
    pub codec: &'static Codec,
}

inventory::collect!(TypeCodec);

/// The codec registered for the type `id`, if any (see [`TypeCodec`]).
pub fn codec_for(id: TypeId) -> Option<&'static Codec> {
    static BY_TYPE: OnceLock<HashMap<TypeId, &'static Codec>> = OnceLock::new();
    BY_TYPE
        .get_or_init(|| {
            inventory::iter::<TypeCodec>
                .into_iter()
                .map(|t| ((t.type_id)(), t.codec))
                .collect()
        })
        .get(&id)
        .copied()
}

/// The codec of the value `v` holds, if its type is registered.
pub fn codec_of(v: &Value) -> Option<&'static Codec> {
    codec_for(Any::type_id(&**v))
}

/// The stable name of the built-in identity: returns its argument's
/// encoding (puts a value the client holds on a worker: `scatter`).
pub const IDENTITY: &str = "rask::identity";

/// The stable name of the built-in gather (see the module docs).
pub const GATHER: &str = "rask::gather";

/// Bytes that are already an encoding, written as they are.
#[derive(Clone, Debug)]
struct Encoded(Vec<u8>);

/// The encoding of a `Vec<T>` from the encodings of its items.
fn gather_shim(items: &[&[u8]]) -> Result<Value, TaskFailure> {
    let mut out =
        Vec::with_capacity(format::MAX_LEN_BYTES + items.iter().map(|i| i.len()).sum::<usize>());
    format::write_len(&mut out, items.len());
    for i in items {
        out.extend_from_slice(i);
    }
    Ok(Arc::new(Encoded(out)))
}

fn encoded(v: &Value) -> Result<&[u8], String> {
    v.downcast_ref::<Encoded>()
        .map(|e| e.0.as_slice())
        .ok_or_else(|| "a value is not encoded bytes".to_owned())
}

/// The codec of [`Encoded`] (written only: a worker never decodes it).
static RAW: Codec = Codec {
    type_name: || "encoded bytes",
    encode: |v, out| encoded(v).map(|b| out.extend_from_slice(b)),
    exact_len: |v| encoded(v).ok().map(<[u8]>::len),
    write: |v, out| {
        let b = encoded(v)?;
        if b.len() != out.len() {
            return Err(format!("{} bytes do not fit {}", b.len(), out.len()));
        }
        copy_bytes(out, b);
        Ok(())
    },
    decode: |_| Err("encoded bytes are not decoded".to_owned()),
    split: None,
};

/// What a worker finds under [`GATHER`]; the shim is byte-level, so the
/// output codec does not matter there.
static GATHER_ENTRY: Registered = Registered {
    name: GATHER,
    call: gather_shim,
    args: &[],
    output: &RAW,
    call_async: None,
};

inventory::submit! { Registration(&GATHER_ENTRY) }

/// The identity's encoding of its one argument.
fn identity_shim(args: &[&[u8]]) -> Result<Value, TaskFailure> {
    match args {
        [one] => Ok(Arc::new(Encoded(one.to_vec()))),
        _ => Err(TaskFailure::msg(format!(
            "{IDENTITY} takes 1 argument, {} were sent",
            args.len()
        ))),
    }
}

static IDENTITY_ENTRY: Registered = Registered {
    name: IDENTITY,
    call: identity_shim,
    args: &[],
    output: &RAW,
    call_async: None,
};

inventory::submit! { Registration(&IDENTITY_ENTRY) }

/// The entry named `name` with the byte-level shim `call` whose result
/// `codec` decodes: one per (name, codec), made on first use and kept for
/// the life of the process.
fn builtin(name: &'static str, call: Shim, codec: &'static Codec) -> &'static Registered {
    static KNOWN: Mutex<Vec<&'static Registered>> = Mutex::new(Vec::new());
    let mut known = KNOWN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = known
        .iter()
        .find(|r| r.name == name && std::ptr::eq(r.output, codec))
    {
        return r;
    }
    let r: &'static Registered = Box::leak(Box::new(Registered {
        name,
        call,
        args: &[],
        output: codec,
        call_async: None,
    }));
    known.push(r);
    r
}

/// The gather whose result `codec` (a `Vec<T>`'s) decodes.
pub(crate) fn gather_registration(codec: &'static Codec) -> &'static Registered {
    builtin(GATHER, gather_shim, codec)
}

/// The identity whose result `codec` decodes.
pub fn identity_registration(codec: &'static Codec) -> &'static Registered {
    builtin(IDENTITY, identity_shim, codec)
}

/// How a task runs outside the process that built it.
#[derive(Clone, Copy, Debug)]
pub enum Remote {
    /// A call of a registered function.
    Call(&'static Registered),
    /// A constant: computed where the graph is, sent as its encoding.
    Literal(&'static Codec),
    /// Item `index` of its one dependency's vector (a multi-output task's
    /// part): not run, but kept apart where the vector is made; `codec` is
    /// the item's.
    Part {
        /// The item.
        index: u32,
        /// The item's codec.
        codec: &'static Codec,
    },
}

impl Remote {
    /// The codec of the task's result.
    pub fn output(&self) -> &'static Codec {
        match self {
            Remote::Call(r) => r.output,
            Remote::Literal(c) => c,
            Remote::Part { codec, .. } => codec,
        }
    }
}

// The raw-bytes views below are the little-endian encodings.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "rask's value encoding assumes a little-endian target"
);

/// Plain-number vectors, copied as bytes. Each `$t` is a primitive number
/// type whose every bit pattern is valid, with no padding, and whose
/// encoding in [`crate::format`] is its little-endian bytes.
macro_rules! pod_vectors {
    ($($t:ty),*) => {
        /// The items of `v` as bytes, if it is a vector of plain numbers.
        fn pod_bytes(v: &dyn Any) -> Option<(usize, &[u8])> {
            $(
                if let Some(v) = v.downcast_ref::<Vec<$t>>() {
                    // SAFETY: `$t` is a primitive number (no padding, no
                    // invalid bytes); the view covers exactly the vector's
                    // initialized items and borrows it.
                    let bytes = unsafe {
                        std::slice::from_raw_parts(
                            v.as_ptr().cast::<u8>(),
                            std::mem::size_of_val(v.as_slice()),
                        )
                    };
                    return Some((v.len(), bytes));
                }
            )*
            None
        }

        fn decode_pod<T: 'static>(bytes: &[u8]) -> Option<Result<Box<dyn Any>, String>> {
            $(
                if TypeId::of::<T>() == TypeId::of::<Vec<$t>>() {
                    return Some(decode_pod_vec::<$t>(bytes).map(|v| Box::new(v) as Box<dyn Any>));
                }
            )*
            None
        }
    };
}

pod_vectors!(f64, f32, u8, i8);

/// A vector of plain numbers from its length and bytes: one copy.
/// `T` must be one of the types `pod_vectors!` lists.
fn decode_pod_vec<T: Copy>(bytes: &[u8]) -> Result<Vec<T>, String> {
    let (len, rest) =
        format::read_len(bytes).ok_or_else(|| "a vector's length is missing".to_owned())?;
    let size = std::mem::size_of::<T>();
    if rest.len() != len.saturating_mul(size) {
        return Err(format!(
            "a vector of {len} items needs {} bytes, found {}",
            len.saturating_mul(size),
            rest.len()
        ));
    }
    let mut v: Vec<T> = crate::huge::big_vec(len);
    // SAFETY: `v` has room for `len` items, that is `rest.len()` bytes, which
    // the copy initializes (every bit pattern is a valid `T`, a primitive
    // number); the regions do not overlap.
    unsafe {
        copy_to(v.as_mut_ptr().cast::<u8>(), rest);
        v.set_len(len);
    }
    Ok(v)
}

/// Copies big values with a few threads: one core cannot saturate the
/// memory bus (Arrow's `parallel_memcopy` does the same for big buffers).
const PARALLEL_COPY_MIN: usize = 16 << 20;

/// Copies `src` into `dst` (same length).
pub fn copy_bytes(dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_bytes: lengths differ");
    // SAFETY: `dst` is `src.len()` writable bytes, borrowed mutably, so
    // it cannot overlap `src`.
    unsafe { copy_to(dst.as_mut_ptr(), src) }
}

/// # Safety
/// `dst` must be valid for `src.len()` bytes of writes and not overlap `src`.
unsafe fn copy_to(dst: *mut u8, src: &[u8]) {
    let threads = copy_threads();
    if src.len() < PARALLEL_COPY_MIN || threads < 2 {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        return;
    }
    // Pieces of whole pages, one per thread.
    let piece = src.len().div_ceil(threads).next_multiple_of(4096);
    let dst = dst as usize;
    std::thread::scope(|s| {
        for (i, part) in src.chunks(piece).enumerate() {
            let at = dst + i * piece;
            s.spawn(move || {
                // SAFETY: `at..at + part.len()` lies within the caller's
                // `dst`, and the pieces are disjoint.
                unsafe { std::ptr::copy_nonoverlapping(part.as_ptr(), at as *mut u8, part.len()) }
            });
        }
    });
}

fn copy_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(4))
            .unwrap_or(1)
    })
}

/// Appends the encoding of `v`.
pub fn encode<T: Serialize + 'static>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
    if let Some((len, bytes)) = pod_bytes(v) {
        out.reserve(format::len_size(len) + bytes.len());
        format::write_len(out, len);
        out.extend_from_slice(bytes);
        return Ok(());
    }
    let start = out.len();
    format::append(v, out).map_err(|e| {
        out.truncate(start);
        e.to_string()
    })
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
    // Under a nesting limit: a recursive type must not recurse once per
    // level of a peer's bytes. The value must take up all of them.
    format::from_slice_nested(bytes).map_err(|e| e.to_string())
}

fn encode_value<T: Data + Serialize>(v: &Value, out: &mut Vec<u8>) -> Result<(), String> {
    match v.downcast_ref::<T>() {
        Some(t) => encode(t, out),
        None => Err(format!("a value is not a `{}`", std::any::type_name::<T>())),
    }
}

/// Values at least this big, of a type registered with
/// `SizeOf::count_first`, are counted first and written straight into a
/// buffer of their exact length, instead of into a vector that grows (and
/// copies) as it goes.
const COUNT_FIRST: usize = 1 << 20;

/// Whether `t` is counted first (see [`COUNT_FIRST`]).
fn big_by_size<T: Data>(t: &T) -> bool {
    crate::cache::count_first_nbytes(t).is_some_and(|n| n >= COUNT_FIRST)
}

fn exact_len_of<T: Data + Serialize>(v: &Value) -> Option<usize> {
    let t = v.downcast_ref::<T>()?;
    if let Some((n, b)) = pod_bytes(t) {
        return Some(format::len_size(n) + b.len());
    }
    if big_by_size(t) {
        return format::encoded_len(t).ok();
    }
    None
}

fn write_value<T: Data + Serialize>(v: &Value, out: &mut [u8]) -> Result<(), String> {
    let t = v
        .downcast_ref::<T>()
        .ok_or_else(|| format!("a value is not a `{}`", std::any::type_name::<T>()))?;
    let Some((len, bytes)) = pod_bytes(t) else {
        if big_by_size(t) {
            return format::write_exact(t, out).map_err(|e| e.to_string());
        }
        return Err(format!(
            "a `{}` has no exact length",
            std::any::type_name::<T>()
        ));
    };
    let mut prefix = [0u8; format::MAX_LEN_BYTES];
    let k = format::len_into(&mut prefix, len);
    if out.len() != k + bytes.len() {
        return Err(format!(
            "{} bytes do not fit {}",
            k + bytes.len(),
            out.len()
        ));
    }
    out[..k].copy_from_slice(&prefix[..k]);
    copy_bytes(&mut out[k..], bytes);
    Ok(())
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

/// A registered function's result as a value (used by the shims; the
/// worker encodes it with the function's output codec).
pub fn output_value<T: Data>(v: T) -> Value {
    Arc::new(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A value of `n` bytes, encoded as one byte string.
    #[derive(Clone)]
    struct Bytes(Vec<u8>);
    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
    impl<'de> serde::Deserialize<'de> for Bytes {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            Vec::<u8>::deserialize(d).map(Bytes)
        }
    }
    impl crate::NBytes for Bytes {
        fn nbytes(&self) -> usize {
            self.0.len()
        }
    }
    inventory::submit!(crate::SizeOf::of::<Bytes>().count_first());

    #[test]
    fn big_values_counted_first_are_written_in_place() {
        let c = codec::<Bytes>();
        let big: Value = Arc::new(Bytes(vec![7u8; COUNT_FIRST + 3]));
        let mut want = Vec::new();
        (c.encode)(&big, &mut want).unwrap();
        let n = (c.exact_len)(&big).expect("counted first");
        assert_eq!(n, want.len());
        let mut out = vec![0u8; n];
        (c.write)(&big, &mut out).unwrap();
        assert_eq!(out, want);
        // A buffer of the wrong length is an error, not a short value.
        assert!((c.write)(&big, &mut vec![0u8; n + 1]).is_err());
        // Small ones are not counted.
        let small: Value = Arc::new(Bytes(vec![1u8; 100]));
        assert_eq!((c.exact_len)(&small), None);
    }

    #[test]
    fn numbers_vectors_and_structs_round_trip() {
        let mut buf = Vec::new();
        encode(&vec![1.5f64, -2.0, 3.25], &mut buf).unwrap();
        assert_eq!(buf.len(), 1 + 24);
        assert_eq!(buf, format::to_vec(&vec![1.5f64, -2.0, 3.25]).unwrap());
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
        let v = gather_shim(&slices).unwrap();
        let mut out = Vec::new();
        (RAW.encode)(&v, &mut out).unwrap();
        assert_eq!((RAW.exact_len)(&v), Some(out.len()));
        let back: Vec<Vec<f64>> = decode(&out).unwrap();
        assert_eq!(back, vec![vec![1.0, 2.0], vec![], vec![3.5]]);
        // Items encoded through the format (not copied as bytes) gather too.
        let items: Vec<Vec<u8>> = [vec![1u64, 1 << 40], vec![], vec![u64::MAX]]
            .iter()
            .map(|v| {
                let mut b = Vec::new();
                encode(v, &mut b).unwrap();
                b
            })
            .collect();
        let slices: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
        let mut out = Vec::new();
        (RAW.encode)(&gather_shim(&slices).unwrap(), &mut out).unwrap();
        let back: Vec<Vec<u64>> = decode(&out).unwrap();
        assert_eq!(back, vec![vec![1, 1 << 40], vec![], vec![u64::MAX]]);
        assert!(registered(GATHER).is_some());
        static C: Codec = codec::<Vec<Vec<f64>>>();
        assert!(std::ptr::eq(
            gather_registration(&C),
            gather_registration(&C)
        ));
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert!(decode::<Vec<f64>>(&[1, 0, 0, 0, 0, 0, 0, 9]).is_err());
        assert!(decode::<Vec<f64>>(&[1, 2]).is_err());
        assert!(decode::<Vec<f64>>(&[0x80]).is_err());
        assert!(decode::<String>(&[255, 255, 255, 255, 255, 255, 255, 255]).is_err());
        assert!(decode::<Vec<u64>>(&[255, 255, 255, 255, 255, 255, 255, 255, 1]).is_err());
        let e = decode_arg::<u64>(&[&[1, 2]], 0).unwrap_err();
        assert!(
            e.to_string().contains("argument 1 is not a valid `u64`"),
            "{e}"
        );
        assert!(decode_arg::<u64>(&[], 1).is_err());
    }
}
