//! The cards of a page that a reading passed over: a blog's index of posts, a catalogue
//! of reviews, a column of news stories.
//!
//! Why it exists: rs-trafilatura reads a page it takes for an article from one block, and
//! a page made of cards (each a heading, a teaser and a link) has no one block that holds
//! them: the reading keeps the intro above the cards and drops the cards (wcxb-dev: a
//! review site's 1,085 words read as 73). rs-trafilatura has a rule for this, for pages
//! it takes for listings only: when its reading is short, it collects repeated sibling
//! elements that each hold 15 words or more, and keeps them when they hold more than
//! twice the reading. This is that rule for pages of other kinds too, with the reading
//! kept and the cards it lacks added after it (`article` says on which pages).
//!
//! Cards are found by structure: sibling elements of one kind (tag and classes), three or
//! more, four in five of them holding 15 words or more. Of such groups, the one with the
//! most words. Not cards: what sits in the page's header, footer, navigation, asides or
//! dialogs (a cookie banner's settings), readers' comments, a form's fields, and menus
//! (three links or more holding most of the words: an archive's months, a footer's
//! columns).
//!
//! A forum thread's posts are found the same way, two or more, comments being its content
//! (`unread_posts`): rs-trafilatura's forum reading can stop at the first post, when the
//! class it looks for first names each post's body (NodeBB's `post-container`).

use dom_query::{Document, NodeRef};

use super::markdown;
use super::spacing::UNSHOWN;

/// The fewest words a card holds (rs-trafilatura's threshold for a listing's items).
const MIN_WORDS: usize = 15;

/// A reading of an article this long takes only cards in its own block (a "best of"
/// list's picks among its paragraphs): cards elsewhere are other stories (a news site's
/// "More" list under a 450-word story cost news 0.970 -> 0.968).
pub(super) const WHOLE_ARTICLE: usize = 300;

/// What a group is looked for as.
#[derive(Clone, Copy, PartialEq)]
enum Of {
    /// Cards: three or more, and not readers' comments.
    Cards,
    /// A thread's posts: two or more (a question and its answer), comments included.
    Posts,
}

impl Of {
    /// The fewest members of a group.
    fn fewest(self) -> usize {
        match self {
            Of::Cards => 3,
            Of::Posts => 2,
        }
    }
}

/// The page's frame: elements a reader does not take for its content (besides those it
/// does not show, `spacing::UNSHOWN`).
const FRAME: &[&str] = &["header", "footer", "nav", "aside"];

/// A card the reading lacks: its text, a line per block, and its Markdown.
pub(super) struct Card {
    pub text: String,
    pub markdown: String,
}

/// The cards of `html` that `text`, a reading of it, lacks, when the page's largest group
/// of cards holds more than twice the reading's words; else none. `within`: only when the
/// cards' parent holds the reading's longest line (see `WHOLE_ARTICLE`).
pub(super) fn missed(html: &str, text: &str, within: bool) -> Vec<Card> {
    let doc = Document::from(html);
    let Some((words, parent, cards)) = largest_group(&doc, Of::Cards) else { return vec![] };
    if words <= 2 * text.split_whitespace().count() {
        return vec![];
    }
    let have: String = text.split_whitespace().collect();
    if within {
        let block: String = parent.text().split_whitespace().collect();
        if !block.contains(&key(text)) {
            return vec![];
        }
    }
    cards
        .into_iter()
        .filter_map(|card| {
            let text = lines_of(&card, Of::Cards);
            // A card the reading holds already (a reading may hold a card's teaser and
            // not its linked title).
            if have.contains(&key(&text)) {
                return None;
            }
            let markdown = markdown::of(&card.html()).filter(|m| !m.trim().is_empty()).unwrap_or_else(|| markdown::of_text(&text));
            Some(Card { text, markdown })
        })
        .collect()
}

/// A thread's posts that a forum reading lacks (see `unread_posts`).
pub(super) struct Unread {
    /// A page of the head and the block that holds the posts, to be read again.
    pub page: String,
    /// Whether that block holds the reading too (a reading of the first post alone), or
    /// lies apart from it (the replies under a post that was read on its own).
    pub around: bool,
}

