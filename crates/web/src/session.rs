//! The tab's session with the Berth server: signing in (the one-time `#token=…` of the login URL,
//! or a key of the credentials file), the CSRF value every POST sends, the role, and signing out.
//!
//! The sign-in form is an island (`crate::islands::signin`, in the tools module); it says
//! `berth:signed-in` when the server took a key, and this module takes it from there.
//!
//! **Where things live.** The session itself is the server's HttpOnly cookie: this code never
//! sees it. The CSRF value and the role are kept in page memory only — a thread-local and a
//! signal — never in `localStorage`, `sessionStorage`, a cookie or the URL; the login token is
//! dropped from the URL (`history.replaceState`) before it is even sent. The tools module (a
//! second wasm instance, which has its own memory) asks the page for them through
//! `window.__berthSession()`, and tells the page about a lost session with a `berth:unauthorized`
//! event.
//!
//! **What it does not do.** It decides nothing about what a role may do: the server refuses, the
//! page only stops offering (see [`read_only_reason`]). The wording is [`crate::logic::session`].

use std::cell::RefCell;
use std::sync::OnceLock;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use crate::api;
use crate::logic::session::{Session, fragment_token, token_login};

/// The header every POST carries.
pub const CSRF_HEADER: &str = "X-Berth-Csrf";
/// The `window` event a 401 from the server is announced as (by either wasm module).
pub const UNAUTHORIZED_EVENT: &str = "berth:unauthorized";
/// The `window` function (defined by the main app) that answers the session as JSON.
pub const PAGE_SESSION: &str = "__berthSession";

/// Where the tab stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Asking the server.
    Checking,
    /// Login is on and the tab is not signed in; the message says why (empty: nothing to say).
    SignIn(String),
    /// Signed in (or login is off): the app runs.
    Ready,
    /// The server did not answer `GET /_berth/session`.
    Unreachable(String),
}

/// The tab's phase.
pub fn phase() -> RwSignal<Phase> {
    static S: OnceLock<RwSignal<Phase>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(Phase::Checking)))
}

/// The session as the server last described it.
pub fn current() -> RwSignal<Session> {
    static S: OnceLock<RwSignal<Session>> = OnceLock::new();
    *S.get_or_init(|| crate::global(|| RwSignal::new(Session::open())))
}

/// Why change controls must be off (their tooltip), or `None`; tracked, for views.
pub fn read_only_reason() -> Option<&'static str> {
    current().with(Session::read_only_reason)
}

