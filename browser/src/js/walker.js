// errand's in-page walker. It runs in an isolated world of each frame (Page.createIsolatedWorld),
// so the page's own scripts cannot see it, call it or forge its registry: the DOM is shared,
// the JavaScript globals are not. One walk lists every visible interactive element with a
// numeric id that stays attached to the same DOM node (WeakMap) for as long as the document
// lives, plus a trimmed text outline. Rust turns the ids into public refs (e12, f1e3).
(() => {
  if (globalThis.__errand) return;
  // forms.js, sent before this file.
  const { isSecretField, describeSubmit, maskSecrets } = globalThis.__errandForms;
  const ids = new WeakMap();
  const els = new Map();
  let next = 1;
  let lastMutation = performance.now();
  try {
    new MutationObserver(() => { lastMutation = performance.now(); })
      .observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  } catch (e) {}
  // Short timers of the page's, as errand's timer watch in the page's world reports them
  // (timers.js): while one is pending the page may be about to change (what a timer
  // changes in the DOM is seen by the observer above).
  let timers = false;
  let ownScroll = 0;
  try {
    addEventListener('__ERRAND_TIMERS__1', () => { timers = true; }, true);
    addEventListener('__ERRAND_TIMERS__0', () => { timers = false; }, true);
    // Scrolling changes what shows without changing the DOM. errand's own scroll of the
    // page counts from when it is made (scrollBy): the one scroll event it dispatches in
    // the next frame is not a second change (what its handlers change, start or set off
    // for later is seen as any other change).
    addEventListener('scroll', () => {
      if (ownScroll && performance.now() - ownScroll < 100) { ownScroll = 0; return; }
      lastMutation = performance.now();
    }, { capture: true, passive: true });
  } catch (e) {}

  const INTERACTIVE_ROLES = new Set(['button', 'link', 'checkbox', 'radio', 'switch', 'tab', 'menuitem',
    'menuitemcheckbox', 'menuitemradio', 'option', 'combobox', 'textbox', 'searchbox', 'slider',
    'spinbutton', 'treeitem', 'listbox', 'gridcell']);
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'svg', 'SVG', 'PATH']);
  const BLOCK = new Set(['P', 'DIV', 'LI', 'TR', 'SECTION', 'ARTICLE', 'BLOCKQUOTE', 'PRE', 'TD', 'TH', 'DD', 'DT',
    'FIGCAPTION', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'HEADER', 'FOOTER', 'MAIN', 'NAV', 'ASIDE', 'FORM',
    'TABLE', 'UL', 'OL', 'DL', 'BR', 'HR', 'LABEL', 'FIELDSET', 'LEGEND', 'DETAILS', 'SUMMARY']);

  const idOf = (el) => {
    let id = ids.get(el);
    if (!id) { id = next++; ids.set(el, id); els.set(id, new WeakRef(el)); }
    return id;
  };
  const squash = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

  function roleOf(el) {
    const explicit = (el.getAttribute('role') || '').split(' ')[0];
    if (explicit && INTERACTIVE_ROLES.has(explicit)) return explicit;
    // role="presentation" on a link does not make it unclickable: fall back to the tag.
    return implicitRole(el) || explicit;
  }

  function implicitRole(el) {
    const t = el.tagName;
    switch (t) {
      case 'A': case 'AREA': return el.hasAttribute('href') ? 'link' : '';
      case 'BUTTON': return 'button';
      case 'SELECT': return (el.multiple || el.size > 1) ? 'listbox' : 'combobox';
      case 'TEXTAREA': return 'textbox';
      case 'SUMMARY': return 'button';
      case 'OPTION': return 'option';
      case 'IFRAME': case 'FRAME': return 'iframe';
      case 'INPUT': {
        const ty = (el.getAttribute('type') || 'text').toLowerCase();
        switch (ty) {
          case 'hidden': return '';
          case 'checkbox': return 'checkbox';
          case 'radio': return 'radio';
          case 'button': case 'submit': case 'reset': case 'image': return 'button';
          case 'range': return 'slider';
          case 'number': return 'spinbutton';
          case 'search': return 'searchbox';
          case 'file': return 'button';
          default: return el.hasAttribute('list') ? 'combobox' : 'textbox';
        }
      }
    }
    if (el.hasAttribute('contenteditable') && el.isContentEditable && (!el.parentElement || !el.parentElement.isContentEditable)) return 'textbox';
    return '';
  }

  function byIds(el, attr) {
    const v = el.getAttribute(attr);
    if (!v) return '';
    const root = el.getRootNode();
    return v.split(/\s+/).map((id) => {
      const r = root.getElementById ? root.getElementById(id) : document.getElementById(id);
      return r ? r.textContent : '';
    }).join(' ');
  }

  function nameOf(el, role) {
    let n = squash(byIds(el, 'aria-labelledby')) || squash(el.getAttribute('aria-label'));
    if (n) return n;
    const t = el.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA' || t === 'SELECT') {
      const ty = (el.type || '').toLowerCase();
      if (ty === 'submit' || ty === 'button' || ty === 'reset') return squash(el.value) || (ty === 'submit' ? 'Submit' : ty);
      if (ty === 'image') return squash(el.alt) || 'Submit';
      if (el.labels && el.labels.length) {
        n = squash(Array.from(el.labels).map((l) => l.textContent).join(' '));
        if (n) return n;
      }
      return squash(el.getAttribute('placeholder')) || squash(el.getAttribute('title')) || squash(el.getAttribute('name'));
    }
    if (t === 'IFRAME' || t === 'FRAME') return squash(el.getAttribute('title')) || squash(el.getAttribute('name'));
    const tc = el.textContent;
    n = squash(tc.length > 400 ? tc.slice(0, 400) : tc);
    if (!n) {
      const img = el.querySelector && el.querySelector('img[alt],[aria-label]');
      if (img) n = squash(img.getAttribute('alt') || img.getAttribute('aria-label'));
    }
    if (!n && t === 'IMG') n = squash(el.alt);
    return n || squash(el.getAttribute('title'));
  }

  function stateOf(el, role) {
    const s = [];
    const t = el.tagName;
    if (t === 'INPUT' || t === 'TEXTAREA') {
      const ty = (el.type || '').toLowerCase();
      if (ty === 'checkbox' || ty === 'radio') { if (el.checked) s.push('checked'); }
      else if (isSecretField(el)) { if (el.value) s.push('value=••••'); }
      else if (role !== 'button' && el.value) s.push('value=' + JSON.stringify(cut(el.value, 60)));
      if (el.readOnly) s.push('readonly');
      if (el.required) s.push('required');
    } else if (t === 'SELECT') {
      const o = el.selectedOptions && el.selectedOptions[0];
      if (o) s.push('value=' + JSON.stringify(cut(squash(o.textContent), 40)));
    } else if (el.isContentEditable && role === 'textbox') {
      const v = squash(el.textContent);
      if (v) s.push('value=' + JSON.stringify(cut(v, 60)));
    }
    const ac = el.getAttribute('aria-checked');
    if (ac === 'true') s.push('checked');
    const ex = el.getAttribute('aria-expanded');
    if (ex) s.push(ex === 'true' ? 'expanded' : 'collapsed');
    if (el.getAttribute('aria-selected') === 'true') s.push('selected');
    if (el.disabled || el.getAttribute('aria-disabled') === 'true') s.push('disabled');
    return s.join(' ');
  }

  // byCursor: the element shows a pointer cursor that it does not inherit (a click handler
  // the isolated world cannot see directly).
  function isInteractive(el, role, byCursor) {
    if (role && (INTERACTIVE_ROLES.has(role) || role === 'iframe')) return true;
    if (el.hasAttribute('onclick')) return true;
    if (el.tabIndex >= 0 && el.hasAttribute('tabindex') && el.tagName !== 'DIV' && el.tagName !== 'SECTION') return true;
    return byCursor;
  }
  const CURSOR_TAGS = new Set(['DIV', 'SPAN', 'LI', 'IMG', 'I', 'LABEL']);

  // A suspicious-instruction detector for text shown to the model (flagged, never obeyed).
  const INJECTION = /\b(ignore|disregard|forget)\b[^.]{0,40}\b(previous|prior|above|all|your)\b[^.]{0,40}\b(instructions?|prompts?|rules?)\b|\b(you are now|new instructions|system prompt|as an ai (agent|assistant)|assistant:|developer mode)\b/i;

  function snapshot(opts) {
    opts = opts || {};
    const maxText = opts.maxText || 1500;
    const vw = window.innerWidth, vh = window.innerHeight;
    const out = [];
    const text = [];
    let textLen = 0, textMore = 0;
    const flags = [];
    const seen = [];
    let lastBlock = true;

    let spaceBefore = false;
    const pushText = (s, heading, raw) => {
      if (!s) return;
      if (textLen >= maxText) { textMore += s.length; return; }
      if (heading) { text.push('\n' + '#'.repeat(heading) + ' ' + s + '\n'); textLen += s.length + heading + 3; lastBlock = true; return; }
      // Keep inline runs together ("Costs: compared"), as the page shows them.
      const sep = lastBlock ? '\n' : (spaceBefore || /^\s/.test(raw) ? ' ' : '');
      const piece = sep + s;
      spaceBefore = /\s$/.test(raw);
      text.push(piece); textLen += piece.length; lastBlock = false;
    };

    // noText: the text of this subtree is already in the outline (a heading) or is a
    // control's label (a button); only look for interactive elements in it.
    // inInteractive: inside a listed element (its inner spans are not separate targets).
    // parentPointer: whether the parent shows a pointer cursor, when already known.
    function visit(node, hiddenAncestor, noText, inInteractive, parentPointer) {
      for (let c = node.firstChild; c; c = c.nextSibling) {
        if (c.nodeType === 3) {
          if (hiddenAncestor) continue;
          const raw = c.data;
          const t = raw.trim();
          if (!t) continue;
          seen.push(t);
          if (noText) continue;
          if (textLen >= maxText) { textMore += t.length; continue; }
          pushText(squash(t), 0, raw);
          continue;
        }
        if (c.nodeType !== 1) continue;
        const el = c;
        const tag = el.tagName;
        if (SKIP.has(tag)) continue;
        let style = null;
        let rect = null;
        let visible = true;
        if (!el.checkVisibility({ visibilityProperty: true, opacityProperty: false })) {
          // display:none hides the whole subtree; visibility:hidden can be overridden by a
          // descendant, so those are still checked one by one.
          style = getComputedStyle(el);
          if (style.display === 'none' || style.contentVisibility === 'hidden') continue;
          visible = false;
        }
        const role = roleOf(el);
        let pointer;
        let byCursor = false;
        let candidate = role !== '' || el.hasAttribute('onclick') || el.hasAttribute('tabindex');
        if (!candidate && visible && !inInteractive && CURSOR_TAGS.has(tag)) {
          style = style || getComputedStyle(el);
          pointer = style.cursor === 'pointer';
          if (pointer) {
            const p = el.parentElement;
            const pp = parentPointer !== undefined ? parentPointer : (p ? getComputedStyle(p).cursor === 'pointer' : false);
            byCursor = candidate = !pp;
          }
        }
        let listed = false;
        if (candidate && visible) {
          style = style || getComputedStyle(el);
          if (isInteractive(el, role, byCursor) && style.visibility !== 'hidden' && style.pointerEvents !== 'none') {
            rect = el.getBoundingClientRect();
            if (rect.width > 0 && rect.height > 0) {
              const r = role || 'clickable';
              const where = rect.bottom < 0 ? -1 : rect.top > vh ? 1 : (rect.right < 0 || rect.left > vw) ? 2 : 0;
              const item = [idOf(el), r, cut(nameOf(el, r), 80), stateOf(el, r), where,
                Math.round(rect.left), Math.round(rect.top), Math.round(rect.width), Math.round(rect.height)];
              if (r === 'link') {
                const h = el.getAttribute('href') || '';
                item.push(cut(h, 120));
              }
              out.push(item);
              listed = r !== 'iframe';
            }
          }
        }
        if (tag === 'IFRAME' || tag === 'FRAME' || tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') continue;
        let quiet = noText || tag === 'BUTTON';
        const heading = /^H[1-6]$/.test(tag) ? +tag[1] : 0;
        if (heading && visible && !noText) {
          const s = squash(el.textContent);
          if (s) pushText(cut(s, 200), heading, '');
          quiet = true;
        }
        if (BLOCK.has(tag)) lastBlock = true;
        const inner = inInteractive || listed;
        if (el.shadowRoot) visit(el.shadowRoot, !visible, quiet, inner, pointer);
        visit(el, !visible, quiet, inner, pointer);
        if (BLOCK.has(tag)) lastBlock = true;
      }
    }
    if (document.body || document.documentElement) visit(document.body || document.documentElement, false, false, false, undefined);
    // One pass over all visible text for instruction-like passages (cheaper than a regex
    // per text node); each hit is reported with the line it sits in.
    const all = seen.join('\n');
    const re = new RegExp(INJECTION.source, 'gi');
    let m;
    while (flags.length < 5 && (m = re.exec(all))) {
      const start = all.lastIndexOf('\n', m.index) + 1;
      let end = all.indexOf('\n', m.index);
      if (end < 0) end = all.length;
      flags.push(cut(squash(all.slice(start, end)), 160));
      re.lastIndex = end;
    }
    const se = document.scrollingElement || document.documentElement;
    return {
      url: location.href,
      title: document.title,
      scroll: [Math.round(window.scrollX), Math.round(window.scrollY), se ? se.scrollWidth : 0, se ? se.scrollHeight : 0],
      vp: [vw, vh],
      els: out,
      text: text.join('').trim(),
      more: textMore,
      flags,
      ready: document.readyState,
    };
  }

  function get(id) {
    const w = els.get(id);
    const el = w && w.deref();
    if (!el || !el.isConnected) return null;
    return el;
  }

  function cssPath(el) {
    // One selector per shadow tree, outermost first (Puppeteer-style "pierce" chain).
    const chain = [];
    let node = el;
    while (node) {
      const parts = [];
      let cur = node;
      const root = node.getRootNode();
      while (cur && cur.nodeType === 1) {
        if (cur.id && /^[A-Za-z][\w-]*$/.test(cur.id) && root.querySelectorAll('#' + cur.id).length === 1) { parts.unshift('#' + cur.id); break; }
        let sel = cur.tagName.toLowerCase();
        const p = cur.parentElement;
        if (p) {
          const same = Array.from(p.children).filter((c) => c.tagName === cur.tagName);
          if (same.length > 1) sel += ':nth-of-type(' + (same.indexOf(cur) + 1) + ')';
        }
        parts.unshift(sel);
        cur = p;
      }
      chain.unshift(parts.join(' > '));
      node = root instanceof ShadowRoot ? root.host : null;
    }
    return chain;
  }

  function locator(el) {
    const role = roleOf(el) || 'clickable';
    return { css: cssPath(el), role, name: cut(nameOf(el, role), 120), text: cut(squash(el.textContent), 120), tag: el.tagName.toLowerCase() };
  }

  function center(el) {
    const r = el.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height };
  }

  // Whether this document saw a mouse press since the last prepare(): a press aimed at
  // an out-of-process frame can be routed to its parent while the frame's input regions
  // are not ready yet (under load), and must then be sent again.
  // null: no press was aimed here since this document loaded (so none can be missing).
  let pressSeen = null;
  let pressArmed = false;
  function armPress() {
    pressSeen = false;
    if (!pressArmed) {
      window.addEventListener('mousedown', () => { pressSeen = true; }, true);
      pressArmed = true;
    }
  }

  // Bring an element to the middle of its document's view before a point is taken.
  // In the top document that is scrollIntoView. In a frame it is not: scrollIntoView
  // also scrolls the frame's ancestors, and for an out-of-process frame that scroll
  // reaches the parent's process later, so the frame could move after errand measured
  // where it is and the press would land beside its target. A frame scrolls only its
  // own scrollers here; errand brings the frame itself into view from its parent.
  function reveal(el) {
    if (window === window.top) {
      el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
      return;
    }
    const root = document.scrollingElement || document.documentElement;
    for (let p = el.parentElement || el.getRootNode().host; p; p = p.parentElement || p.getRootNode().host) {
      const page = p === root;
      if (!page) {
        const s = getComputedStyle(p);
        if (!/(auto|scroll|overlay)/.test(s.overflowX + s.overflowY)) continue;
      }
      if (p.scrollHeight <= p.clientHeight && p.scrollWidth <= p.clientWidth) continue;
      const r = el.getBoundingClientRect();
      const box = page ? { left: 0, top: 0 } : p.getBoundingClientRect();
      const [w, h] = page ? [innerWidth, innerHeight] : [p.clientWidth, p.clientHeight];
      p.scrollLeft += r.left + r.width / 2 - (box.left + (page ? 0 : p.clientLeft) + w / 2);
      p.scrollTop += r.top + r.height / 2 - (box.top + (page ? 0 : p.clientTop) + h / 2);
    }
  }

  // What is at a point, followed down into open shadow roots from `hit` (what the
  // document found there), stopping at `stop`.
  function inShadow(hit, x, y, stop) {
    while (hit && hit.shadowRoot && hit !== stop) {
      const inner = hit.shadowRoot.elementFromPoint(x, y);
      if (!inner || inner === hit) break;
      hit = inner;
    }
    return hit;
  }

  // A press the browser would not deliver, given in the page instead. Chromium now and
  // then routes every press over an out-of-process frame to the frame's parent, try
  // after try, however long errand waits or redraws (seen under CPU load, right after
  // the frame loaded). The events are the ones a person's press fires, at the same
  // point; they are not trusted events, which a few pages check.
  // `held` is the `buttons` bit of the pressed button, as errand sends it to the browser.
  function synthPress(x, y, button, held, count, mods) {
    const el = inShadow(document.elementFromPoint(x, y), x, y, null);
    if (!el) return false;
    const b = { left: 0, middle: 1, right: 2, back: 3, forward: 4 }[button] ?? 0;
    const base = { bubbles: true, cancelable: true, composed: true, view: window, clientX: x, clientY: y, button: b,
      altKey: !!(mods & 1), ctrlKey: !!(mods & 2), metaKey: !!(mods & 4), shiftKey: !!(mods & 8) };
    const fire = (Kind, type, extra) => el.dispatchEvent(new Kind(type, { ...base, ...extra }));
    for (let n = 1; n <= count; n++) {
      const down = fire(PointerEvent, 'pointerdown', { buttons: held, detail: n, pointerType: 'mouse', isPrimary: true })
        && fire(MouseEvent, 'mousedown', { buttons: held, detail: n });
      if (down && n === 1) {
        const f = el.closest('a[href], button, input, select, textarea, [tabindex], [contenteditable]');
        if (f) f.focus();
      }
      fire(PointerEvent, 'pointerup', { buttons: 0, detail: n, pointerType: 'mouse', isPrimary: true });
      fire(MouseEvent, 'mouseup', { buttons: 0, detail: n });
      if (b === 0) fire(PointerEvent, 'click', { buttons: 0, detail: n, pointerType: 'mouse' });
      else if (b === 1) fire(PointerEvent, 'auxclick', { buttons: 0, detail: n, pointerType: 'mouse' });
      if (b === 0 && n === 2) fire(MouseEvent, 'dblclick', { buttons: 0, detail: 2 });
    }
    if (b === 2) fire(PointerEvent, 'contextmenu', { buttons: 0, detail: 0, pointerType: 'mouse' });
    return true;
  }

  // Scroll into view and check that a click at the centre would land on the element.
  function prepare(id) {
    const el = get(id);
    if (!el) return { stale: true };
    armPress();
    reveal(el);
    const c = center(el);
    if (c.w === 0 || c.h === 0) return { hidden: true, loc: locator(el) };
    const hit = inShadow((el.getRootNode().elementFromPoint || document.elementFromPoint).call(el.getRootNode(), c.x, c.y), c.x, c.y, el);
    const ok = !hit || hit === el || el.contains(hit) || (hit.control === el) || (el.labels && Array.from(el.labels).includes(hit));
    return { x: c.x, y: c.y, w: c.w, h: c.h, ok, cover: ok ? '' : describe(hit), loc: locator(el), disabled: !!el.disabled, role: roleOf(el) };
  }

  function describe(el) {
    if (!el) return '';
    const r = roleOf(el);
    return (r || el.tagName.toLowerCase()) + (el.id ? '#' + el.id : '') + ' "' + cut(nameOf(el, r), 40) + '"';
  }

  function focusForTyping(id, append) {
    const el = get(id);
    if (!el) return { stale: true };
    const t = el.tagName;
    const editable = t === 'TEXTAREA' || (t === 'INPUT' && !['checkbox', 'radio', 'button', 'submit', 'reset', 'image', 'file', 'range', 'color'].includes((el.type || '').toLowerCase())) || el.isContentEditable;
    if (!editable) return { error: 'not a text field: ' + describe(el) };
    if (el.disabled || el.readOnly) return { error: 'the field is disabled or read-only: ' + describe(el) };
    // Decided before focusing: focus handlers may change the field.
    const secret = isSecretField(el);
    el.scrollIntoView({ block: 'center', behavior: 'instant' });
    el.focus();
    if (t === 'INPUT' || t === 'TEXTAREA') {
      if (append) { const n = el.value.length; try { el.setSelectionRange(n, n); } catch (e) {} }
      else { try { el.select(); } catch (e) {} }
    } else {
      const sel = getSelection(); const range = document.createRange();
      range.selectNodeContents(el); if (append) range.collapse(false); sel.removeAllRanges(); sel.addRange(range);
    }
    return { ok: true, loc: locator(el), secret: secret || isSecretField(el), value: '' };
  }

  function valueOf(id) {
    const el = get(id);
    if (!el) return null;
    return el.isContentEditable ? el.textContent : el.value;
  }

  function selectOption(id, value) {
    const el = get(id);
    if (!el) return { stale: true };
    if (el.tagName !== 'SELECT') return { error: 'not a select box: ' + describe(el) };
    if (el.disabled) return { error: 'the select box is disabled' };
    const opts = Array.from(el.options);
    const want = squash(value).toLowerCase();
    const o = opts.find((o) => o.value === value) || opts.find((o) => squash(o.textContent).toLowerCase() === want) || opts.find((o) => squash(o.textContent).toLowerCase().includes(want));
    if (!o) return { error: 'no option "' + value + '"; options are: ' + opts.map((o) => JSON.stringify(squash(o.textContent))).slice(0, 30).join(', ') };
    el.focus();
    o.selected = true;
    el.dispatchEvent(new Event('input', { bubbles: true }));
    el.dispatchEvent(new Event('change', { bubbles: true }));
    return { ok: true, chosen: squash(o.textContent), loc: locator(el) };
  }

  function checked(id) {
    const el = get(id);
    if (!el) return { stale: true };
    const a = el.getAttribute('aria-checked');
    return { checked: a ? a === 'true' : !!el.checked, checkable: el.type === 'checkbox' || el.type === 'radio' || a !== null };
  }

  function find(selector) {
    let el = null;
    try { el = document.querySelector(selector); } catch (e) { return { error: 'bad CSS selector: ' + e.message }; }
    if (!el) {
      // Pierce open shadow roots.
      const stack = [document];
      while (stack.length && !el) {
        const root = stack.pop();
        for (const host of root.querySelectorAll('*')) {
          if (host.shadowRoot) {
            el = host.shadowRoot.querySelector(selector);
            if (el) break;
            stack.push(host.shadowRoot);
          }
        }
      }
    }
    return el ? { id: idOf(el) } : { none: true };
  }

  function findText(text) {
    const want = squash(text).toLowerCase();
    let best = null, bestScore = 1e9;
    const consider = (el) => {
      const r = roleOf(el);
      if (!r && !el.hasAttribute('onclick')) return;
      const n = nameOf(el, r).toLowerCase();
      if (!n.includes(want)) return;
      if (!el.checkVisibility()) return;
      const score = n.length - want.length + (n === want ? -1000 : 0);
      if (score < bestScore) { best = el; bestScore = score; }
    };
    const walk = (root) => {
      for (const el of root.querySelectorAll('a,button,input,select,textarea,summary,[role],[onclick],[contenteditable],label')) consider(el);
      for (const host of root.querySelectorAll('*')) if (host.shadowRoot) walk(host.shadowRoot);
    };
    walk(document);
    return best ? { id: idOf(best) } : { none: true };
  }

  function hasText(text) {
    return (document.body ? document.body.innerText : '').includes(text);
  }

  // How long the DOM has been unchanged, how
  // long ago the document finished loading (0 while it has not), and whether a short timer
  // is pending.
  function quietFor() {
    return [performance.now() - lastMutation, timers];
  }

  function scrollBy(dy) {
    const before = window.scrollY;
    window.scrollBy({ top: dy, behavior: 'instant' });
    if (window.scrollY !== before) ownScroll = lastMutation = performance.now();
    return { moved: Math.round(window.scrollY - before), y: Math.round(window.scrollY) };
  }

  function scrollTo(id) {
    const el = get(id);
    if (!el) return { stale: true };
    el.scrollIntoView({ block: 'center', behavior: 'instant' });
    return { ok: true, loc: locator(el) };
  }

  globalThis.__errand = { snapshot, maskSecrets, isSecretField, armPress, reveal, synthPress, pressed: () => pressSeen, describeSubmit, get, prepare, locator: (id) => { const e = get(id); return e ? locator(e) : null; },
    locatorOf: locator, idOf, focusForTyping, valueOf, selectOption, checked, find, findText, hasText, quietFor,
    scrollBy, scrollTo, describe, known: (el) => ids.has(el) };
})();
