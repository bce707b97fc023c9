//! A row-at-a-time interpreter of filter expressions with SQL's three-valued
//! logic: the reference the dataframe's answers are compared with. It knows
//! nothing of Arrow: cells in, cells out.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Ordering;

use rask_dataframe::{col, lit, BinOp, Expr, Scalar};

use super::typed::{literal, literal_cell};
use super::{Cell, Rng};

/// Compares two non-null cells (numbers across kinds by value).
pub fn cmp_cells(a: &Cell, b: &Cell) -> Option<Ordering> {
    match (a, b) {
        (Cell::Int(x), Cell::Float(y)) => (*x as f64).partial_cmp(y),
        (Cell::Float(x), Cell::Int(y)) => x.partial_cmp(&(*y as f64)),
        _ => a.partial_cmp(b),
    }
}

/// The value of `e` on one row (`names[i]` is the column of `row[i]`);
/// `None` is SQL's null (also for a null boolean).
pub fn eval(e: &Expr, names: &[String], row: &[Cell]) -> Cell {
    match e {
        Expr::Col(n) => {
            let i = names.iter().position(|c| c == n).expect("column");
            row[i].clone()
        }
        Expr::Lit(s) => literal_cell(s),
        Expr::Alias(e, _) => eval(e, names, row),
        Expr::IsNull(e) => Cell::Bool(eval(e, names, row) == Cell::Null),
        Expr::IsNotNull(e) => Cell::Bool(eval(e, names, row) != Cell::Null),
        Expr::Not(e) => match eval(e, names, row) {
            Cell::Bool(b) => Cell::Bool(!b),
            _ => Cell::Null,
        },
        Expr::IsIn(e, values) => {
            let v = eval(e, names, row);
            if v == Cell::Null {
                return Cell::Null;
            }
            Cell::Bool(values.iter().any(|s| {
                let c = literal_cell(s);
                c != Cell::Null && cmp_cells(&v, &c) == Some(Ordering::Equal)
            }))
        }
        Expr::Binary { op, left, right } => {
            let (l, r) = (eval(left, names, row), eval(right, names, row));
            match op {
                BinOp::And => match (l, r) {
                    (Cell::Bool(false), _) | (_, Cell::Bool(false)) => Cell::Bool(false),
                    (Cell::Bool(true), Cell::Bool(true)) => Cell::Bool(true),
                    _ => Cell::Null,
                },
                BinOp::Or => match (l, r) {
                    (Cell::Bool(true), _) | (_, Cell::Bool(true)) => Cell::Bool(true),
                    (Cell::Bool(false), Cell::Bool(false)) => Cell::Bool(false),
                    _ => Cell::Null,
                },
                op if l == Cell::Null || r == Cell::Null => {
                    let _ = op;
                    Cell::Null
                }
                op => {
                    let o = cmp_cells(&l, &r).expect("comparable cells");
                    Cell::Bool(match op {
                        BinOp::Eq => o.is_eq(),
                        BinOp::NotEq => o.is_ne(),
                        BinOp::Lt => o.is_lt(),
                        BinOp::LtEq => o.is_le(),
                        BinOp::Gt => o.is_gt(),
                        BinOp::GtEq => o.is_ge(),
                        other => panic!("no plain {other:?}"),
                    })
                }
            }
        }
        other => panic!("the plain interpreter does not know {other}"),
    }
}

/// Whether a filter keeps the row (true only).
pub fn keeps(e: &Expr, names: &[String], row: &[Cell]) -> bool {
    eval(e, names, row) == Cell::Bool(true)
}

/// A random filter over the columns `cols` of `rows` (literals taken from
/// the table, so they have the column's type), 1 to 3 terms combined by
/// `&`, `|` and `!`.
pub fn random_filter(rng: &mut Rng, names: &[String], rows: &[Vec<Cell>], cols: &[&str]) -> Expr {
    let terms = 1 + rng.below(3);
    let mut e = random_term(rng, names, rows, cols);
    for _ in 1..terms {
        let t = random_term(rng, names, rows, cols);
        e = match rng.below(3) {
            0 => e.and(t),
            1 => e.or(t),
            _ => e.and(!t),
        };
    }
    e
}

fn random_term(rng: &mut Rng, names: &[String], rows: &[Vec<Cell>], cols: &[&str]) -> Expr {
    let c = cols[rng.below(cols.len() as u64) as usize];
    let i = names.iter().position(|n| n == c).expect("column");
    let pick = |rng: &mut Rng| -> Scalar {
        if rows.is_empty() {
            return Scalar::Null;
        }
        literal(c, &rows[rng.below(rows.len() as u64) as usize][i])
    };
    let v = pick(rng);
    match rng.below(10) {
        0 => col(c).is_null(),
        1 => col(c).is_not_null(),
        2 => {
            let vals: Vec<Scalar> = (0..1 + rng.below(12)).map(|_| pick(rng)).collect();
            col(c).is_in(vals)
        }
        3 => {
            let w = pick(rng);
            // Between the smaller and the larger (either order is valid SQL).
            col(c).between(lit(v), lit(w))
        }
        4 => col(c).eq(lit(v)),
        5 => col(c).not_eq(lit(v)),
        6 => col(c).lt(lit(v)),
        7 => col(c).lt_eq(lit(v)),
        8 => lit(v).gt(col(c)),
        _ => col(c).gt_eq(lit(v)),
    }
}
