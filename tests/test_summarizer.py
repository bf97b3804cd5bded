"""Observation summarizer: text, elements, page types and fingerprints."""

from halo_core.builtins.summarizer import classify_page, fingerprint_state, normalize_url, summarize
from halo_core.model import AXNode, RawObservation


def raw(url, nodes, error=""):
    return RawObservation(url=url, axtree=tuple(nodes), last_action_error=error)


NODES = [
    AXNode("RootWebArea", "Shop", depth=0),
    AXNode("heading", "Your cart", depth=1),
    AXNode("StaticText", "2 items", depth=2),
    AXNode("generic", "", depth=1),
    AXNode("button", "Checkout", bid="14", depth=2),
    AXNode("textbox", "Coupon", bid="15", value="SAVE10", depth=2),
]


def test_text_and_elements():
    obs = summarize(raw("http://shop.test/cart", NODES))
    assert obs.text.splitlines() == ["RootWebArea 'Shop'", "  heading 'Your cart'", "    StaticText '2 items'",
                                     "    [14] button 'Checkout'", "    [15] textbox 'Coupon' value='SAVE10'"]
    assert [e.bid for e in obs.elements] == ["14", "15"]
    assert obs.find("button", "Checkout").bid == "14"
    assert obs.page_type == "cart"
    assert obs.valid_bids == {"14", "15"}


def test_page_types():
    assert classify_page("http://s.test/checkout/payment", []) == "payment"
    assert classify_page("http://s.test/p/12", ["Order confirmed"]) == "confirmation"
    assert classify_page("http://s.test/", []) == "home"
    assert classify_page("http://m.test/compose", []) == "compose"
    assert classify_page("http://m.test/login", []) == "login"
    assert classify_page("http://s.test/search?q=x", []) == "search"


def test_url_normalization_drops_sessions_and_sorts():
    a = normalize_url("https://shop.test/cart/?b=2&a=1&sessionid=abc&utm_source=x")
    b = normalize_url("https://shop.test/cart?a=1&b=2&sessionid=zzz")
    assert a == b == "shop.test/cart?a=1&b=2"
    assert normalize_url("http://x.test/order/3f2504e0-4f89-11d3-9a0c-0305e82c3301") == "x.test/order/*"
    assert normalize_url("http://x.test/p/12") != normalize_url("http://x.test/p/13")


def test_fingerprint_stable_across_sessions_and_bids():
    one = summarize(raw("http://shop.test/cart?sid=1", NODES))
    renumbered = [AXNode(n.role, n.name, bid=str(int(n.bid) + 100) if n.bid else None, value=n.value, depth=n.depth)
                  for n in NODES]
    two = summarize(raw("http://shop.test/cart?sid=2", renumbered))
    assert one.fingerprint == two.fingerprint


def test_fingerprint_distinguishes_states():
    base = fingerprint_state("http://s.test/a", "page", (AXNode("textbox", "Search", bid="1"),), False)
    filled = fingerprint_state("http://s.test/a", "page", (AXNode("textbox", "Search", bid="1", value="x"),), False)
    error = fingerprint_state("http://s.test/a", "page", (AXNode("textbox", "Search", bid="1"),), True)
    other_page = fingerprint_state("http://s.test/b", "page", (AXNode("textbox", "Search", bid="1"),), False)
    other_controls = fingerprint_state("http://s.test/a", "page", (AXNode("button", "Go", bid="1"),), False)
    assert len({base, filled, error, other_page, other_controls}) == 5


def test_loop_detector():
    from halo_core.builtins.loop_detector import detect_loop

    assert detect_loop(["A", "B", "A"], ["x", "y"]) == "same state seen twice within 5 steps"
    assert detect_loop(["A", "B", "C", "D", "E"], ["a", "b", "a", "b"]) == "actions alternate a / b"
    assert detect_loop(["A", "B", "C"], ["x", "y"]) == ""
    assert detect_loop(["A", "A"], ["x"]) == ""  # one failed action is not a loop
    assert detect_loop(["A", "B", "C", "D", "E", "F", "G", "A"], ["1", "2", "3", "4", "5", "6", "7"]) == ""
