//! Who wrote each post of a forum thread, and when, kept with the post.
//!
//! Why it exists: a reader of a thread weighs a reply by who wrote it and when, but the
//! line that says so looks like boilerplate to rs-trafilatura (short, linked, often in a
//! side column beside the post), so its forum reading keeps the posts' text and drops
//! their authors. Before that reading, each post gets a plain "author · date" paragraph at
//! the top of its body, where the reading keeps it; the name and the date are taken out
//! where the page showed them, so a reading that kept those says them once.
//!
//! Posts are found by structure, not by forum software: sibling elements of one kind
//! (same tag and classes), at least two, each holding a `<time>` and an author (schema.org
//! `author`, a `data-author` attribute, an element whose class names an author or user
//! name, or a link to a user's profile).

use dom_query::{Document, NodeRef};
use rs_trafilatura::page_type::{classify_url, PageType};
use rs_trafilatura::{ExtractResult, Options};

use super::{cards, clean, squash, words_in};

/// A post, its author and its date, each with the element the page shows it in (none for
/// an author named in an attribute).
type Signed<'a> = (NodeRef<'a>, Shown<'a>, Shown<'a>);
type Shown<'a> = (String, Option<NodeRef<'a>>);

/// An author or a date longer than this is a block of text, not a name or a date.
const MAX_LABEL: usize = 40;

/// `html` with an "author · date" paragraph at the top of each post's body, or `None`
/// when it has no thread of posts.
pub(super) fn sign_posts(html: &str) -> Option<String> {
    let doc = Document::from(html);
    let posts = thread(&doc)?;
    for (post, (author, by), (date, at)) in posts {
        let body = body_of(&post);
        // The line says it once: where the page showed them, they go (unless that holds
        // the post's text too).
        for shown in [by, at].into_iter().flatten() {
            if shown.id != post.id && !body.ancestors_it(None).any(|a| a.id == shown.id) && shown.id != body.id {
                shown.remove_from_parent();
            }
        }
        // The line breaks keep rs-trafilatura from running the line into a body that
        // starts with bare text, and the end of one post into the next post's line.
        body.prepend_html("<p><span></span><br></p>");
        body.append_html("<br>");
        if let Some(line) = body.first_element_child().and_then(|p| p.first_element_child()) {
            line.set_text(format!("{author} · {date}"));
        }
    }
    Some(doc.html().to_string())
}

/// `r`, a forum reading of `html`, with the posts of the thread it mostly lacks (see
/// `cards::unread_posts`), read from their block as an article (a forum reading of that
/// block would stop at the first post again). A block that holds the reading replaces it
/// when it reads longer; replies apart from it are added after it, when the page's
/// address (`opts.url`) names a forum: a blog post found to be a thread by its layout
/// keeps its readers' comments out, as its reviewers do.
pub(super) fn with_unread_posts(html: &str, r: &mut ExtractResult, opts: &Options) {
    let Some(unread) = cards::unread_posts(html, &r.content_text) else { return };
    let address_says_forum = opts.url.as_deref().is_some_and(|u| classify_url(u) == PageType::Forum);
    if !unread.around && !address_says_forum {
        return;
    }
    let opts = Options { page_type: Some(PageType::Article), ..opts.clone() };
    let Ok(again) = rs_trafilatura::extract_with_options(&clean(&unread.page), &opts) else { return };
    if unread.around {
        if words_in(&again.content_text) > words_in(&r.content_text) {
            r.content_text = again.content_text;
            r.content_html = again.content_html;
        }
    } else if !again.content_text.trim().is_empty() {
        r.content_text = format!("{}\n\n{}", r.content_text, again.content_text);
        r.content_html = match (r.content_html.take(), again.content_html) {
            (Some(a), Some(b)) => Some(a + &b),
            (a, b) => a.or(b),
        };
    }
}

