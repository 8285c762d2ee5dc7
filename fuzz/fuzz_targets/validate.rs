//! `validate_task_definition` on arbitrary bytes: it must never panic, and every span it
//! reports must lie inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let r = berth_core::validate::validate_task_definition(s, &Default::default());
        for d in &r.diagnostics {
            if let Some(sp) = d.span {
                assert!(sp.start <= sp.end, "span {sp:?} is reversed");
                assert!(
                    sp.end <= s.len(),
                    "span {sp:?} is past the end ({})",
                    s.len()
                );
            }
        }
    }
});
