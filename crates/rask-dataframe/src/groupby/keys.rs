//! Rows to dense group ids.
//!
//! Each key column becomes integer codes with a known bound (`card`): an
//! integer column whose range is small is coded by offset from its minimum
//! (no hashing at all); other integers and strings are hashed once per row
//! into a dense id (a dictionary column hashes its dictionary once and maps
//! its keys); null is code 0 everywhere. Several columns are packed into one
//! `u64` (`code * card + next`) while the product of bounds fits, and made
//! dense again by hashing when it would not. The packed codes become group
//! ids `0..n` in order of first appearance, by a direct table when the bound
//! is small and by a hash table otherwise; `first_rows[g]` is the first row
//! of group `g`, so the key values of the groups are a `take` of those rows.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use hashbrown::hash_map::Entry;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use std::hash::BuildHasher;

use crate::error::{FrameError, Result};

/// Rows assigned to groups.
#[derive(Debug)]
pub(crate) struct Groups {
    /// The group of each row, `0..n`, numbered in order of first appearance.
    pub(crate) gids: Vec<u32>,
    /// The first row of each group.
    pub(crate) first_rows: Vec<u32>,
}

impl Groups {
    pub(crate) fn len(&self) -> usize {
        self.first_rows.len()
    }
}

/// Whether a column type can be a group key (also join and sort-free
/// distinct keys): integers, floats (by value, `-0.0 == 0.0`, NaN one
/// value), decimals, booleans, strings and binaries of every encoding,
/// dates, timestamps, durations and times, and dictionaries of those.
pub(crate) fn key_type_ok(t: &DataType) -> bool {
    use DataType as T;
    match t {
        T::Dictionary(_, v) => key_type_ok(v),
        t => {
            t.is_integer()
                || t.is_floating()
                || crate::expr::typing::is_decimal(t)
                || crate::expr::typing::is_str(t)
                || crate::expr::typing::is_binary(t)
                || crate::expr::typing::is_temporal(t)
                || matches!(t, T::Boolean | T::Null)
        }
    }
}

/// Groups the rows of `keys` (all of `n_rows` rows). No keys: one group
/// holding every row (none for no rows).
pub(crate) fn group_rows(keys: &[ArrayRef], n_rows: usize) -> Result<Groups> {
    if n_rows > u32::MAX as usize {
        return Err(FrameError::Invalid(format!(
            "a partition of {n_rows} rows is too large to group (split it)"
        )));
    }
    if keys.is_empty() {
        let first_rows = if n_rows > 0 { vec![0] } else { vec![] };
        return Ok(Groups {
            gids: vec![0; n_rows],
            first_rows,
        });
    }
    if let [k] = keys {
        if let Some(g) = inline_view_groups(k) {
            return Ok(g);
        }
    }
    let (mut packed, mut card) = codes(&keys[0])?;
    for k in &keys[1..] {
        let (c, kc) = codes(k)?;
        match card.checked_mul(kc) {
            Some(p) => {
                card = p;
                for (a, b) in packed.iter_mut().zip(&c) {
                    *a = *a * kc + *b;
                }
            }
            None => {
                let g = densify(&packed, card);
                card = g.len() as u64 * kc;
                for ((a, gid), b) in packed.iter_mut().zip(&g.gids).zip(&c) {
                    *a = u64::from(*gid) * kc + *b;
                }
            }
        }
    }
    Ok(densify(&packed, card))
}

/// Dense ids in order of first appearance for codes below `card`.
fn densify(codes: &[u64], card: u64) -> Groups {
    let n = codes.len();
    let mut gids = Vec::with_capacity(n);
    let mut first_rows = Vec::new();
    if card <= (2 * n as u64).max(1 << 16) {
        let mut table = vec![u32::MAX; card as usize];
        for (row, &c) in codes.iter().enumerate() {
            let slot = &mut table[c as usize];
            if *slot == u32::MAX {
                *slot = first_rows.len() as u32;
                first_rows.push(row as u32);
            }
            gids.push(*slot);
        }
    } else {
        // Size the table from the share of new groups in a prefix, so
        // that high-cardinality keys do not grow (rehash) it many times.
        let probe = n.min(4096);
        let distinct = {
            let mut seen: HashMap<u64, ()> = HashMap::with_capacity(probe);
            codes[..probe].iter().for_each(|&c| {
                seen.insert(c, ());
            });
            seen.len()
        };
        let cap = (n * distinct).checked_div(probe).unwrap_or(0).max(16);
        let mut map: HashMap<u64, u32> = HashMap::with_capacity(cap);
        for (row, &c) in codes.iter().enumerate() {
            let g = match map.entry(c) {
                Entry::Occupied(e) => *e.get(),
                Entry::Vacant(e) => {
                    let g = first_rows.len() as u32;
                    first_rows.push(row as u32);
                    *e.insert(g)
                }
            };
            gids.push(g);
        }
    }
    Groups { gids, first_rows }
}

