"""Qwen chat formatting: the ChatML template used when a tokenizer has none."""

from __future__ import annotations

from typing import Any, Sequence

from halo_core.api import Message

#: Qwen2.5-style ChatML. Content may be a string or a list of parts (text parts are
#: joined); assistant turns are wrapped in ``{% generation %}`` so trainers can mask
#: everything else (``return_assistant_tokens_mask``).
CHATML_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['content'] is none %}{%- set content = '' %}"
    "{%- elif message['content'] is string %}{%- set content = message['content'] %}"
    "{%- else %}{%- set content = message['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('') %}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- content + '<|im_end|>' }}{% endgeneration %}{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def chat_dicts(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """HALO messages as ``{"role", "content"}`` dicts (text only: Qwen here reads no images)."""
    return [{"role": m.role, "content": m.content} for m in messages]


def render_chat(tokenizer, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """The prompt text: the tokenizer's chat template, or ChatML when it has none."""
    template = None if getattr(tokenizer, "chat_template", None) else CHATML_TEMPLATE
    return tokenizer.apply_chat_template(chat_dicts(messages), chat_template=template, tokenize=False,
                                         add_generation_prompt=add_generation_prompt)
