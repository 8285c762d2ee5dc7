//! Dashboard sessions: the one-time login token, the session cookie, the CSRF value and the
//! role of whoever is signed in.
//!
//! With `--auth token` the server prints a login URL carrying a random token in its fragment
//! (`http://127.0.0.1:7575/#token=…`: a fragment never reaches a server log or a `Referer`).
//! The page posts the token to `POST /_berth/login` once and gets a session cookie
//! (`HttpOnly; SameSite=Strict; Path=/`, named after the port, since browsers share cookies
//! between the ports of one host) and a CSRF value that the page keeps in memory only. A key pair
//! of the credentials file signs in too, with that key's role. The token works once: a second
//! browser signs in with a key, or the operator restarts the server for a new URL.
//!
//! Every dashboard call then needs the cookie, and every `POST` also `X-Berth-Csrf` with the
//! session's value: the cookie alone authorizes nothing, because any page on any port of
//! `localhost` is "same-site" and would carry it. Sessions expire after [`IDLE`] without a call
//! and [`ABSOLUTE`] after sign-in.
//!
//! Without login (`--auth none`, the default on loopback) everyone is the operator (a viewer
//! under `--read-only`), and the CSRF value is one per process: the dashboard sends it all the
//! same, so it runs one code path.
//!
//! It does not check `Host` or `Origin` ([`crate::guard`]) or SigV4 ([`crate::sigv4`]), and it
//! keeps sessions in memory only: a restart signs everyone out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::credentials::{KeyRing, Role};

/// A session ends after this long without a call.
pub const IDLE: Duration = Duration::from_secs(12 * 3600);

/// A session ends this long after sign-in, used or not.
pub const ABSOLUTE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The header that carries the session's CSRF value.
pub const CSRF_HEADER: &str = "x-berth-csrf";

/// Whether the dashboard asks for a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Everyone who reaches the server is the operator (loopback only).
    None,
    /// A one-time token printed at start, or a key of the credentials file.
    Token,
}

/// A role's name as the dashboard and the audit trail spell it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Operator => "operator",
        Role::Viewer => "viewer",
    }
}

/// Who is calling through the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Their role.
    pub role: Role,
    /// The first characters of the session id (`None` without login): enough to tell
    /// sessions apart in the audit trail, too few to use one.
    pub session: Option<String>,
    /// The profile of the key they signed in with, or `token` for the login URL.
    pub user: String,
}

#[derive(Debug)]
struct Session {
    role: Role,
    csrf: String,
    user: String,
    started: Instant,
    last: Instant,
}

/// Why a dashboard call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid session (401).
    NotSignedIn,
    /// A session, but no or the wrong `X-Berth-Csrf` on a `POST` (403).
    Csrf,
}

impl Refusal {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::NotSignedIn => 401,
            Refusal::Csrf => 403,
        }
    }

    /// The message.
    pub fn message(&self) -> &'static str {
        match self {
            Refusal::NotSignedIn => {
                "Sign in first: open the login URL berth serve printed, or sign in with a key of its credentials file."
            }
            Refusal::Csrf => {
                "This call needs the X-Berth-Csrf header of the signed-in page (cross-site requests are refused)."
            }
        }
    }
}

/// What `GET /_berth/session` answers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    /// `none` or `token`.
    pub auth: AuthMode,
    /// Whether the caller may use the dashboard.
    pub authenticated: bool,
    /// `operator` or `viewer`, when signed in.
    pub role: Option<&'static str>,
    /// The value to send as `X-Berth-Csrf`, when signed in.
    pub csrf: Option<String>,
}

/// The server's sessions.
pub struct Sessions {
    mode: AuthMode,
    read_only: bool,
    cookie: String,
    token: Mutex<Option<String>>,
    keys: Option<KeyRing>,
    open_csrf: String,
    live: Mutex<HashMap<String, Session>>,
}

