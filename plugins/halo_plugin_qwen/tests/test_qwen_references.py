"""Grounded references: marking, values, resolution, reply rewriting, the grammar."""

import pytest

from halo_core.actions import ActionError
from halo_core.backends import Message
from halo_plugin_qwen.constrain import ActionGrammar
from halo_plugin_qwen.references import (References, element_score, goal_values, ground_messages, ground_prompt,
                                         is_grounded, references_in, resolve, rewrite_example, to_references, words)

LOGIN = """Goal: Enter the username "keneth" and the password "91YP" into the text fields and press login.

URL: /miniwob/login-user.html

Page (login):
StaticText 'Enter the username "keneth" and the password "91YP" into the text fields and press login.'
paragraph
  StaticText 'Username'
  [1] textbox
  [2] textbox
  [7] link "Bob's page"
[3] button 'Login'
[4] button 'Cancel'

Previous actions:
none

Next action:"""


def test_goal_values_are_quoted_phrases_then_words_with_digits_in_order():
    assert goal_values('Enter the username "keneth" and the password "91YP" now.') == ["keneth", "91YP"]
    assert goal_values('Find the 3rd word, type "it" twice: "it".') == ["3rd", "it"]  # duplicates once
    assert goal_values("Click the button.") == []


def test_goal_values_add_names_and_the_forms_a_goal_asks_for():
    # names: capitalised runs outside quotes that do not open a sentence
    assert goal_values("Select Helli from the list and click Submit.") == ["Helli", "Submit"]
    assert goal_values("Find the email by Audrey and forward that email to Orel.") == ["Audrey", "Orel"]
    assert goal_values("Click button ONE, wait 1 seconds, then click button TWO.") == ["ONE", "1", "TWO"]
    assert goal_values("Go to New York City. Then stop.") == ["New York City"]  # "Then" opens a sentence
    # a date also in ISO form, a time with AM/PM also in 24-hour form (AM/PM is no name)
    assert goal_values("Enter 10/15/2016 as the date and hit submit.") == ["10/15/2016", "2016-10-15"]
    assert goal_values("Enter 9:37 PM as the time and press submit.") == ["9:37", "21:37"]
    assert goal_values("Enter 12:05 AM as the time.") == ["12:05", "00:05"]
    assert goal_values("Enter 3:30 as the time.") == ["3:30"]  # no AM/PM, no other form
    # a case the goal asks for, right after the quoted phrase
    assert goal_values('Type "agustina" in all upper case letters.') == ["agustina", "AGUSTINA"]
    assert goal_values('Type "JERALD" in all lowercase letters.') == ["JERALD", "jerald"]
    assert goal_values('Type "abc" in the box.') == ["abc"]


def test_matching_rule_whole_value_words_and_partial_words():
    goal = 'Click on the "Submit form" button, then the cats.'
    gw, vals = set(words(goal)), {v.lower() for v in goal_values(goal)}
    assert element_score("Submit form", gw, vals) == 3 + 2  # the whole value, and two goal words
    assert element_score("submit", gw, vals) == 1
    assert element_score("Subm", gw, vals) == 0.5  # partial: the start of a goal word
    assert element_score("cat", gw, vals) == 0.5
    assert element_score("the", gw, vals) == 0  # a stopword says nothing
    assert element_score("submit it later", gw, vals) == 1 / 2  # one of two words: half the points
    assert element_score("Close", {"close"}, set()) > element_score("Close the long dialog text", {"close"}, set())
    assert element_score("Cancel", gw, vals) == 0
    assert element_score("", gw, vals) == 0
    # a value made of stopwords ranks as any other whole-value match; ties go in page order
    goal = "Click button ONE, wait 1 seconds, then click button TWO."
    values = {v.lower() for v in goal_values(goal)}
    assert {"one", "two"} <= values
    assert element_score("ONE", set(words(goal)), values) == element_score("TWO", set(words(goal)), values) == 4
    grounded = ground_prompt(f"Goal: {goal}\n\nPage:\n[1] button 'ONE'\n[2] button 'TWO'\n")
    assert "*1 [1] button 'ONE'" in grounded and "*2 [2] button 'TWO'" in grounded


