//! The stable version of every fuzz target: the committed corpus
//! (`fuzz/corpus/`, seeds and whatever the fuzzers kept) and the regression
//! inputs of past findings (`fuzz/regressions/`), then inputs from a seeded
//! generator that mutates valid ones. `RASK_FUZZ_SEED` picks another seed
//! and `RASK_FUZZ_CASES` another number of cases, to explore further.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rask_fuzz::gen::{mutate, Rng};
use rask_fuzz::targets::{file_name, target, Target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"))
        .map(|p| {
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    out
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Replays the corpus and regressions, then `cases` generated inputs
/// (fewer if `budget` runs out first); returns how many inputs ran.
fn check(name: &str, cases: u64, budget: Duration) -> usize {
    let t: &Target = target(name).unwrap();
    let mut ran = 0;
    let corpus = files(&fuzz_dir().join("corpus").join(name));
    // The corpus holds the valid inputs (where they are the same on every
    // call: a recorded handshake has fresh nonces each time).
    let seeds = (t.seeds)();
    if seeds == (t.seeds)() {
        for s in &seeds {
            assert!(
                corpus.iter().any(|(_, b)| b == s),
                "fuzz/corpus/{name}/{} is missing: run `cargo run -p rask-fuzz --bin seed-corpus`",
                file_name(s)
            );
        }
    }
    // Mutations start from the committed corpus, so a seed replays exactly.
    let bases: Vec<Vec<u8>> = corpus.iter().map(|(_, b)| b.clone()).collect();
    assert!(!bases.is_empty(), "fuzz/corpus/{name} is empty");
    for (path, bytes) in corpus
        .iter()
        .chain(&files(&fuzz_dir().join("regressions").join(name)))
    {
        let r = std::panic::catch_unwind(|| (t.run)(bytes));
        assert!(r.is_ok(), "{name}: {} fails", path.display());
        ran += 1;
    }
    let seed = env_u64("RASK_FUZZ_SEED").unwrap_or(0x5EED);
    let cases = env_u64("RASK_FUZZ_CASES").unwrap_or(cases);
    let mut rng = Rng(seed ^ name.len() as u64);
    let start = Instant::now();
    for case in 0..cases {
        let base = &bases[rng.below(bases.len())];
        let input = mutate(&mut rng, base, &bases);
        let r = std::panic::catch_unwind(|| (t.run)(&input));
        if r.is_err() {
            let keep = std::env::temp_dir().join(format!("{name}-{}", file_name(&input)));
            let _ = std::fs::write(&keep, &input);
            panic!(
                "{name}: case {case} of seed {seed} fails; the input is in {} \
                 (replay: cargo +nightly fuzz run {name} {})",
                keep.display(),
                keep.display()
            );
        }
        ran += 1;
        if start.elapsed() > budget {
            break;
        }
    }
    ran
}

const BUDGET: Duration = Duration::from_secs(10);

#[test]
fn wire_frames() {
    assert!(check("wire_frames", 20_000, BUDGET) > 1_000);
}

#[test]
fn handshake_server() {
    assert!(check("handshake_server", 5_000, BUDGET) > 500);
}

#[test]
fn handshake_client() {
    assert!(check("handshake_client", 5_000, BUDGET) > 500);
}

#[test]
fn value_codec() {
    assert!(check("value_codec", 50_000, BUDGET) > 1_000);
}

#[test]
fn npy() {
    assert!(check("npy", 2_000, BUDGET) > 100);
}

#[test]
fn csv() {
    assert!(check("csv", 2_000, BUDGET) > 100);
}

#[test]
fn parquet() {
    assert!(check("parquet", 1_000, BUDGET) > 100);
}

#[test]
fn a_handshake_is_refused_without_the_secret() {
    // The recorded handshake of a client with no secret, sent to a server
    // that has one: refused (the target asserts it is never accepted).
    let t = target("handshake_server").unwrap();
    for s in (t.seeds)() {
        (t.run)(&s);
    }
}
