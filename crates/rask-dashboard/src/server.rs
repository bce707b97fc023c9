//! The HTTP server: routes over an `Arc<dyn ClusterState>`.
//!
//! Each `/api/events` connection keeps its own cursor into the state's
//! stream, so every client gets each task record once. The state's
//! methods are called on the runtime's blocking pool (`spawn_blocking`):
//! they take locks and may take milliseconds on big recordings.

use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use rask_diagnostics::{prometheus, ClusterState, Cursor, GRAPH_NODES};
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::auth::{guard, Access};
use crate::pages;

/// Settings of a dashboard.
#[derive(Clone, Debug)]
pub struct DashboardOptions {
    /// The page's title.
    pub title: String,
    /// How often `/api/events` sends an update.
    pub interval: Duration,
    /// Task records sent per update at most (the most recent).
    pub max_records: usize,
    /// Who may read it (`auth.rs`). `None`, the default: the holders of a
    /// fresh random token, made when it starts ([`Dashboard::url`] carries
    /// it).
    pub access: Option<Access>,
}

impl Default for DashboardOptions {
    fn default() -> Self {
        DashboardOptions {
            title: "Rask dashboard".to_owned(),
            interval: Duration::from_millis(500),
            max_records: 20_000,
            access: None,
        }
    }
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The address could not be bound.
    #[error("cannot serve the dashboard on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server's thread or runtime could not be started.
    #[error("cannot start the dashboard's server: {0}")]
    Start(std::io::Error),
    /// The client records nothing.
    #[error("this client records nothing: make it with `.with_recorder()` first")]
    NoRecorder,
}

#[derive(Clone)]
struct App {
    state: Arc<dyn ClusterState>,
    opts: Arc<DashboardOptions>,
}

/// The dashboard's routes over `state`, behind `access`, with the default
/// options.
pub fn router(state: Arc<dyn ClusterState>, access: Access) -> Router {
    router_with(
        state,
        DashboardOptions {
            access: Some(access),
            ..DashboardOptions::default()
        },
    )
    .map_or_else(|_| Router::new(), |(r, _)| r)
}

/// The dashboard's routes over `state`, behind `opts.access` (a random
/// token when `None`), and that access.
pub fn router_with(
    state: Arc<dyn ClusterState>,
    mut opts: DashboardOptions,
) -> Result<(Router, Access), DashboardError> {
    let access = match opts.access.take() {
        Some(a) => a,
        None => Access::random().map_err(DashboardError::Start)?,
    };
    let app = App {
        state,
        opts: Arc::new(opts),
    };
    let routes = Router::new()
        .route("/", get(index))
        .route("/task", get(task_page))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/graph.svg", get(graph_svg))
        .route("/api/graph.dot", get(graph_dot))
        .route("/api/explain", get(explain))
        .route("/metrics", get(metrics))
        .with_state(app);
    Ok((guard(routes, access.clone()), access))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Response> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response())
}

async fn index(State(app): State<App>) -> Html<String> {
    Html(pages::index(&app.opts.title))
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn task_page(Query(q): Query<KeyQuery>) -> Response {
    match q.key {
        Some(k) => Html(pages::task(&k)).into_response(),
        None => (StatusCode::BAD_REQUEST, "missing ?key=").into_response(),
    }
}

async fn status(State(app): State<App>) -> Response {
    match blocking(move || app.state.status()).await {
        Ok(s) => Json(s).into_response(),
        Err(e) => e,
    }
}

async fn metrics(State(app): State<App>) -> Response {
    match blocking(move || prometheus(&app.state.status())).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => e,
    }
}

async fn explain(State(app): State<App>, Query(q): Query<KeyQuery>) -> Response {
    let Some(key) = q.key else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "missing ?key="})),
        )
            .into_response();
    };
    match blocking(move || app.state.explain(&key)).await {
        Ok(Ok(d)) => Json(d).into_response(),
        Ok(Err(e)) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": e.to_string()})),
        )
            .into_response(),
        Err(e) => e,
    }
}

