//! Coordination messages: a running task (through its worker's link) or a
//! client asks the scheduler for a lock, a queue item, an event...; the
//! scheduler's state machine (`core/coord/`) answers. The same request and
//! answer types serve the in-process hub of `Client::threads()`.
//!
//! Rules of the exchange:
//! 1. Every request carries a [`ReqId`], unique on its connection for the
//!    connection's life. Requests that wait get exactly one [`CoordReply`]
//!    with that id (an answer, or a [`CoordFail`]); the others (marked "no
//!    answer" below) get none, and are applied in order with the rest.
//!    The one exception: a worker's granted `CacheAcquire` may later get
//!    [`CoordAnswer::Recall`] notices with its id (`core/coord/cache.rs`).
//! 2. What a request obtained (a permit, an unacknowledged queue item, a
//!    subscription) is named by that request's id afterwards:
//!    `Release { req }` gives it back (`SetRelease { req, .. }` too,
//!    after writing a variable), `Ack { req }` consumes an item.
//!    `Release` (or `SetRelease`) on a request still waiting cancels it.
//! 3. A request belongs to a [`SessionId`]: on a worker, one attempt of one
//!    task. `EndSession` (sent when the task's body returns, whatever the
//!    way) releases everything the session still holds; a worker's or a
//!    client's death releases everything of that connection.
//! 4. `timeout_ms` bounds the wait, counted from when the scheduler reads
//!    the request: `Some(0)` answers at once (`TimedOut` if it would wait),
//!    `None` waits for ever. The answer says either what was obtained or
//!    that the time passed, never both.

use serde::{Deserialize, Serialize};

/// A coordination request's number, unique per connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReqId(pub u64);

/// Who owns what a request obtains: on a worker, one attempt of one task;
/// `SessionId(0)` for a client (its connection is its session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub u64);

impl SessionId {
    /// The session of a worker's cached leases (`CoordOp::CacheAcquire`):
    /// no task's, so no task's end releases them.
    pub const CACHE: SessionId = SessionId(u64::MAX);
}

/// One coordination request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoordRequest {
    pub req: ReqId,
    pub session: SessionId,
    /// How long it may wait (rule 4 of the module docs).
    pub timeout_ms: Option<u64>,
    pub op: CoordOp,
}

/// A request with no timeout (for tests of the coordination protocol).
#[cfg(test)]
pub(crate) fn req(r: u64, session: u64, op: CoordOp) -> CoordRequest {
    CoordRequest {
        req: ReqId(r),
        session: SessionId(session),
        timeout_ms: None,
        op,
    }
}

