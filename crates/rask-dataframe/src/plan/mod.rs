//! Logical plans: what a [`DataFrame`](crate::DataFrame) is.
//!
//! Every operation on a dataframe adds one [`Node`] over its inputs and
//! checks names and types right away; nothing becomes a task until the
//! plan is *lowered* (`collect`, `partitions`, `persist`, ...), after the
//! optimizer (`optimize.rs`) has rewritten it. Rules:
//!
//! 1. A plan's `schema` is exactly the columns (names, types, order) that
//!    each of its lowered partitions has; `nparts` is how many partitions
//!    lowering makes. Both are fixed when the node is built.
//! 2. The optimizer returns a plan with the same root schema and the same
//!    rows (the same order where the operations define one) and never
//!    changes a node's partition count, so `npartitions()` needs no
//!    optimization.
//! 3. Plans are immutable and shared by `Arc`: a node reachable along two
//!    paths is optimized once and lowered once (its tasks feed both).
//! 4. The walks (optimize, lower, explain) recurse over the plan, whose
//!    depth is the number of operations a program chains, never a size
//!    of the data.

pub(crate) mod explain;
pub(crate) mod lower;
pub(crate) mod optimize;

use std::sync::Arc;

use arrow::datatypes::{Field, Schema, SchemaRef};
use rask_core::Delayed;

use crate::error::Result;
use crate::expr::Expr;
use crate::groupby::GroupSpec;
use crate::join::{JoinSpec, JoinStrategy};
use crate::partition::Partition;
use crate::scan::Scan;
use crate::sort::SortSpec;
use crate::window::WindowSpec;

/// A shared plan node.
pub(crate) type PlanRef = Arc<Plan>;

/// One node of a logical plan, with its output schema and partition count.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) node: Node,
    pub(crate) schema: SchemaRef,
    pub(crate) nparts: usize,
}

/// What a node computes.
#[derive(Debug)]
pub(crate) enum Node {
    /// Partitions made elsewhere (values, a user's tasks): the optimizer
    /// cannot look inside.
    Source(Vec<Delayed<Partition>>),
    /// Files read (Parquet, CSV, Arrow IPC), with the columns and the
    /// predicate pushed into the read.
    Scan(Scan),
    /// Columns from expressions.
    Select { input: PlanRef, exprs: Vec<Expr> },
    /// The rows where a predicate is true.
    Filter { input: PlanRef, predicate: Expr },
    /// A group-by; `split_out: None` decides at run time.
    Aggregate {
        input: PlanRef,
        spec: GroupSpec,
        split_out: Option<usize>,
        fan_in: usize,
    },
    /// A join of two plans.
    Join {
        left: PlanRef,
        right: PlanRef,
        spec: JoinSpec,
        strategy: JoinStrategy,
    },
    /// A sort into range partitions.
    Sort { input: PlanRef, spec: SortSpec },
    /// The first `k` rows in sort order, in one partition.
    TopK {
        input: PlanRef,
        spec: SortSpec,
        k: usize,
    },
    /// The first `n` rows, in one partition.
    Head { input: PlanRef, n: usize },
    /// Rows moved into `n` partitions by a hash of the keys.
    Shuffle {
        input: PlanRef,
        keys: Vec<String>,
        n: usize,
    },
    /// The same rows in `n` even partitions.
    Repartition { input: PlanRef, n: usize },
    /// The first row of each distinct value of `cols` (after a shuffle by
    /// them when there are several partitions).
    Dedupe { input: PlanRef, cols: Vec<String> },
    /// One dictionary per string column across partitions.
    Unify { input: PlanRef },
    /// A describe state reshaped (the input is its group-by).
    Describe { input: PlanRef, cols: Vec<String> },
    /// Window functions over partitions of rows.
    Window { input: PlanRef, spec: WindowSpec },
}

impl Plan {
    pub(crate) fn new(node: Node, schema: SchemaRef, nparts: usize) -> PlanRef {
        Arc::new(Plan {
            node,
            schema,
            nparts,
        })
    }

    /// The node's inputs, in order.
    pub(crate) fn inputs(&self) -> Vec<&PlanRef> {
        match &self.node {
            Node::Source(_) | Node::Scan(_) => Vec::new(),
            Node::Join { left, right, .. } => vec![left, right],
            Node::Select { input, .. }
            | Node::Filter { input, .. }
            | Node::Aggregate { input, .. }
            | Node::Sort { input, .. }
            | Node::TopK { input, .. }
            | Node::Head { input, .. }
            | Node::Shuffle { input, .. }
            | Node::Repartition { input, .. }
            | Node::Dedupe { input, .. }
            | Node::Unify { input }
            | Node::Describe { input, .. }
            | Node::Window { input, .. } => vec![input],
        }
    }

