//! `--metrics ADDR` of `rask scheduler` and `rask slurm`: an HTTP server on
//! a thread of its own with `/metrics` (the scheduler's report in
//! Prometheus' text format, adaptive scaling's wanted workers among it)
//! and `/health` (200 while the scheduler answers within 2 s: what a
//! Kubernetes probe or a load balancer asks). It is a client of the
//! scheduler like any other, over loopback with the secret.
//!
//! `/metrics` asks for the token ([`http_access`]) as `Authorization:
//! Bearer TOKEN` (Prometheus: `authorization: {credentials_file: ...}` in
//! the scrape config); `/health` is open (a probe carries no token) and
//! says only whether the scheduler answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use rask::dashboard::Access;
use rask::distributed::wire::WireConfig;
use rask::Connection;

/// Who may read a scheduler's dashboard and `/metrics`: everyone when
/// `open` (the `--*-no-auth` flags), else the holders of `RASK_HTTP_TOKEN`
/// when set, else of the token derived from the cluster's secret.
pub(crate) fn http_access(open: bool, derived: Option<&str>) -> anyhow::Result<Access> {
    if open {
        return Ok(Access::Open);
    }
    if let Some(t) = std::env::var(crate::inspect::TOKEN_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        return Ok(Access::Token(t.trim().to_owned()));
    }
    match derived {
        Some(t) if !t.is_empty() => Ok(Access::Token(t.to_owned())),
        _ => anyhow::bail!(
            "no token for the HTTP endpoints: the cluster has no secret; set {} or RASK_SECRET",
            crate::inspect::TOKEN_ENV
        ),
    }
}

/// Starts serving on `listen` for the scheduler on this machine's `port`;
/// `/metrics` behind `access`.
pub(crate) fn serve(
    listen: SocketAddr,
    port: u16,
    wire: WireConfig,
    access: Access,
) -> anyhow::Result<()> {
    let conn = Arc::new(
        Connection::connect(&format!("127.0.0.1:{port}"), wire)
            .context("the metrics server connecting to its scheduler")?,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(listen))
        .with_context(|| format!("binding the metrics address {listen}"))?;
    let local = listener.local_addr()?;
    match access.token() {
        Some(t) => println!(
            "rask: metrics at http://{local}/metrics (send `Authorization: Bearer {t}`; /health is open)"
        ),
        None => println!("rask: metrics at http://{local}/metrics (no authentication)"),
    }
    let guarded = rask::dashboard::guard(
        Router::new()
            .route("/metrics", get(metrics))
            .with_state(conn.clone()),
        access,
    );
    let app = guarded.merge(Router::new().route("/health", get(health)).with_state(conn));
    std::thread::Builder::new()
        .name("rask-metrics".into())
        .spawn(move || {
            rt.block_on(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "the metrics server stopped");
                }
            });
        })?;
    Ok(())
}

/// The report, asked off the runtime (the connection's calls block).
async fn report(conn: Arc<Connection>) -> Option<rask::distributed::core::ClusterReport> {
    let ask = tokio::task::spawn_blocking(move || conn.cluster_report());
    match tokio::time::timeout(Duration::from_secs(2), ask).await {
        Ok(Ok(Ok(r))) => Some(r),
        _ => None,
    }
}

async fn metrics(State(conn): State<Arc<Connection>>) -> impl IntoResponse {
    match report(conn).await {
        Some(r) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            r.prometheus(),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain")],
            "the scheduler did not answer\n".to_owned(),
        ),
    }
}

async fn health(State(conn): State<Arc<Connection>>) -> impl IntoResponse {
    match report(conn).await {
        Some(_) => (StatusCode::OK, "ok\n".to_owned()),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler did not answer\n".to_owned(),
        ),
    }
}
