//! The Markdown of an extract, from the content HTML rs-trafilatura keeps.
//!
//! rs-trafilatura's own Markdown (quick_html2md) breaks lines only at paragraphs, headings,
//! lists and tables: the text of a `<div>` runs into the heading that follows it
//! (`Business # Top 10 Trends`), a `<div>`'s indentation becomes a code block, and a card
//! whose link wraps its heading and summary comes out as a link spanning paragraphs. On
//! wcxb-dev a third of the pages had an empty link (`[](…)`, a picture's), a quarter a
//! heading in mid-line. errand converts with htmd (a port of turndown.js, which treats
//! every block as one) after mending what no converter reads well:
//! - a link with nothing to show (its picture left out) is dropped;
//! - a link around blocks (a card) is put on the card's heading, or its first line;
//! - a table with no header cells gets its first row as header, so it stays a table, and
//!   its caption is a paragraph above it.

use std::collections::HashMap;

use dom_query::{Document, NodeRef};

use super::words::{lower_words, squash};

/// Elements that start a block of their own: a link holding one wraps a card, not words.
const BLOCKS: &str = "address, article, aside, blockquote, dd, div, dl, dt, figcaption, figure, footer, \
    form, h1, h2, h3, h4, h5, h6, header, li, main, nav, ol, p, pre, section, table, ul";
const HEADINGS: &str = "h1, h2, h3, h4, h5, h6";

/// The Markdown of `content_html`, links as the page wrote them (relative ones stay
/// relative). `None` when htmd cannot read it.
pub(super) fn of(content_html: &str) -> Option<String> {
    let doc = Document::from(content_html);
    tidy(&doc);
    let html = doc.select("body").inner_html();
    let options = htmd::options::Options {
        bullet_list_marker: htmd::options::BulletListMarker::Dash,
        ul_bullet_spacing: 1,
        ol_number_spacing: 1,
        // A hard break as `\`, not two spaces, so trailing spaces can go.
        br_style: htmd::options::BrStyle::Backslash,
        ..Default::default()
    };
    let md = htmd::HtmlToMarkdown::builder()
        .options(options)
        .skip_tags(vec!["script", "style", "noscript", "template", "img", "picture", "svg", "video", "audio", "iframe"])
        .build()
        .convert(&html)
        .ok()?;
    Some(tidy_lines(&md))
}

/// The Markdown of a plain-text extract of `html` (rs-trafilatura keeps no HTML when it
/// reads a listing's cards, merges sections or adds a collection's description): the
/// page's own blocks whose words the text holds, in order, when they hold most of it;
/// else the text, one paragraph per line.
pub(super) fn of_text_in(html: &str, text: &str) -> String {
    blocks_of(html, text).unwrap_or_else(|| of_text(text))
}

