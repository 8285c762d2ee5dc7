//! The dashboard's one HTTP client: ECS, Application Auto Scaling and CloudWatch Logs operations,
//! typed with `berth_core::model`, sent through the server's same-origin route
//! (`POST /_berth/api` with `X-Amz-Target`), exactly as an AWS SDK would send them to `POST /`.
//! The browser holds no credentials: the server signs (upstream) or answers (local cluster).
//! Every POST carries the session's CSRF value (`X-Berth-Csrf`, from [`crate::session`]); a 401
//! is announced (the page shows its sign-in screen) and a 403 is said plainly. Also the
//! session's own requests (`/_berth/session`, `/_berth/login`, `/_berth/logout`). Nothing here
//! knows about views or signals.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The route every API call goes through.
pub const API_ROUTE: &str = "/_berth/api";
/// ECS's target prefix.
pub const ECS: &str = "AmazonEC2ContainerServiceV20141113";

/// An error as AWS returns it (`__type`, `message`), or a transport failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The exception name (`ClientException` …) or `NetworkError`.
    pub code: String,
    /// ECS's message.
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.message.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.message)
        }
    }
}

fn net(e: impl std::fmt::Debug) -> ApiError {
    ApiError {
        code: "NetworkError".into(),
        message: format!("The Berth server did not answer ({e:?})."),
    }
}

/// Reads an AWS JSON error body (`{"__type": "ns#Name", "message": "…"}`).
pub fn parse_error(status: u16, body: &str) -> ApiError {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let code = v
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_string())
        .unwrap_or_else(|| format!("HTTP {status}"));
    let message = v
        .get("message")
        .or_else(|| v.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or(body)
        .to_string();
    ApiError { code, message }
}

/// An error answer: AWS's code and message, with 401 announced to the page (its sign-in screen
/// follows) and 403 worded as the server's refusal.
fn refused(status: u16, text: &str) -> ApiError {
    let mut e = parse_error(status, text);
    match status {
        401 => {
            crate::session::announce_unauthorized();
            e.message = format!("Not signed in: {}", e.message);
        }
        403 => {
            e.message = format!(
                "The Berth server refused this request (HTTP 403): {}",
                e.message
            );
        }
        _ => {}
    }
    e
}

async fn fetch(
    method: &str,
    url: &str,
    target: Option<&str>,
    body: Option<String>,
) -> Result<(u16, String), ApiError> {
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(net)?;
    if method == "POST"
        && let Some(c) = crate::session::csrf()
    {
        headers.set(crate::session::CSRF_HEADER, &c).map_err(net)?;
    }
    if target.is_none() && body.is_some() {
        headers
            .set("Content-Type", "application/json")
            .map_err(net)?;
    }
    if let Some(t) = target {
        headers.set("X-Amz-Target", t).map_err(net)?;
        // CloudWatch speaks JSON 1.0; ECS, Auto Scaling and Logs 1.1.
        let json = if t.starts_with("GraniteServiceVersion20100801.") {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        headers.set("Content-Type", json).map_err(net)?;
    }
    init.set_headers(&headers);
    if let Some(b) = body {
        init.set_body(&wasm_bindgen::JsValue::from_str(&b));
    }
    let req = web_sys::Request::new_with_str_and_init(url, &init).map_err(net)?;
    let window = web_sys::window().ok_or_else(|| net("no window"))?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_request(&req))
        .await
        .map_err(net)?
        .dyn_into()
        .map_err(net)?;
    let text = JsFuture::from(resp.text().map_err(net)?)
        .await
        .map_err(net)?
        .as_string()
        .unwrap_or_default();
    Ok((resp.status(), text))
}

/// Calls `<prefix>.<action>` with a JSON body; the answer or the AWS error. Typed answers go
/// through a `Value` ([`ecs`]): measured, that is 6 kB less brotli wasm than a serde_json
/// text deserialiser per model type.
pub async fn call<Resp: DeserializeOwned>(
    prefix: &str,
    action: &str,
    body: &Value,
) -> Result<Resp, ApiError> {
    let target = format!("{prefix}.{action}");
    let (status, text) = fetch("POST", API_ROUTE, Some(&target), Some(body.to_string())).await?;
    if (200..300).contains(&status) {
        serde_json::from_str(&text).map_err(|e| ApiError {
            code: "SerializationException".into(),
            message: format!("{action}: unreadable answer: {e}"),
        })
    } else {
        Err(refused(status, &text))
    }
}

/// An ECS action with a typed answer.
pub async fn ecs<Req: Serialize, Resp: DeserializeOwned>(
    action: &str,
    req: &Req,
) -> Result<Resp, ApiError> {
    let body = serde_json::to_value(req).map_err(|e| ApiError {
        code: "SerializationException".into(),
        message: e.to_string(),
    })?;
    let v: Value = call(ECS, action, &body).await?;
    serde_json::from_value(v).map_err(|e| ApiError {
        code: "SerializationException".into(),
        message: format!("{action}: {e}"),
    })
}

/// An ECS action with an untyped body (for the few requests built field by field).
pub async fn ecs_json(action: &str, body: Value) -> Result<Value, ApiError> {
    call(ECS, action, &body).await
}

/// `GET /_berth/info`.
pub async fn info() -> Result<Value, ApiError> {
    let (status, text) = fetch("GET", "/_berth/info", None, None).await?;
    if status == 200 {
        serde_json::from_str(&text).map_err(net)
    } else {
        Err(refused(status, &text))
    }
}

/// `GET /_berth/session`; a server without the route (404) has no login: [`Session::open`].
///
/// [`Session::open`]: crate::logic::session::Session::open
pub async fn session() -> Result<crate::logic::session::Session, ApiError> {
    use crate::logic::session::Session;
    let (status, text) = fetch("GET", "/_berth/session", None, None).await?;
    match status {
        200 => Session::parse(&text).map_err(net),
        404 => Ok(Session::open()),
        _ => Err(parse_error(status, &text)),
    }
}

/// `POST /_berth/login` with `body` (a token or a key); `Err` is the server's message.
pub async fn login(body: String) -> Result<(), String> {
    let (status, text) = fetch("POST", "/_berth/login", None, Some(body))
        .await
        .map_err(|e| e.message)?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(crate::logic::session::login_error(status, &text))
    }
}

/// `POST /_berth/logout`.
pub async fn logout() -> Result<(), ApiError> {
    let (status, text) = fetch("POST", "/_berth/logout", None, None).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(parse_error(status, &text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_aws_errors() {
        let e = parse_error(
            400,
            r#"{"__type":"com.amazonaws.ecs#ClientException","message":"Invalid 'cpu' setting for task."}"#,
        );
        assert_eq!(e.code, "ClientException");
        assert_eq!(e.message, "Invalid 'cpu' setting for task.");
        let e = parse_error(502, "bad gateway");
        assert_eq!(e.code, "HTTP 502");
        assert_eq!(e.to_string(), "HTTP 502: bad gateway");
    }
}
