"""Chromium's accessibility tree, flattened to HALO :class:`~halo_core.model.AXNode` in document order.

The tree comes from ``Accessibility.getFullAXTree``; bids come from the
``data-halo-bid`` attributes that ``mark_bids.js`` writes, matched to AX nodes
through the backend DOM node ids of one ``DOMSnapshot.captureSnapshot``. Wrapper
roles are dropped (their children lifted), editor internals and ``<select>``
popups are summarised as ``value``/``options``, and consecutive text runs merge.
"""

from __future__ import annotations

from typing import Any

from halo_core.model import AXNode

__all__ = ["BID_ATTR", "TRUNCATED_ROLE", "bids_from_snapshot", "flatten_axtree"]

BID_ATTR = "data-halo-bid"
#: Role of the last node of a tree cut at ``max_nodes`` (see :func:`flatten_axtree`).
TRUNCATED_ROLE = "truncated"

# AX roles that never show up as nodes (their children are lifted).
_DROP_ROLES = frozenset({"none", "presentation", "generic", "InlineTextBox", "ListMarker", "LineBreak",
                         "RootWebArea", "WebArea", "Ignored", "IframePresentational", "LayoutTable",
                         "LayoutTableRow", "LayoutTableCell", "Unknown"})
# Roles whose inner AX subtree is an implementation detail (editor internals, <select> popups).
_LEAF_ROLES = frozenset({"textbox", "searchbox", "combobox", "spinbutton", "slider",
                         "switch", "checkbox", "radio", "img", "image", "progressbar", "meter",
                         "scrollbar", "separator"})
_VALUE_ROLES = frozenset({"textbox", "searchbox", "combobox", "spinbutton", "slider", "progressbar",
                          "meter", "scrollbar"})
_BOOL_PROPS = ("focused", "disabled", "expanded", "selected", "required", "readonly", "multiselectable",
               "modal", "pressed", "busy")
_TEXT_ROLES = frozenset({"StaticText"})


def _clean(text: Any) -> str:
    # the same as re.sub(r"\s+", " ", text).strip(): str.split() and \s agree on Unicode whitespace
    return " ".join(str(text).split()) if text else ""



def bids_from_snapshot(snap: dict) -> dict[int, str]:
    """backendNodeId -> bid for every element carrying ``data-halo-bid`` (main frame)."""
    strings = snap.get("strings") or []
    docs = snap.get("documents") or []
    if not docs:
        return {}
    try:
        key = strings.index(BID_ATTR)
    except ValueError:
        return {}
    nodes = docs[0].get("nodes", {})
    backend = nodes.get("backendNodeId", [])
    attributes = nodes.get("attributes", [])
    out: dict[int, str] = {}
    for i, attrs in enumerate(attributes):
        if attrs and key in attrs:
            # attrs is [name, value, name, value, ...]; the name sits at an even index
            for j in range(0, len(attrs), 2):
                if attrs[j] == key:
                    bid = strings[attrs[j + 1]]
                    if bid.isascii() and bid.isdigit():  # mark_bids.js writes numbers; nothing else is ours
                        out[backend[i]] = bid
                    break
    return out


def _prop_value(prop: dict) -> Any:
    v = prop.get("value", {})
    return v.get("value")