/// The page's blocks holding the words of `text`, a plain-text reading of `html`, in the
/// page's order, as HTML; `None` unless they say what it says, give or take one word in
/// twenty either way. Each piece of the page's text is looked for in the reading with
/// whitespace left out (the reading joins pieces with or without a space): a long piece
/// anywhere it is not already found (a merge of sections can change their order), a piece
/// of under five words only just after the last piece found ("Price" or "Share" is
/// anywhere, and a menu holds the headings). A block with no block inside it whose words
/// were all found keeps its links and emphasis; of any other, the words found make a
/// paragraph.
fn blocks_of(html: &str, text: &str) -> Option<String> {
    let hay: String = text.split_whitespace().collect();
    let total = text.split_whitespace().count();
    let doc = Document::from(html);
    let body = doc.select("body").nodes().first().copied()?;
    let mut used = vec![false; hay.len()];
    // Where the last piece found ends: none yet at first, so that a short piece is taken
    // only after a long one (a menu at the top holds the reading's headings too).
    let (mut cursor, mut covered) = (None::<usize>, 0);
    // Each block with words found, in the order its first one was found: whether it holds
    // no block, the words found and how many.
    let mut found: Vec<(NodeRef, bool, Vec<String>, usize)> = vec![];
    let mut index: HashMap<dom_query::NodeId, usize> = HashMap::new();
    for (block, leaf, piece) in pieces(body) {
        let words = piece.split_whitespace().count();
        let needle: String = piece.split_whitespace().collect();
        if needle.is_empty() {
            continue;
        }
        let at = if words < 5 {
            // Just after the last piece: a window, not the rest of the reading.
            cursor.and_then(|c| {
                let end = (c + 100 + needle.len()).min(hay.len());
                let end = (end..=hay.len()).find(|&e| hay.is_char_boundary(e))?;
                hay.get(c..end)?.find(&needle).map(|at| c + at)
            })
        } else {
            let from = cursor.unwrap_or(0);
            let near = hay.get(from..).and_then(|h| h.find(&needle)).map(|at| from + at);
            near.filter(|&at| !used[at]).or_else(|| unused(&hay, &needle, &used))
        };
        let Some(at) = at.filter(|&at| !used[at]) else { continue };
        used[at..at + needle.len()].iter_mut().for_each(|u| *u = true);
        cursor = Some(at + needle.len());
        covered += words;
        let i = *index.entry(block.id).or_insert_with(|| {
            found.push((block, leaf, vec![], 0));
            found.len() - 1
        });
        found[i].2.push(squash(&piece));
        found[i].3 += words;
    }
    if covered * 5 < total * 4 {
        return None;
    }
    let (mut out, mut said) = (String::new(), String::new());
    for (block, leaf, pieces, n) in found {
        let all = block.text().to_string();
        let tag = if block.is(HEADINGS) || block.is("pre, blockquote") { block.node_name().map(|t| t.to_string()) } else { None };
        let tag = tag.unwrap_or_else(|| "p".into());
        let (inner, words) = if leaf && n >= all.split_whitespace().count() {
            (block.inner_html().to_string(), all)
        } else {
            let found = pieces.join(" ");
            (escape(&found), found)
        };
        out.push_str(&format!("<{tag}>{inner}</{tag}>"));
        said.push_str(&words);
        said.push(' ');
    }
    // Only when the blocks say what the reading says, give or take one word in twenty.
    let (ours, theirs) = (bag(&said), bag(text));
    let apart = |a: &HashMap<String, usize>, b: &HashMap<String, usize>| -> usize {
        a.iter().map(|(w, n)| n.saturating_sub(b.get(w).copied().unwrap_or(0))).sum()
    };
    if apart(&ours, &theirs) * 20 > total || apart(&theirs, &ours) * 20 > total {
        return None;
    }
    of(&out)
}

/// The words of `s`, lowercased, with how often each comes.
fn bag(s: &str) -> HashMap<String, usize> {
    let mut bag = HashMap::new();
    for w in lower_words(s) {
        *bag.entry(w).or_insert(0) += 1;
    }
    bag
}

/// `s` as HTML text: its `&`, `<` and `>` not read as markup.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Whether an element holds a block element: a link that does wraps a card; a block that
/// does not is one piece of text.
fn holds_blocks(n: &NodeRef) -> bool {
    n.descendants_it().any(|d| d.is_element() && d.is(BLOCKS))
}

/// The pieces of text under `body` in order, each with the block holding it and whether
/// that block holds no other: such a block is one piece (its words split by links and
/// emphasis belong together), and each run of text directly in a block that holds others
/// is a piece of its own.
fn pieces<'a>(body: NodeRef<'a>) -> Vec<(NodeRef<'a>, bool, String)> {
    let mut leaf: HashMap<dom_query::NodeId, bool> = HashMap::new();
    let mut out: Vec<(NodeRef, bool, String)> = vec![];
    let mut open = false;
    for t in body.descendants_it().filter(|n| n.is_text()) {
        if t.parent().is_some_and(|p| p.is("script, style, noscript, template, title")) {
            continue;
        }
        let block = t.ancestors_it(None).find(|a| a.is(BLOCKS) || a.is("td, th, body")).unwrap_or(body);
        let is_leaf = *leaf.entry(block.id).or_insert_with(|| !holds_blocks(&block));
        match out.last_mut() {
            Some((b, _, piece)) if open && is_leaf && b.id == block.id => piece.push_str(&t.text()),
            _ => out.push((block, is_leaf, t.text().to_string())),
        }
        open = is_leaf;
    }
    out
}

/// Where `needle` is in `hay` outside the bytes `used`, from the start.
fn unused(hay: &str, needle: &str, used: &[bool]) -> Option<usize> {
    let step = needle.chars().next().map_or(1, char::len_utf8);
    let mut from = 0;
    while let Some(at) = hay.get(from..).and_then(|h| h.find(needle)).map(|at| from + at) {
        if !used[at] {
            return Some(at);
        }
        from = at + step;
    }
    None
}

