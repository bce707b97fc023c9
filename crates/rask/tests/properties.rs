//! Property tests: random DAGs (random widths, depths, fan-in, duplicate
//! arguments, failing nodes, several outputs) give the same values and the
//! same errors on `sync` and on `threads` with 1..4 threads, with fusion on
//! and off, as a plain recursive evaluation of the same graph (the model).
//! Deterministic: the seeds are fixed; a failure prints its seed.

#![allow(clippy::unwrap_used)]

mod common;

use common::{mix, Rng};
use rask::prelude::*;
use rask::{PlanOptions, TaskErrorKind};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fail {
    No,
    Panic,
    Error,
}

struct Spec {
    deps: Vec<Vec<usize>>,
    fail: Vec<Fail>,
    keyed: Vec<bool>,
    outputs: Vec<usize>,
}

fn gen(seed: u64) -> Spec {
    let mut r = Rng(seed);
    let layers = 1 + r.below(8) as usize;
    let mut deps = Vec::new();
    let mut fail = Vec::new();
    let mut keyed = Vec::new();
    let fail_pct = [0, 2, 5, 15][r.below(4) as usize];
    for layer in 0..layers {
        let width = 1 + r.below(20) as usize;
        let before = deps.len();
        for _ in 0..width {
            let fan_in = if layer == 0 || before == 0 {
                0
            } else {
                r.below(5) as usize
            };
            // Mostly recent nodes, sometimes far back; duplicates allowed.
            let d: Vec<usize> = (0..fan_in)
                .map(|_| {
                    if r.chance(70) {
                        before - 1 - r.below(before.min(20) as u64) as usize
                    } else {
                        r.below(before as u64) as usize
                    }
                })
                .collect();
            deps.push(d);
            fail.push(if r.chance(fail_pct) {
                if r.chance(50) {
                    Fail::Panic
                } else {
                    Fail::Error
                }
            } else {
                Fail::No
            });
            keyed.push(r.chance(50));
        }
    }
    let n = deps.len();
    let outputs = (0..1 + r.below(4))
        .map(|_| n - 1 - r.below(n.min(10) as u64) as usize)
        .collect();
    Spec {
        deps,
        fail,
        keyed,
        outputs,
    }
}

/// The outcome the model predicts: a value, or (task, kind, direct dep, root, root kind).
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    Value(u64),
    Failed {
        key: String,
        kind: String,
        dependency: Option<String>,
        root: String,
        root_kind: String,
    },
}

fn key_name(spec: &Spec, i: usize, anon: &[String]) -> String {
    if spec.keyed[i] {
        format!("n[{i}]")
    } else {
        anon[i].clone()
    }
}

fn model(spec: &Spec, anon: &[String]) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = Vec::with_capacity(spec.deps.len());
    for i in 0..spec.deps.len() {
        let key = key_name(spec, i, anon);
        let failed_dep = spec.deps[i]
            .iter()
            .find(|&&d| matches!(out[d], Outcome::Failed { .. }));
        let o = if let Some(&d) = failed_dep {
            let Outcome::Failed {
                root, root_kind, ..
            } = out[d].clone()
            else {
                unreachable!()
            };
            Outcome::Failed {
                key,
                kind: "DependencyFailed".into(),
                dependency: Some(key_name(spec, d, anon)),
                root,
                root_kind,
            }
        } else {
            match spec.fail[i] {
                Fail::No => {
                    let ins: Vec<u64> = spec.deps[i]
                        .iter()
                        .map(|&d| match out[d] {
                            Outcome::Value(v) => v,
                            _ => unreachable!(),
                        })
                        .collect();
                    Outcome::Value(mix(i as u64, &ins))
                }
                f => {
                    let kind = if f == Fail::Panic {
                        "Panicked"
                    } else {
                        "Failed"
                    };
                    Outcome::Failed {
                        key: key.clone(),
                        kind: kind.into(),
                        dependency: None,
                        root: key,
                        root_kind: kind.into(),
                    }
                }
            }
        };
        out.push(o);
    }
    out
}

fn kind_name(k: &TaskErrorKind) -> String {
    match k {
        TaskErrorKind::Panicked => "Panicked",
        TaskErrorKind::Failed => "Failed",
        TaskErrorKind::TypeMismatch { .. } => "TypeMismatch",
        TaskErrorKind::DependencyFailed { .. } => "DependencyFailed",
        other => panic!("unexpected kind {other:?}"),
    }
    .into()
}

