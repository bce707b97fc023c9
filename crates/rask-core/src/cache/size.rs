//! How many bytes a result takes, for the [`ResultCache`](super::ResultCache).
//!
//! In-process results are live Rust values of any type (`Arc<dyn Any>`),
//! so there is no encoded length to count as a worker's store does. The
//! estimate, in order:
//! 1. a size registered for the value's type ([`SizeOf`], collected at
//!    link time: `inventory::submit!(SizeOf::of::<MyType>())` for a type
//!    that implements [`NBytes`]; array chunks and dataframe partitions
//!    register theirs);
//! 2. the common standard types: numbers, `String`, `Vec`s of numbers and
//!    of strings, vectors of vectors of numbers, and `()`;
//! 3. the length of the value's encoding when its task has a codec (a
//!    registered function's result): exact for vectors of numbers, else
//!    the value is encoded once to count;
//! 4. otherwise the value's inline size (`size_of_val`): a lower bound for
//!    types that own heap memory, which should register a size.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::OnceLock;

use crate::node::Value;
use crate::remote::Codec;

/// A value that can say how many bytes it holds (itself and what it owns).
pub trait NBytes: Any {
    /// The bytes held, inline and on the heap.
    fn nbytes(&self) -> usize;
}

/// Reads a value's size, if it is of the type the function was made for.
type SizeFn = fn(&dyn Any) -> Option<usize>;

/// A size function registered for one type (see the module docs).
#[derive(Debug)]
pub struct SizeOf {
    type_id: fn() -> TypeId,
    nbytes: SizeFn,
    count_first: bool,
}

impl SizeOf {
    /// The entry of `T`: `inventory::submit!(SizeOf::of::<T>())`.
    pub const fn of<T: NBytes>() -> Self {
        SizeOf {
            type_id: TypeId::of::<T>,
            nbytes: nbytes_of::<T>,
            count_first: false,
        }
    }

    /// Says that `T`'s encoding is cheap to count without writing it (a
    /// few big byte strings borrowed from the value, as an array chunk's):
    /// big values of `T` are then counted first and encoded straight into
    /// a buffer of their exact length (`remote.rs`). Not for types whose
    /// `Serialize` builds its bytes first (it would run twice).
    pub const fn count_first(mut self) -> Self {
        self.count_first = true;
        self
    }
}

fn nbytes_of<T: NBytes>(v: &dyn Any) -> Option<usize> {
    v.downcast_ref::<T>().map(T::nbytes)
}

inventory::collect!(SizeOf);

/// The size of `t` if its type is registered with
/// [`SizeOf::count_first`].
pub(crate) fn count_first_nbytes<T: Any>(t: &T) -> Option<usize> {
    by_type()
        .get(&TypeId::of::<T>())
        .filter(|e| e.1)
        .and_then(|e| (e.0)(t))
}

fn registered(id: TypeId) -> Option<SizeFn> {
    by_type().get(&id).map(|e| e.0)
}

fn by_type() -> &'static HashMap<TypeId, (SizeFn, bool)> {
    static BY_TYPE: OnceLock<HashMap<TypeId, (SizeFn, bool)>> = OnceLock::new();
    BY_TYPE.get_or_init(|| {
        inventory::iter::<SizeOf>
            .into_iter()
            .map(|s| ((s.type_id)(), (s.nbytes, s.count_first)))
            .collect()
    })
}

macro_rules! known_sizes {
    ($($t:ty),*) => {
        /// Rule 2 of the module docs.
        fn known(v: &dyn Any) -> Option<usize> {
            const VEC: usize = std::mem::size_of::<Vec<u8>>();
            $(
                if v.is::<$t>() {
                    return Some(std::mem::size_of::<$t>());
                }
                if let Some(x) = v.downcast_ref::<Vec<$t>>() {
                    return Some(VEC + std::mem::size_of_val(x.as_slice()));
                }
                if let Some(x) = v.downcast_ref::<Vec<Vec<$t>>>() {
                    return Some(
                        VEC + x.iter().map(|i| VEC + std::mem::size_of_val(i.as_slice())).sum::<usize>(),
                    );
                }
            )*
            if let Some(s) = v.downcast_ref::<String>() {
                return Some(VEC + s.len());
            }
            if let Some(x) = v.downcast_ref::<Vec<String>>() {
                return Some(VEC + x.iter().map(|s| VEC + s.len()).sum::<usize>());
            }
            None
        }
    };
}

known_sizes!(
    f64,
    f32,
    u64,
    i64,
    u32,
    i32,
    u16,
    i16,
    u8,
    i8,
    usize,
    isize,
    bool,
    char,
    ()
);

/// The estimated bytes of `value` (see the module docs); `codec` is its
/// task's result codec, if it has one.
pub fn estimate_nbytes(value: &Value, codec: Option<&Codec>) -> u64 {
    let v: &dyn Any = &**value;
    if let Some(f) = registered(v.type_id()) {
        if let Some(n) = f(v) {
            return n as u64;
        }
    }
    if let Some(n) = known(v) {
        return n as u64;
    }
    if let Some(c) = codec {
        if let Some(n) = (c.exact_len)(value) {
            return n as u64;
        }
        let mut out = Vec::new();
        if (c.encode)(value, &mut out).is_ok() {
            return out.len() as u64;
        }
    }
    std::mem::size_of_val(v) as u64
}
