import json
import re
import sys

# mail-4: Forward the flight itinerary email from SkyJet Airlines to sam.lee@example.com.
# Reads the REAL /finish JSON (path in argv[1]) and prints SUCCESS or FAILURE.
# HALO merges the agent's final message as "model_response" and "infeasible".


def load(path):
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def dig(d, *keys):
    cur = d
    for k in keys:
        if isinstance(cur, dict) and k in cur:
            cur = cur[k]
        else:
            return None
    return cur


def as_dict(x):
    return x if isinstance(x, dict) else {}


def diff(data, kind, group, coll):
    return as_dict(dig(data, "initialfinaldiff", kind, group, coll))


def state(data, group, coll):
    return as_dict(dig(data, "state", group, coll))


def norm(s):
    return re.sub(r"\s+", " ", str(s if s is not None else "")).strip().lower()


def answer(data):
    return norm(data.get("model_response", ""))


def infeasible(data):
    return data.get("infeasible") is True


def has_number(text, value):
    text = str(text).replace(",", "")
    return re.search(r"(?<![\d.])" + re.escape(value) + r"(?!\d)", text) is not None


def new_emails(data):
    return [e for e in diff(data, "added", "email", "emails").values() if isinstance(e, dict)]


def sent_new(data):
    return [e for e in new_emails(data) if e.get("folder") == "sent"]


def updates(data):
    return diff(data, "updated", "email", "emails")


def folder_changes(data):
    return {k: v.get("folder") for k, v in updates(data).items() if isinstance(v, dict) and "folder" in v}


def recipients(e):
    return set(norm(x) for x in (e.get("to") or []))


def email(data, eid):
    return as_dict(state(data, "email", "emails").get(eid))


def mail_untouched(data):
    """Nothing sent/deleted/moved/relabelled (opening emails, i.e. 'read', is fine)."""
    if new_emails(data) or diff(data, "deleted", "email", "emails"):
        return False
    for upd in updates(data).values():
        if not isinstance(upd, dict) or set(upd) - {"read"}:
            return False
    return True


def labels_only_changed_on(data, eid):
    if new_emails(data) or diff(data, "deleted", "email", "emails") or folder_changes(data):
        return False
    for k, upd in updates(data).items():
        if k != eid and isinstance(upd, dict) and "labels" in upd:
            return False
    return True


def check(data):
    sent = sent_new(data)
    if len(sent) != 1 or len(new_emails(data)) != 1 or folder_changes(data):
        return False
    e = sent[0]
    is_fwd = e.get("forwardOf") == "e3" or ("itinerary" in norm(e.get("subject")) and "qx7p2l" in norm(e.get("body")))
    return is_fwd and recipients(e) == {"sam.lee@example.com"}


def main():
    try:
        data = load(sys.argv[1])
        ok = bool(check(data))
    except Exception:
        ok = False
    print("SUCCESS" if ok else "FAILURE")


if __name__ == "__main__":
    main()
