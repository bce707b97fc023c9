//! Work stealing: when a worker is idle and nothing is ready, the busiest
//! worker (the most tasks beyond its threads, no steal outstanding) is asked
//! to give back half of those it has not started, newest first; it answers
//! with the ones it really gave back (`Stolen`), which go back to the ready
//! heap. A worker that gave nothing back (its unstarted tasks were waiting
//! for their inputs from peers, which it does not give back) is not asked
//! again until it has answered about another task: asking at once would
//! get the same empty answer, in a loop that keeps both sides busy.

use super::{Core, Outbox, St};
use crate::proto::ToWorker;

impl Core {
    /// Idle workers take queued tasks from the busiest one.
    pub(super) fn steal(&mut self, out: &mut impl Outbox) {
        let idle = self
            .workers
            .iter()
            .any(|wk| wk.alive && !wk.retiring && wk.in_flight < wk.info.threads.max(1));
        if !idle {
            return;
        }
        let Some(v) = self
            .workers
            .ids()
            .filter(|&w| {
                let wk = &self.workers[w];
                wk.alive
                    && !wk.stealing
                    && wk.refused_at != Some(wk.answers)
                    && wk.in_flight > wk.info.threads.max(1) + 1
            })
            .max_by_key(|&w| {
                let wk = &self.workers[w];
                wk.in_flight - wk.info.threads.max(1)
            })
        else {
            return;
        };
        let wk = &self.workers[v];
        let want = ((wk.in_flight - wk.info.threads.max(1)) / 2).max(1) as usize;
        let mut gids = Vec::with_capacity(want);
        for &(slot, gen) in wk.sent.iter().rev() {
            if gids.len() >= want {
                break;
            }
            let t = self.task(slot);
            if t.gen == gen && t.state == St::Processing(v) && !t.started {
                gids.push(t.gid(slot));
            }
        }
        if !gids.is_empty() {
            self.workers[v].stealing = true;
            out.to_worker(v, ToWorker::Steal { gids });
        }
    }
}
