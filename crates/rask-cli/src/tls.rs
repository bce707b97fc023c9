//! TLS settings on the command line: `--tls-cert`, `--tls-key`, `--tls-ca`,
//! `--tls-server-name`, each falling back to its `RASK_TLS_*` variable.
//! A scheduler needs the certificate and key; a worker all four (it serves
//! its data port and connects); a client the CA and the server name. Built
//! without the `tls` feature, any of them is an error, never ignored.

use std::path::PathBuf;

use rask::distributed::wire::WireConfig;

/// The TLS flags.
#[derive(clap::Args, Debug, Default, Clone)]
pub(crate) struct TlsArgs {
    /// PEM certificate chain to serve with (or RASK_TLS_CERT).
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of that certificate (or RASK_TLS_KEY).
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// PEM CA certificate(s) that signed the servers' certificates (or RASK_TLS_CA).
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<PathBuf>,
    /// The name in the servers' certificates (or RASK_TLS_SERVER_NAME).
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
}

impl TlsArgs {
    #[cfg(any(test, not(feature = "tls")))]
    fn any(&self) -> bool {
        self.tls_cert.is_some()
            || self.tls_key.is_some()
            || self.tls_ca.is_some()
            || self.tls_server_name.is_some()
    }
}

/// The wire settings: the secret from `RASK_SECRET`, TLS from the flags and
/// the environment.
#[cfg(feature = "tls")]
pub(crate) fn wire(args: &TlsArgs) -> anyhow::Result<WireConfig> {
    use anyhow::Context;
    use rask::distributed::wire::TlsFiles;
    let env = TlsFiles::from_env().unwrap_or_default();
    let files = TlsFiles {
        cert: args.tls_cert.clone().or(env.cert),
        key: args.tls_key.clone().or(env.key),
        ca: args.tls_ca.clone().or(env.ca),
        server_name: args.tls_server_name.clone().or(env.server_name),
    };
    let mut wire = WireConfig::from_env();
    if files != TlsFiles::default() {
        let tls = files.load().context("TLS settings")?;
        wire.tls = Some(std::sync::Arc::new(tls));
    }
    Ok(wire)
}

/// The wire settings: the secret from `RASK_SECRET`; TLS flags are an
/// error in this build, and so are `RASK_TLS_*` ([`WireConfig::try_from_env`]).
#[cfg(not(feature = "tls"))]
pub(crate) fn wire(args: &TlsArgs) -> anyhow::Result<WireConfig> {
    if args.any() {
        anyhow::bail!(
            "TLS flags were given, but this rask was built without TLS \
             (cargo install rask-cli --features tls)"
        );
    }
    Ok(WireConfig::try_from_env()?)
}

/// The wire settings of a command that only connects: TLS from the
/// environment alone.
pub(crate) fn client_wire() -> anyhow::Result<WireConfig> {
    wire(&TlsArgs::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_files() {
        let a = TlsArgs {
            tls_ca: Some("/nonexistent/ca.pem".into()),
            ..TlsArgs::default()
        };
        assert!(a.any());
        // A CA without a server name, or a file that is not there: an error.
        let e = wire(&a).unwrap_err();
        assert!(format!("{e:#}").contains("TLS"), "{e:#}");
    }
}
