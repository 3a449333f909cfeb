//! Small text helpers for what errand prints and records.

/// The text on one line, whitespace collapsed, cut to `max` characters with an ellipsis.
pub fn one_line(s: &str, max: usize) -> String {
    let s: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() > max {
        format!("{}…", s.chars().take(max).collect::<String>())
    } else {
        s
    }
}
