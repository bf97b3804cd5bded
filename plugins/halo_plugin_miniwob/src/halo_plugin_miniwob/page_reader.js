// Helpers the MiniWoB expert uses to read the page as a demonstrator looks at it.
// An element's bid is the one HALO's observation gave it (data-halo-bid, written by
// the observation pass), so the expert acts only on bids the observation shows.
const ATTR = "data-halo-bid";
const bidOf = (el) => {
  if (!el) return null;
  if (el.hasAttribute && el.hasAttribute(ATTR)) return el.getAttribute(ATTR);
  const up = el.closest ? el.closest("[" + ATTR + "]") : null;
  return up ? up.getAttribute(ATTR) : null;
};
const visible = (el) => {
  if (!el || !el.getClientRects || !el.getClientRects().length) return false;
  const st = getComputedStyle(el);
  return st.visibility !== "hidden" && st.display !== "none";
};
const text = (el) => (el ? (el.textContent || "") : "").replace(/\s+/g, " ").trim();
const q = (sel, root) => (root || document).querySelector(sel);
const qa = (sel, root) => Array.from((root || document).querySelectorAll(sel));
const byText = (sel, t, root) => qa(sel, root).filter((el) => text(el) === t);
const labelOf = (input) => text(input.closest("label") || input.parentElement);
