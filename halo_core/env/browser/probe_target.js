// Probe and prepare an element for a direct (CDP) click or fill: find it by bid,
// refuse disabled or non-editable targets, scroll it into view and hit-test its
// centre. Applied as PROBE(bid, mode); returns {found, tag, type, disabled, ok, x, y}.
((bid, mode) => {
  const el = document.querySelector('[data-halo-bid="' + bid + '"]');
  if (!el) return {found: false};
  const tag = el.tagName.toLowerCase();
  const type = (el.type || '').toLowerCase();
  const disabled = !!(el.disabled || (el.closest && el.closest('fieldset:disabled') && ['button','input','select','textarea'].includes(tag))
                      || el.getAttribute('aria-disabled') === 'true');
  const out = {found: true, tag, type, disabled, ok: false};
  if (disabled) return out;
  if (mode === 'fill') {
    const textual = ['', 'text', 'search', 'email', 'url', 'tel', 'password', 'number'];
    const editable = (tag === 'input' && textual.includes(type)) || tag === 'textarea' || el.isContentEditable;
    if (!editable || el.readOnly) return out;
  }
  const vis = () => {
    const st = getComputedStyle(el);
    if (st.visibility === 'hidden' || st.display === 'none') return null;
    const rects = el.getClientRects();
    for (const r of rects) if (r.width > 0 && r.height > 0) return r;
    return null;
  };
  let r = vis();
  if (!r) return out;
  const vw = window.innerWidth, vh = window.innerHeight;
  if (r.top < 0 || r.left < 0 || r.bottom > vh || r.right > vw) {
    el.scrollIntoView({block: 'center', inline: 'center', behavior: 'instant'});
    r = vis();
    if (!r) return out;
  }
  const x = Math.min(Math.max(r.left + r.width / 2, 0), vw - 1), y = Math.min(Math.max(r.top + r.height / 2, 0), vh - 1);
  let t = document.elementFromPoint(x, y);
  while (t && t.shadowRoot && t.shadowRoot.elementFromPoint) { const d = t.shadowRoot.elementFromPoint(x, y); if (!d || d === t) break; t = d; }
  const hit = !!t && (t === el || el.contains(t) || (t.control && t.control === el) || (t.closest && t.closest('label') && t.closest('label').control === el));
  if (!hit) return out;
  if (mode === 'fill') {
    el.focus();
    if (el.isContentEditable && tag !== 'input' && tag !== 'textarea') {
      const range = document.createRange(); range.selectNodeContents(el);
      const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
    } else { el.select(); }
    if (document.activeElement !== el) return out;
  }
  out.ok = true; out.x = x; out.y = y;
  return out;
})