//! Dense ids and the vectors they index.
//!
//! The core keeps workers, graphs and functions in vectors and names them
//! by position. Each kind of position is its own type ([`WorkerIx`],
//! [`GraphIx`], [`FuncIx`]; tasks have [`Slot`](super::Slot)), and an
//! [`IxVec`] is indexed only by its kind, so a worker's position can never
//! index the graphs. Rule: an id is made only by the `IxVec` that it
//! indexes ([`IxVec::push`]) or read back from one ([`IxVec::ids`]), or
//! from the wire after a bounds check (`IxVec::get`).

use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// A position in an [`IxVec`].
pub(crate) trait Ix: Copy {
    fn from_index(i: usize) -> Self;
    fn index(self) -> usize;
}

macro_rules! ix {
    ($(#[$m:meta])* $vis:vis struct $name:ident;) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name(pub u32);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl Ix for $name {
            #[inline]
            fn from_index(i: usize) -> Self {
                $name(i as u32)
            }
            #[inline]
            fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

ix! {
    /// A worker (never reused within a scheduler's life).
    pub struct WorkerIx;
}
ix! {
    /// A graph's place in the core (reused once the graph is forgotten).
    pub(crate) struct GraphIx;
}
ix! {
    /// A function name, interned (never reused).
    pub(crate) struct FuncIx;
}

/// A vector indexed by one kind of id.
#[derive(Debug, Clone)]
pub(crate) struct IxVec<I, T> {
    items: Vec<T>,
    _ix: PhantomData<fn(I)>,
}

impl<I: Ix, T> Default for IxVec<I, T> {
    fn default() -> Self {
        IxVec {
            items: Vec::new(),
            _ix: PhantomData,
        }
    }
}

impl<I: Ix, T> IxVec<I, T> {
    /// Appends `item`; returns its id.
    pub(crate) fn push(&mut self, item: T) -> I {
        self.items.push(item);
        I::from_index(self.items.len() - 1)
    }
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }
    pub(crate) fn get(&self, i: I) -> Option<&T> {
        self.items.get(i.index())
    }
    pub(crate) fn get_mut(&mut self, i: I) -> Option<&mut T> {
        self.items.get_mut(i.index())
    }
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }
    /// Every id, in order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::from_index)
    }
    /// `(id, item)` pairs, in order.
    pub(crate) fn enumerate(&self) -> impl Iterator<Item = (I, &T)> {
        self.items
            .iter()
            .enumerate()
            .map(|(i, t)| (I::from_index(i), t))
    }
}

impl<I: Ix, T> Index<I> for IxVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, i: I) -> &T {
        &self.items[i.index()]
    }
}

impl<I: Ix, T> IndexMut<I> for IxVec<I, T> {
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i.index()]
    }
}

impl<'a, I: Ix, T> IntoIterator for &'a IxVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}
