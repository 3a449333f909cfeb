//! The spaces between words, as the page shows them.
//!
//! Why it exists: rs-trafilatura writes a space after every text node of its reading, so
//! words that run across inline elements come apart: `$<b>5</b>,<b>000</b>` reads
//! "$ 5, 000", `(<a>API</a>)` reads "( API )", highlighted code reads
//! "requests. get ( url )". The Markdown, written from the reading's HTML, has them
//! right; the text is mended here against the page. Each line of the text is found in
//! the page's text with the whitespace left out on both sides, and a space the line puts
//! where the page shows neither whitespace nor a break between boxes is taken out. The
//! other way too: rs-trafilatura drops every space before a colon or a full stop
//! ("Modern .NET" reads "Modern.NET", French "prix : 5 €" reads "prix: 5 €"), and a
//! table cell runs its blocks together ("Price$279"); where the page shows a space or a
//! break, the text gets a space.
//!
//! Where two elements meet with nothing between them (`<a>Crime</a><a>Mature</a>`), the
//! page's style decides whether that is one word or two tag chips, and a style sheet may
//! not have loaded (its host is not on the allowlist). There the space goes only around a
//! character that clings to a word: a bracket, a quote, a currency sign, closing
//! punctuation, the comma inside a number; and between two Chinese or Japanese
//! characters, which are written without spaces. `rendered.js` sets apart with a space an
//! inline element the page lays out as a box, so a loaded style sheet is followed.
//!
//! A line the reading wrote with a part of the page left out (a card's vote count
//! dropped as boilerplate) is not found whole: it is mended piece by piece.

use std::borrow::Cow;

use dom_query::{Document, NodeRef};
use memchr::memmem;

/// Elements that flow inside a line unless a style says otherwise: what sits between two
/// text nodes with only these around is one run of text. The list is `rendered.js`'s
/// (`PHRASING`), with `wbr`, a place a line may break that shows nothing.
const INLINE: &[&str] = &[
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em", "font", "i", "ins", "kbd", "label", "mark", "nobr",
    "q", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr",
];

/// Whether `el` is an element that flows inside a line (see `INLINE`).
pub(super) fn is_inline(el: &NodeRef) -> bool {
    el.qual_name_ref().is_some_and(|n| INLINE.contains(&n.local.as_ref()))
}

/// Elements whose text the page does not show as text.
pub(super) const UNSHOWN: &[&str] = &["head", "script", "style", "noscript", "template", "svg", "math"];

/// A line found more often than this in the page is left as it is: which of its places
/// the text came from cannot be told, and checking them all costs more than it brings.
const MAX_PLACES: usize = 8;

/// What the page shows between two characters of its text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Join {
    /// Nothing: one run of text, or elements of code.
    Shut,
    /// Nothing, where an element begins or ends: one word or two, as the page's style
    /// has it (see the module's doc).
    Seam,
    /// Whitespace, or a break between boxes.
    Open,
}

/// The page's text, as needed to tell where it shows a space.
pub(super) struct Page {
    /// The page's text without its whitespace.
    solid: String,
    /// For each byte of `solid`: what the page shows before it.
    joins: Vec<Join>,
}

/// How an element bears on the spaces around it.
#[derive(Clone, Copy)]
struct Kind {
    /// A box of its own (a paragraph, a cell, a line break): its edges part words.
    boxed: bool,
    /// Code, where elements colour tokens.
    code: bool,
    /// Its start and end are seams (see [`Join::Seam`]).
    edge: bool,
}

impl Kind {
    /// `None` for what the page does not show as text.
    fn of(el: &NodeRef) -> Option<Kind> {
        let name = el.qual_name_ref()?;
        let name = name.local.as_ref();
        if UNSHOWN.contains(&name) {
            return None;
        }
        Some(Kind {
            boxed: !INLINE.contains(&name),
            code: matches!(name, "code" | "pre" | "kbd" | "samp"),
            // A superscript of letters belongs to what it follows ("1st"); of digits it
            // is as often a note's number ("performance¹") as an exponent.
            edge: !(matches!(name, "sup" | "sub") && el.text().chars().find(|c| !c.is_whitespace()).is_some_and(char::is_alphabetic)),
        })
    }
}

/// What lies between the last character read and the next.
#[derive(Default)]
struct Between {
    /// Whitespace, or a box's edge.
    open: bool,
    /// An element's start or end.
    edge: bool,
    /// How deep in code the walk is; `coded` when a piece of code begins or ends.
    code: usize,
    coded: bool,
}

