//! A page's elements nested no deeper than a reader can use. rs-trafilatura and htmd walk
//! the tree by recursion, so a page nesting ten thousand `<div>`s (a hostile page, or a
//! script gone wrong) would overflow the stack and abort errand, and the HTML parser checks
//! every open element at each new tag, so parsing it takes time in the square of its
//! depth. Chromium's parser nests no deeper than 512, but scripts can, and the HTML a
//! server sent is read as it came. Tags that would open deeper than that are dropped
//! before any parse; the words they held stay where they were.
//!
//! Written by hand over the bytes: finding the depth with a parse is what costs too much.

/// How deep elements may nest: Chromium's parser's own limit.
const DEEPEST: usize = 512;

/// Tags a page may leave open (the parser closes them at the next of their kind): not
/// counted, or every page of unclosed `<p>`s would look deep.
const OPTIONAL_END: &[&[u8]] = &[
    b"p",
    b"li",
    b"dt",
    b"dd",
    b"option",
    b"optgroup",
    b"tr",
    b"td",
    b"th",
    b"tbody",
    b"thead",
    b"tfoot",
    b"colgroup",
    b"rb",
    b"rt",
    b"rp",
];
/// Tags that never close.
const VOID: &[&[u8]] = &[b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"source", b"track", b"wbr"];

/// `html` with no tag opened deeper than [`DEEPEST`], or `None` when it has none.
pub(super) fn shallow(html: &str) -> Option<String> {
    let (mut depth, mut deepest) = (0usize, 0);
    walk_spans(html.as_bytes(), |_, _, tag| match tag {
        Tag::Open => {
            depth += 1;
            deepest = deepest.max(depth);
        }
        Tag::Close => depth = depth.saturating_sub(1),
        Tag::Other => {}
    });
    if deepest <= DEEPEST {
        return None;
    }
    // Which opening tags were dropped, innermost last: their closing tags go too.
    let mut open: Vec<bool> = vec![];
    let mut out = Vec::with_capacity(html.len());
    let mut at = 0;
    let b = html.as_bytes();
    walk_spans(b, |start, end, tag| {
        let keep = match tag {
            Tag::Open => {
                let keep = open.len() < DEEPEST;
                open.push(keep);
                keep
            }
            Tag::Close => open.pop().unwrap_or(true),
            Tag::Other => true,
        };
        out.extend_from_slice(&b[at..start]);
        if keep {
            out.extend_from_slice(&b[start..end]);
        }
        at = end;
    });
    out.extend_from_slice(&b[at..]);
    // Only whole tags were taken out, cut at ASCII bytes: the rest is the page's UTF-8.
    String::from_utf8(out).ok()
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Tag {
    /// An opening tag that nests (not void, not self-closed, not one a page may leave open).
    Open,
    /// Its closing tag.
    Close,
    /// Any other tag, comment or script.
    Other,
}

/// Each tag of `b` in order with its byte span. A comment, and a script's or a style's
/// content, is one span of kind `Other`.
fn walk_spans(b: &[u8], mut f: impl FnMut(usize, usize, Tag)) {
    let end_of = |from: usize, what: &[u8]| -> usize { super::words::find_ci(&b[from..], what).map_or(b.len(), |p| from + p + what.len()) };
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        let start = i;
        if b[i..].starts_with(b"<!--") {
            i = end_of(i + 4, b"-->");
            f(start, i, Tag::Other);
            continue;
        }
        let close = b.get(i + 1) == Some(&b'/');
        let name_at = if close { i + 2 } else { i + 1 };
        if !b.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
            i += 1;
            continue;
        }
        let name_end = b[name_at..].iter().position(|c| !c.is_ascii_alphanumeric()).map_or(b.len(), |p| name_at + p);
        let name = b[name_at..name_end].to_ascii_lowercase();
        i = b[name_end..].iter().position(|&c| c == b'>').map_or(b.len(), |p| name_end + p + 1);
        let self_closed = b[..i].ends_with(b"/>");
        if !close && (name == b"script" || name == b"style") {
            // Its content is not markup: through its closing tag.
            let closing = if name == b"script" { &b"</script"[..] } else { &b"</style"[..] };
            let after = end_of(i, closing);
            i = b[after.min(b.len())..].iter().position(|&c| c == b'>').map_or(b.len(), |p| after + p + 1);
            f(start, i, Tag::Other);
            continue;
        }
        let nests = !VOID.contains(&name.as_slice()) && !OPTIONAL_END.contains(&name.as_slice());
        let kind = match (nests, close, self_closed) {
            (false, _, _) | (true, false, true) => Tag::Other,
            (true, true, _) => Tag::Close,
            (true, false, false) => Tag::Open,
        };
        f(start, i, kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize, tag: &str) -> String {
        format!("<html><body>{}<b>deep words</b>{}</body></html>", format!("<{tag}>").repeat(depth), format!("</{tag}>").repeat(depth))
    }

    #[test]
    fn a_page_of_ordinary_depth_is_left_alone() {
        assert_eq!(shallow(&nested(500, "div")), None);
        // Unclosed paragraphs and list items, void tags, comments and scripts do not count.
        let page = format!(
            "<ul>{}</ul><!-- {} --><script>'{}'</script>",
            "<li><p>item<br><img src=x>".repeat(2000),
            "<div>".repeat(2000),
            "<div>".repeat(2000)
        );
        assert_eq!(shallow(&page), None);
    }

    #[test]
    fn a_page_nested_too_deep_keeps_its_words_at_a_depth_that_can_be_read() {
        let flat = shallow(&nested(20_000, "div")).expect("flattened");
        assert_eq!(flat.matches("<div>").count(), DEEPEST - 2, "html and body are open too");
        assert_eq!(flat.matches("</div>").count(), DEEPEST - 2);
        assert!(flat.contains("<b>deep words</b>") || flat.contains("deep words"), "{flat}");
        assert!(flat.ends_with("</body></html>"), "{}", &flat[flat.len() - 40..]);
        // A page's text in other scripts comes through whole.
        let flat = shallow(&format!("{}<p>Größe — 大きさ</p>", "<div>".repeat(600))).expect("flattened");
        assert!(flat.ends_with("<p>Größe — 大きさ</p>"), "{flat}");
    }
}
