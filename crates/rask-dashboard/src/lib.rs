//! Rask's live dashboard: a web page updated over server-sent events, a
//! page per task ("why is this task waiting"), and Prometheus metrics, all
//! served from any [`ClusterState`].
//!
//! - [`Dashboard::serve`] runs the server on a thread of its own (a
//!   one-thread tokio runtime): what `Client::dashboard(addr)` uses for
//!   in-process clients.
//! - [`router`] is the same server as an axum `Router`, to mount in a
//!   program that already runs tokio (the scheduler's `--dashboard`).
//!
//! Routes: `/` (the dashboard), `/task?key=K` (a task's page),
//! `/api/status` (JSON), `/api/events` (server-sent events: an `update`
//! every `interval` with the status and the task records, samples and
//! transfers since the previous one), `/api/graph.svg`, `/api/graph.dot`,
//! `/api/explain?key=K` (JSON), `/metrics` (Prometheus text).
//!
//! The pages use only what the server serves: no CDN, no fonts, no
//! network beyond the dashboard itself.
//!
//! Every route asks for a token (`auth.rs`, as Jupyter does): the URL
//! printed at start carries it once (`?token=`, then a cookie), scripts and
//! Prometheus send `Authorization: Bearer TOKEN`; no token is `401`, a
//! wrong one `403`. [`guard`] puts the same check in front of any router
//! (the CLI's `/metrics`). [`Access::Open`] turns it off, for a trusted
//! network only.

mod auth;
mod pages;
mod server;

pub use auth::{guard, Access};
pub use server::{router, router_with, Dashboard, DashboardError, DashboardOptions};

pub use rask_diagnostics::ClusterState;
