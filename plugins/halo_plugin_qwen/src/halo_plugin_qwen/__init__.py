"""HALO plugin: Qwen workers.

* ``vllm:<model-or-adapter>`` — a vLLM OpenAI-compatible server (``HALO_VLLM_URL``);
  a LoRA adapter served with ``--lora-modules name=path`` is chosen by its name.
* ``local:<path>`` — a Hugging Face causal LM run in-process with transformers,
  optionally with a LoRA adapter (``local:<base>+<adapter>`` or an adapter directory).

Also :func:`halo_plugin_qwen.tiny.build_tiny_qwen` (a tiny random Qwen2 for tests and
smoke runs) and :func:`halo_plugin_qwen.parsing.extract_qwen_action`.
"""

from halo_plugin_qwen.parsing import clean_qwen_text, extract_qwen_action

__all__ = ["clean_qwen_text", "extract_qwen_action"]
