//! errand's session log, review report and replay formats.
//!
//! Being built under issue 9: an append-only, hash-chained JSON Lines log written by one
//! task that owns the file; until then the crate is empty.
