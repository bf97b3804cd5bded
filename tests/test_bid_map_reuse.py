"""The environment reuses its bid map while no bid attribute changed, and the result stays what a fresh one gives.

A real Chromium reads a page from a stdlib http.server on 127.0.0.1; the page's own
scripts add elements, rewrite text and tamper with the bid attribute between observations.
"""

from __future__ import annotations

import pytest
from helpers import serve_html

PAGE = ("<html><head><title>Reuse</title></head><body><h1>Shop</h1><p id=msg>hello</p>"
        "<button>One</button><button>Two</button><a href='#x'>Link</a></body></html>")


@pytest.fixture(scope="module")
def site():
    with serve_html(PAGE) as url:
        yield url


@pytest.fixture
def env(monkeypatch):
    from halo_core.env.browser import BrowserEnvironment
    from halo_core.env.browser import environment as envmod
    from halo_core.env.chromium import BrowserNotFound, find_chromium
    from halo_core.env.protocol import EnvSettings

    try:
        find_chromium()
    except BrowserNotFound as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))
    snapshots = []
    real = envmod.bids_from_snapshot

    def counting(snap):
        snapshots.append(1)
        return real(snap)

    monkeypatch.setattr(envmod, "bids_from_snapshot", counting)
    e = BrowserEnvironment(EnvSettings(screenshot=False, navigation_timeout_ms=20000))
    e.snapshots = snapshots
    yield e
    e.close()


def _fresh(env):
    """The observation with the bid map thrown away (read from a new DOM snapshot)."""
    env._bid_maps.clear()
    return env.observe().axtree


def test_bid_map_is_reused_only_while_no_bid_attribute_changed(env, site):
    from halo_core.model import TaskSpec

    first = env.reset(TaskSpec(id="reuse", goal="test", suite="test", start_url=site))
    taken = len(env.snapshots)
    assert sorted(n.name for n in first.axtree if n.bid) == ["Link", "One", "Two"]

    # unchanged page, then new text only: no snapshot, same bids
    assert env.observe().axtree == first.axtree and len(env.snapshots) == taken
    env.run_script("() => { document.getElementById('msg').textContent = 'changed'; }")
    changed = env.observe()
    assert len(env.snapshots) == taken
    assert any(n.name == "changed" for n in changed.axtree)
    assert [n.bid for n in changed.axtree if n.bid] == [n.bid for n in first.axtree if n.bid]

    # a new element is marked: a new snapshot, and its bid is there
    env.run_script("() => { const b = document.createElement('button'); b.textContent = 'Three';"
                   " document.body.appendChild(b); }")
    added = env.observe()
    assert len(env.snapshots) == taken + 1
    assert [n.bid is not None for n in added.axtree if (n.role, n.name) == ("button", "Three")] == [True]
    assert added.axtree == _fresh(env)

    # the page rewrites a bid attribute itself: never served from the old map
    taken = len(env.snapshots)
    env.run_script("() => { document.querySelector('button').setAttribute('data-halo-bid', '77'); }")
    tampered = env.observe()
    assert len(env.snapshots) == taken + 1
    assert tampered.axtree == _fresh(env)
