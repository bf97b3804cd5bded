"""Browsers launched at the same moment from several threads each know their own process."""

from __future__ import annotations

import threading

from helpers import serve_html

from halo_core.env.browser import BrowserEnvironment, _chromium_pids
from halo_core.env.protocol import EnvSettings
from halo_core.model import TaskSpec

PAGE = "<title>One</title><button>Go</button>"


def test_threads_launching_together_each_find_and_close_their_own_browser():
    """Each thread drives its own environment (Playwright objects belong to their thread)."""
    n = 3
    launched, first_closed = threading.Barrier(n, timeout=180), threading.Barrier(n, timeout=180)
    pids: dict[int, int | None] = {}
    after: dict[int, str] = {}
    errors: list[BaseException] = []

    def episode(i: int) -> None:
        env = BrowserEnvironment(EnvSettings(action_timeout_ms=5000, navigation_timeout_ms=20000))
        try:
            launched.wait()  # all launch at once
            env.reset(TaskSpec(id=f"t-{i}", goal="g", suite="test", start_url=url))
            pids[i] = env.browser_pid
            launched.wait()
            if i == 0:
                env.close()  # kills its own browser, and only that one
            first_closed.wait()
            if i:
                after[i] = env.step("noop()").title
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
            launched.abort()
            first_closed.abort()
        finally:
            env.close()

    with serve_html(PAGE) as url:
        threads = [threading.Thread(target=episode, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert not errors, errors
        assert None not in pids.values() and len(set(pids.values())) == n
        assert after == {1: "One", 2: "One"}  # closing the first browser left the others working
        assert not set(pids.values()) & _chromium_pids()  # each close killed its own


def test_a_chromium_started_by_someone_else_during_a_launch_is_not_taken_for_ours(monkeypatch):
    """The race made deterministic: another browser-looking child of this process appears
    while ours launches (as another thread's launch would); the session still finds its own."""
    import subprocess
    import sys

    from halo_core.env.browser import session as session_module

    decoys: list[subprocess.Popen] = []
    real_args = session_module.launch_args

    def args_with_a_neighbour():
        decoys.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "chromium-neighbour"]))
        return real_args()

    monkeypatch.setattr(session_module, "launch_args", args_with_a_neighbour)
    env = BrowserEnvironment(EnvSettings(action_timeout_ms=5000, navigation_timeout_ms=20000))
    with serve_html(PAGE) as url:
        try:
            env.reset(TaskSpec(id="t-1", goal="g", suite="test", start_url=url))
            assert decoys and decoys[0].pid in _chromium_pids()  # it does look like one of ours
            assert env.browser_pid not in (None, decoys[0].pid)
            env.close()
            assert decoys[0].poll() is None  # closing our browser left the neighbour alone
        finally:
            env.close()
            for decoy in decoys:
                decoy.kill()
                decoy.wait()
