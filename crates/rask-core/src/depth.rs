//! A nesting limit for any serde `Deserializer`.
//!
//! Decoding a recursive type (a tree, a linked list, an enum that holds
//! itself) recurses once per level of the *input*, so 800 KB of a peer's
//! bytes can overflow a worker's stack and abort it. [`Limited`] wraps a
//! deserializer and counts the levels as the value's containers open
//! (sequences, tuples, structs, maps, enums, options, newtypes); past the
//! limit it fails with the format's own error ("nested deeper than N
//! levels") instead. It knows nothing of the format, so it stays when the
//! format changes.
//!
//! Rules: every container a visitor enters goes through [`Wrap`], which
//! checks and decrements the remaining depth before handing the visitor an
//! access object whose elements deserialize through a [`Limited`] one level
//! down. Scalars pass through untouched. Errors are the format's own.
//!
//! (The text of a custom error, which postcard drops, could be kept by
//! giving the wrapped deserializer and access objects an error type of
//! their own that records it. Tried: decoding `Vec`s of tuples with strings
//! became 10% slower and of enums 8-28%, depending on how much was wrapped,
//! so `format::from_slice_nested` names the type that refused instead.)

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// How deep a decoded value may nest: far more than data types have, far
/// less than a 2 MiB stack holds.
pub(crate) const MAX_DEPTH: usize = 256;

/// `de` with at most `depth` levels of nesting left.
pub(crate) struct Limited<D> {
    pub(crate) de: D,
    pub(crate) depth: usize,
}

/// A visitor with `depth` levels left for what it opens.
struct Wrap<V> {
    v: V,
    depth: usize,
}

/// What the limit says when it stops a value.
pub(crate) const TOO_DEEP: &str = "a value nested deeper than 256 levels";
const _: () = assert!(MAX_DEPTH == 256, "TOO_DEEP names the limit");

thread_local! {
    /// Set when the limit stopped a decode on this thread: some formats
    /// (postcard) drop the text of a custom error, so the caller asks here.
    static TRIPPED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the limit stopped a decode on this thread since the last call
/// (clears the flag).
pub(crate) fn take_tripped() -> bool {
    TRIPPED.with(|t| t.replace(false))
}

impl<V> Wrap<V> {
    /// The depth for the contents of a container opened here.
    fn inner<E: de::Error>(&self) -> Result<usize, E> {
        self.depth.checked_sub(1).ok_or_else(|| {
            TRIPPED.with(|t| t.set(true));
            E::custom(TOO_DEEP)
        })
    }
}

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.de.$method($($arg,)* Wrap { v: visitor, depth: self.depth })
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Limited<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any();
        deserialize_bool();
        deserialize_i8();
        deserialize_i16();
        deserialize_i32();
        deserialize_i64();
        deserialize_i128();
        deserialize_u8();
        deserialize_u16();
        deserialize_u32();
        deserialize_u64();
        deserialize_u128();
        deserialize_f32();
        deserialize_f64();
        deserialize_char();
        deserialize_str();
        deserialize_string();
        deserialize_bytes();
        deserialize_byte_buf();
        deserialize_option();
        deserialize_unit();
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_seq();
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
        deserialize_ignored_any();
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.v.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.v.expecting(f)
    }

    forward_visit! {
        visit_bool(bool);
        visit_i8(i8);
        visit_i16(i16);
        visit_i32(i32);
        visit_i64(i64);
        visit_i128(i128);
        visit_u8(u8);
        visit_u16(u16);
        visit_u32(u32);
        visit_u64(u64);
        visit_u128(u128);
        visit_f32(f32);
        visit_f64(f64);
        visit_char(char);
        visit_str(&str);
        visit_borrowed_str(&'de str);
        visit_string(String);
        visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]);
        visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.v.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.v.visit_unit()
    }

    fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        let depth = self.inner()?;
        self.v.visit_some(Limited { de: d, depth })
    }

    fn visit_newtype_struct<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
        let depth = self.inner()?;
        self.v.visit_newtype_struct(Limited { de: d, depth })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let depth = self.inner()?;
        self.v.visit_seq(Access { inner: seq, depth })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let depth = self.inner()?;
        self.v.visit_map(Access { inner: map, depth })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        let depth = self.inner()?;
        self.v.visit_enum(Access { inner: data, depth })
    }
}

/// A seed whose value deserializes through a [`Limited`].
struct Seed<S> {
    seed: S,
    depth: usize,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Limited {
            de,
            depth: self.depth,
        })
    }
}

