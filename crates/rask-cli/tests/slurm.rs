//! A Rask cluster inside real Slurm jobs (`SlurmCluster`), end to end:
//! a graph and an array computed on it, scaled up and down (retired
//! workers' values kept: nothing computed again), a worker crash restarted
//! inside its job, adaptive scaling, and teardown. The workers are the
//! `rask` binary.
//!
//! Needs a running Slurm (`SLURM_CONF` pointing at it): `deploy/slurm/test.sh`
//! starts a one-node cluster on this machine and runs this test with
//! `--ignored`. `RASK_SLURM_PARTITION` names the partition (default
//! `debug`).

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use rask::prelude::*;
use rask::smoke::{nap, stamp, whereabouts};
use rask::{AdaptOptions, SlurmCluster, SlurmOptions};

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !ok() {
        assert!(t0.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    t0.elapsed()
}

/// The process ids of the workers (probes spread over them).
fn worker_pids(client: &Client) -> HashSet<u32> {
    let probes: Vec<Delayed<(u64, String, u32)>> = (0..48).map(whereabouts::delayed).collect();
    client
        .get(&probes)
        .unwrap()
        .into_iter()
        .map(|p| p.2)
        .collect()
}

/// Job ids Slurm still lists among `ids` (straight from `squeue`).
fn listed(ids: &[String]) -> Vec<String> {
    let out = std::process::Command::new("squeue")
        .args(["--noheader", "--format=%i"])
        .arg(format!("--jobs={}", ids.join(",")))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
#[ignore = "needs a running Slurm: deploy/slurm/test.sh"]
fn a_cluster_in_slurm_jobs_computes_scales_survives_a_crash_and_tears_down() {
    let t_all = Instant::now();
    let dir = std::env::temp_dir().join(format!("rask-slurm-test-{}", std::process::id()));
    let mut o = SlurmOptions::new(env!("CARGO_BIN_EXE_rask"));
    o.cores = 1;
    o.memory = Some(300 << 20);
    o.walltime = Some("00:15:00".into());
    o.partition =
        Some(std::env::var("RASK_SLURM_PARTITION").unwrap_or_else(|_| "debug".to_owned()));
    o.job_name = format!("rask-test-{}", std::process::id());
    o.listen = "127.0.0.1:0".parse().unwrap();
    o.address = Some("127.0.0.1".into());
    o.worker_host = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    o.dir = Some(dir.clone());
    o.jobs = 1;
    o.start_timeout = Some(Duration::from_secs(90));
    let cluster = SlurmCluster::start(o).unwrap();
    let script = std::fs::read_to_string(dir.join("worker.sbatch")).unwrap();
    assert!(script.contains("#SBATCH --mem=300M") && script.contains("RASK_WORKER_RESTART=1"));
    let client = Client::connect_with(cluster.addr(), cluster.wire()).unwrap();

    // 1. A graph and an array on one worker job.
    let r = rask::smoke::check(&client).unwrap();
    assert_eq!(r.workers, 1);

    // 2. Up to three jobs.
    cluster.scale(3).unwrap();
    let up = wait_until("three workers", Duration::from_secs(90), || {
        cluster.report().unwrap().active() == 3
    });
    let jobs = cluster.jobs().unwrap();
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    assert!(jobs.iter().all(|(_, s)| s.0 == "R"), "{jobs:?}");
    assert_eq!(rask::smoke::check(&client).unwrap().workers, 3);
    // Values spread over the three workers, kept.
    let futs: Vec<Future<(u64, u32, Vec<u8>)>> = (0..30)
        .map(|i| client.persist(&stamp::delayed(i, 4096)))
        .collect();
    client
        .wait(&futs, WaitFor::All, Some(Duration::from_secs(60)))
        .unwrap();
    let held: Vec<u64> = cluster
        .report()
        .unwrap()
        .workers
        .iter()
        .map(|w| w.only_here)
        .collect();
    assert!(held.iter().filter(|&&b| b > 0).count() >= 2, "{held:?}");

    // 3. Down to one: two workers retired, their jobs gone, every value
    // the one first made (its maker's pid), none computed again.
    let t = Instant::now();
    cluster.scale(1).unwrap();
    let down = t.elapsed();
    assert_eq!(cluster.report().unwrap().workers.len(), 1);
    let ids: Vec<String> = jobs.iter().map(|(j, _)| j.to_string()).collect();
    wait_until("two jobs gone", Duration::from_secs(60), || {
        listed(&ids).len() == 1
    });
    let mut makers = HashSet::new();
    for (i, f) in futs.iter().enumerate() {
        let (j, pid, pad) = f.result().unwrap();
        assert_eq!((j, pad.len()), (i as u64, 4096));
        makers.insert(pid);
    }
    assert!(makers.len() >= 2, "values made by retired workers are kept");
    let survivor = worker_pids(&client);
    assert_eq!(survivor.len(), 1);

    // 4. A crash inside a job: the worker starts again there.
    let pid = *survivor.iter().next().unwrap();
    let job_before = cluster.jobs().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let restart = wait_until(
        "the worker back in its job",
        Duration::from_secs(60),
        || {
            let r = cluster.report().unwrap();
            r.active() == 1 && worker_pids(&client).iter().all(|&p| p != pid)
        },
    );
    assert_eq!(cluster.jobs().unwrap(), job_before, "same job");
    assert_eq!(
        futs[0].result().unwrap().0,
        0,
        "persisted values still served"
    );

    // 5. Adaptive, 1 to 3 jobs: 24 tasks of 600 ms.
    let mut a = AdaptOptions::new(1, 3);
    a.interval = Duration::from_millis(300);
    cluster.adapt(a).unwrap();
    let xs: Vec<Delayed<u64>> = (0..24).map(|i| nap::delayed(i, 600)).collect();
    let t = Instant::now();
    let f = client.compute(xs);
    let grown = wait_until("adapted up to 3", Duration::from_secs(90), || {
        cluster.report().unwrap().active() == 3
    });
    assert_eq!(f.result().unwrap().iter().sum::<u64>(), 276);
    let shrunk = wait_until("adapted down to 1", Duration::from_secs(120), || {
        let r = cluster.report().unwrap();
        r.workers.len() == 1 && cluster.jobs().unwrap().len() == 1
    });
    let adapt_total = t.elapsed();
    cluster.stop_adapting();

    // 6. Teardown: every job cancelled.
    let ids: Vec<String> = cluster
        .jobs()
        .unwrap()
        .iter()
        .map(|(j, _)| j.to_string())
        .collect();
    cluster.close().unwrap();
    wait_until("jobs cancelled", Duration::from_secs(60), || {
        listed(&ids).is_empty()
    });
    assert!(!dir.join("secret").exists());
    println!(
        "slurm deployment: ok: graph and array on 1 job; up to 3 jobs in {up:.1?}; down to 1 \
         (2 retired, {} values kept) in {down:.1?}; crash restarted in its job in {restart:.1?}; \
         adaptive 1..3: up in {grown:.1?}, back down {shrunk:.1?} later ({adapt_total:.1?}); \
         all in {:.1?}",
        futs.len(),
        t_all.elapsed()
    );
}
