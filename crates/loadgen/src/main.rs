//! `berth-loadgen`: the boto3-shaped ECS request mix of `bench/loadgen.py`, from Rust.
//!
//! The Python generator (botocore under the GIL) could not drive `berth serve` hard enough: it
//! was the bottleneck. This tool sends the same HTTP requests botocore sends (same bodies, the
//! `X-Amz-Target` and `Content-Type: application/x-amz-json-1.1` headers, a static
//! SigV4-shaped `Authorization` header whose credential scope is `us-east-1/ecs`, so moto picks
//! the region) with the same weights:
//!
//! | action | weight | request |
//! |---|---:|---|
//! | DescribeServices | 30 | the 10 seeded services |
//! | ListTasks | 25 | one page, `maxResults` 100 |
//! | DescribeTasks | 25 | the 100 seeded tasks |
//! | RunTask | 10 | `count` 10, `launchType` EC2, `startedBy` `load` |
//! | RegisterTaskDefinition | 10 | family `bench-load` |
//!
//! `--weights` draws the actions with other weights (`30,25,25,0,0`: the reads alone).
//! `--writers N` gives the writes their own connections: the first N connections draw only
//! the weights' writes (RunTask, RegisterTaskDefinition), the others only its reads. The mix
//! then no longer fixes how many reads there are per write: it shows whether reads wait for
//! the writes running beside them, rather than what the writes cost.
//!
//! Closed loop: `--concurrency` keep-alive HTTP/1.1 connections, each sending its next request
//! when the previous answer has been read in full, drawing the action from its own seeded
//! random source. Latency is client-side, from just before the request is written to the last
//! byte of the answer. Requests that start during `--warmup` are not measured; the measured
//! window ends after `--duration` seconds or `--requests` measured requests, whichever is
//! first. Any non-2xx answer, transport error or answer of the wrong shape (e.g. fewer than
//! 100 tasks from DescribeTasks) is an error, counted per action, and the first one of each
//! action is printed; a run with errors says so and exits with status 1.
//!
//! The servers are seeded by `bench/loadgen.py` (`--seed-only`, or `--client rust`, which runs
//! this tool against both servers); `--seed-file` names its JSON (`{"services": [...],
//! "tasks": [...]}`); without it the ARNs are fetched with ListServices and ListTasks.
//! `--server-pid` reads the server's CPU time (`/proc/<pid>/stat`, utime + stime) over the
//! measured window, so the server's cost per request can be compared independently of the
//! client; it may be given more than once (a proxy and its upstream), each process reported on
//! its own and their sum as the server's.
//!
//! `--serve-floor PORT` measures nothing: it is the *floor* the server is compared with. It
//! sends each of the five requests once to `--target` (a seeded `berth serve`), keeps the
//! answers' bytes, and then serves them on `127.0.0.1:PORT` from a bare axum handler that
//! reads the request body and answers the bytes captured for its `X-Amz-Target` — the same
//! HTTP stack as `berth serve` (axum 0.8, hyper 1, a multi-thread tokio runtime with one
//! worker per CPU) with no state, no parsing and no serialisation. Run the generator against
//! it to get the most this HTTP stack can answer for the mix on this machine.
//!
//! `--sign AKID:SECRET` replaces the static header with a real SigV4 signature, made with
//! `aws-sigv4` (as the AWS SDKs do) for each request at the moment it is sent (scope
//! `<--sign-region>/ecs`, signed headers `content-type;host;x-amz-date;x-amz-target`), so a
//! server that verifies signatures (`berth serve --sigv4 verify`) can be measured; the signing
//! happens inside the measured latency, as in a real client. It does not sign with session
//! tokens, and it does not retry anything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::{Value, json};

/// The ECS API's target prefix.
const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
/// botocore's content type for AWS JSON 1.1.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";
/// A SigV4-shaped header; nobody verifies the signature, moto reads the region from the scope.
const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261124/us-east-1/ecs/aws4_request, \
SignedHeaders=content-type;host;x-amz-date;x-amz-target, \
Signature=0000000000000000000000000000000000000000000000000000000000000000";
const AMZ_DATE: &str = "20261124T000000Z";
const USER_AGENT: &str = "berth-loadgen/0.1 (botocore-shaped)";
/// Linux reports /proc/<pid>/stat times in USER_HZ, which is 100 on every mainstream build.
const CLOCK_TICKS: f64 = 100.0;
/// Longest one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The mix: action and weight.
const MIX: [(Op, u32); 5] = [
    (Op::DescribeServices, 30),
    (Op::ListTasks, 25),
    (Op::DescribeTasks, 25),
    (Op::RunTask, 10),
    (Op::RegisterTaskDefinition, 10),
];

