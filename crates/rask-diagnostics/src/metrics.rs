//! Prometheus text exposition of a [`Status`]: every family `rask_`-prefixed.
//!
//! Families: tasks by state; per key prefix tasks by state, busy seconds
//! and result bytes; per function calls and busy seconds; workers (alive,
//! lost), per worker running and finished tasks, busy seconds, CPU and
//! memory (resident, managed, spilled, moved) where sampled; bytes moved
//! and transfers; runs; the recorder's dropped records and memory; the
//! result cache's hits, misses, evictions and bytes where the client has
//! one; and the scheduler's loop latency where there is a scheduler.

use std::fmt::Write as _;

use crate::state::{Status, TaskState};

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn value(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(val));
            }
            self.0.push('}');
        }
        if v.is_finite() && v == v.trunc() && v.abs() < 1e15 {
            let _ = writeln!(self.0, " {}", v as i64);
        } else {
            let _ = writeln!(self.0, " {v}");
        }
    }
}

/// Reads one gauge of a worker.
type Getter = fn(&crate::WorkerStatus) -> Option<f64>;

/// The Prometheus text for `s` (content type `text/plain; version=0.0.4`).
pub fn prometheus(s: &Status) -> String {
    let mut o = Out(String::with_capacity(4096));
    o.family("rask_tasks", "gauge", "Tasks of the tracked runs by state.");
    for st in TaskState::ALL {
        o.value(
            "rask_tasks",
            &[("state", st.name())],
            s.tasks.get(st) as f64,
        );
    }
    o.family(
        "rask_prefix_tasks",
        "gauge",
        "Tasks per key prefix by state.",
    );
    for p in &s.prefixes {
        let waiting = p.planned.saturating_sub(p.done + p.failed + p.running);
        for (st, v) in [
            ("pending", waiting),
            ("running", p.running),
            ("done", p.done),
            ("failed", p.failed),
        ] {
            o.value(
                "rask_prefix_tasks",
                &[("prefix", &p.name), ("state", st)],
                v as f64,
            );
        }
    }
    o.family(
        "rask_prefix_busy_seconds_total",
        "counter",
        "Time inside task bodies per key prefix.",
    );
    for p in &s.prefixes {
        o.value(
            "rask_prefix_busy_seconds_total",
            &[("prefix", &p.name)],
            p.busy_s,
        );
    }
    o.family(
        "rask_prefix_result_bytes_total",
        "counter",
        "Bytes of results per key prefix, where known.",
    );
    for p in &s.prefixes {
        o.value(
            "rask_prefix_result_bytes_total",
            &[("prefix", &p.name)],
            p.nbytes as f64,
        );
    }
    o.family(
        "rask_function_calls_total",
        "counter",
        "Finished calls per function.",
    );
    for f in &s.functions {
        o.value(
            "rask_function_calls_total",
            &[("function", &f.name)],
            f.calls as f64,
        );
    }
    o.family(
        "rask_function_busy_seconds_total",
        "counter",
        "Time inside each function.",
    );
    for f in &s.functions {
        o.value(
            "rask_function_busy_seconds_total",
            &[("function", &f.name)],
            f.busy_s,
        );
    }
    o.family("rask_workers", "gauge", "Workers by state.");
    let alive = s.workers.iter().filter(|w| w.alive).count();
    o.value("rask_workers", &[("state", "alive")], alive as f64);
    o.value(
        "rask_workers",
        &[("state", "lost")],
        (s.workers.len() - alive) as f64,
    );
    o.family(
        "rask_worker_running_tasks",
        "gauge",
        "Tasks running on each worker.",
    );
    for w in &s.workers {
        o.value(
            "rask_worker_running_tasks",
            &[("worker", &w.name)],
            w.running as f64,
        );
    }
    o.family(
        "rask_worker_tasks_total",
        "counter",
        "Tasks each worker finished (with a value or not).",
    );
    for w in &s.workers {
        o.value(
            "rask_worker_tasks_total",
            &[("worker", &w.name)],
            w.done as f64,
        );
    }
    o.family(
        "rask_worker_busy_seconds_total",
        "counter",
        "Time inside task bodies per worker.",
    );
    for w in &s.workers {
        o.value(
            "rask_worker_busy_seconds_total",
            &[("worker", &w.name)],
            w.busy_s,
        );
    }
    let gauges: [(&str, &str, Getter); 5] = [
        (
            "rask_worker_cpu_percent",
            "CPU use at the last sample, percent of one core.",
            |w| w.cpu_percent.map(f64::from),
        ),
        (
            "rask_worker_memory_bytes",
            "Resident memory at the last sample.",
            |w| w.rss_bytes.map(|v| v as f64),
        ),
        (
            "rask_worker_managed_bytes",
            "Bytes of values held in memory.",
            |w| w.managed_bytes.map(|v| v as f64),
        ),
        (
            "rask_worker_spilled_bytes",
            "Bytes of values spilled to disk.",
            |w| w.spilled_bytes.map(|v| v as f64),
        ),
        (
            "rask_worker_moved_bytes",
            "Bytes the worker sent and received.",
            |w| w.moved_bytes.map(|v| v as f64),
        ),
    ];
    for (name, help, get) in gauges {
        if s.workers.iter().any(|w| get(w).is_some()) {
            o.family(name, "gauge", help);
            for w in &s.workers {
                if let Some(v) = get(w) {
                    o.value(name, &[("worker", &w.name)], v);
                }
            }
        }
    }
    o.family(
        "rask_bytes_moved_total",
        "counter",
        "Bytes moved between workers or to the client.",
    );
    o.value("rask_bytes_moved_total", &[], s.bytes_moved as f64);
    o.family(
        "rask_transfers_total",
        "counter",
        "Transfers between workers or to the client.",
    );
    o.value("rask_transfers_total", &[], s.transfers as f64);
    o.family("rask_runs", "gauge", "Runs tracked, by state.");
    let running = s.runs.iter().filter(|r| r.end_ns.is_none()).count();
    o.value("rask_runs", &[("state", "running")], running as f64);
    o.value(
        "rask_runs",
        &[("state", "finished")],
        (s.runs.len() - running) as f64,
    );
    o.family(
        "rask_recorder_dropped_records_total",
        "counter",
        "Task records dropped from the bounded task stream.",
    );
    o.value(
        "rask_recorder_dropped_records_total",
        &[],
        s.records_dropped as f64,
    );
    o.family(
        "rask_recorder_memory_bytes",
        "gauge",
        "Bytes the recording holds.",
    );
    o.value("rask_recorder_memory_bytes", &[], s.memory_bytes as f64);
    if let Some(c) = &s.cache {
        for (name, kind, help, v) in [
            (
                "rask_cache_hits_total",
                "counter",
                "Tasks served from the result cache instead of running.",
                c.hits,
            ),
            (
                "rask_cache_misses_total",
                "counter",
                "Tasks looked up in the result cache and not found.",
                c.misses,
            ),
            (
                "rask_cache_evictions_total",
                "counter",
                "Values the result cache removed to make room.",
                c.evictions,
            ),
            (
                "rask_cache_inserts_total",
                "counter",
                "Values stored in the result cache.",
                c.inserts,
            ),
            (
                "rask_cache_rejected_total",
                "counter",
                "Values too big for the whole result cache.",
                c.rejected,
            ),
            (
                "rask_cache_bytes",
                "gauge",
                "Estimated bytes the result cache holds.",
                c.bytes,
            ),
            (
                "rask_cache_entries",
                "gauge",
                "Values the result cache holds.",
                c.entries,
            ),
            (
                "rask_cache_capacity_bytes",
                "gauge",
                "The most bytes the result cache holds.",
                c.capacity,
            ),
        ] {
            o.family(name, kind, help);
            o.value(name, &[], v as f64);
        }
    }
    if let Some(l) = s.scheduler_latency_s {
        o.family(
            "rask_scheduler_loop_latency_seconds",
            "gauge",
            "Time the scheduler's loop took for its last batch of messages.",
        );
        o.value("rask_scheduler_loop_latency_seconds", &[], l);
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{PrefixStatus, WorkerStatus};

    #[test]
    fn every_line_is_a_comment_or_a_rask_sample_and_labels_are_escaped() {
        let s = Status {
            prefixes: vec![PrefixStatus {
                name: "we\"ird\\na\nme".into(),
                planned: 10,
                done: 4,
                ..PrefixStatus::default()
            }],
            workers: vec![WorkerStatus {
                id: 0,
                name: "w0".into(),
                alive: true,
                rss_bytes: Some(1 << 20),
                ..WorkerStatus::default()
            }],
            scheduler_latency_s: Some(0.0005),
            cache: Some(crate::state::CacheStatus {
                hits: 3,
                bytes: 4096,
                ..Default::default()
            }),
            ..Status::default()
        };
        let text = prometheus(&s);
        for line in text.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("rask_"),
                "{line}"
            );
        }
        assert!(text.contains(r#"rask_prefix_tasks{prefix="we\"ird\\na\nme",state="done"} 4"#));
        assert!(text.contains(r#"rask_prefix_tasks{prefix="we\"ird\\na\nme",state="pending"} 6"#));
        assert!(text.contains(r#"rask_worker_memory_bytes{worker="w0"} 1048576"#));
        assert!(text.contains("rask_scheduler_loop_latency_seconds 0.0005"));
        assert!(!text.contains("rask_worker_spilled_bytes"));
        assert!(text.contains("# TYPE rask_cache_hits_total counter\nrask_cache_hits_total 3\n"));
        assert!(text.contains("rask_cache_bytes 4096\n"));
        assert!(!prometheus(&Status::default()).contains("rask_cache"));
    }
}
