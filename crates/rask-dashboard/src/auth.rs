//! Who may read a dashboard or a `/metrics` endpoint: a token, as Jupyter
//! does.
//!
//! A request is let in when it carries the token in one of three places:
//!
//! 1. `Authorization: Bearer TOKEN` (scripts, `rask status`, Prometheus'
//!    `authorization` in a scrape config);
//! 2. the cookie this layer set earlier (`rask-token-PORT`: `HttpOnly`,
//!    `SameSite=Strict`, path `/`), so the page's own requests
//!    (`/api/events`, the graph) need nothing more;
//! 3. `?token=TOKEN` in the query: the URL printed at start, opened once.
//!    The answer sets the cookie; a page (`GET` of an HTML route) is
//!    redirected to the same URL without the token, so it does not stay in
//!    the address bar or the history.
//!
//! No token: `401 Unauthorized` with `WWW-Authenticate: Bearer`. A wrong
//! token (in any of the three): `403 Forbidden`. Tokens are compared in
//! constant time. [`Access::Open`] lets everyone in: only for a trusted
//! network, and the caller says so (`--dashboard-no-auth`).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Who may read: the holders of a token, or everyone.
#[derive(Clone, PartialEq, Eq)]
pub enum Access {
    /// Requests must carry this token (module docs: where).
    Token(String),
    /// No authentication: for a trusted network only.
    Open,
}

impl Access {
    /// A fresh random token (32 random bytes as 64 hex digits).
    pub fn random() -> std::io::Result<Access> {
        let mut raw = [0u8; 32];
        getrandom::getrandom(&mut raw)
            .map_err(|e| std::io::Error::other(format!("no randomness for a token: {e}")))?;
        Ok(Access::Token(
            raw.iter().map(|b| format!("{b:02x}")).collect(),
        ))
    }

    /// The token, if one is asked for.
    pub fn token(&self) -> Option<&str> {
        match self {
            Access::Token(t) => Some(t),
            Access::Open => None,
        }
    }

    /// `http://ADDR/PATH`, with `?token=` when one is asked for: the URL
    /// to print for a person to open.
    pub fn url(&self, addr: std::net::SocketAddr, path: &str) -> String {
        match self {
            Access::Token(t) => format!("http://{addr}{path}?token={t}"),
            Access::Open => format!("http://{addr}{path}"),
        }
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::Token(_) => f.write_str("Access::Token(<redacted>)"),
            Access::Open => f.write_str("Access::Open"),
        }
    }
}

/// `router` with every route behind `access` (module docs).
pub fn guard(router: Router, access: Access) -> Router {
    match access {
        Access::Open => router,
        Access::Token(t) => router.layer(middleware::from_fn_with_state(
            std::sync::Arc::<str>::from(t),
            check,
        )),
    }
}

/// What a request carried.
enum Presented<'a> {
    Nothing,
    Right,
    Wrong(&'a str),
}

async fn check(State(token): State<std::sync::Arc<str>>, req: Request, next: Next) -> Response {
    let from_query = query_token(req.uri().query());
    let mut seen = Presented::Nothing;
    for candidate in bearer(req.headers())
        .into_iter()
        .chain(cookies(req.headers()))
        .chain(from_query.as_deref())
    {
        if same(candidate.as_bytes(), token.as_bytes()) {
            seen = Presented::Right;
            break;
        }
        seen = Presented::Wrong("the token given is not this server's");
    }
    match seen {
        Presented::Nothing => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"rask\"")],
            "this server asks for its token: open the URL it printed at start \
             (...?token=...), or send `Authorization: Bearer TOKEN`\n",
        )
            .into_response(),
        Presented::Wrong(why) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
        Presented::Right if from_query.is_none() => next.run(req).await,
        Presented::Right => {
            let cookie = set_cookie(req.headers(), &token);
            let page = req.method() == axum::http::Method::GET && is_page(req.uri().path());
            let mut resp = if page {
                let to = without_token(req.uri());
                (
                    StatusCode::SEE_OTHER,
                    [
                        (header::LOCATION, to),
                        (header::CACHE_CONTROL, "no-store".to_owned()),
                    ],
                )
                    .into_response()
            } else {
                next.run(req).await
            };
            if let Some(c) = cookie {
                resp.headers_mut().append(header::SET_COOKIE, c);
            }
            resp
        }
    }
}

/// The HTML routes (the others answer data, and are fetched by the page).
fn is_page(path: &str) -> bool {
    matches!(path, "/" | "/task")
}

fn bearer(h: &HeaderMap) -> Option<&str> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// The values of the cookies this layer sets (any port's).
fn cookies(h: &HeaderMap) -> impl Iterator<Item = &str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            k.starts_with(COOKIE).then_some(v)
        })
}

const COOKIE: &str = "rask-token";

/// `?token=` (or `&token=`) of a query string, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let v = kv.strip_prefix("token=")?;
        Some(
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned(),
        )
    })
}

/// The request's URI without its `token=` parameter.
fn without_token(uri: &axum::http::Uri) -> String {
    let rest: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("token="))
        .collect();
    if rest.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), rest.join("&"))
    }
}

/// The cookie, named after the port the request was sent to: cookies are
/// shared by every port of a host, and two dashboards on one machine must
/// not log each other out.
fn set_cookie(h: &HeaderMap, token: &str) -> Option<HeaderValue> {
    let port = h
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|host| host.rsplit_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or("80");
    HeaderValue::from_str(&format!(
        "{COOKIE}-{port}={token}; Path=/; HttpOnly; SameSite=Strict"
    ))
    .ok()
}

/// Equal and not empty, in time that depends only on the lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    !a.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_taken_out_of_the_url() {
        let u: axum::http::Uri = "/task?key=a%5B1%5D&token=abc".parse().unwrap_or_default();
        assert_eq!(without_token(&u), "/task?key=a%5B1%5D");
        let u: axum::http::Uri = "/?token=abc".parse().unwrap_or_default();
        assert_eq!(without_token(&u), "/");
        assert_eq!(
            query_token(Some("key=1&token=a%2Bb")).as_deref(),
            Some("a+b")
        );
        assert_eq!(query_token(Some("key=1")), None);
    }

    #[test]
    fn comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"ab"));
        assert!(!same(b"", b""));
    }
}
