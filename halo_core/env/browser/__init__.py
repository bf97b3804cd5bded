"""A real browser as a HALO :class:`~halo_core.env.protocol.Environment`.

:class:`BrowserEnvironment` drives Chromium through Playwright's sync API. One
browser is launched lazily per environment and reused across episodes (a fresh
context per episode); if it dies, ``step``/``reset`` raise
:class:`~halo_core.env.protocol.EnvironmentDead` and the next ``reset`` relaunches.

Observations come from Chromium's own accessibility tree
(``Accessibility.getFullAXTree``), flattened to :class:`~halo_core.model.AXNode` in
document order. Actionable elements carry a ``bid``: one injected JS pass writes a
``data-halo-bid`` attribute on actionable elements that have none (``mark_bids.js``),
and one ``DOMSnapshot.captureSnapshot`` maps AX nodes to those attributes through
their backend DOM node ids. The marking pass, the AX tree, the snapshot and the
screenshot go out as one pipelined batch of CDP commands.

Actions are BrowserGym-style strings (:mod:`halo_core.actions`); an action that
cannot run never raises, it becomes ``last_action_error``. A task's pages stay on
its own origins (:mod:`.navigation`).

The package, one concern a module:

========================  ====================================================
``session``               Playwright, browser launch, contexts, tabs, liveness
``execution``             running one parsed action
``settling``              waiting for the page after an action
``axtree``                AX tree → :class:`~halo_core.model.AXNode` tuples
``navigation``            which origins a task may visit
``processes``             finding and killing Chromium processes
``environment``           the episode API and the public API for subclasses
``scripts`` + ``*.js``    the JavaScript run in pages, loaded once
========================  ====================================================
"""

from halo_core.env.browser.axtree import BID_ATTR, TRUNCATED_ROLE, flatten_axtree
from halo_core.env.browser.environment import MAX_AX_NODES, BrowserEnvironment, ObservationTimings, ScriptError
from halo_core.env.browser.navigation import NavigationPolicy, origin_of
from halo_core.env.browser.processes import chromium_pids
from halo_core.env.browser.session import one_line, playwright_errors, shared_playwright

# Names older callers import.
_chromium_pids = chromium_pids
_one_line = one_line
_pw_errors = playwright_errors

__all__ = [
    "BID_ATTR", "MAX_AX_NODES", "TRUNCATED_ROLE", "BrowserEnvironment", "NavigationPolicy", "ObservationTimings",
    "ScriptError", "chromium_pids", "flatten_axtree", "one_line", "origin_of", "playwright_errors",
    "shared_playwright",
]
