//! Slurm (to come)
/// A Slurm command failed.
#[derive(Debug, thiserror::Error)]
#[error("slurm")]
pub struct SlurmError;
