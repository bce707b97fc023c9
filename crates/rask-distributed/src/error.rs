//! The distributed runtime's errors.

use crate::wire::WireError;

/// What went wrong starting or talking to a scheduler or worker.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The connection or handshake failed (wrong secret, version, garbage...).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A socket, thread or process could not be made.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The scheduler refused something (a graph, a worker's name).
    #[error("refused by the scheduler: {0}")]
    Refused(String),
    /// The scheduler went away.
    #[error("the scheduler connection is closed")]
    Disconnected,
    /// A setting is not valid.
    #[error("{0}")]
    Config(String),
    /// Workers could not be added or retired.
    #[error("scaling: {0}")]
    Scale(String),
    /// A Slurm command failed.
    #[error(transparent)]
    Slurm(#[from] crate::slurm::SlurmError),
}
