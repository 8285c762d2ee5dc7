//! Verification of AWS Signature Version 4 on Berth's AWS API: who signed a request, checked
//! against the keys of [`crate::credentials`], as a pure function of the request's parts and the
//! current time ([`Verifier::verify`]).
//!
//! **What it checks, in order** (the order of s3s, and of AWS where its answers are known: every
//! check that needs no secret comes before the key lookup):
//!
//! 1. No query-string (presigned) signature and no Signature Version 2; an `Authorization` header
//!    (else `MissingAuthenticationTokenException` `Missing Authentication Token`, the text
//!    DynamoDB and API Gateway send; ECS's own text is unverified).
//! 2. The header parses as `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` and the
//!    request has an `X-Amz-Date` or `Date` header, else `IncompleteSignatureException` with AWS's
//!    texts (each missing part named, then ` Authorization=<value>`).
//! 3. `host`, the date header and (when the request has one) `x-amz-target` are in
//!    `SignedHeaders`: an unsigned target would let a captured `ListClusters` replay as
//!    `DeleteCluster`. Every signed header is present.
//! 4. The scope: terminator `aws4_request`, date equal to the request's day, region (when
//!    [`Rules::region`] names one), service matching the operation's signing name (from
//!    `X-Amz-Target`, or the `/service/<S>/operation/<O>` path of Smithy RPC v2 CBOR).
//! 5. The request time within [`Rules::window`] (5 minutes) of now, both ways.
//! 6. No `x-amz-security-token` (Berth issues no session tokens, so any token is unknown) and a
//!    known access key id, else `UnrecognizedClientException`.
//! 7. A present `x-amz-content-sha256` equals the body's hash (streaming and unsigned payloads
//!    are refused); then the signature, compared in constant time (`subtle`).
//!
//! **Why hand-written.** aws-sigv4 signs but has no verify API: its canonical request and string
//! to sign are crate-private. The canonical request is rebuilt here (about 150 lines) from
//! exactly the client's `SignedHeaders`: names lower-cased and sorted, values trimmed with inner
//! runs of white space collapsed, repeated headers joined with `,`; the path normalized (dot
//! segments and empty segments removed) and URI-encoded once more, as every service but S3 does;
//! the query decoded, re-encoded and sorted. A request signed over the raw path (a signer with
//! normalization off) is accepted too. The tests run AWS's signing test suite (vendored in
//! `tests/data/sigv4/`) and the aws-sigv4 signer itself against it.
//!
//! **Key derivation** uses `hmac` + `sha2` directly rather than aws-sigv4's public
//! `generate_signing_key`/`calculate_signature`: it is four HMACs, and it keeps verification
//! (needed in every mode) free of the upstream proxy's AWS SDK crates, which may move behind a
//! Cargo feature.
//!
//! Error texts are AWS's where they are known (see `docs/proxy-security.md` §3); the refusals of
//! what Berth does not support (presigned URLs, SigV2, SigV4a, streaming payloads) are Berth's
//! own and say what to do instead. It does not decide what a key may do (roles are the caller's)
//! and does not log: the caller warns once about real AWS keys with
//! [`crate::credentials::is_real_aws_key`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use berth_core::protocol::{AwsError, ErrorCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::credentials::is_real_aws_key;
use crate::credentials::{KeyRing, Role};

/// The only signing algorithm accepted.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The message of `MissingAuthenticationTokenException`.
pub const MISSING_TOKEN: &str = "Missing Authentication Token";
/// The message of `InvalidSignatureException` when the signature does not match.
pub const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the \
signature you provided. Check your AWS Secret Access Key and signing method. Consult the service \
documentation for details.";
/// The message of `UnrecognizedClientException` (unknown key, or any session token).
pub const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The access key id.
    pub access_key_id: String,
    /// The profile of the key file it belongs to.
    pub profile: String,
    /// What it may do.
    pub role: Role,
}

/// Maps an operation's target (`Prefix.Operation`) to the signing name its scope must carry;
/// `None` skips the check (the router rejects unknown targets itself).
pub type ServiceForTarget = fn(&str) -> Option<&'static str>;

/// The verification rules.
#[derive(Debug, Clone)]
pub struct Rules {
    /// How far the request time may be from now, either way (AWS: 5 minutes). Messages give it
    /// in whole minutes.
    pub window: Duration,
    /// The region the credential scope must name; `None` accepts any (Berth has no region of
    /// its own unless it proxies one).
    pub region: Option<String>,
    /// Whether an `X-Amz-Target` the request carries must be in `SignedHeaders` (default
    /// `true`; a request without one passes here and is rejected by the router).
    pub require_signed_target: bool,
    /// The service rule; `None` accepts any service in the scope.
    pub service_for_target: Option<ServiceForTarget>,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            window: Duration::from_secs(5 * 60),
            region: None,
            require_signed_target: true,
            service_for_target: Some(default_service_for_target),
        }
    }
}

/// The signing name of the services Berth answers, by `X-Amz-Target` prefix: ECS `ecs`,
/// Application Auto Scaling `application-autoscaling`, CloudWatch Logs `logs`, CloudWatch
/// `monitoring`, CloudTrail `cloudtrail`, Secrets Manager `secretsmanager`, SSM `ssm`.
pub fn default_service_for_target(target: &str) -> Option<&'static str> {
    let (prefix, _operation) = target.rsplit_once('.')?;
    Some(match prefix {
        "AmazonEC2ContainerServiceV20141113" => "ecs",
        "AnyScaleFrontendService" => "application-autoscaling",
        "Logs_20140328" => "logs",
        "GraniteServiceVersion20100801" => "monitoring",
        "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101" => "cloudtrail",
        "secretsmanager" => "secretsmanager",
        "AmazonSSM" => "ssm",
        _ => return None,
    })
}

/// Verifies SigV4 requests against a key ring.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: KeyRing,
    rules: Rules,
}

impl Verifier {
    /// A verifier with the default [`Rules`].
    pub fn new(keys: KeyRing) -> Verifier {
        Verifier::with_rules(keys, Rules::default())
    }

    /// A verifier with these rules.
    pub fn with_rules(keys: KeyRing, rules: Rules) -> Verifier {
        Verifier { keys, rules }
    }

