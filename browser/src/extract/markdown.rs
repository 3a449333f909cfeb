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

use dom_query::{Document, NodeRef};

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

/// The Markdown of a plain-text extract (rs-trafilatura keeps no HTML when it reads a
/// listing's cards, a merge of sections or a JSON-LD description): one paragraph per line,
/// its words escaped where Markdown would read them as markup.
pub(super) fn of_text(text: &str) -> String {
    let escape = |l: &str| l.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let html: String = tidy_text(text).lines().filter(|l| !l.is_empty()).map(|l| format!("<p>{}</p>", escape(l))).collect();
    of(&html).unwrap_or_default()
}

/// `text` with each line's whitespace runs made one space and no more than one blank line
/// in a row: the text of a listing's cards comes with their HTML's indentation.
pub(super) fn tidy_text(text: &str) -> String {
    let lines: Vec<String> = text.lines().map(crate::extract::words::squash).collect();
    tidy_lines(&lines.join("\n"))
}

/// The page's HTML mended for conversion (see the module's doc).
fn tidy(doc: &Document) {
    // Innermost first: a card's link inside another card's.
    let links: Vec<NodeRef> = doc.select("a").nodes().iter().rev().copied().collect();
    for a in links {
        if a.text().trim().is_empty() {
            a.remove_from_parent();
        } else if a.descendants_it().any(|d| d.is_element() && d.is(BLOCKS)) {
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
    use super::{of, of_text, tidy_text};

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
        let got = md(r#"<a href="/card"><h2><a href="/title">Title</a></h2><p>Text</p></a><p>See <a href="/x">this</a>.</p>"#);
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
}
