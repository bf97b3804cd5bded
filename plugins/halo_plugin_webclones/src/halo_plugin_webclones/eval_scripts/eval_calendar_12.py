import json
import re
import sys

# calendar-12: Cancel my tennis lesson on July 20.
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


def added_events(data):
    return [e for e in diff(data, "added", "calendar", "events").values() if isinstance(e, dict)]


def updated_events(data):
    return diff(data, "updated", "calendar", "events")


def deleted_events(data):
    return diff(data, "deleted", "calendar", "events")


def event(data, eid):
    return as_dict(state(data, "calendar", "events").get(eid))


def cal_untouched(data):
    return not added_events(data) and not updated_events(data) and not deleted_events(data)


def emails_set(xs):
    return set(norm(x) for x in (xs or []))


def hhmm(s):
    m = re.match(r"^\s*(\d{1,2}):(\d{2})", str(s or ""))
    return "%02d:%s" % (int(m.group(1)), m.group(2)) if m else ""


def one_new_event(data, title, date, start, end, invitees=None):
    evs = added_events(data)
    if len(evs) != 1 or updated_events(data) or deleted_events(data):
        return False
    e = evs[0]
    ok = (norm(e.get("title")) == norm(title) and e.get("date") == date
          and hhmm(e.get("start")) == start and hhmm(e.get("end")) == end)
    if invitees is not None:
        ok = ok and emails_set(e.get("invitees")) == set(invitees)
    return ok


def check(data):
    return infeasible(data) and cal_untouched(data)


def main():
    try:
        data = load(sys.argv[1])
        ok = bool(check(data))
    except Exception:
        ok = False
    print("SUCCESS" if ok else "FAILURE")


if __name__ == "__main__":
    main()
