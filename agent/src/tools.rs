//! The tools the model sees, and how a call becomes something errand can execute.
//!
//! The names and arguments are a contract shared with `script:` files and recordings.
//! Parsing is pure and strict: an unknown tool, a missing or mistyped argument comes back
//! to the model as an error result that says what was expected, never a crash.

use browser::{Action, Direction, ElementTarget};
use serde_json::{json, Value};

use crate::model::ToolSpec;

/// A parsed tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    Web(Action),
    ExtractTable { target: Option<ElementTarget> },
    WriteFile { path: String, content: String, sources: Vec<u32> },
    Done { summary: String },
}

fn element_props() -> Value {
    json!({
        "ref": {"type": "string", "description": "The element's ref from the latest page state, e.g. \"e12\"."},
        "selector": {"type": "string", "description": "Instead of ref: a CSS selector."},
        "text": {"type": "string", "description": "Instead of ref: the element's visible text."}
    })
}

fn with_element(extra: Value, required: &[&str]) -> Value {
    let mut props = element_props();
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"type": "object", "properties": props, "required": required})
}

/// Every tool, with a JSON schema and a description written for a model.
pub fn specs() -> Vec<ToolSpec> {
    vec![
        ToolSpec {
            name: "navigate",
            description: "Open a URL in the current tab. Only hosts on the allowlist can be opened; others are refused with the reason.",
            schema: json!({"type": "object", "properties": {"url": {"type": "string", "description": "An absolute http(s) URL."}}, "required": ["url"]}),
        },
        ToolSpec {
            name: "click",
            description: "Click an element (a link, button, checkbox, …) by its ref from the latest page state.",
            schema: with_element(json!({}), &[]),
        },
        ToolSpec {
            name: "type",
            description: "Type text into a text field, replacing what is there. Set submit to press Enter afterwards (e.g. to run a search).",
            schema: with_element(
                json!({"text": {"type": "string", "description": "The text to type."}, "submit": {"type": "boolean", "description": "Press Enter after typing."}}),
                &["text"],
            ),
        },
        ToolSpec {
            name: "select",
            description: "Choose an option of a <select> by its value or visible label.",
            schema: with_element(json!({"value": {"type": "string", "description": "The option's value or label."}}), &["value"]),
        },
        ToolSpec {
            name: "press",
            description: "Press a key or chord on the focused element, e.g. \"Enter\", \"Escape\", \"Control+A\".",
            schema: json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
        },
        ToolSpec {
            name: "scroll",
            description: "Scroll the page (up, down, top, bottom) or scroll an element into view by its ref.",
            schema: with_element(json!({"direction": {"type": "string", "enum": ["up", "down", "left", "right", "top", "bottom"]}}), &[]),
        },
        ToolSpec { name: "back", description: "Go back in the tab's history.", schema: json!({"type": "object", "properties": {}}) },
        ToolSpec { name: "forward", description: "Go forward in the tab's history.", schema: json!({"type": "object", "properties": {}}) },
        ToolSpec {
            name: "tab_new",
            description: "Open a new tab, optionally at a URL, and switch to it.",
            schema: json!({"type": "object", "properties": {"url": {"type": "string"}}}),
        },
        ToolSpec {
            name: "tab_switch",
            description: "Switch to the tab with this index (see Tabs in the page state).",
            schema: json!({"type": "object", "properties": {"index": {"type": "integer", "minimum": 0}}, "required": ["index"]}),
        },
        ToolSpec {
            name: "tab_close",
            description: "Close a tab (default: the current one).",
            schema: json!({"type": "object", "properties": {"index": {"type": "integer", "minimum": 0}}}),
        },
        ToolSpec {
            name: "wait",
            description: "Wait until some text appears on the page, or for a number of milliseconds (at most 10000).",
            schema: json!({"type": "object", "properties": {"text": {"type": "string"}, "ms": {"type": "integer", "minimum": 0, "maximum": 10000}}}),
        },
        ToolSpec {
            name: "extract",
            description: "Extract the current page's main content as Markdown (title, byline, date, text with headings, lists, tables and links). It is saved as a numbered extract you can cite as [n] in reports.",
            schema: json!({"type": "object", "properties": {}}),
        },
        ToolSpec {
            name: "extract_table",
            description: "Read an HTML table as rows of cells (text exactly as shown). Give the table's ref or selector, or nothing for the page's largest table.",
            schema: with_element(json!({}), &[]),
        },
        ToolSpec {
            name: "screenshot",
            description: "Take a screenshot of the viewport (or the full page) to look at the layout.",
            schema: json!({"type": "object", "properties": {"full_page": {"type": "boolean"}}}),
        },
        ToolSpec {
            name: "write_file",
            description: "Write a file in the output folder (a relative path such as \"report.md\" or \"data/prices.csv\"). CSV and JSON are validated. Existing files are never overwritten: a clash gets a new name, which the result tells you. Citations [n] in the content, and the extract numbers in sources, are recorded as the file's sources.",
            schema: json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "sources": {"type": "array", "items": {"type": "integer"}, "description": "Numbers of the extracts this file draws on (for files that cannot carry [n] citations, like CSV)."}
            }, "required": ["path", "content"]}),
        },
        ToolSpec {
            name: "done",
            description: "Finish the task, with a short summary of what was found and which files were written.",
            schema: json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}),
        },
    ]
}

