// Forget the element numbering of the agent's page, so the next observation numbers its
// elements from 1 in document order, as on a freshly loaded page: for an environment that
// starts a new episode on the document the last one used. Removes every `data-halo-bid`,
// resets mark_bids.js's counter and gives the document a new token (no cached bid map
// survives). Called as a function; returns true.
() => {
  const ATTR = "data-halo-bid";
  const marked = document.querySelectorAll("[" + ATTR + "]");
  for (let i = 0; i < marked.length; i++) marked[i].removeAttribute(ATTR);
  const st = window.__haloBidState;
  if (st) {
    st.mo.takeRecords();
    st.n = 0;
    st.seen = new WeakSet();
    st.dirty = false;
    st.gen = 0;
    st.token = Math.random().toString(36).slice(2) + Date.now().toString(36);
  }
  return true;
}