    /// The keys it accepts.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Its rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Who signed this request, if the signature is valid at `now`.
    ///
    /// `path` and `query` are the request target as received (still percent-encoded, no `?`);
    /// `headers` must include `Host` (over HTTP/2, insert one from the `:authority`).
    ///
    /// # Errors
    ///
    /// The AWS error to answer with (status 400): `MissingAuthenticationTokenException`,
    /// `IncompleteSignatureException`, `InvalidSignatureException` or
    /// `UnrecognizedClientException` (see the module docs for which and when).
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Principal, AwsError> {
        let incomplete = |m: String| AwsError::new(ErrorCode::IncompleteSignatureException, m);
        let invalid = |m: String| AwsError::new(ErrorCode::InvalidSignatureException, m);

        // 1. What kind of signature, if any.
        let query_keys: Vec<String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                String::from_utf8_lossy(&percent_decode(p.split('=').next().unwrap_or("")))
                    .into_owned()
            })
            .collect();
        let in_query = |name: &str| query_keys.iter().any(|k| k.eq_ignore_ascii_case(name));
        if in_query("X-Amz-Signature")
            || in_query("X-Amz-Credential")
            || in_query("X-Amz-Algorithm")
        {
            return Err(invalid(PRESIGNED.into()));
        }
        if in_query("AWSAccessKeyId") && in_query("Signature") {
            return Err(invalid(SIGV2.into()));
        }
        let mut values = headers.get_all("authorization").iter();
        let Some(header) = values.next() else {
            return Err(AwsError::new(
                ErrorCode::MissingAuthenticationTokenException,
                MISSING_TOKEN,
            ));
        };
        if values.next().is_some() {
            return Err(incomplete(
                "The request has more than one Authorization header.".into(),
            ));
        }
        let authorization = String::from_utf8_lossy(header.as_bytes())
            .trim()
            .to_string();

        // 2. The Authorization header and the request date.
        let (date_name, date_value) = match first_value(headers, "x-amz-date") {
            Some(v) => ("x-amz-date", Some(v)),
            None => ("date", first_value(headers, "date")),
        };
        let auth = parse_authorization(&authorization, date_value.is_some())?;
        let date_value = date_value.unwrap_or_default();
        let elements: Vec<&str> = auth.credential.split('/').collect();
        let [access_key_id, scope_date, region, service, terminator] = elements[..] else {
            return Err(incomplete(format!(
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got '{}'",
                auth.credential
            )));
        };
        let parsed = if date_name == "x-amz-date" {
            parse_basic(date_value.trim())
        } else {
            parse_http_date(date_value.trim())
        };
        let Some(request_time) = parsed else {
            return Err(incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{}'. See \
                 http://en.wikipedia.org/wiki/ISO_8601",
                date_value.trim()
            )));
        };
        let timestamp = format_basic(request_time);

        // 3. What must be signed, and is there.
        let mut signed: Vec<String> = auth
            .signed_headers
            .split(';')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        signed.sort();
        signed.dedup();
        let is_signed = |name: &str| signed.iter().any(|h| h == name);
        if !is_signed("host") {
            return Err(incomplete(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        if !is_signed(date_name) {
            let shown = if date_name == "date" {
                "Date"
            } else {
                "X-Amz-Date"
            };
            return Err(incomplete(format!(
                "'{shown}' must be a 'SignedHeader' in the AWS Authorization."
            )));
        }
        if self.rules.require_signed_target
            && headers.contains_key("x-amz-target")
            && !is_signed("x-amz-target")
        {
            return Err(incomplete(
                "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.".into(),
            ));
        }
        if let Some(absent) = signed.iter().find(|h| !headers.contains_key(h.as_str())) {
            return Err(invalid(format!(
                "The header '{absent}' is in SignedHeaders but not in the request."
            )));
        }

        // 4. The credential scope.
        if terminator != "aws4_request" {
            return Err(invalid(format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not \
                 '{terminator}'. "
            )));
        }
        if scope_date != &timestamp[..8] {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{scope_date}' != '{}', from '{timestamp}'.",
                &timestamp[..8]
            )));
        }
        if let Some(want) = &self.rules.region
            && region != want
        {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{region}'. "
            )));
        }
        if let Some(expected) = self
            .rules
            .service_for_target
            .zip(request_target(path, headers))
            .and_then(|(f, target)| f(&target))
            && service != expected
        {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{expected}'. "
            )));
        }

        // 5. The clock.
        let now = unix_seconds(now);
        let window = self.rules.window.as_secs() as i64;
        let minutes = window / 60;
        if request_time < now - window {
            return Err(invalid(format!(
                "Signature expired: {timestamp} is now earlier than {} ({} - {minutes} min.)",
                format_basic(now - window),
                format_basic(now)
            )));
        }
        if request_time > now + window {
            return Err(invalid(format!(
                "Signature not yet current: {timestamp} is still later than {} ({} + {minutes} min.)",
                format_basic(now + window),
                format_basic(now)
            )));
        }

        // 6. Who.
        if headers.contains_key("x-amz-security-token") {
            return Err(AwsError::new(
                ErrorCode::UnrecognizedClientException,
                INVALID_TOKEN,
            ));
        }

        // 7. The payload, then the signature.
        let body_hash = hex::encode(Sha256::digest(body));
        let payload_hash = match first_value(headers, "x-amz-content-sha256") {
            None => body_hash,
            Some(v) => {
                let v = v.trim();
                if v == "UNSIGNED-PAYLOAD" || v.starts_with("STREAMING-") {
                    return Err(invalid(format!(
                        "x-amz-content-sha256 '{v}' is not accepted here: Berth's JSON API needs \
                         the hex SHA-256 of the whole body (unsigned and streaming payloads are \
                         for S3 uploads)."
                    )));
                }
                if !v.eq_ignore_ascii_case(&body_hash) {
                    return Err(invalid(
                        "The provided 'x-amz-content-sha256' header does not match what was \
                         computed."
                            .into(),
                    ));
                }
                v.to_string()
            }
        };
        let Some(key) = self.keys.get(access_key_id) else {
            return Err(AwsError::new(
                ErrorCode::UnrecognizedClientException,
                INVALID_TOKEN,
            ));
        };
        let scope = format!("{scope_date}/{region}/{service}/{terminator}");
        let signing_key = signing_key(&key.secret, scope_date, region, service);
        let signed_refs: Vec<&str> = signed.iter().map(String::as_str).collect();
        let check = |normalize: bool| {
            let creq = canonical_request(
                method,
                path,
                query,
                headers,
                &signed_refs,
                &payload_hash,
                normalize,
            );
            let expected = signature(&signing_key, &string_to_sign(&timestamp, &scope, &creq));
            bool::from(expected.as_bytes().ct_eq(auth.signature.as_bytes()))
        };
        // Normalized first (what every service but S3 signs); the raw path only if it differs.
        let matches = check(true)
            || (canonical_uri(path, true) != canonical_uri(path, false) && check(false));
        if !matches {
            return Err(invalid(SIGNATURE_MISMATCH.into()));
        }
        Ok(Principal {
            access_key_id: key.access_key_id.clone(),
            profile: key.profile.clone(),
            role: key.role,
        })
    }
}