impl Between {
    fn enter(&mut self, k: Kind) {
        self.open |= k.boxed;
        // What came before a superscript, even an element's end, joins it.
        self.edge = k.edge;
        self.code += usize::from(k.code);
        self.coded |= k.code;
    }

    fn leave(&mut self, k: Kind) {
        self.open |= k.boxed;
        self.edge |= k.edge;
        self.code -= usize::from(k.code);
        self.coded |= k.code;
    }

    /// The join before a character, which is then the last read.
    fn take(&mut self) -> Join {
        // Inside code every element is a token's colour: no seam parts two words of one
        // piece of code.
        let join = match (self.open, self.edge && (self.code == 0 || self.coded)) {
            (true, _) => Join::Open,
            (false, true) => Join::Seam,
            (false, false) => Join::Shut,
        };
        (self.open, self.edge, self.coded) = (false, false, false);
        join
    }
}

impl Page {
    /// Where the page's text holds `solid` (text without whitespace): 1 to `MAX_PLACES`
    /// places, else `None`.
    fn places(&self, solid: &[u8]) -> Option<Vec<usize>> {
        let places: Vec<usize> = memmem::find_iter(self.solid.as_bytes(), solid).take(MAX_PLACES + 1).collect();
        (!places.is_empty() && places.len() <= MAX_PLACES).then_some(places)
    }

    pub(super) fn of(doc: &Document) -> Page {
        let mut page = Page { solid: String::new(), joins: vec![] };
        let mut between = Between { open: true, ..Between::default() };
        // Walked in document order without recursion: a page's depth is bounded (see
        // `depth`), but not by the stack of the thread this runs on.
        let root = doc.root();
        let mut next = root.first_child();
        while let Some(node) = next {
            let mut inside = None;
            if node.is_text() {
                for ch in node.text().chars() {
                    if ch.is_whitespace() {
                        between.open = true;
                        continue;
                    }
                    page.solid.push(ch);
                    page.joins.push(between.take());
                    page.joins.extend(std::iter::repeat_n(Join::Shut, ch.len_utf8() - 1));
                }
            } else if node.is_element() {
                match Kind::of(&node) {
                    Some(kind) => {
                        between.enter(kind);
                        match node.first_child() {
                            Some(child) => inside = Some(child),
                            None => between.leave(kind),
                        }
                    }
                    None => between.open = true,
                }
            } else {
                inside = node.first_child();
            }
            if inside.is_some() {
                next = inside;
                continue;
            }
            // Up to the next sibling, leaving each element on the way.
            let mut at = node;
            next = loop {
                if let Some(sibling) = at.next_sibling() {
                    break Some(sibling);
                }
                match at.parent() {
                    Some(parent) if parent.id != root.id => {
                        if let Some(kind) = Kind::of(&parent) {
                            between.leave(kind);
                        }
                        at = parent;
                    }
                    _ => break None,
                }
            };
        }
        page
    }
}

/// Whether `left` and `right`, which meet where an element begins or ends, are one word:
/// a bracket, a quote, a currency sign or a dash that opens; punctuation that closes; the
/// separator of a number's digits; an apostrophe or a hyphen inside a word. `before` and
/// `after` are the characters around the two.
fn clings(before: Option<char>, left: char, right: char, after: Option<char>) -> bool {
    "([{“‘«$€£¥#@—–".contains(left)
        || ")]}.,;:!?%”’»…®™—–".contains(right)
        || (".,:/-".contains(left) && right.is_ascii_digit() && before.is_some_and(|b| b.is_ascii_digit()))
        // "Gallery’<b>s</b>" (not "<a>VPN</a>'s", which could be a quote that opens)
        || ("’'".contains(left) && before.is_some_and(char::is_alphabetic) && right.is_lowercase())
        // "<code>PostgreSQL</code>-specific", not "SEO - Michigan" or "/ --follow"
        || (right == '-' && left.is_alphanumeric() && after.is_some_and(char::is_alphanumeric))
        // A straight quote that opens after a space ("'<em>Design Thinking</em>'") or
        // closes before one or before punctuation.
        || ("'\"".contains(left) && before.is_none_or(char::is_whitespace))
        || ("'\"".contains(right) && after.is_none_or(|a| a.is_whitespace() || ".,;:!?)".contains(a)))
        // Chinese and Japanese put no spaces between words: "日本の<a>東京</a>は". A
        // Latin word among them keeps its space ("アプリ <a>Kindle for PC</a> に"), as
        // their typesetting often spaces it and the news set's reviewers wrote it.
        || (unspaced(left) && unspaced(right))
}

