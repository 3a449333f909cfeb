// errand's in-page half of running Recorder user flows (see userflow.rs). It runs in
// errand's isolated world, beside the walker. Elements found for a flow are kept in a
// small registry and named by number, so the Rust side can chain selector parts, check
// an element again while it waits, and act on it without holding protocol handles.
//
// The query semantics follow the reference runner (@puppeteer/replay 3 on Puppeteer 24,
// which joins a selector's parts with the `>>>>` combinator): each part is applied to
// the previous match's shadow root when it has one, otherwise to the element itself (see
// cssIn); `pierce/` goes through every shadow root; `text/` yields the deepest elements
// whose text contains the query; `xpath/` evaluates with the context node. `aria/` is
// answered by Chromium's own accessibility tree on the Rust side.
(() => {
  if (globalThis.__errandFlow) return;
  const kept = new Map();
  let next = 1;
  const keep = (el) => {
    for (const [k, v] of kept) if (v === el) return k;
    const id = next++;
    kept.set(id, el);
    return id;
  };
  const get = (id) => {
    const el = kept.get(id);
    if (!el) throw new Error('element ' + id + ' is gone');
    return el;
  };

  // Every shadow root under `root`, depth first, `root` first.
  function* roots(root) {
    yield root;
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let n = walker.currentNode; n; n = walker.nextNode()) {
      if (n.shadowRoot) yield* roots(n.shadowRoot);
    }
  }

  const notText = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE']);
  const trivialValue = new Set(['checkbox', 'image', 'radio']);
  // An element's text as a reader of the page finds it: text nodes, form values,
  // and the text of open shadow roots.
  function textOf(node) {
    if (node.nodeType === Node.ELEMENT_NODE && notText.has(node.nodeName)) return '';
    if (node instanceof HTMLSelectElement || node instanceof HTMLTextAreaElement ||
        (node instanceof HTMLInputElement && !trivialValue.has(node.type))) {
      return node.value;
    }
    let s = '';
    for (let c = node.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === Node.TEXT_NODE) s += c.nodeValue || '';
      else if (c.nodeType === Node.ELEMENT_NODE) s += textOf(c);
    }
    if (node.shadowRoot) s += textOf(node.shadowRoot);
    return s;
  }
  // The deepest elements under `root` whose text contains `q`.
  function byText(root, q, out) {
    let found = false;
    for (let c = root.firstChild; c; c = c.nextSibling) {
      if (c.nodeType !== Node.ELEMENT_NODE || notText.has(c.nodeName)) continue;
      if (byText(c.shadowRoot || c, q, out)) found = true;
    }
    if (found) return true;
    const el = root instanceof ShadowRoot ? null : root;
    if (el && el.nodeType === Node.ELEMENT_NODE && textOf(el).includes(q)) {
      out.push(el);
      return true;
    }
    return false;
  }

  // A CSS part as Puppeteer's P-selectors apply it to a context node: one that starts
  // like a type selector (`button`, `div.x`, `*`) looks among the context's descendants;
  // any other (`#id`, `.class`, `[attr]`) must match the context element itself (or what
  // its combinators lead to from there), unless the context has no parent element (the
  // document, a shadow root), where it searches the descendants. So `[".a", ".b"]` finds
  // nothing in light DOM, while `["host", ".b"]` finds `.b` in host's shadow root: what
  // the reference runner does.
  const identStart = /[-\w\P{ASCII}*]/u;
  function cssIn(ctx, q) {
    if ((q[0] && identStart.test(q[0])) || !ctx.parentElement) return Array.from(ctx.querySelectorAll(q));
    const parent = ctx.parentElement;
    const index = Array.prototype.indexOf.call(parent.children, ctx) + 1;
    return Array.from(parent.querySelectorAll(`:scope>:nth-child(${index})${q}`));
  }

  // `locator` is how the reference finds an action's element (Puppeteer locators over
  // P-selectors); without it, how its waitForElement counts (element handles' `$$`:
  // plain querySelectorAll in each context, pierce/ from any context).
  function queryIn(ctx, kind, q, first, locator) {
    switch (kind) {
      case 'css':
        return locator ? cssIn(ctx, q) : Array.from(ctx.querySelectorAll(q));
      case 'pierce': {
        // `:scope >>> q`: from the document, every shadow root; after another part the
        // reference's locators find nothing (`:scope` must then match the context itself).
        if (!first && locator) return [];
        const out = [];
        for (const r of roots(ctx)) for (const el of r.querySelectorAll(q)) if (!out.includes(el)) out.push(el);
        return out;
      }
      case 'xpath': {
        const doc = ctx.ownerDocument || ctx;
        const res = doc.evaluate(q, ctx, null, XPathResult.ORDERED_NODE_SNAPSHOT_TYPE, null);
        const out = [];
        for (let i = 0; i < res.snapshotLength; i++) {
          const n = res.snapshotItem(i);
          const el = n.nodeType === Node.ELEMENT_NODE ? n : n.parentElement;
          if (el && !out.includes(el)) out.push(el);
        }
        return out;
      }
      case 'text': {
        const out = [];
        byText(ctx, q, out);
        return out;
      }
      default:
        throw new Error('unknown selector kind ' + kind);
    }
  }

  // Where a part is looked for: the document for the first part; for later parts the
  // previous match's shadow root when it has one, else the element itself.
  const scope = (id) => (id == null ? document : (get(id).shadowRoot || get(id)));

  const visible = (el) => {
    const style = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return style.visibility !== 'hidden' && r.width > 0 && r.height > 0;
  };
  const formControls = new Set(['BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'OPTION', 'OPTGROUP']);
  const enabled = (el) => !(formControls.has(el.nodeName) && el.hasAttribute('disabled'));
  // For SVG content the viewport test uses the owning <svg>.
  const intersects = (el) => {
    const t = el instanceof SVGElement && el.ownerSVGElement ? el.ownerSVGElement : el;
    const r = t.getBoundingClientRect();
    const w = innerWidth, h = innerHeight;
    return r.width + r.height > 0 && r.right > 0 && r.bottom > 0 && r.left < w && r.top < h;
  };

  globalThis.__errandFlow = {
    // Ids of the elements `q` (of `kind`) finds in each scope (null: the document).
    query(scopes, kind, q, locator) {
      const out = [];
      for (const s of scopes) for (const el of queryIn(scope(s), kind, q, s == null, locator)) out.push(keep(el));
      return [...new Set(out)];
    },
    keep,
    get,
    scopeOf: (id) => scope(id),
    // Everything the action checks wait on, in one call.
    check(id) {
      const el = kept.get(id);
      if (!el || !el.isConnected) return { gone: true };
      const r = el.getBoundingClientRect();
      return { visible: visible(el), enabled: enabled(el), inView: intersects(el), rect: [r.x, r.y, r.width, r.height] };
    },
    scrollIntoView(id) {
      __errand.reveal(get(id));
    },
    // The point to press: `offset` from the top-left of the element's first box (what
    // the reference clicks), or the middle of that box clipped to the viewport.
    point(id, ox, oy) {
      const el = get(id);
      // Arm the walker's check that this document sees the press.
      __errand.armPress();
      const rects = Array.from(el.getClientRects()).filter((r) => r.width * r.height > 0);
      const b = rects[0] || el.getBoundingClientRect();
      if (ox != null && oy != null) return [b.x + ox, b.y + oy];
      const x1 = Math.max(b.left, 0), y1 = Math.max(b.top, 0);
      const x2 = Math.min(b.right, innerWidth), y2 = Math.min(b.bottom, innerHeight);
      return [(x1 + x2) / 2, (y1 + y2) / 2];
    },
    focus(id) {
      get(id).focus();
    },
    // How a `change` step fills this element, clearing what typing would not replace.
    // Returns the kind and, for typeable fields, the text still to type.
    prepareFill(id, value) {
      const el = get(id);
      let kind = 'unknown';
      if (el instanceof HTMLSelectElement) kind = 'select';
      else if (el instanceof HTMLTextAreaElement) kind = 'typeable';
      else if (el instanceof HTMLInputElement) {
        if (el.type === 'checkbox' || el.type === 'radio') kind = 'checkable';
        else kind = ['text', 'url', 'tel', 'search', 'password', 'number', 'email'].includes(el.type) ? 'typeable' : 'other';
      } else if (['checkbox', 'radio', 'switch'].includes(el.getAttribute('role'))) kind = 'checkable';
      else if (el.isContentEditable) kind = 'typeable';
      if (kind === 'checkable') {
        // As Puppeteer's Locator.fill: a checkbox, radio or switch is clicked when its state
        // is mixed or differs from the value's truth (any non-empty text checks it).
        const mixed = el.indeterminate || el.getAttribute('aria-checked') === 'mixed';
        const on = el.checked || el.getAttribute('aria-checked') === 'true';
        return { kind, click: mixed || on !== (value !== '') };
      }
      if (kind !== 'typeable') return { kind };
      // Long values are set at once rather than typed (Puppeteer's typing threshold).
      if (value.length >= 100) return { kind: 'other' };
      const secret = globalThis.__errand && __errand.isSecretField ? __errand.isSecretField(el) : el.type === 'password';
      const editable = el.isContentEditable && !('value' in el);
      const current = editable ? el.innerText : el.value;
      if (current === value) return { kind, type: '', secret };
      if (!current || !value.startsWith(current)) {
        if (editable) el.innerText = ''; else el.value = '';
        el.focus();
        return { kind, type: value, secret };
      }
      // Put the caret after the kept prefix.
      if (editable) { el.innerText = ''; el.innerText = current; } else { el.value = ''; el.value = current; }
      el.focus();
      return { kind, type: value.substring(current.length), secret };
    },
    select(id, value) {
      const el = get(id);
      // selectedIndex, not option.selected = false: unselecting the chosen option of a
      // single select makes the browser choose the first one again.
      const options = Array.from(el.options);
      const at = options.findIndex((o) => o.value === value);
      if (el.multiple) options.forEach((o, i) => (o.selected = i === at));
      else el.selectedIndex = at;
      const hit = at >= 0;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      el.blur();
      el.focus();
      return hit;
    },
    setValue(id, value) {
      const el = get(id);
      el.focus();
      const current = el.isContentEditable ? el.innerText : el.value;
      if (current === value) return;
      if (el.isContentEditable) el.innerText = value; else el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
    },
    scrollElement(id, x, y) {
      const el = get(id);
      el.scrollTop = y;
      el.scrollLeft = x;
    },
    // waitForElement's attribute and property conditions, on every element found.
    matches(ids, attributes, properties) {
      const deep = (want, have) => {
        if (want === have) return true;
        if ((want && !have) || (!want && have)) return false;
        if (!(want instanceof Object) || !(have instanceof Object)) return false;
        return Object.entries(want).every(([k, v]) => deep(v, have[k]));
      };
      for (const id of ids) {
        const el = get(id);
        if (attributes) for (const [k, v] of Object.entries(attributes)) if (el.getAttribute(k) !== v) return false;
        if (properties && !deep(properties, el)) return false;
      }
      return true;
    },
    forget() {
      kept.clear();
    },
  };
})();