#[derive(Parser, Debug)]
#[command(
    name = "berth-loadgen",
    about = "The boto3-shaped ECS request mix against one server"
)]
struct Args {
    /// The server, e.g. http://127.0.0.1:8080 (plain HTTP).
    #[arg(long)]
    target: String,
    /// Measured seconds.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Unmeasured seconds before the measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Concurrent keep-alive connections (closed loop: one request in flight on each).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Stop after this many measured requests (0: only the duration bounds the run).
    #[arg(long, default_value_t = 0)]
    requests: u64,
    /// Client runtime threads (1: a single-threaded runtime, leaving the other cores to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// JSON with the seeded `services` (10 names or ARNs) and `tasks` (100 ARNs), as written by
    /// `bench/loadgen.py --seed-only`; without it they are fetched with ListServices/ListTasks.
    #[arg(long)]
    seed_file: Option<PathBuf>,
    /// Seed of the per-connection random sources that choose the actions.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The server's process id, to report its CPU time over the measured window (repeatable:
    /// a proxy and its upstream).
    #[arg(long)]
    server_pid: Vec<u32>,
    /// Sign every request with this key pair (`ACCESS_KEY_ID:SECRET`) at the moment it is sent,
    /// instead of sending the static SigV4-shaped header.
    #[arg(long, value_name = "AKID:SECRET")]
    sign: Option<String>,
    /// The region of `--sign`'s credential scope.
    #[arg(long, default_value = "us-east-1")]
    sign_region: String,
    /// A name for the report (e.g. `berth`, `moto`).
    #[arg(long, default_value = "target")]
    label: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Draw the actions with these five weights instead of the mix's (in the table's order:
    /// DescribeServices, ListTasks, DescribeTasks, RunTask, RegisterTaskDefinition), e.g.
    /// `30,25,25,0,0` for the reads alone.
    #[arg(long)]
    weights: Option<String>,
    /// Give the writes their own connections: the first N draw only the writes, the others
    /// only the reads (0: every connection draws from the whole mix).
    #[arg(long, default_value_t = 0)]
    writers: usize,
    /// Serve the floor on 127.0.0.1:PORT instead of generating load (see the crate docs).
    #[arg(long, value_name = "PORT")]
    serve_floor: Option<u16>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    DescribeServices,
    ListTasks,
    DescribeTasks,
    RunTask,
    RegisterTaskDefinition,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::DescribeServices => "DescribeServices",
            Op::ListTasks => "ListTasks",
            Op::DescribeTasks => "DescribeTasks",
            Op::RunTask => "RunTask",
            Op::RegisterTaskDefinition => "RegisterTaskDefinition",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn is_write(self) -> bool {
        matches!(self, Op::RunTask | Op::RegisterTaskDefinition)
    }
}

/// The weights connection `index` draws with when the first `writers` connections only write
/// and the others only read (`writers` 0: every connection draws with `weights`).
fn connection_weights(weights: [u32; 5], writers: usize, index: usize) -> [u32; 5] {
    if writers == 0 {
        return weights;
    }
    let writing = index < writers;
    let mut w = weights;
    for (i, (op, _)) in MIX.iter().enumerate() {
        if op.is_write() != writing {
            w[i] = 0;
        }
    }
    w
}

/// One prepared request: its `X-Amz-Target` and body.
struct Prepared {
    target: String,
    body: Bytes,
}

/// A key pair to sign with (`--sign`).
struct Signer {
    credentials: aws_credential_types::Credentials,
    region: String,
    /// `http://<host>/`, the URL the signer sees.
    url: String,
}

impl Signer {
    fn new(spec: &str, region: &str, host: &str) -> Result<Signer, String> {
        let (akid, secret) = spec
            .split_once(':')
            .filter(|(a, s)| !a.is_empty() && !s.is_empty())
            .ok_or("--sign takes ACCESS_KEY_ID:SECRET")?;
        let credentials =
            aws_credential_types::Credentials::new(akid, secret, None, None, "berth-loadgen");
        Ok(Signer {
            credentials,
            region: region.to_string(),
            url: format!("http://{host}/"),
        })
    }

