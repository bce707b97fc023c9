//! The scheduler's report as Prometheus metrics (text format 0.0.4): what
//! `rask scheduler --metrics` serves at `/metrics`, for dashboards and for
//! autoscalers outside Rask (a Kubernetes HPA on `rask_workers_desired`).

use std::fmt::Write as _;

use crate::core::ClusterReport;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

impl ClusterReport {
    /// The report in Prometheus' text format.
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(s, "# HELP {name} {help}");
            let _ = writeln!(s, "# TYPE {name} gauge");
            for (labels, v) in samples {
                let _ = writeln!(s, "{name}{labels} {v}");
            }
        };
        let one = |v: f64| vec![(String::new(), v)];
        let retiring = self.workers.iter().filter(|w| w.retiring).count();
        gauge(
            "rask_workers",
            "Live workers, retiring ones included.",
            &one(self.workers.len() as f64),
        );
        gauge(
            "rask_workers_retiring",
            "Workers being retired (their values being copied off).",
            &one(retiring as f64),
        );
        gauge(
            "rask_workers_desired",
            "Workers the work in hand wants (adaptive scaling, unclamped).",
            &one(f64::from(self.desired)),
        );
        let states = [
            "waiting",
            "ready",
            "processing",
            "memory",
            "erred",
            "released",
        ];
        let tasks: Vec<(String, f64)> = states
            .iter()
            .zip(self.tasks)
            .map(|(st, n)| (format!("{{state=\"{st}\"}}"), n as f64))
            .collect();
        gauge("rask_tasks", "Tasks by state.", &tasks);
        gauge(
            "rask_occupancy_seconds",
            "Estimated seconds of work ready or processing.",
            &one(self.occupancy_us as f64 / 1e6),
        );
        gauge(
            "rask_held_bytes",
            "Bytes of values held on workers.",
            &one(self.held_bytes as f64),
        );
        let per = |f: &dyn Fn(&crate::core::WorkerReport) -> f64| -> Vec<(String, f64)> {
            self.workers
                .iter()
                .map(|w| (format!("{{worker=\"{}\"}}", label(&w.name)), f(w)))
                .collect()
        };
        gauge(
            "rask_worker_threads",
            "Compute threads of each worker.",
            &per(&|w| f64::from(w.threads)),
        );
        gauge(
            "rask_worker_in_flight",
            "Tasks sent to each worker and not answered.",
            &per(&|w| f64::from(w.in_flight)),
        );
        gauge(
            "rask_worker_bytes",
            "Bytes of values each worker holds.",
            &per(&|w| w.bytes as f64),
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use crate::core::{ClusterReport, WorkerReport};

    #[test]
    fn the_text_format_has_each_gauge_and_escapes_labels() {
        let r = ClusterReport {
            workers: vec![WorkerReport {
                name: "a\"b".into(),
                threads: 4,
                in_flight: 2,
                bytes: 10,
                retiring: true,
                ..WorkerReport::default()
            }],
            tasks: [1, 2, 3, 4, 5, 6],
            desired: 7,
            occupancy_us: 1_500_000,
            ..ClusterReport::default()
        };
        let t = r.prometheus();
        for want in [
            "# TYPE rask_workers gauge\nrask_workers 1\n",
            "rask_workers_retiring 1\n",
            "rask_workers_desired 7\n",
            "rask_tasks{state=\"processing\"} 3\n",
            "rask_occupancy_seconds 1.5\n",
            "rask_worker_threads{worker=\"a\\\"b\"} 4\n",
        ] {
            assert!(t.contains(want), "missing {want:?} in\n{t}");
        }
    }
}
