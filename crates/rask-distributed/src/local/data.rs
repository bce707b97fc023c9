//! The data plane between local processes: `SOCK_SEQPACKET` sockets in the
//! abstract namespace, values passed as shared-memory descriptors.
//!
//! A process that holds values listens on `@rask-<pid>-<n>-<random>`
//! ([`serve`]); a connection is accepted only from a process of the same
//! user (`SO_PEERCRED`; abstract sockets have no file permissions). On a
//! connection the fetcher sends [`Req`]s and the server answers each `Get`
//! with one message per value, in order: `Missing`, the bytes (small), or
//! `Shared` with the segment's descriptor attached. The server keeps a handle
//! on every segment it lent until the fetcher sends `Unmapped` for it or the
//! connection closes (rule 2 of `shm.rs`); the fetcher sends `Unmapped` when
//! its last handle on the value goes.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};

use rask_core::format;
use serde::{Deserialize, Serialize};

use super::channel::{cvt, Channel, MAX_MESSAGE};
use super::shm::{Segment, Shm};
use crate::bytes::Bytes;
use crate::proto::Gid;

/// The prefix of a local data address (`unix:@name`).
pub(crate) const PREFIX: &str = "unix:@";

/// Most values per `Get` (the request must fit in one message).
const MAX_GIDS: usize = 4096;

/// What a fetcher sends.
#[derive(Debug, Serialize, Deserialize)]
enum Req {
    Get { gids: Vec<Gid> },
    Unmapped { gid: Gid },
}

/// One value of a `Get`'s answer.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Missing,
    Bytes(Vec<u8>),
    Shared { len: u64 },
}

/// What a data server serves: the values this process holds.
pub(crate) trait Holder: Send + Sync + 'static {
    fn get(&self, gid: Gid) -> Option<Bytes>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A `SOCK_SEQPACKET` socket of `AF_UNIX`.
fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket creation.
    let fd =
        cvt(unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The abstract address `@name`.
fn address(name: &str) -> io::Result<(libc::sockaddr_un, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_un is valid.
    let mut a: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    a.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = name.as_bytes();
    if bytes.len() + 1 > a.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("local address `{name}` is too long"),
        ));
    }
    // sun_path[0] stays 0: the abstract namespace.
    for (i, b) in bytes.iter().enumerate() {
        a.sun_path[i + 1] = *b as libc::c_char;
    }
    let len = std::mem::size_of::<libc::sa_family_t>() + 1 + bytes.len();
    Ok((a, len as libc::socklen_t))
}

/// A listening data socket and its address (`unix:@...`).
pub(crate) fn listen() -> io::Result<(OwnedFd, String)> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let mut raw = [0u8; 6];
    getrandom::getrandom(&mut raw).map_err(|e| io::Error::other(e.to_string()))?;
    let rand: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!(
        "rask-{}-{}-{rand}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let fd = socket()?;
    let (a, len) = address(&name)?;
    // SAFETY: binding our socket to a valid address of `len` bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len) })?;
    // SAFETY: listen on our bound socket.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), 128) })?;
    Ok((fd, format!("{PREFIX}{name}")))
}

