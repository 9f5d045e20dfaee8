//! Every name a `nexus_*_str` function returns is one its doc comment in
//! `include/nexus_store.h` lists (the header is what a C user reads; a new
//! enum value must reach it).

use std::ffi::{CStr, c_char};

use nexus_store::ffi::*;

/// The doc comment just above `const char *<function>(` in the header.
fn doc_of(header: &str, function: &str) -> String {
    let at = header
        .find(&format!("const char *{function}("))
        .unwrap_or_else(|| panic!("{function} is not in the header"));
    let before = &header[..at];
    let start = before.rfind("/**").expect("a doc comment");
    before[start..].to_string()
}

fn names(f: extern "C" fn(u32) -> *const c_char) -> Vec<String> {
    (0..256u32)
        .map(|v| {
            // SAFETY: the function returns a static NUL-terminated string.
            unsafe { CStr::from_ptr(f(v)) }
                .to_str()
                .expect("ASCII")
                .to_string()
        })
        .filter(|n| n != "UNKNOWN")
        .collect()
}

#[test]
fn every_name_a_str_function_returns_is_in_its_doc() {
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/nexus_store.h"
    ))
    .expect("the header");
    let functions: [(&str, extern "C" fn(u32) -> *const c_char); 4] = [
        ("nexus_pressure_level_str", nexus_pressure_level_str),
        ("nexus_eviction_strategy_str", nexus_eviction_strategy_str),
        ("nexus_eviction_reason_str", nexus_eviction_reason_str),
        ("nexus_event_kind_str", nexus_event_kind_str),
    ];
    for (function, f) in functions {
        let doc = doc_of(&header, function);
        let names = names(f);
        assert!(names.len() >= 4, "{function}: {names:?}");
        for name in names {
            assert!(
                doc.contains(&format!("\"{name}\"")),
                "{function} returns \"{name}\", which its doc does not list:\n{doc}"
            );
        }
    }
}

/// The eviction listener's doc lists every reason it may be given.
#[test]
fn the_eviction_listener_doc_lists_every_reason() {
    let header = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/include/nexus_store.h"
    ))
    .expect("the header");
    let at = header
        .find("NexusStatus nexus_store_set_eviction_listener(")
        .expect("the listener's registration");
    let doc = &header[header[..at].rfind("/**").expect("a doc")..at];
    for name in names(nexus_eviction_reason_str) {
        assert!(
            doc.contains(&format!("`{name}`")),
            "the eviction listener's doc does not list {name}:\n{doc}"
        );
    }
}