    /// The same node over new inputs (in [`inputs`](Self::inputs) order),
    /// its schema recomputed: columns that pass through follow the inputs.
    pub(crate) fn with_inputs(&self, new: Vec<PlanRef>) -> Result<PlanRef> {
        let mut it = new.into_iter();
        let mut next = || {
            it.next()
                .unwrap_or_else(|| unreachable!("one input per input"))
        };
        Ok(match &self.node {
            Node::Source(_) | Node::Scan(_) => unreachable!("leaves have no inputs"),
            Node::Select { exprs, .. } => select(next(), exprs.clone())?,
            Node::Filter { predicate, .. } => filter(next(), predicate.clone()),
            Node::Aggregate {
                spec,
                split_out,
                fan_in,
                ..
            } => aggregate(next(), spec.clone(), *split_out, *fan_in)?,
            Node::Join { spec, strategy, .. } => {
                let l = next();
                join(l, next(), spec.clone(), *strategy)?
            }
            Node::Sort { spec, .. } => pass(next(), |input| Node::Sort {
                input,
                spec: spec.clone(),
            }),
            Node::TopK { spec, k, .. } => {
                let input = next();
                let schema = input.schema.clone();
                Plan::new(
                    Node::TopK {
                        input,
                        spec: spec.clone(),
                        k: *k,
                    },
                    schema,
                    1,
                )
            }
            Node::Head { n, .. } => {
                let input = next();
                let schema = input.schema.clone();
                Plan::new(Node::Head { input, n: *n }, schema, 1)
            }
            Node::Shuffle { keys, n, .. } => {
                let input = next();
                let schema = input.schema.clone();
                Plan::new(
                    Node::Shuffle {
                        input,
                        keys: keys.clone(),
                        n: *n,
                    },
                    schema,
                    self.nparts,
                )
            }
            Node::Repartition { n, .. } => {
                let input = next();
                let schema = input.schema.clone();
                Plan::new(Node::Repartition { input, n: *n }, schema, self.nparts)
            }
            Node::Dedupe { cols, .. } => pass(next(), |input| Node::Dedupe {
                input,
                cols: cols.clone(),
            }),
            Node::Unify { .. } => pass(next(), |input| Node::Unify { input }),
            Node::Describe { cols, .. } => Plan::new(
                Node::Describe {
                    input: next(),
                    cols: cols.clone(),
                },
                self.schema.clone(),
                self.nparts,
            ),
            Node::Window { spec, .. } => window(next(), spec.clone())?,
        })
    }
}

/// A node whose rows and partitions follow its input's.
fn pass(input: PlanRef, make: impl FnOnce(PlanRef) -> Node) -> PlanRef {
    let (schema, n) = (input.schema.clone(), input.nparts);
    Plan::new(make(input), schema, n)
}

/// A source of delayed partitions.
pub(crate) fn source(schema: SchemaRef, parts: Vec<Delayed<Partition>>) -> PlanRef {
    let n = parts.len();
    Plan::new(Node::Source(parts), schema, n)
}

/// Columns from expressions; the types are checked here.
pub(crate) fn select(input: PlanRef, exprs: Vec<Expr>) -> Result<PlanRef> {
    let mut fields: Vec<Field> = Vec::with_capacity(exprs.len());
    for e in &exprs {
        let t = e.data_type(&input.schema)?;
        let name = e.name();
        if fields.iter().any(|f| f.name() == &name) {
            return Err(crate::FrameError::Invalid(format!(
                "two output columns named `{name}` (alias one)"
            )));
        }
        fields.push(Field::new(name, t, e.nullable(&input.schema)));
    }
    let n = input.nparts;
    Ok(Plan::new(
        Node::Select { input, exprs },
        Arc::new(Schema::new(fields)),
        n,
    ))
}

/// A filter (the predicate was checked by the caller).
pub(crate) fn filter(input: PlanRef, predicate: Expr) -> PlanRef {
    pass(input, |input| Node::Filter { input, predicate })
}

/// A group-by node; the spec is checked against the input.
pub(crate) fn aggregate(
    input: PlanRef,
    spec: GroupSpec,
    split_out: Option<usize>,
    fan_in: usize,
) -> Result<PlanRef> {
    let (_, out) = spec.schemas(&input.schema)?;
    let n = crate::groupby::lower::output_partitions(&spec, split_out, input.nparts);
    Ok(Plan::new(
        Node::Aggregate {
            input,
            spec,
            split_out,
            fan_in,
        },
        out,
        n,
    ))
}

/// A join node; the spec is checked against both inputs.
pub(crate) fn join(
    left: PlanRef,
    right: PlanRef,
    spec: JoinSpec,
    strategy: JoinStrategy,
) -> Result<PlanRef> {
    let schema = crate::join::join_schema(&left.schema, &right.schema, &spec)?;
    let n = crate::join::lower::output_partitions(&spec, strategy, left.nparts, right.nparts);
    Ok(Plan::new(
        Node::Join {
            left,
            right,
            spec,
            strategy,
        },
        schema,
        n,
    ))
}

/// A window node; the spec is checked against the input.
pub(crate) fn window(input: PlanRef, spec: WindowSpec) -> Result<PlanRef> {
    let schema = spec.schema(&input.schema)?;
    let n = input.nparts;
    Ok(Plan::new(Node::Window { input, spec }, schema, n))
}
