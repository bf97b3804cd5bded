"""Expert solutions for every webclones task, expressed as accessibility-tree steps.

Each step is ``(verb, target, *args)``:

* ``("click", (role, name))``, ``("fill", (role, name), text)``,
  ``("select_option", (role, name), option)``, ``("check", (role, name))``,
  ``("uncheck", (role, name))``
* ``("goto_path", "/path")`` (not used by the shipped solutions)
* terminal ``("send_msg_to_user", text)`` or ``("report_infeasible", reason)``

``(role, name)`` is a Chromium accessibility role and the element's exact
accessible name; every one of them is unique on the page where it is used.
Every solution starts on the site's home page (``/``) right after ``/config``.
"""

from __future__ import annotations

from typing import Any

Step = tuple

ALEX = ("Alex Morgan", "500 Pine Road", "Austin", "TX", "73301", "4242 4242 4242 4242", "09/27", "321", "Alex Morgan")


def _search_shop(text: str) -> list[Step]:
    return [("fill", ("searchbox", "Search products"), text), ("click", ("button", "Search"))]


def _buy(product: str, qty: int) -> list[Step]:
    steps: list[Step] = [("click", ("link", product))]
    if qty != 1:
        steps.append(("select_option", ("combobox", "Quantity"), str(qty)))
    steps.append(("click", ("button", f"Add {product} to cart")))
    return steps


def _checkout(name, street, city, state, zip_code, card, expiry, cvv, holder, express: bool = False) -> list[Step]:
    steps: list[Step] = [
        ("click", ("link", "Proceed to checkout")),
        ("fill", ("textbox", "Full name"), name),
        ("fill", ("textbox", "Street address"), street),
        ("fill", ("textbox", "City"), city),
        ("fill", ("textbox", "State"), state),
        ("fill", ("textbox", "ZIP code"), zip_code),
    ]
    if express:
        steps.append(("check", ("radio", "Express shipping ($9.99)")))
    steps += [
        ("fill", ("textbox", "Name on card"), holder),
        ("fill", ("textbox", "Card number"), card),
        ("fill", ("textbox", "Expiry (MM/YY)"), expiry),
        ("fill", ("textbox", "CVV"), cvv),
        ("click", ("button", "Place order")),
        ("click", ("button", "Confirm order")),
    ]
    return steps


def _compose(to: str, subject: str, body: str) -> list[Step]:
    return [
        ("click", ("link", "Compose")),
        ("fill", ("textbox", "To"), to),
        ("fill", ("textbox", "Subject"), subject),
        ("fill", ("textbox", "Body"), body),
        ("click", ("button", "Send")),
    ]


def _new_event(title: str, date: str, start: str, end: str, invitees: str = "") -> list[Step]:
    steps: list[Step] = [
        ("click", ("link", "Create event")),
        ("fill", ("textbox", "Title"), title),
        ("fill", ("textbox", "Date (YYYY-MM-DD)"), date),
        ("fill", ("textbox", "Start time (HH:MM)"), start),
        ("fill", ("textbox", "End time (HH:MM)"), end),
    ]
    if invitees:
        steps.append(("fill", ("textbox", "Invitees (comma-separated emails)"), invitees))
    steps.append(("click", ("button", "Save event")))
    return steps


def _delete_event(link: str) -> list[Step]:
    return [("click", ("link", link)), ("click", ("button", "Delete event")), ("click", ("button", "Confirm delete"))]


DONE: Step = ("send_msg_to_user", "Done")

