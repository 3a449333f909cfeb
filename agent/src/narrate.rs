//! Narration: one line per step on stderr for people, JSON Lines on stdout for programs.
//!
//! A spinner shows while errand waits on the model or a slow page, only when stderr is a
//! terminal; lines are printed around it (`suspend`) so the two never interleave.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

pub struct Narrator {
    json: bool,
    t0: Instant,
    bar: Option<ProgressBar>,
    tty: bool,
}

impl Narrator {
    pub fn new(json: bool) -> Narrator {
        Narrator { json, t0: Instant::now(), bar: None, tty: std::io::stderr().is_terminal() }
    }

    pub fn elapsed(&self) -> Duration {
        self.t0.elapsed()
    }

    /// A line on stderr.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| eprintln!("{text}")),
            None => eprintln!("{text}"),
        }
    }

    pub fn info(&self, text: &str) {
        self.line(&format!("errand: {text}"));
    }

    /// A JSON event on stdout (only with --json).
    pub fn event(&self, mut v: Value) {
        if self.json {
            if let Some(o) = v.as_object_mut() {
                o.insert("elapsed_ms".into(), Value::from(self.t0.elapsed().as_millis() as u64));
            }
            println!("{v}");
        }
    }

    pub fn spin(&mut self, msg: &str) {
        if !self.tty {
            return;
        }
        let b = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            b.set_style(style);
        }
        b.set_message(msg.to_string());
        b.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(b);
    }

    pub fn stop_spin(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// Report bad input (exit code 2): nothing was started or changed.
    pub fn bad_input(&self, msg: &str) -> ExitCode {
        self.line(&format!("error: {msg}"));
        self.event(serde_json::json!({"event": "error", "kind": "bad_input", "message": msg}));
        ExitCode::from(crate::run::BAD_INPUT)
    }
}