/// What a request asks.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum CoordOp {
    /// A permit of semaphore `name`, which has `permits` (a lock: the lock
    /// namespace, one permit). Answer: `Granted`, in request order.
    Acquire {
        name: String,
        lock: bool,
        permits: u32,
    },
    /// Give back what request `req` obtained, or cancel it if it waits
    /// (rule 2). No answer.
    Release { req: ReqId },
    /// Append `item` to queue `name`; waits while the queue holds `bound`
    /// items (0: the queue's bound, if any). Answer: `Done`.
    Put {
        queue: String,
        item: Vec<u8>,
        bound: u32,
    },
    /// Take the first item of queue `name`. Answer: `Item`. The item is
    /// out until `Ack { req }` (gone) or `Release { req }` (back in front).
    Get { queue: String },
    /// The item request `req` got is done with. No answer.
    Ack { req: ReqId },
    /// Items in queue `name` (not counting those out). Answer: `Count`.
    Len { queue: String },
    /// Sets event `name`, waking every waiter. No answer.
    SetEvent { name: String },
    /// Clears event `name`. No answer.
    ClearEvent { name: String },
    /// Waits until event `name` is set. Answer: `Done`.
    WaitEvent { name: String },
    /// Whether event `name` is set. Answer: `Flag`.
    IsSet { name: String },
    /// Sets variable `name`. No answer.
    SetVar { name: String, value: Vec<u8> },
    /// Variable `name`'s value. Answer: `Value` (`None`: not set).
    GetVar { name: String },
    /// Waits until variable `name` is set. Answer: `Value(Some(..))`.
    WaitVar { name: String },
    /// Unsets variable `name`. No answer.
    DelVar { name: String },
    /// Subscribes to topic `name`: messages published from now on are kept
    /// for this subscription (named by this request's id) until taken with
    /// `Next`. Answer: `Done`.
    Subscribe { topic: String },
    /// Publishes `msg` to every subscription of topic `name`. No answer.
    Publish { topic: String, msg: Vec<u8> },
    /// The next message of subscription `sub` (one of this connection's).
    /// Answer: `Value(Some(..))`, or `Closed` if the subscription is gone.
    Next { sub: ReqId },
    /// Arrives at barrier `name` of `parties`; waits until that many have.
    /// Answer: `Passed`.
    Arrive { name: String, parties: u32 },
    /// Releases everything this request's session holds (rule 3). No
    /// answer.
    EndSession,
    /// `Acquire`, and variable `var` read when the permit is granted, in
    /// the same step of the state machine (nothing comes between the grant
    /// and the read). Answer: `GrantedValue`, in request order with the
    /// plain `Acquire`s.
    AcquireRead {
        name: String,
        lock: bool,
        permits: u32,
        var: String,
    },
    /// Sets variable `var` to `value` and gives back the permit request
    /// `req` holds, in one step (as `SetVar` then `Release`). The value is
    /// written only if `req` holds a permit then: a holder whose lease was
    /// taken back (its session ended) writes nothing. No answer.
    SetRelease {
        req: ReqId,
        var: String,
        value: Vec<u8>,
    },
    /// A worker's lease cache (`coord/cache.rs`) asks for lock `name` for
    /// itself, not for a session: the lease is the worker's until it gives
    /// it back (`Release { req }`) or dies; with `var`, that variable is read
    /// at the grant and the worker then holds its value (it writes it with
    /// `SetHeld`). While others wait for the lock, or someone else writes
    /// `var`, the scheduler sends the worker a [`CoordAnswer::Recall`]
    /// notice on this request. Answer: `Granted` or `GrantedValue`, in
    /// request order with the other acquirers. Refused to clients.
    CacheAcquire { name: String, var: Option<String> },
    /// Sets variable `var` to `value` if request `req` holds a permit then
    /// (a fenced write: nothing if the lease was taken back), keeping it.
    /// No answer.
    SetHeld {
        req: ReqId,
        var: String,
        value: Vec<u8>,
    },
    /// A worker's answer to `Recall { now: true }` while one of its tasks
    /// holds the lease of request `req`: the lock is not free, so those
    /// who only try it fail. No answer.
    CacheBusy { req: ReqId },
}

impl CoordOp {
    /// Whether the scheduler answers this request (rule 1).
    pub fn answered(&self) -> bool {
        !matches!(
            self,
            CoordOp::Release { .. }
                | CoordOp::Ack { .. }
                | CoordOp::SetEvent { .. }
                | CoordOp::ClearEvent { .. }
                | CoordOp::SetVar { .. }
                | CoordOp::DelVar { .. }
                | CoordOp::Publish { .. }
                | CoordOp::EndSession
                | CoordOp::SetRelease { .. }
                | CoordOp::SetHeld { .. }
                | CoordOp::CacheBusy { .. }
        )
    }
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordAnswer {
    /// Done (a put, an event that is set, a subscription made).
    Done,
    /// A permit (lock or semaphore), held until released.
    Granted,
    /// A queue item; `redelivered` counts the times it was given out
    /// before and came back unacknowledged.
    Item { bytes: Vec<u8>, redelivered: u32 },
    /// A variable's value, or a message of a subscription.
    Value(Option<Vec<u8>>),
    /// A length.
    Count(u64),
    /// A yes or no (`IsSet`).
    Flag(bool),
    /// The barrier let this party through: its `generation` (how many
    /// times it had filled before), and whether it was the last to arrive.
    Passed { generation: u64, leader: bool },
    /// A permit (as `Granted`) and the variable's value at the grant
    /// (`AcquireRead`; `None`: not set).
    GrantedValue(Option<Vec<u8>>),
    /// Not an answer but a notice, on a `CacheAcquire` request that holds
    /// its lease: give the lease back soon (others wait for it); with
    /// `invalidate`, the variable's value the worker holds is stale
    /// (someone else wrote it); with `now`, someone tries the lock (a zero
    /// timeout) and waits for the worker to say at once whether it is
    /// free: the lease back if none of its tasks holds it, else
    /// `CacheBusy`. Each kind is sent at most once per grant (`now` again
    /// after a `CacheBusy`).
    Recall { invalidate: bool, now: bool },
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CoordFail {
    /// Its timeout passed first.
    TimedOut,
    /// It disagrees with how the object was made (a semaphore's permits,
    /// a queue's bound, a barrier's parties), or asks what cannot be.
    Conflict(String),
    /// The subscription it names is gone (or never was).
    Closed,
    /// The connection to the scheduler was lost (never sent by a
    /// scheduler: the requesting side's own verdict).
    Disconnected,
}

/// The answer to one request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CoordReply {
    pub req: ReqId,
    pub result: Result<CoordAnswer, CoordFail>,
}
