use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::serve::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const INDEX: &str = "<!doctype html><html><head><script type=\"module\" src=\"/assets/app-1a2b.js\"></script></head><body><div id=\"app\"></div></body></html>";
const JS: &str = "console.log('berth dashboard');\n";
const WASM: &[u8] = b"\0asm\x01\0\0\0";

async fn cluster() -> Cluster {
    Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap()
}

/// A `cargo xtask dist`-shaped folder: index.html and assets with `.br`/`.gz` siblings (the
/// sibling bytes are stand-ins: only which file is sent matters here).
fn dist() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let assets = dir.path().join("assets");
    std::fs::create_dir(&assets).unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::write(dir.path().join("index.html.gz"), b"gz:index").unwrap();
    std::fs::write(assets.join("app-1a2b.js"), JS).unwrap();
    std::fs::write(assets.join("app-1a2b.js.br"), b"br:js").unwrap();
    std::fs::write(assets.join("app-1a2b.js.gz"), b"gz:js").unwrap();
    std::fs::write(assets.join("app-1a2b_bg.wasm"), WASM).unwrap();
    std::fs::write(assets.join("style-9f.css"), "body{}").unwrap();
    dir
}

async fn router(ui: &std::path::Path) -> axum::Router {
    app(AppState::new(Arc::new(cluster().await)).with_ui_dir(ui))
}

async fn get(app: &axum::Router, path: &str, headers: &[(&str, &str)]) -> Response {
    request(app, Method::GET, path, headers).await
}

