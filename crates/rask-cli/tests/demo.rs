//! `rask demo` runs the same small pipeline on every executor, checks its
//! answers itself, and says what it did.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn demo(executor: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args(["demo", "--quick", "--executor", executor])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "rask demo --executor {executor}:\n{text}"
    );
    text
}

#[test]
fn the_demo_runs_the_pipeline_on_every_executor() {
    for (executor, name) in [
        ("sync", "sync"),
        ("threads", "threads"),
        ("processes", "processes"),
        ("cluster", "a local cluster"),
    ] {
        let text = demo(executor);
        for want in [
            format!("a dataframe, an array and a graph of functions on {name}"),
            // The group-by's table: five cities, each with its count.
            "    Quito ".to_owned(),
            "(about 400)".to_owned(),
            "graph: pi ~= 3.14".to_owned(),
            "failed its first attempt (a simulated time-out), was retried, and succeeded on attempt 2"
                .to_owned(),
            "271 tasks finished, 0 failed, in ".to_owned(),
            // Output is not a terminal here: plain progress lines, ended.
            "rask: 128/128 tasks done in ".to_owned(),
        ] {
            assert!(text.contains(&want), "{executor}: no `{want}` in:\n{text}");
        }
    }
}

#[test]
fn demo_pi_runs_the_keyed_pi_graph_alone() {
    let out = Command::new(env!("CARGO_BIN_EXE_rask"))
        .args([
            "demo",
            "--pi",
            "--chunks",
            "64",
            "--samples",
            "1000",
            "--no-progress",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("rask demo: pi ~= 3.1"), "{text}");
    assert!(text.contains("127 tasks on "), "{text}");
}
