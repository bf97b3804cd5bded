"""``select_option(bid, [a, b])``: several options of a multiple <select>, as in BrowserGym.

Parsing and the written form, then a real Chromium on a page made for it, the verifier on
what the page reports, and the agisdk bridge's translation.
"""

from __future__ import annotations

import pytest
from helpers import serve_html

from halo_core.actions import ActionError, parse_action, validate_action
from halo_core.builtins.verifier import check_postcondition
from halo_core.env.chromium import BrowserNotFound, find_chromium
from halo_core.model import TaskSpec


@pytest.mark.parametrize("text, option", [
    ("select_option('4', ['Cheese', 'Olives'])", ("Cheese", "Olives")),
    ('select_option("4", ("Cheese",))', ("Cheese",)),
    ("select_option('4', 'Cheese')", "Cheese"),
])
def test_an_option_or_a_list_of_options_parses(text, option):
    action = parse_action(text)
    assert action.args == ("4", option)
    assert action.bid == "4" and action.is_grounded
    validate_action(action, ["4"])
    assert parse_action(action.to_string()) == action  # written back as it was: a list stays a list
    if isinstance(option, tuple):
        assert action.to_string() == f"select_option('4', {list(option)!r})"
    hash(action)


@pytest.mark.parametrize("text", [
    "select_option('4', [])", "select_option('4', ['a', 3])", "select_option('4', [['a']])",
    "fill('4', ['a', 'b'])", "press('4', ['Enter'])",
])
def test_a_list_is_refused_where_it_means_nothing(text):
    with pytest.raises(ActionError):
        parse_action(text)


PAGE = """<!doctype html><html><head><title>Order</title></head><body>
<label>Toppings <select id="toppings" multiple size="4">
<option value="ch">Cheese</option><option value="mu">Mushrooms</option>
<option value="ol">Olives</option><option value="pe" selected>Peppers</option></select></label>
<label>Size <select id="size"><option>Small</option><option>Large</option></select></label>
<script>
window.log = [];
document.getElementById("toppings").addEventListener("change", (e) =>
  window.log.push(Array.from(e.target.selectedOptions).map((o) => o.value).join(",")));
</script></body></html>"""


@pytest.fixture(scope="module")
def browser():
    try:
        find_chromium()
    except BrowserNotFound as exc:  # pragma: no cover - depends on the machine
        pytest.skip(str(exc))
    from halo_core.env.browser import BrowserEnvironment
    from halo_core.env.protocol import EnvSettings

    with serve_html(PAGE) as url:
        env = BrowserEnvironment(EnvSettings(action_timeout_ms=2000, navigation_timeout_ms=5000, screenshot=False))
        try:
            yield env, url
        finally:
            env.close()


def _open(env, url) -> dict[str, str]:
    raw = env.reset(TaskSpec(id="order", goal="test", suite="test", start_url=url))
    return {n.name: n.bid for n in raw.axtree if n.bid and n.role in ("listbox", "combobox")}


def _selected(env) -> dict:
    return env.run_script("""() => ({
        toppings: Array.from(document.getElementById('toppings').selectedOptions).map((o) => o.label),
        size: document.getElementById('size').value, log: window.log})""")


@pytest.mark.parametrize("options, want", [
    ("['Cheese', 'Olives']", ["Cheese", "Olives"]),  # labels; the list replaces the selection
    ("['mu', 'pe']", ["Mushrooms", "Peppers"]),  # values
    ("['olives']", ["Olives"]),  # a list of one, by case-insensitive label
    ("'Cheese'", ["Cheese"]),  # the single form on a multiple list
])
def test_several_options_of_a_multiple_select_are_selected_in_chromium(browser, options, want):
    env, url = browser
    bids = _open(env, url)
    action = f"select_option('{bids['Toppings']}', {options})"
    raw = env.step(action)
    assert raw.last_action_error == ""
    state = _selected(env)
    assert state["toppings"] == want
    assert state["log"] == [",".join(sorted({"Cheese": "ch", "Mushrooms": "mu", "Olives": "ol", "Peppers": "pe"}[w]
                                            for w in want))]  # one change event, as a person's selection


@pytest.mark.parametrize("options, error", [
    ("['Small', 'Large']", "takes one option"),
    ("['Cheese']", "has no option 'Cheese'"),
])
def test_a_list_the_select_cannot_take_is_the_actions_error(browser, options, error):
    env, url = browser
    bids = _open(env, url)
    raw = env.step(f"select_option('{bids['Size']}', {options})")
    assert error in raw.last_action_error
    assert _selected(env)["size"] == "Small"


def test_a_missing_option_in_the_list_selects_nothing(browser):
    env, url = browser
    bids = _open(env, url)
    raw = env.step(f"select_option('{bids['Toppings']}', ['Cheese', 'Anchovies'])")
    assert "has no option 'Anchovies'" in raw.last_action_error
    assert _selected(env)["toppings"] == ["Peppers"]


def test_the_verifier_checks_every_option_of_the_list(browser):
    from halo_core.builtins.summarizer import summarize

    env, url = browser
    bids = _open(env, url)
    bid = bids["Toppings"]
    before = summarize(env.step("noop()"))
    after = summarize(env.step(f"select_option('{bid}', ['Cheese', 'Olives'])"))
    assert check_postcondition(f"select_option('{bid}', ['Cheese', 'Olives'])", before, after).ok
    assert check_postcondition(f"select_option('{bid}', ['ch', 'ol'])", before, after).ok  # by value: counted
    for wrong in (["Cheese"], ["Cheese", "Mushrooms"], ["Cheese", "Olives", "Peppers"]):
        verdict = check_postcondition(f"select_option('{bid}', {wrong!r})", before, after)
        assert not verdict.ok, wrong
        assert "expected" in verdict.reason


def test_the_agisdk_bridge_passes_the_list_on_in_browsergyms_syntax():
    bridge = pytest.importorskip("halo_plugin_real.bridge")
    parsers = pytest.importorskip("agisdk.REAL.browsergym.core.action.parsers")
    translated = bridge.to_browsergym_action("select_option('12', ['Cheese', 'Olives'])")
    [(name, args)] = parsers.highlevel_action_parser.parse_string(translated, parse_all=True).as_list()
    assert name == "select_option"
    assert args[0] == "12" and list(args[1]) == ["Cheese", "Olives"]
