//! User-facing task names.
//!
//! A [`Key`] is what people see in errors, events and progress: a name and an
//! optional index, like Dask's `("load", 3)`. Tasks built with
//! [`delayed`](crate::delayed) without an explicit key get the function's name
//! and a process-wide unique token, so two anonymous tasks never collide.
//! Keys are cheap to clone: names are `&'static str` or a shared `Arc<str>`.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The name part of a [`Key`].
#[derive(Clone, Debug)]
pub enum Name {
    /// A literal name, shown as is.
    Static(&'static str),
    /// A name made at run time.
    Shared(Arc<str>),
    /// A Rust type name (`my_crate::inc`, `main::{{closure}}`), shown shortened
    /// to its last meaningful path segment (`inc`, `main-closure`).
    TypeName(&'static str),
}

impl Name {
    /// Which value this is, cheaply: (address, length and variant). Equal
    /// identities mean equal names; equal names may differ in identity
    /// (two `Shared` copies of one string).
    #[inline]
    pub(crate) fn identity(&self) -> (usize, usize) {
        match self {
            Name::Static(s) => (s.as_ptr() as usize, s.len() << 2),
            Name::Shared(s) => (s.as_ptr() as usize, (s.len() << 2) | 1),
            Name::TypeName(s) => (s.as_ptr() as usize, (s.len() << 2) | 2),
        }
    }

    /// The name as it is displayed.
    pub fn as_display(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Name::Static(s) => (*s).into(),
            Name::Shared(s) => (&**s).into(),
            Name::TypeName(s) => short_type_name(s),
        }
    }
}

/// `a::b::inc` -> `inc`; `a::main::{{closure}}` -> `main-closure`;
/// generic parameters are dropped.
fn short_type_name(full: &str) -> std::borrow::Cow<'_, str> {
    let base = full.split('<').next().unwrap_or(full);
    let mut parts = base.rsplit("::").filter(|p| !p.is_empty());
    match parts.next() {
        Some("{{closure}}") => {
            let owner = parts.find(|p| *p != "{{closure}}").unwrap_or("task");
            format!("{owner}-closure").into()
        }
        Some(last) => last.into(),
        None => full.into(),
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_display() == other.as_display()
    }
}
impl Eq for Name {}
impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_display().hash(state);
    }
}

impl From<&'static str> for Name {
    fn from(s: &'static str) -> Self {
        Name::Static(s)
    }
}
impl From<String> for Name {
    fn from(s: String) -> Self {
        Name::Shared(s.into())
    }
}
impl From<Arc<str>> for Name {
    fn from(s: Arc<str>) -> Self {
        Name::Shared(s)
    }
}

/// The second part of a [`Key`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KeyIndex {
    /// A key that is just a name: `"total"`.
    None,
    /// A key with a user-chosen index: `("load", 3)`, shown as `load[3]`.
    Index(u64),
    /// An anonymous task's unique token, shown as `inc#17`.
    Token(u64),
}

/// A task's user-facing name: shown in every error and event.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Key {
    name: Name,
    index: KeyIndex,
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

impl Key {
    /// A key made of a name alone.
    pub fn new(name: impl Into<Name>) -> Self {
        Key {
            name: name.into(),
            index: KeyIndex::None,
        }
    }

    /// A key made of a name and an index, like Dask's `("load", 3)`.
    pub fn indexed(name: impl Into<Name>, index: u64) -> Self {
        Key {
            name: name.into(),
            index: KeyIndex::Index(index),
        }
    }

    /// A fresh, process-wide unique key for an anonymous task named after a type.
    pub fn anonymous(type_name: &'static str) -> Self {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        Key {
            name: Name::TypeName(type_name),
            index: KeyIndex::Token(token),
        }
    }

    /// The name part.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The index part.
    pub fn index(&self) -> KeyIndex {
        self.index
    }

    /// Whether the key was chosen by the user (and so must be unique in a graph).
    pub fn is_user_key(&self) -> bool {
        !matches!(self.index, KeyIndex::Token(_))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name.as_display();
        match self.index {
            KeyIndex::None => write!(f, "{name}"),
            KeyIndex::Index(i) => write!(f, "{name}[{i}]"),
            KeyIndex::Token(t) => write!(f, "{name}#{t}"),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Self {
        Key::new(s)
    }
}
impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::new(s)
    }
}
/// One part of a tuple key after its name: an integer or a string.
///
/// `("load", 3)` is the name `load` with the index 3 (shown `load[3]`);
/// longer tuples and string parts are shown with their parts in brackets:
/// `("sum", 2, 5)` is `sum[2, 5]`, `("read", "a.csv")` is `read[a.csv]`.
pub trait KeyPart {
    /// The part as an index, where it is a non-negative integer.
    fn as_index(&self) -> Option<u64>;
    /// Appends the part as it is shown.
    fn write_to(&self, out: &mut String);
}

