"""Cleaning Qwen output before the action is read from it."""

from __future__ import annotations

import re

from halo_core.api import ActionError, extract_action

_THINK = re.compile(r"<think>.*?</think>", re.S)
_SPECIAL = re.compile(r"<\|(?:im_start|im_end|endoftext|im_sep)\|>(?:(?:system|user|assistant)\n)?")


def split_thinking(text: str) -> tuple[str, str]:
    """(answer, thoughts): ``<think>…</think>`` blocks removed from ``text``.

    Handles a reply that starts inside a thought (the template opened ``<think>``),
    and one cut off before ``</think>`` (the whole rest is thought).
    """
    text = text or ""
    thoughts = [m[len("<think>"):-len("</think>")] for m in _THINK.findall(text)]
    answer = _THINK.sub("", text)
    if "</think>" in answer:  # the opening tag was in the prompt
        head, _, answer = answer.rpartition("</think>")
        thoughts.insert(0, head)
    if "<think>" in answer:  # never closed: truncated while thinking
        answer, _, rest = answer.partition("<think>")
        thoughts.append(rest)
    return answer, "\n".join(thoughts)


def clean_qwen_text(text: str) -> str:
    """``text`` without thoughts, without chat markup and without anything after ``<|im_end|>``."""
    answer, _ = split_thinking(text)
    answer = answer.split("<|im_end|>", 1)[0].split("<|endoftext|>", 1)[0]
    return _SPECIAL.sub("", answer).strip()


def extract_qwen_action(text: str) -> str:
    """The action in a Qwen reply: thoughts and special tokens stripped, then
    :func:`halo_core.actions.extract_action`. If the answer holds no action, the last
    action written while thinking is used (a reply cut off mid-thought)."""
    answer = clean_qwen_text(text)
    try:
        return extract_action(answer)
    except ActionError:
        _, thoughts = split_thinking(text or "")
        thoughts = _SPECIAL.sub("", thoughts).strip()
        if thoughts:
            try:
                return extract_action(thoughts)
            except ActionError:
                pass
        raise
