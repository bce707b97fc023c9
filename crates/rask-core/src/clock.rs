//! A cheap clock for task events.
//!
//! A recorded task reads the clock twice. `Instant::now()` is a vDSO
//! `clock_gettime`, about 20-45 ns on the development machines: as much as
//! Rask's whole scheduling of a small task. [`stamp`] reads the CPU's
//! time-stamp counter instead (through `quanta`: `rdtsc` on x86-64,
//! `cntvct_el0` on AArch64, about 9 ns here) and gives a [`Stamp`]:
//! nanoseconds since the process's clock base, a plain `u64`. Task events
//! carry `Stamp`s, so that neither the executor nor a recorder converts to
//! and from `Instant`'s seconds-and-nanoseconds form per task;
//! [`Stamp::instant`] and [`Stamp::from_instant`] convert where an
//! `Instant` is wanted.
//!
//! Rules:
//! 1. Each thread keeps an *anchor*: a counter reading taken next to an
//!    `Instant::now()`. A reading is the anchor's instant plus the counter's
//!    ticks since, scaled by quanta's calibrated ratio (measured once per
//!    process against the OS clock, to within about 10 ns per microsecond).
//! 2. The anchor is renewed when it is older than [`RENEW`], so the ratio's
//!    error never adds up to more than about a microsecond, however long the
//!    process lives.
//! 3. On one thread, [`stamp`] never goes backwards (a renewed anchor can
//!    land a little behind the last reading; the last reading is returned
//!    then).
//! 4. Where the CPU has no invariant counter, quanta reads the OS clock and
//!    so does this: same results, the old cost.
//! 5. The first call calibrates (0.5 to 200 ms, once per process) and fixes
//!    the base; [`warm`] lets a subscriber pay that when it is attached
//!    rather than in a run. `Instant`s before the base map to `Stamp(0)`.
//! 6. A `Stamp` means something only in the process that read it: times
//!    from other processes are made this process's `Instant`s first (event
//!    rule 6), then `Stamp`s.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How old an anchor may get before it is renewed (rule 2).
pub const RENEW: Duration = Duration::from_millis(100);

struct Base {
    clock: quanta::Clock,
    /// quanta reads the time-stamp counter, so [`Base::raw`] may read it
    /// inline (quanta's `raw` is a call and a match per read).
    tsc: bool,
    /// The process's reference instant: thread anchors are nanoseconds past it.
    at: Instant,
    /// Nanoseconds per 2^32 ticks: quanta's calibrated ratio, applied with
    /// one multiplication.
    ns_per_2_32: u64,
    /// [`RENEW`] in counter ticks (an upper bound where the counter is
    /// slower than 1 GHz: renewing early costs nothing but a clock read).
    renew_ticks: u64,
}

impl Base {
    /// A counter reading.
    #[inline(always)]
    fn raw(&self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        if self.tsc {
            // SAFETY: `rdtsc` exists on every x86-64 CPU; `tsc` says that
            // quanta found it usable and reads the same counter.
            return unsafe { core::arch::x86_64::_rdtsc() };
        }
        self.clock.raw()
    }

    /// Ticks to nanoseconds.
    #[inline(always)]
    fn nanos(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.ns_per_2_32)) >> 32).min(u64::MAX as u128) as u64
    }
}

/// Whether quanta's raw readings are the time-stamp counter's: a reading
/// of quanta's taken between two of ours falls between them.
#[cfg(target_arch = "x86_64")]
fn quanta_reads_tsc(clock: &quanta::Clock) -> bool {
    (0..3).any(|_| {
        // SAFETY: `rdtsc` exists on every x86-64 CPU.
        let before = unsafe { core::arch::x86_64::_rdtsc() };
        let q = clock.raw();
        // SAFETY: as above.
        let after = unsafe { core::arch::x86_64::_rdtsc() };
        before <= q && q <= after
    })
}

