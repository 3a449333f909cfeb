// The rendered page as HTML for the content extractor: a copy of the live DOM after
// scripts ran, minus what a reader cannot see (display:none, visibility:hidden,
// content-visibility, aria-hidden, zero-area boxes that clip their content: the
// "screen-reader only" idiom) and minus scripts and styles. Open shadow roots are
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
  // Copy element by element so hidden subtrees are never serialised.
  const copy = (src) => {
    const dst = src.cloneNode(false);
    const kids = src.shadowRoot ? [...src.shadowRoot.childNodes, ...src.childNodes] : [...src.childNodes];
    for (const c of kids) {
      if (c.nodeType === 3) { dst.appendChild(c.cloneNode(false)); continue; }
      if (c.nodeType !== 1 || SKIP.has(c.tagName)) continue;
      if (c.tagName === 'SLOT') continue; // the light children it shows are copied as children
      if (!inHead(c) && hidden(c)) continue;
      dst.appendChild(copy(c));
    }
    return dst;
  };
  const root = copy(document.documentElement);
  // Keep the head's metadata (title, meta, JSON-LD) for the extractor's metadata.
  const head = root.querySelector('head');
  if (head) for (const s of document.querySelectorAll('head script[type="application/ld+json"], body script[type="application/ld+json"]')) head.appendChild(s.cloneNode(true));
  const squash = (s) => (s || '').replace(/\s+/g, ' ').trim();
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
