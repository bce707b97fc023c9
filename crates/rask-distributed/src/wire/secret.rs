//! The shared secret. It is only ever used as an HMAC key: it never crosses
//! the wire and its `Debug` does not print it.
//!
//! Secure by default (as Jupyter does with its token): a scheduler given no
//! secret makes one ([`Secret::generate`]) and writes it to
//! [`secret_file`]`(port)`, a file only its user can read, in a directory
//! only its user can enter ([`runtime_dir`]). A client or worker given no
//! secret, connecting to an address of this machine, reads it from there
//! ([`super::WireConfig::or_local_secret`]).
//!
//! Rules:
//! 1. The runtime directory is created with mode 0700 and used only if it is
//!    a directory (not a link) owned by this user that no one else may enter.
//! 2. A secret file is written whole under a temporary name (mode 0600,
//!    created new) and renamed into place, so a reader never sees part of
//!    one; it is read only if it is a plain file owned by this user that no
//!    one else may read. Anything else is treated as no file (and logged).
//! 3. The file is removed when the scheduler that wrote it stops (a crashed
//!    scheduler's file is replaced by the next one on that port, or removed
//!    by it when that one was given its secret: a file for a port that a
//!    live scheduler holds is its own or none).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The environment variable [`Secret::from_env`] reads.
pub const SECRET_ENV: &str = "RASK_SECRET";
/// Overrides [`runtime_dir`].
pub const RUNTIME_DIR_ENV: &str = "RASK_RUNTIME_DIR";

/// A shared secret of a cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// A secret from any bytes (a string is fine).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret in `RASK_SECRET`, if set and not empty.
    pub fn from_env() -> Option<Secret> {
        let v = std::env::var_os(SECRET_ENV)?;
        let bytes = v.into_encoded_bytes();
        (!bytes.is_empty()).then_some(Secret(bytes))
    }

    /// A fresh random secret: 32 random bytes as 64 hex digits (so it can
    /// be passed on as `RASK_SECRET`).
    pub fn generate() -> std::io::Result<Secret> {
        random_hex(32).map(Secret::new)
    }

    /// The secret in the file at `path`, if the file is there and private
    /// to this user (rule 2); `Ok(None)` when there is no file.
    pub fn from_file(path: &Path) -> std::io::Result<Option<Secret>> {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_file() || meta.uid() != uid() || meta.mode() & 0o077 != 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a file private to this user (mode {:o}, owner {}); not used",
                    path.display(),
                    meta.mode() & 0o7777,
                    meta.uid()
                ),
            ));
        }
        let text = std::fs::read(path)?;
        let text = text.trim_ascii();
        Ok((!text.is_empty()).then(|| Secret::new(text)))
    }

    /// Writes the secret to `path` (rule 2); the directory must exist.
    pub(crate) fn write_private(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let written = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&self.0)?;
            f.write_all(b"\n")?;
            std::fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The token of the cluster's HTTP endpoints (the scheduler's dashboard
    /// and `/metrics`): HMAC-SHA256 of a fixed label keyed with the secret,
    /// as 64 hex digits. One way: the token lets a browser or Prometheus
    /// read those pages, never join the cluster, and whoever holds the
    /// secret can work it out (`rask token`).
    pub fn http_token(&self) -> String {
        use hmac::{Hmac, Mac};
        match Hmac::<sha2::Sha256>::new_from_slice(&self.0) {
            Ok(mut m) => {
                m.update(b"rask http token v1");
                m.finalize()
                    .into_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            }
            // HMAC takes a key of any length; kept total all the same.
            Err(_) => String::new(),
        }
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// `n` random bytes as hex digits.
pub(crate) fn random_hex(n: usize) -> std::io::Result<String> {
    let mut raw = vec![0u8; n];
    getrandom::getrandom(&mut raw)
        .map_err(|e| std::io::Error::other(format!("no randomness: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory of ours.
    unsafe { libc::getuid() }
}

/// Where schedulers of this user write their secrets: `RASK_RUNTIME_DIR`,
/// else `$XDG_RUNTIME_DIR/rask`, else `~/.local/share/rask/runtime`, else
/// `/tmp/rask-UID`.
pub fn runtime_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(d) = env(RUNTIME_DIR_ENV) {
        return d;
    }
    if let Some(d) = env("XDG_RUNTIME_DIR") {
        return d.join("rask");
    }
    if let Some(h) = env("HOME") {
        return h.join(".local/share/rask/runtime");
    }
    PathBuf::from(format!("/tmp/rask-{}", uid()))
}

/// The file where the scheduler on `port` of this machine keeps the secret
/// it made.
pub fn secret_file(port: u16) -> PathBuf {
    runtime_dir().join(format!("scheduler-{port}.secret"))
}

/// Creates [`runtime_dir`] if needed and checks it is private (rule 1).
pub(crate) fn private_runtime_dir() -> std::io::Result<PathBuf> {
    let dir = runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)?;
    let meta = std::fs::symlink_metadata(&dir)?;
    if !meta.is_dir() || meta.uid() != uid() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory of this user: cannot keep a secret there",
                dir.display()
            ),
        ));
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(dir)
}

/// A secret file that is removed when dropped (rule 3).
#[derive(Debug)]
pub(crate) struct SecretFile(pub(crate) PathBuf);

impl SecretFile {
    /// Writes `secret` as the secret of the scheduler on `port`.
    pub(crate) fn write(secret: &Secret, port: u16) -> std::io::Result<SecretFile> {
        private_runtime_dir()?;
        let path = secret_file(port);
        secret.write_private(&path)?;
        Ok(SecretFile(path))
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_the_secret() {
        let s = Secret::new("hunter2");
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert_eq!(s.bytes(), b"hunter2");
    }

    #[test]
    fn generated_secrets_are_fresh_hex() {
        let (a, b) = (Secret::generate().unwrap(), Secret::generate().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.bytes().len(), 64);
        assert!(a.bytes().iter().all(u8::is_ascii_hexdigit));
    }

    #[test]
    fn a_secret_file_is_private_and_only_a_private_one_is_read() {
        let dir = std::env::temp_dir().join(format!("rask-secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.secret");
        let s = Secret::generate().unwrap();
        s.write_private(&path).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(Secret::from_file(&path).unwrap(), Some(s.clone()));
        // Readable by others: refused, not used.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = Secret::from_file(&path).unwrap_err();
        assert!(
            e.to_string().contains("not a file private to this user"),
            "{e}"
        );
        // A link, even to a private file: refused.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.join("link.secret");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(Secret::from_file(&link).is_err());
        // No file: no secret, no error.
        assert_eq!(Secret::from_file(&dir.join("none")).unwrap(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