#[cfg(not(target_arch = "x86_64"))]
fn quanta_reads_tsc(_: &quanta::Clock) -> bool {
    false
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
            tsc: quanta_reads_tsc(&clock),
            clock,
            at,
            ns_per_2_32,
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

/// A moment on this process's task clock: nanoseconds since the clock's
/// base (rules 5 and 6). Ordered; 8 bytes; `Stamp(0)` is the base.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp(pub u64);

impl Stamp {
    /// Now (a counter read; see [`stamp`]).
    #[inline]
    pub fn now() -> Stamp {
        stamp()
    }

    /// The stamp of an `Instant` of this process (`Stamp(0)` before the base).
    pub fn from_instant(at: Instant) -> Stamp {
        Stamp(nanos_since(base().at, at))
    }

    /// This moment as a std `Instant`.
    pub fn instant(self) -> Instant {
        base().at + Duration::from_nanos(self.0)
    }

    /// Nanoseconds since the clock's base.
    #[inline]
    pub fn nanos(self) -> u64 {
        self.0
    }

    /// The moment `d` before this one (the base at the earliest).
    #[inline]
    pub fn saturating_sub(self, d: Duration) -> Stamp {
        Stamp(
            self.0
                .saturating_sub(d.as_nanos().min(u128::from(u64::MAX)) as u64),
        )
    }

    /// The time from `earlier` to this one (zero if `earlier` is later).
    #[inline]
    pub fn saturating_duration_since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// The current time, as a std `Instant`, at the cost of a counter read.
#[inline]
pub fn now() -> Instant {
    stamp().instant()
}

/// The current time on the task clock, at the cost of a counter read.
#[inline]
pub fn stamp() -> Stamp {
    let b = base();
    let raw = b.raw();
    let ns = ANCHOR
        .try_with(|cell| {
            let mut a = cell.get();
            // Also renews when the counter reads behind the anchor (a
            // thread moved to a core whose counter lags): the difference
            // wraps to a huge number.
            if a.raw == 0 || raw.wrapping_sub(a.raw) > b.renew_ticks {
                a = renew(b, a.last);
            }
            let ns = (a.ns + b.nanos(raw.saturating_sub(a.raw))).max(a.last);
            a.last = ns;
            cell.set(a);
            ns
        })
        // The thread is exiting: read the OS clock.
        .unwrap_or_else(|_| nanos_since(b.at, Instant::now()));
    Stamp(ns)
}

#[cold]
fn renew(b: &Base, last: u64) -> Anchor {
    let raw = b.raw();
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
    fn stamps_and_instants_convert_both_ways() {
        warm();
        let s = stamp();
        assert_eq!(Stamp::from_instant(s.instant()), s);
        let later = Stamp(s.0 + 1_500);
        assert_eq!(
            later.saturating_duration_since(s),
            Duration::from_nanos(1_500)
        );
        assert_eq!(s.saturating_duration_since(later), Duration::ZERO);
        // Before the base: the base.
        if let Some(e) = base().at.checked_sub(Duration::from_secs(1)) {
            assert_eq!(Stamp::from_instant(e), Stamp(0));
        }
        let (a, b) = (Instant::now(), stamp());
        let gap = Stamp::from_instant(a).0.abs_diff(b.0);
        assert!(gap < 1_000_000, "{gap} ns");
    }

    #[test]
    fn the_inline_counter_is_quantas() {
        let b = base();
        // Our conversion agrees with quanta's to within a nanosecond per
        // microsecond, over a second's worth of ticks.
        let ticks = b.renew_ticks * 10;
        let (ours, theirs) = (b.nanos(ticks), b.clock.delta_as_nanos(0, ticks));
        assert!(
            ours.abs_diff(theirs) <= theirs / 1000 + 1,
            "{ours} vs {theirs}"
        );
        if b.tsc {
            let (a, q, c) = (b.raw(), b.clock.raw(), b.raw());
            assert!(a <= q && q <= c, "{a} {q} {c}");
        }
    }

    #[test]
    fn threads_agree() {
        let a = now();
        let b = std::thread::spawn(now).join().unwrap();
        let c = now();
        assert!(a <= b + Duration::from_micros(50) && b <= c + Duration::from_micros(50));
    }
}
