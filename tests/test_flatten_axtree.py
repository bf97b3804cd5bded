"""The flattener names an element Chromium left nameless by its text, and only such an element."""

from __future__ import annotations

from halo_core.env.browser.axtree import flatten_axtree


def _ax(node_id, role, name="", children=(), backend=None, ignored=False):
    node = {"nodeId": str(node_id), "role": {"value": role}, "childIds": [str(c) for c in children],
            "ignored": ignored}
    if name:
        node["name"] = {"value": name}
    if backend is not None:
        node["backendDOMNodeId"] = backend
    return node


def _page(*body):
    nodes = [_ax(1, "RootWebArea", "Page", children=[n["nodeId"] for n in body if n.get("top")])]
    for n in body:
        n.pop("top", None)
        nodes.append(n)
    for n in nodes[1:]:
        n.setdefault("parentId", "1")
    return nodes


def _top(node):
    node["top"] = True
    return node


def test_span_with_click_handler_is_named_by_its_text():
    nodes = _page(_top(_ax(2, "generic", children=[3, 5], backend=20)),
                  _ax(3, "StaticText", "Click", children=[4]), _ax(4, "InlineTextBox", "Click"),
                  _ax(5, "StaticText", "  me\n"))
    out = flatten_axtree(nodes, {20: "7"})
    assert [(n.role, n.name, n.bid) for n in out] == [("generic", "Click me", "7")]


def test_named_elements_and_elements_without_a_bid_keep_what_chromium_says():
    nodes = _page(_top(_ax(2, "button", "Submit form", children=[3], backend=20)),
                  _ax(3, "StaticText", "Go"),
                  _top(_ax(4, "generic", children=[5], backend=21)),
                  _ax(5, "StaticText", "plain text"),
                  _top(_ax(6, "textbox", backend=22, children=[7])),
                  _ax(7, "StaticText", "typed"))
    out = flatten_axtree(nodes, {20: "1", 22: "3"})
    assert [(n.role, n.name, n.bid) for n in out] == [
        ("button", "Submit form", "1"), ("StaticText", "Go", None),
        ("StaticText", "plain text", None),  # no bid: not an element, its text stays text
        ("textbox", "", "3"),  # an editor's text is its value, never its name
    ]


def test_hidden_text_does_not_name_an_element():
    nodes = _page(_top(_ax(2, "generic", children=[3, 4], backend=20)),
                  _ax(3, "StaticText", "secret", ignored=True), _ax(4, "StaticText", "Next"))
    out = flatten_axtree(nodes, {20: "9"})
    assert [(n.role, n.name, n.bid) for n in out] == [("generic", "Next", "9")]
