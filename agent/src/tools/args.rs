//! The argument helpers the tool table is written with: the element a call names, strict
//! readers for strings and numbers that say what was expected, and the shared pieces of
//! schemas and Recorder steps.

use browser::{Action, ElementTarget};
use recordings::flow::{self, AssertedEvent, Common, Step as F};
use serde_json::{json, Value};

use super::{BadCall, Recorded, Tool};

pub(super) fn web(a: Action) -> Result<Tool, BadCall> {
    Ok(Tool::Web(a))
}

pub(super) fn no_args() -> Value {
    json!({"type": "object", "properties": {}})
}

pub(super) fn none(_: &Recorded) -> Option<Vec<F>> {
    None
}

pub(super) fn element_props() -> Value {
    json!({
        "ref": {"type": "string", "description": "The element's ref from the latest page state, e.g. \"e12\"."},
        "selector": {"type": "string", "description": "Instead of ref: a CSS selector."},
        "text": {"type": "string", "description": "Instead of ref: the element's visible text."}
    })
}

pub(super) fn with_element(extra: Value, required: &[&str]) -> Value {
    let mut props = element_props();
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "object", "properties": props, "required": required})
}

pub(super) fn s<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

/// A string argument as shown, empty when absent.
pub(super) fn str_arg<'a>(args: &'a Value, key: &str) -> &'a str {
    s(args, key).unwrap_or("")
}

pub(super) fn need_str(tool: &str, args: &Value, key: &str) -> Result<String, BadCall> {
    s(args, key).map(str::to_string).ok_or_else(|| BadCall(format!("{tool} needs \"{key}\" (a string)")))
}

pub(super) fn element(args: &Value) -> Option<ElementTarget> {
    if let Some(r) = s(args, "ref") {
        Some(ElementTarget::Ref(r.to_string()))
    } else if let Some(sel) = s(args, "selector") {
        Some(ElementTarget::Selector(sel.to_string()))
    } else {
        s(args, "text").map(|t| ElementTarget::Text(t.to_string()))
    }
}

pub(super) fn need_element(tool: &str, args: &Value) -> Result<ElementTarget, BadCall> {
    element(args).ok_or_else(|| BadCall(format!("{tool} needs \"ref\" (from the latest page state), or \"selector\" or \"text\"")))
}

pub(super) fn index(tool: &str, args: &Value, key: &str) -> Result<Option<usize>, BadCall> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| BadCall(format!("{tool}: \"{key}\" must be a whole number"))),
    }
}

/// The element a call names, in words: its ref, selector or (unless the text is what
/// is typed) visible text.
pub(super) fn target_of(a: &Value, text_names_it: bool) -> Option<String> {
    a["ref"]
        .as_str()
        .map(str::to_string)
        .or_else(|| a["selector"].as_str().map(|s| format!("selector {s:?}")))
        .or_else(|| a["text"].as_str().filter(|_| text_names_it).map(|t| format!("text {t:?}")))
}

/// The tool's name, and the element it acts on if it names one.
pub(super) fn on_target(name: &str, a: &Value) -> String {
    match target_of(a, true) {
        Some(t) => format!("{name} {t}"),
        None => name.to_string(),
    }
}

/// The selectors of the step's element; `None` (no Recorder equivalent) without any.
pub(super) fn found(r: &Recorded) -> Option<Vec<flow::Selector>> {
    (!r.selectors.is_empty()).then(|| r.selectors.clone())
}

/// A navigation the step must cause.
pub fn navigation(url: &str) -> Vec<AssertedEvent> {
    vec![AssertedEvent::Navigation { url: Some(url.to_string()), title: None }]
}

/// A key pressed and released.
pub(super) fn key(k: &str) -> [F; 2] {
    [F::KeyDown { key: k.to_string(), common: Common::default() }, F::KeyUp { key: k.to_string(), common: Common::default() }]
}
