"""The mouse, keyboard, drag and upload actions: parsing and validation (no browser)."""

import pytest

from halo_core.actions import (ACTION_SIGNATURES, COORDINATE_ACTIONS, KEYBOARD_ACTIONS, ActionError, extract_action,
                               parse_action, validate_action)

#: BrowserGym's high-level action set (browsergym.core.action.functions), less mouse_upload_file
BROWSERGYM = {
    "send_msg_to_user", "report_infeasible", "noop", "fill", "check", "uncheck", "select_option", "click",
    "dblclick", "hover", "press", "focus", "clear", "drag_and_drop", "upload_file", "scroll", "mouse_move",
    "mouse_up", "mouse_down", "mouse_click", "mouse_dblclick", "mouse_drag_and_drop", "keyboard_down",
    "keyboard_up", "keyboard_press", "keyboard_type", "keyboard_insert_text", "goto", "go_back", "go_forward",
    "new_tab", "tab_close", "tab_focus",
}


def test_every_browsergym_action_is_known():
    assert BROWSERGYM <= set(ACTION_SIGNATURES)


@pytest.mark.parametrize("text, name, args", [
    ("mouse_click(12.5, 300)", "mouse_click", (12.5, 300)),
    ("mouse_click(12, 30, 'right')", "mouse_click", (12, 30, "right")),
    ("mouse_dblclick(1, 2)", "mouse_dblclick", (1, 2)),
    ("mouse_down(1, 2, 'middle')", "mouse_down", (1, 2, "middle")),
    ("mouse_drag_and_drop(10, 20, 300, 400.5)", "mouse_drag_and_drop", (10, 20, 300, 400.5)),
    ("keyboard_press('Control+a')", "keyboard_press", ("Control+a",)),
    ("keyboard_type(\"it's\")", "keyboard_type", ("it's",)),
    ("drag_and_drop(3, '14')", "drag_and_drop", ("3", "14")),
    ("upload_file('7', 'cv.pdf')", "upload_file", ("7", "cv.pdf")),
    ("tab_close()", "tab_close", ()),
])
def test_parse(text, name, args):
    action = parse_action(text)
    assert (action.name, action.args) == (name, args)
    assert parse_action(action.to_string()) == action


@pytest.mark.parametrize("text, message", [
    ("mouse_click(1, 2, 'back')", "button must be"),
    ("mouse_click('12')", "takes 2-3 arguments"),
    ("mouse_move(1, True)", "expected a number"),
    ("mouse_drag_and_drop(1, 2, 3)", "takes 4-4 arguments"),
    ("keyboard_press(13)", "expected a string"),
    ("drag_and_drop('1')", "takes 2-2 arguments"),
])
def test_refused(text, message):
    with pytest.raises(ActionError, match=message):
        parse_action(text)


def test_both_ends_of_a_drag_must_be_on_the_page():
    action = parse_action("drag_and_drop('1', '9')")
    assert action.bids == ("1", "9") and action.bid == "1"
    validate_action(action, {"1", "9"})
    with pytest.raises(ActionError, match="element '9'"):
        validate_action(action, {"1", "2"})


def test_coordinate_and_keyboard_actions_name_no_element():
    for name in COORDINATE_ACTIONS | KEYBOARD_ACTIONS:
        kinds = ACTION_SIGNATURES[name]
        assert "bid" not in kinds
    action = parse_action("mouse_click(5, 5)")
    assert action.is_coordinate and action.bid is None and action.bids == ()
    validate_action(action, set())
    assert not parse_action("keyboard_press('Enter')").is_coordinate


def test_extract_finds_the_new_actions_in_model_output():
    assert extract_action("The slider is at x=40.\nAction: mouse_drag_and_drop(40, 100, 210, 100)") == \
        "mouse_drag_and_drop(40, 100, 210, 100)"
    assert extract_action("```\nkeyboard_press('Enter')\n```") == "keyboard_press('Enter')"
