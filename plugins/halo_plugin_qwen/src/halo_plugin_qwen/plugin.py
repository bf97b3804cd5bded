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
    from halo_plugin_qwen.references import REFERENCE_MODES

    register("worker_references", type=str, default="auto", choices=REFERENCE_MODES, flag="--worker-references",
             help="grounded references: the worker prompt marks elements matching the goal (*k) and lists the "
                  "goal's values ($k), and the model may answer with them (fill(*1, $2)); on, off, or auto (on for "
                  "a local: model trained with them, as its halo_prompt.json says)")


@hookimpl
def halo_build_messages(role, observation, episode, proposed, reason):
    if role != "worker":
        return None
    from halo_plugin_qwen.prompting import fewshot_messages, prompt_style, references_on

    backend = episode.backend("worker")
    config = episode.config
    fewshot = prompt_style(config, backend) == "fewshot"
    references = references_on(config, backend)
    if fewshot:
        messages = fewshot_messages(episode.task.goal, observation, episode.history, history_len=config.history_len,
                                    max_page_chars=config.max_page_chars)
    elif references:
        from halo_core.api import worker_messages

        messages = worker_messages(episode.task.goal, observation, episode.history, history_len=config.history_len,
                                   max_page_chars=config.max_page_chars)
    else:
        messages = None
    if references:
        from halo_plugin_qwen.references import ground_messages

        messages = ground_messages(messages)
    return messages


@hookimpl
def halo_call_options(role, backend, messages, observation, episode):
    """The worker call's decoding: one line for the few-shot prompt, and (``worker_decoding``)
    one valid action on this page, with the references the prompt defines."""
    if role != "worker":
        return None
    from halo_plugin_qwen.prompting import decoding_style, prompt_style, references_on

    config = episode.config
    options = {"one_line": prompt_style(config, backend) == "fewshot"}  # the few-shot contract is one line
    style = decoding_style(config, backend)
    if style in ("actions", "copy"):
        options["constrain_bids"] = frozenset(observation.valid_bids)
        options["constrain_copy"] = (episode.task.goal,) if style == "copy" else None
        if references_on(config, backend) and messages:
            from halo_plugin_qwen.references import references_in

            options["constrain_refs"] = references_in(messages[-1].content)
    return options


@hookimpl
def halo_register_prompt_styles(register):
    from halo_plugin_qwen.references import rewrite_example

    register("references", rewrite_example, "grounded references: elements matching the goal marked *k, goal values "
                                            "$k; replies written with them (fill(*1, $2))")


@hookimpl
def halo_resolve_output(text, messages, observation, episode):
    from halo_plugin_qwen.references import has_references, is_grounded, references_in, resolve

    if not has_references(text):
        return None
    shown = next((m.content for m in reversed(messages) if m.role == "user" and is_grounded(m.content)), None)
    if shown is None:
        return None  # the prompt had no references: the reply is parsed as it is
    return resolve(text, references_in(shown))
