"""Actions not grounded in the page's elements are never cached nor replayed: a point of the
viewport (what it hits depends on layout, scroll and window size), the focused element, and a
drag's second element."""

import pytest

from halo_core.builtins.summarizer import summarize
from halo_core.model import AXNode, RawObservation
from halo_plugin_vac import action_form
from halo_plugin_vac._forms import ActionForm
from halo_plugin_vac.plugin import cacheable


def _observation():
    return summarize(RawObservation(url="http://127.0.0.1:9/", title="t", axtree=(
        AXNode("button", "OK", bid="3"), AXNode("textbox", "Name", bid="4"))))


@pytest.mark.parametrize("action", [
    "mouse_click(10, 20)", "mouse_dblclick(10, 20)", "mouse_move(1, 2)", "mouse_down(1, 2)", "mouse_up(1, 2)",
    "mouse_drag_and_drop(1, 2, 3, 4)", "keyboard_press('Enter')", "keyboard_type('secret')",
    "keyboard_insert_text('x')", "keyboard_down('Shift')", "keyboard_up('Shift')", "drag_and_drop('3', '4')",
])
def test_ungrounded_actions_have_no_cache_form(action):
    assert action_form(action, _observation()) is None


def test_grounded_actions_still_do():
    obs = _observation()
    assert action_form("click('3')", obs) == ActionForm("click", "button", "OK", 0, ())
    assert action_form("dblclick('3')", obs) is not None and action_form("scroll(0, 300)", obs) is not None


@pytest.mark.parametrize("verb", ["mouse_click", "keyboard_type", "drag_and_drop"])
def test_a_seeded_cache_entry_for_them_is_never_replayed(verb):
    """A cache file from elsewhere (or edited by hand) may hold such a form; lookups skip it."""
    assert not cacheable(ActionForm(verb, None, "", 0, (10, 20)), scope_is_task=True)
    assert cacheable(ActionForm("click", "button", "OK", 0, ()), scope_is_task=True)