/// Whether `c` is written without spaces around it: Chinese characters, Japanese kana,
/// and their punctuation and full-width forms. (Korean puts spaces between words.)
fn unspaced(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30ff}' | '\u{31f0}'..='\u{31ff}' | '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}' | '\u{ff00}'..='\u{ffef}' | '\u{20000}'..='\u{2fa1f}')
}

/// `text` with each space taken out that stands where `page` shows its words together.
pub(super) fn respace(text: &str, page: &Page) -> String {
    let lines: Vec<Cow<str>> = text.split('\n').map(|line| mend(line, page)).collect();
    lines.join("\n")
}

/// One line of the text mended; a table's row ("cell | cell") cell by cell, since the
/// page holds no `|` between its cells.
fn mend<'a>(line: &'a str, page: &Page) -> Cow<'a, str> {
    match mend_run(line, page) {
        Some(m) => m,
        None if line.contains(" | ") => {
            let cells: Vec<Cow<str>> = line.split(" | ").map(|c| mend_run(c, page).unwrap_or(Cow::Borrowed(c))).collect();
            Cow::Owned(cells.join(" | "))
        }
        None => mend_pieces(line, page).unwrap_or(Cow::Borrowed(line)),
    }
}

/// A piece of a line shorter than this (bytes without whitespace) is too likely to be
/// found in the page by chance to be mended.
const MIN_PIECE: usize = 16;

/// A line the page does not hold whole, mended piece by piece. The reading may leave out
/// what sits between two parts of a line (a listing's vote counts and buttons, dropped
/// as boilerplate) and run the parts together ("…GitHub<button>3</button>GetMimic…"):
/// each piece is the longest stretch, from where the last one ended, that the page holds
/// at no more than `MAX_PLACES` places, and two pieces the line runs together get a
/// space where the page shows a break before the second.
fn mend_pieces<'a>(line: &'a str, page: &Page) -> Option<Cow<'a, str>> {
    // The line's characters that are not whitespace: where each starts in the line, and
    // the same without whitespace (`solid`), with one end offset more for each.
    let mut at_line = Vec::new();
    let mut solid = String::with_capacity(line.len());
    let mut at_solid = Vec::new();
    for (i, ch) in line.char_indices().filter(|(_, c)| !c.is_whitespace()) {
        at_line.push(i);
        at_solid.push(solid.len());
        solid.push(ch);
    }
    let n = at_line.len();
    at_solid.push(solid.len());
    let held = |from: usize, to: usize| memmem::find(page.solid.as_bytes(), &solid.as_bytes()[at_solid[from]..at_solid[to]]).is_some();
    let end_in_line = |k: usize| if k == n { line.len() } else { at_line[k] };
    let mut out = String::with_capacity(line.len() + 8);
    let (mut start, mut copied, mut changed) = (0, 0, false);
    while start < n {
        // The longest piece from `start` the page holds: a longer one is held only if
        // every shorter one is, so a binary search finds it.
        let (mut lo, mut hi) = (start, n);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if held(start, mid) {
                lo = mid
            } else {
                hi = mid - 1
            }
        }
        let end = lo;
        let piece = &solid.as_bytes()[at_solid[start]..at_solid[end]];
        let Some(places) = (piece.len() >= MIN_PIECE).then(|| page.places(piece)).flatten() else {
            // Nothing to go by here: on past the next whitespace.
            let next_space = line[at_line[start]..].find(char::is_whitespace).map(|i| at_line[start] + i);
            start = next_space.map_or(n, |s| at_line.partition_point(|&i| i < s));
            continue;
        };
        let (from, to) = (at_line[start], end_in_line(end));
        out.push_str(&line[copied..from]);
        let run_together = start > 0 && !line[..from].ends_with(char::is_whitespace);
        if run_together && places.iter().all(|&p| page.joins[p] == Join::Open) {
            out.push(' ');
            changed = true;
        }
        let mended = mend_at(&line[from..to], page, &places);
        changed |= matches!(mended, Cow::Owned(_));
        out.push_str(&mended);
        copied = to;
        start = end;
    }
    out.push_str(&line[copied..]);
    changed.then_some(Cow::Owned(out))
}

/// `run` mended, or `None` when the page does not hold it (or holds it too often).
fn mend_run<'a>(run: &'a str, page: &Page) -> Option<Cow<'a, str>> {
    let solid: String = run.chars().filter(|c| !c.is_whitespace()).collect();
    // One character has no space to judge.
    if solid.chars().nth(1).is_none() {
        return Some(Cow::Borrowed(run));
    }
    let places = page.places(solid.as_bytes())?;
    Some(mend_at(run, page, &places))
}

