"""Entry point ``qwen``: registers the ``vllm:`` and ``local:`` backend prefixes and the
``qwen_worker_*`` modes (a Qwen worker: base model, or the BC/DPO/GRPO LoRA adapters)."""

from __future__ import annotations

from halo_core import hookimpl

#: the base model the zero-shot mode serves through vLLM
DEFAULT_QWEN_MODEL = "Qwen/Qwen2.5-3B-Instruct"


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


@hookimpl
def halo_register_modes(register):
    base = ("hierarchy_vac_macros", "hierarchy_vac", "hierarchy_mgr_gate")
    register("qwen_worker_zero", description="Qwen worker, zero-shot (vLLM base model)", base=base,
             worker_backend=f"vllm:{DEFAULT_QWEN_MODEL}", worker_from_env=True)
    for stage in ("bc", "dpo", "grpo"):
        register(f"qwen_worker_{stage}", description=f"Qwen worker with the {stage.upper()} LoRA adapter",
                 base=base, worker_backend=f"vllm:qwen_{stage}", worker_from_env=True)


@hookimpl
def halo_register_commands(cli):
    from halo_plugin_qwen.cli import models

    cli.add_command(models)


@hookimpl
def halo_addoption(register):
    from halo_plugin_qwen.prompting import PROMPT_STYLES

    register("worker_prompt", type=str, default="auto", choices=PROMPT_STYLES, flag="--worker-prompt",
             help="worker prompt: fewshot (one-line contract + worked examples, for small instruct models), "
                  "default, or auto (fewshot for a local:/vllm: SmolLM2 worker)")
    from halo_plugin_qwen.constrain import DECODING_STYLES

    register("worker_decoding", type=str, default="auto", choices=DECODING_STYLES, flag="--worker-decoding",
             help="worker decoding: actions (every reply one well-formed action naming ids on the page), "
                  "copy (actions, and what a fill types is a piece of the goal), free, or auto (actions for a "
                  "worker decoded in-process, e.g. local:)")


@hookimpl
def halo_build_messages(role, observation, episode, proposed, reason):
    if role != "worker":
        return None
    from halo_plugin_qwen.prompting import decoding_style, fewshot_messages, prompt_style

    backend = episode.backend("worker")
    fewshot = prompt_style(episode.config, backend) == "fewshot"
    if hasattr(backend, "one_line"):
        backend.one_line = fewshot  # the few-shot contract is one line: stop generating at its end
    if hasattr(backend, "constrain_bids"):
        style = decoding_style(episode.config, backend)
        backend.constrain_bids = frozenset(observation.valid_bids) if style in ("actions", "copy") else None
        backend.constrain_copy = (episode.task.goal,) if style == "copy" else None
    if not fewshot:
        return None
    config = episode.config
    return fewshot_messages(episode.task.goal, observation, episode.history, history_len=config.history_len,
                            max_page_chars=config.max_page_chars)
