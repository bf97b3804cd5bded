"""Decoding constrained to one valid action: the grammar, and a real (random) model under it."""

from __future__ import annotations

import halo_plugin_qwen.plugin as qwen_plugin
import pytest
from halo_plugin_qwen.constrain import ActionConstraint, ActionGrammar, token_table
from halo_plugin_qwen.local import LocalBackend
from halo_plugin_qwen.prompting import decoding_style
from halo_plugin_qwen.tiny import build_tiny_qwen

from halo_core.actions import parse_action, validate_action
from halo_core.backends import BackendSettings, Message
from halo_core.config import mode_config
from halo_core.loop import run_episode
from halo_core.model import TaskSpec
from halo_core.testing import GraphEnvironment, Page, make_runtime

BIDS = ("1", "12", "a3")


@pytest.mark.parametrize("text", [
    "click('12')", "click('1')", 'click("a3")', "fill('12', 'Bob \"x\" y')",
    'fill("a3", "it\'s")', "scroll(0, 500)", "scroll(0,-5.5)", "noop()", "noop(100)", "go_back()",
    "send_msg_to_user('Done')", "send_msg_to_user('')", "press('1', 'Enter')",
])
def test_grammar_accepts_actions_on_the_page(text):
    assert ActionGrammar(BIDS).accepts(text)
    action = parse_action(text)  # and HALO's own parser agrees
    validate_action(action, BIDS)


@pytest.mark.parametrize("text", [
    "click('13')",  # not on the page
    "click('12'", "fill('12')", "click(12)", "click('12') ", "press('1', 'Enter')x", "scroll(0., 1)",
    " click('1')", "Click('1')", "fill('12', 'a\\nb')", "fill('12', 'line\nbreak')", "eval('1')", "go_back(1)",
    "click('1', '10')",
])
def test_grammar_refuses_everything_else(text):
    assert not ActionGrammar(BIDS).accepts(text)


GOAL = 'Enter "Bob Smith" into the box, then press Submit.'


@pytest.mark.parametrize("text, ok", [
    ("fill('12', 'Bob Smith')", True), ("fill('12', 'Bob')", True), ('fill("12", "Smith\" into")', False),
    ("fill('12', 'Bob Smyth')", False), ("fill('12', '')", False), ("fill('12', 'Submit.')", True),
    ("click('12')", True), ("send_msg_to_user('anything at all')", True), ("select_option('1', 'Red')", True),
])
def test_copy_grammar_types_only_pieces_of_the_goal(text, ok):
    assert ActionGrammar(BIDS, copy_from=[GOAL]).accepts(text) is ok


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    corpus = ["Goal: Page: Next action: click('12') fill('3', 'hello world') [12] button 'OK'"] * 4
    return build_tiny_qwen(tmp_path_factory.mktemp("tiny") / "base", corpus, seed=1)


def test_random_model_writes_only_valid_actions_when_constrained(tiny):
    """Random weights write garbage when free; under the constraint every sampled reply is
    one action on the page, and the reply ends with the action."""
    backend = LocalBackend(str(tiny), BackendSettings(max_tokens=40))
    messages = [Message("system", "You are a web agent."), Message("user", "Goal: x\n[12] button 'OK'\nNext action:")]
    free = [backend.complete(messages, temperature=1.0, seed=s).text for s in range(6)]
    assert not all(ActionGrammar(BIDS).accepts(t) for t in free)
    constrained = {"constrain_bids": frozenset(BIDS)}
    replies = [backend.complete(messages, temperature=1.0, seed=s, options=constrained).text for s in range(12)]
    for reply in replies:
        validate_action(parse_action(reply), BIDS)
    assert len(set(replies)) > 1  # still the model's choice, sampled


def test_random_model_copies_what_it_types_from_the_goal(tiny):
    backend = LocalBackend(str(tiny), BackendSettings(max_tokens=40))
    messages = [Message("user", f"Goal: {GOAL}\n[12] textbox 'Name'\nNext action:")]
    copy = {"constrain_bids": frozenset(BIDS), "constrain_copy": (GOAL,)}
    typed = []
    for seed in range(16):
        action = parse_action(backend.complete(messages, temperature=1.0, seed=seed, options=copy).text)
        if action.name == "fill":
            typed.append(action.args[1])
    assert typed, "no fill in 16 samples"
    assert all(text and text in GOAL for text in typed)


def test_constraint_masks_to_the_states_tokens(tiny):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny)
    table = token_table(tokenizer)
    assert token_table(tokenizer) is table  # built once per tokenizer
    constraint = ActionConstraint(tokenizer, ["12"], prompt_len=0, eos_ids=[tokenizer.eos_token_id])
    grammar = constraint.grammar
    after_paren = grammar.run(grammar.start(), "click(")
    assert {table.text[t][0] for t in constraint.allowed(after_paren)} <= {"'", '"'}
    done = grammar.run(grammar.start(), "click('12')")
    assert constraint.allowed(done) == [tokenizer.eos_token_id]
    inside = grammar.run(grammar.start(), "fill('12', '")
    allowed = set(constraint.allowed(inside))
    assert all("\n" not in table.text[t] and "\\" not in table.text[t] for t in allowed)
    assert any("'" in table.text[t] for t in allowed)  # the closing quote


class RecordingEnvironment(GraphEnvironment):
    def __init__(self) -> None:
        super().__init__({"home": Page("Home", [("link", "Products", "products"), ("button", "Help", "home")]),
                          "products": Page("Products", [])}, goal_page="products")
        self.sent: list[str] = []

    def step(self, action):
        self.sent.append(action)
        return super().step(action)


@pytest.mark.parametrize("style", ["auto", "actions", "copy", "free"])
def test_worker_decoding_option_through_an_episode(tiny, tmp_path, style):
    runtime = make_runtime(qwen_plugin)
    config = mode_config("baseline_worker", env={}, runtime=runtime, worker_backend=f"local:{tiny}", max_steps=3,
                         use_recovery=False, max_tokens=24, worker_decoding=style, worker_prompt="default")
    assert decoding_style(config, LocalBackend(str(tiny))) == {"auto": "actions"}.get(style, style)
    env = RecordingEnvironment()
    result = run_episode(TaskSpec(id="graph.one", goal="Open the products page", suite="graph"), config, env,
                         runtime, data_dir=tmp_path)
    if style == "free":  # random weights: nothing valid, nothing sent
        assert env.sent == [] and result.counters.get("invalid_outputs") == 3
    else:  # every step sent one action, each naming an element of the page it was on
        assert len(env.sent) >= 1 and not result.counters.get("invalid_outputs")
        for action in env.sent:
            parse_action(action)
