//! Main-content extraction from a page's HTML: pure, no I/O, so it can be tested from a
//! table of pages.
//!
//! The heavy lifting is rs-trafilatura (a port of trafilatura, the best-scoring published
//! extractor on the article-extraction benchmark); errand feeds it the *rendered* page
//! (after scripts, with what a reader cannot see removed, see `rendered.js`), which is
//! where a browser beats a static extractor.

mod cards;
mod densest;
mod depth;
#[cfg(test)]
mod kinds;
mod links;
mod markdown;
mod preloaded;
mod repeats;
mod schema;
mod spacing;
mod thread;
mod words;

use links::absolute_links;
use words::{find_ci, page_words, squash};
pub use words::{plain_text, text_words};

/// What `extract` returns for a page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Article {
    pub title: String,
    pub byline: String,
    pub date: String,
    pub lang: String,
    /// The kind of page: article, forum, product, collection, listing, documentation
    /// or service.
    pub page_type: String,
    pub markdown: String,
    pub text: String,
}

/// Which reading of a page an extract came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The page as the browser shows it, after its scripts ran.
    Rendered,
    /// The page as the server sent it, no script run.
    WithoutScripts,
}

impl View {
    /// As `extract` reports it (`"view"`).
    pub fn as_str(self) -> &'static str {
        match self {
            View::Rendered => "rendered",
            View::WithoutScripts => "without scripts",
        }
    }
}

/// The main content of a page from its rendered HTML and, when known, the HTML the
/// server sent for it. Scripts that fail (their hosts blocked by the allowlist, a bot
/// check, a framework that hides the page until it hydrates) can leave the rendered page
/// with a fraction of what the server sent: then the server's reading is the better one.
pub fn article_of(rendered: &str, source: Option<&str>, url: &str) -> Option<(Article, View)> {
    let seen = article(rendered, url).filter(|a| !a.text.trim().is_empty());
    let words = |a: &Option<Article>| a.as_ref().map_or(0, |a| words_in(&a.text));
    // Reading the server's page costs as much as reading the rendered one: only when the
    // rendered extract holds under a quarter of the words the server's page holds.
    let Some(source) = source.filter(|s| words(&seen) * 4 <= text_words(s)) else {
        return seen.map(|a| (a, View::Rendered));
    };
    let sent = article(source, url).filter(|a| !a.text.trim().is_empty());
    let prefer = sent.as_ref().is_some_and(|a| {
        let lost = || {
            let shown = page_words(rendered);
            a.text.split_whitespace().filter(|w| !shown.contains(&w.to_lowercase())).count()
        };
        prefer_sent(words(&seen), words(&sent), &a.page_type, lost)
    });
    if prefer {
        sent.map(|a| (a, View::WithoutScripts))
    } else {
        seen.map(|a| (a, View::Rendered))
    }
}

/// Whether the reading of the server's HTML (`sent` words, of a page of kind `kind`) wins
/// over the rendered page's (`seen` words); `lost()` counts the words of the server's
/// reading that the rendered page does not show. It wins when it holds twice the words.
/// Not for an article whose rendered page shows most of what the server's reading adds:
/// reading the rendered page left that out on purpose (a sidebar of other stories, a
/// menu), scripts did not lose it. On listings and products the rendered reading misses
/// what the page shows more often than it rightly leaves it out. (wcxb-dev 0.850 ->
/// 0.850, news 0.969 -> 0.971: two pages change, both for the better.)
fn prefer_sent(seen: usize, sent: usize, kind: &str, lost: impl FnOnce() -> usize) -> bool {
    seen * 2 < sent && (kind != "article" || lost() * 2 >= seen)
}

