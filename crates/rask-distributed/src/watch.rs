//! Worker news for a client's subscribers: after
//! [`Connection::watch_workers`], the scheduler tells this client when
//! workers join and leave and sends their memory samples, which become
//! `WorkerJoined`, `WorkerLost` and `WorkerSample` events on every sink
//! that asked (a recorder stores them like its own samples).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rask_core::{Event, EventSink, WorkerId};

use crate::proto::{FromClient, ToClient};
use crate::{Connection, Error};

/// The sinks that watch workers.
pub(crate) type Watchers = Arc<Mutex<Vec<EventSink>>>;

/// Emits worker news `m` to every watcher.
pub(crate) fn deliver(m: &ToClient, watchers: &Watchers) {
    let sinks = watchers.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if sinks.is_empty() {
        return;
    }
    let at = Instant::now();
    let event = match m {
        ToClient::WorkerJoined {
            worker,
            name,
            threads,
        } => Event::WorkerJoined {
            worker: WorkerId(*worker),
            name,
            threads: *threads,
            at,
        },
        ToClient::WorkerLost { worker, name, why } => Event::WorkerLost {
            worker: WorkerId(*worker),
            name,
            why,
            at,
        },
        ToClient::WorkerSample { worker, sample } => Event::WorkerSample {
            worker: WorkerId(*worker),
            at,
            cpu_percent: sample.cpu_percent,
            rss_bytes: sample.rss,
            managed_bytes: sample.managed,
            spilled_bytes: sample.spilled,
            moved_bytes: sample.moved,
        },
        _ => return,
    };
    for s in &sinks {
        s.emit(&event);
    }
}

impl Connection {
    /// Sends the workers' joins, losses and memory samples (about every
    /// half second each) to `sink` as events, from now on, starting with
    /// the workers there now.
    pub fn watch_workers(&self, sink: EventSink) -> Result<(), Error> {
        let first = {
            let mut w = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
            w.push(sink);
            w.len() == 1
        };
        if first {
            self.send(FromClient::WatchWorkers)?;
        }
        Ok(())
    }
}