thread_local! {
    /// The CSRF value, in this module's memory only.
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The value to send as [`CSRF_HEADER`]: this module's own, else the page's (in the tools
/// module, which never signs in itself).
pub fn csrf() -> Option<String> {
    CSRF.with(|c| c.borrow().clone())
        .or_else(|| page_session().and_then(|s| s.csrf))
}

/// The session the main app holds, read through `window.__berthSession()`.
fn page_session() -> Option<Session> {
    let w = web_sys::window()?;
    let f = js_sys::Reflect::get(&w, &PAGE_SESSION.into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let text = f.call0(&w).ok()?.as_string()?;
    Session::parse(&text).ok()
}

/// In the tools module: takes the page's session (role, read-only) before an island renders.
pub fn sync_from_page() {
    if let Some(s) = page_session() {
        current().set(s);
    }
}

/// Says, to whichever module listens (the main app), that the server answered 401.
pub fn announce_unauthorized() {
    if let Some(w) = web_sys::window()
        && let Ok(e) = web_sys::Event::new(UNAUTHORIZED_EVENT)
    {
        let _ = w.dispatch_event(&e);
    }
}

fn session_json(s: &Session) -> String {
    serde_json::json!({
        "auth": if s.login { "token" } else { "none" },
        "authenticated": s.authenticated,
        "role": if s.viewer { "viewer" } else { "operator" },
        "csrf": s.csrf,
        "backend": s.backend,
        "readOnly": s.read_only,
    })
    .to_string()
}

/// Main app: defines `window.__berthSession`, listens for `berth:unauthorized`, signs in with
/// the URL's `#token=…` if there is one, and asks the server where the tab stands.
pub fn bootstrap() {
    if let Some(w) = web_sys::window() {
        let page = Closure::<dyn Fn() -> String>::new(|| current().with_untracked(session_json));
        let _ = js_sys::Reflect::set(&w, &PAGE_SESSION.into(), page.as_ref());
        page.forget();
        let lost = Closure::<dyn Fn()>::new(|| {
            if phase().get_untracked() == Phase::Ready && current().with_untracked(|s| s.login) {
                signed_out("Your session has ended. Sign in again.");
            }
        });
        let _ =
            w.add_event_listener_with_callback(UNAUTHORIZED_EVENT, lost.as_ref().unchecked_ref());
        lost.forget();
        // The sign-in island (another wasm instance) says when the server took a key.
        let signed_in = Closure::<dyn Fn()>::new(|| leptos::task::spawn_local(refresh(None)));
        let _ = w.add_event_listener_with_callback(
            crate::islands::signin::SIGNED_IN_EVENT,
            signed_in.as_ref().unchecked_ref(),
        );
        signed_in.forget();
    }
    let token = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .and_then(|h| fragment_token(&h));
    leptos::task::spawn_local(async move {
        let mut message = None;
        if let Some(t) = token {
            // Out of the address bar and the history entry before anything else happens.
            drop_fragment();
            if let Err(m) = api::login(token_login(&t)).await {
                message = Some(format!(
                    "The login link did not work: {m} A login link works once; open the newest one `berth serve` printed, or sign in with a key."
                ));
            }
        }
        refresh(message).await;
    });
}

fn drop_fragment() {
    if let Some(w) = web_sys::window() {
        let loc = w.location();
        let url = format!(
            "{}{}",
            loc.pathname().unwrap_or_default(),
            loc.search().unwrap_or_default()
        );
        if let Ok(h) = w.history() {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }
}

/// Asks the server for the session and moves the tab to [`Phase::Ready`] or
/// [`Phase::SignIn`] (with `message`).
pub async fn refresh(message: Option<String>) {
    match api::session().await {
        Ok(s) => apply(s, message),
        Err(e) => phase().set(Phase::Unreachable(e.to_string())),
    }
}

fn apply(s: Session, message: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = s.csrf.clone());
    let ready = s.authenticated;
    current().set(s);
    if ready {
        let was_signed_out = phase().get_untracked() != Phase::Checking;
        phase().set(Phase::Ready);
        crate::views::ui::load_server_info();
        crate::live::start();
        if was_signed_out {
            // What was loaded before may be stale, or another role's.
            crate::store::store().resync();
        }
    } else {
        phase().set(Phase::SignIn(message.unwrap_or_default()));
    }
}

/// Signs out (the server forgets the session and clears the cookie).
pub fn sign_out() {
    leptos::task::spawn_local(async {
        let _ = api::logout().await;
        signed_out("Signed out.");
    });
}

/// The tab is no longer signed in: forget the CSRF value, close the change stream, show the
/// sign-in screen.
pub fn signed_out(message: &str) {
    CSRF.with(|c| *c.borrow_mut() = None);
    current().update(|s| {
        s.authenticated = false;
        s.csrf = None;
    });
    crate::live::stop();
    crate::views::ui::close_dialogs();
    phase().set(Phase::SignIn(message.to_string()));
}

/// Whether the tab may reopen its change stream: not when the server says the session is gone
/// (then the sign-in screen shows). A server that does not answer gets the benefit of the doubt.
pub async fn still_signed_in() -> bool {
    match api::session().await {
        Ok(s) if s.login && !s.authenticated => {
            signed_out("Your session has ended. Sign in again.");
            false
        }
        _ => true,
    }
}