/// Extract the main content of `html` (served from `url`).
pub fn article(html: &str, url: &str) -> Option<Article> {
    // Nesting the readers below can walk without overflowing the stack (see `depth`).
    let shallow = depth::shallow(html);
    let html = shallow.as_deref().unwrap_or(html);
    // A forum thread whose scripts did not run, drawn from the posts it preloads (see
    // `preloaded`). (wcxb-dev: 18 such threads, forum 0.783 -> 0.787, 13 pages better and 5
    // worse, where the reviewers left authors out; folds +0.1, +0.6, +0.6, +0.3, -0.2 per
    // mille.)
    let redrawn = preloaded::redrawn(html);
    let html = redrawn.as_deref().unwrap_or(html);
    let (cleaned, canonical, page) = read_page(html);
    let mut opts = rs_trafilatura::Options {
        // The Markdown is errand's own, from the content HTML (see `markdown`).
        output_markdown: false,
        include_tables: true,
        include_links: true,
        // The page's kind is read partly from its address: the one it names as canonical
        // says more than where it was served from (a mirror, a tracking link, a proxy).
        url: Some(canonical.unwrap_or_else(|| url.to_string())),
        ..Default::default()
    };
    let mut r = rs_trafilatura::extract_with_options(&cleaned, &opts).ok()?;
    // errand's rules are for articles: on a listing or a collection of products the lists
    // of links they drop are the content, and on a forum thread the short posts, their
    // authors and dates. Such a page is read again without them, as the kind of page it
    // was found to be (wcxb-dev: collection 0.654 -> 0.677, listing 0.650 -> 0.672 -> 0.682,
    // forum 0.754 -> 0.764, the other kinds unchanged; news 0.971 -> 0.970).
    // A service page (features, pricing) is read again as an article: rs-trafilatura's
    // reading for its kind keeps less of what its reviewers keep on such pages (wcxb-dev
    // 0.8595 -> 0.8603: service 0.839 -> 0.841, and collection pages taken for service
    // pages 0.682 -> 0.691; folds of five +0.003, +0.001, +0.001, -0.001, 0; the same for
    // product pages cost product 0.662 -> 0.636). It is still reported as a service page.
    // So is a collection of products, for the same reason: its reading for its kind kept
    // 13 words of a shop's 394-word page of bike locks (0.8657 -> 0.8667: collection 0.703 ->
    // 0.716, 8 pages better and 3 worse; folds +0.002, -0.001, +0.003, 0, +0.002; read
    // with none of the rules, 0.698).
    let mut found = r.metadata.page_type.clone();
    // A page that says it is a thread is one, whatever its address and layout suggest
    // (see `schema::declares_thread`).
    if found.as_deref() != Some("forum") && (redrawn.is_some() || schema::declares_thread(html)) {
        found = Some("forum".into());
    }
    let kind = match found.as_deref() {
        Some("listing") => Some(rs_trafilatura::page_type::PageType::Listing),
        Some("collection") | Some("service") => Some(rs_trafilatura::page_type::PageType::Article),
        Some("forum") => Some(rs_trafilatura::page_type::PageType::Forum),
        _ => None,
    };
    if kind.is_some() {
        opts.page_type = kind;
        // A thread's posts with their authors and dates (see `thread`). (wcxb-dev forum
        // 0.780 -> 0.783: 39 pages change, 23 for the better; the reviewers of the others
        // left authors out. Folds of five: 0, +0.4, +0.2, +0.2, +0.3 per mille.)
        let signed = (found.as_deref() == Some("forum")).then(|| thread::sign_posts(html)).flatten();
        if let Ok(again) = rs_trafilatura::extract_with_options(signed.as_deref().unwrap_or(html), &opts) {
            r = again;
            r.metadata.page_type = found;
        }
        // A thread's posts the reading lacks (see `thread::with_unread_posts`). (wcxb-dev
        // 0.8737 -> 0.8751: forum 0.792 -> 0.810, 7 pages change, all for the better; folds
        // of five +1.5, +1.4, +2.9, +0.8, 0 per mille. The posts' block alone, without the
        // replies apart from the reading: forum 0.802, 4 pages; replies apart on any
        // address: a blog's comments cost one article 0.50.)
        if r.metadata.page_type.as_deref() == Some("forum") {
            thread::with_unread_posts(signed.as_deref().unwrap_or(html), &mut r, &opts);
        }
    }
    // rs-trafilatura can take the wrong block for the content (see `densest`): when its
    // reading holds under half the prose of the densest block, the page is read again
    // from that block alone, as an article, and the longer reading kept. (wcxb-dev 0.860
    // -> 0.866: 23 pages change, 19 for the better; article 0.943 -> 0.949, collection
    // 0.691 -> 0.703, service 0.841 -> 0.850.)
    if let Some(block) = densest::missed_block(html, &r.content_text) {
        let opts = rs_trafilatura::Options { page_type: None, ..opts.clone() };
        if let Ok(again) = rs_trafilatura::extract_with_options(&clean(&block), &opts) {
            if words_in(&again.content_text) > words_in(&r.content_text) {
                let found = r.metadata.page_type.take();
                r = again;
                r.metadata.page_type = found;
            }
        }
    }
    let m = &r.metadata;
    // A carousel's cloned slides, once (see `repeats`).
    let mut text = repeats::drop_repeated_runs(&markdown::tidy_text(&r.content_text), 3);
    // Words that run across inline elements, written together again (see `spacing`).
    text = spacing::respace(&text, &page);
    // rs-trafilatura keeps no HTML for some readings (a listing's cards, a merge of
    // sections), or HTML that holds less than the text (the title alone): their Markdown
    // is the text's (wcxb-dev: 60 of 1,497 pages, 58 of which had no Markdown at all).
    let md = r.content_html.as_deref().and_then(markdown::of).filter(|m| words_in(m) * 2 >= words_in(&text));
    let md = md.unwrap_or_else(|| markdown::of_text_in(html, &text));
    let mut markdown = repeats::drop_repeated_runs(&absolute_links(&md, url), 3);
    // The cards a reading of one block passed over, after it (see `cards`). Not on a
    // thread, whose posts are read as such, nor on a product page (its cards are
    // reviews); after an article read at some length, only cards in its own block.
    // (wcxb-dev 0.869 -> 0.872: 14 pages change, 10 for the better; listing 0.702 ->
    // 0.725, collection 0.722 -> 0.726, article 0.949 -> 0.952; folds of five +3.7, +4.5,
    // +5.5, 0, +1.8 per mille; news unchanged. Cards in a long article's block: 0.872 ->
    // 0.874, 5 pages, 4 better; folds +0.7, 0, +5.0, +2.4, 0; news unchanged.)
    let whole_article = m.page_type.as_deref() == Some("article") && words_in(&text) >= cards::WHOLE_ARTICLE;
    if !matches!(m.page_type.as_deref(), Some("forum" | "product")) {
        for card in cards::missed(html, &text, whole_article) {
            text.push_str("\n\n");
            text.push_str(&card.text);
            markdown.push_str("\n\n");
            markdown.push_str(&absolute_links(&card.markdown, url));
        }
    }
    // A product description the visible page hides (in a tab), from the page's JSON-LD.
    // (Parsing the page again costs milliseconds: only when it has JSON-LD at all.)
    if !text.trim().is_empty() && find_ci(html.as_bytes(), b"ld+json").is_some() {
        let descriptions = schema::product_descriptions(html);
        for d in schema::missing_from(&text, &descriptions) {
            text.push_str("\n\n");
            text.push_str(d);
            markdown.push_str("\n\n");
            markdown.push_str(d);
        }
    }
    // A page that shows nothing but its title has no main content (wcxb-dev: 21 of
    // 1,497 pages have none; the title is all most of them gave).
    let title = m.title.clone().unwrap_or_default();
    if words::only_title(&text, &title) || words::only_title(&text, words::head_title(html)) {
        text.clear();
        markdown.clear();
    }
    Some(Article {
        title,
        byline: m.author.clone().unwrap_or_default(),
        date: m.date.map(|d| d.to_rfc3339()).unwrap_or_default(),
        lang: m.language.clone().unwrap_or_default(),
        page_type: m.page_type.clone().unwrap_or_else(|| "article".into()),
        markdown,
        text,
    })
}

