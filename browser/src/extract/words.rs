//! The words of a page's text, from one pass over its bytes: how many there are (an upper
//! bound on any extract), which they are, and the text itself for a page no extractor
//! could read.

/// About how many words of text `html` holds outside its tags, scripts and styles: an
/// upper bound on any extract of it, from one pass over the bytes (no parse).
pub fn text_words(html: &str) -> usize {
    let mut n = 0;
    scan_words(html, |_| n += 1);
    n
}

/// `s` with each run of whitespace made one space, and none at either end.
pub(super) fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The words (lowercased) of the text `html` holds outside its tags, scripts and styles.
/// Markup is not decoded: a word with an entity in it is not matched.
pub(super) fn page_words(html: &str) -> std::collections::HashSet<String> {
    let mut set = std::collections::HashSet::new();
    scan_words(html, |w| {
        set.insert(w.to_lowercase());
    });
    set
}

/// Each word of the text `html` holds outside its tags, scripts, styles and comments, in
/// one pass over the bytes. Written by hand: a parse (html5ever) costs as much as the
/// extraction it is meant to spare.
fn scan_words(html: &str, mut word: impl FnMut(&str)) {
    let b = html.as_bytes();
    let (mut i, mut start) = (0, None::<usize>);
    let mut end_word = |start: &mut Option<usize>, at: usize| {
        if let Some(s) = start.take() {
            // Words are cut at ASCII bytes only, so both ends are on character boundaries.
            if let Some(w) = html.get(s..at) {
                word(w);
            }
        }
    };
    while i < b.len() {
        if b[i] == b'<' {
            end_word(&mut start, i);
            let rest = &b[i..];
            let starts = |tag: &[u8]| rest.len() > tag.len() && rest[1..=tag.len()].eq_ignore_ascii_case(tag);
            // The text of a script or style is not the page's: skip to its end tag.
            let skip_to: Option<&[u8]> = if starts(b"script") {
                Some(b"</script")
            } else if starts(b"style") {
                Some(b"</style")
            } else if rest.starts_with(b"<!--") {
                Some(b"-->")
            } else {
                None
            };
            let end = match skip_to {
                Some(close) => find_ci(&b[i + 1..], close).map(|j| i + 1 + j + close.len()),
                None => b[i..].iter().position(|&c| c == b'>').map(|j| i + j),
            };
            i = end.unwrap_or(b.len()) + 1;
            continue;
        }
        if b[i].is_ascii_whitespace() {
            end_word(&mut start, i);
        } else if start.is_none() {
            start = Some(i);
        }
        i += 1;
    }
    end_word(&mut start, b.len().min(i));
}

/// Where `needle` (ASCII) first occurs in `hay`, ignoring ASCII case.
pub(super) fn find_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle))
}

/// The text `html` holds outside its tags, scripts, styles and comments, its words joined
/// by single spaces (entities stay as written): the last resort for a page no extractor
/// could read.
pub fn plain_text(html: &str) -> String {
    let mut out = String::new();
    scan_words(html, |w| {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    });
    out
}

/// Whether `text` says nothing but (part of) the page's `title`: what a page whose body
/// is empty (a script-only shell whose scripts did not run, a blank page) gives an
/// extractor that falls back to the head. Such a page has no main content to show.
pub(super) fn only_title(text: &str, title: &str) -> bool {
    // Lazily: on a page with content the first word or so not in the title settles it.
    let t = title.trim();
    let title: Vec<String> = lower_words(t).collect();
    if title.is_empty() || lower_words(text).next().is_none() {
        return false;
    }
    // The title repeated with nothing between ("…| GarminSmartwatches…") is still the title.
    let rest = text.replace(t, " ");
    let only = lower_words(&rest).all(|w| title.contains(&w));
    only
}

/// The words of a text, lowercase, cut at anything but a letter or a digit: lazily.
pub(super) fn lower_words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The text of the document's `<title>` (entities as written), or "" without one.
pub(super) fn head_title(html: &str) -> &str {
    let b = html.as_bytes();
    let Some(open) = find_ci(b, b"<title") else { return "" };
    let Some(gt) = b[open..].iter().position(|&c| c == b'>').map(|i| open + i + 1) else { return "" };
    let end = find_ci(&b[gt..], b"</title").map_or(gt, |i| gt + i);
    html.get(gt..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{head_title, only_title};

    #[test]
    fn the_head_title_is_read_without_a_parse() {
        assert_eq!(head_title("<html><HEAD><Title id=t>Shop &amp; more</TITLE></head>"), "Shop &amp; more");
        assert_eq!(head_title("<p>no title</p>"), "");
        assert_eq!(head_title("<title>never closed"), "");
    }

    #[test]
    fn a_text_that_is_only_the_title_is_no_content() {
        let title = "Alma — Simplifying Access to Therapy";
        let table = [
            ("Alma — Simplifying Access to Therapy\n   \n Alma — Simplifying Access to Therapy", title, true),
            ("Simplifying access", title, true),
            ("Alma makes therapy simple: book a session today.", title, false),
            ("", title, false),
            ("Anything at all", "", false),
            ("Smartwatches | Garmin", "Smartwatches with Fitness and Health Tracking | Garmin", true),
            ("Smartwatches | Garmin\n \nSmartwatches | GarminSmartwatches | Garmin", "Smartwatches | Garmin", true),
            ("Smartwatches | GarminSmartwatches | Garmin and a word", "Smartwatches | Garmin", false),
        ];
        for (text, title, want) in table {
            assert_eq!(only_title(text, title), want, "{text:?} / {title:?}");
        }
    }
}
