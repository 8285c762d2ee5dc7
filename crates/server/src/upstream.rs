//! Upstream mode's proxy: forwards one AWS JSON call to real AWS (`--upstream aws`) or to any
//! compatible endpoint (`--upstream-url URL`: another Berth, moto, LocalStack), signed afresh
//! with SigV4 and credentials that only the server holds; and the [`Policy`] (`--allow`,
//! `--deny`, `--read-only`) that decides which operations may run at all.
//!
//! **The outbound request is built fresh** ([`Upstream::forward`]): `POST` to the configured URL
//! with exactly `host` (from the configuration, never from the inbound request), `content-type`,
//! `x-amz-target` (the catalog's spelling) and the body, signed with `aws-sigv4`, which adds
//! `x-amz-date`, `authorization` and, for temporary credentials, `x-amz-security-token`. The API
//! takes no inbound headers, so none can leak through (`Cookie`, `Authorization`,
//! `X-Forwarded-*`, `User-Agent` …). The HTTP client itself adds `content-length` and
//! `accept: */*` (reqwest's fixed default; unsigned and harmless). The client follows no
//! redirect (a 302 comes back as a 302), ignores `HTTP(S)_PROXY` for `--upstream-url`
//! (a loopback upstream must not be hijacked by a proxy; with `--upstream aws` every URL is
//! `https`, so a proxy sees only a `CONNECT`), connects within 3.1 s (the SDK's default) and
//! gives up after 60 s; one pooled client serves every call. Writes are never retried.
//!
//! **The answer passes through**: status, body and the headers `content-type`,
//! `x-amzn-RequestId`, `x-amzn-ErrorType` and `x-amzn-query-error`, unchanged ([`Forwarded`]).
//! Only when the upstream cannot be reached at all does Berth answer itself, with
//! `ServerException` (HTTP 500) and a message that says which URL failed and how.
//!
//! **Credentials** come from `aws-config`'s providers in the default chain's order —
//! environment, profile (files, SSO, assume-role, `credential_process`), web identity, container
//! credentials, then the instance metadata service with a short leash (300 ms connect, 300 ms
//! read, one attempt), or not at all with `no_imds`. With an explicit `--profile` only that
//! profile is used (as the AWS CLI does). They are held in one cache, fetched once however many
//! calls wait (single flight), and refreshed before they expire (5 minutes before, or halfway
//! through a shorter life; credentials without an expiry are re-read every 15 minutes).
//! [`Upstream::new`] fetches them once, so a server without credentials fails at start-up with
//! the chain's reasons instead of on the first call.
//!
//! It does not check the [`Policy`], log, audit or poll: the server checks the policy before it
//! calls [`Upstream::forward`] (so nothing is signed for a refused call), the audit trail and the
//! poller live elsewhere. It does not stream: answers are read whole (at most 64 MiB), so
//! `StartLiveTail`'s event stream is not proxied usefully.

use std::error::Error as _;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use aws_config::Region;
use aws_config::environment::{
    EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
};
use aws_config::meta::credentials::CredentialsProviderChain;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::{ProfileFileCredentialsProvider, ProfileFileRegionProvider};
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use berth_core::protocol::{AwsError, ErrorCode};
use serde_json::Value;

use crate::catalog::{self, Operation, Service};

/// The SDK's default connect timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);
/// The longest one upstream call may take, answer included.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest the credential chain may take to answer.
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(10);
/// The instance metadata service's connect and read timeouts (the SDK's are 1 s, 4 attempts).
const IMDS_TIMEOUT: Duration = Duration::from_millis(300);
/// The largest answer read from the upstream.
const MAX_ANSWER: usize = 64 << 20;
/// The region of `--upstream-url` when none is given.
pub const DEFAULT_URL_REGION: &str = "us-east-1";

const JSON_11: &str = "application/x-amz-json-1.1";
const JSON_10: &str = "application/x-amz-json-1.0";
const TARGET: HeaderName = HeaderName::from_static("x-amz-target");

/// The answer headers that pass through, as the upstream spelled their values.
const PASSED_HEADERS: [HeaderName; 4] = [
    CONTENT_TYPE,
    HeaderName::from_static("x-amzn-requestid"),
    HeaderName::from_static("x-amzn-errortype"),
    HeaderName::from_static("x-amzn-query-error"),
];

/// Where upstream mode forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Real AWS: `https://<endpoint prefix>.<region>.amazonaws.com/` for each service (`ecs.`,
    /// `application-autoscaling.`, `logs.`, `monitoring.`, `cloudtrail.`).
    Aws,
    /// One `http(s)` URL for every service (no user info, query or fragment).
    Url(String),
}

/// How to reach the upstream.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// AWS or one URL.
    pub target: Target,
    /// The region to sign for and, with [`Target::Aws`], to call. `None`: with `Aws`,
    /// `AWS_REGION` / `AWS_DEFAULT_REGION`, then the profile's `region`; with `Url`,
    /// [`DEFAULT_URL_REGION`].
    pub region: Option<String>,
    /// The AWS profile. `None`: the default chain (environment first, then `AWS_PROFILE` or
    /// `default`); `Some`: only that profile.
    pub profile: Option<String>,
    /// Never ask the EC2 instance metadata service.
    pub no_imds: bool,
    /// Use these credentials instead of the chain (tests; see [`static_credentials`]).
    pub credentials: Option<SharedCredentialsProvider>,
}

/// A credentials provider that always answers these keys.
pub fn static_credentials(
    access_key_id: &str,
    secret_access_key: &str,
    session_token: Option<&str>,
) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        access_key_id,
        secret_access_key,
        session_token.map(str::to_string),
        None,
        "berth-static",
    ))
}

/// The upstream's answer, as it came: what the server sends back to its caller.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarded {
    /// The HTTP status.
    pub status: u16,
    /// Those of `content-type`, `x-amzn-requestid`, `x-amzn-errortype` and
    /// `x-amzn-query-error` that the upstream sent; nothing else.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body, byte for byte.
    pub body: Bytes,
}

/// One service's endpoint.
#[derive(Debug, Clone)]
struct Endpoint {
    url: reqwest::Url,
    host: HeaderValue,
}

