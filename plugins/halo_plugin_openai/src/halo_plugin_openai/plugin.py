"""Entry point ``openai``: the ``openai:`` backend prefix, HALO's default backends and the
``worker_gpt4o`` mode.

This is HALO's default backend plugin (as llm bundles its OpenAI plugin): a config that
names no backend uses :data:`DEFAULT_BACKENDS` through ``halo_default_backend``. Without
this plugin the core has no default, and the model worker asks for ``--worker-backend``.
"""

from __future__ import annotations

from halo_core import hookimpl

#: role → the model a config that names none uses
DEFAULT_BACKENDS = {"worker": "openai:gpt-4o-mini", "manager": "openai:gpt-4o"}


def make_backend(model, settings):
    from halo_plugin_openai.backend import OpenAIBackend

    return OpenAIBackend(model, settings)


@hookimpl
def halo_register_backends(register):
    register("openai", make_backend,
             description="OpenAI chat completions (OPENAI_API_KEY; OPENAI_BASE_URL for compatible servers)",
             requires="openai")


@hookimpl
def halo_default_backend(role):
    return DEFAULT_BACKENDS.get(role)


@hookimpl
def halo_register_modes(register):
    register("worker_gpt4o", description="ablation: baseline with gpt-4o as the worker", base="baseline_worker",
             worker_backend="openai:gpt-4o")
