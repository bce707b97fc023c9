//! The check that no two tasks of a plan share a user key (a name, or a name
//! and an index; tokens are unique by construction).
//!
//! Lowering notes each user-keyed task with its index; this runs once over
//! those notes when the plan is built. It used to be a `HashSet<Key>`
//! filled during the walk: SipHash over every key's text and a table that
//! kept growing, which made a graph of keyed tasks (`task(("load", i))`,
//! the way Dask users name work) cost twice to three times an unkeyed one.
//! Rules:
//! 1. Names are compared by their text. The plan's name groups are by
//!    identity (where the name lives), so groups whose names read the same
//!    are merged first: one map lookup per group, not per task.
//! 2. Tasks are bucketed by merged name (a counting sort). Within a bucket,
//!    the indices are checked with a bitmap when they are dense (a span of
//!    at most [`DENSE`] times their count), and by sorting otherwise; a name
//!    without an index may occur once. So N keyed tasks cost O(N) in the
//!    usual case and O(N log N) at worst, and nothing is hashed per task.
//! 3. The error names the key that occurs twice.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::error::GraphError;
use crate::{KeyIndex, Plan, TaskId};

/// A bucket's indices go in a bitmap when their span is at most this many
/// times their count (one bit each: at most this many bits per task).
const DENSE: u64 = 64;

/// One user-keyed task, as lowering noted it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Noted {
    pub(crate) task: TaskId,
    /// `None`: the key is a name alone.
    pub(crate) index: Option<u64>,
}

impl Noted {
    /// The note for `task` with key index `i`, if its key is a user key.
    #[inline]
    pub(crate) fn of(task: TaskId, i: KeyIndex) -> Option<Noted> {
        match i {
            KeyIndex::None => Some(Noted { task, index: None }),
            KeyIndex::Index(i) => Some(Noted {
                task,
                index: Some(i),
            }),
            KeyIndex::Token(_) => None,
        }
    }
}

/// Fails with [`GraphError::DuplicateKey`] if two of `noted` (tasks of
/// `plan`) have the same key.
pub(crate) fn check(plan: &Plan, noted: &[Noted]) -> Result<(), GraphError> {
    if noted.len() < 2 {
        return Ok(());
    }
    let dup = |t: TaskId| {
        Err(GraphError::DuplicateKey {
            key: plan.key(t).clone(),
        })
    };
    // Rule 1: one id per name text, for the groups that keyed tasks use.
    let groups = plan.name_groups();
    let firsts = plan.group_firsts();
    let mut canon = vec![u32::MAX; firsts.len()];
    let mut by_text: HashMap<Cow<'_, str>, u32> = HashMap::new();
    for n in noted {
        let g = groups[n.task.index()] as usize;
        if canon[g] == u32::MAX {
            let text = plan.key(firsts[g]).name().as_display();
            let next = by_text.len() as u32;
            canon[g] = *by_text.entry(text).or_insert(next);
        }
    }
    // Rule 2: bucket by name (counting sort), then check each bucket.
    let names = by_text.len();
    let name_of = |n: &Noted| canon[groups[n.task.index()] as usize] as usize;
    let mut start = vec![0usize; names + 1];
    for n in noted {
        start[name_of(n) + 1] += 1;
    }
    for i in 0..names {
        start[i + 1] += start[i];
    }
    let mut fill = start.clone();
    let mut sorted = vec![
        Noted {
            task: TaskId(0),
            index: None
        };
        noted.len()
    ];
    for n in noted {
        let slot = &mut fill[name_of(n)];
        sorted[*slot] = *n;
        *slot += 1;
    }
    let mut bits: Vec<u64> = Vec::new();
    for b in 0..names {
        let bucket = &mut sorted[start[b]..start[b + 1]];
        if bucket.len() < 2 {
            continue;
        }
        if let Some(t) = repeated(bucket, &mut bits) {
            return dup(t);
        }
    }
    Ok(())
}

