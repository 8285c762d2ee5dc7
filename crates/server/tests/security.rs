use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;

use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::audit::{Audit, AuditConfig};
use berth_server::credentials::{Key, KeyRing, Role};
use berth_server::guard::{Guard, HostPolicy};
use berth_server::serve::{AppState, Security, app};
use berth_server::session::{AuthMode, Sessions};
use berth_server::sigv4::Verifier;
use berth_server::upstream::Policy;
use reqwest::StatusCode;
use serde_json::{Value, json};

const ECS: &str = "AmazonEC2ContainerServiceV20141113.";
const LOOKUP: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";

fn keys() -> KeyRing {
    KeyRing::from_keys(vec![
        Key {
            profile: "ops".into(),
            access_key_id: "BKIAOPERATOR0000001".into(),
            secret: "operator-secret".into(),
            role: Role::Operator,
        },
        Key {
            profile: "watcher".into(),
            access_key_id: "BKIAVIEWER00000001".into(),
            secret: "viewer-secret".into(),
            role: Role::Viewer,
        },
    ])
}

struct Setup {
    auth: AuthMode,
    sigv4: bool,
    read_only: bool,
    audit_dir: Option<std::path::PathBuf>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            auth: AuthMode::None,
            sigv4: false,
            read_only: false,
            audit_dir: None,
        }
    }
}

