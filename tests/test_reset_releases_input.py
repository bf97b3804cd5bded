"""A reset releases what the last episode held down: keys from ``keyboard_down``, mouse buttons
from ``mouse_down`` (an episode may be cut off between a down and its up).

Both ways a reset can go: a fresh context (the core's default), and the kept context that
MiniWoB turns on (``reuse_context``), where the tab, and the input state Playwright keeps
for it, would otherwise carry over.
"""

from __future__ import annotations

import pytest
from helpers import serve_html

from halo_core.env.browser import BrowserEnvironment
from halo_core.env.chromium import BrowserNotFound, find_chromium
from halo_core.env.protocol import EnvSettings
from halo_core.model import TaskSpec

try:
    find_chromium()
except BrowserNotFound as exc:  # pragma: no cover - depends on the machine
    pytest.skip(str(exc), allow_module_level=True)

PAGE = """<!doctype html><html><head><title>Keys</title><style>body { margin: 0; }</style></head><body>
<input id="field" aria-label="Field" style="position:absolute;left:20px;top:20px;width:200px;height:30px">
<button id="go" style="position:absolute;left:20px;top:100px;width:120px;height:40px">Go</button>
<div id="pad" style="position:absolute;left:300px;top:100px;width:120px;height:120px;background:#ccf">Pad</div>
<script>
window.log = [];
const go = document.getElementById("go");
for (const ev of ["mousedown", "mouseup", "click"]) go.addEventListener(ev, (e) => log.push("go:" + ev + ":" + e.buttons));
document.getElementById("pad").addEventListener("mousemove", (e) => log.push("pad:move:" + e.buttons));
document.getElementById("field").addEventListener("keydown", (e) => log.push("field:" + e.key + (e.shiftKey ? "+shift" : "")));
</script></body></html>"""


@pytest.fixture(scope="module")
def site():
    with serve_html(PAGE) as url:
        yield url


@pytest.fixture(scope="module", params=["fresh context", "kept context"])
def env(request):
    e = BrowserEnvironment(EnvSettings(action_timeout_ms=2000, navigation_timeout_ms=5000, screenshot=False))
    e.reuse_context = request.param == "kept context"
    yield e
    e.close()


def _reset(env, site) -> dict[str, str]:
    raw = env.reset(TaskSpec(id="keys", goal="test", suite="test", start_url=site))
    return {n.name: n.bid for n in raw.axtree if n.bid}


def _state(env) -> dict:
    return env.run_script("() => ({log: window.log, field: document.getElementById('field').value})")


def _steps(env, actions: list[str]) -> None:
    for action in actions:
        raw = env.step(action)
        assert raw.last_action_error == "", (action, raw.last_action_error)


def _same_tab(env, before) -> bool:
    return env.reuse_context and env._active is before


@pytest.mark.parametrize("typing", ["keyboard_type('q')", "keyboard_press('KeyQ')", "press('{field}', 'KeyQ')"])
def test_a_key_held_by_keyboard_down_is_released_by_reset(env, site, typing):
    bids = _reset(env, site)
    _steps(env, [f"click('{bids['Field']}')", "keyboard_down('Shift')", "keyboard_press('KeyA')"])
    assert _state(env)["field"] == "A"  # Shift is held
    tab = env._active
    bids = _reset(env, site)
    assert _same_tab(env, tab) == env.reuse_context  # the kept context really kept its tab
    _steps(env, [f"click('{bids['Field']}')", typing.format(field=bids["Field"])])
    state = _state(env)
    assert state["field"] == "q", state
    assert not any("+shift" in e for e in state["log"]), state


def test_a_mouse_button_held_by_mouse_down_is_released_by_reset(env, site):
    _reset(env, site)
    _steps(env, ["mouse_down(360, 160)"])  # held over the pad, never released
    bids = _reset(env, site)
    _steps(env, ["mouse_move(360, 150)", f"click('{bids['Go']}')"])
    log = _state(env)["log"]
    assert "pad:move:0" in log, log  # no button is down when the pointer moves
    assert [e for e in log if e.startswith("go:")] == ["go:mousedown:1", "go:mouseup:0", "go:click:0"], log
    _steps(env, ["mouse_click(80, 120)"])  # a click at a point works as well
    assert _state(env)["log"][-3:] == ["go:mousedown:1", "go:mouseup:0", "go:click:0"]