/// Why a call could not be parsed (sent back to the model as an error result).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BadCall(pub String);

fn s<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

fn need_str(tool: &str, args: &Value, key: &str) -> Result<String, BadCall> {
    s(args, key).map(str::to_string).ok_or_else(|| BadCall(format!("{tool} needs \"{key}\" (a string)")))
}

fn element(args: &Value) -> Option<ElementTarget> {
    if let Some(r) = s(args, "ref") {
        Some(ElementTarget::Ref(r.to_string()))
    } else if let Some(sel) = s(args, "selector") {
        Some(ElementTarget::Selector(sel.to_string()))
    } else {
        s(args, "text").map(|t| ElementTarget::Text(t.to_string()))
    }
}

fn need_element(tool: &str, args: &Value) -> Result<ElementTarget, BadCall> {
    element(args).ok_or_else(|| BadCall(format!("{tool} needs \"ref\" (from the latest page state), or \"selector\" or \"text\"")))
}

fn index(tool: &str, args: &Value, key: &str) -> Result<Option<usize>, BadCall> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| BadCall(format!("{tool}: \"{key}\" must be a whole number"))),
    }
}

/// Turn a model's call into a [`Tool`].
pub fn parse(name: &str, args: &Result<Value, String>) -> Result<Tool, BadCall> {
    let args = match args {
        Ok(v) if v.is_object() => v,
        Ok(v) => return Err(BadCall(format!("the arguments of {name} must be a JSON object, got {v}"))),
        Err(raw) => {
            let head: String = raw.chars().take(120).collect();
            return Err(BadCall(format!("the arguments of {name} are not valid JSON ({head}); send a JSON object")));
        }
    };
    let web = |a| Ok(Tool::Web(a));
    match name {
        "navigate" => web(Action::Navigate { url: need_str(name, args, "url")? }),
        "click" => web(Action::Click { target: need_element(name, args)? }),
        "type" => {
            let text = need_str(name, args, "text")?;
            let submit = args.get("submit").and_then(Value::as_bool).unwrap_or(false);
            web(Action::Type { target: need_element(name, args)?, text, append: false, submit })
        }
        "select" => web(Action::Select { target: need_element(name, args)?, value: need_str(name, args, "value")? }),
        "press" => web(Action::Press { key: need_str(name, args, "key")? }),
        "scroll" => {
            let direction = match s(args, "direction") {
                None => Direction::Down,
                Some(d) => serde_json::from_value(json!(d))
                    .map_err(|_| BadCall(format!("scroll: direction must be up, down, left, right, top or bottom, not {d:?}")))?,
            };
            web(Action::Scroll { direction, target: element(args) })
        }
        "back" => web(Action::Back),
        "forward" => web(Action::Forward),
        "tab_new" => web(Action::TabNew { url: s(args, "url").map(str::to_string) }),
        "tab_switch" => web(Action::TabSwitch { index: index(name, args, "index")?.ok_or_else(|| BadCall("tab_switch needs \"index\"".into()))? }),
        "tab_close" => web(Action::TabClose { index: index(name, args, "index")? }),
        "wait" => {
            let ms = match args.get("ms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| BadCall("wait: \"ms\" must be a whole number".into()))?),
            };
            let text = s(args, "text").map(str::to_string);
            if ms.is_none() && text.is_none() {
                return Err(BadCall("wait needs \"text\" to wait for, or \"ms\"".into()));
            }
            web(Action::Wait { text, selector: None, ms })
        }
        "extract" => web(Action::Extract),
        "extract_table" => Ok(Tool::ExtractTable { target: element(args) }),
        "screenshot" => web(Action::Screenshot { full_page: args.get("full_page").and_then(Value::as_bool).unwrap_or(false) }),
        "write_file" => {
            let sources = match args.get("sources") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|v| v.as_u64().map(|n| n as u32).ok_or_else(|| BadCall("write_file: sources must be extract numbers".into())))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(BadCall("write_file: sources must be a list of extract numbers".into())),
            };
            Ok(Tool::WriteFile { path: need_str(name, args, "path")?, content: need_str(name, args, "content")?, sources })
        }
        "done" => Ok(Tool::Done { summary: s(args, "summary").unwrap_or_default().to_string() }),
        other => {
            let names: Vec<&str> = specs().iter().map(|t| t.name).collect();
            Err(BadCall(format!("there is no tool {other:?}; the tools are: {}", names.join(", "))))
        }
    }
}