/// A page of `doc`'s head and `inner`, a block of it, as its one article: to be read again
/// from that block alone.
fn block_alone(doc: &dom_query::Document, inner: &str) -> String {
    let head = doc.select("head").html();
    format!("<!DOCTYPE html><html>{head}<body><article>{inner}</article></body></html>")
}

/// How many words a text holds, cut at whitespace.
fn words_in(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Boilerplate rules applied before rs-trafilatura, for what it keeps too often on news
/// pages: ad labels, captions, bylines and dates, "related"/"don't miss" link blocks, tag
/// lists, teaser lists. Each rule removes only short or link-heavy elements, so an
/// article that happens to carry such a class name survives.
pub fn clean(html: &str) -> String {
    clean_doc(dom_query::Document::from(html))
}

/// [`clean`], the page's canonical address (`<link rel=canonical>`, else `og:url`) when it
/// is an absolute http(s) URL, and its text as `spacing` reads it.
fn read_page(html: &str) -> (String, Option<String>, spacing::Page) {
    let doc = dom_query::Document::from(html);
    let page = spacing::Page::of(&doc);
    let canonical = ["link[rel=canonical]", r#"meta[property="og:url"]"#]
        .iter()
        .filter_map(|sel| {
            let n = doc.select(sel);
            let v = n.attr("href").or_else(|| n.attr("content"))?.trim().to_string();
            url::Url::parse(&v).ok().filter(|u| matches!(u.scheme(), "http" | "https")).map(|u| u.to_string())
        })
        .next();
    (clean_doc(doc), canonical, page)
}

fn clean_doc(doc: dom_query::Document) -> String {
    {
        // A page that marks its body up (schema.org `articleBody`) on one element of
        // some length says where the article is: extract from that element alone.
        let marked = doc.select("body [itemprop=articleBody]");
        if marked.length() == 1 && squash_len(&marked.text()) >= 250 {
            return clean(&block_alone(&doc, &marked.inner_html()));
        }
    }
    let link_text = |n: &dom_query::NodeRef| -> usize {
        n.descendants_it()
            .filter(|d| d.is_element() && d.node_name().as_deref() == Some("a"))
            .map(|a| squash(&a.text()).chars().count())
            .sum()
    };
    let mut doomed: Vec<dom_query::NodeId> = vec![];
    let body = doc.select("body");
    for n in body.select("*").nodes() {
        let name = n.node_name().map(|s| s.to_string()).unwrap_or_default();
        if matches!(name.as_str(), "html" | "body" | "main" | "article") {
            continue;
        }
        let text = squash(&n.text());
        let len = text.chars().count();
        let lower = text.to_lowercase();
        // Ad labels.
        if len <= 25 && AD_LABELS.contains(&lower.trim_matches(|c: char| !c.is_alphanumeric() && c != ' ')) {
            doomed.push(n.id);
            continue;
        }
        // Captions and photo credits.
        if (name == "figcaption" || has_token(n, &["caption", "credit", "photo-credit", "image-credit", "wp-caption-text"])) && len < 400 {
            doomed.push(n.id);
            continue;
        }
        // Headed "related" blocks: the heading and the link list after it.
        if len > 0
            && len <= 40
            && matches!(name.as_str(), "h2" | "h3" | "h4" | "h5" | "h6" | "strong" | "b" | "p" | "span" | "div" | "header")
            && n.element_children().len() <= 1
            && RELATED.iter().any(|r| lower.starts_with(r))
        {
            // Climb while the wrapper holds nothing but this heading.
            let mut h = *n;
            while let Some(p) = h.parent() {
                if p.element_children().len() == 1
                    && squash(&p.text()).chars().count() == len
                    && !matches!(p.node_name().as_deref(), Some("body" | "article" | "main"))
                {
                    h = p;
                } else {
                    break;
                }
            }
            if let Some(next) = h.next_element_sibling() {
                let nt = squash(&next.text()).chars().count().max(1);
                if link_text(&next) * 10 >= nt * 6 {
                    doomed.push(next.id);
                }
            }
            doomed.push(h.id);
            continue;
        }
        // Short elements named as boilerplate by their class or id.
        if len < 300 && has_token(n, NOISE) {
            doomed.push(n.id);
            continue;
        }
        // Teaser lists: three or more items that are each essentially one link.
        if matches!(name.as_str(), "ul" | "ol") {
            let items = n.element_children();
            if items.len() >= 3 {
                let linky = items.iter().filter(|li| {
                    let t = squash(&li.text()).chars().count().max(1);
                    link_text(li) * 10 >= t * 8
                });
                if linky.count() * 10 >= items.len() * 8 && !n.ancestors_it(None).any(|a| a.node_name().as_deref() == Some("p")) {
                    doomed.push(n.id);
                    continue;
                }
            }
        }
        // A paragraph that is nothing but a link (an in-article teaser for another
        // story), or a "Read more:" / "See also:" line leading to one.
        if name == "p" && len > 0 {
            let lt = link_text(n);
            if lt * 10 >= len * 9 || (lt * 2 >= len && RELATED.iter().chain(LEADS).any(|r| lower.starts_with(r))) {
                doomed.push(n.id);
                continue;
            }
        }
        // Dates.
        if name == "time" && len < 60 {
            doomed.push(n.id);
            continue;
        }
    }
    for id in doomed {
        let n = dom_query::NodeRef::new(id, &doc.tree);
        n.remove_from_parent();
    }
    {
        // The headline repeated as the first heading.
        let title = squash(&doc.select("title").text()).to_lowercase();
        if let Some(h1) = doc.select("body h1").nodes().first() {
            let h = squash(&h1.text()).to_lowercase();
            if !h.is_empty() && title.contains(&h) {
                h1.remove_from_parent();
            }
        }
    }
    doc.html().to_string()
}

fn squash_len(s: &str) -> usize {
    s.split_whitespace().map(|w| w.chars().count() + 1).sum()
}

const AD_LABELS: &[&str] = &[
    "advertisement",
    "advert",
    "ad",
    "ads",
    "sponsored",
    "sponsored links",
    "sponsored content",
    "publicidade",
    "publicidad",
    "anzeige",
    "werbung",
    "publicité",
    "pubblicità",
    "реклама",
    "광고",
    "広告",
    "iklan",
    "advertisement scroll to continue with content",
];

const RELATED: &[&str] = &[
    "related",
    "explore further",
    "you may also",
    "you might also",
    "also on",
    "also read",
    "also see",
    "see also",
    "read more",
    "read also",
    "more from",
    "more in",
    "more on",
    "more stories",
    "more news",
    "more:",
    "don't miss",
    "don’t miss",
    "recommended",
    "most read",
    "most popular",
    "popular",
    "trending",
    "latest news",
    "top stories",
    "tags",
    "related tags",
    "leia também",
    "leia mais",
    "veja também",
    "lee también",
    "lesen sie auch",
    "mehr zum thema",
    "à lire aussi",
    "leggi anche",
    "关联",
    "相关",
    "関連",
    "관련",
    "читайте также",
    "похожие",
];

/// How teaser lines inside an article start ("READ MORE: …").
const LEADS: &[&str] =
    &["see more", "watch:", "watch more", "listen:", "click here", "also:", "more:", "read:", "( leggi", "(leggi", "leia:", "mais:"];

const NOISE: &[&str] = &[
    "related",
    "related-posts",
    "related-articles",
    "recommended",
    "recommendations",
    "more-stories",
    "tags",
    "tag-list",
    "post-tags",
    "article-tags",
    "byline",
    "author",
    "author-info",
    "dateline",
    "date",
    "timestamp",
    "published",
    "updated",
    "share",
    "sharing",
    "social",
    "share-buttons",
    "newsletter",
    "subscribe",
    "comments",
    "comment-respond",
    "respond",
    "breadcrumb",
    "breadcrumbs",
    "promo",
    "advert",
    "advertisement",
    "ad",
    "ads",
    "sponsored",
];

/// Whether the element's class or id, split into words (at spaces, `-`, `_`), names one
/// of `tokens` whole (`post-tags` matches `tags`; `tagline` does not).
fn has_token(n: &dom_query::NodeRef, tokens: &[&str]) -> bool {
    let mut s = n.class().map(|c| c.to_string()).unwrap_or_default();
    s.push(' ');
    s.push_str(&n.id_attr().map(|c| c.to_string()).unwrap_or_default());
    let s = s.to_lowercase();
    s.split_whitespace().any(|cls| tokens.contains(&cls) || cls.split(['-', '_']).any(|w| tokens.contains(&w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEWS: &str = r#"<!DOCTYPE html><html lang="en"><head><title>Otters return to the river - Daily River</title>
<meta name="author" content="Ada Writer"></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/sport">Sport</a></nav>
<div class="cookie-banner">We use cookies. <button>Accept</button></div>
<main><article>
<h1>Otters return to the river</h1>
<div class="byline">By Ada Writer, 3 March 2025</div>
<p>Otters have returned to the river after an absence of forty years, volunteers counting along the banks said this week, and the survey found at least twelve animals.</p>
<figure><img src="otter.jpg"><figcaption>An otter on the bank. Photo: River Trust</figcaption></figure>
<h2>What changed</h2>
<p>Cleaner water and more fish brought them back, according to the <a href="/reports/2024.html">river trust's annual report</a>, which credits a decade of work on the sewage outfalls upstream.</p>
<ul><li>Twelve otters counted in the spring survey</li><li>Four holts found along the north bank</li><li>Fish stocks up by a third since 2015</li></ul>
<div>Advertisement</div>
<table><tr><th>Year</th><th>Otters</th></tr><tr><td>2015</td><td>0</td></tr><tr><td>2024</td><td>12</td></tr></table>
<p><a href="/news/beavers.html"><strong>BEAVERS ARE BACK TOO: READ THE STORY</strong></a></p>
<p>Volunteers will count again in the autumn, when the young leave the holts and the numbers are easier to judge from the tracks on the mud banks.</p>
<h3>You may also like</h3>
<ul><li><a href="/a">Ten rivers to walk this spring</a></li><li><a href="/b">Kingfishers in the city</a></li><li><a href="/c">How to spot a water vole</a></li></ul>
</article></main>
<footer><p>© Daily River 2025. All rights reserved.</p></footer>
</body></html>"#;

    #[test]
    fn a_page_that_shows_only_its_title_has_no_content() {
        // A script-only shell whose scripts did not run: the head's title is all there is.
        let shell = "<html><head><title>Smartwatches | Garmin</title><script src=\"app.js\"></script></head><body>\n  <div id=\"root\"></div>\n</body></html>";
        let got = article_of(shell, None, "http://shop.example/c/watches");
        assert!(got.is_none(), "{:?}", got.map(|(a, _)| (a.title, a.text)));
        // A page with a body says more than its title, and keeps it.
        let page = "<html><head><title>Smartwatches | Garmin</title></head><body><main><h1>Smartwatches</h1><p>Every Garmin smartwatch tracks your heart rate, sleep and steps, and the newest ones add maps and music for runs without a phone.</p></main></body></html>";
        let (a, _) = article_of(page, None, "http://shop.example/c/watches").expect("content");
        assert!(a.text.contains("heart rate"), "{}", a.text);
    }

    #[test]
    fn keeps_the_article_and_drops_the_boilerplate() {
        let a = article(NEWS, "http://news.example/2025/otters.html").expect("an article");
        for kept in ["absence of forty years", "annual report", "Four holts found", "Volunteers will count again"] {
            assert!(a.text.contains(kept), "lost {kept:?}: {}", a.text);
        }
        for dropped in [
            "We use cookies",
            "Advertisement",
            "Photo: River Trust",
            "BEAVERS ARE BACK",
            "Kingfishers in the city",
            "All rights reserved",
            "Sport",
        ] {
            assert!(!a.text.contains(dropped), "kept {dropped:?}: {}", a.text);
        }
        // Markdown keeps the structure: a heading, the list, the table, absolute links.
        let md = &a.markdown;
        assert!(md.contains("## What changed"), "{md}");
        assert!(md.contains("- Twelve otters counted"), "{md}");
        assert!(md.contains("| Year") && md.contains("| 2024"), "{md}");
        assert!(md.contains("(http://news.example/reports/2024.html)"), "{md}");
        assert_eq!(a.title, "Otters return to the river");
        assert_eq!(a.byline, "Ada Writer");
    }

    #[test]
    fn a_marked_up_article_body_is_trusted() {
        let body = "The council approved the new bridge on Tuesday after a long debate about its cost. ".repeat(5);
        let html = format!(
            r#"<html><head><title>Bridge</title></head><body><div class="wrap"><p>{}</p>
            <div itemprop="articleBody"><p>{body}</p></div>
            <div class="more"><p>Other news: the library opens late on Thursdays this winter, and the pool is closed for repairs until spring.</p></div></div></body></html>"#,
            "Breaking: a long unrelated teaser paragraph about the weather that runs on and on for a while. ".repeat(3)
        );
        let a = article(&html, "http://x.example/bridge").unwrap();
        assert!(a.text.contains("approved the new bridge"), "{}", a.text);
        assert!(!a.text.contains("library opens late") && !a.text.contains("teaser"), "{}", a.text);
    }

    #[test]
    fn class_words_match_whole() {
        let doc = dom_query::Document::from(
            r#"<div id="a" class="post-tags"></div><div id="b" class="tagline"></div><div id="c" class="x" id2="share_bar"></div>"#,
        );
        let one = |sel: &str| doc.select(sel).nodes().first().cloned().unwrap();
        assert!(has_token(&one("#a"), NOISE));
        assert!(!has_token(&one("#b"), NOISE));
        assert!(!has_token(&one("#c"), NOISE));
    }
}
