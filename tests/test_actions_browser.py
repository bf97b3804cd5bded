"""Every mouse, keyboard, drag and upload action in a real Chromium, on a page made for it.

One browser serves the whole module; each case resets to a fresh copy of the page, runs
the actions and reads back what the page recorded (``window.log``, element state).
"""

from __future__ import annotations

import os

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

# Fixed positions, so coordinates are known without reading the page; each target
# records the events it receives in window.log as "<id>:<event>".
PAGE = """<!doctype html><html><head><title>Pad</title><style>
body { margin: 0; font: 16px sans-serif; }
.box { position: absolute; width: 100px; height: 60px; }
</style></head><body>
<div id="a" class="box" style="left:20px;top:20px;background:#fcc">A</div>
<div id="b" class="box" style="left:200px;top:20px;background:#cfc">B</div>
<div id="knob" class="box" style="left:20px;top:120px;width:40px;height:40px;background:#99f">knob</div>
<div id="src" draggable="true" class="box" style="left:400px;top:20px;background:#ffc">Drag me</div>
<div id="dst" tabindex="0" class="box" style="left:400px;top:200px;background:#cff">Drop here</div>
<p id="text" style="position:absolute;left:20px;top:300px;margin:0;white-space:nowrap">alpha beta gamma delta</p>
<input id="field" aria-label="Field" style="position:absolute;left:20px;top:360px;width:200px">
<input id="file" type="file" aria-label="File" style="position:absolute;left:20px;top:400px">
<button id="hov" style="position:absolute;left:300px;top:360px" onclick="note('hov:click')">Hover me</button>
<script>
window.log = [];
function note(x) { window.log.push(x); }
for (const id of ["a", "b"]) {
  const el = document.getElementById(id);
  for (const ev of ["click", "dblclick", "contextmenu", "mousedown", "mouseup", "mouseover"]) {
    el.addEventListener(ev, () => note(id + ":" + ev));
  }
}
// a knob that follows the pointer while the button is held (the way sliders and sortables do)
const knob = document.getElementById("knob");
let grab = null;
knob.addEventListener("mousedown", e => { grab = [e.clientX - knob.offsetLeft, e.clientY - knob.offsetTop]; });
document.addEventListener("mousemove", e => {
  if (grab) { knob.style.left = (e.clientX - grab[0]) + "px"; knob.style.top = (e.clientY - grab[1]) + "px"; }
});
document.addEventListener("mouseup", () => { grab = null; });
const dst = document.getElementById("dst");
dst.addEventListener("dragover", e => e.preventDefault());
dst.addEventListener("drop", e => { e.preventDefault(); note("dst:drop"); });
// native drag events are not the only way: mouse-driven drop zones see mouseup over them
dst.addEventListener("mouseup", () => note("dst:mouseup"));
const field = document.getElementById("field");
for (const ev of ["keydown", "keyup"]) field.addEventListener(ev, e => note("field:" + ev + ":" + e.key));
document.getElementById("file").addEventListener("change", e => note("file:" + e.target.files[0].name));
document.getElementById("hov").addEventListener("mouseover", () => note("hov:over"));
</script></body></html>"""


@pytest.fixture(scope="module")
def site():
    with serve_html(PAGE) as url:
        yield url


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    uploads = tmp_path_factory.mktemp("uploads")
    (uploads / "cv.txt").write_text("curriculum vitae")
    e = BrowserEnvironment(EnvSettings(action_timeout_ms=2000, navigation_timeout_ms=5000, screenshot=False))
    e.upload_dir = str(uploads)
    yield e
    e.close()


def _bid(raw, name: str) -> str:
    for node in raw.axtree:
        if node.name == name and node.bid:
            return node.bid
    raise AssertionError(f"no element {name!r}")


def _state(env) -> dict:
    return env.run_script("""() => ({
        log: window.log,
        knob: [document.getElementById('knob').offsetLeft, document.getElementById('knob').offsetTop],
        selection: String(window.getSelection()),
        field: document.getElementById('field').value,
        focused: document.activeElement && document.activeElement.id,
    })""")


