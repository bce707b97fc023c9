//! What a run driven by this process shares with its job tasks when they
//! run here (threads): the cancellation flag, the resource slots, the
//! progress counters. Tasks find it by the run's token; a task running in
//! another process (a cluster worker) finds nothing and falls back to the
//! cancellation file and no local resource accounting (the scheduler places
//! by resources there).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Counters the progress bar reads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) ran: AtomicU64,
    pub(crate) up_to_date: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) skipped: AtomicU64,
}

/// A run driven by this process.
#[derive(Debug)]
pub(crate) struct LocalRun {
    pub(crate) cancel: Arc<AtomicBool>,
    /// Created on cancellation, for tasks in other processes.
    pub(crate) cancel_file: Option<PathBuf>,
    pub(crate) slots: Slots,
    pub(crate) counters: Counters,
}

fn runs() -> &'static Mutex<HashMap<String, Arc<LocalRun>>> {
    static R: OnceLock<Mutex<HashMap<String, Arc<LocalRun>>>> = OnceLock::new();
    R.get_or_init(Mutex::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Set by the first Ctrl-C: runs registered afterwards start cancelled, so
/// a signal that comes before a run is registered is not lost.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Registers `run` under `token` until the returned guard drops.
pub(crate) fn register(token: &str, run: Arc<LocalRun>) -> Registered {
    let mut runs = lock(runs());
    runs.insert(token.to_owned(), run.clone());
    if INTERRUPTED.load(Ordering::SeqCst) {
        drop(runs);
        cancel(&run);
    }
    Registered(token.to_owned())
}

/// Unregisters a run when dropped.
#[derive(Debug)]
pub(crate) struct Registered(String);

impl Drop for Registered {
    fn drop(&mut self) {
        lock(runs()).remove(&self.0);
    }
}

/// The run `token`, if this process drives it.
pub(crate) fn get(token: &str) -> Option<Arc<LocalRun>> {
    lock(runs()).get(token).cloned()
}

/// Cancels every run this process drives, and those it will drive (Ctrl-C).
pub(crate) fn cancel_all() {
    let all: Vec<Arc<LocalRun>> = {
        let runs = lock(runs());
        INTERRUPTED.store(true, Ordering::SeqCst);
        runs.values().cloned().collect()
    };
    for r in &all {
        cancel(r);
    }
}

/// See [`crate::interrupt::clear`].
pub(crate) fn clear_interrupted() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

fn cancel(r: &LocalRun) {
    r.cancel.store(true, Ordering::SeqCst);
    r.slots.cv.notify_all();
    if let Some(f) = &r.cancel_file {
        if let Err(e) = std::fs::write(f, b"cancelled\n") {
            tracing::warn!("{}: {e}: jobs on other machines will run on", f.display());
        }
    }
    crate::supervise::wake();
}

/// Resources a run may hand out: a FIFO semaphore over several amounts.
#[derive(Debug)]
pub(crate) struct Slots {
    cap: Vec<(String, f64)>,
    state: Mutex<SlotState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct SlotState {
    used: Vec<f64>,
    queue: VecDeque<u64>,
    next: u64,
}

/// Why resources were not granted.
#[derive(Debug)]
pub(crate) enum Refused {
    /// More than the run has at all.
    Never(String),
    /// The run was cancelled while waiting.
    Cancelled,
}

impl Slots {
    pub(crate) fn new(cap: Vec<(String, f64)>) -> Slots {
        let used = vec![0.0; cap.len()];
        Slots {
            cap,
            state: Mutex::new(SlotState {
                used,
                ..SlotState::default()
            }),
            cv: Condvar::new(),
        }
    }

    /// Whether a job needing `need` can ever run here.
    pub(crate) fn check(&self, need: &[(String, f64)]) -> Result<(), String> {
        for (r, q) in need {
            match self.cap.iter().find(|(n, _)| n == r) {
                Some((_, c)) if *q <= *c + 1e-9 => {}
                Some((_, c)) => {
                    return Err(format!(
                        "needs {} {r}, and this run has {} (raise it with {})",
                        show(r, *q),
                        show(r, *c),
                        if r == "cpus" { "--jobs".to_owned() } else if r == "memory" { "--memory".to_owned() } else { format!("--resource {r}=N") }
                    ))
                }
                None => {
                    return Err(format!(
                        "needs the resource `{r}`, which this run does not have (give it with --resource {r}=N)"
                    ))
                }
            }
        }
        Ok(())
    }

    /// Waits for `need` in arrival order.
    pub(crate) fn acquire<'a>(
        &'a self,
        need: &[(String, f64)],
        cancel: &AtomicBool,
    ) -> Result<SlotGuard<'a>, Refused> {
        self.check(need).map_err(Refused::Never)?;
        let amounts: Vec<(usize, f64)> = need
            .iter()
            .filter_map(|(r, q)| self.cap.iter().position(|(n, _)| n == r).map(|i| (i, *q)))
            .filter(|(_, q)| *q > 0.0)
            .collect();
        if amounts.is_empty() {
            return Ok(SlotGuard {
                slots: self,
                amounts,
            });
        }
        let mut s = lock(&self.state);
        let ticket = s.next;
        s.next += 1;
        s.queue.push_back(ticket);
        loop {
            if cancel.load(Ordering::SeqCst) {
                s.queue.retain(|&t| t != ticket);
                drop(s);
                self.cv.notify_all();
                return Err(Refused::Cancelled);
            }
            let first = s.queue.front() == Some(&ticket);
            let fits = amounts
                .iter()
                .all(|&(i, q)| s.used[i] + q <= self.cap[i].1 + 1e-9);
            if first && fits {
                s.queue.pop_front();
                for &(i, q) in &amounts {
                    s.used[i] += q;
                }
                drop(s);
                self.cv.notify_all();
                return Ok(SlotGuard {
                    slots: self,
                    amounts,
                });
            }
            s = self
                .cv
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

fn show(r: &str, q: f64) -> String {
    if r == "memory" {
        format!("{:.1} GiB", q / (1024.0 * 1024.0 * 1024.0))
    } else {
        format!("{q}")
    }
}

/// Resources held; given back when dropped.
#[derive(Debug)]
pub(crate) struct SlotGuard<'a> {
    slots: &'a Slots,
    amounts: Vec<(usize, f64)>,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        if self.amounts.is_empty() {
            return;
        }
        let mut s = lock(&self.slots.state);
        for &(i, q) in &self.amounts {
            s.used[i] = (s.used[i] - q).max(0.0);
        }
        drop(s);
        self.slots.cv.notify_all();
    }
}

/// Total memory of this machine in bytes (`/proc/meminfo`), if known.
pub(crate) fn total_memory() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_are_fifo_and_refuse_the_impossible() {
        let s = Arc::new(Slots::new(vec![("cpus".into(), 2.0), ("gpu".into(), 1.0)]));
        let flag = AtomicBool::new(false);
        assert!(
            matches!(s.acquire(&[("cpus".into(), 3.0)], &flag), Err(Refused::Never(m)) if m.contains("--jobs"))
        );
        assert!(
            matches!(s.acquire(&[("tpu".into(), 1.0)], &flag), Err(Refused::Never(m)) if m.contains("--resource tpu=N"))
        );
        let a = s.acquire(&[("cpus".into(), 1.0)], &flag).unwrap();
        let b = s
            .acquire(&[("cpus".into(), 1.0), ("gpu".into(), 1.0)], &flag)
            .unwrap();
        // A third waits until one is given back.
        let s2 = s.clone();
        let t = std::thread::spawn(move || {
            let f = AtomicBool::new(false);
            let _g = s2.acquire(&[("cpus".into(), 2.0)], &f).unwrap();
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished());
        drop(a);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!t.is_finished());
        drop(b);
        t.join().unwrap();
    }
}
