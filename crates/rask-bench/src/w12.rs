//! W12: end-to-end dataframe questions on the W4 Parquet file, each timed
//! from reading the file to the result (nothing loaded before; see
//! `bench/README.md` and `bench/refs/e2e.py`):
//!
//! * e1: rows with `v1 >= 3`, grouped by `id3`: sum of `v3`, row count;
//! * e2: grouped by `id1`: sum of `v1 * v2 + 1`, max of `v2`;
//! * e3: the mean of `v3` per `id4` joined back to every row on `id4`; the
//!   rows above their mean counted per `id5` (the file is read by both
//!   sides: the optimizer reads it once);
//! * e4: rows with `id6 < 1000`, the top 100 by `v3` descending, ties by
//!   `id6` (a top-k, no full sort).
//!
//! The file is read in its row groups when it has at least `--partitions`
//! of them (the W4 file has 10 for 8 asked), else in `--partitions` even
//! ranges; the JSON says which (`read_partitions`).
//!
//! Each question is written as a user would, from `read_parquet` on; the
//! optimizer pushes the filters and columns into the scan. Strings are read
//! as the file encodes them (`Strings::FileEncoding`: dictionaries for
//! `id1`, `id2`, views for `id3`, whose pages fell back to plain);
//! `RASK_W12_STRINGS=plain` reads `Utf8`. The checksum of
//! an answer is (rows, sum of its non-key columns rounded to 3 decimals).
//! The check recomputes every answer by a plain single-threaded pass over
//! the file's columns (read once, after the timed runs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{bail, Context};
use rask::dataframe::arrow::array::{Array, AsArray, RecordBatch};
use rask::dataframe::arrow::compute::cast;
use rask::dataframe::arrow::datatypes::{DataType, Int64Type};
use rask::dataframe::{
    self as df, asc, col, desc, len, lit, max, mean, sum, DataFrame, JoinType, ParquetOptions,
    Strings,
};
use rask::Client;
use serde_json::json;

use crate::round;

const QUESTIONS: [&str; 4] = ["e1", "e2", "e3", "e4"];

fn question(name: &str, file: &str, opts: &ParquetOptions) -> anyhow::Result<DataFrame> {
    let x = || df::read_parquet(file, opts);
    Ok(match name {
        "e1" => x()?
            .filter(col("v1").gt_eq(lit(3)))?
            .groupby(&["id3"])
            .agg(vec![sum("v3").alias("s"), len().alias("n")])?,
        "e2" => x()?.groupby(&["id1"]).agg(vec![
            sum(col("v1") * col("v2") + lit(1)).alias("x"),
            max("v2").alias("m"),
        ])?,
        "e3" => {
            let d = x()?;
            let mv = x()?.groupby(&["id4"]).agg(vec![mean("v3").alias("mv")])?;
            d.join(&mv, &["id4"], JoinType::Inner)?
                .filter(col("v3").gt(col("mv")))?
                .groupby(&["id5"])
                .agg(vec![len().alias("n")])?
        }
        _ => x()?
            .filter(col("id6").lt(lit(1000)))?
            .select(vec![col("id6"), col("v3")])?
            .sort(vec![desc("v3"), asc("id6")])?
            .head(100),
    })
}

/// (rows, checksum): the sum of the columns whose names do not start with `id`.
fn answer(b: &RecordBatch) -> anyhow::Result<(usize, f64)> {
    let mut s = 0.0;
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        if !f.name().starts_with("id") {
            s += crate::f64_col(c)?
                .iter()
                .map(|v| v.unwrap_or(0.0))
                .sum::<f64>();
        }
    }
    Ok((b.num_rows(), round(s, 3)))
}

