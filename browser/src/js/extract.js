// errand's main-content extractor, run on the rendered DOM in errand's isolated world.
// It scores blocks by visible paragraph text (a Readability-style density score that can
// also use what only a rendered page knows: visibility and layout), keeps the best
// container with its relevant siblings, and writes it out as Markdown.
function () {
  const squash = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const NOISE = /(^|[\s_-])(comment|comments|share|sharing|social|related|promo|advert|ads?|sponsor|cookie|consent|newsletter|subscribe|signup|sidebar|footer|header|nav|menu|breadcrumb|popup|modal|banner|outbrain|taboola|recommend|widget|masthead|byline-share|toolbar|pagination|skip)([\s_-]|$)/i;
  const DROP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'NAV', 'ASIDE', 'FOOTER', 'FORM', 'BUTTON', 'SELECT', 'INPUT', 'TEXTAREA', 'IFRAME', 'SVG', 'svg', 'CANVAS', 'DIALOG']);
  const meta = (sel) => { const m = document.querySelector(sel); return m ? squash(m.getAttribute('content') || m.getAttribute('datetime') || m.textContent) : ''; };

  const visible = (el) => el.checkVisibility ? el.checkVisibility({ visibilityProperty: true }) : true;
  const noisy = (el) => {
    const cls = (typeof el.className === 'string' ? el.className : '') + ' ' + (el.id || '');
    const role = el.getAttribute('role') || '';
    return NOISE.test(cls) || role === 'navigation' || role === 'complementary' || role === 'banner' || role === 'contentinfo' || el.getAttribute('aria-hidden') === 'true';
  };

  // Score candidate containers by the text of their paragraphs.
  const scores = new Map();
  const add = (el, s) => { if (el && el.nodeType === 1) scores.set(el, (scores.get(el) || 0) + s); };
  for (const p of document.querySelectorAll('p, pre, blockquote, li, td, div > br')) {
    const node = p.tagName === 'BR' ? p.parentElement : p;
    if (!node || !visible(node)) continue;
    const t = squash(node.textContent);
    if (t.length < 25) continue;
    let linkLen = 0;
    for (const a of node.querySelectorAll('a')) linkLen += squash(a.textContent).length;
    const density = linkLen / Math.max(1, t.length);
    if (density > 0.5) continue;
    const s = (1 + (t.split(/[,，、]/).length) + Math.min(3, Math.floor(t.length / 100))) * (1 - density);
    add(node.parentElement, s);
    if (node.parentElement) add(node.parentElement.parentElement, s / 2);
    if (node.parentElement && node.parentElement.parentElement) add(node.parentElement.parentElement.parentElement, s / 3);
  }
  let best = null, bestScore = 0;
  for (const [el, s] of scores) {
    if (noisy(el) && el.tagName !== 'ARTICLE' && el.tagName !== 'MAIN') continue;
    let linkLen = 0;
    const t = squash(el.textContent).length || 1;
    for (const a of el.querySelectorAll('a')) linkLen += squash(a.textContent).length;
    const adj = s * (1 - Math.min(0.9, linkLen / t));
    if (adj > bestScore) { best = el; bestScore = adj; }
  }
  const article = document.querySelector('article, [itemprop="articleBody"], main, [role="main"]');
  if (!best && article) best = article;
  // Pages that mark their body up (schema.org articleBody) say where it is.
  const marked = [...document.querySelectorAll('[itemprop="articleBody"]')].filter(visible);
  if (marked.length === 1 && squash(marked[0].textContent).length >= 400) { best = marked[0]; bestScore = scores.get(best) || bestScore; }
  if (!best) best = document.body;
  // Climb when the parent holds much more of the same kind of text (split articles).
  while (best.parentElement && best.parentElement !== document.body) {
    const ps = scores.get(best.parentElement) || 0;
    if (ps > bestScore * 1.3 && !noisy(best.parentElement)) { best = best.parentElement; bestScore = ps; } else break;
  }

  const out = [];
  const inline = (el) => {
    let s = '';
    for (let c = el.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3) { s += c.data.replace(/\s+/g, ' '); continue; }
      if (c.nodeType !== 1 || DROP.has(c.tagName) || !visible(c)) continue;
      const t = c.tagName;
      if (t === 'BR') { s += '  \n'; continue; }
      if (t === 'A') {
        const txt = squash(inline(c));
        const href = c.href || '';
        s += txt && href && !href.startsWith('javascript:') ? '[' + txt + '](' + href + ')' : txt;
        continue;
      }
      if (t === 'STRONG' || t === 'B') { const x = squash(inline(c)); s += x ? '**' + x + '** ' : ''; continue; }
      if (t === 'EM' || t === 'I') { const x = squash(inline(c)); s += x ? '*' + x + '* ' : ''; continue; }
      if (t === 'CODE') { s += '`' + c.textContent + '`'; continue; }
      if (t === 'IMG') continue;
      s += inline(c);
    }
    return s;
  };
  const text = [];
  const block = (el, depth) => {
    for (let c = el.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3) { const t = squash(c.data); if (t) { out.push(t); text.push(t); } continue; }
      if (c.nodeType !== 1 || DROP.has(c.tagName)) continue;
      if (!visible(c)) continue;
      if (c !== best && noisy(c) && squash(c.textContent).length < 2000) continue;
      const t = c.tagName;
      if (/^H[1-6]$/.test(t)) { const x = squash(c.textContent); if (x) { out.push('#'.repeat(+t[1]) + ' ' + x); text.push(x); } continue; }
      if (t === 'P') { const x = squash(inline(c)); if (x) { out.push(x); text.push(squash(c.textContent)); } continue; }
      if (t === 'PRE') { out.push('```\n' + c.textContent.replace(/\n$/, '') + '\n```'); text.push(c.textContent); continue; }
      if (t === 'BLOCKQUOTE') { const x = squash(inline(c)); if (x) { out.push('> ' + x); text.push(squash(c.textContent)); } continue; }
      if (t === 'UL' || t === 'OL') {
        const items = [];
        let i = 1;
        for (const li of c.children) {
          if (li.tagName !== 'LI' || !visible(li)) continue;
          const x = squash(inline(li));
          if (x) { items.push((t === 'OL' ? (i++) + '. ' : '- ') + x); text.push(squash(li.textContent)); }
        }
        if (items.length) out.push(items.join('\n'));
        continue;
      }
      if (t === 'TABLE') {
        const rows = Array.from(c.rows || []).map((r) => Array.from(r.cells).map((td) => squash(td.textContent).replace(/\|/g, '\\|')));
        if (rows.length) {
          const w = Math.max(...rows.map((r) => r.length));
          const line = (r) => '| ' + Array.from({ length: w }, (_, i) => r[i] || '').join(' | ') + ' |';
          out.push([line(rows[0]), '|' + ' --- |'.repeat(w), ...rows.slice(1).map(line)].join('\n'));
          for (const r of rows) text.push(r.join(' '));
        }
        continue;
      }
      block(c, depth + 1);
    }
  };
  block(best, 0);
  const title = meta('meta[property="og:title"]') || squash(document.title);
  const md = out.join('\n\n').replace(/\n{3,}/g, '\n\n').trim();
  return {
    url: location.href,
    title,
    byline: meta('meta[name="author"]') || meta('[rel="author"]') || meta('[itemprop="author"]'),
    date: meta('meta[property="article:published_time"]') || meta('time[datetime]') || meta('meta[name="date"]'),
    lang: document.documentElement.lang || '',
    markdown: md,
    text: text.join('\n'),
  };
}
