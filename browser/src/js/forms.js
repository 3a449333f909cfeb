// Forms and secret fields, for errand's world (sent with walker.js, before it): what a
// held state-changing request is for, and which fields hold secrets, never recorded and
// drawn as dots in pictures.
(() => {
  if (globalThis.__errandForms) return;
  // What a held state-changing request is for: the form it comes from (by action, or
  // the focused field's form), described by its label, legend, nearest heading and submit
  // button; and the names of the secret fields (password, card, data-secret) to mask.
  function describeSubmit(url, given) {
    const strip = (u) => { try { const x = new URL(u, location.href); return x.origin + x.pathname; } catch (e) { return String(u); } };
    const target = strip(url);
    let form = given || null;
    if (!form) for (const f of document.forms) { if (strip(f.action) === target) { form = f; break; } }
    const ae = document.activeElement;
    if (!form && ae && ae.form) form = ae.form;
    const secretIn = (root) => [...root.querySelectorAll('input')]
      .filter((i) => isSecretField(i))
      .map((i) => i.name).filter(Boolean);
    const clean = (t) => (t || '').replace(/\s+/g, ' ').trim();
    let purpose = '';
    if (form) {
      const parts = [];
      const lb = form.getAttribute('aria-labelledby');
      parts.push(form.getAttribute('aria-label') || (lb && document.getElementById(lb) ? document.getElementById(lb).innerText : ''));
      const legend = form.querySelector('legend');
      if (legend) parts.push(legend.innerText);
      const heads = [...document.querySelectorAll('h1,h2,h3,h4,h5,h6')]
        .filter((h) => form.contains(h) || (h.compareDocumentPosition(form) & Node.DOCUMENT_POSITION_FOLLOWING));
      if (heads.length) parts.push(heads[heads.length - 1].innerText);
      const btn = form.querySelector('button[type=submit],button:not([type]),input[type=submit]');
      const bt = btn ? clean(btn.innerText || btn.value) : '';
      if (bt) parts.push('button "' + bt + '"');
      purpose = parts.map(clean).filter(Boolean).join(' — ');
    }
    return { purpose: purpose.slice(0, 200), secret: secretIn(form || document) };
  }

  // A form being submitted is described at once, through a binding errand installed in
  // this world: while its navigation is held, the page may not answer an evaluation.
  document.addEventListener('submit', (e) => {
    try {
      if (typeof globalThis.__errandSubmitted !== 'function') return;
      const f = e.target;
      const d = describeSubmit(f.action, f);
      d.action = new URL(f.action, location.href).href;
      globalThis.__errandSubmitted(JSON.stringify(d));
    } catch (err) { /* describing is best effort */ }
  }, true);

  // A field whose text errand treats as secret: never recorded, drawn as dots in pictures.
  // Once seen as secret, a field stays secret: a page that turns a password field into a
  // text field when it is focused (onfocus="this.type='text'") does not unmask it.
  const everSecret = new WeakSet();
  function isSecretField(el) {
    if (everSecret.has(el)) return true;
    const secret = (el.tagName === 'INPUT' && (el.type || '').toLowerCase() === 'password') || el.hasAttribute('data-secret') || /^cc-/.test(el.autocomplete || '') ||
      /pass|secret|token|card|cvv|cvc/i.test((el.name || '') + ' ' + (el.id || '') + ' ' + (el.autocomplete || ''));
    if (secret) everSecret.add(el);
    return secret;
  }

  // Before a screenshot: draw every secret field's text as dots (passwords already are),
  // so a recording's pictures never show what was typed there.
  function maskSecrets() {
    let n = 0;
    for (const el of document.querySelectorAll('input, textarea')) {
      if (isSecretField(el) && el.type !== 'password') {
        // Set once: a change would count as the page changing.
        if (el.style.getPropertyValue('-webkit-text-security') !== 'disc') el.style.setProperty('-webkit-text-security', 'disc', 'important');
        n++;
      }
    }
    return n;
  }

  globalThis.__errandForms = { isSecretField, describeSubmit, maskSecrets };
})();
