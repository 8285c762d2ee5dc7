//! The cost of SigV4 on one request: verifying it (`berth serve --sigv4 verify`) and signing it
//! (what the upstream proxy does for every call it forwards, and what every AWS client does).
//!
//! Run with `cargo bench -p berth --bench sigv4`. The request is the one the AWS CLI and boto3
//! send for `aws ecs describe-services --cluster default --services <10 ARNs>` (the
//! `DescribeServices` of BENCHMARKS.md's request mix): `POST /`, `content-type`, `host`,
//! `x-amz-target`, `x-amz-date` signed, plus the unsigned `user-agent`, `content-length` and
//! `accept-encoding`; a 682-byte JSON body. It is signed once with `aws-sigv4` at a fixed time
//! and verified with `now` equal to that time, so every iteration does the whole check and
//! succeeds. A second request, `DescribeTasks` of 100 task ARNs (an 8,331-byte body), shows how the
//! cost grows with the body (its SHA-256).
//!
//! Benchmarks (all in one group per clock):
//!
//! - `verify/describe_services`, `verify/describe_tasks_100` — [`Verifier::verify`], success;
//! - `verify_bad_signature/describe_services` — the same request with the last signature digit
//!   changed (a refusal does the same work as a success);
//! - `sign_aws_sigv4/describe_services` — `aws_sigv4::http_request::sign` of the same request,
//!   as `upstream.rs` signs each forwarded call (parameters built per call, as there);
//! - `parts/sha256_body`, `parts/signing_key` — two parts of verification on their own: the
//!   body's hash and the key derivation (four HMAC-SHA256s, done afresh for every request).
//!
//! As in `crates/core/benches/validate.rs`, the group `sigv4` measures wall time and, on
//! Linux, `sigv4_cpu` the benchmarking thread's CPU time (`/proc/thread-self/schedstat`, flat
//! sampling with long samples), which stays meaningful on a shared machine. It does not measure
//! the HTTP server around the verifier: BENCHMARKS.md's load-generator runs do that.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use berth_server::credentials::{Key, KeyRing, Role};
use berth_server::sigv4::Verifier;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const AKID: &str = "BKIABENCHBENCHBENCH2";
const SECRET: &str = "bEnChSeCrEtbEnChSeCrEtbEnChSeCrEt012345+/";
const HOST: &str = "127.0.0.1:7575";
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "000000000000";
/// 2026-11-24T10:00:00Z.
const SIGNED_AT: u64 = 1_795_514_400;

fn signed_at() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(SIGNED_AT)
}

/// One request as the server receives it.
struct Request {
    headers: HeaderMap,
    body: Vec<u8>,
    target: String,
}

fn describe_services_body() -> Vec<u8> {
    let services: Vec<String> = (0..10)
        .map(|i| {
            let name = if i == 0 {
                "bench-svc".to_string()
            } else {
                format!("bench-svc-{i}")
            };
            format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/{name}")
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({"cluster": "default", "services": services}))
        .expect("JSON")
}

fn describe_tasks_body() -> Vec<u8> {
    let tasks: Vec<String> = (0..100)
        .map(|i| format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/{i:032x}"))
        .collect();
    serde_json::to_vec(&serde_json::json!({"cluster": "default", "tasks": tasks})).expect("JSON")
}

/// The request of `action` with `body`, signed by aws-sigv4 at [`SIGNED_AT`].
fn signed(action: &str, body: Vec<u8>) -> Request {
    let target = format!("AmazonEC2ContainerServiceV20141113.{action}");
    let (signed, _) = sign_once(&target, &body);
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_static(HOST));
    headers.insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    headers.insert(
        "x-amz-target",
        HeaderValue::from_str(&target).expect("ASCII"),
    );
    for (name, value) in signed {
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(&value).expect("header value"),
        );
    }
    headers.insert(
        "user-agent",
        HeaderValue::from_static("aws-cli/2.22.0 md/awscrt#0.23.4 ua/2.1 os/linux lang/python"),
    );
    headers.insert("content-length", HeaderValue::from(body.len()));
    headers.insert("accept-encoding", HeaderValue::from_static("identity"));
    Request {
        headers,
        body,
        target,
    }
}

