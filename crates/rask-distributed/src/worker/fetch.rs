//! `ToWorker::Fetch`: copying a value from a peer and keeping it, for a
//! worker being retired elsewhere (`core/retire.rs`). The fetch runs on
//! the network runtime like an input's (rule 1 of the module docs); the
//! value is stored before `Fetched` is said, so the scheduler never points
//! a task at a copy that is not here yet.

use std::sync::Arc;

use super::Shared;
use crate::data::Peers;
use crate::proto::{FromWorker, Gid};

/// Fetches `gid` from the data port at `addr`, keeps it, and says
/// `Fetched` (or `NotFetched`).
pub(super) fn fetch_and_keep(shared: &Arc<Shared>, peers: &Arc<Peers>, gid: Gid, addr: String) {
    let shared = shared.clone();
    let peers = peers.clone();
    shared.rt.clone().spawn(async move {
        match peers.fetch(&addr, gid).await {
            Some(b) => {
                let nbytes = b.len() as u64;
                shared
                    .memory
                    .moved
                    .fetch_add(nbytes, std::sync::atomic::Ordering::Relaxed);
                // May spill others (the store's rule 4).
                shared.store.insert(gid, b);
                shared.say_now(FromWorker::Fetched { gid, nbytes });
            }
            None => {
                tracing::warn!(%addr, gid = gid.0, "could not copy a value from a retiring worker");
                shared.say_now(FromWorker::NotFetched { gid });
            }
        }
    });
}
