//! The coordination state through the scheduler's `Core`: a worker's
//! death releases its tasks' locks and puts their items back.

use super::wire;
use crate::core::{ClientIx, Core, CoreConfig, Outbox, WorkerIx};
use crate::proto::*;

#[derive(Default)]
struct Net {
    workers: Vec<(WorkerIx, ToWorker)>,
    clients: Vec<(ClientIx, ToClient)>,
}

impl Outbox for Net {
    fn to_worker(&mut self, w: WorkerIx, msg: ToWorker) {
        self.workers.push((w, wire(&msg)));
    }
    fn to_client(&mut self, c: ClientIx, msg: ToClient) {
        self.clients.push((c, wire(&msg)));
    }
}

fn info(name: &str) -> WorkerInfo {
    WorkerInfo {
        name: name.into(),
        threads: 1,
        memory: 0,
        resources: Vec::new(),
        data_addr: format!("{name}:1"),
        weight: 1,
        pid: 1,
    }
}

fn coord_to_worker(net: &mut Net, w: WorkerIx) -> Vec<CoordReply> {
    let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut net.workers)
        .into_iter()
        .partition(|(to, m)| *to == w && matches!(m, ToWorker::Coord(_)));
    net.workers = rest;
    mine.into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Coord(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dead_workers_lock_and_items_go_to_the_living() {
    let mut core = Core::new(CoreConfig::default());
    let mut net = Net::default();
    let a = core.worker_joined(info("a"), &mut net).unwrap();
    let b = core.worker_joined(info("b"), &mut net).unwrap();
    let c = core.client_joined();
    let lock = || CoordOp::Acquire {
        name: "L".into(),
        lock: true,
        permits: 1,
    };
    // The client puts an item; a's task takes it and the lock.
    let put = CoordOp::Put {
        queue: "q".into(),
        item: vec![7],
        bound: 0,
    };
    core.client_message(c, FromClient::Coord(req(1, 0, put)), &mut net);
    for (r, op) in [(1, lock()), (2, CoordOp::Get { queue: "q".into() })] {
        core.worker_message(a, FromWorker::Coord(req(r, 5, op)), &mut net)
            .unwrap();
    }
    let got = coord_to_worker(&mut net, a);
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.result.is_ok()));
    // b's task waits for both.
    for (r, op) in [(1, lock()), (2, CoordOp::Get { queue: "q".into() })] {
        core.worker_message(b, FromWorker::Coord(req(r, 9, op)), &mut net)
            .unwrap();
    }
    assert!(coord_to_worker(&mut net, b).is_empty());
    // a dies: b gets the lock and the item (marked as redelivered).
    core.worker_gone(a, "killed", None, &mut net);
    core.coord().check().unwrap();
    let got = coord_to_worker(&mut net, b);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().any(|r| r.result == Ok(CoordAnswer::Granted)));
    assert!(got.iter().any(|r| r.result
        == Ok(CoordAnswer::Item {
            bytes: vec![7],
            redelivered: 1
        })));
    // b's task ends: its session's lock and unacknowledged item go back.
    core.worker_message(
        b,
        FromWorker::Coord(req(0, 9, CoordOp::EndSession)),
        &mut net,
    )
    .unwrap();
    core.client_message(c, FromClient::Coord(req(2, 0, lock())), &mut net);
    assert!(net
        .clients
        .iter()
        .any(|(_, m)| matches!(m, ToClient::Coord(r) if r.req == ReqId(2) && r.result == Ok(CoordAnswer::Granted))));
    // Variables are shared with `SetVar` / `GetVar`.
    core.client_message(
        c,
        FromClient::SetVar {
            name: "v".into(),
            value: vec![1, 2],
        },
        &mut net,
    );
    core.worker_message(
        b,
        FromWorker::Coord(req(3, 9, CoordOp::GetVar { name: "v".into() })),
        &mut net,
    )
    .unwrap();
    assert_eq!(
        coord_to_worker(&mut net, b)[0].result,
        Ok(CoordAnswer::Value(Some(vec![1, 2])))
    );
    core.client_gone(c, &mut net);
    core.coord().check().unwrap();
    assert_eq!(core.coord().entries(), 0);
}

#[test]
fn a_cached_lease_is_recalled_and_freed_by_its_workers_death() {
    let mut core = Core::new(CoreConfig::default());
    let mut net = Net::default();
    let a = core.worker_joined(info("a"), &mut net).unwrap();
    let b = core.worker_joined(info("b"), &mut net).unwrap();
    let c = core.client_joined();
    let cache = CoordOp::CacheAcquire {
        name: "L".into(),
        var: None,
    };
    core.worker_message(a, FromWorker::Coord(req(1, 5, cache)), &mut net)
        .unwrap();
    assert_eq!(
        coord_to_worker(&mut net, a)[0].result,
        Ok(CoordAnswer::Granted)
    );
    // The task's end keeps it; b's request recalls it.
    core.worker_message(
        a,
        FromWorker::Coord(req(0, 5, CoordOp::EndSession)),
        &mut net,
    )
    .unwrap();
    let lock = CoordOp::Acquire {
        name: "L".into(),
        lock: true,
        permits: 1,
    };
    core.worker_message(b, FromWorker::Coord(req(1, 9, lock)), &mut net)
        .unwrap();
    let got = coord_to_worker(&mut net, a);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].result,
        Ok(CoordAnswer::Recall {
            invalidate: false,
            now: false
        })
    );
    // a dies before giving it back: b gets it.
    core.worker_gone(a, "killed", None, &mut net);
    core.coord().check().unwrap();
    assert_eq!(
        coord_to_worker(&mut net, b)[0].result,
        Ok(CoordAnswer::Granted)
    );
    // The client reads how often a cache was granted a lease.
    core.client_message(
        c,
        FromClient::GetVar {
            name: "rask:leases".into(),
        },
        &mut net,
    );
    let grants = net.clients.iter().find_map(|(_, m)| match m {
        ToClient::Var { value, .. } => value.clone(),
        _ => None,
    });
    assert_eq!(grants, Some(rask_core::format::to_vec(&1u64).unwrap()));
}