/// The proxy: one per server, shared by every call (`Arc<Upstream>`).
pub struct Upstream {
    aws: bool,
    region: String,
    /// Indexed like [`Service::ALL`].
    endpoints: Vec<Endpoint>,
    client: reqwest::Client,
    credentials: CredentialsCache,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upstream")
            .field("kind", &self.kind())
            .field("region", &self.region)
            .field("url", &self.endpoint_label())
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// Checks the configuration, builds the client and fetches the credentials once.
    ///
    /// # Errors
    ///
    /// A message for the command line when the URL or region is unusable, no region is
    /// configured for `--upstream aws`, or no credentials can be had (with the chain's
    /// reasons, within about 10 s; within 2 s when nothing is configured and `no_imds` is set
    /// or there is no instance metadata service).
    pub async fn new(config: UpstreamConfig) -> Result<Upstream, String> {
        let region = match (&config.target, &config.region) {
            (_, Some(r)) => r.clone(),
            (Target::Url(_), None) => DEFAULT_URL_REGION.to_string(),
            (Target::Aws, None) => {
                let mut profile_region = ProfileFileRegionProvider::builder();
                if let Some(p) = &config.profile {
                    profile_region = profile_region.profile_name(p);
                }
                RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
                    .or_else(profile_region.build())
                    .region()
                    .await
                    .map(|r| r.to_string())
                    .ok_or(
                        "--upstream aws needs a region: give --region, set AWS_REGION, or set \
                         `region` in the profile",
                    )?
            }
        };
        check_region(&region)?;
        let endpoints = match &config.target {
            Target::Aws => Service::ALL
                .iter()
                .map(|s| aws_endpoint(*s, &region))
                .collect::<Result<Vec<_>, _>>()?,
            Target::Url(u) => {
                let e = url_endpoint(u)?;
                if e.url.scheme() == "http" && !is_loopback(&e.url) {
                    tracing::warn!(
                        url = %e.url,
                        "the upstream URL is plain http beyond loopback: signed calls (replayable for 5 minutes) and answers cross the network in the clear"
                    );
                }
                vec![e; Service::ALL.len()]
            }
        };
        let aws = config.target == Target::Aws;
        let mut client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30));
        if !aws {
            client = client.no_proxy();
        }
        let client = client
            .build()
            .map_err(|e| format!("cannot build the upstream HTTP client: {}", chain(&e)))?;
        let provider = match config.credentials {
            Some(p) => p,
            None => default_chain(&region, config.profile.as_deref(), config.no_imds),
        };
        let credentials = CredentialsCache::new(provider);
        credentials.get(SystemTime::now()).await.map_err(|e| {
            format!(
                "no AWS credentials for the upstream: {e}\n  Berth looks where the AWS CLI looks: \
                     AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, the profile in \
                     ~/.aws/credentials and ~/.aws/config (AWS_PROFILE or --profile; SSO and \
                     assume-role profiles work), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), \
                     container credentials, then the instance metadata service (off with \
                     --no-imds). `aws sts get-caller-identity` tells whether the chain works."
            )
        })?;
        Ok(Upstream {
            aws,
            region,
            endpoints,
            client,
            credentials,
        })
    }

    /// `aws` or `url`, as `/_berth/session` and `/_berth/info` say it.
    pub fn kind(&self) -> &'static str {
        if self.aws { "aws" } else { "url" }
    }

    /// The region calls are signed for (and, with `aws`, sent to).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Where calls to `service` go.
    pub fn endpoint(&self, service: Service) -> &str {
        self.endpoint_of(service).url.as_str()
    }

    /// The URL to show (`/_berth/info`): the one URL of `--upstream-url`, or ECS's endpoint
    /// with `aws`.
    pub fn endpoint_label(&self) -> String {
        self.endpoint(Service::Ecs).to_string()
    }

    fn endpoint_of(&self, service: Service) -> &Endpoint {
        let i = Service::ALL.iter().position(|s| *s == service).unwrap_or(0);
        &self.endpoints[i]
    }

    /// Forwards one call and returns the upstream's answer as it came, whatever its status.
    ///
    /// `target` is the inbound `X-Amz-Target` and must be `op`'s own (so what the policy
    /// checked is what is sent); `content_type` is the inbound one, kept when it is
    /// `application/x-amz-json-1.1` or `1.0` and replaced by the service's otherwise (a
    /// transcoded CBOR call, say). Check the [`Policy`] first.
    ///
    /// # Errors
    ///
    /// `UnknownOperationException` when `target` is not `op`'s; `ServerException` (500) when
    /// no credentials can be had, the call cannot be signed, or the upstream cannot be reached,
    /// times out or answers more than 64 MiB. An upstream error answer is not an `Err`: it is
    /// a [`Forwarded`] with the upstream's status and body.
    pub async fn forward(
        &self,
        op: &Operation,
        target: &str,
        content_type: &str,
        body: Bytes,
    ) -> Result<Forwarded, AwsError> {
        if target != op.target {
            return Err(AwsError::new(
                ErrorCode::UnknownOperationException,
                format!("The target {target} is not the operation {}.", op.target),
            ));
        }
        let content_type = match content_type.trim() {
            ct if ct.eq_ignore_ascii_case(JSON_11) => JSON_11,
            ct if ct.eq_ignore_ascii_case(JSON_10) => JSON_10,
            _ => op.service.content_type(),
        };
        let endpoint = self.endpoint_of(op.service);
        let credentials = self.credentials.get(SystemTime::now()).await.map_err(|e| {
            server_error(format!(
                "Berth has no AWS credentials for the upstream: {e}"
            ))
        })?;
        let mut headers = axum::http::HeaderMap::with_capacity(6);
        headers.insert(HOST, endpoint.host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(TARGET, HeaderValue::from_static(op.target));
        sign_headers(
            &mut headers,
            &endpoint.url,
            &body,
            credentials,
            &self.region,
            op.service.signing_name(),
            SystemTime::now(),
        )?;
        let resp = self
            .client
            .post(endpoint.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| transport_error(&endpoint.url, &e))?;
        let status = resp.status().as_u16();
        let headers = PASSED_HEADERS
            .iter()
            .filter_map(|name| resp.headers().get(name).map(|v| (name.clone(), v.clone())))
            .collect();
        let body = read_answer(resp, &endpoint.url).await?;
        Ok(Forwarded {
            status,
            headers,
            body,
        })
    }

    /// Runs one operation with a JSON body and returns the upstream's JSON answer (`{}` for an
    /// empty one): the poller's door. It does not check the [`Policy`].
    ///
    /// # Errors
    ///
    /// Those of [`Upstream::forward`]; an upstream error answer becomes its `AwsError` (see
    /// [`upstream_error`]); a success whose body is not JSON is a `ServerException`.
    pub async fn call_json(&self, op: &Operation, body: Value) -> Result<Value, AwsError> {
        let bytes = serde_json::to_vec(&body).map_err(|e| server_error(e.to_string()))?;
        let answer = self
            .forward(op, op.target, op.service.content_type(), bytes.into())
            .await?;
        if !(200..300).contains(&answer.status) {
            return Err(upstream_error(answer.status, &answer.headers, &answer.body));
        }
        if answer.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Object(Default::default()));
        }
        serde_json::from_slice(&answer.body).map_err(|e| {
            server_error(format!(
                "The upstream answered {} with a body that is not JSON: {e}",
                op.name
            ))
        })
    }
}

