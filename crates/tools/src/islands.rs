//! The exports that mount the dashboard's islands (`berth_web::islands`) into the page, and the
//! handles that unmount them. The views themselves live in `berth-web`; they are compiled into
//! this module, not the main bundle, because this module is loaded only when first needed.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;

use wasm_bindgen::prelude::*;

/// The last handle given out, and the mounted islands by handle (dropping one unmounts it).
type Mounted = (u32, HashMap<u32, Box<dyn Any>>);

thread_local! {
    static MOUNTED: RefCell<Mounted> = RefCell::new((0, HashMap::new()));
}

/// Mounts island `kind` into `el` with `props` (a JSON object); returns the handle for
/// [`unmount`].
///
/// # Errors
///
/// An unknown kind or unreadable props, as a JavaScript error with the message.
#[wasm_bindgen]
pub fn mount(kind: &str, el: web_sys::HtmlElement, props: &str) -> Result<u32, JsValue> {
    let handle = berth_web::islands::mount(kind, el, props).map_err(|e| JsValue::from_str(&e))?;
    Ok(MOUNTED.with(|m| {
        let mut m = m.borrow_mut();
        m.0 = m.0.wrapping_add(1);
        let id = m.0;
        m.1.insert(id, handle);
        id
    }))
}

/// Unmounts the island `handle` (nothing when it is not mounted).
#[wasm_bindgen]
pub fn unmount(handle: u32) {
    let island = MOUNTED.with(|m| m.borrow_mut().1.remove(&handle));
    drop(island);
}
