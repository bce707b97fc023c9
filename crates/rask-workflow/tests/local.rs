//! Workflows on this machine's cores, end to end: real shell commands,
//! files, the journal. Without libtest: this binary is also the driver that
//! the resume tests start and kill (`RASK_WF_TEST_DRIVE`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{gone, opts, read, run_tests, scratch, sorted, workflow};
use rask_workflow::{dry_run, interrupt, run_local, Plan, RunOptions, Workflow, WorkflowError};

fn main() {
    rask::init();
    if let Ok(file) = std::env::var("RASK_WF_TEST_DRIVE") {
        drive(Path::new(&file));
    }
    run_tests(&[
        ("diamonds_and_fan_ins", diamonds_and_fan_ins),
        (
            "a_failure_stops_only_its_dependents",
            a_failure_stops_only_its_dependents,
        ),
        ("retries_run_again_until_success_or_the_limit", retries),
        (
            "a_timeout_kills_the_process_group",
            a_timeout_kills_the_process_group,
        ),
        (
            "up_to_date_by_content_not_time",
            up_to_date_by_content_not_time,
        ),
        (
            "partial_outputs_never_get_the_final_name",
            partial_outputs_never_get_the_final_name,
        ),
        (
            "missing_inputs_and_outputs_fail_clearly",
            missing_inputs_and_outputs_fail_clearly,
        ),
        ("dry_run_says_why", dry_run_says_why),
        (
            "resources_limit_what_runs_together",
            resources_limit_what_runs_together,
        ),
        (
            "an_interrupted_run_kills_its_jobs_and_resumes",
            an_interrupted_run_kills_its_jobs_and_resumes,
        ),
        (
            "a_killed_driver_resumes_from_the_journal",
            a_killed_driver_resumes_from_the_journal,
        ),
    ]);
}

/// Driver mode: runs the workflow with Ctrl-C handling, exits with its status.
fn drive(file: &Path) -> ! {
    interrupt::install().unwrap();
    let wf = Workflow::load(file).unwrap();
    let code = match run_local(&wf, &opts(2)) {
        Ok(s) => {
            println!("{s}");
            s.exit_code()
        }
        Err(e) => {
            println!("error: {e}");
            3
        }
    };
    std::process::exit(code);
}

fn diamonds_and_fan_ins() {
    let d = scratch("diamond");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "top"
cmd = "echo top > {output}; echo said; echo warned >&2"
outputs = ["top.txt"]

[[job]]
name = "side"
for = { s = ["left", "right"] }
cmd = "cat {input} > {output}; echo {s} >> {output}"
inputs = ["top.txt"]
outputs = ["side/{s}.txt"]

[[job]]
name = "bottom"
cmd = "cat {inputs} > {output}"
inputs = ["side/*.txt"]
outputs = ["bottom.txt"]

[[job]]
name = "leaf-{i}"
for = { i = "0..40" }
argv = ["sh", "-c", "echo $0 > $1", "{i}", "{output}"]
outputs = ["leaves/{i}.txt"]

[[job]]
name = "fan-in"
cmd = "cat {inputs} | sort -n | tr '\n' ' ' > {output}"
inputs = ["leaves/*.txt"]
outputs = ["fan-in.txt"]
after = ["bottom"]
"#,
    );
    assert_eq!(
        wf.dependencies("bottom").unwrap(),
        ["side[left]", "side[right]"]
    );
    assert_eq!(wf.dependencies("fan-in").unwrap().len(), 41);
    let s = run_local(&wf, &opts(2)).unwrap();
    assert!(s.success(), "{s}");
    assert_eq!(s.ran.len(), 45);
    assert_eq!(read(&d, "bottom.txt"), "top\nleft\ntop\nright\n");
    let want: String = (0..40).map(|i| format!("{i} ")).collect();
    assert_eq!(read(&d, "fan-in.txt"), want);
    // Each job's stdout and stderr have their own files, made when there is output.
    assert_eq!(read(&s.state_dir, "logs/top.out"), "said\n");
    assert_eq!(read(&s.state_dir, "logs/top.err"), "warned\n");
    assert!(!s.state_dir.join("logs/bottom.out").exists());
    // Nothing to do the second time.
    let again = run_local(&wf, &opts(2)).unwrap();
    assert!(again.ran.is_empty() && again.up_to_date == 45, "{again}");
}