/// The `AwsError` an upstream error answer stands for: the code from the body's `__type` (or
/// `code`), else from `x-amzn-ErrorType`, without a `namespace#` prefix or a `:…` suffix; the
/// message from `message` (or `Message`). A code Berth does not know becomes
/// `ServerException` for a 5xx status and `ClientException` otherwise, with the upstream's code
/// kept in front of the message (`ThingNotFoundException: …`).
pub fn upstream_error(status: u16, headers: &[(HeaderName, HeaderValue)], body: &[u8]) -> AwsError {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| doc.get(*k).and_then(Value::as_str))
            .map(str::to_string)
    };
    let header_code = headers
        .iter()
        .find(|(n, _)| n.as_str() == "x-amzn-errortype")
        .and_then(|(_, v)| v.to_str().ok())
        .map(str::to_string);
    let raw = text(&["__type", "code"])
        .or(header_code)
        .unwrap_or_default();
    let code = raw.rsplit('#').next().unwrap_or("");
    let code = code.split(':').next().unwrap_or("").trim();
    let message = text(&["message", "Message"])
        .unwrap_or_else(|| format!("The upstream answered HTTP {status} without a message."));
    match ErrorCode::from_name(code) {
        Some(c) => AwsError::new(c, message),
        None => {
            let fallback = if status >= 500 {
                ErrorCode::ServerException
            } else {
                ErrorCode::ClientException
            };
            let code = if code.is_empty() {
                format!("HTTP {status}")
            } else {
                code.to_string()
            };
            AwsError::new(fallback, format!("{code}: {message}"))
        }
    }
}

/// Signs the request whose `host`, `content-type` and `x-amz-target` are in `headers`, and adds
/// the signer's headers.
fn sign_headers(
    headers: &mut axum::http::HeaderMap,
    url: &reqwest::Url,
    body: &[u8],
    credentials: Credentials,
    region: &str,
    signing_name: &str,
    time: SystemTime,
) -> Result<(), AwsError> {
    let fail = |e: &dyn std::error::Error| {
        server_error(format!("Berth could not sign the call: {}", chain(e)))
    };
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(signing_name)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| fail(&e))?
        .into();
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        pairs.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| fail(&e))?;
    let (instructions, _signature) = sign(signable, &params).map_err(|e| fail(&e))?.into_parts();
    for (name, value) in instructions.headers() {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| fail(&e))?;
        let value = HeaderValue::from_str(value).map_err(|e| fail(&e))?;
        headers.insert(name, value);
    }
    Ok(())
}

async fn read_answer(mut resp: reqwest::Response, url: &reqwest::Url) -> Result<Bytes, AwsError> {
    let too_big = || {
        server_error(format!(
            "The upstream {url} answered more than {} MiB.",
            MAX_ANSWER >> 20
        ))
    };
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| transport_error(url, &e))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

fn server_error(message: String) -> AwsError {
    AwsError::new(ErrorCode::ServerException, message)
}

fn transport_error(url: &reqwest::Url, e: &reqwest::Error) -> AwsError {
    let how = if e.is_timeout() {
        format!(
            "it did not answer in time (connect {:.1} s, call {} s)",
            CONNECT_TIMEOUT.as_secs_f64(),
            CALL_TIMEOUT.as_secs()
        )
    } else if e.is_connect() {
        "it cannot be connected to".to_string()
    } else {
        "the exchange failed".to_string()
    };
    // reqwest's own text repeats the URL; its sources say what happened.
    let detail = e.source().map_or_else(|| e.to_string(), chain);
    server_error(format!(
        "Berth could not reach the upstream {url}: {how} ({detail})."
    ))
}

/// An error and its sources, `: `-joined.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A region is a DNS label (`us-east-1`): it becomes part of a host name.
fn check_region(region: &str) -> Result<(), String> {
    let ok = !region.is_empty()
        && region.len() <= 63
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the region {region:?} is not a region name (lowercase letters, digits and dashes, like us-east-1)"
        ))
    }
}

fn aws_endpoint(service: Service, region: &str) -> Result<Endpoint, String> {
    let domain = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    url_endpoint(&format!(
        "https://{}.{region}.{domain}/",
        service.endpoint_prefix()
    ))
}

fn url_endpoint(raw: &str) -> Result<Endpoint, String> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| format!("the upstream URL {raw:?} is not a URL: {e}"))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(format!("the upstream URL {raw:?} must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!(
            "the upstream URL {raw:?} must not carry a user name or password (it is shown in /_berth/info); credentials come from the AWS chain"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "the upstream URL {raw:?} must not have a query or fragment"
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("the upstream URL {raw:?} has no host"))?;
    let authority = match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let host = HeaderValue::from_str(&authority)
        .map_err(|e| format!("the upstream URL {raw:?} has an unusable host: {e}"))?;
    Ok(Endpoint { url, host })
}

