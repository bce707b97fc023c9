//! A terminal progress bar (indicatif) fed by the event stream.
//!
//! Events only bump atomic counters; a ticker thread, started at
//! `RunStarted` and stopped at `RunFinished`, redraws every 50 ms. Where
//! stderr is not a terminal indicatif draws nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rask_core::{Event, Subscriber};

#[derive(Default)]
struct Counters {
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    running: AtomicBool,
}

/// A progress bar on stderr for every run of the executor it is attached to.
pub struct ProgressBar {
    counters: Arc<Counters>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    hidden: bool,
}

impl std::fmt::Debug for ProgressBar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressBar")
            .field("done", &self.counters.done.load(Ordering::Relaxed))
            .field("total", &self.counters.total.load(Ordering::Relaxed))
            .finish()
    }
}

impl ProgressBar {
    /// A progress bar drawn on stderr.
    pub fn new() -> Arc<Self> {
        Arc::new(ProgressBar {
            counters: Arc::default(),
            ticker: Mutex::new(None),
            hidden: false,
        })
    }

    /// A progress bar that counts but never draws (for tests).
    pub fn hidden() -> Arc<Self> {
        Arc::new(ProgressBar {
            counters: Arc::default(),
            ticker: Mutex::new(None),
            hidden: true,
        })
    }

    /// Tasks finished (including failed) and total, over all runs so far.
    pub fn position(&self) -> (u64, u64) {
        (
            self.counters.done.load(Ordering::Relaxed),
            self.counters.total.load(Ordering::Relaxed),
        )
    }

    fn start(&self, tasks: usize) {
        let c = &self.counters;
        c.total.store(tasks as u64, Ordering::Relaxed);
        c.done.store(0, Ordering::Relaxed);
        c.failed.store(0, Ordering::Relaxed);
        c.running.store(true, Ordering::SeqCst);
        if self.hidden {
            return;
        }
        let counters = self.counters.clone();
        let handle = std::thread::Builder::new()
            .name("rask-progress".into())
            .spawn(move || {
                let bar = indicatif::ProgressBar::new(counters.total.load(Ordering::Relaxed));
                let style = indicatif::ProgressStyle::with_template(
                    "{spinner} {elapsed_precise} {bar:30.cyan/blue} {pos}/{len} tasks {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
                bar.set_style(style);
                loop {
                    let running = counters.running.load(Ordering::SeqCst);
                    bar.set_position(counters.done.load(Ordering::Relaxed));
                    let failed = counters.failed.load(Ordering::Relaxed);
                    if failed > 0 {
                        bar.set_message(format!("({failed} failed)"));
                    }
                    if !running {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                bar.finish();
            });
        if let Ok(h) = handle {
            *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        }
    }

    fn stop(&self) {
        self.counters.running.store(false, Ordering::SeqCst);
        let handle = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Subscriber for ProgressBar {
    fn on_event(&self, event: &Event<'_>) {
        match event {
            Event::RunStarted { tasks, .. } => self.start(*tasks),
            Event::TaskFinished { .. } => {
                self.counters.done.fetch_add(1, Ordering::Relaxed);
            }
            Event::TaskFailed { .. } => {
                self.counters.done.fetch_add(1, Ordering::Relaxed);
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
            }
            Event::RunFinished { .. } => self.stop(),
            _ => {}
        }
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop();
    }
}