/// The Markdown of a plain text: one paragraph per line, its words escaped where Markdown
/// would read them as markup.
pub(super) fn of_text(text: &str) -> String {
    let html: String = tidy_text(text).lines().filter(|l| !l.is_empty()).map(|l| format!("<p>{}</p>", escape(l))).collect();
    of(&html).unwrap_or_default()
}

/// `text` with each line's whitespace runs made one space and no more than one blank line
/// in a row: the text of a listing's cards comes with their HTML's indentation.
pub(super) fn tidy_text(text: &str) -> String {
    let lines: Vec<String> = text.lines().map(squash).collect();
    tidy_lines(&lines.join("\n"))
}

/// The page's HTML mended for conversion (see the module's doc).
fn tidy(doc: &Document) {
    // Innermost first: a card's link inside another card's.
    let links: Vec<NodeRef> = doc.select("a").nodes().iter().rev().copied().collect();
    for a in links {
        // A link's title (its tooltip, most often its text again) is left out: Markdown
        // writes it inside the link's parentheses, and the address could not be made
        // absolute.
        a.remove_attr("title");
        if a.text().trim().is_empty() {
            a.remove_from_parent();
        } else if holds_blocks(&a) {
            onto_a_line(&a);
        }
    }
    for table in doc.select("table").nodes() {
        headed(table);
        // A caption as a paragraph above its table: htmd writes it on the table's first
        // line, where a Markdown reader takes the table for more of the paragraph.
        for caption in table.element_children().into_iter().filter(|c| c.is("caption")) {
            table.before_html(format!("<p>{}</p>", caption.inner_html()));
            caption.remove_from_parent();
        }
    }
    // A break that ends a block shows nothing, and would come out as a lone `\`.
    for br in doc.select("br").nodes() {
        if ends_a_block(br) {
            br.remove_from_parent();
        }
    }
}

/// Whether nothing but whitespace follows `n` up to the end of the block holding it.
fn ends_a_block(n: &NodeRef) -> bool {
    let mut at = *n;
    loop {
        let mut next = at.next_sibling();
        while let Some(s) = next {
            if s.is_element() || (s.is_text() && !s.text().trim().is_empty()) {
                return false;
            }
            next = s.next_sibling();
        }
        match at.parent() {
            Some(p) if p.is_element() && !p.is(BLOCKS) && !p.is("body") => at = p,
            _ => return true,
        }
    }
}

/// A link wrapping blocks moved onto the first heading inside it (a card's title) or, with
/// none, onto the first block that holds words directly; its blocks stay where they were.
fn onto_a_line(a: &NodeRef) {
    let holds_words = |n: &NodeRef| n.children_it(false).any(|c| c.is_text() && !c.text().trim().is_empty());
    let target = a
        .descendants_it()
        .find(|d| d.is_element() && d.is(HEADINGS))
        .or_else(|| a.descendants_it().find(|d| d.is_element() && d.is(BLOCKS) && holds_words(d)));
    // The blocks come out of the link, in place.
    if let Some(first) = a.first_child() {
        a.insert_siblings_before(&first);
    }
    match target {
        // A title that is a link already keeps its own.
        Some(t) if !t.descendants_it().any(|d| d.is("a")) => {
            if let Some(first) = t.first_child() {
                a.append_children(&first);
            }
            t.append_child(a);
        }
        _ => a.remove_from_parent(),
    }
}

/// A data table with no header cells (every row the same number of cells, at least two
/// rows and two columns, no table inside) gets its first row as header: Markdown has no
/// table without one, and htmd would write each cell as a paragraph.
fn headed(table: &NodeRef) {
    let t = dom_query::Selection::from(*table);
    if t.select("th").exists() || t.select("table").exists() {
        return;
    }
    let rows = t.select("tr");
    let cells: Vec<usize> = rows.nodes().iter().map(|r| r.element_children().iter().filter(|c| c.is("td")).count()).collect();
    let same = cells.windows(2).all(|w| w[0] == w[1]);
    if cells.len() < 2 || cells[0] < 2 || !same {
        return;
    }
    if let Some(first) = rows.nodes().first() {
        for c in first.element_children() {
            c.rename("th");
        }
    }
}