/// The posts of the thread of `html` that `text`, a forum reading of it, mostly lacks: of
/// the groups of posts, the one with the most words, when the reading holds the longest
/// line of under half of them; else `None`.
pub(super) fn unread_posts(html: &str, text: &str) -> Option<Unread> {
    let doc = Document::from(html);
    let (_, parent, posts) = largest_group(&doc, Of::Posts)?;
    let have: String = text.split_whitespace().collect();
    let held = posts.iter().filter(|p| have.contains(&key(&lines_of(p, Of::Posts)))).count();
    if held * 2 >= posts.len() {
        return None;
    }
    let block: String = parent.text().split_whitespace().collect();
    let around = block.contains(&key(text));
    Some(Unread { page: super::block_alone(&doc, &parent.inner_html()), around })
}

/// What tells where a text is: the start of its longest line, without whitespace.
fn key(text: &str) -> String {
    let longest = text.lines().max_by_key(|l| l.len()).unwrap_or_default();
    longest.split_whitespace().flat_map(str::chars).take(60).collect()
}

/// The group of cards (or posts) with the most words, its parent, and those words.
fn largest_group(doc: &Document, of: Of) -> Option<(usize, NodeRef<'_>, Vec<NodeRef<'_>>)> {
    let mut best: Option<(usize, NodeRef, Vec<NodeRef>)> = None;
    let body = doc.select("body").nodes().first().copied()?;
    let mut stack = vec![body];
    while let Some(parent) = stack.pop() {
        let kids: Vec<NodeRef> = parent.element_children().into_iter().filter(|k| !skipped(k, of)).collect();
        stack.extend(kids.iter().copied());
        if kids.len() < of.fewest() {
            continue;
        }
        let mut kinds: Vec<(String, Vec<NodeRef>)> = vec![];
        for k in &kids {
            let kind = match of {
                Of::Cards => format!("{}.{}", k.node_name().unwrap_or_default(), k.attr("class").unwrap_or_default()),
                Of::Posts => super::thread::kind_of(k),
            };
            match kinds.iter_mut().find(|(c, _)| *c == kind) {
                Some((_, members)) => members.push(*k),
                None => kinds.push((kind, vec![*k])),
            }
        }
        for (kind, members) in kinds.into_iter().filter(|(_, m)| m.len() >= of.fewest()) {
            // A post holds paragraphs; a long post's paragraphs are not posts.
            if of == Of::Posts && kind.split_whitespace().next() == Some("p") {
                continue;
            }
            let counted: Vec<(NodeRef, usize)> = members.iter().map(|m| (*m, words_of(m, of))).collect();
            let cards: Vec<(NodeRef, usize)> =
                counted.iter().copied().filter(|(m, w)| *w >= MIN_WORDS && !asks(m) && !menu(m, *w)).collect();
            if cards.len() < of.fewest() || cards.len() * 5 < members.len() * 4 {
                continue;
            }
            let words = cards.iter().map(|(_, w)| w).sum();
            if best.as_ref().is_none_or(|(b, _, _)| words > *b) {
                best = Some((words, parent, cards.into_iter().map(|(m, _)| m).collect()));
            }
        }
    }
    best
}

/// Whether `n` and what it holds are left out: the page's frame, what it does not show,
/// dialogs (a cookie banner's groups of settings), and, looking for cards, comments.
fn skipped(n: &NodeRef, of: Of) -> bool {
    n.node_name().is_some_and(|name| {
        let name = name.to_ascii_lowercase();
        UNSHOWN.contains(&name.as_str()) || FRAME.contains(&name.as_str())
    }) || n.attr("role").is_some_and(|r| matches!(r.as_ref(), "dialog" | "alertdialog"))
        || n.attr("aria-modal").is_some_and(|m| m.as_ref() == "true")
        || (of == Of::Cards && super::has_token(n, COMMENTS))
}

/// Class and id words of readers' comments: an article's comments repeat like cards, and
/// are not its content.
const COMMENTS: &[&str] = &["comment", "comments", "reply", "replies", "respond", "discussion"];

/// Whether `n` is a menu rather than a card: three links or more that hold over half its
/// words (an archive's months, a footer's columns). A card wrapped in its one link is not.
fn menu(n: &NodeRef, words: usize) -> bool {
    let links: Vec<usize> = n
        .descendants_it()
        .filter(|d| d.node_name().is_some_and(|name| name.as_ref() == "a"))
        .map(|a| a.text().split_whitespace().count())
        .collect();
    links.len() >= 3 && links.iter().sum::<usize>() * 2 > words
}

