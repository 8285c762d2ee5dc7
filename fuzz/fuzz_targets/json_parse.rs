//! `berth_core::json::parse` on arbitrary bytes: it must never panic, must accept exactly what
//! serde_json accepts (up to its nesting limit and its number range), and every range it
//! records must lie inside the text.
#![no_main]

use berth_core::json::{self, Node, Value};
use libfuzzer_sys::fuzz_target;

fn check_ranges(node: &Node<'_>, len: usize) {
    assert!(node.range.start <= node.range.end && node.range.end <= len);
    match &node.value {
        Value::Array(items) => items.iter().for_each(|n| check_ranges(n, len)),
        Value::Object(entries) => {
            for e in entries {
                assert!(e.key_range.start <= e.key_range.end && e.key_range.end <= len);
                check_ranges(&e.value, len);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        match json::parse(s) {
            Ok(doc) => check_ranges(&doc, s.len()),
            Err(e) => {
                assert!(e.offset <= s.len());
                let _ = json::line_column(s, e.offset);
                // Whatever we reject, serde_json rejects too (unless only our depth limit hit).
                // Compared with `Value`, not `IgnoredAny`: serde_json checks surrogate pairs
                // only when it builds a string, and we always do.
                if !e.message.contains("deep") {
                    assert!(serde_json::from_str::<serde_json::Value>(s).is_err(), "{e}");
                }
            }
        }
    }
});