    /// The `x-amz-date` and `authorization` headers for one request, signed now.
    fn sign(&self, host: &str, p: &Prepared) -> Result<Vec<(&'static str, String)>, String> {
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        let identity = self.credentials.clone().into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("ecs")
            .time(std::time::SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let headers = [
            ("host", host),
            ("content-type", CONTENT_TYPE),
            ("x-amz-target", p.target.as_str()),
        ];
        let request = SignableRequest::new(
            "POST",
            &self.url,
            headers.into_iter(),
            SignableBody::Bytes(&p.body),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(request, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        Ok(instructions
            .headers()
            .filter_map(|(name, value)| match name {
                "x-amz-date" => Some(("x-amz-date", value.to_string())),
                "authorization" => Some(("authorization", value.to_string())),
                _ => None,
            })
            .collect())
    }
}

/// Everything the connections share.
struct Plan {
    host: String,
    addr: String,
    signer: Option<Signer>,
    requests: [Prepared; 5],
    /// The weights the actions are drawn with (`MIX`'s unless `--weights` says otherwise).
    weights: [u32; 5],
    /// How many connections only write (`--writers`).
    writers: usize,
    start: Instant,
    end: Instant,
    limit: u64,
    issued: AtomicU64,
}

/// What one connection measured.
#[derive(Default)]
struct Tally {
    /// Latencies in microseconds, per action.
    samples: [Vec<u32>; 5],
    errors: [u64; 5],
    first_error: BTreeMap<usize, String>,
    /// When the last measured request completed.
    last_done: Option<Instant>,
    /// TCP connections opened (warm-up included).
    connections: u64,
}

/// SplitMix64: a small seeded source, so every run draws the same sequence per connection.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&mut self, weights: &[u32; 5]) -> Op {
        let total: u32 = weights.iter().sum();
        let mut r = (self.next() % u64::from(total)) as u32;
        for ((op, _), &w) in MIX.iter().zip(weights) {
            if r < w {
                return *op;
            }
            r -= w;
        }
        MIX[0].0
    }
}

fn prepare(op: Op, services: &[String], tasks: &[String]) -> Prepared {
    let container =
        json!({"name": "app", "image": "nginx:1.27", "cpu": 1, "memory": 6, "essential": true});
    let (action, body) = match op {
        Op::DescribeServices => (
            "DescribeServices",
            json!({"cluster": "default", "services": services}),
        ),
        Op::ListTasks => (
            "ListTasks",
            json!({"cluster": "default", "maxResults": 100}),
        ),
        Op::DescribeTasks => (
            "DescribeTasks",
            json!({"cluster": "default", "tasks": tasks}),
        ),
        Op::RunTask => (
            "RunTask",
            json!({"cluster": "default", "taskDefinition": "bench", "count": 10, "launchType": "EC2", "startedBy": "load"}),
        ),
        Op::RegisterTaskDefinition => (
            "RegisterTaskDefinition",
            json!({"family": "bench-load", "containerDefinitions": [container]}),
        ),
    };
    Prepared {
        target: format!("{TARGET_PREFIX}{action}"),
        body: Bytes::from(body.to_string()),
    }
}

/// The cheap shape check of bench/loadgen.py: the answer is the real thing, not an empty success.
fn check(op: Op, body: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Services {
        services: Vec<IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct TaskArns {
        #[serde(rename = "taskArns")]
        task_arns: Vec<IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct Tasks {
        tasks: Vec<IgnoredAny>,
    }
    #[derive(Deserialize)]
    struct Revision {
        revision: u64,
    }
    #[derive(Deserialize)]
    struct Registered {
        #[serde(rename = "taskDefinition")]
        task_definition: Revision,
    }
    let bad = |e: serde_json::Error| format!("unexpected answer ({e}): {}", excerpt(body));
    let (n, want): (usize, &str) = match op {
        Op::DescribeServices => {
            let n = serde_json::from_slice::<Services>(body)
                .map_err(bad)?
                .services
                .len();
            (n, if n == 10 { "" } else { "10 services" })
        }
        Op::ListTasks => {
            let n = serde_json::from_slice::<TaskArns>(body)
                .map_err(bad)?
                .task_arns
                .len();
            (n, if n >= 100 { "" } else { ">= 100 task ARNs" })
        }
        Op::DescribeTasks => {
            let n = serde_json::from_slice::<Tasks>(body)
                .map_err(bad)?
                .tasks
                .len();
            (n, if n == 100 { "" } else { "100 tasks" })
        }
        Op::RunTask => {
            let n = serde_json::from_slice::<Tasks>(body)
                .map_err(bad)?
                .tasks
                .len();
            (n, if n == 10 { "" } else { "10 tasks" })
        }
        Op::RegisterTaskDefinition => {
            let r = serde_json::from_slice::<Registered>(body).map_err(bad)?;
            let n = r.task_definition.revision as usize;
            (n, if n >= 1 { "" } else { "a revision >= 1" })
        }
    };
    if want.is_empty() {
        Ok(())
    } else {
        Err(format!("expected {want}, got {n}: {}", excerpt(body)))
    }
}

fn excerpt(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(&body[..body.len().min(200)]);
    s.replace('\n', " ")
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(plan: &Plan) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(&plan.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", plan.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request on a connection that is ready and reads the whole answer: `(status, body)`.
async fn send(sender: &mut Sender, plan: &Plan, p: &Prepared) -> Result<(u16, Bytes), String> {
    let mut req = Request::builder()
        .method(Method::POST)
        .uri("/")
        .header("host", &plan.host)
        .header("content-type", CONTENT_TYPE)
        .header("x-amz-target", &p.target);
    req = match &plan.signer {
        None => req
            .header("x-amz-date", AMZ_DATE)
            .header("authorization", AUTHORIZATION),
        Some(signer) => signer
            .sign(&plan.host, p)?
            .into_iter()
            .fold(req, |r, (k, v)| r.header(k, v)),
    };
    let req = req
        .header("user-agent", USER_AGENT)
        .header("content-length", p.body.len())
        .body(Full::new(p.body.clone()))
        .map_err(|e| e.to_string())?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((status, body))
}

/// One exchange on the connection in `sender`, (re)connecting first where there is none or the
/// server closed it after its previous answer (moto's server answers `Connection: close`): a
/// request that was never sent is not an error. `opened` counts the connections made.
async fn exchange(
    sender: &mut Option<Sender>,
    plan: &Plan,
    p: &Prepared,
    opened: &mut u64,
) -> Result<(u16, Bytes), String> {
    for _ in 0..3 {
        if sender.as_ref().is_some_and(Sender::is_closed) {
            *sender = None;
        }
        let s = match sender {
            Some(s) => s,
            None => {
                *opened += 1;
                sender.insert(connect(plan).await?)
            }
        };
        if s.ready().await.is_err() {
            *sender = None;
            continue;
        }
        return match tokio::time::timeout(REQUEST_TIMEOUT, send(s, plan, p)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                *sender = None;
                Err(e)
            }
            Err(_) => {
                *sender = None;
                Err(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))
            }
        };
    }
    Err("the server closed three fresh connections before a request could be sent".into())
}

async fn worker(plan: Arc<Plan>, index: u64, seed: u64) -> Tally {
    let mut rng = Rng(seed.wrapping_mul(1000).wrapping_add(index));
    let mut tally = Tally::default();
    let mut sender: Option<Sender> = None;
    let weights = connection_weights(plan.weights, plan.writers, index as usize);
    loop {
        let op = rng.pick(&weights);
        let t0 = Instant::now();
        if t0 >= plan.end {
            break;
        }
        let measured = t0 >= plan.start;
        if measured && plan.limit > 0 && plan.issued.fetch_add(1, Ordering::Relaxed) >= plan.limit {
            break;
        }
        let p = &plan.requests[op.index()];
        let outcome = exchange(&mut sender, &plan, p, &mut tally.connections).await;
        let result = outcome.and_then(|(status, body)| {
            if !(200..300).contains(&status) {
                return Err(format!("HTTP {status}: {}", excerpt(&body)));
            }
            check(op, &body)
        });
        let t1 = Instant::now();
        if !measured {
            continue;
        }
        tally.last_done = Some(tally.last_done.map_or(t1, |l| l.max(t1)));
        match result {
            Ok(()) => {
                let us = (t1 - t0).as_micros().min(u128::from(u32::MAX)) as u32;
                tally.samples[op.index()].push(us);
            }
            Err(e) => {
                tally.errors[op.index()] += 1;
                tally.first_error.entry(op.index()).or_insert(e);
            }
        }
    }
    tally
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds (as bench/loadgen.py's `pct`).
fn pct(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0 * sorted.len() as f64 + 0.5).round() as usize)
        .saturating_sub(1)
        .min(sorted.len() - 1);
    f64::from(sorted[k]) / 1000.0
}

fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

async fn post(plan: &Plan, action: &str, body: Value) -> Result<Value, String> {
    let mut s = connect(plan).await?;
    let p = Prepared {
        target: format!("{TARGET_PREFIX}{action}"),
        body: Bytes::from(body.to_string()),
    };
    let (status, body) = send(&mut s, plan, &p).await?;
    if !(200..300).contains(&status) {
        return Err(format!("{action}: HTTP {status}: {}", excerpt(&body)));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{action}: {e}"))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn run(args: Args) -> Result<bool, String> {
    let mut plan = plan(&args).await?;
    let setup = Duration::from_millis(200);
    plan.start = Instant::now() + setup + Duration::from_secs_f64(args.warmup.max(0.0));
    plan.end = plan.start + Duration::from_secs_f64(args.duration.max(0.1));
    let plan = Arc::new(plan);

    let pids: Vec<String> = args.server_pid.iter().map(u32::to_string).collect();
    let cpu_start = {
        let (plan, pids) = (plan.clone(), pids.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(plan.start.into()).await;
            (
                pids.iter().map(|p| cpu_seconds(p)).collect::<Vec<_>>(),
                cpu_seconds("self"),
                Instant::now(),
            )
        })
    };
    let workers: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| tokio::spawn(worker(plan.clone(), i as u64, args.seed)))
        .collect();
    let mut tallies = Vec::new();
    for w in workers {
        tallies.push(w.await.map_err(|e| format!("worker panicked: {e}"))?);
    }
    let (server0, client0, t_start) = cpu_start.await.map_err(|e| e.to_string())?;
    let server1: Vec<Option<f64>> = pids.iter().map(|p| cpu_seconds(p)).collect();
    let client1 = cpu_seconds("self");
    let last = tallies
        .iter()
        .filter_map(|t| t.last_done)
        .max()
        .unwrap_or(plan.end);
    let window = (last.max(t_start) - plan.start).as_secs_f64().max(1e-9);

    let mut samples: [Vec<u32>; 5] = Default::default();
    let mut errors = [0u64; 5];
    let mut first_error: BTreeMap<usize, String> = BTreeMap::new();
    let connections: u64 = tallies.iter().map(|t| t.connections).sum();
    for t in tallies {
        for i in 0..5 {
            samples[i].extend_from_slice(&t.samples[i]);
            errors[i] += t.errors[i];
        }
        for (k, v) in t.first_error {
            first_error.entry(k).or_insert(v);
        }
    }
    let mut all: Vec<u32> = samples.iter().flatten().copied().collect();
    all.sort_unstable();
    let ok = all.len() as u64;
    let err_total: u64 = errors.iter().sum();
    // Per process, then their sum (unknown when any is).
    let per_server: Vec<Option<f64>> = server0
        .iter()
        .zip(&server1)
        .map(|(a, b)| a.zip(*b).map(|(a, b)| b - a))
        .collect();
    let server_cpu = if per_server.is_empty() {
        None
    } else {
        per_server.iter().copied().sum::<Option<f64>>()
    };
    let client_cpu = client0.zip(client1).map(|(a, b)| b - a);
    let done = ok + err_total;
    let mut ops = serde_json::Map::new();
    for (op, _) in MIX {
        let s = &mut samples[op.index()];
        s.sort_unstable();
        ops.insert(
            op.name().into(),
            json!({
                "requests": s.len(),
                "errors": errors[op.index()],
                "throughput": s.len() as f64 / window,
                "p50_ms": num(pct(s, 50.0)),
                "p99_ms": num(pct(s, 99.0)),
                "first_error": first_error.get(&op.index()),
            }),
        );
    }
    let report = json!({
        "label": args.label,
        "target": args.target,
        "concurrency": args.concurrency,
        "weights": plan.weights,
        "writers": plan.writers,
        "client_threads": args.threads,
        "window_s": window,
        "requests": ok,
        "errors": err_total,
        "throughput": ok as f64 / window,
        "p50_ms": num(pct(&all, 50.0)),
        "p90_ms": num(pct(&all, 90.0)),
        "p99_ms": num(pct(&all, 99.0)),
        "max_ms": num(all.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0)),
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": server_cpu.filter(|_| done > 0).map(|c| c * 1000.0 / done as f64),
        "servers": args.server_pid.iter().zip(&per_server).map(|(pid, c)| json!({
            "pid": pid,
            "cpu_s": c,
            "cpu_ms_per_request": c.filter(|_| done > 0).map(|c| c * 1000.0 / done as f64),
        })).collect::<Vec<_>>(),
        "signed": plan.signer.is_some(),
        "client_cpu_s": client_cpu,
        "connections_opened": connections,
        "ops": ops,
    });

    println!(
        "{}: {} concurrent connections ({} TCP connections opened), {:.1} s measured, {} requests, {} errors",
        args.label, args.concurrency, connections, window, ok, err_total
    );
    if plan.writers > 0 {
        println!(
            "{} connections only write, {} only read",
            plan.writers,
            args.concurrency - plan.writers
        );
    }
    println!(
        "{:24} {:>9} {:>7} {:>10} {:>9} {:>9}",
        "operation", "requests", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for (op, _) in MIX {
        let o = &report["ops"][op.name()];
        print_row(op.name(), o);
    }
    print_row("(all)", &report);
    if per_server.len() > 1 {
        for (pid, c) in args.server_pid.iter().zip(&per_server) {
            if let Some(c) = c {
                println!(
                    "server {pid} CPU: {c:.2} s = {:.0}% of one core, {:.3} ms per request",
                    100.0 * c / window,
                    c * 1000.0 / done.max(1) as f64
                );
            }
        }
    }
    if let Some(c) = server_cpu {
        println!(
            "server CPU: {c:.2} s = {:.0}% of one core, {:.3} ms per request",
            100.0 * c / window,
            c * 1000.0 / done.max(1) as f64
        );
    }
    if let Some(c) = client_cpu {
        println!(
            "client CPU: {c:.2} s = {:.0}% of one core",
            100.0 * c / window
        );
    }
    for (k, e) in &first_error {
        println!("  first error of {}: {e}", MIX[*k].0.name());
    }
    if err_total > 0 {
        println!("THIS RUN HAD {err_total} ERRORS: its figures are not valid.");
    }
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(err_total == 0)
}

fn print_row(name: &str, o: &Value) {
    let f = |k: &str| o[k].as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    println!(
        "{:24} {:>9} {:>7} {:>10.1} {:>9} {:>9}",
        name,
        o["requests"].as_u64().unwrap_or(0),
        o["errors"].as_u64().unwrap_or(0),
        o["throughput"].as_f64().unwrap_or(0.0),
        f("p50_ms"),
        f("p99_ms")
    );
}

/// Captures one answer per action from the target, then serves those bytes until killed.
async fn serve_floor(args: Args, port: u16) -> Result<bool, String> {
    let plan = plan(&args).await?;
    let mut answers = std::collections::HashMap::new();
    let mut sender = None;
    let mut opened = 0;
    for (p, (op, _)) in plan.requests.iter().zip(MIX) {
        let (status, body) = exchange(&mut sender, &plan, p, &mut opened).await?;
        if status != 200 {
            return Err(format!("{}: HTTP {status}: {}", op.name(), excerpt(&body)));
        }
        check(op, &body)?;
        answers.insert(p.target.clone(), body);
    }
    let answers = Arc::new(answers);
    let app = axum::Router::new().route(
        "/",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let answers = answers.clone();
            async move {
                drop(body);
                let target = headers
                    .get("x-amz-target")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                match answers.get(target) {
                    Some(b) => (
                        axum::http::StatusCode::OK,
                        [("content-type", CONTENT_TYPE)],
                        b.clone(),
                    ),
                    None => (
                        axum::http::StatusCode::BAD_REQUEST,
                        [("content-type", CONTENT_TYPE)],
                        Bytes::from_static(b"{}"),
                    ),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| format!("bind 127.0.0.1:{port}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("floor: serving the captured answers on http://{addr}");
    axum::serve(listener, app)
        .await
        .map_err(|e| e.to_string())?;
    Ok(true)
}

/// `--weights`, or the mix's.
fn weights(spec: Option<&str>) -> Result<[u32; 5], String> {
    let Some(spec) = spec else {
        return Ok(MIX.map(|(_, w)| w));
    };
    let parsed: Vec<u32> = spec
        .split(',')
        .map(|w| w.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("--weights {spec}: {e}"))?;
    let weights: [u32; 5] = parsed
        .try_into()
        .map_err(|_| format!("--weights {spec}: five weights, one per action"))?;
    if weights.iter().sum::<u32>() == 0 {
        return Err(format!(
            "--weights {spec}: at least one weight must be positive"
        ));
    }
    Ok(weights)
}

/// The target, its seeded services and tasks, and the five requests.
async fn plan(args: &Args) -> Result<Plan, String> {
    let authority = args
        .target
        .strip_prefix("http://")
        .ok_or("--target must be an http:// URL")?
        .trim_end_matches('/')
        .to_string();
    let signer = args
        .sign
        .as_deref()
        .map(|spec| Signer::new(spec, &args.sign_region, &authority))
        .transpose()?;
    let mut plan = Plan {
        host: authority.clone(),
        addr: authority,
        signer,
        requests: MIX.map(|(op, _)| prepare(op, &[], &[])),
        weights: weights(args.weights.as_deref())?,
        writers: args.writers,
        start: Instant::now(),
        end: Instant::now(),
        limit: args.requests,
        issued: AtomicU64::new(0),
    };
    if plan.writers > 0 {
        let (w, r) = (
            connection_weights(plan.weights, plan.writers, 0),
            connection_weights(plan.weights, plan.writers, plan.writers),
        );
        if plan.writers >= args.concurrency {
            return Err(format!(
                "--writers {} leaves no reading connection (--concurrency {})",
                plan.writers, args.concurrency
            ));
        }
        if w.iter().sum::<u32>() == 0 || r.iter().sum::<u32>() == 0 {
            return Err(format!(
                "--writers {}: the weights need both a read and a write with a positive weight",
                plan.writers
            ));
        }
    }
    let (services, tasks) = match &args.seed_file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let v: Value =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
            (strings(&v, "services"), strings(&v, "tasks"))
        }
        None => {
            let s = post(
                &plan,
                "ListServices",
                json!({"cluster": "default", "maxResults": 10}),
            )
            .await?;
            let t = post(
                &plan,
                "ListTasks",
                json!({"cluster": "default", "maxResults": 100}),
            )
            .await?;
            (strings(&s, "serviceArns"), strings(&t, "taskArns"))
        }
    };
    let services: Vec<String> = services.into_iter().take(10).collect();
    let tasks: Vec<String> = tasks.into_iter().take(100).collect();
    if services.len() != 10 || tasks.len() != 100 {
        return Err(format!(
            "the server must hold 10 services and 100 tasks to describe (found {} and {}): seed it with bench/loadgen.py --seed-only",
            services.len(),
            tasks.len()
        ));
    }
    plan.requests = MIX.map(|(op, _)| prepare(op, &services, &tasks));
    Ok(plan)
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let rt = if let Some(port) = args.serve_floor {
        // As `berth serve`: tokio's default multi-thread runtime.
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build();
        return match rt
            .map_err(|e| e.to_string())
            .and_then(|rt| rt.block_on(serve_floor(args, port)))
        {
            Ok(_) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth-loadgen: {e}");
                std::process::ExitCode::from(2)
            }
        };
    } else if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-loadgen: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    match rt.block_on(run(args)) {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(1),
        Err(e) => {
            eprintln!("berth-loadgen: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_draw_only_the_writes_and_readers_only_the_reads() {
        let mix = MIX.map(|(_, w)| w);
        assert_eq!(connection_weights(mix, 0, 0), mix);
        assert_eq!(connection_weights(mix, 0, 31), mix);
        assert_eq!(connection_weights(mix, 4, 0), [0, 0, 0, 10, 10]);
        assert_eq!(connection_weights(mix, 4, 3), [0, 0, 0, 10, 10]);
        assert_eq!(connection_weights(mix, 4, 4), [30, 25, 25, 0, 0]);
        assert_eq!(connection_weights(mix, 4, 31), [30, 25, 25, 0, 0]);
    }

    #[test]
    fn weights_are_five_numbers_not_all_zero() {
        assert_eq!(weights(None).unwrap(), [30, 25, 25, 10, 10]);
        assert_eq!(weights(Some("1, 2,3,4,5")).unwrap(), [1, 2, 3, 4, 5]);
        assert!(weights(Some("1,2,3")).unwrap_err().contains("five weights"));
        assert!(weights(Some("0,0,0,0,0")).unwrap_err().contains("positive"));
        assert!(weights(Some("1,x,3,4,5")).is_err());
    }
}