/// The default chain's providers in its order, on rustls/ring, with a short IMDS leash.
fn default_chain(region: &str, profile: Option<&str>, no_imds: bool) -> SharedCredentialsProvider {
    use aws_config::ecs::EcsCredentialsProvider;
    use aws_config::imds;
    use aws_config::web_identity_token::WebIdentityTokenCredentialsProvider;
    use aws_smithy_http_client::tls;

    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let conf = ProviderConfig::without_region()
        .with_http_client(http)
        .with_region(Some(Region::new(region.to_string())));
    let profile_provider = |name: Option<&str>| {
        let mut b = ProfileFileCredentialsProvider::builder().configure(&conf);
        if let Some(p) = name {
            b = b.profile_name(p);
        }
        b.build()
    };
    if let Some(p) = profile {
        // As the AWS CLI does: an explicit profile is the only source (the profile itself may
        // name `credential_source = Environment | Ec2InstanceMetadata | EcsContainer`).
        return SharedCredentialsProvider::new(profile_provider(Some(p)));
    }
    let chain = CredentialsProviderChain::first_try(
        "Environment",
        EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", profile_provider(None))
    .or_else(
        "WebIdentityToken",
        WebIdentityTokenCredentialsProvider::builder()
            .configure(&conf)
            .build(),
    )
    .or_else(
        "EcsContainer",
        EcsCredentialsProvider::builder().configure(&conf).build(),
    );
    if no_imds {
        return SharedCredentialsProvider::new(chain);
    }
    let imds_client = imds::Client::builder()
        .configure(&conf)
        .connect_timeout(IMDS_TIMEOUT)
        .read_timeout(IMDS_TIMEOUT)
        .max_attempts(1)
        .build();
    SharedCredentialsProvider::new(
        chain.or_else(
            "Ec2InstanceMetadata",
            imds::credentials::ImdsCredentialsProvider::builder()
                .configure(&conf)
                .imds_client(imds_client)
                .build(),
        ),
    )
}

/// Credentials held between calls.
#[derive(Clone)]
struct Cached {
    credentials: Credentials,
    /// From here on, the next call fetches new ones.
    refresh_at: SystemTime,
    /// After this they are not used even when a refresh fails.
    expires_at: Option<SystemTime>,
}

impl Cached {
    fn new(credentials: Credentials, now: SystemTime) -> Cached {
        let expires_at = credentials.expiry();
        let refresh_at = match expires_at {
            None => now + Duration::from_secs(15 * 60),
            Some(e) => {
                let life = e.duration_since(now).unwrap_or_default();
                e - life.min(Duration::from_secs(10 * 60)) / 2
            }
        };
        Cached {
            credentials,
            refresh_at,
            expires_at,
        }
    }
}

/// One cached identity with single-flight refresh: however many calls find it stale at once,
/// the provider is asked once.
#[derive(Debug)]
struct CredentialsCache {
    provider: SharedCredentialsProvider,
    current: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
}

impl fmt::Debug for Cached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Credentials' own Debug redacts the secret.
        f.debug_struct("Cached")
            .field("credentials", &self.credentials)
            .field("refresh_at", &self.refresh_at)
            .finish()
    }
}

impl CredentialsCache {
    fn new(provider: SharedCredentialsProvider) -> CredentialsCache {
        CredentialsCache {
            provider,
            current: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    fn cached(&self, usable: impl Fn(&Cached) -> bool) -> Option<Credentials> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|c| usable(c))
            .map(|c| c.credentials.clone())
    }

    /// Credentials valid at `now`, fetched when the cached ones are due for refresh.
    async fn get(&self, now: SystemTime) -> Result<Credentials, String> {
        let fresh = |c: &Cached| now < c.refresh_at;
        if let Some(c) = self.cached(fresh) {
            return Ok(c);
        }
        let _flight = self.refresh.lock().await;
        if let Some(c) = self.cached(fresh) {
            return Ok(c);
        }
        let fetched =
            tokio::time::timeout(CREDENTIALS_TIMEOUT, self.provider.provide_credentials())
                .await
                .map_err(|_| {
                    format!(
                        "the credential chain did not answer within {} s",
                        CREDENTIALS_TIMEOUT.as_secs()
                    )
                })
                .and_then(|r| r.map_err(|e| chain(&e)));
        match fetched {
            Ok(c) => {
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(Cached::new(c.clone(), now));
                Ok(c)
            }
            Err(e) => {
                let unexpired = |c: &Cached| c.expires_at.is_none_or(|x| now < x);
                match self.cached(unexpired) {
                    Some(c) => {
                        tracing::warn!(error = %e, "refreshing the upstream credentials failed; the current ones are still valid");
                        Ok(c)
                    }
                    None => Err(e),
                }
            }
        }
    }
}

/// What may run: the catalog's operations, narrowed by `--allow` patterns (when any), minus
/// `--deny` patterns (deny wins), and only reads with `--read-only`. Patterns are IAM-style
/// actions with `*` and `?` wildcards, matched without regard to case: `ecs:Describe*`,
/// `logs:*`, `*:List*`, `*`. The default allows everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    allow: Vec<String>,
    deny: Vec<String>,
    read_only: bool,
}

impl Policy {
    /// A policy from the command line's patterns.
    ///
    /// # Errors
    ///
    /// A message naming the pattern when one has no `service:` part or matches no operation
    /// of the catalog (a typo would otherwise silently allow or deny nothing).
    pub fn new(allow: &[String], deny: &[String], read_only: bool) -> Result<Policy, String> {
        let check = |flag: &str, patterns: &[String]| -> Result<Vec<String>, String> {
            patterns
                .iter()
                .map(|p| {
                    let p = p.trim();
                    if p != "*" && !p.contains(':') {
                        return Err(format!(
                            "{flag} {p}: a pattern is service:Action, like ecs:Describe* or logs:*"
                        ));
                    }
                    if !catalog::operations().iter().any(|op| matches(p, op)) {
                        return Err(format!(
                            "{flag} {p} matches no operation (services: ecs, application-autoscaling, logs, cloudwatch, cloudtrail)"
                        ));
                    }
                    Ok(p.to_string())
                })
                .collect()
        };
        Ok(Policy {
            allow: check("--allow", allow)?,
            deny: check("--deny", deny)?,
            read_only,
        })
    }