EXPERTS: dict[str, list[Step]] = {
    # ------------------------------------------------------------------ shop
    "shop-1": _search_shop("Nimbus Wireless Earbuds") + _buy("Nimbus Wireless Earbuds", 2) + [DONE],
    "shop-2": _search_shop("Acme Blender 3000") + _buy("Acme Blender 3000", 2)
    + _checkout("Jane Doe", "42 Maple Street", "Springfield", "IL", "62704", "4111 1111 1111 1111", "12/26", "123", "Jane Doe")
    + [DONE],
    "shop-3": _search_shop("blender") + [
        ("select_option", ("combobox", "Sort by"), "Price: low to high"),
        ("click", ("button", "Apply filters")),
        ("send_msg_to_user", "The cheapest blender is the Breezy Mini Blender at $49.99."),
    ],
    "shop-4": [
        ("click", ("link", "Home")),
        ("select_option", ("combobox", "Sort by"), "Customer rating"),
        ("click", ("button", "Apply filters")),
    ] + _buy("CozyKnit Throw Blanket", 1) + _checkout(*ALEX, express=True) + [DONE],
    "shop-5": [
        ("click", ("link", "Orders")),
        ("click", ("link", "ORD-1001")),
        ("send_msg_to_user", "Order ORD-1001 (ZenFlow Yoga Mat and 2 AquaPeak Water Bottles) had a total of $61.97."),
    ],
    "shop-6": [
        ("click", ("link", "Orders")),
        ("click", ("link", "ORD-1002")),
        ("click", ("button", "Cancel order")),
        ("click", ("button", "Confirm cancellation")),
        DONE,
    ],
    "shop-7": _search_shop("Samsung Galaxy S24") + [
        ("report_infeasible", "The shop does not sell a Samsung Galaxy S24 (no matching product)."),
    ],
    "shop-8": [
        ("click", ("link", "Cart")),
        ("click", ("button", "Remove Orbit Bluetooth Speaker")),
        ("fill", ("spinbutton", "Quantity for The Quiet Garden"), "3"),
        ("click", ("button", "Update The Quiet Garden")),
    ] + _checkout(*ALEX) + [DONE],
    "shop-9": _search_shop("AquaPeak") + _buy("AquaPeak Water Bottle", 3)
    + _checkout("John Smith", "7 Ocean Avenue", "Portland", "OR", "97201", "5555 5555 5555 4444", "03/26", "456", "John Smith")
    + [DONE],
    "shop-10": [
        ("click", ("link", "Electronics")),
        ("select_option", ("combobox", "Sort by"), "Price: high to low"),
        ("click", ("button", "Apply filters")),
        ("send_msg_to_user", "The most expensive Electronics product is the Vista 27-inch Monitor at $249.99."),
    ],
    "shop-11": _search_shop("Summit Daypack") + [
        ("click", ("link", "Summit Daypack 20L")),
        ("report_infeasible", "The Summit Daypack 20L is out of stock, so it cannot be bought."),
    ],
    "shop-12": _search_shop("yoga mat") + _buy("ZenFlow Yoga Mat", 3) + [DONE],
    # ------------------------------------------------------------------ mail
    "mail-1": _compose("priya.shah@example.com", "Lunch on Friday",
                       "Hi Priya,\n\nAre you free for lunch on Friday?\n\nAlex") + [DONE],
    "mail-2": [
        ("fill", ("searchbox", "Search mail"), "Q3 budget"),
        ("click", ("button", "Search")),
        ("click", ("link", "Q3 budget proposal")),
        ("send_msg_to_user", "The Q3 budget email was sent by Daniel Kim (daniel.kim@example.com)."),
    ],
    "mail-3": [
        ("click", ("link", "Team offsite next month")),
        ("click", ("link", "Reply")),
        ("fill", ("textbox", "Body"), "Count me in, I will attend."),
        ("click", ("button", "Send")),
        DONE,
    ],
    "mail-4": [
        ("click", ("link", "Your flight itinerary: SFO to ORD")),
        ("click", ("link", "Forward")),
        ("fill", ("textbox", "To"), "sam.lee@example.com"),
        ("click", ("button", "Send")),
        DONE,
    ],
    "mail-5": [
        ("click", ("link", "TechWeekly: AI chips special")),
        ("click", ("button", "Archive")),
        ("click", ("link", "TechWeekly: The week in gadgets")),
        ("click", ("button", "Archive")),
        DONE,
    ],
    "mail-6": [
        ("click", ("link", "Your 20% coupon has expired")),
        ("click", ("button", "Delete")),
        ("click", ("button", "Confirm delete")),
        DONE,
    ],
    "mail-7": [
        ("click", ("link", "Your June account statement is ready")),
        ("check", ("checkbox", "Finance")),
        ("click", ("button", "Apply labels")),
        DONE,
    ],
    "mail-8": [
        ("fill", ("searchbox", "Search mail"), "Elon Musk"),
        ("click", ("button", "Search")),
        ("report_infeasible", "There is no email from Elon Musk about a Mars trip in the mailbox."),
    ],
    "mail-9": _compose("olivia.chen@example.com", "Project timeline",
                       "Hi Olivia,\n\nCould you please share the updated project timeline?\n\nThanks,\nAlex") + [DONE],
    "mail-10": [
        ("fill", ("searchbox", "Search mail"), "parking policy"),
        ("click", ("button", "Search")),
        ("click", ("link", "New parking policy starting August")),
        ("send_msg_to_user", "The parking policy email was sent by Helen Park (helen.park@example.com)."),
    ],
    "mail-11": [
        ("click", ("link", "Your flight itinerary: SFO to ORD")),
        ("check", ("checkbox", "Travel")),
        ("click", ("button", "Apply labels")),
        DONE,
    ],
    "mail-12": [
        ("fill", ("searchbox", "Search mail"), "landlord"),
        ("click", ("button", "Search")),
        ("report_infeasible", "There is no email from a landlord about a rent increase in the mailbox."),
    ],
    # ------------------------------------------------------------------ calendar
    "calendar-1": [
        ("click", ("link", "10:30 Dentist appointment")),
        ("send_msg_to_user", "Your dentist appointment on July 18 is at 10:30 (until 11:15)."),
    ],
    "calendar-2": _new_event("Design review", "2024-07-23", "14:00", "15:00",
                             "olivia.chen@example.com, marco.rossi@example.com") + [DONE],
    "calendar-3": _delete_event("18:00 Yoga class") + [DONE],
    "calendar-4": [
        ("click", ("link", "12:30 Lunch with Sarah")),
        ("click", ("link", "Edit event")),
        ("fill", ("textbox", "Start time (HH:MM)"), "13:00"),
        ("fill", ("textbox", "End time (HH:MM)"), "14:00"),
        ("click", ("button", "Save changes")),
        DONE,
    ],
    "calendar-5": [
        ("click", ("link", "Week view")),
        ("click", ("link", "Next week")),
        ("send_msg_to_user", "You have 4 events that week."),
    ],
    "calendar-6": [
        ("click", ("link", "14:00 Project kickoff")),
        ("click", ("link", "Edit event")),
        ("fill", ("textbox", "Invitees (comma-separated emails)"),
         "olivia.chen@example.com, marco.rossi@example.com, priya.shah@example.com"),
        ("click", ("button", "Save changes")),
        DONE,
    ],
    "calendar-7": [
        ("click", ("link", "Week view")),
        ("report_infeasible", "There is no meeting with the CEO on July 16 in the calendar."),
    ],
    "calendar-8": [("click", ("link", "Next month"))]
    + _new_event("Call with bank", "2024-08-05", "09:00", "09:30") + [DONE],
    "calendar-9": [
        ("click", ("link", "07:45 Flight to Chicago")),
        ("send_msg_to_user", "Your flight to Chicago departs at 07:45 on July 26."),
    ],
    "calendar-10": _new_event("Sprint planning", "2024-07-25", "10:00", "11:30", "daniel.kim@example.com") + [DONE],
    "calendar-11": [("click", ("link", "Next month"))] + _delete_event("08:30 Car service") + [DONE],
    "calendar-12": [
        ("click", ("link", "Week view")),
        ("report_infeasible", "There is no tennis lesson on July 20 in the calendar."),
    ],
}

