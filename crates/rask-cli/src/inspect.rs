//! `rask status ADDR` and `rask explain ADDR KEY`: what a dashboard (a
//! scheduler's `--dashboard ADDR`, or a program's `client.dashboard(..)`)
//! knows, printed in a terminal. They read its JSON routes (`/api/status`,
//! `/api/explain?key=K`) over plain HTTP/1.1 (hyper) and print the same
//! text the library's `Display` gives.
//!
//! The dashboard asks for its token: ADDRESS may be the URL it printed
//! (`http://HOST:PORT/?token=TOKEN`), or `HOST:PORT` with the token in
//! `RASK_HTTP_TOKEN`; it is sent as `Authorization: Bearer`.

use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use rask::diagnostics::{Status, TaskDetail};

/// `rask status`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    /// The dashboard's URL as it printed it (`http://HOST:PORT/?token=...`),
    /// or `HOST:PORT` with the token in RASK_HTTP_TOKEN.
    address: String,
    /// Print the JSON as the dashboard sent it.
    #[arg(long)]
    json: bool,
}

/// `rask explain`.
#[derive(clap::Args, Debug)]
pub(crate) struct ExplainArgs {
    /// The dashboard's URL as it printed it (`http://HOST:PORT/?token=...`),
    /// or `HOST:PORT` with the token in RASK_HTTP_TOKEN.
    address: String,
    /// The task's key, as the dashboard shows it (`inc[17]`).
    key: String,
    /// Print the JSON as the dashboard sent it.
    #[arg(long)]
    json: bool,
}

/// `rask token`.
#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    /// The scheduler's address (`host:port`): its secret is read from
    /// RASK_SECRET, else from the file a scheduler on this machine wrote.
    #[arg(default_value = "127.0.0.1:8786")]
    scheduler: String,
}

/// Prints the token of a scheduler's dashboard and `/metrics`: derived from
/// its secret (`Secret::http_token`), unless RASK_HTTP_TOKEN gives it.
pub(crate) fn token(args: &TokenArgs) -> anyhow::Result<i32> {
    if let Ok(t) = std::env::var(TOKEN_ENV) {
        if !t.trim().is_empty() {
            println!("{}", t.trim());
            return Ok(0);
        }
    }
    let wire = rask::distributed::wire::WireConfig::from_env()
        .or_local_secret(&args.scheduler)
        .map_err(anyhow::Error::msg)?;
    match wire.secret {
        Some(s) => {
            println!("{}", s.http_token());
            Ok(0)
        }
        None => bail!("no secret for the scheduler at {}", args.scheduler),
    }
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

/// The environment variable that holds a dashboard's token.
pub(crate) const TOKEN_ENV: &str = "RASK_HTTP_TOKEN";

/// `HOST:PORT` and the token of ADDRESS (module docs).
fn target(address: &str) -> (String, Option<String>) {
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .unwrap_or(address);
    let (hostport, query) = match rest.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (rest, None),
    };
    let hostport = hostport.split('/').next().unwrap_or(hostport).to_owned();
    let token = query
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")))
        .map(|t| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        })
        .or_else(|| std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()));
    (hostport, token)
}

/// GETs `path` from ADDRESS and returns the body (any status but 401 and
/// 403: the dashboard's errors are JSON too).
fn get(address: &str, path: &str) -> anyhow::Result<String> {
    let (address, token) = target(address);
    let address = address.as_str();
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
            let mut req = hyper::Request::get(path).header(hyper::header::HOST, address);
            if let Some(t) = &token {
                req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = req.body(Empty::<Bytes>::new())?;
            let resp = send
                .send_request(req)
                .await
                .with_context(|| format!("{address} did not answer"))?;
            match resp.status() {
                hyper::StatusCode::UNAUTHORIZED => bail!(
                    "the dashboard at {address} asks for its token: give the URL it printed \
                     (http://{address}/?token=...), or set {TOKEN_ENV}"
                ),
                hyper::StatusCode::FORBIDDEN => {
                    bail!("the dashboard at {address} refused the token given")
                }
                _ => {}
            }
            let body = resp.into_body().collect().await?.to_bytes();
            anyhow::Ok(String::from_utf8_lossy(&body).into_owned())
        };
        match tokio::time::timeout(Duration::from_secs(10), fetch).await {
            Ok(r) => r,
            Err(_) => bail!("the dashboard at {address} did not answer within 10 s"),
        }
    })
}