/// The posts of the page's thread with their authors and dates: of the groups of sibling
/// elements of one kind where most hold a date and an author, the one with the most text.
fn thread<'a>(doc: &'a Document) -> Option<Vec<Signed<'a>>> {
    // Every group with a post in it has a `<time>` in it: the groups are found from the
    // dates up, which costs little on a page of thousands of elements.
    let mut groups: Vec<(NodeRef, String)> = vec![];
    for time in doc.select("body time").nodes() {
        for a in time.ancestors_it(None) {
            let Some(parent) = a.parent() else { break };
            let kind = kind_of(&a);
            if groups.iter().any(|(p, k)| p.id == parent.id && *k == kind) {
                continue;
            }
            let alike = parent.element_children().iter().filter(|c| kind_of(c) == kind).count();
            if alike >= 2 {
                groups.push((parent, kind));
            }
        }
    }
    let mut best: Option<(usize, Vec<Signed>)> = None;
    for (parent, kind) in groups {
        let members: Vec<NodeRef> = parent.element_children().into_iter().filter(|c| kind_of(c) == kind).collect();
        let signed: Vec<Signed> = members.iter().filter_map(|m| Some((*m, author_of(m)?, date_of(m)?))).collect();
        if signed.len() < 2 || signed.len() * 10 < members.len() * 8 {
            continue;
        }
        let text: usize = signed.iter().map(|(m, _, _)| squash(&m.text()).len()).sum();
        if best.as_ref().is_none_or(|(t, _)| text > *t) {
            best = Some((text, signed));
        }
    }
    best.map(|(_, posts)| posts)
}

/// An element's kind, for finding its like among its siblings: its tag and its classes,
/// those with digits left out (`post-4411`, `signature-7865699` name one post).
pub(super) fn kind_of(n: &NodeRef) -> String {
    let mut classes: Vec<String> = n
        .class()
        .map(|c| c.split_whitespace().filter(|t| !t.contains(|c: char| c.is_ascii_digit())).map(str::to_string).collect())
        .unwrap_or_default();
    classes.sort();
    format!("{} {}", n.node_name().as_deref().unwrap_or(""), classes.join(" "))
}

/// Who wrote the post `m`, and where the page shows it.
fn author_of<'a>(m: &NodeRef<'a>) -> Option<Shown<'a>> {
    let all = || std::iter::once(*m).chain(m.descendants_it().filter(|d| d.is_element()));
    // schema.org markup: the author's name.
    for a in all().filter(|d| d.attr("itemprop").is_some_and(|v| v.split_whitespace().any(|p| p == "author"))) {
        let named = a.descendants_it().find(|d| d.attr("itemprop").as_deref() == Some("name"));
        if let Some(n) = named {
            let (name, shown) = match n.attr("content") {
                Some(c) => (squash(&c), None),
                None => (squash(&n.text()), Some(n)),
            };
            if label(&name) {
                return Some((name, shown));
            }
        }
        if let Some(name) = name_in(&a) {
            return Some(name);
        }
    }
    if let Some(name) = all().find_map(|d| d.attr("data-author")).map(|a| squash(&a)).filter(|a| label(a)) {
        return Some((name, None));
    }
    // An element whose class says it holds the author: the name is its link, or its text.
    for a in all().filter(|d| d.class().is_some_and(|c| c.split_whitespace().any(names_author))) {
        if let Some(name) = name_in(&a) {
            return Some(name);
        }
    }
    // A link to the author's profile.
    all().filter(|d| d.node_name().as_deref() == Some("a")).find_map(|a| {
        let href = a.attr("href")?.to_ascii_lowercase();
        let profile = ["/u/", "/user/", "/users/", "/member/", "/members/", "/profile/"].iter().any(|p| href.contains(p));
        Some((squash(&a.text()), Some(a))).filter(|(t, _)| profile && label(t))
    })
}

/// The name an author element shows: its first link with a name's text, or its own text.
fn name_in<'a>(a: &NodeRef<'a>) -> Option<Shown<'a>> {
    let link = a.descendants_it().filter(|d| d.node_name().as_deref() == Some("a")).find(|l| label(&squash(&l.text())));
    let shown = link.unwrap_or(*a);
    Some((squash(&shown.text()), Some(shown))).filter(|(t, _)| label(t))
}

/// Whether a class names the element that holds a post's author: `author`, `username`,
/// `post-author`, `message-userName`, `cAuthorPane_author`.
fn names_author(class: &str) -> bool {
    class
        .split(['-', '_'])
        .any(|w| matches!(w.to_ascii_lowercase().as_str(), "author" | "username" | "poster" | "postername" | "postauthor"))
}

