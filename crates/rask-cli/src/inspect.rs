//! `rask status ADDR` and `rask explain ADDR KEY`: what a dashboard (a
//! scheduler's `--dashboard ADDR`, or a program's `client.dashboard(..)`)
//! knows, printed in a terminal. They read its JSON routes (`/api/status`,
//! `/api/explain?key=K`) over plain HTTP/1.1 (hyper) and print the same
//! text the library's `Display` gives.

use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rask::diagnostics::{Status, TaskDetail};

/// `rask status`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    /// The dashboard's address (`host:port`).
    address: String,
    /// Print the JSON as the dashboard sent it.
    #[arg(long)]
    json: bool,
}

/// `rask explain`.
#[derive(clap::Args, Debug)]
pub(crate) struct ExplainArgs {
    /// The dashboard's address (`host:port`).
    address: String,
    /// The task's key, as the dashboard shows it (`inc[17]`).
    key: String,
    /// Print the JSON as the dashboard sent it.
    #[arg(long)]
    json: bool,
}

pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<i32> {
    let body = get(&args.address, "/api/status")?;
    if args.json {
        println!("{body}");
        return Ok(0);
    }
    let s: Status = serde_json::from_str(&body)
        .with_context(|| format!("{} did not answer with a status", args.address))?;
    println!("{s}");
    Ok(0)
}

pub(crate) fn explain(args: &ExplainArgs) -> anyhow::Result<i32> {
    let key = percent_encoding::utf8_percent_encode(&args.key, percent_encoding::NON_ALPHANUMERIC);
    let path = format!("/api/explain?key={key}");
    let body = get(&args.address, &path)?;
    if args.json {
        println!("{body}");
        return Ok(0);
    }
    if let Ok(d) = serde_json::from_str::<TaskDetail>(&body) {
        println!("{d}");
        return Ok(0);
    }
    let why = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_owned))
        .unwrap_or(body);
    eprintln!("rask explain: {why}");
    Ok(1)
}

/// GETs `path` from `address` and returns the body (any status: the
/// dashboard's errors are JSON too).
fn get(address: &str, path: &str) -> anyhow::Result<String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let fetch = async {
            let stream = tokio::net::TcpStream::connect(address)
                .await
                .with_context(|| format!("cannot reach the dashboard at {address}"))?;
            let (mut send, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .with_context(|| format!("{address} does not speak HTTP"))?;
            tokio::spawn(conn);
            let req = hyper::Request::get(path)
                .header(hyper::header::HOST, address)
                .body(Empty::<Bytes>::new())?;
            let resp = send
                .send_request(req)
                .await
                .with_context(|| format!("{address} did not answer"))?;
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok(String::from_utf8_lossy(&body).into_owned())
        };
        match tokio::time::timeout(Duration::from_secs(10), fetch).await {
            Ok(r) => r,
            Err(_) => bail!("the dashboard at {address} did not answer within 10 s"),
        }
    })
}
