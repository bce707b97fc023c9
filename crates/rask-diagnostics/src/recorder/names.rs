//! Interned names: key prefixes and functions as dense [`NameId`]s.
//!
//! The recorder stores a 4-byte id per task instead of a name. The global
//! [`Names`] table maps a display string to its id (a lock, taken only on a
//! miss); each thread keeps a [`NameCache`] in front of it, keyed by where a
//! name lives:
//! - `&'static str` names (literal keys, the type names of anonymous tasks)
//!   are cached by address and length (a direct-mapped table of 64), which
//!   never change meaning;
//! - shared (`Arc<str>`) names are cached by content (the last one seen is
//!   compared byte for byte, so a freed and reused allocation is never
//!   mistaken for another name).
//!
//! Ids are never reused; the table only grows. Its size is bounded by the
//! number of distinct names (`MAX_NAMES`); past that, names share the id of
//! `"(other)"`, so a program that makes a fresh name per task cannot grow it
//! without bound.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rask_core::{Key, Name};

/// A dense id of an interned name (key prefix or function).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NameId(pub(crate) u32);

/// Distinct names kept before everything new shares `"(other)"`.
pub(crate) const MAX_NAMES: usize = 65_536;

#[derive(Default)]
struct Table {
    by_name: HashMap<Arc<str>, NameId>,
    list: Vec<Arc<str>>,
    other: Option<NameId>,
}

/// The global name table.
#[derive(Default)]
pub(crate) struct Names {
    table: RwLock<Table>,
}

impl Names {
    /// The id of `name`, interning it if new.
    pub(crate) fn intern(&self, name: &str) -> NameId {
        if let Some(&id) = read(&self.table).by_name.get(name) {
            return id;
        }
        let mut t = write(&self.table);
        if let Some(&id) = t.by_name.get(name) {
            return id;
        }
        if t.list.len() >= MAX_NAMES {
            if let Some(o) = t.other {
                return o;
            }
            let o = push(&mut t, "(other)");
            t.other = Some(o);
            return o;
        }
        push(&mut t, name)
    }

    /// The name of `id` (empty for an unknown id).
    #[cfg(test)]
    pub(crate) fn get(&self, id: NameId) -> Arc<str> {
        read(&self.table)
            .list
            .get(id.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    /// Every name, indexed by id.
    pub(crate) fn all(&self) -> Vec<Arc<str>> {
        read(&self.table).list.clone()
    }

    /// The id of an already interned name.
    pub(crate) fn lookup(&self, name: &str) -> Option<NameId> {
        read(&self.table).by_name.get(name).copied()
    }

    /// Bytes held (approximately).
    pub(crate) fn memory_bytes(&self) -> usize {
        let t = read(&self.table);
        t.list.iter().map(|s| s.len() + 64).sum()
    }
}

fn push(t: &mut Table, name: &str) -> NameId {
    let id = NameId(t.list.len() as u32);
    let s: Arc<str> = Arc::from(name);
    t.list.push(s.clone());
    t.by_name.insert(s, id);
    id
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// Entries of a [`NameCache`]'s table of static names.
const SLOTS: usize = 64;

/// The table slot of a static name at `at` of `len` bytes.
#[inline]
fn static_slot(at: usize, len: usize) -> usize {
    ((at >> 3) ^ (at >> 11) ^ len) & (SLOTS - 1)
}

/// A thread's cache in front of [`Names`] for key prefixes.
pub(crate) struct NameCache {
    /// Static names by (address, length), direct-mapped; address 0: empty.
    statics: [(usize, usize, NameId); SLOTS],
    /// The last shared name seen, with its text.
    last_shared: Option<(Arc<str>, NameId)>,
}

impl Default for NameCache {
    fn default() -> Self {
        NameCache {
            statics: [(0, 0, NameId(0)); SLOTS],
            last_shared: None,
        }
    }
}

impl NameCache {
    /// The prefix id of `key`: a static name seen before costs one probe
    /// of the table, inline.
    #[inline]
    pub(crate) fn prefix(&mut self, key: &Key, names: &Names) -> NameId {
        if let Name::Static(s) | Name::TypeName(s) = key.name() {
            let (at, len) = (s.as_ptr() as usize, s.len());
            let e = self.statics[static_slot(at, len)];
            if e.0 == at && e.1 == len {
                return e.2;
            }
        }
        self.prefix_slow(key, names)
    }

    /// [`NameCache::prefix`] past its probe: a static name it missed, or a
    /// shared one.
    #[inline(never)]
    fn prefix_slow(&mut self, key: &Key, names: &Names) -> NameId {
        match key.name() {
            Name::Static(s) | Name::TypeName(s) => {
                let (at, len) = (s.as_ptr() as usize, s.len());
                let id = names.intern(&key.name().as_display());
                self.statics[static_slot(at, len)] = (at, len, id);
                id
            }
            Name::Shared(s) => {
                if let Some((last, id)) = &self.last_shared {
                    if Arc::ptr_eq(last, s) || **last == **s {
                        return *id;
                    }
                }
                let id = names.intern(s);
                self.last_shared = Some((s.clone(), id));
                id
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_names_share_an_id_whatever_their_storage() {
        let names = Names::default();
        let mut cache = NameCache::default();
        let a = Key::indexed("load", 1);
        let b = Key::indexed(String::from("load"), 2);
        let c = Key::indexed(Arc::<str>::from("load"), 3);
        let d = Key::new("save");
        let ia = cache.prefix(&a, &names);
        assert_eq!(cache.prefix(&b, &names), ia);
        assert_eq!(cache.prefix(&c, &names), ia);
        assert_ne!(cache.prefix(&d, &names), ia);
        assert_eq!(&*names.get(ia), "load");
        assert_eq!(names.lookup("save"), Some(cache.prefix(&d, &names)));
    }

    #[test]
    fn a_reused_allocation_is_not_mistaken_for_the_old_name() {
        let names = Names::default();
        let mut cache = NameCache::default();
        for i in 0..100 {
            let k = Key::new(format!("n{}", i % 3));
            let id = cache.prefix(&k, &names);
            assert_eq!(&*names.get(id), &format!("n{}", i % 3));
        }
        assert_eq!(names.all().len(), 3);
    }

    #[test]
    fn the_table_stops_growing_at_its_limit() {
        let names = Names::default();
        for i in 0..MAX_NAMES + 10 {
            names.intern(&format!("k{i}"));
        }
        assert_eq!(names.all().len(), MAX_NAMES + 1);
        assert_eq!(&*names.get(names.intern("brand-new")), "(other)");
    }
}