/// A server on 127.0.0.1 with this security setup: its URL, its cluster and its sessions'
/// login token.
async fn server(setup: Setup) -> (String, Cluster, Option<String>) {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut sec = Security::open("000000000000", "us-east-1");
    sec.guard = Arc::new(Guard {
        hosts: HostPolicy::new(&["berth.test".into()], None),
    });
    sec.sessions = Sessions::new(setup.auth, setup.read_only, addr.port(), Some(keys()));
    if setup.sigv4 {
        sec.verifier = Some(Verifier::new(keys()));
    }
    sec.policy = Policy::new(&[], &[], setup.read_only).unwrap();
    sec.audit = Audit::open(AuditConfig::new(
        setup.audit_dir,
        "us-east-1",
        "000000000000",
    ));
    let token = sec.sessions.login_token();
    let state = AppState::new(Arc::new(cluster.clone())).with_security(sec);
    let svc = app(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(axum::serve(listener, svc).into_future());
    (format!("http://{addr}"), cluster, token)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    req: reqwest::RequestBuilder,
    target: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let resp = req
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn a_foreign_host_gets_403_on_every_route_the_aws_api_included() {
    let (url, _c, _) = server(Setup::default()).await;
    let c = client();
    let (status, _, body) = call(
        c.post(format!("{url}/")).header("host", "evil.example"),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["__type"], "AccessDeniedException");
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("evil.example") && msg.contains("--allowed-host evil.example"),
        "{msg}"
    );
    let resp = c
        .get(format!("{url}/ui/"))
        .header("host", "evil.example:80")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let resp = c
        .get(format!("{url}/_berth/events"))
        .header("host", "127.0.0.1.nip.io")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // The real address, localhost and an --allowed-host name pass.
    for host in [
        url.trim_start_matches("http://"),
        "localhost",
        "berth.test:1",
    ] {
        let (status, _, _) = call(
            c.post(format!("{url}/")).header("host", host),
            &format!("{ECS}ListClusters"),
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "{host}");
    }
}

#[tokio::test]
async fn cross_origin_calls_are_refused_and_no_cors_is_granted() {
    let (url, _c, _) = server(Setup::default()).await;
    let c = client();
    let (status, _, body) = call(
        c.post(format!("{url}/_berth/api"))
            .header("origin", "http://evil.example"),
        &format!("{ECS}CreateCluster"),
        json!({"clusterName": "x"}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = call(
        c.post(format!("{url}/"))
            .header("sec-fetch-site", "cross-site"),
        &format!("{ECS}CreateCluster"),
        json!({"clusterName": "x"}),
    )
    .await;
    assert_eq!(status, 403);
    // Another port of the same host is another origin.
    let (status, _, _) = call(
        c.post(format!("{url}/_berth/api"))
            .header("origin", "http://127.0.0.1:1")
            .header("sec-fetch-site", "same-site"),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    // A preflight gets no Access-Control-Allow-*.
    let resp = c
        .request(reqwest::Method::OPTIONS, format!("{url}/"))
        .header("origin", "http://evil.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-amz-target")
        .send()
        .await
        .unwrap();
    assert!(!resp.status().is_success());
    assert!(
        resp.headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        resp.headers()
    );
    // A link from another site still opens the dashboard.
    let resp = c
        .get(format!("{url}/ui/clusters"))
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // The page's own calls pass.
    let (status, _, _) = call(
        c.post(format!("{url}/_berth/api"))
            .header("origin", &url)
            .header("sec-fetch-site", "same-origin"),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let (url, _c, _) = server(Setup::default()).await;
    let c = client();
    for resp in [
        c.get(format!("{url}/ui/")).send().await.unwrap(),
        c.get(format!("{url}/healthz")).send().await.unwrap(),
        c.post(format!("{url}/"))
            .header("x-amz-target", format!("{ECS}Nope"))
            .send()
            .await
            .unwrap(),
    ] {
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"), "{csp}");
        assert!(!csp.contains("'unsafe-eval'") && !csp.contains("script-src 'unsafe-inline'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn login_gives_an_http_only_cookie_and_posts_need_the_csrf_value() {
    let (url, _c, token) = server(Setup {
        auth: AuthMode::Token,
        ..Setup::default()
    })
    .await;
    let token = token.unwrap();
    let c = client();
    let list = format!("{ECS}ListClusters");
    // Nothing without a session: the API, the stream, the facts, the test control.
    let (status, _, body) = call(c.post(format!("{url}/_berth/api")), &list, json!({})).await;
    assert_eq!(status, 401, "{body}");
    for path in ["/_berth/events", "/_berth/info"] {
        let resp = c.get(format!("{url}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{path}");
    }
    let resp = c.post(format!("{url}/_berth/reset")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let s: Value = c
        .get(format!("{url}/_berth/session"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        s,
        json!({"auth": "token", "authenticated": false, "role": null, "csrf": null})
    );

    // The token in the query string is not a login.
    let resp = c
        .post(format!("{url}/_berth/login?token={token}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = c
        .post(format!("{url}/_berth/login"))
        .body(json!({"token": token}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set_cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(set_cookie.contains("Path=/"));
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let login: Value = resp.json().await.unwrap();
    assert_eq!(login["role"], "operator");
    let csrf = login["csrf"].as_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();

    // The URL works once.
    let resp = c
        .post(format!("{url}/_berth/login"))
        .body(json!({"token": token}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // A cookie alone (what another localhost page would send) posts nothing.
    let (status, _, body) = call(
        c.post(format!("{url}/_berth/api"))
            .header("cookie", &cookie),
        &list,
        json!({}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _, _) = call(
        c.post(format!("{url}/_berth/api"))
            .header("cookie", &cookie)
            .header("x-berth-csrf", "0".repeat(64)),
        &list,
        json!({}),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, body) = call(
        c.post(format!("{url}/_berth/api"))
            .header("cookie", &cookie)
            .header("x-berth-csrf", &csrf),
        &list,
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let resp = c
        .get(format!("{url}/_berth/info"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let s: Value = c
        .get(format!("{url}/_berth/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["csrf"], csrf.as_str(), "a reload gets the value back");

    // Signing out ends the session.
    let resp = c
        .post(format!("{url}/_berth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (status, _, _) = call(
        c.post(format!("{url}/_berth/api"))
            .header("cookie", &cookie)
            .header("x-berth-csrf", &csrf),
        &list,
        json!({}),
    )
    .await;
    assert_eq!(status, 401);
}

async fn key_login(url: &str, akid: &str, secret: &str) -> (String, String) {
    let resp = client()
        .post(format!("{url}/_berth/login"))
        .body(json!({"accessKeyId": akid, "secretAccessKey": secret}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let v: Value = resp.json().await.unwrap();
    (cookie, v["csrf"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_viewer_reads_everything_and_changes_nothing() {
    let (url, cluster, _) = server(Setup {
        auth: AuthMode::Token,
        ..Setup::default()
    })
    .await;
    let resp = client()
        .post(format!("{url}/_berth/login"))
        .body(json!({"accessKeyId": "BKIAVIEWER00000001", "secretAccessKey": "wrong"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (cookie, csrf) = key_login(&url, "BKIAVIEWER00000001", "viewer-secret").await;
    let dash = || {
        client()
            .post(format!("{url}/_berth/api"))
            .header("cookie", &cookie)
            .header("x-berth-csrf", &csrf)
    };
    let (status, _, _) = call(dash(), &format!("{ECS}ListClusters"), json!({})).await;
    assert_eq!(status, 200);
    let (status, headers, body) = call(
        dash(),
        &format!("{ECS}CreateCluster"),
        json!({"clusterName": "nope"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(headers["x-amzn-errortype"], "AccessDeniedException");
    assert_eq!(
        body["message"],
        "User: arn:aws:iam::000000000000:user/watcher is not authorized to perform: ecs:CreateCluster on resource: * because its role is viewer, which may only read"
    );
    let resp = client()
        .post(format!("{url}/_berth/reset"))
        .header("cookie", &cookie)
        .header("x-berth-csrf", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    let clusters = cluster.call("ListClusters", b"{}".to_vec()).await.unwrap();
    assert!(
        !clusters.to_string().contains("nope"),
        "{clusters}: nothing was created"
    );
}

/// A request signed as the AWS SDKs sign it (aws-sigv4), with these credentials.
fn signed(
    url: &str,
    target: &str,
    body: &str,
    akid: &str,
    secret: &str,
    time: std::time::SystemTime,
) -> reqwest::RequestBuilder {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_sigv4::sign::v4;
    let identity = aws_credential_types::Credentials::new(akid, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("ecs")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = url.trim_start_matches("http://").to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("{url}/"),
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut req = client()
        .post(format!("{url}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header("x-amz-target", target)
        .body(body.to_string());
    for (k, v) in instructions.headers() {
        req = req.header(k, v);
    }
    req
}

async fn send(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn sigv4_verification_accepts_real_signatures_and_answers_as_ecs_does() {
    let (url, _c, _) = server(Setup {
        sigv4: true,
        ..Setup::default()
    })
    .await;
    let now = std::time::SystemTime::now();
    let target = format!("{ECS}ListClusters");
    let (status, body) = send(signed(
        &url,
        &target,
        "{}",
        "BKIAOPERATOR0000001",
        "operator-secret",
        now,
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(signed(
        &url,
        &target,
        "{}",
        "BKIAOPERATOR0000001",
        "wrong",
        now,
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "InvalidSignatureException");
    assert_eq!(
        body["message"],
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
    );
    let (status, body) = send(signed(&url, &target, "{}", "AKIANOTKNOWN0000", "x", now)).await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnrecognizedClientException");
    assert_eq!(
        body["message"],
        "The security token included in the request is invalid."
    );
    let old = now - std::time::Duration::from_secs(600);
    let (status, body) = send(signed(
        &url,
        &target,
        "{}",
        "BKIAOPERATOR0000001",
        "operator-secret",
        old,
    ))
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Signature expired: "),
        "{body}"
    );
    // A signed ListClusters replayed as DeleteCluster: the target is signed.
    let req = signed(
        &url,
        &target,
        "{}",
        "BKIAOPERATOR0000001",
        "operator-secret",
        now,
    )
    .header("x-amz-target", format!("{ECS}DeleteCluster"));
    let (status, body) = send(req).await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "InvalidSignatureException", "{body}");
    // Unsigned.
    let (status, body) = send(
        client()
            .post(format!("{url}/"))
            .header("x-amz-target", &target)
            .body("{}"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "MissingAuthenticationTokenException");
    // A viewer key reads and cannot write.
    let (status, _) = send(signed(
        &url,
        &target,
        "{}",
        "BKIAVIEWER00000001",
        "viewer-secret",
        now,
    ))
    .await;
    assert_eq!(status, 200);
    let (status, body) = send(signed(
        &url,
        &format!("{ECS}CreateCluster"),
        "{}",
        "BKIAVIEWER00000001",
        "viewer-secret",
        now,
    ))
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "AccessDeniedException");
}

#[tokio::test]
async fn read_only_mode_refuses_writes_with_the_reason_and_records_them() {
    let (url, cluster, _) = server(Setup {
        read_only: true,
        ..Setup::default()
    })
    .await;
    let (status, _, body) = call(
        client().post(format!("{url}/")),
        &format!("{ECS}RunTask"),
        json!({"taskDefinition": "x"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "AccessDeniedException");
    assert_eq!(
        body["message"],
        "User: arn:aws:iam::000000000000:user/local is not authorized to perform: ecs:RunTask on resource: * because Berth is running in read-only mode"
    );
    let (status, _, _) = call(
        client().post(format!("{url}/")),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
    // An operation outside the catalogue is not assumed to be a read.
    let (status, _, body) = call(
        client().post(format!("{url}/")),
        &format!("{ECS}DeleteEverything"),
        json!({}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "AccessDeniedException", "{body}");
    let (_, _, events) = call(
        client().post(format!("{url}/")),
        LOOKUP,
        json!({"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "RunTask"}]}),
    )
    .await;
    let ev = &events["Events"][0];
    assert_eq!(ev["EventName"], "RunTask");
    let record: Value = serde_json::from_str(ev["CloudTrailEvent"].as_str().unwrap()).unwrap();
    assert_eq!(record["errorCode"], "AccessDeniedException");
    assert_eq!(events["Events"].as_array().unwrap().len(), 1, "{events}");
    drop(cluster);
}

#[tokio::test]
async fn the_audit_trail_is_on_disk_before_the_answer_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _cluster, _) = server(Setup {
        audit_dir: Some(dir.path().to_path_buf()),
        ..Setup::default()
    })
    .await;
    let (status, headers, _) = call(
        client()
            .post(format!("{url}/"))
            .header("user-agent", "aws-cli/1.46.3"),
        &format!("{ECS}RegisterTaskDefinition"),
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx",
            "memory": 64, "environment": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]}),
    )
    .await;
    assert_eq!(status, 200);
    let request_id = headers["x-amzn-requestid"].to_str().unwrap().to_string();
    let mut text = String::new();
    for entry in walk(dir.path()) {
        text.push_str(&std::fs::read_to_string(entry).unwrap());
    }
    assert!(
        text.contains(&request_id),
        "the record is written before the answer"
    );
    assert!(!text.contains("hunter2"), "{text}");
    let line = text.lines().find(|l| l.contains(&request_id)).unwrap();
    let rec: Value = serde_json::from_str(line).unwrap();
    assert_eq!(rec["eventName"], "RegisterTaskDefinition");
    assert_eq!(rec["eventSource"], "ecs.amazonaws.com");
    assert_eq!(rec["readOnly"], false);
    assert_eq!(rec["userAgent"], "aws-cli/1.46.3");
    assert_eq!(rec["sourceIPAddress"], "127.0.0.1");
    // What ECS answered is recorded too, redacted the same way (the file holds no "hunter2").
    assert_eq!(rec["responseElements"]["taskDefinition"]["revision"], 1);
    assert_eq!(
        rec["requestParameters"]["containerDefinitions"][0]["environment"][0]["name"],
        "DB_PASSWORD"
    );
    // Reads that succeed are not recorded.
    call(
        client().post(format!("{url}/")),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    let (status, _, events) = call(client().post(format!("{url}/")), LOOKUP, json!({})).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = events["Events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["EventName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["RegisterTaskDefinition"]);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
    out
}

#[cfg(unix)]
#[tokio::test]
async fn an_unwritable_audit_trail_refuses_changes_and_keeps_reads() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(audit.join("probe"), b"").is_ok() {
        // Running as root: permissions do not stop writes, so this case cannot be set up.
        std::fs::set_permissions(&audit, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::remove_dir_all(&audit).unwrap();
        std::fs::write(&audit, b"a file where the folder should be").unwrap();
    }
    let (url, cluster, _) = server(Setup {
        audit_dir: Some(dir.path().to_path_buf()),
        ..Setup::default()
    })
    .await;
    let (status, _, body) = call(
        client().post(format!("{url}/")),
        &format!("{ECS}CreateCluster"),
        json!({"clusterName": "unrecorded"}),
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["__type"], "ServerException");
    let clusters = cluster.call("ListClusters", b"{}".to_vec()).await.unwrap();
    assert!(!clusters.to_string().contains("unrecorded"), "{clusters}");
    let (status, _, _) = call(
        client().post(format!("{url}/")),
        &format!("{ECS}ListClusters"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200);
}

#[test]
fn a_non_loopback_bind_without_auth_refuses_to_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_RUNTIME", "sim")
        .args(["serve", "--bind", "0.0.0.0", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
    assert!(
        err.contains("--sigv4 verify") && err.contains("--auth token"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_RUNTIME", "sim")
        .args([
            "serve", "--bind", "0.0.0.0", "--port", "0", "--sigv4", "verify",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("--sigv4 verify (") && err.contains("--auth token"),
        "{err}"
    );
}

#[test]
fn upstream_mode_without_credentials_fails_fast_and_clearly() {
    let home = tempfile::tempdir().unwrap();
    for extra in [&["--no-imds"][..], &[][..]] {
        let started = std::time::Instant::now();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_RUNTIME", "sim")
            .args([
                "serve",
                "--port",
                "0",
                "--upstream",
                "aws",
                "--region",
                "eu-west-1",
            ])
            .args(extra)
            .env_clear()
            .env("HOME", home.path())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .unwrap();
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {err}");
        assert!(err.contains("credentials"), "{extra:?}: {err}");
        assert!(
            took < std::time::Duration::from_secs(4),
            "{extra:?}: took {took:?}"
        );
    }
}
