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
impl<N: Into<Name>> From<(N, u64)> for Key {
    fn from((n, i): (N, u64)) -> Self {
        Key::indexed(n, i)
    }
}
impl<N: Into<Name>> From<(N, usize)> for Key {
    fn from((n, i): (N, usize)) -> Self {
        Key::indexed(n, i as u64)
    }
}
impl<N: Into<Name>> From<(N, u32)> for Key {
    fn from((n, i): (N, u32)) -> Self {
        Key::indexed(n, u64::from(i))
    }
}
impl<N: Into<Name>> From<(N, i32)> for Key {
    fn from((n, i): (N, i32)) -> Self {
        Key::indexed(n, i as u64)
    }
}

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
}
