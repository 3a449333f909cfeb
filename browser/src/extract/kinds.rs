//! Tests of page kinds on small pages written for the purpose: the kind errand detects
//! and what a reader of that kind of page wants kept (every post of a thread, every plan
//! and the FAQ of a pricing page, a product's hidden description, every card of a
//! listing, documentation without its side navigation).

use super::*;

const SERVED: &str = "http://127.0.0.1:8080/page.html";

fn page(name: &str) -> Article {
    let html = match name {
        "forum" => include_str!("fixtures/forum-thread.html"),
        "pricing" => include_str!("fixtures/pricing.html"),
        "product" => include_str!("fixtures/product.html"),
        "listing" => include_str!("fixtures/listing.html"),
        "docs" => include_str!("fixtures/docs.html"),
        "carousel" => include_str!("fixtures/carousel.html"),
        "service-home" => include_str!("fixtures/service-home.html"),
        "article-list" => include_str!("fixtures/article-list.html"),
        "collection" => include_str!("fixtures/collection.html"),
        "review-index" => include_str!("fixtures/review-index.html"),
        "post-container" => include_str!("fixtures/post-container-thread.html"),
        "replies" => include_str!("fixtures/replies-below-post.html"),
        _ => unreachable!(),
    };
    // Served from loopback, as in errand's benchmarks: the kind comes from the page.
    article(html, SERVED).unwrap_or_else(|| panic!("nothing extracted from {name}"))
}

fn has_all(a: &Article, kept: &[&str]) {
    for k in kept {
        assert!(a.text.contains(k), "{} lost {k:?}:\n{}", a.page_type, a.text);
    }
}

fn has_none(a: &Article, dropped: &[&str]) {
    for d in dropped {
        assert!(!a.text.contains(d), "{} kept {d:?}:\n{}", a.page_type, a.text);
    }
}

#[test]
fn a_forum_thread_keeps_every_post_and_drops_the_forum_around_it() {
    let a = page("forum");
    assert_eq!(a.page_type, "forum");
    // The opening post is marked up as the article body (as many forums do): the replies
    // are content too.
    has_all(&a, &["My old boots leak", "waterproof membrane", "dry faster overnight", "report back after a month"]);
    has_none(&a, &["Categories", "Meetups", "Terms", "Log in"]);
    // Each post says who wrote it and when, above its text.
    let lines = ["mossy_rock · 12 Jan 2025", "fellwalker · 12 Jan 2025", "quietpeak · 13 Jan 2025", "mossy_rock · 14 Jan 2025"];
    let at: Vec<usize> = lines.iter().map(|l| a.text.find(l).unwrap_or_else(|| panic!("no {l:?} in:\n{}", a.text))).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "in the thread's order:\n{}", a.text);
    assert!(a.text.find("fellwalker · 12 Jan 2025") < a.text.find("leather boots"), "above the post:\n{}", a.text);
    assert_eq!(a.text.matches("fellwalker").count(), 1, "named once:\n{}", a.text);
}

