//! Printing that survives a reader going away.
//!
//! `errand recordings list | head -1` closes errand's stdout after one line; Rust's
//! `println!` panics on the broken pipe that follows. A consumer that stops reading is
//! normal, so output goes through [`out`] and [`err`]: the first failed write marks the
//! stream closed and every later write is dropped quietly. Commands that produce a stream
//! of results stop when [`out`] says so; a run goes on and finishes its
//! recording, since its work does not depend on anyone reading the events.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Write one line to stdout; false once stdout is gone.
pub fn out(line: &str) -> bool {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return false;
    }
    let mut o = std::io::stdout().lock();
    if writeln!(o, "{line}").and_then(|_| o.flush()).is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        return false;
    }
    true
}

/// Write one line to stderr; dropped once stderr is gone (`2>&1 | head`).
pub fn err(line: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut e = std::io::stderr().lock();
    if writeln!(e, "{line}").is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Write to stderr without a newline (a prompt's question).
pub fn err_raw(text: &str) {
    if STDERR_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut e = std::io::stderr().lock();
    if write!(e, "{text}").and_then(|_| e.flush()).is_err() {
        STDERR_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// "1 step", "2 steps": a count with its noun.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if noun.ends_with('y') && !noun.ends_with("ey") {
        format!("{n} {}ies", &noun[..noun.len() - 1])
    } else {
        format!("{n} {noun}s")
    }
}

/// `println!` that never panics.
#[macro_export]
macro_rules! outln {
    () => {{ $crate::stdio::out(""); }};
    ($($t:tt)*) => {{ $crate::stdio::out(&format!($($t)*)); }};
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    () => { $crate::stdio::err("") };
    ($($t:tt)*) => { $crate::stdio::err(&format!($($t)*)) };
}