def test_ground_prompt_marks_matches_best_first_and_lists_values():
    grounded = ground_prompt(LOGIN)
    lines = grounded.splitlines()
    assert lines[0].startswith("Goal: ") and lines[1] == 'Goal values: $1 "keneth" | $2 "91YP"'
    assert "*2 [3] button 'Login'" in lines and "  *1 [1] textbox" in lines  # [1] by its label 'Username'
    assert "  *3 [2] textbox" in lines  # no label: marked by its kind ("the text fields"), below named matches
    assert "[4] button 'Cancel'" in lines  # no match, no mark
    assert ground_prompt(grounded) == grounded  # idempotent
    assert is_grounded(grounded) and not is_grounded(LOGIN)
    refs = references_in(grounded)
    assert refs == References({"1": "1", "2": "3", "3": "2"}, {"1": "keneth", "2": "91YP"})


def test_marks_are_numbered_by_score_then_page_order():
    text = ("Goal: Click the \"blue square\" shape.\n\nPage:\n[5] button 'square'\n[6] button 'blue square'\n"
            "[7] button 'red circle'\n[8] button 'squares'\n\nNext action:")
    refs = references_in(ground_prompt(text))
    assert refs.marks == {"1": "6", "2": "5", "3": "8"}  # whole value + 2 words; 1 word; partial


def test_names_with_quotes_and_escapes_are_read_as_python_literals():
    text = "Goal: Open \"Bob's page\" now.\n\nPage:\n  [7] link \"Bob's page\"\n  [8] link 'Home'\n\nNext action:"
    assert references_in(ground_prompt(text)).marks == {"1": "7"}


def test_resolve_replaces_references_outside_strings_only():
    refs = references_in(ground_prompt(LOGIN))
    assert resolve("fill('1', $1)", refs) == "fill('1', 'keneth')"
    assert resolve("click(*2)", refs) == "click('3')"
    assert resolve("fill('2', '$1 and *1')", refs) == "fill('2', '$1 and *1')"  # text inside quotes stays
    assert resolve("click('4')", refs) == "click('4')"
    with pytest.raises(ActionError, match=r"\*4 is not a marked element of this page \(defined: \*1, \*3, \*2\)"):
        resolve("click(*4)", refs)
    with pytest.raises(ActionError, match=r"\$3 is not a goal value"):
        resolve("fill('1', $3)", refs)
    quote = References({}, {"1": "it's \"x\""})
    assert resolve("fill('1', $1)", quote) == "fill('1', 'it\\'s \"x\"')"


def test_to_references_prefers_marks_and_values_and_keeps_other_literals():
    refs = references_in(ground_prompt(LOGIN))
    assert to_references("fill('1', 'keneth')", refs) == "fill(*1, $1)"
    assert to_references("fill('2', 'keneth')", refs) == "fill(*3, $1)"
    assert to_references("fill('5', 'keneth')", refs) == "fill('5', $1)"  # an id no mark names stays
    assert to_references("click('3')", refs) == "click(*2)"
    assert to_references("click('4')", refs) == "click('4')"
    assert to_references("scroll(0, 500)", refs) == "scroll(0, 500)"
    assert to_references("not an action", refs) == "not an action"
    for action in ("fill('1', 'keneth')", "click('3')", "fill('2', '91YP')", "click('4')"):
        assert resolve(to_references(action, refs), refs) == action  # round trip


def test_ground_messages_keeps_message_type_and_rewrites_worked_examples():
    msgs = [Message("system", "You are a web agent."), Message("user", LOGIN), Message("assistant", "click('3')"),
            Message("user", LOGIN)]
    out = ground_messages(msgs)
    assert all(isinstance(m, Message) for m in out)
    assert "*k names the element" in out[0].content
    assert out[2].content == "click(*2)" and out[1].content == out[3].content == ground_prompt(LOGIN)
    dicts = [{"role": m.role, "content": m.content} for m in msgs[:2]]
    prompt, completion = rewrite_example(dicts, "fill('2', '91YP')")
    assert [m["content"] for m in prompt] == [m.content for m in out[:2]] and completion == "fill(*3, $2)"
    again, completion2 = rewrite_example(prompt, "fill('2', '91YP')")  # an already grounded example
    assert again == prompt and completion2 == completion


def test_grammar_accepts_defined_references_only():
    refs = References({"1": "3", "12": "9"}, {"1": "keneth", "2": "91YP"})
    g = ActionGrammar(["1", "2", "3", "9"], refs=refs)
    for text in ("click(*1)", "click(*12)", "fill(*1, $2)", "fill('1', $1)", "fill(*12, 'x')", "click('3')",
                 "send_msg_to_user($1)"):
        assert g.accepts(text), text
    for text in ("click(*2)", "click(*13)", "fill('1', $3)", "fill($1, 'x')", "click(*)", "scroll(*1, 0)",
                 "fill(*1, *1)"):
        assert not g.accepts(text), text
    plain = ActionGrammar(["1", "3"])
    assert not plain.accepts("click(*1)") and plain.accepts("click('3')")


