"""HALO's data model: what flows through the loop.

Everything here is an ``attrs`` class, frozen where the value never changes once
made. The loop passes these between hooks; plugins read them and return new ones.
"""

from __future__ import annotations

import ast
from typing import Any, Mapping

import attrs



@attrs.frozen
class TaskSpec:
    """One task: a goal on a site, and how success is judged.

    ``id`` is the canonical id (``<suite>.<name>``, e.g. ``graph.shop-1``); ``suite`` names
    the environment provider that owns it.
    """

    id: str
    goal: str
    suite: str
    site: str = ""
    start_url: str = ""
    challenge_type: str = "action"  # action | retrieval
    possible: bool = True
    difficulty: str = ""
    split: str = ""  # train | test | ""
    points: float = 1.0
    evals: tuple[Mapping[str, Any], ...] = ()
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    #: Extra origins (``scheme://host[:port]``) the task's flow may visit beside its start_url's origin.
    allowed_origins: tuple[str, ...] = ()
    #: the instance of a procedurally generated task (a benchmark's page seed); None = the suite's default
    seed: int | None = None


@attrs.frozen
class AXNode:
    """One node of the accessibility tree, flattened in document order.

    ``bid`` is set on elements the agent can act on (BrowserGym's browser id);
    ``depth`` keeps the tree shape for rendering. A node with a bid is what the
    rest of HALO calls an *element* (:data:`Element`).
    """

    role: str
    name: str = ""
    bid: str | None = None
    value: str = ""
    depth: int = 0
    props: Mapping[str, Any] = attrs.field(factory=dict)

    def key(self) -> str:
        """Role, name, value and state flags: what the element *is*, without its bid."""
        text = f"{self.role} {self.name!r}" if self.name else self.role
        if self.value:
            text += f" value={self.value!r}"
        props = self.props
        if props:
            if props.get("checked"):
                text += " checked"
            if props.get("disabled"):
                text += " disabled"
            if props.get("selected"):
                text += " selected"
        return text

    def describe(self) -> str:
        return f"[{self.bid}] {self.key()}"


#: An actionable element: an :class:`AXNode` that has a bid.
Element = AXNode

#: a name or value as :meth:`AXNode.key` writes it (a Python string literal), for reading element lines
QUOTED_TEXT = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""


def unquote(literal: str | None) -> str:
    """The text of a name or value :meth:`AXNode.key` wrote (``repr``); "" for None."""
    if not literal:
        return ""
    try:
        return str(ast.literal_eval(literal))
    except (ValueError, SyntaxError):
        return literal[1:-1]


@attrs.frozen
class RawObservation:
    """What an environment returns after reset or an action. Never HTML."""

    url: str
    title: str = ""
    axtree: tuple[AXNode, ...] = ()
    screenshot: bytes | None = attrs.field(default=None, repr=False)
    tabs: tuple[str, ...] = ()
    active_tab: int = 0
    focused_bid: str | None = None
    last_action: str = ""
    last_action_error: str = ""
    #: the task's instruction as the environment states it (set at reset by environments that
    #: generate it per seed); "" means the task's own goal stands
    goal: str = ""
    #: the environment ended the episode itself (Gymnasium's terminated: its success or
    #: failure rule fired) or cut it short (truncated: its own time limit)
    terminated: bool = False
    truncated: bool = False
    #: the environment's own reward so far, when it reports one
    reward: float | None = None
    #: facts the environment reports about itself (Gymnasium's ``info``): anything a plugin
    #: written for this environment may read, e.g. the instance seed; never rendered into
    #: prompts or trajectories
    info: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen
class Observation:
    """The loop's view of the page, made by ``halo_observe``."""

    url: str
    title: str
    text: str  # compact AXTree rendering with bids
    elements: tuple[Element, ...]
    page_type: str
    fingerprint: str
    last_action: str = ""
    last_action_error: str = ""
    screenshot: bytes | None = attrs.field(default=None, repr=False, eq=False)
    annotations: dict[str, Any] = attrs.field(factory=dict, eq=False)
    valid_bids: frozenset[str] = attrs.field(
        default=attrs.Factory(lambda self: frozenset(e.bid for e in self.elements), takes_self=True), eq=False)
    #: the environment's facts from the raw observation (:attr:`RawObservation.info`)
    info: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def find(self, role: str, name: str) -> Element | None:
        """The element with this role and exact accessible name, if any."""
        for element in self.elements:
            if element.role == role and element.name == name:
                return element
        return None


@attrs.frozen
class Usage:
    """What model calls cost: summed per decision, step and episode."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    latency_ms: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            calls=self.calls + other.calls,
            tokens_in=self.tokens_in + other.tokens_in,
            tokens_out=self.tokens_out + other.tokens_out,
            cost=self.cost + other.cost,
            latency_ms=self.latency_ms + other.latency_ms,
        )


@attrs.frozen
class Decision:
    """An action chosen by one layer of the hierarchy."""

    action: str
    source: str  # a name some plugin declared (halo_register_decision_sources): "worker", "manager", …
    usage: Usage = Usage()
    reason: str = ""
    meta: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Verdict:
    """A check made after an action (``halo_verify``)."""

    check: str  # e.g. "postcondition", "loop"
    ok: bool
    reason: str = ""
    meta: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class StepRecord:
    step_idx: int
    url: str
    fingerprint: str
    page_type: str
    decision: Decision
    error: str
    verdicts: tuple[Verdict, ...]
    elapsed_ms: float
    manager_called: bool

    @property
    def action(self) -> str:
        return self.decision.action


@attrs.frozen
class EpisodeResult:
    task_id: str
    success: bool
    reward: float
    steps: int
    wall_time_sec: float
    terminated_by: str  # message | infeasible | max_steps | env | init_error | error
    error: str = ""
    final_message: str = ""
    usage: Usage = Usage()
    manager_calls: int = 0
    scorable: bool = True
    info: Mapping[str, Any] = attrs.field(factory=dict)
    #: numbers plugins contributed through ``halo_episode_counters`` (e.g. cache hits)
    counters: Mapping[str, float] = attrs.field(factory=dict)
    #: plugins whose ``halo_episode_end`` raised: "plugin: error" (the result stands)
    plugin_errors: tuple[str, ...] = ()

    def counter(self, name: str, default: float = 0) -> float:
        return self.counters.get(name, default)


@attrs.frozen
class Evaluation:
    """An environment's score for a finished episode."""

    reward: float
    success: bool
    scorable: bool = True
    info: Mapping[str, Any] = attrs.field(factory=dict)
