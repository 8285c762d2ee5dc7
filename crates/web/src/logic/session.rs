//! The dashboard's session and the server's mode as data: what `GET /_berth/session` says
//! (login on or off, signed in or not, the role, the CSRF value, the backend, read-only), the
//! one-time login token of a `#token=…` URL fragment, why the page must not offer changes, and
//! the texts of the live chip and the upstream-error banner.
//!
//! It keeps nothing and sends nothing: `crate::session` holds the values (in page memory only)
//! and does the HTTP; this module only reads and words them.

use serde_json::Value;

/// The tooltip of a change control when the signed-in role is `viewer`.
pub const VIEWER: &str = "Read-only: your role is viewer";
/// The tooltip of a change control when the server runs with `--read-only`.
pub const SERVER_READ_ONLY: &str = "Berth runs read-only";

/// What the server says about this tab's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Login is on (`"auth": "token"`): the session cookie and the CSRF header are needed.
    pub login: bool,
    /// Signed in (always true with login off).
    pub authenticated: bool,
    /// The role is `viewer` (otherwise `operator`).
    pub viewer: bool,
    /// The value every POST sends as `X-Berth-Csrf`.
    pub csrf: Option<String>,
    /// `local`, `aws` or `url`.
    pub backend: String,
    /// The server lets only read operations through (`--read-only`).
    pub read_only: bool,
}

impl Session {
    /// The session of a server that has no `/_berth/session` (one built before login existed):
    /// no login, an operator, nothing to send.
    pub fn open() -> Session {
        Session {
            login: false,
            authenticated: true,
            viewer: false,
            csrf: None,
            backend: "local".into(),
            read_only: false,
        }
    }

    /// Reads `GET /_berth/session`'s JSON.
    ///
    /// # Errors
    ///
    /// A message when the text is not a JSON object.
    pub fn parse(text: &str) -> Result<Session, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("unreadable session: {e}"))?;
        if !v.is_object() {
            return Err("unreadable session: not an object".into());
        }
        let s = |k: &str| v.get(k).and_then(Value::as_str);
        let login = s("auth") == Some("token");
        Ok(Session {
            login,
            authenticated: v
                .get("authenticated")
                .and_then(Value::as_bool)
                .unwrap_or(!login),
            viewer: s("role") == Some("viewer"),
            csrf: s("csrf").map(str::to_string),
            backend: s("backend").unwrap_or("local").to_string(),
            read_only: v.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
        })
    }

    /// Why the page must not offer changes (the tooltip of every change control), or `None`.
    pub fn read_only_reason(&self) -> Option<&'static str> {
        if self.read_only {
            Some(SERVER_READ_ONLY)
        } else if self.viewer {
            Some(VIEWER)
        } else {
            None
        }
    }

    /// The header's role badge: `viewer`, `operator`, `read-only`; `None` when there is nothing
    /// to say (login off and changes allowed).
    pub fn badge(&self) -> Option<&'static str> {
        if self.read_only {
            Some("read-only")
        } else if self.viewer {
            Some("viewer")
        } else if self.login {
            Some("operator")
        } else {
            None
        }
    }
}

/// The one-time login token of a `#token=…` fragment (`None` when there is none).
pub fn fragment_token(hash: &str) -> Option<String> {
    hash.trim_start_matches('#')
        .split('&')
        .find_map(|p| p.strip_prefix("token="))
        .map(crate::logic::query::decode)
        .filter(|t| !t.is_empty())
}

/// `{"token": …}`, the body that exchanges a fragment token for a session.
pub fn token_login(token: &str) -> String {
    serde_json::json!({ "token": token }).to_string()
}

/// `{"accessKeyId", "secretAccessKey"}`, the body that signs in with a key of the credentials
/// file.
pub fn key_login(access_key_id: &str, secret: &str) -> String {
    serde_json::json!({ "accessKeyId": access_key_id.trim(), "secretAccessKey": secret.trim() })
        .to_string()
}