/// `n` random bytes from the operating system, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the operating system's random source");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    /// Sessions for a server on `port`. With [`AuthMode::Token`] a fresh one-time token is made
    /// ([`Sessions::login_token`]); `keys` lets the credentials file's keys sign in too.
    pub fn new(mode: AuthMode, read_only: bool, port: u16, keys: Option<KeyRing>) -> Sessions {
        Sessions {
            mode,
            read_only,
            cookie: format!("berth_session_{port}"),
            token: Mutex::new((mode == AuthMode::Token).then(|| random_hex(32))),
            keys,
            open_csrf: random_hex(16),
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The login mode.
    pub fn mode(&self) -> AuthMode {
        self.mode
    }

    /// The one-time login token, while it is unused.
    pub fn login_token(&self) -> Option<String> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn effective(&self, role: Role) -> Role {
        if self.read_only { Role::Viewer } else { role }
    }

    fn cookie_value<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == self.cookie)
            .map(|(_, v)| v)
    }

    /// The caller of a dashboard route: `post` calls also need the CSRF header.
    pub fn authorize(&self, headers: &HeaderMap, post: bool) -> Result<Caller, Refusal> {
        let csrf_sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if self.mode == AuthMode::None {
            return Ok(Caller {
                role: self.effective(Role::Operator),
                session: None,
                user: "local".into(),
            });
        }
        let id = self.cookie_value(headers).ok_or(Refusal::NotSignedIn)?;
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        live.retain(|_, s| now - s.last < IDLE && now - s.started < ABSOLUTE);
        let (key, s) = live
            .iter_mut()
            .find(|(k, _)| same(k, id))
            .ok_or(Refusal::NotSignedIn)?;
        if post && !csrf_sent.is_some_and(|c| same(c, &s.csrf)) {
            return Err(Refusal::Csrf);
        }
        s.last = now;
        Ok(Caller {
            role: s.role,
            session: Some(key.chars().take(8).collect()),
            user: s.user.clone(),
        })
    }

    /// `GET /_berth/session`.
    pub fn info(&self, headers: &HeaderMap) -> SessionInfo {
        if self.mode == AuthMode::None {
            return SessionInfo {
                auth: self.mode,
                authenticated: true,
                role: Some(role_name(self.effective(Role::Operator))),
                csrf: Some(self.open_csrf.clone()),
            };
        }
        let found = self.authorize(headers, false).ok().and_then(|c| {
            let id = self.cookie_value(headers)?;
            let live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.get(id).map(|s| (c.role, s.csrf.clone()))
        });
        SessionInfo {
            auth: self.mode,
            authenticated: found.is_some(),
            role: found.as_ref().map(|(r, _)| role_name(*r)),
            csrf: found.map(|(_, c)| c),
        }
    }

    /// Whether `X-Berth-Csrf` matches without login (the per-process value).
    pub fn open_csrf_matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| same(c, &self.open_csrf))
    }

    /// `POST /_berth/login` with the one-time token or a key pair: the session's `Set-Cookie`
    /// value and what the page keeps (role, CSRF value).
    pub fn login(&self, body: &serde_json::Value) -> Result<(HeaderValue, SessionInfo), String> {
        if self.mode == AuthMode::None {
            return Err("This server does not ask for a login (it runs with --auth none).".into());
        }
        let (role, user) = if let Some(t) = body.get("token").and_then(|v| v.as_str()) {
            let mut token = self.token.lock().unwrap_or_else(|e| e.into_inner());
            match token.as_deref() {
                Some(want) if same(t.trim(), want) => {
                    *token = None;
                    (Role::Operator, "token".to_string())
                }
                Some(_) => return Err("That login token is not valid.".into()),
                None => {
                    return Err("The login URL has been used already: sign in with a key of the credentials file, or restart berth serve for a new URL.".into());
                }
            }
        } else if let (Some(akid), Some(secret)) = (
            body.get("accessKeyId").and_then(|v| v.as_str()),
            body.get("secretAccessKey").and_then(|v| v.as_str()),
        ) {
            let key = self
                .keys
                .as_ref()
                .and_then(|k| k.get(akid.trim()))
                .filter(|k| same(&k.secret, secret.trim()))
                .ok_or("Unknown access key id or wrong secret access key.")?;
            (key.role, key.profile.clone())
        } else {
            return Err(
                "Send {\"token\"} from the login URL, or {\"accessKeyId\", \"secretAccessKey\"}."
                    .into(),
            );
        };
        let role = self.effective(role);
        let id = random_hex(32);
        let csrf = random_hex(32);
        let now = Instant::now();
        self.live.lock().unwrap_or_else(|e| e.into_inner()).insert(
            id.clone(),
            Session {
                role,
                csrf: csrf.clone(),
                user,
                started: now,
                last: now,
            },
        );
        let cookie = format!(
            "{}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
            self.cookie,
            ABSOLUTE.as_secs()
        );
        let cookie = HeaderValue::from_str(&cookie).map_err(|e| e.to_string())?;
        Ok((
            cookie,
            SessionInfo {
                auth: self.mode,
                authenticated: true,
                role: Some(role_name(role)),
                csrf: Some(csrf),
            },
        ))
    }

    /// `POST /_berth/logout`: ends the caller's session; the `Set-Cookie` that clears it.
    pub fn logout(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(id) = self.cookie_value(headers) {
            self.live
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id);
        }
        HeaderValue::from_str(&format!(
            "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
            self.cookie
        ))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_cookie(s: &Sessions, cookie: &HeaderValue, csrf: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        let pair = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {pair}")).unwrap(),
        );
        if let Some(c) = csrf {
            h.insert(CSRF_HEADER, HeaderValue::from_str(c).unwrap());
        }
        let _ = s;
        h
    }

    #[test]
    fn the_token_works_once_and_the_cookie_needs_the_csrf_value_for_posts() {
        let s = Sessions::new(AuthMode::Token, false, 7575, None);
        let token = s.login_token().unwrap();
        assert_eq!(token.len(), 64);
        assert!(s.login(&json!({"token": "nope"})).is_err());
        let (cookie, info) = s.login(&json!({"token": token})).unwrap();
        let c = cookie.to_str().unwrap();
        assert!(c.starts_with("berth_session_7575="), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"));
        let csrf = info.csrf.unwrap();
        assert_eq!(info.role, Some("operator"));
        let e = s.login(&json!({"token": token})).unwrap_err();
        assert!(e.contains("used already"), "{e}");

        assert_eq!(
            s.authorize(&HeaderMap::new(), false),
            Err(Refusal::NotSignedIn)
        );
        let h = with_cookie(&s, &cookie, None);
        assert!(s.authorize(&h, false).is_ok(), "reads need the cookie only");
        assert_eq!(
            s.authorize(&h, true),
            Err(Refusal::Csrf),
            "a cookie alone posts nothing"
        );
        let h = with_cookie(&s, &cookie, Some("0000"));
        assert_eq!(s.authorize(&h, true), Err(Refusal::Csrf));
        let h = with_cookie(&s, &cookie, Some(&csrf));
        let caller = s.authorize(&h, true).unwrap();
        assert_eq!(caller.role, Role::Operator);
        assert_eq!(caller.session.as_deref().map(str::len), Some(8));
        let info = s.info(&h);
        assert!(info.authenticated);
        assert_eq!(info.csrf.as_deref(), Some(csrf.as_str()));

        let cleared = s.logout(&h);
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
        assert_eq!(s.authorize(&h, false), Err(Refusal::NotSignedIn));
        assert!(!s.info(&h).authenticated);
    }

    #[test]
    fn read_only_makes_everyone_a_viewer() {
        let s = Sessions::new(AuthMode::Token, true, 1, None);
        let token = s.login_token().unwrap();
        let (_, info) = s.login(&json!({"token": token})).unwrap();
        assert_eq!(info.role, Some("viewer"));
        let open = Sessions::new(AuthMode::None, true, 1, None);
        let caller = open.authorize(&HeaderMap::new(), true).unwrap();
        assert_eq!(caller.role, Role::Viewer);
        assert_eq!(open.info(&HeaderMap::new()).role, Some("viewer"));
    }

    #[test]
    fn without_login_everyone_is_the_operator() {
        let s = Sessions::new(AuthMode::None, false, 1, None);
        assert!(s.login_token().is_none());
        assert!(s.login(&json!({"token": "x"})).is_err());
        let caller = s.authorize(&HeaderMap::new(), true).unwrap();
        assert_eq!(caller.role, Role::Operator);
        let info = s.info(&HeaderMap::new());
        assert!(info.authenticated && info.csrf.is_some());
    }
}
