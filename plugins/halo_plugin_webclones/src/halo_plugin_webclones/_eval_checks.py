"""Each web-clone task's success condition: the ``check(data)`` of its eval script.

A function here is named after its task (``mail_2`` for ``mail-2``) and uses the
helpers of its site's section of :mod:`halo_plugin_webclones._eval_template`; the
generator copies it into the task's script renamed ``check``. ``data`` is the site's
/finish JSON with the agent's final message as ``model_response`` and ``infeasible``.
"""

from ._eval_template import *  # noqa: F403  (the helpers every generated script carries)

# ruff: noqa: F405


def shop_1(data):
    c = cart(data)
    return set(c) == {"p7"} and int(c["p7"]["quantity"]) == 2 and orders_untouched(data)


def shop_2(data):
    return one_new_order(data, {"p1": 2}, "standard", "Jane Doe", "42 Maple Street", "Springfield",
                         ("il", "illinois"), "62704", card="1111")


def shop_3(data):
    return answer_gives(data, "49.99", wrong=("79.99", "129.00"))


def shop_4(data):
    return one_new_order(data, {"p20": 1}, "express", "Alex Morgan", "500 Pine Road", "Austin", ("tx", "texas"),
                         "73301", card="4242")


def shop_5(data):
    return answer_gives(data, "61.97")


def shop_6(data):
    o = as_dict(state(data, "shop", "orders").get("ORD-1002"))
    return (norm(o.get("status")) == "cancelled" and set(changed_orders(data)) == {"ORD-1002"}
            and not new_orders(data) and norm(as_dict(state(data, "shop", "orders").get("ORD-1001")).get("status")) == "delivered")


def shop_7(data):
    return infeasible(data) and orders_untouched(data)


def shop_8(data):
    return one_new_order(data, {"p12": 3}, "standard", "Alex Morgan", "500 Pine Road", "Austin", ("tx", "texas"),
                         "73301")


def shop_9(data):
    return one_new_order(data, {"p17": 3}, "standard", "John Smith", "7 Ocean Avenue", "Portland",
                         ("or", "oregon"), "97201", card="4444")


def shop_10(data):
    return answer_gives(data, "249.99", wrong=("59.99",))


def shop_11(data):
    return infeasible(data) and orders_untouched(data)


def shop_12(data):
    c = cart(data)
    return set(c) == {"p16"} and int(c["p16"]["quantity"]) == 3 and orders_untouched(data)


def mail_1(data):
    return one_sent_email(data, "priya.shah@example.com", "lunch on friday", "lunch")


def mail_2(data):
    return answer_names_sender(data, "daniel kim", "daniel.kim@example.com")


def mail_3(data):
    sent = sent_new(data)
    if len(sent) != 1 or len(new_emails(data)) != 1 or folder_changes(data):
        return False
    e = sent[0]
    is_reply = e.get("inReplyTo") == "e2" or (norm(e.get("subject")).startswith("re:") and "offsite" in norm(e.get("subject")))
    return is_reply and "marco.rossi@example.com" in recipients(e) and "i will attend" in norm(e.get("body"))


def mail_4(data):
    sent = sent_new(data)
    if len(sent) != 1 or len(new_emails(data)) != 1 or folder_changes(data):
        return False
    e = sent[0]
    is_fwd = e.get("forwardOf") == "e3" or ("itinerary" in norm(e.get("subject")) and "qx7p2l" in norm(e.get("body")))
    return is_fwd and recipients(e) == {"sam.lee@example.com"}


def mail_5(data):
    fc = folder_changes(data)
    return fc == {"e5": "archive", "e6": "archive"} and not new_emails(data) and not diff(data, "deleted", "email", "emails")


def mail_6(data):
    fc = folder_changes(data)
    deleted = diff(data, "deleted", "email", "emails")
    gone = (fc == {"e7": "trash"} and not deleted) or (not fc and set(deleted) == {"e7"})
    return gone and not new_emails(data)


def mail_7(data):
    return "Finance" in (email(data, "e4").get("labels") or []) and labels_only_changed_on(data, "e4")


def mail_8(data):
    return infeasible(data) and mail_untouched(data)


def mail_9(data):
    return one_sent_email(data, "olivia.chen@example.com", "project timeline", "timeline")


def mail_10(data):
    return answer_names_sender(data, "helen park", "helen.park@example.com")


def mail_11(data):
    return "Travel" in (email(data, "e3").get("labels") or []) and labels_only_changed_on(data, "e3")


def mail_12(data):
    return infeasible(data) and mail_untouched(data)


def calendar_1(data):
    if infeasible(data):
        return False
    return re.search(r"(?<!\d)10[:.]30", answer(data)) is not None and cal_untouched(data)


def calendar_2(data):
    return one_new_event(data, "Design review", "2024-07-23", "14:00", "15:00",
                         {"olivia.chen@example.com", "marco.rossi@example.com"})


def calendar_3(data):
    return set(deleted_events(data)) == {"ev5"} and not added_events(data) and not updated_events(data)


def calendar_4(data):
    e = event(data, "ev4")
    return (set(updated_events(data)) == {"ev4"} and not added_events(data) and not deleted_events(data)
            and e.get("date") == "2024-07-17" and hhmm(e.get("start")) == "13:00" and hhmm(e.get("end")) == "14:00"
            and norm(e.get("title")) == "lunch with sarah")


def calendar_5(data):
    if infeasible(data):
        return False
    a = answer(data)
    return re.search(r"\b(4|four)\b", a) is not None and cal_untouched(data)


def calendar_6(data):
    e = event(data, "ev3")
    return (set(updated_events(data)) == {"ev3"} and not added_events(data) and not deleted_events(data)
            and emails_set(e.get("invitees")) == {"olivia.chen@example.com", "marco.rossi@example.com", "priya.shah@example.com"}
            and e.get("date") == "2024-07-16" and hhmm(e.get("start")) == "14:00" and hhmm(e.get("end")) == "15:00")


def calendar_7(data):
    return infeasible(data) and cal_untouched(data)


def calendar_8(data):
    return one_new_event(data, "Call with bank", "2024-08-05", "09:00", "09:30")


def calendar_9(data):
    if infeasible(data):
        return False
    return re.search(r"(?<!\d)0?7[:.]45", answer(data)) is not None and cal_untouched(data)


def calendar_10(data):
    return one_new_event(data, "Sprint planning", "2024-07-25", "10:00", "11:30", {"daniel.kim@example.com"})


def calendar_11(data):
    return set(deleted_events(data)) == {"ev10"} and not added_events(data) and not updated_events(data)


def calendar_12(data):
    return infeasible(data) and cal_untouched(data)
