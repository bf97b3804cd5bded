// Init script: marks the page when it opens a window or follows a link into another
// tab, so a step can wait for that tab's (asynchronous) page event instead of missing it;
// and when the document starts to unload (a link, a form post), so a step waits for the
// navigation even when its request is reported late (request interception delays it).

(() => {
  const mark = () => { window.__haloPopup = Date.now(); };
  const open = window.open;
  window.open = function (...args) { mark(); return open.apply(this, args); };
  document.addEventListener('click', (e) => {
    const a = e.target && e.target.closest ? e.target.closest('a[target]') : null;
    if (a && a.target && a.target !== '_self' && a.target !== '_parent' && a.target !== '_top') mark();
  }, true);
  window.addEventListener('beforeunload', () => { window.__haloLeaving = Date.now(); }, true);
})();
