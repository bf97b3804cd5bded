"""A kept browser context (MiniWoB's ``reuse_context``) forgets every kind of state an
episode can leave behind, one test per kind: the next episode sees what a fresh context sees."""

import pytest

from halo_core.env.protocol import EnvSettings
from halo_plugin_miniwob import MiniwobSuite

SUITE = MiniwobSuite()
TASKS = [SUITE.resolve(t) for t in ("miniwob.click-button@5", "miniwob.click-button@6")]

KINDS = {
    "localStorage": ("() => localStorage.setItem('halo', 'leak')", "() => localStorage.getItem('halo')"),
    "sessionStorage": ("() => sessionStorage.setItem('halo', 'leak')", "() => sessionStorage.getItem('halo')"),
    "IndexedDB": ("""async () => { await new Promise((ok, no) => { const r = indexedDB.open('halo-leak', 1);
                    r.onupgradeneeded = () => r.result.createObjectStore('s');
                    r.onsuccess = () => { r.result.close(); ok(); }; r.onerror = () => no(r.error); }); }""",
                  "async () => (await indexedDB.databases()).map(d => d.name).filter(n => n === 'halo-leak')"),
    "Cache Storage": ("async () => { const c = await caches.open('halo-leak');"
                      " await c.put('/halo-leak', new Response('x')); }",
                      "async () => (await caches.keys()).filter(k => k === 'halo-leak')"),
    "window.name": ("() => { window.name = 'leak'; }", "() => window.name"),
    "history": ("() => { for (const h of ['#a', '#b', '#c']) history.pushState({}, '', h); }",
                "() => history.length"),
}


@pytest.fixture(scope="module")
def envs():
    settings = EnvSettings(screenshot=False)
    kept, fresh = SUITE.make_environment(None, settings), SUITE.make_environment(None, settings)
    fresh.reuse_context = False
    yield kept, fresh
    kept.close()
    fresh.close()


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_kept_context_forgets(envs, kind):
    kept, fresh = envs
    leave, read = KINDS[kind]
    fresh.reset(TASKS[1])
    expected = fresh.page.evaluate(read)
    kept.reset(TASKS[0])
    context = kept.context
    kept.page.evaluate(leave)
    assert kept.page.evaluate(read) != expected  # the state is really there
    kept.reset(TASKS[1])
    assert kept.context is context  # kept, not replaced
    assert kept.page.evaluate(read) == expected, kind
