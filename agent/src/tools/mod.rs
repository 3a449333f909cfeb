//! The tools the model sees, each defined once.
//!
//! [`TOOLS`] is the one table: a tool's name, description and JSON schema (what models
//! are sent), its parser, its [`Kind`] (which decides how the agent loop and replay treat
//! it), what of its arguments the model-turn record leaves out, its one-line description
//! for the narration, and its Recorder export. Adding a tool is adding one entry.
//!
//! The names and arguments are a contract shared with `script:` files and recordings.
//! Parsing is pure and strict: an unknown tool, a missing or mistyped argument comes back
//! to the model as an error result that says what was expected, never a crash.

mod args;

pub use args::navigation;
use args::*;
use browser::{Action, Direction, ElementTarget};
use recordings::flow::{self, Common, Press, Step as F};
use serde_json::{json, Value};

/// A tool as the model sees it: what providers send (see [`specs`]).
#[derive(Debug, Clone)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: Value,
}

/// A parsed tool call.
#[derive(Debug, Clone, PartialEq)]
pub enum Tool {
    Web(Action),
    ExtractTable {
        target: Option<ElementTarget>,
    },
    WriteFile {
        path: String,
        content: String,
        sources: Vec<u32>,
    },
    Done {
        summary: String,
    },
    /// Nothing: the page state that follows every step is the answer.
    Look,
    ListInputs {
        path: Option<String>,
    },
    ReadInput {
        path: String,
        part: usize,
    },
}

/// What a tool does to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Acts in the browser and may move the page (navigate, click, type, …): replay
    /// checks the page is where the recording was afterwards.
    Web,
    /// Reads the page without moving it (extract, a table, a screenshot).
    Read,
    /// Writes a file in the output folder: nothing in the browser changes, so the step
    /// gets no screenshot.
    File,
    /// Reads the person's input folders: nothing in the browser changes. Offered only
    /// when the run has input folders.
    Input,
    /// Ends the run.
    Finish,
}

/// Who a tool is offered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Both,
    /// Only models in errand's own loop.
    Models,
    /// Only agent hosts over MCP (`errand mcp`).
    Mcp,
}

impl ToolDef {
    /// Whether `who` (`Models` or `Mcp`) is offered this tool.
    pub fn offered_to(&self, who: Audience) -> bool {
        self.audience == Audience::Both || self.audience == who
    }
}

impl Kind {
    /// Whether the step happens in the browser (and so gets a screenshot).
    pub fn in_browser(self) -> bool {
        matches!(self, Kind::Web | Kind::Read)
    }
}

/// A recorded step as the Recorder export needs it.
pub struct Recorded<'a> {
    /// The step's arguments as recorded (typed secrets already redacted).
    pub args: &'a Value,
    /// Selectors for the element the step acted on, best first (empty: none known).
    pub selectors: Vec<flow::Selector>,
    /// The frame the element is in.
    pub at: Common,
    /// Where on the element a click pressed.
    pub offset: [f64; 2],
    /// The page after the step.
    pub url: &'a str,
    /// Whether the step moved the top frame to another page.
    pub moved: bool,
}

/// One tool.
pub struct ToolDef {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    /// Who is offered the tool: models in errand's own loop, agent hosts over MCP, or both.
    pub audience: Audience,
    schema: fn() -> Value,
    parse: fn(&str, &Value) -> Result<Tool, BadCall>,
    /// The call in a few words, for the narration.
    describe: fn(&str, &Value) -> String,
    /// Arguments the model-turn record leaves out: whether typed text is secret is only
    /// known once it is typed, and the step record holds it unless it was.
    withheld: &'static [&'static str],
    /// The step as Recorder steps; `None` when the Recorder has no equivalent.
    export: fn(&Recorded) -> Option<Vec<F>>,
}