/// Codes (0 = null) and their bound for one key column.
pub(crate) fn codes(a: &ArrayRef) -> Result<(Vec<u64>, u64)> {
    use DataType as T;
    match a.data_type() {
        T::Int64 => Ok(int_codes(a.as_primitive())),
        t if t.is_integer() => {
            let c = cast(a, &T::Int64)?;
            Ok(int_codes(c.as_primitive()))
        }
        T::Utf8 => {
            let v = a.as_string::<i32>();
            Ok(byte_codes(a, |i| v.value(i).as_bytes()))
        }
        T::LargeUtf8 => {
            let v = a.as_string::<i64>();
            Ok(byte_codes(a, |i| v.value(i).as_bytes()))
        }
        T::Utf8View => {
            let v = a.as_string_view();
            if all_inline(v.views()) {
                // Every string is inline (12 bytes or fewer): its view is its value.
                return Ok(view_codes(a, v.views()));
            }
            Ok(byte_codes(a, |i| v.value(i).as_bytes()))
        }
        T::Binary => {
            let v = a.as_binary::<i32>();
            Ok(byte_codes(a, |i| v.value(i)))
        }
        T::LargeBinary => {
            let v = a.as_binary::<i64>();
            Ok(byte_codes(a, |i| v.value(i)))
        }
        T::BinaryView => {
            let v = a.as_binary_view();
            if all_inline(v.views()) {
                return Ok(view_codes(a, v.views()));
            }
            Ok(byte_codes(a, |i| v.value(i)))
        }
        T::FixedSizeBinary(_) => {
            let v = a.as_fixed_size_binary();
            Ok(byte_codes(a, |i| v.value(i)))
        }
        T::Boolean => Ok(bool_codes(a.as_boolean())),
        T::Decimal128(..) => {
            let p = a.as_primitive::<arrow::datatypes::Decimal128Type>();
            Ok(hashed_codes(p.len(), |i| p.is_valid(i).then(|| p.value(i))))
        }
        t if crate::expr::typing::is_decimal(t) => {
            let c = cast(a, &T::Decimal128(38, decimal_scale(t)))?;
            codes(&c)
        }
        t if t.is_floating() => {
            // By value: -0.0 and 0.0 alike, every NaN alike.
            let c = cast(a, &T::Float64)?;
            let p = c.as_primitive::<arrow::datatypes::Float64Type>();
            Ok(hashed_codes(p.len(), |i| {
                p.is_valid(i).then(|| crate::hash::float_bits(p.value(i)))
            }))
        }
        t if crate::expr::typing::is_temporal(t) => {
            // Dates, times and durations are integers underneath.
            let int = match t {
                T::Date32 | T::Time32(_) => T::Int32,
                _ => T::Int64,
            };
            let c = a.to_data().into_builder().data_type(int).build()?;
            codes(&arrow::array::make_array(c))
        }
        T::Null => Ok((vec![0; a.len()], 1)),
        T::Dictionary(k, _) if **k == T::Int32 => {
            let d = a.as_dictionary::<arrow::datatypes::Int32Type>();
            let (vcodes, card) = codes(d.values())?;
            let keys = d.keys().values();
            let out = if a.null_count() == 0 {
                keys.iter().map(|&k| vcodes[k as usize]).collect()
            } else {
                keys.iter()
                    .enumerate()
                    .map(|(i, &k)| if a.is_valid(i) { vcodes[k as usize] } else { 0 })
                    .collect()
            };
            Ok((out, card))
        }
        T::Dictionary(_, _) => {
            let d = a.as_any_dictionary();
            let (vcodes, card) = codes(d.values())?;
            let keys = d.normalized_keys();
            let mut out = Vec::with_capacity(a.len());
            if a.null_count() == 0 {
                out.extend(keys.iter().map(|&k| vcodes[k]));
            } else {
                for (i, &k) in keys.iter().enumerate() {
                    out.push(if a.is_valid(i) { vcodes[k] } else { 0 });
                }
            }
            Ok((out, card))
        }
        t => Err(FrameError::Invalid(format!(
            "cannot group by a column of type {t}"
        ))),
    }
}

/// The scale of a decimal type (0 for others).
pub(crate) fn decimal_scale(t: &DataType) -> i8 {
    match t {
        DataType::Decimal32(_, s)
        | DataType::Decimal64(_, s)
        | DataType::Decimal128(_, s)
        | DataType::Decimal256(_, s) => *s,
        _ => 0,
    }
}

/// Dense codes (ids from 1, 0 for null) of hashable values.
fn hashed_codes<K: std::hash::Hash + Eq>(
    n: usize,
    get: impl Fn(usize) -> Option<K>,
) -> (Vec<u64>, u64) {
    // Grown as needed (see `inline_view_groups`).
    let mut map: HashMap<K, u64> = HashMap::with_capacity(n.min(1 << 14));
    let out = (0..n)
        .map(|i| match get(i) {
            None => 0,
            Some(k) => {
                let next = map.len() as u64 + 1;
                *map.entry(k).or_insert(next)
            }
        })
        .collect();
    let card = map.len() as u64 + 1;
    (out, card)
}

