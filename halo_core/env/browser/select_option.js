// Which options of a <select> the agent means, one index per wanted text (-1: none):
// label first, then value, then a case-insensitive label. Called with
// locator.evaluate(SELECT, [wanted, ...]).
(el, wanted) => {
  if (el.tagName !== 'SELECT') return {error: 'not-select'};
  const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const opts = Array.from(el.options);
  const indexOf = (one) => {
    const w = norm(one);
    let i = opts.findIndex(o => norm(o.label) === w || norm(o.textContent) === w);
    if (i < 0) i = opts.findIndex(o => o.value === one || norm(o.value) === w);
    if (i < 0) i = opts.findIndex(o => norm(o.label).toLowerCase() === w.toLowerCase());
    return i;
  };
  return {indexes: wanted.map(indexOf), multiple: el.multiple, options: opts.map(o => norm(o.label || o.textContent))};
}
