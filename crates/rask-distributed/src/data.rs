//! Moving values: a holder's data port and the fetchers that read from it,
//! over either transport. The address says which: `unix:@name` is a local
//! socket (values lent as shared memory, `local/data.rs`), anything else is
//! `host:port` over TCP.
//!
//! On TCP, after the handshake, the fetcher sends `DataRequest::Get` frames;
//! the holder answers each with a `DataReply` frame giving every value's
//! length (`None`: not held), then the present values' bytes, raw, in order
//! (rule 7 of `wire/frame.rs`). So a value of any size moves as one stream
//! with TCP's own back-pressure: no frame limit applies to data, and
//! nothing is buffered whole on the way but the value itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::bytes::Bytes;
use crate::local::data::{Holder, LocalPeers, PREFIX};
use crate::proto::{DataReply, DataRequest, Gid};
use crate::wire::{connect_tcp, Role, TcpFrameReader, TcpFrameWriter, WireConfig};
use crate::Error;

/// The largest value a fetcher accepts from a holder (a holder announcing
/// more is broken or hostile).
pub(crate) const MAX_VALUE: u64 = 1 << 40;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Answers `Get`s on an accepted TCP data connection until the other side
/// leaves.
pub(crate) async fn serve_tcp(mut r: TcpFrameReader, mut w: TcpFrameWriter, holder: &dyn Holder) {
    loop {
        match r.recv::<DataRequest>().await {
            Ok(Some(DataRequest::Get { gids })) => {
                let values: Vec<Option<Bytes>> = gids.iter().map(|g| holder.get(*g)).collect();
                let sizes = values
                    .iter()
                    .map(|v| v.as_ref().map(|b| b.len() as u64))
                    .collect();
                if w.send(&DataReply { sizes }).await.is_err() {
                    return;
                }
                for v in values.iter().flatten() {
                    if w.write_raw(v.as_slice()).await.is_err() {
                        return;
                    }
                }
                if w.flush().await.is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "data connection failed");
                return;
            }
        }
    }
}

/// One reusable connection to a TCP data port (`None` until made, or
/// after it failed).
type TcpConn = Arc<tokio::sync::Mutex<Option<(TcpFrameReader, TcpFrameWriter)>>>;

/// Connections to other processes' data ports, one per address, reused.
pub(crate) struct Peers {
    wire: WireConfig,
    tcp: Mutex<HashMap<String, TcpConn>>,
    local: Arc<LocalPeers>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers").finish_non_exhaustive()
    }
}

impl Peers {
    pub(crate) fn new(wire: WireConfig) -> Peers {
        Peers {
            wire,
            tcp: Mutex::new(HashMap::new()),
            local: Arc::default(),
        }
    }

    /// The values `gids` from the holder at `addr` (`None` for any it does
    /// not hold); `Err` if it cannot be reached or breaks the protocol.
    pub(crate) async fn get(
        &self,
        addr: &str,
        gids: Vec<Gid>,
    ) -> Result<Vec<Option<Bytes>>, Error> {
        if addr.starts_with(PREFIX) {
            let local = self.local.clone();
            let addr = addr.to_owned();
            return tokio::task::spawn_blocking(move || local.get(&addr, &gids))
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?
                .map_err(Error::Io);
        }
        let conn = lock(&self.tcp).entry(addr.to_owned()).or_default().clone();
        let mut c = conn.lock().await;
        if c.is_none() {
            *c = Some(connect_tcp(addr, &self.wire, Role::Peer).await?);
        }
        let result = async {
            let Some((r, w)) = c.as_mut() else {
                return Err(Error::Disconnected);
            };
            let n = gids.len();
            w.send(&DataRequest::Get { gids }).await?;
            w.flush().await?;
            let reply = match r.recv::<DataReply>().await? {
                Some(reply) if reply.sizes.len() == n => reply,
                Some(_) => {
                    return Err(Error::Refused(
                        "a data reply of the wrong length".to_owned(),
                    ))
                }
                None => return Err(Error::Disconnected),
            };
            let mut values = Vec::with_capacity(n);
            for size in reply.sizes {
                let Some(len) = size else {
                    values.push(None);
                    continue;
                };
                if len > MAX_VALUE {
                    return Err(Error::Refused(format!(
                        "a holder announced a value of {len} bytes"
                    )));
                }
                // Fresh pages from the allocator are zero already: this
                // costs no pass over the memory before the read fills it.
                let mut v = rask_core::zeroed_bytes(len as usize);
                r.read_raw(&mut v).await?;
                values.push(Some(Bytes::from_vec(v)));
            }
            Ok(values)
        }
        .await;
        if result.is_err() {
            *c = None;
        }
        result
    }

    /// One value, or `None` (logged) if it cannot be had from `addr`.
    pub(crate) async fn fetch(&self, addr: &str, gid: Gid) -> Option<Bytes> {
        match self.get(addr, vec![gid]).await {
            Ok(mut v) => v.pop().flatten(),
            Err(e) => {
                tracing::warn!(%addr, error = %e, "could not fetch a value");
                None
            }
        }
    }
}
