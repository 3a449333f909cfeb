//! The `--json` events: one JSON object per line on stdout, for programs that follow a
//! run or a flow. Every command's events are declared here, in one enum, so a field is
//! named once and a program reading them has one place to look. Each event carries its
//! name in `event`; [`crate::narrate::Narrator::event`] adds `elapsed_ms`.
//!
//! `errand run` and `errand replay` of a Recorder flow report steps differently (a run's
//! step is a tool call of the model's; a flow's step is one of the flow's, which passes
//! or fails), so `start`, `step` and `end` each have a run and a flow shape; the other
//! events are shared.

use std::path::Path;

use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// A run began.
    Start { session: &'a str, task: &'a str, model: String, allowlist: Vec<String>, out: &'a Path, recording: &'a Path },
    /// A Recorder flow began.
    #[serde(rename = "start")]
    FlowStart { session: &'a str, flow: &'a Path, title: &'a str, steps: usize, allowlist: Vec<String>, recording: &'a Path },
    /// The browser is up, with the enforcement layers in force.
    Browser { description: &'a str, pid: Option<u32>, layers: &'a [String] },
    /// One tool call of the model's, done.
    Step { step: u32, intent: &'a str, tool: &'a str, target: &'a str, outcome: &'a str, ms: u64 },
    /// One step of a flow, passed or failed.
    #[serde(rename = "step")]
    FlowStep {
        step: u32,
        #[serde(rename = "type")]
        kind: &'a str,
        ok: bool,
        summary: &'a str,
        url: &'a str,
        ms: u64,
    },
    /// A file written into the output folder (`plan`: a dry run's, into its plan folder).
    File {
        path: &'a str,
        bytes: usize,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        plan: bool,
    },
    /// A request a layer stopped.
    Blocked { url: &'a str, reason: &'a str, layer: browser::Layer },
    /// The model's own action was refused (a host off the allowlist).
    #[serde(rename = "blocked")]
    Refused { message: String },
    /// A submission a dry run declined, as it would have been sent.
    WouldSubmit { method: &'a str, url: &'a str, purpose: &'a str, fields: &'a [(String, String)] },
    /// The run ended.
    End {
        outcome: &'a str,
        summary: &'a str,
        steps: u32,
        tokens_in: u64,
        tokens_out: u64,
        files: &'a [String],
        out: &'a Path,
        recording: &'a Path,
    },
    /// The flow ended.
    #[serde(rename = "end")]
    FlowEnd { outcome: &'a str, steps: u32, failed: &'a [String], ms: u128, recording: &'a Path },
    /// errand could not start: bad input (exit code 2).
    Error { kind: &'a str, message: &'a str },
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The events keep the shapes programs already read (keys sorted, as before).
    #[test]
    fn events_serialise_to_their_established_shapes() {
        let cases = [
            (
                Event::Step { step: 3, intent: "read", tool: "click", target: "link \"A\"", outcome: "clicked", ms: 12 },
                r#"{"event":"step","intent":"read","ms":12,"outcome":"clicked","step":3,"target":"link \"A\"","tool":"click"}"#,
            ),
            (
                Event::FlowStep { step: 1, kind: "click", ok: false, summary: "no element", url: "http://a/", ms: 5 },
                r#"{"event":"step","ms":5,"ok":false,"step":1,"summary":"no element","type":"click","url":"http://a/"}"#,
            ),
            (
                Event::Blocked { url: "http://x/", reason: "x is not on the allowlist", layer: browser::Layer::Browser },
                r#"{"event":"blocked","layer":"browser","reason":"x is not on the allowlist","url":"http://x/"}"#,
            ),
            (Event::Refused { message: "blocked: x".into() }, r#"{"event":"blocked","message":"blocked: x"}"#),
            (Event::Error { kind: "bad_input", message: "no" }, r#"{"event":"error","kind":"bad_input","message":"no"}"#),
        ];
        for (event, want) in cases {
            assert_eq!(serde_json::to_value(&event).unwrap().to_string(), want);
        }
    }
}