fn outcome(r: &Result<u64>) -> Outcome {
    match r {
        Ok(v) => Outcome::Value(*v),
        Err(Error::Task(e)) => Outcome::Failed {
            key: e.key.to_string(),
            kind: kind_name(&e.kind),
            dependency: match &e.kind {
                TaskErrorKind::DependencyFailed { dependency } => Some(dependency.to_string()),
                _ => None,
            },
            root: e.root().key.to_string(),
            root_kind: kind_name(&e.root().kind),
        },
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn build(spec: &Spec) -> Vec<Delayed<u64>> {
    let mut nodes: Vec<Delayed<u64>> = Vec::with_capacity(spec.deps.len());
    for i in 0..spec.deps.len() {
        let args: Vec<Delayed<u64>> = spec.deps[i].iter().map(|&d| nodes[d].clone()).collect();
        let fail = spec.fail[i];
        let id = i as u64;
        let body = move |ins: Vec<u64>| -> std::result::Result<u64, String> {
            // Uneven task lengths shake up the interleavings on the pool.
            for _ in 0..(id.wrapping_mul(7919) % 2000) {
                std::hint::spin_loop();
            }
            match fail {
                Fail::No => Ok(mix(id, &ins)),
                Fail::Panic => panic!("node {id} panics"),
                Fail::Error => Err(format!("node {id} refuses")),
            }
        };
        let d = if args.len() == 2 && fail == Fail::No {
            // Exercise the tuple form too.
            let f = move |a: u64, b: u64| mix(id, &[a, b]);
            if spec.keyed[i] {
                task(("n", i)).delayed(f, (&args[0], &args[1]))
            } else {
                delayed(f, (&args[0], &args[1]))
            }
        } else if spec.keyed[i] {
            task(("n", i)).try_delayed(body, (args,))
        } else {
            try_delayed(body, (args,))
        };
        nodes.push(d);
    }
    nodes
}

#[test]
fn random_dags_agree_on_every_executor() {
    let clients = [
        ("sync", Client::sync()),
        ("threads-1", Client::threads_with(1)),
        ("threads-2", Client::threads_with(2)),
        ("threads-4", Client::threads_with(4)),
        (
            "threads-3-unfused",
            Client::threads_with(3).with_plan_options(PlanOptions { fuse: false }),
        ),
    ];
    for seed in 0..300u64 {
        let spec = gen(seed);
        let nodes = build(&spec);
        let anon: Vec<String> = nodes.iter().map(|d| d.key().to_string()).collect();
        let expect = model(&spec, &anon);
        let outs: Vec<Delayed<u64>> = spec.outputs.iter().map(|&o| nodes[o].clone()).collect();
        let mut reference_text: Option<Vec<String>> = None;
        for (name, client) in &clients {
            // Each output alone...
            let mut texts = Vec::new();
            for (&o, d) in spec.outputs.iter().zip(&outs) {
                let r = d.compute(client);
                assert_eq!(
                    outcome(&r),
                    expect[o],
                    "seed {seed}, executor {name}, output {o}"
                );
                texts.push(match &r {
                    Ok(v) => v.to_string(),
                    Err(e) => e.to_string(),
                });
            }
            // ...and all at once: the first error in output order, or every value.
            let all = client.get(&outs);
            let first_err = spec
                .outputs
                .iter()
                .find(|&&o| matches!(expect[o], Outcome::Failed { .. }));
            match (all, first_err) {
                (Ok(vals), None) => {
                    let want: Vec<Outcome> =
                        spec.outputs.iter().map(|&o| expect[o].clone()).collect();
                    let got: Vec<Outcome> = vals.into_iter().map(Outcome::Value).collect();
                    assert_eq!(got, want, "seed {seed}, executor {name}");
                }
                (Err(e), Some(&o)) => {
                    assert_eq!(outcome(&Err(e)), expect[o], "seed {seed}, executor {name}")
                }
                (r, _) => panic!(
                    "seed {seed}, executor {name}: joint compute gave {:?}",
                    r.map(|_| ())
                ),
            }
            // Identical error text (including panic locations) on every executor.
            match &reference_text {
                None => reference_text = Some(texts),
                Some(t) => assert_eq!(&texts, t, "seed {seed}, executor {name}"),
            }
        }
    }
}
