"""Entry point ``qwen``: registers the ``vllm:`` and ``local:`` backend prefixes."""

from __future__ import annotations

from halo_core import hookimpl


def make_vllm(model, settings):
    from halo_plugin_qwen.vllm import VLLMBackend

    return VLLMBackend(model, settings)


def make_local(model, settings):
    from halo_plugin_qwen.local import LocalBackend

    return LocalBackend(model, settings)


@hookimpl
def halo_register_backends(register):
    register("vllm", make_vllm, requires="openai",
             description="a vLLM OpenAI-compatible server at HALO_VLLM_URL; model = base id or LoRA adapter name")
    register("local", make_local, requires="transformers",
             description="a Hugging Face causal LM in-process: local:<path>, local:<base>+<adapter>, local:<adapter>")
