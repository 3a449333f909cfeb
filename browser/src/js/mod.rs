//! The code errand puts in pages, and the typed shape of what it answers.
//!
//! Why it exists: the JavaScript and the Rust that reads its answers must agree on every
//! field; here each answer is a struct, read with tolerant defaults, so a field is named
//! once on each side and a missing one is a default rather than a panic or a silent 0
//! scattered over the callers.

use std::sync::LazyLock;

use serde::Deserialize;

/// The walker: installed in errand's isolated world of every document (at document start,
/// and again on first use in a document that predates it). Numbers elements, builds the
/// snapshot, resolves and prepares targets, watches the DOM for settling. Sent with
/// forms.js before it (what a held request is for; secret fields), which it uses.
pub(crate) static WALKER: LazyLock<String> =
    LazyLock::new(|| [include_str!("forms.js"), include_str!("walker.js")].concat().replace(TIMER_EVENT, &timer_event()));
/// The timer watch: installed in the page's own world at document start, it tells the
/// walker when the page has a short timer pending (see timers.js).
pub(crate) static TIMERS: LazyLock<String> = LazyLock::new(|| include_str!("timers.js").replace(TIMER_EVENT, &timer_event()));

/// The placeholder in walker.js and timers.js for the name of the timer watch's events.
const TIMER_EVENT: &str = "__ERRAND_TIMERS__";

/// The name of the timer watch's events, made anew for each errand process, so a page
/// cannot listen for errand by a name in its source.
fn timer_event() -> String {
    static NAME: LazyLock<String> = LazyLock::new(|| {
        use std::hash::BuildHasher;
        // RandomState is keyed at random for each process: the name cannot be guessed.
        let k = std::collections::hash_map::RandomState::new();
        format!("t{:016x}{:016x}", k.hash_one((std::process::id(), std::time::SystemTime::now())), k.hash_one(1u8))
    });
    NAME.clone()
}

/// Main-content extraction in the page (when the article extractor finds none).
pub(crate) const EXTRACT: &str = include_str!("extract.js");
/// The rendered page's HTML, without what a reader cannot see.
pub(crate) const RENDERED: &str = include_str!("rendered.js");
/// A table as rows of cell texts.
pub(crate) const TABLE: &str = include_str!("table.js");
/// What a Recorder flow calls in its pages.
pub(crate) const FLOW: &str = include_str!("flow.js");

/// The page code an in-page error says is missing from the world (`__errand is not
/// defined`), to send along with the next try.
pub(crate) fn missing(error: &str) -> Option<&'static str> {
    if error.contains("__errand is not defined") {
        Some(WALKER.as_str())
    } else if error.contains("__errandFlow is not defined") {
        Some(FLOW)
    } else {
        None
    }
}

/// `__errand.quietFor()`'s answer: `[ms the DOM has been unchanged, a short timer
/// pending]`, read with defaults.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Quiet {
    pub dom: std::time::Duration,
    pub timers: bool,
}

impl Quiet {
    pub fn read(v: &serde_json::Value) -> Quiet {
        Quiet { dom: ms(&v[0]), timers: v[1] == true }
    }
}

/// Milliseconds from the page as a duration (0 for anything but a positive number).
fn ms(x: &serde_json::Value) -> std::time::Duration {
    std::time::Duration::from_secs_f64(x.as_f64().unwrap_or(0.0).max(0.0) / 1000.0)
}

/// The settle check's answer (`actions/settle.rs`): `[quietFor(), document.readyState]`,
/// and after two frames how long ago the first of them ran (-1: none ran, or not asked).
#[derive(Debug, Clone, Default)]
pub(crate) struct SettleCheck {
    pub quiet: Quiet,
    /// `document.readyState`.
    pub ready: String,
    pub first_frame: Option<std::time::Duration>,
}

impl SettleCheck {
    pub fn read(v: &serde_json::Value) -> SettleCheck {
        SettleCheck {
            quiet: Quiet::read(&v[0]),
            ready: v[1].as_str().unwrap_or_default().to_string(),
            first_frame: v[2].as_f64().filter(|f| *f >= 0.0).map(|_| ms(&v[2])),
        }
    }
}

/// `__errand.snapshot()`'s answer for one frame.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Snapshot {
    pub url: Option<String>,
    pub title: String,
    /// scrollX, scrollY, scroll width, scroll height.
    pub scroll: [f64; 4],
    /// Viewport width and height.
    pub vp: [f64; 2],
    /// The elements listed, one row each (see [`Row`]); a row that does not read is left
    /// out.
    #[serde(rename = "els", deserialize_with = "rows")]
    pub rows: Vec<Row>,
    pub text: String,
    /// Characters of text left out.
    pub more: usize,
    /// Text that reads like instructions to an agent.
    pub flags: Vec<String>,
    pub ready: String,
}

/// Read the element rows, leaving out any that does not read.
fn rows<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Row>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Maybe {
        Row(RowWire),
        Other(serde::de::IgnoredAny),
    }
    let all = Vec::<Maybe>::deserialize(d)?;
    let n = all.len();
    let rows: Vec<Row> = all
        .into_iter()
        .filter_map(|m| match m {
            Maybe::Row(w) => Some(Row::from(w)),
            Maybe::Other(_) => None,
        })
        .collect();
    if rows.len() < n {
        tracing::debug!(target: "errand::state", "{} element rows did not read", n - rows.len());
    }
    Ok(rows)
}

/// One element of a snapshot. The walker sends it as an array, `[id, role, name, state,
/// where, left, top, width, height, href?]`, which keeps a walk of thousands of elements
/// small; this is where the columns get their names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    /// The walker's number for the element in its frame.
    pub id: i64,
    pub role: String,
    pub name: String,
    pub state: String,
    /// In view (0), above (-1), below (1) or beside it (2).
    pub where_: i8,
    pub left: f64,
    pub top: f64,
    pub width: f64,
    pub height: f64,
    /// A link's href.
    pub href: Option<String>,
}

#[derive(Deserialize)]
struct RowWire(i64, String, String, String, i8, f64, f64, f64, f64, #[serde(default)] Option<String>);

impl From<RowWire> for Row {
    fn from(RowWire(id, role, name, state, where_, left, top, width, height, href): RowWire) -> Row {
        Row { id, role, name, state, where_, left, top, width, height, href }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshot_rows_read_by_name_with_and_without_an_href() {
        let s: Snapshot = serde_json::from_value(json!({
            "title": "T", "scroll": [0, 10, 1280, 4000], "vp": [1280, 720], "ready": "complete",
            "els": [[3, "link", "Docs", "", 0, 10, 20, 30, 8, "/docs"], [4, "button", "Go", "disabled", 1, 0, 900, 40, 20],
                    ["not a row"]],
        }))
        .unwrap();
        let rows = &s.rows;
        assert_eq!(rows.len(), 2, "a row that does not read is left out");
        assert_eq!((rows[0].id, rows[0].role.as_str(), rows[0].href.as_deref()), (3, "link", Some("/docs")));
        assert_eq!((rows[1].state.as_str(), rows[1].where_, rows[1].top, rows[1].href.clone()), ("disabled", 1, 900.0, None));
        assert_eq!(s.scroll[3], 4000.0);
        // Anything missing is a default.
        let empty: Snapshot = serde_json::from_value(json!({})).unwrap();
        assert_eq!((empty.rows.len(), empty.ready.as_str()), (0, ""));
    }
}
