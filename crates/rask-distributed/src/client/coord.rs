//! A [`Connection`] as a coordination [`Link`]: the driver program (or any
//! thread holding the client) reaches the scheduler's locks, queues and
//! variables by name, as tasks do. Its requests belong to the connection
//! (session 0): what it holds is released when the connection closes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::Connection;
use crate::coord::{Link, Ticket};
use crate::proto::{CoordFail, CoordRequest, FromClient, ReqId};

impl Link for Connection {
    fn next_req(&self) -> ReqId {
        ReqId(self.next_coord.fetch_add(1, Ordering::Relaxed))
    }

    fn send(&self, req: CoordRequest, ticket: Option<Arc<Ticket>>) -> Result<(), CoordFail> {
        let id = req.req;
        if let Some(t) = ticket {
            self.coord.add(id, t)?;
        }
        Connection::send(self, FromClient::Coord(req)).map_err(|_| {
            self.coord.remove(id);
            CoordFail::Disconnected
        })
    }
}