/// The access key id a request claims in its `Authorization` header, whether or not the
/// signature is valid: for the one-time warning when a real AWS key (`AKIA…`, `ASIA…`, see
/// [`is_real_aws_key`]) is sent to Berth. Logging it is safe: a key id is not a secret.
pub fn claimed_access_key_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let credential = value.split("Credential=").nth(1)?;
    let id = credential.split(['/', ',', ' ']).next()?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// The refusal of presigned (query-string) requests.
const PRESIGNED: &str = "Query-string authentication (X-Amz-Signature in the URL) is not \
accepted here: sign requests with an Authorization header (AWS4-HMAC-SHA256).";
/// The refusal of Signature Version 2.
const SIGV2: &str = "Signature Version 2 is not accepted here: sign requests with Signature \
Version 4 (Authorization: AWS4-HMAC-SHA256 …).";

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, PartialEq, Eq)]
struct Authorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Parses the header's value; `has_date` says whether the request has a date header (AWS
/// reports its absence together with the missing parts).
fn parse_authorization(value: &str, has_date: bool) -> Result<Authorization<'_>, AwsError> {
    let incomplete = |m: String| AwsError::new(ErrorCode::IncompleteSignatureException, m);
    let first = value.split_whitespace().next().unwrap_or("");
    let rest = if first == ALGORITHM {
        value[ALGORITHM.len()..].trim_start()
    } else if first == "AWS" {
        return Err(AwsError::new(ErrorCode::InvalidSignatureException, SIGV2));
    } else if first.starts_with("AWS4-") {
        return Err(AwsError::new(
            ErrorCode::InvalidSignatureException,
            format!(
                "Unsupported signing algorithm '{first}': sign requests with AWS4-HMAC-SHA256 \
                 (SigV4a and other algorithms are not accepted here)."
            ),
        ));
    } else {
        // Another scheme (`Bearer …`): reported as AWS does, part by part.
        value
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: '{value}'."
            )));
        };
        let slot = match k.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        slot.get_or_insert(v.trim());
    }
    let mut missing = Vec::new();
    for (name, part) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed_headers),
    ] {
        if part.is_none() {
            missing.push(format!("Authorization header requires '{name}' parameter."));
        }
    }
    if !has_date {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        );
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) if missing.is_empty() => {
            Ok(Authorization {
                credential,
                signed_headers,
                signature,
            })
        }
        _ => Err(incomplete(format!(
            "{} Authorization={value}",
            missing.join(" ")
        ))),
    }
}

/// The operation a request names: its `X-Amz-Target`, or `Service.Operation` from a Smithy RPC
/// v2 CBOR path (`…/service/<Service>/operation/<Operation>`).
fn request_target(path: &str, headers: &HeaderMap) -> Option<String> {
    if let Some(target) = first_value(headers, "x-amz-target") {
        return Some(target.trim().to_string());
    }
    let segments: Vec<&str> = path.trim_end_matches('/').rsplit('/').take(4).collect();
    match segments[..] {
        [operation, "operation", service, "service"] => Some(format!("{service}.{operation}")),
        _ => None,
    }
}

/// The first value of a header, as text.
fn first_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The canonical request of SigV4 (bytes, since header values may be any bytes).
fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    signed: &[&str],
    payload_hash: &str,
    normalize: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(method.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_uri(path, normalize).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(canonical_query(query).as_bytes());
    out.push(b'\n');
    for name in signed {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        for (i, value) in headers.get_all(*name).iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            push_trimmed(&mut out, value.as_bytes());
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(signed.join(";").as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
    out
}

/// Appends a header value trimmed, with every inner run of white space collapsed to one space.
fn push_trimmed(out: &mut Vec<u8>, value: &[u8]) {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let mut pending_space = false;
    let mut any = false;
    for b in value {
        if is_space(b) {
            pending_space = any;
        } else {
            if pending_space {
                out.push(b' ');
                pending_space = false;
            }
            out.push(*b);
            any = true;
        }
    }
}

/// The canonical URI: the path (normalized when asked: empty and `.` segments dropped, `..`
/// removing the previous one, as every AWS service but S3 does), each segment URI-encoded once
/// more (a `%` of the path as sent becomes `%25`).
fn canonical_uri(path: &str, normalize: bool) -> String {
    let mut out = String::with_capacity(path.len() + 8);
    if normalize {
        let mut segments: Vec<&str> = Vec::new();
        for segment in path.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    segments.pop();
                }
                s => segments.push(s),
            }
        }
        let last = path.rsplit('/').next().unwrap_or("");
        let trailing = !segments.is_empty() && matches!(last, "" | "." | "..");
        for segment in &segments {
            out.push('/');
            uri_encode(segment.as_bytes(), &mut out);
        }
        if segments.is_empty() || trailing {
            out.push('/');
        }
    } else {
        if !path.starts_with('/') {
            out.push('/');
        }
        for (i, segment) in path.split('/').enumerate() {
            if i > 0 {
                out.push('/');
            }
            uri_encode(segment.as_bytes(), &mut out);
        }
    }
    out
}

