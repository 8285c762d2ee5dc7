//! Who may reach the server at all: the bind policy, the `Host` allow-list, the cross-origin
//! rules and the security headers every response carries.
//!
//! - **Bind policy** ([`BindPolicy::check`]): the server listens on loopback unless told
//!   otherwise, and refuses to start on any other address unless the AWS API verifies SigV4
//!   and the dashboard asks for a login; the local API starts containers, so it is as powerful
//!   as a Docker socket.
//! - **Host allow-list** ([`HostPolicy`]), on every route, the AWS API included: a page that
//!   rebinds its own DNS name to 127.0.0.1 is same-origin with itself and could otherwise call
//!   `RunTask`. Loopback addresses, `localhost` and `*.localhost` pass, plus the names given with
//!   `--allowed-host` and the address the server was bound to; everything else gets 403 saying
//!   which flag would allow it (as Vite and Jupyter do). A request with no `Host` at all
//!   (HTTP/1.0) passes: browsers always send one.
//! - **Cross-origin requests**: a request whose `Origin` is not the server's own, or whose
//!   `Sec-Fetch-Site` says another site or origin sent it, gets 403 — except a top-level
//!   navigation to a dashboard page (a link from elsewhere opens the app; it changes nothing).
//!   No CORS header is ever sent, so a preflight never succeeds.
//! - **Security headers**: `Content-Security-Policy` (unless the handler set its own, as the
//!   dashboard's `index.html` does with the hashes of its inline scripts),
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`.
//!
//! It does not authenticate anyone: SigV4 keys are [`crate::sigv4`]'s job and dashboard
//! sessions [`crate::session`]'s.

use std::net::{IpAddr, SocketAddr};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The policy every page and file gets unless its handler sets a stricter or more specific one:
/// the app's scripts and wasm from this origin only, nothing inline, no plugins, no framing.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The Content-Security-Policy for a page whose inline scripts have these SHA-256 hashes
/// (base64): [`DEFAULT_CSP`] plus those scripts. The dashboard sets styles through CSSOM only
/// (Leptos `style:` directives), so no inline style is allowed either.
pub fn page_csp(script_hashes: &[String]) -> String {
    let hashes: String = script_hashes
        .iter()
        .map(|h| format!(" 'sha256-{h}'"))
        .collect();
    DEFAULT_CSP.replacen(
        "script-src 'self' 'wasm-unsafe-eval'",
        &format!("script-src 'self' 'wasm-unsafe-eval'{hashes}"),
        1,
    )
}

/// Which `Host` headers the server answers.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    /// Extra names (`--allowed-host`), lower-case; a leading dot allows every subdomain.
    names: Vec<String>,
    /// The non-loopback address the server is bound to, if any.
    bound: Option<IpAddr>,
}

impl HostPolicy {
    /// Loopback names and addresses, plus `extra` names and the `bound` address.
    pub fn new(extra: &[String], bound: Option<IpAddr>) -> HostPolicy {
        HostPolicy {
            names: extra
                .iter()
                .map(|n| n.trim().to_ascii_lowercase())
                .collect(),
            bound: bound.filter(|ip| !ip.is_loopback() && !ip.is_unspecified()),
        }
    }

    /// Whether a request with this `Host` header value (port included or not) is answered.
    pub fn allows(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        if let Ok(ip) = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return ip.is_loopback() || Some(ip) == self.bound || self.names.contains(&name);
        }
        let name = name.trim_end_matches('.');
        if name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        self.names.iter().any(|n| match n.strip_prefix('.') {
            Some(domain) => name == domain || name.ends_with(n.as_str()),
            None => n == name,
        })
    }
}

/// The host part of a `Host` header value: `[::1]:7575` → `[::1]`, `a.b:80` → `a.b`.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// What `--bind` may be given, and what it needs.
#[derive(Debug, Clone, Copy)]
pub struct BindPolicy {
    /// The AWS API verifies SigV4 (`--sigv4 verify`).
    pub sigv4: bool,
    /// The dashboard needs a login (`--auth token`).
    pub login: bool,
}

impl BindPolicy {
    /// `Ok` when the server may listen on `addr`; otherwise the message to exit with.
    pub fn check(self, addr: SocketAddr) -> Result<(), String> {
        if addr.ip().is_loopback() || (self.sigv4 && self.login) {
            return Ok(());
        }
        let mut missing = Vec::new();
        if !self.sigv4 {
            missing.push("--sigv4 verify (AWS clients must sign with a key of --credentials-file)");
        }
        if !self.login {
            missing.push("--auth token (the dashboard asks for the login URL berth prints)");
        }
        Err(format!(
            "refusing to listen on {addr}: it is not a loopback address, and the local API can \
             start containers, so anyone who reaches it could run code on this machine. Listen \
             on 127.0.0.1 (the default), or turn on authentication: {}.",
            missing.join(" and ")
        ))
    }
}

/// The guard's configuration, shared with the middleware.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// The `Host` allow-list.
    pub hosts: HostPolicy,
}

/// Whether this request came from another site or origin, by `Origin` and `Sec-Fetch-Site`.
fn foreign(headers: &HeaderMap, host: &str) -> Option<String> {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let own = [format!("http://{host}"), format!("https://{host}")];
        if !own.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return Some(format!("requests from origin {origin} are not accepted"));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !matches!(site, "same-origin" | "none") {
            return Some(format!(
                "requests from another site or origin (Sec-Fetch-Site: {site}) are not accepted"
            ));
        }
    }
    None
}

/// A top-level navigation to one of the dashboard's pages: allowed from anywhere.
fn navigation(method: &Method, path: &str, headers: &HeaderMap) -> bool {
    let page = path == "/" || path == "/ui" || path.starts_with("/ui/");
    let navigate = headers
        .get("sec-fetch-mode")
        .is_some_and(|m| m.as_bytes() == b"navigate");
    (method == Method::GET || method == Method::HEAD)
        && page
        && (navigate || !headers.contains_key(header::ORIGIN))
}

/// 403 in the client's form: AWS JSON for `POST` (the AWS API and the dashboard's calls),
/// text otherwise.
fn refuse(method: &Method, message: String) -> Response {
    let mut resp = if method == Method::POST {
        let body = json!({"__type": "AccessDeniedException", "message": message}).to_string();
        let mut r = (StatusCode::FORBIDDEN, body).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(berth_core::protocol::CONTENT_TYPE),
        );
        r.headers_mut().insert(
            crate::serve::ERROR_TYPE_HEADER,
            HeaderValue::from_static("AccessDeniedException"),
        );
        r
    } else {
        (StatusCode::FORBIDDEN, format!("{message}\n")).into_response()
    };
    secure_headers(resp.headers_mut());
    resp
}

/// Adds the security headers a handler did not set.
fn secure_headers(h: &mut HeaderMap) {
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(DEFAULT_CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
}

/// The middleware: the `Host` check, the cross-origin check, then the handler, then the
/// security headers.
pub async fn layer(
    State(guard): State<std::sync::Arc<Guard>>,
    req: Request<Body>,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.to_string()));
    // A request without any `Host` (HTTP/1.0, or in-process tests) cannot come from a
    // rebinding page: browsers always send one.
    let host = host.unwrap_or_else(|| "localhost".into());
    if !guard.hosts.allows(&host) {
        let name = host_name(&host).to_string();
        tracing::warn!(host = %host, "blocked a request with a Host that is not allowed");
        return refuse(
            &method,
            format!(
                "Blocked request. This host ({name:?}) is not allowed. To allow it, start berth \
                 serve with --allowed-host {}.",
                if name.is_empty() { "NAME" } else { &name }
            ),
        );
    }
    if !navigation(&method, req.uri().path(), req.headers()) {
        if let Some(why) = foreign(req.headers(), &host) {
            tracing::warn!(%why, path = req.uri().path(), "blocked a cross-origin request");
            return refuse(&method, format!("Blocked request: {why}."));
        }
    }
    let mut resp = next.run(req).await;
    secure_headers(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_localhost_pass_others_do_not() {
        let p = HostPolicy::new(&[], None);
        for ok in [
            "127.0.0.1:7575",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:7575",
            "[::1]",
            "localhost",
            "LOCALHOST:1",
            "app.localhost:7575",
            "localhost.",
        ] {
            assert!(p.allows(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7575",
            "localhost.evil.example",
            "10.0.0.1:7575",
            "0.0.0.0:7575",
            "",
            "[::2]:1",
            "127.0.0.1.nip.io",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
    }

    #[test]
    fn allowed_hosts_and_the_bound_address_pass() {
        let p = HostPolicy::new(
            &["berth.internal".into(), ".corp.example".into()],
            Some("10.0.0.5".parse().unwrap()),
        );
        assert!(p.allows("berth.internal:7575"));
        assert!(p.allows("a.corp.example"));
        assert!(p.allows("corp.example"));
        assert!(p.allows("10.0.0.5:7575"));
        assert!(!p.allows("10.0.0.6:7575"));
        assert!(!p.allows("xcorp.example"));
        assert!(!p.allows("berth.internal.evil"));
    }

    #[test]
    fn non_loopback_bind_needs_both_kinds_of_auth() {
        let any: SocketAddr = "0.0.0.0:7575".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:7575".parse().unwrap();
        let lo6: SocketAddr = "[::1]:7575".parse().unwrap();
        let none = BindPolicy {
            sigv4: false,
            login: false,
        };
        assert!(none.check(lo).is_ok());
        assert!(none.check(lo6).is_ok());
        let e = none.check(any).unwrap_err();
        assert!(
            e.contains("--sigv4 verify") && e.contains("--auth token"),
            "{e}"
        );
        let half = BindPolicy {
            sigv4: true,
            login: false,
        };
        let e = half.check(any).unwrap_err();
        assert!(
            !e.contains("--sigv4 verify") && e.contains("--auth token"),
            "{e}"
        );
        assert!(
            BindPolicy {
                sigv4: true,
                login: true
            }
            .check(any)
            .is_ok()
        );
    }

    #[test]
    fn foreign_origins_and_fetch_sites_are_named() {
        let mut h = HeaderMap::new();
        assert_eq!(foreign(&h, "127.0.0.1:1"), None);
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:1"),
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert_eq!(foreign(&h, "127.0.0.1:1"), None);
        assert!(
            foreign(&h, "127.0.0.1:2").is_some(),
            "another port is another origin"
        );
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(foreign(&h, "127.0.0.1:1").is_some());
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(foreign(&h, "127.0.0.1:1").is_some());
    }

    #[test]
    fn csp_lists_each_inline_script_hash() {
        let csp = page_csp(&["abc=".into(), "def=".into()]);
        assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-abc=' 'sha256-def=';"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("'unsafe-eval'"));
    }
}
