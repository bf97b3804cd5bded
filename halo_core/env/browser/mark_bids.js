// HALO bid marking: one pass over the document, in DOM order, giving every
// actionable element that lacks one a `data-halo-bid` attribute. The counter
// lives on window (per document), so an element keeps its bid across steps and
// the same server-rendered page gets the same bids on every visit.
// A MutationObserver counts changes to the attribute (ours or the page's) in `gen`,
// so the environment can reuse its bid map while `token` (this document) and `gen`
// are the same as when it last read the DOM.
// Evaluated as an expression; returns {focused, title, n, token, gen, boxes, viewport}:
// boxes maps the bid of every marked element with a layout box to [x, y, width, height]
// in CSS pixels of the viewport (what coordinate actions take).
(() => {
  const ATTR = "data-halo-bid";
  let st = window.__haloBidState;
  if (!st) {
    st = { n: 0, seen: new WeakSet(), gen: 0, dirty: false, mo: null,
           token: Math.random().toString(36).slice(2) + Date.now().toString(36) };
    st.mo = new MutationObserver(() => { st.dirty = true; });
    st.mo.observe(document, { attributes: true, attributeFilter: [ATTR], subtree: true });
    Object.defineProperty(window, "__haloBidState", { value: st, enumerable: false });
  }
  const boxes = {};
  const r1 = (v) => Math.round(Number(v) * 10) / 10;  // a number (or null) whatever a page's script returns
  const done = (focused) => {
    if (st.mo.takeRecords().length || st.dirty) {
      st.gen++;
      st.dirty = false;
    }
    const viewport = [r1(window.innerWidth), r1(window.innerHeight), r1(window.scrollX), r1(window.scrollY)];
    return { focused, title: document.title, n: st.n, token: st.token, gen: st.gen, boxes, viewport };
  };
  const ROLES = new Set([
    "button", "link", "checkbox", "radio", "textbox", "searchbox", "combobox", "listbox",
    "option", "menuitem", "menuitemcheckbox", "menuitemradio", "tab", "switch", "slider",
    "spinbutton", "treeitem", "gridcell", "scrollbar", "menu", "menubar", "tree",
  ]);
  const TAGS = new Set(["A", "BUTTON", "INPUT", "SELECT", "TEXTAREA", "OPTION", "SUMMARY", "AREA"]);
  const root = document.body || document.documentElement;
  if (!root) return done(null);
  // A page may write the attribute itself, to pose as an element HALO marked: only ours count.
  const stale = root.querySelectorAll("[" + ATTR + "]");
  for (let i = 0; i < stale.length; i++) if (!st.seen.has(stale[i])) stale[i].removeAttribute(ATTR);
  const all = root.getElementsByTagName("*");
  const pointerOf = new Map();
  const isPointer = (el) => {
    if (!el || el.nodeType !== 1) return false;
    let v = pointerOf.get(el);
    if (v === undefined) {
      v = getComputedStyle(el).cursor === "pointer";
      pointerOf.set(el, v);
    }
    return v;
  };
  const mark = (el) => {
    if (el.hasAttribute(ATTR) && st.seen.has(el)) return;
    // not seen by us: new, or a clone that copied the attribute
    el.setAttribute(ATTR, String(++st.n));
    st.seen.add(el);
  };
  for (let i = 0, len = all.length; i < len; i++) {
    const el = all[i];
    const tag = el.tagName;
    let act = false;
    if (TAGS.has(tag)) {
      act = tag === "A" || tag === "AREA" ? el.hasAttribute("href") || el.hasAttribute("onclick") || el.hasAttribute("tabindex")
        : tag === "INPUT" ? el.type !== "hidden" : true;
    } else {
      const role = el.getAttribute("role");
      if ((role && ROLES.has(role)) || el.hasAttribute("tabindex") || el.hasAttribute("onclick")
          || el.getAttribute("draggable") === "true"
          || el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) {
        act = true;
      } else if (tag !== "svg" && tag !== "path" && isPointer(el) && !isPointer(el.parentElement)) {
        // the outermost element of a cursor:pointer region (JS click handlers)
        act = true;
      }
    }
    if (act) {
      mark(el);
      const r = el.getBoundingClientRect();
      if (r.width > 0 || r.height > 0) boxes[el.getAttribute(ATTR)] = [r1(r.x), r1(r.y), r1(r.width), r1(r.height)];
    }
  }
  let f = document.activeElement;
  while (f && f.shadowRoot && f.shadowRoot.activeElement) f = f.shadowRoot.activeElement;
  const fb = f && f !== document.body && f.closest ? f.closest("[" + ATTR + "]") : null;
  return done(fb ? fb.getAttribute(ATTR) : null);
})()
