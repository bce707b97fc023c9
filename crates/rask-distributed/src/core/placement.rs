//! Where a ready task goes: the placement policies.
//!
//! Every policy picks among the workers that are alive, have room in their
//! window (tasks sent and not yet answered) and may run the task (its
//! resources fit, its worker restriction names them). Ties go to the worker
//! with fewer tasks in flight, then the lower index, so choices are
//! deterministic.

use serde::{Deserialize, Serialize};

use super::WorkerIx;

/// How the scheduler spreads tasks over workers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// Each task to the next worker in turn.
    RoundRobin,
    /// To the worker with the fewest tasks in flight per thread.
    LeastLoaded,
    /// To the worker with the fewest tasks in flight per unit of declared
    /// capacity (`WorkerInfo::weight`, by default its threads).
    Weighted,
    /// To the worker where the task would start first: the work queued
    /// there (estimated from past durations of the same function) divided by
    /// its threads, plus the time to move there the inputs it lacks.
    #[default]
    EarliestStart,
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "round-robin" => Ok(Placement::RoundRobin),
            "least-loaded" => Ok(Placement::LeastLoaded),
            "weighted" => Ok(Placement::Weighted),
            "earliest-start" => Ok(Placement::EarliestStart),
            other => Err(format!(
                "unknown placement `{other}` (round-robin, least-loaded, weighted, earliest-start)"
            )),
        }
    }
}

/// What a policy sees of one candidate worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidate {
    pub(crate) index: WorkerIx,
    pub(crate) in_flight: u32,
    pub(crate) threads: u32,
    pub(crate) weight: u32,
    /// Estimated microseconds of work sent there and not finished.
    pub(crate) queued_us: f64,
    /// Bytes of the task's inputs that would have to move there.
    pub(crate) missing_bytes: u64,
}

/// Bytes per microsecond assumed for moving a value between workers
/// (about 1 GB/s).
pub(crate) const BYTES_PER_US: f64 = 1000.0;

/// Picks one of `cands` (not empty); `turn` is the round-robin cursor.
pub(crate) fn pick(policy: Placement, cands: &[Candidate], turn: &mut u32) -> usize {
    let by = |score: &dyn Fn(&Candidate) -> f64| -> usize {
        let mut best = 0;
        for (i, c) in cands.iter().enumerate().skip(1) {
            let (a, b) = (score(c), score(&cands[best]));
            if a < b || (a == b && c.in_flight < cands[best].in_flight) {
                best = i;
            }
        }
        best
    };
    match policy {
        Placement::RoundRobin => {
            // The first candidate at or after the cursor, cyclically.
            let at = cands.iter().position(|c| c.index.0 >= *turn).unwrap_or(0);
            *turn = cands[at].index.0 + 1;
            at
        }
        Placement::LeastLoaded => by(&|c| c.in_flight as f64 / c.threads.max(1) as f64),
        Placement::Weighted => by(&|c| c.in_flight as f64 / c.weight.max(1) as f64),
        Placement::EarliestStart => {
            by(&|c| c.queued_us / c.threads.max(1) as f64 + c.missing_bytes as f64 / BYTES_PER_US)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(index: u32, in_flight: u32, queued_us: f64, missing_bytes: u64) -> Candidate {
        Candidate {
            index: WorkerIx(index),
            in_flight,
            threads: 2,
            weight: 2,
            queued_us,
            missing_bytes,
        }
    }

    #[test]
    fn each_policy_picks_as_documented() {
        let cands = [
            c(0, 4, 400.0, 0),
            c(1, 1, 100.0, 1_000_000),
            c(2, 2, 200.0, 0),
        ];
        let mut turn = 0;
        assert_eq!(pick(Placement::LeastLoaded, &cands, &mut turn), 1);
        // Moving 1 MB costs ~1000 us: worker 2 starts it first.
        assert_eq!(pick(Placement::EarliestStart, &cands, &mut turn), 2);
        let picks: Vec<usize> = (0..4)
            .map(|_| pick(Placement::RoundRobin, &cands, &mut turn))
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 0]);
        let mut w = cands;
        w[0].weight = 100;
        assert_eq!(pick(Placement::Weighted, &w, &mut turn), 0);
        assert_eq!(
            "earliest-start".parse::<Placement>(),
            Ok(Placement::EarliestStart)
        );
        assert!("fastest".parse::<Placement>().is_err());
    }
}