TERMINAL_VERBS = ("send_msg_to_user", "report_infeasible")


def expert_steps(task_id: str) -> list[tuple]:
    """The expert solution for ``task_id`` (a fresh list; see module docstring)."""
    key = str(task_id)
    for prefix in ("webclones.", "v2."):
        if key.startswith(prefix):
            key = key[len(prefix):]
    if key not in EXPERTS:
        raise KeyError(f"no expert solution for task {task_id!r}")
    return list(EXPERTS[key])


def run_with_playwright(page: Any, base_url: str, steps: list[tuple], wait_ms: int = 3000) -> tuple[str, str]:
    """Execute ``steps`` on a Playwright ``page`` (already on the site) using get_by_role.

    Returns ``(terminal_verb, message)``.  Raises if a locator is missing or ambiguous.
    Handy for sanity checks; the HALO browser environment resolves locators to bids itself.
    """
    for step in steps:
        verb = step[0]
        if verb in TERMINAL_VERBS:
            return verb, str(step[1])
        if verb == "goto_path":
            page.goto(base_url.rstrip("/") + step[1])
            continue
        role, name = step[1]
        # Playwright locators are strict: any action fails if (role, name) matches 0 or >1 elements.
        loc = page.get_by_role(role, name=name, exact=True)
        if verb == "click":
            # Mark the current document, click, then wait until either a new document
            # replaced it (navigation) or a modal dialog opened.
            page.evaluate("window.__wcOld = true")
            loc.click()
            for _ in range(3):
                try:
                    page.wait_for_function(
                        "() => !window.__wcOld || !!document.querySelector('dialog[open]')", timeout=wait_ms)
                    break
                except Exception as exc:  # context destroyed mid-navigation -> retry; timeout -> give up
                    if "Timeout" in type(exc).__name__ or "Timeout" in str(exc):
                        break
            page.wait_for_load_state("load")
        elif verb == "fill":
            loc.fill(str(step[2]))
        elif verb == "select_option":
            loc.select_option(str(step[2]))
        elif verb == "check":
            loc.check()
        elif verb == "uncheck":
            loc.uncheck()
        else:
            raise ValueError(f"unknown verb {verb!r}")
    raise AssertionError("expert steps did not end with send_msg_to_user/report_infeasible")
