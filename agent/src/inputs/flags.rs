//! Text that reads like instructions to an agent, flagged wherever it comes from: the
//! walker flags it on pages (`walker.js`), this flags it in input files. A flag is shown
//! to the person and recorded; it never changes what the text is (data).

use std::sync::OnceLock;

/// The same pattern as the walker's `INJECTION` (a test keeps the two equal).
pub const INJECTION: &str = r"\b(ignore|disregard|forget)\b[^.]{0,40}\b(previous|prior|above|all|your)\b[^.]{0,40}\b(instructions?|prompts?|rules?)\b|\b(you are now|new instructions|system prompt|as an ai (agent|assistant)|assistant:|developer mode)\b";

/// Most flags kept per text.
const MAX_FLAGS: usize = 5;

/// Each line of `text` holding instruction-like wording, squashed and cut to 160
/// characters; at most five.
pub fn flags(text: &str) -> Vec<String> {
    static RE: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let Some(re) = RE.get_or_init(|| regex::RegexBuilder::new(INJECTION).case_insensitive(true).build().ok()) else {
        return vec![];
    };
    let mut out = vec![];
    for line in text.lines() {
        if out.len() >= MAX_FLAGS {
            break;
        }
        if re.is_match(line) {
            let squashed = line.split_whitespace().collect::<Vec<_>>().join(" ");
            out.push(crate::text::one_line(&squashed, 160));
        }
    }
    out
}
