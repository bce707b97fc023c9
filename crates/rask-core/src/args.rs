//! Typed arguments and functions for [`delayed`](crate::delayed).
//!
//! A task's arguments are a tuple of [`Arg`]s: a `Delayed<T>` or `&Delayed<T>`
//! (the task gets a `T`), or a `Vec<Delayed<T>>` / `&[Delayed<T>]` (the task
//! gets a `Vec<T>`). Every `Delayed` in the arguments becomes a dependency, in
//! argument order. Plain values are captured by the closure instead.
//! Building records the dependencies and keeps a small [`Fetch`] "shape"
//! (a length, or nothing) that reads the values back when the task runs.

use std::marker::PhantomData;

use crate::delayed::Delayed;
use crate::inputs::Inputs;
use crate::node::{Data, Deps, TaskFailure};

/// Reads a task's argument values back from its inputs.
pub trait Fetch: Send + Sync + 'static {
    /// The values read.
    type Values;
    /// Reads them, in argument order.
    fn fetch(&self, inputs: &mut Inputs<'_>) -> Result<Self::Values, TaskFailure>;
}

/// The shape of a single `Delayed<T>` argument.
#[derive(Debug)]
pub struct One<T>(PhantomData<fn() -> T>);

/// The shape of a list argument: its length.
#[derive(Debug)]
pub struct Many<T>(usize, PhantomData<fn() -> T>);

impl<T> One<T> {
    /// The shape of one argument of type `T`.
    pub fn new() -> Self {
        One(PhantomData)
    }
}

impl<T> Default for One<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Many<T> {
    /// The shape of a list argument of `n` values of type `T`.
    pub fn new(n: usize) -> Self {
        Many(n, PhantomData)
    }
}

impl<T: Data> Fetch for One<T> {
    type Values = T;
    #[inline]
    fn fetch(&self, inputs: &mut Inputs<'_>) -> Result<T, TaskFailure> {
        inputs.take()
    }
}

impl<T: Data> Fetch for Many<T> {
    type Values = Vec<T>;
    fn fetch(&self, inputs: &mut Inputs<'_>) -> Result<Vec<T>, TaskFailure> {
        let mut v = Vec::with_capacity(self.0);
        for _ in 0..self.0 {
            v.push(inputs.take()?);
        }
        Ok(v)
    }
}

/// One argument of a delayed call.
pub trait Arg {
    /// What the task function receives.
    type Value;
    /// How to read the value back.
    type Shape: Fetch<Values = Self::Value>;
    /// Records the dependencies; returns the shape.
    fn push_deps(self, deps: &mut Deps) -> Self::Shape;
}

impl<T: Data> Arg for Delayed<T> {
    type Value = T;
    type Shape = One<T>;
    fn push_deps(self, deps: &mut Deps) -> One<T> {
        deps.push(self.node);
        One(PhantomData)
    }
}

impl<T: Data> Arg for &Delayed<T> {
    type Value = T;
    type Shape = One<T>;
    fn push_deps(self, deps: &mut Deps) -> One<T> {
        deps.push(self.node.clone());
        One(PhantomData)
    }
}

impl<T: Data> Arg for Vec<Delayed<T>> {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_deps(self, deps: &mut Deps) -> Many<T> {
        let n = self.len();
        deps.extend(self.into_iter().map(|d| d.node));
        Many(n, PhantomData)
    }
}

impl<T: Data> Arg for &[Delayed<T>] {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_deps(self, deps: &mut Deps) -> Many<T> {
        deps.extend(self.iter().map(|d| d.node.clone()));
        Many(self.len(), PhantomData)
    }
}

impl<T: Data> Arg for &Vec<Delayed<T>> {
    type Value = Vec<T>;
    type Shape = Many<T>;
    fn push_deps(self, deps: &mut Deps) -> Many<T> {
        self.as_slice().push_deps(deps)
    }
}

/// All arguments of a delayed call: `()` or a tuple of up to eight [`Arg`]s.
pub trait Args {
    /// The tuple of values the function receives.
    type Values;
    /// How to read them back.
    type Shape: Fetch<Values = Self::Values>;
    /// Records the dependencies.
    fn push_deps(self, deps: &mut Deps) -> Self::Shape;
}

/// A function that can be called with the values of [`Args`].
pub trait TaskFn<V>: Send + Sync + 'static {
    /// What it returns.
    type Output;
    /// Calls it.
    fn call(&self, values: V) -> Self::Output;
}

macro_rules! tuple_impls {
    ($($name:ident $idx:tt),*) => {
        impl<$($name: Fetch),*> Fetch for ($($name,)*) {
            type Values = ($($name::Values,)*);
            #[allow(unused_variables, clippy::unused_unit)]
            #[inline]
            fn fetch(&self, inputs: &mut Inputs<'_>) -> Result<Self::Values, TaskFailure> {
                Ok(($(self.$idx.fetch(inputs)?,)*))
            }
        }

        impl<$($name: Arg),*> Args for ($($name,)*) {
            type Values = ($($name::Value,)*);
            type Shape = ($($name::Shape,)*);
            #[allow(unused_variables, clippy::unused_unit)]
            fn push_deps(self, deps: &mut Deps) -> Self::Shape {
                ($(self.$idx.push_deps(deps),)*)
            }
        }

        impl<Func, Out, $($name),*> TaskFn<($($name,)*)> for Func
        where
            Func: Fn($($name),*) -> Out + Send + Sync + 'static,
        {
            type Output = Out;
            #[allow(non_snake_case, clippy::unused_unit)]
            #[inline]
            fn call(&self, values: ($($name,)*)) -> Out {
                let ($($name,)*) = values;
                self($($name),*)
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
