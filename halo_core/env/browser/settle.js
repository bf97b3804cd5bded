// Page settling: resolves once the DOM has been quiet for `quiet` ms (true) or after
// `cap` ms (false). HALO's own bid attribute writes do not count as activity.
// Called with page.evaluate(SETTLE, [quiet, cap]).
([quiet, cap]) => new Promise((resolve) => {
  let quietTimer = null, capTimer = null, obs = null;
  const done = (v) => { if (obs) obs.disconnect(); clearTimeout(quietTimer); clearTimeout(capTimer); resolve(v); };
  const root = document.documentElement;
  if (!root) { resolve(false); return; }
  obs = new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.attributeName === 'data-halo-bid') continue;
      clearTimeout(quietTimer); quietTimer = setTimeout(() => done(true), quiet); return;
    }
  });
  obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  quietTimer = setTimeout(() => done(true), quiet);
  capTimer = setTimeout(() => done(false), cap);
})