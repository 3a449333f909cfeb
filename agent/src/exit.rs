//! errand's exit codes: one scheme for every command. 0 is success; 1 means the work
//! failed; 2 means usage or bad input, and nothing was started; `recordings verify` adds 3
//! for an intact recording of a session that was stopped before its end.

/// Exit code for bad input (usage, config, unreadable files).
pub const BAD_INPUT: u8 = 2;
