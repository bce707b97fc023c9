//! Queues: FIFO items with at-least-once delivery. A `Get` gives an item
//! out; it is gone only when acknowledged (`Ack`), and goes back to the
//! front of its queue if its taker releases it, ends its session without
//! acknowledging it, or dies. A bounded queue makes putters wait, in
//! order, while it holds `bound` items (items coming back may exceed it).

use std::collections::VecDeque;

use super::{answer, Coord, Ctx, Entry, Held, Key, Replies, Wait};
use crate::proto::{CoordAnswer, CoordFail, SessionId};

/// An item and how many times it came back unacknowledged.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(super) bytes: Vec<u8>,
    pub(super) redelivered: u32,
}

#[derive(Debug, Default)]
pub(super) struct Queue {
    pub(super) items: VecDeque<Item>,
    /// 0: unbounded.
    pub(super) bound: u32,
    pub(super) getters: VecDeque<Key>,
    pub(super) putters: VecDeque<(Key, Vec<u8>)>,
    /// Items given out and not acknowledged.
    pub(super) out: u32,
}

impl Queue {
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }
    fn has_room(&self) -> bool {
        self.bound == 0 || self.items.len() < self.bound as usize
    }
}

impl Coord {
    pub(super) fn put(
        &mut self,
        cx: &Ctx,
        name: String,
        bytes: Vec<u8>,
        bound: u32,
        out: &mut impl Replies,
    ) {
        let q = self.queues.entry(name.clone()).or_default();
        if bound != 0 && q.bound != bound {
            if q.bound == 0 && q.items.is_empty() && q.putters.is_empty() {
                q.bound = bound;
            } else {
                let why = if q.bound == 0 {
                    format!(
                        "queue `{name}` is unbounded and in use; this asks for a bound of {bound}"
                    )
                } else {
                    format!(
                        "queue `{name}` is bounded to {}; this asks for {bound}",
                        q.bound
                    )
                };
                self.tidy_queue(&name);
                return answer(out, cx, Err(CoordFail::Conflict(why)));
            }
        }
        let item = Item {
            bytes,
            redelivered: 0,
        };
        if let Some(g) = q.getters.pop_front() {
            self.deliver(g, name, item, out);
            return answer(out, cx, Ok(CoordAnswer::Done));
        }
        if q.has_room() {
            q.items.push_back(item);
            return answer(out, cx, Ok(CoordAnswer::Done));
        }
        if self.park(cx, Wait::Put(name.clone()), out) {
            if let Some(q) = self.queues.get_mut(&name) {
                q.putters.push_back((cx.key(), item.bytes));
            }
        }
    }

    pub(super) fn get(&mut self, cx: &Ctx, name: String, out: &mut impl Replies) {
        let q = self.queues.entry(name.clone()).or_default();
        if let Some(item) = q.items.pop_front() {
            self.entries.insert(
                cx.key(),
                Entry {
                    session: cx.session,
                    // Replaced by `deliver`.
                    held: Held::Waiting(Wait::Get(name.clone())),
                },
            );
            self.deliver(cx.key(), name.clone(), item, out);
            self.admit_putters(&name, out);
            return;
        }
        if self.park(cx, Wait::Get(name.clone()), out) {
            if let Some(q) = self.queues.get_mut(&name) {
                q.getters.push_back(cx.key());
            }
        } else {
            self.tidy_queue(&name);
        }
    }

    /// Gives `item` to the getter `g` (an entry, waiting): it is out until
    /// acknowledged.
    fn deliver(&mut self, g: Key, queue: String, item: Item, out: &mut impl Replies) {
        if let Some(q) = self.queues.get_mut(&queue) {
            q.out += 1;
        }
        let a = CoordAnswer::Item {
            bytes: item.bytes.clone(),
            redelivered: item.redelivered,
        };
        self.fulfil(g, Some(Held::Item { queue, item }), a, out);
    }

    /// Moves waiting putters' items in while there is room.
    fn admit_putters(&mut self, name: &str, out: &mut impl Replies) {
        loop {
            let Some(q) = self.queues.get_mut(name) else {
                return;
            };
            if !q.has_room() {
                return;
            }
            let Some((p, bytes)) = q.putters.pop_front() else {
                return;
            };
            q.items.push_back(Item {
                bytes,
                redelivered: 0,
            });
            self.fulfil(p, None, CoordAnswer::Done, out);
        }
    }

    /// The item taken by `key` is done with.
    pub(super) fn ack(&mut self, key: Key) {
        if !matches!(
            self.entries.get(&key),
            Some(Entry {
                held: Held::Item { .. },
                ..
            })
        ) {
            return;
        }
        if let Some(Entry {
            held: Held::Item { queue, .. },
            ..
        }) = self.entries.remove(&key)
        {
            if let Some(q) = self.queues.get_mut(&queue) {
                q.out = q.out.saturating_sub(1);
            }
            self.tidy_queue(&queue);
        }
    }

    /// An item given out came back unacknowledged: first in line again.
    pub(super) fn requeue(
        &mut self,
        queue: String,
        mut item: Item,
        _session: SessionId,
        out: &mut impl Replies,
    ) {
        let q = self.queues.entry(queue.clone()).or_default();
        q.out = q.out.saturating_sub(1);
        item.redelivered += 1;
        match q.getters.pop_front() {
            Some(g) => self.deliver(g, queue, item, out),
            None => q.items.push_front(item),
        }
    }

    /// Forgets queue `name` if nothing is in it, out of it or waiting.
    pub(super) fn tidy_queue(&mut self, name: &str) {
        if self.queues.get(name).is_some_and(|q| {
            q.items.is_empty() && q.getters.is_empty() && q.putters.is_empty() && q.out == 0
        }) {
            self.queues.remove(name);
        }
    }
}
