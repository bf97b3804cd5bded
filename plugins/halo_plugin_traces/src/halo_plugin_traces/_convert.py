"""Trajectory events → spans.

One :class:`EpisodeTraceBuilder` per episode consumes the events the loop logs
(``episode_start``, ``step``, ``episode_end``) in order and returns the spans each
one completes. The live exporter feeds it events as they are logged; ``halo traces
export`` feeds it the lines of a finished trajectory file. Same code, same ids,
same spans.

The tree of one episode::

    episode <task>                      AGENT      (one trace per task × mode × attempt)
    ├── step N                          CHAIN      observation in, action out
    │   ├── llm.worker                  LLM        prompt, model, tokens, cost
    │   ├── vac.hit / macro.replay /    RETRIEVER / CHAIN   the layer that answered (a cache hit
    │   │                                          shows the replayed action as its retrieved document)
    │   │   recovery / policy.<name>
    │   ├── manager.gate                GUARDRAIL  why the manager was called, its verdict
    │   │   └── llm.manager             LLM
    │   ├── browser.<action>            TOOL       the action; ERROR status on an action error
    │   └── verify.<check>              EVALUATOR  one per verdict

Feedback is not a span (it would stretch the trace's latency to the day it was given):
it becomes an annotation of the episode span (:mod:`halo_plugin_traces._annotations`).

Step times: the loop logs each step's duration (``elapsed_ms``), not its start, so
a step starts where the previous one ended, from the episode's start timestamp (a
``timestamp``/``started_at`` on the step event is used when present).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from halo_plugin_traces._spans import SpanContext, make_span, seconds_to_ns, trace_id_for

__all__ = ["EpisodeTraceBuilder", "action_parameters"]

_PARAM_NAMES = {
    "fill": ("bid", "value"), "select_option": ("bid", "option"), "press": ("bid", "key"),
    "click": ("bid", "button"), "dblclick": ("bid", "button"), "scroll": ("delta_x", "delta_y"),
    "goto": ("url",), "tab_focus": ("index",), "noop": ("wait_ms",), "send_msg_to_user": ("text",),
    "report_infeasible": ("reason",),
}
_ERROR_ENDINGS = ("error", "init_error")
# Backend prefixes that name a real model provider, as OpenInference's ``llm.provider`` /
# ``llm.system`` spell them; a local, vLLM or scripted backend has no provider.
_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "azure": "azure", "google": "google",
              "gemini": "google", "vertexai": "google", "mistral": "mistralai", "mistralai": "mistralai",
              "cohere": "cohere", "xai": "xai", "deepseek": "deepseek", "bedrock": "aws"}
_SYSTEMS = {"openai": "openai", "anthropic": "anthropic", "mistralai": "mistralai", "cohere": "cohere",
            "google": "vertexai", "azure": "openai"}
_STEP_TEXT_LIMIT = 20_000


def action_parameters(action: str) -> tuple[str, dict[str, Any]]:
    """``click('12')`` → ``("click", {"bid": "12"})``; an unparsable action → ``("", {"raw": …})``."""
    try:
        from halo_core.api import ActionError, parse_action

        parsed = parse_action(action)
    except (ImportError, ActionError):
        return "", {"raw": action}
    names = _PARAM_NAMES.get(parsed.name, ("bid",) if parsed.bid is not None else ())
    params = {}
    for i, value in enumerate(parsed.args):
        params[names[i] if i < len(names) else f"arg{i}"] = value
    return parsed.name, params


def _split_model(spec: str) -> tuple[str, str]:
    provider, sep, model = (spec or "").partition(":")
    return (provider, model) if sep else ("", provider)


def provider_of(spec: str) -> str:
    """OpenInference's ``llm.provider`` for a backend spec (``openai:gpt-4o`` → ``openai``,
    ``litellm:anthropic/claude…`` → ``anthropic``); ``""`` for local, vLLM and test backends."""
    prefix, model = _split_model(spec)
    if prefix == "litellm" and "/" in model:
        prefix = model.split("/", 1)[0]
    return _PROVIDERS.get(prefix.lower(), "")


def _system_prompt(role: str) -> str:
    from halo_core.api import MANAGER_SYSTEM, WORKER_SYSTEM

    return WORKER_SYSTEM if role == "worker" else MANAGER_SYSTEM


class EpisodeTraceBuilder:
    """Turns one episode's events into spans; see the module docstring for the tree."""

    def __init__(self, ctx: SpanContext, *, mode: str = "", run_id: str = "", task_id: str = "",
                 attempt: int = 0) -> None:
        self.ctx = ctx
        self.mode, self.run_id, self.task_id, self.attempt = mode, run_id, task_id, attempt
        self.goal = ""
        self.config: dict[str, Any] = {}
        self.start_ns = 0
        self.cursor_ns = 0
        self.steps = 0
        self.started = False
        self.ended = False
        self.trajectory_file = ""

    # ------------------------------------------------------------------ identity

    @property
    def trace_id(self) -> str:
        return trace_id_for(self.run_id, self.mode, self.task_id, self.attempt)

    @property
    def agent_name(self) -> str:
        return f"halo/{self.mode}" if self.mode else "halo"

    @property
    def context(self) -> dict[str, Any]:
        """OpenInference context attributes every span of the episode carries: the run is
        the session; the episode's identity is metadata; mode and policy are tags."""
        policy = str(self.config.get("policy") or "")
        meta = {"agent": self.agent_name, "run_id": self.run_id, "mode": self.mode, "task_id": self.task_id,
                "attempt": self.attempt}
        if policy:
            meta["policy"] = policy
        tags = [t for t in (f"mode:{self.mode}" if self.mode else "", f"policy:{policy}" if policy else "") if t]
        return {"session.id": self.run_id or None, "metadata": json.dumps(meta, sort_keys=True),
                "tag.tags": tags}

    def _span(self, path: str, parent: str | None, name: str, kind: str, start: int, end: int,
              attributes: Mapping[str, Any], **kw: Any) -> dict[str, Any]:
        return make_span(self.ctx, trace_id=self.trace_id, path=path, parent_path=parent, name=name, kind=kind,
                         start_ns=start, end_ns=end, attributes=attributes, context=self.context, **kw)

    # ------------------------------------------------------------------ events

    def feed(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The spans completed by ``event`` (none for ``episode_start``)."""
        kind = event.get("type")
        if kind == "episode_start":
            self._start(event)
            return []
        if kind == "step":
            if not self.started:
                self._start({})
            return self._step(event)
        if kind == "episode_end":
            if not self.started:
                self._start({})
            self.ended = True
            return [self._episode(event)]
        return []

    def finish(self) -> list[dict[str, Any]]:
        """For a trajectory that never logged ``episode_end`` (killed run): the episode span, status UNSET."""
        if self.ended or not self.started:
            return []
        self.ended = True
        return [self._episode(None)]

    def _start(self, event: Mapping[str, Any]) -> None:
        self.started = True
        self.run_id = str(event.get("run_id") or self.run_id)
        self.mode = str(event.get("mode") or self.mode)
        self.task_id = str(event.get("task_id") or self.task_id)
        self.attempt = int(event.get("attempt_idx", self.attempt) or 0)
        self.goal = str(event.get("goal") or "")
        self.config = dict(event.get("config") or {})
        self.start_ns = seconds_to_ns(event.get("timestamp") or 0.0)
        self.cursor_ns = self.start_ns

    # ------------------------------------------------------------------ step

    def _step(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        idx = int(event.get("step_idx", self.steps))
        self.steps = max(self.steps, idx + 1)
        stamp = event.get("started_at") or event.get("timestamp")
        t0 = seconds_to_ns(stamp) if stamp else self.cursor_ns
        elapsed = max(0, int(float(event.get("elapsed_ms") or 0.0) * 1e6))
        t1 = t0 + elapsed
        self.cursor_ns = max(self.cursor_ns, t1)

        usage = dict(event.get("usage") or {})
        meta = dict(event.get("decision_meta") or {})
        source = str(event.get("action_source") or "")
        action = str(event.get("action") or "")
        error = str(event.get("last_action_error") or "")
        screenshot = str(event.get("screenshot") or "")
        latency = int(float(usage.get("latency_ms") or 0.0) * 1e6)
        decide_end = t0 + (latency if 0 < latency < elapsed else elapsed // 2)

        path = f"step/{idx}"
        root = "episode"
        step_attrs: dict[str, Any] = {
            "input.value": str(event.get("obs_summary") or "")[:_STEP_TEXT_LIMIT],
            "input.mime_type": "text/plain",
            "output.value": action,
            "halo.step.index": idx,
            "halo.step.url": event.get("url"),
            "halo.step.page_type": event.get("page_type"),
            "halo.step.action": action,
            "halo.step.source": source,
            "halo.step.reason": event.get("reason") or None,
            "halo.step.error": error or None,
            "halo.step.screenshot": screenshot or None,
            "halo.step.cache_hit": bool(event.get("cache_hit") or (event.get("decision_meta") or {}).get("cache_hit")),
            "halo.step.manager_called": bool(event.get("manager_called")),
            "halo.step.fingerprint": event.get("fingerprint") or None,
            "halo.step.elapsed_ms": float(event.get("elapsed_ms") or 0.0),
            "halo.usage.calls": int(usage.get("calls") or 0),
            "halo.usage.tokens_in": int(usage.get("tokens_in") or 0),
            "halo.usage.tokens_out": int(usage.get("tokens_out") or 0),
            "halo.usage.cost": float(usage.get("cost") or 0.0),
            "halo.usage.latency_ms": float(usage.get("latency_ms") or 0.0),
        }
        for key, value in meta.items():
            if key != "prompt" and isinstance(value, (str, int, float, bool)):
                step_attrs[f"halo.decision.{key}"] = value
        spans = [self._span(path, root, f"step {idx}", "CHAIN", t0, t1, step_attrs)]
        spans += self._decision_spans(path, source, action, meta, usage, screenshot, t0, decide_end)
        spans.append(self._tool_span(path, action, error, event.get("url"), decide_end, t1))
        for i, verdict in enumerate(event.get("verdicts") or ()):
            spans.append(self._verdict_span(path, i, verdict, t1))
        return spans

    def _decision_spans(self, parent: str, source: str, action: str, meta: Mapping[str, Any],
                        usage: Mapping[str, Any], screenshot: str, t0: int, t1: int) -> list[dict[str, Any]]:
        spans: list[dict[str, Any]] = []
        manager_called = bool(meta.get("manager_called"))
        worker_called = bool(meta.get("model") or meta.get("prompt")) and source in ("worker", "manager")
        mid = (t0 + t1) // 2 if manager_called else t1
        if worker_called:
            own = meta.get("worker_usage")
            shared = not isinstance(own, Mapping)
            spans.append(self._llm_span(f"{parent}/llm/worker", parent, "worker", meta, own if not shared else usage,
                                        t0, mid, screenshot=screenshot, action=action,
                                        note="usage of the whole step (worker and manager calls are not logged "
                                             "separately)" if shared and manager_called else ""))
        elif source == "vac":
            # A viewer shows a RETRIEVER span by its documents: the replayed action is the document.
            spans.append(self._span(f"{parent}/vac", parent, "vac.hit", "RETRIEVER", t0, mid, {
                "input.value": meta.get("cache_key"), "output.value": action,
                "retrieval.documents.0.document.id": meta.get("cache_key"),
                "retrieval.documents.0.document.content": action,
                "retrieval.documents.0.document.score": meta.get("entry_successes"),
                "halo.cache.key": meta.get("cache_key"), "halo.cache.entry_successes": meta.get("entry_successes"),
                **{f"halo.cache.{k}": v for k, v in meta.items() if k not in ("cache_key", "entry_successes")
                   and isinstance(v, (str, int, float, bool))},
            }))
        elif source == "macro":
            spans.append(self._span(f"{parent}/macro", parent, "macro.replay", "CHAIN", t0, mid, {
                "output.value": action, "halo.macro.id": meta.get("macro"), "halo.macro.step": meta.get("step"),
                "halo.macro.length": meta.get("of"), "halo.macro.bindings": meta.get("bindings"),
            }))
        elif source == "recovery":
            spans.append(self._span(f"{parent}/recovery", parent, "recovery", "CHAIN", t0, mid, {
                "output.value": action, **{f"halo.recovery.{k}": v for k, v in meta.items()
                                           if isinstance(v, (str, int, float, bool))},
            }))
        elif source == "worker":  # a policy plugin (e.g. the web clones' expert) decided without a model
            policy = str(meta.get("policy") or self.config.get("policy") or "policy")
            spans.append(self._span(f"{parent}/policy", parent, f"policy.{policy}", "CHAIN", t0, mid,
                                    {"output.value": action, "halo.policy": policy}))
        if manager_called:
            gate = f"{parent}/gate"
            verdict = str(meta.get("manager_verdict") or "")
            spans.append(self._span(gate, parent, "manager.gate", "GUARDRAIL", mid, t1, {
                "halo.guardrail.name": "manager_gate", "halo.guardrail.triggered": True,
                "input.value": str(meta.get("gate_reason") or ""), "output.value": verdict,
                "halo.gate.reason": meta.get("gate_reason"), "halo.manager.verdict": verdict,
                "halo.manager.model": meta.get("manager_model"), "halo.manager.final_action": action,
            }))
            own = meta.get("manager_usage")
            mgr_usage = own if isinstance(own, Mapping) else (None if worker_called else usage)
            spans.append(self._llm_span(f"{parent}/llm/manager", gate, "manager", meta, mgr_usage, mid, t1,
                                        screenshot=screenshot, action=action,
                                        note="" if mgr_usage is not None else
                                        "tokens of this call are counted on the step's llm.worker span"))
        return spans

    def _llm_span(self, path: str, parent: str, role: str, meta: Mapping[str, Any],
                  usage: Mapping[str, Any] | None, t0: int, t1: int, *, screenshot: str, action: str,
                  note: str = "") -> dict[str, Any]:
        spec = str(meta.get("model") if role == "worker" else meta.get("manager_model") or "")
        if not spec:
            spec = str(self.config.get(f"{role}_backend") or "")
        _, model = _split_model(spec)
        images = bool(self.config.get("use_screenshot")) and bool(screenshot)
        params = {"temperature": self.config.get(f"{role}_temperature"), "seed": self.config.get("seed"),
                  "max_tokens": self.config.get("max_tokens")}
        vendor = provider_of(spec)
        attrs: dict[str, Any] = {
            "llm.provider": vendor or None,
            "llm.system": _SYSTEMS.get(vendor),
            "llm.model_name": model or None,
            "llm.invocation_parameters": json.dumps({k: v for k, v in params.items() if v is not None},
                                                    sort_keys=True),
            "halo.llm.role": role,
            "halo.llm.backend": spec or None,
        }
        inputs: list[dict[str, Any]] = [{"role": "system", "content": _system_prompt(role)}]
        if role == "worker":
            prompt = str(meta.get("prompt") or "")
            inputs.append({"role": "user", "content": prompt})
            output = action
            attrs["input.value"] = prompt
            if meta.get("parse_error"):
                attrs["halo.llm.parse_error"] = meta.get("parse_error")
        else:
            reason = str(meta.get("gate_reason") or "")
            prompt = str(meta.get("manager_prompt") or "")
            if prompt:
                inputs.append({"role": "user", "content": prompt})
            else:
                attrs["halo.llm.prompt_logged"] = False
            verdict = str(meta.get("manager_verdict") or "")
            output = "APPROVE" if verdict == "approve" else action
            attrs["input.value"] = prompt or f"gate reason: {reason}"
        for i, message in enumerate(inputs):
            attrs[f"llm.input_messages.{i}.message.role"] = message["role"]
            attrs[f"llm.input_messages.{i}.message.content"] = message["content"]
        if images:
            # The path relative to the trajectory folder; the export turns it into a data URI,
            # a file URL or nothing (``encode_screenshots``).
            user = len(inputs) - 1
            attrs[f"llm.input_messages.{user}.message.contents.0.message_content.type"] = "text"
            attrs[f"llm.input_messages.{user}.message.contents.0.message_content.text"] = inputs[-1]["content"]
            attrs[f"llm.input_messages.{user}.message.contents.1.message_content.type"] = "image"
            attrs[f"llm.input_messages.{user}.message.contents.1.message_content.image.image.url"] = screenshot
        attrs["llm.output_messages.0.message.role"] = "assistant"
        attrs["llm.output_messages.0.message.content"] = output
        attrs["output.value"] = output
        if screenshot:
            attrs["halo.screenshot"] = screenshot
        if usage is not None:
            tokens_in, tokens_out = int(usage.get("tokens_in") or 0), int(usage.get("tokens_out") or 0)
            attrs.update({"llm.token_count.prompt": tokens_in, "llm.token_count.completion": tokens_out,
                          "llm.token_count.total": tokens_in + tokens_out,
                          "llm.cost.total": float(usage.get("cost") or 0.0),
                          "halo.llm.calls": int(usage.get("calls") or 0),
                          "halo.llm.latency_ms": float(usage.get("latency_ms") or 0.0)})
        if note:
            attrs["halo.usage.note"] = note
        return self._span(path, parent, f"llm.{role}", "LLM", t0, t1, attrs)

    def _tool_span(self, parent: str, action: str, error: str, url: Any, t0: int, t1: int) -> dict[str, Any]:
        name, params = action_parameters(action)
        return self._span(f"{parent}/tool", parent, f"browser.{name or 'invalid'}", "TOOL", t0, t1, {
            "tool.name": name or "invalid_action",
            "tool.description": "BrowserGym-style browser action",
            "tool.parameters": json.dumps(params, ensure_ascii=False, sort_keys=True),
            "input.value": action,
            "output.value": f"error: {error}" if error else "ok",
            "halo.tool.url": url,
        }, status="ERROR" if error else "OK", status_message=error)

    def _verdict_span(self, parent: str, i: int, verdict: Mapping[str, Any], t: int) -> dict[str, Any]:
        check = str(verdict.get("check") or "verdict")
        ok = bool(verdict.get("ok"))
        return self._span(f"{parent}/verdict/{i}", parent, f"verify.{check}", "EVALUATOR", t, t, {
            "halo.eval.name": check, "halo.eval.label": "pass" if ok else "fail", "halo.eval.score": 1.0 if ok else 0.0,
            "halo.eval.explanation": verdict.get("reason") or None,
            "output.value": verdict.get("reason") or ("pass" if ok else "fail"),
            "halo.verdict.ok": ok,
            "halo.verdict.meta": dict(verdict.get("meta") or {}) or None,
        })

    # ------------------------------------------------------------------ episode

    def _episode(self, event: Mapping[str, Any] | None) -> dict[str, Any]:
        end = seconds_to_ns(event["timestamp"]) if event and event.get("timestamp") else self.cursor_ns
        end = max(end, self.cursor_ns)
        attrs: dict[str, Any] = {
            "agent.name": self.agent_name,
            "input.value": self.goal,
            "halo.run_id": self.run_id, "halo.mode": self.mode, "halo.task_id": self.task_id,
            "halo.attempt": self.attempt, "halo.policy": self.config.get("policy"),
            "halo.worker_backend": self.config.get("worker_backend"),
            "halo.manager_backend": self.config.get("manager_backend") if self.config.get("use_manager") else None,
            "halo.config": json.dumps(self.config, sort_keys=True, default=str) if self.config else None,
            "halo.trajectory.file": self.trajectory_file or None,
        }
        status, message = "UNSET", ""
        if event is not None:
            usage = dict(event.get("usage") or {})
            terminated = str(event.get("terminated_by") or "")
            attrs.update({
                "output.value": str(event.get("final_message") or ""),
                "halo.success": bool(event.get("success")), "halo.reward": float(event.get("reward") or 0.0),
                "halo.steps": int(event.get("total_steps") or self.steps), "halo.terminated_by": terminated,
                "halo.manager_calls": int(event.get("manager_calls") or 0),
                "halo.scorable": bool(event.get("scorable", True)),
                "halo.usage.calls": int(usage.get("calls") or 0),
                "halo.usage.tokens_in": int(usage.get("tokens_in") or 0),
                "halo.usage.tokens_out": int(usage.get("tokens_out") or 0),
                "halo.usage.cost": float(usage.get("cost") or 0.0),
                "halo.error": event.get("error") or None,
            })
            counters = dict(event.get("counters") or {})
            for legacy in ("cache_hits", "cache_misses", "macro_steps"):  # files written before counters
                if legacy in event and legacy not in counters:
                    counters[legacy] = event[legacy]
            attrs.update({f"halo.counters.{name}": value for name, value in sorted(counters.items())
                          if isinstance(value, (int, float)) and not isinstance(value, bool)})
            if terminated in _ERROR_ENDINGS:
                status, message = "ERROR", str(event.get("error") or terminated)
            elif event.get("scorable", True) and not event.get("success"):
                # a task the agent did not accomplish is a failed operation: red in trace viewers
                status, message = "ERROR", f"task not accomplished (ended by {terminated or 'unknown'})"
            else:
                status = "OK"
        else:
            attrs.update({"halo.steps": self.steps, "halo.terminated_by": "unfinished"})
        return self._span("episode", None, f"episode {self.task_id}", "AGENT", self.start_ns, end, attrs,
                          status=status, status_message=message)
