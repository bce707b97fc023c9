//! The value codec (`rask_core::decode`, what worker processes and the
//! cluster use for task arguments and results): any bytes decode to a value
//! or an error, never a panic, an abort (a stack overflow from a deeply
//! nested recursive value included) or an allocation beyond the input's
//! size; a value that decodes survives a round trip (encode, decode,
//! encode gives the same bytes).
//!
//! Input layout: byte 0 picks the type, the rest is its encoding.

use std::collections::BTreeMap;
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A task value with the field kinds users return.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// Unit.
    Empty,
    /// Numbers of every width.
    Numbers(i8, u16, i32, u64, i128, f32, f64),
    /// Text.
    Named {
        /// A name.
        name: String,
        /// A character.
        initial: char,
        /// Tags.
        tags: Vec<String>,
    },
    /// Nested collections.
    Table(BTreeMap<String, Vec<Option<(bool, u8)>>>),
}

/// A recursive value: the codec must refuse nesting deeper than its limit
/// rather than recurse once per level of the input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Tree {
    /// A leaf.
    Leaf(u8),
    /// A node and its children.
    Node(Box<Tree>, Vec<Tree>, Option<Box<Tree>>),
}

fn check<T: Serialize + DeserializeOwned + Debug + 'static>(bytes: &[u8]) {
    let Ok(v) = rask_core::decode::<T>(bytes) else {
        return;
    };
    let mut out = Vec::new();
    if let Err(e) = rask_core::encode(&v, &mut out) {
        panic!(
            "a decoded {} does not encode: {e}",
            std::any::type_name::<T>()
        );
    }
    // A map may arrive with its keys repeated or out of order, so the first
    // encoding need not be the input; the second must be the first (floats
    // are kept bit for bit, NaNs included).
    let again = match rask_core::decode::<T>(&out) {
        Ok(v) => v,
        Err(e) => panic!(
            "a {} does not decode its own encoding: {e}",
            std::any::type_name::<T>()
        ),
    };
    let mut out2 = Vec::new();
    if let Err(e) = rask_core::encode(&again, &mut out2) {
        panic!(
            "a decoded {} does not encode: {e}",
            std::any::type_name::<T>()
        );
    }
    assert_eq!(
        out2,
        out,
        "a {} does not round-trip",
        std::any::type_name::<T>()
    );
}

/// Types the target decodes, picked by the first byte.
pub const TYPES: usize = 11;

/// Decodes the rest of `data` as the type byte 0 picks.
pub fn value(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match usize::from(kind) % TYPES {
        0 => check::<Vec<f64>>(bytes),
        1 => check::<Vec<u8>>(bytes),
        2 => check::<Vec<i32>>(bytes),
        3 => check::<String>(bytes),
        4 => check::<(u64, String, Vec<(u8, bool)>)>(bytes),
        5 => check::<Vec<Vec<f64>>>(bytes),
        6 => check::<Option<Vec<String>>>(bytes),
        7 => check::<BTreeMap<String, Vec<u32>>>(bytes),
        8 => check::<Record>(bytes),
        9 => check::<Vec<Record>>(bytes),
        _ => check::<Tree>(bytes),
    }
}

/// One valid encoding of each type.
pub fn valid_inputs() -> Vec<Vec<u8>> {
    fn enc<T: Serialize + 'static>(kind: u8, v: &T) -> Vec<u8> {
        let mut out = vec![kind];
        if let Err(e) = rask_core::encode(v, &mut out) {
            panic!("seed does not encode: {e}");
        }
        out
    }
    let rec = Record::Named {
        name: "x".into(),
        initial: 'é',
        tags: vec!["a".into(), String::new()],
    };
    let mut table = BTreeMap::new();
    table.insert("k".to_owned(), vec![Some((true, 3)), None]);
    vec![
        enc(0, &vec![1.5f64, -0.0, f64::NAN]),
        enc(1, &b"bytes".to_vec()),
        enc(2, &vec![-1i32, 7]),
        enc(3, &"text ✓".to_owned()),
        enc(4, &(7u64, "seven".to_owned(), vec![(1u8, true)])),
        enc(5, &vec![vec![1.0f64], vec![], vec![2.0, 3.0]]),
        enc(6, &Some(vec!["a".to_owned()])),
        enc(7, &BTreeMap::from([("k".to_owned(), vec![1u32, 2])])),
        enc(8, &Record::Numbers(-1, 2, -3, 4, -5, 1.5, -2.5)),
        enc(9, &vec![rec, Record::Empty, Record::Table(table)]),
        enc(
            10,
            &Tree::Node(
                Box::new(Tree::Leaf(1)),
                vec![Tree::Node(Box::new(Tree::Leaf(2)), vec![], None)],
                Some(Box::new(Tree::Leaf(3))),
            ),
        ),
    ]
}