def test_an_unnamed_element_is_matched_by_the_short_label_above_it():
    text = ("Goal: Enter the username \"karrie\" and the password \"AU\" and press login.\n\nPage (login):\n"
            "StaticText 'Enter the username \"karrie\" and the password \"AU\" and press login.'\n"
            "paragraph\n  StaticText 'Username'\n  [1] textbox\nparagraph\n  StaticText 'Password'\n  [2] textbox\n"
            "StaticText 'a label far too long to be one'\n[4] textbox\n[3] button 'Login'\n\nNext action:")
    refs = references_in(ground_prompt(text))
    assert refs.marks == {"1": "1", "2": "2", "3": "3"}  # page order among equal scores; [4] has no label


@pytest.mark.parametrize("goal, marked", [("Focus into the 3rd input textbox.", "3"),
                                          ("Focus into the first text box.", "1"),
                                          ("Click the last textbox.", "4"),
                                          ("Click the 9th textbox.", "1")])  # no 9th: kind marks only
def test_an_ordinal_goal_marks_the_element_it_counts_to(goal, marked):
    page = "\n".join(f"[{i}] textbox" for i in range(1, 5))
    refs = references_in(ground_prompt(f"Goal: {goal}\n\nPage (page):\n[9] button 'Other'\n{page}\n\nNext action:"))
    assert refs.marks.get("1") == marked


def test_an_unnamed_element_of_the_kind_the_goal_names_is_marked_below_named_matches():
    page = "[1] textbox\n[2] button 'Submit'\n[3] link 'Home'"
    refs = references_in(ground_prompt(f'Goal: Enter "x" into the text field and press Submit.\n\nPage:\n{page}\n\nNext action:'))
    assert refs.marks == {"1": "2", "2": "1"}  # Submit by name, the textbox by kind; the link by neither
    refs = references_in(ground_prompt(f'Goal: Type "x" and press Submit.\n\nPage:\n{page}\n\nNext action:'))
    assert refs.marks == {"1": "2"}


def test_previous_actions_are_written_with_the_pages_references():
    page = """<untrusted source="page">
Previous actions:
0: fill('1', 'keneth')
</untrusted>"""
    prompt = LOGIN.replace("Page (login):\n", "Page (login):\n" + page + "\n").replace(
        "Previous actions:\nnone", "Previous actions:\n0: fill('1', 'keneth')\n"
        "1: fill('1', '91YP  -> error: x')  -> error: Error: not editable\n2: click('4')\n3: click('3')")
    grounded = ground_prompt(prompt)
    history = grounded.split("\n\nPrevious actions:\n", 1)[1].split("\n\n")[0].splitlines()
    refs = references_in(grounded)
    assert refs.values == {"1": "keneth", "2": "91YP"}
    star = {bid: k for k, bid in refs.marks.items()}
    assert history == [f"0: fill(*{star['1']}, $1)",
                       f"1: fill(*{star['1']}, '91YP  -> error: x')  -> error: Error: not editable",
                       "2: click('4')", f"3: click(*{star['3']})"]  # [4] 'Cancel' matches nothing: stays an id
    # the page's own text that looks like a history is data, left as it was
    assert "<untrusted source=\"page\">\nPrevious actions:\n0: fill('1', 'keneth')" in grounded
    assert ground_prompt(grounded) == grounded
    # what the model is shown resolves back to what was done
    assert resolve(history[0].split(": ", 1)[1], refs) == "fill('1', 'keneth')"


def test_each_place_a_goal_counts_is_marked():
    page = "\n".join([f"[{i}] radio" for i in (1, 2, 3)] + [f"[{i}] textbox" for i in (4, 5, 6)] + ["[7] button 'Submit'"])
    goal = 'Check the 3rd radio button and enter the number "-5" into the 2nd textbox.'
    refs = references_in(ground_prompt(f"Goal: {goal}\n\nPage (page):\n{page}\n\nNext action:"))
    assert (refs.marks["1"], refs.marks["2"]) == ("3", "5")  # both counted places, in page order, above kind marks
    assert set(refs.marks.values()) == {str(i) for i in range(1, 8)}  # the rest: radios, textboxes, the button


def test_no_kind_word_is_a_stopword():
    from halo_plugin_qwen.references import KIND_ROLES, STOPWORDS

    assert not set(KIND_ROLES) & STOPWORDS  # ground_prompt reads kinds from the goal's words
