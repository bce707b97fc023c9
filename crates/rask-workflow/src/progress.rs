//! The progress bar of `rask run`: jobs finished out of all, with how many
//! ran, were up to date, failed, or were not run. A thread redraws it every
//! 100 ms on stderr (nothing is drawn where stderr is not a terminal).
//!
//! Where jobs run in this process the counts come from the counters the job
//! tasks bump (`local.rs`); on a cluster they come from the records the
//! workers append to the journal (`Done`, `Failed`, `Checked`), read as they
//! grow, because the cluster client reports a graph's tasks only when the
//! whole graph is done.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::journal::{self, Record};
use crate::local::LocalRun;

/// Where the counts come from.
pub(crate) enum Feed {
    Local(Arc<LocalRun>),
    Journal { jdir: PathBuf, token: String },
}

/// A running progress bar; [`Progress::finish`] stops and clears it.
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(total: usize, feed: Feed) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("rask-workflow-progress".into())
            .spawn(move || draw(total as u64, feed, &stop2))
            .ok();
        Progress { stop, thread }
    }

    pub(crate) fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Counts {
    ran: u64,
    up_to_date: u64,
    failed: u64,
    skipped: u64,
}

fn draw(total: u64, feed: Feed, stop: &AtomicBool) {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(10),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {elapsed_precise} {bar:30.cyan/blue} {pos}/{len} jobs  {msg}",
    ) {
        bar.set_style(style);
    }
    let mut offsets: HashMap<PathBuf, u64> = HashMap::new();
    let mut counted = Counts::default();
    let mut ticks = 0u64;
    while !stop.load(Ordering::SeqCst) {
        let c = match &feed {
            Feed::Local(run) => {
                let k = &run.counters;
                Counts {
                    ran: k.ran.load(Ordering::Relaxed),
                    up_to_date: k.up_to_date.load(Ordering::Relaxed),
                    failed: k.failed.load(Ordering::Relaxed),
                    skipped: k.skipped.load(Ordering::Relaxed),
                }
            }
            Feed::Journal { jdir, token } => {
                // Reading the journal every 500 ms is plenty.
                if ticks == 0 {
                    tail(jdir, token, &mut offsets, &mut counted);
                }
                Counts { ..counted }
            }
        };
        bar.set_position(c.ran + c.up_to_date + c.failed + c.skipped);
        let mut msg = format!("{} ran, {} up to date", c.ran, c.up_to_date);
        if c.failed > 0 {
            msg.push_str(&format!(", {} failed", c.failed));
        }
        if c.skipped > 0 {
            msg.push_str(&format!(", {} not run", c.skipped));
        }
        bar.set_message(msg);
        ticks = (ticks + 1) % 5;
        std::thread::park_timeout(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

/// Counts the records appended since the last call to the segments of run `token`.
fn tail(jdir: &std::path::Path, token: &str, offsets: &mut HashMap<PathBuf, u64>, c: &mut Counts) {
    let prefix = format!("seg-{token}-");
    let Ok(segs) = journal::segments(jdir) else {
        return;
    };
    for s in segs {
        if !s
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&prefix))
        {
            continue;
        }
        let from = offsets.get(&s).copied().unwrap_or(0);
        let Ok((records, to)) = journal::read_segment(&s, from) else {
            continue;
        };
        for r in records {
            match r {
                Record::Done { .. } => c.ran += 1,
                Record::Checked { .. } => c.up_to_date += 1,
                Record::Failed { .. } => c.failed += 1,
                Record::Source { .. } => {}
            }
        }
        offsets.insert(s, to);
    }
}