fn a_failure_stops_only_its_dependents() {
    let d = scratch("failure");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "bad"
cmd = "echo working; echo 'first line' >&2; echo 'the disk is on fire' >&2; exit 3"
outputs = ["bad.txt"]

[[job]]
name = "after-bad"
cmd = "cp {input} {output}"
inputs = ["bad.txt"]
outputs = ["after-bad.txt"]

[[job]]
name = "after-after-bad"
cmd = "cp {input} {output}"
inputs = ["after-bad.txt"]
outputs = ["after-after-bad.txt"]

[[job]]
name = "good"
cmd = "echo fine > {output}"
outputs = ["good.txt"]

[[job]]
name = "after-good"
cmd = "cp {input} {output}"
inputs = ["good.txt"]
outputs = ["after-good.txt"]

[[job]]
name = "killed"
cmd = "kill -9 $$"
"#,
    );
    let s = run_local(&wf, &opts(2)).unwrap();
    assert_eq!(s.exit_code(), 1);
    assert_eq!(sorted(s.ran.clone()), ["after-good", "good"]);
    assert_eq!(s.failed.len(), 2, "{s}");
    let bad = s.failed.iter().find(|f| f.job == "bad").unwrap();
    assert_eq!(bad.exit_code, Some(3));
    assert_eq!(bad.why, "exit code 3");
    assert!(
        bad.stderr_tail.ends_with("the disk is on fire"),
        "{:?}",
        bad.stderr_tail
    );
    let killed = s.failed.iter().find(|f| f.job == "killed").unwrap();
    assert!(killed.why.contains("SIGKILL"), "{}", killed.why);
    let mut skipped: Vec<(String, String)> = s
        .skipped
        .iter()
        .map(|k| (k.job.clone(), k.because.clone()))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            ("after-after-bad".to_owned(), "bad".to_owned()),
            ("after-bad".to_owned(), "bad".to_owned())
        ]
    );
    let text = s.to_string();
    assert!(
        text.contains("FAILED bad: exit code 3") && text.contains("| the disk is on fire"),
        "{text}"
    );
    assert!(
        text.contains("not run: after-bad (because `bad` failed)"),
        "{text}"
    );
    assert!(!d.join("after-bad.txt").exists());
}

fn retries() {
    let d = scratch("retries");
    let wf = workflow(
        &d,
        r#"
[defaults]
retries = 2

[[job]]
name = "third-time-lucky"
cmd = "n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo try $n >&2; [ $n -ge 3 ] && echo ok > {output}"
outputs = ["lucky.txt"]

[[job]]
name = "hopeless"
retries = 1
cmd = "echo nope >&2; exit 7"
"#,
    );
    let s = run_local(&wf, &opts(2)).unwrap();
    assert_eq!(s.ran, ["third-time-lucky"]);
    assert_eq!(read(&d, "count"), "3\n");
    assert_eq!(read(&d, "lucky.txt"), "ok\n");
    let h = &s.failed[0];
    assert_eq!(
        (h.job.as_str(), h.attempts, h.exit_code),
        ("hopeless", 2, Some(7))
    );
    assert!(h.why.contains("attempt 2 of 2"), "{}", h.why);
    // Every attempt's stderr is in the log, marked.
    let log = read(&d, ".rask/logs/third-time-lucky.err");
    assert!(
        log.contains("try 1") && log.contains("--- rask: attempt 3 ---") && log.contains("try 3"),
        "{log}"
    );
}