/// The canonical query: each `name=value` percent-decoded then strictly re-encoded (a `+`
/// stays a literal plus), sorted by name then value, joined with `&`.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let mut key = String::new();
            let mut value = String::new();
            uri_encode(&percent_decode(k), &mut key);
            uri_encode(&percent_decode(v), &mut value);
            (key, value)
        })
        .collect();
    pairs.sort();
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// AWS's URI encoding: unreserved characters as they are, every other byte as `%XX`.
fn uri_encode(bytes: &[u8], out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

/// Decodes `%XX` escapes; a malformed escape stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// The string to sign: algorithm, timestamp, scope and the canonical request's SHA-256.
fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &[u8]) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request))
    )
}

/// HMAC-SHA256.
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key of a secret for a scope.
fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// The hex signature of a string to sign.
fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Seconds since the Unix epoch (0 before it).
fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Seconds since the epoch of a UTC date and time, if valid.
fn epoch_seconds(year: i64, month: u32, day: u32, h: u32, m: u32, s: u32) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days_in_month || h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + i64::from(h * 3600 + m * 60 + s))
}

/// Parses the ISO 8601 basic format SigV4 uses: `20150830T123600Z`.
fn parse_basic(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    epoch_seconds(
        i64::from(num(0..4)?),
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    )
}

