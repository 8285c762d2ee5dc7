//! The sign-in screen, shown while login is on and the tab has no session: it points to the
//! login URL `berth serve` printed, and takes a key of the credentials file instead
//! (`POST /_berth/login`). On success it tells the page (`berth:signed-in`), which asks the
//! server for the session and starts the app.
//!
//! An island (in the lazily loaded tools module) because the main bundle has no room to spare
//! and the form is needed rarely: the session cookie outlives reloads, and the login URL signs
//! in without it. It keeps nothing: the secret leaves the field once sent.

use leptos::prelude::*;

use crate::logic::session::key_login;

/// The `window` event that says the sign-in succeeded.
pub const SIGNED_IN_EVENT: &str = "berth:signed-in";

/// The form; `message` is what the page has to say (why the tab is signed out), if anything.
#[component]
pub fn SignIn(message: String) -> impl IntoView {
    let key_id = RwSignal::new(String::new());
    let secret = RwSignal::new(String::new());
    // One alert at a time: the form's own error replaces the page's message.
    let error = RwSignal::new(message);
    let busy = RwSignal::new(false);
    super::host::ready().set(true);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (k, s) = (key_id.get_untracked(), secret.get_untracked());
        if k.trim().is_empty() || s.trim().is_empty() {
            error.set("Enter both the access key ID and the secret access key.".into());
            return;
        }
        busy.set(true);
        error.set(String::new());
        secret.set(String::new());
        leptos::task::spawn_local(async move {
            match crate::api::login(key_login(&k, &s)).await {
                Ok(()) => {
                    if let Some(w) = web_sys::window()
                        && let Ok(e) = web_sys::Event::new(SIGNED_IN_EVENT)
                    {
                        let _ = w.dispatch_event(&e);
                    }
                }
                Err(m) => {
                    error.set(m);
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <p>
            "Open the login URL that " <code>"berth serve"</code>
            " printed (it works once), or sign in with a key from the credentials file."
        </p>
        <Show when=move || !error.get().is_empty()>
            <p class="error" role="alert">{move || error.get()}</p>
        </Show>
        <form class="dialog" on:submit=submit>
            <div class="field">
                <label for="signin-key">"Access key ID"</label>
                <input
                    id="signin-key"
                    type="text"
                    autocomplete="off"
                    spellcheck="false"
                    prop:value=move || key_id.get()
                    on:input=move |ev| key_id.set(event_target_value(&ev))
                />
            </div>
            <div class="field">
                <label for="signin-secret">"Secret access key"</label>
                <input
                    id="signin-secret"
                    type="password"
                    autocomplete="off"
                    prop:value=move || secret.get()
                    on:input=move |ev| secret.set(event_target_value(&ev))
                />
            </div>
            <div class="buttons">
                <button class="btn primary" type="submit" disabled=move || busy.get()>
                    {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                </button>
            </div>
        </form>
    }
}
