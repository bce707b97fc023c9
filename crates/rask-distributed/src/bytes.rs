//! [`Bytes`]: an encoded value held in this process, in its own memory or
//! in shared memory (a local worker's big values), cheap to clone.

use std::sync::Arc;

use crate::local::shm::{self, Shm};

/// Values above this size live in shared memory on local transports, so
/// that another process can read them without a copy.
pub(crate) const SHM_MIN: usize = 16 * 1024;

/// An encoded value.
#[derive(Clone, Debug)]
pub(crate) enum Bytes {
    Vec(Arc<Vec<u8>>),
    Shm(Arc<Shm>),
}

impl Bytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Vec(v) => v,
            Bytes::Shm(s) => s.as_slice(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Bytes::Vec(v) => v.len(),
            Bytes::Shm(s) => s.len(),
        }
    }

    pub(crate) fn from_vec(v: Vec<u8>) -> Bytes {
        Bytes::Vec(Arc::new(v))
    }

    /// No bytes (a placeholder; allocates nothing after the first call).
    pub(crate) fn empty() -> Bytes {
        static EMPTY: std::sync::OnceLock<Arc<Vec<u8>>> = std::sync::OnceLock::new();
        Bytes::Vec(EMPTY.get_or_init(|| Arc::new(Vec::new())).clone())
    }

    /// `len` bytes written by `write`, in shared memory when `shared` and
    /// the value is big enough to be worth it.
    pub(crate) fn write(
        len: usize,
        shared: bool,
        write: impl FnOnce(&mut [u8]) -> Result<(), String>,
    ) -> Result<Bytes, String> {
        if shared && len > SHM_MIN {
            return shm::fill(len, write).map(Bytes::Shm);
        }
        let mut v = rask_core::zeroed_bytes(len);
        write(&mut v)?;
        Ok(Bytes::from_vec(v))
    }

    /// `v` encoded where it will go: `Ok` inline (at most `inline_max`
    /// bytes), `Err` kept in this process (in shared memory when `shared`
    /// and big). A value whose encoded length is known (vectors of
    /// numbers) is written straight there, with no buffer in between.
    pub(crate) fn encode(
        codec: &rask_core::Codec,
        v: &rask_core::Value,
        inline_max: usize,
        shared: bool,
    ) -> Result<Result<Vec<u8>, Bytes>, String> {
        if let Some(len) = (codec.exact_len)(v) {
            if len > inline_max {
                return Bytes::write(len, shared, |b| (codec.write)(v, b)).map(Err);
            }
        }
        let mut out = Vec::new();
        (codec.encode)(v, &mut out)?;
        if out.len() <= inline_max {
            return Ok(Ok(out));
        }
        if shared && out.len() > SHM_MIN {
            return Bytes::write(out.len(), true, |b| {
                rask_core::copy_bytes(b, &out);
                Ok(())
            })
            .map(Err);
        }
        Ok(Err(Bytes::from_vec(out)))
    }
}