/// Formats seconds since the epoch as `20150830T123600Z`.
fn format_basic(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

/// Parses an HTTP date in the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), the only one
/// SigV4 signers send in `Date`.
fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [weekday, day, month, year, time, "GMT"] = parts[..] else {
        return None;
    };
    if !weekday.ends_with(',') || day.len() != 2 || year.len() != 4 {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| *m == month)? as u32 + 1;
    let t: Vec<&str> = time.split(':').collect();
    let [h, m, sec] = t[..] else { return None };
    let digits = |x: &str, n: usize| -> Option<u32> {
        (x.len() == n && x.bytes().all(|c| c.is_ascii_digit())).then(|| x.parse().ok())?
    };
    epoch_seconds(
        i64::from(digits(year, 4)?),
        month,
        digits(day, 2)?,
        digits(h, 2)?,
        digits(m, 2)?,
        digits(sec, 2)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Key;
    use axum::http::{HeaderName, HeaderValue};
    use std::path::{Path, PathBuf};

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    fn ring() -> KeyRing {
        KeyRing::from_keys(vec![
            Key {
                profile: "example".into(),
                access_key_id: AKID.into(),
                secret: SECRET.into(),
                role: Role::Operator,
            },
            Key {
                profile: "reader".into(),
                access_key_id: "BKIAREADER".into(),
                secret: "reader-secret-0123456789".into(),
                role: Role::Viewer,
            },
        ])
    }

    fn at(basic: &str) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(parse_basic(basic).unwrap() as u64)
    }

    // ---- The AWS signing test suite (tests/data/sigv4) ----

    /// A request of the suite: request line, headers (folded lines joined), body.
    struct Request {
        method: String,
        path: String,
        query: String,
        headers: HeaderMap,
        body: Vec<u8>,
    }

    fn parse_request(text: &str) -> Request {
        let (head, body) = match text.split_once("\n\n") {
            Some((h, b)) => (h, b.as_bytes().to_vec()),
            None => (text.trim_end_matches('\n'), Vec::new()),
        };
        let mut lines = head.lines();
        let line = lines.next().unwrap();
        let line = line.strip_suffix(" HTTP/1.1").unwrap_or(line);
        let (method, target) = line.split_once(' ').unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let mut pairs: Vec<(String, String)> = Vec::new();
        for l in lines {
            if l.starts_with([' ', '\t']) {
                let last = pairs.last_mut().unwrap();
                last.1.push(' ');
                last.1.push_str(l);
            } else {
                let (n, v) = l.split_once(':').unwrap();
                pairs.push((n.to_string(), v.to_string()));
            }
        }
        let mut headers = HeaderMap::new();
        for (n, v) in pairs {
            headers.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            headers,
            body,
        }
    }

    fn data_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigv4")
    }

    fn read(dir: &Path, file: &str) -> String {
        std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
    }

    fn verify_request(v: &Verifier, r: &Request, now: SystemTime) -> Result<Principal, AwsError> {
        v.verify(&r.method, &r.path, &r.query, &r.headers, &r.body, now)
    }

    /// Replaces the first value of a header, keeping the others.
    fn set_header(headers: &mut HeaderMap, name: &str, value: &[u8]) {
        let mut values: Vec<HeaderValue> = headers.get_all(name).iter().cloned().collect();
        values[0] = HeaderValue::from_bytes(value).unwrap();
        headers.remove(name);
        for v in values {
            headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), v);
        }
    }

    /// Changes one byte of a text.
    fn tamper(s: &[u8], at: usize) -> Vec<u8> {
        let mut t = s.to_vec();
        t[at] = if t[at] == b'1' { b'2' } else { b'1' };
        t
    }

    #[test]
    fn aws_signing_test_suite() {
        let mut names: Vec<String> = std::fs::read_dir(data_dir())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.len() >= 30, "vendored vectors: {names:?}");
        let verifier = Verifier::new(ring());
        let (mut accepted, mut refused_tokens) = (0, 0);
        for name in &names {
            let dir = data_dir().join(name);
            let context: serde_json::Value =
                serde_json::from_str(&read(&dir, "context.json")).unwrap();
            let normalize = context["normalize"].as_bool().unwrap();
            let now = at(&context["timestamp"]
                .as_str()
                .unwrap()
                .replace(['-', ':'], ""));
            let has_token = context["credentials"].get("token").is_some();
            let signed = parse_request(&read(&dir, "header-signed-request.txt"));
            let authorization = signed.headers["authorization"].to_str().unwrap().trim();
            let auth = parse_authorization(authorization, true).unwrap();
            let list: Vec<&str> = auth.signed_headers.split(';').collect();
            let payload = signed
                .headers
                .get("x-amz-content-sha256")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| hex::encode(Sha256::digest(&signed.body)));

            // (1) The canonical request.
            let creq = canonical_request(
                &signed.method,
                &signed.path,
                &signed.query,
                &signed.headers,
                &list,
                &payload,
                normalize,
            );
            assert_eq!(
                String::from_utf8(creq.clone()).unwrap(),
                read(&dir, "header-canonical-request.txt").trim_end_matches('\n'),
                "{name}: canonical request"
            );
            // (2) The string to sign.
            let timestamp = signed.headers["x-amz-date"].to_str().unwrap();
            let scope = auth.credential.split_once('/').unwrap().1;
            assert_eq!(
                string_to_sign(timestamp, scope, &creq),
                read(&dir, "header-string-to-sign.txt").trim_end_matches('\n'),
                "{name}: string to sign"
            );
            // (3) Accepted at the vector's time; with a session token, refused as unknown.
            let result = verify_request(&verifier, &signed, now);
            if has_token {
                assert_eq!(
                    result.unwrap_err(),
                    AwsError::new(ErrorCode::UnrecognizedClientException, INVALID_TOKEN),
                    "{name}"
                );
                refused_tokens += 1;
                continue;
            }
            let principal = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(principal.access_key_id, AKID);
            accepted += 1;

            // (4) One changed byte anywhere signed is refused.
            let refused = |r: &Request, what: &str| {
                let err = verify_request(&verifier, r, now).unwrap_err();
                assert_eq!(
                    err.code,
                    ErrorCode::InvalidSignatureException,
                    "{name}: {what}: {err}"
                );
            };
            let mut r = parse_request(&read(&dir, "header-signed-request.txt"));
            if r.body.is_empty() {
                r.body.push(b'x');
            } else {
                r.body = tamper(&r.body, r.body.len() - 1);
            }
            refused(&r, "body");
            for header in list.iter().filter(|h| **h != "x-amz-date") {
                let mut r = parse_request(&read(&dir, "header-signed-request.txt"));
                let value = r.headers[*header].as_bytes().to_vec();
                set_header(&mut r.headers, header, &tamper(&value, value.len() - 1));
                refused(&r, header);
            }
            let mut r = parse_request(&read(&dir, "header-signed-request.txt"));
            set_header(
                &mut r.headers,
                "x-amz-date",
                &tamper(timestamp.as_bytes(), 14),
            );
            refused(&r, "date");
            let mut r = parse_request(&read(&dir, "header-signed-request.txt"));
            let region_at = authorization.find("/us-east-").unwrap() + 9;
            set_header(
                &mut r.headers,
                "authorization",
                &tamper(authorization.as_bytes(), region_at),
            );
            refused(&r, "scope");
            let mut r = parse_request(&read(&dir, "header-signed-request.txt"));
            set_header(
                &mut r.headers,
                "authorization",
                &tamper(authorization.as_bytes(), authorization.len() - 1),
            );
            refused(&r, "signature");
        }
        // The README of tests/data/sigv4 lists which vectors carry session tokens.
        assert_eq!((accepted, refused_tokens), (names.len() - 3, 3));
    }

    // ---- Requests signed here (the functions above, checked by the suite) ----

    const TARGET: &str = "AmazonEC2ContainerServiceV20141113.ListClusters";
    const NOW: &str = "20260820T101500Z";

    struct Signing<'a> {
        akid: &'a str,
        secret: &'a str,
        scope: String,
        signed: Vec<&'a str>,
    }

    impl Default for Signing<'_> {
        fn default() -> Self {
            Signing {
                akid: AKID,
                secret: SECRET,
                scope: "20260820/us-east-1/ecs/aws4_request".into(),
                signed: vec!["content-type", "host", "x-amz-date", "x-amz-target"],
            }
        }
    }

    fn ecs_headers(date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:7575"));
        h.insert(
            "content-type",
            HeaderValue::from_static("application/x-amz-json-1.1"),
        );
        h.insert("x-amz-target", HeaderValue::from_static(TARGET));
        h.insert("x-amz-date", HeaderValue::from_str(date).unwrap());
        h
    }

    /// Signs `headers` in place (as the AWS signer would) for `POST /`.
    fn sign(headers: &mut HeaderMap, body: &[u8], s: &Signing<'_>) {
        let mut signed = s.signed.clone();
        signed.sort();
        let payload = hex::encode(Sha256::digest(body));
        let creq = canonical_request("POST", "/", "", headers, &signed, &payload, true);
        let date = headers
            .get("x-amz-date")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_else(|| {
                format_basic(parse_http_date(headers["date"].to_str().unwrap()).unwrap())
            });
        let parts: Vec<&str> = s.scope.split('/').collect();
        let key = signing_key(s.secret, parts[0], parts[1], parts[2]);
        let sig = signature(&key, &string_to_sign(&date, &s.scope, &creq));
        let value = format!(
            "{ALGORITHM} Credential={}/{}, SignedHeaders={}, Signature={sig}",
            s.akid,
            s.scope,
            signed.join(";")
        );
        headers.insert("authorization", HeaderValue::from_str(&value).unwrap());
    }

    fn signed_request(s: &Signing<'_>) -> HeaderMap {
        let mut h = ecs_headers(NOW);
        sign(&mut h, b"{}", s);
        h
    }

    fn check(headers: &HeaderMap, body: &[u8]) -> Result<Principal, AwsError> {
        Verifier::new(ring()).verify("POST", "/", "", headers, body, at(NOW))
    }

    fn error(code: ErrorCode, message: &str) -> Result<Principal, AwsError> {
        Err(AwsError::new(code, message))
    }

    #[test]
    fn a_signed_ecs_request_passes_with_the_keys_role() {
        let h = signed_request(&Signing::default());
        assert_eq!(
            check(&h, b"{}"),
            Ok(Principal {
                access_key_id: AKID.into(),
                profile: "example".into(),
                role: Role::Operator,
            })
        );
        let reader = Signing {
            akid: "BKIAREADER",
            secret: "reader-secret-0123456789",
            ..Signing::default()
        };
        let h = signed_request(&reader);
        assert_eq!(check(&h, b"{}").unwrap().role, Role::Viewer);
    }

    #[test]
    fn missing_authorization() {
        let h = ecs_headers(NOW);
        assert_eq!(
            check(&h, b"{}"),
            error(
                ErrorCode::MissingAuthenticationTokenException,
                "Missing Authentication Token"
            )
        );
    }

    fn with_authorization(value: &str, date: bool) -> HeaderMap {
        let mut h = ecs_headers(NOW);
        if !date {
            h.remove("x-amz-date");
        }
        h.insert("authorization", HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn incomplete_authorization_texts() {
        let v = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260820/us-east-1/ecs/aws4_request";
        assert_eq!(
            check(&with_authorization(v, true), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                &format!(
                    "Authorization header requires 'Signature' parameter. Authorization header \
                     requires 'SignedHeaders' parameter. Authorization={v}"
                )
            )
        );
        let v = "AWS4-HMAC-SHA256";
        assert_eq!(
            check(&with_authorization(v, false), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "Authorization header requires 'Credential' parameter. Authorization header \
                 requires 'Signature' parameter. Authorization header requires 'SignedHeaders' \
                 parameter. Authorization header requires existence of either a 'X-Amz-Date' or \
                 a 'Date' header. Authorization=AWS4-HMAC-SHA256"
            )
        );
        let v = "AWS4-HMAC-SHA256 Credential=A/20260820/us-east-1/ecs/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(
            check(&with_authorization(v, false), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                &format!(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a \
                     'Date' header. Authorization={v}"
                )
            )
        );
        let v = "AWS4-HMAC-SHA256 Credential=A/20260820/us-east-1/ecs/aws4_request, \
                 SignedHeaders, Signature=00";
        assert_eq!(
            check(&with_authorization(v, true), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                &format!(
                    "'SignedHeaders' not a valid key=value pair (missing equal-sign) in \
                     Authorization header: '{v}'."
                )
            )
        );
        let v = "Bearer abc";
        assert_eq!(
            check(&with_authorization(v, true), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "'Bearer abc' not a valid key=value pair (missing equal-sign) in Authorization \
                 header: 'Bearer abc'."
            )
        );
        let v = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260820/us-east-1/ecs, \
                 SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(
            check(&with_authorization(v, true), b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "Credential must have exactly 5 slash-delimited elements, e.g. \
                 keyid/date/region/service/term, got 'AKIDEXAMPLE/20260820/us-east-1/ecs'"
            )
        );
        let mut h = signed_request(&Signing::default());
        h.append(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 x=y"),
        );
        assert_eq!(
            check(&h, b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "The request has more than one Authorization header."
            )
        );
    }

    #[test]
    fn bad_dates_are_incomplete() {
        let mut h = ecs_headers("2026-08-20T10:15:00Z");
        sign(&mut h, b"{}", &Signing::default());
        assert_eq!(
            check(&h, b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "Date must be in ISO-8601 'basic format'. Got '2026-08-20T10:15:00Z'. See \
                 http://en.wikipedia.org/wiki/ISO_8601"
            )
        );
    }

    #[test]
    fn host_date_and_target_must_be_signed() {
        let cases = [
            (
                "host",
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            ),
            (
                "x-amz-date",
                "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.",
            ),
            (
                "x-amz-target",
                "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.",
            ),
        ];
        for (left_out, message) in cases {
            let mut s = Signing::default();
            s.signed.retain(|h| *h != left_out);
            let h = signed_request(&s);
            assert_eq!(
                check(&h, b"{}"),
                error(ErrorCode::IncompleteSignatureException, message),
                "{left_out}"
            );
        }
        // With the target rule relaxed, an unsigned target passes.
        let mut s = Signing::default();
        s.signed.retain(|h| *h != "x-amz-target");
        let h = signed_request(&s);
        let relaxed = Rules {
            require_signed_target: false,
            ..Rules::default()
        };
        assert!(
            Verifier::with_rules(ring(), relaxed)
                .verify("POST", "/", "", &h, b"{}", at(NOW))
                .is_ok()
        );
    }

    #[test]
    fn a_signed_header_must_be_present() {
        let mut h = signed_request(&Signing::default());
        h.remove("content-type");
        assert_eq!(
            check(&h, b"{}"),
            error(
                ErrorCode::InvalidSignatureException,
                "The header 'content-type' is in SignedHeaders but not in the request."
            )
        );
        // Names no request can carry are absent, not a panic.
        let s = Signing {
            signed: vec!["host", "x-amz-date", "x-amz-target", "bad name", "\u{e9}"],
            ..Signing::default()
        };
        let err = check(&signed_request(&s), b"{}").unwrap_err();
        assert_eq!(
            err.message,
            "The header 'bad name' is in SignedHeaders but not in the request."
        );
    }

    #[test]
    fn the_claimed_key_id_is_readable_before_verification() {
        let h = signed_request(&Signing {
            akid: "AKIAIOSFODNN7EXAMPLE",
            ..Signing::default()
        });
        let id = claimed_access_key_id(&h).unwrap();
        assert_eq!(id, "AKIAIOSFODNN7EXAMPLE");
        assert!(is_real_aws_key(&id));
        assert_eq!(claimed_access_key_id(&ecs_headers(NOW)), None);
        assert_eq!(
            claimed_access_key_id(&with_authorization("AWS4-HMAC-SHA256 Credential=", true)),
            None
        );
    }

    #[test]
    fn scope_texts() {
        let s = Signing {
            scope: "20260820/us-east-1/ecs/aws5_request".into(),
            ..Signing::default()
        };
        assert_eq!(
            check(&signed_request(&s), b"{}"),
            error(
                ErrorCode::InvalidSignatureException,
                "Credential should be scoped with a valid terminator: 'aws4_request', not \
                 'aws5_request'. "
            )
        );
        let s = Signing {
            scope: "20260819/us-east-1/ecs/aws4_request".into(),
            ..Signing::default()
        };
        assert_eq!(
            check(&signed_request(&s), b"{}"),
            error(
                ErrorCode::InvalidSignatureException,
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '20260819' != '20260820', from '20260820T101500Z'."
            )
        );
        let s = Signing {
            scope: "20260820/us-east-1/logs/aws4_request".into(),
            ..Signing::default()
        };
        assert_eq!(
            check(&signed_request(&s), b"{}"),
            error(
                ErrorCode::InvalidSignatureException,
                "Credential should be scoped to correct service: 'ecs'. "
            )
        );
        // Any region by default; the expected one when a region is set.
        let s = Signing {
            scope: "20260820/xx-nowhere-1/ecs/aws4_request".into(),
            ..Signing::default()
        };
        let h = signed_request(&s);
        assert!(check(&h, b"{}").is_ok());
        let regional = Rules {
            region: Some("eu-west-1".into()),
            ..Rules::default()
        };
        assert_eq!(
            Verifier::with_rules(ring(), regional).verify("POST", "/", "", &h, b"{}", at(NOW)),
            error(
                ErrorCode::InvalidSignatureException,
                "Credential should be scoped to a valid region, not 'xx-nowhere-1'. "
            )
        );
    }

    #[test]
    fn services_follow_the_target() {
        for (target, service) in [
            ("AmazonEC2ContainerServiceV20141113.RunTask", "ecs"),
            (
                "AnyScaleFrontendService.DescribeScalableTargets",
                "application-autoscaling",
            ),
            ("Logs_20140328.GetLogEvents", "logs"),
            ("GraniteServiceVersion20100801.GetMetricData", "monitoring"),
            (
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                "cloudtrail",
            ),
        ] {
            assert_eq!(default_service_for_target(target), Some(service));
        }
        assert_eq!(default_service_for_target("Nope.Op"), None);
        assert_eq!(default_service_for_target("NoDot"), None);

        // Smithy RPC v2 CBOR names the operation in the path.
        let h = HeaderMap::new();
        assert_eq!(
            request_target(
                "/service/GraniteServiceVersion20100801/operation/GetMetricData",
                &h
            )
            .as_deref(),
            Some("GraniteServiceVersion20100801.GetMetricData")
        );
        assert_eq!(request_target("/", &h), None);

        // A CBOR call scoped to the wrong service.
        let mut headers = ecs_headers(NOW);
        headers.remove("x-amz-target");
        let s = Signing {
            signed: vec!["content-type", "host", "x-amz-date"],
            ..Signing::default()
        };
        sign(&mut headers, b"", &s);
        let path = "/service/GraniteServiceVersion20100801/operation/GetMetricData";
        assert_eq!(
            Verifier::new(ring()).verify("POST", path, "", &headers, b"", at(NOW)),
            error(
                ErrorCode::InvalidSignatureException,
                "Credential should be scoped to correct service: 'monitoring'. "
            )
        );
    }

    #[test]
    fn clock_window_texts() {
        let v = Verifier::new(ring());
        let mut h = ecs_headers("20191209T104625Z");
        let s = Signing {
            scope: "20191209/us-east-1/ecs/aws4_request".into(),
            ..Signing::default()
        };
        sign(&mut h, b"{}", &s);
        assert_eq!(
            v.verify("POST", "/", "", &h, b"{}", at("20191210T034404Z")),
            error(
                ErrorCode::InvalidSignatureException,
                "Signature expired: 20191209T104625Z is now earlier than 20191210T033904Z \
                 (20191210T034404Z - 5 min.)"
            )
        );
        let mut h = ecs_headers("20180809T190901Z");
        let s = Signing {
            scope: "20180809/us-east-1/ecs/aws4_request".into(),
            ..Signing::default()
        };
        sign(&mut h, b"{}", &s);
        assert_eq!(
            v.verify("POST", "/", "", &h, b"{}", at("20180809T190334Z")),
            error(
                ErrorCode::InvalidSignatureException,
                "Signature not yet current: 20180809T190901Z is still later than \
                 20180809T190834Z (20180809T190334Z + 5 min.)"
            )
        );
        // Exactly at the edges of the window: accepted.
        assert!(
            v.verify("POST", "/", "", &h, b"{}", at("20180809T190401Z"))
                .is_ok()
        );
        assert!(
            v.verify("POST", "/", "", &h, b"{}", at("20180809T191401Z"))
                .is_ok()
        );
        // A wider window, in the message too.
        let wide = Verifier::with_rules(
            ring(),
            Rules {
                window: Duration::from_secs(15 * 60),
                ..Rules::default()
            },
        );
        let err = wide
            .verify("POST", "/", "", &h, b"{}", at("20180809T193000Z"))
            .unwrap_err();
        assert!(
            err.message.ends_with("(20180809T193000Z - 15 min.)"),
            "{}",
            err.message
        );
    }

    #[test]
    fn unknown_keys_and_session_tokens_are_unrecognized() {
        let s = Signing {
            akid: "BKIAUNKNOWN",
            ..Signing::default()
        };
        let unrecognized = error(
            ErrorCode::UnrecognizedClientException,
            "The security token included in the request is invalid.",
        );
        assert_eq!(check(&signed_request(&s), b"{}"), unrecognized);
        let mut h = ecs_headers(NOW);
        h.insert("x-amz-security-token", HeaderValue::from_static("token"));
        let mut s = Signing::default();
        s.signed.push("x-amz-security-token");
        sign(&mut h, b"{}", &s);
        assert_eq!(check(&h, b"{}"), unrecognized);
    }

    #[test]
    fn wrong_secret_body_or_target_is_a_mismatch() {
        let mismatch = error(
            ErrorCode::InvalidSignatureException,
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method. Consult the service \
             documentation for details.",
        );
        let s = Signing {
            secret: "not-the-secret",
            ..Signing::default()
        };
        assert_eq!(check(&signed_request(&s), b"{}"), mismatch);
        let h = signed_request(&Signing::default());
        assert_eq!(check(&h, b"{ }"), mismatch);
        let mut h = signed_request(&Signing::default());
        h.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonEC2ContainerServiceV20141113.DeleteCluster"),
        );
        assert_eq!(check(&h, b"{}"), mismatch);
    }

    #[test]
    fn content_sha256_must_match_and_be_a_hash() {
        let body = b"{}";
        let hash = hex::encode(Sha256::digest(body));
        let mut s = Signing::default();
        s.signed.push("x-amz-content-sha256");
        for (value, ok) in [
            (hash.as_str(), true),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                false,
            ),
        ] {
            let mut h = ecs_headers(NOW);
            h.insert(
                "x-amz-content-sha256",
                HeaderValue::from_str(value).unwrap(),
            );
            sign(&mut h, body, &s);
            let result = check(&h, body);
            if ok {
                assert!(result.is_ok(), "{result:?}");
            } else {
                assert_eq!(
                    result,
                    error(
                        ErrorCode::InvalidSignatureException,
                        "The provided 'x-amz-content-sha256' header does not match what was \
                         computed."
                    )
                );
            }
        }
        for value in ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"] {
            let mut h = ecs_headers(NOW);
            h.insert(
                "x-amz-content-sha256",
                HeaderValue::from_str(value).unwrap(),
            );
            sign(&mut h, body, &s);
            assert_eq!(
                check(&h, body),
                error(
                    ErrorCode::InvalidSignatureException,
                    &format!(
                        "x-amz-content-sha256 '{value}' is not accepted here: Berth's JSON API \
                         needs the hex SHA-256 of the whole body (unsigned and streaming \
                         payloads are for S3 uploads)."
                    )
                )
            );
        }
    }

    #[test]
    fn presigned_sigv2_and_sigv4a_are_refused() {
        let v = Verifier::new(ring());
        let h = ecs_headers(NOW);
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260820%2Fus-east-1%2Fecs%2Faws4_request&X-Amz-Signature=00";
        assert_eq!(
            v.verify("POST", "/", q, &h, b"{}", at(NOW)),
            error(
                ErrorCode::InvalidSignatureException,
                "Query-string authentication (X-Amz-Signature in the URL) is not accepted here: \
                 sign requests with an Authorization header (AWS4-HMAC-SHA256)."
            )
        );
        let sigv2 = error(
            ErrorCode::InvalidSignatureException,
            "Signature Version 2 is not accepted here: sign requests with Signature Version 4 \
             (Authorization: AWS4-HMAC-SHA256 …).",
        );
        let q = "AWSAccessKeyId=A&SignatureVersion=2&SignatureMethod=HmacSHA256&Signature=x";
        assert_eq!(v.verify("POST", "/", q, &h, b"{}", at(NOW)), sigv2);
        assert_eq!(
            check(
                &with_authorization("AWS AKIDEXAMPLE:c2lnbmF0dXJl", true),
                b"{}"
            ),
            sigv2
        );
        assert_eq!(
            check(
                &with_authorization(
                    "AWS4-ECDSA-P256-SHA256 Credential=A/20260820/ecs/aws4_request",
                    true
                ),
                b"{}"
            ),
            error(
                ErrorCode::InvalidSignatureException,
                "Unsupported signing algorithm 'AWS4-ECDSA-P256-SHA256': sign requests with \
                 AWS4-HMAC-SHA256 (SigV4a and other algorithms are not accepted here)."
            )
        );
    }

    #[test]
    fn the_date_header_may_stand_in_for_x_amz_date() {
        let mut h = ecs_headers(NOW);
        h.remove("x-amz-date");
        h.insert(
            "date",
            HeaderValue::from_static("Thu, 20 Aug 2026 10:15:00 GMT"),
        );
        let s = Signing {
            signed: vec!["content-type", "date", "host", "x-amz-target"],
            ..Signing::default()
        };
        sign(&mut h, b"{}", &s);
        assert!(check(&h, b"{}").is_ok());
        let s = Signing {
            signed: vec!["content-type", "host", "x-amz-target"],
            ..Signing::default()
        };
        sign(&mut h, b"{}", &s);
        assert_eq!(
            check(&h, b"{}"),
            error(
                ErrorCode::IncompleteSignatureException,
                "'Date' must be a 'SignedHeader' in the AWS Authorization."
            )
        );
    }

    #[test]
    fn signed_by_the_aws_sigv4_crate() {
        use aws_credential_types::Credentials;
        use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
        use aws_sigv4::sign::v4;

        let body = br#"{"cluster":"default"}"#;
        let sign_with = |token: Option<String>| {
            let headers = [
                ("host", "127.0.0.1:7575"),
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", TARGET),
            ];
            let request = SignableRequest::new(
                "POST",
                "http://127.0.0.1:7575/",
                headers.into_iter(),
                SignableBody::Bytes(body),
            )
            .unwrap();
            let (instructions, _) = sign(
                request,
                &v4::SigningParams::builder()
                    .identity(&Credentials::new(AKID, SECRET, token, None, "test").into())
                    .region("us-west-2")
                    .name("ecs")
                    .time(at(NOW))
                    .settings(SigningSettings::default())
                    .build()
                    .unwrap()
                    .into(),
            )
            .unwrap()
            .into_parts();
            let mut map = HeaderMap::new();
            for (n, v) in headers.into_iter().chain(instructions.headers()) {
                map.insert(
                    HeaderName::from_bytes(n.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                );
            }
            map
        };
        let v = Verifier::new(ring());
        let h = sign_with(None);
        let auth = h["authorization"].to_str().unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-target"),
            "{auth}"
        );
        assert_eq!(
            v.verify("POST", "/", "", &h, body, at("20260820T101930Z"))
                .unwrap()
                .profile,
            "example"
        );
        let err = v.verify("POST", "/", "", &h, b"{}", at(NOW)).unwrap_err();
        assert_eq!(err.message, SIGNATURE_MISMATCH);
        let h = sign_with(Some("session".into()));
        assert_eq!(
            v.verify("POST", "/", "", &h, body, at(NOW))
                .unwrap_err()
                .code,
            ErrorCode::UnrecognizedClientException
        );
    }

    #[test]
    fn dates_round_trip() {
        for s in [
            "19700101T000000Z",
            "20150830T123600Z",
            "20000229T235959Z",
            "21000301T000000Z",
        ] {
            assert_eq!(format_basic(parse_basic(s).unwrap()), s);
        }
        for bad in [
            "20150230T000000Z",
            "20150830T246000Z",
            "20150830 123600Z",
            "2015083T123600Z",
            "2015+830T123600Z",
        ] {
            assert_eq!(parse_basic(bad), None, "{bad}");
        }
        assert_eq!(
            parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"),
            parse_basic("20150830T123600Z")
        );
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 UTC"), None);
        assert_eq!(parse_http_date("Sunday, 30-Aug-15 12:36:00 GMT"), None);
    }

    #[test]
    fn canonical_pieces() {
        assert_eq!(canonical_uri("", true), "/");
        assert_eq!(canonical_uri("/a/./b/../c//", true), "/a/c/");
        assert_eq!(canonical_uri("/a b/%3A", false), "/a%20b/%253A");
        assert_eq!(canonical_query("b=2&a=1&a=0&c"), "a=0&a=1&b=2&c=");
        assert_eq!(canonical_query("k=a+b%20c%2f"), "k=a%2Bb%20c%2F");
        let mut out = Vec::new();
        push_trimmed(&mut out, b"  a \t b  c ");
        assert_eq!(out, b"a b c");
    }
}
