//! A progress display fed by the event stream.
//!
//! Events only bump atomic counters; a ticker thread, started at
//! `RunStarted` and stopped (woken and joined) at `RunFinished`, does all the
//! drawing, so no event waits on output.
//!
//! - On a terminal, an indicatif bar on stderr, redrawn every 50 ms. When the
//!   run ends its line is ended, so what is printed next starts on a line of
//!   its own.
//! - Anywhere else (a file, a pipe, CI), plain lines instead, as pip does:
//!   the first run says why there is no bar, then one line every `every`
//!   (5 s for [`ProgressBar::new`]) while the run lasts, and one when it ends.
//!
//! Invariant: once `RunFinished` has been handled, everything written ends
//! with a newline.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rask_core::{Event, Subscriber};

/// How often [`ProgressBar::new`] writes a plain line where stderr is not a
/// terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);
/// How often the terminal bar is redrawn.
const REDRAW: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Counters {
    total: AtomicU64,
    done: AtomicU64,
    failed: AtomicU64,
    running: AtomicBool,
}

/// Where the progress goes.
enum Draw {
    /// Nowhere (counts only).
    Hidden,
    /// An indicatif bar on stderr.
    Terminal,
    /// Plain lines to `out`, one every `every`.
    Lines {
        every: Duration,
        out: Arc<Mutex<dyn Write + Send>>,
        /// Whether the first line saying why there is no bar was written.
        said_why: AtomicBool,
    },
    /// An indicatif bar on a fake terminal (tests).
    #[cfg(test)]
    Fake(tests::FakeTerm),
}

/// A progress display on stderr for every run of the executor it is attached
/// to: a bar on a terminal, plain lines elsewhere (see the module docs).
///
/// `Client::with_progress()` attaches [`ProgressBar::new`]; attach another
/// with `Client::with_subscriber`:
///
/// ```
/// use rask_diagnostics::ProgressBar;
///
/// let bar = ProgressBar::hidden();
/// // let client = rask::Client::threads().with_subscriber(bar.clone());
/// assert_eq!(bar.position(), (0, 0)); // tasks finished, tasks in the run
/// ```
pub struct ProgressBar {
    counters: Arc<Counters>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    draw: Arc<Draw>,
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
    fn with(draw: Draw) -> Arc<Self> {
        Arc::new(ProgressBar {
            counters: Arc::default(),
            ticker: Mutex::new(None),
            draw: Arc::new(draw),
        })
    }

    /// A bar on stderr where stderr is a terminal; otherwise a plain line on
    /// stderr every 5 seconds and one at the end of each run.
    pub fn new() -> Arc<Self> {
        if std::io::stderr().is_terminal() {
            Self::with(Draw::Terminal)
        } else {
            Self::lines(std::io::stderr(), PLAIN_EVERY)
        }
    }