pub(crate) fn run(
    file: &str,
    partitions: usize,
    check: bool,
    explain: bool,
) -> anyhow::Result<serde_json::Value> {
    // Transparent huge pages off, as in W4 (`RASK_W12_THP=on` keeps them):
    // fresh 2 MiB pages are zeroed whole on first touch.
    let thp_off = std::env::var("RASK_W12_THP").map_or(true, |v| v != "on");
    if thp_off {
        // SAFETY: prctl with integer arguments only; it changes no memory.
        unsafe {
            libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
        }
    }
    // Memory freed by one question is kept for the next instead of going
    // back to the OS at once (`RASK_W12_PURGE=on` keeps mimalloc's default,
    // a 10 ms delay): pages are not faulted in and zeroed again. The
    // references' own allocators do the same across queries.
    let keep_memory = std::env::var("RASK_W12_PURGE").map_or(true, |v| v != "on");
    if keep_memory && crate::alloc::name() == "mimalloc" {
        extern "C" {
            fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
        }
        /// `mi_option_purge_delay` in mimalloc 2.x's `mi_option_t`.
        const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
        // SAFETY: mimalloc's documented option setter, linked into this
        // binary with the allocator; it takes plain integers and may be
        // called at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
    let trace = std::env::var("RASK_W12_TRACE")
        .is_ok()
        .then(|| Arc::new(Trace::default()));
    let client = match &trace {
        Some(t) => Client::threads().with_subscriber(t.clone()),
        None => Client::threads(),
    };
    let dictionary = std::env::var("RASK_W12_STRINGS").map_or(true, |v| v != "plain");
    let strings = if dictionary {
        Strings::FileEncoding
    } else {
        Strings::Native
    };
    // Partitions: the file's row groups when it has at least `partitions`
    // of them (a read never spans two row groups, no copy joins the
    // pieces), else `partitions` even ranges. Chosen once, before timing.
    let row_groups = df::read_parquet(file, &ParquetOptions::new())?.npartitions();
    let opts = if row_groups >= partitions {
        ParquetOptions::new().strings(strings)
    } else {
        ParquetOptions::new()
            .partitions(partitions)
            .strings(strings)
    };

    let only = std::env::var("RASK_W12_ONLY").ok();
    let mut per_question = serde_json::Map::new();
    let mut answers = serde_json::Map::new();
    let mut plans = serde_json::Map::new();
    let mut cpu = serde_json::Map::new();
    let mut total = 0.0;
    let mut got = Vec::new();
    for q in QUESTIONS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == q))
        {
            continue;
        }
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let frame = question(q, file, &opts).with_context(|| format!("building {q}"))?;
        let tb = t.elapsed().as_secs_f64();
        let d = frame.to_delayed()?;
        let tl = t.elapsed().as_secs_f64();
        let res = d.compute(&client)?.0;
        if std::env::var("RASK_W12_PHASES").is_ok() {
            // SAFETY: getrusage writes into the zeroed struct we own.
            let mut u: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: a valid pointer for the call's duration.
            unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
            eprintln!(
                "{q}: build {tb:.4} lower {:.4} compute {:.4} minflt so far {}",
                tl - tb,
                t.elapsed().as_secs_f64() - tl,
                u.ru_minflt
            );
        }
        let secs = t.elapsed().as_secs_f64();
        cpu.insert(q.into(), json!(round(cpu_seconds() - cpu0, 4)));
        if let Some(tr) = &trace {
            tr.report(q, t);
        }
        total += secs;
        let a = answer(&res)?;
        per_question.insert(q.into(), json!(round(secs, 4)));
        answers.insert(q.into(), json!([a.0, a.1]));
        if explain {
            plans.insert(q.into(), json!(frame.explain()?));
        }
        got.push((q, a));
    }
    let peak = crate::peak_rss_mib();
    if check {
        let want = plain(file)?;
        for (q, a) in &got {
            let w = want[*q];
            if w.0 != a.0 || (w.1 - a.1).abs() > 1e-6 * w.1.abs().max(1.0) {
                bail!("W12 {q}: got {a:?}, a plain computation gives {w:?}");
            }
        }
    }
    let mut out = json!({
        "workload": "W12",
        "system": "rask-threads",
        "partitions": partitions,
        "read_partitions": if row_groups >= partitions { row_groups } else { partitions },
        "seconds": round(total, 4),
        "per_question": per_question,
        "cpu_per_question": cpu,
        "answers": answers,
        "checked": check,
        "strings": if dictionary { "file encoding" } else { "plain" },
        "transparent_huge_pages": if thp_off { "off" } else { "on" },
        "allocator": crate::alloc::name(),
        "freed_memory": if keep_memory { "kept" } else { "purged after 10 ms" },
        "peak_rss_mib": peak,
    });
    if explain {
        out["plans"] = json!(plans);
    }
    Ok(out)
}

/// Task spans per key name, for `RASK_W12_TRACE=1` (stderr): where a
/// question's wall time goes, task kind by task kind.
#[derive(Default)]
struct Trace {
    spans: Mutex<Vec<(String, Instant, Instant)>>,
}

impl rask::Subscriber for Trace {
    fn on_event(&self, e: &rask::Event<'_>) {
        if let rask::Event::TaskFinished {
            key,
            started,
            finished,
            ..
        } = e
        {
            let name = key.name().as_display().to_string();
            let kind = name.split(['#', '[', '-']).next().unwrap_or("").to_string();
            if let Ok(mut s) = self.spans.lock() {
                s.push((kind, started.instant(), finished.instant()));
            }
        }
    }
}