    /// Whether only reads pass.
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether `op` may run for `principal_arn` (named in the refusal, as AWS does).
    ///
    /// # Errors
    ///
    /// `AccessDeniedException` (400) saying why: read-only mode, a `--deny` pattern, or no
    /// `--allow` pattern. For example `User: arn:aws:iam::000000000000:user/ops is not
    /// authorized to perform: ecs:RunTask on resource: * because Berth is running in read-only
    /// mode`.
    pub fn check(&self, op: &Operation, principal_arn: &str) -> Result<(), AwsError> {
        let action = op.action();
        let denied = |why: String| {
            Err(AwsError::new(
                ErrorCode::AccessDeniedException,
                format!(
                    "User: {principal_arn} is not authorized to perform: {action} on resource: * {why}"
                ),
            ))
        };
        if self.read_only && !op.read_only {
            return denied("because Berth is running in read-only mode".into());
        }
        if let Some(p) = self.deny.iter().find(|p| matches(p, op)) {
            return denied(format!("with an explicit deny in Berth's --deny {p}"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| matches(p, op)) {
            return denied(format!(
                "because no Berth --allow pattern allows the {action} action"
            ));
        }
        Ok(())
    }
}

/// Whether an IAM-style pattern matches the operation's action.
fn matches(pattern: &str, op: &Operation) -> bool {
    let action = op.action();
    glob(pattern.as_bytes(), action.as_bytes())
}

/// `*` (any run) and `?` (one character) wildcards, ASCII case-insensitive.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p].eq_ignore_ascii_case(&text[t])) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::future;
    use axum::body::Body;
    use axum::extract::State;
    use axum::http::{Request, Response};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const ARN: &str = "arn:aws:iam::000000000000:user/tester";

    /// One request as the echo upstream saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        }
        fn names(&self) -> Vec<&str> {
            let mut n: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
            n.sort_unstable();
            n
        }
    }

