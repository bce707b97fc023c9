//! P1: W1 from Python (`python/bench/p1.py`), through the project's Python
//! package; and W2/W4 `--python`, the same workload from Python right after
//! the Rust run, reported side by side. The environment is made (and the
//! package built, optimized) by `scripts/python-env release` if it is absent
//! or out of date; each script's JSON line is checked and passed on.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

/// The repository's root (this crate is `crates/rask-bench`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The interpreter of the project's Python environment (`profile`: `dev`
/// or `release`), made or rebuilt first if needed.
pub(crate) fn python_env(profile: &str) -> anyhow::Result<PathBuf> {
    let root = repo_root();
    let out = Command::new(root.join("scripts/python-env"))
        .arg(profile)
        .output()
        .context("running scripts/python-env")?;
    if !out.status.success() {
        bail!(
            "scripts/python-env {profile} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let py = String::from_utf8(out.stdout)?.trim().to_owned();
    Ok(PathBuf::from(py))
}

/// Runs a Python benchmark script of `python/bench` and returns its JSON line.
pub(crate) fn run_script(script: &str, args: &[String]) -> anyhow::Result<serde_json::Value> {
    let py = python_env("release")?;
    let root = repo_root();
    // Run from /tmp: the package must come from the environment, not from
    // the sources in python/.
    let out = Command::new(&py)
        .arg(root.join("python/bench").join(script))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .with_context(|| format!("running {script}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "{script} failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("{script} printed no JSON line"))?;
    Ok(serde_json::from_str(line)?)
}

pub(crate) fn run(
    n: u64,
    threads: Option<usize>,
    repeat: usize,
) -> anyhow::Result<serde_json::Value> {
    let mut args = vec![
        "--n".to_owned(),
        n.to_string(),
        "--repeat".to_owned(),
        repeat.to_string(),
    ];
    if let Some(t) = threads {
        args.extend(["--threads".to_owned(), t.to_string()]);
    }
    run_script("p1.py", &args)
}

/// The Rust run's report with the Python script's beside it (`python`),
/// and `python_over_rust`: the mean of the Python `seconds` over the Rust
/// run's. The script runs before and after the Rust run (`python_seconds`
/// lists both), so neither side always comes right after the other's big
/// process has freed its memory (measured: whichever ran second lost up to
/// 30% on W4 on this machine). With `same`, that field (the answers) must
/// be equal on all sides.
pub(crate) fn beside_python(
    script: &str,
    args: &[String],
    same: Option<&str>,
    rust: impl FnOnce() -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let before = run_script(script, args)?;
    let mut rust = rust()?;
    let after = run_script(script, args)?;
    if let Some(field) = same {
        for py in [&before, &after] {
            if rust.get(field) != py.get(field) {
                bail!(
                    "{script}: the Python `{field}` {} differ from Rust's {}",
                    py.get(field).unwrap_or(&serde_json::Value::Null),
                    rust.get(field).unwrap_or(&serde_json::Value::Null)
                );
            }
        }
    }
    let secs = |v: &serde_json::Value| v.get("seconds").and_then(serde_json::Value::as_f64);
    let (Some(b), Some(a), Some(r)) = (secs(&before), secs(&after), secs(&rust)) else {
        bail!("{script}: no `seconds` to compare");
    };
    if r <= 0.0 {
        bail!("{script}: the Rust run took no time");
    }
    rust["python"] = before;
    rust["python_seconds"] = serde_json::json!([b, a]);
    rust["python_over_rust"] = serde_json::json!(crate::round((a + b) / 2.0 / r, 3));
    Ok(rust)
}