async fn graph_svg(State(app): State<App>) -> Response {
    match blocking(move || {
        app.state
            .graph()
            .map(|g| g.collapsed(GRAPH_NODES).svg_builtin())
    })
    .await
    {
        Ok(Some(svg)) => ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no graph kept").into_response(),
        Err(e) => e,
    }
}

async fn graph_dot(State(app): State<App>) -> Response {
    match blocking(move || app.state.graph().map(|g| g.collapsed(GRAPH_NODES).dot())).await {
        Ok(Some(dot)) => ([(header::CONTENT_TYPE, "text/vnd.graphviz")], dot).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no graph kept").into_response(),
        Err(e) => e,
    }
}

/// One update: the status and what was recorded since the cursor.
fn update(state: &dyn ClusterState, cursor: &Cursor, max: usize) -> (String, Cursor) {
    let stream = state.stream(cursor, max);
    let next = stream.cursor.clone();
    let status = state.status();
    let body = serde_json::json!({ "status": status, "stream": stream });
    (body.to_string(), next)
}

async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let s = stream::unfold(
        (app, Cursor::default(), true),
        |(app, cursor, first)| async move {
            if !first {
                tokio::time::sleep(app.opts.interval).await;
            }
            let st = app.state.clone();
            let max = app.opts.max_records;
            let (body, next) =
                match tokio::task::spawn_blocking(move || update(&*st, &cursor, max)).await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!("rask dashboard: an update failed: {e}");
                        return None;
                    }
                };
            Some((
                Ok(SseEvent::default().event("update").data(body)),
                (app, next, false),
            ))
        },
    );
    Sse::new(s).keep_alive(KeepAlive::default())
}

/// A dashboard served on a thread of its own; stops when dropped.
#[derive(Debug)]
pub struct Dashboard {
    addr: SocketAddr,
    access: Access,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Dashboard {
    /// Serves `state` at `addr` (`127.0.0.1:8787`; port 0 picks a free one)
    /// with the default options.
    pub fn serve(
        state: Arc<dyn ClusterState>,
        addr: impl ToSocketAddrs,
    ) -> Result<Dashboard, DashboardError> {
        Self::serve_with(state, addr, DashboardOptions::default())
    }

    /// Serves `state` at `addr` with `opts`.
    pub fn serve_with(
        state: Arc<dyn ClusterState>,
        addr: impl ToSocketAddrs,
        opts: DashboardOptions,
    ) -> Result<Dashboard, DashboardError> {
        let shown = addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map_or_else(|| "the address given".to_owned(), |a| a.to_string());
        let listener = StdListener::bind(addr).map_err(|source| DashboardError::Bind {
            addr: shown.clone(),
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| DashboardError::Bind {
                addr: shown,
                source,
            })?;
        let local = listener.local_addr().map_err(DashboardError::Start)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .max_blocking_threads(2)
            .thread_name("rask-dashboard")
            .enable_all()
            .build()
            .map_err(DashboardError::Start)?;
        let (tx, rx) = oneshot::channel::<()>();
        let (app, access) = router_with(state, opts)?;
        let thread = std::thread::Builder::new()
            .name("rask-dashboard".into())
            .spawn(move || {
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!("rask dashboard: {e}");
                            return;
                        }
                    };
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("rask dashboard stopped: {e}");
                    }
                });
                // Open event streams never end by themselves: do not wait for them.
                rt.shutdown_timeout(Duration::from_millis(100));
            })
            .map_err(DashboardError::Start)?;
        Ok(Dashboard {
            addr: local,
            access,
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open: `http://ADDR/?token=TOKEN` (`http://ADDR/` when
    /// it is open to all).
    pub fn url(&self) -> String {
        self.access.url(self.addr, "/")
    }

    /// The token it asks for (none when open to all): send it as
    /// `Authorization: Bearer TOKEN`.
    pub fn token(&self) -> Option<&str> {
        self.access.token()
    }

    /// Stops serving and waits for the server's thread.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.shut();
    }
}
