// The rendered page as HTML for the content extractor: a copy of the live DOM after
// scripts ran, minus what a reader cannot see (display:none, visibility:hidden,
// content-visibility, aria-hidden, zero-area boxes that clip their content: the
// "screen-reader only" idiom) unless it is a collapsed panel one click opens (an FAQ's
// answers, a closed <details>, a tab), and minus scripts and styles. Open shadow roots are
// inlined so their text counts. The live page is not modified.
function () {
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'LINK', 'IFRAME', 'OBJECT', 'EMBED', 'CANVAS', 'svg', 'SVG']);
  const hidden = (el) => {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: false })) return true;
    if (el.getAttribute('aria-hidden') === 'true' && !el.querySelector('p')) return true;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 && r.height <= 1) {
      const cs = getComputedStyle(el);
      if (cs.overflow === 'hidden' || cs.clip !== 'auto' || cs.clipPath !== 'none') return true;
    }
    return false;
  };
  const inHead = (el) => el.closest('head') !== null;
  // The address a page names as its own says what kind of page it is (a thread, a
  // product) better than where it was served from: of the head's links, that one stays.
  const canonical = (el) => el.tagName === 'LINK' && /(^|\s)canonical(\s|$)/i.test(el.getAttribute('rel') || '');
  const squash = (s) => (s || '').replace(/\s+/g, ' ').trim();
  // A collapsed panel: the answer of an FAQ, a closed <details>, an accordion's section,
  // a tab not shown. A reader opens it with one click on what stands just before it (or
  // on what names it), so it is part of the page's content, unlike a hidden menu (mostly
  // links), a dialog or a popover. (wcxb-dev 0.857 -> 0.860, better on each of 5 folds;
  // service 0.832 -> 0.843, documentation 0.937 -> 0.941; news 0.970 unchanged; measured
  // before the toggle had to be clickable.)
  const collapsed = (el) => {
    if (el.closest('nav, [role=navigation], [role=dialog], [aria-modal=true], [role=menu], [role=tooltip]')) return false;
    // A popover (a disclosure, a tooltip) opens over the page, out of its flow.
    const pos = getComputedStyle(el).position;
    if (pos === 'absolute' || pos === 'fixed') return false;
    const text = squash(el.textContent);
    if (text.length < 40) return false;
    let links = 0;
    for (const a of el.querySelectorAll('a')) links += squash(a.textContent).length;
    if (links * 2 > text.length) return false;
    if (el.getAttribute('role') === 'tabpanel' || el.parentElement?.tagName === 'DETAILS') return true;
    const named = el.getAttribute('aria-labelledby');
    const toggle = (named && document.getElementById(named.split(/\s+/)[0])) || el.previousElementSibling;
    if (!toggle || hidden(toggle)) return false;
    const label = squash(toggle.textContent);
    return label.length > 0 && label.length <= 200 && clickable(toggle);
  };
  // What a reader clicks to open a panel: a control, a heading (an FAQ's question), or
  // whatever the page marks as clickable. Not a "Loading…" placeholder a script was to
  // replace with what it hides.
  const CONTROL = 'button, summary, a, h1, h2, h3, h4, h5, h6, [role=button], [role=tab], [tabindex], [aria-expanded], [aria-controls], [onclick]';
  const clickable = (t) => t.matches(CONTROL) || t.querySelector(CONTROL) !== null || getComputedStyle(t).cursor === 'pointer';
  // Inside a collapsed panel every box is hidden with it: only what is hidden on its own
  // (display:none set on it, a panel inside the panel) is judged again.
  const hiddenInPanel = (el) => getComputedStyle(el).display === 'none' && !collapsed(el);
  // A tag that flows inside a line by default, which a page's style can lay out as a box
  // of its own (a tag chip, a card's price, a table-like row of spans). The extractor
  // keeps words of adjacent inline elements together ("$<b>5</b>" is "$5"), so such a
  // box is set apart with a space in the copy, as it is on the screen (see
  // `extract::spacing`, whose list of inline elements this is).
  const PHRASING = new Set(['A', 'ABBR', 'B', 'BDI', 'BDO', 'BIG', 'CITE', 'CODE', 'DATA', 'DEL', 'DFN', 'EM', 'FONT', 'I', 'INS', 'KBD', 'LABEL', 'MARK', 'NOBR', 'Q', 'S', 'SAMP', 'SMALL', 'SPAN', 'STRIKE', 'STRONG', 'SUB', 'SUP', 'TIME', 'TT', 'U', 'VAR']);
  const apart = (el) => {
    if (!PHRASING.has(el.tagName)) return false;
    const cs = getComputedStyle(el);
    return cs.display !== 'inline' && cs.display !== 'contents' && !/^(pre|break-spaces)/.test(cs.whiteSpace);
  };
  const put = (dst, node, c) => {
    const gap = apart(c);
    if (gap) dst.appendChild(document.createTextNode(' '));
    dst.appendChild(node);
    if (gap) dst.appendChild(document.createTextNode(' '));
  };
  // Copy element by element so hidden subtrees are never serialised.
  const copy = (src, inPanel) => {
    const dst = src.cloneNode(false);
    const kids = src.shadowRoot ? [...src.shadowRoot.childNodes, ...src.childNodes] : [...src.childNodes];
    for (const c of kids) {
      if (c.nodeType === 3) { dst.appendChild(c.cloneNode(false)); continue; }
      if (c.nodeType !== 1 || (SKIP.has(c.tagName) && !canonical(c))) continue;
      if (c.tagName === 'SLOT') continue; // the light children it shows are copied as children
      if (inHead(c)) { dst.appendChild(copy(c, inPanel)); continue; }
      if (inPanel) {
        if (!hiddenInPanel(c)) put(dst, copy(c, true), c);
      } else if (!hidden(c)) {
        put(dst, copy(c, false), c);
      } else if (collapsed(c)) {
        put(dst, copy(c, true), c);
      }
    }
    return dst;
  };
  const root = copy(document.documentElement, false);
  // Keep the head's metadata (title, meta, JSON-LD) for the extractor's metadata.
  const head = root.querySelector('head');
  if (head) for (const s of document.querySelectorAll('head script[type="application/ld+json"], body script[type="application/ld+json"]')) head.appendChild(s.cloneNode(true));
  const meta = (sel) => { const m = document.querySelector(sel); return m ? squash(m.getAttribute('content') || m.getAttribute('datetime') || m.textContent) : ''; };
  return {
    url: location.href,
    html: '<!DOCTYPE html>\n' + root.outerHTML,
    title: meta('meta[property="og:title"]') || squash(document.title),
    byline: meta('meta[name="author"]') || meta('[rel="author"]') || meta('[itemprop="author"]'),
    date: meta('meta[property="article:published_time"]') || meta('time[datetime]') || meta('meta[name="date"]'),
    lang: document.documentElement.lang || '',
    // Whether the server's HTML for this document is still what the page shows the
    // address of: an HTML document not moved since it loaded (pushState, a fragment).
    sent: document.contentType === 'text/html'
      && ((performance.getEntriesByType('navigation')[0] || {}).name || '').split('#')[0] === location.href.split('#')[0],
  };
}