/// Connects to the data socket at `addr` (`unix:@...`).
pub(crate) fn connect(addr: &str) -> io::Result<Channel> {
    let name = addr.strip_prefix(PREFIX).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{addr}` is not a local address"),
        )
    })?;
    let fd = socket()?;
    let (a, len) = address(name)?;
    loop {
        // SAFETY: connecting our socket to a valid address of `len` bytes.
        let r =
            unsafe { libc::connect(fd.as_raw_fd(), (&a as *const libc::sockaddr_un).cast(), len) };
        if r == 0 {
            return Ok(Channel::from_owned(fd));
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(io::Error::new(
                e.kind(),
                format!("cannot connect to {addr}: {e}"),
            ));
        }
    }
}

/// The user id of the process at the other end of `fd`.
fn peer_uid(fd: RawFd) -> io::Result<u32> {
    // SAFETY: an all-zero ucred is valid.
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt into a live struct of the stated size.
    cvt(unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    })?;
    Ok(cred.uid)
}

/// Accepts connections on `listener` and serves each on a thread of its
/// own, until the listener fails (it is shut down when the process ends).
pub(crate) fn serve(listener: OwnedFd, holder: Arc<dyn Holder>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("rask-data".into())
        .spawn(move || loop {
            // SAFETY: accept4 on our listening socket; no address wanted.
            let r = unsafe {
                libc::accept4(
                    listener.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::warn!(error = %e, "local data socket failed");
                return;
            }
            // SAFETY: a fresh descriptor we own.
            let fd = unsafe { OwnedFd::from_raw_fd(r) };
            // SAFETY: getuid cannot fail.
            let me = unsafe { libc::getuid() };
            match peer_uid(fd.as_raw_fd()) {
                Ok(uid) if uid == me => {}
                Ok(uid) => {
                    tracing::warn!(uid, "refused a local data connection from another user");
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "refused a local data connection");
                    continue;
                }
            }
            let holder = holder.clone();
            let _ = std::thread::Builder::new()
                .name("rask-data-conn".into())
                .spawn(move || serve_one(&Channel::from_owned(fd), &*holder));
        })?;
    Ok(())
}

fn serve_one(ch: &Channel, holder: &dyn Holder) {
    // Segments lent on this connection and not yet let go (rule 2).
    let mut lent: HashMap<Gid, Vec<Bytes>> = HashMap::new();
    let (mut buf, mut fds) = (Vec::new(), Vec::new());
    let mut out = Vec::new();
    loop {
        fds.clear();
        match ch.recv(&mut buf, &mut fds) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "local data connection failed");
                return;
            }
        }
        let req: Req = match format::from_slice(&buf) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "a malformed local data request; closing");
                return;
            }
        };
        match req {
            Req::Unmapped { gid } => {
                if let Some(v) = lent.get_mut(&gid) {
                    v.pop();
                    if v.is_empty() {
                        lent.remove(&gid);
                    }
                }
            }
            Req::Get { gids } => {
                for gid in gids {
                    let (reply, seg) = match holder.get(gid) {
                        None => (Reply::Missing, None),
                        Some(b @ Bytes::Shm(_)) => (
                            Reply::Shared {
                                len: b.len() as u64,
                            },
                            Some(b),
                        ),
                        Some(Bytes::Vec(v)) if v.len() + 64 <= MAX_MESSAGE => {
                            (Reply::Bytes(v.as_ref().clone()), None)
                        }
                        // A big value kept in private memory: copy it to
                        // shared memory to pass it.
                        Some(Bytes::Vec(v)) => {
                            match Bytes::write(v.len(), true, |b| {
                                rask_core::copy_bytes(b, &v);
                                Ok(())
                            }) {
                                Ok(b) => (
                                    Reply::Shared {
                                        len: b.len() as u64,
                                    },
                                    Some(b),
                                ),
                                Err(e) => {
                                    tracing::warn!(error = %e, "cannot lend a value");
                                    (Reply::Missing, None)
                                }
                            }
                        }
                    };
                    out.clear();
                    if format::append(&reply, &mut out).is_err() {
                        return;
                    }
                    let sent = match &seg {
                        Some(Bytes::Shm(s)) => ch.send(&out, &[s.fd()]),
                        _ => ch.send(&out, &[]),
                    };
                    if sent.is_err() {
                        return;
                    }
                    if let Some(b) = seg {
                        lent.entry(gid).or_default().push(b);
                    }
                }
            }
        }
    }
}

/// A connection to one holder's data socket.
struct Conn {
    ch: Channel,
    /// Held while a `Get` is answered, so answers do not interleave.
    busy: Mutex<()>,
}

/// Connections to local data sockets, one per address, reused.
#[derive(Default)]
pub(crate) struct LocalPeers {
    conns: Mutex<HashMap<String, Arc<Conn>>>,
}

impl std::fmt::Debug for LocalPeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPeers").finish_non_exhaustive()
    }
}

impl LocalPeers {
    /// The values `gids` from the holder at `addr` (`None` for any it does
    /// not hold); `Err` if it cannot be reached or breaks the protocol.
    pub(crate) fn get(&self, addr: &str, gids: &[Gid]) -> io::Result<Vec<Option<Bytes>>> {
        let conn = {
            let mut conns = lock(&self.conns);
            match conns.get(addr) {
                Some(c) => c.clone(),
                None => {
                    let c = Arc::new(Conn {
                        ch: connect(addr)?,
                        busy: Mutex::new(()),
                    });
                    conns.insert(addr.to_owned(), c.clone());
                    c
                }
            }
        };
        let r = Self::get_on(&conn, gids);
        if r.is_err() {
            lock(&self.conns).remove(addr);
        }
        r
    }

    fn get_on(conn: &Arc<Conn>, gids: &[Gid]) -> io::Result<Vec<Option<Bytes>>> {
        let mut values = Vec::with_capacity(gids.len());
        let _busy = lock(&conn.busy);
        let (mut buf, mut fds) = (Vec::new(), Vec::new());
        for chunk in gids.chunks(MAX_GIDS) {
            let req = format::to_vec(&Req::Get {
                gids: chunk.to_vec(),
            })
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            conn.ch.send(&req, &[])?;
            for &gid in chunk {
                fds.clear();
                if !conn.ch.recv(&mut buf, &mut fds)? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the holder closed the connection mid-answer",
                    ));
                }
                let reply: Reply = format::from_slice(&buf).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("a malformed data reply: {e}"),
                    )
                })?;
                values.push(match reply {
                    Reply::Missing => None,
                    Reply::Bytes(b) => Some(Bytes::from_vec(b)),
                    Reply::Shared { len } => {
                        let fd = fds.pop().ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                "a shared value came without its segment",
                            )
                        })?;
                        let seg = Segment::open(fd, len as usize)?;
                        let back = Arc::downgrade(conn);
                        Some(Bytes::Shm(Arc::new(Shm::lent(
                            seg,
                            Box::new(move || {
                                if let Some(c) = back.upgrade() {
                                    if let Ok(m) = format::to_vec(&Req::Unmapped { gid }) {
                                        let _ = c.ch.send(&m, &[]);
                                    }
                                }
                            }),
                        ))))
                    }
                });
            }
        }
        Ok(values)
    }
}

impl AsFd for Conn {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.ch.as_fd()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    struct Map(Mutex<HashMap<Gid, Bytes>>);
    impl Holder for Map {
        fn get(&self, gid: Gid) -> Option<Bytes> {
            lock(&self.0).get(&gid).cloned()
        }
    }

    #[test]
    fn values_are_lent_by_descriptor_and_given_back() {
        let big: Vec<u8> = (0..1_000_003u32).map(|i| (i % 251) as u8).collect();
        let shm = Bytes::write(big.len(), true, |b| {
            b.copy_from_slice(&big);
            Ok(())
        })
        .unwrap();
        assert!(matches!(shm, Bytes::Shm(_)));
        let mut m = HashMap::new();
        m.insert(Gid(1), Bytes::from_vec(vec![1, 2, 3]));
        m.insert(Gid(2), shm.clone());
        m.insert(Gid(3), Bytes::from_vec(vec![7; 200_000]));
        let holder = Arc::new(Map(Mutex::new(m)));
        let (l, addr) = listen().unwrap();
        serve(l, holder.clone()).unwrap();
        let peers = LocalPeers::default();
        let got = peers.get(&addr, &[Gid(2), Gid(9), Gid(1), Gid(3)]).unwrap();
        assert_eq!(got[0].as_ref().unwrap().as_slice(), &big[..]);
        assert!(got[1].is_none());
        assert_eq!(got[2].as_ref().unwrap().as_slice(), &[1, 2, 3]);
        assert_eq!(got[3].as_ref().unwrap().len(), 200_000);
        // The holder's handle plus the one lent.
        let Bytes::Shm(s) = &shm else { unreachable!() };
        assert_eq!(Arc::strong_count(s), 3);
        drop(got);
        // `Unmapped` reaches the server: its lent handle goes.
        let t0 = std::time::Instant::now();
        while Arc::strong_count(s) > 2 && t0.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(Arc::strong_count(s), 2);
        assert!(connect("unix:@no-such-rask-socket").is_err());
    }
}
