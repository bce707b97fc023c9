//! The combined requests (`AcquireRead`, `SetRelease`): the read happens
//! at the grant, the write before the hand-over, and a lease taken back
//! writes nothing.

use super::*;

fn acquire_read(lock: &str, var: &str) -> CoordOp {
    CoordOp::AcquireRead {
        name: lock.into(),
        lock: true,
        permits: 1,
        var: var.into(),
    }
}

fn set_release(req: u64, var: &str, v: u8) -> CoordOp {
    CoordOp::SetRelease {
        req: ReqId(req),
        var: var.into(),
        value: vec![v],
    }
}

fn value(v: Option<u8>) -> Option<Result<CoordAnswer, CoordFail>> {
    Some(Ok(CoordAnswer::GrantedValue(v.map(|v| vec![v]))))
}

#[test]
fn the_read_is_at_the_grant_and_the_write_before_the_hand_over() {
    let mut t = T::new();
    t.op(A, 1, acquire_read("x", "v"));
    assert_eq!(t.answer(A, 1), value(None), "not set yet");
    // B waits; someone writes without the lock meanwhile: B reads what
    // is there when it is granted, not when it asked.
    t.op(B, 1, acquire_read("x", "v"));
    t.op(C, 1, lock("x"));
    assert!(t.out.take().is_empty());
    t.c.set_var("v".into(), vec![5], &mut t.out);
    t.op(A, 2, set_release(1, "v", 7));
    assert_eq!(t.answer(B, 1), value(Some(7)), "A's write, then the grant");
    // The plain forms share the lock's line: C (a plain acquire) is next.
    t.op(B, 2, set_release(1, "v", 8));
    assert_eq!(t.answer(C, 1), GRANTED);
    t.op(C, 2, CoordOp::GetVar { name: "v".into() });
    assert_eq!(t.answer(C, 2), Some(Ok(CoordAnswer::Value(Some(vec![8])))));
    t.op(C, 3, CoordOp::Release { req: ReqId(1) });
    assert_eq!(t.c.entries(), 0);
    assert!(t.c.sems.is_empty(), "an idle lock is forgotten");
}

#[test]
fn a_lease_taken_back_writes_nothing_and_a_dead_holder_hands_over() {
    let mut t = T::new();
    t.req(A, 1, 3, None, acquire_read("x", "v"));
    assert_eq!(t.answer(A, 1), value(None));
    t.op(B, 1, acquire_read("x", "v"));
    // A's session ends (its task attempt failed): B is granted, and A's
    // late write (after its lease went) is dropped.
    t.req(A, 2, 3, None, CoordOp::EndSession);
    assert_eq!(t.answer(B, 1), value(None));
    t.op(A, 3, set_release(1, "v", 9));
    t.op(C, 1, CoordOp::GetVar { name: "v".into() });
    assert_eq!(t.answer(C, 1), Some(Ok(CoordAnswer::Value(None))));
    // B writes and dies holding the next lease: the waiter after it reads
    // B's last write.
    t.op(B, 2, set_release(1, "v", 4));
    t.op(B, 3, acquire_read("x", "v"));
    assert_eq!(t.answer(B, 3), value(Some(4)));
    t.op(C, 2, acquire_read("x", "v"));
    t.c.peer_gone(B, &mut t.out);
    t.c.check().unwrap();
    assert_eq!(t.answer(C, 2), value(Some(4)));
}

#[test]
fn a_combined_wait_times_out_like_a_plain_one() {
    let mut t = T::new();
    t.op(A, 1, lock("x"));
    t.answer(A, 1);
    t.req(B, 1, 1, Some(0), acquire_read("x", "v"));
    assert_eq!(t.answer(B, 1), Some(Err(CoordFail::TimedOut)));
    t.req(B, 2, 1, Some(30), acquire_read("x", "v"));
    t.advance(30);
    assert_eq!(t.answer(B, 2), Some(Err(CoordFail::TimedOut)));
    // A `SetRelease` on a wait cancels it, writing nothing.
    t.op(C, 1, acquire_read("x", "v"));
    t.op(C, 2, set_release(1, "v", 1));
    t.op(A, 2, CoordOp::Release { req: ReqId(1) });
    assert!(t.out.take().is_empty(), "C's wait was cancelled");
    assert_eq!(t.c.var("v"), None);
    assert_eq!(t.c.entries(), 0);
}
