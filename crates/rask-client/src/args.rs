//! Futures as arguments of eager tasks.
//!
//! `client.submit(f, args)` takes `()` or a tuple of up to eight
//! [`FutureArg`]s: a `Future<T>` or `&Future<T>` (the task gets a `T`), or a
//! `Vec<Future<T>>` / `&[Future<T>]` (it gets a `Vec<T>`). Each becomes a
//! dependency; the values are read back with `rask-core`'s [`Fetch`] shapes.

use std::sync::Arc;

use rask_core::{Data, Fetch, Many, One};

use crate::cell::Cell;
use crate::future::Future;

/// The dependencies collected from a submitted task's arguments (opaque).
#[derive(Default)]
pub struct DepList(pub(crate) Vec<Arc<Cell>>);

impl std::fmt::Debug for DepList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DepList({})", self.0.len())
    }
}

/// One argument of a submitted task.
pub trait FutureArg {
    /// What the function receives.
    type Value;
    /// How to read it back.
    type Shape: Fetch<Values = Self::Value>;
    /// Records the dependencies.
    #[doc(hidden)]
    fn push_cells(self, deps: &mut DepList) -> Self::Shape;
}

impl<T: Data> FutureArg for Future<T> {
    type Value = T;
    type Shape = One<T>;
    fn push_cells(self, deps: &mut DepList) -> One<T> {
        deps.0.push(self.cell.clone());
        One::new()
    }
}

impl<T: Data> FutureArg for &Future<T> {
    type Value = T;
    type Shape = One<T>;
    fn push_cells(self, deps: &mut DepList) -> One<T> {
        deps.0.push(self.cell.clone());
        One::new()
    }
}

impl<T: Data> FutureArg for Vec<Future<T>> {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_cells(self, deps: &mut DepList) -> Many<T> {
        let n = self.len();
        deps.0.extend(self.iter().map(|f| f.cell.clone()));
        Many::new(n)
    }
}

impl<T: Data> FutureArg for &[Future<T>] {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_cells(self, deps: &mut DepList) -> Many<T> {
        deps.0.extend(self.iter().map(|f| f.cell.clone()));
        Many::new(self.len())
    }
}

impl<T: Data> FutureArg for &Vec<Future<T>> {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_cells(self, deps: &mut DepList) -> Many<T> {
        self.as_slice().push_cells(deps)
    }
}

/// All arguments of a submitted task: `()` or a tuple of [`FutureArg`]s.
pub trait FutureArgs {
    /// The tuple of values the function receives.
    type Values;
    /// How to read them back.
    type Shape: Fetch<Values = Self::Values>;
    /// Records the dependencies.
    #[doc(hidden)]
    fn push_cells(self, deps: &mut DepList) -> Self::Shape;
}

macro_rules! tuple_impls {
    ($($name:ident $idx:tt),*) => {
        impl<$($name: FutureArg),*> FutureArgs for ($($name,)*) {
            type Values = ($($name::Value,)*);
            type Shape = ($($name::Shape,)*);
            #[allow(unused_variables, clippy::unused_unit)]
            fn push_cells(self, deps: &mut DepList) -> Self::Shape {
                ($(self.$idx.push_cells(deps),)*)
            }
        }
    };
}

tuple_impls!();
tuple_impls!(A 0);
tuple_impls!(A 0, B 1);
tuple_impls!(A 0, B 1, C 2);
tuple_impls!(A 0, B 1, C 2, D 3);
tuple_impls!(A 0, B 1, C 2, D 3, E 4);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_impls!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