fn a_timeout_kills_the_process_group() {
    let d = scratch("timeout");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "slow"
timeout = "300ms"
retries = 1
cmd = "sleep 30 & echo $! >> bg.pids; wait"

[[job]]
name = "quick"
timeout = 20
cmd = "echo fast > {output}"
outputs = ["quick.txt"]
"#,
    );
    let t = Instant::now();
    let s = run_local(&wf, &opts(2)).unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_eq!(s.ran, ["quick"]);
    let f = &s.failed[0];
    assert!(
        f.why.starts_with("timed out after 300 ms") && f.attempts == 2,
        "{f:?}"
    );
    // The background `sleep` of both attempts went with their groups.
    let pids = read(&d, "bg.pids");
    assert_eq!(pids.lines().count(), 2);
    for p in pids.lines() {
        let pid: i32 = p.trim().parse().unwrap();
        assert!(
            gone(pid),
            "the background sleep {pid} survived its job's timeout"
        );
    }
}

fn up_to_date_by_content_not_time() {
    let d = scratch("uptodate");
    std::fs::write(d.join("in.txt"), "b\na\n").unwrap();
    let wf_text = r#"
[[job]]
name = "sort"
cmd = "sort {input} > {output}; echo ran >> sort.runs"
inputs = ["in.txt"]
outputs = ["sorted.txt"]

[[job]]
name = "count"
cmd = "wc -l < {input} > {output}; echo ran >> count.runs"
inputs = ["sorted.txt"]
outputs = ["count.txt"]
"#;
    let wf = workflow(&d, wf_text);
    assert_eq!(run_local(&wf, &opts(2)).unwrap().ran, ["sort", "count"]);
    // `touch` changes times, not contents: nothing runs.
    let later = std::time::SystemTime::now() + Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(d.join("in.txt"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    std::fs::File::options()
        .write(true)
        .open(d.join("sorted.txt"))
        .unwrap()
        .set_modified(later)
        .unwrap();
    let s = run_local(&wf, &opts(2)).unwrap();
    assert!(s.ran.is_empty() && s.up_to_date == 2, "{s}");
    // A new order of the same lines: `sort` runs, its output is the same, so
    // `count` does not (its inputs' contents are unchanged).
    std::fs::write(d.join("in.txt"), "a\nb\n").unwrap();
    assert_eq!(run_local(&wf, &opts(2)).unwrap().ran, ["sort"]);
    // New content flows down.
    std::fs::write(d.join("in.txt"), "a\nb\nc\n").unwrap();
    assert_eq!(run_local(&wf, &opts(2)).unwrap().ran, ["sort", "count"]);
    assert_eq!(read(&d, "count.txt").trim(), "3");
    // An output changed or removed by hand is made again.
    std::fs::write(d.join("count.txt"), "garbage\n").unwrap();
    assert_eq!(run_local(&wf, &opts(2)).unwrap().ran, ["count"]);
    std::fs::remove_file(d.join("sorted.txt")).unwrap();
    assert_eq!(run_local(&wf, &opts(2)).unwrap().ran, ["sort"]);
    // A changed command runs again.
    let wf2 = workflow(&d, &wf_text.replace("wc -l <", "wc -l  <"));
    assert_eq!(run_local(&wf2, &opts(2)).unwrap().ran, ["count"]);
    // --force.
    let forced = RunOptions {
        force: vec!["so*".into()],
        ..opts(2)
    };
    assert_eq!(run_local(&wf2, &forced).unwrap().ran, ["sort"]);
    let e = run_local(
        &wf2,
        &RunOptions {
            force: vec!["nothing".into()],
            ..opts(2)
        },
    )
    .unwrap_err();
    assert!(matches!(e, WorkflowError::NoSuchJob(_)), "{e}");
    assert_eq!(read(&d, "sort.runs").lines().count(), 5);
}

fn partial_outputs_never_get_the_final_name() {
    let d = scratch("partial");
    std::fs::write(d.join("mode"), "good").unwrap();
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "writer"
cmd = "echo half > {output}; grep -q good mode && echo whole >> {output}"
inputs = ["mode"]
outputs = ["out/result.txt"]
"#,
    );
    assert!(run_local(&wf, &opts(1)).unwrap().success());
    assert_eq!(read(&d, "out/result.txt"), "half\nwhole\n");
    // A failing run leaves the old output as it was, and no temporary file.
    std::fs::write(d.join("mode"), "bad").unwrap();
    let s = run_local(&wf, &opts(1)).unwrap();
    assert_eq!(s.failed.len(), 1);
    assert_eq!(read(&d, "out/result.txt"), "half\nwhole\n");
    let names: Vec<String> = std::fs::read_dir(d.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["result.txt"]);
    // The failure was not recorded: back to the first input, the first
    // output is what the job makes, and it is there.
    std::fs::write(d.join("mode"), "good").unwrap();
    assert!(run_local(&wf, &opts(1)).unwrap().ran.is_empty());
    // A new input runs it.
    std::fs::write(d.join("mode"), "good again").unwrap();
    assert_eq!(run_local(&wf, &opts(1)).unwrap().ran, ["writer"]);
}

fn missing_inputs_and_outputs_fail_clearly() {
    let d = scratch("missing");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "needs-a-file"
cmd = "cat {input}"
inputs = ["not-there.txt"]

[[job]]
name = "forgets-its-output"
cmd = "true"
outputs = ["never.txt"]

[[job]]
name = "ignores-the-placeholder"
cmd = "true {output}"
outputs = ["never2.txt"]
"#,
    );
    let s = run_local(&wf, &opts(2)).unwrap();
    let why = |j: &str| s.failed.iter().find(|f| f.job == j).unwrap().why.clone();
    assert!(
        why("needs-a-file").contains("`not-there.txt` does not exist, and no job makes it"),
        "{s}"
    );
    assert!(
        why("forgets-its-output").contains("its output `never.txt` is missing"),
        "{s}"
    );
    assert!(
        why("ignores-the-placeholder").contains("did not write its output `never2.txt`"),
        "{s}"
    );
}