def flatten_axtree(nodes: list[dict], bid_of: dict[int, str], max_nodes: int | None = None,
                   boxes: dict[str, list[float]] | None = None) -> tuple[AXNode, ...]:
    """Chromium's AX nodes -> HALO AXNodes in document order (see module docstring).

    With ``max_nodes``, at most that many nodes are kept; when the page had more, a
    last node with role :data:`TRUNCATED_ROLE` says so (``props``: ``max_nodes``,
    ``source_nodes``, ``unvisited_source_nodes``). Chromium never reports that role,
    so a page cannot fake the marker.

    An element with a bid that Chromium left without a name (a ``<span>`` with a click
    handler) is named by its text, as a person reads it; its text is then not repeated
    below it, as for a button named by its content.

    ``boxes`` (bid -> ``[x, y, width, height]``, CSS pixels of the viewport, as
    ``mark_bids.js`` measures them) become the elements' ``bbox`` prop: what BrowserGym
    calls ``extra_element_properties[bid]["bbox"]``, the target of coordinate actions.

    This runs on every observation over tens of thousands of nodes, so the loop reads
    each node's fields once and computes a name only where it is used.
    """
    if not nodes:
        return ()
    by_id = {n["nodeId"]: n for n in nodes}
    root = nodes[0]
    for n in nodes:  # the root is the node without a (known) parent
        if "parentId" not in n or n["parentId"] not in by_id:
            root = n
            break
    out: list[AXNode] = []
    append = out.append
    get_bid, get_child = bid_of.get, by_id.get
    drop_roles, text_roles, leaf_roles, value_roles = _DROP_ROLES, _TEXT_ROLES, _LEAF_ROLES, _VALUE_ROLES
    limit = max_nodes if max_nodes is not None else len(nodes) + 1
    n_out = 0  # len(out)
    # stack of (node, depth, ancestor names for redundancy checks)
    stack: list[tuple[dict, int, str]] = [(root, 0, "")]
    pop, push = stack.pop, stack.append
    visited = 0
    while stack:
        if n_out >= limit:
            append(AXNode(role=TRUNCATED_ROLE, props={
                "max_nodes": max_nodes, "source_nodes": len(nodes), "unvisited_source_nodes": len(nodes) - visited}))
            break
        node, depth, ancestor_text = pop()
        visited += 1
        r = node.get("role")
        role = (r.get("value", "") or "") if r else ""
        if role == "InlineTextBox":
            continue
        bid = get_bid(node.get("backendDOMNodeId"))
        if node.get("ignored", False):  # not shown; its children are, at its depth
            emit = False
            name = ""
        elif role in drop_roles and not bid and role != "generic":
            emit = False
            name = ""
        else:
            nm = node.get("name")
            name = _clean(nm.get("value", "")) if nm else ""
            if role in drop_roles:
                emit = bool(bid or name)  # role is generic here, or the node has a bid
            elif role == "LabelText" and not name:
                emit = False
            elif role == "MenuListPopup":
                emit = False
            else:
                emit = True
        if emit and role in text_roles:
            if not name or name in ancestor_text:
                continue
            prev = out[-1] if out else None
            if prev is not None and prev.role == "StaticText" and prev.depth == depth and prev.bid is None:
                out[-1] = AXNode(role="StaticText", name=_clean(prev.name + " " + name), depth=depth)
            else:
                append(AXNode(role="StaticText", name=name, depth=depth))
                n_out += 1
            continue
        child_depth = depth
        child_text = ancestor_text
        if emit:
            props: dict[str, Any] = {}
            properties = node.get("properties")
            if properties:
                for prop in properties:
                    pname = prop.get("name")
                    if pname in _BOOL_PROPS:
                        val = _prop_value(prop)
                        if val is True or val == "true":
                            props[pname] = True
                        elif pname in ("expanded", "selected", "pressed") and val in (False, "false"):
                            props[pname] = False
                    elif pname == "checked":
                        val = _prop_value(prop)
                        props["checked"] = "mixed" if val == "mixed" else (val is True or val == "true")
                    elif pname == "invalid":
                        val = _prop_value(prop)
                        if val and val != "false":
                            props["invalid"] = True if val == "true" else val
                    elif pname in ("level", "valuemin", "valuemax", "valuetext", "autocomplete", "haspopup"):
                        val = _prop_value(prop)
                        if val not in (None, "", "false"):
                            props[pname] = val
            value = ""
            if role in value_roles:
                value = _clean((node.get("value") or {}).get("value", ""))
            if role == "combobox" or role == "listbox":
                options = _option_labels(node, by_id)
                if options:
                    props["options"] = tuple(options)
            if bid and not name and role not in leaf_roles:
                name = _text_content(node, by_id)
            if bid and boxes:
                box = boxes.get(bid)
                if box:
                    props["bbox"] = tuple(box)
            append(AXNode(role=role, name=name, bid=bid, value=value, depth=depth, props=props))
            n_out += 1
            child_depth = depth + 1
            child_text = name if name else ancestor_text
            if role in leaf_roles:
                continue  # editor internals / <select> popups are summarised in value/options
        children = node.get("childIds")
        if children:
            for cid in reversed(children):
                child = get_child(cid)
                if child is not None:
                    push((child, child_depth, child_text))
    return tuple(out)


def _text_content(node: dict, by_id: dict, limit: int = 2000) -> str:
    """The text under ``node`` as its StaticText nodes read, in order (bounded by ``limit`` nodes)."""
    parts: list[str] = []
    stack = list(reversed(node.get("childIds") or []))
    seen = 0
    while stack and seen < limit:
        seen += 1
        child = by_id.get(stack.pop())
        if child is None:
            continue
        role = (child.get("role") or {}).get("value", "")
        if role == "StaticText":
            if not child.get("ignored", False):
                text = (child.get("name") or {}).get("value", "")
                if text:
                    parts.append(text)
            continue
        if role in _LEAF_ROLES or role == "InlineTextBox":
            continue
        stack.extend(reversed(child.get("childIds") or []))
    return _clean(" ".join(parts))


def _option_labels(node: dict, by_id: dict) -> list[str]:
    """Labels of a <select>'s options (under its MenuListPopup)."""
    labels: list[str] = []
    stack = list(reversed(node.get("childIds") or []))
    seen = 0
    while stack and seen < 2000:
        seen += 1
        child = by_id.get(stack.pop())
        if child is None:
            continue
        role = (child.get("role") or {}).get("value", "")
        if role in ("option", "MenuListOption"):
            labels.append(_clean((child.get("name") or {}).get("value", "")))
            continue
        if role in ("MenuListPopup", "group", "none", "generic") or child.get("ignored"):
            stack.extend(reversed(child.get("childIds") or []))
    return labels