def _run(env, site, actions: list[str]) -> dict:
    raw = env.reset(TaskSpec(id="pad", goal="test", suite="test", start_url=site))
    bids = {"field": _bid(raw, "Field"), "file": _bid(raw, "File"), "hov": _bid(raw, "Hover me"),
            "src": _bid(raw, "Drag me"), "dst": _bid(raw, "Drop here")}
    for action in actions:
        action = action.format(**bids)
        raw = env.step(action)
        assert raw.last_action_error == "", (action, raw.last_action_error)
    return _state(env)


def _has(*events):
    return lambda s: all(e in s["log"] for e in events)


CASES = {
    "mouse_click hits the element under the point": (
        ["mouse_click(70, 50)"], lambda s: "a:click" in s["log"] and not any(e.startswith("b:") for e in s["log"])),
    "mouse_click with the right button": (["mouse_click(250, 50, 'right')"], _has("b:contextmenu")),
    "mouse_dblclick": (["mouse_dblclick(250, 50)"], _has("b:dblclick")),
    "mouse_move hovers": (["mouse_move(250, 40)"], lambda s: s["log"] == ["b:mouseover"]),
    "mouse_down then mouse_up on another element": (
        ["mouse_down(70, 50)", "mouse_up(250, 50)"],
        lambda s: [e for e in s["log"] if "over" not in e] == ["a:mousedown", "b:mouseup"]),
    "mouse_drag_and_drop moves a pointer-driven knob": (
        ["mouse_drag_and_drop(40, 140, 340, 240)"], lambda s: s["knob"] == [320, 220]),
    "mouse_drag_and_drop over text selects it": (
        ["mouse_drag_and_drop(22, 310, 180, 310)"], lambda s: s["selection"].startswith("alpha beta")),
    "drag_and_drop between elements": (["drag_and_drop('{src}', '{dst}')"], _has("dst:drop")),
    "keyboard_type reaches the focused field": (
        ["focus('{field}')", "keyboard_type('Hi there')"], lambda s: s["field"] == "Hi there"
        and "field:keydown:H" in s["log"]),
    "keyboard_press edits and selects": (
        ["click('{field}')", "keyboard_type('abcd')", "keyboard_press('Backspace')", "keyboard_press('Control+a')",
         "keyboard_press('x')"], lambda s: s["field"] == "x"),
    "keyboard_down and keyboard_up hold a modifier": (
        ["click('{field}')", "keyboard_down('Shift')", "keyboard_press('KeyQ')", "keyboard_up('Shift')",
         "keyboard_press('KeyQ')"], lambda s: s["field"] == "Qq" and "field:keyup:Shift" in s["log"]),
    "keyboard_insert_text sends no key events": (
        ["click('{field}')", "keyboard_insert_text('héllo')"],
        lambda s: s["field"] == "héllo" and not any(e.startswith("field:key") for e in s["log"])),
    "clear empties a field": (["fill('{field}', 'abc')", "clear('{field}')"], lambda s: s["field"] == ""),
    "focus moves focus": (["focus('{field}')"], lambda s: s["focused"] == "field"),
    "hover over an element": (["hover('{hov}')"], lambda s: "hov:over" in s["log"] and "hov:click" not in s["log"]),
    "dblclick an element": (["dblclick('{hov}')"], lambda s: s["log"].count("hov:click") == 2),
    "upload_file from the upload folder": (["upload_file('{file}', 'cv.txt')"], _has("file:cv.txt")),
    "tab_close closes the active tab": (["new_tab()", "tab_close()", "keyboard_type('still here')"],
                                        lambda s: s["log"] == [] and s["field"] == ""),
}


@pytest.mark.parametrize("name", list(CASES))
def test_action_in_chromium(env, site, name):
    actions, check = CASES[name]
    state = _run(env, site, actions)
    assert check(state), state


