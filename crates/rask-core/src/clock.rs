//! A cheap clock for task events.
//!
//! A recorded task reads the clock twice. `Instant::now()` is a vDSO
//! `clock_gettime`, about 45 ns on the development machine: as much as Rask's
//! whole scheduling of a small task. [`now`] reads the CPU's time-stamp
//! counter instead (through `quanta`: `rdtsc` on x86-64, `cntvct_el0` on
//! AArch64, about 17 ns here) and turns it into a std [`Instant`], so that
//! event times mix with `Instant`s read anywhere else.
//!
//! Rules:
//! 1. Each thread keeps an *anchor*: a counter reading taken next to an
//!    `Instant::now()`. A reading is the anchor's instant plus the counter's
//!    ticks since, scaled by quanta's calibrated ratio (measured once per
//!    process against the OS clock, to within about 10 ns per microsecond).
//! 2. The anchor is renewed when it is older than [`RENEW`], so the ratio's
//!    error never adds up to more than about a microsecond, however long the
//!    process lives.
//! 3. On one thread, [`now`] never goes backwards (a renewed anchor can land
//!    a little behind the last reading; the last reading is returned then).
//! 4. Where the CPU has no invariant counter, quanta reads the OS clock and
//!    so does this: same results, the old cost.
//! 5. The first call calibrates (0.5 to 200 ms, once per process); [`warm`]
//!    lets a subscriber pay that when it is attached rather than in a run.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How old an anchor may get before it is renewed (rule 2).
pub const RENEW: Duration = Duration::from_millis(100);

struct Base {
    clock: quanta::Clock,
    /// The process's reference instant: thread anchors are nanoseconds past it.
    at: Instant,
    /// [`RENEW`] in counter ticks (an upper bound where the counter is
    /// slower than 1 GHz: renewing early costs nothing but a clock read).
    renew_ticks: u64,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| {
        let clock = quanta::Clock::new();
        let at = Instant::now();
        // Ticks in RENEW: measure the ratio the clock was calibrated with.
        let ns_per_2_32 = clock.delta_as_nanos(0, 1 << 32).max(1);
        let renew_ticks = (RENEW.as_nanos() << 32) / u128::from(ns_per_2_32);
        Base {
            clock,
            at,
            renew_ticks: renew_ticks.min(u64::MAX as u128) as u64,
        }
    })
}

/// This thread's anchor (rule 1): counter reading, nanoseconds past
/// `Base::at` at that reading, and the last value returned (rule 3).
#[derive(Clone, Copy)]
struct Anchor {
    raw: u64,
    ns: u64,
    last: u64,
}

thread_local! {
    static ANCHOR: Cell<Anchor> = const { Cell::new(Anchor { raw: 0, ns: 0, last: 0 }) };
}

/// The current time, as a std `Instant`, at the cost of a counter read.
#[inline]
pub fn now() -> Instant {
    let b = base();
    let raw = b.clock.raw();
    let ns = ANCHOR
        .try_with(|cell| {
            let mut a = cell.get();
            if a.raw == 0 || raw.wrapping_sub(a.raw) > b.renew_ticks {
                a = renew(b, a.last);
            }
            let ns = (a.ns + b.clock.delta_as_nanos(a.raw, raw)).max(a.last);
            a.last = ns;
            cell.set(a);
            ns
        })
        // The thread is exiting: read the OS clock.
        .unwrap_or_else(|_| nanos_since(b.at, Instant::now()));
    b.at + Duration::from_nanos(ns)
}

#[cold]
fn renew(b: &Base, last: u64) -> Anchor {
    let raw = b.clock.raw();
    let ns = nanos_since(b.at, Instant::now());
    Anchor { raw, ns, last }
}

fn nanos_since(base: Instant, t: Instant) -> u64 {
    t.saturating_duration_since(base)
        .as_nanos()
        .min(u64::MAX as u128) as u64
}

/// Calibrates the counter now (rule 5), if it was not yet.
pub fn warm() {
    let _ = base();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_the_os_clock_and_never_goes_back() {
        warm();
        let mut last = now();
        let t0 = Instant::now();
        let c0 = now();
        let mut n = 0u64;
        // Long enough to cross several renewals (rule 2).
        while t0.elapsed() < RENEW * 3 {
            let t = now();
            assert!(t >= last, "went back by {:?}", last - t);
            last = t;
            n += 1;
        }
        let os = t0.elapsed();
        let ours = now() - c0;
        let diff = os.abs_diff(ours);
        assert!(
            diff < Duration::from_millis(2),
            "the OS clock says {os:?}, ours {ours:?} ({n} reads)"
        );
        // Against a fresh OS reading, now.
        let (a, b) = (Instant::now(), now());
        let gap = if a > b { a - b } else { b - a };
        assert!(gap < Duration::from_millis(1), "{gap:?}");
    }

    #[test]
    fn threads_agree() {
        let a = now();
        let b = std::thread::spawn(now).join().unwrap();
        let c = now();
        assert!(a <= b + Duration::from_micros(50) && b <= c + Duration::from_micros(50));
    }
}