/// `run` mended against the `places` where the page holds it (see `Page::places`).
fn mend_at<'a>(run: &'a str, page: &Page, places: &[usize]) -> Cow<'a, str> {
    // Whether the page shows `test` before the byte `at` of the run, at each of its places.
    let everywhere = |at: usize, test: &dyn Fn(Join) -> bool| places.iter().all(|p| test(page.joins[p + at]));
    let chars: Vec<char> = run.chars().collect();
    let mut out = String::with_capacity(run.len());
    // Bytes of `solid` before the character at hand.
    let mut at = 0;
    let mut changed = false;
    for (i, &ch) in chars.iter().enumerate() {
        if ch.is_whitespace() {
            let left = i.checked_sub(1).map(|l| chars[l]).filter(|c| !c.is_whitespace());
            let right = chars.get(i + 1).filter(|c| !c.is_whitespace());
            let (before, after) = (i.checked_sub(2).map(|b| chars[b]), chars.get(i + 2).copied());
            let together =
                |(l, &r): (char, &char)| everywhere(at, &|join| join == Join::Shut || (join == Join::Seam && clings(before, l, r, after)));
            if ch == ' ' && left.zip(right).is_some_and(together) {
                changed = true;
                continue;
            }
            out.push(ch);
            continue;
        }
        // Two characters the text runs together, which the page shows apart, or where
        // two elements meet unless they cling (a table's cell runs its elements together:
        // "Published By:<span>Mega Crit</span>", "<s>$449.99</s><b>$349.99</b>"). Not
        // before a straight quote, which may close what came before ("<a>VPN</a>'s").
        let (left, before, after) = (chars[i.saturating_sub(1)], i.checked_sub(2).map(|b| chars[b]), chars.get(i + 1).copied());
        let apart = |join| join == Join::Open || (join == Join::Seam && ch != '\'' && !clings(before, left, ch, after));
        if at > 0 && !chars[i - 1].is_whitespace() && everywhere(at, &apart) {
            out.push(' ');
            changed = true;
        }
        at += ch.len_utf8();
        out.push(ch);
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mended(html: &str, text: &str) -> String {
        let page = Page::of(&Document::from(html));
        respace(text, &page)
    }

    #[test]
    fn words_the_page_shows_together_are_written_together() {
        let html = r#"<html><body>
            <p>Apply for up to $<span>5</span>,<span>000</span>&nbsp;in aid by March <span>1</span><sup>st</sup>.</p>
            <p>APIs (<a href="/api">Application Programming Interfaces</a>) let apps talk.</p>
            <pre><code><span>requests</span>.<span>get</span>(<span>'https://x.example'</span>)</code></pre>
            </body></html>"#;
        let text = "Apply for up to $ 5, 000 \u{a0}in aid by March 1 st.\n\nAPIs ( Application Programming Interfaces ) let apps talk.\n\nrequests. get ( 'https://x.example' )";
        assert_eq!(
            mended(html, text),
            "Apply for up to $5,000 \u{a0}in aid by March 1st.\n\nAPIs (Application Programming Interfaces) let apps talk.\n\nrequests.get('https://x.example')"
        );
    }

    #[test]
    fn chinese_and_japanese_and_quoted_words_are_written_as_the_page_shows_them() {
        let html = r#"<html><body>
            <p>日本の<a href="/tokyo">東京</a>は首都です。使用<code>npm</code>安装。</p>
            <p>'<strong><em>Design Thinking</em></strong>' (very trendy), and "<a>Show HN</a>": posts.</p>
            </body></html>"#;
        let text = "日本の 東京 は首都です。使用 npm 安装。\n' Design Thinking ' (very trendy), and \" Show HN \": posts.";
        assert_eq!(mended(html, text), "日本の東京は首都です。使用 npm 安装。\n'Design Thinking' (very trendy), and \"Show HN\": posts.");
    }

    #[test]
    fn a_line_the_page_holds_in_pieces_is_mended_piece_by_piece() {
        // The reading left out each card's vote count and ran the cards together.
        let html = r#"<html><body><ul>
            <li><div><a>Song Sweeper</a> <span>Clean up your music library</span><div><a>iOS</a><span>•</span><a>Music</a></div></div><button>3</button></li>
            <li><div><a>Pulldog</a> <span>Keeps your code reviews organized</span><div><a>Productivity</a><span>•</span><a>GitHub</a></div></div><button>7</button></li>
            </ul></body></html>"#;
        let text = "Song Sweeper Clean up your music libraryiOS•MusicPulldog Keeps your code reviews organizedProductivity•GitHub";
        assert_eq!(
            mended(html, text),
            "Song Sweeper Clean up your music library iOS • Music Pulldog Keeps your code reviews organized Productivity • GitHub"
        );
        // A piece too short to tell where it came from is left as it is.
        assert_eq!(mended(html, "zzzzlibraryiOS"), "zzzzlibraryiOS");
    }

    #[test]
    fn a_space_or_a_break_the_page_shows_is_put_back() {
        let html = r#"<html><body><p>Modern .NET apps, and the prix : 5 €.</p>
            <table><tr><td><div>Price</div><div>$279</div></td></tr></table></body></html>"#;
        assert_eq!(mended(html, "Modern.NET apps, and the prix: 5 €.\nPrice$279"), "Modern .NET apps, and the prix : 5 €.\nPrice $279");
        // Elements that meet, run together by a table cell's text, unless they cling.
        let html = r#"<html><body><table><tr><td>Published By:<span>Mega Crit</span></td><td>$<b>24</b>.<b>99</b></td>
            <td><s>$449.99</s><b>$349.99</b></td><td><a href="/p">Kumon</a>’s <a href="/v">VPN</a>'s</td></tr></table></body></html>"#;
        assert_eq!(
            mended(html, "Published By:Mega Crit | $24.99 | $449.99$349.99 | Kumon’s VPN's"),
            "Published By: Mega Crit | $24.99 | $449.99 $349.99 | Kumon’s VPN's"
        );
    }

    #[test]
    fn a_space_or_a_break_the_page_shows_stays() {
        // Blocks meet without whitespace between them; chips the copy set apart; a
        // line break; words spaced in the page.
        let html = r#"<html><body>
            <div><div>Price</div><div>$279</div></div>
            <p><a href="/t/crime">Crime</a> <a href="/t/mature">Mature</a></p>
            <p>Call us<br>today</p><p>two words</p></body></html>"#;
        let text = "Price $279\nCrime Mature\nCall us today two words";
        assert_eq!(mended(html, text), text);
    }

    #[test]
    fn elements_that_meet_are_one_word_only_around_clinging_punctuation() {
        // Tag chips whose style sheet did not load; a price and its percentage; code,
        // where each token is an element of its own.
        let html = r#"<html><body>
            <p><a href="/t/crime">Crime</a><a href="/t/mature">Mature</a></p>
            <p><b>Save</b><b>20</b><b>%</b> on <a href="/x">two</a><a href="/y">(or more)</a></p>
            <pre><span>x</span><span>.</span><span>get</span><span>(</span><span>1</span><span>)</span></pre>
            <p>Faster performance<sup>1</sup> with <code>Dump</code><wbr><span><code>tokio_unstable</code></span></p>
            <p>The Gallery’<b>s</b> <code>PostgreSQL</code>-specific</p>
            <p><a href="/seo">SEO</a>- Michigan, <a href="/q">quote</a>'not', -f /<b>--follow</b></p></body></html>"#;
        let text = "Crime Mature\nSave 20 % on two (or more)\nx. get ( 1 )\nFaster performance 1 with Dump tokio_unstable\nThe Gallery’ s PostgreSQL -specific\nSEO - Michigan, quote 'not', -f / --follow";
        // A note's number and two pieces of code that meet stay apart; so do a dash or
        // a quote that may open what follows.
        let want = "Crime Mature\nSave 20% on two (or more)\nx.get(1)\nFaster performance 1 with Dump tokio_unstable\nThe Gallery’s PostgreSQL-specific\nSEO - Michigan, quote 'not', -f / --follow";
        assert_eq!(mended(html, text), want);
    }

    #[test]
    fn a_table_row_is_mended_cell_by_cell_and_what_the_page_lacks_is_left() {
        let html = r#"<html><body><table><tr><td>(<b>4K</b>)</td><td>$<b>99</b></td></tr></table>
            <p>Seen <b>once</b> here.</p></body></html>"#;
        assert_eq!(mended(html, "( 4K ) | $ 99"), "(4K) | $99");
        // Words the page does not hold (a line errand wrote, a description from JSON-LD).
        assert_eq!(mended(html, "alice · 2 days ago"), "alice · 2 days ago");
    }

    #[test]
    fn a_line_the_page_holds_in_places_that_disagree_is_left() {
        let html = r#"<html><body><p>$<b>5</b> off</p><p>$ 5 off</p></body></html>"#;
        assert_eq!(mended(html, "$ 5 off"), "$ 5 off");
    }
}
