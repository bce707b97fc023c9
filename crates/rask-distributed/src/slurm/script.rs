//! The batch script of one worker job: `#SBATCH` directives from the
//! options, then the worker started through the environment protocol of
//! `rask::init()` (`RASK_WORKER=tcp:ADDRESS` and friends), so the same
//! script serves the `rask` binary and a program with its own tasks.
//!
//! Every value that comes from the options is quoted for the shell; the
//! secret is read from a file (mode 0600), never written into the script,
//! which Slurm keeps and shows (`scontrol write batch_script`).

use std::fmt::Write as _;
use std::path::Path;

use super::SlurmOptions;
use crate::deploy::{
    HOST_ENV, MEMORY_ENV, MEMORY_OPTIONS_ENV, NAME_ENV, RESOURCES_ENV, RESTART_ENV, THREADS_ENV,
    WORKER_ENV,
};
use crate::wire::SECRET_ENV;

/// `s` as one shell word, in single quotes.
pub(crate) fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Megabytes for `--mem` (rounded up; Slurm's default unit).
fn mebibytes(bytes: u64) -> u64 {
    bytes.div_ceil(1 << 20)
}

/// The job script for workers of `opts` joining the scheduler at
/// `scheduler` (`host:port`), with the secret in `secret_file` and logs
/// in `log_dir`.
pub(crate) fn job_script(
    opts: &SlurmOptions,
    scheduler: &str,
    secret_file: &Path,
    log_dir: &Path,
) -> String {
    let mut s = String::from("#!/usr/bin/env bash\n");
    let mut directive = |d: String| {
        let _ = writeln!(s, "#SBATCH {d}");
    };
    directive(format!("--job-name={}", opts.job_name));
    directive("--nodes=1".into());
    directive("--ntasks=1".into());
    directive(format!("--cpus-per-task={}", opts.cores.max(1)));
    if let Some(m) = opts.memory {
        directive(format!("--mem={}M", mebibytes(m)));
    }
    if let Some(t) = &opts.walltime {
        directive(format!("--time={t}"));
    }
    if let Some(p) = &opts.partition {
        directive(format!("--partition={p}"));
    }
    if let Some(a) = &opts.account {
        directive(format!("--account={a}"));
    }
    directive(format!(
        "--output={}",
        log_dir.join("worker-%j.out").to_string_lossy()
    ));
    for extra in &opts.job_extra {
        directive(extra.clone());
    }
    s.push_str("set -eu\n");
    for line in &opts.prologue {
        s.push_str(line);
        s.push('\n');
    }
    let export = |s: &mut String, k: &str, v: &str| {
        let _ = writeln!(s, "export {k}={v}");
    };
    export(
        &mut s,
        SECRET_ENV,
        &format!("\"$(cat {})\"", quote(&secret_file.to_string_lossy())),
    );
    export(&mut s, WORKER_ENV, &quote(&format!("tcp:{scheduler}")));
    export(&mut s, NAME_ENV, "\"slurm-${SLURM_JOB_ID}\"");
    export(&mut s, THREADS_ENV, &opts.cores.max(1).to_string());
    if let Some(m) = opts.memory {
        export(&mut s, MEMORY_ENV, &m.to_string());
    }
    // The thresholds, spill directory and compression as given (a worker
    // would otherwise take the defaults).
    export(
        &mut s,
        MEMORY_OPTIONS_ENV,
        &quote(&opts.memory_options.to_line()),
    );
    if !opts.resources.is_empty() {
        let r: Vec<String> = opts
            .resources
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        export(&mut s, RESOURCES_ENV, &quote(&r.join(",")));
    }
    let host = match &opts.worker_host {
        Some(h) => quote(&h.to_string()),
        // The node's first address: where peers and clients fetch values.
        None => "\"$(hostname -I 2>/dev/null | awk '{print $1}')\"".to_owned(),
    };
    export(&mut s, HOST_ENV, &host);
    if opts.restart {
        export(&mut s, RESTART_ENV, "1");
    }
    let mut cmd = format!("exec {}", quote(&opts.program.to_string_lossy()));
    for a in &opts.args {
        cmd.push(' ');
        cmd.push_str(&quote(&a.to_string_lossy()));
    }
    s.push_str(&cmd);
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_has_the_directives_and_quotes_what_it_is_given() {
        let mut o = SlurmOptions::new("/opt/rask/bin/rask");
        o.cores = 4;
        o.memory = Some(3 << 30);
        o.memory_options.pause = None;
        o.memory_options.spill_dir = Some("/scratch/it's".into());
        o.walltime = Some("01:30:00".into());
        o.partition = Some("short".into());
        o.account = Some("proj-1".into());
        o.job_extra = vec!["--gres=gpu:1".into()];
        o.prologue = vec!["module load rust".into()];
        o.resources = vec![("gpu".into(), 1.0)];
        o.args = vec!["it's".into()];
        let s = job_script(
            &o,
            "head:8786",
            Path::new("/home/me/.rask/s/secret"),
            Path::new("/home/me/.rask/s"),
        );
        for want in [
            "#SBATCH --job-name=rask-worker\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --mem=3072M\n",
            "#SBATCH --time=01:30:00\n",
            "#SBATCH --partition=short\n",
            "#SBATCH --account=proj-1\n",
            "#SBATCH --output=/home/me/.rask/s/worker-%j.out\n",
            "#SBATCH --gres=gpu:1\n",
            "module load rust\n",
            "export RASK_SECRET=\"$(cat '/home/me/.rask/s/secret')\"\n",
            "export RASK_WORKER='tcp:head:8786'\n",
            "export RASK_WORKER_NAME=\"slurm-${SLURM_JOB_ID}\"\n",
            "export RASK_WORKER_THREADS=4\n",
            "export RASK_WORKER_MEMORY=3221225472\n",
            "export RASK_WORKER_RESOURCES='gpu=1'\n",
            "export RASK_WORKER_RESTART=1\n",
            "exec '/opt/rask/bin/rask' 'it'\\''s'\n",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        // Directives come before the first command, as sbatch requires.
        let first_cmd = s.find("set -eu").unwrap();
        assert!(s.rfind("#SBATCH").unwrap() < first_cmd);
        assert!(!s.contains("RASK_SECRET='"), "no secret in the script");
        // The memory settings reach the worker as given, not the defaults:
        // the line bash gives the worker parses back to them.
        let line = s
            .lines()
            .find_map(|l| l.strip_prefix("export RASK_WORKER_MEMORY_OPTIONS="))
            .expect("memory options exported");
        let unquoted = line
            .strip_prefix('\'')
            .and_then(|l| l.strip_suffix('\''))
            .expect("quoted")
            .replace(r"'\''", "'");
        assert_eq!(
            crate::MemoryOptions::parse(&unquoted),
            Ok(o.memory_options.clone())
        );
    }
}
