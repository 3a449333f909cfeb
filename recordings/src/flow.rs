//! Chrome DevTools Recorder user flows (the @puppeteer/replay `UserFlow` JSON): the
//! format people record in Chrome and bring to `errand replay`, and the one
//! `errand recordings export` writes. Pure: parse and check a flow, classify selectors;
//! running a flow is the agent's business.
//!
//! The types follow the published schema: `{title, timeout?, selectorAttribute?, steps}`,
//! steps tagged by `type`, selectors as strings or arrays of parts (one part per shadow
//! root or, for `pierce/`, any depth), `frame` as an index path, `target` naming a tab.

use serde::{Deserialize, Serialize};

/// A whole flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserFlow {
    pub title: String,
    /// Default per-step timeout, milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector_attribute: Option<String>,
    pub steps: Vec<Step>,
}

/// A selector: one string, or parts to step through shadow roots in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Selector {
    One(String),
    Parts(Vec<String>),
}

impl Selector {
    pub fn parts(&self) -> Vec<&str> {
        match self {
            Selector::One(s) => vec![s.as_str()],
            Selector::Parts(p) => p.iter().map(String::as_str).collect(),
        }
    }
}

/// What kind of query a selector part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Css,
    /// `aria/Name` or `aria/Name[role="button"]`: by accessible name (and role).
    Aria,
    /// `text/…`: by visible text.
    Text,
    /// `xpath/…`
    XPath,
    /// `pierce/…`: CSS through every shadow root.
    Pierce,
}

/// A selector part's kind and its query without the prefix.
pub fn kind(part: &str) -> (Kind, &str) {
    for (prefix, k) in [("aria/", Kind::Aria), ("text/", Kind::Text), ("xpath/", Kind::XPath), ("pierce/", Kind::Pierce)] {
        if let Some(q) = part.strip_prefix(prefix) {
            return (k, q);
        }
    }
    (Kind::Css, part)
}

/// An event a step must cause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum AssertedEvent {
    Navigation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
    },
}

/// What every step may carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Common {
    /// The tab by its URL; "main" (the default) is the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Child-frame indexes from the tab's main frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame: Option<Vec<usize>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub asserted_events: Vec<AssertedEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Button {
    Primary,
    Auxiliary,
    Secondary,
    Back,
    Forward,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Mouse,
    Pen,
    Touch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    #[serde(rename = ">=")]
    AtLeast,
    #[serde(rename = "==")]
    Exactly,
    #[serde(rename = "<=")]
    AtMost,
}

/// Where and how a click or double click presses (the schema's click attributes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Press {
    pub selectors: Vec<Selector>,
    pub offset_x: f64,
    pub offset_y: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<Button>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_type: Option<Device>,
}

/// One step of a flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Step {
    SetViewport {
        width: u32,
        height: u32,
        device_scale_factor: f64,
        is_mobile: bool,
        has_touch: bool,
        is_landscape: bool,
        #[serde(flatten)]
        common: Common,
    },
    Navigate {
        url: String,
        #[serde(flatten)]
        common: Common,
    },
    Click {
        #[serde(flatten)]
        press: Press,
        /// How long the button is held, milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<u64>,
        #[serde(flatten)]
        common: Common,
    },
    DoubleClick {
        #[serde(flatten)]
        press: Press,
        #[serde(flatten)]
        common: Common,
    },
    Hover {
        selectors: Vec<Selector>,
        #[serde(flatten)]
        common: Common,
    },
    Change {
        selectors: Vec<Selector>,
        value: String,
        #[serde(flatten)]
        common: Common,
    },
    KeyDown {
        key: String,
        #[serde(flatten)]
        common: Common,
    },
    KeyUp {
        key: String,
        #[serde(flatten)]
        common: Common,
    },
    Scroll {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        selectors: Option<Vec<Selector>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        x: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        y: Option<f64>,
        #[serde(flatten)]
        common: Common,
    },
    Close {
        #[serde(flatten)]
        common: Common,
    },
    WaitForElement {
        selectors: Vec<Selector>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<Operator>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visible: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        properties: Option<serde_json::Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attributes: Option<serde_json::Map<String, serde_json::Value>>,
        #[serde(flatten)]
        common: Common,
    },
    WaitForExpression {
        expression: String,
        #[serde(flatten)]
        common: Common,
    },
    EmulateNetworkConditions {
        download: f64,
        upload: f64,
        latency: f64,
        #[serde(flatten)]
        common: Common,
    },
    CustomStep {
        name: String,
        #[serde(default)]
        parameters: serde_json::Value,
        #[serde(flatten)]
        common: Common,
    },
}

/// Why a flow cannot be read, with the step (1-based) when one is at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FlowError {
    #[error("not a Recorder user flow: {0}")]
    NotAFlow(String),
    #[error("step {step} of the flow: {why}")]
    Step { step: usize, why: String },
}

