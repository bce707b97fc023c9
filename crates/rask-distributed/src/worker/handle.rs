//! The scheduler's messages to a worker (rules 1 and 5 of the module docs).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rask_core::{registered, Registered};

use super::{lock, Job, Shared};
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
                let mut remote = Vec::new();
                let mut missing = None;
                {
                    let store = lock(&shared.store);
                    for (i, a) in args.into_iter().enumerate() {
                        match a {
                            ArgSource::Lit(b) => ready.push(Some(Bytes::from_vec(b))),
                            ArgSource::Here(g) => match store.get(&g) {
                                Some(b) => ready.push(Some(b.clone())),
                                None => {
                                    missing = Some(g);
                                    break;
                                }
                            },
                            ArgSource::There { gid: g, addr } => {
                                ready.push(None);
                                remote.push((i, g, addr));
                            }
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
                        func: reg,
                        args: ready.into_iter().flatten().collect(),
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
                    for (i, g, addr) in remote {
                        match peers.fetch(&addr, g).await {
                            Some(b) => ready[i] = Some(b),
                            None => {
                                shared.say_now(FromWorker::Missing { gid, missing: g });
                                return;
                            }
                        }
                    }
                    let job = Job {
                        gid,
                        func: reg,
                        args: ready.into_iter().flatten().collect(),
                        timeout_ms,
                        attempt,
                        report_start,
                        split,
                    };
                    if reg.call_async.is_some() {
                        super::compute::spawn_async(&shared, job, shared.threads);
                        return;
                    }
                    lock(&shared.queue).push_back(job);
                    shared.more.notify_one();
                });
            }
            ToWorker::Steal { gids } => {
                let mut q = lock(&shared.queue);
                let mut back = Vec::new();
                q.retain(|j| {
                    let take = gids.contains(&j.gid);
                    if take {
                        back.push(j.gid);
                    }
                    !take
                });
                drop(q);
                shared.say(FromWorker::Stolen { gids: back });
            }
            ToWorker::Coord(reply) => shared.coord.answer(reply),
            ToWorker::Release { gids } => {
                let mut store = lock(&shared.store);
                for g in gids {
                    store.remove(&g);
                }
            }
            ToWorker::Fetch { gid, addr } => super::fetch::fetch_and_keep(shared, peers, gid, addr),
        }
    }
    if !jobs.is_empty() {
        let n = jobs.len();
        lock(&shared.queue).extend(jobs);
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