#[cfg(test)]
mod tests {

    /// The README's list of the model's tools is the tool table, no more and no less.
    #[test]
    fn the_readme_lists_exactly_the_models_tools() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("the README");
        let start = readme.find("**Tools the model sees**").expect("the README lists the tools");
        let para = &readme[start..start + readme[start..].find(". Element").unwrap_or(readme.len() - start)];
        let listed: Vec<&str> = para.split('`').skip(1).step_by(2).map(|t| t.split('{').next().unwrap_or(t)).collect();
        let mut names: Vec<&str> = specs().iter().map(|s| s.name).collect();
        let mut listed_sorted = listed.clone();
        names.sort();
        listed_sorted.sort();
        assert_eq!(listed_sorted, names, "README: {para}");
    }

    use super::*;

    #[test]
    fn calls_parse_or_say_what_is_wrong() {
        let ok = |n: &str, a: Value| parse(n, &Ok(a));
        assert_eq!(ok("click", json!({"ref": "e3"})), Ok(Tool::Web(Action::Click { target: ElementTarget::Ref("e3".into()) })));
        assert_eq!(
            ok("type", json!({"selector": "#q", "text": "heat", "submit": true})),
            Ok(Tool::Web(Action::Type { target: ElementTarget::Selector("#q".into()), text: "heat".into(), append: false, submit: true }))
        );
        let table: &[(&str, Result<Value, String>, &str)] = &[
            ("click", Ok(json!({})), "click needs \"ref\""),
            ("navigate", Ok(json!({"url": 3})), "navigate needs \"url\""),
            ("navigate", Err("{\"url\": ".into()), "not valid JSON"),
            ("navigate", Ok(json!(["x"])), "must be a JSON object"),
            ("fly", Ok(json!({})), "there is no tool \"fly\""),
            ("scroll", Ok(json!({"direction": "sideways"})), "direction must be"),
            ("tab_switch", Ok(json!({"index": "two"})), "whole number"),
            ("wait", Ok(json!({})), "wait needs"),
        ];
        for (name, args, want) in table {
            let e = parse(name, args).unwrap_err();
            assert!(e.0.contains(want), "{name}: {e}");
        }
    }

    #[test]
    fn every_tool_has_an_object_schema_and_parses_minimal_args() {
        for t in specs() {
            assert_eq!(t.schema["type"], "object", "{}", t.name);
            assert!(t.description.len() > 20, "{}", t.name);
        }
    }
}
