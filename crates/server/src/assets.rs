//! The dashboard's files: `index.html` for the app's pages, hashed files under `/assets/`.
//!
//! `cargo xtask dist` writes the built dashboard to `target/dashboard/` (an `index.html` and
//! `assets/<name>-<hash>.<ext>`, each with `.br` and `.gz` siblings). Release builds embed that
//! folder with rust-embed (`build.rs` makes cargo rebuild when it changes; debug builds read it
//! from disk); `berth serve --ui-dir DIR` serves a folder instead.
//!
//! - `GET /`, `/ui`, `/ui/*`: `index.html` with `Cache-Control: no-cache` and an `ETag`, so a
//!   new build is picked up at once (the app routes client-side, so every deep link gets it).
//!   Without a built dashboard: a short page saying how to build it.
//! - `GET /assets/*`: the file, its `.br` or `.gz` sibling as `Accept-Encoding` allows
//!   (precompressed at build time at the highest level, never compressed per request), the
//!   `Content-Type` from the extension, an `ETag` from the bytes sent and
//!   `Cache-Control: immutable` (the names carry their content hash); `If-None-Match` gets
//!   304; an unknown file gets a plain 404, not the app.
//!
//! It deliberately does not list folders, serve anything outside the dashboard's folder, or
//! guess at files the build did not write.

use std::borrow::Cow;
use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::guard::page_csp;
use crate::serve::AppState;

#[derive(rust_embed::RustEmbed)]
#[folder = "../../target/dashboard/"]
#[allow_missing = true]
struct Dist;

/// Where the dashboard's files come from.
#[derive(Debug, Clone, Default)]
pub enum UiSource {
    /// The `target/dashboard/` folder embedded at build time (read from disk in debug builds).
    #[default]
    Embedded,
    /// A folder on disk (`berth serve --ui-dir`), read on every request.
    Dir(PathBuf),
}

/// One file: its bytes and its strong `ETag`.
struct File {
    bytes: Cow<'static, [u8]>,
    etag: String,
}

fn etag(hash: &[u8]) -> String {
    let hex: String = hash.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A path relative to the dashboard's folder, or `None` when it could reach outside it.
fn safe(rel: &str) -> Option<&str> {
    let ok = !rel.is_empty()
        && !rel.contains(['\\', '\0', ':'])
        && rel
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != "..");
    ok.then_some(rel)
}

impl UiSource {
    /// Reads `rel` (already checked by [`safe`]); blocking (disk or embedded bytes).
    fn read(&self, rel: &str) -> Option<File> {
        match self {
            UiSource::Embedded => Dist::get(rel).map(|f| File {
                etag: etag(&f.metadata.sha256_hash()),
                bytes: f.data,
            }),
            UiSource::Dir(dir) => {
                let bytes = std::fs::read(dir.join(rel)).ok()?;
                Some(File {
                    etag: etag(&Sha256::digest(&bytes)),
                    bytes: Cow::Owned(bytes),
                })
            }
        }
    }

    /// The file to send for `rel`: its `.br` or `.gz` sibling when the client takes it.
    /// `None` when `rel` itself does not exist.
    fn negotiate(&self, rel: &str, accept: &str) -> Option<(File, Option<&'static str>)> {
        let raw = self.read(rel)?;
        for (coding, suffix) in [("br", ".br"), ("gzip", ".gz")] {
            if accepts(accept, coding) {
                if let Some(f) = self.read(&format!("{rel}{suffix}")) {
                    return Some((f, Some(coding)));
                }
            }
        }
        Some((raw, None))
    }
}

/// Whether `Accept-Encoding` allows `coding` (named or through `*`, with q > 0).
fn accepts(header: &str, coding: &str) -> bool {
    let mut star = None;
    for item in header.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) {
            return q > 0.0;
        }
        if name == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
}

/// Whether `If-None-Match` names `etag` (or is `*`); weak comparison, as RFC 9110 asks.
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    inm.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

