//! The scheduler's messages to a worker (rules 1 and 5 of the module docs).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rask_core::{registered, Registered};

use super::{enqueue, lock, Job, Shared};
use crate::bytes::Bytes;
use crate::data::Peers;
use crate::proto::{ArgSource, Failure, FromWorker, ToWorker};

/// Handles one batch from the scheduler; ready jobs are queued together.
pub(super) fn batch(
    batch: Vec<ToWorker>,
    funcs: &mut Vec<Option<&'static Registered>>,
    unknown: &mut HashMap<u32, String>,
    shared: &Arc<Shared>,
    peers: &Arc<Peers>,
) {
    let mut jobs = Vec::new();
    for m in batch {
        match m {
            ToWorker::Welcome { inline_max } => {
                shared.inline_max.store(inline_max, Ordering::Relaxed);
            }
            ToWorker::Define { func, name } => {
                let i = func as usize;
                if funcs.len() <= i {
                    funcs.resize(i + 1, None);
                }
                funcs[i] = registered(&name);
                if funcs[i].is_none() {
                    tracing::warn!(function = %name, "asked to run a function not registered here");
                    unknown.insert(func, name);
                }
            }
            ToWorker::Compute {
                gid,
                func,
                rank,
                args,
                timeout_ms,
                attempt,
                report_start,
                split,
            } => {
                let Some(Some(reg)) = funcs.get(func as usize) else {
                    let fname = unknown
                        .get(&func)
                        .cloned()
                        .unwrap_or_else(|| format!("#{func}"));
                    shared.say(FromWorker::Erred {
                        gid,
                        failure: Failure::NotRegistered(format!(
                            "function `{fname}` is not registered in worker `{}`'s binary",
                            shared.name
                        )),
                    });
                    continue;
                };
                let reg = *reg;
                let mut ready: Vec<Option<Bytes>> = Vec::with_capacity(args.len());
                let mut here = Vec::new();
                let mut remote = Vec::new();
                let mut missing = None;
                for (i, a) in args.into_iter().enumerate() {
                    match a {
                        ArgSource::Lit(b) => ready.push(Some(Bytes::from_vec(b))),
                        // Taken from the store when the task starts (rule 6).
                        ArgSource::Here(g) if shared.store.contains(g) => {
                            ready.push(Some(Bytes::empty()));
                            here.push((i, g));
                        }
                        ArgSource::Here(g) => {
                            missing = Some(g);
                            break;
                        }
                        ArgSource::There { gid: g, addr } => {
                            ready.push(None);
                            remote.push((i, g, addr));
                        }
                    }
                }
                if let Some(m) = missing {
                    shared.say(FromWorker::Missing { gid, missing: m });
                    continue;
                }
                if remote.is_empty() {
                    let job = Job {
                        gid,
                        rank,
                        func: reg,
                        args: ready.into_iter().flatten().collect(),
                        here,
                        fetched: 0,
                        timeout_ms,
                        attempt,
                        report_start,
                        split,
                    };
                    if reg.call_async.is_some() {
                        super::compute::spawn_async(shared, job, shared.threads);
                    } else {
                        jobs.push(job);
                    }
                    continue;
                }
                let shared = shared.clone();
                let peers = peers.clone();
                tokio::spawn(async move {
                    let mut fetched = 0;
                    for (i, g, addr) in remote {
                        shared.memory.fetch_room().await;
                        match peers.fetch(&addr, g).await {
                            Some(b) => {
                                let n = b.len() as u64;
                                shared.memory.fetched(n);
                                fetched += n;
                                ready[i] = Some(b);
                            }
                            None => {
                                shared.memory.fetch_failed();
                                shared.memory.fetch_done(fetched);
                                shared.say_now(FromWorker::Missing { gid, missing: g });
                                return;
                            }
                        }
                    }
                    let job = Job {
                        gid,
                        rank,
                        func: reg,
                        args: ready.into_iter().flatten().collect(),
                        here,
                        fetched,
                        timeout_ms,
                        attempt,
                        report_start,
                        split,
                    };
                    if reg.call_async.is_some() {
                        super::compute::spawn_async(&shared, job, shared.threads);
                        return;
                    }
                    enqueue(&mut lock(&shared.queue), job);
                    shared.more.notify_one();
                });
            }
            ToWorker::Steal { gids } => {
                let mut q = lock(&shared.queue);
                let mut back = Vec::new();
                let mut freed = 0;
                q.retain(|j| {
                    let take = gids.contains(&j.gid);
                    if take {
                        back.push(j.gid);
                        freed += j.fetched;
                    }
                    !take
                });
                drop(q);
                shared.memory.fetch_done(freed);
                shared.say(FromWorker::Stolen { gids: back });
            }
            ToWorker::Coord(reply) => shared.coord.answer(reply),
            ToWorker::Release { gids } => {
                for g in gids {
                    shared.store.remove(g);
                }
            }
            ToWorker::Fetch { gid, addr } => super::fetch::fetch_and_keep(shared, peers, gid, addr),
        }
    }
    if !jobs.is_empty() {
        let n = jobs.len();
        let mut q = lock(&shared.queue);
        for job in jobs {
            enqueue(&mut q, job);
        }
        drop(q);
        if n == 1 {
            shared.more.notify_one();
        } else {
            shared.more.notify_all();
        }
    }
    // Errors, stolen tasks: answered now.
    if !lock(&shared.outbox).is_empty() {
        shared.wake_writer.notify_one();
    }
}