impl Trace {
    fn report(&self, q: &str, t0: Instant) {
        let Ok(mut s) = self.spans.lock() else { return };
        let mut kinds: Vec<(String, f64, f64, f64, usize)> = Vec::new();
        for (k, a, b) in s.drain(..) {
            let (from, to) = (
                a.duration_since(t0).as_secs_f64(),
                b.duration_since(t0).as_secs_f64(),
            );
            match kinds.iter_mut().find(|x| x.0 == k) {
                Some(x) => {
                    x.1 = x.1.min(from);
                    x.2 = x.2.max(to);
                    x.3 += to - from;
                    x.4 += 1;
                }
                None => kinds.push((k, from, to, to - from, 1)),
            }
        }
        kinds.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (k, from, to, busy, n) in kinds {
            eprintln!("{q} {k:>24}: {n:>3} tasks, from {from:.3} to {to:.3} s, busy {busy:.3} s");
        }
    }
}

/// User and system CPU seconds of this process so far (the machine is
/// shared: CPU time shows the work when wall time shows the neighbours).
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage for the call's duration.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// Every answer by plain loops over the whole file (strings interned).
fn plain(file: &str) -> anyhow::Result<HashMap<&'static str, (usize, f64)>> {
    let t = df::read_parquet(file, &ParquetOptions::new().strings_as_dictionary(true))?
        .collect(&Client::threads())?;
    let int = |name: &str| -> anyhow::Result<Vec<i64>> {
        let c = cast(t.column(t.schema().index_of(name)?), &DataType::Int64)?;
        Ok(c.as_primitive::<Int64Type>().values().to_vec())
    };
    let codes = |name: &str| -> anyhow::Result<Vec<i64>> {
        let c = cast(t.column(t.schema().index_of(name)?), &DataType::Utf8)?;
        let s = c.as_string::<i32>();
        let mut m: HashMap<&str, i64> = HashMap::new();
        Ok((0..s.len())
            .map(|i| {
                let l = m.len() as i64;
                *m.entry(s.value(i)).or_insert(l)
            })
            .collect())
    };
    let v3: Vec<f64> = crate::f64_col(t.column(t.schema().index_of("v3")?))?
        .into_iter()
        .map(|v| v.unwrap_or(0.0))
        .collect();
    let (v1, v2, id4, id5, id6) = (
        int("v1")?,
        int("v2")?,
        int("id4")?,
        int("id5")?,
        int("id6")?,
    );
    let (id1, id3) = (codes("id1")?, codes("id3")?);
    let n = t.num_rows();
    let mut out = HashMap::new();
    // e1
    let mut g: HashMap<i64, (f64, i64)> = HashMap::new();
    for i in 0..n {
        if v1[i] >= 3 {
            let e = g.entry(id3[i]).or_default();
            e.0 += v3[i];
            e.1 += 1;
        }
    }
    let s: f64 = g.values().map(|(s, c)| s + *c as f64).sum();
    out.insert("e1", (g.len(), round(s, 3)));
    // e2
    let mut g: HashMap<i64, (i64, i64)> = HashMap::new();
    for i in 0..n {
        let e = g.entry(id1[i]).or_insert((0, i64::MIN));
        e.0 += v1[i] * v2[i] + 1;
        e.1 = e.1.max(v2[i]);
    }
    let s: f64 = g.values().map(|(x, m)| (*x + *m) as f64).sum();
    out.insert("e2", (g.len(), round(s, 3)));
    // e3
    let mut m: HashMap<i64, (f64, f64)> = HashMap::new();
    for i in 0..n {
        let e = m.entry(id4[i]).or_default();
        e.0 += v3[i];
        e.1 += 1.0;
    }
    let mut g: HashMap<i64, i64> = HashMap::new();
    for i in 0..n {
        let (s, c) = m[&id4[i]];
        if v3[i] > s / c {
            *g.entry(id5[i]).or_default() += 1;
        }
    }
    let s: f64 = g.values().map(|&c| c as f64).sum();
    out.insert("e3", (g.len(), round(s, 3)));
    // e4
    let mut rows: Vec<(f64, i64)> = (0..n)
        .filter(|&i| id6[i] < 1000)
        .map(|i| (v3[i], id6[i]))
        .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    rows.truncate(100);
    let s: f64 = rows.iter().map(|r| r.0).sum();
    out.insert("e4", (rows.len(), round(s, 3)));
    Ok(out)
}