/// Whether `n` asks for input (a form's fields are not cards to read).
fn asks(n: &NodeRef) -> bool {
    n.descendants_it().any(|d| d.node_name().is_some_and(|name| matches!(name.as_ref(), "input" | "select" | "textarea")))
}

/// The words `n` shows.
fn words_of(n: &NodeRef, of: Of) -> usize {
    let mut words = 0;
    walk(n, of, &mut |step| {
        if let Step::Text(t) = step {
            words += t.split_whitespace().count();
        }
    });
    words
}

/// The text `n` shows, a line per block.
fn lines_of(n: &NodeRef, of: Of) -> String {
    let (mut lines, mut line) = (Vec::<String>::new(), String::new());
    walk(n, of, &mut |step| match step {
        Step::Text(t) => line.push_str(t),
        Step::Block => {
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.is_empty() {
                lines.push(words.join(" "));
            }
            line.clear();
        }
    });
    lines.join("\n")
}

/// What `walk` meets.
enum Step<'a> {
    /// A text node's text.
    Text(&'a str),
    /// Where a block begins or ends.
    Block,
}

/// Calls `step` for each text node `n` shows (as `of` reads it), in order, and where a
/// block begins or ends (and once at the end); without recursion, so a deep page cannot
/// overflow the stack.
fn walk(n: &NodeRef, of: Of, step: &mut dyn FnMut(Step)) {
    // (node, whether it is being left)
    let mut stack = vec![(*n, false)];
    while let Some((node, leaving)) = stack.pop() {
        if node.is_text() {
            step(Step::Text(&node.text()));
            continue;
        }
        if !node.is_element() || skipped(&node, of) {
            continue;
        }
        let block = !super::spacing::is_inline(&node);
        if block {
            step(Step::Block);
        }
        if !leaving {
            stack.push((node, true));
            let kids: Vec<NodeRef> = node.children_it(false).collect();
            stack.extend(kids.into_iter().rev().map(|k| (k, false)));
        }
    }
    step(Step::Block);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn missed_t(html: &str, text: &str) -> Vec<Card> {
        missed(html, text, false)
    }

    const TEASER: &str = "a teaser of some length that says what the review found about the app, and more";

    fn page(cards: usize) -> String {
        let cards: String = (1..=cards)
            .map(|i| format!(r#"<div class="result"><h2><a href="/r/{i}">Review {i}</a></h2><p>Review {i}: {TEASER}.</p></div>"#))
            .collect();
        format!(
            r#"<html><body><header><nav><a href="/">Home</a></nav></header>
            <main><h1>Reviews</h1><p>Our reviews of the best apps.</p><div class="results">{cards}</div></main>
            <footer><div class="f">x</div></footer></body></html>"#
        )
    }

    #[test]
    fn cards_a_short_reading_lacks_are_added_and_those_it_holds_are_not() {
        let html = page(4);
        let found = missed_t(&html, &format!("Reviews\nOur reviews of the best apps.\nReview 2: {TEASER}."));
        let texts: Vec<&str> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        assert_eq!(texts[0], format!("Review 1\nReview 1: {TEASER}."));
        assert!(texts[1].starts_with("Review 3\n"));
        assert!(found[0].markdown.contains("## [Review 1](/r/1)"), "{}", found[0].markdown);
    }

    #[test]
    fn comments_menus_forms_and_dialogs_are_not_cards() {
        let para =
            |i: usize| format!("Reader {i} wrote that the apps were fine but the list should have more games for kids and older phones");
        let links = |i: usize| (0..6).map(|j| format!(r#"<a href="/{i}/{j}">Best apps page {j}</a> "#)).collect::<String>();
        let field = |i: usize| {
            format!(
                r#"<label>Field {i}: the name of the app you want us to review, as it is spelled in its store</label><input name="f{i}">"#
            )
        };
        let groups = [
            format!(
                r#"<div id="comments">{}</div>"#,
                (1..=4).map(|i| format!(r#"<div class="c"><p>{}</p></div>"#, para(i))).collect::<String>()
            ),
            format!(
                r#"<div class="site-links">{}</div>"#,
                (1..=4).map(|i| format!(r#"<div class="col">{}</div>"#, links(i))).collect::<String>()
            ),
            format!(
                r#"<div class="fields">{}</div>"#,
                (1..=4).map(|i| format!(r#"<div class="row">{}</div>"#, field(i))).collect::<String>()
            ),
            format!(
                r#"<div role="dialog">{}</div>"#,
                (1..=4).map(|i| format!(r#"<div class="c"><p>{}</p></div>"#, para(i))).collect::<String>()
            ),
        ];
        for group in groups {
            let html = format!("<html><body><main><h1>Reviews</h1><p>Our reviews.</p>{group}</main></body></html>");
            assert!(missed_t(&html, "Reviews Our reviews.").is_empty(), "taken for cards: {group}");
        }
        // The same paragraphs as cards are cards.
        let cards = (1..=4).map(|i| format!(r#"<div class="c"><p>{}</p></div>"#, para(i))).collect::<String>();
        assert_eq!(missed_t(&format!("<html><body><main>{cards}</main></body></html>"), "Reviews").len(), 4);
    }

    #[test]
    fn after_an_article_read_at_length_only_cards_in_its_own_block_are_added() {
        let story = "The story's one long paragraph, which the reading holds whole, about the city's new parks.";
        let cards =
            (1..=4).map(|i| format!(r#"<div class="pick"><h3>Pick {i}</h3><p>Review {i}: {TEASER}.</p></div>"#)).collect::<String>();
        // A "best of" list whose picks sit among the article's paragraphs.
        let list = format!(r#"<html><body><article><p>{story}</p>{cards}</article></body></html>"#);
        assert_eq!(missed(&list, story, true).len(), 4);
        // Other stories in a block of their own, under the article.
        let more = format!(
            r#"<html><body><article><p>{story}</p></article><section><h2>More</h2><div class="more">{cards}</div></section></body></html>"#
        );
        assert!(missed(&more, story, true).is_empty());
        assert_eq!(missed(&more, story, false).len(), 4);
    }

    fn post(i: usize) -> String {
        format!(
            r#"<div class="post reply"><a href="/u/{i}">user{i}</a><p>Post {i}: {TEASER}, and what the reader thought of it.</p></div>"#
        )
    }

    #[test]
    fn posts_a_reading_mostly_lacks_are_found_comments_included_and_a_reading_of_most_is_left_alone() {
        // Posts classed as replies are posts, where they are not cards.
        let html = format!(r#"<html><body><main><div class="thread">{}</div></main></body></html>"#, (1..=3).map(post).collect::<String>());
        let first = format!("user1\nPost 1: {TEASER}, and what the reader thought of it.");
        let unread = unread_posts(&html, &first).expect("the first post alone lacks the others");
        assert!(unread.around, "the posts' block holds the reading");
        assert!(unread.page.contains("Post 3:") && !unread.page.contains("<main>"), "{}", unread.page);
        let most = (1..=2).map(|i| format!("Post {i}: {TEASER}, and what the reader thought of it.\n")).collect::<String>();
        assert!(unread_posts(&html, &most).is_none());
        // A question and its answer are a thread.
        let two = format!(r#"<html><body><div class="thread">{}</div></body></html>"#, (1..=2).map(post).collect::<String>());
        assert!(unread_posts(&two, "user1").is_some());
    }

    #[test]
    fn replies_apart_from_the_reading_are_told_apart_and_a_posts_paragraphs_are_not_posts() {
        let para = |i: usize| format!("<p>Paragraph {i} of the opening post: {TEASER}.</p>");
        let opening: String = (1..=5).map(para).collect();
        let reading: String = (1..=5).map(|i| format!("Paragraph {i} of the opening post: {TEASER}.\n")).collect();
        let html = format!(
            r#"<html><body><article>{opening}</article><ul class="comments">{}</ul></body></html>"#,
            (1..=3).map(|i| format!("<li>{}</li>", post(i))).collect::<String>()
        );
        // The five paragraphs hold more words than the three replies, and are the reading.
        let unread = unread_posts(&html, &reading).expect("the replies are unread");
        assert!(!unread.around, "the replies' block does not hold the reading");
        assert!(unread.page.contains("Post 1:") && !unread.page.contains("Paragraph 1"), "{}", unread.page);
    }

    #[test]
    fn a_reading_that_holds_half_the_cards_words_or_more_is_left_alone() {
        let html = page(3);
        let long: String = (0..60).map(|i| format!("word{i} ")).collect();
        assert!(missed_t(&html, &long).is_empty());
        // Two cards are not a group, nor are cards of few words.
        assert!(missed_t(&page(2), "Reviews").is_empty());
        let short = page(4).replace(TEASER, "short");
        assert!(missed_t(&short, "Reviews").is_empty());
    }
}
