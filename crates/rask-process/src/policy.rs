//! Which worker gets the next task.
//!
//! A policy sees, per worker, whether it is alive, how many tasks it has in
//! flight and how many bytes of the task's inputs it already holds, and
//! picks a live worker under the in-flight cap, or none. Whatever the policy,
//! a task with a big input (one that travels in shared memory) goes to the
//! worker that holds it when that worker has room: moving it would cost more
//! than any imbalance.

/// How tasks are spread over the workers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// In turn.
    RoundRobin,
    /// To the worker with the fewest tasks in flight (ties: the one holding
    /// more of the task's inputs, then the lowest number). The default.
    #[default]
    LeastLoaded,
    /// In proportion to each worker's declared capacity (one weight per
    /// worker; a worker of weight 0 gets nothing).
    Weighted(Vec<u32>),
}

/// What a policy sees of one worker.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Seen {
    pub(crate) alive: bool,
    pub(crate) in_flight: u32,
    /// Bytes of the task's inputs this worker holds.
    pub(crate) holds: u64,
    /// Whether it holds an input that is big enough to pin the task.
    pub(crate) holds_big: bool,
}

/// A placement policy with its state.
#[derive(Debug)]
pub(crate) struct Placer {
    placement: Placement,
    next: usize,
}

impl Placer {
    pub(crate) fn new(placement: Placement) -> Self {
        Placer { placement, next: 0 }
    }

    /// The worker for the next task, if any has room under `cap`.
    pub(crate) fn choose(&mut self, seen: &[Seen], cap: u32) -> Option<usize> {
        let open = |w: &Seen| w.alive && w.in_flight < cap;
        if let Some(w) = (0..seen.len()).find(|&i| seen[i].holds_big && open(&seen[i])) {
            return Some(w);
        }
        let n = seen.len();
        match &self.placement {
            Placement::RoundRobin => {
                let w = (0..n)
                    .map(|i| (self.next + i) % n)
                    .find(|&w| open(&seen[w]))?;
                self.next = (w + 1) % n;
                Some(w)
            }
            Placement::LeastLoaded => (0..n)
                .filter(|&w| open(&seen[w]))
                .min_by_key(|&w| (seen[w].in_flight, std::cmp::Reverse(seen[w].holds), w)),
            Placement::Weighted(weights) => {
                let weight = |w: usize| weights.get(w).copied().unwrap_or(1) as u64;
                (0..n)
                    .filter(|&w| open(&seen[w]) && weight(w) > 0)
                    .min_by(|&a, &b| {
                        // (load + 1) / weight, compared without division.
                        let la = (seen[a].in_flight as u64 + 1) * weight(b);
                        let lb = (seen[b].in_flight as u64 + 1) * weight(a);
                        la.cmp(&lb)
                            .then(seen[b].holds.cmp(&seen[a].holds))
                            .then(a.cmp(&b))
                    })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(n: usize) -> Vec<Seen> {
        vec![
            Seen {
                alive: true,
                in_flight: 0,
                holds: 0,
                holds_big: false,
            };
            n
        ]
    }

    fn place(p: Placement, seen: &mut [Seen], tasks: usize) -> Vec<u32> {
        let mut placer = Placer::new(p);
        for _ in 0..tasks {
            if let Some(w) = placer.choose(seen, 1000) {
                seen[w].in_flight += 1;
            }
        }
        seen.iter().map(|s| s.in_flight).collect()
    }

    #[test]
    fn round_robin_takes_turns_and_skips_the_dead() {
        let mut seen = idle(3);
        seen[1].alive = false;
        assert_eq!(place(Placement::RoundRobin, &mut seen, 6), vec![3, 0, 3]);
    }

    #[test]
    fn least_loaded_evens_out_and_prefers_the_holder() {
        let mut seen = idle(3);
        seen[0].in_flight = 5;
        assert_eq!(place(Placement::LeastLoaded, &mut seen, 7), vec![5, 4, 3]);
        let mut seen = idle(3);
        seen[2].holds = 64;
        assert_eq!(
            Placer::new(Placement::LeastLoaded).choose(&seen, 10),
            Some(2)
        );
    }

    #[test]
    fn weighted_follows_capacity() {
        let mut seen = idle(3);
        assert_eq!(
            place(Placement::Weighted(vec![1, 3, 0]), &mut seen, 8),
            vec![2, 6, 0]
        );
    }

    #[test]
    fn a_big_input_pins_the_task_and_the_cap_is_kept() {
        let mut seen = idle(2);
        seen[1].holds_big = true;
        seen[1].in_flight = 9;
        assert_eq!(
            Placer::new(Placement::RoundRobin).choose(&seen, 10),
            Some(1)
        );
        seen[1].in_flight = 10;
        assert_eq!(
            Placer::new(Placement::RoundRobin).choose(&seen, 10),
            Some(0)
        );
        seen[0].in_flight = 10;
        assert_eq!(Placer::new(Placement::LeastLoaded).choose(&seen, 10), None);
    }
}