/// The message of a refused login (`{"message": …}`), or a generic one.
pub fn login_error(status: u16, body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .or_else(|| v.get("Message"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| format!("The server refused the sign-in (HTTP {status})."))
}

/// How the server gets its changes, from `GET /_berth/info`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Feed {
    /// Changes come from polling an upstream (backend `aws` or `url`).
    pub polled: bool,
    /// Seconds between polls, when the server says.
    pub interval_secs: Option<f64>,
    /// The upstream's endpoint, when the server says.
    pub upstream: Option<String>,
}

impl Feed {
    /// Reads `/_berth/info`.
    pub fn of_info(info: &Value) -> Feed {
        let backend = info.get("backend").and_then(Value::as_str).unwrap_or("");
        let up = info.get("upstream");
        let polled = matches!(backend, "aws" | "url")
            || up
                .and_then(|u| u.get("polled"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
        let interval_secs = up
            .and_then(|u| u.get("intervalSeconds"))
            .and_then(Value::as_f64)
            .filter(|s| *s > 0.0);
        Feed {
            polled,
            interval_secs,
            upstream: up
                .and_then(|u| u.get("url"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    }

    /// The live chip's text when events flow: `Live`, or `Polled` (`Polled · every 5 s`).
    pub fn label(&self) -> String {
        match (self.polled, self.interval_secs) {
            (false, _) => "Live".into(),
            (true, None) => "Polled".into(),
            (true, Some(s)) => format!("Polled · every {} s", trim_number(s)),
        }
    }

    /// The live chip's tooltip.
    pub fn title(&self) -> String {
        if self.polled {
            let from = self.upstream.as_deref().unwrap_or("the upstream");
            format!(
                "Changes come from the server polling {from}, over one server-sent-events stream"
            )
        } else {
            "Changes arrive over one server-sent-events stream".into()
        }
    }
}

fn trim_number(s: f64) -> String {
    if s.fract() == 0.0 {
        format!("{}", s as i64)
    } else {
        format!("{s:.1}")
    }
}

/// An `upstream` event of the change stream: `{"ok":false,"message","lastOkAt","at"}` while
/// polling the upstream fails, `{"ok":true,…}` once it works again.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamProblem {
    /// What went wrong.
    pub message: String,
    /// Epoch seconds the data on screen is from: the last good poll (`lastOkAt`); `None` when
    /// there was none.
    pub at: Option<f64>,
}

/// Reads an `upstream` event: `Some(problem)` while the upstream fails, `None` once it is fine.
pub fn upstream_event(text: &str) -> Option<UpstreamProblem> {
    let v: Value = serde_json::from_str(text).ok()?;
    if v.get("ok").and_then(Value::as_bool).unwrap_or(true) {
        return None;
    }
    Some(UpstreamProblem {
        message: v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the upstream did not answer")
            .to_string(),
        at: v.get("lastOkAt").and_then(Value::as_f64),
    })
}

impl UpstreamProblem {
    /// `Upstream error: … — showing data from HH:MM:SS` (UTC, as every time in the dashboard).
    pub fn banner(&self) -> String {
        match self.at.and_then(|t| clock(t as i64)) {
            Some(t) => format!("Upstream error: {} — showing data from {t}", self.message),
            None => format!("Upstream error: {} — no data from it yet", self.message),
        }
    }
}

/// `HH:MM:SS` (UTC) of epoch seconds.
pub fn clock(epoch_secs: i64) -> Option<String> {
    if epoch_secs < 0 {
        return None;
    }
    let s = epoch_secs % 86_400;
    Some(format!(
        "{:02}:{:02}:{:02}",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_session() {
        let s = Session::parse(
            r#"{"auth":"token","authenticated":true,"role":"viewer","csrf":"c1","backend":"aws","readOnly":false}"#,
        )
        .unwrap();
        assert!(s.login && s.authenticated && s.viewer && !s.read_only);
        assert_eq!(s.csrf.as_deref(), Some("c1"));
        assert_eq!(s.backend, "aws");
        assert_eq!(s.read_only_reason(), Some(VIEWER));
        assert_eq!(s.badge(), Some("viewer"));

        let s = Session::parse(
            r#"{"auth":"token","authenticated":false,"role":null,"csrf":null,"backend":"local","readOnly":false}"#,
        )
        .unwrap();
        assert!(s.login && !s.authenticated && !s.viewer && s.csrf.is_none());

        let s = Session::parse(
            r#"{"auth":"none","authenticated":true,"role":"operator","csrf":"p","backend":"local","readOnly":false}"#,
        )
        .unwrap();
        assert_eq!(s.read_only_reason(), None);
        assert_eq!(s.badge(), None);

        let s = Session::parse(r#"{"auth":"none","role":"viewer","readOnly":true}"#).unwrap();
        assert!(s.authenticated);
        assert_eq!(s.read_only_reason(), Some(SERVER_READ_ONLY));
        assert_eq!(s.badge(), Some("read-only"));

        assert!(Session::parse("<html>").is_err());
        assert!(Session::parse("[1]").is_err());
        assert_eq!(Session::open().read_only_reason(), None);
    }

    #[test]
    fn finds_the_fragment_token() {
        assert_eq!(fragment_token("#token=abc123"), Some("abc123".into()));
        assert_eq!(fragment_token("token=a%2Bb"), Some("a+b".into()));
        assert_eq!(fragment_token("#x=1&token=t"), Some("t".into()));
        assert_eq!(fragment_token("#token="), None);
        assert_eq!(fragment_token(""), None);
        assert_eq!(fragment_token("#main"), None);
    }

    #[test]
    fn login_bodies_and_errors() {
        assert_eq!(token_login("t\"x"), r#"{"token":"t\"x"}"#);
        let v: Value = serde_json::from_str(&key_login(" AKID ", "s3cret\n")).unwrap();
        assert_eq!(v["accessKeyId"], "AKID");
        assert_eq!(v["secretAccessKey"], "s3cret");
        assert_eq!(
            login_error(
                401,
                r#"{"message":"The login token is invalid or was already used."}"#
            ),
            "The login token is invalid or was already used."
        );
        assert_eq!(
            login_error(500, "oops"),
            "The server refused the sign-in (HTTP 500)."
        );
    }

    #[test]
    fn words_the_feed() {
        let local = Feed::of_info(&serde_json::json!({"backend": "local"}));
        assert!(!local.polled);
        assert_eq!(local.label(), "Live");
        let up = Feed::of_info(&serde_json::json!({
            "backend": "aws",
            "upstream": {"url": "https://ecs.us-east-1.amazonaws.com", "region": "us-east-1", "polled": true}
        }));
        assert!(up.polled);
        assert_eq!(up.label(), "Polled");
        assert!(up.title().contains("https://ecs.us-east-1.amazonaws.com"));
        let up = Feed::of_info(&serde_json::json!({
            "backend": "url", "upstream": {"polled": true, "intervalSeconds": 5}
        }));
        assert_eq!(up.label(), "Polled · every 5 s");
        let up = Feed::of_info(&serde_json::json!({
            "backend": "url", "upstream": {"intervalSeconds": 2.5}
        }));
        assert_eq!(up.label(), "Polled · every 2.5 s");
    }

    #[test]
    fn reads_upstream_events() {
        let p = upstream_event(
            r#"{"ok":false,"message":"connection refused","lastOkAt":1765000203.4,"at":1765000290}"#,
        )
        .unwrap();
        assert_eq!(
            p.banner(),
            "Upstream error: connection refused — showing data from 05:50:03"
        );
        assert_eq!(
            upstream_event(r#"{"ok":true,"lastOkAt":1765000300,"at":1765000300}"#),
            None
        );
        assert_eq!(upstream_event("nonsense"), None);
        let p = upstream_event(r#"{"ok":false,"lastOkAt":null,"at":5}"#).unwrap();
        assert_eq!(
            p.banner(),
            "Upstream error: the upstream did not answer — no data from it yet"
        );
        assert_eq!(clock(0).as_deref(), Some("00:00:00"));
        assert_eq!(clock(-1), None);
    }
}