@pytest.mark.parametrize("action, error", [
    ("mouse_click(1280, 10)", "outside the viewport"),
    ("mouse_drag_and_drop(10, 10, 10, -1)", "outside the viewport"),
    ("keyboard_press('NoSuchKey')", "unknown key"),
    ("upload_file('{file}', '../../etc/passwd')", "no file"),
    ("upload_file('{file}', '/etc/passwd')", "no file"),
])
def test_bad_new_actions_are_reported_not_raised(env, site, action, error):
    raw = env.reset(TaskSpec(id="pad", goal="test", suite="test", start_url=site))
    raw = env.step(action.format(file=_bid(raw, "File")))
    assert error in raw.last_action_error
    assert _state(env)["log"] == []


def test_uploads_are_off_without_an_upload_folder(env, site):
    raw = env.reset(TaskSpec(id="pad", goal="test", suite="test", start_url=site))
    folder, env.upload_dir = env.upload_dir, None
    try:
        raw = env.step(f"upload_file('{_bid(raw, 'File')}', 'cv.txt')")
    finally:
        env.upload_dir = folder
    assert "uploads are off" in raw.last_action_error
    assert os.path.basename(folder) not in str(_state(env)["log"])


@pytest.fixture(scope="module")
def foreign():
    hits: list[str] = []
    with serve_html(PAGE, hits=hits) as url:
        yield url.rstrip("/"), hits


# A link opened in a background tab (middle click, here; click('bid', 'middle') does the
# same) is requested by the browser before Playwright's routing attaches to the new tab:
# the foreign server sees the GET, though the tab is closed and nothing of it is observed.
_BACKGROUND_TAB = pytest.mark.xfail(strict=True, reason="a background tab's first request escapes routing")


@pytest.mark.parametrize("actions", [
    ["mouse_click(30, 528)"],
    pytest.param(["mouse_click(30, 528, 'middle')"], marks=_BACKGROUND_TAB),
    ["mouse_down(30, 528)", "mouse_up(30, 528)"],
    ["focus('{link}')", "keyboard_press('Enter')"],
])
def test_coordinate_and_keyboard_input_cannot_leave_the_task(env, site, foreign, actions):
    """The navigation policy sees the document request, whichever input caused it."""
    base, hits = foreign
    env.reset(TaskSpec(id="pad", goal="test", suite="test", start_url=site))
    env.run_script("(url) => { const a = document.createElement('a'); a.href = url; a.textContent = 'Away';"
                   " a.style = 'position:absolute;left:20px;top:520px'; document.body.append(a); }", base + "/away")
    raw = env.observe()
    hits.clear()
    errors = [env.step(a.format(link=_bid(raw, "Away"))).last_action_error for a in actions]
    raw = env.observe()
    assert any(f"navigation to {base}/away refused" in e for e in errors), errors
    assert raw.url == site and all(t.startswith(site) for t in raw.tabs), (raw.url, raw.tabs)
    assert "Pad" == raw.title
    assert hits == [], "the foreign site was contacted"


def test_observation_carries_element_boxes_and_the_viewport(env, site):
    raw = env.reset(TaskSpec(id="pad", goal="test", suite="test", start_url=site))
    assert raw.info["viewport"] == {"width": 1280, "height": 720, "scroll_x": 0, "scroll_y": 0}
    boxes = {n.name: n.props["bbox"] for n in raw.axtree if n.bid}
    assert boxes["Drag me"] == (400, 20, 100, 60) and boxes["Drop here"] == (400, 200, 100, 60)
    x, y, w, h = boxes["Hover me"]
    raw = env.step(f"mouse_click({x + w / 2}, {y + h / 2})")  # the centre of a box hits its element
    assert _state(env)["log"][-1] == "hov:click"
    # boxes are in viewport coordinates: they move when the page scrolls
    env.run_script("() => { document.body.style.height = '3000px'; }")
    raw = env.step("scroll(0, 100)")
    assert raw.info["viewport"]["scroll_y"] == 100
    assert {n.name: n.props["bbox"] for n in raw.axtree if n.bid}["Drag me"] == (400, -80, 100, 60)
