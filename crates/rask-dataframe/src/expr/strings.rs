//! String functions. Every function reads plain, large, view and
//! dictionary strings; on a dictionary it runs once per distinct value and
//! keeps the keys. Results are `Utf8`, `Boolean` or `Int64`; null in,
//! null out. Lengths and slices count characters, not bytes.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, Int64Array, StringArray, StringBuilder,
};
use arrow::compute::{cast, take};
use arrow::datatypes::{DataType, Int32Type};
use serde::{Deserialize, Serialize};

use crate::error::{FrameError, Result};

/// A string function (see the `Expr` methods of the same names).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StrFn {
    /// Contains a substring.
    Contains(String),
    /// Starts with a prefix.
    StartsWith(String),
    /// Ends with a suffix.
    EndsWith(String),
    /// Lower case.
    Lower,
    /// Upper case.
    Upper,
    /// Length in characters.
    Len,
    /// Characters from `offset` (negative: from the end), `length` of them.
    Slice {
        /// First character (negative counts from the end).
        offset: i64,
        /// How many (`None`: to the end).
        length: Option<u64>,
    },
    /// Every occurrence of `from` replaced by `to`.
    Replace {
        /// What to replace (plain text).
        from: String,
        /// The replacement.
        to: String,
    },
}

impl StrFn {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            StrFn::Contains(_) => "contains",
            StrFn::StartsWith(_) => "starts_with",
            StrFn::EndsWith(_) => "ends_with",
            StrFn::Lower => "lower",
            StrFn::Upper => "upper",
            StrFn::Len => "str_len",
            StrFn::Slice { .. } => "str_slice",
            StrFn::Replace { .. } => "replace",
        }
    }

    /// Applies the function to a string column (any string encoding).
    pub(crate) fn apply(&self, a: &ArrayRef) -> Result<ArrayRef> {
        if let DataType::Dictionary(k, _) = a.data_type() {
            // Once per distinct value, then through the keys.
            let d = if **k == DataType::Int32 {
                a.as_dictionary::<Int32Type>().clone()
            } else {
                let t = DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8));
                cast(a, &t)?.as_dictionary::<Int32Type>().clone()
            };
            let values = self.apply(d.values())?;
            return Ok(match values.data_type() {
                DataType::Utf8 => Arc::new(DictionaryArray::<Int32Type>::try_new(
                    d.keys().clone(),
                    values,
                )?),
                _ => take(values.as_ref(), d.keys(), None)?,
            });
        }
        let s = match a.data_type() {
            DataType::Utf8 => a.clone(),
            DataType::Null => {
                return Ok(arrow::array::new_null_array(&self.output_type(), a.len()))
            }
            DataType::LargeUtf8 | DataType::Utf8View => cast(a, &DataType::Utf8)?,
            t => {
                return Err(FrameError::Invalid(format!(
                    "{} needs a string, not {t}",
                    self.name()
                )))
            }
        };
        let s = s.as_string::<i32>();
        Ok(match self {
            StrFn::Contains(p) => bools(s, |v| v.contains(p.as_str())),
            StrFn::StartsWith(p) => bools(s, |v| v.starts_with(p.as_str())),
            StrFn::EndsWith(p) => bools(s, |v| v.ends_with(p.as_str())),
            StrFn::Len => Arc::new(
                s.iter()
                    .map(|v| v.map(|v| v.chars().count() as i64))
                    .collect::<Int64Array>(),
            ),
            StrFn::Lower => strings(s, |v, out| out.push_str(&v.to_lowercase())),
            StrFn::Upper => strings(s, |v, out| out.push_str(&v.to_uppercase())),
            StrFn::Slice { offset, length } => strings(s, |v, out| {
                let n = v.chars().count() as i64;
                let start = if *offset < 0 {
                    (n + offset).max(0)
                } else {
                    (*offset).min(n)
                };
                let take = length.map_or(n - start, |l| (l as i64).min(n - start));
                out.extend(v.chars().skip(start as usize).take(take.max(0) as usize));
            }),
            StrFn::Replace { from, to } => strings(s, |v, out| {
                if from.is_empty() {
                    out.push_str(v);
                } else {
                    out.push_str(&v.replace(from.as_str(), to));
                }
            }),
        })
    }
}

fn bools(s: &StringArray, f: impl Fn(&str) -> bool) -> ArrayRef {
    Arc::new(s.iter().map(|v| v.map(&f)).collect::<BooleanArray>())
}

fn strings(s: &StringArray, f: impl Fn(&str, &mut String)) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(s.len(), s.value_data().len());
    let mut buf = String::new();
    for i in 0..s.len() {
        if s.is_null(i) {
            b.append_null();
        } else {
            buf.clear();
            f(s.value(i), &mut buf);
            b.append_value(&buf);
        }
    }
    Arc::new(b.finish())
}

impl fmt::Display for StrFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrFn::Contains(p) | StrFn::StartsWith(p) | StrFn::EndsWith(p) => {
                write!(f, "{}({p:?})", self.name())
            }
            StrFn::Lower | StrFn::Upper | StrFn::Len => write!(f, "{}()", self.name()),
            StrFn::Slice { offset, length } => match length {
                Some(l) => write!(f, "str_slice({offset}, {l})"),
                None => write!(f, "str_slice({offset})"),
            },
            StrFn::Replace { from, to } => write!(f, "replace({from:?}, {to:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: StrFn, v: Vec<Option<&str>>) -> Vec<String> {
        let a: ArrayRef = Arc::new(StringArray::from(v));
        let out = f.apply(&a).expect("apply");
        (0..out.len())
            .map(|i| arrow::util::display::array_value_to_string(out.as_ref(), i).expect("display"))
            .collect()
    }

    #[test]
    fn functions_count_characters_and_keep_nulls() {
        let v = vec![Some("Grüße"), None, Some(""), Some("abcabc")];
        assert_eq!(run(StrFn::Len, v.clone()), ["5", "", "0", "6"]);
        assert_eq!(run(StrFn::Upper, v.clone())[0], "GRÜSSE");
        assert_eq!(
            run(
                StrFn::Slice {
                    offset: -3,
                    length: Some(2)
                },
                v.clone()
            ),
            ["üß", "", "", "ab"]
        );
        assert_eq!(
            run(
                StrFn::Slice {
                    offset: 1,
                    length: None
                },
                v.clone()
            )[3],
            "bcabc"
        );
        assert_eq!(
            run(
                StrFn::Replace {
                    from: "bc".into(),
                    to: "X".into()
                },
                v.clone()
            )[3],
            "aXaX"
        );
        assert_eq!(
            run(StrFn::Contains("ca".into()), v),
            ["false", "", "false", "true"]
        );
    }

    #[test]
    fn dictionaries_keep_their_keys() {
        let d: DictionaryArray<Int32Type> = vec!["a", "B", "a"].into_iter().collect();
        let a: ArrayRef = Arc::new(d);
        let out = StrFn::Upper.apply(&a).expect("upper");
        assert!(matches!(out.data_type(), DataType::Dictionary(_, _)));
        let out = cast(&out, &DataType::Utf8).expect("cast");
        let s = out.as_string::<i32>();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Some("A"), Some("B"), Some("A")]
        );
    }
}
