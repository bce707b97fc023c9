//! The local transport: what worker processes on the same machine share
//! besides the framed scheduler link (a Unix socket pair): `SOCK_SEQPACKET`
//! sockets that carry descriptors (`channel`), shared-memory segments
//! (`shm`), and the data plane built on both (`data`).

pub(crate) mod board;
pub(crate) mod channel;
pub(crate) mod data;
pub(crate) mod shm;
