"""The MiniWoB++ task catalogue: task names from the ``miniwob`` package's bundled pages.

The pages are found with :func:`importlib.util.find_spec`, which locates the package
without executing its ``__init__`` (that registers Gymnasium environments and pulls in
Selenium): HALO needs only the HTML, CSS and JavaScript files.

Task ids are ``miniwob.<name>`` (the seed is chosen at reset: ``--task-seed`` or 0) and
``miniwob.<name>@<seed>`` for one instance. Seeds 0–9999 are the train range and seeds
from 10000 up the test range; a seed's range also sets MiniWoB's data mode
(``core.setDataMode``), which a few transfer tasks read to draw their test distribution.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import re
from pathlib import Path

from halo_core.api import TaskNotFound

__all__ = [
    "NEEDS", "PREFIX", "RELOAD_EACH_EPISODE", "TEST_SEED_START", "UNREGISTERED", "WEBGUM_56", "html_dir", "parse_task_id", "split_of", "task_names",
]

PREFIX = "miniwob."
#: seeds below this are train instances, seeds from it up are held-out test instances
TEST_SEED_START = 10000
MAX_SEED = 2**31 - 1

#: What a task needs beyond element actions (click/fill/press/select on a bid): pointer
#: coordinates, a drag, or a text selection — the mouse and keyboard actions
#: (``mouse_click``, ``mouse_drag_and_drop``, …). Listed in the README.
NEEDS: dict[str, str] = {
    **{name: "coordinates" for name in (
        "bisect-angle", "chase-circle", "circle-center", "click-pie", "click-pie-nodelay", "find-midpoint",
        "grid-coordinate", "hot-cold", "moving-items", "right-angle", "use-colorwheel", "use-colorwheel-2",
    )},
    **{name: "drag" for name in (
        "drag-box", "drag-circle", "drag-cube", "drag-items", "drag-items-grid", "drag-shapes", "drag-shapes-2",
        "drag-single-shape", "drag-sort-numbers", "draw-circle", "draw-line", "resize-textarea",
    )},
    **{name: "text-selection" for name in ("highlight-text", "highlight-text-2", "text-editor")},
}

#: pages the package ships but does not register as Gymnasium environments (BrowserGym's
#: 125-task list leaves them out too)
UNREGISTERED = frozenset({"button-delay", "chase-circle", "hover-shape", "moving-items", "simon-says"})

#: Tasks whose page is loaded anew for every episode, never restarted in place: where the
#: scripted expert's episodes differed between a reloaded page and one restarted in place
#: (``python bench/check_miniwob_restart.py``, 115 tasks x 3 seeds): widgets that keep state
#: outside the task area (jQuery UI date pickers, menus, autocompletes), a game that keeps its
#: guesses, and the timing- or pointer-driven tasks whose episodes differ between two loads too.
RELOAD_EACH_EPISODE = frozenset({
    "book-flight", "button-delay", "chase-circle", "choose-date", "choose-date-easy", "choose-date-medium",
    "choose-date-nodelay", "click-menu", "click-pie", "drag-cube", "grid-coordinate", "guess-number",
    "moving-items", "social-media", "text-editor", "use-autocomplete", "use-autocomplete-nodelay",
    "use-colorwheel", "use-colorwheel-2",
})

#: The 56 tasks on which WebN-T5, HTML-T5, WebGUM and HTML-T5++ report MiniWoB++ success (the
#: set of Gur et al., 2022, "Understanding HTML with Large Language Models"; the same list is
#: ``webgum_tasks`` in ServiceNow's AgentLab). The README's baselines table is on these.
WEBGUM_56: tuple[str, ...] = (
    "book-flight", "choose-date", "choose-date-easy", "choose-date-medium", "choose-list", "click-button",
    "click-button-sequence", "click-checkboxes", "click-checkboxes-large", "click-checkboxes-soft",
    "click-checkboxes-transfer", "click-collapsible", "click-collapsible-2", "click-color", "click-dialog",
    "click-dialog-2", "click-link", "click-menu", "click-option", "click-pie", "click-scroll-list",
    "click-shades", "click-shape", "click-tab", "click-tab-2", "click-tab-2-hard", "click-test", "click-test-2",
    "click-widget", "count-shape", "email-inbox", "email-inbox-forward-nl", "email-inbox-forward-nl-turk",
    "email-inbox-nl-turk", "enter-date", "enter-password", "enter-text", "enter-text-dynamic", "enter-time",
    "focus-text", "focus-text-2", "grid-coordinate", "guess-number", "identify-shape", "login-user",
    "login-user-popup", "multi-layouts", "multi-orderings", "navigate-tree", "search-engine", "social-media",
    "social-media-all", "social-media-some", "tic-tac-toe", "use-autocomplete", "use-spinner",
)

_ID = re.compile(r"^miniwob\.(?P<name>[a-z0-9][a-z0-9-]*)(?:@(?P<seed>[^@]*))?$")


class MiniwobMissing(RuntimeError):
    """The ``miniwob`` package is not installed."""


@functools.lru_cache(maxsize=1)
def html_dir() -> Path:
    """The ``miniwob`` package's ``html`` folder (``core/``, ``common/``, ``miniwob/``, ``flight/``)."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise MiniwobMissing("the miniwob package is not installed; run `pip install 'miniwob>=1.1,<1.2'`")
    for location in spec.submodule_search_locations:
        folder = Path(location) / "html"
        if (folder / "miniwob").is_dir() and (folder / "core" / "core.js").is_file():
            return folder
    raise MiniwobMissing(f"the miniwob package at {list(spec.submodule_search_locations)} has no html/ folder; "
                         "reinstall it with `pip install --force-reinstall 'miniwob>=1.1,<1.2'`")


@functools.lru_cache(maxsize=1)
def task_names() -> tuple[str, ...]:
    """Every task page the package ships, sorted (130 in miniwob 1.1)."""
    return tuple(sorted(p.stem for p in (html_dir() / "miniwob").glob("*.html")))


def split_of(seed: int | None) -> str:
    if seed is None:
        return ""
    return "test" if seed >= TEST_SEED_START else "train"


def parse_task_id(task_id: str) -> tuple[str, int | None]:
    """``miniwob.<name>[@<seed>]`` → (name, seed); :class:`TaskNotFound` naming the fix otherwise."""
    match = _ID.match(task_id.strip())
    names = task_names()
    if match is None or match.group("name") not in names:
        bare = task_id.split("@", 1)[0].removeprefix(PREFIX)
        close = [PREFIX + n for n in difflib.get_close_matches(bare, names, n=5, cutoff=0.6)]
        hint = f"; closest: {', '.join(close)}" if close else "; see `halo tasks --suite miniwob`"
        raise TaskNotFound(f"unknown MiniWoB task {task_id!r}{hint}")
    raw_seed = match.group("seed")
    if raw_seed is None:
        return match.group("name"), None
    if not raw_seed.isdigit() or int(raw_seed) > MAX_SEED:
        raise TaskNotFound(f"task {task_id!r}: the seed after '@' must be a whole number from 0 to {MAX_SEED}, "
                           f"e.g. {PREFIX}{match.group('name')}@17")
    return match.group("name"), int(raw_seed)