/// Every tool, in the order models are shown them.
pub static TOOLS: &[ToolDef] = &[
    ToolDef {
        name: "navigate",
        description: "Open a URL in the current tab. Only hosts on the allowlist can be opened; others are refused with the reason.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"url": {"type": "string", "description": "An absolute http(s) URL."}}, "required": ["url"]}),
        parse: |n, a| web(Action::Navigate { url: need_str(n, a, "url")? }),
        describe: |n, a| format!("{n} {}", str_arg(a, "url")),
        withheld: &[],
        export: |r| Some(vec![F::Navigate { url: str_arg(r.args, "url").to_string(), common: Common { asserted_events: navigation(r.url), ..Common::default() } }]),
    },
    ToolDef {
        name: "click",
        description: "Click an element (a link, button, checkbox, …) by its ref from the latest page state.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || with_element(json!({}), &[]),
        parse: |n, a| web(Action::Click { target: need_element(n, a)? }),
        describe: on_target,
        withheld: &[],
        export: |r| {
            let mut common = r.at.clone();
            if r.moved {
                common.asserted_events = navigation(r.url);
            }
            let press = Press { selectors: found(r)?, offset_x: r.offset[0], offset_y: r.offset[1], button: None, device_type: None };
            Some(vec![F::Click { press, duration: None, common }])
        },
    },
    ToolDef {
        name: "type",
        description: "Type text into a text field, replacing what is there. Set submit to press Enter afterwards (e.g. to run a search).",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || {
            with_element(
                json!({"text": {"type": "string", "description": "The text to type."}, "submit": {"type": "boolean", "description": "Press Enter after typing."}}),
                &["text"],
            )
        },
        parse: |n, a| {
            let text = need_str(n, a, "text")?;
            let submit = a.get("submit").and_then(Value::as_bool).unwrap_or(false);
            web(Action::Type { target: need_element(n, a)?, text, append: false, submit })
        },
        // The text is what is typed, not which field.
        describe: |_, a| format!("type into {}", target_of(a, false).unwrap_or_default()),
        withheld: &["text"],
        export: |r| {
            if r.args["text"] == recordings::REDACTED {
                return None;
            }
            let mut steps = vec![F::Change { selectors: found(r)?, value: str_arg(r.args, "text").to_string(), common: r.at.clone() }];
            if r.args["submit"] == true {
                steps.extend(key("Enter"));
            }
            Some(steps)
        },
    },
    ToolDef {
        name: "select",
        description: "Choose an option of a <select> by its value or visible label.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || with_element(json!({"value": {"type": "string", "description": "The option's value or label."}}), &["value"]),
        parse: |n, a| web(Action::Select { target: need_element(n, a)?, value: need_str(n, a, "value")? }),
        describe: on_target,
        withheld: &[],
        export: |r| Some(vec![F::Change { selectors: found(r)?, value: str_arg(r.args, "value").to_string(), common: r.at.clone() }]),
    },
    ToolDef {
        name: "press",
        description: "Press a key or chord on the focused element, e.g. \"Enter\", \"Escape\", \"Control+A\".",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
        parse: |n, a| web(Action::Press { key: need_str(n, a, "key")? }),
        describe: |n, a| format!("{n} {}", str_arg(a, "key")),
        withheld: &[],
        export: |r| Some(key(str_arg(r.args, "key")).to_vec()),
    },
    ToolDef {
        name: "scroll",
        description: "Scroll the page (up, down, top, bottom) or scroll an element into view by its ref.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || with_element(json!({"direction": {"type": "string", "enum": ["up", "down", "left", "right", "top", "bottom"]}}), &[]),
        parse: |_, a| {
            let direction = match s(a, "direction") {
                None => Direction::Down,
                Some(d) => serde_json::from_value(json!(d)).map_err(|_| BadCall(format!("scroll: direction must be up, down, left, right, top or bottom, not {d:?}")))?,
            };
            web(Action::Scroll { direction, target: element(a) })
        },
        describe: on_target,
        withheld: &[],
        export: |r| Some(vec![F::Scroll { selectors: None, x: Some(0.0), y: Some(if r.args["direction"] == "up" { -600.0 } else { 600.0 }), common: Common::default() }]),
    },
    ToolDef {
        name: "back",
        description: "Go back in the tab's history.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: no_args,
        parse: |_, _| web(Action::Back),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "forward",
        description: "Go forward in the tab's history.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: no_args,
        parse: |_, _| web(Action::Forward),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "tab_new",
        description: "Open a new tab, optionally at a URL, and switch to it.",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"url": {"type": "string"}}}),
        parse: |_, a| web(Action::TabNew { url: s(a, "url").map(str::to_string) }),
        describe: |n, a| format!("{n} {}", str_arg(a, "url")),
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "tab_switch",
        description: "Switch to the tab with this index (see Tabs in the page state).",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"index": {"type": "integer", "minimum": 0}}, "required": ["index"]}),
        parse: |n, a| web(Action::TabSwitch { index: index(n, a, "index")?.ok_or_else(|| BadCall("tab_switch needs \"index\"".into()))? }),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "tab_close",
        description: "Close a tab (default: the current one).",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"index": {"type": "integer", "minimum": 0}}}),
        parse: |n, a| web(Action::TabClose { index: index(n, a, "index")? }),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "wait",
        description: "Wait until some text appears on the page, or for a number of milliseconds (at most 10000).",
        kind: Kind::Web,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"text": {"type": "string"}, "ms": {"type": "integer", "minimum": 0, "maximum": 10000}}}),
        parse: |_, a| {
            let ms = match a.get("ms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_u64().ok_or_else(|| BadCall("wait: \"ms\" must be a whole number".into()))?),
            };
            let text = s(a, "text").map(str::to_string);
            if ms.is_none() && text.is_none() {
                return Err(BadCall("wait needs \"text\" to wait for, or \"ms\"".into()));
            }
            web(Action::Wait { text, selector: None, ms })
        },
        describe: on_target,
        withheld: &[],
        export: |r| {
            r.args["text"].is_string().then(|| vec![F::WaitForExpression { expression: format!("document.body.innerText.includes({})", r.args["text"]), common: Common::default() }])
        },
    },
    ToolDef {
        name: "extract",
        description: "Extract the current page's main content as Markdown (title, byline, date, text with headings, lists, tables and links). It is saved as a numbered extract you can cite as [n] in reports.",
        kind: Kind::Read,
        audience: Audience::Both,
        schema: no_args,
        parse: |_, _| web(Action::Extract),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "extract_table",
        description: "Read an HTML table as rows of cells (text exactly as shown). Give the table's ref or selector, or nothing for the page's largest table.",
        kind: Kind::Read,
        audience: Audience::Both,
        schema: || with_element(json!({}), &[]),
        parse: |_, a| Ok(Tool::ExtractTable { target: element(a) }),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "screenshot",
        description: "Take a screenshot of the viewport (or the full page) to look at the layout.",
        kind: Kind::Read,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"full_page": {"type": "boolean"}}}),
        parse: |_, a| web(Action::Screenshot { full_page: a.get("full_page").and_then(Value::as_bool).unwrap_or(false) }),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "page_state",
        description: "Show the page as it is now (tabs, title, URL, the visible text and controls with their refs) without doing anything.",
        kind: Kind::Read,
        // errand's own loop shows models the page state after every step unasked.
        audience: Audience::Mcp,
        schema: no_args,
        parse: |_, _| Ok(Tool::Look),
        describe: on_target,
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "write_file",
        description: "Write a file in the output folder (a relative path such as \"report.md\" or \"data/prices.csv\"). CSV and JSON are validated. Existing files are never overwritten: a clash gets a new name, which the result tells you. Citations [n] in the content, and the extract numbers in sources, are recorded as the file's sources.",
        kind: Kind::File,
        audience: Audience::Both,
        schema: || {
            json!({"type": "object", "properties": {
                "path": {"type": "string"},
                "content": {"type": "string"},
                "sources": {"type": "array", "items": {"type": "integer"}, "description": "Numbers of the extracts this file draws on (for files that cannot carry [n] citations, like CSV)."}
            }, "required": ["path", "content"]})
        },
        parse: |n, a| {
            let sources = match a.get("sources") {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|v| v.as_u64().map(|n| n as u32).ok_or_else(|| BadCall("write_file: sources must be extract numbers".into())))
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(BadCall("write_file: sources must be a list of extract numbers".into())),
            };
            Ok(Tool::WriteFile { path: need_str(n, a, "path")?, content: need_str(n, a, "content")?, sources })
        },
        describe: |n, a| format!("{n} {}", str_arg(a, "path")),
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "list_inputs",
        description: "List the files in the input folders the person gave you (read-only): path, size, format and when each was last changed. Give a folder's path to list inside it.",
        kind: Kind::Input,
        audience: Audience::Both,
        schema: || json!({"type": "object", "properties": {"path": {"type": "string", "description": "A folder as listed; omit it for the top."}}}),
        parse: |_, a| Ok(Tool::ListInputs { path: s(a, "path").map(str::to_string) }),
        describe: |n, a| match s(a, "path") {
            Some(p) => format!("{n} {p}"),
            None => n.to_string(),
        },
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "read_input",
        description: "Read a file from the input folders (read-only): text and Markdown as written, CSV and spreadsheets as a header and rows, JSON, HTML as its main content, PDF as text per page, e-mail as headers, body and attachment names. Long files come in parts: the result says how many, and part asks for the next. Each file read is numbered [n] like an extract and can be cited.",
        kind: Kind::Input,
        audience: Audience::Both,
        schema: || {
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "The file's path as list_inputs shows it."},
                "part": {"type": "integer", "minimum": 1, "description": "Which part of a long file (default 1)."}
            }, "required": ["path"]})
        },
        parse: |n, a| {
            let part = index(n, a, "part")?.unwrap_or(1);
            if part == 0 {
                return Err(BadCall(format!("{n}: parts are numbered from 1")));
            }
            Ok(Tool::ReadInput { path: need_str(n, a, "path")?, part })
        },
        describe: |n, a| match a.get("part").and_then(Value::as_u64).filter(|p| *p > 1) {
            Some(p) => format!("{n} {} part {p}", str_arg(a, "path")),
            None => format!("{n} {}", str_arg(a, "path")),
        },
        withheld: &[],
        export: none,
    },
    ToolDef {
        name: "done",
        description: "Finish the task, with a short summary of what was found and which files were written.",
        kind: Kind::Finish,
        // An agent host ends its session by disconnecting.
        audience: Audience::Models,
        schema: || json!({"type": "object", "properties": {"summary": {"type": "string"}}, "required": ["summary"]}),
        parse: |_, a| Ok(Tool::Done { summary: s(a, "summary").unwrap_or_default().to_string() }),
        describe: on_target,
        withheld: &[],
        export: none,
    },
];

