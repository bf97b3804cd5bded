"""Action strings: parsing, validation, extraction from model output."""

import pytest

from halo_core.actions import Action, ActionError, extract_action, parse_action, validate_action


@pytest.mark.parametrize("text,expected", [
    ("click('12')", Action("click", ("12",))),
    ("click(12)", Action("click", ("12",))),
    ("fill('3', \"cooking pot\")", Action("fill", ("3", "cooking pot"))),
    ("select_option('4', 'Red')", Action("select_option", ("4", "Red"))),
    ("scroll(0, -300)", Action("scroll", (0, -300))),
    ("goto('http://x.test/a')", Action("goto", ("http://x.test/a",))),
    ("go_back()", Action("go_back", ())),
    ("send_msg_to_user('The price is $5')", Action("send_msg_to_user", ("The price is $5",))),
    ("report_infeasible('no such item')", Action("report_infeasible", ("no such item",))),
])
def test_parse(text, expected):
    assert parse_action(text) == expected
    assert parse_action(expected.to_string()) == expected


@pytest.mark.parametrize("text,message", [
    ("", "empty action"),
    ("click(", "cannot parse"),
    ("rm('-rf')", "unknown action 'rm'"),
    ("click('1', '2', '3')", "takes 1-2 arguments"),
    ("fill('1')", "takes 2-2 arguments"),
    ("click(__import__('os'))", "must be literals"),
    ("fill('1', 5)", "expected a string"),
    ("click(bid='1')", "positional arguments only"),
    ("click('1'); click('2')", "cannot parse"),
])
def test_parse_errors(text, message):
    with pytest.raises(ActionError, match=message):
        parse_action(text)


def test_validate_bids():
    validate_action(parse_action("click('1')"), {"1", "2"})
    validate_action(parse_action("scroll(0, 10)"), set())
    with pytest.raises(ActionError, match="element '9' is not on the current page"):
        validate_action(parse_action("click('9')"), {"1", "2"})


@pytest.mark.parametrize("text,expected", [
    ("click('3')", "click('3')"),
    ("I will search.\nAction: fill('5', 'blender')", "fill('5', 'blender')"),
    ("```\nclick('7')\n```", "click('7')"),
    ("Thinking... then `press('2', 'Enter')` it is", "press('2', 'Enter')"),
])
def test_extract(text, expected):
    assert extract_action(text) == expected


def test_extract_failure():
    with pytest.raises(ActionError, match="no valid action"):
        extract_action("I don't know what to do")


def test_extract_takes_the_last_of_several_calls_on_a_line():
    assert extract_action("scroll(0, 200) then click('4')") == "click('4')"
    assert extract_action("fill('2', 'a) b') is what I do") == "fill('2', 'a) b')"