/// Parse a flow, checking each step on its own so an error names the step at fault.
pub fn parse(text: &str) -> Result<UserFlow, FlowError> {
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| FlowError::NotAFlow(format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column())))?;
    let Some(steps) = v.get("steps").and_then(|s| s.as_array()) else {
        return Err(FlowError::NotAFlow("it has no \"steps\" array".into()));
    };
    // The reference runner's bounds, so a flow it refuses is refused here too.
    let bad_timeout = |t: &serde_json::Value| t.as_f64().is_some_and(|t| !(1.0..=30000.0).contains(&t));
    if bad_timeout(&v["timeout"]) {
        return Err(FlowError::NotAFlow("its timeout is not between 1 and 30000 milliseconds".into()));
    }
    for (i, s) in steps.iter().enumerate() {
        if bad_timeout(&s["timeout"]) {
            return Err(FlowError::Step { step: i + 1, why: "the timeout is not between 1 and 30000 milliseconds".into() });
        }
        let step: Step = serde_json::from_value(s.clone()).map_err(|e| FlowError::Step { step: i + 1, why: e.to_string() })?;
        let selectors = match &step {
            Step::Click { press, .. } | Step::DoubleClick { press, .. } => Some(&press.selectors),
            Step::Hover { selectors, .. } | Step::Change { selectors, .. } | Step::WaitForElement { selectors, .. } => Some(selectors),
            Step::Scroll { selectors, .. } => selectors.as_ref(),
            _ => None,
        };
        if selectors.is_some_and(|s| s.is_empty() || s.iter().any(|x| x.parts().is_empty() || x.parts().iter().any(|p| p.is_empty()))) {
            return Err(FlowError::Step { step: i + 1, why: "a selector list is empty, or a selector has an empty part".into() });
        }
    }
    serde_json::from_value(v).map_err(|e| FlowError::NotAFlow(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_type_of_the_schema_parses() {
        let flow = parse(
            r##"{"title": "t", "timeout": 5000, "steps": [
            {"type": "setViewport", "width": 800, "height": 600, "deviceScaleFactor": 1, "isMobile": false, "hasTouch": false, "isLandscape": false},
            {"type": "navigate", "url": "http://x/", "assertedEvents": [{"type": "navigation", "url": "http://x/", "title": "X"}]},
            {"type": "click", "target": "main", "selectors": [["aria/Buy[role=\"button\"]"], ["#buy"], [".host", ".inner"]], "offsetX": 1, "offsetY": 2, "button": "secondary", "deviceType": "mouse", "duration": 50},
            {"type": "doubleClick", "selectors": ["#a"], "offsetX": 1, "offsetY": 1, "frame": [0, 1]},
            {"type": "hover", "selectors": ["text/Menu"]},
            {"type": "change", "selectors": ["#q"], "value": "otters"},
            {"type": "keyDown", "key": "Enter"}, {"type": "keyUp", "key": "Enter", "timeout": 100},
            {"type": "scroll", "x": 0, "y": 40}, {"type": "scroll", "selectors": ["#box"], "x": 0, "y": 40},
            {"type": "waitForElement", "selectors": ["li"], "operator": "<=", "count": 3, "visible": false, "attributes": {"data-x": "1"}, "properties": {"value": "a"}},
            {"type": "waitForExpression", "expression": "window.done === true"},
            {"type": "emulateNetworkConditions", "download": 1000, "upload": 500, "latency": 20},
            {"type": "customStep", "name": "snapshot", "parameters": {}},
            {"type": "close", "target": "http://x/popup.html"}
        ]}"##,
        )
        .unwrap();
        assert_eq!(flow.timeout, Some(5000));
        assert_eq!(flow.steps.len(), 15);
        match &flow.steps[2] {
            Step::Click { press, duration, common } => {
                assert_eq!(press.selectors[2].parts(), vec![".host", ".inner"]);
                assert_eq!(press.button, Some(Button::Secondary));
                assert_eq!((press.offset_x, press.offset_y, *duration), (1.0, 2.0, Some(50)));
                assert_eq!(common.target.as_deref(), Some("main"));
            }
            s => panic!("{s:?}"),
        }
        assert!(matches!(&flow.steps[3], Step::DoubleClick { common, .. } if common.frame == Some(vec![0, 1])));
        assert!(matches!(&flow.steps[10], Step::WaitForElement { operator: Some(Operator::AtMost), count: Some(3), .. }));
        // Round trip: what errand writes, it reads back the same.
        let again = parse(&serde_json::to_string(&flow).unwrap()).unwrap();
        assert_eq!(again, flow);
    }

    #[test]
    fn errors_name_the_step() {
        assert!(matches!(parse("[1, 2]"), Err(FlowError::NotAFlow(_))));
        assert!(matches!(parse("{nope"), Err(FlowError::NotAFlow(m)) if m.contains("line 1")));
        let e = parse(r#"{"title": "t", "steps": [{"type": "navigate", "url": "http://x/"}, {"type": "teleport"}]}"#).unwrap_err();
        assert!(matches!(&e, FlowError::Step { step: 2, .. }), "{e}");
        let e = parse(r#"{"title": "t", "steps": [{"type": "click", "selectors": [], "offsetX": 1, "offsetY": 1}]}"#).unwrap_err();
        assert!(e.to_string().starts_with("step 1 of the flow: a selector list is empty"), "{e}");
        let e = parse(r#"{"title": "t", "timeout": 60000, "steps": []}"#).unwrap_err();
        assert!(e.to_string().contains("timeout is not between 1 and 30000"), "{e}");
        let e = parse(r#"{"title": "t", "steps": [{"type": "keyDown", "key": "a"}, {"type": "keyUp", "key": "a", "timeout": 0}]}"#)
            .unwrap_err();
        assert!(matches!(&e, FlowError::Step { step: 2, .. }), "{e}");
    }

    #[test]
    fn selector_kinds() {
        assert_eq!(kind("aria/Name:"), (Kind::Aria, "Name:"));
        assert_eq!(kind("xpath///*[@id=\"a\"]"), (Kind::XPath, "//*[@id=\"a\"]"));
        assert_eq!(kind("pierce/#inner"), (Kind::Pierce, "#inner"));
        assert_eq!(kind("text/Buy now"), (Kind::Text, "Buy now"));
        assert_eq!(kind("body > div:nth-child(1)"), (Kind::Css, "body > div:nth-child(1)"));
    }
}