/// The tool of this name.
pub fn find(name: &str) -> Option<&'static ToolDef> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The kind of the tool of this name; `None` for a name that is no tool.
pub fn kind(name: &str) -> Option<Kind> {
    find(name).map(|t| t.kind)
}

/// The tools models in errand's own loop are offered, with a JSON schema and a
/// description written for a model.
pub fn specs() -> Vec<ToolSpec> {
    specs_for(Audience::Models)
}

/// The tools offered to `who` (`Models` or `Mcp`).
pub fn specs_for(who: Audience) -> Vec<ToolSpec> {
    specs_with(who, true)
}

/// The tools for `who`, with the input tools only when there are input folders.
pub fn specs_with(who: Audience, inputs: bool) -> Vec<ToolSpec> {
    TOOLS
        .iter()
        .filter(|t| t.offered_to(who) && (inputs || t.kind != Kind::Input))
        .map(|t| ToolSpec { name: t.name, description: t.description, schema: (t.schema)() })
        .collect()
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
    match find(name) {
        Some(t) => (t.parse)(name, args),
        None => {
            let names: Vec<&str> = TOOLS.iter().map(|t| t.name).collect();
            Err(BadCall(format!("there is no tool {name:?}; the tools are: {}", names.join(", "))))
        }
    }
}

/// A call in a few words, for the narration ("type into e4", "navigate https://…").
pub fn describe(name: &str, args: Option<&Value>) -> String {
    // Described from a borrow: a write_file call can carry a whole report.
    let a = args.unwrap_or(&Value::Null);
    match find(name) {
        Some(t) => (t.describe)(name, a),
        None => on_target(name, a),
    }
}

/// The arguments as the model-turn record holds them (see [`ToolDef::withheld`]).
pub fn redact(name: &str, args: Option<&Value>) -> Value {
    let mut v = args.cloned().unwrap_or(Value::Null);
    if let (Some(t), Some(o)) = (find(name), v.as_object_mut()) {
        for k in t.withheld {
            o.insert((*k).into(), json!("[recorded with the step]"));
        }
    }
    v
}

/// A recorded step as Recorder steps, or `None` when the Recorder has no equivalent.
pub fn export(name: &str, step: &Recorded) -> Option<Vec<F>> {
    find(name).and_then(|t| (t.export)(step))
}

/// Why a call could not be parsed (sent back to the model as an error result).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BadCall(pub String);

#[cfg(test)]
mod tests;