    /// Plain progress lines to `out` (a log file, say): one every `every`
    /// while a run lasts and one when it ends, such as
    /// `rask: 3120/8000 tasks (39%), 2 failed, 5.0 s`.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let log = std::fs::File::create(std::env::temp_dir().join("rask-progress.log"))?;
    /// let bar = rask_diagnostics::ProgressBar::lines(log, Duration::from_secs(10));
    /// # let _ = bar;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn lines(out: impl Write + Send + 'static, every: Duration) -> Arc<Self> {
        Self::with(Draw::Lines {
            every,
            out: Arc::new(Mutex::new(out)),
            said_why: AtomicBool::new(false),
        })
    }

    /// A progress bar that counts but never draws (for tests).
    pub fn hidden() -> Arc<Self> {
        Self::with(Draw::Hidden)
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
        if matches!(*self.draw, Draw::Hidden) {
            return;
        }
        let (counters, draw) = (self.counters.clone(), self.draw.clone());
        let handle = std::thread::Builder::new()
            .name("rask-progress".into())
            .spawn(move || match &*draw {
                Draw::Hidden => {}
                Draw::Terminal => {
                    draw_bar(&counters, indicatif::ProgressDrawTarget::stderr());
                    // indicatif leaves the cursor at the end of the bar.
                    let _ = std::io::stderr().write_all(b"\n");
                }
                Draw::Lines {
                    every,
                    out,
                    said_why,
                } => draw_lines(&counters, *every, out, said_why),
                #[cfg(test)]
                Draw::Fake(term) => {
                    let target = indicatif::ProgressDrawTarget::term_like(Box::new(term.clone()));
                    draw_bar(&counters, target);
                    let _ = indicatif::TermLike::write_str(term, "\n");
                }
            });
        if let Ok(h) = handle {
            *self.ticker.lock().unwrap_or_else(|p| p.into_inner()) = Some(h);
        }
    }

    fn stop(&self) {
        self.counters.running.store(false, Ordering::SeqCst);
        let handle = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Redraws an indicatif bar on `target` until the run ends, then draws its
/// final state (the cursor stays at the end of that line).
fn draw_bar(counters: &Counters, target: indicatif::ProgressDrawTarget) {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(counters.total.load(Ordering::Relaxed)),
        target,
    );
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
        std::thread::park_timeout(REDRAW);
    }
    bar.finish();
}

/// Writes a plain line every `every` until the run ends, then a last one.
fn draw_lines(
    counters: &Counters,
    every: Duration,
    out: &Mutex<dyn Write + Send>,
    said_why: &AtomicBool,
) {
    let t0 = Instant::now();
    let write = |line: String| {
        let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
        // Progress is best effort: a full disk must not fail the run.
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    };
    let total = counters.total.load(Ordering::Relaxed);
    if !said_why.swap(true, Ordering::Relaxed) {
        write(format!(
            "rask: {total} tasks; output is not a terminal, so a progress line every {} s instead of a bar\n",
            every.as_secs_f64()
        ));
    }
    let mut next = t0 + every;
    loop {
        if !counters.running.load(Ordering::SeqCst) {
            break;
        }
        let now = Instant::now();
        if now >= next {
            write(progress_line(counters, t0, false));
            next = now + every;
        }
        std::thread::park_timeout(next.saturating_duration_since(Instant::now()));
    }
    write(progress_line(counters, t0, true));
}

/// `rask: 3120/8000 tasks (39%), 2 failed, 5.0 s`, or at the end
/// `rask: 8000/8000 tasks done in 7.3 s, 2 failed`.
fn progress_line(counters: &Counters, t0: Instant, end: bool) -> String {
    let done = counters.done.load(Ordering::Relaxed);
    let total = counters.total.load(Ordering::Relaxed);
    let failed = counters.failed.load(Ordering::Relaxed);
    let secs = t0.elapsed().as_secs_f64();
    let failed = if failed > 0 {
        format!(", {failed} failed")
    } else {
        String::new()
    };
    if end {
        format!("rask: {done}/{total} tasks done in {secs:.1} s{failed}\n")
    } else {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        format!("rask: {done}/{total} tasks ({pct}%){failed}, {secs:.1} s\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A terminal that records what is written to it.
    #[derive(Clone, Debug, Default)]
    pub(super) struct FakeTerm(Arc<Mutex<String>>);

    impl indicatif::TermLike for FakeTerm {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(s)?;
            self.write_str("\n")
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.0.lock().expect("lock").push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.write_str("\r")
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_bar_ends_its_line_when_the_run_ends() {
        let term = FakeTerm::default();
        let bar = ProgressBar::with(Draw::Fake(term.clone()));
        bar.start(3);
        for _ in 0..3 {
            bar.counters.done.fetch_add(1, Ordering::Relaxed);
        }
        bar.stop();
        let out = term.0.lock().expect("lock").clone();
        let last = out.rsplit('\r').next().unwrap_or_default();
        assert!(last.contains("3/3 tasks"), "{out:?}");
        assert!(out.ends_with('\n'), "the last line is ended: {out:?}");
    }
}