/// Reads and answers `rel` off the async threads; `None` when it does not exist.
async fn respond(
    source: UiSource,
    rel: String,
    headers: &HeaderMap,
    cache: &'static str,
) -> Option<Response> {
    let accept = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let content_type = if rel.ends_with(".html") {
        "text/html; charset=utf-8".to_string()
    } else {
        mime_guess::from_path(&rel)
            .first_or_octet_stream()
            .to_string()
    };
    let (file, coding) = tokio::task::spawn_blocking(move || source.negotiate(&rel, &accept))
        .await
        .ok()??;
    let mut h = HeaderMap::new();
    let etag = HeaderValue::from_str(&file.etag).ok()?;
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if not_modified(headers, &file.etag) {
        return Some((StatusCode::NOT_MODIFIED, h).into_response());
    }
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Some(c) = coding {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c));
    }
    Some((StatusCode::OK, h, file.bytes.into_owned()).into_response())
}

/// The page served in place of the app when no dashboard was built.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Berth</title></head><body><h1>Berth</h1>\
<p>The dashboard is not built into this server. Build it with <code>cargo xtask dist</code>, \
then rebuild and restart <code>berth</code>; or run <code>scripts/run.sh</code>, which does \
both.</p><p>Meanwhile the AWS API works at this address: point the AWS CLI or an SDK here \
(<code>--endpoint-url</code>).</p></body></html>";

/// `GET /`, `/ui`, `/ui/*`: the app's `index.html`, or the "not built" page.
pub async fn index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let page = respond(state.ui.clone(), "index.html".into(), &headers, "no-cache").await;
    let source = state.ui.clone();
    let csp = tokio::task::spawn_blocking(move || {
        source
            .read("index.html")
            .map(|f| page_csp(&inline_script_hashes(&String::from_utf8_lossy(&f.bytes))))
    })
    .await
    .ok()
    .flatten();
    let mut resp = page.unwrap_or_else(|| {
        let mut resp = Html(NOT_BUILT).into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        resp
    });
    if let Some(v) = csp.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The base64 SHA-256 of the text of every inline `<script>` (one without `src`) of a page, as
/// a Content-Security-Policy `'sha256-…'` source names it.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body = &after[tag_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let digest = Sha256::digest(&body.as_bytes()[..close]);
            out.push(base64::engine::general_purpose::STANDARD.encode(digest));
        }
        rest = &body[close + "</script>".len()..];
    }
    out
}

/// `GET /assets/*`: a hashed file of the dashboard.
pub async fn asset(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Response {
    let found = match safe(&path) {
        Some(p) => {
            let rel = format!("assets/{p}");
            let immutable = "public, max-age=31536000, immutable";
            respond(state.ui.clone(), rel, &headers, immutable).await
        }
        None => None,
    };
    found.unwrap_or_else(|| (StatusCode::NOT_FOUND, "Not found\n").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_q_values() {
        assert!(accepts("gzip, deflate, br, zstd", "br"));
        assert!(accepts("gzip;q=1.0, br;q=0.5", "br"));
        assert!(!accepts("gzip, br;q=0", "br"));
        assert!(!accepts("gzip", "br"));
        assert!(accepts("*", "br"));
        assert!(!accepts("*;q=0, gzip", "br"));
        assert!(!accepts("", "gzip"));
    }

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html = "<script type=\"module\">alert(1)</script><script src=\"/a.js\"></script>\
                    <script>\nx()\n</script>";
        let hashes = inline_script_hashes(html);
        // echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64
        assert_eq!(hashes[0], "bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI=");
        assert_eq!(hashes.len(), 2);
    }

    #[test]
    fn paths_cannot_leave_the_folder() {
        assert_eq!(safe("app-1.js"), Some("app-1.js"));
        assert_eq!(safe("img/a.svg"), Some("img/a.svg"));
        for bad in [
            "",
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a\\b",
            "c:x",
            "./a",
        ] {
            assert_eq!(safe(bad), None, "{bad}");
        }
    }
}