#[test]
fn a_thread_that_says_it_is_one_is_read_as_a_thread_wherever_it_is_served() {
    // Without its forum-like address, only its schema.org type says it is a thread.
    let thread = include_str!("fixtures/forum-thread.html")
        .replace(r#"<link rel="canonical" href="https://forum.trailtalk.example/t/which-hiking-boots-for-wet-winters/4411">"#, "");
    let micro = thread
        .replace(r#""@type":"DiscussionForumPosting""#, r#""@type":"WebPage""#)
        .replace(r#"<div class="posts">"#, r#"<div class="posts" itemscope itemtype="https://schema.org/DiscussionForumPosting">"#);
    for html in [&thread, &micro] {
        let a = article(html, "http://127.0.0.1:8080/p/4411").expect("a reading");
        assert_eq!(a.page_type, "forum", "{}", a.text);
        has_all(&a, &["My old boots leak", "waterproof membrane", "dry faster overnight", "report back after a month"]);
    }
}

#[test]
fn a_thread_whose_reading_stops_at_the_first_post_gets_every_reply() {
    // Each post's body is in a class rs-trafilatura's forum reading looks for first, and
    // that reading keeps the first post alone.
    let a = page("post-container");
    assert_eq!(a.page_type, "forum");
    has_all(
        &a,
        &["Which Qt version will the new Ubuntu", "ship version 6.4.2 for now", "Thanks, I will see in a while", "I never use the toolkit"],
    );
    has_none(&a, &["Categories", "Log in", "Terms of use", "General and Desktop"]);
    assert!(a.text.find("ship version 6.4.2") < a.text.find("I never use the toolkit"), "in the thread's order:\n{}", a.text);
    assert!(a.markdown.contains("I never use the toolkit"), "{}", a.markdown);
}

#[test]
fn replies_under_a_post_read_alone_are_kept_where_the_address_names_a_forum() {
    let replies = ["Dry your boots upside down", "Wax the seams", "Gaiters made the biggest difference", "waterproof socks"];
    let a = page("replies");
    assert_eq!(a.page_type, "forum");
    has_all(&a, &["My leather boots are three years old", "Should I be doing it more often"]);
    has_all(&a, &replies);
    has_none(&a, &["Communities", "Log in", "Privacy"]);
    // The same page as a blog post whose layout and markup make it a thread: its readers'
    // comments stay out, as its reviewers leave them out.
    let blog = include_str!("fixtures/replies-below-post.html")
        .replace(r#"<link rel="canonical" href="https://forum.trailtalk.example/post/20931">"#, "");
    let a = article(&blog, "https://blog.trailtalk.example/2024/11/boots.html").expect("a reading");
    assert_eq!(a.page_type, "forum");
    has_all(&a, &["My leather boots are three years old", "Should I be doing it more often"]);
    has_none(&a, &replies);
}

#[test]
fn a_pricing_page_keeps_every_plan_and_the_faq() {
    let a = page("pricing");
    assert_eq!(a.page_type, "service");
    has_all(&a, &["$12 per month", "$39 per month", "$99 per month", "Audit trail and approvals", "two months free", "no fees either way"]);
    has_none(&a, &["Customers", "Status"]);
}

#[test]
fn a_service_page_keeps_its_opening_claims_and_figures_with_its_features_and_plans() {
    let a = page("service-home");
    assert_eq!(a.page_type, "service");
    has_all(
        &a,
        &["Marketing that runs while you sleep", "38% more opens", "Twelve minutes to set up", "drag-and-drop editor", "$59 per month"],
    );
    has_none(&a, &["Log in", "Careers"]);
}

#[test]
fn a_product_page_gets_the_description_its_json_ld_holds_and_not_the_recommendations() {
    let a = page("product");
    assert_eq!(a.page_type, "product");
    has_all(&a, &["mesh panel over the instep"]);
    has_none(&a, &["Alpine Liner Sock", "You may also like", "Returns", "Base layers"]);
}

#[test]
fn a_listing_keeps_every_card_and_not_the_filters() {
    let a = page("listing");
    assert!(matches!(a.page_type.as_str(), "listing" | "collection"), "{}", a.page_type);
    for card in ["Pocket Rocket gas stove", "WhisperLite liquid fuel stove", "Titanium alcohol stove"] {
        assert!(a.markdown.contains(&format!("[{card}](http://127.0.0.1:8080/products/")), "lost the card {card:?}:\n{}", a.markdown);
    }
    assert!(a.markdown.contains("$124.95"), "{}", a.markdown);
    has_none(&a, &["Under $50", "$50 to $100", "Tents"]);
}

#[test]
fn an_index_of_reviews_read_as_its_intro_gets_every_card_and_not_the_site_links() {
    // The page is wrapped in a form (as ASP.NET pages are), and rs-trafilatura reads the
    // intro above the cards alone.
    let a = page("review-index");
    has_all(
        &a,
        &["Discover the best mobile apps", "Solitaire Clash: our verdict", "for real cash", "envelopes", "offline maps", "stargazing"],
    );
    has_none(&a, &["Terms of service", "Best free apps"]);
    assert!(a.markdown.contains("[Night Sky: our verdict](http://127.0.0.1:8080/reviews/night-sky)"), "{}", a.markdown);
}

#[test]
fn documentation_keeps_its_code_and_sections_and_not_its_side_navigation() {
    let a = page("docs");
    assert_eq!(a.page_type, "documentation");
    has_all(&a, &["Client::builder().retries(5)", "Only idempotent requests", "Set the retry count to zero"]);
    has_none(&a, &["Installation", "Proxies", "On this page", "License"]);
}

#[test]
fn the_servers_html_is_read_when_scripts_left_the_rendered_page_empty() {
    let sent = include_str!("fixtures/forum-thread.html");
    let shell = "<html><head><title>Trail Talk</title></head><body><div id=app><p>Loading…</p></div></body></html>";
    let (a, view) = article_of(shell, Some(sent), SERVED).expect("an extract");
    assert_eq!(view, View::WithoutScripts);
    assert!(a.text.contains("waterproof membrane"), "{}", a.text);
    // A rendered page that holds the content is read as rendered.
    let (a, view) = article_of(sent, Some(shell), SERVED).expect("an extract");
    assert_eq!(view, View::Rendered);
    assert!(a.text.contains("waterproof membrane"), "{}", a.text);
    // Without the server's HTML, the rendered page is all there is.
    assert_eq!(article_of(sent, None, SERVED).map(|(_, v)| v), Some(View::Rendered));
}

#[test]
fn the_server_reading_wins_when_scripts_lost_words_not_when_the_rendered_reading_left_them_out() {
    // (rendered words, server-reading words, kind, words of the server reading the
    // rendered page does not show) -> the server's reading is used.
    let table = [
        (30, 1200, "article", 1100, true), // hidden until scripts that never ran
        (131, 322, "article", 11, false),  // a sidebar the rendered reading rightly left out
        (131, 322, "article", 70, true),   // half of the extra words are nowhere on the page
        (100, 180, "article", 180, false), // under twice the words: the rendered reading
        (101, 1187, "listing", 2, true),   // a grid the rendered reading missed
        (185, 763, "product", 2, true),
    ];
    for (seen, sent, kind, lost, want) in table {
        assert_eq!(prefer_sent(seen, sent, kind, || lost), want, "{seen} {sent} {kind} {lost}");
    }
    // The words a page shows, for that count: text only, lowercased, entities not decoded.
    let shown = page_words("<h1>Snooze Cruise</h1><script>var hidden = 1</script><p>Most&nbsp;watched</p>");
    assert!(shown.contains("snooze") && shown.contains("cruise") && !shown.contains("hidden"), "{shown:?}");
}

#[test]
fn text_words_counts_what_a_reader_sees_not_scripts_styles_or_comments() {
    assert_eq!(text_words("<p>one two</p><SCRIPT>var a = 'x y z'</script><style>p { x: y }</style><!-- a b c --> three"), 3);
    assert_eq!(text_words("no tags at all"), 4);
    assert_eq!(text_words("<p>unclosed <script>never ends"), 1);
}

#[test]
fn a_cards_heading_is_its_link_and_its_price_a_line_of_its_own() {
    // Each card of the listing is a link around its heading, then its price.
    let md = page("listing").markdown;
    let lines: Vec<&str> = md.lines().collect();
    let at = lines.iter().position(|l| *l == "- ### [Jetboil Flash cooking system](http://127.0.0.1:8080/products/jetboil-flash)");
    let at = at.unwrap_or_else(|| panic!("no linked heading for the card:\n{md}"));
    assert_eq!(lines.get(at + 2).map(|l| l.trim()), Some("$124.95"), "{md}");
    assert!(!md.contains("[]("), "a link with nothing to show:\n{md}");
}

#[test]
fn a_page_nested_thousands_deep_is_read_on_a_small_stack() {
    // tokio's blocking threads, where errand extracts, have 2 MiB of stack.
    let filler = "<p>Words of the article, enough of them to be read as its content.</p>".repeat(20);
    let page = format!(
        "<html><body><article><h1>Deep</h1>{filler}{}<p>The deepest words.</p>{}</article></body></html>",
        "<div>".repeat(30_000),
        "</div>".repeat(30_000)
    );
    let read = std::thread::Builder::new().stack_size(2 << 20).spawn(move || article(&page, SERVED)).map(|t| t.join());
    let a = read.expect("a thread").expect("no overflow").expect("an extract");
    assert!(a.text.contains("The deepest words.") && a.markdown.contains("The deepest words."), "{}", a.text);
}

#[test]
fn a_carousel_that_clones_its_slides_is_read_once() {
    let a = page("carousel");
    for slide in ["four days", "part-time hire", "finally clean"] {
        assert_eq!(a.text.matches(slide).count(), 1, "{slide:?} is not there once:\n{}", a.text);
        assert_eq!(a.markdown.matches(slide).count(), 1, "{slide:?} is not there once in the Markdown:\n{}", a.markdown);
    }
    has_all(&a, &["month-end takes an afternoon", "$15 per month", "$45 per month"]);
}

#[test]
fn an_article_beside_a_list_named_article_list_is_read_from_its_prose() {
    // rs-trafilatura looks for the content by class name first, and a list of other
    // stories called `article-list` wins over the unnamed block that holds the article.
    let html = include_str!("fixtures/article-list.html");
    let cleaned = clean(html);
    let first = rs_trafilatura::extract_with_options(&cleaned, &rs_trafilatura::Options::default()).map(|r| r.content_text);
    assert!(!first.as_deref().unwrap_or_default().contains("rating curve"), "rs-trafilatura now reads it right: {first:?}");
    let a = page("article-list");
    has_all(&a, &["fifteen minutes", "rating curve", "double the speed", "sawtooth pattern"]);
    has_none(&a, &["Six knots", "Tide tables", "Privacy"]);
}

#[test]
fn the_densest_block_overrules_a_reading_only_when_the_reading_missed_most_of_it() {
    let prose = "The weir was rebuilt in spring, and the gauge below it, moved twenty metres downstream, reads a little lower than it did, so old and new figures differ. ".repeat(4);
    let page =
        |around: &str| format!("<html><head><title>t</title></head><body>{around}<div><p>{prose}</p><p>{prose}</p></div></body></html>");
    let plain = page("");
    // A reading that holds the prose stands; one that holds a list of links does not.
    assert!(densest::missed_block(&plain, &prose).is_none());
    let block = densest::missed_block(&plain, "Six knots for the riverbank. Tide tables without tears.");
    assert!(block.is_some_and(|b| b.contains("weir was rebuilt") && b.contains("<title>t</title>")));
    // Too little prose to overrule anything.
    assert!(densest::missed_block("<body><div><p>The weir was rebuilt in spring, twenty metres down.</p></div></body>", "x").is_none());
    // Comments, however long, are not the main content.
    let comments = format!("<html><body><p>Short post.</p><div class=\"comments\"><p>{prose}</p><p>{prose}</p></div></body></html>");
    assert!(densest::missed_block(&comments, "Short post.").is_none());
}

#[test]
fn a_collection_keeps_its_buying_guide_beside_the_grid() {
    let a = page("collection");
    assert_eq!(a.page_type, "collection");
    has_all(&a, &["solid object they cannot cut", "best left where you park", "press the reset button"]);
    has_none(&a, &["Privacy", "Safes"]);
}