fn int_codes(a: &Int64Array) -> (Vec<u64>, u64) {
    let n = a.len();
    let vals = a.values();
    let nulls = a.nulls().filter(|b| b.null_count() > 0);
    let (mut mn, mut mx) = (i64::MAX, i64::MIN);
    let mut any = false;
    for (i, &v) in vals.iter().enumerate() {
        if nulls.is_none_or(|b| b.is_valid(i)) {
            mn = mn.min(v);
            mx = mx.max(v);
            any = true;
        }
    }
    if !any {
        return (vec![0; n], 1);
    }
    let range = (i128::from(mx) - i128::from(mn)) as u128;
    if range < u128::from((2 * n as u64).max(1 << 16)) {
        let out = match nulls {
            None => vals
                .iter()
                .map(|&v| (v.wrapping_sub(mn) as u64) + 1)
                .collect(),
            Some(b) => vals
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    if b.is_valid(i) {
                        (v.wrapping_sub(mn) as u64) + 1
                    } else {
                        0
                    }
                })
                .collect(),
        };
        return (out, range as u64 + 2);
    }
    hashed_codes(n, |i| {
        (!nulls.is_some_and(|b| b.is_null(i))).then_some(vals[i])
    })
}

fn bool_codes(a: &BooleanArray) -> (Vec<u64>, u64) {
    let out = (0..a.len())
        .map(|i| {
            if a.is_null(i) {
                0
            } else if a.value(i) {
                2
            } else {
                1
            }
        })
        .collect();
    (out, 3)
}

/// Groups of one view column whose values are all inline (12 bytes or
/// fewer), straight from their 16-byte views: one hash table, no codes.
fn inline_view_groups(a: &ArrayRef) -> Option<Groups> {
    let views = match a.data_type() {
        DataType::Utf8View => a.as_string_view().views(),
        DataType::BinaryView => a.as_binary_view().views(),
        _ => return None,
    };
    if !all_inline(views) {
        return None;
    }
    let n = views.len();
    let nulls = a.nulls().filter(|b| b.null_count() > 0);
    // Grown as needed: a prefix cannot tell 100K distinct values from a
    // million, and an oversized table costs more in cache misses than
    // the rehashing it saves.
    let cap = n.min(1 << 14);
    let hb = DefaultHashBuilder::default();
    // (value as two words, group); the null group has its own slot.
    let mut table: HashTable<([u64; 2], u32)> = HashTable::with_capacity(cap);
    let mut null_group = u32::MAX;
    let mut gids = Vec::with_capacity(n);
    let mut first_rows = Vec::new();
    for (i, &v) in views.iter().enumerate() {
        if nulls.is_some_and(|b| b.is_null(i)) {
            if null_group == u32::MAX {
                null_group = first_rows.len() as u32;
                first_rows.push(i as u32);
            }
            gids.push(null_group);
            continue;
        }
        let key = [v as u64, (v >> 64) as u64];
        let h = hb.hash_one(key);
        let g = match table.find(h, |e| e.0 == key) {
            Some(e) => e.1,
            None => {
                let g = first_rows.len() as u32;
                first_rows.push(i as u32);
                table.insert_unique(h, (key, g), |e| hb.hash_one(e.0));
                g
            }
        };
        gids.push(g);
    }
    Some(Groups { gids, first_rows })
}

/// Whether every view holds its value inline (length 12 or less; the
/// bytes after the value are zero, so equal views mean equal values).
fn all_inline(views: &[u128]) -> bool {
    views.iter().all(|&v| (v as u32) <= 12)
}

/// Dense codes of a view array whose values are all inline: two views are
/// equal exactly when their values are (length and bytes, zero-padded).
fn view_codes(a: &ArrayRef, views: &[u128]) -> (Vec<u64>, u64) {
    let nulls = a.nulls().filter(|b| b.null_count() > 0);
    hashed_codes(views.len(), |i| {
        (!nulls.is_some_and(|b| b.is_null(i))).then_some(views[i])
    })
}

/// Dense codes of byte strings (any encoding): each distinct value is
/// hashed once into a table that keeps its first row for equality checks.
fn byte_codes<'a>(a: &ArrayRef, bytes: impl Fn(usize) -> &'a [u8]) -> (Vec<u64>, u64) {
    let n = a.len();
    let hb = DefaultHashBuilder::default();
    // Each entry: (hash, first row of the value, id); ids start at 1.
    let mut table: HashTable<(u64, u32, u32)> = HashTable::with_capacity(1024);
    let nulls = a.nulls().filter(|b| b.null_count() > 0);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        if nulls.is_some_and(|b| b.is_null(i)) {
            out.push(0);
            continue;
        }
        let v = bytes(i);
        let h = hb.hash_one(v);
        let id = match table.find(h, |&(eh, row, _)| eh == h && bytes(row as usize) == v) {
            Some(&(_, _, id)) => id,
            None => {
                let id = table.len() as u32 + 1;
                table.insert_unique(h, (h, i as u32, id), |&(eh, _, _)| eh);
                id
            }
        };
        out.push(u64::from(id));
    }
    let card = table.len() as u64 + 1;
    (out, card)
}
