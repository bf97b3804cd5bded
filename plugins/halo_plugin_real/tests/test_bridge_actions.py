"""HALO actions as BrowserGym reads them, and the answer agisdk's summary records."""

import re

import pytest

from halo_plugin_real.bridge import to_browsergym_action

#: agisdk 0.3.5's summary (experiments/loop.py, _save_summary_info) reads the answer with this
AGISDK_ANSWER = re.compile(r'send_msg_to_user\("(.+?)"\)')


def _browsergym_calls(action: str):
    from agisdk.REAL.browsergym.core.action.parsers import highlevel_action_parser

    return [tuple(call) for call in highlevel_action_parser.parse_string(action, parse_all=True).as_list()]


@pytest.mark.parametrize("text", [
    "The Q3 budget email was sent by Daniel Kim (daniel.kim@example.com).",
    "It's $249.99",
    'He wrote "count me in"',
    "back\\slash, new\nline, tab\t, unicode café 🎉",
])
def test_send_msg_to_user_reaches_browsergym_unchanged(text):
    action = to_browsergym_action(f"send_msg_to_user({text!r})")
    assert action.startswith('send_msg_to_user("')
    assert _browsergym_calls(action) == [("send_msg_to_user", [text])]


def test_agisdk_records_a_plain_answer_exactly():
    text = "The Q3 budget email was sent by Daniel Kim (daniel.kim@example.com)."
    action = to_browsergym_action(f"send_msg_to_user({text!r})")
    assert AGISDK_ANSWER.search(action).group(1) == text
    # HALO's own spelling is single-quoted, which agisdk's pattern does not find
    assert AGISDK_ANSWER.search(f"send_msg_to_user({text!r})") is None


@pytest.mark.parametrize("halo, browsergym", [
    ("click('12')", 'click("12")'),
    ("fill('a7', 'Jane Doe')", 'fill("a7", "Jane Doe")'),
    ("scroll(0, 300)", "scroll(0, 300)"),
    ("close_tab()", "tab_close()"),
    ("mouse_click(12.5, 40, 'right')", 'mouse_click(12.5, 40, "right")'),
    ("mouse_drag_and_drop(1, 2, 3, 4)", "mouse_drag_and_drop(1, 2, 3, 4)"),
    ("keyboard_press('Control+a')", 'keyboard_press("Control+a")'),
    ("drag_and_drop('3', '9')", 'drag_and_drop("3", "9")'),
    ("report_infeasible('No such product.')", 'report_infeasible("No such product.")'),
    ("not an action", "not an action"),
])
def test_other_actions(halo, browsergym):
    assert to_browsergym_action(halo) == browsergym


def test_every_halo_action_is_in_the_agents_browsergym_action_set():
    """A HALO action the harness' action set lacks fails there with NameError (check, uncheck)."""
    from halo_core.actions import ACTION_SIGNATURES
    from halo_plugin_real.bridge import HaloAgentArgs, HaloBrowserGymAgent

    agent = HaloBrowserGymAgent(HaloAgentArgs(policy="expert"))
    samples = {"bid": "'12'", "str": "'x'", "str*": "", "num": "1", "num*": ""}
    for name, kinds in ACTION_SIGNATURES.items():
        if name == "upload_file":
            continue  # refused (below)
        halo = f"{name}({', '.join(a for a in (samples[k] for k in kinds) if a)})"
        code = agent.action_set.to_python_code(to_browsergym_action(halo))
        assert code.rstrip().splitlines()[-1].startswith(to_browsergym_action(halo).split("(")[0] + "("), halo
    # an element action that missed its 500 ms actionability window is tried once more with force
    assert "retry_with_force=True" in agent.action_set.to_python_code("click('12')")


def test_upload_file_is_refused_through_agisdk():
    """BrowserGym's upload_file sends any path on the machine; through the bridge it is an error."""
    from halo_plugin_real.bridge import HaloAgentArgs, HaloBrowserGymAgent

    agent = HaloBrowserGymAgent(HaloAgentArgs(policy="expert"))
    action = to_browsergym_action("upload_file('12', '/etc/passwd')")
    assert "passwd" not in action
    with pytest.raises(NameError):
        agent.action_set.to_python_code(action)
