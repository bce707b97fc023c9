//! A dataframe result as a text table, for terminals and logs, with no
//! crate beyond Arrow's own value formatting.
//!
//! ```
//! use rask_dataframe::arrow::array::{Int64Array, StringArray};
//! use rask_dataframe::arrow::datatypes::{DataType, Field, Schema};
//! use rask_dataframe::arrow::record_batch::RecordBatch;
//! use std::sync::Arc;
//!
//! let schema = Schema::new(vec![
//!     Field::new("city", DataType::Utf8, false),
//!     Field::new("n", DataType::Int64, true),
//! ]);
//! let batch = RecordBatch::try_new(
//!     Arc::new(schema),
//!     vec![
//!         Arc::new(StringArray::from(vec!["Oslo", "Lima"])),
//!         Arc::new(Int64Array::from(vec![Some(12), None])),
//!     ],
//! )
//! .unwrap();
//! assert_eq!(
//!     rask_dataframe::pretty(&batch).to_string(),
//!     "\
//! +------+------+
//! | city | n    |
//! +------+------+
//! | Oslo | 12   |
//! | Lima | null |
//! +------+------+
//! (2 rows)"
//! );
//! ```
//!
//! Rules: every value is shown as Arrow displays it (`null` for a null);
//! at most [`Pretty::max_rows`] rows are shown (the first ones; default 20),
//! then a line says how many were left out; a cell is cut at 60 characters.

use std::fmt;

use arrow::record_batch::RecordBatch;
use arrow::util::display::array_value_to_string;

/// The widest a cell is shown, in characters.
const MAX_CELL: usize = 60;

/// A record batch as a text table (`Display`); see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct Pretty<'a> {
    batch: &'a RecordBatch,
    max_rows: usize,
}

/// `batch` as a text table of at most 20 rows: `println!("{}", pretty(&b))`.
pub fn pretty(batch: &RecordBatch) -> Pretty<'_> {
    Pretty {
        batch,
        max_rows: 20,
    }
}

impl Pretty<'_> {
    /// Shows at most `n` rows.
    pub fn max_rows(self, n: usize) -> Self {
        Pretty {
            max_rows: n,
            ..self
        }
    }
}

fn cell(batch: &RecordBatch, col: usize, row: usize) -> String {
    let c = batch.column(col);
    let s = if c.is_null(row) {
        "null".to_owned()
    } else {
        array_value_to_string(c.as_ref(), row).unwrap_or_else(|e| format!("<{e}>"))
    };
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        s.replace('\n', " ")
    }
}

impl fmt::Display for Pretty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.batch;
        let shown = b.num_rows().min(self.max_rows);
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|fl| fl.name().clone())
            .collect();
        let rows: Vec<Vec<String>> = (0..shown)
            .map(|r| (0..b.num_columns()).map(|c| cell(b, c, r)).collect())
            .collect();
        let widths: Vec<usize> = (0..names.len())
            .map(|c| {
                rows.iter()
                    .map(|r| r[c].chars().count())
                    .chain([names[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let rule = |f: &mut fmt::Formatter<'_>| -> fmt::Result {
            for w in &widths {
                write!(f, "+{}", "-".repeat(w + 2))?;
            }
            writeln!(f, "+")
        };
        let line = |f: &mut fmt::Formatter<'_>, cells: &[String]| -> fmt::Result {
            for (c, w) in cells.iter().zip(&widths) {
                let pad = w - c.chars().count();
                write!(f, "| {c}{} ", " ".repeat(pad))?;
            }
            writeln!(f, "|")
        };
        rule(f)?;
        line(f, &names)?;
        rule(f)?;
        for r in &rows {
            line(f, r)?;
        }
        rule(f)?;
        let left = b.num_rows() - shown;
        if left > 0 {
            write!(f, "({} rows, {left} not shown)", b.num_rows())
        } else {
            write!(f, "({} rows)", b.num_rows())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    #[test]
    fn long_tables_are_cut_and_say_so() {
        let schema = Schema::new(vec![
            Field::new("x", DataType::Float64, false),
            Field::new("s", DataType::Utf8, false),
        ]);
        let long = "y".repeat(100);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Float64Array::from(
                    (0..50).map(f64::from).collect::<Vec<_>>(),
                )),
                Arc::new(StringArray::from(vec![long.as_str(); 50])),
            ],
        )
        .unwrap();
        let text = pretty(&batch).max_rows(3).to_string();
        assert!(text.ends_with("(50 rows, 47 not shown)"), "{text}");
        assert_eq!(text.lines().count(), 3 + 4 + 1, "{text}");
        assert!(text.contains(&format!("{}…", "y".repeat(59))), "{text}");
        assert!(!text.contains(&"y".repeat(60)), "{text}");
    }
}
