//! Narration: one line per step on stderr for people, JSON Lines on stdout for programs.
//!
//! A spinner shows while errand waits on the model or a slow page, only when stderr is a
//! terminal; lines are printed around it (`suspend`) so the two never interleave.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

/// stderr is one terminal for the whole process: narration lines and prompts take this
/// lock, so a prompt (which may come from a request the page sends at any moment) never
/// interleaves with narration, and narration waits while a prompt is open.
static TERM: Mutex<()> = Mutex::new(());
/// The spinner on screen, if any, hidden while a prompt is open.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Lines typed at the terminal, read by one thread for the whole process (a read cannot
/// be abandoned, so a prompt that times out leaves the reader, not a stray thread).
static LINES: std::sync::OnceLock<Mutex<std::sync::mpsc::Receiver<String>>> = std::sync::OnceLock::new();

fn lines() -> &'static Mutex<std::sync::mpsc::Receiver<String>> {
    LINES.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || loop {
            let mut line = String::new();
            match std::io::stdin().read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            }
        });
        Mutex::new(rx)
    })
}

static TIMED_OUT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Show a question on stderr and wait at most `timeout` for one line of answer, with the
/// spinner hidden and narration held back meanwhile. `None`: no answer in time (or no
/// input at all). Blocking: call from `spawn_blocking`.
pub fn prompt(question: &str, timeout: Duration) -> Option<String> {
    let _term = TERM.lock().unwrap_or_else(|p| p.into_inner());
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let ask = || {
        let rx = lines().lock().unwrap_or_else(|p| p.into_inner());
        // After a prompt went unanswered, a late answer must not answer the next one.
        if TIMED_OUT.swap(false, std::sync::atomic::Ordering::SeqCst) {
            while rx.try_recv().is_ok() {}
        }
        crate::stdio::err_raw(question);
        let answer = rx.recv_timeout(timeout).ok();
        if answer.is_none() {
            TIMED_OUT.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        answer
    };
    match bar {
        Some(b) => b.suspend(ask),
        None => ask(),
    }
}

pub struct Narrator {
    json: bool,
    t0: Instant,
    bar: Option<ProgressBar>,
    tty: bool,
    secrets: Option<recordings::Secrets>,
}

impl Narrator {
    pub fn new(json: bool) -> Narrator {
        Narrator { json, t0: Instant::now(), bar: None, tty: std::io::stderr().is_terminal(), secrets: None }
    }

    pub fn elapsed(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Redact these secrets from everything narrated from now on.
    pub fn redact_with(&mut self, secrets: recordings::Secrets) {
        self.secrets = Some(secrets);
    }

    /// A line on stderr.
    pub fn line(&self, text: &str) {
        let redacted;
        let text = match &self.secrets {
            Some(s) => {
                redacted = s.redact(text);
                redacted.as_str()
            }
            None => text,
        };
        let _term = TERM.lock().unwrap_or_else(|p| p.into_inner());
        match &self.bar {
            Some(b) => b.suspend(|| errln!("{text}")),
            None => errln!("{text}"),
        }
    }

    pub fn info(&self, text: &str) {
        self.line(&format!("errand: {text}"));
    }

    /// A JSON event on stdout (only with --json).
    pub fn event(&self, event: crate::events::Event<'_>) {
        if self.json {
            let mut v = match serde_json::to_value(&event) {
                Ok(v) => v,
                Err(e) => return tracing::warn!("an event could not be written as JSON: {e}"),
            };
            if let Some(o) = v.as_object_mut() {
                o.insert("elapsed_ms".into(), Value::from(self.t0.elapsed().as_millis() as u64));
            }
            match &self.secrets {
                Some(s) => outln!("{}", s.redact(&v.to_string())),
                None => outln!("{v}"),
            }
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
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(b.clone());
        self.bar = Some(b);
    }

    pub fn stop_spin(&mut self) {
        if let Some(b) = self.bar.take() {
            BAR.lock().unwrap_or_else(|p| p.into_inner()).take();
            b.finish_and_clear();
        }
    }

    /// Report bad input (exit code 2): nothing was started or changed.
    pub fn bad_input(&self, msg: &str) -> ExitCode {
        self.line(&format!("error: {msg}"));
        self.event(crate::events::Event::Error { kind: "bad_input", message: msg });
        ExitCode::from(crate::exit::BAD_INPUT)
    }
}
