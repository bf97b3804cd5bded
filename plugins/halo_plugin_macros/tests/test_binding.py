"""The goal-binding rule on the web clones' real goal texts (train goal → held-out goal)."""

from __future__ import annotations

import pytest

from halo_plugin_macros import bind, goal_variant

SHOP_2 = ("Buy 2 Acme Blender 3000 blenders and ship them to Jane Doe, 42 Maple Street, Springfield, IL 62704 with "
          "standard shipping. Pay with card number 4111 1111 1111 1111, expiry 12/26, CVV 123, name on card Jane Doe.")
SHOP_9 = ("Buy 3 AquaPeak Water Bottles and ship them to John Smith, 7 Ocean Avenue, Portland, OR 97201 with standard "
          "shipping. Pay with card number 5555 5555 5555 4444, expiry 03/26, CVV 456, name on card John Smith.")
SHOP_2_VALUES = ["Acme Blender 3000", "2", "Jane Doe", "42 Maple Street", "Springfield", "IL", "62704",
                 "4111 1111 1111 1111", "12/26", "123"]


@pytest.mark.parametrize("value, expected", [
    ("Acme Blender 3000", "AquaPeak Water Bottles"), ("2", "3"), ("Jane Doe", "John Smith"),
    ("42 Maple Street", "7 Ocean Avenue"), ("Springfield", "Portland"), ("IL", "OR"), ("62704", "97201"),
    ("4111 1111 1111 1111", "5555 5555 5555 4444"), ("12/26", "03/26"), ("123", "456"),
])
def test_values_bind_by_their_context_in_the_goal(value, expected):
    assert bind(SHOP_9, [goal_variant(SHOP_2, value, SHOP_2_VALUES)]) == expected


def test_quoted_and_time_values():
    train = ("Create an event called 'Design review' on Tuesday of next week from 14:00 to 15:00 and invite "
             "olivia.chen@example.com and marco.rossi@example.com.")
    held_out = ("Create an event called 'Sprint planning' on Thursday of next week from 10:00 to 11:30 and invite "
                "daniel.kim@example.com.")
    values = ["Design review", "2024-07-23", "14:00", "15:00"]
    assert bind(held_out, [goal_variant(train, "Design review", values)]) == "Sprint planning"
    assert bind(held_out, [goal_variant(train, "14:00", values)]) == "10:00"
    assert bind(held_out, [goal_variant(train, "15:00", values)]) == "11:30"
    assert goal_variant(train, "2024-07-23", values) is None  # not in the goal: nothing to bind from


def test_no_binding_when_the_context_is_absent():
    variant = goal_variant("Who sent me the email about the Q3 budget?", "Q3 budget", ["Q3 budget"])
    assert bind("Who sent me the email about the new parking policy?", [variant]) == "new parking policy"
    assert bind("Delete the email about", [variant]) is None
    assert bind("Archive every newsletter.", [variant]) is None