/// aws-sigv4's headers for one request, built as `upstream.rs` builds them per call.
fn sign_once(target: &str, body: &[u8]) -> (Vec<(String, String)>, String) {
    let identity = Credentials::new(AKID, SECRET, None, None, "bench").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("ecs")
        .time(signed_at())
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let headers = [
        ("host", HOST),
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", target),
    ];
    let request = SignableRequest::new(
        "POST",
        "http://127.0.0.1:7575/",
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, signature) = sign(request, &params).expect("signed").into_parts();
    let out = instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    (out, signature)
}

fn verifier() -> Verifier {
    Verifier::new(KeyRing::from_keys(vec![Key {
        profile: "operator".into(),
        access_key_id: AKID.into(),
        secret: SECRET.into(),
        role: Role::Operator,
    }]))
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mac = |key: &[u8], data: &[u8]| -> [u8; 32] {
        let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
        m.update(data);
        m.finalize().into_bytes().into()
    };
    let k = mac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = mac(&k, region.as_bytes());
    let k = mac(&k, service.as_bytes());
    mac(&k, b"aws4_request")
}

fn run<M: Measurement>(c: &mut Criterion<M>, group: &str, coarse_clock: bool) {
    let v = verifier();
    let services = signed("DescribeServices", describe_services_body());
    let tasks = signed("DescribeTasks", describe_tasks_body());
    let now = signed_at();
    for r in [&services, &tasks] {
        let who = v
            .verify("POST", "/", "", &r.headers, &r.body, now)
            .expect("the benchmark's request verifies");
        assert_eq!(who.role, Role::Operator);
    }
    let mut bad = signed("DescribeServices", describe_services_body());
    let auth = bad.headers["authorization"].to_str().expect("ASCII");
    let last = if auth.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{last}", &auth[..auth.len() - 1]);
    bad.headers.insert(
        "authorization",
        HeaderValue::from_str(&tampered).expect("ASCII"),
    );
    assert!(
        v.verify("POST", "/", "", &bad.headers, &bad.body, now)
            .is_err()
    );
    eprintln!(
        "bodies: DescribeServices {} bytes, DescribeTasks {} bytes",
        services.body.len(),
        tasks.body.len()
    );

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(1));
    if coarse_clock {
        // The kernel brings a thread's CPU time up to date at ticks and switches only.
        g.sampling_mode(SamplingMode::Flat)
            .sample_size(20)
            .measurement_time(Duration::from_secs(6));
    }
    for (name, r) in [
        ("describe_services", &services),
        ("describe_tasks_100", &tasks),
    ] {
        g.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| {
                black_box(v.verify(
                    "POST",
                    "/",
                    "",
                    black_box(&r.headers),
                    black_box(&r.body),
                    now,
                ))
            });
        });
    }
    g.bench_function("verify_bad_signature/describe_services", |b| {
        b.iter(|| {
            black_box(v.verify(
                "POST",
                "/",
                "",
                black_box(&bad.headers),
                black_box(&bad.body),
                now,
            ))
        });
    });
    g.bench_function("sign_aws_sigv4/describe_services", |b| {
        b.iter(|| {
            black_box(sign_once(
                black_box(&services.target),
                black_box(&services.body),
            ))
        });
    });
    g.bench_function("parts/sha256_body", |b| {
        b.iter(|| black_box(Sha256::digest(black_box(&services.body))));
    });
    g.bench_function("parts/signing_key", |b| {
        b.iter(|| black_box(signing_key(black_box(SECRET), "20261124", REGION, "ecs")));
    });
    g.finish();
}

fn wall(c: &mut Criterion) {
    run(c, "sigv4", false);
}

/// CPU time of the calling thread: the first field of `/proc/thread-self/schedstat` (ns on a
/// CPU); `unsafe_code` is forbidden, so no `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
struct ThreadCpuTime;

impl ThreadCpuTime {
    fn now() -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        s.split_whitespace().next()?.parse().ok()
    }
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        Self::now().unwrap_or(0)
    }
    fn end(&self, start: u64) -> Duration {
        Duration::from_nanos(Self::now().unwrap_or(0).saturating_sub(start))
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

fn cpu(c: &mut Criterion<ThreadCpuTime>) {
    if ThreadCpuTime::now().is_some() {
        run(c, "sigv4_cpu", true);
    }
}

criterion_group!(wall_time, wall);
criterion_group! {
    name = cpu_time;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = cpu
}
criterion_main!(wall_time, cpu_time);