/// A task of `bucket` (one name) whose index another one has, if any.
fn repeated(bucket: &mut [Noted], bits: &mut Vec<u64>) -> Option<TaskId> {
    let (mut lo, mut hi, mut bare) = (u64::MAX, 0u64, 0usize);
    for n in bucket.iter() {
        match n.index {
            Some(i) => (lo, hi) = (lo.min(i), hi.max(i)),
            None => {
                bare += 1;
                if bare > 1 {
                    return Some(n.task);
                }
            }
        }
    }
    let count = (bucket.len() - bare) as u64;
    if count < 2 {
        return None;
    }
    let span = hi - lo;
    if span / DENSE < count {
        // Dense: one bit per index in the span.
        let words = (span / 64 + 1) as usize;
        bits.clear();
        bits.resize(words, 0);
        for n in bucket.iter() {
            if let Some(i) = n.index {
                let off = i - lo;
                let (w, bit) = ((off / 64) as usize, 1u64 << (off % 64));
                if bits[w] & bit != 0 {
                    return Some(n.task);
                }
                bits[w] |= bit;
            }
        }
        return None;
    }
    // Sparse: sort by index (names alone first) and compare neighbours.
    bucket.sort_unstable_by_key(|n| n.index);
    bucket
        .windows(2)
        .find(|w| w[0].index.is_some() && w[0].index == w[1].index)
        .map(|w| w[1].task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noted(v: &[(u32, Option<u64>)]) -> Vec<Noted> {
        v.iter()
            .map(|&(t, index)| Noted {
                task: TaskId(t),
                index,
            })
            .collect()
    }

    #[test]
    fn a_repeated_index_is_found_dense_or_sparse() {
        let mut bits = Vec::new();
        // Dense: 0..1000 and 500 again.
        let mut v: Vec<(u32, Option<u64>)> = (0..1000).map(|i| (i, Some(u64::from(i)))).collect();
        assert_eq!(repeated(&mut noted(&v), &mut bits), None);
        v.push((1000, Some(500)));
        assert_eq!(repeated(&mut noted(&v), &mut bits), Some(TaskId(1000)));
        // Sparse: far apart, then one again.
        let mut v: Vec<(u32, Option<u64>)> =
            (0..100).map(|i| (i, Some(u64::from(i) << 40))).collect();
        assert_eq!(repeated(&mut noted(&v), &mut bits), None);
        v.push((100, Some(7 << 40)));
        assert_eq!(repeated(&mut noted(&v), &mut bits), Some(TaskId(100)));
        // The whole range of u64.
        let v = [(0, Some(0)), (1, Some(u64::MAX)), (2, None)];
        assert_eq!(repeated(&mut noted(&v), &mut bits), None);
        let v = [(0, Some(u64::MAX)), (1, Some(0)), (2, Some(u64::MAX))];
        assert_eq!(repeated(&mut noted(&v), &mut bits), Some(TaskId(2)));
    }

    /// Random graphs of keyed leaves under one root, against a
    /// `HashSet<Key>`: names equal in text but not in identity (a literal
    /// and a `String`) are one name; dense, sparse and missing indices.
    #[test]
    fn agrees_with_a_set_of_keys_on_random_graphs() {
        use crate::{task, Delayed, Key, PlanOptions};
        use std::collections::HashSet;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut refused, mut accepted) = (0, 0);
        for _ in 0..300 {
            let n = 1 + next() % 200;
            let sparse = next() % 2 == 0;
            let mut seen: HashSet<Key> = HashSet::new();
            let mut dup = HashSet::new();
            // Distinct keys (both texts, a bare name now and then), then
            // half the time one of them again, in either identity.
            let mut keys: Vec<(&'static str, Option<u64>)> = (0..n)
                .map(|i| {
                    let text = ["a", "b"][(i % 2) as usize];
                    (text, Some(if sparse { (i / 2) << 40 } else { i / 2 }))
                })
                .collect();
            for text in ["a", "b"] {
                if next() % 4 == 0 {
                    keys.push((text, None));
                }
            }
            if next() % 2 == 0 {
                let again = keys[(next() % keys.len() as u64) as usize];
                keys.push(again);
            }
            let leaves: Vec<Delayed<u64>> = keys
                .iter()
                .enumerate()
                .map(|(i, &(text, index))| {
                    let name: crate::Name = if next() % 2 == 0 {
                        text.into()
                    } else {
                        text.to_owned().into()
                    };
                    let key = match index {
                        None => Key::new(name),
                        Some(x) => Key::indexed(name, x),
                    };
                    if !seen.insert(key.clone()) {
                        dup.insert(key.clone());
                    }
                    task(key).delayed(move || i as u64, ())
                })
                .collect();
            let root = task("root").delayed(|v: Vec<u64>| v.len() as u64, (leaves,));
            match root.plan(PlanOptions::default()) {
                Ok(_) => {
                    assert!(dup.is_empty(), "{dup:?} were not refused");
                    accepted += 1;
                }
                Err(crate::Error::Graph(GraphError::DuplicateKey { key })) => {
                    assert!(dup.contains(&key), "{key} was refused, not a duplicate");
                    refused += 1;
                }
                Err(e) => panic!("{e}"),
            }
        }
        // Both outcomes were exercised.
        assert!(refused > 20 && accepted > 20, "{refused} {accepted}");
    }

    #[test]
    fn a_name_alone_may_occur_once_beside_its_indices() {
        let mut bits = Vec::new();
        let v = [(0, None), (1, Some(0)), (2, Some(1))];
        assert_eq!(repeated(&mut noted(&v), &mut bits), None);
        let v = [(0, None), (1, Some(0)), (2, None)];
        assert_eq!(repeated(&mut noted(&v), &mut bits), Some(TaskId(2)));
    }
}