fn dry_run_says_why() {
    let d = scratch("dry");
    std::fs::write(d.join("src.txt"), "x").unwrap();
    let text = r#"
[[job]]
name = "a"
cmd = "cp {input} {output}"
inputs = ["src.txt"]
outputs = ["a.txt"]

[[job]]
name = "b"
cmd = "cp {input} {output}"
inputs = ["a.txt"]
outputs = ["b.txt"]
"#;
    let wf = workflow(&d, text);
    let plan = dry_run(&wf, &opts(1)).unwrap();
    assert_eq!(plan.jobs[0].1, Plan::Run("it has not run yet".into()));
    assert_eq!(plan.jobs[1].1, Plan::After("a".into()));
    assert!(!d.join("a.txt").exists(), "a dry run ran something");
    run_local(&wf, &opts(1)).unwrap();
    assert!(dry_run(&wf, &opts(1))
        .unwrap()
        .jobs
        .iter()
        .all(|j| j.1 == Plan::UpToDate));
    std::fs::write(d.join("src.txt"), "y").unwrap();
    let plan = dry_run(&wf, &opts(1)).unwrap();
    assert_eq!(plan.jobs[0].1, Plan::Run("input `src.txt` changed".into()));
    let wf = workflow(
        &d,
        &text.replace(
            "cp {input} {output}\"\ninputs = [\"a.txt\"]",
            "cp  {input} {output}\"\ninputs = [\"a.txt\"]",
        ),
    );
    std::fs::write(d.join("src.txt"), "x").unwrap();
    let plan = dry_run(&wf, &opts(1)).unwrap();
    assert_eq!(
        plan.jobs[1].1,
        Plan::Run("its command, environment or outputs changed".into())
    );
    assert!(
        plan.to_string().contains("would run   b  (its command"),
        "{plan}"
    );
}

fn resources_limit_what_runs_together() {
    let d = scratch("resources");
    let wf = workflow(
        &d,
        r#"
[[job]]
name = "gpu"
for = { i = "0..3" }
resources = { gpu = 1 }
cmd = "mkdir gpu.lock || exit 9; sleep 0.2; rmdir gpu.lock"

[[job]]
name = "big"
resources = { cpus = 3 }
cmd = "true"
"#,
    );
    let o = RunOptions {
        resources: vec![("gpu".into(), 1.0)],
        ..opts(3)
    };
    let s = run_local(&wf, &o).unwrap();
    assert_eq!(s.ran.len(), 4, "{s}");
    // With two cpus, `big` can never run here: it fails, saying how to fix it.
    let s = run_local(
        &wf,
        &RunOptions {
            force: vec!["*".into()],
            ..opts(2)
        },
    )
    .unwrap();
    let big = s.failed.iter().find(|f| f.job == "big").unwrap();
    assert!(
        big.why.contains("needs 3 cpus") && big.why.contains("--jobs"),
        "{}",
        big.why
    );
    let gpu = s.failed.iter().find(|f| f.job == "gpu[0]").unwrap();
    assert!(gpu.why.contains("--resource gpu=N"), "{}", gpu.why);
}