    /// What the echo answers.
    #[derive(Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: &'static [u8],
    }

    #[derive(Clone)]
    struct Echo {
        seen: Arc<Mutex<Vec<Seen>>>,
        reply: Reply,
    }

    async fn record(State(echo): State<Echo>, req: Request<Body>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        echo.seen.lock().unwrap().push(Seen {
            method: parts.method.to_string(),
            path: parts.uri.path().to_string(),
            headers: parts
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect(),
            body: body.to_vec(),
        });
        let mut resp = Response::builder().status(echo.reply.status);
        for (k, v) in &echo.reply.headers {
            resp = resp.header(*k, *v);
        }
        resp.body(Body::from(echo.reply.body)).unwrap()
    }

    /// A loopback upstream that records every request and answers `reply`.
    async fn echo(reply: Reply) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().fallback(record).with_state(Echo {
            seen: seen.clone(),
            reply,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/"), seen)
    }

    fn ok_reply() -> Reply {
        Reply {
            status: 200,
            headers: vec![
                ("content-type", JSON_11),
                ("x-amzn-requestid", "11111111-2222-3333-4444-555555555555"),
            ],
            body: b"{\"clusterArns\":[]}",
        }
    }

    async fn upstream(url: &str, token: Option<&str>) -> Upstream {
        Upstream::new(UpstreamConfig {
            target: Target::Url(url.to_string()),
            region: Some("eu-west-1".into()),
            profile: None,
            no_imds: true,
            credentials: Some(static_credentials(AKID, SECRET, token)),
        })
        .await
        .unwrap()
    }

    fn ecs(name: &str) -> &'static Operation {
        catalog::find(Service::Ecs, name).unwrap()
    }

    /// The server's order: the policy, then (only if it passes) the proxy.
    async fn gate(policy: &Policy, up: &Upstream, op: &Operation) -> Result<Forwarded, AwsError> {
        policy.check(op, ARN)?;
        up.forward(op, op.target, JSON_11, Bytes::from_static(b"{}"))
            .await
    }

    /// `20150830T123600Z` as a time.
    fn amz_date(s: &str) -> SystemTime {
        let n = |r: std::ops::Range<usize>| s[r].parse::<i64>().unwrap();
        let (y, m, d) = (n(0..4), n(4..6), n(6..8));
        // Days from civil (Howard Hinnant's algorithm).
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let secs = days * 86_400 + n(9..11) * 3600 + n(11..13) * 60 + n(13..15);
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    }

    fn hex_sha256(bytes: &[u8]) -> String {
        use sha2::Digest as _;
        sha2::Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Verifies what the upstream received the way a SigV4 verifier does, by hand (not through
    /// the signing code): the canonical request from the received headers named in
    /// `SignedHeaders` and the received body, the string to sign, the signature with the
    /// secret. So the signature covers exactly the host, content type, target, date, token and
    /// body that arrived.
    fn assert_signature_verifies(seen: &Seen, region: &str, service: &str) {
        let auth = seen.header("authorization").unwrap();
        let (scope, rest) = auth
            .strip_prefix(&format!("AWS4-HMAC-SHA256 Credential={AKID}/"))
            .unwrap()
            .split_once(", SignedHeaders=")
            .unwrap();
        let (signed, signature) = rest.split_once(", Signature=").unwrap();
        let date = seen.header("x-amz-date").unwrap();
        assert_eq!(
            scope,
            format!("{}/{region}/{service}/aws4_request", &date[..8])
        );
        let mut canonical = format!("{}\n{}\n\n", seen.method, seen.path);
        for name in signed.split(';') {
            canonical.push_str(&format!("{name}:{}\n", seen.header(name).unwrap().trim()));
        }
        canonical.push_str(&format!("\n{signed}\n{}", hex_sha256(&seen.body)));
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
            hex_sha256(canonical.as_bytes())
        );
        let key = v4::generate_signing_key(SECRET, amz_date(date), region, service);
        assert_eq!(signature, v4::calculate_signature(key, to_sign.as_bytes()));
    }

    /// axum handlers (and `tokio::spawn`) need `Send` futures.
    #[allow(dead_code, reason = "a compile-time check, never run")]
    fn futures_are_send(up: &Upstream, op: &'static Operation) {
        fn send<T: Send>(_: T) {}
        send(up.forward(op, op.target, JSON_11, Bytes::new()));
        send(up.call_json(op, Value::Null));
        send(Upstream::new(UpstreamConfig {
            target: Target::Aws,
            region: None,
            profile: None,
            no_imds: true,
            credentials: None,
        }));
    }

    #[tokio::test]
    async fn the_outbound_request_is_exactly_the_signed_call() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let op = ecs("ListClusters");
        let body = Bytes::from_static(b"{\"maxResults\":5}");
        let f = up
            .forward(op, op.target, JSON_11, body.clone())
            .await
            .unwrap();
        assert_eq!(f.status, 200);
        let seen = seen.lock().unwrap()[0].clone();
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/");
        assert_eq!(
            seen.names(),
            [
                "accept",
                "authorization",
                "content-length",
                "content-type",
                "host",
                "x-amz-date",
                "x-amz-target",
            ]
        );
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches('/');
        assert_eq!(seen.header("host"), Some(&*format!("127.0.0.1:{port}")));
        assert_eq!(seen.header("content-type"), Some(JSON_11));
        assert_eq!(
            seen.header("x-amz-target"),
            Some("AmazonEC2ContainerServiceV20141113.ListClusters")
        );
        assert_eq!(seen.header("accept"), Some("*/*"));
        assert_eq!(seen.body, body);
        let auth = seen.header("authorization").unwrap();
        let date = seen.header("x-amz-date").unwrap();
        assert!(
            auth.starts_with(&format!(
                "AWS4-HMAC-SHA256 Credential={AKID}/{}/eu-west-1/ecs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=",
                &date[..8]
            )),
            "{auth}"
        );
        assert_signature_verifies(&seen, "eu-west-1", "ecs");
        // The check is not vacuous: one more byte of body, or another host, fails it.
        let mut tampered = seen.clone();
        tampered.body.push(b' ');
        assert!(
            std::panic::catch_unwind(|| assert_signature_verifies(&tampered, "eu-west-1", "ecs"))
                .is_err()
        );
        let mut moved = seen.clone();
        moved.headers.retain(|(n, _)| n != "host");
        moved
            .headers
            .push(("host".into(), "sts.amazonaws.com".into()));
        assert!(
            std::panic::catch_unwind(|| assert_signature_verifies(&moved, "eu-west-1", "ecs"))
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_session_token_is_sent_and_signed() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, Some("session-token-value")).await;
        let op = ecs("DescribeClusters");
        up.forward(op, op.target, JSON_11, Bytes::from_static(b"{}"))
            .await
            .unwrap();
        let seen = seen.lock().unwrap()[0].clone();
        assert_eq!(
            seen.header("x-amz-security-token"),
            Some("session-token-value")
        );
        assert!(seen.header("authorization").unwrap().contains(
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target,"
        ));
        assert_signature_verifies(&seen, "eu-west-1", "ecs");
    }

    #[tokio::test]
    async fn the_content_type_is_kept_only_when_it_is_aws_json() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let list = ecs("ListClusters");
        let metrics = catalog::find(Service::CloudWatch, "GetMetricData").unwrap();
        for (op, inbound, sent) in [
            (list, "application/x-amz-json-1.0", JSON_10),
            (list, "Application/X-Amz-Json-1.1", JSON_11),
            (list, "application/cbor", JSON_11),
            (list, "text/plain; evil", JSON_11),
            (metrics, "application/cbor", JSON_10),
        ] {
            up.forward(op, op.target, inbound, Bytes::new())
                .await
                .unwrap();
            let last = seen.lock().unwrap().last().unwrap().clone();
            assert_eq!(last.header("content-type"), Some(sent), "{inbound}");
        }
        let last = seen.lock().unwrap().last().unwrap().clone();
        assert_eq!(
            last.header("x-amz-target"),
            Some("GraniteServiceVersion20100801.GetMetricData")
        );
        // Signed for CloudWatch's signing name, not ECS's.
        assert_signature_verifies(&last, "eu-west-1", "monitoring");
    }

    #[tokio::test]
    async fn the_target_must_be_the_operations_own() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let e = up
            .forward(
                ecs("ListClusters"),
                "AmazonEC2ContainerServiceV20141113.DeleteCluster",
                JSON_11,
                Bytes::new(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownOperationException);
        assert!(seen.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_upstream_redirect_is_returned_not_followed() {
        let (url, seen) = echo(Reply {
            status: 302,
            headers: vec![("location", "http://127.0.0.1:9/elsewhere")],
            body: b"",
        })
        .await;
        let up = upstream(&url, None).await;
        let op = ecs("ListClusters");
        let f = up
            .forward(op, op.target, JSON_11, Bytes::new())
            .await
            .unwrap();
        assert_eq!(f.status, 302);
        assert!(f.headers.is_empty(), "{:?}", f.headers);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn an_upstream_error_passes_through_byte_for_byte() {
        const BODY: &[u8] =
            b"{\"__type\":\"ClusterNotFoundException\",\"message\":\"Cluster not found.\"}";
        let (url, _) = echo(Reply {
            status: 400,
            headers: vec![
                ("content-type", JSON_11),
                ("x-amzn-RequestId", "0f0f0f0f-aaaa-bbbb-cccc-123456789abc"),
                (
                    "x-amzn-ErrorType",
                    "ClusterNotFoundException:http://internal.amazon.com/",
                ),
                ("set-cookie", "aws=secret"),
                ("x-amz-apigw-id", "not-passed"),
            ],
            body: BODY,
        })
        .await;
        let up = upstream(&url, None).await;
        let op = ecs("DescribeClusters");
        let f = up
            .forward(op, op.target, JSON_11, Bytes::new())
            .await
            .unwrap();
        assert_eq!(f.status, 400);
        assert_eq!(&f.body[..], BODY);
        let headers: Vec<(&str, &str)> = f
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(
            headers,
            [
                ("content-type", JSON_11),
                ("x-amzn-requestid", "0f0f0f0f-aaaa-bbbb-cccc-123456789abc"),
                (
                    "x-amzn-errortype",
                    "ClusterNotFoundException:http://internal.amazon.com/"
                ),
            ]
        );
        let e = up
            .call_json(op, serde_json::json!({"clusters": ["nope"]}))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            AwsError::new(ErrorCode::ClusterNotFoundException, "Cluster not found.")
        );
    }

    #[tokio::test]
    async fn call_json_answers_the_upstreams_json() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let v = up
            .call_json(ecs("ListClusters"), serde_json::json!({"maxResults": 100}))
            .await
            .unwrap();
        assert_eq!(v, serde_json::json!({"clusterArns": []}));
        assert_eq!(seen.lock().unwrap()[0].body, b"{\"maxResults\":100}");
    }

    #[test]
    fn upstream_errors_map_to_codes() {
        let none: &[(HeaderName, HeaderValue)] = &[];
        let e = upstream_error(
            400,
            none,
            br#"{"__type":"com.amazonaws.ecs#ServiceNotFoundException","message":"Service not found."}"#,
        );
        assert_eq!(e.code, ErrorCode::ServiceNotFoundException);
        assert_eq!(e.message, "Service not found.");
        let e = upstream_error(
            400,
            none,
            br#"{"__type":"BrandNewException","Message":"new"}"#,
        );
        assert_eq!(
            e,
            AwsError::new(ErrorCode::ClientException, "BrandNewException: new")
        );
        let e = upstream_error(503, none, b"<html>busy</html>");
        assert_eq!(e.code, ErrorCode::ServerException);
        assert!(e.message.starts_with("HTTP 503: "), "{}", e.message);
        let from_header = [(
            HeaderName::from_static("x-amzn-errortype"),
            HeaderValue::from_static("ThrottlingException:http://internal.amazon.com/"),
        )];
        let e = upstream_error(400, &from_header, b"{\"message\":\"Rate exceeded\"}");
        assert_eq!(
            e,
            AwsError::new(ErrorCode::ThrottlingException, "Rate exceeded")
        );
    }

    #[tokio::test]
    async fn an_unreachable_upstream_is_a_server_exception() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let up = upstream(&url, None).await;
        let op = ecs("ListClusters");
        let e = up
            .forward(op, op.target, JSON_11, Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(e.code, ErrorCode::ServerException);
        assert!(
            e.message.starts_with(&format!(
                "Berth could not reach the upstream {url}: it cannot be connected to"
            )),
            "{}",
            e.message
        );
        assert!(!e.message.contains(SECRET));
    }

    #[tokio::test]
    async fn read_only_mode_over_every_ecs_operation() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let policy = Policy::new(&[], &[], true).unwrap();
        let mut reads = Vec::new();
        for op in catalog::operations()
            .iter()
            .filter(|o| o.service == Service::Ecs)
        {
            match gate(&policy, &up, op).await {
                Ok(f) => {
                    assert!(op.read_only, "{} passed", op.name);
                    assert_eq!(f.status, 200);
                    reads.push(op.target.to_string());
                }
                Err(e) => {
                    assert!(!op.read_only, "{} was refused", op.name);
                    assert_eq!(e.code, ErrorCode::AccessDeniedException);
                    assert_eq!(
                        e.message,
                        format!(
                            "User: {ARN} is not authorized to perform: ecs:{} on resource: * because Berth is running in read-only mode",
                            op.name
                        )
                    );
                }
            }
        }
        let sent: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.header("x-amz-target").unwrap().to_string())
            .collect();
        assert_eq!(sent, reads, "only reads reached the upstream");
        assert!(reads.len() > 25 && reads.len() < 40, "{}", reads.len());
        assert!(!reads.iter().any(|t| t.ends_with(".ExecuteCommand")));
    }

    #[tokio::test]
    async fn denied_operations_never_reach_the_upstream() {
        let (url, seen) = echo(ok_reply()).await;
        let up = upstream(&url, None).await;
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let policy = Policy::new(
            &s(&["ecs:*", "logs:Get*"]),
            &s(&["ecs:Run*", "ECS:deletecluster"]),
            false,
        )
        .unwrap();
        for name in ["RunTask", "DeleteCluster"] {
            let e = gate(&policy, &up, ecs(name)).await.unwrap_err();
            assert_eq!(e.code, ErrorCode::AccessDeniedException);
            assert!(
                e.message
                    .contains("with an explicit deny in Berth's --deny"),
                "{}",
                e.message
            );
        }
        let put = catalog::find(Service::Logs, "PutLogEvents").unwrap();
        let e = gate(&policy, &up, put).await.unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "User: {ARN} is not authorized to perform: logs:PutLogEvents on resource: * because no Berth --allow pattern allows the logs:PutLogEvents action"
            )
        );
        assert_eq!(seen.lock().unwrap().len(), 0);
        gate(&policy, &up, ecs("CreateCluster")).await.unwrap();
        let get = catalog::find(Service::Logs, "GetLogEvents").unwrap();
        gate(&policy, &up, get).await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[test]
    fn policy_patterns() {
        let s = |v: &[&str]| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        assert!(
            Policy::new(&s(&["ecs"]), &[], false)
                .unwrap_err()
                .contains("service:Action")
        );
        assert!(
            Policy::new(&[], &s(&["ecs:DescribeCluster"]), false)
                .unwrap_err()
                .contains("matches no operation")
        );
        assert!(Policy::new(&s(&["ec2:*"]), &[], false).is_err());
        let p = Policy::new(&s(&["*:List*", "cloudwatch:GetMetric?ata"]), &[], false).unwrap();
        let ok = |svc, name| p.check(catalog::find(svc, name).unwrap(), ARN).is_ok();
        assert!(ok(Service::Ecs, "ListTasks"));
        assert!(ok(Service::CloudTrail, "ListTrails"));
        assert!(ok(Service::CloudWatch, "GetMetricData"));
        assert!(!ok(Service::Ecs, "DescribeTasks"));
        assert!(Policy::default().check(ecs("RunTask"), ARN).is_ok());
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*b", b"aXXc"));
        assert!(glob(b"ecs:describe*", b"ecs:DescribeTasks"));
    }

    #[test]
    fn endpoints_and_config_checks() {
        let e = aws_endpoint(Service::CloudWatch, "eu-west-1").unwrap();
        assert_eq!(
            e.url.as_str(),
            "https://monitoring.eu-west-1.amazonaws.com/"
        );
        assert_eq!(e.host, "monitoring.eu-west-1.amazonaws.com");
        let e = aws_endpoint(Service::AutoScaling, "cn-north-1").unwrap();
        assert_eq!(
            e.url.as_str(),
            "https://application-autoscaling.cn-north-1.amazonaws.com.cn/"
        );
        let e = url_endpoint("http://[::1]:4566/berth/").unwrap();
        assert_eq!(e.host, "[::1]:4566");
        assert_eq!(
            url_endpoint("https://example.com:443/").unwrap().host,
            "example.com"
        );
        assert!(url_endpoint("http://user:pw@127.0.0.1:1/").is_err());
        assert!(url_endpoint("ftp://127.0.0.1/").is_err());
        assert!(url_endpoint("http://127.0.0.1/?x=1").is_err());
        assert!(url_endpoint("127.0.0.1:4566").is_err());
        for (url, lo) in [
            ("http://127.0.0.2:1/", true),
            ("http://[::1]:1/", true),
            ("http://LocalHost:1/", true),
            ("http://10.0.0.1/", false),
            ("http://example.com/", false),
        ] {
            assert_eq!(is_loopback(&reqwest::Url::parse(url).unwrap()), lo, "{url}");
        }
        assert!(check_region("us-east-1").is_ok());
        assert!(check_region("us-east-1.evil.example").is_err());
        assert!(check_region("").is_err());
        assert!(check_region("US-EAST-1").is_err());
    }

    #[tokio::test]
    async fn aws_mode_routes_each_service_to_its_endpoint() {
        let up = Upstream::new(UpstreamConfig {
            target: Target::Aws,
            region: Some("ap-southeast-2".into()),
            profile: None,
            no_imds: true,
            credentials: Some(static_credentials(AKID, SECRET, None)),
        })
        .await
        .unwrap();
        assert_eq!(up.kind(), "aws");
        assert_eq!(up.region(), "ap-southeast-2");
        assert_eq!(
            up.endpoint_label(),
            "https://ecs.ap-southeast-2.amazonaws.com/"
        );
        assert_eq!(
            up.endpoint(Service::Logs),
            "https://logs.ap-southeast-2.amazonaws.com/"
        );
        assert_eq!(
            up.endpoint(Service::CloudTrail),
            "https://cloudtrail.ap-southeast-2.amazonaws.com/"
        );
        let url = upstream("http://127.0.0.1:1/", None).await;
        assert_eq!(url.kind(), "url");
        assert_eq!(url.endpoint(Service::CloudWatch), "http://127.0.0.1:1/");
    }

    /// A provider that counts how often it is asked.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<AtomicUsize>,
        life: Option<Duration>,
        fail: bool,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            future::ProvideCredentials::new(async move {
                self.calls.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                if self.fail {
                    return Err(
                        aws_credential_types::provider::error::CredentialsError::not_loaded(
                            "nothing configured",
                        ),
                    );
                }
                Ok(Credentials::new(
                    AKID,
                    SECRET,
                    Some("token".into()),
                    self.life.map(|l| SystemTime::now() + l),
                    "counting",
                ))
            })
        }
    }

    fn counting(
        life: Option<Duration>,
        fail: bool,
    ) -> (SharedCredentialsProvider, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let p = SharedCredentialsProvider::new(Counting {
            calls: calls.clone(),
            life,
            fail,
        });
        (p, calls)
    }

    #[tokio::test]
    async fn the_identity_is_fetched_once_for_many_concurrent_calls() {
        let (provider, calls) = counting(Some(Duration::from_secs(3600)), false);
        let cache = Arc::new(CredentialsCache::new(provider));
        let now = SystemTime::now();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move { cache.get(now).await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().access_key_id(), AKID);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        // Through the proxy too: start-up fetches once, a hundred calls fetch nothing more.
        let (url, seen) = echo(ok_reply()).await;
        let (provider, calls) = counting(Some(Duration::from_secs(3600)), false);
        let up = Arc::new(
            Upstream::new(UpstreamConfig {
                target: Target::Url(url),
                region: None,
                profile: None,
                no_imds: true,
                credentials: Some(provider),
            })
            .await
            .unwrap(),
        );
        assert_eq!(up.region(), DEFAULT_URL_REGION);
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let up = up.clone();
                tokio::spawn(async move {
                    let op = ecs("ListClusters");
                    up.forward(op, op.target, JSON_11, Bytes::new())
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(seen.lock().unwrap().len(), 100);
    }

    #[tokio::test]
    async fn credentials_are_refreshed_before_they_expire() {
        let (provider, calls) = counting(Some(Duration::from_secs(3600)), false);
        let cache = CredentialsCache::new(provider);
        let t0 = SystemTime::now();
        cache.get(t0).await.unwrap();
        cache.get(t0 + Duration::from_secs(50 * 60)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // Five minutes before expiry, the next call fetches new ones.
        cache.get(t0 + Duration::from_secs(56 * 60)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        // Without an expiry: re-read every 15 minutes.
        let (provider, calls) = counting(None, false);
        let cache = CredentialsCache::new(provider);
        cache.get(t0).await.unwrap();
        cache.get(t0 + Duration::from_secs(14 * 60)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache.get(t0 + Duration::from_secs(16 * 60)).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn no_credentials_fail_start_up_clearly() {
        let (provider, _) = counting(None, true);
        let e = Upstream::new(UpstreamConfig {
            target: Target::Url("http://127.0.0.1:1/".into()),
            region: None,
            profile: None,
            no_imds: true,
            credentials: Some(provider),
        })
        .await
        .unwrap_err();
        assert!(
            e.starts_with("no AWS credentials for the upstream: "),
            "{e}"
        );
        assert!(e.contains("nothing configured"), "{e}");
    }
}