/// A sequence, map, enum or variant whose parts deserialize one level down.
struct Access<A> {
    inner: A,
    depth: usize,
}

impl<A> Access<A> {
    fn seed<S>(&self, seed: S) -> Seed<S> {
        Seed {
            seed,
            depth: self.depth,
        }
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_element_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Access<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.next_value_seed(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Access<A> {
    type Error = A::Error;
    type Variant = Access<A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let depth = self.depth;
        let (value, variant) = self.inner.variant_seed(Seed { seed, depth })?;
        Ok((
            value,
            Access {
                inner: variant,
                depth,
            },
        ))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Access<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        let seed = self.seed(seed);
        self.inner.newtype_variant_seed(seed)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, A::Error> {
        let depth = self.depth;
        self.inner.tuple_variant(len, Wrap { v, depth })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, A::Error> {
        let depth = self.depth;
        self.inner.struct_variant(fields, Wrap { v, depth })
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::remote::{decode, encode};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Tree {
        Leaf(u8),
        Node(Box<Tree>, Vec<Tree>),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct List {
        value: u32,
        next: Option<Box<List>>,
    }

    fn nested_list(n: u32) -> List {
        let mut l = List {
            value: 0,
            next: None,
        };
        for i in 1..n {
            l = List {
                value: i,
                next: Some(Box::new(l)),
            };
        }
        l
    }

    #[test]
    fn values_round_trip_through_the_limit() {
        let t = Tree::Node(
            Box::new(Tree::Leaf(1)),
            vec![Tree::Leaf(2), Tree::Node(Box::new(Tree::Leaf(3)), vec![])],
        );
        let mut b = Vec::new();
        encode(&t, &mut b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode::<Tree>(&b), Ok(t));
        // A list 100 deep (two levels per link: the struct and the option).
        let l = nested_list(100);
        let mut b = Vec::new();
        encode(&l, &mut b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode::<List>(&b), Ok(l));
    }

    /// A type whose own decoding refuses odd numbers.
    #[derive(Debug, PartialEq, Serialize)]
    struct Even(u32);

    impl<'de> Deserialize<'de> for Even {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u32::deserialize(d)?;
            if n % 2 == 1 {
                return Err(serde::de::Error::custom(format!("{n} is odd")));
            }
            Ok(Even(n))
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Holder {
        Plain(u8),
        Many { items: Vec<Option<Even>> },
    }

    fn encoded<T: Serialize + 'static>(v: &T) -> Vec<u8> {
        let mut b = Vec::new();
        encode(v, &mut b).unwrap_or_else(|e| panic!("{e}"));
        b
    }

    #[test]
    fn a_refused_value_names_the_type_that_refused_it() {
        let h = Holder::Many {
            items: vec![Some(Even(2)), None, Some(Even(4))],
        };
        assert_eq!(decode::<Holder>(&encoded(&h)), Ok(h));
        // A check of the type's own, deep inside.
        let bad = encoded(&(1u8, vec![Some(2u32), None, Some(7u32)]));
        let e = decode::<Holder>(&bad).unwrap_err();
        assert!(e.contains("not a valid `") && e.contains("Holder`"), "{e}");
        // Serde's own checks: a zero for a non-zero type, variant 5 of 2.
        let e = decode::<std::num::NonZeroU32>(&encoded(&0u32)).unwrap_err();
        assert!(e.contains("not a valid `") && e.contains("NonZero"), "{e}");
        let e = decode::<Holder>(&encoded(&5u8)).unwrap_err();
        assert!(e.contains("Holder`") && e.contains("enum variant"), "{e}");
        // Errors of the format itself are the format's.
        let e = decode::<Holder>(&[1, 3, 1]).unwrap_err();
        assert!(!e.contains("not a valid"), "{e}");
    }

    #[test]
    fn a_deeply_nested_input_is_an_error_not_a_stack_overflow() {
        // 200,000 levels of `Node(Box(Node(...)))` in 200 KB: recursing
        // once per level used to abort the process.
        let mut bytes = vec![1u8; 200_000]; // variant `Node`, 200,000 times
        bytes.extend_from_slice(&[0, 7]); // `Leaf(7)`
        let e = decode::<Tree>(&bytes).unwrap_err();
        assert!(e.contains("nested deeper than 256 levels"), "{e}");
        let mut b = Vec::new();
        encode(&nested_list(1_000), &mut b).unwrap_or_else(|e| panic!("{e}"));
        assert!(decode::<List>(&b).is_err());
    }
}
