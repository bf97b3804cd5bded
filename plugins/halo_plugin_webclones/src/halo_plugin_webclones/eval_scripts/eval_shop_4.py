import json
import re
import sys

# shop-4: Buy the highest-rated product in the Home category with express shipping. Ship it to Alex Morgan, 500 Pine Road, Austin, TX 73301 and pay with card number 4242 4242 4242 4242, expiry 09/27, CVV 321, name on card Alex Morgan.
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


def new_orders(data):
    return [o for o in diff(data, "added", "shop", "orders").values() if isinstance(o, dict)]


def changed_orders(data):
    return diff(data, "updated", "shop", "orders")


def orders_untouched(data):
    return not new_orders(data) and not changed_orders(data) and not diff(data, "deleted", "shop", "orders")


def items_of(order):
    out = {}
    for it in order.get("items") or []:
        pid = it.get("productId")
        out[pid] = out.get(pid, 0) + int(it.get("quantity", 0))
    return out


def cart(data):
    return state(data, "shop", "cart")


def addr(s):
    s = re.sub(r"[.,#]", "", norm(s))
    for a, b in (("street", "st"), ("avenue", "ave"), ("road", "rd"), ("drive", "dr")):
        s = re.sub(r"\b%s\b" % a, b, s)
    return s


def shipped_to(order, name, street, city, states, zip_code):
    s = as_dict(order.get("shipping"))
    return (addr(s.get("fullName")) == addr(name) and addr(s.get("street")) == addr(street)
            and addr(s.get("city")) == addr(city) and addr(s.get("state")) in states
            and str(s.get("zip", "")).strip()[:5] == zip_code)


def card_last4(order):
    return str(as_dict(order.get("payment")).get("cardLast4", ""))


def check(data):
    orders = new_orders(data)
    if len(orders) != 1 or changed_orders(data):
        return False
    o = orders[0]
    return items_of(o) == {"p20": 1} and o.get("shippingMethod") == "express" and shipped_to(o, "Alex Morgan", "500 Pine Road", "Austin", ("tx", "texas"), "73301") and card_last4(o) == "4242"


def main():
    try:
        data = load(sys.argv[1])
        ok = bool(check(data))
    except Exception:
        ok = False
    print("SUCCESS" if ok else "FAILURE")


if __name__ == "__main__":
    main()
