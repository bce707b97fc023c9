//! The shared secret. It is only ever used as an HMAC key: it never crosses
//! the wire and its `Debug` does not print it.

/// The environment variable [`Secret::from_env`] reads.
pub const SECRET_ENV: &str = "RASK_SECRET";

/// A shared secret of a cluster.
#[derive(Clone)]
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

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
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
}