/// When the post `m` was written, and where the page shows it.
fn date_of<'a>(m: &NodeRef<'a>) -> Option<Shown<'a>> {
    m.descendants_it().filter(|d| d.node_name().as_deref() == Some("time")).map(|t| (squash(&t.text()), Some(t))).find(|(t, _)| label(t))
}

/// Where a post's text is: down from the post, into the child that holds most of it,
/// while that child is a box of blocks (not a paragraph, a list or a quote).
fn body_of<'a>(post: &NodeRef<'a>) -> NodeRef<'a> {
    let mut at = *post;
    loop {
        let all = squash(&at.text()).len();
        let Some(most) = at.element_children().into_iter().max_by_key(|c| squash(&c.text()).len()) else { break };
        let boxy = matches!(most.node_name().as_deref(), Some("div" | "section" | "article" | "main" | "td" | "tr" | "tbody" | "table"));
        if !boxy || squash(&most.text()).len() * 10 < all * 6 {
            break;
        }
        at = most;
    }
    at
}

fn label(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_LABEL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_post_gets_its_author_and_date_at_the_top_of_its_body() {
        let html = r#"<html><body><nav><time>Today</time><a href="/u/me">me</a></nav><div class="thread">
            <article class="post post-1"><aside class="post-author"><a href="/u/ann"><img alt=""></a><a href="/u/ann">ann</a> <span>42 posts</span></aside>
              <div class="main"><time datetime="2025-01-12">Jan 12, 2025</time><div class="body"><p>First post, long enough to be a post of its own here.</p><p>More.</p></div></div></article>
            <article class="post post-2"><aside class="post-author"><a href="/u/bo">bo</a></aside>
              <div class="main"><time datetime="2025-01-13">Jan 13, 2025</time><div class="body"><p>A reply.</p></div></div></article>
            </div></body></html>"#;
        let out = sign_posts(html).expect("a thread");
        let doc = Document::from(out.as_str());
        let lines: Vec<String> = doc.select("article").iter().map(|b| b.select("p").first().text().to_string()).collect();
        assert_eq!(lines, vec!["ann · Jan 12, 2025", "bo · Jan 13, 2025"]);
        assert!(doc.select("div.body").first().text().starts_with("ann · Jan 12, 2025"), "in the body, above its text");
        let posts = doc.select("article");
        assert_eq!(
            (posts.select("time").length(), posts.select("a").length()),
            (0, 1),
            "said once: the line replaces the name and the date"
        );
        assert_eq!(doc.select("nav").text().to_string(), "Todayme", "the page around the thread is left alone");
    }

    #[test]
    fn authors_are_read_from_markup_attributes_classes_or_profile_links() {
        let post = |inner: &str| format!(r#"<div class="c">{inner}<time>May 3</time><p>Text</p></div>"#);
        let cases = [
            (r#"<span itemprop="author" itemscope><meta itemprop="name" content="raoul"><a href="/x">raoul (admin)</a></span>"#, "raoul"),
            (r#"<span data-author="kestrel">K</span>"#, "kestrel"),
            (r#"<h3 class="cAuthorPane_author"><a href="/x"></a><strong><a href="/x">Pl45m4</a></strong></h3>"#, "Pl45m4"),
            (r#"<div class="message-userName">whammel</div>"#, "whammel"),
            (r#"<a href="https://forum.example/members/fiveoaks.12/">Fiveoaks</a>"#, "Fiveoaks"),
        ];
        for (inner, want) in cases {
            let html = format!("<body>{}{}</body>", post(inner), post(inner));
            let doc = Document::from(html.as_str());
            let posts = thread(&doc).unwrap_or_else(|| panic!("no thread in {inner}"));
            assert_eq!(posts[0].1 .0, want, "{inner}");
        }
    }

    #[test]
    fn a_page_without_a_thread_is_left_alone() {
        // Dated items with no authors (a news list), and a single signed post.
        let news = r#"<body><ul><li><time>May 1</time><a href="/a">Story one</a></li><li><time>May 2</time><a href="/b">Story two</a></li></ul></body>"#;
        assert!(sign_posts(news).is_none());
        let one = r#"<body><div class="c"><span class="author">ann</span><time>May 3</time><p>Only post</p></div><div class="d"><p>Footer</p></div></body>"#;
        assert!(sign_posts(one).is_none());
    }
}
