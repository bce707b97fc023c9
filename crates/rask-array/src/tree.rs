//! Tree reductions: the one place where many delayed values become one.
//!
//! `tree(items, fan_in, combine)` groups `items` into runs of at most
//! `fan_in`, combines each run with one k-ary task (a registered function
//! taking a `Vec`, fed by a gather), and repeats until one value is left.
//! A single item is returned as it is, with no task. Depth is
//! `ceil(log_fan_in(n))`; each level frees its inputs as soon as a group is
//! combined.

use rask_core::Delayed;

/// Combines `items` (at least one) into one value with a tree of fan-in
/// `fan_in` (at least 2).
pub(crate) fn tree<T>(
    mut items: Vec<Delayed<T>>,
    fan_in: usize,
    combine: impl Fn(Vec<Delayed<T>>) -> Delayed<T>,
) -> Option<Delayed<T>> {
    let k = fan_in.max(2);
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(k));
        let mut it = items.into_iter().peekable();
        while it.peek().is_some() {
            let group: Vec<Delayed<T>> = it.by_ref().take(k).collect();
            if group.len() == 1 {
                next.extend(group);
            } else {
                next.push(combine(group));
            }
        }
        items = next;
    }
    items.pop()
}