/// Starts this binary as a driver of `dir/workflow.toml`.
fn start_driver(dir: &Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .env("RASK_WF_TEST_DRIVE", dir.join("workflow.toml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_files(dir: &Path, n: usize) {
    let t = Instant::now();
    while std::fs::read_dir(dir).map_or(0, |r| r.count()) < n {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "the driver did not get going"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const RESUMABLE: &str = r#"
[[job]]
name = "step-{i}"
for = { i = "0..10" }
cmd = "if [ {i} -ge 3 ]; then sleep $(cat sleep.txt) & echo $! > pids/{i}; wait; fi; echo {i} > {output}"
outputs = ["out/{i}.txt"]
"#;

fn an_interrupted_run_kills_its_jobs_and_resumes() {
    let d = scratch("interrupt");
    std::fs::create_dir_all(d.join("pids")).unwrap();
    std::fs::write(d.join("sleep.txt"), "30").unwrap();
    let wf = workflow(&d, RESUMABLE);
    let mut child = start_driver(&d);
    wait_for_files(&d.join("pids"), 2);
    // Meanwhile the state directory is taken.
    let busy = run_local(&wf, &opts(1)).unwrap_err();
    assert!(matches!(busy, WorkflowError::Busy(_)), "{busy}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "Ctrl-C took {:?}",
        t.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        out.contains("interrupted") && out.contains("run again to resume"),
        "{out}"
    );
    // Every background sleep went with its job's group.
    for p in std::fs::read_dir(d.join("pids")).unwrap() {
        let pid: i32 = std::fs::read_to_string(p.unwrap().path())
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone(pid), "sleep {pid} survived Ctrl-C");
    }
    // Only quick jobs finished; nothing else has an output, under any name.
    let files: Vec<String> = sorted(
        std::fs::read_dir(d.join("out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
    );
    assert!(
        files
            .iter()
            .all(|f| ["0.txt", "1.txt", "2.txt"].contains(&f.as_str())),
        "{files:?}"
    );
    // Resumed (quickly this time), only the rest run.
    std::fs::write(d.join("sleep.txt"), "0").unwrap();
    let s = run_local(&wf, &opts(2)).unwrap();
    assert!(s.success(), "{s}");
    assert_eq!(
        (s.up_to_date, s.ran.len()),
        (files.len(), 10 - files.len()),
        "{s}"
    );
}

fn a_killed_driver_resumes_from_the_journal() {
    let d = scratch("killed");
    std::fs::create_dir_all(d.join("pids")).unwrap();
    std::fs::write(d.join("sleep.txt"), "0.5").unwrap();
    let wf = workflow(&d, RESUMABLE);
    let mut child = start_driver(&d);
    wait_for_files(&d.join("pids"), 4);
    child.kill().unwrap();
    child.wait().unwrap();
    // What the journal says finished is up to date; the rest will run.
    let plan = dry_run(&wf, &opts(2)).unwrap();
    let done: Vec<String> = plan
        .jobs
        .iter()
        .filter(|j| j.1 == Plan::UpToDate)
        .map(|j| j.0.clone())
        .collect();
    assert!(done.len() >= 3, "{plan}");
    std::thread::sleep(Duration::from_millis(600)); // the orphaned commands end
    let s = run_local(&wf, &opts(2)).unwrap();
    assert!(s.success(), "{s}");
    assert_eq!(s.up_to_date, done.len(), "{s}");
    for j in &s.ran {
        assert!(!done.contains(j), "{j} ran again");
    }
    for i in 0..10 {
        assert_eq!(read(&d, &format!("out/{i}.txt")), format!("{i}\n"));
    }
}