async fn request(
    app: &axum::Router,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

fn h(r: &Response, name: header::HeaderName) -> &str {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

async fn body(r: Response) -> Vec<u8> {
    r.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test]
async fn app_pages_and_deep_links_get_index_html_uncached() {
    let dir = dist();
    let app = router(dir.path()).await;
    for path in [
        "/",
        "/ui",
        "/ui/",
        "/ui/clusters/default/services/web/deployments?q=x",
    ] {
        let r = get(&app, path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(h(&r, header::CONTENT_TYPE), "text/html; charset=utf-8");
        assert_eq!(h(&r, header::CACHE_CONTROL), "no-cache");
        assert!(h(&r, header::ETAG).starts_with('"'));
        assert_eq!(body(r).await, INDEX.as_bytes(), "{path}");
    }
    // Precompressed index when the client takes it; revalidation answers 304.
    let r = get(&app, "/ui/tasks", &[("accept-encoding", "gzip")]).await;
    assert_eq!(h(&r, header::CONTENT_ENCODING), "gzip");
    let etag = h(&r, header::ETAG).to_string();
    let r = get(
        &app,
        "/",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert!(body(r).await.is_empty());
}

#[tokio::test]
async fn assets_are_immutable_typed_and_precompressed_by_accept_encoding() {
    let dir = dist();
    let app = router(dir.path()).await;
    let js = "/assets/app-1a2b.js";

    let r = get(&app, js, &[("accept-encoding", "gzip, deflate, br, zstd")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(&r, header::CONTENT_ENCODING), "br");
    assert_eq!(h(&r, header::VARY), "Accept-Encoding");
    assert_eq!(
        h(&r, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    assert!(h(&r, header::CONTENT_TYPE).contains("javascript"));
    let br_etag = h(&r, header::ETAG).to_string();
    assert_eq!(body(r).await, b"br:js");

    let r = get(&app, js, &[("accept-encoding", "gzip, br;q=0")]).await;
    assert_eq!(h(&r, header::CONTENT_ENCODING), "gzip");
    let gz_etag = h(&r, header::ETAG).to_string();
    assert_eq!(body(r).await, b"gz:js");

    let r = get(&app, js, &[]).await;
    assert_eq!(h(&r, header::CONTENT_ENCODING), "");
    assert_eq!(h(&r, header::VARY), "Accept-Encoding");
    let raw_etag = h(&r, header::ETAG).to_string();
    assert_eq!(body(r).await, JS.as_bytes());
    assert!(br_etag != gz_etag && gz_etag != raw_etag && br_etag != raw_etag);

    // If-None-Match: 304 for the representation's own tag, 200 for another's.
    let r = get(
        &app,
        js,
        &[("accept-encoding", "br"), ("if-none-match", &br_etag)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(h(&r, header::ETAG), br_etag);
    let r = get(&app, js, &[("if-none-match", &br_etag)]).await;
    assert_eq!(r.status(), StatusCode::OK);

    // No sibling: the raw file, whatever the client accepts.
    let r = get(
        &app,
        "/assets/app-1a2b_bg.wasm",
        &[("accept-encoding", "br")],
    )
    .await;
    assert_eq!(h(&r, header::CONTENT_TYPE), "application/wasm");
    assert_eq!(h(&r, header::CONTENT_ENCODING), "");
    assert_eq!(body(r).await, WASM);
    let r = get(&app, "/assets/style-9f.css", &[]).await;
    assert_eq!(h(&r, header::CONTENT_TYPE), "text/css");

    // HEAD: the headers without the body.
    let r = request(&app, Method::HEAD, js, &[("accept-encoding", "br")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(&r, header::CONTENT_LENGTH), "5");
    assert_eq!(h(&r, header::ETAG), br_etag);
    assert!(body(r).await.is_empty());
    let r = request(&app, Method::HEAD, "/ui/clusters", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(h(&r, header::CACHE_CONTROL), "no-cache");
}

#[tokio::test]
async fn unknown_assets_are_plain_404s_and_paths_stay_inside_the_folder() {
    let dir = dist();
    std::fs::write(dir.path().join("secret.txt"), "no").unwrap();
    let app = router(dir.path()).await;
    for path in [
        "/assets/nope-123.js",
        "/assets/../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/..%2Fsecret.txt",
        "/assets/",
    ] {
        let r = get(&app, path, &[]).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let b = body(r).await;
        assert!(!String::from_utf8_lossy(&b).contains("<html"), "{path}");
        assert_ne!(b, b"no", "{path}");
    }
}

#[tokio::test]
async fn without_a_built_dashboard_pages_say_how_to_build_it() {
    let empty = tempfile::tempdir().unwrap();
    let app = router(empty.path()).await;
    for path in ["/", "/ui/clusters"] {
        let r = get(&app, path, &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        assert!(h(&r, header::CONTENT_TYPE).starts_with("text/html"));
        let text = String::from_utf8(body(r).await).unwrap();
        assert!(text.contains("cargo xtask dist"), "{text}");
        assert!(text.contains("scripts/run.sh"), "{text}");
        assert!(text.contains("AWS API works"), "{text}");
    }
    assert_eq!(
        get(&app, "/assets/app.js", &[]).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&app, "/healthz", &[]).await.status(), StatusCode::OK);
}

async fn post(app: &axum::Router, path: &str, target: &str, text: &str) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(Body::from(text.to_string()))
        .unwrap();
    let r = app.clone().oneshot(req).await.unwrap();
    let status = r.status();
    (status, serde_json::from_slice(&body(r).await).unwrap())
}

#[tokio::test]
async fn the_same_origin_api_route_answers_like_the_aws_endpoint() {
    let empty = tempfile::tempdir().unwrap();
    let app = router(empty.path()).await;
    let ecs = "AmazonEC2ContainerServiceV20141113.";
    for (target, body) in [
        (format!("{ecs}ListClusters"), "{}"),
        (
            format!("{ecs}DescribeClusters"),
            r#"{"clusters":["default","nope"]}"#,
        ),
        (format!("{ecs}ListTasks"), r#"{"cluster":"nope"}"#),
        (format!("{ecs}ListClusters"), "{not json"),
        (format!("{ecs}NoSuchAction"), "{}"),
        (
            "AnyScaleFrontendService.DescribeScalableTargets".into(),
            r#"{"ServiceNamespace":"ecs"}"#,
        ),
        ("Logs_20140328.DescribeLogGroups".into(), "{}"),
    ] {
        let a = post(&app, "/", &target, body).await;
        let b = post(&app, "/_berth/api", &target, body).await;
        assert_eq!(a, b, "{target} {body}");
    }
    let (s, v) = post(&app, "/_berth/api", &format!("{ecs}ListClusters"), "{}").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["clusterArns"].as_array().unwrap().len(), 1);
    let (s, v) = post(
        &app,
        "/_berth/api",
        &format!("{ecs}ListTasks"),
        r#"{"cluster":"nope"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["__type"], "ClusterNotFoundException");
    // A write through the dashboard's route is a write.
    let (s, _) = post(
        &app,
        "/_berth/api",
        &format!("{ecs}CreateCluster"),
        r#"{"clusterName":"dash"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = post(&app, "/", &format!("{ecs}ListClusters"), "{}").await;
    assert_eq!(v["clusterArns"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn info_reports_the_backend() {
    let empty = tempfile::tempdir().unwrap();
    let app = router(empty.path()).await;
    let r = get(&app, "/_berth/info", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut v: Value = serde_json::from_slice(&body(r).await).unwrap();
    // The backend's clock (epoch seconds): the manual test clock's start, whatever it is.
    let now = v.as_object_mut().unwrap().remove("now");
    assert!(now.as_ref().is_some_and(Value::is_f64), "{now:?}");
    assert_eq!(
        v,
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "backend": "local",
            "runtime": "sim",
            "region": "us-east-1",
            "account": "000000000000",
            "clock": "manual",
            "readOnly": false,
            "sigv4": "off",
            "auth": "none",
        })
    );
}