/// Lines without trailing spaces, and never more than one blank line in a row.
fn tidy_lines(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut blank = 0;
    for line in md.trim().lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::{of, of_text, of_text_in, tidy_text};

    #[track_caller]
    fn md(html: &str) -> String {
        of(html).unwrap_or_else(|| panic!("no Markdown for {html}"))
    }

    #[test]
    fn a_divs_words_and_the_heading_after_them_are_lines_of_their_own() {
        let got = md("<section><div><div> Business <h1>Top 10 Trends</h1></div><div>\n     15 min </div></div></section><p>Body text.</p>");
        assert_eq!(got, "Business\n\n# Top 10 Trends\n\n15 min\n\nBody text.");
    }

    #[test]
    fn a_cards_link_goes_on_its_heading_and_a_pictures_link_goes() {
        let got = md(concat!(
            r#"<div><a href="/c/1"><img src="p.png"></a>"#,
            r#"<a href="/c/1"><div><h3>Future Proof with AI</h3><p>Master AI at work.</p></div></a>"#,
            r#"<a href="/c/2"><div><p>No title here.</p><p>More.</p></div></a></div>"#,
        ));
        assert_eq!(got, "### [Future Proof with AI](/c/1)\n\nMaster AI at work.\n\n[No title here.](/c/2)\n\nMore.");
    }

    #[test]
    fn a_heading_that_is_a_link_keeps_its_own_and_inline_links_stay() {
        let got = md(r#"<a href="/card"><h2><a href="/title">Title</a></h2><p>Text</p></a><p>See <a href="/x" title="This">this</a>.</p>"#);
        assert_eq!(got, "## [Title](/title)\n\nText\n\nSee [this](/x).");
    }

    #[test]
    fn a_table_without_header_cells_stays_a_table() {
        let got =
            md("<table><tr><td>Plan</td><td>Price</td></tr><tr><td>Basic</td><td>$5</td></tr><tr><td>Pro</td><td>$15</td></tr></table>");
        assert!(got.starts_with("| Plan"), "{got}");
        assert_eq!(got.lines().count(), 4, "{got}");
        assert!(got.lines().nth(3).is_some_and(|l| l.contains("Pro") && l.contains("$15")), "{got}");
    }

    #[test]
    fn a_tables_caption_is_a_paragraph_above_it() {
        let got = md("<table><caption>Typical costs</caption><thead><tr><th>System</th><th>Price</th></tr></thead><tbody><tr><td>Heat pump</td><td>8,000</td></tr></tbody></table>");
        let blocks: Vec<&str> = got.split("\n\n").collect();
        assert_eq!(blocks.len(), 2, "{got}");
        assert_eq!(blocks[0], "Typical costs");
        assert!(blocks[1].starts_with("| System") && blocks[1].lines().count() == 3, "{got}");
    }

    #[test]
    fn a_layout_table_is_left_to_its_cells() {
        let got = md("<table><tr><td>Only one column</td></tr><tr><td>here</td></tr></table>");
        assert!(!got.contains('|'), "{got}");
    }

    #[test]
    fn lists_and_breaks() {
        let got =
            md("<ul><li>one<ul><li>nested</li></ul></li><li>two</li></ul><p>a<br>b</p>\n\n\n<p>c <span>d<br> </span> </p><div><br></div>");
        assert_eq!(got, "- one\n  - nested\n- two\n\na\\\nb\n\nc d");
    }

    #[test]
    fn a_text_extract_becomes_paragraphs_and_its_markup_characters_stay_words() {
        let text = "  Accounting\n\n\n   and   auditing  \n# not a heading <b>*5*</b>\n";
        assert_eq!(tidy_text(text), "Accounting\n\nand auditing\n# not a heading <b>*5*</b>");
        assert_eq!(of_text(text), "Accounting\n\nand auditing\n\n\\# not a heading \\<b>\\*5\\*\\</b>");
    }

    #[test]
    fn a_text_reading_gets_the_pages_own_blocks_back() {
        let page = concat!(
            r#"<nav><a href="/basic">Basic plan</a></nav><main><p>The basic plan costs <a href="/basic">five dollars</a> a month "#,
            r#"for one seat.</p><div><b>Team</b> plan</div><p>The team plan costs forty dollars a month for ten seats.</p></main>"#,
        );
        // The reading joins the blocks' words, with and without spaces.
        let text =
            "The basic plan costs five dollars a month for one seat.Team plan The team plan costs forty dollars a month for ten seats.";
        assert_eq!(
            of_text_in(page, text),
            "The basic plan costs [five dollars](/basic) a month for one seat.\n\n**Team** plan\n\nThe team plan costs forty dollars a month for ten seats."
        );
        // Words the page's blocks do not hold: the text, as it is.
        let other = "The basic plan costs five dollars a month for one seat. A plan for schools is coming later this year, ask us.";
        assert_eq!(of_text_in(page, other), of_text(other));
    }
}
