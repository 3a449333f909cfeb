//! errand's domain policy: which hosts the browser may reach.
//!
//! Pure logic (parse patterns, judge a URL by the host a browser would really contact, edit
//! the allowlist file) with no I/O in the decision path, so it can be table-tested. The
//! policy and its enforcement in the browser are being built under issue 5; until then the
//! crate is empty and nothing depends on it for a guarantee.
