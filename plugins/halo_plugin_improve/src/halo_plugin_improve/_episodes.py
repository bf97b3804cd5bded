"""What the judge, the evals and the analysis read of an episode, through the traces
plugin's :class:`~halo_plugin_traces.RunDir` (and so through :mod:`halo_core.trajectory`)."""

from __future__ import annotations

from typing import Any

import attrs

from halo_plugin_traces import EpisodeFiles, RunDir

__all__ = ["EpisodeView", "episode_views"]


@attrs.frozen
class EpisodeView:
    """One episode's facts: identity, goal, each step's action/URL/title/error, the ending."""

    task: str
    mode: str
    attempt: int
    goal: str = ""
    answer: str = ""
    success: bool = False
    reward: float = 0.0
    terminated_by: str = ""
    steps: int = 0
    actions: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    has_trajectory: bool = False

    @property
    def key(self) -> str:
        return f"{self.task}#{self.attempt} ({self.mode})"

    def transcript(self, limit: int = 60) -> str:
        """A compact text of the episode for a model to read."""
        lines = [f"Task: {self.task} (mode {self.mode}, attempt {self.attempt})", f"Goal: {self.goal}"]
        for i, action in enumerate(self.actions[:limit]):
            error = f"  ERROR: {self.errors[i]}" if i < len(self.errors) and self.errors[i] else ""
            where = self.titles[i] if i < len(self.titles) and self.titles[i] else ""
            url = self.urls[i] if i < len(self.urls) else ""
            source = self.sources[i] if i < len(self.sources) else ""
            lines.append(f"step {i}: on {url} [{where}] {action} (by {source}){error}")
        if len(self.actions) > limit:
            lines.append(f"… {len(self.actions) - limit} more steps")
        lines.append(f"Ended by: {self.terminated_by}; success: {self.success}; reward: {self.reward}")
        lines.append(f"Final answer: {self.answer!r}")
        return "\n".join(lines)


def view_of(ep: EpisodeFiles) -> EpisodeView:
    summary: dict[str, Any] = ep.summary()
    recorded = ep.recorded
    steps = recorded.steps if recorded is not None else ()
    answer = str(summary.get("final_message") or "")
    if not answer and recorded is not None and recorded.end is not None:
        answer = recorded.end.final_message
    return EpisodeView(
        task=ep.task, mode=ep.mode, attempt=ep.attempt, goal=recorded.goal if recorded is not None else "",
        answer=answer, success=bool(summary.get("success")), reward=float(summary.get("reward") or 0.0),
        terminated_by=str(summary.get("terminated_by") or ""),
        steps=int(summary.get("steps") or len(steps)), actions=tuple(s.action for s in steps),
        urls=tuple(s.url for s in steps), titles=tuple(s.title for s in steps), errors=tuple(s.error for s in steps),
        sources=tuple(s.source for s in steps), has_trajectory=recorded is not None)


def episode_views(run: RunDir) -> list[EpisodeView]:
    return [view_of(ep) for ep in run.episodes()]
