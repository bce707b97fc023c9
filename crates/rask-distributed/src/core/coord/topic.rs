//! Publish/subscribe: a subscription keeps every message published to its
//! topic after it was made, in order, until taken with `Next`; beyond
//! [`SUB_BUFFER`] unread messages the oldest are dropped.
//! A message published to a topic nobody subscribes to goes nowhere.

use std::collections::VecDeque;

use super::{answer, Coord, Ctx, Entry, Held, Key, Replies, Wait};
use crate::proto::{CoordAnswer, CoordFail, CoordReply, ReqId};

/// Unread messages kept per subscription.
pub const SUB_BUFFER: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct Topic {
    pub(super) subs: Vec<Key>,
}

/// A subscription (an entry's `Held::Sub`).
#[derive(Debug)]
pub(crate) struct Sub {
    pub(super) topic: String,
    pub(super) buf: VecDeque<Vec<u8>>,
    /// The request of this peer waiting in `Next`, if any.
    pub(super) getter: Option<ReqId>,
}

impl Coord {
    pub(super) fn subscribe(&mut self, cx: &Ctx, topic: String, out: &mut impl Replies) {
        self.topics
            .entry(topic.clone())
            .or_default()
            .subs
            .push(cx.key());
        self.entries.insert(
            cx.key(),
            Entry {
                session: cx.session,
                held: Held::Sub(Sub {
                    topic,
                    buf: VecDeque::new(),
                    getter: None,
                }),
            },
        );
        answer(out, cx, Ok(CoordAnswer::Done));
    }

    pub(super) fn publish(&mut self, topic: &str, msg: Vec<u8>, out: &mut impl Replies) {
        let Some(t) = self.topics.get(topic) else {
            return;
        };
        for key in t.subs.clone() {
            let Some(Entry {
                held: Held::Sub(s), ..
            }) = self.entries.get_mut(&key)
            else {
                continue;
            };
            match s.getter.take() {
                Some(g) => {
                    let a = CoordAnswer::Value(Some(msg.clone()));
                    self.fulfil((key.0, g), None, a, out);
                }
                None => {
                    if s.buf.len() >= SUB_BUFFER {
                        s.buf.pop_front();
                    }
                    s.buf.push_back(msg.clone());
                }
            }
        }
    }

    pub(super) fn next(&mut self, cx: &Ctx, sub: ReqId, out: &mut impl Replies) {
        let Some(Entry {
            held: Held::Sub(s), ..
        }) = self.entries.get_mut(&(cx.from, sub))
        else {
            return answer(out, cx, Err(CoordFail::Closed));
        };
        if let Some(m) = s.buf.pop_front() {
            return answer(out, cx, Ok(CoordAnswer::Value(Some(m))));
        }
        if s.getter.is_some() {
            let why = "another wait for this subscription's next message is under way".to_owned();
            return answer(out, cx, Err(CoordFail::Conflict(why)));
        }
        if self.park(cx, Wait::Next(sub), out) {
            if let Some(Entry {
                held: Held::Sub(s), ..
            }) = self.entries.get_mut(&(cx.from, sub))
            {
                s.getter = Some(cx.req);
            }
        }
    }

    /// Subscription `key` is dropped; a `Next` waiting on it is told
    /// `Closed`.
    pub(super) fn unsubscribe(&mut self, key: Key, sub: Sub, out: &mut impl Replies) {
        if let Some(t) = self.topics.get_mut(&sub.topic) {
            t.subs.retain(|k| *k != key);
            if t.subs.is_empty() {
                self.topics.remove(&sub.topic);
            }
        }
        if let Some(g) = sub.getter {
            if self.entries.remove(&(key.0, g)).is_some() {
                out.reply(
                    key.0,
                    CoordReply {
                        req: g,
                        result: Err(CoordFail::Closed),
                    },
                );
            }
        }
    }
}
