//! `--metrics ADDR` of `rask scheduler` and `rask slurm`: an HTTP server on
//! a thread of its own with `/metrics` (the scheduler's report in
//! Prometheus' text format, adaptive scaling's wanted workers among it)
//! and `/health` (200 while the scheduler answers within 2 s: what a
//! Kubernetes probe or a load balancer asks). It is a client of the
//! scheduler like any other, over loopback with the secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use rask::distributed::wire::WireConfig;
use rask::Connection;

/// Starts serving on `listen` for the scheduler on this machine's `port`.
pub(crate) fn serve(listen: SocketAddr, port: u16, wire: WireConfig) -> anyhow::Result<()> {
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
    println!("rask: metrics at http://{}/metrics", listener.local_addr()?);
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .with_state(conn);
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
        Some(r) => (StatusCode::OK, format!("ok: {} workers\n", r.workers.len())),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the scheduler did not answer\n".to_owned(),
        ),
    }
}