macro_rules! int_key_part {
    ($($t:ty),*) => {$(
        impl KeyPart for $t {
            fn as_index(&self) -> Option<u64> {
                u64::try_from(*self).ok()
            }
            fn write_to(&self, out: &mut String) {
                use std::fmt::Write;
                let _ = write!(out, "{self}");
            }
        }
    )*};
}
int_key_part!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

impl KeyPart for &str {
    fn as_index(&self) -> Option<u64> {
        None
    }
    fn write_to(&self, out: &mut String) {
        out.push_str(self);
    }
}
impl KeyPart for String {
    fn as_index(&self) -> Option<u64> {
        None
    }
    fn write_to(&self, out: &mut String) {
        out.push_str(self);
    }
}
impl KeyPart for &String {
    fn as_index(&self) -> Option<u64> {
        None
    }
    fn write_to(&self, out: &mut String) {
        out.push_str(self);
    }
}

/// `name[a, b, ...]` as a plain name.
fn joined(name: Name, parts: &[&dyn KeyPart]) -> Key {
    let mut s = String::from(name.as_display());
    s.push('[');
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        p.write_to(&mut s);
    }
    s.push(']');
    Key::new(s)
}

impl<N: Into<Name>, A: KeyPart> From<(N, A)> for Key {
    /// `("load", 3)` is `load[3]` (an indexed key); `("read", "a.csv")`
    /// is `read[a.csv]`.
    fn from((n, a): (N, A)) -> Self {
        match a.as_index() {
            Some(i) => Key::indexed(n, i),
            None => joined(n.into(), &[&a]),
        }
    }
}

macro_rules! tuple_key {
    ($($p:ident),+) => {
        impl<N: Into<Name>, $($p: KeyPart),+> From<(N, $($p),+)> for Key {
            /// `("sum", 2, 5)` is `sum[2, 5]`.
            #[allow(non_snake_case)]
            fn from((n, $($p),+): (N, $($p),+)) -> Self {
                joined(n.into(), &[$(&$p),+])
            }
        }
    };
}
tuple_key!(A, B);
tuple_key!(A, B, C);
tuple_key!(A, B, C, D);
tuple_key!(A, B, C, D, E);
tuple_key!(A, B, C, D, E, F);
tuple_key!(A, B, C, D, E, F, G);
tuple_key!(A, B, C, D, E, F, G, H);
tuple_key!(A, B, C, D, E, F, G, H, I);
tuple_key!(A, B, C, D, E, F, G, H, I, J);
tuple_key!(A, B, C, D, E, F, G, H, I, J, K);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_forms() {
        assert_eq!(Key::new("total").to_string(), "total");
        assert_eq!(Key::from(("load", 3u64)).to_string(), "load[3]");
        let k = Key::anonymous("my_crate::inc");
        assert!(k.to_string().starts_with("inc#"));
        assert!(!k.is_user_key());
        assert_eq!(short_type_name("app::main::{{closure}}"), "main-closure");
        assert_eq!(short_type_name("app::f<u64>"), "f");
    }

    #[test]
    fn anonymous_keys_are_unique() {
        assert_ne!(Key::anonymous("f"), Key::anonymous("f"));
        assert_eq!(Key::from(("a", 1u64)), Key::indexed(String::from("a"), 1));
    }

    #[test]
    fn tuples_of_any_arity_of_strings_and_integers() {
        let (depth, j) = (2u32, 5usize);
        assert_eq!(Key::from(("sum", depth, j)).to_string(), "sum[2, 5]");
        assert_eq!(Key::from(("load", 3)), Key::indexed("load", 3));
        assert_eq!(Key::from(("read", "a.csv")).to_string(), "read[a.csv]");
        let city = String::from("Oslo");
        assert_eq!(
            Key::from((String::from("t"), &city, 2024i64, -1)).to_string(),
            "t[Oslo, 2024, -1]"
        );
        // A negative index is not wrapped to a huge one.
        assert_eq!(Key::from(("x", -1)).to_string(), "x[-1]");
        assert_eq!(
            Key::from(("a", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)).to_string(),
            "a[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"
        );
        // Equal tuples make equal keys (duplicates are found).
        assert_eq!(Key::from(("sum", 1, 2)), Key::from(("sum", 1u8, 2u64)));
        assert_ne!(Key::from(("sum", 1, 2)), Key::from(("sum", 2, 1)));
    }
}
