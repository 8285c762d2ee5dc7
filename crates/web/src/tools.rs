//! The dashboard's second wasm module (`berth-tools`: the editor's validation and highlighting,
//! formatting, the revision diff, the placement explanation, the scaling simulator), loaded the
//! first time a page asks for it.
//!
//! `index.html` defines `window.__berthTools()`, which imports the module's JavaScript once,
//! instantiates its wasm and resolves to the module's namespace object (the URLs come from its
//! `<meta name="berth-tools">`, so the inline script stays static text). [`load`] calls it and
//! keeps the namespace for the rest of the tab; [`Tools`] calls its exported functions by name
//! through `Reflect` (no `eval`, which a CSP forbids). Every function takes and returns strings;
//! the JSON shapes are documented in the `berth-tools` crate, and the views parse them.
//!
//! This crate does not depend on `berth-tools`: the main bundle stays as small as it was.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

thread_local! {
    /// The module's namespace object, once loaded.
    static MODULE: RefCell<Option<JsValue>> = const { RefCell::new(None) };
}

/// The loaded tools module.
#[derive(Clone, Debug)]
pub struct Tools {
    module: JsValue,
}

/// Loads the tools module (the first call fetches and instantiates it; later calls return at
/// once).
///
/// # Errors
///
/// A message when the page has no `window.__berthTools` (an `index.html` from an older build) or
/// the module could not be fetched or instantiated; the next call tries again.
pub async fn load() -> Result<Tools, String> {
    if let Some(module) = MODULE.with(|m| m.borrow().clone()) {
        return Ok(Tools { module });
    }
    let window = web_sys::window().ok_or("no window")?;
    let loader = js_sys::Reflect::get(&window, &JsValue::from_str("__berthTools"))
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or("this page has no window.__berthTools (rebuild the dashboard: cargo xtask dist)")?;
    let promise = loader
        .call0(&window)
        .map_err(|e| describe(&e))?
        .dyn_into::<js_sys::Promise>()
        .map_err(|_| "window.__berthTools() did not return a promise".to_string())?;
    let module = JsFuture::from(promise)
        .await
        .map_err(|e| format!("loading the tools module failed: {}", describe(&e)))?;
    MODULE.with(|m| *m.borrow_mut() = Some(module.clone()));
    Ok(Tools { module })
}

/// Unmounts an island mounted with [`Tools::mount`] (nothing when the module is not loaded).
pub fn unmount(handle: u32) {
    if let Some(module) = MODULE.with(|m| m.borrow().clone()) {
        let _ = Tools { module }.call("unmount", &[handle.into()]);
    }
}

/// A readable message of a thrown JavaScript value.
fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// `{"error": message}`, the shape every tools function answers bad input with.
fn error_json(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

impl Tools {
    /// Calls the module's export `name` with `args`.
    fn call(&self, name: &str, args: &[JsValue]) -> Result<JsValue, String> {
        let f = js_sys::Reflect::get(&self.module, &JsValue::from_str(name))
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or_else(|| format!("the tools module has no function {name}"))?;
        let this = JsValue::NULL;
        let out = match args {
            [] => f.call0(&this),
            [a] => f.call1(&this, a),
            [a, b] => f.call2(&this, a, b),
            [a, b, c] => f.call3(&this, a, b, c),
            _ => f.apply(&this, &args.iter().collect::<js_sys::Array>()),
        };
        out.map_err(|e| format!("{name}: {}", describe(&e)))
    }

    /// Calls an export that returns a string; failures become `{"error": …}`.
    fn text(&self, name: &str, args: &[JsValue]) -> String {
        match self.call(name, args) {
            Ok(v) => v
                .as_string()
                .unwrap_or_else(|| error_json(&format!("{name} did not return a string"))),
            Err(e) => error_json(&e),
        }
    }

    /// `validate(text, launch_types_csv)`: diagnostics with byte and UTF-16 spans, and the
    /// highlight layer's HTML.
    pub fn validate(&self, text: &str, launch_types: &str) -> String {
        self.text("validate", &[text.into(), launch_types.into()])
    }

    /// `format(text)`: the pretty-printed text, or `{"error": …}` (compact JSON: a formatted
    /// document never starts with `{"`).
    pub fn format(&self, text: &str) -> String {
        self.text("format", &[text.into()])
    }

    /// `match_bracket(text, utf16_pos)`: the UTF-16 offset of the matching bracket, or -1.
    pub fn match_bracket(&self, text: &str, utf16_pos: u32) -> i32 {
        let pos = i32::try_from(utf16_pos).unwrap_or(i32::MAX);
        self.call("match_bracket", &[text.into(), pos.into()])
            .ok()
            .and_then(|v| v.as_f64())
            .map_or(-1, |n| n as i32)
    }

    /// `diff(before, after, all)`: labelled changes and the unified diff.
    pub fn diff(&self, before: &str, after: &str, all: bool) -> String {
        self.text("diff", &[before.into(), after.into(), all.into()])
    }

    /// `explain(input_json)`: every instance's result for every placement stage.
    pub fn explain(&self, input_json: &str) -> String {
        self.text("explain", &[input_json.into()])
    }

    /// `replay(input_json)`: the capacity timeline of a scaling configuration.
    pub fn replay(&self, input_json: &str) -> String {
        self.text("replay", &[input_json.into()])
    }

    /// Mounts island `kind` (see `berth_web::islands`) into `el` with `props` (JSON); the handle
    /// for [`unmount`].
    ///
    /// # Errors
    ///
    /// The module's message (unknown island, bad props).
    pub fn mount(&self, kind: &str, el: &web_sys::Element, props: &str) -> Result<u32, String> {
        let v = self.call("mount", &[kind.into(), el.into(), props.into()])?;
        v.as_f64()
            .map(|n| n as u32)
            .ok_or_else(|| "mount did not return a handle".to_string())
    }

    /// `version()`: `{"version": …}` of the loaded module.
    pub fn version(&self) -> String {
        self.text("version", &[])
    }
}
